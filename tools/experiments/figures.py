"""Figures of a trained assembly, like Fig. 2 of the paper."""

import math

import numpy as np

from tools.experiments.storage import atomic_write
from keras_rnnofrnns.cells import find_assembly_cell


def _pyplot():
    # Imported on demand so that the package needs no matplotlib, and with the
    # Agg backend so that figures render on machines without a display.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def coupling_blocks(cell):
    """The coupling blocks L_ij of the coupled pairs, as {(i, j): N x N array}."""
    coupling = cell.coupling_matrix()
    n = cell.module_size
    return {
        (i, j): coupling[i * n : (i + 1) * n, j * n : (j + 1) * n]
        for i, j in cell.coupling_pairs
    }


def plot_assembly(cell_or_model, path, title=None):
    """Saves a heat map of the assembled recurrent matrix W + L and of the coupling blocks.

    The left panel is the H x H matrix `W + L` (module matrices on the block
    diagonal, coupling blocks off it, module boundaries drawn as thin lines);
    the right panel tiles the C blocks `L_ij` of the coupled pairs (i < j; the
    blocks `L_ji` are their skew counterparts). The colour scale is symmetric
    about zero, shared by all panels, so saturated coupling entries stand out
    as in the paper's Fig. 2.

    Args:
        cell_or_model: a built `AssemblyCell`, a layer wrapping one
            (`AssemblyRNN`), or a model holding exactly one.
        path: the PNG file to write.
        title: optional figure title.

    Returns:
        `path`.

    Example:
    >>> import os, tempfile, numpy as np
    >>> from keras_rnnofrnns import AssemblyRNN
    >>> layer = AssemblyRNN(num_modules=3, module_size=4, coupling_blocks=2, seed=0)
    >>> _ = layer(np.zeros((1, 5, 1), dtype="float32"))
    >>> path = plot_assembly(layer, os.path.join(tempfile.mkdtemp(), "w.png"))
    >>> open(path, "rb").read(4) == b"\\x89PNG"
    True
    """
    plt = _pyplot()
    cell = find_assembly_cell(cell_or_model)
    recurrent = cell.module_matrix() + cell.coupling_matrix()
    blocks = coupling_blocks(cell)
    scale = float(np.max(np.abs(recurrent))) or 1.0
    style = dict(cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")

    figure = plt.figure(figsize=(11, 5), layout="constrained")
    left, right = figure.subfigures(1, 2, width_ratios=(1.0, 1.0))
    matrix_axis = axis = left.subplots()
    image = axis.imshow(recurrent, **style)
    for edge in range(1, cell.num_modules):
        position = edge * cell.module_size - 0.5
        axis.axhline(position, color="0.5", linewidth=0.6)
        axis.axvline(position, color="0.5", linewidth=0.6)
    axis.set_title(f"W + L ({cell.units} x {cell.units}, {cell.num_modules} modules)")
    axis.set_xticks([])
    axis.set_yticks([])

    if blocks:
        columns = math.ceil(math.sqrt(len(blocks)))
        rows = math.ceil(len(blocks) / columns)
        axes = np.atleast_1d(right.subplots(rows, columns)).ravel()
        for axis, ((i, j), block) in zip(axes, sorted(blocks.items())):
            axis.imshow(block, **style)
            axis.set_title(f"L[{i},{j}]", fontsize=7)
        for axis in axes:
            axis.set_xticks([])
            axis.set_yticks([])
        for axis in axes[len(blocks) :]:
            axis.set_visible(False)
        right.suptitle(f"coupling blocks (C = {len(blocks)})")
    else:
        axis = right.subplots()
        axis.axis("off")
        axis.text(0.5, 0.5, "no coupling blocks (C = 0)", ha="center", va="center")
    left.colorbar(image, ax=matrix_axis, shrink=0.8)
    if title:
        figure.suptitle(title)
    atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=120, format="png"))
    plt.close(figure)
    return path


def plot_learning_curve(rows, path, title=None):
    """Saves the train and test accuracy per epoch of a run as a PNG.

    Args:
        rows: the run's per-epoch logs (`records.history_from_csv`): dicts
            with `epoch`, `accuracy` and `val_accuracy` (the test split).
        path: the PNG file to write.
        title: optional figure title.

    Returns:
        `path`.

    Example:
    >>> import os, tempfile
    >>> rows = [dict(epoch=e, accuracy=0.5 + e / 10, val_accuracy=0.4 + e / 10)
    ...         for e in range(3)]
    >>> path = plot_learning_curve(rows, os.path.join(tempfile.mkdtemp(), "c.png"))
    >>> open(path, "rb").read(4) == b"\\x89PNG"
    True
    """
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4), layout="constrained")
    epochs = [row["epoch"] + 1 for row in rows]
    for key, label in (("accuracy", "train"), ("val_accuracy", "test")):
        values = [row.get(key) for row in rows]
        axis.plot(epochs, [float("nan") if v is None else 100 * v for v in values], label=label)
    axis.set_xlabel("epoch")
    axis.set_ylabel("accuracy (%)")
    axis.grid(alpha=0.3)
    axis.legend()
    if title:
        axis.set_title(title)
    atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=100, format="png"))
    plt.close(figure)
    return path
