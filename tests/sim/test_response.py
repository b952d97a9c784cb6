"""Direction of effects in the response equations and social proof."""

from __future__ import annotations

import numpy as np
import pytest

from sim import MarketModel, response
from sim.catalogue import CATEGORY_PRICE, N_CATEGORIES, N_SLOTS
from sim.config import NetworkConfig, ResponseParams
from sim.network import exposure
from tests.conftest import small_config

P = ResponseParams()


def test_deeper_discount_raises_purchase_probability_more_for_price_sensitive_shoppers():
    covered = np.ones((2, N_CATEGORIES), dtype=bool)
    rho = np.array([0.3, 2.5], dtype=np.float32)
    shallow = response.offer_uplift(covered, np.zeros(2), np.full(2, 0.10), np.zeros(2), CATEGORY_PRICE, rho, P)
    deep = response.offer_uplift(covered, np.zeros(2), np.full(2, 0.25), np.zeros(2), CATEGORY_PRICE, rho, P)
    shared = np.full((2, N_CATEGORIES), -1.0, dtype=np.float32)
    args = (np.full(2, -5.0, dtype=np.float32), np.zeros((2, N_CATEGORIES)), np.zeros(2, dtype=np.float32), np.arange(2))
    p_shallow = response.purchase_probability(shared, *args, shallow, P)
    p_deep = response.purchase_probability(shared, *args, deep, P)
    assert (p_deep > p_shallow).all()
    gain = p_deep - p_shallow
    assert (gain[1] > gain[0]).all()


def test_fatigue_lowers_opens_and_raises_unsubscribes_and_churn():
    f = np.array([0.0, 3.0, 10.0], dtype=np.float32)
    opens = response.open_probability(np.float32(0.3), np.ones(3), np.ones(3), f, np.zeros(3), P)
    unsub = response.unsubscribe_probability(np.float32(0.01), f, np.full(3, 0.5), P)
    churn = response.churn_probability(np.full(3, 0.001), f, np.zeros(3), P)
    assert (np.diff(opens) < 0).all() and (np.diff(unsub) > 0).all() and (np.diff(churn) > 0).all()


def test_irrelevant_and_repeated_messages_tire_more_and_engagement_lifts_opens():
    rel = np.array([1.0, 0.0], dtype=np.float32)
    assert np.diff(response.message_fatigue(np.float32(1.0), rel, np.zeros(2), P))[0] > 0
    assert np.diff(response.message_fatigue(np.float32(1.0), np.ones(2), np.array([0, 1]), P))[0] > 0
    eng = response.open_probability(np.float32(0.3), np.ones(2), np.ones(2), np.zeros(2), np.array([0.0, 1.0]), P)
    assert eng[1] > eng[0]


def test_a_purchase_raises_the_interest_of_the_buyers_acquaintances():
    market = MarketModel(small_config(size=500, network=NetworkConfig(social_weight=0.5)), seed=0)
    bought = np.zeros((market.n_rows, N_CATEGORIES), dtype=bool)
    buyer = 10
    bought[buyer, 2] = True
    seen = exposure(market.influence, bought, np.array([buyer]))
    neighbours = market.influence[:, buyer].nonzero()[0]
    assert neighbours.size > 0
    assert (seen[neighbours, 2] == 1).all() and seen.sum() == neighbours.size
    buzz = seen
    susc = market.latent().social_susceptibility
    before = response.interest_logit(market.state.interest, np.zeros_like(buzz), susc, 0.5, np.zeros(N_CATEGORIES))
    after = response.interest_logit(market.state.interest, buzz, susc, 0.5, np.zeros(N_CATEGORIES))
    assert (after[neighbours, 2] > before[neighbours, 2]).all()
    others = np.setdiff1d(np.arange(market.n_rows), neighbours)
    assert np.array_equal(after[others], before[others])


def test_buzz_follows_purchases_in_the_market():
    market = MarketModel(small_config(size=800, horizon=10), seed=2)
    market.step()
    buyers = np.flatnonzero(market.outcome.bought.any(axis=1))
    assert buyers.size > 0
    reached = np.unique(market.influence[:, buyers].nonzero()[0])
    assert (market.state.buzz[reached].sum(axis=1) > 0).all()


def test_a_session_falls_in_the_active_slot_with_the_regularity_and_evenly_elsewhere():
    u = (np.arange(30_000) + 0.5) / 30_000
    for active in range(N_SLOTS):
        slots = response.session_slot(np.full(u.size, active), u, 0.6)
        share = np.bincount(slots, minlength=N_SLOTS) / u.size
        assert share[active] == pytest.approx(0.6, abs=1e-3)
        assert np.allclose(np.delete(share, active), 0.4 / (N_SLOTS - 1), atol=1e-3)
    assert np.array_equal(response.session_slot(np.zeros(3, int), np.array([0.0, 0.5, 0.99]), 1.0), [0, 0, 0])
