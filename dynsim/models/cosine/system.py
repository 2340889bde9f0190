r"""Linear SimSiam / BYOL with the cosine loss on normalised embeddings, written as a loss, and its
eigenmode reduction [T21, B23].

[T21] Y. Tian, X. Chen, S. Ganguli, "Understanding Self-Supervised Learning Dynamics without Contrastive
Pairs", ICML 2021 (the linear model: predictor ``W_p``, online ``W``, target ``W_a``, weight decay ``eta``).
[B23] H. Bao, "Feature Normalization Prevents Collapse of Non-contrastive Learning Dynamics", arXiv:2309.16109
(Neural Computation 2025): the cosine loss in the eigenmode analysis; with normalisation a stable
non-collapsed equilibrium emerges where the Euclidean loss only collapses (``eta > eta_c``).

The loss (choices stated; [B23]'s text could not be read here, only its abstract):

- *Population* cosine loss: the norms are those of the population (``||z||^2 -> E||z||^2``, the
  high-dimensional limit in which per-sample norms concentrate), so that the loss is written with the
  covariances. With ``X = E[x1 x2^T]`` (the clean covariance) and ``C = X + X'`` (each view's covariance):

      L = - <W_p W X, SG(W_a)> / ( sqrt<W_p W C, W_p W> sqrt<SG(W_a) C, SG(W_a)> )

  (``<A, B> = tr(A B^T)``). The target is the stop-gradient of the online weights, ``W_a = W``
  (SimSiam). BYOL's fixed-ratio target ``W_a = tau W`` is the *same* flow: the cosine does not see
  ``tau > 0``. (An EMA target is not offered: it would break the time change below.)
- The predictor learns at ratio ``alpha_p``; weight decay is decoupled (``-eta W_p``, ``-eta W``), as in
  Lemma 1 of [T21] (``GradientFlow(..., lr={"W_p": "alpha_p"}, decay="eta")``).

Exact consequences of the loss (derived here, checked by the claims):

1. **Norms.** ``L`` is scale invariant in ``W_p`` and in the online ``W`` at fixed target, so the gradients
   are orthogonal to the weights: ``||W_p(t)||_F = ||W_p(0)|| e^{-eta t}``, ``||W(t)||_F = ||W(0)|| e^{-eta t}``
   for every ``eta`` (any ``X``, ``X'``). The Euclidean loss has no such law.
2. **Weight decay is a time change.** The gradients are homogeneous of degree -1, hence
   ``W_eta(t) = e^{-eta t} W_0(u)``, ``W_p,eta(t) = e^{-eta t} W_p,0(u)``, ``u = (e^{2 eta t} - 1)/(2 eta)``:
   the flow at ``eta`` is the flow at ``eta = 0``, shrunk and run exponentially faster. The *direction*
   of the weights never collapses, whatever ``eta`` (above [T21]'s ``eta_c = tau^2 / (4(1 + sigma^2))``
   too); the embedding norm still goes to 0 as ``e^{-eta t}``.
3. **Eigenmodes** (``X = I``, ``X' = sigma^2 I``, ``k = 1 + sigma^2``; aligned start ``W_p = U diag(p) U^T``,
   ``W W^T = U diag(s) U^T``): the modes are coupled through three sums, ``N = sum p_j s_j``,
   ``Q = sum p_j^2 s_j``, ``S = sum s_j``:

       dp_j/dt = alpha_p g s_j (1 - r p_j) - eta p_j,     ds_j/dt = 2 g p_j s_j (1 - r p_j) - 2 eta s_j,
       g = 1 / (k sqrt(Q S)),  r = N / Q

   (:class:`CosineEigen`). Against the Euclidean modes ``dp = alpha_p s (1 - k p) - eta p`` the scale
   ``k p`` becomes ``r p``, a ratio of the modes' own sums; ``sigma`` only rescales time (``1/k``). One mode
   alone has no dynamics but the decay (its cosine is always ``1/k``). [T21]'s invariant survives:
   ``s_j - p_j^2/alpha_p = c_j e^{-2 eta t}``.
4. **Stationary shapes.** At ``eta = 0`` the stationary points are a manifold: every mode with ``s_j > 0``
   has the same ``p_j = pbar`` (``N^2 = Q S``: the cosine is at its maximum ``1/k``). The conserved
   ``c_j`` and ``P = sum p_j^2`` select the end point; when every ``c_j > 0`` no mode can collapse and

       pbar = sqrt(P / n),   s_j = c_j + pbar^2 / alpha_p

   (:meth:`CosineEigen.end_point`). By 2., at ``eta > 0`` the normalised state ``(p/||p||, s/S)`` reaches the
   same point. On the manifold the Jacobian has ``n + 1`` zero eigenvalues (along it) and ``n - 1``
   negative ones (:func:`transverse_spectrum`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from dynsim._core.errors import DynsimInputError
from dynsim._core.gradient_flow import GradientFlow
from dynsim._core.solve import solve
from dynsim._core.system import AbstractSystem, check_param, param, to_jax

DEFAULTS = dict(n=4, eta=0.2, sigma=1.0, alpha_p=1.0)  # eta = 0.2 > eta_c = 1/8 at sigma = 1, tau = 1


# ----------------------------------------------------------------------------- the losses


def _inner(a, b):
    return jnp.sum(a * b)


def cosine_loss(*, W_p, W, X, X_aug):
    """``-<W_p W X, SG(W)> / (sqrt<W_p W C, W_p W> sqrt<SG(W) C, SG(W)>)``, ``C = X + X_aug``."""
    target = jax.lax.stop_gradient(W)
    a = W_p @ W
    c = X + X_aug
    return -_inner(a @ X, target) / (jnp.sqrt(_inner(a @ c, a)) * jnp.sqrt(_inner(target @ c, target)))


def euclidean_loss(*, W_p, W, X, X_aug):
    """[T21]'s ``1/2 E||W_p W x1 - SG(W x2)||^2`` without its constant: ``1/2 <W_p W C, W_p W> - <W_p W X, SG(W)>``."""
    target = jax.lax.stop_gradient(W)
    a = W_p @ W
    return 0.5 * _inner(a @ (X + X_aug), a) - _inner(a @ X, target)


