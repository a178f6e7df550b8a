"""Reproduce the paper's Table 1 on a GPU, resumably (also in stretches of GPU time).

    python examples/reproduce.py status        # the order and the state of every run
    python examples/reproduce.py --parallel 4
    python examples/reproduce.py --parallel 4 --time-budget 3000 --pack results.tar.gz
    python examples/reproduce.py unpack results.tar.gz
    python examples/reproduce.py table         # rewrites docs/reproduction.md
    python examples/reproduce.py --help

docs/reproduction.md says how to run it on a GPU machine. All the code is
in `keras_rnnofrnns.experiments.reproduce`.
"""

import sys

from keras_rnnofrnns.experiments.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
