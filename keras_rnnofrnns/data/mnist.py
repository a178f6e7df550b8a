"""Sequential and permuted MNIST (pixel-by-pixel MNIST) for recurrent models.

Each 28x28 image becomes a sequence of 784 time steps with one feature (the
pixel intensity in [0, 1]), read row by row. In the permuted variant one fixed
random permutation of the 784 time steps is applied to every image, train and
test alike, which destroys the local structure that makes the row-by-row task
easy.

The data is read from the four canonical idx files of the original MNIST
distribution; where they are looked up: see :func:`load_sequential_mnist`.

This module depends on numpy and the standard library only; keras and
tensorflow are never imported here, and ``tensorflow_datasets`` only when the
no folder is given.
"""

from __future__ import annotations

import dataclasses
import numbers
import os

import numpy as np

from ._files import read_maybe_gzipped

__all__ = [
    "IMAGE_SIDE",
    "MNIST_FILES",
    "SEQUENCE_LENGTH",
    "SequentialMNIST",
    "load_sequential_mnist",
    "pixel_permutation",
    "read_idx",
]

#: Number of time steps of one sequence: 28 x 28 pixels.
SEQUENCE_LENGTH = 784

#: Side of an MNIST image in pixels.
IMAGE_SIDE = 28
_NUM_CLASSES = 10

#: Canonical idx file names (each may also be present with a ``.gz`` suffix).
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# idx magic number: two zero bytes, a type code and the number of dimensions.
# MNIST only uses type 0x08 (unsigned byte).
_IDX_UBYTE = 0x08
_IMAGES_MAGIC = 0x00000803
_LABELS_MAGIC = 0x00000801

_ENV_VAR = "MNIST_DIR"
_TFDS_SOURCE = "tensorflow-datasets"

