"""Skew-symmetry in a diagonal metric: P L + L^T P = 0."""

import keras
import numpy as np
from keras import ops

from keras_rnnofrnns.checks import fail


def check_metric(metric, size=None, name="metric"):
    """Validates a diagonal metric: a 1-D array of finite positive numbers.

    Returns it as a float64 numpy array (or None when `metric` is None).
    """
    if metric is None:
        return None
    array = np.asarray(metric, dtype=np.float64)
    if array.ndim != 1 or (size is not None and array.shape[0] != size):
        expected = f"a vector of {size}" if size is not None else "a vector of"
        fail(name, f"array of shape {array.shape}", expected + " positive numbers")
    if not np.all(np.isfinite(array)) or not np.all(array > 0):
        fail(name, "array with entries <= 0 or not finite", "positive, finite entries")
    return array


def metric_skew(w, metric=None):
    """`w - P^-1 w^T P` for P = diag(metric): a matrix that is skew in P.

    For any square `w` the result `L` satisfies `P L + L^T P = 0`. With
    `metric=None` (P = I) this is `w - w^T`. Works on backend tensors.
    """
    if metric is None:
        return w - ops.transpose(w)
    metric = ops.cast(metric, w.dtype)
    return w - ops.transpose(w) * metric[None, :] / metric[:, None]


@keras.saving.register_keras_serializable(package="keras_rnnofrnns")
class SkewSymmetric(keras.constraints.Constraint):
    """Projection onto matrices skew-symmetric in a diagonal metric.

    `w -> (w - P^-1 w^T P) / 2` with `P = diag(metric)` (the identity when
    `metric` is None). The result `L` satisfies `P L + L^T P = 0`, the
    condition under which a coupling `L` preserves contraction of modules
    that contract in the metric `P`; matrices that already satisfy it are left
    unchanged, so it is a true projection.

    Use it as a square variable's `constraint=`: Keras applies it after each
    optimizer step. Between steps (at initialisation, after `set_weights`)
    the variable is whatever was put there, so initialise it skew or project
    it once yourself. `SkewCoupling` does not need it: it re-parameterises
    `L = B - P^-1 B^T P` from free blocks `B` in the forward pass, which is
    skew by construction at every step.

    Args:
        metric: optional 1-D sequence of positive numbers, the diagonal of P.

    Example:
    >>> import numpy as np, keras
    >>> w = keras.ops.convert_to_tensor(np.arange(9.0).reshape(3, 3))
    >>> s = keras.ops.convert_to_numpy(SkewSymmetric()(w))
    >>> bool(np.allclose(s, -s.T))
    True
    """

    def __init__(self, metric=None):
        self.metric = check_metric(metric)

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        if len(w.shape) != 2 or w.shape[0] != w.shape[1]:
            fail("w", f"tensor of shape {tuple(w.shape)}", "a square matrix")
        if self.metric is not None and self.metric.shape[0] != w.shape[0]:
            fail(
                "metric",
                f"vector of length {self.metric.shape[0]}",
                f"length {w.shape[0]} to match the matrix",
            )
        return 0.5 * metric_skew(w, self.metric)

    def get_config(self):
        metric = None if self.metric is None else self.metric.tolist()
        return {"metric": metric}