def _covariances(n: int, sigma, X, X_aug):
    if X is None and X_aug is None:
        check_param("sigma", sigma, lower=0.0)
        return np.eye(n), float(sigma) ** 2 * np.eye(n)
    if X is None or X_aug is None:
        raise DynsimInputError("X", "give both X and X_aug, or neither (then X = I, X_aug = sigma^2 I)")
    X, X_aug = np.asarray(X, float), np.asarray(X_aug, float)
    if X.shape != (n, n) or X_aug.shape != (n, n):
        raise DynsimInputError("X", f"X and X_aug must be {n} x {n} (got {X.shape}, {X_aug.shape})")
    return X, X_aug


def _flow(loss, n, eta, sigma, alpha_p, X, X_aug) -> GradientFlow:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 1024:
        raise DynsimInputError("n", f"n must be an integer in [1, 1024] (got {n!r})")
    check_param("eta", eta, lower=0.0)
    check_param("alpha_p", alpha_p, lower=0.0, lower_open=True)
    X, X_aug = _covariances(int(n), sigma, X, X_aug)
    return GradientFlow(loss, {"W_p": (n, n), "W": (n, n)}, {"X": X, "X_aug": X_aug},
                        {"eta": eta, "alpha_p": alpha_p}, lr={"W_p": "alpha_p"}, decay="eta")


