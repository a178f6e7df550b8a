"""Stability by construction: training, extreme parameters, constraints, certify."""

import keras
import numpy as np
import pytest
from conftest import STRATEGIES, to_numpy, variant_arguments

from keras_rnnofrnns import (
    AssemblyCell,
    AssemblyRNN,
    ClipDiag,
    SkewCoupling,
    SkewSymmetric,
    TanhDiag,
    certify,
    find_assembly_cell,
)
from keras_rnnofrnns.modules import contraction_metric, sparse_contracting_blocks, spectral_radius

P, N, C = 4, 6, 4


def classifier(
    strategy, layer_kind="fast", optimizer="adam", learning_rate=0.05, seed=3, **cell_arguments
):
    arguments = dict(module_weights=strategy, density=0.3, seed=seed, **cell_arguments)
    recurrent = (
        AssemblyRNN(P, N, C, **arguments)
        if layer_kind == "fast"
        else keras.layers.RNN(AssemblyCell(P, N, C, **arguments))
    )
    model = keras.Sequential([keras.Input((8, 1)), recurrent, keras.layers.Dense(2)])
    model.compile(
        optimizer=keras.optimizers.get({"class_name": optimizer, "config": {"learning_rate": learning_rate}}),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model, recurrent.cell


def toy_data(count=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, 8, 1)).astype("float32")
    return x, (x.sum(axis=(1, 2)) > 0).astype("int32")


def snapshot(cell):
    return {w.path: to_numpy(w).copy() for w in cell.weights}


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("layer_kind", ["generic", "fast"])
def test_training_moves_trainable_parts_only_and_stays_finite(strategy, layer_kind):
    model, cell = classifier(strategy, layer_kind, optimizer="sgd")
    before = snapshot(cell)
    x, y = toy_data()
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    after = snapshot(cell)
    trainable = {w.path for w in cell.trainable_weights}
    for path, value in before.items():
        changed = not np.array_equal(value, after[path])
        assert changed == (path in trainable), path
        assert np.all(np.isfinite(after[path])), path
    expected = {"input_kernel", "bias", "kernel"} | (
        set() if strategy == "sparse" else {"module_kernel"}
    )
    assert {path.split("/")[-1] for path in trainable} == expected
    assert certify(cell).ode_contracting


def _extreme_values(cell, sign):
    cell.coupling.kernel.assign(sign * 50.0 * np.ones(cell.coupling.kernel.shape, "float32"))
    if cell.module_weights != "sparse":
        cell.module_kernel.assign(sign * 50.0 * np.ones(cell.module_kernel.shape, "float32"))


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("integrator", ["euler", "cayley"])
def test_extreme_parameters_and_an_optimizer_step_keep_the_guarantee(strategy, sign, integrator):
    model, cell = classifier(strategy, learning_rate=1.0, integrator=integrator)
    fixed_before = to_numpy(cell.module_kernel).copy()
    _extreme_values(cell, sign)
    x, y = toy_data(16)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    if strategy == "sparse":
        assert np.array_equal(to_numpy(cell.module_kernel), fixed_before)
    else:
        diagonal = to_numpy(cell.module_diagonal())
        assert diagonal.dtype == np.float32
        assert np.all(np.abs(diagonal) < 1.0)
        if strategy == "clip_diag":
            # The projection ran after the step: the variable itself is valid.
            np.testing.assert_allclose(np.abs(to_numpy(cell.module_kernel)), 0.99)
    metric = cell.contraction_metric()
    coupling = cell.coupling_matrix().astype(np.float64)
    residual = metric[:, None] * coupling + coupling.T * metric[None, :]
    scale = np.abs(coupling).max() * metric.max()
    assert np.abs(residual).max() <= 1e-6 * scale
    certificate = certify(model)
    assert certificate.ode_contracting and certificate.contraction_rate > 0
    assert np.all(certificate.module_bound < 1.0)
    # The ODE guarantee holds for both; the computed map contracts only with
    # the Cayley step: a coupling of norm ~50 N makes forward Euler expand.
    assert certificate.certified == (integrator == "cayley")
    assert certificate.discrete_contracting == (integrator == "cayley")
    if integrator == "euler":
        assert "factor bound" in certificate.reason


