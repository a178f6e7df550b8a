"""A distributed KerasTuner search through examples/tune.py: a chief and two workers.

The three processes talk over gRPC on 127.0.0.1, on a port the system picks;
each has a time limit, and the test kills only the processes it started.
The search itself is backend-independent (the chief serves an oracle, the
workers train), so it runs on JAX alone to keep the suite short; the
in-process tests run on every backend.
"""

import json
import os
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from conftest import ROOT, free_port

from tools.experiments.tasks import TaskData
from keras_rnnofrnns.tuning import AssemblyHyperModel
from tools.experiments.search import distributed_worker_id, run_search

TRIALS = 4
# Every process: imports, reading MNIST, training its trials; several times
# what they take on a loaded two-core machine.
PROCESS_TIMEOUT = 600
WAITING_LINE = "asking the chief at"


def _command(directory, data_dir):
    return [
        sys.executable, os.path.join(ROOT, "examples", "tune.py"),
        "--task", "psmnist", "--tuner", "random", "--max-trials", str(TRIALS),
        "--epochs", "1", "--limit-train", "64", "--limit-test", "16",
        "--validation-split", "0.25", "--batch-size", "32", "--top", "1",
        "--modules", "2", "--units", "4", "--directory", str(directory),
        "--project-name", "search", "--methods", "adadiag-tanh", "adadiag-clip",
        "--dt", "0.03", "--data-dir", data_dir,
    ]  # fmt: skip


def _read(path):
    return path.read_text(errors="replace") if path.exists() else ""


def _wait_for_line(process, log, line, deadline):
    while line not in _read(log):
        if process.poll() is not None:
            pytest.fail(f"{log.name} ended before printing {line!r}:\n{_read(log)[-4000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{log.name} printed no {line!r} in time:\n{_read(log)[-4000:]}")
        time.sleep(0.5)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="runs once, with KERAS_BACKEND=jax")
def test_chief_and_two_workers_run_every_trial_once_and_stop(mnist_dir, tmp_path):
    pytest.importorskip("grpc", reason="KerasTuner's distributed search needs grpcio")
    port = free_port()
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        KERASTUNER_ORACLE_IP="127.0.0.1",
        KERASTUNER_ORACLE_PORT=str(port),
        PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    command = _command(tmp_path, mnist_dir)
    processes, logs = {}, {}
    deadline = time.monotonic() + PROCESS_TIMEOUT
    try:
        # The workers first, and the chief once both wait for it: a worker
        # that came after the chief had handed out every trial would wait
        # for a chief that has stopped.
        for name in ("tuner0", "tuner1", "chief"):
            if name == "chief":
                for worker in ("tuner0", "tuner1"):
                    _wait_for_line(processes[worker], logs[worker], WAITING_LINE, deadline)
            logs[name] = tmp_path / f"{name}.log"
            with open(logs[name], "w") as log:
                processes[name] = subprocess.Popen(
                    command,
                    env=dict(env, KERASTUNER_TUNER_ID=name),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=tmp_path,
                )
        for name, process in processes.items():
            timeout = max(deadline - time.monotonic(), 1)
            assert process.wait(timeout=timeout) == 0, _read(logs[name])[-4000:]
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()

    ran = {}
    for worker in ("tuner0", "tuner1"):
        lines = [line for line in _read(logs[worker]).splitlines() if " ran trial(s) " in line]
        assert len(lines) == 1, _read(logs[worker])[-4000:]
        listed = lines[0].split(" ran trial(s) ")[1].split(";")[0]
        ran[worker] = [] if listed == "none" else listed.split(", ")
    every = ran["tuner0"] + ran["tuner1"]
    # Each trial ran once, on one worker.
    assert len(every) == len(set(every)) == TRIALS

    summary = json.loads((tmp_path / "search" / "summary.json").read_text())
    assert summary["trials_completed"] == TRIALS and summary["trials_failed"] == 0
    assert summary["trials_run_now"] == TRIALS
    assert sorted(row["trial_id"] for row in summary["trials"]) == sorted(every)
    assert 0.0 <= summary["best"][0]["test_accuracy"] <= 1.0


# --------------------------------------------------------------------------
# The roles, in-process.
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "environment, expected",
    [
        ({}, None),
        ({"KERASTUNER_TUNER_ID": "tuner0"}, None),  # no oracle address: not distributed
        ({"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_TUNER_ID": "chief"}, None),
        ({"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_TUNER_ID": "tuner1"}, "tuner1"),
    ],
)
def test_worker_id_follows_kerastuner_environment(environment, expected, monkeypatch):
    for name in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert distributed_worker_id() == expected


def test_a_worker_refuses_to_delete_the_chiefs_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(free_port()))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
    (tmp_path / "search").mkdir()
    kept = tmp_path / "search" / "oracle.json"
    kept.write_text("{}")
    x = np.zeros((8, 5, 1), "float32")
    y = np.zeros(8, "int32")
    data = TaskData("smnist", x, y, x, y, source="test")
    hypermodel = AssemblyHyperModel(2, 4, sequence_length=5)
    with pytest.raises(ValueError, match=r"Invalid `overwrite`: received overwrite=True.*tuner0"):
        run_search(hypermodel, data, directory=tmp_path, project_name="search", overwrite=True)
    assert kept.read_text() == "{}"
