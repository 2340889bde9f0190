r"""JEPA against MAE in deep linear networks [L24]: both objectives written as losses, their flows,
the closed forms of the decoupled dynamics, and the critical times.

[L24] E. Littwin, O. Saremi, M. Advani, V. Thilak, P. Nakkiran, C. Huang, J. Susskind, "How JEPA
Avoids Noisy Features: The Implicit Bias of Deep Linear Self Distillation Networks", NeurIPS 2024,
arXiv:2407.03475.

Setting (the paper's, Sec. 3; where it leaves a choice open or where the text could not be checked,
the choice is stated here):

- Two views ``x, y`` in ``R^d`` with ``Sigma_xx = E[x x^T]`` and ``Sigma_yx = E[y x^T]`` simultaneously
  diagonal (the paper's assumption). Per feature ``i``: ``lambda_i = (Sigma_yx)_ii``, the covariance
  of the feature across the views, and ``rho_i = lambda_i / (Sigma_xx)_ii``, the regression
  coefficient of ``y_i`` on ``x_i``; so ``Sigma_xx = diag(lambda / rho)``, ``Sigma_yx = diag(lambda)``.
  (Choice: this reading of lambda as the cross-covariance follows the paper's parametrisation
  ``(lambda_i, sigma_i^2, rho_i = lambda_i / sigma_i^2)`` as quoted in a formalisation of its
  Theorem 4.2; it is also the reading under which MAE's critical time depends on lambda alone.)
  For samples (SGD), ``x_i ~ N(0, lambda_i / rho_i)`` and ``y_i = rho_i x_i + sqrt(1 - rho_i^2) s_i z_i``:
  two views of equal variance and correlation ``rho_i <= 1``.
- Encoder ``Wbar = W_L ... W_1`` (``L`` square ``d x d`` layers), a linear predictor (JEPA) or decoder
  (MAE) ``V``; in expectation, dropping terms without gradient,

      L_JEPA = 1/2 E||V Wbar x - SG(Wbar y)||^2 = 1/2 <V Wbar S_xx, V Wbar> - <V Wbar S_xy, SG(Wbar)>
      L_MAE  = 1/2 E||V Wbar x - y||^2         = 1/2 <V Wbar S_xx, V Wbar> - <V Wbar, S_yx>

  (``<A, B> = tr(A B^T)``). The target is the stop-gradient of the online encoder (choice: the
  paper's analysis; ``target="ema"`` gives an EMA target per layer at rate ``beta`` instead).
- Gradient flow of every layer and of ``V`` at unit rate, no weight decay. Start (the paper's
  balanced small initialisation): every layer and ``V`` equal to ``eps^{1/L} I`` ("aligned", so that
  ``Wbar(0) = eps I`` and the features decouple), or ``eps^{1/L}`` times random orthogonal matrices
  chained to be balanced ("orthogonal": ``Wbar(0) = eps U``, the features couple).

Decoupled dynamics (aligned start; derived here from the two losses). Balancedness is conserved, so
every layer and ``V`` stay equal to one scalar ``a_i`` per feature and ``wbar_i = a_i^L``:

    JEPA:  da/dt = lambda a^{2L} (1 - a/rho)          ->  wbar -> rho^L,         V -> rho
    MAE:   da/dt = lambda a^L (1 - a^{L+1}/rho)       ->  wbar -> rho^{L/(L+1)}, V -> rho^{1/(L+1)}

i.e. ``dwbar/dt = L lambda wbar^{3-1/L} (1 - wbar^{1/L}/rho)`` for JEPA: the paper's ODE except for
the factor ``L`` (see below). Both are integrated in closed form (:func:`hitting_time`): JEPA with
``psi = a/rho``, ``t = [sum_{n=1}^{2L-1} (psi_0^{-n} - psi^{-n})/n + ln(psi/psi_0) + ln((1-psi_0)/(1-psi))]
/ (lambda rho^{2L-1})``; MAE as a series in ``a^{L+1}/rho``.

"Learned" (choice, as asked): feature ``i`` is learned when its encoder strength ``||Wbar e_i||``
first reaches half of its final value; the final value is the value at the end of the run, which is
run until every feature is within ~1e-6 of its stationary value (``e^{-14}``: :func:`run_length`; the
summary reports the gap).

The critical time of [L24] (Thm 4.5 there, as quoted by a formalisation; the paper's own text could
not be read here) is ``t* = (1/lambda) sum_{n=1}^{2L-1} L / (n rho^{2L-n-1} eps^{n/L}) + Theta(log eps)``
(:func:`paper_critical_time`). It is the hitting time of ``dwbar/dt = lambda wbar^{3-1/L}(1 -
wbar^{1/L}/rho)``; the gradient flow of the loss on the ``L`` layers is ``L`` times faster, so the
formula overestimates the flow's times by the factor ``L`` (a unit of time: the formula is the flow
of ``Wbar`` with each layer at rate ``1/L``). The claims module measures both readings.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dynsim._core.errors import DynsimInputError
from dynsim._core.gradient_flow import GradientFlow, train_gradient_flow
from dynsim._core.solve import solve
from dynsim._core.system import check_param, to_jax

OBJECTIVES = ("jepa", "mae")
INITS = ("aligned", "orthogonal")
TARGETS = ("online", "ema")
FRAC = 0.5  # "learned": the strength reaches this fraction of its final value
STEP = 2 ** -0.5  # the default features: lambda or rho in steps of 1/sqrt(2)
DEFAULT_LAM = (1.0, 1.0, 1.0, 1.0)
DEFAULT_RHO = tuple(STEP ** k for k in range(4))  # equal lambda, rho = 1, 0.71, 0.5, 0.35: claim (b)
DEFAULTS = dict(depth=3, eps=1e-3)
TIGHT = dict(rtol=1e-10, atol=1e-14)


# ----------------------------------------------------------------------------- data


def _features(lam, rho) -> tuple[np.ndarray, np.ndarray]:
    lam, rho = np.atleast_1d(np.asarray(lam, float)), np.atleast_1d(np.asarray(rho, float))
    if lam.ndim != 1 or lam.shape != rho.shape or lam.size < 1:
        raise DynsimInputError("lam", f"lam and rho must be two vectors of one length d (got shapes {lam.shape}, "
                                      f"{rho.shape})")
    check_param("lam", lam, lower=0.0, lower_open=True)
    check_param("rho", rho, lower=0.0, lower_open=True)
    return lam, rho


def feature_statistics(lam, rho) -> tuple[np.ndarray, np.ndarray]:
    """``(Sigma_xx, Sigma_yx) = (diag(lam / rho), diag(lam))``: per feature the covariance ``lam_i``
    across the views and the regression coefficient ``rho_i`` of ``y_i`` on ``x_i``."""
    lam, rho = _features(lam, rho)
    return np.diag(lam / rho), np.diag(lam)


def sample_views(key, n: int, lam, rho):
    """``n`` pairs ``(x, y)`` (rows): ``x_i ~ N(0, lam_i / rho_i)``, ``y_i = rho_i x_i + sqrt(1 - rho_i^2)
    s_i z_i`` (``s_i^2 = lam_i / rho_i``): equal variances, correlation ``rho_i`` (needs ``rho_i <= 1``)."""
    lam, rho = jnp.asarray(lam, float), jnp.asarray(rho, float)
    s = jnp.sqrt(lam / rho)
    kx, kz = jax.random.split(key)
    x = s * jax.random.normal(kx, (n, lam.shape[0]))
    y = rho * x + jnp.sqrt(jnp.clip(1.0 - rho**2, 0.0, None)) * s * jax.random.normal(kz, (n, lam.shape[0]))
    return x, y


def minibatch_statistics(lam, rho):
    """``data(key, batch) -> {"Sxx", "Syx"}``: the covariances of a fresh minibatch of :func:`sample_views`,
    for :func:`dynsim.train_gradient_flow` on a loss written in covariances."""
    _, rho_ = _features(lam, rho)
    if np.any(rho_ > 1.0):
        raise DynsimInputError("rho", "sampled views need rho <= 1 (rho is their correlation)")
    lam, rho = jnp.asarray(lam, float), jnp.asarray(rho, float)

    def data(key, batch):
        x, y = sample_views(key, batch, lam, rho)
        return {"Sxx": x.T @ x / batch, "Syx": y.T @ x / batch}

    return data


# ----------------------------------------------------------------------------- the losses


def _layers(kw: dict, prefix: str = "W") -> list:
    names = [k for k in kw if k.startswith(prefix) and k[len(prefix):].isdigit()]
    names.sort(key=lambda k: int(k[len(prefix):]))
    return [kw[k] for k in names]


def chain(layers: Sequence) -> jax.Array:
    """``W_L ... W_1`` of ``[W_1, ..., W_L]``."""
    return functools.reduce(lambda acc, w: w @ acc, layers[1:], layers[0])


def jepa_loss(*, V, Sxx, Syx, **weights):
    """``1/2 E||V Wbar x - SG(Wbar y)||^2`` in covariances, dropping ``1/2 <SG(Wbar) S_yy, SG(Wbar)>``
    (no gradient); the target is ``SG(W_L...W_1)``, or the EMA layers ``T1..TL`` when given."""
    w = chain(_layers(weights))
    targets = _layers(weights, "T")
    target = jax.lax.stop_gradient(chain(targets) if targets else w)
    a = V @ w
    return 0.5 * jnp.sum((a @ Sxx) * a) - jnp.sum((a @ Syx.T) * target)


def mae_loss(*, V, Sxx, Syx, **weights):
    """``1/2 E||V Wbar x - y||^2`` in covariances, dropping the constant ``1/2 tr S_yy``."""
    a = V @ chain(_layers(weights))
    return 0.5 * jnp.sum((a @ Sxx) * a) - jnp.sum(a * Syx)


def _flow(objective: str, lam, rho, depth: int, *, target: str = "online", beta: float = 1.0, Sxx=None, Syx=None):
    if objective not in OBJECTIVES:
        raise DynsimInputError("objective", f"objective must be one of {', '.join(OBJECTIVES)} (got {objective!r})")
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or not 1 <= depth <= 64:
        raise DynsimInputError("depth", f"depth must be an integer in [1, 64] (got {depth!r})")
    if target not in TARGETS:
        raise DynsimInputError("target", f"target must be one of {', '.join(TARGETS)} (got {target!r})")
    if Sxx is None and Syx is None:
        Sxx, Syx = feature_statistics(lam, rho)
    elif Sxx is None or Syx is None:
        raise DynsimInputError("Sxx", "give both Sxx and Syx, or neither (then lam and rho)")
    Sxx, Syx = np.asarray(Sxx, float), np.asarray(Syx, float)
    d = Sxx.shape[0]
    if Sxx.shape != (d, d) or Syx.shape != (d, d):
        raise DynsimInputError("Sxx", f"Sxx and Syx must be two d x d matrices (got {Sxx.shape}, {Syx.shape})")
    weights = {f"W{k + 1}": (d, d) for k in range(int(depth))}
    weights["V"] = (d, d)
    kw, params = {}, {}
    if objective == "jepa" and target == "ema":
        check_param("beta", beta, lower=0.0, lower_open=True)
        params["beta"] = beta
        kw["ema"] = {f"T{k + 1}": (f"W{k + 1}", "beta") for k in range(int(depth))}
    elif target == "ema":
        raise DynsimInputError("target", "an EMA target applies to JEPA only (MAE's target is the data)")
    loss = jepa_loss if objective == "jepa" else mae_loss
    return GradientFlow(loss, weights, {"Sxx": Sxx, "Syx": Syx}, params, **kw)


def jepa_flow(lam=DEFAULT_LAM, rho=DEFAULT_RHO, depth: int = DEFAULTS["depth"], *, target: str = "online",
              beta: float = 1.0, Sxx=None, Syx=None) -> GradientFlow:
    """The gradient flow of :func:`jepa_loss`: weights ``W1..WL`` (``W1`` acts first) and the predictor
    ``V``, data ``Sxx``, ``Syx`` (from ``lam``, ``rho`` by :func:`feature_statistics`, or given);
    ``target="ema"`` adds EMA target layers ``T1..TL`` at rate ``beta``."""
    return _flow("jepa", lam, rho, depth, target=target, beta=beta, Sxx=Sxx, Syx=Syx)


def mae_flow(lam=DEFAULT_LAM, rho=DEFAULT_RHO, depth: int = DEFAULTS["depth"], *, Sxx=None, Syx=None) -> GradientFlow:
    """The gradient flow of :func:`mae_loss`: weights ``W1..WL`` and the decoder ``V``."""
    return _flow("mae", lam, rho, depth, Sxx=Sxx, Syx=Syx)


def depth_of(flow: GradientFlow) -> int:
    return sum(1 for k in flow.trained if k.startswith("W"))


def balanced_start(flow: GradientFlow, eps: float = DEFAULTS["eps"], *, init: str = "aligned", seed: int = 0):
    """The balanced small start of [L24]: every layer and ``V`` equal to ``eps^{1/L} I`` (``"aligned"``:
    ``Wbar(0) = eps I``), or ``W_a = eps^{1/L} U_a U_{a-1}^T``, ``V = eps^{1/L} U_{L+1} U_L^T`` with random
    orthogonal ``U`` (``"orthogonal"``: still balanced, ``Wbar(0) = eps U_L U_0^T``). EMA targets start
    at their sources."""
    check_param("eps", eps, lower=0.0, lower_open=True)
    if init not in INITS:
        raise DynsimInputError("init", f"init must be one of {', '.join(INITS)} (got {init!r})")
    L = depth_of(flow)
    d = dict(flow.shapes)["V"][0]
    s = float(eps) ** (1.0 / L)
    if init == "aligned":
        us = [np.eye(d)] * (L + 2)
    else:
        rng = np.random.default_rng(seed)
        us = [np.linalg.qr(rng.normal(size=(d, d)))[0] for _ in range(L + 2)]
    m = {f"W{k + 1}": s * us[k + 1] @ us[k].T for k in range(L)}
    m["V"] = s * us[L + 1] @ us[L].T
    m.update({t: m[src] for t, src, _ in flow.ema})
    return flow.pack(m)


# ----------------------------------------------------------------------------- observables


def encoder(flow: GradientFlow, ys) -> np.ndarray:
    """``Wbar = W_L ... W_1`` of (a batch of) states: ``(..., d, d)``. In NumPy: called on saved states
    and inside the learning times' bisection, where JAX's eager dispatch (and a compilation per new
    shape) would cost more than the products."""
    w = flow.unpack(np.asarray(ys, float))
    return np.asarray(chain([w[f"W{k + 1}"] for k in range(depth_of(flow))]))


def strengths(flow: GradientFlow, ys) -> np.ndarray:
    """How much of each feature the encoder carries: ``||Wbar e_i||`` (the column norms), ``(..., d)``.
    At the aligned start this is ``wbar_i = a_i^L``."""
    return np.linalg.norm(encoder(flow, ys), axis=-2)


def predictor(flow: GradientFlow, ys) -> np.ndarray:
    return np.asarray(flow.unpack(np.asarray(ys, float))["V"])


# ----------------------------------------------------------------------------- closed forms


def _check_objective(objective):
    if objective not in OBJECTIVES:
        raise DynsimInputError("objective", f"objective must be one of {', '.join(OBJECTIVES)} (got {objective!r})")


def plateau(objective: str, rho, depth: int) -> np.ndarray:
    """The stationary encoder strength from the aligned balanced start: ``rho^L`` (JEPA), ``rho^{L/(L+1)}``
    (MAE)."""
    _check_objective(objective)
    rho = np.asarray(rho, float)
    return rho**depth if objective == "jepa" else rho ** (depth / (depth + 1.0))


def reduced_rate(objective: str, a, lam, rho, depth: int):
    """``da/dt`` of the decoupled scalar dynamics (module docstring), ``a`` the common layer value."""
    _check_objective(objective)
    if objective == "jepa":
        return lam * a ** (2 * depth) * (1.0 - a / rho)
    return lam * a**depth * (1.0 - a ** (depth + 1) / rho)


def _mae_primitive(a, rho, L):
    """``F(a) = int da / (a^L (1 - a^{L+1}/rho))`` as the series in ``u = a^{L+1}/rho`` (``u < 1``)."""
    a = float(a)
    u = a ** (L + 1) / rho
    if not 0 < u < 1:
        raise DynsimInputError("value", "the MAE strength must stay below its plateau")
    tot, k = 0.0, 0
    while True:
        p = k * (L + 1) - L + 1
        term = (math.log(a) if p == 0 else a**p / p) / rho**k
        tot += term
        if k > 2 and abs(term) <= 1e-17 * abs(tot):
            return tot
        k += 1
        if k > 10_000_000:  # pragma: no cover - u is bounded away from 1 by the callers
            return tot


def hitting_time(objective: str, lam: float, rho: float, depth: int, eps: float, value: float | None = None) -> float:
    """The time the decoupled dynamics take from ``wbar(0) = eps`` to ``wbar = value`` (default half the
    plateau): exact for JEPA (module docstring), a converged series for MAE."""
    _check_objective(objective)
    L = int(depth)
    value = FRAC * float(plateau(objective, rho, L)) if value is None else float(value)
    a0, a1 = float(eps) ** (1.0 / L), value ** (1.0 / L)
    if objective == "jepa":
        p0, p1 = a0 / rho, a1 / rho
        if not 0 < p0 <= p1 < 1:
            raise DynsimInputError("value", f"need eps <= value < rho^L (got eps {eps:g}, value {value:g}, "
                                            f"plateau {rho**L:g})")
        s = sum((p0 ** -n - p1 ** -n) / n for n in range(1, 2 * L))
        s += math.log(p1 / p0) + math.log((1.0 - p0) / (1.0 - p1))
        return s / (lam * rho ** (2 * L - 1))
    if not 0 < a0 <= a1:
        raise DynsimInputError("value", f"need eps <= value (got eps {eps:g}, value {value:g})")
    return (_mae_primitive(a1, rho, L) - _mae_primitive(a0, rho, L)) / lam


def critical_times(objective: str, lam, rho, depth: int, eps: float, values=None) -> np.ndarray:
    """:func:`hitting_time` of every feature (at half its plateau, or at the given ``values``)."""
    lam, rho = _features(lam, rho)
    values = [None] * lam.size if values is None else np.asarray(values, float)
    return np.array([hitting_time(objective, l, r, depth, eps, v) for l, r, v in zip(lam, rho, values)])


def paper_critical_time(lam, rho, depth: int, eps: float) -> np.ndarray:
    """JEPA's critical time as stated by [L24] (Thm 4.5, as quoted; module docstring), without its
    ``Theta(log eps)`` remainder: ``(1/lambda) sum_{n=1}^{2L-1} L / (n rho^{2L-n-1} eps^{n/L})``."""
    lam, rho = _features(lam, rho)
    L = int(depth)
    return sum(L / (n * rho ** (2 * L - n - 1) * eps ** (n / L)) for n in range(1, 2 * L)) / lam


def reversal_threshold(rho_high: float, rho_low: float, depth: int, eps: float) -> float:
    """When lambda and rho disagree, for two features ``A = (lambda_A, rho_low)`` and ``B = (lambda_B,
    rho_high)`` with ``lambda_B < lambda_A``: JEPA learns ``B`` (the larger ``rho``) first iff
    ``lambda_B / lambda_A`` exceeds this ratio (JEPA's times scale as ``1/lambda`` exactly); MAE learns
    ``A`` first for any ratio below 1 (to leading order it follows lambda alone). The window of
    opposite orders is ``(threshold, 1)``."""
    return hitting_time("jepa", 1.0, rho_high, depth, eps) / hitting_time("jepa", 1.0, rho_low, depth, eps)


def relaxation_rate(objective: str, lam, rho, depth: int) -> np.ndarray:
    """The rate at which ``a`` approaches its plateau (the linearisation there)."""
    _check_objective(objective)
    lam, rho = np.asarray(lam, float), np.asarray(rho, float)
    L = depth
    if objective == "jepa":
        return lam * rho ** (2 * L - 1)
    return lam * (L + 1) * rho ** (2 * L / (L + 1) - 1)


def run_length(objective: str, lam, rho, depth: int, eps: float, margin: float = 14.0) -> float:
    """A run long enough for every feature to settle: the slowest half-time plus ``margin`` relaxation
    times (``e^{-14} ~ 1e-6``)."""
    t = critical_times(objective, lam, rho, depth, eps)
    return float(np.max(t + margin / relaxation_rate(objective, lam, rho, depth)))


def trajectory(objective: str, lam: float, rho: float, depth: int, eps: float, n: int = 200):
    """The closed-form trajectory of one feature: ``(t, wbar / plateau)`` from ``eps`` to 0.999 of the plateau."""
    top = float(plateau(objective, rho, depth))
    values = top * np.concatenate([np.geomspace(eps / top, 0.5, n // 2, endpoint=False),
                                   np.linspace(0.5, 0.999, n - n // 2)])
    values = values[values >= eps]
    return np.array([hitting_time(objective, lam, rho, depth, eps, v) for v in values]), values / top


# ----------------------------------------------------------------------------- learning times


def order(times) -> np.ndarray:
    """The features in the order they are learned (first learned first)."""
    return np.argsort(np.asarray(times, float), kind="stable")


def discordance(times, key) -> float:
    """The fraction of feature pairs whose learning order disagrees with "larger ``key`` first" (0: the
    features are learned in decreasing ``key``; 1: in increasing ``key``; ties in ``key`` are skipped)."""
    t, k = np.asarray(times, float), np.asarray(key, float)
    bad = tot = 0
    for i in range(t.size):
        for j in range(i + 1, t.size):
            if k[i] == k[j]:
                continue
            tot += 1
            first = i if t[i] < t[j] else j
            bad += k[first] < max(k[i], k[j])
    return bad / tot if tot else float("nan")


def _crossings(s, thr):
    """First save index ``k`` with ``s[k] >= thr`` per feature (``-1``: never; 0: already at the start)."""
    above = s >= thr[None, :]
    k = np.argmax(above, axis=0)
    return np.where(above.any(axis=0), k, -1)


@eqx.filter_jit
def _fields(flow, ys):
    """The vector field at each saved state (one compiled program per flow structure and shape)."""
    return jax.vmap(lambda y: flow.vector_field(0.0, y))(ys)


def _hermite(y0, y1, f0, f1, h, tau):
    """The cubic Hermite interpolant on ``[0, h]`` at ``tau`` (a vector of times in ``[0, h]``)."""
    s = (tau / h)[:, None]
    h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
    return h00 * y0 + h10 * h * f0 + h01 * y1 + h11 * h * f1


def learning_times(flow: GradientFlow, sol, frac: float = FRAC, *, refine: bool = True, rtol: float = TIGHT["rtol"],
                   atol: float = TIGHT["atol"], max_steps: int = 1_000_000, iterations: int = 60) -> dict:
    """When each feature is learned: the first time its strength ``||Wbar e_i||`` reaches ``frac`` of its
    value at the end of the run ``sol`` (a solve of ``flow``). The crossing is bracketed on the save grid
    and located by bisection on the cubic Hermite interpolant of the state between two save points (the
    flow's own vector field gives the slopes: error ``O(h^4)``). With ``refine`` (default) the bracket is
    first re-solved on a grid as fine as the run's (the flow is autonomous; the same shapes, so the same
    compiled solve; pass the run's ``rtol``, ``atol`` and ``max_steps``): the time is then exact to the
    solver's tolerance even for a transition much shorter than the save interval.
    Returns ``times`` (nan: never reached, or above the threshold from the start: not learned), ``final``
    (the end values), ``threshold`` and ``settled`` (the relative change of each strength over the last
    1% of the run: large when the end is not final, or when a feature was learned within that last 1%)."""
    ts = np.asarray(sol.ts, float)
    ys = np.asarray(sol.ys, float)
    good = np.isfinite(ts) & np.all(np.isfinite(ys), axis=-1)
    n_good = int(np.argmin(good)) if not np.all(good) else len(ts)  # a stopped solve: its saved prefix
    ts, ys = ts[:n_good], ys[:n_good]
    if n_good < 3:
        nan = np.full(dict(flow.shapes)["V"][0], np.nan)
        return {"times": nan, "final": nan, "threshold": nan, "settled": nan}
    s = strengths(flow, ys)
    final = s[-1]
    thr = frac * final
    k = _crossings(s, thr)
    tail = max(1, int(0.01 * (len(ts) - 1)))
    settled = np.abs(s[-1] - s[-1 - tail]) / np.abs(s[-1])
    times = np.full(final.shape, np.nan)  # nan also where the start is already above the threshold
    idx = np.flatnonzero(k > 0)
    if idx.size:
        fs = np.asarray(_fields(flow, to_jax(ys)))
        for i in idx:
            a, b = k[i] - 1, k[i]
            t0, h = ts[a], ts[b] - ts[a]
            yy, ff = ys, fs
            if refine:
                sub = solve(flow, ys[a], np.linspace(0.0, h, len(sol.ts)), rtol=rtol, atol=atol,
                            max_steps=max_steps)
                if sub.complete:
                    yy = np.asarray(sub.ys, float)
                    kk = _crossings(strengths(flow, yy)[:, i:i + 1], thr[i:i + 1])[0]
                    if kk > 0:
                        ff = np.asarray(_fields(flow, to_jax(yy)))
                        a, b = kk - 1, kk
                        t0, h = t0 + float(sub.ts[a]), float(sub.ts[b] - sub.ts[a])
                    else:
                        yy = ys
            lo, hi = 0.0, h
            for _ in range(iterations):
                mid = 0.5 * (lo + hi)
                y = _hermite(yy[a], yy[b], ff[a], ff[b], h, np.array([mid]))
                if strengths(flow, y)[0, i] >= thr[i]:
                    hi = mid
                else:
                    lo = mid
            times[i] = t0 + 0.5 * (lo + hi)
    return {"times": times, "final": final, "threshold": thr, "settled": settled}


def decoupled_learning_times(objective: str, lam, rho, depth: int, eps: float, *, frac: float = FRAC,
                             n_save: int = 1001, rtol: float = TIGHT["rtol"], atol: float = TIGHT["atol"],
                             max_steps: int = 1_000_000) -> np.ndarray:
    """The learning times of the aligned flow measured one feature at a time: from the aligned start the
    ``d``-feature flow is ``d`` independent one-feature flows (``d = 1`` matrices: one compiled solve for
    every feature, the statistics being traced), each run to its own end. This avoids the stiffness of
    one long run in which early features have settled (fast relaxation) while late ones are still
    growing (explicit steps then stay at the fast features' time scale). NaN where a solve failed."""
    lam, rho = _features(lam, rho)
    out = np.full(lam.size, np.nan)
    for i, (l, r) in enumerate(zip(lam, rho)):
        flow = _flow(objective, [l], [r], depth)
        T = run_length(objective, [l], [r], depth, eps)
        sol = solve(flow, balanced_start(flow, eps), np.linspace(0.0, T, int(n_save)), rtol=rtol, atol=atol,
                    max_steps=max_steps)
        if sol.complete:
            out[i] = learning_times(flow, sol, frac, rtol=rtol, atol=atol, max_steps=max_steps)["times"][0]
    return out


def training_times(flow: GradientFlow, ts, ys, frac: float = FRAC) -> np.ndarray:
    """:func:`learning_times` of logged SGD states ``ys`` (``(seeds, T, dim)``, at ``ts``): linear
    interpolation on the log, ``(seeds, d)``; the final value is the mean of the last 5% of the log."""
    s = strengths(flow, np.asarray(ys))  # (seeds, T, d)
    ts = np.asarray(ts, float)
    tail = max(1, int(0.05 * (len(ts) - 1)))
    out = np.full(s.shape[::2], np.nan)
    for r in range(s.shape[0]):
        final = s[r, -tail:].mean(axis=0)
        thr = frac * final
        k = _crossings(s[r], thr)
        for i in range(s.shape[-1]):
            if k[i] > 0:
                lo, hi = s[r, k[i] - 1, i], s[r, k[i], i]
                out[r, i] = ts[k[i] - 1] + (ts[k[i]] - ts[k[i] - 1]) * (thr[i] - lo) / (hi - lo)
    return out


# ----------------------------------------------------------------------------- the job


@dataclasses.dataclass
class JepaRun:
    """One :func:`simulate_jepa` run: per objective the save times ``t[obj]`` ``(T,)``, the strengths
    ``strength[obj]`` ``(T, d)``, the measured learning times, the closed forms (aligned start) and the
    paper's formula (JEPA); ``training[obj]`` holds SGD against the flow when it was asked for."""

    params: dict
    t: dict
    strength: dict
    predictor_diag: dict
    measured: dict
    closed_form: dict
    plateau: dict
    paper: np.ndarray
    settled: dict
    complete: dict
    training: dict = dataclasses.field(default_factory=dict)

    @property
    def objectives(self) -> tuple[str, ...]:
        return tuple(self.t)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"lam": np.asarray(self.params["lam"]), "rho": np.asarray(self.params["rho"]),
               "paper_critical_time": self.paper}
        for o in self.objectives:
            out.update({f"{o}_t": self.t[o], f"{o}_strength": self.strength[o], f"{o}_predictor_diag":
                        self.predictor_diag[o], f"{o}_learning_time": self.measured[o],
                        f"{o}_plateau": self.plateau[o]})
            if self.closed_form.get(o) is not None:
                out[f"{o}_learning_time_closed_form"] = self.closed_form[o]
            if o in self.training:
                tr = self.training[o]
                out.update({f"{o}_sgd_t": tr["t"], f"{o}_sgd_strength": tr["strength"],
                            f"{o}_sgd_learning_time": tr["times"]})
        return out

    def summary(self) -> dict:
        p = self.params
        lam, rho = np.asarray(p["lam"]), np.asarray(p["rho"])
        out = {"params": p, "complete": all(self.complete.values()), "objectives": {}}
        for o in self.objectives:
            m = self.measured[o]
            rec = {"learning_time": m.tolist(), "order": order(m).tolist(),
                   "discordance_with_lambda": discordance(m, lam), "discordance_with_rho": discordance(m, rho),
                   "max_settled_change": float(np.max(self.settled[o])), "complete": bool(self.complete[o])}
            cf = self.closed_form.get(o)
            if cf is not None:
                rec["end_gap_to_plateau"] = float(np.max(np.abs(self.strength[o][-1] / self.plateau[o] - 1.0)))
                rec["closed_form"] = cf.tolist()
                rec["closed_form_max_relative_error"] = float(np.max(np.abs(m - cf) / cf))
            if o == "jepa":
                rec["paper_formula"] = self.paper.tolist()
                with np.errstate(divide="ignore", invalid="ignore"):
                    rec["paper_over_measured"] = (self.paper / m).tolist()
            if o in self.training:
                tr = self.training[o]
                mean = np.nanmean(tr["times"], axis=0)
                rec["sgd"] = {"lr": tr["lr"], "batch": tr["batch"], "seeds": int(tr["times"].shape[0]),
                              "learning_time_mean": mean.tolist(),
                              "max_relative_difference_from_flow": float(np.nanmax(np.abs(mean - m) / m)),
                              "order": order(mean).tolist()}
            out["objectives"][o] = rec
        if {"jepa", "mae"} <= set(self.objectives):
            out["jepa_mae_order_agreement"] = 1.0 - _pair_disagreement(self.measured["jepa"], self.measured["mae"])
        return out


def _pair_disagreement(t1, t2) -> float:
    """Fraction of feature pairs that the two runs learn in opposite orders."""
    t1, t2 = np.asarray(t1), np.asarray(t2)
    n = t1.size
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    return sum((t1[i] < t1[j]) != (t2[i] < t2[j]) for i, j in pairs) / len(pairs)


def simulate_jepa(lam=DEFAULT_LAM, rho=DEFAULT_RHO, depth: int = DEFAULTS["depth"], eps: float = DEFAULTS["eps"], *,
                  objectives: Sequence[str] = OBJECTIVES, init: str = "aligned", seed: int = 0, target: str = "online",
                  beta: float = 1.0, frac: float = FRAC, n_save: int = 1001, t1: float | dict | None = None,
                  rtol: float = TIGHT["rtol"], atol: float = TIGHT["atol"], train: dict | None = None,
                  progress=None) -> JepaRun:
    """Both objectives from the same balanced small start: the flows of the losses solved to the end of
    learning, every feature's learning time (:func:`learning_times`, at ``frac`` of its final strength),
    the closed forms (aligned start) and [L24]'s critical-time formula.

    ``train={"lr": ..., "steps": ..., "batch": ..., "seeds": ...}`` also trains both losses by SGD on
    minibatch covariances of sampled views (:func:`minibatch_statistics`; needs ``rho <= 1``) from the
    same start, ``steps`` defaulting to the flow's run length over ``lr``.
    """
    lam, rho = _features(lam, rho)
    check_param("frac", frac, lower=0.0, upper=1.0, lower_open=True, upper_open=True)
    objectives = tuple(objectives)
    for o in objectives:
        _check_objective(o)
    if not isinstance(n_save, (int, np.integer)) or n_save < 3:
        raise DynsimInputError("n_save", f"n_save must be an integer >= 3 (got {n_save!r})")
    params = {"lam": lam.tolist(), "rho": rho.tolist(), "depth": int(depth), "eps": float(eps), "init": init,
              "seed": int(seed), "target": target, "frac": float(frac), "n_save": int(n_save), "rtol": rtol,
              "atol": atol}
    closed = init == "aligned" and target == "online"
    run = dict(t={}, strength={}, predictor_diag={}, measured={}, closed_form={}, plateau={}, settled={}, complete={})
    training = {}
    for o in objectives:
        if progress:
            progress(f"{o}: solving the flow (L = {depth})")
        flow = jepa_flow(lam, rho, depth, target=target, beta=beta) if o == "jepa" else mae_flow(lam, rho, depth)
        y0 = balanced_start(flow, eps, init=init, seed=seed)
        T = (t1.get(o) if isinstance(t1, dict) else t1) or run_length(o, lam, rho, depth, eps) * (
            1.0 if closed else 3.0)
        ts = np.linspace(0.0, float(T), int(n_save))
        sol = solve(flow, y0, ts, rtol=rtol, atol=atol, max_steps=1_000_000)
        lt = learning_times(flow, sol, frac, rtol=rtol, atol=atol, max_steps=1_000_000)
        run["t"][o], run["strength"][o] = ts, strengths(flow, np.asarray(sol.ys))
        run["predictor_diag"][o] = np.diagonal(predictor(flow, np.asarray(sol.ys)), axis1=-2, axis2=-1)
        run["measured"][o], run["settled"][o] = lt["times"], lt["settled"]
        run["plateau"][o] = plateau(o, rho, depth)
        run["complete"][o] = bool(sol.complete) and bool(np.all(np.isfinite(lt["times"])))
        run["closed_form"][o] = critical_times(o, lam, rho, depth, eps, lt["threshold"]) if closed else None
        if train is not None:
            if progress:
                progress(f"{o}: SGD on sampled views")
            training[o] = _train(flow, y0, lam, rho, ts, train, frac, seed)
    paper = paper_critical_time(lam, rho, depth, eps)
    return JepaRun(params, run["t"], run["strength"], run["predictor_diag"], run["measured"], run["closed_form"],
                   run["plateau"], paper, run["settled"], run["complete"], training)


def _train(flow, y0, lam, rho, ts, train: dict, frac: float, seed: int) -> dict:
    unknown = set(train) - {"lr", "steps", "batch", "seeds", "log_every"}
    if unknown:
        raise DynsimInputError("train", "train takes lr, steps, batch, seeds, log_every (got "
                                        f"{', '.join(sorted(unknown))})")
    lr = float(train.get("lr", 0.05))
    steps = int(train.get("steps", max(1, round(float(ts[-1]) / lr))))
    log_every = int(train.get("log_every", max(1, steps // 400)))
    steps -= steps % log_every
    batch = int(train.get("batch", 256))
    seeds = int(train.get("seeds", 4))
    tr = train_gradient_flow(flow, y0, minibatch_statistics(lam, rho), lr=lr, steps=steps, batch=batch, seeds=seeds,
                             seed=seed, log_every=log_every)
    return {"t": tr.ts, "strength": strengths(flow, tr.ys), "times": training_times(flow, tr.ts, tr.ys, frac),
            "lr": lr, "batch": batch, "steps": steps}
