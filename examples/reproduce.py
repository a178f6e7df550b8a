"""Reproduce the paper's Table 1 on a GPU, resumably (also in stretches of limited time).

    python examples/reproduce.py status        # the order and the state of every run
    python examples/reproduce.py --parallel 4
    python examples/reproduce.py --parallel 4 --time-budget 3000 --pack results.tar.gz
    python examples/reproduce.py unpack results.tar.gz
    python examples/reproduce.py table         # rewrites docs/reproduction.md
    python examples/reproduce.py --help

docs/reproduction.md says how to run it on a GPU machine. The code is in the
repository's `tools/reproduce/` (not part of the installed package), over the
public API of `keras_rnnofrnns.experiments`.
"""

import _require_backend  # noqa: F401 - first: exits with one line without a backend
import os
import sys

# `tools/` ships with the repository, not the wheel: import it from this checkout.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tools.reproduce.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
