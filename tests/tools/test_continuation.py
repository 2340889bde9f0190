"""Pseudo-arclength continuation (dynsim.tools.continuation) against closed forms.

Each model below is a normal form whose branches, stability and special points are known
exactly; every check states its tolerance. float64 throughout (``import dynsim``).
"""

from __future__ import annotations

import io
import json
import logging
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynsim
from dynsim import DynsimInputError, EigenDynamics1D, EigenDynamics2D, EigenDynamics3D
from dynsim.tools.continuation import Continuation, continuation, plot_continuation


class SaddleNode(dynsim.AbstractSystem):
    """dx/dt = mu - x^2: x = +/- sqrt(mu), a fold at mu = 0; stable where x > 0 (f' = -2x)."""

    mu: jnp.ndarray = dynsim.param(default=0.0)
    state_names: ClassVar[tuple[str, ...]] = ("x",)

    def vector_field(self, t, y):
        return jnp.stack([self.mu - y[0] ** 2])


class Pitchfork(dynsim.AbstractSystem):
    """dx/dt = mu x - x^3, dy/dt = -y: x = 0 (eigenvalues mu, -1) and, for mu > 0, x = +/- sqrt(mu)
    (eigenvalues -2 mu, -1); a pitchfork at mu = 0."""

    mu: jnp.ndarray = dynsim.param(default=0.0)
    state_names: ClassVar[tuple[str, ...]] = ("x", "y")

    def vector_field(self, t, y):
        return jnp.stack([self.mu * y[0] - y[0] ** 3, -y[1]])


class Transcritical(dynsim.AbstractSystem):
    """dx/dt = mu x - x^2: x = 0 (f' = mu) and x = mu (f' = -mu) exchange stability at mu = 0."""

    mu: jnp.ndarray = dynsim.param(default=0.0)
    state_names: ClassVar[tuple[str, ...]] = ("x",)

    def vector_field(self, t, y):
        return jnp.stack([self.mu * y[0] - y[0] ** 2])


class Hopf(dynsim.AbstractSystem):
    """The Hopf normal form: the origin has eigenvalues mu +/- i, a Hopf point at mu = 0."""

    mu: jnp.ndarray = dynsim.param(default=0.0)
    state_names: ClassVar[tuple[str, ...]] = ("x", "y")

    def vector_field(self, t, y):
        x, z = y[0], y[1]
        r2 = x * x + z * z
        return jnp.stack([self.mu * x - z - x * r2, x + self.mu * z - z * r2])


LO, HI = -0.5, 0.8  # the range of the normal forms


def kinds(result: Continuation) -> list[str]:
    return sorted(p.kind for p in result.special)


# --------------------------------------------------------------------------- the normal forms


@pytest.fixture(scope="module")
def saddle_node():
    return continuation(SaddleNode(), "mu", -1.0, 1.0, at=1.0, start=[[1.0], [-1.0]])


def test_saddle_node_fold_located_and_branch_is_the_parabola(saddle_node):
    r = saddle_node
    assert kinds(r) == ["fold"]
    fold = r.special[0]
    assert abs(fold.mu) <= 1e-8 and abs(fold.state[0]) <= 1e-7
    assert abs(fold.crossing[0]) <= 1e-7  # f' = -2x vanishes there
    # One branch: both equilibria at mu = 1 are on it (the second start is recognised, not retraced).
    assert len(r.branches) == 1
    b = r.branches[0]
    x = b.states[:, 0]
    np.testing.assert_allclose(x**2, b.mu, rtol=0, atol=1e-12)
    assert x.min() == pytest.approx(-1.0, abs=1e-12) and x.max() == pytest.approx(1.0, abs=1e-12)
    assert b.mu.max() == 1.0 and b.mu.min() <= 0.05  # round the fold, back to mu = 1
    np.testing.assert_allclose(b.eigenvalues[:, 0].real, -2 * x, rtol=0, atol=1e-12)
    far = np.abs(x) > 1e-6
    np.testing.assert_array_equal(b.stable[far], x[far] > 0)


@pytest.fixture(scope="module")
def pitchfork():
    return continuation(Pitchfork(), "mu", LO, HI, start=[[0.1, 0.1]])


