"""The MNIST protocol's settings: flags, defaults, checks, records and table.

Each test walks the settings of `Protocol` (`PAPER_DEFAULTS`: its fields
but the task, the presets and the output), so a field added to the
dataclass is covered here without a new test (the time-series protocol's
own settings are test_timeseries.py's); the tables of test values below must
name every setting, so a new one fails until it is given a value to try.
"""

import dataclasses
import os

import numpy as np
import pytest
from conftest import ROOT

from tools.experiments.tasks import TaskData

from tools.experiments import records, runner, settings, table
from tools.experiments.runner import PAPER_DEFAULTS, QUICK_DEFAULTS
from tools.experiments.settings import PROTOCOL_KEYS, RECORDED_SETTINGS, TABLE_WORDS

# A valid value other than the paper's of every setting, as a flag's words
# and as the value the protocol then holds.
OTHER_VALUES = {
    "methods": (["adadiag-clip", "scn-3"], ("adadiag-clip", "scn-3")),
    "num_modules": (["3"], 3),
    "module_size": (["5"], 5),
    "coupling_blocks": (["1", "2"], (1, 2)),
    "seeds": (["4"], (4,)),
    "dt": (["0.05"], 0.05),
    "epochs": (["7"], 7),
    "batch_size": (["9"], 9),
    "learning_rate": (["0.02"], 0.02),
    "optimizer": (["sgd"], "sgd"),
    "lr_drops": (["3,5"], (3, 5)),
    "patience": (["2"], 2),
    "readout": (["dense"], "dense"),
    "limit_train": (["11"], 11),
    "limit_test": (["12"], 12),
    "row_wise": ([], True),
    "permutation_seed": (["6"], 6),
    "data_dir": (["somewhere"], "somewhere"),
    "data_parallel": ([], True),
    "verbose": (["0"], 0),
}

# A value every setting refuses, and the name its error must give.
BAD_VALUES = {
    "methods": (("transformer",), "method"),
    "num_modules": (0, "num_modules"),
    "module_size": (1.5, "module_size"),
    "coupling_blocks": ((200,), "coupling_blocks"),
    "seeds": ((-1,), "seed"),
    "dt": (-0.1, "dt"),
    "epochs": (0, "epochs"),
    "batch_size": ("32", "batch_size"),
    "learning_rate": (float("inf"), "learning_rate"),
    "optimizer": ("adagrad", "optimizer"),
    "lr_drops": ((0,), "lr_drops"),
    "patience": (-1, "patience"),
    "readout": ("softmax", "readout"),
    "limit_train": (0, "limit_train"),
    "limit_test": (-5, "limit_test"),
    "row_wise": ("yes", "row_wise"),
    "permutation_seed": (-1, "permutation_seed"),
    "data_parallel": (1, "data_parallel"),
    "verbose": (3, "verbose"),
}


def _flags(parser):
    """Setting name -> its flag, of the flags of `parser`."""
    return {a.dest: a.option_strings[0] for a in parser._actions if a.option_strings}


def test_the_tables_above_name_every_setting():
    names = set(PAPER_DEFAULTS)
    fields = {f.name for f in dataclasses.fields(runner.Protocol)}
    assert names == fields - {"task", "quick", "journal", "output"}
    assert set(OTHER_VALUES) == names
    # data_dir is any folder: the loader refuses a wrong one.
    assert set(BAD_VALUES) == names - {"data_dir"}


def test_every_setting_has_a_flag_that_reaches_the_protocol():
    flags = _flags(runner.build_parser("psmnist"))
    argv = []
    for name in PAPER_DEFAULTS:
        assert name in flags, name
        argv += [flags[name], *OTHER_VALUES[name][0]]
    protocol = runner.parse_protocol("psmnist", argv)
    for name, default in PAPER_DEFAULTS.items():
        expected = OTHER_VALUES[name][1]
        assert expected != default
        assert getattr(protocol, name) == expected, name
    # sMNIST has no permutation: every other setting has its flag there too.
    assert set(PAPER_DEFAULTS) - set(_flags(runner.build_parser("smnist"))) == {
        "permutation_seed"
    }


