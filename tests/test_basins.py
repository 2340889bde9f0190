"""Basin maps: labels against an independent high-accuracy solver (scipy LSODA, rtol 1e-10), the
eta = 0 closed form, the separatrix against the labels, and several devices against one."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import dynsim
from dynsim.models.eigen.basins import COLLAPSED, FAILED, NONTRIVIAL, Axis, label_points

ETA, SIGMA = 4e-4, 1.0


def _reference_2d(p0, s0, eta, sigma, tau, alpha, t1):
    """Label by where scipy's LSODA (rtol 1e-10, in (p, log s)) is at t1: near p = 0 or near p*_+."""
    k = 1 + sigma**2
    pm, pp = (float(v) for v in dynsim.nontrivial_roots(eta, sigma, tau))

    def f(t, y):
        p, z = y
        g = tau - k * p
        return [alpha * np.exp(z) * g - eta * p, 2 * (p * g - eta)]

    out = []
    for p, s in zip(p0, s0):
        r = solve_ivp(f, (0, t1), [p, np.log(s)], method="LSODA", rtol=1e-10, atol=1e-12)
        pe = r.y[0, -1]
        out.append(COLLAPSED if abs(pe) < pm / 2 else NONTRIVIAL if abs(pe - pp) < 1e-3 else -9)
    return np.array(out)


def test_2d_labels_match_scipy_on_random_cells():
    rng = np.random.default_rng(1)
    sys_ = dynsim.EigenDynamics2D(eta=ETA, sigma=SIGMA)
    p0 = rng.uniform(-1, 2, 300)
    s0 = 10 ** rng.uniform(-10, 0, 300)
    labels, t_settle, _, info = label_points(sys_, p0, s0)
    ref = _reference_2d(p0, s0, ETA, SIGMA, 1.0, 1.0, info["t1"])
    assert np.all(ref != -9), "the reference did not settle: lengthen t1"
    assert np.all(labels >= 0)
    # Both outcomes are well represented, and at most one cell (on a boundary) may differ.
    assert 50 < np.sum(ref == COLLAPSED) < 250
    assert np.sum(labels != ref) <= 1
    assert np.all(t_settle <= info["t1"])


def test_2d_basin_map_numbers_and_separatrix_is_the_boundary():
    sys_ = dynsim.EigenDynamics2D(eta=ETA, sigma=SIGMA)
    bm = dynsim.basin_map(sys_, num=48)
    sm = bm.summary()
    assert sm["complete"] and sm["counts"]["failed"] == 0
    assert sm["basin_fractions"]["collapsed"] + sm["basin_fractions"]["non-trivial"] == pytest.approx(1.0)
    assert sm["traps"]["closed_form_error"] < 1e-12
    assert sm["decided_without_integrating"] > 0.2 * sm["cells"]
    # The separatrix (stable manifold of the saddle, traced backward) separates the basins: points a
    # little to its left and right are labelled differently.
    assert len(bm.separatrix) == 2
    pts = np.concatenate([br[(br[:, 1] > 1e-9) & (br[:, 1] < 0.5) & (br[:, 0] > -0.9) & (br[:, 0] < 1.9)]
                          for br in bm.separatrix])
    pts = pts[np.linspace(0, len(pts) - 1, 40).astype(int)]
    d = 2e-3
    left, _, _, _ = label_points(sys_, pts[:, 0] - d, pts[:, 1])
    right, _, _, _ = label_points(sys_, pts[:, 0] + d, pts[:, 1])
    assert np.all(left >= 0) and np.all(right >= 0)
    assert np.mean(left != right) >= 0.95


def test_eta0_closed_form_matches_integration():
    sys_ = dynsim.EigenDynamics2D(eta=0.0, sigma=SIGMA)
    p = np.array([-0.8, -0.3, 0.2, 0.45, 0.6, 0.9, 1.4, 0.3, -0.5, 0.8])
    s = np.array([0.5, 0.01, 0.01, 0.1, 0.05, 0.3, 0.4, 0.2, 0.3, 0.7])
    labels, *_ = label_points(sys_, p, s)
    k, alpha = 1 + SIGMA**2, 1.0

    def f(t, y):
        return [alpha * y[1] * (1 - k * y[0]), 2 * y[0] * y[1] * (1 - k * y[0])]

    ref = []
    for p0, s0 in zip(p, s):
        r = solve_ivp(f, (0, 5e3), [p0, s0], method="LSODA", rtol=1e-10, atol=1e-14)
        ref.append(COLLAPSED if r.y[1, -1] < 1e-6 * s0 else NONTRIVIAL if abs(r.y[0, -1] - 1 / k) < 1e-6 else -9)
    assert np.array_equal(labels, np.array(ref)), (labels, ref)
    assert {COLLAPSED, NONTRIVIAL} <= set(labels.tolist())


