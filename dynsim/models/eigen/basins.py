r"""Basin maps of the eigenvalue dynamics: which attractor each initial condition reaches.

Every cell of a grid of initial conditions ``(p_0, s_0)`` (and ``tau_0`` for the EMA system) is
labelled **collapsed**, **non-trivial**, **not settled** by ``t1`` or **failed**. A lane stops as
soon as it is *provably* inside a stable point's basin, so no threshold tuned by hand decides a
label and most lanes stop long before ``t1``. The certificates use the stationary points found
by :func:`~dynsim.find_fixed_points` (with their stability) and the invariant
``c(t) = s - p^2/alpha_p = c_0 e^{-2 eta t}`` [T21]: with it ``dp/dt = f_1(p) + alpha_p c(t) (tau - k p)``,
``f_1(p) = p^2 (tau - k p) - eta p`` (``k = 1 + sigma^2``), and since ``|c|`` only shrinks,

- a half-line ``[q, inf)`` with ``p*_- < q`` on which ``f_1(q) - alpha_p |c| |tau - k q| > 0`` holds now holds
  forever: ``p`` can never fall below ``q`` and converges to ``p*_+`` (non-trivial). With ``c >= 0``
  (above the parabola) this holds for every ``p > p*_-``;
- a half-line ``(-inf, q]`` with ``0 < q < p*_-`` and ``f_1(q) + alpha_p |c| |tau - k q| < 0`` traps ``p``,
  which goes to 0 and ``s`` with it (collapsed). With ``c <= 0`` this holds for every ``p < p*_-``.

For the EMA system ``(p, s, tau)`` the trap is a box in ``(p, tau)`` whose faces the flow crosses
inward for every admissible ``c`` (the field is bilinear in ``(tau, c)``, so its corners decide);
the limit system has divergence ``-2 k p^2 - beta < 0`` (no cycles), so a box holding one stable
point is in its basin. At ``eta = 0``, ``c`` is conserved and the labels are a closed form.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from dynsim.tools.fixed_points import FixedPoints, find_fixed_points, jacobian
from dynsim.models.eigen.system import EigenDynamics1D, EigenDynamics2D, EigenDynamics3D, nontrivial_roots
from dynsim._core.errors import DynsimInputError
from dynsim._core.parallel import device_count
from dynsim.tools.basins import certify_lanes, integrate_lanes, take_lanes
from dynsim.tools.plane import Axis  # noqa: F401  (re-exported: the eigen maps' axes)
from dynsim._core.solve import Solution, Status, check_solver_options, solve
from dynsim._core.system import AbstractSystem, check_param, param, to_jax

COLLAPSED, NONTRIVIAL, NOT_SETTLED, FAILED = 0, 1, -1, -2
LABELS = {COLLAPSED: "collapsed", NONTRIVIAL: "non-trivial", NOT_SETTLED: "not settled", FAILED: "failed"}
MAX_CELLS = 4096 * 4096  # per-cell outputs (labels, times, steps: 17 bytes a cell) stay below ~0.3 GB
DEFAULT_CHUNK = 1 << 16  # lanes integrated at once (memory is bounded by this, not by the grid)


# --------------------------------------------------------------------------------------------
# Certificates


def _f1(q, eta, tau, k):
    return q * q * (tau - k * q) - eta * q


class _Lane2D(EigenDynamics2D):
    """The ``(p, s)`` system of one lane, carrying what its basin certificate needs: the invariant's
    initial value ``c0`` and, from the stationary points, ``p_sep`` (``p*_-``, or ``inf`` above the
    critical eta), ``p_plus`` (``p*_+``) and the best trap ends ``q_up`` in ``(p*_-, p*_+)`` and
    ``q_down`` in ``(0, p*_-)``."""

    c0: Float[Array, "*batch"] = param(default=0.0)
    p_sep: Float[Array, "*batch"] = param(default=math.inf)
    p_plus: Float[Array, "*batch"] = param(default=math.nan)
    q_up: Float[Array, "*batch"] = param(default=math.nan)
    q_down: Float[Array, "*batch"] = param(default=math.nan)

    def certify(self, t, y) -> Array:
        """``NONTRIVIAL``, ``COLLAPSED`` or ``NOT_SETTLED`` (no trap proven yet) at ``(t, y)``."""
        p = y[0]
        k = 1.0 + self.sigma**2
        c = self.c0 * jnp.exp(-2.0 * self.eta * t)
        a = self.alpha_p * jnp.abs(c)
        f1 = lambda q: _f1(q, self.eta, self.tau, k)
        lower = lambda q: f1(q) - a * jnp.abs(self.tau - k * q)  # dp/dt at p = q, now and later
        upper = lambda q: f1(q) + a * jnp.abs(self.tau - k * q)
        nontrivial = (p > self.p_sep) & (
            (c >= 0) | ((p < self.p_plus) & (lower(p) > 0)) | ((p >= self.q_up) & (lower(self.q_up) > 0)))
        collapsed = (p < self.p_sep) & (
            ((c <= 0) & (k * p < self.tau)) | ((p > 0) & (upper(p) < 0))
            | ((p <= self.q_down) & (upper(self.q_down) < 0)))
        return jnp.where(nontrivial, NONTRIVIAL, jnp.where(collapsed, COLLAPSED, NOT_SETTLED))


class _Lane3D(EigenDynamics3D):
    """The ``(p, s, tau)`` system of one lane with ``c0`` and, from the stationary points, ``p_sep``
    (``p*_-`` at ``tau = 1``), ``p_plus`` and ``tau_star = beta / (beta - eta)`` (the collapsed
    point's EMA ratio)."""

    c0: Float[Array, "*batch"] = param(default=0.0)
    p_sep: Float[Array, "*batch"] = param(default=math.inf)
    p_plus: Float[Array, "*batch"] = param(default=math.nan)
    tau_star: Float[Array, "*batch"] = param(default=math.inf)

    def _box_is_trap(self, pL, pU, tL, tH, c):
        """The faces of ``[pL, pU] x [tL, tH]`` are crossed inward for every ``c`` between 0 and ``c``."""
        k, a, b, e = 1.0 + self.sigma**2, self.alpha_p, self.beta, self.eta
        dp = lambda p, tau, cc: (p * p + a * cc) * (tau - k * p) - e * p
        c_hi = jnp.maximum(c, 0.0)
        ok = tL > 0
        for p, sign in ((pL, 1.0), (pU, -1.0)):
            c_lo = jnp.maximum(jnp.minimum(c, 0.0), -p * p / a)  # s = p^2/a + c >= 0 on the face
            for tau in (tL, tH):
                for cc in (c_lo, c_hi):
                    ok &= sign * dp(p, tau, cc) > 0
        g = lambda p, tau: p * (tau - k * p)
        vertex = lambda tau: jnp.clip(tau / (2.0 * k), pL, pU)
        g_max_lo = jnp.maximum(jnp.maximum(g(pL, tL), g(pU, tL)), g(vertex(tL), tL))
        g_min_hi = jnp.minimum(g(pL, tH), g(pU, tH))
        ok &= b * (1.0 - tL) - tL * (g_max_lo - e) > 0
        ok &= b * (1.0 - tH) - tH * (g_min_hi - e) < 0
        g_max_box = jnp.maximum(jnp.maximum(g(pL, tH), g(pU, tH)), g(vertex(tH), tH))
        return ok, g_max_box

    def certify(self, t, y) -> Array:
        p, tau = y[0], y[2]
        c = self.c0 * jnp.exp(-2.0 * self.eta * t)
        gap = self.p_plus - self.p_sep
        nontrivial = to_jax(False)
        for w in (0.5, 0.25, 0.1, 0.03):  # candidate boxes around (p*_+, 1), hulled with the state
            pL = jnp.minimum(p, self.p_plus - w * gap)
            pU = jnp.maximum(p, self.p_plus + w * gap)
            tL, tH = jnp.minimum(tau, 1.0 - w / 2), jnp.maximum(tau, 1.0 + w / 2)
            ok, _ = self._box_is_trap(pL, pU, tL, tH, c)
            nontrivial |= ok & (pL > self.p_sep)  # then (p*_+, 1) is the box's only stationary point
        collapsed = to_jax(False)
        for w in (0.9, 0.5, 0.2):  # boxes reaching up to a fraction of p*_- (at tau = tau_star)
            pU = jnp.maximum(p, w * self.p_sep / jnp.maximum(self.tau_star, 1.0))
            pL = jnp.minimum(p, -pU)
            tL, tH = jnp.minimum(tau, 1.0), jnp.maximum(tau, self.tau_star * (1.0 + w / 10))
            ok, g_max = self._box_is_trap(pL, pU, tL, tH, c)
            collapsed |= ok & (g_max < self.eta)  # d log s/dt < 0 in the box: s -> 0, then p -> 0
        return jnp.where(nontrivial, NONTRIVIAL, jnp.where(collapsed, COLLAPSED, NOT_SETTLED))


def _closed_form_eta0(p, s, alpha_p, tau, sigma):
    """Labels at ``eta = 0``, where ``c = s - p^2/alpha_p`` is conserved: ``c > 0`` (or ``c = 0``, ``p > 0``)
    goes to ``p = tau/k``; ``c < 0`` leaves ``|p| >= r = sqrt(-alpha_p c)``, and ``p >= r`` goes to
    ``tau/k`` when ``r < tau/k`` and down to ``r`` (``s -> 0``) otherwise; ``p <= -r`` goes to ``-r``."""
    k = 1.0 + sigma**2
    c = s - p * p / alpha_p
    r = np.sqrt(np.maximum(-alpha_p * c, 0.0))
    up = np.where(c > 0, True, np.where(c == 0, p > 0, (p > 0) & (r < tau / k)))
    return np.where(s == 0, COLLAPSED, np.where(up, NONTRIVIAL, COLLAPSED))


# --------------------------------------------------------------------------------------------
# Traps from the stationary points


@dataclasses.dataclass(frozen=True)
class Traps:
    """What the certificates need, read off the stationary points of the 1-D reduction (found and
    classified by :func:`~dynsim.find_fixed_points`): the separating unstable point ``p_sep`` and the
    stable non-trivial point ``p_plus``, and the trap ends ``q_up``, ``q_down``."""

    p_sep: float
    p_plus: float
    q_up: float
    q_down: float
    fixed_points_1d: FixedPoints
    closed_form_error: float  # max |found - closed form| over p*_-, p*_+


def traps(eta: float, sigma: float, tau: float, alpha_p: float) -> Traps:
    sys1 = EigenDynamics1D(eta=eta, sigma=sigma, tau=tau)
    p0 = tau / (1.0 + sigma**2)
    starts = np.concatenate([np.linspace(-p0, 3 * p0, 33), np.geomspace(1e-9 * p0, 2 * p0, 48)])[:, None]
    fp = find_fixed_points(sys1, starts)
    pts = fp.points[:, 0]
    unstable = [x for x, st, iso in zip(pts, fp.stability, fp.isolated)
                if iso and x > 0 and st in ("unstable node", "degenerate")]
    stable = [x for x, st in zip(pts, fp.stable) if st and x > 0]
    p_sep = min(unstable) if unstable else math.inf
    p_plus = max(stable) if stable else math.nan
    if stable and not unstable:  # eta = 0: p*_- has merged with the degenerate point p = 0
        p_sep = 0.0
    k = 1.0 + sigma**2
    f1 = lambda q: _f1(q, eta, tau, k)
    q_up = q_down = math.nan
    if np.isfinite(p_plus):
        q = np.linspace(p_sep, p_plus, 2051)[1:-1]
        q_up = float(q[np.argmax(f1(q) / (alpha_p * np.abs(tau - k * q)))])
    hi = min(p_sep, tau / k)
    if hi > 0:
        q = np.linspace(0.0, hi, 2051)[1:-1]
        q_down = float(q[np.argmax(-f1(q) / (alpha_p * np.abs(tau - k * q)))])
    pm, pp = (float(v) for v in nontrivial_roots(eta, sigma, tau))
    err = max(abs(p_sep - pm), abs(p_plus - pp)) if np.isfinite(p_plus) and pm > 0 else 0.0
    return Traps(float(p_sep), float(p_plus), q_up, q_down, fp, float(err))


# --------------------------------------------------------------------------------------------
# The basin map


def default_axes(system, num: int = 512) -> tuple[Axis, Axis]:
    """``p`` in ``[-2 p0, 4 p0]`` and log ``s`` in ``[1e-10 s0, s0]`` with ``p0 = tau/(1 + sigma^2)`` (``tau = 1``
    for the EMA system) and ``s0 = (2 p0)^2 / alpha_p``: the non-trivial branch, the collapse basin
    below the parabola and the thin sliver where ``s`` first falls by hundreds of decades."""
    tau = float(getattr(system, "tau", 1.0))
    p0 = tau / (1.0 + float(system.sigma) ** 2) if tau > 0 else 1.0
    s0 = (2 * p0) ** 2 / float(system.alpha_p)
    return Axis("p", -2 * p0, 4 * p0, num), Axis("s", 1e-10 * s0, s0, num, log=True)


def default_t1(eta: float) -> float:
    """``25 / eta`` clipped to ``[100, 1e7]``: a lane at ``p_0 = 4 p0`` with tiny ``s_0`` needs
    ``~ln(p_0 / p*_-) / eta`` to get below ``p*_-``."""
    return min(1e7, max(100.0, 25.0 / eta)) if eta > 0 else 100.0


@dataclasses.dataclass(frozen=True)
class BasinMap:
    """Labels of a grid of initial conditions (rows: ``s_0``, columns: ``p_0``)."""

    system: AbstractSystem
    p: Axis
    s: Axis
    tau0: float | None  # the EMA system's initial tau (None for the 2-D system)
    labels: np.ndarray  # (n_s, n_p) int8: COLLAPSED, NONTRIVIAL, NOT_SETTLED, FAILED
    t_settle: np.ndarray  # (n_s, n_p) time at which the trap was proven (0: at once; nan: never)
    steps: np.ndarray  # (n_s, n_p) solver steps (0 for cells decided without integrating)
    fixed_points: FixedPoints  # of the full system, for the figure
    attractors: dict[str, list[float] | None]
    separatrix: list[np.ndarray]  # branches of the saddle's stable manifold, (m, 2) each, in (p, s)
    traps: Traps | None
    solver: dict
    timing: dict

    def counts(self) -> dict[str, int]:
        return {name: int(np.sum(self.labels == code)) for code, name in LABELS.items()}

    def summary(self) -> dict:
        n = self.labels.size
        counts = self.counts()
        decided = self.labels >= 0
        out = {
            "cells": n,
            "grid": [self.s.num, self.p.num],
            "basin_fractions": {LABELS[c]: counts[LABELS[c]] / n for c in (COLLAPSED, NONTRIVIAL)},
            "counts": counts,
            "complete": counts["not settled"] == 0 and counts["failed"] == 0,
            "decided_without_integrating": int(np.sum(decided & (self.t_settle == 0))),
            "t_settle_median": float(np.median(self.t_settle[decided])) if decided.any() else None,
            "t_settle_max": float(np.max(self.t_settle[decided])) if decided.any() else None,
            "attractors": self.attractors,
            "stationary_points": self.fixed_points.records(self.system.state_names),
            "separatrix_branches": len(self.separatrix),
            "solver": self.solver,
            "timing_s": self.timing,
        }
        if self.traps is not None:
            out["traps"] = {"p_sep": self.traps.p_sep, "p_plus": self.traps.p_plus, "q_up": self.traps.q_up,
                            "q_down": self.traps.q_down, "closed_form_error": self.traps.closed_form_error}
        if not out["complete"]:
            out["partial"] = True
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"p0": self.p.values(), "s0": self.s.values(), "labels": self.labels, "t_settle": self.t_settle,
               "steps": self.steps, "fixed_points": self.fixed_points.points,
               "fixed_points_eigenvalues": self.fixed_points.eigenvalues}
        for i, br in enumerate(self.separatrix):
            out[f"separatrix_{i}"] = br
        return out


