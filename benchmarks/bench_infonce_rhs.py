"""Time per right-hand-side evaluation of the InfoNCE gradient flow at n = 1024 pairs, 64 dims:
dynsim's jitted ``InfoNCE.vector_field`` (jax.grad of the loss) against a plain-numpy
implementation of the same gradient, -dL/dW = W X with Lemma 1's X written out, in the same run.
Also checks that the two agree.
    python benchmarks/bench_infonce_rhs.py [--n 1024] [--dim 64] [--repeats 50]
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

import dynsim
from _common import write


def numpy_rhs(w, x, xp, tau, kernel):
    """-dL/dW = W X for one linear layer and one full batch, numpy only (the paper's X)."""
    n = x.shape[0]
    z, zp = x @ w.T, xp @ w.T
    if kernel == "gaussian":
        sq = np.sum(z * z, 1)
        d = sq[:, None] + sq[None, :] - 2.0 * z @ z.T
        np.fill_diagonal(d, np.sum((z - zp) ** 2, 1))
        logits = -d / (2.0 * tau)
    else:
        logits = z @ zp.T / tau
    a = np.exp(logits - logits.max(1, keepdims=True))
    a /= a.sum(1, keepdims=True)
    if kernel == "gaussian":
        diag = np.diag(a).copy()
        off = a - np.diag(diag)
        sigma0 = (x.T * (off.sum(1) + off.sum(0))) @ x - x.T @ (off + off.T) @ x
        delta = xp - x
        X = (sigma0 - (delta.T * (1.0 - diag)) @ delta) / (n * tau)
    else:
        m = x.T @ (a - np.eye(n)) @ xp
        X = -(m + m.T) / (n * tau)
    return w @ X


def best_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(repeats):
            out = fn()
        jax.block_until_ready(out)
        times.append((time.perf_counter() - t) / repeats)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    n, dim = args.n, args.dim
    x, xp = dynsim.augmented_views(n, np.eye(dim), dynsim.block_augmentation(dim, dim // 2, 1.0), seed=0)
    results = {"n": n, "dim": dim, "kernels": {}}
    for kernel, tau in (("gaussian", 1.0), ("dot", 0.1)):
        system = dynsim.InfoNCE(widths=(dim, dim), x=x, x_aug=xp, tau=tau, kernel=kernel)
        y = system.init(1.0, seed=1)
        rhs = jax.jit(lambda s, y: s.vector_field(0.0, y))
        w = np.asarray(system.unpack(y)["W1"])
        t_jax = best_time(lambda: rhs(system, y), args.repeats)
        t_np = best_time(lambda: numpy_rhs(w, x, xp, tau, kernel), args.repeats)
        ref = numpy_rhs(w, x, xp, tau, kernel)
        diff = float(np.max(np.abs(np.asarray(rhs(system, y)).reshape(dim, dim) - ref)) / np.max(np.abs(ref)))
        results["kernels"][kernel] = {"dynsim_ms": t_jax * 1e3, "numpy_ms": t_np * 1e3, "speedup": t_np / t_jax,
                                      "max_relative_difference": diff}
        print(f"{kernel:8s} dynsim (jit, jax.grad) {t_jax * 1e3:7.3f} ms   numpy (closed-form gradient) "
              f"{t_np * 1e3:7.3f} ms   ratio numpy/dynsim {t_np / t_jax:5.2f}x   max rel diff {diff:.1e}")
    write("infonce_rhs", results)


if __name__ == "__main__":
    main()
