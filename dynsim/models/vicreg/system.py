r"""Linear VICReg as a loss: the stationary spectrum in closed form and the dimensional-collapse threshold in the
invariance weight [BPL22].

[BPL22] A. Bardes, J. Ponce, Y. LeCun, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning", ICLR 2022, arXiv:2105.04906 (the loss, its defaults ``lambda = mu = 25``, ``nu = 1``,
``gamma = 1``, ``eps = 1e-4``, and the claims that the variance term prevents collapse and the covariance term
prevents the dimensions from carrying the same information).

Setting (choices stated): a linear encoder ``z = W x`` (``W`` is ``d x n``); two views ``x1 = x + xi1``,
``x2 = x + xi2`` with ``E[x x^T] = X``, independent augmentation noise ``E[xi xi^T] = X'``; the population
version of [BPL22]'s loss (batch averages replaced by expectations), both views having the covariance
``C = W (X + X') W^T``:

    L = lambda E||z1 - z2||^2 + mu [v(Z1) + v(Z2)] + nu [c(Z1) + c(Z2)]
      = 2 lambda tr(W X' W^T) + (2 mu / d) sum_i h(C_ii) + (2 nu / d) sum_{i != j} C_ij^2,
    h(v) = max(0, gamma - sqrt(v + eps))

with gradient flow ``dW/dt = -dL/dW`` (unit rate, no weight decay).

Closed forms (derived here). Let ``m_1 < ... < m_n`` be the generalised eigenvalues of ``X' u = m (X + X') u``:
``m_j`` is the fraction of mode ``j``'s view variance that is augmentation noise. At a stationary point with
``C`` diagonal each output sits on its own mode (whitened rows are eigenvectors of ``M = B^{-1/2} X' B^{-1/2}``,
``B = X + X'``), and per mode ``v = C_ii`` obeys

    dv/dt = 2 v [ -4 lambda m + (2 mu / d) / sqrt(v + eps) ]        (while sqrt(v + eps) < gamma)

(``w`` the mode's weight, ``v = b w^2``: :class:`VICRegMode`). Hence the stationary variance

    v*(m) = (mu / (2 d lambda m))^2 - eps      (capped at gamma^2 - eps, where the hinge switches off)

and the **dimensional-collapse threshold**: the mode collapses (``v = 0`` is stable, the non-zero branch is
gone) iff ``lambda / mu >= 1 / (2 d m sqrt(eps))``, a pitchfork in ``w`` (:func:`collapse_threshold`). With
``d = n`` and ``W`` from a random start the flow reaches one output per mode, so the spectrum of ``C`` is
``{v*(m_j)}`` (the collapsed ones 0). Without the covariance term (``nu = 0``) nothing keeps the outputs apart:
every row goes to the mode of least noise ``m_1`` and ``C`` has rank 1 (informational collapse).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from jaxtyping import Array, Float

from dynsim._core.errors import DynsimInputError
from dynsim._core.gradient_flow import GradientFlow, train_gradient_flow
from dynsim._core.solve import solve
from dynsim._core.system import AbstractSystem, check_param, param, to_jax

#: [BPL22]'s coefficients (their paper's defaults).
PAPER = dict(lam=25.0, mu=25.0, nu=1.0, eps=1e-4, gamma=1.0)
#: The default data: four modes of view variance 1 with noise fractions m_j (the thresholds lambda/mu = 12.5/m_j).
NOISE = (0.2, 0.35, 0.5, 0.7)
COLLAPSED = 1e-9  # a variance below this (absolute; the data have unit view variance) counts as collapsed


# ----------------------------------------------------------------------------- the loss


def vicreg_loss(*, W, X, X_aug, lam, mu, nu, eps, gamma):
    """``2 lam tr(W X' W^T) + (2 mu/d) sum_i max(0, gamma - sqrt(C_ii + eps)) + (2 nu/d) sum_{i != j} C_ij^2``,
    ``C = W (X + X') W^T``."""
    d = W.shape[0]
    C = W @ (X + X_aug) @ W.T
    var = jnp.diagonal(C)
    off = C - jnp.diag(var)
    inv = 2.0 * jnp.sum((W @ X_aug) * W)
    hinge = jnp.sum(jnp.maximum(0.0, gamma - jnp.sqrt(var + eps)))
    return lam * inv + (2.0 * mu / d) * hinge + (2.0 * nu / d) * jnp.sum(off * off)


def default_data(n: int = len(NOISE), noise=NOISE, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(X, X_aug)`` with unit view variance per mode and noise fractions ``noise``: ``X = Q diag(1 - m) Q^T``,
    ``X_aug = Q diag(m) Q^T``, ``Q`` a random orthogonal basis (``seed``; ``None``: the identity)."""
    m = np.asarray(noise, float)
    if m.shape != (n,) or np.any(m <= 0) or np.any(m >= 1):
        raise DynsimInputError("noise", f"noise must be {n} fractions in (0, 1) (got {noise!r})")
    q = np.eye(n) if seed is None else np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))[0]
    return q @ np.diag(1.0 - m) @ q.T, q @ np.diag(m) @ q.T


def vicreg_flow(X=None, X_aug=None, d: int | None = None, *, lam=PAPER["lam"], mu=PAPER["mu"], nu=PAPER["nu"],
                eps=PAPER["eps"], gamma=PAPER["gamma"]) -> GradientFlow:
    """The gradient flow of :func:`vicreg_loss` on ``W`` (``d x n``, default ``d = n``); ``X``, ``X_aug`` default to
    :func:`default_data`. The coefficients may carry batch axes (one solve for a sweep)."""
    if X is None and X_aug is None:
        X, X_aug = default_data()
    elif X is None or X_aug is None:
        raise DynsimInputError("X", "give both X and X_aug, or neither (then the default data)")
    X, X_aug = np.asarray(X, float), np.asarray(X_aug, float)
    n = X.shape[0] if X.ndim == 2 else 0
    if X.shape != (n, n) or X_aug.shape != (n, n) or n < 1:
        raise DynsimInputError("X", f"X and X_aug must be two n x n matrices (got {X.shape}, {X_aug.shape})")
    d = n if d is None else d
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not 1 <= d <= 4096:
        raise DynsimInputError("d", f"d must be an integer in [1, 4096] (got {d!r})")
    for name, v, lower, open_ in (("lam", lam, 0.0, False), ("mu", mu, 0.0, False), ("nu", nu, 0.0, False),
                                  ("eps", eps, 0.0, True), ("gamma", gamma, 0.0, True)):
        check_param(name, v, lower=lower, lower_open=open_)
    return GradientFlow(vicreg_loss, {"W": (int(d), n)}, {"X": X, "X_aug": X_aug},
                        {"lam": lam, "mu": mu, "nu": nu, "eps": eps, "gamma": gamma})


# ----------------------------------------------------------------------------- closed forms


def noise_fractions(X, X_aug) -> np.ndarray:
    """The generalised eigenvalues ``m_j`` of ``X' u = m (X + X') u``, ascending."""
    return np.sort(scipy.linalg.eigvalsh(np.asarray(X_aug, float), np.asarray(X, float) + np.asarray(X_aug, float)))


def collapse_threshold(m, d: int, eps: float = PAPER["eps"]) -> np.ndarray:
    """``lambda / mu`` at which a mode of noise fraction ``m`` collapses: ``1 / (2 d m sqrt(eps))``."""
    return 1.0 / (2.0 * d * np.asarray(m, float) * math.sqrt(eps))


def stationary_variances(m, d: int, *, lam=PAPER["lam"], mu=PAPER["mu"], eps=PAPER["eps"],
                         gamma=PAPER["gamma"]) -> np.ndarray:
    """``v*(m) = (mu / (2 d lam m))^2 - eps``, capped at ``gamma^2 - eps``, 0 at and past the threshold."""
    m = np.asarray(m, float)
    root = np.minimum(mu / (2.0 * d * lam * m), gamma)
    return np.where(root**2 > eps, root**2 - eps, 0.0)


class VICRegMode(AbstractSystem):
    r"""One mode of linear VICReg, its weight ``w`` with view variance ``v = b w^2`` and noise variance ``a w^2``:
    ``dw/dt = -4 lam a w + (2 mu / d) b w / sqrt(b w^2 + eps)`` while ``sqrt(b w^2 + eps) < gamma`` (then the
    hinge is off: ``-4 lam a w``)."""

    lam: Float[Array, "*batch"] = param(PAPER["lam"], lower=0.0, symbol=r"\lambda", help="invariance weight")
    mu: Float[Array, "*batch"] = param(PAPER["mu"], lower=0.0, symbol=r"\mu", help="variance weight")
    eps: Float[Array, "*batch"] = param(PAPER["eps"], lower=0.0, lower_open=True, symbol=r"\epsilon",
                                        help="inside the standard deviation sqrt(v + eps)")
    gamma: Float[Array, "*batch"] = param(PAPER["gamma"], lower=0.0, lower_open=True, symbol=r"\gamma",
                                          help="target standard deviation")
    a: Float[Array, "*batch"] = param(0.5, lower=0.0, symbol="a", help="the mode's augmentation variance")
    b: Float[Array, "*batch"] = param(1.0, lower=0.0, lower_open=True, symbol="b", help="the mode's view variance")
    d: Float[Array, "*batch"] = param(4.0, lower=1.0, symbol="d", help="output dimension (the variance term's 1/d)")
    state_names: ClassVar[tuple[str, ...]] = ("w",)

    def vector_field(self, t, y: Float[Array, " 1"]) -> Float[Array, " 1"]:
        w = y[0]
        std = jnp.sqrt(self.b * w * w + self.eps)
        push = jnp.where(std < self.gamma, (2.0 * self.mu / self.d) * self.b / std, 0.0)
        return jnp.stack([w * (push - 4.0 * self.lam * self.a)])

    def stationary_points(self) -> np.ndarray:
        """``w = 0`` and, below the threshold, ``w = +/- sqrt(v*/b)``."""
        m = float(self.a) / float(self.b)
        v = float(stationary_variances(m, float(self.d), lam=float(self.lam), mu=float(self.mu), eps=float(self.eps),
                                       gamma=float(self.gamma)))
        w = math.sqrt(v / float(self.b))
        return np.array([[0.0]] + ([[-w], [w]] if v > 0 else []))


def variances(flow: GradientFlow, ys) -> np.ndarray:
    """The eigenvalues of ``C = W (X + X') W^T`` (ascending) of (a batch of) states."""
    W = np.asarray(flow.unpack(jnp.asarray(ys, float))["W"])
    B = np.asarray(flow.data["X"]) + np.asarray(flow.data["X_aug"])
    return np.linalg.eigvalsh(W @ B @ np.swapaxes(W, -1, -2))


def off_diagonal(flow: GradientFlow, ys) -> np.ndarray:
    """``||offdiag C||_F / ||C||_F``: how far the outputs are from decorrelated."""
    W = np.asarray(flow.unpack(jnp.asarray(ys, float))["W"])
    B = np.asarray(flow.data["X"]) + np.asarray(flow.data["X_aug"])
    C = W @ B @ np.swapaxes(W, -1, -2)
    diag = np.einsum("...ii->...i", C)
    off = C - diag[..., None] * np.eye(C.shape[-1])
    return np.linalg.norm(off, axis=(-2, -1)) / np.linalg.norm(C, axis=(-2, -1))


def decorrelation_threshold(m, d: int, *, lam=PAPER["lam"], mu=PAPER["mu"], eps=PAPER["eps"],
                            gamma=PAPER["gamma"]) -> float:
    """The covariance weight above which the decorrelated point (one output per mode, every mode alive) is
    stable: ``nu_c = max_{i<j} lam d (m_j - m_i) / (2 (v*_i - v*_j))``. Below it the Hessian of the pair (output
    ``j`` turning towards mode ``i`` and ``i`` towards ``j``) has a negative direction: the outputs drift onto the
    least noisy mode (informational collapse)."""
    m = np.sort(np.asarray(m, float))
    v = stationary_variances(m, d, lam=lam, mu=mu, eps=eps, gamma=gamma)
    if np.any(v <= 0):
        raise DynsimInputError("lam", "every mode must be alive (lam / mu below every collapse threshold)")
    out = 0.0
    for i in range(m.size):
        for j in range(i + 1, m.size):
            dv = v[i] - v[j]
            out = max(out, math.inf if dv <= 0 else lam * d * (m[j] - m[i]) / (2.0 * dv))
    return out


def aligned_start(X, X_aug, w0) -> np.ndarray:
    """``W = diag(w0) Q^T`` with ``Q`` the generalised eigenvectors of ``(X', X + X')`` in ascending noise
    fraction: output ``i`` on mode ``i``; the flow keeps ``C`` diagonal (the modes decouple exactly)."""
    _, q = scipy.linalg.eigh(np.asarray(X_aug, float), np.asarray(X, float) + np.asarray(X_aug, float))
    q = q / np.linalg.norm(q, axis=0)
    return np.diag(np.asarray(w0, float)) @ q.T


def rank(spectrum, rtol: float = 1e-6) -> np.ndarray:
    """The number of eigenvalues of ``C`` above ``rtol`` times the largest."""
    spectrum = np.asarray(spectrum, float)
    return np.sum(spectrum > rtol * np.max(spectrum, axis=-1, keepdims=True), axis=-1)


# ----------------------------------------------------------------------------- SGD on sampled views


def vicreg_batch_loss(*, W, x1, x2, lam, mu, nu, eps, gamma):
    """[BPL22]'s loss on a minibatch of ``B`` view pairs (rows of ``x1``, ``x2``), ``z = W x``:
    ``lam (1/B) sum_b ||z1_b - z2_b||^2 + (mu/d) sum_k sum_i h(C^k_ii) + (nu/d) sum_k sum_{i != j} (C^k_ij)^2``
    with ``C^k = Z_k^T Z_k / B`` each view's (uncentred: the data have mean 0) batch covariance. Its expectation's
    linear terms are :func:`vicreg_loss`'s; the hinge and the squares make the batch gradient biased by O(1/B)."""
    d, B = W.shape[0], x1.shape[0]

    def var_cov(z):
        C = z.T @ z / B
        var = jnp.diagonal(C)
        off = C - jnp.diag(var)
        return jnp.sum(jnp.maximum(0.0, gamma - jnp.sqrt(var + eps))) / d, jnp.sum(off * off) / d

    (v1, c1), (v2, c2) = var_cov(x1 @ W.T), var_cov(x2 @ W.T)
    return lam * jnp.sum((x1 - x2) @ W.T * ((x1 - x2) @ W.T)) / B + mu * (v1 + v2) + nu * (c1 + c2)


def sampled_views(X, X_aug):
    """``data(key, batch) -> {"x1", "x2"}`` for :func:`dynsim.train_gradient_flow`: ``batch`` fresh pairs
    ``x1 = x + xi1``, ``x2 = x + xi2`` with ``x ~ N(0, X)``, ``xi ~ N(0, X')`` independent."""
    n = np.shape(X)[0]

    def root(a):  # a symmetric square root (X' may be singular)
        w, q = np.linalg.eigh(np.asarray(a, float))
        return to_jax(q * np.sqrt(np.maximum(w, 0.0)))

    lx, la = root(X), root(X_aug)

    def data(key, batch):
        k0, k1, k2 = jax.random.split(key, 3)
        x = jax.random.normal(k0, (batch, n)) @ lx.T
        return {"x1": x + jax.random.normal(k1, (batch, n)) @ la.T, "x2": x + jax.random.normal(k2, (batch, n)) @ la.T}

    return data


@dataclasses.dataclass
class VICRegSGD:
    """SGD on :func:`vicreg_batch_loss` against the population flow from the same start, at ``t = lr x step``:
    ``error[s, k] = ||W_s(t_k) - W_flow(t_k)||_F / ||W_flow(t_k)||_F`` per seed ``s``."""

    t: np.ndarray
    flow_ys: np.ndarray  # (T, dim)
    sgd_ys: np.ndarray  # (seeds, T, dim)
    error: np.ndarray  # (seeds, T)
    complete: bool


def sgd_against_flow(X=None, X_aug=None, *, lr: float, batch: int, steps: int, seeds: int = 4, seed: int = 0,
                     init_scale: float = 0.3, n_log: int = 20, rtol: float = 1e-10, atol: float = 1e-13,
                     **coefficients) -> VICRegSGD:
    """Train :func:`vicreg_batch_loss` by SGD on :func:`sampled_views` (``batch`` fresh pairs a step, ``seeds``
    minibatch streams) from the flow's random start ``init(seed, init_scale)``, and solve the population flow of
    :func:`vicreg_flow` at the logged times (``n_log`` of them, ``t = lr x step``)."""
    pop = vicreg_flow(X, X_aug, **coefficients)
    if not isinstance(n_log, int) or n_log < 1 or not isinstance(steps, int) or steps % n_log:
        raise DynsimInputError("steps", f"steps ({steps!r}) must be a multiple of n_log ({n_log!r})")
    X, X_aug = (np.asarray(pop.data[k]) for k in ("X", "X_aug"))
    data = sampled_views(X, X_aug)
    shapes = dict(pop.shapes)
    batched = GradientFlow(vicreg_batch_loss, {"W": shapes["W"]}, data(jax.random.key(0), int(batch)),
                           dict(pop.params), samples=("x1", "x2"))
    y0 = pop.init(seed, init_scale)
    tr = train_gradient_flow(batched, y0, data, lr=lr, steps=steps, batch=batch, seeds=seeds, seed=seed,
                             log_every=steps // n_log)
    sol = solve(pop, y0, tr.ts, rtol=rtol, atol=atol, max_steps=1_000_000)
    ys = np.asarray(sol.ys)
    err = np.linalg.norm(tr.ys - ys, axis=-1) / np.linalg.norm(ys, axis=-1)
    return VICRegSGD(tr.ts, ys, tr.ys, err, bool(sol.complete))


# ----------------------------------------------------------------------------- the job


@dataclasses.dataclass
class VICRegRun:
    """One :func:`simulate_vicreg` run: from one random start at ``(lam, mu)`` with the given ``nu`` and with
    ``2 nu_c`` (``random[...]``: spectrum of ``C`` ``(T, d)`` and off-diagonal fraction ``(T,)``), and the aligned
    flow's end spectrum over a sweep of ``lam / mu`` against the closed form."""

    params: dict
    t: np.ndarray
    nus: dict  # label -> nu
    spectrum: dict  # label -> (T, d) ascending
    off_diagonal: dict  # label -> (T,)
    noise: np.ndarray
    closed_form: np.ndarray  # v*(m_j) at (lam, mu), ascending in m
    nu_c: float
    ratios: np.ndarray
    sweep_final: np.ndarray  # (ratios, n): the aligned flow's end variances, mode by mode
    sweep_closed: np.ndarray  # (ratios, n)
    complete: bool

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"t": self.t, "noise_fractions": self.noise, "closed_form": self.closed_form, "ratios": self.ratios,
               "sweep_final": self.sweep_final, "sweep_closed_form": self.sweep_closed,
               "thresholds": collapse_threshold(self.noise, self.params["d"], self.params["eps"])}
        for k in self.spectrum:
            out[f"{k}_spectrum"], out[f"{k}_off_diagonal"] = self.spectrum[k], self.off_diagonal[k]
        return out

    def summary(self) -> dict:
        alive = self.sweep_closed > 0
        rel = np.where(alive, np.abs(self.sweep_final - self.sweep_closed) / np.where(alive, self.sweep_closed, 1), 0)
        out = {"params": self.params, "complete": self.complete, "noise_fractions": self.noise.tolist(),
               "thresholds": collapse_threshold(self.noise, self.params["d"], self.params["eps"]).tolist(),
               "nu_c": self.nu_c, "closed_form": self.closed_form.tolist(),
               "sweep_collapsed": [int(v) for v in np.sum(self.sweep_final < COLLAPSED, -1)],
               "sweep_collapsed_closed_form": [int(v) for v in np.sum(~alive, -1)],
               "sweep_max_relative_error": float(np.max(rel)),
               "sweep_collapsed_max_variance": float(np.max(np.where(alive, 0.0, np.abs(self.sweep_final)))),
               "random_start": {}}
        for k, nu in self.nus.items():
            f = self.spectrum[k][-1]
            out["random_start"][k] = {"nu": nu, "rank": int(rank(f)), "final_spectrum": f.tolist(),
                                      "off_diagonal_final": float(self.off_diagonal[k][-1])}
        return out


RATIOS = (1.0, 10.0, 20.0, 30.0, 45.0, 80.0)  # lambda / mu: 0, 0, 1, 2, 3, 4 of the default modes collapsed


def simulate_vicreg(lam: float = PAPER["lam"], mu: float = PAPER["mu"], nu: float = PAPER["nu"], *,
                    eps: float = PAPER["eps"], gamma: float = PAPER["gamma"], noise=NOISE, seed: int = 0,
                    init_scale: float = 0.3, t1: float = 4.0, ratios=RATIOS, n_save: int = 201,
                    rtol: float = 1e-10, atol: float = 1e-13, max_steps: int = 1_000_000, progress=None) -> VICRegRun:
    """The flow of :func:`vicreg_loss` on the default data (modes in a random basis, ``seed``; ``d = n``): from one
    random start (``W ~ init_scale N(0, 1/n)``) with ``nu`` and with ``2 nu_c`` (one batched solve), and from the
    aligned start for every ``lam = ratio mu'`` with ``mu' = 1`` (the end point depends on ``lam / mu`` only; the
    time scale is ``1/mu``), against the closed forms."""
    for name, v in (("lam", lam), ("mu", mu), ("init_scale", init_scale), ("t1", t1)):
        check_param(name, v, lower=0.0, lower_open=True)
    check_param("nu", nu, lower=0.0)
    ratios = np.atleast_1d(np.asarray(ratios, float))
    check_param("ratios", ratios, lower=0.0, lower_open=True)
    if not isinstance(n_save, (int, np.integer)) or n_save < 3:
        raise DynsimInputError("n_save", f"n_save must be an integer >= 3 (got {n_save!r})")
    noise = np.asarray(noise, float)
    d = noise.size
    X, Xa = default_data(d, noise, seed)
    m = noise_fractions(X, Xa)
    closed = stationary_variances(m, d, lam=lam, mu=mu, eps=eps, gamma=gamma)
    nu_c = decorrelation_threshold(m, d, lam=lam, mu=mu, eps=eps, gamma=gamma) if np.all(closed > 0) else math.nan
    nus = {"given": float(nu)} | ({"twice_nu_c": 2.0 * nu_c} if np.isfinite(nu_c) else {})
    tol = dict(rtol=rtol, atol=atol, max_steps=max_steps)
    ts = np.linspace(0.0, float(t1), int(n_save))
    if progress:
        progress(f"VICReg from a random start, nu = {', '.join(f'{v:g}' for v in nus.values())}")
    flow = vicreg_flow(X, Xa, lam=lam, mu=mu, nu=to_jax(list(nus.values())), eps=eps, gamma=gamma)
    y0 = flow.init(seed, init_scale)
    sol = solve(flow, np.broadcast_to(y0, (len(nus), y0.size)), ts, **tol)
    one = vicreg_flow(X, Xa, lam=lam, mu=mu, nu=nu, eps=eps, gamma=gamma)
    ys = np.asarray(sol.ys)
    spectrum = {k: variances(one, ys[i]) for i, k in enumerate(nus)}
    offd = {k: off_diagonal(one, ys[i]) for i, k in enumerate(nus)}
    if progress:
        progress(f"VICReg from the aligned start, {ratios.size} values of lambda/mu")
    # in the modes' own basis: W diagonal keeps C exactly diagonal (the decorrelated point is unstable below nu_c,
    # so in a rotated basis rounding would grow into the informational collapse)
    Xd, Xad = default_data(d, noise, None)
    sweep = vicreg_flow(Xd, Xad, lam=to_jax(ratios), mu=1.0, nu=0.0, eps=eps, gamma=gamma)
    start = sweep.pack({"W": aligned_start(Xd, Xad, np.full(d, init_scale))})
    sol_s = solve(sweep, np.broadcast_to(start, (ratios.size, start.size)), np.array([0.0, 2.0 * t1 * mu]), **tol)
    W = np.asarray(sweep.unpack(to_jax(np.asarray(sol_s.ys)[:, -1]))["W"])
    final = np.einsum("rij,jk,rik->ri", W, Xd + Xad, W)  # C_ii: output i sits on mode i
    sweep_closed = np.stack([stationary_variances(m, d, lam=r, mu=1.0, eps=eps, gamma=gamma) for r in ratios])
    params = {"lam": float(lam), "mu": float(mu), "nu": float(nu), "eps": float(eps), "gamma": float(gamma),
              "noise": noise.tolist(), "d": int(d), "seed": int(seed), "init_scale": float(init_scale),
              "t1": float(t1), "ratios": ratios.tolist(), "n_save": int(n_save), "rtol": rtol, "atol": atol}
    return VICRegRun(params, ts, nus, spectrum, offd, m, closed, float(nu_c), ratios, final, sweep_closed,
                     bool(sol.complete) and bool(sol_s.complete))
