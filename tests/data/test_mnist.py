"""Tests for keras_rnnofrnns.data.mnist (no network; a few seconds in all).

Tests on the real data read the folder named by the MNIST_DIR environment
variable and are skipped when it is unset. Everything else uses small
synthetic idx files written to tmp_path.
"""

import dataclasses
import gzip
import os
import sys
import types

import numpy as np
import pytest
from conftest import (
    assert_imports_only_numpy_and_stdlib,
    idx_bytes,
    unset_env,
    write_file,
    write_mnist_folder,
)

from keras_rnnofrnns.data import mnist
from keras_rnnofrnns.data import (
    SequentialMNIST,
    load_sequential_mnist,
    pixel_permutation,
    read_idx,
)

NAMES = mnist.MNIST_FILES
# Label histograms of the original MNIST distribution.
TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --------------------------------------------------------------------------
# Helpers and fixtures.
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full(mnist_dir):
    # Loaded once per module: the full set takes about a second.
    return load_sequential_mnist(mnist_dir)


@pytest.fixture
def no_tfds(monkeypatch):
    # A None entry in sys.modules makes `import tensorflow_datasets` fail,
    # so no test can ever reach the network.
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)


# --------------------------------------------------------------------------
# pixel_permutation.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("length", [784, 1, 10])
def test_pixel_permutation_is_a_true_permutation(length):
    perm = pixel_permutation(7, length)
    assert perm.dtype == np.int64
    assert perm.shape == (length,)
    np.testing.assert_array_equal(np.sort(perm), np.arange(length))


def test_pixel_permutation_reproducible_and_seed_dependent():
    np.testing.assert_array_equal(pixel_permutation(0), pixel_permutation(0))
    np.testing.assert_array_equal(
        pixel_permutation(3), np.random.default_rng(3).permutation(784)
    )
    assert pixel_permutation(np.int64(5)).tolist() == pixel_permutation(5).tolist()
    assert not np.array_equal(pixel_permutation(0), pixel_permutation(1))
    assert not np.array_equal(pixel_permutation(0), np.arange(784))


