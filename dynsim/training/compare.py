r"""Finite-width training against the analytic dynamics: ``dynsim compare MODEL``.

For each learning rate ``lr`` and batch size ``B`` of a grid, :func:`~dynsim.train` runs ``seeds``
networks to the same flow time ``T = lr x steps``; the matching ODE is integrated from each seed's
initial weights at the logged times. The discrepancy of a run is

    err = mean over seeds of  max_t max_j |q_j^train(t) - q_j^ODE(t)| / max_{t,j} |q_j^ODE(t)|

for the model's spectrum ``q`` (eigenvalues of ``F`` for BYOL/SimSiam/Direct*, singular values of
``W`` for Barlow Twins and InfoNCE). It should shrink as ``lr -> 0`` (Euler's error, ``O(lr)``) and
as ``B`` grows (the SGD noise, ``O(sqrt(lr / B))``); the measured rates are the least-squares
slopes of ``log err`` against ``log lr`` (largest batch) and ``log B`` (smallest lr).

Model-specific checks on top:

- ``barlow``: the singular values against [S23]'s closed form ``s_j(t)`` of the aligned start with
  each seed's ``s_j(0) = ||W(0) v_j||``, and the measured step times (``lambda_j = 1/2``) against
  ``t_j = ln(1 / (gamma_j s_j(0)^2)) / (8 gamma_j)``;
- ``infonce`` (presets ``jing-case1``/``jing-case2``): the subspace of the trained ``W``'s smallest
  singular directions against the negative eigenspace of ``X = Sigma_0 - Sigma_1`` at the start
  (Theorem 1 of [J22]);
- ``directpred``/``directcopy``/``directset``: ``W_p``'s eigenvalues against the set rule applied to
  the true ``F`` (``p_j = s_j^alpha`` for the paper's normalisation).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from dynsim._core.errors import DynsimInputError
from dynsim._core.solve import solve
from dynsim.training.train import TrainRun, train
from dynsim._core.system import to_jax

COMPARABLE = ("byol", "simsiam", "directpred", "directcopy", "directset", "barlow", "infonce", "infonce-2layer")

#: Per model: flow time T, learning rates, batch sizes, and train() options.
DEFAULTS = {
    "byol": dict(T=20.0, lrs=(0.04, 0.02, 0.01), batches=(64, 256, 1024), width=8),
    "simsiam": dict(T=20.0, lrs=(0.04, 0.02, 0.01), batches=(64, 256, 1024), width=8),
    "directpred": dict(T=10.0, lrs=(0.04, 0.02, 0.01), batches=(64, 256, 1024), width=8),
    "directcopy": dict(T=10.0, lrs=(0.04, 0.02, 0.01), batches=(64, 256, 1024), width=8),
    "directset": dict(T=10.0, lrs=(0.04, 0.02, 0.01), batches=(64, 256, 1024), width=8),
    "barlow": dict(T=12.0, lrs=(0.02, 0.01, 0.005), batches=(64, 256, 1024), width=4, n1=8),
    "infonce": dict(T=10.0, lrs=(4e-3, 2e-3, 1e-3), batches=(128,), preset="jing-case1"),
    # T = 20, not the preset's 100: on its fixed pairs the mini-batch noise accumulates along the
    # nearly flat directions, and at T = 100 the discrepancy is 0.4 for every lr from 0.04 to 0.01.
    "infonce-2layer": dict(T=20.0, lrs=(0.02, 0.01, 0.005), batches=(128,), preset="jing-case2"),
}
N_LOG = 50


@dataclasses.dataclass
class Comparison:
    """Training runs over a grid of ``(lr, batch)`` against the ODE, their discrepancies and rates."""

    model: str
    lrs: tuple[float, ...]
    batches: tuple[int, ...]
    runs: dict[tuple[float, int], TrainRun]
    t: np.ndarray
    theory: np.ndarray  # (seeds, n_log, k): the ODE's spectrum from each seed's start, at the finest run's logs
    errors: np.ndarray  # (len(lrs), len(batches)); NaN where a run diverged
    quantity: str
    checks: dict
    info: dict

    def rates(self) -> dict:
        out = {}
        e = self.errors
        if len(self.lrs) > 1 and np.all(np.isfinite(e[:, -1])):
            out["err_vs_lr_slope"] = float(np.polyfit(np.log(self.lrs), np.log(e[:, -1]), 1)[0])
        if len(self.batches) > 1 and np.all(np.isfinite(e[-1])):
            out["err_vs_batch_slope"] = float(np.polyfit(np.log(self.batches), np.log(e[-1]), 1)[0])
        return out

    def summary(self) -> dict:
        e = self.errors
        diverged = {f"lr={lr:g}, batch={b}": r.summary()["diverged"]
                    for (lr, b), r in self.runs.items() if not r.complete}
        out = {"model": self.model, "quantity": self.quantity, "T": float(self.t[-1]), "lrs": list(self.lrs),
               "batches": list(self.batches), "discrepancy": e, "discrepancy_best": float(np.nanmin(e)),
               **self.rates(), **self.info, "checks": self.checks,
               "shrinks_with_lr": bool(np.all(np.diff(e[:, -1]) < 0)) if len(self.lrs) > 1 else None,
               "shrinks_with_batch": bool(np.all(np.diff(e[-1]) < 0)) if len(self.batches) > 1 else None,
               "complete": not diverged}
        if diverged:
            out["diverged"] = diverged
        return out

    def arrays(self) -> dict:
        out = {"t": self.t, "theory": self.theory, "errors": self.errors, "lrs": np.asarray(self.lrs),
               "batches": np.asarray(self.batches)}
        for (lr, b), r in self.runs.items():
            out[f"train_lr{lr:g}_b{b}"] = _spectrum(r)
        return out

    @property
    def best(self) -> TrainRun:
        return self.runs[(min(self.lrs), max(self.batches))]


def _spectrum(run: TrainRun) -> np.ndarray:
    return run.series["s"] if "s" in run.series else run.series["sv"]


#: The reference ODE's tolerances. SGD leaves the flow by O(lr) (relative errors of 1e-4 and more on every
#: grid compare runs); the reference at these tolerances is within about 1e-8 of one solved at rtol 1e-9
#: (measured on InfoNCE jing-case1: 3e-9 relative), so it never shows in the errors, in half the
#: time (7.1 s against 15.1 s there). Recorded in ``Comparison.info``.
REFERENCE_TOL = dict(rtol=1e-7, atol=1e-10)


def _theory(model: str, run: TrainRun) -> np.ndarray:
    """The ODE's spectrum at ``run.t`` from each seed's initial state: ``(seeds, T, k)``."""
    system, init = run.system, run.init
    if model == "barlow":
        y0 = init["W"].reshape(init["W"].shape[0], -1)
    elif model.startswith("infonce"):
        y0 = init["y0"][None]
    else:
        mats = {"W": init["W"], "W_a": init["W"], "W_p": init.get("W_p")}
        if model in ("directpred", "directcopy", "directset"):
            y0 = np.asarray(system.initial_state(init["W"]))
        else:
            y0 = np.asarray(system.pack(**{n: mats[n] for n, _ in system.blocks()}))
    sol = solve(system, y0, run.t, **REFERENCE_TOL, max_steps=500_000)
    if not sol.complete:
        raise DynsimInputError(None, f"the ODE did not integrate to T: {sol.failures()}")
    ys = np.asarray(sol.ys)
    if model == "barlow":
        w = ys.reshape(*ys.shape[:2], system.d, system.m)
        return np.linalg.svd(w, compute_uv=False)
    if model.startswith("infonce"):
        import jax

        prod = np.asarray(jax.vmap(system.product)(ys[0]))
        sv = np.linalg.svd(prod, compute_uv=False)
        return np.broadcast_to(sv, (run.diverged_step.size, *sv.shape))
    f = np.asarray(system.F(ys))
    return np.linalg.eigvalsh(0.5 * (f + np.swapaxes(f, -1, -2)))[..., ::-1]


def _error(train_q: np.ndarray, theory: np.ndarray) -> float:
    scale = np.max(np.abs(theory), axis=(1, 2))
    per_seed = np.max(np.abs(train_q - theory), axis=(1, 2)) / scale
    return float(np.mean(per_seed)) if np.all(np.isfinite(per_seed)) else math.nan


#: The most SGD steps one run may take (T / lr).
MAX_STEPS = 10**8


def compare(model: str, *, lrs=None, batches=None, T: float | None = None, seeds: int = 4, seed: int = 0,
            progress: Callable[[str], None] | None = None, **train_options) -> Comparison:
    """Train ``model`` over the grid ``lrs x batches`` to flow time ``T`` and compare with its ODE
    (see the module docstring); defaults per model in :data:`DEFAULTS`."""
    if model not in COMPARABLE:
        raise DynsimInputError("model", f"compare needs a model with an ODE: one of {', '.join(COMPARABLE)}")
    d = dict(DEFAULTS[model])
    default_T, default_lrs, default_batches = d.pop("T"), d.pop("lrs"), d.pop("batches")
    T = default_T if T is None else T
    lrs = tuple(sorted(default_lrs if lrs is None else lrs, reverse=True))
    batches = tuple(sorted(default_batches if batches is None else batches))
    opts = {**d, **train_options}
    if opts.get("preset") is not None:
        for name in ("width", "n1"):
            if name in train_options:
                raise DynsimInputError(name, f"does not apply to {model}: its preset {opts['preset']} fixes the "
                                             "dimensions of the authors' script")
    if not (isinstance(T, (int, float)) and math.isfinite(T) and T > 0):
        raise DynsimInputError("T", f"T must be a positive time (got {T!r})")
    if all(lr > 0 for lr in lrs) and T / min(lrs) > MAX_STEPS:
        raise DynsimInputError("T", f"T = {T:g} at lr {min(lrs):g} is {T / min(lrs):.3g} steps, over the limit of "
                                    f"{MAX_STEPS:.0e}")
    plan = {}  # every lr and batch checked before the first run starts
    for lr in lrs:
        if not (lr > 0):
            raise DynsimInputError("lr", f"learning rates must be positive (got {lr!r})")
        log_every = max(1, int(round(T / lr)) // N_LOG)
        steps = log_every * max(1, int(round(T / lr / log_every)))
        if abs(steps * lr - T) > 0.01 * T:  # e.g. T below one step: the run would not reach T
            raise DynsimInputError("T", f"T = {T:g} is not reached by whole steps of lr {lr:g} (the nearest is "
                                        f"{steps * lr:g}); choose T of at least {N_LOG} steps of every lr, or a "
                                        f"multiple of lr")
        plan[lr] = steps, log_every
    for b in batches:
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
            raise DynsimInputError("batch", f"batch sizes must be positive integers (got {b!r})")
    runs = {}
    for lr, (steps, log_every) in plan.items():
        for b in batches:
            runs[(lr, b)] = train(model, lr=lr, batch=b, steps=steps, log_every=log_every, seeds=seeds, seed=seed,
                                  progress=progress, **opts)
    for (lr, b), r in runs.items():
        if not r.complete:
            seed_i = int(np.flatnonzero(r.diverged_step >= 0)[0])
            raise DynsimInputError("lr", f"training diverged at lr = {lr:g}, batch {b}: seed {seed_i} at step "
                                         f"{int(r.diverged_step[seed_i])} of {r.params['steps']} (loss or weights "
                                         f"not finite or ||W|| grew 1000x); choose a smaller learning rate")
    first = runs[(lrs[0], batches[0])]
    if first.system is None:
        raise DynsimInputError("model", "these options leave the linear theory (MLP predictor, ReLU, masking): "
                                        "there is no ODE to compare with")
    if progress is not None:
        progress("integrating the ODE from each seed's start")
    theories = {lr: _theory(model, runs[(lr, batches[0])]) for lr in lrs}  # every lr has its own log times
    errors = np.array([[_error(_spectrum(runs[(lr, b)]), theories[lr]) for b in batches] for lr in lrs])
    t, theory = runs[(lrs[-1], batches[-1])].t, theories[lrs[-1]]
    quantity = ("singular values of W" if model in ("barlow", "infonce", "infonce-2layer")
                else "eigenvalues of F = W X W^T")
    checks = _checks(model, runs[(lrs[-1], batches[-1])], theory)  # the finest run
    info = {"seeds": seeds, "train_options": {k: v for k, v in opts.items()}, "reference_ode": dict(REFERENCE_TOL)}
    return Comparison(model, lrs, batches, runs, t, theory, errors, quantity, checks, info)


def _checks(model: str, run: TrainRun, theory: np.ndarray) -> dict:
    """The model-specific comparisons of the module docstring, on the finest run."""
    if model == "barlow":
        from dynsim.models.barlow.system import singular_values, step_times

        system = run.system
        gamma, v = system.spectrum()
        d = system.d
        w0 = run.init["W"]  # (seeds, d, m)
        s0 = np.linalg.norm(w0 @ v[:, :d], axis=1)  # ||W(0) v_j||, (seeds, d)
        closed = np.stack([singular_values(run.t, s0[i], gamma[:d]) for i in range(s0.shape[0])])
        sv = run.series["sv"][..., :d]
        err_closed = float(np.mean(np.max(np.abs(sv - closed), axis=(1, 2)) / np.max(closed, axis=(1, 2))))
        lam = run.series["lam"][..., :d]
        measured = np.full(s0.shape, np.nan)
        for i in range(s0.shape[0]):
            for j in range(d):
                k = np.flatnonzero(lam[i, :, j] >= 0.5)
                if k.size and k[0] > 0:  # linear interpolation of the crossing
                    a, b = lam[i, k[0] - 1, j], lam[i, k[0], j]
                    measured[i, j] = run.t[k[0] - 1] + (0.5 - a) / (b - a) * (run.t[k[0]] - run.t[k[0] - 1])
        predicted = step_times(s0, gamma[:d])
        ratio = measured / predicted
        reached = np.isfinite(measured)
        out = {"closed_form_relative_error": err_closed, "step_times_predicted_mean": predicted.mean(0),
               "steps_reached": int(reached.sum()), "steps_expected": int(reached.size),
               "note": "closed form for the aligned start; a random small start follows it up to the "
                       "misalignment of W(0)"}
        if reached.any():  # the step statistics of the steps that T reaches (None where no seed reached one)
            means = [float(np.mean(measured[reached[:, j], j])) if reached[:, j].any() else None for j in range(d)]
            out.update(step_times_measured_mean=means,
                       step_time_ratio_range=[float(np.min(ratio[reached])), float(np.max(ratio[reached]))],
                       steps_in_order=bool(np.all(np.diff([m for m in means if m is not None]) > 0)))
        else:
            out["steps_not_reached"] = (f"no step reached lambda_j = 1/2 by T = {float(run.t[-1]):g} (the first is "
                                        f"predicted at t = {float(np.min(predicted)):.3g}): give a longer --time")
        return out
    if model.startswith("infonce"):
        import jax.numpy as jnp

        system = run.system
        y0 = to_jax(run.init["y0"])
        X = np.asarray(system.effective_X(y0))
        lam, q = np.linalg.eigh(0.5 * (X + X.T))
        neg = int(np.sum(lam < 0))
        out = {"X_eigenvalues_at_start": lam, "negative_eigenvalues": neg}
        sv_train = run.series["sv"][:, -1]
        sv_theory = theory[0, -1]
        out["collapsed_train"] = int(np.round(np.mean(np.sum(sv_train < 1e-3 * sv_train[:, :1], 1))))
        out["collapsed_ode"] = int(np.sum(sv_theory < 1e-3 * sv_theory[0]))
        # the authors' scripts print the eigenvalues of cov(W x) for x ~ N(0, I), that is s_j^2
        out["collapsed_train_per_seed"] = np.sum(sv_train < 1e-3 * sv_train[:, :1], 1)
        out["authors_spectrum_below_1e-3_per_seed"] = np.sum(sv_train**2 < 1e-3, 1)
        out["authors_spectrum_below_1e-6_per_seed"] = np.sum(sv_train**2 < 1e-6, 1)
        out["counted"] = ("collapsed_*: singular values s_j of W below 1e-3 s_1; authors_spectrum_*: the "
                          "eigenvalues of cov(W x), x ~ N(0, I), that the authors' scripts print, s_j^2, below "
                          "1e-3 and 1e-6")
        left = [w for w, on in (("a trained bias in each layer", run.params.get("bias")),
                                ("fresh augmentations", run.params.get("fresh"))) if on]
        if left:
            out["reference_only"] = (f"the training has {' and '.join(left)}, which the ODE (the bias-free flow "
                                     "on the fixed pairs) has not: its curves and the discrepancy are a reference, "
                                     "not a limit the training converges to")
        if neg:
            # the trained map's `neg` smallest right-singular directions vs X's negative eigenspace:
            # ||Q_neg^T V_small||_F^2 / neg is 1 when they span the same subspace, ~neg/n at random
            _, _, vt = np.linalg.svd(run.final["W"])
            v_small = np.swapaxes(vt, -1, -2)[..., -neg:]
            overlap = np.sum((q[:, :neg].T @ v_small) ** 2, axis=(-2, -1)) / neg
            out["subspace_overlap_mean"] = float(np.mean(overlap))
            out["subspace_overlap_random"] = neg / X.shape[0]
        out["shrinking_directions_train"] = int(np.round(np.mean(np.sum(sv_train < run.series["sv"][:, 0], 1))))
        out["predicted_shrinking"] = neg
        return out
    if model in ("directpred", "directcopy", "directset"):
        import jax.numpy as jnp

        system = run.system
        s, p = run.series["s"], run.series["p"]
        # the system's own rule applied to the true F (diagonal in its eigenbasis): p_j = rule(s)_j
        rule = np.diagonal(np.asarray(system.predictor_from(to_jax(s[..., None] * np.eye(s.shape[-1])))),
                           axis1=-2, axis2=-1)
        scale = np.nanmax(np.abs(rule))
        return {"rule": f"W_p = rule(F), alpha = {float(system.alpha):g}, eps = {float(system.eps):g} "
                        f"(normalisation {system.normalisation})",
                "max_error_p_vs_rule": float(np.nanmax(np.abs(p - rule)) / scale)}
    return {}
