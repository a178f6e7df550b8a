"""Data-parallel training over several local devices, through each backend's own API.

Keras 3 has no single data-parallel switch that works on every backend, so
this module is the one place that knows each backend's way:

- JAX: `keras.distribution.DataParallel` (variables replicated on every
  device, each batch split along its first axis).
- TensorFlow: `tf.distribute.MirroredStrategy` (one replica per device,
  gradients summed across replicas after each step).
- PyTorch: not supported. Keras 3 offers no data-parallel distribution for
  torch; training runs on one device.

Models built and trained inside `data_parallel_scope()` need nothing else:
`fit` takes the *global* batch size and splits it, and the result is the
single-device result up to float rounding, as long as every batch divides
evenly among the devices (see docs/distribution.md).
"""

import contextlib
import numbers
import os
import platform

import keras
import numpy as np

from keras_rnnofrnns.checks import fail, check_int

# Backends on which `data_parallel_scope(enabled=True)` works.
DATA_PARALLEL_BACKENDS = ("jax", "tensorflow")

# One MirroredStrategy per device set, kept for the life of the process.
# TensorFlow identifies the all-reduce of each step by a counter per
# strategy; a second strategy over the same devices, training a model with
# other variable shapes (the next tuner trial, the next method of an
# experiment), reuses those identifiers and aborts with "Shape mismatch in
# the collective instance" (tensorflow/tensorflow#62790). Reusing the
# strategy avoids that.
_MIRRORED_STRATEGIES = {}


def local_devices():
    """The devices of the current backend that data-parallel training would use.

    Accelerators if there are any, else the CPU devices, named
    `"<type>:<index>"` as `keras.distribution.list_devices()` names them
    (`"gpu:0"`, `"tpu:3"`, `"cpu:0"`). On JAX and TensorFlow this is exactly
    `keras.distribution.list_devices()`; on other backends it is the GPUs
    torch can see, or `["cpu:0"]`.

    Several CPU devices appear only when asked for before the backend starts:
    `XLA_FLAGS=--xla_force_host_platform_device_count=N` for JAX, and
    `tf.config.set_logical_device_configuration` for TensorFlow.

    Returns:
        A non-empty list of device names.

    Example:
    >>> devices = local_devices()
    >>> len(devices) >= 1 and all(":" in name for name in devices)
    True
    """
    if keras.backend.backend() in DATA_PARALLEL_BACKENDS:
        return list(keras.distribution.list_devices())
    if keras.backend.backend() == "torch":
        import torch

        if torch.cuda.is_available():
            return [f"gpu:{index}" for index in range(torch.cuda.device_count())]
    return ["cpu:0"]


def data_parallel_scope(enabled=True, devices=None):
    """A context in which models are built and trained data-parallel.

    Build, compile and train the model inside the context; each batch that
    `fit`, `evaluate` and `predict` draw is then split across the devices,
    which hold identical copies of the weights. The batch size stays the
    global one, so a run on 4 devices with `batch_size=128` takes the same
    optimizer steps as one on a single device with `batch_size=128`.

    On JAX this is `keras.distribution.DataParallel(devices=...).scope()`,
    which restores the previous distribution on exit; on TensorFlow it is
    `tf.distribute.MirroredStrategy(devices).scope()`, one strategy reused
    per device set. With `enabled=False` it does nothing, on every backend,
    so a script can pass a command-line flag straight through.

    Args:
        enabled: bool. False gives a context that does nothing.
        devices: optional list of device names out of `local_devices()`
            (e.g. `["gpu:0", "gpu:1"]`); default all of them.

    Returns:
        A context manager. Entering it yields the list of devices the
        replicas run on, or None when `enabled` is False.

    Raises:
        ValueError: for an `enabled` that is not a bool, or `devices` that
            are not distinct names out of `local_devices()`.
        NotImplementedError: for `enabled=True` on a backend other than JAX
            and TensorFlow, PyTorch included.

    Example:
    >>> import keras
    >>> from keras_rnnofrnns import sequence_classifier
    >>> enabled = keras.backend.backend() in DATA_PARALLEL_BACKENDS
    >>> with data_parallel_scope(enabled) as devices:
    ...     model = sequence_classifier("adadiag-clip", num_modules=2, module_size=4,
    ...                                 coupling_blocks=1, sequence_length=5)
    >>> devices is None or len(devices) >= 1
    True
    """
    if not isinstance(enabled, bool):
        fail("enabled", enabled, "True or False")
    devices = _checked_devices(devices)
    if not enabled:
        return contextlib.nullcontext()
    backend = keras.backend.backend()
    if backend not in DATA_PARALLEL_BACKENDS:
        raise NotImplementedError(
            f"data_parallel_scope(enabled=True) is not supported on the {backend} "
            "backend: Keras 3 has a data-parallel distribution only for JAX "
            "(keras.distribution.DataParallel) and TensorFlow "
            "(tf.distribute.MirroredStrategy). On this backend, train on one "
            "device (enabled=False), switch KERAS_BACKEND to jax or tensorflow, "
            "or write your own training loop around "
            "torch.nn.parallel.DistributedDataParallel."
        )
    devices = devices or local_devices()
    if backend == "jax":
        # Across processes each one feeds its own share of every batch
        # (process_share), numpy arrays included, which Keras would
        # otherwise refuse to shard itself.
        scope = keras.distribution.DataParallel(
            devices=devices, auto_shard_dataset=False
        ).scope()
    else:
        scope = _mirrored_strategy(devices).scope()
    return _entered(scope, devices)


