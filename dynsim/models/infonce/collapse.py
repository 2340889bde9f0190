"""The InfoNCE jobs of [J22]: simulate a contrastive model and report its dimensional collapse,
sweep the augmentation strength (Fig. 3), and compare DirectCLR with projector variants.

Reported along a run (:class:`CollapseRun`): the singular values of the embedding map
``W = W_L ... W_1`` (collapsed: below ``COLLAPSE_RTOL`` of the largest), the eigenvalues of the
effective ``X`` (Lemma 1), the loss; with two layers also each layer's singular values, the drift of
the conserved ``W_1 W_1^T - W_2^T W_2``, the alignment ``|V_2^T U_1|`` and Theorem 3's residual.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dynsim.models.infonce.system import (
    InfoNCE,
    augmented_views,
    block_augmentation,
    check_sample_count,
    check_views,
    collapsed,
    effective_rank,
    theorem3_rates,
)
from dynsim._core.errors import DynsimInputError
from dynsim._core.solve import Solution, Status, check_solver_options, solve
from dynsim._core.system import check_init_scale, check_param, to_jax

CONTRASTIVE_MODELS = ("infonce", "infonce-2layer", "directclr")
COLLAPSE_RTOL = 1e-3  # a singular value below this fraction of the largest counts as collapsed
GROWN = 10.0  # Theorem 2/3 diagnostics use directions with sigma_1 sigma_2 > GROWN ||C||_2

#: Defaults per model (everything else is shared, see :func:`simulate_collapse`).
CONTRASTIVE_DEFAULTS = {
    # Strong augmentation on the last 8 of 16 coordinates (Fig. 3 of [J22], k = sigma^2 = 4).
    "infonce": dict(layers=1, data="nuisance", sigma=2.0, dim_b=None, init_scale=1.0, t1=200.0),
    # Weak isotropic augmentation, small init: the deep model collapses on its own (Theorems 2, 3).
    "infonce-2layer": dict(layers=2, data="spectrum", sigma=0.01, dim_b=None, init_scale=0.1, t1=400.0),
    # The loss on the first d0 = dim / 2 coordinates, strong augmentation as for infonce.
    "directclr": dict(layers=1, data="nuisance", sigma=2.0, dim_b=None, init_scale=1.0, t1=200.0),
}

#: The setups of the authors' toy scripts (facebookresearch/directclr, toy_task/), as gradient flows:
#: SGD at learning rate lr for 10k steps is time t1 = lr x 10^4; the flow uses fixed pairs and fixed
#: mini-batches of 128 (the scripts draw both afresh each step) and no bias.
PRESETS = {
    "jing-case1": dict(model="infonce", layers=1, kernel="dot", temperature=0.1, samples=10240, batch=128,
                       data="nuisance", sigma=1.5, dim_b=8, init="uniform", init_scale=1.0, t1=10.0,
                       about="case 1: strong augmentation (noise std 1.5 on the last 8 dims), one 16x16 layer, "
                             "lr 1e-3 x 10k steps"),
    "jing-case2": dict(model="infonce-2layer", layers=2, kernel="dot", temperature=0.1, samples=10240, batch=128,
                       data="isotropic", sigma=1e-3, dim_b=None, init="spectral", init_scale=1.0, t1=100.0,
                       about="case 2: weak augmentation (noise 1e-3), two 16x16 layers from "
                             "W = U diag(e^{-0.35 k}) V^T, lr 0.01 x 10k steps"),
}


def _data_covariances(data, dim, sigma, dim_b, decay, cov, seed):
    from dynsim.models.byol.simulate import _covariances

    x, xa, _, pb, _ = _covariances(data, dim, sigma, dim_b, decay, cov, seed)
    return x, xa, pb


def applicable(model: str, data: str | None = None, *, user_cov: bool = False, views: bool = False) -> tuple[str, ...]:
    """The keyword options of :func:`simulate_collapse` that change the run of ``model`` with ``data``
    (``None``: the model's default), the user's covariances (``user_cov``) or the user's pairs
    (``views``); any other given option is refused. ``layers`` is not DirectCLR's (its comparison
    with projectors trains one-layer encoders), ``d0`` is DirectCLR's only; ``dim_b`` applies to
    ``data = "nuisance"``, ``decay`` to ``"spectrum"``; with ``views`` nothing of the sampled data."""
    opts = ["kernel", "temperature", "batch", "d0" if model == "directclr" else "layers"]
    if views:
        return (*opts, "views")
    if user_cov:
        return (*opts, "samples", "sigma", "cov")
    data = CONTRASTIVE_DEFAULTS.get(model, {}).get("data") if data is None else data
    return (*opts, "dim", "samples", "data", "sigma", *{"nuisance": ["dim_b"], "spectrum": ["decay"]}.get(data, []))


def _check_applicable(model: str, options: dict, init: str | None, data: str | None) -> None:
    ok = applicable(model, data, user_cov=options.get("cov") is not None, views=options.get("views") is not None)
    for name in options:
        if name not in ok:
            with_ = (" with your pairs (views)" if options.get("views") is not None else " with your covariances (cov)"
                     if options.get("cov") is not None else f" with data {data!r}" if data else "")
            raise DynsimInputError(name, f"does not apply to {model}{with_} (its options: {', '.join(ok)})")
    if model == "directclr" and init not in (None, "gaussian"):
        raise DynsimInputError("init", "DirectCLR is compared with projectors trained from the same gaussian start: "
                                       "init must be gaussian")


def _check_memory(n: int, batch: int | None, name: str) -> None:
    """The flow's right-hand side holds, for every mini-batch at once, the ``b x b`` similarities of its
    embeddings and their gradients: about eight ``n x b`` float64 arrays. Refused before any work when
    they do not fit (``batch`` is named when one is given: a smaller one fits)."""
    from dynsim._core.parallel import memory_budget

    b = int(batch) if isinstance(batch, (int, np.integer)) and 1 <= batch <= n else n
    need, budget = 64.0 * n * b, memory_budget()
    if need > budget:
        raise DynsimInputError("batch" if batch else name,
                               f"n = {n} pairs in batches of {b} need about {need / 2**30:.3g} GiB for the flow's "
                               f"similarity matrices; {budget / 2**30:.3g} GiB are available: use fewer pairs or "
                               "smaller batches")


def build_contrastive(model: str, *, dim: int = 16, layers: int | None = None, samples: int = 512,
                      batch: int | None = None, kernel: str = "gaussian", temperature: float = 1.0,
                      data: str | None = None, sigma: float | None = None, dim_b: int | None = None,
                      decay: float = 0.7, cov=None, views=None, d0: int | None = None, seed: int = 0):
    """The :class:`InfoNCE` system of a named model, the resolved parameters and ``P_B`` (the
    augmented subspace, where known). ``views = (x, x')`` uses the user's pairs instead of sampling."""
    if model not in CONTRASTIVE_MODELS:
        raise DynsimInputError(None, f"unknown model {model!r}; choose one of {', '.join(CONTRASTIVE_MODELS)}")
    d = CONTRASTIVE_DEFAULTS[model]
    layers = d["layers"] if layers is None else layers
    if not isinstance(layers, (int, np.integer)) or layers < 1:
        raise DynsimInputError("layers", f"layers must be an integer >= 1 (got {layers!r})")
    if model != "directclr" and d0 is not None:
        raise DynsimInputError("d0", "d0 (the loss on the first d0 coordinates) is DirectCLR's: use model directclr")
    pb = None
    check_param("temperature", temperature, lower=0.0, lower_open=True)
    params = dict(model=model, layers=layers, kernel=kernel, temperature=temperature)
    if views is None:
        data = d["data"] if data is None else data
        sigma = d["sigma"] if sigma is None else sigma
        dim_b = d["dim_b"] if dim_b is None else dim_b
        check_param("sigma", sigma, lower=0.0)
        if cov is None and (not isinstance(dim, (int, np.integer)) or dim < 1):
            raise DynsimInputError("dim", f"dim must be an integer >= 1 (got {dim!r})")
        data_cov, aug_cov, pb = _data_covariances(data, dim, sigma, dim_b, decay, cov, seed)
        dim = data_cov.shape[0]
        check_sample_count("samples", samples, dim)
        x, xp = augmented_views(samples, data_cov, aug_cov, seed=seed)
        params.update(data="user covariances" if cov is not None else data, sigma=sigma, samples=samples)
        if data == "nuisance" and cov is None:
            params["dim_b"] = int(pb.trace())
        if data == "spectrum" and cov is None:
            params["decay"] = decay
    else:
        x, xp = check_views(*views)
        dim = x.shape[1]
        check_sample_count("views", x.shape[0], dim)
        params.update(data="user pairs", samples=x.shape[0])
    if model == "directclr" and d0 is None:
        d0 = max(dim // 2, 1)
    _check_memory(x.shape[0], batch, "views" if views is not None else "samples")
    params.update(dim=dim, batch=batch or x.shape[0], d0=d0)  # d0 None: not DirectCLR
    system = InfoNCE(widths=(dim,) * (layers + 1), x=x, x_aug=xp, tau=temperature, kernel=kernel, batch=batch, d0=d0)
    return system, params, pb


def view_source(params: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """What fresh augmentations are drawn from, for the resolved ``params`` of :func:`build_contrastive`
    on sampled data: the ``samples`` contents ``c_i`` of its fixed pairs (the same draw) and ``S`` with
    ``S S^T = X'``, so that a fresh pair is ``(c_i + S g, c_i + S g')`` with ``g, g' ~ N(0, I)``."""
    if params.get("data") in (None, "user pairs", "user covariances"):
        raise DynsimInputError("fresh", f"fresh augmentations need dynsim's sampled data (got {params.get('data')})")
    data_cov, aug_cov, _ = _data_covariances(params["data"], params["dim"], params["sigma"], params.get("dim_b"),
                                             params.get("decay", 0.7), None, seed)
    from dynsim.models.infonce.system import _content, _sqrt_psd

    return _content(params["samples"], data_cov, seed)[0], _sqrt_psd(aug_cov)


