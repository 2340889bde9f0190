"""The generic tools on models written by a user (issue: one model interface): phase portraits,
basin maps and fractions, sweeps and claims, against answers known in closed form or from scipy."""

from __future__ import annotations

import textwrap

import jax.numpy as jnp
import numpy as np
import pytest

import dynsim
from dynsim.tools.basins import FAILED, NOT_SETTLED


class Bistable(dynsim.AbstractSystem):
    """x' = a x - x^3, y' = -y: stable points (+-sqrt(a), 0), a saddle at the origin."""

    a: float = dynsim.param(1.0, lower=0.0, lower_open=True, symbol="a")
    state_names = ("x", "y")

    def vector_field(self, t, y):
        return jnp.stack([self.a * y[0] - y[0] ** 3, -y[1]])


class Toy(dynsim.AbstractSystem):
    """x' = y - x^2, y' = a - y: stationary points (+-sqrt(a), a); nullclines y = x^2 and y = a."""

    a: float = dynsim.param(0.5, lower=0.0)
    state_names = ("x", "y")

    def vector_field(self, t, y):
        return jnp.stack([y[1] - y[0] ** 2, self.a - y[1]])


class Slice3D(dynsim.AbstractSystem):
    """The bistable system with z' = c - z: stationary points (0, 0, c), (+-1, 0, c)."""

    c: float = dynsim.param(0.3)
    state_names = ("x", "y", "z")

    def vector_field(self, t, y):
        return jnp.stack([y[0] - y[0] ** 3, -y[1], self.c - y[2]])


def hopf(t, y, *, mu=0.5):
    x, v = y
    r2 = x * x + v * v
    return jnp.stack([mu * x - v - x * r2, x + mu * v - v * r2])


def duffing(t, y, *, delta=0.3):
    x, v = y
    return jnp.stack([v, x - x**3 - delta * v])


def test_from_function_parameters_are_keyword_defaults():
    m = dynsim.from_function(hopf, state_names=("x", "y"))
    assert [s.name for s in m.param_specs()] == ["mu"]
    assert float(m.mu) == 0.5
    np.testing.assert_allclose(m.vector_field(0.0, jnp.array([1.0, 0.0])), [-0.5, 1.0], rtol=0, atol=1e-15)
    with pytest.raises(dynsim.DynsimInputError, match="default"):
        dynsim.from_function(lambda t, y, *, a: y, state_names=("x",))
    with pytest.raises(dynsim.DynsimInputError, match=r"\(t, y"):
        dynsim.from_function(lambda y: y, state_names=("x",))


def test_declared_ranges_are_checked():
    with pytest.raises(dynsim.DynsimInputError) as e:
        Bistable(a=-1.0)
    assert e.value.name == "a"


