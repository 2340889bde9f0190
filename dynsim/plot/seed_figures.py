"""Figures. One house style (colour-blind-safe Okabe-Ito palette, one font size scheme)."""

from __future__ import annotations

import contextlib

import matplotlib

matplotlib.use("Agg")  # figures are files; never needs a display
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from dynsim.models.eigen.portrait import PhasePortrait, Window

from dynsim.plot.style import NULL_P, NULL_S, NULL_S_LS, PALETTE, STABLE, STYLE, UNSTABLE, style  # noqa: F401


def _mark_points(ax, pts, stability, isolated, window, coords=(0, 1)):
    """Stationary points inside ``window`` (p_min, p_max, s_min, s_max); stable ones on top."""
    p_lo, p_hi, s_lo, s_hi = window
    order = sorted(range(len(stability)), key=lambda i: stability[i].startswith("stable"))
    for i in order:
        y, st, iso = pts[i], stability[i], isolated[i]
        x, yy = (y[coords[0]], 0.0) if len(coords) == 1 else (y[coords[0]], y[coords[1]])
        if not (p_lo <= x <= p_hi and s_lo <= yy <= s_hi):
            continue
        if not iso:
            ax.plot(x, yy, "o", ms=2.5, color=PALETTE["grey"], zorder=5)
        elif st.startswith("stable"):
            ax.plot(x, yy, "o", ms=7, mfc=STABLE, mec="black", mew=0.8, zorder=7, clip_on=False)
        elif st == "degenerate":
            ax.plot(x, yy, "D", ms=6, mfc="white", mec=PALETTE["purple"], mew=1.6, zorder=6, clip_on=False)
        else:
            ax.plot(x, yy, "o", ms=7, mfc="white", mec=UNSTABLE, mew=1.8, zorder=6, clip_on=False)


def _sci(x: float, digits: int = 3) -> str:
    """``4.003\\times10^{-4}`` (mathtext) for small or large numbers, plain otherwise."""
    if x == 0 or 1e-2 <= abs(x) < 1e4:
        return f"{x:.{digits + 1}g}"
    mant, exp = f"{x:.{digits}e}".split("e")
    return rf"{mant}\times10^{{{int(exp)}}}"


def _point_to_zoom(ax, pp: PhasePortrait, width: float, y: float = 0.0):
    """At full scale p*_- sits on the origin: say where to look."""
    pm = float(pp.system.p_minus)
    if np.isfinite(pm) and 0 < pm < 0.02 * width:
        ax.annotate(rf"$p^*_-={_sci(pm)}$ hides under $0$: see the zoom", xy=(0.0, y),
                    xytext=(0.06, 0.22), textcoords="axes fraction", fontsize=7.5,
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85),
                    arrowprops=dict(arrowstyle="->", lw=0.7, color="0.3"), color="0.25", zorder=9)


def _plane(ax, pp: PhasePortrait, w: Window, prefix: str, sl: slice):
    f = pp.fields
    ax.streamplot(f[prefix + "field_p"], f[prefix + "field_s"], f[prefix + "field_dp"], f[prefix + "field_ds"],
                  color="#C4C4C4", density=1.0, linewidth=0.6, arrowsize=0.7, zorder=1)
    ax.contour(f[prefix + "nullcline_p"], f[prefix + "nullcline_s"], f[prefix + "nullcline_dp"], [0.0],
               colors=NULL_P, linewidths=1.4, zorder=2)
    ax.contour(f[prefix + "nullcline_p"], f[prefix + "nullcline_s"], f[prefix + "nullcline_ds"], [0.0],
               colors=NULL_S, linewidths=1.5, linestyles=[NULL_S_LS], zorder=2)
    p = np.linspace(w.p_min, w.p_max, 400)
    ax.plot(p, p**2 / float(pp.system.alpha_p), "--", color="black", lw=1.0, zorder=3)
    sol, lab, fp = pp.trajectories, pp.attractor[sl], pp.fixed_points
    ys, ok = np.asarray(sol.ys)[sl], np.asarray(sol.ok)[sl]
    for y, i, good in zip(ys, lab, ok):
        y = y[np.all(np.isfinite(y), axis=1)]
        if not good:
            color, ls = "black", ":"
        elif i < 0:
            color, ls = PALETTE["grey"], "-"
        else:
            color, ls = (PALETTE["orange"] if np.allclose(fp.points[i], 0, atol=1e-12) else PALETTE["blue"]), "-"
        ax.plot(y[:, 0], y[:, 1], ls, color=color, lw=1.3, zorder=4, alpha=0.95)
        ax.plot(y[0, 0], y[0, 1], "o", ms=2.5, color=color, zorder=4)
    _mark_points(ax, fp.points, fp.stability, fp.isolated, (w.p_min, w.p_max, w.s_min, w.s_max))
    if not prefix:
        _point_to_zoom(ax, pp, w.p_max - w.p_min)
    ax.set_xlim(w.p_min, w.p_max)
    ax.set_ylim(w.s_min, w.s_max)
    ax.set_xlabel(r"$p_j$  (eigenvalue of $W_p$)")
    ax.set_ylabel(r"$s_j$  (eigenvalue of $F$)")


