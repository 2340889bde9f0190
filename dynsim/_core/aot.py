"""Skip tracing on repeated jobs: a job's jitted computation, serialized with ``jax.export``.

JAX's persistent compilation cache skips XLA compilation, but every new process still
traces and lowers the job (about a second for diffrax + optimistix). When the compilation
cache is enabled, :func:`call` also stores the lowered computation next to it, keyed by
everything it depends on (dynsim's source, library versions, input shapes, static
arguments), and later processes load it instead of tracing.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import cache
from importlib import metadata
from pathlib import Path

import jax

_LIBS = ("jax", "jaxlib", "diffrax", "equinox", "optimistix", "lineax")


@cache
def _source_hash() -> str:
    h = hashlib.sha256()
    package = Path(__file__).parent.parent
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode())
        h.update(path.read_bytes())
    for lib in _LIBS:
        try:
            h.update(f"{lib}={metadata.version(lib)}".encode())
        except metadata.PackageNotFoundError:
            pass
    h.update(f"x64={jax.config.jax_enable_x64};eqx={os.environ.get('EQX_ON_ERROR', '')}".encode())
    h.update(jax.default_backend().encode())
    return h.hexdigest()


def _cache_dir() -> Path | None:
    d = jax.config.jax_compilation_cache_dir
    return Path(d) if d else None


def _export(jitted, specs):
    # Custom calls (LAPACK kernels of lineax's solvers) carry no cross-version compatibility
    # guarantee; an artifact is only ever loaded by the exact versions in its key, so the
    # check is moot here. Collect the targets from the first attempt and disable them.
    try:
        return jax.export.export(jitted)(*specs)
    except ValueError as e:
        targets = sorted(set(re.findall(r"custom_call @(\w+)", str(e))))
        if not targets:
            raise
        checks = [jax.export.DisabledSafetyCheck.custom_call(t) for t in targets]
        return jax.export.export(jitted, disabled_checks=checks)(*specs)


def call(name: str, fn, args: tuple, out_treedef, static: tuple = ()):
    """``fn(*args)`` under ``jax.jit`` with ``static`` bound, via a stored export if there is one.

    ``out_treedef`` is the PyTree structure of ``fn``'s output (given by the caller, so that
    loading needs no tracing). Without a compilation cache directory, or where the
    computation cannot be exported, this is a plain jitted call.
    """
    leaves, treedef = jax.tree_util.tree_flatten(args)
    leaves = [jax.numpy.asarray(x) for x in leaves]

    def flat(*xs):
        out = fn(*jax.tree_util.tree_unflatten(treedef, xs), *static)
        return jax.tree_util.tree_leaves(out)

    directory = _cache_dir()
    if directory is None:
        return jax.tree_util.tree_unflatten(out_treedef, jax.jit(flat)(*leaves))
    key = hashlib.sha256(repr((_source_hash(), str(treedef), static,
                               [(x.shape, str(x.dtype)) for x in leaves])).encode()).hexdigest()[:32]
    path = directory / f"dynsim-{name}-{key}.jaxexport"
    exported = None
    if path.exists():
        try:
            exported = jax.export.deserialize(bytearray(path.read_bytes()))
        except Exception:  # a corrupt or incompatible file: rebuild it
            exported = None
    if exported is None:
        specs = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves]
        try:
            exported = _export(jax.jit(flat), specs)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(exported.serialize())
            tmp.replace(path)
        except Exception:  # e.g. host callbacks cannot be exported: just run it
            return jax.tree_util.tree_unflatten(out_treedef, jax.jit(flat)(*leaves))
    return jax.tree_util.tree_unflatten(out_treedef, exported.call(*leaves))
