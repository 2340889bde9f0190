r"""Models written as losses: the gradient flow of a JAX loss of named weights, by ``jax.grad``.

A theorist's system starts as a loss ``L(theta; data, params)`` of named weights ``theta_k``;
:class:`GradientFlow` turns it into the ODE

    d theta_k/dt = -r_k dL/d theta_k - eta_k theta_k        (trained weights)
    d T/dt       = beta_T (theta_s(T) - T)                   (EMA targets, not trained)

with ``r_k`` the weight's learning-rate ratio (``lr={"W_p": "alpha_p"}``: ``r = alpha_p``; else 1),
``eta_k`` its declared (decoupled) weight decay (``decay="eta"``: ``eta`` on every trained weight;
else 0), and each EMA target ``T`` following its source ``theta_s`` at rate ``beta_T``
(``ema={"W_a": ("W", "beta")}``). ``jax.lax.stop_gradient`` inside the loss is respected (it is by
``jax.grad``); an EMA target receives no gradient at all.

Weight decay written *inside* the loss, ``L + eta/2 ||W_p||^2``, is scaled by the weight's ratio
(``-alpha_p eta W_p``); Lemma 1 of [T21] (and :func:`dynsim.train`) has ``-eta W_p``: declare it
with ``decay`` to get Lemma 1.

The loss is a Python function whose keyword arguments are named like the weights, the data and
the parameters (``def loss(W_p, W, W_a, X, X_aug): ...``); it is either an expectation written in
terms of given statistics (covariances in ``data``) or an average over fixed samples (arrays in
``data`` with a leading sample axis, named in ``samples`` so that training can draw minibatches).
The state is the weights flattened in a fixed order (the trained weights in the order of
``weights``, then the EMA targets in the order of ``ema``), so every tool of dynsim takes it.

:func:`train_gradient_flow` trains the same loss by SGD (one step at learning rate ``lr`` is time
``lr`` of the flow) on minibatches, so that flow and training come from one definition.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from dynsim._core.errors import DynsimInputError
from dynsim._core.system import AbstractSystem, broadcast_flat, check_param, to_jax

__all__ = ["GradientFlow", "GradientTraining", "field_discrepancy", "train_gradient_flow"]


def _first_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0] if msg else ''}"


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _shape(name: str, shape) -> tuple[int, ...]:
    try:
        shape = tuple(shape)
    except TypeError:
        shape = None
    if shape is None or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in shape):
        raise DynsimInputError("weights", f"the shape of weight {name!r} must be a tuple of positive integers "
                                          f"(got {shape!r})")
    return tuple(int(s) for s in shape)


def _float_array(argument: str, name: str, value) -> Array:
    if _is_traced(value):
        return value if jnp.issubdtype(value.dtype, jnp.floating) else value.astype(float)
    try:
        v = np.asarray(value)
    except Exception as e:  # noqa: BLE001
        raise DynsimInputError(argument, f"{argument}[{name!r}] is not an array ({_first_line(e)})") from None
    if not (np.issubdtype(v.dtype, np.floating) or np.issubdtype(v.dtype, np.integer) or v.dtype == bool):
        raise DynsimInputError(argument, f"{argument}[{name!r}] must be a real array (got dtype {v.dtype})")
    if not np.all(np.isfinite(v)):
        raise DynsimInputError(argument, f"{argument}[{name!r}] must be finite")
    return jnp.asarray(v, float) if not np.issubdtype(v.dtype, np.floating) else to_jax(v)


def _names(argument: str, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DynsimInputError(argument, f"{argument} must be a mapping of names (got {type(value).__name__})")
    for k in value:
        if not isinstance(k, str) or not k.isidentifier():
            raise DynsimInputError(argument, f"{argument} names must be Python identifiers (got {k!r})")
    return dict(value)


def _index_names(name: str, shape: tuple[int, ...]) -> list[str]:
    if not shape:
        return [name]
    return [f"{name}[{','.join(map(str, idx))}]" for idx in np.ndindex(*shape)]


class GradientFlow(AbstractSystem):
    r"""The gradient flow of a loss of named weights (see the module docstring for the equations).

    ``GradientFlow(loss, weights={"W_p": (n2, n2), "W": (n2, n1)}, data={"X": X, "X_aug": X_aug},
    params={"eta": 0.01, "alpha_p": 1.0, "beta": 1.0}, lr={"W_p": "alpha_p"},
    ema={"W_a": ("W", "beta")}, decay="eta")`` is Lemma 1 of [T21] for
    ``loss(W_p, W, W_a, X, X_aug) = 1/2 tr(W_p W (X + X') W^T W_p^T) - tr(W_p W X W_a^T)``.

    - ``loss``: a JAX function of keyword arguments named like the weights (trained and EMA), the
      data and the parameters, returning a real scalar; it may take ``**kwargs`` (then it gets all);
    - ``weights``: ``{name: shape}`` of the trained weights (state order);
    - ``data``: ``{name: array}`` of fixed arrays (covariances, or samples along a leading axis);
    - ``params``: ``{name: value}`` of scalar hyperparameters (arrays with leading batch axes
      make a batch of systems, as for every other model);
    - ``lr``: ``{weight: param}`` learning-rate ratios; ``ema``: ``{target: (source, rate_param)}``;
      ``decay``: a param name (decoupled weight decay on every trained weight) or ``{weight: param}``;
    - ``samples``: the data names that hold samples along a common leading axis (for minibatches);
    - ``start``: a state (vector or ``{name: array}``) at which the loss and its gradient are checked
      to be finite; by default :meth:`init` of seed 0.

    Data and parameters are traced array fields, so new values never recompile. Every name must
    be used: a weight, datum or parameter that neither the loss nor ``lr``/``ema``/``decay`` takes
    is an error (a typo, usually), as is a loss argument that is not given.

    The state is :meth:`pack` / :meth:`unpack` of ``{name: array}``, named ``"W[i,j]"`` in
    :attr:`state_names`; :meth:`init` draws a start, :meth:`loss` evaluates the loss at a state,
    :meth:`descent` gives the SGD direction and :meth:`train` trains the same loss by SGD.
    Write matrix products as ``A = W_p W``, ``<A S, A>`` rather than ``tr(W_p W S W^T W_p^T)``:
    XLA does not reassociate a product chain, and the trace form costs 2.5x the hand-written field
    at n = 256 where the matmul form costs about the same (benchmarks/bench_loss_rhs.py).
    """

    loss_fn: Callable = eqx.field(static=True)
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = eqx.field(static=True)
    trained: tuple[str, ...] = eqx.field(static=True)
    data: dict[str, Array]
    params: dict[str, Array]
    lr_ratio: tuple[tuple[str, str], ...] = eqx.field(static=True)
    ema: tuple[tuple[str, str, str], ...] = eqx.field(static=True)
    decay: tuple[tuple[str, str], ...] = eqx.field(static=True)
    samples: tuple[str, ...] = eqx.field(static=True)
    data_ndim: tuple[tuple[str, int], ...] = eqx.field(static=True)
    loss_args: tuple[str, ...] | None = eqx.field(static=True)  # None: the loss takes **kwargs

    def __init__(self, loss: Callable, weights: Mapping[str, tuple[int, ...]],
                 data: Mapping[str, ArrayLike] | None = None, params: Mapping[str, ArrayLike] | None = None, *,
                 lr: Mapping[str, str] | None = None, ema: Mapping[str, tuple[str, str]] | None = None,
                 decay: str | Mapping[str, str] | None = None, samples: tuple[str, ...] | list[str] = (), start=None):
        if not callable(loss):
            raise DynsimInputError("loss", f"loss must be a function (got {type(loss).__name__})")
        weights, data, params = _names("weights", weights), _names("data", data), _names("params", params)
        lr, ema = _names("lr", lr), _names("ema", ema)
        if not weights:
            raise DynsimInputError("weights", "weights must name at least one trained weight")
        shapes = {k: _shape(k, v) for k, v in weights.items()}
        # EMA targets: (source, rate) with the source's shape
        ema_t = []
        for target, spec in ema.items():
            if target in shapes:
                raise DynsimInputError("ema", f"EMA target {target!r} is also a trained weight: an EMA target "
                                              "follows its source and is not trained")
            if not (isinstance(spec, (tuple, list)) and len(spec) == 2 and all(isinstance(s, str) for s in spec)):
                raise DynsimInputError("ema", f"ema[{target!r}] must be (source weight, rate parameter) "
                                              f"(got {spec!r})")
            src, rate = spec
            if src not in weights:
                raise DynsimInputError("ema", f"the source of EMA target {target!r} is {src!r}, not a trained "
                                              f"weight ({', '.join(weights)})")
            if rate not in params:
                raise DynsimInputError("ema", f"the rate of EMA target {target!r} is {rate!r}, not in params")
            ema_t.append((target, src, rate))
        all_shapes = {**shapes, **{t: shapes[s] for t, s, _ in ema_t}}
        for w, p in lr.items():
            if w not in shapes:
                raise DynsimInputError("lr", f"lr names {w!r}, not a trained weight ({', '.join(shapes)})")
            if not isinstance(p, str) or p not in params:
                raise DynsimInputError("lr", f"the learning-rate ratio of {w!r} must name a parameter in params "
                                             f"(got {p!r})")
        if decay is None:
            decay_t = ()
        elif isinstance(decay, str):
            if decay not in params:
                raise DynsimInputError("decay", f"decay {decay!r} is not in params")
            decay_t = tuple((w, decay) for w in shapes)
        else:
            decay = _names("decay", decay)
            for w, p in decay.items():
                if w not in shapes:
                    raise DynsimInputError("decay", f"decay names {w!r}, not a trained weight")
                if not isinstance(p, str) or p not in params:
                    raise DynsimInputError("decay", f"the decay of {w!r} must name a parameter in params (got {p!r})")
            decay_t = tuple(decay.items())
        clash = (set(all_shapes) & set(data)) | (set(all_shapes) & set(params)) | (set(data) & set(params))
        if clash:
            raise DynsimInputError("params", f"names must be unique across weights, data and params: "
                                             f"{', '.join(sorted(clash))} repeat")
        # the loss's arguments
        try:
            sig = inspect.signature(loss)
        except (TypeError, ValueError):
            sig = None
        loss_args = None
        if sig is not None:
            kinds = {p.kind for p in sig.parameters.values()}
            if inspect.Parameter.VAR_KEYWORD not in kinds:
                loss_args = tuple(n for n, p in sig.parameters.items()
                                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
                given = set(all_shapes) | set(data) | set(params)
                for n, p in sig.parameters.items():
                    if p.kind == p.POSITIONAL_ONLY or p.kind == p.VAR_POSITIONAL:
                        raise DynsimInputError("loss", f"the loss's arguments must be passable by name ({n!r} is not)")
                    if n not in given and p.default is inspect.Parameter.empty:
                        raise DynsimInputError("loss", f"the loss takes {n!r}, which is neither a weight, a datum "
                                                       "nor a parameter")
                for n in all_shapes:
                    if n not in loss_args:
                        raise DynsimInputError("ema" if n not in shapes else "weights",
                                               f"the loss does not take the weight {n!r}")
                for n in data:
                    if n not in loss_args:
                        raise DynsimInputError("data", f"the loss does not take the datum {n!r}")
        used = {p for _, p in lr.items()} | {r for _, _, r in ema_t} | {p for _, p in decay_t}
        for n in params:
            if (loss_args is not None and n not in loss_args) and n not in used:
                raise DynsimInputError("params", f"parameter {n!r} is taken neither by the loss nor by lr, ema "
                                                 "or decay")
        data_arr = {k: _float_array("data", k, v) for k, v in data.items()}
        params_arr = {}
        for k, v in params.items():
            if not _is_traced(v):
                check_param(k, v)
            params_arr[k] = _float_array("params", k, v)
        samples = tuple(samples)
        for k in samples:
            if k not in data_arr:
                raise DynsimInputError("samples", f"samples names {k!r}, not in data")
        if samples:
            lens = {k: (data_arr[k].shape[0] if data_arr[k].ndim else None) for k in samples}
            if None in lens.values() or len(set(lens.values())) != 1:
                raise DynsimInputError("samples", f"the sample arrays need one common leading axis "
                                                  f"(got lengths {lens})")

        self.loss_fn = loss
        self.shapes = tuple(all_shapes.items())
        self.trained = tuple(shapes)
        self.data = data_arr
        self.params = params_arr
        self.lr_ratio = tuple(lr.items())
        self.ema = tuple(ema_t)
        self.decay = decay_t
        self.samples = samples
        self.data_ndim = tuple((k, v.ndim) for k, v in data_arr.items())
        self.loss_args = loss_args
        self._validate(start)

    # -- validation -------------------------------------------------------------------

    def _validate(self, start) -> None:
        leaves = jax.tree_util.tree_leaves((self.data, self.params))
        if any(_is_traced(v) for v in leaves):
            return  # built under a transformation: checked where the user builds it
        one = self._first_of_batch()
        w_struct = {k: jax.ShapeDtypeStruct(s, jnp.result_type(float)) for k, s in self.shapes}
        shapes = ", ".join(f"{k}: {s}" for k, s in self.shapes)
        try:
            out = jax.eval_shape(lambda w: one._loss(w, one.data), w_struct)
        except jax.errors.JAXTypeError as e:
            raise DynsimInputError("loss", f"the loss cannot be traced by JAX ({_first_line(e)})") from None
        except Exception as e:  # noqa: BLE001  (a shape mismatch, usually)
            raise DynsimInputError("weights", f"the loss fails at the declared shapes ({shapes}): "
                                              f"{_first_line(e)}") from None
        if getattr(out, "shape", None) != ():
            raise DynsimInputError("loss", f"the loss must return a scalar (got shape {getattr(out, 'shape', out)})")
        if not jnp.issubdtype(out.dtype, jnp.floating):
            raise DynsimInputError("loss", f"the loss must return a real floating-point scalar to be "
                                           f"differentiable (got dtype {out.dtype})")
        try:
            jax.eval_shape(lambda w: jax.grad(lambda tr: one._loss({**w, **tr}, one.data))(
                {k: w[k] for k in one.trained}), w_struct)
        except Exception as e:  # noqa: BLE001
            raise DynsimInputError("loss", f"the loss is not differentiable by jax.grad ({_first_line(e)})") from None
        y = one.init(seed=0) if start is None else one._as_state("start", start)
        name = "loss" if start is None else "start"
        value, field = _loss_and_field(one, y)
        value = float(value)
        if not math.isfinite(value):
            raise DynsimInputError(name, f"the loss is {value} at the start "
                                         f"({'seed-0 init' if start is None else 'the given start'})")
        if not np.all(np.isfinite(np.asarray(field))):
            raise DynsimInputError(name, f"the gradient of the loss is not finite at the start "
                                         f"({'seed-0 init' if start is None else 'the given start'})")

    def _first_of_batch(self) -> "GradientFlow":
        if not self.batch_shape():
            return self
        return eqx.tree_at(lambda s: s.params, self, {k: jnp.reshape(v, (-1,))[0] for k, v in self.params.items()})

    def _as_state(self, argument: str, y) -> Array:
        if isinstance(y, Mapping):
            return self.pack(y)
        y = jnp.asarray(y, float)
        if y.ndim < 1 or y.shape[-1] != self.dim:
            raise DynsimInputError(argument, f"{argument} must have last axis of size {self.dim} (got shape {y.shape})")
        return y

    def check(self, y0: Float[ArrayLike, "*batch dim"], argument: str = "y0") -> Array:
        """``y0`` as a state vector, or :class:`DynsimInputError` when the loss or its gradient is not
        finite there."""
        y0 = self._as_state(argument, y0)
        one = self._first_of_batch()
        vals, fs = jax.vmap(lambda y: _loss_and_field(one, y))(y0.reshape(-1, self.dim))
        if not (np.all(np.isfinite(np.asarray(vals))) and np.all(np.isfinite(np.asarray(fs)))):
            raise DynsimInputError(argument, f"the loss or its gradient is not finite at {argument}")
        return y0

    # -- the state ---------------------------------------------------------------------

    @property
    def state_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(n for name, shape in self.shapes for n in _index_names(name, shape))

    @property
    def dim(self) -> int:
        return sum(int(np.prod(s, dtype=int)) for _, s in self.shapes)

    def unpack(self, y: Float[Array, "*batch dim"]) -> dict[str, Array]:
        """The weights of a (batched) state vector, by name."""
        out, start = {}, 0
        for name, shape in self.shapes:
            size = int(np.prod(shape, dtype=int))
            out[name] = y[..., start:start + size].reshape(*y.shape[:-1], *shape)
            start += size
        return out

    def pack(self, weights: Mapping[str, ArrayLike] | None = None, /, **kw) -> Float[Array, "*batch dim"]:
        """The state vector of every weight (trained and EMA target), each with the same leading batch axes."""
        m = {**(weights or {}), **kw}
        missing = [k for k, _ in self.shapes if k not in m]
        extra = [k for k in m if k not in dict(self.shapes)]
        if missing or extra:
            raise DynsimInputError("weights", f"pack needs exactly the weights {', '.join(k for k, _ in self.shapes)}"
                                              + (f"; missing {', '.join(missing)}" if missing else "")
                                              + (f"; unknown {', '.join(extra)}" if extra else ""))
        parts, batch = [], None
        for name, shape in self.shapes:
            a = jnp.asarray(m[name], float)
            if a.shape[a.ndim - len(shape):] != shape or a.ndim < len(shape):
                raise DynsimInputError(name, f"weight {name!r} must have shape {shape} (got {a.shape})")
            b = a.shape[: a.ndim - len(shape)]
            if batch is not None and b != batch:
                raise DynsimInputError(name, f"weight {name!r} has batch axes {b}, the others {batch}")
            batch = b
            parts.append(a.reshape(*b, -1))
        return jnp.concatenate(parts, axis=-1)

    def init(self, seed: int = 0, scale: float = 1.0) -> Float[Array, " dim"]:
        """A random start: each trained weight i.i.d. ``N(0, scale^2 / fan_in)`` (``fan_in`` its last
        axis), each EMA target equal to its source."""
        rng = np.random.default_rng(seed)
        shapes = dict(self.shapes)
        m = {k: scale * rng.normal(size=shapes[k]) / math.sqrt(shapes[k][-1] if shapes[k] else 1)
             for k in self.trained}
        m.update({t: m[s] for t, s, _ in self.ema})
        return self.pack(m)

    # -- the batch machinery of AbstractSystem (parameters live in dicts here) ------------

    def __getattr__(self, name: str):
        """A hyperparameter by name (``flow.eta``), as for every other model: the generic tools
        (continuation, sweeps, ``--param``) read and set parameters as attributes."""
        params = self.__dict__.get("params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def param_specs(self):  # type: ignore[override]  # an instance's parameters, not the class's fields
        from dynsim._core.system import ParamSpec

        return tuple(ParamSpec(k, float(np.asarray(v)) if np.ndim(v) == 0 else np.asarray(v), np.ndim(v))
                     for k, v in self.params.items())

    def _param_fields(self):
        nd = dict(self.data_ndim)
        yield from ((k, v, 0) for k, v in self.params.items())
        yield from ((k, v, nd[k]) for k, v in self.data.items())

    def _all_param_fields(self):
        """``(getter, value, ndim)`` of every parameter (scalars, batch axes allowed) and datum (no batch axes)."""
        nd = dict(self.data_ndim)
        for k, v in self.params.items():
            yield (lambda k: lambda s: s.params[k])(k), v, 0
        for k, v in self.data.items():
            yield (lambda k: lambda s: s.data[k])(k), v, nd[k]

    def batch_shape(self) -> tuple[int, ...]:
        shapes = [v.shape[: v.ndim - k] for _, v, k in self._all_param_fields()]
        return tuple(np.broadcast_shapes(*shapes)) if shapes else ()

    def broadcast_to(self, batch: tuple[int, ...]) -> "GradientFlow":
        nd = dict(self.data_ndim)

        def b(v, k):
            return broadcast_flat(v, batch, v.shape[v.ndim - k:])

        return eqx.tree_at(lambda s: (s.params, s.data), self,
                           ({k: b(v, 0) for k, v in self.params.items()},
                            {k: b(v, nd[k]) for k, v in self.data.items()}))

    # -- the flow ----------------------------------------------------------------------

    def _loss(self, weights: dict, data: dict) -> Array:
        kw = {**weights, **data, **self.params}
        if self.loss_args is not None:
            kw = {k: v for k, v in kw.items() if k in self.loss_args}
        return self.loss_fn(**kw)

    def loss(self, y: Float[Array, " dim"], data: Mapping[str, Array] | None = None) -> Float[Array, ""]:
        """The loss at state ``y`` (on ``data`` entries that replace the flow's, e.g. a minibatch)."""
        return self._loss(self.unpack(y), {**self.data, **(data or {})})

    def descent(self, weights: dict[str, Array], data: dict[str, Array]) -> tuple[Array, dict[str, Array]]:
        """``(L, g)`` with ``g_k = r_k dL/d theta_k + eta_k theta_k`` for the trained weights: minus
        their velocity, the direction SGD steps along (EMA targets get no gradient)."""
        fixed = {k: v for k, v in weights.items() if k not in self.trained}
        value, grads = jax.value_and_grad(lambda tr: self._loss({**tr, **fixed}, data))(
            {k: weights[k] for k in self.trained})
        for w, p in self.lr_ratio:
            grads[w] = self.params[p] * grads[w]
        for w, p in self.decay:
            grads[w] = grads[w] + self.params[p] * weights[w]
        return value, grads

    def vector_field(self, t, y: Float[Array, " dim"]) -> Float[Array, " dim"]:
        """``d theta_k/dt = -r_k dL/d theta_k - eta_k theta_k``, ``dT/dt = beta_T (theta_s - T)``."""
        w = self.unpack(y)
        _, g = self.descent(w, self.data)
        out = {k: -g[k] for k in self.trained}
        for target, src, rate in self.ema:
            out[target] = self.params[rate] * (w[src] - w[target])
        return self.pack(out)

    def train(self, y0, data=None, **kwargs) -> "GradientTraining":
        """:func:`train_gradient_flow` of this flow."""
        return train_gradient_flow(self, y0, data, **kwargs)


@eqx.filter_jit
def _loss_and_field(flow: GradientFlow, y):
    return flow.loss(y), flow.vector_field(0.0, y)


def field_discrepancy(flow: AbstractSystem, field: AbstractSystem | Callable, ys: Float[ArrayLike, "k dim"],
                      t: float = 0.0) -> np.ndarray:
    """Per state, ``||f_flow(y) - f(y)|| / ||f_flow(y)||``: how far a hand-written ``field`` (a system with
    the same state layout, or ``f(t, y)``) is from the flow of the loss."""
    return np.asarray(_discrepancy(flow, field, jnp.atleast_2d(jnp.asarray(ys, float)), jnp.asarray(t, float)))


@eqx.filter_jit
def _discrepancy(flow, field, ys, t):
    f = field.vector_field if isinstance(field, AbstractSystem) else field
    a = jax.vmap(lambda y: flow.vector_field(t, y))(ys)
    b = jax.vmap(lambda y: f(t, y))(ys)
    return jnp.linalg.norm(a - b, axis=-1) / jnp.linalg.norm(a, axis=-1)


# ----------------------------------------------------------------------------- training


@dataclasses.dataclass
class GradientTraining:
    """SGD on the loss of a :class:`GradientFlow`: the logged states ``ys`` (``(seeds, n_log, dim)``) at
    flow times ``ts = lr x step``, and the mean minibatch loss of each logging interval."""

    flow: GradientFlow
    ts: np.ndarray
    ys: np.ndarray
    loss: np.ndarray

    @property
    def weights(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.flow.unpack(to_jax(self.ys)).items()}


@eqx.filter_jit
def _train(flow: GradientFlow, y0, lr, keys, sample, sampled, steps: int, log_every: int, batch: int | None):
    opt = optax.sgd(lr)

    def one(y, key):
        w0 = flow.unpack(y)
        trained0 = {k: w0[k] for k in flow.trained}
        opt0 = opt.init(trained0)

        def minibatch(k):
            if callable(sample):
                return {**flow.data, **sample(k, batch)}
            if batch is None:
                return {**flow.data, **sampled}
            n = next(iter(sampled.values())).shape[0]
            idx = jax.random.randint(k, (batch,), 0, n)
            return {**flow.data, **{name: v[idx] for name, v in sampled.items()}}

        def step(carry, i):
            w, opt_state = carry
            value, g = flow.descent(w, minibatch(jax.random.fold_in(key, i)))
            trained = {k: w[k] for k in flow.trained}
            updates, opt_state = opt.update(g, opt_state, trained)
            new = dict(optax.apply_updates(trained, updates))
            for target, src, rate in flow.ema:  # W_a <- W_a + lr beta (W - W_a), after the online step
                new[target] = w[target] + lr * flow.params[rate] * (new[src] - w[target])
            return (new, opt_state), value

        def block(carry, j):
            carry, values = jax.lax.scan(step, carry, j * log_every + jnp.arange(log_every))
            return carry, (flow.pack(carry[0]), jnp.mean(values))

        _, (ys, losses) = jax.lax.scan(block, (w0, opt0), jnp.arange(steps // log_every))
        return jnp.concatenate([y[None], ys]), jnp.concatenate([jnp.full((1,), jnp.nan), losses])

    return jax.vmap(one)(y0, keys)


def train_gradient_flow(flow: GradientFlow, y0: Float[ArrayLike, "*seeds dim"],
                        data: Mapping[str, ArrayLike] | Callable[[PRNGKeyArray, int | None], dict] | None = None,
                        *, lr: float, steps: int, batch: int | None = None, seeds: int = 1, seed: int = 0,
                        log_every: int = 1) -> GradientTraining:
    """Train the loss of ``flow`` by SGD (``optax.sgd``), one step at learning rate ``lr`` per unit ``lr``
    of flow time: ``theta_k <- theta_k - lr (r_k dL_B/d theta_k + eta_k theta_k)`` on a minibatch ``B``,
    then each EMA target ``T <- T + lr beta (theta_s - T)``. All steps run in one jitted ``lax.scan``,
    vmapped over ``seeds`` (which differ in their minibatches; ``y0`` may carry one start per seed).

    Minibatches: ``data=None`` draws ``batch`` rows (uniformly, with replacement) of the flow's ``samples``
    arrays each step; a mapping gives other sample arrays (same names) to draw from; ``batch=None``
    uses all of them (full-batch gradient descent, the flow's explicit-Euler-like discretisation); a
    function ``data(key, batch) -> {name: array}`` draws fresh data entries each step (e.g. minibatch
    covariances for a loss written in covariances). Returns the states at ``ts = lr log_every k``.
    """
    check_param("lr", lr, lower=0.0, lower_open=True)
    for name, v in (("steps", steps), ("seeds", seeds), ("log_every", log_every)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise DynsimInputError(name, f"{name} must be a positive integer (got {v!r})")
    if steps % log_every:
        raise DynsimInputError("log_every", f"log_every ({log_every}) must divide steps ({steps})")
    if flow.batch_shape():
        raise DynsimInputError("params", "train one flow at a time (its parameters carry batch axes)")
    y0 = flow.check(y0)
    y0 = jnp.broadcast_to(y0, (seeds, flow.dim)) if y0.ndim == 1 else y0
    if y0.shape != (seeds, flow.dim):
        raise DynsimInputError("y0", f"y0 must be one state or one per seed ({seeds}, {flow.dim}) (got {y0.shape})")
    sampled: dict = {}
    if callable(data):
        sample = data
    else:
        sample = None
        if data is None:
            sampled = {k: flow.data[k] for k in flow.samples}
        else:
            data = _names("data", data)
            for k in data:
                if k not in flow.samples:
                    raise DynsimInputError("data", f"{k!r} is not one of the flow's samples "
                                                   f"({', '.join(flow.samples)})")
            sampled = {k: _float_array("data", k, v) for k, v in data.items()}
        if batch is not None:
            if not sampled:
                raise DynsimInputError("samples", "minibatches need sample arrays: declare samples= in the flow "
                                                  "or pass data(key, batch)")
            n = next(iter(sampled.values())).shape[0]
            if any(v.shape[0] != n for v in sampled.values()):
                raise DynsimInputError("data", "the sample arrays need one common leading axis")
            if not isinstance(batch, (int, np.integer)) or not 1 <= batch <= n:
                raise DynsimInputError("batch", f"batch must be an integer in [1, {n}] (got {batch!r})")
    keys = jax.random.split(jax.random.key(seed), seeds)
    ys, losses = _train(flow, y0, jnp.asarray(lr, float), keys, sample, sampled, int(steps), int(log_every),
                        None if batch is None else int(batch))
    ts = lr * log_every * np.arange(steps // log_every + 1)
    return GradientTraining(flow, ts, np.asarray(ys), np.asarray(losses))
