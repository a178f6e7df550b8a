"""Our results beside the paper's Table 1, from the JSON run records.

    python examples/table.py runs/ [--output runs/table.md]
"""

from keras_rnnofrnns.experiments import table_main

if __name__ == "__main__":
    table_main()
