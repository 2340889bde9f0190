"""dynsim._core.io: JSON conversion, all-or-nothing output files, the --out pre-check."""

import dataclasses
import enum
import json
import math
import os

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from pathlib import Path  # noqa: E402

from dynsim._core import io  # noqa: E402
from dynsim._core.errors import DynsimInputError  # noqa: E402
from dynsim._core.io import jsonable, write_outputs  # noqa: E402


class Color(enum.Enum):
    red = "r"


class Level(enum.IntEnum):
    high = 3


@dataclasses.dataclass
class Point:
    x: object
    tag: Color = Color.red


def _dumps(obj) -> str:
    return json.dumps(jsonable(obj), allow_nan=False)  # strict JSON: no NaN/Infinity tokens


def test_jsonable_jax_numpy_complex_enum_dataclass():
    rec = {
        "jax_array": jnp.arange(3.0),
        "jax_scalar": jnp.float64(2.5),
        "jax_int": jnp.asarray(7),
        "jax_bool": jnp.asarray([True, False]),
        "jax_complex": jnp.asarray([1 + 2j]),
        "np_bool": np.bool_(True),
        "np_int": np.int32(4),
        "np_float": np.float32(0.5),
        "complex": 3 - 1j,
        "np_complex": np.complex128(complex(math.inf, 1.0)),
        "enum": Color.red,
        "int_enum": Level.high,
        "dataclass": Point(x=jnp.asarray([np.nan, 1.0])),
        "nan": math.nan,
        "inf": np.float64(-np.inf),
        "nested": [(np.float64(np.nan),), {Color.red: np.arange(2)}],
    }
    out = json.loads(_dumps(rec))
    assert out == {
        "jax_array": [0.0, 1.0, 2.0],
        "jax_scalar": 2.5,
        "jax_int": 7,
        "jax_bool": [True, False],
        "jax_complex": [[1.0, 2.0]],
        "np_bool": True,
        "np_int": 4,
        "np_float": 0.5,
        "complex": [3.0, -1.0],
        "np_complex": [None, 1.0],
        "enum": "r",
        "int_enum": 3,
        "dataclass": {"x": [None, 1.0], "tag": "r"},
        "nan": None,
        "inf": None,
        "nested": [[None], {"r": [0, 1]}],
    }
    assert type(out["np_bool"]) is bool and type(out["jax_int"]) is int


def test_jsonable_leaves_unknown_types_to_json():
    with pytest.raises(TypeError):
        _dumps({"x": object()})


# --- write_outputs: nothing half-written -------------------------------------------------------


def _figure():
    fig = plt.figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [0, 1])
    return fig


def _snapshot(directory):
    return {p.relative_to(directory).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(directory.rglob("*"))}


@pytest.fixture
def figure():
    fig = _figure()
    yield fig
    plt.close(fig)


def test_write_outputs_writes_the_three_files_and_no_temporaries(tmp_path, figure):
    out = tmp_path / "a" / "b"
    paths = write_outputs(out, "job", figure=figure, arrays={"x": jnp.arange(3.0)},
                          record={"value": jnp.asarray(1.5), "bad": math.nan}, fmt="svg")
    assert sorted(p.name for p in out.iterdir()) == ["job.json", "job.npz", "job.svg"]
    assert paths == {"figure": out / "job.svg", "data": out / "job.npz", "record": out / "job.json"}
    np.testing.assert_array_equal(np.load(paths["data"])["x"], [0.0, 1.0, 2.0])
    rec = json.loads(paths["record"].read_text())
    assert rec["value"] == 1.5 and rec["bad"] is None
    assert rec["files"] == {"figure": "job.svg", "data": "job.npz", "record": "job.json"}
    assert paths["figure"].read_text().startswith("<?xml")


