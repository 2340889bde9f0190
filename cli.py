"""The ``dynsim`` command: a thin layer over the library (options in, files out)."""

from __future__ import annotations

import contextlib
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


class Size(str, Enum):
    column = "column"
    page = "page"


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


Out = Annotated[Path, typer.Option("--out", help="Output directory for the figure, .npz and .json.")]
Fmt = Annotated[Format, typer.Option("--format", help="Figure format.")]
#: The widths of dynsim.plot.style.WIDTHS (not imported here: it imports matplotlib).
SizeOpt = Annotated[Size, typer.Option("--size", help="Figure width: column (one column of a two-column paper, "
                                       "3.4 in) or page (two columns, 7 in).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", help="The model: a built-in name (`dynsim models` lists "
                                                 "them), FILE.py:NAME or package.module:NAME (an AbstractSystem "
                                                 "subclass or instance, or a function f(t, y, *, a=1.0, ...)).")]
ParamOpt = Annotated[Optional[list[str]], typer.Option("--param", help="NAME=VALUE for a parameter of the model "
                                                        "(repeatable); a matrix from FILE.npz or FILE.npz:KEY.")]
WindowOpt = Annotated[Optional[str], typer.Option("--window", help="LO:HI,LO:HI ranges of the two plotted "
                                                  "coordinates (append :log to an axis for a log scale).")]
AxesOpt = Annotated[Optional[str], typer.Option("--axes", help="I,J: the state components plotted (n-D models).")]
AtOpt = Annotated[Optional[str], typer.Option("--at", help="V1,V2,...: the full state at which the other components "
                                              "are held (n-D models); default zeros.")]


def _model(model: str, params: list[str] | None, shortcuts: dict):
    """The model of ``--model`` with ``--param`` and the shortcut options the user gave (``--eta`` is
    ``--param eta=...``); a shortcut the model does not have is refused."""
    from dynsim._core.loading import load_model, parse_params
    import dynsim

    values = parse_params(params)
    for name, v in shortcuts.items():
        if v is None:
            continue
        if name in values:
            raise dynsim.DynsimInputError(name, f"given twice (as --{name.replace('_', '-')} and --param {name}=...)")
        values[name] = v
    built = load_model(model)
    have = {s.name for s in built.param_specs()}
    for name in shortcuts:
        if shortcuts[name] is not None and name not in have:
            raise dynsim.DynsimInputError(name, f"does not apply to {type(built).__name__} (its parameters: "
                                                f"{', '.join(sorted(have)) or 'none'})")
    from dynsim._core.loading import with_params, check_model

    try:
        built = with_params(built, values)
        check_model(built)
    except dynsim.DynsimInputError as e:  # a value given as --param NAME=...: the option typed is --param
        if e.name in values and shortcuts.get(e.name) is None:
            raise dynsim.DynsimInputError("param", str(e)) from None
        raise
    return built


@contextlib.contextmanager
def _blame_over(swept: set):
    """A library error about a swept parameter names ``--over``, where the user gave its values."""
    import dynsim

    try:
        yield
    except dynsim.DynsimInputError as e:
        if e.name in swept:
            raise dynsim.DynsimInputError("over", str(e)) from None
        raise


#: The lower end of a range a library error names, and the upper end's option.
_ENDS = {"p_min": "p_max", "s_min": "s_max", "scale_min": "scale_max"}


@contextlib.contextmanager
def _blame_ends(given: dict):
    """A range error that the library raises about its lower end (``p_min``) names the upper end
    (``--p-max``) instead when the user gave only that one: the option the user typed."""
    import dynsim

    try:
        yield
    except dynsim.DynsimInputError as e:
        upper = _ENDS.get(e.name)
        if upper is not None and given.get(e.name) is None and given.get(upper) is not None:
            raise dynsim.DynsimInputError(upper, str(e)) from None
        scale = e.name.replace("_min", "_scale") if e.name in _ENDS else None
        if scale is not None and given.get(e.name) is None and _given(scale):  # --p-scale log on the default range
            raise dynsim.DynsimInputError(scale, f"{e} (the default range; give --{e.name.replace('_', '-')})") from None
        raise


def _plane(model, window: str | None, axes: str | None, at: str | None, **kw):
    import dynsim
    from dynsim.tools.plane import make_plane

    ax = None
    if axes is not None:
        try:
            ax = tuple(int(a) for a in axes.split(","))
        except ValueError:
            raise dynsim.DynsimInputError("axes", f"expected I,J (two state indices), got {axes!r}") from None
    at_v = None
    if at is not None:
        try:
            at_v = [float(a) for a in at.split(",")]
        except ValueError:
            raise dynsim.DynsimInputError("at", f"expected comma-separated numbers, got {at!r}") from None
    return make_plane(model, window=window, axes=ax, at=at_v, **kw)


def _model_record(model) -> dict:
    import numpy as np

    return {"model": type(model).__name__, "model_parameters": {k: np.asarray(v).tolist()
                                                                for k, v in model.parameters().items()}}


def _finish(command: str, stem: str, *, out: Path, fmt: "Format", figure, arrays: dict, parameters: dict,
            summary: dict, start: float, as_json: bool, messages: list[str]) -> None:
    """Every job's ending: the figure (given, or drawn now by calling ``figure``), .npz and .json
    written, one stderr line per message and one for the files, and the summary on stdout with --json.
    The record's ``timing_s`` splits the run after the imports: the job (options to arrays), the
    figure (drawing it) and the write of the three files."""
    import jax
    import numpy as np

    from dynsim._core.io import jsonable, write_outputs

    if jax.process_index() != 0:  # several processes (a cluster job): each holds the result, process 0 writes it
        return
    job_s = time.perf_counter() - start
    if callable(figure):
        figure = figure()
    figure_s = time.perf_counter() - start - job_s
    options = _options_in_force()
    if "size" in options:  # the figure's width (--size) is a parameter of the run's files
        parameters = {**parameters, "size": options["size"]}
    record = {"command": command, "argv": _ARGV, "parameters": parameters, "options_in_force": options,
              "input_files": _input_files(_ARGV), "source": _source(), "summary": summary,
              "arrays": {k: {"shape": list(np.shape(v)), "dtype": str(np.asarray(v).dtype)} for k, v in arrays.items()},
              "runtime_s": round(time.perf_counter() - start, 3)}
    paths = write_outputs(out, stem, figure=figure, arrays=arrays, record=record, fmt=fmt.value,
                          timing={"job": round(job_s, 3), "figure": round(figure_s, 3)})
    for msg in messages:
        _err(f"dynsim: {msg}")
    _err(f"dynsim: wrote {', '.join(str(p) for p in paths.values())} ({record['runtime_s']:.2f} s)")
    if as_json:
        print(json.dumps(jsonable(summary), indent=2))


@app.command("phase-portrait")
def phase_portrait_cmd(
    model: ModelOpt = None,
    param: ParamOpt = None,
    window: WindowOpt = None,
    axes: AxesOpt = None,
    at: AtOpt = None,
    eta: Annotated[Optional[float], typer.Option(help="η, weight decay (default 4e-4). Above η_c = τ²/(4(1+σ²)) only "
                                                      "collapse remains. [T21]'s experiments peaked at 4e-4.")] = None,
    sigma: Annotated[Optional[float], typer.Option(help="σ, augmentation strength: X' = σ² I with X = I "
                                                        "(assumption 1); default 1.")] = None,
    tau: Annotated[Optional[float], typer.Option(help="τ, EMA ratio W_a = τ W (assumption 2), held fixed; default 1.")] = None,
    alpha_p: Annotated[Optional[float], typer.Option("--alpha-p", help="α_p, relative learning rate of the predictor "
                                                                       "W_p; default 1.")] = None,
    p_min: Annotated[Optional[float], typer.Option(help="Plot range of p (eigenvalue of W_p); default -τ/(2(1+σ²)).")] = None,
    p_max: Annotated[Optional[float], typer.Option(help="Default 2τ/(1+σ²).")] = None,
    s_min: Annotated[Optional[float], typer.Option(help="Plot range of s (eigenvalue of F = W X Wᵀ); default 0.")] = None,
    s_max: Annotated[Optional[float], typer.Option(help="Default 0.8 p_max²/α_p.")] = None,
    n_traj: Annotated[int, typer.Option(min=1, max=10000, help="Sample trajectories per panel (main and zoom).")] = 16,
    t1: Annotated[Optional[float], typer.Option(help="Integration time; default 10/η clipped to [100, 1e5].")] = None,
    rtol: Annotated[float, typer.Option(help="Relative tolerance of the Tsit5 + PID step-size controller.")] = 1e-8,
    atol: Annotated[float, typer.Option(help="Absolute tolerance of the step-size controller.")] = 1e-10,
    max_steps: Annotated[int, typer.Option(min=1, max=10000000, help="Step limit per trajectory (hits are reported, not hidden).")] = 100_000,
    out: Out = Path("dynsim-out"),
    fmt: Fmt = Format.png,
    size: SizeOpt = Size.page,
    as_json: AsJson = False,
):
    """Phase portrait of the decoupled eigenvalue dynamics (p, s) at fixed τ [Tian et al. 2021, Fig. 3].

    dp/dt = α_p s [τ - (1+σ²) p] - η p,  ds/dt = 2 p s [τ - (1+σ²) p] - 2 η s;
    and the 1-D reduction on the parabola s = p²/α_p: dp/dt = p² [τ - (1+σ²) p] - η p.
    Writes phase_portrait.{png,npz,json} into --out.

    With --model (or --window/--axes/--at): the generic portrait of any model (direction field, nullclines,
    every stationary point in the window classified, the saddles' stable and unstable manifolds,
    trajectories coloured by the attractor they reach, zoom panels where stationary points sit too close
    to see). Example: dynsim phase-portrait --model examples/duffing.py:Duffing --window -2:2,-1.5:1.5
    """
    import dynsim
    from dynsim.models.eigen.portrait import Window, default_window

    start = time.perf_counter()
    if model is not None or window is not None or axes is not None or at is not None:
        if any(v is not None for v in (p_min, p_max, s_min, s_max)):
            raise dynsim.DynsimInputError("p_min", "--p-min/--p-max/--s-min/--s-max belong to the eigen figure; "
                                                   "with --model use --window LO:HI,LO:HI")
        _generic_portrait("eigen" if model is None else model, param, window, axes, at, dict(eta=eta, sigma=sigma, tau=tau, alpha_p=alpha_p),
                          n_traj=n_traj, t1=t1, rtol=rtol, atol=atol, max_steps=max_steps, out=out, fmt=fmt,
                          size=size, as_json=as_json, start=start)
        return
    if param:
        raise dynsim.DynsimInputError("param", "--param needs --model (the eigen figure takes --eta, --sigma, --tau, --alpha-p)")
    eta = 4e-4 if eta is None else eta
    sigma = 1.0 if sigma is None else sigma
    tau = 1.0 if tau is None else tau
    alpha_p = 1.0 if alpha_p is None else alpha_p
    system = dynsim.EigenDynamics2D(eta=eta, sigma=sigma, tau=tau, alpha_p=alpha_p)
    window = None
    if any(v is not None for v in (p_min, p_max, s_min, s_max)):
        d = default_window(system)
        window = Window(d.p_min if p_min is None else p_min, d.p_max if p_max is None else p_max,
                        d.s_min if s_min is None else s_min, d.s_max if s_max is None else s_max)
    with _blame_ends(dict(p_min=p_min, p_max=p_max, s_min=s_min, s_max=s_max)):
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
    _finish("phase-portrait", "phase_portrait", out=out, fmt=fmt, figure=lambda: dynsim.plot_phase_portrait(pp, size=size.value),
            arrays=pp.arrays(), parameters=parameters, summary=summary, start=start, as_json=as_json,
            messages=messages)


