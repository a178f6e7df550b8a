"""Time the assembly's train step and inference on the current Keras backend.

For the backend named by `KERAS_BACKEND`, one run times, on random data of
the psMNIST shape (sequences of `--steps` scalars, 10 classes, Adam):

- `AssemblyRNN` (the sequence-level fast loop) for each `--methods` entry;
- `keras.layers.RNN(AssemblyCell)`, the generic per-step path (first method);
- Keras `SimpleRNN(H)` at the same H = modules x units, the baseline;
- a hand-written reference of the AdaDiag-tanh assembly in the backend's own
  primitives: a `jax.lax.scan` (once per `--reference-unroll`), a plain torch
  loop over `x.unbind(1)`, or a TensorFlow `tf.scan` in a `tf.function`.
  Before it is timed it is checked to compute the same loss as the Keras
  model from the same weights, so it is the same model.

Each row is timed at each `--batch`: warm-up calls (compilation) excluded,
then the median of `--rounds` x `--repeats` calls, the rounds interleaving
the rows so that a change of load on a shared machine reaches them alike.
Each call ends with its results on the host, which synchronises the device.
It prints a table and writes JSON with the device, backend, versions, matmul
precision, load average and, per row, ms per step, seconds per epoch of
`--epoch-size` sequences and the ratios to `SimpleRNN` and to the (fastest)
hand-written reference. A row that fails is recorded with its error and the
exit status is 1.

The defaults are small so a CPU run takes about a minute; the GPU sizes
(see docs/benchmarks.md for the full commands):

    KERAS_BACKEND=jax python benchmarks/train_step.py --steps 784 \
        --batch 128 1024 --scan-unroll 1 8

Example (CPU, a few seconds):

    KERAS_BACKEND=torch python benchmarks/train_step.py --steps 28 \
        --batch 32 --rounds 1 --json /tmp/bench.json
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time

import keras
import numpy as np

from keras_rnnofrnns import METHODS, sequence_classifier
from keras_rnnofrnns.distribution import describe_devices

# The harness runs from a checkout, as the examples do: its tools/ give the
# command a report keeps and the write that never leaves half a report.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tools.experiments.records import portable_command  # noqa: E402
from tools.experiments.storage import atomic_write_text  # noqa: E402

BACKEND = keras.backend.backend()
NUM_CLASSES = 10
# The reference's loss must match the Keras model's to this relative
# tolerance (float32 sums over hundreds of steps differ in the last digits).
LOSS_RTOL = 1e-4
# Keras's Adam defaults, which sequence_classifier uses; the references too.
LEARNING_RATE, BETA_1, BETA_2, EPSILON = 1e-3, 0.9, 0.999, 1e-7


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--steps", type=int, default=112, help="time steps (784 for psMNIST)")
    parser.add_argument("--modules", type=int, default=16, help="p, modules")
    parser.add_argument("--units", type=int, default=32, help="N, units per module")
    parser.add_argument("--coupling-blocks", type=int, default=20, help="C")
    parser.add_argument("--batch", type=int, nargs="+", default=[128], help="batch sizes")
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["adadiag-tanh", "adadiag-clip", "scn-3"],
        choices=sorted(METHODS),
        help="AssemblyRNN rows; the first also gets the generic RNN(AssemblyCell) row",
    )
    parser.add_argument(
        "--variants",
        nargs="*",
        default=[],
        metavar="INTEGRATOR[+GATE]",
        help="extra AssemblyRNN rows of the first method with another integrator and "
        "gate, e.g. cayley euler+input euler+input_state cayley+input",
    )
    parser.add_argument(
        "--scan-unroll",
        type=int,
        nargs="+",
        default=[1],
        help="AssemblyRNN scan_unroll values to time (JAX and TensorFlow)",
    )
    parser.add_argument(
        "--reference-unroll",
        type=int,
        nargs="+",
        default=[1, 8],
        help="lax.scan unroll values of the JAX reference",
    )
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["generic", "simple_rnn", "reference", "inference"],
        help="rows or modes to leave out (e.g. the slow generic path at 784 steps)",
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per row")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per row and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all rows")
    parser.add_argument("--epoch-size", type=int, default=60000, help="sequences per epoch")
    parser.add_argument(
        "--precision",
        choices=["default", "highest", "high"],
        default="default",
        help="float32 matmul precision: 'high' allows TF32 on GPUs (torch, JAX)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="output file (default runs/benchmarks/...)")
    args = parser.parse_args(argv)
    for name in ("steps", "modules", "units", "repeats", "rounds", "epoch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    if args.coupling_blocks < 0:
        parser.error(f"--coupling-blocks must be >= 0, got {args.coupling_blocks}")
    if min(args.batch + args.scan_unroll + args.reference_unroll) < 1:
        parser.error("--batch, --scan-unroll and --reference-unroll take integers >= 1")
    return args


# -- environment -------------------------------------------------------------


def set_precision(precision):
    """Applies --precision and returns the float32 matmul precision in words."""
    if BACKEND == "torch":
        import torch

        if precision != "default":
            torch.set_float32_matmul_precision(precision)
        return f"torch float32_matmul_precision={torch.get_float32_matmul_precision()}"
    if BACKEND == "jax":
        import jax

        if precision != "default":
            names = {"highest": "highest", "high": "tensorfloat32"}
            jax.config.update("jax_default_matmul_precision", names[precision])
        value = jax.config.jax_default_matmul_precision
        # XLA's default on NVIDIA GPUs since Ampere lets float32 dots use TF32.
        return f"jax_default_matmul_precision={value or 'default (TF32 allowed on GPUs)'}"
    if precision != "default":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(precision == "high")
    return "tensorflow default (TF32 allowed on GPUs)" if precision == "default" else precision


def versions():
    found = {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "numpy": np.__version__,
    }
    for module in ("jax", "jaxlib", "torch", "tensorflow"):
        if module in sys.modules or module == BACKEND:
            try:
                found[module] = __import__(module).__version__
            except ImportError:
                pass
    return found


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# -- timing ------------------------------------------------------------------


def time_calls(call, repeats):
    """Wall times of `repeats` calls of `call()` in ms.

    `call` must return only once the device has finished (e.g. by returning
    host values), so each measurement covers the whole step.
    """
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(1000.0 * (time.perf_counter() - start))
    return times


# -- the Keras models ----------------------------------------------------------


def variant_options(variant):
    """AssemblyCell arguments of a `--variants` entry such as `cayley+input`."""
    integrator, _, gate = variant.partition("+")
    return {"integrator": integrator, "gate": gate or None}


def assembly_model(args, method, fast=True, scan_unroll=1, cell_options=None):
    model = sequence_classifier(
        method,
        num_modules=args.modules,
        module_size=args.units,
        coupling_blocks=args.coupling_blocks,
        seed=args.seed,
        sequence_length=args.steps,
        fast=fast,
        cell_options=cell_options,
    )
    if fast:
        # sequence_classifier keeps the default; the loop reads the value
        # when the train function is first traced, which has not happened yet.
        model.get_layer("assembly").scan_unroll = scan_unroll
    return model


def simple_rnn_model(args):
    """Keras SimpleRNN(H) with the read-out, loss and optimizer of `sequence_classifier`."""
    model = keras.Sequential(
        [
            keras.Input((args.steps, 1)),
            keras.layers.SimpleRNN(args.modules * args.units),
            keras.layers.Dense(NUM_CLASSES),
        ],
        name="simple_rnn",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE, BETA_1, BETA_2, EPSILON),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def keras_calls(model, x, y):
    def train():
        return model.train_on_batch(x, y)

    def infer():
        return model.predict_on_batch(x)

    return train, infer


# -- hand-written references ---------------------------------------------------


def reference_weights(model):
    """The AdaDiag-tanh model's weights as numpy arrays for a reference."""
    assembly = model.get_layer("assembly")
    cell = assembly.cell
    readout = model.get_layer("readout")
    return {
        "kernel": keras.ops.convert_to_numpy(cell.input_kernel),
        "bias": keras.ops.convert_to_numpy(cell.bias),
        "diag": keras.ops.convert_to_numpy(cell.module_kernel),
        "blocks": keras.ops.convert_to_numpy(cell.coupling.kernel),
        "out_kernel": keras.ops.convert_to_numpy(readout.kernel),
        "out_bias": keras.ops.convert_to_numpy(readout.bias),
    }, cell


