"""keras-rnnofrnns: stable, trainable assemblies of recurrent modules for Keras 3.

An assembly couples p recurrent modules of N units through a coupling that is
skew-symmetric in the modules' contraction metric, so the whole network is
provably contracting before, during and after training. See `AssemblyCell`,
`AssemblyRNN`, `SkewCoupling`, the constraints `TanhDiag`, `ClipDiag`,
`SkewSymmetric`, and `certify`.
"""

from keras_rnnofrnns.cells import (
    CONTRACTING_ACTIVATIONS,
    GATES,
    INTEGRATORS,
    MODULE_WEIGHTS,
    AssemblyCell,
    AssemblyRNN,
    RecurrenceOperators,
    find_assembly_cell,
    find_assembly_cells,
)
from keras_rnnofrnns.constraints import ClipDiag, SkewSymmetric, TanhDiag
from keras_rnnofrnns.coupling import BlockOrthogonal, BlockUniform, SkewCoupling
from keras_rnnofrnns.models import (
    BASELINES,
    METHODS,
    PAPER_METHODS,
    READOUTS,
    baseline_classifier,
    method_arguments,
    method_readout,
    readout_layer,
    sequence_classifier,
)
from keras_rnnofrnns.stability import Certificate, Certificates, certify

__version__ = "0.1.0"

__all__ = [
    "AssemblyCell",
    "BASELINES",
    "AssemblyRNN",
    "BlockOrthogonal",
    "BlockUniform",
    "CONTRACTING_ACTIVATIONS",
    "GATES",
    "INTEGRATORS",
    "Certificate",
    "Certificates",
    "ClipDiag",
    "METHODS",
    "MODULE_WEIGHTS",
    "PAPER_METHODS",
    "READOUTS",
    "RecurrenceOperators",
    "SkewCoupling",
    "SkewSymmetric",
    "TanhDiag",
    "baseline_classifier",
    "certify",
    "find_assembly_cell",
    "find_assembly_cells",
    "method_arguments",
    "method_readout",
    "readout_layer",
    "sequence_classifier",
]
