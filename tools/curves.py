"""Writes `docs/mnist.md`: our sMNIST / psMNIST learning curves beside the journal's.

The authors' journal follow-up logged the test accuracy after every epoch of
each of its three final runs of the gated AdaDiag on psMNIST and sMNIST
(public repository andreaceni/AdaDiag, folder final_search/); their rows
are committed in `results/journal/mnist-curves.csv`. This module reads them
and our run records (`examples/psmnist.py --journal`, `examples/smnist.py
--journal`), and writes a document with, per task and method, our test
accuracy at chosen epochs beside the journal's mean ± std at the same
epochs, the state of every run, and a figure that overlays our curves on
the journal's three trials. Nothing is estimated: only epochs that a run
has finished are shown, at the epoch they were reached (no best-epoch
picking).

    python examples/curves.py       # rewrites docs/mnist.md and its figure
"""

import argparse
import csv
import math
import os
import statistics

from tools.experiments import load_records
from tools.experiments.records import device_text
from tools.experiments.storage import atomic_write, atomic_write_text
from tools import REPOSITORY

DEFAULT_RESULTS = os.path.join("results", "mnist")
DEFAULT_JOURNAL = os.path.join("results", "journal", "mnist-curves.csv")
DEFAULT_DOCUMENT = os.path.join("docs", "mnist.md")
# Relative to the document, which links it.
FIGURE_NAME = os.path.join("figures", "mnist-curves.png")

TASKS = {"psmnist": "psMNIST", "smnist": "sMNIST"}
# The journal's model is `adadiag-gated`; `adadiag-gated-cayley` is ours.
METHOD_LABELS = {
    "adadiag-gated": "`adadiag-gated` (the journal's model)",
    "adadiag-gated-cayley": "`adadiag-gated-cayley` (ours, certified)",
}
# The epochs (1-based) the tables show, as far as any run has reached;
# the first five always.
EPOCHS = (1, 2, 3, 5, 10, 20, 40, 80, 160, 250)
ALWAYS_SHOWN = 5

# The accuracy (%) each run should reach at an epoch: (task, epoch, methods,
# threshold); a target of several methods is met when one of them meets it.
TARGETS = (
    ("psmnist", 10, ("adadiag-gated",), 87.5),
    ("psmnist", 10, ("adadiag-gated-cayley",), 87.0),
    ("smnist", 5, ("adadiag-gated", "adadiag-gated-cayley"), 92.8),
)


def read_journal_curves(path):
    """The journal's per-epoch test accuracy, {task: {trial: [accuracy, ...]}}.

    Args:
        path: a CSV with the columns `dataset`, `model`, `trial`, `epoch`
            (1-based) and `test_accuracy` (a fraction); rows of the gated
            AdaDiag (`model` "adadiag") of the tasks in `TASKS` are read.

    Returns:
        Per task and trial, the test accuracies in % in epoch order.

    Raises:
        ValueError: if a trial misses an epoch.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "c.csv")
    >>> _ = open(path, "w").write(
    ...     "dataset,model,trial,epoch,test_accuracy\\n"
    ...     "psmnist,adadiag,1,2,0.75\\npsmnist,adadiag,1,1,0.5\\n")
    >>> read_journal_curves(path)
    {'psmnist': {1: [50.0, 75.0]}}
    """
    found = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["dataset"] in TASKS and row["model"] == "adadiag":
                trial = found.setdefault(row["dataset"], {}).setdefault(int(row["trial"]), {})
                trial[int(row["epoch"])] = 100 * float(row["test_accuracy"])
    curves = {}
    for task, trials in found.items():
        for trial, epochs in sorted(trials.items()):
            if sorted(epochs) != list(range(1, len(epochs) + 1)):
                raise ValueError(
                    f"Invalid journal curves {path!r}: {task} trial {trial} has the epochs "
                    f"{sorted(epochs)}; expected 1 to {len(epochs)} without a gap."
                )
            curves.setdefault(task, {})[trial] = [epochs[e] for e in sorted(epochs)]
    return curves


def journal_at(curves, task, epoch):
    """The journal's mean and population std (%) over trials at `epoch` (1-based).

    Example:
    >>> journal_at({"smnist": {1: [60.0, 90.0], 2: [70.0, 94.0]}}, "smnist", 2)
    (92.0, 2.0)
    """
    values = [trial[epoch - 1] for trial in curves[task].values() if len(trial) >= epoch]
    return statistics.fmean(values), statistics.pstdev(values)


def test_curve(record):
    """A run's test accuracy (%) after each epoch it has finished, in order."""
    return [
        float("nan") if value is None else 100 * value
        for value in record["history"].get("val_accuracy", [])
    ]


def shown_epochs(records):
    """The epochs of `EPOCHS` the tables show: the first five, then those reached."""
    reached = max((record["epochs_run"] for record in records), default=0)
    return [e for i, e in enumerate(EPOCHS) if i < ALWAYS_SHOWN or e <= reached]


def _percent(value):
    return "–" if value is None or math.isnan(value) else f"{value:.1f}"