@pytest.mark.parametrize("seed", [-1, 1.5, "0", None, True])
def test_pixel_permutation_rejects_bad_seed(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer") as e:
        pixel_permutation(seed)
    assert repr(seed) in str(e.value)


@pytest.mark.parametrize("length", [0, -3, 2.0])
def test_pixel_permutation_rejects_bad_length(length):
    with pytest.raises(ValueError, match="length must be a positive integer"):
        pixel_permutation(0, length)


# --------------------------------------------------------------------------
# Real data (MNIST_DIR).
# --------------------------------------------------------------------------


def test_full_set_counts_labels_and_ranges(full, mnist_dir):
    assert full.x_train.shape == (60000, 784, 1)
    assert full.x_test.shape == (10000, 784, 1)
    assert full.y_train.shape == (60000,)
    assert full.y_test.shape == (10000,)
    for x in (full.x_train, full.x_test):
        assert x.dtype == np.float32
        assert x.min() == 0.0 and x.max() == 1.0
    for y in (full.y_train, full.y_test):
        assert y.dtype == np.int32
    assert np.bincount(full.y_train).tolist() == TRAIN_LABEL_COUNTS
    assert np.bincount(full.y_test).tolist() == TEST_LABEL_COUNTS
    # The first labels of the original files; guards against an off-by-header.
    assert full.y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert full.y_test[:5].tolist() == [7, 2, 1, 0, 4]
    assert full.permutation is None
    assert full.source == os.path.abspath(mnist_dir)


def test_pixels_are_row_major_and_scaled(full, mnist_dir):
    raw = read_idx(os.path.join(mnist_dir, NAMES["test_images"] + ".gz"))
    assert raw.shape == (10000, 28, 28) and raw.dtype == np.uint8
    np.testing.assert_array_equal(
        np.rint(full.x_test[:, :, 0] * 255).astype(np.uint8), raw.reshape(10000, 784)
    )


def test_limited_load_shapes_dtypes_ranges(full, mnist_dir):
    data = load_sequential_mnist(mnist_dir, limit_train=300, limit_test=200)
    assert isinstance(data, SequentialMNIST)
    assert data.x_train.shape == (300, 784, 1) and data.x_train.dtype == np.float32
    assert data.x_test.shape == (200, 784, 1) and data.x_test.dtype == np.float32
    assert data.y_train.shape == (300,) and data.y_train.dtype == np.int32
    assert data.y_test.shape == (200,) and data.y_test.dtype == np.int32
    for x in (data.x_train, data.x_test):
        assert 0.0 <= x.min() and x.max() <= 1.0
    for y in (data.y_train, data.y_test):
        assert set(np.unique(y).tolist()) <= set(range(10))
    # A limit keeps the first n examples, unchanged.
    np.testing.assert_array_equal(data.x_train, full.x_train[:300])
    np.testing.assert_array_equal(data.y_test, full.y_test[:200])


def test_permuted_uses_one_permutation_for_train_and_test(full, mnist_dir):
    n_train, n_test = 2000, 500
    data = load_sequential_mnist(
        mnist_dir, permuted=True, permutation_seed=11,
        limit_train=n_train, limit_test=n_test,
    )
    perm = data.permutation
    np.testing.assert_array_equal(perm, pixel_permutation(11))
    x_train, x_test = full.x_train[:n_train], full.x_test[:n_test]
    for t in (0, 1, 100, 783):
        np.testing.assert_array_equal(data.x_train[:, t], x_train[:, perm[t]])
        np.testing.assert_array_equal(data.x_test[:, t], x_test[:, perm[t]])
    # Every time step at once.
    np.testing.assert_array_equal(data.x_train, x_train[:, perm])
    np.testing.assert_array_equal(data.x_test, x_test[:, perm])
    np.testing.assert_array_equal(data.y_train, full.y_train[:n_train])
    np.testing.assert_array_equal(data.y_test, full.y_test[:n_test])
    assert not np.array_equal(data.x_train, x_train)


# --------------------------------------------------------------------------
# Synthetic files: reading, permutation, sources.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_synthetic_folder_values(tmp_path, gz):
    arrays = write_mnist_folder(tmp_path, n_train=6, n_test=4, gz=gz)
    data = load_sequential_mnist(tmp_path)
    expected = arrays["train_images"].reshape(6, 784, 1).astype(np.float32) / 255
    np.testing.assert_allclose(data.x_train, expected, rtol=1e-6, atol=0)
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    np.testing.assert_array_equal(data.y_train, arrays["train_labels"])
    np.testing.assert_array_equal(data.y_test, arrays["test_labels"])
    assert data.x_test.shape == (4, 784, 1)
    assert data.source == str(tmp_path)


def test_mixed_plain_and_gzip_files(tmp_path):
    arrays = write_mnist_folder(tmp_path, n_train=4, n_test=2, gz=True)
    name = NAMES["test_images"]
    os.remove(tmp_path / (name + ".gz"))
    write_file(tmp_path / name, idx_bytes(arrays["test_images"]), gz=False)
    data = load_sequential_mnist(tmp_path)
    np.testing.assert_array_equal(
        np.rint(data.x_test * 255).astype(np.uint8).reshape(2, 28, 28),
        arrays["test_images"],
    )


def test_read_idx_plain_and_gzip_agree(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    plain = write_file(tmp_path / "a-idx3-ubyte", idx_bytes(array), gz=False)
    packed = write_file(tmp_path / "b-idx3-ubyte", idx_bytes(array), gz=True)
    for path in (plain, packed):
        got = read_idx(path)
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, array)


def test_permutation_reproducible_and_differs_across_seeds(tmp_path):
    arrays = write_mnist_folder(tmp_path, n_train=5, n_test=3)
    a = load_sequential_mnist(tmp_path, permuted=True, permutation_seed=3)
    b = load_sequential_mnist(tmp_path, permuted=True, permutation_seed=3)
    c = load_sequential_mnist(tmp_path, permuted=True, permutation_seed=4)
    np.testing.assert_array_equal(a.permutation, b.permutation)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.permutation, c.permutation)
    assert not np.array_equal(a.x_train, c.x_train)
    # x_perm[:, t] == x[:, perm[t]] on both splits.
    for key, x in (("train_images", a.x_train), ("test_images", a.x_test)):
        flat = arrays[key].reshape(len(x), 784)
        np.testing.assert_array_equal(
            np.rint(x[:, :, 0] * 255).astype(np.uint8), flat[:, a.permutation]
        )


def test_explicit_data_dir_beats_mnist_dir(tmp_path, monkeypatch, no_tfds):
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    write_mnist_folder(env_dir, n_train=3, n_test=2, seed=1)
    write_mnist_folder(arg_dir, n_train=7, n_test=4, seed=2)
    monkeypatch.setenv("MNIST_DIR", str(env_dir))
    from_arg = load_sequential_mnist(arg_dir)
    assert from_arg.source == str(arg_dir)
    assert len(from_arg.y_train) == 7 and len(from_arg.y_test) == 4
    from_env = load_sequential_mnist()
    assert from_env.source == str(env_dir)
    assert len(from_env.y_train) == 3 and len(from_env.y_test) == 2
    # A broken MNIST_DIR does not matter when data_dir is given.
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "nowhere"))
    assert load_sequential_mnist(str(arg_dir)).source == str(arg_dir)


