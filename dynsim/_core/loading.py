"""A model from the command line: ``--model FILE.py:NAME``, ``--model package.module:NAME`` or a
built-in name, with ``--param NAME=VALUE`` (a matrix from ``FILE.npz`` or ``FILE.npz:KEY``).

``NAME`` may be an :class:`AbstractSystem` subclass (built with its defaults and the given
parameters), an instance, or a plain function ``f(t, y, *, a=1.0, ...)`` (see
:func:`~dynsim.from_function`; its ``state_names`` attribute names the state). Every failure is one
:class:`DynsimInputError` naming ``model`` or ``param``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from pathlib import Path

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from dynsim._core.errors import DynsimInputError
from dynsim._core.system import AbstractSystem, from_function, to_jax


def _import_file(path: Path):
    name = f"dynsim_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DynsimInputError("model", f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - any error in the user's file is reported in one line
        sys.modules.pop(name, None)
        raise DynsimInputError("model", f"cannot import {path}: {type(e).__name__}: {e}".splitlines()[0]) from None
    return module


def import_target(spec: str):
    """The module of ``FILE.py`` or ``package.module`` (before the colon of ``--model``)."""
    if spec.endswith(".py") or "/" in spec or Path(spec).suffix == ".py":
        path = Path(spec)
        if not path.is_file():
            raise DynsimInputError("model", f"no such file: {spec}")
        return _import_file(path)
    try:
        return importlib.import_module(spec)
    except Exception as e:  # noqa: BLE001
        raise DynsimInputError("model", f"cannot import {spec}: {type(e).__name__}: {e}".splitlines()[0]) from None


def parse_params(items: list[str] | None) -> dict[str, object]:
    """``["a=1.5", "X=cov.npz", "Y=data.npz:key"]`` -> ``{"a": 1.5, "X": array, ...}``."""
    out: dict[str, object] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name or not value.strip():
            raise DynsimInputError("param", f"expected NAME=VALUE (a number, or FILE.npz[:KEY]), got {item!r}")
        value = value.strip()
        file, _, key = value.partition(":") if ".npz" in value else (value, "", "")
        if file.endswith(".npz"):
            out[name] = _load_npz_value(file, key, name)
            continue
        try:
            out[name] = float(value)
        except ValueError:
            raise DynsimInputError("param", f"{name}: expected a number or FILE.npz[:KEY], got {value!r}") from None
    return out


def _load_npz_value(file: str, key: str, name: str) -> np.ndarray:
    path = Path(file)
    if not path.is_file():
        raise DynsimInputError("param", f"{name}: no such file: {file}")
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.keys())
            if not keys:
                raise DynsimInputError("param", f"{name}: {file} holds no array")
            if not key and len(keys) > 1:
                raise DynsimInputError("param", f"{name}: {file} holds {', '.join(keys)}: say which as {file}:KEY")
            k = key or keys[0]
            if k not in keys:
                raise DynsimInputError("param", f"{name}: {file} has no array {k!r} (it has {', '.join(keys)})")
            arr = np.asarray(data[k], float)
    except DynsimInputError:
        raise
    except Exception as e:  # noqa: BLE001 - truncated, not an npz, pickled objects
        raise DynsimInputError("param", f"{name}: cannot read {file} as .npz ({type(e).__name__})") from None
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise DynsimInputError("param", f"{name}: the array in {file} must be non-empty and finite")
    return arr


def with_params(model: AbstractSystem, values: dict[str, object]) -> AbstractSystem:
    """``model`` with some parameters replaced; unknown names, wrong shapes and out-of-range values
    are refused (the model's declared ranges and its own checks run again)."""
    if not values:
        return model
    specs = {s.name: s for s in model.param_specs()}
    for name, v in values.items():
        if name not in specs:
            known = ", ".join(specs) or "none"
            raise DynsimInputError("param", f"{type(model).__name__} has no parameter {name!r} (its parameters: {known})")
        want = np.shape(getattr(model, name))
        if np.shape(v) != want:
            raise DynsimInputError("param", f"{name} must have shape {want} (got {np.shape(v)})")
    try:
        return dataclasses.replace(model, **{k: jnp.asarray(v, float) for k, v in values.items()})
    except DynsimInputError:
        raise
    except (TypeError, ValueError):  # a model with a custom __init__: set the fields directly, then check
        names = list(values)
        new = eqx.tree_at(lambda m: [getattr(m, n) for n in names], model,
                          [jnp.asarray(values[n], float) for n in names])
        for n in names:
            specs[n].check(values[n])
        return new


def check_model(model: AbstractSystem, probe=None) -> None:
    """The vector field returns a finite array of the state's shape at a probe state (zeros and
    a few small offsets: a field that is NaN at every one is refused)."""
    n = model.dim
    points = [np.zeros(n), np.full(n, 0.1), np.linspace(0.2, 0.7, n)] if probe is None else [np.asarray(probe, float)]
    finite = False
    for y in points:
        try:
            f = np.asarray(model.vector_field(0.0, to_jax(y)))
        except Exception as e:  # noqa: BLE001
            raise DynsimInputError("model", f"{type(model).__name__}.vector_field failed: {type(e).__name__}: {e}"
                                   .splitlines()[0]) from None
        if f.shape != (n,):
            raise DynsimInputError("model", f"{type(model).__name__}.vector_field returns shape {f.shape}, "
                                            f"expected ({n},) for state {', '.join(model.state_names)}")
        finite |= bool(np.all(np.isfinite(f)))
    if not finite:
        raise DynsimInputError("model", f"{type(model).__name__}.vector_field is not finite (NaN or inf) at the probe "
                                        "states; check its formula")


def resolve(obj, name: str) -> AbstractSystem:
    if isinstance(obj, AbstractSystem):
        return obj
    if isinstance(obj, type) and issubclass(obj, AbstractSystem):
        try:
            return obj()
        except TypeError as e:
            raise DynsimInputError("model", f"{name}: cannot build it with its defaults ({e}); give every "
                                            "parameter a default").with_traceback(None) from None
    if callable(obj):
        return from_function(obj, name=name)
    raise DynsimInputError("model", f"{name} is neither an AbstractSystem nor a function f(t, y, *, ...)")


def load_model(spec: str, params: dict[str, object] | None = None) -> AbstractSystem:
    """The model named by ``spec`` (``FILE.py:NAME``, ``package.module:NAME`` or a built-in name of
    :mod:`dynsim.models.registry`) with ``params`` applied, checked."""
    from dynsim.models import registry

    spec = spec.strip()
    if not spec:
        raise DynsimInputError("model", "empty --model: give FILE.py:NAME, package.module:NAME or a built-in name")
    if ":" in spec and not registry.has(spec):
        target, _, name = spec.rpartition(":")
        module = import_target(target)
        if not hasattr(module, name):
            candidates = sorted(k for k, v in vars(module).items() if not k.startswith("_") and (
                isinstance(v, AbstractSystem) or (isinstance(v, type) and issubclass(v, AbstractSystem)
                                                  and v is not AbstractSystem) or
                (callable(v) and getattr(v, "__module__", None) == module.__name__)))
            raise DynsimInputError("model", f"{target} has no {name!r}" +
                                   (f" (it has {', '.join(candidates)})" if candidates else ""))
        model = resolve(getattr(module, name), name)
    elif registry.has(spec):
        model = registry.build(spec)
    elif spec.endswith(".py"):
        raise DynsimInputError("model", f"say which model in {spec}: {spec}:NAME")
    else:
        raise DynsimInputError("model", f"unknown model {spec!r}: a built-in ({', '.join(registry.names())}), "
                                        "FILE.py:NAME or package.module:NAME")
    model = with_params(model, params or {})
    check_model(model)
    return model
