"""UCR and UEA time-series classification archives, for recurrent models.

:func:`load_ucr` reads one data set of the UCR univariate archive (2018
release, ``.tsv`` files) or of the UEA multivariate archive (``.ts`` files)
and returns it like ``keras.datasets``: ``((x_train, y_train), (x_test,
y_test))``, with ``x`` float32 of shape ``(n, T, channels)`` and ``y`` int32
class indices ``0 .. K-1``. The returned :class:`UCRDataset` also carries the
label mapping (``classes``), the files read (``source``) and the length of
every series (``train_lengths``, ``test_lengths``).

Where the files are looked up, their formats and the padding of unequal
lengths: see :func:`load_ucr`.

This module depends on numpy and the standard library only; aeon is imported
only when no folder is given.
"""

from __future__ import annotations

import codecs
import math
import os
from typing import NamedTuple

import numpy as np

from ..checks import fail, check_int
from ._files import read_maybe_gzipped

__all__ = ["UCRDataset", "UCRSplit", "load_ucr"]

_ENV_VAR = "UCR_DIR"
_AEON_SOURCE = "aeon"
# Formats in the order they are tried: .ts first, since its header describes
# the data and is checked against it.
_FORMATS = ("ts", "tsv")
_SPLITS = ("TRAIN", "TEST")


class UCRSplit(NamedTuple):
    """One split of a :class:`UCRDataset`: the pair ``(x, y)``.

    Attributes:
        x: float32 array of shape ``(n, T, channels)``.
        y: int32 array of shape ``(n,)`` with class indices ``0 .. K-1``.
    """

    x: np.ndarray
    y: np.ndarray


def _rebuild(cls, items, metadata):
    return cls(*items, **metadata)


class UCRDataset(tuple):
    """A loaded data set: the 2-tuple ``(train, test)`` plus its metadata.

    It unpacks exactly like the result of ``keras.datasets.*.load_data()``::

        (x_train, y_train), (x_test, y_test) = load_ucr("FordA")

    and each item is a :class:`UCRSplit` ``(x, y)``, so ``data.train.x`` works
    too. It is read-only.

    Attributes:
        name: The data set's name, e.g. ``"FordA"``.
        classes: Tuple of the archive's original class labels, as strings;
            ``classes[k]`` is the label of class index ``k``. Labels are
            sorted numerically when all of them are numbers (``'-1' < '1'``,
            ``'2' < '10'``), otherwise as strings; labels that are the same
            number (``'1'``, ``'1.0'``) are one class, named by the shortest
            spelling. Train and test share this mapping. For ``.ts`` files it lists every label the headers
            declare (``@classLabel``), even one without any series.
        source: Tuple of the absolute paths of the two files read (train,
            test), or the string ``"aeon"``.
        train_lengths: int32 array of shape ``(n_train,)``: the true number of
            time steps of each training series. Steps at and beyond it are
            zero padding, so a mask is
            ``np.arange(T) < train_lengths[:, None]``. Equal to ``T`` for
            every series of an equal-length data set that was not padded.
        test_lengths: The same for the test split.
        train: The :class:`UCRSplit` ``(x_train, y_train)``, i.e. ``data[0]``.
        test: The :class:`UCRSplit` ``(x_test, y_test)``, i.e. ``data[1]``.
        series_length: ``T``, the length of the time axis of ``x``.
        num_channels: The number of channels (1 for univariate data).
        padded: Whether some series are shorter than ``T`` (zero padded).
    """

    def __new__(
        cls, train, test, *, name, classes, source, train_lengths, test_lengths
    ):
        self = super().__new__(cls, (UCRSplit(*train), UCRSplit(*test)))
        self.__dict__.update(
            name=name,
            classes=tuple(classes),
            source=source,
            train_lengths=np.asarray(train_lengths),
            test_lengths=np.asarray(test_lengths),
        )
        return self

    def __setattr__(self, key, value):
        raise AttributeError(f"UCRDataset is read-only; cannot set {key!r}.")

    def __delattr__(self, key):
        raise AttributeError(f"UCRDataset is read-only; cannot delete {key!r}.")

    def __reduce__(self):
        return _rebuild, (type(self), tuple(self), dict(self.__dict__))

    @property
    def train(self) -> UCRSplit:
        return self[0]

    @property
    def test(self) -> UCRSplit:
        return self[1]

    @property
    def series_length(self) -> int:
        return int(self[0].x.shape[1])

    @property
    def num_channels(self) -> int:
        return int(self[0].x.shape[2])

    @property
    def padded(self) -> bool:
        t = self.series_length
        return bool((self.train_lengths < t).any() or (self.test_lengths < t).any())

    def metadata(self) -> dict:
        """Returns a JSON-ready dict describing the data set and its labels."""
        lengths = np.concatenate([self.train_lengths, self.test_lengths])
        return {
            "name": self.name,
            "classes": list(self.classes),
            "source": self.source if isinstance(self.source, str)
            else list(self.source),
            "num_train": int(len(self[0].y)),
            "num_test": int(len(self[1].y)),
            "series_length": self.series_length,
            "num_channels": self.num_channels,
            "min_length": int(lengths.min()),
            "max_length": int(lengths.max()),
            "padded": self.padded,
        }

    def __repr__(self) -> str:
        return (
            f"UCRDataset({self.name!r}, x_train={self[0].x.shape}, "
            f"x_test={self[1].x.shape}, classes={len(self.classes)}, "
            f"padded={self.padded})"
        )


