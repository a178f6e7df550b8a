"""AssemblyRNN's fast loop against keras.layers.RNN(AssemblyCell): gradients too.

Speed must never change results. test_core_cell.py holds the forward
outputs of both paths to a numpy reference; here the gradients of the fast
path (weights and inputs) must equal those of the generic per-step path,
through masking, go_backwards, zero_output_for_mask, return_sequences, an
initial state and the Python-loop path (`unroll=True`), on the current backend.
"""

import itertools
import warnings

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
from reference import reference_sequence

from keras_rnnofrnns import AssemblyCell, AssemblyRNN

P, N, C = 3, 4, 2
BATCH, STEPS, FEATURES = 3, 7, 2
MASK = np.array(
    [[1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0, 0]], dtype=bool
)
RTOL, ATOL = 1e-4, 1e-6


def layer_pair(strategy, cell_arguments=None, **rnn_arguments):
    """The fast and the generic layer with the same, non-trivial weights.

    Without `cell_arguments`, the cell is `module_weights=strategy` with
    defaults and every weight is perturbed. With `cell_arguments` (which
    then hold `module_weights`), only the trainable weights are: the
    integrators need the fixed sparse blocks, metric and pair selections as
    built.
    """
    trainable_only = cell_arguments is not None
    if cell_arguments is None:
        cell_arguments = dict(module_weights=strategy, density=0.3, seed=4)
    fast = AssemblyRNN(P, N, C, **cell_arguments, **rnn_arguments)
    generic = keras.layers.RNN(AssemblyCell(P, N, C, **cell_arguments), **rnn_arguments)
    inputs = sequences()
    fast.build(inputs.shape)
    generic.build(inputs.shape)
    # A bias and a stronger coupling, so that every term reaches the gradient.
    if trainable_only:
        perturb_trainable(fast, generic, seed=1)
        return fast, generic
    rng = np.random.default_rng(1)
    weights = [w + rng.normal(scale=0.5, size=w.shape).astype(w.dtype) for w in fast.get_weights()]
    fast.set_weights(weights)
    generic.set_weights(weights)
    return fast, generic


def sequences(seed=0):
    return np.random.default_rng(seed).normal(size=(BATCH, STEPS, FEATURES)).astype("float32")


def loss_and_gradients(layer, inputs, initial_state=None, mask=None):
    """Loss, then d loss / d (trainable weights..., inputs[, initial_state]) as numpy.

    The loss weighs every output (and the returned state) with fixed random
    numbers, so each output position gets a different upstream gradient.
    """
    arguments = [inputs] + ([] if initial_state is None else [initial_state])
    kwargs = {} if mask is None else {"mask": mask}

    def loss_of(outputs):
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        total = 0.0
        for i, output in enumerate(outputs):
            probe = np.random.default_rng(10 + i).normal(size=tuple(output.shape))
            probe = keras.ops.convert_to_tensor(probe, output.dtype)
            total = total + keras.ops.sum(output * probe)
        return total

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(trainable, arguments):
            outputs, _ = layer.stateless_call(trainable, non_trainable, *arguments, **kwargs)
            return loss_of(outputs)

        arguments = [jax.numpy.asarray(a) for a in arguments]
        # Compiled: tracing once is much faster than running op by op.
        gradient_fn = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1)))
        loss, (weight_grads, argument_grads) = gradient_fn(trainable, arguments)
        grads = list(weight_grads) + list(argument_grads)
    elif backend == "tensorflow":
        import tensorflow as tf

        arguments = [tf.convert_to_tensor(a) for a in arguments]
        with tf.GradientTape() as tape:
            tape.watch(arguments)
            loss = loss_of(layer(*arguments, **kwargs))
        grads = tape.gradient(loss, list(layer.trainable_variables) + arguments)
    else:
        import torch

        arguments = [torch.tensor(a, requires_grad=True) for a in arguments]
        loss = loss_of(layer(*arguments, **kwargs))
        targets = [v.value for v in layer.trainable_variables] + arguments
        grads = torch.autograd.grad(loss, targets)
    return float(to_numpy(loss)), [to_numpy(g) for g in grads]


def assert_same_gradients(fast, generic, **call):
    inputs = sequences()
    fast_loss, fast_grads = loss_and_gradients(fast, inputs, **call)
    generic_loss, generic_grads = loss_and_gradients(generic, inputs, **call)
    np.testing.assert_allclose(fast_loss, generic_loss, rtol=RTOL, atol=ATOL)
    names = [v.path for v in fast.trainable_variables] + ["inputs", "initial_state"]
    assert len(fast_grads) == len(generic_grads)
    for name, fast_grad, generic_grad in zip(names, fast_grads, generic_grads):
        assert np.all(np.isfinite(fast_grad)), name
        # A gradient that is zero everywhere would make the comparison empty.
        assert np.any(generic_grad != 0), name
        np.testing.assert_allclose(fast_grad, generic_grad, rtol=RTOL, atol=ATOL, err_msg=name)
    return fast_loss


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
    state = np.random.default_rng(3).normal(size=(BATCH, P * N)).astype("float32")
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
        call["initial_state"] = np.random.default_rng(3).normal(size=(BATCH, P * N)).astype("float32")
    assert_same_gradients(fast, generic, **call)


