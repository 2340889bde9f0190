"""Sweeps: the bifurcation diagram against the closed form, the basin-size trend in alpha_p, and
the CLI's handling of bad sweep specifications."""

import numpy as np
import pytest

import cli
import dynsim


def test_bifurcation_fold_at_the_closed_form_critical_eta():
    sw = dynsim.sweep("bifurcation", [dynsim.Range("eta", 0.0, 0.2, 81)])
    info = sw.summary()
    assert info["points_missing_vs_closed_form"] == 0
    assert info["closed_form_error_max"] < 1e-10
    assert info["fold_within_bracket"] and info["eta_critical_closed_form"] == pytest.approx(0.125)
    lo, hi = info["fold_bracket_measured"]
    assert hi - lo <= 0.2 / 80 * 2 + 1e-12
    # located by continuation from the grid point, to Newton accuracy (not the grid's spacing)
    assert info["fold_continuation_error"] < 1e-8
    # and at eta = 0 the branch p*_- = eta/tau + ... crosses p = 0: a transcritical branch point
    kinds = sorted((s["type"], s["eta"]) for s in info["continuation"])
    assert [k for k, _ in kinds] == ["branch point", "fold"] and abs(kinds[0][1]) < 1e-8


def test_basin_size_shrinks_with_alpha_p_and_matches_label_points():
    sw = dynsim.sweep("basin-size", [dynsim.Range("alpha_p", 0.25, 4.0, 3, log=True)], grid=24)
    q = sw.quantity
    assert sw.summary()["trend"] == "decreasing" and q[0] - q[-1] > 0.01
    # The sweep's point equals a direct labelling of the same window.
    sys_ = dynsim.EigenDynamics2D(eta=4e-4, sigma=1.0, alpha_p=4.0)
    pa, sa = dynsim.models.eigen.basins.default_axes(dynsim.EigenDynamics2D(eta=4e-4, sigma=1.0), 24)
    P, S = np.meshgrid(pa.values(), sa.values())
    labels, *_ = dynsim.label_points(sys_, P.ravel(), S.ravel())
    assert q[-1] == np.mean(labels == 0)


@pytest.mark.parametrize("args,needle", [
    (["sweep", "basin-size", "--over", "foo=1:2:3"], "unknown parameter"),
    (["sweep", "basin-size", "--over", "eta=1:1:3"], "empty or inverted"),
    (["sweep", "basin-size", "--over", "eta=0:1:3:log"], "log range"),
    (["sweep", "basin-size", "--over", "eta=1:2"], "NAME=LO:HI:N"),
    (["sweep", "nope", "--over", "eta=0:1:3"], "unknown sweep"),
    (["basin-map", "--p-min", "1", "--p-max", "1"], "--p-min"),
    (["basin-map", "--s-min", "0"], "log s axis"),
    (["basin-map", "--grid", "5000"], "less than or equal to 4096"),
])
def test_bad_sweeps_and_maps_exit_2(tmp_path, capsys, args, needle):
    rc = cli.main([*args, "--out", str(tmp_path / "never")])
    _, err = capsys.readouterr()
    assert rc == 2 and len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "never").exists()


def test_basin_map_command_writes_outputs(tmp_path, capsys):
    import json
    rc = cli.main(["basin-map", "--grid", "24", "--out", str(tmp_path), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["complete"] and summary["cells"] == 576
    data = np.load(tmp_path / "basin_map.npz")
    assert data["labels"].shape == (24, 24) and "separatrix_0" in data
    assert (tmp_path / "basin_map.png").stat().st_size > 20_000


def test_alignment_sweep_keeps_one_window_so_alpha_p_matters():
    # s' = alpha_p s removes alpha_p from the flow and from the condition: in a window scaled as
    # 1/alpha_p every alpha_p would give the same fraction. The sweep's window is fixed instead.
    sw = dynsim.sweep("alignment", [dynsim.Range("alpha_p", 0.5, 2.0, 3)], base={"eta": 1.8e-3}, grid=8)
    q = sw.quantity
    assert np.all((q > 0) & (q < 1))
    assert q[-1] - q[0] > 5e-3


def _marker_points(fig, kind):
    """(x, y) of the points drawn with ``point_marker(kind)`` (its marker and edge colour)."""
    from matplotlib.colors import same_color

    from dynsim.plot.style import point_marker

    m = point_marker(kind)
    xy = [np.c_[ln.get_xdata(), ln.get_ydata()] for ax in fig.axes for ln in ax.lines
          if ln.get_linestyle() == "None" and ln.get_marker() == m["marker"]
          and same_color(ln.get_markeredgecolor(), m["mec"]) and len(ln.get_xdata())]
    return np.concatenate(xy) if xy else np.zeros((0, 2))


def test_bifurcation_stability_is_classify_and_degenerate_points_drawn_as_such():
    """The sweep labels each p* with dynsim.classify of the 1-D Jacobian f'(p) = 2 p tau - 3 (1+sigma^2) p^2 - eta
    (closed form): degenerate exactly at the origin for eta = 0 and at the fold p = tau/(2(1+sigma^2)) for
    eta = eta_c. The figure draws those, and only those, in the degenerate marker, with a legend entry only
    when one is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dynsim.plot.style import figure_problems

    sw = dynsim.sweep("bifurcation", [dynsim.Range("eta", 0.0, 0.125, 6)])
    eta = sw.ranges[0].values()
    assert sw.info["points_missing_vs_closed_form"] == 0  # the fold at eta_c, a double root, is one point
    folded = dynsim.sweep("bifurcation", [dynsim.Range.parse("eta=0:0.15:7")])  # 0.125 - 1e-17 from linspace
    assert folded.info["points_missing_vs_closed_form"] == 0 and folded.info["closed_form_error_max"] < 1e-12
    for i, e in enumerate(eta):
        for j, p in enumerate(sw.quantity[i]):
            if not np.isfinite(p):
                continue
            label = dynsim.classify(np.array([2 * p - 3 * 2.0 * p**2 - e]), zero_tol=1e-7)
            assert sw.extra["degenerate"][i, j] == (label == "degenerate"), (e, p, label)
            assert sw.extra["stable"][i, j] == label.startswith("stable"), (e, p, label)
    deg = np.argwhere(sw.extra["degenerate"])
    np.testing.assert_allclose([(eta[i], sw.quantity[i, j]) for i, j in deg], [(0.0, 0.0), (0.125, 0.25)], atol=1e-7)
    fig = dynsim.plot_sweep(sw)
    try:
        drawn = _marker_points(fig, "degenerate")
        np.testing.assert_allclose(drawn[np.lexsort(drawn.T[::-1])], [(0.0, 0.0), (0.125, 0.25)], atol=1e-7)
        assert not any(np.allclose(xy, (0.0, 0.0)) for xy in _marker_points(fig, "unstable"))  # no longer "unstable"
        labels = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
        assert "degenerate" in labels and figure_problems(fig) == []
    finally:
        plt.close(fig)
    fig = dynsim.plot_sweep(dynsim.sweep("bifurcation", [dynsim.Range("eta", 0.01, 0.1, 4)]))
    try:  # no degenerate point: no legend entry for one
        assert len(_marker_points(fig, "degenerate")) == 0
        assert "degenerate" not in [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    finally:
        plt.close(fig)
