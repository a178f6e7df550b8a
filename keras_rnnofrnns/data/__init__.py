"""Data loaders for the experiments (numpy and the standard library only).

`TASKS` and `load_task` are the tasks of the experiments (sMNIST and
psMNIST) and how each is loaded; the runner and the hyperparameter search
both load their data through them.
"""

from keras_rnnofrnns.data.mnist import (
    IMAGE_SIDE,
    MNIST_FILES,
    SEQUENCE_LENGTH,
    SequentialMNIST,
    load_sequential_mnist,
    pixel_permutation,
    read_idx,
)
from keras_rnnofrnns.data.tasks import TASKS, Task, TaskData, load_task
from keras_rnnofrnns.data.ucr import UCRDataset, UCRSplit, load_ucr

__all__ = [
    "IMAGE_SIDE",
    "MNIST_FILES",
    "SEQUENCE_LENGTH",
    "SequentialMNIST",
    "TASKS",
    "Task",
    "TaskData",
    "UCRDataset",
    "UCRSplit",
    "load_sequential_mnist",
    "load_task",
    "load_ucr",
    "pixel_permutation",
    "read_idx",
]
