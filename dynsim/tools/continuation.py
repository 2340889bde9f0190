r"""Pseudo-arclength continuation of equilibria of any :class:`~dynsim.AbstractSystem`.

The equilibria of ``dy/dt = f(y; mu)`` against one scalar parameter ``mu`` form curves in the
``(n+1)``-dimensional space of ``x = (y, u)``, ``u = mu`` (or ``u = log mu`` with ``log=True``):

    F(x) = f(y; mu(u)) = 0,        F_x = [f_y  f_u]   (n x (n+1), by ``jax.jacfwd``).

**Following a branch** (Keller's pseudo-arclength method). From a point ``x_k`` with unit tangent
``t_k`` (``F_x t_k = 0``) and step ``h``:

- predictor ``x_pred = x_k + h t_k``;
- corrector: Newton on the augmented system ``G(x) = [F(x); t_k . (x - x_pred)] = 0``, whose
  Jacobian ``[[F_x], [t_k^T]]`` is regular at regular points *and at folds* (where ``f_y`` is
  singular), so the branch is followed round a fold; Newton stops at ``|dx_i| <= tol |x_i| + atol``
  and takes one more (polishing) step;
- the new tangent solves ``[[F_x], [t_k^T]] t = e_{n+1}``, normalised (orientation kept);
- step control: ``h`` grows by 1.3 after a quick Newton (<= 3 iterations), shrinks by 0.7 after a
  slow one (> 5), is halved after a failure (no convergence, a turn of the tangent by more than
  30 degrees, a point outside the range) and is capped at ``ds``;
- a predictor past an end of ``[u_lo, u_hi]`` is replaced by a landing step, Newton on
  ``[F(x); u - u_end] = 0``, so that a branch ends exactly on the boundary of the range.

**Stability** from the eigenvalues ``lambda`` of ``f_y`` at every point (stable: all
``Re lambda < 0``).

**Special points**: a sign change of a test function between two accepted points is located
by the Illinois (modified regula-falsi) method in the arclength ``s`` along ``t_k``, each trial
point corrected back onto the branch (``t_k . (x - x_k) = s``):

- fold (saddle-node): ``psi_F = t_u``, the ``u``-component of the tangent;
- branch point (pitchfork, transcritical): ``psi_B = det [[f_y, f_u], [t^T]]`` (which, with the
  tangent's orientation kept continuous, changes sign at a simple branch point, not at a fold;
  it is ``|v| det [[F_x], [t_k^T]]`` with ``v`` the unnormalised tangent, one LU for both);
- Hopf: ``psi_H = prod_{i<j} (lambda_i + lambda_j)`` (the determinant of the bialternate product
  ``2 f_y (.) I``), zero when a pair ``lambda, -lambda`` appears; a located zero is a Hopf point
  only when that pair is complex, ``+/- i omega`` (not a neutral saddle ``+/- r``).

**Branch switching** at a branch point ``x*``: the kernel of ``F_x(x*)`` is 2-dimensional (the
last two right singular vectors); the new direction ``phi`` is its unit vector orthogonal to the
tangent of the branch it was found on, and the first step of each half of the new branch is the
pseudo-arclength step along ``+/- phi``, i.e. Newton on ``[F(x); phi . (x - x* -/+ h phi)] = 0``.
A branch point found on two branches already traced is not switched at (both its branches are
known). It is a ``pitchfork`` when one of its two branches stays on one side of ``mu*`` and
``transcritical`` when both cross it.

**The kernel**: one ``lax.while_loop`` per half-branch over fixed-size buffers, a state machine
whose iterations share one corrector: iteration 0 sets up (polishes the start at fixed ``u``, or
keeps a branch point, and takes the first tangent from the SVD of ``F_x``), then each iteration
either steps or makes one Illinois trial (Newton's first guess: the last converged trial moved
onto the new hyperplane, so that next to a branch point it stays on its branch; where Newton
still fails there the location stops at the last converged trial). It is jitted once per model
class and ``max_points``: parameter values, the range, the step and the tolerances are traced.

Starts: the equilibria found at ``mu = at`` (default ``lo``) by :func:`~dynsim.find_fixed_points`
from a grid over ``[-2, 2]^n``, or the states ``start`` polished by Newton at ``mu = at``; a start
already on a traced branch is skipped.
"""

from __future__ import annotations

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Complex, Float

from dynsim._core.errors import DynsimInputError
from dynsim._core.system import AbstractSystem, to_jax
from dynsim.tools.fixed_points import find_fixed_points, grid_starts

KINDS = ("fold", "branch point", "hopf")
#: Why a half-branch stopped (index = the code the kernel returns).
STOPS = ("running", "boundary", "max_points", "step failed", "unbounded", "closed loop", "started on boundary")
_RUNNING, _BOUNDARY, _MAX_POINTS, _FAILED, _UNBOUNDED, _CLOSED, _EMPTY = range(7)
_COS_MIN = math.cos(math.radians(30.0))  # the largest turn of the tangent in one accepted step
_LOCATE_ITERS = 80  # Illinois iterations at most per special point
_MAX_SPECIAL = 16  # special points per half-branch
_START_BOX = 2.0  # default starts: a grid over [-2, 2]^n
_MAX_BRANCHES = 32


# --------------------------------------------------------------------------- traced building blocks


def _with_param(model: AbstractSystem, name: str, log: bool, u: Float[Array, ""]) -> AbstractSystem:
    """The model with parameter ``name`` set to ``mu(u)`` (``e^u`` when ``log``)."""
    mu = jnp.exp(u) if log else u
    return eqx.tree_at(lambda m: getattr(m, name), model, mu.astype(getattr(model, name).dtype))


def _residual(model, name: str, log: bool, x: Float[Array, " n1"]) -> Float[Array, " n"]:
    """``F(x) = f(y; mu(u))`` with ``x = (y, u)``."""
    return _with_param(model, name, log, x[-1]).vector_field(0.0, x[:-1])


def _jac_and_value(model, name: str, log: bool, x: Float[Array, " n1"]):
    """``(F_x, F)`` at ``x``: the ``n x (n+1)`` Jacobian (forward mode) and the residual."""
    r = lambda z: _residual(model, name, log, z)
    return jax.jacfwd(lambda z: (r(z), r(z)), has_aux=True)(x)


