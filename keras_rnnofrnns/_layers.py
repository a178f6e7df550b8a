"""Small helpers shared by the package's layers."""


def add_constant_weight(layer, name, value):
    """Adds a non-trainable weight holding the numpy array `value`.

    Fixed arrays (sparse module matrices, metrics, pair selections) live in
    weights rather than host constants so they are saved with the model,
    placed on the right device, and never cross from numpy into a traced
    step. The value is assigned after creation: Keras's `Constant`
    initializer is meant for scalars.
    """
    weight = layer.add_weight(
        shape=value.shape, initializer="zeros", trainable=False, name=name
    )
    weight.assign(value)
    return weight
