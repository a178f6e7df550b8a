"""tools/curves.py: docs/mnist.md from the MNIST records beside the journal's curves."""

import os

import pytest
from conftest import MACHINE_PATH

from tools.experiments import load_records
from tools import curves


def _record(task, method, accuracies, epochs=250, seed=0, finished=False):
    return dict(
        task=task,
        method=method,
        seed=seed,
        epochs_run=len(accuracies),
        best_epoch=max(range(len(accuracies)), key=accuracies.__getitem__),
        finished=finished,
        history=dict(val_accuracy=accuracies),
        epoch_seconds=[100.0] + [60.0] * (len(accuracies) - 1),
        config=dict(epochs=epochs, readout="journal"),
        backend="jax",
        device="cpu",
        date="2026-12-02T10:00:00+00:00",
        command="python examples/psmnist.py --journal",
    )


def _curves():
    return {
        "psmnist": {1: [50.0 + e for e in range(250)], 2: [54.0 + e for e in range(250)]},
        "smnist": {1: [60.0 + e / 10 for e in range(250)]},
    }


def test_the_committed_journal_curves_are_the_journal_numbers():
    committed = curves.read_journal_curves(curves.COMMITTED["journal"])
    assert {task: sorted(trials) for task, trials in committed.items()} == {
        "psmnist": [1, 2, 3],
        "smnist": [1, 2, 3],
    }
    assert all(len(trial) == 250 for trials in committed.values() for trial in trials.values())
    # The journal's means ± std that the learning-curve comparison quotes.
    for task, epoch, expected in (
        ("psmnist", 1, "52.3 ± 2.3"),
        ("psmnist", 10, "89.0 ± 0.5"),
        ("smnist", 5, "94.3 ± 0.9"),
        ("smnist", 20, "97.8 ± 0.4"),
    ):
        mean, std = curves.journal_at(committed, task, epoch)
        assert f"{mean:.1f} ± {std:.1f}" == expected, (task, epoch)
    assert [round(v, 1) for v in committed["psmnist"][1][:3]] == [49.6, 71.8, 77.2]


def test_committed_document_matches_the_committed_records():
    results = curves.COMMITTED["results"]
    records = load_records(results, finished_only=False) if os.path.isdir(results) else []
    if not records:
        pytest.skip("no MNIST records committed")
    journal = curves.read_journal_curves(curves.COMMITTED["journal"])
    with open(curves.COMMITTED["document"], encoding="utf-8") as handle:
        committed = handle.read()
    assert committed == curves.render_document(records, journal), (
        "docs/mnist.md is stale: run `python examples/curves.py`"
    )
    figure = os.path.join(os.path.dirname(curves.COMMITTED["document"]), curves.FIGURE_NAME)
    with open(figure, "rb") as handle:
        assert handle.read(4) == b"\x89PNG"
    assert not MACHINE_PATH.search(committed)


def test_tables_show_each_epoch_reached_beside_the_journal():
    records = [
        _record("psmnist", "adadiag-gated", [0.5, 0.7, 0.75, 0.8, 0.82, 0.85]),
        _record("psmnist", "adadiag-gated-cayley", [0.4, 0.6]),
    ]
    text = curves.render_document(records, _curves())
    # Epochs 1, 2, 3, 5 and 10 always; 20 once a run reached it (none here).
    assert "| run | e1 | e2 | e3 | e5 | e10 |\n" in text and "e20" not in text
    assert "| journal AdaDiag, mean ± std of 2 trials | 52.0 ± 2.0 | 53.0 ± 2.0 |" in text
    assert "`adadiag-gated` (the journal's model), seed 0 | 50.0 | 70.0 | 75.0 | 82.0 | – |" in text
    assert "(ours, certified), seed 0 | 40.0 | 60.0 | – | – | – |" in text
    longer = _record("psmnist", "adadiag-gated", [0.5] * 19 + [0.9])
    assert "| e10 | e20 |\n" in curves.render_document([longer], _curves())
    # The state: epochs of the protocol's 250, last epoch, optimistic best.
    assert "| `adadiag-gated` seed 0 | 6 / 250, in progress | 85.0 | 85.0 (epoch 6) | 60 |" in text
    assert "## sMNIST\n\nNo run yet." in text


def test_targets_are_met_not_met_or_not_reached():
    reached = [0.5] * 9 + [0.875]
    records = [
        _record("psmnist", "adadiag-gated", reached),
        _record("psmnist", "adadiag-gated-cayley", [0.5] * 9 + [0.869]),
        _record("smnist", "adadiag-gated-cayley", [0.9, 0.91]),
    ]
    lines = curves.target_lines(records)
    assert lines[0].startswith("- psMNIST epoch 10, `adadiag-gated` ≥ 87.5: **met**")
    assert lines[1].startswith("- psMNIST epoch 10, `adadiag-gated-cayley` ≥ 87.0: **not met**")
    assert "(`adadiag-gated-cayley` seed 0: 86.9)" in lines[1]
    assert lines[2] == (
        "- sMNIST epoch 5, `adadiag-gated` or `adadiag-gated-cayley` ≥ 92.8: not reached "
        "yet (`adadiag-gated-cayley` seed 0 at epoch 2)."
    )
    assert "not reached yet (no run)" in curves.target_lines([])[0]


def test_the_figure_overlays_our_curves_on_the_trials(tmp_path):
    records = [_record("smnist", "adadiag-gated", [0.6, 0.8])]
    path = curves.plot_curves(records, _curves(), str(tmp_path / "c.png"))
    with open(path, "rb") as handle:
        assert handle.read(4) == b"\x89PNG"


def test_the_command_writes_both_and_refuses_a_folder_without_records(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    journal = tmp_path / "journal.csv"
    journal.write_text(
        "dataset,model,trial,epoch,test_accuracy\npsmnist,adadiag,1,1,0.5\n", encoding="utf-8"
    )
    document = tmp_path / "docs" / "mnist.md"
    argv = ["--results", str(results), "--journal", str(journal), "--output", str(document)]
    with pytest.raises(SystemExit):
        curves.main(argv)
    assert "holds no sMNIST / psMNIST record" in capsys.readouterr().err
    assert not document.exists()
    with pytest.raises(SystemExit):
        curves.main(["--results", str(tmp_path / "missing")])
    assert "does not exist" in capsys.readouterr().err


def test_a_journal_trial_with_a_gap_is_refused(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text(
        "dataset,model,trial,epoch,test_accuracy\nsmnist,adadiag,2,1,0.5\nsmnist,adadiag,2,3,0.6\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="smnist trial 2 has the epochs \\[1, 3\\]"):
        curves.read_journal_curves(str(path))
