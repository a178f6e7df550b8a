"""The Table-1 launcher: order, time budget, resumption, packs and the document.

Runs are tiny (a 2 x 4 assembly, 64 train and 64 test images of the real
MNIST read row-wise as 28 steps, 2 epochs). Training happens in-process on
every backend; the one test that starts worker processes runs on JAX only
(the GPU backend), since every worker pays the imports again. The MNIST
tests are skipped without MNIST_DIR.
"""

import filecmp
import io
import json
import os
import shutil
import tarfile
import time

import keras
import numpy as np
import pytest

from keras_rnnofrnns.experiments import StopBeforeDeadline, reproduce
from keras_rnnofrnns.experiments.reproduce import Configuration
from keras_rnnofrnns.experiments.runner import Protocol, train_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(
    num_modules=2,
    module_size=4,
    epochs=2,
    batch_size=32,
    limit_train=64,
    limit_test=64,
    row_wise=True,
    verbose=0,
)
TINY_FLAGS = [
    "--modules", "2", "--units", "4", "--coupling-blocks", "1", "--epochs", "2",
    "--batch-size", "32", "--limit-train", "64", "--limit-test", "64", "--row-wise",
    "--verbose", "0",
]  # fmt: skip
CONFIG = Configuration("smnist", "adadiag-tanh", 1, 0)


def _epochs_seen():
    """A callback that lists the epochs it sees begin, and that list."""
    epochs = []
    callback = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: epochs.append(e))
    return callback, epochs


def _train(config, output, data_dir, *callbacks):
    protocol = Protocol.create(
        config.task,
        methods=(config.method,),
        coupling_blocks=(config.coupling_blocks,),
        seeds=(config.seed,),
        output=str(output),
        data_dir=data_dir,
        **TINY,
    )
    data = protocol.load_data()
    return train_run(protocol, data, config.method, 1, config.seed, list(callbacks))


@pytest.fixture(scope="module")
def stretch(tmp_path_factory, mnist_dir):
    """A folder with one run stopped by the time budget after its first epoch."""
    data_dir = mnist_dir
    folder = tmp_path_factory.mktemp("results")
    # A deadline already past: the first epoch always runs, no second one.
    record = _train(CONFIG, folder, data_dir, StopBeforeDeadline(time.time()))
    return folder, record, data_dir


def test_order_is_the_issues(tmp_path):
    order = reproduce.reproduction_order()
    names = [c.name for c in order]
    assert len(set(names)) == len(order) == 2 * 2 * 4 * 3
    methods = ["scn-3", "scn-30", "adadiag-tanh", "adadiag-clip"]
    assert names[:4] == [f"psmnist_{m}_C20_seed0" for m in methods]
    assert names[4:8] == [f"psmnist_{m}_C5_seed0" for m in methods]
    assert [c.task for c in order[8:16]] == ["smnist"] * 8
    assert [c.coupling_blocks for c in order[8:16]] == [20] * 4 + [5] * 4
    assert {c.seed for c in order[:16]} == {0} and {c.seed for c in order[16:]} == {1, 2}
    assert names[16:18] == ["psmnist_scn-3_C20_seed1", "psmnist_scn-3_C20_seed2"]
    assert all(reproduce.run_state(str(tmp_path), c) == (None, "not run") for c in order)
    with pytest.raises(ValueError, match="task='mnist'"):
        reproduce.reproduction_order(tasks=("mnist",))


def test_budget_stops_between_epochs_and_leaves_the_run_unfinished(stretch):
    folder, record, _ = stretch
    name = CONFIG.name
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
    _, state = reproduce.run_state(str(folder), CONFIG)
    assert state == "in progress"