def coupling_scatter(cell):
    """(rows, cols) index arrays placing the C blocks into an H x H matrix."""
    n = cell.module_size
    rows, cols = [], []
    for i, j in cell.coupling.pairs:
        r, c = np.meshgrid(
            np.arange(i * n, (i + 1) * n), np.arange(j * n, (j + 1) * n), indexing="ij"
        )
        rows.append(r)
        cols.append(c)
    return np.stack(rows), np.stack(cols)


def numpy_loss(logits, y):
    logits = logits.astype(np.float64)
    top = logits.max(axis=1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return float(np.mean(log_z - logits[np.arange(len(y)), y]))


def jax_reference(weights, cell, x, y, unroll):
    import jax
    import jax.numpy as jnp

    h = cell.step_size
    units = cell.units
    rows, cols = coupling_scatter(cell)
    params = {k: jnp.asarray(v) for k, v in weights.items()}
    xs = jnp.asarray(np.transpose(x, (1, 0, 2)))
    ys = jnp.asarray(y)

    def loss_fn(p, xs, ys):
        b = jnp.zeros((units, units), xs.dtype).at[rows, cols].set(p["blocks"])
        transition = (1.0 - h) * jnp.eye(units, dtype=xs.dtype) + h * (b - b.T).T
        module = h * jnp.tanh(p["diag"])
        drive = h * (xs @ p["kernel"] + p["bias"])

        def body(s, d):
            return s @ transition + module * jnp.tanh(s) + d, None

        s, _ = jax.lax.scan(body, jnp.zeros((xs.shape[1], units), xs.dtype), drive, unroll=unroll)
        logits = s @ p["out_kernel"] + p["out_bias"]
        picked = jnp.take_along_axis(logits, ys[:, None], axis=1)[:, 0]
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - picked), logits

    b1, b2, eps, lr = BETA_1, BETA_2, EPSILON, LEARNING_RATE

    @jax.jit
    def train(state, xs, ys):
        p, m, v, t = state
        (loss, _), g = jax.value_and_grad(loss_fn, has_aux=True)(p, xs, ys)
        t = t + 1
        m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        scale = lr * jnp.sqrt(1 - b2**t) / (1 - b1**t)
        p = jax.tree.map(lambda p, m, v: p - scale * m / (jnp.sqrt(v) + eps), p, m, v)
        return (p, m, v, t), loss

    infer = jax.jit(lambda p, xs: loss_fn(p, xs, ys)[1])
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = [(params, zeros, zeros, jnp.zeros((), jnp.float32))]

    def train_call():
        state[0], loss = train(state[0], xs, ys)
        return float(loss)

    def infer_call():
        return infer(state[0][0], xs).block_until_ready()

    initial_loss = float(loss_fn(params, xs, ys)[0])
    return train_call, infer_call, initial_loss