def _line(ax, pp: PhasePortrait, prefix: str):
    f = pp.fields
    p, dp = f[prefix + "curve_p"], f[prefix + "curve_dp"]
    lo, hi = float(p[0]), float(p[-1])
    fp = pp.fixed_points_1d
    for a, b, i in pp.basins_1d(-np.inf, np.inf):
        a, b = max(a, lo), min(b, hi)
        if i < 0 or a >= b:
            continue
        collapsed = abs(fp.points[i, 0]) < 1e-12
        ax.axvspan(a, b, color=PALETTE["orange"] if collapsed else PALETTE["blue"], alpha=0.13, lw=0, zorder=0)
    ax.axhline(0.0, color="black", lw=0.6, zorder=1)
    ax.plot(p, dp, color="black", lw=1.4, zorder=2)
    _mark_points(ax, fp.points, fp.stability, fp.isolated, (lo, hi, 0.0, 0.0), coords=(0,))
    # Scale the y axis to the structure between the stationary points, not the cubic's tail.
    inner = fp.points[(fp.points[:, 0] >= lo) & (fp.points[:, 0] <= hi), 0]
    if len(inner) > 1 and inner.max() > inner.min():
        span = inner.max() - inner.min()
        sel = (p >= inner.min() - 0.5 * span) & (p <= inner.max() + 0.5 * span)
        top = 1.6 * np.max(np.abs(dp[sel]))
        if top > 0:
            ax.set_ylim(max(dp.min(), -top), min(dp.max(), top) if dp.max() > 0 else top)
    if not prefix:
        _point_to_zoom(ax, pp, hi - lo)
    ax.set_xlim(lo, hi)
    ax.set_xlabel(r"$p_j$")
    ax.set_ylabel(r"$\dot p_j = p_j^2[\tau-(1+\sigma^2)p_j]-\eta p_j$")


def plot_phase_portrait(pp: PhasePortrait):
    """The [T21] Fig. 3-style figure: (a) the (p, s) plane, (b) its zoom around the origin,
    (c) the 1-D dynamics on the parabola with its basins, (d) the same near the origin."""
    sys = pp.system
    eta, sigma, tau, alpha = (float(getattr(sys, k)) for k in ("eta", "sigma", "tau", "alpha_p"))
    with style():
        fig, axes = plt.subplots(2, 2, figsize=(9.2, 7.6), layout="constrained")
        (a, b), (c, d) = axes
        _plane(a, pp, pp.window, "", slice(0, pp.n_main))
        _plane(b, pp, pp.zoom, "zoom_", slice(pp.n_main, None))
        _line(c, pp, "")
        _line(d, pp, "zoom_")
        a.set_title(r"(a) $(p_j, s_j)$ plane, fixed $\tau$", loc="left")
        # The second window is a zoom unless the regime calls for a wider one (eta > eta_c: the flow far out).
        wider = pp.zoom.p_max - pp.zoom.p_min > pp.window.p_max - pp.window.p_min
        b.set_title("(b) wider view around the origin" if wider else
                    r"(b) zoom on the origin, where $p^*_-$ lives" if pp.regime == "bistable"
                    else "(b) zoom on the origin", loc="left")
        c.set_title("(c) 1-D dynamics on the parabola $c_j = 0$", loc="left")
        d.set_title("(d) 1-D dynamics, wider view" if wider else r"(d) 1-D dynamics near the origin", loc="left")

        regime = pp.regime
        pm, pplus, etac = float(sys.p_minus), float(sys.p_plus), float(sys.eta_critical)
        if regime == "bistable":
            msg = rf"bistable: $p^*_- = {_sci(pm, 4)}$, $p^*_+ = {pplus:.5g}$"
        elif regime == "critical":
            msg = rf"critical: $\eta = \eta_c = {etac:.4g}$, saddle-node at $p^* = {pplus:.5g}$"
        elif regime == "collapse-only":
            msg = rf"$\eta > \eta_c = {etac:.4g}$: only the collapsed solution $p^* = 0$ remains"
        else:
            msg = r"$\eta = 0$: lines of stationary points ($s = 0$ and $p = \tau/(1+\sigma^2)$)"
        box = dict(boxstyle="round,pad=0.3", fc="white", ec=STABLE if regime == "collapse-only" else "0.6", lw=0.8)
        a.text(0.03, 0.97, msg, transform=a.transAxes, va="top", ha="left", fontsize=8.5, bbox=box, zorder=10)
        if not pp.trajectories.complete:
            n_bad = int(np.sum(~np.asarray(pp.trajectories.ok)))
            a.text(0.03, 0.86, f"PARTIAL: {n_bad} trajectories failed (dotted)", transform=a.transAxes,
                   va="top", ha="left", fontsize=8.5, color=STABLE, bbox=box, zorder=10)
        fig.suptitle(rf"Eigenvalue dynamics of linear BYOL [Tian et al. 2021]: $\eta = {eta:g}$, "
                     rf"$\sigma = {sigma:g}$, $\tau = {tau:g}$, $\alpha_p = {alpha:g}$  ($\eta_c = {etac:.4g}$)")
        ok = np.asarray(pp.trajectories.ok)
        fp, lab = pp.fixed_points, pp.attractor
        to_zero = np.array([i >= 0 and np.allclose(fp.points[i], 0, atol=1e-12) for i in lab])
        st1, p1 = np.asarray(pp.fixed_points_1d.stable, bool), np.asarray(pp.fixed_points_1d.points)[:, 0]
        unstable = any(iso and not st.startswith("stable") and st != "degenerate"
                       for st, iso in zip(fp.stability, fp.isolated))
        entries = [
            (True, Line2D([], [], color=NULL_P, lw=1.4, label=r"$\dot p = 0$")),
            (True, Line2D([], [], color=NULL_S, lw=1.5, ls=NULL_S_LS, label=r"$\dot s = 0$")),
            (True, Line2D([], [], color="black", lw=1.0, ls="--", label=r"$s = p^2/\alpha_p$")),
            (np.any(fp.stable), Line2D([], [], marker="o", ls="", ms=7, mfc=STABLE, mec="black", label="stable")),
            (unstable, Line2D([], [], marker="o", ls="", ms=7, mfc="white", mec=UNSTABLE, mew=1.8,
                              label="unstable / saddle")),
            (any(st == "degenerate" for st in fp.stability + pp.fixed_points_1d.stability),
             Line2D([], [], marker="D", ls="", ms=6, mfc="white", mec=PALETTE["purple"], mew=1.6, label="degenerate")),
            (not np.all(fp.isolated), Line2D([], [], marker="o", ls="", ms=2.5, color=PALETTE["grey"],
                                             label="non-isolated stationary")),
            (np.any(ok & to_zero), Line2D([], [], color=PALETTE["orange"], lw=1.3, label="trajectory to collapse")),
            (np.any(ok & (lab >= 0) & ~to_zero), Line2D([], [], color=PALETTE["blue"], lw=1.3,
                                                        label=r"trajectory to $p^*_+$")),
            (np.any(ok & (lab < 0)), Line2D([], [], color=PALETTE["grey"], lw=1.3,
                                            label="not at an isolated attractor by $t_1$")),
            (not np.all(ok), Line2D([], [], color="black", lw=1.3, ls=":", label="failed (partial)")),
            # the shading of panels (c), (d): basins of the 1-D stable points (at 0: collapse)
            (np.any(st1 & (np.abs(p1) < 1e-12)), Patch(fc=PALETTE["orange"], alpha=0.25, label="basin of collapse")),
            (np.any(st1 & (p1 > 1e-12)), Patch(fc=PALETTE["blue"], alpha=0.25, label="basin of $p^*_+$")),
        ]
        handles = [h for show, h in entries if show]
        fig.legend(handles=handles, loc="outside lower center", ncol=5, frameon=False)
    return fig


