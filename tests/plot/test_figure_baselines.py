"""Every figure of ``dynsim figures --quick`` and the default figure of the main commands, at both
paper sizes: no filler (:func:`dynsim.plot.style.figure_problems`) and the same picture as the
committed baseline (``tests/plot/baseline/<case>-<size>.png``, rendered at 60 dpi).

Each case is computed once per session and each figure drawn once, shared by the two tests.
Regenerate the baselines after an intended change with::

    DYNSIM_UPDATE_BASELINES=1 pytest -n 0 tests/plot/test_figure_baselines.py

and look at every changed image before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.testing.compare import compare_images  # noqa: E402

import dynsim  # noqa: E402
from dynsim.plot import seed_figures as sf  # noqa: E402
from dynsim.plot.gallery import FIGURES  # noqa: E402
from dynsim.plot.style import SIZES, figure_problems, savefig  # noqa: E402

BASELINE = Path(__file__).parent / "baseline"
DPI = 60  # small files: the whole baseline set stays well under 3 MB
#: RMS difference (0-255 grey levels) allowed against a baseline: room for a line moved by a
#: fraction of a pixel by the last digits of an integration, far below a changed panel or label.
TOLERANCE = 2.0
UPDATE = os.environ.get("DYNSIM_UPDATE_BASELINES") == "1"
plt.rcParams["figure.max_open_warning"] = 0  # the module keeps its figures until both tests have seen them


def _cli_cases():
    """The default figure of each main command, with the work shrunk (the same plot function and
    the same kind of run as the command's default). The generic tools' figures (phase-portrait,
    basin-map and sweep fixed-points with --model) are checked in tests/plot/test_cli_size.py and
    tests/tools/test_generic_tools.py, continuation's in tests/tools/test_continuation.py."""
    R = dynsim.Range
    return {
        "simulate-directpred": (lambda: dynsim.simulate("directpred", n1=8, n_save=101), sf.plot_simulation),
        "simulate-scalar": (lambda: dynsim.simulate("scalar", n_save=101), sf.plot_simulation),
        "simulate-infonce-jing-case1": (lambda: dynsim.simulate_collapse("infonce", preset="jing-case1", samples=256,
                                                                          n_save=101), sf.plot_collapse),
        "stepwise-d6": (lambda: dynsim.stepwise(d=6, n_save=201), sf.plot_stepwise),
        "basin-map-simsiam": (lambda: dynsim.sweep("collapse", [R("init_scale", 1e-3, 10.0, 5, True)],
                                                   model="simsiam", samples=4), sf.plot_sweep),
        "sweep-bifurcation-log": (lambda: dynsim.sweep("bifurcation", [R.parse("eta=1e-4:0.3:13:log")]), sf.plot_sweep),
        "sweep-bifurcation-eta0": (lambda: dynsim.sweep("bifurcation", [R.parse("eta=0:0.15:7")]), sf.plot_sweep),
        "sweep-basin-size": (lambda: dynsim.sweep("basin-size", [R.parse("alpha_p=0.25:4:3:log")], grid=8),
                             sf.plot_sweep),
        "sweep-alignment": (lambda: dynsim.sweep("alignment", [R.parse("alpha_p=0.25:4:3:log")], grid=6, t1=200.0),
                            sf.plot_sweep),
        # compare barlow draws the step times and batch rates that compare byol (a gallery figure) does not
        "compare-barlow": (lambda: dynsim.compare("barlow", lrs=(0.02, 0.01), batches=(64,), T=1.0, seeds=1),
                           sf.plot_comparison),
        # DirectCLR's panel (e): the rank kept against the projector variants
        "simulate-directclr": (lambda: dynsim.simulate_collapse("directclr", samples=32, t1=20.0, n_save=51),
                               sf.plot_collapse),
    }


def _cases():
    cases = {}
    for name, f in FIGURES.items():
        cases[name] = (lambda f=f: f.compute(True), lambda data, size, f=f: f.draw(data, size)[0])
    for name, (compute, plot) in _cli_cases().items():
        cases[name] = (compute, lambda data, size, plot=plot: plot(data, size=size))
    return cases


CASES = _cases()
PARAMS = [(n, s) for n in CASES for s in SIZES]


class _Made:
    """Computed data per case and drawn figures per (case, size), made on first use."""

    def __init__(self):
        self._data, self._figs = {}, {}

    def data(self, name: str):
        if name not in self._data:
            self._data[name] = CASES[name][0]()
        return self._data[name]

    def draw(self, name: str, size: str):
        return CASES[name][1](self.data(name), size)

    def __call__(self, name: str, size: str):
        if (name, size) not in self._figs:
            self._figs[name, size] = self.draw(name, size)
        return self._figs[name, size]

    def close(self):
        for fig in self._figs.values():
            plt.close(fig)


@pytest.fixture(scope="module")
def figures():
    made = _Made()
    yield made
    made.close()


@pytest.mark.parametrize(("name", "size"), PARAMS, ids=[f"{n}-{s}" for n, s in PARAMS])
def test_no_filler(figures, name, size):
    """No panel holds only text, every legend entry is drawn, no bar sits on a log axis, no title
    or label is cut off."""
    fig = figures(name, size)
    assert figure_problems(fig) == []


@pytest.mark.parametrize(("name", "size"), PARAMS, ids=[f"{n}-{s}" for n, s in PARAMS])
def test_matches_baseline(figures, name, size, tmp_path):
    fig = figures(name, size)
    expected = BASELINE / f"{name}-{size}.png"
    actual = tmp_path / expected.name
    savefig(fig, actual, format="png", dpi=DPI)
    result = compare_images(str(expected), str(actual), tol=TOLERANCE, in_decorator=True) if expected.exists() else {}
    if UPDATE and result is not None:  # only a baseline that is missing or no longer matches is rewritten
        BASELINE.mkdir(exist_ok=True)
        expected.write_bytes(actual.read_bytes())
        pytest.skip(f"baseline {expected.name} written")
    assert expected.exists(), f"no baseline {expected}: run with DYNSIM_UPDATE_BASELINES=1 and look at it"
    assert result is None, (f"{name} ({size}) differs from its baseline: RMS {result['rms']:.2f} > {TOLERANCE}; "
                            f"see {result['diff']}")


def test_same_bytes_twice(figures, tmp_path):
    """The same figure saved twice gives the same PNG, PDF and SVG bytes (streamlines, rasterized
    meshes and all: a phase portrait and a basin map)."""
    for name in ("phase-portrait-eta-4e-4", "basin-map"):
        fig = figures(name, "page")
        for fmt in ("png", "pdf", "svg"):
            a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
            savefig(fig, a, format=fmt, dpi=DPI)
            savefig(fig, b, format=fmt, dpi=DPI)
            assert a.read_bytes() == b.read_bytes(), (name, fmt)
        # and drawn anew from the same run
        again = figures.draw(name, "page")
        c, d = tmp_path / "c.svg", tmp_path / "d.svg"
        savefig(again, c, format="svg")
        savefig(fig, d, format="svg")
        plt.close(again)
        assert c.read_bytes() == d.read_bytes(), name
