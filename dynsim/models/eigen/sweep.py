r"""Sweeps over hyperparameters: regime diagrams of the eigenvalue dynamics [T21].

- ``basin-size``: the fraction of a fixed window of initial conditions ``(p_0, s_0)`` that collapses,
  against one or two of ``eta, sigma, tau, alpha_p, beta`` (``beta`` uses the EMA system), each
  point a batched, trap-stopped integration (:func:`~dynsim.label_points`);
- ``alignment``: the fraction of ``[0, t1]`` during which the eigenspace-alignment condition
  ``p (tau - k p) < (alpha_p k s + 3 eta) / 2`` (``k = 1 + sigma^2``) holds, averaged over the window;
- ``collapse``: the fraction of random initialisations of a matrix model (``model=``, e.g. ``simsiam``)
  that collapse, against ``init_scale`` and/or ``eta, sigma, alpha_p, beta, alpha``
  (:func:`~dynsim.init_collapse`);
- ``bifurcation``: the stationary points ``p*`` of the 1-D reduction and their stability against
  one parameter (found by :func:`~dynsim.find_fixed_points`, compared with the closed form), with
  the saddle-node at ``eta_c = tau^2 / (4 (1 + sigma^2))``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable

import numpy as np

from dynsim.models.eigen.basins import COLLAPSED, NOT_SETTLED, FAILED, Axis, default_axes, label_points
from dynsim.models.eigen.system import EigenDynamics1D, EigenDynamics2D, EigenDynamics3D, critical_eta, nontrivial_roots
from dynsim.tools.fixed_points import find_fixed_points
from dynsim._core.errors import DynsimInputError
from dynsim._core.solve import solve
from dynsim._core.system import check_param

PARAMETERS = ("eta", "sigma", "tau", "alpha_p", "beta")
KINDS = ("basin-size", "alignment", "bifurcation", "collapse")
DEFAULTS = {"eta": 4e-4, "sigma": 1.0, "tau": 1.0, "alpha_p": 1.0, "beta": 1.0}
MAX_POINTS = 4096  # parameter points in one sweep


@dataclasses.dataclass(frozen=True)
class Range(Axis):
    """``num`` values of parameter ``name`` on ``[lo, hi]``, linear or log (a basin map's
    :class:`~dynsim.Axis`, checked as a sweep's ``--over``)."""

    @classmethod
    def parse(cls, text: str) -> "Range":
        """``NAME=LO:HI:N`` or ``NAME=LO:HI:N:log``."""
        from dynsim.tools.plane import parse_spec

        return cls(*parse_spec(text))

    def check(self, names: tuple[str, ...] = PARAMETERS) -> None:
        if self.name not in names:
            raise DynsimInputError("over", f"unknown parameter {self.name!r}: sweepable are {', '.join(names)}")
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            raise DynsimInputError("over", f"{self.name}: the range must be finite")
        if not self.lo < self.hi:
            raise DynsimInputError("over", f"{self.name}: the range is empty or inverted ({self.lo:g} >= {self.hi:g})")
        if self.log and self.lo <= 0:
            raise DynsimInputError("over", f"{self.name}: a log range needs a positive lower end (got {self.lo:g})")
        if self.num < 2:
            raise DynsimInputError("over", f"{self.name}: at least 2 values (got {self.num})")


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A regime diagram: ``values`` (one array per swept parameter), the measured ``quantity`` on
    their grid (``indexing='ij'``), and for bifurcation diagrams the branches of ``p*``."""

    kind: str
    ranges: tuple[Range, ...]
    base: dict[str, float]
    quantity: np.ndarray
    extra: dict[str, np.ndarray]
    info: dict

    def summary(self) -> dict:
        out = {"kind": self.kind, "over": [dataclasses.asdict(r) for r in self.ranges], "base": self.base, **self.info}
        if self.kind != "bifurcation":
            q = self.quantity
            out["quantity_range"] = [float(np.nanmin(q)), float(np.nanmax(q))] if np.isfinite(q).any() else None
            if len(self.ranges) == 1:
                d = np.diff(q)
                out["trend"] = ("increasing" if np.all(d >= 0) else "decreasing" if np.all(d <= 0) else "not monotone")
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {**{f"values_{r.name}": r.values() for r in self.ranges}, "quantity": self.quantity, **self.extra}


def _check(kind: str, ranges, base) -> None:
    if kind not in KINDS:
        raise DynsimInputError("kind", f"unknown sweep {kind!r}: one of {', '.join(KINDS)}")
    if not 1 <= len(ranges) <= 2:
        raise DynsimInputError("over", "sweep one parameter or a pair of them")
    for r in ranges:
        r.check()
    if len(ranges) == 2 and ranges[0].name == ranges[1].name:
        raise DynsimInputError("over", f"{ranges[0].name} is swept twice")
    if kind == "bifurcation" and len(ranges) != 1:
        raise DynsimInputError("over", "a bifurcation diagram sweeps one parameter")
    if kind == "bifurcation" and ranges[0].name in ("alpha_p", "beta"):
        raise DynsimInputError("over", f"the stationary p* do not depend on {ranges[0].name}: sweep eta, sigma or tau")
    if int(np.prod([r.num for r in ranges])) > MAX_POINTS:
        raise DynsimInputError("over", f"more than {MAX_POINTS} parameter points")
    for name in base:
        if name not in PARAMETERS:
            raise DynsimInputError("base", f"unknown parameter {name!r}")


def sweep(kind: str, ranges: list[Range], *, base: dict[str, float] | None = None, grid: int | None = None,
          t1: float | None = None, progress: Callable[[str], None] | None = None, model: str = "simsiam",
          samples: int = 32) -> Sweep:
    """Run a ``kind`` sweep over one or two :class:`Range` s; the other parameters from ``base``
    (defaults: ``eta = 4e-4, sigma = tau = alpha_p = beta = 1``; for ``collapse`` the ``model``'s
    defaults, with ``samples`` random starts per point)."""
    if kind == "collapse":
        from dynsim.models.byol.init_collapse import init_collapse

        return init_collapse(model, ranges, samples=samples, base=base, t1=t1, progress=progress)
    base = {**DEFAULTS, **(base or {})}
    _check(kind, ranges, base)
    # the base values checked (and named) before any work: the systems' own parameter ranges
    EigenDynamics2D(eta=base["eta"], sigma=base["sigma"], tau=base["tau"], alpha_p=base["alpha_p"])
    EigenDynamics3D(eta=base["eta"], sigma=base["sigma"], alpha_p=base["alpha_p"], beta=base["beta"])
    if t1 is not None:
        check_param("t1", t1, lower=0.0, lower_open=True)
    if grid is not None and (not isinstance(grid, int) or grid < 2):
        raise DynsimInputError("grid", f"--grid must be at least 2 (got {grid})")
    if kind == "bifurcation":
        return _bifurcation(ranges[0], base)
    points = list(itertools.product(*[r.values() for r in ranges]))
    shape = tuple(r.num for r in ranges)
    uses_beta = any(r.name == "beta" for r in ranges)
    num = grid or {"basin-size": 32 if uses_beta else 96, "alignment": 24}[kind]
    # One window of initial conditions for every parameter point (the base parameters' default):
    # a window scaled with alpha_p would hide alpha_p entirely (s' = alpha_p s removes it).
    pa, sa = default_axes(EigenDynamics2D(eta=base["eta"], sigma=base["sigma"], tau=base["tau"],
                                          alpha_p=base["alpha_p"]), num)
    P, S = np.meshgrid(pa.values(), sa.values())
    y0 = np.stack([P.ravel(), S.ravel()], -1)
    q = np.full(len(points), np.nan)
    unsettled = np.zeros(len(points), int)
    nontrivial = np.full(len(points), np.nan)
    for i, vals in enumerate(points):
        prm = {**base, **{r.name: float(v) for r, v in zip(ranges, vals)}}
        if kind == "basin-size":
            if uses_beta:
                system = EigenDynamics3D(eta=prm["eta"], sigma=prm["sigma"], alpha_p=prm["alpha_p"], beta=prm["beta"])
            else:
                system = EigenDynamics2D(eta=prm["eta"], sigma=prm["sigma"], tau=prm["tau"], alpha_p=prm["alpha_p"])
            labels, *_ = label_points(system, y0[:, 0], y0[:, 1], t1=t1)
            q[i] = np.mean(labels == COLLAPSED)
            nontrivial[i] = np.mean(labels == 1)
            unsettled[i] = int(np.sum((labels == NOT_SETTLED) | (labels == FAILED)))
        else:
            q[i] = _alignment_fraction(prm, y0, t1 or 1000.0)
        if progress is not None and (i + 1) % max(1, len(points) // 10) == 0:
            progress(f"{i + 1}/{len(points)} parameter points")
    info = {"quantity": "collapsed fraction of the window" if kind == "basin-size" else
            "fraction of [0, t1] with the alignment condition, averaged over the window",
            "t1": t1 if kind == "basin-size" else (t1 or 1000.0)}
    extra = {}
    if kind == "basin-size":
        info["model"] = "eigen3d (p, s, tau), tau(0) = 1" if uses_beta else "eigen2d (p, s)"
        info["cells_per_point"] = num**2
        info["not_settled_or_failed_total"] = int(unsettled.sum())
        extra["not_settled_or_failed"] = unsettled.reshape(shape)
        extra["nontrivial_fraction"] = nontrivial.reshape(shape)
        info["per_point"] = [{**{r.name: float(v) for r, v in zip(ranges, vals)}, "collapsed": float(c),
                              "non_trivial": float(nt), "not_settled_or_failed": int(u)}
                             for vals, c, nt, u in zip(points, q, nontrivial, unsettled)]
        if unsettled.any():
            info["partial"] = True
    return Sweep(kind, tuple(ranges), base, q.reshape(shape), extra, info)


def _alignment_fraction(prm: dict, y0: np.ndarray, t1: float) -> float:
    system = EigenDynamics2D(eta=prm["eta"], sigma=prm["sigma"], tau=prm["tau"], alpha_p=prm["alpha_p"])
    ts = np.linspace(0.0, t1, 257)
    sol = solve(system, y0, ts, rtol=1e-6, atol=1e-9, log_positive=True)
    ys = np.asarray(sol.ys)
    p, s = ys[..., 0], ys[..., 1]
    k = 1.0 + prm["sigma"] ** 2
    holds = p * (prm["tau"] - k * p) < 0.5 * (prm["alpha_p"] * k * s + 3.0 * prm["eta"])
    ok = np.asarray(sol.ok)
    return float(np.mean(holds[ok])) if ok.any() else math.nan


def _bifurcation(r: Range, base: dict) -> Sweep:
    values = r.values()
    pts, stable, degenerate, errs = [], [], [], []
    for v in values:
        prm = {**base, r.name: float(v)}
        sys1 = EigenDynamics1D(eta=prm["eta"], sigma=prm["sigma"], tau=prm["tau"])
        p0 = prm["tau"] / (1 + prm["sigma"] ** 2) if prm["tau"] > 0 else 1.0
        starts = np.concatenate([np.linspace(-p0, 2 * p0, 31), np.geomspace(1e-9 * p0, 1.5 * p0, 40)])[:, None]
        fp = find_fixed_points(sys1, starts)
        keep = fp.isolated
        pts.append(fp.points[keep, 0])
        stable.append(fp.stable[keep])
        degenerate.append(np.array([st == "degenerate" for st in fp.stability])[keep])  # classify()'s label
        pm, pp = (float(x) for x in nontrivial_roots(prm["eta"], prm["sigma"], prm["tau"]))
        k = 1.0 + prm["sigma"] ** 2
        disc = prm["tau"] ** 2 - 4 * prm["eta"] * k
        if abs(disc) <= 1e-12 * max(prm["tau"] ** 2, 1.0):
            # eta = eta_c up to rounding (e.g. of a linspace): p*_+- = (tau +- sqrt(disc))/(2k) are one double
            # root, the fold, as the finder sees it (roots sqrt(1e-12) apart are not two points to it)
            pm = pp = prm["tau"] / (2 * k)
        closed = [0.0] + [x for x in (pm, pp) if np.isfinite(x) and x > 0]
        found = sorted(fp.points[:, 0])
        if len(found) == len(set(np.round(closed, 12))):
            errs.append(max(abs(a - b) for a, b in zip(found, sorted(set(closed)))))
        else:
            errs.append(math.nan)
    m = max(len(p) for p in pts)
    P = np.full((len(values), m), np.nan)
    St = np.zeros((len(values), m), bool)
    Dg = np.zeros((len(values), m), bool)
    for i, (p, st, dg) in enumerate(zip(pts, stable, degenerate)):
        P[i, : len(p)], St[i, : len(p)], Dg[i, : len(p)] = p, st, dg
    n_nontrivial = np.sum(np.isfinite(P) & (P > 0), axis=1)
    info = {"quantity": "stationary points p* of the 1-D reduction", "closed_form_error_max": float(np.nanmax(errs)),
            "points_missing_vs_closed_form": int(np.sum(np.isnan(errs)))}
    if r.name == "eta":
        eta_c = float(critical_eta(base["sigma"], base["tau"]))
        two = values[n_nontrivial >= 2]
        none = values[n_nontrivial == 0]
        info["eta_critical_closed_form"] = eta_c
        info["fold_bracket_measured"] = [float(two.max()) if two.size else None,
                                         float(none[none > (two.max() if two.size else -1)].min())
                                         if (none > (two.max() if two.size else -1)).any() else None]
        lo, hi = info["fold_bracket_measured"]
        info["fold_within_bracket"] = lo is not None and hi is not None and lo <= eta_c <= hi
    info |= _continued(r, base, values[n_nontrivial >= 2])
    return Sweep("bifurcation", (r,), base, P, {"stable": St, "degenerate": Dg, "closed_form_error": np.asarray(errs)},
                 info)


def _continued(r: Range, base: dict, with_branches: np.ndarray) -> dict:
    """The branches of p* followed by pseudo-arclength continuation (:func:`dynsim.continuation`) from
    the first grid value that has non-trivial points; the special points it locates (the fold at
    ``eta_c`` to Newton accuracy, not to the grid's spacing)."""
    from dynsim._core.errors import DynsimInputError
    from dynsim.tools.continuation import continuation

    if not with_branches.size or r.name not in ("eta", "sigma", "tau"):
        return {"continuation": None}
    prm = {**base}
    prm.pop(r.name, None)
    model = EigenDynamics1D(**{k: prm[k] for k in ("eta", "sigma", "tau") if k in prm}, **{r.name: float(with_branches[0])})
    try:
        res = continuation(model, r.name, r.lo, r.hi, at=float(with_branches[0]), log=r.log)
    except DynsimInputError as e:
        return {"continuation": None, "continuation_error": str(e)}
    out = {"continuation": [{"type": s.kind, r.name: s.mu, "p": float(s.state[0])} for s in res.special]}
    folds = [s.mu for s in res.special if s.kind == "fold"]
    if r.name == "eta" and folds:
        out["fold_continuation"] = folds[0]
        out["fold_continuation_error"] = abs(folds[0] - float(critical_eta(base["sigma"], base["tau"])))
    return out
