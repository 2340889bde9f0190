"""Every paper figure dynsim can draw, as a registry: ``FIGURES`` and :func:`make_figures`.

Each :class:`Figure` names the one ``dynsim`` command that makes the same figure (or, where no single
command draws it, the commands whose runs it combines), its parameters, and a ``make(quick, size)``
callable built only from the public API: ``draw(compute(quick), size)``, so that one run can be drawn
at both paper sizes (``size="page"``, 7 in, or ``"column"``, 3.4 in). ``quick=True`` shrinks the work
(small grids, few seeds, short runs) so that all figures together take a few minutes on two CPU cores;
``quick=False`` gives the paper-quality defaults (the CLI's own defaults where a command exists).
Files are written with :func:`dynsim.plot.style.savefig`: the same run gives the same bytes.

A figure that redraws a paper's figure names it (``paper``, e.g. "[T21] Fig. 3") and lists, in
words, what still differs from it (``differences``: data, parameters, panels added or left out);
:func:`make_figures` writes both into the manifest and into ``index.md``, the gallery's page.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np



@dataclasses.dataclass(frozen=True)
class Figure:
    """One registered figure: ``make(quick, size)`` returns ``(matplotlib Figure, summary dict)``;
    it is ``draw(compute(quick), size)``, so that one computation can be drawn at both sizes."""

    name: str
    title: str
    command: str
    params: dict
    make: Callable[..., tuple]
    quick_params: dict = dataclasses.field(default_factory=dict)
    compute: Callable[[bool], object] | None = None
    draw: Callable[..., tuple] | None = None
    paper: str | None = None  # the paper figure it redraws, e.g. "[T21] Fig. 3"; None: no paper figure
    same: tuple[str, ...] = ()  # what matches the paper's figure: axes, quantities, scales
    differences: tuple[str, ...] = ()  # what still differs from it, in words

    def parameters(self, quick: bool = False) -> dict:
        """The parameters ``make(quick)`` uses: ``params``, with ``quick_params`` over them if quick."""
        return {**self.params, **self.quick_params} if quick else dict(self.params)


# ----------------------------------------------------------------------------- builders
# Each builder is a pair: compute(**parameters) -> data, draw(data, size) -> (figure, summary).


def _phase_portrait(*, eta, sigma, tau, alpha_p, n_traj, n_save):
    import dynsim

    system = dynsim.EigenDynamics2D(eta=eta, sigma=sigma, tau=tau, alpha_p=alpha_p)
    return dynsim.phase_portrait(system, n_traj=n_traj, n_save=n_save)


def _draw_phase_portrait(pp, size="page"):
    from dynsim.plot.seed_figures import plot_phase_portrait

    s = pp.summary()
    keep = ("regime", "regime_text", "eta_critical", "collapse_threshold_p_minus", "p_plus", "stationary_points",
            "trajectories", "solver")
    return plot_phase_portrait(pp, size=size), {k: s[k] for k in keep if k in s} or s


def _simulate(*, model, t1=None, n_save=201, **options):
    import dynsim

    return dynsim.simulate(model, t1=t1, n_save=n_save, **options)


def _draw_simulation(sim, size="page"):
    from dynsim.plot.seed_figures import plot_simulation

    return plot_simulation(sim, size=size), sim.summary()


def _directset_alpha(*, alphas, eta, sigma, n1, t1, n_save, seed):
    """[W21]'s DirectSet(alpha) on the nuisance model X = I, X' = sigma^2 P_B, one run per alpha."""
    import dynsim

    return [dynsim.simulate("directset", alpha=a, eta=eta, sigma=sigma, n1=n1, t1=t1, n_save=n_save, seed=seed)
            for a in alphas]


def _draw_directset_alpha(runs, size="page"):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from dynsim.plot.seed_figures import _letters
    from dynsim.plot.style import SERIES, THEORY, WIDTHS, eq, number, style, suptitle

    p0 = runs[0].params
    colours = SERIES
    summary = {"alpha": [], "norm_W_P_S_final": [], "norm_W_P_B_final": [], "snr_final": [],
               "predicted_singular_value": [], "max_error_singular_values_on_S": [], "directions_on_S_at_limit": [],
               "directions_on_S": [], "complete": []}
    with style(size):
        w = WIDTHS[size]
        if size == "page":
            fig, axes = plt.subplots(1, 3, figsize=(w, 2.6), layout="constrained")
        else:
            fig, axes = plt.subplots(3, 1, figsize=(w, 5.6), layout="constrained", sharex=True)
        a, b, c = axes
        short = []
        for sim, col in zip(runs, colours):
            alpha = float(sim.params["alpha"])
            sr = sim.series
            t = sr["t"]
            ok = np.isfinite(t)
            n_s, n_b = sr["norm_S"], sr["norm_B"]
            sv = sr["sv_S"]
            for j in range(sv.shape[-1]):
                a.plot(t[ok], sv[ok, j], color=col, lw=0.9)
            lim = float(sr["limit"]) if "limit" in sr else np.nan
            if np.isfinite(lim):
                a.axhline(lim, color=col, ls="--", lw=0.8)
            last = int(np.flatnonzero(ok)[-1])
            at = int(np.sum(np.abs(sv[last] - lim) < 1e-3 * lim))
            if at < sv.shape[-1]:
                short.append(rf"$\alpha = {number(alpha, math=True)}$: {at} of {sv.shape[-1]}")
            b.plot(t[ok], np.where(n_b[ok] > 0, n_b[ok], np.nan), color=col)
            snr = np.where(n_b > 0, n_s / np.where(n_b > 0, n_b, 1.0), np.nan)
            c.plot(t[ok], snr[ok], color=col, label=rf"$\alpha = {number(alpha, math=True)}$"
                   + (f" ({at} of {sv.shape[-1]} at $c$)" if np.isfinite(lim) else ""))
            s = sim.summary()
            nu = s.get("nuisance", {})
            summary["alpha"].append(alpha)
            summary["directions_on_S_at_limit"].append(at)
            summary["directions_on_S"].append(int(sv.shape[-1]))
            summary["norm_W_P_S_final"].append(nu.get("norm_W_P_S"))
            summary["norm_W_P_B_final"].append(nu.get("norm_W_P_B"))
            summary["snr_final"].append(nu.get("snr"))
            summary["predicted_singular_value"].append(nu.get("predicted_singular_value"))
            summary["max_error_singular_values_on_S"].append(nu.get("max_error_singular_values_on_S"))
            summary["complete"].append(s.get("complete"))
        a.set_ylabel(r"$\sigma_j(W P_S)$")
        a.set_ylim(bottom=0)
        b.set_ylabel(r"$\|W P_B\|_F$")
        b.set_yscale("log")
        c.set_ylabel(r"$\|W P_S\|_F / \|W P_B\|_F$")
        c.set_yscale("log")
        limit_key = Line2D([], [], **THEORY, label="[W21]'s limit $c$ in (a)")
        c.legend(handles=c.get_legend_handles_labels()[0] + [limit_key], loc="upper left")
        for ax in axes:
            if size == "page" or ax is c:
                ax.set_xlabel("$t$")
        _letters(axes, [r"invariant subspace $S$" + (" (not all at $c$)" if short else ""), r"nuisance subspace $B$",
                        "signal-to-noise ratio"], size)
        suptitle(fig, [r"DirectSet($\alpha$), $W_p = F^\alpha$ [W21]:", r"$X = I$, $X' = \sigma^2 P_B$",
                       rf"$n_1 = {p0['n1']}$", eq("eta", p0["eta"]), eq("sigma", p0["sigma"]),
                       rf"$t_1 = {number(float(p0['t1']), math=True)}$", f"seed {p0['seed']}"], size)
    return fig, summary


def _collapse_vs_k(*, k, dim, dim_aug, samples, t1, seed):
    """Fig. 3 of [J22]: the singular values of the trained layer against the augmentation strength k."""
    import dynsim

    return dynsim.collapse_sweep(k, dim=dim, dim_aug=dim_aug, samples=samples, t1=t1, seed=seed)


def _draw_collapse_vs_k(sw, size="page"):
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from dynsim.plot.seed_figures import _letters
    from dynsim.plot.style import COLLAPSED, SEQUENCE, TOLERANCE, WIDTHS, number, style, suptitle

    p = sw.params
    dim, dim_aug, t1 = p["dim"], p["dim_aug"], p["t1"]
    sv = np.asarray(sw.singular_values)
    rel = sv / sv[:, :1]
    floor = 1e-3  # the collapse threshold of collapse_sweep: below 1e-3 of the largest
    idx = np.arange(1, sv.shape[1] + 1)
    colours = plt.get_cmap(SEQUENCE)(np.linspace(0.0, 0.8, len(sw.k)))
    neg = np.sum(np.asarray(sw.X_eig) < -1e-6 * np.max(np.abs(sw.X_eig), axis=1, keepdims=True), 1)
    with style(size):
        w = WIDTHS[size]
        if size == "page":
            fig, (a, b) = plt.subplots(1, 2, figsize=(w, 2.8), layout="constrained", width_ratios=(1.35, 1))
        else:
            fig, (a, b) = plt.subplots(2, 1, figsize=(w, 4.6), layout="constrained")
        # [J22] Fig. 3's axes: the singular values of W (log) against their rank index
        # below the solver's absolute tolerance on W's entries a singular value is not resolved (its digits
        # are the integrator's error, and differ between machines): such values are drawn on the atol line
        resolved = float(p.get("atol", 1e-10))
        shown = np.where(sv > 0, np.maximum(sv, resolved), np.nan)
        for kk, v, r, col in zip(sw.k, shown, rel, colours):
            a.plot(idx, v, "o-", ms=2.5, lw=0.9, color=col, label=f"$k = {number(kk)}$")
            low = (r < floor) & np.isfinite(v)
            if low.any():
                a.plot(idx[low], v[low], ls="none", marker="o", ms=4.5, mfc="none", mec=COLLAPSED, mew=1.0, zorder=4)
        a.set(yscale="log", xlabel="singular value rank index $j$", ylabel=r"$\sigma_j(W)$ at $t_1$",
              xticks=idx[::2] if idx.size > 10 else idx)
        handles = a.get_legend_handles_labels()[0]
        if np.any(sv < resolved):
            a.axhline(resolved, **TOLERANCE)
            a.set_ylim(bottom=resolved / 10.0 ** 0.5)
            handles.append(Line2D([], [], **TOLERANCE, label=rf"solver atol $= {number(resolved, math=True)}$ "
                                                              "(smaller values drawn on it)"))
        if np.any((rel < floor) & (sv > 0)):
            handles.append(Line2D([], [], ls="none", marker="o", ms=4.5, mfc="none", mec=COLLAPSED, mew=1.0,
                                  label=rf"collapsed: $\sigma_j < {number(floor, math=True)}\,\sigma_1$"))
        a.legend(handles=handles, loc="lower left", ncols=2)
        x = np.arange(len(sw.k))
        wd = 0.38
        b.bar(x - wd / 2, sw.collapsed_dims, wd, color=COLLAPSED, label="collapsed singular values")
        b.bar(x + wd / 2, neg, wd, color="0.45", label="negative eigenvalues of $X$")
        b.axhline(dim_aug, color="black", ls="--", lw=0.8, label=rf"augmented dims ($\dim B = {dim_aug}$)")
        b.set(xticks=x, xticklabels=[number(v) for v in sw.k], xlabel="augmentation strength $k$", ylabel="count",
              ylim=(0, dim_aug * 1.5))
        b.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        b.legend(loc="upper left")
        _letters([a, b], [rf"embedding spectrum at $t_1 = {number(t1, math=True)}$", "collapse against $k$"], size)
        suptitle(fig, [f"InfoNCE, one linear {dim}" + r"$\times$" + f"{dim} layer [J22, Fig. 3]:",
                       "data covariance $I$", rf"augmentation $\mathrm{{diag}}(0, kI_{{{dim_aug}}})$",
                       f"$n = {p['samples']}$ pairs", f"{p['kernel']} kernel",
                       f"temperature {number(p['temperature'])}", f"seed {p['seed']}"], size)
    summary = {**sw.summary(), "X_negative_eigenvalues": neg, "min_relative_singular_value": rel[:, -1]}
    return fig, summary


def _collapse(*, model, **options):
    import dynsim

    return dynsim.simulate_collapse(model, **options)


def _draw_collapse(run, size="page"):
    from dynsim.plot.seed_figures import plot_collapse

    return plot_collapse(run, size=size), run.summary()


def _prediction_head(**options):
    import dynsim

    return dynsim.simulate_prediction_head(**options)


def _draw_prediction_head(run, size="page"):
    import dynsim

    return dynsim.plot_prediction_head(run, size=size), run.summary()


def _compare(*, model, lrs, batches, T, seeds, seed=0):
    import dynsim

    return dynsim.compare(model, lrs=lrs, batches=batches, T=T, seeds=seeds, seed=seed)


def _draw_compare(c, size="page"):
    from dynsim.plot.seed_figures import plot_comparison

    return plot_comparison(c, size=size), {**c.summary(), "rates": c.rates()}


def _basin_map(*, eta, sigma, tau, alpha_p, grid):
    import dynsim

    system = dynsim.EigenDynamics2D(eta=eta, sigma=sigma, tau=tau, alpha_p=alpha_p)
    return dynsim.basin_map(system, num=grid)


def _draw_basin_map(bm, size="page"):
    from dynsim.plot.seed_figures import plot_basin_map

    return plot_basin_map(bm, size=size), bm.summary()


_DRAW = {_phase_portrait: _draw_phase_portrait, _simulate: _draw_simulation, _directset_alpha: _draw_directset_alpha,
         _collapse_vs_k: _draw_collapse_vs_k, _collapse: _draw_collapse, _prediction_head: _draw_prediction_head,
         _compare: _draw_compare, _basin_map: _draw_basin_map}


def _stepwise(**options):
    import dynsim

    return dynsim.stepwise(**options)


def _draw_stepwise(run, size="page"):
    from dynsim.plot.seed_figures import plot_stepwise

    return plot_stepwise(run, size=size), run.summary()


_DRAW[_stepwise] = _draw_stepwise


# ----------------------------------------------------------------------------- registry


def _figure(name: str, title: str, command: str, builder: Callable, params: dict, quick: dict | None = None, *,
            paper: str | None = None, same: tuple[str, ...] = (), differences: tuple[str, ...] = ()) -> Figure:
    quick = dict(quick or {})
    draw = _DRAW[builder]

    def compute(quick_: bool = False):
        return builder(**({**params, **quick} if quick_ else params))

    def make(quick_: bool = False, size: str = "page"):
        from dynsim.plot.style import check_size

        check_size(size)
        return draw(compute(quick_), size)

    compute.__name__ = f"compute_{name.replace('-', '_')}"
    make.__name__ = f"make_{name.replace('-', '_')}"
    return Figure(name, title, command, dict(params), make, quick, compute, draw, paper, tuple(same),
                  tuple(differences))


# What each redrawn paper figure shares with the paper's and what still differs, in words (the
# gallery's index.md lists them). The papers' figure settings are in docs/equations.md.
_T21_FIG3_SAME = (
    "the (p_j, s_j) plane of the decoupled eigenvalue dynamics at fixed tau = 1, alpha_p = 1, "
    "p_j (eigenvalue of W_p) across and s_j (eigenvalue of F) up, both axes linear",
    "stable stationary points filled red, unstable ones hollow green, the invariant parabola s = p^2/alpha_p dashed",
)
_T21_FIG3_DIFF = (
    "sigma: [T21] does not state sigma^2; dynsim draws sigma = 1",
    "one figure per eta, each on its own default window p in [-tau/(2(1+sigma^2)), 2 tau/(1+sigma^2)], "
    "s in [0, 0.8 p_max^2/alpha_p] (here [-0.25, 1] x [0, 0.8]), not the paper's panels side by side",
    "added by dynsim: streamlines, both nullclines, 16 sample trajectories coloured by where they end, "
    "panel (b) a zoom on the origin and panels (c, d) the 1-D dynamics on the parabola with the basins shaded",
    "points whose linearisation is inconclusive (dynsim.classify: degenerate) get a hollow purple diamond, "
    "and at eta = 0 the two lines of stationary points (s = 0 and p = tau/(1+sigma^2)) are drawn",
)


def _registry() -> dict[str, Figure]:
    pp = dict(sigma=1.0, tau=1.0, alpha_p=1.0, n_traj=16, n_save=400)
    pp_quick = dict(n_traj=6, n_save=150)
    fig3 = dict(paper="[T21] Fig. 3", same=_T21_FIG3_SAME, differences=_T21_FIG3_DIFF)
    figs = [
        _figure("phase-portrait-eta-0", "Phase portrait of the (p, s) dynamics, eta = 0 [T21, Fig. 3]",
                "dynsim phase-portrait --eta 0 --sigma 1", _phase_portrait, dict(eta=0.0, **pp), pp_quick, **fig3),
        _figure("phase-portrait-eta-0.01", "Phase portrait of the (p, s) dynamics, eta = 0.01 [T21, Fig. 3]",
                "dynsim phase-portrait --eta 0.01 --sigma 1", _phase_portrait, dict(eta=0.01, **pp), pp_quick, **fig3),
        _figure("phase-portrait-eta-1", "Phase portrait of the (p, s) dynamics, eta = 1: collapse only [T21, Fig. 3]",
                "dynsim phase-portrait --eta 1 --sigma 1", _phase_portrait, dict(eta=1.0, **pp), pp_quick, **fig3),
        _figure("phase-portrait-eta-4e-4", "Phase portrait of the (p, s) dynamics, eta = 4e-4 (the tuned weight decay)",
                "dynsim phase-portrait --eta 4e-4 --sigma 1", _phase_portrait, dict(eta=4e-4, **pp), pp_quick,
                paper="[T21] Fig. 3 (style)", same=_T21_FIG3_SAME,
                differences=("[T21] Fig. 3 has no panel at eta = 4e-4: this is its style at the weight decay that "
                             "performed best in [T21]'s slide table",) + _T21_FIG3_DIFF[:1] + _T21_FIG3_DIFF[2:]),
        _figure("eigenvalues-byol", "Linear BYOL (Lemma 1): eigenvalues of F and W_p, Theorem 1's drift [T21, Fig. 5]",
                "dynsim simulate byol --eta 0.04 --t1 100", _simulate,
                dict(model="byol", n1=8, eta=0.04, sigma=0.5, beta=0.4, t1=100.0, n_save=201, seed=0),
                dict(t1=50.0, n_save=101), paper="[T21] Fig. 5",
                same=("Fig. 5's hyperparameters: beta = 0.4 and eta = 0.04 (its lr = 0.01 with 1 - 0.996 = lr x beta "
                      "and weight decay 4e-4 = lr x eta), time t = lr x step on a linear axis",
                      "the eigenvalue trajectories s_j(t) of F (a) and p_j(t) of W_p (b), the collapsed ones in "
                      "vermillion, p_j against the closed form p*_+ for the final tau"),
                differences=(
                    "model: [T21] Fig. 5 integrates the decoupled eigenvalue ODEs; dynsim integrates the full "
                    "Lemma 1 matrix ODE (8 x 8, random start of scale 1, X = I, X' = sigma^2 I with sigma = 0.5, "
                    "dynsim's choice) and reads s_j as the eigenvalues of F and p_j = u_j^T W_p u_j in F's "
                    "eigenbasis, which follow the decoupled ODEs once the eigenspaces align",
                    "scale: s_j is drawn on a log axis, so that the collapsing directions stay visible over many "
                    "decades; p_j on a linear one",
                    "horizon t1 = 100 (10^4 steps at lr 0.01): directions that start below p*_- = 0.042 are still "
                    "decaying at rate about eta there and are counted as kept until they fall below 1e-6 s_1(0)",
                    "added by dynsim: (c) the eigenspace alignment ||[F, W_p]|| and the asymmetry of W_p, "
                    "(d) Theorem 1's conserved quantity, (e) the EMA target's corr(W_a, W) and tau",
                )),
        _figure("alignment-symmetrized",
                "Symmetrized W_p/F system: eigenspace alignment ||[F, W_p]|| against Theorem 3's bound [T21]",
                "dynsim simulate symmetrized --eta 0.1 --sigma 1 --init-scale 0.5", _simulate,
                dict(model="symmetrized", n1=8, eta=0.1, sigma=1.0, init_scale=0.5, t1=200.0, n_save=201, seed=0),
                dict(t1=100.0, n_save=101)),
        _figure("directset-alpha", "DirectSet(alpha): W on the invariant and nuisance subspaces against alpha [W21]",
                "for a in 0.25 0.5 1 2; do dynsim simulate directset --alpha $a --eta 0.2; done", _directset_alpha,
                dict(alphas=(0.25, 0.5, 1.0, 2.0), eta=0.2, sigma=1.0, n1=8, t1=100.0, n_save=201, seed=0),
                dict(t1=50.0, n_save=101)),
        _figure("barlow-stepwise", "Linear Barlow Twins learns one direction at a time [S23]",
                "dynsim stepwise", _stepwise,
                dict(m=8, d=4, n_pairs=200, ratio=0.6, noise=0.5, init_scale=1e-4, seed=0, n_save=401),
                dict(n_save=201), paper="[S23] Fig. 1 (A, B)",
                same=("the embedding eigenvalues and the loss against the effective time t = lr x step, both on "
                      "linear axes, the simulation solid and the theory (closed-form eigenvalues and loss) dashed, "
                      "the predicted step times marked",),
                differences=(
                    "data: [S23] uses n = 500 CIFAR-10 positive pairs; dynsim uses 200 synthetic pairs with "
                    "spectrum gamma_j = 0.6^j (noise 0.5), d = 4 embedding dimensions, m = 8 inputs",
                    "panel order: eigenvalues in (a) and the loss in (b), where [S23] has the loss in (A) and the "
                    "eigenvalues in (B); the step times are triangles on the closed form in (a) and dotted lines "
                    "in (b), not dashed lines",
                    "the simulation is the gradient-flow ODE from a random init of scale 1e-4, not SGD steps",
                    "added by dynsim: (c) the relative deviation from the closed form against the solver "
                    "tolerance; [S23]'s panels (C, D), a ResNet on STL-10, are not redrawn",
                )),
        _figure("infonce-collapse-vs-k", "InfoNCE: dimensional collapse against the augmentation strength k [J22, Fig. 3]",
                "dynsim check infonce-fig3", _collapse_vs_k,
                dict(k=(0.0, 1.0, 2.0, 4.0, 8.0, 16.0), dim=16, dim_aug=8, samples=256, t1=200.0, seed=0),
                dict(k=(0.0, 1.0, 4.0, 16.0), samples=64, t1=100.0), paper="[J22] Fig. 3",
                same=("one linear 16 x 16 layer, data covariance I, augmentation blockdiag(0, k I_8) (8 x 8 blocks)",
                      "(a) the singular values of W on a log axis against their rank index, one curve per "
                      "augmentation strength k"),
                differences=(
                    "training: the authors' toy runs are SGD steps on freshly drawn samples; dynsim integrates "
                    "the InfoNCE gradient flow on n = 256 fixed "
                    "positive pairs with the Gaussian kernel (the paper's analysis form), temperature 1, to t1 = 200",
                    "k in {0, 1, 2, 4, 8, 16}, one lane of a single solve each; the singular values are read at t1, "
                    "and those below 1e-3 of the largest are circled in vermillion as collapsed",
                    "added by dynsim: (b) the number of collapsed singular values and of negative eigenvalues of "
                    "the effective X = Sigma_0 - Sigma_1 against k, with dim B = 8 dashed",
                )),
        _figure("infonce-two-layer", "Two-layer InfoNCE: collapse with X > 0, the layers align [J22, Thms 2-3]",
                "dynsim simulate infonce-2layer", _collapse, dict(model="infonce-2layer", seed=0, n_save=201),
                dict(samples=128, t1=100.0, n_save=101)),
        _figure("prediction-head", "The prediction head's four phases, trained head against E = I [WL22]",
                "dynsim simulate prediction-head", _prediction_head, dict(seed=0, steps=6000, seeds=4),
                dict(steps=2000, seeds=2)),
        _figure("compare-byol", "Finite-width SGD training against the flow: linear BYOL",
                "dynsim compare byol", _compare,
                dict(model="byol", lrs=(0.04, 0.02, 0.01), batches=(64, 256, 1024), T=20.0, seeds=4, seed=0),
                dict(lrs=(0.04, 0.02), batches=(64, 256), T=5.0, seeds=2)),
        _figure("basin-map", "Basins of the (p, s) dynamics, eta = 4e-4, sigma = 1, with the separatrix",
                "dynsim basin-map", _basin_map, dict(eta=4e-4, sigma=1.0, tau=1.0, alpha_p=1.0, grid=512),
                dict(grid=96)),
    ]
    return {f.name: f for f in figs}


FIGURES: dict[str, Figure] = _registry()


# ----------------------------------------------------------------------------- making them


def _has_number(obj) -> bool:
    if isinstance(obj, bool):
        return False
    if isinstance(obj, (int, float)):
        return True
    if isinstance(obj, dict):
        return any(_has_number(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_has_number(v) for v in obj)
    return False


def make_figures(names: Iterable[str] | None, out: str | Path, formats: Iterable[str] = ("pdf", "png"),
                 quick: bool = False, progress: Callable[[str], None] | None = None, size: str = "page") -> dict:
    """Make the named figures (all of :data:`FIGURES` if ``names`` is None) at ``size`` ("page",
    7 in wide, or "column", 3.4 in) and save each as ``out/<name>.<format>`` (PNG at 200 dpi; the
    same run writes the same bytes); write ``out/manifest.json`` and return it.

    The manifest holds, per figure, its name, title, command, parameters, files, runtime and
    summary, the paper figure it redraws with what matches and what differs, and the package
    versions; ``out/index.md`` (:func:`index_markdown`) is the same as a readable page.
    Unknown names raise :class:`dynsim.DynsimInputError` before anything is computed.
    """
    import matplotlib.pyplot as plt

    from dynsim._core.errors import DynsimInputError
    from dynsim._core.io import DPI, FORMATS, jsonable, versions
    from dynsim.plot.style import check_size, savefig

    names = list(FIGURES) if names is None else list(names)
    for n in names:
        if n not in FIGURES:
            raise DynsimInputError("figures", f"unknown figure '{n}'; `dynsim figures --list` lists them")
    check_size(size)
    formats = tuple(formats)
    for f in formats:
        if f not in FORMATS:
            raise DynsimInputError("format", f"unknown format '{f}'; choose from {', '.join(FORMATS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    records = []
    for i, n in enumerate(names):
        fig_def = FIGURES[n]
        if progress:
            progress(f"[{i + 1}/{len(names)}] {n}{' (quick)' if quick else ''}")
        t0 = time.perf_counter()
        figure, summary = fig_def.make(quick, size)
        files = []
        try:
            for fmt in formats:
                path = out / f"{n}.{fmt}"
                savefig(figure, path, format=fmt, dpi=DPI)
                files.append(path.name)
        finally:
            plt.close(figure)
        summary = jsonable(summary)
        if not _has_number(summary):
            raise RuntimeError(f"figure {n!r}: its summary holds no number")
        records.append({"name": n, "title": fig_def.title, "command": fig_def.command,
                        "parameters": jsonable(fig_def.parameters(quick)), "quick": quick, "size": size, "files": files,
                        "paper": fig_def.paper, "same_as_paper": list(fig_def.same),
                        "differences_from_paper": list(fig_def.differences),
                        "runtime_s": round(time.perf_counter() - t0, 3), "summary": summary})
    manifest = {"figures": records, "quick": quick, "size": size, "formats": list(formats),
                "runtime_s": round(time.perf_counter() - start, 3), "versions": versions()}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (out / "index.md").write_text(index_markdown(records))
    return manifest


def index_markdown(records: list[dict]) -> str:
    """The gallery's page: per figure its image, the command that makes it, the paper figure it
    redraws, what matches that figure and the differences that remain (from the manifest's records)."""
    lines = ["# dynsim gallery", "",
             "Each figure with the one command that makes it. Where it redraws a paper's figure, the paper figure, "
             "what matches it and the differences that remain.", ""]
    for r in records:
        png = next((f for f in r["files"] if f.endswith(".png")), r["files"][0] if r["files"] else None)
        lines += [f"## {r['name']}", "", r["title"], ""]
        if png:
            lines += [f"![{r['name']}]({png})", ""]
        lines += [f"`{r['command']}`" + (" (quick run)" if r["quick"] else ""), ""]
        if r["paper"] is None:
            lines += ["Paper figure: none (no single paper figure shows this).", ""]
            continue
        lines += [f"Paper figure: {r['paper']}.", "", "Same as the paper's:"]
        lines += [f"- {t}" for t in r["same_as_paper"]]
        lines += ["", "Differences that remain:"]
        lines += [f"- {t}" for t in r["differences_from_paper"]] or ["- none"]
        lines.append("")
    return "\n".join(lines)
