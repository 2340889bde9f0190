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
