"""Claims as numerical experiments, for any model: a user decorates a function in their own file
with :func:`claim` and ``dynsim check --model FILE.py`` runs it, as ``dynsim check`` runs the
seed papers' claims.

A claim function returns the measured number (compared with ``tolerance``: ``measured <=
tolerance`` reproduces the claim) or an :class:`~dynsim.models.seed_claims.Outcome`::

    @dynsim.claim("fold-at-zero", statement="the fold sits at mu = 0", tolerance=1e-8)
    def fold():
        return abs(located_fold() - 0.0)
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dynsim._core.errors import DynsimInputError

USER_CLAIMS: dict[str, dict[str, object]] = {}  # module name -> {claim name: Claim}


def claim(name: str, *, statement: str, tolerance: float, metric: str = "measured value", source: str = "user"):
    """Register the decorated function as a claim of the module that defines it."""
    from dynsim.models.seed_claims import Claim, Outcome

    def wrap(fn: Callable[[], object]):
        def experiment():
            v = fn()
            return v if isinstance(v, Outcome) else Outcome(float(v), f"{metric} = {float(v):.6g}")

        USER_CLAIMS.setdefault(fn.__module__, {})[name] = Claim(name, source, statement, metric, float(tolerance),
                                                                experiment)
        return fn

    return wrap


def user_claims(path: str) -> dict:
    """Import ``path`` (``FILE.py`` or ``package.module``) and return the claims it registered, by name."""
    from dynsim._core.loading import import_target

    module = import_target(path)
    claims = USER_CLAIMS.get(module.__name__, {})
    if not claims:
        raise DynsimInputError("model", f"{path} registers no claim (decorate a function with @dynsim.claim(...))")
    return claims


def run_user_claims(path: str, progress: Callable[[str], None] | None = None):
    """Import ``path`` (``FILE.py`` or ``package.module``) and run the claims it registered."""
    from dynsim.models.seed_claims import run_claim

    claims = user_claims(path)
    out = []
    for c in claims.values():
        if progress is not None:
            progress(c.name)
        out.append(run_claim(c))
    return out
