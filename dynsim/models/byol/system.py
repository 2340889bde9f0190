r"""Linear non-contrastive SSL (BYOL / SimSiam) as matrix ODEs [Tian, Chen & Ganguli 2021].

Lemma 1 (gradient flow of ``J = 1/2 E ||W_p W x_1 - SG(W_a x_2)||^2`` with weight decay),
with ``E := -W_p W (X + X') + W_a X``:

    dW_p/dt = alpha_p E W^T - eta W_p
    dW/dt   = W_p^T E       - eta W
    dW_a/dt = beta (W - W_a)

Its variants are static switches of :class:`LinearBYOL`; the symmetrized ``(W_p, F)`` system
of Sec. 2 is :class:`SymmetrizedBYOL`. The state is the matrices flattened into one vector
(:meth:`unpack` / :meth:`pack`), so every solver feature applies unchanged.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from dynsim._core.errors import DynsimInputError
from dynsim._core.system import AbstractSystem, _concrete, check_param, param, to_jax

PREDICTORS = ("linear", "symmetric", "identity")
TARGETS = ("ema", "online", "fixed-ratio")

#: The named models of ``dynsim simulate``: (predictor, target, stop_gradient).
VARIANTS = {
    "byol": ("linear", "ema", True),
    "simsiam": ("linear", "online", True),
    "no-predictor": ("identity", "online", True),
    "no-stopgrad": ("linear", "online", False),
    "symmetric-predictor": ("symmetric", "ema", True),
}


# ----------------------------------------------------------------------------- covariances


def check_symmetric(name: str, m, n: int | None = None, tol: float = 1e-10, size_note: str = "") -> np.ndarray:
    """A finite, symmetric ``(n, n)`` matrix (with leading batch axes), or :class:`DynsimInputError`."""
    v = _concrete(m)
    if v is None:
        return m
    if v.ndim < 2 or v.shape[-1] != v.shape[-2]:
        raise DynsimInputError(name, f"{name} must be a square matrix (got shape {v.shape})")
    if n is not None and v.shape[-1] != n:
        raise DynsimInputError(name, f"{name} must be {n} x {n}{size_note} (got {v.shape[-1]})")
    check_param(name, v)  # finite, no subnormal entry
    if np.max(np.abs(v - np.swapaxes(v, -1, -2))) > tol * max(1.0, float(np.max(np.abs(v)))):
        raise DynsimInputError(name, f"{name} must be symmetric")
    return v


def check_covariance(name: str, m, n: int | None = None, tol: float = 1e-10) -> np.ndarray:
    """A finite, symmetric, positive semi-definite ``(n, n)`` matrix, or :class:`DynsimInputError`."""
    v = check_symmetric(name, m, n, tol, size_note=" to match the other covariance")
    if _concrete(v) is None:
        return m
    lam = np.linalg.eigvalsh(v)
    if np.min(lam) < -tol * max(1.0, float(np.max(np.abs(v)))):
        raise DynsimInputError(name, f"{name} must be positive semi-definite (smallest eigenvalue {np.min(lam):.3g})")
    return v


def isotropic(n1: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Assumption 1 of [T21]: ``X = I``, ``X' = sigma^2 I``."""
    _check_dim("n1", n1)
    check_param("sigma", sigma, lower=0.0)
    return np.eye(n1), sigma**2 * np.eye(n1)


def spectrum(eigenvalues, sigma: float, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``X = U diag(eigenvalues) U^T`` (``U`` random orthogonal from ``seed``, identity if
    ``None``) and ``X' = sigma^2 I``."""
    lam = np.asarray(eigenvalues, float)
    check_param("eigenvalues", lam, lower=0.0)
    check_param("sigma", sigma, lower=0.0)
    n = lam.size
    _check_dim("n1", n)
    u = np.eye(n) if seed is None else np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))[0]
    return (u * lam) @ u.T, sigma**2 * np.eye(n)