# ----------------------------------------------------------------------------- simulate


def _not_applicable(ax, text: str):
    ax.text(0.5, 0.5, "\n".join(_wrap(text, 38)), transform=ax.transAxes, ha="center", va="center",
            fontsize=8, color="0.35")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width)


def _log_floor(values: np.ndarray, decades: float = 14.0) -> float:
    """A lower limit for a log axis: the smallest positive value, but at most ``decades`` below the top."""
    v = values[np.isfinite(values) & (values > 0)]
    return max(0.5 * float(v.min()), float(v.max()) * 10.0 ** (-decades)) if v.size else 1e-16


def _lines(ax, t, ys, cmap="viridis", log=False, label=None):
    n = ys.shape[1]
    colors = plt.get_cmap(cmap)(np.linspace(0.0, 0.9, n)) if n > 1 else [PALETTE["blue"]]
    for j in range(n):
        y = ys[:, j]
        if log:
            y = np.where(y > 0, y, np.nan)
        ax.plot(t, y, color=colors[j], lw=1.1, label=label if j == 0 else None)


def plot_simulation(sim):
    """The ``simulate`` figure: (a) eigenvalues of F, (b) W_p in F's eigenbasis, (c) alignment with
    Theorem 3's bound, (d) Theorem 1's drift, (e) the EMA target, (f) nuisance / fixed-point manifold."""
    sr, notes, t = sim.series, sim.notes, sim.series["t"]
    p = sim.params
    with style():
        fig, axes = plt.subplots(2, 3, figsize=(11.5, 6.6), layout="constrained")
        (a, b, c), (d, e, f) = axes
        for ax in axes.ravel():
            ax.set_xlabel("$t$")

        s = sr["s"]
        floor = _log_floor(s)
        _lines(a, t, np.maximum(s, floor * 0.5), log=True)
        a.set_yscale("log")
        a.set_ylim(bottom=floor)
        a.set_ylabel(r"$s_j$, eigenvalues of $F = W X W^\top$")
        a.set_title("(a) eigenvalues of $F$", loc="left")

        if sim.model == "scalar":
            for key, lab, col in (("w_p", "$w_p$", PALETTE["blue"]), ("w", "$w$", PALETTE["orange"]),
                                  ("w_a", "$w_a$", PALETTE["green"])):
                b.plot(t, sr[key], color=col, label=lab)
            b.legend(frameon=False)
            b.set_ylabel("weights")
            b.set_title("(b) the scalar system [T21, Fig. 10]", loc="left")
        elif "p" in sr:
            _lines(b, t, sr["p"])
            b.axhline(0.0, color="black", lw=0.5)
            b.set_ylabel(r"$p_j = u_j^\top W_p u_j$")
            b.set_title(r"(b) $W_p$ in $F$'s eigenbasis", loc="left")
        else:
            b.set_title("(b) predictor", loc="left")
            _not_applicable(b, "no predictor: W_p = I")

        comm = sr["commutator"]
        if np.nanmax(comm) > 0:
            c.plot(t, np.where(comm > 0, comm, np.nan), color="black", label=r"$\|[F, W_p]\|_F$")
            if "bound" in sr and float(sr["lambda0"]) > 0:
                c.plot(t, sr["bound"], "--", color=STABLE,
                       label=rf"bound $e^{{-2\lambda_0 t}}$, $\lambda_0 = {_sci(float(sr['lambda0']))}$")
            if "asymmetry" in sr and np.nanmax(sr["asymmetry"]) > 0:
                c.plot(t, np.where(sr["asymmetry"] > 0, sr["asymmetry"], np.nan), color=PALETTE["purple"],
                       label=r"$\|W_p - W_p^\top\|_F / \|W_p\|_F$")
            c.set_yscale("log")
            c.legend(frameon=False, fontsize=7.5, loc="best")
            msg = notes.get("theorem3")
            if msg is None and float(sr["lambda0"]) <= 0:
                msg = rf"$\lambda_0 = {_sci(float(sr['lambda0']))} \leq 0$: Theorem 3's bound is vacuous"
            if msg:
                c.set_xlabel("$t$\n" + "\n".join(_wrap(msg, 52)), fontsize=7.5)
        else:
            _not_applicable(c, "F and W_p commute identically (W_p = I or scalar)")
        c.set_title("(c) eigenspace alignment", loc="left")

        if "drift" in sr:
            dr = sr["drift"]
            d.plot(t, np.where(dr > 0, dr, np.nan), color="black")
            d.set_yscale("log")
            d.set_ylabel(r"relative drift of $e^{2\eta t}\,C(t)$")
        else:
            _not_applicable(d, notes["theorem1"])
        d.set_title("(d) Theorem 1's conserved quantity", loc="left")

        if "corr" in sr:
            e.plot(t, sr["corr"], color=PALETTE["blue"], label=r"corr$(W_a, W)$")
            e.plot(t, sr["tau"], color=PALETTE["orange"], label=r"$\tau = \langle W_a, W\rangle/\|W\|^2$")
            e.legend(frameon=False)
        elif "tau" in sr and sim.model == "symmetrized":
            e.plot(t, sr["tau"], color=PALETTE["orange"], label=r"$\tau$")
            e.legend(frameon=False)
        else:
            _not_applicable(e, "no EMA target (W_a = W)")
        e.set_title("(e) the EMA target", loc="left")

        if "norm_S" in sr:
            f.plot(t, sr["norm_S"], color=PALETTE["blue"], label=r"$\|W P_S\|_F$ (invariant)")
            nb = sr["norm_B"]
            f.plot(t, np.where(nb > 0, nb, np.nan), color=PALETTE["vermillion"], label=r"$\|W P_B\|_F$ (nuisance)")
            if "limit" in sr:
                dim_s = sr["sv_S"].shape[1]
                f.axhline(float(sr["limit"]) * np.sqrt(dim_s), ls="--", color="black", lw=0.9,
                          label=r"[W21]: $c\sqrt{\dim S}$")
            f.set_yscale("log")
            f.set_ylim(bottom=_log_floor(np.r_[sr["norm_S"], nb], 10))
            f.legend(frameon=False, fontsize=7.5)
            note = notes.get("limit", "")
            if note and "limit" not in sr:
                f.set_xlabel("$t$\n" + "\n".join(_wrap(note, 52)), fontsize=7.5)
            f.set_title("(f) invariant vs nuisance subspace", loc="left")
        elif "manifold" in sr:
            mf = sr["manifold"]
            f.plot(t, np.where(mf > 0, mf, np.nan), color="black")
            f.set_yscale("log")
            f.set_ylabel(r"$|w_p w\, l_s - w_a l_d|$")
            f.set_title("(f) distance to the fixed-point manifold", loc="left")
        else:
            _not_applicable(f, "nuisance model only (--data nuisance)")
            f.set_title("(f) invariant vs nuisance subspace", loc="left")

        keys = [("eta", r"\eta"), ("sigma", r"\sigma"), ("alpha_p", r"\alpha_p"), ("beta", r"\beta"),
                ("alpha", r"\alpha"), ("eps", r"\epsilon"), ("rho", r"\rho")]
        bits = [rf"${sym} = {p[k]:g}$" for k, sym in keys if k in p]
        dims = f"$n_1 = {p['n1']}$, $n_2 = {p['n2']}$, " if "n1" in p else ""
        title = f"{sim.model}: {dims}" + ", ".join(bits) + (f", data {p['data']}" if "data" in p else "")
        if not sim.solution.complete:
            title += f"\nPARTIAL: {sim.solution.failures()[0]}"
        fig.suptitle(title, color=STABLE if not sim.solution.complete else "black")
    return fig


