r"""Decoupled eigenvalue dynamics of linear BYOL/SimSiam [Tian, Chen & Ganguli 2021, Sec. 5].

Once the eigenspaces of the predictor ``W_p`` and of ``F = W X W^T`` are aligned, each
eigen-pair ``(p_j, s_j)`` evolves on its own (``k := 1 + sigma^2``):

    dp/dt   = alpha_p s [tau - k p] - eta p
    ds/dt   = 2 p s [tau - k p] - 2 eta s
    s dtau/dt = beta (1 - tau) s - tau (ds/dt) / 2

with the invariant ``s - p^2/alpha_p = c e^{-2 eta t}``. On the parabola ``c = 0`` this is
the 1-D system ``dp/dt = p^2 [tau - k p] - eta p``. Closed forms live beside each model.
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from dynsim._core.system import AbstractSystem, array_module, check_param, param, to_jax

# Relative tolerance within which eta counts as equal to the critical eta.
_CRITICAL_RTOL = 1e-12


def critical_eta(sigma: ArrayLike, tau: ArrayLike) -> Array:
    """``eta_c = tau^2 / (4 (1 + sigma^2))``: above it only the collapsed solution remains.

    ``sigma, tau >= 0`` and finite (checked where concrete, not while traced).
    """
    check_param("sigma", sigma, lower=0.0)
    check_param("tau", tau, lower=0.0)
    xp = array_module(sigma, tau)
    return to_jax(xp.asarray(tau) ** 2 / (4.0 * (1.0 + xp.asarray(sigma) ** 2)))


def nontrivial_roots(eta: ArrayLike, sigma: ArrayLike, tau: ArrayLike) -> tuple[Array, Array]:
    """``p*_{+/-} = [tau +/- sqrt(tau^2 - 4 eta (1 + sigma^2))] / (2 (1 + sigma^2))``.

    Returns ``(p_minus, p_plus)``, NaN where ``eta > eta_c`` (no such points). ``p_minus`` is
    computed in the cancellation-free form ``2 eta / (tau + sqrt(...))``. ``eta, sigma, tau >= 0``
    and finite (checked where concrete, not while traced).
    """
    for name, value in (("eta", eta), ("sigma", sigma), ("tau", tau)):
        check_param(name, value, lower=0.0)
    xp = array_module(eta, sigma, tau)
    eta, sigma, tau = (xp.asarray(a) for a in (eta, sigma, tau))
    k = 1.0 + sigma**2
    disc = tau**2 - 4.0 * eta * k
    exists = disc >= 0.0
    root = xp.sqrt(xp.where(exists, disc, 0.0))
    p_plus = (tau + root) / (2.0 * k)
    p_minus = xp.where(tau + root > 0, 2.0 * eta / xp.where(tau + root > 0, tau + root, 1.0), 0.0)
    return to_jax(xp.where(exists, p_minus, xp.nan)), to_jax(xp.where(exists, p_plus, xp.nan))


def _scalar(x) -> float:
    a = np.asarray(x)
    if a.ndim:
        raise ValueError("closed-form reports need scalar parameters; index the batch first")
    return float(a)


def _regime(eta: float, eta_c: float) -> str:
    if eta == 0.0:
        return "no-weight-decay"
    if abs(eta - eta_c) <= _CRITICAL_RTOL * eta_c:
        return "critical"
    return "bistable" if eta < eta_c else "collapse-only"


REGIME_TEXT = {
    "no-weight-decay": "eta = 0: non-isolated stationary points (collapsed branch s = 0 and "
                       "non-collapsed branch p = tau/(1+sigma^2)); the origin is degenerate",
    "bistable": "0 < eta < eta_c: collapse (p < p*_-) and the non-trivial solution p*_+ are both stable",
    "critical": "eta = eta_c: p*_- and p*_+ merge in a saddle-node",
    "collapse-only": "eta > eta_c: only the collapsed solution p = 0 remains",
}


class _EigenBase(AbstractSystem):
    """Shared parameter checks and closed forms of the eigenvalue systems."""

    eta: Float[Array, "*batch"] = param(4e-4, lower=0.0, symbol=r"\eta", help="weight decay")
    sigma: Float[Array, "*batch"] = param(1.0, lower=0.0, symbol=r"\sigma",
                                          help="augmentation strength (X' = sigma^2 I)")

    def _tau_star(self) -> Array:
        return self.tau  # the fixed tau; the 3-D system overrides (tau* = 1)

    @property
    def eta_critical(self) -> Array:
        """``tau^2 / (4 (1 + sigma^2))``, with ``tau`` the stationary EMA ratio."""
        return critical_eta(self.sigma, self._tau_star())

    @property
    def p_minus(self) -> Array:
        """``p*_-``, the collapse threshold (NaN above the critical eta)."""
        return nontrivial_roots(self.eta, self.sigma, self._tau_star())[0]

    @property
    def p_plus(self) -> Array:
        """``p*_+``, the stable non-trivial solution (NaN above the critical eta)."""
        return nontrivial_roots(self.eta, self.sigma, self._tau_star())[1]

    def regime(self) -> str:
        """One of ``no-weight-decay``, ``bistable``, ``critical``, ``collapse-only`` (scalar parameters)."""
        return _regime(_scalar(self.eta), _scalar(self.eta_critical))

    def _nontrivial_p(self) -> list[float]:
        pm, pp = (_scalar(v) for v in nontrivial_roots(self.eta, self.sigma, self._tau_star()))
        if np.isnan(pp):
            return []
        if self.regime() == "critical":
            return [pp]
        return [pm, pp] if pm > 0 else [pp]  # at eta = 0, p*_- coincides with p*_0 = 0


class EigenDynamics1D(_EigenBase):
    r"""On the parabola: ``dp/dt = p^2 [tau - (1 + sigma^2) p] - eta p``."""

    tau: Float[Array, "*batch"] = param(1.0, lower=0.0, symbol=r"\tau", help="EMA ratio W_a = tau W, held fixed")
    state_names: ClassVar[tuple[str, ...]] = ("p",)

    def vector_field(self, t, y):
        p = y[0]
        k = 1.0 + self.sigma**2
        return jnp.stack([p**2 * (self.tau - k * p) - self.eta * p])

    def stationary_points(self) -> np.ndarray:
        """Closed form, shape ``(m, 1)``: ``p*_0 = 0`` and, below the critical eta, ``p*_{-}``, ``p*_{+}``."""
        return np.array([[0.0]] + [[p] for p in self._nontrivial_p()])


class EigenDynamics2D(_EigenBase):
    r"""The ``(p, s)`` system at fixed ``tau``:

    ``dp/dt = alpha_p s [tau - k p] - eta p``, ``ds/dt = 2 p s [tau - k p] - 2 eta s``, ``k = 1 + sigma^2``.
    """

    tau: Float[Array, "*batch"] = param(1.0, lower=0.0, symbol=r"\tau", help="EMA ratio W_a = tau W, held fixed")
    alpha_p: Float[Array, "*batch"] = param(1.0, lower=0.0, lower_open=True, symbol=r"\alpha_p",
                                            help="relative learning rate of the predictor")
    state_names: ClassVar[tuple[str, ...]] = ("p", "s")
    positive: ClassVar[tuple[int, ...]] = (1,)  # s > 0 stays > 0: s = 0 is invariant

    def vector_field(self, t, y):
        p, s = y[0], y[1]
        g = self.tau - (1.0 + self.sigma**2) * p
        return jnp.stack([self.alpha_p * s * g - self.eta * p, 2.0 * s * (p * g - self.eta)])

    def log_rate(self, t, y):
        """``d log s / dt = 2 [p (tau - k p) - eta]``."""
        p = y[0]
        return jnp.stack([2.0 * (p * (self.tau - (1.0 + self.sigma**2) * p) - self.eta)])

    def stationary_points(self) -> np.ndarray:
        """Closed form, shape ``(m, 2)``: ``(0, 0)`` and ``(p*_{+/-}, p*_{+/-}^2 / alpha_p)``.

        At ``eta = 0`` the stationary points are not isolated (the lines ``s = 0`` and
        ``p = tau / (1 + sigma^2)``); the points returned are those lines' representatives.
        """
        a = _scalar(self.alpha_p)
        return np.array([[0.0, 0.0]] + [[p, p * p / a] for p in self._nontrivial_p()])

    def certified_lanes(self, y0):
        """Proven traps from the invariant ``c = s - p^2/alpha_p`` (see :mod:`dynsim.models.eigen.basins`)."""
        from dynsim.models.eigen.basins import certified_lanes_2d

        return certified_lanes_2d(self, y0)

    def default_window(self):
        """Fig. 3's range: ``p`` in ``[-p0/2, 2 p0]``, ``s`` in ``[0, 0.8 (2 p0)^2 / alpha_p]``, ``p0 = tau/(1+sigma^2)``."""
        p0 = float(self.tau) / (1.0 + float(self.sigma) ** 2)
        p0 = p0 if p0 > 0 else 1.0
        return [(-0.5 * p0, 2.0 * p0), (0.0, 0.8 * (2.0 * p0) ** 2 / float(self.alpha_p))]

    def invariant(self, y: Float[Array, "... 2"]) -> Float[Array, "..."]:
        """``c = s - p^2 / alpha_p``; along any solution ``c(t) = c(0) e^{-2 eta t}``."""
        return y[..., 1] - y[..., 0] ** 2 / self.alpha_p

    def invariant_decay(self, t: ArrayLike) -> Array:
        """``e^{-2 eta t}``."""
        return jnp.exp(-2.0 * self.eta * to_jax(t))


