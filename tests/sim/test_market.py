"""Contracts of the market: determinism, one set of equations, conservation laws, direction of effects."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim import GuardrailConfig, MarketModel
from sim.catalogue import ACTION_CHANNEL, CHANNEL_NAMES, N_OFFERS, OFFER_NAMES, encode
from sim.config import PopulationConfig
from sim.features import CALENDAR_START
from tests.conftest import random_allowed_actions, small_config


def run(market: MarketModel, days: int, seed: int = 0, share: float = 0.3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    profits = []
    for _ in range(days):
        market.step(random_allowed_actions(market.action_mask(), rng, share))
        profits.append(market.outcome.profit.copy())
    return profits


def states_equal(a: MarketModel, b: MarketModel) -> bool:
    return all(np.array_equal(getattr(a.state, f.name), getattr(b.state, f.name)) for f in dataclasses.fields(a.state))


def test_same_seed_gives_identical_trajectories(small_market_config):
    a, b = MarketModel(small_market_config, seed=7), MarketModel(small_market_config, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(run(a, 15), run(b, 15)))
    assert states_equal(a, b)
    c = MarketModel(small_market_config, seed=8)
    assert not np.array_equal(np.concatenate(run(c, 15)), np.concatenate(run(MarketModel(small_market_config, seed=7), 15)))


def test_per_agent_mesa_way_gives_exactly_the_vectorised_numbers():
    cfg = small_config(size=250, horizon=20)
    fast, slow = MarketModel(cfg, seed=3), MarketModel(cfg, seed=3, per_agent=True)
    assert len(slow.agents) == slow.n_rows
    assert all(np.array_equal(x, y) for x, y in zip(run(fast, 20, share=0.4), run(slow, 20, share=0.4)))
    assert states_equal(fast, slow)
    assert fast.datacollector.get_model_vars_dataframe().equals(slow.datacollector.get_model_vars_dataframe())


def test_a_shopper_never_contacted_behaves_identically_under_two_policies(no_social_config):
    """Common random numbers: without social proof, contacting others does not change an uncontacted shopper's day.
    With it, the next test says how far the contacts reach."""
    quiet, busy = MarketModel(no_social_config, seed=11), MarketModel(no_social_config, seed=11)
    rng = np.random.default_rng(0)
    targets = rng.random(busy.n_rows) < 0.4
    contacted = np.zeros(busy.n_rows, dtype=bool)
    bought = {"quiet": [], "busy": []}
    for _ in range(25):
        actions = np.where(targets, random_allowed_actions(busy.action_mask(), rng, share=0.5), 0)
        contacted |= actions > 0
        quiet.step()
        busy.step(actions)
        bought["quiet"].append(quiet.outcome.bought.copy())
        bought["busy"].append(busy.outcome.bought.copy())
    never = ~contacted
    assert contacted.sum() > 50 and never.sum() > 50
    for q, b in zip(bought["quiet"], bought["busy"]):
        assert np.array_equal(q[never], b[never])
    assert np.array_equal(quiet.state.churned[never], busy.state.churned[never])
    assert np.array_equal(quiet.state.spend[never], busy.state.spend[never])
    assert not np.array_equal(quiet.state.fatigue[contacted], busy.state.fatigue[contacted])


def day_record(market: MarketModel) -> np.ndarray:
    """(n, C + 3) what each shopper did today: the categories bought, whether they browsed, their purchases and revenue."""
    out = market.outcome
    return np.concatenate([out.bought, out.viewed[:, None], out.purchases[:, None], out.revenue[:, None]], axis=1)


def test_with_social_proof_an_uncontacted_shopper_behaves_identically_until_a_contact_reaches_them_through_the_network():
    """The default market's social proof carries a policy's effect to shoppers it never contacts, one network hop a
    day: a contacted shopper's purchases change the buzz of those who see them (``market.influence``) tomorrow, whose
    purchases change their followers' the day after. So the common-random-numbers promise, with social proof on, is:
    a shopper behaves identically under two policies on every day before a chain of influence from a contacted
    shopper reaches them; and some never-contacted shoppers do behave differently after."""
    cfg = small_config(size=2000, horizon=31)
    assert cfg.network.social_weight > 0  # the default
    quiet, busy = MarketModel(cfg, seed=11), MarketModel(cfg, seed=11)
    rng = np.random.default_rng(0)
    targets = rng.random(busy.n_rows) < 0.2
    contacted = np.zeros(busy.n_rows, dtype=bool)
    reached = np.zeros(busy.n_rows, dtype=bool)  # may behave differently today: contacted, or sees someone who may have before
    differed = np.zeros(busy.n_rows, dtype=bool)
    checked = 0
    for _ in range(30):
        actions = np.where(targets, random_allowed_actions(busy.action_mask(), rng, share=0.5), 0)
        contacted |= actions > 0
        reached |= actions > 0
        quiet.step()
        busy.step(actions)
        same = (day_record(quiet) == day_record(busy)).all(axis=1)
        assert same[~reached].all(), f"{int((~same & ~reached).sum())} shoppers no contact has reached behave differently"
        checked += int((~reached).sum())
        differed |= ~same & ~contacted
        reached |= (busy.influence @ reached.astype(np.float32)) > 0  # tomorrow's buzz comes from today's purchases
        np.testing.assert_array_equal(quiet.state.buzz[~reached], busy.state.buzz[~reached])
    assert checked > 2000  # shopper-days compared before a contact reached them
    assert differed.sum() > 10  # never contacted, yet changed by the policy: social proof at work


def test_conservation_laws_hold_every_day(small_market_config):
    market = MarketModel(small_market_config, seed=5)
    rng = np.random.default_rng(1)
    for _ in range(30):
        churned_before = market.state.churned.copy()
        joined_before = market.profile.join_day <= market.day
        consent_before = market.state.consent.copy()
        actions = rng.integers(0, 256, market.n_rows)  # anything at all, most of it not allowed
        market.step(actions)
        out = market.outcome
        # A churned shopper, or one who has not joined, buys nothing and receives nothing.
        assert out.purchases[churned_before | ~joined_before].sum() == 0
        assert not out.sent[churned_before | ~joined_before].any()
        # Nothing is delivered without consent on the channel used.
        channel = ACTION_CHANNEL[actions]
        delivered = np.flatnonzero(out.sent)
        assert consent_before[delivered, channel[delivered]].all()
        # Profit: per-shopper sums equal the market's total, and margin - discount - cost.
        assert market.totals["profit"] == pytest.approx(float(out.profit.sum(dtype=np.float64)), rel=1e-9)
        np.testing.assert_allclose(out.profit, out.margin - out.discount - out.channel_cost, rtol=1e-5, atol=1e-4)
        # A discount is paid only on redeemed purchases, and a redemption needs a purchase.
        assert (out.discount[out.redeemed == 0] == 0).all()
        assert (out.redeemed <= out.purchases).all()
    assert market.violations > 0  # the random actions above broke guardrails and were refused


def test_frequency_cap_is_never_exceeded():
    market = MarketModel(small_config(size=300), GuardrailConfig(frequency_cap_7d=2), seed=2)
    rng = np.random.default_rng(3)
    sent = []
    for _ in range(20):
        market.step(random_allowed_actions(market.action_mask(), rng, share=1.0))
        sent.append(market.outcome.sent.copy())
    sent = np.array(sent, dtype=int)
    rolling = np.array([sent[max(0, d - 6) : d + 1].sum(axis=0) for d in range(len(sent))])
    assert rolling.max() == 2


def _send_every(market: MarketModel, every: int, days: int, channel: str = "sms") -> None:
    """Send the info offer on one channel to every consenting shopper every ``every`` days."""
    h = CHANNEL_NAMES.index(channel)
    action = int(encode(OFFER_NAMES.index("info"), h, 0))
    for d in range(days):
        ok = market.action_mask().channel_ok[:, h]
        market.step(np.where(ok & (d % every == 0), action, 0))


def test_more_messages_mean_more_fatigue_fewer_opens_more_unsubscribes_and_churn():
    cfg = small_config(size=3000, horizon=40)
    lax = GuardrailConfig(frequency_cap_7d=21)
    heavy, light = MarketModel(cfg, lax, seed=4), MarketModel(cfg, lax, seed=4)
    _send_every(heavy, 1, 40)
    _send_every(light, 7, 40)
    df_h, df_l = (m.datacollector.get_model_vars_dataframe().sum() for m in (heavy, light))
    assert heavy.state.fatigue.mean() > 1.3 * light.state.fatigue.mean()
    assert df_h["opens"] / df_h["sends"] < 0.8 * df_l["opens"] / df_l["sends"]
    assert df_h["unsubscribes"] / df_h["sends"] > df_l["unsubscribes"] / df_l["sends"]
    assert heavy.state.churned.sum() > 1.2 * light.state.churned.sum()


def test_newcomers_join_over_time_without_history():
    market = MarketModel(small_config(size=500, horizon=30), seed=1)
    later = market.profile.join_day > 0
    assert later.sum() == round(500 * 0.01 * 29)
    assert (market.profile.past_purchases[later] == 0).all()
    x = market.observe()
    assert (x[later, :CALENDAR_START] == 0).all()  # nothing but the calendar before they join
    present_0 = market.present.sum()
    for _ in range(29):
        market.step()
    assert market.present.sum() + market.state.churned.sum() == market.n_rows
    assert present_0 == 500


def test_population_sizes_are_honoured_and_archetypes_mixed():
    market = MarketModel(small_config(size=1000, horizon=5), seed=0)
    assert (market.profile.join_day == 0).sum() == 1000
    assert len(np.unique(market.traits.archetype)) == 6
    assert market.shopper(3).row == 3 and market.shopper(3).archetype in PopulationConfig().archetype_weights


def test_bad_actions_are_clear_errors(small_market_config):
    market = MarketModel(small_market_config, seed=0)
    with pytest.raises(ValueError, match=r"actions: 300 is not an action; allowed: integers in \[0, 255\]"):
        market.step(np.full(market.n_rows, 300))
    with pytest.raises(ValueError, match=r"shape"):
        market.step(np.zeros(3, dtype=int))


def test_offers_cover_every_category_at_two_depths():
    assert N_OFFERS >= 8
    assert {"10% kids", "25% kids", "free_shipping", "bogo", "loyalty_points", "recommendation", "info"} <= set(OFFER_NAMES)
