"""What the two protocols' command lines and records share.

The protocols themselves are plain dataclasses: `runner.BaseProtocol` holds
the settings the MNIST protocol (`runner.Protocol`) and the time-series one
(`timeseries.TimeSeriesProtocol`) share, with their checks; each protocol
adds its own. This module holds what is about those settings rather than
about one protocol: the flags both command lines offer
(`add_shared_arguments`, `add_device_arguments`, and `settings_from_args`
to read them back), the
settings a run's record keeps (`RECORDED_SETTINGS`) and those that make
runs comparable (`PROTOCOL_KEYS`)
and how the reproduction table words them (`TABLE_WORDS`, `table_text`).
"""

from keras_rnnofrnns.models import OPTIMIZERS, READOUTS

# The settings of both protocols that each run's record keeps in its `config`.
RECORDED_SETTINGS = (
    "num_modules",
    "module_size",
    "dt",
    "epochs",
    "batch_size",
    "learning_rate",
    "optimizer",
    "lr_drops",
    "patience",
    "readout",
    "limit_train",
    "limit_test",
)

# The settings of a run's `config` that make two runs comparable: runs are
# averaged together only when all of these agree. The MNIST protocol records
# `row_wise` and `permutation_seed` beside the shared ones; time-series
# records hold them too, at the values that mean "read whole, in order".
PROTOCOL_KEYS = RECORDED_SETTINGS + ("row_wise", "permutation_seed")

# How the reproduction table words a run's settings (format strings over the
# run's settings): as a footnote where a run's value differs from the
# paper's, and, for the paper's own values, on the table's protocol line.
TABLE_WORDS = {
    "num_modules": "{num_modules} x {module_size} assembly",
    "module_size": "{num_modules} x {module_size} assembly",
    "dt": "dt {dt}",
    "epochs": "at most {epochs} epochs",
    "limit_train": "first {limit_train} train sequences",
    "limit_test": "first {limit_test} test sequences",
    "row_wise": "row-wise (28 steps of 28 pixels)",
}


def table_text(names, values):
    """The `TABLE_WORDS` of the settings `names` for the run settings `values`.

    Args:
        names: setting names, in the order their words are wanted; those
            without words are skipped.
        values: setting name -> value (a protocol's settings or a record's
            `config`).

    Returns:
        The wordings, comma-separated, each once; a limit or switch that is
        off (None, False) or missing has nothing to say.

    Example:
    >>> table_text(TABLE_WORDS, dict(num_modules=16, module_size=32, dt=0.03,
    ...                              epochs=200, limit_train=None, row_wise=False))
    '16 x 32 assembly, dt 0.03, at most 200 epochs'
    """
    texts = [
        TABLE_WORDS[name].format_map(values)
        for name in names
        if name in TABLE_WORDS
        and values.get(name) is not None
        and values.get(name) is not False
    ]
    return ", ".join(dict.fromkeys(texts))


def lr_drops_flag(text):
    """The epochs of a `--lr-drops` value: `"80,150"` -> (80, 150), `""` -> ().

    Example:
    >>> lr_drops_flag("80, 150"), lr_drops_flag("")
    ((80, 150), ())
    """
    return tuple(int(part) for part in text.split(",") if part.strip())


def lr_drops_words(drops):
    """`drops` as `--lr-drops` takes them: (80, 150) -> `"80,150"`.

    Example:
    >>> lr_drops_flag(lr_drops_words((80, 150)))
    (80, 150)
    """
    return ",".join(map(str, drops))


