"""Warm means warm: a library job called again with new parameter values of the same shapes
compiles nothing (checked with JAX's compile log)."""

from __future__ import annotations

import contextlib
import logging

import jax
import numpy as np
import pytest

import dynsim
from dynsim.models.eigen.basins import label_points


@contextlib.contextmanager
def compile_log():
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles():
            yield records
    finally:
        logger.removeHandler(handler)


def _compiles(records):
    return [r for r in records if r.startswith("Compiling") or "Finished XLA compilation" in r]


def test_eigen_phase_portrait_job_does_not_recompile_on_new_eta(tmp_path, monkeypatch):
    from dynsim._core import aot

    for cache in (None, tmp_path):  # without and with the serialized-job cache
        monkeypatch.setattr(aot, "_cache_dir", lambda c=cache: c)
        dynsim.phase_portrait(dynsim.EigenDynamics2D(eta=1e-3, sigma=1.0), n_traj=2, n_save=8)
        with compile_log() as records:
            dynsim.phase_portrait(dynsim.EigenDynamics2D(eta=3e-3, sigma=0.5), n_traj=2, n_save=8)
        assert _compiles(records) == [], records[:5]


class _Duffing(dynsim.AbstractSystem):
    """x'' = x - x^3 - delta x': a user's model, for the generic tools."""

    delta: float = dynsim.param(0.3, lower=0.0, symbol=r"\delta")
    state_names = ("x", "v")

    def vector_field(self, t, y):
        import jax.numpy as jnp

        x, v = y
        return jnp.stack([v, x - x**3 - self.delta * v])


_BOX = [(-2.0, 2.0), (-2.0, 2.0)]
_RNG = np.random.default_rng(0)
_CELLS = (_RNG.uniform(-1, 2, 300), 10 ** _RNG.uniform(-6, 0, 300))

# Each job at a small size, as a function of one parameter value: the first value warms it up,
# the second must compile nothing (every other argument, and so every shape, is the same).
JOBS = {
    "solve": (lambda v: dynsim.solve(_Duffing(delta=v), [[1.0, 0.0], [0.5, 0.5]], [0.0, 1.0, 2.0]), 0.3, 0.7),
    "find_fixed_points": (lambda v: dynsim.find_fixed_points(_Duffing(delta=v), dynsim.grid_starts([-2, -2], [2, 2], 3)),
                          0.3, 0.7),
    "portrait": (lambda v: dynsim.portrait(_Duffing(delta=v), window=_BOX, n_traj=3, n_save=16, zoom=False), 0.3, 0.7),
    "basins": (lambda v: dynsim.basins(_Duffing(delta=v), window=_BOX, grid=8, separatrices=False), 0.3, 0.7),
    "basins_fractions": (lambda v: dynsim.basins_fractions(_Duffing(delta=v), _BOX, samples=16), 0.3, 0.7),
    "sweep_model": (lambda v: dynsim.sweep_model(_Duffing(), dynsim.PlaneAxis("delta", v, 2 * v, 3), window=_BOX,
                                                 samples=16), 0.3, 0.4),
    "continuation": (lambda v: dynsim.continuation(dynsim.EigenDynamics2D(sigma=v), "eta", 1e-3, 0.2, log=True,
                                                   max_points=40), 1.0, 0.8),
    "eigen basin_map": (lambda v: dynsim.basin_map(dynsim.EigenDynamics2D(eta=v, sigma=1.0), num=8), 4e-4, 1e-3),
    # 300 cells whose number left to integrate differs between the two values (180 and 181 lanes)
    "eigen label_points": (lambda v: label_points(dynsim.EigenDynamics2D(eta=v, sigma=1.0), *_CELLS), 4e-4, 5e-4),
    "eigen sweep": (lambda v: dynsim.sweep("bifurcation", [dynsim.Range("eta", v, 10 * v, 3, log=True)]), 1e-3, 2e-3),
    "simulate byol": (lambda v: dynsim.simulate("byol", eta=v, n1=4, t1=2.0, n_save=8), 0.01, 0.02),
    "stepwise": (lambda v: dynsim.stepwise(m=4, d=2, n_pairs=20, noise=v, n_save=16), 0.5, 0.6),
    "simulate_collapse": (lambda v: dynsim.simulate_collapse("infonce", sigma=v, dim=4, samples=16, t1=0.5, n_save=8),
                          2.0, 1.5),
}


@pytest.mark.parametrize("name", sorted(JOBS))
def test_job_does_not_recompile_on_new_parameter_values(name):
    job, first, second = JOBS[name]
    job(first)
    with compile_log() as records:
        job(second)
    assert _compiles(records) == [], f"{name}: {records[:5]}"
