r"""Invariant manifolds of saddles: the one-dimensional stable and unstable manifolds of every
saddle, traced by integrating from ``y^* \pm \epsilon v`` along each eigenvector ``v`` whose
eigenvalue is the only one of its sign (forward for the unstable, backward for the stable one).

Each branch runs in the rescaled time ``\tau = |\lambda| t`` (so one time grid serves saddles of
very different rates) until it leaves a box around the window or reaches ``\tau = 30``.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from dynsim._core.solve import solve
from dynsim._core.system import AbstractWrapper, param
from dynsim.tools.fixed_points import FixedPoints
from dynsim.tools.plane import Plane

MAX_BRANCHES = 16  # branches integrated at once (padded: one shape, one compilation)


class _Rescaled(AbstractWrapper):
    """``dy/d tau = scale f(y)``: time rescaled (and reversed for ``scale < 0``), stopped outside
    the box ``[lo, hi]``."""

    scale: Float[Array, "*batch"] = param()
    lo: Float[Array, "*batch n"] = param(ndim=1)
    hi: Float[Array, "*batch n"] = param(ndim=1)

    def vector_field(self, t, y):
        return self.scale * self.model.vector_field(t, y)

    def log_rate(self, t, y):
        return self.scale * self.model.log_rate(t, y)


def _left_box(t, y, system):
    return jnp.any(y < system.lo) | jnp.any(y > system.hi)


@dataclasses.dataclass(frozen=True)
class Branch:
    kind: str  # "stable" or "unstable"
    saddle: int  # index into the fixed points
    points: np.ndarray  # (k, n)


def saddle_branches(model, fixed_points: FixedPoints, plane: Plane, *, eps: float = 1e-5, n_save: int = 600,
                    tau_max: float = 30.0, rtol: float = 1e-9, atol: float = 1e-12) -> list[Branch]:
    """The 1-D stable and unstable manifolds of the saddles in ``fixed_points`` (up to
    ``MAX_BRANCHES`` branches), each a polyline in state space."""
    seeds, scales, meta = [], [], []
    scale = plane.scale()
    positive = list(model.positive)
    for i, (y, jac, st) in enumerate(zip(fixed_points.points, fixed_points.jacobians, fixed_points.stability)):
        if st != "saddle" or not fixed_points.isolated[i]:
            continue
        lam, vec = np.linalg.eig(jac)
        for j, l in enumerate(lam):
            if abs(l.imag) > 1e-12 * max(1.0, abs(l)) or l.real == 0:
                continue
            same = np.sum(np.sign(lam.real) == np.sign(l.real))
            if same != 1:
                continue
            v = np.real(vec[:, j]) * scale
            v /= np.max(np.abs(v / scale))
            for sign in (1.0, -1.0):
                y0 = y + sign * eps * v
                if positive and np.any(y0[positive] <= 0):
                    continue  # across an invariant boundary (e.g. s = 0): outside the state space
                seeds.append(y0)
                scales.append(np.sign(l.real) / abs(l.real))
                meta.append(("unstable" if l.real > 0 else "stable", i))
    if not seeds:
        return []
    seeds, scales, meta = seeds[:MAX_BRANCHES], scales[:MAX_BRANCHES], meta[:MAX_BRANCHES]
    k = len(seeds)
    pad = MAX_BRANCHES - k
    y0 = np.concatenate([np.asarray(seeds), np.repeat(np.asarray(seeds[:1]), pad, 0)])
    sc = np.concatenate([np.asarray(scales), np.repeat(scales[:1], pad)])
    lo = np.full(model.dim, -np.inf)
    hi = np.full(model.dim, np.inf)
    for a, axis in zip(plane.axes, (plane.x, plane.y)):
        if axis.log:
            lo[a], hi[a] = axis.lo * 1e-3, axis.hi * 1e3
        else:
            lo[a], hi[a] = axis.lo - 2 * axis.width, axis.hi + 2 * axis.width
    lanes = _Rescaled(model=model, scale=sc, lo=np.broadcast_to(lo, (MAX_BRANCHES, model.dim)),
                      hi=np.broadcast_to(hi, (MAX_BRANCHES, model.dim)))
    ts = np.linspace(0.0, tau_max, n_save)
    sol = solve(lanes, y0, ts, rtol=rtol, atol=atol, max_steps=20_000, stop_when=_left_box,
                log_positive=bool(positive))
    ys = np.asarray(sol.ys)
    out = []
    for b in range(k):
        pts = ys[b]
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        pts = np.concatenate([fixed_points.points[meta[b][1]][None], pts])
        out.append(Branch(meta[b][0], meta[b][1], pts))
    return out
