"""The sMNIST / psMNIST example scripts, their records and the reproduction table.

Everything runs in-process on a tiny problem (a 2 x 4 assembly, 64 train and
64 test images read row-wise as 28 steps) so that each backend stays within
its time budget. The data is the real MNIST of the MNIST_DIR folder; the
tests are skipped without it.
"""

import csv
import json
import os
import runpy
import subprocess
import sys

import keras
import numpy as np
import pytest

from tools.experiments import (
    RECORD_KEYS,
    Protocol,
    ResumedEarlyStopping,
    main,
    records,
    render_table,
    runner,
    table,
)
from keras_rnnofrnns.distribution import describe_devices

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = [
    "--modules", "2", "--units", "4", "--coupling-blocks", "1",
    "--limit-train", "64", "--limit-test", "64", "--row-wise",
    "--batch-size", "32", "--seeds", "0", "--verbose", "0",
]  # fmt: skip


def _tiny(output, mnist_dir, *extra):
    return [*TINY, "--data-dir", mnist_dir, "--output", str(output), *extra]


def _run_script(script, argv, monkeypatch):
    """Runs examples/<script> as `python examples/<script> argv...`, in-process."""
    monkeypatch.setattr(sys, "argv", [script, *argv])
    runpy.run_path(os.path.join(ROOT, "examples", script), run_name="__main__")


