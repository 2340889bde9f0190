"""InfoNCE / DirectCLR flows [J22]: Lemma 1's X against autodiff, the closed forms, bad input."""

import json

import numpy as np
import pytest

import cli
import dynsim
from dynsim import DynsimInputError, FrozenX, InfoNCE, augmented_views, block_augmentation, solve


@pytest.fixture(scope="module")
def views():
    return augmented_views(48, np.eye(4), block_augmentation(4, 2, 1.0), seed=0)


def test_effective_X_is_minus_gradient_over_W(views):
    x, xp = views
    for kernel in ("gaussian", "dot"):
        s = InfoNCE(widths=(4, 4), x=x, x_aug=xp, tau=0.5, kernel=kernel, batch=16)
        y = s.init(1.0, seed=1)
        w = np.asarray(s.product(y))
        np.testing.assert_allclose(np.asarray(s.vector_field(0.0, y)).reshape(4, 4),
                                   w @ np.asarray(s.effective_X(y)), rtol=0, atol=1e-12 * np.abs(w).max())


def test_gaussian_X_matches_the_papers_double_sum(views):
    """X = (Sigma_0 - Sigma_1) / (n tau) written as explicit loops over pairs (i, j)."""
    x, xp = views
    s = InfoNCE(widths=(4, 4), x=x, x_aug=xp, tau=0.7)
    y = s.init(1.0, seed=2)
    w = np.asarray(s.product(y))
    z, zp = x @ w.T, xp @ w.T
    n = len(x)
    sigma0, sigma1 = np.zeros((4, 4)), np.zeros((4, 4))
    for i in range(n):
        d = np.array([np.sum((z[i] - (zp[i] if j == i else z[j])) ** 2) for j in range(n)])
        a = np.exp(-(d - d.min()) / 1.4)
        a /= a.sum()
        for j in range(n):
            if j != i:
                sigma0 += a[j] * np.outer(x[i] - x[j], x[i] - x[j])
        sigma1 += (1 - a[i]) * np.outer(xp[i] - x[i], xp[i] - x[i])
    np.testing.assert_allclose(np.asarray(s.effective_X(y)), (sigma0 - sigma1) / (n * 0.7), atol=1e-12)


def test_frozen_X_one_layer_is_the_matrix_exponential():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 3))
    X = 0.1 * (a + a.T)
    s = FrozenX(widths=(3, 3), X=X)
    y0 = s.init(1.0, seed=0)
    ts = np.linspace(0, 5, 6)
    w = np.asarray(s.unpack(solve(s, y0, ts, rtol=1e-11, atol=1e-13).ys)["W1"])
    np.testing.assert_allclose(w, dynsim.theorem1(s.unpack(y0)["W1"], X, ts), rtol=0, atol=1e-9)


def test_theorem3_closed_forms_agree_when_balanced():
    t = np.linspace(0, 1, 5)
    s1, s2 = dynsim.theorem3_unbalanced(t, [0.5, 0.8], [0.5, 0.8], [0.3, -0.2])
    want = dynsim.theorem3_balanced(t, [0.5, 0.8], [0.3, -0.2])
    np.testing.assert_allclose(s1, want, rtol=1e-12)
    np.testing.assert_allclose(s2, want, rtol=1e-12)


def test_theorem3_rhs_is_the_singular_value_derivative_when_aligned():
    rng = np.random.default_rng(3)
    q, u, r = (np.linalg.qr(rng.normal(size=(4, 4)))[0] for _ in range(3))
    lam = np.array([0.4, 0.1, -0.2, -0.5])
    s = FrozenX(widths=(4, 4, 4), X=(q * lam) @ q.T)
    s1, s2 = np.array([1.0, 0.8, 0.6, 0.4]), np.array([0.9, 0.7, 0.5, 0.3])
    y = s.pack(W1=(u * s1) @ q.T, W2=(r * s2) @ u.T)
    dw1 = np.asarray(s.unpack(s.vector_field(0.0, y))["W1"])
    ds1 = np.einsum("ik,ij,jk->k", u, dw1, q)
    np.testing.assert_allclose(ds1, s1 * s2**2 * lam, atol=1e-14)
    np.testing.assert_allclose(np.asarray(dynsim.theorem3_rates(s1, s2, q, (q * lam) @ q.T)[0]), ds1, atol=1e-14)


def test_balance_is_conserved_along_the_infonce_flow(views):
    x, xp = views
    s = InfoNCE(widths=(4, 3, 4), x=x, x_aug=xp)
    sol = solve(s, s.init(1.0, seed=0), np.linspace(0, 20, 5), rtol=1e-11, atol=1e-13)
    c = [np.asarray(s.balance(y)[0]) for y in sol.ys]
    assert max(np.abs(ci - c[0]).max() for ci in c) < 1e-9 * np.abs(c[0]).max()
    assert np.abs(np.asarray(sol.ys[-1]) - np.asarray(sol.ys[0])).max() > 0.1  # the weights did move


def test_directclr_trains_only_the_first_d0_rows(views):
    x, xp = views
    s = InfoNCE(widths=(4, 4), x=x, x_aug=xp, d0=2)
    f = np.asarray(s.vector_field(0.0, s.init(1.0))).reshape(4, 4)
    assert np.all(f[2:] == 0) and np.abs(f[:2]).max() > 0


def test_sweep_collapses_more_with_stronger_augmentation():
    sw = dynsim.collapse_sweep([0.0, 16.0], dim=6, dim_aug=3, samples=64, t1=100.0)
    assert sw.collapsed_dims[0] == 0 < sw.collapsed_dims[1] <= 3
    assert sw.in_augmented_subspace_min[1] > 0.99
    assert sw.status == ["success", "success"]


