"""The protocol's settings are declared once: flags, checks, records and table follow.

Each test walks `SETTINGS`, so a setting added to the declaration is
covered here without a new test (the time-series protocol's own settings
are test_timeseries.py's); the tables of test values below must name every
setting, so a new one fails until it is given a value to try.
"""

import dataclasses

import numpy as np

import pytest

from tools.experiments import records, runner, settings, table
from tools.experiments.settings import (
    PAPER_DEFAULTS,
    PROTOCOL_KEYS,
    QUICK_DEFAULTS,
    SETTINGS,
)

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


def _by_name(declared):
    return {setting.name: setting for setting in declared}


def test_the_tables_above_name_every_setting():
    names = set(_by_name(SETTINGS))
    assert set(OTHER_VALUES) == names
    # data_dir is any folder: the loader refuses a wrong one.
    assert set(BAD_VALUES) == names - {"data_dir"}
    assert len(names) == len(SETTINGS), "a setting is declared twice"


def test_every_setting_has_a_flag_that_reaches_the_protocol():
    parser = runner.build_parser("psmnist")
    flags = {flag for action in parser._actions for flag in action.option_strings}
    argv = []
    for setting in SETTINGS:
        assert setting.flag in flags
        argv += [setting.flag, *OTHER_VALUES[setting.name][0]]
    protocol = runner.parse_protocol("psmnist", argv)
    for setting in SETTINGS:
        expected = OTHER_VALUES[setting.name][1]
        assert expected != setting.default
        assert getattr(protocol, setting.name) == expected, setting.name


def test_flags_left_out_take_the_declared_defaults():
    assert runner.parse_protocol("smnist", []) == runner.Protocol.create("smnist")
    # The dataclass defaults are the paper's values, the quick ones differ.
    fields = {f.name: f.default for f in dataclasses.fields(runner.Protocol)}
    for setting in SETTINGS:
        assert fields[setting.name] == setting.default == PAPER_DEFAULTS[setting.name]
        quick = runner.Protocol.create("smnist", quick=True)
        assert getattr(quick, setting.name) == QUICK_DEFAULTS[setting.name]
    # Without --permutation-seed (sMNIST has none) the default stands.
    assert runner.parse_protocol("smnist", []).permutation_seed == PAPER_DEFAULTS[
        "permutation_seed"
    ]


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_every_setting_refuses_a_bad_value_by_name(name):
    value, named = BAD_VALUES[name]
    with pytest.raises(ValueError, match=f"Invalid `{named}`: received {named}="):
        runner.Protocol.create("smnist", **{name: value})


def test_recorded_settings_land_in_records_and_in_the_summary_groups():
    protocol = runner.Protocol.create("smnist", limit_train=10, row_wise=True, readout="dense")
    config = protocol.run_config("scn-3")
    recorded = [s for s in SETTINGS if s.recorded]
    assert PROTOCOL_KEYS == tuple(s.name for s in recorded)
    assert records.PROTOCOL_KEYS == PROTOCOL_KEYS
    for setting in recorded:
        assert config[setting.name] == setting.record_value(getattr(protocol, setting.name))
    assert config["lr_drops"] == list(protocol.lr_drops)  # JSON has no tuples.
    record = dict(task="smnist", method="scn-3", coupling_blocks=5, seed=0,
                  test_accuracy=0.5, epochs_run=1, config=config)  # fmt: skip
    (group,) = records.summarize([record])
    assert group["protocol"] == {key: config[key] for key in PROTOCOL_KEYS}


def test_the_table_states_the_paper_protocol_and_footnotes_each_difference():
    protocol_line = table.render_table([]).splitlines()[-1]
    stated = [s for s in SETTINGS if s.table and s.default not in (None, False)]
    assert stated, "the table states no setting of the paper's protocol"
    for setting in stated:
        assert setting.table.format_map(PAPER_DEFAULTS) in protocol_line
    for setting in (s for s in SETTINGS if s.table):
        values = {setting.name: OTHER_VALUES[setting.name][1]}
        protocol = runner.Protocol.create("smnist", coupling_blocks=(1,), **values)
        record = dict(task="smnist", method="adadiag-clip", coupling_blocks=20, seed=0,
                      test_accuracy=0.9, epochs_run=1,
                      config=protocol.run_config("adadiag-clip"))  # fmt: skip
        text = table.render_table([record])
        wording = setting.table.format_map(protocol.run_config("adadiag-clip"))
        assert f"[1] differs from the paper's setup: {wording}." in text, setting.name
    paper = runner.Protocol.create("smnist").run_config("adadiag-clip")
    assert table._deviation(paper) == ""


def test_table_text_lists_each_wording_once():
    assert settings.table_text(SETTINGS, PAPER_DEFAULTS).count("assembly") == 1
    assert settings.table_text(SETTINGS, {}) == ""


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
