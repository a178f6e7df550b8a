"""The settings of the experiment protocol, each declared once.

`SETTINGS` is the one list of what a `Protocol` can be told: each `Setting`
names its attribute and command-line flag, the value of the paper's
protocol and of `--quick`, how a bad value is refused, whether runs record
it, and how the reproduction table words a run that differs from the paper.
The `Protocol` fields and their defaults (`protocol_fields`), its checks, the
flags (`add_setting_arguments`), the parsed flags' settings
(`settings_from_args`), the keys that make runs comparable (`PROTOCOL_KEYS`)
and the table's protocol line are all read from it, so a new setting is one
more entry here.
"""

import dataclasses

from keras_rnnofrnns.checks import (
    check_bool,
    check_choice,
    check_distinct,
    check_int,
    check_positive_float,
    check_seed,
)
from keras_rnnofrnns.coupling.topology import max_coupling_blocks
from keras_rnnofrnns.models import METHODS, OPTIMIZERS, PAPER_METHODS, READOUTS

# `Setting.quick` when --quick keeps the paper's value.
_PAPER = object()


def at_least(minimum):
    """The check of an integer setting >= `minimum`."""
    return lambda protocol, name, value: check_int(name, value, minimum)


def _optional(check):
    def check_optional(protocol, name, value):
        if value is not None:
            check(protocol, name, value)

    return check_optional


def _each(check, name=None):
    # Errors about one item of a list name the item ("seed"), not the list.
    # A repeated item would train the same run twice, side by side.
    def check_each(protocol, setting_name, values):
        for value in values:
            check(protocol, name or setting_name, value)
        check_distinct(setting_name, values)

    return check_each


def _choice(choices):
    return lambda protocol, name, value: check_choice(name, value, choices)


def _positive(protocol, name, value):
    check_positive_float(name, value)


def switch(protocol, name, value):
    """The check of a True / False setting."""
    check_bool(name, value)


def _method(protocol, name, value):
    check_choice(name, value, protocol.method_names())


def _coupling_blocks(protocol, name, value):
    check_int(name, value, 0, max_coupling_blocks(protocol.num_modules))


def _seed(protocol, name, value):
    check_seed(name, value)


def _int_list(text):
    return tuple(int(part) for part in text.split(",") if part.strip())