def check_grid_size(*nums: int) -> None:
    cells = int(np.prod([int(n) for n in nums], dtype=object))
    if cells > MAX_CELLS:
        raise DynsimInputError("grid", f"a grid of {cells:,} cells is over the limit of {MAX_CELLS:,} "
                                       f"(4096 x 4096; per-cell outputs alone take 17 bytes a cell): use a coarser grid")


def _check_system(system) -> None:
    if not isinstance(system, (EigenDynamics2D, EigenDynamics3D)):
        raise DynsimInputError("model", "basin maps are for EigenDynamics2D and EigenDynamics3D")
    if system.batch_shape():
        raise DynsimInputError("model", "basin_map takes scalar parameters (sweep over them with dynsim.sweep)")
    if isinstance(system, EigenDynamics2D) and not float(system.tau) > 0:
        raise DynsimInputError("tau", "the basin map needs tau > 0 (with tau = 0 there is no target: all collapse)")


def _lane_system(system, traps_: Traps, c0: np.ndarray):
    common = dict(eta=system.eta, sigma=system.sigma, alpha_p=system.alpha_p, c0=c0, p_sep=traps_.p_sep,
                  p_plus=traps_.p_plus)
    if isinstance(system, EigenDynamics3D):
        b, e = float(system.beta), float(system.eta)
        return _Lane3D(beta=system.beta, tau_star=b / (b - e) if b > e else math.inf, **common)
    return _Lane2D(tau=system.tau, q_up=traps_.q_up, q_down=traps_.q_down, **common)


