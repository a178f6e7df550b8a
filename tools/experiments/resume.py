"""Where an interrupted run resumes: the last state its files agree on.

A run's state is spread over files written one after another at the end of
each epoch: the best model (when the epoch set a new best), the CSV log,
the record, then the backup of the weights and optimizer (see
`tools.experiments.storage`). A kill between two of them leaves
the later ones one epoch behind; a damaged file leaves a gap. `resume_state`
takes the backup as the truth (the weights cannot be rebuilt), drops what
was logged after it, rebuilds a damaged log from the record where that is
exact, and otherwise stops with an error that names the file.
"""

import dataclasses
import math
import os

from tools.experiments import storage
from tools.experiments.records import history_from_csv, rows_from_record


@dataclasses.dataclass(frozen=True)
class ResumeState:
    """A consistent state to resume a run from.

    Attributes:
        epochs: epochs completed (the next one to train is this, 0-based).
        weights: the backup weights file holding the state after them.
        rows: the per-epoch logs of those epochs, one per epoch, in order.
        best_epoch: the epoch of the best validation accuracy among them
            (None if none is finite).
        best_model: the file of that epoch's model (None with `best_epoch`).
    """

    epochs: int
    weights: str
    rows: list
    best_epoch: int = None
    best_model: str = None


def best_epoch(rows, monitor="val_accuracy"):
    """The first epoch of the highest finite `monitor` value in `rows`, or None.

    The first one, as a checkpoint that saves only on a strict improvement
    keeps it.

    Example:
    >>> best_epoch([{"epoch": 0, "val_accuracy": 0.5}, {"epoch": 1, "val_accuracy": 0.5}])
    0
    """
    best = None
    for row in rows:
        value = row.get(monitor)
        if value is not None and math.isfinite(value) and (best is None or value > best[1]):
            best = (row["epoch"], value)
    return None if best is None else best[0]


def _logged_rows(csv_path, record, epochs):
    try:
        logged = history_from_csv(csv_path)
        damage = None
    except ValueError as exc:
        logged, damage = [], exc
    expected = list(range(epochs))
    rows = [row for row in logged if row["epoch"] < epochs]
    if [row["epoch"] for row in rows] == expected:
        return rows
    # The record holds the same per-epoch logs: the CSV is rebuilt from it
    # exactly when it covers every backed-up epoch.
    rows = [row for row in rows_from_record(record or {}) if row["epoch"] < epochs]
    if [row["epoch"] for row in rows] == expected:
        print(
            f"{os.path.basename(csv_path)}: "
            + (f"damaged ({damage})" if damage else f"epochs missing before epoch {epochs}")
            + "; rebuilt from the record"
        )
        return rows
    raise ValueError(
        f"Invalid CSV log {csv_path!r}: the backup holds {epochs} epochs, but neither "
        "the log nor the record lists each of them"
        + (f" ({damage})" if damage else "")
        + ". Restore the file from a copy of the run, or delete the run's files "
        "(.json, .csv and _backup folder) to train it again from epoch 0."
    )


def resume_state(backup_dir, csv_path, record):
    """The state an unfinished run resumes from, with the files made to agree on it.

    Temporary files of killed writes, and best models of epochs after the
    backup (trained again on resume), are deleted.

    Args:
        backup_dir: the run's backup folder.
        csv_path: the run's CSV log.
        record: the run's (unfinished) record, or None.

    Returns:
        A `ResumeState`, or None when the backup holds no training state
        (the run has nothing to resume and starts over).

    Raises:
        ValueError: naming the file and what to do, when the state cannot
            be restored: a damaged backup, a log that misses epochs the
            record cannot supply, or a missing best model.
    """
    storage.remove_temporaries(backup_dir)
    point = storage.restore_point(backup_dir)
    if point is None:
        return None
    epochs, weights = point
    rows = _logged_rows(csv_path, record, epochs)
    best = best_epoch(rows)
    models = storage.best_models(backup_dir)
    if best is not None and best not in models:
        raise ValueError(
            f"Invalid backup {backup_dir!r}: epoch {best + 1} has the best validation "
            f"accuracy so far, but its model {storage.best_model_path(backup_dir, best)!r} "
            "is missing, so the run could not report the model it records. Restore the "
            "folder from a copy of the run, or delete the run's files (.json, .csv and "
            "_backup folder) to train it again from epoch 0."
        )
    # The previous backup state stays the fallback until the next epoch's
    # backup, so its best model stays too.
    storage.keep_best_models(backup_dir, {best, best_epoch(rows[:-1])})
    return ResumeState(
        epochs=epochs,
        weights=weights,
        rows=rows,
        best_epoch=best,
        best_model=None if best is None else models[best],
    )
