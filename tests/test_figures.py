"""The figure registry: every registered figure is made (quick), saved as PDF and PNG, and recorded."""

import json
import numbers

import pytest

import dynsim
from dynsim.plot.gallery import FIGURES, Figure, make_figures
from dynsim._core.io import jsonable


def _numbers(obj):
    if isinstance(obj, bool):
        return 0
    if isinstance(obj, numbers.Number):
        return 1
    if isinstance(obj, dict):
        return sum(_numbers(v) for v in obj.values())
    if isinstance(obj, list):
        return sum(_numbers(v) for v in obj)
    return 0


def test_registry_entries():
    assert len(FIGURES) >= 13
    for name, fig in FIGURES.items():
        assert isinstance(fig, Figure) and fig.name == name
        assert name == name.lower() and " " not in name and "_" not in name  # kebab-case
        assert fig.title and "dynsim " in fig.command and callable(fig.make)
        assert callable(fig.compute) and callable(fig.draw)
        assert set(fig.parameters(quick=True)) >= set(fig.params)


# Every figure is made (quick) and drawn at both sizes by tests/plot/test_figure_baselines.py; here
# the manifest and the files of make_figures, on two cheap figures.
CHEAP = ["phase-portrait-eta-1", "infonce-collapse-vs-k"]


def test_make_figures_quick(tmp_path):
    manifest = make_figures(CHEAP, tmp_path, quick=True)
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == manifest
    records = manifest["figures"]
    assert [r["name"] for r in records] == CHEAP
    assert manifest["size"] == "page"
    for r in records:
        fig = FIGURES[r["name"]]
        assert (r["title"], r["command"]) == (fig.title, fig.command)
        assert r["parameters"] == json.loads(json.dumps(jsonable(fig.parameters(quick=True))))
        assert sorted(r["files"]) == sorted([f"{fig.name}.pdf", f"{fig.name}.png"])
        pdf, png = tmp_path / f"{fig.name}.pdf", tmp_path / f"{fig.name}.png"
        assert pdf.read_bytes()[:5] == b"%PDF-"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert r["runtime_s"] >= 0
        assert _numbers(r["summary"]) >= 1, r["name"]
    assert manifest["versions"]["dynsim"] and "jax" in manifest["versions"]


def test_make_figures_same_bytes_and_column(tmp_path):
    """The same run writes the same PNG, PDF and SVG bytes; --size column makes 3.4 in figures."""
    fmts = ("png", "pdf", "svg")
    make_figures(CHEAP[:1], tmp_path / "a", formats=fmts, quick=True)
    make_figures(CHEAP[:1], tmp_path / "b", formats=fmts, quick=True)
    for fmt in fmts:
        name = f"{CHEAP[0]}.{fmt}"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), fmt
    m = make_figures(CHEAP[:1], tmp_path / "c", formats=("png",), quick=True, size="column")
    assert m["size"] == "column"
    from matplotlib.image import imread

    width_px = imread(tmp_path / "c" / f"{CHEAP[0]}.png").shape[1]
    assert abs(width_px - 3.4 * 200) <= 2  # 3.4 in at the files' 200 dpi
    with pytest.raises(dynsim.DynsimInputError, match="size"):
        make_figures(CHEAP[:1], tmp_path / "d", quick=True, size="poster")


def test_unknown_figure(tmp_path):
    with pytest.raises(dynsim.DynsimInputError, match="unknown figure 'x'"):
        make_figures(["phase-portrait-eta-0", "x"], tmp_path, quick=True)
    assert not (tmp_path / "manifest.json").exists()  # nothing made before the names are checked


def test_figures_command(tmp_path, capsys):
    import json

    import cli

    assert cli.main(["figures", "--list"]) == 0
    listing, _ = capsys.readouterr()
    assert "phase-portrait-eta-4e-4" in listing and "$ dynsim phase-portrait --eta 4e-4" in listing
    rc = cli.main(["figures", "phase-portrait-eta-1", "--quick", "--out", str(tmp_path), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    manifest = json.loads(out)
    assert [f["name"] for f in manifest["figures"]] == ["phase-portrait-eta-1"]
    assert (tmp_path / "phase-portrait-eta-1.pdf").exists() and (tmp_path / "phase-portrait-eta-1.png").exists()
    rc = cli.main(["figures", "nope", "--out", str(tmp_path / "never")])
    _, err = capsys.readouterr()
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "unknown figure" in err
    assert not (tmp_path / "never").exists()