def basin_map(
    system: EigenDynamics2D | EigenDynamics3D,
    *,
    p: Axis | None = None,
    s: Axis | None = None,
    num: int = 512,
    tau0: float = 1.0,
    t1: float | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    max_steps: int = 20_000,
    chunk: int = DEFAULT_CHUNK,
    separatrix: bool = True,
    progress: Callable[[str], None] | None = None,
) -> BasinMap:
    """Label a grid of initial conditions ``(p_0, s_0)`` (with ``tau(0) = tau0`` for the EMA system) by
    the attractor each reaches; see the module docstring for the certificates.

    Integration is Tsit5 + PID in ``(p, log s)`` coordinates (``s`` falls by hundreds of decades on
    some lanes), each lane stopping once its trap is proven. ``t1`` defaults to
    :func:`default_t1`. ``s_0 = 0`` is the invariant collapsed line.
    """
    _check_system(system)
    dp, ds = default_axes(system, num)
    p, s = p or dp, s or ds
    p.check()
    s.check()
    if s.lo < 0:
        raise DynsimInputError("s_min", f"s is an eigenvalue of F = W X W^T >= 0: s_min must be >= 0 (got {s.lo:g})")
    check_grid_size(p.num, s.num)
    is3d = isinstance(system, EigenDynamics3D)
    eta = float(system.eta)

    start = time.perf_counter()
    P, S = np.meshgrid(p.values(), s.values())
    labels, t_settle, steps, info = label_points(system, P.ravel(), S.ravel(), tau0=tau0, t1=t1, rtol=rtol,
                                                 atol=atol, max_steps=max_steps, chunk=chunk, progress=progress)
    timing = {"labels": time.perf_counter() - start}
    fp = _fixed_points(system)
    tr = info.pop("traps")
    attractors = _attractors(system, tr)
    branches = []
    if separatrix and not is3d and eta > 0:
        branches = stable_manifold(system, fp, p, s)
    timing["total"] = time.perf_counter() - start
    shape = (s.num, p.num)
    return BasinMap(system, p, s, tau0 if is3d else None, labels.reshape(shape), t_settle.reshape(shape),
                    steps.reshape(shape), fp, attractors, branches, tr, info, timing)


