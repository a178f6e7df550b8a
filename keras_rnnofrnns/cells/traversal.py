"""Finding the assemblies of a model: its `AssemblyCell`s, in model order."""

import keras

from keras_rnnofrnns.cells.assembly_cell import AssemblyCell


def _sublayers(layer):
    # The public attributes through which Keras layers hold other layers:
    # a model's `layers`, an RNN's `cell`, StackedRNNCells' `cells`, a
    # wrapper's `layer` and Bidirectional's two directions.
    children = list(getattr(layer, "layers", None) or ())
    children += list(getattr(layer, "cells", None) or ())
    for name in ("cell", "layer", "forward_layer", "backward_layer"):
        child = getattr(layer, name, None)
        if isinstance(child, keras.layers.Layer):
            children.append(child)
    return children


def find_assembly_cells(cell_or_model):
    """Every `AssemblyCell` in a cell, a recurrent layer or a model, in model order.

    Models are searched through their layers, recursively (nested models,
    the `cell` of recurrent layers, wrappers such as `Bidirectional`); a
    layer reached twice (shared) counts once.

    Args:
        cell_or_model: an `AssemblyCell`, a layer whose `cell` is one (such
            as `AssemblyRNN` or `keras.layers.RNN(AssemblyCell(...))`), or a
            `keras.Model`.

    Returns:
        A list of `AssemblyCell`s, in the order of the model's layers (empty
        for a model without one).

    Raises:
        ValueError: if `cell_or_model` is neither a cell, a layer wrapping
            one nor a model.

    Example:
    >>> import keras
    >>> from keras_rnnofrnns import AssemblyRNN
    >>> first = AssemblyRNN(num_modules=2, module_size=3, coupling_blocks=1, seed=0,
    ...                     return_sequences=True)
    >>> second = AssemblyRNN(num_modules=2, module_size=3, coupling_blocks=1, seed=1)
    >>> model = keras.Sequential([keras.Input((5, 1)), first, second])
    >>> find_assembly_cells(model) == [first.cell, second.cell]
    True
    """
    if isinstance(cell_or_model, AssemblyCell):
        return [cell_or_model]
    if isinstance(getattr(cell_or_model, "cell", None), AssemblyCell):
        return [cell_or_model.cell]
    if not isinstance(cell_or_model, keras.Model):
        raise ValueError(
            f"Invalid `cell_or_model`: received {type(cell_or_model).__name__}; expected an "
            "AssemblyCell, a recurrent layer wrapping one, or a model holding one."
        )
    # Depth first, children in their order, so the cells come in model order.
    cells, seen, pending = [], set(), _sublayers(cell_or_model)[::-1]
    while pending:
        layer = pending.pop()
        # A layer may be reachable twice (a shared layer, or a wrapper that
        # also lists it among its layers): count it once.
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, AssemblyCell):
            cells.append(layer)
        else:
            pending.extend(_sublayers(layer)[::-1])
    return cells


def find_assembly_cell(cell_or_model, missing_ok=False):
    """The one `AssemblyCell` in a cell, a recurrent layer or a model.

    Models are searched as `find_assembly_cells` searches them; for a model
    with several assemblies (stacked `AssemblyRNN`s), use that function,
    which returns all of them.

    Args:
        cell_or_model: an `AssemblyCell`, a layer whose `cell` is one (such
            as `AssemblyRNN` or `keras.layers.RNN(AssemblyCell(...))`), or a
            `keras.Model` holding exactly one.
        missing_ok: if True, a model holding no `AssemblyCell` gives None
            instead of an error.

    Returns:
        The `AssemblyCell` (or None, see `missing_ok`).

    Raises:
        ValueError: if a model holds more than one `AssemblyCell`, or none
            (unless `missing_ok`), or `cell_or_model` is neither a cell, a
            layer wrapping one nor a model.

    Example:
    >>> import keras
    >>> from keras_rnnofrnns import AssemblyRNN
    >>> layer = AssemblyRNN(num_modules=2, module_size=3, coupling_blocks=1, seed=0)
    >>> model = keras.Sequential([keras.Input((5, 1)), layer, keras.layers.Dense(2)])
    >>> find_assembly_cell(model) is layer.cell
    True
    >>> find_assembly_cell(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]),
    ...                    missing_ok=True) is None
    True
    """
    cells = find_assembly_cells(cell_or_model)
    if len(cells) == 1 or (not cells and missing_ok):
        return cells[0] if cells else None
    if cells:
        hint = (
            "find_assembly_cells(model) returns all of them, and certify(model) "
            "certifies each."
        )
    else:
        hint = "the model has no AssemblyRNN or keras.layers.RNN(AssemblyCell(...))."
    raise ValueError(
        f"Invalid `cell_or_model`: the model {cell_or_model.name!r} holds {len(cells)} "
        f"AssemblyCells; expected exactly one: {hint}"
    )
