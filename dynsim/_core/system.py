"""The abstract ODE system: a vector field whose parameters are array fields of a PyTree."""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from dynsim._core.errors import DynsimInputError


def _as_float_array(x: ArrayLike) -> Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(float)


def param(*, ndim: int = 0, **kwargs):
    """A parameter field: stored as a floating-point JAX array, so that changing its value
    (or giving a batch of values) never triggers a recompilation.

    ``ndim`` is the parameter's own number of dimensions (0 for a scalar, 2 for a matrix
    such as a covariance); leading axes beyond it are batch axes.
    """
    return eqx.field(converter=_as_float_array, metadata={"ndim": ndim}, **kwargs)


def _concrete(x) -> np.ndarray | None:
    """The value of ``x`` as numpy, or ``None`` while it is being traced."""
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x)


def check_param(name: str, value, *, lower: float = -math.inf, upper: float = math.inf,
                lower_open: bool = False, upper_open: bool = False) -> None:
    """Raise :class:`DynsimInputError` unless every entry of ``value`` is finite and in range.

    Traced values are not checked (validation happens where a user builds the object).
    """
    v = _concrete(value)
    if v is None:
        return
    if not np.all(np.isfinite(v)):
        raise DynsimInputError(name, f"{name} must be finite (got {_show(v)})")
    lo_bad = v <= lower if lower_open else v < lower
    hi_bad = v >= upper if upper_open else v > upper
    if np.any(lo_bad) or np.any(hi_bad):
        lo = "-inf" if lower == -math.inf else f"{lower:g}"
        hi = "inf" if upper == math.inf else f"{upper:g}"
        rng = f"{'(' if lower_open or lower == -math.inf else '['}{lo}, {hi}{')' if upper_open or upper == math.inf else ']'}"
        bad = v[np.asarray(lo_bad | hi_bad)] if v.ndim else v
        raise DynsimInputError(name, f"{name} must be in {rng} (got {_show(bad)})")


def _show(v: np.ndarray) -> str:
    flat = np.ravel(v)
    if flat.size == 1:
        return f"{flat[0]:g}"
    return "[" + ", ".join(f"{x:g}" for x in flat[:4]) + (", ...]" if flat.size > 4 else "]")


class AbstractSystem(eqx.Module):
    """An ODE ``dy/dt = f(t, y; theta)``.

    Subclasses declare their parameters ``theta`` as :func:`param` fields (arrays, so that
    they may be traced, vmapped and changed without recompiling), name the components of
    the state in ``state_names`` and implement :meth:`vector_field`.
    """

    state_names: ClassVar[tuple[str, ...]]
    #: Components whose sign the flow preserves (``y_i > 0`` stays ``> 0``, e.g. eigenvalues of
    #: ``F``). ``solve(..., log_positive=True)`` integrates them as ``log y_i``.
    positive: ClassVar[tuple[int, ...]] = ()

    @abc.abstractmethod
    def vector_field(self, t: Float[ArrayLike, ""], y: Float[Array, " n"]) -> Float[Array, " n"]:
        """``f(t, y; theta)``."""

    def log_rate(self, t, y: Float[Array, " n"]) -> Float[Array, " k"]:
        """``d log y_i / dt = f_i(y) / y_i`` for ``i`` in :attr:`positive`. Override with the closed
        form where ``f_i`` has the factor ``y_i`` (then it stays exact when ``y_i`` underflows)."""
        idx = jnp.asarray(self.positive, int)
        return self.vector_field(t, y)[idx] / y[idx]

    @property
    def dim(self) -> int:
        return len(self.state_names)

    def hold_period(self) -> Array | None:
        """For sample-and-hold systems, the time between :meth:`refresh` es (``None``: a plain ODE)."""
        return None

    def refresh(self, y: Float[Array, " n"]) -> Float[Array, " n"]:
        """The discrete update applied at each hold boundary (held components recomputed)."""
        return y

    def parameters(self) -> dict[str, Array]:
        """The array-valued parameters, by name."""
        return {name: v for name, v, _ in self._param_fields()}

    def batch_shape(self) -> tuple[int, ...]:
        """The broadcast batch shape of the parameters (their axes beyond each one's ``ndim``)."""
        shapes = [v.shape[: v.ndim - k] for _, v, k in self._param_fields()]
        return tuple(np.broadcast_shapes(*shapes)) if shapes else ()

    def _param_fields(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if eqx.is_array(v):
                yield f.name, v, f.metadata.get("ndim", 0)

    def broadcast_to(self, batch: tuple[int, ...]) -> "AbstractSystem":
        """Every parameter broadcast to ``batch`` + its own shape, then the batch flattened to one axis."""
        size = int(np.prod(batch, dtype=int))
        names, values = [], []
        for name, v, k in self._param_fields():
            event = v.shape[v.ndim - k:]
            names.append(name)
            values.append(jnp.broadcast_to(v, (*batch, *event)).reshape(size, *event))
        if not names:
            return self
        return eqx.tree_at(lambda s: [getattr(s, n) for n in names], self, values)

    def astype(self, dtype) -> "AbstractSystem":
        """The same system with its parameters cast to ``dtype`` (e.g. ``jnp.float32`` for speed)."""
        return jax.tree_util.tree_map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, self)
