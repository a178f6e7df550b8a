"""Data loaders for the experiments (numpy and the standard library only)."""

from keras_rnnofrnns.data.mnist import (
    MNIST_FILES,
    SEQUENCE_LENGTH,
    SequentialMNIST,
    load_sequential_mnist,
    pixel_permutation,
    read_idx,
)

__all__ = [
    "MNIST_FILES",
    "SEQUENCE_LENGTH",
    "SequentialMNIST",
    "load_sequential_mnist",
    "pixel_permutation",
    "read_idx",
]
