r"""The claims about the cosine loss in linear SimSiam [T21, B23], each a numerical experiment on the flow of the
loss (:mod:`dynsim.models.cosine.system`) with a measured number, a tolerance fixed with the claim and a verdict:
``dynsim check --model dynsim.models.cosine.claims`` (opt-in: 45 s on the 2-core machine, most of it compilation).

Settings (chosen once, before the verdicts): ``n = 4`` modes, ``sigma = 1`` (so [T21]'s Euclidean
``eta_c = 1/8``), ``alpha_p = 1``, ``eta = 0.2 > eta_c``; the aligned start ``p = (0.6, 0.45, 0.3, 0.2)``,
``s = (0.9, 0.5, 0.4, 0.1)`` (every ``c_j = s_j - p_j^2 > 0``); random starts and random ``X``, ``X'`` from
seed 0; solver rtol 1e-11.

Findings (numbers in each claim's detail):

- The matrix flow of the loss is the coupled eigenmode ODE (``CosineEigen``) to ~1e-10; the norm law
  ``||W(t)|| = ||W(0)|| e^{-eta t}`` and the time change ``W_eta(t) = e^{-eta t} W_0(u)`` hold to the solver's
  tolerance for any ``X``, ``X'``, from random starts.
- The stationary points are a manifold (equal ``p_j = pbar`` on the modes that live); the Jacobian classifies
  every root a root solve finds exactly as the closed-form rule does (attracting iff ``pbar > 0`` and no collapsed
  mode has ``p_j`` in ``[0, pbar]``: a collapsed mode with ``p_j`` there regrows); from a start with every ``c_j > 0`` the flow above
  ``eta_c`` ends at the closed-form shape, which a Levenberg-Marquardt solve also finds.
- [B23]'s claim reproduces for the *shape*: above ``eta_c`` the Euclidean modes all collapse, the cosine ones
  keep their shares of ``tr F``. It does not for the weights: there is no non-zero equilibrium of ``W``
  itself, its norm decays as ``e^{-eta t}`` for every ``eta > 0`` (NOT REPRODUCED: ``d ln||W||/dt = -eta``).
- From a random start the cosine loss collapses some modes too (those whose predictor eigenvalue starts on the
  wrong side): normalisation prevents complete collapse, not dimensional collapse.
- SGD on sampled views follows the flow's shape within a few per cent.
"""

from __future__ import annotations

import functools

import numpy as np

import dynsim
from dynsim.models.cosine import system as cs
from dynsim.models.seed_claims import Outcome
from dynsim.tools.claims import claim

SOURCE = "Bao 2023"
ETA, SIGMA, N = 0.2, 1.0, 4
P0 = np.array([0.6, 0.45, 0.3, 0.2])
S0 = np.array([0.9, 0.5, 0.4, 0.1])
Y0 = np.concatenate([P0, S0])
T1 = 15.0  # u(T1) = (e^6 - 1)/0.4 ~ 1000: the shape has settled
TIGHT = dict(rtol=1e-11, atol=1e-13, max_steps=1_000_000)
SGD = dict(lr=0.01, batch=256, seeds=4, t1=5.0, samples=4096)


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _random_covariances(seed: int = 0):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(N, N)), rng.normal(size=(N, N))
    return a @ a.T / N + 0.2 * np.eye(N), 0.5 * b @ b.T / N + 0.05 * np.eye(N)


@functools.lru_cache(maxsize=None)
def reduced_run():
    """The eigenmode ODE at ``eta`` from the aligned start, saved on ``[0, T1]``."""
    system = cs.CosineEigen(eta=ETA, sigma=SIGMA, modes=N)
    ts = np.linspace(0.0, T1, 151)
    return system, ts, dynsim.solve(system, Y0, ts, **TIGHT)


