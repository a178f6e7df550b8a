"""AssemblyCell and AssemblyRNN: arithmetic, RNN features, saving, configs."""

import keras
import numpy as np
import pytest
from conftest import (
    STRATEGIES,
    VARIANT_IDS,
    VARIANTS,
    perturb_trainable,
    to_numpy,
    variant_arguments,
)
from reference import reference_matrices, reference_sequence, relu

from keras_rnnofrnns import AssemblyCell, AssemblyRNN, ClipDiag, certify

P, N, C = 4, 6, 3


def make_inputs(batch=3, steps=9, features=2, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, steps, features)).astype("float32")


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
def test_fast_layer_matches_numpy_and_cell(strategy):
    inputs = make_inputs()
    fast = AssemblyRNN(P, N, C, module_weights=strategy, density=0.3, seed=3, return_sequences=True)
    outputs = to_numpy(fast(inputs))
    np.testing.assert_allclose(outputs, reference_sequence(fast.cell, inputs), rtol=1e-4, atol=1e-5)
    generic = keras.layers.RNN(
        AssemblyCell(P, N, C, module_weights=strategy, density=0.3, seed=3), return_sequences=True
    )
    np.testing.assert_allclose(to_numpy(generic(inputs)), outputs, rtol=1e-5, atol=1e-6)


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