def test_3d_labels_match_scipy():
    sys_ = dynsim.EigenDynamics3D(eta=1e-2, sigma=SIGMA, beta=0.5)
    rng = np.random.default_rng(3)
    p0 = rng.uniform(-0.1, 1.5, 40)
    s0 = 10 ** rng.uniform(-6, 0, 40)
    labels, _, _, info = label_points(sys_, p0, s0, tau0=1.0)
    k, a, b, e = 2.0, 1.0, 0.5, 1e-2
    pm, pp = (float(v) for v in dynsim.nontrivial_roots(e, SIGMA, 1.0))

    def f(t, y):
        p, z, tau = y
        g = tau - k * p
        d = p * g - e
        return [a * np.exp(z) * g - e * p, 2 * d, b * (1 - tau) - tau * d]

    n_checked = 0
    for lab, p, s in zip(labels, p0, s0):
        r = solve_ivp(f, (0, info["t1"]), [p, np.log(s), 1.0], method="LSODA", rtol=1e-10, atol=1e-12)
        if lab == FAILED:  # only where the reference blows up too
            assert not r.success or r.y[2, -1] > 1e6
            continue
        pe = r.y[0, -1]
        ref = COLLAPSED if abs(pe) < pm / 2 else NONTRIVIAL if abs(pe - pp) < 1e-3 else -9
        assert lab == ref, (p, s, lab, ref)
        n_checked += 1
    assert n_checked >= 30
    assert {COLLAPSED, NONTRIVIAL} <= set(labels.tolist())


def test_several_devices_give_the_single_device_result(tmp_path):
    """The lanes split over 4 XLA host devices (a subprocess: the device count is fixed at JAX's start)
    give this process's single-device labels and times."""
    import jax

    def points():
        rng = np.random.default_rng(5)
        return rng.uniform(-1, 2, 203), 10 ** rng.uniform(-10, 0, 203)

    script = (
        "import json, numpy as np, dynsim, jax\n"
        "from dynsim.models.eigen.basins import label_points\n"
        "rng = np.random.default_rng(5)\n"
        "p0 = rng.uniform(-1, 2, 203); s0 = 10 ** rng.uniform(-10, 0, 203)\n"
        "lab, ts, st, info = label_points(dynsim.EigenDynamics2D(eta=4e-4, sigma=1.0), p0, s0, chunk=64)\n"
        "print(json.dumps({'devices': jax.device_count(), 'labels': lab.tolist(), "
        "'t': np.nan_to_num(ts, nan=-1).tolist()}))\n"
    )
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f]
    env = {**os.environ, "XLA_FLAGS": " ".join([*flags, "--xla_force_host_platform_device_count=4"])}
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    four = json.loads(res.stdout.strip().splitlines()[-1])
    assert jax.device_count() == 1 and four["devices"] == 4
    lab, ts, _, _ = label_points(dynsim.EigenDynamics2D(eta=4e-4, sigma=1.0), *points(), chunk=64)
    assert four["labels"] == lab.tolist()
    np.testing.assert_allclose(four["t"], np.nan_to_num(ts, nan=-1), rtol=1e-9, atol=1e-9)


def test_bad_grids_are_input_errors():
    sys_ = dynsim.EigenDynamics2D(eta=ETA, sigma=SIGMA)
    with pytest.raises(dynsim.DynsimInputError, match="empty or inverted"):
        dynsim.basin_map(sys_, p=Axis("p", 1.0, 1.0, 8))
    with pytest.raises(dynsim.DynsimInputError, match="log s axis needs s_min > 0"):
        dynsim.basin_map(sys_, s=Axis("s", 0.0, 1.0, 8, log=True))
    with pytest.raises(dynsim.DynsimInputError, match="over the limit"):
        dynsim.basin_map(sys_, num=5000)
    with pytest.raises(dynsim.DynsimInputError, match="tau > 0"):
        dynsim.basin_map(dynsim.EigenDynamics2D(eta=ETA, sigma=SIGMA, tau=0.0), num=8)