def _solve_det(A: Float[Array, "m m"], b: Float[Array, " m"]) -> tuple[Float[Array, " m"], Float[Array, ""]]:
    """``A^{-1} b`` and ``det A`` from one LU factorisation with partial pivoting."""
    lu, pivots, perm = lax.linalg.lu(A)
    y = lax.linalg.triangular_solve(lu, b[perm][:, None], left_side=True, lower=True, unit_diagonal=True)
    x = lax.linalg.triangular_solve(lu, y, left_side=True, lower=False)[:, 0]
    swaps = jnp.sum(pivots != jnp.arange(A.shape[0]))
    return x, jnp.prod(jnp.diag(lu)) * (1.0 - 2.0 * (swaps % 2))


def _eigenvalues(Fx: Float[Array, "n n1"]) -> Complex[Array, " n"]:
    """Eigenvalues of ``f_y`` (unsorted; the host sorts them)."""
    return jnp.linalg.eigvals(Fx[:, :-1]).astype(jnp.complex128)


def _hopf_test(lam: Complex[Array, " n"]) -> Float[Array, ""]:
    """``prod_{i<j} (lambda_i + lambda_j)`` (real: the factors come in conjugate pairs)."""
    n = lam.shape[0]
    upper = jnp.triu(jnp.ones((n, n), bool), 1)
    return jnp.prod(jnp.where(upper, lam[:, None] + lam[None, :], 1.0 + 0j)).real


def _point_data(Fx: Float[Array, "n n1"], t_ref: Float[Array, " n1"]):
    """At a point of a branch with Jacobian ``F_x``: the unit tangent ``t``
    (``[[F_x], [t_ref^T]] v = e_{n+1}``, ``t = v/|v|``), the eigenvalues of ``f_y`` and the tests
    ``(psi_F, psi_B, psi_H)``."""
    n1 = Fx.shape[1]
    v, det = _solve_det(jnp.concatenate([Fx, t_ref[None]], 0), jnp.zeros(n1).at[-1].set(1.0))
    norm = jnp.linalg.norm(v)
    t = v / norm
    lam = _eigenvalues(Fx)
    return t, lam, jnp.stack([t[-1], det * norm, _hopf_test(lam)])


def _newton_step(model, name: str, log: bool, x, c, x_ref):
    """One Newton step on ``G(x) = [F(x); c . (x - x_ref)] = 0``; also returns ``F_x`` and
    ``max |G|`` at ``x``."""
    Fx, F = _jac_and_value(model, name, log, x)
    g = jnp.append(F, c @ (x - x_ref))
    dx, _ = _solve_det(jnp.concatenate([Fx, c[None]], 0), g)
    return x - dx, Fx, jnp.max(jnp.abs(g))


def _correct(model, name: str, log: bool, x0: Float[Array, " n1"], c: Float[Array, " n1"],
             x_ref: Float[Array, " n1"], tol, atol, max_iter):
    """Newton on ``G(x) = [F(x); c . (x - x_ref)] = 0`` from ``x0``, until every
    ``|dx_i| <= tol |x_i| + atol``, then one polishing step (its error is ~ the square of the last
    step). Returns ``(x, converged, iterations, F_x at x)``.

    Each iteration evaluates ``F_x`` at its ``x`` and steps; the last one only evaluates (so the
    loop holds one copy of the Jacobian and the caller gets it at the returned point)."""

    def cond(s):
        _, _, phase, bad, it = s
        return (phase < 3) & ~bad & (it < max_iter + 3)

    def body(s):
        x, _, phase, _, it = s
        xn, Fx, res = _newton_step(model, name, log, x, c, x_ref)
        # phase 0: converging; 1: the last step was small, polish once; 2: x is final (stop: 3).
        small = jnp.all(jnp.abs(xn - x) <= tol * jnp.abs(xn) + atol)
        singular = ~jnp.all(jnp.isfinite(xn)) & (phase < 2)
        exact = singular & (res <= atol)  # a singular system at an exact root (e.g. at a branch point)
        bad = singular & ~exact
        phase_next = jnp.where(exact, 3, jnp.where(phase >= 1, phase + 1, small.astype(phase.dtype)))
        return jnp.where((phase == 2) | singular, x, xn), Fx, phase_next, bad, it + 1

    n = x0.shape[0] - 1
    init = (x0, jnp.full((n, n + 1), jnp.nan), jnp.array(0), jnp.array(False), jnp.array(0))
    x, Fx, phase, bad, it = lax.while_loop(cond, body, init)
    return x, (phase == 3) & ~bad, it, Fx


def _passes_near(a, b, p, r) -> Bool[Array, ""]:
    """Whether the segment ``[a, b]`` passes within ``r`` of ``p`` (a branch closing on its start)."""
    d = b - a
    w = jnp.clip((p - a) @ d / jnp.maximum(d @ d, 1e-300), 0.0, 1.0)
    return jnp.linalg.norm(a + w * d - p) <= r


def _initial_tangent(Fx0, t_bp, direction, from_bp):
    """The first tangent of a half-branch: ``direction`` times the kernel vector of ``F_x`` with
    ``t_u >= 0``; from a branch point, ``direction`` times ``phi``, the unit vector of the 2-D kernel
    orthogonal to ``t_bp``."""
    vt = jnp.linalg.svd(Fx0, full_matrices=True)[2]
    kern = jnp.where(vt[-1, -1] < 0, -vt[-1], vt[-1])
    K = vt[-2:]
    P = K - (K @ t_bp)[:, None] * t_bp[None]
    norms = jnp.linalg.norm(P, axis=1)
    phi = P[jnp.argmax(norms)] / jnp.max(norms)
    return direction * jnp.where(from_bp, phi, kern)


def _illinois_trial(a, fa, b, fb):
    """The regula-falsi point of the bracket ``[a, b]`` (``fa fb < 0``), or its midpoint."""
    s = (a * fb - b * fa) / (fb - fa)
    return jnp.where(jnp.isfinite(s) & (s > a) & (s < b), s, 0.5 * (a + b))


def _put_special(buf: dict, slot, x, t, t_fallback, lam, kind, interval) -> dict:
    """Write a special point into slot ``slot`` of the buffers (dropped when out of range)."""
    t = jnp.where(jnp.isfinite(t), t, t_fallback)  # exactly at a branch point the bordered system is singular
    put = lambda key, v: buf[key].at[slot].set(v, mode="drop")
    return {**buf, "SX": put("SX", x), "ST": put("ST", t), "SL": put("SL", lam), "SK": put("SK", kind),
            "SI": put("SI", interval)}