def plot_stepwise(run):
    """Barlow Twins' steps [S23, Fig. 1]: (a) embedding eigenvalues with the closed form dashed and
    the step times marked, (b) the loss and its steps, (c) the deviation from the closed form."""
    p, t = run.params, run.ts
    ok = np.isfinite(t)
    d = run.lam.shape[1]
    colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, d))
    with style():
        fig, (a, b, c) = plt.subplots(1, 3, figsize=(12.0, 3.9), layout="constrained")
        order = np.argsort(run.t_steps)
        for k, j in enumerate(order):
            a.plot(t[ok], run.lam[ok, k], color=colors[k], lw=1.6)
            a.plot(t[ok], run.lam_closed[ok, j], "--", color="black", lw=0.9)
            for ax in (a, b):
                ax.axvline(run.t_steps[j], color=colors[k], ls=":", lw=0.9)
            a.annotate(rf"$t_{{{j + 1}}}$", (run.t_steps[j], 1.04), xycoords=("data", "axes fraction"),
                       ha="center", fontsize=7.5, color=colors[k], annotation_clip=False)
        a.set_ylabel(r"$\lambda_j$, eigenvalues of $W\Gamma W^\top$")
        a.set_title(r"(a) one direction at a time", loc="left", pad=14)
        a.legend(handles=[Line2D([], [], color=colors[0], lw=1.6, label="ODE"),
                          Line2D([], [], color="black", ls="--", lw=0.9, label="closed form")],
                 frameon=False, loc="center right")
        b.plot(t[ok], run.loss[ok], color=PALETTE["blue"], lw=1.6, label="ODE")
        b.plot(t[ok], run.loss_closed[ok], "--", color="black", lw=0.9, label="closed form")
        b.set_ylabel(r"$\mathcal{L} = \|W\Gamma W^\top - I\|_F^2$")
        b.set_title("(b) the loss falls in steps", loc="left", pad=14)
        b.legend(frameon=False)
        err = np.abs(np.sort(run.lam, 1)[:, ::-1] - np.sort(run.lam_closed, 1)[:, ::-1])  # first learned first
        for k in range(d):
            c.plot(t[ok], np.where(err[ok, k] > 0, err[ok, k], np.nan), color=colors[k], lw=1.1)
        c.set_yscale("log")
        c.set_ylabel(r"$|\lambda_j - \lambda_j^{\mathrm{closed}}|$")
        c.set_title("(c) deviation from the closed form", loc="left", pad=14)
        for ax in (a, b, c):
            ax.set_xlabel(r"$t$ (learning rate $\times$ step)")
        start = "aligned" if p["aligned"] else "random"
        kern = "" if p["kernel"] == "none" else f", {p['kernel']} kernel"
        title = (rf"Linear Barlow Twins [Simon et al. 2023]: $d = {p['d']}$, $m = {p['m']}$, {p['n_pairs']} pairs"
                 rf"{kern}, {start} init of scale ${_sci(p['init_scale'])}$")
        if not run.solution.complete:
            title += f"\nPARTIAL: {run.solution.failures()[0]}"
        fig.suptitle(title, color=STABLE if not run.solution.complete else "black")
    return fig


