"""The house style of every dynsim figure, in one place.

Apply it to your own plots with ``with dynsim.plot.style.style(): ...`` (or
``plt.rcParams.update(STYLE)``), size them with :func:`figsize` (``"column"``: 3.4 in, one column
of a two-column paper; ``"page"``: 7 in, the full text width), write numbers with :func:`number`
and save them with :func:`savefig` (the same figure gives the same PNG, PDF and SVG bytes).

One meaning per colour, in every panel of every figure:

- ``COLLAPSED`` (vermillion): what collapses, or goes to the collapsed state ``p* = 0``;
- ``NONTRIVIAL`` (blue): what stays away from collapse, or goes to the non-trivial ``p*_+``;
- stationary points as in [T21, Fig. 3] (:func:`point_marker`): ``STABLE`` filled red,
  ``UNSTABLE`` hollow green (a saddle a hollow green cross), ``DEGENERATE`` hollow purple diamond;
- a model's attractors (their trajectories; their basins in :func:`tint`): the collapsed state
  ``COLLAPSED``, the others ``ATTRACTORS`` (``NONTRIVIAL`` first), see :func:`attractor_colours`;
- a saddle's ``STABLE_MANIFOLD`` (the separatrix) solid black, its ``UNSTABLE_MANIFOLD``
  dash-dotted; the direction field light grey (``FIELD``);
- ``THEORY`` (black, dashed): a closed form or a prediction; measurements are solid lines;
- ``TOLERANCE`` (grey, dotted): the rounding or solver level a quantity is compared with;
- ``NOT_SETTLED`` grey and ``FAILED`` black cells or runs.
"""

from __future__ import annotations

import contextlib
import math
import re

import matplotlib

matplotlib.use("Agg")  # figures are files; never needs a display
import matplotlib.pyplot as plt

# Okabe & Ito (2008), safe for the common colour-vision deficiencies.
PALETTE = {
    "black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
    "grey": "#8C8C8C",
}
STABLE = "#C8102E"  # stationary points: stable filled red, unstable hollow green [T21, Fig. 3]
UNSTABLE = PALETTE["green"]
DEGENERATE = PALETTE["purple"]
NULL_P, NULL_S, NULL_S_LS = PALETTE["purple"], "0.25", (0, (1, 1.5))

COLLAPSED = PALETTE["vermillion"]
NONTRIVIAL = PALETTE["blue"]
NOT_SETTLED = "0.6"
FAILED = "black"
#: Line styles: a closed form / prediction (dashed black), a measurement (solid), a tolerance.
THEORY = {"color": "black", "ls": "--", "lw": 0.9}
MEASURED_LS = "-"
TOLERANCE = {"color": "0.45", "ls": ":", "lw": 1.0}
#: Colours of a family of runs told apart by one parameter (learning rates, alphas, batches).
#: (Blue and vermillion are kept for non-trivial / collapsed.)
SERIES = [PALETTE[c] for c in ("orange", "sky", "green", "purple", "black", "grey")]
#: The colour map of an ordered family (index j, a parameter value), from dark to light.
SEQUENCE = "viridis"
#: The direction field's streamlines, and a line of (non-isolated) stationary points.
FIELD = "#C8C8C8"
STATIONARY_LINE = "0.3"
#: A saddle's stable manifold (a separatrix between basins) and its unstable manifold.
STABLE_MANIFOLD = {"color": "black", "ls": "-", "lw": 1.4}
UNSTABLE_MANIFOLD = {"color": "black", "ls": "-.", "lw": 1.0}
#: The attractors of a model, in order (their trajectories, their basins): the collapsed state is
#: always ``COLLAPSED``; the others take these, ``NONTRIVIAL`` first (see :func:`attractor_colours`).
ATTRACTORS = [NONTRIVIAL, PALETTE["orange"], PALETTE["sky"], PALETTE["yellow"], "#882255", "#44AA99", "#999933"]
#: Basin cells: light tints of the attractors' colours (see :func:`tint`), not settled light grey.
TINTS = {COLLAPSED: "#F2C4A6", NONTRIVIAL: "#A9CCE6"}
NOT_SETTLED_CELL = "#D9D9D9"

