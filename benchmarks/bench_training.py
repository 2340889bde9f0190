"""Training steps per second of linear BYOL: dynsim's ``train`` (one jitted ``lax.scan`` over the
steps, vmapped over seeds) against a plain PyTorch eager loop and a plain JAX loop (a jitted single
step called from a Python ``for``), all in one run, in float64 (dynsim's default) and float32.

Model (dynsim ``train("byol")``): online ``W`` (width x n1), linear predictor ``W_p`` trained at
``alpha_p lr``, EMA target ``W_a <- W_a + lr beta (W - W_a)``, weight decay ``eta`` on ``W`` and
``W_p``, loss ``0.5 mean ||W_p W x_1 - SG(W_a x_2)||^2``, ``x ~ N(0, X)``, views ``x + N(0, X')``
drawn fresh each step as ``randn @ L^T`` with the same eigen-factor ``L`` of ``X`` and ``X'``
(dynsim's defaults: isotropic data, sigma 0.5, eta 0.01, beta 0.4, alpha_p 1). All three start
from the same initial weights (dynsim's). Default size: width = n1 = batch = 1024, 1 seed, lr 0.01.

``train`` is called with ``log_every = steps``, so it logs twice (the start and the end; each log
is an eigendecomposition of F = W X W^T), but every call also pays fixed host costs (eigen-factors
of X and X', the system's covariance checks). The script therefore reports two dynsim rates:
``end_to_end`` (steps / wall time of a warm ``train`` call) and ``marginal`` (the extra steps /
extra wall time between warm calls of S and 2S steps: the rate of the scan itself). The first call
of each step count compiles; it is reported separately. float32 runs dynsim with
``jax_enable_x64`` switched off for the process (``train`` has no dtype argument).

Before timing, on tiny sizes (float64): (1) exact check: dynsim, the plain JAX loop and the torch
step fed the very same views (dynsim's random stream) must end on the same weights; (2) a
statistical check with independent random streams (torch.randn vs jax.random): the block-mean
losses and the final trace of F must agree within sampling noise and the loss must decrease;
(3) per-step FLOPs: the analytic count, XLA's cost analysis of the JAX step and torch's
FlopCounterMode of the torch step.
Timing on a shared machine: before each timed piece the script waits (within a budget) until other
jobs leave the CPUs mostly idle, interleaves rounds and keeps the best of each; torch is timed at
os.cpu_count() threads (the reference) and at 1 thread. A (batch x n1) @ (n1 x width) matmul is
timed in XLA and torch for context. On a GPU both use it (torch picks cuda when available); note that
JAX's default float32 matmul precision there may use TF32 while torch's default does not.
    python benchmarks/bench_training.py [--quick] [--seconds 1.5] [--rounds 3] [--width 1024] [--batch 1024]
"""

from __future__ import annotations

import argparse
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import torch

import dynsim  # noqa: F401  (float64 on import)
from dynsim.training.train import train
from _common import write

LR, SEED = 0.01, 0


def factor(c: np.ndarray) -> np.ndarray:
    """As dynsim samples: for a diagonal ``c`` the square roots of its diagonal (``z * L``), else ``L``
    with ``L L^T = c`` from the eigendecomposition (``z @ L^T``)."""
    if np.all(c == np.diag(np.diag(c))):
        return np.sqrt(np.clip(np.diag(c), 0.0, None))
    w, v = np.linalg.eigh(0.5 * (c + c.T))
    return v * np.sqrt(np.clip(w, 0.0, None))


def scale(z, m):
    """``z L^T`` for a factor from :func:`factor` (``m`` 1-D: elementwise)."""
    return z * m if m.ndim == 1 else z @ m.T


