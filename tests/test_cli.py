"""The `dynsim` command end to end (in-process, plus the installed script once)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

import cli
import dynsim


def run(args, capsys):
    rc = cli.main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_main_command_writes_figure_numbers_and_record(tmp_path, capsys):
    out = tmp_path / "pp"
    rc, stdout, err = run(["phase-portrait", "--eta", "4e-4", "--sigma", "1", "--out", str(out), "--json"], capsys)
    assert rc == 0, err
    summary = json.loads(stdout)
    assert summary["regime"] == "bistable"
    m = dynsim.EigenDynamics2D(eta=4e-4, sigma=1.0)
    found = np.array([[r["p"], r["s"]] for r in summary["stationary_points"]])
    np.testing.assert_allclose(found, m.stationary_points(), rtol=1e-9, atol=1e-12)
    record = json.loads((out / "phase_portrait.json").read_text())
    assert record["summary"] == summary
    assert record["parameters"]["eta"] == 4e-4 and record["parameters"]["alpha_p"] == 1.0
    assert record["argv"][:3] == ["phase-portrait", "--eta", "4e-4"]
    assert {"jax", "diffrax", "equinox", "numpy", "python"} <= set(record["versions"])
    timing = record["timing_s"]  # the run after the imports: job, figure, write (the record's own)
    assert set(timing) == {"job", "figure", "write"} and all(v > 0 for v in timing.values())
    assert timing["job"] + timing["figure"] <= record["runtime_s"] + 0.01  # each rounded to 1 ms
    data = np.load(out / "phase_portrait.npz")
    assert data["trajectories_y"].shape[0] == 32 and np.all(data["trajectories_status"] == 0)
    img = matplotlib.image.imread(out / "phase_portrait.png")
    assert img.shape[0] > 1000 and img.shape[1] > 1000
    assert "p*_- = 0.000400321" in err


def test_above_critical_eta_says_only_collapse_remains(tmp_path, capsys):
    rc, stdout, err = run(["phase-portrait", "--eta", "0.5", "--out", str(tmp_path), "--json", "--n-traj", "4"], capsys)
    assert rc == 0, err
    s = json.loads(stdout)
    assert s["regime"] == "collapse-only" and len(s["stationary_points"]) == 1
    assert "only the collapsed solution" in err


@pytest.mark.parametrize("fmt", ["pdf", "svg"])
def test_other_formats(tmp_path, capsys, fmt):
    rc, _, err = run(["phase-portrait", "--out", str(tmp_path), "--format", fmt, "--n-traj", "4"], capsys)
    assert rc == 0, err
    assert (tmp_path / f"phase_portrait.{fmt}").stat().st_size > 10_000


@pytest.mark.parametrize("args,option", [
    (["--eta", "-1e-3"], "--eta"),
    (["--sigma", "-0.5"], "--sigma"),
    (["--alpha-p", "0"], "--alpha-p"),
    (["--eta", "nan"], "--eta"),
    (["--tau", "inf"], "--tau"),
    (["--p-min", "1", "--p-max", "0"], "--p-min"),
    (["--s-min", "0.5", "--s-max", "0.5"], "--s-min"),
    (["--n-traj", "0"], "--n-traj"),
    (["--t1", "-5"], "--t1"),
    (["--rtol", "0"], "--rtol"),
    (["--eta", "abc"], "--eta"),
    (["--format", "jpg"], "--format"),
    (["--no-such-option"], "--no-such-option"),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, args, option):
    out = tmp_path / "never"
    rc, stdout, err = run(["phase-portrait", "--out", str(out), *args], capsys)
    assert rc == 2
    assert stdout == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dynsim: error:") and option in lines[0], err
    assert not out.exists()


def test_help_names_the_symbols(capsys):
    rc, out, _ = run(["phase-portrait", "--help"], capsys)
    assert rc == 0
    for symbol in ("η", "σ", "τ", "α_p"):
        assert symbol in out


def test_installed_script(tmp_path):
    script = shutil.which("dynsim", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the dynsim script is not installed next to this interpreter (pip install .)")
    res = subprocess.run([script, "phase-portrait", "--eta", "-1", "--out", str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "--eta" in res.stderr
    # Output piped into a reader that stops early: no traceback.
    res = subprocess.run(f"'{script}' --help | head -n 1", shell=True, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in res.stderr
    # The script ends with os._exit (cli.entry): the files and a --json summary on a pipe are whole.
    out = tmp_path / "check"
    res = subprocess.run([script, "check", "symmetric-predictor-ema", "--json", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    printed = json.loads(res.stdout)
    assert printed["checks"][0]["name"] == "symmetric-predictor-ema"
    assert json.loads((out / "check.json").read_text())["summary"] == printed
