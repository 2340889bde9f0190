"""The general fixed-point finder and classifier, on systems with and without closed forms."""

from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import pytest

import dynsim


@pytest.mark.parametrize("jac,label", [
    ([[-1.0, 0.0], [0.0, -2.0]], "stable node"),
    ([[1.0, 0.0], [0.0, 3.0]], "unstable node"),
    ([[-1.0, 0.0], [0.0, 2.0]], "saddle"),
    ([[-0.1, 1.0], [-1.0, -0.1]], "stable spiral"),
    ([[0.1, 1.0], [-1.0, 0.1]], "unstable spiral"),
    ([[0.0, 1.0], [0.0, -1.0]], "degenerate"),
    ([[0.0, 1.0], [-1.0, 0.0]], "degenerate"),  # a centre: linearisation inconclusive
])
def test_classify(jac, label):
    assert dynsim.classify(np.linalg.eigvals(np.array(jac))) == label


class DampedPendulum(dynsim.AbstractSystem):
    """theta'' = -sin(theta) - gamma theta': stable spirals at 2k pi, saddles at (2k+1) pi."""

    gamma: jnp.ndarray = dynsim.param(default=0.3)
    state_names: ClassVar[tuple[str, ...]] = ("theta", "omega")

    def vector_field(self, t, y):
        return jnp.stack([y[1], -jnp.sin(y[0]) - self.gamma * y[1]])


def test_finder_on_a_system_without_closed_form_code():
    fp = dynsim.find_fixed_points(DampedPendulum(), dynsim.grid_starts([-4.0, -1.0], [4.0, 1.0], 9))
    inside = np.abs(fp.points[:, 0]) <= 4.0
    np.testing.assert_allclose(fp.points[inside, 0], [-np.pi, 0.0, np.pi], atol=1e-12)
    np.testing.assert_allclose(fp.points[inside, 1], 0.0, atol=1e-12)
    assert [s for s, i in zip(fp.stability, inside) if i] == ["saddle", "stable spiral", "saddle"]
    # Jacobian eigenvalues at the origin: (-gamma +/- i sqrt(4 - gamma^2)) / 2.
    lam = fp.eigenvalues[inside][1]
    np.testing.assert_allclose(sorted(lam.imag), [-np.sqrt(4 - 0.09) / 2, np.sqrt(4 - 0.09) / 2], rtol=1e-12)
    np.testing.assert_allclose(lam.real, -0.15, rtol=1e-12)


def test_jacobian_matches_finite_differences():
    m = dynsim.EigenDynamics3D(eta=0.02, sigma=0.7, alpha_p=1.3, beta=0.5)
    y = jnp.array([0.3, 0.2, 0.8])
    J = np.asarray(dynsim.jacobian(m, y))
    h = 1e-6
    fd = np.stack([(np.asarray(m.vector_field(0.0, y + h * e)) - np.asarray(m.vector_field(0.0, y - h * e))) / (2 * h)
                   for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(J, fd, rtol=1e-8, atol=1e-10)


def test_basins_1d_and_nearest_attractor():
    pts = np.array([0.0, 0.1, 0.5])
    stable = np.array([True, False, True])
    assert dynsim.basins_1d(pts, stable, -1.0, 1.0) == [(-1.0, 0.1, 0), (0.1, 1.0, 2)]
    y = np.array([[0.001, 0.0], [0.5, 0.25], [0.2, 0.2]])
    att = np.array([[0.0, 0.0], [0.5, 0.25]])
    assert list(dynsim.nearest_attractor(y, att, scale=[1.0, 1.0], tol=1e-2)) == [0, 1, -1]
