"""The paper's Table 1, reproduced in short stretches of GPU time.

A launcher over the experiment runner (`keras_rnnofrnns.experiments.runner`)
for a GPU that is lent for about ten minutes at a time. It takes the
(task, method, C, seed) configurations of Table 1 in a fixed order (see
`reproduction_order`), skips the finished ones and trains the next ones with
the paper's protocol, several at a time: each configuration runs in its own
worker process (`train_run` on one run), `parallel` of them side by side on
the one device. With a time budget no epoch starts that would not end in it,
so every worker stops cleanly between epochs with its state backed up, and
the next stretch resumes each run at its next epoch. The records, logs and
checkpoints of the runs a stretch started are packed into one small archive
that comes back from the GPU machine and is unpacked into `results/` here.

Command line (`examples/reproduce.py` is a thin front over `main`):

    reproduce.py [run] [--parallel K] [--time-budget S] [--pack FILE] ...
    reproduce.py pack FILE [--runs NAME ...]
    reproduce.py unpack FILE
    reproduce.py table [--output docs/reproduction.md]
    reproduce.py status

`table` writes `docs/reproduction.md` from the records alone: the paper's
numbers beside ours, the epochs trained, the wall time per epoch and the
device of every run, and `not run` where there is no record. Nothing in it
is estimated: it only shows finished epochs of real runs.
"""

import argparse
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time

from keras_rnnofrnns._checks import check_choice, check_int, check_positive_float
from keras_rnnofrnns.experiments.callbacks import StopBeforeDeadline
from keras_rnnofrnns.experiments.records import (
    SUMMARY_FILE,
    format_summary,
    load_records,
    read_record,
    record_problem,
    run_name,
    write_summary,
)
from keras_rnnofrnns.experiments.runner import (
    PAPER_DEFAULTS,
    TASKS,
    VALIDATION_NOTE,
    Protocol,
    add_protocol_arguments,
    protocol_settings,
    train_run,
)
from keras_rnnofrnns.experiments.storage import (
    BACKUP_METADATA,
    BACKUP_WEIGHTS,
    atomic_write_text,
    is_temporary,
)
from keras_rnnofrnns.experiments.table import TASK_LABELS, render_table
from keras_rnnofrnns.models import METHODS, PAPER_METHODS

# The order of the runs: psMNIST before sMNIST, C = 20 before C = 5, the first
# seed of every cell before the other seeds.
ORDER_TASKS = ("psmnist", "smnist")
ORDER_COUPLING_BLOCKS = (20, 5)
ORDER_SEEDS = (0, 1, 2)
# The runner's default permutation, the same for every psMNIST run.
ORDER_PERMUTATION_SEED = 0

DEFAULT_RESULTS = "results"
DEFAULT_DOCUMENT = os.path.join("docs", "reproduction.md")
LOG_FOLDER = "logs"
# Above this size --pack warns: an archive meant to travel should stay small.
PACK_LIMIT_BYTES = 16 * 2**20
# Stop (SIGTERM) workers still running this long after the time budget,
# then kill them this long after that.
DEFAULT_GRACE_SECONDS = 60.0
_TERMINATE_SECONDS = 10.0
_POLL_SECONDS = 0.5
_COMMANDS = ("run", "pack", "unpack", "table", "status")


@dataclasses.dataclass(frozen=True)
class Configuration:
    """One run of Table 1: a task, a method, a number of coupling blocks C and a seed.

    Example:
    >>> Configuration("psmnist", "adadiag-clip", 20, 0).name
    'psmnist_adadiag-clip_C20_seed0'
    """

    task: str
    method: str
    coupling_blocks: int
    seed: int

    @property
    def name(self):
        """The runner's file stem of this run (see `records.run_name`)."""
        return run_name(self.task, self.method, self.coupling_blocks, self.seed)