def nuisance(n1: int, dim_b: int, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The relaxed data model of [W21]: ``X = I``, ``X' = sigma^2 P_B`` with ``B`` the last
    ``dim_b`` coordinates. Returns ``(X, X', P_S, P_B)``."""
    _check_dim("n1", n1)
    if not isinstance(dim_b, int) or not 0 <= dim_b <= n1:
        raise DynsimInputError("dim_b", f"dim_b must be an integer in [0, n1={n1}] (got {dim_b!r})")
    check_param("sigma", sigma, lower=0.0)
    p_b = np.diag(np.r_[np.zeros(n1 - dim_b), np.ones(dim_b)])
    return np.eye(n1), sigma**2 * p_b, np.eye(n1) - p_b, p_b


def _check_dim(name: str, n) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise DynsimInputError(name, f"{name} must be an integer >= 1 (got {n!r})")


# ----------------------------------------------------------------------------- matrix states


class _MatrixSystem(AbstractSystem):
    """A system whose state is several matrices, flattened into one vector."""

    state_names: ClassVar[tuple[str, ...]] = ()

    def blocks(self) -> list[tuple[str, tuple[int, ...]]]:
        raise NotImplementedError

    @property
    def dim(self) -> int:
        return sum(int(np.prod(shape)) for _, shape in self.blocks())

    def unpack(self, y: Float[Array, "... dim"]) -> dict[str, Array]:
        """The matrices of a (batched) state vector, by name."""
        out, start = {}, 0
        for name, shape in self.blocks():
            size = int(np.prod(shape))
            out[name] = y[..., start:start + size].reshape(*y.shape[:-1], *shape)
            start += size
        return out

    def pack(self, **mats) -> Array:
        """The state vector of named matrices (each with the same leading batch axes)."""
        parts = []
        for name, shape in self.blocks():
            m = jnp.asarray(mats[name], float)
            parts.append(m.reshape(*m.shape[: m.ndim - len(shape)], -1))
        return jnp.concatenate(parts, axis=-1)


def _sym(a):
    return 0.5 * (a + jnp.swapaxes(a, -1, -2))


class _LinearNetwork(_MatrixSystem):
    """A linear network ``W`` (``n2 x n1``) on data with covariance ``X`` and augmentation
    covariance ``X'`` (``X_aug``); ``isotropic=True`` (``X = I``, ``X' = sigma^2 I``, checked at
    construction) skips the covariance matmuls."""

    n1: int = eqx.field(static=True)
    n2: int = eqx.field(static=True)
    X: Float[Array, "*batch n1 n1"] = param(ndim=2)
    X_aug: Float[Array, "*batch n1 n1"] = param(ndim=2)
    isotropic: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        _check_dim("n1", self.n1)
        _check_dim("n2", self.n2)
        check_covariance("X", self.X, self.n1)
        check_covariance("X_aug", self.X_aug, self.n1)
        _check_isotropic(self)

    def _right(self, w, which: str):
        """``w X`` or ``w (X + X')``: a scalar multiple on the isotropic fast path."""
        if self.isotropic:
            return w if which == "X" else (1.0 + self.X_aug[0, 0]) * w
        return w @ (self.X if which == "X" else self.X + self.X_aug)

    def F(self, y):
        """``F = W X W^T``, the correlation of the representation."""
        w = self.unpack(y)["W"]
        return self._right(w, "X") @ jnp.swapaxes(w, -1, -2)


class LinearBYOL(_LinearNetwork):
    r"""Lemma 1 of [T21] and its variants (``W_p``: ``n2 x n2``, ``W``, ``W_a``: ``n2 x n1``).

    - ``predictor``: ``linear`` (trained ``W_p``), ``symmetric`` (its update projected onto
      symmetric matrices) or ``identity`` (no predictor, ``W_p = I``);
    - ``target``: ``ema`` (``dW_a/dt = beta (W - W_a)``), ``online`` (``W_a = W``, SimSiam) or
      ``fixed-ratio`` (``W_a = tau W``, assumption 2 with fixed ``tau``);
    - ``stop_gradient=False``: the gradient also flows through the target (``W_a = W``).

    ``isotropic=True`` (``X = I``, ``X' = sigma^2 I``, checked at construction) skips the
    covariance matmuls.
    """

    alpha_p: Float[Array, "*batch"] = param(default=1.0)
    eta: Float[Array, "*batch"] = param(default=0.0)
    beta: Float[Array, "*batch"] = param(default=1.0)
    tau: Float[Array, "*batch"] = param(default=1.0)
    predictor: str = eqx.field(static=True, default="linear")
    target: str = eqx.field(static=True, default="ema")
    stop_gradient: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        check_param("alpha_p", self.alpha_p, lower=0.0, lower_open=True)
        check_param("eta", self.eta, lower=0.0)
        check_param("beta", self.beta, lower=0.0)
        check_param("tau", self.tau, lower=0.0)
        if self.predictor not in PREDICTORS:
            raise DynsimInputError("predictor", f"predictor must be one of {PREDICTORS} (got {self.predictor!r})")
        if self.target not in TARGETS:
            raise DynsimInputError("target", f"target must be one of {TARGETS} (got {self.target!r})")
        if not self.stop_gradient and (self.target != "online" or self.predictor == "symmetric"):
            raise DynsimInputError("stop_gradient", "without stop-gradient the target is the online network (target='online')")
        if not self.stop_gradient and self.predictor == "identity":  # its flow, -2 W X' - eta W, is not implemented
            raise DynsimInputError("stop_gradient", "without stop-gradient the predictor must be trained ('linear'): "
                                                    "no predictor and no stop-gradient is not implemented")

    def blocks(self):
        b = [] if self.predictor == "identity" else [("W_p", (self.n2, self.n2))]
        b.append(("W", (self.n2, self.n1)))
        if self.target == "ema":
            b.append(("W_a", (self.n2, self.n1)))
        return b

    def target_of(self, m: dict[str, Array]) -> Array:
        if self.target == "ema":
            return m["W_a"]
        return m["W"] if self.target == "online" else self.tau * m["W"]

    def vector_field(self, t, y):
        m = self.unpack(y)
        w = m["W"]
        wa = self.target_of(m)
        ws, wax = self._right(w, "S"), self._right(wa, "X")
        out = {}
        if self.predictor == "identity":
            e = wax - ws
            out["W"] = e - self.eta * w
        else:
            wp = m["W_p"]
            e = wax - wp @ ws
            dwp = self.alpha_p * e @ w.T - self.eta * wp
            out["W_p"] = _sym(dwp) if self.predictor == "symmetric" else dwp
            out["W"] = wp.T @ e - self.eta * w
            if not self.stop_gradient:  # also d/dW through the target branch W_a = W
                out["W"] = out["W"] + wp @ wax - ws
        if self.target == "ema":
            out["W_a"] = self.beta * (w - m["W_a"])
        return self.pack(**out)

    # -- the quantities of [T21] along a solution ------------------------------------

    def predictor_of(self, m):
        return m["W_p"] if "W_p" in m else jnp.broadcast_to(jnp.eye(self.n2), (*m["W"].shape[:-2], self.n2, self.n2))

    def conserved(self, y):
        """Theorem 1: ``W W^T - alpha_p^{-1} W_p^T W_p = e^{-2 eta t} C`` (linear predictor,
        stop-gradient; any X, X' and target). The appendix drops the ``alpha_p^{-1}``: a typo."""
        m = self.unpack(y)
        w, wp = m["W"], self.predictor_of(m)
        return w @ jnp.swapaxes(w, -1, -2) - jnp.swapaxes(wp, -1, -2) @ wp / self.alpha_p

    def theorem1_drift(self, ys, ts, alpha_p=None):
        """Theorem 1's relative drift along a solution, ``||e^{2 eta t} Q(t) - Q(0)||_F`` over
        ``||W W^T||_F + ||W_p^T W_p||_F / alpha_p`` at ``t = ts[0]``, with ``Q`` from :meth:`conserved`.
        ``alpha_p`` overrides the ``alpha_p`` inside ``Q`` (``1`` gives the appendix's typo)."""
        m = self.unpack(ys)
        w, wp = m["W"], self.predictor_of(m)
        wwt, wpwp = w @ jnp.swapaxes(w, -1, -2), jnp.swapaxes(wp, -1, -2) @ wp
        q = wwt - wpwp / (self.alpha_p if alpha_p is None else alpha_p)
        q = jnp.exp(2.0 * self.eta * (ts - ts[0]))[:, None, None] * q
        return frobenius(q - q[0]) / (frobenius(wwt[0]) + frobenius(wpwp[0]) / self.alpha_p)

    def ema_ratio(self, y):
        """``tau`` of assumption 2, ``<W_a, W> / <W, W>`` (exact for ``online``/``fixed-ratio``)."""
        m = self.unpack(y)
        wa, w = self.target_of(m), m["W"]
        return jnp.sum(wa * w, axis=(-2, -1)) / jnp.sum(w * w, axis=(-2, -1))


class SymmetrizedBYOL(_MatrixSystem):
    r"""Sec. 2 of [T21] under assumptions 1-3, with ``F = W W^T`` and ``k = 1 + sigma^2``:

    ``dW_p/dt = -(alpha_p/2) k {W_p, F} + alpha_p tau F - eta W_p``,
    ``dF/dt = -k {W_p^2, F} + tau {W_p, F} - 2 eta F``,
    and, with ``ema=True``, ``dtau/dt = beta (1 - tau) - tau tr(dF/dt) / (2 tr F)`` (the
    least-squares scalar ``tau`` of ``W_a = tau W``); else ``tau`` is fixed.
    """

    n: int = eqx.field(static=True)
    sigma: Float[Array, "*batch"] = param()
    alpha_p: Float[Array, "*batch"] = param(default=1.0)
    eta: Float[Array, "*batch"] = param(default=0.0)
    beta: Float[Array, "*batch"] = param(default=1.0)
    tau: Float[Array, "*batch"] = param(default=1.0)
    ema: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        _check_dim("n", self.n)
        check_param("sigma", self.sigma, lower=0.0)
        check_param("alpha_p", self.alpha_p, lower=0.0, lower_open=True)
        check_param("eta", self.eta, lower=0.0)
        check_param("beta", self.beta, lower=0.0)
        check_param("tau", self.tau, lower=0.0)

    def blocks(self):
        b = [("W_p", (self.n, self.n)), ("F", (self.n, self.n))]
        return b + [("tau", (1,))] if self.ema else b

    def tau_of(self, m):
        return m["tau"][..., 0] if self.ema else self.tau

    def vector_field(self, t, y):
        m = self.unpack(y)
        wp, f = m["W_p"], m["F"]
        tau, k = self.tau_of(m), 1.0 + self.sigma**2
        # {A, B} = AB + (AB)^T for symmetric A, B (assumption 3; the flow keeps W_p, F symmetric):
        # three matmuls per evaluation instead of five.
        anti = lambda a, b: (lambda ab: ab + jnp.swapaxes(ab, -1, -2))(a @ b)
        dwp = -0.5 * self.alpha_p * k * anti(wp, f) + self.alpha_p * tau * f - self.eta * wp
        df = -k * anti(wp @ wp, f) + tau * anti(wp, f) - 2.0 * self.eta * f
        out = {"W_p": dwp, "F": df}
        if self.ema:
            out["tau"] = (self.beta * (1.0 - tau) - tau * jnp.trace(df) / (2.0 * jnp.trace(f)))[None]
        return self.pack(**out)

    def K(self, y):
        """Theorem 3's ``K`` along (a batch of) states: see :func:`theorem3_K`."""
        m = self.unpack(y)
        return theorem3_K(m["W_p"], m["F"], self.tau_of(m), self.sigma, self.alpha_p, self.eta)

    def commutator(self, y):
        """``[F, W_p] = F W_p - W_p F``."""
        m = self.unpack(y)
        return _commutator(m["F"], m["W_p"])


RULES = {"directpred": 0.5, "directcopy": 1.0, "directset": None}
NORMALISATIONS = ("paper", "code")


class DirectSetBYOL(_LinearNetwork):
    r"""DirectPred / DirectCopy / DirectSet(alpha) [T21, W21]: the predictor is not trained but
    set from a running estimate ``F_hat`` of ``F = W X W^T``. With ``F_hat = U diag(s) U^T``,
    ``W_p = U diag(p) U^T`` where, by ``normalisation``,

    - ``paper``: ``p_j = s_j^alpha + eps max_j s_j`` (DirectPred's paper at ``alpha = 1/2``;
      with ``eps = 0`` this is ``W_p = F^alpha``, the rule behind [W21]'s limit);
    - ``code``: ``p_j = (s_j / max_j s_j)^alpha + eps`` (the authors' code; the slides'
      ``F^alpha / ||F^alpha||_2 + eps I``).

    ``W`` then follows Lemma 1 with this ``W_p``: ``dW/dt = W_p^T (W_a X - W_p W (X + X')) - eta W``,
    and ``dW_a/dt = beta (W - W_a)`` (``target='ema'``) or ``W_a = W`` (``'online'``).

    Discrete training maps to continuous time with ``lr`` time units per step: the running
    estimate ``F_hat <- rho F_hat + (1 - rho) F`` becomes ``dF_hat/dt = -(ln rho / lr) (F - F_hat)``
    (the same decay per step as the discrete EMA; ``rho = 0`` means ``F_hat = F``, no state),
    and ``freq > 1`` holds ``W_p`` fixed for ``freq * lr`` between recomputations (piecewise
    solve); ``freq = 1`` is the continuous limit, ``W_p`` following ``F_hat`` at every instant.
    """

    alpha: Float[Array, "*batch"] = param(default=0.5)
    eps: Float[Array, "*batch"] = param(default=0.0)
    rho: Float[Array, "*batch"] = param(default=0.0)
    lr: Float[Array, "*batch"] = param(default=0.01)
    eta: Float[Array, "*batch"] = param(default=0.0)
    beta: Float[Array, "*batch"] = param(default=1.0)
    running: bool = eqx.field(static=True, default=False)
    freq: int = eqx.field(static=True, default=1)
    normalisation: str = eqx.field(static=True, default="paper")
    target: str = eqx.field(static=True, default="ema")

    def __check_init__(self):
        check_param("alpha", self.alpha, lower=0.0, lower_open=True)
        check_param("eps", self.eps, lower=0.0)
        check_param("rho", self.rho, lower=0.0, upper=1.0, upper_open=True)
        check_param("lr", self.lr, lower=0.0, lower_open=True)
        check_param("eta", self.eta, lower=0.0)
        check_param("beta", self.beta, lower=0.0)
        if not isinstance(self.freq, (int, np.integer)) or self.freq < 1:
            raise DynsimInputError("freq", f"freq must be an integer >= 1 (got {self.freq!r})")
        if self.normalisation not in NORMALISATIONS:
            raise DynsimInputError("normalisation", f"normalisation must be one of {NORMALISATIONS} "
                                                    f"(got {self.normalisation!r})")
        if self.target not in ("ema", "online"):
            raise DynsimInputError("target", f"target must be 'ema' or 'online' (got {self.target!r})")
        rho = _concrete(self.rho)
        if rho is not None and (np.any(rho == 0) if self.running else np.any(rho > 0)):
            raise DynsimInputError("rho", "running=True needs rho in (0, 1), running=False needs rho = 0 "
                                          "(directset() chooses it from rho)")

    def blocks(self):
        b = [("W", (self.n2, self.n1))]
        if self.target == "ema":
            b.append(("W_a", (self.n2, self.n1)))
        if self.running:
            b.append(("F_hat", (self.n2, self.n2)))
        if self.freq > 1:
            b.append(("W_p", (self.n2, self.n2)))  # held between refreshes
        return b

    def target_of(self, m):
        return m["W_a"] if self.target == "ema" else m["W"]

    def estimate_of(self, m):
        """``F_hat``: the running estimate, or ``F`` itself when ``rho = 0``."""
        if self.running:
            return m["F_hat"]
        w = m["W"]
        return self._right(w, "X") @ jnp.swapaxes(w, -1, -2)

    def predictor_from(self, f_hat):
        """The set rule ``W_p = U diag(p(s)) U^T`` of ``F_hat = U diag(s) U^T``."""
        s, u = jnp.linalg.eigh(_sym(f_hat))
        s = jnp.maximum(s, 0.0)
        s_max = s[..., -1:]
        if self.normalisation == "paper":
            p = s**self.alpha + self.eps * s_max
        else:
            ratio = jnp.where(s_max > 0, s / jnp.where(s_max > 0, s_max, 1.0), 0.0)
            p = ratio**self.alpha + self.eps
        return (u * p[..., None, :]) @ jnp.swapaxes(u, -1, -2)

    def predictor_of(self, m):
        return m["W_p"] if self.freq > 1 else self.predictor_from(self.estimate_of(m))

    def vector_field(self, t, y):
        m = self.unpack(y)
        w, wa, wp = m["W"], self.target_of(m), self.predictor_of(m)
        e = self._right(wa, "X") - wp @ self._right(w, "S")
        out = {"W": wp.T @ e - self.eta * w}
        if self.target == "ema":
            out["W_a"] = self.beta * (w - wa)
        if self.running:
            rate = -jnp.log(self.rho) / self.lr
            out["F_hat"] = rate * (self._right(w, "X") @ w.T - m["F_hat"])
        if self.freq > 1:
            out["W_p"] = jnp.zeros_like(wp)
        return self.pack(**out)

    def hold_period(self):
        return self.freq * self.lr if self.freq > 1 else None

    def refresh(self, y):
        m = self.unpack(y)
        m["W_p"] = self.predictor_from(self.estimate_of(m))
        return self.pack(**m)

    def initial_state(self, w0, wa0=None):
        """The state at ``W(0) = w0``: ``W_a(0) = wa0`` (default ``w0``), ``F_hat(0) = F(0)``, and a
        held ``W_p(0)`` set by the rule."""
        w0 = jnp.asarray(w0, float)
        m = {"W": w0}
        if self.target == "ema":
            m["W_a"] = w0 if wa0 is None else jnp.asarray(wa0, float)
        if self.running:
            m["F_hat"] = self._right(w0, "X") @ jnp.swapaxes(w0, -1, -2)
        if self.freq > 1:
            m["W_p"] = jnp.zeros((*w0.shape[:-2], self.n2, self.n2))
            return self.refresh(self.pack(**m))
        return self.pack(**m)

    def limit(self):
        r"""[W21]'s limit for the nuisance model with ``W_p = F^alpha`` (``paper``, ``eps = 0``):
        ``W -> c P_S`` with ``c = ((1 + sqrt(1 - 4 eta)) / 2)^{1/(2 alpha)}``; ``NaN`` where
        ``1 - 4 eta < 0`` (then only collapse, ``W -> 0``, remains)."""
        disc = 1.0 - 4.0 * self.eta
        p = 0.5 * (1.0 + jnp.sqrt(jnp.where(disc >= 0, disc, jnp.nan)))
        return p ** (0.5 / self.alpha)


def directset(rule: str = "directset", *, rho=0.0, **kwargs) -> DirectSetBYOL:
    """A :class:`DirectSetBYOL` by rule name: ``directpred`` (``alpha = 1/2``), ``directcopy``
    (``alpha = 1``) or ``directset`` (``alpha`` given); ``rho > 0`` adds the running estimate."""
    if rule not in RULES:
        raise DynsimInputError("rule", f"rule must be one of {tuple(RULES)} (got {rule!r})")
    if RULES[rule] is not None:
        if "alpha" in kwargs and not np.allclose(kwargs["alpha"], RULES[rule]):
            raise DynsimInputError("alpha", f"{rule} has alpha = {RULES[rule]:g}; use directset for another alpha")
        kwargs["alpha"] = RULES[rule]
    check_param("rho", rho, lower=0.0, upper=1.0, upper_open=True)
    running = bool(np.all(np.asarray(rho) > 0))
    if not running and np.any(np.asarray(rho) > 0):
        raise DynsimInputError("rho", "rho must be all zero or all positive across a batch")
    return DirectSetBYOL(rho=rho, running=running, **kwargs)


def _check_isotropic(m) -> None:
    if m.isotropic:
        x, xa = _concrete(m.X), _concrete(m.X_aug)
        if x is not None and (not np.allclose(x, np.eye(m.n1), rtol=0, atol=0)
                              or not np.allclose(xa, xa[..., :1, :1] * np.eye(m.n1), rtol=0, atol=0)):
            raise DynsimInputError("isotropic", "isotropic=True needs X = I and X' = sigma^2 I exactly")


def theorem3_K(wp, f, tau, sigma, alpha_p, eta):
    """Theorem 3 of [T21]: ``K = k [(alpha_p/2) F + W_p^2 - tau/k W_p] + (3/2) eta I``, ``k = 1 + sigma^2``
    (``tau`` a scalar or one value per leading batch index)."""
    k = 1.0 + sigma**2
    tau = to_jax(tau)[..., None, None]
    eye = jnp.eye(f.shape[-1])
    return k * (0.5 * alpha_p * f + wp @ wp) - tau * wp + 1.5 * eta * eye


def _commutator(f, wp):
    return f @ wp - wp @ f


def frobenius(a):
    """``||A||_F`` over the last two axes."""
    return jnp.sqrt(jnp.sum(a * a, axis=(-2, -1)))


def commutator_norm(f, wp):
    """``||[F, W_p]||_F``."""
    return frobenius(_commutator(f, wp))


def aligned_start(eig_p, eig_s, n1: int | None = None, seed: int = 0, alpha_p: float = 1.0):
    """``W_p = U diag(p) U^T`` and ``W = U diag(sqrt(s)) V^T`` for random orthogonal ``U``, ``V``,
    so that ``F = W W^T = U diag(s) U^T`` shares ``W_p``'s eigenvectors (the aligned start of
    the decoupled dynamics). Returns ``(W_p, W, U)``."""
    p, s = np.asarray(eig_p, float), np.asarray(eig_s, float)
    n2 = p.size
    n1 = n1 or n2
    rng = np.random.default_rng(seed)
    u = np.linalg.qr(rng.normal(size=(n2, n2)))[0]
    v = np.linalg.qr(rng.normal(size=(n1, n1)))[0][:, :n2]
    return (u * p) @ u.T, (u * np.sqrt(s)) @ v.T, u


def eigenpairs(a, u):
    """The diagonal of ``U^T A U``: eigenvalues of ``A`` in the eigenbasis ``U`` (kept aligned)."""
    return jnp.einsum("ij,...ik,kj->...j", u, a, u)

