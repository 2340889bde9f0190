"""`simulate`: DirectPred/DirectCopy/DirectSet models, the reported quantities, the CLI and bad input."""

import json

import numpy as np
import pytest

import cli
import dynsim
from dynsim import DynsimInputError
from dynsim.models.byol.system import directset, isotropic, nuisance


def diag_model(**kw):
    X, Xa = isotropic(3, 0.5)
    return directset(n1=3, n2=3, X=X, X_aug=Xa, **kw)


@pytest.mark.parametrize("normalisation,alpha,eps,expect", [
    ("paper", 0.5, 0.1, np.sqrt([4.0, 1.0, 0.25]) + 0.1 * 4.0),  # p_j = sqrt(s_j) + eps max s
    ("code", 0.5, 0.1, np.sqrt([1.0, 0.25, 0.0625]) + 0.1),  # p_j = sqrt(s_j / max s) + eps
    ("paper", 1.0, 0.0, [4.0, 1.0, 0.25]),  # DirectCopy: W_p = F
    ("code", 2.0, 0.0, [1.0, 1 / 16, 1 / 256]),
])
def test_set_rules_on_a_known_spectrum(normalisation, alpha, eps, expect):
    m = diag_model(alpha=alpha, eps=eps, normalisation=normalisation)
    u = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    wp = np.asarray(m.predictor_from((u * [4.0, 1.0, 0.25]) @ u.T))
    np.testing.assert_allclose(u.T @ wp @ u, np.diag(expect), atol=1e-13)


def test_running_estimate_decays_like_the_discrete_ema():
    # With W frozen (W = 0 is not: use eta = 0 and check the F_hat equation alone), dF_hat/dt =
    # -(ln rho / lr)(F - F_hat): after k steps of length lr, F - F_hat shrinks by rho^k as in the EMA.
    m = diag_model(alpha=0.5, rho=0.3, lr=0.01)
    w = np.diag([1.0, 0.5, 0.2])
    y = m.pack(W=w, W_a=w, F_hat=np.zeros((3, 3)))
    d = m.unpack(m.vector_field(0.0, y))["F_hat"]
    np.testing.assert_allclose(d, -np.log(0.3) / 0.01 * (w @ w.T), rtol=1e-13)


def test_held_predictor_is_piecewise_constant_and_refreshed():
    X, Xa, _, _ = nuisance(4, 2, 1.0)
    m = directset("directpred", n1=4, n2=4, X=X, X_aug=Xa, eta=0.05, rho=0.5, lr=0.1, freq=5)
    assert float(m.hold_period()) == pytest.approx(0.5)
    w0 = np.random.default_rng(1).normal(size=(4, 4)) / 2
    ts = np.linspace(0.0, 2.0, 41)  # 0.05 apart: 10 saves per hold period
    sol = dynsim.solve(m, m.initial_state(w0), ts)
    assert sol.complete
    st = m.unpack(sol.ys)
    wp, fh = np.asarray(st["W_p"]), np.asarray(st["F_hat"])
    # held within a period (ts[1..9] share the period starting at t = 0) ...
    assert np.max(np.abs(wp[1:10] - wp[0])) == 0.0
    # ... and at each boundary t = 0.5, 1.0, 1.5, 2.0 set from the running estimate by the rule
    for i in (10, 20, 30, 40):
        np.testing.assert_allclose(wp[i], np.asarray(m.predictor_from(fh[i])), atol=1e-13)
    assert np.max(np.abs(wp[10] - wp[9])) > 1e-3
    # the piecewise solve agrees with a continuous-W_p reference where the hold does not matter:
    cont = directset("directpred", n1=4, n2=4, X=X, X_aug=Xa, eta=0.05, rho=0.5, lr=0.1)
    ref = dynsim.solve(cont, cont.initial_state(w0), ts)
    w_held, w_cont = np.asarray(st["W"][-1]), np.asarray(cont.unpack(ref.ys)["W"][-1])
    assert 0 < np.linalg.norm(w_held - w_cont) < 0.1 * np.linalg.norm(w_cont)


