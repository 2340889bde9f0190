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
        assert (r["paper"], r["differences_from_paper"]) == (fig.paper, list(fig.differences))
    assert manifest["versions"]["dynsim"] and "jax" in manifest["versions"]
    # the gallery's page: each figure's image, command, the paper figure and every listed difference
    index = (tmp_path / "index.md").read_text()
    for r in records:
        assert f"## {r['name']}" in index and f"![{r['name']}]({r['name']}.png)" in index and r["command"] in index
        assert f"Paper figure: {r['paper']}." in index
        for text in r["same_as_paper"] + r["differences_from_paper"]:
            assert f"- {text}" in index


#: The seed figures compared with the papers' (issue 17): each names its paper figure and says in words
#: what matches (axes, quantities, scales) and what still differs.
SEED_PAPER_FIGURES = {"phase-portrait-eta-0": "[T21] Fig. 3", "phase-portrait-eta-0.01": "[T21] Fig. 3",
                      "phase-portrait-eta-1": "[T21] Fig. 3", "eigenvalues-byol": "[T21] Fig. 5",
                      "barlow-stepwise": "[S23] Fig. 1 (A, B)", "infonce-collapse-vs-k": "[J22] Fig. 3"}


@pytest.mark.parametrize("name", sorted(SEED_PAPER_FIGURES))
def test_seed_figures_name_their_paper_figure_and_differences(name):
    fig = FIGURES[name]
    assert fig.paper == SEED_PAPER_FIGURES[name]
    assert fig.same and fig.differences and all(len(t) > 20 for t in fig.same + fig.differences)
    assert any(w in " ".join(fig.same) for w in ("axis", "axes")), "say which axes and scales match"


def test_figures_with_paper_parameters_use_them():
    """The parameters each redrawn figure takes from its paper figure (docs/equations.md)."""
    pp = [FIGURES[f"phase-portrait-eta-{e}"].params for e in ("0", "0.01", "1")]
    assert [p["eta"] for p in pp] == [0.0, 0.01, 1.0] and all(p["tau"] == p["alpha_p"] == 1.0 for p in pp)
    e = FIGURES["eigenvalues-byol"].params
    assert (e["eta"], e["beta"]) == (0.04, 0.4)  # [T21] Fig. 5: lr 0.01, lr*beta = 1 - 0.996, lr*eta = 4e-4
    k = FIGURES["infonce-collapse-vs-k"].params
    assert (k["dim"], k["dim_aug"]) == (16, 8)  # [J22] Fig. 3: 16 x 16 weights, 8 x 8 blocks


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
