"""Lanes over devices: a batched computation split along its leading axis across every device.

``lane_map(fn, lanes)`` runs ``fn`` on each device's share of the lanes with ``jax.shard_map``
(each device runs its own vmapped integration, so lanes on one device never wait for another's)
and gathers the result onto every process. On one device it is a plain call (through the
serialized-job cache :func:`dynsim._core.aot.call` when the caller gives the output structure).

Several hosts: start the same program on every host, with ``jax.distributed.initialize()``
called first (:func:`initialize_from_env` does it from the environment: SLURM by JAX's own
detection, or ``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID``).
``jax.devices()`` then lists every host's devices, the lanes are split over all of them, and
every process gets the full result (docs/cluster.md). Every process must make the same calls
with the same inputs, as it does when it runs the same job.
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P


def device_count() -> int:
    return jax.device_count()


MEMORY_FRACTION = 0.8  # of the device's (or host's) free memory a run may plan to use


def memory_budget() -> float:
    """The bytes a run may plan to use: :data:`MEMORY_FRACTION` of the first device's free memory
    (a GPU's), or of the host's available memory (CPU devices report none); ``inf`` if unknown."""
    dev = jax.devices()[0]
    try:
        stats = dev.memory_stats() or {}
        if "bytes_limit" in stats:
            return MEMORY_FRACTION * (stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    except Exception:  # noqa: BLE001  (CPU devices have no memory_stats)
        pass
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return float("inf")
    return MEMORY_FRACTION * avail


def initialize_from_env() -> bool:
    """Call ``jax.distributed.initialize()`` where the environment describes a multi-process job,
    before any JAX computation; returns whether it did.

    - ``JAX_NUM_PROCESSES`` (> 1) and ``JAX_PROCESS_ID`` set (with ``JAX_COORDINATOR_ADDRESS``,
      ``HOST:PORT`` of process 0, which JAX reads itself): the plain-SSH recipe;
    - otherwise a SLURM step with more than one task (``SLURM_NTASKS`` > 1, ``SLURM_PROCID``,
      ``SLURM_STEP_NODELIST``...): JAX's own SLURM detection picks the coordinator (the first node),
      the number of processes and this process's id.

    ``DYNSIM_DISTRIBUTED=0`` turns both off. Already initialized: nothing is done.
    """
    if os.environ.get("DYNSIM_DISTRIBUTED", "").strip() == "0" or jax.distributed.is_initialized():
        return False
    n, pid = os.environ.get("JAX_NUM_PROCESSES"), os.environ.get("JAX_PROCESS_ID")
    if n is not None and pid is not None:
        if int(n) <= 1:
            return False
        jax.distributed.initialize(num_processes=int(n), process_id=int(pid))
        return True
    slurm = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID")
    if all(v in os.environ for v in slurm) and int(os.environ["SLURM_NTASKS"]) > 1:
        jax.distributed.initialize()
        return True
    return False


@functools.cache
def _mesh(n: int):
    return jax.make_mesh((n,), ("lanes",))


@functools.cache
def _sharded(fn, n: int, n_lanes: int, n_shared: int, static: tuple):
    # check_vma=False: diffrax's while loops carry unsharded initial values into a per-device
    # (varying) loop, which the replication checker rejects although every lane is independent.
    mesh = _mesh(n)
    specs = (P("lanes"),) * n_lanes + (P(),) * n_shared
    body = jax.shard_map(lambda *xs: fn(*xs, *static), mesh=mesh, in_specs=specs, out_specs=P("lanes"),
                         check_vma=False)
    # The result replicated on every device (one all-gather at the end): every process can read
    # all of it, also where the mesh spans several processes.
    return jax.jit(body, out_shardings=NamedSharding(mesh, P()))


def pad_lanes(tree, multiple: int):
    """Pad every leaf's leading axis to a multiple of ``multiple`` by repeating its first lane."""
    size = jax.tree_util.tree_leaves(tree)[0].shape[0]
    extra = -size % multiple
    if extra == 0:
        return tree
    return jax.tree_util.tree_map(lambda x: jnp.concatenate([x, jnp.repeat(x[:1], extra, axis=0)]), tree)


def _global(tree, sharding: NamedSharding):
    """Host values (the same on every process) as global arrays with ``sharding``: each process
    supplies only the shards of its own devices."""
    def put(x):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])
    return jax.tree_util.tree_map(put, tree)


def _name(fn) -> str:
    return f"lanes-{fn.__module__}.{fn.__qualname__}".replace("<", "").replace(">", "")


def lane_map(fn, lanes: tuple, shared: tuple = (), static: tuple = (), *, out=None):
    """``fn(*lanes, *shared, *static)``, where every leaf of ``lanes`` has the same leading (lane)
    axis, split over all devices (of every process); ``shared`` arrays are replicated and
    ``static`` values (hashable) are compiled in. ``fn`` must be a module-level function (it keys
    the compiled computation) that treats lanes independently. The result keeps the lane count
    of ``lanes``; with several devices its leaves are numpy arrays, complete on every process.

    ``out``, the PyTree structure of ``fn``'s result, lets a single-device call go through the
    serialized-job cache (:func:`dynsim._core.aot.call`: a new process skips tracing)."""
    n = device_count()
    static = tuple(static)
    if n == 1:
        if out is not None:
            from dynsim._core import aot

            return aot.call(_name(fn), fn, (*lanes, *shared), out, static)
        return fn(*lanes, *shared, *static)
    size = jax.tree_util.tree_leaves(lanes)[0].shape[0]
    mesh = _mesh(n)
    lanes = pad_lanes(lanes, n)
    if jax.process_count() > 1:
        lanes = _global(lanes, NamedSharding(mesh, P("lanes")))
        shared = _global(shared, NamedSharding(mesh, P()))
    else:
        lanes = jax.device_put(lanes, NamedSharding(mesh, P("lanes")))
        shared = jax.device_put(shared, NamedSharding(mesh, P()))
    result = _sharded(fn, n, len(lanes), len(shared), static)(*lanes, *shared)
    return jax.tree_util.tree_map(lambda x: np.asarray(x)[:size], result)
