"""Shared test settings: quiet Keras, fixed seeds, the MNIST and UCR folders, tiny runs."""

import ast
import doctest
import gzip
import importlib
import io
import os
import re
import socket
import struct
import sys
import tarfile
import time

import keras
import numpy as np
import pytest

from keras_rnnofrnns import AssemblyCell, AssemblyRNN
from keras_rnnofrnns.data import mnist
from tools.experiments import Configuration, Protocol, StopBeforeDeadline, train_run

keras.config.disable_interactive_logging()

STRATEGIES = ("tanh_diag", "clip_diag", "sparse")

# The repository's root folder (examples/, benchmarks/, docs/, results/).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The examples import their helper modules from their own folder, which
# Python puts on the path of a script it runs; tests that run them in-process
# need it too.
sys.path.insert(0, os.path.join(ROOT, "examples"))

# An absolute path of some machine in a text (`/path/to/...` is the docs' placeholder).
MACHINE_PATH = re.compile(r"(^|[\s`(\"'=:])/(?!path/to/)[\w.-]+/", re.MULTILINE)


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def _fixed_seeds():
    keras.utils.set_random_seed(1234)
    yield
    # Without the garbage collection that free_memory adds: it costs about
    # half a second per test, minutes over the suite; Python collects anyway.
    keras.backend.clear_session(free_memory=False)


def _data_dir(variable):
    path = os.environ.get(variable)
    if not path:
        pytest.skip(f"{variable} is not set (.ci/run sets it)")
    return path


# Session-scoped so that module-scoped fixtures can read the data once.
@pytest.fixture(scope="session")
def mnist_dir():
    return _data_dir("MNIST_DIR")


@pytest.fixture(scope="session")
def ucr_dir():
    return _data_dir("UCR_DIR")


def unset_env(monkeypatch, variable, empty):
    """Unsets `variable`; with `empty`, sets it to "" instead, which must count as unset."""
    if empty:
        monkeypatch.setenv(variable, "")
    else:
        monkeypatch.delenv(variable, raising=False)