class _Split(NamedTuple):
    """One parsed split, before the label mapping and final padding."""

    x: np.ndarray  # float32 (n, W, C); zeros beyond each series' length.
    lengths: np.ndarray  # int32 (n,)
    labels: list  # str labels, one per series
    declared: tuple | None  # labels a .ts header declares, else None
    where: str  # file path (or "aeon <name>/<split>") for messages


# --------------------------------------------------------------------------
# Reading files.
# --------------------------------------------------------------------------


def _read_lines(path: str) -> list:
    data = read_maybe_gzipped(path)
    # Some editors start UTF-8 files with a byte-order mark; left in, it
    # would glue itself to the first label and make a class of its own.
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"File {path!r}, line {line}: not UTF-8 text ({exc.reason}); "
            "expected a UCR .tsv or UEA .ts text file."
        ) from None
    # split("\n") rather than splitlines(): line numbers must match editors'.
    return text.split("\n")


def _at(path, line_no):
    return f"File {path!r}, line {line_no}"


def _class_index(labels):
    """The classes of `labels` and the class index of each label.

    Sorted numerically when every label is a number, else as strings.
    Labels that are the same number (``'1'`` and ``'1.0'``) are one class,
    named by their shortest spelling.
    """
    labels = set(labels)

    def number(label):
        try:
            value = float(label)
        except ValueError:
            return None
        return value if math.isfinite(value) else None

    numbers = {label: number(label) for label in labels}
    if not labels or any(v is None for v in numbers.values()):
        classes = tuple(sorted(labels))
        return classes, {label: k for k, label in enumerate(classes)}
    spellings = {}
    for label in sorted(labels, key=lambda label: (len(label), label)):
        spellings.setdefault(numbers[label], label)
    values = sorted(spellings)
    position = {value: k for k, value in enumerate(values)}
    return (
        tuple(spellings[value] for value in values),
        {label: position[numbers[label]] for label in labels},
    )


# The largest magnitude float32 holds; beyond it a value would load as inf.
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _beyond_float32(values):
    """Where finite float64 `values` would become infinite as float32."""
    return np.isfinite(values) & (np.abs(values) > _FLOAT32_MAX)


def _range_text(value):
    return (
        f"{value:g} is beyond the float32 range (±{_FLOAT32_MAX:.4g}) and would load as "
        "infinite; infinite values are not supported. Rescale the data set."
    )