_HOW_TO_POINT = (
    "Point the loader at a folder holding the four MNIST idx files "
    f"({', '.join(MNIST_FILES.values())}; each plain or with a .gz suffix), "
    "either with load_sequential_mnist(data_dir='/path/to/mnist') or by "
    f"setting the environment variable {_ENV_VAR}=/path/to/mnist."
)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SequentialMNIST:
    """MNIST as sequences of pixels, ready for a recurrent model.

    ``eq=False``: the fields are numpy arrays, whose ``==`` is elementwise, so
    the generated ``__eq__``/``__hash__`` would raise rather than compare.

    Attributes:
        x_train: float32 array of shape ``(n_train, 784, 1)``, values in [0, 1].
        y_train: int32 array of shape ``(n_train,)``, values in 0..9.
        x_test: float32 array of shape ``(n_test, 784, 1)``, values in [0, 1].
        y_test: int32 array of shape ``(n_test,)``, values in 0..9.
        permutation: The int64 array of shape ``(784,)`` applied to the time
            axis of both splits (``x[:, t] = original[:, permutation[t]]``),
            or ``None`` for the unpermuted task.
        source: Where the data came from: the absolute folder path, or
            ``"tensorflow-datasets"``.

    Example:
        >>> data = load_sequential_mnist(limit_train=8, limit_test=4)
        >>> data.x_train.shape, data.y_test.shape, data.permutation is None
        ((8, 784, 1), (4,), True)
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    permutation: np.ndarray | None
    source: str

    def __repr__(self) -> str:
        # The default repr would dump four large arrays; shapes say enough.
        kind = "permuted" if self.permutation is not None else "unpermuted"
        return (
            f"SequentialMNIST({kind}, x_train={self.x_train.shape}, "
            f"x_test={self.x_test.shape}, source={self.source!r})"
        )


def _is_int(value) -> bool:
    # bool is an Integral subclass, but True as a seed or limit is a bug.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def pixel_permutation(seed: int, length: int = SEQUENCE_LENGTH) -> np.ndarray:
    """Returns the fixed pixel permutation used by permuted sequential MNIST.

    Args:
        seed: Non-negative integer seed; the same seed always gives the same
            permutation (``np.random.default_rng(seed).permutation(length)``).
        length: Number of time steps to permute, a positive integer.

    Returns:
        An int64 array of shape ``(length,)`` holding each of
        ``0 .. length - 1`` exactly once.

    Raises:
        ValueError: If ``seed`` is not a non-negative integer or ``length`` is
            not a positive integer.

    Example:
        >>> perm = pixel_permutation(0)
        >>> perm.shape, perm.dtype, sorted(perm.tolist()) == list(range(784))
        ((784,), dtype('int64'), True)
        >>> bool((perm == pixel_permutation(0)).all())
        True
    """
    if not _is_int(seed) or seed < 0:
        raise ValueError(
            f"seed must be a non-negative integer, got {seed!r} "
            f"(type {type(seed).__name__})."
        )
    if not _is_int(length) or length < 1:
        raise ValueError(
            f"length must be a positive integer, got {length!r} "
            f"(type {type(length).__name__})."
        )
    return np.random.default_rng(int(seed)).permutation(int(length)).astype(
        np.int64, copy=False
    )


def _read_bytes(path: str) -> bytes:
    return read_maybe_gzipped(path, "MNIST file")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one idx file of unsigned bytes (plain or gzip-compressed).

    The header is checked against the file length, so a truncated or padded
    file is reported instead of being silently misread.

    Args:
        path: Path of an idx file with type code 0x08 (unsigned byte), e.g.
            ``train-images-idx3-ubyte`` or ``t10k-labels-idx1-ubyte.gz``.

    Returns:
        A read-only uint8 array with the shape given in the header, viewing
        the file's bytes without a copy.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not an unsigned-byte idx file (bad magic
            number), or its length does not match its header (corrupt or
            truncated), or it is a damaged gzip stream.

    Example:
        >>> import os
        >>> folder = os.environ["MNIST_DIR"]
        >>> labels = read_idx(os.path.join(folder, "t10k-labels-idx1-ubyte.gz"))
        >>> labels.shape, labels.dtype
        ((10000,), dtype('uint8'))
    """
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(
            f"idx file {path!r} is truncated: {len(data)} bytes, too short "
            "for the 4-byte magic number."
        )
    magic = int.from_bytes(data[:4], "big")
    ndim = data[3]
    if data[0] != 0 or data[1] != 0 or data[2] != _IDX_UBYTE or ndim == 0:
        raise ValueError(
            f"idx file {path!r} has bad magic number 0x{magic:08x}; expected "
            "0x000008NN (unsigned bytes, NN >= 1 dimensions), e.g. "
            f"0x{_IMAGES_MAGIC:08x} for images or 0x{_LABELS_MAGIC:08x} for "
            "labels. The file is corrupt or not an idx file."
        )
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise ValueError(
            f"idx file {path!r} is truncated: {len(data)} bytes, too short "
            f"for the header of a {ndim}-dimensional array ({offset} bytes)."
        )
    shape = tuple(
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    )
    expected = offset + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "corrupt"
        raise ValueError(
            f"idx file {path!r} is {problem}: its header declares shape "
            f"{shape}, i.e. {expected} bytes, but it holds {len(data)} bytes."
        )
    # frombuffer views the bytes without a copy; the result is read-only,
    # which is fine because callers only slice and convert it.
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def _find_file(folder: str, name: str) -> str:
    # Prefer the plain file: it skips decompression.
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"MNIST file {name!r} (or {name + '.gz'!r}) not found in folder "
        f"{folder!r}. {_HOW_TO_POINT}"
    )


def _read_split(folder: str, images_name: str, labels_name: str):
    images_path = _find_file(folder, images_name)
    labels_path = _find_file(folder, labels_name)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(
            f"MNIST image file {images_path!r} holds an array of shape "
            f"{images.shape}; expected (n, {IMAGE_SIDE}, {IMAGE_SIDE}) "
            f"(magic 0x{_IMAGES_MAGIC:08x}). The file is corrupt or not an "
            "MNIST image file."
        )
    if labels.ndim != 1:
        raise ValueError(
            f"MNIST label file {labels_path!r} holds an array of shape "
            f"{labels.shape}; expected (n,) (magic 0x{_LABELS_MAGIC:08x}). "
            "The file is corrupt or not an MNIST label file."
        )
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"MNIST files disagree: {images_path!r} holds {images.shape[0]} "
            f"images but {labels_path!r} holds {labels.shape[0]} labels. One "
            "of them is corrupt, truncated or from another data set."
        )
    _check_labels(labels, labels_path)
    return images, labels