def torch_reference(weights, cell, x, y):
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    h = cell.step_size
    units = cell.units
    rows, cols = coupling_scatter(cell)
    rows = torch.as_tensor(rows, device=device)
    cols = torch.as_tensor(cols, device=device)
    params = {
        k: torch.tensor(v, device=device, requires_grad=True) for k, v in weights.items()
    }
    xs = torch.as_tensor(x, device=device)
    ys = torch.as_tensor(y, device=device, dtype=torch.long)
    optimizer = torch.optim.Adam(
        params.values(), lr=LEARNING_RATE, betas=(BETA_1, BETA_2), eps=EPSILON
    )
    eye = torch.eye(units, device=device)

    def forward(p):
        b = torch.zeros((units, units), device=device).index_put((rows, cols), p["blocks"])
        transition = (1.0 - h) * eye + h * (b - b.T).T
        module = h * torch.tanh(p["diag"])
        drive = h * (xs @ p["kernel"] + p["bias"])
        s = torch.zeros((xs.shape[0], units), device=device)
        # unbind once: slicing drive[:, t] inside the loop would make
        # autograd write a full-size zero gradient at every step.
        for d in drive.unbind(1):
            s = s @ transition + module * torch.tanh(s) + d
        return s @ p["out_kernel"] + p["out_bias"]

    def synchronize():
        if device == "cuda":
            torch.cuda.synchronize()

    def train_call():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(forward(params), ys)
        loss.backward()
        optimizer.step()
        synchronize()
        return loss.item()

    def infer_call():
        with torch.no_grad():
            logits = forward(params)
        synchronize()
        return logits.cpu()

    with torch.no_grad():
        initial_loss = float(torch.nn.functional.cross_entropy(forward(params), ys))
    return train_call, infer_call, initial_loss