def _generic_portrait(model, param, window, axes, at, shortcuts, *, n_traj, t1, rtol, atol, max_steps, out, fmt,
                      size, as_json, start):
    from dynsim.tools.phase_portrait import phase_portrait, plot_phase_portrait

    m = _model(model, param, shortcuts)
    plane = _plane(m, window, axes, at)
    pp = phase_portrait(m, plane=plane, n_traj=n_traj, t1=t1, rtol=rtol, atol=atol, max_steps=max_steps,
                        progress=lambda msg: _err(f"dynsim: {msg} ..."))
    summary = pp.summary()
    messages = [f"{len(pp.fixed_points.points)} stationary point(s): " + "; ".join(
        f"{st} at ({', '.join(f'{v:.6g}' for v in y)})" for st, y in zip(pp.fixed_points.stability, pp.fixed_points.points))]
    if len(pp.panels) > 1:
        messages.append(f"{len(pp.panels) - 1} zoom panel(s) where stationary points sit close together")
    if not summary["complete"]:
        messages.append("PARTIAL: some trajectories failed: " + "; ".join(
            f for tr in summary["trajectories"] for f in tr.get("failures", [])))
    parameters = {"model_spec": model, **_model_record(m), "plane": plane.record(), "n_traj": n_traj,
                  "t1": pp.solver["t1"], "rtol": rtol, "atol": atol, "max_steps": max_steps}
    _finish("phase-portrait", "phase_portrait", out=out, fmt=fmt, figure=lambda: plot_phase_portrait(pp, size=size.value), arrays=pp.arrays(),
            parameters=parameters, summary=summary, start=start, as_json=as_json, messages=messages)


@app.command("explore")
def explore_cmd(
    model: Annotated[str, typer.Option("--model", help="The model: a built-in name (`dynsim models` lists them), "
                                                       "FILE.py:NAME or package.module:NAME.")] = "eigen",
    param: ParamOpt = None,
    window: WindowOpt = None,
    axes: AxesOpt = None,
    at: AtOpt = None,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="The port on 127.0.0.1 (0: any free one).")] = 5006,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the URL only; do not open a browser.")] = False,
    out: Out = Path("dynsim-out"),
):
    """The phase plane you can touch: a local page (Bokeh server on 127.0.0.1) with the direction field,
    nullclines and stationary points (hover: eigenvalues, type) of --model on --window, a slider and a box
    per parameter, trajectories forward and backward from a click, zoom and pan, the basin map of the view,
    and Export: the view as phase_portrait.{png,npz,json} in --out with the `dynsim phase-portrait` command
    that makes the same figure. Ctrl-C stops it. Example: dynsim explore --model examples/duffing.py:Duffing
    """
    from dynsim.tools.explore import explore

    m = _model(model, param, {})
    plane = _plane(m, window, axes, at)
    server = explore(m, window=[(a.lo, a.hi, a.log) for a in (plane.x, plane.y)], axes=plane.axes, at=plane.at,
                     model_spec=model, out=out, port=port, browser=not no_browser)
    print(server.url, flush=True)
    _err(f"dynsim: explorer of {type(m).__name__} at {server.url} (Ctrl-C stops it)")
    server.wait()


def _generic_basin_map(model, param, window, axes, at, shortcuts, *, grid, t1, rtol, atol, max_steps, chunk, out, fmt,
                       size, as_json, start):
    from dynsim.tools.basins import basin_map, plot_basin_map

    m = _model(model, param, shortcuts)
    plane = _plane(m, window, axes, at)
    bm = basin_map(m, plane=plane, grid=256 if grid is None else grid, t1=t1, rtol=rtol, atol=atol,
                   max_steps=max_steps, chunk=chunk, progress=lambda msg: _err(f"dynsim: {msg}"))
    summary = bm.summary()
    fr = summary["basin_fractions"]
    messages = ["basins: " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in fr.items()) +
                f" ({summary['timing_s']['total']:.2f} s for {summary['cells']:,} cells; "
                f"{summary['certificate']} certificates)"]
    if not summary["complete"]:
        messages.append(f"PARTIAL: {summary['counts']['not settled']} cells not settled by t1 = {bm.solver['t1']:g} "
                        f"and {summary['counts']['failed']} failed; drawn grey/black, not guessed")
    parameters = {"model_spec": model, **_model_record(m), "plane": bm.plane.record(), "t1": bm.solver["t1"],
                  "rtol": rtol, "atol": atol, "max_steps": max_steps, "chunk": chunk}
    _finish("basin-map", "basin_map", out=out, fmt=fmt, figure=lambda: plot_basin_map(bm, size=size.value), arrays=bm.arrays(),
            parameters=parameters, summary=summary, start=start, as_json=as_json, messages=messages)


MATRIX_MODELS = ("byol", "simsiam", "no-predictor", "no-stopgrad", "symmetric-predictor", "symmetrized",
                 "directpred", "directcopy", "directset")
BasinModel = Enum("BasinModel", {m.replace("-", "_"): m for m in ("eigen2d", "eigen3d", *MATRIX_MODELS)}, type=str)


def _finish_collapse(command: str, stem: str, sw, *, size: "Size", **kwargs) -> None:
    """Write a ``collapse`` sweep (fraction of random inits that collapse) with its messages."""
    import dynsim

    summary = sw.summary()
    pts = summary["per_point"]
    name = sw.ranges[0].name
    messages = [f"{summary['model']}: completely collapsed {100 * pts[0]['collapsed']:.0f}% at {name} = "
                f"{pts[0][name]:g} ... {100 * pts[-1]['collapsed']:.0f}% at {pts[-1][name]:g}; some direction "
                f"collapsed {100 * pts[0]['any_direction_collapsed']:.0f}% ... "
                f"{100 * pts[-1]['any_direction_collapsed']:.0f}% ({summary['samples']} runs per point)"]
    if summary.get("partial"):
        messages.append(f"PARTIAL: {summary['not_settled_total']} runs not settled by t1 = {summary['t1']:g} and "
                        f"{summary['failed_total']} failed; the fractions are over the settled runs (see per_point)")
    if "warning" in summary:
        messages.append(f"warning: {summary['warning']}")
    _finish(command, stem, figure=lambda: dynsim.plot_sweep(sw, size=size.value), arrays=sw.arrays(), summary=summary, messages=messages,
            **kwargs)


class Scale(str, Enum):
    linear = "linear"
    log = "log"


