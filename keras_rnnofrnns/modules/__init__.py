"""Module weights: fixed sparse contracting blocks (Sparse Combo Net) and their metric."""

from keras_rnnofrnns.modules.sparse_combo import (
    block_diagonal,
    contraction_metric,
    sparse_contracting_blocks,
    spectral_radius,
)

__all__ = ["block_diagonal", "contraction_metric", "sparse_contracting_blocks", "spectral_radius"]
