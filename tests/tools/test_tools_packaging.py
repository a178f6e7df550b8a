"""The tools stay out of the wheel, use only the library's public names, and their examples run."""

import ast
import doctest
import importlib
import pathlib
import tomllib

import pytest
import setuptools

from tools import REPOSITORY

ROOT = pathlib.Path(REPOSITORY)
TOOL_FILES = sorted((ROOT / "tools").rglob("*.py"))
TOOL_MODULES = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in TOOL_FILES]


def test_the_wheel_packages_the_library_only():
    with open(ROOT / "pyproject.toml", "rb") as f:
        find = tomllib.load(f)["tool"]["setuptools"]["packages"]["find"]
    packages = setuptools.find_packages(str(ROOT), **find)
    assert "keras_rnnofrnns.experiments" in packages
    assert not [p for p in packages if p.split(".")[0] != "keras_rnnofrnns"], packages


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


@pytest.mark.parametrize("name", TOOL_MODULES)
def test_tool_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, globs=vars(module).copy(), optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.failed == 0
    assert result.attempted > 0 or name != "tools.reproduce.plan"