@app.command("basin-map")
def basin_map_cmd(
    model: Annotated[str, typer.Option(help="eigen2d: (p, s) at fixed τ; eigen3d: (p, s, τ) with the EMA "
                                            "rate β (assumption 2, W_a = τ W); a matrix model (byol, simsiam, "
                                            "..., directset): the fraction of random inits that collapse "
                                            "against the init scale; any other model (a built-in name, FILE.py:NAME, "
                                            "package.module:NAME): the generic basin map on --window.")] = "eigen2d",
    param: ParamOpt = None,
    window: WindowOpt = None,
    axes: AxesOpt = None,
    at: AtOpt = None,
    eta: Annotated[Optional[float], typer.Option(help="η, weight decay; default 4e-4 (eigen), the model's default "
                                                      "(matrix models: 0.01 byol family, 0.2 direct rules).")] = None,
    sigma: Annotated[Optional[float], typer.Option(help="σ, augmentation strength (X' = σ² I); default 1 (eigen), "
                                                        "the model's (matrix).")] = None,
    tau: Annotated[Optional[float], typer.Option(help="τ, the fixed EMA ratio (eigen2d); default 1.")] = None,
    alpha_p: Annotated[Optional[float], typer.Option("--alpha-p", help="α_p, relative learning rate of the "
                                                                       "predictor; default 1.")] = None,
    beta: Annotated[Optional[float], typer.Option(help="β, EMA rate (eigen3d, byol); default 1 (eigen3d), the "
                                                       "model's (matrix).")] = None,
    tau0: Annotated[Optional[float], typer.Option(help="τ(0), the initial EMA ratio (eigen3d); default 1.")] = None,
    p_min: Annotated[Optional[float], typer.Option(help="p₀ range (eigenvalue of W_p); default [-2p₀, 4p₀], "
                                                        "p₀ = τ/(1+σ²).")] = None,
    p_max: Annotated[Optional[float], typer.Option(help="Upper end of the p₀ range.")] = None,
    s_min: Annotated[Optional[float], typer.Option(help="s₀ range (eigenvalue of F = W X Wᵀ); default "
                                                        "[1e-10, 1]·(2p₀)²/α_p on a log axis.")] = None,
    s_max: Annotated[Optional[float], typer.Option(help="Upper end of the s₀ range.")] = None,
    p_scale: Annotated[Scale, typer.Option(help="p₀ axis spacing.")] = Scale.linear,
    s_scale: Annotated[Scale, typer.Option(help="s₀ axis spacing (log shows the collapse basin below the "
                                                "parabola).")] = Scale.log,
    grid: Annotated[Optional[int], typer.Option(min=2, max=4096, help="Initial conditions per axis; default 512 (eigen2d), 128 "
                                                     "(eigen3d, whose lanes take ~100x more steps).")] = None,
    t1: Annotated[Optional[float], typer.Option(help="Integration time for lanes not yet proven in a basin; "
                                                     "default 25/η clipped to [100, 1e7].")] = None,
    rtol: Annotated[float, typer.Option(help="Relative tolerance (Tsit5 + PID in (p, log s)).")] = 1e-6,
    atol: Annotated[float, typer.Option(help="Absolute tolerance.")] = 1e-9,
    max_steps: Annotated[int, typer.Option(min=1, max=10000000, help="Step limit per lane (hits are counted as failed).")] = 20_000,
    chunk: Annotated[int, typer.Option(min=1, max=4194304, help="Lanes integrated at once: bounds memory; progress per chunk.")] = 65536,
    scale_min: Annotated[Optional[float], typer.Option(help="Matrix models: smallest init scale (W ~ scale·N(0, 1/n₁)); "
                                                            "default 1e-3.")] = None,
    scale_max: Annotated[Optional[float], typer.Option(help="Matrix models: largest init scale; default 10.")] = None,
    samples: Annotated[Optional[int], typer.Option(min=1, max=1000000, help="Matrix models: random initialisations per "
                                                                            "init scale; default 32.")] = None,
    n1: Annotated[Optional[int], typer.Option(min=1, max=4096, help="Matrix models: input dimension n₁ (= n₂); "
                                                                    "default 8.")] = None,
    out: Out = Path("dynsim-out"),
    fmt: Fmt = Format.png,
    size: SizeOpt = Size.page,
    as_json: AsJson = False,
):
    """Basin map of the eigenvalue dynamics: which attractor each initial condition (p₀, s₀) reaches.

    Cells are labelled collapsed / non-trivial / not settled by t1 / failed. A lane stops once it is
    proven inside a basin (a trap built from the stationary points and the invariant
    s - p²/α_p = c e^{-2ηt}), so no threshold is tuned by hand. The saddle's stable manifold (the
    separatrix) is drawn on top. Writes basin_map.{png,npz,json} into --out.

    With a matrix model (e.g. --model simsiam) it integrates --samples random initialisations at each of
    --grid init scales (default 13, log-spaced in [--scale-min, --scale-max]) and reports the fraction that
    collapse (every eigenvalue of F below 1e-6 of the largest), the fraction with some collapsed direction,
    and the unsettled/failed counts. Writes basin_map.{png,npz,json}.
    """
    import dynsim
    from dynsim.models.eigen.basins import Axis, default_axes

    start = time.perf_counter()
    kind = "matrix" if model in MATRIX_MODELS else model if model in ("eigen2d", "eigen3d") else "generic"
    not_for = {"eigen2d": ("beta", "tau0", "scale_min", "scale_max", "samples", "n1"),
               "eigen3d": ("tau", "scale_min", "scale_max", "samples", "n1"),
               "matrix": ("tau0", "p_min", "p_max", "s_min", "s_max"),
               "generic": ("tau0", "scale_min", "scale_max", "samples", "n1")}[kind]
    given = dict(beta=beta, tau=tau, tau0=tau0, scale_min=scale_min, scale_max=scale_max, samples=samples, n1=n1,
                 p_min=p_min, p_max=p_max, s_min=s_min, s_max=s_max)
    for opt in not_for:
        if given[opt] is not None:
            raise dynsim.DynsimInputError(opt, f"does not apply to --model {model}")
    tau0 = 1.0 if tau0 is None else tau0
    scale_min = 1e-3 if scale_min is None else scale_min
    scale_max = 10.0 if scale_max is None else scale_max
    samples = 32 if samples is None else samples
    n1 = 8 if n1 is None else n1
    if kind == "generic":
        if any(v is not None for v in (p_min, p_max, s_min, s_max)):
            raise dynsim.DynsimInputError("p_min", "--p-min/--p-max/--s-min/--s-max belong to the eigen map; "
                                                   "with --model use --window LO:HI,LO:HI[:log]")
        _generic_basin_map(model, param, window, axes, at, dict(eta=eta, sigma=sigma, tau=tau, alpha_p=alpha_p, beta=beta),
                           grid=grid, t1=t1, rtol=rtol, atol=atol, max_steps=max_steps, chunk=chunk, out=out, fmt=fmt,
                           size=size, as_json=as_json, start=start)
        return
    for opt, v in (("param", param), ("window", window), ("axes", axes), ("at", at)):
        if v is not None:
            raise dynsim.DynsimInputError(opt, f"does not apply to --model {model} (its own options set its window); "
                                               "use it with a generic model, e.g. --model eigen")
    tau = 1.0 if tau is None else tau
    alpha_p = 1.0 if alpha_p is None else alpha_p
    model = BasinModel(model)
    if model.value in MATRIX_MODELS:
        from dynsim._core.system import check_init_scale
        from dynsim.models.byol.simulate import applicable

        _refuse_given(("rtol", "atol", "max_steps", "chunk"), f"does not apply to --model {model.value} (the "
                      "collapse fractions use their own solver settings)")
        ok = applicable(model.value)
        _refuse_given([n for n in ("eta", "sigma", "alpha_p", "beta", "tau") if n not in ok],
                      f"does not apply to --model {model.value} (its parameters: {', '.join(ok)})")
        check_init_scale(scale_min, "scale_min")
        check_init_scale(scale_max, "scale_max")
        if not scale_min < scale_max:
            raise dynsim.DynsimInputError("scale_max" if _given("scale_max") and not _given("scale_min") else
                                          "scale_min", f"the init-scale range is empty or inverted "
                                                       f"({scale_min:g} >= {scale_max:g})")
        over = dynsim.Range("init_scale", scale_min, scale_max, 13 if grid is None else grid, True)
        base = {k: v for k, v in dict(eta=eta, sigma=sigma, alpha_p=alpha_p, beta=beta, tau=tau, n1=n1).items()
                if v is not None}
        sw = dynsim.sweep("collapse", [over], base=base, t1=t1, model=model.value, samples=samples,
                          progress=lambda m: _err(f"dynsim: {m}"))
        _finish_collapse("basin-map", "basin_map", sw, out=out, fmt=fmt, size=size, start=start, as_json=as_json,
                         parameters={"model": model.value, "init_scale": vars(over), "samples": samples, **base,
                                     "t1": t1})
        return
    eta = 4e-4 if eta is None else eta
    sigma = 1.0 if sigma is None else sigma
    beta = 1.0 if beta is None else beta
    if model is BasinModel.eigen3d:
        system = dynsim.EigenDynamics3D(eta=eta, sigma=sigma, alpha_p=alpha_p, beta=beta)
    else:
        system = dynsim.EigenDynamics2D(eta=eta, sigma=sigma, tau=tau, alpha_p=alpha_p)
    num = grid if grid is not None else (128 if model is BasinModel.eigen3d else 512)
    dp, ds = default_axes(system, 2)
    p_axis = Axis("p", dp.lo if p_min is None else p_min, dp.hi if p_max is None else p_max, num,
                  p_scale is Scale.log)
    s_axis = Axis("s", ds.lo if s_min is None else s_min, ds.hi if s_max is None else s_max, num,
                  s_scale is Scale.log)
    with _blame_ends(dict(p_min=p_min, p_max=p_max, s_min=s_min, s_max=s_max)):
        bm = dynsim.basin_map(system, p=p_axis, s=s_axis, tau0=tau0, t1=t1, rtol=rtol, atol=atol,
                              max_steps=max_steps, chunk=chunk, progress=lambda msg: _err(f"dynsim: {msg}"))
    summary = bm.summary()
    fr, c = summary["basin_fractions"], summary["counts"]
    messages = [f"basins: collapsed {100 * fr['collapsed']:.2f}%, non-trivial {100 * fr['non-trivial']:.2f}%; "
                f"{c['not settled']} not settled by t1, {c['failed']} failed "
                f"({summary['timing_s']['total']:.2f} s for {summary['cells']:,} cells)"]
    if not summary["complete"]:
        messages.append(f"PARTIAL: {c['not settled']} cells not settled by t1 = {bm.solver['t1']:g} and "
                        f"{c['failed']} failed {bm.solver['failures'] or ''}; they are drawn grey/black, not guessed"
                        + (f" ({bm.solver['failures_note']})" if "failures_note" in bm.solver else ""))
    parameters = {"model": model.value, "eta": eta, "sigma": sigma, "alpha_p": alpha_p,
                  **({"beta": beta, "tau0": tau0} if model is BasinModel.eigen3d else {"tau": tau}),
                  "p_axis": vars(p_axis), "s_axis": vars(s_axis), "t1": bm.solver["t1"], "rtol": rtol,
                  "atol": atol, "max_steps": max_steps, "chunk": chunk}
    _finish("basin-map", "basin_map", out=out, fmt=fmt, figure=lambda: dynsim.plot_basin_map(bm, size=size.value), arrays=bm.arrays(),
            parameters=parameters, summary=summary, start=start, as_json=as_json, messages=messages)