class PerStepCell(AssemblyCell):
    """The cell as it runs without keras.layers.RNN's per-sequence hook.

    Every step then rebuilds the weight-only work (structural coupling, the
    diagonal's tanh, the Cayley solve) instead of using the prepared
    `RecurrenceOperators`: the path a direct call of the cell takes.
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
    prepared = keras.layers.RNN(AssemblyCell(P, N, C, **arguments), **options)
    per_step = keras.layers.RNN(PerStepCell(P, N, C, **arguments), **options)
    prepared.build(sequences().shape)
    per_step.build(sequences().shape)
    perturb_trainable(prepared, per_step, seed=1)
    assert_same_gradients(prepared, per_step, mask=MASK)


@pytest.mark.parametrize("layer_kind", ["generic", "fast"])
def test_weight_work_runs_once_per_sequence_and_never_outlives_it(layer_kind):
    cell = AssemblyCell(P, N, C, integrator="cayley", gate="input", seed=4)
    layer = keras.layers.RNN(cell) if layer_kind == "generic" else AssemblyRNN(
        P, N, C, integrator="cayley", gate="input", seed=4
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
    cell.bias.assign(np.linspace(-2, 2, P * N).astype("float32"))
    rng = np.random.default_rng(5)
    x = rng.normal(size=(BATCH, P * N)).astype("float32")
    u = rng.normal(size=(BATCH, FEATURES)).astype("float32")
    reference = reference_sequence(cell, u[:, None], initial_state=x)[:, 0]
    np.testing.assert_allclose(to_numpy(cell(u, [x])[0]), reference, rtol=1e-4, atol=1e-5)
    assert len(calls) == 1


def test_stacked_cells_equal_the_layers_in_sequence():
    # keras.layers.RNN prepares each cell of a StackedRNNCells, and runs the
    # first step of each once before its loop to find the next one's inputs.
    inputs = sequences()
    stacked = keras.layers.RNN(
        keras.layers.StackedRNNCells([AssemblyCell(P, N, C, seed=4), AssemblyCell(P, N, C, seed=5)]),
        return_sequences=True,
    )
    first = keras.layers.RNN(AssemblyCell(P, N, C, seed=4), return_sequences=True)
    second = keras.layers.RNN(AssemblyCell(P, N, C, seed=5), return_sequences=True)
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
        batch = P * N if strategy == "tanh_diag" else P
        cell = AssemblyCell(P, N, C, **variant_arguments(strategy, integrator, gate, coupling_step))
        cell.build((None, FEATURES))
        perturb_trainable(cell, seed=6)
        rng = np.random.default_rng(5)
        x = rng.normal(size=(batch, P * N)).astype("float32")
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


def test_scan_unroll_changes_nothing():
    inputs = sequences()
    one = AssemblyRNN(P, N, C, seed=4, return_sequences=True)
    eight = AssemblyRNN(P, N, C, seed=4, return_sequences=True, scan_unroll=8)
    np.testing.assert_allclose(
        to_numpy(eight(inputs)), to_numpy(one(inputs)), rtol=1e-6, atol=1e-7
    )


def test_batch_as_large_as_the_state():
    # Feature-major states are (H, batch): with batch == H a bias or diagonal
    # broadcast along the wrong axis would still have the right shape (Keras
    # 3.15's TensorFlow ops.add does that to an (n, 1) operand of an (n, n)
    # tensor), so only the values can tell.
    inputs = np.random.default_rng(6).normal(size=(P * N, 4, FEATURES)).astype("float32")
    fast, generic = layer_pair("tanh_diag", return_sequences=True)
    np.testing.assert_allclose(
        to_numpy(fast(inputs)), to_numpy(generic(inputs)), rtol=RTOL, atol=ATOL
    )


def test_fast_step_matches_cell_call():
    # The per-step pieces in both layouts against the cell's own call.
    cell = AssemblyCell(P, N, C, module_weights="sparse", density=0.3, seed=2)
    keras.layers.RNN(cell)(sequences())
    cell.bias.assign(np.linspace(-1, 1, P * N).astype("float32"))
    rng = np.random.default_rng(5)
    x = rng.normal(size=(BATCH, P * N)).astype("float32")
    u = rng.normal(size=(BATCH, FEATURES)).astype("float32")
    expected = to_numpy(cell(u, [x])[0])
    for feature_major in (False, True):
        operators = cell.recurrence_operators(feature_major=feature_major)
        state, inputs = (x.T, u.T) if feature_major else (x, u)
        step = to_numpy(cell.fast_step(operators, state, inputs))
        step = step.T if feature_major else step
        np.testing.assert_allclose(step, expected, rtol=1e-5, atol=1e-6)


def test_benchmark_harness_runs_and_its_reference_is_the_model(tmp_path):
    # benchmarks/train_step.py checks that its hand-written reference computes
    # the Keras model's loss from the same weights before timing it; a
    # mismatch is a failed row and exit status 1.
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "train_step.py"
    spec = importlib.util.spec_from_file_location("train_step", path)
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    output = tmp_path / "bench.json"
    argv = ["--steps", "5", "--modules", "2", "--units", "4", "--coupling-blocks", "1",
            "--batch", "8", "--warmup", "0", "--repeats", "1", "--rounds", "1",
            "--methods", "scn-3", "--reference-unroll", "2", "--skip", "inference",
            "--json", str(output)]
    assert harness.main(argv) == 0
    report = json.loads(output.read_text())
    assert report["backend"] == keras.backend.backend()
    kinds = {r["kind"] for r in report["results"]}
    assert kinds == {"assembly", "generic", "simple_rnn", "reference"}
    for row in report["results"]:
        assert row["ms_per_step"] > 0 and row["vs_simple_rnn"] > 0 and row["vs_reference"] > 0


def test_jit_compile_true_falls_back_without_xla_on_tensorflow():
    # keras.ops.scan's TensorFlow loop is not XLA-compilable, so the layer
    # opts out (supports_jit). jit_compile="auto" never picks XLA on a CPU
    # machine, so only jit_compile=True shows the opt-out everywhere: Keras
    # then warns and compiles without XLA. JAX keeps jit_compile=True (XLA is
    # its only compiler); PyTorch keeps it too (torch.compile).
    layer = AssemblyRNN(P, N, C, seed=0)
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