@pytest.mark.parametrize("fail", ["savez", "record", "replace"])
def test_write_outputs_failure_leaves_old_files(tmp_path, figure, monkeypatch, fail):
    """A failure after the figure was written (the .npz, the .json, or a rename) changes no target."""
    write_outputs(tmp_path, "job", figure=figure, arrays={"x": np.zeros(2)}, record={"run": 1})
    before = _snapshot(tmp_path)
    figure.axes[0].plot([0, 1], [1, 0])  # the new figure differs from the old one
    record = {"run": 2}
    if fail == "savez":
        def boom(*a, **k):
            raise OSError("disk full")
        monkeypatch.setattr(io.np, "savez_compressed", boom)
    elif fail == "record":
        record["unserializable"] = object()
    else:
        real, calls = os.replace, []

        def flaky(src, dst):  # the first rename succeeds, the second fails
            calls.append(dst)
            if len(calls) == 2:
                raise OSError("killed")
            return real(src, dst)
        monkeypatch.setattr(io.os, "replace", flaky)
    with pytest.raises((OSError, TypeError)):
        write_outputs(tmp_path, "job", figure=figure, arrays={"x": np.ones(2)}, record=record)
    after = _snapshot(tmp_path)
    if fail == "replace":  # one file is new, entirely; nothing else changed, no temporaries left
        changed = [k for k in before if before[k] != after[k]]
        assert sorted(after) == sorted(before) and changed == ["job.png"]
    else:
        assert after == before


def test_write_outputs_refuses_a_directory_target_before_writing(tmp_path, figure):
    (tmp_path / "job.npz").mkdir()
    with pytest.raises(DynsimInputError) as e:
        write_outputs(tmp_path, "job", figure=figure, arrays={"x": np.zeros(2)}, record={})
    assert e.value.name == "out" and "job.npz" in str(e.value) and "\n" not in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.npz"]


@pytest.mark.parametrize("fmt", ["png", "pdf", "svg"])
def test_write_outputs_same_figure_same_bytes(tmp_path, fmt):
    """The figure is saved with dynsim.plot.style.savefig: no dates, fixed SVG ids."""
    files = []
    for run in ("a", "b"):
        fig = _figure()
        try:
            paths = write_outputs(tmp_path / run, "job", figure=fig, arrays={"x": np.zeros(2)}, record={}, fmt=fmt)
        finally:
            plt.close(fig)
        files.append(paths["figure"].read_bytes())
    assert files[0] == files[1]
    assert b"CreationDate" not in files[0] and b"<dc:date>" not in files[0]


def test_importing_io_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, dynsim._core.io; assert 'matplotlib' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --- check_out_dir ------------------------------------------------------------------------------


def _bad_out_dirs(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "has_dir_target" / "job.png").mkdir(parents=True)
    (tmp_path / "has_dir_target2" / "job.json").mkdir(parents=True)
    return {
        "empty": ("", ["job"], "empty"),
        "dev_null": ("/dev/null", ["job"], "device"),
        "file": (str(tmp_path / "file"), ["job"], "not a directory"),
        "parent_file": (str(tmp_path / "file" / "sub"), ["job"], "parent"),
        "parent_dev_null": ("/dev/null/sub", ["job"], "parent"),
        "long_component": (str(tmp_path / ("d" * 256) / "x"), ["job"], "longer than"),
        "long_target": (str(tmp_path / "new"), ["j" * 251], "longer than"),
        "dir_target": (str(tmp_path / "has_dir_target"), ["job"], "is a directory"),
        "dir_target_json": (str(tmp_path / "has_dir_target2"), ["other", "job"], "is a directory"),
        "unwritable_existing": ("/proc", ["job"], "cannot write"),  # not writable, even for root
        "unwritable_new": ("/proc/dynsim-test/out", ["job"], "cannot write"),
    }


@pytest.mark.parametrize("case", [
    "empty", "dev_null", "file", "parent_file", "parent_dev_null", "long_component", "long_target",
    "dir_target", "dir_target_json", "unwritable_existing", "unwritable_new"])
def test_check_out_dir_refuses(tmp_path, case):
    out, stems, words = _bad_out_dirs(tmp_path)[case]
    before = _snapshot(tmp_path)
    with pytest.raises(DynsimInputError) as e:
        io.check_out_dir(out, stems)
    assert e.value.name == "out"
    assert words in str(e.value) and "\n" not in str(e.value)
    assert _snapshot(tmp_path) == before  # nothing left behind