@app.command("sweep")
def sweep_cmd(
    kind: Annotated[str, typer.Argument(help="fixed-points: the stationary points of any --model and their stability; "
                                             "basin-fractions: its Monte Carlo basin fractions on --window; "
                                             "basin-size: collapsed fraction of the (p₀, s₀) window; alignment: "
                                             "fraction of [0, t1] where p(τ-kp) < (α_p k s + 3η)/2 holds; "
                                             "bifurcation: stationary p* and their stability; collapse: fraction "
                                             "of random inits of the matrix --model that collapse.")],
    over: Annotated[list[str], typer.Option(help="NAME=LO:HI:N[:log], NAME one of η eta, σ sigma, τ tau, α_p alpha_p, "
                                                 "β beta (β uses the (p, s, τ) EMA system); for collapse also "
                                                 "init_scale and α alpha (DirectSet's exponent). Give it twice for "
                                                 "a pair.")],
    eta: Annotated[Optional[float], typer.Option(help="η when not swept (default 4e-4; collapse: the model's).")] = None,
    sigma: Annotated[Optional[float], typer.Option(help="σ when not swept (default 1; collapse: the model's).")] = None,
    tau: Annotated[Optional[float], typer.Option(help="τ when not swept (default 1).")] = None,
    alpha_p: Annotated[Optional[float], typer.Option("--alpha-p", help="α_p when not swept (default 1).")] = None,
    beta: Annotated[Optional[float], typer.Option(help="β when not swept (default 1; collapse: the model's).")] = None,
    grid: Annotated[Optional[int], typer.Option(min=2, max=4096, help="Initial conditions per axis of the window at each point "
                                                     "(default 96; 32 with β; 24 for alignment).")] = None,
    t1: Annotated[Optional[float], typer.Option(help="basin-size and collapse: integration time (default 25/η); "
                                                     "alignment: the time window (default 1000).")] = None,
    model: Annotated[Optional[str], typer.Option(help="collapse: the matrix model (byol, simsiam, no-predictor, "
                                                      "no-stopgrad, symmetric-predictor, symmetrized, directpred, "
                                                      "directcopy, directset; default simsiam); fixed-points and "
                                                      "basin-fractions: any model (built-in, FILE.py:NAME, "
                                                      "package.module:NAME; default eigen).")] = None,
    param: ParamOpt = None,
    window: WindowOpt = None,
    axes: AxesOpt = None,
    at: AtOpt = None,
    samples: Annotated[int, typer.Option(min=1, max=1000000, help="collapse: random initialisations per parameter point.")] = 32,
    init_scale: Annotated[float, typer.Option(help="collapse: init scale when not swept.")] = 1.0,
    out: Out = Path("dynsim-out"),
    fmt: Fmt = Format.png,
    size: SizeOpt = Size.page,
    as_json: AsJson = False,
):
    """Regime diagrams over one hyperparameter or a pair: basin size, alignment, bifurcation [T21], and the
    collapse of random initialisations of the matrix models.

    Example: dynsim sweep basin-size --over alpha_p=0.25:4:9:log; dynsim sweep bifurcation --over eta=0:0.15:61;
    dynsim sweep collapse --model simsiam --over init_scale=1e-3:10:13:log.
    Writes sweep_<kind>.{png,npz,json} into --out.
    """
    import dynsim

    start = time.perf_counter()
    from dynsim.models.eigen.sweep import KINDS

    if kind not in ("fixed-points", "basin-fractions", *KINDS):
        raise dynsim.DynsimInputError("kind", f"unknown sweep {kind!r}: one of fixed-points, basin-fractions, "
                                              f"{', '.join(KINDS)}")
    if kind in ("fixed-points", "basin-fractions"):
        from dynsim.tools.sweep import parse_range, plot_model_sweep, sweep_model

        if len(over) != 1:
            raise dynsim.DynsimInputError("over", f"{kind} sweeps one parameter (got {len(over)} --over)")
        axis = parse_range(over[0])
        _not_also_a_param(param, {axis.name}, "is swept by --over: give it there only")
        m = _model("eigen" if model is None else model, param, dict(eta=eta, sigma=sigma, tau=tau, alpha_p=alpha_p, beta=beta))
        plane = _plane(m, window, axes, at)
        sw = sweep_model(m, axis, quantity=kind, plane=plane, samples=samples, t1=t1,
                         progress=lambda msg: _err(f"dynsim: {msg}"))  # names its argument over itself
        summary = sw.summary()
        messages = [] if summary["complete"] else ["PARTIAL: some samples not settled or failed (see points)"]
        _finish("sweep", f"sweep_{kind}", out=out, fmt=fmt, figure=lambda: plot_model_sweep(sw, size=size.value), arrays=sw.arrays(),
                parameters={"kind": kind, "over": over, "model_spec": model or "eigen", **_model_record(m),
                            "plane": plane.record(), "samples": samples, "t1": t1},
                summary=summary, start=start, as_json=as_json, messages=messages)
        return
    for opt, v in (("param", param), ("window", window), ("axes", axes), ("at", at)):
        if v is not None:
            raise dynsim.DynsimInputError(opt, f"does not apply to sweep {kind} (it applies to fixed-points and "
                                               "basin-fractions)")
    if model is not None and kind != "collapse":
        raise dynsim.DynsimInputError("model", f"does not apply to sweep {kind} (the eigen system); use "
                                               "fixed-points or basin-fractions for another model")
    model = model or "simsiam"
    ranges = [dynsim.Range.parse(o) for o in over]
    swept = {r.name for r in ranges}
    _refuse_given([n for n in ("eta", "sigma", "tau", "alpha_p", "beta", "init_scale") if n in swept],
                  "is swept by --over: give it there only")
    if kind == "collapse":
        from dynsim.models.byol.simulate import MODELS, applicable

        _refuse_given(("grid",), "does not apply to sweep collapse (--over NAME=LO:HI:N sets the grid)")
        if model in MODELS and model != "scalar":
            ok = applicable(model)
            _refuse_given([n for n in ("eta", "sigma", "tau", "alpha_p", "beta") if n not in ok],
                          f"does not apply to --model {model} (its parameters: {', '.join(ok)})")
    else:
        _refuse_given(("samples", "init_scale", "beta"), f"does not apply to sweep {kind} (the eigenvalue "
                      "dynamics at fixed τ; β and the random inits belong to sweep collapse, sweep β with --over)")
        if kind == "bifurcation":
            _refuse_given(("alpha_p", "t1", "grid"), "does not apply to sweep bifurcation (the stationary p* of "
                          "dp/dt = p²[τ − (1+σ²)p] − ηp)")
    base = {k: v for k, v in dict(eta=eta, sigma=sigma, tau=tau, alpha_p=alpha_p, beta=beta).items() if v is not None}
    parameters = {"kind": kind, "over": over, **base, "grid": grid, "t1": t1}
    progress = lambda m: _err(f"dynsim: {m}")  # noqa: E731
    if kind == "collapse":
        with _blame_over(swept):
            sw = dynsim.sweep(kind, ranges, base={**base, "init_scale": init_scale}, t1=t1, model=model,
                              samples=samples, progress=progress)
        _finish_collapse("sweep", f"sweep_{kind}", sw, out=out, fmt=fmt, size=size, start=start, as_json=as_json,
                         parameters={**parameters, "model": model, "samples": samples, "init_scale": init_scale})
        return
    with _blame_over(swept):
        sw = dynsim.sweep(kind, ranges, base=base, grid=grid, t1=t1, progress=progress)
    summary = sw.summary()
    messages = []
    if summary.get("partial"):
        messages.append(f"PARTIAL: {summary['not_settled_or_failed_total']} cells not settled by t1 or failed; "
                        "they count in neither basin (see per_point)")
    if "fold_within_bracket" in summary:
        messages.append(f"saddle-node measured in {summary['fold_bracket_measured']}, closed form eta_c = "
                        f"{summary['eta_critical_closed_form']:.6g}")
    _finish("sweep", f"sweep_{kind}", out=out, fmt=fmt, figure=lambda: dynsim.plot_sweep(sw, size=size.value), arrays=sw.arrays(),
            parameters=parameters, summary=summary, start=start, as_json=as_json, messages=messages)


def _prediction_head(seed, start, out, fmt, as_json, given: dict, size: "Size") -> None:
    """``dynsim simulate prediction-head``: [WL22]'s network with a trained head and with E = I."""
    import dynsim

    for opt, value in given.items():
        if value is not None and opt not in ("seed", "progress", "rtol", "atol", "max_steps", "n_save", "decay"):
            raise dynsim.DynsimInputError(opt, "does not apply to prediction-head (its options are the library's "
                                               "simulate_prediction_head keywords)")
    run = dynsim.simulate_prediction_head(seed=seed, progress=lambda m: _err(f"dynsim: {m}"))
    summary = run.summary()
    tr, fx = summary["trained_head"], summary["fixed_head"]
    ph = summary["phase_times_median"]
    messages = [f"trained head: features separated in {tr['fraction_separated']:.0%} of seeds; E = I: collapsed onto "
                f"v1 in {fx['fraction_collapsed']:.0%}",
                "phases (median steps): " + ", ".join(f"{k} {v:g}" for k, v in ph.items() if v is not None)
                + f"; peak |E_ij| {summary['offdiag_peak_median'] or float('nan'):.3g}"]
    messages += [f"{'reproduced' if c['passed'] else 'NOT reproduced'}: {c['claim']}" for c in summary["claims"]]
    if summary["diverged"]:
        messages.insert(0, "PARTIAL: a run diverged (see diverged_at_step); its later logs are NaN")
    _finish("simulate", "simulate_prediction-head", out=out, fmt=fmt, figure=lambda: dynsim.plot_prediction_head(run, size=size.value),
            arrays=run.arrays(), parameters=summary["params"], summary=summary, start=start, as_json=as_json,
            messages=messages)


CompareModel = Enum("CompareModel", {m.replace("-", "_"): m for m in ("byol", "simsiam", "directpred", "directcopy",
                                                                      "directset", "barlow", "infonce",
                                                                      "infonce-2layer")}, type=str)


@app.command("compare")
def compare_cmd(
    model: Annotated[CompareModel, typer.Argument(help="byol/simsiam: eigenvalues of F (and W_p) against Lemma 1's "
                                                      "matrix ODE; directpred/directcopy/directset: also W_p against "
                                                      "the set rule; barlow: singular values against the ODE, the "
                                                      "closed form s_j(t) and the step times [S23]; infonce: the "
                                                      "jing-case1 preset, infonce-2layer: jing-case2 [J22].")],
    lr: Annotated[Optional[list[float]], typer.Option(help="Learning rates α (give it several times); time t = α × "
                                                           "step. Default per model, e.g. 0.04 0.02 0.01.")] = None,
    batch: Annotated[Optional[list[int]], typer.Option(help="Batch sizes (several times). Default 64 256 1024 "
                                                            "(InfoNCE: the preset's 128).")] = None,
    time_: Annotated[Optional[float], typer.Option("--time", help="Flow time T = lr × steps of every run "
                                                                 "(default per model).")] = None,
    seeds: Annotated[int, typer.Option(min=1, max=1024, help="Seeds per run (vmapped): initialisations and data streams.")] = 4,
    width: Annotated[Optional[int], typer.Option(min=1, max=4096, help="Width n₂ of the representation (default 8; Barlow Twins 4).")] = None,
    n1: Annotated[Optional[int], typer.Option(min=1, max=4096, help="Input dimension n₁ (default: the width; Barlow Twins 8).")] = None,
    eta: Annotated[Optional[float], typer.Option(help="η, weight decay (BYOL family; default the model's).")] = None,
    sigma: Annotated[Optional[float], typer.Option(help="σ, augmentation: X' = σ² I (or σ² P_B) (default the "
                                                        "model's).")] = None,
    alpha_p: Annotated[float, typer.Option("--alpha-p", help="α_p: the predictor's learning rate is α_p × lr.")] = 1.0,
    beta: Annotated[Optional[float], typer.Option(help="β, EMA rate: momentum γ_a = 1 − lr β (byol).")] = None,
    seed: Annotated[int, typer.Option(min=0, max=4294967295, help="Base random seed.")] = 0,
    bias: Annotated[bool, typer.Option("--bias", help="InfoNCE: layers h → W_k h + b_k with a trained bias b_k "
                                                      "(PyTorch nn.Linear's init), as the authors' scripts; the "
                                                      "ODE has none and becomes a reference.")] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="InfoNCE: fresh augmentation noise on the pairs' contents "
                                                        "at every step, as the authors' scripts, instead of the "
                                                        "flow's fixed pairs (the ODE becomes a reference).")] = False,
    out: Out = Path("dynsim-out"),
    fmt: Fmt = Format.png,
    size: SizeOpt = Size.page,
    as_json: AsJson = False,
):
    """Train real networks with SGD (optax; one jitted scan, vmapped over seeds) and compare with the ODE.

    Every run goes to the same flow time T = lr × steps; the discrepancy (max relative error of the
    spectrum against the ODE integrated from each seed's own start) is reported for each (lr, batch) with
    the measured rates err ∝ lr^a and batch^b. A learning rate that diverges is reported with its step
    (exit 2), not written out. Writes compare_<model>.{png,npz,json}.
    """
    import dynsim

    start = time.perf_counter()
    opts = {k: v for k, v in dict(width=width, n1=n1, eta=eta, sigma=sigma, beta=beta).items() if v is not None}
    opts.update({k: True for k, v in dict(bias=bias, fresh=fresh).items() if v})
    if model.value not in ("barlow", "infonce", "infonce-2layer"):
        opts["alpha_p"] = alpha_p
    c = dynsim.compare(model.value, lrs=lr, batches=batch, T=time_, seeds=seeds, seed=seed,
                       progress=lambda m: _err(f"dynsim: {m}"), **opts)
    summary = c.summary()
    rates = c.rates()
    messages = [f"{model.value}: discrepancy {summary['discrepancy_best']:.3g} at lr {min(c.lrs):g}, batch "
                f"{max(c.batches)}" + "".join(f"; {k.replace('_', ' ')} {v:.2f}" for k, v in rates.items())]
    if "reference_only" in summary["checks"]:
        messages.append(f"note: {summary['checks']['reference_only']}")
    if "collapsed_train_per_seed" in summary["checks"]:
        ch = summary["checks"]
        messages.append("collapsed directions per seed: " + ", ".join(map(str, ch["collapsed_train_per_seed"]))
                        + " (s_j < 1e-3 s_1); the authors' spectrum s_j² below 1e-3: "
                        + ", ".join(map(str, ch["authors_spectrum_below_1e-3_per_seed"])) + "; below 1e-6: "
                        + ", ".join(map(str, ch["authors_spectrum_below_1e-6_per_seed"])))
    if summary["shrinks_with_lr"] is False or summary["shrinks_with_batch"] is False:
        messages.append("note: the discrepancy does not shrink monotonically over the whole grid (see discrepancy)")
    _finish("compare", f"compare_{model.value}", out=out, fmt=fmt, figure=lambda: dynsim.plot_comparison(c, size=size.value),
            arrays=c.arrays(), parameters={"model": model.value, "lrs": list(c.lrs), "batches": list(c.batches),
                                           "T": float(c.t[-1]), "seeds": seeds, "seed": seed, **opts},
            summary=summary, start=start, as_json=as_json, messages=messages)


