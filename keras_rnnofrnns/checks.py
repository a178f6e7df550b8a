"""Argument checks shared by the package: one wording for every bad-input error.

Numpy scalars pass wherever Python numbers do (`np.int64(2)` is an integer,
`np.float32(0.3)` a real number, `np.True_` a bool); bools are not numbers.
"""

import numbers

import numpy as np

# Seeds go to initializers as seed + a small offset, and JAX takes seeds
# as uint32: this bound leaves room for every offset.
MAX_SEED = 2**31 - 1


def fail(name, value, allowed):
    """Raises the package's ValueError naming the argument, its value and what is allowed."""
    raise ValueError(
        f"Invalid `{name}`: received {name}={value!r}; expected {allowed}."
    )


def check_int(name, value, minimum=None, maximum=None):
    """Returns `value` if it is an int (not a bool) inside [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(name, value, _int_range_text(minimum, maximum))
    if (minimum is not None and value < minimum) or (
        maximum is not None and value > maximum
    ):
        fail(name, value, _int_range_text(minimum, maximum))
    return int(value)


def _int_range_text(minimum, maximum):
    if minimum is not None and maximum is not None:
        return f"an integer from {minimum} to {maximum}"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_positive_float(name, value):
    """Returns `value` as a float if it is a finite real number > 0."""
    if not _is_real(value) or not value > 0 or value == float("inf"):
        fail(name, value, "a finite number > 0")
    return float(value)


def check_real(name, value, minimum, maximum, include_minimum=True, include_maximum=True):
    """Returns `value` as a float if it is a real number in the given interval.

    Example:
    >>> check_real("density", np.float32(0.5), 0, 1, include_minimum=False)
    0.5
    """
    inside = _is_real(value) and (
        (minimum < value if not include_minimum else minimum <= value)
        and (value < maximum if not include_maximum else value <= maximum)
    )
    if not inside:
        left = "[" if include_minimum else "("
        right = "]" if include_maximum else ")"
        fail(name, value, f"a number in {left}{minimum:g}, {maximum:g}{right}")
    return float(value)


def check_bool(name, value):
    """Returns `value` as a bool if it is True or False (numpy's too)."""
    if not isinstance(value, (bool, np.bool_)):
        fail(name, value, "True or False")
    return bool(value)


def check_seed(name, value):
    """Returns `value` if it is an integer seed from 0 to `MAX_SEED`."""
    return check_int(name, value, 0, MAX_SEED)


def check_choice(name, value, choices):
    """Returns `value` if it is one of `choices`."""
    if value not in choices:
        fail(name, value, "one of " + ", ".join(repr(c) for c in choices))
    return value


def check_distinct(name, values):
    """Returns `values` if no value occurs twice (numbers compare by value).

    Example:
    >>> check_distinct("seeds", (0, np.int64(1)))
    (0, np.int64(1))
    >>> check_distinct("seeds", (0, 1, np.int64(0)))
    Traceback (most recent call last):
    ...
    ValueError: Invalid `seeds`: received seeds=(0, 1, np.int64(0)); expected each value once (np.int64(0) is repeated).
    """
    seen = []
    for value in values:
        if value in seen:
            fail(name, values, f"each value once ({value!r} is repeated)")
        seen.append(value)
    return values


def check_number_pair(name, value, minimum, maximum):
    """Returns `value` as a pair of floats `(low, high)`, minimum < low < high <= maximum."""
    allowed = f"a pair (low, high) of numbers with {minimum:g} < low < high <= {maximum:g}"
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        fail(name, value, allowed)
    for item in value:
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            fail(name, value, allowed)
    low, high = float(value[0]), float(value[1])
    if not minimum < low < high <= maximum:
        fail(name, value, allowed)
    return low, high