def test_tfds_fallback_with_fake_module(monkeypatch):
    rng = np.random.default_rng(0)
    splits = {
        "train": (rng.integers(0, 256, (6, 28, 28, 1), dtype=np.uint8),
                  rng.integers(0, 10, 6).astype(np.int64)),
        "test": (rng.integers(0, 256, (3, 28, 28, 1), dtype=np.uint8),
                 rng.integers(0, 10, 3).astype(np.int64)),
    }
    calls = []
    fake = types.ModuleType("tensorflow_datasets")
    fake.load = lambda name, **kw: calls.append((name, kw)) or splits
    fake.as_numpy = lambda tree: tree
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    monkeypatch.delenv("MNIST_DIR", raising=False)
    data = load_sequential_mnist(permuted=True, limit_train=4)
    assert calls == [("mnist", {"batch_size": -1, "as_supervised": True})]
    assert data.source == "tensorflow-datasets"
    assert data.x_train.shape == (4, 784, 1) and data.x_test.shape == (3, 784, 1)
    assert data.y_train.dtype == np.int32
    np.testing.assert_array_equal(data.y_test, splits["test"][1])
    np.testing.assert_array_equal(
        np.rint(data.x_test[:, :, 0] * 255).astype(np.uint8),
        splits["test"][0].reshape(3, 784)[:, data.permutation],
    )


def test_tfds_failure_becomes_file_not_found(monkeypatch):
    fake = types.ModuleType("tensorflow_datasets")

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    fake.load = offline
    fake.as_numpy = lambda tree: tree
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    monkeypatch.delenv("MNIST_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="MNIST_DIR=") as e:
        load_sequential_mnist()
    assert "no network" in str(e.value)


# --------------------------------------------------------------------------
# Missing sources and files.
# --------------------------------------------------------------------------


def _assert_helpful(message):
    assert "data_dir=" in message and "MNIST_DIR=" in message
    for name in NAMES.values():
        assert name in message


@pytest.mark.parametrize("empty_env", [False, True])
def test_no_source_raises_file_not_found(monkeypatch, no_tfds, empty_env):
    unset_env(monkeypatch, "MNIST_DIR", empty_env)
    with pytest.raises(FileNotFoundError, match="tensorflow_datasets") as e:
        load_sequential_mnist()
    _assert_helpful(str(e.value))


def test_missing_folder_raises_without_fallback(tmp_path, monkeypatch, no_tfds):
    write_mnist_folder(tmp_path / "good")
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "good"))
    missing = tmp_path / "does-not-exist"
    with pytest.raises(FileNotFoundError) as e:
        load_sequential_mnist(missing)
    assert str(missing) in str(e.value)
    _assert_helpful(str(e.value))


def test_wrong_mnist_dir_raises_without_fallback(tmp_path, monkeypatch, no_tfds):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "typo"))
    with pytest.raises(FileNotFoundError, match="typo"):
        load_sequential_mnist()


@pytest.mark.parametrize("key", sorted(NAMES))
def test_missing_file_names_file_and_folder(tmp_path, key):
    write_mnist_folder(tmp_path, gz=True)
    os.remove(tmp_path / (NAMES[key] + ".gz"))
    with pytest.raises(FileNotFoundError) as e:
        load_sequential_mnist(tmp_path)
    message = str(e.value)
    assert repr(NAMES[key]) in message and repr(NAMES[key] + ".gz") in message
    assert str(tmp_path) in message
    _assert_helpful(message)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nothing-idx1-ubyte")


# --------------------------------------------------------------------------
# Corrupt files.
# --------------------------------------------------------------------------


