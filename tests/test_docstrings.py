"""The Examples in the library's docstrings run as written, in one place.

Those of the repository's tools run in tests/tools/test_tools_packaging.py.
"""

import doctest
import importlib
import pathlib

import pytest

import keras_rnnofrnns
from conftest import run_docstring_examples

# Every package module whose docstrings hold an Example (`>>>`); the last
# test checks that this list misses none.
MODULES = [
    "keras_rnnofrnns.checks",
    "keras_rnnofrnns.cells.assembly_cell",
    "keras_rnnofrnns.cells.assembly_rnn",
    "keras_rnnofrnns.cells.traversal",
    "keras_rnnofrnns.constraints.diagonal",
    "keras_rnnofrnns.constraints.skew",
    "keras_rnnofrnns.coupling.skew_coupling",
    "keras_rnnofrnns.data.mnist",
    "keras_rnnofrnns.data.ucr",
    "keras_rnnofrnns.distribution",
    "keras_rnnofrnns.models",
    "keras_rnnofrnns.stability.certificate",
    "keras_rnnofrnns.tuning.hypermodel",
]

# These examples read MNIST from the MNIST_DIR folder: they run only where
# the data is (the `mnist_dir` fixture skips otherwise).
NEEDS_MNIST = {
    "keras_rnnofrnns.data.mnist",
    "keras_rnnofrnns.tuning.hypermodel",
}

# The loaders document every public function: at least this many examples
# must be there, so a lost example does not pass unnoticed.
MINIMUM_EXAMPLES = {"keras_rnnofrnns.data.mnist": 8, "keras_rnnofrnns.data.ucr": 5}


def run_examples(name):
    assert run_docstring_examples(name) >= MINIMUM_EXAMPLES.get(name, 1)


@pytest.mark.parametrize("name", [name for name in MODULES if name not in NEEDS_MNIST])
def test_docstring_examples_run(name):
    run_examples(name)


@pytest.mark.parametrize("name", sorted(NEEDS_MNIST))
def test_mnist_docstring_examples_run(name, mnist_dir, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", mnist_dir)
    run_examples(name)


@pytest.mark.parametrize("name", sorted(MINIMUM_EXAMPLES))
def test_loaders_keep_their_examples(name):
    # Counted without running them, so this holds where the data is absent.
    tests = doctest.DocTestFinder().find(importlib.import_module(name))
    assert sum(len(test.examples) for test in tests) >= MINIMUM_EXAMPLES[name]


def test_every_module_with_examples_is_listed():
    root = pathlib.Path(keras_rnnofrnns.__file__).parent
    with_examples = {
        ".".join(("keras_rnnofrnns",) + path.relative_to(root).with_suffix("").parts)
        for path in root.rglob("*.py")
        if ">>>" in path.read_text(encoding="utf-8")
    }
    assert with_examples == set(MODULES)
