"""``dynsim rerun RECORD.json`` runs a recorded command again and gets the same arrays, bitwise."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

import cli

MODEL = textwrap.dedent('''
    import jax.numpy as jnp
    def bist(t, y, *, a=1.0):
        return jnp.stack([a * y[0] - y[0] ** 3, -y[1]])
    bist.state_names = ("x", "y")
''')


def test_rerun_reproduces_arrays_bitwise_and_detects_a_change(tmp_path, monkeypatch, capsys):
    (tmp_path / "m.py").write_text(MODEL)
    monkeypatch.chdir(tmp_path)
    for argv, stem in ((["phase-portrait", "--model", "m.py:bist", "--param", "a=0.8", "--window", "-2:2,-1:1",
                         "--n-traj", "4"], "phase_portrait"),
                       (["basin-map", "--model", "m.py:bist", "--window", "-2:2,-1:1", "--grid", "12"], "basin_map")):
        assert cli.main([*argv, "--out", "first"]) == 0
        assert cli.main(["rerun", f"first/{stem}.json", "--out", "again"]) == 0
        assert "bitwise equal" in capsys.readouterr().err
        a, b = np.load(f"first/{stem}.npz"), np.load(f"again/{stem}.npz")
        assert a.files == b.files and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a.files)
    # a record whose arrays were altered is reported as not reproduced
    data = dict(np.load("first/basin_map.npz"))
    data["labels"][0, 0] = -1  # one cell changed
    np.savez("first/basin_map.npz", **data)
    assert cli.main(["rerun", "first/basin_map.json", "--out", "third"]) == 1
    assert "DIFFERS" in capsys.readouterr().err


def test_rerun_refuses_a_file_that_is_not_a_record(tmp_path, capsys):
    bad = tmp_path / "x.json"
    bad.write_text("[1, 2]")
    assert cli.main(["rerun", str(bad)]) == 2
    assert capsys.readouterr().err.strip().startswith("dynsim: error: RECORD:")  # the positional argument


def test_same_seed_same_numbers_for_simulate_and_stepwise(tmp_path, monkeypatch, capsys):
    """Each command run twice with one seed: the arrays are bitwise equal (via rerun), and the record
    holds the weights at the start and the end."""
    monkeypatch.chdir(tmp_path)
    for argv, stem in ((["simulate", "byol", "--n1", "4", "--t1", "20", "--seed", "3"], "simulate_byol"),
                       (["stepwise", "--m", "4", "--d", "2", "--seed", "5"], "stepwise")):
        assert cli.main([*argv, "--out", "a"]) == 0
        assert cli.main(["rerun", f"a/{stem}.json", "--out", "b"]) == 0
        assert "bitwise equal" in capsys.readouterr().err
    z = np.load("a/simulate_byol.npz")
    assert z["W0_W"].shape == (4, 4) and z["W_W"].shape == (4, 4) and z["state_final"].shape == (48,)


# One cheap run of every other command that writes arrays: `dynsim rerun` on its record must give the
# same arrays bitwise (same seed, same numbers), so every record holds every parameter in force.
COMMANDS = {
    "phase-portrait": (["phase-portrait", "--n-traj", "2", "--t1", "100", "--eta", "0.01"], "phase_portrait"),
    "basin-map": (["basin-map", "--grid", "16"], "basin_map"),
    "sweep bifurcation": (["sweep", "bifurcation", "--over", "eta=1e-4:0.3:5:log"], "sweep_bifurcation"),
    "sweep basin-size": (["sweep", "basin-size", "--over", "alpha_p=0.25:4:2:log", "--grid", "8"],
                         "sweep_basin-size"),
    "continuation": (["continuation", "--model", "eigen1d", "--over", "eta=1e-6:0.5:log"], "continuation"),
    "compare barlow": (["compare", "barlow", "--lr", "0.02", "--batch", "64", "--time", "1", "--seeds", "1"],
                       "compare_barlow"),
    "simulate infonce": (["simulate", "infonce", "--n1", "4", "--samples", "32", "--t1", "2", "--seed", "7"],
                         "simulate_infonce"),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_reruns_bitwise(name, tmp_path, monkeypatch, capsys):
    argv, stem = COMMANDS[name]
    monkeypatch.chdir(tmp_path)
    assert cli.main([*argv, "--out", "a"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert cli.main(["rerun", f"a/{stem}.json", "--out", "b"]) == 0, capsys.readouterr().err
    assert "bitwise equal" in capsys.readouterr().err


@pytest.mark.parametrize("damage, says", [
    ("no-npz", "cannot be read"), ("truncated-npz", "cannot be read"),
    ("nan-option", "--ratio: must be a finite number"), ("no-such-command", "no command 'bogus'"),
    ("no-such-option", "No such option: --foo"),
])
def test_rerun_refuses_a_damaged_record_before_any_work(damage, says, tmp_path, monkeypatch, capsys):
    """A record whose arrays cannot be read, or whose command line no longer parses, is refused in one
    line naming RECORD, and nothing is run or written."""
    import json

    monkeypatch.chdir(tmp_path)
    assert cli.main(["stepwise", "--m", "4", "--d", "2", "--out", "a"]) == 0
    record = json.loads(Path("a/stepwise.json").read_text())
    if damage == "no-npz":
        Path("a/stepwise.npz").unlink()
    elif damage == "truncated-npz":
        Path("a/stepwise.npz").write_bytes(Path("a/stepwise.npz").read_bytes()[:100])
    else:
        record["argv"] = {"nan-option": ["stepwise", "--ratio", "nan"], "no-such-command": ["bogus"],
                          "no-such-option": ["stepwise", "--foo", "1"]}[damage]
        Path("a/stepwise.json").write_text(json.dumps(record))
    capsys.readouterr()
    assert cli.main(["rerun", "a/stepwise.json", "--out", "b"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dynsim: error: RECORD:") and says in lines[0], lines
    assert not Path("b").exists()
