"""Fault injection on the experiment runner: kills, damaged files, diverged runs.

Each test breaks a run at a named point, runs it again, and checks that it
either finishes with a model that scores exactly what its record says, or
stops with an error that names the damaged file. Most kills are raised
in-process at a hook (`Killed`, which no `except Exception` catches); two
are real `SIGKILL`s of a child process. The runs are tiny (a 2 x 4 assembly,
64 train and 32 test images read row-wise) and JAX only: the machinery is
backend-neutral, and each backend would pay the same seconds again.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile

import keras
import pytest
from conftest import ROOT

from tools.experiments import runner, storage
from tools.experiments.records import history_from_csv

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="backend-neutral file handling, tested once (on JAX) to keep the suite's time",
)

METHOD = "adadiag-tanh"
NAME = f"smnist_{METHOD}_C1_seed0"
# Learning rate and batch size make epoch 1 a new best after a poor epoch 0.
TINY = dict(
    methods=(METHOD,), coupling_blocks=(1,), seeds=(0,), num_modules=2, module_size=4,
    batch_size=16, learning_rate=0.05, limit_train=64, limit_test=32, row_wise=True,
    verbose=0,
)  # fmt: skip
FLAGS = [
    "--method", METHOD, "--coupling-blocks", "1", "--seeds", "0", "--modules", "2",
    "--units", "4", "--batch-size", "16", "--learning-rate", "0.05", "--limit-train",
    "64", "--limit-test", "32", "--row-wise", "--verbose", "0",
]  # fmt: skip


class Killed(BaseException):
    """A simulated kill: it stops the run where it is, past any `except Exception`."""


@pytest.fixture(scope="module")
def data_dir(mnist_dir):
    # The shared fixture under the name the fault tests pass to the runner.
    return mnist_dir


@pytest.fixture(scope="module")
def data(data_dir):
    return runner.Protocol.create("smnist", data_dir=data_dir, **TINY).load_data()


def _train(folder, data, data_dir, epochs=2, **settings):
    protocol = runner.Protocol.create(
        "smnist", output=str(folder), data_dir=data_dir, epochs=epochs, **{**TINY, **settings}
    )
    return runner.train_run(protocol, data, METHOD, 1, 0)


def _kill_when_writing(monkeypatch, target, nth=1):
    """Kills the run while the nth write of file `target` is under way.

    The hook is the flush of the temporary file, just before it would be
    renamed over `target`; the temporary is torn first, as a kill mid-write
    would leave it.
    """
    original = storage._fsync
    seen = []

    def fsync(path):
        if os.path.basename(path).startswith(f".{target}."):
            seen.append(path)
            if len(seen) == nth:
                with open(path, "r+b") as f:
                    f.truncate(os.path.getsize(path) // 2)
                raise Killed(target)
        original(path)

    monkeypatch.setattr(storage, "_fsync", fsync)


def assert_consistent(folder, data, epochs):
    """The run finished, and its saved model scores what its record says."""
    with open(folder / f"{NAME}.json") as f:
        record = json.load(f)
    assert record["finished"] and record["epochs_run"] == epochs
    assert record["history"]["epoch"] == list(range(epochs))
    assert [r["epoch"] for r in history_from_csv(folder / f"{NAME}.csv")] == list(range(epochs))
    assert not (folder / f"{NAME}_backup").exists()
    model = keras.saving.load_model(folder / f"{NAME}.keras", compile=False)
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    x_test, y_test = data.x_test, data.y_test
    scores = model.evaluate(x_test, y_test, batch_size=16, verbose=0, return_dict=True)
    assert scores["accuracy"] == pytest.approx(record["test_accuracy"], abs=1e-6)
    assert not [n for n in os.listdir(folder) if storage.is_temporary(n)]
    return record


_CHILD = """
import json, os, signal, sys
sys.path.insert(0, {root!r})
import keras
from tools.experiments import runner, storage
point, argv = sys.argv[1], json.loads(sys.argv[2])

def kill():
    os.kill(os.getpid(), signal.SIGKILL)

class MidEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 1:
            kill()

