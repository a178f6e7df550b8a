"""Recurrent cells and layers of stable assemblies."""

from keras_rnnofrnns.cells.assembly_cell import (
    CONTRACTING_ACTIVATIONS,
    GATES,
    INTEGRATORS,
    MODULE_WEIGHTS,
    AssemblyCell,
    RecurrenceOperators,
)
from keras_rnnofrnns.cells.assembly_rnn import AssemblyRNN
from keras_rnnofrnns.cells.traversal import find_assembly_cell, find_assembly_cells

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
