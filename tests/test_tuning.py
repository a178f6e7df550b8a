"""Tests for keras_rnnofrnns.tuning and examples/tune.py.

The search tests run real KerasTuner searches on a tiny subset of MNIST (a
2 x 4 assembly, 64 training examples, one epoch) through the example's
command line, then resume them; they need MNIST_DIR and are skipped without
it. Only the two diagonal strategies are searched there: they are the fast
ones on every backend, and two of them still make two series in the plot.
"""

import ast
import importlib
import importlib.util
import json
import os
import sys

import keras_tuner
import pytest

from keras_rnnofrnns import METHODS, PAPER_METHODS
from keras_rnnofrnns.distribution import describe_devices
from keras_rnnofrnns.tuning import (
    TUNERS,
    AssemblyHyperModel,
    coupling_density,
    make_tuner,
    markdown_table,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _load_example():
    spec = importlib.util.spec_from_file_location(
        "tune_example", os.path.join(ROOT, "examples", "tune.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _space(hypermodel):
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    return {parameter.name: parameter for parameter in hp.space}


# --------------------------------------------------------------------------
# The search space: no training.
# --------------------------------------------------------------------------


# (arguments, the argument the error names, part of what it says is allowed),
# for an assembly of 4 modules: 6 pairs.
INVALID_SPACES = [
    ({"coupling_blocks": 7}, "coupling_blocks", "from 0 to 6 = p(p-1)/2"),
    ({"coupling_blocks": (0, 7)}, "coupling_blocks", "from 0 to 6"),
    ({"coupling_blocks": [1, -1]}, "coupling_blocks", "from 0 to 6"),
    ({"coupling_blocks": (4, 2)}, "coupling_blocks", "min <= max"),
    ({"coupling_density": 1.5}, "coupling_density", "from 0 to 1"),
    ({"coupling_blocks": 2, "coupling_density": 0.5}, "coupling_density", "not both"),
    ({"method": "lstm"}, "method", "'adadiag-clip'"),
    ({"method": ("scn-3", "scn-30")}, "method", "list of choices"),
    ({"method": []}, "method", "non-empty list"),
    ({"dt": 0.0}, "dt", "> 0"),
    ({"learning_rate": (-1e-3, 1e-2)}, "learning_rate", "> 0"),
    ({"learning_rate": (1e-2, 1e-3, 1e-4)}, "learning_rate", "(min, max) tuple"),
]


def test_invalid_search_space_names_argument_value_and_what_is_allowed():
    # One test, not a parametrisation: each case takes microseconds, a test
    # case's set-up and tear-down (clear_session) most of a second.
    for arguments, name, allowed in INVALID_SPACES:
        with pytest.raises(ValueError, match=f"`{name}`") as error:
            AssemblyHyperModel(num_modules=4, module_size=2, **arguments)
        assert allowed in str(error.value), (arguments, str(error.value))


def test_unknown_classifier_argument_is_refused():
    with pytest.raises(TypeError, match="num_units"):
        AssemblyHyperModel(num_modules=4, module_size=2, num_units=3)


def test_default_space_spans_the_paper_methods_and_every_coupling():
    space = _space(AssemblyHyperModel(num_modules=5, module_size=2))
    assert list(space["method"].values) == list(PAPER_METHODS)
    # The gated methods are there to choose, not searched by default.
    gated = _space(AssemblyHyperModel(method=["adadiag-gated", "adadiag-gated-cayley"]))
    assert list(gated["method"].values) == ["adadiag-gated", "adadiag-gated-cayley"]
    assert set(PAPER_METHODS) < set(METHODS)
    assert (space["coupling_blocks"].min_value, space["coupling_blocks"].max_value) == (0, 10)
    assert space["dt"].sampling == "log" and space["learning_rate"].sampling == "log"
    assert space["num_modules"].value == 5 and space["module_size"].value == 2


def test_dimensions_are_fixed_or_narrowed_and_density_becomes_blocks():
    # p = 5: 10 pairs. Densities 0.25 and 0.3 both round to C = 3 (halves
    # up: 0.25 * 10 = 2.5 -> 3), 0.05 to C = 1 (0.5 rounds up too).
    space = _space(
        AssemblyHyperModel(
            num_modules=5,
            module_size=2,
            method=["scn-30", "adadiag-tanh"],
            coupling_density=[0.25, 0.3, 0.05],
            dt=0.05,
            learning_rate=(1e-3, 1e-3),
        )
    )
    assert list(space["method"].values) == ["scn-30", "adadiag-tanh"]
    assert list(space["coupling_blocks"].values) == [3, 1]
    assert isinstance(space["dt"], keras_tuner.engine.hyperparameters.Fixed)
    assert space["dt"].value == 0.05 and space["learning_rate"].value == 1e-3

    ranged = _space(AssemblyHyperModel(num_modules=5, module_size=2, coupling_density=(0.1, 0.5)))
    assert (ranged["coupling_blocks"].min_value, ranged["coupling_blocks"].max_value) == (1, 5)


def test_build_uses_the_trial_values_and_records_what_density_needs():
    hypermodel = AssemblyHyperModel(
        num_modules=3, module_size=2, method="adadiag-clip", coupling_blocks=2, sequence_length=5
    )
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert model.name == "assembly_adadiag-clip"
    assert len(model.get_layer("assembly").get_config()["coupling_blocks"]) == 2
    assert model.output_shape == (None, 10) and model.optimizer is not None
    density = coupling_density(hp.values["coupling_blocks"], hp.values["num_modules"])
    assert density == pytest.approx(2 / 3)


def test_coupling_density_of_one_module_is_zero():
    assert coupling_density(0, 1) == 0.0
    with pytest.raises(ValueError, match="coupling_blocks"):
        coupling_density(4, 3)


def test_markdown_table_marks_missing_values():
    row = {
        "rank": 1, "trial_id": "0", "method": "scn-3", "coupling_blocks": 2,
        "coupling_density": 0.5, "dt": 0.03, "learning_rate": 1e-3,
        "val_accuracy": 0.875, "test_accuracy": None,
    }
    lines = markdown_table([row]).splitlines()
    assert len(lines) == 3
    assert lines[2] == "| 1 | 0 | scn-3 | 2 | 0.5 | 0.03 | 0.001 | 0.875 | - |"


@pytest.mark.parametrize("name", ["random", "bayesian", "hyperband"])
def test_make_tuner_gives_each_tuner_its_budget(name, tmp_path):
    if name == "bayesian":
        pytest.importorskip("sklearn", reason="BayesianOptimization needs scikit-learn")
    hypermodel = AssemblyHyperModel(2, 4, method="adadiag-tanh", sequence_length=5)
    tuner = make_tuner(name, hypermodel, max_trials=3, epochs=4, directory=tmp_path)
    assert type(tuner) is TUNERS[name]
    assert tuner.oracle.objective.name == "val_accuracy"
    assert tuner.oracle.objective.direction == "max"
    if name == "hyperband":
        assert tuner.oracle.max_epochs == 4
    else:
        assert tuner.oracle.max_trials == 3
    with pytest.raises(ValueError, match="`tuner`"):
        make_tuner("grid", hypermodel, directory=tmp_path)


# --------------------------------------------------------------------------
# keras-tuner stays optional.
# --------------------------------------------------------------------------


def test_tuning_without_keras_tuner_says_how_to_install(monkeypatch):
    # A None entry makes `import keras_tuner` raise ImportError; the tuning
    # modules are dropped so that they are imported again (monkeypatch puts
    # the originals back afterwards).
    monkeypatch.setitem(sys.modules, "keras_tuner", None)
    for name in [n for n in sys.modules if n.startswith("keras_rnnofrnns.tuning")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=r"pip install keras-tuner.*keras-rnnofrnns\[tuning\]"):
        importlib.import_module("keras_rnnofrnns.tuning")


def test_package_imports_without_keras_tuner():
    # Statically, not in a fresh interpreter: that would cost a Keras import
    # (5 to 10 s) per backend. Outside tuning/, no module may import
    # keras_tuner or the tuning package.
    package = os.path.join(ROOT, "keras_rnnofrnns")
    offenders = []
    for folder, _, files in os.walk(package):
        if os.path.relpath(folder, package).split(os.sep)[0] == "tuning":
            continue
        for file in (f for f in files if f.endswith(".py")):
            path = os.path.join(folder, file)
            with open(path) as source:
                tree = ast.parse(source.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""  # None for `from . import x`.
                    names = [base] + [f"{base}.{alias.name}" for alias in node.names]
                else:
                    continue
                # Inside the package only the tuning package is called so.
                if any({"keras_tuner", "tuning"} & set(n.split(".")) for n in names):
                    offenders.append(os.path.relpath(path, ROOT))
    assert offenders == []


# --------------------------------------------------------------------------
# Searches on MNIST, through the example's command line.
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example():
    return _load_example()


def _command(directory, data_dir, max_trials, dt="0.03"):
    return [
        "--task", "psmnist", "--tuner", "random", "--max-trials", str(max_trials),
        "--epochs", "1", "--limit-train", "64", "--limit-test", "16",
        "--validation-split", "0.25", "--batch-size", "32", "--top", "1",
        "--modules", "2", "--units", "4", "--directory", str(directory),
        "--project-name", "search", "--methods", "adadiag-tanh", "adadiag-clip",
        "--dt", dt, "--data-dir", data_dir, "--quiet",
    ]


def _checkpoint_times(folder):
    return {
        name: os.stat(os.path.join(folder, name, "checkpoint.weights.h5")).st_mtime_ns
        for name in sorted(os.listdir(folder))
        if name.startswith("trial_")
    }


def test_search_writes_summary_and_resumes_without_rerunning_trials(
    example, mnist_dir, tmp_path, capsys
):
    folder = tmp_path / "search"
    # An "interrupted" search: one of its two trials done.
    first = example.main(_command(tmp_path, mnist_dir, 1))
    assert first.trials_run == 1
    times = _checkpoint_times(folder)
    assert list(times) == ["trial_0"]

    # The same command with the full budget runs only the missing trial.
    second = example.main(_command(tmp_path, mnist_dir, 2))
    assert second.trials_run == 1
    after = _checkpoint_times(folder)
    assert list(after) == ["trial_0", "trial_1"]
    assert after["trial_0"] == times["trial_0"]

    # And once more, not quiet: nothing left to run, nothing retrained, and
    # the search names the device it trains on.
    capsys.readouterr()
    third = example.main([arg for arg in _command(tmp_path, mnist_dir, 2) if arg != "--quiet"])
    assert third.trials_run == 0
    assert f"Training on: {describe_devices()}\n" in capsys.readouterr().out
    assert _checkpoint_times(folder) == after
    assert len(third.tuner.oracle.trials) == 2

    summary = json.loads((folder / "summary.json").read_text())
    assert summary["task"] == "psmnist" and summary["trials_completed"] == 2
    assert summary["trials_run_now"] == 0 and summary["max_coupling_blocks"] == 1
    assert [row["rank"] for row in summary["trials"]] == [1, 2]
    scores = [row["val_accuracy"] for row in summary["trials"]]
    assert scores == sorted(scores, reverse=True)
    for row in summary["trials"]:
        assert row["method"] in ("adadiag-tanh", "adadiag-clip") and row["dt"] == 0.03
        assert row["coupling_density"] == row["coupling_blocks"] / 1
        assert 1e-4 <= row["learning_rate"] <= 1e-2
    (best,) = summary["best"]
    assert 0.0 <= best["test_accuracy"] <= 1.0
    assert best["trial_id"] == summary["trials"][0]["trial_id"]

    table = (folder / "summary.md").read_text()
    assert "| rank | trial | method | C | density |" in table
    assert f"| 1 | {best['trial_id']} | {best['method']} |" in table
    with open(folder / "accuracy_vs_density.png", "rb") as f:
        assert f.read(8) == PNG_MAGIC

    # Resuming with another space is refused before any training.
    with pytest.raises(ValueError, match="`dt` is stored as"):
        example.main(_command(tmp_path, mnist_dir, 3, dt="0.05"))
    assert _checkpoint_times(folder) == after

    # Resuming with other data or training is refused before any training.
    for flag, value in (("--epochs", "2"), ("--batch-size", "16"), ("--limit-train", "48")):
        argv = _command(tmp_path, mnist_dir, 3)
        argv[argv.index(flag) + 1] = value
        with pytest.raises(ValueError, match="made with other .*expected the same data"):
            example.main(argv)
    assert _checkpoint_times(folder) == after


@pytest.mark.parametrize(
    "flag, value", [("--max-trials", "0"), ("--epochs", "0"), ("--validation-split", "1.5"),
                    ("--top", "0"), ("--limit-train", "0"), ("--seed", str(2**32))],
)  # fmt: skip
def test_command_line_errors_come_before_any_data_is_read(
    example, flag, value, tmp_path, monkeypatch, capsys
):
    def load_task(*args, **kwargs):
        raise AssertionError("the data was read before the arguments were checked")

    monkeypatch.setattr(example, "load_task", load_task)
    argv = _command(tmp_path, "unused", 2)
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]
    with pytest.raises(SystemExit) as exit_info:
        example.main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "usage:" in error and f"Invalid `{flag[2:].replace('-', '_')}`" in error
