"""Stationary points and their stability, for any :class:`AbstractSystem`.

Stationary points are found from many starting points, vmapped (optimistix:
Levenberg-Marquardt, then a Newton polish), then deduplicated; each is classified from the eigenvalues of the Jacobian
``J = df/dy`` (``jax.jacfwd``).
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dynsim._core import aot as _aot
import optimistix as optx
from jaxtyping import Array, ArrayLike, Float

from dynsim._core.errors import DynsimInputError
from dynsim._core.system import AbstractSystem, check_param, to_jax


def jacobian(system: AbstractSystem, y: Float[ArrayLike, " n"], t: float = 0.0) -> Float[Array, "n n"]:
    """``J_ik = d f_i / d y_k`` at ``(t, y)``.

    ``y`` must have shape ``(system.dim,)`` and, where it is concrete (not traced), be finite.
    """
    y = jnp.asarray(y, float)
    if y.shape != (system.dim,):
        names = f" (the state {', '.join(system.state_names)})" if system.state_names else ""
        raise DynsimInputError("y", f"y must have shape ({system.dim},){names}, got {y.shape}")
    check_param("y", y)
    check_param("t", t)
    return jax.jacfwd(lambda x: system.vector_field(t, x))(y)


def classify(eigenvalues: np.ndarray, zero_tol: float = 1e-9) -> str:
    """Name a stationary point from its Jacobian eigenvalues.

    ``degenerate`` when some ``|Re lambda| <= zero_tol * max(1, max |lambda|)`` (linearisation
    inconclusive), else ``saddle`` (mixed signs), or ``stable``/``unstable`` ``node`` or
    ``spiral`` (complex pair).
    """
    try:
        lam = np.asarray(eigenvalues, complex)
    except (TypeError, ValueError):
        raise DynsimInputError("eigenvalues", "eigenvalues must be numbers") from None
    if lam.ndim > 1 or lam.size == 0:
        raise DynsimInputError("eigenvalues", f"eigenvalues must be a non-empty vector, got shape {lam.shape}")
    if not np.all(np.isfinite(lam)):
        raise DynsimInputError("eigenvalues", f"eigenvalues must be finite (got {_show_complex(lam)})")
    check_param("zero_tol", zero_tol, lower=0.0)
    lam = lam.reshape(-1)
    tol = zero_tol * max(1.0, float(np.max(np.abs(lam))))
    re = lam.real
    if np.any(np.abs(re) <= tol):
        return "degenerate"
    kind = "spiral" if np.any(np.abs(lam.imag) > tol) else "node"
    if np.all(re < 0):
        return f"stable {kind}"
    if np.all(re > 0):
        return f"unstable {kind}"
    return "saddle"


def _show_complex(lam: np.ndarray) -> str:
    flat = lam.reshape(-1)
    text = ", ".join(f"{v.real:g}" if v.imag == 0 else f"{v.real:g}{v.imag:+g}j" for v in flat[:4])
    return "[" + text + (", ...]" if flat.size > 4 else "]")


@dataclasses.dataclass(frozen=True)
class FixedPoints:
    """Distinct stationary points, sorted, with their linear stability."""

    points: np.ndarray  # (m, n)
    jacobians: np.ndarray  # (m, n, n)
    eigenvalues: np.ndarray  # (m, n) complex
    stability: tuple[str, ...]
    residual: np.ndarray  # (m,) max |f(y*)|
    isolated: np.ndarray  # (m,) False for points on a continuum of stationary points

    def __len__(self) -> int:
        return len(self.stability)

    @property
    def stable(self) -> np.ndarray:
        return np.array([s.startswith("stable") for s in self.stability], bool)

    def records(self, names: tuple[str, ...]) -> list[dict]:
        """JSON-ready description of each point."""
        out = []
        for y, lam, st, r, iso in zip(self.points, self.eigenvalues, self.stability, self.residual,
                                      self.isolated):
            out.append({
                **{k: float(v) for k, v in zip(names, y)},
                "eigenvalues": [float(v.real) if v.imag == 0 else [float(v.real), float(v.imag)] for v in lam],
                "stability": st,
                "residual": float(r),
                "isolated": bool(iso),
            })
        return out


def _roots(system, starts, rtol, atol, max_steps, t):
    """Traceable: from each start, Levenberg-Marquardt on ``|f|^2`` (a trust region, so starts
    far from a root still get there) then a Newton polish to full precision. Returns roots,
    success flags, residuals ``max |f|``, Jacobians and the null-direction probe."""
    fn = lambda y, s: s.vector_field(t, y)
    lm = optx.LevenbergMarquardt(rtol=1e-10, atol=1e-14)
    newton = optx.Newton(rtol=rtol, atol=atol)

    def one(y0):
        rough = optx.least_squares(fn, lm, y0, args=system, max_steps=max_steps, throw=False).value
        polished = optx.root_find(fn, newton, rough, args=system, max_steps=max_steps, throw=False)
        ok = polished.result == optx.RESULTS.successful
        y = jnp.where(ok, polished.value, rough)  # a degenerate root may defeat Newton: keep LM's
        res = jnp.max(jnp.abs(system.vector_field(t, y)))
        jac = jacobian(system, y, t)
        # |f| a small step along J's null direction: ~0 on a continuum of stationary points,
        # O(h^2) at an isolated degenerate one (e.g. a saddle-node).
        v = jnp.linalg.svd(jac)[2][-1]
        h = 1e-3 * (1.0 + jnp.max(jnp.abs(y)))
        probe = jnp.maximum(jnp.max(jnp.abs(fn(y + h * v, system))), jnp.max(jnp.abs(fn(y - h * v, system))))
        return y, ok | (res <= atol), res, jac, probe

    return jax.vmap(one)(starts)


# Through the serialized-job cache: a new process loads the exported search instead of tracing
# optimistix again (in one process, eqx.filter_jit's behaviour).
_roots_jit = _aot.filter_jit("roots", (0,) * 5)(_roots)


def collect_fixed_points(roots, converged, residual, jacobians, probe, *, atol: float = 1e-10,
                         dedup_rtol: float = 1e-7, dedup_atol: float = 1e-10,
                         zero_tol: float = 1e-9) -> FixedPoints:
    """Keep converged, finite roots (``max |f| <= atol``), merge duplicates, classify.

    A degenerate point whose null-direction ``probe`` is ``<= atol`` lies on a continuum of
    stationary points and is marked not ``isolated``."""
    roots, converged, probe = np.asarray(roots), np.asarray(converged), np.asarray(probe)
    residual, jacobians = np.asarray(residual), np.asarray(jacobians)
    good = converged & np.all(np.isfinite(roots), axis=-1) & (residual <= atol)
    good &= np.all(np.isfinite(jacobians), axis=(-2, -1))
    idx = np.flatnonzero(good)
    idx = idx[np.argsort(residual[idx], kind="stable")]
    kept: list[int] = []
    for i in idx:
        y = roots[i]
        if not any(np.max(np.abs(y - roots[j])) <= dedup_atol + dedup_rtol * max(
                np.max(np.abs(y)), np.max(np.abs(roots[j]))) for j in kept):
            kept.append(i)
    kept = sorted(kept, key=lambda i: tuple(roots[i]))
    n = roots.shape[-1]
    jac = jacobians[kept].reshape(-1, n, n)
    lam = np.array([np.linalg.eigvals(J) for J in jac]).reshape(-1, n)
    stability = tuple(classify(l, zero_tol) for l in lam)
    isolated = np.array([st != "degenerate" or probe[i] > atol for st, i in zip(stability, kept)], bool)
    return FixedPoints(roots[kept].reshape(-1, n), jac, lam, stability, residual[kept], isolated)


def find_fixed_points(system: AbstractSystem, starts: Float[ArrayLike, "k n"], *, t: float = 0.0,
                      rtol: float = 1e-13, atol: float = 1e-13, max_steps: int = 200,
                      dedup_rtol: float = 1e-7, dedup_atol: float = 1e-10,
                      zero_tol: float = 1e-9) -> FixedPoints:
    """All distinct stationary points reached from ``starts`` (Levenberg-Marquardt + Newton).

    Works for any system (no closed form needed): the more starts cover the region of
    interest, the more points are found. Use :func:`grid_starts` for a box.
    """
    starts = jnp.asarray(starts, float)
    if starts.ndim != 2 or starts.shape[1] != system.dim or starts.shape[0] == 0:
        raise DynsimInputError("starts", f"starts must have shape (k, {system.dim}), got {starts.shape}")
    check_param("starts", starts)
    check_param("t", t)
    for name, value in (("rtol", rtol), ("atol", atol), ("dedup_rtol", dedup_rtol),
                        ("dedup_atol", dedup_atol), ("zero_tol", zero_tol)):
        check_param(name, value, lower=0.0)
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise DynsimInputError("max_steps", f"max_steps must be a positive integer (got {max_steps!r})")
    out = _roots_jit(system, starts, to_jax(rtol), to_jax(atol), max_steps, jnp.asarray(t, float))
    return collect_fixed_points(*out, atol=max(atol, 1e-300) * 1e3, dedup_rtol=dedup_rtol,
                                dedup_atol=dedup_atol, zero_tol=zero_tol)


def grid_starts(lower: ArrayLike, upper: ArrayLike, num: int) -> np.ndarray:
    """``num`` points per axis on a regular grid over the box ``[lower, upper]``: shape ``(num**n, n)``."""
    lower, upper = np.atleast_1d(np.asarray(lower, float)), np.atleast_1d(np.asarray(upper, float))
    check_param("lower", lower)
    check_param("upper", upper)
    if lower.ndim != 1 or lower.shape != upper.shape:
        raise DynsimInputError("upper", f"lower and upper must be vectors of one length, got {lower.shape} and {upper.shape}")
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
        raise DynsimInputError("num", f"num must be a positive integer (got {num!r})")
    axes = [np.linspace(a, b, num) for a, b in zip(lower, upper)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))


def basins_1d(points: np.ndarray, stable: np.ndarray, lower: float, upper: float) -> list[tuple[float, float, int]]:
    """Basins of a 1-D flow on ``[lower, upper]``: ``(a, b, i)`` with ``i`` the index of the stable
    point that attracts ``(a, b)``, or ``-1`` where the interval holds none or several."""
    p = np.asarray(points, float).reshape(-1)
    stable = np.asarray(stable, bool)
    cuts = sorted(x for x, st in zip(p, stable) if not st and lower < x < upper)
    edges = [lower, *cuts, upper]
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        inside = [i for i, (x, st) in enumerate(zip(p, stable)) if st and a <= x <= b]
        out.append((a, b, inside[0] if len(inside) == 1 else -1))
    return out


def nearest_attractor(y: Float[ArrayLike, "*batch n"], attractors: Float[ArrayLike, "m n"],
                      scale: ArrayLike, tol: float = 1e-2) -> np.ndarray:
    """Index of the attractor within ``tol`` of ``y`` in the scaled max-norm
    ``max_i |y_i - a_i| / scale_i``; ``-1`` where none is (not settled)."""
    y = np.asarray(y, float)
    a = np.asarray(attractors, float).reshape(-1, y.shape[-1])
    if a.shape[0] == 0:
        return np.full(y.shape[:-1], -1)
    d = np.max(np.abs(y[..., None, :] - a) / np.asarray(scale, float), axis=-1)
    best = np.argmin(d, axis=-1)
    return np.where(np.take_along_axis(d, best[..., None], -1)[..., 0] <= tol, best, -1)

