"""The seed papers' figures, in the house style of :mod:`dynsim.plot.style`.

Every function takes ``size="page"`` (7 in wide, a two-column paper's text width) or
``size="column"`` (3.4 in); fonts are in points at that print size. A panel is drawn only when it
applies to the run (the layout adapts), legends list only what is drawn, quantities at rounding
level are drawn against their tolerance, and where theory and measurement disagree the panel says
so in words.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # figures are files; never needs a display
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from dynsim.models.eigen.portrait import PhasePortrait, Window

from dynsim.plot.style import (  # noqa: F401  (re-exported: other modules import them from here)
    COLLAPSED,
    DEGENERATE,
    FAILED,
    MEASURED_LS,
    NONTRIVIAL,
    NOT_SETTLED,
    NULL_P,
    NULL_S,
    NULL_S_LS,
    PALETTE,
    SEQUENCE,
    SERIES,
    STABLE,
    STYLE,
    THEORY,
    TOLERANCE,
    UNSTABLE,
    WIDTHS,
    FIELD,
    NOT_SETTLED_CELL,
    STATIONARY_LINE,
    TINTS,
    check_size,
    point_marker,
    eq,
    number,
    params_text,
    style,
    suptitle,
)

T_LABEL = r"$t$ (learning rate $\times$ step)"


# ----------------------------------------------------------------------------- shared helpers


def _panels(n: int, size: str, *, ncols: int | None = None, row_height: float | None = None,
            extra: float = 0.0, **kw):
    """A figure of ``n`` panels on a grid (3 columns on a page, 2 in a column), no empty axes."""
    check_size(size)
    ncols = ncols or min(n, 3 if size == "page" else 2)
    nrows = -(-n // ncols)
    rh = row_height or ({1: 2.8, 2: 2.4}.get(ncols, 2.05) if size == "page" else (1.6 if ncols > 1 else 2.2))
    fig = plt.figure(figsize=(WIDTHS[size], rh * nrows + extra), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw).ravel()
    for ax in axes[n:]:
        ax.remove()
    return fig, list(axes[:n])


def _title_height(items, size: str, partial: str | None = None) -> float:
    """Inches the wrapped title line(s) take, to add to a figure's height."""
    from dynsim.plot.style import wrap

    fig = plt.figure(figsize=(WIDTHS[size], 2.0))
    t = suptitle(fig, items, size, partial=partial)
    n = t.get_text().count("\n") + 1
    plt.close(fig)
    return 0.15 * n + 0.05


def _letters(axes, titles, size: str = "page"):
    """Panel titles (a), (b), ... in the order drawn; a title may be ``(page text, column text)``."""
    for i, (ax, t) in enumerate(zip(axes, titles)):
        if isinstance(t, tuple):
            t = t[0] if size == "page" else t[1]
        ax.set_title(f"({chr(97 + i)}) {t}", loc="left")


def _finite_last(t: np.ndarray) -> int:
    return int(np.flatnonzero(np.isfinite(t))[-1])


# a relative error below this is rounding in float64 (a few hundred ulps): figures draw it at this floor
ROUNDOFF = 1e-13
#: an integration's global error is a few times its rtol (a per-step bound): a deviation from a
#: closed form below this many rtols is not resolved by the run, and figures draw it on that line
RESOLVED_RTOLS = 100


def _positive(y):
    y = np.asarray(y, float)
    return np.where(y > 0, y, np.nan)


def _note(ax, text: str, *, loc: str = "upper right", color: str = "0.15", y: float | None = None, **kw):
    """A short statement inside a panel (a verdict, a disagreement), on a white box."""
    x, ha = (0.98, "right") if "right" in loc else (0.02, "left") if "left" in loc else (0.5, "center")
    y0, va = (0.97, "top") if "upper" in loc else (0.03, "bottom") if "lower" in loc else (0.5, "center")
    y = y0 if y is None else y
    return ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, color=color,
                   fontsize=plt.rcParams["legend.fontsize"],
                   bbox=dict(boxstyle="round,pad=0.25", fc="white", ec="none", alpha=0.85), zorder=20, **kw)


