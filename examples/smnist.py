"""Sequential MNIST (784 pixels, one per step) with assemblies of RNN modules.

    python examples/smnist.py --quick      # a couple of minutes on a CPU
    python examples/smnist.py              # the paper's full sMNIST grid
    python examples/smnist.py --help

All the code is in `keras_rnnofrnns.experiments.runner`.
"""

import _require_backend  # noqa: F401 - first: exits with one line without a backend
from keras_rnnofrnns.experiments import main

if __name__ == "__main__":
    main("smnist")
