"""Tests for keras_rnnofrnns.data.ucr (no network; a few seconds in all).

Tests on the real data read the folder named by the UCR_DIR environment
variable and are skipped when it is unset. Everything else uses small files
written to tmp_path, and a fake aeon module where aeon is needed.
"""

import gzip
import json
import os
import pickle
import sys
import types

import numpy as np
import pytest
from conftest import assert_imports_only_numpy_and_stdlib, unset_env, write_file

from keras_rnnofrnns.data import UCRDataset, UCRSplit, load_ucr
from keras_rnnofrnns.data import ucr

# --------------------------------------------------------------------------
# Helpers and fixtures.
# --------------------------------------------------------------------------


def _write(path, text, gz=False):
    return write_file(path, text.encode("utf-8"), gz)


def _tsv_text(rows):
    """rows: (label, values) pairs -> UCR 2018 text."""
    return "".join(
        "\t".join([str(label)] + [str(v) for v in values]) + "\n"
        for label, values in rows
    )


def _write_tsv(folder, name, train, test, gz=False):
    os.makedirs(folder, exist_ok=True)
    return (
        _write(os.path.join(folder, f"{name}_TRAIN.tsv"), _tsv_text(train), gz),
        _write(os.path.join(folder, f"{name}_TEST.tsv"), _tsv_text(test), gz),
    )


def _ts_text(series, labels, header=None, declared=None):
    """series: list of (T, C) arrays -> UEA .ts text."""
    if declared is None:
        declared = sorted(set(labels))
    if header is None:
        header = [
            "@problemName Toy",
            "@timeStamps false",
            "@missing false",
            "@univariate " + ("true" if series[0].shape[1] == 1 else "false"),
            f"@dimensions {series[0].shape[1]}",
            "@equalLength false",
            "@classLabel true " + " ".join(declared),
        ]
    lines = ["# A toy data set.", *header, "@data"]
    for s, label in zip(series, labels):
        dims = [",".join(repr(float(v)) for v in s[:, c]) for c in range(s.shape[1])]
        lines.append(":".join(dims) + ":" + label)
    return "\n".join(lines) + "\n"


