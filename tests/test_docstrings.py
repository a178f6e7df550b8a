"""The Examples in the core modules' docstrings run as written."""

import doctest
import importlib

import pytest

CORE_MODULES = [
    "keras_rnnofrnns.cells.assembly_cell",
    "keras_rnnofrnns.cells.assembly_rnn",
    "keras_rnnofrnns.coupling.skew_coupling",
    "keras_rnnofrnns.constraints.diagonal",
    "keras_rnnofrnns.constraints.skew",
    "keras_rnnofrnns.stability.certificate",
    "keras_rnnofrnns.models",
    "keras_rnnofrnns.data.ucr",
]


@pytest.mark.parametrize("name", CORE_MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    globs = {name: getattr(module, name) for name in dir(module)}
    globs.update(importlib.import_module("keras_rnnofrnns").__dict__)
    result = doctest.testmod(module, globs=globs, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