def cosine_flow(n: int = DEFAULTS["n"], eta=DEFAULTS["eta"], sigma=DEFAULTS["sigma"], alpha_p=DEFAULTS["alpha_p"], *,
                X=None, X_aug=None) -> GradientFlow:
    """The gradient flow of :func:`cosine_loss`: weights ``W_p`` (``n x n``, rate ``alpha_p``) and ``W``
    (``n x n``), decoupled weight decay ``eta``; ``X = I``, ``X_aug = sigma^2 I`` unless given."""
    return _flow(cosine_loss, n, eta, sigma, alpha_p, X, X_aug)


def euclidean_flow(n: int = DEFAULTS["n"], eta=DEFAULTS["eta"], sigma=DEFAULTS["sigma"], alpha_p=DEFAULTS["alpha_p"],
                   *, X=None, X_aug=None) -> GradientFlow:
    """The same weights and data with :func:`euclidean_loss`: linear SimSiam, Lemma 1 of [T21]."""
    return _flow(euclidean_loss, n, eta, sigma, alpha_p, X, X_aug)


def time_change(t: ArrayLike, eta: float) -> np.ndarray:
    """``u = (e^{2 eta t} - 1) / (2 eta)`` (``u = t`` at ``eta = 0``): the ``eta = 0`` time that the flow at
    ``eta`` has reached at ``t``."""
    t = np.asarray(t, float)
    return t if eta == 0 else np.expm1(2.0 * eta * t) / (2.0 * eta)


# ----------------------------------------------------------------------------- the eigenmode system


class CosineEigen(AbstractSystem):
    r"""The eigenmode dynamics of the cosine loss, ``n`` coupled modes ``(p_j, s_j)``
    (module docstring, 3.): ``dp_j/dt = alpha_p g s_j (1 - r p_j) - eta p_j``,
    ``ds_j/dt = 2 g p_j s_j (1 - r p_j) - 2 eta s_j``, ``g = 1/(k sqrt(Q S))``, ``r = N/Q``."""

    eta: Float[Array, "*batch"] = param(DEFAULTS["eta"], lower=0.0, symbol=r"\eta", help="weight decay")
    sigma: Float[Array, "*batch"] = param(DEFAULTS["sigma"], lower=0.0, symbol=r"\sigma",
                                          help="augmentation strength (X' = sigma^2 I)")
    alpha_p: Float[Array, "*batch"] = param(DEFAULTS["alpha_p"], lower=0.0, lower_open=True, symbol=r"\alpha_p",
                                            help="relative learning rate of the predictor")
    modes: int = eqx.field(static=True, default=DEFAULTS["n"])
    state_names: ClassVar[tuple[str, ...]]  # per instance: p1..pn, s1..sn

    def __check_init__(self):
        if isinstance(self.modes, bool) or not isinstance(self.modes, (int, np.integer)) or self.modes < 2:
            raise DynsimInputError("modes", f"modes must be an integer >= 2: one mode alone has no dynamics "
                                            f"but the decay (got {self.modes!r})")

    @property
    def state_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(f"p{j + 1}" for j in range(self.modes)) + tuple(f"s{j + 1}" for j in range(self.modes))

    @property
    def positive(self) -> tuple[int, ...]:  # type: ignore[override]
        return tuple(range(self.modes, 2 * self.modes))

    def split(self, y):
        return y[..., : self.modes], y[..., self.modes:]

    def vector_field(self, t, y: Float[Array, " dim"]) -> Float[Array, " dim"]:
        p, s = self.split(y)
        N, Q, S = jnp.sum(p * s), jnp.sum(p * p * s), jnp.sum(s)
        g = 1.0 / ((1.0 + self.sigma**2) * jnp.sqrt(Q * S))
        drive = g * s * (1.0 - (N / Q) * p)
        return jnp.concatenate([self.alpha_p * drive - self.eta * p, 2.0 * p * drive - 2.0 * self.eta * s])

    def invariant(self, y) -> Array:
        """``c_j = s_j - p_j^2 / alpha_p``; along any solution ``c_j(t) = c_j(0) e^{-2 eta t}``."""
        p, s = self.split(jnp.asarray(y, float))
        return s - p**2 / self.alpha_p

    def cosine(self, y) -> Array:
        """The population cosine ``N / (k sqrt(Q S))`` (``-L``); at most ``1/k``."""
        p, s = self.split(jnp.asarray(y, float))
        return jnp.sum(p * s, -1) / ((1.0 + self.sigma**2) * jnp.sqrt(jnp.sum(p * p * s, -1) * jnp.sum(s, -1)))

    def end_point(self, y0) -> np.ndarray:
        """The stationary point the flow at ``eta = 0`` reaches from ``y0`` (closed form, module docstring 4.):
        ``p_j = sqrt(P/n)``, ``s_j = c_j + P/(n alpha_p)``. Needs every ``c_j > 0`` (no mode collapses) and
        ``N(0) > 0``. At ``eta > 0`` it is the end point of the normalised state (:func:`normalised`)."""
        y0 = np.asarray(y0, float)
        p, s = y0[: self.modes], y0[self.modes:]
        a = float(self.alpha_p)
        c = s - p**2 / a
        if np.any(c <= 0) or np.sum(p * s) <= 0 or np.any(s <= 0):
            raise DynsimInputError("y0", "the closed-form end point needs s_j > p_j^2/alpha_p for every mode and "
                                         "sum p_j s_j > 0")
        pbar = math.sqrt(float(np.sum(p**2)) / self.modes)
        return np.concatenate([np.full(self.modes, pbar), c + pbar**2 / a])