def _half(model, name, log, x0, t_bp, direction, from_bp, u_lo, u_hi, h0, h_max, h_min, tol, atol,
          max_iter, bound, max_points: int):
    """One half-branch from ``x0``: a ``lax.while_loop`` whose iterations set up (iteration 0: polish
    ``x0`` at fixed ``u``, or keep a branch point, and take the initial tangent), step (predict,
    correct, accept or shrink) or locate a special point in the last accepted interval, all with
    one corrector. Returns the point buffers, their count, the stop code and the special points."""
    n1 = x0.shape[0]
    e_u = jnp.zeros(n1).at[-1].set(1.0)
    edge = 1e-12 * (1.0 + jnp.maximum(jnp.abs(u_lo), jnp.abs(u_hi)))
    nan, zero, none = jnp.full(3, jnp.nan), jnp.zeros(()), jnp.zeros(n1)
    buffers = dict(
        X=jnp.full((max_points, n1), jnp.nan), T=jnp.full((max_points, n1), jnp.nan),
        L=jnp.full((max_points, n1 - 1), jnp.nan, jnp.complex128), S=jnp.full((max_points, 3), jnp.nan),
        SX=jnp.full((_MAX_SPECIAL, n1), jnp.nan), ST=jnp.full((_MAX_SPECIAL, n1), jnp.nan),
        SL=jnp.full((_MAX_SPECIAL, n1 - 1), jnp.nan, jnp.complex128), SK=jnp.full((_MAX_SPECIAL,), -1),
        SI=jnp.full((_MAX_SPECIAL,), -1))
    state = dict(
        k=jnp.array(0), x=x0, t=none, psi=nan, h=h0, reason=jnp.array(_RUNNING), attempts=jnp.array(0),
        ns=jnp.array(0),
        # locating: which test, the tests still to locate, the bracket, the accepted point kept aside
        locating=jnp.array(False), j=jnp.array(0), mask=jnp.zeros(3, bool), a=zero, fa=zero, b=zero, fb=zero,
        side=jnp.array(0), it=jnp.array(0), width=zero, x_nx=x0, t_nx=none, psi_nx=nan, x_near=x0,
        final=jnp.array(_RUNNING))
    max_attempts = 8 * max_points + 64

    def trial(s):
        """Newton's first guess, the constraint ``c . (x - x_ref) = 0`` and the Newton cap of this
        iteration. Locating, the guess is the last corrected trial moved onto the new hyperplane
        (near a branch point the base point's predictor can be nearer the other branch)."""
        setup = s["k"] == 0
        u_pred = s["x"][-1] + s["h"] * s["t"][-1]
        over, under = u_pred > u_hi, u_pred < u_lo
        landing = (over | under) & ~s["locating"] & ~setup
        u_end = jnp.where(over, u_hi, u_lo)
        safe_tu = jnp.where(s["t"][-1] == 0, 1.0, s["t"][-1])
        step = jnp.where(landing, (u_end - s["x"][-1]) / safe_tu, s["h"])
        step = jnp.where(s["locating"], _illinois_trial(s["a"], s["fa"], s["b"], s["fb"]), step)
        x_ref = jnp.where(setup, x0, s["x"] + step * s["t"])
        near = s["x_near"] + (step - s["t"] @ (s["x_near"] - s["x"])) * s["t"]
        guess = jnp.where(s["locating"], near, x_ref)
        row = jnp.where(setup | landing, e_u, s["t"])
        cap = jnp.where(setup & from_bp, -2, max_iter)  # at a branch point: evaluate F_x only
        return guess, row, x_ref, cap, landing, step

    def after_setup(s, x_new, ok, t_new, psi_new):
        good = (ok | from_bp) & jnp.all(jnp.isfinite(t_new))
        outward = ((x_new[-1] <= u_lo + edge) & (t_new[-1] < 0)) | ((x_new[-1] >= u_hi - edge) & (t_new[-1] > 0))
        r = jnp.where(good, jnp.where(outward, _EMPTY, _RUNNING), _FAILED)
        return {**s, "k": jnp.array(1), "x": x_new, "t": t_new, "psi": psi_new, "reason": r}

    def after_step(s, x_new, ok, iters, t_new, psi_new, landing, step):
        inside = (x_new[-1] >= u_lo - edge) & (x_new[-1] <= u_hi + edge)
        cos_min = jnp.where(from_bp & (s["k"] == 1), 0.0, _COS_MIN)  # the switch may turn the tangent
        good = (ok & jnp.all(jnp.isfinite(t_new)) & jnp.all(jnp.isfinite(psi_new[:2]))
                & (t_new @ s["t"] >= cos_min) & inside)
        k = s["k"] + good.astype(s["k"].dtype)
        grow = jnp.where(iters <= 5, 1.3, jnp.where(iters <= 7, 1.0, 0.7))  # iters: + polish + evaluation
        h = jnp.where(good, jnp.minimum(s["h"] * grow, h_max), 0.5 * s["h"])
        closed = good & (s["k"] >= 3) & _passes_near(s["x"], x_new, x0, 0.5 * jnp.abs(step))
        r = jnp.where(good & landing, _BOUNDARY, _RUNNING)
        r = jnp.where(closed, _CLOSED, r)
        r = jnp.where(good & (jnp.max(jnp.abs(x_new[:-1])) > bound), _UNBOUNDED, r)
        r = jnp.where(good & (k >= max_points), _MAX_POINTS, r)
        r = jnp.where(~good & ((h < h_min) | (s["attempts"] + 1 >= max_attempts)), _FAILED, r)
        mask = good & (s["psi"] * psi_new < 0)
        locate = jnp.any(mask)
        j = jnp.argmax(mask)
        advance = good & ~locate
        width = s["t"] @ (x_new - s["x"])
        return {**s, "k": k, "h": h, "reason": jnp.where(locate, _RUNNING, r),
                "x": jnp.where(advance, x_new, s["x"]), "t": jnp.where(advance, t_new, s["t"]),
                "psi": jnp.where(advance, psi_new, s["psi"]),
                "locating": locate, "j": j, "mask": mask, "a": zero, "fa": s["psi"][j], "b": width,
                "fb": psi_new[j], "side": jnp.array(0), "it": jnp.array(0), "width": width, "x_nx": x_new,
                "t_nx": t_new, "psi_nx": psi_new, "x_near": x_new, "final": r}

    def after_locate(s, x_new, ok, psi_new, step):
        fs = jnp.where(ok, psi_new[s["j"]], jnp.nan)
        to_b = fs * s["fb"] > 0  # the trial replaces b
        to_a = fs * s["fa"] > 0  # the trial replaces a
        fa = jnp.where(to_b & (s["side"] == 1), 0.5 * s["fa"], s["fa"])  # Illinois: halve the stale end
        fb = jnp.where(to_a & (s["side"] == -1), 0.5 * s["fb"], s["fb"])
        a, fa = jnp.where(to_a, step, s["a"]), jnp.where(to_a, fs, fa)
        b, fb = jnp.where(to_b, step, s["b"]), jnp.where(to_b, fs, fb)
        side = jnp.where(to_b, 1, jnp.where(to_a, -1, s["side"]))
        it = s["it"] + 1
        # Stop at a zero, a tiny bracket, or where Newton fails (next to a branch point: the
        # special point's slot keeps the last converged trial).
        found = (~to_a & ~to_b) | (b - a <= 1e-14 * s["width"]) | (it >= _LOCATE_ITERS)
        mask = s["mask"] & ~(found & (jnp.arange(3) == s["j"]))
        more = jnp.any(mask)
        j = jnp.where(found, jnp.argmax(mask), s["j"])
        restart, resume = found & more, found & ~more
        return {**s, "ns": s["ns"] + found.astype(s["ns"].dtype), "mask": mask, "j": j,
                "a": jnp.where(restart, 0.0, a), "fa": jnp.where(restart, s["psi"][j], fa),
                "b": jnp.where(restart, s["width"], b), "fb": jnp.where(restart, s["psi_nx"][j], fb),
                "side": jnp.where(restart, 0, side), "it": jnp.where(restart, 0, it),
                "locating": ~resume, "reason": jnp.where(resume, s["final"], _RUNNING),
                "x": jnp.where(resume, s["x_nx"], s["x"]), "t": jnp.where(resume, s["t_nx"], s["t"]),
                "psi": jnp.where(resume, s["psi_nx"], s["psi"]),
                "x_near": jnp.where(restart, s["x_nx"], jnp.where(ok, x_new, s["x_near"]))}

    def body(carry):
        s, buf = carry
        setup = s["k"] == 0
        guess, row, x_ref, cap, landing, step = trial(s)
        x_new, ok, iters, Fx = _correct(model, name, log, guess, row, x_ref, tol, atol, cap)
        x_new = jnp.where(setup & from_bp, x0, x_new)
        t_init = _initial_tangent(Fx, t_bp, direction, from_bp)
        t_new, lam, psi_new = _point_data(Fx, jnp.where(setup, t_init, s["t"]))
        t_new = jnp.where(setup, t_init, t_new)
        psi_new = jnp.where(setup & from_bp, jnp.nan, psi_new)  # no special point sought next to a branch point
        set_up = after_setup(s, x_new, ok, t_new, psi_new)
        stepped = after_step(s, x_new, ok, iters, t_new, psi_new, landing, step)
        located = after_locate(s, x_new, ok, psi_new, step)
        pick = lambda p, q, r: jnp.where(setup, p, jnp.where(s["locating"], q, r))
        new = jax.tree_util.tree_map(pick, set_up, located, stepped)
        # Slot k (the next point) is free: write every trial there, the count says what is kept.
        k = s["k"]
        buf = {**buf, "X": buf["X"].at[k].set(x_new, mode="drop"), "T": buf["T"].at[k].set(t_new, mode="drop"),
               "L": buf["L"].at[k].set(lam, mode="drop"), "S": buf["S"].at[k].set(psi_new, mode="drop")}
        # The special point being located: each converged trial, and as a fallback (should the first
        # trial fail) the end of the interval, written when its location starts.
        entering = ~setup & ~s["locating"] & new["locating"]
        restart = s["locating"] & new["locating"] & (new["ns"] > s["ns"])
        buf = _put_special(buf, jnp.where(s["locating"] & ok, s["ns"], _MAX_SPECIAL), x_new, t_new, s["t"], lam,
                           s["j"], k - 2)
        buf = _put_special(buf, jnp.where(entering, s["ns"], jnp.where(restart, s["ns"] + 1, _MAX_SPECIAL)),
                           jnp.where(entering, x_new, s["x_nx"]), jnp.where(entering, t_new, s["t_nx"]), s["t"],
                           jnp.where(entering, lam, buf["L"][jnp.maximum(k - 1, 0)]), new["j"],
                           jnp.where(entering, k - 1, k - 2))
        s = new
        return {**s, "attempts": s["attempts"] + 1}, buf

    s, buf = lax.while_loop(lambda c: c[0]["reason"] == _RUNNING, body, (state, buffers))
    return (buf["X"], buf["T"], buf["L"], buf["S"], s["k"], s["reason"], buf["SX"], buf["ST"], buf["SL"], buf["SK"],
            buf["SI"], jnp.minimum(s["ns"], _MAX_SPECIAL))


