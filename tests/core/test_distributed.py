"""Several hosts, for real: two processes on 127.0.0.1 joined by ``jax.distributed.initialize``
(CPU collectives over gloo), one CPU device each, split the lanes of a generic basin map and an eigen
basin-size sweep (its lanes are the eigen basin map's) between them; both processes get the full results, and
they equal the single-process run exactly."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
JOB = HERE / "_distributed_job.py"
TIMEOUT_S = 240  # a deadline, not the expected time (about 35 s on a quiet 2-core machine): the two processes (the single-process reference runs meanwhile, in this one)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _started:
    """The processes of ``argvs``, started at once; ``wait(deadline)`` gives (exit codes, logs), and
    leaving the block kills any still running."""

    def __init__(self, argvs, env, cwd):
        self.argvs, self.env, self.cwd = argvs, env, cwd
        self.logs = [cwd / f"log{i}.txt" for i in range(len(argvs))]

    def __enter__(self):
        self.files = [open(p, "w") for p in self.logs]
        self.procs = [subprocess.Popen([sys.executable, str(JOB), *a], env=self.env, stdout=f,
                                       stderr=subprocess.STDOUT, cwd=self.cwd) for a, f in zip(self.argvs, self.files)]
        return self

    def wait(self, deadline):
        try:
            for p in self.procs:
                p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._kill()
        text = "\n".join(f"--- {' '.join(a)} (exit {p.returncode}):\n{log.read_text()[-3000:]}"
                         for a, p, log in zip(self.argvs, self.procs, self.logs))
        return [p.returncode for p in self.procs], text

    def _kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def __exit__(self, *exc):
        self._kill()
        for f in self.files:
            f.close()


def _reference(out) -> dict:
    """The two jobs in this process: one process, one device (the plain single-device path)."""
    import jax

    assert jax.process_count() == 1 and jax.device_count() == 1
    sys.path.insert(0, str(HERE))
    try:
        import _distributed_job
    finally:
        sys.path.remove(str(HERE))
    return _distributed_job.jobs(out)


def test_initialize_from_env(monkeypatch):
    """SLURM (JAX's own detection: no arguments) and plain ssh (JAX_NUM_PROCESSES, JAX_PROCESS_ID;
    JAX reads JAX_COORDINATOR_ADDRESS itself); nothing elsewhere, or with DYNSIM_DISTRIBUTED=0."""
    import jax

    from dynsim._core import parallel

    calls = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kw: calls.append(kw))
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: False)
    names = ("JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "DYNSIM_DISTRIBUTED", "SLURM_JOB_ID", "SLURM_STEP_NODELIST",
             "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID")
    for name in names:
        monkeypatch.delenv(name, raising=False)
    assert not parallel.initialize_from_env() and calls == []
    monkeypatch.setenv("JAX_NUM_PROCESSES", "3")
    monkeypatch.setenv("JAX_PROCESS_ID", "2")
    assert parallel.initialize_from_env() and calls == [{"num_processes": 3, "process_id": 2}]
    monkeypatch.setenv("DYNSIM_DISTRIBUTED", "0")
    assert not parallel.initialize_from_env() and len(calls) == 1
    for name in names:
        monkeypatch.delenv(name, raising=False)
    slurm = {"SLURM_JOB_ID": "77", "SLURM_STEP_NODELIST": "node[01-04]", "SLURM_NTASKS": "1", "SLURM_PROCID": "0",
             "SLURM_LOCALID": "0"}
    for k, v in slurm.items():
        monkeypatch.setenv(k, v)
    assert not parallel.initialize_from_env() and len(calls) == 1  # one task: one process, nothing to join
    monkeypatch.setenv("SLURM_NTASKS", "16")
    assert parallel.initialize_from_env() and calls[-1] == {}
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: True)
    assert not parallel.initialize_from_env() and len(calls) == 2


def test_two_processes_split_the_lanes_and_equal_one_process(tmp_path):
    deadline = time.monotonic() + TIMEOUT_S
    env = {k: v for k, v in os.environ.items() if k != "JAX_NUM_CPU_DEVICES"}
    # one device per process; the suite's other XLA flags (tests/conftest.py) are kept
    env["XLA_FLAGS"] = " ".join(f for f in env.get("XLA_FLAGS", "").split()
                                if not f.startswith("--xla_force_host_platform_device_count"))
    env.update(JAX_PLATFORMS="cpu", EQX_ON_ERROR="nan")
    port = _free_port()
    outs = [tmp_path / f"process{i}.json" for i in range(2)]
    with _started([["-", str(outs[i]), str(i), "2", str(port)] for i in range(2)], env, tmp_path) as procs:
        want = _reference(tmp_path / "reference.out")  # meanwhile
        codes, logs = procs.wait(deadline)
    assert codes == [0, 0], logs
    got = [json.loads(o.read_text()) for o in outs]
    for i, g in enumerate(got):
        assert (g["process_index"], g["process_count"], g["device_count"], g["local_devices"]) == (i, 2, 2, 1)
        assert g["generic_devices"] == 2
        assert g["sharded_compiles"] >= 2, g["sharded_compiles"]  # the lanes went through the 2-device mesh
        assert g["generic_integrated"] > 0
        a, b = np.asarray(g["generic"]), np.asarray(want["generic"])
        assert a.shape == b.shape and np.array_equal(a, b), (i, int(np.sum(a != b)))
        # the command ran on both; process 0 wrote the files, process 1 nothing
        assert g["sweep_rc"] == 0 and (g["written"] == want["written"] if i == 0 else g["written"] == []), g["written"]
        if i == 1:
            continue
        assert g["sweep"].keys() == want["sweep"].keys()
        for k in want["sweep"]:
            np.testing.assert_array_equal(np.asarray(g["sweep"][k]), np.asarray(want["sweep"][k]), err_msg=f"{i} {k}")
    # the maps are not trivial: both attractors are there, and lanes were integrated
    assert len(set(np.ravel(want["generic"]))) >= 2 and want["generic_integrated"] > 0
    fractions = [np.asarray(v) for k, v in want["sweep"].items() if "fraction" in k]
    assert fractions and all(np.all((f > 0) & (f < 1)) for f in fractions), want["sweep"].keys()
