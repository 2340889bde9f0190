"""dynsim: numerical simulation of the learning dynamics of self-supervised learning.

JAX + diffrax, float64 by default. The public API:

- any model: subclass :class:`AbstractSystem` with :func:`param` fields, ``state_names`` and
  ``vector_field(t, y)``, or wrap a plain function with :func:`from_function`; :func:`load_model`
  reads ``FILE.py:NAME``. The generic tools take any model: :func:`portrait` (phase portrait on a
  :class:`Plane`), :func:`basins` and :func:`basins_fractions`, :func:`saddle_branches`,
  :func:`sweep_model`, :func:`find_fixed_points`, :func:`solve`; :func:`claim` registers a claim
  for ``dynsim check --model FILE.py``;

- systems: :class:`EigenDynamics1D`, :class:`EigenDynamics2D`, :class:`EigenDynamics3D`
  (decoupled eigenvalue dynamics of linear BYOL, Tian et al. 2021); the matrix dynamics
  :class:`LinearBYOL` (Lemma 1 and its variants) and :class:`SymmetrizedBYOL`;
  DirectPred/DirectCopy/DirectSet :class:`DirectSetBYOL` (:func:`directset`), all built on
  :class:`AbstractSystem`; Barlow Twins :class:`BarlowTwins`, :class:`KernelBarlowTwins` [S23];
  InfoNCE / DirectCLR :class:`InfoNCE` and the fixed-X flow :class:`FrozenX` [J22];
  covariance builders :func:`isotropic`, :func:`spectrum`, :func:`nuisance`;
- solving: :func:`solve` -> :class:`Solution` with a per-trajectory :class:`Status`;
- analysis: :func:`find_fixed_points`, :func:`jacobian`, :func:`classify`,
  :func:`basins_1d`, :func:`nearest_attractor`;
- basins and sweeps: :func:`basin_map` -> :class:`BasinMap` (lanes stop at a proven trap);
  :func:`sweep` -> :class:`Sweep`; :func:`init_collapse` (random inits of the matrix models);
- finite-width training: :func:`train` -> :class:`TrainRun` (optax SGD, one jitted scan, vmapped
  over seeds); :func:`compare` -> :class:`Comparison` against the ODE, :func:`plot_comparison`;
  the prediction head of [WL22]: :func:`simulate_prediction_head` -> :class:`HeadRun`;
- jobs and figures: :func:`phase_portrait`, :func:`plot_phase_portrait`, :func:`simulate`,
  :func:`plot_simulation`, :func:`stepwise`, :func:`plot_stepwise`, :func:`simulate_collapse`,
  :func:`plot_collapse`, :func:`collapse_sweep`.
"""

from dynsim._core import config as _config  # noqa: F401  (float64 on import)
from dynsim.tools.fixed_points import (
    FixedPoints,
    basins_1d,
    classify,
    find_fixed_points,
    grid_starts,
    jacobian,
    nearest_attractor,
)
from dynsim._core.config import enable_compilation_cache
from dynsim.models.eigen.system import EigenDynamics1D, EigenDynamics2D, EigenDynamics3D, critical_eta, nontrivial_roots
from dynsim._core.errors import DynsimInputError
from dynsim.models.byol.system import (
    VARIANTS,
    DirectSetBYOL,
    directset,
    LinearBYOL,
    SymmetrizedBYOL,
    aligned_start,
    check_covariance,
    commutator_norm,
    eigenpairs,
    isotropic,
    nuisance,
    spectrum,
)
from dynsim.models.eigen.portrait import PhasePortrait, Window, phase_portrait
from dynsim.models.byol.simulate import MODELS, Simulation, simulate
from dynsim.models.barlow.system import (
    BarlowTwins,
    KernelBarlowTwins,
    Stepwise,
    closed_form_loss,
    cross_covariance,
    gram,
    singular_values,
    step_times,
    stepwise,
    synthetic_pairs,
)
from dynsim.models.infonce.system import (
    FrozenX,
    InfoNCE,
    augmented_views,
    block_augmentation,
    effective_rank,
    info_nce,
    theorem1,
    theorem3_balanced,
    theorem3_rates,
    theorem3_unbalanced,
)
from dynsim.models.infonce.collapse import (
    CONTRASTIVE_MODELS,
    PRESETS,
    CollapseRun,
    CollapseSweep,
    collapse_sweep,
    representation_ranks,
    simulate_collapse,
)
from dynsim.models.eigen.basins import Axis, BasinMap, basin_map, label_points
from dynsim.models.eigen.sweep import Range, Sweep, sweep
from dynsim.models.byol.init_collapse import init_collapse
from dynsim.training.train import TrainRun, train
from dynsim.training.compare import Comparison, compare
from dynsim.models.prediction_head.system import HeadRun, head_claims, plot_prediction_head, simulate_prediction_head
from dynsim._core.solve import Solution, Status, solve
from dynsim._core.system import AbstractSystem, AbstractWrapper, ParamSpec, from_function, param
from dynsim._core.loading import load_model, with_params
from dynsim.tools.plane import Axis as PlaneAxis, Plane, make_plane
from dynsim.tools.phase_portrait import PhasePortrait as Portrait, phase_portrait as portrait
from dynsim.tools.phase_portrait import plot_phase_portrait as plot_portrait
from dynsim.tools.basins import BasinFractions, BasinMap as Basins, basin_map as basins, basins_fractions
from dynsim.tools.basins import plot_basin_map as plot_basins
from dynsim.tools.manifolds import saddle_branches
from dynsim.tools.sweep import ModelSweep, plot_model_sweep, sweep_model
from dynsim.tools.claims import claim
from dynsim.tools.continuation import Continuation, continuation, plot_continuation
from dynsim._core.gradient_flow import GradientFlow, GradientTraining, field_discrepancy, train_gradient_flow

