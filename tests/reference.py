"""A plain numpy version of the assembly, built from the raw variables.

It shares no code with the package: the effective W and L, the gated steps,
the learned coupling step and the Cayley factor are rebuilt here from the
variables by explicit loops, following the documented arithmetic:

- Euler: `x' = x + Delta (-x + W phi(x) + L x + u K + b)`;
- Cayley: `x' = Q [(1 - Delta) x + Delta (W phi(x) + u K + b)]` with
  `Q = (I - S/2)^-1 (I + S/2)`, S = h L (fixed coupling step) or
  D^1/2 L D^1/2, D = low + (high - low) sigmoid(raw) (learned);

where Delta is h = dt / tau without a gate, else
`low + (high - low) sigmoid(u G + c [+ s * x])` per unit (diagonal modules)
or per module (sparse modules, the state term then being the module mean).
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


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def relu(x):
    return np.maximum(x, 0.0)


def raw_variable(cell, name):
    """The cell's own variable called `name` as float64 numpy, None if it has none."""
    found = [w for w in cell.weights if w.name == name]
    assert len(found) <= 1, [w.path for w in found]
    return to_numpy(found[0]).astype(np.float64) if found else None


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


def reference_gate_steps(cell, u, x):
    """The gated steps Delta (batch, H) for inputs u (batch, D) and states x (batch, H)."""
    p, n = cell.num_modules, cell.module_size
    low, high = cell.gate_bounds
    gate_kernel = raw_variable(cell, "gate_kernel")
    gate_bias = raw_variable(cell, "gate_bias")
    gate_state = raw_variable(cell, "gate_state")
    sparse = cell.module_weights == "sparse"
    assert gate_kernel.shape == (u.shape[1], p if sparse else p * n)
    assert (gate_state is not None) == (cell.gate == "input_state")
    logits = u @ gate_kernel + gate_bias
    if gate_state is not None:
        summary = np.empty_like(logits)
        for i in range(summary.shape[1]):
            units = x[:, i * n : (i + 1) * n] if sparse else x[:, i : i + 1]
            summary[:, i] = units.mean(axis=1)
        logits = logits + gate_state * summary
    per_gate = low + (high - low) * sigmoid(logits)
    if not sparse:
        return per_gate
    steps = np.empty((u.shape[0], p * n))
    for i in range(p):
        steps[:, i * n : (i + 1) * n] = per_gate[:, i : i + 1]
    return steps


def reference_cayley(cell, coupling):
    """Q = (I - S/2)^-1 (I + S/2) in float64 for the coupling matrix L."""
    raw = raw_variable(cell, "coupling_step")
    if raw is None:
        scaled = (cell.dt / cell.tau) * coupling
    else:
        low, high = cell.gate_bounds
        root = np.sqrt(low + (high - low) * sigmoid(raw))
        scaled = root[:, None] * coupling * root[None, :]
    eye = np.eye(coupling.shape[0])
    return np.linalg.inv(eye - 0.5 * scaled) @ (eye + 0.5 * scaled)


def reference_sequence(cell, inputs, activation=np.tanh, initial_state=None):
    """States x_1..x_T for inputs (batch, T, D), from `initial_state` or zeros."""
    w, coupling, kernel, bias = reference_matrices(cell)
    q = reference_cayley(cell, coupling) if cell.integrator == "cayley" else None
    x = np.zeros((inputs.shape[0], w.shape[0]))
    if initial_state is not None:
        x = np.asarray(initial_state, dtype=np.float64)
    states = []
    for t in range(inputs.shape[1]):
        u = inputs[:, t].astype(np.float64)
        if cell.gate is None:
            step = cell.dt / cell.tau
        else:
            step = reference_gate_steps(cell, u, x)
        drive = u @ kernel + bias
        if q is None:
            x = x + step * (-x + activation(x) @ w.T + x @ coupling.T + drive)
        else:
            x = ((1 - step) * x + step * (activation(x) @ w.T + drive)) @ q.T
        states.append(x)
    return np.stack(states, axis=1)
