"""The ``dynsim`` command: a thin layer over the library (options in, files out)."""

from __future__ import annotations

import json
import os
import sys
import time

# Runtime checks inside equinox/diffrax/optimistix become NaNs instead of host callbacks. dynsim
# never relies on them (every solve runs with throw=False and checks its result code and
# residuals), and executables without callbacks can go into JAX's persistent compilation cache:
# that is what makes a repeated command fast. Must be set before equinox is imported.
os.environ.setdefault("EQX_ON_ERROR", "nan")
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="dynsim",
    help="Simulate the learning dynamics of self-supervised learning (JAX + diffrax, float64).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root():
    """Simulate the learning dynamics of self-supervised learning (JAX + diffrax, float64).

    Every command writes a figure, the numbers behind it (.npz) and a .json record
    (parameters, package versions, summary) into --out; --json prints the summary.
    """


class Format(str, Enum):
    png = "png"
    pdf = "pdf"
    svg = "svg"


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


Out = Annotated[Path, typer.Option("--out", help="Output directory for the figure, .npz and .json.")]
Fmt = Annotated[Format, typer.Option("--format", help="Figure format.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]


def _finish(command: str, stem: str, *, out: Path, fmt: "Format", figure, arrays: dict, parameters: dict,
            summary: dict, start: float, as_json: bool, messages: list[str]) -> None:
    """Every job's ending: the figure, .npz and .json written, one stderr line per message and one
    for the files, and the summary on stdout with --json."""
    from dynsim._io import jsonable, write_outputs

    record = {"command": command, "argv": _ARGV, "parameters": parameters, "summary": summary,
              "runtime_s": round(time.perf_counter() - start, 3)}
    paths = write_outputs(out, stem, figure=figure, arrays=arrays, record=record, fmt=fmt.value)
    for msg in messages:
        _err(f"dynsim: {msg}")
    _err(f"dynsim: wrote {', '.join(str(p) for p in paths.values())} ({record['runtime_s']:.2f} s)")
    if as_json:
        print(json.dumps(jsonable(summary), indent=2))


@app.command("phase-portrait")
def phase_portrait_cmd(
    eta: Annotated[float, typer.Option(help="η, weight decay. Above η_c = τ²/(4(1+σ²)) only collapse remains. "
                                            "[T21]'s experiments peaked at 4e-4.")] = 4e-4,
    sigma: Annotated[float, typer.Option(help="σ, augmentation strength: X' = σ² I with X = I (assumption 1).")] = 1.0,
    tau: Annotated[float, typer.Option(help="τ, EMA ratio W_a = τ W (assumption 2), held fixed.")] = 1.0,
    alpha_p: Annotated[float, typer.Option("--alpha-p", help="α_p, relative learning rate of the predictor W_p.")] = 1.0,
    p_min: Annotated[Optional[float], typer.Option(help="Plot range of p (eigenvalue of W_p); default -τ/(2(1+σ²)).")] = None,
    p_max: Annotated[Optional[float], typer.Option(help="Default 2τ/(1+σ²).")] = None,
    s_min: Annotated[Optional[float], typer.Option(help="Plot range of s (eigenvalue of F = W X Wᵀ); default 0.")] = None,
    s_max: Annotated[Optional[float], typer.Option(help="Default 0.8 p_max²/α_p.")] = None,
    n_traj: Annotated[int, typer.Option(help="Sample trajectories per panel (main and zoom).")] = 16,
    t1: Annotated[Optional[float], typer.Option(help="Integration time; default 10/η clipped to [100, 1e5].")] = None,
    rtol: Annotated[float, typer.Option(help="Relative tolerance of the Tsit5 + PID step-size controller.")] = 1e-8,
    atol: Annotated[float, typer.Option(help="Absolute tolerance of the step-size controller.")] = 1e-10,
    max_steps: Annotated[int, typer.Option(help="Step limit per trajectory (hits are reported, not hidden).")] = 100_000,
    out: Out = Path("dynsim-out"),
    fmt: Fmt = Format.png,
    as_json: AsJson = False,
):
    """Phase portrait of the decoupled eigenvalue dynamics (p, s) at fixed τ [Tian et al. 2021, Fig. 3].

    dp/dt = α_p s [τ - (1+σ²) p] - η p,  ds/dt = 2 p s [τ - (1+σ²) p] - 2 η s;
    and the 1-D reduction on the parabola s = p²/α_p: dp/dt = p² [τ - (1+σ²) p] - η p.
    Writes phase_portrait.{png,npz,json} into --out.
    """
    import dynsim
    from dynsim._phase_portrait import Window, default_window

    start = time.perf_counter()
    system = dynsim.EigenDynamics2D(eta=eta, sigma=sigma, tau=tau, alpha_p=alpha_p)
    window = None
    if any(v is not None for v in (p_min, p_max, s_min, s_max)):
        d = default_window(system)
        window = Window(d.p_min if p_min is None else p_min, d.p_max if p_max is None else p_max,
                        d.s_min if s_min is None else s_min, d.s_max if s_max is None else s_max)
    pp = dynsim.phase_portrait(system, window=window, n_traj=n_traj, t1=t1, rtol=rtol, atol=atol,
                               max_steps=max_steps, progress=lambda msg: _err(f"dynsim: {msg} ..."))
    summary = pp.summary()
    traj = summary["trajectories"]
    messages = [f"{summary['regime']}: {summary['regime_text']}"]
    if summary["collapse_threshold_p_minus"] is not None:
        messages.append(f"collapse threshold p*_- = {summary['collapse_threshold_p_minus']:.6g}, "
                        f"p*_+ = {summary['p_plus']:.6g}")
    if not summary["solver"]["complete"]:
        messages.append("PARTIAL: some trajectories failed: " + "; ".join(summary["solver"]["failures"]))
    messages.append(f"trajectories main {traj['main']}, zoom {traj['zoom']}")
    parameters = {"eta": eta, "sigma": sigma, "tau": tau, "alpha_p": alpha_p, "window": vars(pp.window),
                  "zoom": vars(pp.zoom), "n_traj": n_traj, "t1": pp.solver["t1"], "rtol": rtol, "atol": atol,
                  "max_steps": max_steps}
    _finish("phase-portrait", "phase_portrait", out=out, fmt=fmt, figure=dynsim.plot_phase_portrait(pp),
            arrays=pp.arrays(), parameters=parameters, summary=summary, start=start, as_json=as_json,
            messages=messages)


Model = Enum("Model", {m.replace("-", "_"): m for m in (
    "byol", "simsiam", "no-predictor", "no-stopgrad", "symmetric-predictor", "symmetrized",
    "directpred", "directcopy", "directset", "scalar")}, type=str)
Data = Enum("Data", {d: d for d in ("isotropic", "nuisance", "spectrum")}, type=str)
Norm = Enum("Norm", {d: d for d in ("paper", "code")}, type=str)


def _load_npz(path: Path, option: str, keys: tuple[str, str]):
    """Two float arrays from an .npz, or a one-line error naming ``--option``."""
    import numpy as np

    import dynsim

    try:
        with np.load(path) as z:
            return tuple(np.asarray(z[k], float) for k in keys)
    except (OSError, ValueError, KeyError) as e:
        raise dynsim.DynsimInputError(option, f"cannot read arrays {' and '.join(keys)} from {path}: {e}") from None


def _load_cov(path: Path):
    import dynsim

    x, xa = _load_npz(path, "cov", ("X", "X_aug"))
    try:
        dynsim.check_covariance("X", x)
        dynsim.check_covariance("X_aug", xa, x.shape[-1] if x.ndim == 2 else None)
    except dynsim.DynsimInputError as e:
        raise dynsim.DynsimInputError("cov", f"{path}: {e}") from None
    return x, xa


@app.command("simulate")
def simulate_cmd(
    model: Annotated[Model, typer.Argument(help="byol (Lemma 1, EMA target), simsiam (W_a = W), no-predictor "
                                                "(W_p = I), no-stopgrad, symmetric-predictor, symmetrized (the W_p/F "
                                                "system), directpred / directcopy / directset (W_p set from F̂), "
                                                "scalar (Fig. 10 of [T21]).")],
    n1: Annotated[int, typer.Option(help="n₁, input dimension (W is n₂ × n₁).")] = 8,
    n2: Annotated[Optional[int], typer.Option(help="n₂, representation dimension; default n₁.")] = None,
    data: Annotated[Optional[Data], typer.Option(help="Data model: isotropic X = I, X' = σ² I; nuisance X = I, "
                                                      "X' = σ² P_B [W21]; spectrum X = U diag(decayʲ) Uᵀ, X' = σ² I. "
                                                      "Default isotropic (nuisance for direct*).")] = None,
    cov: Annotated[Optional[Path], typer.Option(help="An .npz with the matrices X and X_aug (X'): overrides --data.")] = None,
    sigma: Annotated[Optional[float], typer.Option(help="σ, augmentation strength. Default 0.5 (1 for direct*).")] = None,
    dim_b: Annotated[Optional[int], typer.Option(help="dim B, nuisance subspace (--data nuisance); default n₁/2.")] = None,
    decay: Annotated[float, typer.Option(help="Eigenvalue ratio of X for --data spectrum.")] = 0.7,
    eta: Annotated[Optional[float], typer.Option(help="η, weight decay. Default 0.01 (0.2 for direct*).")] = None,
    alpha_p: Annotated[float, typer.Option("--alpha-p", help="α_p, relative learning rate of the predictor.")] = 1.0,
    beta: Annotated[Optional[float], typer.Option(help="β, EMA rate: dW_a/dt = β (W - W_a). Default 0.4 "
                                                       "(1 for scalar, as in Fig. 10).")] = None,
    tau: Annotated[float, typer.Option(help="τ(0) of the symmetrized system (W_a = τ W).")] = 1.0,
    alpha: Annotated[float, typer.Option(help="α of DirectSet(α): W_p = F̂^α (1/2 DirectPred, 1 DirectCopy).")] = 1.0,
    eps: Annotated[float, typer.Option(help="ε, added to the set predictor's eigenvalues (see --normalisation).")] = 0.0,
    rho: Annotated[float, typer.Option(help="ρ in [0, 1): F̂ ← ρ F̂ + (1-ρ) F per step; 0 uses F itself.")] = 0.0,
    lr: Annotated[float, typer.Option(help="Learning rate: time per training step (F̂'s EMA rate -ln ρ / lr, "
                                           "hold freq·lr).")] = 0.01,
    freq: Annotated[int, typer.Option(help="Recompute W_p every freq steps, held in between (1: continuous).")] = 1,
    normalisation: Annotated[Norm, typer.Option(help="paper: p_j = s_j^α + ε max s; code (authors' code): "
                                                     "p_j = (s_j / max s)^α + ε.")] = Norm.paper,
    seed: Annotated[int, typer.Option(help="Seed of the random initialisation.")] = 0,
    init_scale: Annotated[float, typer.Option(help="Scale of the random init: W ~ scale·N(0, 1/n₁).")] = 1.0,
    t1: Annotated[Optional[float], typer.Option(help="Integration time; default 200 (100 for direct*).")] = None,
    n_save: Annotated[int, typer.Option(help="Number of saved time points.")] = 201,
    rtol: Annotated[float, typer.Option(help="Relative tolerance (Tsit5 + PID).")] = 1e-8,
    atol: Annotated[float, typer.Option(help="Absolute tolerance.")] = 1e-10,
    max_steps: Annotated[int, typer.Option(help="Step limit (a hit is reported, output labelled partial).")] = 200_000,
    out: Out = Path("dynsim-out"),
    fmt: Fmt = Format.png,
    as_json: AsJson = False,
):
    """Integrate a non-contrastive model of [Tian et al. 2021] / [Wang et al. 2021] from a random start.

    Reports the eigenvalues of F = W X Wᵀ and of W_p, the alignment ‖[F, W_p]‖_F with Theorem 3's
    bound, Theorem 1's drift, W_p's asymmetry, corr(W_a, W) and, for the nuisance model, W on P_S
    and P_B with [W21]'s limit. Writes simulate_MODEL.{png,npz,json} into --out.
    """
    import dynsim

    start = time.perf_counter()
    name = model.value
    sim = dynsim.simulate(
        name, n1=n1, n2=n2, data=None if data is None else data.value,
        cov=None if cov is None else _load_cov(cov), sigma=sigma, dim_b=dim_b, decay=decay, eta=eta,
        alpha_p=alpha_p, beta=beta, tau=tau, alpha=alpha, eps=eps, rho=rho, lr=lr, freq=freq,
        normalisation=normalisation.value, seed=seed, init_scale=init_scale, t1=t1, n_save=n_save,
        rtol=rtol, atol=atol, max_steps=max_steps, progress=lambda msg: _err(f"dynsim: {msg} ..."))
    summary = sim.summary()
    messages = [f"PARTIAL: {summary['failure']}; outputs labelled partial"] if not summary["complete"] else []
    messages.append(f"{summary['collapsed_dims']} of {summary['dims']} eigenvalues of F collapsed by t = "
                    f"{summary['t_final']:g}; ||[F, W_p]||_F {summary['commutator_initial']:.3g} -> "
                    f"{summary['commutator_final']:.3g}")
    if "nuisance" in summary:
        messages.append(f"nuisance: {summary['nuisance']['predicted']}")
    _finish("simulate", f"simulate_{name}", out=out, fmt=fmt, figure=dynsim.plot_simulation(sim),
            arrays=sim.arrays(), parameters=sim.params, summary=summary, start=start, as_json=as_json,
            messages=messages)


Kernel = Enum("Kernel", {d: d for d in ("none", "linear", "rbf")}, type=str)


@app.command("stepwise")
def stepwise_cmd(
    m: Annotated[int, typer.Option(help="m, input dimension (W is d × m).")] = 8,
    d: Annotated[int, typer.Option(help="d, embedding dimension: the number of steps.")] = 4,
    n_pairs: Annotated[int, typer.Option(help="n, number of synthetic positive pairs.")] = 200,
    ratio: Annotated[float, typer.Option(help="Spectrum of Γ: γ_j = ratioʲ (synthetic pairs).")] = 0.6,
    noise: Annotated[float, typer.Option(help="Augmentation noise std of the synthetic pairs.")] = 0.5,
    pairs: Annotated[Optional[Path], typer.Option(help="An .npz with your views x and x_prime, (n, m) each.")] = None,
    init_scale: Annotated[float, typer.Option(help="Scale of W(0): small inits give sharp steps.")] = 1e-4,
    aligned: Annotated[bool, typer.Option(help="W(0) = U S₀ Vᵀ aligned with Γ's eigenvectors (exact closed form).")] = False,
    kernel: Annotated[Kernel, typer.Option(help="Kernel version from Gram matrices: linear (= the linear model) "
                                                "or rbf.")] = Kernel.none,
    bandwidth: Annotated[float, typer.Option(help="RBF bandwidth ℓ: k(x, y) = exp(-|x-y|²/(2ℓ²)).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the pairs and the init.")] = 0,
    t1: Annotated[Optional[float], typer.Option(help="Integration time; default past the last step time.")] = None,
    out: Out = Path("dynsim-out"),
    fmt: Fmt = Format.png,
    as_json: AsJson = False,
):
    """Stepwise learning of linear Barlow Twins [Simon et al. 2023]: dW/dt = -4 (W Γ Wᵀ - I) W Γ.

    Embedding eigenvalues against the closed form s_j(t) = e^{4γ_j t} / √(s_j(0)⁻² + (e^{8γ_j t} - 1) γ_j),
    the loss with its steps, and the step times t_j = ln(1/(γ_j s_j(0)²)) / (8γ_j).
    Writes stepwise.{png,npz,json} into --out.
    """
    import dynsim

    start = time.perf_counter()
    views = None if pairs is None else _load_npz(pairs, "pairs", ("x", "x_prime"))
    run = dynsim.stepwise(m=m, d=d, n_pairs=n_pairs, ratio=ratio, noise=noise, pairs=views, init_scale=init_scale,
                          aligned=aligned, kernel=kernel.value, bandwidth=bandwidth, seed=seed, t1=t1)
    summary = run.summary()
    messages = [f"PARTIAL: {summary['failure']}"] if not summary["complete"] else []
    messages.append("step times " + ", ".join(f"{v:.3g}" for v in summary["step_times"])
                    + f"; max |λ - closed form| = {summary['max_abs_error_lambda_vs_closed_form']:.2e}")
    _finish("stepwise", "stepwise", out=out, fmt=fmt, figure=dynsim.plot_stepwise(run), arrays=run.arrays(),
            parameters=run.params, summary=summary, start=start, as_json=as_json, messages=messages)


@app.command("check")
def check_cmd(
    names: Annotated[Optional[list[str]], typer.Argument(help="Claims to check (default: all); see --list.",
                                                         show_default=False)] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the claims and exit.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write check.json into this directory.")] = None,
    as_json: AsJson = False,
):
    """Check the claims of [Tian et al. 2021] and [Wang et al. 2021] numerically.

    Each claim is a small experiment with a measured number, a tolerance fixed with the claim and a
    verdict: reproduced, not reproduced (with the numbers), or outside conditions. Exit code 0 even
    when a claim does not reproduce: that is a finding, not an error.
    """
    import dynsim
    from dynsim._checks import REGISTRY, run_checks
    from dynsim._io import jsonable, versions

    if list_:
        for c in REGISTRY.values():
            print(f"{c.name:26s} {c.source:28s} {c.statement}")
        return
    start = time.perf_counter()
    results = run_checks(names, progress=lambda n: _err(f"dynsim: checking {n} ..."))
    records = [r.record() for r in results]
    counts = {v: sum(r.verdict == v for r in results) for v in ("reproduced", "not reproduced", "outside conditions")}
    summary = {"counts": counts, "checks": records}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        record = {"command": "check", "argv": _ARGV, "summary": summary, "versions": versions(),
                  "runtime_s": round(time.perf_counter() - start, 3)}
        (out / "check.json").write_text(json.dumps(jsonable(record), indent=2) + "\n")
    if as_json:
        print(json.dumps(jsonable(summary), indent=2))
        return
    width = max(len(r.name) for r in results)
    print(f"{'claim':{width}}  {'source':22}  {'measured':>10}  {'tolerance':>9}  verdict")
    for r in results:
        print(f"{r.name:{width}}  {r.source:22.22}  {r.measured:10.3g}  {r.tolerance:9.3g}  {r.verdict.upper()}")
        print(f"{'':{width}}  {r.metric}")
        print(f"{'':{width}}  {r.detail}")
    print(", ".join(f"{n} {k}" for k, n in counts.items()) + f" ({time.perf_counter() - start:.1f} s)")
    del dynsim


def _option_name(name: str) -> str:
    return "--" + name.replace("_", "-")


_ARGV: list[str] = []  # the arguments of this invocation, for the .json record


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dynsim`` script. Bad input: one line on stderr, exit code 2."""
    import dynsim

    global _ARGV
    _ARGV = list(sys.argv[1:] if argv is None else argv)
    dynsim.enable_compilation_cache()
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=argv, prog_name="dynsim", standalone_mode=False)
    except typer.TyperException as e:  # usage errors from the (vendored) click parser
        if type(e).__name__ == "NoArgsIsHelpError":  # bare `dynsim`: the help, not an error
            print(e.format_message())
            return 0
        _err(f"dynsim: error: {' '.join(e.format_message().split())}")
        return 2
    except dynsim.DynsimInputError as e:
        _err(f"dynsim: error: {_option_name(e.name) + ': ' if e.name else ''}{e}")
        return 2
    except BrokenPipeError:  # stdout closed early (e.g. `dynsim ... --json | head`): not our error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the Python docs' recipe
        return 0
    except typer.Abort:
        _err("dynsim: aborted")
        return 130
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
