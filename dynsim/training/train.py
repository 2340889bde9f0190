r"""Finite-width training: real networks trained by (stochastic) gradient descent with optax on
synthetic data whose statistics are exactly the ``X``, ``X'`` (or ``Gamma``) of an ODE of dynsim.

Data: ``x ~ N(0, X)`` and two views ``x_k = x + n_k`` with ``n_k ~ N(0, X')`` (``augment='additive'``;
the nuisance model of [W21] is ``X' = sigma^2 P_B``), or ``x_k = m_k * x`` with Bernoulli masks of
keep rate ``q = 1 / (1 + sigma^2)`` rescaled by ``1 / q`` (``'masking'``: ``E[x_k | x] = x`` and
``X' = sigma^2 diag(X)``). Points are drawn fresh each step, or (``samples=n``) from a fixed set of
``n`` points drawn once (then the ODE's ``X`` is that set's covariance).

Models (one step of SGD at learning rate ``lr`` is time ``lr`` of the flow, [T21]'s mapping):

- ``byol`` / ``simsiam``: ``J = 1/2 mean ||W_p W x_1 - SG(W_a x_2)||^2`` plus weight decay; the
  predictor steps at ``alpha_p lr``, the decay ``eta`` acts on both (Lemma 1), the target is an
  EMA ``W_a <- W_a + lr beta (W - W_a)`` (momentum ``1 - lr beta``) or ``W_a = W``;
  ``predictor='mlp'`` (ReLU, ``hidden`` units) and ``relu=True`` (``z = relu(W x)``) go beyond
  the linear theory (docs/equations.md, section 2);
- ``directpred`` / ``directcopy`` / ``directset``: ``W_p`` set from the running estimate
  ``F_hat <- rho F_hat + (1 - rho) sym(mean z_1 z_2^T)`` every ``freq`` steps, by the rule of
  :class:`~dynsim.DirectSetBYOL` (the cross-correlation of the two views estimates the flow's
  ``F = W X W^T`` without bias; ``mean z_1 z_1^T`` would estimate ``W (X + X') W^T``);
- ``barlow``: ``L = ||C - I||_F^2`` with the batch's symmetrised cross-correlation ``C`` of the two
  views' embeddings ([S23]; ``Gamma = X``);
- ``infonce`` / ``infonce-2layer`` / ``directclr``: the InfoNCE loss of :class:`~dynsim.InfoNCE`
  on its fixed pairs, one of its fixed mini-batches drawn at random each step (so the expected
  step is the flow's), [J22]; or as the authors' toy scripts train, ``fresh=True`` (each step a
  mini-batch of the pairs' contents with fresh augmentation noise) and ``bias=True`` (layers with a
  trained bias, PyTorch's ``nn.Linear``). Either leaves the flow: the run's ``system`` is then the
  flow on the fixed pairs without bias, a reference the run is not the SGD of.

:func:`train` runs every step in one jitted ``lax.scan`` (logging every ``log_every`` steps on the
device), vmapped over seeds; hyperparameters are traced arrays, so new values do not recompile.
A run that diverges is
frozen at that step and reported with it (:attr:`TrainRun.diverged_step`): a non-finite loss or
weights, or ``||W||_F > DIVERGED_GROWTH max(||W(0)||_F, 1)``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from dynsim._core.errors import DynsimInputError
from dynsim._core.parallel import memory_budget
from dynsim._core.system import check_param, to_jax

MODELS = ("byol", "simsiam", "directpred", "directcopy", "directset", "barlow", "infonce", "infonce-2layer",
          "directclr")
AUGMENTS = ("additive", "masking")
PREDICTORS = ("linear", "mlp")
DIVERGED_GROWTH = 1e3  # ||W||_F beyond this times max(||W(0)||_F, 1) (or a non-finite loss): diverged


# ----------------------------------------------------------------------------- data


def _chol(c: np.ndarray) -> np.ndarray:
    """A square root ``L`` with ``L L^T = c`` for a PSD ``c`` (eigendecomposition: ``c`` may be singular)."""
    w, v = np.linalg.eigh(0.5 * (c + c.T))
    return v * np.sqrt(np.clip(w, 0.0, None))


def _is_diagonal(c: np.ndarray) -> bool:
    return bool(np.all(c == np.diag(np.diag(c))))


def _views(key, hyper, batch: int, augment: str, samples: int | None, diagonal: bool = False):
    """A batch of two views ``(x_1, x_2)``, each ``(batch, n1)``. ``diagonal``: ``X`` and ``X'`` are
    diagonal and ``Lx``, ``La`` hold the square roots of their diagonals (no matmul per sample)."""
    kx, k1, k2 = jax.random.split(key, 3)
    mul = (lambda z, m: z * m) if diagonal else (lambda z, m: z @ m.T)
    if samples is None:
        x = mul(jax.random.normal(kx, (batch, hyper["Lx"].shape[0])), hyper["Lx"])
    else:
        x = hyper["points"][jax.random.randint(kx, (batch,), 0, samples)]
    if augment == "additive":
        la = hyper["La"]
        return (x + mul(jax.random.normal(k1, x.shape), la), x + mul(jax.random.normal(k2, x.shape), la))
    q = 1.0 / (1.0 + hyper["sigma"] ** 2)
    return (x * jax.random.bernoulli(k1, q, x.shape) / q, x * jax.random.bernoulli(k2, q, x.shape) / q)


# ----------------------------------------------------------------------------- models


def _mlp(p, z):
    return jax.nn.relu(z @ p["A"].T) @ p["B"].T


class _Model:
    """One family's loss, post-step update and logged quantities. Pure functions of pytrees of
    arrays; ``cfg`` holds the static choices (shapes, kinds)."""

    def __init__(self, cfg: dict):
        self.cfg = cfg

    def grad_scale(self, hyper) -> dict:  # learning-rate multiplier per parameter
        return {}

    def decay(self) -> tuple[str, ...]:  # parameters under weight decay eta
        return ()

    def sample(self, key, hyper):
        """A batch of two views ``(x_1, x_2)``, each ``(batch, n1)``."""
        c = self.cfg
        return _views(key, hyper, c["batch"], c["augment"], c["samples"], c.get("diagonal", False))

    def post(self, params, state, views, hyper, step):
        return params, state


class _BYOL(_Model):
    """BYOL / SimSiam (Lemma 1 of [T21]), and the DirectSet rules (W_p set, not trained)."""

    def init(self, key, hyper):
        c = self.cfg
        kw, kp, ka, kb = jax.random.split(key, 4)
        s = hyper["init_scale"]
        w = s * jax.random.normal(kw, (c["n2"], c["n1"])) / math.sqrt(c["n1"])
        params = {"W": w}
        state = {}
        if c["rule"] is None:
            if c["predictor"] == "linear":
                params["W_p"] = s * jax.random.normal(kp, (c["n2"], c["n2"])) / math.sqrt(c["n2"])
            else:
                h = c["hidden"]
                params["W_p"] = {"A": jax.random.normal(ka, (h, c["n2"])) / math.sqrt(c["n2"]),
                                 "B": jax.random.normal(kb, (c["n2"], h)) / math.sqrt(h)}
        else:
            f = w @ hyper["X"] @ w.T
            state["F_hat"] = f
            state["W_p"] = c["rule"](f)
        if c["target"] == "ema":
            state["W_a"] = w
        return params, state

    def predict(self, params, state, z):
        wp = params.get("W_p", state.get("W_p"))
        if isinstance(wp, dict):
            return _mlp(wp, z)
        return z @ wp.T

    def encode(self, w, x):
        z = x @ w.T
        return jax.nn.relu(z) if self.cfg["relu"] else z

    def loss(self, params, state, views, hyper):
        x1, x2 = views
        z1 = self.encode(params["W"], x1)
        wa = state["W_a"] if self.cfg["target"] == "ema" else params["W"]
        target = jax.lax.stop_gradient(self.encode(wa, x2))
        return 0.5 * jnp.mean(jnp.sum((self.predict(params, state, z1) - target) ** 2, -1))

    def grad_scale(self, hyper):
        return {"W_p": hyper["alpha_p"]} if "W_p" in self.cfg["trained"] else {}

    def decay(self):
        return self.cfg["trained"]

    def post(self, params, state, views, hyper, step):
        state = dict(state)
        if self.cfg["target"] == "ema":
            state["W_a"] = state["W_a"] + hyper["lr"] * hyper["beta"] * (params["W"] - state["W_a"])
        if self.cfg["rule"] is not None:
            # F = W X W^T of the flow, estimated without bias by the two views' cross-correlation
            # (z_1 z_1^T would estimate W (X + X') W^T, the augmentation included).
            z1, z2 = (self.encode(params["W"], v) for v in views)
            f_batch = 0.5 * (z1.T @ z2 + z2.T @ z1) / z1.shape[0]
            state["F_hat"] = hyper["rho"] * state["F_hat"] + (1.0 - hyper["rho"]) * f_batch
            refresh = (step + 1) % self.cfg["freq"] == 0
            state["W_p"] = jnp.where(refresh, self.cfg["rule"](state["F_hat"]), state["W_p"])
        return params, state

    def observe(self, params, state, hyper):
        w = params["W"]
        f = w @ hyper["X"] @ w.T
        s, u = jnp.linalg.eigh(f)
        s, u = s[::-1], u[:, ::-1]
        out = {"s": s}
        wp = params.get("W_p", state.get("W_p"))
        if not isinstance(wp, dict):
            out["p"] = jnp.einsum("ij,ik,kj->j", u, wp, u)
            comm = f @ wp - wp @ f
            out["commutator"] = jnp.sqrt(jnp.sum(comm**2))
        if self.cfg["target"] == "ema":
            wa = state["W_a"]
            out["corr"] = jnp.sum(wa * w) / jnp.sqrt(jnp.sum(wa**2) * jnp.sum(w**2))
        return out

    def weights(self, params, state):
        return params["W"]


class _Barlow(_Model):
    """Barlow Twins [S23]: ``L = ||C - I||^2``, ``C`` the batch's symmetrised cross-correlation."""

    def init(self, key, hyper):
        c = self.cfg
        return {"W": hyper["init_scale"] * jax.random.normal(key, (c["n2"], c["n1"])) / math.sqrt(c["n1"])}, {}

    def loss(self, params, state, views, hyper):
        z1, z2 = views[0] @ params["W"].T, views[1] @ params["W"].T
        c = (z1.T @ z2 + z2.T @ z1) / (2 * z1.shape[0])
        return jnp.sum((c - jnp.eye(c.shape[0])) ** 2)

    def observe(self, params, state, hyper):
        w = params["W"]
        return {"sv": jnp.linalg.svd(w, compute_uv=False),
                "lam": jnp.linalg.eigvalsh(w @ hyper["X"] @ w.T)[::-1]}

    def weights(self, params, state):
        return params["W"]