def _parse_float(token, path, line_no, what):
    """float(token) or a ValueError naming the file, line and value."""
    if token.strip() == "?":
        raise ValueError(
            f"{_at(path, line_no)}: missing value '?' {what}; missing values "
            "are not supported. Impute them before loading."
        )
    try:
        return float(token)
    except ValueError:
        raise ValueError(
            f"{_at(path, line_no)}: non-numeric value {token!r} {what}."
        ) from None


# --------------------------------------------------------------------------
# UCR 2018 .tsv: label<TAB>v1<TAB>v2 ... one series per line.
# --------------------------------------------------------------------------


def _parse_tsv(path: str) -> _Split:
    line_nos, labels, rows = [], [], []
    for i, line in enumerate(_read_lines(path), start=1):
        line = line.strip(" \r")
        if not line:
            continue
        label, _, rest = line.partition("\t")
        label = label.strip()
        if not label:
            raise ValueError(f"{_at(path, i)}: empty class label (first column).")
        if not rest.strip():
            raise ValueError(
                f"{_at(path, i)}: no values after the class label {label!r}; "
                "expected tab-separated values."
            )
        line_nos.append(i)
        labels.append(label)
        rows.append(rest)
    if not rows:
        raise ValueError(
            f"File {path!r} holds no series (the split is empty)."
        )
    try:
        # One C-level pass over the whole file: about 0.4 s for FordA's 1.8 M
        # values. Errors are located by the slow pass below.
        values = np.loadtxt(
            rows, delimiter="\t", dtype=np.float64, ndmin=2, comments=None,
            quotechar=None,
        )
    except ValueError as exc:
        _locate_tsv_error(path, line_nos, rows)
        raise ValueError(f"File {path!r}: could not be parsed ({exc}).") from exc

    isnan = np.isnan(values)
    bad = ~np.isfinite(values) & ~isnan
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{_at(path, line_nos[row])}: infinite value {values[row, col]} "
            f"at column {col + 2}."
        )
    large = _beyond_float32(values)
    if large.any():
        row, col = np.argwhere(large)[0]
        raise ValueError(
            f"{_at(path, line_nos[row])}: the value at column {col + 2}, "
            + _range_text(values[row, col])
        )
    width = values.shape[1]
    if isnan.any():
        # UCR 2018 pads unequal-length series with a trailing run of NaN;
        # any other NaN is a missing value.
        trailing = np.cumprod(isnan[:, ::-1], axis=1).sum(axis=1)
        lengths = width - trailing
        inside = isnan & (np.arange(width) < lengths[:, None])
        if inside.any():
            row, col = np.argwhere(inside)[0]
            raise ValueError(
                f"{_at(path, line_nos[row])}: NaN at column {col + 2} inside "
                "the series; missing values are not supported (only a "
                "trailing run of NaN, the UCR 2018 padding of unequal-length "
                "series, is)."
            )
        empty = lengths == 0
        if empty.any():
            row = int(np.argmax(empty))
            raise ValueError(f"{_at(path, line_nos[row])}: the series is all NaN.")
        values = np.where(isnan, 0.0, values)[:, : int(lengths.max())]
    else:
        lengths = np.full(len(rows), width)
    return _Split(
        x=values.astype(np.float32)[:, :, None],
        lengths=lengths.astype(np.int32),
        labels=labels,
        declared=None,
        where=path,
    )


def _locate_tsv_error(path, line_nos, rows):
    """Raises a ValueError naming the first bad line of a .tsv file."""
    first = None
    for line_no, row in zip(line_nos, rows):
        tokens = row.split("\t")
        if first is None:
            first = (line_no, len(tokens))
        elif len(tokens) != first[1]:
            raise ValueError(
                f"{_at(path, line_no)}: {len(tokens)} values, but line "
                f"{first[0]} has {first[1]}. Every row of a .tsv file must "
                "have the same number of values (the UCR 2018 archive pads "
                "shorter series with trailing NaN)."
            )
        for col, token in enumerate(tokens, start=2):
            _parse_float(token, path, line_no, f"at column {col}")


