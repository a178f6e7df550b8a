"""tools/reproduce/launch.py: workers, the time budget, and the resumption it relies on.

Training happens in-process on every backend; the tests that start worker
processes run on JAX only (the GPU backend), since every worker pays the
imports again. The MNIST tests are skipped without MNIST_DIR.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import keras
import numpy as np
import pytest
from conftest import TINY_CONFIG, TINY_RUN_FLAGS, epochs_seen, train_tiny

from tools.experiments import Configuration, StopBeforeDeadline, run_state
from tools import REPOSITORY
from tools.reproduce import cli, launch

only_on_jax = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="worker processes: checked once, on JAX"
)


def test_budget_stops_between_epochs_and_leaves_the_run_unfinished(stretch):
    folder, record, _ = stretch
    name = TINY_CONFIG.name
    assert not record["finished"] and record["epochs_run"] == 1
    assert record["history"]["epoch"] == [0] and len(record["epoch_seconds"]) == 1
    (session,) = record["sessions"]
    assert session["from_epoch"] == 0 and session["backend"] == keras.backend.backend()
    # Everything temporary is in the backup; nothing final is written yet.
    assert sorted(os.listdir(folder / f"{name}_backup")) == [
        "best-epoch0.keras", "latest.weights.h5", "training_metadata.json",
    ]  # fmt: skip
    assert not (folder / f"{name}.keras").exists() and not (folder / f"{name}.png").exists()
    # A 2 x 4 model; the 16 x 32 one of the paper is about 0.5 MiB per file.
    assert os.path.getsize(folder / f"{name}_backup" / "latest.weights.h5") < 200_000
    _, state = run_state(str(folder), TINY_CONFIG)
    assert state == "in progress"
    assert launch.longest_epoch(TINY_CONFIG, str(folder)) == record["epoch_seconds"][0]


def test_deadline_far_ahead_stops_nothing():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    stop = StopBeforeDeadline(time.time() + 3600)
    history = model.fit(np.zeros((4, 2)), np.zeros(4), epochs=3, verbose=0, callbacks=[stop])
    assert len(history.history["loss"]) == 3 and stop.stopped_epoch is None


def test_a_run_whose_backup_is_lost_starts_over(stretch, tmp_path, capsys):
    folder, _, data_dir = stretch
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    shutil.rmtree(copy / f"{TINY_CONFIG.name}_backup")
    seen, epochs = epochs_seen()
    record = train_tiny(TINY_CONFIG, copy, data_dir, seen)
    assert "starting over" in capsys.readouterr().out
    assert epochs == [0, 1] and record["finished"]
    assert [s["from_epoch"] for s in record["sessions"]] == [0]


@pytest.mark.parametrize(
    "parallel, time_budget, named",
    [(0, None, "parallel=0"), (True, None, "parallel=True"), (2, 0.0, "time_budget=0.0"),
     (2, float("inf"), "time_budget=inf"), (2, "60", "time_budget='60'")],
)  # fmt: skip
def test_launch_options_are_checked(parallel, time_budget, named):
    with pytest.raises(ValueError, match=named):
        launch.check_launch_options(parallel, time_budget)
    assert launch.check_launch_options(np.int64(2), 1) == (2, 1.0)


def test_the_grace_is_a_number_of_seconds_or_inf():
    assert launch.check_launch_options(1, 1, grace=float("inf")) == (1, 1.0)
    for grace in (float("nan"), -1, "60"):
        with pytest.raises(ValueError, match="Invalid `grace`"):
            launch.check_launch_options(1, 1, grace=grace)


def test_workers_import_the_tools_of_this_checkout(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "elsewhere")
    monkeypatch.delenv("XLA_PYTHON_CLIENT_MEM_FRACTION", raising=False)
    env = launch._worker_environment(4)
    assert env["PYTHONPATH"].split(os.pathsep) == [REPOSITORY, "elsewhere"]
    assert env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.225"


@only_on_jax
def test_launcher_workers_stop_at_the_budget_and_pack(mnist_dir, tmp_path, capsys):
    results = tmp_path / "results"
    archive = tmp_path / "out" / "results.tar.gz"
    argv = [
        *TINY_RUN_FLAGS, "--task", "psmnist", "smnist", "--method", "adadiag-tanh",
        "--seeds", "0", "1", "--data-dir", mnist_dir, "--results", str(results),
        "--parallel", "2", "--time-budget", "1", "--pack", str(archive),
        # No grace limit: on a loaded machine a worker may need minutes to
        # import, load and compile before its first epoch ends, and being
        # stopped then would leave nothing to check. Only the budget stops
        # them: a worker's first epoch always ends after it (the imports
        # alone take longer), so each stops after exactly one epoch.
        "--grace", "inf",
    ]  # fmt: skip
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    first = [Configuration(t, "adadiag-tanh", 1, 0) for t in ("psmnist", "smnist")]
    for config in first:
        record, state = run_state(str(results), config)
        assert state == "in progress" and record["epochs_run"] == 1, out
        assert (results / "logs" / f"{config.name}.log").exists()
    # Past the budget, the seed-1 runs were not started.
    assert "left for the next stretch" in out
    assert sorted(os.listdir(results / "logs")) == sorted(f"{c.name}.log" for c in first)
    with tarfile.open(archive) as tar:
        members = tar.getnames()
    assert all(f"{c.name}_backup/latest.weights.h5" in members for c in first)
    assert not any("seed1" in m for m in members)
    assert run_state(str(results), first[0])[0]["config"]["permutation_seed"] == 0


@only_on_jax
def test_launcher_stops_workers_after_the_grace_period(tmp_path, capsys):
    argv = [*TINY_RUN_FLAGS, "--task", "smnist", "--method", "scn-3", "--seeds", "0",
            "--results", str(tmp_path), "--time-budget", "0.5", "--grace", "0"]  # fmt: skip
    assert cli.main(argv) == 0  # Stopped by the launcher: not a failure.
    out = capsys.readouterr().out
    assert "still running after the grace period; stopped" in out
    assert "no epoch finished" in out
    assert run_state(str(tmp_path), Configuration("smnist", "scn-3", 1, 0))[1] == "not run"


def _wait_for(condition, what, seconds=600):
    # Only a bound against a hung test: the conditions come true by
    # themselves, however loaded the machine is.
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.2)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@only_on_jax
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_launcher_stops_its_workers_and_waits(signum, mnist_dir, tmp_path):
    results = tmp_path / "results"
    out = tmp_path / "launcher.out"
    # No early stopping: epochs of the tiny run take a fraction of a second, and
    # a plateau reached before the signal arrives would finish the run.
    argv = [*TINY_RUN_FLAGS, "--epochs", "100000", "--patience", "0", "--task", "smnist",
            "--method", "adadiag-tanh", "--seeds", "0", "--data-dir", mnist_dir,
            "--results", str(results)]  # fmt: skip
    config = Configuration("smnist", "adadiag-tanh", 1, 0)
    with open(out, "w") as stdout:
        launcher = subprocess.Popen(
            [sys.executable, os.path.join(REPOSITORY, "examples", "reproduce.py"), *argv],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            text=True,
        )
    worker = None
    try:
        _wait_for(lambda: "started (process" in out.read_text(), "the worker")
        worker = int(re.search(r"started \(process (\d+)", out.read_text())[1])
        _wait_for(lambda: run_state(str(results), config)[0] is not None, "a first epoch")
        launcher.send_signal(signum)
        assert launcher.wait(timeout=600) == 128 + signum, out.read_text()
    finally:
        for pid in (launcher.pid, worker):
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGKILL)
        launcher.wait()
    text = out.read_text()
    assert "rerun the same command to resume" in text
    assert not _alive(worker)  # Waited for, not left to train as an orphan.
    record, state = run_state(str(results), config)
    assert state == "in progress" and record["epochs_run"] >= 1
    assert not (results / f"{config.name}.lock").exists()  # Released on the way out.


def test_a_deadline_that_is_not_a_finite_time_is_refused():
    for deadline in (float("nan"), float("inf"), "soon"):
        with pytest.raises(ValueError, match="Invalid `deadline`"):
            StopBeforeDeadline(deadline)