NONCONTRASTIVE = ("byol", "simsiam", "no-predictor", "no-stopgrad", "symmetric-predictor", "symmetrized",
                  "directpred", "directcopy", "directset", "scalar")
CONTRASTIVE = ("infonce", "infonce-2layer", "directclr")


def _registered_jobs() -> tuple[str, ...]:
    """The registry's models that name a simulate job (dynsim/models/registry.py run on its own: importing
    dynsim would import jax, which building the command line does not need)."""
    import importlib.util

    spec = importlib.util.find_spec("dynsim")  # finds the package without importing it
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "registry.py"
    mspec = importlib.util.spec_from_file_location("_dynsim_registry_names", path)
    module = importlib.util.module_from_spec(mspec)
    sys.modules[mspec.name] = module  # dataclasses look their module up
    try:
        mspec.loader.exec_module(module)
        return module.simulate_names()
    finally:
        del sys.modules[mspec.name]


JOBS = _registered_jobs()  # jepa, ...: `dynsim simulate NAME` dispatches to the registry's job
Model = Enum("Model", {m.replace("-", "_"): m for m in (*NONCONTRASTIVE, *CONTRASTIVE, "prediction-head", *JOBS)},
             type=str)
Data = Enum("Data", {d: d for d in ("isotropic", "nuisance", "spectrum")}, type=str)
Norm = Enum("Norm", {d: d for d in ("paper", "code")}, type=str)
NceKernel = Enum("NceKernel", {d: d for d in ("gaussian", "dot")}, type=str)
Init = Enum("Init", {d: d for d in ("gaussian", "uniform", "spectral")}, type=str)
Preset = Enum("Preset", {d.replace("-", "_"): d for d in ("jing-case1", "jing-case2")}, type=str)
NC_PANEL = "Non-contrastive models (byol ... scalar)"
C_PANEL = "Contrastive models (infonce, infonce-2layer, directclr)"


