r"""Linear Barlow Twins and its stepwise learning [Simon et al. 2023].

With the feature cross-covariance ``Gamma = 1/(2n) sum_i (x_i x_i'^T + x_i' x_i^T)`` of ``n``
positive pairs, the loss ``L = ||W Gamma W^T - I_d||_F^2`` of ``f(x) = W x`` (``W``: ``d x m``)
has the gradient flow

    dW/dt = -4 (W Gamma W^T - I_d) W Gamma.

From an aligned start ``W(0) = U S_0 V^T`` (``V`` the top-``d`` eigenvectors of ``Gamma``) every
singular value follows its own closed form,
``s_j(t) = e^{4 gamma_j t} / sqrt(s_j(0)^{-2} + (e^{8 gamma_j t} - 1) gamma_j)``, saturating at
``gamma_j^{-1/2}`` around ``t_j = ln(1 / (gamma_j s_j(0)^2)) / (8 gamma_j)``: one step per
direction, in the order of ``gamma_j``.

The kernel version writes ``W = A Xs^T`` over the ``2n`` stacked points ``Xs`` (columns) and needs
only the Gram matrix ``K = Xs^T Xs``: with ``S = [[0, I], [I, 0]]``, ``P = K S / (2n)``,
``W Gamma W^T = A P K A^T`` and ``W Gamma = A P Xs^T``, so the flow of ``W`` is exactly
``dA/dt = -4 (A P K A^T - I) A P``; the embedding of a new ``x`` is ``A k(x)``.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from dynsim._core.errors import DynsimInputError
from dynsim.models.byol.system import _check_dim, _MatrixSystem, check_symmetric
from dynsim._core.system import check_param, param, check_init_scale

KERNELS = ("linear", "rbf")


def _check_pairs(x, x_prime) -> tuple[np.ndarray, np.ndarray]:
    x, xp = np.asarray(x, float), np.asarray(x_prime, float)
    if x.ndim != 2 or x.shape != xp.shape:
        raise DynsimInputError("pairs", f"the views must be two (n, m) arrays of the same shape (got {x.shape} "
                                        f"and {xp.shape})")
    check_param("pairs", x)  # finite, no subnormal entry
    check_param("pairs", xp)
    return x, xp


def cross_covariance(x, x_prime) -> np.ndarray:
    """``Gamma = 1/(2n) sum_i (x_i x_i'^T + x_i' x_i^T)`` of ``n`` pairs (rows of ``x``, ``x_prime``)."""
    x, xp = _check_pairs(x, x_prime)
    return (x.T @ xp + xp.T @ x) / (2 * x.shape[0])


def synthetic_pairs(n: int, gamma, noise: float = 0.5, seed: int = 0):
    """``n`` positive pairs ``x_i = c_i + e_i``, ``x_i' = c_i + e_i'`` (Gaussian content and
    independent augmentation noise of std ``noise``), mapped linearly so that their
    cross-covariance is exactly ``U diag(gamma) U^T`` (``U`` random orthogonal). Returns
    ``(x, x_prime, U)``."""
    g = np.asarray(gamma, float)
    check_param("gamma", g, lower=0.0, lower_open=True)
    check_param("noise", noise, lower=0.0)
    m = g.size
    if not isinstance(n, (int, np.integer)) or n < 2 * m:
        raise DynsimInputError("n", f"need at least 2 m = {2 * m} pairs for an m = {m} dimensional spectrum "
                                    f"(got n = {n!r})")
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(n, m))
    x, xp = c + noise * rng.normal(size=(n, m)), c + noise * rng.normal(size=(n, m))
    lam, q = np.linalg.eigh(cross_covariance(x, xp))
    if lam.min() <= 1e-8 * lam.max():
        raise DynsimInputError("noise", "the augmentation noise swamps the content: Gamma is not positive definite")
    u = np.linalg.qr(rng.normal(size=(m, m)))[0]
    t = (u * np.sqrt(g)) @ u.T @ (q / np.sqrt(lam)) @ q.T  # Gamma^{-1/2}, then U diag(gamma)^{1/2} U^T
    return x @ t.T, xp @ t.T, u


class BarlowTwins(_MatrixSystem):
    r"""``dW/dt = -4 (W Gamma W^T - I_d) W Gamma`` for ``W`` of shape ``d x m``."""

    d: int = eqx.field(static=True)
    m: int = eqx.field(static=True)
    Gamma: Float[Array, "*batch m m"] = param(ndim=2)

    def __check_init__(self):
        _check_dim("d", self.d)
        _check_dim("m", self.m)
        check_symmetric("Gamma", self.Gamma, self.m)

    def blocks(self):
        return [("W", (self.d, self.m))]

    def vector_field(self, t, y):
        w = self.unpack(y)["W"]
        wg = w @ self.Gamma
        c = wg @ w.T - jnp.eye(self.d)
        return self.pack(W=-4.0 * c @ wg)

    def loss(self, y):
        """``L = ||W Gamma W^T - I_d||_F^2``."""
        w = self.unpack(y)["W"]
        c = w @ self.Gamma @ jnp.swapaxes(w, -1, -2) - jnp.eye(self.d)
        return jnp.sum(c * c, axis=(-2, -1))

    def embedding_eigenvalues(self, y):
        """Eigenvalues of ``W Gamma W^T`` (largest first): ``lambda_j = gamma_j s_j^2`` when aligned."""
        w = self.unpack(y)["W"]
        return jnp.linalg.eigvalsh(w @ self.Gamma @ jnp.swapaxes(w, -1, -2))[..., ::-1]

    def spectrum(self) -> tuple[np.ndarray, np.ndarray]:
        """``(gamma, V)``: the eigenvalues of ``Gamma`` (largest first) and their eigenvectors."""
        g, v = np.linalg.eigh(np.asarray(self.Gamma))
        return g[::-1], v[:, ::-1]

    def aligned_start(self, s0, seed: int = 0):
        """``W(0) = U diag(s0) V^T`` with ``V`` the top-``d`` eigenvectors of ``Gamma``."""
        s0 = np.broadcast_to(np.asarray(s0, float), (self.d,))
        _, v = self.spectrum()
        u = np.linalg.qr(np.random.default_rng(seed).normal(size=(self.d, self.d)))[0]
        return self.pack(W=(u * s0) @ v[:, : self.d].T)


def singular_values(t, s0, gamma):
    r"""The closed form ``s_j(t) = e^{4 gamma t} / sqrt(s_0^{-2} + (e^{8 gamma t} - 1) gamma)``, written
    as ``1 / sqrt(e^{-8 gamma t} s_0^{-2} + (1 - e^{-8 gamma t}) gamma)`` so that it never overflows."""
    t = np.asarray(t, float)[..., None]
    g, s0 = np.asarray(gamma, float), np.asarray(s0, float)
    decay = np.exp(-8.0 * g * t)
    return 1.0 / np.sqrt(decay / s0**2 - np.expm1(-8.0 * g * t) * g)


def step_times(s0, gamma):
    """Step times ``t_j = ln(1 / (gamma_j s_j(0)^2)) / (8 gamma_j)``: when the embedding eigenvalue
    ``lambda_j = gamma_j s_j^2`` of the closed form reaches ``1 / (2 - gamma_j s_j(0)^2)``, i.e. half of
    its saturated value 1 up to ``O(gamma_j s_j(0)^2)`` (the half-saturation of ``lambda_j``, not of
    ``s_j``, which is then at ``1/sqrt(2)`` of its limit). Defined where ``gamma_j s_j(0)^2 < 1``;
    ``0`` for directions that start saturated."""
    g, s0 = np.asarray(gamma, float), np.asarray(s0, float)
    return np.maximum(np.log(1.0 / (g * s0**2)) / (8.0 * g), 0.0)


def closed_form_loss(t, s0, gamma, d: int):
    """``L(t) = sum_j (gamma_j s_j(t)^2 - 1)^2`` along the aligned trajectory (``d`` directions)."""
    g = np.asarray(gamma, float)[:d]
    lam = g * singular_values(t, s0, g) ** 2
    return np.sum((lam - 1.0) ** 2, axis=-1)


# ----------------------------------------------------------------------------- kernel version


def gram(points, kernel: str = "linear", bandwidth: float = 1.0, other=None) -> np.ndarray:
    """``K_ab = k(points_a, other_b)``: ``linear`` ``x.y`` or ``rbf`` ``exp(-|x - y|^2 / (2 bandwidth^2))``."""
    if kernel not in KERNELS:
        raise DynsimInputError("kernel", f"kernel must be one of {KERNELS} (got {kernel!r})")
    check_param("bandwidth", bandwidth, lower=0.0, lower_open=True)
    a = np.asarray(points, float)
    b = a if other is None else np.asarray(other, float)
    if kernel == "linear":
        return a @ b.T
    sq = np.sum(a**2, 1)[:, None] + np.sum(b**2, 1)[None, :] - 2 * a @ b.T
    return np.exp(-np.maximum(sq, 0.0) / (2 * bandwidth**2))


class KernelBarlowTwins(_MatrixSystem):
    r"""The kernel version: ``dA/dt = -4 (A P K A^T - I_d) A P`` with ``P = K S / (2n)``, ``A``:
    ``d x 2n``, ``K`` the Gram matrix of the stacked views ``[x_1..x_n, x'_1..x'_n]``; with the
    linear kernel and ``W(0) = A(0) Xs^T`` it is :class:`BarlowTwins` exactly, ``W(t) = A(t) Xs^T``."""

    d: int = eqx.field(static=True)
    n: int = eqx.field(static=True)
    K: Float[Array, "*batch 2n 2n"] = param(ndim=2)

    def blocks(self):
        return [("A", (self.d, 2 * self.n))]

    @classmethod
    def from_pairs(cls, x, x_prime, d: int, kernel: str = "linear", bandwidth: float = 1.0):
        x, xp = _check_pairs(x, x_prime)
        _check_dim("d", d)
        n = x.shape[0]
        return cls(d=d, n=n, K=gram(np.concatenate([x, xp]), kernel, bandwidth))

    def _ap(self, a):
        """``A P = A K S / (2n)``: ``S`` swaps the two views, so no matmul is spent on it."""
        ak = a @ self.K
        return jnp.concatenate([ak[..., self.n:], ak[..., : self.n]], axis=-1) / (2 * self.n)

    def vector_field(self, t, y):
        a = self.unpack(y)["A"]
        ap = self._ap(a)
        return self.pack(A=-4.0 * (ap @ self.K @ a.T - jnp.eye(self.d)) @ ap)

    def loss(self, y):
        a = self.unpack(y)["A"]
        c = self._ap(a) @ self.K @ jnp.swapaxes(a, -1, -2) - jnp.eye(self.d)
        return jnp.sum(c * c, axis=(-2, -1))

    def embed(self, y, points, other_points, kernel: str = "linear", bandwidth: float = 1.0):
        """``f(x) = A k(x)`` for new ``points`` (rows), ``other_points`` the stacked training views."""
        a = np.asarray(self.unpack(y)["A"])
        return gram(points, kernel, bandwidth, other_points) @ a.T


def default_spectrum(m: int, ratio: float = 0.6) -> np.ndarray:
    """``gamma_j = ratio^j`` (``j = 0..m-1``): well separated steps."""
    _check_dim("m", m)
    check_param("ratio", ratio, lower=0.0, lower_open=True, upper=1.0, upper_open=True)
    return ratio ** np.arange(m, dtype=float)




def _kernel_eigen(k, n: int):
    """``(gamma, Q, K^{1/2})``: the eigenpairs of ``K^{1/2} S K^{1/2} / (2n)`` (largest first), whose
    eigenvalues are the non-zero spectrum of ``Gamma`` computed from the Gram matrix alone."""
    lam, q = np.linalg.eigh(0.5 * (k + k.T))
    root = (q * np.sqrt(np.maximum(lam, 0.0))) @ q.T
    s = np.block([[np.zeros((n, n)), np.eye(n)], [np.eye(n), np.zeros((n, n))]])
    gamma, qv = np.linalg.eigh(root @ s @ root / (2 * n))
    return gamma[::-1], qv[:, ::-1], root


def kernel_spectrum(k, n: int) -> np.ndarray:
    """The spectrum of ``Gamma`` from the Gram matrix (largest first); ``Gamma``'s own for the linear kernel."""
    return _kernel_eigen(k, n)[0]