def test_pitchfork_located_and_both_new_branches_followed(pitchfork):
    r = pitchfork
    assert kinds(r) == ["branch point"]
    bp = r.special[0]
    assert abs(bp.mu) <= 1e-8 and np.max(np.abs(bp.state)) <= 1e-8 and bp.detail == "pitchfork"
    trivial, new = r.branches
    assert new.origin == "branch point 0"
    np.testing.assert_array_equal(trivial.states, 0.0)
    assert trivial.mu.min() == LO and trivial.mu.max() == HI
    # The switched branch: x = +/- sqrt(mu), y = 0, both halves out to mu = HI.
    x = new.states[:, 0]
    np.testing.assert_allclose(np.abs(x), np.sqrt(new.mu), rtol=0, atol=1e-8)
    np.testing.assert_allclose(new.states[:, 1], 0.0, atol=1e-12)
    assert x.min() == pytest.approx(-np.sqrt(HI), abs=1e-12) and x.max() == pytest.approx(np.sqrt(HI), abs=1e-12)
    assert new.stops == ("boundary", "boundary")


def test_pitchfork_stability_and_eigenvalues(pitchfork):
    trivial, new = pitchfork.branches
    np.testing.assert_allclose(trivial.eigenvalues.real, np.sort(np.stack([trivial.mu, -np.ones_like(trivial.mu)], 1)),
                               atol=1e-12)
    np.testing.assert_array_equal(trivial.stable, trivial.mu < 0)
    off = new.mu > 1e-10  # the branch point itself has a zero eigenvalue
    lam = np.sort(np.stack([-2 * new.mu, -np.ones_like(new.mu)], 1))
    np.testing.assert_allclose(new.eigenvalues.real[off], lam[off], atol=1e-10)
    assert new.stable[off].all()


def test_transcritical_located_and_its_two_branches():
    r = continuation(Transcritical(), "mu", LO, HI, start=[[0.0], [LO]])
    assert kinds(r) == ["branch point"]
    bp = r.special[0]
    assert abs(bp.mu) <= 1e-8 and abs(bp.state[0]) <= 1e-8 and bp.detail == "transcritical"
    assert len(r.branches) == 2  # met on both branches: nothing left to switch to
    by_start = {round(float(b.states[np.argmin(b.mu), 0]), 6): b for b in r.branches}
    zero, diagonal = by_start[0.0], by_start[LO]
    np.testing.assert_array_equal(zero.states[:, 0], 0.0)
    np.testing.assert_allclose(diagonal.states[:, 0], diagonal.mu, atol=1e-12)
    for b, slope in ((zero, 1.0), (diagonal, -1.0)):  # f' = mu on x = 0, -mu on x = mu
        np.testing.assert_allclose(b.eigenvalues[:, 0].real, slope * b.mu, atol=1e-12)
        off = np.abs(b.mu) > 1e-10
        np.testing.assert_array_equal(b.stable[off], slope * b.mu[off] < 0)


def test_hopf_point_and_its_crossing_eigenvalues():
    r = continuation(Hopf(), "mu", LO, HI, start=[[0.01, -0.01]])
    assert kinds(r) == ["hopf"]
    h = r.special[0]
    assert abs(h.mu) <= 1e-8 and np.max(np.abs(h.state)) <= 1e-12
    np.testing.assert_allclose(np.sort_complex(h.crossing), [-1j, 1j], atol=1e-8)
    (b,) = r.branches
    np.testing.assert_allclose(b.eigenvalues, np.stack([b.mu - 1j, b.mu + 1j], 1), atol=1e-12)
    np.testing.assert_array_equal(b.stable, b.mu < 0)


# --------------------------------------------------------------------------- the eigenvalue dynamics

ETA_LO, ETA_HI = 1e-6, 0.5


def eta_c(sigma=1.0, tau=1.0) -> float:
    return tau**2 / (4 * (1 + sigma**2))


@pytest.fixture(scope="module")
def eigen1d():
    """Default starts (find_fixed_points at eta = 1e-6), continued in log eta."""
    return continuation(EigenDynamics1D(eta=1e-3, sigma=1.0, tau=1.0), "eta", ETA_LO, ETA_HI, log=True)


def fold_branch(r: Continuation):
    (b,) = [b for b in r.branches if np.any(b.states[:, 0] > 0.1)]
    return b


