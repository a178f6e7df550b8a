"""Sequential MNIST: each image read pixel by pixel, 784 steps of one feature.

The flags are those of examples/psmnist.py (`--quick`, `--journal`, `--help`);
the code is the repository's `tools/experiments/runner.py`.
"""

import _require_backend  # noqa: F401 - first: exits with one line without a backend
from tools.experiments import main

if __name__ == "__main__":
    main("smnist")
