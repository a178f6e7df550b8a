"""AssemblyHyperModel: a KerasTuner search space around the sequence classifier."""

import inspect
import math
import numbers

try:
    import keras_tuner
except ImportError:  # keras-tuner is an optional dependency of the package.
    raise ImportError(
        "keras_rnnofrnns.tuning needs KerasTuner, which is not installed. "
        "Install it with `pip install keras-tuner` (or `pip install "
        "keras-rnnofrnns[tuning]`)."
    ) from None

from keras_rnnofrnns.checks import fail, check_choice, check_int, check_positive_float
from keras_rnnofrnns.coupling.topology import max_coupling_blocks
from keras_rnnofrnns.models import METHODS, PAPER_METHODS, sequence_classifier

# Search ranges used when the user does not narrow a dimension. dt and the
# learning rate are scales, so they are searched on a log scale around the
# paper's values (dt 0.03, Adam's 1e-3).
DEFAULT_DT = (0.01, 0.1)
DEFAULT_LEARNING_RATE = (1e-4, 1e-2)

# Names of the hyperparameters, as they appear in the trials.
TUNED = ("method", "coupling_blocks", "dt", "learning_rate")
RECORDED = ("num_modules", "module_size")

# What `**classifier_arguments` may hold: sequence_classifier's arguments that
# are neither searched nor recorded (the model is always compiled).
_CLASSIFIER_ARGUMENTS = frozenset(inspect.signature(sequence_classifier).parameters) - {
    *TUNED,
    *RECORDED,
    "compile",
}

_SPEC_TEXT = "a single value, a non-empty list of choices or a (min, max) tuple"


def coupling_density(coupling_blocks, num_modules):
    """Fraction of the p(p-1)/2 module pairs that `coupling_blocks` couples.

    Args:
        coupling_blocks: C, an int from 0 to p(p-1)/2.
        num_modules: p >= 1.

    Returns:
        C / (p(p-1)/2) as a float in [0, 1]; 0.0 for a single module, which
        has no pair to couple.

    Example:
    >>> coupling_density(20, 16)
    0.16666666666666666
    """
    limit = max_coupling_blocks(check_int("num_modules", num_modules, 1))
    coupling_blocks = check_int("coupling_blocks", coupling_blocks, 0, limit)
    return coupling_blocks / limit if limit else 0.0


def portable_space_configs(hp):
    """The config of each hyperparameter of `hp`, as KerasTuner's gRPC round trip leaves it.

    A distributed search sends the space from the chief to its workers as a
    protocol buffer, which fills in what the Python objects leave unset (an
    `Int` range's `default` None arrives as its minimum). Comparing two
    spaces after the same round trip compares what both sides can see: the
    names, kinds, bounds, choices, values and samplings.

    Args:
        hp: a `keras_tuner.HyperParameters`.

    Returns:
        A dict: hyperparameter name -> its `get_config()` after a round trip
        through `HyperParameters.to_proto` / `from_proto`.

    Example:
    >>> import keras_tuner
    >>> hp = keras_tuner.HyperParameters()
    >>> _ = hp.Int("coupling_blocks", 0, 6)
    >>> hp.space[0].get_config()["default"] is None
    True
    >>> portable_space_configs(hp)["coupling_blocks"]["default"]
    0
    """
    portable = keras_tuner.HyperParameters.from_proto(hp.to_proto())
    return {parameter.name: parameter.get_config() for parameter in portable.space}


def _dimension(name, spec, check, allow_range=True):
    """Normalises a user's spec to `(kind, payload)`.

    `kind` is "fixed" (payload: the value), "choice" (a list of values) or
    "range" (a `(low, high)` tuple); `check(value)` validates and converts one
    value. A range whose ends are equal is a fixed value: KerasTuner rejects
    empty ranges, and a single value is what the user meant.
    """
    if isinstance(spec, tuple):
        if not allow_range:
            fail(name, spec, "a single value or a non-empty list of choices")
        if len(spec) != 2:
            fail(name, spec, _SPEC_TEXT)
        low, high = check(spec[0]), check(spec[1])
        if low > high:
            fail(name, spec, "a (min, max) tuple with min <= max")
        return ("fixed", low) if low == high else ("range", (low, high))
    if isinstance(spec, list):
        if not spec:
            fail(name, spec, _SPEC_TEXT)
        values = list(dict.fromkeys(check(value) for value in spec))
        return ("fixed", values[0]) if len(values) == 1 else ("choice", values)
    return ("fixed", check(spec))