def _runs(records, task):
    return sorted(
        (r for r in records if r["task"] == task),
        key=lambda r: (r["method"], r["seed"]),
    )


def _accuracy_table(records, curves, task):
    epochs = shown_epochs(records)
    lines = [
        "| run | " + " | ".join(f"e{e}" for e in epochs) + " |",
        "| --- |" + " ---: |" * len(epochs),
    ]
    if task in curves:
        trials = len(curves[task])
        cells = []
        for epoch in epochs:
            mean, std = journal_at(curves, task, epoch)
            cells.append(f"{mean:.1f} ± {std:.1f}")
        lines.append(f"| journal AdaDiag, mean ± std of {trials} trials | " + " | ".join(cells) + " |")
    for record in _runs(records, task):
        curve = test_curve(record)
        cells = [_percent(curve[e - 1]) if e <= len(curve) else "–" for e in epochs]
        label = METHOD_LABELS.get(record["method"], f"`{record['method']}`")
        lines.append(f"| {label}, seed {record['seed']} | " + " | ".join(cells) + " |")
    return lines


def _state_table(records, task):
    lines = [
        "| run | epochs | last epoch | best epoch (optimistic) | s / epoch | read-out | "
        "certified | device | dates |",
        "| --- | --- | ---: | --- | ---: | --- | --- | --- | --- |",
    ]
    for record in _runs(records, task):
        curve = test_curve(record)
        epochs = f"{record['epochs_run']} / {record['config']['epochs']}" + (
            ", finished" if record.get("finished") else ", in progress"
        )
        best = record.get("best_epoch")
        best_text = "–" if best is None else f"{_percent(curve[best])} (epoch {best + 1})"
        seconds = record.get("epoch_seconds", [])[1:]
        certificate = record.get("certificate")
        certified = "–" if not certificate else ("yes" if certificate["certified"] else "no")
        sessions = record.get("sessions") or [record]
        dates = sorted({s.get("date", "")[:10] for s in sessions} - {""})
        devices = sorted({device_text(s) for s in sessions})
        cells = [
            f"`{record['method']}` seed {record['seed']}",
            epochs,
            _percent(curve[-1] if curve else None),
            best_text,
            f"{statistics.median(seconds):.0f}" if seconds else "–",
            record["config"].get("readout", "dense"),
            certified,
            "; ".join(devices),
            ", ".join(dates),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def target_lines(records):
    """One line per target of `TARGETS`: met, not met, or not reached yet."""
    lines = []
    for task, epoch, methods, threshold in TARGETS:
        runs = [r for r in records if r["task"] == task and r["method"] in methods]
        reached = [(r, test_curve(r)[epoch - 1]) for r in runs if r["epochs_run"] >= epoch]
        who = " or ".join(f"`{m}`" for m in methods)
        if reached:
            best = max(value for _, value in reached)
            verdict = "**met**" if best >= threshold else "**not met**"
            values = ", ".join(
                f"`{r['method']}` seed {r['seed']}: {_percent(v)}" for r, v in reached
            )
            state = f"{verdict} ({values})"
        else:
            progress = ", ".join(
                f"`{r['method']}` seed {r['seed']} at epoch {r['epochs_run']}" for r in runs
            )
            state = "not reached yet" + (f" ({progress})" if progress else " (no run)")
        lines.append(f"- {TASKS[task]} epoch {epoch}, {who} ≥ {threshold}: {state}.")
    return lines


def render_document(records, curves, results=DEFAULT_RESULTS, journal=DEFAULT_JOURNAL):
    """The text of `docs/mnist.md` from our run records and the journal's curves.

    Args:
        records: run records (`load_records(..., finished_only=False)`).
        curves: `read_journal_curves(journal)`.
        results, journal: the paths read, as the document names them.

    Returns:
        The Markdown text.
    """
    versions = sorted({
        f"{r.get('backend')} {r.get('backend_version')}, Keras {r.get('keras_version')}, "
        f"Python {r.get('python_version')}"
        for r in records
    })
    commands = sorted({r.get("command", "") for r in records} - {""})
    lines = [
        "# sMNIST and psMNIST: learning curves beside the journal's",
        "",
        f"Generated by `python examples/curves.py` from the run records in `{results}` and "
        f"the journal's logged curves in `{journal}`; do not edit by hand.",
        "",
        "The protocol is the MNIST protocol of the authors' journal follow-up "
        "(`examples/psmnist.py --journal`, `examples/smnist.py --journal`): 16 modules x 32 "
        "units, C = 20, batch 128, Adam at 1e-3 (x0.1 at epochs 80 and 160), at most 250 "
        "epochs, the whole training split, the test split evaluated after every epoch, no "
        "early stopping. Pixels are scaled to [0, 1]; psMNIST applies one fixed pixel "
        "permutation, `keras_rnnofrnns.data.pixel_permutation(0)` (the journal's own "
        "permutation is not published, so the two permuted tasks are equally hard but "
        "not identical).",
        "",
        "Test accuracy in % **after each epoch** (epoch *k* is the model after *k* epochs; "
        "no epoch is picked). The journal's row is the mean ± population std of its three "
        "trials; ours are single seeds. The journal trained on a GPU; we train on a CPU "
        "(the s / epoch column gives the time measured), so our runs advance a few epochs "
        "per working session and resume from their committed backups.",
        "",
        f"![Our test accuracy per epoch over the journal's three trials]({FIGURE_NAME})",
        "",
    ]
    for task, label in TASKS.items():
        runs = _runs(records, task)
        lines += [f"## {label}", ""]
        if not runs:
            lines += ["No run yet.", ""]
            continue
        lines += _accuracy_table(runs, curves, task) + [""]
        lines += _state_table(runs, task) + [""]
    lines += ["## Targets", ""] + target_lines(records) + [""]
    lines += [
        "## How the runs were made",
        "",
        "- Software: " + ("; ".join(versions) or "–") + ".",
        "- Commands (each run pinned to one core of a 2-core CPU machine, resumed with the "
        "same command):",
        "",
        *[f"      {command}" for command in commands],
        "",
        "- The best epoch is picked on the test split, as in the journal, and is optimistic; "
        "the epoch columns and the last epoch are not picked.",
        "- s / epoch is the median wall time of an epoch after a run's first, training and "
        "test evaluation together, on a machine shared with other work: indicative only.",
        "- certified: whether `certify` proves the computed map contracting, for the last "
        "epoch's weights of an unfinished run and the best epoch's model of a finished one; "
        "– where the record was written before records carried it.",
        "",
    ]
    return "\n".join(lines)


def plot_curves(records, curves, path):
    """Saves a figure per task of our test accuracy per epoch over the journal's trials.

    Args:
        records: run records.
        curves: `read_journal_curves(...)`.
        path: the PNG file to write.

    Returns:
        `path`.

    Example:
    >>> import os, tempfile
    >>> record = dict(task="psmnist", method="adadiag-gated", seed=0, epochs_run=2,
    ...               history=dict(val_accuracy=[0.5, 0.7]))
    >>> path = plot_curves([record], {"psmnist": {1: [50.0, 72.0, 77.0]}},
    ...                    os.path.join(tempfile.mkdtemp(), "c.png"))
    >>> open(path, "rb").read(4) == b"\\x89PNG"
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(TASKS), figsize=(11, 4), layout="constrained")
    for axis, (task, label) in zip(axes, TASKS.items()):
        runs = _runs(records, task)
        # Up to a little past our furthest epoch, so our points stay readable.
        last = max([r["epochs_run"] for r in runs] + [10])
        span = min(250, max(2 * last, 10))
        for number, trial in sorted(curves.get(task, {}).items()):
            epochs = range(1, min(span, len(trial)) + 1)
            axis.plot(
                epochs, trial[: len(epochs)], color="0.6", linewidth=1,
                label="journal trials" if number == 1 else None,
            )
        for record in runs:
            curve = test_curve(record)
            axis.plot(
                range(1, len(curve) + 1), curve, marker="o", markersize=3,
                label=f"{record['method']} seed {record['seed']}",
            )
        axis.set_title(label)
        axis.set_xlabel("epoch")
        axis.set_ylabel("test accuracy (%)")
        axis.set_xlim(0.5, span + 0.5)
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="lower right", fontsize=8)
    atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=100, format="png"))
    plt.close(figure)
    return path


def main(argv=None):
    """`examples/curves.py`: writes the document and its figure; returns the records."""
    parser = argparse.ArgumentParser(
        prog="curves.py",
        description="Write docs/mnist.md and its figure from the sMNIST / psMNIST run "
        "records beside the journal's logged learning curves.",
    )
    parser.add_argument("--results", default=DEFAULT_RESULTS,
                        help="folder of the run records (default: %(default)s)")
    parser.add_argument("--journal", default=DEFAULT_JOURNAL,
                        help="the journal's per-epoch CSV (default: %(default)s)")
    parser.add_argument("--output", default=DEFAULT_DOCUMENT,
                        help="the document to write (default: %(default)s); its figure "
                        f"goes to {FIGURE_NAME} beside it")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.results):
        parser.error(f"the results folder {args.results!r} does not exist")
    records = [
        r for r in load_records(args.results, finished_only=False) if r["task"] in TASKS
    ]
    if not records:
        parser.error(f"the results folder {args.results!r} holds no sMNIST / psMNIST record")
    curves = read_journal_curves(args.journal)
    text = render_document(records, curves, args.results, args.journal)
    figure = os.path.join(os.path.dirname(args.output), FIGURE_NAME)
    os.makedirs(os.path.dirname(figure), exist_ok=True)
    plot_curves(records, curves, figure)
    atomic_write_text(args.output, text)
    print(f"wrote {args.output} and {figure} from {len(records)} records in {args.results}")
    return records


# The repository's own files, for the test that holds the document to them.
COMMITTED = {
    "results": os.path.join(REPOSITORY, DEFAULT_RESULTS),
    "journal": os.path.join(REPOSITORY, DEFAULT_JOURNAL),
    "document": os.path.join(REPOSITORY, DEFAULT_DOCUMENT),
}