STYLE = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7,
    "ytick.labelsize": 7, "legend.fontsize": 7, "figure.titlesize": 8.5, "legend.frameon": False,
    "legend.handlelength": 1.8, "legend.borderaxespad": 0.3, "legend.labelspacing": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.7,
    "axes.titlelocation": "left", "axes.titlepad": 4.0,
    "xtick.major.width": 0.7, "ytick.major.width": 0.7, "xtick.major.size": 3, "ytick.major.size": 3,
    "xtick.minor.size": 1.6, "ytick.minor.size": 1.6,
    "lines.linewidth": 1.1, "lines.markersize": 4, "savefig.dpi": 200, "mathtext.fontset": "cm",
    "axes.formatter.limits": (-3, 4), "axes.formatter.use_mathtext": True,
    "figure.constrained_layout.h_pad": 0.03, "figure.constrained_layout.w_pad": 0.03,
    "figure.constrained_layout.hspace": 0.04, "figure.constrained_layout.wspace": 0.04,
    # reproducible files: fixed ids in SVG, text as paths, no timestamps (see SAVEFIG_METADATA)
    "svg.hashsalt": "dynsim", "svg.fonttype": "path",
    "path.simplify": True,
}

#: Paper widths in inches: one column of a two-column paper, and the full text width.
WIDTHS = {"column": 3.4, "page": 7.0}
SIZES = tuple(WIDTHS)

#: ``savefig(..., metadata=SAVEFIG_METADATA[fmt])``: no dates, one producer string, so that the
#: same figure writes the same bytes.
SAVEFIG_METADATA = {
    "png": {"Software": "dynsim (matplotlib)"},
    "pdf": {"Creator": "dynsim", "Producer": "dynsim (matplotlib)", "CreationDate": None, "ModDate": None},
    "svg": {"Creator": "dynsim (matplotlib)", "Date": None},
    "eps": {"Creator": "dynsim (matplotlib)"},
    "ps": {"Creator": "dynsim (matplotlib)"},
}


#: What changes in a one-column figure: slightly smaller legends and ticks (never below 6 pt).
COLUMN = {"font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "xtick.labelsize": 6.5, "ytick.labelsize": 6.5,
          "legend.fontsize": 6, "figure.titlesize": 7.5, "legend.handlelength": 1.4, "lines.linewidth": 1.0}


@contextlib.contextmanager
def style(size: str = "page"):
    """The house rcParams (with the one-column adjustments for ``size="column"``)."""
    with plt.rc_context({**STYLE, **(COLUMN if size == "column" else {})}):
        yield


def point_marker(kind: str, size: str = "page") -> dict:
    """The stationary-point markers of [T21, Fig. 3] (``ax.plot(x, y, ls="none", **point_marker(k))``):
    ``"stable"`` filled red, ``"unstable"`` hollow green, ``"saddle"`` a hollow green cross,
    ``"degenerate"`` a hollow purple diamond."""
    ms = 6.0 if size == "page" else 5.0
    return {
        "stable": dict(marker="o", ms=ms, mfc=STABLE, mec="black", mew=0.7),
        "unstable": dict(marker="o", ms=ms, mfc="white", mec=UNSTABLE, mew=1.5),
        "saddle": dict(marker="X", ms=ms + 1.0, mfc="white", mec=UNSTABLE, mew=1.2),
        "degenerate": dict(marker="D", ms=ms - 1, mfc="white", mec=DEGENERATE, mew=1.4),
    }[kind]


