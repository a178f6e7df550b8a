"""certify: the guarantee it reports, through training, extreme values and gates."""

import keras
import numpy as np
import pytest
from conftest import STABILITY_C, STRATEGIES, N, P, classifier, to_numpy, toy_data

from keras_rnnofrnns import AssemblyCell, AssemblyRNN, Certificate, Certificates, certify
from keras_rnnofrnns.modules import spectral_radius


def _extreme_values(cell, sign):
    cell.coupling.kernel.assign(sign * 50.0 * np.ones(cell.coupling.kernel.shape, "float32"))
    if cell.module_weights != "sparse":
        cell.module_kernel.assign(sign * 50.0 * np.ones(cell.module_kernel.shape, "float32"))


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("integrator", ["euler", "cayley"])
def test_extreme_parameters_and_an_optimizer_step_keep_the_guarantee(strategy, sign, integrator):
    model, cell = classifier(strategy, learning_rate=1.0, integrator=integrator)
    fixed_before = to_numpy(cell.module_kernel).copy()
    _extreme_values(cell, sign)
    x, y = toy_data(16)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    if strategy == "sparse":
        assert np.array_equal(to_numpy(cell.module_kernel), fixed_before)
    else:
        diagonal = to_numpy(cell.module_diagonal())
        assert diagonal.dtype == np.float32
        assert np.all(np.abs(diagonal) < 1.0)
        if strategy == "clip_diag":
            # The projection ran after the step: the variable itself is valid.
            np.testing.assert_allclose(np.abs(to_numpy(cell.module_kernel)), 0.99)
    metric = cell.contraction_metric()
    coupling = cell.coupling_matrix().astype(np.float64)
    residual = metric[:, None] * coupling + coupling.T * metric[None, :]
    scale = np.abs(coupling).max() * metric.max()
    assert np.abs(residual).max() <= 1e-6 * scale
    certificate = certify(model)
    assert certificate.ode_contracting and certificate.contraction_rate > 0
    assert np.all(certificate.module_bound < 1.0)
    # The ODE guarantee holds for both; the computed map contracts only with
    # the Cayley step: a coupling of norm ~50 N makes forward Euler expand.
    assert certificate.certified == (integrator == "cayley")
    assert certificate.discrete_contracting == (integrator == "cayley")
    if integrator == "euler":
        assert "factor bound" in certificate.reason


def test_euler_contracting_is_reported_honestly():
    cell = AssemblyCell(P, N, STABILITY_C, module_weights="tanh_diag", seed=0)
    keras.layers.RNN(cell)(np.zeros((1, 2, 1), "float32"))
    cell.module_kernel.assign(np.zeros(P * N, "float32"))
    small = certify(cell)
    assert small.certified and small.euler_contracting and small.euler_bound < 1

    cell.coupling.kernel.assign(100.0 * to_numpy(cell.coupling.kernel))
    large = certify(cell)
    assert large.ode_contracting and not large.euler_contracting and large.euler_bound > 1
    assert not large.certified and large.discrete_bound == large.euler_bound
    assert "forward Euler expand" in large.reason
    # The discrete map really expands: at x = 0 its Jacobian
    # (1 - h) I + h (W + L) has an eigenvalue outside the unit circle.
    h = cell.step_size
    jacobian = (1 - h) * np.eye(P * N) + h * (cell.module_matrix() + cell.coupling_matrix())
    assert spectral_radius(jacobian) > 1.0
    text = str(large)
    assert "NOT certified" in text and "not proven contracting" in text


