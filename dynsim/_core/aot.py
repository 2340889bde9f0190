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
import secrets
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


_MAGIC = b"dynsim-jaxexport-v1\n"
_DIGEST = hashlib.sha256().digest_size


def _pack(payload: bytes) -> bytes:
    """The file's bytes: a magic line, the SHA-256 of the payload, the payload."""
    return _MAGIC + hashlib.sha256(payload).digest() + payload


def _unpack(data: bytes) -> bytes | None:
    """The payload of a stored entry, or ``None`` if it is not one or does not match its digest."""
    head = len(_MAGIC) + _DIGEST
    if len(data) < head or not data.startswith(_MAGIC):
        return None
    digest, payload = data[len(_MAGIC):head], data[head:]
    return payload if hashlib.sha256(payload).digest() == digest else None


def _discard(path: Path, stat: os.stat_result | None) -> None:
    """Remove a bad entry, unless another process has replaced it meanwhile (then it is new)."""
    try:
        now = path.stat()
        if stat is None or (now.st_ino, now.st_mtime_ns, now.st_size) == (
                stat.st_ino, stat.st_mtime_ns, stat.st_size):
            path.unlink()
    except OSError:  # gone already, or a read-only directory: nothing to do
        pass


def _load(path: Path):
    """The stored export at ``path`` and the file's stat, or ``(None, stat)`` (corrupt entries are
    removed)."""
    try:
        stat = path.stat()
        data = path.read_bytes()
    except OSError:  # missing, unreadable, or the directory is unusable
        return None, None
    payload = _unpack(data)
    if payload is not None:
        try:
            return jax.export.deserialize(bytearray(payload)), stat
        except Exception:  # an incompatible file: rebuild it
            pass
    _discard(path, stat)
    return None, None


def _store(path: Path, exported) -> None:
    """Write ``exported`` to ``path`` atomically: a unique temporary name in the same directory,
    then ``os.replace`` (so concurrent writers and readers only ever see whole files). Failure
    (read-only or full directory...) is silent: the job just runs without the stored entry."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        data = _pack(exported.serialize())
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except Exception:
        try:
            tmp.unlink()
        except OSError:
            pass


def call(name: str, fn, args: tuple, out_treedef, static: tuple = ()):
    """``fn(*args)`` under ``jax.jit`` with ``static`` bound, via a stored export if there is one.

    ``out_treedef`` is the PyTree structure of ``fn``'s output (given by the caller, so that
    loading needs no tracing). Without a compilation cache directory, or where the
    computation cannot be exported, this is a plain jitted call. A stored entry that is
    corrupt (checked against its SHA-256) or fails to deserialize or to run is deleted and
    rebuilt; an unusable cache directory only means that nothing is stored.
    """
    leaves, treedef = jax.tree_util.tree_flatten(args)
    leaves = [jax.numpy.asarray(x) for x in leaves]
    directory = _cache_dir()
    # In one process a job called again with arrays of the same shapes reuses its compiled
    # function: new parameter values never recompile (warm means warm).
    memo_key = (name, fn, treedef, static, tuple((x.shape, str(x.dtype)) for x in leaves), directory)
    runner = _RUNNERS.get(memo_key)
    if runner is not None:
        return jax.tree_util.tree_unflatten(out_treedef, runner(*leaves))

    def flat(*xs):
        out = fn(*jax.tree_util.tree_unflatten(treedef, xs), *static)
        return jax.tree_util.tree_leaves(out)

    def run(runner):
        out = runner(*leaves)
        _RUNNERS[memo_key] = runner
        return jax.tree_util.tree_unflatten(out_treedef, out)

    if directory is None:
        return run(jax.jit(flat))
    key = hashlib.sha256(repr((_source_hash(), str(treedef), static,
                               [(x.shape, str(x.dtype)) for x in leaves])).encode()).hexdigest()[:32]
    path = directory / f"dynsim-{name}-{key}.jaxexport"
    exported, stat = _load(path)
    if exported is not None:
        try:
            return run(jax.jit(exported.call))
        except Exception:  # e.g. "Failed to deserialize StableHLO": rebuild the entry
            _discard(path, stat)
    specs = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves]
    try:
        exported = _export(jax.jit(flat), specs)
    except Exception:  # e.g. host callbacks cannot be exported: just run it
        return run(jax.jit(flat))
    _store(path, exported)
    return run(jax.jit(exported.call))


_RUNNERS: dict = {}  # (job, function, input structure, static, shapes, cache dir) -> compiled runner