def marker_kind(stability: str) -> str:
    """The :func:`point_marker` kind of a :func:`dynsim.classify` label: ``"stable node"`` and
    ``"stable spiral"`` are ``"stable"``, ``"saddle"`` and ``"degenerate"`` keep their names, every
    other label (unstable node or spiral) is ``"unstable"``."""
    if stability.startswith("stable"):
        return "stable"
    return stability if stability in ("saddle", "degenerate") else "unstable"


def attractor_colours(points) -> list[str]:
    """One colour per attractor (rows of ``points``, states): ``COLLAPSED`` for the collapsed state
    (every coordinate 0), the others :data:`ATTRACTORS` in order (repeating past the seventh)."""
    import numpy as np

    pts = np.asarray(points, float).reshape(len(points), -1) if len(points) else np.zeros((0, 1))
    scale = max(1.0, float(np.max(np.abs(pts[np.isfinite(pts)])))) if np.isfinite(pts).any() else 1.0
    out, k = [], 0
    for y in pts:
        if np.all(np.abs(y) <= 1e-12 * scale):
            out.append(COLLAPSED)
        else:
            out.append(ATTRACTORS[k % len(ATTRACTORS)])
            k += 1
    return out


def tint(colour, white: float = 0.65) -> str:
    """The light version of ``colour`` for filled regions (basins): :data:`TINTS` for the collapsed
    and non-trivial colours, otherwise ``colour`` mixed with ``white`` parts of white."""
    from matplotlib.colors import to_hex, to_rgb

    if colour in TINTS:
        return TINTS[colour]
    return to_hex([c + (1.0 - c) * white for c in to_rgb(colour)])


def check_size(size: str) -> str:
    if size not in WIDTHS:
        from dynsim._core.errors import DynsimInputError

        raise DynsimInputError("size", f"size must be one of {', '.join(WIDTHS)} (got {size!r})")
    return size


def figsize(size: str = "page", height: float | None = None, *, aspect: float | None = None) -> tuple[float, float]:
    """``(width, height)`` in inches for a ``"column"`` (3.4 in) or ``"page"`` (7 in) figure: the
    given ``height``, or ``width * aspect``."""
    w = WIDTHS[check_size(size)]
    h = height if height is not None else w * (aspect if aspect is not None else 0.62)
    return (w, h)


def savefig(fig, fname, *, format: str | None = None, dpi: float | None = None, **kwargs) -> None:
    """``fig.savefig`` with the house rcParams in force (``svg.hashsalt``, font types) and the
    per-format :data:`SAVEFIG_METADATA`: the same figure gives the same bytes."""
    named = isinstance(fname, (str, bytes)) or hasattr(fname, "suffix")
    fmt = format or (str(fname).rsplit(".", 1)[-1].lower() if named else plt.rcParams["savefig.format"])
    fmt = str(fmt).lstrip(".")
    kwargs.setdefault("metadata", SAVEFIG_METADATA.get(fmt))
    freeze_layout(fig)
    with style():
        fig.savefig(fname, format=fmt, dpi=dpi if dpi is not None else "figure", **kwargs)


def freeze_layout(fig) -> None:
    """Run a figure's constrained layout to rest and keep it: later draws (another format,
    another dpi, a second save) then place everything the same, byte for byte. A no-op on a
    figure without a layout engine, or one already frozen."""
    engine = fig.get_layout_engine()
    if engine is None or type(engine).__name__ == "PlaceHolderLayoutEngine":
        return
    # What a draw does first, without rasterizing every artist: constrained layout settles over a
    # couple of passes, and the frozen positions give every later draw the same placement. Under the
    # house rcParams, as savefig draws: the layout's pads are read now, and mathtext is measured in
    # the fontset in force (outside them a label set in Computer Modern was measured in DejaVu and
    # could end up cut off at the figure's edge).
    with style():
        fig.canvas.get_renderer()
        engine.execute(fig)
        engine.execute(fig)
    fig.set_layout_engine("none")


# ----------------------------------------------------------------------------- text