original = storage._fsync
def fsync(path):
    original(path)
    if os.path.basename(path).startswith(".{name}.keras."):
        kill()
if point == "final-save":
    storage._fsync = fsync
runner.main("smnist", argv, callbacks=[MidEpoch()] if point == "mid-epoch" else [])
"""


def _killed_child(point, argv):
    result = subprocess.run(
        [sys.executable, "-c", _CHILD.format(root=ROOT, name=NAME), point, json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]


def test_sigkill_mid_epoch_and_during_the_final_model_save(tmp_path, data, data_dir):
    argv = [*FLAGS, "--epochs", "2", "--data-dir", data_dir, "--output", str(tmp_path)]
    _killed_child("mid-epoch", argv)
    with open(tmp_path / f"{NAME}.json") as f:
        assert json.load(f)["history"]["epoch"] == [0]
    # Resumed at epoch 1, trained to the end, killed while the final model
    # is written: the backup's best model was not moved or rewritten.
    _killed_child("final-save", argv)
    backup = tmp_path / f"{NAME}_backup"
    assert storage.best_models(backup) and storage.restore_point(backup)[0] == 2
    assert _train(tmp_path, data, data_dir)["finished"]
    assert_consistent(tmp_path, data, epochs=2)


@pytest.mark.parametrize(
    "target, nth",
    [
        (f"{NAME}.csv", 2),  # The CSV row of epoch 1.
        (f"{NAME}.json", 2),  # The record of epoch 1, after its CSV row.
        ("best-epoch1.keras", 1),  # The best-model checkpoint of epoch 1.
        (storage.BACKUP_WEIGHTS, 2),  # The backup of epoch 1.
        (f"{NAME}.keras", 1),  # The final model.
        (f"{NAME}.json", 3),  # The finished record.
    ],
)
def test_a_kill_while_a_file_is_written_loses_nothing(
    target, nth, tmp_path, data, data_dir, monkeypatch
):
    _kill_when_writing(monkeypatch, target, nth)
    with pytest.raises(Killed):
        _train(tmp_path, data, data_dir)
    monkeypatch.undo()
    _train(tmp_path, data, data_dir)
    assert_consistent(tmp_path, data, epochs=2)


def test_a_new_best_epoch_killed_before_its_backup_is_not_reported(
    tmp_path, data, data_dir, monkeypatch
):
    # Epoch 1 sets a new best, saved as best-epoch1.keras; the kill comes
    # before the backup, so epoch 1 is trained again and may score otherwise.
    original = storage.save_backup

    def save_backup(model, folder, epoch):
        if epoch == 2:
            assert (tmp_path / f"{NAME}_backup" / "best-epoch1.keras").exists()
            raise Killed("backup of epoch 1")
        original(model, folder, epoch)

    monkeypatch.setattr(storage, "save_backup", save_backup)
    with pytest.raises(Killed):
        _train(tmp_path, data, data_dir, epochs=3)
    monkeypatch.undo()
    _train(tmp_path, data, data_dir, epochs=3)
    record = assert_consistent(tmp_path, data, epochs=3)
    assert record["sessions"][-1]["from_epoch"] == 1


@pytest.fixture(scope="module")
def _stopped(tmp_path_factory, data, data_dir):

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise Killed("after epoch 1")

    folder = tmp_path_factory.mktemp("stopped")
    protocol = runner.Protocol.create(
        "smnist", output=str(folder), data_dir=data_dir, epochs=3, **TINY
    )
    with pytest.raises(Killed):
        runner.train_run(protocol, data, METHOD, 1, 0, [Stop()])
    return folder


@pytest.fixture
def stopped(_stopped, tmp_path):
    """A run of 3 epochs interrupted after its second, as a folder of its own."""
    shutil.copytree(_stopped, tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.parametrize("damaged", ["weights", "metadata"])
def test_a_damaged_backup_falls_back_to_the_previous_epoch(stopped, data, data_dir, damaged):
    backup = stopped / f"{NAME}_backup"
    if damaged == "weights":
        path = backup / storage.BACKUP_WEIGHTS
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        (backup / storage.BACKUP_METADATA).write_text('{"epoch": 2, "ba')
    assert storage.restore_point(backup)[0] == 1
    record = _train(stopped, data, data_dir, epochs=3)
    assert record["sessions"][-1]["from_epoch"] == 1
    assert_consistent(stopped, data, epochs=3)


def test_weights_without_metadata_stop_with_an_error_naming_the_folder(stopped, data, data_dir):
    backup = stopped / f"{NAME}_backup"
    for name in (storage.BACKUP_METADATA, storage.BACKUP_METADATA + storage.PREVIOUS):
        os.remove(backup / name)
    with pytest.raises(ValueError, match=r"Invalid backup .*_backup.* delete it"):
        _train(stopped, data, data_dir, epochs=3)
    # Never restarted from the trained weights: everything is still there.
    assert (backup / storage.BACKUP_WEIGHTS).exists()
    with open(stopped / f"{NAME}.json") as f:
        assert json.load(f)["epochs_run"] == 2


def test_a_torn_csv_row_is_rebuilt_from_the_record(stopped, data, data_dir):
    path = stopped / f"{NAME}.csv"
    text = path.read_text()
    path.write_text(text[: len(text) - 20])
    with pytest.raises(ValueError, match=r"Invalid CSV log .*line 3"):
        history_from_csv(path)
    _train(stopped, data, data_dir, epochs=3)
    assert_consistent(stopped, data, epochs=3)


def test_a_missing_best_model_stops_with_an_error_naming_it(stopped, data, data_dir):
    backup = stopped / f"{NAME}_backup"
    for path in storage.best_models(backup).values():
        os.remove(path)
    with pytest.raises(ValueError, match=r"best-epoch\d\.keras.* is missing"):
        _train(stopped, data, data_dir, epochs=3)


def test_a_finished_record_without_its_model_is_not_reported(tmp_path, data, data_dir):
    _train(tmp_path, data, data_dir, epochs=1)
    os.remove(tmp_path / f"{NAME}.keras")
    with pytest.raises(ValueError, match=r"says finished, but the model .*\.keras.* missing"):
        _train(tmp_path, data, data_dir, epochs=1)


def test_an_unfinished_record_holds_the_certificate_of_its_last_weights(stopped, data, data_dir):
    with open(stopped / f"{NAME}.json") as f:
        record = json.load(f)
    assert record["finished"] is False and record["epochs_run"] == 2
    protocol = runner.Protocol.create(
        "smnist", output=str(stopped), data_dir=data_dir, epochs=3, **TINY
    )
    model = protocol.build_model(METHOD, 1, 0, data)
    runner._restore(model, str(stopped / f"{NAME}_backup" / storage.BACKUP_WEIGHTS))
    assert record["certificate"] == runner.certificate_entry(model)
    assert isinstance(record["certificate"]["certified"], bool)


def test_a_diverged_run_finishes_marked_and_uncertified(tmp_path, data, data_dir):
    record = _train(tmp_path, data, data_dir, epochs=1, learning_rate=1e6, dt=2.0)
    assert record["finished"] and record["diverged"] is True
    # Strict JSON: no bare NaN token; the non-finite losses read back as None.
    text = (tmp_path / f"{NAME}.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["history"]["loss"] == [None]
    assert record["certificate"] == {"certified": False, "reason": "non-finite weights"}
    assert not (tmp_path / f"{NAME}.png").exists()
    assert not (tmp_path / f"{NAME}_backup").exists()


def test_a_failing_certification_is_recorded_not_raised(tmp_path, data, data_dir, monkeypatch):
    def certify(model):
        raise ArithmeticError("no eigenvalues today")

    monkeypatch.setattr(runner, "certify", certify)
    record = _train(tmp_path, data, data_dir, epochs=1)
    assert record["finished"] and record["diverged"] is False
    assert record["certificate"]["certified"] is False
    assert "no eigenvalues today" in record["certificate"]["reason"]


def test_temporaries_of_killed_writes_are_cleared_on_resume(stopped, data, data_dir):
    backup = stopped / f"{NAME}_backup"
    leftover = backup / ".latest.weights.h5.abc.tmp.weights.h5"
    leftover.write_bytes(b"torn")
    _train(stopped, data, data_dir, epochs=3)
    assert_consistent(stopped, data, epochs=3)


_HOLDER = """
import fcntl, os, sys
descriptor = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(descriptor, fcntl.LOCK_EX)
os.write(descriptor, str(os.getpid()).encode())
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def held_lock(tmp_path):
    """Another process holding the lock of run NAME in tmp_path until the test ends."""
    path = tmp_path / f"{NAME}{storage.LOCK_SUFFIX}"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        yield path, holder
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


