"""GradientFlow: models written as losses, against the hand-written fields of dynsim.

Tolerances (float64): the loss route reproduces each hand-written field to 1e-12 relative
(||f_loss - f_hand|| / ||f_loss||, on random states and random PSD covariances); a deliberate
sign or factor typo in a hand-written field shows up as a relative discrepancy above 0.1; a
solve of the flow equals a solve of the hand-written model to 1e-9; SGD approaches the flow
(full batch: first order in lr; minibatches: within 5% relative at lr = 2e-3, batch 512).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynsim
from dynsim import BarlowTwins, DynsimInputError, InfoNCE, LinearBYOL, solve
from dynsim._core.gradient_flow import GradientFlow, field_discrepancy, train_gradient_flow

EXACT = 1e-12  # relative agreement of the loss route and a correct hand-written field
TYPO = 0.1  # a wrong field differs from the flow by more than this (relative)


def psd(rng, n, scale=1.0):
    a = rng.normal(size=(n, n))
    return scale * a @ a.T / n


def states(system, rng, k=4):
    return rng.normal(size=(k, system.dim)) / 2


# ----------------------------------------------------------------------------- the losses


def byol_loss(W_p, W, W_a, X, X_aug):
    """J = 1/2 E||W_p W x_1 - SG(W_a x_2)||^2 in covariances (dropping the W_a-only constant)."""
    a = W_p @ W
    return 0.5 * jnp.trace(a @ (X + X_aug) @ a.T) - jnp.trace(a @ X @ jax.lax.stop_gradient(W_a).T)


def simsiam_loss(W_p, W, X, X_aug):
    """The same with the online network as target, W_a = SG(W)."""
    a = W_p @ W
    return 0.5 * jnp.trace(a @ (X + X_aug) @ a.T) - jnp.trace(a @ X @ jax.lax.stop_gradient(W).T)


def no_stopgrad_loss(W_p, W, X, X_aug):
    """J = 1/2 E||W_p W x_1 - W x_2||^2 in full: the target branch's own term counts."""
    a, s = W_p @ W, X + X_aug
    return 0.5 * jnp.trace(a @ s @ a.T) - jnp.trace(a @ X @ W.T) + 0.5 * jnp.trace(W @ s @ W.T)


def no_predictor_loss(W, X, X_aug):
    return 0.5 * jnp.trace(W @ (X + X_aug) @ W.T) - jnp.trace(W @ X @ jax.lax.stop_gradient(W).T)


def fixed_ratio_loss(W_p, W, X, X_aug, tau):
    a = W_p @ W
    return 0.5 * jnp.trace(a @ (X + X_aug) @ a.T) - jnp.trace(a @ X @ jax.lax.stop_gradient(tau * W).T)


def byol_flow(loss, n1, n2, X, Xa, variant, eta=0.1, alpha_p=1.7, beta=0.6, tau=0.8):
    weights = {} if variant == "no-predictor" else {"W_p": (n2, n2)}
    weights["W"] = (n2, n1)
    params = {"eta": eta}
    kw = dict(decay="eta")
    if variant != "no-predictor":
        params["alpha_p"] = alpha_p
        kw["lr"] = {"W_p": "alpha_p"}
    if variant == "byol":
        params["beta"] = beta
        kw["ema"] = {"W_a": ("W", "beta")}
    if variant == "fixed-ratio":
        params["tau"] = tau
    return GradientFlow(loss, weights, {"X": X, "X_aug": Xa}, params, **kw)


BYOL_CASES = {
    "byol": (byol_loss, dict(predictor="linear", target="ema")),
    "simsiam": (simsiam_loss, dict(predictor="linear", target="online")),
    "no-stopgrad": (no_stopgrad_loss, dict(predictor="linear", target="online", stop_gradient=False)),
    "no-predictor": (no_predictor_loss, dict(predictor="identity", target="online")),
    "fixed-ratio": (fixed_ratio_loss, dict(predictor="linear", target="fixed-ratio", tau=0.8)),
}


@pytest.mark.parametrize("variant", list(BYOL_CASES))
def test_lemma1_from_the_loss(variant):
    """Lemma 1 of [T21] (and its variants) is the flow of J with decoupled decay: to 1e-12."""
    rng = np.random.default_rng(1)
    n1, n2 = 5, 3
    X, Xa = psd(rng, n1), psd(rng, n1, 0.3)
    loss, opts = BYOL_CASES[variant]
    flow = byol_flow(loss, n1, n2, X, Xa, variant)
    hand = LinearBYOL(n1=n1, n2=n2, X=X, X_aug=Xa, eta=0.1, alpha_p=1.7, beta=0.6, **opts)
    assert flow.dim == hand.dim
    err = field_discrepancy(flow, hand, states(flow, rng))
    assert err.max() < EXACT, err


