"""Every numeric option of every command, given one bad value alone: exit code 2, one line on stderr
whose first word after ``dynsim: error:`` is exactly that option, and nothing written to --out.

Bad values: 1e308 and 1e-320 (over- and underflow) for every float option, the ends just outside an
integer option's range, and 0 / -1 where the option's range excludes them (the table ``NONPOSITIVE``).
Each option runs in a context where it applies (``CONTEXT``), so that the refusal is about its value.
Only validation runs: a value that reached a job would hit the alarm (a few seconds) and fail here.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import typer

import cli

COMMAND = typer.main.get_command(cli.app)

#: (command, option) -> the argv before the option: a context where the option applies.
CONTEXT = {
    "simulate": ["simulate", "byol"],
    "compare": ["compare", "byol"],
    "sweep": ["sweep", "basin-size", "--over", "alpha_p=0.5:2:2"],
    "continuation": ["continuation", "--over", "eta=1e-3:0.5"],
    ("sweep", "--alpha-p"): ["sweep", "basin-size", "--over", "eta=1e-3:1e-2:2"],
    ("sweep", "--beta"): ["sweep", "collapse", "--model", "byol", "--over", "init_scale=0.1:1:2"],
    ("sweep", "--init-scale"): ["sweep", "collapse", "--over", "eta=0.01:0.1:2"],
    ("sweep", "--samples"): ["sweep", "collapse", "--over", "eta=0.01:0.1:2"],
    ("basin-map", "--beta"): ["basin-map", "--model", "eigen3d"],
    ("basin-map", "--tau0"): ["basin-map", "--model", "eigen3d"],
    **{("basin-map", o): ["basin-map", "--model", "simsiam"]
       for o in ("--scale-min", "--scale-max", "--samples", "--n1")},
    ("simulate", "--tau"): ["simulate", "symmetrized"],
    **{("simulate", o): ["simulate", "directset"] for o in ("--alpha", "--eps", "--rho", "--freq")},
    ("simulate", "--lr"): ["simulate", "directset", "--rho", "0.5"],
    ("simulate", "--decay"): ["simulate", "byol", "--data", "spectrum"],
    ("simulate", "--dim-b"): ["simulate", "byol", "--data", "nuisance"],
    **{("simulate", o): ["simulate", "infonce"] for o in ("--temperature", "--samples", "--batch", "--layers")},
    ("simulate", "--d0"): ["simulate", "directclr"],
    ("stepwise", "--bandwidth"): ["stepwise", "--kernel", "rbf"],
}

#: Float options whose range excludes 0 (value "0") and negative numbers ("-1"), per command.
NONPOSITIVE = {
    "phase-portrait": {"--eta": "-1", "--sigma": "-1", "--tau": "-1", "--alpha-p": "0 -1", "--p-max": "-1",
                       "--s-min": "-1", "--s-max": "0 -1", "--t1": "0 -1", "--rtol": "0 -1", "--atol": "-1"},
    "basin-map": {"--eta": "-1", "--sigma": "-1", "--tau": "-1", "--alpha-p": "0 -1", "--beta": "0 -1",
                  "--tau0": "-1", "--p-max": "-1", "--s-min": "0 -1", "--s-max": "0 -1", "--t1": "0 -1",
                  "--rtol": "0 -1", "--atol": "-1", "--scale-min": "0 -1", "--scale-max": "0 -1"},
    "sweep": {"--eta": "-1", "--sigma": "-1", "--tau": "-1", "--alpha-p": "0 -1", "--beta": "-1", "--t1": "0 -1",
              "--init-scale": "0 -1"},
    "compare": {"--time": "0 -1", "--eta": "-1", "--sigma": "-1", "--alpha-p": "0 -1", "--beta": "-1"},
    "simulate": {"--sigma": "-1", "--decay": "0 -1", "--init-scale": "0 -1", "--t1": "0 -1", "--rtol": "0 -1",
                 "--atol": "-1", "--eta": "-1", "--alpha-p": "0 -1", "--beta": "-1", "--tau": "-1",
                 "--alpha": "0 -1", "--eps": "-1", "--rho": "-1", "--lr": "0 -1", "--temperature": "0 -1"},
    "stepwise": {"--ratio": "0 -1", "--noise": "-1", "--init-scale": "0 -1", "--bandwidth": "0 -1",
                 "--t1": "0 -1"},
    "continuation": {"--at": "0 -1"},
}


def _cases():
    for name, cmd in COMMAND.commands.items():
        for p in cmd.params:
            if type(p).__name__ != "TyperOption" or getattr(p, "is_flag", False):
                continue
            kind = p.bare_type()
            opt = p.opts[0]
            if kind in (float, "float"):
                values = ["1e308", "1e-320", *NONPOSITIVE.get(name, {}).get(opt, "").split()]
            elif kind in (int, "int"):
                values = ([str(p.min - 1)] + (["-1"] if p.min >= 1 else []) if p.min is not None else []) + \
                         ([str(p.max + 1)] if p.max is not None else [])
            else:
                continue
            for v in values:
                yield name, opt, v


CASES = list(_cases())


def _main(argv: list[str], seconds: int = 20) -> int:
    """``cli.main(argv)``, failing if it runs past ``seconds``: bad input must be refused before any job."""

    def alarm(*_):
        raise TimeoutError(f"dynsim {' '.join(argv)} was not refused within {seconds} s: it reached a job")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        return cli.main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_the_table_names_real_options():
    """A renamed option must not leave the tables pointing at nothing (the sweep would silently shrink)."""
    opts = {(c, o) for c, o, _ in CASES}
    for cmd, table in NONPOSITIVE.items():
        for o in table:
            assert (cmd, o) in opts, (cmd, o)
    for key in CONTEXT:
        if isinstance(key, tuple):
            assert key in opts, key
    assert len(CASES) > 150


@pytest.mark.parametrize("command, option, value", CASES, ids=[f"{c}{o}={v}" for c, o, v in CASES])
def test_a_bad_value_alone_names_its_option(command, option, value, tmp_path, capsys):
    base = CONTEXT.get((command, option), CONTEXT.get(command, [command]))
    out = tmp_path / "out"
    argv = [*base, option, value, "--out", str(out)]
    rc = _main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, (argv, rc, err[-1500:])
    assert len(lines) == 1, (argv, err)
    named = lines[0].removeprefix("dynsim: error: ")
    # the option is the one named: typer's "Invalid value for '--opt'" or dynsim's "--opt: ..."
    assert named.startswith(f"{option}:") or named.startswith(f"Invalid value for '{option}'"), (argv, lines[0])
    assert not Path(out).exists() or not any(Path(out).iterdir()), (argv, list(Path(out).iterdir()))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import numpy as np

    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    np.savez(d / "views.npz", x=rng.normal(size=(40, 4)), x_prime=rng.normal(size=(40, 4)))
    np.savez(d / "cov.npz", X=np.eye(4), X_aug=0.25 * np.eye(4))
    np.savez(d / "pairs.npz", x=rng.normal(size=(30, 6)), x_prime=rng.normal(size=(30, 6)))
    (d / "empty.npz").write_bytes(b"")
    np.save(d / "one.npy", np.eye(4))
    np.savez(d / "wrongkeys.npz", a=np.eye(4))
    np.savez(d / "nan.npz", X=np.full((4, 4), np.nan), X_aug=np.eye(4), x=np.full((30, 6), np.nan),
             x_prime=np.ones((30, 6)))
    (d / "truncated.npz").write_bytes((d / "cov.npz").read_bytes()[:60])
    np.savez(d / "zeros.npz", x=np.zeros((30, 6)), x_prime=np.zeros((30, 6)))
    np.savez(d / "onepair.npz", x=rng.normal(size=(1, 6)), x_prime=rng.normal(size=(1, 6)))
    np.savez(d / "huge.npz", X=1e150 * np.eye(4), X_aug=np.eye(4), x=np.full((30, 6), 1e200), x_prime=np.ones((30, 6)))
    tiny = rng.normal(size=(30, 6))
    tiny[3, 2] = 1e-320  # subnormal: its products vanish
    np.savez(d / "tiny.npz", X=np.eye(4) + 1e-320 * (1 - np.eye(4)), X_aug=np.eye(4), x=tiny, x_prime=np.ones((30, 6)))
    return d


#: Files of the wrong kind for --cov and --pairs, and what the one line must say of each.
BAD_FILES = [("one", "holds one array (.npy)"), ("wrongkeys", "has no array"), ("nan", "must be non-empty and finite"),
             ("truncated", "cannot read arrays"), ("empty", "cannot read arrays"), ("huge", "magnitude above 1e+100"),
             ("tiny", "magnitude below 1e-100")]


@pytest.mark.parametrize("option, command", [("--cov", ["simulate", "infonce"]), ("--pairs", ["stepwise"])])
@pytest.mark.parametrize("stem, says", BAD_FILES, ids=[s for s, _ in BAD_FILES])
def test_a_file_of_the_wrong_kind_is_named_and_said(option, command, stem, says, files, tmp_path, capsys):
    out = tmp_path / "out"
    rc = _main([*command, option, str(files / f"{stem}.npz" if stem != "one" else files / "one.npy"), "--out", str(out)])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"dynsim: error: {option}:") and says in lines[0], lines[0]
    assert "context manager" not in lines[0] and "not a file in the archive" not in lines[0]
    assert not out.exists() or not any(out.iterdir())


def test_the_options_that_apply_are_listed_as_typed(tmp_path, capsys):
    rc = _main(["simulate", "directpred", "--alpha", "2", "--out", str(tmp_path / "out")])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 2 and line.startswith("dynsim: error: --alpha: does not apply to directpred"), line
    listed = line.split("(its options: ")[1].rstrip(")").split(", ")
    assert "--dim-b" in listed and all(o.startswith("--") for o in listed), line


#: Options that do not apply where they are given, and the issue's examples of messages that named
#: another option: each refused naming the option typed.
NOT_APPLICABLE = [
    (["simulate", "infonce", "--data", "isotropic", "--dim-b", "3"], "--dim-b"),
    (["simulate", "infonce", "--decay", "0.5"], "--decay"),  # nuisance data by default: no spectrum
    (["simulate", "infonce", "--d0", "4"], "--d0"),
    (["simulate", "directclr", "--layers", "2"], "--layers"),
    (["simulate", "directclr", "--init", "uniform"], "--init"),
    (["simulate", "infonce", "--views", "{views}", "--samples", "64"], "--samples"),
    (["simulate", "infonce", "--views", "{views}", "--sigma", "1"], "--sigma"),
    (["simulate", "infonce", "--cov", "{cov}", "--n1", "4"], "--n1"),
    (["simulate", "infonce", "--cov", "{cov}", "--dim-b", "2"], "--dim-b"),
    (["simulate", "infonce", "--samples", "100", "--batch", "7"], "--batch"),
    (["stepwise", "--bandwidth", "2"], "--bandwidth"),
    (["stepwise", "--pairs", "{pairs}", "--m", "3"], "--m"),
    (["stepwise", "--pairs", "{empty}"], "--pairs"),
    (["basin-map", "--model", "simsiam", "--rtol", "1e-6"], "--rtol"),
    (["basin-map", "--model", "simsiam", "--beta", "0.5"], "--beta"),  # SimSiam has no EMA
    (["basin-map", "--model", "simsiam", "--eta", "0"], "--eta"),  # nothing decays: t1 must be given
    (["basin-map", "--model", "simsiam", "--scale-min", "20"], "--scale-min"),
    (["basin-map", "--p-max", "-5"], "--p-max"),
    (["phase-portrait", "--s-max", "0"], "--s-max"),
    (["phase-portrait", "--eta", "1e308"], "--eta"),
    (["sweep", "bifurcation", "--over", "eta=0:0.1:3", "--alpha-p", "2"], "--alpha-p"),
    (["sweep", "basin-size", "--over", "eta=1e-3:1e-2:2", "--eta", "0.1"], "--eta"),
    (["sweep", "alignment", "--over", "eta=1e-3:1e-2:2", "--samples", "4"], "--samples"),
    (["sweep", "collapse", "--over", "init_scale=0.1:1:2", "--grid", "4"], "--grid"),
    (["sweep", "collapse", "--over", "init_scale=0.1:1:2", "--t1", "-1"], "--t1"),
    (["compare", "byol", "--time", "1e7"], "--time"),  # 1e9 steps at the smallest default lr
    (["figures", "no-such-figure"], "NAMES"),  # positional arguments: their metavar, not an --option
    (["sweep", "no-such-kind", "--over", "eta=0:1:2"], "KIND"),
    (["rerun", "{empty}"], "RECORD"),
    # found by an outside fuzz: options that were ignored, or messages that named another option
    (["simulate", "byol", "--cov", "{cov}", "--sigma", "0.3"], "--sigma"),  # the covariances fix sigma
    (["simulate", "byol", "--cov", "{cov}", "--n1", "3"], "--n1"),
    (["simulate", "byol", "--cov", "{cov}", "--data", "nuisance"], "--data"),
    (["sweep", "collapse", "--over", "init_scale=0.01:1:3:log", "--samples", "2", "--init-scale", "5"],
     "--init-scale"),
    (["continuation", "--over", "eta=1e-6:0.5:log", "--param", "eta=0.1"], "--param"),
    (["sweep", "fixed-points", "--over", "eta=0:0.1:3", "--param", "eta=0.1"], "--param"),
    (["continuation", "--over", "eta=1e-6:0.5:log", "--param", "sigma=nan"], "--param"),
    (["phase-portrait", "--model", "eigen", "--param", "eta=-1"], "--param"),
    (["compare", "byol", "--lr", "0.05", "--lr", "0"], "--lr"),  # every lr checked before the first run
    (["compare", "byol", "--lr", "1e308"], "--lr"),
    (["basin-map", "--p-scale", "log", "--grid", "16"], "--p-scale"),  # log on the default p range
    (["sweep", "bifurcation", "--over", "eta=-1:0.1:3"], "--over"),
    (["sweep", "fixed-points", "--over", "eta=-1:0.1:3"], "--over"),
    (["stepwise", "--n-pairs", "1"], "--n-pairs"),
    (["stepwise", "--pairs", "{zeros}"], "--pairs"),  # Gamma = 0: nothing to learn
    (["stepwise", "--pairs", "{onepair}"], "--pairs"),  # rank 2n = 2 < d
    (["simulate", "infonce", "--samples", "1000000"], "--samples"),  # 1e6 x 1e6 similarities: refused up front
]


@pytest.mark.parametrize("argv, option", NOT_APPLICABLE, ids=[" ".join(a[:2] + [o]) for a, o in NOT_APPLICABLE])
def test_an_option_that_does_not_apply_is_named(argv, option, files, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [a.format(**{p.stem: str(p) for p in files.iterdir()}) for a in argv]
    rc = _main([*argv, "--out", str(out)])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1, (argv, lines)
    assert lines[0].startswith(f"dynsim: error: {option}:"), (argv, lines[0])
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("argv, option", [
    (["figures", "--list", "--quick"], "--quick"), (["figures", "--list", "--size", "column"], "--size"),
    (["figures", "--list", "basin-map"], "NAMES"), (["check", "--list", "--out", "{out}"], "--out"),
    (["check", "--list", "scalar-manifold"], "NAMES"),
])
def test_list_refuses_what_it_would_ignore(argv, option, tmp_path, capsys):
    """``--list`` lists and exits: an option or name that would make or write something is refused."""
    out = tmp_path / "out"
    rc = _main([a.format(out=out) for a in argv])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith(f"dynsim: error: {option}:"), lines
    assert not out.exists()


def test_list_json_is_json(capsys):
    import json

    assert _main(["figures", "--list", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert {"name", "title", "command", "paper"} <= set(figures[0]) and len(figures) >= 10
    assert _main(["check", "--list", "--json"]) == 0
    assert {"name", "statement", "tolerance"} <= set(json.loads(capsys.readouterr().out)[0])