def analytic_flops(batch: int, n1: int, n2: int, diagonal: bool = True) -> dict:
    """Matmul FLOPs of one step (elementwise work is O(batch n) and left out); with diagonal ``X``,
    ``X'`` (the benchmark's isotropic data) sampling is elementwise and costs no matmul."""
    sample = 0 if diagonal else 3 * 2 * batch * n1 * n1  # x = e L_x^T and the two noises e_k L_a^T
    forward = 2 * batch * n1 * n2 * 2 + 2 * batch * n2 * n2  # z_1 = W x_1, target W_a x_2, W_p z_1
    backward = 2 * batch * n2 * n2 * 2 + 2 * batch * n1 * n2  # dW_p, dz_1, dW
    return {"sample": sample, "forward": forward, "backward": backward, "total": sample + forward + backward}


# ----------------------------------------------------------------------------- plain JAX loop


def jax_step_fn(batch: int, n1: int, alpha_p: float, eta: float, beta: float):
    """One SGD step as dynsim defines it, views drawn from ``fold_in(k_data, i)`` as dynsim does."""

    def loss_fn(p, wa, x1, x2):
        target = jax.lax.stop_gradient(x2 @ wa.T)
        return 0.5 * jnp.mean(jnp.sum((x1 @ p["W"].T @ p["W_p"].T - target) ** 2, -1))

    def views(k_data, i, lx, la):
        kx, k1, k2 = jax.random.split(jax.random.fold_in(k_data, i), 3)
        x = scale(jax.random.normal(kx, (batch, n1)), lx)
        return x + scale(jax.random.normal(k1, x.shape), la), x + scale(jax.random.normal(k2, x.shape), la)

    def step_on(state, x1, x2):
        p, wa = {"W": state["W"], "W_p": state["W_p"]}, state["W_a"]
        loss, g = jax.value_and_grad(loss_fn)(p, wa, x1, x2)
        w = p["W"] - LR * (g["W"] + eta * p["W"])
        wp = p["W_p"] - LR * (alpha_p * g["W_p"] + eta * p["W_p"])
        return {"W": w, "W_p": wp, "W_a": wa + LR * beta * (w - wa)}, loss

    def step(state, k_data, i, lx, la):
        return step_on(state, *views(k_data, i, lx, la))

    return step, views


# ----------------------------------------------------------------------------- PyTorch eager loop


class TorchBYOL:
    """The same model as a plain eager PyTorch loop: autograd, ``torch.optim.SGD`` with one group
    per parameter (``W_p`` at ``alpha_p lr``; its decay ``eta / alpha_p`` so that the decay acts at
    rate ``eta`` on both, as in dynsim) and an in-place EMA of the target."""

    def __init__(self, init: dict, x: np.ndarray, x_aug: np.ndarray, batch: int, *, alpha_p: float, eta: float,
                 beta: float, dtype, device, seed: int = 0):
        kw = dict(dtype=dtype, device=device)
        self.w = torch.tensor(np.asarray(init["W"]), **kw).requires_grad_(True)
        self.wp = torch.tensor(np.asarray(init["W_p"]), **kw).requires_grad_(True)
        self.wa = torch.tensor(np.asarray(init["W_a"]), **kw)
        self.lx = torch.tensor(factor(x), **kw)  # 1-D (diagonal: scale) or L (multiply by L^T)
        self.la = torch.tensor(factor(x_aug), **kw)
        self.opt = torch.optim.SGD([{"params": [self.w], "lr": LR, "weight_decay": eta},
                                    {"params": [self.wp], "lr": alpha_p * LR, "weight_decay": eta / alpha_p}],
                                   lr=LR)
        self.ema = LR * beta
        self.batch, self.kw = batch, kw
        self.gen = torch.Generator(device=device).manual_seed(seed)

    def sample(self):
        shape = (self.batch, self.lx.shape[0])
        x = scale(torch.randn(shape, generator=self.gen, **self.kw), self.lx)
        return (x + scale(torch.randn(shape, generator=self.gen, **self.kw), self.la),
                x + scale(torch.randn(shape, generator=self.gen, **self.kw), self.la))

    def step_on(self, x1, x2):
        with torch.no_grad():
            target = x2 @ self.wa.T
        loss = 0.5 * ((x1 @ self.w.T @ self.wp.T - target) ** 2).sum(-1).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            self.wa.add_(self.w - self.wa, alpha=self.ema)
        return loss.detach()

    def step(self):
        return self.step_on(*self.sample())

    def weights(self) -> dict:
        return {"W": self.w.detach().cpu().numpy(), "W_p": self.wp.detach().cpu().numpy(),
                "W_a": self.wa.cpu().numpy()}


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------- checks


