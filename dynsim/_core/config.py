"""Process-wide JAX settings: float64 by default, and the persistent compilation cache."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import jax

# Theory checks need float64; every array dynsim creates is float64 unless asked otherwise.
jax.config.update("jax_enable_x64", True)


def default_cache_dir() -> Path:
    """``$DYNSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/dynsim/jax``, else ``~/.cache/dynsim/jax``."""
    if env := os.environ.get("DYNSIM_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dynsim" / "jax"


# JAX warns (two lines each) for every persistent-cache entry it cannot read, then recompiles:
# a corrupt entry (a killed write, a flipped byte) costs a compilation, nothing else, and is no
# error of the job. Only this message from JAX's compiler is silenced; write errors and
# ``CacheVerificationError`` (raised, not warned) still show.
_CORRUPT_ENTRY = r"Error reading persistent compilation cache entry"


def _writable_dir(path: Path) -> bool:
    """Whether files can be created in ``path``: tried by creating and removing one."""
    try:
        fd, name = tempfile.mkstemp(dir=path, prefix=".dynsim-probe-")
    except OSError:
        return False
    os.close(fd)
    try:
        os.unlink(name)
    except OSError:
        pass
    return True


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache so that a repeated job skips XLA compilation.

    Returns the cache directory, or ``None`` if it cannot be created or written to (then JAX
    just compiles, and nothing warns about the cache). JAX's warnings about unreadable
    (corrupt) cache entries are silenced: JAX recompiles those.
    """
    cache = Path(path) if path is not None else default_cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError):  # ValueError: e.g. a NUL byte in the name
        return None
    if not cache.is_dir() or not _writable_dir(cache):
        return None
    warnings.filterwarnings("ignore", message=_CORRUPT_ENTRY, category=UserWarning, module=r"jax\._src\.compiler")
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return cache