class _InfoNCE(_Model):
    """InfoNCE on the fixed pairs ``hyper['x'], hyper['x_aug']`` of an :class:`~dynsim.InfoNCE` system
    [J22] (``cfg['system']`` gives the architecture and loss); each step one of its fixed mini-batches,
    drawn at random, so the expected step is the flow's.

    As the authors' scripts train instead (each leaves the flow): ``cfg['fresh']``, each step ``batch``
    contents drawn from the pairs' contents ``hyper['c']`` with fresh noise, ``x_k = c + S g_k``,
    ``S S^T = X'`` (drawn with replacement, where the scripts draw without: a batch of 128 of 10240
    repeats 0.8 contents on average, and drawing without replacement costs a sort of all contents per
    step, 25 times the step); ``cfg['bias']``, every layer ``h -> W_k h + b_k`` with ``b_k``
    drawn per seed as PyTorch's ``nn.Linear`` does, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, and trained."""

    def init(self, key, hyper):
        ws = [hyper["W0"][i] for i in range(hyper["W0"].shape[0])]
        if not self.cfg.get("bias"):
            return {"Ws": ws}, {}
        keys = jax.random.split(key, len(ws))
        bs = [jax.random.uniform(k, (w.shape[0],), minval=-1.0, maxval=1.0) / math.sqrt(w.shape[1])
              for k, w in zip(keys, ws)]
        return {"Ws": ws, "bs": bs}, {}

    def sample(self, key, hyper):
        b = self.cfg["batch"]
        if self.cfg.get("fresh"):
            k_idx, k_noise = jax.random.split(key)
            c = hyper["c"][jax.random.randint(k_idx, (b,), 0, hyper["c"].shape[0])]  # see the class docstring
            g = jax.random.normal(k_noise, (2, *c.shape))
            return c + g[0] @ hyper["S"].T, c + g[1] @ hyper["S"].T
        start = b * jax.random.randint(key, (), 0, hyper["x"].shape[0] // b)
        return (jax.lax.dynamic_slice_in_dim(hyper["x"], start, b),
                jax.lax.dynamic_slice_in_dim(hyper["x_aug"], start, b))

    def _forward(self, params, x):
        if "bs" not in params:
            return self.cfg["system"].forward(params["Ws"], x)
        h = x
        for w, b in zip(params["Ws"], params["bs"]):
            h = h @ w.T + b
        return h

    def loss(self, params, state, views, hyper):
        from dynsim.models.infonce.system import info_nce

        sys = self.cfg["system"]
        z, zp = (sys._head(self._forward(params, v)) for v in views)
        return info_nce(z, zp, hyper["tau"], sys.kernel)

    def observe(self, params, state, hyper):
        return {"sv": jnp.linalg.svd(self.cfg["system"].chain(params["Ws"]), compute_uv=False)}

    def weights(self, params, state):
        return jnp.concatenate([w.ravel() for w in params["Ws"]])


# ----------------------------------------------------------------------------- the run


@dataclasses.dataclass
class TrainRun:
    """A training run over ``seeds``: the logged ``series`` (``(seeds, n_log, ...)``, NaN after a
    divergence), the flow time ``t = lr x step`` of each log, the initial weights, and per seed
    the step at which the run diverged (``-1``: it did not)."""

    model: str
    params: dict
    t: np.ndarray
    series: dict[str, np.ndarray]
    diverged_step: np.ndarray
    init: dict
    system: object = None  # the matching ODE system, where there is one
    runtime_s: float = 0.0
    final: dict = dataclasses.field(default_factory=dict)  # the weights after the last step, per seed

    @property
    def complete(self) -> bool:
        return bool(np.all(self.diverged_step < 0))

    def summary(self) -> dict:
        out = {"model": self.model, "seeds": int(self.diverged_step.size), "complete": self.complete,
               "steps": int(self.params["steps"]), "t_final": float(self.t[-1])}
        if not self.complete:
            bad = np.flatnonzero(self.diverged_step >= 0)
            out["diverged"] = {f"seed {int(i)}": f"step {int(self.diverged_step[i])}" for i in bad}
        for k, v in self.series.items():
            if k != "loss" and v.ndim == 3:
                out[f"{k}_final_mean"] = np.nanmean(v[:, -1], axis=0)
        out["loss_final_mean"] = float(np.nanmean(self.series["loss"][:, -1]))
        return out


def check_memory(seeds: int, batch: int, n1: int, n2: int, n_log: int, hidden: int = 0) -> int:
    """The planned bytes of a run, or :class:`DynsimInputError` when they do not fit in memory."""
    params = n2 * n1 * 4 + n2 * n2 * 3 + 2 * n2 * hidden  # W, W_a, W_p, F_hat, grads, updates
    act = batch * (2 * n1 + 4 * n2 + hidden) * 3  # views, embeddings, their gradients
    logs = n_log * (3 * n2 + 4)
    need = 8 * seeds * (params + act + logs)
    budget = memory_budget()
    if need > budget:
        raise DynsimInputError("width", f"a run needs about {need / 2**30:.1f} GiB ({seeds} seeds, width {n2}, "
                                        f"input {n1}, batch {batch}); {budget / 2**30:.1f} GiB are available: "
                                        f"reduce --width, --batch or --seeds")
    return need


def _loop(model: _Model, hyper, keys, *, steps: int, log_every: int, optimizer: str):
    """All steps of one seed: ``lax.scan`` over logs of ``lax.scan`` over ``log_every`` steps."""
    k_init, k_data = jax.random.split(keys)
    params, state = model.init(k_init, hyper)
    lr = hyper["lr"]
    opt = optax.sgd(lr, momentum=hyper["momentum"] if optimizer == "momentum" else None)
    opt_state = opt.init(params)
    scale = model.grad_scale(hyper)
    decayed = model.decay()
    w0 = model.weights(params, state)
    limit = DIVERGED_GROWTH * jnp.maximum(jnp.sqrt(jnp.sum(w0**2)), 1.0)

    def step(carry, i):
        params, state, opt_state, bad = carry
        views = model.sample(jax.random.fold_in(k_data, i), hyper)
        loss, grads = jax.value_and_grad(model.loss)(params, state, views, hyper)
        grads = {k: jax.tree_util.tree_map(lambda g, p: scale.get(k, 1.0) * g
                                           + (hyper["eta"] * p if k in decayed else 0.0), g_k, params[k])
                 for k, g_k in grads.items()}
        updates, new_opt = opt.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        new_params, new_state = model.post(new_params, state, views, hyper, i)
        w = model.weights(new_params, new_state)
        ok = jnp.isfinite(loss) & jnp.all(jnp.isfinite(w)) & (jnp.sqrt(jnp.sum(w**2)) < limit)
        keep = (bad < 0) & ok
        pick = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), new, old)  # noqa: E731
        bad = jnp.where((bad < 0) & ~ok, i, bad)
        return (pick(new_params, params), pick(new_state, state), pick(new_opt, opt_state), bad), \
            jnp.where(keep, loss, jnp.nan)

    def block(carry, j):
        carry, losses = jax.lax.scan(step, carry, j * log_every + jnp.arange(log_every))
        obs = model.observe(carry[0], carry[1], hyper)
        nan = carry[3] >= 0
        obs = jax.tree_util.tree_map(lambda v: jnp.where(nan, jnp.nan, v), obs)
        return carry, {**obs, "loss": jnp.mean(losses)}

    carry0 = (params, state, opt_state, to_jax(-1))
    obs0 = {**model.observe(params, state, hyper), "loss": to_jax(jnp.nan)}
    carry, logs = jax.lax.scan(block, carry0, jnp.arange(steps // log_every))
    logs = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), obs0, logs)
    return logs, carry[3], (params, state), carry[0]