def _load_npz(path: Path, option: str, keys: tuple[str, str]):
    """Two float arrays from an .npz, or a one-line error naming ``--option``."""
    import numpy as np

    import dynsim
    from dynsim._core.system import MAGNITUDE_RANGE

    wanted = " and ".join(keys)

    def unreadable(e: Exception):
        msg = " ".join(str(e).split()) or type(e).__name__
        return dynsim.DynsimInputError(option, f"cannot read arrays {wanted} from {path}: {msg}")

    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - missing, empty, truncated, pickled: one line
        raise unreadable(e) from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise dynsim.DynsimInputError(option, f"{path} holds one array (.npy); give an .npz archive with arrays "
                                              f"{wanted} (numpy.savez)")
    with z:
        missing = [k for k in keys if k not in z.files]
        if missing:
            raise dynsim.DynsimInputError(option, f"{path} has no array {' or '.join(missing)} (it holds: "
                                                  f"{', '.join(z.files) or 'nothing'}); give arrays {wanted}")
        try:
            arrays = tuple(np.asarray(z[k], float) for k in keys)
        except Exception as e:  # noqa: BLE001 - a truncated member, a non-numeric array: one line
            raise unreadable(e) from None
    top = MAGNITUDE_RANGE[1]
    for k, a in zip(keys, arrays):
        if a.size == 0 or not np.all(np.isfinite(a)):
            raise dynsim.DynsimInputError(option, f"array {k} in {path} must be non-empty and finite")
        magnitude = np.abs(a)
        largest = float(np.max(magnitude))
        smallest = float(np.min(magnitude, initial=np.inf, where=magnitude > 0))
        if smallest < MAGNITUDE_RANGE[0]:
            raise dynsim.DynsimInputError(option, f"array {k} in {path} has entries of magnitude below "
                                                  f"{MAGNITUDE_RANGE[0]:g} (got {smallest:.3g}): give 0 or a magnitude "
                                                  "that keeps its products normal")
        if largest > top:
            raise dynsim.DynsimInputError(option, f"array {k} in {path} has entries of magnitude above {top:g} (got "
                                                  f"{largest:.3g}): their squares and products would overflow")
    return arrays


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
                                                "scalar (Fig. 10 of [T21]); infonce, infonce-2layer, directclr "
                                                "(InfoNCE gradient flows of [J22]); prediction-head ([WL22]); jepa "
                                                "(JEPA and MAE in deep linear networks [L24]: --layers is the "
                                                "depth L, default 3, --init-scale the start eps, default 1e-3); "
                                                "simsiam-cosine (the population cosine loss against the Euclidean "
                                                "one [B23], --n1 the dimension, default 4, eta 0.2); vicreg (linear "
                                                "VICReg with the paper's coefficients [BPL22]).")],
    n1: Annotated[Optional[int], typer.Option(min=1, max=4096, help="n₁, input dimension (W is n₂ × n₁). Default 8 (16 for the "
                                                   "contrastive models).")] = None,
    data: Annotated[Optional[Data], typer.Option(help="Data model: isotropic X = I, X' = σ² I; nuisance X = I, "
                                                      "X' = σ² P_B [W21]; spectrum X = U diag(decayʲ) Uᵀ, X' = σ² I. "
                                                      "For the contrastive models X, X' are the covariances of the "
                                                      "data and of the augmentation noise (Fig. 3 of [J22]: nuisance, "
                                                      "k = σ²). Default per model.")] = None,
    cov: Annotated[Optional[Path], typer.Option(help="An .npz with the matrices X and X_aug (X'): overrides --data.")] = None,
    sigma: Annotated[Optional[float], typer.Option(help="σ, augmentation strength. Default 0.5 (1 for direct*, 2 for "
                                                        "infonce and directclr, 0.01 for infonce-2layer).")] = None,
    dim_b: Annotated[Optional[int], typer.Option(min=0, max=4096, help="dim B, the augmented (nuisance) subspace: the last dim B "
                                                      "coordinates (--data nuisance); default n₁/2.")] = None,
    decay: Annotated[Optional[float], typer.Option(help="Eigenvalue ratio of X for --data spectrum. Default 0.7.")] = None,
    seed: Annotated[int, typer.Option(min=0, max=4294967295, help="Seed of the random initialisation (and of the sampled pairs).")] = 0,
    init_scale: Annotated[Optional[float], typer.Option(help="Scale of the random init: W ~ scale·N(0, 1/fan-in). "
                                                             "Default 1 (0.1 for infonce-2layer).")] = None,
    t1: Annotated[Optional[float], typer.Option(help="Integration time (learning rate × steps); default per "
                                                     "model.")] = None,
    n_save: Annotated[int, typer.Option(min=2, max=100000, help="Number of saved time points.")] = 201,
    rtol: Annotated[float, typer.Option(help="Relative tolerance (Tsit5 + PID).")] = 1e-8,
    atol: Annotated[float, typer.Option(help="Absolute tolerance.")] = 1e-10,
    max_steps: Annotated[int, typer.Option(min=1, max=10000000, help="Step limit (a hit is reported, output labelled partial).")] = 200_000,
    n2: Annotated[Optional[int], typer.Option(min=1, max=4096, help="n₂, representation dimension; default n₁.",
                                              rich_help_panel=NC_PANEL)] = None,
    eta: Annotated[Optional[float], typer.Option(help="η, weight decay. Default 0.01 (0.2 for direct*).",
                                                 rich_help_panel=NC_PANEL)] = None,
    alpha_p: Annotated[Optional[float], typer.Option("--alpha-p", help="α_p, relative learning rate of the "
                                                                       "predictor. Default 1.",
                                                     rich_help_panel=NC_PANEL)] = None,
    beta: Annotated[Optional[float], typer.Option(help="β, EMA rate: dW_a/dt = β (W - W_a). Default 0.4 "
                                                       "(1 for scalar, as in Fig. 10).", rich_help_panel=NC_PANEL)] = None,
    tau: Annotated[Optional[float], typer.Option(help="τ(0) of the symmetrized system (W_a = τ W). Default 1.",
                                                 rich_help_panel=NC_PANEL)] = None,
    alpha: Annotated[Optional[float], typer.Option(help="α of DirectSet(α): W_p = F̂^α (1/2 DirectPred, 1 "
                                                        "DirectCopy). Default 1.", rich_help_panel=NC_PANEL)] = None,
    eps: Annotated[Optional[float], typer.Option(help="ε, added to the set predictor's eigenvalues (see "
                                                      "--normalisation). Default 0.", rich_help_panel=NC_PANEL)] = None,
    rho: Annotated[Optional[float], typer.Option(help="ρ in [0, 1): F̂ ← ρ F̂ + (1-ρ) F per step; 0 (default) uses "
                                                      "F itself.", rich_help_panel=NC_PANEL)] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate: time per training step (F̂'s EMA rate -ln ρ / "
                                                     "lr, hold freq·lr). Default 0.01.", rich_help_panel=NC_PANEL)] = None,
    freq: Annotated[Optional[int], typer.Option(min=1, max=1000000, help="Recompute W_p every freq steps, held in between (1, the "
                                                     "default: continuous).", rich_help_panel=NC_PANEL)] = None,
    normalisation: Annotated[Optional[Norm], typer.Option(help="paper (default): p_j = s_j^α + ε max s; code "
                                                               "(authors' code): p_j = (s_j / max s)^α + ε.",
                                                          rich_help_panel=NC_PANEL)] = None,
    preset: Annotated[Optional[Preset], typer.Option(help="The setup of the authors' toy scripts as a gradient "
                                                          "flow: jing-case1 (infonce: dot kernel, temperature 0.1, "
                                                          "noise std 1.5 on 8 of 16 dims, t = 10) or jing-case2 "
                                                          "(infonce-2layer: noise 1e-3, init e^{-0.35k}, t = 100). "
                                                          "Other options override it.", rich_help_panel=C_PANEL)] = None,
    kernel: Annotated[Optional[NceKernel], typer.Option(help="InfoNCE similarity: gaussian exp(-|z_i - z_j|²/2τ) (the "
                                                             "paper's analysis, default) or dot exp(z_i·z'_j/τ) (the "
                                                             "authors' scripts).", rich_help_panel=C_PANEL)] = None,
    temperature: Annotated[Optional[float], typer.Option(help="τ, the InfoNCE temperature. Default 1.",
                                                         rich_help_panel=C_PANEL)] = None,
    samples: Annotated[Optional[int], typer.Option(min=1, max=1000000, help="n, number of positive pairs (fixed; both views "
                                                        "augmented). Default 512.", rich_help_panel=C_PANEL)] = None,
    batch: Annotated[Optional[int], typer.Option(min=1, max=1000000, help="Mini-batch size b (divides n): the loss is the mean over "
                                                      "fixed batches of b pairs. Default n (full batch).",
                                                 rich_help_panel=C_PANEL)] = None,
    layers: Annotated[Optional[int], typer.Option(min=1, max=64, help="L, number of linear layers, z = W_L ... W_1 x. Default 1 "
                                                       "(2 for infonce-2layer; DirectCLR has one).", rich_help_panel=C_PANEL)] = None,
    d0: Annotated[Optional[int], typer.Option(min=1, max=4096, help="d₀, DirectCLR: the loss sees the first d₀ coordinates of the "
                                                   "representation. Default n₁/2.", rich_help_panel=C_PANEL)] = None,
    init: Annotated[Optional[Init], typer.Option(help="Initialisation: gaussian N(0, scale²/fan-in) (default), "
                                                      "uniform (PyTorch's nn.Linear default, scale·U(-1/√fan-in, "
                                                      "1/√fan-in)) or spectral (case 2: W = U diag(e^{-0.35k}) Vᵀ); "
                                                      "DirectCLR: gaussian only.", rich_help_panel=C_PANEL)] = None,
    views: Annotated[Optional[Path], typer.Option(help="An .npz with your positive pairs x and x_prime, (n, dim) "
                                                       "each: replaces the sampled data.",
                                                  rich_help_panel=C_PANEL)] = None,
    out: Out = Path("dynsim-out"),
    fmt: Fmt = Format.png,
    size: SizeOpt = Size.page,
    as_json: AsJson = False,
):
    """Integrate a model of [Tian et al. 2021] / [Wang et al. 2021] / [Jing et al. 2022] from a random start.

    Non-contrastive models: the eigenvalues of F = W X Wᵀ and of W_p, the alignment ‖[F, W_p]‖_F with
    Theorem 3's bound, Theorem 1's drift, W_p's asymmetry, corr(W_a, W) and, for the nuisance model,
    W on P_S and P_B with [W21]'s limit. Contrastive models (InfoNCE gradient flow on n fixed pairs):
    the singular values of W = W_L...W_1 and how many collapse, the effective X = Σ₀ - Σ₁ (Lemma 1),
    with two layers the conserved W₁W₁ᵀ - W₂ᵀW₂, the alignment |V₂ᵀU₁| (Theorem 2) and Theorem 3's
    residual; DirectCLR also against no / linear / two-layer projectors.
    Writes simulate_MODEL.{png,npz,json} into --out.
    """
    import dynsim

    start = time.perf_counter()
    name = model.value
    progress = lambda msg: _err(f"dynsim: {msg} ...")  # noqa: E731
    shared = dict(data=None if data is None else data.value, cov=None if cov is None else _load_cov(cov),
                  sigma=sigma, dim_b=dim_b, decay=decay, seed=seed, init_scale=init_scale, t1=t1, n_save=n_save,
                  rtol=rtol, atol=atol, max_steps=max_steps, progress=progress)
    own = dict(n2=n2, eta=eta, alpha_p=alpha_p, beta=beta, tau=tau, alpha=alpha, eps=eps, rho=rho, lr=lr, freq=freq,
               normalisation=None if normalisation is None else normalisation.value)
    contrastive = dict(preset=None if preset is None else preset.value, kernel=None if kernel is None else kernel.value,
                       temperature=temperature, samples=samples, batch=batch, layers=layers, d0=d0,
                       init=None if init is None else init.value, views=views)
    if name == "prediction-head":
        return _prediction_head(seed, start, out, fmt, as_json, given={**shared, **own, **contrastive}, size=size)
    if name in JOBS:  # a registered model's own job (dynsim.models.registry: job="module:function")
        from dynsim.models import registry

        job = registry.simulate_job(name)({"n1": n1, **shared, **own, **contrastive}, size=size.value)
        return _finish("simulate", f"simulate_{name}", out=out, fmt=fmt, figure=job["figure"], arrays=job["arrays"],
                       parameters=job["parameters"], summary=job["summary"], start=start, as_json=as_json,
                       messages=job["messages"])
    wrong = own if name in CONTRASTIVE else contrastive
    for opt, value in wrong.items():
        if value is not None:
            raise dynsim.DynsimInputError(opt, f"applies to the {'non-' if name in CONTRASTIVE else ''}contrastive "
                                               f"models only, not to {name}")
    if name in CONTRASTIVE:
        if views is not None:
            contrastive["views"] = _load_npz(views, "views", ("x", "x_prime"))
        run = dynsim.simulate_collapse(name, dim=n1, **{k: v for k, v in contrastive.items() if v is not None},
                                       **shared)
        summary = run.summary()
        messages = [f"{summary['collapsed_dims']} of {summary['dims']} singular values collapsed by t = "
                    f"{summary['t_final']:g} ({summary['shrinking_dims_final']} still shrinking; X has "
                    f"{summary['X_negative_eigenvalues_final']} negative eigenvalues); effective rank "
                    f"{summary['effective_rank_initial']:.2f} -> {summary['effective_rank_final']:.2f}"]
        if "grown_dims" in summary:
            messages.append(f"conserved C drift {summary['conserved_max_relative_drift']:.1e}; "
                            f"{summary['grown_dims']} directions grew, aligned to cosine "
                            f"{summary['alignment_grown_min'] if summary['alignment_grown_min'] is not None else float('nan'):.6f}")
        if "representation_rank" in summary:
            messages.append("representation rank: " + ", ".join(
                f"{k} {v['effective_rank']:.2f}" for k, v in summary["representation_rank"].items()))
        figure, arrays, params = lambda: dynsim.plot_collapse(run, size=size.value), run.arrays(), run.params
        params = {k: v for k, v in params.items() if not (k == "d0" and v is None)}  # the record: what the run used
    else:
        sim = dynsim.simulate(name, n1=n1, **{k: v for k, v in own.items() if v is not None},
                              **{k: v for k, v in shared.items() if k != "init_scale" and v is not None},
                              init_scale=1.0 if init_scale is None else init_scale)
        summary = sim.summary()
        messages = [f"{summary['collapsed_dims']} of {summary['dims']} eigenvalues of F collapsed by t = "
                    f"{summary['t_final']:g}; ||[F, W_p]||_F {summary['commutator_initial']:.3g} -> "
                    f"{summary['commutator_final']:.3g}"]
        if "nuisance" in summary:
            messages.append(f"nuisance: {summary['nuisance']['predicted']}")
        figure, arrays, params = lambda: dynsim.plot_simulation(sim, size=size.value), sim.arrays(), sim.params
    if not summary["complete"]:
        messages.insert(0, f"PARTIAL: {summary['failure']}; outputs labelled partial")
    _finish("simulate", f"simulate_{name}", out=out, fmt=fmt, figure=figure, arrays=arrays, parameters=params,
            summary=summary, start=start, as_json=as_json, messages=messages)


Kernel = Enum("Kernel", {d: d for d in ("none", "linear", "rbf")}, type=str)


@app.command("stepwise")
def stepwise_cmd(
    m: Annotated[int, typer.Option(min=1, max=4096, help="m, input dimension (W is d × m).")] = 8,
    d: Annotated[int, typer.Option(min=1, max=4096, help="d, embedding dimension: the number of steps.")] = 4,
    n_pairs: Annotated[int, typer.Option(min=1, max=1000000, help="n, number of synthetic positive pairs.")] = 200,
    ratio: Annotated[float, typer.Option(help="Spectrum of Γ: γ_j = ratioʲ (synthetic pairs).")] = 0.6,
    noise: Annotated[float, typer.Option(help="Augmentation noise std of the synthetic pairs.")] = 0.5,
    pairs: Annotated[Optional[Path], typer.Option(help="An .npz with your views x and x_prime, (n, m) each.")] = None,
    init_scale: Annotated[float, typer.Option(help="Scale of W(0): small inits give sharp steps.")] = 1e-4,
    aligned: Annotated[bool, typer.Option(help="W(0) = U S₀ Vᵀ aligned with Γ's eigenvectors (exact closed form).")] = False,
    kernel: Annotated[Kernel, typer.Option(help="Kernel version from Gram matrices: linear (= the linear model) "
                                                "or rbf.")] = Kernel.none,
    bandwidth: Annotated[float, typer.Option(help="RBF bandwidth ℓ: k(x, y) = exp(-|x-y|²/(2ℓ²)).")] = 1.0,
    seed: Annotated[int, typer.Option(min=0, max=4294967295, help="Seed of the pairs and the init.")] = 0,
    t1: Annotated[Optional[float], typer.Option(help="Integration time; default past the last step time.")] = None,
    out: Out = Path("dynsim-out"),
    fmt: Fmt = Format.png,
    size: SizeOpt = Size.page,
    as_json: AsJson = False,
):
    """Stepwise learning of linear Barlow Twins [Simon et al. 2023]: dW/dt = -4 (W Γ Wᵀ - I) W Γ.

    Embedding eigenvalues against the closed form s_j(t) = e^{4γ_j t} / √(s_j(0)⁻² + (e^{8γ_j t} - 1) γ_j),
    the loss with its steps, and the step times t_j = ln(1/(γ_j s_j(0)²)) / (8γ_j), where the embedding
    eigenvalue λ_j = γ_j s_j² reaches half its limit 1 (half-saturation of λ_j, not of s_j).
    Writes stepwise.{png,npz,json} into --out.
    """
    import dynsim

    start = time.perf_counter()
    if pairs is not None:
        _refuse_given(("m", "n_pairs", "ratio", "noise"), "does not apply with --pairs (it sets the synthetic pairs)")
    if kernel is not Kernel.rbf:
        _refuse_given(("bandwidth",), "applies to --kernel rbf only")
    views = None if pairs is None else _load_npz(pairs, "pairs", ("x", "x_prime"))
    run = dynsim.stepwise(m=m, d=d, n_pairs=n_pairs, ratio=ratio, noise=noise, pairs=views, init_scale=init_scale,
                          aligned=aligned, kernel=kernel.value, bandwidth=bandwidth, seed=seed, t1=t1)
    summary = run.summary()
    messages = [f"PARTIAL: {summary['failure']}"] if not summary["complete"] else []
    messages.append("step times " + ", ".join(f"{v:.3g}" for v in summary["step_times"])
                    + f"; max |λ - closed form| = {summary['max_abs_error_lambda_vs_closed_form']:.2e}")
    _finish("stepwise", "stepwise", out=out, fmt=fmt, figure=lambda: dynsim.plot_stepwise(run, size=size.value), arrays=run.arrays(),
            parameters=run.params, summary=summary, start=start, as_json=as_json, messages=messages)