def test_decay_inside_the_loss_is_scaled_by_the_learning_rate_ratio():
    """eta/2 ||.||^2 written in the loss gives -alpha_p eta W_p, not Lemma 1's -eta W_p: the two
    agree at alpha_p = 1 only (a trap the `decay` option avoids)."""
    rng = np.random.default_rng(2)
    n1, n2 = 4, 3
    X, Xa = psd(rng, n1), psd(rng, n1, 0.3)

    def loss(W_p, W, W_a, X, X_aug, eta):
        return byol_loss(W_p, W, W_a, X, X_aug) + 0.5 * eta * (jnp.sum(W_p**2) + jnp.sum(W**2))

    for alpha_p, agrees in ((1.0, True), (3.0, False)):
        flow = GradientFlow(loss, {"W_p": (n2, n2), "W": (n2, n1)}, {"X": X, "X_aug": Xa},
                            {"eta": 1.0, "alpha_p": alpha_p, "beta": 1.0}, lr={"W_p": "alpha_p"},
                            ema={"W_a": ("W", "beta")})
        hand = LinearBYOL(n1=n1, n2=n2, X=X, X_aug=Xa, eta=1.0, alpha_p=alpha_p)
        err = field_discrepancy(flow, hand, states(flow, rng))
        err = err.max() if agrees else err.min()
        assert (err < EXACT) if agrees else (err > TYPO), (alpha_p, err)


def barlow_loss(W, Gamma):
    c = W @ Gamma @ W.T - jnp.eye(W.shape[0])
    return jnp.sum(c**2)


def barlow_sample_loss(W, x, x_aug):
    """||C - I||_F^2 with C the symmetrised cross-correlation of the fixed pairs' embeddings."""
    z1, z2 = x @ W.T, x_aug @ W.T
    c = (z1.T @ z2 + z2.T @ z1) / (2 * x.shape[0])
    return jnp.sum((c - jnp.eye(W.shape[0])) ** 2)


def test_barlow_twins_from_the_loss():
    """dW/dt = -4 (W Gamma W^T - I) W Gamma [S23], from the covariance form and from the samples."""
    rng = np.random.default_rng(3)
    d, m = 3, 6
    x, xp, _ = dynsim.synthetic_pairs(60, 0.7 ** np.arange(m), seed=1)
    gamma = dynsim.cross_covariance(x, xp)
    hand = BarlowTwins(d=d, m=m, Gamma=gamma)
    cov = GradientFlow(barlow_loss, {"W": (d, m)}, {"Gamma": gamma})
    samples = GradientFlow(barlow_sample_loss, {"W": (d, m)}, {"x": x, "x_aug": xp}, samples=("x", "x_aug"))
    ys = states(hand, rng)
    assert field_discrepancy(cov, hand, ys).max() < EXACT
    assert field_discrepancy(samples, hand, ys).max() < EXACT


def _infonce_loss(kernel, b, d0, layers):
    """The InfoNCE loss of [J22] written out here (pairwise differences, not dynsim's expansion)."""

    def loss(x, x_aug, tau, W1, W2=None):
        ws = [W1] if layers == 1 else [W1, W2]
        z, zp = x, x_aug
        for w in ws:
            z, zp = z @ w.T, zp @ w.T
        z, zp = z[:, :d0], zp[:, :d0]
        n = z.shape[0]
        z, zp = z.reshape(n // b, b, -1), zp.reshape(n // b, b, -1)

        def one(z, zp):
            if kernel == "gaussian":
                dist = jnp.sum((z[:, None, :] - z[None, :, :]) ** 2, -1)
                dist = jnp.where(jnp.eye(b, dtype=bool), jnp.sum((z - zp) ** 2, -1)[:, None], dist)
                logits = -dist / (2 * tau)
            else:
                logits = z @ zp.T / tau
            return jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.diagonal(logits))

        return jnp.mean(jax.vmap(one)(z, zp))

    return loss


def lemma1_infonce(system, y):
    """The hand-written field of [J22]: -dL/dW = P W X for the end-to-end map W (P keeps the first d0
    rows), so dW_1/dt = W_2^T P W X, dW_2/dt = P W X W_1^T."""
    ws = system.weights(y)
    w = system.chain(ws)
    p = np.zeros(w.shape[0])
    p[: system.d0 or w.shape[0]] = 1.0
    g = p[:, None] * (w @ system.effective_X(y))
    if len(ws) == 1:
        return g.ravel()
    return jnp.concatenate([(ws[1].T @ g).ravel(), (g @ ws[0].T).ravel()])


