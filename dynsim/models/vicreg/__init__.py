"""Linear VICReg [Bardes, Ponce & LeCun 2022] written as a loss (see :mod:`dynsim.models.vicreg.system`); the claims
are in :mod:`dynsim.models.vicreg.claims` (``dynsim check --model dynsim.models.vicreg.claims``)."""

from dynsim.models.vicreg.system import (
    NOISE,
    PAPER,
    RATIOS,
    VICRegMode,
    VICRegRun,
    VICRegSGD,
    aligned_start,
    collapse_threshold,
    decorrelation_threshold,
    default_data,
    noise_fractions,
    off_diagonal,
    rank,
    sampled_views,
    sgd_against_flow,
    simulate_vicreg,
    stationary_variances,
    variances,
    vicreg_batch_loss,
    vicreg_flow,
    vicreg_loss,
)

__all__ = [
    "NOISE", "PAPER", "RATIOS", "VICRegMode", "VICRegRun", "VICRegSGD", "aligned_start", "collapse_threshold",
    "decorrelation_threshold", "default_data", "noise_fractions", "off_diagonal", "rank", "sampled_views",
    "sgd_against_flow", "simulate_vicreg", "stationary_variances", "variances", "vicreg_batch_loss", "vicreg_flow",
    "vicreg_loss", "plot_vicreg",
]


def plot_vicreg(run, size: str = "page"):
    """The figure of a :func:`simulate_vicreg` run (imports matplotlib on first use)."""
    from dynsim.models.vicreg.figure import plot_vicreg as _plot

    return _plot(run, size=size)