def test_certify_finds_the_cell_and_rejects_other_objects():
    model, cell = classifier("sparse")
    model(np.zeros((1, 8, 1), "float32"))
    assert certify(model).module_weights == "sparse"
    assert certify(model.layers[0]).metric.shape == (P * N,)
    with pytest.raises(ValueError, match="cell_or_model"):
        certify(keras.layers.Dense(2))
    with pytest.raises(ValueError, match="not built"):
        certify(AssemblyCell(P, N, STABILITY_C, seed=0))
    two = keras.Sequential(
        [keras.Input((3, 1)), AssemblyRNN(2, 2, 1, seed=0, return_sequences=True), AssemblyRNN(2, 2, 1, seed=1)]
    )
    certificates = certify(two)
    assert isinstance(certificates, Certificates) and len(certificates) == 2
    cells = [layer.cell for layer in two.layers]
    for certificate, cell in zip(certificates, cells):
        np.testing.assert_array_equal(certificate.euler_bound, certify(cell).euler_bound)


def test_certify_reports_every_assembly_of_a_stacked_model():
    euler = AssemblyRNN(P, N, STABILITY_C, seed=0, return_sequences=True)
    cayley = AssemblyRNN(P, N, STABILITY_C, seed=1, integrator="cayley")
    model = keras.Sequential([keras.Input((3, 1)), euler, cayley, keras.layers.Dense(2)])
    # Coupling of large norm: Euler expands, the Cayley step does not.
    for layer in (euler, cayley):
        kernel = layer.cell.coupling.kernel
        kernel.assign(50.0 * np.ones(kernel.shape, "float32"))
    certificates = certify(model)
    assert [c.integrator for c in certificates] == ["euler", "cayley"]
    assert [c.certified for c in certificates] == [False, True]
    assert not certificates.certified
    text = str(certificates)
    assert text.startswith("2 assemblies, in model order: NOT all certified")
    assert "[1] Assembly stability certificate (tanh_diag, euler" in text
    assert "[2] Assembly stability certificate (tanh_diag, cayley" in text
    # One assembly: a Certificate, as before.
    assert isinstance(certify(keras.Sequential([keras.Input((3, 1)), cayley])), Certificate)


# -- certify with the integrators and gates -----------------------------------


def _built(strategy, **arguments):
    layer = AssemblyRNN(
        P, N, STABILITY_C, module_weights=strategy, density=0.3, seed=2, **arguments
    )
    layer.build((None, 5, 1))
    return layer.cell


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_certify_cayley_with_input_gate_at_init_and_state_gate_not(strategy):
    for coupling_step in ("fixed", "learned"):
        cell = _built(strategy, integrator="cayley", gate="input", coupling_step=coupling_step)
        certificate = certify(cell)
        assert certificate.certified and certificate.reason == "", coupling_step
        assert certificate.ode_contracting and certificate.discrete_contracting
        assert certificate.discrete_bound < 1 and (certificate.integrator, certificate.gate) == (
            "cayley",
            "input",
        )
    for integrator in ("euler", "cayley"):
        certificate = certify(_built(strategy, integrator=integrator, gate="input_state"))
        # The ODE guarantee is unaffected; the computed map has no bound.
        assert certificate.ode_contracting and not certificate.certified
        assert not certificate.discrete_contracting and np.isnan(certificate.discrete_bound)
        assert "state" in certificate.reason and "input_state" in certificate.reason
        assert "NOT certified" in str(certificate)


@pytest.mark.parametrize("integrator", ["euler", "cayley"])
def test_certify_non_finite_weights_gives_a_reason_not_an_exception(integrator):
    cell = _built("sparse", integrator=integrator, gate="input")
    kernel = to_numpy(cell.coupling.kernel).copy()
    kernel[0, 0, 0] = np.nan
    cell.coupling.kernel.assign(kernel)
    certificate = certify(cell)
    assert certificate.certified is False
    assert not certificate.ode_contracting and not certificate.discrete_contracting
    assert not certificate.euler_contracting
    assert "non-finite" in certificate.reason
    assert "NOT certified" in str(certificate)
    kernel[0, 0, 0] = np.inf
    cell.coupling.kernel.assign(kernel)
    infinite = certify(cell)
    assert not infinite.certified and "non-finite" in infinite.reason