def check_even_split(devices, batch_size, example_counts):
    """Checks that every batch of a data-parallel run splits evenly among the devices.

    Each batch is cut into one equal piece per device. On JAX a batch that
    does not divide fails with an `IndivisibleError` when it comes, which
    for the last, shorter batch of a validation set is after a whole epoch
    of training; on TensorFlow the pieces differ in size and the batch's
    examples are weighted unevenly, so the weights drift from those of a
    single-device run. Call this before `fit` to fail at once instead.

    Args:
        devices: what `data_parallel_scope` yielded: a list of devices, or
            None (not data-parallel: nothing to check).
        batch_size: int >= 1, the global batch size.
        example_counts: the numbers of examples that will be batched (train,
            validation, test), ints >= 1.

    Raises:
        ValueError: if `batch_size`, or the last batch `count % batch_size`
            of some count, is not a multiple of the number of devices.

    Example:
    >>> check_even_split(["gpu:0", "gpu:1"], 128, [60000, 10000])
    >>> check_even_split(["gpu:0", "gpu:1"], 128, [999])
    Traceback (most recent call last):
    ...
    ValueError: Invalid `example_counts`: received example_counts=[999]; expected ...
    """
    if devices is None:
        return
    parts = len(devices)
    check_int("batch_size", batch_size, 1)
    if batch_size % parts:
        fail("batch_size", batch_size, f"a multiple of the number of devices, {parts}")
    if not isinstance(example_counts, (list, tuple)) or not all(
        isinstance(count, numbers.Integral) and not isinstance(count, bool) and count >= 1
        for count in example_counts
    ):
        fail("example_counts", example_counts, "a list of integers >= 1")
    for count in example_counts:
        if count % batch_size % parts:
            fail(
                "example_counts",
                example_counts,
                f"counts whose last batch (count % batch_size) is a multiple of the "
                f"number of devices, {parts}; {count} % {batch_size} = {count % batch_size}",
            )


# Whether initialize_processes joined a run (for JAX without
# jax.distributed.is_initialized).
_JOINED_PROCESSES = False

# What `initialize_processes` reads when it is given no cluster, as
# `keras.distribution.initialize` does.
PROCESS_ENVIRONMENT = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)


def initialize_processes(coordinator_address=None, num_processes=None, process_id=None):
    """Joins this process to a data-parallel run over several processes (JAX only).

    Call it in every process, before anything else uses the backend. It is
    `keras.distribution.initialize`, with JAX's CPU collectives set to gloo
    first, so that processes without an accelerator can exchange gradients
    too. Afterwards `local_devices()` lists the devices of every process,
    `data_parallel_scope()` trains over all of them, and each process feeds
    `fit` its share of every batch (`process_share`).

    With no argument it reads Keras' variables `KERAS_DISTRIBUTION_JOB_ADDRESSES`
    (the coordinator, process 0, as `host:port`), `KERAS_DISTRIBUTION_NUM_PROCESSES`
    and `KERAS_DISTRIBUTION_PROCESS_ID`, and does nothing when none is set,
    so a script can call it unconditionally.

    Args:
        coordinator_address: `"host:port"` of process 0, which every process
            can reach; None to read the environment.
        num_processes: int >= 1, the processes of the run.
        process_id: int from 0 to `num_processes - 1`, this process.

    Returns:
        True if it joined a run, False if there was none to join.

    Raises:
        ValueError: for a bad argument, naming it.
        NotImplementedError: on a backend other than JAX: Keras has no
            multi-process data parallel for torch, and this package does not
            drive TensorFlow's `MultiWorkerMirroredStrategy`.

    Example:
    >>> initialize_processes()  # no KERAS_DISTRIBUTION_* variables: one process
    False
    """
    given = (coordinator_address, num_processes, process_id)
    if all(value is None for value in given):
        if not any(name in os.environ for name in PROCESS_ENVIRONMENT):
            return False
        coordinator_address = os.environ.get(PROCESS_ENVIRONMENT[0])
        num_processes = os.environ.get(PROCESS_ENVIRONMENT[1])
        process_id = os.environ.get(PROCESS_ENVIRONMENT[2])
        num_processes = int(num_processes) if str(num_processes).isdigit() else num_processes
        process_id = int(process_id) if str(process_id).isdigit() else process_id
    if not isinstance(coordinator_address, str) or ":" not in coordinator_address:
        fail(
            "coordinator_address",
            coordinator_address,
            f"a 'host:port' string, given or in {PROCESS_ENVIRONMENT[0]}",
        )
    check_int("num_processes", num_processes, 1)
    check_int("process_id", process_id, 0, num_processes - 1)
    backend = keras.backend.backend()
    if backend != "jax":
        raise NotImplementedError(
            f"initialize_processes is not supported on the {backend} backend: Keras 3 "
            "trains data-parallel across processes only on JAX "
            "(keras.distribution.initialize). "
            + (
                "Keras has no multi-process data parallel for torch; switch "
                "KERAS_BACKEND to jax, or write your own training loop around "
                "torch.nn.parallel.DistributedDataParallel."
                if backend == "torch"
                else "On TensorFlow use tf.distribute.MultiWorkerMirroredStrategy with "
                "TF_CONFIG yourself, or switch KERAS_BACKEND to jax."
            )
        )
    import jax

    # Without it JAX's CPU client has no collectives across processes, and
    # the first all-reduce of a CPU-only run fails; accelerators ignore it.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    keras.distribution.initialize(
        job_addresses=coordinator_address, num_processes=num_processes, process_id=process_id
    )
    global _JOINED_PROCESSES
    _JOINED_PROCESSES = True
    return True


