"""The phase-portrait job: its stationary points, labels and summary."""

import json

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import dynsim


@pytest.fixture(scope="module")
def pp():
    return dynsim.phase_portrait(dynsim.EigenDynamics2D(eta=4e-4, sigma=1.0))


def test_summary_stationary_points_match_closed_forms(pp):
    s = pp.summary()
    json.dumps(s, allow_nan=False)  # strict JSON: no NaN or inf anywhere
    closed = pp.system.stationary_points()
    found = np.array([[r["p"], r["s"]] for r in s["stationary_points"]])
    np.testing.assert_allclose(found, closed, rtol=1e-9, atol=1e-12)
    assert [r["stability"] for r in s["stationary_points"]] == ["stable node", "saddle", "stable node"]
    assert s["collapse_threshold_p_minus"] == pytest.approx(4.0032e-4, rel=5e-5)
    assert s["solver"]["complete"] and s["solver"]["status"] == {"success": 2 * 16}
    # The 2-D Jacobian at (0, 0) is [[-eta, alpha_p tau], [0, -2 eta]]: eigenvalues -eta, -2 eta.
    assert sorted(s["stationary_points"][0]["eigenvalues"]) == pytest.approx([-8e-4, -4e-4], rel=1e-9)


def test_trajectory_labels_agree_with_scipy_lsoda(pp):
    # Each trajectory's attractor, recomputed by an independent stiff solver (LSODA) at rtol 1e-10.
    # In log s: from (0.84, 0.3), s falls to ~1e-45 before it regrows, and in linear coordinates
    # LSODA and Radau with atol >= 1e-30 push s across the invariant line s = 0 (a spurious
    # collapse); see test_solve.py::test_log_coordinates_keep_s_positive.
    eta, k, tau, a = 4e-4, 2.0, 1.0, 1.0  # written out again, independently of dynsim's code

    def f(t, z):  # in (p, u = log s), like the reference of the basin-map benchmark
        p, u = z
        return [a * np.exp(u) * (tau - k * p) - eta * p, 2 * (p * (tau - k * p) - eta)]

    ys, t1 = np.asarray(pp.trajectories.ys), pp.solver["t1"]
    stable = pp.fixed_points.points[pp.fixed_points.stable]
    for i in range(ys.shape[0]):
        ref = solve_ivp(f, (0.0, t1), [ys[i, 0, 0], np.log(ys[i, 0, 1])], method="LSODA", rtol=1e-10, atol=1e-12)
        window = pp.window if i < pp.n_main else pp.zoom
        end = np.array([ref.y[0, -1], np.exp(ref.y[1, -1])])
        lab = dynsim.nearest_attractor(end, stable, window.scale, tol=1e-2)
        expect = -1 if lab < 0 else np.flatnonzero(pp.fixed_points.stable)[lab]
        assert pp.attractor[i] == expect, i
    # The zoom shows both fates: the saddle's stable manifold splits its starting points.
    assert 0 < pp.summary()["trajectories"]["zoom"]["to_collapse"] < pp.n_main


def test_collapse_only_regime():
    pp = dynsim.phase_portrait(dynsim.EigenDynamics2D(eta=0.2, sigma=1.0), n_traj=4)
    s = pp.summary()
    assert s["regime"] == "collapse-only" and "only the collapsed solution" in s["regime_text"]
    assert s["collapse_threshold_p_minus"] is None and s["p_plus"] is None
    assert [(r["p"], r["s"]) for r in s["stationary_points"]] == [(pytest.approx(0, abs=1e-12),) * 2]
    assert s["trajectories"]["main"]["to_collapse"] == 4


def test_bad_window():
    with pytest.raises(dynsim.DynsimInputError) as e:
        dynsim.phase_portrait(dynsim.EigenDynamics2D(eta=0.01, sigma=1.0), window=dynsim.Window(1.0, 0.0, 0.0, 1.0))
    assert e.value.name == "p_min"


def test_serialized_job_equals_traced_job(tmp_path, monkeypatch):
    """The jax.export path that makes repeated CLI runs fast gives the same numbers."""
    from dynsim._core import aot as _aot

    m = dynsim.EigenDynamics2D(eta=0.01, sigma=0.7, tau=0.9)
    class NewProcessEachCall(dict):  # each call below stands for a new process (no runner memo)
        def get(self, key, default=None):
            return default

        def __setitem__(self, key, value):
            pass

    monkeypatch.setattr(_aot, "_RUNNERS", NewProcessEachCall())
    monkeypatch.setattr(_aot, "_cache_dir", lambda: None)
    direct = dynsim.phase_portrait(m, n_traj=4)
    monkeypatch.setattr(_aot, "_cache_dir", lambda: tmp_path)
    stored = dynsim.phase_portrait(m, n_traj=4)  # exports and writes the artifact
    assert len(list(tmp_path.glob("dynsim-phase_portrait-*.jaxexport"))) == 1
    loads = []
    monkeypatch.setattr(_aot.jax.export, "deserialize",
                        lambda b, f=_aot.jax.export.deserialize: loads.append(1) or f(b))
    loaded = dynsim.phase_portrait(m, n_traj=4)  # loads it: no tracing
    assert loads == [1]
    for other in (stored, loaded):
        a, b = direct.arrays(), other.arrays()
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_allclose(b[k], a[k], rtol=1e-13, atol=1e-300, err_msg=k)
