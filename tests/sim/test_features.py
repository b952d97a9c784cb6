"""The observation is what a CRM may know: named features, bounds, and the data-consent mask."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim import MarketModel
from sim.catalogue import SLOTS
from sim.config import PopulationConfig, ResponseParams
from sim.features import FEATURE_HIGH, FEATURE_LOW, FEATURE_NAMES, N_FEATURES, PERSONAL, index
from tests.conftest import random_allowed_actions, small_config


def test_every_feature_has_a_unique_name_and_bounds():
    assert len(set(FEATURE_NAMES)) == N_FEATURES
    assert (FEATURE_LOW < FEATURE_HIGH).all()
    assert {"recency", "frequency", "monetary", "contacts_7d", "contacts_30d", "days_since_contact", "weekday_mon"} <= set(FEATURE_NAMES)
    with pytest.raises(KeyError, match="feature 'income' is unknown"):
        index("income")


def test_observations_stay_in_bounds_over_a_busy_month(small_market_config):
    market = MarketModel(small_market_config, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(30):
        x = market.observe()
        assert x.dtype == np.float32 and x.shape == (market.n_rows, N_FEATURES)
        assert (x >= FEATURE_LOW).all() and (x <= FEATURE_HIGH).all()
        market.step(random_allowed_actions(market.action_mask(), rng, share=0.5))


def test_without_data_consent_personal_features_are_hidden_and_flagged():
    cfg = dataclasses.replace(small_config(size=600, horizon=20), population=PopulationConfig(size=600, data_consent=0.5))
    market = MarketModel(cfg, seed=4)
    rng = np.random.default_rng(2)
    for _ in range(20):
        market.step(random_allowed_actions(market.action_mask(), rng, share=0.5))
    x = market.observe()
    private = ~market.profile.data_consent & market.present
    assert private.sum() > 100
    assert (x[private][:, PERSONAL] == 0).all()
    assert (x[private, index("personal_data")] == 0).all()
    assert (x[market.profile.data_consent & market.present, index("personal_data")] == 1).all()
    # The shoppers' histories differ, yet nothing personal reaches a policy:
    assert len(np.unique(market.state.spend[private])) > 50
    assert len(np.unique(x[private][:, PERSONAL], axis=0)) == 1


def test_no_latent_trait_is_readable_from_the_observation(small_market_config):
    """Changing a shopper's latent traits does not change today's observation."""
    market = MarketModel(small_market_config, seed=1)
    before = market.observe()
    tr = market.latent()
    tr.price_sensitivity[:] *= 3
    tr.interest_mean[:] += 1
    tr.churn_hazard[:] *= 2
    tr.channel_affinity[:] *= 0.5
    market.state.interest[:] += 2
    assert np.array_equal(before, market.observe())


@pytest.mark.parametrize("regularity", [1.0, 0.7, 1 / 3])
def test_site_sessions_are_logged_in_the_active_slot_as_often_as_the_market_says(regularity):
    """The session log is the CRM's only trace of the active hours: at 1/3 it says nothing about them."""
    cfg = small_config(size=2000, horizon=30, response=ResponseParams(session_regularity=regularity))
    market = MarketModel(cfg, seed=3)
    rng = np.random.default_rng(0)
    for _ in range(30):
        market.step(random_allowed_actions(market.action_mask(), rng, share=0.2))
    sessions = market.state.sessions
    active = market.latent().active_slot
    in_active = sessions[np.arange(len(active)), active].sum() / sessions.sum()
    assert sessions.sum() > 5000
    assert in_active == pytest.approx(regularity, abs=0.02)
    logged = market.observe()[:, [index(f"sessions_{s}") for s in SLOTS]]
    assert np.array_equal(logged[market.profile.data_consent], sessions[market.profile.data_consent])


def test_how_sessions_are_logged_changes_nothing_the_shoppers_do():
    """The session log draws from a stream of its own: purchases, opens and churn do not depend on it."""
    runs = []
    for regularity in (1.0, 0.4):
        market = MarketModel(small_config(size=600, horizon=20, response=ResponseParams(session_regularity=regularity)), seed=5)
        rng = np.random.default_rng(1)
        for _ in range(20):
            market.step(random_allowed_actions(market.action_mask(), rng, share=0.3))
        runs.append(market.datacollector.get_model_vars_dataframe())
    assert runs[0].equals(runs[1])