@pytest.mark.skipif(storage.fcntl is None, reason="runs are locked where fcntl exists")
def test_a_second_process_on_the_same_run_is_refused(
    held_lock, tmp_path, data, data_dir, capsys
):
    path, holder = held_lock
    (tmp_path / f"{NAME}.json").write_text('{"unfinished": "record of the holder"}')
    (tmp_path / f"{NAME}_backup").mkdir()
    with pytest.raises(storage.RunLockedError) as error:
        _train(tmp_path, data, data_dir)
    message = str(error.value)
    assert NAME in message and str(path) in message and f"process {holder.pid}" in message
    # Nothing of the holder's run was read, deleted or replaced.
    assert (tmp_path / f"{NAME}.json").read_text() == '{"unfinished": "record of the holder"}'
    assert (tmp_path / f"{NAME}_backup").is_dir() and path.exists()
    # The command line refuses in one line.
    argv = [*FLAGS, "--epochs", "1", "--data-dir", data_dir, "--output", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_:
        runner.main("smnist", argv)
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and NAME in err and "lock" in err


def test_the_lock_is_dropped_after_the_run_whatever_ends_it(tmp_path):
    with pytest.raises(Killed):
        with storage.run_lock(str(tmp_path), NAME) as path:
            assert open(path).read() == f"{os.getpid()}\n"
            raise Killed("in the run")
    assert not os.listdir(tmp_path)
    with storage.run_lock(str(tmp_path), NAME):
        pass


def test_a_lock_whose_holder_died_is_taken(held_lock, tmp_path):
    path, holder = held_lock
    holder.kill()
    holder.wait(timeout=60)
    # The holder's file is still there, but the system dropped its lock.
    assert path.exists()
    with storage.run_lock(str(tmp_path), NAME):
        assert open(path).read() == f"{os.getpid()}\n"


@pytest.mark.parametrize("output", ["file", "file/inside"])
def test_an_output_that_cannot_hold_files_is_refused_before_training(
    output, tmp_path, data, data_dir
):
    (tmp_path / "file").write_text("not a folder")
    seen = []
    with pytest.raises(ValueError, match=r"Invalid `output`.*expected a writable folder"):
        protocol = runner.Protocol.create(
            "smnist", output=str(tmp_path / output), data_dir=data_dir, epochs=1, **TINY
        )
        runner.train_run(
            protocol, data, METHOD, 1, 0,
            [keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(e))],
        )  # fmt: skip
    assert seen == []


