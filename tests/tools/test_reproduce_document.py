"""tools/reproduce/document.py and its template: docs/reproduction.md from the records."""

import json
import os
import re

import pytest
from conftest import MACHINE_PATH

from tools.experiments import load_records
from tools import REPOSITORY
from tools.reproduce import document


def test_committed_document_is_generated_from_results(monkeypatch):
    monkeypatch.chdir(REPOSITORY)
    with open(document.DEFAULT_DOCUMENT) as f:
        committed = f.read()
    assert committed == document.render_document(document.DEFAULT_RESULTS), (
        "docs/reproduction.md is stale: run `python examples/reproduce.py table`"
    )
    for text in ("validation data", "not run", "How to run on the GPU", "--time-budget",
                 "89.63 ± 0.25", "spectral radius"):  # fmt: skip
        assert text in committed


def test_template_speaks_only_of_the_project(tmp_path, monkeypatch):
    with open(document.TEMPLATE, encoding="utf-8") as f:
        template = f.read()
    monkeypatch.chdir(tmp_path)  # No results folder here: no run yet.
    text = document.render_document("results")
    for words in (template, text):
        assert not MACHINE_PATH.search(words)
        assert not re.search(r"(?<![\w&])#\d+|issue", words, re.IGNORECASE)
    for feature in ("pip install", "--time-budget", "--pack", "preempted", "resume"):
        assert feature in text
    # Every placeholder filled, the editors' note dropped.
    assert "$" not in text and "<!--" not in text
    assert text.startswith("# Reproducing Table 1 of the paper\n")
    assert "48 not run. No run has been made yet" in text


def test_a_placeholder_the_generator_does_not_know_is_refused(tmp_path):
    template = tmp_path / "template.md"
    template.write_text("# Title\n\n$status\n\n$unknown\n")
    with pytest.raises(KeyError, match="unknown"):
        document.render_document(str(tmp_path), template=str(template))


def test_malformed_records_are_named_and_skipped(tmp_path):
    good = {"task": "smnist", "method": "scn-3", "coupling_blocks": 5, "seed": 0,
            "test_accuracy": 0.5, "epochs_run": 1, "finished": True, "config": {}}  # fmt: skip
    bad = {
        "smnist_scn-3_C5_seed1": [1, 2],
        "smnist_scn-3_C5_seed2": {**good, "seed": 2, "method": None},
        "smnist_scn-30_C5_seed0": {**good, "method": "scn-30", "test_accuracy": "0.9"},
    }
    for name, record in {"smnist_scn-3_C5_seed0": good, **bad}.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(record))
    with pytest.warns(UserWarning) as caught:
        text = document.render_document(str(tmp_path))
        records = load_records(str(tmp_path))
    named = " ".join(str(w.message) for w in caught)
    for name in bad:
        assert f"{name}.json" in named
    assert [r["seed"] for r in records] == [0] and "`smnist_scn-3_C5_seed0`" in text


def test_write_document_writes_what_it_renders(tmp_path):
    path = tmp_path / "docs" / "reproduction.md"
    text = document.write_document(str(path), str(tmp_path))
    assert path.read_text() == text and os.listdir(tmp_path / "docs") == ["reproduction.md"]


WRONG_TYPES = {
    "config": [1], "history": [1], "epoch_seconds": {"a": 1}, "final_test_accuracy": "x",
    "date": 5, "certificate": [1], "finished": "yes", "sessions": [3], "best_epoch": 1.5,
}  # fmt: skip


@pytest.mark.parametrize("field", sorted(WRONG_TYPES))
def test_a_field_of_the_wrong_type_is_named_and_skipped_by_table_and_status(
    field, tmp_path, capsys
):
    from tools.reproduce import cli

    good = {"task": "smnist", "method": "scn-3", "coupling_blocks": 5, "seed": 0,
            "test_accuracy": 0.5, "epochs_run": 1, "finished": True, "config": {},
            "history": {"epoch": [0]}, "epoch_seconds": [1.0]}  # fmt: skip
    (tmp_path / "smnist_scn-3_C5_seed0.json").write_text(json.dumps(good))
    bad = {**good, "seed": 1, field: WRONG_TYPES[field]}
    (tmp_path / "smnist_scn-3_C5_seed1.json").write_text(json.dumps(bad))
    with pytest.warns(UserWarning, match=rf"smnist_scn-3_C5_seed1\.json: {field} (is|holds)"):
        assert cli.main(["table", "--results", str(tmp_path), "--output",
                         str(tmp_path / "t.md")]) == 0  # fmt: skip
    with pytest.warns(UserWarning, match=rf"smnist_scn-3_C5_seed1\.json: {field} (is|holds)"):
        assert cli.main(["status", "--results", str(tmp_path)]) == 0
    assert "smnist_scn-3_C5_seed0" in capsys.readouterr().out


def test_table_refuses_a_folder_without_records_and_names_the_folder_read(
    tmp_path, monkeypatch, capsys
):
    from tools.reproduce import cli

    monkeypatch.chdir(tmp_path)
    output = tmp_path / "reproduction.md"
    output.write_text("the committed document\n")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        cli.main(["table", "--results", str(tmp_path / "empty"), "--output", str(output)])
    assert "holds no run records" in capsys.readouterr().err
    assert output.read_text() == "the committed document\n"
    text = document.render_document(str(tmp_path / "empty"))
    assert "run records in `empty/`" in text and str(tmp_path) not in text