def reproduction_order(
    tasks=ORDER_TASKS,
    coupling_blocks=ORDER_COUPLING_BLOCKS,
    methods=PAPER_METHODS,
    seeds=ORDER_SEEDS,
):
    """The configurations of Table 1 in the order they are trained.

    A cell of the table is a (task, C) column and a method row. The first
    seed goes through every cell first (tasks, then C, then methods, each in
    the order given), so that a first number exists everywhere early; the
    other seeds follow cell by cell in the same order, so that each cell gets
    its mean ± std as soon as possible.

    Args:
        tasks: task names, in order.
        coupling_blocks: values of C, in order.
        methods: method names, in order.
        seeds: seeds, the first one first.

    Returns:
        A list of `Configuration`s.

    Example:
    >>> order = reproduction_order()
    >>> len(order), [c.name for c in order[:5]]  # doctest: +NORMALIZE_WHITESPACE
    (48, ['psmnist_scn-3_C20_seed0', 'psmnist_scn-30_C20_seed0',
          'psmnist_adadiag-tanh_C20_seed0', 'psmnist_adadiag-clip_C20_seed0',
          'psmnist_scn-3_C5_seed0'])
    >>> order[16].name, order[17].name
    ('psmnist_scn-3_C20_seed1', 'psmnist_scn-3_C20_seed2')
    """
    for task in tasks:
        check_choice("task", task, tuple(TASKS))
    for method in methods:
        check_choice("method", method, tuple(METHODS))
    if not seeds:
        raise ValueError(f"Invalid `seeds`: received seeds={seeds!r}; expected at least one.")
    cells = [(t, c, m) for t in tasks for c in coupling_blocks for m in methods]
    first = [Configuration(t, m, c, seeds[0]) for t, c, m in cells]
    others = [Configuration(t, m, c, s) for t, c, m in cells for s in seeds[1:]]
    return first + others


def run_state(results, config):
    """The record of `config` in `results` (or None) and its state in words.

    Returns:
        `(record, state)`, state one of `"finished"`, `"in progress"`, `"not run"`.
    """
    record = read_record(os.path.join(results, config.name + ".json"))
    if record is None:
        return None, "not run"
    return record, "finished" if record.get("finished") else "in progress"


# --- Training: the launcher and its workers -------------------------------


def _worker_environment(parallel):
    """The environment of a worker: several of them share one GPU."""
    env = dict(os.environ)
    # JAX would take 75 % of the GPU memory per process, and TensorFlow all
    # of it; torch allocates on demand. Settings made by the caller win.
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{0.9 / parallel:.3f}")
    env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


_WORKER_CODE = (
    "import sys; from keras_rnnofrnns.experiments.reproduce import worker_main; "
    "worker_main(sys.argv[1])"
)


def worker_main(job):
    """Trains one configuration in this process: the launcher's worker.

    Args:
        job: JSON text with `task`, `method`, `coupling_blocks`, `seed`,
            `settings` (the other `Protocol.create` arguments, `output`
            included), `deadline` (`time.time()` seconds, or null) and
            `command` (the launcher's command line, kept in the record).

    Returns:
        The run record.
    """
    job = json.loads(job)
    sys.argv = job["command"]
    protocol = _protocol(Configuration(*(job[k] for k in _CONFIG_KEYS)), job["settings"])
    callbacks = [] if job["deadline"] is None else [StopBeforeDeadline(job["deadline"])]
    return train_run(
        protocol,
        protocol.load_data(),
        protocol.methods[0],
        protocol.coupling_blocks[0],
        protocol.seeds[0],
        callbacks,
    )


_CONFIG_KEYS = ("task", "method", "coupling_blocks", "seed")


def _protocol(config, settings):
    """The one-run `Protocol` of `config` (checked)."""
    settings = dict(settings)
    if settings.get("lr_drops") is not None:
        settings["lr_drops"] = tuple(settings["lr_drops"])
    if not TASKS[config.task].permuted:
        # No permutation: keep sMNIST records comparable with examples/smnist.py's.
        settings["permutation_seed"] = 0
    return Protocol.create(
        config.task,
        methods=(config.method,),
        coupling_blocks=(config.coupling_blocks,),
        seeds=(config.seed,),
        **settings,
    )


