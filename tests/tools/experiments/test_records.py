"""tools/experiments/records.py: what a record keeps of the command that made it."""

import os

import pytest
from conftest import MACHINE_PATH, ROOT

from tools.experiments.records import device_text, environment, load_records, portable_command


@pytest.mark.parametrize(
    "argument, recorded",
    [
        ("/home/me/project/results/timeseries", "results/timeseries"),
        ("--output=/home/me/project/results", "--output=results"),
        ("/home/me/project", "."),
        ("/data/ucr", "/data/ucr"),  # Outside the working directory: kept.
        ("/home/me/projects", "/home/me/projects"),  # A sibling, not inside.
        ("--output=/data/out", "--output=/data/out"),
        ("results", "results"),
        ("--lr=0.01", "--lr=0.01"),
        ("a=/home/me/project/x", "a=/home/me/project/x"),  # Not a flag: one value.
    ],
)
def test_absolute_paths_inside_the_working_directory_become_relative(argument, recorded):
    command = portable_command(["/home/me/project/train.py", argument], cwd="/home/me/project")
    assert command == f"python train.py {recorded}"


def test_numbers_are_arguments_too():
    assert portable_command(["run.py", 3, 0.5], cwd="/x") == "python run.py 3 0.5"


def test_environment_records_the_portable_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", [str(tmp_path / "run.py"), "--output", str(tmp_path / "out")])
    assert environment()["command"] == "python run.py --output out"


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_committed_records_name_no_machine_path():
    results = os.path.join(ROOT, "results")
    records = load_records(results, finished_only=False) if os.path.isdir(results) else []
    if not records:
        pytest.skip("no records committed")
    for record in records:
        path = record.pop("path")  # Added on loading, not part of the file.
        for text in _strings(record):
            assert not MACHINE_PATH.search(text), f"{os.path.relpath(path, ROOT)}: {text!r}"


def test_the_command_is_quoted_as_a_shell_reads_it_back():
    import shlex

    argv = ["run.py", "--output", "my runs", "--note", "it's", "[worker: x]"]
    command = portable_command(argv, cwd="/x")
    assert shlex.split(command) == ["python", *argv]


def test_non_finite_numbers_are_written_as_null_that_strict_readers_accept(tmp_path):
    import json

    from tools.experiments.records import read_json, write_json

    path = tmp_path / "r.json"
    write_json(str(path), {"loss": [1.0, float("nan"), float("inf")], "best": -float("inf")})

    def refuse(token):
        raise ValueError(f"non-standard token {token}")

    strict = json.loads(path.read_text(), parse_constant=refuse)
    assert strict == {"loss": [1.0, None, None], "best": None} == read_json(str(path))


def test_a_torn_record_is_refused_with_advice_that_keeps_the_backup(tmp_path):
    from tools.experiments.records import read_json

    path = tmp_path / "run.json"
    path.write_text('{"task": "sm')
    with pytest.raises(ValueError, match=r"not valid JSON.*Restore it from a copy.*_backup"):
        read_json(str(path))


@pytest.mark.parametrize(
    "entry, shown",
    [
        ({"device": "cpu", "backend": "tensorflow"}, "tensorflow on cpu"),
        (
            {"device": "torch on gpu:0 (NVIDIA H100 80GB HBM3)", "backend": "torch"},
            "torch on gpu:0 (NVIDIA H100 80GB HBM3)",
        ),
        ({"device": "gpu:0", "backend": "jax"}, "jax on gpu:0"),
        ({"device": "cpu"}, "cpu"),  # No backend recorded: nothing invented.
        ({"backend": "jax"}, "jax on ?"),
    ],
)
def test_old_and_new_device_descriptions_read_the_same_way(entry, shown):
    assert device_text(entry) == shown
