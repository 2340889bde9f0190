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


LOSS_FILE = '''
import jax.numpy as jnp
import dynsim

def toy(w, *, mu):          # the loss of a scalar weight: gradient flow w' = mu w - w^3
    return jnp.sum(-0.5 * mu * w**2 + 0.25 * w**4)

flow = dynsim.GradientFlow(lambda w, mu: jnp.sum(-0.5 * mu * w**2 + 0.25 * w**4), weights={"w": (1,)},
                           params={"mu": 0.5})
'''

BAD_LOSS_FILE = '''
import jax.numpy as jnp
import dynsim

flow = dynsim.GradientFlow(lambda w: w * 2.0, weights={"w": (2,)})   # not a scalar
'''


def test_a_model_written_as_a_loss_is_continued_and_a_bad_loss_is_refused(tmp_path, capsys):
    (tmp_path / "good.py").write_text(LOSS_FILE)
    (tmp_path / "bad.py").write_text(BAD_LOSS_FILE)
    rc = cli.main(["continuation", "--model", f"{tmp_path / 'good.py'}:flow", "--over", "mu=-1:1", "--json",
                   "--out", str(tmp_path / "o")])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    bps = [s for s in summary["special_points"] if s["type"] == "branch point"]
    assert len(bps) == 1 and abs(bps[0]["mu"]) < 1e-8 and bps[0]["detail"] == "pitchfork"
    rc = cli.main(["continuation", "--model", f"{tmp_path / 'bad.py'}:flow", "--over", "mu=-1:1",
                   "--out", str(tmp_path / "o2")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("dynsim: error: --model") and "scalar" in err[0], err
    assert not (tmp_path / "o2").exists()
