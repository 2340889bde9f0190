"""``dynsim simulate jepa``: one :func:`~dynsim.models.jepa.system.simulate_jepa` run, its figure and the
lines the command prints (kept here so that the command is a thin layer)."""

from __future__ import annotations

import numpy as np

from dynsim._core.errors import DynsimInputError
from dynsim.models.registry import job_kwargs
from dynsim.models.jepa import system as js

# the simulate options that apply here, and their names in simulate_jepa
OPTIONS = {"seed": "seed", "n_save": "n_save", "rtol": "rtol", "atol": "atol", "layers": "depth",
           "init_scale": "eps", "t1": "t1", "progress": "progress"}
# options the command always passes (never None), with the default it passes: not used here (simulate_jepa lets
# each solve take up to 1e6 steps), so another value is refused like every other option that does not apply
IGNORED = {"max_steps": 200_000}
# simulate_jepa's names of its arguments -> the command's options, for the errors it raises
_OPTION = {"depth": "layers", "eps": "init_scale", "value": "init_scale"}


def cli_job(given: dict, size: str = "page") -> dict:
    """Run :func:`simulate_jepa` with the command's options (``--layers`` is the depth L, ``--init-scale``
    the product scale eps; every other given option is refused) and draw it at ``size`` (``--size``).
    Returns ``figure``, ``arrays``, ``parameters``, ``summary`` and ``messages``."""
    kwargs = job_kwargs(given, OPTIONS, "jepa", IGNORED)
    if isinstance(kwargs.get("t1"), (int, float)):
        kwargs["t1"] = float(kwargs["t1"])
        if not kwargs["t1"] > 0:
            raise DynsimInputError("t1", f"must be > 0 (got {kwargs['t1']:g})")
    try:
        run = js.simulate_jepa(**kwargs)
    except DynsimInputError as e:  # name the command's option (--layers, --init-scale), not the argument
        if e.name not in _OPTION:
            raise
        raise DynsimInputError(_OPTION[e.name], str(e)) from None
    summary = run.summary()
    from dynsim.models.jepa.figure import plot_jepa

    messages = []
    if not summary["complete"]:
        messages.append("PARTIAL: a solve did not finish or a feature was not learned within the run")
    lam, rho = np.asarray(run.params["lam"]), np.asarray(run.params["rho"])
    for o, rec in summary["objectives"].items():
        order = ", ".join(f"rho={rho[i]:.2g}" for i in rec["order"])
        line = f"{o.upper()}: features learned in the order {order}"
        if "closed_form_max_relative_error" in rec:
            line += f"; closed form within {rec['closed_form_max_relative_error']:.1e}"
        messages.append(line)
    if "jepa" in summary["objectives"]:
        ratio = np.median(summary["objectives"]["jepa"]["paper_over_measured"])
        messages.append(f"[L24] critical-time formula / measured: {ratio:.3g} (L = {run.params['depth']})")
    return {"figure": plot_jepa(run, size=size), "arrays": run.arrays(), "parameters": run.params,
            "summary": summary, "messages": messages}
