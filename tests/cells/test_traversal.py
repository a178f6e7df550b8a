"""find_assembly_cell(s): the assemblies of a cell, a layer or a model, in model order."""

import keras
import pytest

import keras_rnnofrnns
from keras_rnnofrnns import AssemblyCell, AssemblyRNN
from keras_rnnofrnns.cells import traversal
from keras_rnnofrnns.cells.traversal import find_assembly_cell, find_assembly_cells


def test_the_package_gives_the_traversal_functions():
    # keras_rnnofrnns.cells is where the library's own packages and the
    # tools import them from.
    for name in ("find_assembly_cell", "find_assembly_cells"):
        found = getattr(traversal, name)
        assert getattr(keras_rnnofrnns.cells, name) is found
        assert getattr(keras_rnnofrnns, name) is found


def test_find_assembly_cell_walks_nested_models_and_wrappers():
    layer = AssemblyRNN(2, 2, 1, seed=0, return_sequences=True)
    inner = keras.Sequential([keras.Input((3, 1)), layer])
    # Nested model, then a wrapper (Bidirectional over a plain RNN cell).
    outer = keras.Sequential([keras.Input((3, 1)), inner, keras.layers.Dense(2)])
    assert find_assembly_cell(outer) is layer.cell
    assert find_assembly_cell(layer) is layer.cell and find_assembly_cell(layer.cell) is layer.cell
    cell = AssemblyCell(2, 2, 1, seed=1)
    wrapped = keras.Sequential([keras.Input((3, 1)), keras.layers.Bidirectional(keras.layers.RNN(cell))])
    # Bidirectional copies the forward layer: two cells, both found.
    with pytest.raises(ValueError, match="holds 2 AssemblyCells"):
        find_assembly_cell(wrapped)
    inputs = keras.Input((3, 1))
    shared = keras.Model(inputs, [layer(inputs), layer(inputs)])
    assert find_assembly_cell(shared) is layer.cell  # one cell, reached twice
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert find_assembly_cell(plain, missing_ok=True) is None
    with pytest.raises(ValueError, match="holds 0 AssemblyCells"):
        find_assembly_cell(plain)
    with pytest.raises(ValueError, match="received Dense"):
        find_assembly_cell(keras.layers.Dense(2), missing_ok=True)


def test_find_assembly_cells_lists_every_assembly_in_model_order():
    first = AssemblyRNN(2, 2, 1, seed=0, return_sequences=True)
    second = keras.layers.RNN(AssemblyCell(2, 2, 1, seed=1), return_sequences=True)
    third = AssemblyRNN(2, 2, 1, seed=2)
    inner = keras.Sequential([keras.Input((3, 1)), first, second])
    model = keras.Sequential([keras.Input((3, 1)), inner, third, keras.layers.Dense(2)])
    assert find_assembly_cells(model) == [first.cell, second.cell, third.cell]
    assert find_assembly_cells(third) == [third.cell]
    assert find_assembly_cells(third.cell) == [third.cell]
    assert find_assembly_cells(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])) == []
    with pytest.raises(ValueError, match="received Dense"):
        find_assembly_cells(keras.layers.Dense(2))
    # The one-cell search names the count and where to find them all.
    with pytest.raises(ValueError, match=r"holds 3 AssemblyCells.*find_assembly_cells\(model\)"):
        find_assembly_cell(model)