def _check_labels(labels: np.ndarray, where: str) -> None:
    bad = (labels < 0) | (labels >= _NUM_CLASSES)
    if bad.any():
        index = int(np.argmax(bad))
        raise ValueError(
            f"MNIST labels from {where!r} must lie in 0..{_NUM_CLASSES - 1}, "
            f"but label {index} is {int(labels[index])}. The file is corrupt."
        )


def _check_limit(name: str, limit) -> None:
    if limit is not None and (not _is_int(limit) or limit < 1):
        raise ValueError(
            f"{name} must be None (all examples) or a positive integer, got "
            f"{limit!r} (type {type(limit).__name__})."
        )


def _apply_limit(name: str, limit, available: int, split: str) -> int:
    if limit is None:
        return available
    if limit > available:
        raise ValueError(
            f"{name}={limit} is above the {available} {split} examples "
            "available; use a smaller value or None for all of them."
        )
    return int(limit)


def _to_sequences(images: np.ndarray, labels: np.ndarray, n: int, permutation):
    """Turns the first ``n`` uint8 images into float32 (n, 784, 1) sequences."""
    # Slice and permute while still uint8 (4x less memory to move), then do
    # exactly one conversion to float32.
    pixels = images[:n].reshape(n, SEQUENCE_LENGTH)
    if permutation is not None:
        # np.take is several times faster than fancy indexing pixels[:, perm].
        pixels = np.take(pixels, permutation, axis=1)
    x = pixels.astype(np.float32).reshape(n, SEQUENCE_LENGTH, 1)
    # np.float32 keeps the product in float32; 255 * float32(1/255) == 1.0.
    x *= np.float32(1.0 / 255.0)
    y = labels[:n].astype(np.int32)
    return x, y


def _load_from_folder(folder: str):
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"MNIST folder {folder!r} does not exist or is not a folder. "
            f"{_HOW_TO_POINT}"
        )
    train = _read_split(
        folder, MNIST_FILES["train_images"], MNIST_FILES["train_labels"]
    )
    test = _read_split(folder, MNIST_FILES["test_images"], MNIST_FILES["test_labels"])
    _check_splits_differ(folder, train, test)
    return train, test


# The example counts of the canonical files. Hashing 47 MB on every load to
# match their published checksums would cost more than the load; a file of
# one split put in the other's place shows in its count, or, for smaller
# custom files, in content identical to the other split's.
CANONICAL_COUNTS = {"train": 60000, "test": 10000}


def _check_splits_differ(folder, train, test):
    """Raises when a split's files are in the other split's place."""
    counts = {"train": len(train[1]), "test": len(test[1])}
    for split, other in (("train", "test"), ("test", "train")):
        if counts[split] == CANONICAL_COUNTS[other] != CANONICAL_COUNTS[split]:
            raise ValueError(
                f"MNIST folder {folder!r}: the {split} files hold {counts[split]} "
                f"examples, the count of the canonical {other} split; expected "
                f"{MNIST_FILES[split + '_images']} and {MNIST_FILES[split + '_labels']} "
                f"to be the {split} split. Check that the files are not swapped."
            )
    if train[0].shape == test[0].shape and (
        np.array_equal(train[0], test[0]) and np.array_equal(train[1], test[1])
    ):
        raise ValueError(
            f"MNIST folder {folder!r}: the test files hold the same images and labels "
            "as the training files; expected the t10k files in the test place, or "
            "test accuracy would be training accuracy."
        )


