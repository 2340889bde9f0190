"""The phase-portrait job: everything the ``(p, s)`` figure of [T21, Fig. 3] shows, computed in
one jitted call (vector fields, stationary points of the 2-D and 1-D systems, trajectories)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import numpy as np

from dynsim._core import aot as _aot
from dynsim.tools.fixed_points import FixedPoints, _roots, basins_1d, collect_fixed_points, grid_starts, nearest_attractor
from dynsim.models.eigen.system import REGIME_TEXT, EigenDynamics1D, EigenDynamics2D
from dynsim._core.errors import DynsimInputError
from dynsim._core.solve import Solution, check_solver_options, solve
from dynsim._core.system import check_param

FIELD_GRID = 64  # vector field samples per axis (streamlines)
NULLCLINE_GRID = 241  # samples per axis for the zero contours
CURVE_POINTS = 801  # samples of the 1-D dp/dt curve


@dataclasses.dataclass(frozen=True)
class Window:
    """A rectangle ``[p_min, p_max] x [s_min, s_max]`` of the ``(p, s)`` plane."""

    p_min: float
    p_max: float
    s_min: float
    s_max: float

    @property
    def scale(self) -> np.ndarray:
        return np.array([self.p_max - self.p_min, self.s_max - self.s_min])

    def grid(self, num: int) -> tuple[np.ndarray, np.ndarray]:
        return np.meshgrid(np.linspace(self.p_min, self.p_max, num), np.linspace(self.s_min, self.s_max, num))

    def interior(self, num: int) -> np.ndarray:
        """``num`` starting points spread over the window (cell centres of a near-square grid)."""
        rows = max(1, math.isqrt(num))
        cols = -(-num // rows)
        p = self.p_min + (np.arange(cols) + 0.5) / cols * (self.p_max - self.p_min)
        s = self.s_min + (np.arange(rows) + 0.5) / rows * (self.s_max - self.s_min)
        return np.stack(np.meshgrid(p, s), -1).reshape(-1, 2)[:num]


def default_window(system: EigenDynamics2D) -> Window:
    """Fig. 3-like range: ``p`` in ``[-p0/2, 2 p0]``, ``s`` up to ``0.8 (2 p0)^2 / alpha_p``,
    with ``p0 = tau / (1 + sigma^2)`` the non-collapsed branch at ``eta = 0``."""
    p0 = float(system.tau) / (1.0 + float(system.sigma) ** 2)
    p0 = p0 if p0 > 0 else 1.0
    return Window(-0.5 * p0, 2.0 * p0, 0.0, 0.8 * (2.0 * p0) ** 2 / float(system.alpha_p))


def zoom_window(system: EigenDynamics2D, window: Window) -> Window:
    """A window around the origin on the scale of the collapse threshold ``p*_-`` (or of
    ``eta / tau`` when there is none), so that the small-scale structure is visible."""
    pm = float(system.p_minus)
    if not (np.isfinite(pm) and pm > 0):
        pm = float(system.eta) / float(system.tau) if float(system.eta) > 0 and float(system.tau) > 0 else 0.0
    width = pm if pm > 0 else 1e-2 * (window.p_max - window.p_min)
    p_max = 3.0 * width
    return Window(-1.5 * width, p_max, 0.0, 1.2 * p_max**2 / float(system.alpha_p))


def _check_window(w: Window, prefix: str = "") -> None:
    for name in ("p_min", "p_max", "s_min", "s_max"):
        check_param(prefix + name, getattr(w, name))
    if not w.p_min < w.p_max:
        raise DynsimInputError(prefix + "p_min", f"the p range is empty or inverted: p_min={w.p_min:g} >= p_max={w.p_max:g}")
    if w.s_min < 0:
        raise DynsimInputError(prefix + "s_min", f"s is an eigenvalue of F = W X W^T >= 0: s_min must be >= 0 (got {w.s_min:g})")
    if not w.s_min < w.s_max:
        raise DynsimInputError(prefix + "s_min", f"the s range is empty or inverted: s_min={w.s_min:g} >= s_max={w.s_max:g}")


@dataclasses.dataclass(frozen=True)
class PhasePortrait:
    """Numbers behind the phase-portrait figure."""

    system: EigenDynamics2D
    system_1d: EigenDynamics1D
    window: Window
    zoom: Window
    fields: dict[str, np.ndarray]  # main/zoom vector fields and nullcline grids, 1-D curves
    fixed_points: FixedPoints  # of the 2-D system
    fixed_points_1d: FixedPoints
    trajectories: Solution  # (n_main + n_zoom, T, 2)
    n_main: int  # the first n_main trajectories belong to the main window, the rest to the zoom
    attractor: np.ndarray  # index into fixed_points of each trajectory's end; -1: not at an isolated attractor
    solver: dict

    @property
    def regime(self) -> str:
        return self.system.regime()

    def basins_1d(self, lower: float, upper: float):
        fp = self.fixed_points_1d
        return basins_1d(fp.points[:, 0], fp.stable, lower, upper)

    def summary(self) -> dict:
        sys = self.system
        fp, fp1 = self.fixed_points, self.fixed_points_1d
        closed = sys.stationary_points()
        records = []
        for rec, y, iso in zip(fp.records(sys.state_names), fp.points, fp.isolated):
            if not iso:
                continue
            d = np.max(np.abs(closed - y), axis=1)
            j = int(np.argmin(d))
            rec["closed_form_error"] = float(d[j] / max(1.0, np.max(np.abs(closed[j])))) if d.size else None
            records.append(rec)
        continuum = fp.points[~fp.isolated]
        pm, pp = float(sys.p_minus), float(sys.p_plus)
        out = {
            "regime": self.regime,
            "regime_text": REGIME_TEXT[self.regime],
            "eta_critical": float(sys.eta_critical),
            "collapse_threshold_p_minus": pm if np.isfinite(pm) and pm > 0 else None,
            "p_plus": pp if np.isfinite(pp) else None,
            "stationary_points": records,
            "stationary_points_1d": [r for r, iso in zip(fp1.records(("p",)), fp1.isolated) if iso],
            "non_isolated_stationary_points": {
                "count_found": int(len(continuum)),
                "p_range": [float(continuum[:, 0].min()), float(continuum[:, 0].max())] if len(continuum) else None,
                "s_range": [float(continuum[:, 1].min()), float(continuum[:, 1].max())] if len(continuum) else None,
            },
            "basins_1d": [  # null bounds are -inf / +inf
                {"from": a if math.isfinite(a) else None, "to": b if math.isfinite(b) else None,
                 "attractor": None if i < 0 else float(fp1.points[i, 0])}
                for a, b, i in self.basins_1d(-math.inf, math.inf)
            ],
            "trajectories": self._trajectory_summary(),
            "solver": self.solver | self.trajectories.stats(),
        }
        if not self.trajectories.complete:
            out["solver"]["failures"] = self.trajectories.failures()
        return out

    def _trajectory_summary(self) -> dict:
        fp = self.fixed_points
        out = {}
        for name, sl in (("main", slice(0, self.n_main)), ("zoom", slice(self.n_main, None))):
            lab = self.attractor[sl]
            ok = np.asarray(self.trajectories.ok)[sl]
            counts = {"to_collapse": 0, "to_nontrivial": 0, "not_at_isolated_attractor": int(np.sum(ok & (lab < 0))),
                      "failed": int(np.sum(~ok))}
            for i in lab[ok & (lab >= 0)]:
                key = "to_collapse" if np.allclose(fp.points[i], 0.0, atol=1e-12) else "to_nontrivial"
                counts[key] += 1
            out[name] = counts
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything numeric, for the ``.npz``."""
        sol = self.trajectories
        return {
            **self.fields,
            "fixed_points": self.fixed_points.points,
            "fixed_points_eigenvalues": self.fixed_points.eigenvalues,
            "fixed_points_isolated": self.fixed_points.isolated,
            "fixed_points_1d": self.fixed_points_1d.points,
            "trajectories_t": np.asarray(sol.ts),
            "trajectories_y": np.asarray(sol.ys),
            "trajectories_status": np.asarray(sol.status),
            "trajectories_in_zoom": np.arange(sol.ys.shape[0]) >= self.n_main,
            "trajectories_attractor": self.attractor,
        }


