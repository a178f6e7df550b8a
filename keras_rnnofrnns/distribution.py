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

import keras

from keras_rnnofrnns._checks import fail, check_int

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
        scope = keras.distribution.DataParallel(devices=devices).scope()
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

    A CPU device is named without a model; so is an accelerator whose model
    the backend does not report.

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
    """The accelerators' model names by device name, e.g. `{"gpu:0": "NVIDIA H100"}`.

    CPU devices are left out. A backend that cannot say gives an empty dict:
    the names are for a log line, which must never stop a run.
    """
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return {
                f"{device.platform}:{device.id}": device.device_kind
                for device in jax.devices()
                if device.platform != "cpu"
            }
        if backend == "tensorflow":
            import tensorflow as tf

            return {
                f"gpu:{index}": tf.config.experimental.get_device_details(gpu).get("device_name")
                for index, gpu in enumerate(tf.config.list_physical_devices("GPU"))
            }
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return {
                    f"gpu:{index}": torch.cuda.get_device_name(index)
                    for index in range(torch.cuda.device_count())
                }
    except (RuntimeError, ValueError, AttributeError):
        pass
    return {}


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
