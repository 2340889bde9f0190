r"""InfoNCE, dimensional collapse and DirectCLR [Jing, Vincent, LeCun, Tian 2022].

A deep linear network ``z = W_L ... W_1 x`` is trained by gradient
flow ``dW_k/dt = -dL/dW_k`` on ``n`` fixed positive pairs ``(x_i, x_i')``, with the InfoNCE loss
averaged over the samples (and over fixed mini-batches of ``b`` pairs when ``batch = b < n``):

- ``gaussian`` (the paper's analysis form, temperature ``tau``):
  ``l_i = |z_i - z_i'|^2 / (2 tau) + log sum_j exp(-D_ij / (2 tau))`` with ``D_ij = |z_i - z_j|^2``
  for ``j != i`` and ``D_ii = |z_i - z_i'|^2``;
- ``dot`` (the authors' toy scripts): ``l_i = -z_i.z_i'/tau + log sum_j exp(z_i.z_j'/tau)``.

Both depend on ``W = W_L ... W_1`` only through ``W^T W``, so for a linear network
``-dL/dW = W X`` (Lemma 1) with, writing ``alpha_ij`` for the softmax weights of row ``i``,

    gaussian: X = (Sigma_0 - Sigma_1) / (n tau),
              Sigma_0 = sum_{i, j != i} alpha_ij (x_i - x_j)(x_i - x_j)^T,
              Sigma_1 = sum_i (1 - alpha_ii)(x_i' - x_i)(x_i' - x_i)^T;
    dot:      X = -sum_ij (alpha_ij - delta_ij)(x_i x_j'^T + x_j' x_i^T) / (n tau).

(The paper sums over ``i``; the mean used here rescales time by ``n`` and makes ``t = lr x step``
for SGD on the mean loss.) For ``X`` held fixed (:class:`FrozenX`), ``W(t) = W(0) e^{X t}``
(Theorem 1): negative eigenvalues of ``X`` make singular values of ``W`` vanish. With two layers
``W_1 W_1^T - W_2^T W_2`` is conserved, ``V_2^T U_1 -> I`` (Theorem 2)
and once aligned ``d sigma_1^k/dt = sigma_1^k (sigma_2^k)^2 v_k^T X v_k`` and
``d sigma_2^k/dt = sigma_2^k (sigma_1^k)^2 v_k^T X v_k`` (Theorem 3).

DirectCLR applies the loss to the first ``d0`` coordinates of the representation only.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from dynsim._core.errors import DynsimInputError
from dynsim.models.byol.system import _check_dim, _MatrixSystem, check_covariance, check_symmetric
from dynsim._core.system import _concrete, check_param, param, check_init_scale

KERNELS = ("gaussian", "dot")


# ----------------------------------------------------------------------------- data


def augmented_views(n: int, data_cov, aug_cov, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` positive pairs ``x_i = c_i + e_i``, ``x_i' = c_i + e_i'`` with content ``c ~ N(0, data_cov)``
    and independent augmentation noise ``e, e' ~ N(0, aug_cov)`` (as in the authors' scripts:
    both views augmented). Returns ``(x, x')``, each ``(n, dim)``."""
    data = check_covariance("data_cov", data_cov)
    aug = check_covariance("aug_cov", aug_cov, data.shape[-1])
    dim = data.shape[-1]
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise DynsimInputError("n", f"n must be an integer >= 2 (got {n!r})")
    c, rng = _content(n, data, seed)
    e = rng.normal(size=(2, n, dim)) @ _sqrt_psd(aug).T
    return c + e[0], c + e[1]