def _declare(hp, name, dimension):
    """Registers one dimension on `hp` (or reads it back) and returns its value.

    Float ranges (dt, learning rate) are scales: searched on a log scale.
    """
    kind, payload = dimension
    if kind == "fixed":
        return hp.Fixed(name, payload)
    if kind == "choice":
        return hp.Choice(name, payload)
    low, high = payload
    if isinstance(low, int):
        return hp.Int(name, low, high)
    return hp.Float(name, low, high, sampling="log")


class AssemblyHyperModel(keras_tuner.HyperModel):
    """A KerasTuner `HyperModel` of assembly sequence classifiers.

    Each trial builds `sequence_classifier(...)` (an assembly of `num_modules`
    x `module_size` units, a linear read-out, compiled with sparse categorical
    cross-entropy and accuracy) with values drawn from four dimensions:

    - `method`: the module strategy, a key of `METHODS` (`"scn-3"`,
      `"scn-30"`, `"adadiag-tanh"`, `"adadiag-clip"`);
    - `coupling_blocks`: C, the number of coupled module pairs, an int from 0
      to p(p-1)/2. It can be given instead as `coupling_density`, a fraction
      of the p(p-1)/2 pairs; densities are turned into the nearest C up front,
      so the search always runs over the C the models really get;
    - `dt`: the Euler step (log scale);
    - `learning_rate`: of the optimizer (log scale).

    Each dimension argument takes a single value (the dimension is fixed), a
    list (a choice among those values) or a `(min, max)` tuple (a range;
    `method` has no range). `None` keeps the default: the paper's four methods, C from 0
    to p(p-1)/2, dt in `DEFAULT_DT`, learning rate in `DEFAULT_LEARNING_RATE`.
    Every trial also records `num_modules` and `module_size` as fixed
    hyperparameters, so a trial alone says its coupling density,
    `coupling_density(C, num_modules)`.

    Args:
        num_modules: p >= 1, modules of the assembly.
        module_size: N >= 1, units per module.
        method: spec of the module strategy; default the paper's four (`PAPER_METHODS`).
        coupling_blocks: spec of C in [0, p(p-1)/2]; default the full range.
        coupling_density: spec of C as a fraction in [0, 1] of p(p-1)/2
            (rounded to the nearest C, halves up); give it or
            `coupling_blocks`, not both.
        dt: spec of the Euler step, each value > 0; default `DEFAULT_DT`.
        learning_rate: spec of the learning rate, each value > 0; default
            `DEFAULT_LEARNING_RATE`.
        **classifier_arguments: fixed arguments of `sequence_classifier`
            (`tau`, `seed`, `sequence_length`, `input_dim`, `num_classes`,
            `optimizer`, `fast`).

    Raises:
        ValueError: on a bad spec, e.g. C above p(p-1)/2, a density outside
            [0, 1], an unknown method, a dt or learning rate <= 0, a range
            with min > max, or both `coupling_blocks` and `coupling_density`.

    Example:
    >>> import keras_tuner
    >>> hypermodel = AssemblyHyperModel(num_modules=4, module_size=4,
    ...                                 method=["adadiag-tanh", "scn-30"],
    ...                                 coupling_density=(0.0, 0.5),
    ...                                 dt=0.03, sequence_length=28)
    >>> hp = keras_tuner.HyperParameters()
    >>> model = hypermodel.build(hp)
    >>> sorted(hp.values)
    ['coupling_blocks', 'dt', 'learning_rate', 'method', 'module_size', 'num_modules']
    >>> hp.values["coupling_blocks"] in range(0, 4)
    True
    """

    def __init__(
        self,
        num_modules=16,
        module_size=32,
        method=None,
        coupling_blocks=None,
        coupling_density=None,
        dt=None,
        learning_rate=None,
        name=None,
        tunable=True,
        **classifier_arguments,
    ):
        super().__init__(name=name, tunable=tunable)
        self.num_modules = check_int("num_modules", num_modules, 1)
        self.module_size = check_int("module_size", module_size, 1)
        self.max_coupling_blocks = max_coupling_blocks(self.num_modules)
        unknown = sorted(set(classifier_arguments) - _CLASSIFIER_ARGUMENTS)
        if unknown:
            raise TypeError(
                f"AssemblyHyperModel got unexpected keyword arguments {unknown}; "
                f"the fixed classifier arguments are {sorted(_CLASSIFIER_ARGUMENTS)}."
            )
        self.classifier_arguments = classifier_arguments

        self.dimensions = {
            "method": _dimension(
                "method",
                list(PAPER_METHODS) if method is None else method,
                lambda value: check_choice("method", value, tuple(METHODS)),
                allow_range=False,
            ),
            "coupling_blocks": self._coupling_dimension(coupling_blocks, coupling_density),
            "dt": _dimension(
                "dt", DEFAULT_DT if dt is None else dt, lambda v: check_positive_float("dt", v)
            ),
            "learning_rate": _dimension(
                "learning_rate",
                DEFAULT_LEARNING_RATE if learning_rate is None else learning_rate,
                lambda v: check_positive_float("learning_rate", v),
            ),
        }

    def _coupling_dimension(self, coupling_blocks, density):
        limit = self.max_coupling_blocks
        if coupling_blocks is not None and density is not None:
            fail(
                "coupling_density",
                density,
                "None when `coupling_blocks` is given (give the coupling as a "
                "count or as a density, not both)",
            )

        def check_blocks(value):
            integer = isinstance(value, numbers.Integral) and not isinstance(value, bool)
            if not integer or not 0 <= value <= limit:
                fail(
                    "coupling_blocks",
                    value,
                    f"an integer from 0 to {limit} = p(p-1)/2, the number of "
                    f"module pairs for num_modules={self.num_modules}",
                )
            return int(value)

        if density is None:
            spec = (0, limit) if coupling_blocks is None else coupling_blocks
            return _dimension("coupling_blocks", spec, check_blocks)

        def density_to_blocks(value):
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not 0.0 <= value <= 1.0
            ):
                fail("coupling_density", value, "a number from 0 to 1")
            # Round halves up: Python's round() would send 0.5 * 5 to 2.
            return int(math.floor(value * limit + 0.5))

        return _dimension("coupling_density", density, density_to_blocks)

    def declare_hyperparameters(self, hp):
        """Registers the search space on `hp` (KerasTuner calls it once)."""
        self._values(hp)

    def _values(self, hp):
        values = {
            "num_modules": hp.Fixed("num_modules", self.num_modules),
            "module_size": hp.Fixed("module_size", self.module_size),
        }
        for name, dimension in self.dimensions.items():
            values[name] = _declare(hp, name, dimension)
        return values

    def check_space(self, hp):
        """Raises if `hp` holds this hypermodel's dimensions with other bounds.

        A resumed search keeps the space stored in its folder: KerasTuner
        reads a dimension that already exists instead of redefining it, so a
        search resumed with other settings would silently ignore them.

        Both spaces are compared as they come out of KerasTuner's gRPC round
        trip (`portable_space_configs`), so a worker of a distributed search,
        which reads the chief's space through that round trip, sees the same
        space as the chief, while a different bound or value still differs.

        Args:
            hp: a `keras_tuner.HyperParameters`, e.g. `tuner.oracle.get_space()`.

        Raises:
            keras_tuner.errors.FatalValueError (a ValueError): naming the
                first dimension whose stored definition differs.

        Example:
        >>> import keras_tuner
        >>> stored = keras_tuner.HyperParameters()
        >>> AssemblyHyperModel(2, 4, dt=0.03).declare_hyperparameters(stored)
        >>> AssemblyHyperModel(2, 4, dt=0.03).check_space(stored)
        >>> AssemblyHyperModel(2, 4, dt=0.05).check_space(stored)
        Traceback (most recent call last):
        ...
        keras_tuner.src.errors.FatalValueError: Invalid search space: `dt` is stored as ...
        """
        expected = keras_tuner.HyperParameters()
        self._values(expected)
        stored = portable_space_configs(hp)
        for name, config in portable_space_configs(expected).items():
            if name in stored and stored[name] != config:
                raise keras_tuner.errors.FatalValueError(
                    f"Invalid search space: `{name}` is stored as "
                    f"{stored[name]} but this hypermodel defines "
                    f"{config}. A search resumes with the space it started "
                    "with; use another directory or project name (or "
                    "overwrite) to search a different space."
                )

    def build(self, hp):
        """Builds and compiles the classifier of the trial's values.

        Args:
            hp: a `keras_tuner.HyperParameters`.

        Returns:
            A compiled `keras.Model` from `sequence_classifier`.
        """
        self.check_space(hp)
        values = self._values(hp)
        return sequence_classifier(
            method=values["method"],
            num_modules=self.num_modules,
            module_size=self.module_size,
            coupling_blocks=values["coupling_blocks"],
            dt=values["dt"],
            learning_rate=values["learning_rate"],
            **self.classifier_arguments,
        )