def plot_collapse(run):
    """A contrastive run [J22]: (a) the embedding's singular values (collapsed ones highlighted), (b) the
    eigenvalues of the effective X, (c) the loss; then per model: one layer, the final spectrum,
    the collapsed directions' weight on the augmented subspace and the rates d log sigma / dt; two
    layers, each layer's singular values, the alignment |V_2^T U_1| and the conservation and Theorem
    3 residuals; DirectCLR, the representation spectrum and rank against projector variants."""
    from dynsim.models.infonce.collapse import COLLAPSE_RTOL

    sr, p, t = run.series, run.params, run.ts
    ok = np.isfinite(t)
    last = int(np.flatnonzero(ok)[-1])
    sv = sr["sv"]
    coll = sv[last] < COLLAPSE_RTOL * sv[last].max()
    d = sv.shape[1]
    with style():
        fig, axes = plt.subplots(2, 3, figsize=(12.0, 7.0), layout="constrained")
        (a, b, c), (e, f, g) = axes
        for j in range(d):
            a.plot(t[ok], sv[ok, j], color=PALETTE["vermillion"] if coll[j] else PALETTE["blue"],
                   lw=1.3 if coll[j] else 0.9, alpha=1.0 if coll[j] else 0.8)
        a.set_yscale("log")
        a.set_ylim(bottom=_log_floor(sv[ok]))
        a.set_ylabel(r"singular values $\sigma_j$ of $W$")
        a.set_title(f"(a) {int(coll.sum())} of {d} collapsed (below {COLLAPSE_RTOL:g} of the largest)", loc="left")
        a.legend(handles=[Line2D([], [], color=PALETTE["blue"], label="kept"),
                          Line2D([], [], color=PALETTE["vermillion"], lw=1.3, label="collapsed")], frameon=False,
                 loc="best")
        xe = sr["X_eig"]
        for j in range(d):
            b.plot(t[ok], xe[ok, j], color=PALETTE["vermillion"] if xe[last, j] < 0 else PALETTE["blue"], lw=0.9)
        b.axhline(0.0, color="black", lw=0.6)
        _symlog(b, xe[ok])
        b.set_ylabel(r"eigenvalues of $X = \Sigma_0 - \Sigma_1$")
        b.set_title(f"(b) {int(np.sum(xe[last] < 0))} negative at the end (Lemma 1)", loc="left")
        c.plot(t[ok], sr["loss"][ok], color=PALETTE["blue"], lw=1.5)
        c.set_ylabel(r"InfoNCE loss $\mathcal{L}$")
        if np.all(sr["loss"][ok] > 0):
            c.set_yscale("log")
        c.set_title(f"(c) loss ({p['kernel']} kernel, temperature {_sci(p['temperature'])})", loc="left")
        for ax in (a, b, c):
            ax.set_xlabel(r"$t$ (learning rate $\times$ step)")
        idx = np.arange(1, d + 1)
        if run.comparison is not None:
            _bars_spectrum(e, idx, sv[last], coll, "(d) final spectrum of the representation")
            colors = [PALETTE["vermillion"], PALETTE["blue"], PALETTE["green"], PALETTE["orange"]]
            for (name, rec), col in zip(run.comparison.items(), colors):
                s = rec["singular_values"]
                f.plot(idx, s / s.max(), "o-", ms=3, color=col, label=name)
            f.set_yscale("log")
            f.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            f.set_xlabel("index $j$")
            f.set_ylabel(r"$\sigma_j / \sigma_1$ of the encoder $W_1$")
            f.set_title("(e) representation spectrum at the end", loc="left")
            f.legend(frameon=False, fontsize=7.5)
            names = list(run.comparison)
            ranks = [run.comparison[n]["effective_rank"] for n in names]
            g.barh(range(len(names)), ranks, color=colors[: len(names)])
            g.set_yticks(range(len(names)), names)
            g.invert_yaxis()
            g.set_xlim(0, d)
            g.set_xlabel(r"effective rank $e^{H(\sigma / \sum \sigma)}$")
            g.set_title(f"(f) rank kept by the representation (of {d})", loc="left")
            for i, r in enumerate(ranks):
                g.text(r + 0.2, i, f"{r:.2f}", va="center", fontsize=7.5)
        elif "sv1" in sr:
            for k, (key, col) in enumerate((("sv1", PALETTE["blue"]), ("sv2", PALETTE["orange"]))):
                for j in range(d):
                    e.plot(t[ok], sr[key][ok, j], color=col, lw=0.8, ls="-" if k == 0 else "--")
            e.set_yscale("log")
            e.set_xlabel(r"$t$")
            e.set_ylabel("singular values")
            e.set_title("(d) each layer: small directions stay small", loc="left")
            e.legend(handles=[Line2D([], [], color=PALETTE["blue"], label=r"$\sigma_1^k$ ($W_1$)"),
                              Line2D([], [], color=PALETTE["orange"], ls="--", label=r"$\sigma_2^k$ ($W_2$)")],
                     frameon=False, loc="best")
            im = f.imshow(np.abs(sr["alignment"]), cmap="Greys", vmin=0, vmax=1)
            fig.colorbar(im, ax=f, shrink=0.8)
            f.set_title(r"(e) alignment $|V_2^\top U_1|$ at the end", loc="left")
            f.set_xlabel(r"$k$ ($U_1$)")
            f.set_ylabel(r"$k$ ($V_2$)")
            g.plot(t[ok], np.maximum(sr["balance_drift"][ok], 1e-17), color=PALETTE["blue"],
                   label=r"$\|C(t) - C(0)\| / \|C(0)\|$")
            g.plot(t[ok], sr["theorem3_residual"][ok], color=PALETTE["vermillion"],
                   label="Theorem 3 residual (grown dirs)")
            g.set_yscale("log")
            g.set_xlabel(r"$t$")
            g.set_title(r"(f) $C = W_1W_1^\top - W_2^\top W_2$ conserved", loc="left")
            g.legend(frameon=False, fontsize=7.5)
        else:
            _bars_spectrum(e, idx, sv[last], coll, "(d) final spectrum")
            if "in_B" in sr:
                f.bar(idx, sr["in_B"], color=[PALETTE["vermillion"] if c_ else PALETTE["blue"] for c_ in coll])
                f.set_ylim(0, 1.05)
                f.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
                f.set_xlabel("index $j$")
                f.set_ylabel(r"$|P_B v_j|$")
                f.set_title("(e) weight of each direction on the augmented dims", loc="left")
            else:
                _not_applicable(f, "no augmented subspace given (data not nuisance)")
            rates = sr["log_rate"]
            for j in range(d):
                g.plot(t[ok], rates[ok, j], color=PALETTE["vermillion"] if coll[j] else PALETTE["blue"], lw=0.9)
            g.axhline(0.0, color="black", lw=0.6)
            _symlog(g, rates[ok])
            g.set_xlabel(r"$t$")
            g.set_ylabel(r"$d \log \sigma_j / dt = v_j^\top X v_j$")
            shrinking = int(np.sum(rates[last] * t[last] < -1e-2))
            g.set_title(f"(f) {shrinking} directions still shrinking (> 1% per run length)", loc="left")
        name = {"infonce": "InfoNCE, one linear layer", "infonce-2layer": "InfoNCE, two linear layers",
                "directclr": f"DirectCLR, loss on the first $d_0 = {p['d0']}$ dims"}[run.model]
        data = p.get("data", "")
        aug = f", $\\sigma = {_sci(p['sigma'])}$" if "sigma" in p else ""
        title = (f"{name} [Jing et al. 2022]: {p['dim']} dims, $n = {p['samples']}$ pairs (batch {p['batch']}), "
                 f"{data} data{aug}" + (f", preset {p['preset']}" if p.get("preset") else ""))
        if not run.solution.complete:
            title += f"\nPARTIAL: {run.solution.failures()[0]}"
        fig.suptitle(title, color=STABLE if not run.solution.complete else "black")
    return fig


