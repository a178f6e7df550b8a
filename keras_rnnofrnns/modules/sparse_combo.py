"""Fixed sparse module matrices for Sparse Combo Net and their contraction metric.

Theorem 1 of Kozachkov, Ennis & Slotine ("RNNs of RNNs", NeurIPS 2022): the
module `tau dx/dt = -x + W phi(x) + u`, with activation slope in [0, 1], is
contracting when the spectral radius of |W| (entry-wise absolute value) is
below 1. The metric it contracts in is a diagonal P; a coupling between such
modules keeps the assembly contracting when it is skew in P.

All of this runs once, on the host, in numpy: the matrices are fixed.
"""

import numpy as np

from keras_rnnofrnns.checks import fail

# Target spectral radius of |W_i| after scaling: a margin below 1 keeps the
# metric P well conditioned (its entries stay within about 1 / (1 - 0.9)).
SPECTRAL_RADIUS = 0.9


def spectral_radius(matrix):
    """Largest eigenvalue magnitude of a square numpy matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(matrix)))) if matrix.size else 0.0


def sparse_contracting_blocks(num_modules, module_size, density, seed):
    """Draws `num_modules` fixed sparse matrices that meet Theorem 1.

    Each block has entries uniform in (-1, 1) at a fraction `density` of its
    off-diagonal positions (zero diagonal), then is scaled so that the
    spectral radius of its absolute value is `SPECTRAL_RADIUS` (0.9), with
    entries capped at magnitude 1: a very sparse block whose |W| is (nearly)
    nilpotent would otherwise be scaled without bound, and the metric with
    it. The result always has spectral radius of |W_i| <= 0.9 < 1.

    Args:
        num_modules: p, the number of blocks.
        module_size: N, the size of each block.
        density: fraction of nonzero off-diagonal entries, in (0, 1].
        seed: int seed of numpy's generator; the same seed gives the same blocks.

    Returns:
        float64 array of shape (num_modules, module_size, module_size).
    """
    rng = np.random.default_rng(seed)
    blocks = np.zeros((num_modules, module_size, module_size))
    off_diagonal = ~np.eye(module_size, dtype=bool)
    for i in range(num_modules):
        values = rng.uniform(-1.0, 1.0, size=(module_size, module_size))
        present = rng.random((module_size, module_size)) < density
        block = np.where(present & off_diagonal, values, 0.0)
        largest = np.max(np.abs(block)) if block.size else 0.0
        if largest == 0.0:
            continue
        radius = spectral_radius(np.abs(block))
        scale = 1.0 / largest
        if radius > 0.0:
            scale = min(scale, SPECTRAL_RADIUS / radius)
        blocks[i] = block * scale
    return blocks


def contraction_metric(block):
    """A well-conditioned diagonal metric in which `-I + |block|` contracts.

    For a nonnegative matrix A = |W| with spectral radius below 1,
    `v = (I - A)^-1 1` and `u = (I - A^T)^-1 1` are positive with
    `A v < v` and `A^T u < u`; then `P = diag(u / v)` makes
    `P (A - I) + (A - I)^T P` negative definite. Unlike a Perron vector
    (whose entries can span many orders of magnitude for sparse A), u and v
    lie between 1 and about 1 / (1 - rho(A)), so P stays well conditioned.

    Args:
        block: square numpy matrix W_i with spectral radius of |W_i| < 1.

    Returns:
        float64 vector of positive numbers, the diagonal of P_i.
    """
    absolute = np.abs(np.asarray(block, dtype=np.float64))
    radius = spectral_radius(absolute)
    if not radius < 1.0:
        fail("block", f"matrix with rho(|W|)={radius:.4g}", "rho(|W|) < 1")
    identity = np.eye(absolute.shape[0])
    ones = np.ones(absolute.shape[0])
    v = np.linalg.solve(identity - absolute, ones)
    u = np.linalg.solve(identity - absolute.T, ones)
    return u / v


def block_diagonal(blocks):
    """Assembles a (p, N, N) stack into the (p*N, p*N) block-diagonal matrix."""
    blocks = np.asarray(blocks)
    p, n, _ = blocks.shape
    out = np.zeros((p * n, p * n), dtype=blocks.dtype)
    for i in range(p):
        out[i * n : (i + 1) * n, i * n : (i + 1) * n] = blocks[i]
    return out