def _words(value):
    if isinstance(value, (tuple, list)):
        return " ".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting of the protocol: its value, its flag, its check, its record.

    Attributes:
        name: the `Protocol` attribute and `Protocol.create` argument.
        flag: the command-line flag (its value lands in `args.<name>`).
        default: the value of the paper's protocol (for the settings of a
            derived protocol, that protocol's own).
        help: the flag's help; `{default}` stands for the default value as
            text, `{choices}` for the allowed values.
        check: `check(protocol, name, value)` raises a ValueError naming
            the setting, the value and what is allowed.
        quick: the value `--quick` gives it (default: `default`).
        type: what one value on the command line is read as; None for text.
        nargs: `"+"` for a list of values.
        choices: the values the flag accepts, None for any.
        metavar: how the help names the flag's value.
        words: how the help writes the default (`str`, lists space-separated).
        recorded: whether every run records it in its `config`; runs are
            averaged together only when these all agree (`PROTOCOL_KEYS`).
        table: how the reproduction table words this setting of a run (a
            format string over the run's settings), written as a footnote
            when the run's value differs from `default` and on the table's
            protocol line when the paper sets one; None: not in the table.
    """

    name: str
    flag: str
    default: object
    help: str
    check: object
    quick: object = _PAPER
    type: object = None
    nargs: str = None
    choices: tuple = None
    metavar: str = None
    words: object = _words
    recorded: bool = False
    table: str = None

    def quick_default(self):
        """The value `--quick` gives the setting."""
        return self.default if self.quick is _PAPER else self.quick

    def add_argument(self, parser, default_text=None, **options):
        """Adds the setting's flag to `parser` (an argparse parser or group).

        Args:
            parser: what `add_argument` is called on.
            default_text: the default as the help writes it (default: the
                setting's own `default`, in `words`).
            **options: `add_argument` options that replace the setting's
                (e.g. `choices`, `required`, `default`, `help`).
        """
        choices = options.get("choices", self.choices)
        text = self.words(self.default) if default_text is None else default_text
        help_text = options.pop("help", self.help)
        arguments = dict(
            dest=self.name,
            # None: a flag left out leaves the setting to `Protocol.create`.
            default=None,
            help=help_text.format(
                default=text, choices=" ".join(map(str, choices or ()))
            ),
        )
        if isinstance(self.default, bool):
            arguments["action"] = "store_true"
        else:
            arguments.update(type=self.type, nargs=self.nargs, choices=self.choices)
            # Named after the flag, not after `dest`; a list of choices names itself.
            metavar = self.metavar or (None if self.choices else self.flag[2:].upper())
            if metavar:
                arguments["metavar"] = metavar.replace("-", "_")
        arguments.update(options)
        parser.add_argument(self.flag, **arguments)

    def from_flag(self, value):
        """The `Protocol.create` value of the flag's parsed `value`."""
        return tuple(value) if isinstance(value, list) else value

    def record_value(self, value):
        """The value as a run's record stores it (JSON: lists, not tuples)."""
        return list(value) if isinstance(value, tuple) else value

    def differs(self, value):
        """Whether a run's recorded `value` differs from `default`.

        A switch missing from an older record (None) was off.
        """
        if isinstance(self.default, bool):
            value = bool(value)
        return value != self.default


# The protocol of the paper's Table 1. The paper gives neither the optimizer,
# the learning rate, the batch size, the learning-rate schedule nor the early
# stopping patience: those defaults are ours. The quick values make one small
# run that clearly learns within two minutes on a laptop CPU. They were chosen
# among 17 settings by the psMNIST accuracy on 1000 held-out training images
# (50000-50999), never on the test split; the measured test accuracy and time
# are in docs/experiments.md.
SETTINGS = (
    Setting(
        "methods", "--method", PAPER_METHODS,
        "methods, of {choices} (default: {default})",
        _each(_method, "method"), quick=("adadiag-gated-cayley",), nargs="+",
        choices=tuple(METHODS), metavar="M",
    ),
    Setting(
        "num_modules", "--modules", 16, "modules p (default: {default})",
        at_least(1), quick=4, type=int, recorded=True,
        table="{num_modules} x {module_size} assembly",
    ),
    Setting(
        "module_size", "--units", 32, "units per module N (default: {default})",
        at_least(1), quick=16, type=int, recorded=True,
        table="{num_modules} x {module_size} assembly",
    ),
    Setting(
        "coupling_blocks", "--coupling-blocks", (5, 20),
        "numbers of coupling blocks C, each from 0 to p(p-1)/2 (default: {default})",
        _each(_coupling_blocks), quick=(5,), type=int, nargs="+", metavar="C",
    ),
    Setting(
        "seeds", "--seeds", (0, 1, 2), "seeds, one run each: initialisation, coupled pairs, sparse modules and "
        "shuffling (default: {default})",
        _each(_seed, "seed"), quick=(0,), type=int, nargs="+",
    ),
    Setting(
        "dt", "--dt", 0.03, "Euler step (default: {default})", _positive,
        type=float, recorded=True, table="dt {dt}",
    ),
    Setting(
        "epochs", "--epochs", 200, "most epochs per run (default: {default})",
        at_least(1), quick=4, type=int, recorded=True, table="at most {epochs} epochs",
    ),
    Setting(
        "batch_size", "--batch-size", 128, "(default: {default})", at_least(1),
        quick=64, type=int, recorded=True,
    ),
    Setting(
        "learning_rate", "--learning-rate", 1e-3, "(default: {default})", _positive,
        quick=3e-2, type=float, recorded=True,
    ),
    Setting(
        "optimizer", "--optimizer", "adam", "(default: {default})",
        _choice(OPTIMIZERS), choices=OPTIMIZERS, recorded=True,
    ),
    Setting(
        "lr_drops", "--lr-drops", (80, 150),
        "epochs at which the learning rate is multiplied by 0.1; '' for none "
        "(default: {default})",
        _each(at_least(1)), quick=(3,), type=_int_list, metavar="E1,E2",
        words=lambda drops: ",".join(map(str, drops)), recorded=True,
    ),
    Setting(
        "patience", "--patience", 20,
        "epochs without a better validation (= test) accuracy before early "
        "stopping; 0 turns it off (default: {default})",
        at_least(0), type=int, recorded=True,
    ),
    Setting(
        "readout", "--readout", None,
        "the read-out of the last state, of {choices}: 'journal' has no bias and "
        "N(0, 1/sqrt(H)) weights as the authors' journal code, 'dense' is a Keras "
        "Dense layer with bias (default: the method's own: journal for the gated "
        "methods, dense for the others)",
        _optional(_choice(READOUTS)), choices=READOUTS, recorded=True,
    ),
    Setting(
        "limit_train", "--limit-train", None,
        "use only the first N training sequences (default: all)",
        _optional(at_least(1)), quick=8000, type=int, recorded=True,
        table="first {limit_train} train sequences",
    ),
    Setting(
        "limit_test", "--limit-test", None,
        "use only the first N test sequences (default: all)",
        _optional(at_least(1)), quick=1000, type=int, recorded=True,
        table="first {limit_test} test sequences",
    ),
    Setting(
        "row_wise", "--row-wise", False,
        "read each image as 28 steps of 28 pixels instead of 784 steps of one "
        "pixel: a speed option for smoke tests, not the paper's task",
        switch, recorded=True, table="row-wise (28 steps of 28 pixels)",
    ),
    Setting(
        "permutation_seed", "--permutation-seed", 0,
        "seed of the fixed pixel permutation (default: {default})",
        at_least(0), type=int, recorded=True,
    ),
    Setting(
        "data_dir", "--data-dir", None,
        "folder with the four MNIST idx files (default: $MNIST_DIR)",
        lambda protocol, name, value: None,
    ),
    # Data parallelism changes results only by float rounding: not recorded.
    Setting(
        "data_parallel", "--data-parallel", False,
        "train data-parallel over all local devices (JAX, TensorFlow; not torch); "
        "--batch-size stays the global batch and must split evenly",
        switch,
    ),
    Setting(
        "verbose", "--verbose", 1,
        "Keras fit verbosity: 0, 1 progress bar, 2 a line per epoch (default: {default})",
        _choice((0, 1, 2)), type=int, choices=(0, 1, 2),
    ),
)

# The settings a run's record keeps that make two runs comparable: runs are
# averaged together only when all of these agree.
PROTOCOL_KEYS = tuple(setting.name for setting in SETTINGS if setting.recorded)

PAPER_DEFAULTS = {setting.name: setting.default for setting in SETTINGS}

QUICK_DEFAULTS = {setting.name: setting.quick_default() for setting in SETTINGS}


def protocol_fields(settings):
    """Class decorator: one dataclass field per setting, defaulting to its `default`.

    The class keeps the fields of its own body (those without a default
    first) and gets `SETTINGS`, its base's settings followed by `settings`;
    it becomes a frozen dataclass.

    Args:
        settings: the `Setting`s the class adds.

    Returns:
        The decorator.
    """

    def decorate(cls):
        annotations = dict(cls.__dict__.get("__annotations__", {}))
        for setting in settings:
            annotations[setting.name] = type(setting.default)
            setattr(cls, setting.name, setting.default)
        cls.__annotations__ = annotations
        cls.SETTINGS = tuple(getattr(cls, "SETTINGS", ())) + tuple(settings)
        return dataclasses.dataclass(frozen=True)(cls)

    return decorate


def check_settings(protocol):
    """Checks every setting of `protocol` in declaration order.

    Raises:
        ValueError: naming the first bad setting, its value and what is allowed.
    """
    for setting in protocol.SETTINGS:
        setting.check(protocol, setting.name, getattr(protocol, setting.name))


def add_setting_arguments(parser, settings, default_texts=None, **options):
    """Adds the flags of `settings` to `parser`.

    Args:
        parser: an `argparse.ArgumentParser` (or group).
        settings: the `Setting`s, in the order their flags are listed.
        default_texts: setting name -> how the help writes its default,
            where it is not the setting's own `default`.
        **options: setting name -> dict of `add_argument` options that
            replace the setting's own.
    """
    default_texts = default_texts or {}
    for setting in settings:
        setting.add_argument(
            parser, default_texts.get(setting.name), **options.get(setting.name, {})
        )


def settings_from_args(args, settings):
    """The `Protocol.create` settings that the flags of `settings` hold in `args`.

    Flags left out (and settings without a flag in `args`) are None, so
    `Protocol.create` fills in its defaults.
    """
    return {s.name: s.from_flag(getattr(args, s.name, None)) for s in settings}


def table_text(settings, values):
    """The `table` wordings of `settings` for the run settings `values`, in order.

    Example:
    >>> table_text(SETTINGS, PAPER_DEFAULTS)
    '16 x 32 assembly, dt 0.03, at most 200 epochs'
    """
    texts = [
        s.table.format_map(values)
        for s in settings
        # A limit or switch that is off (None, False) has nothing to say.
        if s.table and values.get(s.name) is not None and values.get(s.name) is not False
    ]
    return ", ".join(dict.fromkeys(texts))
