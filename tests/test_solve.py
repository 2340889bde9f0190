"""The solver core against scipy, and its per-trajectory failure reporting."""

from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import dynsim
from dynsim import DynsimInputError, EigenDynamics2D, EigenDynamics3D, Status


def _scipy(system, y0, ts):
    f = lambda t, y: np.asarray(system.vector_field(t, jnp.asarray(y)))
    out = solve_ivp(f, (ts[0], ts[-1]), y0, method="DOP853", t_eval=ts, rtol=1e-13, atol=1e-15)
    assert out.success
    return out.y.T


@pytest.mark.parametrize("system,y0", [
    (EigenDynamics2D(eta=0.01, sigma=0.5, tau=0.8, alpha_p=2.0), [[0.3, 0.2], [-0.1, 0.4], [0.02, 0.001]]),
    (EigenDynamics2D(eta=4e-4, sigma=1.0), [[0.1, 0.05], [0.001, 1e-6]]),
    (EigenDynamics3D(eta=0.02, sigma=1.0, alpha_p=1.5, beta=0.4), [[0.3, 0.2, 0.0], [0.1, 0.5, 0.9]]),
])
def test_trajectories_agree_with_scipy_dop853(system, y0):
    # dynsim Tsit5 at rtol 1e-11 vs scipy DOP853 at rtol 1e-13: agreement to 1e-7.
    ts = np.linspace(0.0, 60.0, 61)
    sol = dynsim.solve(system, np.array(y0), ts, rtol=1e-11, atol=1e-13)
    assert sol.complete
    for i, y in enumerate(y0):
        np.testing.assert_allclose(np.asarray(sol.ys[i]), _scipy(system, np.array(y), ts), rtol=1e-7, atol=1e-7)


class Counted(EigenDynamics2D):
    traces: ClassVar[list] = []

    def vector_field(self, t, y):
        Counted.traces.append(1)  # runs only while JAX traces
        return super().vector_field(t, y)


def test_new_parameter_values_do_not_recompile():
    ts = np.linspace(0.0, 10.0, 11)
    y0 = np.array([[0.3, 0.2], [0.1, 0.1]])
    dynsim.solve(Counted(eta=0.01, sigma=1.0), y0, ts)
    n = len(Counted.traces)
    assert n > 0
    for eta, sigma in [(0.02, 0.5), (1e-4, 2.0)]:
        dynsim.solve(Counted(eta=eta, sigma=sigma, tau=0.9, alpha_p=3.0), y0, ts * 2, rtol=1e-6)
    assert len(Counted.traces) == n


def test_batch_over_parameters_matches_individual_solves():
    etas = np.array([1e-3, 1e-2, 5e-2])
    ts = np.linspace(0.0, 30.0, 7)
    sol = dynsim.solve(EigenDynamics2D(eta=etas, sigma=1.0), np.array([0.2, 0.1]), ts, rtol=1e-10, atol=1e-12)
    assert sol.ys.shape == (3, 7, 2)
    for i, eta in enumerate(etas):
        one = dynsim.solve(EigenDynamics2D(eta=eta, sigma=1.0), np.array([0.2, 0.1]), ts, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(sol.ys[i]), np.asarray(one.ys), rtol=1e-12, atol=1e-14)


class Blowup(dynsim.AbstractSystem):
    """dy/dt = y^2: y(t) = y0 / (1 - y0 t), blows up at t = 1/y0."""

    rate: jnp.ndarray = dynsim.param(default=1.0)
    state_names: ClassVar[tuple[str, ...]] = ("y",)

    def vector_field(self, t, y):
        return self.rate * y**2


def test_blowup_and_step_limit_are_reported_per_trajectory():
    ts = np.linspace(0.0, 2.0, 21)
    sol = dynsim.solve(Blowup(), np.array([[0.1], [1.0]]), ts)
    assert list(np.asarray(sol.status)) == [Status.SUCCESS, Status.DIVERGED]
    assert not sol.complete
    assert float(sol.t_final[1]) == pytest.approx(1.0, abs=1e-6)  # the blow-up time 1/y0
    np.testing.assert_allclose(np.asarray(sol.ys[0, :, 0]), 0.1 / (1 - 0.1 * ts), rtol=1e-7)
    assert "diverged" in sol.failures()[0]

    sol = dynsim.solve(EigenDynamics2D(eta=0.01, sigma=1.0), np.array([0.3, 0.2]), np.linspace(0, 1e4, 5), max_steps=20)
    assert int(sol.status) == Status.MAX_STEPS
    assert 0.0 < float(sol.t_final) < 1e4
    assert np.all(np.isfinite(np.asarray(sol.y_final)))
    assert sol.stats()["status"] == {"max-steps": 1}


class Growth(dynsim.AbstractSystem):
    """ds/dt = s^2 with s > 0 preserved: blows up at t = 1/s0, also in log coordinates."""

    state_names: ClassVar[tuple[str, ...]] = ("s",)
    positive: ClassVar[tuple[int, ...]] = (0,)

    def vector_field(self, t, y):
        return y**2


def test_blowup_is_detected_in_log_coordinates():
    sol = dynsim.solve(Growth(), np.array([0.5]), np.linspace(0.0, 4.0, 5), log_positive=True)
    assert int(sol.status) == Status.DIVERGED
    assert float(sol.t_final) == pytest.approx(2.0, abs=1e-6)


