import os

import pytest

# As the CLI does (see cli.py): equinox's runtime checks as NaNs, not host callbacks, so that
# the serialized-job path (dynsim._core.aot) is exercised. Must precede the first equinox import.
os.environ.setdefault("EQX_ON_ERROR", "nan")

import dynsim  # noqa: E402,F401  (float64 on import)


@pytest.fixture(autouse=True, scope="session")
def _private_compilation_cache(tmp_path_factory):
    """Tests never write to the user's cache directory."""
    os.environ["DYNSIM_CACHE_DIR"] = str(tmp_path_factory.mktemp("jax-cache"))
    yield


@pytest.fixture(autouse=True)
def _persistent_cache_off_after_each_test():
    """A test that enables JAX's persistent compilation cache (an in-process CLI call does) has it
    for itself only: afterwards the process compiles without writing executables to disk again,
    as every other test expects (and a long run does not serialize every later compilation)."""
    yield
    import jax

    if jax.config.jax_compilation_cache_dir is not None:
        from jax._src import compilation_cache

        jax.config.update("jax_compilation_cache_dir", None)
        compilation_cache.reset_cache()
