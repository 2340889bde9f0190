"""Linear VICReg (dynsim.models.vicreg), float64.

Tolerances: the loss route equals the hand-written gradient to 1e-12 relative; at a diagonal W the matrix field's
diagonal is the one-mode ODE to 1e-12 with off-diagonals exactly 0; the one-mode ODE ends at v* to 1e-8 and collapses
past the threshold (v < 1e-20); the Jacobian at the decorrelated point changes stability between 0.9 and 1.1 nu_c;
the command's aligned sweep collapses exactly the closed form's modes, its variances within 1e-6, and from the random
start C has rank 1 at the paper's nu and rank 4 at 2 nu_c. The minibatch loss on samples with exact covariances is
the population loss to 1e-12; SGD on sampled views stays within the claim's 0.1 of the flow (batch 256, lr 1e-3;
measured 0.047) and its discrepancy falls below 0.6x at batch 1024 (measured 0.41x).
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynsim
from dynsim import DynsimInputError, field_discrepancy
from dynsim.models.vicreg import claims as vc
from dynsim.models.vicreg import system as vs

EXACT = 1e-12


def hand_field(flow, y):
    """-(4 lam W X' + (4 mu/d) diag(h'(C_ii)) W B + (8 nu/d) offdiag(C) W B), h'(v) = -1/(2 sqrt(v + eps)) below gamma."""
    W = flow.unpack(jnp.asarray(y))["W"]
    P = flow.params
    B = flow.data["X"] + flow.data["X_aug"]
    d = W.shape[0]
    C = W @ B @ W.T
    std = jnp.sqrt(jnp.diagonal(C) + P["eps"])
    hp = jnp.where(std < P["gamma"], -0.5 / std, 0.0)
    off = C - jnp.diag(jnp.diagonal(C))
    g = 4 * P["lam"] * W @ flow.data["X_aug"] + (4 * P["mu"] / d) * hp[:, None] * (W @ B) + (8 * P["nu"] / d) * off @ W @ B
    return flow.pack({"W": -g})


def test_loss_route_is_the_hand_written_gradient():
    X, Xa = vs.default_data(seed=1)
    flow = vs.vicreg_flow(X, Xa, d=3, lam=2.0, mu=1.5, nu=0.7)
    ys = 0.4 * np.random.default_rng(0).normal(size=(5, flow.dim))
    ys[0] *= 10  # one state with every std above gamma: the hinge is off
    assert field_discrepancy(flow, lambda t, y: hand_field(flow, y), ys).max() < EXACT


def test_diagonal_field_is_the_one_mode_ode():
    X, Xa = vs.default_data(seed=None)
    flow = vs.vicreg_flow(X, Xa, lam=3.0, mu=2.0)
    w = np.array([0.3, -0.1, 0.05, 2.0])
    f = np.asarray(flow.unpack(flow.vector_field(0.0, flow.pack({"W": np.diag(w)})))["W"])
    assert np.all(f[~np.eye(4, dtype=bool)] == 0.0)
    for j, m in enumerate(vs.NOISE):
        mode = vs.VICRegMode(lam=3.0, mu=2.0, a=m, b=1.0, d=4.0)
        want = float(mode.vector_field(0.0, jnp.array([w[j]]))[0])
        assert abs(f[j, j] - want) <= EXACT * max(abs(want), 1e-300), (j, f[j, j], want)


def test_one_mode_ends_at_the_closed_form_or_collapses():
    thr = vs.collapse_threshold(0.5, 4)
    lams = np.array([0.3, 0.8, 1.2, 2.0]) * thr
    mode = vs.VICRegMode(lam=jnp.asarray(lams), mu=1.0, a=0.5, b=1.0, d=4.0)
    end = np.asarray(dynsim.solve(mode, np.full((4, 1), 0.2), np.array([0.0, 200.0]), rtol=1e-11, atol=1e-14).ys)[:, -1, 0]
    v, closed = end**2, vs.stationary_variances(0.5, 4, lam=lams, mu=1.0)
    np.testing.assert_allclose(v[:2], closed[:2], rtol=1e-8)
    assert np.all(v[2:] < 1e-20) and np.all(closed[2:] == 0)
    pts = vs.VICRegMode(lam=0.3 * thr, mu=1.0, a=0.5, b=1.0, d=4.0).stationary_points()
    assert pts.shape == (3, 1) and np.isclose(pts[2, 0] ** 2, closed[0])