def test_check_out_dir_refuses_a_read_only_directory(tmp_path):
    """A mode-0555 directory; as root (who may write there) the read-only /sys instead."""
    if os.geteuid() == 0:
        for out in (Path("/sys"), Path("/sys/dynsim-new/deeper")):
            with pytest.raises(DynsimInputError, match="cannot write"):
                io.check_out_dir(out, ["job"])
        assert not Path("/sys/dynsim-new").exists()
        return
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        for out in (ro, ro / "new" / "deeper"):
            with pytest.raises(DynsimInputError, match="cannot write"):
                io.check_out_dir(out, ["job"])
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_check_out_dir_accepts_and_leaves_nothing(tmp_path):
    (tmp_path / "old.png").write_bytes(b"old")  # existing files are fine: they get replaced
    before = _snapshot(tmp_path)
    io.check_out_dir(tmp_path, ["old", "new"])
    io.check_out_dir(tmp_path / "x" / "y" / "z", ["job"])  # created for the check, removed again
    io.check_out_dir(str(tmp_path), ["j" * 250], formats=("png",))  # 254 bytes: fits
    assert _snapshot(tmp_path) == before


def test_staged_moves_a_complete_set_or_nothing(tmp_path):
    """io.staged: the files appear in the directory only once the body is done (the ``last`` ones
    last); an error part-way leaves the directory as it was, with no temporary file behind."""
    out = tmp_path / "set"
    out.mkdir()
    (out / "a.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with io.staged(out) as stage:
            (stage / "a.txt").write_text("new")
            (stage / "b.txt").write_text("half")
            assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a.txt"]
            raise RuntimeError("killed mid-write")
    assert [p.name for p in out.iterdir()] == ["a.txt"] and (out / "a.txt").read_text() == "old"
    with io.staged(out, last=("manifest.json",)) as stage:
        for name in ("manifest.json", "z.png", "a.txt"):
            (stage / name).write_text(name)
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "manifest.json", "z.png"]
    assert (out / "a.txt").read_text() == "a.txt"
    fresh = tmp_path / "fresh" / "deeper"
    with pytest.raises(OSError):
        with io.staged(fresh):
            raise OSError("disk full")
    assert not fresh.exists()  # the directory it created is gone again


def test_check_and_figures_write_nothing_when_they_fail_part_way(tmp_path, monkeypatch, capsys):
    """``dynsim check --out`` and ``dynsim figures``: a failure while writing leaves no half-written
    set (the files go through io.staged); a success leaves the complete set and no temporary file."""
    import cli
    from dynsim.models import seed_claims
    from dynsim.plot import gallery

    result = seed_claims.CheckResult("c", "[T21]", "s", "m", 1e-12, 1e-6, "reproduced", "d", {}, 0.0)
    monkeypatch.setattr(seed_claims, "run_checks", lambda names, progress=None: [result])
    monkeypatch.setattr(io.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        cli.main(["check", "--out", str(tmp_path / "check")])
    assert not (tmp_path / "check").exists()
    monkeypatch.undo()
    monkeypatch.setattr(seed_claims, "run_checks", lambda names, progress=None: [result])
    assert cli.main(["check", "--out", str(tmp_path / "check")]) == 0
    assert [p.name for p in (tmp_path / "check").iterdir()] == ["check.json"]
    assert json.loads((tmp_path / "check" / "check.json").read_text())["summary"]["counts"]["reproduced"] == 1

    def fig(fail: bool):
        def make(quick, size):
            if fail:
                raise RuntimeError("the second figure fails")
            f = plt.figure(figsize=(2, 2))
            f.add_subplot().plot([0, 1], [0, 1])
            return f, {"value": 1.0}
        return gallery.Figure(name="", title="t", command="c", params={}, make=make)

    monkeypatch.setattr(gallery, "FIGURES", {"one": fig(False), "two": fig(True)})
    out = tmp_path / "figs"
    with pytest.raises(RuntimeError):
        cli.main(["figures", "--out", str(out)])
    assert not out.exists()
    monkeypatch.setattr(gallery, "FIGURES", {"one": fig(False), "three": fig(False)})
    assert cli.main(["figures", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["index.md", "manifest.json", "one.pdf", "one.png",
                                                     "three.pdf", "three.png"]
    assert json.loads((out / "manifest.json").read_text())["figures"][1]["files"] == ["three.pdf", "three.png"]
    capsys.readouterr()