@pytest.mark.parametrize("kernel, widths, batch, d0", [("gaussian", (4, 4), None, None), ("dot", (4, 4), None, None),
                                                       ("gaussian", (4, 5, 3), 12, 2)])
def test_infonce_from_the_loss(kernel, widths, batch, d0):
    rng = np.random.default_rng(4)
    x, xp = dynsim.augmented_views(24, psd(rng, 4), 0.3 * np.eye(4), seed=2)
    hand = InfoNCE(widths=widths, x=x, x_aug=xp, tau=0.6, kernel=kernel, batch=batch, d0=d0)
    layers = len(widths) - 1
    weights = {f"W{k + 1}": (widths[k + 1], widths[k]) for k in range(layers)}
    loss = _infonce_loss(kernel, batch or 24, d0 or widths[-1], layers)
    flow = GradientFlow(loss, weights, {"x": x, "x_aug": xp}, {"tau": 0.6}, samples=("x", "x_aug"))
    ys = np.stack([hand.init(1.0, seed=s) for s in range(3)])
    assert field_discrepancy(flow, hand, ys).max() < EXACT  # the autodiff one
    assert field_discrepancy(flow, lambda t, y: lemma1_infonce(hand, y), ys).max() < EXACT  # Lemma 1's X


# ----------------------------------------------------------------------------- typos are caught


def test_a_typo_in_a_hand_written_field_is_caught():
    rng = np.random.default_rng(5)
    n1, n2 = 5, 3
    X, Xa = psd(rng, n1), psd(rng, n1, 0.3)
    flow = byol_flow(byol_loss, n1, n2, X, Xa, "byol", eta=0.5)
    hand = LinearBYOL(n1=n1, n2=n2, X=X, X_aug=Xa, eta=0.5, alpha_p=1.7, beta=0.6)

    def sign_typo(t, y):  # dW/dt = W_p^T E + eta W
        m = hand.unpack(y)
        e = m["W_a"] @ X - m["W_p"] @ m["W"] @ (X + Xa)
        return hand.pack(W_p=1.7 * e @ m["W"].T - 0.5 * m["W_p"], W=m["W_p"].T @ e + 0.5 * m["W"],
                         W_a=0.6 * (m["W"] - m["W_a"]))

    def transpose_typo(t, y):  # dW/dt = W_p E - eta W
        m = hand.unpack(y)
        e = m["W_a"] @ X - m["W_p"] @ m["W"] @ (X + Xa)
        return hand.pack(W_p=1.7 * e @ m["W"].T - 0.5 * m["W_p"], W=m["W_p"] @ e - 0.5 * m["W"],
                         W_a=0.6 * (m["W"] - m["W_a"]))

    ys = states(flow, rng)
    assert field_discrepancy(flow, hand, ys).max() < EXACT
    assert field_discrepancy(flow, sign_typo, ys).min() > TYPO
    assert field_discrepancy(flow, transpose_typo, ys).min() > TYPO

    d, m = 3, 5
    gamma = psd(rng, m)
    bt = GradientFlow(barlow_loss, {"W": (d, m)}, {"Gamma": gamma})

    def factor_typo(t, y):  # -2 for -4
        w = y.reshape(d, m)
        return (-2.0 * (w @ gamma @ w.T - jnp.eye(d)) @ w @ gamma).ravel()

    err = field_discrepancy(bt, factor_typo, states(bt, rng))
    np.testing.assert_allclose(err, 0.5, rtol=1e-12)  # exactly half the field is missing


# ----------------------------------------------------------------------------- solving


def test_solve_of_the_flow_is_the_solve_of_the_hand_written_model():
    rng = np.random.default_rng(6)
    n1, n2 = 4, 3
    X, Xa = psd(rng, n1), psd(rng, n1, 0.3)
    etas = np.array([0.0, 0.05])  # a batch of two systems, as for any model
    flow = byol_flow(byol_loss, n1, n2, X, Xa, "byol", eta=etas)
    hand = LinearBYOL(n1=n1, n2=n2, X=X, X_aug=Xa, eta=etas, alpha_p=1.7, beta=0.6)
    y0 = flow.init(seed=3)
    ts = np.linspace(0.0, 5.0, 11)
    a = solve(flow, y0, ts, rtol=1e-11, atol=1e-13)
    b = solve(hand, y0, ts, rtol=1e-11, atol=1e-13)
    assert a.complete and b.complete
    assert np.abs(np.asarray(a.ys) - np.asarray(b.ys)).max() < 1e-9 * max(1.0, np.abs(np.asarray(b.ys)).max())


