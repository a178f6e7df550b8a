"""Skew-symmetric coupling between modules and the choice of coupled pairs."""

from keras_rnnofrnns.coupling.skew_coupling import BlockOrthogonal, SkewCoupling
from keras_rnnofrnns.coupling.topology import max_coupling_blocks, resolve_coupling_pairs

__all__ = ["BlockOrthogonal", "SkewCoupling", "max_coupling_blocks", "resolve_coupling_pairs"]
