"""``dynsim check``: the claims of the papers, each a small numerical experiment with a measured
number, a stated tolerance and a verdict.

Verdicts: ``reproduced`` (measured within tolerance), ``not reproduced`` (it is not: the numbers
say by how much) and ``outside conditions`` (the experiment left the theorem's hypotheses, so it
says nothing about the claim). Tolerances are fixed with the claim, never tuned to make it pass.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from dynsim.models.eigen.system import EigenDynamics2D
from dynsim._core.errors import DynsimInputError
from dynsim.models.byol.system import (
    LinearBYOL,
    SymmetrizedBYOL,
    aligned_start,
    commutator_norm,
    directset,
    eigenpairs,
    frobenius,
    isotropic,
    nuisance,
    spectrum,
)
from dynsim._core.solve import solve

REPRODUCED, NOT_REPRODUCED, OUTSIDE = "reproduced", "not reproduced", "outside conditions"
TIGHT = dict(rtol=1e-11, atol=1e-13)  # solver tolerances for checks against closed forms


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one experiment measured. ``measured <= tolerance`` is the claim, unless ``verdict``
    is forced (outside the conditions, or a comparison that is not a tolerance)."""

    measured: float
    detail: str
    verdict: str | None = None
    numbers: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Claim:
    name: str
    source: str
    statement: str
    metric: str
    tolerance: float
    experiment: Callable[[], Outcome]


@dataclasses.dataclass(frozen=True)
class CheckResult:
    name: str
    source: str
    statement: str
    metric: str
    measured: float
    tolerance: float
    verdict: str
    detail: str
    numbers: dict
    runtime_s: float

    def record(self) -> dict:
        return dataclasses.asdict(self)


REGISTRY: dict[str, Claim] = {}


def claim(name: str, source: str, statement: str, metric: str, tolerance: float):
    def register(fn):
        REGISTRY[name] = Claim(name, source, statement, metric, tolerance, fn)
        return fn

    return register


def run_claim(c: Claim) -> CheckResult:
    """Run a claim's experiment and judge it (a NaN measurement never reproduces a claim)."""
    start = time.perf_counter()
    out = c.experiment()
    ok = math.isfinite(out.measured) and out.measured <= c.tolerance
    verdict = out.verdict or (REPRODUCED if ok else NOT_REPRODUCED)
    return CheckResult(c.name, c.source, c.statement, c.metric, float(out.measured), c.tolerance, verdict,
                       out.detail, out.numbers, round(time.perf_counter() - start, 3))


def run_check(name: str) -> CheckResult:
    """Run one registered claim's experiment and judge it."""
    if name not in REGISTRY:
        raise DynsimInputError(None, f"no check named {name!r}; `dynsim check --list` lists them")
    return run_claim(REGISTRY[name])


def run_checks(names=None, progress: Callable[[str], None] | None = None) -> list[CheckResult]:
    names = list(REGISTRY) if not names else list(names)
    for n in names:
        if n not in REGISTRY:
            raise DynsimInputError(None, f"no check named {n!r}; `dynsim check --list` lists them")
    results = []
    for n in names:
        if progress:
            progress(n)
        results.append(run_check(n))
    return results


# ----------------------------------------------------------------------------- helpers


def _random_psd(n, seed, scale=1.0, floor=0.0):
    a = np.random.default_rng(seed).normal(size=(n, n))
    return scale * (a @ a.T) / n + floor * np.eye(n)