@pytest.mark.parametrize("layer_kind", ["generic", "fast"])
def test_go_backwards_masking_and_return_state(layer_kind):
    inputs = make_inputs(batch=2, steps=5)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)

    def make(**kwargs):
        if layer_kind == "fast":
            return AssemblyRNN(P, N, C, seed=5, **kwargs)
        return keras.layers.RNN(AssemblyCell(P, N, C, seed=5), **kwargs)

    backwards = make(go_backwards=True)
    reference_cell = AssemblyCell(P, N, C, seed=5)
    keras.layers.RNN(reference_cell)(inputs)
    expected = reference_sequence(reference_cell, inputs[:, ::-1])[:, -1]
    np.testing.assert_allclose(to_numpy(backwards(inputs)), expected, rtol=1e-4, atol=1e-5)

    masked = make(return_sequences=True, return_state=True)
    sequence, state = masked(inputs, mask=mask)
    unmasked_prefix = reference_sequence(reference_cell, inputs[:1, :3])[:, -1]
    # A masked step keeps the state: the first row stops changing after step 3.
    np.testing.assert_allclose(to_numpy(state)[0], unmasked_prefix[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(to_numpy(sequence)[0, 4], unmasked_prefix[0], rtol=1e-4, atol=1e-5)
    full = reference_sequence(reference_cell, inputs[1:])[:, -1]
    np.testing.assert_allclose(to_numpy(state)[1], full[0], rtol=1e-4, atol=1e-5)

    zeroed = make(return_sequences=True, zero_output_for_mask=True)
    np.testing.assert_array_equal(to_numpy(zeroed(inputs, mask=mask))[0, 3:], 0.0)


@pytest.mark.parametrize("layer_kind", ["generic", "fast"])
def test_stateful_continues_from_last_state(layer_kind):
    inputs = make_inputs(batch=2, steps=6)
    if layer_kind == "fast":
        layer = AssemblyRNN(P, N, C, seed=2, stateful=True)
        whole = AssemblyRNN(P, N, C, seed=2)
    else:
        layer = keras.layers.RNN(AssemblyCell(P, N, C, seed=2), stateful=True)
        whole = keras.layers.RNN(AssemblyCell(P, N, C, seed=2))
    layer(inputs[:, :3])
    second = to_numpy(layer(inputs[:, 3:]))
    np.testing.assert_allclose(second, to_numpy(whole(inputs)), rtol=1e-5, atol=1e-6)
    layer.reset_states()
    np.testing.assert_allclose(
        to_numpy(layer(inputs[:, :3])), to_numpy(whole(inputs[:, :3])), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("layer_kind", ["generic", "fast"])
def test_save_load_round_trip(tmp_path, strategy, layer_kind):
    arguments = dict(module_weights=strategy, density=0.3, seed=11)
    recurrent = (
        AssemblyRNN(P, N, C, **arguments)
        if layer_kind == "fast"
        else keras.layers.RNN(AssemblyCell(P, N, C, **arguments))
    )
    model = keras.Sequential([keras.Input((7, 2)), recurrent, keras.layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    inputs = make_inputs(batch=4, steps=7)
    model.fit(inputs, np.ones((4, 3), "float32"), epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(to_numpy(loaded(inputs)), to_numpy(model(inputs)), rtol=1e-6, atol=1e-7)
    # The guarantee survives the round trip, and so does every number of it.
    before, after = certify(model), certify(loaded)
    assert after.ode_contracting
    assert after.discrete_bound == before.discrete_bound
    assert after.certified == before.certified


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


def test_assembly_rnn_exposes_its_cell_hyperparameters():
    layer = AssemblyRNN(
        P, N, C, module_weights="clip_diag", dt=0.1, tau=0.5, integrator="cayley",
        gate="input", gate_bounds=(0.01, 0.3), seed=5, use_bias=False,
        kernel_regularizer="l2",
    )  # fmt: skip
    cell = layer.cell
    assert (layer.num_modules, layer.module_size, layer.units) == (P, N, P * N)
    assert layer.coupling_pairs == cell.coupling_pairs and len(layer.coupling_pairs) == C
    assert (layer.module_weights, layer.integrator, layer.gate) == ("clip_diag", "cayley", "input")
    assert (layer.dt, layer.tau, layer.step_size, layer.gate_bounds) == (0.1, 0.5, 0.2, (0.01, 0.3))
    assert (layer.seed, layer.use_bias, layer.coupling_step) == (5, False, "fixed")
    assert layer.activation is cell.activation and layer.kernel_regularizer is cell.kernel_regularizer
    assert layer.coupling_initializer is cell.coupling.kernel_initializer
    # Read-only: the cell holds the value, as in keras.layers.SimpleRNN.
    with pytest.raises(AttributeError):
        layer.dt = 0.2


def test_assembly_rnn_passes_base_layer_arguments_to_layer_and_cell():
    layer = AssemblyRNN(P, N, C, seed=0, name="assembly", dtype="float64", trainable=False)
    # The layer's dtype policy and trainability are the cell's too.
    assert layer.name == "assembly" and layer.cell.dtype_policy.name == "float64"
    assert not layer.trainable and not layer.cell.trainable
    layer(np.zeros((2, 3, 1), "float32"))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == len(layer.weights) > 0
    # No catch-all: a misspelled argument fails instead of vanishing.
    with pytest.raises(ValueError, match="modul_size"):
        AssemblyRNN(P, N, C, modul_size=3)


def test_pairs_reproducible_from_seed_and_explicit_pairs():
    first = AssemblyCell(16, 2, 20, seed=9).coupling_pairs
    assert first == AssemblyCell(16, 2, 20, seed=9).coupling_pairs
    assert first != AssemblyCell(16, 2, 20, seed=10).coupling_pairs
    assert len(first) == 20 and all(i < j for i, j in first)
    explicit = AssemblyCell(4, 2, [(2, 0), (1, 3)], seed=0).coupling_pairs
    assert explicit == ((0, 2), (1, 3))
    assert AssemblyCell(4, 2, 0, seed=0).coupling_pairs == ()
    assert len(AssemblyCell(4, 2, 6, seed=0).coupling_pairs) == 6


def test_same_seed_same_initial_weights():
    weights = [to_numpy(w) for w in built_cell("tanh_diag", seed=21).weights]
    again = [to_numpy(w) for w in built_cell("tanh_diag", seed=21).weights]
    for a, b in zip(weights, again):
        np.testing.assert_array_equal(a, b)


def test_sequence_classifier_passes_scan_unroll():
    from keras_rnnofrnns import sequence_classifier

    model = sequence_classifier("adadiag-tanh", 2, 3, 1, sequence_length=6, scan_unroll=3, compile=False)
    assert model.get_layer("assembly").scan_unroll == 3
    inputs = make_inputs(batch=2, steps=6, features=1)
    plain = sequence_classifier("adadiag-tanh", 2, 3, 1, sequence_length=6, compile=False)
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(to_numpy(model(inputs)), to_numpy(plain(inputs)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="scan_unroll"):
        sequence_classifier("adadiag-tanh", 2, 3, 1, fast=False, scan_unroll=2)


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


# -- integrators, gates and the learned coupling step ------------------------


@pytest.mark.parametrize("integrator, gate, coupling_step", VARIANTS, ids=VARIANT_IDS)
def test_integrators_and_gates_match_numpy(integrator, gate, coupling_step):
    # unroll=True: the per-step arithmetic of AssemblyCell.call and of
    # AssemblyRNN's fast step, op by op (a scan recompiles its body at every
    # eager call on JAX). test_fast_path.py holds the scan loops to the same
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


@pytest.mark.parametrize("layer_kind", ["generic", "fast"])
def test_save_load_every_integrator_and_gate(tmp_path, layer_kind):
    # One model holds every variant as a branch (strategies taking turns), so
    # a single save and load covers them all; unrolled, as a scan recompiles
    # its body at every eager call on JAX.
    sequence = keras.Input((7, 2))
    branches = []
    for k, variant in enumerate(VARIANTS):
        arguments = variant_arguments(STRATEGIES[k % len(STRATEGIES)], *variant, seed=20 + k)
        name = f"branch_{k}"
        if layer_kind == "fast":
            branches.append(AssemblyRNN(P, N, C, name=name, unroll=True, **arguments))
        else:
            cell = AssemblyCell(P, N, C, **arguments)
            branches.append(keras.layers.RNN(cell, name=name, unroll=True))
    model = keras.Model(sequence, [branch(sequence) for branch in branches])
    perturb_trainable(model, seed=3)
    inputs = make_inputs(batch=4, steps=7)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    before, after = model(inputs), loaded(inputs)
    for k, (variant_id, branch) in enumerate(zip(VARIANT_IDS, branches)):
        restored = loaded.get_layer(branch.name)
        assert restored.cell.get_config() == branch.cell.get_config(), variant_id
        assert [w.name for w in restored.weights] == [w.name for w in branch.weights]
        np.testing.assert_allclose(
            to_numpy(after[k]), to_numpy(before[k]), rtol=1e-6, atol=1e-7, err_msg=variant_id
        )
        first, second = certify(branch), certify(restored)
        assert first.certified == second.certified, variant_id
        np.testing.assert_equal(second.discrete_bound, first.discrete_bound)


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


def test_paper_methods_are_the_esann_four():
    from keras_rnnofrnns import METHODS, PAPER_METHODS

    assert PAPER_METHODS == ("scn-3", "scn-30", "adadiag-tanh", "adadiag-clip")
    assert set(PAPER_METHODS) | {"adadiag-gated", "adadiag-gated-cayley"} == set(METHODS)


@pytest.mark.parametrize("method", ["adadiag-gated", "adadiag-gated-cayley"])
def test_gated_methods_arguments_and_classifier(method):
    from keras_rnnofrnns import METHODS, method_arguments, sequence_classifier

    arguments = method_arguments(method, seed=5)
    assert arguments["activation"] == "relu" and arguments["module_weights"] == "tanh_diag"
    assert arguments["use_bias"] is False and tuple(arguments["gate_bounds"]) == (1e-5, 0.2)
    if method == "adadiag-gated":
        assert (arguments["integrator"], arguments["gate"]) == ("euler", "input_state")
        assert arguments.get("coupling_step", "fixed") == "fixed"
    else:
        assert (arguments["integrator"], arguments["gate"]) == ("cayley", "input")
        assert arguments["coupling_step"] == "learned"
    # A fresh dict: changing it leaves the method alone.
    arguments["activation"] = "tanh"
    assert METHODS[method]["activation"] == "relu"

    p, n, features = 8, 16, 8
    units = p * n

    def build(seed, fast=True):
        return sequence_classifier(
            method, p, n, 6, sequence_length=5, input_dim=features, seed=seed, fast=fast,
            compile=False,
        )

    model = build(seed=5)
    cell = model.get_layer("assembly").cell
    assert cell.activation_name == "relu" and cell.gate == arguments["gate"]
    assert cell.bias is None and not any(w.name == "bias" for w in cell.weights)
    # Input kernel N(0, 1/sqrt(H)): std 1/sqrt(128) ~ 0.088 over 1024 entries.
    kernel = to_numpy(cell.input_kernel)
    assert kernel.shape == (features, units)
    assert abs(kernel.std() / (1 / np.sqrt(units)) - 1) < 0.1 and abs(kernel.mean()) < 0.01
    # Coupling blocks U(-1/sqrt(N), 1/sqrt(N)), not the orthogonal default.
    blocks = to_numpy(cell.coupling.kernel)
    assert np.abs(blocks).max() <= 1 / np.sqrt(n) and np.abs(blocks).max() > 0.95 / np.sqrt(n)
    assert abs(blocks.std() - 1 / np.sqrt(3 * n)) < 0.1 / np.sqrt(n)
    if method == "adadiag-gated":
        np.testing.assert_array_equal(to_numpy(cell.gate_state), 0.0)
        assert cell.coupling_step_kernel is None
    else:
        assert cell.gate_state is None
        assert to_numpy(cell.coupling_step_kernel).shape == (units,)
        assert certify(cell).certified
    # Seeded: same seed, same weights; another seed, other weights.
    # (The read-out layer is not the assembly's: only the cell is seeded.)
    same = build(seed=5, fast=False).get_layer("assembly").cell
    other = AssemblyCell(p, n, 6, seed=6, **method_arguments(method, seed=6))
    other.build((None, features))
    assert [w.name for w in same.weights] == [w.name for w in cell.weights]
    for a, b in zip(cell.weights, same.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.name)
    for name in ("input_kernel", "gate_kernel", "gate_bias"):
        assert not np.array_equal(
            to_numpy(getattr(cell, name)), to_numpy(getattr(other, name))
        ), name
    assert not np.array_equal(to_numpy(cell.coupling.kernel), to_numpy(other.coupling.kernel))
