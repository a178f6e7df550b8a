"""Recurrent cells and layers of stable assemblies."""

from keras_rnnofrnns.cells.assembly_cell import (
    CONTRACTING_ACTIVATIONS,
    MODULE_WEIGHTS,
    AssemblyCell,
)
from keras_rnnofrnns.cells.assembly_rnn import AssemblyRNN

__all__ = ["AssemblyCell", "AssemblyRNN", "CONTRACTING_ACTIVATIONS", "MODULE_WEIGHTS"]