def initial_weights(system: InfoNCE, init: str, init_scale: float, seed: int):
    """``gaussian``: ``N(0, scale^2 / fan_in)``; ``uniform``: PyTorch's default for ``nn.Linear``,
    ``scale U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (variance ``scale^2 / (3 fan_in)``); ``spectral``: the
    authors' case 2, singular values ``e^{-0.35 k}``."""
    if init == "gaussian":
        return system.init(init_scale, seed)
    if init == "uniform":
        return system.init(init_scale, seed, distribution="uniform")
    if init == "spectral":
        return system.spectral_init(init_scale * np.exp(-0.35 * np.arange(min(system.widths))), seed)
    raise DynsimInputError("init", f"init must be gaussian, uniform or spectral (got {init!r})")


@dataclasses.dataclass
class CollapseRun:
    """One simulated contrastive model: its system, solution, the quantities along it, a summary."""

    model: str
    system: InfoNCE
    solution: Solution
    params: dict
    series: dict[str, np.ndarray]
    P_B: np.ndarray | None = None
    comparison: dict | None = None

    @property
    def ts(self) -> np.ndarray:
        return self.series["t"]

    def summary(self) -> dict:
        sr, sol = self.series, self.solution
        last = int(np.flatnonzero(np.isfinite(sr["t"]))[-1])
        sv0, sv1 = sr["sv"][0], sr["sv"][last]
        out = {
            "model": self.model,
            **sol.outcome(),
            "singular_values_initial": sv0,
            "singular_values_final": sv1,
            "collapsed_dims": int(collapsed(sv1, COLLAPSE_RTOL).sum()),
            "collapse_rtol": COLLAPSE_RTOL,
            "dims": int(sv1.size),
            "effective_rank_initial": float(effective_rank(sv0)),
            "effective_rank_final": float(effective_rank(sv1)),
            "loss_initial": float(sr["loss"][0]),
            "loss_final": float(sr["loss"][last]),
            # shrinking: would lose more than 1% over another run of the same length
            "shrinking_dims_final": int(np.sum(sr["log_rate"][last] * sr["t"][last] < -1e-2)),
            "X_negative_eigenvalues_final": int(np.sum(sr["X_eig"][last] < 0)),
            "X_min_eigenvalue_min": float(np.nanmin(sr["X_eig"][..., -1])),
        }
        if "in_B" in sr and out["collapsed_dims"]:
            out["collapsed_in_augmented_subspace_min"] = float(np.min(sr["in_B"][collapsed(sv1, COLLAPSE_RTOL)]))
        if "balance_drift" in sr:
            out["conserved_max_relative_drift"] = float(np.nanmax(sr["balance_drift"]))
            grown = sr["grown"]
            out["grown_dims"] = int(grown.sum())
            a = sr["alignment"]
            out["alignment_grown_min"] = grown_alignment(a, grown) if grown.any() else None
            out["alignment_distance_all"] = float(np.linalg.norm(np.abs(a) - np.eye(len(a))))
            out["theorem3_relative_residual_final"] = float(sr["theorem3_residual"][last])
        if self.comparison is not None:
            out["representation_rank"] = self.comparison
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        out = {k: np.asarray(v) for k, v in self.series.items()}
        if self.comparison is not None:
            for name, rec in self.comparison.items():
                out[f"rep_sv_{name}"] = np.asarray(rec["singular_values"])
        return out


