"""The oracle's arm values: the same numbers it acts on, every slot at its own open probability."""

from __future__ import annotations

import numpy as np
import pytest

from policies.base import DecisionContext
from policies.oracle import Oracle
from sim import MarketModel
from sim.catalogue import CHANNEL_COST, decode
from tests.conftest import small_config


@pytest.fixture
def market() -> MarketModel:
    m = MarketModel(small_config(size=400), seed=3)
    rng = np.random.default_rng(0)
    for _ in range(10):  # some history: fatigue, engagement and views differ between shoppers
        ok = m.action_mask().channel_ok
        m.step(np.where(ok[:, 0] & (rng.random(len(ok)) < 0.3), 1, 0))
    return m


def test_arm_values_at_the_active_slot_are_the_values_the_oracle_acts_on(market):
    oracle, rows = Oracle(market), np.flatnonzero(market.present)
    every_arm = oracle.arm_values(rows)
    active = market.latent().active_slot[rows]
    np.testing.assert_array_equal(every_arm[np.arange(rows.size), :, :, active], oracle.expected_incremental_profit(rows))


def test_the_send_slot_acts_through_the_open_probability_alone(market):
    """v_ohs + c_h = p_hs V_o: one open probability per channel and slot for every offer, highest in the active slot."""
    oracle, rows = Oracle(market), np.flatnonzero(market.present)
    value = oracle.offer_values(rows)[:, :, None, None]
    p_open = (oracle.arm_values(rows) + CHANNEL_COST[None, None, :, None]) / value  # (n, O, H, S), the same for every offer
    np.testing.assert_allclose(p_open, np.broadcast_to(p_open[:, :1], p_open.shape), rtol=1e-4)
    n = np.arange(rows.size)
    active = market.latent().active_slot[rows]
    at_active = p_open[n, 0, :, active]  # (n, H)
    for s in range(p_open.shape[-1]):
        other = active != s  # lower, or level where the cap of 0.95 on the base open rate binds in both slots
        assert (p_open[n[other], 0, :, s] <= at_active[other]).all() and (p_open[n[other], 0, :, s] < at_active[other]).mean() > 0.9


def test_the_oracle_sends_the_best_allowed_arm_or_nothing_when_none_pays(market):
    oracle, rows = Oracle(market), np.flatnonzero(market.present)
    mask = market.action_mask().subset(rows)
    decision = oracle.act(market.observe(rows), mask, DecisionContext(market.day, 0, np.random.default_rng(0), rows))
    eip = np.where(mask.channel_ok[:, None, :], oracle.expected_incremental_profit(rows), -np.inf)
    np.testing.assert_array_equal(oracle.scores(rows, mask.channel_ok), eip)
    best = eip.reshape(rows.size, -1).max(axis=1)
    sent = decision.actions > 0
    np.testing.assert_array_equal(sent, best > 0)
    offer, channel, slot = decode(decision.actions[sent])
    np.testing.assert_array_equal(eip[np.flatnonzero(sent), offer, channel], best[sent])
    np.testing.assert_array_equal(slot, market.latent().active_slot[rows[sent]])
    assert mask.allows(decision.actions).all() and 0 < sent.sum() < rows.size
