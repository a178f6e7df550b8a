"""AssemblyCell: arithmetic, arguments, training, prepared operators, the Cayley step.

Outputs are held to the numpy reference of reference.py; a test that also
runs AssemblyRNN does so to check the cell's step in both loops. The RNN
features, saving and gradients of AssemblyRNN's own loop against
keras.layers.RNN(AssemblyCell) are test_assembly_rnn.py's.
"""

import itertools

import keras
import numpy as np
import pytest
from conftest import (
    BATCH, C, FEATURES, MASK, SMALL_C, SMALL_N, SMALL_P, STEPS, STRATEGIES, VARIANT_IDS,
    VARIANTS, N, P, assert_same_gradients, classifier, make_inputs, perturb_trainable,
    sequences, to_numpy, toy_data, variant_arguments,
)
from reference import reference_matrices, reference_sequence, relu

from keras_rnnofrnns import AssemblyCell, AssemblyRNN, ClipDiag, certify
from keras_rnnofrnns.cells.assembly_cell import _gauss_jordan_solve, _traced_for_tensorflow_export
from keras_rnnofrnns.modules import spectral_radius


def built_cell(strategy, **kwargs):
    kwargs.setdefault("seed", 7)
    cell = AssemblyCell(P, N, kwargs.pop("coupling_blocks", C), module_weights=strategy, **kwargs)
    keras.layers.RNN(cell)(make_inputs(1, 1))
    return cell


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_sequence_output_matches_numpy(strategy):
    inputs = make_inputs()
    cell = AssemblyCell(P, N, C, module_weights=strategy, density=0.3, seed=3)
    layer = keras.layers.RNN(cell, return_sequences=True)
    outputs = to_numpy(layer(inputs))
    # Non-trivial parameters: bias and larger coupling so every term matters.
    cell.bias.assign(np.linspace(-0.5, 0.5, P * N).astype("float32"))
    cell.coupling.kernel.assign(2.0 * to_numpy(cell.coupling.kernel))
    outputs = to_numpy(layer(inputs))
    expected = reference_sequence(cell, inputs)
    np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_effective_matrices_match_reference(strategy):
    cell = built_cell(strategy, density=0.3)
    w, coupling, _, _ = reference_matrices(cell)
    np.testing.assert_allclose(cell.module_matrix(), w, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(cell.coupling_matrix(), coupling, rtol=1e-5, atol=1e-6)
    assert cell.module_matrix().shape == (P * N, P * N)
    assert to_numpy(cell.input_kernel).shape == (2, P * N)
    assert to_numpy(cell.bias).shape == (P * N,)


def test_output_is_next_state_and_default_hyperparameters():
    cell = AssemblyCell(P, N, C, seed=1)
    assert (cell.dt, cell.tau, cell.activation_name) == (0.03, 1.0, "tanh")
    assert cell.module_weights == "tanh_diag" and cell.density == 0.03
    layer = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    sequence, state = layer(make_inputs())
    np.testing.assert_array_equal(to_numpy(sequence)[:, -1], to_numpy(state))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_config_round_trip(strategy):
    cell = AssemblyCell(P, N, C, module_weights=strategy, seed=None, kernel_regularizer="l2")
    config = cell.get_config()
    assert isinstance(config["seed"], int)
    assert config["coupling_blocks"] == [list(pair) for pair in cell.coupling_pairs]
    clone = AssemblyCell.from_config(config)
    assert clone.get_config() == config
    assert clone.coupling_pairs == cell.coupling_pairs
    fast = AssemblyRNN(P, N, C, module_weights=strategy, seed=4, return_sequences=True)
    fast_config = fast.get_config()
    assert AssemblyRNN.from_config(fast_config).get_config() == fast_config
    serialized = keras.saving.serialize_keras_object(cell)
    assert keras.saving.deserialize_keras_object(serialized).get_config() == config


def test_same_seed_same_initial_weights():
    weights = [to_numpy(w) for w in built_cell("tanh_diag", seed=21).weights]
    again = [to_numpy(w) for w in built_cell("tanh_diag", seed=21).weights]
    for a, b in zip(weights, again):
        np.testing.assert_array_equal(a, b)


def test_numpy_scalars_are_numbers_everywhere():
    cell = AssemblyCell(
        num_modules=2, module_size=2, coupling_blocks=np.int64(1), module_weights="sparse",
        density=np.float32(0.5), dt=np.float64(0.03), seed=np.int64(3), use_bias=np.True_,
    )  # fmt: skip
    assert cell.density == 0.5 and cell.seed == 3 and cell.use_bias is True
    assert ClipDiag(np.float32(0.5)).value == 0.5
    assert AssemblyRNN(num_modules=2, module_size=2, coupling_blocks=1,
                       scan_unroll=np.int64(2)).scan_unroll == 2  # fmt: skip


@pytest.mark.parametrize(
    "argument, value",
    [("seed", 2**32 - 1), ("seed", -1), ("use_bias", "no"), ("density", np.float32(0.0))],
)
def test_out_of_range_arguments_raise_value_errors_naming_them(argument, value):
    settings = dict(num_modules=2, module_size=2, coupling_blocks=1, module_weights="sparse")
    with pytest.raises(ValueError, match=f"Invalid `{argument}`: received {argument}="):
        AssemblyCell(**{**settings, argument: value})


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


def test_contracting_activations_are_accepted():
    for name in ("tanh", "relu", "sigmoid", "hard_tanh", "linear"):
        assert AssemblyCell(2, 2, 1, activation=name, seed=0).activation_name == name
    assert AssemblyCell(2, 2, 1, activation=keras.activations.relu, seed=0).activation_name == "relu"


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


# -- integrators, gates and the learned coupling step ------------------------


@pytest.mark.parametrize("integrator, gate, coupling_step", VARIANTS, ids=VARIANT_IDS)
def test_integrators_and_gates_match_numpy(integrator, gate, coupling_step):
    # unroll=True: the per-step arithmetic of AssemblyCell.call and of
    # AssemblyRNN's fast step, op by op (a scan recompiles its body at every
    # eager call on JAX). test_assembly_rnn.py holds the scan loops to the same
    # reference and to each other, gradients included.
    inputs = make_inputs()
    for strategy in STRATEGIES:
        arguments = variant_arguments(strategy, integrator, gate, coupling_step)
        generic = keras.layers.RNN(
            AssemblyCell(P, N, C, **arguments), return_sequences=True, unroll=True
        )
        fast = AssemblyRNN(P, N, C, return_sequences=True, unroll=True, **arguments)
        generic.build(inputs.shape)
        fast.build(inputs.shape)
        # Every trainable weight away from its initial value (the gate's state
        # weight starts at zero, the coupling step at the middle of its range).
        perturb_trainable(generic, fast, seed=2)
        expected = reference_sequence(generic.cell, inputs)
        assert np.all(np.abs(expected[:, -1]) > 0) and np.all(np.isfinite(expected))
        for layer in (generic, fast):
            np.testing.assert_allclose(
                to_numpy(layer(inputs)), expected, rtol=1e-4, atol=1e-5,
                err_msg=f"{strategy} {type(layer).__name__}",
            )


@pytest.mark.parametrize(
    "integrator, gate, coupling_step",
    [("euler", None, "fixed"), ("cayley", "input_state", "learned")],
)
def test_relu_activation_matches_numpy(integrator, gate, coupling_step):
    inputs = make_inputs()
    arguments = variant_arguments("sparse", integrator, gate, coupling_step)
    generic = keras.layers.RNN(
        AssemblyCell(P, N, C, activation="relu", **arguments), return_sequences=True
    )
    fast = AssemblyRNN(P, N, C, activation="relu", return_sequences=True, **arguments)
    generic.build(inputs.shape)
    fast.build(inputs.shape)
    perturb_trainable(generic, fast, seed=4)
    expected = reference_sequence(generic.cell, inputs, activation=relu)
    # The activation matters at these weights: tanh gives other numbers.
    assert not np.allclose(reference_sequence(generic.cell, inputs), expected, rtol=1e-2)
    np.testing.assert_allclose(to_numpy(generic(inputs)), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(to_numpy(fast(inputs)), expected, rtol=1e-4, atol=1e-5)


def test_config_round_trip_every_integrator_and_gate():
    for integrator, gate, coupling_step in VARIANTS:
        arguments = variant_arguments("sparse", integrator, gate, coupling_step)
        cell = AssemblyCell(P, N, C, **arguments)
        config = cell.get_config()
        assert (config["integrator"], config["gate"], config["coupling_step"]) == (
            integrator,
            gate,
            coupling_step,
        )
        assert config["gate_bounds"] == [0.05, 0.6] and config["dt"] == 0.3
        clone = AssemblyCell.from_config(config)
        assert clone.get_config() == config
        assert (clone.integrator, clone.gate, clone.gate_bounds) == (integrator, gate, (0.05, 0.6))
        serialized = keras.saving.serialize_keras_object(cell)
        assert keras.saving.deserialize_keras_object(serialized).get_config() == config
        fast = AssemblyRNN(P, N, C, return_sequences=True, **arguments)
        fast_config = fast.get_config()
        assert fast_config["integrator"] == integrator and fast_config["gate"] == gate
        assert fast_config["coupling_step"] == coupling_step
        assert AssemblyRNN.from_config(fast_config).get_config() == fast_config


# -- operators prepared once per sequence, and the fast step ----------------


class PerStepCell(AssemblyCell):
    """The cell as it runs without keras.layers.RNN's per-sequence hook.

    Every step then prepares its own `RecurrenceOperators` (structural
    coupling, the diagonal's tanh, the Cayley solve) instead of using those
    prepared once per sequence: the path a direct call of the cell takes.
    """

    def get_dropout_mask(self, step_input):
        return None


PER_STEP = [
    ("tanh_diag", ("euler", None, "fixed")),
    ("sparse", ("euler", "input_state", "fixed")),
    ("clip_diag", ("cayley", "input", "learned")),
    ("sparse", ("cayley", None, "fixed")),
]


@pytest.mark.parametrize(
    "strategy, variant",
    PER_STEP,
    ids=[f"{s}-{VARIANT_IDS[VARIANTS.index(v)]}" for s, v in PER_STEP],
)
def test_prepared_sequence_equals_per_step_cell(strategy, variant):
    # Inside keras.layers.RNN the cell steps with operators prepared once per
    # sequence; outputs and gradients must be those of the per-step work.
    arguments = variant_arguments(strategy, *variant)
    options = dict(return_sequences=True, go_backwards=True)
    prepared = keras.layers.RNN(AssemblyCell(SMALL_P, SMALL_N, SMALL_C, **arguments), **options)
    per_step = keras.layers.RNN(PerStepCell(SMALL_P, SMALL_N, SMALL_C, **arguments), **options)
    prepared.build(sequences().shape)
    per_step.build(sequences().shape)
    perturb_trainable(prepared, per_step, seed=1)
    assert_same_gradients(prepared, per_step, mask=MASK)


@pytest.mark.parametrize("layer_kind", ["generic", "fast"])
def test_weight_work_runs_once_per_sequence_and_never_outlives_it(layer_kind):
    cell = AssemblyCell(SMALL_P, SMALL_N, SMALL_C, integrator="cayley", gate="input", seed=4)
    layer = keras.layers.RNN(cell) if layer_kind == "generic" else AssemblyRNN(
        SMALL_P, SMALL_N, SMALL_C, integrator="cayley", gate="input", seed=4
    )
    cell = layer.cell
    layer(sequences())
    calls = []
    prepare = cell.recurrence_operators

    def counting(*args, **kwargs):
        calls.append(args)
        return prepare(*args, **kwargs)

    cell.recurrence_operators = counting
    layer(sequences())
    assert len(calls) == 1, f"{len(calls)} preparations for one sequence of {STEPS} steps"
    # New weights after the sequence: a direct call must see them, not the
    # operators prepared for the finished sequence.
    cell.bias.assign(np.linspace(-2, 2, SMALL_P * SMALL_N).astype("float32"))
    rng = np.random.default_rng(5)
    x = rng.normal(size=(BATCH, SMALL_P * SMALL_N)).astype("float32")
    u = rng.normal(size=(BATCH, FEATURES)).astype("float32")
    reference = reference_sequence(cell, u[:, None], initial_state=x)[:, 0]
    np.testing.assert_allclose(to_numpy(cell(u, [x])[0]), reference, rtol=1e-4, atol=1e-5)
    # The direct call prepared operators of its own, once, from the new weights.
    assert len(calls) == 2


def test_stacked_cells_equal_the_layers_in_sequence():
    # keras.layers.RNN prepares each cell of a StackedRNNCells, and runs the
    # first step of each once before its loop to find the next one's inputs.
    inputs = sequences()
    stacked = keras.layers.RNN(
        keras.layers.StackedRNNCells(
            [
                AssemblyCell(SMALL_P, SMALL_N, SMALL_C, seed=4),
                AssemblyCell(SMALL_P, SMALL_N, SMALL_C, seed=5),
            ]
        ),
        return_sequences=True,
    )
    first = keras.layers.RNN(AssemblyCell(SMALL_P, SMALL_N, SMALL_C, seed=4), return_sequences=True)
    second = keras.layers.RNN(
        AssemblyCell(SMALL_P, SMALL_N, SMALL_C, seed=5), return_sequences=True
    )
    np.testing.assert_allclose(
        to_numpy(stacked(inputs)), to_numpy(second(first(inputs))), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("integrator", ["euler", "cayley"])
def test_fast_step_matches_cell_call_for_integrators_and_gates(integrator):
    # Both layouts on every backend: JAX's loop runs batch-major only. A batch
    # as large as the gate (H per unit, p per module) would hide a gate bias
    # or step broadcast along the wrong axis of a feature-major state.
    variants = [v for v in VARIANTS if v[0] == integrator]
    for (_, gate, coupling_step), strategy in itertools.product(variants, ["tanh_diag", "sparse"]):
        name = f"{gate} {coupling_step} {strategy}"
        batch = SMALL_P * SMALL_N if strategy == "tanh_diag" else SMALL_P
        arguments = variant_arguments(strategy, integrator, gate, coupling_step)
        cell = AssemblyCell(SMALL_P, SMALL_N, SMALL_C, **arguments)
        cell.build((None, FEATURES))
        perturb_trainable(cell, seed=6)
        rng = np.random.default_rng(5)
        x = rng.normal(size=(batch, SMALL_P * SMALL_N)).astype("float32")
        u = rng.normal(size=(batch, FEATURES)).astype("float32")
        expected = to_numpy(cell(u, [x])[0])
        reference = reference_sequence(cell, u[:, None], initial_state=x)[:, 0]
        np.testing.assert_allclose(expected, reference, rtol=1e-4, atol=1e-5, err_msg=name)
        for feature_major in (False, True):
            operators = cell.recurrence_operators(feature_major=feature_major)
            state, inputs = (x.T, u.T) if feature_major else (x, u)
            # Backend tensors, as the layer's loop passes (on PyTorch a numpy
            # state does not mix with the tensors of the gated update).
            state, inputs = keras.ops.convert_to_tensor(state), keras.ops.convert_to_tensor(inputs)
            step = to_numpy(cell.fast_step(operators, state, inputs))
            step = step.T if feature_major else step
            np.testing.assert_allclose(step, expected, rtol=1e-5, atol=1e-6, err_msg=name)


def test_fast_step_matches_cell_call():
    # The per-step pieces in both layouts against the cell's own call.
    cell = AssemblyCell(SMALL_P, SMALL_N, SMALL_C, module_weights="sparse", density=0.3, seed=2)
    keras.layers.RNN(cell)(sequences())
    cell.bias.assign(np.linspace(-1, 1, SMALL_P * SMALL_N).astype("float32"))
    rng = np.random.default_rng(5)
    x = rng.normal(size=(BATCH, SMALL_P * SMALL_N)).astype("float32")
    u = rng.normal(size=(BATCH, FEATURES)).astype("float32")
    expected = to_numpy(cell(u, [x])[0])
    for feature_major in (False, True):
        operators = cell.recurrence_operators(feature_major=feature_major)
        state, inputs = (x.T, u.T) if feature_major else (x, u)
        step = to_numpy(cell.fast_step(operators, state, inputs))
        step = step.T if feature_major else step
        np.testing.assert_allclose(step, expected, rtol=1e-5, atol=1e-6)


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


@pytest.mark.parametrize("strategy", ["tanh_diag", "sparse"])
def test_elimination_for_the_export_solves_as_accurately_as_solve(strategy):
    # The solve a JAX model exports to TensorFlow (see test_assembly_rnn.py):
    # on the Cayley system of a huge coupling, as accurate as keras.ops.solve
    # (elimination without row swaps loses about three digits here).
    coupling = stressed_layer(strategy, "cayley").cell.coupling_matrix().astype(np.float64)
    units = coupling.shape[0]
    eye = np.eye(units)
    a = eye - 0.5 * coupling
    b = np.concatenate([eye + 0.5 * coupling, np.random.default_rng(3).normal(size=(units, 3))], 1)
    exact = np.linalg.solve(a, b)
    a32, b32 = keras.ops.convert_to_tensor(a, "float32"), keras.ops.convert_to_tensor(b, "float32")
    eliminated = to_numpy(_gauss_jordan_solve(a32, b32))
    solved = to_numpy(keras.ops.solve(a32, b32))
    assert eliminated.shape == (units, units + 3)
    error = np.abs(eliminated - exact).max()
    assert error <= 4 * np.abs(solved - exact).max() + 1e-6, error


def test_the_solve_is_keras_solve_outside_an_export():
    # Only JAX's conversion for a TensorFlow SavedModel takes the elimination.
    assert not _traced_for_tensorflow_export()
