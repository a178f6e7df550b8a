"""Time-series runs on the experiment runner: protocol, records, figures, report.

The runs use a tiny UCR-format dataset written here (two classes a sine and
a ramp can tell apart), so they need no downloaded data; the committed
results document is checked against the committed records.
"""

import dataclasses
import json
import os
import re

import numpy as np
import pytest
from conftest import ROOT

from keras_rnnofrnns.distribution import describe_devices
from tools.experiments import timeseries
from tools.experiments.records import load_records
from tools.experiments.runner import BaseProtocol
from tools.experiments.settings import RECORDED_SETTINGS
from tools.experiments.timeseries import (
    JOURNAL_SETTINGS,
    TimeSeriesProtocol,
    dataset_settings,
    method_family,
    render_report,
    run_timeseries,
)

TINY = dict(num_modules=2, module_size=4, coupling_blocks=(1,), epochs=2, verbose=0)


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    """`Toy_TRAIN.tsv` / `Toy_TEST.tsv`: labels 3 (sine) and 7 (ramp), 12 steps."""
    folder = tmp_path_factory.mktemp("ucr")
    rng = np.random.default_rng(0)
    steps = np.linspace(0, 1, 12)
    for split, count in (("TRAIN", 24), ("TEST", 16)):
        lines = []
        for i in range(count):
            label = (3, 7)[i % 2]
            series = np.sin(6 * steps) if label == 3 else steps
            series = series + 0.1 * rng.normal(size=steps.size)
            lines.append("\t".join([str(label)] + [f"{v:.5f}" for v in series]))
        (folder / f"Toy_{split}.tsv").write_text("\n".join(lines) + "\n")
    return str(folder)


def test_settings_follow_the_journal_table_and_name_the_defaults():
    settings, journal = dataset_settings("FordA", "scn-3")
    assert journal and settings["coupling_blocks"] == 120 and settings["dt"] == 0.1
    settings, _ = dataset_settings("Adiac", "lstm")  # baselines take the AdaDiag row
    assert settings == {**JOURNAL_SETTINGS["Adiac"]["adadiag"]}
    settings, journal = dataset_settings("SomethingElse", "adadiag-gated")
    assert not journal and settings == timeseries.DEFAULT_SETTINGS["adadiag"]
    assert [method_family(m) for m in ("scn-30", "adadiag-gated-cayley", "gru")] == [
        "scn", "adadiag", "baseline"
    ]
    with pytest.raises(ValueError, match="method"):
        method_family("transformer")


def test_timeseries_settings_have_flags_checks_and_records():
    parser = timeseries.build_parser()
    flags = {a.dest: a.option_strings[0] for a in parser._actions if a.option_strings}
    shared = {f.name for f in dataclasses.fields(BaseProtocol)}
    fields = {f.name for f in dataclasses.fields(TimeSeriesProtocol)}
    added = fields - shared
    assert added == {"dataset", "state_size", "pad"}
    # Every setting but the output has its flag; none of the MNIST protocol's.
    assert set(timeseries._FLAG_SETTINGS) == fields - {"dataset", "output"}
    assert set(flags) == fields | {"help", "time_budget"}
    protocol = timeseries.TimeSeriesProtocol.create(
        "Adiac", "lstm", state_size=7, pad=True, optimizer="sgd", patience=3
    )
    for name in ("state_size", "pad"):
        assert protocol.run_config("lstm")[name] == getattr(protocol, name)
    assert (protocol.optimizer, protocol.patience) == ("sgd", 3)
    with pytest.raises(ValueError, match="Invalid `state_size`: received state_size=0"):
        timeseries.TimeSeriesProtocol.create("Adiac", "lstm", state_size=0)
    with pytest.raises(ValueError, match="Invalid `pad`"):
        timeseries.TimeSeriesProtocol.create("Adiac", "lstm", pad="no")
    # The MNIST protocol's own settings are no settings of a series.
    for name, value in (("row_wise", True), ("permutation_seed", 1), ("task", "smnist")):
        with pytest.raises(TypeError, match=name):
            timeseries.TimeSeriesProtocol.create("Adiac", "lstm", **{name: value})
    # Smaller assemblies get C within their p(p-1)/2 pairs when C is not given.
    small = timeseries.TimeSeriesProtocol.create("Adiac", "scn-3", num_modules=3,
                                                 coupling_blocks=None)  # fmt: skip
    assert small.coupling_blocks == (3,)


