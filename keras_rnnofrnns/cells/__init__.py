"""Recurrent cells and layers of stable assemblies."""

from keras_rnnofrnns.cells.assembly_cell import (
    CONTRACTING_ACTIVATIONS,
    GATES,
    INTEGRATORS,
    MODULE_WEIGHTS,
    AssemblyCell,
    RecurrenceOperators,
    find_assembly_cell,
    find_assembly_cells,
)
from keras_rnnofrnns.cells.assembly_rnn import AssemblyRNN

__all__ = [
    "AssemblyCell",
    "AssemblyRNN",
    "CONTRACTING_ACTIVATIONS",
    "GATES",
    "INTEGRATORS",
    "MODULE_WEIGHTS",
    "RecurrenceOperators",
    "find_assembly_cell",
    "find_assembly_cells",
]