@claim("cosine-eigenmode-reduction", source=SOURCE, tolerance=1e-8,
       statement="from an aligned start the matrix flow of the cosine loss is the coupled eigenmode ODE "
                 "dp_j = alpha_p g s_j (1 - r p_j) - eta p_j, ds_j = 2 g p_j s_j (1 - r p_j) - 2 eta s_j",
       metric="largest difference between the matrix flow's (u_j^T W_p u_j, u_j^T W W^T u_j) and the ODE, "
              "relative to the largest value (eta = 0.2, t <= 15)")
def eigenmode_reduction():
    system, ts, sol = reduced_run()
    m = cs.aligned_matrices(P0, S0, seed=0)
    flow = cs.cosine_flow(N, ETA, SIGMA)
    solm = dynsim.solve(flow, flow.pack({"W_p": m["W_p"], "W": m["W"]}), ts, **TIGHT)
    modes = cs.modes_of(flow, np.asarray(solm.ys), m["U"])
    ys = np.asarray(sol.ys)
    err = float(np.max(np.abs(modes - ys) / np.max(np.abs(ys), axis=-1, keepdims=True)))
    inv = system.invariant(ys) * np.exp(2 * ETA * ts)[:, None]
    drift = _rel(inv, np.broadcast_to(inv[0], inv.shape))
    return Outcome(err, f"max relative difference {err:.2g}; [T21]'s invariant s_j - p_j^2/alpha_p = c_j e^(-2 eta t) "
                   f"drifts by {drift:.2g} in the ODE", numbers={"error": err, "invariant_drift": drift})


@functools.lru_cache(maxsize=None)
def random_start_runs():
    """The cosine flow from a random start with random ``X``, ``X'`` at ``eta`` and at ``eta = 0`` (times ``u(t)``)."""
    X, Xa = _random_covariances(0)
    flow, zero = cs.cosine_flow(N, ETA, X=X, X_aug=Xa), cs.cosine_flow(N, 0.0, X=X, X_aug=Xa)
    y0 = flow.init(1, 1.0)
    ts = np.linspace(0.0, 10.0, 101)
    return flow, ts, dynsim.solve(flow, y0, ts, **TIGHT), dynsim.solve(zero, y0, cs.time_change(ts, ETA), **TIGHT)


@claim("cosine-norm-law", source=SOURCE, tolerance=1e-8,
       statement="with the cosine loss ||W(t)||_F = ||W(0)|| e^{-eta t} and ||W_p(t)||_F = ||W_p(0)|| e^{-eta t} "
                 "exactly (scale invariance: the gradient is orthogonal to the weights), for any X, X'",
       metric="largest |norm(t) e^{eta t} / norm(0) - 1| (random start, random X and X', eta = 0.2, t <= 10)")
def norm_law():
    flow, ts, sol, _ = random_start_runs()
    w = flow.unpack(np.asarray(sol.ys))
    decay = np.exp(ETA * ts)
    errs = {k: float(np.max(np.abs(np.linalg.norm(np.asarray(w[k]), axis=(-2, -1)) * decay
                                    / np.linalg.norm(np.asarray(w[k][0])) - 1.0))) for k in ("W", "W_p")}
    return Outcome(max(errs.values()), "largest deviation " + ", ".join(f"{k}: {v:.2g}" for k, v in errs.items()),
                   numbers=errs)


@claim("cosine-weight-decay-is-a-time-change", source=SOURCE, tolerance=1e-7,
       statement="the flow at eta is the flow at eta = 0 shrunk and run faster: W_eta(t) = e^{-eta t} W_0(u), "
                 "W_p,eta(t) = e^{-eta t} W_p,0(u), u = (e^{2 eta t} - 1)/(2 eta)",
       metric="largest ||y_eta(t) - e^{-eta t} y_0(u(t))|| / ||y_eta(t)|| (random start, random X and X', "
              "eta = 0.2, t <= 10, u <= 134)")