def run_docstring_examples(name):
    """Runs the Examples of module `name`'s docstrings as written; returns how many ran.

    Each example sees a copy of the module's own names and must import
    whatever else it uses, as a reader would.
    """
    module = importlib.import_module(name)
    result = doctest.testmod(
        module,
        globs=vars(module).copy(),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.failed == 0
    return result.attempted


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


# Every integrator x gate combination, plus the learned coupling step (a
# Cayley option) with each gate: (integrator, gate, coupling_step).
VARIANTS = [
    (integrator, gate, "fixed")
    for integrator in ("euler", "cayley")
    for gate in (None, "input", "input_state")
] + [("cayley", gate, "learned") for gate in (None, "input", "input_state")]
VARIANT_IDS = [f"{i}-{g or 'nogate'}-{s}" for i, g, s in VARIANTS]


def variant_arguments(strategy, integrator, gate, coupling_step, seed=3):
    """AssemblyCell arguments of a variant with steps large enough to matter.

    dt = 0.3 and gate_bounds (0.05, 0.6) make the Cayley factor and the gated
    steps differ from the identity and from each other well beyond float32
    rounding.
    """
    return dict(
        module_weights=strategy,
        density=0.3,
        dt=0.3,
        integrator=integrator,
        gate=gate,
        gate_bounds=(0.05, 0.6),
        coupling_step=coupling_step,
        seed=seed,
    )


def perturb_trainable(*layers, seed=1, scale=0.5):
    """Adds the same random noise to the trainable weights of each layer.

    Only trainable weights: the sparse blocks, the metric and the coupling's
    one-hot pair selections are fixed by construction (perturbing them breaks
    the skewness the integrators rely on). The gate's state weight starts at
    zero and the coupling step at the middle of its range; the noise moves
    both so that every term of the step matters. The layers must have the
    same trainable weights in the same order (compared by name).
    """
    rng = np.random.default_rng(seed)
    reference = layers[0].trainable_weights
    noise = [rng.normal(scale=scale, size=tuple(w.shape)) for w in reference]
    for layer in layers:
        weights = layer.trainable_weights
        assert [w.name for w in weights] == [w.name for w in reference]
        for w, n in zip(weights, noise):
            w.assign((to_numpy(w) + n).astype(to_numpy(w).dtype))


def assert_imports_only_numpy_and_stdlib(module):
    """A loader module's absolute imports are numpy and the standard library.

    Parsed rather than imported, so the answer does not depend on what the
    enclosing package's __init__ happens to import.
    """
    with open(module.__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    top_level = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            top_level.add(node.module.split(".")[0])
    assert top_level - {"__future__", "numpy"} <= set(sys.stdlib_module_names)
    assert "numpy" in top_level


# -- assemblies of the cell, layer and stability tests ---------------------
# P modules of N units with C coupling blocks: the arithmetic against the
# numpy reference, the RNN features, saving and configurations.
P, N, C = 4, 6, 3
# The training, constraint and certificate tests couple more pairs (4 of 6).
STABILITY_C = 4


def make_inputs(batch=3, steps=9, features=2, seed=0):
    """Random float32 sequences of shape (batch, steps, features)."""
    return np.random.default_rng(seed).normal(size=(batch, steps, features)).astype("float32")


def classifier(
    strategy, layer_kind="fast", optimizer="adam", learning_rate=0.05, seed=3, **cell_arguments
):
    """A compiled 2-class classifier of 8-step sequences and its AssemblyCell.

    The assembly is P x N with STABILITY_C coupling blocks, `AssemblyRNN`
    (`layer_kind="fast"`) or `keras.layers.RNN(AssemblyCell)` ("generic").
    """
    arguments = dict(module_weights=strategy, density=0.3, seed=seed, **cell_arguments)
    recurrent = (
        AssemblyRNN(P, N, STABILITY_C, **arguments)
        if layer_kind == "fast"
        else keras.layers.RNN(AssemblyCell(P, N, STABILITY_C, **arguments))
    )
    model = keras.Sequential([keras.Input((8, 1)), recurrent, keras.layers.Dense(2)])
    model.compile(
        optimizer=keras.optimizers.get({"class_name": optimizer, "config": {"learning_rate": learning_rate}}),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model, recurrent.cell


def toy_data(count=32, seed=0):
    """`count` random 8-step sequences for `classifier`, labelled by the sign of their sum."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, 8, 1)).astype("float32")
    return x, (x.sum(axis=(1, 2)) > 0).astype("int32")


# -- the fast and the per-step paths compared, gradients included ------------
# A smaller assembly: each comparison compiles a gradient of both paths.
SMALL_P, SMALL_N, SMALL_C = 3, 4, 2
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
    fast = AssemblyRNN(SMALL_P, SMALL_N, SMALL_C, **cell_arguments, **rnn_arguments)
    generic = keras.layers.RNN(
        AssemblyCell(SMALL_P, SMALL_N, SMALL_C, **cell_arguments), **rnn_arguments
    )
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
    """Random float32 sequences of shape (BATCH, STEPS, FEATURES)."""
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
    """Both layers give the same loss and gradients on `sequences()`; returns the loss."""
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


# -- synthetic MNIST files --------------------------------------------------


def idx_bytes(array, magic=None):
    """The idx file of a uint8 `array` (`magic` overrides its header's first word)."""
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x00000800 | array.ndim
    header = struct.pack(">I", magic) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    return header + array.tobytes()


def write_file(path, payload, gz):
    """Writes `payload` to `path`, gzipped to `path + ".gz"` if `gz`; returns the path."""
    if gz:
        path = str(path) + ".gz"
        payload = gzip.compress(payload)
    with open(path, "wb") as f:
        f.write(payload)
    return str(path)


def write_mnist_folder(folder, n_train=5, n_test=3, gz=False, seed=0):
    """Writes four small synthetic MNIST files; returns the uint8 arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    # Make sure both extremes occur, so scaling to exactly [0, 1] is visible.
    arrays["train_images"][0, 0, :2] = (0, 255)
    for key, array in arrays.items():
        write_file(folder / mnist.MNIST_FILES[key], idx_bytes(array), gz)
    return arrays


# A run small enough for every backend: a 2 x 4 assembly, 64 train and 64
# test images of the real MNIST read row-wise as 28 steps, 2 epochs.
TINY_RUN = dict(
    num_modules=2,
    module_size=4,
    epochs=2,
    batch_size=32,
    limit_train=64,
    limit_test=64,
    row_wise=True,
    verbose=0,
)
TINY_RUN_FLAGS = [
    "--modules", "2", "--units", "4", "--coupling-blocks", "1", "--epochs", "2",
    "--batch-size", "32", "--limit-train", "64", "--limit-test", "64", "--row-wise",
    "--verbose", "0",
]  # fmt: skip
TINY_CONFIG = Configuration("smnist", "adadiag-tanh", 1, 0)


def train_tiny(config, output, data_dir, *callbacks):
    """Trains `config` in-process with `TINY_RUN` into `output`; returns its record."""
    protocol = Protocol.create(
        config.task,
        methods=(config.method,),
        coupling_blocks=(config.coupling_blocks,),
        seeds=(config.seed,),
        output=str(output),
        data_dir=data_dir,
        **TINY_RUN,
    )
    data = protocol.load_data()
    return train_run(protocol, data, config.method, 1, config.seed, list(callbacks))


def epochs_seen():
    """A callback that lists the epochs it sees begin, and that list."""
    epochs = []
    callback = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: epochs.append(e))
    return callback, epochs


def tiny_archive(path, name, data=b"{}"):
    """Writes a `.tar.gz` at `path` holding one member `name`; returns the path."""
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return str(path)


@pytest.fixture(scope="session")
def stretch(tmp_path_factory, mnist_dir):
    """A folder with `TINY_CONFIG` stopped by a time budget after its first epoch.

    Session-scoped so that the tests of every module that resumes, packs or
    reports it share one training; they copy the folder before changing it.

    Returns:
        `(folder, record, data_dir)`.
    """
    folder = tmp_path_factory.mktemp("results")
    # A deadline already past: the first epoch always runs, no second one.
    record = train_tiny(TINY_CONFIG, folder, mnist_dir, StopBeforeDeadline(time.time()))
    return folder, record, mnist_dir