def number(x: float, digits: int = 3, *, math: bool = False) -> str:
    """The one number format of every figure: ``4×10⁻⁴`` (mathtext) for magnitudes below 10⁻³
    or from 10⁴ on, plain ``0.0101``, ``62.5``, ``1000`` otherwise; ``digits`` significant digits,
    trailing zeros dropped. ``math=True`` gives the TeX without the ``$``, to go inside a formula."""
    import numpy as np

    x = float(x)
    if x == 0:
        return "0"
    if x != x:
        return "nan"
    if not math_isfinite(x):
        s = "\\infty" if x > 0 else "-\\infty"
        return s if math else f"${s}$"
    r = float(f"{x:.{digits - 1}e}")  # rounded to `digits` significant digits
    e = int(np.floor(np.log10(abs(r))))
    if -3 <= e <= 3:
        txt = np.format_float_positional(r, precision=digits, unique=True, fractional=False, trim="-")
        return txt
    m = f"{r / 10**e:.{digits - 1}f}".rstrip("0").rstrip(".")
    tex = (f"{m}\\times10^{{{e}}}" if m != "1" else f"10^{{{e}}}") if m != "-1" else f"-10^{{{e}}}"
    return tex if math else f"${tex}$"


def math_isfinite(x: float) -> bool:
    return math.isfinite(x)


#: mathtext of the parameters dynsim's runs share.
SYMBOLS = {
    "eta": r"\eta", "sigma": r"\sigma", "tau": r"\tau", "tau0": r"\tau_0", "alpha_p": r"\alpha_p", "beta": r"\beta",
    "alpha": r"\alpha", "eps": r"\epsilon", "rho": r"\rho", "n1": "n_1", "n2": "n_2", "t1": "t_1", "d": "d", "m": "m",
    "k": "k", "lr": r"\mathrm{lr}", "temperature": r"\tau_{\mathrm{NCE}}", "init_scale": r"\mathrm{scale}",
    "dim_b": r"\dim B", "samples": "n", "d0": "d_0", "gamma": r"\gamma",
}


def eq(name: str, value, digits: int = 3) -> str:
    """``$\\eta = 4\\times10^{-4}$`` for a parameter name of :data:`SYMBOLS` (or a TeX symbol)."""
    sym = SYMBOLS.get(name, name)
    if isinstance(value, str):
        return f"${sym} = $ {value}"
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return f"${sym} = {value}$"
    return f"${sym} = {number(value, digits, math=True)}$"


def params_text(params: dict, names=None, digits: int = 3) -> str:
    """``$\\eta = 0.01$, $\\sigma = 0.5$, ...`` for the ``names`` (default: all) present in ``params``."""
    names = list(params) if names is None else [n for n in names if n in params]
    return ", ".join(eq(n, params[n], digits) for n in names if params.get(n) is not None)


_MATH = re.compile(r"\$[^$]*\$")


def _visible_len(text: str) -> int:
    """A rough count of the printed characters of a mathtext string."""
    def math_len(m):
        s = re.sub(r"\\[a-zA-Z]+", "x", m.group(0)[1:-1])
        return "x" * len(re.sub(r"[{}_^ ]", "", s))
    return len(_MATH.sub(math_len, text))


def wrap(items, size: str = "page", *, width: int | None = None, sep: str = ", ") -> str:
    """Join ``items`` (strings, each whole: never broken inside a formula) with ``sep``, breaking
    lines where a line would pass ``width`` printed characters (default: the width of ``size``)."""
    width = width or (118 if size == "page" else 52)
    lines, cur = [], ""
    for it in [i for i in items if i]:
        glue = " " if cur.endswith(":") else sep
        cand = f"{cur}{glue}{it}" if cur else it
        if cur and _visible_len(cand) > width:
            lines.append(cur + glue.rstrip())
            cur = it
        else:
            cur = cand
    if cur:
        lines.append(cur)
    return "\n".join(lines)


