"""The solver core: a system, initial conditions and a time grid in; a checked solution out.

This is the only module that calls :func:`diffrax.diffeqsolve`. Every trajectory is
integrated with ``throw=False``; its fate is recorded as a :class:`Status` so that blow-ups
and step-limit hits are reported per trajectory instead of aborting a whole batch.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from dynsim._core import aot as _aot
from dynsim._core.errors import DynsimInputError
from dynsim._core.system import AbstractSystem, _concrete, _on_host, broadcast_flat, check_param, to_jax


class Status(enum.IntEnum):
    """What became of one trajectory."""

    SUCCESS = 0  #: reached the last save time
    STOPPED = 1  #: stopped early by the caller's ``stop_when`` condition
    DIVERGED = 2  #: ``max |y_i|`` exceeded ``divergence_threshold`` (blow-up)
    MAX_STEPS = 3  #: hit the step limit ``max_steps`` before the last save time
    FAILED = 4  #: any other solver failure (e.g. step size underflow)

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


class Solution(eqx.Module):
    """Solved trajectories, batched over the leading ``*batch`` axes.

    Where a trajectory stopped early, its last state sits at the save slot after the last
    one it reached, with ``ts`` holding the actual time, and later slots are ``inf``.
    """

    ts: Float[Array, "*batch T"]
    ys: Float[Array, "*batch T n"]
    status: Int[Array, "*batch"]
    t_final: Float[Array, "*batch"]
    num_steps: Int[Array, "*batch"]
    num_accepted_steps: Int[Array, "*batch"]
    num_rejected_steps: Int[Array, "*batch"]

    @property
    def ok(self) -> Bool[Array, "*batch"]:
        """Trajectories that reached the last save time, or stopped where asked to."""
        status = _on_host(self.status)
        if status is None:
            return (self.status == Status.SUCCESS) | (self.status == Status.STOPPED)
        return to_jax((status == Status.SUCCESS) | (status == Status.STOPPED))

    @property
    def complete(self) -> bool:
        """``True`` iff every trajectory is ok: anything else is a partial result."""
        return bool(np.all(np.asarray(self.ok)))

    @property
    def y_final(self) -> Float[Array, "*batch n"]:
        """The last state each trajectory reached."""
        xp, ts, ys = np, _on_host(self.ts), _on_host(self.ys)
        if ts is None or ys is None:  # traced, or on an accelerator
            xp, ts, ys = jnp, self.ts, self.ys
        last = xp.sum(xp.isfinite(ts), axis=-1) - 1
        return to_jax(xp.take_along_axis(ys, last[..., None, None], axis=-2)[..., 0, :])

    def status_counts(self) -> dict[str, int]:
        st = np.asarray(self.status).ravel()
        return {s.label: int(np.sum(st == s)) for s in Status if np.any(st == s)}

    def failures(self, limit: int = 10) -> list[str]:
        """One line for each trajectory that did not end ok (at most ``limit``)."""
        st, tf = np.asarray(self.status), np.asarray(self.t_final)
        bad = np.argwhere(~np.asarray(self.ok))
        lines = [f"trajectory {tuple(int(i) for i in idx) if idx.size != 1 else int(idx[0])}: "
                 f"{Status(int(st[tuple(idx)])).label} at t = {tf[tuple(idx)]:.6g}" for idx in bad[:limit]]
        if len(bad) > limit:
            lines.append(f"... and {len(bad) - limit} more")
        return lines

    def outcome(self) -> dict:
        """For a single trajectory: ``complete``, ``status``, ``t_final``, ``steps`` and, where it
        did not end ok, ``partial`` and the ``failure`` line (the head of every job's summary)."""
        out = {"complete": self.complete, "status": Status(int(np.asarray(self.status))).label,
               "t_final": float(np.asarray(self.t_final)), "steps": int(np.asarray(self.num_steps))}
        if not self.complete:
            out.update(partial=True, failure=self.failures()[0])
        return out

    def stats(self) -> dict:
        """Solver statistics across the batch, for summaries."""
        n = np.asarray(self.num_steps)
        return {
            "trajectories": int(n.size),
            "status": self.status_counts(),
            "complete": self.complete,
            "steps_mean": float(n.mean()),
            "steps_max": int(n.max()),
            "rejected_steps_total": int(np.asarray(self.num_rejected_steps).sum()),
        }


class FiniteErrorGuard(diffrax.AbstractAdaptiveSolver, diffrax.AbstractWrappedSolver):
    """Wraps an adaptive solver so that a step producing NaN or inf reports an infinite error.

    diffrax's PID controller shrinks the step after an infinite error estimate, but a NaN
    one makes the next step size NaN and every later step is rejected until ``max_steps``
    (seen here: a trial step of a long stride overshoots ``log s`` and the stages overflow).
    An infinite candidate ``y1`` does the same through the controller's ``max(|y0|, |y1|)``
    error scale, so such a step also returns ``y1 = y0``.
    """

    solver: diffrax.AbstractAdaptiveSolver

    @property
    def term_structure(self):
        return self.solver.term_structure

    @property
    def interpolation_cls(self):  # pyright: ignore
        return self.solver.interpolation_cls

    @property
    def term_compatible_contr_kwargs(self):
        return self.solver.term_compatible_contr_kwargs

    def order(self, terms):
        return self.solver.order(terms)

    def strong_order(self, terms):
        return self.solver.strong_order(terms)

    def error_order(self, terms):
        return self.solver.error_order(terms)

    def init(self, terms, t0, t1, y0, args):
        return self.solver.init(terms, t0, t1, y0, args)

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        y1, y_error, dense, state, result = self.solver.step(terms, t0, t1, y0, args, solver_state, made_jump)
        finite = jnp.all(jnp.isfinite(y1)) & jnp.all(jnp.isfinite(y_error))
        # An infinite candidate y1 would make the controller's scale inf/inf = NaN again: hand it
        # a finite placeholder (the step is rejected anyway, its error being infinite).
        y1 = jnp.where(finite, y1, y0)
        return y1, jnp.where(finite, y_error, jnp.inf), dense, state, result

    def func(self, terms, t0, y0, args):
        return self.solver.func(terms, t0, y0, args)


def _vector_field(t, y, system):
    return system.vector_field(t, y)


def _to_log(system, y):
    idx = jnp.asarray(system.positive, int)
    return y.at[..., idx].set(jnp.log(y[..., idx]))


def _from_log(system, z):
    idx = jnp.asarray(system.positive, int)
    return z.at[..., idx].set(jnp.exp(z[..., idx]))


def _log_vector_field(t, z, system):
    """The flow in ``z_i = log y_i`` for the positive components: ``dz_i/dt = f_i / y_i``."""
    y = _from_log(system, z)
    idx = jnp.asarray(system.positive, int)
    return system.vector_field(t, y).at[idx].set(system.log_rate(t, y))


_TERM = diffrax.ODETerm(_vector_field)
_LOG_TERM = diffrax.ODETerm(_log_vector_field)


def _solve_one(system, y0, ts, rtol, atol, threshold, solver, max_steps, stop_when, log_positive):
    back = (lambda z: _from_log(system, z)) if log_positive else (lambda y: y)

    def blown_up(t, y, args, **kwargs):  # in the original coordinates
        return jnp.any(~(jnp.abs(back(y)) <= threshold))  # also true for NaN

    conds = [blown_up]
    if stop_when is not None:
        conds.append(lambda t, y, args, **kwargs: stop_when(t, back(y), args))
    sol = diffrax.diffeqsolve(
        _LOG_TERM if log_positive else _TERM, FiniteErrorGuard(solver), ts[0], ts[-1], None,
        _to_log(system, y0) if log_positive else y0, args=system,
        # With t1=True diffrax writes the last state reached into the slot after the last
        # save time reached, so an early stop keeps its final state within the T slots.
        saveat=diffrax.SaveAt(ts=ts, t1=True),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps, throw=False, event=diffrax.Event(cond_fn=conds),
    )
    event = sol.result == diffrax.RESULTS.event_occurred
    diverged = event & sol.event_mask[0]
    status = jnp.select(
        [sol.result == diffrax.RESULTS.successful, diverged, event,
         sol.result == diffrax.RESULTS.max_steps_reached],
        [Status.SUCCESS, Status.DIVERGED, Status.STOPPED, Status.MAX_STEPS],
        default=Status.FAILED,
    )
    # The last time reached (``ts`` may run backward: then the smallest).
    t_final = sol.ts[jnp.sum(jnp.isfinite(sol.ts)) - 1]
    n = ts.shape[0]  # on success slot n repeats ts[-1]; on an early stop it is inf
    return Solution(sol.ts[:n], back(sol.ys[:n]), status, t_final, sol.stats["num_steps"],
                    sol.stats["num_accepted_steps"], sol.stats["num_rejected_steps"])


def _check_parameters_not_nan(system: AbstractSystem) -> None:
    """Refuse a system with a NaN parameter (set behind its constructor's checks, e.g. by
    ``eqx.tree_at``), naming the field: its trajectories would otherwise end as ``max-steps``
    failures, as if the step limit were the cause. (An infinite entry may be meant: an unbounded
    coordinate of a window.) Traced parameters are checked by the caller."""
    inexact = eqx.filter(system, lambda x: isinstance(x, float) or eqx.is_inexact_array(x))
    for path, leaf in jax.tree_util.tree_leaves_with_path(inexact):
        if isinstance(leaf, jax.core.Tracer):
            continue
        host = _on_host(leaf)  # an accelerator's array is reduced where it lives: no copy to the host
        if bool(jnp.any(jnp.isnan(leaf)) if host is None else np.any(np.isnan(host))):
            name = jax.tree_util.keystr(path).lstrip(".") or "system"
            raise DynsimInputError(name, f"parameter {name} of {type(system).__name__} is NaN "
                                         f"(got {np.array2string(np.asarray(leaf), threshold=6)})")


def _solve_one_held(system, y0, ts, rtol, atol, threshold, solver, max_steps):
    """Sample-and-hold: integrate between the refresh times ``ts[0] + k * system.hold_period()``
    and apply ``system.refresh`` at each (e.g. a predictor recomputed every ``freq`` steps)."""
    period = system.hold_period()
    controller = diffrax.PIDController(rtol=rtol, atol=atol)
    event = diffrax.Event(cond_fn=lambda t, y, args, **kw: jnp.any(~(jnp.abs(y) <= threshold)))

    def segment(t0, t1, y):
        sol = diffrax.diffeqsolve(_TERM, FiniteErrorGuard(solver), t0, t1, None, y, args=system,
                                  saveat=diffrax.SaveAt(t1=True), stepsize_controller=controller,
                                  max_steps=max_steps, throw=False, event=event)
        status = jnp.select(
            [sol.result == diffrax.RESULTS.successful, sol.result == diffrax.RESULTS.event_occurred,
             sol.result == diffrax.RESULTS.max_steps_reached],
            [Status.SUCCESS, Status.DIVERGED, Status.MAX_STEPS], default=Status.FAILED)
        steps = jnp.stack([sol.stats["num_steps"], sol.stats["num_accepted_steps"],
                           sol.stats["num_rejected_steps"]])
        return sol.ts[-1], sol.ys[-1], status, steps

    def interval(carry, t_save):
        def cond(c):
            t, _, _, status, steps = c
            return (t < t_save) & (status == Status.SUCCESS)

        def body(c):
            t, y, k, _, steps = c
            boundary = ts[0] + k * period
            t_next = jnp.minimum(boundary, t_save)
            t_reached, y_new, status, seg_steps = segment(t, t_next, y)
            steps = steps + seg_steps
            status = jnp.where((status == Status.SUCCESS) & (steps[0] > max_steps), Status.MAX_STEPS, status)
            hit = (status == Status.SUCCESS) & (boundary <= t_save)
            y_new = jnp.where(hit, system.refresh(y_new), y_new)
            return t_reached, y_new, k + hit.astype(k.dtype), status, steps

        t, y, k, status, steps, stopped = carry
        t, y, k, status, steps = jax.lax.while_loop(cond, body, (t, y, k, status, steps))
        # The slot where a trajectory stopped keeps its last state and time; later ones are inf.
        out_t = jnp.where(stopped, jnp.inf, t)
        out_y = jnp.where(stopped, jnp.inf, y)
        return (t, y, k, status, steps, stopped | (status != Status.SUCCESS)), (out_t, out_y)

    init = (ts[0], y0, to_jax(1), jnp.asarray(Status.SUCCESS, int), jnp.zeros(3, int), to_jax(False))
    (t, _, _, status, steps, _), (out_t, out_y) = jax.lax.scan(interval, init, ts[1:])
    return Solution(jnp.concatenate([ts[:1], out_t]), jnp.concatenate([y0[None], out_y]), status, t,
                    steps[0], steps[1], steps[2])


# Through the serialized-job cache (dynsim._core.aot): a new process (each CLI command) loads the
# exported solve instead of tracing diffrax again; in one process it is eqx.filter_jit's behaviour.
@_aot.filter_jit("solve", Solution(*(0,) * 7))
def _solve_batch(system, y0, ts, rtol, atol, threshold, solver, max_steps, stop_when, log_positive):
    if system.hold_period() is not None:
        one = lambda sys, y: _solve_one_held(sys, y, ts, rtol, atol, threshold, solver, max_steps)
    else:
        one = lambda sys, y: _solve_one(sys, y, ts, rtol, atol, threshold, solver, max_steps, stop_when,
                                        log_positive)
    return jax.vmap(one)(system, y0)


def check_solver_options(rtol, atol, max_steps) -> None:
    """The step-size controller's tolerances and the step limit, or :class:`DynsimInputError`."""
    check_param("rtol", rtol, lower=0.0, lower_open=True)
    check_param("atol", atol, lower=0.0)
    if not isinstance(max_steps, int) or max_steps < 1:
        raise DynsimInputError("max_steps", f"max_steps must be a positive integer (got {max_steps!r})")


def _check_grid(ts) -> None:
    v = _concrete(ts)
    if v is None:
        return
    if v.ndim != 1 or v.size < 2:
        raise DynsimInputError("ts", f"ts must be a 1-D time grid with at least 2 points (got shape {v.shape})")
    if not np.all(np.isfinite(v)):
        raise DynsimInputError("ts", "ts must be finite")
    if not (np.all(np.diff(v) > 0) or np.all(np.diff(v) < 0)):
        raise DynsimInputError("ts", "ts must be strictly increasing (or strictly decreasing, to integrate backward)")


def solve(
    system: AbstractSystem,
    y0: Float[ArrayLike, "*batch n"],
    ts: Float[ArrayLike, " T"],
    *,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
    divergence_threshold: float = 1e12,
    solver: diffrax.AbstractAdaptiveSolver = diffrax.Tsit5(),
    dtype=None,
    stop_when: Callable[[Array, Array, AbstractSystem], Array] | None = None,
    log_positive: bool = False,
) -> Solution:
    """Integrate ``dy/dt = system.vector_field(t, y)`` from ``y0`` at ``ts[0]``, saving at ``ts``
    (increasing, or decreasing to integrate backward in time).

    Batched: the leading axes of ``y0`` and of the system's parameter arrays broadcast
    against each other and are integrated as one vmapped solve. Parameters, tolerances
    and the time grid are traced, so new values never recompile (new shapes do).

    Tsit5 with a PID step-size controller (``rtol``, ``atol``) by default; ``dtype``
    (e.g. ``jnp.float32``) casts everything for speed, float64 otherwise.
    ``stop_when(t, y, system) -> bool`` ends a trajectory early with status ``STOPPED``, at
    the end of the first accepted step where it holds (no root-finding of the crossing).
    ``max |y_i| > divergence_threshold`` ends it with status ``DIVERGED``.

    ``log_positive=True`` integrates the sign-preserving components (``system.positive``, e.g.
    the eigenvalue ``s`` of ``F``) as ``log y_i``: no step can push them across zero, and
    values like ``s ~ 1e-300`` neither underflow nor hide behind ``atol``. Use it whenever such a
    component spans many orders of magnitude (then ``atol`` applies to ``log y_i``).

    A system with a :meth:`~AbstractSystem.hold_period` is integrated piecewise, applying its
    :meth:`~AbstractSystem.refresh` every period (``stop_when`` and ``log_positive`` do not apply).
    """
    check_solver_options(rtol, atol, max_steps)
    check_param("divergence_threshold", divergence_threshold, lower=0.0, lower_open=True)
    _check_parameters_not_nan(system)
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.result_type(float)
    system = system.astype(dtype)
    y0 = jnp.asarray(y0, dtype)
    ts = jnp.asarray(ts, dtype)
    _check_grid(ts)
    if y0.ndim < 1 or y0.shape[-1] != system.dim:
        raise DynsimInputError("y0", f"y0 must have last axis of size {system.dim} "
                                     f"({', '.join(system.state_names)}), got shape {y0.shape}")
    check_param("y0", y0)
    if log_positive:
        v = _concrete(y0)
        if v is not None and system.positive and np.any(v[..., list(system.positive)] <= 0):
            names = ", ".join(system.state_names[i] for i in system.positive)
            raise DynsimInputError("y0", f"log_positive needs {names} > 0 in y0 "
                                         f"({names} = 0 is invariant: integrate it with log_positive=False)")

    batch = tuple(np.broadcast_shapes(y0.shape[:-1], system.batch_shape()))
    system = system.broadcast_to(batch)
    y0 = broadcast_flat(y0, batch, (system.dim,))

    sol = _solve_batch(system, y0, ts, jnp.asarray(rtol, dtype),
                       jnp.asarray(atol, dtype), jnp.asarray(divergence_threshold, dtype),
                       solver, max_steps, stop_when, bool(log_positive and system.positive))
    return jax.tree_util.tree_map(lambda x: _reshape(x, (*batch, *x.shape[1:])), sol)


def _reshape(x, shape):
    """``x.reshape(shape)``; a concrete array on the CPU is reshaped by NumPy (an eager JAX reshape
    is compiled for every new shape), a traced or accelerator array by JAX."""
    if x.shape == tuple(shape):
        return x
    host = _on_host(x)
    return x.reshape(shape) if host is None else to_jax(host.reshape(shape))
