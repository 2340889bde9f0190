"""Finite-width training (optax SGD, one jitted scan, vmapped over seeds) against the ODEs (issue 6)."""

import numpy as np
import pytest

import cli
import dynsim
from dynsim.training.train import train

FAST = dict(seeds=2, width=4)


def test_simsiam_training_converges_to_lemma1_flow():
    """The spectrum of F from SGD approaches the matrix ODE (same start) as lr -> 0 and batch grows;
    at lr 0.01, batch 1024 it is within 2% (relative to the largest eigenvalue)."""
    c = dynsim.compare("simsiam", lrs=(0.04, 0.01), batches=(64, 1024), T=5.0, **FAST)
    e = c.errors
    assert e[1, 1] < e[0, 1] and e[1, 1] < e[1, 0] and e[0, 1] < e[0, 0], e
    assert e[1, 1] < 0.02, e
    r = c.rates()
    assert r["err_vs_lr_slope"] > 0.3 and r["err_vs_batch_slope"] < -0.1, r


def test_byol_ema_target_and_fixed_finite_set():
    """EMA target with momentum 1 - lr beta; with a fixed set of 256 points the ODE uses the set's X."""
    c = dynsim.compare("byol", lrs=(0.02,), batches=(512,), T=4.0, samples=256, **FAST)
    assert c.errors[0, 0] < 0.03, c.errors
    assert np.all(c.best.series["corr"][:, -1] > 0.9)
    x_set = np.asarray(c.best.system.X)
    assert not np.allclose(x_set, np.eye(4), atol=1e-2)  # the empirical covariance, not I


def test_directpred_predictor_follows_the_set_rule():
    c = dynsim.compare("directpred", lrs=(0.02,), batches=(1024,), T=4.0, **FAST)
    assert c.checks["max_error_p_vs_rule"] < 0.05, c.checks
    assert c.errors[0, 0] < 0.05


def test_barlow_steps_in_order_and_step_times_match_closed_form():
    """[S23]: from a small init the directions are learned one after another at
    t_j = ln(1 / (gamma_j s_j(0)^2)) / (8 gamma_j), within 20% here."""
    c = dynsim.compare("barlow", lrs=(0.01,), batches=(1024,), T=12.0, seeds=2)
    ch = c.checks
    assert ch["steps_in_order"]
    lo, hi = ch["step_time_ratio_range"]
    assert 0.9 < lo and hi < 1.2, ch
    assert c.errors[0, 0] < 0.1


def test_infonce_collapses_where_X_is_negative():
    """jing-case1: the smallest singular directions of the trained W overlap X's negative eigenspace
    far more than a random subspace would."""
    c = dynsim.compare("infonce", lrs=(4e-3,), T=4.0, seeds=2)
    ch = c.checks
    assert ch["negative_eigenvalues"] > 0
    assert ch["subspace_overlap_mean"] > ch["subspace_overlap_random"] + 0.2, ch
    assert c.errors[0, 0] < 0.05


def test_divergence_is_detected_with_its_step():
    run = train("simsiam", lr=50.0, steps=40, log_every=10, **FAST)
    assert not run.complete and np.all(run.diverged_step >= 0) and np.all(run.diverged_step < 40)
    assert np.all(np.isnan(run.series["s"][:, -1]))
    with pytest.raises(dynsim.DynsimInputError, match=r"diverged at lr = 50, batch 64: seed \d at step \d+"):
        dynsim.compare("simsiam", lrs=(50.0,), batches=(64,), T=2000.0, **FAST)


def test_beyond_linear_runs_have_no_ode():
    run = train("byol", predictor="mlp", relu=True, steps=40, log_every=20, **FAST)
    assert run.system is None and run.complete and np.all(np.isfinite(run.series["s"]))
    run = train("simsiam", augment="masking", steps=40, log_every=20, **FAST)
    assert run.system is None and run.complete


@pytest.mark.parametrize("kwargs, needle", [
    (dict(lr=0.0), "lr"),
    (dict(steps=30, log_every=20), "divide"),
    (dict(width=200_000, batch=200_000), "GiB"),
    (dict(augment="blur"), "augment"),
])
def test_bad_training_input(kwargs, needle):
    with pytest.raises(dynsim.DynsimInputError, match=needle):
        train("simsiam", **{"steps": 40, "log_every": 20, **kwargs})