def hyper_of(run) -> dict:
    return {k: run.params[k] for k in ("alpha_p", "eta", "beta")}


def seed0(d: dict) -> dict:
    return {k: np.asarray(v)[0] for k, v in d.items()}


def exact_check(device) -> dict:
    """dynsim, the plain JAX loop and the torch step on dynsim's own views: the same end weights."""
    width, batch, steps = 8, 32, 50
    run = train("byol", width=width, batch=batch, lr=LR, steps=steps, log_every=steps, seeds=1, seed=SEED)
    h, init = hyper_of(run), seed0(run.init)
    step, views = jax_step_fn(batch, width, **h)
    lx, la = jnp.asarray(factor(np.asarray(run.system.X))), jnp.asarray(factor(np.asarray(run.system.X_aug)))
    k_data = jax.random.split(jax.random.split(jax.random.key(SEED), 1)[0])[1]  # train's key for seed 0
    jstep, jviews = jax.jit(step), jax.jit(views)
    state = {k: jnp.asarray(init[k]) for k in ("W", "W_p", "W_a")}
    tb = TorchBYOL(init, np.asarray(run.system.X), np.asarray(run.system.X_aug), batch, dtype=torch.float64,
                   device=device, **h)
    for i in range(steps):
        x1, x2 = (torch.tensor(np.asarray(v), dtype=torch.float64, device=device) for v in jviews(k_data, i, lx, la))
        tb.step_on(x1, x2)
        state, _ = jstep(state, k_data, i, lx, la)
    final = seed0(run.final)
    scale = max(float(np.max(np.abs(final[k]))) for k in ("W", "W_p"))
    diff_jax = max(float(np.max(np.abs(np.asarray(state[k]) - final[k]))) for k in ("W", "W_p"))
    tw = tb.weights()
    diff_torch = max(float(np.max(np.abs(tw[k] - final[k]))) for k in ("W", "W_p"))
    moved = max(float(np.max(np.abs(final[k] - init[k]))) for k in ("W", "W_p"))
    ok = max(diff_jax, diff_torch) < 1e-10 * max(scale, 1.0)
    return {"what": f"width = n1 = {width}, batch {batch}, {steps} steps, float64; plain JAX loop and torch step "
                    "(fed dynsim's own views) vs dynsim's final W, W_p from dynsim's initial weights",
            "max_abs_diff_plain_jax_vs_dynsim": diff_jax, "max_abs_diff_torch_vs_dynsim": diff_torch,
            "max_abs_weight_change_over_run": moved, "ok": bool(ok)}


