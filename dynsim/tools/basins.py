r"""Basins of attraction of any model: which attractor each initial condition reaches.

The attractors are found, not named: the stable, isolated stationary points that
:func:`~dynsim.find_fixed_points` reaches from starts over the window (plus the model's
closed-form points where it offers them). Each lane is integrated until it is *proven* to be in
a basin, and stops there:

- by default, inside the **linearisation certificate** of an attractor ``y^*``: with ``J`` its
  Jacobian (Hurwitz) in window-scaled coordinates ``e = D^{-1}(y - y^*)``, ``P`` solves the
  Lyapunov equation ``J^T P + P J = -I`` and ``V(e) = e^T P e``; the certified radius ``r`` is the
  largest level at which ``dV/dt <= -0.1 |e|^2`` holds on every sampled point of the level sets
  ``V = r 2^{-k}`` (256 directions, 40 levels), halved for margin. Inside ``V <= r`` the flow
  cannot leave and converges to ``y^*``. (Sampled, not interval-rigorous: a certificate of the
  linearisation's validity checked on a dense set, as numerical continuation tools do.)
- where the model offers proven traps (:meth:`~dynsim.AbstractSystem.certified_lanes`, e.g. the
  eigenvalue dynamics' invariant-based traps), by those.

A lane that reaches no certificate by ``t1`` is **not settled** (a limit cycle, a slow manifold,
a continuum of equilibria): it is never forced into a basin. Solver failures are **failed**.
:func:`basin_map` labels a grid on a :class:`~dynsim.tools.plane.Plane`;
:func:`basins_fractions` estimates the basin fractions of a box by Monte Carlo sampling with
their standard errors (as Attractors.jl's ``basins_fractions``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from dynsim._core.errors import DynsimInputError
from dynsim._core.parallel import device_count, lane_map
from dynsim._core.solve import Solution, Status, check_solver_options, solve
from dynsim._core.system import AbstractSystem, AbstractWrapper, _on_host, check_param, param, to_jax
from dynsim.tools.fixed_points import FixedPoints, find_fixed_points
from dynsim.tools.plane import Plane, make_plane

NOT_SETTLED, FAILED = -1, -2
MAX_CELLS = 4096 * 4096
DEFAULT_CHUNK = 1 << 16
_DIRECTIONS = 256
_LEVELS = 40


# ---------------------------------------------------------------------------------------------
# Lanes


def _stop(t, y, lane):
    return lane.certify(t, y) != NOT_SETTLED


def take_lanes(lanes: AbstractSystem, idx) -> AbstractSystem:
    """The lanes ``idx`` of a batched lane system, indexed on the host (NumPy) where the fields live
    there: eager JAX indexing would compile a gather for every field and every new count."""
    def take(x):
        host = _on_host(x)
        return x[idx] if host is None else host[idx]

    return jax.tree_util.tree_map(take, lanes)


@eqx.filter_jit
def _certify_all(lanes, ts, ys):
    return jax.vmap(lambda ln, t, y: ln.certify(t, y))(lanes, ts, ys)


def certify_lanes(lanes: AbstractSystem, ts, ys) -> np.ndarray:
    """``lane.certify(t, y)`` of every lane (``ts``: one time per lane, or a scalar), in one compiled
    program per lane type and count (eagerly, every operation of the vmap would be compiled)."""
    ys = np.asarray(ys)
    ts = np.broadcast_to(np.asarray(ts, ys.dtype), ys.shape[:1])
    return np.asarray(_certify_all(lanes, ts, ys))


def _solve_lanes(lane, y0, ts, rtol, atol, max_steps, log_positive):
    return solve(lane, y0, ts, rtol=rtol, atol=atol, max_steps=max_steps, stop_when=_stop,
                 log_positive=log_positive)


def integrate_lanes(lanes: AbstractSystem, y0: np.ndarray, t1: float, *, rtol: float, atol: float, max_steps: int,
                    chunk: int = DEFAULT_CHUNK, progress: Callable[[str], None] | None = None):
    """Integrate the batched lane system (one lane per row of ``y0``; ``lanes.certify(t, y)`` gives
    the proven label or ``NOT_SETTLED``) until each lane's trap is proven or ``t1``; in chunks of
    ``chunk`` lanes (padded so that every chunk has one shape: one compilation), each chunk split
    over all devices. Returns per-lane labels, settle times, steps and the failure counts."""
    n = y0.shape[0]
    labels = np.full(n, NOT_SETTLED, np.int8)
    t_settle = np.full(n, np.nan)
    steps = np.zeros(n, np.int64)
    failures: dict[str, int] = {}
    if n == 0:
        return labels, t_settle, steps, failures
    size = min(chunk, max(1024, 1 << (n - 1).bit_length()))
    size += -size % device_count()
    ts = to_jax(np.array([0.0, t1]))
    log_positive = bool(lanes.positive) and bool(np.all(y0[:, list(lanes.positive)] > 0))
    n_chunks = -(-n // size)
    for i, start in enumerate(range(0, n, size)):
        idx = np.arange(start, min(start + size, n))
        take = np.concatenate([idx, np.full(size - idx.size, idx[0])])
        part = take_lanes(lanes, take)
        sol: Solution = lane_map(_solve_lanes, (part, to_jax(y0[take])),
                                 shared=(ts, to_jax(rtol), to_jax(atol)), static=(max_steps, log_positive),
                                 out=jax.tree_util.tree_structure(Solution(*(0,) * 7)))  # via the export cache
        status = np.asarray(sol.status)[: idx.size]
        t_fin = np.asarray(sol.t_final)
        # the whole padded chunk: one shape for every chunk and every parameter value (no recompilation)
        lab = certify_lanes(part, t_fin, np.asarray(sol.y_final))[: idx.size]
        t_fin = t_fin[: idx.size]
        ok = (status == Status.SUCCESS) | (status == Status.STOPPED)
        labels[idx] = np.where(ok, np.where(status == Status.STOPPED, lab, NOT_SETTLED), FAILED)
        for code in status[~ok]:
            failures[Status(int(code)).label] = failures.get(Status(int(code)).label, 0) + 1
        t_settle[idx] = np.where(labels[idx] >= 0, t_fin, np.nan)
        steps[idx] = np.asarray(sol.num_steps)[: idx.size]
        if progress is not None and (n_chunks > 1 or i == 0):
            progress(f"chunk {i + 1}/{n_chunks}: {idx[-1] + 1:,}/{n:,} lanes integrated, "
                     f"{int(np.sum(labels[: idx[-1] + 1] < 0))} not settled or failed so far")
    return labels, t_settle, steps, failures


class Certified(AbstractWrapper):
    """A lane of the generic basin map: the model's flow, and the Lyapunov ellipsoids
    ``(y - c_i)^T D^{-1} P_i D^{-1} (y - c_i) <= r_i`` of its attractors."""

    centres: Float[Array, "*batch m n"] = param(ndim=2)
    metric: Float[Array, "*batch m n n"] = param(ndim=3)  # D^{-1} P D^{-1}
    radius: Float[Array, "*batch m"] = param(ndim=1)

    def vector_field(self, t, y):
        return self.model.vector_field(t, y)

    def certify(self, t, y) -> Array:
        d = y - self.centres
        v = jnp.einsum("mi,mij,mj->m", d, self.metric, d)
        inside = v <= self.radius
        return jnp.where(jnp.any(inside), jnp.argmax(inside), NOT_SETTLED)


def _lyapunov(J: np.ndarray) -> np.ndarray:
    """``P`` with ``J^T P + P J = -I`` (``J`` Hurwitz), by the Kronecker form."""
    n = J.shape[0]
    eye = np.eye(n)
    A = np.kron(eye, J.T) + np.kron(J.T, eye)
    P = np.linalg.solve(A, -eye.reshape(-1)).reshape(n, n)
    return 0.5 * (P + P.T)


def _directions(n: int, seed: int = 0) -> np.ndarray:
    if n == 2:
        a = np.linspace(0, 2 * np.pi, _DIRECTIONS, endpoint=False)
        return np.stack([np.cos(a), np.sin(a)], -1)
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(_DIRECTIONS, n))
    d = np.concatenate([np.eye(n), -np.eye(n), d])
    return d / np.linalg.norm(d, axis=1, keepdims=True)


@eqx.filter_jit
def _shell_rates(model, centre, scale, P, L_inv_t, directions, levels):
    def one(r, d):
        e = jnp.sqrt(r) * (L_inv_t @ d)
        f = model.vector_field(0.0, centre + scale * e) / scale
        return 2.0 * e @ (P @ f) + 0.1 * e @ e
    return jax.vmap(lambda r: jax.vmap(lambda d: one(r, d))(directions))(levels)


def linearisation_certificates(model: AbstractSystem, attractors: np.ndarray, jacobians: np.ndarray,
                               scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(metric, radius)`` of each attractor's Lyapunov ellipsoid (radius 0 where the point is not
    hyperbolic-stable or no level passes)."""
    m, n = attractors.shape
    metric = np.zeros((m, n, n))
    radius = np.zeros(m)
    D = np.asarray(scale, float)
    dirs = to_jax(_directions(n))
    levels = to_jax(2.0 ** -np.arange(_LEVELS, dtype=float))
    for i in range(m):
        J = np.diag(1 / D) @ jacobians[i] @ np.diag(D)
        if not np.all(np.linalg.eigvals(J).real < 0):
            continue
        P = _lyapunov(J)
        try:
            L = np.linalg.cholesky(P)
        except np.linalg.LinAlgError:
            continue
        rates = np.asarray(_shell_rates(model, to_jax(attractors[i]), to_jax(D), to_jax(P),
                                        to_jax(np.linalg.inv(L).T), dirs, levels))
        good = np.all(rates <= 0, axis=1) & np.all(np.isfinite(rates), axis=1)  # per level, largest first
        # the largest level below which every sampled level passes
        passing = 0.0
        for k in range(_LEVELS - 1, -1, -1):
            if not good[k]:
                break
            passing = float(levels[k])
        radius[i] = 0.5 * passing
        metric[i] = np.diag(1 / D) @ P @ np.diag(1 / D)
    return metric, radius


