"""Linear Barlow Twins [S23]: the matrix ODE against its closed form, small random inits, the kernel version."""

import numpy as np
import pytest

import dynsim
from dynsim import DynsimInputError
from dynsim.models.barlow.system import (
    BarlowTwins, KernelBarlowTwins, closed_form_loss, cross_covariance, default_spectrum, singular_values,
    step_times, stepwise, synthetic_pairs,
)


@pytest.fixture(scope="module")
def pairs():
    gamma = default_spectrum(6, 0.6)
    x, xp, _ = synthetic_pairs(200, gamma, seed=1)
    return gamma, x, xp


def test_synthetic_pairs_have_the_chosen_spectrum(pairs):
    gamma, x, xp = pairs
    np.testing.assert_allclose(np.linalg.eigvalsh(cross_covariance(x, xp))[::-1], gamma, atol=1e-13)


def test_aligned_start_follows_the_closed_form(pairs):
    # s_j(t) = e^{4 g t} / sqrt(s0^-2 + (e^{8 g t} - 1) g): to 1e-9 relative in float64.
    gamma, x, xp = pairs
    bt = BarlowTwins(d=4, m=6, Gamma=cross_covariance(x, xp))
    ts = np.linspace(0.0, 40.0, 401)
    sol = dynsim.solve(bt, bt.aligned_start(1e-3), ts, rtol=1e-11, atol=1e-15)
    sv = np.sort(np.linalg.svd(np.asarray(bt.unpack(sol.ys)["W"]), compute_uv=False), 1)
    cf = np.sort(singular_values(ts, 1e-3, gamma[:4]), 1)
    assert np.max(np.abs(sv - cf) / cf) <= 1e-9
    np.testing.assert_allclose(np.asarray(bt.loss(sol.ys)), closed_form_loss(ts, 1e-3, gamma, 4), atol=1e-9)
    np.testing.assert_allclose(sv[-1], np.sort(gamma[:4] ** -0.5), rtol=1e-9)  # limits gamma_j^{-1/2}


def test_step_times_are_half_saturation_and_ordered_by_gamma(pairs):
    gamma, _, _ = pairs
    s0 = 1e-4
    t = step_times(s0, gamma)
    assert np.all(np.diff(t) > 0)
    lam = gamma * singular_values(t, s0, gamma)[np.arange(6), np.arange(6)] ** 2
    np.testing.assert_allclose(lam, 1.0 / (2.0 - gamma * s0**2), rtol=1e-12)


def test_small_random_init_approaches_the_aligned_trajectory():
    # The error of the embedding eigenvalues against the closed form (effective s_j(0) by
    # Gram-Schmidt in the order of gamma) shrinks with the init scale.
    errs = [stepwise(m=6, d=4, init_scale=s, t1=60.0).summary()["max_abs_error_lambda_vs_closed_form"]
            for s in (1e-2, 1e-4, 1e-6)]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-4, errs


def test_linear_kernel_equals_the_linear_model(pairs):
    _, x, xp = pairs
    bt = BarlowTwins(d=4, m=6, Gamma=cross_covariance(x, xp))
    kb = KernelBarlowTwins.from_pairs(x, xp, d=4, kernel="linear")
    xs = np.concatenate([x, xp]).T
    a0 = 1e-3 * np.random.default_rng(2).normal(size=(4, 400))
    ts = np.linspace(0.0, 10.0, 11)
    wk = np.asarray(kb.unpack(dynsim.solve(kb, a0.reshape(-1), ts, rtol=1e-11, atol=1e-15).ys)["A"]) @ xs.T
    ww = np.asarray(bt.unpack(dynsim.solve(bt, (a0 @ xs.T).reshape(-1), ts, rtol=1e-11, atol=1e-15).ys)["W"])
    assert np.max(np.abs(wk - ww)) <= 1e-9 * np.max(np.abs(ww))


def test_rbf_kernel_learns_d_directions():
    s = stepwise(m=4, d=3, n_pairs=60, kernel="rbf", bandwidth=2.0).summary()
    assert s["complete"]
    np.testing.assert_allclose(s["lambda_final"], 1.0, atol=1e-3)


@pytest.mark.parametrize("kwargs,name", [
    (dict(d=9, m=8), "d"), (dict(init_scale=0.0), "init_scale"), (dict(kernel="poly"), "kernel"),
    (dict(n_pairs=5), "n_pairs"), (dict(pairs=(np.ones((10, 3)), np.ones((10, 4)))), "pairs"),
    (dict(pairs=(np.full((10, 3), np.nan), np.ones((10, 3)))), "pairs"),
])
def test_bad_input(kwargs, name):
    with pytest.raises(DynsimInputError) as e:
        stepwise(**kwargs)
    assert e.value.name == name


def test_stepwise_cli(tmp_path, capsys):
    import json

    import cli

    assert cli.main(["stepwise", "--aligned", "--init-scale", "1e-3", "--out", str(tmp_path), "--json"]) == 0
    out, err = capsys.readouterr()
    s = json.loads(out)
    assert s["complete"] and s["max_abs_error_lambda_vs_closed_form"] < 1e-8
    np.testing.assert_allclose(s["lambda_final"], 1.0, atol=1e-6)
    assert "step times" in err
    assert (tmp_path / "stepwise.png").stat().st_size > 30_000
    data = np.load(tmp_path / "stepwise.npz")
    assert data["lam"].shape == (401, 4)
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.ones((10, 3)))
    assert cli.main(["stepwise", "--pairs", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dynsim: error: --pairs: ") and "has no array x_prime" in err[0]
    assert cli.main(["stepwise", "--d", "9", "--out", str(tmp_path / "o")]) == 2
    assert "--d: d = 9 exceeds the input dimension m = 8" in capsys.readouterr().err
