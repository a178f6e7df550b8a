"""tools/reproduce/pack.py: runs carried in an archive, checked before anything is replaced."""

import filecmp
import io
import json
import os
import shutil
import tarfile

import pytest
from conftest import TINY_CONFIG, epochs_seen, tiny_archive, train_tiny

from tools.experiments import Configuration, run_state, storage
from tools.reproduce import cli, document, pack


def test_pack_carries_a_run_elsewhere_and_it_resumes_there(stretch, tmp_path):
    folder, before, data_dir = stretch
    archive = tmp_path / "results.tar.gz"
    assert pack.pack(str(folder), str(archive)) == os.path.getsize(archive)
    with tarfile.open(archive) as tar:
        members = sorted(tar.getnames())
    assert f"{TINY_CONFIG.name}.json" in members and f"{TINY_CONFIG.name}.csv" in members
    assert f"{TINY_CONFIG.name}_backup/latest.weights.h5" in members
    assert members == sorted(pack.run_files(str(folder), TINY_CONFIG.name))

    there = tmp_path / "there"
    assert pack.unpack(str(archive), str(there)) == [TINY_CONFIG.name]
    with open(there / "summary.json") as f:
        assert json.load(f)["groups"] == []  # Rewritten: no finished run yet.
    for member in members:
        assert filecmp.cmp(folder / member, there / member, shallow=False), member
    seen, epochs = epochs_seen()
    record = train_tiny(TINY_CONFIG, there, data_dir, seen)
    assert epochs == [1]  # Epoch 0 is not trained again.
    assert record["finished"] and record["history"]["epoch"] == [0, 1]
    assert record["history"]["loss"][0] == before["history"]["loss"][0]
    assert [s["from_epoch"] for s in record["sessions"]] == [0, 1]
    assert (there / f"{TINY_CONFIG.name}.keras").exists()
    assert not (there / f"{TINY_CONFIG.name}_backup").exists()

    # Unpacking the older archive over the finished run is refused.
    with pytest.raises(ValueError, match="1 epochs of smnist_adadiag-tanh_C1_seed0"):
        pack.unpack(str(archive), str(there))
    assert run_state(str(there), TINY_CONFIG)[1] == "finished"

    configs = [TINY_CONFIG, Configuration("psmnist", "scn-3", 1, 0)]
    text = document.render_document(str(there), configs)
    assert "1 of 2 runs finished, 0 in progress, 1 not run." in text
    assert f"| 1 | `{TINY_CONFIG.name}` | finished, all epochs |" in text
    assert "| 2 | `psmnist_scn-3_C1_seed0` | not run | – |" in text
    assert f"{100 * record['test_accuracy']:.2f} ± 0.00 (n=1) [1]" in text
    assert "2 x 4 assembly" in text  # The footnote on our tiny setup.
    assert text.count("not run") >= 16  # Table 1's own cells, our column.

    # A finished record whose model no longer reads whole is not counted finished.
    (there / f"{TINY_CONFIG.name}.keras").write_bytes(b"PK\x03\x04 junk")
    assert run_state(str(there), TINY_CONFIG)[1] == "model damaged"
    text = document.render_document(str(there), configs)
    assert "0 of 2 runs finished, 0 in progress, 1 not run. 1 finished with a missing" in text
    assert f"| 1 | `{TINY_CONFIG.name}` | model damaged |" in text


@pytest.mark.parametrize("member", ["../escape.json", "/abs.json", "notes.txt"])
def test_unpack_accepts_run_files_only(tmp_path, member):
    with pytest.raises(ValueError, match="expected only run files"):
        pack.unpack(tiny_archive(tmp_path / "bad.tar.gz", member), str(tmp_path / "r"))
    assert not (tmp_path / "escape.json").exists()