def normalised(system: CosineEigen, y) -> np.ndarray:
    """The shape of a state: ``(p / ||p||, s / sum s)``; constant in time when the flow is at rest, for every eta."""
    p, s = system.split(np.asarray(y, float))
    return np.concatenate([p / np.linalg.norm(p, axis=-1, keepdims=True), s / np.sum(s, -1, keepdims=True)], -1)


def aligned_matrices(p, s, seed: int = 0) -> dict[str, np.ndarray]:
    """``W_p = U diag(p) U^T`` and ``W = U diag(sqrt s) V^T`` (random orthogonal ``U``, ``V``): the start from
    which the matrix flow of :func:`cosine_loss` (``X = I``, ``X_aug = sigma^2 I``) is :class:`CosineEigen`."""
    p, s = np.asarray(p, float), np.asarray(s, float)
    if p.shape != s.shape or p.ndim != 1 or np.any(s <= 0):
        raise DynsimInputError("s", "p and s must be vectors of one length, s > 0")
    rng = np.random.default_rng(seed)
    u = np.linalg.qr(rng.normal(size=(p.size, p.size)))[0]
    v = np.linalg.qr(rng.normal(size=(p.size, p.size)))[0]
    return {"W_p": u @ np.diag(p) @ u.T, "W": u @ np.diag(np.sqrt(s)) @ v.T, "U": u}


def modes_of(flow: GradientFlow, ys, u) -> np.ndarray:
    """``(p_j, s_j) = (u_j^T W_p u_j, u_j^T W W^T u_j)`` of matrix states in a fixed basis ``u``: ``(..., 2n)``."""
    w = flow.unpack(jnp.asarray(ys, float))
    wp, ww = np.asarray(w["W_p"]), np.asarray(w["W"])
    f = ww @ np.swapaxes(ww, -1, -2)
    p = np.einsum("ij,...ik,kj->...j", u, wp, u)
    s = np.einsum("ij,...ik,kj->...j", u, f, u)
    return np.concatenate([p, s], -1)


