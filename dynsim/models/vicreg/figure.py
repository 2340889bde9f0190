"""The figure of :mod:`dynsim.models.vicreg`: matplotlib is imported here, on first use."""

from __future__ import annotations

import numpy as np

from dynsim.models.vicreg import system as vs


def plot_vicreg(run: vs.VICRegRun, size: str = "page"):
    """(a) the eigenvalues of ``C`` from a random start at the given ``nu`` (solid) and at ``2 nu_c`` (dashed),
    the closed form ``v*(m_j)`` dashed black; (b) the outputs' correlation ``||offdiag C|| / ||C||``;
    (c) the stationary variances against ``lambda / mu``: the closed form (lines), the aligned flow's end
    (dots) and the collapse thresholds ``1 / (2 d m_j sqrt(eps))`` (dotted)."""
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    from dynsim.plot.style import COLLAPSED, NONTRIVIAL, SEQUENCE, THEORY, TOLERANCE, figsize, number, style

    p = run.params
    d, t = p["d"], run.t
    cmap = colormaps[SEQUENCE]
    colors = [cmap(0.85 * j / max(d - 1, 1)) for j in range(d)]
    labels = {"given": rf"$\nu$ = {number(p['nu'])}", "twice_nu_c": rf"$\nu = 2\nu_c$ = {number(2 * run.nu_c)}"}
    line = {"given": {"color": COLLAPSED}, "twice_nu_c": {"color": NONTRIVIAL, "ls": "--"}}
    with style(size):
        if size == "column":
            fig, axes = plt.subplots(3, 1, figsize=figsize(size, height=6.0), layout="constrained")
        else:
            fig, axes = plt.subplots(1, 3, figsize=figsize(size, aspect=0.36), layout="constrained")
        ax = axes[0]
        for k, spec in run.spectrum.items():
            for j in range(d):
                ax.plot(t, np.maximum(spec[:, j], 1e-12), lw=1.0, label=labels[k] if j == d - 1 else None, **line[k])
        for j, v in enumerate(run.closed_form):
            ax.axhline(v, **{**THEORY, "lw": 0.7}, label=r"$v^*(m_j)$" if j == 0 else None)
        ax.set_yscale("log")
        ax.set_ylim(1e-6, 10)
        ax.set_xlabel("t")
        ax.set_ylabel(r"eigenvalues of $C = W(X+X')W^\top$")
        ax.set_title(rf"(a) random start, $\lambda$ = {number(p['lam'])}, $\mu$ = {number(p['mu'])}")
        ax.legend(fontsize=6, loc="lower right")
        ax = axes[1]
        for k, off in run.off_diagonal.items():
            ax.plot(t, np.maximum(off, 1e-17), label=labels[k], **line[k])
        ax.set_yscale("log")
        ax.set_xlabel("t")
        ax.set_ylabel(r"$\|\mathrm{offdiag}\,C\|_F / \|C\|_F$")
        ax.set_title(rf"(b) correlation of the outputs ($\nu_c$ = {number(run.nu_c)})")
        ax.legend(fontsize=6)
        ax = axes[2]
        grid = np.geomspace(0.5, 2.0 * max(run.ratios.max(), 1.0), 400)
        thr = vs.collapse_threshold(run.noise, d, p["eps"])
        for j, m in enumerate(run.noise):
            v = vs.stationary_variances(m, d, lam=grid, mu=1.0, eps=p["eps"], gamma=p["gamma"])
            ax.plot(grid, np.where(v > 0, v, np.nan), color=colors[j], label=f"$m_{j + 1}$ = {number(m)}")
            ax.axvline(thr[j], color=colors[j], **{k: v for k, v in TOLERANCE.items() if k != "color"})
            alive = run.sweep_final[:, j] >= vs.COLLAPSED
            ax.plot(run.ratios[alive], run.sweep_final[alive, j], "o", color=colors[j], ms=3.5)
            ax.plot(run.ratios[~alive], np.full((~alive).sum(), 2e-6), "v", color=colors[j], ms=3.5)
        ax.plot([], [], "o", color="0.3", ms=3.5, label="aligned flow")
        ax.plot([], [], "v", color="0.3", ms=3.5, label="collapsed")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e-6, 2)
        ax.set_xlabel(r"invariance weight $\lambda / \mu$")
        ax.set_ylabel(r"stationary variance $v^*$")
        ax.set_title(r"(c) collapse at $\lambda/\mu = 1/(2 d m_j \sqrt{\epsilon})$")
        ax.legend(fontsize=6, loc="lower left")
    return fig