def test_protocol_defaults_and_bad_arguments():
    protocol = TimeSeriesProtocol.create("FordA", "adadiag-gated")
    assert (protocol.num_modules, protocol.module_size, protocol.coupling_blocks) == (64, 8, (20,))
    assert (protocol.epochs, protocol.lr_drops, protocol.patience) == (250, (80, 160), 0)
    assert protocol.seeds == (0, 1, 2) and protocol.batch_size == 128
    # A smaller assembly than the row's gets at most all of its pairs.
    assert TimeSeriesProtocol.create("FordA", "scn-3", num_modules=4).coupling_blocks == (6,)
    with pytest.raises(ValueError, match="dataset"):
        TimeSeriesProtocol.create("../Adiac", "scn-3")
    with pytest.raises(ValueError, match="method"):
        TimeSeriesProtocol.create("Adiac", "rnn")
    with pytest.raises(ValueError, match="epochs"):
        TimeSeriesProtocol.create("Adiac", "scn-3", epochs=0)
    with pytest.raises(ValueError, match=r"Invalid `methods`.*each value once"):
        run_timeseries("Adiac", ["scn-3", "lstm", "scn-3"])
    with pytest.raises(ValueError, match=r"Invalid `seeds`.*each value once"):
        TimeSeriesProtocol.create("Adiac", "scn-3", seeds=(1, 1))


def test_a_baseline_takes_no_journal_readout():
    with pytest.raises(ValueError, match="Invalid `readout`: received readout='journal' for the baseline 'lstm'"):
        TimeSeriesProtocol.create("Adiac", "lstm", readout="journal")
    assert TimeSeriesProtocol.create("Adiac", "lstm", readout="dense").readout == "dense"


def test_runs_write_records_with_both_accuracies_labels_and_figures(toy_dir, tmp_path, capsys):
    output = str(tmp_path / "runs")
    records = run_timeseries(
        "Toy", ["adadiag-gated-cayley", "lstm"], seeds=(0,), data_dir=toy_dir,
        output=output, **TINY,
    )
    assembly, lstm = records
    # Each run announces its own model: a baseline is no assembly.
    printed = capsys.readouterr().out
    assert "Toy_adadiag-gated-cayley_C1_seed0: 2 x 4 assembly, dt=" in printed
    assert "Toy_lstm_C1_seed0: LSTM(128) baseline, 24 train / 16 test sequences" in printed
    assert not any("lstm" in line and "assembly" in line for line in printed.splitlines())
    for record in records:
        # The dataset is what records and file names keep as the task.
        assert record["task"] == "Toy" and record["files"]["model"].startswith("Toy_")
        assert record["finished"] and record["epochs_run"] == 2
        accuracy = record["history"]["val_accuracy"]
        assert record["final_test_accuracy"] == accuracy[-1]
        assert record["test_accuracy"] == max(accuracy)
        assert record["data_source"]["classes"] == ["3", "7"]
        # File names only: records travel between machines.
        assert record["data_source"]["source"] == ["Toy_TRAIN.tsv", "Toy_TEST.tsv"]
        assert "optimistic" in record["validation_split_note"]
        assert record["parameters"] > 0
        stem = os.path.join(output, record["files"]["model"][: -len(".keras")])
        assert open(stem + "_curve.png", "rb").read(4) == b"\x89PNG"
    assert assembly["certificate"]["certified"] is True
    assert assembly["certificate"]["discrete_contracting"] is True
    assert os.path.exists(os.path.join(output, "Toy_adadiag-gated-cayley_C1_seed0.png"))
    assert lstm["certificate"] is None and lstm["config"]["state_size"] == 128
    # The gated methods read out as the journal's code, the baselines through Dense.
    assert (assembly["config"]["readout"], lstm["config"]["readout"]) == ("journal", "dense")
    assert lstm["parameters"] == 4 * (128 * (1 + 128 + 1)) + 129 * 2
    assert lstm["trainable_parameters"] == lstm["parameters"]
    # The coupling's one-hot pair indices are constants, not parameters.
    assert 0 < assembly["trainable_parameters"] < assembly["parameters"]
    summary = json.load(open(os.path.join(output, "summary.json")))
    assert {g["method"] for g in summary["groups"]} == {"adadiag-gated-cayley", "lstm"}

    # The same call again trains nothing: both runs are finished.
    again = run_timeseries("Toy", ["lstm"], seeds=(0,), data_dir=toy_dir, output=output, **TINY)
    assert again[0]["date"] == lstm["date"]


def test_baselines_are_described_and_titled_as_what_they_are():
    gru = TimeSeriesProtocol.create("Adiac", "gru", state_size=64)
    assert gru.model_description("gru") == "GRU(64) baseline"
    assert gru.run_title("gru", 20, 1) == "Adiac GRU(64), seed 1"
    assembly = TimeSeriesProtocol.create("Adiac", "adadiag-gated")
    assert assembly.model_description("adadiag-gated") == "16 x 32 assembly, dt=0.1"
    assert assembly.run_title("adadiag-gated", 20, 1) == "Adiac adadiag-gated, C = 20, seed 1"
    with pytest.raises(ValueError, match="method"):
        timeseries.baseline_name("adadiag-gated", 128)


