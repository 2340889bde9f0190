"""Where a 2-D tool looks: two coordinates of a model's state, a range for each, the others held.

A :class:`Plane` is the slice ``{y : y_k = at_k for k not in axes}`` of the state space, with
``y[axes[0]]`` in ``x`` and ``y[axes[1]]`` in ``y`` (each an :class:`Axis`, linear or log). Every
generic 2-D tool (phase portrait, basin map, the explorer) takes one.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from dynsim._core.errors import DynsimInputError
from dynsim._core.system import AbstractSystem, check_param


@dataclasses.dataclass(frozen=True)
class Axis:
    """Values along one axis: ``num`` points on ``[lo, hi]``, linear or log."""

    name: str
    lo: float
    hi: float
    num: int = 2
    log: bool = False

    def check(self, option: str | None = None) -> None:
        opt_lo, opt_hi = (option, option) if option else (f"{self.name}_min", f"{self.name}_max")
        check_param(opt_lo, self.lo)
        check_param(opt_hi, self.hi)
        if not self.lo < self.hi:
            raise DynsimInputError(opt_lo, f"the {self.name} range is empty or inverted: "
                                           f"{self.name}_min={self.lo:g} >= {self.name}_max={self.hi:g}")
        if self.log and self.lo <= 0:
            raise DynsimInputError(opt_lo, f"a log {self.name} axis needs {self.name}_min > 0 (got {self.lo:g})")
        if not math.isfinite(self.hi - self.lo) or (self.log and not math.isfinite(math.log(self.hi / self.lo))):
            raise DynsimInputError(opt_lo, f"the {self.name} range is too wide to sample ({self.lo:g} to {self.hi:g})")
        if not isinstance(self.num, (int, np.integer)) or self.num < 2:
            raise DynsimInputError("grid", f"the grid needs at least 2 points per axis (got {self.num!r})")

    def values(self, num: int | None = None) -> np.ndarray:
        n = self.num if num is None else num
        return np.geomspace(self.lo, self.hi, n) if self.log else np.linspace(self.lo, self.hi, n)

    def centres(self, num: int) -> np.ndarray:
        """``num`` cell centres (in log space for a log axis)."""
        u = (np.arange(num) + 0.5) / num
        if self.log:
            return self.lo * (self.hi / self.lo) ** u
        return self.lo + u * (self.hi - self.lo)

    def normalise(self, v):
        """``v`` mapped to ``[0, 1]`` over the axis (in log space for a log axis)."""
        v = np.asarray(v, float)
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.log(v / self.lo) / math.log(self.hi / self.lo)
        return (v - self.lo) / (self.hi - self.lo)

    def with_range(self, lo: float, hi: float) -> "Axis":
        return dataclasses.replace(self, lo=float(lo), hi=float(hi))

    @property
    def width(self) -> float:
        return self.hi - self.lo


@dataclasses.dataclass(frozen=True)
class Plane:
    """Two coordinates ``axes`` of an ``n``-D state, their ranges ``x``, ``y``, and the state ``at``
    that fixes every other coordinate (its entries at ``axes`` are ignored)."""

    axes: tuple[int, int]
    x: Axis
    y: Axis
    at: tuple[float, ...]

    @property
    def dim(self) -> int:
        return len(self.at)

    def embed(self, xs, ys) -> np.ndarray:
        """States ``(..., n)`` with coordinates ``axes`` set to ``xs``, ``ys`` and the rest at ``at``."""
        xs, ys = np.broadcast_arrays(np.asarray(xs, float), np.asarray(ys, float))
        out = np.broadcast_to(np.asarray(self.at, float), (*xs.shape, self.dim)).copy()
        out[..., self.axes[0]] = xs
        out[..., self.axes[1]] = ys
        return out

    def grid(self, num: int) -> tuple[np.ndarray, np.ndarray]:
        """``(X, Y)`` meshgrids of ``num x num`` points (rows: y)."""
        return np.meshgrid(self.x.values(num), self.y.values(num))

    def interior(self, num: int) -> np.ndarray:
        """``num`` states spread over the plane (cell centres of a near-square grid), ``(num, n)``."""
        rows = max(1, math.isqrt(num))
        cols = -(-num // rows)
        X, Y = np.meshgrid(self.x.centres(cols), self.y.centres(rows))
        return self.embed(X.ravel()[:num], Y.ravel()[:num])

    def project(self, ys) -> tuple[np.ndarray, np.ndarray]:
        ys = np.asarray(ys)
        return ys[..., self.axes[0]], ys[..., self.axes[1]]

    def contains(self, ys, margin: float = 0.0) -> np.ndarray:
        """States whose plotted coordinates lie in the window (widened by ``margin`` of its size)."""
        u, v = self.x.normalise(self.project(ys)[0]), self.y.normalise(self.project(ys)[1])
        return (u >= -margin) & (u <= 1 + margin) & (v >= -margin) & (v <= 1 + margin)

    def in_slice(self, ys, rtol: float = 1e-6) -> np.ndarray:
        """States whose other coordinates equal ``at`` (to ``rtol`` of the window's scale)."""
        ys = np.asarray(ys, float)
        others = [k for k in range(self.dim) if k not in self.axes]
        if not others:
            return np.ones(ys.shape[:-1], bool)
        scale = max(self.x.width, self.y.width, 1.0)
        at = np.asarray(self.at, float)[others]
        return np.all(np.abs(ys[..., others] - at) <= rtol * np.maximum(scale, np.abs(at)), axis=-1)

    def scale(self) -> np.ndarray:
        """A per-component scale of the state space (window widths on the plotted axes)."""
        s = np.maximum(np.abs(np.asarray(self.at, float)), 1.0)
        s[self.axes[0]], s[self.axes[1]] = self.x.width, self.y.width
        return s

    def with_ranges(self, x: tuple[float, float], y: tuple[float, float]) -> "Plane":
        return dataclasses.replace(self, x=self.x.with_range(*x), y=self.y.with_range(*y))

    def record(self) -> dict:
        return {"axes": list(self.axes), "x": dataclasses.asdict(self.x), "y": dataclasses.asdict(self.y),
                "at": list(self.at)}


def parse_window(text: str) -> list[tuple[float, float, bool]]:
    """``LO:HI,LO:HI`` (a ``:log`` suffix makes an axis logarithmic) -> ``[(lo, hi, log), ...]``."""
    out = []
    for part in text.split(","):
        bits = part.strip().split(":")
        if len(bits) not in (2, 3) or (len(bits) == 3 and bits[2] not in ("log", "lin", "linear")):
            raise DynsimInputError("window", f"expected LO:HI[,LO:HI] with an optional :log per axis, got {text!r}")
        try:
            lo, hi = float(bits[0]), float(bits[1])
        except ValueError:
            raise DynsimInputError("window", f"expected numbers in LO:HI, got {part!r}") from None
        out.append((lo, hi, len(bits) == 3 and bits[2] == "log"))
    return out


def _window_from_fixed_points(model: AbstractSystem, axes, at) -> list[tuple[float, float]]:
    """The bounding box of the stationary points near the origin, padded (``[-1, 1]`` at least)."""
    from dynsim.tools.fixed_points import find_fixed_points, grid_starts

    lo, hi = np.full(2, -1.0), np.full(2, 1.0)
    starts = np.broadcast_to(np.asarray(at, float), (144, model.dim)).copy()
    g = grid_starts([-3.0, -3.0], [3.0, 3.0], 12)
    starts[:, axes[0]], starts[:, axes[1]] = g[:, 0], g[:, 1]
    try:
        fp = find_fixed_points(model, starts)
        pts = fp.points[:, list(axes)]
        pts = pts[np.all(np.abs(pts) < 1e6, axis=1)]
    except Exception:  # noqa: BLE001 - a model whose roots cannot be searched gets the unit box
        pts = np.zeros((0, 2))
    if len(pts):
        lo, hi = np.minimum(lo, pts.min(0)), np.maximum(hi, pts.max(0))
        pad = 0.25 * (hi - lo)
        lo, hi = lo - pad, hi + pad
    return [(float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))]


