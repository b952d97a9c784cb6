"""The open x value learner on a synthetic problem where a message pays only when it is opened."""

from __future__ import annotations

import numpy as np
import pytest

from policies.attribution import Attribution, Decisions
from bandits.features import arm_features
from bandits.open_value import OPEN_PRIOR, OpenValueThompson, OpenValueUCB
from policies.base import DecisionContext, Feedback
from sim.catalogue import ACTION_CHANNEL, ACTION_OFFER, ACTION_SLOT, CHANNEL_COST, N_ACTIONS, N_CHANNELS, N_OFFERS, encode
from sim.features import N_FEATURES
from sim.guardrails import ActionMask
from tests.conftest import contexts

N = 400


def p_open(actions: np.ndarray) -> np.ndarray:
    """Opens depend on channel and slot only: channel 1 and slot 2 are each worth +0.3."""
    return np.where(actions > 0, 0.1 + 0.3 * (ACTION_CHANNEL[actions] == 1) + 0.3 * (ACTION_SLOT[actions] == 2), 0.0)


def opened_value(actions: np.ndarray) -> np.ndarray:
    """Only offer 4 pays once opened; every other offer loses."""
    return np.where(ACTION_OFFER[actions] == 4, 3.0, -0.5)


def cost(actions: np.ndarray) -> np.ndarray:
    """The catalogue's price of each send, which the learners take as known."""
    return np.where(actions > 0, CHANNEL_COST[np.maximum(ACTION_CHANNEL[actions], 0)], 0.0)


def expected(actions: np.ndarray) -> np.ndarray:
    return np.where(actions > 0, p_open(actions) * opened_value(actions), 0.0) - cost(actions)


def ctx(day: int, n: int = N) -> DecisionContext:
    return DecisionContext(day, day % 7, np.random.default_rng(day), np.arange(n))


LEARNERS = {"thompson": lambda: OpenValueThompson(scale=0.5, propensity_draws=5), "linucb": OpenValueUCB}


@pytest.mark.parametrize("name", list(LEARNERS))
def test_it_learns_that_the_right_offer_pays_more_in_the_slot_and_channel_that_get_opened(name):
    policy = LEARNERS[name]()
    rng = np.random.default_rng(0)
    mask = ActionMask(np.ones((N, N_CHANNELS), dtype=bool))
    everything = np.arange(N_ACTIONS)
    best_value = expected(everything).max()
    regret = []
    for day in range(40):
        obs = contexts(rng, N)
        d = policy.act(obs, mask, ctx(day))
        regret.append(float(best_value - expected(d.actions).mean()))
        opened = rng.random(N) < p_open(d.actions)
        reward = obs[:, 1] - cost(d.actions) + opened * opened_value(d.actions) + rng.normal(0, 1.0, N)
        policy.update(Feedback(np.full(N, day), obs, d.actions, d.propensity, reward, opened))
    regret = np.array(regret)
    assert regret[-5:].mean() < 0.3 * regret[:5].mean()
    final = policy.act(contexts(rng, N), mask, ctx(99))
    assert (final.actions == encode(4, 1, 2)).mean() > 0.7
    feats = arm_features(contexts(rng, 5))
    np.testing.assert_allclose(policy.open_probability(feats)[:, 1, 2], 0.7, atol=0.1)
    np.testing.assert_allclose(policy.open_probability(feats)[:, 0, 0], 0.1, atol=0.1)


def warmed(rng: np.random.Generator, obs: np.ndarray, mask: ActionMask) -> OpenValueThompson:
    policy = OpenValueThompson(propensity_draws=7)
    for day in range(3):
        d = policy.act(obs, mask, ctx(day, len(obs)))
        policy.update(Feedback(np.zeros(len(obs)), obs, d.actions, d.propensity, rng.normal(size=len(obs)), rng.random(len(obs)) < 0.3))
    return policy