def test_state_layout_and_no_recompile():
    rng = np.random.default_rng(7)
    traces = []

    def loss(W, Gamma):
        traces.append(1)
        return barlow_loss(W, Gamma)

    flow = GradientFlow(loss, {"W": (2, 3)}, {"Gamma": psd(rng, 3)}, {"eta": 0.1}, decay="eta")
    assert flow.state_names == ("W[0,0]", "W[0,1]", "W[0,2]", "W[1,0]", "W[1,1]", "W[1,2]")
    w = rng.normal(size=(2, 3))
    np.testing.assert_array_equal(flow.unpack(flow.pack({"W": w}))["W"], w)
    rhs = jax.jit(lambda f, y: f.vector_field(0.0, y))
    y = flow.pack(W=w)
    rhs(flow, y)
    other = GradientFlow(loss, {"W": (2, 3)}, {"Gamma": psd(rng, 3)}, {"eta": 0.2}, decay="eta")
    n = len(traces)
    out = rhs(other, y)  # new data and a new eta: the same program, not traced again
    assert len(traces) == n
    np.testing.assert_allclose(out, other.vector_field(0.0, y), rtol=1e-13)


# ----------------------------------------------------------------------------- training


def byol_sample_loss(W_p, W, W_a, x1, x2):
    """J = 1/2 mean_i ||W_p W x_1i - SG(W_a x_2i)||^2 over fixed pairs."""
    return 0.5 * jnp.mean(jnp.sum((x1 @ W.T @ W_p.T - jax.lax.stop_gradient(x2 @ W_a.T)) ** 2, -1))


@pytest.fixture(scope="module")
def sample_flow():
    rng = np.random.default_rng(8)
    n1, n2, n = 4, 3, 4096
    x = rng.normal(size=(n, n1)) * np.array([1.0, 0.8, 0.6, 0.4])
    x1, x2 = x + 0.5 * rng.normal(size=x.shape), x + 0.5 * rng.normal(size=x.shape)
    flow = GradientFlow(byol_sample_loss, {"W_p": (n2, n2), "W": (n2, n1)}, {"x1": x1, "x2": x2},
                        {"eta": 0.05, "alpha_p": 1.5, "beta": 1.0}, lr={"W_p": "alpha_p"},
                        ema={"W_a": ("W", "beta")}, decay="eta", samples=("x1", "x2"))
    y0 = flow.init(seed=1)
    return flow, y0


def _rel_err(run, flow, y0, batch=1):
    """Per seed, max_t max_i |y_train - y_flow| / max |y_flow| at the logged times (every seed starts
    at ``y0``; the solve is batched ``batch`` times only to share a compiled program with another test)."""
    ref = np.asarray(solve(flow, np.broadcast_to(y0, (batch, flow.dim)), run.ts, rtol=1e-10, atol=1e-12).ys)[0]
    return np.abs(run.ys - ref).max(axis=(1, 2)) / np.abs(ref).max()


def test_full_batch_gradient_descent_is_first_order_in_lr(sample_flow):
    """Full-batch GD at lr = 0.02 and 0.01 (same program: lr is traced), error at t = 0.5 and 1."""
    flow, y0 = sample_flow
    coarse = train_gradient_flow(flow, y0, lr=0.02, steps=100, log_every=25)  # t = 0, 0.5, ..., 2
    fine = train_gradient_flow(flow, y0, lr=0.01, steps=100, log_every=25)  # t = 0, 0.25, ..., 1
    ref = np.asarray(solve(flow, y0[None], coarse.ts, rtol=1e-10, atol=1e-12).ys)[0]  # as _rel_err's
    scale = np.abs(ref).max()
    e_coarse = np.abs(coarse.ys[0, 1:3] - ref[1:3]).max(-1) / scale
    e_fine = np.abs(fine.ys[0, 2::2] - ref[1:3]).max(-1) / scale
    assert np.abs(ref[-1] - ref[0]).max() / scale > 0.2  # the weights move: the tolerances below mean something
    assert e_coarse.max() < 0.005, e_coarse
    ratio = e_coarse / e_fine
    assert np.all((1.7 < ratio) & (ratio < 2.3)), ratio  # Euler's O(lr)


def test_minibatch_sgd_approaches_the_flow(sample_flow):
    flow, y0 = sample_flow
    lr, steps = 2e-3, 1000
    run = train_gradient_flow(flow, y0, lr=lr, steps=steps, batch=512, seeds=4, log_every=250)
    np.testing.assert_allclose(run.ts, lr * 250 * np.arange(5))
    assert run.ys.shape == (4, 5, flow.dim)
    err = _rel_err(run, flow, y0)
    assert err.max() < 0.01, err  # seen: 1e-3 (the flow itself moves by 0.29 on this scale)
    assert np.all(np.isfinite(run.loss[:, 1:]))


