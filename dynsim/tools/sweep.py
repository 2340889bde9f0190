"""Sweeps of any model over one scalar parameter: at each value, the stationary points found on a
plane (with their stability) or the basin fractions of a box (Monte Carlo, with standard errors).

Every point reuses the same compiled functions (parameters are traced arrays): a sweep of ``N``
points costs one compilation and ``N`` evaluations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from dynsim._core.errors import DynsimInputError
from dynsim._core.loading import with_params
from dynsim._core.system import AbstractSystem
from dynsim.tools.plane import Axis, Plane, make_plane, parse_spec

QUANTITIES = ("fixed-points", "basin-fractions")
MAX_POINTS = 4096


def parse_range(text: str) -> Axis:
    """``NAME=LO:HI:N`` or ``NAME=LO:HI:N:log``."""
    name, lo, hi, num, log = parse_spec(text)
    if not 2 <= num <= MAX_POINTS:
        raise DynsimInputError("over", f"N must be in [2, {MAX_POINTS}] (got {num})")
    axis = Axis(name, lo, hi, num, log)
    axis.check("over")
    return axis


@dataclasses.dataclass(frozen=True)
class ModelSweep:
    model: AbstractSystem
    over: Axis
    quantity: str
    points: list[dict]  # per parameter value: what was measured
    plane: Plane

    def summary(self) -> dict:
        return {"model": type(self.model).__name__, "over": dataclasses.asdict(self.over), "quantity": self.quantity,
                "plane": self.plane.record(), "points": self.points,
                "complete": all(p.get("complete", True) for p in self.points)}

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"values": self.over.values()}
        if self.quantity == "fixed-points":
            m = max((len(p["states"]) for p in self.points), default=0)
            st = np.full((len(self.points), m, self.model.dim), np.nan)
            stable = np.zeros((len(self.points), m), bool)
            for i, p in enumerate(self.points):
                if p["states"]:
                    st[i, : len(p["states"])] = p["states"]
                    stable[i, : len(p["states"])] = p["stable"]
            out |= {"states": st, "stable": stable}
        else:
            out["largest_fraction"] = np.array([max(p["fractions"].values()) for p in self.points])
            out["not_settled"] = np.array([p["fractions"]["not settled"] for p in self.points])
        return out


def sweep_model(model: AbstractSystem, over: Axis, *, quantity: str = "fixed-points", plane: Plane | None = None,
                window=None, axes=None, at=None, samples: int = 1024, seed: int = 0,
                progress: Callable[[str], None] | None = None, **kwargs) -> ModelSweep:
    """``quantity`` at each value of the parameter ``over.name`` on ``over.values()``.

    ``fixed-points``: every stationary point found on the plane, its stability and eigenvalues.
    ``basin-fractions``: the Monte Carlo basin fractions of the plane's window (other coordinates at
    ``at``) with ``samples`` draws and their standard errors (see :func:`~dynsim.basins_fractions`).
    """
    from dynsim.tools.basins import basins_fractions, find_attractors

    if quantity not in QUANTITIES:
        raise DynsimInputError("quantity", f"unknown quantity {quantity!r}: one of {', '.join(QUANTITIES)}")
    specs = {s.name: s for s in model.param_specs()}
    if over.name not in specs:
        raise DynsimInputError("over", f"{type(model).__name__} has no parameter {over.name!r} "
                                       f"(its parameters: {', '.join(specs)})")
    if specs[over.name].ndim != 0:
        raise DynsimInputError("over", f"{over.name} is not a scalar parameter")
    values = over.values()
    for v in (values[0], values[-1]):
        try:
            specs[over.name].check(v)
        except DynsimInputError as e:  # the values come from the argument over
            raise DynsimInputError("over", str(e)) from None
    plane = plane or make_plane(model, window=window, axes=axes, at=at)
    points = []
    for i, v in enumerate(values):
        m = with_params(model, {over.name: float(v)})
        if quantity == "fixed-points":
            fp, _ = find_attractors(m, plane)
            keep = plane.contains(fp.points, margin=0.01)
            points.append({"value": float(v), "states": fp.points[keep].tolist(),
                           "stability": [s for s, k in zip(fp.stability, keep) if k],
                           "stable": [bool(s) for s, k in zip(fp.stable, keep) if k],
                           "eigenvalues": [[complex(z) for z in e] for e, k in zip(fp.eigenvalues, keep) if k]})
        else:
            box = [(plane.x.lo, plane.x.hi) if k == plane.axes[0] else (plane.y.lo, plane.y.hi) if k == plane.axes[1]
                   else (a - 1e-12 * max(1.0, abs(a)), a + 1e-12 * max(1.0, abs(a))) for k, a in enumerate(plane.at)]
            fr = basins_fractions(m, box, samples=samples, seed=seed, plane=plane, **kwargs)
            s = fr.summary()
            points.append({"value": float(v), "fractions": s["fractions"], "standard_errors": s["standard_errors"],
                           "attractors": s["attractors"], "complete": s["complete"]})
        if progress is not None and (i + 1) % max(1, len(values) // 10) == 0:
            progress(f"{i + 1}/{len(values)} parameter values")
    return ModelSweep(model, over, quantity, points, plane)


def plot_model_sweep(sw: ModelSweep, *, coord: int | None = None, size: str = "page"):
    """Fixed points: the plotted coordinate of each stationary point against the parameter, marked by
    its :func:`~dynsim.classify` label (stable filled, unstable hollow, saddle a cross, degenerate a
    diamond: :func:`dynsim.plot.style.point_marker`). Basin fractions: the fraction of each attractor
    (named by its state) and of the unsettled, with standard-error bars. In the house style of :mod:`dynsim.plot.style`,
    ``size="page"`` (7 in wide) or ``"column"`` (3.4 in)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from dynsim.plot.style import (NOT_SETTLED, attractor_colours, check_size, figsize, marker_kind, point_marker,
                                   style)
    from dynsim.tools.phase_portrait import _label, _sym

    k = sw.plane.axes[0] if coord is None else coord
    check_size(size)
    ms = 4.0 if size == "page" else 3.5
    with style(size):
        fig, ax = plt.subplots(figsize=figsize(size, 3.6 if size == "page" else 2.4), layout="constrained")
        if sw.quantity == "fixed-points":
            order = ("stable", "unstable", "saddle", "degenerate")
            marker = {kd: {**point_marker(kd, size), "ms": ms, "mew": 0.5 if kd == "stable" else 1.0} for kd in order}
            drawn = set()
            for p in sw.points:
                for y, st in zip(p["states"], p["stability"]):
                    kd = marker_kind(st)
                    ax.plot(p["value"], y[k], ls="none", **marker[kd])
                    drawn.add(kd)
            ax.set_ylabel(_label(sw.model, k) + " at the stationary points")
            ax.legend(handles=[Line2D([], [], ls="none", label=kd, **marker[kd]) for kd in order if kd in drawn])
        else:
            states = {a["name"]: a["state"] for p in sw.points for a in p["attractors"]}
            names = sorted(states)
            colours = attractor_colours([states[nm] for nm in names])
            for j, nm in enumerate(names):
                f = np.array([p["fractions"].get(nm, np.nan) for p in sw.points])
                e = np.array([p["standard_errors"].get(nm, np.nan) for p in sw.points])
                if np.any(np.isfinite(f)):
                    ax.errorbar(sw.over.values(), f, yerr=e, marker="o", ms=3, color=colours[j], label=f"to {nm}")
            un = np.array([p["fractions"]["not settled"] for p in sw.points])
            if np.any(un > 0):
                ax.plot(sw.over.values(), un, "s--", ms=3, color=NOT_SETTLED, label="not settled")
            ax.set_ylabel("basin fraction")
            ax.set_ylim(-0.02, 1.02)
            ax.legend()
        if sw.over.log:
            ax.set_xscale("log")
        ax.set_xlabel(_sym(sw.model, sw.over.name))
        ax.set_title(f"{type(sw.model).__name__}: {sw.quantity} against {_sym(sw.model, sw.over.name)}", loc="left")
    return fig
