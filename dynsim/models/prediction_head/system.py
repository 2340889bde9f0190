"""The prediction head of non-contrastive SSL [WL22]: a trained, identity-initialised head with a
fixed diagonal learns both features, a head fixed at ``E = I`` collapses onto the strong one.

Setting (Wen & Li 2022, Sec. 3, in its simplest form; where the talk and docs/equations.md (section 7) leave a
detail open, the choice is stated here):

- Data. ``X = (x_1, ..., x_P)``, ``P`` patches in ``R^d``. Two orthonormal features ``v_1 = e_1``,
  ``v_2 = e_2`` (any orthonormal pair is equivalent: noise and initialisation are isotropic). Each
  sample draws independent signs ``z_1, z_2 = +-1``; ``K`` patches carry ``alpha_1 z_1 v_1``, ``K``
  other patches carry ``alpha_2 z_2 v_2`` and the rest carry no feature; every patch gets isotropic
  Gaussian noise ``xi_p ~ N(0, sigma^2 I_d / d)``. ``phi`` sums over patches and the masks are
  uniformly random, so which patches carry the features does not matter: they are the first ``2K``.
  ``alpha_1 > alpha_2`` makes ``v_1`` the strong feature.
- Augmentation. Complementary random masks: each patch is in view 1 with probability 1/2,
  independently, and view 2 is the complement (a view zeroes the other patches).
- Network. ``phi_i(X) = sum_p <w_i, x_p>^3``, ``i = 1..m`` (one convolutional layer, cubic
  activation, weights shared over patches), ``w_i ~ N(0, I_d / d)``.
- Objective. ``L = E ||BN[E phi(X1)] - SG[BN[phi(X2)]]||^2`` (batch mean of the squared norm), BN
  with batch statistics and no affine parameters (:func:`batch_norm`), stop-gradient on the target
  branch (SimSiam-style: the same weights, no EMA).
- Training. Plain SGD (``optax.sgd``) on fresh samples every step; ``W`` at rate ``lr``, the head at
  ``lr_head < lr`` with only its off-diagonal trained (its gradient is masked, so ``diag(E) = 1``
  exactly). The comparison run has the head fixed at ``E = I``. Both runs see the same samples and
  start from the same ``W`` (a paired comparison), every seed is one lane of a ``vmap`` and the whole
  run is one jitted ``lax.scan`` that logs every ``log_every`` steps without leaving the device;
  ``alpha_1, alpha_2, sigma, lr, lr_head`` are traced arguments (new values do not recompile).

Logged: per neuron the alignment ``|<w_i, v_l>| / ||w_i||``, the head ``E``, the loss (mean over
each logging block) and ``||w_i||``.

Phases (trained head, one seed; :func:`detect_phases`): ``i*`` is the neuron that ends on ``v_1``,
``j*`` the other neuron that ends most aligned with ``v_2``; "final" is the median of the last 5% of
the log.

- Phase I (the strong feature), ``[0, t_I)``: ``t_I`` is the first time ``i*``'s ``v_1`` alignment
  reaches half its final value.
- Phase II (substitution), ``[t_I, t_II)``: the off-diagonal of ``E`` rises; ``t_II`` is the peak of
  ``||E - I||_F``.
- Phase III (acceleration), ``[t_II, t_III)``: ``j*`` learns ``v_2``; ``t_III`` is the first time its
  ``v_2`` alignment reaches 0.9 of its final value (searched from ``t_weak_rise``, the last time it
  was below a quarter of it).
- Phase IV, ``[t_III, end]``: ``E`` returns towards ``I`` (``t_E_half``: ``||E - I||_F`` first back
  below half its peak).

What reproduces and what does not. Defaults (``m = 2``, ``d = 32``, 8 patches, 3 per feature,
``alpha_1 = 1``, ``alpha_2 = 1/2``, ``sigma = 2``, ``lr = 0.05``, ``lr_head = 0.01``, batch 64, 6000
steps), seeds 0-15:

- (b) Theorem 3 reproduces in every seed: with ``E = I`` both neurons end on ``v_1`` (alignment
  >= 0.989) and ignore ``v_2`` (< 0.03).
- (a) Theorem 1 reproduces in 12 of 16 seeds: one neuron on ``v_1``, the other on ``v_2`` (both
  >= 0.98), each time on the very samples and init where ``E = I`` collapsed. Not in *every* seed:
  in 2 of the other 4 both neurons learn ``v_1`` almost at once in Phase I, before the head can
  substitute one for the other, and the trained run stays collapsed while ``||E - I||_F`` keeps
  growing slowly; in the other 2 the head holds the second neuron at ``v_1`` alignment ~0.5 but
  it has not learned ``v_2`` (still 12 of 16 at 8000 steps). "With high probability" is read as
  "in at least 2/3 of the seeds".
- (c) The off-diagonal rises and falls back in 10 of the 12 separated seeds by step 6000 (peak
  ``||E - I||_F`` 0.19-0.41, end below a quarter of the peak; the other two are still falling, at
  0.27 and 0.42 of it; with 8000 steps all 12 pass).
- The four phases come in the paper's order (``t_I < t_II < t_III``) in all 12 separated seeds.
  Phase I takes tens of steps; the peak of the head (``t_II``) comes at 160-4440 steps, within
  ~800 steps of the time the weak feature starts to rise, and ``E`` falls back while it is learned. Two departures
  from the talk's description: in Phase I the slower neuron also picks up a good part of ``v_1``
  (alignment up to ~0.9) before the substitution pushes it off, rather than staying unlearned;
  and the trained head ends at a *higher* loss than the collapsed ``E = I`` run (collapse is the
  better optimum of this objective; the head avoids it through the dynamics, as the paper says).
- ``m > 2`` runs, but the claims are Theorem 1's (``m = 2``): with more neurons than features the
  head keeps substituting the redundant neurons and ``||E - I||_F`` does not fall back.

Two modelling notes. The noise is on every patch, feature patches included. With noise only on
the feature-free patches the substitution of Phase II is crisp, but the weak feature's growth
rate scales as ``alpha_2^6`` and Phase III does not happen within a budget of seconds; noise on the
feature patches adds a term linear in ``<w, v_l>`` (``3 alpha_l <w, v_l> <w, xi_p>^2``) that makes
both features learnable on comparable time scales. BN makes ``L`` invariant to the scale of each
``w_i``, so SGD only grows ``||w_i||`` and the effective learning rate ``lr / ||w_i||^2`` decays
slowly over a run (logged as ``w_norm``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dynsim._core.errors import DynsimInputError
from dynsim._core.system import check_param

BN_EPS = 1e-12  # added to the batch variance (outputs are O(1e-3) or more)
ALIGNED = 0.9  # a neuron "detects" v_l: |<w_i, v_l>| / ||w_i|| >= ALIGNED at the end
UNALIGNED = 0.2  # ... and "ignores" it below UNALIGNED (a random unit vector in R^32: ~0.14)
FRACTION = 2.0 / 3.0  # "with high probability" reads as: in at least this fraction of the seeds
FALL = 0.25  # the off-diagonal "falls back": ||E - I||_F at the end <= FALL x its peak
RUNS = ("trained", "fixed")  # run axis: trained head, head fixed at E = I

DEFAULTS = dict(m=2, d=32, patches=8, feature_patches=3, alpha1=1.0, alpha2=0.5, sigma=2.0, lr=0.05,
                lr_head=0.01, steps=6000, batch=64, seeds=4, log_every=20)


# ----------------------------------------------------------------------------- model


def batch_norm(z, eps: float = BN_EPS):
    """BN with batch statistics and no affine parameters: each column of ``z`` (batch, m) to zero
    mean and unit (biased) variance."""
    return (z - z.mean(0)) / jnp.sqrt(z.var(0) + eps)


def features(w, x, mask):
    """``phi_i(X) = sum_p mask_p <w_i, x_p>^3``: ``w`` (m, d), ``x`` (batch, P, d), ``mask`` (batch, P)
    -> (batch, m)."""
    s = jnp.einsum("bpd,md->bpm", x, w)
    return jnp.einsum("bpm,bp->bm", s ** 3, mask)


def head_loss(w, E, x, mask):
    """``E_batch ||BN[E phi(X1)] - SG[BN[phi(X2)]]||^2`` with view 1 = ``mask``, view 2 = its complement."""
    online = batch_norm(features(w, x, mask) @ E.T)
    target = jax.lax.stop_gradient(batch_norm(features(w, x, 1.0 - mask)))
    return jnp.mean(jnp.sum((online - target) ** 2, axis=-1))


def sample_views(key, batch: int, patches: int, feature_patches: int, d: int, alpha1, alpha2, sigma):
    """One fresh batch (module docstring): ``x`` (batch, P, d) and the view-1 mask (batch, P), each
    patch independently in view 1 with probability 1/2 (view 2: the complement). The Gaussian noise
    is drawn in float32 (the random bits are the cost of a step) and used in float64."""
    kz, km, kx = jax.random.split(key, 3)
    z = jax.random.rademacher(kz, (batch, 2), dtype=jnp.float64)
    mask = jax.random.bernoulli(km, 0.5, (batch, patches)).astype(jnp.float64)
    p = jnp.arange(patches)
    on1 = (p < feature_patches).astype(jnp.float64)
    on2 = ((p >= feature_patches) & (p < 2 * feature_patches)).astype(jnp.float64)
    x = (sigma / math.sqrt(d)) * jax.random.normal(kx, (batch, patches, d), dtype=jnp.float32).astype(jnp.float64)
    return x.at[..., 0].add(alpha1 * z[:, :1] * on1).at[..., 1].add(alpha2 * z[:, 1:] * on2), mask


def stochastic_gradients(key, W, E, theta, *, patches: int, feature_patches: int, batch: int):
    """Loss and gradients ``(loss (R,), dL/dW (R, m, d), dL/dE (R, m, m))`` of ``R`` runs (stacked
    ``W`` (R, m, d), ``E`` (R, m, m)) on one fresh batch (:func:`sample_views`) shared by the runs."""
    x, mask = sample_views(key, batch, patches, feature_patches, W.shape[-1], theta["alpha1"], theta["alpha2"],
                           theta["sigma"])
    loss_grad = jax.value_and_grad(head_loss, argnums=(0, 1))
    loss, (gW, gE) = jax.vmap(loss_grad, in_axes=(0, 0, None, None))(W, E, x, mask)
    return loss, gW, gE


def _observe(w, E):
    """Logged state of one run: alignments (m, 2), E (m, m), ||w_i|| (m,)."""
    norm = jnp.linalg.norm(w, axis=-1)
    return jnp.abs(w[:, :2]) / norm[:, None], E, norm


@functools.partial(jax.jit, static_argnames=("m", "d", "patches", "feature_patches", "batch", "n_log",
                                             "log_every"))
def _simulate(keys, theta, *, m, d, patches, feature_patches, batch, n_log, log_every):
    """All seeds (``keys``, one per lane) x both runs. ``theta``: traced scalars. Returns per seed
    ``(align (T, 2, m, 2), E (T, 2, m, m), loss (T, 2), w_norm (T, 2, m), diverged (2,))`` with
    ``T = n_log + 1`` log points (the first at step 0); ``diverged`` is the first step whose update
    was not finite (-1: none); from there on that run is frozen."""
    off = 1.0 - jnp.eye(m)
    lr_w = jnp.stack([theta["lr"], theta["lr"]])
    lr_e = jnp.stack([theta["lr_head"], jnp.zeros_like(theta["lr_head"])])  # fixed run: E = I
    grads = functools.partial(stochastic_gradients, theta=theta, patches=patches, feature_patches=feature_patches,
                              batch=batch)

    def sgd(p, g, lrw, lre):
        (w, E), (gw, gE) = p, g
        opt_w, opt_e = optax.sgd(lrw), optax.sgd(lre)
        uw, _ = opt_w.update(gw, opt_w.init(w))
        uE, _ = opt_e.update(gE * off, opt_e.init(E))  # the diagonal never moves
        return optax.apply_updates(w, uw), optax.apply_updates(E, uE)

    def one_seed(key):
        kw, kd, k0 = jax.random.split(key, 3)
        w0 = jax.random.normal(kw, (m, d)) / math.sqrt(d)
        params = (jnp.stack([w0, w0]), jnp.stack([jnp.eye(m), jnp.eye(m)]))

        def step(carry, i):
            params, bad = carry
            loss, gw, gE = grads(jax.random.fold_in(kd, i), *params)
            new = jax.vmap(sgd)(params, (gw, gE), lr_w, lr_e)
            ok = jnp.isfinite(loss) & jnp.all(jnp.isfinite(new[0]), axis=(1, 2)) & jnp.all(
                jnp.isfinite(new[1]), axis=(1, 2))
            keep = ok & (bad < 0)
            params = jax.tree.map(lambda a, b: jnp.where(keep.reshape((2,) + (1,) * (a.ndim - 1)), a, b), new, params)
            bad = jnp.where(~ok & (bad < 0), i, bad)
            return (params, bad), jnp.where(bad < 0, loss, jnp.nan)

        def block(carry, j):
            carry, losses = jax.lax.scan(step, carry, j * log_every + jnp.arange(log_every))
            a, E, n = jax.vmap(_observe)(*carry[0])
            return carry, (a, E, jnp.mean(losses, axis=0), n)

        loss0 = grads(k0, *params)[0]
        a0, E0, n0 = jax.vmap(_observe)(*params)
        (params, bad), (a, E, loss, n) = jax.lax.scan(block, (params, jnp.full((2,), -1)), jnp.arange(n_log))
        cat = lambda first, rest: jnp.concatenate([first[None], rest])  # noqa: E731
        return cat(a0, a), cat(E0, E), cat(loss0, loss), cat(n0, n), bad

    return jax.vmap(one_seed)(keys)


# ----------------------------------------------------------------------------- results


def _nanmedian(a, axis):
    with warnings.catch_warnings():  # all-NaN (a diverged run): NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=axis)


def _final(series: np.ndarray, tail: int) -> np.ndarray:
    """The end value of a logged series (time first): median over the last ``tail`` finite points."""
    return _nanmedian(series[-tail:], axis=0)


def _first(cond: np.ndarray, t: np.ndarray, start: int = 0):
    idx = np.flatnonzero(cond[start:])
    return None if idx.size == 0 else float(t[start + idx[0]])


def detect_phases(t, align, E, *, fall: float = None) -> dict:
    """The four phases of one trained-head run (module docstring). ``t`` (T,), ``align`` (T, m, 2),
    ``E`` (T, m, m). Times are steps on the logging grid; ``None`` where an event did not happen.

    ``four_phases``: both features learned (``separated``), ``t_I < t_II < t_III`` (``ordered``) and
    ``||E - I||_F`` ends at most ``fall`` x its peak (``fell``)."""
    fall = FALL if fall is None else fall
    t = np.asarray(t, float)
    align, E = np.asarray(align, float), np.asarray(E, float)
    m = align.shape[1]
    ok = np.isfinite(align).all((1, 2)) & np.isfinite(E).all((1, 2))
    out = dict(strong_neuron=None, weak_neuron=None, separated=False, t_I=None, t_II=None, t_III=None,
               t_weak_rise=None, t_E_half=None, E_dist_peak=None, E_dist_final=None, offdiag_peak=None,
               ordered=False, fell=False, four_phases=False)
    if ok.sum() < 3:
        return out
    t, align, E = t[ok], align[ok], E[ok]
    tail = max(1, t.size // 20)
    fin = _final(align, tail)  # (m, 2)
    i = int(np.argmax(fin[:, 0]))
    others = [k for k in range(m) if k != i]
    j = others[int(np.argmax(fin[others, 1]))]
    dist = np.linalg.norm(E - np.eye(m), axis=(1, 2))
    k_peak = int(np.argmax(dist))
    peak, final = float(dist[k_peak]), float(_final(dist, tail))
    out.update(strong_neuron=i, weak_neuron=j, separated=bool(fin[i, 0] >= ALIGNED and fin[j, 1] >= ALIGNED),
               t_I=_first(align[:, i, 0] >= 0.5 * fin[i, 0], t), t_II=float(t[k_peak]), E_dist_peak=peak,
               E_dist_final=final, offdiag_peak=float(np.abs(E[:, ~np.eye(m, dtype=bool)]).max()),
               t_E_half=_first(dist <= 0.5 * peak, t, start=k_peak), fell=bool(0 < k_peak < t.size - 1
                                                                             and final <= fall * peak))
    if out["separated"]:
        below = np.flatnonzero(align[:, j, 1] < 0.25 * fin[j, 1])
        start = below[-1] + 1 if below.size else 0
        out["t_weak_rise"] = float(t[start])
        out["t_III"] = _first(align[:, j, 1] >= ALIGNED * fin[j, 1], t, start=start)
    if None not in (out["t_I"], out["t_III"]):
        out["ordered"] = bool(out["t_I"] < out["t_II"] < out["t_III"])
    out["four_phases"] = bool(out["separated"] and out["ordered"] and out["fell"])
    return out


@dataclasses.dataclass
class HeadRun:
    """Trained head vs ``E = I`` over ``seeds`` seeds. Arrays are (seed, run, time, ...), run 0 the
    trained head, run 1 the fixed head; ``align[..., i, l] = |<w_i, v_l>| / ||w_i||``."""

    params: dict
    t: np.ndarray  # (T,) steps
    align: np.ndarray  # (S, 2, T, m, 2)
    E: np.ndarray  # (S, 2, T, m, m)
    loss: np.ndarray  # (S, 2, T): mean loss over the logging block ending at t (at t = 0: one batch)
    w_norm: np.ndarray  # (S, 2, T, m)
    diverged: np.ndarray  # (S, 2): first step whose update was not finite, -1 for none
    phases: list[dict]  # per seed, trained run (detect_phases)
    runtime_s: float = math.nan

    @property
    def E_dist(self) -> np.ndarray:
        """``||E - I||_F``, (S, 2, T)."""
        m = self.E.shape[-1]
        return np.linalg.norm(self.E - np.eye(m), axis=(-2, -1))

    @property
    def offdiag(self) -> np.ndarray:
        """The off-diagonal entries of ``E`` row by row (``E_12, E_13, .., E_21, ..``), (S, 2, T, m(m-1))."""
        m = self.E.shape[-1]
        return self.E[..., ~np.eye(m, dtype=bool)]

    def final_alignment(self) -> np.ndarray:
        """End alignments (S, 2, m, 2): median over the last 5% of the log."""
        tail = max(1, self.t.size // 20)
        return _nanmedian(self.align[:, :, -tail:], axis=2)

    def separated(self) -> np.ndarray:
        """(S, 2): some neuron detects ``v_1`` and another ``v_2`` (both alignments >= ALIGNED)."""
        a = self.final_alignment()
        out = np.zeros(a.shape[:2], bool)
        for s, r in np.ndindex(*out.shape):
            v1, v2 = a[s, r, :, 0], a[s, r, :, 1]
            i = int(np.argmax(v1))
            rest = np.delete(v2, i)
            out[s, r] = v1[i] >= ALIGNED and rest.max() >= ALIGNED and self.diverged[s, r] < 0
        return out

    def collapsed(self) -> np.ndarray:
        """(S, 2): every neuron detects ``v_1`` only (``>= ALIGNED`` on v_1, ``< UNALIGNED`` on v_2)."""
        a = self.final_alignment()
        return (a[..., 0] >= ALIGNED).all(-1) & (a[..., 1] < UNALIGNED).all(-1) & (self.diverged < 0)

    def show_seed(self) -> int:
        """The seed the figure shows: the first whose trained run goes through the four phases, else 0."""
        for s, ph in enumerate(self.phases):
            if ph["four_phases"]:
                return s
        return 0

    def summary(self) -> dict:
        fa = self.final_alignment()
        sep, col = self.separated(), self.collapsed()

        def run(r):
            return {
                "final_alignment_v1": fa[:, r, :, 0].round(4).tolist(),  # [seed][neuron]
                "final_alignment_v2": fa[:, r, :, 1].round(4).tolist(),
                "features_separated": sep[:, r].tolist(),
                "collapsed_onto_v1": col[:, r].tolist(),
                "fraction_separated": float(sep[:, r].mean()),
                "fraction_collapsed": float(col[:, r].mean()),
                "loss_final": [float(x) for x in _final(self.loss[:, r].T, max(1, self.t.size // 20))],
                "E_dist_final": [float(x) for x in self.E_dist[:, r, -1]],
                "diverged_at_step": [None if b < 0 else int(b) for b in self.diverged[:, r]],
            }

        four = [ph for ph in self.phases if ph["four_phases"]]

        def med(key):
            vals = [ph[key] for ph in four if ph[key] is not None]
            return float(np.median(vals)) if vals else None

        return {
            "params": self.params,
            "trained_head": run(0),
            "fixed_head": run(1),
            "phases": self.phases,
            "fraction_four_phases": len(four) / len(self.phases),
            "phase_times_median": {k: med(k) for k in ("t_I", "t_II", "t_weak_rise", "t_III", "t_E_half")},
            "offdiag_peak_median": med("offdiag_peak"),
            "shown_seed": self.show_seed(),
            "diverged": bool((self.diverged >= 0).any()),
            "claims": head_claims(self),
            "runtime_s": self.runtime_s,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        return {"t": self.t, "align": self.align, "E": self.E, "E_dist": self.E_dist, "offdiag": self.offdiag,
                "loss": self.loss, "w_norm": self.w_norm, "diverged": self.diverged}


def _check_int(name: str, value, lower: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lower:
        raise DynsimInputError(name, f"{name} must be an integer >= {lower} (got {value!r})")
    return int(value)


def simulate_prediction_head(*, m: int = DEFAULTS["m"], d: int = DEFAULTS["d"], patches: int = DEFAULTS["patches"],
                             feature_patches: int = DEFAULTS["feature_patches"], alpha1: float = DEFAULTS["alpha1"],
                             alpha2: float = DEFAULTS["alpha2"], sigma: float = DEFAULTS["sigma"],
                             lr: float = DEFAULTS["lr"], lr_head: float = DEFAULTS["lr_head"],
                             steps: int = DEFAULTS["steps"], batch: int = DEFAULTS["batch"],
                             seeds: int = DEFAULTS["seeds"], log_every: int = DEFAULTS["log_every"], seed: int = 0,
                             progress: Callable[[str], None] | None = None) -> HeadRun:
    """Train the [WL22] network with a trained head and with ``E = I`` (module docstring) on
    ``seeds`` seeds (``seed, seed + 1, ...``) for ``steps`` SGD steps, logging every ``log_every``.

    Defaults: ``d = 32``, 8 patches (3 per feature), ``alpha_1 = 1``, ``alpha_2 = 1/2``, noise
    ``sigma = 2``, ``lr = 0.05``, ``lr_head = 0.01``, batch 64, 6000 steps, 4 seeds; a few seconds on
    two CPU cores, most of it compilation. Why: in ``d = 32`` a random ``w_i`` starts with alignment
    ~0.18 to each feature and the per-patch noise ``sigma / sqrt(d) = 0.35`` is comparable to the
    signal it sees at init; ``alpha_2 = alpha_1 / 2`` is weak enough that ``E = I`` collapsed in
    every seed tried (16 of 16) and strong enough that the weak feature is learned in thousands of
    steps; ``lr_head / lr = 1/5`` keeps the head slower, as in the paper (``|E_21| ~ sqrt(1/5)``).
    ``lr_head = 0`` makes the "trained" run a second ``E = I`` run (a control). A non-finite update
    freezes that run and is reported (``diverged``), not returned as numbers.
    """
    m = _check_int("m", m, 2)
    d = _check_int("d", d, 2)
    patches = _check_int("patches", patches, 2)
    feature_patches = _check_int("feature_patches", feature_patches, 1)
    if 2 * feature_patches > patches:
        raise DynsimInputError("feature_patches", f"2 x feature_patches must be <= patches = {patches} "
                                                  f"(got feature_patches = {feature_patches})")
    batch = _check_int("batch", batch, 2)
    steps = _check_int("steps", steps, 1)
    log_every = _check_int("log_every", log_every, 1)
    seeds = _check_int("seeds", seeds, 1)
    seed = _check_int("seed", seed, 0)
    if steps % log_every:
        raise DynsimInputError("log_every", f"steps = {steps} must be a multiple of log_every = {log_every}")
    check_param("lr", lr, lower=0.0, lower_open=True)
    check_param("lr_head", lr_head, lower=0.0)
    check_param("alpha1", alpha1, lower=0.0, lower_open=True)
    check_param("alpha2", alpha2, lower=0.0, lower_open=True)
    check_param("sigma", sigma, lower=0.0)
    for name, v in (("lr", lr), ("lr_head", lr_head), ("alpha1", alpha1), ("alpha2", alpha2), ("sigma", sigma)):
        if np.ndim(v):
            raise DynsimInputError(name, f"{name} must be a scalar (got shape {np.shape(v)})")
    theta = {k: jnp.asarray(v, jnp.float64) for k, v in
             dict(alpha1=alpha1, alpha2=alpha2, sigma=sigma, lr=lr, lr_head=lr_head).items()}
    keys = jnp.stack([jax.random.PRNGKey(seed + s) for s in range(seeds)])
    if progress is not None:
        progress(f"training {seeds} seed(s) x 2 heads (trained, fixed E = I) for {steps} steps: m = {m}, d = {d}, "
                 f"{patches} patches, batch {batch}")
    t0 = time.perf_counter()
    out = _simulate(keys, theta, m=m, d=d, patches=patches, feature_patches=feature_patches, batch=batch,
                    n_log=steps // log_every, log_every=log_every)
    align, E, loss, w_norm, bad = (np.array(a) for a in jax.block_until_ready(out))
    runtime = time.perf_counter() - t0
    t = np.arange(steps // log_every + 1, dtype=float) * log_every
    # (S, T, 2, ...) -> (S, 2, T, ...); after a non-finite update the run is frozen: blank its log
    align, E, loss, w_norm = (np.moveaxis(a, 2, 1) if a.ndim > 3 else np.swapaxes(a, 1, 2)
                              for a in (align, E, loss, w_norm))
    for s, r in zip(*np.nonzero(bad >= 0)):
        late = t > bad[s, r]
        for a in (align, E, loss, w_norm):
            a[s, r, late] = np.nan
    phases = [detect_phases(t, align[s, 0], E[s, 0]) for s in range(seeds)]
    params = dict(m=m, d=d, patches=patches, feature_patches=feature_patches, alpha1=float(alpha1),
                  alpha2=float(alpha2), sigma=float(sigma), lr=float(lr), lr_head=float(lr_head), steps=steps,
                  batch=batch, seeds=seeds, log_every=log_every, seed=seed, bn_eps=BN_EPS,
                  data="K patches alpha_l z_l v_l (z_l = +-1 per sample), N(0, sigma^2 I/d) noise on every patch",
                  views="complementary random halves of the patches", init="w_i ~ N(0, I/d), E = I")
    if progress is not None:
        progress(f"done in {runtime:.2f} s (compilation included)")
    return HeadRun(params, t, align, E, loss, w_norm, bad, phases, runtime)


# ----------------------------------------------------------------------------- claims


def head_claims(run: HeadRun, *, fraction: float = FRACTION, fall: float = FALL) -> list[dict]:
    """[WL22]'s claims measured on ``run``: (a) Theorem 1, trained head, no collapse; (b) Theorem 3,
    ``E = I``, every neuron on ``v_1`` only; (c) the off-diagonal of ``E`` rises and falls back.
    Each: ``{"claim", "measured", "criterion", "tolerance", "passed"}``; "with high probability" is
    read as "in at least ``fraction`` of the seeds"."""
    sep, col = run.separated(), run.collapsed()
    S = sep.shape[0]
    fa = run.final_alignment()
    out = []
    # (a)
    out.append({
        "claim": "(a) trained head (Theorem 1): one neuron aligns with v1, another with v2 (no dimensional collapse)",
        "measured": {"fraction_of_seeds": float(sep[:, 0].mean()), "seeds": S,
                     "v1_best": fa[:, 0, :, 0].max(-1).round(4).tolist(),
                     "v2_best_other_neuron": [float(np.delete(fa[s, 0, :, 1], np.argmax(fa[s, 0, :, 0])).max().round(4))
                                              for s in range(S)]},
        "criterion": f"end alignment >= {ALIGNED} with v1 (one neuron) and with v2 (another) in >= {fraction:.3g} "
                     "of the seeds",
        "tolerance": ALIGNED,
        "passed": bool(sep[:, 0].mean() >= fraction),
    })
    # (b)
    out.append({
        "claim": "(b) head fixed at E = I (Theorem 3): every neuron aligns with v1 only (dimensional collapse)",
        "measured": {"fraction_of_seeds": float(col[:, 1].mean()), "seeds": S,
                     "v1_min": fa[:, 1, :, 0].min(-1).round(4).tolist(),
                     "v2_max": fa[:, 1, :, 1].max(-1).round(4).tolist()},
        "criterion": f"every neuron: end alignment >= {ALIGNED} with v1 and < {UNALIGNED} with v2, in >= "
                     f"{fraction:.3g} of the seeds",
        "tolerance": UNALIGNED,
        "passed": bool(col[:, 1].mean() >= fraction),
    })
    # (c) over the seeds whose trained run learned both features
    rise_fall = []
    for s, ph in enumerate(run.phases):
        if not sep[s, 0]:
            continue
        inside = ph["t_I"] is not None and ph["t_I"] < ph["t_II"] < run.t[-1]
        ratio = ph["E_dist_final"] / ph["E_dist_peak"] if ph["E_dist_peak"] else math.nan
        rise_fall.append({"seed": s, "t_peak": ph["t_II"], "peak": ph["E_dist_peak"], "final": ph["E_dist_final"],
                          "final_over_peak": float(ratio), "offdiag_peak": ph["offdiag_peak"],
                          "passed": bool(inside and ratio <= fall)})
    frac = float(np.mean([r["passed"] for r in rise_fall])) if rise_fall else 0.0
    out.append({
        "claim": "(c) trained head: the off-diagonal of E rises and then falls (||E - I||_F peaks inside the run, "
                 "after Phase I, and ends well below the peak)",
        "measured": {"fraction_of_separated_seeds": frac, "separated_seeds": len(rise_fall), "per_seed": rise_fall},
        "criterion": f"t_I < t_peak < end of run and final ||E - I||_F <= {fall:g} x peak, in >= {fraction:.3g} of "
                     "the seeds that learned both features",
        "tolerance": fall,
        "passed": bool(rise_fall) and frac >= fraction,
    })
    return out


# ----------------------------------------------------------------------------- figure


def plot_prediction_head(run: HeadRun, seed: int | None = None, *, size: str = "page"):
    """(a) alignments with the trained head, (b) with ``E = I`` (v1 solid, v2 dashed, one colour per
    neuron), (c) the off-diagonal entries of ``E`` and ``||E - I||_F``, (d) the loss of both runs; the
    four phases shaded. One seed: ``run.show_seed()`` unless given (an index into the run's seeds).
    Time runs on a square-root axis so that the short Phase I stays visible. ``size="page"``: 7 in
    wide, 2 x 2 panels; ``"column"``: 3.4 in, the four panels stacked (:mod:`dynsim.plot.style`)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from dynsim.plot.style import PALETTE, WIDTHS, check_size, style, suptitle

    check_size(size)
    page = size == "page"

    S = run.align.shape[0]
    s = run.show_seed() if seed is None else seed
    if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= s < S:
        raise DynsimInputError("seed", f"seed must be an index in [0, {S - 1}] (got {seed!r})")
    p, t, ph = run.params, run.t, run.phases[s]
    m = run.align.shape[-2]
    # neurons are a family told apart by their index: the style's SERIES (blue and vermillion mean
    # non-trivial and collapsed; black and grey are (c)'s distance and off-diagonals)
    cycle = [PALETTE[c] for c in ("orange", "sky", "green", "purple", "yellow")] + ["#882255", "#44AA99"]
    colors = [cycle[i % len(cycle)] for i in range(m)]
    shade = ["#EDEDED", "#DCE9F5", "#FBE5D3", "#DDF0E7"]
    spans = None
    if ph["four_phases"]:
        edges = [0.0, ph["t_I"], ph["t_II"], ph["t_III"], float(t[-1])]
        spans = list(zip(edges[:-1], edges[1:]))

    def phases(ax):
        if spans is None:
            return
        for k, (a, b) in enumerate(spans):
            ax.axvspan(a, b, color=shade[k], lw=0, zorder=0)
            mid = (0.5 * (np.sqrt(a) + np.sqrt(b))) ** 2  # the middle on the square-root axis
            ax.text(mid, 1.01, ["I", "II", "III", "IV"][k], transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize=plt.rcParams["font.size"], color="0.25")

    def smooth(y, n):
        if n <= 1:
            return y
        pad = np.pad(y, (n // 2, n - 1 - n // 2), mode="edge")
        return np.convolve(pad, np.ones(n) / n, mode="valid")

    sqrt_axis = (lambda x: np.sqrt(np.clip(x, 0.0, None)), np.square)
    lw = 1.2 if page else 1.0  # the runs' lines (the style's 1.1 / 1.0, a little heavier)
    with style(size):
        if page:
            fig, axes = plt.subplots(2, 2, figsize=(WIDTHS[size], 5.6), layout="constrained", sharex=True)
            (a, b), (c, d) = axes
        else:
            fig, axes = plt.subplots(4, 1, figsize=(WIDTHS[size], 8.4), layout="constrained", sharex=True)
            a, b, c, d = axes
        sep, col = run.separated(), run.collapsed()

        def outcome(r):
            if sep[s, r]:
                return "one neuron per feature"
            if col[s, r]:
                return r"every neuron on $v_1$ only"
            fa = run.final_alignment()[s, r]
            i = int(np.argmax(fa[:, 0]))
            return rf"best $v_1$ {fa[i, 0]:.2f}, best other on $v_2$ {np.delete(fa[:, 1], i).max():.2f}"

        for ax, r, title in ((a, 0, f"(a) trained head: {outcome(0)}"),
                             (b, 1, rf"(b) head fixed at $E = I$: {outcome(1)}")):
            if r == 0:  # the phases are the trained run's
                phases(ax)
            for i in range(m):
                ax.plot(t, run.align[s, r, :, i, 0], color=colors[i], lw=lw)
                ax.plot(t, run.align[s, r, :, i, 1], color=colors[i], lw=0.9 * lw, ls="--")
            ax.set_ylim(0, 1.04)
            ax.set_ylabel(r"alignment $|\langle w_i, v_\ell\rangle| / \|w_i\|$" if page else "alignment")
            ax.set_title(title, loc="left", pad=11)
        handles = [Line2D([], [], color=colors[i], lw=lw, label=rf"neuron {i + 1}") for i in range(min(m, 4))]
        if m > 4:
            handles.append(Line2D([], [], color="none", label=f"neurons 5-{m}: colours repeat" if m > len(cycle)
                                  else f"neurons 5-{m}: further colours"))
        handles += [Line2D([], [], color="0.2", lw=lw, label=r"$v_1$ (strong)"),
                    Line2D([], [], color="0.2", lw=0.9 * lw, ls="--", label=r"$v_2$ (weak)")]
        b.legend(handles=handles, frameon=True, framealpha=0.9, edgecolor="none", loc="center right")

        phases(c)
        off = run.offdiag[s, 0]
        pairs = [(i, j) for i in range(m) for j in range(m) if i != j]
        for k, (i, j) in enumerate(pairs):
            if m <= 3:
                c.plot(t, off[:, k], lw=lw, color=colors[i] if m == 2 else cycle[k], ls="-" if i < j else "-.",
                       label=rf"$E_{{{i + 1}{j + 1}}}$")
            else:
                c.plot(t, off[:, k], lw=0.6, color="0.6", label="off-diagonal $E_{ij}$" if k == 0 else None)
        dist = run.E_dist[s, 0]
        c.plot(t, dist, color="black", lw=1.5 * lw, label=r"$\|E - I\|_F$")
        if ph["E_dist_peak"] is not None:
            k = int(np.nanargmax(dist))
            c.plot(t[k], dist[k], "o", ms=5, mfc="white", mec="black", zorder=5)
            c.annotate(f"peak {dist[k]:.2f} at step {t[k]:.0f}", (t[k], dist[k]), xytext=(0, 6),
                       textcoords="offset points", fontsize=plt.rcParams["legend.fontsize"], ha="center", va="bottom")
        c.axhline(0.0, color="0.5", lw=0.6)
        lo, hi = min(np.nanmin(off), 0.0), np.nanmax(dist)
        if hi > lo:
            c.set_ylim(lo - 0.08 * (hi - lo), hi + 0.45 * (hi - lo))
        c.set_ylabel(r"head $E$ (diagonal fixed at 1)" if page else "head $E$")
        c.set_title("(c) head: the off-diagonal rises and falls back" if ph["fell"] else
                    "(c) head: off-diagonal entries and distance to I", loc="left", pad=11)
        c.legend(frameon=True, framealpha=0.9, edgecolor="none", loc="upper left", ncol=3 if m <= 3 else 2)

        phases(d)
        n = max(1, t.size // 60)
        for r, col, lab in ((0, PALETTE["blue"], "trained head"), (1, PALETTE["orange"], r"$E = I$")):
            if not np.isfinite(run.loss[s, r, 1:]).any():
                continue
            d.plot(t[1:], run.loss[s, r, 1:], color=col, lw=0.5, alpha=0.35)
            d.plot(t[1:], smooth(run.loss[s, r, 1:], n), color=col, lw=lw, label=lab)
        d.set_ylabel(r"loss $\|BN[E\phi(X_1)] - SG[BN\,\phi(X_2)]\|^2$" if page else "loss")
        d.set_title(f"(d) loss: means over {p['log_every']} steps, smoothed", loc="left", pad=11)
        if d.get_legend_handles_labels()[0]:
            d.legend(frameon=True, framealpha=0.9, edgecolor="none", loc="upper right")
        for ax in (a, b, c, d):
            ax.set_xscale("function", functions=sqrt_axis)
            ax.set_xlim(0, t[-1])
        ticks = [x for x in (0, 100, 500, 1000, 2000, 4000, 6000, 8000, 12000, 16000, 25000, 50000, 100000)
                 if x <= t[-1]]
        for ax in (c, d) if page else (d,):
            ax.set_xticks(ticks)
            ax.set_xlabel("SGD step (square-root axis)")
        items = ["Prediction head [Wen & Li 2022]:", f"$m = {m}$", f"$d = {p['d']}$", f"{p['patches']} patches",
                 rf"$\alpha_1 = {p['alpha1']:g}$", rf"$\alpha_2 = {p['alpha2']:g}$", rf"$\sigma = {p['sigma']:g}$",
                 rf"$\eta = {p['lr']:g}$", rf"$\eta_E = {p['lr_head']:g}$", f"batch {p['batch']}",
                 f"seed {p['seed'] + s}:", f"both features learned with the trained head in {int(sep[:, 0].sum())}/{S} "
                 "seeds", f"with $E = I$ in {int(sep[:, 1].sum())}/{S}"]
        if not ph["four_phases"]:
            items.append("this seed does not show the four phases (no shading)")
        diverged = f"diverged at step {int(run.diverged[s].max())}" if (run.diverged[s] >= 0).any() else None
        suptitle(fig, items, size, partial=diverged)
    return fig
