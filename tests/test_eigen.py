"""The eigenvalue systems of [T21] against their closed forms and invariants (float64)."""

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

import dynsim
from dynsim import EigenDynamics1D, EigenDynamics2D, EigenDynamics3D, DynsimInputError


def test_reference_example_values():
    # docs/equations.md, section 1: eta = 4e-4, sigma = 1, tau = 1: p*_- = 4.0032e-4, p*_+ = 0.49960 (5 digits).
    m = EigenDynamics2D(eta=4e-4, sigma=1.0)
    assert float(m.p_minus) == pytest.approx(4.0032e-4, rel=5e-5)
    assert float(m.p_plus) == pytest.approx(0.49960, rel=5e-5)
    assert float(m.eta_critical) == pytest.approx(0.125, rel=1e-15)
    assert m.regime() == "bistable"


def test_closed_forms_are_roots_and_small_eta_limit():
    for eta, sigma, tau in itertools.product([1e-6, 1e-3, 0.05], [0.0, 0.5, 1.0], [0.5, 1.0]):
        m = EigenDynamics1D(eta=eta, sigma=sigma, tau=tau)
        if m.regime() == "collapse-only":
            assert np.isnan(float(m.p_minus)) and np.isnan(float(m.p_plus))
            continue
        if m.regime() == "critical":  # the saddle-node: p*_- = p*_+ = tau / (2 (1 + sigma^2))
            assert float(m.p_minus) == pytest.approx(tau / (2 * (1 + sigma**2)), rel=1e-7)
        for p in (float(m.p_minus), float(m.p_plus)):
            f = float(m.vector_field(0.0, jnp.array([p]))[0])
            assert abs(f) <= 1e-15 * max(1.0, p)
        if eta <= 1e-3:  # p*_- ~ eta / tau for small eta
            assert float(m.p_minus) == pytest.approx(eta / tau, rel=10 * eta / tau**2 * (1 + sigma**2))


def test_p_minus_monotone_in_eta_and_tau():
    etas = np.linspace(1e-4, 0.12, 50)
    pm = np.asarray(EigenDynamics1D(eta=etas, sigma=1.0, tau=1.0).p_minus)
    assert np.all(np.diff(pm) > 0)  # increases with eta
    taus = np.linspace(0.8, 2.0, 50)
    pm = np.asarray(EigenDynamics1D(eta=0.05, sigma=1.0, tau=taus).p_minus)
    assert np.all(np.diff(pm) < 0)  # decreases with tau


@pytest.mark.parametrize("frac,regime,n", [(0.5, "bistable", 3), (1.0, "critical", 2), (1.5, "collapse-only", 1)])
def test_regimes_around_critical_eta(frac, regime, n):
    eta_c = 1.0 / (4 * 2.0)
    m = EigenDynamics2D(eta=frac * eta_c, sigma=1.0, tau=1.0)
    assert m.regime() == regime
    assert len(m.stationary_points()) == n


def _starts(m):
    """Starting points from scales the user knows, not from the closed forms."""
    tau, k, a, eta = float(m.tau), 1 + float(m.sigma) ** 2, float(m.alpha_p), float(m.eta)
    p0 = tau / k
    big = dynsim.grid_starts([-0.5 * p0, 0.0], [2 * p0, (2 * p0) ** 2 / a], 12)
    w = eta / tau
    small = dynsim.grid_starts([-2 * w, 0.0], [4 * w, (4 * w) ** 2 / a], 8)
    return np.concatenate([big, small])


PARAMS = [
    (eta_frac, sigma, tau, alpha)
    for eta_frac in (1e-5, 3.2e-3, 0.1, 0.5, 0.9, 0.999, 0.999999)
    for sigma, tau, alpha in ((0.0, 1.0, 1.0), (1.0, 1.0, 1.0), (0.5, 0.7, 3.0), (2.0, 1.3, 0.4))
]


