"""Tests for keras_rnnofrnns.distribution (data-parallel training).

The main check trains in a subprocess (tests/distributed_fit.py) with two
virtual CPU devices, which JAX and TensorFlow accept only before they start:
a data-parallel fit must give the weights of a single-device fit with the
same global batch. The rest runs in-process on the one device pytest has.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import ROOT, free_port

from keras_rnnofrnns import distribution, sequence_classifier
from keras_rnnofrnns.distribution import (
    DATA_PARALLEL_BACKENDS,
    check_even_split,
    data_parallel_scope,
    describe_devices,
    local_devices,
)

BACKEND = keras.backend.backend()
HELPER = Path(__file__).with_name("distributed_fit.py")

only_data_parallel_backends = pytest.mark.skipif(
    BACKEND not in DATA_PARALLEL_BACKENDS,
    reason=f"no data-parallel training on the {BACKEND} backend",
)


def _active_strategy():
    """The backend's active distribution object, or None."""
    if BACKEND == "jax":
        return keras.distribution.distribution()
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
    return None


def _tiny_model():
    return sequence_classifier(
        "adadiag-clip",
        num_modules=2,
        module_size=4,
        coupling_blocks=1,
        sequence_length=5,
        optimizer="sgd",
    )


# --------------------------------------------------------------------------
# Two devices against one: the same weights.
# --------------------------------------------------------------------------


def _assert_trained_alike(single, parallel, method):
    """The same initial weights, and final weights equal within float rounding."""
    count = len([key for key in single if key.startswith(f"{method}/single/final/")])
    assert count >= 6
    for i in range(count):
        np.testing.assert_array_equal(
            single[f"{method}/single/initial/{i}"], parallel[f"{method}/parallel/initial/{i}"]
        )
        np.testing.assert_allclose(
            parallel[f"{method}/parallel/final/{i}"],
            single[f"{method}/single/final/{i}"],
            rtol=1e-5,
            atol=1e-6,
            err_msg=f"{method}, weight {i}",
        )
    # Training moved the weights far beyond the tolerance, so equality
    # above is not the trivial equality of two untrained models.
    moved = max(
        np.abs(single[f"{method}/single/final/{i}"] - single[f"{method}/single/initial/{i}"]).max()
        for i in range(count)
    )
    assert moved > 1e-2


@pytest.mark.parametrize("backend", DATA_PARALLEL_BACKENDS)
def test_data_parallel_fit_on_two_devices_matches_one_device(backend, tmp_path):
    if backend != BACKEND:
        pytest.skip(f"runs when KERAS_BACKEND={backend}")
    out = tmp_path / "weights.npz"
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, str(HELPER), str(out), "--devices", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    saved = dict(np.load(out))

    for method in ("adadiag-clip", "scn-30"):
        single, parallel = f"{method}/single", f"{method}/parallel"
        # The parallel run really ran on both devices, the other on one.
        assert list(saved[f"{parallel}/devices"]) == ["cpu:0", "cpu:1"]
        assert int(saved[f"{parallel}/replicas"]) == 2
        assert int(saved[f"{single}/replicas"]) == 1
        _assert_trained_alike(saved, saved, method)


