"""The paper's methods by name, and the sequence classifier built around them."""

import math

import keras

from keras_rnnofrnns.checks import check_choice, check_int, check_positive_float
from keras_rnnofrnns.cells.assembly_cell import AssemblyCell
from keras_rnnofrnns.cells.assembly_rnn import AssemblyRNN

# The gated AdaDiag of the authors' journal follow-up, as its public code
# has it: ReLU, tanh diagonal, Euler with a per-unit step gated by input and
# state in [1e-5, 0.2], coupling blocks U(-1/sqrt(N), 1/sqrt(N)), input
# kernel N(0, 1/sqrt(H)) without bias. Initializers are Keras configs: the
# classifier seeds them from the run's seed.
_JOURNAL_GATED = {
    "module_weights": "tanh_diag",
    "activation": "relu",
    "integrator": "euler",
    "gate": "input_state",
    "gate_bounds": (1e-5, 0.2),
    "use_bias": False,
    # stddev sqrt(1 / fan_out) = 1 / sqrt(H) for the (input_dim, H) kernel.
    "kernel_initializer": {
        "class_name": "VarianceScaling",
        "config": {"scale": 1.0, "mode": "fan_out", "distribution": "untruncated_normal"},
    },
    "coupling_initializer": {
        "class_name": "keras_rnnofrnns>BlockUniform",
        "config": {"scale": 1.0},
    },
}

# Every named method, as AssemblyCell arguments.
METHODS = {
    # The four module strategies of the ESANN paper's Table 1.
    "scn-3": {"module_weights": "sparse", "density": 0.03},
    "scn-30": {"module_weights": "sparse", "density": 0.30},
    "adadiag-tanh": {"module_weights": "tanh_diag"},
    "adadiag-clip": {"module_weights": "clip_diag"},
    "adadiag-gated": _JOURNAL_GATED,
    # Ours: the journal's model with a map that is proven contracting. The
    # gate sees the input only (a state-dependent step has no bound), the
    # coupling is a Cayley step, and that step is learned per unit: a fixed
    # coupling step keeps rotating units that the gate would hold still.
    # The learned step is our choice; the journal has no Cayley step.
    "adadiag-gated-cayley": {
        **_JOURNAL_GATED,
        "integrator": "cayley",
        "gate": "input",
        "coupling_step": "learned",
    },
}

# How a classifier reads its logits out of the last state (`readout_layer`):
# "dense" is a Keras `Dense` with bias and Glorot initialisation; "journal"
# is the authors' journal code's read-out, a linear map without bias drawn
# from N(0, 1/sqrt(H)) (standard deviation 1/sqrt(H), H the state size).
READOUTS = ("dense", "journal")

# The read-out of each method when none is asked for: the journal's gated
# models read out as its code does; the ESANN methods keep a Dense layer.
METHOD_READOUTS = {
    "adadiag-gated": "journal",
    "adadiag-gated-cayley": "journal",
}

# The seed offset of the "journal" read-out's initializer, after the cell's
# own offsets 1-5, so that it draws from a stream of its own.
_READOUT_SEED_OFFSET = 6

# The methods of the ESANN paper's Table 1, the default grid of its protocol.
PAPER_METHODS = ("scn-3", "scn-30", "adadiag-tanh", "adadiag-clip")

# The AssemblyCell's own seed offsets of its default initializers, reused
# for a method's initializers so that each part draws from its own stream.
_SEED_OFFSETS = {"kernel_initializer": 1, "coupling_initializer": 3}

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")


def method_readout(method, readout=None):
    """The read-out a classifier of `method` uses: `readout`, or the method's own.

    Args:
        method: a key of `METHODS`.
        readout: one of `READOUTS`, or None for the method's default
            (`METHOD_READOUTS`, else `"dense"`).

    Returns:
        One of `READOUTS`.

    Example:
    >>> method_readout("adadiag-gated"), method_readout("adadiag-clip")
    ('journal', 'dense')
    >>> method_readout("adadiag-gated", "dense")
    'dense'
    """
    check_choice("method", method, tuple(METHODS))
    if readout is None:
        return METHOD_READOUTS.get(method, "dense")
    return check_choice("readout", readout, READOUTS)


