"""Linear SimSiam with the population cosine loss (dynsim.models.cosine), float64.

Tolerances: the loss route equals the hand-written gradient to 1e-12 relative (and dropping the stop-gradient
changes it by more than 0.1); at aligned states the matrix field projected on the modes is the eigenmode ODE to
1e-12; the norm law ||W(t)|| = ||W(0)|| e^{-eta t} and the time change W_eta(t) = e^{-eta t} W_0(u) hold to 1e-8
(solver rtol 1e-11); the end point from c_j > 0 is the closed form to 1e-8 (flow) and 1e-10 (root solve); the
Jacobian there has n+1 zero and n-1 negative eigenvalues; the stability rule at hand-made roots is exact.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynsim
from dynsim import DynsimInputError, field_discrepancy
from dynsim.models.cosine import claims as cc
from dynsim.models.cosine import system as cs

EXACT = 1e-12
TIGHT = dict(rtol=1e-11, atol=1e-13, max_steps=200_000)


def psd(rng, n, shift):
    a = rng.normal(size=(n, n))
    return a @ a.T / n + shift * np.eye(n)


def hand_field(flow, y, stop_gradient=True):
    """-grad of -N/(D1 D2): dW_p = alpha_p/D2 [W X W^T/D1 - N W_p W C W^T/D1^3] - eta W_p, and the same for W."""
    w = flow.unpack(jnp.asarray(y))
    Wp, W = w["W_p"], w["W"]
    X, C = flow.data["X"], flow.data["X"] + flow.data["X_aug"]
    A = Wp @ W
    N, D1, D2 = jnp.sum((A @ X) * W), jnp.sqrt(jnp.sum((A @ C) * A)), jnp.sqrt(jnp.sum((W @ C) * W))
    eta, ap = flow.params["eta"], flow.params["alpha_p"]
    gWp = (W @ X @ W.T / D1 - N * A @ C @ W.T / D1**3) / D2
    gW = (Wp.T @ W @ X / D1 - N * Wp.T @ A @ C / D1**3) / D2
    if not stop_gradient:  # the target branch differentiated too
        gW = gW + (A @ X / D1 - N * W @ C / (D1 * D2**2)) / D2
    return flow.pack({"W_p": ap * gWp - eta * Wp, "W": gW - eta * W})


def test_loss_route_is_the_hand_written_gradient():
    rng = np.random.default_rng(3)
    X, Xa = psd(rng, 3, 0.2), psd(rng, 3, 0.05)
    flow = cs.cosine_flow(3, 0.07, alpha_p=1.6, X=X, X_aug=Xa)
    ys = rng.normal(size=(5, flow.dim))
    assert field_discrepancy(flow, lambda t, y: hand_field(flow, y), ys).max() < EXACT
    assert field_discrepancy(flow, lambda t, y: hand_field(flow, y, False), ys).min() > 0.1


def test_aligned_field_is_the_eigenmode_ode():
    p, s = np.array([0.7, -0.2, 0.4]), np.array([0.5, 0.9, 0.2])
    flow, eig = cs.cosine_flow(3, 0.3, 0.8, 1.4), cs.CosineEigen(eta=0.3, sigma=0.8, alpha_p=1.4, modes=3)
    m = cs.aligned_matrices(p, s, seed=2)
    f = flow.unpack(flow.vector_field(0.0, flow.pack({"W_p": m["W_p"], "W": m["W"]})))
    u, W = m["U"], m["W"]
    dF = np.asarray(f["W"]) @ W.T + W @ np.asarray(f["W"]).T
    got = np.concatenate([np.einsum("ij,ik,kj->j", u, np.asarray(f["W_p"]), u), np.einsum("ij,ik,kj->j", u, dF, u)])
    want = np.asarray(eig.vector_field(0.0, jnp.asarray(np.concatenate([p, s]))))
    np.testing.assert_allclose(got, want, rtol=0, atol=EXACT * np.abs(want).max())


def test_norm_law_and_time_change_from_a_random_start():
    rng = np.random.default_rng(5)
    X, Xa = psd(rng, 3, 0.2), psd(rng, 3, 0.05)
    eta = 0.3
    flow, zero = cs.cosine_flow(3, eta, X=X, X_aug=Xa), cs.cosine_flow(3, 0.0, X=X, X_aug=Xa)
    y0 = flow.init(4)
    ts = np.linspace(0.0, 3.0, 7)
    ys = np.asarray(dynsim.solve(flow, y0, ts, **TIGHT).ys)
    y0s = np.asarray(dynsim.solve(zero, y0, cs.time_change(ts, eta), **TIGHT).ys)
    w = flow.unpack(ys)
    for k in ("W", "W_p"):
        norm = np.linalg.norm(np.asarray(w[k]), axis=(-2, -1))
        np.testing.assert_allclose(norm, norm[0] * np.exp(-eta * ts), rtol=1e-8)
    shrunk = np.exp(-eta * ts)[:, None] * y0s
    assert np.max(np.linalg.norm(ys - shrunk, axis=-1) / np.linalg.norm(ys, axis=-1)) < 1e-8
    # the Euclidean loss has no such law: its norm does not follow e^{-eta t}
    e = np.asarray(dynsim.solve(cs.euclidean_flow(3, eta, X=X, X_aug=Xa), y0, ts, **TIGHT).ys)
    ne = np.linalg.norm(np.asarray(flow.unpack(e)["W"]), axis=(-2, -1))
    assert np.max(np.abs(ne / (ne[0] * np.exp(-eta * ts)) - 1)) > 1e-2


def test_end_point_closed_form_root_and_jacobian():
    zero = cs.CosineEigen(eta=0.0, modes=4)
    closed = zero.end_point(cc.Y0)
    assert np.all(closed[:4] == closed[0]) and np.isclose(np.sum(closed[:4] ** 2), np.sum(cc.P0**2))
    ys = np.asarray(dynsim.solve(zero, cc.Y0, np.array([0.0, 2.0, 200.0]), **TIGHT).ys)
    np.testing.assert_allclose(ys[-1], closed, rtol=0, atol=1e-8)
    root, res = cs.root_end_point(zero, ys[1])
    assert res < 1e-12 and np.max(np.abs(root - closed)) < 1e-10
    along, trans = cs.transverse_spectrum(zero, closed)
    assert len(along) == 5 and len(trans) == 3 and np.all(trans.real < 0)
    # at eta = 0.2 > eta_c only the shape settles, at the same point
    hot = cs.CosineEigen(eta=0.2, modes=4)
    y = np.asarray(dynsim.solve(hot, cc.Y0, np.array([0.0, 2.0, 15.0]), **TIGHT).ys)[-1]  # same shapes: no compile
    np.testing.assert_allclose(cs.normalised(hot, y), cs.normalised(hot, closed), atol=1e-8)


@pytest.mark.parametrize("p4, attracts", [(0.1, False), (0.8, True), (-0.3, True)])
def test_stationary_rule_at_hand_made_roots(p4, attracts):
    """Three living modes at pbar = 0.5, a collapsed fourth with p4: it regrows iff 0 <= p4 <= pbar."""
    system = cs.CosineEigen(eta=0.0, modes=4)
    y = np.array([0.5, 0.5, 0.5, p4, 0.6, 0.3, 0.2, 0.0])
    assert np.max(np.abs(np.asarray(system.vector_field(0.0, jnp.asarray(y))))) < EXACT
    along, trans = cs.transverse_spectrum(system, y)
    assert (len(along) == 5 and bool(np.all(trans.real < 0))) == attracts
    assert cc._predicted_stable(y, 4) == (attracts, 0.0)
    flipped = y.copy()
    flipped[:3] = -0.5  # pbar < 0: the cosine's minimum
    assert not np.all(cs.transverse_spectrum(system, flipped)[1].real < 0)


def test_bad_input():
    with pytest.raises(DynsimInputError) as e:
        cs.CosineEigen(modes=1)
    assert e.value.name == "modes"
    with pytest.raises(DynsimInputError) as e:
        cs.CosineEigen(eta=0.0, modes=2).end_point([0.5, 0.5, 0.1, 0.9])  # c_1 < 0
    assert e.value.name == "y0"
    with pytest.raises(DynsimInputError) as e:
        cs.cosine_flow(3, eta=-1.0)
    assert e.value.name == "eta"


def test_simulate_command_and_claims_listed(tmp_path, capsys):
    import cli
    from dynsim.models.seed_claims import REGISTRY

    rc = cli.main(["simulate", "simsiam-cosine", "--n1", "3", "--t1", "3", "--n-save", "21", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    for ext in ("png", "npz", "json"):
        assert (tmp_path / f"simulate_simsiam-cosine.{ext}").stat().st_size > 0
    rec = json.loads((tmp_path / "simulate_simsiam-cosine.json").read_text())
    assert rec["parameters"]["n"] == 3 and rec["summary"]["complete"]
    assert rec["summary"]["time_change_max_error"] < 1e-8 and rec["summary"]["cosine_norm_law_max_error"] < 1e-8
    assert "the time change" in err
    rc = cli.main(["simulate", "simsiam-cosine", "--temperature", "2", "--out", str(tmp_path / "x")])
    out, err = capsys.readouterr()
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "--temperature" in err, err
    assert not (tmp_path / "x").exists()
    assert cli.main(["check", "--list", "--model", "dynsim.models.cosine.claims"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 8 and all(line.startswith("cosine-") for line in lines)
    assert not any(n.startswith("cosine-") for n in REGISTRY)


def test_registry_names_the_simulate_jobs():
    """`dynsim simulate NAME` takes its extra names from the registry's entries with a job (read without jax)."""
    import cli
    from dynsim.models import registry

    assert registry.simulate_names() == cli.JOBS
    assert {"jepa", "simsiam-cosine", "vicreg"} <= set(cli.JOBS) and "eigen" not in cli.JOBS
    from dynsim.models.cosine.job import cli_job

    assert registry.simulate_job("simsiam-cosine") is cli_job
    with pytest.raises(DynsimInputError) as e:
        registry.simulate_job("eigen")
    assert e.value.name == "model"
    with pytest.raises(DynsimInputError) as e:
        registry.register("x", lambda: None, "x", "x", job="no-colon")
    assert e.value.name == "job" and not registry.has("x")