def _random_state(m, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    mats = {name: scale * rng.normal(size=shape) / math.sqrt(shape[-1]) for name, shape in m.blocks()}
    if "W_a" in mats:
        mats["W_a"] = mats["W"]
    if getattr(m, "predictor", "") == "symmetric":
        mats["W_p"] = 0.5 * (mats["W_p"] + mats["W_p"].T)
    return m.pack(**mats)


# ----------------------------------------------------------------------------- [T21] section 1


def _collapse(variant: str) -> Outcome:
    from dynsim.models.byol.system import VARIANTS

    predictor, target, sg = VARIANTS[variant]
    ratios, growth = [], []
    for seed in range(5):
        X, Xa = _random_psd(4, seed, 1.0), _random_psd(4, seed + 10, 0.5, floor=0.3)
        m = LinearBYOL(n1=4, n2=4, X=X, X_aug=Xa, eta=0.01, predictor=predictor, target=target, stop_gradient=sg)
        y0 = _random_state(m, seed)
        sol = solve(m, y0, np.linspace(0.0, 100.0, 101), rtol=1e-9, atol=1e-16)
        norms = frobenius(m.unpack(sol.ys)["W"])
        ratios.append(norms[-1] / norms[0])
        growth.append(np.max(np.diff(norms)) / norms[0])
    return Outcome(max(ratios), f"max over 5 random inits and covariances (X' >= 0.3 I, eta = 0.01) of "
                                f"||W(100)||/||W(0)|| = {max(ratios):.2e}; ||W|| never grew "
                                f"(largest step {max(growth):.1e})" if max(growth) <= 1e-12 else
                   f"||W|| grew by {max(growth):.2e} somewhere", numbers={"ratios": ratios})


@claim("no-predictor-collapse", "[T21] Sec. 1",
       "Without a predictor (W_p = I) and without EMA, dW/dt = -(X' + eta I) W: ||W|| -> 0 from any init.",
       "||W(t=100)||_F / ||W(0)||_F, worst of 5 random inits", 1e-6)
def _no_predictor():
    return _collapse("no-predictor")


@claim("no-stopgrad-collapse", "[T21] Sec. 1",
       "Without stop-gradient the flow is -[X' (x) (W_p^T W_p + I) + X (x) Wt_p^T Wt_p + eta I] vec W (PSD): "
       "||W|| -> 0 from any init.",
       "||W(t=100)||_F / ||W(0)||_F, worst of 5 random inits", 1e-6)
def _no_stopgrad():
    return _collapse("no-stopgrad")


@claim("conserved-quantity", "[T21] Theorem 1",
       "W W^T - alpha_p^{-1} W_p^T W_p = e^{-2 eta t} C for any X, X', EMA rate (the appendix drops alpha_p^{-1}).",
       "max_t ||e^{2 eta t} Q(t) - Q(0)||_F / (||W W^T||_F + ||W_p^T W_p||_F / alpha_p) at t = 0", 1e-8)
def _conserved():
    X, Xa = spectrum([2.0, 1.0, 0.5, 0.25, 0.1], 0.6, seed=1)
    worst, typo = 0.0, math.inf
    for seed in range(3):
        m = LinearBYOL(n1=5, n2=4, X=X, X_aug=Xa, alpha_p=1.7, eta=0.03, beta=0.4)
        y0 = _random_state(m, seed)
        ts = np.linspace(0.0, 40.0, 81)
        sol = solve(m, y0, ts, **TIGHT)
        worst = max(worst, float(np.max(m.theorem1_drift(sol.ys, ts))))
        typo = min(typo, float(np.max(m.theorem1_drift(sol.ys, ts, alpha_p=1.0))))  # the appendix's form
    return Outcome(worst, f"relative drift {worst:.2e} (3 random starts, X with spectrum, alpha_p = 1.7, "
                          f"eta = 0.03); without the 1/alpha_p (the appendix's typo) it drifts by {typo:.2f}",
                   numbers={"drift": worst, "drift_without_alpha_p": typo})


# ----------------------------------------------------------------------------- [T21] sections 2-3


@claim("alignment-bound", "[T21] Theorem 3",
       "||[F, W_p](t)||_F <= e^{-2 lambda_0 t} ||[F, W_p](0)||_F whenever lambda_0 = inf_t lambda_min(K) > 0 "
       "(the appendix's max_t is a typo).",
       "max_t ||[F, W_p](t)||_F / bound(t) - 1 over 3 random starts", 1e-6)
def _alignment():
    worst, lams = -math.inf, []
    for seed in range(3):
        sym = SymmetrizedBYOL(n=4, sigma=1.0, alpha_p=1.0, eta=0.1, tau=1.0)
        rng = np.random.default_rng(seed)
        a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
        y0 = sym.pack(W_p=0.3 * (a + a.T) + 0.5 * np.eye(4), F=0.2 * (b @ b.T))
        ts = np.linspace(0.0, 20.0, 4001)
        sol = solve(sym, y0, ts, rtol=1e-11, atol=1e-14)
        st = sym.unpack(sol.ys)
        comm = np.asarray(commutator_norm(st["F"], st["W_p"]))
        lam0 = float(np.linalg.eigvalsh(np.asarray(sym.K(sol.ys)))[:, 0].min())
        lams.append(lam0)
        if lam0 <= 0:
            return Outcome(math.nan, f"lambda_0 = {lam0:.3g} <= 0 for seed {seed}: the bound says nothing", OUTSIDE)
        bound = np.exp(-2 * lam0 * ts) * comm[0]
        ok = bound > 1e-9 * comm[0]  # below that the commutator is integration noise
        worst = max(worst, float(np.max(comm[ok] / bound[ok]) - 1.0))
    return Outcome(max(worst, 0.0), f"lambda_0 in [{min(lams):.3f}, {max(lams):.3f}] > 0 (eta = 0.1, sigma = 1); "
                                    f"commutator / bound - 1 <= {worst:.2e}; the commutator fell "
                                    f"by {comm[-1] / comm[0]:.1e} by t = 20",
                   numbers={"lambda_0": lams, "max_excess": worst})


def _eigen_reference(eta, sigma, alpha_p, tau, p0, s0, ts):
    eig = EigenDynamics2D(eta=eta, sigma=sigma, tau=tau, alpha_p=alpha_p)
    ref = solve(eig, np.stack([p0, s0], -1), ts, **TIGHT)
    return np.asarray(ref.ys[..., 0]).T, np.asarray(ref.ys[..., 1]).T


@claim("decoupled-aligned", "[T21] Sec. 3",
       "From an aligned start (W_p, F sharing eigenvectors, W_a = tau W, X = I, X' = sigma^2 I) the eigenvalues "
       "of the full matrix dynamics follow the decoupled ODEs exactly.",
       "max_t,j |p_j - p_j^ODE| + |s_j - s_j^ODE|, Lemma 1 (W_p, W) with n1 = 6, n2 = 4", 1e-8)
def _aligned():
    eta, sigma, tau, alpha = 0.02, 0.8, 0.9, 1.3
    p0, s0 = np.array([0.6, 0.3, 0.05, -0.1]), np.array([0.5, 0.2, 0.02, 0.4])
    wp, w, u = aligned_start(p0, s0, n1=6, seed=3)
    X, Xa = isotropic(6, sigma)
    m = LinearBYOL(n1=6, n2=4, X=X, X_aug=Xa, alpha_p=alpha, eta=eta, tau=tau, target="fixed-ratio", isotropic=True)
    ts = np.linspace(0.0, 60.0, 61)
    sol = solve(m, m.pack(W_p=wp, W=w), ts, **TIGHT)
    p = np.asarray(eigenpairs(m.unpack(sol.ys)["W_p"], u))
    s = np.asarray(eigenpairs(m.F(sol.ys), u))
    p_ref, s_ref = _eigen_reference(eta, sigma, alpha, tau, p0, s0, ts)
    err = float(max(np.max(np.abs(p - p_ref)), np.max(np.abs(s - s_ref))))
    return Outcome(err, f"max deviation {err:.2e} over t in [0, 60] (eta = {eta}, sigma = {sigma}, tau = {tau}, "
                        f"alpha_p = {alpha}); final p = {np.round(p[-1], 5).tolist()}")


@claim("decoupled-random", "[T21] Sec. 3",
       "From a random start the eigenvalues of the full dynamics approach the decoupled ODEs once the "
       "eigenspaces align.",
       "max_j |s_j - s_j^ODE| / max s over t in [t_a, t_a + 40], ODE started at alignment time t_a", 1e-5)
def _random_start():
    eta, sigma, alpha = 0.1, 1.0, 1.0
    sym = SymmetrizedBYOL(n=4, sigma=sigma, alpha_p=alpha, eta=eta, tau=1.0)
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    y0 = sym.pack(W_p=0.3 * (a + a.T) + 0.5 * np.eye(4), F=0.2 * (b @ b.T))
    ts = np.linspace(0.0, 60.0, 601)
    sol = solve(sym, y0, ts, **TIGHT)
    st = sym.unpack(sol.ys)
    comm = np.asarray(commutator_norm(st["F"], st["W_p"]))
    i_a = int(np.argmax(comm <= 1e-7 * comm[0]))
    if comm[i_a] > 1e-7 * comm[0]:
        return Outcome(math.nan, "the eigenspaces did not align by t = 60", OUTSIDE)
    f_a, wp_a = np.asarray(st["F"][i_a]), np.asarray(st["W_p"][i_a])
    s_a, u = np.linalg.eigh(f_a)
    p_a = np.einsum("ij,ik,kj->j", u, wp_a, u)
    later = ts[i_a:i_a + 401] - ts[i_a]
    p_ref, s_ref = _eigen_reference(eta, sigma, alpha, 1.0, p_a, s_a, later)
    s_mat = np.linalg.eigvalsh(np.asarray(st["F"][i_a:i_a + 401]))
    err = float(np.max(np.abs(np.sort(s_ref, axis=1) - s_mat)) / np.max(s_mat))
    # Before alignment the same comparison (ODE from the raw start's eigenvalues) is far off:
    s0, u0 = np.linalg.eigh(np.asarray(st["F"][0]))
    p0 = np.einsum("ij,ik,kj->j", u0, np.asarray(st["W_p"][0]), u0)
    _, s_ref0 = _eigen_reference(eta, sigma, alpha, 1.0, p0, s0, ts[:401])
    err0 = float(np.max(np.abs(np.sort(s_ref0, axis=1) - np.linalg.eigvalsh(np.asarray(st["F"][:401]))))
                 / np.max(s_mat))
    return Outcome(err, f"aligned (||[F, W_p]|| down 1e7-fold) at t_a = {ts[i_a]:.1f}; from there the ODE matches to "
                        f"{err:.1e}, while the ODE from the unaligned start's eigenvalues is off by {err0:.2f}",
                   numbers={"t_align": float(ts[i_a]), "error_after": err, "error_unaligned": err0})


@claim("stationary-points", "[T21] Sec. 3",
       "In the full (isotropic, fixed tau) W_p/F dynamics, W_p = U diag(p) U^T, F = U diag(p^2/alpha_p) U^T with "
       "p_j in {0, p*_-, p*_+} are stationary; stable iff no p_j = p*_- (the only zero modes being rotations).",
       "number of mismatched stability predictions over 10 configurations (residuals <= 1e-12 required)", 0.0)
def _stationary():
    eta, sigma, alpha, tau, n = 0.01, 1.0, 1.0, 1.0, 3
    sym = SymmetrizedBYOL(n=n, sigma=sigma, alpha_p=alpha, eta=eta, tau=tau)
    eig = EigenDynamics2D(eta=eta, sigma=sigma, tau=tau, alpha_p=alpha)
    values = {"0": 0.0, "p-": float(eig.p_minus), "p+": float(eig.p_plus)}
    u = np.linalg.qr(np.random.default_rng(0).normal(size=(n, n)))[0]
    combos = [c for c in itertools.combinations_with_replacement(values, n)]
    # W_p and F are symmetric: linearise on that subspace (upper triangles), or the antisymmetric
    # perturbations (which no symmetric W_p, F = W W^T can make) add spurious zero modes.
    iu = np.triu_indices(n)

    def sym_field(v):
        wp, f = (jnp.zeros((n, n)).at[iu].set(x) for x in (v[: len(iu[0])], v[len(iu[0]):]))
        wp, f = wp + jnp.triu(wp, 1).T, f + jnp.triu(f, 1).T
        m = sym.unpack(sym.vector_field(0.0, sym.pack(W_p=wp, F=f)))
        return jnp.concatenate([m["W_p"][iu], m["F"][iu]])

    jac = jax.jit(jax.jacfwd(sym_field))
    field = jax.jit(sym_field)
    mismatches, worst_res, lines = 0, 0.0, []
    for combo in combos:
        p = np.array([values[k] for k in combo])
        y = np.concatenate([((u * p) @ u.T)[iu], ((u * (p**2 / alpha)) @ u.T)[iu]])
        worst_res = max(worst_res, float(np.max(np.abs(field(y)))))
        ev = np.linalg.eigvals(np.asarray(jac(y)))
        rotations = sum(1 for i, j in itertools.combinations(range(n), 2) if combo[i] != combo[j])
        zero = np.abs(ev) < 1e-9
        stable = bool(np.all(ev[~zero].real < 0)) and int(zero.sum()) == rotations
        predicted = "p-" not in combo
        mismatches += stable != predicted
        lines.append(f"{','.join(combo)}: {'stable' if stable else 'unstable'}")
    if worst_res > 1e-12:
        return Outcome(math.inf, f"a predicted stationary point has residual {worst_res:.1e}", NOT_REPRODUCED)
    return Outcome(float(mismatches), f"{len(combos)} configurations, {mismatches} mismatches, residual <= "
                                      f"{worst_res:.0e} (eta = {eta}: p*_- = {values['p-']:.6g}, p*_+ = "
                                      f"{values['p+']:.6g}); " + "; ".join(lines),
                   numbers={"configurations": lines, "max_residual": worst_res})


@claim("scalar-manifold", "[T21] Fig. 10",
       "The scalar system (l_s = 1, l_d = 1/2, alpha_p = beta = 1) converges to its manifold of fixed points "
       "w_p w = w_a l_d / l_s.",
       "max over 8 random starts of |w_p w l_s - w_a l_d| at t = 2000", 1e-8)
def _scalar():
    m = LinearBYOL(n1=1, n2=1, X=[[0.5]], X_aug=[[0.5]], alpha_p=1.0, beta=1.0)
    y0 = np.random.default_rng(0).uniform(0.2, 1.5, size=(8, 3))
    sol = solve(m, y0, np.array([0.0, 2000.0]), **TIGHT)
    wp, w, wa = np.asarray(sol.ys[:, -1]).T
    res = np.abs(wp * w * 1.0 - wa * 0.5)
    return Outcome(float(res.max()), f"residual {res.max():.1e}; the limits differ from start to start "
                                     f"(w_a in [{wa.min():.3f}, {wa.max():.3f}]): a manifold, not a point")


# ----------------------------------------------------------------------------- [T21, W21] section 4


def _directset_run(alpha, eta, sigma, w0, ts, **kw):
    n = w0.shape[0]
    X, Xa, ps, pb = nuisance(n, n // 2, sigma)
    m = directset("directset", alpha=alpha, eta=eta, n1=n, n2=n, X=X, X_aug=Xa, **kw)
    sol = solve(m, m.initial_state(w0), ts, rtol=1e-10, atol=1e-13)
    w = np.asarray(m.unpack(sol.ys)["W"])
    return m, sol, w, ps, pb


@claim("directset-limit", "[W21] / [T21] slides",
       "DirectSet(alpha) with X' = sigma^2 P_B: W -> ((1 + sqrt(1 - 4 eta))/2)^{1/(2 alpha)} P_S.",
       "max over alpha in {1/4, 1/2, 1, 2} (+ rho = 0.3, freq = 5, EMA) of |sv_j(W P_S) - c| / c and ||W P_B||", 1e-6)
def _directset_limit():
    # Conditions (derived here for W_p = F^alpha, X = I): 1 - 4 eta > 0 for c to exist; the invariant
    # directions start above the unstable point p*_- = (1 - sqrt(1 - 4 eta))/2 (p = sv^{2 alpha}); the
    # nuisance ones vanish because 4 eta (1 + sigma^2) > 1 leaves them no non-zero fixed point.
    eta, sigma, n = 0.2, 1.0, 6
    w0 = np.linalg.qr(np.random.default_rng(0).normal(size=(n, n)))[0]  # all singular values 1
    ts = np.array([0.0, 100.0, 300.0])
    worst, rows = 0.0, []
    runs = [(a, {}) for a in (0.25, 0.5, 1.0, 2.0)] + [(0.5, dict(rho=0.3, freq=5, target="ema"))]
    for alpha, kw in runs:
        m, sol, w, ps, pb = _directset_run(alpha, eta, sigma, w0, ts, **kw)
        c = float(m.limit())
        sv = np.linalg.svd(w[-1] @ ps, compute_uv=False)[:n // 2]
        err = max(float(np.max(np.abs(sv - c)) / c), float(frobenius(w[-1] @ pb)))
        worst = max(worst, err)
        rows.append(f"alpha={alpha:g}{' ' + str(kw) if kw else ''}: c = {c:.6f}, sv = {sv.mean():.6f}, err {err:.1e}")
    return Outcome(worst, f"eta = {eta}, sigma = {sigma}, W(0) orthogonal; " + "; ".join(rows),
                   numbers={"runs": rows})


def _snr(eta, t):
    n = 8
    w0 = np.random.default_rng(1).normal(size=(n, n)) / math.sqrt(n)
    out = []
    for alpha in (0.25, 0.5, 1.0, 2.0):
        _, _, w, ps, pb = _directset_run(alpha, eta, 1.0, w0, np.array([0.0, t]), target="online")
        out.append(float(frobenius(w[-1] @ ps) / frobenius(w[-1] @ pb)))
    drops = sum(b <= a for a, b in zip(out, out[1:]))
    return out, drops


@claim("directset-snr", "[W21] / [T21] slides",
       "The larger alpha, the larger the signal-to-noise ratio ||W P_S|| / ||W P_B|| (here where the nuisance "
       "directions die, 4 eta (1 + sigma^2) > 1, at t = 50).",
       "number of times SNR fails to grow from alpha = 1/4 to 1/2 to 1 to 2", 0.0)
def _directset_snr():
    snr, drops = _snr(0.2, 50.0)
    early, early_drops = _snr(0.2, 5.0)
    return Outcome(float(drops), "SNR at t = 50 for alpha = 1/4, 1/2, 1, 2: " + ", ".join(f"{v:.3g}" for v in snr)
                   + "; at t = 5 it is " + ", ".join(f"{v:.3g}" for v in early)
                   + (" (early on it does not grow with alpha)" if early_drops else ""),
                   numbers={"snr_t50": snr, "snr_t5": early})


@claim("directset-snr-small-eta", "[W21] / [T21] slides",
       "The larger alpha, the larger the SNR, also at small weight decay (eta = 0.01, sigma = 1: 4 eta (1 + "
       "sigma^2) <= 1, the nuisance directions keep a stable non-zero point), at t = 50.",
       "number of times SNR fails to grow from alpha = 1/4 to 1/2 to 1 to 2", 0.0)
def _directset_snr_small():
    snr, drops = _snr(0.01, 50.0)
    return Outcome(float(drops), "SNR at t = 50 for alpha = 1/4, 1/2, 1, 2: " + ", ".join(f"{v:.3g}" for v in snr),
                   numbers={"snr_t50": snr})


@claim("symmetric-predictor-ema", "[T21] slide table (STL-10)",
       "With a symmetric predictor, training without EMA collapses while with EMA it does not (linear model).",
       "number of random starts (of 8) where the no-EMA run fully collapses while the EMA run does not, "
       "subtracted from 8", 0.0)
def _symmetric_ema():
    X, Xa = isotropic(8, 0.5)
    full_no, full_ema, dims_no, dims_ema = 0, 0, [], []
    for seed in range(8):
        counts = {}
        for target, beta in (("online", 1.0), ("ema", 0.04)):
            m = LinearBYOL(n1=8, n2=8, X=X, X_aug=Xa, eta=0.01, beta=beta, predictor="symmetric", target=target,
                           isotropic=True)
            y0 = _random_state(m, seed)
            sol = solve(m, y0, np.array([0.0, 500.0]), rtol=1e-9, atol=1e-14)
            s0 = np.linalg.eigvalsh(np.asarray(m.F(y0))).max()
            counts[target] = int(np.sum(np.linalg.eigvalsh(np.asarray(m.F(sol.ys[-1]))) < 1e-6 * s0))
        full_no += counts["online"] == 8
        full_ema += counts["ema"] == 8
        dims_no.append(counts["online"])
        dims_ema.append(counts["ema"])
    agree = sum(1 for a, b in zip(dims_no, dims_ema) if a == 8 and b < 8)
    return Outcome(float(8 - agree), f"collapsed eigenvalues of F (of 8) at t = 500, eta = 0.01, sigma = 0.5: "
                                     f"without EMA {dims_no}, with EMA (beta = 0.04) {dims_ema}; full collapses "
                                     f"{full_no} vs {full_ema}" + (
                                         "; identical with and without EMA" if dims_no == dims_ema else ""),
                   numbers={"collapsed_no_ema": dims_no, "collapsed_ema": dims_ema})


# ----------------------------------------------------------------------------- [S23] section 5


def _barlow_pairs():
    from dynsim.models.barlow.system import default_spectrum, synthetic_pairs

    gamma = default_spectrum(6, 0.6)
    x, xp, _ = synthetic_pairs(200, gamma, seed=1)
    return gamma, x, xp


@claim("bt-closed-form", "[S23] Sec. 3",
       "From an aligned start W(0) = U S_0 V^T, the singular values of Barlow Twins' dW/dt = -4 (W Gamma W^T - I) "
       "W Gamma follow s_j(t) = e^{4 gamma_j t} / sqrt(s_j(0)^-2 + (e^{8 gamma_j t} - 1) gamma_j) -> gamma_j^{-1/2}.",
       "max_t,j |s_j - s_j^closed| / s_j^closed (d = 4, m = 6, s_0 = 1e-3)", 1e-9)
def _bt_closed_form():
    from dynsim.models.barlow.system import BarlowTwins, cross_covariance, singular_values

    gamma, x, xp = _barlow_pairs()
    bt = BarlowTwins(d=4, m=6, Gamma=cross_covariance(x, xp))
    ts = np.linspace(0.0, 40.0, 401)
    sol = solve(bt, bt.aligned_start(1e-3), ts, rtol=1e-11, atol=1e-15)
    sv = np.sort(np.linalg.svd(np.asarray(bt.unpack(sol.ys)["W"]), compute_uv=False), 1)
    cf = np.sort(singular_values(ts, 1e-3, gamma[:4]), 1)
    err = float(np.max(np.abs(sv - cf) / cf))
    return Outcome(err, f"relative error {err:.1e}; final s = {np.round(sv[-1], 6).tolist()}, gamma^-1/2 = "
                        f"{np.round(np.sort(gamma[:4] ** -0.5), 6).tolist()}")


@claim("bt-random-init", "[S23] Sec. 3",
       "From a small random init the dynamics follow the aligned trajectory (effective s_j(0) by Gram-Schmidt in "
       "the order of gamma), the closer the smaller the init.",
       "max_t,j |lambda_j - lambda_j^closed| at init scale 1e-8 (must also fall with the scale)", 1e-5)
def _bt_random():
    from dynsim.models.barlow.system import stepwise

    scales = (1e-2, 1e-4, 1e-6, 1e-8)
    errs = [stepwise(m=6, d=4, init_scale=s, t1=60.0, seed=3).summary()["max_abs_error_lambda_vs_closed_form"]
            for s in scales]
    falling = all(b < a for a, b in zip(errs, errs[1:]))
    detail = ("max |lambda - closed form| at init scale " + ", ".join(f"{s:g}: {e:.1e}" for s, e in zip(scales, errs))
              + ("" if falling else "; NOT decreasing with the scale"))
    return Outcome(errs[-1] if falling else math.inf, detail, numbers={"scales": scales, "errors": errs})


@claim("bt-kernel-linear", "[S23] Sec. 5",
       "The kernel version, written with Gram matrices only, equals the linear model exactly for the linear kernel.",
       "max_t |A(t) Xs^T - W(t)| / max |W| from W(0) = A(0) Xs^T", 1e-9)
def _bt_kernel():
    from dynsim.models.barlow.system import BarlowTwins, KernelBarlowTwins, cross_covariance

    _, x, xp = _barlow_pairs()
    bt = BarlowTwins(d=4, m=6, Gamma=cross_covariance(x, xp))
    kb = KernelBarlowTwins.from_pairs(x, xp, d=4, kernel="linear")
    xs = np.concatenate([x, xp]).T
    a0 = 1e-3 * np.random.default_rng(2).normal(size=(4, 400))
    ts = np.linspace(0.0, 20.0, 21)
    wk = np.asarray(kb.unpack(solve(kb, a0.reshape(-1), ts, **TIGHT).ys)["A"]) @ xs.T
    ww = np.asarray(bt.unpack(solve(bt, (a0 @ xs.T).reshape(-1), ts, **TIGHT).ys)["W"])
    err = float(np.max(np.abs(wk - ww)) / np.max(np.abs(ww)))
    return Outcome(err, f"relative difference {err:.1e} over t in [0, 20] (400 points, d = 4)")


# ----------------------------------------------------------------------------- [J22] InfoNCE


def _views(n, dim, k=0.0, dim_aug=None, seed=0):
    from dynsim.models.infonce.system import augmented_views, block_augmentation

    return augmented_views(n, np.eye(dim), block_augmentation(dim, dim if dim_aug is None else dim_aug, k), seed=seed)


@claim("infonce-lemma1", "[J22] Lemma 1",
       "For a linear network trained with InfoNCE, -dL/dW = W X with X = Sigma_0 - Sigma_1 (the paper's weighted "
       "sums; here / (n tau) for the mean loss); for two layers -dL/dW_1 = W_2^T W X, -dL/dW_2 = W X W_1^T.",
       "max relative |jax.grad - formula| over gaussian / dot kernels, full / mini-batch, DirectCLR head, 1 and 2 "
       "layers", 1e-12)
def _infonce_lemma1():
    from dynsim.models.infonce.system import InfoNCE

    x, xp = _views(64, 6, k=0.5, dim_aug=3)
    errs = {}
    for kernel, tau in (("gaussian", 1.0), ("dot", 0.1)):
        for batch, d0 in ((None, None), (16, None), (None, 3)):
            for layers in (1, 2):
                s = InfoNCE(widths=(6,) * (layers + 1), x=x, x_aug=xp, tau=tau, kernel=kernel, batch=batch, d0=d0)
                y = s.init(1.0, seed=1)
                ws = s.weights(y)
                head = np.diag((np.arange(6) < (d0 or 6)).astype(float))
                wx = head @ np.asarray(s.product(y)) @ np.asarray(s.effective_X(y))
                want = [wx] if layers == 1 else [np.asarray(ws[1]).T @ wx, wx @ np.asarray(ws[0]).T]
                got = s.unpack(s.vector_field(0.0, y))
                err = max(float(np.max(np.abs(np.asarray(got[f"W{k + 1}"]) - w)) / np.max(np.abs(w)))
                          for k, w in enumerate(want))
                errs[f"{kernel}, batch {batch or 64}, d0 {d0 or 6}, {layers} layer(s)"] = err
    worst = max(errs, key=errs.get)
    return Outcome(errs[worst], f"{len(errs)} configurations; worst {errs[worst]:.1e} ({worst})",
                   numbers={"errors": errs})


@claim("infonce-theorem1", "[J22] Theorem 1",
       "For fixed X the one-layer flow dW/dt = W X is solved by W(t) = W(0) e^{X t}: negative eigenvalues of X "
       "make singular values of W vanish.",
       "max_t |W(t) - W(0) e^{X t}| / max |W(0) e^{X t}| (8 x 8, X with 3 negative eigenvalues)", 1e-9)
def _infonce_theorem1():
    from dynsim.models.infonce.system import FrozenX, theorem1

    rng = np.random.default_rng(4)
    q = np.linalg.qr(rng.normal(size=(8, 8)))[0]
    lam = np.array([0.3, 0.2, 0.1, 0.05, 0.0, -0.1, -0.2, -0.4])
    X = (q * lam) @ q.T
    s = FrozenX(widths=(8, 8), X=X)
    y0 = s.init(1.0, seed=5)
    ts = np.linspace(0.0, 30.0, 31)
    w = np.asarray(s.unpack(solve(s, y0, ts, **TIGHT).ys)["W1"])
    cf = theorem1(s.unpack(y0)["W1"], X, ts)
    err = float(np.max(np.abs(w - cf)) / np.max(np.abs(cf)))
    sv = np.linalg.svd(w[-1], compute_uv=False)
    return Outcome(err, f"relative error {err:.1e}; at t = 30 the 3 smallest singular values are "
                        f"{', '.join(f'{v:.1e}' for v in sv[-3:])} (the largest {sv[0]:.2g})")


@claim("infonce-fig3", "[J22] Fig. 3",
       "With data covariance I and augmentation block_diag(0, k I_8) (16 x 16, one layer), the number of collapsed "
       "singular values grows with k, from none at k = 0, and only augmented directions collapse.",
       "violations: count decreases with k + collapse at k = 0 + none at the largest k + collapsed directions "
       "outside the augmented subspace (|P_B v| < 0.99)", 0.0)
def _infonce_fig3():
    from dynsim.models.infonce.collapse import collapse_sweep

    sw = collapse_sweep([0.0, 1.0, 4.0, 16.0], samples=256, t1=200.0, seed=0)
    c = sw.collapsed_dims
    inb = sw.in_augmented_subspace_min
    bad = int(np.sum(np.diff(c) < 0)) + int(c[0] > 0) + int(c[-1] == 0) + int(np.sum(np.nan_to_num(inb, nan=1.0) < 0.99))
    neg = np.sum(sw.X_eig < 0, 1)
    return Outcome(float(bad), f"collapsed singular values (below 1e-3 of the largest) at t = 200 for k = 0, 1, 4, 16: "
                               f"{c.tolist()}; negative eigenvalues of X(t): {neg.tolist()} (of 8 augmented dims); "
                               f"min |P_B v| of collapsed directions {np.nanmin(inb) if np.isfinite(inb).any() else 1:.4f}",
                   numbers={"k": sw.k.tolist(), "collapsed": c.tolist(), "X_negative": neg.tolist()})


@functools.lru_cache(maxsize=1)
def _two_layer(seed=3, init_scale=0.1, t1=400.0, n=256, dim=8):
    """The two-layer InfoNCE flow of Theorem 2's setting (X > 0: weak augmentation, distinct data
    variances), reported along the run by :func:`report_collapse`; one run for the two claims on it."""
    from dynsim.models.infonce.collapse import report_collapse
    from dynsim.models.infonce.system import InfoNCE, augmented_views

    x, xp = augmented_views(n, np.diag(np.linspace(2.0, 0.2, dim)), 1e-4 * np.eye(dim), seed=0)
    s = InfoNCE(widths=(dim, dim, dim), x=x, x_aug=xp)
    ts = np.r_[0.0, np.geomspace(1.0, t1, 12)]
    sol = solve(s, s.init(init_scale, seed=seed), ts, **TIGHT)
    return sol, report_collapse(s, sol)


@claim("two-layer-conserved", "[J22] Sec. 5",
       "Under the two-layer InfoNCE gradient flow W_1 W_1^T - W_2^T W_2 is conserved.",
       "max_t ||C(t) - C(0)||_F / ||C(0)||_F (8 x 8 x 8, n = 256, t to 400)", 1e-8)
def _two_layer_conserved():
    sol, sr = _two_layer()
    drift = float(np.max(sr["balance_drift"]))
    return Outcome(drift, f"relative drift {drift:.1e} while the weights grew "
                          f"{float(np.abs(sol.ys[-1]).max() / np.abs(sol.ys[0]).max()):.0f}-fold")


@claim("two-layer-alignment", "[J22] Theorem 2",
       "If X > 0, W_2 W_1 != 0 and the singular values are distinct, the layers align: A = V_2^T U_1 -> I.",
       "1 - min cosine between the grown subspaces of U_1 and V_2 at t = 400 (grown: sigma_1 sigma_2 > 10 ||C||)",
       1e-3)
def _two_layer_alignment():
    from dynsim.models.infonce.collapse import grown_alignment

    _, sr = _two_layer()
    xmin = float(np.min(sr["X_eig"][:, -1]))
    grown, a = sr["grown"], sr["alignment"]
    if xmin <= 0 or not grown.any():
        return Outcome(math.inf, f"min eigenvalue of X along the run {xmin:.2g}, grown directions {int(grown.sum())}",
                       verdict=OUTSIDE)
    cos = grown_alignment(a, grown)
    rest = np.linalg.norm(np.abs(a) - np.eye(len(a)))
    return Outcome(1.0 - cos, f"{int(grown.sum())} of {len(a)} directions grew; their subspaces agree to cosine "
                              f"{cos:.6f}. The others did not align (|| |A| - I ||_F = {rest:.2f} over all): X stays > 0 "
                              f"but shrinks (min eigenvalue {xmin:.1e}) as the loss vanishes, so A -> I holds only "
                              f"for the directions that grow within the run")


@claim("two-layer-theorem3", "[J22] Theorem 3",
       "Aligned two-layer flow with fixed X: d sigma_1/dt = sigma_1 sigma_2^2 v^T X v, d sigma_2/dt = sigma_2 "
       "sigma_1^2 v^T X v, solved with sigma_1^2 - sigma_2^2 = C (the text's +C is a typo for -C).",
       "max_t,k |sigma_1^k - closed form| / closed form (6 x 6 x 6 from an aligned, unbalanced start)", 1e-9)
def _two_layer_theorem3():
    from dynsim.models.infonce.system import FrozenX, theorem3_unbalanced

    rng = np.random.default_rng(6)
    q = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    u = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    r = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    lam = np.array([0.5, 0.3, 0.2, 0.1, -0.1, -0.3])
    s1, s2 = np.array([0.5, 0.6, 0.4, 0.7, 0.5, 0.6]), np.array([0.3, 0.5, 0.6, 0.2, 0.4, 0.3])
    sys = FrozenX(widths=(6, 6, 6), X=(q * lam) @ q.T)
    y0 = sys.pack(W1=(u * s1) @ q.T, W2=(r * s2) @ u.T)
    ts = np.linspace(0.0, 3.0, 31)
    got = np.stack([np.asarray(sys.singular_values(y)[0]) for y in solve(sys, y0, ts, **TIGHT).ys])
    want = theorem3_unbalanced(ts, s1, s2, lam)[0]
    typo = theorem3_unbalanced(ts, s1, s2, lam, typo=True)[0]
    order = lambda a: np.sort(a, axis=-1)  # noqa: E731  (svd sorts; compare as sets per time)
    err = float(np.max(np.abs(order(got) - order(want)) / order(want)))
    err_typo = float(np.nanmax(np.abs(order(got) - order(typo)) / order(typo)))
    return Outcome(err, f"relative error {err:.1e}; with the text's +C instead: {err_typo:.2g}",
                   numbers={"error": err, "error_with_typo": err_typo})


@claim("deep-collapse", "[J22] Sec. 5, Figs. 5-6",
       "Deeper linear networks collapse more, even with weak augmentation where X is positive definite.",
       "number of times the effective rank of W = W_L..W_1 fails to fall from L = 1 to 2 to 3 (16 dims, t = 100)",
       0.0)
def _deep_collapse():
    from dynsim.models.infonce.system import InfoNCE, effective_rank

    x, xp = _views(256, 16, k=0.01)
    ranks = []
    for layers in (1, 2, 3):
        s = InfoNCE(widths=(16,) * (layers + 1), x=x, x_aug=xp)
        sol = solve(s, s.init(1.0, seed=1), np.array([0.0, 100.0]))
        ranks.append(float(effective_rank(np.linalg.svd(np.asarray(s.product(sol.ys[-1])), compute_uv=False))))
    fails = sum(b >= a for a, b in zip(ranks, ranks[1:]))
    return Outcome(float(fails), "effective rank exp(H(sigma / sum sigma)) for L = 1, 2, 3: "
                                 + ", ".join(f"{r:.2f}" for r in ranks) + " (of 16)", numbers={"ranks": ranks})


@functools.lru_cache(maxsize=1)
def _directclr_ranks():
    """The ranks of the three projector variants; one run for the two claims on it."""
    from dynsim.models.infonce.collapse import representation_ranks

    x, xp = _views(256, 16, k=4.0, dim_aug=8)
    return representation_ranks(x, xp, d0=8, t1=200.0)


def _rank_line(r):
    return "; ".join(f"{k} {v['effective_rank']:.2f} ({v['collapsed_dims']} collapsed)" for k, v in r.items())


@claim("directclr-rank", "[J22] Sec. 6",
       "DirectCLR (the loss on the first d_0 dims of the representation, no projector) keeps a higher-rank "
       "representation than training without a projector.",
       "effective rank without projector minus with DirectCLR (16 dims, d_0 = 8, strong augmentation k = 4 on 8)",
       0.0)
def _directclr_rank():
    r = _directclr_ranks()
    diff = r["no projector"]["effective_rank"] - r["directclr"]["effective_rank"]
    return Outcome(diff, "effective rank of the encoder W_1 at t = 200: " + _rank_line(r),
                   numbers={k: v["effective_rank"] for k, v in r.items()})


@claim("directclr-vs-linear-projector", "[J22] Table (ImageNet)",
       "DirectCLR beats a linear projector (ImageNet linear probe 62.7 vs 61.1), here measured by the rank the "
       "representation keeps in the linear model.",
       "effective rank with a linear projector minus with DirectCLR (same setup as directclr-rank)", 0.0)
def _directclr_vs_linear():
    r = _directclr_ranks()
    diff = r["linear projector"]["effective_rank"] - r["directclr"]["effective_rank"]
    return Outcome(diff, "effective rank of the encoder W_1 at t = 200: " + _rank_line(r)
                   + ". The rank is a proxy: the paper's numbers are linear-probe accuracies of a ResNet",
                   numbers={k: v["effective_rank"] for k, v in r.items()})


# ----------------------------------------------------------------------------- the prediction head [WL22]


@functools.lru_cache(maxsize=1)
def _head_claims() -> tuple[dict, ...]:
    from dynsim.models.prediction_head.system import head_claims, simulate_prediction_head

    return tuple(head_claims(simulate_prediction_head(seeds=8)))


def _head_outcome(i: int) -> Outcome:
    from dynsim.models.prediction_head.system import FRACTION

    c = _head_claims()[i]
    m = c["measured"]
    frac = m.get("fraction_of_seeds", m.get("fraction_of_separated_seeds"))
    return Outcome(1.0 - frac, f"{c['criterion']}; measured in {frac:.0%} of the seeds (8 seeds; needed "
                               f"{FRACTION:.0%})", numbers={k: v for k, v in m.items() if k != "per_seed"})


_HEAD_METRIC = "fraction of seeds where it fails (8 seeds, m = 2, d = 32, alpha_2 = alpha_1 / 2)"


@claim("head-no-collapse", "[WL22] Thm 1",
       "With a trained prediction head (initialised to I, fixed diagonal), the two neurons learn different "
       "features: one the strong v1, the other the weak v2.", _HEAD_METRIC, 1.0 / 3.0)
def _head_no_collapse():
    return _head_outcome(0)


@claim("head-fixed-collapse", "[WL22] Thm 3",
       "With the head fixed at E = I, every neuron learns only the strong feature (dimensional collapse).",
       _HEAD_METRIC, 1.0 / 3.0)
def _head_fixed_collapse():
    return _head_outcome(1)


@claim("head-rise-and-fall", "[WL22] four phases",
       "The off-diagonal of the trained head rises (substitution) and falls back (E -> I at the end).",
       "fraction of the seeds that learned both features where ||E - I||_F does not peak inside the run and end "
       "below 1/4 of its peak", 1.0 / 3.0)
def _head_rise_fall():
    return _head_outcome(2)