def _longest_epoch(config, results):
    """The longest recorded epoch of `config`, else of its task's runs, else 0 seconds."""
    records = load_records(results, finished_only=False)
    own = [r for r in records if os.path.basename(r["path"]) == config.name + ".json"]
    same_task = [r for r in records if r["task"] == config.task]
    for group in (own, same_task):
        seconds = [s for r in group for s in r.get("epoch_seconds", []) if s]
        if seconds:
            return max(seconds)
    return 0.0


class _Worker:
    """A running worker process and the log it writes."""

    def __init__(self, config, results, settings, deadline, parallel):
        self.config = config
        os.makedirs(os.path.join(results, LOG_FOLDER), exist_ok=True)
        self.log_path = os.path.join(results, LOG_FOLDER, config.name + ".log")
        self.log = open(self.log_path, "a")
        self.log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} worker for {config.name}\n")
        self.log.flush()
        job = {
            **dataclasses.asdict(config),
            "settings": settings,
            "deadline": deadline,
            "command": [*sys.argv, f"[worker: {config.name}]"],
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE, json.dumps(job)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=_worker_environment(parallel),
        )
        self.stopped = False

    def stop(self, kill=False):
        self.stopped = True
        if kill:
            self.process.kill()
        else:
            self.process.terminate()

    def close(self):
        self.log.close()

    def tail(self, lines=15):
        with open(self.log_path) as f:
            return "".join(f.readlines()[-lines:])


def _progress(record):
    if record is None:
        return "no epoch finished"
    accuracy = record.get("test_accuracy")
    best = "n/a" if accuracy is None else f"{100 * accuracy:.2f} %"
    state = "finished" if record.get("finished") else "unfinished"
    return f"{record.get('epochs_run')} epochs, best test accuracy {best}, {state}"


def launch(
    configs,
    settings,
    results=DEFAULT_RESULTS,
    parallel=1,
    time_budget=None,
    grace=DEFAULT_GRACE_SECONDS,
):
    """Trains the unfinished `configs`, in order, `parallel` worker processes at a time.

    Each worker trains one configuration with `train_run` and exits; the
    next one starts in its place. With `time_budget`, a configuration
    starts only if its longest recorded epoch (or its task's) still fits in
    the budget, a worker starts no epoch that would not end in it
    (`StopBeforeDeadline`), and workers still running `grace` seconds after
    it are stopped: they lose their unfinished epoch only, the finished ones
    are backed up.

    Args:
        configs: `Configuration`s, in the order to train them.
        settings: the other `Protocol.create` arguments of every run.
        results: the results folder (the runner's `output`).
        parallel: worker processes at a time, >= 1.
        time_budget: seconds from now, or None for no limit.
        grace: seconds after the budget before workers are stopped.

    Returns:
        `(started, failed)`: the configurations whose worker was started,
        and those whose worker failed (not counting those stopped at the
        end of the grace period).
    """
    parallel = check_int("parallel", parallel, 1)
    if time_budget is not None:
        time_budget = check_positive_float("time_budget", time_budget)
    grace = float(grace)
    settings = {**settings, "output": results}
    os.makedirs(results, exist_ok=True)
    start = time.time()
    deadline = None if time_budget is None else start + time_budget
    pending = [c for c in configs if run_state(results, c)[1] != "finished"]
    print(
        f"{len(configs) - len(pending)} of {len(configs)} configurations finished; "
        f"training the next of {len(pending)}, {parallel} at a time"
        + ("" if deadline is None else f", for {time_budget:g} s")
    )
    running, started, failed = [], [], []
    while pending or running:
        now = time.time()
        while pending and len(running) < parallel:
            config = pending[0]
            if deadline is not None:
                longest = _longest_epoch(config, results)
                if now + longest > deadline:
                    print(
                        f"time budget: {config.name} and the {len(pending) - 1} after it "
                        "are left for the next stretch"
                    )
                    pending = []
                    break
            pending.pop(0)
            running.append(_Worker(config, results, settings, deadline, parallel))
            started.append(config)
            print(f"{config.name}: started (log {running[-1].log_path})")
        for worker in list(running):
            code = worker.process.poll()
            if code is None:
                if deadline is not None and now > deadline + grace + _TERMINATE_SECONDS:
                    worker.stop(kill=True)
                elif deadline is not None and now > deadline + grace and not worker.stopped:
                    print(f"{worker.config.name}: still running after the grace period; stopped")
                    worker.stop()
                continue
            running.remove(worker)
            worker.close()
            record = run_state(results, worker.config)[0]
            print(f"{worker.config.name}: exit code {code}; {_progress(record)}")
            if code != 0 and not worker.stopped:
                failed.append(worker.config)
                print(f"--- end of {worker.log_path}:\n{worker.tail()}---")
                if pending:
                    # Whatever broke may break the next ones too: keep the
                    # device time for a look at the log.
                    print(f"a worker failed: the {len(pending)} configurations left wait")
                    pending = []
        if running:
            time.sleep(_POLL_SECONDS)
    groups = write_summary(results, load_records(results))
    if groups:
        print(f"\nFinished runs in {results} (best test accuracy, mean ± std over seeds):")
        print(format_summary(groups))
    print(f"launcher: {time.time() - start:.0f} s")
    return started, failed


