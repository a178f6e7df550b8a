"""tools/reproduce/cli.py and its front, `python examples/reproduce.py`."""

import os
import subprocess
import sys

import pytest
from conftest import TINY_RUN_FLAGS, tiny_archive

from tools import REPOSITORY
from tools.reproduce import cli


def test_command_line_errors_name_the_argument(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["--modules", "2", "--results", str(tmp_path)])  # C = 20 > 1
    assert "coupling_blocks=20" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([*TINY_RUN_FLAGS, "--parallel", "0", "--results", str(tmp_path)])
    assert "parallel=0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([*TINY_RUN_FLAGS, "--time-budget", "0", "--results", str(tmp_path)])
    assert "time_budget=0.0" in capsys.readouterr().err
    for flag, value, named in (("--time-budget", "nan", "time_budget=nan"),
                               ("--time-budget", "-1", "time_budget=-1.0"),
                               ("--grace", "nan", "grace=nan"), ("--grace", "-1", "grace=-1.0")):  # fmt: skip
        with pytest.raises(SystemExit):
            cli.main([*TINY_RUN_FLAGS, flag, value, "--results", str(tmp_path)])
        assert named in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["unpack", tiny_archive(tmp_path / "bad.tar.gz", "x.txt")])
    assert "expected only run files" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["bad.tar.gz"]  # No run was started.


@pytest.mark.parametrize("command", ["table", "status", "pack"])
def test_a_results_folder_that_does_not_exist_is_refused(command, tmp_path, capsys):
    document = tmp_path / "reproduction.md"
    argv = [command, "--results", str(tmp_path / "typo")]
    argv += {"table": ["--output", str(document)], "pack": [str(tmp_path / "p.tar.gz")]}.get(
        command, []
    )
    with pytest.raises(SystemExit):
        cli.main(argv)
    assert "typo" in capsys.readouterr().err and not document.exists()


def test_the_example_runs_as_a_script_from_anywhere(tmp_path):
    # The library alone on the path, through a link: the script must find
    # tools/ itself, as it does for a user with the package installed.
    library = tmp_path / "library"
    library.mkdir()
    os.symlink(os.path.join(REPOSITORY, "keras_rnnofrnns"), library / "keras_rnnofrnns")
    env = {**os.environ, "PYTHONPATH": str(library)}
    (tmp_path / "results").mkdir()
    script = os.path.join(REPOSITORY, "examples", "reproduce.py")
    done = subprocess.run(
        [sys.executable, script, "status", "--results", "results"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "| 1 | `psmnist_scn-3_C20_seed0` | not run |" in done.stdout
    assert "| 48 | `smnist_adadiag-clip_C5_seed2` | not run |" in done.stdout
