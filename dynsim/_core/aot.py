"""Skip tracing on repeated jobs: a job's jitted computation, serialized with ``jax.export``.

JAX's persistent compilation cache skips XLA compilation, but every new process still
traces and lowers the job (about a second for diffrax + optimistix). When the compilation
cache is enabled, :func:`call` also stores the lowered computation next to it, keyed by
everything it depends on (dynsim's source, library versions, input shapes, static
arguments), and later processes load it instead of tracing.

A job whose inputs hold a model of the user's own (a class defined outside dynsim and the
libraries, e.g. in ``--model FILE.py:NAME``) is keyed by that code too: the files defining its
classes and every other loaded module outside the installed libraries (the user's own helpers),
so editing the model's file never loads a stale export. Where the code cannot be read (a class
typed into a REPL), or a static argument has no stable identity (a lambda, a closure, anything
whose ``repr`` is a memory address), nothing is stored: the job is traced, as by ``jax.jit``.

:func:`filter_jit` is a drop-in for ``eqx.filter_jit`` (array leaves traced, the rest static)
that goes through :func:`call`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import secrets
import sys
import sysconfig
import types
from functools import cache
from importlib import metadata
from pathlib import Path

import jax

from dynsim._core.system import to_jax

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


# --- the user's own code in the key ----------------------------------------------------------------

_KNOWN = frozenset({"dynsim", "builtins", "jaxtyping", "numpy", *_LIBS}) | frozenset(sys.stdlib_module_names)
_PACKAGE = Path(__file__).resolve().parent.parent
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


@cache
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(k)}
    return tuple(sorted(str(Path(r).resolve()) + os.sep for r in roots))


def _is_user(obj) -> bool:
    """Whether a class or function comes from code outside dynsim, the libraries and the stdlib."""
    module = getattr(obj, "__module__", None) or ""
    return module.partition(".")[0] not in _KNOWN


def _module_file(module_name: str) -> Path | None:
    module = sys.modules.get(module_name)
    f = getattr(module, "__file__", None)
    return Path(f) if f and str(f).endswith(".py") else None


@functools.lru_cache(maxsize=256)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _digest(path: Path) -> str | None:
    try:
        st = path.stat()
        return _file_digest(str(path), st.st_mtime_ns, st.st_size)
    except OSError:
        return None


@functools.lru_cache(maxsize=None)
def _is_local_file(f: str) -> bool:
    path = Path(f).resolve()
    return not str(path).startswith(_library_roots()) and not path.is_relative_to(_PACKAGE)


def _local_modules() -> list[Path]:
    """The loaded modules outside the installed libraries, the stdlib and dynsim (the user's own)."""
    files = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
    return sorted(Path(f) for f in files if isinstance(f, str) and f.endswith(".py") and _is_local_file(f))


def _nodes(treedef, acc: list) -> list:
    """``(type, auxiliary data)`` of every node of ``treedef``."""
    data = treedef.node_data()
    if data is not None:
        acc.append(data)
    for child in treedef.children():
        _nodes(child, acc)
    return acc


def _functions(data, acc: list) -> list:
    """The plain functions in a node's auxiliary data (in tuples, lists, sets, dicts)."""
    if isinstance(data, types.FunctionType):
        acc.append(data)
    elif isinstance(data, (tuple, list, frozenset, set)):
        for d in data:
            _functions(d, acc)
    elif isinstance(data, dict):
        for d in data.values():
            _functions(d, acc)
    return acc


def _node_functions(treedef) -> list:
    return [f for _, data in _nodes(treedef, []) for f in _functions(data, [])]


def _structure(treedef) -> str:
    """``str(treedef)`` with every module-level function in its nodes' data (a static field of an
    ``equinox`` module, such as a ``GradientFlow``'s loss) named by module and qualified name instead
    of its address. A lambda or a closure keeps its address, so a job holding one is never stored."""
    text = str(treedef)
    for f in _node_functions(treedef):
        if "<" not in f.__qualname__:
            text = text.replace(repr(f), f"<function {f.__module__}.{f.__qualname__}>")
    return text


def _user_code(treedef, static: tuple) -> str | None:
    """Key material for the user's own code among the job's inputs (the classes of its PyTree
    nodes, the functions in their static data, static functions and values): ``""`` where there is
    none, ``None`` where there is some that cannot be read (then nothing is stored)."""
    trees, values = [treedef], []
    for s in static:
        if isinstance(s, _Static):
            trees.append(s.treedef)
            values += s.leaves
        else:
            values.append(s)
    nodes = {t for tree in trees for t, _ in _nodes(tree, [])}
    owners = [c for t in nodes for c in getattr(t, "__mro__", (t,)) if _is_user(c)]
    owners += [f for tree in trees for f in _node_functions(tree) if _is_user(f)]
    for v in values:
        if isinstance(v, types.FunctionType):
            owners += [v] if _is_user(v) else []
        else:
            owners += [c for c in type(v).__mro__ if _is_user(c)]
    if not owners:
        return ""
    parts = set()
    for obj in owners:
        f = _module_file(obj.__module__)
        d = _digest(f) if f is not None else None
        if d is None:
            return None
        parts.add((obj.__qualname__, d))
    for path in _local_modules():
        d = _digest(path)
        if d is not None:
            parts.add((str(path), d))
    return hashlib.sha256(repr(sorted(parts)).encode()).hexdigest()


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


def call(name: str, fn, args: tuple, out_treedef, static: tuple = (), compiler_options: dict | None = None):
    """``fn(*args)`` under ``jax.jit`` with ``static`` bound, via a stored export if there is one.

    ``out_treedef`` is the PyTree structure of ``fn``'s output (given by the caller, so that
    loading needs no tracing). Without a compilation cache directory, or where the
    computation cannot be exported or has no stable key, this is a plain jitted call; inside
    another trace (a job calling a job) it is inlined. A stored entry that is corrupt (checked
    against its SHA-256) or fails to deserialize or to run is deleted and rebuilt; an unusable
    cache directory only means that nothing is stored. ``compiler_options`` go to XLA (as
    ``jax.jit``'s); the stored computation does not depend on them.
    """
    leaves, treedef = jax.tree_util.tree_flatten(args)
    if any(isinstance(x, jax.core.Tracer) for x in leaves):  # inside another job's trace: inline it
        return fn(*args, *static)
    leaves = [to_jax(x) for x in leaves]
    directory = _cache_dir()
    # In one process a job called again with arrays of the same shapes reuses its compiled
    # function: new parameter values never recompile (warm means warm).
    options = tuple(sorted((compiler_options or {}).items()))
    memo_key = (name, fn, treedef, static, tuple((x.shape, str(x.dtype), x.weak_type) for x in leaves), directory,
                options)
    runner = _RUNNERS.get(memo_key)
    if runner is not None:
        return jax.tree_util.tree_unflatten(out_treedef, runner(*leaves))
    jit = functools.partial(jax.jit, compiler_options=compiler_options) if compiler_options else jax.jit

    def flat(*xs):
        out = fn(*jax.tree_util.tree_unflatten(treedef, xs), *static)
        return jax.tree_util.tree_leaves(out)

    def run(runner):
        out = runner(*leaves)
        _RUNNERS[memo_key] = runner
        return jax.tree_util.tree_unflatten(out_treedef, out)

    if directory is None:
        return run(jit(flat))
    material = repr((_structure(treedef), static, [(x.shape, str(x.dtype), x.weak_type) for x in leaves]))
    user = _user_code(treedef, static)
    if user is None or _ADDRESS.search(material):  # no stable identity: never stored
        return run(jit(flat))
    key = hashlib.sha256(repr((_source_hash(), user, material)).encode()).hexdigest()[:32]
    path = directory / f"dynsim-{name}-{key}.jaxexport"
    exported, stat = _load(path)
    if exported is not None:
        try:
            return run(jit(exported.call))
        except Exception:  # e.g. "Failed to deserialize StableHLO": rebuild the entry
            _discard(path, stat)
    specs = [jax.ShapeDtypeStruct(x.shape, x.dtype, weak_type=x.weak_type) for x in leaves]
    try:
        exported = _export(jax.jit(flat), specs)
    except Exception:  # e.g. host callbacks cannot be exported: just run it
        return run(jit(flat))
    _store(path, exported)
    return run(jit(exported.call))


_RUNNERS: dict = {}  # (job, function, inputs' structure, static, shapes, cache dir, options) -> runner


# --- a drop-in for eqx.filter_jit --------------------------------------------------------------------

class _Static:
    """The non-array part of a call's arguments: hashable (by its structure and values, as
    ``eqx.filter_jit`` hashes them) and with a ``repr`` that names functions by module and
    qualified name (a lambda or a closure keeps its address: such a call is never stored)."""

    def __init__(self, tree):
        self.tree = tree
        self.leaves, self.treedef = jax.tree_util.tree_flatten(tree)
        self._hash = hash((self.treedef, tuple(self.leaves)))

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return (isinstance(other, _Static) and self.treedef == other.treedef
                and len(self.leaves) == len(other.leaves)
                and all(type(a) is type(b) and a == b for a, b in zip(self.leaves, other.leaves)))

    def __repr__(self):
        def name(x):
            if isinstance(x, types.FunctionType) and "<" not in x.__qualname__:
                return f"<function {x.__module__}.{x.__qualname__}>"
            return repr(x)
        return f"Static({_structure(self.treedef)}, [{', '.join(name(x) for x in self.leaves)}])"


def filter_jit(name: str, out, *, compiler_options: dict | None = None):
    """``eqx.filter_jit`` through :func:`call`: a decorator for a module-level function whose
    array arguments (JAX or numpy arrays, in any PyTree) are traced and whose other arguments are
    static (hashable; new values recompile). ``out`` is the PyTree structure of the result, or an
    example of it (a tree of the same shape, e.g. ``Solution(*(0,) * 7)``); every result leaf
    must be an array. ``name`` names the job's cache entries; ``compiler_options`` go to XLA."""
    out_treedef = out if isinstance(out, jax.tree_util.PyTreeDef) else jax.tree_util.tree_structure(out)

    def decorate(fn):
        def body(dynamic, static):
            args, kwargs = _combine(dynamic, static.tree)
            return fn(*args, **kwargs)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            import equinox as eqx

            dynamic, static = eqx.partition((args, kwargs), eqx.is_array)
            return call(name, body, (dynamic,), out_treedef, static=(_Static(static),),
                        compiler_options=compiler_options)

        return wrapper

    return decorate


def _combine(dynamic, static):
    import equinox as eqx

    return eqx.combine(dynamic, static)