def test_stop_when_ends_early_with_status_stopped():
    sol = dynsim.solve(Blowup(), np.array([0.5]), np.linspace(0.0, 1.5, 4), stop_when=lambda t, y, s: y[0] > 1.0)
    assert int(sol.status) == Status.STOPPED and sol.complete
    # Boolean condition: the solve ends at the end of the first step where it holds (y = 1 at t = 1).
    tf = float(sol.t_final)
    assert 1.0 <= tf < 1.5
    assert float(sol.y_final[0]) == pytest.approx(0.5 / (1 - 0.5 * tf), rel=1e-7)


def test_float32_option():
    ts = np.linspace(0.0, 20.0, 5)
    m = EigenDynamics2D(eta=0.01, sigma=1.0)
    s32 = dynsim.solve(m, np.array([0.3, 0.2]), ts, dtype=jnp.float32, rtol=1e-5, atol=1e-7)
    s64 = dynsim.solve(m, np.array([0.3, 0.2]), ts, rtol=1e-10, atol=1e-12)
    assert s32.ys.dtype == jnp.float32 and s64.ys.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(s32.ys), np.asarray(s64.ys), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs,name", [
    (dict(ts=[0.0, 1.0, 0.5]), "ts"),
    (dict(ts=[0.0]), "ts"),
    (dict(y0=[0.1, 0.2, 0.3]), "y0"),
    (dict(y0=[np.nan, 0.2]), "y0"),
    (dict(rtol=0.0), "rtol"),
    (dict(max_steps=0), "max_steps"),
])
def test_bad_solver_input(kwargs, name):
    args = dict(system=EigenDynamics2D(eta=0.01, sigma=1.0), y0=[0.1, 0.2], ts=[0.0, 1.0])
    args.update(kwargs)
    with pytest.raises(DynsimInputError) as e:
        dynsim.solve(args.pop("system"), args.pop("y0"), args.pop("ts"), **args)
    assert e.value.name == name


def _lsoda_log(y0, t1, eta=4e-4, k=2.0):
    """Reference in (p, log s), written independently: LSODA at rtol 1e-11."""
    f = lambda t, z: [np.exp(z[1]) * (1 - k * z[0]) - eta * z[0], 2 * (z[0] * (1 - k * z[0]) - eta)]
    z = solve_ivp(f, (0.0, t1), [y0[0], np.log(y0[1])], method="LSODA", rtol=1e-11, atol=1e-12).y[:, -1]
    return np.array([z[0], np.exp(z[1])])


def test_log_coordinates_keep_s_positive():
    """A finding: with absolute error control, s crosses its invariant line s = 0.

    From (0.997, 0.620) s decays to ~1e-40 (far below atol) while p creeps down the line
    p = tau/(1+sigma^2), then regrows. At rtol 1e-8, atol 1e-10 in (p, s) the solver lets s
    go negative and the trajectory ends at p < 0: a wrong answer. In (p, log s) it is right.
    """
    m = EigenDynamics2D(eta=4e-4, sigma=1.0)
    y0, ts = np.array([0.99712561, 0.61975807]), np.linspace(0.0, 1000.0, 201)
    linear = dynsim.solve(m, y0, ts, rtol=1e-8, atol=1e-10)
    assert np.min(np.asarray(linear.ys[:, 1])) < 0  # the failure mode this option exists for
    log = dynsim.solve(m, y0, ts, rtol=1e-8, atol=1e-10, log_positive=True)
    assert np.all(np.asarray(log.ys[:, 1]) >= 0)
    np.testing.assert_allclose(np.asarray(log.y_final), _lsoda_log(y0, 1000.0), rtol=1e-6, atol=1e-12)


def test_nonfinite_trial_steps_do_not_stall_the_controller():
    """Regression: a trial step whose stages overflow made diffrax's PID controller propose a
    NaN step size, and every later step was rejected until max_steps. FiniteErrorGuard fixes it."""
    m = EigenDynamics2D(eta=4e-4, sigma=1.0)
    y0 = np.array([0.94323812, 0.17941703])
    sol = dynsim.solve(m, y0, np.array([0.0, 20000.0]), rtol=1e-8, atol=1e-10, log_positive=True)
    assert sol.complete and int(sol.num_steps) < 20_000
    np.testing.assert_allclose(np.asarray(sol.y_final), _lsoda_log(y0, 20000.0), rtol=1e-6)
    assert float(sol.y_final[0]) == pytest.approx(float(m.p_plus), rel=1e-6)


def test_log_positive_rejects_nonpositive_start():
    with pytest.raises(DynsimInputError) as e:
        dynsim.solve(EigenDynamics2D(eta=0.01, sigma=1.0), [0.1, 0.0], [0.0, 1.0], log_positive=True)
    assert e.value.name == "y0"


def test_a_nan_parameter_is_refused_by_name_and_a_blowup_is_diverged_at_its_time():
    import equinox as eqx

    sys = eqx.tree_at(lambda m: m.eta, EigenDynamics2D(), jnp.asarray(np.nan))  # behind the constructor's check
    with pytest.raises(DynsimInputError) as e:
        dynsim.solve(sys, np.array([0.3, 1.0]), np.linspace(0.0, 1.0, 3))
    assert e.value.name == "eta" and "NaN" in str(e.value)

    class Riccati(dynsim.AbstractSystem):  # y' = y^2 from y(0) = 1: y = 1 / (1 - t), blows up at t = 1
        state_names: ClassVar = ("y",)

        def vector_field(self, t, y):
            return y**2

    sol = dynsim.solve(Riccati(), np.array([1.0]), np.linspace(0.0, 2.0, 5))
    assert Status(int(sol.status)) == Status.DIVERGED
    # the threshold 1e12 is crossed at t = 1 - 1e-12: the time reported is the blow-up time to 1e-6
    assert abs(float(sol.t_final) - 1.0) < 1e-6
