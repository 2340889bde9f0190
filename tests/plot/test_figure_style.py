"""The house style (dynsim/plot/style.py): one number format, the paper sizes, reproducible files,
and the checks that keep filler out of the figures (tested here on figures made bad on purpose)."""

from __future__ import annotations

import inspect
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

import dynsim  # noqa: E402
from dynsim.plot import seed_figures, style  # noqa: E402
from dynsim.plot.style import (  # noqa: E402
    NULL_P, NULL_S, NULL_S_LS, PALETTE, SAVEFIG_METADATA, STABLE, STYLE, UNSTABLE, WIDTHS, figsize, figure_problems,
    number, savefig, wrap,
)


def test_exports_kept():
    # other modules import these names (from style and through seed_figures)
    assert PALETTE["blue"] and STABLE and UNSTABLE and NULL_P and NULL_S and NULL_S_LS and STYLE
    for name in ("PALETTE", "STABLE", "UNSTABLE", "NULL_P", "NULL_S", "NULL_S_LS", "STYLE", "style", "number"):
        assert hasattr(style, name)
    assert seed_figures.PALETTE is PALETTE and callable(seed_figures.style)


@pytest.mark.parametrize(("x", "text"), [
    (4e-4, r"$4\times10^{-4}$"), (4.0032e-4, r"$4\times10^{-4}$"), (0.000400321, r"$4\times10^{-4}$"),
    (0.0101, "0.0101"), (0.125, "0.125"), (1.0, "1"), (0.5, "0.5"), (200.0, "200"), (1000.0, "1000"),
    (62500.0, r"$6.25\times10^{4}$"), (1e-16, r"$10^{-16}$"), (-3e-5, r"$-3\times10^{-5}$"), (0.0, "0"),
    (1234.5, "1230"), (9.9996e-4, "0.001"),
])
def test_one_number_format(x, text):
    assert number(x) == text
    assert number(x, math=True) == text.strip("$")


def test_number_digits():
    assert number(4.0032e-4, 4) == r"$4.003\times10^{-4}$"
    assert number(0.49960, 4) == "0.4996"


def test_sizes():
    assert WIDTHS == {"column": 3.4, "page": 7.0}
    assert figsize("column")[0] == 3.4 and figsize("page", 3.0) == (7.0, 3.0)
    with pytest.raises(dynsim.DynsimInputError, match="size must be one of"):
        figsize("poster")


@pytest.mark.parametrize("fn", ["plot_phase_portrait", "plot_simulation", "plot_stepwise", "plot_collapse",
                                "plot_basin_map", "plot_sweep", "plot_comparison"])
def test_every_plot_function_takes_size(fn):
    params = inspect.signature(getattr(seed_figures, fn)).parameters
    assert params["size"].default == "page" and params["size"].kind is inspect.Parameter.KEYWORD_ONLY


def test_wrap_never_breaks_a_formula():
    items = [r"$\eta = 4\times10^{-4}$", r"$\sigma = 1$", r"$\tau = 1$", r"$\alpha_p = 1$"] * 4
    text = wrap(["Title:"] + items, "column", width=30)
    for line in text.splitlines():
        assert line.count("$") % 2 == 0
    assert text.startswith("Title: $")


def _busy_figure():
    with style.style():
        fig, (a, b) = plt.subplots(1, 2, figsize=figsize("page", 3.0), layout="constrained")
        x = np.linspace(-1, 1, 24)
        X, Y = np.meshgrid(x, x)
        a.streamplot(X, Y, -Y, X - X**3, density=0.8)
        b.pcolormesh(X, Y, X * Y, rasterized=True)
        b.plot(x, x**2, "--", label="theory")
        b.legend()
        fig.suptitle(r"$\eta = 4\times10^{-4}$, $\sigma = 1$")
    return fig


