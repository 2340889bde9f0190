"""Linear BYOL matrix dynamics [T21] against autodiff, Theorems 1 and 3, and the eigen ODEs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynsim
from dynsim import DynsimInputError
from dynsim.models.byol.system import (
    LinearBYOL, SymmetrizedBYOL, VARIANTS, commutator_norm, eigenpairs, isotropic, nuisance, spectrum,
)


def random_psd(n, seed, scale=1.0):
    a = np.random.default_rng(seed).normal(size=(n, n))
    return scale * (a @ a.T) / n


def model(variant, X, Xa, **kw):
    predictor, target, sg = VARIANTS[variant]
    n1 = X.shape[0]
    return LinearBYOL(n1=n1, n2=kw.pop("n2", n1), X=X, X_aug=Xa, predictor=predictor, target=target,
                      stop_gradient=sg, **kw)


def random_state(m, seed, scale=0.5):
    rng = np.random.default_rng(seed)
    mats = {name: scale * rng.normal(size=shape) for name, shape in m.blocks()}
    if "W_p" in mats and m.predictor == "symmetric":
        mats["W_p"] = 0.5 * (mats["W_p"] + mats["W_p"].T)
    return m.pack(**mats)


def expected_loss(wp, w, wa, X, Xa):
    """J = 1/2 E||W_p W x1 - W_a x2||^2 = 1/2 tr(W_p W S W^T W_p^T) - tr(W_p W X W_a^T) + 1/2 tr(W_a S W_a^T)."""
    S = X + Xa
    a = wp @ w
    return 0.5 * jnp.trace(a @ S @ a.T) - jnp.trace(a @ X @ wa.T) + 0.5 * jnp.trace(wa @ S @ wa.T)


@pytest.mark.parametrize("variant", ["byol", "simsiam", "no-stopgrad", "symmetric-predictor"])
def test_lemma1_is_the_gradient_flow_of_the_expected_loss(variant):
    X, Xa = random_psd(4, 1), random_psd(4, 2, 0.3)
    m = model(variant, X, Xa, n2=3, alpha_p=1.7, eta=0.05, beta=0.3)
    y = random_state(m, 3)
    st = m.unpack(y)
    wp, w = st["W_p"], st["W"]
    wa = st.get("W_a", w)
    if m.stop_gradient:
        g_wp, g_w = jax.grad(expected_loss, argnums=(0, 1))(wp, w, jax.lax.stop_gradient(wa), X, Xa)
    else:
        g_wp, g_w = jax.grad(lambda a, b: expected_loss(a, b, b, X, Xa), argnums=(0, 1))(wp, w)
    dwp = -1.7 * g_wp - 0.05 * wp
    if m.predictor == "symmetric":
        dwp = 0.5 * (dwp + dwp.T)
    got = m.unpack(m.vector_field(0.0, y))
    np.testing.assert_allclose(got["W_p"], dwp, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(got["W"], -g_w - 0.05 * w, rtol=1e-12, atol=1e-13)
    if "W_a" in got:
        np.testing.assert_allclose(got["W_a"], 0.3 * (w - wa), rtol=1e-13)


def test_no_stopgrad_matches_the_psd_kronecker_form():
    # [T21]: d vec(W)/dt = -[X' (x) (W_p^T W_p + I) + X (x) Wt_p^T Wt_p + eta I] vec(W), Wt_p = W_p - I
    # (vec stacks columns; W is n2 x n1 so the Kronecker factors act as W -> A W B^T).
    X, Xa = random_psd(3, 4), random_psd(3, 5, 0.5)
    m = model("no-stopgrad", X, Xa, eta=0.02)
    st = m.unpack(random_state(m, 6))
    wp, w = st["W_p"], st["W"]
    wt = wp - np.eye(3)
    M = np.kron(Xa, wp.T @ wp + np.eye(3)) + np.kron(X, wt.T @ wt) + 0.02 * np.eye(9)
    assert np.min(np.linalg.eigvalsh(0.5 * (M + M.T))) >= -1e-12  # PSD, hence collapse
    expect = -(M @ w.reshape(-1, order="F")).reshape(3, 3, order="F")
    got = m.unpack(m.vector_field(0.0, m.pack(W_p=wp, W=w)))["W"]
    np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-13)


def test_isotropic_fast_path_equals_dense():
    X, Xa = isotropic(5, 0.7)
    dense = model("byol", X, Xa, alpha_p=2.0, eta=0.01, beta=0.5)
    fast = LinearBYOL(n1=5, n2=5, X=X, X_aug=Xa, alpha_p=2.0, eta=0.01, beta=0.5, isotropic=True)
    y = random_state(dense, 7)
    np.testing.assert_allclose(fast.vector_field(0.0, y), dense.vector_field(0.0, y), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("variant", ["byol", "simsiam"])
def test_theorem1_conserved_quantity(variant):
    # W W^T - W_p^T W_p / alpha_p = e^{-2 eta t} C: drift relative to |C| <= 1e-8.
    X, Xa = spectrum([2.0, 1.0, 0.5, 0.25], 0.6, seed=1)
    m = model(variant, X, Xa, alpha_p=1.5, eta=0.03, beta=0.4)
    y0 = random_state(m, 8)
    ts = np.linspace(0.0, 40.0, 81)
    sol = dynsim.solve(m, y0, ts, rtol=1e-11, atol=1e-13)
    assert sol.complete
    c = np.asarray(m.conserved(sol.ys)) * np.exp(2 * 0.03 * ts)[:, None, None]
    drift = np.max(np.linalg.norm(c - c[0], axis=(1, 2))) / np.linalg.norm(c[0])
    assert drift <= 1e-8, drift


@pytest.mark.parametrize("variant", ["no-predictor", "no-stopgrad"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_collapse_without_predictor_or_stopgrad(variant, seed):
    X, Xa = spectrum([1.5, 1.0, 0.5], 0.5, seed=seed)
    m = model(variant, X, Xa, eta=0.01)
    y0 = random_state(m, seed, scale=1.0)
    sol = dynsim.solve(m, y0, np.linspace(0.0, 400.0, 41), rtol=1e-9, atol=1e-14)
    norms = np.linalg.norm(np.asarray(m.unpack(sol.ys)["W"]), axis=(1, 2))
    assert np.all(np.diff(norms) <= 1e-12)  # ||W|| never grows: a PSD flow
    assert norms[-1] < 1e-8 * norms[0]  # and goes to zero


def test_symmetrized_system_equals_eigen_odes_and_obeys_theorem3():
    eta, sigma, alpha = 0.05, 1.0, 1.0
    sym = SymmetrizedBYOL(n=4, sigma=sigma, alpha_p=alpha, eta=eta, tau=1.0)
    # Aligned: the eigen ODEs exactly.
    p0, s0 = np.array([0.4, 0.2, 0.1, 0.6]), np.array([0.3, 0.05, 0.2, 0.1])
    u = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))[0]
    y0 = sym.pack(W_p=(u * p0) @ u.T, F=(u * s0) @ u.T)
    ts = np.linspace(0.0, 50.0, 51)
    sol = dynsim.solve(sym, y0, ts, rtol=1e-11, atol=1e-13)
    ref = dynsim.solve(dynsim.EigenDynamics2D(eta=eta, sigma=sigma, alpha_p=alpha), np.stack([p0, s0], -1), ts,
                       rtol=1e-11, atol=1e-13)
    st = sym.unpack(sol.ys)
    np.testing.assert_allclose(np.asarray(eigenpairs(st["W_p"], u)), np.asarray(ref.ys[..., 0]).T, atol=1e-8)
    np.testing.assert_allclose(np.asarray(eigenpairs(st["F"], u)), np.asarray(ref.ys[..., 1]).T, atol=1e-8)
    # Unaligned start: ||[F, W_p](t)|| <= exp(-2 int_0^t lambda_min(K)) ||[F, W_p](0)|| (Theorem 3),
    # hence <= e^{-2 lambda_0 t} with lambda_0 = inf lambda_min(K) when lambda_0 > 0.
    # K >= k (alpha_p/2) F - tau^2/(4k) + (3/2) eta >= -1/8 + (3/2) eta for any state (k = 2, tau = 1):
    # eta = 0.1 guarantees lambda_0 > 0 ("higher weight decay makes the condition hold").
    sym = SymmetrizedBYOL(n=4, sigma=sigma, alpha_p=alpha, eta=0.1, tau=1.0)
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    y0 = sym.pack(W_p=0.3 * (a + a.T) + 0.5 * np.eye(4), F=0.2 * (b @ b.T))
    ts = np.linspace(0.0, 20.0, 2001)
    sol = dynsim.solve(sym, y0, ts, rtol=1e-11, atol=1e-14)
    st = sym.unpack(sol.ys)
    comm = np.asarray(commutator_norm(st["F"], st["W_p"]))
    lam = np.linalg.eigvalsh(np.asarray(sym.K(sol.ys)))[:, 0]
    integral = np.concatenate([[0.0], np.cumsum(0.5 * (lam[1:] + lam[:-1]) * np.diff(ts))])
    lam0 = lam.min()
    assert lam0 > 0, lam0  # this start satisfies the theorem's condition
    tol = 1e-9 * comm[0]  # integration error of the solution and of the trapezoid rule
    assert np.all(comm <= np.exp(-2 * integral) * comm[0] * (1 + 1e-6) + tol)
    assert np.all(comm <= np.exp(-2 * lam0 * ts) * comm[0] + tol)


def test_scalar_matrix_dynamics_stationary_points_match_closed_forms():
    # n1 = n2 = 1 with W_a = tau W: isolated stationary points (w_p, w) = (p*, +-sqrt(p*^2/alpha_p)).
    eta, sigma, alpha = 0.01, 1.0, 1.0
    X, Xa = isotropic(1, sigma)
    m = LinearBYOL(n1=1, n2=1, X=X, X_aug=Xa, alpha_p=alpha, eta=eta, tau=1.0, target="fixed-ratio")
    fp = dynsim.find_fixed_points(m, dynsim.grid_starts([-0.3, 0.0], [1.0, 1.0], 12))
    eig = dynsim.EigenDynamics2D(eta=eta, sigma=sigma, alpha_p=alpha)
    np.testing.assert_allclose(fp.points[:, 0], eig.stationary_points()[:, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fp.points[:, 1] ** 2, eig.stationary_points()[:, 1], rtol=1e-9, atol=1e-12)
    assert fp.stability == ("stable node", "saddle", "stable node")


@pytest.mark.parametrize("kwargs,name", [
    (dict(X=np.array([[1.0, 0.5], [0.0, 1.0]])), "X"),
    (dict(X=np.diag([1.0, -0.5])), "X"),
    (dict(X_aug=np.eye(3)), "X_aug"),
    (dict(n1=0), "n1"),
    (dict(eta=-1.0), "eta"),
    (dict(predictor="mlp"), "predictor"),
])
def test_bad_matrix_model_input(kwargs, name):
    args = dict(n1=2, n2=2, X=np.eye(2), X_aug=0.25 * np.eye(2))
    args.update(kwargs)
    with pytest.raises(DynsimInputError) as e:
        LinearBYOL(**args)
    assert e.value.name == name


def test_nuisance_model_projections():
    X, Xa, ps, pb = nuisance(5, 2, 0.5)
    np.testing.assert_array_equal(ps + pb, np.eye(5))
    np.testing.assert_allclose(Xa, 0.25 * pb)
    with pytest.raises(DynsimInputError):
        nuisance(3, 4, 0.5)


def test_theorem3_K_along_a_trajectory_with_ema_tau():
    # K = k [(alpha_p/2) F + W_p^2 - tau/k W_p] + (3/2) eta I, with tau(t) one value per state.
    sym = SymmetrizedBYOL(n=3, sigma=0.5, alpha_p=1.5, eta=0.1, ema=True)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    ys = np.stack([sym.pack(W_p=a + a.T, F=b @ b.T, tau=np.array([tau])) for tau in (0.2, 0.9)])
    K = np.asarray(sym.K(ys))
    for y, k in zip(ys, K):
        m = sym.unpack(y)
        wp, f, tau = np.asarray(m["W_p"]), np.asarray(m["F"]), float(m["tau"][0])
        expect = 1.25 * (0.75 * f + wp @ wp - tau / 1.25 * wp) + 0.15 * np.eye(3)
        np.testing.assert_allclose(k, expect, rtol=1e-13, atol=1e-13)


def test_no_predictor_without_stop_gradient_is_refused():
    """W_p = I without stop-gradient has the flow -2 W X' - eta W, which LinearBYOL does not
    implement: it is refused rather than integrated as the stop-gradient flow."""
    with pytest.raises(dynsim.DynsimInputError) as e:
        dynsim.LinearBYOL(n1=2, n2=2, X=np.eye(2), X_aug=0.25 * np.eye(2), predictor="identity", target="online",
                          stop_gradient=False)
    assert e.value.name == "stop_gradient"
