"""The offer ablation's twin sends only its offer."""

from __future__ import annotations

import numpy as np

from policies.base import DecisionContext
from sim import MarketModel
from sim.catalogue import ACTION_OFFER, OFFER_NAMES
from sim.config import MarketConfig, PopulationConfig
from studies import offer_ablation


def test_offer_ablation_twin_sends_only_its_offer():
    market = MarketModel(MarketConfig(population=PopulationConfig(size=400)), seed=3)
    rows = np.flatnonzero(market.present)
    twin = offer_ablation.OneOfferOpenValue(OFFER_NAMES.index("free_shipping"))
    decision = twin.act(market.observe(rows), market.action_mask().subset(rows), DecisionContext(0, 0, np.random.default_rng(0), rows))
    sent = decision.actions[decision.actions > 0]
    assert len(sent) > 0 and (ACTION_OFFER[sent] == OFFER_NAMES.index("free_shipping")).all()
