"""Constraints that keep diagonal module weights strictly inside (-1, 1)."""

import keras
from keras import ops

from keras_rnnofrnns.checks import fail, check_real

# Significand precision (bits, implicit bit included) of the float dtypes a
# Keras computation may run in; 1 - 2**-bits is the largest value below 1.
_SIGNIFICAND_BITS = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}


def largest_below_one(dtype):
    """The largest number strictly below 1 that `dtype` can represent.

    Args:
        dtype: a float dtype name or object understood by Keras.

    Returns:
        A Python float, e.g. `1 - 2**-24` for float32.

    Example:
    >>> largest_below_one("float32") == 1 - 2**-24
    True
    """
    name = keras.backend.standardize_dtype(dtype)
    if name not in _SIGNIFICAND_BITS:
        fail("dtype", name, "one of " + ", ".join(_SIGNIFICAND_BITS))
    return 1.0 - 2.0 ** -_SIGNIFICAND_BITS[name]


@keras.saving.register_keras_serializable(package="keras_rnnofrnns")
class TanhDiag(keras.constraints.Constraint):
    """Re-parameterisation `w -> tanh(w)`, kept strictly inside (-1, 1).

    This is meant for the forward pass: the trainable variable holds an
    unconstrained raw value and the layer uses `TanhDiag()(raw)` wherever it
    needs the weight, so every entry the network computes with lies in
    (-1, 1) and gradients flow through `tanh`. It is *not* meant as a
    variable's `constraint=` (a projection after each optimizer step): applied
    that way it would replace `w` by `tanh(w)` after every step and shrink the
    weights towards zero, since `|tanh(w)| < |w|`.

    Floating-point `tanh` rounds to exactly 1 for large inputs (float32 from
    about 9.5, bfloat16 from about 3), which would break the strict bound
    the stability guarantee needs, so the result is also clipped to the
    largest value below 1 in the tensor's own dtype. The clip changes nothing
    where `tanh` is below that value.

    Example:
    >>> import numpy as np, keras
    >>> w = TanhDiag()(keras.ops.convert_to_tensor([0.0, 50.0, -50.0]))
    >>> bool(np.all(np.abs(keras.ops.convert_to_numpy(w)) < 1.0))
    True
    """

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        bound = largest_below_one(w.dtype)
        return ops.clip(ops.tanh(w), -bound, bound)


@keras.saving.register_keras_serializable(package="keras_rnnofrnns")
class ClipDiag(keras.constraints.Constraint):
    """Projection: entries at or beyond +-1 are set to +-`value` (0.99).

    This is the rule of the AdaDiag-clip strategy and is meant as a variable's
    `constraint=`: Keras applies it after every optimizer step, and values
    already inside (-1, 1) are left exactly as they are, so the optimizer
    sees an ordinary, unreparameterised weight. "At or beyond" matters: 1.0
    itself is not a contracting self-loop and must not survive a step.

    Applying it again in the forward pass is harmless (it is the identity on
    valid values) and guards against weights set by hand or loaded from a
    file, and against values such as 0.9999999 that round to 1 in a lower
    compute dtype; `AssemblyCell` does both.

    Args:
        value: what an out-of-range entry becomes, in magnitude; a number in
            (0, 1). Default 0.99, as in the paper.

    Example:
    >>> import keras
    >>> w = ClipDiag()(keras.ops.convert_to_tensor([0.5, 1.0, -3.0]))
    >>> [round(float(v), 2) for v in keras.ops.convert_to_numpy(w)]
    [0.5, 0.99, -0.99]
    """

    def __init__(self, value=0.99):
        self.value = check_real(
            "value", value, 0, 1, include_minimum=False, include_maximum=False
        )

    def __call__(self, w):
        # Keras hands constraints the variable itself; the JAX trainer needs
        # a plain array.
        w = ops.convert_to_tensor(w)
        value = ops.cast(self.value, w.dtype)
        w = ops.where(w >= 1.0, value, w)
        return ops.where(w <= -1.0, -value, w)

    def get_config(self):
        return {"value": self.value}