# ---------------------------------------------------------------------------------------------
# Attractors


@dataclasses.dataclass(frozen=True)
class Attractors:
    """What the lanes are labelled by: the attractors' states, names, and how they are certified."""

    points: np.ndarray  # (m, n)
    names: tuple[str, ...]
    certificate: str  # "linearisation" or "model traps"
    fixed_points: FixedPoints  # every stationary point found
    radius: np.ndarray | None  # the linearisation certificates' levels (None for model traps)


def find_attractors(model: AbstractSystem, plane: Plane) -> tuple[FixedPoints, np.ndarray]:
    """The stationary points from a 16 x 16 grid of starts on ``plane`` (in log space for a log
    axis) plus the model's closed-form points; and the indices of the stable, isolated ones."""
    X, Y = np.meshgrid(plane.x.values(16), plane.y.values(16))
    starts = plane.embed(X.ravel(), Y.ravel())
    closed = model.stationary_points()
    if closed is not None and len(closed):
        starts = np.concatenate([starts, np.asarray(closed, float).reshape(-1, model.dim)])
    fp = find_fixed_points(model, starts)
    return fp, np.flatnonzero(fp.stable & fp.isolated)


def _point_name(model, y) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in y) + ")"


def _lanes(model: AbstractSystem, plane: Plane, y0: np.ndarray, hooks: bool):
    if hooks:
        offered = model.certified_lanes(y0)
        if offered is not None:
            lanes, points, names = offered
            fp, _ = find_attractors(model, plane)
            return lanes, Attractors(np.asarray(points, float), tuple(names), "model traps", fp, None)
    fp, idx = find_attractors(model, plane)
    points = fp.points[idx]
    metric, radius = linearisation_certificates(model, points, fp.jacobians[idx], plane.scale())
    names = tuple(_point_name(model, p) for p in points)
    m = len(points)
    if m == 0:  # nothing to converge to: every lane runs to t1 and is reported as not settled
        points, metric, radius = np.zeros((1, model.dim)), np.zeros((1, model.dim, model.dim)), np.full(1, -1.0)
    lanes = Certified(model=model, centres=points, metric=metric, radius=radius).broadcast_to((y0.shape[0],))
    return lanes, Attractors(fp.points[idx], names, "linearisation", fp, radius[:m])