# --- Packing: a few small files to and from the GPU machine ---------------


def run_files(results, name):
    """The paths of run `name` in `results` that a pack carries, relative to `results`.

    The record, the CSV log, the final model, everything in the backup folder
    and the worker log; not the figure, which `plot_assembly` redraws from
    the model. Of a run without a record (no finished epoch) only the log.
    """
    paths = [os.path.join(LOG_FOLDER, name + ".log")]
    if not os.path.isfile(os.path.join(results, name + ".json")):
        return [p for p in paths if os.path.isfile(os.path.join(results, p))]
    paths += [name + ext for ext in (".json", ".csv", ".keras")]
    backup = name + "_backup"
    if os.path.isdir(os.path.join(results, backup)):
        for folder, _, files in sorted(os.walk(os.path.join(results, backup))):
            paths += [
                os.path.relpath(os.path.join(folder, f), results)
                for f in sorted(files)
                if not is_temporary(f)
            ]
    return [p for p in paths if os.path.isfile(os.path.join(results, p))]


def _run_names(results):
    return sorted(
        name[: -len(".json")]
        for name in os.listdir(results)
        if name.endswith(".json") and name != SUMMARY_FILE
    )


def pack(results, path, names=None):
    """Writes the files of some runs of `results` into one `.tar.gz` archive.

    Args:
        results: the results folder.
        path: the archive to write.
        names: run names (file stems) to pack; None packs every run.

    Returns:
        The archive's size in bytes.
    """
    names = _run_names(results) if names is None else list(names)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name in names:
            for member in run_files(results, name):
                archive.add(os.path.join(results, member), arcname=member, recursive=False)
    size = os.path.getsize(path)
    print(f"packed {len(names)} runs of {results} into {path} ({size / 2**20:.2f} MiB)")
    if size > PACK_LIMIT_BYTES:
        print(
            f"warning: {path} is over {PACK_LIMIT_BYTES // 2**20} MiB; pack fewer runs "
            "(--parallel) or with `pack --runs` if it has to travel in small pieces"
        )
    return size


_MEMBER = re.compile(
    r"^(?:(?P<log>" + LOG_FOLDER + r")/)?(?P<name>[a-z]+_[a-z0-9-]+_C\d+_seed\d+)"
    r"(?:\.(?:json|csv|keras|log)|_backup(?:/[\w.-]+)+)$"
)


