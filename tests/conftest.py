import os
import shutil
import tempfile
from pathlib import Path

import pytest

# As the CLI does (see cli.py): equinox's runtime checks as NaNs, not host callbacks, so that
# the serialized-job path (dynsim._core.aot) is exercised. Must precede the first equinox import.
os.environ.setdefault("EQX_ON_ERROR", "nan")


def _compile_faster():
    """XLA's CPU backend compiles each job about 40 % faster without its newer fusion emitters
    (--xla_cpu_use_fusion_emitters=false): the suite's time is mostly compilation, and the numbers
    are the same bits (checked on solves, claims and every figure baseline). Set here, before JAX
    starts, so that every worker, notebook kernel and CLI subprocess inherits it; an XLA that does
    not know the flag would abort on it, so it is tried once in a subprocess first. Users' runs keep
    XLA's defaults (the emitters make some warm runs ~10 % faster)."""
    import subprocess
    import sys

    flag = "--xla_cpu_use_fusion_emitters=false"
    current = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_use_fusion_emitters" in current or os.environ.get("DYNSIM_TEST_XLA_DEFAULTS") == "1":
        return
    flags = f"{current} {flag}".strip()
    probe = subprocess.run([sys.executable, "-c", "import jax; jax.numpy.zeros(1).block_until_ready()"],
                           env={**os.environ, "XLA_FLAGS": flags}, capture_output=True, timeout=300)
    if probe.returncode == 0:
        os.environ["XLA_FLAGS"] = flags


_compile_faster()

import dynsim  # noqa: E402,F401  (float64 on import)


#: The test modules that take longest (summed test time on the 2-core machine, 2026-12-07: 100-230 s
#: each, against a median of about 20 s), run first: each module runs on one worker (``--dist
#: loadfile``, ``--no-loadscope-reorder`` in pyproject.toml), so longest-first scheduling lets the two
#: workers finish together instead of one running a long module alone at the end. The rest keep
#: their order. A stale list costs time, never a test.
LONGEST_FIRST = (
    "tests/plot/test_figure_baselines.py",
    "tests/test_notebooks.py",
    "tests/test_checks.py",
    "tests/test_training.py",
    "tests/test_rerun.py",
    "tests/tools/test_generic_tools.py",
    "tests/core/test_cli_cache.py",
    "tests/test_simulate.py",
    "tests/core/test_distributed.py",
    "tests/test_solve.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: order kept within


_RUN_CACHE = "DYNSIM_TEST_RUN_CACHE"


def pytest_configure(config):
    """The run compiles each job once: JAX's persistent compilation cache and dynsim's serialized
    jobs (``dynsim._core.aot``) live in one directory of this run, shared by every test module and
    every xdist worker (the controller makes it before it starts them; they inherit the variable),
    so that a job that a later module, the other worker, a notebook's kernel or a CLI call runs
    again is loaded instead of traced and compiled. Never the user's cache directory; removed at
    the end of the run. ``DYNSIM_TEST_SHARED_CACHE=0`` compiles everything in every module."""
    if _RUN_CACHE not in os.environ:
        os.environ[_RUN_CACHE] = tempfile.mkdtemp(prefix="dynsim-test-cache-")
        config._dynsim_owns_cache = True
    cache = Path(os.environ[_RUN_CACHE])
    os.environ["DYNSIM_CACHE_DIR"] = str(cache)  # CLI calls and notebook kernels use it too
    shared = os.environ.get("DYNSIM_TEST_SHARED_CACHE", "1") != "0"
    config._dynsim_cache = dynsim.enable_compilation_cache(cache) if shared else None


def pytest_unconfigure(config):
    if getattr(config, "_dynsim_owns_cache", False):
        shutil.rmtree(os.environ.pop(_RUN_CACHE), ignore_errors=True)


@pytest.fixture(autouse=True)
def _cache_restored_after_each_test(request):
    """A test that turns JAX's persistent compilation cache on, off or elsewhere (an in-process CLI
    call turns it on) changes it for itself only: afterwards the run's own setting is back."""
    yield
    import jax

    wanted = request.config._dynsim_cache
    current = jax.config.jax_compilation_cache_dir
    if (None if current is None else str(current)) != (None if wanted is None else str(wanted)):
        from jax._src import compilation_cache

        jax.config.update("jax_compilation_cache_dir", None if wanted is None else str(wanted))
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