def test_pack_carries_a_run_elsewhere_and_it_resumes_there(stretch, tmp_path):
    folder, before, data_dir = stretch
    archive = tmp_path / "results.tar.gz"
    assert reproduce.pack(str(folder), str(archive)) == os.path.getsize(archive)
    with tarfile.open(archive) as tar:
        members = sorted(tar.getnames())
    assert f"{CONFIG.name}.json" in members and f"{CONFIG.name}.csv" in members
    assert f"{CONFIG.name}_backup/latest.weights.h5" in members

    there = tmp_path / "there"
    assert reproduce.unpack(str(archive), str(there)) == [CONFIG.name]
    with open(there / "summary.json") as f:
        assert json.load(f)["groups"] == []  # Rewritten: no finished run yet.
    for member in members:
        assert filecmp.cmp(folder / member, there / member, shallow=False), member
    seen, epochs = _epochs_seen()
    record = _train(CONFIG, there, data_dir, seen)
    assert epochs == [1]  # Epoch 0 is not trained again.
    assert record["finished"] and record["history"]["epoch"] == [0, 1]
    assert record["history"]["loss"][0] == before["history"]["loss"][0]
    assert [s["from_epoch"] for s in record["sessions"]] == [0, 1]
    assert (there / f"{CONFIG.name}.keras").exists()
    assert not (there / f"{CONFIG.name}_backup").exists()

    # Unpacking the older archive over the finished run is refused.
    with pytest.raises(ValueError, match="1 epochs of smnist_adadiag-tanh_C1_seed0"):
        reproduce.unpack(str(archive), str(there))
    assert reproduce.run_state(str(there), CONFIG)[1] == "finished"

    text = reproduce.render_document(str(there), [CONFIG, Configuration("psmnist", "scn-3", 1, 0)])
    assert "1 of 2 runs finished, 0 in progress, 1 not run." in text
    assert f"| 1 | `{CONFIG.name}` | finished, all epochs |" in text
    assert "| 2 | `psmnist_scn-3_C1_seed0` | not run | – |" in text
    assert f"{100 * record['test_accuracy']:.2f} ± 0.00 (n=1) [1]" in text
    assert "2 x 4 assembly" in text  # The footnote on our tiny setup.
    assert text.count("not run") >= 16  # Table 1's own cells, our column.


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
    shutil.rmtree(copy / f"{CONFIG.name}_backup")
    seen, epochs = _epochs_seen()
    record = _train(CONFIG, copy, data_dir, seen)
    assert "starting over" in capsys.readouterr().out
    assert epochs == [0, 1] and record["finished"]
    assert [s["from_epoch"] for s in record["sessions"]] == [0]


def _archive(path, name, data=b"{}"):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return str(path)


@pytest.mark.parametrize("member", ["../escape.json", "/abs.json", "notes.txt"])
def test_unpack_accepts_run_files_only(tmp_path, member):
    with pytest.raises(ValueError, match="expected only run files"):
        reproduce.unpack(_archive(tmp_path / "bad.tar.gz", member), str(tmp_path / "r"))
    assert not (tmp_path / "escape.json").exists()


def test_committed_document_is_generated_from_results(monkeypatch):
    monkeypatch.chdir(ROOT)
    with open(reproduce.DEFAULT_DOCUMENT) as f:
        committed = f.read()
    assert committed == reproduce.render_document(reproduce.DEFAULT_RESULTS), (
        "docs/reproduction.md is stale: run `python examples/reproduce.py table`"
    )
    for text in ("validation data", "not run", "How to run on the GPU", "--time-budget",
                 "89.63 ± 0.25", "spectral radius"):  # fmt: skip
        assert text in committed


