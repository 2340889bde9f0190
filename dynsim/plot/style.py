"""The house style of every dynsim figure, in one place; apply it to your own plots with
``with dynsim.plot.style.style(): ...`` (or ``plt.rcParams.update(STYLE)``)."""

from __future__ import annotations

import contextlib
import math

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
NULL_P, NULL_S, NULL_S_LS = PALETTE["purple"], "0.25", (0, (1, 1.5))

STYLE = {
    "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "legend.fontsize": 8, "figure.titlesize": 10.5,
    "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.8,
    "lines.linewidth": 1.2, "savefig.dpi": 200, "savefig.bbox": "tight", "mathtext.fontset": "cm",
    "axes.formatter.limits": (-3, 4), "axes.formatter.use_mathtext": True,
}


@contextlib.contextmanager
def style():
    with plt.rc_context(STYLE):
        yield


def number(x: float, digits: int = 3) -> str:
    """The one number format of every figure: ``4.00×10⁻⁴`` as mathtext for small or large
    magnitudes, plain ``0.5`` otherwise (``digits`` significant digits)."""
    if x == 0 or not (abs(x) < 1e300):
        return "0" if x == 0 else str(x)
    e = int(math.floor(math.log10(abs(x))))
    if -3 <= e <= 3:
        return f"{x:.{digits}g}"
    m = x / 10**e
    return f"${m:.{max(digits - 1, 0)}f}\\times10^{{{e}}}$"