def readout_layer(readout, num_classes, state_size, seed=None, name="readout"):
    """The linear layer that maps the last state to `num_classes` logits.

    Args:
        readout: one of `READOUTS`. `"dense"`: `Dense(num_classes)` with bias
            and Keras's default (Glorot uniform) initialisation. `"journal"`:
            no bias, kernel drawn from N(0, 1/sqrt(state_size)) as the
            authors' journal code draws it.
        num_classes: int >= 2, the logits.
        state_size: int >= 1, the size H of the state read.
        seed: int or None; seeds the `"journal"` kernel.
        name: the layer's name.

    Returns:
        A `keras.layers.Dense`.

    Example:
    >>> layer = readout_layer("journal", 10, state_size=512, seed=0)
    >>> layer.use_bias, round(layer.kernel_initializer.stddev, 6)
    (False, 0.044194)
    """
    readout = check_choice("readout", readout, READOUTS)
    check_int("num_classes", num_classes, 2)
    state_size = check_int("state_size", state_size, 1)
    if readout == "dense":
        return keras.layers.Dense(num_classes, name=name)
    return keras.layers.Dense(
        num_classes,
        use_bias=False,
        kernel_initializer=keras.initializers.RandomNormal(
            stddev=1.0 / math.sqrt(state_size),
            seed=None if seed is None else seed + _READOUT_SEED_OFFSET,
        ),
        name=name,
    )


def method_arguments(method, seed=None):
    """AssemblyCell arguments of a named method (a key of `METHODS`).

    Args:
        method: a key of `METHODS`.
        seed: int or None; seeds the method's own initializers (as the cell
            seeds its defaults) so that a run is reproducible.

    Returns:
        A new dict of `AssemblyCell` arguments.

    Example:
    >>> method_arguments("adadiag-gated-cayley")["integrator"]
    'cayley'
    """
    arguments = dict(METHODS[check_choice("method", method, tuple(METHODS))])
    for key, offset in _SEED_OFFSETS.items():
        if isinstance(arguments.get(key), dict):
            config = dict(arguments[key]["config"])
            config["seed"] = None if seed is None else seed + offset
            arguments[key] = {**arguments[key], "config": config}
    return arguments


def sequence_classifier(
    method="adadiag-clip",
    num_modules=16,
    module_size=32,
    coupling_blocks=20,
    dt=0.03,
    tau=1.0,
    seed=0,
    sequence_length=784,
    input_dim=1,
    num_classes=10,
    learning_rate=1e-3,
    optimizer="adam",
    fast=True,
    scan_unroll=1,
    compile=True,
    cell_options=None,
    readout=None,
):
    """An assembly followed by a linear read-out, compiled for classification.

    The model of the paper's experiments: an assembly of `num_modules` x
    `module_size` units reads the sequence, its last state goes through a
    linear read-out giving logits (`readout_layer`), trained with sparse
    categorical cross-entropy and accuracy.

    Args:
        method: a key of `METHODS`.
        num_modules, module_size, coupling_blocks, dt, tau, seed: the
            assembly's arguments (see `AssemblyCell`).
        sequence_length: time steps per sequence (784 for pixel MNIST), or
            None for variable length.
        input_dim: features per step.
        num_classes: output classes.
        learning_rate: > 0.
        optimizer: one of `OPTIMIZERS`.
        fast: use `AssemblyRNN` (sequence-level loop) rather than
            `keras.layers.RNN(AssemblyCell)`; same results, faster.
        scan_unroll: time steps per loop iteration of `AssemblyRNN` where the
            backend's scan supports it (JAX); only with `fast=True`.
        compile: whether to compile the model.
        cell_options: optional dict of further `AssemblyCell` arguments,
            which override the method's (e.g. `{"integrator": "cayley"}`).
        readout: one of `READOUTS`, or None (default) for the method's own
            (`method_readout`): `"journal"` (no bias, N(0, 1/sqrt(H))) for
            the gated methods, `"dense"` (with bias, Glorot) for the others.

    Returns:
        A `keras.Model`.

    Example:
    >>> model = sequence_classifier("adadiag-tanh", num_modules=2, module_size=4,
    ...                             coupling_blocks=1, sequence_length=5)
    >>> model.output_shape
    (None, 10)
    """
    arguments = {**method_arguments(method, seed), **(cell_options or {})}
    readout = method_readout(method, readout)
    _check_classifier_arguments(num_classes, input_dim, learning_rate, optimizer)
    assembly_arguments = dict(
        num_modules=num_modules,
        module_size=module_size,
        coupling_blocks=coupling_blocks,
        dt=dt,
        tau=tau,
        seed=seed,
        **arguments,
    )
    if fast:
        recurrent = AssemblyRNN(name="assembly", scan_unroll=scan_unroll, **assembly_arguments)
    elif scan_unroll != 1:
        raise ValueError(
            f"Invalid `scan_unroll`: received scan_unroll={scan_unroll!r} with fast=False; "
            "expected 1: keras.layers.RNN(AssemblyCell) has no partial unrolling."
        )
    else:
        recurrent = keras.layers.RNN(AssemblyCell(**assembly_arguments), name="assembly")
    # The layer has checked the sizes: its state has num_modules * module_size units.
    readout = readout_layer(readout, num_classes, num_modules * module_size, seed)
    return _classifier(
        f"assembly_{method}", recurrent, readout, sequence_length, input_dim, compile,
        optimizer, learning_rate,
    )


