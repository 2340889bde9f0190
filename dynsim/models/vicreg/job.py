"""``dynsim simulate vicreg``: one :func:`~dynsim.models.vicreg.system.simulate_vicreg` run, its figure and the
lines the command prints."""

from __future__ import annotations

from dynsim.models.registry import job_kwargs
from dynsim.models.vicreg import system as vs

# the simulate options that apply here, and their names in simulate_vicreg (--eta is not a VICReg coefficient:
# the command has no --lam/--mu/--nu, so the coefficients are the paper's; see the library for others)
OPTIONS = {"seed": "seed", "init_scale": "init_scale", "t1": "t1", "n_save": "n_save", "rtol": "rtol", "atol": "atol",
           "max_steps": "max_steps", "progress": "progress"}
IGNORED = {"n_save": 201, "rtol": 1e-8, "atol": 1e-10, "max_steps": 200_000}


def cli_job(given: dict, size: str = "page") -> dict:
    """Run :func:`simulate_vicreg` with [BPL22]'s coefficients and the command's ``--seed``, ``--init-scale``,
    ``--t1``, ``--n-save``, ``--rtol``, ``--atol``, ``--max-steps`` (every other given option is refused)."""
    kwargs = job_kwargs(given, OPTIONS, "vicreg", IGNORED)
    run = vs.simulate_vicreg(**kwargs)
    from dynsim.models.vicreg.figure import plot_vicreg

    s = run.summary()
    messages = [] if s["complete"] else ["PARTIAL: a solve did not finish (raise --max-steps)"]
    for k, rec in s["random_start"].items():
        messages.append(f"random start, nu = {rec['nu']:.4g}: rank of C {rec['rank']} of {run.params['d']}, "
                        f"off-diagonal {rec['off_diagonal_final']:.2g}")
    messages.append(f"decorrelation threshold nu_c = {s['nu_c']:.4g}; collapse thresholds lambda/mu = "
                    + ", ".join(f"{v:.4g}" for v in s["thresholds"]))
    messages.append(f"aligned sweep: collapsed {s['sweep_collapsed']} (closed form {s['sweep_collapsed_closed_form']}), "
                    f"variances within {s['sweep_max_relative_error']:.1e}")
    return {"figure": plot_vicreg(run, size=size), "arrays": run.arrays(), "parameters": run.params, "summary": s,
            "messages": messages}