# --------------------------------------------------------------------------
# UEA .ts: a header of @tags, then one series per line after @data.
# --------------------------------------------------------------------------

_BOOL_TAGS = ("timestamps", "missing", "univariate", "equallength", "targetlabel")


def _ts_bool(value, path, line_no, tag):
    word = value.split()[0].lower() if value.split() else ""
    if word not in ("true", "false"):
        raise ValueError(
            f"{_at(path, line_no)}: @{tag} must be followed by true or false, "
            f"got {value!r}."
        )
    return word == "true"


def _ts_int(value, path, line_no, tag):
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError(
            f"{_at(path, line_no)}: @{tag} must be followed by a positive "
            f"integer, got {value!r}."
        )
    return number


def _parse_ts_header(lines, path):
    """Returns (header dict with line numbers, index of the first data line)."""
    header = {}  # tag -> (value, line_no)
    for index, raw in enumerate(lines):
        line_no = index + 1
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("@"):
            raise ValueError(
                f"{_at(path, line_no)}: data before the @data line; a .ts "
                "file needs its header (@problemName ... @classLabel ...) and "
                "then @data."
            )
        tag, _, value = line[1:].partition(" ")
        tag, value = tag.lower(), value.strip()
        if tag == "dimension":  # Both spellings occur in the archive.
            tag = "dimensions"
        if tag in header:
            raise ValueError(
                f"{_at(path, line_no)}: @{tag} appears twice (first on line "
                f"{header[tag][1]})."
            )
        if tag == "data":
            header["data"] = (None, line_no)
            return header, index + 1
        if tag in _BOOL_TAGS:
            header[tag] = (_ts_bool(value, path, line_no, tag), line_no)
        elif tag in ("dimensions", "serieslength"):
            header[tag] = (_ts_int(value, path, line_no, tag), line_no)
        elif tag == "classlabel":
            words = value.split()
            if not words:
                raise ValueError(
                    f"{_at(path, line_no)}: @classLabel must be followed by "
                    "true and the labels, got nothing."
                )
            if not _ts_bool(words[0], path, line_no, "classLabel"):
                raise ValueError(
                    f"{_at(path, line_no)}: @classLabel false: the file has no "
                    "class labels; load_ucr loads classification data only."
                )
            labels = words[1:]
            if not labels:
                raise ValueError(
                    f"{_at(path, line_no)}: @classLabel true lists no labels."
                )
            if len(set(labels)) != len(labels):
                raise ValueError(
                    f"{_at(path, line_no)}: @classLabel lists a label twice: "
                    f"{labels}."
                )
            header[tag] = (tuple(labels), line_no)
        else:  # @problemName and tags this loader does not need.
            header[tag] = (value, line_no)
    raise ValueError(
        f"File {path!r}: no @data line (read {len(lines)} lines); a .ts file "
        "needs its header and then @data before the series."
    )


def _check_ts_header(header, path):
    def get(tag, default=None):
        return header[tag][0] if tag in header else default

    if get("timestamps", False):
        raise ValueError(
            f"{_at(path, header['timestamps'][1])}: @timeStamps true is not "
            "supported; only series without time stamps can be loaded."
        )
    if get("targetlabel", False):
        raise ValueError(
            f"{_at(path, header['targetlabel'][1])}: @targetLabel true marks a "
            "regression data set; load_ucr loads classification data only."
        )
    if "classlabel" not in header:
        raise ValueError(
            f"File {path!r}: the header has no @classLabel line, so it "
            "declares no class labels; expected '@classLabel true <labels>' "
            f"before @data (line {header['data'][1]})."
        )
    if get("univariate") and get("dimensions", 1) != 1:
        lines = sorted((header["univariate"][1], header["dimensions"][1]))
        raise ValueError(
            f"{_at(path, lines[1])}: the header contradicts itself: "
            f"@univariate true but @dimensions {get('dimensions')} (lines "
            f"{lines[0]} and {lines[1]})."
        )


