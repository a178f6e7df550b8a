"""AssemblyRNN: its own loop against keras.layers.RNN(AssemblyCell), gradients too.

Speed must never change results. The forward outputs of both paths are held
to a numpy reference (here and in test_assembly_cell.py); here the gradients
of the fast path (weights and inputs) must also equal those of the generic
per-step path, through masking, go_backwards, zero_output_for_mask,
return_sequences, an initial state and the Python-loop path
(`unroll=True`), on the current backend. The tests of RNN features, saving
and arguments that run both layers live here too.
"""

import os
import warnings

import keras
import numpy as np
import pytest
from conftest import (
    ATOL, BATCH, FEATURES, MASK, RTOL, SMALL_C, SMALL_N, SMALL_P, STEPS, STRATEGIES,
    VARIANT_IDS, VARIANTS, C, N, P, assert_same_gradients, layer_pair, make_inputs,
    perturb_trainable, sequences, to_numpy, variant_arguments,
)
from reference import reference_sequence

from keras_rnnofrnns import AssemblyCell, AssemblyRNN, certify


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


# Euler with coupling (the case that once broke PyTorch's autograd), the
# certified gated Cayley step and the state-gated Euler step.
STATEFUL_VARIANTS = [
    ("euler", None, "fixed"),
    ("cayley", "input", "learned"),
    ("euler", "input_state", "fixed"),
]


# Each variant on both layers; return_sequences once, on the fast layer,
# whose loop it changes.
STATEFUL_CASES = [
    (kind, False, variant) for kind in ("generic", "fast") for variant in STATEFUL_VARIANTS
] + [("fast", True, STATEFUL_VARIANTS[0])]


