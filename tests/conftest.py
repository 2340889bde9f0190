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


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code_after_each_module():
    """Drop the compiled executables of a test module once it is done. XLA's CPU backend maps a few
    hundred memory regions per loaded executable; a whole suite in one process kept about 3000 per
    module and crossed Linux's default vm.max_map_count (65530) late in the run, where XLA then
    crashed inside compilation (a segfault) or serialization (an abort)."""
    yield
    import gc

    import jax

    from dynsim._core import aot

    jax.clear_caches()
    aot._RUNNERS.clear()
    gc.collect()