def suptitle(fig, items, size: str = "page", *, partial: str | None = None, **kwargs):
    """The figure's title line: what the run is and its parameters (``items``, wrapped to the
    figure's width), and a red ``PARTIAL: ...`` line for an incomplete run."""
    width = 118 if size == "page" else 56
    renderer = fig.canvas.get_renderer()
    while True:
        text = wrap(items, size, width=width)
        if partial:
            text += "\n" + wrap([f"PARTIAL: {partial}"], size, width=width)
        t = fig.suptitle(text, color=STABLE if partial else "black", **kwargs)
        if width <= 20 or t.get_window_extent(renderer).width <= 0.98 * fig.bbox.width:
            return t
        width -= 6


# ----------------------------------------------------------------------------- checks


def _same_colour(a, b, tol: float = 0.02) -> bool:
    import numpy as np
    from matplotlib.colors import to_rgba

    try:
        return bool(np.allclose(to_rgba(a)[:3], to_rgba(b)[:3], atol=tol))
    except (ValueError, TypeError):
        return False


def _colours_of(artist):
    """The colours an artist shows (edge and face), as RGBA tuples."""
    import numpy as np
    from matplotlib.collections import Collection
    from matplotlib.image import AxesImage
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    out = []
    if isinstance(artist, Line2D):
        out += [artist.get_color(), artist.get_markerfacecolor(), artist.get_markeredgecolor()]
    elif isinstance(artist, Patch):
        out += [artist.get_facecolor(), artist.get_edgecolor()]
    elif isinstance(artist, Collection):
        for arr in (artist.get_facecolor(), artist.get_edgecolor()):
            out += [tuple(c) for c in np.atleast_2d(arr)]
        if artist.get_array() is not None and artist.get_cmap() is not None:
            vals = np.unique(np.asarray(artist.get_array()).ravel()[:50000])
            vals = vals[np.isfinite(vals)][:64]
            out += [tuple(c) for c in artist.to_rgba(vals)]
    elif isinstance(artist, AxesImage):
        vals = np.unique(np.asarray(artist.get_array()).ravel())[:64]
        out += [tuple(c) for c in artist.to_rgba(vals[np.isfinite(vals)])]
    from matplotlib.colors import to_rgba

    rgba = []
    for c in out:
        try:
            c = to_rgba(c)
        except (ValueError, TypeError):
            continue
        if c[3] > 0:
            rgba.append(c)
    return rgba


def _has_data(artist) -> bool:
    import numpy as np
    from matplotlib.collections import Collection
    from matplotlib.lines import Line2D

    if not artist.get_visible():
        return False
    if isinstance(artist, Line2D):
        x, y = (np.asarray(v, float) for v in artist.get_data())
        return bool(np.any(np.isfinite(x) & np.isfinite(y))) if x.size and y.size else False
    if isinstance(artist, Collection):
        return len(artist.get_paths()) > 0 or (artist.get_offsets() is not None and len(artist.get_offsets()) > 0)
    return True


def _drawn(ax):
    return [a for a in (*ax.lines, *ax.collections, *ax.patches, *ax.images) if _has_data(a)]