def test_hopf_focus_found_and_cycle_reported_unsettled():
    m = dynsim.from_function(hopf, state_names=("x", "y"))
    pp = dynsim.portrait(m, window=[(-1.5, 1.5), (-1.5, 1.5)], n_traj=8, t1=60.0)
    fp = pp.fixed_points
    assert len(fp.points) == 1 and fp.stability[0] == "unstable spiral"
    np.testing.assert_allclose(fp.points[0], [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(sorted(fp.eigenvalues[0].imag), [-1.0, 1.0], atol=1e-10)
    np.testing.assert_allclose(fp.eigenvalues[0].real, [0.5, 0.5], atol=1e-10)
    # every trajectory ends on the cycle r = sqrt(mu), not at a fixed point: "other / unsettled"
    panel = pp.panels[0]
    assert np.all(panel.attractor == -1)
    r = np.hypot(*np.asarray(panel.trajectories.y_final).T)
    np.testing.assert_allclose(r, np.sqrt(0.5), rtol=1e-6)
    bm = dynsim.basins(m, window=[(-1.5, 1.5), (-1.5, 1.5)], grid=8, t1=60.0, separatrices=False)
    assert len(bm.attractors.points) == 0
    assert np.all(bm.labels == NOT_SETTLED) and not bm.summary()["complete"]


def test_bistable_basins_and_fractions():
    m = Bistable()
    bm = dynsim.basins(m, window=[(-1.0, 1.0), (-1.0, 1.0)], grid=(16, 9), separatrices=True)
    left = int(np.argmin(bm.attractors.points[:, 0]))
    x0 = bm.plane.x.values()
    np.testing.assert_allclose(sorted(bm.attractors.points[:, 0]), [-1.0, 1.0], atol=1e-12)
    expected = np.where(x0 < 0, left, 1 - left)
    assert np.all(bm.labels == expected[None, :])  # x < 0 -> (-1, 0), x > 0 -> (1, 0): no cell at x = 0
    # the separatrix is the saddle's stable manifold x = 0
    assert bm.separatrices and all(np.max(np.abs(b.points[:, 0])) < 1e-6 for b in bm.separatrices)
    fr = dynsim.basins_fractions(m, [(-1.0, 1.0), (-1.0, 1.0)], samples=400, seed=3)
    for name in fr.names:
        assert abs(fr.fractions[name] - 0.5) <= 3 * fr.standard_errors[name]
    assert fr.fractions["not settled"] == 0 and fr.fractions["failed"] == 0


def test_duffing_labels_equal_scipy_reference():
    from scipy.integrate import solve_ivp

    m = dynsim.from_function(duffing, state_names=("x", "v"))
    bm = dynsim.basins(m, window=[(-2.0, 2.0), (-2.0, 2.0)], grid=24, separatrices=False)
    assert bm.summary()["complete"]
    rng = np.random.default_rng(0)
    X, V = np.meshgrid(bm.plane.x.values(), bm.plane.y.values())
    cells = rng.choice(X.size, 40, replace=False)
    for c in cells:
        y0 = [X.flat[c], V.flat[c]]
        ref = solve_ivp(lambda t, y: [y[1], y[0] - y[0] ** 3 - 0.3 * y[1]], (0, 200), y0, method="LSODA",
                        rtol=1e-10, atol=1e-12).y[:, -1]
        want = int(np.argmin(np.abs(bm.attractors.points[:, 0] - ref[0])))
        assert abs(ref[0]) > 0.99 and bm.labels.flat[c] == want, (y0, ref)


def test_eigen_map_without_hooks_agrees_with_hooked():
    e = dynsim.EigenDynamics2D(eta=4e-3, sigma=1.0)
    win = [(-1.0, 2.0, False), (1e-8, 1.0, True)]
    hooked = dynsim.basins(e, window=win, grid=40, separatrices=False)
    plain = dynsim.basins(e, window=win, grid=40, separatrices=False, hooks=False)
    assert hooked.attractors.certificate == "model traps" and plain.attractors.certificate == "linearisation"
    np.testing.assert_allclose(plain.attractors.points, hooked.attractors.points, atol=1e-9)
    assert np.mean(hooked.labels == plain.labels) >= 0.999
    assert not np.any(plain.labels == FAILED)


def test_nullclines_and_fixed_points_match_closed_form():
    m = Toy(a=0.5)
    pp = dynsim.portrait(m, window=[(-1.5, 1.5), (-0.5, 1.5)], n_traj=4, zoom=False)
    want = np.array([[-np.sqrt(0.5), 0.5], [np.sqrt(0.5), 0.5]])
    np.testing.assert_allclose(pp.fixed_points.points, want, atol=1e-12)
    assert pp.fixed_points.stability == ("saddle", "stable node")
    X, Y, fx, fy = pp.panels[0].nullclines
    import contourpy

    h = (X[0, 1] - X[0, 0]) + (Y[1, 0] - Y[0, 0])
    for f, residual in ((fx, lambda x, y: y - x**2), (fy, lambda x, y: 0.5 - y)):
        lines = contourpy.contour_generator(X, Y, f).lines(0.0)
        pts = np.concatenate(lines)
        assert len(pts) > 50 and np.max(np.abs(residual(pts[:, 0], pts[:, 1]))) < 2 * h
    # the saddle's manifolds were traced
    assert {b.kind for b in pp.manifolds} == {"stable", "unstable"}


def test_slice_of_3d_model_shows_points_in_the_slice():
    m = Slice3D(c=0.3)
    on = dynsim.portrait(m, window=[(-1.5, 1.5), (-1.0, 1.0)], at=[0.0, 0.0, 0.3], n_traj=4, zoom=False)
    assert np.sum(on.in_slice) == 3
    np.testing.assert_allclose(sorted(on.fixed_points.points[on.in_slice][:, 0]), [-1, 0, 1], atol=1e-12)
    off = dynsim.portrait(m, window=[(-1.5, 1.5), (-1.0, 1.0)], at=[0.0, 0.0, 1.3], n_traj=4, zoom=False)
    assert np.sum(off.in_slice) == 0


def test_zoom_panel_from_spacing_of_fixed_points():
    e = dynsim.EigenDynamics2D(eta=4e-4, sigma=1.0)
    pp = dynsim.portrait(e, n_traj=4, t1=100.0)
    assert len(pp.panels) >= 2
    z = pp.panels[1].plane
    pm = float(e.p_minus)
    assert z.x.lo < 0 < pm < z.x.hi and z.x.width < 20 * pm  # origin and p*_- both framed, at their scale


def test_sweep_fixed_points_over_a_parameter():
    sw = dynsim.sweep_model(Bistable(), dynsim.PlaneAxis("a", 0.25, 4.0, 3, True), window=[(-3, 3), (-1, 1)])
    for p in sw.points:
        xs = sorted(y[0] for y, st in zip(p["states"], p["stable"]) if st)
        np.testing.assert_allclose(xs, [-np.sqrt(p["value"]), np.sqrt(p["value"])], atol=1e-10)


def test_no_recompile_on_new_parameter_values():
    import jax

    from dynsim.tools import phase_portrait as mod

    m = dynsim.from_function(duffing, state_names=("x", "v"))
    win = [(-2.0, 2.0), (-1.5, 1.5)]
    dynsim.portrait(m, window=win, n_traj=4, t1=20.0, zoom=False)
    before = mod._numerics._cached._cache_size() if hasattr(mod._numerics, "_cached") else None
    with jax.log_compiles():
        import logging

        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logging.getLogger("jax").addHandler(handler)
        try:
            dynsim.portrait(type(m)(delta=0.45), window=win, n_traj=4, t1=20.0, zoom=False)
        finally:
            logging.getLogger("jax").removeHandler(handler)
    compiles = [r for r in records if "Compiling" in r.getMessage() and "numerics" in r.getMessage()]
    assert compiles == [], [r.getMessage() for r in compiles]
    del before


# ---------------------------------------------------------------------------------------------- CLI

GOOD = textwrap.dedent('''
    import jax.numpy as jnp
    def bist(t, y, *, a=1.0):
        return jnp.stack([a * y[0] - y[0] ** 3, -y[1]])
    bist.state_names = ("x", "y")
    def wrong_shape(t, y, *, a=1.0):
        return jnp.stack([y[0], y[1], y[0]])
    wrong_shape.state_names = ("x", "y")
    def nan_field(t, y, *, a=1.0):
        return jnp.full(2, jnp.nan)
    nan_field.state_names = ("x", "y")
    def bad_signature(y):
        return y
''')


@pytest.mark.parametrize("spec, params, message", [
    ("missing.py:f", [], "no such file"),
    ("broken.py:f", [], "cannot import"),
    ("good.py:nothere", [], "has no 'nothere'"),
    ("good.py:bad_signature", [], "takes (t, y"),
    ("good.py:wrong_shape", [], "returns shape"),
    ("good.py:nan_field", [], "not finite"),
    ("good.py:bist", ["b=1"], "has no parameter 'b'"),
    ("good.py:bist", ["a=abc"], "expected a number"),
])
def test_cli_bad_model_is_one_line_exit_2_nothing_written(tmp_path, monkeypatch, capsys, spec, params, message):
    import cli

    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "broken.py").write_text("import jax.numpy as jnp\ndef f(t, y:\n")
    monkeypatch.chdir(tmp_path)
    argv = ["phase-portrait", "--model", spec, "--out", "out"]
    for p in params:
        argv += ["--param", p]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("dynsim: error: --"), err
    assert not (tmp_path / "out").exists()


def test_cli_shortcut_option_not_in_model_is_refused(tmp_path, monkeypatch, capsys):
    import cli

    (tmp_path / "good.py").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["basin-map", "--model", "good.py:bist", "--eta", "0.1", "--out", "out"]) == 2
    assert "--eta: does not apply" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_models_lists_builtins(capsys):
    import json

    import cli

    assert cli.main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"eigen", "eigen1d", "eigen3d", "byol"} <= set(rows)
    eta = next(p for p in rows["eigen"]["parameters"] if p["name"] == "eta")
    assert eta["symbol"] == r"\eta" and eta["default"] == 4e-4 and eta["range"] == "[0, inf)"
    assert "certified_lanes" in rows["eigen"]["capabilities"]


