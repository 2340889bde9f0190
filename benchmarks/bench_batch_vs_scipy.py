"""dynsim's batched (vmapped) solver vs a loop of scipy ``solve_ivp`` at the same tolerance.

10^4 initial conditions of the 2-D (p, s) system (eta = 4e-4, sigma = 1, tau = alpha_p = 1),
integrated to t1 with rtol = 1e-8, atol = 1e-10, both in (p, log s) coordinates (dynsim's
``log_positive=True``; in (p, s) absolute error control lets s cross its invariant line s = 0,
see tests/test_solve.py). scipy runs on a random subsample and is extrapolated; the script
prints the ratio and the agreement of the end states.
    python benchmarks/bench_batch_vs_scipy.py [--n 10000] [--subsample 100] [--t1 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.integrate import solve_ivp

import dynsim
from _common import log_s_rhs, write

ETA, K, TAU, ALPHA = 4e-4, 2.0, 1.0, 1.0


rhs = log_s_rhs(ETA, K, TAU, ALPHA)  # the same flow in (p, log s), plain numpy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--subsample", type=int, default=100)
    ap.add_argument("--t1", type=float, default=1000.0)
    ap.add_argument("--rtol", type=float, default=1e-8)
    ap.add_argument("--atol", type=float, default=1e-10)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    y0 = np.stack([rng.uniform(-0.25, 1.0, args.n), rng.uniform(1e-3, 0.8, args.n)], axis=1)
    ts = np.array([0.0, args.t1])
    system = dynsim.EigenDynamics2D(eta=ETA, sigma=1.0, tau=TAU, alpha_p=ALPHA)

    t = time.perf_counter()
    sol = dynsim.solve(system, y0, ts, rtol=args.rtol, atol=args.atol, log_positive=True)
    sol.ys.block_until_ready()
    first = time.perf_counter() - t
    t = time.perf_counter()
    sol = dynsim.solve(system, y0, ts, rtol=args.rtol, atol=args.atol, log_positive=True)
    sol.ys.block_until_ready()
    warm = time.perf_counter() - t

    idx = rng.choice(args.n, args.subsample, replace=False)
    scipy_times, errors = {}, {}
    for method in ("RK45", "DOP853", "LSODA"):
        ends = []
        t = time.perf_counter()
        for i in idx:
            out = solve_ivp(rhs, (0.0, args.t1), [y0[i, 0], np.log(y0[i, 1])], method=method,
                            rtol=args.rtol, atol=args.atol)
            ends.append([out.y[0, -1], np.exp(out.y[1, -1])])
        scipy_times[method] = (time.perf_counter() - t) / args.subsample * args.n
        errors[method] = float(np.max(np.abs(np.array(ends) - np.asarray(sol.y_final)[idx])))
    best = min(scipy_times, key=scipy_times.get)
    stats = sol.stats()
    result = {
        "n": args.n, "t1": args.t1, "rtol": args.rtol, "atol": args.atol,
        "dynsim_first_call_s": round(first, 3), "dynsim_warm_s": round(warm, 3),
        "dynsim_steps_mean": stats["steps_mean"], "dynsim_steps_max": stats["steps_max"],
        "dynsim_status": stats["status"],
        "scipy_extrapolated_s": {k: round(v, 2) for k, v in scipy_times.items()},
        "scipy_subsample": args.subsample,
        "max_abs_end_state_difference": errors,
        "speedup_vs_scipy": {k: round(v / warm, 1) for k, v in scipy_times.items()},
        "speedup_vs_best_scipy": round(scipy_times[best] / warm, 1), "best_scipy_method": best,
    }
    print(f"dynsim: {args.n} trajectories in {warm:.2f} s warm ({first:.2f} s with compilation); "
          f"scipy {best} (best of RK45/DOP853/LSODA): {scipy_times[best]:.1f} s extrapolated; "
          f"ratio {result['speedup_vs_best_scipy']}x; max |end-state difference| {errors}")
    write("batch_vs_scipy", result)


if __name__ == "__main__":
    main()
