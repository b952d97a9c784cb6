"""Baselines: the holdout sends nothing, random is uniform over allowed actions, blast keeps its day."""

from __future__ import annotations

import numpy as np
import pytest

from policies.base import DecisionContext
from policies.baselines import Blast, NoContact, RandomPolicy
from sim import MarketModel
from sim.catalogue import ACTION_CHANNEL, CHANNEL_NAMES, N_ACTIONS
from tests.conftest import small_config


@pytest.fixture
def market() -> MarketModel:
    return MarketModel(small_config(size=300), seed=0)


def context(market: MarketModel, day_rng: int = 0) -> DecisionContext:
    rows = np.flatnonzero(market.present)
    return DecisionContext(day=market.day, weekday=market.calendar.weekday(market.day), rng=np.random.default_rng(day_rng), rows=rows)


def test_no_contact_contacts_nobody(market):
    ctx = context(market)
    d = NoContact().act(market.observe(ctx.rows), market.action_mask().subset(ctx.rows), ctx)
    assert (d.actions == 0).all() and (d.propensity == 1).all()


def test_random_is_uniform_over_each_shoppers_allowed_actions(market):
    ctx = context(market)
    mask = market.action_mask().subset(ctx.rows)
    dense = mask.dense()
    counts = np.zeros((len(ctx.rows), N_ACTIONS))
    policy = RandomPolicy()
    for k in range(400):
        ctx.rng = np.random.default_rng(k)
        d = policy.act(market.observe(ctx.rows), mask, ctx)
        assert mask.allows(d.actions).all()
        np.testing.assert_allclose(d.propensity, 1.0 / dense.sum(axis=1))
        counts[np.arange(len(d.actions)), d.actions] += 1
    assert (counts[~dense] == 0).all()
    # Pooled over shoppers with one allowed channel (1 + 17 offers x 3 slots = 52 actions), each comes up 1/52 of the time.
    one_channel = dense.sum(axis=1) == 52
    assert one_channel.sum() > 20
    share = counts[one_channel, 0].sum() / (400 * one_channel.sum())
    assert abs(share - 1 / 52) < 0.01


def test_blast_sends_one_email_offer_on_its_weekday_only(market):
    policy = Blast(offer="info", channel="email", weekday="thu")
    for _ in range(7):
        ctx = context(market)
        mask = market.action_mask().subset(ctx.rows)
        d = policy.act(market.observe(ctx.rows), mask, ctx)
        sent = d.actions > 0
        if ctx.weekday == 3:
            assert sent.sum() == mask.channel_ok[:, CHANNEL_NAMES.index("email")].sum() > 0
            assert (ACTION_CHANNEL[d.actions[sent]] == CHANNEL_NAMES.index("email")).all()
        else:
            assert not sent.any()
        market.step()


def test_blast_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"blast.channel='fax': unknown; allowed: email"):
        Blast(channel="fax")
