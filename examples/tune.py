"""Search assembly hyperparameters on sequential or permuted sequential MNIST.

A thin command line over the repository's `tools.experiments.search.run_search`: KerasTuner
searches the module strategy, the coupling (number of blocks C, or density),
dt and the learning rate of an assembly sequence classifier, maximising
validation accuracy. Results go to DIRECTORY/PROJECT_NAME; running the same
command again resumes the search there (finished trials are not run again,
a larger --max-trials adds trials). At the end it prints and writes
`summary.md`, `summary.json` and `accuracy_vs_density.png`.

Each searched dimension takes one value (fixed), several values (a choice) or
a --...-range MIN MAX; unset, it is searched over its default range.

Example (a small search, about half a minute on a CPU with JAX):

    MNIST_DIR=/path/to/mnist python examples/tune.py --task psmnist \\
        --tuner random --max-trials 4 --epochs 1 --limit-train 512 \\
        --limit-test 256 --modules 4 --units 8 --methods adadiag-tanh adadiag-clip

Requires keras-tuner and matplotlib (`pip install keras-rnnofrnns[examples]`).
"""

import _require_backend  # noqa: F401 - first: exits with one line without a backend
import argparse

from keras_rnnofrnns import METHODS, PAPER_METHODS
from keras_rnnofrnns.checks import check_int
from keras_rnnofrnns.distribution import data_parallel_scope
from tools.experiments.tasks import TASKS, load_task
from keras_rnnofrnns.tuning import AssemblyHyperModel
from keras_rnnofrnns.tuning.hypermodel import DEFAULT_DT, DEFAULT_LEARNING_RATE
from tools.experiments.search import TUNERS, check_search_settings, run_search


def _add_dimension(parser, name, kind, help_text, default_range):
    """Adds --NAME V [V ...] and --NAME-range MIN MAX, which exclude each other."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        f"--{name}", type=kind, nargs="+", metavar="V", help=f"{help_text}: one value or choices"
    )
    group.add_argument(
        f"--{name}-range", type=kind, nargs=2, metavar=("MIN", "MAX"),
        help=f"{help_text}: a range (default, without either flag: {default_range})",
    )
    return group


def _spec(values, bounds):
    """The `AssemblyHyperModel` spec of a dimension's two flags."""
    if bounds is not None:
        return tuple(bounds)
    if values is None:
        return None
    return values[0] if len(values) == 1 else values


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=tuple(TASKS), default="smnist",
                        help="(default: %(default)s)")
    parser.add_argument("--tuner", choices=tuple(TUNERS), default="random",
                        help="(default: %(default)s)")
    parser.add_argument("--max-trials", type=int, default=10,
                        help="total trials; Hyperband ignores it (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=10,
                        help="epochs per trial; Hyperband: the most a trial gets "
                        "(default: %(default)s)")
    parser.add_argument("--limit-train", type=int,
                        help="first N training examples (default: all)")
    parser.add_argument("--limit-test", type=int, help="first N test examples (default: all)")
    parser.add_argument("--directory", default="tuning_results",
                        help="results folder (default: %(default)s)")
    parser.add_argument("--project-name", help="sub-folder of this search (default: TASK-TUNER)")
    parser.add_argument("--modules", type=int, default=16,
                        help="p, modules of the assembly (default: %(default)s)")
    parser.add_argument("--units", type=int, default=32,
                        help="N, units per module (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the tuner and the models (default: %(default)s)")
    parser.add_argument("--data-dir", help="MNIST idx folder (default: $MNIST_DIR)")
    parser.add_argument("--batch-size", type=int, default=64, help="(default: %(default)s)")
    parser.add_argument("--validation-split", type=float, default=0.1,
                        help="fraction of the training examples held out for val_accuracy "
                        "(default: %(default)s)")
    parser.add_argument("--patience", type=int,
                        help="early stopping patience in epochs (default: none, every trial "
                        "runs all its epochs)")
    parser.add_argument("--top", type=int, default=5,
                        help="configurations in the summary (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="discard previous results")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--data-parallel", action="store_true",
                        help="train every trial data-parallel over all local devices "
                        "(JAX, TensorFlow; not torch)")
    parser.add_argument("--methods", nargs="+", choices=tuple(METHODS), metavar="METHOD",
                        help=f"module strategies to search, out of {', '.join(METHODS)} "
                        f"(default: the paper's four, {' '.join(PAPER_METHODS)}; the gated "
                        "methods only when named: their gate sets the step, so dt does "
                        "nothing for them)")
    coupling = _add_dimension(parser, "coupling-blocks", int, "number of coupling blocks C",
                              "0 to p(p-1)/2")
    coupling.add_argument("--coupling-density", type=float, nargs="+", metavar="D",
                          help="C as a fraction of p(p-1)/2: one value or choices")
    coupling.add_argument("--coupling-density-range", type=float, nargs=2,
                          metavar=("MIN", "MAX"), help="C as a fraction of p(p-1)/2: a range")
    _add_dimension(parser, "dt", float, "Euler step dt",
                   f"{DEFAULT_DT[0]:g} to {DEFAULT_DT[1]:g}, log scale")
    _add_dimension(parser, "learning-rate", float, "learning rate",
                   f"{DEFAULT_LEARNING_RATE[0]:g} to {DEFAULT_LEARNING_RATE[1]:g}, log scale")
    return parser, parser.parse_args(argv)


def main(argv=None):
    parser, args = parse_args(argv)
    try:
        # Check the search space and settings before reading ~55 MB of MNIST.
        hypermodel = AssemblyHyperModel(
            num_modules=args.modules,
            module_size=args.units,
            method=_spec(args.methods, None),
            coupling_blocks=_spec(args.coupling_blocks, args.coupling_blocks_range),
            coupling_density=_spec(args.coupling_density, args.coupling_density_range),
            dt=_spec(args.dt, args.dt_range),
            learning_rate=_spec(args.learning_rate, args.learning_rate_range),
            seed=args.seed,
        )
        check_search_settings(
            tuner=args.tuner,
            max_trials=args.max_trials,
            epochs=args.epochs,
            batch_size=args.batch_size,
            validation_split=args.validation_split,
            patience=args.patience,
            top=args.top,
            seed=args.seed,
        )
        for name in ("limit_train", "limit_test"):
            if getattr(args, name) is not None:
                check_int(name, getattr(args, name), 1)
    except ValueError as error:
        parser.error(str(error))
    data = load_task(
        args.task, args.data_dir, limit_train=args.limit_train, limit_test=args.limit_test
    )
    # Trials build and train their models inside the scope.
    with data_parallel_scope(args.data_parallel):
        return run_search(
            hypermodel,
            data,
            tuner=args.tuner,
            max_trials=args.max_trials,
            epochs=args.epochs,
            directory=args.directory,
            project_name=args.project_name,
            batch_size=args.batch_size,
            validation_split=args.validation_split,
            patience=args.patience,
            top=args.top,
            seed=args.seed,
            overwrite=args.overwrite,
            verbose=0 if args.quiet else 1,
        )


if __name__ == "__main__":
    main()
