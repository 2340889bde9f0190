"""The jobs routed through the serialized-job cache (dynsim._core.aot) give the numbers of the
traced path: the basin maps' lane integration (eigen and generic, through ``lane_map``) and the
``aot.filter_jit`` drop-in for ``eqx.filter_jit`` (on the generic portrait's job, the solver
and the fixed-point search). The key follows the user's own model code, and a job without a
stable identity is never stored."""

from __future__ import annotations

import textwrap
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynsim
from dynsim._core import aot
from dynsim._core.loading import load_model
from dynsim._core.solve import Solution
from dynsim.tools import fixed_points as fp_mod
from dynsim.tools import phase_portrait as pp_mod
from dynsim._core import solve as solve_mod

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _entries(d, name=""):
    return sorted(d.glob(f"dynsim-{name}*.jaxexport"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Three runs of a job: traced (no cache), exported and stored, then loaded from the stored
    entry (the in-process memo cleared, as in a new process); ``loads`` counts deserializations."""
    loads = []
    real = jax.export.deserialize
    monkeypatch.setattr(aot.jax.export, "deserialize", lambda b: loads.append(1) or real(b))

    def three(job, traced=True):
        """(traced, stored, loaded); ``traced=False`` skips the first (``None``)."""
        monkeypatch.setattr(aot, "_cache_dir", lambda: None)
        aot._RUNNERS.clear()
        traced = job() if traced else None
        monkeypatch.setattr(aot, "_cache_dir", lambda: tmp_path)
        aot._RUNNERS.clear()
        stored = job()
        before = len(loads)
        aot._RUNNERS.clear()
        loaded = job()
        assert len(loads) > before, "the stored entry was not loaded"
        return traced, stored, loaded

    three.dir = tmp_path
    yield three
    aot._RUNNERS.clear()


def _same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), err_msg=k)


def test_eigen_lane_integration_exported_equals_traced(cache):
    from dynsim.models.eigen.basins import label_points

    rng = np.random.default_rng(5)
    p0, s0 = rng.uniform(-1, 2, 150), 10 ** rng.uniform(-10, 0, 150)

    def job():
        lab, t, steps, info = label_points(dynsim.EigenDynamics2D(eta=4e-4, sigma=1.0), p0, s0, chunk=64)
        assert info["lanes_integrated"] > 0
        return {"labels": lab, "t_settle": t, "steps": steps}

    traced, stored, loaded = cache(job)
    assert _entries(cache.dir, "lanes-dynsim.tools.basins._solve_lanes")
    _same(traced, stored)
    _same(traced, loaded)
    assert {0, 1} <= set(traced["labels"].tolist())


def test_generic_lane_integration_exported_equals_traced(cache):
    model = load_model(f"{EXAMPLES / 'duffing.py'}:Duffing")

    def job():
        bm = dynsim.basins(model, window="-2:2,-2:2", grid=12, separatrices=False)
        return {"labels": bm.labels, "t_settle": bm.t_settle, "steps": bm.steps}

    traced, stored, loaded = cache(job)
    _same(traced, stored)
    _same(traced, loaded)
    assert {0, 1} <= set(traced["labels"].ravel().tolist())


def _flat(tree):
    return {str(i): x for i, x in enumerate(jax.tree_util.tree_leaves(tree))}


def test_filter_jit_portrait_job_equals_eqx_filter_jit(cache):
    """The generic portrait's one traced job (fields, roots, trajectories) through aot.filter_jit
    gives eqx.filter_jit's numbers."""
    model = load_model(f"{EXAMPLES / 'duffing.py'}:Duffing")
    job_fn = aot.filter_jit("test_portrait_numerics", (0, 0, (0,) * 5, Solution(*(0,) * 7)))(pp_mod._numerics.__wrapped__)
    g = np.linspace(-2, 2, 7)
    pts = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    args = (model, pts, pts[:20], pts[::3], pts[:4] * 0.7, np.linspace(0, 5.0, 6), jnp.asarray(1e-8), jnp.asarray(1e-10),
            jnp.asarray(1e-12), 10_000, False)
    want = _flat(pp_mod._numerics(*args))  # the traced path: eqx.filter_jit
    _, stored, loaded = cache(lambda: _flat(job_fn(*args)), traced=False)
    _same(want, stored)
    _same(want, loaded)


def test_filter_jit_solver_and_roots_equal_eqx_filter_jit(cache):
    """The solver's batch (a static stop condition, named by module and qualified name, is
    stored) and the fixed-point search, as dynsim's other modules would route them."""
    model = dynsim.EigenDynamics2D(eta=1e-3, sigma=0.8)
    solve_job = aot.filter_jit("test_solve_batch", Solution(*(0,) * 7))(solve_mod._solve_batch.__wrapped__)
    y0 = jnp.asarray([[0.5, 0.2], [1.2, 1e-3], [-0.3, 0.4]])
    system = model.broadcast_to((3,))
    args = (system, y0, jnp.linspace(0.0, 50.0, 9), jnp.asarray(1e-8), jnp.asarray(1e-10), jnp.asarray(1e12),
            solve_mod.diffrax.Tsit5(), 20_000, _far, True)
    want = _flat(solve_mod._solve_batch(*args))
    _, stored, loaded = cache(lambda: _flat(solve_job(*args)), traced=False)
    for got in (stored, loaded):
        _same(want, got)
    assert _entries(cache.dir, "test_solve_batch")

    roots_job = aot.filter_jit("test_roots", (0,) * 5)(fp_mod._roots)
    starts = jnp.asarray(np.random.default_rng(0).uniform(0.05, 1.5, (16, 2)))
    rargs = (model, starts, 1e-12, 1e-12, 200, jnp.asarray(0.0))
    want = _flat(fp_mod._roots_jit(*rargs))
    _, stored, loaded = cache(lambda: _flat(roots_job(*rargs)), traced=False)
    for got in (stored, loaded):
        _same(want, got)


def _far(t, y, system):
    return jnp.abs(y[0]) > 10.0


def test_filter_jit_inside_a_trace_is_inlined(tmp_path, monkeypatch):
    monkeypatch.setattr(aot, "_cache_dir", lambda: tmp_path)
    inner = aot.filter_jit("test_inner", 0)(lambda x, k: x * k)
    outer = aot.filter_jit("test_outer", 0)(_outer_body(inner))
    x = jnp.arange(4.0)
    np.testing.assert_array_equal(np.asarray(outer(x)), np.asarray(x) * 3.0 + 1.0)
    assert not _entries(tmp_path, "test_inner")  # inlined into the outer job, not a job of its own


def _outer_body(inner):
    def body(x):
        return inner(x, 3.0) + 1.0
    return body


def test_lambda_static_argument_is_never_stored(tmp_path, monkeypatch):
    monkeypatch.setattr(aot, "_cache_dir", lambda: tmp_path)
    job = aot.filter_jit("test_lambda", 0)(lambda x, f: f(x))
    for k in (2.0, 3.0):
        np.testing.assert_array_equal(np.asarray(job(jnp.arange(3.0), lambda v, k=k: v * k)), np.arange(3.0) * k)
    assert not _entries(tmp_path)


MODEL = """
import jax.numpy as jnp
import dynsim


class Wells(dynsim.AbstractSystem):
    state_names = ("x", "v")

    def vector_field(self, t, y):
        return jnp.stack([y[1], {force} - y[1]])
"""


def test_editing_the_model_file_is_never_a_stale_export(tmp_path, monkeypatch):
    """Same class name, same shapes, another vector field: a new key, the new numbers."""
    d = tmp_path / "cache"
    d.mkdir()
    monkeypatch.setattr(aot, "_cache_dir", lambda: d)
    path = tmp_path / "wells.py"
    out = {}
    for force in ("y[0] - y[0] ** 3", "-y[0]"):
        path.write_text(textwrap.dedent(MODEL.format(force=force)))
        model = load_model(f"{path}:Wells")
        aot._RUNNERS.clear()
        bm = dynsim.basins(model, window="-2:2,-2:2", grid=8, separatrices=False)
        out[force] = (bm.labels, len(bm.attractors.points))
    assert out["y[0] - y[0] ** 3"][1] == 2 and out["-y[0]"][1] == 1  # two wells, then one
    assert len(_entries(d, "lanes-")) == 2
    assert set(out["-y[0]"][0].ravel().tolist()) == {0}


def test_model_typed_without_a_file_is_not_stored(tmp_path, monkeypatch):
    monkeypatch.setattr(aot, "_cache_dir", lambda: tmp_path)
    ns: dict = {"__name__": "typed_in_a_repl", "jnp": jnp, "dynsim": dynsim}
    exec(textwrap.dedent(MODEL.format(force="-y[0]")), ns)  # a class whose module has no file
    bm = dynsim.basins(ns["Wells"](), window="-2:2,-2:2", grid=6, separatrices=False)
    assert set(bm.labels.ravel().tolist()) == {0}
    assert not _entries(tmp_path)


def test_static_eqx_field_values_key_the_entry(tmp_path, monkeypatch):
    monkeypatch.setattr(aot, "_cache_dir", lambda: tmp_path)

    class Scaled(eqx.Module):
        a: jax.Array
        k: int = eqx.field(static=True)

    job = aot.filter_jit("test_static_field", 0)(_scaled)
    for k in (2, 5):
        aot._RUNNERS.clear()
        np.testing.assert_array_equal(np.asarray(job(Scaled(jnp.arange(3.0), k))), np.arange(3.0) * k)


def _scaled(m):
    return m.a * m.k


def test_filter_jit_continuation_kernels_equal_eqx_filter_jit(cache, monkeypatch):
    """The continuation's two jitted kernels (with their XLA options) through aot.filter_jit, as
    dynsim.tools.continuation would route them: the same branches and special points."""
    from dynsim.tools import continuation as cont

    model = dynsim.EigenDynamics1D(eta=1e-3, sigma=1.0)
    want = cont.continuation(model, "eta", 1e-6, 0.5, log=True, max_points=200).arrays()
    monkeypatch.setattr(cont, "_half_jit", aot.filter_jit("test_continuation_half", (0,) * 12,
                                                         compiler_options=cont._FAST_COMPILE)(cont._half))
    monkeypatch.setattr(cont, "_newton_step_jit", aot.filter_jit("test_continuation_newton", 0,
                                                                compiler_options=cont._FAST_COMPILE)(
        cont._newton_step_jit.__wrapped__))
    _, stored, loaded = cache(lambda: cont.continuation(model, "eta", 1e-6, 0.5, log=True, max_points=200).arrays(),
                              traced=False)
    assert _entries(cache.dir, "test_continuation_half")
    for got in (stored, loaded):
        _same(want, got)


LOSS = """
import jax.numpy as jnp


def quadratic(W, S):
    return {scale} * jnp.sum((W @ S) * W)
"""


def _loss_flow(path: Path, scale: str):
    """A GradientFlow whose loss is a module-level function of a user's file."""
    import importlib.util

    path.write_text(textwrap.dedent(LOSS.format(scale=scale)))
    spec = importlib.util.spec_from_file_location(f"user_loss_{abs(hash(scale))}", path)
    module = importlib.util.module_from_spec(spec)
    import sys

    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return dynsim.GradientFlow(module.quadratic, {"W": (2, 2)}, data={"S": np.diag([1.0, 2.0])})


def test_a_loss_model_is_stored_and_loaded(cache):
    """A model written as a loss holds its loss function as a static field: the entry is keyed by the
    function's module and name (not its address, which changes with every process), so a new process
    loads the solve instead of tracing and compiling it again."""
    from dynsim.models.jepa import system as js

    flow = js.jepa_flow(np.array([1.0, 0.5]), np.array([0.5, 1.0]), 2)
    y0 = js.balanced_start(flow, 1e-2)
    ts = np.linspace(0.0, 5.0, 11)
    runs = cache(lambda: {"ys": dynsim.solve(flow, y0, ts).ys})
    assert len(_entries(cache.dir, "solve")) == 1
    for got in runs[1:]:
        _same(runs[0], got)


def test_editing_the_loss_file_is_never_a_stale_export(tmp_path, monkeypatch):
    """Same function name, same shapes, another loss: a new key, the new numbers."""
    d = tmp_path / "cache"
    d.mkdir()
    monkeypatch.setattr(aot, "_cache_dir", lambda: d)
    y0, ts = np.array([1.0, 0.0, 0.0, 1.0]), np.array([0.0, 1.0])
    ends = {}
    for scale in ("0.5", "1.5"):
        aot._RUNNERS.clear()
        ends[scale] = np.asarray(dynsim.solve(_loss_flow(tmp_path / "loss.py", scale), y0, ts).y_final)
    assert len(_entries(d, "solve")) == 2
    # dW/dt = -scale * (W S + W S^T) = -2 scale W S with S = diag(1, 2): W_11(1) = exp(-2 scale)
    for scale, end in ends.items():
        np.testing.assert_allclose(end[0], np.exp(-2 * float(scale)), rtol=1e-6)