@dataclasses.dataclass
class Stepwise:
    """A Barlow Twins run with its closed form: embedding eigenvalues, loss and step times."""

    params: dict
    ts: np.ndarray
    gamma: np.ndarray  # top-d spectrum of Gamma
    s0: np.ndarray  # effective initial singular values (exact when aligned)
    lam: np.ndarray  # (T, d) eigenvalues of W Gamma W^T, largest first
    lam_closed: np.ndarray  # (T, d) gamma_j s_j(t)^2 of the closed form
    loss: np.ndarray
    loss_closed: np.ndarray
    t_steps: np.ndarray  # (d,) step times: lambda_j at half its limit 1 (:func:`step_times`)
    solution: object

    def summary(self) -> dict:
        ok = np.isfinite(self.ts)
        err = np.abs(np.sort(self.lam, 1) - np.sort(self.lam_closed, 1))[ok]
        out = {
            "gamma": self.gamma, "limits_s": self.gamma ** -0.5, "step_times": self.t_steps,
            "step_times_definition": "t_j = ln(1/(gamma_j s_j(0)^2))/(8 gamma_j): the embedding eigenvalue "
                                     "lambda_j = gamma_j s_j^2 reaches 1/(2 - gamma_j s_j(0)^2), half of its "
                                     "limit 1 (half-saturation of lambda_j, not of s_j)",
            "s0_effective": self.s0, "lambda_final": self.lam[ok][-1], "loss_final": float(self.loss[ok][-1]),
            "max_abs_error_lambda_vs_closed_form": float(err.max()),
            **self.solution.outcome(),
        }
        return out

    def arrays(self) -> dict:
        return {k: np.asarray(getattr(self, k)) for k in
                ("ts", "gamma", "s0", "lam", "lam_closed", "loss", "loss_closed", "t_steps")}


