"""The tasks of the experiments by name, and how each is loaded.

sMNIST and psMNIST are MNIST read pixel by pixel, the second with one fixed
permutation of the pixels; the experiment runner, its launchers and the
hyperparameter search all load them through `load_task`.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from keras_rnnofrnns.checks import check_bool, check_choice
from keras_rnnofrnns.data import IMAGE_SIDE, load_sequential_mnist

__all__ = ["TASKS", "Task", "TaskData", "load_task"]


@dataclasses.dataclass(frozen=True)
class Task:
    """One task of the experiments.

    Attributes:
        name: the task's name on command lines, in records and file names.
        label: how tables and figures print it.
        permuted: whether the pixels are permuted (`pixel_permutation`).
    """

    name: str
    label: str
    permuted: bool


TASKS = {
    task.name: task
    for task in (
        Task("smnist", "sMNIST", permuted=False),
        Task("psmnist", "psMNIST", permuted=True),
    )
}


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class TaskData:
    """The train and test arrays of one task, ready for `fit`.

    ``eq=False``: the fields are numpy arrays, whose ``==`` is elementwise.

    Attributes:
        task: the task's name (a key of `TASKS`, or a dataset's name).
        x_train: float32 array of shape ``(n_train, steps, features)``.
        y_train: int32 array of shape ``(n_train,)``.
        x_test: float32 array of shape ``(n_test, steps, features)``.
        y_test: int32 array of shape ``(n_test,)``.
        source: where the data came from: a folder, ``"tensorflow-datasets"``,
            or a dataset's metadata (a dict).
        permutation: the pixel permutation of a permuted task, else None.
    """

    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: object
    permutation: np.ndarray | None = None

    def __repr__(self) -> str:
        # The default repr would dump four large arrays; shapes say enough.
        return (
            f"TaskData({self.task!r}, x_train={self.x_train.shape}, "
            f"x_test={self.x_test.shape})"
        )


def load_task(
    task: str,
    data_dir: str | os.PathLike | None = None,
    *,
    permutation_seed: int = 0,
    limit_train: int | None = None,
    limit_test: int | None = None,
    row_wise: bool = False,
) -> TaskData:
    """Loads sMNIST (`"smnist"`) or permuted sMNIST (`"psmnist"`).

    Args:
        task: a key of `TASKS`.
        data_dir: folder of the MNIST idx files; None uses `MNIST_DIR` (see
            `load_sequential_mnist`).
        permutation_seed: seed of the pixel permutation of a permuted task.
        limit_train, limit_test: keep only the first examples of each split,
            or None for all.
        row_wise: read each image as 28 steps of 28 pixels instead of 784
            steps of one pixel (a speed option, not the paper's task).

    Returns:
        A `TaskData`.

    Raises:
        ValueError: for an unknown task or a bad seed or limit (naming the
            argument), or damaged files (see `load_sequential_mnist`).

    Example:
    >>> data = load_task("psmnist", limit_train=8, limit_test=4, row_wise=True)
    >>> data.task, data.x_train.shape, data.permutation is not None
    ('psmnist', (8, 28, 28), True)
    """
    check_choice("task", task, tuple(TASKS))
    check_bool("row_wise", row_wise)
    data = load_sequential_mnist(
        data_dir,
        permuted=TASKS[task].permuted,
        permutation_seed=permutation_seed,
        limit_train=limit_train,
        limit_test=limit_test,
    )
    x_train, x_test = data.x_train, data.x_test
    if row_wise:
        x_train = x_train.reshape(len(x_train), IMAGE_SIDE, IMAGE_SIDE)
        x_test = x_test.reshape(len(x_test), IMAGE_SIDE, IMAGE_SIDE)
    return TaskData(
        task=task,
        x_train=x_train,
        y_train=data.y_train,
        x_test=x_test,
        y_test=data.y_test,
        source=data.source,
        permutation=data.permutation,
    )