@pytest.mark.parametrize("eta_frac,sigma,tau,alpha", PARAMS)
def test_found_stationary_points_equal_closed_forms(eta_frac, sigma, tau, alpha):
    eta = eta_frac * float(dynsim.critical_eta(sigma, tau))
    m2 = EigenDynamics2D(eta=eta, sigma=sigma, tau=tau, alpha_p=alpha)
    fp = dynsim.find_fixed_points(m2, _starts(m2))
    closed = m2.stationary_points()
    assert fp.points.shape == closed.shape, (fp.points, closed)
    # 1e-9 relative; the origin (exactly 0) to 1e-12 absolute.
    np.testing.assert_allclose(fp.points, closed, rtol=1e-9, atol=1e-12)
    # Theory: (0, 0) stable, (p*_-, .) a saddle, (p*_+, .) stable.
    assert fp.stability == ("stable node", "saddle", "stable node")

    m1 = EigenDynamics1D(eta=eta, sigma=sigma, tau=tau)
    p = np.concatenate([np.linspace(-0.5, 2, 40) * tau / (1 + sigma**2), np.linspace(-2, 4, 16) * eta / tau])
    fp1 = dynsim.find_fixed_points(m1, p[:, None])
    np.testing.assert_allclose(fp1.points, m1.stationary_points(), rtol=1e-9, atol=1e-12)
    assert fp1.stability == ("stable node", "unstable node", "stable node")


@pytest.mark.parametrize("beta", [0.4, 2.0])
def test_3d_stationary_points_equal_closed_forms(beta):
    m = EigenDynamics3D(eta=0.01, sigma=1.0, alpha_p=1.0, beta=beta)
    fp = dynsim.find_fixed_points(m, dynsim.grid_starts([-0.3, 0.0, 0.0], [1.0, 1.0, 1.5], 7))
    np.testing.assert_allclose(fp.points, m.stationary_points(), rtol=1e-9, atol=1e-12)
    assert fp.stability[1] == "saddle"  # p*_-
    assert fp.stability[2] == "stable node"  # p*_+


def test_eta_zero_has_continua_of_stationary_points():
    m = EigenDynamics2D(eta=0.0, sigma=1.0)
    fp = dynsim.find_fixed_points(m, dynsim.grid_starts([-0.3, 0.0], [1.0, 1.0], 10))
    assert len(fp) > 10 and not np.any(fp.isolated)
    on_line = np.isclose(fp.points[:, 1], 0.0, atol=1e-12) | np.isclose(fp.points[:, 0], 0.5, rtol=1e-9)
    assert np.all(on_line)  # s = 0 (collapsed branch) or p = tau/(1+sigma^2)
    assert m.regime() == "no-weight-decay"


@pytest.mark.parametrize("system", [
    EigenDynamics2D(eta=0.01, sigma=0.5, tau=0.8, alpha_p=2.0),
    EigenDynamics2D(eta=4e-4, sigma=1.0),
    EigenDynamics3D(eta=0.02, sigma=1.0, alpha_p=1.5, beta=0.4),
])
def test_invariant_decays_as_exp_minus_2_eta_t(system):
    # s - p^2/alpha_p = c(0) e^{-2 eta t} along every trajectory, to 1e-8.
    y0 = np.array([[0.3, 0.2], [-0.2, 0.5], [0.05, 0.001], [0.8, 0.1]])
    if system.dim == 3:
        y0 = np.concatenate([y0, np.array([[0.0], [0.5], [1.0], [0.2]])], axis=1)
    ts = np.linspace(0.0, 200.0, 101)
    sol = dynsim.solve(system, y0, ts, rtol=1e-11, atol=1e-13)
    assert sol.complete
    c = np.asarray(system.invariant(sol.ys))
    predicted = c[:, :1] * np.asarray(system.invariant_decay(ts))
    np.testing.assert_allclose(c, predicted, rtol=0, atol=1e-8)


