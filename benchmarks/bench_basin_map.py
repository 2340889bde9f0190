"""The 512 x 512 basin map of the (p, s) system (eta = 4e-4, sigma = 1, tau = alpha_p = 1, t1 = 2e4).

Prints and writes (results/bench_basin_map.json), all measured in this one run:
- dynsim's wall time, cold (with compilation) and warm (best of 2), for the labels alone and with
  the separatrix; the target is < 10 s warm on the 2-core CPU;
- the agreement of its labels with scipy at rtol 1e-10 (LSODA on 500 random cells and 500 cells on
  a basin boundary; Radau on the 500 random ones), the reference labelled by where it is at t1;
- the ratio to scipy's best method (RK45, LSODA, Radau at dynsim's rtol 1e-6) on the random cells,
  each given the same help (cells decided at t = 0 are free, a terminal event at the trap);
- a plain vmap of Tsit5 + PID to t1 (no traps) on 64 x 64 cells, extrapolated;
- a floor: the right-hand-side FLOPs dynsim evaluated over the measured float64 matmul peak.
    python benchmarks/bench_basin_map.py [--grid 512] [--sample 500]
"""

from __future__ import annotations

import argparse
import time

import jax.numpy as jnp
import numpy as np
from scipy.integrate import solve_ivp

import dynsim
from dynsim.models.eigen.basins import COLLAPSED, NONTRIVIAL, NOT_SETTLED, _lane_system, traps
from _common import log_s_rhs, write

ETA, SIGMA, TAU, ALPHA, T1 = 4e-4, 1.0, 1.0, 1.0, 2e4
K = 1 + SIGMA**2
RHS_FLOPS = 30  # (p, log s) field: one exp (~20 flops) and ~10 arithmetic operations


