"""One process of the two-process test (tests/core/test_distributed.py): the two jobs (imported,
:func:`jobs` is the single-process reference); their labels and the sweep's arrays as JSON.

    python _distributed_job.py CACHE_DIR OUT.json PROCESS_ID NUM_PROCESSES PORT
    python _distributed_job.py CACHE_DIR OUT.json          # one process, alone

``CACHE_DIR`` ``-``: no compilation cache (on CPU a process's cache entries name its devices, so
the second process of a run never finds the first's).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("EQX_ON_ERROR", "nan")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402


def jobs(out) -> dict:
    """The generic basin map (library) and a basin-size sweep (`dynsim sweep`, written to ``out``)."""
    import dynsim

    class Bistable(dynsim.AbstractSystem):
        """dx/dt = x - x^3 + a y, dy/dt = -y: two wells at x = +-1, the separatrix near x = 0."""

        a: float = dynsim.param(0.3)
        state_names = ("x", "y")

        def vector_field(self, t, y):
            return jnp.stack([y[0] - y[0] ** 3 + self.a * y[1], -y[1]])

    t = time.perf_counter()
    generic = dynsim.basins(Bistable(), window=[(-2.0, 2.0), (-1.5, 1.5)], grid=(19, 13), separatrices=False)
    print(f"generic basin map {time.perf_counter() - t:.1f} s", flush=True)
    # the sweep through the command line, the entry point of docs/cluster.md: process 0 writes it
    import contextlib
    import io

    import cli
    import numpy as np

    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = cli.main(["sweep", "basin-size", "--over", "alpha_p=0.5:2:2:log", "--grid", "16", "--out", str(out)])
    print(f"eigen sweep (dynsim sweep) {time.perf_counter() - t:.1f} s, exit {rc}", flush=True)
    written = sorted(p.name for p in out.iterdir()) if out.exists() else []
    sweep = None
    if (out / "sweep_basin-size.npz").exists():
        with np.load(out / "sweep_basin-size.npz") as z:
            sweep = {k: z[k].tolist() for k in z.files}
    return {"generic": generic.labels.tolist(), "generic_devices": generic.solver["devices"],
            "generic_integrated": generic.solver["lanes_integrated"], "sweep_rc": rc, "written": written,
            "sweep": sweep}


def main() -> None:
    cache, out = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 3:
        pid, n, port = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # the default in jax 0.10; explicit
        # as in docs/cluster.md's plain-ssh recipe: the environment says who is who
        os.environ.update(JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES=str(n), JAX_PROCESS_ID=str(pid))
        from dynsim._core.parallel import initialize_from_env

        assert initialize_from_env() and jax.distributed.is_initialized()
    t = time.perf_counter()
    import dynsim
    from dynsim._core import parallel

    print(f"import {time.perf_counter() - t:.1f} s", flush=True)
    if cache != "-":
        dynsim.enable_compilation_cache(cache)

    result = jobs(Path(out).with_suffix(".out"))
    result.update(process_index=jax.process_index(), process_count=jax.process_count(),
                  device_count=jax.device_count(), local_devices=len(jax.local_devices()),
                  sharded_compiles=parallel._sharded.cache_info().misses)
    with open(out, "w") as f:
        json.dump(result, f)
    if jax.distributed.is_initialized():
        jax.distributed.shutdown()


if __name__ == "__main__":
    main()