def test_euler_contracting_is_reported_honestly():
    cell = AssemblyCell(P, N, C, module_weights="tanh_diag", seed=0)
    keras.layers.RNN(cell)(np.zeros((1, 2, 1), "float32"))
    cell.module_kernel.assign(np.zeros(P * N, "float32"))
    small = certify(cell)
    assert small.certified and small.euler_contracting and small.euler_bound < 1

    cell.coupling.kernel.assign(100.0 * to_numpy(cell.coupling.kernel))
    large = certify(cell)
    assert large.ode_contracting and not large.euler_contracting and large.euler_bound > 1
    assert not large.certified and large.discrete_bound == large.euler_bound
    assert "forward Euler expand" in large.reason
    # The discrete map really expands: at x = 0 its Jacobian
    # (1 - h) I + h (W + L) has an eigenvalue outside the unit circle.
    h = cell.step_size
    jacobian = (1 - h) * np.eye(P * N) + h * (cell.module_matrix() + cell.coupling_matrix())
    assert spectral_radius(jacobian) > 1.0
    text = str(large)
    assert "NOT certified" in text and "not proven contracting" in text


def test_certify_finds_the_cell_and_rejects_other_objects():
    model, cell = classifier("sparse")
    model(np.zeros((1, 8, 1), "float32"))
    assert certify(model).module_weights == "sparse"
    assert certify(model.layers[0]).metric.shape == (P * N,)
    with pytest.raises(ValueError, match="cell_or_model"):
        certify(keras.layers.Dense(2))
    with pytest.raises(ValueError, match="not built"):
        certify(AssemblyCell(P, N, C, seed=0))
    two = keras.Sequential(
        [keras.Input((3, 1)), AssemblyRNN(2, 2, 1, seed=0, return_sequences=True), AssemblyRNN(2, 2, 1, seed=1)]
    )
    with pytest.raises(ValueError, match="holds 2 AssemblyCells"):
        certify(two)


def test_find_assembly_cell_walks_nested_models_and_wrappers():
    layer = AssemblyRNN(2, 2, 1, seed=0, return_sequences=True)
    inner = keras.Sequential([keras.Input((3, 1)), layer])
    # Nested model, then a wrapper (Bidirectional over a plain RNN cell).
    outer = keras.Sequential([keras.Input((3, 1)), inner, keras.layers.Dense(2)])
    assert find_assembly_cell(outer) is layer.cell
    assert find_assembly_cell(layer) is layer.cell and find_assembly_cell(layer.cell) is layer.cell
    cell = AssemblyCell(2, 2, 1, seed=1)
    wrapped = keras.Sequential([keras.Input((3, 1)), keras.layers.Bidirectional(keras.layers.RNN(cell))])
    # Bidirectional copies the forward layer: two cells, both found.
    with pytest.raises(ValueError, match="holds 2 AssemblyCells"):
        find_assembly_cell(wrapped)
    inputs = keras.Input((3, 1))
    shared = keras.Model(inputs, [layer(inputs), layer(inputs)])
    assert find_assembly_cell(shared) is layer.cell  # one cell, reached twice
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert find_assembly_cell(plain, missing_ok=True) is None
    with pytest.raises(ValueError, match="holds 0 AssemblyCells"):
        find_assembly_cell(plain)
    with pytest.raises(ValueError, match="received Dense"):
        find_assembly_cell(keras.layers.Dense(2), missing_ok=True)


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
    cell = AssemblyCell(P, N, C, module_weights="clip_diag", seed=0, dtype="mixed_bfloat16")
    layer = keras.layers.RNN(cell, dtype="mixed_bfloat16")
    output = layer(np.ones((2, 3, 1), "float32"))
    assert keras.backend.standardize_dtype(output.dtype) == "bfloat16"
    cell.module_kernel.assign(np.full(P * N, 0.9999, "float32"))  # rounds to 1 in bfloat16
    diagonal = to_numpy(keras.ops.cast(cell.module_diagonal("bfloat16"), "float32"))
    assert np.all(np.abs(diagonal) < 1.0)


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


def test_constraints_serialise_through_keras():
    for constraint in (TanhDiag(), ClipDiag(0.95), SkewSymmetric([1.0, 2.0])):
        restored = keras.constraints.deserialize(keras.constraints.serialize(constraint))
        assert type(restored) is type(constraint)
        assert restored.get_config() == constraint.get_config()


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