def tensorflow_reference(weights, cell, x, y):
    import tensorflow as tf

    h = cell.step_size
    units = cell.units
    rows, cols = coupling_scatter(cell)
    indices = tf.constant(np.stack([rows, cols], axis=-1))
    params = {k: tf.Variable(v) for k, v in weights.items()}
    slots = {
        k: (tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v)))
        for k, v in weights.items()
    }
    step = tf.Variable(0.0)
    xs = tf.constant(np.transpose(x, (1, 0, 2)))
    ys = tf.constant(y)
    b1, b2, eps, lr = BETA_1, BETA_2, EPSILON, LEARNING_RATE

    def forward():
        b = tf.scatter_nd(indices, params["blocks"], (units, units))
        transition = (1.0 - h) * tf.eye(units) + h * tf.transpose(b - tf.transpose(b))
        module = h * tf.tanh(params["diag"])
        drive = h * (tf.matmul(xs, params["kernel"]) + params["bias"])
        s0 = tf.zeros((xs.shape[1], units))
        s = tf.scan(lambda s, d: tf.matmul(s, transition) + module * tf.tanh(s) + d, drive, s0)[-1]
        return tf.matmul(s, params["out_kernel"]) + params["out_bias"]

    def loss_fn():
        return tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ys, logits=forward())
        )

    @tf.function(jit_compile=False)
    def train():
        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, params)
        step.assign_add(1.0)
        scale = lr * tf.sqrt(1 - b2**step) / (1 - b1**step)
        for k, g in grads.items():
            m, v = slots[k]
            m.assign(b1 * m + (1 - b1) * g)
            v.assign(b2 * v + (1 - b2) * g * g)
            params[k].assign_sub(scale * m / (tf.sqrt(v) + eps))
        return loss

    infer = tf.function(forward)
    return (lambda: float(train())), (lambda: infer().numpy()), float(loss_fn())


def reference_names(args):
    if BACKEND == "jax":
        return [f"jax lax.scan unroll={unroll}" for unroll in args.reference_unroll]
    if BACKEND == "torch":
        return ["torch python loop, x.unbind(1)"]
    return ["tensorflow tf.scan in tf.function"]


def reference(args, name, x, y):
    """(train, infer) of the hand-written reference `name`, checked against Keras."""
    model = assembly_model(args, "adadiag-tanh")
    keras_loss = numpy_loss(np.asarray(model.predict_on_batch(x)), y)
    weights, cell = reference_weights(model)
    if BACKEND == "jax":
        unroll = int(name.rsplit("=", 1)[1])
        train, infer, loss = jax_reference(weights, cell, x, y, unroll)
    elif BACKEND == "torch":
        train, infer, loss = torch_reference(weights, cell, x, y)
    else:
        train, infer, loss = tensorflow_reference(weights, cell, x, y)
    if not math.isclose(loss, keras_loss, rel_tol=LOSS_RTOL):
        raise RuntimeError(
            f"the reference {name!r} is not the Keras model: loss {loss} vs {keras_loss}"
        )
    return train, infer


# -- the run -------------------------------------------------------------------


def row_builders(args):
    """(name, kind, build) per row; `build(x, y)` returns (train, infer) calls."""

    def keras_row(make):
        return lambda x, y: keras_calls(make(), x, y)

    rows = []
    for method in args.methods:
        for unroll in args.scan_unroll if BACKEND != "torch" else [1]:
            name = f"AssemblyRNN {method}" + (f" scan_unroll={unroll}" if unroll != 1 else "")
            make = lambda method=method, unroll=unroll: assembly_model(args, method, True, unroll)
            rows.append((name, "assembly", keras_row(make)))
    for variant in args.variants:
        options = variant_options(variant)
        make = lambda options=options: assembly_model(
            args, args.methods[0], True, 1, cell_options=options
        )
        rows.append((f"AssemblyRNN {args.methods[0]} {variant}", "assembly", keras_row(make)))
    if "generic" not in args.skip:
        make = lambda: assembly_model(args, args.methods[0], fast=False)
        rows.append((f"RNN(AssemblyCell) {args.methods[0]}", "generic", keras_row(make)))
        for variant in args.variants:
            make = lambda options=variant_options(variant): assembly_model(
                args, args.methods[0], False, cell_options=options
            )
            rows.append(
                (f"RNN(AssemblyCell) {args.methods[0]} {variant}", "generic", keras_row(make))
            )
    if "simple_rnn" not in args.skip:
        name = f"SimpleRNN({args.modules * args.units})"
        rows.append((name, "simple_rnn", keras_row(lambda: simple_rnn_model(args))))
    if "reference" not in args.skip:
        for name in reference_names(args):
            rows.append((name, "reference", lambda x, y, name=name: reference(args, name, x, y)))
    return rows