# The kernel's work is small scalar-sized linear algebra in loops: XLA's backend optimisation buys
# nothing at run time there and costs about a third of the compilation.
_FAST_COMPILE = {"xla_backend_optimization_level": 0}
_half_jit = eqx.filter_jit(_half, compiler_options=_FAST_COMPILE)


@eqx.filter_jit(compiler_options=_FAST_COMPILE)
def _newton_step_jit(model, name: str, log: bool, x, c, x_ref) -> Float[Array, " n1"]:
    """:func:`_newton_step`'s new point, for the host-side Newton of :meth:`_Setup.newton`."""
    return _newton_step(model, name, log, x, c, x_ref)[0]


# --------------------------------------------------------------------------- results


@dataclasses.dataclass(frozen=True)
class Branch:
    """One branch of equilibria, ordered along its arclength.

    ``mu`` (k,), ``states`` (k, n), ``eigenvalues`` (k, n) of ``f_y`` (complex, sorted by real part),
    ``stable`` (k,): all ``Re lambda < 0``; ``tangents`` (k, n+1) in ``(y, u)``; ``tests`` (k, 3): the
    test functions ``(psi_F, psi_B, psi_H)``; ``origin``: ``"start"`` or ``"branch point i"``;
    ``stops``: why each end stopped (see :data:`STOPS`)."""

    mu: np.ndarray
    states: np.ndarray
    eigenvalues: np.ndarray
    stable: np.ndarray
    tangents: np.ndarray
    tests: np.ndarray
    origin: str
    stops: tuple[str, str]

    def __len__(self) -> int:
        return len(self.mu)