def test_eigen1d_fold_at_the_critical_eta(eigen1d):
    assert kinds(eigen1d) == ["fold"]
    fold = eigen1d.special[0]
    assert abs(fold.mu - eta_c()) <= 1e-8
    assert fold.state[0] == pytest.approx(0.25, abs=1e-7)  # p*_- = p*_+ = tau / (2 (1 + sigma^2))


def test_eigen1d_roots_along_the_branch_over_five_decades(eigen1d):
    b = fold_branch(eigen1d)
    p = b.states[:, 0]
    pm, pp = (np.asarray(v) for v in dynsim.nontrivial_roots(b.mu, 1.0, 1.0))
    lower = p < 0.25
    np.testing.assert_allclose(p[lower], pm[lower], rtol=1e-9, atol=0)
    np.testing.assert_allclose(p[~lower], pp[~lower], rtol=1e-9, atol=0)
    # Both p*_- and p*_+ are followed from eta = 1e-6 up to the fold, across five decades.
    for side in (lower, ~lower):
        assert b.mu[side].min() == ETA_LO and b.mu[side].max() >= 0.99 * eta_c()
        assert np.sum(b.mu[side] < 1e-5) >= 1 and np.sum((b.mu[side] > 1e-3) & (b.mu[side] < 1e-2)) >= 1
    assert set(b.stops) <= {"boundary", "started on boundary"}  # both ends on eta = 1e-6
    # The collapsed branch p = 0 over the whole range.
    (zero,) = [z for z in eigen1d.branches if z is not b]
    np.testing.assert_array_equal(zero.states, 0.0)
    assert zero.mu.min() == ETA_LO and zero.mu.max() == ETA_HI


def test_eigen1d_stability_is_the_sign_of_the_eigenvalue(eigen1d):
    for b in eigen1d.branches:
        p, eta = b.states[:, 0], b.mu
        slope = 2 * p - 3 * 2.0 * p**2 - eta  # f'(p) = 2 tau p - 3 (1 + sigma^2) p^2 - eta
        lam = b.eigenvalues[:, 0]
        np.testing.assert_allclose(lam.real, slope, rtol=1e-8, atol=1e-15)
        np.testing.assert_array_equal(lam.imag, 0.0)
        clear = np.abs(slope) > 1e-9
        np.testing.assert_array_equal(b.stable[clear], slope[clear] < 0)
    # p*_+ and p = 0 are stable, p*_- unstable (away from the fold).
    b = fold_branch(eigen1d)
    p = b.states[:, 0]
    assert b.stable[p > 0.3].all() and not b.stable[p < 0.2].any()


@pytest.mark.parametrize("system, start", [
    (EigenDynamics2D(eta=1e-3, sigma=1.0, tau=1.0), [[0.0, 0.0], [0.5, 0.25]]),
    (EigenDynamics3D(eta=1e-3, sigma=1.0), [[0.0, 0.0, 1.0], [0.5, 0.25, 1.0]]),
], ids=["2d", "3d"])
def test_eigen2d_and_3d_give_the_same_fold(system, start, eigen1d):
    r = continuation(system, "eta", ETA_LO, ETA_HI, log=True, start=start)
    assert kinds(r) == ["fold"]
    fold = r.special[0]
    assert abs(fold.mu - eta_c()) <= 1e-8 and abs(fold.mu - eigen1d.special[0].mu) <= 1e-8
    assert fold.state[0] == pytest.approx(0.25, abs=1e-7) and fold.state[1] == pytest.approx(0.0625, abs=1e-7)


# --------------------------------------------------------------------------- compilation


