"""Library functions refuse garbage input with DynsimInputError(name, one line) instead of
returning garbage (found by an outside fuzz)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynsim
from dynsim.models.infonce.system import effective_rank
from dynsim.tools.fixed_points import classify, find_fixed_points, grid_starts, jacobian

NAN, INF = math.nan, math.inf


def _refuses(name, fn, *args, **kwargs):
    with pytest.raises(dynsim.DynsimInputError) as e:
        fn(*args, **kwargs)
    assert e.value.name == name, (e.value.name, str(e.value))
    assert "\n" not in str(e.value) and str(e.value)
    return str(e.value)


@pytest.mark.parametrize("lam", [[NAN, NAN], [NAN, -1.0], [INF, -1.0], [complex(-1, NAN)], [], [[-1.0, -2.0]]])
def test_classify_refuses_non_finite_or_malformed(lam):
    _refuses("eigenvalues", classify, lam)


def test_classify_still_names_points():
    assert classify([-1.0, -2.0]) == "stable node"
    assert classify([-1.0, 2.0]) == "saddle"
    assert classify([1 + 1j, 1 - 1j]) == "unstable spiral"
    assert classify(np.float64(-3.0)) == "stable node"  # a 1-D system's single eigenvalue
    _refuses("zero_tol", classify, [-1.0], zero_tol=-1.0)


@pytest.fixture(scope="module")
def model():
    return dynsim.EigenDynamics2D(eta=0.01, sigma=0.7, tau=0.9)


@pytest.mark.parametrize("y", [[0.1, 0.2, 0.3], [0.1], [[0.1, 0.2]], 0.1])
def test_jacobian_refuses_a_state_of_the_wrong_shape(model, y):
    assert "(2,)" in _refuses("y", jacobian, model, y)


def test_jacobian_refuses_non_finite_state_but_works_traced(model):
    _refuses("y", jacobian, model, [NAN, 0.2])
    _refuses("t", jacobian, model, [0.1, 0.2], t=INF)
    y = jnp.asarray([0.1, 0.2])
    direct = np.asarray(jacobian(model, y))
    assert direct.shape == (2, 2) and np.all(np.isfinite(direct))
    np.testing.assert_allclose(jax.jit(lambda v: jacobian(model, v))(y), direct, rtol=1e-14)
    np.testing.assert_allclose(jax.vmap(lambda v: jacobian(model, v))(y[None]), direct[None], rtol=1e-14)


@pytest.mark.parametrize("starts, name", [
    ([[NAN, 0.1]], "starts"),
    ([[0.1, INF]], "starts"),
    ([[0.1, 0.2, 0.3]], "starts"),
])
def test_find_fixed_points_refuses_bad_starts(model, starts, name):
    _refuses(name, find_fixed_points, model, starts)


@pytest.mark.parametrize("kwargs, name", [
    ({"rtol": NAN}, "rtol"), ({"atol": -1.0}, "atol"), ({"max_steps": 0}, "max_steps"),
    ({"max_steps": 2.5}, "max_steps"), ({"t": NAN}, "t"), ({"zero_tol": INF}, "zero_tol"),
])
def test_find_fixed_points_refuses_bad_options(model, kwargs, name):
    _refuses(name, find_fixed_points, model, [[0.5, 0.2]], **kwargs)


@pytest.mark.parametrize("args, name", [
    (([NAN, 0.0], [1.0, 1.0], 3), "lower"), (([0.0, 0.0], [1.0, INF], 3), "upper"),
    (([0.0, 0.0], [1.0], 3), "upper"), (([0.0], [1.0], 0), "num"),
])
def test_grid_starts_refuses_garbage(args, name):
    _refuses(name, grid_starts, *args)


@pytest.mark.parametrize("s", [[NAN, 1.0], [INF, 1.0], [-1.0, 1.0], [], 1.0, [[1.0, NAN]]])
def test_effective_rank_refuses_garbage(s):
    _refuses("s", effective_rank, s)


def test_effective_rank_values():
    np.testing.assert_allclose(effective_rank([1.0, 1.0, 1.0]), 3.0, rtol=1e-14)
    np.testing.assert_allclose(effective_rank([[2.0, 0.0], [1e308, 1e308]]), [1.0, 2.0], rtol=1e-14)
    assert effective_rank([0.0, 0.0]) == 0.0  # nothing in use


@pytest.mark.parametrize("args, name", [
    ((-1.0, 0.5, 1.0), "eta"), ((0.01, -0.5, 1.0), "sigma"), ((0.01, 0.5, -1.0), "tau"),
    ((NAN, 0.5, 1.0), "eta"), ((0.01, INF, 1.0), "sigma"), ((0.01, 0.5, NAN), "tau"),
    ((np.array([0.01, -0.01]), 0.5, 1.0), "eta"),
])
def test_nontrivial_roots_refuses_out_of_range(args, name):
    _refuses(name, dynsim.nontrivial_roots, *args)


@pytest.mark.parametrize("args, name", [((-0.5, 1.0), "sigma"), ((0.5, NAN), "tau")])
def test_critical_eta_refuses_out_of_range(args, name):
    _refuses(name, dynsim.critical_eta, *args)


def test_nontrivial_roots_still_traceable():
    """The checks only look at concrete values: jit, vmap and grad trace through them."""
    direct = [float(v) for v in dynsim.nontrivial_roots(0.01, 0.5, 1.0)]
    jitted = [float(v) for v in jax.jit(dynsim.nontrivial_roots)(0.01, 0.5, 1.0)]
    np.testing.assert_allclose(jitted, direct, rtol=1e-14)
    batched = jax.vmap(dynsim.nontrivial_roots, in_axes=(0, None, None))(jnp.asarray([0.01, 0.02]), 0.5, 1.0)
    np.testing.assert_allclose(batched[0][0], direct[0], rtol=1e-14)
    assert np.isfinite(float(jax.grad(lambda e: dynsim.nontrivial_roots(e, 0.5, 1.0)[1])(0.01)))
    eta_c = float(jax.jit(dynsim.critical_eta)(0.5, 1.0))
    np.testing.assert_allclose(eta_c, 1.0 / (4 * 1.25), rtol=1e-14)
    # above eta_c there are no such points: NaN, as documented (a valid answer, not garbage)
    assert all(math.isnan(float(v)) for v in dynsim.nontrivial_roots(1.0, 0.5, 1.0))