def test_training_from_minibatch_covariances():
    """A loss written in covariances trains on each minibatch's statistics, data(key, batch) ->
    {X: sym(x_1^T x_2) / B, X_aug: x_1^T x_1 / B - X}: the expected step is the flow's."""
    rng = np.random.default_rng(9)
    n1, n2 = 4, 3
    sx, sa = np.array([1.0, 0.8, 0.6, 0.4]), 0.5
    flow = byol_flow(byol_loss, n1, n2, np.diag(sx**2), sa**2 * np.eye(n1), "byol", eta=0.05)

    def sample(key, batch):
        k0, k1, k2 = jax.random.split(key, 3)
        x = jax.random.normal(k0, (batch, n1)) * sx
        x1, x2 = x + sa * jax.random.normal(k1, x.shape), x + sa * jax.random.normal(k2, x.shape)
        c12 = 0.5 * (x1.T @ x2 + x2.T @ x1) / batch
        return {"X": c12, "X_aug": x1.T @ x1 / batch - c12}

    y0 = flow.init(seed=rng.integers(100))
    run = train_gradient_flow(flow, y0, sample, lr=2e-3, steps=1000, batch=1024, seeds=2, log_every=100)
    err = _rel_err(run, flow, y0, batch=2)
    assert err.max() < 0.01, err  # seen: 1e-3 (the flow moves by 0.4)


# ----------------------------------------------------------------------------- bad input


def _good(**over):
    kw = dict(loss=barlow_loss, weights={"W": (2, 3)}, data={"Gamma": np.eye(3)})
    kw.update(over)
    return kw


@pytest.mark.parametrize("over, name", [
    (dict(loss=lambda W, Gamma: W @ Gamma), "loss"),  # not scalar
    (dict(loss=lambda W, Gamma: jnp.sum(W @ Gamma).astype(int)), "loss"),  # integer: not differentiable
    (dict(loss=lambda W, Gamma: float(jnp.sum(W))), "loss"),  # not traceable
    (dict(loss=lambda W, Gamma: jnp.log(-jnp.sum(W**2))), "loss"),  # NaN at the start
    (dict(loss=lambda W, Gamma: jnp.sum(jnp.sqrt(W**2 * 0.0))), "loss"),  # gradient NaN at the start
    (dict(loss=lambda W, Gamma, kappa: barlow_loss(W, Gamma)), "loss"),  # takes what is not given
    (dict(weights={"W": (2, 4)}), "weights"),  # the shape does not match the data
    (dict(weights={"W": (2, -1)}), "weights"),
    (dict(weights={"V": (2, 3)}), "loss"),  # the loss takes W, given V
    (dict(params={"eta": 0.1}), "params"),  # a parameter the loss does not take
    (dict(data={"Gamma": np.eye(3), "X": np.eye(3)}), "data"),
    (dict(data={"Gamma": np.full((3, 3), np.nan)}), "data"),
    (dict(params={"eta": np.inf}, decay="eta"), "eta"),
    (dict(lr={"W_p": "eta"}, params={"eta": 1.0}, decay="eta"), "lr"),
    (dict(ema={"W_a": ("V", "beta")}, params={"beta": 1.0}), "ema"),
    (dict(decay="eta"), "decay"),
    (dict(samples=("x",)), "samples"),
    (dict(start={"W": np.zeros((2, 2))}), "W"),
])
def test_bad_input_names_the_argument(over, name):
    with pytest.raises(DynsimInputError) as e:
        GradientFlow(**_good(**over))
    assert e.value.name == name, str(e.value)


def test_bad_training_input(sample_flow):
    flow, y0 = sample_flow
    for kw, name in ((dict(batch=0), "batch"), (dict(batch=10**6), "batch"), (dict(steps=0), "steps"),
                     (dict(lr=-1.0), "lr"), (dict(steps=10, log_every=3), "log_every")):
        with pytest.raises(DynsimInputError) as e:
            train_gradient_flow(flow, y0, **{"lr": 0.01, "steps": 10, **kw})
        assert e.value.name == name
    with pytest.raises(DynsimInputError) as e:
        train_gradient_flow(flow, y0[:-1], lr=0.01, steps=10)
    assert e.value.name == "y0"
    with pytest.raises(DynsimInputError) as e:
        train_gradient_flow(GradientFlow(**_good()), GradientFlow(**_good()).init(), lr=0.01, steps=10, batch=4)
    assert e.value.name == "samples"
