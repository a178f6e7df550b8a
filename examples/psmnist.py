"""Permuted sequential MNIST: one fixed pixel permutation, then 784 steps.

    python examples/psmnist.py --quick     # a couple of minutes on a CPU
    python examples/psmnist.py             # the paper's full psMNIST grid
    python examples/psmnist.py --help

All the code is in the repository's `tools/experiments/runner.py`.
"""

import _require_backend  # noqa: F401 - first: exits with one line without a backend
from tools.experiments import main

if __name__ == "__main__":
    main("psmnist")
