"""The command line of `examples/reproduce.py`.

    reproduce.py [run] [--parallel K] [--time-budget S] [--pack FILE] ...
    reproduce.py pack FILE [--runs NAME ...]
    reproduce.py unpack FILE [--force]
    reproduce.py table [--output docs/reproduction.md]
    reproduce.py status
"""

import argparse
import os
import sys

from keras_rnnofrnns import PAPER_METHODS
from tools.experiments import TASKS, load_records
from tools.experiments.runner import add_protocol_arguments, protocol_settings
from tools.reproduce.document import DEFAULT_DOCUMENT, runs_table, write_document
from tools.reproduce.launch import DEFAULT_GRACE_SECONDS, check_launch_options, launch
from tools.reproduce.pack import pack, unpack
from tools.reproduce.plan import (
    DEFAULT_RESULTS,
    LOG_FOLDER,
    ORDER_COUPLING_BLOCKS,
    ORDER_SEEDS,
    ORDER_TASKS,
    reproduction_order,
    run_protocol_of,
)

COMMANDS = ("run", "pack", "unpack", "table", "status")


def _run_parser():
    parser = argparse.ArgumentParser(
        prog="reproduce.py [run]",
        description=(
            "Train the configurations of the paper's Table 1 in order (psMNIST before "
            "sMNIST, C = 20 before C = 5, seed 0 everywhere before seeds 1 and 2), "
            "skipping finished ones and resuming unfinished ones, with the paper's "
            "protocol. The test split is the validation data, as in the paper. Other "
            "commands: pack FILE, unpack FILE, table, status (reproduce.py COMMAND --help)."
        ),
    )
    add = parser.add_argument
    add("--task", nargs="+", choices=tuple(TASKS), help="tasks (default: psmnist smnist)")
    add_protocol_arguments(
        parser, permuted=True, verbose=2, coupling_blocks=ORDER_COUPLING_BLOCKS
    )
    add("--parallel", type=int, default=1, help="worker processes at a time (default: 1)")
    add(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="start no configuration and no epoch that would not end within SECONDS "
        "(default: no limit)",
    )
    add(
        "--grace",
        type=float,
        default=DEFAULT_GRACE_SECONDS,
        metavar="SECONDS",
        help="stop workers still running this long after the time budget; inf: never "
        f"(default: {DEFAULT_GRACE_SECONDS:g})",
    )
    add("--results", default=DEFAULT_RESULTS, help="results folder (default: results)")
    add("--pack", metavar="FILE", help="then pack the runs started into FILE (.tar.gz)")
    return parser


def _run_command(argv):
    parser = _run_parser()
    args = parser.parse_args(argv)
    settings = protocol_settings(args)
    grid = {key: settings.pop(key) for key in ("methods", "coupling_blocks", "seeds")}
    # Every check before the first worker starts, so a typo costs no device time.
    try:
        configs = reproduction_order(
            tasks=tuple(args.task or ORDER_TASKS),
            coupling_blocks=grid["coupling_blocks"] or ORDER_COUPLING_BLOCKS,
            methods=grid["methods"] or PAPER_METHODS,
            seeds=grid["seeds"] or ORDER_SEEDS,
        )
        for config in configs:
            run_protocol_of(config, {**settings, "output": args.results})
        check_launch_options(args.parallel, args.time_budget, args.grace)
    except ValueError as exc:
        parser.error(str(exc))
    started, failed = launch(
        configs,
        settings,
        results=args.results,
        parallel=args.parallel,
        time_budget=args.time_budget,
        grace=args.grace,
    )
    if args.pack:
        pack(args.results, args.pack, [c.name for c in started])
    if failed:
        print(f"failed: {', '.join(c.name for c in failed)} (see {args.results}/{LOG_FOLDER}/)")
    return 1 if failed else 0


def _command_parser(command):
    """The parser of `pack`, `unpack`, `table` or `status`."""
    parser = argparse.ArgumentParser(prog=f"reproduce.py {command}")
    if command in ("pack", "unpack"):
        parser.add_argument("file", help="the .tar.gz archive")
    parser.add_argument("--results", default=DEFAULT_RESULTS, help="(default: results)")
    if command == "pack":
        parser.add_argument("--runs", nargs="+", metavar="NAME", help="run names (default: all)")
    if command == "unpack":
        parser.add_argument(
            "--force", action="store_true", help="also replace runs that are further here"
        )
    if command == "table":
        parser.add_argument(
            "--output",
            default=DEFAULT_DOCUMENT,
            help=f"the markdown file to write (default: {DEFAULT_DOCUMENT})",
        )
    return parser


def main(argv=None):
    """Runs the command line of `examples/reproduce.py`.

    Args:
        argv: the arguments, without the program name (default: `sys.argv[1:]`).
            A first argument among `COMMANDS` picks the command; `run` is
            the default.

    Returns:
        The exit code: 1 if a worker failed, else 0.

    Example (a CPU smoke test of the mechanics: two tiny runs side by side,
    interrupted by the time budget, then resumed):

        python examples/reproduce.py --modules 2 --units 4 --coupling-blocks 1 \\
            --method adadiag-tanh --seeds 0 --limit-train 64 --limit-test 64 \\
            --row-wise --epochs 2 --parallel 2 --time-budget 1 --results /tmp/r
        python examples/reproduce.py --modules 2 --units 4 --coupling-blocks 1 \\
            --method adadiag-tanh --seeds 0 --limit-train 64 --limit-test 64 \\
            --row-wise --epochs 2 --parallel 2 --results /tmp/r
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "run"
    if command == "run":
        return _run_command(argv)
    parser = _command_parser(command)
    args = parser.parse_args(argv)
    if command in ("table", "status", "pack") and not os.path.isdir(args.results):
        parser.error(
            f"Invalid `--results`: received {args.results!r}, which is not a folder; "
            "expected the results folder of the runs."
        )
    if command == "pack":
        pack(args.results, args.file, args.runs)
    elif command == "unpack":
        try:
            unpack(args.file, args.results, force=args.force)
        except ValueError as exc:
            parser.error(str(exc))
    elif command == "table":
        if not load_records(args.results, finished_only=False):
            # A document of no run would replace one of real runs.
            parser.error(
                f"Invalid `--results`: received {args.results!r}, which holds no run "
                f"records; expected the results folder of the runs. {args.output!r} was "
                "left as it is."
            )
        write_document(args.output, args.results)
        print(f"wrote {args.output} from {args.results}/")
    else:
        print(runs_table(args.results, reproduction_order()))
    return 0