def _compute(sys2, sys1, main_grid, zoom_grid, null_main, null_zoom, curve, curve_zoom,
             starts2, starts1, y0, ts, rtol, atol, root_tol, max_steps):
    """The whole job's numerics, one traced function (hence one compilation)."""
    vf2 = jax.vmap(lambda y: sys2.vector_field(0.0, y))
    vf1 = jax.vmap(lambda y: sys1.vector_field(0.0, y))
    # s spans hundreds of orders of magnitude (it falls to ~1e-250 on some trajectories and
    # regrows): integrate log s, or absolute error control lets s cross the invariant line s = 0.
    sol = solve(sys2, y0, ts, rtol=rtol, atol=atol, max_steps=max_steps, log_positive=True)
    return (vf2(main_grid), vf2(zoom_grid), vf2(null_main), vf2(null_zoom), vf1(curve), vf1(curve_zoom),
            _roots(sys2, starts2, root_tol, root_tol, 200, 0.0), _roots(sys1, starts1, root_tol, root_tol, 200, 0.0),
            sol)


def phase_portrait(
    system: EigenDynamics2D,
    *,
    window: Window | None = None,
    zoom: Window | None = None,
    n_traj: int = 16,
    t1: float | None = None,
    n_save: int = 400,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
    progress: Callable[[str], None] | None = None,
) -> PhasePortrait:
    """Compute the phase portrait of the ``(p, s)`` system and of its 1-D reduction.

    ``n_traj`` sample trajectories start in each of the main and zoom windows and are
    integrated to ``t1`` (default ``10 / eta``, clipped to ``[100, 1e5]``), saved on a
    log-spaced grid of ``n_save`` times. Stationary points come from the general finder,
    not from the closed forms (the summary compares the two). ``progress`` receives a
    line of text once the inputs are validated and the work starts.
    """
    window = window or default_window(system)
    zoom = zoom or zoom_window(system, window)
    _check_window(window)
    _check_window(zoom, "zoom_")
    if not isinstance(n_traj, int) or n_traj < 1:
        raise DynsimInputError("n_traj", f"n_traj must be a positive integer (got {n_traj!r})")
    if not isinstance(n_save, int) or n_save < 2:
        raise DynsimInputError("n_save", f"n_save must be an integer >= 2 (got {n_save!r})")
    eta = float(system.eta)
    if t1 is None:
        t1 = min(1e5, max(100.0, 10.0 / eta if eta > 0 else math.inf))
    check_param("t1", t1, lower=0.0, lower_open=True)
    ts = np.concatenate([[0.0], np.logspace(math.log10(t1) - 6, math.log10(t1), n_save - 1)])

    check_solver_options(rtol, atol, max_steps)
    if progress is not None:
        progress(f"integrating 2 x {n_traj} trajectories to t1 = {t1:g} and searching for stationary points")

    system_1d = EigenDynamics1D(eta=system.eta, sigma=system.sigma, tau=system.tau)
    pm, pz = window.grid(FIELD_GRID), zoom.grid(FIELD_GRID)
    nm, nz = window.grid(NULLCLINE_GRID), zoom.grid(NULLCLINE_GRID)
    curve = np.linspace(window.p_min, window.p_max, CURVE_POINTS)
    curve_zoom = np.linspace(zoom.p_min, zoom.p_max, CURVE_POINTS)
    starts2 = np.concatenate([grid_starts([window.p_min, window.s_min], [window.p_max, window.s_max], 12),
                              grid_starts([zoom.p_min, zoom.s_min], [zoom.p_max, zoom.s_max], 8)])
    starts1 = np.concatenate([np.linspace(window.p_min, window.p_max, 48),
                              np.linspace(zoom.p_min, zoom.p_max, 16)])[:, None]
    y0 = np.concatenate([window.interior(n_traj), zoom.interior(n_traj)])
    flat = lambda g: np.stack([g[0].ravel(), g[1].ravel()], -1)
    root_tol = 1e-13
    args = (system, system_1d, flat(pm), flat(pz), flat(nm), flat(nz), curve[:, None], curve_zoom[:, None],
            starts2, starts1, y0, ts, rtol, atol, root_tol)
    out = jax.tree_util.tree_structure((0,) * 6 + ((0,) * 5, (0,) * 5, Solution(*(0,) * 7)))
    (f_main, f_zoom, n_main, n_zoom, c_main, c_zoom, roots2, roots1, sol) = _aot.call(
        "phase_portrait", _compute, args, out, static=(max_steps,))
    fp2 = collect_fixed_points(*roots2, atol=1e3 * root_tol)
    fp1 = collect_fixed_points(*roots1, atol=1e3 * root_tol)

    shape, nshape = pm[0].shape, nm[0].shape
    fields = {
        "field_p": pm[0], "field_s": pm[1],
        "field_dp": np.asarray(f_main)[:, 0].reshape(shape), "field_ds": np.asarray(f_main)[:, 1].reshape(shape),
        "zoom_field_p": pz[0], "zoom_field_s": pz[1],
        "zoom_field_dp": np.asarray(f_zoom)[:, 0].reshape(shape), "zoom_field_ds": np.asarray(f_zoom)[:, 1].reshape(shape),
        "nullcline_p": nm[0], "nullcline_s": nm[1],
        "nullcline_dp": np.asarray(n_main)[:, 0].reshape(nshape), "nullcline_ds": np.asarray(n_main)[:, 1].reshape(nshape),
        "zoom_nullcline_p": nz[0], "zoom_nullcline_s": nz[1],
        "zoom_nullcline_dp": np.asarray(n_zoom)[:, 0].reshape(nshape), "zoom_nullcline_ds": np.asarray(n_zoom)[:, 1].reshape(nshape),
        "curve_p": curve, "curve_dp": np.asarray(c_main)[:, 0],
        "zoom_curve_p": curve_zoom, "zoom_curve_dp": np.asarray(c_zoom)[:, 0],
    }
    idx_stable = np.flatnonzero(fp2.stable & fp2.isolated)
    stable = fp2.points[idx_stable]
    attractor = np.full(y0.shape[0], -1)
    for sl, w in ((slice(0, n_traj), window), (slice(n_traj, None), zoom)):
        lab = nearest_attractor(np.asarray(sol.y_final)[sl], stable, w.scale, tol=1e-2)
        attractor[sl] = idx_stable[lab] if len(idx_stable) else -1
        attractor[sl][lab < 0] = -1
    solver = {"method": "Tsit5 + PIDController, (p, log s) coordinates", "rtol": rtol, "atol": atol, "t1": float(t1),
              "dtype": str(np.asarray(sol.ys).dtype)}
    return PhasePortrait(system, system_1d, window, zoom, fields, fp2, fp1, sol, n_traj, attractor, solver)
