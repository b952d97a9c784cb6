"""The arm features mean what the module docstring says, feature by feature, for one hand-made shopper."""

from __future__ import annotations

import numpy as np
import pytest

from bandits.features import BASE_FEATURES, RECENCY_EDGES, arm_features, base_names, block_widths
from sim.catalogue import CATEGORY_NAMES, CHANNEL_FATIGUE, CHANNEL_NAMES, N_OFFERS, OFFER_CATEGORY, OFFER_DEPTH, OFFER_KIND, OFFER_KINDS, encode
from sim.features import N_FEATURES, RESPONSE_HISTORY, index


def shopper() -> np.ndarray:
    """One observation with distinct purchases, views, opens and responses by offer kind, so a value read from the wrong column shows."""
    x = np.zeros((1, N_FEATURES), dtype=np.float32)
    for k, c in enumerate(CATEGORY_NAMES):
        x[0, index(f"bought_{c}")] = [0.1, 0.7, 0.2, 0.0, 0.3, 0.05][k]
        x[0, index(f"views_{c}")] = [0.4, 0.1, 0.9, 0.2, 0.0, 0.3][k]
    for k, h in enumerate(CHANNEL_NAMES):
        x[0, index(f"opens_{h}")] = 0.1 * (k + 1)
    for k, kind in enumerate(OFFER_KINDS):
        x[0, index(f"opened_{kind}")], x[0, index(f"redeemed_{kind}")] = 1.0 + k, 0.5 + 0.25 * k
    x[0, index("frequency")], x[0, index("recency")], x[0, index("contacts_7d")], x[0, index("promo_share")] = 1.5, 100 / 365, 2.0, 0.4
    return x


@pytest.mark.parametrize("history", [False, True])
@pytest.mark.parametrize("nonlinear", [False, True])
def test_offer_and_channel_blocks_hold_relevance_depth_opens_and_intrusiveness(nonlinear, history):
    x = shopper()
    feats = arm_features(x, nonlinear, history)
    bought = np.array([x[0, index(f"bought_{c}")] for c in CATEGORY_NAMES])
    views = np.array([x[0, index(f"views_{c}")] for c in CATEGORY_NAMES])
    recency_bin = np.searchsorted(RECENCY_EDGES, x[0, index("recency")], side="right")
    for o in range(N_OFFERS):
        general = OFFER_CATEGORY[o] < 0  # no category of its own: the shopper's strongest one
        expected = [bought.max() if general else bought[OFFER_CATEGORY[o]], views.max() if general else views[OFFER_CATEGORY[o]],
                    OFFER_DEPTH[o] * np.float32(1.5), OFFER_DEPTH[o] * np.float32(100 / 365)]
        if history:  # its kind's redemptions, depth x promotion share
            expected += [0.5 + 0.25 * OFFER_KIND[o], OFFER_DEPTH[o] * np.float32(0.4)]
        if nonlinear:
            expected += list(OFFER_DEPTH[o] * (np.arange(RECENCY_EDGES.size + 1) == recency_bin))
        np.testing.assert_array_equal(feats.offer[0, o], np.array(expected, dtype=np.float32))
    for h in range(len(CHANNEL_NAMES)):
        np.testing.assert_array_equal(feats.channel[0, h], np.array([0.1 * (h + 1), 2.0 * CHANNEL_FATIGUE[h]], dtype=np.float32))


def test_a_row_is_the_base_then_for_a_send_its_contact_block_and_the_options_one_hots_with_their_features():
    x = np.repeat(shopper(), 2, axis=0)
    feats = arm_features(x)
    o, h, s = 9, 3, 2
    rows = feats.rows(np.array([0, encode(o, h, s)]))
    base, contact, offer, channel, slot = np.split(rows, np.cumsum(block_widths())[:-1], axis=1)
    assert rows.dtype == np.float64
    np.testing.assert_array_equal(base, feats.base)
    assert not (contact[0].any() or offer[0].any() or channel[0].any() or slot[0].any())  # no contact: the base block alone
    np.testing.assert_array_equal(contact[1], feats.contact[1])
    for block, dense, k in ((offer, feats.offer, o), (channel, feats.channel, h), (slot, feats.slot, s)):
        m = dense.shape[1]
        np.testing.assert_array_equal(block[1, :m], np.eye(m)[k])
        np.testing.assert_array_equal(block[1, m:], dense[1, k])


def test_without_the_history_the_features_ignore_it_and_with_it_the_base_block_reads_its_totals():
    x = shopper()
    plain = arm_features(x)
    assert len(base_names()) == plain.base.shape[1] == block_widths()[0] and plain.offer.shape[2] == 4
    y = x.copy()
    y[0, [index(n) for n in RESPONSE_HISTORY]] = 0.0
    for a, b in zip(vars(plain).values(), vars(arm_features(y)).values()):
        np.testing.assert_array_equal(a, b)  # the plain map does not read the history at all
    feats = arm_features(x, history=True)
    names = base_names(history=True)
    assert len(names) == feats.base.shape[1] == block_widths(history=True)[0]
    assert "opened_discount" not in BASE_FEATURES and {"promo_share", "order_value", "days_since_open"} <= set(BASE_FEATURES)
    assert feats.base[0, names.index("opened_total")] == pytest.approx(sum(1.0 + k for k in range(6)))
    assert feats.base[0, names.index("redeemed_total")] == pytest.approx(sum(0.5 + 0.25 * k for k in range(6)))
    assert feats.base[0, names.index("frequency")] == np.float32(1.5)
