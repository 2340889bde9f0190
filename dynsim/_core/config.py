"""Process-wide JAX settings: float64 by default, and the persistent compilation cache."""

from __future__ import annotations

import os
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


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache so that a repeated job skips XLA compilation.

    Returns the cache directory, or ``None`` if it cannot be created (then JAX just compiles).
    """
    cache = Path(path) if path is not None else default_cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return cache