def label_points(system: EigenDynamics2D | EigenDynamics3D, p0: np.ndarray, s0: np.ndarray, *, tau0: float = 1.0,
                 t1: float | None = None, rtol: float = 1e-6, atol: float = 1e-9, max_steps: int = 20_000,
                 chunk: int = DEFAULT_CHUNK, progress: Callable[[str], None] | None = None):
    """Labels, proof times and solver steps of the initial conditions ``(p0, s0)`` (1-D arrays), and a
    dict of solver information; what :func:`basin_map` does for each cell of its grid."""
    _check_system(system)
    check_solver_options(rtol, atol, max_steps)
    is3d = isinstance(system, EigenDynamics3D)
    if is3d:
        check_param("tau0", tau0, lower=0.0, lower_open=True)
    eta = float(system.eta)
    t1 = default_t1(eta) if t1 is None else t1
    check_param("t1", t1, lower=0.0, lower_open=True)
    if not isinstance(chunk, int) or chunk < 1:
        raise DynsimInputError("chunk", f"chunk must be a positive integer (got {chunk!r})")
    p0, s0 = np.asarray(p0, float).ravel(), np.asarray(s0, float).ravel()
    alpha = float(system.alpha_p)
    c0 = s0 - p0 * p0 / alpha
    tr = traps(eta, float(system.sigma), float(getattr(system, "tau", 1.0)), alpha)
    labels = np.full(p0.size, NOT_SETTLED, np.int8)
    t_settle = np.full(p0.size, np.nan)
    steps = np.zeros(p0.size, np.int64)
    failures = {}
    todo = np.zeros(0, int)
    if eta == 0 and not is3d:
        labels[:] = _closed_form_eta0(p0, s0, alpha, float(system.tau), float(system.sigma))
        t_settle[:] = 0.0
    else:
        lanes = _lane_system(system, tr, c0).broadcast_to((p0.size,))
        y0 = np.stack([p0, s0] + ([np.full_like(p0, tau0)] if is3d else []), -1)
        first = certify_lanes(lanes, 0.0, y0)
        first = np.where(s0 == 0, COLLAPSED, first)  # s = 0 is invariant: F = 0 stays collapsed
        labels[:] = first
        t_settle[first >= 0] = 0.0
        todo = np.flatnonzero(first == NOT_SETTLED)
        if progress is not None:
            progress(f"{p0.size - todo.size:,} of {p0.size:,} cells decided at t = 0 by the invariant; "
                     f"integrating {todo.size:,} to t1 = {t1:g} on {device_count()} device(s)")
        if todo.size:
            sub = take_lanes(lanes, todo)
            lab, ts_, st, failures = integrate_lanes(sub, y0[todo], t1, rtol=rtol, atol=atol, max_steps=max_steps,
                                                     chunk=chunk, progress=progress)
            labels[todo], t_settle[todo], steps[todo] = lab, ts_, st
    info = {"method": "Tsit5 + PIDController in (p, log s), stopped at a proven trap", "rtol": rtol, "atol": atol,
            "t1": t1, "max_steps": max_steps, "devices": device_count(), "lanes_integrated": int(todo.size),
            "steps_mean": float(steps[todo].mean()) if todo.size else 0.0,
            "steps_max": int(steps[todo].max()) if todo.size else 0, "failures": failures, "traps": tr}
    if eta == 0 and not is3d:
        info["method"] = "closed form (eta = 0: the invariant c is conserved)"
    if is3d and failures.get("diverged"):
        info["failures_note"] = ("diverged lanes: tau blows up in finite time (d tau/dt ~ |p| tau^2 for p < 0), "
                                 "where assumption 2 (W_a = tau W) stops describing an EMA")
    return labels, t_settle, steps, info


