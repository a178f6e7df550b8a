"""Data loaders: (permuted) sequential MNIST and the UCR/UEA archives.

numpy and the standard library only.
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
from keras_rnnofrnns.data.ucr import UCRDataset, UCRSplit, load_ucr

__all__ = [
    "IMAGE_SIDE",
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