def spectra(flow: GradientFlow, ys) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues of ``F = W W^T`` (descending) and of the symmetric part of ``W_p`` (descending), per state."""
    w = flow.unpack(jnp.asarray(ys, float))
    wp, ww = np.asarray(w["W_p"]), np.asarray(w["W"])
    f = np.linalg.eigvalsh(ww @ np.swapaxes(ww, -1, -2))[..., ::-1]
    p = np.linalg.eigvalsh(0.5 * (wp + np.swapaxes(wp, -1, -2)))[..., ::-1]
    return f, p


def root_end_point(system: CosineEigen, y0, *, rtol: float = 1e-12, atol: float = 1e-14, max_steps: int = 500):
    """The end point by a root solve, not the closed form: Levenberg-Marquardt (optimistix) on the residual
    ``[f_0(y); c(y) - c(y0); S(y) - S(y0); P(y) - P(y0)]`` (``f_0`` the field at ``eta = 0``; the conserved
    quantities pick the point on the manifold of equilibria), started at ``y0``. Returns ``(y, residual)``."""
    import optimistix as optx

    zero = eqx.tree_at(lambda m: m.eta, system, jnp.zeros_like(system.eta))
    y0 = jnp.asarray(y0, float)
    c0, S0, P0 = zero.invariant(y0), jnp.sum(zero.split(y0)[1]), jnp.sum(zero.split(y0)[0] ** 2)

    def residual(y, _):
        p, s = zero.split(y)
        return jnp.concatenate([zero.vector_field(0.0, y), zero.invariant(y) - c0,
                                jnp.stack([jnp.sum(s) - S0, jnp.sum(p**2) - P0])])

    sol = optx.least_squares(residual, optx.LevenbergMarquardt(rtol=rtol, atol=atol), y0, max_steps=max_steps,
                             throw=False)
    y = np.asarray(sol.value)
    return y, float(np.max(np.abs(np.asarray(residual(sol.value, None)))))


def transverse_spectrum(system: CosineEigen, y, zero_tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """The eigenvalues of the ``eta = 0`` Jacobian (``jax.jacfwd``) at a stationary point ``y``, split into those
    along the manifold of equilibria (``|lambda| <= zero_tol`` times the largest; ``n + 1`` expected) and the
    others (``n - 1``, negative when the point attracts)."""
    zero = eqx.tree_at(lambda m: m.eta, system, jnp.zeros_like(system.eta))
    jac = np.asarray(jax.jacfwd(lambda v: zero.vector_field(0.0, v))(jnp.asarray(y, float)))
    ev = np.linalg.eigvals(jac)
    scale = np.max(np.abs(ev))
    along = np.abs(ev) <= zero_tol * scale
    return ev[along], ev[~along]


# ----------------------------------------------------------------------------- the job


@dataclasses.dataclass
class CosineRun:
    """One :func:`simulate_cosine` run: the matrix flows of the cosine and the Euclidean loss from one random
    start at ``eta``, and the cosine flow at ``eta = 0`` at the changed times ``u(t)``."""

    params: dict
    t: np.ndarray
    spectra: dict  # loss -> (F eigenvalues (T, n), W_p eigenvalues (T, n))
    norms: dict  # loss -> (||W||_F (T,), ||W_p||_F (T,))
    time_change_error: np.ndarray  # ||W_eta(t) - e^{-eta t} W_0(u)|| / ||W_eta(t)||, (T,)
    complete: bool

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"t": self.t, "time_change_error": self.time_change_error, "u": time_change(self.t, self.params["eta"])}
        for k in self.spectra:
            out[f"{k}_F_eigenvalues"], out[f"{k}_Wp_eigenvalues"] = self.spectra[k]
            out[f"{k}_W_norm"], out[f"{k}_Wp_norm"] = self.norms[k]
        return out

    def summary(self) -> dict:
        eta, t = self.params["eta"], self.t
        f_cos, _ = self.spectra["cosine"]
        f_euc, _ = self.spectra["euclidean"]
        share = f_cos[-1] / np.sum(f_cos[-1])
        decay = np.exp(-eta * t)
        w, wp = self.norms["cosine"]
        return {
            "params": self.params, "complete": self.complete,
            "eta_c": critical_eta_isotropic(self.params["sigma"]),
            "cosine_final_shares": share.tolist(),
            "cosine_collapsed_modes": int(np.sum(share < COLLAPSE_SHARE)),
            "euclidean_final_over_initial_F": (f_euc[-1] / f_euc[0].max()).tolist(),
            "euclidean_collapsed_modes": int(np.sum(f_euc[-1] < COLLAPSE_SHARE * f_euc[0].max())),
            "cosine_norm_law_max_error": float(max(np.max(np.abs(w / (w[0] * decay) - 1.0)),
                                                   np.max(np.abs(wp / (wp[0] * decay) - 1.0)))),
            "time_change_max_error": float(np.max(self.time_change_error)),
        }


COLLAPSE_SHARE = 1e-6  # a mode is collapsed when its share of tr F (Euclidean: of the largest start) is below this


def critical_eta_isotropic(sigma: float, tau: float = 1.0) -> float:
    """[T21]'s ``eta_c = tau^2 / (4 (1 + sigma^2))`` of the Euclidean eigenmodes (``alpha_p`` drops out)."""
    return float(tau) ** 2 / (4.0 * (1.0 + float(sigma) ** 2))


