"""A plain numpy version of the assembly, built from the raw variables.

It shares no code with the package: the effective W and L are rebuilt here
from the variables by explicit loops, following the issue's arithmetic.
"""

import numpy as np

from conftest import to_numpy

FLOAT32_BELOW_ONE = np.float32(1 - 2**-24)


def effective_diagonal(raw, strategy):
    raw = np.asarray(raw, dtype=np.float32)
    if strategy == "tanh_diag":
        return np.clip(np.tanh(raw), -FLOAT32_BELOW_ONE, FLOAT32_BELOW_ONE)
    out = raw.copy()
    out[out >= 1.0] = 0.99
    out[out <= -1.0] = -0.99
    return out


def reference_matrices(cell):
    """(W, L, K, b) as float64 numpy arrays from the cell's raw variables."""
    p, n = cell.num_modules, cell.module_size
    h = p * n
    raw = to_numpy(cell.module_kernel)
    if cell.module_weights == "sparse":
        w = np.zeros((h, h))
        for i in range(p):
            w[i * n : (i + 1) * n, i * n : (i + 1) * n] = raw[i]
        metric = to_numpy(cell.coupling.metric_weight).astype(np.float64)
    else:
        w = np.diag(effective_diagonal(raw, cell.module_weights).astype(np.float64))
        metric = np.ones(h)
    coupling = np.zeros((h, h))
    if cell.coupling.num_pairs:
        blocks = to_numpy(cell.coupling.kernel).astype(np.float64)
        for c, (i, j) in enumerate(cell.coupling.pairs):
            rows_i, rows_j = slice(i * n, (i + 1) * n), slice(j * n, (j + 1) * n)
            coupling[rows_i, rows_j] = blocks[c]
            coupling[rows_j, rows_i] = (
                -np.diag(1 / metric[rows_j]) @ blocks[c].T @ np.diag(metric[rows_i])
            )
    kernel = to_numpy(cell.input_kernel).astype(np.float64)
    bias = to_numpy(cell.bias).astype(np.float64) if cell.bias is not None else 0.0
    return w, coupling, kernel, bias


def reference_sequence(cell, inputs, activation=np.tanh):
    """States x_1..x_T for inputs (batch, T, D), starting from zeros."""
    w, coupling, kernel, bias = reference_matrices(cell)
    step = cell.dt / cell.tau
    x = np.zeros((inputs.shape[0], w.shape[0]))
    states = []
    for t in range(inputs.shape[1]):
        u = inputs[:, t].astype(np.float64)
        x = x + step * (-x + activation(x) @ w.T + x @ coupling.T + u @ kernel + bias)
        states.append(x)
    return np.stack(states, axis=1)
