"""The coupled pairs of modules: drawn from a seed, or given."""

from keras_rnnofrnns import AssemblyCell


def test_pairs_reproducible_from_seed_and_explicit_pairs():
    first = AssemblyCell(16, 2, 20, seed=9).coupling_pairs
    assert first == AssemblyCell(16, 2, 20, seed=9).coupling_pairs
    assert first != AssemblyCell(16, 2, 20, seed=10).coupling_pairs
    assert len(first) == 20 and all(i < j for i, j in first)
    explicit = AssemblyCell(4, 2, [(2, 0), (1, 3)], seed=0).coupling_pairs
    assert explicit == ((0, 2), (1, 3))
    assert AssemblyCell(4, 2, 0, seed=0).coupling_pairs == ()
    assert len(AssemblyCell(4, 2, 6, seed=0).coupling_pairs) == 6
