"""Hyperparameter search over assemblies with KerasTuner (optional dependency).

`AssemblyHyperModel` is a `keras_tuner.HyperModel` of assembly sequence
classifiers searching the module strategy, the coupling (as a number of
blocks or a density), dt and the learning rate; use it with any KerasTuner
tuner. The repository's `examples/tune.py` runs resumable searches with it
(docs/tuning.md).

Importing this package without KerasTuner raises an ImportError that says how
to install it (`pip install keras-tuner`).
"""

from keras_rnnofrnns.tuning.hypermodel import (
    DEFAULT_DT,
    DEFAULT_LEARNING_RATE,
    TUNED,
    AssemblyHyperModel,
    coupling_density,
)

__all__ = ["AssemblyHyperModel", "DEFAULT_DT", "DEFAULT_LEARNING_RATE", "TUNED", "coupling_density"]
