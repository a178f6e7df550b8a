"""One run of the sMNIST / psMNIST grid by name, and its state as its record tells it.

The runner writes each run's files under one stem in the results folder
(`records.run_name`); these two names read that layout back, for anything
that plans, resumes or reports runs without training them.
"""

import dataclasses
import os

from tools.experiments.records import read_record, run_name
from tools.experiments.storage import model_problem

FINISHED = "finished"
IN_PROGRESS = "in progress"
NOT_RUN = "not run"
# A finished record whose model file is missing or does not read whole:
# rerunning it stops with what to do (restore the model, or delete the record).
DAMAGED = "model damaged"
RUN_STATES = (FINISHED, IN_PROGRESS, NOT_RUN, DAMAGED)


@dataclasses.dataclass(frozen=True)
class Configuration:
    """One run: a task, a method, a number of coupling blocks C and a seed.

    Example:
    >>> config = Configuration("psmnist", "adadiag-clip", 20, 0)
    >>> config.name
    'psmnist_adadiag-clip_C20_seed0'
    >>> Configuration.from_mapping({**dataclasses.asdict(config), "epochs_run": 3}) == config
    True
    """

    task: str
    method: str
    coupling_blocks: int
    seed: int

    @property
    def name(self):
        """The runner's file stem of this run (see `records.run_name`)."""
        return run_name(self.task, self.method, self.coupling_blocks, self.seed)

    @classmethod
    def from_mapping(cls, mapping):
        """The configuration named by the keys of `mapping` (a run record, say).

        Args:
            mapping: a dict with at least `task`, `method`, `coupling_blocks`
                and `seed`; other keys are ignored.

        Returns:
            A `Configuration`.
        """
        return cls(*(mapping[field.name] for field in dataclasses.fields(cls)))


def run_state(results, config):
    """The record of `config` in `results` (or None) and its state in words.

    Args:
        results: the results folder (the runner's `output`).
        config: a `Configuration`.

    Returns:
        `(record, state)`, state one of `RUN_STATES`: `"finished"`,
        `"in progress"` (a record of finished epochs, not all of them),
        `"not run"` (no usable record) or `"model damaged"` (a finished
        record whose `.keras` model is missing or damaged).
    """
    stem = os.path.join(results, config.name)
    record = read_record(stem + ".json")
    if record is None:
        return None, NOT_RUN
    if not record.get("finished"):
        return record, IN_PROGRESS
    return record, FINISHED if model_problem(stem + ".keras") is None else DAMAGED
