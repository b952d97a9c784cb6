"""Guardrails hold whatever a policy returns (property-based), and masks match what the market accepts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import GuardrailConfig, MarketModel
from sim.campaigns import offer_table
from sim.catalogue import ACTION_CHANNEL, N_ACTIONS, N_CHANNELS, N_OFFERS, encode, parse_action
from sim.config import CampaignConfig
from sim.features import contacts_last_7d
from sim.guardrails import ACTION_COMMITMENT, BUDGET, CONSENT, FREQUENCY_CAP, RAN, REFUSALS, VIOLATIONS, ActionMask, guard
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
        out = market.outcome
        assert np.array_equal(out.action, np.where(out.sent, actions, 0))  # the outcome says what ran
        assert np.array_equal(out.refusal > RAN, (actions > 0) & ~out.sent)  # and why each refused proposal did not
        assert market.totals["violations"] == int(np.isin(out.refusal, VIOLATIONS).sum())
        assert market.totals["budget_refused"] == int((out.refusal == BUDGET).sum())
        if budget == 0:
            assert market.totals["budget_refused"] == 0


def test_dense_mask_agrees_with_allows_and_keeps_no_contact_open():
    market = MarketModel(CFG, seed=3)
    mask = market.action_mask()
    dense = mask.dense()
    assert dense.shape == (market.n_rows, N_ACTIONS) and dense[:, 0].all()
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.integers(0, N_ACTIONS, market.n_rows)
        assert np.array_equal(mask.allows(a), dense[np.arange(market.n_rows), a])


def _everyone(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.ones((n, len(set(ACTION_CHANNEL[1:]))), dtype=bool), np.ones(n, dtype=bool), np.ones(n, dtype=bool)


def test_budget_keeps_highest_priority_sends_and_stops_at_the_first_that_does_not_fit():
    actions = np.array([5, 5, 5, 0, 5])
    per_send = ACTION_COMMITMENT[5]
    kept = guard(actions, *_everyone(5), budget=2.5 * per_send, priority=np.array([0.1, 0.9, 0.5, 1.0, 0.2]))
    assert list(kept.executed) == [0, 5, 5, 0, 0]
    assert [REFUSALS[r] for r in kept.refusal] == ["budget", "", "", "", "budget"]
    assert list(guard(actions, *_everyone(5), budget=0.0).executed) == list(actions)
    in_row_order = guard(actions, *_everyone(5), budget=2.5 * per_send)
    assert list(in_row_order.executed) == [5, 5, 0, 0, 0] and in_row_order.budget_refused == 2 and in_row_order.violations == 0


def test_each_refusal_names_the_first_guardrail_a_send_breaks_and_only_mask_breaches_are_violations():
    """Shopper 0 is absent (and without consent), 1 has no consent (and is at the cap), 2 is at the cap, 3 may be sent."""
    email = int(np.flatnonzero(ACTION_CHANNEL == 0)[0])
    consent, present, under_cap = _everyone(4)
    present[0] = False
    consent[[0, 1], 0] = False
    under_cap[[1, 2]] = False
    checked = guard(np.full(4, email), consent, present, under_cap, budget=0.0)
    assert [REFUSALS[r] for r in checked.refusal] == ["absent", "consent", "frequency_cap", ""]
    assert list(checked.executed) == [0, 0, 0, email] and checked.violations == 3
    assert {CONSENT, FREQUENCY_CAP} <= set(VIOLATIONS) and BUDGET not in VIOLATIONS
    # a refused send does not use up the budget: the allowed send behind it still fits
    assert list(guard(np.full(4, email), consent, present, under_cap, budget=ACTION_COMMITMENT[email]).executed) == [0, 0, 0, email]


def test_a_sends_commitment_is_its_channel_cost_plus_the_offers_face_value():
    """Against the catalogue's documented prices (sim/catalogue.py): channel cost + depth x category price + fixed value,
    with the mean of the six category prices (70, 65, 45, 90, 35, 180) for an offer that covers every category."""
    mean_price = (70.0 + 65.0 + 45.0 + 90.0 + 35.0 + 180.0) / 6
    hand = {
        "no contact": 0.0,
        "free_shipping / email / morning": 0.01 + 5.00,
        "free_shipping / call_centre / evening": 1.50 + 5.00,
        "25% kids / sms / evening": 0.06 + 0.25 * 45.0,
        "10% electronics / push / midday": 0.005 + 0.10 * 180.0,
        "10% womens / email / morning": 0.01 + 0.10 * 70.0,
        "bogo / social_ad / morning": 0.12 + 0.25 * mean_price,
        "loyalty_points / email / midday": 0.01 + 0.05 * mean_price,
        "info / call_centre / morning": 1.50 + 0.0,
    }
    for name, value in hand.items():
        assert ACTION_COMMITMENT[parse_action(name)] == pytest.approx(value, rel=1e-6), name
    # and the budget spends that: two free-shipping e-mails (2 x 5.01 = 10.02) fit in 10.03, not in 10.01
    send = np.full(2, parse_action("free_shipping / email / morning"))
    assert list(guard(send, *_everyone(2), budget=10.03).executed) == list(send)
    assert guard(send, *_everyone(2), budget=10.01).budget_refused == 1


def test_allows_refuses_what_is_not_an_action_and_no_contact_is_always_allowed():
    everything, nothing = ActionMask(np.ones((6, N_CHANNELS), dtype=bool)), ActionMask(np.zeros((6, N_CHANNELS), dtype=bool))
    actions = np.array([N_ACTIONS, -1, -1000, N_ACTIONS + 10, 0, N_ACTIONS - 1])
    assert list(everything.allows(actions)) == [False, False, False, False, True, True]
    assert list(nothing.allows(actions)) == [False, False, False, False, True, False]


def test_a_campaign_send_is_checked_and_committed_as_the_info_message_of_its_channel_and_slot():
    """Campaigns are actions beyond the catalogue's (sim/campaigns.py): consent, the cap and the budget see the info
    message on the same channel and slot, and the campaign action is what runs."""
    table = offer_table({"mens": CampaignConfig(category="mens")})
    campaign_email, campaign_sms = encode(N_OFFERS, 0, 1), encode(N_OFFERS, 1, 2)
    info_email = parse_action("info / email / midday")
    assert table.checked_as[campaign_email] == info_email and campaign_email >= N_ACTIONS
    consent, present, under_cap = _everyone(3)
    consent[1, 1] = False  # shopper 1 refuses SMS, not e-mail
    checked = guard(np.array([campaign_email, campaign_sms, campaign_sms]), consent, present, under_cap, budget=0.0, checked_as=table.checked_as)
    assert list(checked.executed) == [campaign_email, 0, campaign_sms] and [REFUSALS[r] for r in checked.refusal] == ["", "consent", ""]
    # an info e-mail commits its channel cost only (0.01): two fit in 0.025, a third does not
    three = guard(np.full(3, campaign_email), *_everyone(3), budget=0.025, checked_as=table.checked_as)
    assert list(three.executed) == [campaign_email, campaign_email, 0] and three.budget_refused == 1


def test_the_budget_keeps_sends_by_priority_and_equal_priorities_in_row_order():
    """Against a brute-force loop: sends sorted by priority (ties by row) are kept while the running commitment fits."""
    rng = np.random.default_rng(5)
    n = 200
    actions = np.where(rng.random(n) < 0.8, rng.integers(1, N_ACTIONS, n), 0)
    priority = rng.integers(0, 3, n).astype(np.float64)  # many ties
    budget = 0.4 * ACTION_COMMITMENT[actions].sum()
    checked = guard(actions, *_everyone(n), budget=budget, priority=priority)
    kept, spent, full = np.zeros(n, dtype=bool), 0.0, False
    for i in sorted(np.flatnonzero(actions > 0), key=lambda i: (-priority[i], i)):
        spent += float(ACTION_COMMITMENT[actions[i]])
        full = full or spent > budget
        kept[i] = not full
    assert kept.sum() > 10 and (actions > 0).sum() - kept.sum() > 10
    assert np.array_equal(checked.executed, np.where(kept, actions, 0))
    assert np.array_equal(checked.refusal == BUDGET, (actions > 0) & ~kept)


def test_a_budget_of_exactly_k_cheap_sends_keeps_k_of_them_however_many_there_are():
    """The running commitment is summed in double precision: a float32 sum of 1,000 e-mails at 0.01 drifts by more
    than the last e-mail's share and would refuse it."""
    n, k = 1200, 1000
    send = np.full(n, parse_action("info / email / midday"))
    budget = sum(float(ACTION_COMMITMENT[a]) for a in send[:k])  # a brute-force sum in Python floats
    checked = guard(send, *_everyone(n), budget=budget)
    assert list(checked.executed) == [int(send[0])] * k + [0] * (n - k) and checked.budget_refused == n - k


@pytest.mark.parametrize(("budget", "n"), [(1.0, 100), (20.0, 2000)])
def test_a_round_budget_pays_for_the_round_number_of_e_mails_it_is_worth(budget, n):
    """100 x 0.01 = 1.00: every e-mail of a budget's worth is sent, and one more is refused."""
    send = np.full(n + 1, parse_action("info / email / midday"))
    checked = guard(send, *_everyone(n + 1), budget=budget)
    assert (checked.executed[:n] == send[0]).all() and checked.executed[n] == 0 and checked.budget_refused == 1