def make_plane(model: AbstractSystem, *, window=None, axes: tuple[int, int] | None = None, at=None,
               num: int = 2, log: tuple[bool, bool] | None = None) -> Plane:
    """A :class:`Plane` for ``model``: ``axes`` (default the first two coordinates), ``window`` as
    ``[(lo, hi), (lo, hi)]`` (or ``(lo, hi, log)`` triples, or the text ``LO:HI,LO:HI``), ``at`` the
    held state (default the window's centre on the plotted axes, zeros elsewhere).

    Without a window: the model's :meth:`~AbstractSystem.default_window`, else the padded box of its
    stationary points near the origin."""
    n = model.dim
    if n < 2:
        raise DynsimInputError("model", f"a plane needs a model with at least 2 state components (this one has {n})")
    axes = (0, 1) if axes is None else tuple(int(a) for a in axes)
    if len(axes) != 2 or axes[0] == axes[1] or not all(0 <= a < n for a in axes):
        raise DynsimInputError("axes", f"axes must be two different indices in 0..{n - 1} (got {axes})")
    if at is None:
        at = np.zeros(n)
    at = np.asarray(at, float).ravel()
    if at.shape != (n,):
        raise DynsimInputError("at", f"at must give all {n} state components ({', '.join(model.state_names)}), "
                                     f"got {at.size}")
    check_param("at", at)
    if isinstance(window, str):
        window = parse_window(window)
    if window is None:
        full = model.default_window()
        window = [full[axes[0]], full[axes[1]]] if full is not None else _window_from_fixed_points(model, axes, at)
    window = list(window)
    if len(window) != 2:
        raise DynsimInputError("window", f"the window gives a range for the two plotted coordinates (got {len(window)})")
    logs = [bool(w[2]) if len(w) > 2 else False for w in window]
    if log is not None:
        logs = [a or b for a, b in zip(logs, log)]
    names = [model.state_names[a] for a in axes]
    ax = [Axis(nm, float(w[0]), float(w[1]), num, lg) for nm, w, lg in zip(names, window, logs)]
    for a in ax:
        a.check("window")
    return Plane(axes, ax[0], ax[1], tuple(float(v) for v in at))


def parse_spec(text: str, *, with_num: bool = True, option: str = "over") -> tuple[str, float, float, int | None, bool]:
    """``NAME=LO:HI:N[:log]`` (or ``NAME=LO:HI[:log]`` with ``with_num=False``) -> ``(name, lo, hi,
    num, log)``; malformed text is a :class:`DynsimInputError` naming ``option``."""
    form = "NAME=LO:HI:N[:log]" if with_num else "NAME=LO:HI[:log]"
    name, sep, spec = text.partition("=")
    parts = spec.split(":")
    n = 3 if with_num else 2
    if not sep or not name.strip() or len(parts) not in (n, n + 1) or (
            len(parts) == n + 1 and parts[n] not in ("log", "linear")):
        raise DynsimInputError(option, f"expected {form}, got {text!r}")
    try:
        lo, hi = float(parts[0]), float(parts[1])
        num = int(parts[2]) if with_num else None
    except ValueError:
        raise DynsimInputError(option, f"expected numbers in {form}, got {text!r}") from None
    return name.strip().replace("-", "_"), lo, hi, num, len(parts) == n + 1 and parts[n] == "log"