def test_cli_check_runs_user_claims(tmp_path, capsys):
    import json

    import cli

    f = tmp_path / "claims.py"
    f.write_text(textwrap.dedent('''
        import dynsim
        @dynsim.claim("one-is-one", statement="1 == 1", tolerance=1e-12)
        def _c():
            return abs(1.0 - 1.0)
        @dynsim.claim("two-is-three", statement="2 == 3", tolerance=1e-12)
        def _d():
            return abs(2.0 - 3.0)
    '''))
    assert cli.main(["check", "--model", str(f), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    verdicts = {c["name"]: c["verdict"] for c in out["checks"]}
    assert verdicts == {"one-is-one": "reproduced", "two-is-three": "not reproduced"}


def test_sweep_fixed_points_draws_classify_labels():
    """Toy at a = 0: one stationary point (0, 0) with Jacobian eigenvalues 0 and -1, degenerate by
    dynsim.classify; for a > 0 a stable point (sqrt(a), a) and a saddle (-sqrt(a), a). The figure marks each
    with its label's marker (degenerate diamond, saddle cross), a legend entry per kind drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import same_color

    from dynsim.plot.style import figure_problems, point_marker

    sw = dynsim.sweep_model(Toy(), dynsim.PlaneAxis("a", 0.0, 1.0, 3), window=[(-1.5, 1.5), (-0.5, 1.5)])
    labels = {p["value"]: sorted(zip((round(y[0], 9) for y in p["states"]), p["stability"])) for p in sw.points}
    assert labels[0.0] == [(0.0, "degenerate")]
    assert labels[1.0] == [(-1.0, "saddle"), (1.0, "stable node")]
    fig = dynsim.plot_model_sweep(sw)
    try:
        def at(kind):
            m = point_marker(kind)
            return sorted((float(ln.get_xdata()[0]), round(float(ln.get_ydata()[0]), 9)) for ln in fig.axes[0].lines
                          if ln.get_marker() == m["marker"] and same_color(ln.get_markeredgecolor(), m["mec"]))

        assert at("degenerate") == [(0.0, 0.0)]
        assert at("saddle") == [(0.5, -round(np.sqrt(0.5), 9)), (1.0, -1.0)]
        assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["stable", "saddle", "degenerate"]
        assert figure_problems(fig) == []
    finally:
        plt.close(fig)