def simulate_cosine(n: int = DEFAULTS["n"], eta: float = DEFAULTS["eta"], sigma: float = DEFAULTS["sigma"],
                    alpha_p: float = DEFAULTS["alpha_p"], *, seed: int = 0, init_scale: float = 1.0, t1: float = 15.0,
                    n_save: int = 201, rtol: float = 1e-10, atol: float = 1e-12, max_steps: int = 1_000_000,
                    progress=None) -> CosineRun:
    """The cosine and the Euclidean loss from one random start (``W, W_p ~ init_scale N(0, 1/n)``) at ``eta``,
    ``X = I``, ``X' = sigma^2 I``; and the cosine flow at ``eta = 0`` saved at ``u(t)`` for the time change."""
    check_param("init_scale", init_scale, lower=0.0, lower_open=True)
    check_param("t1", t1, lower=0.0, lower_open=True)
    if not isinstance(n_save, (int, np.integer)) or n_save < 3:
        raise DynsimInputError("n_save", f"n_save must be an integer >= 3 (got {n_save!r})")
    flows = {"cosine": cosine_flow(n, eta, sigma, alpha_p), "euclidean": euclidean_flow(n, eta, sigma, alpha_p)}
    y0 = flows["cosine"].init(seed, init_scale)
    ts = np.linspace(0.0, float(t1), int(n_save))
    tol = dict(rtol=rtol, atol=atol, max_steps=max_steps)
    run_spectra, norms, complete, ys = {}, {}, True, {}
    for k, flow in flows.items():
        if progress:
            progress(f"{k} loss: solving the flow")
        sol = solve(flow, y0, ts, **tol)
        complete &= bool(sol.complete)
        ys[k] = np.asarray(sol.ys)
        run_spectra[k] = spectra(flow, ys[k])
        w = flow.unpack(to_jax(ys[k]))
        norms[k] = (np.linalg.norm(np.asarray(w["W"]), axis=(-2, -1)), np.linalg.norm(np.asarray(w["W_p"]), axis=(-2, -1)))
    if progress:
        progress("cosine loss at eta = 0, at the changed times u(t)")
    zero = cosine_flow(n, 0.0, sigma, alpha_p)
    sol0 = solve(zero, y0, time_change(ts, float(eta)), **tol)
    complete &= bool(sol0.complete)
    shrunk = np.exp(-float(eta) * ts)[:, None] * np.asarray(sol0.ys)
    err = np.linalg.norm(ys["cosine"] - shrunk, axis=-1) / np.linalg.norm(ys["cosine"], axis=-1)
    params = {"n": int(n), "eta": float(eta), "sigma": float(sigma), "alpha_p": float(alpha_p), "seed": int(seed),
              "init_scale": float(init_scale), "t1": float(t1), "n_save": int(n_save), "rtol": rtol, "atol": atol}
    return CosineRun(params, ts, run_spectra, norms, err, complete)