def _content(n: int, data_cov: np.ndarray, seed: int) -> tuple[np.ndarray, np.random.Generator]:
    """The contents ``c_i ~ N(0, data_cov)`` of :func:`augmented_views`' pairs for ``seed`` (its first
    draw) and the generator after them."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, data_cov.shape[-1])) @ _sqrt_psd(data_cov).T, rng


def block_augmentation(dim: int, dim_aug: int, k) -> np.ndarray:
    """Fig. 3 of [J22]: ``block_diag(0, k I_dim_aug)`` (the last ``dim_aug`` coordinates augmented);
    ``k`` may be an array of strengths (then one matrix per strength)."""
    _check_dim("dim", dim)
    if not isinstance(dim_aug, (int, np.integer)) or not 0 <= dim_aug <= dim:
        raise DynsimInputError("dim_aug", f"dim_aug must be an integer in [0, dim={dim}] (got {dim_aug!r})")
    k = np.asarray(k, float)
    check_param("k", k, lower=0.0)
    mask = np.r_[np.zeros(dim - dim_aug), np.ones(dim_aug)]
    return k[..., None, None] * np.diag(mask)


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    lam, q = np.linalg.eigh(m)
    return (q * np.sqrt(np.maximum(lam, 0.0))) @ q.T


def check_sample_count(name: str, n, dim: int) -> None:
    """At least ``2 dim`` pairs (fewer cannot pin down a ``dim``-dimensional X), or :class:`DynsimInputError`."""
    if not isinstance(n, (int, np.integer)) or n < 2 * dim:
        raise DynsimInputError(name, f"too few samples for {dim} dimensions: need n >= 2 dim = {2 * dim} pairs "
                                     f"(got {n!r})")


def check_views(x, x_prime) -> tuple[np.ndarray, np.ndarray]:
    """Two finite ``(n, dim)`` arrays of the same shape with ``n >= 2`` (a negative for every anchor)."""
    x, xp = np.asarray(x, float), np.asarray(x_prime, float)
    if x.ndim < 2 or x.shape != xp.shape:
        raise DynsimInputError("views", f"the two views must be (n, dim) arrays of the same shape "
                                        f"(got {x.shape} and {xp.shape})")
    check_param("views", x)  # finite, no subnormal entry
    check_param("views", xp)
    if x.shape[-2] < 2:
        raise DynsimInputError("views", f"too few samples: n = {x.shape[-2]} pairs, need at least 2")
    return x, xp


# ----------------------------------------------------------------------------- the loss


def _gaussian_logits(z, zp, tau):
    sq = jnp.sum(z * z, -1)
    d = sq[:, None] + sq[None, :] - 2.0 * z @ z.T
    d = jnp.where(jnp.eye(z.shape[0], dtype=bool), jnp.sum((z - zp) ** 2, -1)[:, None], d)
    return -d / (2.0 * tau)


def _dot_logits(z, zp, tau):
    return z @ zp.T / tau


_LOGITS = {"gaussian": _gaussian_logits, "dot": _dot_logits}


def info_nce(z, z_prime, tau, kernel: str = "gaussian"):
    r"""The InfoNCE loss of one batch of embeddings ``(b, m)``, averaged over its ``b`` anchors:
    ``mean_i [-logit_ii + logsumexp_j logit_ij]`` with the logits of :data:`KERNELS`."""
    logits = _LOGITS[kernel](z, z_prime, tau)
    return jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.diagonal(logits))


def _softmax_weights(z, zp, tau, kernel):
    return jax.nn.softmax(_LOGITS[kernel](z, zp, tau), axis=1)


# ----------------------------------------------------------------------------- deep linear nets


class _DeepNetwork(_MatrixSystem):
    """A deep linear network ``z = W_L ... W_1 x`` (``widths = (d_in, h_1, ..., d_out)``); the flow is
    ``dW_k/dt = -dL/dW_k`` for the subclass's :meth:`loss_of_weights`. (No ReLU: its kinks make the
    flow non-smooth and the adaptive solver crawls; finite-width training covers it.)"""

    widths: tuple[int, ...] = eqx.field(static=True)

    def __check_init__(self):
        if len(self.widths) < 2:
            raise DynsimInputError("layers", f"need at least one layer (got widths {self.widths})")
        for w in self.widths:
            _check_dim("width", w)

    @property
    def layers(self) -> int:
        return len(self.widths) - 1

    def blocks(self):
        return [(f"W{k + 1}", (self.widths[k + 1], self.widths[k])) for k in range(self.layers)]

    def weights(self, y) -> list[Array]:
        m = self.unpack(y)
        return [m[f"W{k + 1}"] for k in range(self.layers)]

    def forward(self, weights, x):
        """``z`` for rows ``x``: ``x W_1^T ... W_L^T``."""
        h = x
        for w in weights:
            h = h @ w.T
        return h

    @staticmethod
    def chain(weights) -> Array:
        """``W_L ... W_1`` of a list of weights ``[W_1, ..., W_L]``."""
        out = weights[0]
        for w in weights[1:]:
            out = w @ out
        return out

    def product(self, y) -> Array:
        """``W = W_L ... W_1`` (the end-to-end map of a linear network)."""
        return self.chain(self.weights(y))

    def loss_of_weights(self, weights) -> Array:
        raise NotImplementedError

    def loss(self, y) -> Array:
        return self.loss_of_weights(self.weights(y))

    def vector_field(self, t, y):
        grads = jax.grad(self.loss_of_weights)(self.weights(y))
        return -jnp.concatenate([g.ravel() for g in grads])

    def balance(self, y) -> list[Array]:
        """``W_k W_k^T - W_{k+1}^T W_{k+1}`` for each pair of layers: conserved by the flow, since the
        loss depends on the weights only through their product."""
        ws = self.weights(y)
        return [ws[k] @ ws[k].T - ws[k + 1].T @ ws[k + 1] for k in range(self.layers - 1)]

    def alignment(self, y, k: int = 1) -> Array:
        """``A = V_{k+1}^T U_k`` (singular vectors of ``W_{k+1}`` and ``W_k``, each ordered by its
        singular values): ``|A| -> I`` when the layers align (Theorem 2)."""
        ws = self.weights(y)
        return jnp.linalg.svd(ws[k])[2] @ jnp.linalg.svd(ws[k - 1])[0]

    def singular_values(self, y) -> list[Array]:
        """The singular values of each layer (largest first)."""
        return [jnp.linalg.svd(w, compute_uv=False) for w in self.weights(y)]

    def init(self, scale: float = 1.0, seed: int = 0, distribution: str = "normal") -> Array:
        """A random start: ``W_k`` with i.i.d. entries, ``normal``: ``N(0, scale^2 / fan_in)``;
        ``uniform``: PyTorch's default for ``nn.Linear`` (``kaiming_uniform_`` with ``a = sqrt(5)``),
        ``scale U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, of variance ``scale^2 / (3 fan_in)``."""
        check_init_scale(scale)
        if distribution not in ("normal", "uniform"):
            raise DynsimInputError("distribution", f"distribution must be normal or uniform (got {distribution!r})")
        rng = np.random.default_rng(seed)
        mats = {}
        for k in range(self.layers):
            shape = (self.widths[k + 1], self.widths[k])
            unit = rng.normal(size=shape) if distribution == "normal" else rng.uniform(-1.0, 1.0, size=shape)
            mats[f"W{k + 1}"] = scale * unit / np.sqrt(self.widths[k])
        return self.pack(**mats)

    def spectral_init(self, singular_values, seed: int = 0) -> Array:
        """The start of the authors' case 2: every ``W_k = U_k diag(s) V_k^T`` with independent random
        singular vectors (from the SVD of a uniform ``[0, 1)`` matrix, as in their script)."""
        rng = np.random.default_rng(seed)
        mats = {}
        for k in range(self.layers):
            shape = (self.widths[k + 1], self.widths[k])
            u, _, vt = np.linalg.svd(rng.random(shape))
            r = min(shape)
            s = np.broadcast_to(np.asarray(singular_values, float), (r,))
            mats[f"W{k + 1}"] = (u[:, :r] * s) @ vt[:r]
        return self.pack(**mats)


class InfoNCE(_DeepNetwork):
    r"""Gradient flow of the InfoNCE loss (``kernel`` ``gaussian`` or ``dot``, temperature ``tau``) of
    ``z = W_L ... W_1 x`` on ``n`` fixed pairs ``(x, x_aug)``, mean over fixed mini-batches of ``batch``
    consecutive pairs (``batch = n``: one full batch). ``d0`` (DirectCLR): the loss sees only the
    first ``d0`` coordinates of ``z``."""

    x: Float[Array, "*batch n d"] = param(ndim=2, default=None)
    x_aug: Float[Array, "*batch n d"] = param(ndim=2, default=None)
    tau: Float[Array, "*batch"] = param(default=1.0)
    kernel: str = eqx.field(static=True, default="gaussian")
    batch: int | None = eqx.field(static=True, default=None)
    d0: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if self.kernel not in KERNELS:
            raise DynsimInputError("kernel", f"kernel must be one of {', '.join(KERNELS)} (got {self.kernel!r})")
        x = _concrete(self.x)
        if x is not None:
            check_views(x, _concrete(self.x_aug))
            if x.shape[-1] != self.widths[0]:
                raise DynsimInputError("views", f"the data have {x.shape[-1]} dimensions, the first layer "
                                                f"takes {self.widths[0]}")
            n = x.shape[-2]
            b = n if self.batch is None else self.batch
            if not isinstance(b, (int, np.integer)) or b < 2 or n % b:
                raise DynsimInputError("batch", f"batch must be an integer >= 2 that divides n = {n} (got {b!r})")
        check_param("tau", self.tau, lower=0.0, lower_open=True)
        if self.d0 is not None and (not isinstance(self.d0, (int, np.integer)) or not 1 <= self.d0 <= self.widths[-1]):
            raise DynsimInputError("d0", f"d0 must be an integer in [1, {self.widths[-1]}] (the representation's "
                                         f"dimension), got {self.d0!r}")

    @property
    def n(self) -> int:
        return self.x.shape[-2]

    def _batches(self, a):
        b = self.n if self.batch is None else self.batch
        return a.reshape(self.n // b, b, a.shape[-1])

    def _head(self, z):
        return z if self.d0 is None else z[..., : self.d0]

    def loss_of_weights(self, weights):
        z = self._batches(self._head(self.forward(weights, self.x)))
        zp = self._batches(self._head(self.forward(weights, self.x_aug)))
        per_batch = jax.vmap(lambda a, b: info_nce(a, b, self.tau, self.kernel))(z, zp)
        return jnp.mean(per_batch)

    def effective_X(self, y) -> Array:
        """Lemma 1's ``X`` at state ``y`` (paper's formula, see the module docstring), so that a linear
        network's end-to-end map obeys ``-dL/dW = W X`` (``W`` restricted to the first ``d0`` rows)."""
        w = self._head(self.product(y).T).T
        x, xp = self._batches(self.x), self._batches(self.x_aug)

        def one(xb, xpb):
            a = _softmax_weights(xb @ w.T, xpb @ w.T, self.tau, self.kernel)
            if self.kernel == "dot":
                m = xb.T @ (a - jnp.eye(a.shape[0])) @ xpb
                return -(m + m.T)
            diag = jnp.diagonal(a)
            off = a - jnp.diag(diag)
            sigma0 = (xb.T * (off.sum(1) + off.sum(0))) @ xb - xb.T @ (off + off.T) @ xb
            delta = xpb - xb
            sigma1 = (delta.T * (1.0 - diag)) @ delta
            return sigma0 - sigma1

        return jnp.sum(jax.vmap(one)(x, xp), axis=0) / (self.n * self.tau)


