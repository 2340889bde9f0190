r"""The numbers behind the explorer's page, without the page: one :class:`Explorer` per page holds a
model and a :class:`~dynsim.tools.plane.Plane` and answers each request of the page.

- :meth:`Explorer.view`: on the current plane, the direction field ``f(y)`` on a
  ``FIELD_GRID``:sup:`2` grid (arrows of one length in plot coordinates, ``d log10 y/dt = f/(y ln 10)``
  on a log axis), the nullclines ``f_x = 0`` and ``f_y = 0`` (zero contours of ``f`` on a
  ``NULLCLINE_GRID``:sup:`2` grid) and the stationary points ``f(y*) = 0`` found by
  Levenberg-Marquardt + Newton from a ``ROOT_GRID``:sup:`2` grid of starts (plus the model's closed
  form, padded to a fixed count), each classified from the eigenvalues of ``J = df/dy``. All three
  are one jitted, vmapped function of the model (its parameters are traced arrays) and of the grids
  (arrays of fixed shapes): a new parameter value, a zoom or a pan never recompiles.
- :meth:`Explorer.trajectory`: from a clicked state ``y0``, ``dy/dt = f(y)`` forward and
  ``dy/dt = -f(y)`` (backward time) in one batched solve, each stopped once it leaves a box of three
  times the window; the forward fate is the stable point reached (within ``1e-2`` of the window),
  the backward one the unstable point or saddle it came from.
- :meth:`Explorer.basins`: the basin map of the view at one resolution (the generic lanes of
  :mod:`dynsim.tools.basins`, stopped at a proven basin certificate); the page asks for
  ``BASIN_LEVELS`` in turn, coarse first.
- :meth:`Explorer.export`: the view as ``phase_portrait.{png,npz,json}``, computed and recorded
  exactly as ``dynsim phase-portrait`` does with the options of :meth:`Explorer.command_argv`
  (so ``dynsim rerun`` on the record reproduces its arrays bitwise).
"""

from __future__ import annotations

import dataclasses
import math
import shlex
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Float

from dynsim._core import aot as _aot
from dynsim._core.errors import DynsimInputError
from dynsim._core.loading import parse_params, with_params
from dynsim._core.solve import Status, solve
from dynsim._core.system import AbstractSystem, to_jax
from dynsim.tools.fixed_points import FixedPoints, _roots, collect_fixed_points, nearest_attractor
from dynsim.tools.manifolds import _left_box, _Rescaled
from dynsim.tools.plane import Plane, make_plane

FIELD_GRID = 24  # direction-field arrows per axis
NULLCLINE_GRID = 121  # samples per axis for the zero contours
ROOT_GRID = 8  # root-finder starts per axis (a redraw's cost is mostly this search)
CLOSED_SLOTS = 8  # the model's closed-form points, padded to this count (one shape: one compilation)
ROOT_TOL = 1e-13
N_SAVE = 400  # saved states per trajectory
BASIN_LEVELS = (32, 64, 128)  # the basin map's resolutions, coarse first
BASIN_BLOCK = 1024  # cells per call of the basin lanes (one shape: one compilation)
#: The ``dynsim phase-portrait`` defaults that an export uses (its record names them).
PORTRAIT_OPTIONS = {"n_traj": 16, "rtol": 1e-8, "atol": 1e-10, "max_steps": 100_000}


def error_line(e: DynsimInputError) -> str:
    """The one line ``dynsim`` prints on stderr for ``e`` (``dynsim: error: --eta: eta must be ...``)."""
    option = "--" + e.name.replace("_", "-") + ": " if e.name else ""
    return f"dynsim: error: {option}{e}"


# ---------------------------------------------------------------------------------------------
# The jitted work


def _view_numerics(model, field_pts, null_pts, starts, root_tol):
    """``f`` on the field and nullcline grids and the root search from ``starts``, in one trace."""
    vf = jax.vmap(lambda y: model.vector_field(0.0, y))
    return vf(field_pts), vf(null_pts), _roots(model, starts, root_tol, root_tol, 200, to_jax(0.0))