def _load_from_tfds():
    try:
        import tensorflow_datasets as tfds  # Heavy and optional: import late.
    except ImportError:
        raise FileNotFoundError(
            "MNIST not found: no data_dir was given, the environment variable "
            f"{_ENV_VAR} is not set, and tensorflow_datasets is not installed. "
            f"{_HOW_TO_POINT}"
        ) from None
    try:
        splits = tfds.as_numpy(
            tfds.load("mnist", batch_size=-1, as_supervised=True)
        )
    except Exception as exc:  # Any tfds failure (offline, ...) means "no source".
        raise FileNotFoundError(
            f"MNIST could not be loaded through tensorflow_datasets ({exc!r}). "
            f"{_HOW_TO_POINT}"
        ) from exc
    result = []
    for split in ("train", "test"):
        images, labels = splits[split]
        # tfds gives (n, 28, 28, 1) uint8 images and int64 labels.
        images = np.asarray(images, dtype=np.uint8).reshape(
            -1, IMAGE_SIDE, IMAGE_SIDE
        )
        labels = np.asarray(labels).reshape(-1)
        _check_labels(labels, f"tensorflow-datasets mnist/{split}")
        result.append((images, labels))
    return tuple(result)


def load_sequential_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    permuted: bool = False,
    permutation_seed: int = 0,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> SequentialMNIST:
    """Loads MNIST as 784-step pixel sequences, optionally permuted.

    Sources are tried in this order: ``data_dir``; else the folder named by
    the ``MNIST_DIR`` environment variable; else ``tensorflow_datasets`` if it
    can be imported. A folder that is given (by argument or by ``MNIST_DIR``)
    but is wrong raises instead of falling back to the next source, so a typo
    never turns into a silent download. Random data is never returned.

    Args:
        data_dir: Folder holding ``train-images-idx3-ubyte``,
            ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
            ``t10k-labels-idx1-ubyte``, each plain or with a ``.gz`` suffix.
        permuted: If True, apply ``pixel_permutation(permutation_seed)`` to the
            time axis of both splits: ``x[:, t] = original[:, perm[t]]``.
        permutation_seed: Non-negative integer seed of the permutation
            (validated even when ``permuted`` is False).
        limit_train: Keep only the first ``limit_train`` training examples;
            ``None`` keeps all 60000.
        limit_test: Keep only the first ``limit_test`` test examples; ``None``
            keeps all 10000.

    Returns:
        A :class:`SequentialMNIST` with float32 ``x`` of shape ``(n, 784, 1)``
        in [0, 1], int32 ``y`` of shape ``(n,)``, the permutation (or None)
        and the source.

    Raises:
        FileNotFoundError: If the folder or one of its four files is missing,
            or no source is available at all; the message says how to point
            the loader at local files.
        ValueError: If a file is corrupt or truncated (bad magic number,
            length not matching its header, image/label counts disagreeing,
            labels outside 0..9), if a split's files are in the other's place
            (a test split of the training count, or of the training files'
            content), or a limit or the seed is invalid.

    Example:
        >>> data = load_sequential_mnist(permuted=True, limit_train=100,
        ...                              limit_test=10)
        >>> data.x_train.shape, data.x_train.dtype, data.y_train.dtype
        ((100, 784, 1), dtype('float32'), dtype('int32'))
        >>> bool(data.x_test.min() >= 0.0 and data.x_test.max() <= 1.0)
        True
    """
    # Validate everything cheap before reading ~55 MB of files.
    _check_limit("limit_train", limit_train)
    _check_limit("limit_test", limit_test)
    permutation = pixel_permutation(permutation_seed)
    if not permuted:
        permutation = None

    if data_dir is None:
        data_dir = os.environ.get(_ENV_VAR) or None
    if data_dir is not None:
        source = os.path.abspath(os.fspath(data_dir))
        train, test = _load_from_folder(source)
    else:
        source = _TFDS_SOURCE
        train, test = _load_from_tfds()

    n_train = _apply_limit("limit_train", limit_train, len(train[1]), "training")
    n_test = _apply_limit("limit_test", limit_test, len(test[1]), "test")
    x_train, y_train = _to_sequences(*train, n_train, permutation)
    x_test, y_test = _to_sequences(*test, n_test, permutation)
    return SequentialMNIST(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        permutation=permutation,
        source=source,
    )