def test_probabilities_sum_to_one_respect_the_mask_and_the_propensity_is_a_probability():
    rng = np.random.default_rng(1)
    obs = contexts(rng, 50)
    mask = ActionMask(rng.random((50, N_CHANNELS)) < 0.5)
    policy = warmed(rng, obs, mask)
    probs = policy.action_probabilities(obs, mask, ctx(5, 50))
    assert probs.shape == (50, N_ACTIONS)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs[~mask.dense()] == 0).all()
    d = policy.act(obs, mask, ctx(5, 50))
    assert mask.allows(d.actions).all() and ((d.propensity > 0) & (d.propensity <= 1)).all()


def test_a_saved_state_resumes_both_models_to_the_same_decisions(tmp_path):
    rng = np.random.default_rng(2)
    obs = contexts(rng, 60)
    mask = ActionMask(np.ones((60, N_CHANNELS), dtype=bool))
    policy = warmed(rng, obs, mask)
    policy.save(tmp_path / "state.npz", seed=3)
    loaded = OpenValueThompson.load_state(tmp_path / "state.npz")
    assert loaded.learned_on == (3,) and loaded.params() == policy.params()
    np.testing.assert_array_equal(loaded.open_model.A, policy.open_model.A)
    a, b = policy.act(obs, mask, ctx(9, 60)), loaded.act(obs, mask, ctx(9, 60))
    assert np.array_equal(a.actions, b.actions) and np.allclose(a.propensity, b.propensity)


def test_a_state_whose_open_model_has_another_layout_is_refused(tmp_path):
    """Both models' feature layouts are checked, not only the value model's."""
    OpenValueThompson().save(tmp_path / "state.npz")
    with np.load(tmp_path / "state.npz") as data:
        arrays = dict(data)
    arrays["open_widths"] = arrays["open_widths"] + 1
    np.savez(tmp_path / "other.npz", **arrays)
    with pytest.raises(ValueError, match="saved for feature blocks .*; retrain it"):
        OpenValueThompson.load_state(tmp_path / "other.npz")
    del arrays["open_A"]
    np.savez(tmp_path / "short.npz", **arrays)
    with pytest.raises(ValueError, match=r"lacks \['open_A'\]"):
        OpenValueThompson.load_state(tmp_path / "short.npz")


def test_the_send_cost_is_known_so_an_unopened_send_that_earned_nothing_teaches_the_value_model_nothing():
    """The value model learns the profit gross of the catalogue's channel cost: a send that nobody opened and that
    earned exactly minus its cost looks like no contact that earned 0, and leaves the model at its prior."""
    policy = OpenValueThompson()
    rng = np.random.default_rng(5)
    obs = contexts(rng, 200)
    actions = rng.integers(1, N_ACTIONS, 200)
    policy.update(Feedback(np.zeros(200), obs, actions, np.ones(200), -cost(actions), np.zeros(200, dtype=bool)))
    np.testing.assert_allclose(policy.model.theta, 0.0, atol=1e-12)
    assert policy.model.n_obs == 200


def test_a_fresh_learner_sends_on_day_one_because_the_open_model_starts_at_its_prior():
    """At an open prior of 0 every send would be rated at minus its cost: the learner would never send, so never learn."""
    rng = np.random.default_rng(6)
    feats = arm_features(contexts(rng, 300))
    for make in LEARNERS.values():
        policy = make()
        np.testing.assert_allclose(policy.open_probability(feats), OPEN_PRIOR, atol=1e-6)
        d = policy.act(contexts(rng, 300), ActionMask(np.ones((300, N_CHANNELS), dtype=bool)), ctx(0, 300))
        assert (d.actions > 0).mean() > 0.1