def test_flags_left_out_take_the_declared_defaults():
    assert runner.parse_protocol("smnist", []) == runner.Protocol.create("smnist")
    # The dataclass defaults are the paper's values, the quick ones differ.
    fields = {f.name: f.default for f in dataclasses.fields(runner.Protocol)}
    quick = runner.Protocol.create("smnist", quick=True)
    for name, default in PAPER_DEFAULTS.items():
        assert fields[name] == default
        assert getattr(runner.Protocol.create("smnist"), name) == default
        assert getattr(quick, name) == QUICK_DEFAULTS[name]
    assert set(QUICK_DEFAULTS) == set(PAPER_DEFAULTS)
    # Without --permutation-seed (sMNIST has none) the default stands.
    assert runner.parse_protocol("smnist", []).permutation_seed == PAPER_DEFAULTS[
        "permutation_seed"
    ]


def test_a_protocol_made_directly_is_checked_too():
    protocol = runner.Protocol(task="psmnist", output="runs/psmnist")
    assert protocol == runner.Protocol.create("psmnist")
    with pytest.raises(ValueError, match="Invalid `epochs`: received epochs=0"):
        runner.Protocol(task="psmnist", output="runs/psmnist", epochs=0)
    with pytest.raises(ValueError, match="Invalid `task`: received task='mnist'"):
        runner.Protocol.create("mnist")


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_every_setting_refuses_a_bad_value_by_name(name):
    value, named = BAD_VALUES[name]
    with pytest.raises(ValueError, match=f"Invalid `{named}`: received {named}="):
        runner.Protocol.create("smnist", **{name: value})


def test_recorded_settings_land_in_records_and_in_the_summary_groups():
    protocol = runner.Protocol.create("smnist", limit_train=10, row_wise=True, readout="dense")
    config = protocol.run_config("scn-3")
    assert set(config) == set(PROTOCOL_KEYS) | {"quick"}
    assert set(RECORDED_SETTINGS) < set(PROTOCOL_KEYS)
    assert records.PROTOCOL_KEYS == PROTOCOL_KEYS
    for name in PROTOCOL_KEYS:
        value = getattr(protocol, name)
        assert config[name] == (list(value) if isinstance(value, tuple) else value), name
    assert config["lr_drops"] == list(protocol.lr_drops)  # JSON has no tuples.
    assert config["quick"] is False
    record = dict(task="smnist", method="scn-3", coupling_blocks=5, seed=0,
                  test_accuracy=0.5, epochs_run=1, config=config)  # fmt: skip
    (group,) = records.summarize([record])
    assert group["protocol"] == {key: config[key] for key in PROTOCOL_KEYS}


def test_the_table_states_the_paper_protocol_and_footnotes_each_difference():
    protocol_line = table.render_table([]).splitlines()[-1]
    stated = [name for name in TABLE_WORDS if PAPER_DEFAULTS[name] not in (None, False)]
    assert stated, "the table states no setting of the paper's protocol"
    for name in stated:
        assert TABLE_WORDS[name].format_map(PAPER_DEFAULTS) in protocol_line
    for name in TABLE_WORDS:
        values = {name: OTHER_VALUES[name][1]}
        protocol = runner.Protocol.create("smnist", coupling_blocks=(1,), **values)
        record = dict(task="smnist", method="adadiag-clip", coupling_blocks=20, seed=0,
                      test_accuracy=0.9, epochs_run=1,
                      config=protocol.run_config("adadiag-clip"))  # fmt: skip
        text = table.render_table([record])
        wording = TABLE_WORDS[name].format_map(protocol.run_config("adadiag-clip"))
        assert f"[1] differs from the paper's setup: {wording}." in text, name
    paper = runner.Protocol.create("smnist").run_config("adadiag-clip")
    assert table._deviation(paper) == ""
    # A switch an older record lacks was off.
    assert table._deviation({**paper, "row_wise": None}) == ""


def test_table_text_lists_each_wording_once():
    assert settings.table_text(TABLE_WORDS, PAPER_DEFAULTS).count("assembly") == 1
    assert settings.table_text(TABLE_WORDS, {}) == ""