def default_t1(model: AbstractSystem, attractors: Attractors) -> float:
    """``40`` times the slowest rate among the stationary points found, in ``[10, 1e7]``."""
    fp = attractors.fixed_points
    rates = np.abs(np.real(fp.eigenvalues[fp.isolated])) if len(fp.points) else np.zeros(0)
    rates = rates[rates > 1e-12]
    return float(np.clip(40.0 / rates.min(), 10.0, 1e7)) if rates.size else 100.0


def _check(model, t1, rtol, atol, max_steps, chunk):
    if model.batch_shape():
        raise DynsimInputError("model", "basin maps take scalar parameters (sweep over them with dynsim.sweep)")
    check_solver_options(rtol, atol, max_steps)
    if t1 is not None:
        check_param("t1", t1, lower=0.0, lower_open=True, upper=1e15)
    if not isinstance(chunk, int) or chunk < 1:
        raise DynsimInputError("chunk", f"chunk must be a positive integer (got {chunk!r})")


def label_states(model: AbstractSystem, y0: np.ndarray, plane: Plane, *, t1: float | None = None,
                 rtol: float = 1e-6, atol: float = 1e-9, max_steps: int = 20_000, chunk: int = DEFAULT_CHUNK,
                 hooks: bool = True, progress: Callable[[str], None] | None = None):
    """Labels (attractor index, ``NOT_SETTLED`` or ``FAILED``), proof times and steps of the initial
    states ``y0`` ``(N, n)``; the attractors are found on ``plane``."""
    _check(model, t1, rtol, atol, max_steps, chunk)
    y0 = np.asarray(y0, float).reshape(-1, model.dim)
    lanes, att = _lanes(model, plane, y0, hooks)
    t1 = default_t1(model, att) if t1 is None else float(t1)
    first = certify_lanes(lanes, 0.0, y0)
    labels = first.astype(np.int8)
    t_settle = np.where(first >= 0, 0.0, np.nan)
    steps = np.zeros(len(y0), np.int64)
    todo = np.flatnonzero(first == NOT_SETTLED)
    if progress is not None:
        progress(f"{len(att.points)} attractor(s) found ({att.certificate} certificates); "
                 f"{len(y0) - todo.size:,} of {len(y0):,} states certified at t = 0, integrating {todo.size:,} "
                 f"to t1 = {t1:g} on {device_count()} device(s)")
    failures = {}
    if todo.size:
        sub = take_lanes(lanes, todo)
        lab, ts_, st, failures = integrate_lanes(sub, y0[todo], t1, rtol=rtol, atol=atol, max_steps=max_steps,
                                                 chunk=chunk, progress=progress)
        labels[todo], t_settle[todo], steps[todo] = lab, ts_, st
    info = {"method": "Tsit5 + PIDController, lanes stopped at a proven basin certificate "
                      f"({att.certificate})", "rtol": rtol, "atol": atol, "t1": t1, "max_steps": max_steps,
            "devices": device_count(), "lanes_integrated": int(todo.size), "failures": failures}
    return labels, t_settle, steps, att, info


