"""The abstract ODE system: a vector field whose parameters are array fields of a PyTree."""

from __future__ import annotations

import abc
import dataclasses
import inspect
import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from dynsim._core.errors import DynsimInputError


def to_jax(x: ArrayLike) -> Array:
    """``jnp.asarray(x)`` without a compilation: JAX 0.10 lifts a NumPy array or a Python scalar
    through an eager ``stage`` program, compiled (or loaded from the compilation cache, about 10 ms)
    for every new shape and dtype in a process; ``jax.device_put`` gives the same array (dtype and
    weak type) with no program. A NumPy array is copied first: on the CPU, ``device_put`` may share
    the caller's buffer (depending on its alignment), and a later write to it would change the JAX
    array. Anything else (a JAX array, a tracer, a list) goes to ``jnp.asarray``."""
    if isinstance(x, np.ndarray) and not isinstance(x, np.ma.MaskedArray):
        return jax.device_put(np.array(x, copy=True))
    if isinstance(x, (np.generic, bool, int, float, complex)):
        return jax.device_put(x)
    return jnp.asarray(x)


def array_module(*xs):
    """``numpy`` where every input is on the host (:func:`_on_host`), ``jax.numpy`` otherwise: a
    closed form of a few operations on concrete scalars costs one compiled program per operation
    and shape in JAX's eager mode (about 10 ms each in a new process), nothing in numpy. The float64
    results are the same bits for the correctly rounded operations (+, -, *, /, sqrt)."""
    return np if all(_on_host(x) is not None for x in xs) else jnp


def _as_float_array(x: ArrayLike) -> Array:
    if isinstance(x, float) or (isinstance(x, (np.ndarray, np.generic)) and np.issubdtype(x.dtype, np.floating)):
        return to_jax(x)  # no program (see to_jax); the rest is rare and takes the JAX path
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(float)


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """What a model declares about one parameter: its default, the range it accepts, its symbol
    (mathtext, as in the papers) and a line of help. Tools read it to build options, sliders,
    ``--help`` and range checks; ``dynsim models`` prints it."""

    name: str
    default: object  # a float, an array, or None (required)
    ndim: int = 0
    lower: float = -math.inf
    upper: float = math.inf
    lower_open: bool = False
    upper_open: bool = False
    symbol: str | None = None
    help: str = ""

    @property
    def label(self) -> str:
        """The symbol as mathtext (``$\\eta$``), or the name."""
        return f"${self.symbol}$" if self.symbol else self.name

    def range_text(self) -> str:
        lo = "-inf" if self.lower == -math.inf else f"{self.lower:g}"
        hi = "inf" if self.upper == math.inf else f"{self.upper:g}"
        left = "(" if self.lower_open or self.lower == -math.inf else "["
        right = ")" if self.upper_open or self.upper == math.inf else "]"
        return f"{left}{lo}, {hi}{right}"

    def check(self, value, name: str | None = None) -> None:
        check_param(name or self.name, value, lower=self.lower, upper=self.upper,
                    lower_open=self.lower_open, upper_open=self.upper_open)


def param(default=dataclasses.MISSING, *, ndim: int = 0, lower: float = -math.inf, upper: float = math.inf,
          lower_open: bool = False, upper_open: bool = False, symbol: str | None = None, help: str = "",
          **kwargs):
    """A parameter field: stored as a floating-point JAX array, so that changing its value
    (or giving a batch of values) never triggers a recompilation.

    ``ndim`` is the parameter's own number of dimensions (0 for a scalar, 2 for a matrix
    such as a covariance); leading axes beyond it are batch axes. ``lower``/``upper`` (with
    ``lower_open``/``upper_open``) declare the accepted range, checked when the model is built;
    ``symbol`` is the mathtext symbol (``r"\\alpha_p"``) used in figures and ``--help``.

    Example::

        class Toy(dynsim.AbstractSystem):
            mu: Array = dynsim.param(1.0, symbol=r"\\mu", help="bifurcation parameter")
            state_names = ("x", "y")
            def vector_field(self, t, y):
                return jnp.stack([self.mu * y[0] - y[0] ** 3, -y[1]])
    """
    if default is not dataclasses.MISSING:
        kwargs["default"] = default
    meta = {"ndim": ndim, "lower": lower, "upper": upper, "lower_open": lower_open, "upper_open": upper_open,
            "symbol": symbol, "help": help}
    return eqx.field(converter=_as_float_array, metadata=meta, **kwargs)


