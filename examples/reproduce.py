"""Reproduce the paper's Table 1 on a GPU, resumably (also in stretches of limited time).

    python examples/reproduce.py status        # the order and the state of every run
    python examples/reproduce.py --parallel 4
    python examples/reproduce.py --parallel 4 --time-budget 3000 --pack results.tar.gz
    python examples/reproduce.py unpack results.tar.gz
    python examples/reproduce.py table         # rewrites docs/reproduction.md
    python examples/reproduce.py --help

docs/reproduction.md says how to run it on a GPU machine. The code is in the
repository's `tools/reproduce/` (not part of the installed package), over the
experiment harness `tools/experiments/` and the library's public API.
"""

import _require_backend  # noqa: F401 - first: exits with one line without a backend
import sys

from tools.reproduce.cli import main

if __name__ == "__main__":
    sys.exit(main())