def _csv_epochs(path):
    with open(path, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


class Interrupt(keras.callbacks.Callback):
    """Kills the run once `epoch` has ended (and been logged and backed up)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated interruption")


class EpochsSeen(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory, mnist_dir):
    """One finished sMNIST and one finished psMNIST invocation, run through the scripts."""
    path = mnist_dir
    monkeypatch = pytest.MonkeyPatch()
    out = tmp_path_factory.mktemp("runs")
    try:
        _run_script(
            "smnist.py",
            _tiny(out / "smnist", path, "--method", "adadiag-tanh", "--epochs", "2"),
            monkeypatch,
        )
        _run_script(
            "psmnist.py",
            _tiny(out / "psmnist", path, "--method", "scn-30", "--epochs", "1",
                  "--permutation-seed", "3"),
            monkeypatch,
        )  # fmt: skip
    finally:
        monkeypatch.undo()
    return out


def test_smnist_script_writes_record_model_figure_and_summary(finished_runs):
    folder = finished_runs / "smnist"
    name = "smnist_adadiag-tanh_C1_seed0"
    with open(folder / f"{name}.json") as f:
        record = json.load(f)
    assert set(RECORD_KEYS) <= set(record)
    assert record["task"] == "smnist" and record["method"] == "adadiag-tanh"
    assert record["coupling_blocks"] == 1 and record["seed"] == 0
    assert record["finished"] and not record["stopped_early"]
    assert record["epochs_run"] == 2 and record["history"]["epoch"] == [0, 1]
    assert len(record["epoch_seconds"]) == 2 and min(record["epoch_seconds"]) > 0
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        assert len(record["history"][key]) == 2, key
    assert record["test_accuracy"] == max(record["history"]["val_accuracy"])
    assert 0.0 <= record["test_accuracy"] <= 1.0
    assert record["backend"] == keras.backend.backend()
    assert record["device"] and record["keras_version"] == keras.__version__
    assert "smnist.py" in record["command"] and "--row-wise" in record["command"]
    assert record["certificate"]["certified"] is True
    assert "permutation_seed" not in record
    with open(folder / f"{name}.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    model = keras.saving.load_model(folder / f"{name}.keras", compile=False)
    assert model.output_shape == (None, 10)
    assert not (folder / f"{name}_backup").exists()
    with open(folder / "summary.json") as f:
        (group,) = json.load(f)["groups"]
    assert group["runs"] == 1 and group["mean"] == pytest.approx(record["test_accuracy"])


def test_psmnist_records_its_permutation_and_skips_finished_runs(
    finished_runs, mnist_dir, monkeypatch, capsys
):
    folder = finished_runs / "psmnist"
    path = folder / "psmnist_scn-30_C1_seed0.json"
    with open(path) as f:
        record = json.load(f)
    assert record["task"] == "psmnist" and record["permutation_seed"] == 3
    assert record["config"]["row_wise"] is True and record["epochs_run"] == 1
    before = path.read_bytes()
    argv = _tiny(folder, mnist_dir, "--method", "scn-30", "--epochs", "1",
                 "--permutation-seed", "3")  # fmt: skip
    (again,) = main("psmnist", argv)
    assert "skipped" in capsys.readouterr().out
    assert again["date"] == record["date"] and path.read_bytes() == before


def test_rerun_with_other_settings_is_refused(finished_runs, mnist_dir):
    argv = _tiny(finished_runs / "psmnist", mnist_dir, "--method", "scn-30",
                 "--epochs", "1", "--permutation-seed", "4")  # fmt: skip
    with pytest.raises(ValueError, match="other settings"):
        main("psmnist", argv)


def test_interrupted_run_resumes_at_the_next_epoch(mnist_dir, tmp_path):
    argv = _tiny(tmp_path, mnist_dir, "--method", "adadiag-tanh", "--epochs", "3")
    name = "smnist_adadiag-tanh_C1_seed0"
    with pytest.raises(RuntimeError, match="simulated interruption"):
        main("smnist", argv, callbacks=[Interrupt(epoch=1)])
    with open(tmp_path / f"{name}.json") as f:
        partial = json.load(f)
    assert not partial["finished"] and partial["history"]["epoch"] == [0, 1]
    assert (tmp_path / f"{name}_backup").is_dir()

    seen = EpochsSeen()
    (record,) = main("smnist", argv, callbacks=[seen])
    assert seen.epochs == [2]  # Epochs 0 and 1 were not trained again.
    assert record["finished"] and record["epochs_run"] == 3
    assert record["history"]["epoch"] == [0, 1, 2]
    assert record["history"]["loss"][:2] == partial["history"]["loss"]
    assert len(record["epoch_seconds"]) == 3
    assert _csv_epochs(tmp_path / f"{name}.csv") == [0, 1, 2]
    assert not (tmp_path / f"{name}_backup").exists()


def test_history_keeps_the_last_row_of_a_repeated_epoch(tmp_path):
    # An epoch logged but not yet backed up when a run dies is trained again.
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,val_accuracy\n0,2.0,0.1\n1,1.9,0.2\n1,1.8,0.3\n2,1.7,NA\n")
    rows = records.history_from_csv(path)
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert rows[1]["loss"] == 1.8 and rows[2]["val_accuracy"] is None


def test_resumed_early_stopping_counts_the_epochs_before_the_interruption():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    logs = [{"epoch": e, "val_accuracy": a} for e, a in enumerate([0.3, 0.5, 0.4, 0.45])]
    stopper = ResumedEarlyStopping(logs, monitor="val_accuracy", mode="max", patience=3)
    stopper.set_model(model)
    stopper.on_train_begin()
    stopper.on_epoch_begin(4)
    assert stopper.best == 0.5 and stopper.wait == 2 and not model.stop_training
    stopper.on_epoch_end(4, {"val_accuracy": 0.49})
    assert model.stop_training  # A fresh EarlyStopping would wait 3 more epochs.


def test_table_renders_our_records_beside_the_paper(finished_runs):
    loaded = records.load_records(finished_runs)
    assert {r["task"] for r in loaded} == {"smnist", "psmnist"}
    text = render_table(loaded)
    lines = text.splitlines()
    header = lines[0]
    for column in ("sMNIST C=5 paper", "sMNIST C=20 ours", "psMNIST C=20 paper",
                   "sMNIST C=1 ours", "psMNIST C=1 ours"):  # fmt: skip
        assert column in header
    tanh = next(line for line in lines if line.startswith("| AdaDiag, tanh"))
    cells = [c.strip() for c in tanh.strip("|").split("|")]
    columns = [c.strip() for c in header.strip("|").split("|")]
    row = dict(zip(columns, cells))
    assert row["sMNIST C=5 paper"] == "86.60 ± 0.68"  # The paper's Table 1.
    assert row["psMNIST C=20 paper"] == "88.53 ± 1.23"
    (ours,) = [r for r in loaded if r["method"] == "adadiag-tanh"]
    assert row["sMNIST C=1 ours"].startswith(f"{100 * ours['test_accuracy']:.2f} ± 0.00 (n=1)")
    assert row["sMNIST C=5 ours"] == table.NOT_RUN
    assert row["psMNIST C=1 ours"] == table.NOT_RUN
    assert "2 x 4 assembly" in text and "row-wise" in text  # Footnote on our setup.

    output = finished_runs / "table.md"
    printed = table.main([str(finished_runs), "--output", str(output)])
    assert output.read_text().strip() == printed.strip() == text.strip()


def test_invalid_settings_name_the_argument(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"coupling_blocks=2.*from 0 to 1"):
        Protocol.create("smnist", num_modules=2, coupling_blocks=(2,))
    with pytest.raises(ValueError, match="method"):
        Protocol.create("smnist", methods=("lstm",))
    with pytest.raises(SystemExit):
        runner.parse_protocol("psmnist", ["--modules", "2", "--coupling-blocks", "5"])
    assert "coupling_blocks=5" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="MNIST_DIR"):
        main("smnist", ["--quick", "--data-dir", str(tmp_path / "absent"),
                        "--output", str(tmp_path)])  # fmt: skip


def test_quick_mode_is_a_small_run_that_flags_override():
    protocol = runner.parse_protocol("psmnist", ["--quick", "--epochs", "1"])
    assert protocol.quick and protocol.epochs == 1
    assert protocol.num_modules * protocol.module_size < 16 * 32
    assert protocol.limit_train == runner.QUICK_DEFAULTS["limit_train"]
    # A certified method, its learning rate dropped for the last epoch.
    assert protocol.methods == ("adadiag-gated-cayley",)
    assert protocol.lr_drops == (runner.QUICK_DEFAULTS["epochs"] - 1,)
    assert protocol.output == os.path.join("runs", "psmnist-quick")
    full = runner.parse_protocol("smnist", [])
    assert full.methods == ("scn-3", "scn-30", "adadiag-tanh", "adadiag-clip")
    assert full.coupling_blocks == (5, 20) and full.seeds == (0, 1, 2)
    assert (full.num_modules, full.module_size, full.dt, full.epochs) == (16, 32, 0.03, 200)
    assert runner.parse_protocol("smnist", ["--runs", "2"]).seeds == (0, 1)
    assert runner.parse_protocol("smnist", ["--lr-drops", ""]).lr_drops == ()


def test_summary_statistics_are_over_seeds():
    runs = [
        dict(task="smnist", method="scn-3", coupling_blocks=5, seed=s, test_accuracy=a,
             epochs_run=1, config={"num_modules": 16})
        for s, a in ((2, 0.7), (0, 0.8), (1, 0.9))
    ]  # fmt: skip
    other = dict(runs[0], seed=3, config={"num_modules": 8})
    groups = records.summarize([*runs, other])
    assert len(groups) == 2  # Other settings are never averaged in.
    (group,) = [g for g in groups if g["runs"] == 3]
    assert group["seeds"] == [0, 1, 2]
    assert group["mean"] == pytest.approx(0.8)
    assert group["std"] == pytest.approx(np.std([0.7, 0.8, 0.9]))


def test_each_run_says_first_which_device_it_trains_on(mnist_dir, tmp_path, capsys):
    main("smnist", _tiny(tmp_path, mnist_dir, "--method", "adadiag-clip", "--epochs", "1"))
    lines = capsys.readouterr().out.splitlines()
    (line,) = [line for line in lines if line.startswith("Training on: ")]
    assert line == f"Training on: {describe_devices()}"
    assert line.startswith(f"Training on: {keras.backend.backend()} on ")
    # Before anything of the run itself.
    assert lines.index(line) < min(i for i, text in enumerate(lines) if "smnist_" in text)


def test_data_parallel_flag(mnist_dir, tmp_path):
    argv = _tiny(tmp_path, mnist_dir, "--method", "adadiag-clip", "--epochs", "1", "--data-parallel")
    if keras.backend.backend() == "torch":
        with pytest.raises(NotImplementedError, match="torch"):
            main("smnist", argv)
        return
    # One CPU device here: the scope is entered and the run still trains;
    # agreement with a single-device fit on 2 devices is tests/test_distribution.py's.
    (record,) = main("smnist", argv)
    assert record["finished"] and record["epochs_run"] == 1
    assert record["config"] == main("smnist", _tiny(tmp_path, mnist_dir, "--method", "adadiag-clip", "--epochs", "1"))[0]["config"]


def test_a_time_budget_stops_between_epochs_and_the_same_command_resumes(mnist_dir, tmp_path):
    argv = _tiny(tmp_path, mnist_dir, "--method", "adadiag-gated", "--epochs", "2",
                 "--journal", "--coupling-blocks", "1", "--seeds", "0")  # fmt: skip
    # A budget spent by the first epoch: it always runs, the second does not start.
    (partial,) = main("smnist", [*argv, "--time-budget", "1e-9"])
    assert not partial["finished"] and partial["epochs_run"] == 1
    assert partial["config"]["readout"] == "journal" and partial["config"]["patience"] == 0
    # The data folder by its name: records travel between machines.
    assert partial["data_source"] == os.path.basename(os.path.normpath(mnist_dir))
    assert "no early stopping" in partial["validation_split_note"]
    seen = EpochsSeen()
    (record,) = main("smnist", argv, callbacks=[seen])
    assert seen.epochs == [1] and record["finished"] and record["epochs_run"] == 2
    for budget in ("nan", "-1", "0"):
        with pytest.raises(SystemExit):
            main("smnist", [*argv, "--time-budget", budget])


# -- without the configured backend ---------------------------------------------

SCRIPTS = sorted(
    name for name in os.listdir(os.path.join(ROOT, "examples"))
    if name.endswith(".py") and not name.startswith("_")
)  # fmt: skip


def _without(tmp_path, modules, **environment):
    """Runs each example's `--help` with `modules` unimportable; returns the results."""
    # Python imports sitecustomize at startup: a None in sys.modules makes an
    # import of that name fail, as if the module were not installed.
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]), **environment)
    return {
        script: subprocess.run(
            [sys.executable, os.path.join(ROOT, "examples", script), "--help"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        for script in SCRIPTS
    }


def test_every_example_without_its_backend_says_what_to_do_in_one_line(tmp_path):
    assert {"psmnist.py", "smnist.py", "table.py", "timeseries.py", "tune.py"} <= set(SCRIPTS)
    # A JAX-only install with KERAS_BACKEND unset: Keras would load TensorFlow.
    results = _without(
        tmp_path, ["tensorflow", "torch"], KERAS_HOME=str(tmp_path / "keras_home")
    )
    for script, done in results.items():
        assert done.returncode == 2, (script, done.stderr)
        assert done.stdout == ""
        assert done.stderr == (
            "Keras backend 'tensorflow' (from Keras's default, KERAS_BACKEND being unset) is "
            "not installed: no module named 'tensorflow'; set KERAS_BACKEND=jax "
            "(or install tensorflow).\n"
        ), script


def test_the_backend_of_keras_json_and_no_backend_at_all(tmp_path):
    home = tmp_path / "keras_home"
    home.mkdir()
    (home / "keras.json").write_text('{"backend": "torch"}')
    done = _without(tmp_path, ["torch", "jax", "tensorflow"], KERAS_HOME=str(home))["smnist.py"]
    assert done.returncode == 2
    assert done.stderr == (
        f"Keras backend 'torch' (from {home / 'keras.json'}) is not installed: no module "
        "named 'torch'; install torch, or another backend and set KERAS_BACKEND to it.\n"
    )


def test_an_installed_backend_lets_the_examples_run():
    import _require_backend

    assert _require_backend.missing_backend_message() is None
    assert _require_backend.configured_backend()[0] == keras.backend.backend()
