"""Run records: one JSON file per training run, and their summary over seeds.

A record is a plain JSON object written by `tools.experiments.runner`
(see `RECORD_KEYS`). It is always written whole through a temporary file and
`os.replace`, so a crash never leaves a half-written record behind, and it is
rewritten after every epoch with `finished: false` so that an interrupted run
can be inspected and resumed.
"""

import csv
import datetime
import importlib
import json
import math
import os
import platform
import shlex
import sys
import warnings

import keras

from keras_rnnofrnns.distribution import describe_devices
from tools.experiments.settings import PROTOCOL_KEYS
from tools.experiments.storage import atomic_write_text

# Keys every record holds (more may be present).
RECORD_KEYS = (
    "task",
    "method",
    "coupling_blocks",
    "seed",
    "num_modules",
    "module_size",
    "dt",
    "config",
    "epochs_run",
    "best_epoch",
    "test_accuracy",
    "final_test_accuracy",
    "history",
    "epoch_seconds",
    "stopped_early",
    "finished",
    "backend",
    "keras_version",
    "backend_version",
    "device",
    "command",
    "date",
    "validation_split_note",
)

SUMMARY_FILE = "summary.json"


def run_name(task, method, coupling_blocks, seed):
    """The file stem of one run: `<task>_<method>_C<C>_seed<seed>`.

    Example:
    >>> run_name("psmnist", "adadiag-clip", 20, 0)
    'psmnist_adadiag-clip_C20_seed0'
    """
    return f"{task}_{method}_C{coupling_blocks}_seed{seed}"


def write_json(path, data):
    """Writes `data` as JSON to `path` atomically (temporary file + `os.replace`).

    Non-finite floats (NaN, infinity) are written as null, which strict
    JSON readers accept.

    Args:
        path: destination file.
        data: a JSON-serialisable object.

    Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "r.json")
    >>> write_json(path, {"a": 1, "loss": [0.5, float("nan")]})
    >>> read_json(path)
    {'a': 1, 'loss': [0.5, None]}
    """
    text = json.dumps(_finite(data), indent=2, sort_keys=False, allow_nan=False)
    atomic_write_text(path, text + "\n")


def _finite(data):
    # JSON has no NaN or infinity (strict readers refuse Python's tokens):
    # a diverged run's non-finite losses are written as null, read back as None.
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(value) for value in data]
    return data


def read_json(path):
    """Reads a JSON file; returns None when it does not exist.

    Raises:
        ValueError: if the file exists but is not valid JSON.
    """
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"Invalid record file {path!r}: it is not valid JSON ({exc}). Restore it "
            "from a copy of the run; to train the run again from epoch 0 instead, delete "
            "it with the run's .csv file and _backup folder (a backup without its record "
            "is not resumed)."
        ) from exc


def _number(text):
    if text in ("", "NA", None):
        return None
    return float(text)


def history_from_csv(path):
    """The per-epoch logs of a run's CSV file, one dict per epoch.

    An epoch logged but not backed up when a run died is trained and logged
    again, and files of earlier versions were appended to: for each epoch
    the last row wins, so every epoch appears exactly once, in order.

    Args:
        path: the CSV file; a missing file means no epochs.

    Returns:
        A list of dicts with an int `"epoch"` and float (or None) values.

    Raises:
        ValueError: if a row cannot be read (a torn or edited file), naming
            the file and the line.

    Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("epoch,loss\\n0,2.0\\n1,1.5\\n1,1.4\\n")
    >>> history_from_csv(path)
    [{'epoch': 0, 'loss': 2.0}, {'epoch': 1, 'loss': 1.4}]
    """
    if not os.path.exists(path):
        return []
    rows = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            if row.get("epoch") == "epoch":
                continue
            try:
                # DictReader puts the cells of a row longer than the header
                # under the key None, and None in the cells a short row lacks.
                if None in row or None in row.values():
                    raise ValueError("wrong number of cells")
                epoch = int(row.pop("epoch"))
                values = {k: _number(v) for k, v in row.items()}
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"Invalid CSV log {path!r}: line {reader.line_num} cannot be read "
                    f"({exc}); expected the rows `CSVLogger` writes."
                ) from exc
            rows[epoch] = {"epoch": epoch, **values}
    return [rows[epoch] for epoch in sorted(rows)]


