"""Stops an example with one line when Keras's backend is not installed.

Every example imports this module first, before anything imports Keras:
Keras imports its backend at import time, and a missing one (say the default,
TensorFlow, after installing only JAX) would end in a long traceback, on
`--help` too. Importing this module exits with status 2 and one line that
says what to do instead.

It also puts the checkout's root first on `sys.path`: the experiment harness
(`tools/`) ships with the repository, not the wheel, and the examples import
it from the checkout they run from.
"""

import importlib.util
import json
import os
import sys

# The module each Keras backend imports.
BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy"}
# The backends the package supports, in the order they are suggested.
SUPPORTED = ("jax", "torch", "tensorflow")


def _importable(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def configured_backend():
    """The backend Keras will load, and where that choice comes from.

    As Keras decides: `KERAS_BACKEND`, else the `backend` of `keras.json` in
    `KERAS_HOME` (default `~/.keras`), else TensorFlow.

    Returns:
        A pair (backend name, a description of its source).
    """
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "KERAS_BACKEND"
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    path = os.path.join(home, "keras.json")
    try:
        with open(path) as f:
            backend = json.load(f).get("backend")
    except (OSError, ValueError, AttributeError):
        backend = None
    if backend:
        return backend, path
    return "tensorflow", "Keras's default, KERAS_BACKEND being unset"


def missing_backend_message():
    """One line saying what to do when the configured backend cannot be imported, else None."""
    backend, source = configured_backend()
    module = BACKEND_MODULES.get(backend, backend)
    if _importable(module):
        return None
    installed = [name for name in SUPPORTED if name != backend and _importable(name)]
    if installed:
        advice = f"set KERAS_BACKEND={installed[0]} (or install {module})"
    else:
        advice = f"install {module}, or another backend and set KERAS_BACKEND to it"
    return (
        f"Keras backend {backend!r} (from {source}) is not installed: no module named "
        f"{module!r}; {advice}."
    )


_message = missing_backend_message()
if _message is not None:
    print(_message, file=sys.stderr)
    sys.exit(2)

# After the check, so that a missing backend is reported before anything else.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