BAD_ARGUMENTS = [
    ({"num_modules": 0}, "num_modules"),
    ({"module_size": 0}, "module_size"),
    ({"num_modules": 2.5}, "num_modules"),
    ({"coupling_blocks": 7}, "coupling_blocks"),
    ({"coupling_blocks": -1}, "coupling_blocks"),
    ({"coupling_blocks": [(0, 4)]}, "out of range"),
    ({"coupling_blocks": [(1, 1)]}, "itself"),
    ({"coupling_blocks": [(0, 1), (1, 0)]}, "repeated"),
    ({"coupling_blocks": "3"}, "coupling_blocks"),
    ({"dt": 0.0}, "dt"),
    ({"dt": -0.1}, "dt"),
    ({"tau": 0}, "tau"),
    ({"density": 0.0}, "density"),
    ({"density": 1.5}, "density"),
    ({"module_weights": "dense"}, "module_weights"),
    ({"activation": "elu"}, "activation"),
    ({"seed": -1}, "seed"),
]


# The integrator, gate and coupling-step arguments: one test for all (each
# test case pays a Keras session clean-up), each case named on failure.
BAD_INTEGRATOR_ARGUMENTS = [
    ({"integrator": "rk4"}, "integrator"),
    ({"integrator": None}, "integrator"),
    ({"gate": "output"}, "gate"),
    ({"gate": "state"}, "gate"),
    ({"gate_bounds": 0.1}, "gate_bounds"),
    ({"gate_bounds": (0.1,)}, "gate_bounds"),
    ({"gate_bounds": (0.01, 0.1, 0.2)}, "gate_bounds"),
    ({"gate_bounds": (0.0, 0.2)}, "gate_bounds"),
    ({"gate_bounds": (-0.1, 0.2)}, "gate_bounds"),
    ({"gate_bounds": (0.2, 0.2)}, "gate_bounds"),
    ({"gate_bounds": (0.3, 0.2)}, "gate_bounds"),
    ({"gate_bounds": (0.1, 1.5)}, "gate_bounds"),
    ({"gate_bounds": (float("nan"), 0.2)}, "gate_bounds"),
    ({"gate_bounds": ("0.01", "0.2")}, "gate_bounds"),
    ({"gate_bounds": "ab"}, "gate_bounds"),
    ({"gate_bounds": (True, 0.5)}, "gate_bounds"),
    ({"gate_bounds": (0.01, True)}, "gate_bounds"),
    ({"dt": 2.0, "tau": 1.0, "integrator": "cayley"}, "dt"),
    ({"dt": 0.6, "tau": 0.5, "integrator": "cayley"}, "dt"),
    ({"coupling_step": "adaptive"}, "coupling_step"),
    ({"coupling_step": None}, "coupling_step"),
    ({"coupling_step": "learned"}, "coupling_step"),
    ({"coupling_step": "learned", "integrator": "euler"}, "coupling_step"),
]


def _assert_bad_arguments(override, message):
    arguments = {"num_modules": 4, "module_size": 2, "coupling_blocks": 2, "seed": 0}
    arguments.update(override)
    with pytest.raises(ValueError, match=message) as error:
        AssemblyCell(**arguments)
    key = next(iter(override))
    assert key in str(error.value) and "expected" in str(error.value), override


@pytest.mark.parametrize("override, message", BAD_ARGUMENTS)
def test_bad_arguments_raise_clear_errors(override, message):
    _assert_bad_arguments(override, message)


def test_bad_integrator_gate_and_coupling_step_arguments_raise_clear_errors():
    for override, message in BAD_INTEGRATOR_ARGUMENTS:
        _assert_bad_arguments(override, message)


def test_new_arguments_checked_by_the_fast_layer_and_edge_values_accepted():
    with pytest.raises(ValueError, match="gate_bounds"):
        AssemblyRNN(2, 2, 1, gate="input", gate_bounds=(0.5, 0.1), seed=0)
    with pytest.raises(ValueError, match="dt"):
        AssemblyRNN(2, 2, 1, integrator="cayley", dt=1.5, seed=0)
    # h = 1 exactly, high = 1 exactly, and Euler at any step stay allowed.
    cell = AssemblyCell(2, 2, 1, integrator="cayley", dt=0.5, tau=0.5, gate_bounds=(1e-3, 1.0), seed=0)
    assert cell.step_size == 1.0 and cell.gate_bounds == (1e-3, 1.0)
    assert AssemblyCell(2, 2, 1, integrator="euler", dt=2.0, seed=0).step_size == 2.0
    assert AssemblyCell(2, 2, 1, gate_bounds=[0.1, 0.5], seed=0).gate_bounds == (0.1, 0.5)


