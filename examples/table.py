"""Our results beside the paper's Table 1, from the JSON run records.

    python examples/table.py runs/ [--output runs/table.md]
"""

import _require_backend  # noqa: F401 - first: exits with one line without a backend
from tools.experiments import table_main

if __name__ == "__main__":
    table_main()