@pytest.mark.parametrize("factor, stable", [(0.9, False), (1.1, True)])
def test_decorrelation_threshold_by_the_jacobian(factor, stable):
    nu_c = vs.decorrelation_threshold(vc.M, vc.D)
    assert vc._jacobian_stable(factor * nu_c)[0] is stable


def test_bad_input():
    with pytest.raises(DynsimInputError) as e:
        vs.vicreg_flow(eps=0.0)
    assert e.value.name == "eps"
    with pytest.raises(DynsimInputError) as e:
        vs.default_data(noise=(0.2, 1.5, 0.3, 0.4))
    assert e.value.name == "noise"
    with pytest.raises(DynsimInputError) as e:
        vs.decorrelation_threshold(vc.M, 4, lam=100.0, mu=1.0)  # past every threshold
    assert e.value.name == "lam"


def test_simulate_command(tmp_path, capsys):
    import cli

    rc = cli.main(["simulate", "vicreg", "--t1", "1", "--n-save", "21", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    for ext in ("png", "npz", "json"):
        assert (tmp_path / f"simulate_vicreg.{ext}").stat().st_size > 0
    s = json.loads((tmp_path / "simulate_vicreg.json").read_text())["summary"]
    assert s["complete"] and s["sweep_collapsed"] == s["sweep_collapsed_closed_form"] == [0, 0, 1, 2, 3, 4]
    assert s["sweep_max_relative_error"] < 1e-6 and s["sweep_collapsed_max_variance"] < vs.COLLAPSED
    assert s["random_start"]["given"]["rank"] == 1 and s["random_start"]["twice_nu_c"]["rank"] == 4
    rc = cli.main(["simulate", "vicreg", "--eta", "0.1", "--out", str(tmp_path / "x")])
    out, err = capsys.readouterr()
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "--eta" in err and "vicreg" in err, err
    assert not (tmp_path / "x").exists()


def test_batch_loss_on_exact_samples_is_the_population_loss():
    """Rows with exact second moments (x, xi1, xi2 on orthogonal column blocks): C^1 = C^2 = W (X + X') W^T and
    mean ||W (xi1 - xi2)||^2 = 2 tr(W X' W^T), so the minibatch loss is the population loss."""
    X, Xa = vs.default_data(seed=2)
    n, B = X.shape[0], 16
    q = np.linalg.qr(np.random.default_rng(1).normal(size=(B, 3 * n)))[0] * np.sqrt(B)
    lx, la = np.linalg.cholesky(X), np.linalg.cholesky(Xa)
    x, xi1, xi2 = q[:, :n] @ lx.T, q[:, n:2 * n] @ la.T, q[:, 2 * n:] @ la.T
    coef = dict(lam=2.0, mu=1.5, nu=0.7, eps=1e-4, gamma=1.0)
    for W in 0.4 * np.random.default_rng(3).normal(size=(3, 3, n)):
        want = float(vs.vicreg_loss(W=W, X=X, X_aug=Xa, **coef))
        got = float(vs.vicreg_batch_loss(W=W, x1=x + xi1, x2=x + xi2, **coef))
        assert abs(got - want) <= EXACT * abs(want), (got, want)


def test_sgd_follows_the_flow_and_tightens_with_the_batch():
    from dynsim.models.seed_claims import run_claim
    from dynsim.tools.claims import USER_CLAIMS

    r = run_claim(USER_CLAIMS["dynsim.models.vicreg.claims"]["vicreg-sgd-follows-flow"])
    assert r.verdict == "reproduced" and 0 < r.measured <= r.tolerance == 0.1, r.detail
    base = vc.sgd_run()
    assert base.error.shape == (vc.SGD["seeds"], 21) and np.all(base.error[:, 0] == 0.0)
    big = vc.sgd_run(batch=4 * vc.SGD["batch"])
    assert big.complete and np.max(big.error) < 0.6 * np.max(base.error), (np.max(big.error), np.max(base.error))