def test_wrong_input_rank_raises():
    # The layer's InputSpec: Keras names the layer and both ranks.
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=2") as e:
        AssemblyRNN(2, 2, 1, seed=0, name="assembly")(np.zeros((2, 3), "float32"))
    assert "layer 'assembly'" in str(e.value) and "(2, 3)" in str(e.value)
    with pytest.raises(ValueError, match="AssemblyCell"):
        keras.layers.RNN(AssemblyCell(2, 2, 1, seed=0))(np.zeros((2, 3, 4, 1), "float32"))
    with pytest.raises(ValueError, match="scan_unroll"):
        AssemblyRNN(2, 2, 1, scan_unroll=0)


def test_contracting_activations_are_accepted():
    for name in ("tanh", "relu", "sigmoid", "hard_tanh", "linear"):
        assert AssemblyCell(2, 2, 1, activation=name, seed=0).activation_name == name
    assert AssemblyCell(2, 2, 1, activation=keras.activations.relu, seed=0).activation_name == "relu"


# -- certify with the integrators and gates -----------------------------------


def _built(strategy, **arguments):
    layer = AssemblyRNN(P, N, C, module_weights=strategy, density=0.3, seed=2, **arguments)
    layer.build((None, 5, 1))
    return layer.cell


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_certify_cayley_with_input_gate_at_init_and_state_gate_not(strategy):
    for coupling_step in ("fixed", "learned"):
        cell = _built(strategy, integrator="cayley", gate="input", coupling_step=coupling_step)
        certificate = certify(cell)
        assert certificate.certified and certificate.reason == "", coupling_step
        assert certificate.ode_contracting and certificate.discrete_contracting
        assert certificate.discrete_bound < 1 and (certificate.integrator, certificate.gate) == (
            "cayley",
            "input",
        )
    for integrator in ("euler", "cayley"):
        certificate = certify(_built(strategy, integrator=integrator, gate="input_state"))
        # The ODE guarantee is unaffected; the computed map has no bound.
        assert certificate.ode_contracting and not certificate.certified
        assert not certificate.discrete_contracting and np.isnan(certificate.discrete_bound)
        assert "state" in certificate.reason and "input_state" in certificate.reason
        assert "NOT certified" in str(certificate)


@pytest.mark.parametrize("integrator", ["euler", "cayley"])
def test_certify_non_finite_weights_gives_a_reason_not_an_exception(integrator):
    cell = _built("sparse", integrator=integrator, gate="input")
    kernel = to_numpy(cell.coupling.kernel).copy()
    kernel[0, 0, 0] = np.nan
    cell.coupling.kernel.assign(kernel)
    certificate = certify(cell)
    assert certificate.certified is False
    assert not certificate.ode_contracting and not certificate.discrete_contracting
    assert not certificate.euler_contracting
    assert "non-finite" in certificate.reason
    assert "NOT certified" in str(certificate)
    kernel[0, 0, 0] = np.inf
    cell.coupling.kernel.assign(kernel)
    infinite = certify(cell)
    assert not infinite.certified and "non-finite" in infinite.reason


# -- stress: coupling x1000 at dt = tau --------------------------------------
# Stress cells are small (3 modules of 4 units, all three pairs coupled) so
# that a 10^4-step sequence runs in seconds on every backend (PyTorch's loop
# is a Python loop).

STRESS_P, STRESS_N = 3, 4


def stressed_layer(strategy, integrator, **arguments):
    """A layer at h = dt / tau = 1 with the coupling blocks times 1000."""
    layer = AssemblyRNN(
        STRESS_P,
        STRESS_N,
        3,
        module_weights=strategy,
        density=0.5,
        dt=1.0,
        tau=1.0,
        integrator=integrator,
        seed=8,
        return_sequences=True,
        **arguments,
    )
    layer.build((None, None, 2))
    cell = layer.cell
    cell.coupling.kernel.assign(1000.0 * to_numpy(cell.coupling.kernel))
    return layer


def metric_norm(matrix, metric):
    """||P^1/2 M P^-1/2||_2 in float64 for the diagonal metric P."""
    root = np.sqrt(np.asarray(metric, dtype=np.float64))
    return float(np.linalg.norm(matrix * root[:, None] / root[None, :], 2))


def cayley_factor(coupling, steps):
    """Q = (I - S/2)^-1 (I + S/2), S = D^1/2 L D^1/2, in float64."""
    root = np.sqrt(np.broadcast_to(steps, coupling.shape[:1]))
    scaled = root[:, None] * coupling.astype(np.float64) * root[None, :]
    eye = np.eye(coupling.shape[0])
    return np.linalg.solve(eye - 0.5 * scaled, eye + 0.5 * scaled)


