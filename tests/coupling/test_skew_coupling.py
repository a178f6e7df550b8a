"""SkewCoupling on its own, and its default initializer in half precision."""

import keras
import numpy as np
import pytest
from conftest import to_numpy

from keras_rnnofrnns import AssemblyCell, SkewCoupling


@pytest.mark.parametrize("with_metric", [False, True])
def test_skew_coupling_on_its_own(with_metric):
    metric = np.random.default_rng(1).uniform(0.5, 2.0, size=12) if with_metric else None
    layer = SkewCoupling(4, 3, [(0, 1), (3, 1)], metric=metric, seed=0)
    states = np.random.default_rng(2).normal(size=(5, 12)).astype("float32")
    out = to_numpy(layer(states))
    coupling = layer.coupling_matrix()
    np.testing.assert_allclose(out, states @ coupling.T, rtol=1e-5, atol=1e-6)
    p = np.ones(12) if metric is None else metric
    np.testing.assert_allclose(p[:, None] * coupling + coupling.T * p[None, :], 0.0, atol=1e-5)
    assert np.all(coupling[0:3, 0:3] == 0) and np.all(coupling[6:9, :] == 0)
    blocks = to_numpy(layer.kernel)
    np.testing.assert_allclose(blocks[0] @ blocks[0].T, np.eye(3), atol=1e-5)
    clone = SkewCoupling.from_config(layer.get_config())
    assert clone.pairs == ((0, 1), (1, 3))
    empty = SkewCoupling(3, 2, 0)
    np.testing.assert_array_equal(to_numpy(empty(np.ones((2, 6), "float32"))), 0.0)
    with pytest.raises(ValueError, match="states"):
        layer(np.ones((5, 11), "float32"))


@pytest.mark.parametrize("policy", ["float16", "bfloat16"])
def test_pure_half_precision_policies_build_the_default_coupling(policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        layer = keras.layers.RNN(AssemblyCell(num_modules=3, module_size=2, coupling_blocks=2, seed=0))
        output = layer(np.zeros((1, 2, 1), dtype=policy))
    finally:
        keras.config.set_dtype_policy(previous)
    assert keras.backend.standardize_dtype(output.dtype) == policy
    assert np.isfinite(to_numpy(output).astype("float32")).all()