def time_change():
    flow, ts, sol, sol0 = random_start_runs()
    ys, y0s = np.asarray(sol.ys), np.exp(-ETA * ts)[:, None] * np.asarray(sol0.ys)
    err = float(np.max(np.linalg.norm(ys - y0s, axis=-1) / np.linalg.norm(ys, axis=-1)))
    return Outcome(err, f"max relative difference {err:.2g} over {len(ts)} times", numbers={"error": err})


def _predicted_stable(y, n: int) -> tuple[bool, float]:
    """The closed-form rule: at a root the living modes share ``pbar``; ``pbar < 0`` is the cosine's minimum
    ``-1/k`` (a repeller), and a collapsed mode ``j`` adds the eigenvalue ``2 g p_j (1 - p_j / pbar)``, so the root
    attracts iff ``pbar > 0`` and every collapsed ``p_j`` lies outside ``[0, pbar]``.
    Returns (attracts, spread of p over the living modes)."""
    p, s = y[:n], y[n:]
    alive = s > 1e-9 * s.max()
    pbar = float(np.mean(p[alive]))
    spread = float(np.ptp(p[alive]) / abs(pbar))
    dead = p[~alive]
    return bool(pbar > 0 and np.all((dead < 0) | (dead > pbar))), spread


@claim("cosine-stationary-points", source=SOURCE, tolerance=0.0,
       statement="every stationary point has one common predictor eigenvalue pbar on the living modes; it attracts "
                 "(n+1 zero Jacobian eigenvalues along the manifold, n-1 negative) iff pbar > 0 and no collapsed "
                 "mode has p_j in [0, pbar]",
       metric="roots (dynsim.find_fixed_points from 64 random starts, eta = 0) whose Jacobian stability differs from "
              "the rule, or whose living modes do not share pbar (to 1e-8)")
def stationary_points():
    system = cs.CosineEigen(eta=0.0, sigma=SIGMA, modes=N)
    rng = np.random.default_rng(0)
    starts = np.concatenate([rng.uniform(-0.5, 1.0, (64, N)), rng.uniform(0.0, 1.0, (64, N))], axis=1)
    fp = dynsim.find_fixed_points(system, starts)
    pts = np.asarray(fp.points)
    bad, stable_n, spread_max, counts = 0, 0, 0.0, []
    for y in pts:
        if not np.all(y[N:] >= -1e-12) or np.sum(y[N:]) <= 0:
            continue  # s < 0 is no state of F = W W^T
        along, trans = cs.transverse_spectrum(system, y)
        jac_stable = len(along) == N + 1 and bool(np.all(trans.real < 0))
        rule, spread = _predicted_stable(y, N)
        spread_max = max(spread_max, spread)
        bad += (jac_stable != rule) or spread > 1e-8
        stable_n += jac_stable
        counts.append(len(along))
    return Outcome(float(bad), f"{len(counts)} distinct roots with s >= 0, {stable_n} attracting; mismatches {bad}; "
                   f"largest spread of p on the living modes {spread_max:.2g}; zero eigenvalues per root "
                   f"{sorted(set(counts))} (n + 1 = {N + 1})",
                   numbers={"roots": len(counts), "attracting": stable_n, "mismatches": bad})


@claim("cosine-end-point", source=SOURCE, tolerance=1e-8,
       statement="from a start with every c_j = s_j - p_j^2/alpha_p > 0 the normalised state (p/||p||, s/tr F) ends "
                 "at the closed form p_j = sqrt(P/n), s_j = c_j + P/(n alpha_p), for every eta (here eta = 0.2 > eta_c)",
       metric="largest of: |flow end - closed form| and |Levenberg-Marquardt root - closed form| (normalised state; "
              "the root solve starts from the eta = 0 flow at t = 2)")
