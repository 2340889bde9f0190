"""Every paper figure dynsim can draw, as a registry: ``FIGURES`` and :func:`make_figures`.

Each :class:`Figure` names the one ``dynsim`` command that makes the same figure (or, where no single
command draws it, the commands whose runs it combines), its parameters, and a ``make(quick)``
callable built only from the public API. ``quick=True`` shrinks the work (small grids, few seeds,
short runs) so that all figures together take about a minute on two CPU cores; ``quick=False``
gives the paper-quality defaults (the CLI's own defaults where a command exists).
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
    """One registered figure: ``make(quick)`` returns ``(matplotlib Figure, summary dict)``."""

    name: str
    title: str
    command: str
    params: dict
    make: Callable[[bool], tuple]
    quick_params: dict = dataclasses.field(default_factory=dict)

    def parameters(self, quick: bool = False) -> dict:
        """The parameters ``make(quick)`` uses: ``params``, with ``quick_params`` over them if quick."""
        return {**self.params, **self.quick_params} if quick else dict(self.params)


# ----------------------------------------------------------------------------- builders


def _phase_portrait(*, eta, sigma, tau, alpha_p, n_traj, n_save):
    import dynsim

    system = dynsim.EigenDynamics2D(eta=eta, sigma=sigma, tau=tau, alpha_p=alpha_p)
    pp = dynsim.phase_portrait(system, n_traj=n_traj, n_save=n_save)
    s = pp.summary()
    keep = ("regime", "regime_text", "eta_critical", "collapse_threshold_p_minus", "p_plus", "stationary_points",
            "trajectories", "solver")
    return dynsim.plot_phase_portrait(pp), {k: s[k] for k in keep if k in s} or s


def _simulate(*, model, t1=None, n_save=201, **options):
    import dynsim

    sim = dynsim.simulate(model, t1=t1, n_save=n_save, **options)
    return dynsim.plot_simulation(sim), sim.summary()


def _directset_alpha(*, alphas, eta, sigma, n1, t1, n_save, seed):
    """[W21]'s DirectSet(alpha) on the nuisance model X = I, X' = sigma^2 P_B, one run per alpha."""
    import matplotlib.pyplot as plt

    import dynsim

    from dynsim.plot.seed_figures import PALETTE, style

    runs = [dynsim.simulate("directset", alpha=a, eta=eta, sigma=sigma, n1=n1, t1=t1, n_save=n_save, seed=seed)
            for a in alphas]
    colours = [PALETTE[c] for c in ("sky", "blue", "orange", "vermillion", "green", "purple")]
    summary = {"alpha": list(alphas), "norm_W_P_S_final": [], "norm_W_P_B_final": [], "snr_final": [],
               "predicted_singular_value": [], "max_error_singular_values_on_S": [], "directions_on_S_at_limit": [],
               "directions_on_S": [], "complete": []}
    with style():
        fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.3), layout="constrained")
        a, b, c = axes
        for alpha, sim, col in zip(alphas, runs, colours):
            sr = sim.series
            t = sr["t"]
            ok = np.isfinite(t)
            n_s, n_b = sr["norm_S"], sr["norm_B"]
            sv = sr["sv_S"]
            for j in range(sv.shape[-1]):
                a.plot(t[ok], sv[ok, j], color=col, lw=1.0)
            if "limit" in sr:
                a.axhline(float(sr["limit"]), color=col, ls="--", lw=0.9)
            last = int(np.flatnonzero(ok)[-1])
            lim = float(sr["limit"]) if "limit" in sr else np.nan
            summary["directions_on_S_at_limit"].append(int(np.sum(np.abs(sv[last] - lim) < 1e-3 * lim)))
            summary["directions_on_S"].append(int(sv.shape[-1]))
            b.plot(t[ok], np.where(n_b[ok] > 0, n_b[ok], np.nan), color=col)
            snr = np.where(n_b > 0, n_s / np.where(n_b > 0, n_b, 1.0), np.nan)
            c.plot(t[ok], snr[ok], color=col, label=fr"$\alpha = {alpha:g}$")
            s = sim.summary()
            nu = s.get("nuisance", {})
            summary["norm_W_P_S_final"].append(nu.get("norm_W_P_S"))
            summary["norm_W_P_B_final"].append(nu.get("norm_W_P_B"))
            summary["snr_final"].append(nu.get("snr"))
            summary["predicted_singular_value"].append(nu.get("predicted_singular_value"))
            summary["max_error_singular_values_on_S"].append(nu.get("max_error_singular_values_on_S"))
            summary["complete"].append(s.get("complete"))
        a.set(xlabel="$t$", ylabel=r"singular values of $W P_S$", title="(a) invariant subspace $S$")
        c.plot([], [], color="0.3", ls="--", lw=0.9, label=r"(a) dashed: [W21]'s limit")
        c.legend(frameon=False, loc="upper left")
        b.set(xlabel="$t$", ylabel=r"$\|W P_B\|_F$", yscale="log", title="(b) nuisance subspace $B$")
        c.set(xlabel="$t$", ylabel=r"$\|W P_S\|_F \,/\, \|W P_B\|_F$", yscale="log", title="(c) signal-to-noise ratio")
        fig.suptitle(fr"DirectSet($\alpha$), $X = I$, $X' = \sigma^2 P_B$: $\eta = {eta:g}$, $\sigma = {sigma:g}$, "
                     fr"$n_1 = {n1}$")
    return fig, summary


def _stepwise(**options):
    import dynsim

    run = dynsim.stepwise(**options)
    return dynsim.plot_stepwise(run), run.summary()


def _collapse_vs_k(*, k, dim, dim_aug, samples, t1, seed):
    """Fig. 3 of [J22]: the singular values of the trained layer against the augmentation strength k."""
    import matplotlib.pyplot as plt

    import dynsim

    from dynsim.plot.seed_figures import PALETTE, style

    sw = dynsim.collapse_sweep(k, dim=dim, dim_aug=dim_aug, samples=samples, t1=t1, seed=seed)
    sv = np.asarray(sw.singular_values)
    rel = sv / sv[:, :1]
    floor = 1e-3  # the collapse threshold of collapse_sweep: below 1e-3 of the largest
    idx = np.arange(1, sv.shape[1] + 1)
    cmap = plt.get_cmap("viridis")
    colours = cmap(np.linspace(0.0, 0.85, len(sw.k)))
    with style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(9.0, 3.4), layout="constrained", width_ratios=(1.35, 1))
        for kk, r, col in zip(sw.k, rel, colours):
            a.plot(idx, np.maximum(r, 1e-17), "o-", ms=3, lw=1.0, color=col, label=f"$k = {kk:g}$")
        a.axhline(floor, color=PALETTE["vermillion"], ls=":", lw=1.0)
        a.text(idx[0], floor * 1.6, "collapsed below", color=PALETTE["vermillion"], fontsize=8, va="bottom")
        a.set(yscale="log", xlabel="singular value index $j$", ylabel=r"$\sigma_j(W) / \sigma_1(W)$ at $t_1$",
              title=f"(a) embedding spectrum, $t_1 = {t1:g}$", xticks=idx[::2] if idx.size > 10 else idx)
        a.legend(frameon=False, loc="lower left", ncol=2)
        x = np.arange(len(sw.k))
        neg = np.sum(np.asarray(sw.X_eig) < 0, 1)
        w = 0.38
        b.bar(x - w / 2, sw.collapsed_dims, w, color=PALETTE["vermillion"], label="collapsed singular values")
        b.bar(x + w / 2, neg, w, color=PALETTE["blue"], label="negative eigenvalues of $X$")
        b.axhline(dim_aug, color="0.3", ls="--", lw=0.9)
        b.text(x[0] - w, dim_aug + 0.15, f"augmented dims ({dim_aug})", fontsize=8, va="bottom", color="0.3")
        b.set(xticks=x, xticklabels=[f"{v:g}" for v in sw.k], xlabel="augmentation strength $k$", ylabel="count",
              ylim=(0, dim_aug * 1.45), title="(b) collapse against $k$")
        b.legend(frameon=False, loc="upper left", bbox_to_anchor=(0.0, 0.93))
        fig.suptitle(f"InfoNCE, one linear {dim}×{dim} layer: data covariance $I$, augmentation "
                     f"block-diag$(0, kI_{{{dim_aug}}})$, $n = {samples}$ pairs [J22, Fig. 3]")
    summary = {**sw.summary(), "X_negative_eigenvalues": neg, "min_relative_singular_value": rel[:, -1]}
    return fig, summary


def _collapse(*, model, **options):
    import dynsim

    run = dynsim.simulate_collapse(model, **options)
    return dynsim.plot_collapse(run), run.summary()


def _prediction_head(**options):
    import dynsim

    run = dynsim.simulate_prediction_head(**options)
    return dynsim.plot_prediction_head(run), run.summary()


def _compare(*, model, lrs, batches, T, seeds, seed=0):
    import dynsim

    c = dynsim.compare(model, lrs=lrs, batches=batches, T=T, seeds=seeds, seed=seed)
    return dynsim.plot_comparison(c), {**c.summary(), "rates": c.rates()}


def _basin_map(*, eta, sigma, tau, alpha_p, grid):
    import dynsim

    system = dynsim.EigenDynamics2D(eta=eta, sigma=sigma, tau=tau, alpha_p=alpha_p)
    bm = dynsim.basin_map(system, num=grid)
    return dynsim.plot_basin_map(bm), bm.summary()


# ----------------------------------------------------------------------------- registry


def _figure(name: str, title: str, command: str, builder: Callable, params: dict, quick: dict | None = None) -> Figure:
    quick = dict(quick or {})

    def make(quick_: bool = False):
        return builder(**({**params, **quick} if quick_ else params))

    make.__name__ = f"make_{name.replace('-', '_')}"
    return Figure(name, title, command, dict(params), make, quick)


def _registry() -> dict[str, Figure]:
    pp = dict(sigma=1.0, tau=1.0, alpha_p=1.0, n_traj=16, n_save=400)
    pp_quick = dict(n_traj=6, n_save=150)
    figs = [
        _figure("phase-portrait-eta-0", "Phase portrait of the (p, s) dynamics, eta = 0 [T21, Fig. 3]",
                "dynsim phase-portrait --eta 0 --sigma 1", _phase_portrait, dict(eta=0.0, **pp), pp_quick),
        _figure("phase-portrait-eta-0.01", "Phase portrait of the (p, s) dynamics, eta = 0.01 [T21, Fig. 3]",
                "dynsim phase-portrait --eta 0.01 --sigma 1", _phase_portrait, dict(eta=0.01, **pp), pp_quick),
        _figure("phase-portrait-eta-1", "Phase portrait of the (p, s) dynamics, eta = 1: collapse only [T21, Fig. 3]",
                "dynsim phase-portrait --eta 1 --sigma 1", _phase_portrait, dict(eta=1.0, **pp), pp_quick),
        _figure("phase-portrait-eta-4e-4", "Phase portrait of the (p, s) dynamics, eta = 4e-4 (the tuned weight decay)",
                "dynsim phase-portrait --eta 4e-4 --sigma 1", _phase_portrait, dict(eta=4e-4, **pp), pp_quick),
        _figure("eigenvalues-byol", "Linear BYOL (Lemma 1): eigenvalues of F and W_p, Theorem 1's drift [T21]",
                "dynsim simulate byol", _simulate,
                dict(model="byol", n1=8, eta=0.01, sigma=0.5, beta=0.4, t1=200.0, n_save=201, seed=0),
                dict(t1=100.0, n_save=101)),
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
                dict(n_save=201)),
        _figure("infonce-collapse-vs-k", "InfoNCE: dimensional collapse against the augmentation strength k [J22, Fig. 3]",
                "dynsim check infonce-fig3", _collapse_vs_k,
                dict(k=(0.0, 1.0, 2.0, 4.0, 8.0, 16.0), dim=16, dim_aug=8, samples=256, t1=200.0, seed=0),
                dict(k=(0.0, 1.0, 4.0, 16.0), samples=64, t1=100.0)),
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
                 quick: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    """Make the named figures (all of :data:`FIGURES` if ``names`` is None) and save each as
    ``out/<name>.<format>`` (PNG at 200 dpi); write ``out/manifest.json`` and return it.

    The manifest holds, per figure, its name, title, command, parameters, files, runtime and
    summary, with the package versions. Unknown names raise :class:`dynsim.DynsimInputError`
    before anything is computed.
    """
    import matplotlib.pyplot as plt

    from dynsim._core.errors import DynsimInputError
    from dynsim._core.io import DPI, FORMATS, jsonable, versions

    names = list(FIGURES) if names is None else list(names)
    for n in names:
        if n not in FIGURES:
            raise DynsimInputError("figures", f"unknown figure '{n}'; `dynsim figures --list` lists them")
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
        figure, summary = fig_def.make(quick)
        files = []
        try:
            for fmt in formats:
                path = out / f"{n}.{fmt}"
                figure.savefig(path, format=fmt, dpi=DPI)
                files.append(path.name)
        finally:
            plt.close(figure)
        summary = jsonable(summary)
        if not _has_number(summary):
            raise RuntimeError(f"figure {n!r}: its summary holds no number")
        records.append({"name": n, "title": fig_def.title, "command": fig_def.command,
                        "parameters": jsonable(fig_def.parameters(quick)), "quick": quick, "files": files,
                        "runtime_s": round(time.perf_counter() - t0, 3), "summary": summary})
    manifest = {"figures": records, "quick": quick, "formats": list(formats),
                "runtime_s": round(time.perf_counter() - start, 3), "versions": versions()}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