def _concrete(x) -> np.ndarray | None:
    """The value of ``x`` as numpy, or ``None`` while it is being traced."""
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x)


def _on_host(x) -> np.ndarray | None:
    """The value of ``x`` as numpy where that needs no transfer (``x`` concrete and on the CPU, or not
    a JAX array); ``None`` for a tracer or an accelerator's array. Small host-side work goes through
    numpy: an eager JAX operation on a concrete array compiles a program for every new shape."""
    if isinstance(x, jax.core.Tracer) or (isinstance(x, jax.Array)
                                          and any(d.platform != "cpu" for d in x.devices())):
        return None
    return np.asarray(x)


def broadcast_flat(x, batch: tuple[int, ...], event: tuple[int, ...]) -> Array:
    """``x`` broadcast to ``batch + event`` and flattened to ``(prod(batch), *event)``: by NumPy where
    ``x`` is on the host (:func:`_on_host`; an eager JAX broadcast and reshape would each be compiled
    for every new shape), by JAX for a tracer or an accelerator's array."""
    size = int(np.prod(batch, dtype=int))
    host = _on_host(x)
    if host is None:
        return jnp.broadcast_to(x, (*batch, *event)).reshape(size, *event)
    return to_jax(np.broadcast_to(host, (*batch, *event)).reshape(size, *event))


#: The magnitudes a scalar parameter may have besides 0 (the command line's float options take the same):
#: products and powers of a few such numbers stay normal float64 numbers, so nothing downstream overflows
#: (``sigma ** 2`` of 1e308) or loses its digits to underflow.
MAGNITUDE_RANGE = (1e-100, 1e100)


def check_param(name: str, value, *, lower: float = -math.inf, upper: float = math.inf,
                lower_open: bool = False, upper_open: bool = False) -> None:
    """Raise :class:`DynsimInputError` unless every entry of ``value`` is finite, not subnormal
    (``0 < |v| < 2.2e-308``: every product with it loses its digits) and in range; a scalar must
    also be 0 or of a magnitude in :data:`MAGNITUDE_RANGE`.

    Traced values are not checked (validation happens where a user builds the object).
    """
    v = _concrete(value)
    if v is None:
        return
    if not np.all(np.isfinite(v)):
        raise DynsimInputError(name, f"{name} must be finite (got {_show(v)})")
    subnormal = (v != 0) & (np.abs(v) < np.finfo(v.dtype).tiny) if v.dtype.kind == "f" else np.zeros((), bool)
    if np.any(subnormal):
        raise DynsimInputError(name, f"{name} is subnormal (got {_show(v[subnormal] if v.ndim else v)}): "
                                     "give 0 or a normal number")
    lo_bad = v <= lower if lower_open else v < lower
    hi_bad = v >= upper if upper_open else v > upper
    if np.any(lo_bad) or np.any(hi_bad):
        lo = "-inf" if lower == -math.inf else f"{lower:g}"
        hi = "inf" if upper == math.inf else f"{upper:g}"
        rng = f"{'(' if lower_open or lower == -math.inf else '['}{lo}, {hi}{')' if upper_open or upper == math.inf else ']'}"
        bad = v[np.asarray(lo_bad | hi_bad)] if v.ndim else v
        raise DynsimInputError(name, f"{name} must be in {rng} (got {_show(bad)})")
    if v.ndim == 0 and v.dtype.kind == "f" and v != 0 and not (MAGNITUDE_RANGE[0] <= abs(v) <= MAGNITUDE_RANGE[1]):
        raise DynsimInputError(name, f"{name} must be 0 or of magnitude in [{MAGNITUDE_RANGE[0]:g}, "
                                     f"{MAGNITUDE_RANGE[1]:g}] (got {_show(v)})")


