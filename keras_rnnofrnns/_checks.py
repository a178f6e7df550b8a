"""Argument checks shared by the package: one wording for every bad-input error."""

import numbers


def _fail(name, value, allowed):
    raise ValueError(
        f"Invalid `{name}`: received {name}={value!r}; expected {allowed}."
    )


def check_int(name, value, minimum=None, maximum=None):
    """Returns `value` if it is an int (not a bool) inside [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        _fail(name, value, _int_range_text(minimum, maximum))
    if (minimum is not None and value < minimum) or (
        maximum is not None and value > maximum
    ):
        _fail(name, value, _int_range_text(minimum, maximum))
    return int(value)


def _int_range_text(minimum, maximum):
    if minimum is not None and maximum is not None:
        return f"an integer from {minimum} to {maximum}"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"


def check_positive_float(name, value):
    """Returns `value` as a float if it is a finite real number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not value > 0
        or value == float("inf")
    ):
        _fail(name, value, "a finite number > 0")
    return float(value)


def check_choice(name, value, choices):
    """Returns `value` if it is one of `choices`."""
    if value not in choices:
        _fail(name, value, "one of " + ", ".join(repr(c) for c in choices))
    return value


def check_number_pair(name, value, minimum, maximum):
    """Returns `value` as a pair of floats `(low, high)`, minimum < low < high <= maximum."""
    allowed = f"a pair (low, high) of numbers with {minimum:g} < low < high <= {maximum:g}"
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        _fail(name, value, allowed)
    for item in value:
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            _fail(name, value, allowed)
    low, high = float(value[0]), float(value[1])
    if not minimum < low < high <= maximum:
        _fail(name, value, allowed)
    return low, high
