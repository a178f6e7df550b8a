"""Carries runs between machines: a few small files per run in one `.tar.gz` archive.

A run trained on one machine (one held for a limited time, say) is packed
there and unpacked where the results are kept; it resumes from the archive
at its next epoch, anywhere.
"""

import contextlib
import json
import os
import re
import shutil
import tarfile

from tools.experiments import load_records, write_summary
from tools.experiments.records import read_record, record_problem
from tools.experiments.storage import (
    BACKUP_METADATA,
    BACKUP_WEIGHTS,
    is_temporary,
    run_lock,
)
from tools.reproduce.plan import DEFAULT_RESULTS, LOG_FOLDER, run_names

# Above this size `pack` warns: an archive meant to travel should stay small.
PACK_LIMIT_BYTES = 16 * 2**20

_MEMBER = re.compile(
    r"^(?:(?P<log>" + LOG_FOLDER + r")/)?(?P<name>[a-z]+_[a-z0-9-]+_C\d+_seed\d+)"
    r"(?:\.(?:json|csv|keras|log)|_backup(?:/[\w.-]+)+)$"
)


def run_files(results, name):
    """The paths of run `name` in `results` that a pack carries, relative to `results`.

    The record, the CSV log, the final model, everything in the backup folder
    and the worker log; not the figure, which `plot_assembly` redraws from
    the model. Of a run without a record (no finished epoch) only the log.

    Args:
        results: the results folder.
        name: the run's name (file stem).

    Returns:
        A list of relative paths of files that exist.
    """
    paths = [os.path.join(LOG_FOLDER, name + ".log")]
    if not os.path.isfile(os.path.join(results, name + ".json")):
        return [p for p in paths if os.path.isfile(os.path.join(results, p))]
    paths += [name + ext for ext in (".json", ".csv", ".keras")]
    backup = name + "_backup"
    if os.path.isdir(os.path.join(results, backup)):
        for folder, _, files in sorted(os.walk(os.path.join(results, backup))):
            paths += [
                os.path.relpath(os.path.join(folder, f), results)
                for f in sorted(files)
                if not is_temporary(f)
            ]
    return [p for p in paths if os.path.isfile(os.path.join(results, p))]


def pack(results, path, names=None):
    """Writes the files of some runs of `results` into one `.tar.gz` archive.

    Args:
        results: the results folder.
        path: the archive to write.
        names: run names (file stems) to pack; None packs every run.

    Returns:
        The archive's size in bytes.
    """
    names = run_names(results) if names is None else list(names)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name in names:
            for member in run_files(results, name):
                archive.add(os.path.join(results, member), arcname=member, recursive=False)
    size = os.path.getsize(path)
    print(f"packed {len(names)} runs of {results} into {path} ({size / 2**20:.2f} MiB)")
    if size > PACK_LIMIT_BYTES:
        print(
            f"warning: {path} is over {PACK_LIMIT_BYTES // 2**20} MiB; pack fewer runs "
            "(--parallel) or with `pack --runs` if it has to travel in small pieces"
        )
    return size


def _check_complete(path, names, members, records):
    """Raises unless the archive holds every file each of its runs needs.

    A finished run needs its record, log and model; an unfinished one its
    record, log and the backup's weights and metadata. Checked before any
    file here is deleted, so a short archive never costs a run.
    """
    for name in names:
        needed = [f"{name}.csv"]
        if records[name].get("finished"):
            needed.append(f"{name}.keras")
        else:
            backup = f"{name}_backup/"
            needed += [backup + BACKUP_WEIGHTS, backup + BACKUP_METADATA]
        missing = [member for member in needed if member not in members]
        if missing:
            raise ValueError(
                f"Invalid archive {path!r}: run {name} lacks {', '.join(missing)}; expected "
                "each run's full file set. Nothing was replaced; pack the run again."
            )


def _member_problem(member):
    """Why an archive member is not a run file `pack` writes, or None."""
    name = member.name
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        return "not a plain relative path"
    if not member.isfile():
        return "not a regular file (a link, a folder or a device)"
    if _MEMBER.match(name) is None or any(is_temporary(p) for p in parts):
        return "not a run file"
    return None


def _open_archive(path):
    try:
        return tarfile.open(path, "r:gz")
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise ValueError(
            f"Invalid archive {path!r}: it cannot be read as a .tar.gz file ({exc}); "
            "expected an archive written by `pack`."
        ) from exc


def _archived_record(path, archive, name):
    try:
        record = json.load(archive.extractfile(f"{name}.json"))
    except (OSError, ValueError, tarfile.TarError, EOFError) as exc:
        problem = f"not valid JSON ({exc})"
    else:
        problem = record_problem(record)
    if problem:
        raise ValueError(
            f"Invalid archive {path!r}: the record of {name} is malformed ({problem}); "
            "expected an archive written by `pack`. Nothing was replaced."
        )
    return record


def unpack(path, results=DEFAULT_RESULTS, force=False):
    """Puts the runs of an archive written by `pack` into `results`.

    Every run in the archive replaces the one of that name in `results`
    (all its files, its backup folder too; of a run packed without a record
    only the log), then `summary.json` is rewritten from all the records
    there. Each run's lock is held meanwhile, so a run being trained here
    is not replaced under its process.

    Args:
        path: the archive.
        results: the results folder.
        force: also replace runs that have more finished epochs here than in
            the archive (an older archive).

    Returns:
        The names of the runs unpacked.

    Raises:
        ValueError: if the archive cannot be read, holds anything but run
            files (an absolute path, a `..`, a link or device, a file outside
            its run's names), a malformed record, a run without its full file
            set, or (unless `force`) an older state of a run than `results`;
            then nothing in `results` is changed.
        tools.experiments.storage.RunLockedError: if a process is
            training one of the archive's runs in `results`.
    """
    with _open_archive(path) as archive:
        try:
            members = archive.getmembers()
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise ValueError(
                f"Invalid archive {path!r}: it cannot be read whole ({exc}); expected an "
                "archive written by `pack`."
            ) from exc
        names = set()
        for member in members:
            problem = _member_problem(member)
            if problem:
                raise ValueError(
                    f"Invalid archive {path!r}: received the member {member.name!r} "
                    f"({problem}); expected only run files written by `pack`. Nothing "
                    "was replaced."
                )
            names.add(_MEMBER.match(member.name)["name"])
        # Runs packed with their record; of the others only a log came.
        member_names = {m.name for m in members}
        names = sorted(n for n in names if f"{n}.json" in member_names)
        records = {name: _archived_record(path, archive, name) for name in names}
        _check_complete(path, names, member_names, records)
        with contextlib.ExitStack() as locks:
            for name in names:
                locks.enter_context(run_lock(results, name))
            for name in names:
                record = records[name]
                here = read_record(os.path.join(results, f"{name}.json"))
                if not force and here is not None and here["epochs_run"] > record["epochs_run"]:
                    raise ValueError(
                        f"Invalid archive {path!r}: it holds {record['epochs_run']} epochs of "
                        f"{name}, {results!r} already {here['epochs_run']}; expected a newer "
                        "archive (force=True / --force replaces the run anyway)."
                    )
            for name in names:
                for member in run_files(results, name):
                    os.remove(os.path.join(results, member))
                shutil.rmtree(os.path.join(results, f"{name}_backup"), ignore_errors=True)
            archive.extractall(results, filter="data")
    write_summary(results, load_records(results))
    print(f"unpacked {len(names)} runs from {path} into {results}: {', '.join(names)}")
    return names
