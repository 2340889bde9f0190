"""``dynsim simulate simsiam-cosine``: one :func:`~dynsim.models.cosine.system.simulate_cosine` run, its figure
and the lines the command prints (kept here so that the command is a thin layer)."""

from __future__ import annotations

from dynsim._core.errors import DynsimInputError
from dynsim.models.registry import job_kwargs
from dynsim.models.cosine import system as cs

# the simulate options that apply here, and their names in simulate_cosine
OPTIONS = {"n1": "n", "eta": "eta", "sigma": "sigma", "alpha_p": "alpha_p", "seed": "seed", "init_scale": "init_scale",
           "t1": "t1", "n_save": "n_save", "rtol": "rtol", "atol": "atol", "max_steps": "max_steps",
           "progress": "progress"}
# options the command always passes, with the default it passes: this job keeps its own default
IGNORED = {"n_save": 201, "rtol": 1e-8, "atol": 1e-10, "max_steps": 200_000}


def cli_job(given: dict, size: str = "page") -> dict:
    """Run :func:`simulate_cosine` with the command's options (``--n1`` the dimension n, ``--eta``, ``--sigma``,
    ``--alpha-p``, ``--seed``, ``--init-scale``, ``--t1``, ``--n-save``, ``--rtol``, ``--atol``, ``--max-steps``;
    every other given option is refused) and draw it at ``size``."""
    kwargs = job_kwargs(given, OPTIONS, "simsiam-cosine", IGNORED)
    if "n" in kwargs and kwargs["n"] < 2:
        raise DynsimInputError("n1", f"needs n >= 2: one mode alone has no dynamics but the decay (got {kwargs['n']})")
    try:
        run = cs.simulate_cosine(**kwargs)
    except DynsimInputError as e:
        if e.name == "n":
            raise DynsimInputError("n1", str(e)) from None
        raise
    from dynsim.models.cosine.figure import plot_cosine

    s = run.summary()
    messages = [] if s["complete"] else ["PARTIAL: a solve did not finish (raise --max-steps)"]
    messages.append(f"cosine: {s['cosine_collapsed_modes']} of {run.params['n']} modes collapsed (share of tr F < "
                    f"{cs.COLLAPSE_SHARE:g}); Euclidean: {s['euclidean_collapsed_modes']} by t = {run.params['t1']:g} "
                    f"(eta = {run.params['eta']:g}, eta_c = {s['eta_c']:g})")
    messages.append(f"cosine: ||W||, ||W_p|| follow e^(-eta t) to {s['cosine_norm_law_max_error']:.1e}; the time change "
                    f"W_eta(t) = e^(-eta t) W_0(u) holds to {s['time_change_max_error']:.1e}")
    return {"figure": plot_cosine(run, size=size), "arrays": run.arrays(), "parameters": run.params, "summary": s,
            "messages": messages}
