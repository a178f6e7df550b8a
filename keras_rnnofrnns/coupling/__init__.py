"""Skew-symmetric coupling between modules and the choice of coupled pairs."""

from keras_rnnofrnns.coupling.skew_coupling import BlockOrthogonal, BlockUniform, SkewCoupling
from keras_rnnofrnns.coupling.topology import max_coupling_blocks, resolve_coupling_pairs

__all__ = ["BlockOrthogonal", "BlockUniform", "SkewCoupling", "max_coupling_blocks", "resolve_coupling_pairs"]