def csv_text(rows):
    """Per-epoch rows as CSV text that `history_from_csv` reads back.

    Example:
    >>> print(csv_text([{"epoch": 0, "loss": 2.0, "val_accuracy": None}]), end="")
    epoch,loss,val_accuracy
    0,2.0,NA
    """
    keys = ["epoch"]
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    keys = ["epoch", *sorted(keys[1:])]
    lines = [",".join(keys)]
    for row in rows:
        cells = [row.get(key) for key in keys]
        lines.append(",".join("NA" if c is None else repr(c) for c in cells))
    return "\n".join(lines) + "\n"


def rows_from_record(record):
    """The per-epoch rows a run record holds (`history` and `epoch_seconds`).

    Example:
    >>> rows_from_record({"history": {"epoch": [0], "loss": [2.0]},
    ...                   "epoch_seconds": [1.5]})
    [{'epoch': 0, 'loss': 2.0, 'epoch_seconds': 1.5}]
    """
    history = dict(record.get("history") or {})
    seconds = record.get("epoch_seconds") or []
    if len(seconds) == len(history.get("epoch", [])):
        history["epoch_seconds"] = seconds
    epochs = history.get("epoch", [])
    return [
        {key: values[i] for key, values in history.items() if i < len(values)}
        for i in range(len(epochs))
    ]


def history_columns(rows):
    """Per-epoch rows turned into a Keras-`History`-like dict of lists."""
    keys = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    return {key: [row.get(key) for row in rows] for key in keys}


def portable_command(argv, cwd=None):
    """The command line `argv` as a record keeps it: fit to rerun on another machine.

    Records travel between machines, so the interpreter is named `python`
    rather than by its path, and every absolute path inside the working
    directory (given alone or as `--flag=PATH`) is written relative to it:
    `--output /path/to/project/results` run from `/path/to/project` is
    recorded as `--output results`. Absolute paths elsewhere are kept, since
    nothing else would say where those files were.

    Args:
        argv: the program and its arguments, as in `sys.argv`.
        cwd: the directory the command ran in (default: the current one).

    Returns:
        The command as one string a POSIX shell splits back into the
        arguments (`shlex.join`).

    Example:
    >>> portable_command(["train.py", "--output", "/path/to/run/results"],
    ...                  cwd="/path/to/run")
    'python train.py --output results'
    >>> portable_command(["train.py", "--output", "my runs"], cwd="/path/to/run")
    "python train.py --output 'my runs'"
    """

    def portable(argument):
        flag, equals, value = ("", "", argument)
        if argument.startswith("-"):
            flag, equals, value = argument.partition("=")
        return flag + equals + portable_path(value, cwd)

    # Quoted as a shell reads it back: a path with a space stays one argument.
    return shlex.join(["python", *(portable(str(argument)) for argument in argv)])


def portable_path(path, cwd=None):
    """`path` as records and documents name it: relative to `cwd` when it is
    an absolute path inside it, else as given (see `portable_command`).

    Example:
    >>> portable_path("/path/to/run/results/timeseries", cwd="/path/to/run")
    'results/timeseries'
    >>> portable_path("/data/ucr", cwd="/path/to/run"), portable_path("runs")
    ('/data/ucr', 'runs')
    """
    path = os.fspath(path)
    if not os.path.isabs(path):
        return path
    cwd = os.path.abspath(os.getcwd() if cwd is None else cwd)
    try:
        inside = os.path.relpath(os.path.abspath(path), cwd)
    except ValueError:  # Another drive, on Windows.
        return path
    if inside == os.pardir or inside.startswith(os.pardir + os.sep):
        return path
    return inside


