"""The jax.export cache of jobs (dynsim._core.aot) and JAX's persistent compilation cache
(dynsim._core.config): corrupt entries are rebuilt, concurrent writers never corrupt an
entry, and an unusable cache directory is quietly not used."""

import multiprocessing
import os
import subprocess
import sys
import textwrap
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynsim
from dynsim._core import aot, config

CONST = np.arange(2048.0) * 0.25 + 1.0  # embedded in the exported module as raw float64 bytes
LEAF = jax.tree_util.tree_structure(0)


def _job(x):
    return x * jnp.asarray(CONST) + 1.0


def _run(x):
    return np.asarray(aot.call("test_job", _job, (x,), LEAF))


def _flip_64(path, at=None):
    data = bytearray(path.read_bytes())
    mid = len(data) // 2 if at is None else at
    for i in range(mid - 32, mid + 32):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


class _NewProcessEachCall(dict):
    """A runner memo that keeps nothing: every call behaves as the first call of a new process
    (which is what the on-disk cache is for)."""

    def get(self, key, default=None):
        return default

    def __setitem__(self, key, value):
        pass


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(aot, "_cache_dir", lambda: tmp_path)
    monkeypatch.setattr(aot, "_RUNNERS", _NewProcessEachCall())
    return tmp_path


def _entries(directory):
    return sorted(directory.glob("dynsim-*.jaxexport"))


def _valid(path) -> bool:
    payload = aot._unpack(path.read_bytes())
    return payload is not None and jax.export.deserialize(bytearray(payload)) is not None


def test_corrupt_phase_portrait_export_is_rebuilt(cache):
    """64 flipped bytes in the middle of a real export: the next run rebuilds it (it used to raise
    JaxRuntimeError 'Failed to deserialize StableHLO' on every later run)."""
    m = dynsim.EigenDynamics2D(eta=0.01, sigma=0.7, tau=0.9)
    first = dynsim.phase_portrait(m, n_traj=2)
    (entry,) = _entries(cache)
    _flip_64(entry)
    corrupt = entry.read_bytes()
    again = dynsim.phase_portrait(m, n_traj=2)
    (rebuilt,) = _entries(cache)
    assert rebuilt == entry and rebuilt.read_bytes() != corrupt and _valid(rebuilt)
    a, b = first.arrays(), again.arrays()
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-13, atol=1e-300, err_msg=k)
    assert not list(cache.glob("*.tmp"))