@pytest.fixture(scope="module")
def _finished(tmp_path_factory, data, data_dir):
    folder = tmp_path_factory.mktemp("finished")
    _train(folder, data, data_dir, epochs=1)
    return folder


@pytest.fixture
def finished(_finished, tmp_path):
    """A finished one-epoch run, as a folder of its own."""
    shutil.copytree(_finished, tmp_path / "run")
    return tmp_path / "run"


def _rezip(path, change):
    """Rewrites the zip `path` with `change(name, data)` applied to each member (None drops it)."""
    with zipfile.ZipFile(path) as archive:
        members = [(name, archive.read(name)) for name in archive.namelist()]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            data = change(name, data)
            if data is not None:
                archive.writestr(name, data)


@pytest.mark.parametrize(
    "damage, problem",
    [
        ("junk zip", "lacks config.json, model.weights.h5"),
        ("truncated weights", "model.weights.h5 cannot be read whole"),
        ("torn config", "not a whole Keras model file"),
        ("bad CRC", "fails its CRC check"),
    ],
)
def test_a_finished_model_that_is_a_damaged_zip_is_detected(
    damage, problem, finished, data, data_dir
):
    path = finished / f"{NAME}.keras"
    if damage == "junk zip":
        path.unlink()
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("junk.bin", b"\0" * 100)
    elif damage == "truncated weights":
        _rezip(path, lambda name, data: data[: len(data) // 2] if name.endswith(".h5") else data)
    elif damage == "torn config":
        _rezip(path, lambda name, data: data[:20] if name == "config.json" else data)
    else:
        _rezip(path, lambda name, data: data)
        raw = bytearray(path.read_bytes())
        offset = raw.index(b"HDF") + 64  # Inside the stored weights file.
        raw[offset] ^= 0xFF
        path.write_bytes(bytes(raw))
    assert zipfile.is_zipfile(path)
    assert problem in storage.model_problem(str(path))
    with pytest.raises(ValueError, match=rf"says finished, but the model .*damaged.*{problem}"):
        _train(finished, data, data_dir, epochs=1)


def test_a_whole_finished_model_passes_the_check(finished):
    assert storage.model_problem(str(finished / f"{NAME}.keras")) is None


def test_a_backup_left_by_a_kill_after_the_finished_record_is_removed(
    finished, data, data_dir, capsys
):
    backup = finished / f"{NAME}_backup"
    backup.mkdir()
    (backup / storage.BACKUP_WEIGHTS).write_bytes(b"left over")
    before = (finished / f"{NAME}.json").read_text()
    record = _train(finished, data, data_dir, epochs=1)
    assert record["finished"] and not backup.exists()
    assert "finished before, skipped" in capsys.readouterr().out
    assert (finished / f"{NAME}.json").read_text() == before
    assert_consistent(finished, data, epochs=1)


def test_a_backup_whose_record_is_lost_is_never_discarded(stopped, data, data_dir):
    os.remove(stopped / f"{NAME}.json")
    backup = stopped / f"{NAME}_backup"
    before = sorted(os.listdir(backup))
    with pytest.raises(ValueError, match=r"holds trained weights, but its record .* missing"):
        _train(stopped, data, data_dir, epochs=3)
    assert sorted(os.listdir(backup)) == before


def test_a_torn_record_stops_the_run_and_keeps_its_files(stopped, data, data_dir):
    (stopped / f"{NAME}.json").write_text('{"task": "smnist", "hist')
    before = sorted(p.name for p in stopped.rglob("*"))
    with pytest.raises(ValueError, match=r"not valid JSON.*Restore it from a copy"):
        _train(stopped, data, data_dir, epochs=3)
    assert sorted(p.name for p in stopped.rglob("*")) == before


def test_an_interrupted_command_says_how_to_resume(capsys):
    with pytest.raises(SystemExit) as exit_:
        with runner.command_line_exit():
            raise KeyboardInterrupt
    assert exit_.value.code == 130
    assert "rerun the same command to resume" in capsys.readouterr().err


@pytest.fixture
def umask():
    """Sets the process umask for a test, and restores it afterwards."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize(
    "mask, mode",
    [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)],
    ids=["umask022", "umask077", "umask002"],
)
def test_written_files_get_the_mode_the_umask_gives(tmp_path, umask, mask, mode):
    umask(mask)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    storage.atomic_write_text(tmp_path / "record.json", "{}\n")
    storage.save_model(model, str(tmp_path / "model.keras"))
    backup = tmp_path / "backup"
    storage.save_backup(model, str(backup), epoch=1)
    written = [
        tmp_path / "record.json",
        tmp_path / "model.keras",
        backup / storage.BACKUP_WEIGHTS,
        backup / storage.BACKUP_METADATA,
    ]
    # As a file opened for writing gets it, for comparison.
    (tmp_path / "plain.txt").write_text("plain")
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == mode
    assert {str(path): path.stat().st_mode & 0o777 for path in written} == {
        str(path): mode for path in written
    }
