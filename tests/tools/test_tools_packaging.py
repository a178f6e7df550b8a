"""The tools stay out of the wheel, use only the library's public names, and their examples run."""

import ast
import pathlib
import tomllib

import pytest
import setuptools

from conftest import run_docstring_examples
from tools import REPOSITORY

ROOT = pathlib.Path(REPOSITORY)
TOOL_FILES = sorted((ROOT / "tools").rglob("*.py"))
TOOL_MODULES = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in TOOL_FILES]


def test_the_wheel_packages_the_library_only():
    with open(ROOT / "pyproject.toml", "rb") as f:
        find = tomllib.load(f)["tool"]["setuptools"]["packages"]["find"]
    packages = setuptools.find_packages(str(ROOT), **find)
    assert "keras_rnnofrnns.cells" in packages
    assert not [p for p in packages if p.split(".")[0] != "keras_rnnofrnns"], packages
    assert not [p for p in packages if "experiments" in p.split(".")], packages


HARNESS_MODULES = {"argparse", "subprocess", "tarfile"}


@pytest.mark.parametrize(
    "path", sorted((ROOT / "keras_rnnofrnns").rglob("*.py")), ids=lambda p: p.name
)
def test_the_library_holds_no_command_line_or_process_harness(path):
    # Command lines, child processes and archives are the harness's (tools/).
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            imported.add((node.module or "").split(".")[0])
    assert not imported & HARNESS_MODULES, (path, imported & HARNESS_MODULES)


@pytest.mark.parametrize("path", TOOL_FILES, ids=TOOL_MODULES)
def test_tools_import_no_private_library_name(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_rnnofrnns"):
            names = [*node.module.split("."), *(alias.name for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [part for alias in node.names for part in alias.name.split(".")]
        else:
            continue
        assert not [n for n in names if n.startswith("_")], ast.unparse(node)


# These tools' examples read MNIST from MNIST_DIR: they run only where the
# data is (the `mnist_dir` fixture skips otherwise).
NEEDS_MNIST = {"tools.experiments.search", "tools.experiments.tasks"}


@pytest.mark.parametrize("name", TOOL_MODULES)
def test_tool_docstring_examples_run(name, request, monkeypatch):
    if name in NEEDS_MNIST:
        monkeypatch.setenv("MNIST_DIR", request.getfixturevalue("mnist_dir"))
    attempted = run_docstring_examples(name)
    assert attempted > 0 or name != "tools.reproduce.plan"