@pytest.mark.skipif(BACKEND != "jax", reason="Keras trains across processes on JAX only")
def test_two_processes_train_like_one_and_only_process_0_writes(tmp_path):
    # Each process has one CPU device; they meet at a coordinator on
    # 127.0.0.1 and exchange gradients through gloo.
    address = f"127.0.0.1:{free_port()}"
    env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    env.update(
        KERAS_BACKEND="jax",
        JAX_PLATFORMS="cpu",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
    )
    processes, logs = [], []
    try:
        for rank in (0, 1):
            logs.append(tmp_path / f"process{rank}.log")
            with open(logs[rank], "w") as log:
                processes.append(
                    subprocess.Popen(
                        [
                            sys.executable, str(HELPER), str(tmp_path / f"process{rank}.npz"),
                            "--coordinator", address, "--processes", "2",
                            "--process-id", str(rank), "--record-dir", str(tmp_path / f"run{rank}"),
                        ],  # fmt: skip
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + 600
        for process, log in zip(processes, logs):
            returncode = process.wait(timeout=max(deadline - time.monotonic(), 1))
            assert returncode == 0, log.read_text(errors="replace")[-4000:]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    first, second = (dict(np.load(tmp_path / f"process{rank}.npz")) for rank in (0, 1))

    for method in ("adadiag-clip", "scn-30"):
        # Each process fed half of every batch of 8; together they took the
        # steps of one process fed the whole batches.
        devices = list(first[f"{method}/parallel/devices"])
        assert len(devices) == 2 and all(name.startswith("cpu:") for name in devices)
        assert int(first[f"{method}/parallel/replicas"]) == 2
        _assert_trained_alike(first, first, method)
        _assert_trained_alike(first, second, method)

    # The experiment runner trained the same run in both, data-parallel;
    # process 0 wrote its files, process 1 wrote none and returned no record.
    assert int(first["record_finished"]) == 1 and int(second["record_finished"]) == -1
    written = sorted(os.listdir(tmp_path / "run0"))
    assert [name.rsplit(".", 1)[1] for name in written] == ["csv", "json", "keras", "png"]
    assert os.listdir(tmp_path / "run1") == []


@pytest.mark.parametrize("count", [2, 3])
def test_process_shares_make_up_every_global_batch_in_order(count):
    x = np.arange(2 * 6 + count * 2)  # two whole batches of 6, and a short one
    shares = [distribution._share(6, [x, -x], count, index) for index in range(count)]
    assert {local for local, _ in shares} == {6 // count}
    rebuilt = []
    for start in range(0, len(x), 6):
        size = min(6, len(x) - start) // count
        for _, (part, negated) in shares:
            np.testing.assert_array_equal(negated, -part)
            rebuilt.extend(part[start // count : start // count + size])
    assert rebuilt == list(x)


@pytest.mark.parametrize(
    "batch_size, length, argument",
    [(5, 10, "batch_size"), (6, 13, "arrays"), (0, 6, "batch_size")],
)
def test_process_shares_refuse_batches_that_do_not_divide(batch_size, length, argument):
    with pytest.raises(ValueError, match=f"Invalid `{argument}`"):
        distribution._share(batch_size, [np.arange(length)], 2, 0)


def test_one_process_feeds_everything_and_writes():
    x = np.arange(10)
    local, (share,) = distribution.process_share(4, x)
    assert local == 4 and share is x
    assert distribution.process_index() == 0 and distribution.process_count() == 1
    assert distribution.is_main_process()


def test_no_process_environment_means_no_multi_process_run(monkeypatch):
    for name in distribution.PROCESS_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    assert distribution.initialize_processes() is False


@pytest.mark.parametrize(
    "arguments, argument",
    [
        (("127.0.0.1", 2, 0), "coordinator_address"),
        (("127.0.0.1:1234", 0, 0), "num_processes"),
        (("127.0.0.1:1234", 2, 2), "process_id"),
        (("127.0.0.1:1234", 2, -1), "process_id"),
    ],
)
def test_initialize_processes_names_a_bad_argument(arguments, argument):
    # Checked before anything joins or starts.
    with pytest.raises(ValueError, match=f"Invalid `{argument}`: received {argument}="):
        distribution.initialize_processes(*arguments)


@pytest.mark.skipif(BACKEND == "jax", reason="JAX trains across processes")
def test_initialize_processes_says_plainly_that_this_backend_has_no_multi_process(monkeypatch):
    monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "127.0.0.1:1234")
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "2")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "1")
    with pytest.raises(NotImplementedError, match=f"not supported on the {BACKEND}") as info:
        distribution.initialize_processes()
    message = str(info.value)
    assert "KERAS_BACKEND to jax" in message
    if BACKEND == "torch":
        assert "no multi-process data parallel for torch" in message
        assert "DistributedDataParallel" in message


@pytest.mark.skipif(BACKEND == "jax", reason="JAX trains across processes")
def test_experiment_scripts_refuse_several_processes_before_reading_data(monkeypatch, tmp_path):
    from tools.experiments import runner

    monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "127.0.0.1:1234")
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "2")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "0")

    def run_protocol(*args, **kwargs):
        raise AssertionError("training started on a backend without multi-process training")

    monkeypatch.setattr(runner, "run_protocol", run_protocol)
    with pytest.raises(NotImplementedError, match=f"not supported on the {BACKEND}"):
        runner.main("smnist", ["--quick", "--output", str(tmp_path)])


# --------------------------------------------------------------------------
# The scope in-process, on the one device pytest has.
# --------------------------------------------------------------------------


@only_data_parallel_backends
def test_scope_makes_a_distribution_current_and_restores_the_previous_one():
    outside = describe_devices()
    assert outside.startswith(f"{BACKEND} on {local_devices()[0]}")
    with data_parallel_scope() as devices:
        assert devices == local_devices()
        first = _active_strategy()
        assert first is not None
        assert describe_devices().startswith(
            f"{BACKEND} on {len(devices)} devices, data-parallel: {devices[0]}"
        )
    assert _active_strategy() is None
    with data_parallel_scope(devices=[devices[0].upper()]) as again:
        assert again == devices[:1]
        if BACKEND == "tensorflow":
            # One strategy per device set (see _MIRRORED_STRATEGIES).
            assert _active_strategy() is first
    assert describe_devices() == outside


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution is JAX's")
def test_jax_scope_restores_a_distribution_set_before_it():
    previous = keras.distribution.DataParallel(devices=local_devices())
    keras.distribution.set_distribution(previous)
    try:
        with data_parallel_scope():
            inner = keras.distribution.distribution()
            assert isinstance(inner, keras.distribution.DataParallel)
            assert inner is not previous
        assert keras.distribution.distribution() is previous
    finally:
        keras.distribution.set_distribution(None)


def test_disabled_scope_changes_nothing_and_training_works():
    x = np.zeros((8, 5, 1), dtype="float32")
    y = np.arange(8) % 10
    with data_parallel_scope(enabled=False) as devices:
        assert devices is None
        assert _active_strategy() is None
        model = _tiny_model()
        history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.skipif(BACKEND in DATA_PARALLEL_BACKENDS, reason="backend supports it")