def _looks_like(handle, artist) -> bool:
    """Whether a legend handle (often a proxy) shows what ``artist`` draws."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from matplotlib.collections import Collection

    hc = _colours_of(handle)
    ac = _colours_of(artist)
    colour = any(_same_colour(h, a) for h in hc for a in ac)
    # a grey or black proxy may stand for a style whatever the colour (e.g. "dashed: theory")
    neutral = bool(hc) and all(max(c[:3]) - min(c[:3]) < 0.02 for c in hc)
    if isinstance(handle, Line2D):
        if not isinstance(artist, Line2D):
            return colour and isinstance(artist, Collection) and handle.get_marker() in (None, "None", "none", "")
        hm, am = handle.get_marker(), artist.get_marker()
        hl, al = handle.get_linestyle(), artist.get_linestyle()
        none = (None, "None", "none", "", " ")
        if hm not in none and hm != am:
            return False
        if hm in none and (hl != al):
            return False
        return colour or (neutral and abs(handle.get_linewidth() - artist.get_linewidth()) <= 0.35 *
                          max(handle.get_linewidth(), 1e-9))
    if isinstance(handle, Patch):
        if not isinstance(artist, (Patch, Collection)):
            return False
        return colour or (neutral and isinstance(artist, Collection) and len(artist.get_paths()) > 0
                          and (artist.get_alpha() or 1.0) < 1.0)
    return colour


def figure_problems(fig) -> list[str]:
    """What makes a figure filler or misleading, as sentences (empty: none found):

    - an axes that holds only text (no line, image, collection or patch beyond its background);
    - a legend entry whose handle matches nothing drawn (by label, or by colour and style for a proxy);
    - a bar on a log axis (a bar has no base there);
    - a title or label outside the figure (cut off in the file)."""
    from matplotlib.container import BarContainer
    from matplotlib.text import Text

    problems = []
    freeze_layout(fig)  # the layout the files get (see savefig)
    dpi = fig.dpi
    fig.set_dpi(200)  # measured at the dpi of the files (text extents depend a little on it)
    try:
        with style():  # as savefig draws
            fig.canvas.draw()
        problems += _problems(fig)
    finally:
        fig.set_dpi(dpi)
    return problems


def _problems(fig) -> list[str]:
    from matplotlib.container import BarContainer
    from matplotlib.text import Text

    problems = []
    axes = list(fig.axes)
    drawn = {id(ax): _drawn(ax) for ax in axes}
    for i, ax in enumerate(axes):
        if not drawn[id(ax)] and ax.get_visible():
            title = ax.get_title(loc="left") or ax.get_title() or f"axes {i}"
            problems.append(f"{title!r}: only text, nothing drawn")
        for cont in ax.containers:
            if isinstance(cont, BarContainer):
                horizontal = getattr(cont, "orientation", "vertical") == "horizontal"
                scale = ax.get_xscale() if horizontal else ax.get_yscale()
                if scale == "log":
                    problems.append(f"{ax.get_title(loc='left') or ax.get_title()!r}: bars on a log axis")
    everything = [a for ax in axes for a in drawn[id(ax)]]
    legends = [lg for lg in [*(ax.get_legend() for ax in axes), *fig.legends] if lg is not None]
    for lg in legends:
        for handle, text in zip(lg.legend_handles, lg.get_texts()):
            label = text.get_text()
            if any(a.get_label() == label for a in everything):
                continue
            if handle is None or not any(_looks_like(handle, a) for a in everything):
                problems.append(f"legend entry {label!r}: nothing drawn like it")
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    texts = [*fig.texts, *([fig._suptitle] if fig._suptitle is not None else [])]
    for lg in legends:
        texts += [*lg.get_texts(), lg.get_title()]
    for ax in axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            texts += [tk.label1 for tk in axis._update_ticks() if tk.label1.get_visible()]
    for lg in legends:
        texts += [h for h in lg.legend_handles if h is not None]
    for t in texts:
        if not t.get_visible() or (isinstance(t, Text) and not t.get_text().strip()):
            continue
        try:
            bb = t.get_window_extent(renderer)
        except (RuntimeError, ValueError):
            continue
        if bb.width == 0 or not all(map(math.isfinite, bb.bounds)):
            continue
        m = 0.002 * box.width  # text widths vary a little with the renderer: keep a hair's margin at the sides
        if bb.x0 < box.x0 + m or bb.x1 > box.x1 - m or bb.y0 < box.y0 - 1 or bb.y1 > box.y1 + 1:
            what = t.get_text()[:40] if isinstance(t, Text) else f"a legend handle ({t.get_label()[:30]})"
            problems.append(f"text {what!r} outside the figure")
    return problems
