"""The service's observation and guardrail mask are the simulator's, exactly, for the CRM record a shop would send."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from serving.crm import BATCH, contact_history, observe, parse
from sim.catalogue import CHANNEL_NAMES, N_OFFERS, N_SLOTS, encode
from sim.config import GuardrailConfig
from sim.features import CRM_FEATURES, FEATURE_HIGH, FEATURE_LOW, FEATURE_NAMES, index
from sim.market import MarketModel
from tests.conftest import small_config

DAYS = 45


def shop_request(market: MarketModel, rows: np.ndarray, contact_log: list[np.ndarray], rng: np.random.Generator) -> bytes:
    """The /decide/batch body a shop would send today for ``rows``: features by name, consents, the dates of its sends.

    The CRM features are the market's own for shoppers who allow personalised use of their data; for
    the others the shop holds data it may not use (here: anything within the bounds), which the
    observation must hide.
    """
    obs = market.observe(rows)
    crm = [index(f) for f in CRM_FEATURES]
    held = rng.uniform(FEATURE_LOW[crm], FEATURE_HIGH[crm], (len(rows), len(crm)))
    date = market.calendar.date(market.day)
    customers = []
    for k, i in enumerate(rows):
        values = obs[k, crm] if market.profile.data_consent[i] else held[k]
        customers.append({
            "customer_id": f"s{i}",
            "features": dict(zip(CRM_FEATURES, values.tolist(), strict=True)),
            "consents": dict(zip(CHANNEL_NAMES, market.state.consent[i].tolist(), strict=True))
                        | {"personal_data": bool(market.profile.data_consent[i])},
            "contacts": [market.calendar.date(day).isoformat() for day, sent in enumerate(contact_log) if sent[i]],
        })
    return json.dumps({"customers": customers, "date": date.isoformat()}).encode()


def sends(market: MarketModel, day: int, rng: np.random.Generator) -> np.ndarray:
    """Allowed sends at rates from none to daily, so that caps bind and some histories are older than 30 days.

    A quarter of the shoppers hear nothing after day 10: their last contact ages past the 30-day window.
    Every offer and slot is drawn, so that the campaign-response history (per kind, category and slot,
    opens and redemptions) fills in.
    """
    ok = market.action_mask().channel_ok
    rate = np.array([0.0, 0.1, 0.4, 0.9])[np.arange(market.n_rows) % 4]
    rate[(np.arange(market.n_rows) % 8 == 3) & (day > 10)] = 0.0
    channel = np.argmax(ok * rng.random(ok.shape), axis=1)
    send = ok.any(axis=1) & (rng.random(market.n_rows) < rate)
    action = encode(rng.integers(N_OFFERS, size=market.n_rows), channel, rng.integers(N_SLOTS, size=market.n_rows))
    return np.where(send, action, 0)


# The campaign-response history the comparison must meet with values other than its starting ones (0, or 1 for "never").
HISTORY = {
    "sent_discount": lambda x: x > 0, "opened_bogo": lambda x: x > 0, "redeemed_discount": lambda x: x > 0,
    "opened_in_kids": lambda x: x > 0, "redeemed_in_womens": lambda x: x > 0, "promo_share": lambda x: x > 0,
    "opens_at_evening": lambda x: x > 0, "days_since_open": lambda x: x < 1, "days_since_redemption": lambda x: x < 1,
}


def test_the_services_observation_and_mask_equal_the_markets_bit_for_bit():
    guardrails = GuardrailConfig(frequency_cap_7d=3)
    market = MarketModel(small_config(size=400, horizon=DAYS + 1), guardrails, seed=5)
    rng = np.random.default_rng(0)
    contact_log: list[np.ndarray] = []  # the shop's own log: who received a message, day by day
    seen = {"capped": 0, "private": 0, "last_contact_over_30_days": 0, "contacts_30d_over_7": 0}
    history = dict.fromkeys(HISTORY, 0)
    for day in range(DAYS):
        rows = np.flatnonzero(market.present)
        request = parse(BATCH, shop_request(market, rows, contact_log, rng))
        obs, mask = observe(request["customers"], request["date"], guardrails.frequency_cap_7d)
        expected = market.observe(rows)
        assert obs.dtype == expected.dtype == np.float32
        np.testing.assert_array_equal(obs.view(np.uint32), expected.view(np.uint32), err_msg=f"day {day}")
        np.testing.assert_array_equal(mask.channel_ok, market.action_mask().subset(rows).channel_ok, err_msg=f"day {day}")
        seen["capped"] += int((obs[:, index("contacts_7d")] >= 3).sum())
        seen["private"] += int((obs[:, index("personal_data")] == 0).sum())
        seen["contacts_30d_over_7"] += int((obs[:, index("contacts_30d")] > 7).sum())
        seen["last_contact_over_30_days"] += int(((obs[:, index("days_since_contact")] > 30 / 365) & (obs[:, index("days_since_contact")] < 1)).sum())
        for name, moved in HISTORY.items():
            history[name] += int(moved(obs[:, index(name)]).sum())
        market.step(sends(market, day, rng))
        contact_log.append(market.outcome.sent.copy())
    assert min(seen.values()) > 50, seen  # every part of the rule was exercised
    assert min(history.values()) > 50, history  # the response history was compared with values a campaign gave it
    assert sum(len(s.nonzero()[0]) for s in contact_log) > 3000


def test_a_contact_history_is_the_markets_ring_and_last_contact_day():
    date = dt.date(2025, 3, 10)
    history = [[date - dt.timedelta(days=k) for k in ages] for ages in ([1, 1, 7], [8, 30], [31, 400], [])]
    ring, last = contact_history(history, date)
    np.testing.assert_array_equal(ring.sum(axis=0), [3, 2, 0, 0])
    assert ring[-1 % 30, 0] == 2 and ring[-30 % 30, 1] == 1  # slot day % 30, the decision date being day 0
    np.testing.assert_array_equal(last, [-1, -8, -31, -1_000_000])
    obs, mask = observe([{"features": dict.fromkeys(CRM_FEATURES, 0.0), "consents": dict.fromkeys((*CHANNEL_NAMES, "personal_data"), True),
                          "contacts": h} for h in history], date, frequency_cap_7d=3)
    contacts = obs[:, [FEATURE_NAMES.index(f) for f in ("contacts_7d", "contacts_30d", "days_since_contact")]]
    np.testing.assert_array_equal(contacts, np.array([[3, 3, 1 / 365], [0, 2, 8 / 365], [0, 0, 31 / 365], [0, 0, 1]], dtype=np.float32))
    np.testing.assert_array_equal(mask.channel_ok.all(axis=1), [False, True, True, True])  # three in the last 7 days: the cap
    with pytest.raises(ValueError, match="2025-03-10 is not before the decision date 2025-03-10"):
        contact_history([[date]], date)
