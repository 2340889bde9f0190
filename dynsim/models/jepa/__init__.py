"""JEPA against MAE in deep linear networks [Littwin et al. 2024], written as losses (see
:mod:`dynsim.models.jepa.system`); the claims are in :mod:`dynsim.models.jepa.claims`
(``dynsim check --model dynsim.models.jepa.claims``)."""

from dynsim.models.jepa.system import (
    DEFAULT_LAM,
    DEFAULT_RHO,
    DEFAULTS,
    OBJECTIVES,
    JepaRun,
    balanced_start,
    chain,
    critical_times,
    decoupled_learning_times,
    depth_of,
    discordance,
    encoder,
    feature_statistics,
    hitting_time,
    jepa_flow,
    jepa_loss,
    learning_times,
    mae_flow,
    mae_loss,
    minibatch_statistics,
    order,
    paper_critical_time,
    plateau,
    predictor,
    reduced_rate,
    reversal_threshold,
    run_length,
    sample_views,
    simulate_jepa,
    strengths,
    training_times,
    trajectory,
)

__all__ = [
    "DEFAULT_LAM", "DEFAULT_RHO", "DEFAULTS", "OBJECTIVES", "JepaRun", "balanced_start", "chain", "critical_times",
    "decoupled_learning_times",
    "depth_of", "discordance", "encoder", "feature_statistics", "hitting_time", "jepa_flow", "jepa_loss",
    "learning_times", "mae_flow", "mae_loss", "minibatch_statistics", "order", "paper_critical_time", "plateau",
    "predictor", "reduced_rate", "reversal_threshold", "run_length", "sample_views", "simulate_jepa", "strengths",
    "training_times",
    "trajectory", "plot_jepa", "plot_depth",
]


def plot_jepa(run, size: str = "page"):
    """The figure of a :func:`simulate_jepa` run (imports matplotlib on first use)."""
    from dynsim.models.jepa.figure import plot_jepa as _plot

    return _plot(run, size=size)


def plot_depth(depths, sensitivity: dict, size: str = "column"):
    """The rho-sensitivity against depth (imports matplotlib on first use)."""
    from dynsim.models.jepa.figure import plot_depth as _plot

    return _plot(depths, sensitivity, size=size)
