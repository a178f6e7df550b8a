"""The sparse module blocks: Theorem 1's condition with a well-conditioned metric."""

import numpy as np

from keras_rnnofrnns.modules import contraction_metric, sparse_contracting_blocks, spectral_radius


def test_sparse_blocks_meet_theorem_one_with_a_well_conditioned_metric():
    for density in (0.03, 0.3, 1.0):
        blocks = sparse_contracting_blocks(16, 32, density, seed=0)
        again = sparse_contracting_blocks(16, 32, density, seed=0)
        assert np.array_equal(blocks, again)
        assert not np.array_equal(blocks, sparse_contracting_blocks(16, 32, density, seed=1))
        for block in blocks:
            assert np.all(np.diag(block) == 0)
            assert spectral_radius(np.abs(block)) <= 0.9 + 1e-9
            metric = contraction_metric(block)
            assert np.all(metric > 0) and metric.max() / metric.min() < 100
            m = np.abs(block) - np.eye(32)
            assert np.linalg.eigvalsh(metric[:, None] * m + m.T * metric[None, :]).max() < 0
        nonzero = np.mean(blocks != 0) * 32 / 31
        assert abs(nonzero - density) < 0.05