def _fixed_points(system) -> FixedPoints:
    if isinstance(system, EigenDynamics3D):
        p0 = 1.0 / (1.0 + float(system.sigma) ** 2)
        starts = [[p, p * p / float(system.alpha_p), t] for p in np.linspace(-0.2, 1.5, 8) * p0 for t in (0.5, 1.0, 1.5)]
    else:
        p0 = float(system.tau) / (1.0 + float(system.sigma) ** 2)
        starts = [[p, p * p / float(system.alpha_p)] for p in np.linspace(-0.2, 1.5, 12) * p0]
    starts = np.asarray(starts + [list(pt) for pt in system.stationary_points()], float)
    return find_fixed_points(system, starts)


def _attractors(system, tr: Traps) -> dict:
    a = float(system.alpha_p)
    pp = tr.p_plus
    nontrivial = None if not np.isfinite(pp) else [pp, pp * pp / a] + ([1.0] if isinstance(system, EigenDynamics3D) else [])
    if isinstance(system, EigenDynamics3D):
        b, e = float(system.beta), float(system.eta)
        collapsed = [0.0, 0.0, b / (b - e)] if b > e else None
    else:
        collapsed = [0.0, 0.0]
    return {"collapsed": collapsed, "non-trivial": nontrivial}


# --------------------------------------------------------------------------------------------
# The separatrix


