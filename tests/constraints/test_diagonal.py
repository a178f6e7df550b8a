"""TanhDiag and ClipDiag: the module diagonals stay strictly inside (-1, 1)."""

import keras
import numpy as np
import pytest
from conftest import STABILITY_C, N, P, to_numpy

from keras_rnnofrnns import AssemblyCell, ClipDiag, SkewSymmetric, TanhDiag


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_tanh_diag_strictly_inside_unit_interval_in_every_dtype(dtype):
    raw = keras.ops.cast(keras.ops.convert_to_tensor([-50.0, -9.6, 0.0, 9.6, 50.0]), dtype)
    values = to_numpy(keras.ops.cast(TanhDiag()(raw), "float32"))
    assert np.all(np.abs(values) < 1.0)
    assert values[2] == 0.0


def test_clip_diag_rule():
    values = to_numpy(ClipDiag()(keras.ops.convert_to_tensor([-2.0, -1.0, -0.5, 0.99, 1.0, 7.0])))
    np.testing.assert_allclose(values, [-0.99, -0.99, -0.5, 0.99, 0.99, 0.99], rtol=1e-7)
    assert ClipDiag.from_config(ClipDiag(0.9).get_config()).value == 0.9
    with pytest.raises(ValueError, match="value"):
        ClipDiag(1.0)


def test_mixed_precision_keeps_diagonals_inside():
    cell = AssemblyCell(
        P, N, STABILITY_C, module_weights="clip_diag", seed=0, dtype="mixed_bfloat16"
    )
    layer = keras.layers.RNN(cell, dtype="mixed_bfloat16")
    output = layer(np.ones((2, 3, 1), "float32"))
    assert keras.backend.standardize_dtype(output.dtype) == "bfloat16"
    cell.module_kernel.assign(np.full(P * N, 0.9999, "float32"))  # rounds to 1 in bfloat16
    diagonal = to_numpy(keras.ops.cast(cell.module_diagonal("bfloat16"), "float32"))
    assert np.all(np.abs(diagonal) < 1.0)


def test_constraints_serialise_through_keras():
    for constraint in (TanhDiag(), ClipDiag(0.95), SkewSymmetric([1.0, 2.0])):
        restored = keras.constraints.deserialize(keras.constraints.serialize(constraint))
        assert type(restored) is type(constraint)
        assert restored.get_config() == constraint.get_config()
