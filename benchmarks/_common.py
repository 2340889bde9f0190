"""Shared helpers of the benchmark scripts: environment facts and writing results."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def environment() -> dict:
    import jax

    return {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "jax": jax.__version__, "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()]}


def write(name: str, result: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({**result, "environment": environment()}, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def log_s_rhs(eta: float, k: float, tau: float, alpha: float):
    """The (p, u = log s) flow of the eigenvalue system in plain numpy, for scipy's loops (no JAX
    dispatch per call): dp/dt = alpha e^u (tau - k p) - eta p, du/dt = 2 (p (tau - k p) - eta)."""
    import numpy as np

    def rhs(t, z):
        p, u = z
        g = tau - k * p
        return [alpha * np.exp(u) * g - eta * p, 2.0 * (p * g - eta)]

    return rhs