@pytest.mark.parametrize("fmt", ["png", "pdf", "svg"])
def test_same_bytes(fmt):
    """Two figures drawn alike, saved with style.savefig: the same bytes (no dates, fixed SVG ids,
    the layout frozen at the first save)."""
    out = []
    for _ in range(2):
        fig = _busy_figure()
        buf = io.BytesIO()
        savefig(fig, buf, format=fmt, dpi=50)
        again = io.BytesIO()
        savefig(fig, again, format=fmt, dpi=50)  # a second save of the same figure
        plt.close(fig)
        assert buf.getvalue() == again.getvalue()
        out.append(buf.getvalue())
    assert out[0] == out[1]
    if fmt == "svg":
        assert b"<dc:date>" not in out[0]
    if fmt == "pdf":
        assert b"/CreationDate" not in out[0]


def test_metadata_per_format():
    assert SAVEFIG_METADATA["pdf"]["CreationDate"] is None and SAVEFIG_METADATA["svg"]["Date"] is None
    assert STYLE["svg.hashsalt"]
    for fmt in ("png", "pdf", "svg"):  # each is accepted by its backend without a warning
        fig = plt.figure(figsize=(1, 1))
        with _no_warning():
            fig.savefig(io.BytesIO(), format=fmt, metadata=SAVEFIG_METADATA[fmt])
        plt.close(fig)


class _no_warning:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        self._w.__exit__(*exc)
        return False


# ----------------------------------------------------------------------------- the checks catch filler


def test_good_figure_passes():
    fig = _busy_figure()
    assert figure_problems(fig) == []
    plt.close(fig)


def test_text_only_panel_is_caught():
    fig, (a, b) = plt.subplots(1, 2, figsize=(6, 2), layout="constrained")
    a.plot([0, 1], [0, 1])
    b.text(0.5, 0.5, "does not apply", ha="center")
    b.set_title("(b) placeholder", loc="left")
    assert any("only text" in p and "placeholder" in p for p in figure_problems(fig))
    plt.close(fig)


def test_legend_promising_what_is_not_drawn_is_caught():
    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    ax.plot([0, 1], [0, 1], color=PALETTE["blue"], label="measured")
    ax.legend(handles=[Line2D([], [], color=PALETTE["blue"], label="measured"),
                       Line2D([], [], color=PALETTE["vermillion"], label="collapsed"),
                       Patch(fc="0.5", alpha=0.3, label="error band")])
    problems = figure_problems(fig)
    assert any("'collapsed'" in p for p in problems) and any("'error band'" in p for p in problems)
    assert not any("'measured'" in p for p in problems)
    plt.close(fig)


def test_style_key_matches_lines_of_any_colour():
    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    ax.plot([0, 1], [0, 1], color=PALETTE["green"], ls="--", lw=0.9)
    ax.fill_between([0, 1], [0, 0.5], [0.5, 1], color=PALETTE["sky"], alpha=0.3, lw=0)
    ax.legend(handles=[Line2D([], [], color="black", ls="--", lw=0.9, label="theory (dashed)"),
                       Patch(fc="0.5", alpha=0.3, label="spread over seeds")])
    assert figure_problems(fig) == []
    plt.close(fig)


def test_bars_on_log_axis_are_caught():
    fig, (a, b) = plt.subplots(1, 2, figsize=(6, 2), layout="constrained")
    a.bar([1, 2, 3], [1e-3, 1e-1, 1.0])
    a.set_yscale("log")
    a.set_title("(a) spectrum", loc="left")
    b.barh([1, 2], [1.0, 2.0])
    assert [p for p in figure_problems(fig) if "log axis" in p] == ["'(a) spectrum': bars on a log axis"]
    plt.close(fig)


def test_cut_off_title_is_caught():
    fig, ax = plt.subplots(figsize=(3, 2), layout="constrained")
    ax.plot([0, 1], [0, 1])
    ax.set_title("(a) a title far too long for a panel this narrow, cut at the edge", loc="left")
    assert any("outside the figure" in p for p in figure_problems(fig))
    plt.close(fig)