__version__ = "0.1.0"


def plot_phase_portrait(pp: PhasePortrait, *, size: str = "page"):
    """The phase-portrait figure (imports matplotlib on first use); ``size="page"`` (7 in wide) or
    ``"column"`` (3.4 in), as every ``plot_*`` function."""
    from dynsim.plot.seed_figures import plot_phase_portrait as _plot

    return _plot(pp, size=size)


def plot_stepwise(run: Stepwise, *, size: str = "page"):
    """The three-panel Barlow Twins steps figure of a :func:`stepwise` run."""
    from dynsim.plot.seed_figures import plot_stepwise as _plot

    return _plot(run, size=size)


def plot_collapse(run: CollapseRun, *, size: str = "page"):
    """The six-panel figure of a contrastive :func:`simulate_collapse` run."""
    from dynsim.plot.seed_figures import plot_collapse as _plot

    return _plot(run, size=size)


def plot_basin_map(bm: BasinMap, *, size: str = "page"):
    """The basin-map figure: basins, stationary points, separatrix; and the time each cell was proven."""
    from dynsim.plot.seed_figures import plot_basin_map as _plot

    return _plot(bm, size=size)


def plot_sweep(sw: Sweep, *, size: str = "page"):
    """The regime diagram (or bifurcation diagram) of a :func:`sweep`."""
    from dynsim.plot.seed_figures import plot_sweep as _plot

    return _plot(sw, size=size)


def plot_comparison(c: Comparison, *, size: str = "page"):
    """Training against its ODE: spectra over time (theory dashed, band over seeds) and the discrepancy."""
    from dynsim.plot.seed_figures import plot_comparison as _plot

    return _plot(c, size=size)


def plot_simulation(sim: Simulation, *, size: str = "page"):
    """The six-panel figure of a :func:`simulate` run."""
    from dynsim.plot.seed_figures import plot_simulation as _plot

    return _plot(sim, size=size)


__all__ = [
    "AbstractWrapper", "ParamSpec", "from_function", "load_model", "with_params", "PlaneAxis", "Plane", "make_plane",
    "Portrait", "portrait", "plot_portrait", "BasinFractions", "Basins", "basins", "basins_fractions", "plot_basins",
    "saddle_branches", "ModelSweep", "plot_model_sweep", "sweep_model", "claim",
    "Continuation", "continuation", "plot_continuation", "GradientFlow", "GradientTraining", "field_discrepancy", "train_gradient_flow",
    "TrainRun", "train", "Comparison", "compare", "plot_comparison",
    "HeadRun", "head_claims", "plot_prediction_head", "simulate_prediction_head",
    "Axis", "BasinMap", "basin_map", "init_collapse", "label_points", "plot_basin_map", "Range", "Sweep", "sweep", "plot_sweep",
    "FrozenX", "InfoNCE", "augmented_views", "block_augmentation", "effective_rank", "info_nce", "theorem1",
    "theorem3_balanced", "theorem3_rates", "theorem3_unbalanced", "CONTRASTIVE_MODELS", "PRESETS", "CollapseRun",
    "CollapseSweep", "collapse_sweep", "representation_ranks", "simulate_collapse", "plot_collapse",
    "BarlowTwins", "KernelBarlowTwins", "Stepwise", "closed_form_loss", "cross_covariance", "gram",
    "singular_values", "step_times", "stepwise", "synthetic_pairs", "plot_stepwise",
    "MODELS", "Simulation", "simulate", "plot_simulation", "DirectSetBYOL", "directset",
    "VARIANTS", "LinearBYOL", "SymmetrizedBYOL", "aligned_start", "check_covariance", "commutator_norm",
    "eigenpairs", "isotropic", "nuisance", "spectrum",
    "AbstractSystem", "DynsimInputError", "EigenDynamics1D", "EigenDynamics2D", "EigenDynamics3D",
    "FixedPoints", "PhasePortrait", "Solution", "Status", "Window", "basins_1d", "classify",
    "critical_eta", "enable_compilation_cache", "find_fixed_points", "grid_starts", "jacobian",
    "nearest_attractor", "nontrivial_roots", "param", "phase_portrait", "plot_phase_portrait", "solve",
]