@pytest.mark.parametrize("kwargs, name", [
    (dict(kernel="cosine"), "kernel"),
    (dict(d0=5), "d0"),
    (dict(batch=5), "batch"),
    (dict(tau=0.0), "tau"),
])
def test_bad_system_input(views, kwargs, name):
    x, xp = views
    with pytest.raises(DynsimInputError) as e:
        InfoNCE(widths=(4, 4), x=x, x_aug=xp, **kwargs)
    assert e.value.name == name


def test_bad_data():
    x = np.ones((10, 3))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DynsimInputError, match="finite"):
        InfoNCE(widths=(3, 3), x=bad, x_aug=x)
    with pytest.raises(DynsimInputError, match="too few samples"):
        dynsim.simulate_collapse("infonce", dim=16, samples=20)
    with pytest.raises(DynsimInputError, match="too few samples"):
        dynsim.simulate_collapse("infonce", views=(np.ones((8, 6)), np.ones((8, 6))))


def test_simulate_cli_infonce(tmp_path, capsys):
    assert cli.main(["simulate", "infonce-2layer", "--n1", "4", "--samples", "32", "--t1", "50", "--n-save", "11",
                     "--out", str(tmp_path), "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["dims"] == 4 and summary["complete"]
    assert summary["conserved_max_relative_drift"] < 1e-6
    record = json.loads((tmp_path / "simulate_infonce-2layer.json").read_text())
    assert record["parameters"]["layers"] == 2
    assert "d0" not in record["parameters"] and "decay" in record["parameters"]  # only what the run used
    with np.load(tmp_path / "simulate_infonce-2layer.npz") as z:
        assert z["sv"].shape == (11, 4) and z["alignment"].shape == (4, 4)
    assert (tmp_path / "simulate_infonce-2layer.png").stat().st_size > 10_000


@pytest.mark.parametrize("argv, needle", [
    (["simulate", "infonce", "--kernel", "cosine"], "--kernel"),
    (["simulate", "directclr", "--n1", "4", "--samples", "32", "--d0", "9"], "--d0: d0 must be an integer in [1, 4]"),
    (["simulate", "infonce", "--samples", "8"], "--samples: too few samples"),
    (["simulate", "infonce", "--eta", "0.1"], "--eta: applies to the non-contrastive models only"),
    (["simulate", "byol", "--temperature", "0.1"], "--temperature: applies to the contrastive models only"),
    (["simulate", "infonce", "--preset", "jing-case2"], "--preset: preset jing-case2 is for model infonce-2layer"),
])
def test_simulate_cli_bad_input(argv, needle, capsys, tmp_path):
    assert cli.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_bad_views_file(tmp_path, capsys):
    f = tmp_path / "v.npz"
    np.savez(f, x=np.full((40, 4), np.nan), x_prime=np.zeros((40, 4)))
    assert cli.main(["simulate", "infonce", "--views", str(f), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "finite" in err[0]


def test_presets_pin_the_settings_of_the_authors_scripts():
    """[J22]'s toy scripts (case_1.py, case_2.py): 16-d data, temperature 0.1, batch 128, dot kernel;
    case 1: one layer, noise std 1.5 on the last 8 dims, PyTorch's uniform init (scale 1), lr 1e-3 x 10k
    steps; case 2: two layers, noise 1e-3, spectral init U diag(e^{-0.35 k}) V^T at scale 1, lr 0.01 x 10k."""
    from dynsim.models.infonce.collapse import PRESETS

    c1, c2 = PRESETS["jing-case1"], PRESETS["jing-case2"]
    common = dict(kernel="dot", temperature=0.1, batch=128)
    assert {k: c1[k] for k in common} == common and {k: c2[k] for k in common} == common
    assert (c1["model"], c1["layers"], c1["sigma"], c1["dim_b"], c1["init"], c1["init_scale"], c1["t1"]) == (
        "infonce", 1, 1.5, 8, "uniform", 1.0, 10.0)
    assert (c2["model"], c2["layers"], c2["sigma"], c2["init"], c2["init_scale"], c2["t1"]) == (
        "infonce-2layer", 2, 1e-3, "spectral", 1.0, 100.0)


def test_uniform_init_is_pytorchs_linear_default():
    """``init="uniform"``: ``scale U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` per layer (nn.Linear's
    kaiming_uniform_ with a = sqrt(5)): the bound, the variance scale^2 / (3 fan_in) and the uniform's
    fourth-moment ratio E w^4 / (E w^2)^2 = 9/5 (a Gaussian's is 3)."""
    from dynsim.models.infonce.collapse import initial_weights

    x = np.random.default_rng(1).normal(size=(8, 200))
    system = InfoNCE(widths=(200, 150, 100), x=x, x_aug=x)
    scale = 0.5
    for w, fan_in in zip(system.weights(initial_weights(system, "uniform", scale, seed=3)), (200, 150)):
        w = np.asarray(w).ravel()
        bound = scale / np.sqrt(fan_in)
        assert 0.999 * bound < np.abs(w).max() <= bound
        # the sample variance of n uniform draws has relative standard error sqrt((9/5 - 1) / n)
        assert abs(np.mean(w**2) / (scale**2 / (3 * fan_in)) - 1) < 5 * np.sqrt(0.8 / w.size)
        assert abs(np.mean(w**4) / np.mean(w**2) ** 2 - 1.8) < 0.05
    g = np.asarray(system.weights(initial_weights(system, "gaussian", scale, seed=3))[0]).ravel()
    assert abs(np.mean(g**4) / np.mean(g**2) ** 2 - 3.0) < 0.3  # the gaussian start is not the uniform one
