"""The figures of :mod:`dynsim.models.jepa`: matplotlib is imported here, on first use."""

from __future__ import annotations

import numpy as np

from dynsim.models.jepa import system as js


def _labels(run) -> list[str]:
    lam, rho = run.params["lam"], run.params["rho"]
    return [rf"$\lambda$={lam[i]:.2g}, $\rho$={rho[i]:.2g}" for i in range(len(lam))]


def plot_jepa(run: js.JepaRun, size: str = "page"):
    """In the style of [L24]'s figures: (a) JEPA's and (b) MAE's encoder strengths ``||Wbar e_i||`` over
    training time, normalised by their plateaus, one colour per feature (the flow solid; the decoupled
    closed form dashed black; dots at the measured learning times, half the final strength); (c) the
    learning times, measured (dots) against the closed form and [L24]'s formula (as stated, and divided
    by L); (d) when the run trained by SGD, each feature's SGD learning time (seed mean, range over seeds)
    against the flow's."""
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    from dynsim.plot.style import PALETTE, SEQUENCE, THEORY, figsize, number, style

    objs = [o for o in ("jepa", "mae") if o in run.t]
    d = len(run.params["lam"])
    cmap = colormaps[SEQUENCE]
    colors = [cmap(0.85 * i / max(d - 1, 1)) for i in range(d)]
    labels = _labels(run)
    L, eps, frac = run.params["depth"], run.params["eps"], run.params["frac"]
    lam, rho = np.asarray(run.params["lam"]), np.asarray(run.params["rho"])
    markers = {"jepa": ("o", PALETTE["blue"]), "mae": ("s", PALETTE["vermillion"])}
    n = len(objs) + 1 + bool(run.training)
    with style(size):
        if size == "column":  # one column: the panels stacked
            fig, axes = plt.subplots(n, 1, figsize=figsize(size, height=1.9 * n + 0.2), layout="constrained")
            axes = np.atleast_1d(axes)
        elif run.training:
            fig, axes = plt.subplots(2, 2, figsize=figsize(size, aspect=0.62), layout="constrained")
            axes = axes.ravel()
        else:
            fig, axes = plt.subplots(1, n, figsize=figsize(size, aspect=0.34), layout="constrained")
            axes = np.atleast_1d(axes)
        for k, o in enumerate(objs):
            ax = axes[k]
            t, s, top = run.t[o], run.strength[o], run.plateau[o]
            final = s[-1] / top
            for i in range(d):
                ax.plot(t, s[:, i] / top[i], color=colors[i], label=labels[i])
                if run.closed_form.get(o) is not None:
                    tc, vc = js.trajectory(o, lam[i], rho[i], L, eps)
                    ax.plot(tc, vc, **{**THEORY, "lw": 0.7})
                m = run.measured[o][i]
                if np.isfinite(m):
                    ax.plot([m], [frac * final[i]], "o", color=colors[i], ms=3, zorder=3)
            ax.set_title(f"({'ab'[k]}) {o.upper()}, L = {L}, " + r"$\varepsilon$ = " + number(eps))
            ax.set_xlabel("training time t")
            ax.set_ylabel(r"$\|\bar W e_i\|$ / plateau")
            ax.set_ylim(-0.03, 1.08)
            last = np.nanmax(run.measured[o])
            ax.set_xlim(0, min(t[-1], 1.4 * last) if np.isfinite(last) else t[-1])
        axes[0].legend(loc="upper left", fontsize=6)
        ax = axes[len(objs)]
        x = np.arange(d) + 1
        for o in objs:
            mk, c = markers[o]
            ax.plot(x, run.measured[o], mk, color=c, label=f"{o.upper()} measured", ms=4)
            if run.closed_form.get(o) is not None:
                ax.plot(x, run.closed_form[o], color=c, lw=0.8, ls="--", label="closed form")
        if "jepa" in objs:
            ax.plot(x, run.paper, "x", color="black", ms=4, label="[L24] formula")
            ax.plot(x, run.paper / L, "+", color=PALETTE["grey"], ms=6, label="[L24] formula / L")
        ax.set_yscale("log")
        ax.set_xticks(x)
        ax.set_xlabel(r"feature $i$ (colours of (a))")
        ax.set_ylabel(f"time to {number(frac)} of the final strength")
        ax.set_title(f"({'abc'[len(objs)]}) learning times")
        ax.legend(fontsize=6, loc="center right")
        if run.training:
            ax = axes[len(objs) + 1]
            lo, hi = np.inf, 0.0
            for o in objs:
                if o not in run.training:
                    continue
                mk, c = markers[o]
                tt = run.training[o]["times"]
                mean, flow_t = np.nanmean(tt, axis=0), run.measured[o]
                err = np.vstack([mean - np.nanmin(tt, axis=0), np.nanmax(tt, axis=0) - mean])
                ax.errorbar(flow_t, mean, yerr=err, fmt=mk, color=c, ms=3.5, lw=0.8, label=o.upper())
                lo, hi = min(lo, np.nanmin(flow_t)), max(hi, np.nanmax(flow_t))
            ax.plot([lo / 1.5, hi * 1.5], [lo / 1.5, hi * 1.5], **THEORY, label="SGD = flow")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("learning time of the flow")
            ax.set_ylabel("learning time of SGD (t = lr x step)")
            tr0 = next(iter(run.training.values()))
            ax.set_title(f"(d) SGD vs flow: batch {tr0['batch']}, lr {number(tr0['lr'])}, "
                         f"{tr0['times'].shape[0]} seeds")
            ax.legend(fontsize=6)
    return fig


def plot_depth(depths, sensitivity: dict, size: str = "column"):
    """The rho-sensitivity ``-d ln t / d ln rho`` of each objective against the depth ``L``
    (``sensitivity = {label: [value per depth]}``)."""
    import matplotlib.pyplot as plt

    from dynsim.plot.style import SERIES, figsize, style

    with style(size):
        fig, ax = plt.subplots(figsize=figsize(size), layout="constrained")
        for k, (label, vals) in enumerate(sensitivity.items()):
            ax.plot(depths, vals, "o-", color=SERIES[k % len(SERIES)], label=label, ms=3)
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.set_xlabel("encoder depth L")
        ax.set_ylabel(r"$\rho$-sensitivity $-d\ln t^*/d\ln\rho$")
        ax.legend()
    return fig