def test_compare_command(tmp_path, capsys):
    import json

    import cli

    rc = cli.main(["compare", "simsiam", "--lr", "0.02", "--batch", "256", "--time", "2", "--seeds", "2",
                   "--width", "4", "--out", str(tmp_path), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    s = json.loads(out)
    assert s["complete"] and s["discrepancy_best"] < 0.05
    assert (tmp_path / "compare_simsiam.png").stat().st_size > 20_000
    rc = cli.main(["compare", "simsiam", "--lr", "50", "--batch", "64", "--time", "2000", "--seeds", "2",
                   "--width", "4", "--out", str(tmp_path / "never")])
    _, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if "error" in line]
    assert rc == 2 and len(errors) == 1 and "diverged at lr = 50, batch 64: seed 0 at step" in errors[0], err
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("args, option", [
    (["infonce", "--eta", "0.1"], "--eta"), (["infonce", "--sigma", "2"], "--sigma"),
    (["infonce", "--width", "4"], "--width"), (["barlow", "--beta", "0.3"], "--beta"),
    (["byol", "--time", "0.01"], "--time"),  # below one step of the default lr 0.04: never reached
])
def test_compare_refuses_what_it_would_ignore(args, option, tmp_path, capsys):
    """An option that would not change the run (or a T the steps cannot reach) is refused before
    any training, in one line that names it; nothing is written."""
    rc = cli.main(["compare", *args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith(f"dynsim: error: {option}:"), err
    assert not (tmp_path / "o").exists()


def test_infonce_fresh_augmentations_and_bias_as_the_authors_scripts():
    """``fresh``: each batch is contents of the fixed pairs with new noise of covariance X' (jing-case1: the
    last 8 coordinates only, std 1.5), so the two views agree on the first 8 and differ by 2 sigma^2 on the rest;
    ``bias``: every layer starts with PyTorch's U(+-1/sqrt(fan_in)) bias, per seed, and trains it. Either run is
    marked as leaving the flow, and the collapse counts are given per seed with both thresholds."""
    import jax

    from dynsim.models.infonce.collapse import PRESETS, build_contrastive, view_source
    from dynsim.training.train import _InfoNCE

    p = {k: v for k, v in PRESETS["jing-case1"].items() if k not in ("t1", "about", "init", "init_scale", "model")}
    system, resolved, _ = build_contrastive("infonce", seed=3, **p)
    c, S = view_source(resolved, 3)
    x_fixed = np.asarray(system.x)
    assert np.allclose(x_fixed[:, :8], c[:, :8], rtol=0, atol=1e-14)  # the same contents as the fixed pairs
    assert np.allclose(S @ S.T, np.diag(np.r_[np.zeros(8), np.full(8, 1.5**2)]), atol=1e-12)
    net = _InfoNCE({"system": system, "batch": 4096, "bias": True, "fresh": True})
    x1, x2 = map(np.asarray, net.sample(jax.random.key(0), {"c": c, "S": S}))
    d = x1 - x2
    assert np.all(d[:, :8] == 0)
    assert np.allclose(d[:, 8:].var(0), 2 * 1.5**2, rtol=0.1)  # 4096 draws: the variance to ~2% (5 sd < 10%)
    params, _ = net.init(jax.random.key(1), {"W0": np.stack([np.eye(16)])})
    b = np.asarray(params["bs"][0])
    assert b.shape == (16,) and np.all(np.abs(b) <= 0.25) and np.abs(b).max() > 0.1
    run = train("infonce", preset="jing-case1", lr=1e-3, steps=200, log_every=100, seeds=2, batch=128, bias=True,
                fresh=True)
    assert run.complete and run.params["bias"] and run.params["fresh"] and run.final["b1"].shape == (2, 16)
    assert not np.allclose(run.final["b1"][0], run.final["b1"][1])  # each seed its own bias
    c = dynsim.compare("infonce", lrs=(1e-3,), T=0.2, seeds=2, bias=True)
    assert "bias" in c.checks["reference_only"] and c.checks["collapsed_train_per_seed"].shape == (2,)
    assert "authors_spectrum_below_1e-6_per_seed" in c.checks
    with pytest.raises(dynsim.DynsimInputError, match="InfoNCE"):
        train("simsiam", steps=40, log_every=20, fresh=True)
