"""Writes `docs/reproduction.md`: the prose of its template, the numbers of the records.

The prose lives in `docs/templates/reproduction.md`; this module fills in its
placeholders (`string.Template`) from the records alone: the paper's numbers
beside ours, the epochs trained, the wall time per epoch and the device of
every run, and `not run` where there is no record. Nothing is estimated: it
only shows finished epochs of real runs.
"""

import os
import re
import statistics
import string

from tools.experiments import PAPER_DEFAULTS, load_records, render_table
from tools.experiments.records import portable_path, read_record
from tools.experiments.runner import VALIDATION_NOTE
from tools.experiments.runs import (
    DAMAGED,
    FINISHED,
    IN_PROGRESS,
    NOT_RUN,
    Configuration,
    run_state,
)
from tools.experiments.storage import atomic_write_text
from tools.experiments.table import TASK_LABELS
from tools import REPOSITORY
from tools.reproduce.launch import DEFAULT_GRACE_SECONDS
from tools.reproduce.plan import (
    DEFAULT_RESULTS,
    ORDER_PERMUTATION_SEED,
    count_states,
    reproduction_order,
    run_names,
)

DEFAULT_DOCUMENT = os.path.join("docs", "reproduction.md")
TEMPLATE = os.path.join(REPOSITORY, "docs", "templates", "reproduction.md")
# The template's opening comment speaks to its editors, not to readers.
_EDITOR_NOTE = re.compile(r"\A<!--.*?-->\s*", re.DOTALL)


def _device_epochs(record):
    """[(device, backend, epochs, median seconds)] of a record, one per device used."""
    epochs = record.get("history", {}).get("epoch", [])
    seconds = record.get("epoch_seconds", [])
    sessions = record.get("sessions") or [
        {"device": record.get("device"), "backend": record.get("backend"), "from_epoch": 0}
    ]
    used = {}
    for index, epoch in enumerate(epochs):
        session = [s for s in sessions if s["from_epoch"] <= epoch][-1:] or sessions[:1]
        key = (session[0]["device"], session[0]["backend"])
        if index < len(seconds) and seconds[index] is not None:
            used.setdefault(key, []).append(seconds[index])
    return [(d, b, len(s), statistics.median(s)) for (d, b), s in used.items()]


def _run_row(number, config, record, state):
    if record is None:
        return f"| {number} | `{config.name}` | {NOT_RUN} | – | – | – | – |"
    accuracy = record.get("test_accuracy")
    best = "–" if accuracy is None else f"{100 * accuracy:.2f}"
    best_epoch = "–" if record.get("best_epoch") is None else str(record["best_epoch"] + 1)
    if state == FINISHED:
        state += ", early stop" if record.get("stopped_early") else ", all epochs"
    elif state == IN_PROGRESS:
        best += " so far" if accuracy is not None else ""
    devices = "; ".join(
        f"{epochs} on {device} ({backend}), {seconds:.1f} s"
        for device, backend, epochs, seconds in _device_epochs(record)
    )
    return (
        f"| {number} | `{config.name}` | {state} | {best} | {best_epoch} | "
        f"{record.get('epochs_run', 0)} | {devices or '–'} |"
    )


def runs_table(results, configs):
    """A markdown table of `configs` in order: state, best accuracy, epochs, time, device.

    Runs in `results` that are not among `configs` are listed after them.

    Args:
        results: the results folder.
        configs: `Configuration`s, in training order.

    Returns:
        The table as a string.
    """
    known = {c.name for c in configs}
    extra = []
    if os.path.isdir(results):
        for name in run_names(results):
            if name not in known:
                record = read_record(os.path.join(results, name + ".json"))
                if record is not None:
                    extra.append(Configuration.from_mapping(record))
    lines = [
        "| # | run | state | best test accuracy (%) | at epoch | epochs trained "
        "| epochs per device (backend), median wall time per epoch |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for number, config in enumerate([*configs, *extra], 1):
        lines.append(_run_row(number, config, *run_state(results, config)))
    return "\n".join(lines)


def _status(results, configs):
    counts = count_states(results, configs)
    status = (
        f"{counts[FINISHED]} of {len(configs)} runs finished, {counts[IN_PROGRESS]} "
        f"in progress, {counts[NOT_RUN]} not run."
    )
    if counts[DAMAGED]:
        status += (
            f" {counts[DAMAGED]} finished with a missing or damaged model: restore the "
            "`.keras` file from a copy of the run, or delete its record to train it again."
        )
    if counts[NOT_RUN] == len(configs):
        status += (
            " No run has been made yet, so every cell says *not run*; see *How to run "
            "on the GPU*."
        )
    return status


def _cell_labels(configs):
    labels = [f"{TASK_LABELS[c.task]} C = {c.coupling_blocks}" for c in configs]
    return ", ".join(dict.fromkeys(labels))


def _protocol_values():
    """The template's words for the paper's protocol (`PAPER_DEFAULTS`)."""
    paper = PAPER_DEFAULTS
    return {
        "num_modules": paper["num_modules"],
        "module_size": paper["module_size"],
        "dt": paper["dt"],
        "optimizer": paper["optimizer"].capitalize(),
        "learning_rate": f"{paper['learning_rate']:g}",
        "batch_size": paper["batch_size"],
        "lr_drops": " and ".join(map(str, paper["lr_drops"])),
        "epochs": paper["epochs"],
        "patience": paper["patience"],
        "permutation_seed": ORDER_PERMUTATION_SEED,
    }


def render_document(results=DEFAULT_RESULTS, configs=None, template=TEMPLATE):
    """The markdown of `docs/reproduction.md`, from the records in `results` alone.

    Args:
        results: the results folder.
        configs: the configurations in training order (default:
            `reproduction_order()`).
        template: the document's template, with `string.Template`
            placeholders.

    Returns:
        The document as a string.

    Raises:
        KeyError: if the template holds a placeholder this module does not fill.
    """
    configs = reproduction_order() if configs is None else list(configs)
    finished = load_records(results) if os.path.isdir(results) else []
    with open(template, encoding="utf-8") as f:
        text = _EDITOR_NOTE.sub("", f.read())
    text = string.Template(text).substitute(
        results=portable_path(results).replace(os.sep, "/"),
        status=_status(results, configs),
        paper_table=render_table(finished),
        cell_labels=_cell_labels(configs),
        runs_table=runs_table(results, configs),
        validation_note=VALIDATION_NOTE,
        grace_seconds=f"{DEFAULT_GRACE_SECONDS:g}",
        **_protocol_values(),
    )
    return text.rstrip() + "\n"


def write_document(path=DEFAULT_DOCUMENT, results=DEFAULT_RESULTS, configs=None):
    """Writes `render_document(results, configs)` to `path` and returns it.

    Args:
        path: the markdown file to write.
        results: the results folder.
        configs: as for `render_document`.

    Returns:
        The document as a string.
    """
    text = render_document(results, configs)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    atomic_write_text(path, text)
    return text
