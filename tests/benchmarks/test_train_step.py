"""benchmarks/train_step.py: the harness runs, and its reference is the model."""

import glob
import json
import os
import shlex

import keras
from conftest import MACHINE_PATH, ROOT


def test_benchmark_harness_runs_and_its_reference_is_the_model(tmp_path):
    # benchmarks/train_step.py checks that its hand-written reference computes
    # the Keras model's loss from the same weights before timing it; a
    # mismatch is a failed row and exit status 1.
    import importlib.util
    from pathlib import Path

    path = Path(ROOT) / "benchmarks" / "train_step.py"
    spec = importlib.util.spec_from_file_location("train_step", path)
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    output = tmp_path / "bench.json"
    argv = ["--steps", "5", "--modules", "2", "--units", "4", "--coupling-blocks", "1",
            "--batch", "8", "--warmup", "0", "--repeats", "1", "--rounds", "1",
            "--methods", "scn-3", "--reference-unroll", "2", "--skip", "inference",
            "--json", str(output)]
    assert harness.main(argv) == 0
    report = json.loads(output.read_text())
    assert report["backend"] == keras.backend.backend()
    # The command is the one given to main, not the test runner's.
    command = report["command"]
    assert command.startswith(f"KERAS_BACKEND={keras.backend.backend()} python ")
    assert command.endswith(" benchmarks/train_step.py " + shlex.join(argv)) or command.endswith(
        "/benchmarks/train_step.py " + shlex.join(argv)
    )
    kinds = {r["kind"] for r in report["results"]}
    assert kinds == {"assembly", "generic", "simple_rnn", "reference"}
    for row in report["results"]:
        assert row["ms_per_step"] > 0 and row["vs_simple_rnn"] > 0 and row["vs_reference"] > 0


def test_committed_benchmark_reports_name_no_machine_path():
    reports = sorted(glob.glob(os.path.join(ROOT, "benchmarks", "results", "*.json")))
    assert reports, "benchmarks/results holds the committed reports"
    for path in reports:
        with open(path) as f:
            report = json.load(f)
        for key in ("command", "script"):
            assert not MACHINE_PATH.search(report[key]), f"{os.path.basename(path)}: {report[key]!r}"