def end_point():
    system, ts, sol = reduced_run()
    zero = cs.CosineEigen(eta=0.0, sigma=SIGMA, modes=N)
    closed = zero.end_point(Y0)
    flow_err = _rel(cs.normalised(system, np.asarray(sol.ys)[-1]), cs.normalised(system, closed))
    # the run's time grid shape, and eta is traced: the compiled solve of reduced_run is reused
    mid = np.asarray(dynsim.solve(zero, Y0, np.linspace(0.0, 2.0, len(ts)), **TIGHT).ys)[-1]
    root, res = cs.root_end_point(zero, mid)
    root_err = _rel(root, closed)
    along, trans = cs.transverse_spectrum(zero, closed)
    return Outcome(max(flow_err, root_err), f"flow end {flow_err:.2g}, root {root_err:.2g} (residual {res:.1g}, from "
                   f"a start {_rel(mid, closed):.2g} away); closed form p = {closed[0]:.6g}, s = "
                   + ", ".join(f"{v:.6g}" for v in closed[N:]) + f"; Jacobian: {len(along)} zero eigenvalues, the "
                   "others " + ", ".join(f"{v.real:.3g}" for v in sorted(trans, key=lambda z: z.real)),
                   numbers={"flow": flow_err, "root": root_err})


@functools.lru_cache(maxsize=None)
def above_eta_c():
    """Euclidean eigenmodes ([T21], ``EigenDynamics2D``, ``tau = 1``) and the cosine ODE from the same ``(p_j, s_j)``
    at ``eta = 0.2``: their final ``s_j`` relative to the start's largest, and the cosine shares."""
    euc = dynsim.EigenDynamics2D(eta=ETA, sigma=SIGMA, tau=1.0, alpha_p=1.0)
    starts = np.stack([P0, S0], axis=1)
    sol_e = dynsim.solve(euc, starts, np.array([0.0, 200.0]), log_positive=True, **TIGHT)
    s_euc = np.asarray(sol_e.ys)[:, -1, 1] / S0.max()
    system, _, sol = reduced_run()
    y = np.asarray(sol.ys)[-1]
    return s_euc, y[N:] / np.sum(y[N:]), float(np.linalg.norm(y[:N]) / np.linalg.norm(P0))


@claim("cosine-no-collapse-above-eta-c", source=SOURCE, tolerance=0.0,
       statement="above [T21]'s eta_c, where every Euclidean eigenmode collapses, the cosine loss keeps every mode "
                 "(a stable non-collapsed shape)",
       metric="number of cosine modes whose share of tr F ends below 1e-6 (eta = 0.2 > eta_c = 0.125, t = 15), with "
              "the Euclidean modes' collapse checked in the detail")
def no_collapse_above_eta_c():
    s_euc, share, _ = above_eta_c()
    euc_collapsed = int(np.sum(s_euc < cs.COLLAPSE_SHARE))
    cos_collapsed = int(np.sum(share < cs.COLLAPSE_SHARE))
    if euc_collapsed < N:
        return Outcome(float(cos_collapsed), f"only {euc_collapsed} of {N} Euclidean modes collapsed: not the setting "
                       "of the claim", verdict="outside conditions")
    return Outcome(float(cos_collapsed), f"Euclidean s_j(200)/max s(0): " + ", ".join(f"{v:.2g}" for v in s_euc)
                   + f" ({euc_collapsed} of {N} collapsed); cosine shares at t = 15: "
                   + ", ".join(f"{v:.4g}" for v in share), numbers={"euclidean_collapsed": euc_collapsed,
                                                                    "cosine_collapsed": cos_collapsed})


@claim("cosine-weights-settle-above-eta-c", source=SOURCE, tolerance=1e-3,
       statement="above eta_c the weights themselves settle at a non-zero stable equilibrium with the cosine loss",
       metric="|d ln ||W_p|| / dt| at the end of the run (0 at an equilibrium; eta = 0.2, t = 15)")
