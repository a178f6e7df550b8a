"""Reproduce the paper's Table 1 in stretches of GPU time, resumably.

    python examples/reproduce.py status        # the order and the state of every run
    python examples/reproduce.py --parallel 4 --time-budget 450 --pack $OUT/results.tar.gz
    python examples/reproduce.py unpack results.tar.gz
    python examples/reproduce.py table         # rewrites docs/reproduction.md
    python examples/reproduce.py --help

docs/reproduction.md says how to run it on the GPU machine. All the code is
in `keras_rnnofrnns.experiments.reproduce`.
"""

import sys

from keras_rnnofrnns.experiments.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
