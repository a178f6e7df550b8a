"""Which module pairs are coupled: drawing and validating the pair list."""

import numbers

import numpy as np

from keras_rnnofrnns.checks import fail, check_int


def max_coupling_blocks(num_modules):
    """p(p-1)/2, the number of distinct module pairs i < j."""
    return num_modules * (num_modules - 1) // 2


def resolve_coupling_pairs(coupling_blocks, num_modules, seed):
    """Turns `coupling_blocks` into a sorted tuple of pairs (i, j), i < j.

    Args:
        coupling_blocks: an int C, the number of pairs drawn uniformly without
            replacement from the p(p-1)/2 pairs using `seed` (0 allowed), or an
            explicit sequence of pairs (i, j) of module indices. An explicit
            pair given as (j, i) with j > i is stored as (i, j): the coupling
            block L_ij = -L_ji^T is the same parameter either way.
        num_modules: p.
        seed: int seed used to draw the pairs when `coupling_blocks` is an int.

    Returns:
        A tuple of (i, j) int tuples, sorted, with i < j; the same every time
        for the same arguments.
    """
    limit = max_coupling_blocks(num_modules)
    if isinstance(coupling_blocks, numbers.Integral) and not isinstance(
        coupling_blocks, bool
    ):
        count = check_int("coupling_blocks", coupling_blocks, 0, limit)
        all_pairs = [(i, j) for i in range(num_modules) for j in range(i + 1, num_modules)]
        chosen = np.random.default_rng(seed).choice(limit, size=count, replace=False)
        return tuple(sorted(all_pairs[k] for k in chosen))
    if isinstance(coupling_blocks, (str, bytes)) or not hasattr(coupling_blocks, "__iter__"):
        fail(
            "coupling_blocks",
            coupling_blocks,
            f"an integer from 0 to {limit} or a list of (i, j) module pairs",
        )
    pairs = []
    for pair in coupling_blocks:
        if (
            not hasattr(pair, "__len__")
            or len(pair) != 2
            or not all(
                isinstance(k, numbers.Integral) and not isinstance(k, bool) for k in pair
            )
        ):
            fail("coupling_blocks", coupling_blocks, "pairs (i, j) of integer module indices")
        i, j = int(pair[0]), int(pair[1])
        if not (0 <= i < num_modules and 0 <= j < num_modules):
            fail(
                "coupling_blocks",
                coupling_blocks,
                f"module indices from 0 to {num_modules - 1} (pair {(i, j)} is out of range)",
            )
        if i == j:
            fail(
                "coupling_blocks",
                coupling_blocks,
                f"pairs of two different modules (pair {(i, j)} couples a module to itself)",
            )
        pairs.append((min(i, j), max(i, j)))
    if len(set(pairs)) != len(pairs):
        repeated = sorted({p for p in pairs if pairs.count(p) > 1})
        fail(
            "coupling_blocks",
            coupling_blocks,
            f"each pair at most once (repeated: {repeated}; (i, j) and (j, i) are the same pair)",
        )
    return tuple(sorted(pairs))