def weights_settle():
    system, ts, sol = reduced_run()
    p = np.asarray(sol.ys)[:, :N]
    lnorm = np.log(np.linalg.norm(p, axis=-1))
    rate = float(abs(lnorm[-1] - lnorm[-2]) / (ts[-1] - ts[-2]))
    _, _, ratio = above_eta_c()
    return Outcome(rate, f"d ln||W_p||/dt = -{rate:.6g} = -eta at t = 15 (||W_p(15)||/||W_p(0)|| = {ratio:.3g} = "
                   f"e^(-15 eta) = {np.exp(-15 * ETA):.3g}): the direction settles, the weights decay to 0",
                   numbers={"rate": rate})


def sampled_statistics(sigma: float = SIGMA):
    """``data(key, batch) -> {"X", "X_aug"}`` for :func:`dynsim.train_gradient_flow`: a fresh minibatch of
    ``x ~ N(0, I)`` and two views ``x + sigma xi``: ``X`` the symmetrised cross-covariance of the views,
    ``X_aug`` the first view's covariance minus ``X``."""
    import jax
    import jax.numpy as jnp

    def data(key, batch):
        k0, k1, k2 = jax.random.split(key, 3)
        x = jax.random.normal(k0, (batch, N))
        x1 = x + sigma * jax.random.normal(k1, (batch, N))
        x2 = x + sigma * jax.random.normal(k2, (batch, N))
        cross = (x1.T @ x2 + x2.T @ x1) / (2 * batch)
        return {"X": cross, "X_aug": x1.T @ x1 / batch - cross}

    return data


@functools.lru_cache(maxsize=None)
def sgd_run():
    flow = cs.cosine_flow(N, ETA, SIGMA)
    m = cs.aligned_matrices(P0, S0, seed=0)
    y0 = flow.pack({"W_p": m["W_p"], "W": m["W"]})
    steps = int(round(SGD["t1"] / SGD["lr"]))
    tr = dynsim.train_gradient_flow(flow, y0, sampled_statistics(), lr=SGD["lr"], steps=steps, batch=SGD["batch"],
                                    seeds=SGD["seeds"], log_every=steps // 10)
    sol = dynsim.solve(flow, y0, tr.ts, **TIGHT)
    return flow, tr, np.asarray(sol.ys)


@claim("cosine-sgd-follows-flow", source=SOURCE, tolerance=0.05,
       statement="SGD on sampled views (batch 256, lr 0.01) follows the flow's shape: the shares of tr F and the "
                 "predictor's eigenvalues over ||W_p|| (eta = 0.2, t <= 5, aligned start)",
       metric="largest difference between the seed-mean SGD shape and the flow's, relative to the largest value")
def sgd_follows_flow():
    flow, tr, ys = sgd_run()
    f_sgd, p_sgd = cs.spectra(flow, tr.ys)  # (seeds, T, n)
    f_flow, p_flow = cs.spectra(flow, ys)
    share_sgd = (f_sgd / f_sgd.sum(-1, keepdims=True)).mean(0)
    share_flow = f_flow / f_flow.sum(-1, keepdims=True)
    pn_sgd = (p_sgd / np.linalg.norm(p_sgd, axis=-1, keepdims=True)).mean(0)
    pn_flow = p_flow / np.linalg.norm(p_flow, axis=-1, keepdims=True)
    err = max(float(np.max(np.abs(share_sgd - share_flow))), float(np.max(np.abs(pn_sgd - pn_flow))))
    w_sgd = np.linalg.norm(np.asarray(flow.unpack(tr.ys[:, -1])["W"]), axis=(-2, -1)).mean()
    w_flow = np.linalg.norm(np.asarray(flow.unpack(ys[-1])["W"]))
    return Outcome(err, f"max difference of the shape {err:.3g}; ||W(5)|| SGD {w_sgd:.4g}, flow {w_flow:.4g} "
                   f"(discrete steps add lr^2 ||g||^2 to the squared norm)", numbers={"error": err})
