"""Collapse of random initialisations of the matrix models against init scale (issue 5)."""

import jax
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import dynsim
from dynsim.models.byol.init_collapse import SETTLED_RTOL
from dynsim.models.byol.simulate import COLLAPSE_RTOL, build, initial_state


def test_labels_agree_with_scipy_lsoda():
    """Each run's collapsed directions equal those of an independent LSODA integration (rtol 1e-10)
    of the same start, with the same criterion."""
    scales = dynsim.Range("init_scale", 3e-3, 0.3, 3, True)
    sw = dynsim.init_collapse("simsiam", [scales], samples=4)
    system, *_ = build("simsiam", n1=8, data="isotropic", sigma=0.5, eta=0.01)  # no EMA target: no beta
    t1 = sw.info["t1"]
    rhs = jax.jit(lambda t, y: system.vector_field(t, y))  # the same field, compiled once for scipy's many calls
    got = sw.extra["eig_F_final"]  # (points, samples, n2)
    for i, scale in enumerate(scales.values()):
        for k in range(4):
            y0 = np.asarray(initial_state(system, k, scale))
            ref = solve_ivp(lambda t, y: np.asarray(rhs(t, y)), (0, t1), y0, method="LSODA",
                            rtol=1e-10, atol=1e-14, t_eval=[0.0, t1])
            f = np.asarray(system.F(ref.y.T))
            s0, s1 = np.linalg.eigvalsh(f[0]), np.linalg.eigvalsh(f[1])
            want = s1 < COLLAPSE_RTOL * max(s0.max(), s1.max())
            mine = got[i, k] < COLLAPSE_RTOL * max(s0.max(), got[i, k].max())
            np.testing.assert_array_equal(mine, want)
            live = ~want
            np.testing.assert_allclose(got[i, k][live], s1[live], rtol=1e-4)


def test_theory_small_init_collapses_large_does_not():
    """[T21]: a direction collapses when it starts below p*_- (~ eta / tau on the parabola). With
    eta = 0.01, sigma = 0.5 p*_- = 0.0101: inits of scale 1e-3 collapse completely, inits of scale
    0.1 .. 1 never collapse completely (but some directions do: dimensional collapse)."""
    pm, _ = (float(x) for x in dynsim.nontrivial_roots(0.01, 0.5, 1.0))
    assert 0.0100 < pm < 0.0102
    sw = dynsim.init_collapse("simsiam", [dynsim.Range("init_scale", 1e-3, 1.0, 4, True)], samples=8)
    q = sw.quantity  # scales 1e-3, 1e-2 (~ p*_-: the transition), 0.1, 1
    assert q[0] == 1.0 and q[2] == 0.0 and q[3] == 0.0
    assert sw.info["not_settled_total"] == 0 and sw.info["failed_total"] == 0
    frac = sw.extra["collapsed_directions"]
    assert 0.0 < frac[-1] < 1.0 and 0.0 < frac[-2] < 1.0


def test_two_parameter_collapse_sweep_and_settled_check():
    """A pair (init_scale, eta): more weight decay never collapses fewer runs here; a t1 too short
    for the collapsed directions to decay is reported as not settled, not as a label."""
    sw = dynsim.sweep("collapse", [dynsim.Range("init_scale", 0.01, 1.0, 2, True), dynsim.Range("eta", 0.01, 0.05, 2)],
                      model="simsiam", samples=4)
    assert sw.quantity.shape == (2, 2)
    assert np.all(sw.extra["collapsed_directions"][:, 1] >= sw.extra["collapsed_directions"][:, 0])
    short = dynsim.init_collapse("simsiam", [dynsim.Range("init_scale", 0.3, 1.0, 2)], samples=4, t1=20.0)
    assert short.info["partial"] and short.info["not_settled_total"] > 0
    assert SETTLED_RTOL < 1e-2


@pytest.mark.parametrize("args, message", [
    (("scalar", "init_scale=0.1:1:3"), "matrix models"),
    (("simsiam", "alpha=0.5:1:3"), "directset"),
    (("directpred", "alpha_p=0.5:1:3"), "no alpha_p"),
    (("simsiam", "gamma=0.5:1:3"), "unknown parameter"),
    (("simsiam", "init_scale=0:1:3:log"), "positive lower end"),
])
def test_bad_collapse_sweeps(args, message):
    model, over = args
    with pytest.raises(dynsim.DynsimInputError, match=message):
        dynsim.init_collapse(model, [dynsim.Range.parse(over)], samples=2)


@pytest.mark.parametrize("args,needle", [
    (["sweep", "collapse", "--model", "simsiam", "--over", "alpha=0.5:1:3"], "directset"),
    (["sweep", "collapse", "--model", "scalar", "--over", "init_scale=0.1:1:3"], "matrix models"),
    (["sweep", "collapse", "--samples", "0", "--over", "init_scale=0.1:1:3"], "samples"),
    (["basin-map", "--model", "simsiam", "--scale-min", "0"], "--scale-min: scale_min must be in"),
    (["basin-map", "--model", "byol", "--samples", "100000"], "over the limit"),
])
def test_bad_collapse_commands_exit_2(tmp_path, capsys, args, needle):
    import cli

    rc = cli.main([*args, "--out", str(tmp_path / "never")])
    _, err = capsys.readouterr()
    assert rc == 2 and len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "never").exists()


def test_basin_map_of_a_matrix_model_writes_outputs(tmp_path, capsys):
    import json

    import cli

    rc = cli.main(["basin-map", "--model", "simsiam", "--grid", "3", "--samples", "3", "--scale-min", "1e-3",
                   "--scale-max", "1", "--out", str(tmp_path), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["kind"] == "collapse" and summary["samples"] == 3 and len(summary["per_point"]) == 3
    assert summary["per_point"][0]["collapsed"] == 1.0 and summary["per_point"][-1]["collapsed"] == 0.0
    data = np.load(tmp_path / "basin_map.npz")
    assert data["quantity"].shape == (3,) and data["eig_F_final"].shape == (3, 3, 8)
    assert (tmp_path / "basin_map.png").stat().st_size > 20_000
