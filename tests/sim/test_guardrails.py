"""Guardrails hold whatever a policy returns (property-based), and masks match what the market accepts."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import GuardrailConfig, MarketModel
from sim.catalogue import ACTION_CHANNEL, N_ACTIONS
from sim.features import contacts_last_7d
from sim.guardrails import ACTION_COMMITMENT, trim_to_budget
from tests.conftest import small_config

CFG = small_config(size=120, horizon=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 1000),
    cap=st.integers(0, 5),
    budget=st.sampled_from([0.0, 5.0, 50.0]),
    days=st.lists(st.lists(st.integers(0, N_ACTIONS - 1), min_size=CFG.population.size, max_size=CFG.population.size), min_size=1, max_size=8),
)
def test_no_executed_send_breaks_a_guardrail(seed, cap, budget, days):
    market = MarketModel(CFG, GuardrailConfig(frequency_cap_7d=cap, daily_budget=budget), seed=seed)
    for proposal in days:
        actions = np.zeros(market.n_rows, dtype=np.int64)
        actions[: len(proposal)] = proposal
        consent = market.state.consent.copy()
        present = market.present.copy()
        recent = contacts_last_7d(market.state.contacts, market.day)
        market.step(actions)
        sent = np.flatnonzero(market.outcome.sent)
        assert present[sent].all()
        assert consent[sent, ACTION_CHANNEL[actions[sent]]].all()
        assert (recent[sent] < cap).all()
        if budget > 0:
            assert ACTION_COMMITMENT[actions[sent]].sum() <= budget + 1e-6
        refused = int(((actions > 0) & ~market.outcome.sent).sum())
        assert market.totals["violations"] == refused


def test_dense_mask_agrees_with_allows_and_keeps_no_contact_open():
    market = MarketModel(CFG, seed=3)
    mask = market.action_mask()
    dense = mask.dense()
    assert dense.shape == (market.n_rows, N_ACTIONS) and dense[:, 0].all()
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.integers(0, N_ACTIONS, market.n_rows)
        assert np.array_equal(mask.allows(a), dense[np.arange(market.n_rows), a])


def test_budget_keeps_highest_priority_sends():
    actions = np.array([5, 5, 5, 0, 5])
    per_send = ACTION_COMMITMENT[5]
    kept = trim_to_budget(actions, budget=2.5 * per_send, priority=np.array([0.1, 0.9, 0.5, 1.0, 0.2]))
    assert list(kept) == [0, 5, 5, 0, 0]
    assert list(trim_to_budget(actions, budget=0.0)) == list(actions)