@dataclasses.dataclass(frozen=True)
class BasinMap:
    """Labels of a grid of initial conditions on a plane (rows: ``y``, columns: ``x``)."""

    model: AbstractSystem
    plane: Plane
    labels: np.ndarray  # (ny, nx) int8: attractor index, NOT_SETTLED (-1), FAILED (-2)
    t_settle: np.ndarray
    steps: np.ndarray
    attractors: Attractors
    separatrices: tuple  # stable manifolds of the saddles (Branch), in state space
    solver: dict
    timing: dict

    def counts(self) -> dict[str, int]:
        out = {name: int(np.sum(self.labels == i)) for i, name in enumerate(self.attractors.names)}
        out["not settled"] = int(np.sum(self.labels == NOT_SETTLED))
        out["failed"] = int(np.sum(self.labels == FAILED))
        return out

    def summary(self) -> dict:
        counts, n = self.counts(), self.labels.size
        out = {"model": type(self.model).__name__, "plane": self.plane.record(), "cells": n,
               "attractors": [{"name": nm, "state": p.tolist()} for nm, p in zip(self.attractors.names,
                                                                                  self.attractors.points)],
               "certificate": self.attractors.certificate,
               "basin_fractions": {k: v / n for k, v in counts.items()}, "counts": counts,
               "complete": counts["not settled"] == 0 and counts["failed"] == 0,
               "stationary_points": self.attractors.fixed_points.records(self.model.state_names),
               "solver": self.solver, "timing_s": self.timing}
        if not out["complete"]:
            out["partial"] = True
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"x0": self.plane.x.values(), "y0": self.plane.y.values(), "labels": self.labels,
               "t_settle": self.t_settle, "steps": self.steps, "attractors": self.attractors.points,
               "fixed_points": self.attractors.fixed_points.points}
        for k, b in enumerate(self.separatrices):
            out[f"separatrix{k}"] = b.points
        return out


