"""``dynsim rerun RECORD.json`` runs a recorded command again and gets the same arrays, bitwise."""

from __future__ import annotations

import textwrap

import numpy as np

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