@app.command("check")
def check_cmd(
    names: Annotated[Optional[list[str]], typer.Argument(help="Claims to check (default: all); see --list.",
                                                         show_default=False)] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the claims and exit.")] = False,
    model: Annotated[Optional[str], typer.Option("--model", help="FILE.py or package.module: run the claims it "
                                                 "registers with @dynsim.claim(...) instead of the seed papers' "
                                                 "(not in the default run: dynsim.models.jepa.claims, the ten "
                                                 "JEPA-vs-MAE claims of [L24], about 2 min; "
                                                 "dynsim.models.cosine.claims, the cosine loss [B23], 8 claims; "
                                                 "dynsim.models.vicreg.claims, linear VICReg [BPL22], 5 "
                                                 "claims).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write check.json into this directory.")] = None,
    as_json: AsJson = False,
):
    """Check the seed papers' claims numerically: [T21] BYOL/SimSiam, [W21] DirectSet, [S23] Barlow Twins, [J22] InfoNCE/DirectCLR, [WL22] the prediction head.

    Each claim is a small experiment with a measured number, a tolerance fixed with the claim and a
    verdict: reproduced, not reproduced (with the numbers), or outside conditions. Exit code 0 even
    when a claim does not reproduce: that is a finding, not an error. The claims of
    [Littwin et al. 2024] (JEPA against MAE) are opt-in, as they take about two minutes:
    dynsim check --model dynsim.models.jepa.claims (--list with --model lists a module's claims).
    """
    import dynsim
    from dynsim.models.seed_claims import REGISTRY, run_checks
    from dynsim._core.io import jsonable, versions

    if list_ and model is not None:
        from dynsim.tools.claims import user_claims

        REGISTRY = user_claims(model)  # the module's claims, listed as the seed papers' are
    if list_:
        _refuse_given(("names", "out"), "does not apply with --list (it runs and writes nothing)")
        if as_json:
            print(json.dumps([{"name": c.name, "source": c.source, "statement": c.statement, "metric": c.metric,
                               "tolerance": c.tolerance} for c in REGISTRY.values()], indent=2))
            return
        for c in REGISTRY.values():
            print(f"{c.name:26s} {c.source:28s} {c.statement}")
        return
    start = time.perf_counter()
    if model is not None:
        from dynsim.tools.claims import run_user_claims

        if names:
            raise dynsim.DynsimInputError("model", "with --model every claim of the file is run (drop the names)")
        results = run_user_claims(model, progress=lambda n: _err(f"dynsim: checking {n} ..."))
    else:
        results = run_checks(names, progress=lambda n: _err(f"dynsim: checking {n} ..."))
    records = [r.record() for r in results]
    counts = {v: sum(r.verdict == v for r in results) for v in ("reproduced", "not reproduced", "outside conditions")}
    summary = {"counts": counts, "checks": records}
    if out is not None:
        from dynsim._core.io import staged

        record = {"command": "check", "argv": _ARGV, "summary": summary, "versions": versions(),
                  "runtime_s": round(time.perf_counter() - start, 3)}
        text = json.dumps(jsonable(record), indent=2) + "\n"
        with staged(out) as stage:  # written under a temporary name, renamed into place once complete
            (stage / "check.json").write_text(text)
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


@app.command("continuation")
def continuation_cmd(
    over: Annotated[str, typer.Option("--over", help="NAME=LO:HI[:log]: the parameter continued and its range "
                                      "(:log continues in log NAME, for ranges over decades).")],
    model: ModelOpt = "eigen1d",
    param: ParamOpt = None,
    at: Annotated[Optional[float], typer.Option("--at", help="The parameter value where the branches start "
                                                "(default LO).")] = None,
    start: Annotated[Optional[str], typer.Option("--start", help="V1,...,Vn: a state near an equilibrium to start "
                                                 "from (default: those found at --at).")] = None,
    coord: Annotated[int, typer.Option("--coord", min=0, help="The state component drawn.")] = 0,
    max_points: Annotated[int, typer.Option("--max-points", min=10, max=100_000,
                                            help="Most points of each half-branch.")] = 1000,
    out: Out = Path("dynsim-out"),
    fmt: Fmt = Format.png,
    size: SizeOpt = Size.page,
    as_json: AsJson = False,
):
    """Continuation of equilibria: branches followed by pseudo-arclength continuation from the
    equilibria found at the start, their stability, folds (saddle-node), branch points (pitchfork,
    transcritical, with branch switching) and Hopf points, located by bisection; the bifurcation diagram
    (stable solid, unstable dashed). Writes continuation.{png,npz,json} into --out.

    Example: dynsim continuation --model eigen1d --over eta=1e-6:0.5:log   (the fold at η_c = τ²/(4(1+σ²)))
    """
    import dynsim
    from dynsim.tools.continuation import continuation, plot_continuation

    start_t = time.perf_counter()
    from dynsim.tools.plane import parse_spec

    name, lo, hi, _, log = parse_spec(over, with_num=False)
    _not_also_a_param(param, {name}, "is continued by --over (--at says where the branches start)")
    m = _model(model, param, {})
    if coord >= m.dim:
        raise dynsim.DynsimInputError("coord", f"the model has {m.dim} state components (0..{m.dim - 1})")
    y0 = None
    if start is not None:
        try:
            y0 = [[float(v) for v in start.split(",")]]
        except ValueError:
            raise dynsim.DynsimInputError("start", f"expected comma-separated numbers, got {start!r}") from None
    try:
        res = continuation(m, name, lo, hi, start=y0, at=at, log=log, max_points=max_points)
    except dynsim.DynsimInputError as e:  # the range and the parameter come from --over
        if e.name in ("lo", "hi", "param", "log"):
            raise dynsim.DynsimInputError("over", str(e).removeprefix("param: ")) from None
        raise
    summary = res.summary()
    messages = [f"{len(res.branches)} branch(es); special points: " + (", ".join(
        f"{s.kind} at {name} = {s.mu:.10g}" for s in res.special) or "none")]
    parameters = {"model_spec": model, **_model_record(m), "over": over, "at": at, "start": start, "coord": coord,
                  "max_points": max_points}
    _finish("continuation", "continuation", out=out, fmt=fmt, figure=lambda: plot_continuation(res, coord=coord, size=size.value),
            arrays=res.arrays(), parameters=parameters, summary=summary, start=start_t, as_json=as_json,
            messages=messages)


@app.command("rerun")
def rerun_cmd(
    record: Annotated[Path, typer.Argument(help="A .json record written by a dynsim command.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Where the rerun writes (default: the record's "
                                                "directory + '-rerun').")] = None,
):
    """Run the command of a record again (same arguments, every parameter as recorded) and compare the
    arrays it writes with the recorded .npz, bitwise. Exit code 0 when they are equal, 1 when not."""
    import numpy as np

    import dynsim

    try:
        rec = json.loads(record.read_text())
        argv = list(rec["argv"])
        data = rec.get("files", {}).get("data")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise dynsim.DynsimInputError("record", f"{record} is not a dynsim .json record ({type(e).__name__})") from None
    old_out = None
    for i, a in enumerate(argv):
        if a == "--out" and i + 1 < len(argv):
            old_out = argv[i + 1]
            argv = argv[:i] + argv[i + 2:]
            break
    new_out = out if out is not None else Path(str(record.parent) + "-rerun")
    argv += ["--out", str(new_out)]
    if data is not None:
        try:  # the arrays compared against, read before any work
            with np.load(record.parent / data, allow_pickle=False) as z:
                for k in z.files:
                    z[k]  # noqa: B018 - reading each member finds a truncated one
        except Exception as e:  # noqa: BLE001 - missing, truncated, not an archive: one line
            raise dynsim.DynsimInputError("record", f"its arrays {record.parent / data} cannot be read "
                                                    f"({' '.join(str(e).split()) or type(e).__name__}): nothing to "
                                                    "compare the rerun with") from None
    _parses(argv)
    rc = main(argv)
    if rc != 0:
        return rc
    if data is None:
        _err("dynsim: the record names no .npz: nothing to compare")
        return 0
    a, b = np.load(record.parent / data), np.load(new_out / data)
    diff = sorted(set(a.files) ^ set(b.files)) + [k for k in sorted(set(a.files) & set(b.files))
                                                    if not np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind in "fc")]
    if diff:
        _err(f"dynsim: rerun DIFFERS from {data} in {len(diff)} array(s): {', '.join(diff[:8])}")
        return 1
    _err(f"dynsim: rerun of `dynsim {' '.join(argv)}` reproduces {data}: {len(a.files)} arrays bitwise equal "
         f"(was --out {old_out})")
    return 0


def _parses(argv: list[str]) -> None:
    """The recorded command line is parsed (its command, options and values) before it runs: a record
    that was edited, or written by another version, is refused in one line naming RECORD."""
    import dynsim

    from typer._click.core import Context

    command = typer.main.get_command(app)
    try:
        _check_finite_floats(command, argv)
        ctx = Context(command, info_name="dynsim")
        cmd = command.get_command(ctx, argv[0]) if argv else None
        if cmd is None:
            raise dynsim.DynsimInputError(None, f"no command {argv[0] if argv else ''!r}")
        cmd.make_context(argv[0], list(argv[1:]), parent=ctx)
    except (typer.TyperException, dynsim.DynsimInputError) as e:
        why = e.format_message() if isinstance(e, typer.TyperException) else (
            f"{_option_name(e.name) + ': ' if e.name else ''}{e}")
        raise dynsim.DynsimInputError("record", f"its command `dynsim {' '.join(argv)}` is refused: "
                                                f"{' '.join(why.split())}") from None