rhs = log_s_rhs(ETA, K, TAU, ALPHA)  # the same flow in (p, log s), plain numpy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--grid", type=int, default=512)
    ap.add_argument("--sample", type=int, default=500)
    args = ap.parse_args()
    system = dynsim.EigenDynamics2D(eta=ETA, sigma=SIGMA, tau=TAU, alpha_p=ALPHA)

    def run(separatrix):
        t0 = time.perf_counter()
        bm = dynsim.basin_map(system, num=args.grid, t1=T1, separatrix=separatrix)
        return bm, time.perf_counter() - t0

    _, cold = run(True)
    warm_labels = min(run(False)[1] for _ in range(2))
    bm, warm_total = min((run(True) for _ in range(2)), key=lambda r: r[1])
    sm = bm.summary()
    print(f"dynsim {args.grid}x{args.grid}: cold {cold:.2f} s, warm {warm_labels:.2f} s labels only, "
          f"{warm_total:.2f} s with the separatrix; counts {sm['counts']}")

    # The reference: scipy at rtol 1e-10, labelled by the same trap test at t1 (or not settled).
    tr = traps(ETA, SIGMA, TAU, ALPHA)
    P, S = np.meshgrid(bm.p.values(), bm.s.values())
    labels = bm.labels.ravel()
    p0, s0 = P.ravel(), S.ravel()
    rng = np.random.default_rng(0)
    uniform = rng.choice(labels.size, args.sample, replace=False)
    L = bm.labels
    edge = np.zeros_like(L, bool)
    edge[:, 1:] |= L[:, 1:] != L[:, :-1]
    edge[:, :-1] |= L[:, 1:] != L[:, :-1]
    edge[1:, :] |= L[1:, :] != L[:-1, :]
    edge[:-1, :] |= L[1:, :] != L[:-1, :]
    boundary = rng.choice(np.flatnonzero(edge.ravel()), min(args.sample, int(edge.sum())), replace=False)

    def certify(idx, t, y):
        lane = _lane_system(system, tr, s0[idx] - p0[idx] ** 2 / ALPHA)
        return np.asarray(lane.certify(jnp.asarray(t), jnp.asarray(y)))

    def reference(idx, method):
        out = np.empty(idx.size, int)
        t0 = time.perf_counter()
        for j, i in enumerate(idx):
            with np.errstate(over="ignore", invalid="ignore"):
                r = solve_ivp(rhs, (0, T1), [p0[i], np.log(s0[i])], method=method, rtol=1e-10, atol=1e-12)
            out[j] = certify(np.array([i]), r.t[-1], r.y[:, -1])[0] if r.success else -2
        return out, time.perf_counter() - t0

    agreement = {}
    for name, idx, methods in (("random", uniform, ("LSODA", "Radau")), ("boundary", boundary, ("LSODA",))):
        for m in methods:
            ref, secs = reference(idx, m)
            agreement[f"{name}_{m}"] = {"cells": int(idx.size), "agree": float(np.mean(ref == labels[idx])),
                                        "reference_not_settled": int(np.sum(ref == NOT_SETTLED)),
                                        "reference_s": round(secs, 2)}
            print(f"agreement with {m} rtol 1e-10 on {idx.size} {name} cells: "
                  f"{100 * agreement[f'{name}_{m}']['agree']:.2f}%")

    # scipy at dynsim's tolerance, given the same traps (a numpy transcription of the trap test,
    # checked against dynsim's on the sample) and the t = 0 decisions.
    def certify_np(t, p, c0):
        c = c0 * np.exp(-2 * ETA * t)
        a = ALPHA * abs(c)
        f1 = lambda q: q * q * (TAU - K * q) - ETA * q
        lower = lambda q: f1(q) - a * abs(TAU - K * q)
        upper = lambda q: f1(q) + a * abs(TAU - K * q)
        if p > tr.p_sep and (c >= 0 or (p < tr.p_plus and lower(p) > 0) or (p >= tr.q_up and lower(tr.q_up) > 0)):
            return NONTRIVIAL
        if p < tr.p_sep and ((c <= 0 and K * p < TAU) or (p > 0 and upper(p) < 0)
                             or (p <= tr.q_down and upper(tr.q_down) < 0)):
            return COLLAPSED
        return NOT_SETTLED

    c0s = s0 - p0**2 / ALPHA
    check_t = rng.uniform(0, T1, uniform.size)
    jax_labels = certify(uniform, check_t, np.stack([p0[uniform], s0[uniform]], -1).T)
    np_labels = [certify_np(t, p0[i], c0s[i]) for t, i in zip(check_t, uniform)]
    assert np.array_equal(jax_labels, np_labels), "the numpy trap test differs from dynsim's"
    scipy_times = {}
    for m in ("RK45", "LSODA", "Radau"):
        t0 = time.perf_counter()
        for i in uniform:
            if bm.t_settle.ravel()[i] == 0:
                continue

            def event(t, y, c0=c0s[i]):
                return -1.0 if certify_np(t, y[0], c0) != NOT_SETTLED else 1.0

            event.terminal = True
            with np.errstate(over="ignore", invalid="ignore"):
                solve_ivp(rhs, (0, T1), [p0[i], np.log(s0[i])], method=m, rtol=1e-6, atol=1e-9, events=event)
        scipy_times[m] = (time.perf_counter() - t0) / uniform.size
        print(f"scipy {m} (rtol 1e-6, same traps): {1e3 * scipy_times[m]:.2f} ms per cell")
    best = min(scipy_times, key=scipy_times.get)
    scipy_grid = scipy_times[best] * labels.size
    ratio = scipy_grid / warm_labels

    # A plain vmap to t1, no traps.
    n_plain = 64
    Pp, Sp = np.meshgrid(np.linspace(-1, 2, n_plain), np.geomspace(1e-10, 1, n_plain))
    y0 = np.stack([Pp.ravel(), Sp.ravel()], -1)
    ts = np.array([0.0, T1])
    dynsim.solve(system, y0, ts, rtol=1e-6, atol=1e-9, log_positive=True, max_steps=100_000)  # compile
    t0 = time.perf_counter()
    sol = dynsim.solve(system, y0, ts, rtol=1e-6, atol=1e-9, log_positive=True, max_steps=100_000)
    np.asarray(sol.ys)
    plain_s = time.perf_counter() - t0
    plain_grid = plain_s * labels.size / y0.shape[0]
    steps_plain = np.asarray(sol.num_steps)
    print(f"plain vmap to t1 (no traps) on {n_plain}x{n_plain}: {plain_s:.2f} s, steps mean "
          f"{steps_plain.mean():.0f} max {steps_plain.max()}; extrapolated to the grid {plain_grid:.1f} s")

    # The floor: FLOPs of the right-hand sides dynsim evaluated (6 per Tsit5 step + the trap test).
    a = np.random.default_rng(1).standard_normal((2048, 2048))
    a @ a
    t0 = time.perf_counter()
    a @ a
    peak = 2 * 2048**3 / (time.perf_counter() - t0)
    flops = float(bm.steps.sum()) * (6 + 1) * RHS_FLOPS
    floor = flops / peak
    print(f"floor: {flops:.3g} RHS FLOPs / {peak / 1e9:.1f} GFLOP/s matmul peak = {1e3 * floor:.1f} ms "
          f"(dynsim is {warm_labels / floor:.0f}x the floor)")
    print(f"dynsim {warm_labels:.2f} s vs scipy {best} extrapolated {scipy_grid:.0f} s: {ratio:.0f}x faster; "
          f"vs plain vmap {plain_grid / warm_labels:.0f}x")

    write("bench_basin_map", {
        "grid": args.grid, "eta": ETA, "sigma": SIGMA, "tau": TAU, "alpha_p": ALPHA, "t1": T1,
        "dynsim_cold_s": cold, "dynsim_warm_labels_s": warm_labels, "dynsim_warm_with_separatrix_s": warm_total,
        "target_s": 10.0, "counts": sm["counts"], "decided_without_integrating": sm["decided_without_integrating"],
        "steps_mean": sm["solver"]["steps_mean"], "steps_max": sm["solver"]["steps_max"],
        "agreement": agreement, "scipy_s_per_cell": scipy_times, "scipy_best": best,
        "scipy_best_extrapolated_s": scipy_grid, "speedup_vs_scipy_best": ratio,
        "plain_vmap": {"cells": n_plain**2, "s": plain_s, "extrapolated_s": plain_grid,
                       "steps_mean": float(steps_plain.mean()), "steps_max": int(steps_plain.max())},
        "floor": {"rhs_flops": flops, "matmul_peak_flops": peak, "floor_s": floor, "ratio": warm_labels / floor},
    })


if __name__ == "__main__":
    main()
