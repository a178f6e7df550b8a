"""The methods and the sequence classifier built from them."""

import numpy as np
import pytest
from conftest import make_inputs, to_numpy

from keras_rnnofrnns import AssemblyCell, certify


def test_sequence_classifier_passes_scan_unroll():
    from keras_rnnofrnns import sequence_classifier

    model = sequence_classifier("adadiag-tanh", 2, 3, 1, sequence_length=6, scan_unroll=3, compile=False)
    assert model.get_layer("assembly").scan_unroll == 3
    inputs = make_inputs(batch=2, steps=6, features=1)
    plain = sequence_classifier("adadiag-tanh", 2, 3, 1, sequence_length=6, compile=False)
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(to_numpy(model(inputs)), to_numpy(plain(inputs)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="scan_unroll"):
        sequence_classifier("adadiag-tanh", 2, 3, 1, fast=False, scan_unroll=2)


def test_paper_methods_are_the_esann_four():
    from keras_rnnofrnns import METHODS, PAPER_METHODS

    assert PAPER_METHODS == ("scn-3", "scn-30", "adadiag-tanh", "adadiag-clip")
    assert set(PAPER_METHODS) | {"adadiag-gated", "adadiag-gated-cayley"} == set(METHODS)


@pytest.mark.parametrize("method", ["adadiag-gated", "adadiag-gated-cayley"])
def test_gated_methods_arguments_and_classifier(method):
    from keras_rnnofrnns import METHODS, method_arguments, sequence_classifier

    arguments = method_arguments(method, seed=5)
    assert arguments["activation"] == "relu" and arguments["module_weights"] == "tanh_diag"
    assert arguments["use_bias"] is False and tuple(arguments["gate_bounds"]) == (1e-5, 0.2)
    if method == "adadiag-gated":
        assert (arguments["integrator"], arguments["gate"]) == ("euler", "input_state")
        assert arguments.get("coupling_step", "fixed") == "fixed"
    else:
        assert (arguments["integrator"], arguments["gate"]) == ("cayley", "input")
        assert arguments["coupling_step"] == "learned"
    # A fresh dict: changing it leaves the method alone.
    arguments["activation"] = "tanh"
    assert METHODS[method]["activation"] == "relu"

    p, n, features = 8, 16, 8
    units = p * n

    def build(seed, fast=True):
        return sequence_classifier(
            method, p, n, 6, sequence_length=5, input_dim=features, seed=seed, fast=fast,
            compile=False,
        )

    model = build(seed=5)
    cell = model.get_layer("assembly").cell
    assert cell.activation_name == "relu" and cell.gate == arguments["gate"]
    assert cell.bias is None and not any(w.name == "bias" for w in cell.weights)
    # Input kernel N(0, 1/sqrt(H)): std 1/sqrt(128) ~ 0.088 over 1024 entries.
    kernel = to_numpy(cell.input_kernel)
    assert kernel.shape == (features, units)
    assert abs(kernel.std() / (1 / np.sqrt(units)) - 1) < 0.1 and abs(kernel.mean()) < 0.01
    # Coupling blocks U(-1/sqrt(N), 1/sqrt(N)), not the orthogonal default.
    blocks = to_numpy(cell.coupling.kernel)
    assert np.abs(blocks).max() <= 1 / np.sqrt(n) and np.abs(blocks).max() > 0.95 / np.sqrt(n)
    assert abs(blocks.std() - 1 / np.sqrt(3 * n)) < 0.1 / np.sqrt(n)
    if method == "adadiag-gated":
        np.testing.assert_array_equal(to_numpy(cell.gate_state), 0.0)
        assert cell.coupling_step_kernel is None
    else:
        assert cell.gate_state is None
        assert to_numpy(cell.coupling_step_kernel).shape == (units,)
        assert certify(cell).certified
    # Seeded: same seed, same weights; another seed, other weights.
    # (The read-out layer is not the assembly's: only the cell is seeded.)
    same = build(seed=5, fast=False).get_layer("assembly").cell
    other = AssemblyCell(p, n, 6, seed=6, **method_arguments(method, seed=6))
    other.build((None, features))
    assert [w.name for w in same.weights] == [w.name for w in cell.weights]
    for a, b in zip(cell.weights, same.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.name)
    for name in ("input_kernel", "gate_kernel", "gate_bias"):
        assert not np.array_equal(
            to_numpy(getattr(cell, name)), to_numpy(getattr(other, name))
        ), name
    assert not np.array_equal(to_numpy(cell.coupling.kernel), to_numpy(other.coupling.kernel))


@pytest.mark.parametrize("method", ["adadiag-gated", "adadiag-gated-cayley"])
def test_gated_methods_read_out_as_the_journal_code(method):
    from keras_rnnofrnns import sequence_classifier

    p, n = 8, 16
    units = p * n
    model = sequence_classifier(method, p, n, 6, sequence_length=5, seed=3, compile=False)
    readout = model.get_layer("readout")
    # No bias; kernel N(0, 1/sqrt(H)): std 1/sqrt(128) over 1280 entries.
    assert readout.bias is None and [w.name for w in readout.weights] == ["kernel"]
    kernel = to_numpy(readout.kernel)
    assert kernel.shape == (units, 10)
    assert abs(kernel.std() / (1 / np.sqrt(units)) - 1) < 0.1 and abs(kernel.mean()) < 0.01
    # Seeded from the run's seed.
    again = sequence_classifier(method, p, n, 6, sequence_length=5, seed=3, compile=False)
    other = sequence_classifier(method, p, n, 6, sequence_length=5, seed=4, compile=False)
    np.testing.assert_array_equal(kernel, to_numpy(again.get_layer("readout").kernel))
    assert not np.array_equal(kernel, to_numpy(other.get_layer("readout").kernel))
    # The Dense read-out with bias stays available.
    dense = sequence_classifier(method, p, n, 6, sequence_length=5, readout="dense", compile=False)
    assert dense.get_layer("readout").bias is not None


def test_the_esann_methods_keep_the_dense_readout():
    from keras_rnnofrnns import method_readout, sequence_classifier

    model = sequence_classifier("adadiag-clip", 2, 4, 1, sequence_length=5, compile=False)
    assert model.get_layer("readout").bias is not None
    journal = sequence_classifier(
        "adadiag-clip", 2, 4, 1, sequence_length=5, readout="journal", compile=False
    )
    assert journal.get_layer("readout").bias is None
    assert method_readout("scn-3") == "dense" and method_readout("scn-3", "journal") == "journal"


def test_a_bad_readout_is_refused_by_name():
    from keras_rnnofrnns import readout_layer, sequence_classifier

    with pytest.raises(ValueError, match="Invalid `readout`: received readout='softmax'"):
        sequence_classifier("adadiag-gated", 2, 4, 1, sequence_length=5, readout="softmax")
    with pytest.raises(ValueError, match="Invalid `state_size`: received state_size=0"):
        readout_layer("journal", 10, 0)
    with pytest.raises(ValueError, match="Invalid `num_classes`"):
        readout_layer("dense", 1, 8)
