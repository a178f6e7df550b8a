"""The Examples in the package's docstrings run as written, in one place."""

import doctest
import importlib
import pathlib

import pytest

import keras_rnnofrnns

# Every package module whose docstrings hold an Example (`>>>`); the last
# test checks that this list misses none.
MODULES = [
    "keras_rnnofrnns._checks",
    "keras_rnnofrnns.cells.assembly_cell",
    "keras_rnnofrnns.cells.assembly_rnn",
    "keras_rnnofrnns.cells.traversal",
    "keras_rnnofrnns.constraints.diagonal",
    "keras_rnnofrnns.constraints.skew",
    "keras_rnnofrnns.coupling.skew_coupling",
    "keras_rnnofrnns.data.mnist",
    "keras_rnnofrnns.data.tasks",
    "keras_rnnofrnns.data.ucr",
    "keras_rnnofrnns.distribution",
    "keras_rnnofrnns.experiments.callbacks",
    "keras_rnnofrnns.experiments.figures",
    "keras_rnnofrnns.experiments.records",
    "keras_rnnofrnns.experiments.resume",
    "keras_rnnofrnns.experiments.runner",
    "keras_rnnofrnns.experiments.runs",
    "keras_rnnofrnns.experiments.settings",
    "keras_rnnofrnns.experiments.storage",
    "keras_rnnofrnns.experiments.table",
    "keras_rnnofrnns.experiments.timeseries",
    "keras_rnnofrnns.models",
    "keras_rnnofrnns.stability.certificate",
    "keras_rnnofrnns.tuning.hypermodel",
    "keras_rnnofrnns.tuning.search",
]

# These examples read MNIST from the MNIST_DIR folder: they run only where
# the data is (the `mnist_dir` fixture skips otherwise).
NEEDS_MNIST = {
    "keras_rnnofrnns.data.mnist",
    "keras_rnnofrnns.data.tasks",
    "keras_rnnofrnns.tuning.hypermodel",
    "keras_rnnofrnns.tuning.search",
}

# The loaders document every public function: at least this many examples
# must be there, so a lost example does not pass unnoticed.
MINIMUM_EXAMPLES = {"keras_rnnofrnns.data.mnist": 8, "keras_rnnofrnns.data.ucr": 5}


def run_examples(name):
    module = importlib.import_module(name)
    # A copy of the module's own names: each example must import whatever
    # else it uses, as a reader would.
    result = doctest.testmod(
        module,
        globs=vars(module).copy(),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.failed == 0
    assert result.attempted >= MINIMUM_EXAMPLES.get(name, 1)


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