def stepwise(*, m: int = 8, d: int = 4, n_pairs: int = 200, ratio: float = 0.6, noise: float = 0.5,
             pairs=None, init_scale: float = 1e-4, aligned: bool = False, kernel: str | None = None,
             bandwidth: float = 1.0, seed: int = 0, t1: float | None = None, n_save: int = 401,
             rtol: float = 1e-10, atol: float = 1e-14, max_steps: int = 100_000) -> Stepwise:
    """Integrate linear (or kernel) Barlow Twins from a small init and set it against the closed
    form. ``pairs = (x, x')`` are the user's views; otherwise :func:`synthetic_pairs` with
    ``gamma_j = ratio^j``. From a random init the closed form uses the effective
    ``s_j(0) = |R_jj|`` of ``W(0) V = Q R`` (Gram-Schmidt in the order of ``gamma``)."""
    from dynsim._core.solve import check_solver_options, solve

    _check_dim("d", d)
    check_init_scale(init_scale)
    check_solver_options(rtol, atol, max_steps)
    if pairs is None:
        try:
            x, xp, _ = synthetic_pairs(n_pairs, default_spectrum(m, ratio), noise, seed)
        except DynsimInputError as e:  # synthetic_pairs' n is this function's n_pairs
            raise DynsimInputError("n_pairs" if e.name == "n" else e.name, str(e).replace("(got n =", "(got n_pairs =")) from None
    else:
        x, xp = _check_pairs(*pairs)
    n, m = x.shape
    if kernel is None or kernel == "none":
        if d > m:
            raise DynsimInputError("d", f"d = {d} exceeds the input dimension m = {m}")
        system = BarlowTwins(d=d, m=m, Gamma=cross_covariance(x, xp))
        gamma, v = system.spectrum()
    else:
        system = KernelBarlowTwins.from_pairs(x, xp, d, kernel, bandwidth)
        gamma, qv, root = _kernel_eigen(np.asarray(system.K), n)
    positive = int(np.sum(gamma > 1e-12 * max(float(np.max(np.abs(gamma))), 1e-300)))  # above rounding
    if d > min(2 * n, positive):
        why = (f"Gamma of n = {n} pairs has rank at most 2n = {2 * n}" if d > 2 * n
               else f"Gamma has {positive} positive eigenvalue{'s' if positive != 1 else ''}")
        raise DynsimInputError("pairs" if pairs is not None else "d",
                               f"{why}: d = {d} directions cannot all be learned"
                               + (" (give more or other pairs, or a smaller d)" if pairs is not None else ""))
    gamma = gamma[:d]
    rng = np.random.default_rng(seed + 1)
    if aligned:
        if kernel not in (None, "none"):
            raise DynsimInputError("aligned", "the aligned start is for the linear model (no --kernel)")
        y0 = system.aligned_start(init_scale, seed)
        s0 = np.full(d, float(init_scale))
    elif kernel in (None, "none"):
        w0 = init_scale * rng.normal(size=(d, m)) / np.sqrt(m)
        y0 = system.pack(W=w0)
        s0 = np.abs(np.diag(np.linalg.qr(w0 @ v[:, :d])[1]))
    else:
        a0 = init_scale * rng.normal(size=(d, 2 * n)) / np.sqrt(2 * n)
        y0 = system.pack(A=a0)
        # effective s_0 in the kernel's own eigenbasis: W(0) V = A(0) K^{1/2} Q_top up to rotation
        s0 = np.abs(np.diag(np.linalg.qr(a0 @ root @ qv[:, :d])[1]))
    if t1 is None:
        t1 = 1.5 * float(step_times(s0, gamma).max()) + 2.0 / float(gamma[-1])
    check_param("t1", t1, lower=0.0, lower_open=True)
    ts = np.linspace(0.0, t1, n_save)
    sol = solve(system, y0, ts, rtol=rtol, atol=atol, max_steps=max_steps)
    ys = np.asarray(sol.ys)
    fin = np.isfinite(np.asarray(sol.ts))
    ys = np.where(fin[:, None], ys, 0.0)
    if isinstance(system, BarlowTwins):
        lam = np.array(system.embedding_eigenvalues(ys))
    else:
        a = np.asarray(system.unpack(ys)["A"])
        c = np.asarray(system._ap(a)) @ np.asarray(system.K) @ np.swapaxes(a, 1, 2)
        lam = np.linalg.eigvalsh(0.5 * (c + np.swapaxes(c, 1, 2)))[:, ::-1]
    loss = np.array(system.loss(ys))
    lam[~fin], loss[~fin] = np.nan, np.nan
    t_plot = np.asarray(sol.ts)
    lam_closed = gamma * singular_values(ts, s0, gamma) ** 2
    params = dict(m=m, d=d, n_pairs=n, ratio=ratio if pairs is None else None, noise=noise if pairs is None else None,
                  data="user" if pairs is not None else "synthetic", init_scale=init_scale, aligned=aligned,
                  kernel=kernel or "none", bandwidth=bandwidth, seed=seed, t1=t1, rtol=rtol, atol=atol)
    return Stepwise(params, t_plot, gamma, s0, lam, lam_closed, loss, closed_form_loss(ts, s0, gamma, d),
                    step_times(s0, gamma), sol)