class FrozenX(_DeepNetwork):
    r"""The flow with ``X`` held fixed: gradient flow of ``L = -tr(W X W^T) / 2``, ``W = W_L ... W_1``.
    One layer: ``dW/dt = W X``, solved by ``W(t) = W(0) e^{X t}`` (Theorem 1 of [J22]); two layers:
    ``dW_1/dt = W_2^T W_2 W_1 X``, ``dW_2/dt = W_2 W_1 X W_1^T``."""

    X: Float[Array, "*batch d d"] = param(ndim=2, default=None)

    def __check_init__(self):
        check_symmetric("X", self.X, self.widths[0])

    def loss_of_weights(self, weights):
        w = self.chain(weights)
        return -0.5 * jnp.sum((w @ self.X) * w)

    def effective_X(self, y) -> Array:
        return self.X


def theorem1(w0, X, t) -> np.ndarray:
    """``W(t) = W(0) e^{X t}`` for symmetric ``X`` (Theorem 1 of [J22]), at the times ``t``."""
    lam, q = np.linalg.eigh(np.asarray(X, float))
    t = np.asarray(t, float)[..., None]
    return np.einsum("ij,jk,...k,lk->...il", np.asarray(w0, float), q, np.exp(lam * t), q)


def theorem3_rates(sigma1, sigma2, v1, X):
    r"""Theorem 3's right-hand sides ``(d sigma_1^k/dt, d sigma_2^k/dt)`` given the singular values of
    both layers, ``W_1``'s right singular vectors ``v1`` (columns) and ``X``."""
    q = jnp.einsum("...ik,...ij,...jk->...k", v1, X, v1)
    return sigma1 * sigma2**2 * q, sigma2 * sigma1**2 * q