def _outside(t, y, system):
    return (y[0] < system.box_p[0]) | (y[0] > system.box_p[1]) | (y[1] < system.box_s[0]) | (y[1] > system.box_s[1])


class _Boxed2D(EigenDynamics2D):
    box_p: Float[Array, "*batch 2"] = param(ndim=1, default=(-1.0, 1.0))
    box_s: Float[Array, "*batch 2"] = param(ndim=1, default=(0.0, 1.0))


def stable_manifold(system: EigenDynamics2D, fp: FixedPoints, p: Axis, s: Axis, n_save: int = 1500) -> list[np.ndarray]:
    """Both branches of the stable manifold of each saddle, traced by integrating backward in time from
    ``y* +/- eps v`` (``v`` the stable eigenvector) until they leave the map's window (slightly enlarged)."""
    out = []
    for y, st in zip(fp.points, fp.stability):
        if st != "saddle" or not y[1] > 0:
            continue
        lam, vec = np.linalg.eig(np.asarray(jacobian(system, y)))
        v = np.real(vec[:, int(np.argmin(lam.real))])
        eps = 1e-4 * min(abs(y[0]) + 1e-300, y[1] / max(abs(v[1]), 1e-300))
        starts = np.stack([y + eps * v, y - eps * v])
        starts = starts[starts[:, 1] > 0]
        pad_p = 0.05 * (p.hi - p.lo)
        # No lower s bound: a branch may dive hundreds of decades below the window and come back up.
        box_s = (0.0, s.hi * 2.0 if s.log else s.hi + 0.05 * (s.hi - s.lo))
        boxed = _Boxed2D(eta=system.eta, sigma=system.sigma, tau=system.tau, alpha_p=system.alpha_p,
                         box_p=(p.lo - pad_p, p.hi + pad_p), box_s=box_s)
        rate = float(np.max(np.abs(lam.real)))
        t_back = 60.0 / max(rate, 1e-12)
        kw = dict(rtol=1e-9, atol=1e-12, max_steps=200_000, stop_when=_outside, log_positive=True)
        # Pass 1 finds when each branch leaves the window; pass 2 saves densely at both ends (the
        # branch creeps away from the saddle, then sweeps across the window in a short time).
        exit_t = np.asarray(solve(boxed, starts, -np.array([0.0, t_back]), **kw).t_final)
        half = np.geomspace(1e-7, 1.0, n_save // 2)
        u = np.unique(np.concatenate([[0.0], half, 1.0 - half]))
        for y0, te in zip(starts, exit_t):
            sol = solve(boxed, y0, te * u, **kw)
            ys = np.asarray(sol.ys)
            out.append(np.concatenate([y[None], ys[np.all(np.isfinite(ys), axis=1)]]))
    return out


def certified_lanes_2d(system: EigenDynamics2D, y0: np.ndarray):
    """The hook :meth:`EigenDynamics2D.certified_lanes`: lanes carrying the invariant-based traps
    (module docstring), labelled 0 (collapsed, the origin) and 1 (non-trivial, ``(p*_+, p*_+^2/alpha_p)``).
    ``None`` where the traps do not apply (``eta = 0``, ``tau = 0``, batched parameters)."""
    if system.batch_shape() or not float(system.eta) > 0 or not float(system.tau) > 0:
        return None
    alpha = float(system.alpha_p)
    tr = traps(float(system.eta), float(system.sigma), float(system.tau), alpha)
    y0 = np.asarray(y0, float)
    lanes = _lane_system(system, tr, y0[:, 1] - y0[:, 0] ** 2 / alpha).broadcast_to((y0.shape[0],))
    points = [[0.0, 0.0]] + ([[tr.p_plus, tr.p_plus ** 2 / alpha]] if np.isfinite(tr.p_plus) else [])
    return lanes, np.asarray(points), ("collapsed", "non-trivial")[: len(points)]


def certified_lanes_3d(system: EigenDynamics3D, y0: np.ndarray):
    """The hook :meth:`EigenDynamics3D.certified_lanes`: the box traps in ``(p, tau)`` (module
    docstring), labelled 0 (collapsed, ``(0, 0, beta/(beta - eta))``) and 1 (non-trivial). ``None`` where
    they do not apply (``beta <= eta``: no collapsed point; ``eta = 0``; batched parameters)."""
    b, e = float(system.beta), float(system.eta)
    if system.batch_shape() or not e > 0 or not b > e:
        return None
    alpha = float(system.alpha_p)
    tr = traps(e, float(system.sigma), 1.0, alpha)
    y0 = np.asarray(y0, float)
    lanes = _lane_system(system, tr, y0[:, 1] - y0[:, 0] ** 2 / alpha).broadcast_to((y0.shape[0],))
    points = [[0.0, 0.0, b / (b - e)]] + ([[tr.p_plus, tr.p_plus ** 2 / alpha, 1.0]] if np.isfinite(tr.p_plus) else [])
    return lanes, np.asarray(points), ("collapsed", "non-trivial")[: len(points)]