def test_command_line_errors_name_the_argument(tmp_path, capsys):
    with pytest.raises(SystemExit):
        reproduce.main(["--modules", "2", "--results", str(tmp_path)])  # C = 20 > 1
    assert "coupling_blocks=20" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        reproduce.main([*TINY_FLAGS, "--parallel", "0", "--results", str(tmp_path)])
    assert "parallel=0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        reproduce.main(["unpack", _archive(tmp_path / "bad.tar.gz", "x.txt")])
    assert "expected only run files" in capsys.readouterr().err


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="worker processes: checked once, on JAX"
)
def test_launcher_workers_stop_at_the_budget_and_pack(mnist_dir, tmp_path, capsys):
    results = tmp_path / "results"
    archive = tmp_path / "out" / "results.tar.gz"
    argv = [
        *TINY_FLAGS, "--task", "psmnist", "smnist", "--method", "adadiag-tanh",
        "--seeds", "0", "1", "--data-dir", mnist_dir, "--results", str(results),
        "--parallel", "2", "--time-budget", "1", "--pack", str(archive),
    ]  # fmt: skip
    assert reproduce.main(argv) == 0
    out = capsys.readouterr().out
    first = [Configuration(t, "adadiag-tanh", 1, 0) for t in ("psmnist", "smnist")]
    for config in first:
        record, state = reproduce.run_state(str(results), config)
        assert state == "in progress" and record["epochs_run"] == 1, out
        assert (results / "logs" / f"{config.name}.log").exists()
    # Past the budget, the seed-1 runs were not started.
    assert "left for the next stretch" in out
    assert sorted(os.listdir(results / "logs")) == sorted(f"{c.name}.log" for c in first)
    with tarfile.open(archive) as tar:
        members = tar.getnames()
    assert all(f"{c.name}_backup/latest.weights.h5" in members for c in first)
    assert not any("seed1" in m for m in members)
    assert reproduce.run_state(str(results), first[0])[0]["config"]["permutation_seed"] == 0


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="worker processes: checked once, on JAX"
)
def test_launcher_stops_workers_after_the_grace_period(tmp_path, capsys):
    argv = [*TINY_FLAGS, "--task", "smnist", "--method", "scn-3", "--seeds", "0",
            "--results", str(tmp_path), "--time-budget", "0.5", "--grace", "0"]  # fmt: skip
    assert reproduce.main(argv) == 0  # Stopped by the launcher: not a failure.
    out = capsys.readouterr().out
    assert "still running after the grace period; stopped" in out
    assert "no epoch finished" in out
    assert reproduce.run_state(str(tmp_path), Configuration("smnist", "scn-3", 1, 0))[1] == (
        "not run"
    )


@pytest.mark.parametrize("command", ["table", "status", "pack"])
def test_a_results_folder_that_does_not_exist_is_refused(command, tmp_path, capsys):
    document = tmp_path / "reproduction.md"
    argv = [command, "--results", str(tmp_path / "typo")]
    argv += {"table": ["--output", str(document)], "pack": [str(tmp_path / "p.tar.gz")]}.get(
        command, []
    )
    with pytest.raises(SystemExit):
        reproduce.main(argv)
    assert "typo" in capsys.readouterr().err and not document.exists()


def test_malformed_records_are_named_and_skipped(tmp_path):
    good = {"task": "smnist", "method": "scn-3", "coupling_blocks": 5, "seed": 0,
            "test_accuracy": 0.5, "epochs_run": 1, "finished": True, "config": {}}  # fmt: skip
    bad = {
        "smnist_scn-3_C5_seed1": [1, 2],
        "smnist_scn-3_C5_seed2": {**good, "seed": 2, "method": None},
        "smnist_scn-30_C5_seed0": {**good, "method": "scn-30", "test_accuracy": "0.9"},
    }
    for name, record in {"smnist_scn-3_C5_seed0": good, **bad}.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(record))
    with pytest.warns(UserWarning) as caught:
        text = reproduce.render_document(str(tmp_path))
        records = reproduce.load_records(str(tmp_path))
    named = " ".join(str(w.message) for w in caught)
    for name in bad:
        assert f"{name}.json" in named
    assert [r["seed"] for r in records] == [0] and "`smnist_scn-3_C5_seed0`" in text


def test_unpack_checks_every_run_is_complete_before_deleting(stretch, tmp_path):
    folder, _, _ = stretch
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    before = sorted(p.name for p in copy.rglob("*"))
    record = (folder / f"{CONFIG.name}.json").read_bytes()
    archive = _archive(tmp_path / "short.tar.gz", f"{CONFIG.name}.json", record)
    with pytest.raises(ValueError, match=r"lacks .*\.csv.*latest\.weights\.h5"):
        reproduce.unpack(archive, str(copy), force=True)
    assert sorted(p.name for p in copy.rglob("*")) == before