def environment():
    """Where and how a run was made: backend, versions, device, command, date."""
    backend = keras.backend.backend()
    try:
        backend_version = importlib.import_module(backend).__version__
    except (ImportError, AttributeError):
        backend_version = None
    return {
        "backend": backend,
        "keras_version": keras.__version__,
        "backend_version": backend_version,
        "python_version": platform.python_version(),
        "device": describe_devices(),
        "command": portable_command(sys.argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def device_text(entry):
    """The device of a record or of one of its sessions, as documents show it.

    Records written since `describe_devices` named the backend hold
    `"jax on cpu:0 (...)"`; older ones hold a bare `"cpu"` beside their
    `backend`. Both read as `"<backend> on <device>"`, so a table that mixes
    them names the backend once, the same way.

    Example:
    >>> device_text({"device": "cpu", "backend": "jax"})
    'jax on cpu'
    >>> device_text({"device": "jax on cpu:0", "backend": "jax"})
    'jax on cpu:0'
    """
    device = entry.get("device") or "?"
    backend = entry.get("backend")
    if not backend or device.startswith(f"{backend} on "):
        return device
    return f"{backend} on {device}"


def _record_files(paths):
    for path in paths:
        if os.path.isfile(path):
            yield path
            continue
        if not os.path.isdir(path):
            raise ValueError(
                f"Invalid `paths`: received {path!r}; expected existing record "
                "files or folders holding them."
            )
        for folder, folders, files in os.walk(path):
            # A run's backup holds its resume state, not records; sorted in
            # place so that the walk's order is the same on every machine.
            folders[:] = sorted(f for f in folders if not f.endswith("_backup"))
            for name in sorted(files):
                if name.endswith(".json") and name != SUMMARY_FILE:
                    yield os.path.join(folder, name)


# The type of each record field that readers use, checked when present and
# not null (records of earlier versions lack some); `_NUMBER` excludes bools.
_NUMBER = "number"
_FIELD_TYPES = (
    ("coupling_blocks", int), ("seed", int), ("epochs_run", int), ("best_epoch", int),
    ("parameters", int), ("test_accuracy", _NUMBER), ("final_test_accuracy", _NUMBER),
    ("num_modules", int), ("module_size", int), ("dt", _NUMBER),
    ("finished", bool), ("stopped_early", bool), ("diverged", bool),
    ("config", dict), ("history", dict), ("certificate", dict),
    ("epoch_seconds", list), ("sessions", list),
    ("backend", str), ("backend_version", str), ("keras_version", str), ("device", str),
    ("date", str), ("command", str),
)  # fmt: skip
_TYPE_WORDS = {int: "an integer", bool: "true or false", dict: "an object", list: "a list",
               str: "a string", _NUMBER: "a number"}  # fmt: skip


def _is(value, kind):
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float) if kind is _NUMBER else kind)


def record_problem(record):
    """What makes `record` unusable as a run record, or None when it is usable.

    Example:
    >>> record_problem({"task": "smnist", "method": "scn-3", "coupling_blocks": 5,
    ...                 "seed": 0, "test_accuracy": "high", "epochs_run": 3})
    'test_accuracy is not a number or null'
    >>> record_problem([1, 2])
    'not a JSON object'
    >>> record_problem({"task": "smnist", "method": "scn-3", "coupling_blocks": 5,
    ...                 "seed": 0, "config": [1]})
    'config is not an object or null'
    """
    if not isinstance(record, dict):
        return "not a JSON object"
    for key in ("task", "method"):
        if not isinstance(record.get(key), str):
            return f"{key} is missing or not a str"
    for key in ("coupling_blocks", "seed"):
        if not _is(record.get(key), int):
            return f"{key} is missing or not a int"
    for key, kind in _FIELD_TYPES:
        value = record.get(key)
        if value is not None and not _is(value, kind):
            return f"{key} is not {_TYPE_WORDS[kind]} or null"
    history = record.get("history") or {}
    if not all(isinstance(v, list) for v in history.values()):
        return "history holds a value that is not a list"
    if not all(v is None or _is(v, _NUMBER) for v in record.get("epoch_seconds") or []):
        return "epoch_seconds holds a value that is not a number or null"
    if not all(isinstance(s, dict) for s in record.get("sessions") or []):
        return "sessions holds a value that is not an object"
    return None


def read_record(path):
    """The run record in `path`, or None (with a warning naming the file) when
    it is missing, not valid JSON, or malformed (see `record_problem`)."""
    try:
        record = read_json(path)
    except ValueError as exc:
        warnings.warn(f"skipped {path}: {exc}")
        return None
    return None if record is None else _usable(path, record)