def test_enabled_scope_says_plainly_that_this_backend_has_no_data_parallel():
    with pytest.raises(NotImplementedError, match=f"not supported on the {BACKEND}") as info:
        data_parallel_scope()
    message = str(info.value)
    assert "enabled=False" in message and "jax or tensorflow" in message
    assert "DistributedDataParallel" in message


# --------------------------------------------------------------------------
# Arguments and devices.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("enabled", ["yes", 1, None])
def test_enabled_must_be_a_bool(enabled):
    with pytest.raises(ValueError, match=r"Invalid `enabled`: received enabled="):
        data_parallel_scope(enabled)


@pytest.mark.parametrize(
    "devices",
    ["cpu:0", [], ["cpu:0", "cpu:0"], ["tpu:99"], [0], {"cpu:0": 1}],
    ids=["string", "empty", "repeated", "unknown", "not-a-name", "dict"],
)
def test_devices_must_be_distinct_local_device_names(devices):
    # Checked whether or not the scope is enabled, before any backend error.
    for enabled in (True, False):
        with pytest.raises(ValueError, match=r"Invalid `devices`: received devices=") as info:
            data_parallel_scope(enabled, devices=devices)
        assert local_devices()[0] in str(info.value)


def test_local_devices_are_named_like_keras_names_them():
    devices = local_devices()
    assert devices and len(set(devices)) == len(devices)
    for name in devices:
        kind, index = name.split(":")
        assert kind in ("cpu", "gpu", "tpu") and index.isdigit()
    if BACKEND in DATA_PARALLEL_BACKENDS:
        assert devices == keras.distribution.list_devices()


# --------------------------------------------------------------------------
# describe_devices: the "Training on: ..." line of the example scripts.
# --------------------------------------------------------------------------

on_cpu_only = pytest.mark.skipif(
    any(not name.startswith("cpu:") for name in local_devices()),
    reason="this machine has an accelerator",
)


@on_cpu_only
def test_describe_devices_names_the_backend_and_the_cpu_on_a_cpu_machine():
    # Tests run in one process with one CPU device on every backend (the
    # two-device runs are subprocesses).
    assert local_devices() == ["cpu:0"]
    model = distribution._cpu_model()
    assert describe_devices() == f"{BACKEND} on cpu:0 ({model})"
    assert model.endswith(f", {os.cpu_count()} logical cores")


@on_cpu_only
def test_cpu_devices_are_named_by_the_host_processor():
    assert distribution._device_models() == {"cpu:0": distribution._cpu_model()}


def _fake_devices(monkeypatch, devices, models, replicas=None):
    monkeypatch.setattr(distribution, "local_devices", lambda: list(devices))
    monkeypatch.setattr(distribution, "_device_models", lambda: dict(models))
    monkeypatch.setattr(distribution, "_active_replica_devices", lambda: replicas)


def test_describe_devices_names_the_accelerator_model(monkeypatch):
    _fake_devices(monkeypatch, ["gpu:0"], {"gpu:0": "NVIDIA H100 80GB HBM3"})
    assert describe_devices() == f"{BACKEND} on gpu:0 (NVIDIA H100 80GB HBM3)"


def test_describe_devices_counts_the_local_devices_one_device_leaves_idle(monkeypatch):
    # An accelerator whose model the backend does not report keeps its bare name.
    _fake_devices(monkeypatch, ["gpu:0", "gpu:1", "gpu:2"], {"gpu:0": None, "gpu:1": "B"})
    assert describe_devices() == f"{BACKEND} on gpu:0, 1 of 3 local devices"


def test_describe_devices_names_every_replica_of_a_data_parallel_run(monkeypatch):
    models = {"gpu:0": "NVIDIA A100", "gpu:1": "NVIDIA A100"}
    _fake_devices(monkeypatch, ["gpu:0", "gpu:1", "gpu:2"], models, ["gpu:0", "gpu:1"])
    assert describe_devices() == (
        f"{BACKEND} on 2 devices, data-parallel: gpu:0 (NVIDIA A100), gpu:1 (NVIDIA A100)"
    )


def test_even_split_accepts_batches_that_divide_among_the_devices():
    two = ["cpu:0", "cpu:1"]
    check_even_split(None, 7, [13])  # not data-parallel: nothing to split
    check_even_split(["cpu:0"], 7, [13])
    check_even_split(two, 8, [32, 30, np.int64(10)])


@pytest.mark.parametrize(
    "batch_size, example_counts, argument",
    [
        (7, [14], "batch_size"),  # every batch splits 4 + 3
        (8, [31], "example_counts"),  # the last batch of 7 does
        (8, [32, 9], "example_counts"),
        (8, [0], "example_counts"),
        (8, 32, "example_counts"),
        (0, [32], "batch_size"),
    ],
)
def test_even_split_rejects_batches_that_do_not(batch_size, example_counts, argument):
    with pytest.raises(ValueError, match=f"Invalid `{argument}`"):
        check_even_split(["cpu:0", "cpu:1"], batch_size, example_counts)