def statistical_check(device) -> dict:
    """Independent random streams: block-mean losses and the final spectrum of F = W X W^T."""
    width, batch, steps, log_every = 16, 256, 2000, 200
    run = train("byol", width=width, batch=batch, lr=LR, steps=steps, log_every=log_every, seeds=1, seed=SEED)
    h, init = hyper_of(run), seed0(run.init)
    X = np.asarray(run.system.X)
    tb = TorchBYOL(init, X, np.asarray(run.system.X_aug), batch, dtype=torch.float64, device=device, seed=1, **h)
    blocks = []
    for _ in range(steps // log_every):
        losses = [tb.step() for _ in range(log_every)]
        blocks.append(float(torch.stack(losses).mean()))
    w = tb.weights()["W"]
    s_torch = np.sort(np.linalg.eigvalsh(w @ X @ w.T))[::-1]
    s_dyn = np.asarray(run.series["s"])[0, -1]
    loss_dyn = np.asarray(run.series["loss"])[0, 1:]
    rel_loss = np.abs(np.array(blocks) - loss_dyn) / np.abs(loss_dyn)
    rel_s = float(np.abs(s_torch.sum() - s_dyn.sum()) / s_dyn.sum())
    decreasing = bool(loss_dyn[-1] < 0.7 * loss_dyn[0] and blocks[-1] < 0.7 * blocks[0])
    ok = decreasing and float(rel_loss.max()) < 0.1 and rel_s < 0.1
    return {"what": f"width = n1 = {width}, batch {batch}, {steps} steps, float64, same initial weights, independent "
                    f"random streams; mean loss per {log_every}-step block and trace of F = W X W^T at the end",
            "dynsim_block_loss": [round(float(v), 5) for v in loss_dyn],
            "torch_block_loss": [round(v, 5) for v in blocks],
            "max_relative_block_loss_difference": float(rel_loss.max()),
            "relative_trace_F_difference": rel_s, "loss_decreases": decreasing, "ok": bool(ok)}


def flop_check(batch, n1, n2, device) -> dict:
    h = {"alpha_p": 1.0, "eta": 0.01, "beta": 0.4}
    step, _ = jax_step_fn(batch, n1, **h)
    f = jnp.float64
    state = {"W": jnp.zeros((n2, n1), f), "W_p": jnp.zeros((n2, n2), f), "W_a": jnp.zeros((n2, n1), f)}
    args = (state, jax.random.key(0), 0, jnp.eye(n1, dtype=f), jnp.eye(n1, dtype=f))
    cost = jax.jit(step).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    xla = float(cost.get("flops", float("nan"))) if cost else float("nan")
    from torch.utils.flop_counter import FlopCounterMode

    init = {"W": np.zeros((n2, n1)), "W_p": np.zeros((n2, n2)), "W_a": np.zeros((n2, n1))}
    tb = TorchBYOL(init, np.eye(n1), np.eye(n1), batch, dtype=torch.float64, device=device, **h)
    with FlopCounterMode(display=False) as counter:
        tb.step()
    return {"analytic": analytic_flops(batch, n1, n2)["total"], "xla_cost_analysis_plain_jax_step": xla,
            "torch_flop_counter": int(counter.get_total_flops()),
            "note": "matmul FLOPs of one step at the timed size, sampling included; XLA also counts elementwise "
                    "work and the random-number generation"}


# ----------------------------------------------------------------------------- timing


def cpu_busy(dt: float = 0.25) -> float:
    """Fraction of all CPUs busy over ``dt`` seconds (from /proc/stat; NaN elsewhere). Called while
    this process idles, so it is the load of other jobs on a shared machine."""
    def read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait

    try:
        t0, i0 = read()
        time.sleep(dt)
        t1, i1 = read()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return 1.0 - (i1 - i0) / max(t1 - t0, 1)


class Quiet:
    """Before each timed piece, wait (up to a total budget) until other jobs leave the CPUs mostly
    idle; records what it saw, so a reader can tell a quiet run from a contended one."""

    def __init__(self, threshold: float, budget_s: float):
        self.threshold, self.budget, self.waited, self.seen = threshold, budget_s, 0.0, []

    def __call__(self) -> None:
        while True:
            busy = cpu_busy()
            if not busy > self.threshold or self.waited >= self.budget:  # NaN (no /proc/stat): go on
                self.seen.append(round(busy, 2))
                return
            self.waited += 0.25

    def record(self) -> dict:
        return {"threshold_busy_fraction": self.threshold, "waited_s": self.waited, "budget_s": self.budget,
                "busy_fraction_before_each_timing": self.seen}


def timed_loop(step, seconds: float, finish) -> dict:
    """Steps per second of ``step()``: calibrate until 0.1 ``seconds`` have passed, then time about
    ``seconds`` worth of steps (``finish()`` waits for the device)."""
    n, el = 1, 0.0
    while True:
        t = time.perf_counter()
        for _ in range(n):
            step()
        finish()
        el = time.perf_counter() - t
        if el >= 0.1 * seconds:
            break
        n *= 2
    n = max(3, int(round(seconds * n / el)))
    t = time.perf_counter()
    for _ in range(n):
        step()
    finish()
    el = time.perf_counter() - t
    return {"steps": n, "seconds": el, "steps_per_s": n / el}


class PlainJax:
    """A jitted single step (buffers donated) called from a Python ``for`` loop."""

    def __init__(self, batch: int, n1: int, h: dict):
        step, _ = jax_step_fn(batch, n1, **h)
        self.jstep = jax.jit(step, donate_argnums=0)
        self.k_data, self.i = jax.random.key(1), 0

    def start(self, init: dict, X: np.ndarray, X_aug: np.ndarray) -> float:
        self.lx, self.la = jnp.asarray(factor(X)), jnp.asarray(factor(X_aug))
        self.state = {k: jnp.array(np.asarray(init[k])) for k in ("W", "W_p", "W_a")}  # own buffers (donated)
        t = time.perf_counter()
        self.step()
        self.finish()
        return time.perf_counter() - t

    def step(self):
        self.state, self.loss = self.jstep(self.state, self.k_data, self.i, self.lx, self.la)
        self.i += 1

    def finish(self):
        jax.block_until_ready((self.state, self.loss))

    def time(self, seconds: float) -> dict:
        out = timed_loop(self.step, seconds, self.finish)
        assert np.isfinite(float(self.loss))
        return {**out, "dtype": str(self.state["W"].dtype)}


def time_torch(init, X, X_aug, h, batch, dtype, device, seconds, threads: int) -> dict:
    torch.set_num_threads(threads)
    tb = TorchBYOL(init, X, X_aug, batch, dtype=dtype, device=device, **h)
    for _ in range(2):
        tb.step()
    out = timed_loop(tb.step, seconds, lambda: sync(device))
    assert math.isfinite(float(tb.step()))
    return {**out, "dtype": str(tb.w.dtype), "threads": threads}


class Dynsim:
    """Calls of ``train`` with ``log_every = steps`` at two step counts S and 2S."""

    def __init__(self, width: int, batch: int, steps: int):
        self.kw = dict(width=width, n1=width, batch=batch, lr=LR, seeds=1, seed=SEED)
        self.counts = (steps, 2 * steps)
        self.warm = {s: [] for s in self.counts}
        self.first = {s: self.call(s, record=False) for s in self.counts}  # compiles

    def call(self, steps: int, record: bool = True) -> float:
        t = time.perf_counter()
        self.run = train("byol", steps=steps, log_every=steps, **self.kw)
        el = time.perf_counter() - t
        assert self.run.complete, self.run.summary()
        if record:
            self.warm[steps].append(el)
        return el

    def result(self) -> dict:
        s, s2 = self.counts
        best = {k: min(v) for k, v in self.warm.items()}
        d = best[s2] - best[s]
        return {"steps_short": s, "steps_long": s2, "first_call_s": {str(k): v for k, v in self.first.items()},
                "warm_call_s": {str(k): v for k, v in self.warm.items()},
                "compile_s_estimate": {str(k): self.first[k] - best[k] for k in self.counts},
                "end_to_end_steps_per_s": s2 / best[s2], "marginal_steps_per_s": s / d if d > 0 else float("nan"),
                "fixed_overhead_s": best[s] - d, "dtype": str(self.run.final["W"].dtype)}


def gemm_gflops(batch: int, n1: int, n2: int, tdtype, device, threads: list[int]) -> dict:
    """GFLOP/s of one (batch x n1) @ (n1 x n2) matmul, the step's building block, in XLA and in torch
    (at each torch thread count): how much of a ratio is the BLAS rather than the loop."""
    def rate(fn, finish) -> float:
        fn()
        finish()
        out = 0.0
        for _ in range(3):
            t, k = time.perf_counter(), 0
            while time.perf_counter() - t < 0.2:
                fn()
                k += 1
            finish()
            out = max(out, 2 * batch * n1 * n2 * k / (time.perf_counter() - t) / 1e9)
        return out

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(batch, n1)), rng.normal(size=(n1, n2))
    ja, jb = jnp.asarray(a), jnp.asarray(b)  # float32 when jax_enable_x64 is off
    mm = jax.jit(jnp.matmul)
    out = {"xla": rate(lambda: mm(ja, jb), lambda: jax.block_until_ready(mm(ja, jb)))}
    ta, tb = (torch.tensor(v, dtype=tdtype, device=device) for v in (a, b))
    for t in threads:
        torch.set_num_threads(t)
        out[f"torch_{t}_threads"] = rate(lambda: ta @ tb, lambda: sync(device))
    return out


