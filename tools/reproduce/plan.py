"""What to train, in which order, where its files go, and with which protocol.

Example:
>>> [c.name for c in reproduction_order(tasks=("smnist",), coupling_blocks=(5,),
...                                      methods=("scn-3",), seeds=(0, 1))]
['smnist_scn-3_C5_seed0', 'smnist_scn-3_C5_seed1']
"""

import os

from keras_rnnofrnns import PAPER_METHODS
from tools.experiments import PAPER_DEFAULTS, TASKS, Protocol
from tools.experiments.records import SUMMARY_FILE
from tools.experiments.runs import RUN_STATES, Configuration, run_state

# The order of the runs: psMNIST before sMNIST, C = 20 before C = 5, the first
# seed of every cell before the other seeds.
ORDER_TASKS = ("psmnist", "smnist")
ORDER_COUPLING_BLOCKS = tuple(sorted(PAPER_DEFAULTS["coupling_blocks"], reverse=True))
ORDER_SEEDS = PAPER_DEFAULTS["seeds"]
# The runner's default permutation, the same for every psMNIST run.
ORDER_PERMUTATION_SEED = PAPER_DEFAULTS["permutation_seed"]

DEFAULT_RESULTS = "results"
# The workers' logs, beside the runner's files in the results folder.
LOG_FOLDER = "logs"


def reproduction_order(
    tasks=ORDER_TASKS,
    coupling_blocks=ORDER_COUPLING_BLOCKS,
    methods=PAPER_METHODS,
    seeds=ORDER_SEEDS,
):
    """The configurations of Table 1 in the order they are trained.

    A cell of the table is a (task, C) column and a method row. The first
    seed goes through every cell first (tasks, then C, then methods, each in
    the order given), so that a first number exists everywhere early; the
    other seeds follow cell by cell in the same order, so that each cell gets
    its mean ± std as soon as possible.

    Args:
        tasks: task names, in order.
        coupling_blocks: values of C, in order.
        methods: method names, in order.
        seeds: seeds, the first one first.

    Returns:
        A list of `Configuration`s.

    Raises:
        ValueError: for an unknown task or method, no method or seed, or a
            repeated task, C, method or seed, worded as `Protocol.create`
            words it.

    Example:
    >>> order = reproduction_order()
    >>> len(order), [c.name for c in order[:5]]  # doctest: +NORMALIZE_WHITESPACE
    (48, ['psmnist_scn-3_C20_seed0', 'psmnist_scn-30_C20_seed0',
          'psmnist_adadiag-tanh_C20_seed0', 'psmnist_adadiag-clip_C20_seed0',
          'psmnist_scn-3_C5_seed0'])
    >>> order[16].name, order[17].name
    ('psmnist_scn-3_C20_seed1', 'psmnist_scn-3_C20_seed2')
    """
    for task in tasks:
        # C is left out: its range depends on the assembly, checked per run.
        Protocol.create(task, methods=tuple(methods), seeds=tuple(seeds))
    cells = [(t, c, m) for t in tasks for c in coupling_blocks for m in methods]
    first = [Configuration(t, m, c, seeds[0]) for t, c, m in cells]
    others = [Configuration(t, m, c, s) for t, c, m in cells for s in seeds[1:]]
    names = [config.name for config in first + others]
    repeated = [name for name in names if names.count(name) > 1]
    if repeated:
        # Protocol.create refused repeated methods and seeds already.
        raise ValueError(
            f"Invalid grid: received tasks={tuple(tasks)!r}, coupling_blocks="
            f"{tuple(coupling_blocks)!r}; expected each task and C once ({repeated[0]} "
            "would be trained twice)."
        )
    return first + others


def count_states(results, configs):
    """How many of `configs` are in each state in `results`.

    Args:
        results: the results folder.
        configs: `Configuration`s.

    Returns:
        A dict from each of `RUN_STATES` to a count.
    """
    states = [run_state(results, c)[1] for c in configs]
    return {state: states.count(state) for state in RUN_STATES}


def run_names(results):
    """The names (file stems) of the runs with a record in `results`, sorted."""
    return sorted(
        name[: -len(".json")]
        for name in os.listdir(results)
        if name.endswith(".json") and name != SUMMARY_FILE
    )


def run_protocol_of(config, settings):
    """The checked one-run `Protocol` of `config`.

    Args:
        config: a `Configuration`.
        settings: the other `Protocol.create` arguments (JSON-decoded ones
            too: `lr_drops` may be a list).

    Returns:
        A `Protocol` with one method, one C and one seed.
    """
    settings = dict(settings)
    if settings.get("lr_drops") is not None:
        settings["lr_drops"] = tuple(settings["lr_drops"])
    if not TASKS[config.task].permuted:
        # No permutation: keep sMNIST records comparable with examples/smnist.py's.
        settings["permutation_seed"] = 0
    return Protocol.create(
        config.task,
        methods=(config.method,),
        coupling_blocks=(config.coupling_blocks,),
        seeds=(config.seed,),
        **settings,
    )
