"""Trains small classifiers on one device and data-parallel; saves both results.

Run by tests/test_distribution.py in a fresh process, because the virtual
CPU devices must be configured before the backend starts, and pytest has
started it long before a test runs:

    KERAS_BACKEND=jax python tests/distributed_fit.py OUT.npz --devices 2

or as one of several JAX processes with one CPU device each, the parallel
run fed this process's share of every batch:

    KERAS_BACKEND=jax python tests/distributed_fit.py OUT-0.npz \
        --coordinator 127.0.0.1:PORT --processes 2 --process-id 0 --record-dir RUN-0

For each method it builds the same model twice from the same seed, fits it
once outside and once inside `data_parallel_scope()` with the same global
batch, SGD and no shuffling, and writes to OUT.npz the initial and final
weights of both, with `replicas` (how many devices each variable lives on)
and the device list the scope yielded. The methods are trained one after the
other in one process, with `clear_session` between them as a tuner does, to
catch state that one data-parallel model leaves behind for the next. With
--record-dir it then trains one data-parallel run of the experiment runner
into that folder, to show which process writes the files.
"""

import argparse
import os
import sys

# (method, fast): AssemblyRNN with the clip-diag assign in build, and
# RNN(AssemblyCell) with the sparse modules' constant weights.
CASES = (("adadiag-clip", True), ("scn-30", False))
NUM_EXAMPLES = 32
BATCH_SIZE = 8
SEQUENCE_LENGTH = 10


def _configure_virtual_devices(backend, count):
    if backend == "jax":
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "")
            + f" --xla_force_host_platform_device_count={count}"
        )
    elif backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * count
        )


def _replicas(variable):
    """On how many devices a Keras variable's value lives."""
    value = variable.value
    if hasattr(value, "sharding"):  # a jax.Array
        return len(value.sharding.device_set)
    return len(getattr(value, "values", (value,)))  # tf MirroredVariable or not


def _train(method, fast, x, y, parallel, batch_size=BATCH_SIZE):
    import keras

    from keras_rnnofrnns import sequence_classifier
    from keras_rnnofrnns.distribution import data_parallel_scope

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    with data_parallel_scope(parallel) as devices:
        model = sequence_classifier(
            method,
            num_modules=2,
            module_size=4,
            coupling_blocks=1,
            sequence_length=SEQUENCE_LENGTH,
            optimizer="sgd",
            learning_rate=0.5,
            fast=fast,
        )
        initial = [keras.ops.convert_to_numpy(w) for w in model.weights]
        model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
        final = [keras.ops.convert_to_numpy(w) for w in model.weights]
        replicas = min(_replicas(w) for w in model.weights)
    return initial, final, replicas, devices


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the .npz file to write")
    parser.add_argument("--devices", type=int, default=2, help="virtual CPU devices")
    parser.add_argument("--coordinator", help="host:port of process 0: one of several processes")
    parser.add_argument("--processes", type=int, help="processes of a multi-process run")
    parser.add_argument("--process-id", type=int, help="this process in a multi-process run")
    parser.add_argument("--record-dir", help="also train one experiment run into this folder")
    args = parser.parse_args(argv)
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if args.coordinator:
        from keras_rnnofrnns.distribution import initialize_processes

        initialize_processes(args.coordinator, args.processes, args.process_id)
    else:
        _configure_virtual_devices(backend, args.devices)

    import numpy as np

    from keras_rnnofrnns.distribution import process_share

    # Synthetic on purpose: the claim under test (same weights either way)
    # holds for any data, and this keeps the helper independent of MNIST.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(NUM_EXAMPLES, SEQUENCE_LENGTH, 1)).astype("float32")
    y = rng.integers(0, 10, NUM_EXAMPLES)
    arrays = {}
    for method, fast in CASES:
        for parallel in (False, True):
            # Several processes feed each its share of every batch; the
            # single-device run and a lone process take everything.
            batch_size, share = process_share(BATCH_SIZE, x, y) if parallel else (BATCH_SIZE, (x, y))
            initial, final, replicas, devices = _train(method, fast, *share, parallel, batch_size)
            tag = f"{method}/{'parallel' if parallel else 'single'}"
            arrays.update({f"{tag}/initial/{i}": w for i, w in enumerate(initial)})
            arrays.update({f"{tag}/final/{i}": w for i, w in enumerate(final)})
            arrays[f"{tag}/replicas"] = np.array(replicas)
            arrays[f"{tag}/devices"] = np.array(devices or [], dtype=str)
    if args.record_dir:
        arrays["record_finished"] = np.array(_experiment_run(args.record_dir, x, y))
    np.savez(args.out, **arrays)
    return 0


def _experiment_run(folder, x, y):
    """Trains one data-parallel run of the experiment runner into `folder`.

    Returns:
        1 if it returned a finished record, 0 an unfinished one, -1 none.
    """
    from tools.experiments.tasks import TaskData
    from tools.experiments import Protocol, train_run

    os.makedirs(folder, exist_ok=True)
    protocol = Protocol.create(
        "smnist",
        methods=("adadiag-tanh",),
        coupling_blocks=(1,),
        seeds=(0,),
        output=folder,
        num_modules=2,
        module_size=4,
        epochs=2,
        batch_size=BATCH_SIZE,
        data_parallel=True,
        verbose=0,
    )
    data = TaskData("smnist", x, y, x, y, source="synthetic")
    record = train_run(protocol, data, "adadiag-tanh", 1, 0)
    return -1 if record is None else int(record["finished"])


if __name__ == "__main__":
    sys.exit(main())