@pytest.mark.parametrize("kwargs,name", [
    (dict(eps=-0.1), "eps"), (dict(rho=1.0), "rho"), (dict(rho=-0.2), "rho"), (dict(alpha=0.0), "alpha"),
    (dict(freq=0), "freq"), (dict(normalisation="l2"), "normalisation"), (dict(n1=0), "n1"),
])
def test_directset_bad_input(kwargs, name):
    args = dict(n1=2, n2=2, X=np.eye(2), X_aug=0.25 * np.eye(2), alpha=0.5)
    args.update(kwargs)
    with pytest.raises(DynsimInputError) as e:
        directset("directset", **args)
    assert e.value.name == name


@pytest.mark.parametrize("model", dynsim.MODELS)
def test_every_model_simulates_and_reports(model):
    sim = dynsim.simulate(model, **({} if model == "scalar" else {"n1": 4}), t1=20.0, n_save=21)
    s = sim.summary()
    assert s["complete"] and s["model"] == model
    assert len(s["eig_F_final"]) == (1 if model == "scalar" else 4)
    if model in ("byol", "simsiam"):
        assert s["theorem1_max_relative_drift"] < 1e-8
    if model == "symmetrized":
        assert s["theorem3"]["applies"] == (s["theorem3"]["lambda_0"] > 0)
    if model == "byol":
        assert 0 < s["corr_Wa_W_min"] <= 1
    if model in ("directpred", "directcopy", "directset"):
        assert s["nuisance"]["predicted_singular_value"] == pytest.approx(float(sim.system.limit()))


def test_collapse_prediction_replaces_nan_when_no_limit_exists():
    sim = dynsim.simulate("directcopy", n1=4, eta=0.3, t1=5.0, n_save=6)
    s = sim.summary()
    assert s["nuisance"]["predicted"].startswith("collapse: 1 - 4 eta = -0.2 < 0")
    assert "predicted_singular_value" not in s["nuisance"]


def test_symmetric_predictor_with_fixed_ratio_obeys_theorem3():
    sim = dynsim.simulate("symmetrized", n1=4, eta=0.1, t1=30.0, n_save=601)
    s = sim.summary()["theorem3"]
    assert s["applies"] and s["max_commutator_over_bound"] <= 1 + 1e-6


