"""The campaign-response history means what its feature docs say, for shoppers whose day the test arranges."""

from __future__ import annotations

import numpy as np
import pytest

from sim import MarketModel
from sim.catalogue import CHANNEL_NAMES, OFFER_KINDS, OFFER_NAMES, PROMOTION_KINDS, SLOTS, encode
from sim.features import PERSONAL, index
from sim.state import RESPONSE_HALF_LIFE
from tests.conftest import small_config

DISCOUNT = encode(OFFER_NAMES.index("25% womens"), CHANNEL_NAMES.index("email"), SLOTS.index("evening"))
HISTORY = [index(n) for n in ("sent_discount", "opened_discount", "redeemed_discount", "opened_in_womens", "redeemed_in_womens",
                              "promo_share", "opens_at_evening", "days_since_open", "days_since_redemption")]


def _market() -> tuple[MarketModel, np.ndarray]:
    """A market whose shoppers with e-mail consent all get a 25% women's discount by evening e-mail on day 0, and buy a lot
    that day (a high purchase base), so that some open it and redeem it; returns the market after day 0 and the actions."""
    market = MarketModel(small_config(size=3000, horizon=40), seed=7)
    market.latent().buy_base[:] += 4.0
    actions = np.where(market.action_mask().channel_ok[:, CHANNEL_NAMES.index("email")], DISCOUNT, 0).astype(np.int64)
    market.step(actions)
    market.latent().buy_base[:] -= 4.0
    return market, actions


def test_a_delivered_opened_and_redeemed_discount_is_counted_where_its_docs_say():
    market, actions = _market()
    out, x = market.outcome, market.observe()
    f = {name: x[:, index(name)] for name in ("sent_discount", "sent_info", "opened_discount", "opened_in_womens", "opened_in_mens",
                                               "opens_at_evening", "opens_at_morning", "days_since_open", "redeemed_discount",
                                               "redeemed_in_womens", "redeemed_bogo", "promo_share", "days_since_redemption")}
    seen = market.profile.data_consent & (market.profile.join_day <= market.day)  # a CRM row with its personal features shown
    sent, opened, redeemed = seen & out.sent, seen & out.opened, seen & (out.redeemed > 0)
    assert sent.sum() > 1000 and opened.sum() > 100 and redeemed.sum() > 30  # the arranged day happened
    assert np.array_equal(sent, seen & (actions > 0))
    assert (f["sent_discount"][sent] == 1).all() and (f["sent_discount"][seen & ~sent] == 0).all() and (f["sent_info"] == 0).all()
    for name in ("opened_discount", "opened_in_womens", "opens_at_evening"):
        assert (f[name][opened] == 1).all() and (f[name][seen & ~opened] == 0).all(), name
    assert (f["opened_in_mens"] == 0).all() and (f["opens_at_morning"] == 0).all()
    assert np.allclose(f["days_since_open"][opened], 1 / 365) and (f["days_since_open"][seen & ~opened] == 1).all()
    # The discount covers women's only: one redeemed purchase at most, in women's, by a shopper who opened it.
    assert (redeemed <= opened).all() and (out.redeemed <= 1).all()
    for name in ("redeemed_discount", "redeemed_in_womens"):
        assert np.array_equal(f[name][seen], out.redeemed[seen].astype(np.float32)), name
    assert (f["redeemed_bogo"] == 0).all()
    assert np.allclose(f["promo_share"][redeemed], 1.0 / out.purchases[redeemed])
    assert (f["promo_share"][seen & ~redeemed] == 0).all()
    assert np.allclose(f["days_since_redemption"][redeemed], 1 / 365) and (f["days_since_redemption"][seen & ~redeemed] == 1).all()


def test_the_history_decays_with_its_half_life_and_is_hidden_without_data_consent():
    market, _ = _market()
    opened = market.profile.data_consent & market.outcome.opened
    first = market.observe()[opened]
    days = 12
    for _ in range(days):
        market.step(np.zeros(market.n_rows, dtype=np.int64))
    later = market.observe()[opened]
    sent = index("sent_discount")
    assert later[:, sent] == pytest.approx(first[:, sent] * 0.5 ** (days / RESPONSE_HALF_LIFE), rel=1e-5)
    slot = index("opens_at_evening")
    assert later[:, slot] == pytest.approx(first[:, slot] * 0.5 ** (days / 30.0), rel=1e-5)
    assert later[:, index("days_since_open")] == pytest.approx((days + 1) / 365)
    private = ~market.profile.data_consent & (market.state.kind_opened.sum(axis=1) > 0)
    assert private.sum() > 20 and (market.observe()[private][:, PERSONAL] == 0).all()
    assert all(PERSONAL[i] for i in HISTORY)


def test_a_purchase_with_a_redeemed_offer_of_each_kind_counts_for_that_kind():
    """Every kind sent to a third of the shoppers: redemptions land on the kind of the offer held, and never more than purchases."""
    market = MarketModel(small_config(size=3000, horizon=20), seed=2)
    rng = np.random.default_rng(0)
    market.latent().buy_base[:] += 2.0
    offers = [OFFER_NAMES.index(n) for n in ("info", "recommendation", "free_shipping", "bogo", "loyalty_points", "10% kids")]
    for _ in range(10):
        ok = market.action_mask().channel_ok[:, CHANNEL_NAMES.index("email")]
        pick = rng.choice(offers, market.n_rows)
        actions = np.where(ok & (rng.random(market.n_rows) < 0.3), encode(pick, CHANNEL_NAMES.index("email"), 0), 0)
        market.step(actions.astype(np.int64))
    st = market.state
    assert (st.kind_redeemed[:, [OFFER_KINDS.index(k) for k in OFFER_KINDS]] > 0).any(axis=0).all()
    assert (st.kind_redeemed.sum(axis=1) <= st.recent_purchases + 1e-4).all()
    assert np.allclose(st.kind_redeemed.sum(axis=1), st.category_redeemed.sum(axis=1), atol=1e-4)
    x = market.observe()
    shown = market.profile.data_consent & (market.profile.join_day <= market.day)
    promotions = st.kind_redeemed[:, [OFFER_KINDS.index(k) for k in PROMOTION_KINDS]].sum(axis=1)
    expected = np.where(st.recent_purchases > 0, promotions / np.maximum(st.recent_purchases, 1e-9), 0.0)
    np.testing.assert_allclose(x[shown, index("promo_share")], expected[shown], rtol=1e-5, atol=1e-7)
    info_only = shown & (st.kind_redeemed[:, OFFER_KINDS.index("info")] > 0) & (promotions == 0)
    assert info_only.any() and (x[info_only, index("promo_share")] == 0).all()  # a purchase after an information e-mail is no promotion
