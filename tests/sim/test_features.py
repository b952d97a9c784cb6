"""The observation is what a CRM may know: named features, bounds, and the data-consent mask."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim import MarketModel
from sim.config import PopulationConfig
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
