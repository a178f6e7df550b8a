"""Hyperparameter search over assemblies with KerasTuner (optional dependency).

`AssemblyHyperModel` is a `keras_tuner.HyperModel` of assembly sequence
classifiers searching the module strategy, the coupling (as a number of
blocks or a density), dt and the learning rate. `run_search` runs a resumable
search on (permuted) sequential MNIST and writes a summary of the best
configurations with a plot of validation accuracy against coupling density.
It also runs as the chief or a worker of a distributed KerasTuner search
(`distributed_worker_id`, docs/tuning.md).

Importing this package without KerasTuner raises an ImportError that says how
to install it (`pip install keras-tuner`).
"""

from keras_rnnofrnns.tuning.hypermodel import (
    DEFAULT_DT,
    DEFAULT_LEARNING_RATE,
    AssemblyHyperModel,
    coupling_density,
)
from keras_rnnofrnns.tuning.search import (
    OBJECTIVE,
    TUNERS,
    SearchResult,
    distributed_worker_id,
    make_tuner,
    markdown_table,
    plot_accuracy_vs_density,
    rank_trials,
    run_search,
    write_search_summary,
)

__all__ = [
    "AssemblyHyperModel",
    "DEFAULT_DT",
    "DEFAULT_LEARNING_RATE",
    "OBJECTIVE",
    "SearchResult",
    "TUNERS",
    "coupling_density",
    "distributed_worker_id",
    "make_tuner",
    "markdown_table",
    "plot_accuracy_vs_density",
    "rank_trials",
    "run_search",
    "write_search_summary",
]