def _parse_ts(path: str) -> _Split:
    lines = _read_lines(path)
    header, start = _parse_ts_header(lines, path)
    _check_ts_header(header, path)
    declared, label_line = header["classlabel"]
    declared_set = set(declared)
    dims, dims_said = None, None  # expected dimensions, and who said so
    if "dimensions" in header:
        dims, line_no = header["dimensions"]
        dims_said = f"@dimensions declares {dims} (line {line_no})"
    elif header.get("univariate", (False,))[0]:
        dims = 1
        dims_said = f"@univariate true declares 1 (line {header['univariate'][1]})"
    equal = header.get("equallength", (None,))[0]
    series_length = header.get("serieslength", (None, None))
    if equal is False:
        series_length = (None, None)  # Only meaningful for equal lengths.

    series, labels, line_nos = [], [], []
    for index in range(start, len(lines)):
        line_no = index + 1
        line = lines[index].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            raise ValueError(
                f"{_at(path, line_no)}: a header line after @data (line "
                f"{header['data'][1]})."
            )
        parts = line.split(":")
        n_dims = len(parts) - 1
        if n_dims < 1:
            raise ValueError(
                f"{_at(path, line_no)}: no ':' before the class label; "
                "expected 'dim1 values : ... : label'."
            )
        if dims is None:
            dims, dims_said = n_dims, f"the first series (line {line_no}) has {n_dims}"
        elif n_dims != dims:
            raise ValueError(
                f"{_at(path, line_no)}: {n_dims} dimensions, but {dims_said}."
            )
        label = parts[-1].strip()
        if label not in declared_set:
            raise ValueError(
                f"{_at(path, line_no)}: class label {label!r} is not declared "
                f"by @classLabel (line {label_line}: {' '.join(declared)})."
            )
        columns = []
        for d, part in enumerate(parts[:-1], start=1):
            columns.append(_parse_ts_dim(part, path, line_no, d))
        length = len(columns[0])
        for d, column in enumerate(columns[1:], start=2):
            if len(column) != length:
                raise ValueError(
                    f"{_at(path, line_no)}: dimension {d} has {len(column)} "
                    f"values but dimension 1 has {length}; all dimensions of "
                    "a series must have the same length."
                )
        if series_length[0] is not None and length != series_length[0]:
            raise ValueError(
                f"{_at(path, line_no)}: {length} values per dimension, but "
                f"@seriesLength declares {series_length[0]} (line "
                f"{series_length[1]})."
            )
        if equal and series and length != len(series[0]):
            raise ValueError(
                f"{_at(path, line_no)}: {length} values per dimension, but "
                f"line {line_nos[0]} has {len(series[0])} and @equalLength "
                f"true is declared (line {header['equallength'][1]})."
            )
        series.append(np.stack(columns, axis=1))
        labels.append(label)
        line_nos.append(line_no)
    if not series:
        raise ValueError(
            f"File {path!r} holds no series after @data (line "
            f"{header['data'][1]}); the split is empty."
        )
    return _split_of(series, labels, declared, path)


def _parse_ts_dim(part, path, line_no, d):
    tokens = part.split(",")
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        for position, token in enumerate(tokens, start=1):
            _parse_float(
                token, path, line_no, f"in dimension {d}, position {position}"
            )
        raise  # Unreachable unless float() and numpy disagree.
    finite = np.isfinite(values)
    if not finite.all():
        position = int(np.argmin(finite))
        raise ValueError(
            f"{_at(path, line_no)}: value {tokens[position].strip()!r} in "
            f"dimension {d}, position {position + 1} is not finite; NaN and "
            "infinite values are not supported."
        )
    large = _beyond_float32(values)
    if large.any():
        position = int(np.argmax(large))
        raise ValueError(
            f"{_at(path, line_no)}: the value in dimension {d}, position {position + 1}, "
            + _range_text(values[position])
        )
    return values


