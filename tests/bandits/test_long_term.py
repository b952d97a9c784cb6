"""A learner with a value horizon prices what a decision costs after its window; one without does not."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import contexts, small_config

from bandits.features import arm_features
from bandits.long_term import CONSENTS, LongTermValue
from experiments.runner import run_policy
from policies.base import DecisionContext, Feedback
from policies.registry import LEARNERS
from sim.catalogue import encode
from sim.config import GuardrailConfig
from sim.features import index

LINEAR = [name for name in LEARNERS if name != "vw"]
NOW = int(encode(3, 0, 1))
"""pays 2 within its window, and one shopper in five it reaches leaves the list"""
LATER = int(encode(5, 0, 1))
"""pays 1 within its window and loses nobody"""


def horizon_world(policy, days: int = 12, n: int = 600, seed: int = 0) -> None:
    """Feed ``policy`` a randomised log of no contact, NOW and LATER: every shopper earns 3 a window on their own."""
    rng = np.random.default_rng(seed)
    for day in range(days):
        obs = contexts(rng, n)
        actions = rng.choice([0, NOW, LATER], n)
        reward = 3.0 + np.where(actions == NOW, 2.0, np.where(actions == LATER, 1.0, 0.0)) + rng.normal(0, 0.5, n)
        ended = (actions == NOW) & (rng.random(n) < 0.2)
        policy.update(Feedback(np.full(n, day), obs, actions, np.full(n, 1 / 3), reward, actions > 0, after=obs, ended=ended))


def increments(policy, n: int = 400) -> tuple[float, float]:
    """The policy's mean expected increment over no contact of NOW and LATER."""
    feats = arm_features(contexts(np.random.default_rng(7), n), policy.nonlinear, policy.history)
    scores = policy.incremental_scores(feats).reshape(n, -1)
    return float(scores[:, NOW - 1].mean()), float(scores[:, LATER - 1].mean())


@pytest.mark.parametrize("name", LINEAR)
def test_a_value_horizon_prefers_the_arm_that_wins_over_the_horizon(name):
    """NOW earns 1 more than LATER within the window, but costs a fifth of a shopper worth 3 a week for months."""
    myopic, far = LEARNERS[name](), LEARNERS[name](value_horizon=365)
    for policy in (myopic, far):
        horizon_world(policy)
    now, later = increments(myopic)
    assert now > later + 0.5  # the 7-day profit: NOW pays more
    now, later = increments(far)
    assert later > now + 5.0  # the record's value: a lapse costs far more than the extra 1
    assert later > 0  # and LATER still pays over no contact


def test_the_target_charges_a_lapse_the_record_and_a_withdrawn_consent_its_worth():
    value = LongTermValue(horizon=100)
    value.weights = np.arange(value.weights.size, dtype=np.float64) / 10.0
    value.weights[1:1 + len(CONSENTS)] = [5.0, -2.0, 1.0, 0.0, 3.0]  # a negative weight is worth nothing to lose
    obs = contexts(np.random.default_rng(3), 4)
    consents = [index(c) for c in CONSENTS]
    obs[:, consents] = 1.0
    after = obs.copy()
    after[1, consents[0]] = 0.0  # lost e-mail
    after[2, consents[1]] = 0.0  # lost SMS: weight -2 -> nothing
    ended = np.array([False, False, False, True])
    reward = np.array([1.0, 2.0, 3.0, 4.0])
    y = value.target(Feedback(np.zeros(4), obs, np.zeros(4, dtype=np.int64), np.ones(4), reward, None, after=after, ended=ended))
    expected = reward - value.discount * np.array([0.0, 5.0, 0.0, value.value(obs[3:])[0]])
    assert np.allclose(y, expected)


def test_value_is_the_discounted_profit_of_a_steady_record():
    """One kind of shopper earning r a window who never leaves is worth r / (1 - gamma^W) (LSTD's fixed point)."""
    value = LongTermValue(horizon=50, ridge=1e-9)
    obs = np.repeat(contexts(np.random.default_rng(4), 1), 50, axis=0)
    feedback = Feedback(np.zeros(50), obs, np.zeros(50, dtype=np.int64), np.ones(50), np.full(50, 2.0), None, after=obs,
                        ended=np.zeros(50, dtype=bool))
    value.update(feedback)
    assert value.value(obs[:1])[0] == pytest.approx(2.0 / (1 - value.discount), rel=1e-6)


@pytest.mark.parametrize("bad", [0.5, -1, True, "90"])
def test_a_bad_value_horizon_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="value_horizon"):
        LEARNERS["linucb_additive"](value_horizon=bad)


def test_a_feedback_without_the_record_after_is_a_clear_error():
    policy = LEARNERS["thompson"](value_horizon=90)
    obs = contexts(np.random.default_rng(5), 10)
    with pytest.raises(ValueError, match="Feedback.after"):
        policy.update(Feedback(np.zeros(10), obs, np.zeros(10, dtype=np.int64), np.ones(10), np.zeros(10), np.zeros(10, dtype=bool)))


def test_the_runner_hands_the_record_each_window_left_behind():
    """``after`` is the observation the shopper had the day after the window closed, as the runner observed it then;
    ``ended`` marks exactly the shoppers who were no longer decided for."""
    seen: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    fed: list[Feedback] = []

    class Spy(LEARNERS["linucb_additive"]):
        def act(self, obs, mask, context: DecisionContext):
            seen[context.day] = (context.rows.copy(), obs.copy())
            return super().act(obs, mask, context)

        def update(self, feedback):
            fed.append(feedback)
            super().update(feedback)

    run_policy("linucb_additive", 0, small_config(size=300, horizon=20), GuardrailConfig(), factory=lambda market: Spy(value_horizon=60))
    checked = 0
    for feedback in fed:
        (day,) = np.unique(feedback.day)
        if int(day) + 7 not in seen:  # the window closed on the last day: no later decision to compare with
            continue
        rows_then, _ = seen[int(day)]
        later_rows, later_obs = seen[int(day) + 7]
        kept = np.isin(rows_then, later_rows)
        assert np.array_equal(~kept, feedback.ended)
        assert np.array_equal(feedback.after[kept], later_obs[np.searchsorted(later_rows, rows_then[kept])])
        checked += int(kept.sum())
    assert len(fed) >= 10 and checked > 1000


def test_a_saved_learner_keeps_its_value_model(tmp_path):
    policy = LEARNERS["linucb"](value_horizon=120)
    horizon_world(policy, days=3)
    policy.save(tmp_path / "state")
    loaded = type(policy).load_state(tmp_path / "state.npz")
    assert loaded.params() == policy.params() and loaded.long_term.horizon == 120
    assert np.array_equal(loaded.long_term.weights, policy.long_term.weights)
    assert np.array_equal(loaded.long_term.hazard, policy.long_term.hazard)
    assert np.allclose(increments(loaded), increments(policy))