def grown_alignment(alignment, grown) -> float:
    """The smallest cosine of the principal angles between the grown subspaces of ``U_1`` and ``V_2``
    (``alignment = V_2^T U_1``): robust to near-equal singular values, which make single singular
    vectors ill-defined."""
    return float(np.linalg.svd(np.asarray(alignment)[np.ix_(grown, grown)], compute_uv=False).min())


@eqx.filter_jit
def _along(system: InfoNCE, ys):
    """The JAX quantities of :func:`report_collapse` at every state, in one compiled program (eagerly,
    each operation of each ``vmap`` would be compiled on its own)."""
    w = jax.vmap(system.product)(ys)
    u, sv, vt = jnp.linalg.svd(w)
    f = jax.vmap(lambda y: system.vector_field(0.0, y))(ys)
    out = {"u": u, "sv": sv, "vt": vt, "X": jax.vmap(system.effective_X)(ys), "f": f,
           # d log sigma_j / dt = u_j^T (dW/dt) v_j / sigma_j, dW/dt the tangent of W along the flow
           "dw": jax.vmap(lambda y, fy: jax.jvp(system.product, (y,), (fy,))[1])(ys, f),
           "loss": jax.vmap(system.loss)(ys)}
    if system.layers == 2:
        out["c"] = jax.vmap(lambda y: system.balance(y)[0])(ys)
        out["s1"], out["s2"] = jax.vmap(system.singular_values)(ys)
    return out


