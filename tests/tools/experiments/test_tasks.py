"""Tests for tools.experiments.tasks: the experiments' tasks by name.

They read small synthetic MNIST files written to tmp_path: no data needed.
"""

import re

import numpy as np
import pytest
from conftest import write_mnist_folder

from keras_rnnofrnns.data import pixel_permutation
from tools.experiments.tasks import TASKS, TaskData, load_task


def test_load_task_gives_named_arrays_permuted_and_row_wise(tmp_path):
    labels = write_mnist_folder(tmp_path, n_train=5, n_test=3)["train_labels"]
    plain = load_task("smnist", str(tmp_path))
    assert isinstance(plain, TaskData) and plain.task == "smnist"
    assert plain.permutation is None and plain.source == str(tmp_path)
    assert plain.x_train.shape == (5, 784, 1) and plain.y_test.shape == (3,)
    np.testing.assert_array_equal(plain.y_train, labels.astype(np.int32))
    permuted = load_task("psmnist", str(tmp_path), permutation_seed=3, limit_test=2)
    np.testing.assert_array_equal(permuted.permutation, pixel_permutation(3))
    np.testing.assert_array_equal(permuted.x_train[:, :, 0],
                                  plain.x_train[:, pixel_permutation(3), 0])  # fmt: skip
    assert permuted.x_test.shape == (2, 784, 1)
    rows = load_task("smnist", str(tmp_path), row_wise=True)
    assert rows.x_train.shape == (5, 28, 28)
    np.testing.assert_array_equal(rows.x_train.reshape(5, 784), plain.x_train[:, :, 0])
    assert "TaskData('smnist'" in repr(rows)
    assert {name: task.permuted for name, task in TASKS.items()} == {
        "smnist": False, "psmnist": True
    }


@pytest.mark.parametrize(
    "task, options, message",
    [("mnist", {}, "Invalid `task`: received task='mnist'; expected one of 'smnist', "
                   "'psmnist'"),
     ("smnist", {"row_wise": "yes"},
      "Invalid `row_wise`: received row_wise='yes'; expected True or False"),
     ("psmnist", {"permutation_seed": -1}, "seed must be a non-negative integer, got -1")],
)  # fmt: skip
def test_load_task_refuses_bad_arguments_by_name(task, options, message, tmp_path):
    with pytest.raises(ValueError, match=re.escape(message)):
        load_task(task, str(tmp_path), **options)
