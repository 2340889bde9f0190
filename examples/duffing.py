"""A model of your own in a few lines: the damped Duffing oscillator x'' = x - x^3 - delta x'."""

import jax.numpy as jnp

import dynsim


class Duffing(dynsim.AbstractSystem):
    delta: float = dynsim.param(0.3, lower=0.0, symbol=r"\delta", help="damping")
    state_names = ("x", "v")

    def vector_field(self, t, y):
        x, v = y
        return jnp.stack([v, x - x**3 - self.delta * v])


def hopf(t, y, *, mu=0.5):
    """The Hopf normal form: a stable limit cycle of radius sqrt(mu) around an unstable focus."""
    x, v = y
    r2 = x * x + v * v
    return jnp.stack([mu * x - v - x * r2, x + mu * v - v * r2])


hopf.state_names = ("x", "y")


@dynsim.claim("duffing-symmetric-basins", statement="the two wells of the Duffing oscillator have equal basins "
              "in a symmetric box", tolerance=3.0, metric="|f_left - f_right| / standard error")
def _symmetric():
    fr = dynsim.basins_fractions(Duffing(), [(-2, 2), (-2, 2)], samples=512, seed=1)
    a, b = (fr.fractions[n] for n in fr.names)
    return abs(a - b) / max(fr.standard_errors[fr.names[0]], 1e-12)
