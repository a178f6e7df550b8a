"""Tests for keras_rnnofrnns.tuning.hypermodel: the search space, no training.

Also that KerasTuner stays optional: the hypermodel's module is where the
tuning package first imports it.
"""

import ast
import importlib
import os
import sys

import keras_tuner
import pytest
from conftest import ROOT

from keras_rnnofrnns import METHODS, PAPER_METHODS
from keras_rnnofrnns.tuning import AssemblyHyperModel, coupling_density


def _space(hypermodel):
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    return {parameter.name: parameter for parameter in hp.space}


# (arguments, the argument the error names, part of what it says is allowed),
# for an assembly of 4 modules: 6 pairs.
INVALID_SPACES = [
    ({"coupling_blocks": 7}, "coupling_blocks", "from 0 to 6 = p(p-1)/2"),
    ({"coupling_blocks": (0, 7)}, "coupling_blocks", "from 0 to 6"),
    ({"coupling_blocks": [1, -1]}, "coupling_blocks", "from 0 to 6"),
    ({"coupling_blocks": (4, 2)}, "coupling_blocks", "min <= max"),
    ({"coupling_density": 1.5}, "coupling_density", "from 0 to 1"),
    ({"coupling_blocks": 2, "coupling_density": 0.5}, "coupling_density", "not both"),
    ({"method": "lstm"}, "method", "'adadiag-clip'"),
    ({"method": ("scn-3", "scn-30")}, "method", "list of choices"),
    ({"method": []}, "method", "non-empty list"),
    ({"dt": 0.0}, "dt", "> 0"),
    ({"learning_rate": (-1e-3, 1e-2)}, "learning_rate", "> 0"),
    ({"learning_rate": (1e-2, 1e-3, 1e-4)}, "learning_rate", "(min, max) tuple"),
]


def test_invalid_search_space_names_argument_value_and_what_is_allowed():
    # One test, not a parametrisation: each case takes microseconds, a test
    # case's set-up and tear-down (clear_session) most of a second.
    for arguments, name, allowed in INVALID_SPACES:
        with pytest.raises(ValueError, match=f"`{name}`") as error:
            AssemblyHyperModel(num_modules=4, module_size=2, **arguments)
        assert allowed in str(error.value), (arguments, str(error.value))


def test_unknown_classifier_argument_is_refused():
    with pytest.raises(TypeError, match="num_units"):
        AssemblyHyperModel(num_modules=4, module_size=2, num_units=3)


def test_default_space_spans_the_paper_methods_and_every_coupling():
    space = _space(AssemblyHyperModel(num_modules=5, module_size=2))
    assert list(space["method"].values) == list(PAPER_METHODS)
    # The gated methods are there to choose, not searched by default.
    gated = _space(AssemblyHyperModel(method=["adadiag-gated", "adadiag-gated-cayley"]))
    assert list(gated["method"].values) == ["adadiag-gated", "adadiag-gated-cayley"]
    assert set(PAPER_METHODS) < set(METHODS)
    assert (space["coupling_blocks"].min_value, space["coupling_blocks"].max_value) == (0, 10)
    assert space["dt"].sampling == "log" and space["learning_rate"].sampling == "log"
    assert space["num_modules"].value == 5 and space["module_size"].value == 2


def test_dimensions_are_fixed_or_narrowed_and_density_becomes_blocks():
    # p = 5: 10 pairs. Densities 0.25 and 0.3 both round to C = 3 (halves
    # up: 0.25 * 10 = 2.5 -> 3), 0.05 to C = 1 (0.5 rounds up too).
    space = _space(
        AssemblyHyperModel(
            num_modules=5,
            module_size=2,
            method=["scn-30", "adadiag-tanh"],
            coupling_density=[0.25, 0.3, 0.05],
            dt=0.05,
            learning_rate=(1e-3, 1e-3),
        )
    )
    assert list(space["method"].values) == ["scn-30", "adadiag-tanh"]
    assert list(space["coupling_blocks"].values) == [3, 1]
    assert isinstance(space["dt"], keras_tuner.engine.hyperparameters.Fixed)
    assert space["dt"].value == 0.05 and space["learning_rate"].value == 1e-3

    ranged = _space(AssemblyHyperModel(num_modules=5, module_size=2, coupling_density=(0.1, 0.5)))
    assert (ranged["coupling_blocks"].min_value, ranged["coupling_blocks"].max_value) == (1, 5)


