"""The generic basin map: a user-written 2-D model (damped Duffing) against a scipy loop at the same
tolerance on a subsample, extrapolated; and the eigen system without its hooks against with them
(the price of generality). Prints the ratios and writes benchmarks/results/generic_basins.json.

    python benchmarks/bench_generic_basins.py [--grid 512] [--subsample 64]
"""

from __future__ import annotations

import argparse
import time

import jax.numpy as jnp
import numpy as np
from _common import write

import dynsim


def duffing(t, y, *, delta=0.3):
    x, v = y
    return jnp.stack([v, x - x**3 - delta * v])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grid", type=int, default=512)
    ap.add_argument("--subsample", type=int, default=64)
    args = ap.parse_args()
    from scipy.integrate import solve_ivp

    m = dynsim.from_function(duffing, state_names=("x", "v"))
    win = [(-2.0, 2.0), (-2.0, 2.0)]
    dynsim.basins(m, window=win, grid=args.grid, separatrices=False)  # compile
    t0 = time.perf_counter()
    bm = dynsim.basins(dynsim.with_params(m, {"delta": 0.31}), window=win, grid=args.grid, separatrices=False)
    warm = time.perf_counter() - t0
    t1 = bm.solver["t1"]
    rng = np.random.default_rng(0)
    X, V = np.meshgrid(bm.plane.x.values(), bm.plane.y.values())
    cells = rng.choice(X.size, args.subsample, replace=False)
    t0 = time.perf_counter()
    agree = 0
    for c in cells:
        ref = solve_ivp(lambda t, y: [y[1], y[0] - y[0] ** 3 - 0.31 * y[1]], (0, t1), [X.flat[c], V.flat[c]],
                        method="RK45", rtol=1e-6, atol=1e-9).y[:, -1]
        agree += int(np.argmin(np.abs(bm.attractors.points[:, 0] - ref[0])) == bm.labels.flat[c])
    scipy_per_cell = (time.perf_counter() - t0) / args.subsample
    scipy_total = scipy_per_cell * X.size

    e = dynsim.EigenDynamics2D(eta=4e-4, sigma=1.0)
    ewin = [(-1.0, 2.0, False), (1e-10, 1.0, True)]
    times = {}
    labels = {}
    for hooks in (True, False):
        dynsim.basins(e, window=ewin, grid=args.grid // 2, separatrices=False, hooks=hooks)  # compile
        t0 = time.perf_counter()
        r = dynsim.basins(dynsim.with_params(e, {"eta": 4.1e-4}), window=ewin, grid=args.grid // 2,
                          separatrices=False, hooks=hooks)
        times[hooks] = time.perf_counter() - t0
        labels[hooks] = r.labels
    result = {
        "duffing_grid": args.grid, "duffing_warm_s": warm, "scipy_rk45_per_cell_s": scipy_per_cell,
        "scipy_extrapolated_s": scipy_total, "speedup_vs_scipy": scipy_total / warm,
        "scipy_agreement_on_subsample": agree / args.subsample,
        "eigen_grid": args.grid // 2, "eigen_hooked_warm_s": times[True], "eigen_generic_warm_s": times[False],
        "price_of_generality": times[False] / times[True],
        "eigen_label_agreement": float(np.mean(labels[True] == labels[False])),
    }
    for k, v in result.items():
        print(f"{k:32s} {v:.4g}" if isinstance(v, float) else f"{k:32s} {v}")
    write("generic_basins", result)


if __name__ == "__main__":
    main()