def words(value):
    """A default as the flags' help writes it: lists space-separated.

    Example:
    >>> words((5, 20)), words(0.001), words(None)
    ('5 20', '0.001', 'None')
    """
    if isinstance(value, (tuple, list)):
        return " ".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def add_shared_arguments(parser, defaults, runs=False):
    """Adds the flags of the model, training and data settings both protocols share.

    Every flag's value lands in `args.<setting>` and defaults to None (a
    switch too), so that a flag left out leaves the setting to the
    protocol's `create`.

    Args:
        parser: an `argparse.ArgumentParser` (or group).
        defaults: setting name -> its default as the help writes it, for
            `num_modules`, `module_size`, `coupling_blocks`, `seeds`, `dt`,
            `epochs`, `batch_size`, `learning_rate`, `optimizer`, `lr_drops`
            and `patience`.
        runs: whether to offer `--runs N` (seeds 0 .. N-1) instead of
            `--seeds` (the caller reads it).
    """
    add = parser.add_argument
    add(
        "--modules",
        dest="num_modules",
        type=int,
        metavar="MODULES",
        help=f"modules p (default: {defaults['num_modules']})",
    )
    add(
        "--units",
        dest="module_size",
        type=int,
        metavar="UNITS",
        help=f"units per module N (default: {defaults['module_size']})",
    )
    add(
        "--coupling-blocks",
        type=int,
        nargs="+",
        metavar="C",
        help="numbers of coupling blocks C, each from 0 to p(p-1)/2 "
        f"(default: {defaults['coupling_blocks']})",
    )
    seeds = parser.add_mutually_exclusive_group() if runs else parser
    seeds.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        help="seeds, one run each: initialisation, coupled pairs, sparse modules and "
        f"shuffling (default: {defaults['seeds']})",
    )
    if runs:
        seeds.add_argument("--runs", type=int, help="number of runs, seeds 0 .. runs-1")
    add("--dt", type=float, help=f"Euler step (default: {defaults['dt']})")
    add("--epochs", type=int, help=f"most epochs per run (default: {defaults['epochs']})")
    add("--batch-size", type=int, help=f"(default: {defaults['batch_size']})")
    add("--learning-rate", type=float, help=f"(default: {defaults['learning_rate']})")
    add("--optimizer", choices=OPTIMIZERS, help=f"(default: {defaults['optimizer']})")
    add(
        "--lr-drops",
        type=lr_drops_flag,
        metavar="E1,E2",
        help="epochs at which the learning rate is multiplied by 0.1; '' for none "
        f"(default: {defaults['lr_drops']})",
    )
    add(
        "--patience",
        type=int,
        help="epochs without a better validation (= test) accuracy before early "
        f"stopping; 0 turns it off (default: {defaults['patience']})",
    )
    add(
        "--readout",
        choices=READOUTS,
        help=f"the read-out of the last state, of {' '.join(READOUTS)}: 'journal' has "
        "no bias and N(0, 1/sqrt(H)) weights as the authors' journal code, 'dense' is "
        "a Keras Dense layer with bias (default: the method's own: journal for the "
        "gated methods, dense for the others)",
    )
    add("--limit-train", type=int, help="use only the first N training sequences (default: all)")
    add("--limit-test", type=int, help="use only the first N test sequences (default: all)")


def add_device_arguments(parser, verbose=None):
    """Adds the flags of how both protocols' runs run: devices and verbosity.

    Args:
        parser: an `argparse.ArgumentParser` (or group).
        verbose: the default of `--verbose` (default: None, the protocol's
            own, 1).
    """
    parser.add_argument(
        "--data-parallel",
        action="store_true",
        default=None,
        help="train data-parallel over all local devices (JAX, TensorFlow; not torch); "
        "--batch-size stays the global batch and must split evenly",
    )
    parser.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=verbose,
        help="Keras fit verbosity: 0, 1 progress bar, 2 a line per epoch "
        f"(default: {1 if verbose is None else verbose})",
    )


def settings_from_args(args, names):
    """The protocol `create` settings `names` as the parsed flags `args` hold them.

    Args:
        args: the parsed flags (an `argparse.Namespace`).
        names: the settings to read, each the `dest` of its flag.

    Returns:
        Setting name -> value, lists as tuples; a flag left out, or one this
        command line does not offer, is None, so that `create` fills in its
        default.
    """
    values = {name: getattr(args, name, None) for name in names}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