def basin_map(model: AbstractSystem, *, plane: Plane | None = None, window=None, axes=None, at=None,
              grid: int | tuple[int, int] = 256, t1: float | None = None, rtol: float = 1e-6, atol: float = 1e-9,
              max_steps: int = 20_000, chunk: int = DEFAULT_CHUNK, hooks: bool = True, separatrices: bool = True,
              progress: Callable[[str], None] | None = None) -> BasinMap:
    """Label a ``grid`` of initial conditions on ``plane`` by the attractor each reaches (see the
    module docstring). ``hooks=False`` ignores the model's own traps (the generic certificates
    only)."""
    nx, ny = (grid, grid) if isinstance(grid, (int, np.integer)) else grid
    for g in (nx, ny):
        if not isinstance(g, (int, np.integer)) or g < 2:
            raise DynsimInputError("grid", f"the grid needs at least 2 points per axis (got {grid!r})")
    if int(nx) * int(ny) > MAX_CELLS:
        raise DynsimInputError("grid", f"a grid of {int(nx) * int(ny):,} cells is over the limit of {MAX_CELLS:,} "
                                       "(4096 x 4096): use a coarser grid")
    plane = plane or make_plane(model, window=window, axes=axes, at=at)
    plane = dataclasses.replace(plane, x=dataclasses.replace(plane.x, num=int(nx)),
                                y=dataclasses.replace(plane.y, num=int(ny)))
    start = time.perf_counter()
    X, Y = np.meshgrid(plane.x.values(), plane.y.values())
    y0 = plane.embed(X.ravel(), Y.ravel())
    labels, t_settle, steps, att, info = label_states(model, y0, plane, t1=t1, rtol=rtol, atol=atol,
                                                      max_steps=max_steps, chunk=chunk, hooks=hooks,
                                                      progress=progress)
    timing = {"labels": time.perf_counter() - start}
    branches = ()
    if separatrices:
        from dynsim.tools.manifolds import saddle_branches

        branches = tuple(b for b in saddle_branches(model, att.fixed_points, plane) if b.kind == "stable")
    timing["total"] = time.perf_counter() - start
    shape = (int(ny), int(nx))
    return BasinMap(model, plane, labels.reshape(shape), t_settle.reshape(shape), steps.reshape(shape), att,
                    branches, info, timing)


@dataclasses.dataclass(frozen=True)
class BasinFractions:
    names: tuple[str, ...]
    fractions: dict[str, float]  # per attractor, "not settled", "failed"
    standard_errors: dict[str, float]  # sqrt(f (1 - f) / N)
    samples: int
    seed: int
    box: list[tuple[float, float]]
    attractors: Attractors
    solver: dict

    def summary(self) -> dict:
        return {"samples": self.samples, "seed": self.seed, "box": [list(b) for b in self.box],
                "fractions": self.fractions, "standard_errors": self.standard_errors,
                "attractors": [{"name": nm, "state": p.tolist()} for nm, p in zip(self.names, self.attractors.points)],
                "certificate": self.attractors.certificate, "solver": self.solver,
                "complete": self.fractions["not settled"] == 0 and self.fractions["failed"] == 0}


def basins_fractions(model: AbstractSystem, box, *, samples: int = 4096, seed: int = 0, plane: Plane | None = None,
                     **kwargs) -> BasinFractions:
    """Basin fractions of the box ``[(lo, hi)] * n`` (every state component) by Monte Carlo: ``samples``
    uniform initial states labelled as in :func:`basin_map`; each fraction with its standard error
    ``sqrt(f (1 - f) / N)``. The attractors are searched on ``plane`` (default: the box's first two
    coordinates, the others at the box centre)."""
    box = [tuple(float(v) for v in b) for b in box]
    if len(box) != model.dim or any(len(b) != 2 for b in box):
        raise DynsimInputError("box", f"box must give (lo, hi) for each of the {model.dim} state components")
    for lo, hi in box:
        check_param("box", [lo, hi])
        if not lo < hi:
            raise DynsimInputError("box", f"box ranges must have lo < hi (got {lo:g}, {hi:g})")
    if not isinstance(samples, (int, np.integer)) or not 1 <= samples <= MAX_CELLS:
        raise DynsimInputError("samples", f"samples must be an integer in [1, {MAX_CELLS}] (got {samples!r})")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DynsimInputError("seed", f"seed must be a non-negative integer (got {seed!r})")
    lo, hi = np.array([b[0] for b in box]), np.array([b[1] for b in box])
    if plane is None:
        plane = make_plane(model, window=box[:2], at=0.5 * (lo + hi))
    y0 = lo + (hi - lo) * np.random.default_rng(seed).random((int(samples), model.dim))
    labels, _, _, att, info = label_states(model, y0, plane, **kwargs)
    n = float(samples)
    frac = {nm: float(np.sum(labels == i)) / n for i, nm in enumerate(att.names)}
    frac["not settled"] = float(np.sum(labels == NOT_SETTLED)) / n
    frac["failed"] = float(np.sum(labels == FAILED)) / n
    se = {k: math.sqrt(f * (1 - f) / n) for k, f in frac.items()}
    return BasinFractions(att.names, frac, se, int(samples), int(seed), box, att, info)