def _write_ts(folder, name, train, test, gz=False):
    """train/test: (series, labels) or already-made text."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for split, content in (("TRAIN", train), ("TEST", test)):
        text = content if isinstance(content, str) else _ts_text(*content)
        paths.append(_write(os.path.join(folder, f"{name}_{split}.ts"), text, gz))
    return tuple(paths)


def _series(rng, lengths, channels):
    return [rng.standard_normal((t, channels)).round(4) for t in lengths]


@pytest.fixture(autouse=True)
def _fixed_seeds():
    # Overrides conftest's fixture of the same name: the loader is numpy-only,
    # so Keras's seeding and clear_session (a garbage collection after every
    # test, most of this file's run time) are not needed here.
    yield


@pytest.fixture
def no_aeon(monkeypatch):
    # A None entry in sys.modules makes `import aeon` fail, so no test can
    # ever reach the network.
    monkeypatch.setitem(sys.modules, "aeon", None)
    monkeypatch.setitem(sys.modules, "aeon.datasets", None)


def _fake_aeon(monkeypatch, splits=None, error=None):
    """Installs a fake aeon.datasets; returns the list of recorded calls."""
    calls = []

    def load_classification(name, split=None):
        calls.append((name, split))
        if error is not None:
            raise error
        return splits[split]

    package = types.ModuleType("aeon")
    datasets = types.ModuleType("aeon.datasets")
    datasets.load_classification = load_classification
    package.datasets = datasets
    monkeypatch.setitem(sys.modules, "aeon", package)
    monkeypatch.setitem(sys.modules, "aeon.datasets", datasets)
    return calls


TRAIN_ROWS = [(1, [0.5, 0.25, 0.0]), (-1, [1.0, 2.0, 3.0]), (1, [-1.5, 2.5, 7.0])]
TEST_ROWS = [(-1, [4.0, 5.0, 6.0]), (1, [0.125, 0.0, -0.5])]


# --------------------------------------------------------------------------
# Reading .tsv and .ts files.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_tsv_values_labels_and_metadata(tmp_path, gz):
    paths = _write_tsv(tmp_path, "Toy", TRAIN_ROWS, TEST_ROWS, gz=gz)
    data = load_ucr("Toy", tmp_path)
    (x_train, y_train), (x_test, y_test) = data
    assert x_train.dtype == np.float32 and x_train.shape == (3, 3, 1)
    assert x_test.dtype == np.float32 and x_test.shape == (2, 3, 1)
    np.testing.assert_array_equal(
        x_train[:, :, 0], [values for _, values in TRAIN_ROWS]
    )
    np.testing.assert_array_equal(x_test[:, :, 0], [values for _, values in TEST_ROWS])
    assert y_train.dtype == np.int32
    assert y_train.tolist() == [1, 0, 1] and y_test.tolist() == [0, 1]
    assert data.classes == ("-1", "1")
    assert data.name == "Toy"
    assert data.source == paths
    assert all(os.path.isabs(p) for p in data.source)
    assert data.train_lengths.tolist() == [3, 3, 3]
    assert data.test_lengths.tolist() == [3, 3]
    assert not data.padded and data.series_length == 3 and data.num_channels == 1


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_ts_multivariate_values(tmp_path, gz):
    rng = np.random.default_rng(0)
    train = (_series(rng, [5, 5, 5], 3), ["b", "a", "b"])
    test = (_series(rng, [5, 5], 3), ["a", "a"])
    _write_ts(tmp_path, "Multi", train, test, gz=gz)
    (x_train, y_train), (x_test, y_test) = data = load_ucr("Multi", tmp_path)
    assert x_train.shape == (3, 5, 3) and x_test.shape == (2, 5, 3)
    np.testing.assert_allclose(x_train, np.stack(train[0]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(x_test, np.stack(test[0]), rtol=0, atol=1e-6)
    assert data.classes == ("a", "b")
    assert y_train.tolist() == [1, 0, 1] and y_test.tolist() == [0, 0]
    assert data.source[0].endswith("Multi_TRAIN.ts" + (".gz" if gz else ""))


def test_ts_header_variants_case_comments_and_eq_tags(tmp_path):
    # Tag case, @dimension (singular), comments and blank lines all occur in
    # the archive; @seriesLength and @equalLength true are checked and met.
    text = "\n".join([
        "# comment", "@PROBLEMNAME toy", "@timestamps FALSE", "",
        "@Univariate false", "@dimension 2", "@EqualLength true",
        "@seriesLength 3", "@classlabel TRUE x y", "# before data", "@DATA",
        "1,2,3:4,5,6:y", "", "# between series", "7,8,9:10,11,12:x", "",
    ])
    _write_ts(tmp_path, "Tags", text, text)
    (x_train, y_train), _ = load_ucr("Tags", tmp_path)
    np.testing.assert_array_equal(
        x_train, [[[1, 4], [2, 5], [3, 6]], [[7, 10], [8, 11], [9, 12]]]
    )
    assert y_train.tolist() == [1, 0]


def test_ts_without_dimension_tags_takes_them_from_the_data(tmp_path):
    text = "@problemName t\n@classLabel true 1 2\n@data\n1,2:3,4:1\n5,6:7,8:2\n"
    _write_ts(tmp_path, "NoDims", text, text)
    data = load_ucr("NoDims", tmp_path)
    assert data.train.x.shape == (2, 2, 2)


def test_mixed_plain_and_gzip_splits(tmp_path):
    _write(tmp_path / "Mix_TRAIN.tsv", _tsv_text(TRAIN_ROWS), gz=True)
    _write(tmp_path / "Mix_TEST.tsv", _tsv_text(TEST_ROWS), gz=False)
    data = load_ucr("Mix", tmp_path)
    assert data.source[0].endswith("Mix_TRAIN.tsv.gz")
    assert data.source[1].endswith("Mix_TEST.tsv")
    assert data.train.y.tolist() == [1, 0, 1]


def test_crlf_line_endings(tmp_path):
    text = _tsv_text(TRAIN_ROWS).replace("\n", "\r\n")
    _write(tmp_path / "Crlf_TRAIN.tsv", text)
    _write(tmp_path / "Crlf_TEST.tsv", text)
    assert load_ucr("Crlf", tmp_path).train.x.shape == (3, 3, 1)


# --------------------------------------------------------------------------
# Label mapping.
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "train_labels, test_labels, classes",
    [
        (["1", "-1", "1"], ["-1"], ("-1", "1")),
        (["10", "2", "1", "9"], ["2", "10"], ("1", "2", "9", "10")),
        (["0.5", "-2", "3"], ["3"], ("-2", "0.5", "3")),
        (["cat", "ant", "bee"], ["bee"], ("ant", "bee", "cat")),
        # Not all numbers: string order, so '10' < '2' < 'a'.
        (["2", "a", "10"], ["a"], ("10", "2", "a")),
        # A test label absent from train is a class of its own.
        (["1", "2"], ["3", "1"], ("1", "2", "3")),
    ],
)
def test_label_mapping_is_sorted_and_shared(tmp_path, train_labels, test_labels,
                                            classes):
    train = [(label, [float(i), 1.0]) for i, label in enumerate(train_labels)]
    test = [(label, [float(i), 2.0]) for i, label in enumerate(test_labels)]
    _write_tsv(tmp_path, "Labels", train, test)
    data = load_ucr("Labels", tmp_path)
    assert data.classes == classes
    assert [data.classes[k] for k in data.train.y] == train_labels
    assert [data.classes[k] for k in data.test.y] == test_labels


@pytest.mark.parametrize(
    "train_labels, test_labels, classes",
    [
        (["1", "2"], ["1.0", "2.0"], ("1", "2")),
        (["01", "-1"], ["1", "-1.0"], ("-1", "1")),
        (["2.50", "10"], ["2.5", "1e1"], ("2.5", "10")),
    ],
)
def test_the_same_number_spelled_otherwise_is_the_same_class(
    tmp_path, train_labels, test_labels, classes
):
    train = [(label, [float(i), 1.0]) for i, label in enumerate(train_labels)]
    test = [(label, [float(i), 2.0]) for i, label in enumerate(test_labels)]
    _write_tsv(tmp_path, "Spelled", train, test)
    data = load_ucr("Spelled", tmp_path)
    assert data.classes == classes
    assert [float(data.classes[k]) for k in data.train.y] == [float(v) for v in train_labels]
    assert [float(data.classes[k]) for k in data.test.y] == [float(v) for v in test_labels]


@pytest.mark.parametrize("fmt", ["tsv", "ts"])
def test_a_byte_order_mark_makes_no_class(tmp_path, fmt):
    rows = [("1", [1.0, 2.0]), ("2", [3.0, 4.0])]
    if fmt == "tsv":
        paths = _write_tsv(tmp_path, "Bom", rows, rows)
    else:
        series = [np.array(v)[:, None] for _, v in rows]
        paths = _write_ts(tmp_path, "Bom", (series, ["1", "2"]), (series, ["1", "2"]))
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(b"\xef\xbb\xbf" + data)
    data = load_ucr("Bom", tmp_path)
    assert data.classes == ("1", "2") and list(data.train.y) == [0, 1]
    np.testing.assert_array_equal(data.train.x[:, :, 0], [[1.0, 2.0], [3.0, 4.0]])


def test_values_beyond_float32_are_refused_not_made_infinite(tmp_path, monkeypatch):
    big = [("1", [1.0, 2.0]), ("2", [1e39, 4.0])]
    _write_tsv(tmp_path / "tsv", "Big", big, big)
    with pytest.raises(ValueError, match=r"Big_TRAIN\.tsv', line 2: .*column 2, 1e\+39 is "
                       r"beyond the float32 range .*infinite"):
        load_ucr("Big", tmp_path / "tsv")
    series = [np.array([[1.0], [2.0]]), np.array([[3.0], [-4e38]])]
    _write_ts(tmp_path / "ts", "Big", (series, ["1", "2"]), (series, ["1", "2"]))
    with pytest.raises(ValueError, match=r"dimension 1, position 2, -4e\+38 is beyond the "
                       "float32 range"):
        load_ucr("Big", tmp_path / "ts")
    x = np.ones((2, 1, 3))
    x[1, 0, 2] = -1e300
    _fake_aeon(monkeypatch, {"train": (x, np.array(["1", "2"])),
                             "test": (x, np.array(["1", "2"]))})
    monkeypatch.delenv("UCR_DIR", raising=False)
    with pytest.raises(ValueError, match="aeon Big/train: series 1: .*float32 range"):
        load_ucr("Big")
    # The largest float32 itself loads.
    edge = [("1", [1.0, float(np.finfo(np.float32).max)]), ("2", [1.0, 2.0])]
    _write_tsv(tmp_path / "edge", "Edge", edge, edge)
    assert np.isfinite(load_ucr("Edge", tmp_path / "edge").train.x).all()


def test_ts_classes_are_the_declared_labels(tmp_path):
    rng = np.random.default_rng(1)
    # "10" is declared and used only in test; "7" is declared but never used.
    declared = ["1", "10", "2", "7"]
    train = _ts_text(_series(rng, [4, 4], 1), ["2", "1"], declared=declared)
    test = _ts_text(_series(rng, [4, 4], 1), ["10", "2"], declared=declared)
    _write_ts(tmp_path, "Decl", train, test)
    data = load_ucr("Decl", tmp_path)
    assert data.classes == ("1", "2", "7", "10")
    assert data.train.y.tolist() == [1, 0] and data.test.y.tolist() == [3, 1]


# --------------------------------------------------------------------------
# Where files are looked for.
# --------------------------------------------------------------------------


def test_subfolder_layout(tmp_path):
    _write_tsv(tmp_path / "Sub", "Sub", TRAIN_ROWS, TEST_ROWS, gz=True)
    data = load_ucr("Sub", tmp_path)
    assert data.source[0] == str(tmp_path / "Sub" / "Sub_TRAIN.tsv.gz")
    # The subfolder itself works as data_dir too.
    assert load_ucr("Sub", tmp_path / "Sub").source == data.source


def test_ts_preferred_over_tsv_and_folder_over_subfolder(tmp_path):
    rng = np.random.default_rng(2)
    _write_tsv(tmp_path, "Both", TRAIN_ROWS, TEST_ROWS)
    _write_ts(tmp_path, "Both", (_series(rng, [4], 2), ["1"]),
              (_series(rng, [4], 2), ["1"]))
    data = load_ucr("Both", tmp_path)
    assert data.source[0].endswith("Both_TRAIN.ts") and data.num_channels == 2
    _write_tsv(tmp_path / "Top", "Top", TRAIN_ROWS[:1], TEST_ROWS[:1])
    _write_tsv(tmp_path / "Top" / "Top", "Top", TRAIN_ROWS, TEST_ROWS)
    assert load_ucr("Top", tmp_path / "Top").train.x.shape[0] == 1


def test_splits_in_different_formats_are_refused(tmp_path):
    rng = np.random.default_rng(3)
    _write_ts(tmp_path, "Odd", (_series(rng, [3], 1), ["1"]),
              (_series(rng, [3], 1), ["1"]))
    os.remove(tmp_path / "Odd_TEST.ts")
    _write(tmp_path / "Odd_TEST.tsv", _tsv_text(TEST_ROWS))
    with pytest.raises(FileNotFoundError, match="one folder and one format") as e:
        load_ucr("Odd", tmp_path)
    assert "Odd_TRAIN.ts" in str(e.value) and "Odd_TEST.tsv" in str(e.value)


def test_missing_test_split_names_what_was_found(tmp_path, no_aeon):
    _write_tsv(tmp_path, "Half", TRAIN_ROWS, TEST_ROWS)
    os.remove(tmp_path / "Half_TEST.tsv")
    with pytest.raises(FileNotFoundError) as e:
        load_ucr("Half", tmp_path)
    message = str(e.value)
    assert "Half_TRAIN.tsv" in message and "Half_TEST.tsv" in message


def test_data_dir_beats_ucr_dir(tmp_path, monkeypatch, no_aeon):
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    _write_tsv(env_dir, "D", TRAIN_ROWS[:1], TEST_ROWS[:1])
    _write_tsv(arg_dir, "D", TRAIN_ROWS, TEST_ROWS)
    monkeypatch.setenv("UCR_DIR", str(env_dir))
    assert load_ucr("D", arg_dir).train.x.shape[0] == 3
    assert load_ucr("D").train.x.shape[0] == 1
    assert load_ucr("D").source[0].startswith(str(env_dir))
    # A broken UCR_DIR does not matter when data_dir is given.
    monkeypatch.setenv("UCR_DIR", str(tmp_path / "nowhere"))
    assert load_ucr("D", str(arg_dir)).train.x.shape[0] == 3


def test_data_dir_without_files_does_not_fall_back(tmp_path, monkeypatch):
    _write_tsv(tmp_path / "env", "D", TRAIN_ROWS, TEST_ROWS)
    monkeypatch.setenv("UCR_DIR", str(tmp_path / "env"))
    calls = _fake_aeon(monkeypatch, error=AssertionError("aeon must not be used"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as e:
        load_ucr("D", tmp_path / "empty")
    message = str(e.value)
    for expected in ("D_TRAIN.ts", "D_TEST.ts", "D_TRAIN.tsv", "D_TEST.tsv",
                     str(tmp_path / "empty"), str(tmp_path / "empty" / "D"),
                     "data_dir=", "UCR_DIR=", "(the data_dir argument)"):
        assert expected in message
    assert calls == []


def test_ucr_dir_without_files_does_not_fall_back_to_aeon(tmp_path, monkeypatch):
    calls = _fake_aeon(monkeypatch, error=AssertionError("aeon must not be used"))
    monkeypatch.setenv("UCR_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="Gone_TRAIN.tsv") as e:
        load_ucr("Gone")
    assert "(the environment variable UCR_DIR)" in str(e.value)
    monkeypatch.setenv("UCR_DIR", str(tmp_path / "typo"))
    with pytest.raises(FileNotFoundError, match="typo"):
        load_ucr("Gone")
    assert calls == []


@pytest.mark.parametrize("empty_env", [False, True])
def test_no_source_raises_file_not_found(monkeypatch, no_aeon, empty_env):
    unset_env(monkeypatch, "UCR_DIR", empty_env)
    with pytest.raises(FileNotFoundError, match="aeon is not installed") as e:
        load_ucr("FordA")
    message = str(e.value)
    for expected in ("FordA_TRAIN.ts", "FordA_TEST.tsv", "data_dir=", "UCR_DIR="):
        assert expected in message


def test_missing_folder(tmp_path, no_aeon):
    with pytest.raises(FileNotFoundError, match="does not exist") as e:
        load_ucr("X", tmp_path / "nothing")
    assert str(tmp_path / "nothing") in str(e.value)


# --------------------------------------------------------------------------
# aeon (a fake module: aeon is optional and online).
# --------------------------------------------------------------------------


def test_aeon_fallback_converts_layout_and_labels(monkeypatch):
    rng = np.random.default_rng(4)
    splits = {
        "train": (rng.standard_normal((4, 2, 6)), np.array(["10", "2", "1", "2"])),
        "test": (rng.standard_normal((3, 2, 6)), np.array(["1", "10", "10"])),
    }
    calls = _fake_aeon(monkeypatch, splits)
    monkeypatch.delenv("UCR_DIR", raising=False)
    (x_train, y_train), (x_test, y_test) = data = load_ucr("Fake")
    assert calls == [("Fake", "train"), ("Fake", "test")]
    assert data.source == "aeon"
    assert x_train.shape == (4, 6, 2) and x_train.dtype == np.float32
    np.testing.assert_allclose(
        x_train, splits["train"][0].transpose(0, 2, 1), rtol=1e-6
    )
    np.testing.assert_allclose(x_test, splits["test"][0].transpose(0, 2, 1), rtol=1e-6)
    assert data.classes == ("1", "2", "10")
    assert y_train.tolist() == [2, 1, 0, 1] and y_test.tolist() == [0, 2, 2]
    assert data.metadata()["source"] == "aeon"


def test_aeon_unequal_lengths(monkeypatch):
    rng = np.random.default_rng(5)
    splits = {
        "train": ([rng.standard_normal((3, t)) for t in (4, 6)], np.array(["a", "b"])),
        "test": ([rng.standard_normal((3, 5))], np.array(["b"])),
    }
    _fake_aeon(monkeypatch, splits)
    monkeypatch.delenv("UCR_DIR", raising=False)
    with pytest.raises(ValueError, match=r"unequal lengths \(4\.\.6"):
        load_ucr("Uneq")
    data = load_ucr("Uneq", pad=True)
    assert data.train.x.shape == (2, 6, 3) and data.test.x.shape == (1, 6, 3)
    assert data.train_lengths.tolist() == [4, 6] and data.test_lengths.tolist() == [5]
    np.testing.assert_allclose(data.train.x[0, :4], splits["train"][0][0].T, rtol=1e-6)
    assert not data.train.x[0, 4:].any() and not data.test.x[0, 5:].any()


def test_aeon_failure_becomes_file_not_found(monkeypatch):
    _fake_aeon(monkeypatch, error=ConnectionError("no network"))
    monkeypatch.delenv("UCR_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="no network") as e:
        load_ucr("Offline")
    assert "UCR_DIR=" in str(e.value)


def test_aeon_non_finite_values_refused(monkeypatch):
    x = np.ones((2, 1, 3))
    x[1, 0, 2] = np.nan
    _fake_aeon(monkeypatch, {"train": (x, np.array(["1", "2"])),
                             "test": (x, np.array(["1", "2"]))})
    monkeypatch.delenv("UCR_DIR", raising=False)
    with pytest.raises(ValueError, match="aeon Nan/train: series 1"):
        load_ucr("Nan")


# --------------------------------------------------------------------------
# Unequal lengths and padding.
# --------------------------------------------------------------------------

NAN = float("nan")
UNEQUAL_TRAIN = [(1, [1.0, 2.0, NAN, NAN]), (2, [3.0, 4.0, 5.0, 6.0])]
UNEQUAL_TEST = [(2, [7.0, 8.0, 9.0, NAN]), (1, [0.0, 0.0, 1.0, NAN])]


def test_tsv_nan_padding_refused_by_default(tmp_path):
    _write_tsv(tmp_path, "Var", UNEQUAL_TRAIN, UNEQUAL_TEST)
    with pytest.raises(ValueError) as e:
        load_ucr("Var", tmp_path)
    message = str(e.value)
    assert "unequal lengths (2..4" in message and "pad=True" in message


@pytest.mark.parametrize("pad_length, width", [(None, 4), (6, 6)])
def test_tsv_nan_padding_padded_on_request(tmp_path, pad_length, width):
    _write_tsv(tmp_path, "Var", UNEQUAL_TRAIN, UNEQUAL_TEST)
    data = load_ucr("Var", tmp_path, pad=True, pad_length=pad_length)
    (x_train, _), (x_test, _) = data
    assert x_train.shape == (2, width, 1) and x_test.shape == (2, width, 1)
    assert data.train_lengths.tolist() == [2, 4]
    assert data.test_lengths.tolist() == [3, 3]
    assert data.padded and data.series_length == width
    expected = np.zeros((2, width))
    expected[0, :2], expected[1, :4] = [1, 2], [3, 4, 5, 6]
    np.testing.assert_array_equal(x_train[:, :, 0], expected)
    # A mask built from the lengths marks exactly the real steps.
    mask = np.arange(width) < data.test_lengths[:, None]
    assert mask.sum() == 6 and np.isfinite(x_test).all()


def test_tsv_common_trailing_nan_is_trimmed(tmp_path):
    # Every series of both splits has length 2: equal, nothing to pad.
    rows = [(1, [1.0, 2.0, NAN]), (2, [3.0, 4.0, NAN])]
    _write_tsv(tmp_path, "Trim", rows, rows)
    data = load_ucr("Trim", tmp_path)
    assert data.train.x.shape == (2, 2, 1) and not data.padded


def test_ts_unequal_refused_then_padded(tmp_path):
    rng = np.random.default_rng(6)
    train = (_series(rng, [3, 5], 2), ["1", "2"])
    test = (_series(rng, [4], 2), ["2"])
    _write_ts(tmp_path, "VarTs", train, test)
    with pytest.raises(ValueError, match=r"unequal lengths \(3\.\.5 time steps"):
        load_ucr("VarTs", tmp_path)
    data = load_ucr("VarTs", tmp_path, pad=True)
    assert data.train.x.shape == (2, 5, 2)
    assert data.train_lengths.tolist() == [3, 5] and data.test_lengths.tolist() == [4]
    np.testing.assert_allclose(data.train.x[0, :3], train[0][0], atol=1e-6)
    assert not data.train.x[0, 3:].any() and not data.test.x[0, 4:].any()


def test_equal_lengths_in_each_split_but_not_across(tmp_path):
    _write_tsv(tmp_path, "Split", [(1, [1.0, 2.0])], [(1, [1.0, 2.0, 3.0])])
    with pytest.raises(ValueError, match=r"training split 2\.\.2, test split 3\.\.3"):
        load_ucr("Split", tmp_path)


def test_pad_length_on_equal_data_and_too_short(tmp_path):
    _write_tsv(tmp_path, "Eq", TRAIN_ROWS, TEST_ROWS)
    data = load_ucr("Eq", tmp_path, pad=True, pad_length=5)
    assert data.train.x.shape == (3, 5, 1) and data.train_lengths.tolist() == [3] * 3
    assert load_ucr("Eq", tmp_path, pad=True).train.x.shape == (3, 3, 1)
    with pytest.raises(ValueError, match=r"Invalid `pad_length`: received "
                                         r"pad_length=2; expected .*>= 3"):
        load_ucr("Eq", tmp_path, pad=True, pad_length=2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pad_length": 10}, "Invalid `pad_length`: received pad_length=10; "
                             "expected None unless pad=True"),
        ({"pad": True, "pad_length": 0}, "Invalid `pad_length`"),
        ({"pad": True, "pad_length": 2.5}, "Invalid `pad_length`"),
        ({"pad": "yes"}, "Invalid `pad`: received pad='yes'; expected True or False"),
        ({"pad": 1}, "Invalid `pad`"),
    ],
)
def test_bad_pad_arguments(tmp_path, kwargs, match):
    # Validated before any file is read.
    with pytest.raises(ValueError, match=match):
        load_ucr("Unused", tmp_path / "unused", **kwargs)


@pytest.mark.parametrize("name", ["", "  ", "a/b", "a\\b", "..", ".", None, 3,
                                  "../FordA"])
def test_bad_name(tmp_path, name):
    with pytest.raises(ValueError, match="Invalid `name`: received name=") as e:
        load_ucr(name, tmp_path)
    assert "without path separators" in str(e.value)


# --------------------------------------------------------------------------
# Malformed files: a ValueError naming the file and the line.
# --------------------------------------------------------------------------

GOOD_TSV = "1\t0.5\t1.5\t2.5\n2\t3.0\t4.0\t5.0\n"

# (train text, bad line number, words the message must contain)
BAD_TSV = {
    "ragged row": ("1\t1\t2\t3\n2\t4\t5\n", 2, "2 values, but line 1 has 3"),
    "ragged after blank line": ("1\t1\t2\n\n2\t4\t5\t6\n", 3, "3 values, but line 1"),
    "non-numeric": ("1\t1\t2\t3\n2\t4\tabc\t6\n", 2, "'abc' at column 3"),
    "empty value": ("1\t1\t\t3\n", 1, "non-numeric value ''"),
    "space separated": ("1\t1 2 3\n", 1, "'1 2 3'"),
    "NaN inside": ("1\t1\t2\t3\n2\t4\tNaN\t6\n", 2, "NaN at column 3 inside"),
    "leading NaN": ("1\tnan\t2\t3\n", 1, "NaN at column 2 inside"),
    "all NaN": ("1\t1\t2\n2\tNaN\tNaN\n", 2, "all NaN"),
    "inf": ("1\t1\t2\t3\n1\t1\t2\t3\n2\t4\tinf\t6\n", 3, "infinite value"),
    "-inf": ("1\t-inf\t2\t3\n", 1, "infinite value"),
    "label only": ("1\t1\t2\n3\n", 2, "no values after the class label '3'"),
    "empty label": ("\t1\t2\n", 1, "empty class label"),
    "missing ?": ("1\t1\t?\n", 1, "missing value '?'"),
}


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("case", sorted(BAD_TSV))
def test_malformed_tsv(tmp_path, case, gz):
    text, line_no, hint = BAD_TSV[case]
    path = _write(tmp_path / "Bad_TRAIN.tsv", text, gz)
    _write(tmp_path / "Bad_TEST.tsv", GOOD_TSV, gz)
    with pytest.raises(ValueError) as e:
        load_ucr("Bad", tmp_path)
    message = str(e.value)
    assert os.path.basename(path) in message
    assert f"line {line_no}:" in message
    assert hint in message


def _ts_file(header_lines, data_lines):
    return "\n".join(["@problemName Bad", *header_lines, "@data", *data_lines]) + "\n"


GOOD_HEADER = ["@timeStamps false", "@univariate false", "@dimensions 2",
               "@equalLength true", "@seriesLength 3", "@classLabel true a b"]
GOOD_DATA = ["1,2,3:4,5,6:a", "7,8,9:1,2,3:b"]
GOOD_TS = _ts_file(GOOD_HEADER, GOOD_DATA)


def _header(**replace):
    """GOOD_HEADER with some lines replaced (value None drops the line)."""
    lines = []
    for line in GOOD_HEADER:
        tag = line.split()[0][1:].lower()
        if tag in replace:
            if replace[tag] is not None:
                lines.append(replace[tag])
        else:
            lines.append(line)
    return lines


# (text, bad line number, words the message must contain). Line 1 is
# @problemName, lines 2-7 the header, line 8 @data, data from line 9.
BAD_TS = {
    "dimensions 3 but 2": (
        _ts_file(_header(dimensions="@dimensions 3"), GOOD_DATA), 9,
        "2 dimensions, but @dimensions declares 3 (line 4)"),
    "dimensions disagree between series": (
        _ts_file(_header(dimensions=None, univariate=None),
                 ["1,2,3:4,5,6:a", "1,2,3:b"]), 8,
        "1 dimensions, but the first series (line 7) has 2"),
    "seriesLength 4 but 3": (
        _ts_file(_header(serieslength="@seriesLength 4"), GOOD_DATA), 9,
        "3 values per dimension, but @seriesLength declares 4 (line 6)"),
    "univariate true with 2 dims": (
        _ts_file(_header(univariate="@univariate true", dimensions=None),
                 GOOD_DATA), 8,
        "2 dimensions, but @univariate true declares 1 (line 3)"),
    "univariate true and dimensions 2": (
        _ts_file(_header(univariate="@univariate true"), GOOD_DATA), 4,
        "@univariate true but @dimensions 2"),
    "undeclared label": (
        _ts_file(GOOD_HEADER, ["1,2,3:4,5,6:a", "7,8,9:1,2,3:c"]), 10,
        "class label 'c' is not declared by @classLabel (line 7"),
    "equalLength true with unequal data": (
        _ts_file(_header(serieslength=None), ["1,2,3:4,5,6:a", "7,8:1,2:b"]), 9,
        "2 values per dimension, but line 8 has 3 and @equalLength true"),
    "dimensions of unequal length": (
        _ts_file(_header(serieslength=None, equallength="@equalLength false"),
                 ["1,2,3:4,5:a"]), 8,
        "dimension 2 has 2 values but dimension 1 has 3"),
    "timeStamps true": (
        _ts_file(_header(timestamps="@timeStamps true"), GOOD_DATA), 2,
        "@timeStamps true is not supported"),
    "missing value": (
        _ts_file(GOOD_HEADER, ["1,?,3:4,5,6:a"]), 9,
        "missing value '?' in dimension 1, position 2"),
    "non-numeric": (
        _ts_file(GOOD_HEADER, ["1,2,3:4,5,6:a", "1,2,3:4,x5,6:b"]), 10,
        "non-numeric value 'x5' in dimension 2, position 2"),
    "NaN": (
        _ts_file(GOOD_HEADER, ["1,2,3:4,NaN,6:a"]), 9,
        "value 'NaN' in dimension 2, position 2 is not finite"),
    "inf": (
        _ts_file(GOOD_HEADER, ["inf,2,3:4,5,6:a"]), 9,
        "value 'inf' in dimension 1, position 1 is not finite"),
    "no @data": (
        "@problemName Bad\n" + "\n".join(GOOD_HEADER) + "\n", 0, "no @data line"),
    "data before @data": (
        "@problemName Bad\n1,2,3:a\n@data\n", 2, "data before the @data line"),
    "header after @data": (
        _ts_file(GOOD_HEADER, ["1,2,3:4,5,6:a", "@seriesLength 3"]), 10,
        "a header line after @data (line 8)"),
    "no label separator": (
        _ts_file(_header(dimensions=None, univariate=None), ["1,2,3"]), 7,
        "no ':' before the class label"),
    "classLabel false": (
        _ts_file(_header(classlabel="@classLabel false"), GOOD_DATA), 7,
        "no class labels"),
    "classLabel without labels": (
        _ts_file(_header(classlabel="@classLabel true"), GOOD_DATA), 7,
        "lists no labels"),
    "no classLabel": (
        _ts_file(_header(classlabel=None), GOOD_DATA), 0, "no @classLabel line"),
    "bad boolean": (
        _ts_file(_header(equallength="@equalLength maybe"), GOOD_DATA), 5,
        "@equallength must be followed by true or false"),
    "bad dimensions value": (
        _ts_file(_header(dimensions="@dimensions two"), GOOD_DATA), 4,
        "@dimensions must be followed by a positive integer"),
    "duplicate tag": (
        _ts_file(GOOD_HEADER + ["@dimensions 2"], GOOD_DATA), 8,
        "@dimensions appears twice (first on line 4)"),
    "targetLabel true": (
        _ts_file(GOOD_HEADER + ["@targetLabel true"], GOOD_DATA), 8,
        "regression"),
    "empty split": (_ts_file(GOOD_HEADER, ["", "# nothing"]), 0,
                    "holds no series after @data (line 8)"),
}


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("case", sorted(BAD_TS))
def test_malformed_ts(tmp_path, case, gz):
    text, line_no, hint = BAD_TS[case]
    # The bad file is the test split: the train split is read first and fine.
    _write(tmp_path / "Bad_TRAIN.ts", GOOD_TS, gz)
    path = _write(tmp_path / "Bad_TEST.ts", text, gz)
    with pytest.raises(ValueError) as e:
        load_ucr("Bad", tmp_path)
    message = str(e.value)
    assert os.path.basename(path) in message
    if line_no:
        assert f"line {line_no}:" in message
    assert hint in message


def test_good_ts_fixture_loads(tmp_path):
    # The malformed cases above are each one change away from this file.
    _write(tmp_path / "Good_TRAIN.ts", GOOD_TS)
    _write(tmp_path / "Good_TEST.ts", GOOD_TS)
    data = load_ucr("Good", tmp_path)
    assert data.train.x.shape == (2, 3, 2) and data.classes == ("a", "b")


def test_empty_tsv_split(tmp_path):
    _write(tmp_path / "E_TRAIN.tsv", GOOD_TSV)
    path = _write(tmp_path / "E_TEST.tsv", "\n\n")
    with pytest.raises(ValueError, match="holds no series") as e:
        load_ucr("E", tmp_path)
    assert path in str(e.value)


def test_channel_mismatch_between_splits(tmp_path):
    rng = np.random.default_rng(7)
    _write_ts(tmp_path, "Ch", (_series(rng, [3], 2), ["1"]),
              (_series(rng, [3], 3), ["1"]))
    with pytest.raises(ValueError, match="has 2 channels but the test split") as e:
        load_ucr("Ch", tmp_path)
    assert "Ch_TEST.ts" in str(e.value)


def test_corrupt_gzip_and_non_utf8(tmp_path):
    packed = gzip.compress(GOOD_TSV.encode())
    (tmp_path / "Gz_TRAIN.tsv.gz").write_bytes(packed[: len(packed) // 2])
    _write(tmp_path / "Gz_TEST.tsv", GOOD_TSV)
    with pytest.raises(ValueError, match="corrupt or truncated gzip") as e:
        load_ucr("Gz", tmp_path)
    assert "Gz_TRAIN.tsv.gz" in str(e.value)
    (tmp_path / "U_TRAIN.tsv").write_bytes(b"1\t1\t2\n2\t\xff\t3\n")
    _write(tmp_path / "U_TEST.tsv", GOOD_TSV)
    with pytest.raises(ValueError, match="line 2: not UTF-8") as e:
        load_ucr("U", tmp_path)
    assert "U_TRAIN.tsv" in str(e.value)


# --------------------------------------------------------------------------
# The result type.
# --------------------------------------------------------------------------


def test_result_is_a_read_only_pair_with_metadata(tmp_path):
    _write_tsv(tmp_path, "R", TRAIN_ROWS, TEST_ROWS)
    data = load_ucr("R", tmp_path)
    assert isinstance(data, tuple) and isinstance(data, UCRDataset)
    assert len(data) == 2
    train, test = data
    assert isinstance(train, UCRSplit) and len(train) == 2
    assert data.train is data[0] and data.test is data[1]
    assert data.train.x is data[0][0] and data.test.y is data[1][1]
    with pytest.raises(AttributeError, match="read-only"):
        data.classes = ("x",)
    with pytest.raises(AttributeError, match="read-only"):
        del data.name
    text = repr(data)
    assert "'R'" in text and "(3, 3, 1)" in text and len(text) < 200
    meta = data.metadata()
    assert json.loads(json.dumps(meta)) == meta
    assert meta["classes"] == ["-1", "1"] and meta["num_train"] == 3
    assert meta["min_length"] == meta["max_length"] == meta["series_length"] == 3
    copy = pickle.loads(pickle.dumps(data))
    assert isinstance(copy, UCRDataset) and copy.classes == data.classes
    np.testing.assert_array_equal(copy.train.x, data.train.x)
    np.testing.assert_array_equal(copy.test_lengths, data.test_lengths)


# --------------------------------------------------------------------------
# Real data (UCR_DIR).
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def forda(ucr_dir):
    # FordA is the largest file (about 11 MB gzipped): read it once.
    return load_ucr("FordA", ucr_dir)


def test_adiac(ucr_dir):
    (x_train, y_train), (x_test, y_test) = data = load_ucr("Adiac", ucr_dir)
    assert x_train.shape == (390, 176, 1) and x_test.shape == (391, 176, 1)
    assert x_train.dtype == np.float32 and np.isfinite(x_train).all()
    assert data.classes == tuple(str(i) for i in range(1, 38))
    assert set(y_train.tolist()) == set(range(37))
    assert set(y_test.tolist()) <= set(range(37))
    assert data.source[0].endswith("Adiac_TRAIN.tsv.gz")


def test_forda(forda):
    (x_train, y_train), (x_test, y_test) = forda
    assert x_train.shape == (3601, 500, 1) and x_test.shape == (1320, 500, 1)
    assert forda.classes == ("-1", "1")
    assert set(y_train.tolist()) == {0, 1} and set(y_test.tolist()) == {0, 1}
    assert np.isfinite(x_train).all() and np.isfinite(x_test).all()
    # The archive z-normalises every series.
    np.testing.assert_allclose(x_train.mean(axis=1), 0, atol=1e-3)
    assert not forda.padded


def test_forda_first_row_matches_the_file(forda, ucr_dir):
    with gzip.open(os.path.join(ucr_dir, "FordA_TRAIN.tsv.gz"), "rt") as f:
        first = f.readline().split("\t")
    assert forda.train.y[0] == forda.classes.index(first[0])
    np.testing.assert_array_equal(
        forda.train.x[0, :, 0], np.array(first[1:], dtype=np.float64).astype(np.float32)
    )


def test_japanese_vowels_equal_length(ucr_dir):
    data = load_ucr("JapaneseVowels_eq", ucr_dir)
    (x_train, y_train), (x_test, y_test) = data
    assert x_train.shape == (270, 25, 12) and x_test.shape == (370, 25, 12)
    assert data.classes == tuple("123456789")
    assert set(y_train.tolist()) == set(range(9))
    assert np.bincount(y_train).tolist() == [30] * 9
    assert not data.padded


def test_japanese_vowels_unequal(ucr_dir):
    with pytest.raises(ValueError) as e:
        load_ucr("JapaneseVowels", ucr_dir)
    assert "unequal lengths (7..29" in str(e.value) and "pad=True" in str(e.value)
    data = load_ucr("JapaneseVowels", ucr_dir, pad=True)
    (x_train, y_train), (x_test, y_test) = data
    assert x_train.shape == (270, 29, 12) and x_test.shape == (370, 29, 12)
    lengths = np.concatenate([data.train_lengths, data.test_lengths])
    assert lengths.min() == 7 and lengths.max() == 29
    assert data.train_lengths.shape == (270,) and data.test_lengths.shape == (370,)
    assert data.padded and data.classes == tuple("123456789")
    for x, lens in ((x_train, data.train_lengths), (x_test, data.test_lengths)):
        mask = np.arange(29) < lens[:, None]
        assert not x[~mask].any()  # Zeros beyond each length ...
        # ... and a real (non-zero) value at each last step.
        assert (np.abs(x[np.arange(len(x)), lens - 1]).sum(axis=1) > 0).all()
    # The first training series has 20 steps (counted in the file).
    assert data.train_lengths[0] == 20


# --------------------------------------------------------------------------
# Module hygiene.
# --------------------------------------------------------------------------


def test_module_imports_only_numpy_and_stdlib():
    assert_imports_only_numpy_and_stdlib(ucr)
