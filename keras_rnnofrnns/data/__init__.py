"""Data loaders for the experiments (numpy and the standard library only)."""

from keras_rnnofrnns.data.mnist import (
    MNIST_FILES,
    SEQUENCE_LENGTH,
    SequentialMNIST,
    load_sequential_mnist,
    pixel_permutation,
    read_idx,
)
from keras_rnnofrnns.data.ucr import UCRDataset, UCRSplit, load_ucr

__all__ = [
    "MNIST_FILES",
    "SEQUENCE_LENGTH",
    "SequentialMNIST",
    "UCRDataset",
    "UCRSplit",
    "load_sequential_mnist",
    "load_ucr",
    "pixel_permutation",
    "read_idx",
]
