"""A candidate's probabilities on logged decisions: the mask a log implies, each kind of policy, refusals, the market's coding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from policies.base import Decision, DecisionContext, Policy, deterministic
from policies.baselines import Blast, RandomPolicy
from policies.decision_log import logged_mask
from policies.ope.candidate import MARKET_CODING, WEEKDAY_COLUMNS, CandidateError, candidate_inputs, distribution, weekdays
from policies.registry import make_policy
from sim import MarketModel
from sim.catalogue import N_ACTIONS, decode
from sim.config import GuardrailConfig
from sim.features import FEATURE_NAMES
from tests.conftest import random_allowed_actions, small_config


def frame(obs: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(obs, columns=list(FEATURE_NAMES))


def test_the_mask_read_from_a_logged_observation_is_the_mask_the_policy_was_given():
    market = MarketModel(small_config(size=300), GuardrailConfig(frequency_cap_7d=2), seed=4)
    rng = np.random.default_rng(0)
    for _ in range(12):  # sends fill the contact log, so the cap binds for some shoppers
        rows = np.flatnonzero(market.present)
        mask = market.action_mask().subset(rows)
        from_log = logged_mask(frame(market.observe(rows)), frequency_cap_7d=2)
        np.testing.assert_array_equal(from_log.channel_ok, mask.channel_ok)
        proposed = np.zeros(market.n_rows, dtype=np.int64)
        proposed[rows] = random_allowed_actions(mask, rng, share=0.6)
        market.step(proposed)
    assert (~mask.channel_ok.any(axis=1)).any() and mask.channel_ok.any()  # both kinds of shopper were met


@pytest.fixture
def batch():
    market = MarketModel(small_config(size=300), seed=1)
    rows = np.flatnonzero(market.present)
    obs = market.observe(rows)
    return obs, market.action_mask().subset(rows), DecisionContext(0, int(weekdays(obs)[0]), np.random.default_rng(0), rows)


def test_a_deterministic_policy_puts_all_its_mass_on_the_action_it_takes(batch):
    obs, mask, ctx = batch
    blast = Blast(weekday=["mon", "tue", "wed", "thu", "fri", "sat", "sun"][ctx.weekday])  # today is its day: it sends
    probs = distribution(blast, obs, mask, ctx)
    actions = blast.act(obs, mask, ctx).actions
    assert (actions > 0).any()
    np.testing.assert_array_equal(probs, np.eye(N_ACTIONS)[actions])


def test_a_policy_that_acts_on_its_most_probable_action_is_evaluated_as_it_acts(batch):
    """PPO acting deterministically (its default) still has probabilities() of the distribution it would draw from."""
    obs, mask, ctx = batch

    class MostProbable(RandomPolicy):
        deterministic = True

        def act(self, obs, mask, context):
            return deterministic(np.where(mask.channel_ok[:, 0], 1, 0))

    probs = distribution(MostProbable(), obs, mask, ctx)
    np.testing.assert_array_equal(probs, np.eye(N_ACTIONS)[np.where(mask.channel_ok[:, 0], 1, 0)])


def test_random_gives_the_probability_it_logs_to_every_allowed_action(batch):
    obs, mask, ctx = batch
    probs = distribution(RandomPolicy(), obs, mask, ctx)
    decision = RandomPolicy().act(obs, mask, ctx)
    np.testing.assert_allclose(probs[np.arange(len(obs)), decision.actions], decision.propensity, rtol=1e-12)
    np.testing.assert_array_equal(probs > 0, mask.dense())


def test_a_learner_answers_through_its_action_probabilities(batch):
    obs, mask, ctx = batch
    probs = distribution(make_policy("epsilon_greedy", None), obs, mask, ctx)
    assert (probs[~mask.dense()] == 0).all() and np.allclose(probs.sum(axis=1), 1)


class Coin(Policy):
    """Sends the first allowed e-mail with probability 1/2 and cannot say so: a randomised policy without probabilities."""

    name = "coin"

    def act(self, obs, mask, context) -> Decision:
        return Decision(np.zeros(len(obs), dtype=np.int64), np.full(len(obs), 0.5))


class Rogue(Policy):
    """Claims probabilities that send on every channel, whatever the mask says."""

    name = "rogue"

    def act(self, obs, mask, context) -> Decision:
        return Decision(np.zeros(len(obs), dtype=np.int64), np.ones(len(obs)))

    def probabilities(self, obs, mask) -> np.ndarray:
        return np.full((len(obs), N_ACTIONS), 1.0 / N_ACTIONS)


def test_a_policy_whose_probabilities_are_unknown_or_wrong_is_refused(batch):
    obs, mask, ctx = batch
    with pytest.raises(CandidateError, match="'coin': randomised .* has no probabilities"):
        distribution(Coin(), obs, mask, ctx)
    with pytest.raises(CandidateError, match="'rogue': puts probability on actions its guardrail mask forbids"):
        distribution(Rogue(), obs, mask, ctx)


def test_candidate_inputs_give_the_logged_action_probability_and_the_expected_coding(batch):
    """Two logged days (the second a day later in the week), replayed in batches of 50 rows."""
    obs, mask, _ = batch
    n = len(obs)
    day = np.repeat([0, 1], [n // 2, n - n // 2])
    obs = obs.copy()
    obs[n // 2:, WEEKDAY_COLUMNS] = np.roll(obs[n // 2:, WEEKDAY_COLUMNS], 1, axis=1)
    p, phi = candidate_inputs(RandomPolicy(), obs, mask, day, np.zeros(n, dtype=np.int64), np.arange(n), seed=0, batch=50)
    dense = mask.dense()
    np.testing.assert_allclose(p, 1 / dense.sum(axis=1))
    np.testing.assert_allclose(phi, (dense / dense.sum(axis=1, keepdims=True)) @ MARKET_CODING.table)


def test_the_market_coding_names_the_send_channel_offer_and_slot_of_each_action():
    table = MARKET_CODING.table
    assert table[0].tolist() == [1.0] + [0.0] * (table.shape[1] - 1)  # no contact: the constant alone
    offer, channel, slot = decode(np.arange(1, N_ACTIONS))
    k = MARKET_CODING.interacting.shape[1]
    assert (table[1:, 1] == 1).all() and (table[1:, 2:k].argmax(axis=1) == channel).all()
    assert (table[1:, k:].sum(axis=1) == 2).all() and (table[1:, k:k + offer.max() + 1].argmax(axis=1) == offer).all()
    assert (table[1:, k + offer.max() + 1:].argmax(axis=1) == slot).all()
