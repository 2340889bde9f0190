"""Writing a job's outputs: the figure, the numbers (``.npz``) and a ``.json`` record."""

from __future__ import annotations

import json
import math
import platform
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

FORMATS = ("png", "pdf", "svg")
DPI = 200
_PACKAGES = ("dynsim", "jax", "jaxlib", "diffrax", "equinox", "optimistix", "optax", "numpy", "matplotlib")


def versions() -> dict[str, str]:
    """Versions of Python, the platform, dynsim and the numerical stack, and JAX's backend."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    import jax

    out["jax_backend"] = jax.default_backend()
    out["jax_devices"] = [str(d) for d in jax.devices()]
    return out


def jsonable(obj):
    """Plain JSON types: numpy scalars/arrays unwrapped, non-finite floats as ``null``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_outputs(out_dir: str | Path, stem: str, *, figure, arrays: dict[str, np.ndarray],
                  record: dict, fmt: str = "png") -> dict[str, Path]:
    """Write ``stem.{fmt}``, ``stem.npz`` and ``stem.json`` into ``out_dir`` (created if needed).

    ``record`` is completed with the package versions and the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"figure": out / f"{stem}.{fmt}", "data": out / f"{stem}.npz", "record": out / f"{stem}.json"}
    figure.savefig(paths["figure"], format=fmt, dpi=DPI)  # constrained layout: no tight bbox pass
    np.savez_compressed(paths["data"], **{k: np.asarray(v) for k, v in arrays.items()})
    full = {**record, "versions": versions(), "files": {k: p.name for k, p in paths.items()}}
    paths["record"].write_text(json.dumps(jsonable(full), indent=2) + "\n")
    return paths