#: The range of a random initialisation's scale: weights of scale s give second moments ~ s^2, which
#: underflow to subnormal numbers below about 1e-154 and overflow above about 1e154 in float64; the
#: bounds keep every product of a few weights a normal number.
INIT_SCALE_RANGE = (1e-100, 1e100)


def check_init_scale(value, name: str = "init_scale") -> None:
    """Raise :class:`DynsimInputError` unless ``value`` is a scale in :data:`INIT_SCALE_RANGE`."""
    check_param(name, value, lower=INIT_SCALE_RANGE[0], upper=INIT_SCALE_RANGE[1])


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

    def __check_init__(self):
        for spec in self.param_specs():
            if spec.lower != -math.inf or spec.upper != math.inf:
                spec.check(getattr(self, spec.name))

    @classmethod
    def param_specs(cls) -> tuple[ParamSpec, ...]:
        """The declared parameters (array fields made with :func:`param`), in declaration order."""
        out = []
        for f in dataclasses.fields(cls):
            if f.metadata.get("ndim") is None:
                continue
            m = f.metadata
            default = None if f.default is dataclasses.MISSING else f.default
            out.append(ParamSpec(f.name, default, m["ndim"], m.get("lower", -math.inf), m.get("upper", math.inf),
                                 m.get("lower_open", False), m.get("upper_open", False), m.get("symbol"),
                                 m.get("help", "")))
        return tuple(out)

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

    # -- optional capabilities: what a model knows beyond its vector field. The generic tools use
    # -- each where a model offers it (returns something other than None) and never ask which
    # -- model they hold.

    def stationary_points(self) -> np.ndarray | None:
        """Closed-form stationary points, shape ``(m, n)``, or ``None`` (then they are found)."""
        return None

    def default_window(self) -> list[tuple[float, float]] | None:
        """A ``(lo, hi)`` range per state component where the dynamics are of interest, or ``None``."""
        return None

    def certified_lanes(self, y0: np.ndarray):
        """Proven basin traps: ``(lanes, attractors, names)`` where ``lanes`` is a batched model (one
        lane per row of ``y0``) whose ``certify(t, y)`` returns the index into ``attractors``
        ``(m, n)`` of the basin ``y`` is proven to lie in, or ``-1``; or ``None`` (then the generic
        linearisation certificate is used)."""
        return None

    def capabilities(self) -> tuple[str, ...]:
        """The optional hooks this model offers (for ``dynsim models``)."""
        base = AbstractSystem
        hooks = ("stationary_points", "default_window", "certified_lanes", "invariant", "log_rate")
        out = tuple(h for h in hooks if hasattr(type(self), h) and getattr(type(self), h) is not getattr(base, h, None))
        return out + (("positive",) if self.positive else ())

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
        """The broadcast batch shape of the parameters (their axes beyond each one's ``ndim``),
        including those of any model held in a field (a wrapper such as a basin lane)."""
        shapes = [v.shape[: v.ndim - k] for _, v, k in self._all_param_fields()]
        return tuple(np.broadcast_shapes(*shapes)) if shapes else ()

    def _param_fields(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if eqx.is_array(v):
                yield f.name, v, f.metadata.get("ndim", 0)

    def _all_param_fields(self):
        """``(getter, value, ndim)`` of every parameter, descending into fields that are models."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            get = (lambda name: lambda s: getattr(s, name))(f.name)
            if eqx.is_array(v):
                yield get, v, f.metadata.get("ndim", 0)
            elif isinstance(v, AbstractSystem):
                for inner, w, k in v._all_param_fields():
                    yield (lambda g, h: lambda s: h(g(s)))(get, inner), w, k

    def broadcast_to(self, batch: tuple[int, ...]) -> "AbstractSystem":
        """Every parameter broadcast to ``batch`` + its own shape, then the batch flattened to one axis."""
        getters, values = [], []
        for get, v, k in self._all_param_fields():
            event = v.shape[v.ndim - k:]
            getters.append(get)
            values.append(broadcast_flat(v, batch, event))
        if not getters:
            return self
        return eqx.tree_at(lambda s: [g(s) for g in getters], self, values)

    def astype(self, dtype) -> "AbstractSystem":
        """The same system with its parameters cast to ``dtype`` (e.g. ``jnp.float32`` for speed)."""
        return jax.tree_util.tree_map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, self)


# ---------------------------------------------------------------------------------------------
# Models from plain functions


def _function_vector_field(self, t, y):
    out = type(self).function(t, y, **{s.name: getattr(self, s.name) for s in self.param_specs()})
    return jnp.asarray(out, dtype=jnp.result_type(y))


def from_function(fn, *, state_names: tuple[str, ...] | None = None, dim: int | None = None,
                  name: str | None = None, symbols: dict[str, str] | None = None,
                  ranges: dict[str, tuple[float, float]] | None = None) -> "AbstractSystem":
    """A model from a plain function ``f(t, y, *, a=1.0, b=0.5) -> dy/dt``: its keyword-only
    arguments (each with a default) are the parameters, their defaults the default values.

    ``state_names`` (or ``dim``, giving ``y0, y1, ...``) names the components; a function
    attribute ``fn.state_names`` is used when neither is given. ``symbols`` maps a parameter to its
    mathtext symbol and ``ranges`` to its accepted ``(lower, upper)``. Returns an instance with
    the default parameters (a new :class:`AbstractSystem` subclass named after the function), so
    ``eqx.tree_at`` or ``type(m)(a=2.0)`` give other values::

        def duffing(t, y, *, delta=0.3):
            x, v = y
            return jnp.stack([v, x - x**3 - delta * v])

        model = dynsim.from_function(duffing, state_names=("x", "v"))
    """
    from dynsim._core.errors import DynsimInputError

    if not callable(fn):
        raise DynsimInputError("model", f"a model must be an AbstractSystem or a function f(t, y, *, ...), got {fn!r}")
    label = name or getattr(fn, "__name__", "model")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise DynsimInputError("model", f"{label}: cannot read the signature of {fn!r}") from None
    positional = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) != 2 or any(p.default is not p.empty for p in positional):
        raise DynsimInputError("model", f"{label}: a model function takes (t, y, *, param=default, ...); "
                                        f"got ({', '.join(str(p) for p in sig.parameters.values())})")
    params = [p for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY]
    missing = [p.name for p in params if p.default is p.empty]
    if missing:
        raise DynsimInputError("model", f"{label}: every parameter needs a default value ({', '.join(missing)} has none)")
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values()):
        raise DynsimInputError("model", f"{label}: *args/**kwargs are not allowed; name each parameter")
    state_names = state_names or getattr(fn, "state_names", None)
    if state_names is None:
        if dim is None:
            raise DynsimInputError("model", f"{label}: give state_names=(...) or dim=n (or set {label}.state_names)")
        state_names = tuple(f"y{i}" for i in range(int(dim)))
    state_names = tuple(str(s) for s in state_names)
    if not state_names:
        raise DynsimInputError("model", f"{label}: state_names is empty")
    symbols, ranges = symbols or {}, ranges or {}
    unknown = (set(symbols) | set(ranges)) - {p.name for p in params}
    if unknown:
        raise DynsimInputError("model", f"{label}: symbols/ranges name unknown parameters {sorted(unknown)}")
    ns: dict = {"__annotations__": {}, "__doc__": fn.__doc__ or f"The model {label}{sig}.",
                "__module__": getattr(fn, "__module__", __name__), "state_names": state_names,
                "function": staticmethod(fn), "vector_field": _function_vector_field}
    for p in params:
        lo, hi = ranges.get(p.name, (-math.inf, math.inf))
        ns["__annotations__"][p.name] = Array
        ns[p.name] = param(p.default, ndim=np.ndim(p.default), lower=lo, upper=hi, symbol=symbols.get(p.name))
    cls = type(label, (AbstractSystem,), ns)
    return cls()


class AbstractWrapper(AbstractSystem):
    """A model around another one (a lane of a basin map, a time-rescaled flow): state names,
    sign-preserving components and batching come from the inner ``model``."""

    model: AbstractSystem

    @property
    def state_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.model.state_names

    @property
    def positive(self) -> tuple[int, ...]:  # type: ignore[override]
        return self.model.positive

    def log_rate(self, t, y):
        return self.model.log_rate(t, y)
