"""Lanes over devices: a batched computation split along its leading axis across every visible device.

``lane_map(fn, args)`` runs ``fn`` on each device's share of the lanes with ``jax.shard_map``
(each device runs its own vmapped integration, so lanes on one device never wait for another's).
On one device it is a plain call. Several hosts: start every process with
``jax.distributed.initialize()`` and ``jax.devices()`` lists them all; nothing else changes.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P


def device_count() -> int:
    return jax.device_count()


@functools.cache
def _mesh(n: int):
    return jax.make_mesh((n,), ("lanes",))


@functools.cache
def _sharded(fn, n: int, n_lanes: int, n_shared: int, static: tuple):
    # check_vma=False: diffrax's while loops carry unsharded initial values into a per-device
    # (varying) loop, which the replication checker rejects although every lane is independent.
    specs = (P("lanes"),) * n_lanes + (P(),) * n_shared
    body = jax.shard_map(lambda *xs: fn(*xs, *static), mesh=_mesh(n), in_specs=specs, out_specs=P("lanes"),
                         check_vma=False)
    return jax.jit(body)


def pad_lanes(tree, multiple: int):
    """Pad every leaf's leading axis to a multiple of ``multiple`` by repeating its first lane."""
    size = jax.tree_util.tree_leaves(tree)[0].shape[0]
    extra = -size % multiple
    if extra == 0:
        return tree
    return jax.tree_util.tree_map(lambda x: jnp.concatenate([x, jnp.repeat(x[:1], extra, axis=0)]), tree)


def lane_map(fn, lanes: tuple, shared: tuple = (), static: tuple = ()):
    """``fn(*lanes, *shared, *static)``, where every leaf of ``lanes`` has the same leading (lane)
    axis, split over all devices; ``shared`` arrays are replicated and ``static`` values (hashable)
    are compiled in. ``fn`` must be a module-level function (it keys the compiled computation) that
    treats lanes independently. The result keeps the lane count of ``lanes``."""
    n = device_count()
    if n == 1:
        return fn(*lanes, *shared, *static)
    size = jax.tree_util.tree_leaves(lanes)[0].shape[0]
    mesh = _mesh(n)
    lanes = jax.device_put(pad_lanes(lanes, n), NamedSharding(mesh, P("lanes")))
    shared = jax.device_put(shared, NamedSharding(mesh, P()))
    out = _sharded(fn, n, len(lanes), len(shared), tuple(static))(*lanes, *shared)
    return jax.tree_util.tree_map(lambda x: np.asarray(x)[:size], out)
