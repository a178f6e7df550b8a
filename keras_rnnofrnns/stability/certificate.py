"""certify: the stability certificate of an assembly, computed from its weights."""

import dataclasses

import numpy as np
from keras import ops

from keras_rnnofrnns.cells.traversal import find_assembly_cell, find_assembly_cells


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
        ode_contracting: the continuous-time guarantee holds: every module
            bound is below 1 and the contraction rate is positive.
        discrete_bound: an upper bound on the contraction factor, in the
            metric P, of the map the layer computes (its integrator and gate),
            over every activation slope in [0, 1] and every gate value; NaN
            where none is claimed (`gate="input_state"`).
        discrete_contracting: whether `discrete_bound < 1`.
        euler_bound: the same bound for plain forward Euler at h = dt / tau,
            whatever the integrator (kept for comparison: with a coupling of
            large norm Euler expands although the ODE contracts).
        euler_contracting: whether the ODE contracts and `euler_bound < 1`.
        certified: the ODE contracts and so does the computed map.
        reason: why `certified` is False ("" when it is True).
        module_weights, integrator, gate, dt, tau: the settings the numbers
            refer to.
    """

    metric: np.ndarray
    module_bound: np.ndarray
    skew_residual: float
    contraction_rate: float
    ode_contracting: bool
    discrete_bound: float
    discrete_contracting: bool
    euler_bound: float
    euler_contracting: bool
    certified: bool
    reason: str
    module_weights: str
    integrator: str
    gate: object
    dt: float
    tau: float

    def __str__(self):
        verdict = "CERTIFIED contracting" if self.certified else "NOT certified"
        lines = [
            f"Assembly stability certificate ({self.module_weights}, {self.integrator}, "
            f"gate={self.gate}, dt={self.dt:g}, tau={self.tau:g}): {verdict}",
        ]
        if self.reason:
            lines.append(f"  reason: {self.reason}")
        discrete = "contracting" if self.discrete_contracting else "not proven contracting"
        euler = "contracting" if self.euler_contracting else "not proven contracting"
        lines += [
            f"  metric P: {self.metric.size} entries in "
            f"[{np.min(self.metric):.4g}, {np.max(self.metric):.4g}]",
            f"  module bound (must be < 1): max {np.max(self.module_bound):.8g} "
            f"over {self.module_bound.size} modules",
            f"  skew residual max|PL + L^T P|: {self.skew_residual:.3g}",
            f"  contraction rate (continuous time, lower bound): "
            f"{self.contraction_rate:.6g}",
            f"  computed map ({self.integrator}): {discrete} "
            f"(factor bound {self.discrete_bound:.6g})",
            f"  plain forward Euler at dt: {euler} (factor bound {self.euler_bound:.6g})",
        ]
        return "\n".join(lines)


class Certificates(tuple):
    """The certificates of a model's assemblies, one per assembly, in model order.

    What `certify` returns for a model with several assemblies (stacked
    `AssemblyRNN`s, say): a tuple of `Certificate`s, in the order of
    `find_assembly_cells(model)`. `certified` is True when every assembly is
    certified; it prints each certificate under its number.
    """

    @property
    def certified(self):
        return all(certificate.certified for certificate in self)

    def __str__(self):
        verdict = "all CERTIFIED contracting" if self.certified else "NOT all certified"
        lines = [f"{len(self)} assemblies, in model order: {verdict}"]
        for number, certificate in enumerate(self, 1):
            lines.append(f"[{number}] {certificate}")
        return "\n".join(lines)


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

    The bound of the computed map: with s_i = ||P_i^1/2 |W_i| P_i^-1/2||_2
    and a step Delta (h, or any gate value in `gate_bounds`), a module step
    `(1 - Delta) x + Delta W phi(x)` has factor at most
    `1 - Delta (1 - s_i)` in P. The Cayley integrator multiplies it by Q,
    whose P-norm is 1 (computed here from the weights); forward Euler adds
    the coupling instead, bounded by its norm. A state-dependent gate
    (`"input_state"`) adds terms no bound here covers. Weights that are not
    finite give a certificate with `certified=False` and the reason, never
    an exception.

    Args:
        cell_or_model: a built `AssemblyCell`, a layer with such a `.cell`
            (`AssemblyRNN`, `keras.layers.RNN`), or a model holding one or
            more.

    Returns:
        A `Certificate` for a cell, a layer or a model with one assembly;
        for a model with several, a `Certificates`: a tuple of one
        `Certificate` per assembly in model order (`find_assembly_cells`),
        with `certified` True when all are.

    Example:
    >>> import numpy as np, keras
    >>> from keras_rnnofrnns import AssemblyRNN
    >>> layer = AssemblyRNN(num_modules=4, module_size=8, coupling_blocks=3,
    ...                     module_weights="sparse", integrator="cayley", seed=0)
    >>> _ = layer(np.zeros((1, 5, 1), dtype="float32"))
    >>> certify(layer).certified
    True
    >>> stacked = keras.Sequential([
    ...     keras.Input((5, 1)),
    ...     AssemblyRNN(2, 3, 1, integrator="cayley", return_sequences=True, seed=0),
    ...     AssemblyRNN(2, 3, 1, integrator="cayley", seed=1)])
    >>> certificates = certify(stacked)
    >>> len(certificates), certificates.certified, certificates[1].integrator
    (2, True, 'cayley')
    """
    cells = find_assembly_cells(cell_or_model)
    if len(cells) > 1:
        return Certificates(_certify_cell(cell) for cell in cells)
    # One cell, or find_assembly_cell's error for a model without one.
    return _certify_cell(find_assembly_cell(cell_or_model))


