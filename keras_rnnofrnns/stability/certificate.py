"""certify: the stability certificate of an assembly, computed from its weights."""

import dataclasses

import keras
import numpy as np

from keras_rnnofrnns.cells.assembly_cell import AssemblyCell


@dataclasses.dataclass(frozen=True, eq=False)
class Certificate:
    """What `certify` proves about an assembly at its current weights.

    Attributes:
        metric: the diagonal of the metric P it certifies in (H positive
            numbers; all ones for the diagonal strategies).
        module_bound: per module, max |w| (diagonal strategies) or the
            spectral radius of |W_i| (sparse); each must be below 1.
        skew_residual: max |P L + L^T P|, zero up to float rounding.
        contraction_rate: a lower bound on the contraction rate of the
            continuous-time assembly in the metric P (1 / time units):
            `(min_i (1 - lambda_max(sym(P_i^1/2 |W_i| P_i^-1/2))) - r) / tau`,
            where r accounts for the skew residual. Positive means contracting.
        euler_bound: an upper bound q on the forward-Euler step's contraction
            factor in the metric P, over every activation slope in [0, 1].
        euler_contracting: whether q < 1, i.e. the discrete map at this dt is
            itself proven contracting. It can be False where the ODE
            contracts: with forward Euler, a coupling of large norm makes the
            step expand (the paper does not address this). Reported, not
            enforced.
        certified: the continuous-time guarantee holds: every module bound is
            below 1 and the contraction rate is positive.
        module_weights, dt, tau: the cell's settings the numbers refer to.
    """

    metric: np.ndarray
    module_bound: np.ndarray
    skew_residual: float
    contraction_rate: float
    euler_bound: float
    euler_contracting: bool
    certified: bool
    module_weights: str
    dt: float
    tau: float

    def __str__(self):
        verdict = "CERTIFIED contracting" if self.certified else "NOT certified"
        euler = "contracting" if self.euler_contracting else "not proven contracting"
        return "\n".join(
            [
                f"Assembly stability certificate ({self.module_weights}, "
                f"dt={self.dt:g}, tau={self.tau:g}): {verdict}",
                f"  metric P: {self.metric.size} entries in "
                f"[{self.metric.min():.4g}, {self.metric.max():.4g}]",
                f"  module bound (must be < 1): max {self.module_bound.max():.8g} "
                f"over {self.module_bound.size} modules",
                f"  skew residual max|PL + L^T P|: {self.skew_residual:.3g}",
                f"  contraction rate (continuous time, lower bound): "
                f"{self.contraction_rate:.6g}",
                f"  forward-Euler map: {euler} (factor bound {self.euler_bound:.6g})",
            ]
        )


def _find_cell(obj):
    if isinstance(obj, AssemblyCell):
        return obj
    if isinstance(getattr(obj, "cell", None), AssemblyCell):
        return obj.cell
    if isinstance(obj, keras.Model):
        cells = []
        for layer in obj._flatten_layers(include_self=False):
            if isinstance(layer, AssemblyCell):
                cells.append(layer)
        if len(cells) == 1:
            return cells[0]
        raise ValueError(
            f"Invalid `cell_or_model`: the model {obj.name!r} holds {len(cells)} "
            "AssemblyCells; expected exactly one (certify each `layer.cell` instead)."
        )
    raise ValueError(
        f"Invalid `cell_or_model`: received {type(obj).__name__}; expected an "
        "AssemblyCell, a recurrent layer wrapping one, or a model holding one."
    )


def _sym_max_eig(matrix):
    return float(np.linalg.eigvalsh(0.5 * (matrix + matrix.T))[-1])


def certify(cell_or_model):
    """Computes the stability certificate of an assembly at its current weights.

    All arithmetic is in float64 on the effective matrices the forward pass
    uses (`module_matrix()`, `coupling_matrix()`). For the diagonal
    strategies P = I and the module bound is max |w|; for the sparse one P
    is the metric the cell built its coupling in and the bound is the
    spectral radius of |W_i|. The continuous-time rate bound follows from
    the activation slope lying in [0, 1]: the Jacobian's module part is
    dominated entry-wise by |W|, and a coupling skew in P adds nothing to
    the symmetric part in that metric.

    Args:
        cell_or_model: a built `AssemblyCell`, a layer with such a `.cell`
            (`AssemblyRNN`, `keras.layers.RNN`), or a model holding exactly one.

    Returns:
        A `Certificate`.

    Example:
    >>> import numpy as np, keras
    >>> from keras_rnnofrnns import AssemblyRNN
    >>> layer = AssemblyRNN(num_modules=4, module_size=8, coupling_blocks=3,
    ...                     module_weights="sparse", seed=0)
    >>> _ = layer(np.zeros((1, 5, 1), dtype="float32"))
    >>> certify(layer).certified
    True
    """
    cell = _find_cell(cell_or_model)
    if not cell.built:
        raise ValueError(
            "Invalid `cell_or_model`: the AssemblyCell is not built yet; call the "
            "layer or model on data (or build it) before certifying."
        )
    p, n = cell.num_modules, cell.module_size
    metric = cell.contraction_metric()
    weights = cell.module_matrix().astype(np.float64)
    coupling = cell.coupling_matrix().astype(np.float64)

    root = np.sqrt(metric)
    module_bound = np.empty(p)
    module_sym = np.empty(p)
    module_norm = np.empty(p)
    for i in range(p):
        block = np.abs(weights[i * n : (i + 1) * n, i * n : (i + 1) * n])
        if cell.module_weights == "sparse":
            module_bound[i] = float(np.max(np.abs(np.linalg.eigvals(block))))
        else:
            module_bound[i] = float(np.max(np.diag(block)))
        r = root[i * n : (i + 1) * n]
        scaled = block * r[:, None] / r[None, :]
        module_sym[i] = _sym_max_eig(scaled)
        module_norm[i] = float(np.linalg.norm(scaled, 2))

    residual = metric[:, None] * coupling + coupling.T * metric[None, :]
    skew_residual = float(np.max(np.abs(residual))) if residual.size else 0.0
    residual_effect = 0.5 * float(
        np.linalg.norm(residual / root[:, None] / root[None, :], 2)
    )
    rate = (1.0 - float(module_sym.max()) - residual_effect) / cell.tau
    certified = bool(np.all(module_bound < 1.0) and rate > 0.0)

    # Forward-Euler factor: J = (1-h) I + h (W D + L), D in [0, 1]; in the
    # metric, with A = P^1/2 W D P^-1/2 and S = P^1/2 L P^-1/2,
    # ||J||^2 <= (1-h)^2 + 2 (1-h) h (m + r) + h^2 (a + s)^2 for h <= 1.
    h = cell.step_size
    coupling_norm = float(np.linalg.norm(coupling * root[:, None] / root[None, :], 2))
    spread = float(module_norm.max()) + coupling_norm
    if h <= 1.0:
        sym = float(module_sym.max()) + residual_effect
        euler_bound = float(
            np.sqrt(max((1 - h) ** 2 + 2 * (1 - h) * h * sym + h**2 * spread**2, 0.0))
        )
    else:
        euler_bound = abs(1.0 - h) + h * spread
    return Certificate(
        metric=metric,
        module_bound=module_bound,
        skew_residual=skew_residual,
        contraction_rate=rate,
        euler_bound=euler_bound,
        euler_contracting=bool(certified and euler_bound < 1.0),
        certified=certified,
        module_weights=cell.module_weights,
        dt=cell.dt,
        tau=cell.tau,
    )
