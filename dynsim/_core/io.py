"""Writing a job's outputs: the figure, the numbers (``.npz``) and a ``.json`` record."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import math
import os
import platform
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import numpy as np

from dynsim._core.errors import DynsimInputError

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
    """``obj`` as plain JSON types (``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``, ``None``).

    * numpy and JAX arrays become (nested) lists, numpy and JAX scalars Python scalars;
    * non-finite floats (``nan``, ``+-inf``) become ``null``;
    * a complex number becomes ``[re, im]`` (each part a float, or ``null`` if not finite),
      as in :meth:`FixedPoints.records`;
    * an :class:`enum.Enum` becomes its (JSON-converted) value, a dataclass instance a dict of
      its fields, a :class:`~pathlib.Path` a string, a set or frozenset a list;
    * dict keys become strings (an enum key its value's string).

    Anything else is returned unchanged (so ``json.dumps`` still refuses a type it cannot encode).
    """
    if isinstance(obj, enum.Enum):  # before int/str: IntEnum and str enums are subclasses
        return jsonable(obj.value)
    if isinstance(obj, (str, type(None))):
        return obj
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (complex, np.complexfloating)):
        v = complex(obj)
        return [jsonable(v.real), jsonable(v.imag)]
    if isinstance(obj, dict):
        return {_json_key(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        items = [jsonable(v) for v in obj]
        try:
            return sorted(items)
        except TypeError:  # mixed types: keep the iteration order
            return items
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):  # other numpy scalars (e.g. datetime64, str_ handled above)
        return jsonable(obj.item())
    if isinstance(obj, Path):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if _is_jax_array(obj):
        return jsonable(np.asarray(obj).tolist())
    return obj


def _json_key(k) -> str:
    if isinstance(k, enum.Enum):
        k = k.value
    if isinstance(k, np.generic):
        k = k.item()
    return str(k)


def _is_jax_array(obj) -> bool:
    jax = sys.modules.get("jax")  # never import JAX just to find out
    return jax is not None and isinstance(obj, jax.Array)


def _fail(message: str) -> DynsimInputError:
    return DynsimInputError("out", message)


def _name_max(directory: str) -> tuple[int, int]:
    """``(NAME_MAX, PATH_MAX)`` of the file system holding ``directory`` (255 and 4096 if unknown)."""
    limits = []
    for key, default in (("PC_NAME_MAX", 255), ("PC_PATH_MAX", 4096)):
        try:
            v = os.pathconf(directory, key)
        except (OSError, ValueError):
            v = -1
        limits.append(v if v and v > 0 else default)
    return limits[0], limits[1]


def _targets(out: Path, stems, formats) -> list[Path]:
    exts = ["json", "npz", *formats]
    return [out / f"{stem}.{ext}" for stem in stems for ext in dict.fromkeys(exts)]


def check_out_dir(out: str | os.PathLike, stems: list[str], formats=FORMATS) -> None:
    """Raise ``DynsimInputError("out", ...)`` unless the job's outputs can be written into ``out``.

    ``stems`` are the names (without extension) of the files a job writes: ``stem.json``,
    ``stem.npz`` and ``stem.{fmt}`` for each ``fmt`` in ``formats``. Refused: an empty name;
    ``out`` (or one of its parents) existing and not a directory (a file, ``/dev/null``,
    a device); a name too long for the file system; a directory that cannot be created or
    written to (tried by creating and removing a file); a target file that exists as a
    directory. Leaves nothing behind: directories it had to create are removed again.
    Call it before any work, so that a bad ``--out`` costs nothing.
    """
    raw = os.fspath(out)
    if isinstance(raw, bytes):
        raw = os.fsdecode(raw)
    if raw == "" or raw.strip() == "":
        raise _fail("the output directory name is empty")
    if "\x00" in raw:
        raise _fail(f"{raw!r} contains a NUL character")
    out = Path(raw)
    # The deepest existing ancestor must be a directory; below it everything is created.
    missing: list[Path] = []
    probe = out
    while not os.path.lexists(probe):
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    if os.path.lexists(probe) and not probe.is_dir():
        if probe == out:
            kind = "a device" if probe.is_char_device() or probe.is_block_device() else (
                "a broken link" if probe.is_symlink() and not probe.exists() else "not a directory")
            raise _fail(f"{str(out)!r} exists and is {kind}")
        raise _fail(f"{str(probe)!r} (a parent of {str(out)!r}) is not a directory")
    name_max, path_max = _name_max(str(probe))
    for part in out.parts:
        if len(os.fsencode(part)) > name_max:
            raise _fail(f"a path component is longer than {name_max} bytes: {part[:40]!r}...")
    targets = _targets(out, stems, formats)
    for t in targets:
        if len(os.fsencode(t.name)) > name_max:
            raise _fail(f"the file name {t.name[:40]!r}... is longer than {name_max} bytes")
        if len(os.fsencode(os.path.abspath(t))) >= path_max:
            raise _fail(f"the path {str(t)[:40]!r}... is longer than {path_max - 1} bytes")
    if not missing:
        for t in targets:
            if t.is_dir():
                raise _fail(f"{str(t)!r} exists and is a directory")
    created: list[Path] = []
    try:
        for d in reversed(missing):
            try:
                d.mkdir()
            except FileExistsError:  # made meanwhile by another process: not ours to remove
                if not d.is_dir():
                    raise _fail(f"{str(d)!r} exists and is not a directory") from None
                continue
            created.append(d)
        tmp = out / _tmp_name()
        try:
            with open(tmp, "xb"):
                pass
        finally:
            try:
                tmp.unlink()
            except OSError:
                pass
    except OSError as e:
        raise _fail(f"cannot write into {str(out)!r}: {e.strerror or type(e).__name__}") from None
    finally:
        for d in reversed(created):
            try:
                d.rmdir()
            except OSError:
                pass


def _tmp_name() -> str:
    """A short, unique, hidden name in the output directory (short whatever the stem's length)."""
    return f".dynsim-{os.getpid()}-{secrets.token_hex(6)}.tmp"


@contextlib.contextmanager
def staged(out_dir: str | Path, last: tuple[str, ...] = ()) -> Iterator[Path]:
    """A hidden staging directory inside ``out_dir`` (created if needed) for a set of files: the
    body writes them there; when it ends without an error they are renamed into ``out_dir``
    (``os.replace``: each appears complete or not at all), the names in ``last`` last (a manifest
    that names the others). On an error nothing is moved: the staging directory is removed, and so
    is ``out_dir`` if this call created it and it is still empty, so a failed run leaves no
    half-written set."""
    out = Path(out_dir)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    stage = out / _tmp_name()
    stage.mkdir()
    try:
        yield stage
        names = sorted(p.name for p in stage.iterdir())
        for name in [n for n in names if n not in last] + [n for n in last if n in names]:
            os.replace(stage / name, out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()


def write_outputs(out_dir: str | Path, stem: str, *, figure, arrays: dict[str, np.ndarray],
                  record: dict, fmt: str = "png", timing: dict | None = None) -> dict[str, Path]:
    """Write ``stem.{fmt}``, ``stem.npz`` and ``stem.json`` into ``out_dir`` (created if needed).

    The figure is saved with :func:`dynsim.plot.style.savefig` at :data:`DPI`: the same figure
    gives the same PNG, PDF and SVG bytes.

    ``record`` is completed with the package versions and the paths written, and, given ``timing``
    (seconds of the run's earlier parts, e.g. ``{"job": ..., "figure": ...}``), with ``timing_s``:
    ``timing`` and ``"write"``, the seconds this call took to write the figure and the numbers. Nothing is
    half-written: the three files are written to temporary names in ``out_dir`` and renamed
    into place (``os.replace``) only once all three are complete, so a failed or killed run
    leaves each file either as it was or entirely new (the ``.json`` is renamed last). An
    unusable ``out_dir`` (see :func:`check_out_dir`) raises ``DynsimInputError("out", ...)``
    before anything is written.
    """
    from dynsim.plot.style import savefig  # here: importing dynsim._core.io does not import matplotlib

    start = time.perf_counter()
    out = Path(out_dir)
    check_out_dir(out, [stem], formats=(fmt,))
    paths = {"figure": out / f"{stem}.{fmt}", "data": out / f"{stem}.npz", "record": out / f"{stem}.json"}
    full = {**record, "versions": versions(), "files": {k: p.name for k, p in paths.items()}}
    text = json.dumps(jsonable(full), indent=2, allow_nan=False) + "\n"  # fails before any write
    data = {k: np.asarray(v) for k, v in arrays.items()}
    out.mkdir(parents=True, exist_ok=True)
    writers = {
        # the house savefig: fixed metadata, layout frozen, so the same figure gives the same bytes
        # (constrained layout: no tight bbox pass)
        "figure": lambda f: savefig(figure, f, format=fmt, dpi=DPI),
        "data": lambda f: np.savez_compressed(f, **data),
        "record": lambda f: f.write((text if timing is None else json.dumps(jsonable(
            {**full, "timing_s": {**timing, "write": round(time.perf_counter() - start, 3)}}), indent=2,
            allow_nan=False) + "\n").encode()),
    }
    tmps: dict[str, Path] = {}
    try:
        for key, write in writers.items():
            tmps[key] = out / _tmp_name()
            with open(tmps[key], "xb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        for key in ("figure", "data", "record"):  # the record last: it names the other two
            os.replace(tmps[key], paths[key])
            del tmps[key]
    finally:
        for tmp in tmps.values():
            try:
                tmp.unlink()
            except OSError:
                pass
    return paths
