"""Tests for tools.experiments.search and examples/tune.py.

The search tests run real KerasTuner searches on a tiny subset of MNIST (a
2 x 4 assembly, 64 training examples, one epoch) through the example's
command line, then resume them; they need MNIST_DIR and are skipped without
it. Only the two diagonal strategies are searched there: they are the fast
ones on every backend, and two of them still make two series in the plot.
"""

import argparse
import importlib.util
import json
import os

import keras_tuner
import pytest
from conftest import ROOT

from keras_rnnofrnns import PAPER_METHODS
from keras_rnnofrnns.distribution import describe_devices
from keras_rnnofrnns.tuning import AssemblyHyperModel
from tools.experiments import search
from tools.experiments.search import TUNERS, make_tuner, markdown_table, run_search


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _load_example():
    spec = importlib.util.spec_from_file_location(
        "tune_example", os.path.join(ROOT, "examples", "tune.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
# Searches on MNIST, through the example's command line.
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example():
    return _load_example()


def test_help_shows_every_default_and_which_methods_are_searched(example, capsys):
    parser, args = example.parse_args([])
    for action in parser._actions:
        if action.option_strings and action.help and not isinstance(
            action, (argparse._HelpAction, argparse._StoreTrueAction)
        ):
            # Those with a default value, and those whose default is not
            # a value (all examples, a range searched, ...).
            if action.default is not None or action.dest in (
                "methods", "project_name", "limit_train", "limit_test", "data_dir",
                "patience", "coupling_blocks_range", "dt_range", "learning_rate_range",
            ):  # fmt: skip
                assert "default" in action.help, action.option_strings
    with pytest.raises(SystemExit):
        example.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: smnist)" in text and "(default: random)" in text
    assert f"default: the paper's four, {' '.join(PAPER_METHODS)};" in text
    assert "the gated methods only when named" in text
    assert "0.01 to 0.1, log scale" in text and "0.0001 to 0.01, log scale" in text
    # Unset, the search is over the paper's four, as the help says.
    hypermodel = AssemblyHyperModel(num_modules=2, module_size=2, method=args.methods)
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    (method,) = [h for h in hp.space if h.name == "method"]
    assert tuple(method.values) == PAPER_METHODS


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
    assert first.trials_run == 1 and first.trial_ids_run == ["0"]
    times = _checkpoint_times(folder)
    assert list(times) == ["trial_0"]

    # The same command with the full budget runs only the missing trial.
    second = example.main(_command(tmp_path, mnist_dir, 2))
    assert second.trials_run == 1 and second.trial_ids_run == ["1"]
    after = _checkpoint_times(folder)
    assert list(after) == ["trial_0", "trial_1"]
    assert after["trial_0"] == times["trial_0"]

    # And once more, not quiet: nothing left to run, nothing retrained, and
    # the search names the device it trains on.
    capsys.readouterr()
    third = example.main([arg for arg in _command(tmp_path, mnist_dir, 2) if arg != "--quiet"])
    assert third.trials_run == 0 and third.trial_ids_run == []
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
    with pytest.raises(ValueError, match=r"made with other seed \(0, now 7\)"):
        example.main([*_command(tmp_path, mnist_dir, 3), "--seed", "7"])
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


def test_search_refuses_data_that_is_not_a_task(tmp_path):
    hypermodel = AssemblyHyperModel(2, 4, sequence_length=28)
    with pytest.raises(ValueError, match=r"Invalid `data`: received data=.*expected the TaskData"):
        run_search(hypermodel, ([[0.0]], [0]), directory=str(tmp_path))


SEARCH_SETTINGS = {"task": "psmnist", "epochs": 1, "batch_size": 32, "seed": 0}


@pytest.mark.parametrize("content", ['{"task": "psm', "[1, 2]", ""])
def test_a_damaged_settings_file_is_refused_not_ignored(content, tmp_path):
    path = tmp_path / search.SETTINGS_JSON
    path.write_text(content)
    with pytest.raises(ValueError, match=r"settings file .*search_settings\.json.* is damaged"):
        search._check_same_settings(str(tmp_path), SEARCH_SETTINGS, trials=2)
    assert path.read_text() == content  # Left for the user to restore.


def test_the_seed_is_compared_and_older_files_without_it_resume(tmp_path):
    search._check_same_settings(str(tmp_path), SEARCH_SETTINGS, trials=0)
    with pytest.raises(ValueError, match=r"seed \(0, now 3\)"):
        search._check_same_settings(str(tmp_path), {**SEARCH_SETTINGS, "seed": 3}, trials=1)
    older = {k: v for k, v in SEARCH_SETTINGS.items() if k != "seed"}
    (tmp_path / search.SETTINGS_JSON).write_text(json.dumps(older))
    search._check_same_settings(str(tmp_path), {**SEARCH_SETTINGS, "seed": 3}, trials=1)
