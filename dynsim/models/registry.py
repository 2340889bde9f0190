"""The built-in models by name: what ``--model NAME`` and ``dynsim models`` know.

Adding a family: give it a subpackage of :mod:`dynsim.models` and one :func:`register` call here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from dynsim._core.errors import DynsimInputError


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[[], object]  # builds the model with its defaults
    family: str
    description: str


_REGISTRY: dict[str, Entry] = {}


def register(name: str, factory: Callable[[], object], family: str, description: str) -> None:
    _REGISTRY[name] = Entry(name, factory, family, description)


def has(name: str) -> bool:
    return name in _REGISTRY


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def entries() -> tuple[Entry, ...]:
    return tuple(_REGISTRY.values())


def build(name: str):
    if name not in _REGISTRY:
        raise DynsimInputError("model", f"unknown model {name!r}: one of {', '.join(_REGISTRY)}")
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


register("jepa", _jepa("jepa"), "jepa", "JEPA, depth-3 linear encoder + predictor, stop-gradient target, as a loss [L24]")
register("mae", _jepa("mae"), "jepa", "MAE, depth-3 linear encoder + decoder, as a loss [L24]")
