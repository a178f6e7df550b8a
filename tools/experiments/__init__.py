"""The experiment harness: protocols, runs, records, figures, tables, searches.

It ships with the repository, not the wheel, and uses only the public API of
`keras_rnnofrnns`. This package is the paper's sMNIST / psMNIST experiments;
`timeseries` holds the UCR/UEA protocol and `search` the hyperparameter
search of `examples/tune.py`.

The MNIST protocol is the dataclass `Protocol`, its defaults `PAPER_DEFAULTS`
and `QUICK_DEFAULTS`; the settings whose agreement makes runs comparable are
`PROTOCOL_KEYS`. The task list and the data loading live in
`keras_rnnofrnns.data` (`TASKS`, `load_task`).

`examples/smnist.py`, `examples/psmnist.py` and `examples/table.py` are thin
fronts over `main`, `table_main` and the functions below. matplotlib is only
imported when a figure is drawn.
"""

from tools.experiments.callbacks import (
    EpochTimer,
    ResumedEarlyStopping,
    StopBeforeDeadline,
)
from tools.experiments.figures import plot_assembly
from tools.experiments.records import (
    RECORD_KEYS,
    load_records,
    summarize,
    write_summary,
)
from tools.experiments.tasks import TASKS
from tools.experiments.runner import (
    PAPER_DEFAULTS,
    QUICK_DEFAULTS,
    Protocol,
    build_parser,
    main,
    parse_protocol,
    run_protocol,
    train_run,
)
from tools.experiments.runs import Configuration, run_state
from tools.experiments.settings import PROTOCOL_KEYS
from tools.experiments.table import PAPER_TABLE, render_table
from tools.experiments.table import main as table_main

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