_RUNNERS: dict = {}


def _runner(model: _Model, steps: int, log_every: int, optimizer: str, key: tuple):
    """One jitted, seed-vmapped program per static configuration ``key`` (cached)."""
    key = (steps, log_every, optimizer, *key)
    if key not in _RUNNERS:

        @jax.jit
        def run(hyper, keys):
            return jax.vmap(lambda k: _loop(model, hyper, k, steps=steps, log_every=log_every,
                                            optimizer=optimizer))(keys)

        _RUNNERS[key] = run
    return _RUNNERS[key]


def _check(model, steps, log_every, batch, seeds, lr, width, n1):
    if model not in MODELS:
        raise DynsimInputError("model", f"unknown model {model!r}: one of {', '.join(MODELS)}")
    for name, v in (("steps", steps), ("log_every", log_every), ("batch", batch), ("seeds", seeds),
                    ("width", width), ("n1", n1)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise DynsimInputError(name.replace("_", "-"), f"{name} must be a positive integer (got {v!r})")
    if steps % log_every:
        raise DynsimInputError("log-every", f"log_every ({log_every}) must divide steps ({steps})")
    check_param("lr", lr, lower=0.0, lower_open=True)


def train(model: str, *, width: int = 16, n1: int | None = None, batch: int = 256, lr: float = 0.01,
          steps: int = 2000, log_every: int = 20, seeds: int = 4, seed: int = 0, data: str | None = None,
          sigma: float | None = None, eta: float | None = None, alpha_p: float = 1.0, beta: float | None = None,
          init_scale: float | None = None, augment: str = "additive", samples: int | None = None,
          predictor: str = "linear", relu: bool = False, hidden: int = 64, rho: float = 0.0, freq: int = 1,
          eps: float = 0.0, alpha: float = 1.0, momentum: float = 0.0, preset: str | None = None,
          bias: bool = False, fresh: bool = False, progress: Callable[[str], None] | None = None) -> TrainRun:
    """Train ``model`` (see the module docstring) for ``steps`` SGD steps at learning rate ``lr``
    over ``seeds`` seeds (vmapped), logging every ``log_every`` steps; returns a :class:`TrainRun`
    with the matching ODE system in ``run.system`` (``None`` where the run leaves the theory:
    MLP predictor, ReLU, masking)."""
    import time

    from dynsim.models.byol.simulate import FAMILY_DEFAULTS, build, family

    n1 = width if n1 is None else n1
    _check(model, steps, log_every, batch, seeds, lr, width, n1)
    if augment not in AUGMENTS:
        raise DynsimInputError("augment", f"augment must be one of {', '.join(AUGMENTS)} (got {augment!r})")
    if predictor not in PREDICTORS:
        raise DynsimInputError("predictor", f"predictor must be one of {', '.join(PREDICTORS)} (got {predictor!r})")
    if momentum and not 0 <= momentum < 1:
        raise DynsimInputError("momentum", f"momentum must be in [0, 1) (got {momentum})")
    check_param("alpha_p", alpha_p, lower=0.0, lower_open=True)
    start = time.perf_counter()
    params = dict(model=model, width=width, n1=n1, batch=batch, lr=lr, steps=steps, log_every=log_every,
                  seeds=seeds, seed=seed, augment=augment, samples=samples, momentum=momentum)
    contrastive = model.startswith("infonce") or model == "directclr"
    if contrastive or model == "barlow":  # no weight decay, no EMA target in these losses
        for name, value in (("eta", eta), ("beta", beta)):
            if value is not None:
                raise DynsimInputError(name, f"does not apply to {model} (its loss has no "
                                             f"{'weight decay' if name == 'eta' else 'EMA target'})")
    if contrastive and preset is not None and sigma is not None:
        raise DynsimInputError("sigma", f"does not apply with preset {preset}: the preset fixes the augmentation "
                                        "noise of the authors' script (drop --preset to choose sigma)")
    if contrastive:
        return _train_infonce(model, params, preset=preset, sigma=sigma, init_scale=init_scale, bias=bool(bias),
                              fresh=bool(fresh), progress=progress, start=start)
    for name, value in (("bias", bias), ("fresh", fresh)):
        if value:
            raise DynsimInputError(name, "is for the InfoNCE models (as the authors' toy scripts train)")
    if preset is not None:
        raise DynsimInputError("preset", "presets are for the InfoNCE models")
    if samples is not None and (not isinstance(samples, (int, np.integer)) or samples < 2):
        raise DynsimInputError("samples", f"samples must be an integer >= 2 (got {samples!r})")
    n_log = steps // log_every + 1
    check_memory(seeds, batch, n1, width, n_log, hidden if predictor == "mlp" else 0)
    rng = np.random.default_rng(seed)
    hyper = {"lr": lr, "eta": 0.0, "alpha_p": alpha_p, "beta": 0.0, "rho": rho, "momentum": momentum,
             "init_scale": 1.0 if init_scale is None else init_scale}
    rule_kw: dict = {}
    if model == "barlow":
        from dynsim.models.barlow.system import default_spectrum

        sigma = 0.5 if sigma is None else sigma
        gamma = default_spectrum(n1)
        u = np.linalg.qr(rng.normal(size=(n1, n1)))[0]
        X, X_aug = (u * gamma) @ u.T, sigma**2 * np.eye(n1)
        hyper["init_scale"] = 1e-3 if init_scale is None else init_scale
        net = _Barlow({"n1": n1, "n2": width, "batch": batch, "augment": augment, "samples": samples})
        from dynsim.models.barlow.system import BarlowTwins

        system = BarlowTwins(d=width, m=n1, Gamma=X)
        params.update(sigma=sigma, gamma=gamma, init_scale=hyper["init_scale"])
    else:
        d = FAMILY_DEFAULTS[family(model)]
        eta = d["eta"] if eta is None else eta
        beta = d["beta"] if beta is None else beta
        if model in ("directpred", "directcopy", "directset"):
            rule_kw = dict(eps=eps, rho=rho, lr=lr, freq=freq, alpha=alpha)
            if model != "directset":
                rule_kw.pop("alpha")
        system, resolved, _, _ = build(model, n1=n1, n2=width, data=data, sigma=sigma, eta=eta, beta=beta,
                                       alpha_p=alpha_p, strict=False, **rule_kw)
        X, X_aug = np.asarray(system.X), np.asarray(system.X_aug)
        params.update({k: v for k, v in resolved.items() if k not in ("model", "n1", "n2")})
        hyper.update(eta=eta, beta=beta)
        rule = system.predictor_from if model in ("directpred", "directcopy", "directset") else None
        target = "ema" if model == "byol" or (rule is not None and system.target == "ema") else "online"
        trained = ("W",) if rule is not None else ("W", "W_p")
        net = _BYOL({"n1": n1, "n2": width, "rule": rule, "freq": freq, "predictor": predictor, "relu": relu,
                     "hidden": hidden, "target": target, "trained": trained, "batch": batch, "augment": augment,
                     "samples": samples})
        if predictor != "linear" or relu or augment != "additive":
            system = None
        params.update(predictor=predictor, relu=relu, init_scale=hyper["init_scale"])
    if samples is not None:
        points = rng.normal(size=(samples, n1)) @ _chol(X).T
        hyper["points"] = points
        X = points.T @ points / samples  # the fixed set's second moment is the ODE's X
        if system is not None:
            system = _with_X(system, X)
    diagonal = _is_diagonal(X) and _is_diagonal(X_aug)
    net.cfg["diagonal"] = diagonal
    if diagonal:  # the default isotropic and nuisance data: scale, do not multiply (1.3x at width 1024)
        lx, la = np.sqrt(np.clip(np.diag(X), 0, None)), np.sqrt(np.clip(np.diag(X_aug), 0, None))
    else:
        lx, la = _chol(X), _chol(X_aug)
    hyper.update(X=X, Lx=lx, La=la, sigma=float(params.get("sigma") or 0.0))
    hyper = jax.tree_util.tree_map(lambda v: jnp.asarray(v, float), hyper)
    keys = jax.random.split(jax.random.key(seed), seeds)
    run = _runner(net, steps, log_every, "momentum" if momentum else "sgd",
                  (model, batch, augment, samples, diagonal, width, n1, predictor, relu, hidden, freq,
                   None if rule_kw.get("alpha") is None else float(alpha), float(eps) if rule_kw else None,
                   getattr(system, "normalisation", None)))
    if progress is not None:
        progress(f"training {model}: {seeds} seeds x {steps} steps (width {width}, batch {batch}, lr {lr:g})")
    logs, bad, (p0, s0), final = run(hyper, keys)
    logs = {k: np.asarray(v) for k, v in logs.items()}
    t = lr * log_every * np.arange(n_log)
    init = {k: np.asarray(v) for k, v in {**s0, **p0}.items() if not isinstance(v, dict)}
    final = {k: np.asarray(v) for k, v in final.items() if not isinstance(v, dict)}
    return TrainRun(model, params, t, logs, np.asarray(bad), init, system, time.perf_counter() - start, final)


def _with_X(system, X):
    """The same ODE on the data covariance ``X`` of a fixed set (off the isotropic fast path)."""
    if hasattr(system, "Gamma"):
        return dataclasses.replace(system, Gamma=to_jax(X))
    return dataclasses.replace(system, X=to_jax(X), isotropic=False)


def _train_infonce(model, params, *, preset, sigma, init_scale, bias, fresh, progress, start):
    """InfoNCE models on the fixed pairs of :func:`~dynsim.models.infonce.collapse.build_contrastive`; every seed starts
    from the same weights (the flow's) and differs in the order of its mini-batches (and, with ``bias``, in
    its initial biases; with ``fresh``, in its augmentations: see :class:`_InfoNCE`)."""
    import time

    from dynsim.models.infonce.collapse import PRESETS, build_contrastive, initial_weights, view_source

    opts, init = {}, "gaussian"
    if preset is not None:
        if preset not in PRESETS:
            raise DynsimInputError("preset", f"unknown preset {preset!r}: one of {', '.join(PRESETS)}")
        p = {k: v for k, v in PRESETS[preset].items() if k not in ("t1", "about")}
        init = p.pop("init")
        preset_scale = p.pop("init_scale")
        init_scale = preset_scale if init_scale is None else init_scale
        if p.pop("model") != model:
            raise DynsimInputError("preset", f"preset {preset} is for model {PRESETS[preset]['model']}")
        opts.update(p)
    else:
        opts.update(dim=params["n1"], batch=params["batch"], samples=max(params["batch"], 512))
        if sigma is not None:
            opts["sigma"] = sigma
    system, resolved, _ = build_contrastive(model, seed=params["seed"], **opts)
    y0 = initial_weights(system, init, 1.0 if init_scale is None else init_scale, params["seed"])
    ws0 = system.weights(y0)
    if len({np.shape(w) for w in ws0}) != 1:
        raise DynsimInputError("width", "training InfoNCE needs square layers of one width")
    b = system.batch or system.n
    seeds, steps, log_every = params["seeds"], params["steps"], params["log_every"]
    n_log = steps // log_every + 1
    check_memory(seeds, b, system.widths[0], system.widths[-1], n_log)
    hyper = {"lr": params["lr"], "eta": 0.0, "momentum": params["momentum"], "tau": system.tau,
             "x": system.x, "x_aug": system.x_aug, "W0": np.stack([np.asarray(w) for w in ws0])}
    if fresh:
        hyper["c"], hyper["S"] = view_source(resolved, params["seed"])
    hyper = jax.tree_util.tree_map(lambda v: jnp.asarray(v, float), hyper)
    net = _InfoNCE({"system": system, "batch": b, "bias": bias, "fresh": fresh})
    run = _runner(net, steps, log_every, "momentum" if params["momentum"] else "sgd",
                  (model, b, system.n, system.widths, system.kernel, system.d0, bias, fresh))
    if progress is not None:
        progress(f"training {model}: {seeds} seeds x {steps} steps (lr {params['lr']:g}, batch {b})")
    logs, bad, _, final = run(hyper, jax.random.split(jax.random.key(params["seed"]), seeds))
    logs = {k: np.asarray(v) for k, v in logs.items()}
    params.update({k: v for k, v in resolved.items() if k != "model"}, preset=preset, init=init, bias=bias,
                  fresh=fresh)
    t = params["lr"] * log_every * np.arange(n_log)
    out = {"W": np.asarray(system.chain(final["Ws"]))}  # per seed
    if bias:
        out.update({f"b{k + 1}": np.asarray(v) for k, v in enumerate(final["bs"])})
    return TrainRun(model, params, t, logs, np.asarray(bad), {"y0": np.asarray(y0)}, system,
                    time.perf_counter() - start, out)