def _usable(path, record):
    problem = record_problem(record)
    if problem:
        warnings.warn(f"skipped the malformed record {path}: {problem}")
        return None
    return record


def load_records(paths, finished_only=True):
    """Reads the run records in the given files and folders (searched recursively).

    JSON files that are not run records (no `task`), runs without any
    accuracy, and `summary.json` files are passed over; malformed records
    are skipped with a warning that names them.

    Args:
        paths: a path or a list of record files and folders.
        finished_only: keep only records of runs that ran to their end.

    Returns:
        A list of record dicts, each with the extra key `"path"`.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    records = []
    for path in _record_files([os.fspath(p) for p in paths]):
        try:
            record = read_json(path)
        except ValueError as exc:
            warnings.warn(f"skipped {path}: {exc}")
            continue
        if not isinstance(record, dict) or "task" not in record:
            continue
        record = _usable(path, record)
        if record is None or record.get("test_accuracy") is None:
            continue
        if finished_only and not record.get("finished"):
            continue
        records.append({**record, "path": path})
    return records


def _mean_std(values):
    mean = sum(values) / len(values)
    # Population standard deviation (numpy's default, ddof=0) over the seeds.
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return mean, std


def summarize(records):
    """Mean and standard deviation of the best test accuracy over seeds.

    Runs are grouped by task, method, coupling blocks and the settings in
    `PROTOCOL_KEYS`, so runs made with other settings are never averaged
    together.

    Args:
        records: run records (see `load_records`).

    Returns:
        A list of dicts, one per group, sorted by task, method and C, with
        keys `task`, `method`, `coupling_blocks`, `protocol` (the shared
        settings), `runs`, `seeds`, `test_accuracy` (per seed), `mean`, `std`
        (ddof=0) and `epochs_run`.

    Example:
    >>> records = [dict(task="smnist", method="scn-3", coupling_blocks=5, seed=s,
    ...                 test_accuracy=a, epochs_run=3, config={})
    ...            for s, a in ((0, 0.8), (1, 0.9))]
    >>> group, = summarize(records)
    >>> group["runs"], round(group["mean"], 3), round(group["std"], 3)
    (2, 0.85, 0.05)
    """
    groups = {}
    for record in records:
        protocol = {k: record.get("config", {}).get(k) for k in PROTOCOL_KEYS}
        key = (
            record["task"],
            record["method"],
            record["coupling_blocks"],
            json.dumps(protocol, sort_keys=True),
        )
        groups.setdefault(key, (protocol, []))[1].append(record)
    summary = []
    for (task, method, coupling_blocks, _), (protocol, members) in sorted(groups.items()):
        members = sorted(members, key=lambda r: r["seed"])
        accuracies = [r["test_accuracy"] for r in members]
        mean, std = _mean_std(accuracies)
        summary.append(
            {
                "task": task,
                "method": method,
                "coupling_blocks": coupling_blocks,
                "protocol": protocol,
                "runs": len(members),
                "seeds": [r["seed"] for r in members],
                "test_accuracy": accuracies,
                "mean": mean,
                "std": std,
                "epochs_run": [r["epochs_run"] for r in members],
            }
        )
    return summary


def write_summary(folder, records):
    """Writes `summary.json` (see `summarize`) into `folder` and returns its groups."""
    groups = summarize(records)
    write_json(
        os.path.join(folder, SUMMARY_FILE),
        {
            "groups": groups,
            "std": "population standard deviation (ddof=0) over seeds",
            "records": sorted(os.path.basename(r["path"]) for r in records if "path" in r),
        },
    )
    return groups


def format_summary(groups):
    """The summary groups as a short markdown table (accuracy in percent)."""
    lines = [
        "| task | method | C | runs | test accuracy (%) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for g in groups:
        lines.append(
            f"| {g['task']} | {g['method']} | {g['coupling_blocks']} | {g['runs']} | "
            f"{100 * g['mean']:.2f} ± {100 * g['std']:.2f} |"
        )
    return "\n".join(lines)
