"""The figure of :mod:`dynsim.models.cosine`: matplotlib is imported here, on first use."""

from __future__ import annotations

import numpy as np

from dynsim.models.cosine import system as cs


def plot_cosine(run: cs.CosineRun, size: str = "page"):
    """After [B23]'s eigenvalue trajectories, cosine against Euclidean loss from one start at ``eta``:
    (a) the eigenvalues of ``F = W W^T`` (log), cosine solid, Euclidean dashed; (b) their shares of
    ``tr F`` (what the cosine sees); (c) ``||W||_F`` and ``||W_p||_F`` against the law ``e^{-eta t}``
    (dashed black); (d) the time change: ``||W_eta(t) - e^{-eta t} W_0(u(t))|| / ||W_eta(t)||``."""
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    from dynsim.plot.style import SEQUENCE, THEORY, TOLERANCE, figsize, number, style

    p = run.params
    t, eta, n = run.t, p["eta"], p["n"]
    cmap = colormaps[SEQUENCE]
    colors = [cmap(0.85 * j / max(n - 1, 1)) for j in range(n)]
    f_cos, _ = run.spectra["cosine"]
    f_euc, _ = run.spectra["euclidean"]
    tiny = 1e-300
    with style(size):
        if size == "column":
            fig, axes = plt.subplots(4, 1, figsize=figsize(size, height=7.4), layout="constrained")
        else:
            fig, axes = plt.subplots(2, 2, figsize=figsize(size, aspect=0.62), layout="constrained")
        axes = np.ravel(axes)
        ax = axes[0]
        for j in range(n):
            ax.plot(t, np.maximum(f_cos[:, j], tiny), color=colors[j], label=f"cosine, mode {j + 1}")
            ax.plot(t, np.maximum(f_euc[:, j], tiny), color=colors[j], ls="--", lw=0.8)
        ax.plot([], [], color="0.3", ls="--", lw=0.8, label="Euclidean (same start)")
        ax.set_yscale("log")
        lo = max(1e-12, min(np.nanmin(np.where(f_cos > 0, f_cos, np.inf)), np.nanmin(np.where(f_euc > 0, f_euc, np.inf))))
        ax.set_ylim(lo, 2 * max(f_cos.max(), f_euc.max()))
        ax.set_xlabel("t")
        ax.set_ylabel(r"eigenvalues $s_j$ of $F = WW^\top$")
        ec = cs.critical_eta_isotropic(p["sigma"])
        ax.set_title(rf"(a) $\eta$ = {number(eta)} ($\eta_c$ = {number(ec)}), $\sigma$ = {number(p['sigma'])}")
        ax.legend(fontsize=6, loc="lower left")
        ax = axes[1]
        for j in range(n):
            ax.plot(t, f_cos[:, j] / f_cos.sum(-1), color=colors[j])
            ax.plot(t, f_euc[:, j] / f_euc.sum(-1), color=colors[j], ls="--", lw=0.8)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("t")
        ax.set_ylabel(r"share $s_j / \mathrm{tr}\,F$")
        ax.set_title("(b) the shape the cosine sees")
        ax = axes[2]
        w, wp = run.norms["cosine"]
        we, wpe = run.norms["euclidean"]
        ax.plot(t, w, color=colors[0], label=r"$\|W\|_F$ cosine")
        ax.plot(t, wp, color=colors[-1], label=r"$\|W_p\|_F$ cosine")
        ax.plot(t, we, color=colors[0], ls="--", lw=0.8, label=r"$\|W\|_F$ Euclidean")
        ax.plot(t, wpe, color=colors[-1], ls="--", lw=0.8, label=r"$\|W_p\|_F$ Euclidean")
        ax.plot(t, w[0] * np.exp(-eta * t), **THEORY, label=r"$\|\cdot\|(0)\,e^{-\eta t}$")
        ax.plot(t, wp[0] * np.exp(-eta * t), **THEORY)
        ax.set_yscale("log")
        ax.set_xlabel("t")
        ax.set_ylabel("norm")
        ax.set_title("(c) the norms decay as exactly " + r"$e^{-\eta t}$")
        ax.legend(fontsize=6, loc="best")
        ax = axes[3]
        err = np.maximum(run.time_change_error, 1e-17)
        ax.plot(t, err, color=colors[0], label=r"$\|W_\eta(t) - e^{-\eta t}W_0(u)\| / \|W_\eta(t)\|$")
        ax.axhline(p["rtol"], **TOLERANCE, label=f"solver rtol {number(p['rtol'])}")
        ax.set_yscale("log")
        ax.set_ylim(1e-17, 1e-4)
        ax.set_xlabel("t")
        ax.set_ylabel("relative difference")
        ax.set_title(r"(d) time change $u = (e^{2\eta t}-1)/2\eta$")
        ax.legend(fontsize=6, loc="upper left")
    return fig