def test_unpack_checks_every_run_is_complete_before_deleting(stretch, tmp_path):
    folder, _, _ = stretch
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    before = sorted(p.name for p in copy.rglob("*"))
    record = (folder / f"{TINY_CONFIG.name}.json").read_bytes()
    archive = tiny_archive(tmp_path / "short.tar.gz", f"{TINY_CONFIG.name}.json", record)
    with pytest.raises(ValueError, match=r"lacks .*\.csv.*latest\.weights\.h5"):
        pack.unpack(archive, str(copy), force=True)
    assert sorted(p.name for p in copy.rglob("*")) == before


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _archive_of(path, folder, extra=(), links=()):
    """The run files of `folder` plus `extra` (name, bytes) members and `links` (name, target)."""
    with tarfile.open(path, "w:gz") as tar:
        for member in pack.run_files(str(folder), TINY_CONFIG.name):
            tar.add(folder / member, arcname=member, recursive=False)
        for name, data in extra:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return str(path)


OTHER = "psmnist_scn-3_C1_seed0"


@pytest.mark.parametrize(
    "extra, links, problem",
    [
        # Into another run's record, through this run's backup folder.
        ([(f"{OTHER}_backup/../{TINY_CONFIG.name}.json", b"[]")], [], "plain relative path"),
        ([(f"{TINY_CONFIG.name}_backup/..", b"")], [], "plain relative path"),
        ([(f"{TINY_CONFIG.name}_backup/./latest.weights.h5", b"")], [], "plain relative path"),
        ([(f"{TINY_CONFIG.name}_backup//x.h5", b"")], [], "plain relative path"),
        ([], [(f"{TINY_CONFIG.name}_backup/best-epoch3.keras", "/etc/passwd")], "regular file"),
    ],
)  # fmt: skip
def test_unpack_refuses_an_escaping_member_before_anything_changes(
    extra, links, problem, stretch, tmp_path
):
    folder, _, _ = stretch
    here = tmp_path / "here"
    shutil.copytree(folder, here)
    before = _snapshot(here)
    archive = _archive_of(tmp_path / "bad.tar.gz", folder, extra, links)
    with pytest.raises(ValueError, match=rf"{problem}.*expected only run files.*Nothing"):
        pack.unpack(archive, str(here), force=True)
    assert _snapshot(here) == before


@pytest.mark.parametrize("content", [None, b"not gzip at all", b""])
def test_unpack_of_a_missing_or_unreadable_file_is_refused(content, tmp_path, capsys):
    path = tmp_path / "results.tar.gz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=r"Invalid archive .*results\.tar\.gz.*cannot be read"):
        pack.unpack(str(path), str(tmp_path / "r"))
    with pytest.raises(SystemExit):
        cli.main(["unpack", str(path), "--results", str(tmp_path / "r")])
    assert "cannot be read" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("record", [b"[1, 2]", b'{"task": 3}', b"{torn"])
def test_unpack_refuses_a_malformed_record(record, stretch, tmp_path):
    folder, _, _ = stretch
    here = tmp_path / "here"
    shutil.copytree(folder, here)
    before = _snapshot(here)
    (tmp_path / "src").mkdir()
    shutil.copytree(folder, tmp_path / "src", dirs_exist_ok=True)
    (tmp_path / "src" / f"{TINY_CONFIG.name}.json").write_bytes(record)
    archive = _archive_of(tmp_path / "bad.tar.gz", tmp_path / "src")
    with pytest.raises(ValueError, match=r"record of .* is malformed"):
        pack.unpack(archive, str(here), force=True)
    assert _snapshot(here) == before


@pytest.mark.skipif(storage.fcntl is None, reason="runs are locked where fcntl exists")
def test_unpack_never_replaces_a_run_being_trained(stretch, tmp_path):
    folder, _, _ = stretch
    archive = _archive_of(tmp_path / "ok.tar.gz", folder)
    here = tmp_path / "here"
    shutil.copytree(folder, here)
    before = _snapshot(here)
    with storage.run_lock(str(here), TINY_CONFIG.name):
        with pytest.raises(storage.RunLockedError, match=TINY_CONFIG.name):
            pack.unpack(archive, str(here), force=True)
        assert {k: v for k, v in _snapshot(here).items() if k.suffix != ".lock"} == before
    assert pack.unpack(archive, str(here), force=True) == [TINY_CONFIG.name]
    assert _snapshot(here).keys() >= before.keys()