def _split_of(series, labels, declared, where) -> _Split:
    """A `_Split` of (T_i, C) series of any lengths."""
    return _Split(
        x=_stack(series),
        lengths=np.array([len(s) for s in series], dtype=np.int32),
        labels=labels,
        declared=declared,
        where=where,
    )


def _stack(series) -> np.ndarray:
    """A list of (T_i, C) arrays -> float32 (n, max T_i, C), zeros at the end."""
    width = max(len(s) for s in series)
    out = np.zeros((len(series), width, series[0].shape[1]), dtype=np.float32)
    for i, s in enumerate(series):
        out[i, : len(s)] = s
    return out


# --------------------------------------------------------------------------
# Finding files.
# --------------------------------------------------------------------------


def _file_names(name, fmt, split):
    stem = f"{name}_{split}.{fmt}"
    return stem, stem + ".gz"


def _find_pair(folder: str, name: str, origin: str):
    """Returns (train path, test path, format) or raises FileNotFoundError."""
    folders = [folder, os.path.join(folder, name)]
    found = []  # (folder, fmt, split, path) of every file that exists
    for where in folders:
        for fmt in _FORMATS:
            pair = []
            for split in _SPLITS:
                for candidate in _file_names(name, fmt, split):
                    path = os.path.join(where, candidate)
                    if os.path.isfile(path):
                        pair.append(path)
                        found.append(path)
                        break
            if len(pair) == 2:
                return pair[0], pair[1], fmt
    looked_for = _looked_for(name)
    places = " and ".join(repr(f) for f in folders) + f" ({origin})"
    if found:
        raise FileNotFoundError(
            f"UCR/UEA data set {name!r}: found only {', '.join(map(repr, found))} "
            f"in {places}; both splits are needed in one folder and one "
            f"format. Looked for {looked_for}."
        )
    raise FileNotFoundError(
        f"UCR/UEA data set {name!r} not found: looked for {looked_for} in "
        f"{places}. A folder that is given is not replaced by another "
        f"source. {_how_to_point(name)}"
    )


def _looked_for(name):
    return ", then ".join(
        f"{name}_TRAIN.{fmt} and {name}_TEST.{fmt} (each plain or .gz)"
        for fmt in _FORMATS
    )


def _how_to_point(name):
    return (
        "Point the loader at the folder holding the files (or their "
        f"subfolder {name}/), either with load_ucr({name!r}, "
        f"data_dir='/path/to/ucr') or by setting the environment variable "
        f"{_ENV_VAR}=/path/to/ucr."
    )


def _load_from_folder(folder: str, name: str, origin: str):
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"UCR/UEA folder {folder!r} ({origin}) does not exist or is not a "
            f"folder (looking for data set {name!r}). {_how_to_point(name)}"
        )
    train_path, test_path, fmt = _find_pair(folder, name, origin)
    parse = _parse_ts if fmt == "ts" else _parse_tsv
    return parse(train_path), parse(test_path), (train_path, test_path)


def _load_from_aeon(name: str):
    try:
        from aeon.datasets import load_classification  # Optional, online.
    except ImportError:
        raise FileNotFoundError(
            f"UCR/UEA data set {name!r} not found: no data_dir was given, the "
            f"environment variable {_ENV_VAR} is not set, and aeon is not "
            f"installed (it would download the data set). No folder was "
            f"searched; the files would be {_looked_for(name)}. "
            f"{_how_to_point(name)}"
        ) from None
    splits = []
    for split in ("train", "test"):
        try:
            result = load_classification(name, split=split)
        except Exception as exc:  # Offline, unknown name, ...: "no source".
            raise FileNotFoundError(
                f"UCR/UEA data set {name!r} could not be loaded through aeon "
                f"({exc!r}). {_how_to_point(name)}"
            ) from exc
        splits.append(_from_aeon(result[0], result[1], f"aeon {name}/{split}"))
    return splits[0], splits[1], _AEON_SOURCE