class EigenDynamics3D(_EigenBase):
    r"""The ``(p, s, tau)`` system with the EMA rate ``beta`` (assumption 2, ``W_a = tau W``):

    the 2-D system with ``dtau/dt = beta (1 - tau) - tau [p (tau - k p) - eta]``, which is
    ``s dtau/dt = beta (1 - tau) s - tau (ds/dt)/2`` divided by ``s`` (its continuous
    extension to ``s = 0``).
    """

    alpha_p: Float[Array, "*batch"] = param(1.0, lower=0.0, lower_open=True, symbol=r"\alpha_p",
                                            help="relative learning rate of the predictor")
    # beta = 0 freezes tau: that is the 2-D system, whose stationary points are other.
    beta: Float[Array, "*batch"] = param(1.0, lower=0.0, lower_open=True, symbol=r"\beta",
                                         help="EMA rate of the target")
    state_names: ClassVar[tuple[str, ...]] = ("p", "s", "tau")
    positive: ClassVar[tuple[int, ...]] = (1,)

    def _tau_star(self):
        return jnp.ones_like(self.eta)

    def vector_field(self, t, y):
        p, s, tau = y[0], y[1], y[2]
        g = tau - (1.0 + self.sigma**2) * p
        delta = p * g - self.eta
        return jnp.stack([
            self.alpha_p * s * g - self.eta * p,
            2.0 * s * delta,
            self.beta * (1.0 - tau) - tau * delta,
        ])

    def log_rate(self, t, y):
        """``d log s / dt = 2 [p (tau - k p) - eta]``."""
        p, tau = y[0], y[2]
        return jnp.stack([2.0 * (p * (tau - (1.0 + self.sigma**2) * p) - self.eta)])

    def stationary_points(self) -> np.ndarray:
        """Closed form, shape ``(m, 3)``: ``(p*_{+/-}, p*^2/alpha_p, 1)`` with ``tau = 1`` and, when
        ``beta > eta``, the collapsed point ``(0, 0, beta / (beta - eta))`` (for ``beta <= eta``
        the EMA ratio ``tau`` grows without bound as ``W`` collapses faster than ``W_a``)."""
        a, b, e = _scalar(self.alpha_p), _scalar(self.beta), _scalar(self.eta)
        pts = [[0.0, 0.0, b / (b - e)]] if b > e else []
        return np.array(pts + [[p, p * p / a, 1.0] for p in self._nontrivial_p()]).reshape(-1, 3)

    def certified_lanes(self, y0):
        """Proven box traps in ``(p, tau)`` (see :mod:`dynsim.models.eigen.basins`)."""
        from dynsim.models.eigen.basins import certified_lanes_3d

        return certified_lanes_3d(self, y0)

    def invariant(self, y: Float[Array, "... 3"]) -> Float[Array, "..."]:
        """``c = s - p^2 / alpha_p``, which decays as ``e^{-2 eta t}`` whatever ``tau(t)`` does."""
        return y[..., 1] - y[..., 0] ** 2 / self.alpha_p

    def invariant_decay(self, t: ArrayLike) -> Array:
        """``e^{-2 eta t}``."""
        return jnp.exp(-2.0 * self.eta * to_jax(t))