def test_feedback_without_opens_is_a_clear_error_and_the_delay_queue_keeps_them():
    policy = OpenValueThompson()
    obs = np.zeros((2, N_FEATURES), dtype=np.float32)
    with pytest.raises(ValueError, match="opens of its messages"):
        policy.update(Feedback(np.zeros(2), obs, np.array([5, 0]), np.ones(2), np.zeros(2)))
    queue = Attribution(window=1)
    actions, none = np.array([5, 0]), np.zeros(2, dtype=np.int8)
    queue.add(0, Decisions.executed(0, np.array([0, 1]), obs, actions, np.ones(2), actions, none, np.array([True, False])))
    queue.credit(0, np.array([2.0, 1.0]))
    feedback = queue.matured(0).feedback()
    assert list(feedback.opened) == [True, False] and list(feedback.reward) == [2.0, 1.0]
    policy.update(feedback)
    assert policy.open_model.n_obs == 1 and policy.model.n_obs == 2


@pytest.mark.parametrize(("cls", "bad"), [(OpenValueThompson, {"scale": -1.0}), (OpenValueThompson, {"propensity_draws": 1000}),
                                          (OpenValueThompson, {"ridge": 0.0}), (OpenValueUCB, {"alpha": -1.0}), (OpenValueUCB, {"ridge": 0.0}),
                                          (OpenValueUCB, {"block": 0}), (OpenValueUCB, {"block": 2.5})])