def _from_aeon(x, y, where) -> _Split:
    # aeon gives (n, channels, T) arrays, or a list of (channels, T_i) arrays
    # for unequal lengths; labels are strings.
    series = [np.asarray(s, dtype=np.float64).T for s in x]
    labels = [str(label) for label in np.asarray(y).reshape(-1)]
    if not series:
        raise ValueError(f"{where} holds no series (the split is empty).")
    if len(labels) != len(series):
        raise ValueError(
            f"{where}: {len(series)} series but {len(labels)} labels."
        )
    for i, s in enumerate(series):
        if s.ndim != 2 or s.shape[0] == 0 or s.shape[1] != series[0].shape[1]:
            raise ValueError(
                f"{where}: series {i} has shape {s.T.shape}; expected "
                f"(channels={series[0].shape[1]}, length >= 1)."
            )
        if not np.isfinite(s).all():
            raise ValueError(
                f"{where}: series {i} holds NaN or infinite values; missing "
                "values are not supported."
            )
        if _beyond_float32(s).any():
            raise ValueError(
                f"{where}: series {i}: the value " + _range_text(s[_beyond_float32(s)][0])
            )
    return _split_of(series, labels, None, where)


# --------------------------------------------------------------------------
# The loader.
# --------------------------------------------------------------------------


def _check_name(name):
    bad = (
        not isinstance(name, str)
        or not name.strip()
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or (os.sep in name)
        or (os.altsep is not None and os.altsep in name)
    )
    if bad:
        fail(
            "name", name,
            "a non-empty data set name without path separators, e.g. 'FordA'",
        )


def _with_width(x, width):
    if x.shape[1] == width:
        return x
    out = np.zeros((x.shape[0], width, x.shape[2]), dtype=np.float32)
    out[:, : x.shape[1]] = x
    return out


