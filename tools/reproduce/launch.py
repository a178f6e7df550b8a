"""Trains configurations in worker processes, several side by side on one device.

Each configuration runs in its own worker process (`train_run` on one run),
`parallel` of them at a time. With a time budget no epoch starts that would
not end in it, so every worker stops cleanly between epochs with its state
backed up, and the next call resumes each run at its next epoch: the budget
is for machines held for a limited time or that can be preempted.
"""

import dataclasses
import json
import math
import numbers
import os
import signal
import subprocess
import sys
import threading
import time

from tools.experiments import StopBeforeDeadline, load_records, train_run, write_summary
from tools.experiments.callbacks import check_seconds
from tools.experiments.records import format_summary
from tools.experiments.runner import command_line_exit
from tools.experiments.runs import FINISHED, Configuration, run_state
from tools import REPOSITORY
from tools.reproduce.plan import DEFAULT_RESULTS, LOG_FOLDER, run_protocol_of

# Stop (SIGTERM) workers still running this long after the time budget,
# then kill them this long after that.
DEFAULT_GRACE_SECONDS = 60.0
_TERMINATE_SECONDS = 10.0
_POLL_SECONDS = 0.5
# A worker imports this module by name: `_worker_environment` puts the
# checkout on its path, wherever the launcher was started from.
_WORKER_CODE = (
    "import sys; from tools.reproduce.launch import worker_main; worker_main(sys.argv[1])"
)


def check_launch_options(parallel, time_budget, grace=DEFAULT_GRACE_SECONDS):
    """Returns `(parallel, time_budget)` checked: an int >= 1, and None or a finite
    number > 0; `grace` must be a number >= 0, `inf` to never stop a worker.

    Raises:
        ValueError: naming the argument, in the library's wording.

    Example:
    >>> check_launch_options(2, 60)
    (2, 60.0)
    """
    if isinstance(parallel, bool) or not isinstance(parallel, numbers.Integral) or parallel < 1:
        raise ValueError(
            f"Invalid `parallel`: received parallel={parallel!r}; expected an integer >= 1."
        )
    # An infinite grace is no limit: workers end with their own budget only.
    if grace != math.inf:
        check_seconds("grace", grace, positive=False)
    if time_budget is None:
        return int(parallel), None
    return int(parallel), check_seconds("time_budget", time_budget)


def _worker_environment(parallel):
    """The environment of a worker: several of them share one GPU."""
    env = dict(os.environ)
    # JAX would take 75 % of the GPU memory per process, and TensorFlow all
    # of it; torch allocates on demand. Settings made by the caller win.
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{0.9 / parallel:.3f}")
    env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # The checkout first, so the worker imports these tools and the library
    # the launcher imported, not another installed copy.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (REPOSITORY, env.get("PYTHONPATH"))))
    return env


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
    protocol = run_protocol_of(Configuration.from_mapping(job), job["settings"])
    callbacks = [] if job["deadline"] is None else [StopBeforeDeadline(job["deadline"])]
    with command_line_exit():
        return train_run(
            protocol,
            protocol.load_data(),
            protocol.methods[0],
            protocol.coupling_blocks[0],
            protocol.seeds[0],
            callbacks,
        )


def longest_epoch(config, results):
    """The longest recorded epoch of `config`, else of its task's runs, else 0 seconds.

    Args:
        config: a `Configuration`.
        results: the results folder.

    Returns:
        Seconds, a float.
    """
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
            # Out of the terminal's process group: Ctrl-C reaches the launcher
            # alone, which passes it on once (see `launch`).
            start_new_session=True,
        )
        self.stopped = False

    def stop(self, kill=False, signum=signal.SIGTERM):
        self.stopped = True
        if kill:
            self.process.kill()
        else:
            self.process.send_signal(signum)

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

    SIGTERM and SIGINT (Ctrl-C) are passed on to the running workers, whose
    finished epochs are backed up, and the launcher exits once they all have
    ended, with status 128 + the signal's number; a second signal kills the
    workers.

    Returns:
        `(started, failed)`: the configurations whose worker was started,
        and those whose worker failed (not counting those stopped at the
        end of the grace period).
    """
    parallel, time_budget = check_launch_options(parallel, time_budget, grace)
    grace = float(grace)
    settings = {**settings, "output": results}
    os.makedirs(results, exist_ok=True)
    pending = [c for c in configs if run_state(results, c)[1] != FINISHED]
    # The budget starts with the first scheduling decision, not before the
    # scan of the records: a slow disk must not eat into it.
    start = time.time()
    deadline = None if time_budget is None else start + time_budget
    print(
        f"{len(configs) - len(pending)} of {len(configs)} configurations finished; "
        f"training the next of {len(pending)}, {parallel} at a time"
        + ("" if deadline is None else f", for {time_budget:g} s")
    )
    running, started, failed = [], [], []
    received = []

    def forward(signum, frame):
        # A worker left training alone would race the next launch on its run:
        # it gets the signal too, and the launcher waits for it to end; a
        # second signal kills the workers.
        received.append(signum)
        for worker in running:
            if worker.process.poll() is None:
                worker.stop(kill=len(received) > 1, signum=signum)

    handled = (signal.SIGTERM, signal.SIGINT)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, forward) for s in handled} if main_thread else {}
    try:
        while pending or running:
            if received:
                pending = []
            now = time.time()
            while pending and len(running) < parallel:
                config = pending[0]
                if deadline is not None:
                    longest = longest_epoch(config, results)
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
                print(
                    f"{config.name}: started (process {running[-1].process.pid}, log "
                    f"{running[-1].log_path})"
                )
            for worker in list(running):
                code = worker.process.poll()
                if code is None:
                    if deadline is not None and now > deadline + grace + _TERMINATE_SECONDS:
                        worker.stop(kill=True)
                    elif deadline is not None and now > deadline + grace and not worker.stopped:
                        print(
                            f"{worker.config.name}: still running after the grace period; "
                            "stopped"
                        )
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
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        name = signal.Signals(received[0]).name
        print(
            f"launcher: stopped by {name}; every worker has ended with its finished epochs "
            "backed up; rerun the same command to resume",
            file=sys.stderr,
        )
        raise SystemExit(128 + received[0])
    groups = write_summary(results, load_records(results))
    if groups:
        print(f"\nFinished runs in {results} (best test accuracy, mean ± std over seeds):")
        print(format_summary(groups))
    print(f"launcher: {time.time() - start:.0f} s")
    return started, failed