def test_simulate_cli_writes_outputs(tmp_path, capsys):
    rc = cli.main(["simulate", "directset", "--alpha", "2", "--n1", "4", "--t1", "50", "--out", str(tmp_path),
                   "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    s = json.loads(out)
    c = ((1 + np.sqrt(1 - 4 * 0.2)) / 2) ** (1 / (2 * 2))  # [W21] at eta = 0.2, alpha = 2
    assert s["nuisance"]["predicted_singular_value"] == pytest.approx(c, rel=1e-14)
    rec = json.loads((tmp_path / "simulate_directset.json").read_text())
    assert rec["parameters"]["alpha"] == 2.0 and rec["summary"] == s
    data = np.load(tmp_path / "simulate_directset.npz")
    assert data["s"].shape == (201, 4) and data["norm_B"].shape == (201,)
    assert (tmp_path / "simulate_directset.png").stat().st_size > 50_000


def test_partial_runs_are_labelled(tmp_path, capsys):
    rc = cli.main(["simulate", "byol", "--n1", "4", "--max-steps", "20", "--out", str(tmp_path), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    s = json.loads(out)
    assert s["partial"] and not s["complete"] and s["status"] == "max-steps"
    assert s["t_final"] < 200
    assert "PARTIAL: trajectory" in err and "max-steps at t =" in err


def test_user_covariances_from_npz(tmp_path, capsys):
    good = tmp_path / "good.npz"
    np.savez(good, X=np.diag([2.0, 1.0, 0.5]), X_aug=0.1 * np.eye(3))
    assert cli.main(["simulate", "byol", "--cov", str(good), "--t1", "10", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    rec = json.loads((tmp_path / "simulate_byol.json").read_text())
    assert rec["parameters"]["n1"] == 3 and rec["parameters"]["data"] == "user"


@pytest.mark.parametrize("cov,option", [
    (dict(X=np.array([[1.0, 0.3], [0.0, 1.0]]), X_aug=np.eye(2)), "--cov"),  # not symmetric
    (dict(X=np.diag([1.0, -1.0]), X_aug=np.eye(2)), "--cov"),  # not PSD
    (dict(X=np.eye(2), X_aug=np.eye(3)), "--cov"),  # mismatched
    (dict(X=np.eye(2)), "--cov"),  # missing X_aug
])
def test_bad_covariances_exit_2(tmp_path, capsys, cov, option):
    f = tmp_path / "c.npz"
    np.savez(f, **cov)
    assert cli.main(["simulate", "byol", "--cov", str(f), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"dynsim: error: {option}")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args,option", [
    (["directset", "--eps", "-1"], "--eps"), (["directpred", "--rho", "1"], "--rho"),
    (["directset", "--alpha", "0"], "--alpha"), (["byol", "--n1", "0"], "--n1"),
    (["byol", "--n2", "0"], "--n2"), (["directcopy", "--freq", "0"], "--freq"),
    (["byol", "--init-scale", "0"], "--init-scale"), (["byol", "--sigma", "nan"], "--sigma"),
    (["nonsense"], "Invalid value"),
])
def test_bad_simulate_input_exit_2(tmp_path, capsys, args, option):
    assert cli.main(["simulate", *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0]
    assert not (tmp_path / "o").exists()


def test_code_normalisation_predicts_and_shows_collapse():
    sim = dynsim.simulate("directset", n1=4, normalisation="code", eta=0.2, t1=200.0, n_save=3)
    s = sim.summary()
    assert s["nuisance"]["predicted"].startswith("collapse: with the code normalisation")
    assert s["collapsed_dims"] == 4  # every eigenvalue of F below 1e-6 of its start


@pytest.mark.parametrize("model, option, value", [
    ("byol", "alpha", 2.0), ("byol", "tau", 2.0), ("simsiam", "beta", 0.4), ("no-predictor", "alpha_p", 2.0),
    ("directpred", "alpha", 2.0), ("directpred", "beta", 0.4), ("directset", "lr", 0.1), ("symmetrized", "eps", 0.1),
    ("scalar", "n1", 3), ("scalar", "sigma", 1.0), ("byol", "dim_b", 2), ("byol", "decay", 0.5)])
def test_an_option_that_does_not_apply_is_refused(model, option, value):
    with pytest.raises(DynsimInputError) as e:
        dynsim.simulate(model, t1=1.0, **{option: value})
    assert e.value.name == option and "does not apply" in str(e.value)


def test_options_that_apply_change_the_run():
    """The other side of the refusal: each option listed as applying changes the record."""
    assert dynsim.simulate("directset", n1=4, alpha=2.0, t1=1.0, n_save=3).params["alpha"] == 2.0
    sim = dynsim.simulate("directset", n1=4, rho=0.5, lr=0.1, t1=1.0, n_save=3)
    assert (sim.params["rho"], sim.params["lr"]) == (0.5, 0.1)
    assert dynsim.simulate("byol", n1=4, data="spectrum", decay=0.5, t1=1.0, n_save=3).params["decay"] == 0.5
    assert "beta" not in dynsim.simulate("simsiam", n1=4, t1=1.0, n_save=3).params  # no EMA target, no beta


def test_directset_exponent_is_bounded():
    with pytest.raises(DynsimInputError, match=r"\(0, 8\]") as e:
        dynsim.simulate("directset", alpha=1e308)
    assert e.value.name == "alpha"
