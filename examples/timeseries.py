"""Time-series classification on UCR/UEA datasets with the journal's protocol.

    python examples/timeseries.py --dataset JapaneseVowels_eq --method adadiag-gated-cayley
    python examples/timeseries.py --dataset Adiac --method adadiag-gated lstm --seeds 0
    python examples/timeseries.py report      # docs/timeseries.md from results/timeseries
    python examples/timeseries.py --help

Data: `--data-dir` or `UCR_DIR` (files `<name>_TRAIN/_TEST.tsv` or `.ts`, plain
or gzipped), else aeon's downloader if aeon is installed. All the code is in
`tools.experiments.timeseries`.
"""

import _require_backend  # noqa: F401 - first: exits with one line without a backend
from tools.experiments.timeseries import main

if __name__ == "__main__":
    main()