def measure_batch(args, batch, modes):
    """Times every row at one batch size, interleaved over `--rounds`.

    All rows are built and warmed up first; each round then times
    `--repeats` calls of every row in turn, so a change in the machine's
    load during the run reaches every row alike.
    """
    rng = np.random.default_rng(args.seed)
    x = rng.uniform(0.0, 1.0, size=(batch, args.steps, 1)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, size=(batch,)).astype("int32")
    built, results = [], []
    for name, kind, build in row_builders(args):
        record = {"name": name, "kind": kind, "batch": batch}
        try:
            calls = dict(zip(("train", "inference"), build(x, y)))
            for mode in modes:
                for _ in range(args.warmup):
                    calls[mode]()
            built.append((record, calls))
        except Exception as error:  # one failing row must not lose the others
            print(f"  {name}: FAILED {error!r}", flush=True)
            results.extend({**record, "mode": mode, "error": repr(error)} for mode in modes)
    times = {(id(record), mode): [] for record, _ in built for mode in modes}
    for _ in range(args.rounds):
        for record, calls in built:
            for mode in modes:
                times[(id(record), mode)].extend(time_calls(calls[mode], args.repeats))
    steps_per_epoch = math.ceil(args.epoch_size / batch)
    for record, _ in built:
        for mode in modes:
            samples = times[(id(record), mode)]
            ms = statistics.median(samples)
            results.append({
                **record, "mode": mode, "ms_per_step": round(ms, 3),
                "ms_all": [round(t, 3) for t in samples],
                "s_per_epoch": round(ms * steps_per_epoch / 1000.0, 2),
            })
            print(f"  {record['name']:44s} batch {batch:5d} {mode:9s} {ms:10.2f} ms", flush=True)
    for mode in modes:
        timed = [r for r in results if r["mode"] == mode and "error" not in r]
        simple = [r["ms_per_step"] for r in timed if r["kind"] == "simple_rnn"]
        references = [r["ms_per_step"] for r in timed if r["kind"] == "reference"]
        for r in timed:
            ms = r["ms_per_step"]
            r["vs_simple_rnn"] = round(ms / simple[0], 3) if simple else None
            r["vs_reference"] = round(ms / min(references), 3) if references else None
    return results


def run(args, argv):
    """Times every row; returns the report. `argv`: the arguments `args` came from."""
    precision = set_precision(args.precision)
    started = datetime.datetime.now(datetime.timezone.utc)
    report = {
        "script": "benchmarks/train_step.py",
        "command": f"KERAS_BACKEND={BACKEND} "
        + portable_command([os.path.abspath(__file__), *argv]),
        "date": started.isoformat(timespec="seconds"),
        "backend": BACKEND,
        "device": describe_devices(),
        "versions": versions(),
        "matmul_precision": precision,
        "dtype": "float32",
        "config": {
            k: getattr(args, k)
            for k in ("steps", "modules", "units", "coupling_blocks", "methods", "scan_unroll",
                      "reference_unroll", "warmup", "repeats", "rounds", "epoch_size", "seed")
        },
        "load_average_before": load_average(),
        "results": [],
    }
    modes = ["train"] + ([] if "inference" in args.skip else ["inference"])
    for batch in args.batch:
        report["results"].extend(measure_batch(args, batch, modes))
    report["load_average_after"] = load_average()
    elapsed = datetime.datetime.now(datetime.timezone.utc) - started
    report["seconds"] = round(elapsed.total_seconds(), 1)
    return report


def print_table(report):
    config = report["config"]
    print(f"\n{report['device']}; {report['matmul_precision']}")
    print(f"versions {report['versions']}")
    print(f"load average {report['load_average_before']} -> {report['load_average_after']}")
    print(f"{config['modules']}x{config['units']}, C={config['coupling_blocks']}, "
          f"{config['steps']} steps, float32, epoch = {config['epoch_size']} sequences, "
          f"median of {config['rounds']} x {config['repeats']} calls\n")
    print("| what | batch | mode | ms / step | s / epoch | vs SimpleRNN | vs reference |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for r in report["results"]:
        if "error" in r:
            failed = f"failed: {r['error'][:60]}"
            print(f"| {r['name']} | {r['batch']} | {r['mode']} | {failed} | | | |")
            continue
        ratios = [
            "-" if r[k] is None else f"{r[k]:.2f}" for k in ("vs_simple_rnn", "vs_reference")
        ]
        print(f"| {r['name']} | {r['batch']} | {r['mode']} | {r['ms_per_step']:.1f} | "
              f"{r['s_per_epoch']:.1f} | {ratios[0]} | {ratios[1]} |")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    report = run(args, argv)
    print_table(report)
    path = args.json or os.path.join(
        "runs", "benchmarks", f"train_step-{BACKEND}-{report['date'].replace(':', '')}.json"
    )
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    atomic_write_text(path, json.dumps(report, indent=1))
    print(f"\nwrote {path} ({report['seconds']} s)")
    return 1 if any("error" in r for r in report["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