@pytest.mark.parametrize("eta", [4e-4, 0.05])
def test_1d_below_and_above_collapse_threshold(eta):
    m = EigenDynamics1D(eta=eta, sigma=1.0)
    pm, pp = float(m.p_minus), float(m.p_plus)
    y0 = np.array([[pm * (1 - 1e-2)], [pm * (1 + 1e-2)]])
    t1 = 40.0 / eta
    sol = dynsim.solve(m, y0, np.array([0.0, t1]), rtol=1e-10, atol=1e-14)
    assert sol.complete
    end = np.asarray(sol.y_final)[:, 0]
    assert abs(end[0]) < 1e-10 * pm  # collapses to p*_0 = 0
    assert end[1] == pytest.approx(pp, rel=1e-8)  # goes to p*_+


@pytest.mark.parametrize("kwargs,name", [
    (dict(eta=-1e-3, sigma=1.0), "eta"),
    (dict(eta=1e-3, sigma=-1.0), "sigma"),
    (dict(eta=float("nan"), sigma=1.0), "eta"),
    (dict(eta=1e-3, sigma=1.0, alpha_p=0.0), "alpha_p"),
    (dict(eta=1e-3, sigma=float("inf")), "sigma"),
    (dict(eta=[1e-3, -1.0], sigma=1.0), "eta"),
])
def test_invalid_parameters_are_rejected(kwargs, name):
    with pytest.raises(DynsimInputError) as e:
        EigenDynamics2D(**kwargs)
    assert e.value.name == name


def test_3d_rejects_beta_zero():
    with pytest.raises(DynsimInputError):
        EigenDynamics3D(eta=0.01, sigma=1.0, beta=0.0)


def test_parameters_and_batch_shape():
    m = EigenDynamics2D(eta=jnp.array([1e-3, 1e-2]), sigma=1.0)
    assert set(m.parameters()) == {"eta", "sigma", "tau", "alpha_p"}
    assert m.batch_shape() == (2,)


def test_subnormal_parameters_are_refused_by_name():
    """check_param refuses a subnormal value (its products underflow): eta = 1e-320 names eta; 0 is fine."""
    with pytest.raises(dynsim.DynsimInputError, match="subnormal") as e:
        dynsim.EigenDynamics2D(eta=1e-320)
    assert e.value.name == "eta"
    assert float(dynsim.EigenDynamics2D(eta=0.0).eta) == 0.0


@pytest.mark.parametrize(("name", "value"), [("sigma", 1e308), ("alpha_p", 1e200), ("eta", 1e-150), ("tau", 1e101)])
def test_scalar_parameters_outside_the_magnitude_range_are_refused_by_name(name, value):
    """The library refuses what the command line refuses: a scalar parameter is 0 or of magnitude in
    [1e-100, 1e100] (sigma = 1e308 used to overflow in sigma ** 2 with a Python OverflowError)."""
    with pytest.raises(dynsim.DynsimInputError, match="magnitude") as e:
        dynsim.EigenDynamics2D(**{name: value})
    assert e.value.name == name
    edge = dynsim.EigenDynamics2D(sigma=1e100, eta=1e-100)  # the ends are accepted
    assert float(edge.sigma) == 1e100 and float(edge.eta) == 1e-100


def test_subnormal_data_are_refused_by_name():
    """The data arrays of a model (covariances, views, pairs) are refused with a subnormal entry, as a
    scalar parameter is: the Barlow Twins pairs, the InfoNCE views, the covariances of linear BYOL."""
    import numpy as np

    from dynsim.models.barlow.system import cross_covariance
    from dynsim.models.infonce.system import check_views

    x = np.random.default_rng(0).normal(size=(8, 3))
    bad = x.copy()
    bad[1, 1] = 5e-324
    for call, name in ((lambda: cross_covariance(bad, x), "pairs"), (lambda: check_views(x, bad), "views"),
                       (lambda: dynsim.check_covariance("X", np.eye(3) + 1e-320 * (1 - np.eye(3))), "X")):
        with pytest.raises(dynsim.DynsimInputError, match="subnormal") as e:
            call()
        assert e.value.name == name
    np.testing.assert_allclose(cross_covariance(x, x), x.T @ x / 8)  # normal data pass