def _symlog(ax, values):
    """A symmetric log axis whose linear band around 0 is one decade below the largest |value| / 1e3,
    with ticks on whole decades only (so that the labels at the band do not collide)."""
    from matplotlib.ticker import FixedLocator

    if np.nanmin(values) > 0:
        ax.set_yscale("log")
        return
    top = float(np.nanmax(np.abs(values))) if np.any(np.isfinite(values)) else 1.0
    hi = int(np.ceil(np.log10(max(top, 1e-300))))
    lo = hi - 3
    ax.set_yscale("symlog", linthresh=10.0 ** lo, linscale=0.5)
    decades = [10.0 ** k for k in range(lo + 1, hi + 1)]
    ax.yaxis.set_major_locator(FixedLocator([-d for d in decades[::-1]] + [0.0] + decades))
    ax.yaxis.set_minor_locator(FixedLocator([]))


def _bars_spectrum(ax, idx, s, coll, title):
    ax.bar(idx, s, color=[PALETTE["vermillion"] if c else PALETTE["blue"] for c in coll])
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("index $j$")
    ax.set_ylabel(r"$\sigma_j$ at the end")
    ax.set_title(title, loc="left")


BASIN_COLOURS = {0: PALETTE["vermillion"], 1: PALETTE["sky"], -1: "0.55", -2: "black"}