def report_collapse(system: InfoNCE, sol: Solution, P_B=None) -> dict[str, np.ndarray]:
    """The quantities of the module docstring along a single trajectory ``sol``."""
    ts = np.asarray(sol.ts)
    ok = np.isfinite(ts)
    ys = to_jax(np.where(ok[:, None], np.asarray(sol.ys), np.asarray(sol.ys)[0]))
    a = {k: np.asarray(v) for k, v in _along(system, ys).items()}
    u, sv, vt, X = a["u"], a["sv"], a["vt"], a["X"]
    log_rate = np.einsum("tik,tij,tkj->tk", u, a["dw"], vt) / sv
    series = {"t": ts, "sv": sv, "log_rate": log_rate, "loss": a["loss"], "X_eig": np.linalg.eigvalsh(X)[:, ::-1]}
    if P_B is not None:
        series["in_B"] = np.linalg.norm(vt[-1] @ P_B, axis=1)  # |P_B v_j| of the final right singular vectors
    if system.layers == 2:
        c = a["c"]
        scale = max(np.linalg.norm(c[0]), 1e-300)
        series["balance_drift"] = np.linalg.norm(c - c[0], axis=(1, 2)) / scale
        s1, s2 = a["s1"], a["s2"]
        series["sv1"], series["sv2"] = s1, s2
        last = int(np.flatnonzero(ok)[-1])
        series["alignment"] = np.asarray(system.alignment(ys[last]))
        series["grown"] = s1[last] * s2[last] > GROWN * np.linalg.norm(c[0], 2)
        series["theorem3_residual"] = _theorem3_residual(system, ys, a["f"], X, np.linalg.norm(c[0], 2))
    for k, v in series.items():
        if k not in ("t", "alignment", "grown", "in_B") and v.ndim and v.shape[0] == ts.size:
            v = v.astype(float)
            v[~ok] = np.nan
            series[k] = v
    return series


def _theorem3_residual(system, ys, f, X, c_norm):
    """Per save time: ``max_k |d sigma_1^k/dt - Theorem 3| / max_k |d sigma_1^k/dt|`` over the grown
    directions, given the states ``ys`` and the vector field ``f`` there."""
    return np.asarray(_theorem3_residual_along(system, ys, to_jax(f), to_jax(X), to_jax(c_norm)))