def process_index():
    """This process's rank in a multi-process run (`initialize_processes`), else 0.

    Example:
    >>> process_index()
    0
    """
    return _process_index_and_count()[0]


def process_count():
    """The processes of a multi-process run (`initialize_processes`), else 1.

    Example:
    >>> process_count()
    1
    """
    return _process_index_and_count()[1]


def _process_index_and_count():
    if keras.backend.backend() != "jax":
        return 0, 1
    import jax

    # Asking JAX outside a run would start its backend, after which a run
    # could no longer be joined. An older JAX without is_initialized cannot
    # say whether it is in a run: there, only a run joined here counts.
    is_initialized = getattr(jax.distributed, "is_initialized", None)
    if not (is_initialized() if is_initialized else _JOINED_PROCESSES):
        return 0, 1
    return jax.process_index(), jax.process_count()


def is_main_process():
    """Whether this process is the one that writes files: process 0, or the only one.

    In a multi-process run every process trains the same model on its share
    of each batch, so one copy of each record and model is enough; the
    experiment runner's files are written by this process alone.

    Example:
    >>> is_main_process()
    True
    """
    return process_index() == 0


def process_share(batch_size, *arrays):
    """This process's share of every global batch, for `fit` in a multi-process run.

    In a multi-process run each process hands `fit` its own part of every
    batch, and the global batch is the parts of processes 0, 1, ... in
    order. This cuts every batch of `batch_size` consecutive examples (the
    last one too) into one equal part per process and keeps this process's
    parts, so that `fit(*share, batch_size=local)` in every process takes the
    optimizer steps of a single process's `fit(*arrays, batch_size=batch_size)`
    without shuffling. In a single process it returns the arrays as they are.

    Args:
        batch_size: int >= 1, the global batch size.
        *arrays: arrays with the same number of examples on their first axis.

    Returns:
        `(local_batch_size, shares)`: the batch size to give `fit`, and the
        list of this process's parts of `arrays`.

    Raises:
        ValueError: if `batch_size`, or the last batch of the examples, does
            not divide among the processes, or the arrays differ in length.

    Example:
    >>> import numpy as np
    >>> local, (x,) = process_share(8, np.arange(12))
    >>> local, x.tolist()  # one process: everything
    (8, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    """
    return _share(batch_size, arrays, process_count(), process_index())


def _share(batch_size, arrays, count, index):
    check_int("batch_size", batch_size, 1)
    lengths = {len(array) for array in arrays}
    if len(lengths) > 1:
        fail("arrays", [len(array) for array in arrays], "arrays of the same length")
    if count == 1:
        return batch_size, list(arrays)
    if batch_size % count:
        fail("batch_size", batch_size, f"a multiple of the number of processes, {count}")
    total = lengths.pop() if lengths else 0
    last = total % batch_size
    if last % count:
        fail(
            "arrays",
            f"{total} examples",
            f"a last batch ({total} % {batch_size} = {last}) that divides among "
            f"the {count} processes",
        )
    starts = np.arange(0, total, batch_size)
    parts = np.minimum(batch_size, total - starts) // count
    rows = np.concatenate(
        [np.arange(start + index * part, start + (index + 1) * part)
         for start, part in zip(starts, parts)]
        or [np.zeros(0, int)]
    )
    return batch_size // count, [np.asarray(array)[rows] for array in arrays]


