"""Achieved GFLOP/s of the matrix right-hand sides at n1 = n2 = 256, against a plain float64
matmul measured in the same run (issue 3's target: at least 40% of it).

FLOPs are counted as the matmuls the equations need (2 n^3 each): Lemma 1 with general X, X'
needs 5 (W(X+X'), W_a X, W_p [W(X+X')], E W^T, W_p^T E), the isotropic fast path 3, the
symmetrized W_p/F system 3 (W_p F, W_p^2, W_p^2 F: {A, B} = AB + (AB)^T for symmetric A, B), DirectCopy with a
held W_p 4 (W(X+X'), W_a X, W_p [.], W_p^T E) plus F = W X W^T for the running estimate (2).
    python benchmarks/bench_matrix_rhs.py [--n 256] [--repeats 200]
"""

from __future__ import annotations

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import dynsim
from dynsim.models.byol.system import SymmetrizedBYOL, directset, isotropic, spectrum
from _common import write


def best_time(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile
    times = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(repeats):
            out = fn(*args)
        jax.block_until_ready(out)
        times.append((time.perf_counter() - t) / repeats)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()
    n, rng = args.n, np.random.default_rng(0)
    mm = 2.0 * n**3

    a, b = jnp.asarray(rng.normal(size=(n, n))), jnp.asarray(rng.normal(size=(n, n)))
    assert a.dtype == jnp.float64
    t_mm = best_time(jax.jit(jnp.matmul), a, b, repeats=args.repeats)
    peak = mm / t_mm / 1e9
    print(f"plain float64 matmul {n}x{n}: {t_mm * 1e3:.3f} ms, {peak:.2f} GFLOP/s")

    X, Xa = spectrum(np.linspace(1.0, 0.1, n), 0.5, seed=1)
    Xi, Xai = isotropic(n, 0.5)
    systems = {
        "lemma1-dense": (dynsim.LinearBYOL(n1=n, n2=n, X=X, X_aug=Xa, eta=0.01), 5),
        "lemma1-isotropic": (dynsim.LinearBYOL(n1=n, n2=n, X=Xi, X_aug=Xai, eta=0.01, isotropic=True), 3),
        "symmetrized": (SymmetrizedBYOL(n=n, sigma=0.5, eta=0.01, ema=True), 3),
        "directcopy-held-running": (directset("directcopy", n1=n, n2=n, X=X, X_aug=Xa, rho=0.3, freq=5), 6),
    }
    results = {"n": n, "matmul_ms": t_mm * 1e3, "matmul_gflops": peak, "systems": {}}
    for name, (system, n_mm) in systems.items():
        y = jnp.asarray(rng.normal(size=system.dim) / np.sqrt(n))
        rhs = eqx.filter_jit(lambda s, y: s.vector_field(0.0, y))  # parameters traced, as in a solve
        t = best_time(rhs, system, y, repeats=args.repeats)
        gflops = n_mm * mm / t / 1e9
        frac = gflops / peak
        results["systems"][name] = {"matmuls": n_mm, "ms": t * 1e3, "gflops": gflops, "fraction_of_matmul": frac}
        print(f"{name:26s} {t * 1e3:8.3f} ms  {gflops:6.2f} GFLOP/s  = {100 * frac:5.1f}% of the plain matmul "
              f"({n_mm} matmuls; ideal {n_mm * t_mm * 1e3:.3f} ms)")
    write("matrix_rhs", results)


if __name__ == "__main__":
    main()
