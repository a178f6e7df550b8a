"""Crash-safe files for long runs: atomic writes and a checked resume state.

Every file a run writes goes through `atomic_write`: a temporary file in the
same folder, flushed to disk, then `os.replace` over the destination. A kill
at any instant therefore leaves the old file or the new one, never a torn
one; only a temporary file (`is_temporary`) may be left behind, and it is
ignored and cleared. In a multi-process run only process 0 writes and
deletes files here (`keras_rnnofrnns.distribution.is_main_process`); the
others run the same saves into a scratch folder, since saving a model
spread over every process is a collective operation.

The training state of an unfinished run (`save_backup`, `restore_point`)
keeps the file names of `keras.callbacks.BackupAndRestore` with
`double_checkpoint=True` (`latest.weights.h5`, `training_metadata.json`, and
the previous pair as `*.bkp`) but is not that callback: Keras copies and
writes those files in place, one after the other, so a kill can tear one or
pair new weights with the old epoch, and it falls back to the previous pair
only on an `OSError` from the weights. Here each weights file is renamed
into place whole, its SHA-256 is stored in the metadata written after it,
and a restore takes the newest metadata whose weights match it: the
weights and the epoch always belong together.

One process at a time trains a run: `run_lock` holds an exclusive lock on
`<run>.lock` in the output folder for the whole of it, and the operating
system drops the lock when the process ends, however it ends. The lock
needs `fcntl` (Linux, macOS and the other POSIX systems); on Windows runs
are not locked, so do not start the same run twice there.
"""

import contextlib
import functools
import hashlib
import io
import json
import os
import re
import tempfile
import zipfile

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; see the module's docstring.
    fcntl = None

from keras_rnnofrnns.distribution import is_main_process

BACKUP_WEIGHTS = "latest.weights.h5"
BACKUP_METADATA = "training_metadata.json"
PREVIOUS = ".bkp"
_TEMPORARY = ".tmp"
# The best model of an unfinished run, one file per epoch that set a new best
# (0-based, as in the CSV log), so that a restore can tell which epoch it holds.
_BEST = re.compile(r"^best-epoch(\d+)\.keras$")


# The lock file of a run being trained: `<run>.lock`.
LOCK_SUFFIX = ".lock"


class RunLockedError(RuntimeError):
    """Another process is training the run: its lock is held."""


def _holder(path):
    try:
        with open(path) as f:
            pid = f.read().strip()
    except OSError:
        return "another process"
    return f"process {pid}" if pid.isdigit() else "another process"


