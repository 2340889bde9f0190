"""The loss route's right-hand side against the hand-written one: :class:`dynsim.GradientFlow` of
BYOL's loss (``jax.grad``, decoupled decay, EMA target) against :class:`dynsim.LinearBYOL`'s Lemma 1
at n1 = n2 = 256 with general X, X', both jitted with the parameters traced (as in a solve) and
warm. Median time per evaluation over ``--rounds`` rounds of ``--repeats`` calls, the two interleaved
round by round (so that load from elsewhere hits both alike); target: the loss route at most 1.5x
slower. Two ways of writing the same loss are timed:

- ``loss-matmul``: ``A = W_p W``, ``1/2 <A (X + X'), A> - <A X, W_a>`` (5 matmuls in the gradient,
  like Lemma 1's W(X+X'), W_a X, W_p [.], E W^T, W_p^T E);
- ``loss-trace``: ``1/2 tr(W_p W (X + X') W^T W_p^T) - tr(W_p W X W_a^T)``, as on paper (longer
  chains of n^3 products; XLA does not reassociate them).

Also checks that the fields agree (relative 1e-12).
    python benchmarks/bench_loss_rhs.py [--n 256] [--repeats 20] [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import time

import equinox as eqx
import jax.numpy as jnp
import numpy as np

import dynsim
from dynsim._core.gradient_flow import GradientFlow
from dynsim.models.byol.system import spectrum
from _common import write


def loss_matmul(W_p, W, W_a, X, X_aug):
    a = W_p @ W
    return 0.5 * jnp.sum((a @ (X + X_aug)) * a) - jnp.sum((a @ X) * W_a)


def loss_trace(W_p, W, W_a, X, X_aug):
    return 0.5 * jnp.trace(W_p @ W @ (X + X_aug) @ W.T @ W_p.T) - jnp.trace(W_p @ W @ X @ W_a.T)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    n, rng = args.n, np.random.default_rng(0)
    X, _ = spectrum(np.linspace(1.0, 0.1, n), 0.0, seed=1)
    a = rng.normal(size=(n, n))
    Xa = 0.25 * a @ a.T / n  # a general (non-isotropic) augmentation covariance
    p = dict(eta=0.01, alpha_p=2.0, beta=0.5)
    hand = dynsim.LinearBYOL(n1=n, n2=n, X=X, X_aug=Xa, **p)
    flows = {name: GradientFlow(fn, {"W_p": (n, n), "W": (n, n)}, {"X": X, "X_aug": Xa}, p, lr={"W_p": "alpha_p"},
                                ema={"W_a": ("W", "beta")}, decay="eta")
             for name, fn in (("loss-matmul", loss_matmul), ("loss-trace", loss_trace))}
    rhs = eqx.filter_jit(lambda s, y: s.vector_field(0.0, y))  # parameters traced, as in a solve
    y = jnp.asarray(rng.normal(size=hand.dim) / np.sqrt(n))
    ref = rhs(hand, y).block_until_ready()
    systems = {"hand-written": hand, **flows}
    agree = {}
    for name, s in flows.items():
        out = rhs(s, y).block_until_ready()
        agree[name] = float(jnp.linalg.norm(out - ref) / jnp.linalg.norm(ref))
        assert agree[name] < 1e-12, (name, agree[name])
    times: dict[str, list[float]] = {k: [] for k in systems}
    for _ in range(args.rounds):
        for name, s in systems.items():
            rhs(s, y).block_until_ready()  # warm
            t = time.perf_counter()
            for _ in range(args.repeats):
                out = rhs(s, y)
            out.block_until_ready()
            times[name].append((time.perf_counter() - t) / args.repeats)
    med = {k: statistics.median(v) for k, v in times.items()}
    results = {"n": n, "repeats": args.repeats, "rounds": args.rounds, "target_ratio": 1.5, "systems": {}}
    for name in systems:
        ratio = med[name] / med["hand-written"]
        results["systems"][name] = {"median_ms": med[name] * 1e3, "min_ms": min(times[name]) * 1e3,
                                    "ratio_to_hand_written": ratio, "relative_difference": agree.get(name, 0.0)}
        print(f"{name:14s} median {med[name] * 1e3:8.3f} ms  (min {min(times[name]) * 1e3:.3f})  "
              f"ratio {ratio:5.2f}x" + (f"  field agrees to {agree[name]:.1e}" if name in agree else ""))
    results["ratio"] = results["systems"]["loss-matmul"]["ratio_to_hand_written"]
    results["meets_target"] = results["ratio"] <= 1.5
    print(f"loss route / hand-written: {results['ratio']:.2f}x (target <= 1.5x: "
          f"{'met' if results['meets_target'] else 'NOT met'})")
    write("loss_rhs", results)


if __name__ == "__main__":
    main()
