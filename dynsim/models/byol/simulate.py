"""The ``simulate`` job for the non-contrastive family: build a named model of [T21, W21], integrate
it from a random start, and report what the papers look at along the trajectory.

Reported along a solution (:class:`Simulation`):

- ``s_j``: eigenvalues of ``F = W X W^T`` (sorted, largest first);
- ``p_j = u_j^T W_p u_j``: ``W_p`` in ``F``'s eigenbasis (its eigenvalues once aligned);
- ``||[F, W_p]||_F`` and, where Theorem 3's assumptions hold (``X = I``, ``X' = sigma^2 I``,
  symmetric ``W_p``, ``W_a = tau W``), ``lambda_0 = inf_t lambda_min(K)`` and the bound
  ``e^{-2 lambda_0 t} ||[F, W_p](0)||_F``;
- Theorem 1's drift ``||e^{2 eta t} (W W^T - W_p^T W_p / alpha_p) - C(0)||_F``, relative to
  ``||W W^T||_F + ||W_p^T W_p||_F / alpha_p`` at ``t = 0`` (linear predictor with stop-gradient);
- the asymmetric part ``||W_p - W_p^T||_F / ||W_p||_F``; ``corr(W_a, W)`` and ``tau`` (EMA);
- for the nuisance model ``||W P_S||_F`` and ``||W P_B||_F`` with [W21]'s predicted limit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from dynsim._core.errors import DynsimInputError
from dynsim.models.byol.system import (
    RULES,
    VARIANTS,
    DirectSetBYOL,
    LinearBYOL,
    SymmetrizedBYOL,
    check_covariance,
    directset,
    isotropic,
    nuisance,
    spectrum,
    frobenius,
    theorem3_K,
)
from dynsim._core.solve import Solution, check_solver_options, solve
from dynsim._core.system import check_param, check_init_scale

MODELS = (*VARIANTS, "symmetrized", *RULES, "scalar")
#: DirectSet's exponent: W_p = F_hat^alpha overflows float64 for eigenvalues above 1 long before
#: alpha is large ([W21] studies 1/2, 1 and 2), so larger values are refused rather than integrated.
ALPHA_MAX = 8.0
DATA = ("isotropic", "nuisance", "spectrum")
COLLAPSE_RTOL = 1e-6  # an eigenvalue of F below this fraction of the largest at t = 0 counts as collapsed

#: Per-model defaults where the families differ (everything else is shared, see :func:`simulate`).
FAMILY_DEFAULTS = {
    "byol": dict(data="isotropic", sigma=0.5, eta=0.01, beta=0.4, t1=200.0),
    "direct": dict(data="nuisance", sigma=1.0, eta=0.2, beta=0.4, t1=100.0),
    "scalar": dict(sigma=1.0, eta=0.0, beta=1.0, t1=200.0),  # Fig. 10: alpha_p = beta = 1
}


def family(model: str) -> str:
    if model in RULES:
        return "direct"
    return "scalar" if model == "scalar" else "byol"


@dataclasses.dataclass
class Simulation:
    """One simulated model: its system, solution, the quantities along it and a summary."""

    model: str
    system: object
    solution: Solution
    params: dict
    series: dict[str, np.ndarray]
    notes: dict[str, str]
    P_S: np.ndarray | None = None

    @property
    def ts(self) -> np.ndarray:
        return self.series["t"]

    def summary(self) -> dict:
        sr, sol = self.series, self.solution
        ok = np.isfinite(sr["t"])
        last = int(np.flatnonzero(ok)[-1])
        s0, s1 = sr["s"][0], sr["s"][last]
        out = {
            "model": self.model,
            **sol.outcome(),
            "eig_F_initial": s0,
            "eig_F_final": s1,
            "collapsed_dims": int(np.sum(s1 < COLLAPSE_RTOL * max(s0.max(), 1e-300))),
            "dims": int(s1.size),
        }
        if "p" in sr:
            out["eig_W_p_final"] = sr["p"][last]
            out["asymmetry_final"] = float(sr["asymmetry"][last])
        out["commutator_initial"] = float(sr["commutator"][0])
        out["commutator_final"] = float(sr["commutator"][last])
        if "bound" in sr:
            valid = ok & (sr["bound"] > 0)
            out["theorem3"] = {
                "lambda_0": float(sr["lambda0"]),
                "applies": bool(sr["lambda0"] > 0),
                "max_commutator_over_bound": float(np.max(sr["commutator"][valid] / sr["bound"][valid])),
            }
        else:
            out["theorem3"] = {"applies": False, "why": self.notes["theorem3"]}
        if "drift" in sr:
            out["theorem1_max_relative_drift"] = float(np.nanmax(sr["drift"]))
        else:
            out["theorem1"] = self.notes["theorem1"]
        if "corr" in sr:
            out["corr_Wa_W_min"] = float(np.nanmin(sr["corr"]))
            out["corr_Wa_W_final"] = float(sr["corr"][last])
            out["tau_final"] = float(sr["tau"][last])
        if "norm_S" in sr:
            n_s, n_b = float(sr["norm_S"][last]), float(sr["norm_B"][last])
            out["nuisance"] = {"norm_W_P_S": n_s, "norm_W_P_B": n_b,
                               "snr": n_s / n_b if n_b > 0 else math.inf,
                               "predicted": self.notes.get("limit", "no closed form for this model")}
            if "limit" in sr:
                out["nuisance"]["predicted_singular_value"] = float(sr["limit"])
                out["nuisance"]["max_error_singular_values_on_S"] = float(
                    np.max(np.abs(sr["sv_S"][last] - sr["limit"])))
        if "manifold" in sr:
            out["fixed_point_manifold_residual_final"] = float(sr["manifold"][last])
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """The series, and the weights at the start and at the end (``W0_NAME``, ``W_NAME`` for each of
        the system's matrices, e.g. ``W``, ``W_p``, ``W_a``; ``state0``/``state_final`` flattened), the
        data covariances, so that a run can be continued from its record."""
        out = {k: np.asarray(v) for k, v in self.series.items()}
        ys = np.asarray(self.solution.ys)
        out["state0"], out["state_final"] = ys[0], np.asarray(self.solution.y_final)
        unpack = getattr(self.system, "unpack", None)
        if unpack is not None:
            for prefix, y in (("W0_", ys[0]), ("W_", out["state_final"])):
                for name, m in unpack(y).items():
                    out[prefix + name] = np.asarray(m)
        for name in ("X", "X_aug"):
            if hasattr(self.system, name):
                out["cov_" + name] = np.asarray(getattr(self.system, name))
        return out


# ----------------------------------------------------------------------------- building models


def _covariances(data, n1, sigma, dim_b, decay, cov, seed):
    """``(X, X', P_S, P_B, isotropic)`` for the ``data`` model, or the user's matrices."""
    if cov is not None:
        x, xa = cov
        x = check_covariance("X", np.asarray(x, float))
        xa = check_covariance("X_aug", np.asarray(xa, float), x.shape[0])
        return x, xa, None, None, False
    if data not in DATA:
        raise DynsimInputError("data", f"data must be one of {DATA} (got {data!r})")
    if data == "isotropic":
        x, xa = isotropic(n1, sigma)
        return x, xa, None, None, True
    if data == "nuisance":
        x, xa, ps, pb = nuisance(n1, n1 // 2 if dim_b is None else dim_b, sigma)
        return x, xa, ps, pb, False
    check_param("decay", decay, lower=0.0, lower_open=True, upper=1.0)
    x, xa = spectrum(decay ** np.arange(n1), sigma, seed=seed)
    return x, xa, None, None, False


def applicable(model: str, data: str | None = None, *, user_cov: bool = False, rho: float = 0.0,
               freq: int = 1) -> tuple[str, ...]:
    """The options of :func:`build` that change the run of ``model`` (with ``data``, a user's
    covariances, and DirectSet's ``rho`` and ``freq``); any other given option is refused."""
    if model == "scalar":
        return ("alpha_p", "eta", "beta")
    opts = ["n2", "cov", "eta"]
    data = FAMILY_DEFAULTS[family(model)].get("data") if data is None else data
    if not user_cov:  # the user's X, X' fix the dimension, the data and the augmentation
        opts += ["n1", "data", "sigma", *{"nuisance": ["dim_b"], "spectrum": ["decay"]}.get(data, [])]
    if model == "symmetrized":
        return (*opts, "alpha_p", "beta", "tau")
    if model in RULES:
        opts += ["eps", "rho", "freq", "normalisation"] + (["alpha"] if model == "directset" else [])
        return (*opts, *(["lr"] if (rho or 0) > 0 or (freq or 1) > 1 else []))
    predictor, target, _ = VARIANTS[model]
    return (*opts, *(["alpha_p"] if predictor != "identity" else []), *(["beta"] if target == "ema" else []))


def build(model: str, *, n1: int | None = None, n2: int | None = None, data: str | None = None,
          sigma: float | None = None, dim_b: int | None = None, decay: float | None = None,
          cov: tuple[np.ndarray, np.ndarray] | None = None, alpha_p: float | None = None,
          eta: float | None = None, beta: float | None = None, tau: float | None = None,
          alpha: float | None = None, eps: float | None = None, rho: float | None = None,
          lr: float | None = None, freq: int | None = None, normalisation: str | None = None, seed: int = 0,
          strict: bool = True):
    """The system of a named model, and the resolved parameters (for the record). With ``strict``,
    an option given (not ``None``) that does not change this model's run (:func:`applicable`) is
    refused; without, it is dropped (for callers that pass one option set to several models)."""
    if model not in MODELS:
        raise DynsimInputError(None, f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    given = dict(n1=n1, n2=n2, data=data, sigma=sigma, dim_b=dim_b, decay=decay, cov=cov, alpha_p=alpha_p, eta=eta,
                 beta=beta, tau=tau, alpha=alpha, eps=eps, rho=rho, lr=lr, freq=freq, normalisation=normalisation)
    ok = applicable(model, data, user_cov=cov is not None, rho=rho or 0.0, freq=freq or 1)
    for name, value in given.items():
        if value is not None and name not in ok and strict:
            with_ = (" with your covariances (cov: they fix n1, the data and sigma)" if cov is not None
                     else f" with data {data!r}" if data else "")
            raise DynsimInputError(name, f"does not apply to {model}{with_} (its options: {', '.join(ok)})")
    n1 = 8 if n1 is None else n1
    alpha_p = 1.0 if alpha_p is None else alpha_p
    tau = 1.0 if tau is None else tau
    decay = 0.7 if decay is None else decay
    eps, rho, lr = (0.0 if eps is None else eps), (0.0 if rho is None else rho), (0.01 if lr is None else lr)
    freq = 1 if freq is None else freq
    normalisation = "paper" if normalisation is None else normalisation
    if alpha is not None:
        check_param("alpha", alpha, lower=0.0, upper=ALPHA_MAX, lower_open=True)
    alpha = 1.0 if alpha is None else alpha
    if model not in MODELS:
        raise DynsimInputError(None, f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    d = FAMILY_DEFAULTS[family(model)]
    data = d.get("data") if data is None else data
    sigma = d["sigma"] if sigma is None else sigma
    eta = d["eta"] if eta is None else eta
    beta = d["beta"] if beta is None else beta
    check_param("sigma", sigma, lower=0.0)
    check_param("eta", eta, lower=0.0)
    params = dict(model=model, alpha_p=alpha_p, eta=eta, beta=beta)
    if model == "scalar":  # Fig. 10 of [T21]: l_d = X = 1/2, l_s = X + X' = 1
        m = LinearBYOL(n1=1, n2=1, X=[[0.5]], X_aug=[[0.5]], alpha_p=alpha_p, eta=eta, beta=beta)
        return m, {**params, "l_d": 0.5, "l_s": 1.0}, None, None
    if cov is None:
        if not isinstance(n1, (int, np.integer)) or n1 < 1:
            raise DynsimInputError("n1", f"n1 must be an integer >= 1 (got {n1!r})")
    x, xa, ps, pb, iso = _covariances(data, n1, sigma, dim_b, decay, cov, seed)
    n1 = x.shape[0]
    n2 = n1 if n2 is None else n2
    if not isinstance(n2, (int, np.integer)) or n2 < 1:
        raise DynsimInputError("n2", f"n2 must be an integer >= 1 (got {n2!r})")
    params.update(n1=n1, n2=n2, data="user" if cov is not None else data)
    if cov is None:
        params["sigma"] = sigma
    if data == "nuisance" and cov is None:
        params["dim_b"] = int(pb.trace())
    if data == "spectrum" and cov is None:
        params["decay"] = decay
    if model == "symmetrized":
        if not iso:
            raise DynsimInputError("data", "the symmetrized system assumes X = I, X' = sigma^2 I (data isotropic)")
        m = SymmetrizedBYOL(n=n2, sigma=sigma, alpha_p=alpha_p, eta=eta, beta=beta, tau=tau, ema=True)
        return m, {**params, "tau0": tau}, None, None
    if model in RULES:
        m = directset(model, alpha=alpha if model == "directset" else RULES[model], eps=eps, rho=rho, lr=lr,
                      eta=eta, beta=beta, freq=freq, normalisation=normalisation, n1=n1, n2=n2, X=x, X_aug=xa,
                      isotropic=iso, target="online")
        params.pop("alpha_p")
        params.pop("beta")
        params.update(alpha=float(m.alpha), eps=eps, rho=rho, lr=lr, freq=freq, normalisation=normalisation,
                      target="online")
        return m, params, ps, pb
    predictor, target, sg = VARIANTS[model]
    if predictor == "identity":
        params.pop("alpha_p")
    if target != "ema":
        params.pop("beta")
    m = LinearBYOL(n1=n1, n2=n2, X=x, X_aug=xa, alpha_p=alpha_p, eta=eta, beta=beta, tau=tau,
                   predictor=predictor, target=target, stop_gradient=sg, isotropic=iso)
    return m, params, ps, pb


def initial_state(system, seed: int, init_scale: float):
    """A random start: ``W ~ init_scale N(0, 1/n1)``, ``W_p ~ init_scale N(0, 1/n2)`` (symmetrized
    where the model needs it), ``W_a(0) = W(0)``; for the symmetrized system ``F(0) = W W^T``."""
    check_init_scale(init_scale)
    rng = np.random.default_rng(seed)
    if isinstance(system, SymmetrizedBYOL):
        n = system.n
        w = init_scale * rng.normal(size=(n, n)) / math.sqrt(n)
        wp = init_scale * rng.normal(size=(n, n)) / math.sqrt(n)
        return system.pack(W_p=0.5 * (wp + wp.T), F=w @ w.T, tau=np.array([float(system.tau)]))
    w = init_scale * rng.normal(size=(system.n2, system.n1)) / math.sqrt(system.n1)
    if isinstance(system, DirectSetBYOL):
        return system.initial_state(w)
    wp = init_scale * rng.normal(size=(system.n2, system.n2)) / math.sqrt(system.n2)
    if system.predictor == "symmetric":
        wp = 0.5 * (wp + wp.T)
    mats = {"W": w, "W_a": w, "W_p": wp}
    return system.pack(**{name: mats[name] for name, _ in system.blocks()})


# ----------------------------------------------------------------------------- reports


def _frob(a):
    return np.array(frobenius(a))  # a writable numpy copy


def report(system, sol: Solution, ps=None, pb=None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The quantities of the module docstring along ``sol`` (a single trajectory), as arrays over
    the save times (non-finite after an early stop), and notes on what does not apply."""
    ts = np.asarray(sol.ts)
    ys = np.asarray(sol.ys)
    ok = np.isfinite(ts)
    ys = np.where(ok[:, None], ys, np.nan)
    m = {k: np.asarray(v) for k, v in system.unpack(ys).items()}
    notes: dict[str, str] = {}
    series: dict[str, np.ndarray] = {"t": ts}
    if isinstance(system, SymmetrizedBYOL):
        f, wp = m["F"], m["W_p"]
        tau = m["tau"][:, 0]
    else:
        f = np.asarray(system.F(ys))
        wp = np.asarray(system.predictor_of(m))
        tau = np.asarray(system.ema_ratio(ys)) if isinstance(system, LinearBYOL) else None
    f = np.nan_to_num(f)
    s, u = np.linalg.eigh(0.5 * (f + np.swapaxes(f, -1, -2)))
    s, u = s[:, ::-1], u[:, :, ::-1]
    s[~ok] = np.nan
    series["s"] = s
    has_predictor = not (isinstance(system, LinearBYOL) and system.predictor == "identity")
    if has_predictor:
        series["p"] = np.einsum("tij,tik,tkj->tj", u, np.nan_to_num(wp), u)
        series["p"][~ok] = np.nan
        series["asymmetry"] = _frob(wp - np.swapaxes(wp, -1, -2)) / np.maximum(_frob(wp), 1e-300)
    series["commutator"] = _frob(f @ wp - wp @ f)
    series["commutator"][~ok] = np.nan

    # Theorem 3: assumptions 1-3 (isotropic data, W_a = tau W, symmetric W_p).
    iso = isinstance(system, SymmetrizedBYOL) or getattr(system, "isotropic", False)
    sym_ratio = isinstance(system, SymmetrizedBYOL) or (
        isinstance(system, LinearBYOL) and system.predictor == "symmetric" and system.target != "ema")
    if iso and sym_ratio:
        sigma = float(system.sigma) if isinstance(system, SymmetrizedBYOL) else math.sqrt(float(system.X_aug[0, 0]))
        K = np.asarray(theorem3_K(np.nan_to_num(wp), f, np.nan_to_num(tau), sigma, float(system.alpha_p),
                                  float(system.eta)))
        lam = np.linalg.eigvalsh(0.5 * (K + np.swapaxes(K, -1, -2)))[:, 0]
        lam0 = float(np.min(lam[ok]))
        series["lambda_min_K"] = np.where(ok, lam, np.nan)
        series["lambda0"] = np.asarray(lam0)
        series["bound"] = np.exp(-2.0 * lam0 * (ts - ts[0])) * series["commutator"][0]
    else:
        why = []
        if not iso:
            why.append("data not isotropic")
        if not sym_ratio:
            why.append("W_p not symmetric or W_a not tau W" if isinstance(system, LinearBYOL)
                       else "W_p set by a rule, not by Theorem 3's flow")
        notes["theorem3"] = "Theorem 3 does not apply: " + ", ".join(why)

    # Theorem 1: linear predictor trained with stop-gradient.
    if isinstance(system, LinearBYOL) and system.predictor == "linear" and system.stop_gradient:
        series["drift"] = np.asarray(system.theorem1_drift(ys, ts))
    else:
        notes["theorem1"] = "Theorem 1 needs a trained linear (unconstrained) predictor with stop-gradient"

    if tau is not None and isinstance(system, LinearBYOL) and system.target == "ema":
        wa, w = m["W_a"], m["W"]
        series["corr"] = np.sum(wa * w, axis=(-2, -1)) / (_frob(wa) * _frob(w))
        series["tau"] = tau
    elif isinstance(system, SymmetrizedBYOL):
        series["tau"] = tau
    if ps is not None:
        w = m["W"]
        series["norm_S"], series["norm_B"] = _frob(w @ ps), _frob(w @ pb)
        series["sv_S"] = np.linalg.svd(np.nan_to_num(w @ ps), compute_uv=False)[:, : int(round(ps.trace()))]
        if isinstance(system, DirectSetBYOL):
            notes["limit"] = _limit_note(system, pb)
            if system.normalisation == "paper" and float(system.eps) == 0 and np.isfinite(float(system.limit())):
                series["limit"] = np.asarray(float(system.limit()))
    if isinstance(system, LinearBYOL) and system.n1 == 1 and system.n2 == 1 and "W_a" in m:
        l_d, l_s = float(system.X[0, 0]), float(system.X[0, 0] + system.X_aug[0, 0])
        series["manifold"] = np.abs(m["W_p"][:, 0, 0] * m["W"][:, 0, 0] * l_s - m["W_a"][:, 0, 0] * l_d)
        for k in ("W_p", "W", "W_a"):
            series[k.lower()] = m[k][:, 0, 0]
    return series, notes


def _limit_note(system: DirectSetBYOL, pb) -> str:
    eta = float(system.eta)
    if system.normalisation == "code" and (eta > 0 or float(system.eps) > 0):
        return ("collapse: with the code normalisation the top direction has p = 1 + eps, so "
                "dw/dt = -w [(1 + eps) eps + eta] < 0 and W -> 0 ([W21]'s limit is for W_p = F^alpha)")
    if system.normalisation != "paper" or float(system.eps) != 0:
        return ("[W21]'s limit is for W_p = F^alpha (normalisation 'paper', eps = 0); "
                "no closed form for this rule")
    if 1 - 4 * eta < 0:
        return f"collapse: 1 - 4 eta = {1 - 4 * eta:.3g} < 0, so W -> 0 (no non-trivial fixed point)"
    sigma2 = float(np.max(np.asarray(system.X_aug)))
    c = float(system.limit())
    text = f"W -> c P_S with c = ((1 + sqrt(1 - 4 eta)) / 2)^(1/(2 alpha)) = {c:.6g}"
    if 4 * eta * (1 + sigma2) <= 1:
        text += (f"; but 4 eta (1 + sigma^2) = {4 * eta * (1 + sigma2):.3g} <= 1: the nuisance directions have a "
                 "stable non-zero point too, and vanish only if they start below its threshold")
    return text


# ----------------------------------------------------------------------------- the job


def simulate(model: str, *, seed: int = 0, init_scale: float = 1.0, t1: float | None = None,
             n_save: int = 201, rtol: float = 1e-8, atol: float = 1e-10, max_steps: int = 200_000,
             progress: Callable[[str], None] | None = None, **model_options) -> Simulation:
    """Build ``model`` (see :data:`MODELS` and :func:`build`), integrate it from a random start
    (:func:`initial_state`) to ``t1`` and report the quantities of [T21]/[W21] along the way."""
    system, params, ps, pb = build(model, seed=seed, **model_options)
    t1 = FAMILY_DEFAULTS[family(model)]["t1"] if t1 is None else t1
    check_param("t1", t1, lower=0.0, lower_open=True)
    check_solver_options(rtol, atol, max_steps)
    if not isinstance(n_save, int) or n_save < 2:
        raise DynsimInputError("n_save", f"n_save must be an integer >= 2 (got {n_save!r})")
    y0 = initial_state(system, seed, init_scale)
    if progress:
        progress(f"integrating {model} ({system.dim} state variables) to t = {t1:g}")
    sol = solve(system, y0, np.linspace(0.0, t1, n_save), rtol=rtol, atol=atol, max_steps=max_steps)
    series, notes = report(system, sol, ps, pb)
    params.update(seed=seed, init_scale=init_scale, t1=t1, n_save=n_save, rtol=rtol, atol=atol, max_steps=max_steps)
    return Simulation(model, system, sol, params, series, notes, ps)