_view_jit = _aot.filter_jit("explore-view", (0, 0, (0,) * 5))(_view_numerics)


def _basin_numerics(lanes, y0, ts, log_positive):
    """Each lane integrated until its basin is proven (``certify >= 0``) or ``ts[-1]``: its label,
    ``-1`` (not settled) or ``-2`` (solver failure)."""
    from dynsim.tools.basins import FAILED, NOT_SETTLED, _stop

    sol = solve(lanes, y0, ts, rtol=1e-6, atol=1e-9, max_steps=20_000, stop_when=_stop, log_positive=log_positive)
    lab = jax.vmap(lambda ln, t, y: ln.certify(t, y))(lanes, sol.t_final, sol.y_final)
    ok = (sol.status == Status.SUCCESS) | (sol.status == Status.STOPPED)
    return jnp.where(ok, jnp.where(sol.status == Status.STOPPED, lab, NOT_SETTLED), FAILED)


_basin_jit = _aot.filter_jit("explore-basins", 0)(_basin_numerics)


# ---------------------------------------------------------------------------------------------
# Results


@dataclasses.dataclass(frozen=True)
class View:
    """One redraw: arrows, nullclines, stationary points (those in the window and the slice)."""

    plane: Plane
    arrows: dict[str, np.ndarray]  # x0, y0, x1, y1 (state coordinates), speed |f|
    nullclines: tuple[list[np.ndarray], list[np.ndarray]]  # polylines (k, 2) of f_x = 0 and f_y = 0
    fixed_points: FixedPoints  # every distinct point found
    shown: np.ndarray  # (m,) bool: in the window and in the plotted slice
    t1: float  # the trajectories' time span (20 times the slowest rate, as phase_portrait)
    seconds: float  # wall time of view()

    def points_table(self, names: tuple[str, ...]) -> dict[str, list]:
        """The shown stationary points as columns: coordinates, eigenvalue text, type."""
        fp, idx = self.fixed_points, np.flatnonzero(self.shown)
        a0, a1 = self.plane.axes
        return {"x": [float(fp.points[i, a0]) for i in idx], "y": [float(fp.points[i, a1]) for i in idx],
                "state": ["(" + ", ".join(f"{n} = {v:.6g}" for n, v in zip(names, fp.points[i])) + ")" for i in idx],
                "eigenvalues": [", ".join(_complex_text(v) for v in fp.eigenvalues[i]) for i in idx],
                "stability": [fp.stability[i] if fp.isolated[i] else "non-isolated" for i in idx]}


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """The solution through a clicked state: ``forward`` and ``backward`` states ``(k, n)``."""

    start: Float[np.ndarray, " n"]
    forward: Float[np.ndarray, "k n"]
    backward: Float[np.ndarray, "j n"]
    fate: str  # where the forward branch goes
    origin: str  # where the backward branch comes from
    attractor: int  # index into the view's fixed points of the stable point reached, or -1


def _complex_text(v: complex) -> str:
    return f"{v.real:.4g}" if v.imag == 0 else f"{v.real:.4g}{v.imag:+.4g}i"


def _coords(axis, v):
    v = np.asarray(v, float)
    if not axis.log:
        return v
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), np.nan)


def _uncoords(axis, u):
    return 10.0 ** np.asarray(u, float) if axis.log else np.asarray(u, float)


def _zero_lines(axis_x, axis_y, X, Y, F) -> list[np.ndarray]:
    """The polylines of ``F = 0`` (contourpy, matplotlib's contouring library), in state coordinates."""
    import contourpy

    F = np.where(np.isfinite(F), F, np.nan)
    if not np.isfinite(F).any() or not np.nanmin(F) < 0 < np.nanmax(F):
        return []
    gen = contourpy.contour_generator(_coords(axis_x, X[0]), _coords(axis_y, Y[:, 0]), F,
                                      line_type=contourpy.LineType.Separate)
    return [np.stack([_uncoords(axis_x, seg[:, 0]), _uncoords(axis_y, seg[:, 1])], 1) for seg in gen.lines(0.0)]


# ---------------------------------------------------------------------------------------------
# The explorer