def describe_devices():
    """Where training runs now, in one line for a log: the backend and its devices.

    Outside a data-parallel distribution, Keras trains on one device, the
    first of `local_devices()`: `"jax on cpu:0"`, or
    `"torch on gpu:0 (NVIDIA H100 80GB HBM3)"` with the accelerator's model
    in parentheses, followed by `", 1 of 4 local devices"` when there are
    others that it leaves idle. Inside an active `data_parallel_scope` (or
    any JAX `DataParallel` distribution or TensorFlow strategy) it names
    every device the replicas run on:
    `"jax on 2 devices, data-parallel: cpu:0, cpu:1"`.

    Every device is named with its model in parentheses: an accelerator's as
    the backend reports it, a CPU device's as the host's processor and its
    logical cores (`"jax on cpu:0 (AMD EPYC 7B13, 2 logical cores)"`); a
    device whose model cannot be found keeps its bare name. This is the one
    description of the device for logs, run records and benchmarks.

    Returns:
        A string.

    Example:
    >>> import keras
    >>> describe_devices().startswith(keras.backend.backend() + " on ")
    True
    """
    backend = keras.backend.backend()
    devices = local_devices()
    models = _device_models()

    def label(name):
        return f"{name} ({models[name]})" if models.get(name) else name

    replicas = _active_replica_devices()
    if replicas:
        names = ", ".join(label(name) for name in replicas)
        return f"{backend} on {len(replicas)} devices, data-parallel: {names}"
    text = f"{backend} on {label(devices[0])}"
    if len(devices) > 1:
        text += f", 1 of {len(devices)} local devices"
    return text


def _device_models():
    """The devices' model names by device name, e.g. `{"gpu:0": "NVIDIA H100"}`.

    CPU devices get the host's processor (`_cpu_model()`). A backend that
    cannot say gives no entry: the names are for a log line, which must
    never stop a run.
    """
    backend = keras.backend.backend()
    models = {name: _cpu_model() for name in local_devices() if name.startswith("cpu:")}
    try:
        if backend == "jax":
            import jax

            models.update(
                (f"{device.platform}:{device.id}", device.device_kind)
                for device in jax.devices()
                if device.platform != "cpu"
            )
        elif backend == "tensorflow":
            import tensorflow as tf

            models.update(
                (f"gpu:{index}", tf.config.experimental.get_device_details(gpu).get("device_name"))
                for index, gpu in enumerate(tf.config.list_physical_devices("GPU"))
            )
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                models.update(
                    (f"gpu:{index}", torch.cuda.get_device_name(index))
                    for index in range(torch.cuda.device_count())
                )
    except (RuntimeError, ValueError, AttributeError):
        pass
    return models


def _cpu_model():
    """The host's processor and logical cores, e.g. `"AMD EPYC 7B13, 2 logical cores"`."""
    name = platform.processor() or platform.machine() or "CPU"
    try:
        # Linux names the model only here; platform.processor() is often empty.
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name}, {os.cpu_count()} logical cores"


def _checked_devices(devices):
    if devices is None:
        return None
    allowed = local_devices()
    expected = "None or a list of distinct device names out of " + ", ".join(allowed)
    if (
        isinstance(devices, str)
        or not isinstance(devices, (list, tuple))
        or not devices
        or not all(isinstance(name, str) for name in devices)
    ):
        fail("devices", devices, expected)
    names = [name.lower() for name in devices]
    if len(set(names)) != len(names) or any(name not in allowed for name in names):
        fail("devices", devices, expected)
    return names


@contextlib.contextmanager
def _entered(scope, devices):
    with scope:
        yield list(devices)


def _mirrored_strategy(devices):
    import tensorflow as tf

    key = tuple(devices)
    if key not in _MIRRORED_STRATEGIES:
        _MIRRORED_STRATEGIES[key] = tf.distribute.MirroredStrategy(list(key))
    return _MIRRORED_STRATEGIES[key]


def _active_replica_devices():
    """Device names of the active data-parallel distribution, or None."""
    backend = keras.backend.backend()
    if backend == "jax":
        distribution = keras.distribution.distribution()
        if distribution is None:
            return None
        return [str(device) for device in distribution.device_mesh.devices.flatten()]
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.distribute.has_strategy():
            return None
        specs = [
            tf.DeviceSpec.from_string(name)
            for name in tf.distribute.get_strategy().extended.worker_devices
        ]
        return [f"{spec.device_type.lower()}:{spec.device_index}" for spec in specs]
    return None
