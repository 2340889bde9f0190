r"""The phase portrait of any model on a :class:`~dynsim.tools.plane.Plane`: the direction field,
the nullclines ``f_x = 0`` and ``f_y = 0`` (zero contours of the computed field, never given), every
stationary point found in the window and classified, the 1-D stable and unstable manifolds of
each saddle, and sample trajectories coloured by the attractor they reach.

Zoom panels are added where stationary points sit closer than ``ZOOM_SPACING`` of the window
(single-linkage clusters in window-normalised coordinates; a log axis is normalised in log
space): each zoom frames one cluster, and clusters inside a zoom get a further zoom (at most
``MAX_PANELS`` panels). Every panel is computed by the same jitted function (one compilation for
all panels and all parameter values of the model).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dynsim._core.errors import DynsimInputError
from dynsim._core.solve import Solution, check_solver_options, solve
from dynsim._core.system import AbstractSystem, check_param, to_jax
from dynsim.tools.fixed_points import FixedPoints, _roots, collect_fixed_points, grid_starts, nearest_attractor
from dynsim.tools.manifolds import Branch, saddle_branches
from dynsim.tools.plane import Plane, make_plane

FIELD_GRID = 40  # direction-field samples per axis
NULLCLINE_GRID = 201  # samples per axis for the zero contours
ROOT_GRID = 10  # root-finder starts per axis (plus the model's closed-form points, if it offers them)
ZOOM_SPACING = 0.03  # stationary points closer than this fraction of the window get a zoom panel
MAX_PANELS = 3
ROOT_TOL = 1e-13


@dataclasses.dataclass(frozen=True)
class Panel:
    """One window of the portrait and everything computed in it."""

    plane: Plane
    field: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # X, Y, f_x, f_y on FIELD_GRID^2
    nullclines: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # X, Y, f_x, f_y on NULLCLINE_GRID^2
    trajectories: Solution
    attractor: np.ndarray  # per trajectory: index into the portrait's fixed points, -1: other / unsettled


@dataclasses.dataclass(frozen=True)
class PhasePortrait:
    model: AbstractSystem
    panels: tuple[Panel, ...]
    fixed_points: FixedPoints  # every distinct point found (all panels), in state space
    in_slice: np.ndarray  # (m,) bool: the point lies in the plotted slice (other coordinates = at)
    manifolds: tuple[Branch, ...]
    solver: dict

    @property
    def plane(self) -> Plane:
        return self.panels[0].plane

    @property
    def attractors(self) -> np.ndarray:
        """Indices of the stable, isolated stationary points."""
        return np.flatnonzero(self.fixed_points.stable & self.fixed_points.isolated)

    def summary(self) -> dict:
        fp = self.fixed_points
        names = self.model.state_names
        recs = []
        for i, rec in enumerate(fp.records(names)):
            rec["in_slice"] = bool(self.in_slice[i])
            rec["in_window"] = bool(self.plane.contains(fp.points[i]))
            recs.append(rec)
        out = {"model": type(self.model).__name__, "state_names": list(names),
               "parameters": {k: np.asarray(v).tolist() for k, v in self.model.parameters().items()},
               "plane": self.plane.record(), "stationary_points": recs,
               "zoom_panels": [p.plane.record() for p in self.panels[1:]],
               "manifolds": [{"kind": b.kind, "saddle": b.saddle, "points": int(len(b.points))} for b in self.manifolds],
               "trajectories": [], "solver": self.solver}
        complete = True
        for p in self.panels:
            lab, ok = p.attractor, np.asarray(p.trajectories.ok)
            counts = {"total": int(lab.size), "failed": int(np.sum(~ok)),
                      "other_or_unsettled": int(np.sum(ok & (lab < 0))),
                      "to_attractor": {str(int(i)): int(np.sum(ok & (lab == i))) for i in np.unique(lab[ok & (lab >= 0)])}}
            complete &= p.trajectories.complete
            if not p.trajectories.complete:
                counts["failures"] = p.trajectories.failures()
            out["trajectories"].append(counts)
        out["complete"] = bool(complete)
        if not complete:
            out["partial"] = True
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"fixed_points": self.fixed_points.points, "fixed_points_eigenvalues": self.fixed_points.eigenvalues,
               "fixed_points_stable": self.fixed_points.stable, "fixed_points_in_slice": self.in_slice}
        for k, p in enumerate(self.panels):
            pre = f"panel{k}_"
            X, Y, fx, fy = p.field
            out |= {pre + "field_x": X, pre + "field_y": Y, pre + "field_fx": fx, pre + "field_fy": fy}
            X, Y, fx, fy = p.nullclines
            out |= {pre + "nullcline_x": X, pre + "nullcline_y": Y, pre + "nullcline_fx": fx, pre + "nullcline_fy": fy}
            out |= {pre + "trajectories_t": np.asarray(p.trajectories.ts), pre + "trajectories_y": np.asarray(p.trajectories.ys),
                    pre + "trajectories_status": np.asarray(p.trajectories.status), pre + "trajectories_attractor": p.attractor}
        for k, b in enumerate(self.manifolds):
            out[f"manifold{k}_{b.kind}_saddle{b.saddle}"] = b.points
        return out


@eqx.filter_jit
def _numerics(model, field_pts, null_pts, starts, y0, ts, rtol, atol, root_tol, max_steps, log_positive):
    """Everything of one panel in one traced function: fields on two grids, roots, trajectories."""
    vf = jax.vmap(lambda y: model.vector_field(0.0, y))
    sol = solve(model, y0, ts, rtol=rtol, atol=atol, max_steps=max_steps, log_positive=log_positive)
    return vf(field_pts), vf(null_pts), _roots(model, starts, root_tol, root_tol, 200, to_jax(0.0)), sol


def _default_t1(model: AbstractSystem, fp: FixedPoints) -> float:
    """``20`` times the slowest rate of the stationary points found (``[10, 1e5]``)."""
    rates = np.abs(np.real(fp.eigenvalues[fp.isolated])) if len(fp.points) else np.zeros(0)
    rates = rates[rates > 1e-12]
    return float(np.clip(20.0 / rates.min(), 10.0, 1e5)) if rates.size else 50.0


def _starts(plane: Plane, model: AbstractSystem) -> np.ndarray:
    X, Y = np.meshgrid(plane.x.values(ROOT_GRID), plane.y.values(ROOT_GRID))
    starts = plane.embed(X.ravel(), Y.ravel())
    return starts


def _zoom_planes(plane: Plane, points: np.ndarray, model: AbstractSystem) -> list[Plane]:
    """A plane for each cluster of points closer than ``ZOOM_SPACING`` (window-normalised)."""
    if len(points) < 2:
        return []
    u = np.stack([plane.x.normalise(points[:, plane.axes[0]]), plane.y.normalise(points[:, plane.axes[1]])], -1)
    ok = np.all(np.isfinite(u), axis=1)
    u, points = u[ok], points[ok]
    n = len(u)
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if np.max(np.abs(u[i] - u[j])) < ZOOM_SPACING:
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        uu = u[members]
        ext = uu.max(0) - uu.min(0)
        half = 2.5 * np.maximum(ext, 0.05 * ext.max())
        centre = 0.5 * (uu.max(0) + uu.min(0))
        ranges = []
        for k, axis in enumerate((plane.x, plane.y)):
            lo_u, hi_u = centre[k] - half[k], centre[k] + half[k]
            if axis.log:
                span = math.log(axis.hi / axis.lo)
                lo, hi = axis.lo * math.exp(lo_u * span), axis.lo * math.exp(hi_u * span)
            else:
                lo, hi = axis.lo + lo_u * axis.width, axis.lo + hi_u * axis.width
                if plane.axes[k] in model.positive:
                    lo = max(lo, 0.0)
            ranges.append((lo, hi))
        out.append(plane.with_ranges(*ranges))
    return out


def phase_portrait(model: AbstractSystem, *, plane: Plane | None = None, window=None, axes=None, at=None,
                   n_traj: int = 24, t1: float | None = None, n_save: int = 300, rtol: float = 1e-8,
                   atol: float = 1e-10, max_steps: int = 100_000, zoom: bool = True,
                   progress: Callable[[str], None] | None = None) -> PhasePortrait:
    """Compute the phase portrait of ``model`` on ``plane`` (or ``window``/``axes``/``at``, see
    :func:`~dynsim.tools.plane.make_plane`).

    ``n_traj`` trajectories start on a grid in each panel and run to ``t1`` (default: 20 times
    the slowest time scale of the stationary points found), saved at ``n_save`` times. A model
    that declares sign-preserving components (``positive``) is integrated in log coordinates for
    them. Trajectories are coloured by the stable point within 1e-2 of the window's scale at ``t1``;
    the rest (a limit cycle, a slow drift, a blow-up) is "other / unsettled".
    """
    plane = plane or make_plane(model, window=window, axes=axes, at=at)
    if not isinstance(n_traj, int) or not 1 <= n_traj <= 10_000:
        raise DynsimInputError("n_traj", f"n_traj must be an integer in [1, 10000] (got {n_traj!r})")
    if not isinstance(n_save, int) or not 2 <= n_save <= 100_000:
        raise DynsimInputError("n_save", f"n_save must be an integer in [2, 100000] (got {n_save!r})")
    check_solver_options(rtol, atol, max_steps)
    if t1 is not None:
        check_param("t1", t1, lower=0.0, lower_open=True, upper=1e12)
    if model.batch_shape():
        raise DynsimInputError("model", "a phase portrait takes scalar parameters (sweep over them with dynsim.sweep)")
    closed = model.stationary_points()
    closed = np.zeros((0, model.dim)) if closed is None else np.asarray(closed, float).reshape(-1, model.dim)

    def compute(pl: Plane, t_end: float | None):
        fX, fY = pl.grid(FIELD_GRID)
        nX, nY = pl.grid(NULLCLINE_GRID)
        y0 = pl.interior(n_traj)
        positive = list(model.positive)
        log_pos = bool(positive) and bool(np.all(y0[:, positive] > 0))
        starts = np.concatenate([_starts(pl, model), closed]) if len(closed) else _starts(pl, model)
        t_guess = 1.0 if t_end is None else t_end
        ts = np.concatenate([[0.0], np.geomspace(t_guess * 1e-6, t_guess, n_save - 1)])
        f1, f2, roots, sol = _numerics(model, pl.embed(fX.ravel(), fY.ravel()), pl.embed(nX.ravel(), nY.ravel()),
                                       to_jax(starts), to_jax(y0), to_jax(ts), to_jax(rtol),
                                       to_jax(atol), to_jax(ROOT_TOL), max_steps, log_pos)
        a0, a1 = pl.axes
        f1, f2 = np.asarray(f1), np.asarray(f2)
        field = (fX, fY, f1[:, a0].reshape(fX.shape), f1[:, a1].reshape(fX.shape))
        null = (nX, nY, f2[:, a0].reshape(nX.shape), f2[:, a1].reshape(nX.shape))
        return field, null, roots, sol, y0

    if progress is not None:
        progress(f"searching for stationary points and integrating {n_traj} trajectories per panel")
    # First pass on the main window: the stationary points fix t1 and the zoom panels.
    field, null, roots, sol, y0 = compute(plane, t1)
    fp = collect_fixed_points(*roots, atol=1e3 * ROOT_TOL)
    if t1 is None:
        t1 = _default_t1(model, fp)
        field, null, roots, sol, y0 = compute(plane, t1)
    planes, results = [plane], [(field, null, sol)]
    all_roots = [roots]
    queue = [plane] if zoom else []
    while queue and len(planes) < MAX_PANELS:
        parent = queue.pop(0)
        inside = fp.points[parent.contains(fp.points) & parent.in_slice(fp.points) & fp.isolated]
        for zp in _zoom_planes(parent, inside, model):
            if len(planes) >= MAX_PANELS:
                break
            field, null, roots, sol, _ = compute(zp, t1)
            planes.append(zp)
            results.append((field, null, sol))
            all_roots.append(roots)
            queue.append(zp)
    if len(all_roots) > 1:
        merged = [np.concatenate([np.asarray(r[k]) for r in all_roots]) for k in range(5)]
        fp = collect_fixed_points(*merged, atol=1e3 * ROOT_TOL)
    stable_idx = np.flatnonzero(fp.stable & fp.isolated)
    panels = []
    for pl, (field, null, sol) in zip(planes, results):
        lab = nearest_attractor(np.asarray(sol.y_final), fp.points[stable_idx], pl.scale(), tol=1e-2)
        attractor = np.where(lab >= 0, stable_idx[np.maximum(lab, 0)] if len(stable_idx) else -1, -1)
        panels.append(Panel(pl, field, null, sol, attractor))
    in_slice = plane.in_slice(fp.points)
    manifolds = tuple(saddle_branches(model, fp, plane)) if fp.points.size else ()
    solver = {"method": "Tsit5 + PIDController" + (" (log coordinates for " + ", ".join(
        model.state_names[i] for i in model.positive) + ")" if model.positive else ""),
        "rtol": rtol, "atol": atol, "t1": float(t1), "n_save": n_save, "max_steps": max_steps}
    return PhasePortrait(model, tuple(panels), fp, in_slice, manifolds, solver)


# ---------------------------------------------------------------------------------------------
# The figure


def _coords(axis, v):
    """Plot coordinate of ``v`` on ``axis`` (``log10`` for a log axis)."""
    v = np.asarray(v, float)
    if axis.log:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), np.nan)
    return v


def _label(model, i: int) -> str:
    name = model.state_names[i]
    return f"${name}$" if len(name) <= 3 or "_" in name or "\\" in name else name


def plot_phase_portrait(pp: PhasePortrait, *, size: str = "page"):
    """The figure: one panel per window (main first, then zooms), direction field, nullclines,
    manifolds, stationary points (stable filled, unstable hollow, saddles as crosses) and
    trajectories coloured by the attractor they reach, in the house style of
    :mod:`dynsim.plot.style` at ``size="page"`` (7 in wide, panels side by side) or ``"column"``
    (3.4 in, panels stacked)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    from dynsim.plot.style import (FIELD, NULL_P, NULL_S, NULL_S_LS, NOT_SETTLED, STABLE_MANIFOLD, STATIONARY_LINE,
                                   UNSTABLE_MANIFOLD, WIDTHS, attractor_colours, check_size, point_marker, style,
                                   suptitle)

    check_size(size)
    fp = pp.fixed_points
    model = pp.model
    att_colour = dict(zip((int(i) for i in pp.attractors), attractor_colours(fp.points[list(pp.attractors)])))
    n = len(pp.panels)
    page = size == "page"
    w = WIDTHS[size]
    one_row = page and n == 1  # one panel on a page: the key beside it, not under it
    with style(size):
        if page:
            figsize = (w, 3.5 if n == 1 else 0.42 * w + 0.9 if n == 2 else 0.3 * w + 1.0)
            fig, axs = plt.subplots(1, n, figsize=figsize, layout="constrained", squeeze=False)
            axs = axs[0]
        else:
            fig, axs = plt.subplots(n, 1, figsize=(w, 2.45 * n + 1.05), layout="constrained", squeeze=False)
            axs = axs[:, 0]
        handles: dict[str, object] = {}
        for k, (ax, panel) in enumerate(zip(axs, pp.panels)):
            pl = panel.plane
            X, Y, fx, fy = panel.field
            cx, cy = _coords(pl.x, X), _coords(pl.y, Y)
            # the field in plot coordinates (d log10 y / dt = f / (y ln 10) on a log axis)
            gx = fx / (X * math.log(10)) if pl.x.log else fx
            gy = fy / (Y * math.log(10)) if pl.y.log else fy
            ux, uy = (cx[0, -1] - cx[0, 0]), (cy[-1, 0] - cy[0, 0])
            with np.errstate(invalid="ignore", divide="ignore"):
                ok = np.isfinite(gx) & np.isfinite(gy)
            if ok.all():
                ax.streamplot(cx[0], cy[:, 0], gx / ux, gy / uy, color=FIELD, linewidth=0.5,
                              density=0.9 if page else 0.7, arrowsize=0.6, zorder=1, broken_streamlines=True)
                handles.setdefault("field", Line2D([], [], color=FIELD, lw=0.8, label="direction field"))
            X, Y, fx, fy = panel.nullclines
            nx, ny = _coords(pl.x, X), _coords(pl.y, Y)
            for f, colour, ls, key in ((fx, NULL_P, "-", f"${{\\dot{{{model.state_names[pl.axes[0]]}}}}} = 0$"),
                                       (fy, NULL_S, NULL_S_LS, f"${{\\dot{{{model.state_names[pl.axes[1]]}}}}} = 0$")):
                if np.nanmin(f) < 0 < np.nanmax(f):
                    ax.contour(nx, ny, f, levels=[0.0], colors=[colour], linewidths=1.2, linestyles=[ls], zorder=3)
                    handles.setdefault(key, Line2D([], [], color=colour, ls=ls, lw=1.2, label=key + " nullcline"))
            for b in pp.manifolds:
                bx, by = _coords(pl.x, b.points[:, pl.axes[0]]), _coords(pl.y, b.points[:, pl.axes[1]])
                kw = STABLE_MANIFOLD if b.kind == "stable" else UNSTABLE_MANIFOLD
                ax.plot(bx, by, **kw, zorder=4)
                handles.setdefault(f"manifold-{b.kind}", Line2D([], [], **kw, label=f"{b.kind} manifold"))
            ys = np.asarray(panel.trajectories.ys)
            for traj, lab in zip(ys, panel.attractor):
                good = np.all(np.isfinite(traj), axis=1)
                colour = att_colour.get(int(lab), NOT_SETTLED)
                ax.plot(_coords(pl.x, traj[good, pl.axes[0]]), _coords(pl.y, traj[good, pl.axes[1]]),
                        color=colour, lw=0.9, alpha=0.9, zorder=2)
                ax.plot(_coords(pl.x, traj[0, pl.axes[0]]), _coords(pl.y, traj[0, pl.axes[1]]), ".", ms=2.5,
                        color=colour, zorder=2)
                key = f"att{int(lab)}" if lab >= 0 else "other"
                if key not in handles:
                    text = (f"to {_point_text(model, fp.points[lab])}" if lab >= 0 else "other / unsettled")
                    handles[key] = Line2D([], [], color=colour, lw=1.2, label=text)
            show = pl.contains(fp.points, margin=0.01) & pp.in_slice
            for i in np.flatnonzero(show):
                st = fp.stability[i]
                x, y = _coords(pl.x, fp.points[i, pl.axes[0]]), _coords(pl.y, fp.points[i, pl.axes[1]])
                if not np.isfinite(x) or not np.isfinite(y):
                    continue
                if not fp.isolated[i]:
                    style_ = dict(marker="o", ms=3, mfc=STATIONARY_LINE, mec=STATIONARY_LINE)
                    key, text = "continuum", "non-isolated stationary"
                elif st.startswith("stable"):
                    style_, key, text = point_marker("stable", size), "stable", "stable point"
                elif st == "saddle":
                    style_, key, text = point_marker("saddle", size), "saddle", "saddle"
                elif st == "degenerate":
                    style_, key, text = point_marker("degenerate", size), "degenerate", "degenerate point"
                else:
                    style_, key, text = point_marker("unstable", size), "unstable", "unstable point"
                ax.plot(x, y, ls="none", zorder=7 if key == "stable" else 6, clip_on=False, **style_)
                handles.setdefault(key, Line2D([], [], ls="none", label=text, **style_))
            ax.set_xlim(_coords(pl.x, pl.x.lo), _coords(pl.x, pl.x.hi))
            ax.set_ylim(_coords(pl.y, pl.y.lo), _coords(pl.y, pl.y.hi))
            for axis, setter, fmt in ((pl.x, ax.set_xlabel, ax.xaxis), (pl.y, ax.set_ylabel, ax.yaxis)):
                setter(_label(model, pl.axes[0] if axis is pl.x else pl.axes[1]) + (" (log scale)" if axis.log else ""))
                if axis.log:
                    fmt.set_major_formatter(FuncFormatter(lambda v, _: f"$10^{{{v:g}}}$"))
            ax.set_title("(" + "abcdefg"[k] + ") " + ("window" if k == 0 else "zoom"), loc="left")
        order = ["field", *[h for h in handles if h.endswith("nullcline") or h.startswith("$")],
                 "manifold-stable", "manifold-unstable", "stable", "unstable", "saddle", "degenerate", "continuum",
                 *[h for h in handles if h.startswith("att")], "other"]
        legend = [handles[h] for h in dict.fromkeys(order) if h in handles]
        legend += [handles[h] for h in handles if handles[h] not in legend]
        if one_row:
            fig.legend(handles=legend, loc="outside right upper", ncols=1)
        else:
            fig.legend(handles=legend, loc="outside lower center", ncols=min(4 if page else 2, len(legend)))
        suptitle(fig, _title_items(model), size)
    return fig


def _title_items(model, *extra: str) -> list[str]:
    """The figure title: the model's name and its scalar parameters (``$\\eta = 0.01$`` for a
    parameter with a symbol), then ``extra``: for :func:`dynsim.plot.style.suptitle`."""
    from dynsim.plot.style import number

    params = []
    for k, v in model.parameters().items():
        if np.ndim(v) != 0:
            continue
        sym = next((s.symbol for s in model.param_specs() if s.name == k and s.symbol), None)
        params.append(f"${sym} = {number(float(v), math=True)}$" if sym else f"{k} = {_fmt(v)}")
    items = [f"{type(model).__name__}" + (":" if params or extra else ""), *params, *extra]
    return items


def _fmt(v) -> str:
    from dynsim.plot.style import number

    return number(float(v))


def _sym(model, name: str) -> str:
    for s in model.param_specs():
        if s.name == name and s.symbol:
            return f"${s.symbol}$"
    return name


def _point_text(model, y) -> str:
    return "(" + ", ".join(_fmt(v) for v in y) + ")"
