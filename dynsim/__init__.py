"""dynsim: numerical simulation of the learning dynamics of self-supervised learning.

JAX + diffrax, float64 by default. The public API:

- any model: subclass :class:`AbstractSystem` with :func:`param` fields, ``state_names`` and
  ``vector_field(t, y)``, or wrap a plain function with :func:`from_function`; :func:`load_model`
  reads ``FILE.py:NAME``. The generic tools take any model: :func:`portrait` (phase portrait on a
  :class:`Plane`), :func:`basins` and :func:`basins_fractions`, :func:`saddle_branches`,
  :func:`sweep_model`, :func:`find_fixed_points`, :func:`solve`; :func:`claim` registers a claim
  for ``dynsim check --model FILE.py``; :func:`explore` serves the interactive phase plane (Bokeh; in
  Jupyter it shows in the cell), :class:`Explorer` its numerics;

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

from __future__ import annotations


from dynsim._core import config as _config  # noqa: F401  (float64 on import)
from dynsim._core.config import enable_compilation_cache
from dynsim._core.errors import DynsimInputError
from dynsim._core.system import AbstractSystem, AbstractWrapper, ParamSpec, from_function, param

# Every other public name is imported on first use (PEP 562), so that `import dynsim` costs
# little above jax itself and a command imports only what it uses (optimistix for fixed points,
# optax for training, the model families it runs).
_LAZY = {
    "FixedPoints": ("dynsim.tools.fixed_points", "FixedPoints"),
    "basins_1d": ("dynsim.tools.fixed_points", "basins_1d"),
    "classify": ("dynsim.tools.fixed_points", "classify"),
    "find_fixed_points": ("dynsim.tools.fixed_points", "find_fixed_points"),
    "grid_starts": ("dynsim.tools.fixed_points", "grid_starts"),
    "jacobian": ("dynsim.tools.fixed_points", "jacobian"),
    "nearest_attractor": ("dynsim.tools.fixed_points", "nearest_attractor"),
    "EigenDynamics1D": ("dynsim.models.eigen.system", "EigenDynamics1D"),
    "EigenDynamics2D": ("dynsim.models.eigen.system", "EigenDynamics2D"),
    "EigenDynamics3D": ("dynsim.models.eigen.system", "EigenDynamics3D"),
    "critical_eta": ("dynsim.models.eigen.system", "critical_eta"),
    "nontrivial_roots": ("dynsim.models.eigen.system", "nontrivial_roots"),
    "VARIANTS": ("dynsim.models.byol.system", "VARIANTS"),
    "DirectSetBYOL": ("dynsim.models.byol.system", "DirectSetBYOL"),
    "directset": ("dynsim.models.byol.system", "directset"),
    "LinearBYOL": ("dynsim.models.byol.system", "LinearBYOL"),
    "SymmetrizedBYOL": ("dynsim.models.byol.system", "SymmetrizedBYOL"),
    "aligned_start": ("dynsim.models.byol.system", "aligned_start"),
    "check_covariance": ("dynsim.models.byol.system", "check_covariance"),
    "commutator_norm": ("dynsim.models.byol.system", "commutator_norm"),
    "eigenpairs": ("dynsim.models.byol.system", "eigenpairs"),
    "isotropic": ("dynsim.models.byol.system", "isotropic"),
    "nuisance": ("dynsim.models.byol.system", "nuisance"),
    "spectrum": ("dynsim.models.byol.system", "spectrum"),
    "PhasePortrait": ("dynsim.models.eigen.portrait", "PhasePortrait"),
    "Window": ("dynsim.models.eigen.portrait", "Window"),
    "phase_portrait": ("dynsim.models.eigen.portrait", "phase_portrait"),
    "MODELS": ("dynsim.models.byol.simulate", "MODELS"),
    "Simulation": ("dynsim.models.byol.simulate", "Simulation"),
    "simulate": ("dynsim.models.byol.simulate", "simulate"),
    "BarlowTwins": ("dynsim.models.barlow.system", "BarlowTwins"),
    "KernelBarlowTwins": ("dynsim.models.barlow.system", "KernelBarlowTwins"),
    "Stepwise": ("dynsim.models.barlow.system", "Stepwise"),
    "closed_form_loss": ("dynsim.models.barlow.system", "closed_form_loss"),
    "cross_covariance": ("dynsim.models.barlow.system", "cross_covariance"),
    "gram": ("dynsim.models.barlow.system", "gram"),
    "singular_values": ("dynsim.models.barlow.system", "singular_values"),
    "step_times": ("dynsim.models.barlow.system", "step_times"),
    "stepwise": ("dynsim.models.barlow.system", "stepwise"),
    "synthetic_pairs": ("dynsim.models.barlow.system", "synthetic_pairs"),
    "FrozenX": ("dynsim.models.infonce.system", "FrozenX"),
    "InfoNCE": ("dynsim.models.infonce.system", "InfoNCE"),
    "augmented_views": ("dynsim.models.infonce.system", "augmented_views"),
    "block_augmentation": ("dynsim.models.infonce.system", "block_augmentation"),
    "effective_rank": ("dynsim.models.infonce.system", "effective_rank"),
    "info_nce": ("dynsim.models.infonce.system", "info_nce"),
    "theorem1": ("dynsim.models.infonce.system", "theorem1"),
    "theorem3_balanced": ("dynsim.models.infonce.system", "theorem3_balanced"),
    "theorem3_rates": ("dynsim.models.infonce.system", "theorem3_rates"),
    "theorem3_unbalanced": ("dynsim.models.infonce.system", "theorem3_unbalanced"),
    "CONTRASTIVE_MODELS": ("dynsim.models.infonce.collapse", "CONTRASTIVE_MODELS"),
    "PRESETS": ("dynsim.models.infonce.collapse", "PRESETS"),
    "CollapseRun": ("dynsim.models.infonce.collapse", "CollapseRun"),
    "CollapseSweep": ("dynsim.models.infonce.collapse", "CollapseSweep"),
    "collapse_sweep": ("dynsim.models.infonce.collapse", "collapse_sweep"),
    "representation_ranks": ("dynsim.models.infonce.collapse", "representation_ranks"),
    "simulate_collapse": ("dynsim.models.infonce.collapse", "simulate_collapse"),
    "Axis": ("dynsim.models.eigen.basins", "Axis"),
    "BasinMap": ("dynsim.models.eigen.basins", "BasinMap"),
    "basin_map": ("dynsim.models.eigen.basins", "basin_map"),
    "label_points": ("dynsim.models.eigen.basins", "label_points"),
    "Range": ("dynsim.models.eigen.sweep", "Range"),
    "Sweep": ("dynsim.models.eigen.sweep", "Sweep"),
    "sweep": ("dynsim.models.eigen.sweep", "sweep"),
    "init_collapse": ("dynsim.models.byol.init_collapse", "init_collapse"),
    "TrainRun": ("dynsim.training.train", "TrainRun"),
    "train": ("dynsim.training.train", "train"),
    "Comparison": ("dynsim.training.compare", "Comparison"),
    "compare": ("dynsim.training.compare", "compare"),
    "HeadRun": ("dynsim.models.prediction_head.system", "HeadRun"),
    "head_claims": ("dynsim.models.prediction_head.system", "head_claims"),
    "plot_prediction_head": ("dynsim.models.prediction_head.system", "plot_prediction_head"),
    "simulate_prediction_head": ("dynsim.models.prediction_head.system", "simulate_prediction_head"),
    "Solution": ("dynsim._core.solve", "Solution"),
    "Status": ("dynsim._core.solve", "Status"),
    "solve": ("dynsim._core.solve", "solve"),
    "load_model": ("dynsim._core.loading", "load_model"),
    "with_params": ("dynsim._core.loading", "with_params"),
    "PlaneAxis": ("dynsim.tools.plane", "Axis"),
    "Plane": ("dynsim.tools.plane", "Plane"),
    "make_plane": ("dynsim.tools.plane", "make_plane"),
    "Portrait": ("dynsim.tools.phase_portrait", "PhasePortrait"),
    "portrait": ("dynsim.tools.phase_portrait", "phase_portrait"),
    "plot_portrait": ("dynsim.tools.phase_portrait", "plot_phase_portrait"),
    "BasinFractions": ("dynsim.tools.basins", "BasinFractions"),
    "Basins": ("dynsim.tools.basins", "BasinMap"),
    "basins": ("dynsim.tools.basins", "basin_map"),
    "basins_fractions": ("dynsim.tools.basins", "basins_fractions"),
    "plot_basins": ("dynsim.tools.basins", "plot_basin_map"),
    "saddle_branches": ("dynsim.tools.manifolds", "saddle_branches"),
    "ModelSweep": ("dynsim.tools.sweep", "ModelSweep"),
    "plot_model_sweep": ("dynsim.tools.sweep", "plot_model_sweep"),
    "sweep_model": ("dynsim.tools.sweep", "sweep_model"),
    "claim": ("dynsim.tools.claims", "claim"),
    "Explorer": ("dynsim.tools.explore", "Explorer"),
    "explore": ("dynsim.tools.explore", "explore"),  # imports bokeh on first use
    "Continuation": ("dynsim.tools.continuation", "Continuation"),
    "continuation": ("dynsim.tools.continuation", "continuation"),
    "plot_continuation": ("dynsim.tools.continuation", "plot_continuation"),
    "GradientFlow": ("dynsim._core.gradient_flow", "GradientFlow"),
    "GradientTraining": ("dynsim._core.gradient_flow", "GradientTraining"),
    "field_discrepancy": ("dynsim._core.gradient_flow", "field_discrepancy"),
    "train_gradient_flow": ("dynsim._core.gradient_flow", "train_gradient_flow"),
    "plot_phase_portrait": ("dynsim.plot.seed_figures", "plot_phase_portrait"),  # imports matplotlib on first use
    "plot_stepwise": ("dynsim.plot.seed_figures", "plot_stepwise"),
    "plot_collapse": ("dynsim.plot.seed_figures", "plot_collapse"),
    "plot_basin_map": ("dynsim.plot.seed_figures", "plot_basin_map"),
    "plot_sweep": ("dynsim.plot.seed_figures", "plot_sweep"),
    "plot_comparison": ("dynsim.plot.seed_figures", "plot_comparison"),
    "plot_simulation": ("dynsim.plot.seed_figures", "plot_simulation"),
}


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'dynsim' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"


__all__ = [
    "AbstractWrapper", "ParamSpec", "from_function", "load_model", "with_params", "PlaneAxis", "Plane", "make_plane",
    "Portrait", "portrait", "plot_portrait", "BasinFractions", "Basins", "basins", "basins_fractions", "plot_basins",
    "saddle_branches", "ModelSweep", "plot_model_sweep", "sweep_model", "claim", "Explorer", "explore",
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
