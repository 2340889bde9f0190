"""The built-in models by name: what ``--model NAME`` and ``dynsim models`` know.

Adding a family: give it a subpackage of :mod:`dynsim.models` and one :func:`register` call here.
An entry may name a ``dynsim simulate NAME`` job, ``"package.module:function"`` (imported on first
use): ``function(given, size) -> {"figure", "arrays", "parameters", "summary", "messages"}``, with
``given`` the command's options (``None`` where not given); the command writes the outputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


def _error(name: str, message: str) -> Exception:
    # imported here: this module runs without the dynsim package (cli.py reads simulate_names() at its
    # import, and importing dynsim would import jax)
    from dynsim._core.errors import DynsimInputError

    return DynsimInputError(name, message)


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[[], object]  # builds the model with its defaults
    family: str
    description: str
    job: str | None = None  # "package.module:function" of its `dynsim simulate NAME` job, or None


_REGISTRY: dict[str, Entry] = {}


def register(name: str, factory: Callable[[], object], family: str, description: str, *,
             job: str | None = None) -> None:
    if job is not None and (job.count(":") != 1 or not all(job.split(":"))):
        raise _error("job", f"job must be 'package.module:function' (got {job!r})")
    _REGISTRY[name] = Entry(name, factory, family, description, job)


def simulate_names() -> tuple[str, ...]:
    """The models that name a ``dynsim simulate`` job, in registration order."""
    return tuple(e.name for e in _REGISTRY.values() if e.job is not None)


def simulate_job(name: str) -> Callable[..., dict]:
    """The ``dynsim simulate NAME`` job of a registered model, imported now."""
    import importlib

    e = _REGISTRY.get(name)
    if e is None or e.job is None:
        raise _error("model", f"{name!r} has no simulate job: one of {', '.join(simulate_names())}")
    module, function = e.job.split(":")
    return getattr(importlib.import_module(module), function)


def job_kwargs(given: dict, options: dict[str, str], model: str, ignored: dict | None = None) -> dict:
    """The arguments of a simulate job's library function from the command's options ``given``.

    ``options`` maps each option that applies to ``model`` to the function's argument; an option
    that is ``None`` (not given), or in ``ignored`` at the default the command always passes, is
    left out; any other given option is refused, naming it and the options that apply.
    """
    ignored = ignored or {}
    kwargs = {}
    for opt, value in given.items():
        if value is None or (opt in ignored and value == ignored[opt]):
            continue
        if opt not in options:
            listed = ", ".join(o for o in options if o != "progress")  # the CLI shows them as typed
            raise _error(opt, f"does not apply to {model} (its options: {listed})")
        kwargs[options[opt]] = value
    return kwargs


def has(name: str) -> bool:
    return name in _REGISTRY


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def entries() -> tuple[Entry, ...]:
    return tuple(_REGISTRY.values())


def build(name: str):
    if name not in _REGISTRY:
        raise _error("model", f"unknown model {name!r}: one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name].factory()


def _eigen(cls_name):
    def make():
        from dynsim.models.eigen import system

        return getattr(system, cls_name)()
    return make


def _matrix(model: str):
    def make():
        from dynsim.models.byol.simulate import build as build_matrix

        return build_matrix(model)[0]
    return make


register("eigen", _eigen("EigenDynamics2D"), "eigen", "decoupled eigenvalue dynamics (p, s) of linear BYOL at fixed tau [T21]")
register("eigen1d", _eigen("EigenDynamics1D"), "eigen", "the eigenvalue dynamics on the invariant parabola s = p^2/alpha_p")
register("eigen3d", _eigen("EigenDynamics3D"), "eigen", "(p, s, tau) with the EMA rate beta (W_a = tau W)")
for _name, _text in (("byol", "linear BYOL, Lemma 1 (EMA target)"), ("simsiam", "linear SimSiam (online target)"),
                     ("symmetrized", "the symmetrized (W_p, F) system"), ("directpred", "DirectPred (W_p from F)"),
                     ("directcopy", "DirectCopy"), ("directset", "DirectSet(alpha)")):
    register(_name, _matrix(_name), "byol", _text + " as a matrix ODE on the flattened weights")


def _barlow():
    import numpy as np

    from dynsim.models.barlow.system import BarlowTwins, default_spectrum

    return BarlowTwins(d=2, m=4, Gamma=np.diag(default_spectrum(4)))


def _contrastive(model: str):
    def make():
        from dynsim.models.infonce.collapse import build_contrastive

        return build_contrastive(model, dim=4, samples=64)[0]
    return make


register("barlow", _barlow, "barlow", "linear Barlow Twins dW/dt = -4 (W Gamma W^T - I) W Gamma [S23], d = 2, m = 4")
register("infonce", _contrastive("infonce"), "infonce", "the InfoNCE gradient flow of one linear layer on 64 fixed pairs [J22]")
register("infonce-2layer", _contrastive("infonce-2layer"), "infonce", "InfoNCE, two linear layers [J22]")


def _jepa(objective: str):
    def make():
        from dynsim.models.jepa.system import jepa_flow, mae_flow

        return jepa_flow() if objective == "jepa" else mae_flow()
    return make


register("jepa", _jepa("jepa"), "jepa", "JEPA, depth-3 linear encoder + predictor, stop-gradient target, as a loss [L24]",
         job="dynsim.models.jepa.job:cli_job")
register("mae", _jepa("mae"), "jepa", "MAE, depth-3 linear encoder + decoder, as a loss [L24]")


def _cosine(kind: str):
    def make():
        from dynsim.models.cosine import system

        return system.cosine_flow() if kind == "flow" else system.CosineEigen()
    return make


register("simsiam-cosine", _cosine("flow"), "cosine", "linear SimSiam with the population cosine loss, 4 x 4, "
         "as a loss [T21, B23]", job="dynsim.models.cosine.job:cli_job")
register("cosine-eigen", _cosine("eigen"), "cosine", "its eigenmode dynamics: 4 modes (p_j, s_j) coupled by the "
         "normalisation [B23]")


def _vicreg(kind: str):
    def make():
        from dynsim.models.vicreg import system

        return system.vicreg_flow() if kind == "flow" else system.VICRegMode()
    return make


register("vicreg", _vicreg("flow"), "vicreg", "linear VICReg, W 4 x 4, the paper's coefficients, as a loss [BPL22]",
         job="dynsim.models.vicreg.job:cli_job")
register("vicreg-mode", _vicreg("mode"), "vicreg", "one VICReg mode w: the collapse threshold is a pitchfork in lam")