@dataclasses.dataclass(frozen=True)
class SpecialPoint:
    """A located fold, branch point or Hopf point.

    ``kind``: one of :data:`KINDS`; ``detail``: ``pitchfork``/``transcritical`` for a branch point;
    ``crossing``: the eigenvalue(s) on the imaginary axis (the one nearest 0 for a fold or a
    branch point, the pair ``+/- i omega`` for a Hopf point); ``branch``: where it was found."""

    kind: str
    mu: float
    state: np.ndarray
    eigenvalues: np.ndarray
    crossing: np.ndarray
    branch: int
    detail: str = ""


def _complex_json(lam) -> list:
    return [float(v.real) if v.imag == 0 else [float(v.real), float(v.imag)] for v in np.asarray(lam, complex)]


@dataclasses.dataclass(frozen=True)
class Continuation:
    """The equilibria of ``model`` against ``param`` on ``[lo, hi]``: branches and special points."""

    model: str
    param: str
    lo: float
    hi: float
    log: bool
    state_names: tuple[str, ...]
    branches: tuple[Branch, ...]
    special: tuple[SpecialPoint, ...]
    parameters: dict

    def of_kind(self, kind: str) -> list[SpecialPoint]:
        """The special points of one kind (``fold``, ``branch point``, ``hopf``)."""
        return [p for p in self.special if p.kind == kind]

    def summary(self) -> dict:
        """JSON-able: the range, each branch's extent and stops, each special point."""
        return {
            "model": self.model, "parameter": self.param, "range": [self.lo, self.hi], "log": self.log,
            "parameters": self.parameters,
            "branches": [{
                "points": len(b), "origin": b.origin, "stops": list(b.stops),
                f"{self.param}_range": [float(np.min(b.mu)), float(np.max(b.mu))],
                "stable_points": int(np.sum(b.stable)),
            } for b in self.branches],
            "special_points": [{
                "type": p.kind, **({"detail": p.detail} if p.detail else {}), self.param: p.mu,
                "state": {k: float(v) for k, v in zip(self.state_names, p.state)},
                "eigenvalues": _complex_json(p.eigenvalues), "crossing": _complex_json(p.crossing),
                "branch": p.branch,
            } for p in self.special],
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """Numpy arrays for ``np.savez``: ``branch{i}_mu/states/eigenvalues/stable`` and ``special_*``."""
        out: dict[str, np.ndarray] = {}
        for i, b in enumerate(self.branches):
            out.update({f"branch{i}_mu": b.mu, f"branch{i}_states": b.states,
                        f"branch{i}_eigenvalues": b.eigenvalues, f"branch{i}_stable": b.stable})
        n = len(self.state_names)
        sp = self.special
        out["special_type"] = np.array([p.kind for p in sp], dtype="U16")
        out["special_mu"] = np.array([p.mu for p in sp], float)
        out["special_states"] = np.array([p.state for p in sp], float).reshape(-1, n)
        out["special_eigenvalues"] = np.array([p.eigenvalues for p in sp], complex).reshape(-1, n)
        out["special_branch"] = np.array([p.branch for p in sp], int)
        return out


# --------------------------------------------------------------------------- the driver


@dataclasses.dataclass(frozen=True)
class _Setup:
    """The model and the traced-array settings shared by every jitted call of one continuation."""

    model: AbstractSystem
    name: str
    log: bool
    lo: float
    hi: float
    u_lo: Array
    u_hi: Array
    ds: Array
    h_min: Array
    tol: Array
    atol: Array
    max_iter: Array
    bound: Array
    max_points: int

    def u(self, mu: float) -> float:
        return math.log(mu) if self.log else mu

    def mu(self, u):
        """The parameter at ``u``: exactly ``lo`` or ``hi`` at the ends of the range."""
        u = np.asarray(u, float)
        mu = np.exp(u) if self.log else u
        return np.where(u == float(self.u_lo), self.lo, np.where(u == float(self.u_hi), self.hi, mu))

    def halves(self, x0, t_bp, from_bp: bool) -> list[np.ndarray]:
        """Both halves of a branch from ``x0`` (directions +1 and -1), stacked on a leading axis."""
        outs = [_half_jit(self.model, self.name, self.log, jnp.asarray(x0, float), jnp.asarray(t_bp, float),
                          to_jax(d), to_jax(from_bp), self.u_lo, self.u_hi, self.ds, self.ds, self.h_min,
                          self.tol, self.atol, self.max_iter, self.bound, self.max_points) for d in (1.0, -1.0)]
        return [np.stack([np.asarray(a), np.asarray(b)]) for a, b in zip(*outs)]

    def newton(self, x0, c, x_ref, max_iter: int = 50) -> tuple[np.ndarray, bool]:
        """Newton on ``[F(x); c . (x - x_ref)] = 0`` from ``x0`` (a few host-side calls of one jitted step)."""
        tol, atol = float(self.tol), float(self.atol)
        x = np.asarray(x0, float)
        args = (jnp.asarray(c, float), jnp.asarray(x_ref, float))
        for _ in range(max_iter):
            xn = np.asarray(_newton_step_jit(self.model, self.name, self.log, to_jax(x), *args))
            if not np.all(np.isfinite(xn)):
                return x, False
            small = np.all(np.abs(xn - x) <= tol * np.abs(xn) + atol)
            x = xn
            if small:
                xn = np.asarray(_newton_step_jit(self.model, self.name, self.log, to_jax(x), *args))
                return (xn, True) if np.all(np.isfinite(xn)) else (x, True)
        return x, False


def _number(arg: str, v, what: str = "a finite number") -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not math.isfinite(v):
        raise DynsimInputError(arg, f"{arg} must be {what} (got {v!r})")
    return float(v)


def _check_inputs(model, param, lo, hi, log, at, ds, max_points, tol, atol, max_iter, bound) -> None:
    """Raise :class:`DynsimInputError` naming the first bad argument."""
    if not isinstance(model, AbstractSystem):
        raise DynsimInputError("model", f"model must be a dynsim AbstractSystem (got {type(model).__name__})")
    params = model.parameters()
    if param not in params:
        raise DynsimInputError("param", f"param: {type(model).__name__} has no parameter {param!r} "
                                        f"(its parameters: {', '.join(params) or 'none'})")
    if np.ndim(params[param]) != 0:
        raise DynsimInputError("param", f"param: {param!r} must be a scalar parameter to continue in "
                                        f"(it has shape {tuple(np.shape(params[param]))})")
    if model.batch_shape() != ():
        raise DynsimInputError("model", f"model: every parameter must be a single value, not a batch "
                                        f"(batch shape {model.batch_shape()})")
    lo, hi = _number("lo", lo), _number("hi", hi)
    if not lo < hi:
        raise DynsimInputError("lo", f"lo must be below hi (got lo={lo:g}, hi={hi:g})")
    if log and lo <= 0:
        raise DynsimInputError("lo", f"lo must be > 0 with log=True (got {lo:g})")
    if at is not None and not lo <= _number("at", at) <= hi:
        raise DynsimInputError("at", f"at (where the branches start) must lie in [lo, hi] = [{lo:g}, {hi:g}] "
                                     f"(got {at:g})")
    if ds is not None and not _number("ds", ds, "a positive number") > 0:
        raise DynsimInputError("ds", f"ds (the largest arclength step) must be a positive number (got {ds!r})")
    for arg, v, least in (("max_points", max_points, 2), ("max_iter", max_iter, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < least:
            raise DynsimInputError(arg, f"{arg} must be an integer >= {least} (got {v!r})")
    if not 0 < _number("tol", tol) <= 1e-4:
        raise DynsimInputError("tol", f"tol (Newton's relative tolerance) must be in (0, 1e-4] (got {tol!r})")
    if not 0 <= _number("atol", atol) <= 1e-4:
        raise DynsimInputError("atol", f"atol (Newton's absolute tolerance) must be in [0, 1e-4] (got {atol!r})")
    if not _number("bound", bound) > 0:
        raise DynsimInputError("bound", f"bound must be a positive number (got {bound!r})")


def _default_starts(n: int) -> np.ndarray:
    """A grid over ``[-2, 2]^n`` with an odd number of points per axis (so that it holds 0), about 500
    and at most 1400 starts; beyond that the origin and 1024 uniform random starts."""
    num = max(3, int(round(500 ** (1 / n))) | 1)
    if num**n <= 1400:
        return grid_starts(np.full(n, -_START_BOX), np.full(n, _START_BOX), num)
    rng = np.random.default_rng(0)
    return np.vstack([np.zeros((1, n)), rng.uniform(-_START_BOX, _START_BOX, (1024, n))])


def _canonical(model: AbstractSystem) -> AbstractSystem:
    """Parameters as strongly-typed arrays (a weakly-typed one would be a separate compilation)."""
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=a.dtype) if eqx.is_inexact_array(a) else a, model)


def _starts(cfg: _Setup, u_at: float, start) -> list[np.ndarray]:
    """The equilibria at ``u = u_at`` to start from, as points ``x = (y, u_at)``."""
    n = cfg.model.dim
    e_u = np.zeros(n + 1)
    e_u[-1] = 1.0
    if start is None:
        model_at = _with_param(cfg.model, cfg.name, cfg.log, jnp.asarray(u_at, float))
        fp = find_fixed_points(model_at, _default_starts(n))
        points = [np.append(y, u_at) for y, iso in zip(fp.points, fp.isolated) if iso]
    else:
        starts = np.asarray(start, float)
        starts = starts[None] if starts.ndim == 1 else starts
        if starts.ndim != 2 or starts.shape[1] != n or starts.shape[0] == 0 or not np.all(np.isfinite(starts)):
            raise DynsimInputError("start", f"start must be finite states of shape (k, {n}) or ({n},) "
                                            f"(got shape {starts.shape})")
        points = []
        for y in starts:
            x0 = np.append(y, u_at)
            x, ok = cfg.newton(x0, e_u, x0)
            if ok and not any(_same(x, p) for p in points):
                points.append(x)
    if not points:
        raise DynsimInputError("start", f"start: no equilibrium of {type(cfg.model).__name__} found at "
                                        f"{cfg.name} = {float(cfg.mu(u_at)):g}; pass start= near one, or at= "
                                        "a parameter value in [lo, hi] where one exists")
    return points


def _same(x1: np.ndarray, x2: np.ndarray, rtol: float = 1e-7, atol: float = 1e-10) -> bool:
    """The same point, component by component (``p = 1e-6`` is not ``p = 0``)."""
    return bool(np.all(np.abs(x1 - x2) <= rtol * np.maximum(np.abs(x1), np.abs(x2)) + atol))


def _near(x1: np.ndarray, x2: np.ndarray) -> bool:
    """The same special point: a branch point is located less sharply on the branch that turns there."""
    return _same(x1, x2, rtol=1e-6, atol=1e-6)


def _on_branch(cfg: _Setup, X: np.ndarray, x: np.ndarray) -> bool:
    """Whether ``x = (y, u)`` lies on the branch with points ``X`` (k, n+1): where the branch
    crosses ``u``, its state interpolated and corrected at that ``u`` equals ``y``."""
    if any(_same(p, x) for p in X):
        return True
    d = X[:, -1] - x[-1]
    e_u = np.zeros_like(x)
    e_u[-1] = 1.0
    for i in np.flatnonzero(d[:-1] * d[1:] < 0):
        w = d[i] / (d[i] - d[i + 1])
        guess = (1 - w) * X[i] + w * X[i + 1]
        guess[-1] = x[-1]
        y, ok = cfg.newton(guess, e_u, guess)
        if ok and _same(y, x):
            return True
    return False


@dataclasses.dataclass
class _Found:
    """A located special point before it is reported: the point ``x = (y, u)``, the tangent ``t``
    there of the branch it was found on and, for each branch through it met so far, whether
    that branch crosses ``u`` there (for naming a branch point)."""

    point: SpecialPoint
    x: np.ndarray
    t: np.ndarray
    crosses: list[bool]


def _assemble(cfg: _Setup, out, origin: str) -> tuple[Branch, np.ndarray]:
    """Join the two halves into one branch ordered along half 0: half 1 reversed (tangents and the
    orientation-dependent tests negated, its first point dropped: it is half 0's), then half 0.
    A half-branch after a closed loop is not used (it traces the same loop)."""
    X, T, L, S, k, r = out[:6]
    closed = STOPS[int(r[0])] == "closed loop"
    k1 = 1 if closed else int(k[1])
    k0 = int(k[0])
    flip = np.array([-1.0, -1.0, 1.0])
    parts = [(X[1, 1:k1][::-1], -T[1, 1:k1][::-1], L[1, 1:k1][::-1], S[1, 1:k1][::-1] * flip),
             (X[0, :k0], T[0, :k0], L[0, :k0], S[0, :k0])]
    Xb, Tb, Lb, Sb = (np.concatenate([p[i] for p in parts]) for i in range(4))
    Lb = np.sort(Lb, axis=1)  # by real part, then imaginary part
    stable = np.all(Lb.real < 0, axis=1)
    stops = ("closed loop" if closed else STOPS[int(r[1])], STOPS[int(r[0])])
    return Branch(cfg.mu(Xb[:, -1]), Xb[:, :-1], Lb, stable, Tb, Sb, origin, stops), Xb


def _crossing(kind: str, lam: np.ndarray) -> np.ndarray:
    if kind == "hopf":
        i = int(np.argmin(np.where(np.abs(lam.imag) > 0, np.abs(lam.real), np.inf)))
        w = abs(lam[i].imag)
        return np.array([lam[i].real + 1j * w, lam[i].real - 1j * w])
    return lam[[int(np.argmin(np.abs(lam)))]]


def _is_hopf(lam: np.ndarray) -> bool:
    """A complex pair on the imaginary axis (not a neutral saddle ``+/- r``)."""
    scale = max(1.0, float(np.max(np.abs(lam))))
    return bool(np.any((np.abs(lam.imag) > 1e-8 * scale) & (np.abs(lam.real) <= 1e-6 * scale)))


def _specials(cfg: _Setup, out, index: int) -> list[_Found]:
    """The special points the kernel located on both halves (Hopf candidates checked)."""
    X, SX, ST, SL, SK, SI, ns = out[0], *out[6:12]
    closed = STOPS[int(out[5][0])] == "closed loop"
    found = []
    for half in (0, 1) if not closed else (0,):
        for q in range(int(ns[half])):
            kind, x, lam, i = KINDS[int(SK[half, q])], SX[half, q], np.sort(SL[half, q]), int(SI[half, q])
            if not np.all(np.isfinite(x)) or (kind == "hopf" and not _is_hopf(lam)):
                continue
            sp = SpecialPoint(kind, float(cfg.mu(x[-1])), x[:-1], lam, _crossing(kind, lam), index)
            crosses = bool((X[half, i, -1] - x[-1]) * (X[half, i + 1, -1] - x[-1]) < 0)
            found.append(_Found(sp, x, ST[half, q], [crosses]))
    return found


def _bp_detail(crosses: list[bool]) -> str:
    """``pitchfork``: one of the two branches stays on one side of ``mu*``; ``transcritical``: both cross."""
    if len(crosses) >= 2 and sum(crosses) == 1:
        return "pitchfork"
    if len(crosses) >= 2 and all(crosses):
        return "transcritical"
    return "pitchfork" if crosses and not crosses[0] else ""


def _dedup(special: list[SpecialPoint]) -> list[SpecialPoint]:
    """One entry per point; a fold at a branch point (the vertex of a pitchfork's new branch) is the branch point."""
    key = lambda p: np.append(p.state, p.mu)
    bps = [p for p in special if p.kind == "branch point"]
    out: list[SpecialPoint] = []
    for p in special:
        if p.kind == "fold" and any(_near(key(p), key(b)) for b in bps):
            continue
        if not any(q.kind == p.kind and _near(key(p), key(q)) for q in out):
            out.append(p)
    return out


def continuation(model: AbstractSystem, param: str, lo: float, hi: float, *, start: ArrayLike | None = None,
                 at: float | None = None, log: bool = False, ds: float | None = None, max_points: int = 1000,
                 tol: float = 1e-10, atol: float = 1e-13, max_iter: int = 10, bound: float = 1e8,
                 switch: bool = True) -> Continuation:
    r"""The branches of equilibria of ``model`` against its scalar parameter ``param`` on
    ``[lo, hi]``, by pseudo-arclength continuation (the module docstring gives the algorithm),
    with their stability and special points (folds, branch points, Hopf points).

    - ``start``: states (k, n) near the equilibria to start from, polished by Newton at
      ``param = at``; default: the equilibria :func:`~dynsim.find_fixed_points` finds there from
      a grid over ``[-2, 2]^n``;
    - ``at``: where the branches start (default ``lo``); each is followed both ways to the ends
      of the range;
    - ``log``: continue in ``u = log param`` (``lo > 0``), for ranges over decades;
    - ``ds``: the largest (and the first) step in arclength of ``(y, u)``, default ``(u_hi - u_lo)/100``;
    - ``max_points``: the most points of each half-branch (the buffer size: a new value compiles);
    - ``tol``, ``atol``, ``max_iter``: Newton stops at ``|dx_i| <= tol |x_i| + atol`` (then polishes);
    - ``bound``: a branch stops where ``max |y_i|`` exceeds it;
    - ``switch``: switch branches at branch points and follow the new ones.

    The vector field is evaluated at ``t = 0`` (equilibria of an autonomous system). Returns a
    :class:`Continuation`: each start's branch (a start already on a traced branch is skipped),
    then the branches switched onto at branch points; the special points located on them.
    """
    _check_inputs(model, param, lo, hi, log, at, ds, max_points, tol, atol, max_iter, bound)
    lo, hi = float(lo), float(hi)
    at = lo if at is None else float(at)
    u_lo, u_hi = (math.log(lo), math.log(hi)) if log else (lo, hi)
    step = (u_hi - u_lo) / 100 if ds is None else float(ds)
    f = lambda v: jnp.asarray(v, float)
    cfg = _Setup(_canonical(model), param, bool(log), lo, hi, f(u_lo), f(u_hi), f(step), f(step * 1e-7), f(tol),
                 f(atol), to_jax(max_iter), f(bound), int(max_points))
    branches: list[Branch] = []
    points: list[np.ndarray] = []  # each branch's points (y, u)
    found: list[_Found] = []

    def trace(x0, t_bp, from_bp: bool, origin: str, skip=None) -> np.ndarray:
        out = cfg.halves(x0, t_bp, from_bp)
        branch, X = _assemble(cfg, out, origin)
        branches.append(branch)
        points.append(X)
        for fd in _specials(cfg, out, len(branches) - 1):
            if skip is not None and fd.point.kind == "branch point" and _near(fd.x, skip):
                continue
            twin = [g for g in found if g.point.kind == fd.point.kind and _near(g.x, fd.x)]
            if twin:  # met again on another branch: a branch point's second branch is known
                g = twin[0]
                if fd.crosses[0] and not any(g.crosses):  # located where u is a good coordinate: keep that
                    g.point, g.x, g.t = fd.point, fd.x, fd.t
                g.crosses += fd.crosses
            else:
                found.append(fd)
        return X

    for x0 in _starts(cfg, cfg.u(at), start):
        if len(branches) < _MAX_BRANCHES and not any(_on_branch(cfg, X, x0) for X in points):
            trace(x0, np.zeros_like(x0), False, "start")

    done = 0
    while switch and done < len(found) and len(branches) < _MAX_BRANCHES:
        fd = found[done]
        done += 1
        if fd.point.kind != "branch point" or len(fd.crosses) >= 2:
            continue
        X = trace(fd.x, fd.t, True, f"branch point {done - 1}", skip=fd.x)
        i = int(np.argmin(np.max(np.abs(X - fd.x), axis=1)))  # the branch point on its new branch
        if 0 < i < len(X) - 1:
            fd.crosses.append(bool((X[i - 1, -1] - fd.x[-1]) * (X[i + 1, -1] - fd.x[-1]) < 0))

    for fd in found:
        if fd.point.kind == "branch point":
            fd.point = dataclasses.replace(fd.point, detail=_bp_detail(fd.crosses))

    special = _dedup([g.point for g in found])
    parameters = {k: np.asarray(v).tolist() for k, v in model.parameters().items() if k != param}
    return Continuation(type(model).__name__, param, lo, hi, bool(log), tuple(model.state_names), tuple(branches),
                        tuple(special), parameters)


# --------------------------------------------------------------------------- the figure

_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
          "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega", "Gamma", "Delta",
          "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega"}