def test_corrupt_constant_is_detected_not_run(cache):
    """Flipped bytes inside an embedded constant still deserialize and run, with wrong numbers:
    the entry's digest catches them, and the job is rebuilt."""
    x = jnp.linspace(0.0, 1.0, CONST.size)
    want = np.asarray(_job(x))
    np.testing.assert_allclose(_run(x), want, rtol=1e-14)
    (entry,) = _entries(cache)
    start = entry.read_bytes().find(CONST.tobytes())
    assert start > 0
    _flip_64(entry, at=start + CONST.nbytes // 2)
    np.testing.assert_allclose(_run(x), want, rtol=1e-14)
    assert _valid(entry)


def test_entry_that_fails_to_run_is_rebuilt(cache, monkeypatch):
    """A file that deserializes but whose call fails (e.g. 'INVALID_ARGUMENT: Failed to
    deserialize StableHLO'): the call is guarded, the entry removed, retraced and stored."""
    x = jnp.linspace(0.0, 1.0, CONST.size)
    want = np.asarray(_job(x))
    _run(x)
    (entry,) = _entries(cache)

    class Broken:
        def call(self, *args):
            raise RuntimeError("INVALID_ARGUMENT: Failed to deserialize StableHLO")

    real = jax.export.deserialize
    monkeypatch.setattr(aot.jax.export, "deserialize", lambda b: Broken())
    np.testing.assert_allclose(_run(x), want, rtol=1e-14)
    monkeypatch.setattr(aot.jax.export, "deserialize", real)
    assert _valid(entry)
    loads = []
    monkeypatch.setattr(aot.jax.export, "deserialize", lambda b: loads.append(1) or real(b))
    np.testing.assert_allclose(_run(x), want, rtol=1e-14)  # the rebuilt entry is used
    assert loads == [1]


def test_real_errors_are_not_swallowed(cache):
    """A job that fails for a reason of its own still raises (after one retry)."""
    def bad(x):
        return x @ jnp.ones((3, 3))  # shape mismatch: a trace-time error
    with pytest.raises(TypeError):
        aot.call("test_bad", bad, (jnp.ones(2),), LEAF)


def _unusable_dirs(tmp_path):
    (tmp_path / "file").write_bytes(b"not a directory")
    dirs = {"file": tmp_path / "file", "under_file": tmp_path / "file" / "sub",
            "missing": tmp_path / "missing", "proc": "/proc"}
    if os.geteuid() != 0:  # root ignores the mode
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        dirs["read_only"] = ro
    return dirs


def test_unusable_cache_dir_just_runs(tmp_path, monkeypatch):
    x = jnp.linspace(0.0, 1.0, CONST.size)
    want = np.asarray(_job(x))
    for name, d in _unusable_dirs(tmp_path).items():
        before = sorted(p.name for p in tmp_path.rglob("*"))
        monkeypatch.setattr(aot, "_cache_dir", lambda d=d: type(tmp_path)(d))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            np.testing.assert_allclose(_run(x), want, rtol=1e-14, err_msg=name)
        assert sorted(p.name for p in tmp_path.rglob("*")) == before, name
    if (tmp_path / "ro").exists():
        (tmp_path / "ro").chmod(0o755)


# --- concurrent writers ---------------------------------------------------------------------------

class _Payload:
    """Stands in for an ``Exported``: what ``_store`` writes is ``serialize()``'s bytes."""

    def __init__(self, seed: int, size: int):
        self.data = np.random.default_rng(seed).bytes(size)

    def serialize(self):
        return self.data


def _writer(path: str, seed: int, rounds: int, ready, go, results) -> None:
    """Store the entry ``rounds`` times, reading it back between writes; puts the bad reads."""
    from pathlib import Path

    from dynsim._core import aot as _aot

    p, mine = Path(path), _Payload(seed, 1 << 21)
    valid = {_Payload(s, 1 << 21).data for s in (1, 2)}
    ready.set()
    go.wait(120)
    bad = 0
    for _ in range(rounds):
        _aot._store(p, mine)
        try:
            got = _aot._unpack(p.read_bytes())
        except FileNotFoundError:
            got = None
        bad += got not in valid
    results.put((seed, bad))


def test_two_processes_writing_one_entry_never_corrupt_it(tmp_path):
    """Each writer uses its own temporary name and os.replace: every read, by the writers and by
    this process, sees one whole entry, and no temporary file remains."""
    path = tmp_path / "dynsim-job-key.jaxexport"
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that runs JAX threads
    go, results = ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in range(2)]
    procs = [ctx.Process(target=_writer, args=(str(path), seed, 40, ready, go, results))
             for seed, ready in zip((1, 2), readies)]
    for proc in procs:
        proc.start()
    try:
        for ready in readies:
            assert ready.wait(120), "a writer did not start"
        go.set()
        valid = {_Payload(s, 1 << 21).data for s in (1, 2)}
        reads = bad = 0
        while any(proc.is_alive() for proc in procs) and reads < 10_000:
            try:
                bad += aot._unpack(path.read_bytes()) not in valid
                reads += 1
            except FileNotFoundError:  # before the first write
                pass
        outcome = sorted(results.get(timeout=120) for _ in procs)
    finally:
        for proc in procs:
            proc.join(120)
            if proc.is_alive():
                proc.terminate()
    assert outcome == [(1, 0), (2, 0)] and bad == 0, (outcome, bad, reads)
    assert all(proc.exitcode == 0 for proc in procs)
    assert aot._unpack(path.read_bytes()) in valid
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporaries left


# --- JAX's persistent compilation cache (config.py) ------------------------------------------------

_SCRIPT = textwrap.dedent("""
    import sys
    import dynsim, jax, jax.numpy as jnp
    print(dynsim.enable_compilation_cache(sys.argv[1]))
    print(float(jax.jit(lambda x: (jnp.sin(x) * 2.0).sum())(jnp.arange(5.0))))
    print(float(jax.jit(lambda x: jnp.cumsum(x)[-1])(jnp.arange(7.0))))
""")


def _python(cache_dir):
    env = {**os.environ, "EQX_ON_ERROR": "nan", "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-c", _SCRIPT, str(cache_dir)], capture_output=True,
                          text=True, timeout=300, env=env)


def test_corrupt_xla_cache_entries_are_quiet(tmp_path):
    """JAX warns twice per unreadable entry (40-60 lines for a CLI job); dynsim silences that."""
    d = tmp_path / "jax"
    first = _python(d)
    assert first.returncode == 0, first.stderr
    entries = [p for p in d.iterdir() if p.name.endswith("-cache")]
    assert entries
    for p in entries:
        _flip_64(p)
    second = _python(d)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert "persistent compilation cache" not in second.stderr, second.stderr
    assert "Warning" not in second.stderr, second.stderr


def _read_only_dirs(tmp_path):
    out = ["/proc"]  # exists, is a directory, and nobody (not even root) can create files in it
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        out.append(ro)
    return out


def test_read_only_compilation_cache_is_not_enabled(tmp_path):
    before = jax.config.jax_compilation_cache_dir
    try:
        for d in [*_read_only_dirs(tmp_path), tmp_path / "file" / "sub"]:
            (tmp_path / "file").write_text("x")
            assert config.enable_compilation_cache(d) is None, d
            assert jax.config.jax_compilation_cache_dir == before
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert float(jax.jit(lambda x: x * 3.0)(2.0)) == 6.0
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
        if (tmp_path / "ro").exists():
            (tmp_path / "ro").chmod(0o755)
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".dynsim-probe")]


def test_writable_compilation_cache_is_enabled(tmp_path):
    before = jax.config.jax_compilation_cache_dir
    try:
        assert config.enable_compilation_cache(tmp_path / "new") == tmp_path / "new"
        assert list((tmp_path / "new").iterdir()) == []  # the probe file is gone
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
