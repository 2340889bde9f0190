"""Linear SimSiam / BYOL with the cosine loss on normalised embeddings [Tian et al. 2021, Bao 2023], written as a
loss (see :mod:`dynsim.models.cosine.system`); the claims are in :mod:`dynsim.models.cosine.claims`
(``dynsim check --model dynsim.models.cosine.claims``)."""

from dynsim.models.cosine.system import (
    COLLAPSE_SHARE,
    DEFAULTS,
    CosineEigen,
    CosineRun,
    aligned_matrices,
    cosine_flow,
    cosine_loss,
    critical_eta_isotropic,
    euclidean_flow,
    euclidean_loss,
    modes_of,
    normalised,
    root_end_point,
    simulate_cosine,
    spectra,
    time_change,
    transverse_spectrum,
)

__all__ = [
    "COLLAPSE_SHARE", "DEFAULTS", "CosineEigen", "CosineRun", "aligned_matrices", "cosine_flow", "cosine_loss",
    "critical_eta_isotropic", "euclidean_flow", "euclidean_loss", "modes_of", "normalised", "root_end_point",
    "simulate_cosine", "spectra", "time_change", "transverse_spectrum", "plot_cosine",
]


def plot_cosine(run, size: str = "page"):
    """The figure of a :func:`simulate_cosine` run (imports matplotlib on first use)."""
    from dynsim.models.cosine.figure import plot_cosine as _plot

    return _plot(run, size=size)