def _edges(v: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around grid values (geometric midpoints on a log axis)."""
    w = np.log(v) if log else v
    mid = (w[1:] + w[:-1]) / 2
    e = np.concatenate([[2 * w[0] - mid[0]], mid, [2 * w[-1] - mid[-1]]])
    return np.exp(e) if log else e


def _grid_axes(ax, bm, p_edges, s_edges):
    """Limits at the grid's outer cell edges, and the axes' linear or log scales."""
    ax.set_xlim(p_edges[0], p_edges[-1])
    ax.set_ylim(s_edges[0], s_edges[-1])
    if bm.p.log:
        ax.set_xscale("log")
    if bm.s.log:
        ax.set_yscale("log")


def plot_basin_map(bm):
    """Left: the basins with the stationary points, the saddle's stable manifold and the parabola
    ``s = p^2/alpha_p``; right: the time at which each cell was proven to be in its basin."""
    from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm

    from dynsim.models.eigen.basins import LABELS

    p, s = bm.p.values(), bm.s.values()
    pe, se = _edges(p, bm.p.log), _edges(s, bm.s.log)
    sm = bm.summary()
    with style():
        fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.3), layout="constrained")
        ax = axes[0]
        codes = [-2, -1, 0, 1]
        cmap = ListedColormap([BASIN_COLOURS[c] for c in codes])
        ax.pcolormesh(pe, se, bm.labels, cmap=cmap, norm=BoundaryNorm([-2.5, -1.5, -0.5, 0.5, 1.5], 4),
                      rasterized=True)
        pp = np.linspace(p[0], p[-1], 600)
        par = pp**2 / float(bm.system.alpha_p)
        keep = (par >= s[0]) & (par <= s[-1])
        ax.plot(np.where(keep, pp, np.nan), np.where(keep, par, np.nan), ls="--", lw=0.9, color="0.15",
                label=r"parabola $s=p^2/\alpha_p$ ($c=0$)")
        for i, br in enumerate(bm.separatrix):
            br = np.where(br[:, 1:] > 0, br, np.nan) if bm.s.log else br  # s underflows to 0 far below
            ax.plot(br[:, 0], br[:, 1], color="black", lw=1.6, label="separatrix (stable manifold of the saddle)"
                    if i == 0 else None)
        fp = bm.fixed_points
        _mark_points(ax, fp.points, fp.stability, fp.isolated, (p[0], p[-1], s[0], s[-1]))
        _grid_axes(ax, bm, pe, se)
        ax.set_xlabel(r"$p_0$ (eigenvalue of $W_p$)")
        ax.set_ylabel(r"$s_0$ (eigenvalue of $F = W X W^\top$)")
        counts = sm["counts"]
        handles = [Patch(color=BASIN_COLOURS[c], label=f"{LABELS[c]} ({100 * counts[LABELS[c]] / sm['cells']:.1f}%)")
                   for c in (0, 1, -1, -2) if counts[LABELS[c]] or c >= 0]
        handles += [Line2D([], [], marker="o", ls="", mfc=STABLE, mec="black", label="stable point"),
                    Line2D([], [], marker="o", ls="", mfc="white", mec=UNSTABLE, mew=1.6, label="saddle")]
        line_handles, _ = ax.get_legend_handles_labels()
        fig.legend(handles=handles + line_handles, loc="outside lower center", ncols=4, fontsize=7, frameon=False)
        sys = bm.system
        tau_txt = rf"$\tau_0={bm.tau0:g}$, $\beta={float(sys.beta):g}$" if bm.tau0 is not None else rf"$\tau={float(sys.tau):g}$"
        ax.set_title(rf"Basins: $\eta={_sci(float(sys.eta))}$, $\sigma={float(sys.sigma):g}$, {tau_txt}, "
                     rf"$\alpha_p={float(sys.alpha_p):g}$")

        ax = axes[1]
        t = np.where(bm.t_settle > 0, bm.t_settle, np.nan)
        if np.any(np.isfinite(t)):
            lo, hi = np.nanmin(t), np.nanmax(t)
            im = ax.pcolormesh(pe, se, t, cmap="magma_r", norm=LogNorm(lo, max(hi, lo * 1.01)), rasterized=True)
            fig.colorbar(im, ax=ax, label="time at which the trap was proven")
        zero = np.where(bm.t_settle == 0, 1.0, np.nan)
        ax.pcolormesh(pe, se, zero, cmap=ListedColormap(["#DDDDDD"]), rasterized=True)
        for br in bm.separatrix:
            br = np.where(br[:, 1:] > 0, br, np.nan) if bm.s.log else br
            ax.plot(br[:, 0], br[:, 1], color=PALETTE["sky"], lw=1.0)
        _grid_axes(ax, bm, pe, se)
        ax.set_xlabel(r"$p_0$")
        ax.set_title(f"Proven at once (light grey: {100 * sm['decided_without_integrating'] / sm['cells']:.0f}% of "
                     f"cells) or after integrating")
        fig.suptitle(f"{sm['grid'][0]} x {sm['grid'][1]} initial conditions; t1 = {bm.solver['t1']:g}; "
                     f"{counts['not settled']} not settled, {counts['failed']} failed")
    return fig


def plot_sweep(sw):
    """A regime diagram: a curve (one parameter) or a heat map (two); bifurcation diagrams draw the
    branches of ``p*`` (stable filled, unstable hollow) and the closed-form saddle-node."""
    r = sw.ranges
    labels = {"eta": r"$\eta$", "sigma": r"$\sigma$", "tau": r"$\tau$", "alpha_p": r"$\alpha_p$", "beta": r"$\beta$",
              "alpha": r"$\alpha$ (DirectSet)", "init_scale": "init scale"}
    ylabel = {"basin-size": "collapsed fraction of the window",
              "alignment": "fraction of time with the alignment condition",
              "collapse": "fraction of random initialisations"}
    with style():
        fig, ax = plt.subplots(figsize=(6.2, 4.2), layout="constrained")
        x = r[0].values()
        if sw.kind == "bifurcation":
            P, St = sw.quantity, sw.extra["stable"]
            xs = np.repeat(x[:, None], P.shape[1], 1)
            fin = np.isfinite(P)
            ax.plot(xs[fin & St], P[fin & St], "o", ms=3, color=STABLE, label="stable")
            ax.plot(xs[fin & ~St], P[fin & ~St], "o", ms=3.5, mfc="white", mec=UNSTABLE, label="unstable")
            if "eta_critical_closed_form" in sw.info:
                ax.axvline(sw.info["eta_critical_closed_form"], color="0.3", ls="--", lw=0.9,
                           label=r"$\eta_c=\tau^2/(4(1+\sigma^2))$")
            ax.set_ylabel(r"stationary $p^*$ of $\dot p = p^2[\tau-(1+\sigma^2)p]-\eta p$")
            ax.legend(loc="best")
            ax.set_title("Bifurcation diagram: the saddle-node where $p^*_-$ meets $p^*_+$")
        elif len(r) == 1 and sw.kind == "collapse":
            ax.plot(x, sw.quantity, "o-", color=PALETTE["vermillion"], ms=4, label="collapsed completely (every direction)")
            ax.plot(x, sw.extra["any_direction_collapsed"], "s--", color=PALETTE["blue"], ms=3.5,
                    label="some direction collapsed")
            ax.plot(x, sw.extra["collapsed_directions"], "^:", color=PALETTE["green"], ms=3.5,
                    label="mean fraction of collapsed directions")
            bad = (sw.extra["not_settled"] + sw.extra["failed"]) > 0
            if bad.any():
                ax.plot(x[bad], np.zeros(bad.sum()), "x", color="0.2", label="has unsettled / failed runs")
            ax.set_ylim(-0.04, 1.04)
            ax.set_ylabel(ylabel[sw.kind])
            fig.legend(loc="outside lower center", ncols=2, fontsize=7.5)
            ax.set_title(f"{sw.info['model']}: {sw.info['samples']} random inits per point, "
                         f"$t_1$ = {sw.info['t1']:g}", fontsize=8.5)
        elif len(r) == 1:
            ax.plot(x, sw.quantity, "o-", color=PALETTE["blue"], ms=4)
            ax.set_ylabel(ylabel[sw.kind])
            ax.set_title(f"{sw.kind}: {sw.info['quantity']}", fontsize=8.5)
        else:
            y = r[1].values()
            im = ax.pcolormesh(_edges(x, r[0].log), _edges(y, r[1].log), sw.quantity.T, cmap="viridis",
                               rasterized=True)
            fig.colorbar(im, ax=ax, label=ylabel[sw.kind])
            ax.set_ylabel(labels[r[1].name])
            if r[1].log:
                ax.set_yscale("log")
            ax.set_title(f"{sw.kind}: {sw.info['quantity']}", fontsize=8.5)
        if r[0].log:
            ax.set_xscale("log")
        ax.set_xlabel(labels[r[0].name])
    return fig


def plot_comparison(c):
    """Finite-width training against its ODE: the spectrum over time (theory dashed, training mean
    and band over seeds, for the finest and the coarsest run) and the discrepancy against lr and batch."""
    from dynsim.training.compare import _spectrum

    colours = [PALETTE[k] for k in ("blue", "vermillion", "green", "orange", "purple", "sky", "black", "grey")]
    with style():
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 4.2), layout="constrained",
                                      gridspec_kw={"width_ratios": [1.5, 1]})
        fine, coarse = c.best, c.runs[(max(c.lrs), min(c.batches))]
        theory = c.theory[0]  # seed 0's ODE; every seed is compared with the ODE from its own start
        k = theory.shape[1]
        for j in range(min(k, 8)):
            col = colours[j % len(colours)]
            ax.plot(c.t, theory[:, j], "--", color=col, lw=1.4, zorder=3)
            for run, alpha, lw in ((coarse, 0.35, 0.8), (fine, 1.0, 1.1)):
                q = _spectrum(run)[..., j]
                ax.plot(run.t, q[0], color=col, lw=lw, alpha=alpha, zorder=2)
                if run is fine:  # the spread over seeds of (training - its own ODE), around seed 0's ODE
                    dev = q - c.theory[..., j]
                    ax.fill_between(run.t, theory[:, j] + np.nanmin(dev, 0), theory[:, j] + np.nanmax(dev, 0),
                                    color=col, alpha=0.25, lw=0)
        ax.set_xlabel(r"$t = \mathrm{lr} \times \mathrm{step}$")
        ax.set_ylabel({"eigenvalues of F = W X W^T": r"eigenvalues of $F = W X W^\top$",
                       "singular values of W": r"singular values of $W$"}.get(c.quantity, c.quantity)
                      + (" (largest 8)" if k > 8 else ""))
        handles = [Line2D([], [], color="0.2", ls="--", label="ODE (theory)"),
                   Line2D([], [], color="0.2", label=f"training, lr {min(c.lrs):g}, batch {max(c.batches)} "
                                                     f"(band: its error over {fine.diverged_step.size} seeds)"),
                   Line2D([], [], color="0.2", alpha=0.35, label=f"training, lr {max(c.lrs):g}, batch {min(c.batches)}")]
        fig.legend(handles=handles, loc="outside lower left", ncols=3, fontsize=7.5)
        ax.set_title(f"{c.model}: finite-width SGD against the flow (seed 0)", fontsize=9)
        for i, b in enumerate(c.batches):
            ax2.loglog(c.lrs, c.errors[:, i], "o-", color=colours[i % len(colours)], ms=4, label=f"batch {b}")
        rates = c.rates()
        txt = []
        if "err_vs_lr_slope" in rates:
            txt.append(f"err ∝ lr^{rates['err_vs_lr_slope']:.2f} (batch {max(c.batches)})")
        if "err_vs_batch_slope" in rates:
            txt.append(f"err ∝ batch^{rates['err_vs_batch_slope']:.2f} (lr {min(c.lrs):g})")
        ax2.set_xlabel("learning rate")
        ax2.set_ylabel("discrepancy (max relative error)")
        ax2.legend(loc="lower right", fontsize=7.5, title="\n".join(txt), title_fontsize=7.5)
        ax2.set_title("discrepancy against learning rate and batch", fontsize=9)
    return fig
