r"""How often random initialisations of the matrix models collapse [T21, W21], against the init
scale and other hyperparameters.

For each parameter point, ``samples`` random starts (:func:`~dynsim.models.byol.simulate.initial_state`:
``W ~ scale N(0, 1/n1)``, ``W_p ~ scale N(0, 1/n2)``) are integrated to ``t1`` in one batched
solve (the parameters are arrays, so the points share one compiled program). Each run is labelled
from the eigenvalues ``s_j`` of ``F = W X W^T``:

- a direction is *collapsed* when ``s_j(t1) < COLLAPSE_RTOL * s_ref`` with
  ``s_ref = max(max_j s_j(0), max_j s_j(t1))`` (the criterion of ``dynsim simulate``). With weight
  decay the default ``t1 = 25 / eta`` puts a collapsed direction at ``~e^{-50} s_j(0)``, far below;
- a run is *settled* when every non-collapsed ``s_j`` moved by less than ``SETTLED_RTOL``
  (relative) over the last tenth of ``[0, t1]``; otherwise it is counted as not settled;
- failed runs (blow-up, step limit) are counted, not labelled.

Reported per point: the fraction of runs that collapse completely (every direction), the fraction
with at least one collapsed direction (dimensional collapse), and the mean fraction of collapsed
directions, each over the settled runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from dynsim._core.errors import DynsimInputError
from dynsim.models.byol.system import RULES, SymmetrizedBYOL
from dynsim.models.byol.simulate import COLLAPSE_RTOL, FAMILY_DEFAULTS, MODELS, build, family, initial_state
from dynsim._core.solve import check_solver_options, solve
from dynsim._core.system import check_param, to_jax

SETTLED_RTOL = 1e-3
#: What a ``collapse`` sweep may vary (``alpha``: DirectSet's exponent; ``alpha_p`` not for the rules).
PARAMETERS = ("init_scale", "eta", "sigma", "alpha_p", "beta", "alpha")
MAX_RUNS = 1 << 16


def _check(model: str, ranges, samples: int, n1: int) -> None:
    if model not in MODELS or model == "scalar":
        raise DynsimInputError("model", f"collapse fractions are for the matrix models: "
                                        f"{', '.join(m for m in MODELS if m != 'scalar')} (got {model!r})")
    if not 1 <= len(ranges) <= 2:
        raise DynsimInputError("over", "sweep one parameter or a pair of them")
    for r in ranges:
        if r.name not in PARAMETERS:
            raise DynsimInputError("over", f"unknown parameter {r.name!r} for a collapse sweep: "
                                           f"one of {', '.join(PARAMETERS)}")
        r.check(PARAMETERS)
    if len(ranges) == 2 and ranges[0].name == ranges[1].name:
        raise DynsimInputError("over", f"{ranges[0].name} is swept twice")
    names = {r.name for r in ranges}
    if "alpha" in names and model != "directset":
        raise DynsimInputError("over", "alpha (DirectSet's exponent) is swept with --model directset")
    if "alpha_p" in names and model in RULES:
        raise DynsimInputError("over", f"{model} sets W_p by a rule: it has no alpha_p")
    if not isinstance(samples, int) or samples < 1:
        raise DynsimInputError("samples", f"samples must be a positive integer (got {samples!r})")
    if not isinstance(n1, int) or n1 < 1:
        raise DynsimInputError("n1", f"n1 must be a positive integer (got {n1!r})")
    runs = samples * int(np.prod([r.num for r in ranges]))
    if runs > MAX_RUNS:
        raise DynsimInputError("samples", f"{runs} runs (samples x parameter points) is over the limit of {MAX_RUNS}")


def init_collapse(model: str, ranges, *, samples: int = 32, n1: int = 8, base: dict | None = None,
                  t1: float | None = None, rtol: float = 1e-6, atol: float = 1e-12, max_steps: int = 100_000,
                  seed: int = 0, progress: Callable[[str], None] | None = None):
    """The collapsed fractions of ``samples`` random starts of ``model`` over the grid of ``ranges``
    (one or two :class:`~dynsim.Range` over :data:`PARAMETERS`); the other parameters from ``base``
    (the model's defaults otherwise). Returns a :class:`~dynsim.Sweep` of kind ``collapse``."""
    from dynsim.models.eigen.sweep import Sweep

    base = dict(base or {})
    n1 = base.pop("n1", n1)
    unknown = set(base) - {*PARAMETERS, "tau", "data"}
    if unknown:
        raise DynsimInputError("base", f"unknown parameter(s) {', '.join(sorted(unknown))}")
    _check(model, ranges, samples, n1)
    d = FAMILY_DEFAULTS[family(model)]
    scale0 = float(base.pop("init_scale", 1.0))
    options = {"n1": n1, "data": d["data"], "sigma": d["sigma"], "eta": d["eta"], "beta": d["beta"], **base}
    check_param("eta", options["eta"], lower=0.0)
    check_solver_options(rtol, atol, max_steps)
    eta_max = max([options["eta"]] + [r.hi for r in ranges if r.name == "eta"])
    eta_min = min([options["eta"]] + [r.lo for r in ranges if r.name == "eta"])
    if t1 is None:
        if eta_min <= 0:
            raise DynsimInputError("over" if any(r.name == "eta" for r in ranges) else "eta",
                                   "with eta = 0 nothing decays: give t1 as well")
        t1 = min(25.0 / eta_min, 1e6)
    check_param("t1", t1, lower=0.0, lower_open=True)
    points = list(itertools.product(*[r.values() for r in ranges]))
    systems, starts, params = [], [], None
    for vals in points:
        over = {r.name: float(v) for r, v in zip(ranges, vals)}
        scale = over.pop("init_scale", scale0)
        system, params, _, _ = build(model, seed=seed, strict=False, **{**options, **over})
        systems.append(system)
        starts.append(np.stack([initial_state(system, seed * 1_000_003 + k, scale) for k in range(samples)]))
    # One batched solve: parameters stacked on axis 1, samples on axis 0.
    stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *systems)
    y0 = np.stack(starts, axis=1)  # (samples, points, dim)
    if progress is not None:
        progress(f"integrating {y0.shape[0] * y0.shape[1]:,} runs of {model} ({system.dim} state variables) "
                 f"to t1 = {t1:g}")
    sol = solve(stacked, y0, np.array([0.0, 0.9 * t1, t1]), rtol=rtol, atol=atol, max_steps=max_steps)
    s = _eigenvalues(stacked, np.asarray(sol.ys))  # (samples, points, 3, n2)
    ok = np.asarray(sol.ok) & np.all(np.isfinite(s), axis=(-2, -1))
    s0, s9, s1 = s[..., 0, :], s[..., 1, :], s[..., 2, :]
    ref = np.maximum(s0.max(-1), s1.max(-1))[..., None]
    collapsed = s1 < COLLAPSE_RTOL * ref
    moving = ~collapsed & (np.abs(s1 - s9) > SETTLED_RTOL * np.abs(s1))
    settled = ok & ~moving.any(-1)
    n = settled.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        full = np.where(n > 0, (collapsed.all(-1) & settled).sum(0) / n, np.nan)
        some = np.where(n > 0, (collapsed.any(-1) & settled).sum(0) / n, np.nan)
        dims = np.where(n > 0, (collapsed.mean(-1) * settled).sum(0) / n, np.nan)
    shape = tuple(r.num for r in ranges)
    failed = (~ok).sum(0)
    unsettled = (ok & ~settled).sum(0)
    per_point = [{**{r.name: float(v) for r, v in zip(ranges, vals)}, "collapsed": float(a),
                  "any_direction_collapsed": float(b), "collapsed_directions": float(c),
                  "not_settled": int(u), "failed": int(f)}
                 for vals, a, b, c, u, f in zip(points, full, some, dims, unsettled, failed)]
    params.pop("model", None)
    info = {"quantity": "fraction of random initialisations that collapse completely (every direction of F)",
            "model": model, "samples": samples, "t1": t1, "rtol": rtol, "atol": atol, "seed": seed,
            "criterion": f"s_j(t1) < {COLLAPSE_RTOL:g} max(s(0), s(t1)); settled: non-collapsed s_j moved < "
                         f"{SETTLED_RTOL:g} (relative) over [0.9 t1, t1]",
            "init": "W ~ scale N(0, 1/n1), W_p ~ scale N(0, 1/n2), W_a(0) = W(0)",
            "model_parameters": {k: v for k, v in params.items() if k not in {r.name for r in ranges}},
            "not_settled_total": int(unsettled.sum()), "failed_total": int(failed.sum()),
            "per_point": per_point}
    if eta_max > 0 and t1 < 10.0 / eta_max:
        info["warning"] = f"t1 = {t1:g} < 10/eta: collapsed directions may not have decayed below the criterion"
    if unsettled.any() or failed.any():
        info["partial"] = True
        info["failures"] = sol.failures()
    extra = {"any_direction_collapsed": some.reshape(shape), "collapsed_directions": dims.reshape(shape),
             "not_settled": unsettled.reshape(shape), "failed": failed.reshape(shape),
             "eig_F_final": np.moveaxis(s1, 0, 1).reshape(*shape, samples, -1)}
    return Sweep("collapse", tuple(ranges), {"init_scale": scale0, **{k: v for k, v in options.items()
                                                                      if isinstance(v, (int, float))}},
                 full.reshape(shape), extra, info)


def _eigenvalues(system, ys: np.ndarray) -> np.ndarray:
    """Eigenvalues of ``F`` (ascending; NaN where the state is not finite) at every saved state
    ``ys`` (``batch + (T, dim)``) of a batched ``system``."""
    batch = ys.shape[:-2]
    flat = system.broadcast_to(batch)
    y = to_jax(ys.reshape(-1, *ys.shape[-2:]))
    if isinstance(system, SymmetrizedBYOL):
        f = np.asarray(system.unpack(y)["F"])
    else:
        f = np.asarray(jax.vmap(lambda sys, yy: sys.F(yy))(flat, y))
    finite = np.isfinite(f).all((-2, -1))
    f = np.where(finite[..., None, None], 0.5 * (f + np.swapaxes(f, -1, -2)), 0.0)
    s = np.where(finite[..., None], np.linalg.eigvalsh(f), np.nan)
    return s.reshape(*batch, *s.shape[1:])