def test_bad_hyperparameters_name_the_key(cls, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        cls(**bad)


def test_offers_are_chosen_by_value_and_channel_and_slot_by_open_probability_times_value():
    """With the parameters set by hand, the choice is the arg max of -c_h + p_hs V_o over allowed arms."""
    rng = np.random.default_rng(3)
    policy = OpenValueThompson()
    obs = contexts(rng, 30)
    feats = arm_features(obs)
    policy.model.theta_f32 = rng.normal(size=policy.model.d).astype(np.float32)
    policy.open_model.theta_f32 = rng.normal(0, 0.2, policy.open_model.d).astype(np.float32)
    mask = ActionMask(rng.random((30, N_CHANNELS)) < 0.6)
    actions, _ = policy.greedy(feats, mask)
    p = policy.open_probability(feats)
    contact, offer = np.split(policy.model.theta_f32[policy.model.widths[0]:], [policy.model.widths[1]])
    value = feats.offer @ offer[N_OFFERS:] + offer[:N_OFFERS] + (feats.contact @ contact)[:, None]
    for i in range(30):
        arms = [a for a in range(1, N_ACTIONS) if mask.channel_ok[i, ACTION_CHANNEL[a]]]
        score = {a: -CHANNEL_COST[ACTION_CHANNEL[a]] + p[i, ACTION_CHANNEL[a], ACTION_SLOT[a]] * value[i, ACTION_OFFER[a]] for a in arms}
        best = max(score, key=score.get) if arms else 0
        assert actions[i] == (best if arms and score[best] > 0 else 0)


def test_the_ucb_bound_is_the_mean_increment_plus_alpha_standard_errors_of_each_arm():
    """Against the bound computed arm by arm from the send's feature vector u = p g_o in the value model and A^-1."""
    rng = np.random.default_rng(4)
    obs = contexts(rng, 80)
    mask = ActionMask(rng.random((80, N_CHANNELS)) < 0.7)
    policy = OpenValueUCB(alpha=0.7)
    for day in range(3):
        d = policy.act(obs, mask, ctx(day, 80))
        policy.update(Feedback(np.zeros(80), obs, d.actions, d.propensity, rng.normal(size=80), rng.random(80) < 0.3))
    feats = arm_features(obs)
    actions, margin, _ = policy._upper(feats, mask)
    rest = policy.model.widths[0]
    cov = policy.model.cov[rest:, rest:] * (policy.alpha * policy.model.noise_sd) ** 2
    mean = policy.incremental_scores(feats)
    p = policy.open_probability(feats)
    i = np.arange(80)
    for a in range(1, N_ACTIONS):
        o, h, s = ACTION_OFFER[a], ACTION_CHANNEL[a], ACTION_SLOT[a]
        g = np.concatenate([feats.contact, np.tile(np.eye(N_OFFERS)[o], (80, 1)), feats.offer[:, o]], axis=1)
        u = p[:, h, s, None] * g
        bound = mean[i, o, h, s] + np.sqrt(np.einsum("nd,de,ne->n", u, cov, u))
        chosen = actions == a
        np.testing.assert_allclose(margin[chosen], bound[chosen], rtol=1e-3, atol=1e-4)
        allowed = mask.channel_ok[:, h]
        assert (bound[allowed] <= np.maximum(margin[allowed], 0) + 1e-3).all()  # nothing allowed beats the chosen arm
    assert mask.allows(actions).all() and (actions > 0).any()


def in_flight(obs: np.ndarray, actions: np.ndarray, opened: np.ndarray, day: int = 0) -> Feedback:
    return Feedback(np.full(len(obs), day), obs, actions, np.ones(len(obs)), np.full(len(obs), np.nan), opened)


def test_decisions_in_flight_narrow_the_bound_of_what_they_tried_until_they_mature():
    """The bound's width counts delivered decisions before their rewards; the mean waits for the rewards."""
    rng = np.random.default_rng(5)
    obs = contexts(rng, 200)
    policy = OpenValueUCB()
    policy.update(Feedback(np.zeros(200), obs, rng.integers(0, N_ACTIONS, 200), np.ones(200), rng.normal(size=200), rng.random(200) < 0.5))
    feats = arm_features(obs)
    mean, upper = policy.incremental_scores(feats), policy.upper_values(feats)
    tried = encode(3, 0, 1)
    policy.pending(in_flight(obs, np.full(200, tried), np.ones(200, dtype=bool), day=1))
    narrower = policy.upper_values(feats)
    np.testing.assert_array_equal(policy.incremental_scores(feats), mean)
    assert (narrower[:, 3] < upper[:, 3] - 1e-3).all()
    assert np.abs(narrower - upper).mean(axis=0).argmax() == 3  # the offer tried loses the most optimism
    policy.update(Feedback(np.ones(200), obs, np.full(200, tried), np.ones(200), rng.normal(size=200), np.ones(200, dtype=bool)))
    assert policy.in_flight == {}
    np.testing.assert_array_equal(policy.design(), policy.model.A)


def test_a_batch_larger_than_a_block_does_not_give_one_offer_to_everyone():
    """Identical shoppers in one batch: the first block all gets one arm, the next block, counting it, another."""
    rng = np.random.default_rng(6)
    obs = np.repeat(contexts(rng, 1), 2 * 50, axis=0)
    mask = ActionMask(np.ones((100, N_CHANNELS), dtype=bool))
    d = OpenValueUCB(block=50).act(obs, mask, ctx(0, 100))
    alone = OpenValueUCB(block=1000).act(obs[:50], mask.subset(slice(0, 50)), ctx(0, 50))
    np.testing.assert_array_equal(d.actions[:50], alone.actions)  # the first block's bound is the plain one
    assert len(set(d.actions[:50])) == 1 and len(set(d.actions[50:])) == 1
    assert ACTION_OFFER[d.actions[50]] != ACTION_OFFER[d.actions[0]]
    np.testing.assert_array_equal(d.propensity, 1.0)


def test_decisions_in_flight_end_with_the_run_and_are_not_saved(tmp_path):
    rng = np.random.default_rng(7)
    obs = contexts(rng, 40)
    policy = OpenValueUCB(block=16)
    policy.pending(in_flight(obs, rng.integers(1, N_ACTIONS, 40), rng.random(40) < 0.5))
    assert set(policy.in_flight) == {0}
    policy.save(tmp_path / "state.npz")
    loaded = OpenValueUCB.load_state(tmp_path / "state.npz")
    assert loaded.params() == policy.params() and loaded.in_flight == {}
    np.testing.assert_array_equal(loaded.design(), policy.model.A)
    with pytest.raises(ValueError, match="opened"):
        policy.pending(Feedback(np.zeros(40), obs, np.zeros(40, dtype=np.int64), np.ones(40), np.full(40, np.nan)))
