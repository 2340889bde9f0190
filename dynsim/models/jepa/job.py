"""``dynsim simulate jepa``: one :func:`~dynsim.models.jepa.system.simulate_jepa` run, its figure and the
lines the command prints (kept here so that the command is a thin layer)."""

from __future__ import annotations

import numpy as np

from dynsim._core.errors import DynsimInputError
from dynsim.models.jepa import system as js

# the simulate options that apply here, and their names in simulate_jepa
OPTIONS = {"seed": "seed", "n_save": "n_save", "rtol": "rtol", "atol": "atol", "layers": "depth",
           "init_scale": "eps", "t1": "t1", "progress": "progress"}
IGNORED = ("decay", "max_steps")  # options that always carry the command's defaults; not used here


def cli_job(given: dict) -> dict:
    """Run :func:`simulate_jepa` with the command's options (``--layers`` is the depth L, ``--init-scale``
    the product scale eps; every other given option is refused). Returns ``figure``, ``arrays``,
    ``parameters``, ``summary`` and ``messages``."""
    kwargs = {}
    for opt, value in given.items():
        if value is None or opt in IGNORED:
            continue
        if opt not in OPTIONS:
            raise DynsimInputError(opt, "does not apply to jepa (its options: --layers for the depth L, --init-scale "
                                        "for eps, --seed, --t1, --n-save, --rtol, --atol)")
        kwargs[OPTIONS[opt]] = value
    if isinstance(kwargs.get("t1"), (int, float)):
        kwargs["t1"] = float(kwargs["t1"])
    run = js.simulate_jepa(**kwargs)
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
    return {"figure": plot_jepa(run), "arrays": run.arrays(), "parameters": run.params, "summary": summary,
            "messages": messages}
