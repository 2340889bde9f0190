"""Pseudo-arclength continuation vs a grid of independent root solves, at the same accuracy.

The eigenvalue dynamics dp/dt = p^2 [tau - (1 + sigma^2) p] - eta p (sigma = tau = 1) continued in
log eta over [1e-6, 0.5]: the branch p*_- -> fold at eta_c = 1/8 -> p*_+, about 200 points.
Measured in this one run, warm (best of --repeat) and cold (the first call, with compilation):

- ``continuation()`` end to end (the fixed-point search at the start, both branches, the fold),
  and given the starts (``start=``: Newton at eta = 1e-6 instead of the search);
- the branch loop alone: the jitted kernel of the ~200-point branch (both halves); target <= 1 s;
- a grid at the same 200 eta values, each point solved on its own:
  ``find_fixed_points`` with the same starts (all equilibria, what a grid needs without a branch
  to follow), and optimistix Newton (rtol = atol = 1e-13) per point from a guess 1% off the root
  (a lower bound: it needs the answer to start from); the ratio to each is printed;
- the agreement of every grid root with the branch and with the closed form ``nontrivial_roots``.
    python benchmarks/bench_continuation.py [--points 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import math
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

import dynsim
from dynsim.tools import continuation as cont
from _common import write

SIGMA, TAU, LO, HI = 1.0, 1.0, 1e-6, 0.5


def best(fn, repeat: int) -> tuple[object, float]:
    out, times = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, min(times)


@eqx.filter_jit
def newton_root(system: dynsim.EigenDynamics1D, eta, p0):
    """One independent root solve: optimistix Newton on f(p; eta) = 0 from p0."""
    system = eqx.tree_at(lambda m: m.eta, system, eta)
    fn = lambda y, s: s.vector_field(0.0, y)
    return optx.root_find(fn, optx.Newton(rtol=1e-13, atol=1e-13), p0, args=system, max_steps=100,
                          throw=False).value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=200, help="points on the fold branch (about)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    system = dynsim.EigenDynamics1D(eta=1e-3, sigma=SIGMA, tau=TAU)
    u_span = math.log(HI) - math.log(LO)
    # The branch's arclength in (p, log eta) is ~ 2 (log eta_c - log LO); the turn at the fold
    # takes some shorter steps more.
    ds = 2 * (math.log(0.125) - math.log(LO)) / (args.points - 18)

    run = lambda: cont.continuation(system, "eta", LO, HI, log=True, ds=ds)
    t0 = time.perf_counter()
    result = run()
    cold = time.perf_counter() - t0
    result, warm = best(run, args.repeat)
    (branch,) = [b for b in result.branches if np.any(b.states[:, 0] > 0.1)]
    (fold,) = result.of_kind("fold")
    n = len(branch)
    given = [[0.0], [float(branch.states[0, 0])]]  # the same starts, given: no fixed-point search
    _, warm_given = best(lambda: cont.continuation(system, "eta", LO, HI, log=True, ds=ds, start=given), args.repeat)
    print(f"continuation: {len(result.branches)} branches, the fold branch {n} points; cold {cold:.2f} s, "
          f"warm {1e3 * warm:.1f} ms end to end ({1e3 * warm_given:.1f} ms given the starts); "
          f"fold at eta = {fold.mu:.15g} "
          f"(closed form {float(dynsim.critical_eta(SIGMA, TAU)):.15g})")

    # The branch loop alone: the kernel on the fold branch, from the same start.
    f = lambda v: jnp.asarray(v, float)
    cfg = cont._Setup(cont._canonical(system), "eta", True, LO, HI, f(math.log(LO)), f(math.log(HI)), f(ds),
                      f(ds * 1e-7), f(1e-10), f(1e-13), jnp.asarray(10), f(1e8), 1000)
    x0 = np.array([branch.states[0, 0], math.log(branch.mu[0])])
    out, kernel = best(lambda: cfg.halves(x0, np.zeros(2), False), args.repeat)
    kernel_points = int(np.sum(out[4])) - 1
    print(f"branch loop alone: {kernel_points} points in {1e3 * kernel:.2f} ms "
          f"({1e6 * kernel / kernel_points:.1f} us a point); target <= 1 s: {'met' if kernel <= 1.0 else 'MISSED'}")

    # The grid: the same eta values, each solved on its own.
    etas, ps = branch.mu, branch.states[:, 0]
    starts = cont._default_starts(1)
    model_at = lambda eta: eqx.tree_at(lambda m: m.eta, cfg.model, jnp.asarray(eta, float))
    dynsim.find_fixed_points(model_at(etas[0]), starts)  # compile
    grid, ffp = best(lambda: [dynsim.find_fixed_points(model_at(e), starts) for e in etas], 1)  # ~10 s
    found = [fp.points[np.argmin(np.abs(fp.points[:, 0] - p)), 0] for fp, p in zip(grid, ps)]
    ffp_diff = float(np.max(np.abs(np.array(found) - ps) / ps))
    newton_root(cfg.model, jnp.asarray(etas[0]), jnp.asarray([ps[0] * 1.01]))  # compile
    roots, newton = best(lambda: [float(newton_root(cfg.model, jnp.asarray(e), jnp.asarray([p * 1.01]))[0])
                                  for e, p in zip(etas, ps)], args.repeat)
    newton_diff = float(np.max(np.abs(np.array(roots) - ps) / ps))
    pm, pp = (np.asarray(v) for v in dynsim.nontrivial_roots(etas, SIGMA, TAU))
    closed = np.where(ps < 0.25, pm, pp)
    closed_diff = float(np.max(np.abs(ps - closed) / closed))
    print(f"grid of {n} independent solves: find_fixed_points {1e3 * ffp:.0f} ms (the continuation end to end "
          f"is {ffp / warm:.0f}x faster); optimistix Newton per point from a 1% guess {1e3 * newton:.0f} ms "
          f"(the continuation given the starts is {newton / warm_given:.1f}x faster, the branch loop "
          f"{newton / kernel:.0f}x)")
    print(f"max relative difference: branch vs find_fixed_points {ffp_diff:.1e}, vs Newton {newton_diff:.1e}, "
          f"vs closed form {closed_diff:.1e}")

    write("continuation", {
        "model": "EigenDynamics1D", "sigma": SIGMA, "tau": TAU, "eta_range": [LO, HI], "log": True, "ds": ds,
        "u_span": u_span, "branch_points": n, "branches": len(result.branches),
        "fold_eta": fold.mu, "fold_eta_closed_form": float(dynsim.critical_eta(SIGMA, TAU)),
        "continuation_cold_s": cold, "continuation_warm_s": warm, "continuation_warm_given_starts_s": warm_given,
        "branch_loop_points": kernel_points, "branch_loop_warm_s": kernel, "target_s": 1.0,
        "meets_target": bool(kernel <= 1.0),
        "grid_find_fixed_points_s": ffp, "grid_find_fixed_points_starts": int(starts.shape[0]),
        "grid_newton_per_point_s": newton,
        "ratio_grid_find_fixed_points_to_continuation": ffp / warm,
        "ratio_grid_newton_to_continuation": newton / warm,
        "ratio_grid_newton_to_continuation_given_starts": newton / warm_given,
        "ratio_grid_newton_to_branch_loop": newton / kernel,
        "max_rel_diff": {"find_fixed_points": ffp_diff, "newton": newton_diff, "closed_form": closed_diff},
        "repeat": args.repeat, "jax_x64": bool(jax.config.jax_enable_x64),
    })


if __name__ == "__main__":
    main()
