"""The paper's sMNIST / psMNIST experiments: protocol, run records, figures, table.

The protocol's settings are declared once, in `SETTINGS`; the task list and
the data loading live in `keras_rnnofrnns.data` (`TASKS`, `load_task`).

`examples/smnist.py`, `examples/psmnist.py` and `examples/table.py` are thin
fronts over `main`, `table_main` and the functions below. matplotlib is only
imported when a figure is drawn.
"""

from keras_rnnofrnns.experiments.callbacks import (
    EpochTimer,
    ResumedEarlyStopping,
    StopBeforeDeadline,
)
from keras_rnnofrnns.experiments.figures import plot_assembly
from keras_rnnofrnns.experiments.records import (
    RECORD_KEYS,
    load_records,
    summarize,
    write_summary,
)
from keras_rnnofrnns.data.tasks import TASKS
from keras_rnnofrnns.experiments.runner import (
    Protocol,
    build_parser,
    main,
    parse_protocol,
    run_protocol,
    train_run,
)
from keras_rnnofrnns.experiments.runs import Configuration, run_state
from keras_rnnofrnns.experiments.settings import (
    PAPER_DEFAULTS,
    PROTOCOL_KEYS,
    QUICK_DEFAULTS,
    SETTINGS,
    Setting,
)
from keras_rnnofrnns.experiments.table import PAPER_TABLE, render_table
from keras_rnnofrnns.experiments.table import main as table_main

__all__ = [
    "Configuration",
    "EpochTimer",
    "PAPER_DEFAULTS",
    "PAPER_TABLE",
    "PROTOCOL_KEYS",
    "Protocol",
    "QUICK_DEFAULTS",
    "RECORD_KEYS",
    "ResumedEarlyStopping",
    "SETTINGS",
    "Setting",
    "StopBeforeDeadline",
    "TASKS",
    "build_parser",
    "load_records",
    "main",
    "parse_protocol",
    "plot_assembly",
    "render_table",
    "run_protocol",
    "run_state",
    "summarize",
    "table_main",
    "train_run",
    "write_summary",
]
