import os

import pytest

import dynsim  # noqa: F401  (float64 on import)


@pytest.fixture(autouse=True, scope="session")
def _private_compilation_cache(tmp_path_factory):
    """Tests never write to the user's cache directory."""
    os.environ["DYNSIM_CACHE_DIR"] = str(tmp_path_factory.mktemp("jax-cache"))
    yield
