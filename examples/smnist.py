"""Sequential MNIST (784 pixels, one per step) with assemblies of RNN modules.

    python examples/smnist.py --quick      # a couple of minutes on a CPU
    python examples/smnist.py              # the paper's full sMNIST grid
    python examples/smnist.py --help

All the code is in the repository's `tools/experiments/runner.py`.
"""

import _require_backend  # noqa: F401 - first: exits with one line without a backend
from tools.experiments import main

if __name__ == "__main__":
    main("smnist")