def _check_complete(path, names, members, archive):
    """Raises unless the archive holds every file each of its runs needs.

    A finished run needs its record, log and model; an unfinished one its
    record, log and the backup's weights and metadata. Checked before any
    file here is deleted, so a short archive never costs a run.
    """
    for name in names:
        record = json.load(archive.extractfile(f"{name}.json"))
        problem = record_problem(record)
        if problem:
            raise ValueError(
                f"Invalid archive {path!r}: the record of {name} is malformed ({problem}); "
                "expected an archive written by `pack`."
            )
        needed = [f"{name}.csv"]
        if record.get("finished"):
            needed.append(f"{name}.keras")
        else:
            backup = f"{name}_backup/"
            needed += [backup + BACKUP_WEIGHTS, backup + BACKUP_METADATA]
        missing = [member for member in needed if member not in members]
        if missing:
            raise ValueError(
                f"Invalid archive {path!r}: run {name} lacks {', '.join(missing)}; expected "
                "each run's full file set. Nothing was replaced; pack the run again."
            )


def unpack(path, results=DEFAULT_RESULTS, force=False):
    """Puts the runs of an archive written by `pack` into `results`.

    Every run in the archive replaces the one of that name in `results`
    (all its files, its backup folder too; of a run packed without a record
    only the log), then `summary.json` is rewritten from all the records
    there.

    Args:
        path: the archive.
        results: the results folder.
        force: also replace runs that have more finished epochs here than in
            the archive (an older archive).

    Returns:
        The names of the runs unpacked.

    Raises:
        ValueError: if the archive holds anything but run files, a run
            without its full file set, or (unless `force`) an older state
            of a run than `results`; then nothing in `results` is changed.
    """
    with tarfile.open(path, "r:gz") as archive:
        members = archive.getmembers()
        names = set()
        for member in members:
            match = _MEMBER.match(member.name)
            if not member.isfile() or match is None:
                raise ValueError(
                    f"Invalid archive {path!r}: received the member {member.name!r}; "
                    "expected only run files written by `pack`."
                )
            names.add(match["name"])
        # Runs packed with their record; of the others only a log came.
        names = sorted(n for n in names if f"{n}.json" in {m.name for m in members})
        for name in names:
            record = json.load(archive.extractfile(f"{name}.json"))
            here = read_record(os.path.join(results, f"{name}.json"))
            if not force and here is not None and here["epochs_run"] > record["epochs_run"]:
                raise ValueError(
                    f"Invalid archive {path!r}: it holds {record['epochs_run']} epochs of "
                    f"{name}, {results!r} already {here['epochs_run']}; expected a newer "
                    "archive (force=True / --force replaces the run anyway)."
                )
        _check_complete(path, names, {m.name for m in members}, archive)
        for name in names:
            for member in run_files(results, name):
                os.remove(os.path.join(results, member))
            shutil.rmtree(os.path.join(results, f"{name}_backup"), ignore_errors=True)
        os.makedirs(results, exist_ok=True)
        archive.extractall(results, filter="data")
    write_summary(results, load_records(results))
    print(f"unpacked {len(names)} runs from {path} into {results}: {', '.join(names)}")
    return names