def test_the_committed_journal_runs_resume_with_their_command():
    # `psmnist.py --journal --method M --seeds 0 --output results/mnist`: a
    # rerun resumes them only while the record's config equals the protocol's.
    results = os.path.join(ROOT, "results", "mnist")
    runs = records.load_records(results, finished_only=False) if os.path.isdir(results) else []
    if not runs:
        pytest.skip("no MNIST records committed")
    for record in runs:
        argv = ["--journal", "--method", record["method"], "--seeds", str(record["seed"]),
                "--output", results]  # fmt: skip
        protocol = runner.parse_protocol(record["task"], argv)
        assert protocol.run_config(record["method"]) == record["config"], record["path"]


def test_the_number_of_classes_comes_from_the_labels():
    data = TaskData("smnist", np.zeros((4, 3, 1)), np.array([0, 2, 1, 0]),
                    np.zeros((2, 3, 1)), np.array([3, 0]), "folder")  # fmt: skip
    assert runner.Protocol.create("smnist").num_classes(data) == 4


def test_the_recorded_readout_is_the_one_each_method_uses():
    protocol = runner.Protocol.create("psmnist")
    assert protocol.readout is None
    assert protocol.run_config("adadiag-gated")["readout"] == "journal"
    assert protocol.run_config("adadiag-gated-cayley")["readout"] == "journal"
    assert protocol.run_config("adadiag-clip")["readout"] == "dense"
    dense = runner.Protocol.create("psmnist", readout="dense")
    assert dense.run_config("adadiag-gated")["readout"] == "dense"
    # Runs with other read-outs are never averaged together.
    assert "readout" in PROTOCOL_KEYS


def test_the_journal_preset_is_the_journal_mnist_protocol():
    protocol = runner.parse_protocol("psmnist", ["--journal"])
    assert protocol.journal and not protocol.quick
    assert protocol.methods == ("adadiag-gated", "adadiag-gated-cayley")
    assert (protocol.num_modules, protocol.module_size, protocol.coupling_blocks) == (16, 32, (20,))
    assert (protocol.batch_size, protocol.optimizer, protocol.learning_rate) == (128, "adam", 1e-3)
    assert (protocol.lr_drops, protocol.epochs, protocol.patience) == ((80, 160), 250, 0)
    assert protocol.output == "runs/psmnist-journal"
    assert "no early stopping" in protocol.validation_note
    # Flags override the preset; the paper's protocol keeps its own note.
    short = runner.parse_protocol("smnist", ["--journal", "--epochs", "10", "--seeds", "0"])
    assert (short.epochs, short.seeds, short.lr_drops) == (10, (0,), (80, 160))
    assert runner.Protocol.create("smnist").validation_note == runner.VALIDATION_NOTE


def test_the_presets_exclude_each_other():
    with pytest.raises(ValueError, match="Invalid `journal`: received journal=True with quick=True"):
        runner.Protocol.create("psmnist", quick=True, journal=True)
    with pytest.raises(ValueError, match="Invalid `journal`: received journal='yes'"):
        runner.Protocol.create("psmnist", journal="yes")


@pytest.mark.parametrize(
    "name, values",
    [("seeds", (0, np.int64(0))), ("coupling_blocks", (5, 20, 5)),
     ("methods", ("scn-3", "scn-3")), ("lr_drops", (3, 3))],
)  # fmt: skip
def test_a_repeated_value_in_a_grid_is_refused(name, values, capsys):
    # Two runs of one name would train side by side into the same files.
    with pytest.raises(ValueError, match=rf"Invalid `{name}`: .*expected each value once"):
        runner.Protocol.create("smnist", **{name: values})
    flag = {"seeds": "--seeds", "coupling_blocks": "--coupling-blocks", "methods": "--method"}
    if name in flag:
        with pytest.raises(SystemExit):
            runner.parse_protocol("smnist", [flag[name], *map(str, values)])
        assert "each value once" in capsys.readouterr().err


@pytest.mark.parametrize("output", ["", "a-file"])
def test_an_output_that_is_a_file_or_empty_is_refused(output, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(ValueError, match=rf"Invalid `output`: received output='{output}'"):
        runner.Protocol.create("smnist", output=output)
    with pytest.raises(SystemExit):
        runner.parse_protocol("smnist", ["--output", output])
    assert "Invalid `output`" in capsys.readouterr().err