class Explorer:
    """The state of one page: ``model`` (its scalar parameters as float64 arrays) on ``plane``.

    ``model_spec`` is how ``dynsim --model`` names the model (a built-in name, ``FILE.py:NAME``),
    for the export's command; by default the model's class or function by module and name.
    """

    def __init__(self, model: AbstractSystem, *, plane: Plane | None = None, window=None, axes=None, at=None,
                 model_spec: str | None = None, out: str | Path = "dynsim-out"):
        if not isinstance(model, AbstractSystem):
            raise DynsimInputError("model", f"explore takes an AbstractSystem (or a model loaded by --model), got "
                                            f"{type(model).__name__}")
        if model.batch_shape():
            raise DynsimInputError("model", "the explorer takes scalar parameters (one model, not a batch)")
        self.specs = tuple(s for s in model.param_specs() if np.ndim(getattr(model, s.name)) == 0)
        # every parameter a strong float64 array from the start: a new value never changes a type
        self.model = with_params(model, {s.name: float(getattr(model, s.name)) for s in self.specs})
        self.plane = plane or make_plane(self.model, window=window, axes=axes, at=at)
        self.home = self.plane
        self.model_spec = model_spec or _default_spec(model)
        self.out = Path(out)
        closed = model.stationary_points()
        self._has_closed = closed is not None
        self._last: View | None = None

    # -- parameters and window -----------------------------------------------------------------

    def value(self, name: str) -> float:
        return float(getattr(self.model, name))

    def set_param(self, name: str, value) -> None:
        """Set parameter ``name`` from a number or the text typed in its box; bad text, an unknown
        name or a value outside the declared range raise :class:`DynsimInputError` (as ``--param``)."""
        text = value if isinstance(value, str) else repr(float(value))
        values = parse_params([f"{name}={text.strip()}"])
        try:
            self.model = with_params(self.model, values)
        except DynsimInputError as e:  # the value came as NAME=VALUE: named --param, as the command line does
            raise DynsimInputError("param", str(e)) from None

    def set_window(self, x: tuple[float, float], y: tuple[float, float]) -> None:
        """The plotted ranges (zoom, pan); an empty, inverted or (on a log axis) non-positive range is
        refused with ``--window``'s message."""
        new = self.plane.with_ranges((float(x[0]), float(x[1])), (float(y[0]), float(y[1])))
        new.x.check("window")
        new.y.check("window")
        self.plane = new

    # -- the work --------------------------------------------------------------------------------

    def _closed_starts(self) -> np.ndarray:
        n = self.model.dim
        out = np.zeros((0, n))
        if self._has_closed:
            pts = self.model.stationary_points()
            out = np.zeros((0, n)) if pts is None else np.asarray(pts, float).reshape(-1, n)
            out = out[np.all(np.isfinite(out), axis=1)]
        slots = CLOSED_SLOTS * max(1, -(-len(out) // CLOSED_SLOTS))
        pad = self.plane.embed(self.plane.x.centres(1), self.plane.y.centres(1))
        return np.concatenate([out, np.repeat(pad, slots - len(out), 0)])

    def view(self) -> View:
        """The direction field, nullclines and stationary points of the current model and window."""
        start = time.perf_counter()
        pl, model = self.plane, self.model
        fX, fY = pl.grid(FIELD_GRID)
        nX, nY = pl.grid(NULLCLINE_GRID)
        sX, sY = np.meshgrid(pl.x.centres(ROOT_GRID), pl.y.centres(ROOT_GRID))
        starts = np.concatenate([pl.embed(sX.ravel(), sY.ravel()), self._closed_starts()])
        f1, f2, roots = _view_jit(model, to_jax(pl.embed(fX.ravel(), fY.ravel())),
                                  to_jax(pl.embed(nX.ravel(), nY.ravel())), to_jax(starts),
                                  to_jax(ROOT_TOL))
        a0, a1 = pl.axes
        f1, f2 = np.asarray(f1), np.asarray(f2)
        fp = collect_fixed_points(*_distinct(roots, 1e3 * ROOT_TOL), atol=1e3 * ROOT_TOL)
        shown = pl.contains(fp.points, margin=0.01) & pl.in_slice(fp.points) if len(fp) else np.zeros(0, bool)
        arrows = self._arrows(fX.ravel(), fY.ravel(), f1[:, a0], f1[:, a1])
        null = (_zero_lines(pl.x, pl.y, nX, nY, f2[:, a0].reshape(nX.shape)),
                _zero_lines(pl.x, pl.y, nX, nY, f2[:, a1].reshape(nX.shape)))
        view = View(pl, arrows, null, fp, shown, _default_t1(fp), time.perf_counter() - start)
        self._last = view
        return view

    def _arrows(self, x, y, fx, fy) -> dict[str, np.ndarray]:
        pl = self.plane
        ux, uy = _coords(pl.x, x), _coords(pl.y, y)
        # the field in plot coordinates, in units of the window
        gx = (fx / (x * math.log(10)) if pl.x.log else fx) / (_coords(pl.x, pl.x.hi) - _coords(pl.x, pl.x.lo))
        gy = (fy / (y * math.log(10)) if pl.y.log else fy) / (_coords(pl.y, pl.y.hi) - _coords(pl.y, pl.y.lo))
        with np.errstate(invalid="ignore", divide="ignore"):
            norm = np.hypot(gx, gy)
            ok = np.isfinite(norm) & (norm > 0)
            length = 0.6 / FIELD_GRID
            dx = np.where(ok, gx / np.where(ok, norm, 1.0), 0.0) * length * (_coords(pl.x, pl.x.hi) - _coords(pl.x, pl.x.lo))
            dy = np.where(ok, gy / np.where(ok, norm, 1.0), 0.0) * length * (_coords(pl.y, pl.y.hi) - _coords(pl.y, pl.y.lo))
        ux, uy, dx, dy = ux[ok], uy[ok], dx[ok], dy[ok]
        return {"x0": _uncoords(pl.x, ux - dx / 2), "y0": _uncoords(pl.y, uy - dy / 2),
                "x1": _uncoords(pl.x, ux + dx / 2), "y1": _uncoords(pl.y, uy + dy / 2),
                "speed": np.hypot(fx, fy)[ok]}

    def trajectory(self, x: float, y: float) -> Trajectory:
        """Forward and backward from the state with plotted coordinates ``(x, y)`` (others at ``at``)."""
        view = self._last or self.view()
        pl, model = self.plane, self.model
        for name, v, axis in (("x", x, pl.x), ("y", y, pl.y)):
            if not math.isfinite(v) or (axis.log and v <= 0):
                raise DynsimInputError(name, f"the clicked {axis.name} = {v!r} is not a state of the plot")
        y0 = pl.embed(np.asarray(x, float), np.asarray(y, float))
        positive = list(model.positive)
        if positive and np.any(y0[positive] <= 0):
            raise DynsimInputError("y0", f"{', '.join(model.state_names[i] for i in positive)} must be > 0 "
                                         "(the model keeps its sign)")
        lo, hi = np.full(model.dim, -np.inf), np.full(model.dim, np.inf)
        for a, axis in zip(pl.axes, (pl.x, pl.y)):
            if axis.log:
                lo[a], hi[a] = axis.lo * 1e-2, axis.hi * 1e2
            else:
                lo[a], hi[a] = axis.lo - axis.width, axis.hi + axis.width
        lanes = _Rescaled(model=model, scale=np.array([1.0, -1.0]), lo=np.broadcast_to(lo, (2, model.dim)),
                          hi=np.broadcast_to(hi, (2, model.dim)))
        t1 = view.t1
        ts = np.concatenate([[0.0], np.geomspace(t1 * 1e-6, t1, N_SAVE - 1)])
        sol = solve(lanes, np.stack([y0, y0]), ts, rtol=1e-8, atol=1e-10, max_steps=20_000, stop_when=_left_box,
                    log_positive=bool(positive) and bool(np.all(y0[positive] > 0)))
        ys, status = np.asarray(sol.ys), np.asarray(sol.status)
        fwd, bwd = (ys[k][np.all(np.isfinite(ys[k]), axis=1)] for k in (0, 1))
        fp = view.fixed_points
        stable = np.flatnonzero(fp.stable & fp.isolated)
        scale = pl.scale()
        lab = nearest_attractor(fwd[-1], fp.points[stable], scale, tol=1e-2) if len(fwd) else -1
        attractor = int(stable[lab]) if lab >= 0 else -1
        fate = (f"to the {fp.stability[attractor]} at {_point(fp.points[attractor])}" if attractor >= 0
                else _status_text(int(status[0]), "forward"))
        others = np.flatnonzero(~fp.stable & fp.isolated)
        back = nearest_attractor(bwd[-1], fp.points[others], scale, tol=1e-2) if len(bwd) and len(others) else -1
        origin = (f"from the {fp.stability[others[back]]} at {_point(fp.points[others[back]])}" if back >= 0
                  else _status_text(int(status[1]), "backward"))
        return Trajectory(y0, fwd, bwd, fate, origin, attractor)

    def basins(self, grid: int):
        """The basin labels of the view on a ``grid x grid`` map of cell centres: ``(labels (grid,
        grid), attractor points (m, n))``; labels index the points, ``-1`` not settled, ``-2`` failed.

        The lanes and certificates are those of :mod:`dynsim.tools.basins` (a lane stops once it is
        proven inside a basin); the cells go in blocks of ``BASIN_BLOCK`` (the last one padded) through
        one jitted solve, so every resolution uses the same compiled code."""
        from dynsim.tools.basins import _lanes, default_t1

        pl, model = self.plane, self.model
        X, Y = np.meshgrid(pl.x.centres(grid), pl.y.centres(grid))
        y0 = pl.embed(X.ravel(), Y.ravel())
        labels, points = np.empty(len(y0), np.int8), None
        positive = list(model.positive)
        for lo in range(0, len(y0), BASIN_BLOCK):
            block = y0[lo:lo + BASIN_BLOCK]
            padded = np.concatenate([block, np.repeat(block[:1], BASIN_BLOCK - len(block), 0)])
            lanes, att = _lanes(model, pl, padded, True)
            t1 = default_t1(model, att)
            log_pos = bool(positive) and bool(np.all(padded[:, positive] > 0))
            lab = _basin_jit(lanes, to_jax(padded), to_jax(np.array([0.0, t1])), log_pos)
            labels[lo:lo + len(block)] = np.asarray(lab)[:len(block)]
            points = att.points if points is None else points
        return labels.reshape(grid, grid), points

    # -- export ----------------------------------------------------------------------------------

    def command_argv(self) -> list[str]:
        """The arguments of the ``dynsim`` command that draws the current view (without ``--out``)."""
        argv = ["phase-portrait", "--model", self.model_spec]
        for s in self.specs:
            argv += ["--param", f"{s.name}={self.value(s.name)!r}"]
        pl = self.plane
        window = ",".join(f"{a.lo!r}:{a.hi!r}" + (":log" if a.log else "") for a in (pl.x, pl.y))
        argv.append(f"--window={window}")
        if tuple(pl.axes) != (0, 1):
            argv.append(f"--axes={pl.axes[0]},{pl.axes[1]}")
        if any(v != 0.0 for k, v in enumerate(pl.at) if k not in pl.axes):
            argv.append("--at=" + ",".join(repr(float(v)) for v in pl.at))
        return argv

    def command(self, out: str | Path | None = None) -> str:
        """The shell command (quoted) that writes the same figure, ``.npz`` and ``.json``."""
        return "dynsim " + " ".join(shlex.quote(a) for a in [*self.command_argv(), "--out",
                                                              str(self.out if out is None else out)])

    def export(self, out: str | Path | None = None, *, fmt: str = "png", size: str = "page") -> dict[str, Path]:
        """Write the view as ``phase_portrait.{fmt,npz,json}`` into ``out`` (default the explorer's
        ``out``): the portrait of ``dynsim phase-portrait`` with :meth:`command_argv`, recorded as that
        command records it (``dynsim rerun`` on the ``.json`` recomputes it)."""
        from dynsim._core.aot import _source_hash
        from dynsim._core.io import check_out_dir, write_outputs
        from dynsim.tools.phase_portrait import phase_portrait, plot_phase_portrait

        import dynsim

        start = time.perf_counter()
        out = Path(self.out if out is None else out)
        check_out_dir(out, ["phase_portrait"], formats=(fmt,))
        plane = make_plane(self.model, window=[(a.lo, a.hi, a.log) for a in (self.plane.x, self.plane.y)],
                           axes=self.plane.axes, at=self.plane.at)
        pp = phase_portrait(self.model, plane=plane, **PORTRAIT_OPTIONS)
        argv = [*self.command_argv(), "--out", str(out)]
        parameters = {"model_spec": self.model_spec, "model": type(self.model).__name__,
                      "model_parameters": {k: np.asarray(v).tolist() for k, v in self.model.parameters().items()},
                      "plane": plane.record(), "t1": pp.solver["t1"], **{k: v for k, v in PORTRAIT_OPTIONS.items()
                                                                          if k != "n_traj"},
                      "n_traj": PORTRAIT_OPTIONS["n_traj"], "size": size}
        record = {"command": "phase-portrait", "argv": argv, "parameters": parameters, "exported_by": "dynsim explore",
                  "shell_command": self.command(out), "source": {"dynsim": dynsim.__version__,
                                                                 "source_sha256": _source_hash()},
                  "summary": pp.summary(), "runtime_s": None}
        arrays = pp.arrays()
        record["arrays"] = {k: {"shape": list(np.shape(v)), "dtype": str(np.asarray(v).dtype)} for k, v in arrays.items()}
        job_s = time.perf_counter() - start
        figure = plot_phase_portrait(pp, size=size)
        figure_s = time.perf_counter() - start - job_s
        record["runtime_s"] = round(time.perf_counter() - start, 3)
        return write_outputs(out, "phase_portrait", figure=figure, arrays=arrays, record=record, fmt=fmt,
                             timing={"job": round(job_s, 3), "figure": round(figure_s, 3)})


def _distinct(roots, atol: float, rtol: float = 1e-7):
    """The root-search outputs restricted to one start per distinct converged root (vectorised; the
    same rule as :func:`~dynsim.tools.fixed_points.collect_fixed_points`, which then classifies few)."""
    ys, converged, residual = (np.asarray(r) for r in roots[:3])
    good = np.flatnonzero(converged & np.all(np.isfinite(ys), axis=-1) & (residual <= atol))
    good = good[np.argsort(residual[good], kind="stable")]
    y = ys[good]
    size = np.max(np.abs(y), axis=-1)
    close = np.max(np.abs(y[:, None] - y[None]), axis=-1) <= 1e-10 + rtol * np.maximum(size[:, None], size[None])
    keep = np.zeros(len(good), bool)
    for i in range(len(good)):
        keep[i] = not np.any(close[i, :i] & keep[:i])
    idx = good[keep]
    return tuple(np.asarray(r)[idx] for r in roots)


def _default_t1(fp: FixedPoints) -> float:
    """``20`` times the slowest rate of the stationary points found (``[10, 1e5]``), as the portrait."""
    rates = np.abs(np.real(fp.eigenvalues[fp.isolated])) if len(fp.points) else np.zeros(0)
    rates = rates[rates > 1e-12]
    return float(np.clip(20.0 / rates.min(), 10.0, 1e5)) if rates.size else 50.0


def _point(y) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in y) + ")"


def _status_text(status: int, direction: str) -> str:
    if status == Status.STOPPED:
        return "leaves the view" if direction == "forward" else "comes from outside the view"
    if status == Status.DIVERGED:
        return "blows up" if direction == "forward" else "blows up in backward time"
    if status == Status.SUCCESS:
        return "not settled at t1" if direction == "forward" else "from no stationary point by t1"
    return f"solver stopped ({Status(status).label})"


def _default_spec(model: AbstractSystem) -> str:
    """``module:Name`` of the model's class (or of its function, for :func:`~dynsim.from_function`), as
    ``--model package.module:NAME`` reads it."""
    cls = type(model)
    target = getattr(cls, "function", None) or cls
    return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', cls.__name__)}"
