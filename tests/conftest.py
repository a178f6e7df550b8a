"""Shared test settings: quiet Keras, fixed seeds, the MNIST and UCR folders."""

import os

import keras
import numpy as np
import pytest

keras.config.disable_interactive_logging()

STRATEGIES = ("tanh_diag", "clip_diag", "sparse")


@pytest.fixture(autouse=True)
def _fixed_seeds():
    keras.utils.set_random_seed(1234)
    yield
    keras.backend.clear_session()


@pytest.fixture
def mnist_dir():
    path = os.environ.get("MNIST_DIR")
    if not path:
        pytest.skip("MNIST_DIR is not set (CI sets it to ../shared/data/mnist)")
    return path


@pytest.fixture(scope="session")
def ucr_dir():
    # Session-scoped so that module-scoped fixtures can read a data set once.
    path = os.environ.get("UCR_DIR")
    if not path:
        pytest.skip("UCR_DIR is not set (CI sets it to ../shared/data/ucr)")
    return path


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))
