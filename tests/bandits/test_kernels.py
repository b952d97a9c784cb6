"""The compiled loops of bandits.kernels against the numpy expressions they replace: the same numbers, bit for bit."""

from __future__ import annotations

import numpy as np

from bandits.features import arm_features
from bandits.kernels import best_send, shopper_option_scores
from bandits.linear import mean_scores, variances
from bandits.linucb import LinUCB
from bandits.open_value import OpenValueThompson
from bandits.thompson import POOL, LinearThompson
from policies.base import Feedback
from sim.catalogue import CHANNEL_COST, N_CHANNELS, N_OFFERS, N_SLOTS, encode
from sim.guardrails import ActionMask
from tests.conftest import contexts


def test_per_shopper_option_scores_are_numpys_multiply_adds_exactly():
    rng = np.random.default_rng(0)
    dense, theta = rng.random((300, N_OFFERS, 4), dtype=np.float32), rng.normal(size=(300, N_OFFERS + 4)).astype(np.float32)
    expected = theta[:, :N_OFFERS] + dense[:, :, 0] * theta[:, None, N_OFFERS]
    for j in range(1, 4):
        expected += dense[:, :, j] * theta[:, None, N_OFFERS + j]
    assert np.array_equal(shopper_option_scores(dense, theta, N_OFFERS), expected)


def test_best_send_is_the_first_best_allowed_arm_of_the_full_product():
    rng = np.random.default_rng(1)
    n = 400
    value = rng.normal(0, 2, (n, N_OFFERS)).astype(np.float32)
    value[:5] = 1.0  # ties: the lowest offer wins, as argmax
    p_open = rng.random((n, N_CHANNELS, N_SLOTS), dtype=np.float32)
    ok = rng.random((n, N_CHANNELS)) < 0.5
    ok[:5] = True
    cost = (CHANNEL_COST + rng.exponential(0.3, (n, N_CHANNELS))).astype(np.float32)  # each shopper's own cost of a send
    actions, margin = best_send(value, p_open, cost, ok)
    full = p_open[:, None] * value[:, :, None, None] - cost[:, None, :, None]  # (n, O, H, S) in action order
    full = np.where(ok[:, None, :, None], full, -np.inf).reshape(n, -1)
    best = full.max(axis=1)
    assert np.array_equal(actions, np.where(best > 0, 1 + full.argmax(axis=1), 0)) and (actions == 0).any() and (actions > 0).any()
    assert np.array_equal(margin, np.where(best > 0, best, 0).astype(np.float32))
    assert (actions[:5] > 0).all() and ((actions[:5] - 1) // (N_CHANNELS * N_SLOTS) == 0).all()  # the tie went to offer 0


def learned(policy, rng):
    """``policy`` after one batch of 2,000 random decisions with noisy rewards (sends pay 2 on average) and random opens,
    so its posterior is not the prior and some arms beat no contact."""
    obs = contexts(rng, 2000)
    actions = rng.integers(0, encode(N_OFFERS - 1, N_CHANNELS - 1, N_SLOTS - 1) + 1, len(obs))
    policy.update(Feedback(np.zeros(len(obs), dtype=np.int64), obs, actions, np.ones(len(obs)), rng.normal(0, 5, len(obs)) + 2.0 * (actions > 0),
                           (actions > 0) & (rng.random(len(obs)) < 0.3)))
    return policy


def test_pooled_propensity_draws_choose_what_each_draw_chooses_on_its_own():
    """The compiled pooled loop against the learner's own per-draw choice on each of the k runs of the pool."""
    rng = np.random.default_rng(2)
    obs = contexts(rng, 500)
    mask = ActionMask(rng.random((len(obs), N_CHANNELS)) < 0.6)
    for policy in (learned(LinearThompson(scale=1.0), rng), learned(OpenValueThompson(scale=1.0), rng)):
        feats = arm_features(obs)
        p_open = policy.open_probability(feats) if isinstance(policy, OpenValueThompson) else None
        pool = policy.model.sample(POOL, 1.0, rng)
        offset = rng.integers(0, POOL, len(obs))
        pooled = policy._pool_choices(pool, offset, 5, feats, mask, p_open)
        none = feats.base @ policy.model.theta_f32[: policy.model.widths[0]]
        for j in range(5):
            draws = pool[(offset + j) % POOL]
            own = policy._choice(draws, p_open if p_open is not None else none, feats, mask)[0]
            assert np.array_equal(pooled[j], own), (policy.name, j)
        assert (pooled == 0).any() and (pooled > 0).any() and len(np.unique(pooled)) > 5


def test_linucb_takes_the_highest_bound_of_the_full_tensor_of_bounds():
    """The compiled arg max over the variance terms against the (n, O, H, S) tensor of mean + sqrt(variance)."""
    rng = np.random.default_rng(3)
    obs = contexts(rng, 400)
    mask = ActionMask(rng.random((len(obs), N_CHANNELS)) < 0.5)
    policy = learned(LinUCB(alpha=2.0, block=len(obs)), rng)  # one block and nothing in flight: the matured bound
    feats = arm_features(obs)
    actions, margin, _ = policy._upper(feats, mask)
    scale = (policy.alpha * policy.model.noise_sd) ** 2
    var_none, var_send = variances(feats, policy.model, scale)
    mean = mean_scores(policy.model.theta, feats, policy.model)
    upper = (mean.full(mask.channel_ok) + np.sqrt(var_send)).reshape(len(obs), -1)  # send arms in action order
    none = mean.none + np.sqrt(var_none)
    best = upper.max(axis=1)
    assert np.array_equal(actions, np.where(best > none, 1 + upper.argmax(axis=1), 0)) and (actions == 0).any() and (actions > 0).any()
    np.testing.assert_allclose(margin, np.where(best > none, best - none, 0), rtol=1e-5, atol=1e-5)