def load_ucr(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    pad: bool = False,
    pad_length: int | None = None,
) -> UCRDataset:
    """Loads a UCR/UEA time-series classification data set.

    Sources are tried in this order: ``data_dir``; else the folder named by
    the ``UCR_DIR`` environment variable; else aeon's
    ``aeon.datasets.load_classification`` if aeon can be imported (it
    downloads the data set). A folder that is given but lacks the files raises
    instead of falling back to the next source.

    In the folder, the files ``<name>_TRAIN.ts`` / ``<name>_TEST.ts`` (UEA
    format) are tried first, then ``<name>_TRAIN.tsv`` / ``<name>_TEST.tsv``
    (UCR 2018 format), each plain or with a ``.gz`` suffix; then the same in
    the subfolder ``<name>/``. Both splits must be found in one folder and one
    format.

    Class labels are mapped to ``0 .. K-1`` in sorted order (numeric when all
    labels are numbers, else by string; the same number spelled two ways is
    one class), one mapping for both splits;
    ``result.classes[k]`` is the original label of class ``k``.

    Unequal-length series are refused unless ``pad=True``, which pads every
    series at the end with zeros to the longest length over both splits (or
    to ``pad_length``); the true lengths are then in ``result.train_lengths``
    and ``result.test_lengths`` (build a mask with
    ``np.arange(T) < lengths[:, None]``). Series are never truncated.

    Args:
        name: The data set's name as in the archive, e.g. ``"FordA"`` or
            ``"JapaneseVowels"``; a non-empty string without path separators.
        data_dir: Folder holding the files, or their subfolder ``<name>/``.
        pad: If True, accept series of unequal lengths and pad them with
            zeros at the end. Equal-length data is unchanged unless
            ``pad_length`` is longer.
        pad_length: With ``pad=True``, the length to pad to (at least the
            longest series); ``None`` pads to the longest series.

    Returns:
        A :class:`UCRDataset`: the pair ``((x_train, y_train), (x_test,
        y_test))`` with float32 ``x`` of shape ``(n, T, channels)`` and int32
        ``y`` of shape ``(n,)``, plus the attributes ``name``, ``classes``,
        ``source``, ``train_lengths`` and ``test_lengths``.

    Raises:
        FileNotFoundError: If the folder or the files are missing, or no
            source is available at all; the message lists the file names and
            folders searched and says how to point the loader at the files.
        ValueError: If ``name``, ``pad`` or ``pad_length`` is invalid; if a
            file is malformed (the message names the file and the line):
            non-numeric, NaN or infinite values, missing values ``?``, rows
            of different lengths in a ``.tsv`` file, a ``.ts`` header that
            disagrees with the data (``@dimensions``, ``@univariate``,
            ``@seriesLength``, ``@equalLength``, ``@classLabel``), time
            stamps, no ``@data`` line, an empty split; if train and test have
            different numbers of channels; or if the series have unequal
            lengths and ``pad`` is False.

    Example:
        >>> import os, tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> for split, rows in [("TRAIN", ["1\\t0.5\\t0.25\\t0", "-1\\t1\\t2\\t3"]),
        ...                     ("TEST", ["-1\\t4\\t5\\t6"])]:
        ...     with open(os.path.join(tmp.name, f"Toy_{split}.tsv"), "w") as f:
        ...         _ = f.write("\\n".join(rows) + "\\n")
        >>> data = load_ucr("Toy", data_dir=tmp.name)
        >>> (x_train, y_train), (x_test, y_test) = data
        >>> x_train.shape, x_train.dtype, y_train.tolist(), y_test.tolist()
        ((2, 3, 1), dtype('float32'), [1, 0], [0])
        >>> data.classes
        ('-1', '1')
        >>> tmp.cleanup()
    """
    _check_name(name)
    if not isinstance(pad, bool):
        fail("pad", pad, "True or False")
    if pad_length is not None:
        if not pad:
            fail("pad_length", pad_length, "None unless pad=True")
        pad_length = check_int("pad_length", pad_length, minimum=1)

    origin = "the data_dir argument"
    if data_dir is None:
        data_dir = os.environ.get(_ENV_VAR) or None
        origin = f"the environment variable {_ENV_VAR}"
    if data_dir is not None:
        folder = os.path.abspath(os.fspath(data_dir))
        train, test, source = _load_from_folder(folder, name, origin)
    else:
        train, test, source = _load_from_aeon(name)

    if train.x.shape[2] != test.x.shape[2]:
        raise ValueError(
            f"UCR/UEA data set {name!r}: the training split ({train.where!r}) "
            f"has {train.x.shape[2]} channels but the test split "
            f"({test.where!r}) has {test.x.shape[2]}."
        )

    lengths = np.concatenate([train.lengths, test.lengths])
    shortest, longest = int(lengths.min()), int(lengths.max())
    if shortest != longest and not pad:
        raise ValueError(
            f"UCR/UEA data set {name!r} has series of unequal lengths "
            f"({shortest}..{longest} time steps; training split "
            f"{int(train.lengths.min())}..{int(train.lengths.max())}, test "
            f"split {int(test.lengths.min())}..{int(test.lengths.max())}). "
            f"Pass pad=True to pad them with zeros at the end to {longest} "
            "steps (or pad_length=N for N steps); the true lengths are then "
            "in result.train_lengths and result.test_lengths."
        )
    width = longest
    if pad_length is not None:
        if pad_length < longest:
            fail(
                "pad_length", pad_length,
                f"None or an integer >= {longest}, the longest series of "
                f"{name!r} (series are never truncated)",
            )
        width = pad_length

    declared = set()
    for split in (train, test):
        declared.update(split.declared or split.labels)
    classes, index = _class_index(declared)

    def finish(split):
        x = _with_width(split.x, width)
        y = np.array([index[label] for label in split.labels], dtype=np.int32)
        return x, y

    return UCRDataset(
        finish(train),
        finish(test),
        name=name,
        classes=classes,
        source=source,
        train_lengths=train.lengths,
        test_lengths=test.lengths,
    )