@eqx.filter_jit
def _theorem3_residual_along(system, ys, f, X, c_norm):
    def one(y, fy, x):
        w1, w2 = system.weights(y)
        u1, s1, v1t = jnp.linalg.svd(w1)
        s2 = jnp.linalg.svd(w2, compute_uv=False)
        dw1 = system.unpack(fy)["W1"]
        actual = jnp.einsum("ik,ij,kj->k", u1, dw1, v1t)
        predicted, _ = theorem3_rates(s1, s2, v1t.T, x)
        grown = s1 * s2 > GROWN * c_norm
        err = jnp.max(jnp.where(grown, jnp.abs(actual - predicted), 0.0))
        return jnp.where(jnp.any(grown), err / jnp.max(jnp.abs(actual)), jnp.nan)

    return jax.vmap(one)(ys, f, X)


def representation_ranks(x, xp, *, d0: int, t1: float, kernel: str = "gaussian", temperature: float = 1.0,
                         init_scale: float = 1.0, seed: int = 0, rtol: float = 1e-8, atol: float = 1e-10,
                         max_steps: int = 200_000, batch: int | None = None) -> dict:
    """DirectCLR against projectors [J22, Sec. 6]: the same encoder ``r = W_1 x`` trained with no
    projector (loss on ``r``), DirectCLR (loss on ``r[:d0]``), a linear projector (``W_2 r``) and a
    two-layer linear projector (``W_3 W_2 r``), each on the same fixed mini-batches of ``batch`` pairs
    (``None``: full batch). Returns, per variant, the singular values of ``W_1`` at
    ``t1``, its effective rank and its number of collapsed directions."""
    dim = x.shape[1]
    variants = {"no projector": (1, None), "directclr": (1, d0), "linear projector": (2, None),
                "two-layer projector": (3, None)}
    out = {}
    for name, (layers, head) in variants.items():
        system = InfoNCE(widths=(dim,) * (layers + 1), x=x, x_aug=xp, tau=temperature, kernel=kernel, d0=head,
                         batch=batch)
        sol = solve(system, system.init(init_scale, seed), np.array([0.0, t1]), rtol=rtol, atol=atol,
                    max_steps=max_steps)
        s = np.linalg.svd(np.asarray(system.weights(sol.y_final)[0]), compute_uv=False)
        out[name] = {"singular_values": s, "effective_rank": float(effective_rank(s)),
                     "collapsed_dims": int(collapsed(s, COLLAPSE_RTOL).sum()),
                     "status": Status(int(np.asarray(sol.status))).label}
    return out