def theorem3_balanced(t, sigma0, lam):
    r"""Two aligned, balanced layers (``sigma_1 = sigma_2 = sigma``) with ``v^T X v = lam`` fixed:
    ``d sigma/dt = sigma^3 lam``, so ``sigma(t) = sigma_0 / sqrt(1 - 2 lam sigma_0^2 t)`` (blows up at
    ``t = 1 / (2 lam sigma_0^2)`` when ``lam > 0``)."""
    t = np.asarray(t, float)[..., None]
    return np.asarray(sigma0, float) / np.sqrt(1.0 - 2.0 * np.asarray(lam, float) * np.asarray(sigma0, float) ** 2 * t)


def theorem3_unbalanced(t, sigma1_0, sigma2_0, lam, typo: bool = False):
    r"""Theorem 3 with ``C = sigma_1^2 - sigma_2^2`` conserved and ``v^T X v = lam`` fixed:
    ``u = sigma_1^2`` solves ``du/dt = 2 u (u - C) lam``, whence
    ``u(t) = -C / ((1 - C / u(0)) e^{2 C lam t} - 1)``, and ``sigma_2^2 = u - C``. Returns
    ``(sigma_1, sigma_2)``.

    ``typo=True`` solves the paper's text instead, which has ``+C`` where ``-C`` is meant
    (``du/dt = 2 u (u + C) lam``; docs/equations.md, section 6), to measure what the typo costs."""
    t = np.asarray(t, float)[..., None]
    s1, s2, lam = (np.asarray(a, float) for a in (sigma1_0, sigma2_0, lam))
    c = s1**2 - s2**2
    cc = c if typo else -c  # du/dt = 2 u (u + cc) lam
    u0 = s1**2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        u = np.where(np.abs(cc) > 1e-14 * u0,
                     cc / ((1.0 + cc / u0) * np.exp(-2.0 * cc * lam * t) - 1.0),
                     u0 / (1.0 - 2.0 * lam * u0 * t))
    return np.sqrt(u), np.sqrt(np.maximum(u - c, 0.0))


