"""The reproduction table: our run records beside the paper's Table 1."""

import argparse
import os

from tools.experiments.tasks import TASKS
from tools.experiments.records import load_records, summarize
from tools.experiments.runner import PAPER_DEFAULTS
from tools.experiments.settings import TABLE_WORDS, table_text
from keras_rnnofrnns.models import METHODS

# Table 1 of the paper (test accuracy in %, mean ± std over three runs), copied
# from the paper (De Caro, Ceni, Bacciu, Gallicchio, ESANN 2025). Keys: method ->
# (task, C) -> (mean, std); std None where the paper gives none.
PAPER_TABLE = {
    "scn-3": {
        ("smnist", 5): (77.99, 1.58),
        ("smnist", 20): (90.04, 0.72),
        ("psmnist", 5): (74.32, 2.51),
        ("psmnist", 20): (82.08, 0.98),
    },
    "scn-30": {
        ("smnist", 5): (85.44, 1.67),
        ("smnist", 20): (90.04, 0.92),
        ("psmnist", 5): (80.18, 0.51),
        ("psmnist", 20): (85.91, 1.36),
    },
    "adadiag-tanh": {
        ("smnist", 5): (86.60, 0.68),
        ("smnist", 20): (88.71, 0.07),
        ("psmnist", 5): (85.11, 0.25),
        ("psmnist", 20): (88.53, 1.23),
    },
    "adadiag-clip": {
        ("smnist", 5): (87.74, 0.11),
        ("smnist", 20): (88.89, 0.06),
        ("psmnist", 5): (84.27, 1.10),
        ("psmnist", 20): (89.63, 0.25),
    },
    # A monolithic RNN from the paper's reference [8], not coupled; the paper
    # prints its two numbers in these two cells.
    "vanilla-rnn": {
        ("smnist", 5): (49.10, None),
        ("psmnist", 20): (71.60, None),
    },
}

PAPER_LABELS = {
    "scn-3": "SCN, sparse (3%)",
    "scn-30": "SCN, sparse (30%)",
    "adadiag-tanh": "AdaDiag, tanh",
    "adadiag-clip": "AdaDiag, clip",
    "vanilla-rnn": "Vanilla RNN [8], dense (paper only)",
}

TASK_LABELS = {name: task.label for name, task in TASKS.items()}

NOT_RUN = "not run"


def _differs(name, value):
    """Whether a run's recorded `value` of setting `name` differs from the paper's."""
    paper = PAPER_DEFAULTS[name]
    if isinstance(paper, bool):
        # A switch missing from an older record (None) was off.
        value = bool(value)
    return value != paper


def _deviation(protocol):
    """How a group's settings differ from the paper's, in words ('' if they do not)."""
    differ = [name for name in TABLE_WORDS if _differs(name, protocol.get(name))]
    return table_text(differ, protocol)


def _percent(mean, std):
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def render_table(records):
    """A markdown table laid out like the paper's Table 1, ours beside the paper's.

    Rows are the methods, columns sMNIST and psMNIST at each C (5 and 20,
    plus any other C found in the records), each with a "paper" and an
    "ours" column. Our cells hold the mean ± std (ddof=0) of the best test
    accuracy over seeds and the number of runs; cells without records say
    `not run`; runs whose settings differ from the paper's carry a footnote.

    Args:
        records: finished run records (see `load_records`).

    Returns:
        The table as a markdown string, footnotes included.

    Example:
    >>> record = dict(task="psmnist", method="adadiag-clip", coupling_blocks=20,
    ...               seed=0, test_accuracy=0.9, epochs_run=50,
    ...               config=dict(num_modules=16, module_size=32, dt=0.03,
    ...                           epochs=200, limit_train=None, limit_test=None,
    ...                           row_wise=False))
    >>> table = render_table([record])
    >>> "| 89.63 ± 0.25 | 90.00 ± 0.00 (n=1) |" in table, table.count("not run")
    (True, 23)
    """
    # The paper's tasks only: a results folder may hold other experiments.
    groups = summarize([r for r in records if r.get("task") in TASKS])
    columns = sorted(
        {(task, c) for cells in PAPER_TABLE.values() for task, c in cells}
        | {(g["task"], g["coupling_blocks"]) for g in groups},
        key=lambda tc: (list(TASK_LABELS).index(tc[0]) if tc[0] in TASK_LABELS else 99, tc),
    )
    notes = {}
    ours = {}
    for group in groups:
        text = f"{_percent(100 * group['mean'], 100 * group['std'])} (n={group['runs']})"
        deviation = _deviation(group["protocol"])
        if deviation:
            marker = notes.setdefault(deviation, f"[{len(notes) + 1}]")
            text += f" {marker}"
        key = (group["method"], group["task"], group["coupling_blocks"])
        ours.setdefault(key, []).append(text)

    header = ["method"]
    for task, c in columns:
        label = f"{TASK_LABELS.get(task, task)} C={c}"
        header += [f"{label} paper", f"{label} ours"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    methods = list(METHODS) + [m for m in PAPER_TABLE if m not in METHODS]
    for method in methods:
        cells = [PAPER_LABELS.get(method, method)]
        for task, c in columns:
            paper = PAPER_TABLE.get(method, {}).get((task, c))
            cells.append(_percent(*paper) if paper else "–")
            if method in METHODS:
                cells.append("; ".join(ours.get((method, task, c), [NOT_RUN])))
            else:
                cells.append("–")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Test accuracy in %, mean ± std over seeds (n runs); ours is the best test "
        "accuracy over the epochs, the test split being the validation data as in the "
        f"paper. Paper: Table 1 of the paper, {table_text(TABLE_WORDS, PAPER_DEFAULTS)}."
    )
    for deviation, marker in notes.items():
        lines.append(f"{marker} differs from the paper's setup: {deviation}.")
    return "\n".join(lines)


def build_parser():
    """The command line of `examples/table.py`."""
    parser = argparse.ArgumentParser(
        prog="table.py",
        description="Gather run records and print the reproduction of the paper's Table 1.",
    )
    parser.add_argument(
        "paths", nargs="*", default=["runs"], help="record files or folders (searched recursively)"
    )
    parser.add_argument("--output", help="also write the markdown table to this file")
    return parser


def main(argv=None):
    """Prints (and with `--output` writes) the table for the records under the given paths.

    Example:

        python examples/table.py runs/
    """
    args = build_parser().parse_args(argv)
    table = render_table(load_records(args.paths))
    print(table)
    if args.output:
        folder = os.path.dirname(args.output)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(args.output, "w") as f:
            f.write(table + "\n")
    return table