def _check_classifier_arguments(num_classes, input_dim, learning_rate, optimizer):
    check_int("num_classes", num_classes, 2)
    check_int("input_dim", input_dim, 1)
    check_positive_float("learning_rate", learning_rate)
    check_choice("optimizer", optimizer, OPTIMIZERS)


def _classifier(
    name, recurrent, readout, sequence_length, input_dim, compile, optimizer, learning_rate
):
    """Input -> recurrent layer -> read-out, compiled for integer labels if asked."""
    model = keras.Sequential(
        [keras.Input((sequence_length, input_dim)), recurrent, readout], name=name
    )
    if compile:
        model.compile(
            optimizer=keras.optimizers.get(
                {"class_name": optimizer, "config": {"learning_rate": float(learning_rate)}}
            ),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    return model


# Keras's own recurrent layers, the baselines beside the assemblies.
BASELINES = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def baseline_classifier(
    kind="lstm",
    units=128,
    seed=0,
    sequence_length=784,
    input_dim=1,
    num_classes=10,
    learning_rate=1e-3,
    optimizer="adam",
    compile=True,
):
    """A Keras LSTM or GRU followed by a linear read-out, like `sequence_classifier`.

    One recurrent layer of `units` reads the sequence; its last state goes
    through `Dense(num_classes)` (logits). Keras's default initializers,
    seeded from `seed`.

    Args:
        kind: a key of `BASELINES` (`"lstm"`, `"gru"`).
        units: the state size, >= 1; default 128.
        seed: int >= 0, seeds the initializers.
        sequence_length, input_dim, num_classes, learning_rate, optimizer,
            compile: as for `sequence_classifier`.

    Returns:
        A `keras.Model`.

    Example:
    >>> model = baseline_classifier("gru", units=8, sequence_length=5, num_classes=3)
    >>> model.output_shape
    (None, 3)
    """
    layer_class = BASELINES[check_choice("kind", kind, tuple(BASELINES))]
    units = check_int("units", units, 1)
    seed = check_int("seed", seed, 0)
    _check_classifier_arguments(num_classes, input_dim, learning_rate, optimizer)
    recurrent = layer_class(
        units,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
        recurrent_initializer=keras.initializers.Orthogonal(seed=seed + 2),
        name=kind,
    )
    readout = keras.layers.Dense(
        num_classes,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 3),
        name="readout",
    )
    return _classifier(
        f"baseline_{kind}", recurrent, readout, sequence_length, input_dim, compile,
        optimizer, learning_rate,
    )