@contextlib.contextmanager
def run_lock(folder, name):
    """Holds the exclusive lock of run `name` in `folder` while the block runs.

    The lock is an `fcntl.flock` on `<folder>/<name>.lock`, which holds the
    process id; the file is deleted when the block ends, and the system drops
    the lock of a process that dies. Creating the file also proves the folder
    writable before any training. Without `fcntl` (Windows) nothing is locked.

    Args:
        folder: the output folder (created if missing).
        name: the run's name (file stem).

    Yields:
        The lock file's path.

    Raises:
        RunLockedError: another process holds the lock (the message names the
            run, the lock file and the process).
        ValueError: the folder cannot be created or written.

    Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with run_lock(folder, "run") as path:
    ...     os.path.basename(path) in os.listdir(folder)
    True
    >>> os.listdir(folder)
    []
    """
    path = os.path.join(folder, name + LOCK_SUFFIX)
    try:
        os.makedirs(folder, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ValueError(
            f"Invalid `output`: received output={folder!r}, where the lock file "
            f"{path!r} cannot be written ({exc}); expected a writable folder."
        ) from exc
    if fcntl is None:
        os.close(descriptor)
        yield path
        return
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise RunLockedError(
                f"Run {name!r} is being trained by {_holder(path)}, which holds its lock "
                f"{path!r}; wait for it to end or stop it, then run the command again."
            ) from None
        # The holder may have deleted the file between our open and our lock:
        # a lock on a deleted file excludes no one, so take the new file's.
        try:
            ours = os.path.samestat(os.fstat(descriptor), os.stat(path))
        except FileNotFoundError:
            ours = False
        if ours:
            break
        os.close(descriptor)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        yield path
    finally:
        # Deleted while still locked, so no other process can lock this file
        # and find it gone afterwards without noticing (see the check above).
        with contextlib.suppress(OSError):
            os.remove(path)
        os.close(descriptor)


def is_temporary(name):
    """Whether a file name is one of `atomic_write`'s temporary files.

    Example:
    >>> is_temporary(".run.json.x1y2.tmp"), is_temporary("run.json")
    (True, False)
    """
    base = os.path.basename(name)
    return base.startswith(".") and _TEMPORARY in base


def _main_process_only(function):
    """Makes `function`, which deletes files, do nothing outside process 0.

    In a multi-process run (`keras_rnnofrnns.distribution.initialize_processes`)
    every process trains the same model; process 0 keeps the files, and
    processes sharing a folder must not delete each other's files.
    """

    @functools.wraps(function)
    def on_main_process(*args, **kwargs):
        if is_main_process():
            return function(*args, **kwargs)
        return None

    return on_main_process


def _discard(write, suffix):
    """Runs `write` on a scratch path and deletes what it wrote.

    Outside process 0 of a multi-process run: saving a model that lives on
    the devices of every process is a collective operation, which every
    process must run for process 0's save to finish; only process 0 keeps
    the file.
    """
    with tempfile.TemporaryDirectory() as scratch:
        write(os.path.join(scratch, "discarded" + suffix))


def _fsync(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _umask():
    # The umask can only be read by setting it: set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _finish(temporary):
    """Gives a written temporary file the mode `open` would have and flushes it."""
    # mkstemp creates files readable by their owner only, whatever the
    # umask; the destination gets the mode any other file written here gets.
    os.chmod(temporary, 0o666 & ~_umask())
    _fsync(temporary)


def _fsync_folder(folder):
    # The rename itself must reach the disk for the new file to survive a
    # power cut; not every platform can open a folder, hence best effort.
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _temporary(path, suffix):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=_TEMPORARY + suffix, dir=folder
    )
    os.close(descriptor)
    return temporary


def atomic_write(path, write, suffix=""):
    """Writes a file through a temporary file in the same folder and `os.replace`.

    Args:
        path: the destination.
        write: a function that writes the whole file to the path it is given.
        suffix: the ending the temporary file needs (Keras saves insist on
            `.keras` or `.weights.h5`).

    Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> atomic_write(path, lambda p: open(p, "w").write("done"))
    >>> open(path).read(), os.listdir(os.path.dirname(path))
    ('done', ['a.txt'])
    """
    if not is_main_process():
        _discard(write, suffix)
        return
    temporary = _temporary(path, suffix)
    try:
        write(temporary)
        _finish(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    _fsync_folder(os.path.dirname(os.path.abspath(path)))


def atomic_write_text(path, text):
    """Writes `text` to `path` atomically (see `atomic_write`)."""

    def write(temporary):
        with open(temporary, "w", newline="") as f:
            f.write(text)

    atomic_write(path, write)


def save_model(model, path, include_optimizer=True):
    """`model.save(path)`, atomically: a kill never leaves a torn `.keras` file."""
    atomic_write(
        path,
        lambda temporary: model.save(temporary, include_optimizer=include_optimizer),
        suffix=".keras",
    )


@_main_process_only
def remove_temporaries(folder, stem=""):
    """Deletes the temporary files a killed write of `stem*` files left in `folder`.

    Args:
        folder: the folder.
        stem: the start of the destination names; the default, all. Other
            processes may be writing other files of a shared folder.
    """
    if not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        if is_temporary(name) and name.startswith("." + stem):
            os.remove(os.path.join(folder, name))


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_backup(model, folder, epoch):
    """Saves the training state (weights and optimizer) after `epoch` epochs.

    The previous state stays as the `.bkp` pair until this one is complete,
    so a kill at any instant leaves at least one weights file whose metadata
    matches it.

    Args:
        model: the compiled model being trained.
        folder: the backup folder.
        epoch: the number of epochs completed.
    """
    if not is_main_process():
        _discard(model.save_weights, ".weights.h5")
        return
    weights = os.path.join(folder, BACKUP_WEIGHTS)
    metadata = os.path.join(folder, BACKUP_METADATA)
    temporary = _temporary(weights, ".weights.h5")
    try:
        model.save_weights(temporary)
        _finish(temporary)
    except BaseException:
        os.remove(temporary)
        raise
    digest = _sha256(temporary)
    # From here on every intermediate state keeps one matching pair: the
    # metadata of the previous state names the hash of the weights moved
    # with it, and the new metadata comes only after its weights.
    for path in (weights, metadata):
        if os.path.exists(path):
            os.replace(path, path + PREVIOUS)
    os.replace(temporary, weights)
    atomic_write_text(
        metadata,
        json.dumps({"epoch": int(epoch), "batch": 0, "weights_sha256": digest}) + "\n",
    )


def _readable_hdf5(path):
    # `path` may be a file object too: h5py reads either.
    import h5py

    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, item: item[()] if isinstance(item, h5py.Dataset) else None)
    except Exception:  # noqa: BLE001 - any failure means the file is damaged.
        return False
    return True


def _metadata(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    epoch = data.get("epoch") if isinstance(data, dict) else None
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        return None
    return data


def backup_files(folder):
    """The backup files present in `folder` (weights, metadata and their `.bkp`)."""
    names = [BACKUP_WEIGHTS, BACKUP_METADATA]
    names += [name + PREVIOUS for name in names]
    return [os.path.join(folder, n) for n in names if os.path.exists(os.path.join(folder, n))]


def restore_point(folder):
    """The newest consistent training state in a backup folder.

    Args:
        folder: the backup folder of `save_backup` (or of Keras's
            `BackupAndRestore`: metadata without a hash is paired with its
            own weights file if that reads whole).

    Returns:
        `(epochs, weights_path)`: the epochs completed and the weights file
        holding the state after them, which is made the latest pair if it
        was the previous one; None when the folder holds no backup files.

    Raises:
        ValueError: if backup files exist but no weights file matches a
            metadata file (damaged, or weights without metadata): the
            trained state cannot be restored, and starting at epoch 0 from
            trained weights would misreport the run.
    """
    present = backup_files(folder)
    if not present:
        return None
    candidates = []
    for name in (BACKUP_METADATA, BACKUP_METADATA + PREVIOUS):
        data = _metadata(os.path.join(folder, name))
        if data is None:
            continue
        own = os.path.join(folder, BACKUP_WEIGHTS + name[len(BACKUP_METADATA):])
        digest = data.get("weights_sha256")
        if digest is None:
            if os.path.exists(own) and _readable_hdf5(own):
                candidates.append((data["epoch"], own, name))
            continue
        for weights in (own, *backup_files(folder)):
            if weights.endswith((".h5", ".h5" + PREVIOUS)) and _sha256(weights) == digest:
                candidates.append((data["epoch"], weights, name))
                break
    if not candidates:
        raise ValueError(
            f"Invalid backup {folder!r}: none of its weights files matches its training "
            f"metadata (found {', '.join(os.path.basename(p) for p in present)}; a file "
            "is damaged or missing), so the trained state cannot be restored. Copy the "
            "folder back from a copy of the run if you have one; otherwise delete it and "
            "the run's .json and .csv files to train the run again from epoch 0."
        )
    epochs, weights, metadata = max(candidates)
    latest = os.path.join(folder, BACKUP_WEIGHTS)
    if weights != latest:
        # The pair found becomes the latest (Keras loads weights only from a
        # `.weights.h5` name); the hash keeps the two matched meanwhile.
        os.replace(weights, latest)
    if metadata != BACKUP_METADATA:
        os.replace(os.path.join(folder, metadata), os.path.join(folder, BACKUP_METADATA))
    return epochs, latest


# What `model.save` puts in a `.keras` file that loading it needs.
_MODEL_MEMBERS = ("config.json", "model.weights.h5")


def model_problem(path):
    """Why the `.keras` file `path` could not be loaded, or None when it is whole.

    Cheaper than loading the model: the zip's members and their CRCs, the
    configuration's JSON and every array of the weights file are read, but
    no model is built.

    Args:
        path: a `.keras` file written by `model.save`.

    Returns:
        None, or the damage in words.

    Example:
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
    >>> with zipfile.ZipFile(path, "w") as archive:
    ...     archive.writestr("notes.txt", "junk")
    >>> model_problem(path)
    'it lacks config.json, model.weights.h5'
    """
    if not os.path.isfile(path):
        return "it is missing"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            missing = [name for name in _MODEL_MEMBERS if name not in names]
            if missing:
                return f"it lacks {', '.join(missing)}"
            damaged = archive.testzip()
            if damaged is not None:
                return f"its member {damaged} fails its CRC check"
            json.loads(archive.read("config.json"))
            weights = io.BytesIO(archive.read("model.weights.h5"))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        return f"it is not a whole Keras model file ({exc})"
    if not _readable_hdf5(weights):
        return "its model.weights.h5 cannot be read whole"
    return None


def best_model_path(folder, epoch):
    """The file of the best model so far when `epoch` (0-based) set it."""
    return os.path.join(folder, f"best-epoch{int(epoch)}.keras")


def best_models(folder):
    """The best-model files in a backup folder, as `{epoch: path}`."""
    if not os.path.isdir(folder):
        return {}
    found = {}
    for name in os.listdir(folder):
        match = _BEST.match(name)
        if match:
            found[int(match.group(1))] = os.path.join(folder, name)
    return found


@_main_process_only
def keep_best_models(folder, epochs):
    """Deletes every best-model file of `folder` but those of `epochs`."""
    for epoch, path in best_models(folder).items():
        if epoch not in epochs:
            os.remove(path)
