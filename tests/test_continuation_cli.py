"""``dynsim continuation``: the fold of the eigen system from the command line, and bad input."""

from __future__ import annotations

import json

import pytest

import cli


def test_continuation_command_finds_the_fold(tmp_path, capsys):
    rc = cli.main(["continuation", "--model", "eigen1d", "--param", "sigma=0.5", "--over", "eta=1e-6:0.5:log",
                   "--json", "--out", str(tmp_path / "o")])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    folds = [s for s in summary["special_points"] if s["type"] == "fold"]
    assert len(folds) == 1 and abs(folds[0]["eta"] - 1 / (4 * 1.25)) < 1e-8
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"continuation.png", "continuation.npz", "continuation.json"}


@pytest.mark.parametrize("argv, option", [
    (["--over", "eta"], "--over"),
    (["--over", "eta=1:0.1"], "--over"),
    (["--over", "nothere=0:1"], "--over"),
    (["--over", "eta=0:1:log"], "--over"),
    (["--over", "eta=0:1", "--coord", "3"], "--coord"),
])
def test_continuation_bad_input(tmp_path, capsys, argv, option):
    assert cli.main(["continuation", "--model", "eigen1d", *argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"dynsim: error: {option}"), err
    assert not (tmp_path / "o").exists()
