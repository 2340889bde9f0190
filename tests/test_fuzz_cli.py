"""Every command, every option, bad values: exit code 2 with one line on stderr naming an option,
never a traceback, and nothing written (the rule of the issue on reliability).

Deterministic sweep: each option of each command alone with values that no option accepts (not a
number, NaN, infinite, empty); file options also get files of the wrong kind. A hypothesis test then
combines several bad values at once.
"""

from __future__ import annotations

import io
import signal
import contextlib
from pathlib import Path

import numpy as np
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cli

COMMAND = typer.main.get_command(cli.app)
BAD_NUMBERS = ("nan", "inf", "-inf", "abc", "")
SKIP = {"--out", "--help", "--json", "--list", "--format"}  # --out is fuzzed on its own below


def _options():
    for name, cmd in COMMAND.commands.items():
        for p in cmd.params:
            if type(p).__name__ == "TyperOption" and not getattr(p, "is_flag", False) and p.opts[0] not in SKIP:
                yield name, p


def _is_file_option(p) -> bool:
    text = (p.help or "").lower()
    return "file" in text or ".npz" in text


OPTIONS = list(_options())


def _run(argv, out: Path, capsys, seconds: int = 120):
    def alarm(*_):
        raise TimeoutError(f"dynsim {' '.join(argv)} ran past {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        rc = cli.main([*argv, "--out", str(out)])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    cap = capsys.readouterr()
    return rc, cap.err


def _assert_refused(rc, err, out: Path, argv):
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert "Traceback" not in err, (argv, err)
    assert rc == 2, (argv, rc, err[-2000:])
    assert lines and lines[-1].startswith("dynsim: error: "), (argv, err)
    assert not out.exists() or not any(out.iterdir()), (argv, list(out.iterdir()))


def _argv(command: str, option, value: str) -> list[str]:
    # commands that take a positional argument get a valid one
    positional = {"simulate": ["byol"], "compare": ["byol"], "sweep": ["basin-size"]}.get(command, [])
    base = [command, *positional]
    if command == "sweep" and option.opts[0] != "--over":
        base += ["--over", "eta=1e-3:1e-2:2"]
    if command == "rerun":
        base = [command, "missing.json"]
    return [*base, option.opts[0], value]


@pytest.mark.parametrize("command, option", OPTIONS, ids=[f"{c}{o.opts[0]}" for c, o in OPTIONS])
def test_bad_value_of_every_option_is_refused(command, option, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    values = list(BAD_NUMBERS)
    if _is_file_option(option):
        (tmp_path / "empty.npz").write_bytes(b"")
        np.save(tmp_path / "wrong.npy", np.ones(3))
        (tmp_path / "text.npz").write_text("not an npz")
        values += ["empty.npz", "wrong.npy", "text.npz", "missing.npz"]
    for v in values:
        argv = _argv(command, option, v)
        out = tmp_path / "out"
        rc, err = _run(argv, out, capsys)
        _assert_refused(rc, err, out, argv)


@pytest.mark.parametrize("bad_out", ["/dev/null", "file.txt", "file.txt/sub", "", "x" * 300, "/proc/dynsim"])
def test_bad_out_is_refused_before_work(bad_out, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    rc = cli.main(["phase-portrait", "--out", bad_out])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().splitlines()[-1].startswith("dynsim: error: --out"), err
    assert "Traceback" not in err


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_combinations_of_bad_values_are_refused(data, tmp_path_factory):
    command, option = data.draw(st.sampled_from(OPTIONS))
    others = [o for c, o in OPTIONS if c == command and o is not option]
    extra = data.draw(st.lists(st.sampled_from(others), max_size=2, unique_by=lambda o: o.opts[0])) if others else []
    tmp = tmp_path_factory.mktemp("fuzz")
    argv = _argv(command, option, data.draw(st.sampled_from(BAD_NUMBERS)))
    for o in extra:
        argv += [o.opts[0], data.draw(st.sampled_from(BAD_NUMBERS))]
    buf = io.StringIO()
    with contextlib.redirect_stderr(buf), contextlib.redirect_stdout(io.StringIO()):
        import os

        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            rc = cli.main([*argv, "--out", str(tmp / "out")])
        finally:
            os.chdir(cwd)
    err = buf.getvalue()
    assert "Traceback" not in err and rc == 2, (argv, rc, err[-1000:])
    assert not (tmp / "out").exists() or not any((tmp / "out").iterdir())