def _tex_part(word: str) -> str:
    return "\\" + word if word in _GREEK else word if len(word) == 1 else rf"\mathrm{{{word}}}"


def _tex(name: str) -> str:
    """Mathtext for a parameter or state name: ``alpha_p`` -> ``$\\alpha_{p}$``, ``x`` -> ``$x$``."""
    base, _, sub = name.partition("_")
    return f"${_tex_part(base)}_{{{_tex_part(sub)}}}$" if sub else f"${_tex_part(base)}$"


def _spans_decades(values: np.ndarray) -> bool:
    """Values over decades that a linear axis would squash: at least a quarter of the nonzero ones
    below 1% of the largest."""
    mag = np.abs(values[np.isfinite(values) & (values != 0)])
    return mag.size > 1 and float(mag.max() / mag.min()) >= 1e2 and float(np.mean(mag < 1e-2 * mag.max())) >= 0.25


def plot_continuation(result: Continuation, coord: int | str = 0, *, size: str = "page"):
    """The bifurcation diagram: state component ``coord`` (an index or a state name) of every branch
    against the parameter, stable solid, unstable dashed, special points marked and labelled (F:
    fold, BP: branch point, H: Hopf); a log parameter axis when the continuation was in ``log``,
    and a log (symlog, when 0 is among them) state axis when the values span decades. In the house
    style of :mod:`dynsim.plot.style`, ``size="page"`` (7 in wide) or ``"column"`` (3.4 in)."""
    import matplotlib.pyplot as plt

    from dynsim.plot.style import STABLE, UNSTABLE, check_size, figsize, style

    names = result.state_names
    if isinstance(coord, str) and coord in names:
        coord = names.index(coord)
    if isinstance(coord, bool) or not isinstance(coord, (int, np.integer)) or not 0 <= coord < len(names):
        raise DynsimInputError("coord", f"coord must be a state index in [0, {len(names)}) or one of "
                                        f"{', '.join(names)} (got {coord!r})")
    check_size(size)
    # special points: black, told apart by shape and letter (red and green are the branches' stability)
    markers = {"fold": (dict(marker="o", mfc="black"), "F", "fold (saddle-node)"),
               "branch point": (dict(marker="s", mfc="white", mew=1.2), "BP", "branch point"),
               "hopf": (dict(marker="D", mfc="white", mew=1.2), "H", "Hopf")}
    with style(size):
        fig, ax = plt.subplots(figsize=figsize(size, 4.0 if size == "page" else 2.8), layout="constrained")
        labelled = set()
        for b in result.branches:
            y = b.states[:, coord]
            cuts = [0, *(np.flatnonzero(b.stable[1:] != b.stable[:-1]) + 1), len(b)]
            for a, e in zip(cuts[:-1], cuts[1:]):
                st = bool(b.stable[a])
                label = None if st in labelled else ("stable" if st else "unstable")
                labelled.add(st)
                seg = slice(a, min(e + 1, len(b)))
                ax.plot(b.mu[seg], y[seg], ls="-" if st else "--", color=STABLE if st else UNSTABLE, label=label)
        for kind in KINDS:
            pts = result.of_kind(kind)
            if not pts:
                continue
            kw, short, label = markers[kind]
            ax.plot([p.mu for p in pts], [p.state[coord] for p in pts], ls="none", mec="black",
                    ms=5.5 if size == "page" else 4.5, zorder=5, label=label, **kw)
            for p in pts:
                ax.annotate(short, (p.mu, p.state[coord]), xytext=(4, 4), textcoords="offset points",
                            fontsize=plt.rcParams["font.size"], color="black")
        if result.log:
            ax.set_xscale("log")
        values = np.concatenate([b.states[:, coord] for b in result.branches]) if result.branches else np.zeros(1)
        if _spans_decades(values):
            nonzero = np.abs(values[np.isfinite(values) & (values != 0)])
            if np.all(values > 0):
                ax.set_yscale("log")
            else:
                linthresh = float(nonzero.min())
                ax.set_yscale("symlog", linthresh=linthresh)
                if np.nanmin(values) >= 0:  # no empty negative decades
                    ax.set_ylim(bottom=-linthresh)
        ax.set_xlabel(_tex(result.param))
        ax.set_ylabel(f"equilibrium {_tex(names[coord])}")
        ax.set_title(f"{result.model}: equilibria against {_tex(result.param)}")
        ax.legend(loc="best")
    return fig
