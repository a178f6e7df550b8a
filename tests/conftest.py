"""Shared test settings: quiet Keras, fixed seeds, the MNIST and UCR folders, tiny runs."""

import ast
import io
import os
import sys
import tarfile
import time

import keras
import numpy as np
import pytest

from keras_rnnofrnns.experiments import Configuration, Protocol, StopBeforeDeadline, train_run

keras.config.disable_interactive_logging()

STRATEGIES = ("tanh_diag", "clip_diag", "sparse")


@pytest.fixture(autouse=True)
def _fixed_seeds():
    keras.utils.set_random_seed(1234)
    yield
    # Without the garbage collection that free_memory adds: it costs about
    # half a second per test, minutes over the suite; Python collects anyway.
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(scope="session")
def mnist_dir():
    # Session-scoped so that module-scoped fixtures can read the data once.
    path = os.environ.get("MNIST_DIR")
    if not path:
        pytest.skip("MNIST_DIR is not set (.ci/run sets it)")
    return path


@pytest.fixture(scope="session")
def ucr_dir():
    # Session-scoped so that module-scoped fixtures can read a data set once.
    path = os.environ.get("UCR_DIR")
    if not path:
        pytest.skip("UCR_DIR is not set (.ci/run sets it)")
    return path


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