class _Compiles(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        if record.getMessage().startswith("Compiling"):
            self.messages.append(record.getMessage())


def test_new_parameter_values_do_not_recompile(eigen1d):
    """Same model class and shapes, other sigma, tau and range: nothing is compiled, and the fold
    moves to the new tau^2 / (4 (1 + sigma^2))."""
    counter = _Compiles()
    logger = logging.getLogger("jax")
    logger.addHandler(counter)
    try:
        with jax.log_compiles():
            jax.jit(lambda x: x * 3.0)(np.float64(1.0))  # the counter sees a compilation
            assert len(counter.messages) == 1
            r = continuation(EigenDynamics1D(eta=2e-3, sigma=0.5, tau=0.9), "eta", 2e-6, 0.4, log=True)
    finally:
        logger.removeHandler(counter)
    assert counter.messages[1:] == []
    assert kinds(r) == ["fold"] and abs(r.special[0].mu - eta_c(0.5, 0.9)) <= 1e-8


# --------------------------------------------------------------------------- results and figure


def test_summary_is_json_and_arrays_save_to_npz(eigen1d):
    s = json.loads(json.dumps(eigen1d.summary()))
    (sp,) = s["special_points"]
    assert sp["type"] == "fold" and sp["eta"] == eigen1d.special[0].mu and set(sp["state"]) == {"p"}
    assert len(sp["eigenvalues"]) == 1 and s["parameter"] == "eta" and s["log"] is True
    assert [b["points"] for b in s["branches"]] == [len(b) for b in eigen1d.branches]
    buf = io.BytesIO()
    np.savez(buf, **eigen1d.arrays())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["branch0_mu"], eigen1d.branches[0].mu)
        np.testing.assert_array_equal(z["branch1_stable"], eigen1d.branches[1].stable)
        assert list(z["special_type"]) == ["fold"] and z["special_mu"][0] == eigen1d.special[0].mu


def test_plot_marks_the_fold_on_log_axes(eigen1d, pitchfork):
    import matplotlib.pyplot as plt

    fig = plot_continuation(eigen1d)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "symlog"  # p spans decades and holds 0
    assert ax.get_xlabel() == r"$\eta$" and "$p$" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"stable", "unstable", "fold (saddle-node)"} <= set(labels)
    assert "F" in [t.get_text() for t in ax.texts]
    styles = {ln.get_label(): ln.get_linestyle() for ln in ax.lines}
    assert styles["stable"] == "-" and styles["unstable"] == "--"
    plt.close(fig)
    fig = plot_continuation(pitchfork, coord="x")
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and "BP" in [t.get_text() for t in ax.texts]
    plt.close(fig)


@pytest.mark.parametrize("size", ["page", "column"])
def test_plot_no_filler(eigen1d, pitchfork, size):
    """`dynsim continuation`'s figure: no text-only panel, every legend entry drawn, nothing cut off."""
    import matplotlib.pyplot as plt

    from dynsim.plot.style import figure_problems

    for run, coord in ((eigen1d, 0), (pitchfork, "x")):
        fig = plot_continuation(run, coord=coord, size=size)
        try:
            assert figure_problems(fig) == []
        finally:
            plt.close(fig)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, name", [
    (dict(param="kappa"), "param"),  # not a parameter of the model
    (dict(lo=0.5, hi=0.5), "lo"),  # lo >= hi
    (dict(lo=0.0, hi=0.5, log=True), "lo"),  # log with lo <= 0
    (dict(at=0.9), "at"),  # the start outside the range
    (dict(lo=float("nan")), "lo"),
    (dict(ds=-1.0), "ds"),
    (dict(start=np.zeros((2, 3))), "start"),  # states of the wrong dimension
])
def test_bad_input_names_the_argument(kwargs, name):
    args = dict(param="eta", lo=1e-4, hi=0.5)
    args.update(kwargs)
    with pytest.raises(DynsimInputError) as e:
        continuation(EigenDynamics1D(eta=1e-3, sigma=1.0), args.pop("param"), args.pop("lo"), args.pop("hi"), **args)
    assert e.value.name == name


def test_non_scalar_parameter_and_batched_model_are_refused():
    batched = EigenDynamics1D(eta=np.array([1e-3, 2e-3]), sigma=1.0)
    with pytest.raises(DynsimInputError) as e:
        continuation(batched, "eta", 1e-4, 0.5)
    assert e.value.name == "param"
    with pytest.raises(DynsimInputError) as e:
        continuation(batched, "sigma", 0.1, 2.0)
    assert e.value.name == "model"


def test_no_equilibrium_at_the_start_is_refused():
    # dx/dt = mu - x^2 has no equilibrium at mu = -1: Newton from x = 0.5 cannot converge.
    with pytest.raises(DynsimInputError) as e:
        continuation(SaddleNode(), "mu", -1.0, 1.0, start=[[0.5]])
    assert e.value.name == "start"