def collapsed(s, rtol: float = 1e-3):
    """Which singular values are collapsed: below ``rtol`` times the largest (along the last axis)."""
    s = np.asarray(s, float)
    return s < rtol * np.max(s, axis=-1, keepdims=True)


def effective_rank(s) -> np.ndarray:
    """``exp(H(p))`` with ``p = s / sum(s)`` (Roy & Vetterli): a smooth count of the dimensions in use.

    ``s``: singular values along the last axis (finite, ``>= 0``, at least one). Where all of
    them are 0 (no dimension in use) the effective rank is 0.
    """
    try:
        s = np.asarray(s, float)
    except (TypeError, ValueError):
        raise DynsimInputError("s", "s (singular values) must be real numbers") from None
    if s.ndim == 0 or s.shape[-1] == 0:
        raise DynsimInputError("s", f"s (singular values) must have at least one entry, got shape {s.shape}")
    check_param("s", s, lower=0.0)
    top = np.max(s, axis=-1, keepdims=True)
    q = s / np.where(top > 0, top, 1.0)  # scaled first: sum(s) may overflow, sum(q) <= len(s)
    p = q / np.maximum(np.sum(q, axis=-1, keepdims=True), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=-1)
    return np.where(top[..., 0] > 0, np.exp(h), 0.0)
