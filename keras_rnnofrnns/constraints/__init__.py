"""Constraints that keep an assembly contracting: diagonal bounds and skew coupling."""

from keras_rnnofrnns.constraints.diagonal import ClipDiag, TanhDiag, largest_below_one
from keras_rnnofrnns.constraints.skew import SkewSymmetric, metric_skew

__all__ = ["ClipDiag", "SkewSymmetric", "TanhDiag", "largest_below_one", "metric_skew"]