def _tolerance_axis(ax, values, tol: float, *, decades_below: float = 4.0, decades_above: float = 2.0):
    """A log axis that shows ``values`` against ``tol``: from ``decades_below`` under the smaller of
    the two to ``decades_above`` over the larger, so that rounding is not magnified."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    lo = min(float(v.min()) if v.size else tol, tol)
    hi = max(float(v.max()) if v.size else tol, tol)
    ax.set_yscale("log")
    ax.set_ylim(lo * 10.0 ** (-decades_below / 2), hi * 10.0 ** decades_above)
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(numticks=6))
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def _log_axis(ax, values, *, decades: float = 12.0, pad: float = 0.3):
    """A log y axis from the smallest positive value (at most ``decades`` below the largest)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    ax.set_yscale("log")
    if v.size:
        hi = float(v.max())
        lo = max(float(v.min()), hi * 10.0 ** (-decades))
        ax.set_ylim(lo * 10.0 ** (-pad), hi * 10.0 ** pad)
        if hi / lo < 30:  # about a decade: ticks at 1, 2, 5 times the decades, written plainly
            ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0), numticks=12))
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: number(v, 2)))
            ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            return
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(numticks=6))
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def _symlog(ax, values, *, floor: float | None = None, per_side: int = 4):
    """A symmetric log axis: linear within ``floor`` (default three decades below the largest
    |value|) of 0, whole decades outside."""
    from matplotlib.ticker import FixedLocator, NullLocator

    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size and v.min() > 0:
        ax.set_yscale("log")
        return
    top = float(np.max(np.abs(v))) if v.size else 1.0
    hi = int(np.ceil(np.log10(max(top, 1e-300))))
    lo = int(np.floor(np.log10(floor))) if floor else hi - 3
    ax.set_yscale("symlog", linthresh=10.0 ** lo, linscale=0.5)
    top_k = int(np.floor(np.log10(max(top, 1e-300))))
    ks = list(range(top_k, lo, -max(1, -(-(top_k - lo) // per_side))))[::-1]  # at most per_side decades a side
    pos = [10.0 ** k for k in ks] if v.size and v.max() > 0 else []
    neg = [-(10.0 ** k) for k in ks[::-1]] if v.size and v.min() < 0 else []
    ax.yaxis.set_major_locator(FixedLocator(neg + [0.0] + pos))
    ax.yaxis.set_minor_locator(NullLocator())


def _partial(solution) -> str | None:
    return None if solution.complete else str(solution.failures()[0])


def _marker(kind: str, size: str) -> dict:
    """The stationary point markers of [T21, Fig. 3] (:func:`dynsim.plot.style.point_marker`)."""
    return point_marker(kind, size)


def _kind(stability: str) -> str:
    return "stable" if stability.startswith("stable") else "degenerate" if stability == "degenerate" else "unstable"


# ----------------------------------------------------------------------------- phase portrait


def _flow_1d(pp: PhasePortrait, prefix: str = ""):
    """The intervals of the 1-D flow between its stationary points, each with where it flows:
    ``(a, b, destination p or None for +-infinity)``, from the sign of ``dp/dt`` (no stability
    label needed, so that a degenerate point at eta = 0 still gets its basin)."""
    f = pp.fields
    p, dp = np.asarray(f[prefix + "curve_p"]), np.asarray(f[prefix + "curve_dp"])
    pts = np.unique(np.round(np.asarray(pp.fixed_points_1d.points)[:, 0], 14))
    edges = [-np.inf, *pts, np.inf]
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        lo, hi = max(a, p[0]), min(b, p[-1])
        if lo >= hi:
            continue
        sel = (p > lo) & (p < hi)
        if not sel.any():
            continue
        sign = np.sign(np.median(dp[sel]))
        dest = b if sign > 0 else a if sign < 0 else None
        out.append((lo, hi, None if dest is None or not np.isfinite(dest) else float(dest)))
    return out


def _is_zero(x, scale: float = 1.0) -> bool:
    return abs(float(x)) <= 1e-12 * max(scale, 1.0)


def _trajectory_ends(pp: PhasePortrait, sl: slice):
    """Per trajectory: 'collapse', 'nontrivial', 'open' (not at a stationary state by t1) or 'failed'.
    At an isolated attractor the finder's label decides; on a line of stationary points (eta = 0)
    the end: s near 0 is collapse, p near tau / (1 + sigma^2) is the non-trivial line."""
    sys = pp.system
    p0 = float(sys.tau) / (1.0 + float(sys.sigma) ** 2)
    fp = pp.fixed_points
    ys, ok, lab = np.asarray(pp.trajectories.ys)[sl], np.asarray(pp.trajectories.ok)[sl], pp.attractor[sl]
    w = pp.window
    out = []
    for y, good, i in zip(ys, ok, lab):
        if not good:
            out.append("failed")
            continue
        if i >= 0:
            out.append("collapse" if np.allclose(fp.points[i], 0.0, atol=1e-12) else "nontrivial")
            continue
        y = y[np.all(np.isfinite(y), axis=1)]
        pe, se = y[-1]
        if float(sys.eta) == 0.0 and abs(pe - p0) < 1e-3 * max(abs(p0), 1e-12):
            out.append("nontrivial")
        elif float(sys.eta) == 0.0 and abs(se) < 1e-6 * max(w.s_max - w.s_min, 1e-12):
            out.append("collapse")
        else:
            out.append("open")
    return out


TRAJ_COLOURS = {"collapse": COLLAPSED, "nontrivial": NONTRIVIAL, "open": "0.55", "failed": "black"}


def _mark_points(ax, fp, window, size, coords=(0, 1), log_s: bool = False):
    """Isolated stationary points inside ``window`` (p_min, p_max, s_min, s_max), stable on top;
    the kinds drawn are returned (for the legend)."""
    p_lo, p_hi, s_lo, s_hi = window
    drawn = set()
    order = sorted(range(len(fp.stability)), key=lambda i: fp.stability[i].startswith("stable"))
    for i in order:
        if not fp.isolated[i]:
            continue
        y = fp.points[i]
        x, yy = (y[coords[0]], 0.0) if len(coords) == 1 else (y[coords[0]], y[coords[1]])
        span_p, span_s = p_hi - p_lo, max(s_hi - s_lo, 1e-300)
        inside_p = p_lo - 1e-9 * span_p <= x <= p_hi + 1e-9 * span_p
        if not (inside_p and s_lo - 1e-9 * span_s <= yy <= s_hi + 1e-9 * span_s):
            continue
        if (ax.get_yscale() == "log" or log_s) and yy <= 0:  # below a log axis: the caller marks it on the axis
            continue
        k = _kind(fp.stability[i])
        ax.plot(x, yy, ls="none", zorder=7 if k == "stable" else 6, clip_on=False, **_marker(k, size))
        drawn.add(k)
    return drawn


def _stationary_lines(ax, pp: PhasePortrait, w: Window) -> bool:
    """At eta = 0 the stationary points fill two lines, s = 0 and p = tau/(1 + sigma^2): drawn as lines."""
    if float(pp.system.eta) != 0.0 or np.all(pp.fixed_points.isolated):
        return False
    p0 = float(pp.system.tau) / (1.0 + float(pp.system.sigma) ** 2)
    kw = dict(color=STATIONARY_LINE, lw=2.6, alpha=0.45, zorder=2.5, solid_capstyle="butt", clip_on=True)
    ax.plot([w.p_min, w.p_max], [0.0, 0.0], **kw)
    if w.p_min <= p0 <= w.p_max:
        ax.plot([p0, p0], [max(w.s_min, 0.0), w.s_max], **kw)
    return True


def _plane(ax, pp: PhasePortrait, w: Window, prefix: str, sl: slice, size: str) -> dict:
    f = pp.fields
    ax.streamplot(f[prefix + "field_p"], f[prefix + "field_s"], f[prefix + "field_dp"], f[prefix + "field_ds"],
                  color=FIELD, density=0.9 if size == "page" else 0.6, linewidth=0.5, arrowsize=0.6, zorder=1,
                  broken_streamlines=True)
    ax.contour(f[prefix + "nullcline_p"], f[prefix + "nullcline_s"], f[prefix + "nullcline_dp"], [0.0],
               colors=NULL_P, linewidths=1.2, zorder=2)
    ax.contour(f[prefix + "nullcline_p"], f[prefix + "nullcline_s"], f[prefix + "nullcline_ds"], [0.0],
               colors=NULL_S, linewidths=1.2, linestyles=[NULL_S_LS], zorder=2)
    p = np.linspace(w.p_min, w.p_max, 400)
    ax.plot(p, p**2 / float(pp.system.alpha_p), color="black", ls="--", lw=0.9, zorder=3)
    lines = _stationary_lines(ax, pp, w)
    ends = _trajectory_ends(pp, sl)
    ys = np.asarray(pp.trajectories.ys)[sl]
    for y, end in zip(ys, ends):
        y = y[np.all(np.isfinite(y), axis=1)]
        ls = ":" if end == "failed" else "-"
        ax.plot(y[:, 0], y[:, 1], ls, color=TRAJ_COLOURS[end], lw=1.1, zorder=4)
        ax.plot(y[0, 0], y[0, 1], "o", ms=2.2, color=TRAJ_COLOURS[end], zorder=4)
    drawn = _mark_points(ax, pp.fixed_points, (w.p_min, w.p_max, w.s_min, w.s_max), size)
    ax.set_xlim(w.p_min, w.p_max)
    ax.set_ylim(w.s_min, w.s_max)
    ax.set_xlabel(r"$p_j$ (eigenvalue of $W_p$)" if size == "page" else "$p_j$")
    ax.set_ylabel(r"$s_j$ (eigenvalue of $F$)" if size == "page" else "$s_j$")
    return {"points": drawn, "ends": set(ends), "lines": lines}


def _line(ax, pp: PhasePortrait, prefix: str, size: str) -> dict:
    f = pp.fields
    p, dp = np.asarray(f[prefix + "curve_p"]), np.asarray(f[prefix + "curve_dp"])
    lo, hi = float(p[0]), float(p[-1])
    shaded = set()
    scale = max(abs(lo), abs(hi))
    for a, b, dest in _flow_1d(pp, prefix):
        if dest is None:
            continue
        key = "collapse" if _is_zero(dest, scale * 1e-6) else "nontrivial"
        ax.axvspan(a, b, color=COLLAPSED if key == "collapse" else NONTRIVIAL, alpha=0.12, lw=0, zorder=0)
        shaded.add(key)
    ax.axhline(0.0, color="black", lw=0.5, zorder=1)
    ax.plot(p, dp, color="black", lw=1.2, zorder=2)
    drawn = _mark_points(ax, pp.fixed_points_1d, (lo, hi, 0.0, 0.0), size, coords=(0,))
    # The y range: the structure between the stationary points, not the cubic's tail.
    fp = np.asarray(pp.fixed_points_1d.points)[:, 0]
    inner = fp[(fp >= lo) & (fp <= hi)]
    if len(inner) > 1 and inner.max() > inner.min():
        span = inner.max() - inner.min()
        sel = (p >= inner.min() - 0.5 * span) & (p <= inner.max() + 0.5 * span)
        top = 1.6 * np.max(np.abs(dp[sel]))
        if top > 0:
            ax.set_ylim(max(dp.min(), -top), min(dp.max(), top) if dp.max() > 0 else top)
    ax.set_xlim(lo, hi)
    ax.set_xlabel(r"$p_j$")
    ax.set_ylabel(r"$\dot p_j$")
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4 if size == "column" else 6))
    return {"points": drawn, "shaded": shaded}


def _zoom_pointer(ax, pp: PhasePortrait, width: float, size: str, y: float = 0.0):
    """At full scale p*_- sits on the origin: say where to look."""
    pm = float(pp.system.p_minus)
    if np.isfinite(pm) and 0 < pm < 0.02 * width:
        ax.annotate(r"$p^*_-$: see the zoom" if size == "column" else
                    rf"$p^*_- = {number(pm, 4, math=True)}$: see the zoom", xy=(0.0, y), xytext=(0.05, 0.2),
                    textcoords="axes fraction", fontsize=plt.rcParams["legend.fontsize"],
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85),
                    arrowprops=dict(arrowstyle="->", lw=0.6, color="0.3"), color="0.2", zorder=9)


def plot_phase_portrait(pp: PhasePortrait, *, size: str = "page"):
    """The [T21] Fig. 3-style figure: (a) the (p, s) plane, (b) its zoom around the origin,
    (c) the 1-D dynamics on the parabola with its basins, (d) the same near the origin."""
    check_size(size)
    sys = pp.system
    eta, sigma, tau, alpha = (float(getattr(sys, k)) for k in ("eta", "sigma", "tau", "alpha_p"))
    with style(size):
        w = WIDTHS[size]
        fig, axes = plt.subplots(2, 2, figsize=(w, w * (0.78 if size == "page" else 1.12)), layout="constrained")
        (a, b), (c, d) = axes
        da = _plane(a, pp, pp.window, "", slice(0, pp.n_main), size)
        db = _plane(b, pp, pp.zoom, "zoom_", slice(pp.n_main, None), size)
        dc = _line(c, pp, "", size)
        dd = _line(d, pp, "zoom_", size)
        _zoom_pointer(a, pp, pp.window.p_max - pp.window.p_min, size)
        _zoom_pointer(c, pp, pp.window.p_max - pp.window.p_min, size)
        wider = pp.zoom.p_max - pp.zoom.p_min > pp.window.p_max - pp.window.p_min
        _letters([a, b, c, d], [r"the $(p_j, s_j)$ plane",
                                "wider view" if wider else (r"zoom on the origin", "zoom"),
                                (r"1-D dynamics on the parabola $c_j = 0$", r"on $c_j = 0$"),
                                ("1-D dynamics, wider view", "wider") if wider else
                                ("1-D dynamics near the origin", "zoom")], size)
        regime = pp.regime
        pm, pplus, etac = float(sys.p_minus), float(sys.p_plus), float(sys.eta_critical)
        if regime == "bistable":
            msg = rf"bistable: $p^*_- = {number(pm, 4, math=True)}$, $p^*_+ = {number(pplus, 4, math=True)}$"
            if size == "column":
                msg = rf"$p^*_- = {number(pm, 4, math=True)}$" + "\n" + rf"$p^*_+ = {number(pplus, 4, math=True)}$"
        elif regime == "critical":
            msg = rf"critical: $\eta = \eta_c$, saddle-node at $p^* = {number(pplus, 4, math=True)}$"
        elif regime == "collapse-only":
            msg = r"$\eta > \eta_c$: only the collapsed $p^* = 0$ remains"
        else:
            msg = (r"$\eta = 0$: lines of stationary points $s = 0$, $p = \tau/(1+\sigma^2)$" if size == "page"
                   else "lines of\nstationary points")
        _note(a, msg, loc="upper left", color=STABLE if regime == "collapse-only" else "0.1")
        partial = None
        if not pp.trajectories.complete:
            partial = f"{int(np.sum(~np.asarray(pp.trajectories.ok)))} trajectories failed (dotted)"
        suptitle(fig, [r"Eigenvalue dynamics of linear BYOL [T21, Fig. 3]: " + eq("eta", eta),
                       eq("sigma", sigma), eq("tau", tau), eq("alpha_p", alpha),
                       rf"($\eta_c = \tau^2/4(1+\sigma^2) = {number(etac, 4, math=True)}$)"], size, partial=partial)
        points = da["points"] | db["points"] | dc["points"] | dd["points"]
        ends = da["ends"] | db["ends"]
        shaded = dc["shaded"] | dd["shaded"]
        entries = [
            (True, Line2D([], [], color=NULL_P, lw=1.2, label=r"$\dot p = 0$")),
            (True, Line2D([], [], color=NULL_S, lw=1.2, ls=NULL_S_LS, label=r"$\dot s = 0$")),
            (True, Line2D([], [], color="black", lw=0.9, ls="--", label=r"$s = p^2/\alpha_p$")),
            ("stable" in points, Line2D([], [], ls="none", label="stable", **_marker("stable", size))),
            ("unstable" in points, Line2D([], [], ls="none", label="unstable / saddle", **_marker("unstable", size))),
            ("degenerate" in points, Line2D([], [], ls="none", label="degenerate", **_marker("degenerate", size))),
            (da["lines"] or db["lines"], Line2D([], [], color=STATIONARY_LINE, lw=2.6, alpha=0.45,
                                                label="line of stationary points")),
            ("collapse" in ends, Line2D([], [], color=COLLAPSED, lw=1.1, label="trajectory to collapse")),
            ("nontrivial" in ends, Line2D([], [], color=NONTRIVIAL, lw=1.1,
                                          label=r"trajectory to $p = \tau/(1+\sigma^2)$" if eta == 0
                                          else r"trajectory to $p^*_+$")),
            ("open" in ends, Line2D([], [], color=TRAJ_COLOURS["open"], lw=1.1, label=r"not settled by $t_1$")),
            ("failed" in ends, Line2D([], [], color="black", lw=1.1, ls=":", label="failed (partial)")),
            ("collapse" in shaded, Patch(fc=COLLAPSED, alpha=0.25, label="flows to collapse")),
            ("nontrivial" in shaded, Patch(fc=NONTRIVIAL, alpha=0.25, label=r"flows to $p^*_+$" if eta > 0
                                           else r"flows to $\tau/(1+\sigma^2)$")),
        ]
        handles = [h for show, h in entries if show]
        fig.legend(handles=handles, loc="outside lower center", ncol=5 if size == "page" else 3)
    return fig


# ----------------------------------------------------------------------------- simulate

_SIM_NAMES = {
    "byol": "Linear BYOL, EMA target [T21]",
    "simsiam": r"Linear SimSiam, $W_a = W$ [T21]",
    "no-predictor": r"No predictor, $W_p = I$ [T21]",
    "no-stopgrad": "Linear BYOL without stop-gradient [T21]",
    "symmetric-predictor": "Linear BYOL, symmetric predictor [T21]",
    "symmetrized": r"The symmetrized $(W_p, F)$ system [T21, Thm. 3]",
    "directpred": r"DirectPred, $W_p = F^{1/2}$ [T21, W21]",
    "directcopy": r"DirectCopy, $W_p = F$ [W21]",
    "directset": r"DirectSet($\alpha$), $W_p = F^{\alpha}$ [W21]",
    "scalar": "The scalar system [T21, Fig. 10]",
}
_DATA_TEXT = {"isotropic": r"$X = I$, $X' = \sigma^2 I$", "nuisance": r"$X = I$, $X' = \sigma^2 P_B$",
              "spectrum": r"$X = U\,\mathrm{diag}(d^j)\,U^\top$, $X' = \sigma^2 I$", "user": r"user $X$, $X'$"}


def _why_not_theorem3(note: str) -> str:
    parts = []
    if "not isotropic" in note:
        parts.append(r"$X' \neq \sigma^2 I$")
    if "not symmetric" in note:
        parts.append(r"$W_p \neq W_p^\top$ or $W_a \neq \tau W$")
    return "Theorem 3 does not apply:\n" + (", ".join(parts) or note)


def _simulation_title(sim) -> list[str]:
    p, sr = sim.params, sim.series
    name = _SIM_NAMES.get(sim.model, sim.model)
    if sim.model == "directset":
        name = rf"DirectSet($\alpha = {number(p['alpha'], math=True)}$), $W_p = F^{{\alpha}}$ [W21]"
    items = [name + ":"]
    if "n1" in p:
        items[0] += (f" $n_1 = {p['n1']}$, $n_2 = {p['n2']}$" if p.get("n2") != p["n1"]
                     else f" $n_1 = n_2 = {p['n1']}$")
        data = _DATA_TEXT.get(p.get("data"), p.get("data", ""))
        if p.get("data") == "nuisance" and "dim_b" in p:
            data += rf" ($\dim B = {p['dim_b']}$)"
        if p.get("data") == "spectrum" and "decay" in p:
            data = data.replace("d^j", rf"{number(p['decay'], math=True)}^j")
        items.append(data)
    else:
        items[0] += rf" $l_d = {number(p['l_d'], math=True)}$, $l_s = {number(p['l_s'], math=True)}$"
    names = ["eta"] + (["sigma"] if "sigma" in p and p.get("data") != "user" else [])
    names += [] if "alpha_p" not in p or sim.model in ("no-predictor",) else ["alpha_p"]
    if "tau" in sr:  # beta matters only with an EMA target
        names.append("beta")
    for k in ("eps", "rho"):
        if p.get(k):
            names.append(k)
    if p.get("rho") or (p.get("freq") or 1) > 1:
        names.append("lr")
    items += [eq(n, p[n]) for n in names]
    if p.get("normalisation") == "code":
        items.append("code normalisation")
    items.append(f"init scale {number(p['init_scale'])}, seed {p['seed']}")
    return items


def plot_simulation(sim, *, size: str = "page"):
    """The ``simulate`` figure, only the panels that apply to the model: the eigenvalues of F;
    W_p in F's eigenbasis with p*_+; the eigenspace alignment with Theorem 3's bound; Theorem 1's
    drift against the solver tolerance; the EMA target; W on the invariant and nuisance subspaces
    with [W21]'s limit; the scalar system's weights and fixed-point manifold."""
    from dynsim.models.byol.simulate import COLLAPSE_RTOL
    from dynsim.models.byol.system import RULES, LinearBYOL, SymmetrizedBYOL
    from dynsim.models.eigen.system import nontrivial_roots

    check_size(size)
    sr, notes, p, system = sim.series, sim.notes, sim.params, sim.system
    t = sr["t"]
    ok = np.isfinite(t)
    last = _finite_last(t)
    s = sr["s"]
    s_scale = float(np.nanmax(s[0]))
    coll = s[last] < COLLAPSE_RTOL * s_scale
    colours = np.where(coll, COLLAPSED, NONTRIVIAL)
    scalar = sim.model == "scalar"
    rule = sim.model in RULES
    draw = []  # (title, function of ax)

    def eig_F(ax):
        floor = s_scale * 1e-14
        for j in np.argsort(~coll):  # collapsed drawn over kept
            y = np.where(s[ok, j] > floor, s[ok, j], np.nan)
            ax.plot(t[ok], y, color=colours[j], lw=1.0)
        thr = COLLAPSE_RTOL * s_scale
        ax.axhline(thr, **TOLERANCE)
        if "limit" in sr:
            c2 = float(sr["limit"]) ** 2
            ax.axhline(c2, **THEORY)
            ax.legend(handles=[Line2D([], [], **THEORY, label=r"[W21]: $c^2$")], loc="lower left")
        _log_axis(ax, np.r_[s[ok].ravel(), thr], decades=15)
        ax.set_ylabel(r"$s_j$")

    draw.append(((r"eigenvalues $s_j$ of $F = WXW^\top$", r"eigenvalues of $F$") if not scalar else r"$F = w^2 l_d$",
                 eig_F))

    if scalar:
        def weights(ax):
            ax.plot(t[ok], sr["w"][ok], color=PALETTE["sky"], lw=2.6, label="$w$", solid_capstyle="butt")
            ax.plot(t[ok], sr["w_a"][ok], color="black", lw=0.9, label=r"$w_a$ (EMA target)")
            ax.plot(t[ok], sr["w_p"][ok], color=PALETTE["orange"], lw=1.1, label="$w_p$")
            ax.axhline(0.0, color="black", lw=0.4)
            ax.set_ylabel("weights")
            ax.legend(loc="best")

        draw.append(("the weights", weights))
    elif "p" in sr and not rule:
        def predictor(ax):
            for j in np.argsort(~coll):
                ax.plot(t[ok], sr["p"][ok, j], color=colours[j], lw=1.0)
            ax.axhline(0.0, color="black", lw=0.4)
            extra = []
            reduced = (isinstance(system, SymmetrizedBYOL) or (isinstance(system, LinearBYOL) and system.stop_gradient
                       and system.predictor != "identity" and getattr(system, "isotropic", False)))
            if reduced and p.get("data") == "isotropic":
                tau = float(sr["tau"][last]) if "tau" in sr else 1.0
                pm, pp_ = (float(v) for v in nontrivial_roots(float(p["eta"]), float(p["sigma"]), tau))
                if np.isfinite(pp_):
                    ax.axhline(pp_, **THEORY)
                    extra.append(Line2D([], [], **THEORY, label=rf"$p^*_+ = {number(pp_, 2, math=True)}$"
                                        + (r" (final $\tau$)" if "tau" in sr and size == "page" else "")))
            ax.set_ylabel(r"$p_j = u_j^\top W_p u_j$")
            if extra:
                ax.legend(handles=extra, loc="lower right")

        draw.append(((r"$W_p$ in $F$'s eigenbasis", r"$W_p$ in $F$'s basis"), predictor))

    comm = sr["commutator"]
    comm_scale = max(float(np.nanmax(comm[ok])), 1e-300)
    aligned_by_rule = rule or float(np.nanmax(comm[ok])) < 1e-12 * max(s_scale, 1.0) ** 2
    if not aligned_by_rule:
        def alignment(ax):
            ax.plot(t[ok], _positive(comm[ok]), color="black", label=r"$\|[F, W_p]\|_F$")
            vals = [comm[ok]]
            if "bound" in sr and float(sr["lambda0"]) > 0:
                ax.plot(t[ok], sr["bound"][ok], **THEORY,
                        label=rf"Thm. 3: $e^{{-2\lambda_0 t}}\|[F,W_p](0)\|_F$")
                _note(ax, rf"$\lambda_0 = {number(float(sr['lambda0']), 3, math=True)}$", loc="upper right")
                vals.append(sr["bound"][ok])
            if "asymmetry" in sr and np.nanmax(sr["asymmetry"][ok]) > 1e-12:
                ax.plot(t[ok], _positive(sr["asymmetry"][ok]), color=PALETTE["orange"],
                        label=r"$\|W_p - W_p^\top\|_F / \|W_p\|_F$" if size == "page" else "asymmetry of $W_p$")
                vals.append(sr["asymmetry"][ok])
            _log_axis(ax, np.concatenate(vals), decades=12)
            ax.legend(loc="lower left" if "bound" in sr else "upper right")
            msg = notes.get("theorem3")
            if msg:
                _note(ax, _why_not_theorem3(msg), loc="lower left")
            elif "lambda0" in sr and float(sr["lambda0"]) <= 0:
                _note(ax, rf"$\lambda_0 = {number(float(sr['lambda0']), 3, math=True)} \leq 0$: the bound is vacuous",
                      loc="lower left")
            elif "bound" in sr:
                bad = np.sum(comm[ok] > sr["bound"][ok] * (1 + 1e-6) + 1e-12 * comm_scale)
                if bad:
                    _note(ax, f"above the bound at {bad} of {int(ok.sum())} times", loc="lower left", color=STABLE)

        draw.append((("eigenspace alignment", "alignment"), alignment))

    if "drift" in sr:
        def drift(ax):
            dr = np.abs(sr["drift"][ok])
            tol = float(p.get("rtol", 1e-8))
            ax.plot(t[ok], _positive(dr), color="black", label="drift" if size == "column" else
                    r"$\|e^{2\eta t}C(t) - C(0)\|_F$ / scale")
            ax.axhline(tol, **TOLERANCE)
            _tolerance_axis(ax, dr, tol)
            rtol_key = Line2D([], [], **TOLERANCE, label=rf"solver rtol $= {number(tol, math=True)}$")
            ax.legend(handles=[ax.lines[0], rtol_key], loc="upper left")
            worst = float(np.nanmax(dr))
            if worst <= tol:
                _note(ax, "conserved to rtol", loc="lower right")
            else:
                _note(ax, rf"not conserved: max ${number(worst, 2, math=True)}$ > rtol", loc="lower right",
                      color=STABLE)
            ax.set_ylabel("relative drift")

        draw.append((("Theorem 1: conservation", "Theorem 1"), drift))

    if "tau" in sr:
        def ema(ax):
            if "corr" in sr and not scalar:  # for 1 x 1 weights corr is the sign: always 1
                ax.plot(t[ok], sr["corr"][ok], color="black", label=r"corr$(W_a, W)$")
            ax.plot(t[ok], sr["tau"][ok], color=PALETTE["orange"],
                    label=r"$\tau = \langle W_a, W\rangle/\|W\|^2$" if sim.model != "symmetrized" else r"$\tau$")
            ax.legend(loc="best")
            ax.set_ylabel("")

        draw.append(("the EMA target" + rf" ($\beta = {number(p['beta'], math=True)}$)" * (size == "page"), ema))

    if "norm_S" in sr:
        def nuisance(ax):
            sv = sr["sv_S"]
            lim = float(sr["limit"]) if "limit" in sr else None
            ref = lim if lim is not None else float(np.nanmax(sv[0]))
            at = np.abs(sv[last] - lim) < 1e-3 * lim if lim is not None else np.zeros(sv.shape[1], bool)
            gone = sv[last] < 1e-3 * ref
            for j in range(sv.shape[1]):
                ax.plot(t[ok], _positive(sv[ok, j]), color=COLLAPSED if gone[j] else NONTRIVIAL, lw=1.0)
            nb = sr["norm_B"]
            ax.plot(t[ok], _positive(nb[ok]), color="black", lw=1.1)
            handles = []
            if (~gone).any():
                handles.append(Line2D([], [], color=NONTRIVIAL, label=r"$\sigma_j(W P_S)$, invariant"))
            if gone.any():
                handles.append(Line2D([], [], color=COLLAPSED, label=r"$\sigma_j(W P_S)$, collapsed"))
            handles.append(Line2D([], [], color="black", label=r"$\|W P_B\|_F$, nuisance"))
            if lim is not None:
                ax.axhline(lim, **THEORY)
                handles.append(Line2D([], [], **THEORY, label=rf"[W21]: $c = {number(lim, 3, math=True)}$"))
            _log_axis(ax, np.r_[sv[ok].ravel(), nb[ok]], decades=10)
            ax.legend(handles=handles, loc="lower left")
            n_s = sv.shape[1]
            if lim is not None and at.sum() < n_s:
                _note(ax, f"{int(at.sum())} of {n_s} directions of $S$ reach $c$," + "\n" +
                      rf"so $\|WP_S\|_F = {number(float(sr['norm_S'][last]), 3, math=True)}$," + "\n"
                      rf"not $c\sqrt{{\dim S}} = {number(lim * math.sqrt(n_s), 3, math=True)}$",
                      loc="upper right", y=0.84, color=STABLE)
            elif lim is not None:
                _note(ax, rf"all {n_s} directions of $S$ at $c$", loc="center right")
            elif "limit" in notes:
                _note(ax, "no closed form for this rule" if "no closed form" in notes["limit"]
                      else "collapse: no non-trivial fixed point", loc="center right")
            ax.set_ylabel(r"$W$ on $S$, on $B$")

        draw.append(((r"invariant $S$, nuisance $B$", r"$W$ on $S$ and $B$"), nuisance))

    if "manifold" in sr:
        def manifold(ax):
            mf = sr["manifold"][ok]
            ax.plot(t[ok], _positive(mf), color="black")
            _log_axis(ax, mf, decades=14)
            ax.set_ylabel(r"$|w_p w\, l_s - w_a l_d|$")
            if mf[-1] > 1e-6 * mf[0]:
                _note(ax, rf"still decaying at $t_1 = {number(float(t[last]), math=True)}$:"
                      + "\nnot yet on the manifold", loc="upper right")

        draw.append((("distance to the fixed-point manifold", "to the fixed-point manifold"), manifold))

    with style(size):
        title = _simulation_title(sim)
        fig, axes = _panels(len(draw), size, extra=_title_height(title, size, _partial(sim.solution)) + 0.22)
        for ax, (_, fn) in zip(axes, draw):
            fn(ax)
            ax.set_xlabel("$t$")
        _letters(axes, [tt for tt, _ in draw], size)
        key = []
        if (~coll).any() and not scalar:
            key.append(Line2D([], [], color=NONTRIVIAL, label=f"direction kept ({int((~coll).sum())})"))
        if coll.any():
            key.append(Line2D([], [], color=COLLAPSED, label=f"direction collapsed ({int(coll.sum())})"))
        key.append(Line2D([], [], **TOLERANCE, label=r"collapsed: $s_j < 10^{-6}\,s_1(0)$"))
        if any(ln.get_linestyle() == "--" for ax in axes for ln in ax.lines):
            key.append(Line2D([], [], **THEORY, label="closed form / prediction"))
        fig.legend(handles=key, loc="outside lower center", ncols=4 if size == "page" else 2)
        suptitle(fig, title, size, partial=_partial(sim.solution))
    return fig


# ----------------------------------------------------------------------------- stepwise


def plot_stepwise(run, *, size: str = "page"):
    """Barlow Twins' steps [S23, Fig. 1]: (a) embedding eigenvalues with the closed form dashed and
    the step times marked, (b) the loss and its steps, (c) the relative deviation from the closed
    form against the solver tolerance."""
    check_size(size)
    p, t = run.params, run.ts
    ok = np.isfinite(t)
    d = run.lam.shape[1]
    order = np.argsort(run.t_steps)  # the k-th largest eigenvalue is the k-th direction learned
    colors = plt.get_cmap(SEQUENCE)(np.linspace(0.0, 0.7, d))  # dark to mid: no pale marker
    closed = run.lam_closed[:, order]
    with style(size):
        if size == "page":
            fig, (a, b, c) = plt.subplots(1, 3, figsize=(7.0, 2.55), layout="constrained")
        else:
            fig, (a, b, c) = plt.subplots(3, 1, figsize=(3.4, 5.2), layout="constrained", sharex=True)
        for k in range(d):
            a.plot(t[ok], run.lam[ok, k], color=colors[k], lw=1.3)
            a.plot(t[ok], closed[ok, k], **{**THEORY, "lw": 0.8})
        # step times: one marker each on the closed form at t_j (no labels to collide)
        for k, j in enumerate(order):
            ts = float(run.t_steps[j])
            a.plot(ts, float(np.interp(ts, t[ok], closed[ok, k])), "v", ms=4, mfc="white", mec=colors[k], mew=1.2,
                   zorder=5)
            b.axvline(ts, color=colors[k], ls=":", lw=0.8)
        key = [Line2D([], [], color=colors[k], lw=1.3, label=rf"$\lambda_{{{k + 1}}}$") for k in range(d)]
        a.legend(handles=key + [Line2D([], [], **{**THEORY, "lw": 0.8}, label="closed form"),
                                Line2D([], [], ls="none", marker="v", ms=4, mfc="white", mec="0.2", mew=1.2,
                                       label="step time $t_j$")],
                 loc="center right", ncols=2 if d > 4 and size == "column" else 1, columnspacing=0.8,
                 handlelength=1.3)
        a.set_ylabel(r"$\lambda_j$, eigenvalues of $W\Gamma W^\top$")
        b.plot(t[ok], run.loss[ok], color=NONTRIVIAL, lw=1.3, label="ODE")
        b.plot(t[ok], run.loss_closed[ok], **{**THEORY, "lw": 0.8}, label="closed form")
        b.plot([], [], color="0.3", ls=":", lw=0.8, label="step times")
        b.set_ylabel(r"$\mathcal{L} = \|W\Gamma W^\top - I\|_F^2$")
        b.legend(loc="upper right")
        rel = np.abs(run.lam - closed) / np.maximum(np.abs(closed), 1e-300)
        tol = float(p.get("rtol", 1e-10))
        # rtol bounds each step's error, not the run's: the global error of the default run reaches
        # 6-7 x rtol where a direction is learned, and its digits (the step sequence, rounding) differ
        # between machines and builds. Errors under RESOLVED_RTOLS x rtol are drawn on that line.
        resolved = max(ROUNDOFF, RESOLVED_RTOLS * tol)
        shown = np.maximum(rel, resolved)
        for k in range(d):
            c.plot(t[ok], shown[ok, k], color=colors[k], lw=0.9)
        c.axhline(resolved, **TOLERANCE)
        note = None if p.get("aligned") else "random init: closed\nform approximate\nbefore the steps"
        c.legend(handles=[Line2D([], [], **TOLERANCE, label=rf"${number(resolved, math=True)} = {RESOLVED_RTOLS}\times$ rtol"
                                                            "\n(smaller drawn on it)")],
                 title=note, title_fontsize=plt.rcParams["legend.fontsize"], alignment="left", loc="upper right")
        _log_axis(c, np.r_[shown[ok].ravel(), resolved], decades=10)
        c.set_ylabel(r"$|\lambda_j - \lambda_j^{\mathrm{closed}}| / \lambda_j^{\mathrm{closed}}$")
        worst = float(np.nanmax(rel[ok]))
        if p.get("aligned") and worst > 1e3 * tol:
            _note(c, rf"aligned init, yet max ${number(worst, 2, math=True)}$ $\gg$ rtol", loc="lower right",
                  color=STABLE)
        for ax in (a, b, c):
            if size == "page" or ax is c:
                ax.set_xlabel(T_LABEL)
        _letters([a, b, c], ["one direction at a time", "the loss falls in steps",
                             "against the closed form"], size)
        start = "aligned" if p["aligned"] else "random"
        kern = [] if p["kernel"] == "none" else [f"{p['kernel']} kernel"]
        spec = ([rf"$\gamma_j = {number(p['ratio'], math=True)}^j$", f"noise {number(p['noise'])}"]
                if p.get("ratio") else [])
        suptitle(fig, [f"Linear Barlow Twins [S23]: $d = {p['d']}$, $m = {p['m']}$, $n = {p['n_pairs']}$ pairs", *spec,
                       *kern, f"{start} init of scale {number(p['init_scale'])}", f"seed {p['seed']}"], size,
                 partial=_partial(run.solution))
    return fig


# ----------------------------------------------------------------------------- contrastive


def _spectrum_dots(ax, idx, values, coll, ylabel):
    """A final spectrum on a log axis: stems and dots, never bars (a bar has no bottom on a log axis)."""
    ax.scatter(idx[~coll], values[~coll], s=12, color=NONTRIVIAL, zorder=3)
    if coll.any():
        ax.scatter(idx[coll], values[coll], s=12, color=COLLAPSED, zorder=3)
    _log_axis(ax, values, decades=16)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("index $j$")
    ax.set_ylabel(ylabel)


def plot_collapse(run, *, size: str = "page"):
    """A contrastive run [J22]: (a) the embedding's singular values (collapsed ones vermillion),
    (b) the eigenvalues of the effective X against 0, (c) the loss; then per model: one layer,
    the final spectrum, the weight of each direction on the augmented subspace and the rates
    d log sigma / dt; two layers, each layer's singular values, the alignment |V_2^T U_1| and the
    conservation and Theorem 3 residuals; DirectCLR, the representation spectrum and its rank
    against projector variants."""
    from dynsim.models.infonce.collapse import COLLAPSE_RTOL

    check_size(size)
    sr, p, t = run.series, run.params, run.ts
    ok = np.isfinite(t)
    last = _finite_last(t)
    sv = sr["sv"]
    coll = sv[last] < COLLAPSE_RTOL * sv[last].max()
    cols = np.where(coll, COLLAPSED, NONTRIVIAL)
    d = sv.shape[1]
    idx = np.arange(1, d + 1)
    draw = []
    key = []  # the figure's legend: what the colours and line styles mean

    def singular(ax):
        for j in np.argsort(~coll):
            ax.plot(t[ok], sv[ok, j], color=cols[j], lw=0.9)
        _log_axis(ax, sv[ok], decades=14)
        ax.set_ylabel(r"$\sigma_j(W)$" if "sv1" not in sr else r"$\sigma_j(W_2 W_1)$")

    draw.append((f"{int(coll.sum())} of {d} collapsed", singular))

    xe = sr["X_eig"]
    x_tol = 1e-6 * float(np.nanmax(np.abs(xe[ok])))
    neg_end = int(np.sum(xe[last] < -x_tol))
    zero_end = bool(np.all(np.abs(xe[last]) <= x_tol))

    def effective_x(ax):
        for j in range(d):
            ax.plot(t[ok], xe[ok, j], color="0.25", lw=0.8)
        if np.nanmin(xe[ok]) > 0:
            _log_axis(ax, xe[ok], decades=14)
        else:
            ax.axhline(0.0, color="black", lw=0.5)
            ax.axhspan(-x_tol, x_tol, color=TOLERANCE["color"], alpha=0.25, lw=0)
            _symlog(ax, xe[ok], floor=max(x_tol, 1e-300), per_side=4 if size == "page" else 1)
            ax.legend(handles=[Patch(fc=TOLERANCE["color"], alpha=0.35, label=r"$|x| \leq 10^{-6}\max|X|$")],
                      loc="upper right")
        ax.set_ylabel(r"eigenvalues of $X$" if size == "page" else "$x_j$")

    xtitle = ((r"$X = \Sigma_0 - \Sigma_1 \to 0$", r"$X \to 0$") if zero_end
              else (rf"$X = \Sigma_0 - \Sigma_1$: {neg_end} negative at $t_1$", f"$X$: {neg_end} below 0"))
    draw.append((xtitle, effective_x))

    def loss(ax):
        lo = sr["loss"][ok]
        ax.plot(t[ok], lo, color="black", lw=1.2)
        if np.all(lo > 0) and lo.max() / lo.min() > 30:
            _log_axis(ax, lo, decades=16)
        ax.set_ylabel(r"$\mathcal{L}$")

    draw.append(("the loss", loss))

    if run.comparison is not None:
        names = list(run.comparison)
        colours = SERIES[: len(names)]

        def spectrum(ax):
            _spectrum_dots(ax, idx, sv[last], coll, r"$\sigma_j$ at $t_1$")

        draw.append((("final spectrum", "spectrum"), spectrum))

        def variants(ax):
            for (name, rec), col in zip(run.comparison.items(), colours):
                s = np.asarray(rec["singular_values"])
                ax.plot(idx, s / s.max(), "o-", ms=2.5, lw=0.9, color=col,
                        label=f"{name} (rank {number(float(rec['effective_rank']), 3)})")
            _log_axis(ax, np.concatenate([np.asarray(r["singular_values"]) / np.max(r["singular_values"])
                                          for r in run.comparison.values()]), decades=16)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.set_xlabel("index $j$")
            ax.set_ylabel(r"$\sigma_j / \sigma_1$ of the encoder $W_1$")
            # the legend goes into the free slot right of this last panel (out of the layout)
            lg = ax.legend(loc="lower left", bbox_to_anchor=(1.08, 0.0), title="effective rank\n"
                           r"$e^{H(\sigma/\Sigma\sigma)}$ at $t_1$", title_fontsize=plt.rcParams["legend.fontsize"],
                           alignment="left")
            lg.set_in_layout(False)

        draw.append((("against projector variants", "projectors"), variants))
    elif "sv1" in sr:
        def layers(ax):
            c1 = c2 = cols  # the k-th direction of each layer, coloured as the k-th of the product (aligned, Thm. 2)
            for j in range(d):
                ax.plot(t[ok], sr["sv2"][ok, j], color=c2[j], lw=2.6, alpha=0.3, solid_capstyle="butt")
            for j in range(d):
                ax.plot(t[ok], sr["sv1"][ok, j], color=c1[j], lw=0.7)
            _log_axis(ax, np.r_[sr["sv1"][ok].ravel(), sr["sv2"][ok].ravel()], decades=14)
            ax.set_ylabel(r"$\sigma^k_1$, $\sigma^k_2$")
            key.extend([Line2D([], [], color="0.2", lw=0.7, label=r"$\sigma_1^k$ of $W_1$"),
                        Line2D([], [], color="0.2", lw=2.6, alpha=0.3, label=r"$\sigma_2^k$ of $W_2$")])

        draw.append((("each layer's singular values", "each layer"), layers))

        def align(ax):
            im = ax.imshow(np.abs(sr["alignment"]), cmap="Greys", vmin=0, vmax=1, extent=(0.5, d + 0.5, d + 0.5, 0.5))
            plt.colorbar(im, ax=ax, shrink=0.85, label=r"$|V_2^\top U_1|$")
            ax.set_xlabel(r"$k$ ($U_1$)")
            ax.set_ylabel(r"$k$ ($V_2$)")
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5, integer=True))
            ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5, integer=True))

        draw.append(((r"alignment at $t_1$ (Thm. 2)", "alignment"), align))

        def conserved(ax):
            bd, res = sr["balance_drift"][ok], sr["theorem3_residual"][ok]
            tol = float(p.get("rtol", 1e-8))
            ax.plot(t[ok], _positive(bd), color="black", label=r"drift of $C$")
            ax.plot(t[ok], _positive(res), color=PALETTE["orange"], label="Thm. 3 residual")
            ax.axhline(tol, **TOLERANCE)
            handles = ax.lines[:2] + [Line2D([], [], **TOLERANCE, label=rf"rtol $= {number(tol, math=True)}$")]
            _tolerance_axis(ax, np.r_[bd, res], tol, decades_above=1.5)
            ax.legend(handles=handles, loc="upper right", ncols=1)
            r = res[np.isfinite(res)]
            if r.size > 2 and np.any(np.abs(np.diff(np.log10(np.maximum(r, 1e-300)))) > 1.5):
                _note(ax, "jumps: one more\ndirection has grown", loc="lower right")
            ax.set_ylabel("relative")

        draw.append(((r"$C = W_1W_1^\top - W_2^\top W_2$", "conserved $C$"), conserved))
    else:
        def spectrum(ax):
            _spectrum_dots(ax, idx, sv[last], coll, r"$\sigma_j$ at $t_1$")

        draw.append((("final spectrum", "spectrum"), spectrum))
        if "in_B" in sr:
            def in_b(ax):
                ax.bar(idx, sr["in_B"], color=cols, width=0.75)
                ax.set_ylim(0, 1.05)
                ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
                ax.set_xlabel("index $j$")
                ax.set_ylabel(r"$|P_B v_j|$")

            draw.append((("weight on the augmented dims", "on augmented dims"), in_b))
        rates = sr["log_rate"]
        shrinking = int(np.sum(rates[last] * t[last] < -1e-2))

        def rate(ax):
            for j in np.argsort(~coll):
                ax.plot(t[ok], rates[ok, j], color=cols[j], lw=0.8)
            ax.axhline(0.0, color="black", lw=0.5)
            _symlog(ax, rates[ok], per_side=4 if size == "page" else 2)
            ax.set_ylabel(r"$d \log \sigma_j / dt$")

        draw.append(((r"rates $v_j^\top X v_j$" + (f": {shrinking} shrinking" if shrinking else ""),
                      f"{shrinking} shrinking" if shrinking else "rates"), rate))

    with style(size):
        fig, axes = _panels(len(draw), size, extra=0.55 if size == "page" else 0.7)
        for i, (ax, (_, fn)) in enumerate(zip(axes, draw)):
            fn(ax)
            if ax.get_xlabel() == "":
                ax.set_xlabel("$t$")
        _letters(axes, [tt for tt, _ in draw], size)
        if (~coll).any():
            key.insert(0, Line2D([], [], color=NONTRIVIAL, label=f"kept ({int((~coll).sum())})"))
        if coll.any():
            crit = rf"$\sigma_j < {number(COLLAPSE_RTOL, math=True)}\,\sigma_1$"
            key.insert(1, Line2D([], [], color=COLLAPSED, label=f"collapsed, {crit} ({int(coll.sum())})"))
        fig.legend(handles=key, loc="outside lower center", ncols=4 if size == "page" else 2)
        name = {"infonce": "InfoNCE, one linear layer [J22]", "infonce-2layer": "InfoNCE, two linear layers [J22]",
                "directclr": f"DirectCLR [J22], loss on the first $d_0 = {p['d0']}$ dims"}[run.model]
        data = {"nuisance": rf"nuisance data ($\dim B = {p.get('dim_b')}$)", "spectrum": "spectrum data",
                "isotropic": "isotropic data", "user": "user data"}.get(p.get("data", ""), f"{p.get('data', '')} data")
        items = [f"{name}: {p['dim']} dims", f"$n = {p['samples']}$ pairs" + (f" (batch {p['batch']})"
                                                                            if p["batch"] != p["samples"] else ""),
                 data]
        if "sigma" in p:
            items.append(eq("sigma", p["sigma"]))
        items += [f"{p['kernel']} kernel", rf"temperature {number(p['temperature'])}",
                  f"{p.get('init', 'gaussian')} init of scale {number(p['init_scale'])}", f"seed {p['seed']}"]
        if p.get("preset"):
            items.append(f"(preset {p['preset']})")
        suptitle(fig, items, size, partial=_partial(run.solution))
    return fig


