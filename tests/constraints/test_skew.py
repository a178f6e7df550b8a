"""SkewSymmetric: the projection onto matrices skew in a diagonal metric."""

import keras
import numpy as np
import pytest
from conftest import to_numpy

from keras_rnnofrnns import SkewSymmetric


def test_skew_symmetric_projection():
    rng = np.random.default_rng(0)
    w = keras.ops.convert_to_tensor(rng.normal(size=(5, 5)).astype("float32"))
    metric = rng.uniform(0.5, 2.0, size=5)
    for constraint, p in [(SkewSymmetric(), np.ones(5)), (SkewSymmetric(metric), metric)]:
        projected = to_numpy(constraint(w))
        residual = p[:, None] * projected + projected.T * p[None, :]
        np.testing.assert_allclose(residual, 0.0, atol=1e-5)
        np.testing.assert_allclose(to_numpy(constraint(projected)), projected, atol=1e-6)
        clone = SkewSymmetric.from_config(constraint.get_config())
        np.testing.assert_allclose(to_numpy(clone(w)), projected, atol=1e-7)
    with pytest.raises(ValueError, match="square"):
        SkewSymmetric()(keras.ops.ones((2, 3)))
    with pytest.raises(ValueError, match="metric"):
        SkewSymmetric([1.0, -1.0])
