"""Every command's figure in the house style: ``--size column|page`` sets its width (3.4 in or 7 in,
:data:`dynsim.plot.style.WIDTHS`), the files are byte-reproducible (``_core.io.write_outputs``
saves with :func:`dynsim.plot.style.savefig`), and the generic tools' figures show no filler."""

from __future__ import annotations

import json

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.image import imread  # noqa: E402

import cli  # noqa: E402
import dynsim  # noqa: E402
from dynsim._core.io import DPI  # noqa: E402
from dynsim.plot.style import WIDTHS, figure_problems  # noqa: E402

#: Cheap runs of three commands: (argv, the files' stem).
CHEAP = {
    "continuation": (["continuation", "--model", "eigen1d", "--over", "eta=1e-6:0.5:log"], "continuation"),
    "phase-portrait": (["phase-portrait", "--n-traj", "2", "--t1", "100"], "phase_portrait"),
    "stepwise": (["stepwise", "--d", "2", "--m", "4", "--n-pairs", "50"], "stepwise"),
}
#: Every command that draws a figure (``check``, ``models`` and ``rerun`` draw none).
FIGURE_COMMANDS = ("phase-portrait", "basin-map", "sweep", "compare", "simulate", "stepwise", "continuation", "figures")


@pytest.mark.parametrize("name", [n for n in dynsim.__all__ if n.startswith("plot_")])
def test_every_public_plot_function_takes_size(name):
    import inspect

    params = inspect.signature(getattr(dynsim, name)).parameters
    assert params["size"].default == "page" and params["size"].kind is inspect.Parameter.KEYWORD_ONLY


def _run(capsys, argv):
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_every_figure_command_has_size():
    command = __import__("typer").main.get_command(cli.app)
    for name in FIGURE_COMMANDS:
        opts = {o: p for p in command.commands[name].params for o in getattr(p, "opts", [])}
        assert "--size" in opts, name
        assert opts["--size"].default in ("page", cli.Size.page), name
    # the help names the widths the figures get
    help_ = cli.SizeOpt.__metadata__[0].help
    for size, width in WIDTHS.items():
        assert f"{size} (" in help_ and f"{width:g} in" in help_


@pytest.mark.parametrize("name", ["continuation", "stepwise"])
def test_size_sets_the_png_width(tmp_path, capsys, name):
    argv, stem = CHEAP[name]
    for size in ("column", "page"):
        out = tmp_path / size
        rc, _, err = _run(capsys, [*argv, "--size", size, "--out", str(out)])
        assert rc == 0, err
        width_px = imread(out / f"{stem}.png").shape[1]
        assert abs(width_px - WIDTHS[size] * DPI) <= 1, (name, size, width_px)
        record = json.loads((out / f"{stem}.json").read_text())
        assert record["parameters"]["size"] == size and record["options_in_force"]["size"] == size


def test_size_default_is_page(tmp_path, capsys):
    argv, stem = CHEAP["continuation"]
    rc, _, err = _run(capsys, [*argv, "--out", str(tmp_path)])
    assert rc == 0, err
    assert imread(tmp_path / f"{stem}.png").shape[1] == round(WIDTHS["page"] * DPI)
    assert json.loads((tmp_path / f"{stem}.json").read_text())["parameters"]["size"] == "page"


@pytest.mark.parametrize("name", ["continuation", "phase-portrait"])
def test_bad_size_is_one_line_exit_2_nothing_written(tmp_path, capsys, name):
    argv, _ = CHEAP[name]
    out = tmp_path / "never"
    rc, stdout, err = _run(capsys, [*argv, "--size", "bogus", "--out", str(out)])
    assert rc == 2 and stdout == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dynsim: error:") and "--size" in lines[0], err
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_same_command_twice_same_bytes(tmp_path, capsys, fmt):
    """A command run twice writes the same figure bytes (streamlines and all)."""
    argv, stem = CHEAP["phase-portrait"]
    files = []
    for run in ("a", "b"):
        rc, _, err = _run(capsys, [*argv, "--format", fmt, "--out", str(tmp_path / run)])
        assert rc == 0, err
        files.append((tmp_path / run / f"{stem}.{fmt}").read_bytes())
    assert files[0] == files[1]
    if fmt == "png":
        assert imread(tmp_path / "a" / f"{stem}.png").shape[1] == round(WIDTHS["page"] * DPI)


# ------------------------------------------------------------------ the generic tools' figures


class Bistable(dynsim.AbstractSystem):
    """x' = a x - x^3, y' = -y: stable points (+-sqrt(a), 0), a saddle at the origin."""

    a: float = dynsim.param(1.0, lower=0.0, lower_open=True, symbol="a")
    state_names = ("x", "y")

    def vector_field(self, t, y):
        return jnp.stack([self.a * y[0] - y[0] ** 3, -y[1]])


WINDOW = [(-2.0, 2.0), (-1.0, 1.0)]


@pytest.fixture(scope="module")
def portrait():
    return dynsim.portrait(Bistable(), window=WINDOW, n_traj=6, t1=30.0, zoom=False)


@pytest.fixture(scope="module")
def basins():
    return dynsim.basins(Bistable(), window=WINDOW, grid=24, t1=30.0)


def _check_generic(fig, size):
    """No text-only panel, every legend entry drawn, nothing cut off, the width asked; stable points
    filled red, saddles hollow green crosses (:func:`dynsim.plot.style.point_marker`)."""
    from matplotlib.colors import same_color

    from dynsim.plot.style import STABLE, UNSTABLE

    try:
        assert figure_problems(fig) == []
        assert fig.get_size_inches()[0] == pytest.approx(WIDTHS[size])
        marks = [ln for ax in fig.axes for ln in ax.lines if ln.get_linestyle() == "None"]
        assert any(ln.get_marker() == "o" and same_color(ln.get_markerfacecolor(), STABLE) for ln in marks)
        assert any(ln.get_marker() == "X" and same_color(ln.get_markeredgecolor(), UNSTABLE) for ln in marks)
    finally:
        plt.close(fig)


@pytest.mark.parametrize("size", list(WIDTHS))
def test_generic_portrait_no_filler(portrait, size):
    _check_generic(dynsim.plot_portrait(portrait, size=size), size)


@pytest.mark.parametrize("size", list(WIDTHS))
def test_generic_basins_no_filler(basins, size):
    _check_generic(dynsim.plot_basins(basins, size=size), size)


def test_attractor_colours_keep_their_meaning():
    """The collapsed state (the origin) is vermillion, the next attractor blue, then others."""
    from dynsim.plot.style import COLLAPSED, NONTRIVIAL, attractor_colours

    colours = attractor_colours([[1.0, 0.0], [0.0, 0.0], [-1.0, 0.0]])
    assert colours[:2] == [NONTRIVIAL, COLLAPSED] and colours[2] not in (COLLAPSED, NONTRIVIAL)


def test_generic_figures_refuse_a_bad_size(portrait, basins):
    for plot, run in ((dynsim.plot_portrait, portrait), (dynsim.plot_basins, basins)):
        with pytest.raises(dynsim.DynsimInputError, match="size must be one of"):
            plot(run, size="poster")