# ----------------------------------------------------------------------------- basin map


BASIN_COLOURS = {0: COLLAPSED, 1: NONTRIVIAL, -1: NOT_SETTLED, -2: FAILED}
BASIN_TINTS = {0: TINTS[COLLAPSED], 1: TINTS[NONTRIVIAL], -1: NOT_SETTLED_CELL, -2: FAILED}


def _edges(v: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around grid values (geometric midpoints on a log axis)."""
    w = np.log(v) if log else v
    mid = (w[1:] + w[:-1]) / 2
    e = np.concatenate([[2 * w[0] - mid[0]], mid, [2 * w[-1] - mid[-1]]])
    return np.exp(e) if log else e


def _grid_axes(ax, bm, p_edges, s_edges):
    ax.set_xlim(p_edges[0], p_edges[-1])
    ax.set_ylim(s_edges[0], s_edges[-1])
    if bm.p.log:
        ax.set_xscale("log")
    if bm.s.log:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(numticks=6))
        ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def plot_basin_map(bm, *, size: str = "page"):
    """The basins of the (p, s) dynamics: each initial condition coloured by the attractor it
    reaches, the stationary points (the collapsed one at s = 0 marked on the axis when s is on a
    log scale), the saddle's stable manifold and the parabola ``s = p^2/alpha_p``; on a page a
    second panel gives the time at which each cell was proven to be in its basin."""
    from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm

    from dynsim.models.eigen.basins import LABELS

    check_size(size)
    p, s = bm.p.values(), bm.s.values()
    pe, se = _edges(p, bm.p.log), _edges(s, bm.s.log)
    sm = bm.summary()
    counts = sm["counts"]
    sys = bm.system
    with style(size):
        two = size == "page"
        w = WIDTHS[size]
        fig, axes = plt.subplots(1, 2 if two else 1, figsize=(w, 3.35 if two else 3.9), layout="constrained",
                                 squeeze=False, width_ratios=(1.0, 1.12) if two else None)
        ax = axes[0, 0]
        codes = [-2, -1, 0, 1]
        cmap = ListedColormap([BASIN_TINTS[c] for c in codes])
        ax.pcolormesh(pe, se, bm.labels, cmap=cmap, norm=BoundaryNorm([-2.5, -1.5, -0.5, 0.5, 1.5], 4),
                      rasterized=True)
        pp = np.linspace(pe[0], pe[-1], 600)
        par = pp**2 / float(sys.alpha_p)
        keep = (par >= se[0]) & (par <= se[-1])
        ax.plot(np.where(keep, pp, np.nan), np.where(keep, par, np.nan), ls="--", lw=0.9, color="0.15")
        for br in bm.separatrix:
            br = np.where(br[:, 1:] > 0, br, np.nan) if bm.s.log else br  # s underflows to 0 far below
            ax.plot(br[:, 0], br[:, 1], color="black", lw=1.4)
        fp = bm.fixed_points
        window = (pe[0], pe[-1], se[0], se[-1])
        drawn = _mark_points(ax, fp, window, size, log_s=bm.s.log)
        # The collapsed attractor (0, 0) has s = 0: below a log axis. Mark it on the axis.
        if bm.s.log:
            for i, y in enumerate(fp.points):
                if fp.isolated[i] and y[1] <= 0 and pe[0] <= y[0] <= pe[-1]:
                    k = _kind(fp.stability[i])
                    ax.plot(y[0], 0.0, ls="none", transform=ax.get_xaxis_transform(), clip_on=False, zorder=8,
                            **_marker(k, size))
                    ax.annotate("$s = 0$", (y[0], 0.0), xycoords=("data", "axes fraction"), xytext=(6, 5),
                                textcoords="offset points", fontsize=6.5, color="0.1")
                    drawn.add(k)
        _grid_axes(ax, bm, pe, se)
        ax.set_xlabel(r"$p_0$ (eigenvalue of $W_p$)")
        ax.set_ylabel(r"$s_0$ (eigenvalue of $F$)")
        handles = [Patch(fc=BASIN_TINTS[c], label=f"{LABELS[c]} ({100 * counts[LABELS[c]] / sm['cells']:.1f}%)")
                   for c in (0, 1, -1, -2) if counts[LABELS[c]]]
        handles.append(Line2D([], [], color="0.15", ls="--", lw=0.9, label=r"$s = p^2/\alpha_p$"))
        if bm.separatrix:
            handles.append(Line2D([], [], color="black", lw=1.4, label="separatrix"))
        for k, lab in (("stable", "stable point"), ("unstable", "saddle"), ("degenerate", "degenerate")):
            if k in drawn:
                handles.append(Line2D([], [], ls="none", label=lab, **_marker(k, size)))
        ax.set_title("(a) basins of the initial conditions" if two else "", loc="left")
        if two:
            ax = axes[0, 1]
            t = np.where(bm.t_settle > 0, bm.t_settle, np.nan)
            if np.any(np.isfinite(t)):
                lo, hi = np.nanmin(t), np.nanmax(t)
                im = ax.pcolormesh(pe, se, t, cmap="magma_r", norm=LogNorm(lo, max(hi, lo * 1.01)), rasterized=True)
                fig.colorbar(im, ax=ax, label="time to enter a trap")
            zero = np.where(bm.t_settle == 0, 1.0, np.nan)
            ax.pcolormesh(pe, se, zero, cmap=ListedColormap(["#E6E6E6"]), rasterized=True)
            for br in bm.separatrix:
                br = np.where(br[:, 1:] > 0, br, np.nan) if bm.s.log else br
                ax.plot(br[:, 0], br[:, 1], color="black", lw=1.0)
            _grid_axes(ax, bm, pe, se)
            ax.set_xlabel(r"$p_0$")
            ax.set_title("(b) when each cell was proven in its basin", loc="left")
            handles.append(Patch(fc="#E6E6E6", label=f"proven at $t = 0$ "
                                 f"({100 * sm['decided_without_integrating'] / sm['cells']:.0f}%)"))
        fig.legend(handles=handles, loc="outside lower center", ncols=4 if two else 2)
        tau_items = ([eq("tau0", bm.tau0), eq("beta", float(sys.beta))] if bm.tau0 is not None
                     else [eq("tau", float(sys.tau))])
        partial = None
        if counts["not settled"] or counts["failed"]:
            partial = f"{counts['not settled']} cells not settled by $t_1$, {counts['failed']} failed (grey, black)"
        suptitle(fig, ["Basins of the eigenvalue dynamics [T21]: " + eq("eta", float(sys.eta)),
                       eq("sigma", float(sys.sigma)), *tau_items, eq("alpha_p", float(sys.alpha_p)),
                       f"{sm['grid'][0]}" + r"$\times$" + f"{sm['grid'][1]} initial conditions"], size, partial=partial)
    return fig


# ----------------------------------------------------------------------------- sweeps

_LABELS = {"eta": r"$\eta$", "sigma": r"$\sigma$", "tau": r"$\tau$", "alpha_p": r"$\alpha_p$", "beta": r"$\beta$",
           "alpha": r"$\alpha$ (DirectSet)", "init_scale": "init scale"}


def _sweep_params(sw, exclude=()) -> list[str]:
    swept = {r.name for r in sw.ranges}
    if "beta" not in swept:  # beta enters only through the EMA system, used when beta is swept
        exclude = (*exclude, "beta")
    return [eq(k, v) for k, v in sw.base.items() if k not in swept and k not in exclude and v is not None]


def _log_ticks(ax, axis="x"):
    """Ticks on a log axis that do not crowd: whole decades over two decades or more, 1-2-5
    (written with :func:`number`) over less."""
    a = ax.xaxis if axis == "x" else ax.yaxis
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    if lo > 0 and hi / lo < 10:  # within a decade: matplotlib's own labelled minor ticks
        return
    if lo > 0 and hi / lo < 100:
        a.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0), numticks=12))
        a.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: number(v, 2)))
    else:
        a.set_major_locator(matplotlib.ticker.LogLocator(numticks=7))
    a.set_minor_locator(matplotlib.ticker.LogLocator(subs=np.arange(2, 10) * 0.1, numticks=30))
    a.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _bifurcation(ax, sw, size):
    from dynsim.models.eigen.system import nontrivial_roots

    r = sw.ranges[0]
    x = r.values()
    P, St = sw.quantity, sw.extra["stable"]
    base = sw.base
    fin = np.isfinite(P)
    # closed forms on a fine grid: p* = 0 and p*_-, p*_+ [T21]
    xf = np.geomspace(x[0], x[-1], 600) if r.log else np.linspace(x[0], x[-1], 600)
    prm = {k: np.full_like(xf, float(base[k])) for k in ("eta", "sigma", "tau")}
    prm[r.name] = xf
    pm, pp = (np.asarray(v) for v in nontrivial_roots(prm["eta"], prm["sigma"], prm["tau"]))
    ax.plot(xf, np.zeros_like(xf), **THEORY, zorder=2)
    ax.plot(xf, pp, **THEORY, zorder=2)
    ax.plot(xf, pm, **THEORY, zorder=2)
    xs = np.repeat(x[:, None], P.shape[1], 1)
    degenerate = fin & sw.extra["degenerate"]  # dynsim.classify's label, as in the phase portrait
    stable = fin & St & ~degenerate
    unstable = fin & ~St & ~degenerate
    ax.plot(xs[stable], P[stable], ls="none", **{**_marker("stable", size), "ms": 3.6, "mew": 0.5}, zorder=4)
    ax.plot(xs[unstable], P[unstable], ls="none", **{**_marker("unstable", size), "ms": 3.6, "mew": 1.0}, zorder=4)
    if degenerate.any():
        ax.plot(xs[degenerate], P[degenerate], ls="none", **{**_marker("degenerate", size), "ms": 3.4, "mew": 1.0},
                zorder=5)
    pos = P[fin & (P > 0)]
    if pos.size and pos.max() / max(pos.min(), 1e-300) > 30:
        _symlog(ax, np.r_[pos, 0.0], floor=10.0 ** np.floor(np.log10(pos.min())))
        ax.set_ylim(bottom=-0.0)
    handles = [Line2D([], [], ls="none", label="stable (found)", **_marker("stable", size)),
               Line2D([], [], ls="none", label="unstable (found)", **_marker("unstable", size))]
    if degenerate.any():
        handles.append(Line2D([], [], ls="none", label="degenerate", **_marker("degenerate", size)))
    handles.append(Line2D([], [], **THEORY, label=r"closed form $0$, $p^*_\pm$"))
    if "eta_critical_closed_form" in sw.info:
        ec = float(sw.info["eta_critical_closed_form"])
        ax.axvline(ec, **TOLERANCE)
        handles.append(Line2D([], [], **TOLERANCE,
                              label=rf"$\eta_c = \tau^2/4(1+\sigma^2) = {number(ec, 3, math=True)}$"))
        if sw.info.get("fold_within_bracket") is False:
            _note(ax, r"the found fold misses $\eta_c$", loc="lower left", color=STABLE)
    if sw.info.get("points_missing_vs_closed_form"):
        _note(ax, f"{sw.info['points_missing_vs_closed_form']} parameter values: found points differ from "
              "the closed form",
              loc="lower left", color=STABLE)
    ax.figure.legend(handles=handles, loc="outside lower center", ncols=len(handles) if size == "page" else 2)
    ax.set_ylabel(r"stationary $p^*$")


def plot_sweep(sw, *, size: str = "page"):
    """A regime diagram: a curve (one parameter) or a heat map (two); bifurcation diagrams draw the
    stationary ``p*`` found (stable filled, unstable hollow, degenerate diamonds) over their closed
    forms, on a symmetric log axis when ``p*_-`` and ``p*_+`` are decades apart."""
    check_size(size)
    r = sw.ranges
    x = r[0].values()
    w = WIDTHS[size]
    with style(size):
        fig, ax = plt.subplots(figsize=(w, 3.0 if size == "page" else 2.7), layout="constrained")
        if sw.kind == "bifurcation":
            _bifurcation(ax, sw, size)
            what = r"Stationary points of $\dot p = p^2[\tau - (1+\sigma^2)p] - \eta p$ [T21]"
            items = [what + ":"] + _sweep_params(sw, exclude=("alpha_p", "beta"))
        elif len(r) == 1 and sw.kind == "collapse":
            ax.plot(x, sw.quantity, "o-", color=COLLAPSED, ms=3.5, label="every direction collapsed")
            ax.plot(x, sw.extra["any_direction_collapsed"], "s-", color=PALETTE["orange"], ms=3, lw=0.9,
                    label="some direction collapsed")
            bad = (sw.extra["not_settled"] + sw.extra["failed"]) > 0
            if bad.any():
                ax.plot(x[bad], np.zeros(bad.sum()), "x", color="black", label=r"runs not settled by $t_1$ or failed")
            info = sw.info
            mp = {**sw.base, **info.get("model_parameters", {})}
            swept = {q.name for q in r}
            ema = info["model"] in ("byol", "symmetric-predictor", "symmetrized")
            reduced = info["model"] in ("byol", "simsiam", "symmetric-predictor", "symmetrized")
            if r[0].name == "init_scale" and reduced and mp.get("data", "isotropic") == "isotropic":
                from dynsim.models.eigen.system import nontrivial_roots

                pm = float(nontrivial_roots(float(mp["eta"]), float(mp["sigma"]), float(mp.get("tau", 1.0)))[0])
                if np.isfinite(pm) and x[0] <= pm <= x[-1]:
                    ax.axvline(pm, **THEORY, label=rf"$p^*_- = {number(pm, 3, math=True)}$ (collapse threshold)")
            ax.set_ylim(-0.04, 1.04)
            ax.set_ylabel(f"fraction of the {sw.info['samples']} random inits")
            ax.legend(loc="best")
            names = [k for k in ("n1", "eta", "sigma", "alpha_p", "beta", "alpha") if k in mp and k not in swept
                     and (k != "beta" or ema) and isinstance(mp[k], (int, float))]
            items = [f"Collapse of random initialisations, {info['model']}:"] + [eq(k, mp[k]) for k in names]
            if "init_scale" not in swept:
                items.append(f"init scale {number(float(sw.base.get('init_scale', 1.0)))}")
            items.append(rf"$t_1 = {number(float(info['t1']), math=True)}$")
        elif len(r) == 1:
            if sw.kind == "basin-size":
                ax.plot(x, sw.quantity, "o-", color=COLLAPSED, ms=3.5, label="collapsed")
                if "nontrivial_fraction" in sw.extra:
                    ax.plot(x, sw.extra["nontrivial_fraction"], "s-", color=NONTRIVIAL, ms=3, lw=0.9,
                            label="non-trivial")
                bad = sw.extra.get("not_settled_or_failed")
                if bad is not None and np.any(bad):
                    ax.plot(x[bad > 0], np.zeros(int(np.sum(bad > 0))), "x", color="black",
                            label="cells not settled or failed")
                ax.set_ylim(-0.03, 1.03)
                ax.set_ylabel(r"fraction of the $(p_0, s_0)$ window")
                ax.legend(loc="best")
                items = ["Basin size of the eigenvalue dynamics [T21]:"] + _sweep_params(sw)
                side = int(round(math.sqrt(sw.info["cells_per_point"])))
                items.append(f"{side}" + r"$^2$ initial conditions per point")
            else:
                ax.plot(x, sw.quantity, "o-", color="black", ms=3.5)
                ax.set_ylim(-0.03, 1.03)
                ax.set_ylabel("fraction of $[0, t_1]$ aligned")
                items = ["Eigenspace alignment condition [T21]:"] + _sweep_params(sw)
                items.append(rf"$t_1 = {number(float(sw.info['t1']), math=True)}$")
        else:
            y = r[1].values()
            im = ax.pcolormesh(_edges(x, r[0].log), _edges(y, r[1].log), sw.quantity.T, cmap="viridis", vmin=0, vmax=1,
                               rasterized=True)
            label = {"basin-size": "collapsed fraction of the window", "alignment": "fraction of time aligned",
                     "collapse": "fraction of inits that collapse"}[sw.kind]
            fig.colorbar(im, ax=ax, label=label)
            ax.set_ylabel(_LABELS.get(r[1].name, r[1].name))
            if r[1].log:
                ax.set_yscale("log")
                _log_ticks(ax, "y")
            items = [{"basin-size": "Basin size [T21]", "alignment": "Alignment condition [T21]",
                      "collapse": f"Collapse of random inits, {sw.info.get('model', '')}"}[sw.kind] + ":"]
            items += _sweep_params(sw) if sw.kind != "collapse" else []
        if r[0].log:
            ax.set_xscale("log")
            _log_ticks(ax, "x")
        ax.set_xlabel(_LABELS.get(r[0].name, r[0].name))
        suptitle(fig, items, size)
    return fig


# ----------------------------------------------------------------------------- training against the flow


def _slope_text(name: str, value: float) -> str:
    return rf"$\propto \mathrm{{{name}}}^{{{value:.2f}}}$"


def plot_comparison(c, *, size: str = "page"):
    """Finite-width training against its ODE: (a) the spectrum over time, the ODE dashed and the
    finest and coarsest training runs solid, the finest's spread over seeds as a band; (b) the
    discrepancy against the learning rate, one line per batch size, with the fitted exponents."""
    from dynsim.training.compare import _spectrum

    check_size(size)
    fine, coarse = c.best, c.runs[(max(c.lrs), min(c.batches))]
    theory = c.theory[0]  # seed 0's ODE; every seed is compared with the ODE from its own start
    k = theory.shape[1]
    show = min(k, 8)
    colours = plt.get_cmap(SEQUENCE)(np.linspace(0.0, 0.8, show))
    n_seeds = int(np.asarray(fine.diverged_step).size)
    with style(size):
        w = WIDTHS[size]
        if size == "page":
            fig, (ax, ax2) = plt.subplots(1, 2, figsize=(w, 3.1), layout="constrained", width_ratios=(1.45, 1))
        else:
            fig, (ax, ax2) = plt.subplots(2, 1, figsize=(w, 5.2), layout="constrained", height_ratios=(1.3, 1))
        band = False
        for j in range(show):
            col = colours[j]
            q_f = _spectrum(fine)[..., j]
            if n_seeds > 1:
                dev = q_f - c.theory[..., j]
                lo, hi = theory[:, j] + np.nanmin(dev, 0), theory[:, j] + np.nanmax(dev, 0)
                ax.fill_between(fine.t, lo, hi, color=col, alpha=0.3, lw=0, zorder=1)
                band = True
            if coarse is not fine:
                ax.plot(coarse.t, _spectrum(coarse)[..., j][0], color=col, lw=0.7, alpha=0.55, zorder=2)
            ax.plot(fine.t, q_f[0], color=col, lw=1.0, zorder=3)
            ax.plot(c.t, theory[:, j], color="black", ls="--", lw=0.8, zorder=4)
        ax.set_xlabel(T_LABEL)
        ax.set_ylabel({"eigenvalues of F = W X W^T": r"eigenvalues of $F = W X W^\top$",
                       "singular values of W": r"singular values of $W$"}.get(c.quantity, c.quantity)
                      + (" (largest 8)" if k > 8 else ""))
        handles = [Line2D([], [], color="black", ls="--", lw=0.8, label="ODE (reference: fixed pairs, no bias)"
                          if "reference_only" in c.checks else "ODE (theory)"),
                   Line2D([], [], color="0.2", lw=1.0,
                          label=f"SGD, lr {number(min(c.lrs))}, batch {max(c.batches)} (seed 0)")]
        if band:
            handles.append(Patch(fc="0.5", alpha=0.35, label=f"its error over {n_seeds} seeds, around the ODE"))
        if coarse is not fine:
            handles.append(Line2D([], [], color="0.2", lw=0.7, alpha=0.55,
                                  label=f"SGD, lr {number(max(c.lrs))}, batch {min(c.batches)} (seed 0)"))
        fig.legend(handles=handles, loc="outside lower center", ncols=2 if size == "page" else 1)
        bcol = plt.get_cmap(SEQUENCE)(np.linspace(0.0, 0.75, len(c.batches)))
        for i, b in enumerate(c.batches):
            ax2.plot(c.lrs, c.errors[:, i], "o-", color=bcol[i], ms=3.5, label=f"batch {b}")
        ax2.set_xscale("log")
        ax2.set_yscale("log")
        ax2.set_xticks(list(c.lrs), [number(v) for v in c.lrs])
        ax2.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        _log_ticks(ax2, "y")
        rates = c.rates()
        txt = []
        if "err_vs_lr_slope" in rates:
            txt.append(f"error {_slope_text('lr', rates['err_vs_lr_slope'])} (batch {max(c.batches)})")
        if "err_vs_batch_slope" in rates:
            txt.append(f"error {_slope_text('batch', rates['err_vs_batch_slope'])} (lr {number(min(c.lrs))})")
        ax2.legend(loc="lower right", title="\n".join(txt) or None, title_fontsize=plt.rcParams["legend.fontsize"])
        ax2.set_xlabel("learning rate")
        ax2.set_ylabel("max relative error against the ODE")
        _letters([ax, ax2], ["training against the flow", "discrepancy"])
        model = c.model
        sys = getattr(fine, "system", None)
        prm = []
        for name in ("eta", "sigma", "beta", "alpha_p", "alpha"):
            v = getattr(sys, name, None) if sys is not None else None
            if v is None and name == "sigma" and getattr(sys, "isotropic", False) and hasattr(sys, "X_aug"):
                v = math.sqrt(float(np.asarray(sys.X_aug)[0, 0]))  # X' = sigma^2 I
            if v is not None and np.ndim(v) == 0:
                prm.append(eq(name, float(v)))
        width = c.info.get("train_options", {}).get("width") if isinstance(c.info, dict) else None
        items = [f"Finite-width SGD against its gradient flow, {model}:", *prm,
                 *( [f"width {width}"] if width else []), rf"$T = {number(float(c.t[-1]), math=True)}$",
                 f"{n_seeds} seeds"]
        suptitle(fig, items, size)
    return fig