def _corrupt(kind, tmp_path, gz):
    """Writes a good folder, then breaks one file; returns its path stem."""
    arrays = write_mnist_folder(tmp_path, n_train=5, n_test=3, gz=gz)
    images, labels = NAMES["train_images"], NAMES["train_labels"]
    if kind == "bad magic (images)":
        payload = idx_bytes(arrays["train_images"], magic=0x00000903)
        return write_file(tmp_path / images, payload, gz), "bad magic"
    if kind == "bad magic (labels)":
        payload = idx_bytes(arrays["train_labels"], magic=0x12345601)
        return write_file(tmp_path / labels, payload, gz), "bad magic"
    if kind == "labels magic on images":
        payload = idx_bytes(arrays["train_labels"])
        return write_file(tmp_path / images, payload, gz), "0x00000803"
    if kind == "truncated data":
        payload = idx_bytes(arrays["train_images"])[:-100]
        return write_file(tmp_path / images, payload, gz), "truncated"
    if kind == "truncated header":
        payload = idx_bytes(arrays["train_images"])[:10]
        return write_file(tmp_path / images, payload, gz), "truncated"
    if kind == "empty file":
        return write_file(tmp_path / labels, b"", gz), "truncated"
    if kind == "trailing bytes":
        payload = idx_bytes(arrays["train_labels"]) + b"\x00\x01"
        return write_file(tmp_path / labels, payload, gz), "corrupt"
    if kind == "label count mismatch":
        payload = idx_bytes(arrays["train_labels"][:4])
        return write_file(tmp_path / labels, payload, gz), "5 images"
    if kind == "label value 12":
        bad = arrays["train_labels"].copy()
        bad[2] = 12
        return write_file(tmp_path / labels, idx_bytes(bad), gz), "is 12"
    if kind == "wrong image size":
        payload = idx_bytes(np.zeros((5, 28, 27), np.uint8))
        return write_file(tmp_path / images, payload, gz), "(5, 28, 27)"
    raise AssertionError(kind)


CORRUPTIONS = [
    "bad magic (images)", "bad magic (labels)", "labels magic on images",
    "truncated data", "truncated header", "empty file", "trailing bytes",
    "label count mismatch", "label value 12", "wrong image size",
]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corrupt_file_raises_value_error_naming_it(tmp_path, kind, gz):
    path, hint = _corrupt(kind, tmp_path, gz)
    with pytest.raises(ValueError) as e:
        load_sequential_mnist(tmp_path)
    message = str(e.value)
    assert os.path.basename(path) in message
    assert hint in message


def test_truncated_gzip_stream_raises_value_error(tmp_path):
    arrays = write_mnist_folder(tmp_path, gz=True)
    path = tmp_path / (NAMES["test_images"] + ".gz")
    packed = gzip.compress(idx_bytes(arrays["test_images"]))
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated gzip") as e:
        load_sequential_mnist(tmp_path)
    assert str(path) in str(e.value)


# --------------------------------------------------------------------------
# Argument validation.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["limit_train", "limit_test"])
@pytest.mark.parametrize("value", [0, -1, 1.5, "3", True])
def test_bad_limit_type_or_sign(tmp_path, name, value):
    # Validated before any file is read, so no folder is needed.
    with pytest.raises(ValueError, match=name) as e:
        load_sequential_mnist(tmp_path / "unused", **{name: value})
    assert repr(value) in str(e.value)


@pytest.mark.parametrize("name, available", [("limit_train", 5), ("limit_test", 3)])
def test_limit_above_available(tmp_path, name, available):
    write_mnist_folder(tmp_path, n_train=5, n_test=3)
    data = load_sequential_mnist(tmp_path, **{name: available})  # Exactly all: ok.
    assert len(data.y_train) == 5 and len(data.y_test) == 3
    with pytest.raises(ValueError, match=f"{name}={available + 1} is above the "
                                         f"{available}"):
        load_sequential_mnist(tmp_path, **{name: available + 1})


@pytest.mark.parametrize("seed", [-1, 0.5, None])
def test_bad_seed_in_loader(tmp_path, seed):
    with pytest.raises(ValueError, match="seed"):
        load_sequential_mnist(tmp_path / "unused", permuted=True, permutation_seed=seed)


# --------------------------------------------------------------------------
# Module hygiene.
# --------------------------------------------------------------------------


def test_result_is_frozen_with_short_repr(tmp_path):
    write_mnist_folder(tmp_path)
    data = load_sequential_mnist(tmp_path, permuted=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.x_train = None
    text = repr(data)
    assert "permuted" in text and "(5, 784, 1)" in text and len(text) < 300


def test_module_imports_only_numpy_and_stdlib():
    assert_imports_only_numpy_and_stdlib(mnist)


def test_training_files_in_the_test_place_are_refused(tmp_path):
    arrays = write_mnist_folder(tmp_path, n_train=4, n_test=4)
    for split in ("images", "labels"):
        write_file(tmp_path / NAMES[f"test_{split}"], idx_bytes(arrays[f"train_{split}"]), False)
    with pytest.raises(ValueError, match="test files hold the same images and labels"):
        load_sequential_mnist(str(tmp_path))


def test_a_split_of_the_other_canonical_count_is_refused(tmp_path):
    # The canonical test count in the training place: swapped files.
    write_mnist_folder(tmp_path, n_train=10000, n_test=3)
    with pytest.raises(ValueError, match="train files hold 10000 examples, the count of"):
        load_sequential_mnist(str(tmp_path))