# ---------------------------------------------------------------------------------------------
# The figure


def plot_basin_map(bm: BasinMap, *, size: str = "page"):
    """Basins coloured by attractor (not settled grey, failed black), the attractors and saddles,
    and the saddles' stable manifolds (the separatrices), in the house style of
    :mod:`dynsim.plot.style` at ``size="page"`` (7 in wide, the key beside the map) or ``"column"``
    (3.4 in, the key under it)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    from dynsim.plot.style import FAILED as FAILED_COLOUR
    from dynsim.plot.style import (NOT_SETTLED_CELL, STABLE_MANIFOLD, WIDTHS, attractor_colours, check_size, point_marker,
                                   style, suptitle, tint)
    from dynsim.tools.phase_portrait import _coords, _label, _title_items

    check_size(size)
    names = bm.attractors.names
    m = len(names)
    pl = bm.plane
    fills = [tint(c) for c in attractor_colours(bm.attractors.points)]
    cmap = ListedColormap([FAILED_COLOUR, NOT_SETTLED_CELL, *fills])
    counts = bm.counts()
    page = size == "page"
    w = WIDTHS[size]
    with style(size):
        fig, ax = plt.subplots(figsize=(w, 3.6) if page else (w, 3.9), layout="constrained")
        cx, cy = _coords(pl.x, pl.x.values()), _coords(pl.y, pl.y.values())
        ax.pcolormesh(cx, cy, bm.labels.astype(int) + 2, cmap=cmap, vmin=-0.5, vmax=m + 1.5, shading="nearest",
                      rasterized=True)
        handles = []
        for i, nm in enumerate(names):
            if counts[nm]:
                handles.append(Patch(fc=fills[i], label=f"basin of {nm} ({100 * counts[nm] / bm.labels.size:.1f}%)"))
        for key, colour in (("not settled", NOT_SETTLED_CELL), ("failed", FAILED_COLOUR)):
            if counts[key]:
                handles.append(Patch(fc=colour, label=f"{key} ({100 * counts[key] / bm.labels.size:.1f}%)"))
        for b in bm.separatrices:
            ax.plot(_coords(pl.x, b.points[:, pl.axes[0]]), _coords(pl.y, b.points[:, pl.axes[1]]), **STABLE_MANIFOLD)
        if bm.separatrices:
            handles.append(Line2D([], [], **STABLE_MANIFOLD, label="stable manifold of a saddle"))
        fp = bm.attractors.fixed_points
        show = pl.contains(fp.points, margin=0.01) & pl.in_slice(fp.points)
        drew = set()
        for i in np.flatnonzero(show):
            x, y = _coords(pl.x, fp.points[i, pl.axes[0]]), _coords(pl.y, fp.points[i, pl.axes[1]])
            if not (np.isfinite(x) and np.isfinite(y)):
                continue
            st = fp.stability[i]
            if st.startswith("stable"):
                kw, key = point_marker("stable", size), "stable point"
            elif st == "saddle":
                kw, key = point_marker("saddle", size), "saddle"
            elif st == "degenerate":
                kw, key = point_marker("degenerate", size), "degenerate point"
            else:
                kw, key = point_marker("unstable", size), st
            ax.plot(x, y, ls="none", zorder=7 if key == "stable point" else 6, clip_on=False, **kw)
            if key not in drew:
                drew.add(key)
                handles.append(Line2D([], [], ls="none", label=key, **kw))
        for axis, setter, fmt, k in ((pl.x, ax.set_xlabel, ax.xaxis, pl.axes[0]), (pl.y, ax.set_ylabel, ax.yaxis, pl.axes[1])):
            setter(_label(bm.model, k) + (" (log scale)" if axis.log else ""))
            if axis.log:
                fmt.set_major_formatter(FuncFormatter(lambda v, _: f"$10^{{{v:g}}}$"))
        ax.set_xlim(cx[0], cx[-1])
        ax.set_ylim(cy[0], cy[-1])
        if page:
            fig.legend(handles=handles, loc="outside right upper", ncols=1)
        else:
            fig.legend(handles=handles, loc="outside lower center", ncols=2)
        suptitle(fig, _title_items(bm.model, f"{pl.x.num}" + r"$\times$" + f"{pl.y.num} initial conditions"), size)
    return fig
