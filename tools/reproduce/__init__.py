"""The paper's Table 1, reproduced resumably, also in stretches of limited machine time.

`examples/reproduce.py` is the command (`cli.main`). The jobs, one module each:

- `plan`: the configurations in training order, the results-folder layout
  and the protocol of one run.
- `launch`: trains the unfinished ones in worker processes, several side by
  side on one device, optionally within a time budget.
- `pack`: carries runs between machines in one small archive.
- `document`: writes `docs/reproduction.md` from the run records and the
  template `docs/templates/reproduction.md`.
"""