# --- The reproduction document --------------------------------------------


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
        return f"| {number} | `{config.name}` | not run | – | – | – | – |"
    accuracy = record.get("test_accuracy")
    best = "–" if accuracy is None else f"{100 * accuracy:.2f}"
    best_epoch = "–" if record.get("best_epoch") is None else str(record["best_epoch"] + 1)
    if state == "finished":
        state += ", early stop" if record.get("stopped_early") else ", all epochs"
    else:
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
    """
    known = {c.name for c in configs}
    extra = []
    if os.path.isdir(results):
        for name in _run_names(results):
            if name not in known:
                record = read_record(os.path.join(results, name + ".json"))
                if record is not None:
                    extra.append(Configuration(*(record[k] for k in _CONFIG_KEYS)))
    lines = [
        "| # | run | state | best test accuracy (%) | at epoch | epochs trained "
        "| epochs per device (backend), median wall time per epoch |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for number, config in enumerate([*configs, *extra], 1):
        lines.append(_run_row(number, config, *run_state(results, config)))
    return "\n".join(lines)


def _count_states(results, configs):
    states = [run_state(results, c)[1] for c in configs]
    return {state: states.count(state) for state in ("finished", "in progress", "not run")}


def _cell_labels(configs):
    labels = [f"{TASK_LABELS[c.task]} C = {c.coupling_blocks}" for c in configs]
    return ", ".join(dict.fromkeys(labels))


def _protocol_text():
    paper = PAPER_DEFAULTS
    drops = " and ".join(map(str, paper["lr_drops"]))
    return (
        f"Every run: an assembly of {paper['num_modules']} modules x "
        f"{paper['module_size']} units, tanh, forward Euler with dt = {paper['dt']}, "
        "C coupled module pairs, a linear read-out of the last state; all 60 000 "
        "training and 10 000 test sequences of 784 pixels (psMNIST: one fixed "
        f"permutation, seed {ORDER_PERMUTATION_SEED}); {paper['optimizer'].capitalize()}, "
        f"learning rate {paper['learning_rate']:g}, batch size {paper['batch_size']}, "
        f"learning rate x 0.1 at epochs {drops}, at most {paper['epochs']} epochs, "
        f"early stopping after {paper['patience']} epochs without a better test "
        "accuracy; the reported accuracy is the best test accuracy over the epochs."
    )


_DIFFERENCES = """\
- **Validation data:** {validation_note}
  The paper says so only implicitly ("trained and validated ... on the given
  train/test split"); we say it in every record (`validation_split_note`).
- **Settings the paper leaves open are ours:** the optimizer, learning rate,
  batch size, learning-rate schedule and early-stopping patience above (the
  paper: early stopping "when reaching a plateau in the validation accuracy").
- **Initialisation is ours:** module diagonals uniform in (-1, 1), coupling
  blocks block-orthogonal, input weights Glorot-uniform, each seeded from the
  run's seed; the C coupled module pairs are drawn uniformly from the 120 by
  the run's seed.
- **Sparse Combo Net modules:** entries uniform in (-1, 1) at 3 % or 30 % of
  the off-diagonal positions, scaled so that the spectral radius of |W_i| is
  0.9 with entries capped at magnitude 1 (Theorem 1 of Kozachkov et al. needs
  it below 1; the paper does not give its scaling).
- **The psMNIST permutation** is `keras_rnnofrnns.data.pixel_permutation({permutation_seed})`,
  the same for every run and recorded in each record (`permutation_seed`); the
  paper's permutation is not published.
- **Resumption:** a run trained over several stretches continues from the
  weights, optimizer state, epoch, early-stopping count and best accuracy of
  its last finished epoch; the shuffling of the later epochs is drawn afresh,
  so it is not bit-identical to an uninterrupted run.
- **Numbers:** float32, on the backend and device given per run above; the paper
  reports about 185 s per epoch for SCN and 206 s for AdaDiag on hardware it
  does not name.
"""

_HOW_TO_RUN = """\
On a machine with a GPU and a CUDA build of JAX, from the repository root:

```bash
pip install -e ".[examples]"
export KERAS_BACKEND=jax MNIST_DIR=/path/to/mnist
python examples/reproduce.py --parallel 4
```

It trains the configurations in the order above, four at a time in separate
processes on the one GPU (each JAX process allocates GPU memory on demand, at
most 0.9 / 4 of it), each with the protocol above. Every epoch is backed up:
rerun the same command after any interruption and finished runs are skipped,
unfinished ones resume at their next epoch, new ones start in order.

On a machine you hold for a limited time, or one that can be preempted,
`--time-budget SECONDS` starts no configuration and no epoch that the epochs
recorded so far say would not end in time (workers still running 60 s later
are stopped and lose only their unfinished epoch), and `--pack FILE.tar.gz`
writes the records, CSV logs, models, backups and worker logs of the runs it
started into one archive (0.9 MiB per unfinished 16 x 32 run) to carry to
where you keep the results:

```bash
python examples/reproduce.py --parallel 4 --time-budget 3000 --pack results.tar.gz
python examples/reproduce.py unpack results.tar.gz   # where you keep the results
python examples/reproduce.py table                   # rewrites docs/reproduction.md
```

`results/<run>_backup/` (the training state and the best model so far,
1.1 MB per unfinished 16 x 32 run) is git-ignored; keep it, or the last
archive, between sessions: an unfinished run whose backup is lost starts
over. If a worker fails, no further configuration starts in that call, and
its log is in `results/logs/`. `python examples/reproduce.py status` lists
the order and the state of every run; `--help` lists the options.
"""


def render_document(results=DEFAULT_RESULTS, configs=None):
    """The markdown of `docs/reproduction.md`, from the records in `results` alone.

    Args:
        results: the results folder.
        configs: the configurations in training order (default:
            `reproduction_order()`).

    Returns:
        The document as a string.
    """
    configs = reproduction_order() if configs is None else list(configs)
    counts = _count_states(results, configs)
    finished = load_records(results) if os.path.isdir(results) else []
    status = (
        f"{counts['finished']} of {len(configs)} runs finished, {counts['in progress']} "
        f"in progress, {counts['not run']} not run."
    )
    if counts["not run"] == len(configs):
        status += (
            " No run has been made yet, so every cell says *not run*; see *How to run "
            "on the GPU*."
        )
    sections = [
        "# Reproducing Table 1 of the paper",
        "Generated by `python examples/reproduce.py table` from the run records in "
        f"`{results}/`; do not edit by hand. Nothing here is estimated or extrapolated: "
        "only finished epochs of real runs appear.",
        f"**State:** {status}",
        "## Table 1: the paper beside ours",
        "Only finished runs count here; the cells of unfinished or missing runs say "
        "*not run*.",
        render_table(finished),
        "## Every run, in training order",
        f"Order: the first seed over {_cell_labels(configs)} (every method in each), "
        "then the other seeds cell by cell in the same order. An unfinished run's "
        "best accuracy is over its finished epochs so far. The wall time of an epoch "
        "covers training and the evaluation on the test split; the first epoch of "
        "each stretch includes compilation.",
        runs_table(results, configs),
        "## Protocol",
        _protocol_text(),
        "## What differs from the paper's setup",
        _DIFFERENCES.format(
            validation_note=VALIDATION_NOTE, permutation_seed=ORDER_PERMUTATION_SEED
        ).rstrip(),
        "## How to run on the GPU",
        _HOW_TO_RUN.rstrip(),
    ]
    return "\n\n".join(sections) + "\n"


def write_document(path=DEFAULT_DOCUMENT, results=DEFAULT_RESULTS, configs=None):
    """Writes `render_document(results, configs)` to `path` and returns it."""
    text = render_document(results, configs)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    atomic_write_text(path, text)
    return text


# --- Command line ---------------------------------------------------------


def _run_parser():
    parser = argparse.ArgumentParser(
        prog="reproduce.py [run]",
        description=(
            "Train the configurations of the paper's Table 1 in order (psMNIST before "
            "sMNIST, C = 20 before C = 5, seed 0 everywhere before seeds 1 and 2), "
            "skipping finished ones and resuming unfinished ones, with the paper's "
            "protocol. The test split is the validation data, as in the paper. Other "
            "commands: pack FILE, unpack FILE, table, status (reproduce.py COMMAND --help)."
        ),
    )
    add = parser.add_argument
    add("--task", nargs="+", choices=tuple(TASKS), help="tasks (default: psmnist smnist)")
    add_protocol_arguments(
        parser, permuted=True, verbose=2, coupling_blocks=ORDER_COUPLING_BLOCKS
    )
    add("--parallel", type=int, default=1, help="worker processes at a time (default: 1)")
    add(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="start no configuration and no epoch that would not end within SECONDS "
        "(default: no limit)",
    )
    add(
        "--grace",
        type=float,
        default=DEFAULT_GRACE_SECONDS,
        metavar="SECONDS",
        help="stop workers still running this long after the time budget "
        f"(default: {DEFAULT_GRACE_SECONDS:g})",
    )
    add("--results", default=DEFAULT_RESULTS, help="results folder (default: results)")
    add("--pack", metavar="FILE", help="then pack the runs started into FILE (.tar.gz)")
    return parser


def _run_command(argv):
    parser = _run_parser()
    args = parser.parse_args(argv)
    settings = protocol_settings(args)
    grid = {key: settings.pop(key) for key in ("methods", "coupling_blocks", "seeds")}
    try:
        configs = reproduction_order(
            tasks=tuple(args.task or ORDER_TASKS),
            coupling_blocks=grid["coupling_blocks"] or ORDER_COUPLING_BLOCKS,
            methods=grid["methods"] or PAPER_METHODS,
            seeds=grid["seeds"] or ORDER_SEEDS,
        )
        for config in configs:
            _protocol(config, {**settings, "output": args.results})
        check_int("parallel", args.parallel, 1)
        if args.time_budget is not None:
            check_positive_float("time_budget", args.time_budget)
    except ValueError as exc:
        parser.error(str(exc))
    started, failed = launch(
        configs,
        settings,
        results=args.results,
        parallel=args.parallel,
        time_budget=args.time_budget,
        grace=args.grace,
    )
    if args.pack:
        pack(args.results, args.pack, [c.name for c in started])
    if failed:
        print(f"failed: {', '.join(c.name for c in failed)} (see {args.results}/logs/)")
    return 1 if failed else 0


def _results_argument(parser):
    parser.add_argument("--results", default=DEFAULT_RESULTS, help="(default: results)")


def main(argv=None):
    """Runs the command line of `examples/reproduce.py`; returns its exit code.

    Example (a CPU smoke test of the mechanics: two tiny runs side by side,
    interrupted by the time budget, then resumed):

        python examples/reproduce.py --modules 2 --units 4 --coupling-blocks 1 \\
            --method adadiag-tanh --seeds 0 --limit-train 64 --limit-test 64 \\
            --row-wise --epochs 2 --parallel 2 --time-budget 1 --results /tmp/r
        python examples/reproduce.py --modules 2 --units 4 --coupling-blocks 1 \\
            --method adadiag-tanh --seeds 0 --limit-train 64 --limit-test 64 \\
            --row-wise --epochs 2 --parallel 2 --results /tmp/r
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in _COMMANDS else "run"
    if command == "run":
        return _run_command(argv)
    parser = argparse.ArgumentParser(prog=f"reproduce.py {command}")
    if command in ("pack", "unpack"):
        parser.add_argument("file", help="the .tar.gz archive")
    _results_argument(parser)
    if command == "pack":
        parser.add_argument("--runs", nargs="+", metavar="NAME", help="run names (default: all)")
    if command == "unpack":
        parser.add_argument(
            "--force", action="store_true", help="also replace runs that are further here"
        )
    if command == "table":
        parser.add_argument(
            "--output",
            default=DEFAULT_DOCUMENT,
            help=f"the markdown file to write (default: {DEFAULT_DOCUMENT})",
        )
    args = parser.parse_args(argv)
    if command in ("table", "status", "pack") and not os.path.isdir(args.results):
        parser.error(
            f"Invalid `--results`: received {args.results!r}, which is not a folder; "
            "expected the results folder of the runs."
        )
    if command == "pack":
        pack(args.results, args.file, args.runs)
    elif command == "unpack":
        try:
            unpack(args.file, args.results, force=args.force)
        except ValueError as exc:
            parser.error(str(exc))
    elif command == "table":
        write_document(args.output, args.results)
        print(f"wrote {args.output} from {args.results}/")
    else:
        print(runs_table(args.results, reproduction_order()))
    return 0
