"""Warm means warm: a library job called again with new parameter values of the same shapes
compiles nothing (checked with JAX's compile log)."""

from __future__ import annotations

import contextlib
import logging

import jax

import dynsim


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