def _certify_cell(cell):
    if not cell.built:
        raise ValueError(
            "Invalid `cell_or_model`: the AssemblyCell is not built yet; call the "
            "layer or model on data (or build it) before certifying."
        )
    settings = dict(
        module_weights=cell.module_weights,
        integrator=cell.integrator,
        gate=cell.gate,
        dt=cell.dt,
        tau=cell.tau,
    )
    p, n = cell.num_modules, cell.module_size
    metric = cell.contraction_metric()
    weights = cell.module_matrix().astype(np.float64)
    coupling = cell.coupling_matrix().astype(np.float64)
    steps = cell.coupling_step_values()
    steps = None if steps is None else ops.convert_to_numpy(steps).astype(np.float64)
    finite = all(
        np.all(np.isfinite(ops.convert_to_numpy(w))) for w in cell.weights
    ) and np.all(np.isfinite(weights)) and np.all(np.isfinite(coupling))
    if not finite:
        nan = float("nan")
        return Certificate(
            metric=metric,
            module_bound=np.full(p, nan),
            skew_residual=nan,
            contraction_rate=nan,
            ode_contracting=False,
            discrete_bound=nan,
            discrete_contracting=False,
            euler_bound=nan,
            euler_contracting=False,
            certified=False,
            reason="the weights hold non-finite values (the training diverged)",
            **settings,
        )

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
    ode_contracting = bool(np.all(module_bound < 1.0) and rate > 0.0)

    # Forward-Euler factor: J = (1-h) I + h (W D + L), D in [0, 1]; in the
    # metric, with A = P^1/2 W D P^-1/2 and S = P^1/2 L P^-1/2,
    # ||J||^2 <= (1-h)^2 + 2 (1-h) h (m + r) + h^2 (a + s)^2 for h <= 1.
    h = cell.step_size
    coupling_norm = _metric_norm(coupling, root)
    spread = float(module_norm.max()) + coupling_norm
    if h <= 1.0:
        sym = float(module_sym.max()) + residual_effect
        euler_bound = float(
            np.sqrt(max((1 - h) ** 2 + 2 * (1 - h) * h * sym + h**2 * spread**2, 0.0))
        )
    else:
        euler_bound = abs(1.0 - h) + h * spread

    discrete_bound, reason = _discrete_bound(cell, module_norm, coupling, root, steps, euler_bound)
    discrete_contracting = bool(discrete_bound < 1.0)
    if not ode_contracting:
        reason = (
            f"the modules are not proven contracting (module bound max "
            f"{module_bound.max():.6g}, rate bound {rate:.6g})"
        )
    elif not reason and not discrete_contracting:
        reason = (
            f"the {cell.integrator} step's factor bound {discrete_bound:.6g} is not "
            "below 1" + (
                " (a coupling of large norm makes forward Euler expand; "
                "integrator='cayley' does not)" if cell.integrator == "euler" else ""
            )
        )
    certified = ode_contracting and discrete_contracting
    return Certificate(
        metric=metric,
        module_bound=module_bound,
        skew_residual=skew_residual,
        contraction_rate=rate,
        ode_contracting=ode_contracting,
        discrete_bound=discrete_bound,
        discrete_contracting=discrete_contracting,
        euler_bound=euler_bound,
        euler_contracting=bool(ode_contracting and euler_bound < 1.0),
        certified=certified,
        reason="" if certified else reason,
        **settings,
    )


def _metric_norm(matrix, root):
    """||P^1/2 M P^-1/2||_2 for P = diag(root^2)."""
    if not matrix.size:
        return 0.0
    return float(np.linalg.norm(matrix * root[:, None] / root[None, :], 2))


def _discrete_bound(cell, module_norm, coupling, root, steps, euler_bound):
    """(bound, reason) for the map the cell computes; reason "" if a bound is claimed."""
    if cell.gate == "input_state":
        return float("nan"), (
            "gate='input_state' makes the step size depend on the state; no bound on "
            "the computed map is claimed (gate='input' with integrator='cayley' is "
            "certified)"
        )
    if cell.gate is None:
        low = high = cell.step_size
    else:
        low, high = cell.gate_bounds
    # max over steps in [low, high] of 1 - step (1 - s): linear in the step.
    worst = np.maximum(1.0 - low * (1.0 - module_norm), 1.0 - high * (1.0 - module_norm))
    module_factor = float(worst.max())
    if cell.integrator == "cayley":
        if steps is None:
            half = 0.5 * cell.step_size * coupling
        else:
            half = 0.5 * coupling * np.sqrt(steps)[:, None] * np.sqrt(steps)[None, :]
        eye = np.eye(coupling.shape[0])
        q = np.linalg.solve(eye - half, eye + half)
        return _metric_norm(q, root) * module_factor, ""
    if cell.gate is None:
        return euler_bound, ""
    # Per-unit steps scale L unevenly, so the skew structure does not help:
    # bound the coupling by its norm times the largest step.
    return module_factor + high * _metric_norm(coupling, root), ""