@pytest.mark.parametrize(
    "layer_kind, return_sequences, variant",
    STATEFUL_CASES,
    ids=[
        f"{k}-{'sequences' if r else 'last'}-{v[0]}-{v[1] or 'nogate'}"
        for k, r, v in STATEFUL_CASES
    ],
)
def test_stateful_layer_trains(layer_kind, return_sequences, variant):
    arguments = variant_arguments("tanh_diag", *variant)
    if layer_kind == "fast":
        layer = AssemblyRNN(P, N, C, stateful=True, return_sequences=return_sequences, **arguments)
    else:
        layer = keras.layers.RNN(
            AssemblyCell(P, N, C, **arguments), stateful=True, return_sequences=return_sequences
        )
    model = keras.Sequential(
        [keras.Input((4, FEATURES), batch_size=2), layer, keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    # Two chunks of the same two sequences, in order: the second starts from
    # the state the first left.
    inputs = make_inputs(batch=2, steps=8)
    x = np.concatenate([inputs[:, :4], inputs[:, 4:]])
    y = np.ones((4, 4, 1) if return_sequences else (4, 1), dtype="float32")
    before = [to_numpy(w) for w in layer.trainable_weights]
    history = model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert any(
        not np.array_equal(to_numpy(w), b) for w, b in zip(layer.trainable_weights, before)
    )
    state = to_numpy(layer.states[0])
    assert np.all(np.isfinite(state))
    if keras.backend.backend() != "jax":
        # Keras's JAX trainer runs fit on stateless copies of the tracked
        # variables and an RNN's state variables are untracked: for Keras's
        # own SimpleRNN too, fit leaves them at zero there.
        assert np.any(state != 0)


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


# -- gradients: the fast loop against the generic per-step path -------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_gradients_equal_generic_path(strategy):
    fast, generic = layer_pair(strategy, return_sequences=True)
    assert_same_gradients(fast, generic)


def test_gradients_equal_with_mask_and_go_backwards():
    # The strategies differ only in the module term, covered above.
    fast, generic = layer_pair("sparse", go_backwards=True, return_sequences=True)
    assert_same_gradients(fast, generic, mask=MASK)


@pytest.mark.parametrize(
    "arguments",
    [
        dict(return_sequences=True, zero_output_for_mask=True),
        dict(return_state=True, zero_output_for_mask=True),
    ],
    ids=["sequences_zeroed", "last_zeroed_and_state"],
)
def test_gradients_equal_with_mask_outputs_and_states(arguments):
    fast, generic = layer_pair("clip_diag", **arguments)
    assert_same_gradients(fast, generic, mask=MASK)


def test_gradients_equal_with_initial_state():
    fast, generic = layer_pair("sparse", return_sequences=True)
    state = np.random.default_rng(3).normal(size=(BATCH, SMALL_P * SMALL_N)).astype("float32")
    assert_same_gradients(fast, generic, initial_state=state)


def test_python_loop_path_equals_generic_path():
    # unroll=True runs the fast step in a Python loop on every backend: the
    # loop PyTorch always uses, here also checked on JAX and TensorFlow.
    fast, generic = layer_pair("sparse", unroll=True, return_sequences=True)
    assert_same_gradients(fast, generic, mask=MASK)


# Forward Euler without a gate is covered by the tests above. Here the other
# integrator x gate combinations and the learned coupling step, between this
# test and the masked one below, the strategies taking turns.
GATED = [
    ("tanh_diag", ("cayley", None, "fixed")),
    ("sparse", ("euler", "input_state", "fixed")),
    ("sparse", ("cayley", "input_state", "fixed")),
    ("clip_diag", ("cayley", "input", "learned")),
]


@pytest.mark.parametrize(
    "strategy, variant", GATED, ids=[f"{s}-{VARIANT_IDS[VARIANTS.index(v)]}" for s, v in GATED]
)
def test_gradients_equal_for_integrators_and_gates(strategy, variant):
    fast, generic = layer_pair(strategy, variant_arguments(strategy, *variant), return_sequences=True)
    fast_loss = assert_same_gradients(fast, generic)
    # The scan loop's outputs are the numpy reference's: the loss is the same
    # fixed random weighting of every output.
    expected = reference_sequence(fast.cell, sequences())
    probe = np.random.default_rng(10).normal(size=expected.shape)
    np.testing.assert_allclose(fast_loss, np.sum(expected * probe), rtol=RTOL, atol=1e-4)


@pytest.mark.parametrize(
    "strategy, variant, rnn_arguments, with_state",
    [
        ("tanh_diag", ("euler", "input", "fixed"), dict(go_backwards=True, return_sequences=True), False),
        (
            "clip_diag",
            ("cayley", "input_state", "learned"),
            dict(go_backwards=True, return_state=True, zero_output_for_mask=True),
            True,
        ),
    ],
    ids=["euler-input-backwards", "cayley-state-learned-backwards-initial-state"],
)
def test_gradients_equal_for_gates_with_mask(strategy, variant, rnn_arguments, with_state):
    fast, generic = layer_pair(strategy, variant_arguments(strategy, *variant), **rnn_arguments)
    call = dict(mask=MASK)
    if with_state:
        state = np.random.default_rng(3).normal(size=(BATCH, SMALL_P * SMALL_N))
        call["initial_state"] = state.astype("float32")
    assert_same_gradients(fast, generic, **call)


def test_scan_unroll_changes_nothing():
    inputs = sequences()
    one = AssemblyRNN(SMALL_P, SMALL_N, SMALL_C, seed=4, return_sequences=True)
    eight = AssemblyRNN(SMALL_P, SMALL_N, SMALL_C, seed=4, return_sequences=True, scan_unroll=8)
    np.testing.assert_allclose(
        to_numpy(eight(inputs)), to_numpy(one(inputs)), rtol=1e-6, atol=1e-7
    )


def test_batch_as_large_as_the_state():
    # Feature-major states are (H, batch): with batch == H a bias or diagonal
    # broadcast along the wrong axis would still have the right shape (Keras
    # 3.15's TensorFlow ops.add does that to an (n, 1) operand of an (n, n)
    # tensor), so only the values can tell.
    inputs = np.random.default_rng(6).normal(size=(SMALL_P * SMALL_N, 4, FEATURES))
    inputs = inputs.astype("float32")
    fast, generic = layer_pair("tanh_diag", return_sequences=True)
    np.testing.assert_allclose(
        to_numpy(fast(inputs)), to_numpy(generic(inputs)), rtol=RTOL, atol=ATOL
    )


def test_jit_compile_true_falls_back_without_xla_on_tensorflow():
    # keras.ops.scan's TensorFlow loop is not XLA-compilable, so the layer
    # opts out (supports_jit). jit_compile="auto" never picks XLA on a CPU
    # machine, so only jit_compile=True shows the opt-out everywhere: Keras
    # then warns and compiles without XLA. JAX keeps jit_compile=True (XLA is
    # its only compiler); PyTorch keeps it too (torch.compile).
    layer = AssemblyRNN(SMALL_P, SMALL_N, SMALL_C, seed=0)
    on_tensorflow = keras.backend.backend() == "tensorflow"
    assert layer.supports_jit == (not on_tensorflow)
    model = keras.Sequential([keras.Input((STEPS, FEATURES)), layer, keras.layers.Dense(2)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.compile(optimizer="adam", loss="mse", jit_compile=True)
    fell_back = ["Proceeding with `jit_compile=False`" in str(w.message) for w in caught]
    assert any(fell_back) == on_tensorflow
    assert model.jit_compile is (not on_tensorflow)
    if keras.backend.backend() == "torch":
        # torch.compile of a whole train step takes over a minute on a CPU;
        # what the opt-out changes is checked above, and TensorFlow trains below.
        return
    loss = model.train_on_batch(sequences(), np.zeros((BATCH, 2), "float32"))
    assert np.isfinite(loss)


_EXPORT_ON_TENSORFLOW = """
import sys, numpy as np, keras, tensorflow as tf
import keras_rnnofrnns  # registers the layers the file names
model = keras.saving.load_model(sys.argv[1])
model.export(sys.argv[2])
served = keras.layers.TFSMLayer(sys.argv[2], call_endpoint="serve")
x = np.load(sys.argv[3])
np.save(sys.argv[4], np.asarray(served(tf.constant(x))))
"""


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="the path for JAX models, checked on JAX"
)
def test_a_cayley_model_exports_through_its_keras_file_on_tensorflow(tmp_path):
    # The .keras file of a JAX model, loaded and exported on TensorFlow,
    # serves it too.
    pytest.importorskip("tensorflow")
    import subprocess
    import sys

    layer = AssemblyRNN(P, N, C, integrator="cayley", seed=0)
    model = keras.Sequential([keras.Input((5, 2)), layer, keras.layers.Dense(3)])
    inputs = make_inputs(batch=2, steps=5)
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "inputs.npy", inputs)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run(
        [sys.executable, "-c", _EXPORT_ON_TENSORFLOW, str(tmp_path / "model.keras"),
         str(tmp_path / "exported"), str(tmp_path / "inputs.npy"), str(tmp_path / "out.npy")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_allclose(
        np.load(tmp_path / "out.npy"), to_numpy(model(inputs)), rtol=1e-4, atol=1e-5
    )


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="JAX's export to TensorFlow, checked on JAX"
)
def test_a_cayley_model_exported_on_jax_runs_in_tensorflow(tmp_path):
    # keras.ops.solve on JAX is a LAPACK call TensorFlow cannot run; while
    # JAX exports, the Cayley factor is solved in operations TensorFlow runs.
    # Both the fixed step and the learned coupling step with sparse modules.
    tf = pytest.importorskip("tensorflow")
    model = keras.Sequential(
        [
            keras.Input((6, 2)),
            AssemblyRNN(num_modules=4, module_size=4, coupling_blocks=2, integrator="cayley",
                        seed=0, return_sequences=True),
            AssemblyRNN(num_modules=4, module_size=4, coupling_blocks=3, integrator="cayley",
                        module_weights="sparse", density=0.5, gate="input",
                        coupling_step="learned", seed=1),
            keras.layers.Dense(3),
        ]
    )  # fmt: skip
    inputs = make_inputs(batch=5, steps=6)
    expected = to_numpy(model(inputs))
    model.export(str(tmp_path / "exported"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "exported"))
    outputs = served.serve(tf.constant(inputs)).numpy()
    np.testing.assert_allclose(outputs, expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(to_numpy(model(inputs)), expected)