@app.command("models")
def models_cmd(as_json: AsJson = False):
    """List the built-in models: name, family, state, parameters (symbol, default, range) and the
    optional capabilities each offers to the generic tools."""
    import numpy as np

    from dynsim.models import registry

    rows = []
    for e in registry.entries():
        m = e.factory()
        params = [{"name": s.name, "symbol": s.symbol, "default": np.asarray(getattr(m, s.name)).tolist()
                   if s.ndim == 0 else f"{np.shape(getattr(m, s.name))} array", "range": s.range_text(), "help": s.help}
                  for s in m.param_specs()]
        state = list(m.state_names)
        rows.append({"name": e.name, "family": e.family, "class": type(m).__name__, "description": e.description,
                     "dim": m.dim, "state": state if len(state) <= 8 else state[:6] + ["...", state[-1]],
                     "parameters": params, "capabilities": list(m.capabilities())})
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(f"{r['name']}  ({r['class']}, {r['family']}): {r['description']}")
        print(f"    state ({r['dim']}): {', '.join(r['state'])}")
        for p in r["parameters"]:
            sym = f" [{p['symbol']}]" if p["symbol"] else ""
            print(f"    {p['name']}{sym} = {p['default']}  in {p['range']}" + (f"  {p['help']}" if p["help"] else ""))
        if r["capabilities"]:
            print(f"    offers: {', '.join(r['capabilities'])}")


@app.command("figures")
def figures_cmd(
    names: Annotated[Optional[list[str]], typer.Argument(help="Figures to make (default: all); --list names them.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the figures with the command that makes each, and exit.")] = False,
    quick: Annotated[bool, typer.Option(help="Small grids, few seeds, short runs: every figure in about a minute "
                                             "(for checking, not for the paper).")] = False,
    out: Out = Path("dynsim-figures"),
    size: SizeOpt = Size.page,
    as_json: AsJson = False,
):
    """Regenerate the seed talks' figures into --out as PDF and PNG, with a manifest.json (figure, command,
    parameters, package versions, runtime, summary) and index.md (each figure with its command, the paper
    figure it redraws and the differences that remain).

    Example: dynsim figures --list; dynsim figures phase-portrait-eta-4e-4 --out figs.
    """
    from dynsim.plot.gallery import FIGURES, make_figures

    if list_:
        _refuse_given(("names", "out", "quick", "size"), "does not apply with --list (it makes no figure)")
        if as_json:
            print(json.dumps([{"name": name, "title": f.title, "command": f.command, "paper": f.paper}
                              for name, f in FIGURES.items()], indent=2))
            return
        width = max(len(n) for n in FIGURES)
        for name, f in FIGURES.items():
            print(f"{name:<{width}}  {f.title}\n{'':<{width}}  $ {f.command}"
                  + (f"\n{'':<{width}}  redraws {f.paper}; index.md lists the differences" if f.paper else ""))
        return
    from dynsim._core.io import staged

    start = time.perf_counter()
    # made in a staging directory and renamed into --out once every figure is done (manifest last):
    # a failure part-way leaves --out as it was
    with staged(out, last=("index.md", "manifest.json")) as stage:
        manifest = make_figures(list(names) if names else None, stage, quick=quick, size=size.value,
                                progress=lambda m: _err(f"dynsim: {m}"))
    _err(f"dynsim: wrote {len(manifest['figures'])} figures (PDF and PNG), {out / 'index.md'} and {out / 'manifest.json'} "
         f"({time.perf_counter() - start:.1f} s)")
    if as_json:
        from dynsim._core.io import jsonable

        print(json.dumps(jsonable(manifest), indent=2))


def _options_in_force() -> dict:
    """Every option of the running command with the value in force, defaults included."""
    try:
        from typer._click.globals import get_current_context

        ctx = get_current_context(silent=True)
        return {} if ctx is None else {k: (v.value if isinstance(v, Enum) else v) for k, v in ctx.params.items()}
    except Exception:  # noqa: BLE001 - a typer without this internal: the argv and parameters still record the run
        return {}


def _input_files(argv: list[str]) -> dict:
    """SHA-256 of every file named on the command line (``--cov``, ``--pairs``, ``--model FILE.py:NAME``...)."""
    import hashlib

    out = {}
    for a in argv:
        for cand in {a, a.split(":")[0], a.partition("=")[2].split(":")[0]}:
            path = Path(cand)
            if cand and path.is_file():
                out[cand] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _source() -> dict:
    """The source version: dynsim's version and the hash of its package source (the export cache's key)."""
    import dynsim
    from dynsim._core.aot import _source_hash

    return {"dynsim": dynsim.__version__, "source_sha256": _source_hash()}


#: The magnitudes a float option accepts besides 0: products of a few such numbers stay normal float64
#: numbers (no overflow to inf, no underflow to subnormals), as for the init scales (INIT_SCALE_RANGE).
FLOAT_RANGE = (1e-100, 1e100)


def _check_finite_floats(command, argv: list[str]) -> None:
    """A float option given NaN, an infinity, or a magnitude outside :data:`FLOAT_RANGE` (other than 0)
    is refused: no dynsim option accepts one, and computing with it would overflow or underflow."""
    import math

    import dynsim

    if not argv or argv[0] not in getattr(command, "commands", {}):
        return
    floats = {}
    for p in command.commands[argv[0]].params:
        if type(p).__name__ == "TyperOption" and p.bare_type() in (float, "float", "list[float]"):
            for o in p.opts:
                floats[o] = o.lstrip("-").replace("-", "_")  # the option as typed (`time_` is --time)
    for i, a in enumerate(argv):
        opt, _, value = a.partition("=")
        if opt not in floats:
            continue
        value = value if _ else (argv[i + 1] if i + 1 < len(argv) else "")
        try:
            x = float(value)
        except ValueError:
            continue  # not a number: the parser says so
        if not math.isfinite(x):
            raise dynsim.DynsimInputError(floats[opt], f"must be a finite number (got {value})")
        if x != 0 and not FLOAT_RANGE[0] <= abs(x) <= FLOAT_RANGE[1]:
            raise dynsim.DynsimInputError(floats[opt], f"must be 0 or of magnitude in [{FLOAT_RANGE[0]:g}, "
                                                       f"{FLOAT_RANGE[1]:g}] (got {value}: it would over- or underflow)")


def _check_out_early(argv: list[str]) -> None:
    """``--out`` is checked before any work (a file, a device, not writable, too long a name)."""
    from dynsim._core.io import check_out_dir

    for i, a in enumerate(argv):
        value = argv[i + 1] if a == "--out" and i + 1 < len(argv) else a[6:] if a.startswith("--out=") else None
        if value is not None:
            check_out_dir(value, [])


def _given(name: str) -> bool:
    """Whether the user gave option ``name`` (a parameter name of the running command) on the command line."""
    from typer._click.core import ParameterSource
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    return ctx is not None and ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)


def _not_also_a_param(params: list[str] | None, names: set[str], why: str) -> None:
    """Refuse ``--param NAME=...`` for a parameter that ``--over`` already sets."""
    import dynsim
    from dynsim._core.loading import parse_params

    for name in set(parse_params(params)) & names:
        raise dynsim.DynsimInputError("param", f"{name} {why}")


def _refuse_given(names, why: str) -> None:
    """Refuse the first of the options ``names`` the user gave: ``why`` says what it does not apply to."""
    import dynsim

    for name in names:
        if _given(name):
            raise dynsim.DynsimInputError(name, why)


#: Library argument names whose CLI option is spelled differently.
_OPTION_OF = {"T": "time", "Gamma": "pairs", "lrs": "lr", "batches": "batch", "dim": "n1"}


#: Library argument names set by a command's positional argument, shown as its metavar.
_POSITIONAL = {"kind": "KIND", "record": "RECORD", "figures": "NAMES", "names": "NAMES"}


def _option_name(name: str) -> str:
    if name in _POSITIONAL:
        return _POSITIONAL[name]
    return "--" + _OPTION_OF.get(name, name).replace("_", "-")


def _options_as_typed(message: str) -> str:
    """A library message that lists arguments, ``(its options: n1, dim_b)``, with the options as
    typed: ``(its options: --n1, --dim-b)``."""
    import re

    def typed(m):
        names = [n.strip() for n in m.group(2).split(",")]
        if not all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names):
            return m.group(0)
        return m.group(1) + ", ".join(_option_name(n) for n in names) + ")"

    return re.sub(r"(\(its options: )([^)]*)\)", typed, message)


_ARGV: list[str] = []  # the arguments of this invocation, for the .json record


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dynsim`` script. Bad input: one line on stderr, exit code 2."""
    import dynsim

    global _ARGV
    _ARGV = list(sys.argv[1:] if argv is None else argv)
    from dynsim._core.parallel import initialize_from_env

    initialize_from_env()  # a SLURM step of several tasks, or JAX_NUM_PROCESSES/JAX_PROCESS_ID: join them (docs/cluster.md)
    dynsim.enable_compilation_cache()
    command = typer.main.get_command(app)
    try:
        _check_out_early(_ARGV)
        _check_finite_floats(command, _ARGV)
        rv = command.main(args=argv, prog_name="dynsim", standalone_mode=False)
    except typer.TyperException as e:  # usage errors from the (vendored) click parser
        if type(e).__name__ == "NoArgsIsHelpError":  # bare `dynsim`: the help, not an error
            print(e.format_message())
            return 0
        _err(f"dynsim: error: {' '.join(e.format_message().split())}")
        return 2
    except dynsim.DynsimInputError as e:
        _err(f"dynsim: error: {_option_name(e.name) + ': ' if e.name else ''}{_options_as_typed(str(e))}")
        return 2
    except BrokenPipeError:  # stdout closed early (e.g. `dynsim ... --json | head`): not our error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the Python docs' recipe
        return 0
    except typer.Abort:
        _err("dynsim: aborted")
        return 130
    return rv if isinstance(rv, int) else 0


def entry() -> None:
    """The ``dynsim`` console script: :func:`main`, then the process ends at once.

    Python's orderly shutdown (finalizing the few thousand modules of JAX, diffrax and matplotlib
    and XLA's runtime) took 0.4-0.7 s after every command on the 2-core machine, longer than many
    a repeat run's whole job. Everything a command writes is complete and fsynced before
    :func:`main` returns (``dynsim._core.io``: written to temporary names, renamed into place), so
    the process flushes stdout and stderr and leaves with ``os._exit``. A process of a
    multi-process JAX job (``jax.distributed``) exits the orderly way: its shutdown takes part
    in the group's. The exit handlers still run (JAX waits for its pending effects, matplotlib
    removes a temporary config directory); only the finalization of modules is skipped."""
    import atexit

    import jax

    code = main()
    if jax.distributed.is_initialized():
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away (`dynsim ... --json | head`)
        pass
    os._exit(code)


if __name__ == "__main__":
    entry()