def simulate_collapse(model: str, *, preset: str | None = None, init: str | None = None, seed: int = 0,
                      init_scale: float | None = None, t1: float | None = None, n_save: int = 201,
                      rtol: float = 1e-8, atol: float = 1e-10, max_steps: int = 200_000,
                      progress: Callable[[str], None] | None = None, **options) -> CollapseRun:
    """Build a contrastive ``model`` (:data:`CONTRASTIVE_MODELS`, or a :data:`PRESETS` entry, whose
    values the explicit ``options`` override), integrate it to ``t1`` and report its collapse."""
    options = {k: v for k, v in options.items() if v is not None}
    data = options.get("data")
    if preset is not None and preset in PRESETS and data is None:
        data = PRESETS[preset]["data"]
    _check_applicable(model, options, init, data)
    if preset is not None:
        if preset not in PRESETS:
            raise DynsimInputError("preset", f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        p = dict(PRESETS[preset])
        if p["model"] != model:
            raise DynsimInputError("preset", f"preset {preset} is for model {p['model']} (got {model})")
        init = p["init"] if init is None else init
        t1 = p["t1"] if t1 is None else t1
        init_scale = p["init_scale"] if init_scale is None else init_scale
        options = {**{k: v for k, v in p.items() if k not in ("about", "model", "init", "t1", "init_scale")}, **options}
    d = CONTRASTIVE_DEFAULTS.get(model, {})
    init = "gaussian" if init is None else init
    init_scale = d.get("init_scale", 1.0) if init_scale is None else init_scale
    t1 = d.get("t1", 100.0) if t1 is None else t1
    system, params, pb = build_contrastive(model, seed=seed, **options)
    check_init_scale(init_scale)
    check_param("t1", t1, lower=0.0, lower_open=True)
    check_solver_options(rtol, atol, max_steps)
    if not isinstance(n_save, int) or n_save < 2:
        raise DynsimInputError("n_save", f"n_save must be an integer >= 2 (got {n_save!r})")
    y0 = initial_weights(system, init, init_scale, seed)
    if progress:
        progress(f"integrating {model} ({system.dim} weights, n = {system.n} pairs) to t = {t1:g}")
    sol = solve(system, y0, np.linspace(0.0, t1, n_save), rtol=rtol, atol=atol, max_steps=max_steps)
    series = report_collapse(system, sol, pb)
    comparison = None
    if model == "directclr":
        if progress:
            progress("training the same encoder with no projector and with linear / two-layer projectors")
        comparison = representation_ranks(np.asarray(system.x), np.asarray(system.x_aug), d0=system.d0, t1=t1,
                                          kernel=system.kernel, temperature=float(system.tau),
                                          init_scale=init_scale, seed=seed, rtol=rtol, atol=atol,
                                          max_steps=max_steps, batch=system.batch)
    params.update(preset=preset, init=init, seed=seed, init_scale=init_scale, t1=t1, n_save=n_save, rtol=rtol,
                  atol=atol, max_steps=max_steps)
    return CollapseRun(model, system, sol, params, series, pb, comparison)


# ----------------------------------------------------------------------------- Fig. 3


@dataclasses.dataclass
class CollapseSweep:
    """Fig. 3 of [J22]: the embedding spectrum after training against the augmentation strength ``k``."""

    k: np.ndarray
    singular_values: np.ndarray  # (K, d) at t1
    X_eig: np.ndarray  # (K, d) effective X at t1
    collapsed_dims: np.ndarray  # (K,)
    in_augmented_subspace_min: np.ndarray  # (K,) min |P_B v_j| over the collapsed directions (nan: none)
    status: list[str]
    params: dict

    def summary(self) -> dict:
        return {"k": self.k, "collapsed_dims": self.collapsed_dims, "X_negative_eigenvalues": np.sum(self.X_eig < 0, 1),
                "collapsed_in_augmented_subspace_min": self.in_augmented_subspace_min, "status": self.status}


def collapse_sweep(k, *, dim: int = 16, dim_aug: int = 8, samples: int = 512, t1: float = 200.0,
                   kernel: str = "gaussian", temperature: float = 1.0, init_scale: float = 1.0, seed: int = 0,
                   rtol: float = 1e-8, atol: float = 1e-10, max_steps: int = 200_000) -> CollapseSweep:
    """Fig. 3 of [J22]: one linear ``dim x dim`` layer, data covariance ``I``, augmentation covariance
    ``block_diag(0, k I_dim_aug)``; every ``k`` is one lane of a single vmapped solve (the same content
    and noise draws, scaled by ``sqrt(k)``, and the same start)."""
    k = np.atleast_1d(np.asarray(k, float))
    aug = block_augmentation(dim, dim_aug, k)
    check_sample_count("samples", samples, dim)
    pairs = [augmented_views(samples, np.eye(dim), a, seed=seed) for a in aug]
    x = np.stack([p[0] for p in pairs])
    xp = np.stack([p[1] for p in pairs])
    system = InfoNCE(widths=(dim, dim), x=x, x_aug=xp, tau=temperature, kernel=kernel)
    sol = solve(system, system.init(init_scale, seed), np.array([0.0, t1]), rtol=rtol, atol=atol,
                max_steps=max_steps)
    yf = np.asarray(sol.y_final)
    pb = np.diag(np.r_[np.zeros(dim - dim_aug), np.ones(dim_aug)])
    svs, xeig, counts, inb = [], [], [], []
    for i in range(k.size):
        one = InfoNCE(widths=(dim, dim), x=x[i], x_aug=xp[i], tau=temperature, kernel=kernel)
        w = np.asarray(one.product(yf[i]))
        _, s, vt = np.linalg.svd(w)
        c = collapsed(s, COLLAPSE_RTOL)
        svs.append(s)
        xeig.append(np.linalg.eigvalsh(np.asarray(one.effective_X(yf[i])))[::-1])
        counts.append(int(c.sum()))
        inb.append(float(np.min(np.linalg.norm(vt[c] @ pb, axis=1))) if c.any() else math.nan)
    status = [Status(int(s)).label for s in np.asarray(sol.status)]
    params = dict(dim=dim, dim_aug=dim_aug, samples=samples, t1=t1, kernel=kernel, temperature=temperature,
                  init_scale=init_scale, seed=seed, rtol=rtol, atol=atol)
    return CollapseSweep(k, np.array(svs), np.array(xeig), np.array(counts), np.array(inb), status, params)