def best(runs: list[dict], **extra) -> dict:
    top = max(runs, key=lambda r: r["steps_per_s"])
    return {**top, **extra, "rounds_steps_per_s": [r["steps_per_s"] for r in runs]}


def time_dtype(tdtype, width, batch, seconds, rounds, device, threads, quiet) -> dict:
    # the dynsim step count: about `seconds` of the plain JAX loop's steps (the same per-step work),
    # calibrated on weights drawn like dynsim's; then all three time from dynsim's initial weights
    h = {"alpha_p": 1.0, "eta": 0.01, "beta": 0.4}  # train("byol")'s defaults, checked below
    rng = np.random.default_rng(SEED)
    draw = rng.normal(size=(width, width)) / math.sqrt(width)
    X, X_aug = dynsim.isotropic(width, 0.5)
    pj = PlainJax(batch, width, h)
    compile_s = pj.start({"W": draw, "W_p": rng.normal(size=(width, width)) / math.sqrt(width), "W_a": draw}, X, X_aug)
    rate = 0.0
    for _ in range(2):
        quiet()
        rate = max(rate, pj.time(seconds / 4)["steps_per_s"])
    steps = int(min(100_000, max(4, round(rate * seconds))))
    dy = Dynsim(width, batch, steps)
    init = seed0(dy.run.init)
    X, X_aug = np.asarray(dy.run.system.X), np.asarray(dy.run.system.X_aug)
    assert hyper_of(dy.run) == h and np.allclose(X_aug, 0.25 * X), (hyper_of(dy.run), X_aug[:2, :2])
    pj.start(init, X, X_aug)
    pj_runs, th_runs = [], {t: [] for t in threads}
    for _ in range(rounds):  # interleaved rounds, best of each: the machine may be shared
        for s in dy.counts:
            quiet()
            dy.call(s)
        quiet()
        pj_runs.append(pj.time(seconds))
        for t in threads:
            quiet()
            th_runs[t].append(time_torch(init, X, X_aug, h, batch, tdtype, device, seconds, t))
    quiet()
    gemm = gemm_gflops(batch, width, width, tdtype, device, threads)
    dyn, pj = dy.result(), best(pj_runs, compile_and_first_step_s=compile_s)
    th = {f"threads_{t}": best(v) for t, v in th_runs.items()}
    th_main, th_best = th[f"threads_{threads[0]}"], max(th.values(), key=lambda r: r["steps_per_s"])
    return {"dynsim": dyn, "plain_jax_loop": pj, "torch_eager": th, "matmul_gflops": gemm,
            "ratio_dynsim_marginal_over_torch": dyn["marginal_steps_per_s"] / th_main["steps_per_s"],
            "ratio_dynsim_end_to_end_over_torch": dyn["end_to_end_steps_per_s"] / th_main["steps_per_s"],
            "ratio_dynsim_marginal_over_best_torch": dyn["marginal_steps_per_s"] / th_best["steps_per_s"],
            "best_torch_threads": th_best["threads"],
            "ratio_dynsim_marginal_over_plain_jax_loop": dyn["marginal_steps_per_s"] / pj["steps_per_s"],
            "ratio_dynsim_end_to_end_over_plain_jax_loop": dyn["end_to_end_steps_per_s"] / pj["steps_per_s"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smoke run: width = n1 = batch = 128; writes nothing")
    ap.add_argument("--width", type=int, default=None, help="width = n1 (default 1024; 128 with --quick)")
    ap.add_argument("--batch", type=int, default=None, help="default 1024 (128 with --quick)")
    ap.add_argument("--seconds", type=float, default=None,
                    help="target seconds per timed loop (default 1.5, 0.5 quick)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="interleaved timing rounds, best of each kept (3; 2 quick)")
    ap.add_argument("--torch-threads", type=int, nargs="+", default=None,
                    help="torch thread counts to time (default: os.cpu_count(), and 1 on a CPU; the first is the "
                         "reference of the dynsim/torch ratios)")
    ap.add_argument("--quiet-threshold", type=float, default=0.3,
                    help="before each timing wait while other jobs keep more than this fraction of the CPUs busy")
    ap.add_argument("--quiet-budget", type=float, default=None, help="total seconds of such waiting (30; 10 quick)")
    ap.add_argument("--no-float32", action="store_true")
    args = ap.parse_args()
    width = args.width or (128 if args.quick else 1024)
    batch = args.batch or (128 if args.quick else 1024)
    seconds = args.seconds or (0.5 if args.quick else 1.5)
    rounds = args.rounds or (2 if args.quick else 3)
    ncpu = os.cpu_count() or 1
    quiet = Quiet(args.quiet_threshold,
                  args.quiet_budget if args.quiet_budget is not None else 10 if args.quick else 30)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    threads = args.torch_threads or ([ncpu] if device.type == "cuda" or ncpu == 1 else [ncpu, 1])
    torch.set_num_threads(threads[0])
    print(f"jax {jax.__version__} on {jax.devices()}, torch {torch.__version__} on {device} "
          f"(threads {threads}); width = n1 = {width}, batch {batch}, 1 seed, lr {LR}")
    t0, load0 = time.perf_counter(), os.getloadavg()

    jax.config.update("jax_enable_x64", True)
    torch.set_num_threads(1)  # the checks are tiny; a second thread only adds synchronisation
    checks = {"exact": exact_check(device), "statistical": statistical_check(device),
              "flops_per_step": flop_check(batch, width, width, device)}
    for k in ("exact", "statistical"):
        c = checks[k]
        print(f"check {k}: {'ok' if c['ok'] else 'FAILED'}  " + ", ".join(
            f"{n} {v:.2e}" for n, v in c.items() if isinstance(v, float)))
    if not (checks["exact"]["ok"] and checks["statistical"]["ok"]):
        raise SystemExit(f"correctness checks failed, not timing: {checks}")
    fl = checks["flops_per_step"]
    print(f"FLOPs/step: analytic {fl['analytic']:.3e}, XLA {fl['xla_cost_analysis_plain_jax_step']:.3e}, "
          f"torch {fl['torch_flop_counter']:.3e}  (checks took {time.perf_counter() - t0:.0f} s)")

    results = {}
    for name, tdtype, x64 in (("float64", torch.float64, True), ("float32", torch.float32, False)):
        if name == "float32" and args.no_float32:
            continue
        jax.config.update("jax_enable_x64", x64)  # train() has no dtype argument: float32 = x64 off
        results[name] = time_dtype(tdtype, width, batch, seconds, rounds, device, threads, quiet)
        print(f"{name} timed ({time.perf_counter() - t0:.0f} s so far)", flush=True)
    jax.config.update("jax_enable_x64", True)
    torch.set_num_threads(threads[0])

    print(f"\n{'dtype':8s} {'implementation':34s} {'steps/s':>9s} {'GFLOP/s':>8s}  note")
    for name, r in results.items():
        d, pj = r["dynsim"], r["plain_jax_loop"]
        s2 = str(d["steps_long"])
        rows = [("dynsim train, marginal (scan)", d["marginal_steps_per_s"],
                 f"{d['steps_short']} vs {s2} steps; first call {d['first_call_s'][s2]:.1f} s"),
                ("dynsim train, end to end", d["end_to_end_steps_per_s"],
                 f"{s2} steps in {min(d['warm_call_s'][s2]):.2f} s warm; "
                 f"fixed overhead {d['fixed_overhead_s']:.2f} s/call"),
                ("plain JAX loop (jit step + for)", pj["steps_per_s"],
                 f"best of {len(pj['rounds_steps_per_s'])} x {pj['steps']} steps; "
                 f"compile {pj['compile_and_first_step_s']:.1f} s")]
        rows += [(f"torch eager ({device.type}, {t['threads']} threads)", t["steps_per_s"],
                  f"best of {len(t['rounds_steps_per_s'])} x {t['steps']} steps: "
                  + ", ".join(f"{v:.3g}" for v in t["rounds_steps_per_s"])) for t in r["torch_eager"].values()]
        for label, v, note in rows:
            print(f"{name:8s} {label:34s} {v:9.2f} {fl['analytic'] * v / 1e9:8.1f}  {note}")
        print(f"{name:8s} one {batch}x{width} @ {width}x{width} matmul, GFLOP/s: "
              + ", ".join(f"{k} {v:.0f}" for k, v in r["matmul_gflops"].items()))
        print(f"{name:8s} ratios dynsim/torch({threads[0]} threads): marginal "
              f"{r['ratio_dynsim_marginal_over_torch']:.2f}x, "
              f"end to end {r['ratio_dynsim_end_to_end_over_torch']:.2f}x; dynsim/best torch "
              f"{r['ratio_dynsim_marginal_over_best_torch']:.2f}x; dynsim/plain-JAX-loop: marginal "
              f"{r['ratio_dynsim_marginal_over_plain_jax_loop']:.2f}x, end to end "
              f"{r['ratio_dynsim_end_to_end_over_plain_jax_loop']:.2f}x")
    total = time.perf_counter() - t0
    load1 = os.getloadavg()
    print(f"total {total:.0f} s; 1-min load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end "
          f"({ncpu} CPUs); "
          f"waited {quiet.waited:.0f} s for quiet CPUs; busy fraction before each timing {quiet.seen}")
    if args.quick:  # a smoke run: keep the recorded results
        print("--quick: results not written")
        return
    write("bench_training", {
        "model": "byol (linear, EMA target, additive views; isotropic X = I, X' = 0.25 I; eta 0.01, beta 0.4, "
                 "alpha_p 1)", "width": width, "n1": width, "batch": batch, "seeds": 1, "lr": LR, "seed": SEED,
        "log_every": "= steps (dynsim logs at the start and the end of each call only; each log is an eigh of F)",
        "dtype_note": "float32: dynsim's train run with jax_enable_x64 switched off (it has no dtype argument)",
        "timing": "rounds of (dynsim S, dynsim 2S, plain JAX loop, torch per thread count) interleaved, best of each "
                  "kept; dynsim marginal = S / (best warm wall time of the 2S-step call - that of the S-step call); "
                  "end to end = 2S / best warm wall time of one 2S-step train call (fixed host costs and the two "
                  "logs included); plain JAX loop and torch: wall time of n steps after warm-up, synchronised at the "
                  "end; ratios dynsim/torch against torch at os.cpu_count() threads, and against the best thread count",
        "compared": "the same model, initial weights, hyperparameters, data law (randn scaled by the square-root diagonal of X, X' when diagonal, else randn @ eigen-factor) and "
                    "dtype; random streams differ (jax.random vs torch.randn); see checks. The plain JAX loop is "
                    "dynsim's step without its per-step divergence check and freeze",
        "results": results, "checks": checks,
        "torch": {"version": torch.__version__, "device": str(device), "threads_timed": threads,
                  "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                  "installed": "pip install torch==2.13.0 (PyPI; resolved to the CPU wheel 2.13.0+cpu)"},
        "numpy": np.__version__, "total_s": round(total, 1),
        "load_average_1min_start_end": [round(load0[0], 2), round(load1[0], 2)],
        "quiet_wait": quiet.record(),
        "load_note": "the machine may be shared with other jobs (busy fraction = CPU use of other processes just "
                     "before each timing); compare rows of one run, not across runs",
    })


if __name__ == "__main__":
    main()