@pytest.mark.parametrize("strategy", ["tanh_diag", "sparse"])
def test_cayley_jacobian_contracts_with_a_huge_coupling_at_unit_step(strategy):
    layer = stressed_layer(strategy, "cayley", gate="input")
    cell = layer.cell
    w = cell.module_matrix().astype(np.float64)
    coupling = cell.coupling_matrix().astype(np.float64)
    metric = cell.contraction_metric()
    units = STRESS_P * STRESS_N
    # The coupling is really huge in the metric, and skew in it.
    assert metric_norm(coupling, metric) > 500
    h = cell.step_size
    assert h == 1.0
    q = cayley_factor(coupling, h)
    assert abs(metric_norm(q, metric) - 1.0) < 1e-6
    rng = np.random.default_rng(0)
    low, high = cell.gate_bounds
    for _ in range(20):
        x = rng.normal(scale=3.0, size=units)
        slopes = np.diag(1.0 - np.tanh(x) ** 2)
        fixed = q @ ((1 - h) * np.eye(units) + h * w @ slopes)
        assert metric_norm(fixed, metric) < 1.0
        # Gate values anywhere in the bounds: per unit, or per module (sparse).
        per_gate = rng.uniform(low, high, size=cell.gate_size)
        delta = np.repeat(per_gate, units // cell.gate_size)
        gated = q @ (np.diag(1 - delta) + np.diag(delta) @ w @ slopes)
        assert metric_norm(gated, metric) < 1.0
    assert certify(cell).certified


@pytest.mark.parametrize("strategy", ["tanh_diag", "sparse"])
def test_cayley_stays_bounded_where_euler_blows_up(strategy):
    steps = 10_000
    rng = np.random.default_rng(1)
    inputs = rng.uniform(-1000.0, 1000.0, size=(2, steps, 2)).astype("float32")
    cayley = stressed_layer(strategy, "cayley")
    euler = stressed_layer(strategy, "euler")
    for a, b in zip(cayley.get_weights(), euler.get_weights()):
        np.testing.assert_array_equal(a, b)
    cell = cayley.cell
    metric = cell.contraction_metric()
    w = cell.module_matrix().astype(np.float64)
    coupling = cell.coupling_matrix().astype(np.float64)
    kernel = to_numpy(cell.input_kernel).astype(np.float64)
    drive = inputs.astype(np.float64) @ kernel + to_numpy(cell.bias)

    def norms(states):
        return np.sqrt(np.sum(metric * states.astype(np.float64) ** 2, axis=-1))

    # At h = 1 a step is x' = Q (W phi(x) + d) with ||Q||_P = 1 and
    # |phi(x_i)| <= |x_i| (tanh), so ||x'||_P <= s ||x||_P + ||d||_P with
    # s = ||W||_P < 1; from x_0 = 0, ||x_t||_P <= max_t ||d_t||_P / (1 - s).
    # The 1% slack covers float32 rounding of Q and of the drive.
    s = metric_norm(w, metric)
    assert s < 1.0
    bound = norms(drive).max() / (1.0 - s)
    # predict: compiled on TensorFlow, whose eager while loop would take
    # seconds per thousand steps.
    states = keras.Sequential([keras.Input((None, 2)), cayley]).predict(inputs, verbose=0)
    assert states.shape == (2, steps, STRESS_P * STRESS_N)
    assert np.all(np.isfinite(states))
    assert norms(states).max() <= 1.01 * bound
    assert norms(states[:, -1]).min() > 1.0  # the inputs drive it: not trivially zero
    certificate = certify(cayley)
    assert certificate.certified and certificate.discrete_bound < 1.0

    # The same weights under forward Euler: x' = (W D + L) x + d at h = 1.
    # Its Jacobian at 0 has spectral radius ~1000, and within 100 steps the
    # state leaves every bound (or overflows).
    jacobian = (1 - cell.step_size) * np.eye(w.shape[0]) + cell.step_size * (w + coupling)
    assert spectral_radius(jacobian) > 100.0
    exploded = to_numpy(euler(inputs[:, :100]))
    assert not np.all(np.isfinite(exploded)) or norms(exploded).max() > 1e6 * bound
    euler_certificate = certify(euler)
    assert euler_certificate.ode_contracting and not euler_certificate.certified
    assert euler_certificate.euler_bound > 1.0 and "factor bound" in euler_certificate.reason