def test_command_line_and_report(toy_dir, tmp_path, capsys):
    output = str(tmp_path / "runs")
    timeseries.main(
        ["--dataset", "Toy", "--method", "scn-3", "--seeds", "1", "--epochs", "1",
         "--modules", "2", "--units", "4", "--coupling-blocks", "1", "--data-dir", toy_dir,
         "--output", output, "--verbose", "0"]
    )
    with pytest.raises(SystemExit):
        timeseries.main(["--dataset", "Toy", "--method", "scn-3", "--epochs", "0",
                         "--data-dir", toy_dir, "--output", output])
    assert "epochs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        timeseries.main(["--dataset", "Toy", "--method", "lstm", "lstm", "--output", output])
    assert "each value once" in capsys.readouterr().err
    for budget in ("nan", "-1", "inf"):
        with pytest.raises(SystemExit):
            timeseries.main(["--dataset", "Toy", "--method", "lstm", "--time-budget", budget,
                             "--output", output])  # fmt: skip
        assert "Invalid `time_budget`" in capsys.readouterr().err
    document = str(tmp_path / "timeseries.md")
    timeseries.main(["report", "--results", output, "--output", document])
    text = open(document).read()
    assert "## Toy" in text and "| scn-3 | 1 | 1 |" in text and "optimistic" in text
    # The read-out each run used and the device it trained on, from its record.
    device = re.escape(describe_devices())
    assert re.search(rf"\| scn-3 \| 1 \|.*\| dense \| (yes|no) \| {device} \|", text)
    with pytest.raises(SystemExit):
        timeseries.main(["report", "--results", str(tmp_path / "missing")])
    assert "does not exist" in capsys.readouterr().err


def test_committed_records_hold_the_config_their_settings_make_today():
    # A rerun compares a record's config with the protocol's: an in-progress
    # run resumes, and a finished one is skipped, only while they are equal.
    results = os.path.join(ROOT, "results", "timeseries")
    records = load_records(results, finished_only=False) if os.path.isdir(results) else []
    if not records:
        pytest.skip("no time-series records committed")
    for record in records:
        config = record["config"]
        settings = {name: config[name] for name in RECORDED_SETTINGS}
        settings["lr_drops"] = tuple(settings["lr_drops"])
        protocol = TimeSeriesProtocol.create(
            record["task"], record["method"], seeds=(record["seed"],),
            coupling_blocks=(record["coupling_blocks"],), state_size=config["state_size"],
            pad=config["pad"], **settings,
        )  # fmt: skip
        assert protocol.run_config(record["method"]) == config, record["path"]


def test_committed_document_matches_the_committed_records():
    results = os.path.join(ROOT, "results", "timeseries")
    records = load_records(results, finished_only=False) if os.path.isdir(results) else []
    if not records:
        pytest.skip("no time-series records committed")
    with open(os.path.join(ROOT, "docs", "timeseries.md")) as handle:
        assert handle.read() == render_report(records), (
            "docs/timeseries.md is stale: run `python examples/timeseries.py report`"
        )


def test_the_report_names_and_skips_malformed_records(tmp_path, toy_dir, capsys):
    output = tmp_path / "runs"
    (record,) = run_timeseries("Toy", ["scn-3"], seeds=(0,), data_dir=toy_dir,
                               output=str(output), **{**TINY, "epochs": 1})  # fmt: skip
    for name, bad in (("list", [1]), ("seconds", {**record, "epoch_seconds": {"a": 1}}),
                      ("config", {**record, "config": [1]})):  # fmt: skip
        (output / f"Toy_scn-3_C1_{name}.json").write_text(json.dumps(bad))
    document = tmp_path / "report.md"
    with pytest.warns(UserWarning, match="Toy_scn-3_C1_seconds.json: epoch_seconds is not"):
        records = timeseries.main(["report", "--results", str(output), "--output", str(document)])
    assert len(records) == 1 and "| scn-3 | 0 | 1 |" in document.read_text()


def test_the_report_refuses_a_folder_without_records_and_names_what_it_read(
    toy_dir, tmp_path, capsys, monkeypatch
):
    document = tmp_path / "timeseries.md"
    document.write_text("the committed document\n")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        timeseries.main(["report", "--results", str(tmp_path / "empty"), "--output",
                         str(document)])  # fmt: skip
    assert "holds no run records" in capsys.readouterr().err
    assert document.read_text() == "the committed document\n"

    monkeypatch.chdir(tmp_path)
    run_timeseries("Toy", ["scn-3"], seeds=(0,), data_dir=toy_dir,
                   output=str(tmp_path / "my-runs"), **{**TINY, "epochs": 1})  # fmt: skip
    timeseries.main(["report", "--results", str(tmp_path / "my-runs"), "--output",
                     str(document)])  # fmt: skip
    text = document.read_text()
    # The folder read, as typed relative to here; the epochs actually planned.
    assert "run records in `my-runs/`" in text and "results/timeseries" not in text
    assert "made for 1 epochs, not the protocol's 250" in text