def test_build_uses_the_trial_values_and_records_what_density_needs():
    hypermodel = AssemblyHyperModel(
        num_modules=3, module_size=2, method="adadiag-clip", coupling_blocks=2, sequence_length=5
    )
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert model.name == "assembly_adadiag-clip"
    assert len(model.get_layer("assembly").get_config()["coupling_blocks"]) == 2
    assert model.output_shape == (None, 10) and model.optimizer is not None
    density = coupling_density(hp.values["coupling_blocks"], hp.values["num_modules"])
    assert density == pytest.approx(2 / 3)


def _round_trip(hp):
    """`hp` as a worker of a distributed search receives it from the chief."""
    return keras_tuner.HyperParameters.from_proto(hp.to_proto())


def test_space_check_accepts_the_space_a_distributed_worker_receives():
    # The chief's space reaches a worker through gRPC, which fills in what
    # the Python objects leave unset (an Int range's default None becomes 0).
    hypermodel = AssemblyHyperModel(
        num_modules=3, module_size=2, method=["adadiag-tanh", "scn-3"], sequence_length=5
    )
    stored = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(stored)
    received = _round_trip(stored)
    assert received.get_config() != stored.get_config()
    hypermodel.check_space(received)
    hypermodel.check_space(stored)
    # A trial's values, received the same way, build.
    assert hypermodel.build(received).name.startswith("assembly_")


@pytest.mark.parametrize(
    "other, dimension",
    [
        ({"coupling_blocks": (1, 3)}, "coupling_blocks"),
        ({"coupling_blocks": [0, 3]}, "coupling_blocks"),
        ({"dt": 0.05}, "dt"),
        ({"learning_rate": (1e-3, 1e-2)}, "learning_rate"),
        ({"method": ["adadiag-tanh", "scn-30"]}, "method"),
    ],
)
def test_space_check_refuses_another_space_in_the_form_a_worker_receives(other, dimension):
    arguments = {"num_modules": 3, "module_size": 2, "method": ["adadiag-tanh", "scn-3"],
                 "dt": 0.03}
    stored = keras_tuner.HyperParameters()
    AssemblyHyperModel(**arguments).declare_hyperparameters(stored)
    changed = AssemblyHyperModel(**{**arguments, **other})
    for space in (stored, _round_trip(stored)):
        with pytest.raises(ValueError, match=f"`{dimension}` is stored as"):
            changed.check_space(space)


def test_coupling_density_of_one_module_is_zero():
    assert coupling_density(0, 1) == 0.0
    with pytest.raises(ValueError, match="coupling_blocks"):
        coupling_density(4, 3)


# --------------------------------------------------------------------------
# keras-tuner stays optional.
# --------------------------------------------------------------------------


def test_tuning_without_keras_tuner_says_how_to_install(monkeypatch):
    # A None entry makes `import keras_tuner` raise ImportError; the tuning
    # modules are dropped so that they are imported again (monkeypatch puts
    # the originals back afterwards).
    monkeypatch.setitem(sys.modules, "keras_tuner", None)
    for name in [n for n in sys.modules if n.startswith("keras_rnnofrnns.tuning")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=r"pip install keras-tuner.*keras-rnnofrnns\[tuning\]"):
        importlib.import_module("keras_rnnofrnns.tuning")


def test_package_imports_without_keras_tuner():
    # Statically, not in a fresh interpreter: that would cost a Keras import
    # (5 to 10 s) per backend. Outside tuning/, no module may import
    # keras_tuner or the tuning package.
    package = os.path.join(ROOT, "keras_rnnofrnns")
    offenders = []
    for folder, _, files in os.walk(package):
        if os.path.relpath(folder, package).split(os.sep)[0] == "tuning":
            continue
        for file in (f for f in files if f.endswith(".py")):
            path = os.path.join(folder, file)
            with open(path) as source:
                tree = ast.parse(source.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""  # None for `from . import x`.
                    names = [base] + [f"{base}.{alias.name}" for alias in node.names]
                else:
                    continue
                # Inside the package only the tuning package is called so.
                if any({"keras_tuner", "tuning"} & set(n.split(".")) for n in names):
                    offenders.append(os.path.relpath(path, ROOT))
    assert offenders == []
