"""sMNIST / psMNIST learning curves beside the journal's, from the run records.

    python examples/curves.py      # rewrites docs/mnist.md and docs/figures/mnist-curves.png
    python examples/curves.py --help

The runs come from `python examples/psmnist.py --journal` and
`python examples/smnist.py --journal` (with `--output results/mnist`). The
code is in the repository's `tools/curves.py` (not part of the installed
package).
"""

import _require_backend  # noqa: F401 - first: exits with one line without a backend

from tools.curves import main

if __name__ == "__main__":
    main()
