"""Rule tables: loaded from readable YAML, checked at load, applied first-match like a CRM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from policies.base import DecisionContext
from policies.rules import FIELDS, RULES_DIR, Rule, RuleTable, shopper_fields
from sim import MarketModel
from sim.calendar import HOLIDAY_NAMES
from sim.catalogue import ACTION_CHANNEL, ACTION_OFFER, CATEGORY_NAMES, CHANNEL_NAMES, OFFER_KINDS, OFFER_NAMES, SLOTS
from sim.features import FEATURE_NAMES, N_FEATURES, days_since, index, share
from sim.guardrails import ActionMask
from tests.conftest import small_config


@pytest.mark.parametrize("table", sorted(p.stem for p in RULES_DIR.glob("*.yaml")))
def test_every_shipped_rule_table_loads(table):
    policy = RuleTable.from_yaml(table)
    assert policy.name == f"rules_{table}" and policy.rules


@pytest.mark.parametrize(
    "body, message",
    [
        ("rules:\n  - {segment: a, offer: 15% toys, channel: email, slot: morning}", r"rules\[0\] \(a\)\.offer='15% toys': unknown offer"),
        ("rules:\n  - {segment: a, offer: info, channel: fax, slot: morning}", r"rules\[0\] \(a\)\.channel='fax': unknown; allowed: email"),
        ("rules:\n  - {segment: a, offer: info, channel: email, slot: night}", r"\.slot='night': unknown; allowed: morning"),
        ("rules:\n  - {segment: a, offer: info, channel: email, slot: morning, weekdays: [caturday]}", r"'caturday' is not a weekday"),
        ("rules:\n  - {segment: a, offer: info, channel: email, slot: morning, when: {income: '> 3'}}", r"when\.income: unknown field; known fields: recency_days"),
        ("rules:\n  - {segment: a, offer: info, channel: email, slot: morning, when: {purchases: 'lots'}}", r"purchases='lots': must be a number"),
        ("rules:\n  - {segment: a, offer: info, channel: email, slot: morning, when: {gender: robot}}", r"gender='robot': unknown; allowed: unknown, female, male"),
        ("rules:\n  - {segment: a, offer: '10% {top_category}s', channel: email, slot: morning}", r"'10% womenss' is not an offer"),
        ("rules:\n  - {segment: a, channel: email, slot: morning}", r"rules\[0\]: missing \['offer'\]"),
        ("rules:\n  - {segment: a, offer: info, channel: email, slot: morning, colour: red}", r"unknown key\(s\) \['colour'\]"),
        ("segments: []", r"a rule table is a mapping with 'name' and a list 'rules'"),
    ],
)
def test_bad_rule_tables_fail_at_load_naming_what_is_wrong(tmp_path, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\n" + body)
    with pytest.raises(ValueError, match=message):
        RuleTable.from_yaml(path)


def test_unknown_table_name_lists_the_known_ones():
    with pytest.raises(FileNotFoundError, match="tables in .*: affinity, calendar, promo, rfm, winback"):
        RuleTable.from_yaml("nonexistent")


def _obs(**fields: float) -> np.ndarray:
    x = np.zeros((1, N_FEATURES), dtype=np.float32)
    x[0, index("personal_data")] = 1
    x[0, index("days_since_contact")] = 1
    for name, value in fields.items():
        x[0, index(name)] = value
    return x


def _act(policy: RuleTable, obs: np.ndarray, weekday: int = 0) -> int:
    mask = ActionMask(np.ones((len(obs), 5), dtype=bool))
    ctx = DecisionContext(day=0, weekday=weekday, rng=np.random.default_rng(0), rows=np.arange(len(obs)))
    return int(policy.act(obs, mask, ctx).actions[0])


def test_womens_day_campaign_skips_men_and_unknown_gender():
    policy = RuleTable.from_yaml("calendar")
    eve = dict(holiday_womens_day=0.9, birthday_in=0.5)
    assert OFFER_NAMES[ACTION_OFFER[_act(policy, _obs(gender_female=1, **eve))]] == "10% beauty"
    assert _act(policy, _obs(gender_male=1, **eve)) == 0
    assert _act(policy, _obs(**eve)) == 0


def test_category_affinity_sends_the_category_the_shopper_bought():
    policy = RuleTable.from_yaml("affinity")
    friday = 4
    assert OFFER_NAMES[ACTION_OFFER[_act(policy, _obs(bought_kids=np.log1p(2)), friday)]] == "10% kids"
    assert OFFER_NAMES[ACTION_OFFER[_act(policy, _obs(views_electronics=1.5), friday)]] == "10% electronics"
    assert _act(policy, _obs(bought_kids=np.log1p(2)), weekday=0) == 0  # not its day


def test_first_matching_rule_wins_and_top_category_fills_the_offer():
    policy = RuleTable("t", [
        Rule(segment="a", offer="25% {top_category}", channel="email", slot="morning", when={"recency_days": ">= 100"}),
        Rule(segment="b", offer="info", channel="email", slot="morning"),
    ])
    lapsed = _obs(recency=0.5, bought_home=np.log1p(3))
    assert OFFER_NAMES[ACTION_OFFER[_act(policy, lapsed)]] == "25% home"
    assert OFFER_NAMES[ACTION_OFFER[_act(policy, _obs(recency=0.1))]] == "info"
    # A {top_category} offer is skipped for a shopper with no known category, and the next rule applies.
    assert OFFER_NAMES[ACTION_OFFER[_act(policy, _obs(recency=0.5))]] == "info"


def test_rules_send_only_on_allowed_channels():
    market = MarketModel(small_config(size=400), seed=1)
    for table in sorted(p.stem for p in RULES_DIR.glob("*.yaml")):
        policy = RuleTable.from_yaml(table)
        rows = np.flatnonzero(market.present)
        mask = market.action_mask().subset(rows)
        for weekday in range(7):
            ctx = DecisionContext(day=0, weekday=weekday, rng=np.random.default_rng(0), rows=rows)
            assert mask.allows(policy.act(market.observe(rows), mask, ctx).actions).all()


THURSDAY = 3


def _offer(policy: RuleTable, obs: np.ndarray, weekday: int = THURSDAY) -> str:
    action = _act(policy, obs, weekday)
    return OFFER_NAMES[ACTION_OFFER[action]] if action else "no contact"


def test_promotion_sensitive_shoppers_get_a_discount_in_their_top_category_the_rest_information():
    policy = RuleTable.from_yaml("promo")
    regular = dict(frequency=np.log1p(6), bought_home=np.log1p(4), opens_push=3.0)
    assert _offer(policy, _obs(**regular, promo_share=0.6)) == "10% home"
    assert _offer(policy, _obs(**regular, redeemed_discount=0.8)) == "10% home"
    assert CHANNEL_NAMES[ACTION_CHANNEL[_act(policy, _obs(**regular, promo_share=0.6), THURSDAY)]] == "push"  # its most opened
    assert _offer(policy, _obs(**regular)) == "10% home"  # untested: no discount sent in about a quarter, one test discount
    assert _offer(policy, _obs(**regular, sent_discount=1.0)) == "info"  # tested, and did not redeem it
    assert _offer(policy, _obs(**regular, sent_discount=1.0, promo_share=0.2, redeemed_discount=0.4)) == "info"  # below both thresholds
    assert _offer(policy, _obs(**regular, sent_discount=1.0, promo_share=0.3)) == "10% home"
    assert _offer(policy, _obs(frequency=np.log1p(2), bought_home=np.log1p(2), promo_share=1.0)) == "info"  # too few purchases
    weekly = dict(days_since_contact=7 / 365)  # the weekly condition reads whole days: ">= 7" holds on the seventh
    assert _offer(policy, _obs(**regular, **weekly, promo_share=0.6)) == "10% home"
    assert _offer(policy, _obs(**regular, days_since_contact=6 / 365, promo_share=0.6)) == "no contact"
    assert _offer(policy, _obs(frequency=np.log1p(6), promo_share=0.6)) == "info"  # no known category to discount
    assert _offer(policy, _obs(**regular, promo_share=0.6), weekday=0) == "no contact"  # not its day


def test_promo_table_writes_weekly_as_a_week_whatever_the_rounding_of_the_day_count():
    policy = RuleTable.from_yaml("promo")
    contacted = lambda d: _obs(days_since_contact=float(days_since(np.array([0]), d)[0]))  # noqa: E731
    assert _offer(policy, contacted(7)) == "info"
    assert _offer(policy, contacted(6)) == "no contact"


def test_response_history_fields_read_in_a_marketers_units():
    today = 400
    obs = _obs(days_since_open=days_since(np.array([today - 40]), today)[0], days_since_redemption=1.0,
               promo_share=share(np.array([3.0]), np.array([12.0]))[0], order_value=0.45, redeemed_discount=2.5,
               sent_info=4.0, opened_in_kids=1.5, opens_at_evening=2.0)
    v = shopper_fields(obs)
    assert v["days_since_open"][0] == pytest.approx(40.0, abs=1e-4)
    assert v["days_since_redemption"][0] == pytest.approx(365.0)  # never, or a year or more
    assert v["promo_share"][0] == pytest.approx(0.25)
    assert v["order_value"][0] == pytest.approx(45.0)
    assert (v["redeemed_discount"][0], v["sent_info"][0], v["opened_in_kids"][0], v["opens_at_evening"][0]) == (2.5, 4.0, 1.5, 2.0)
    policy = RuleTable("t", [Rule(segment="a", offer="info", channel="email", slot="morning",
                                  when={"days_since_open": "30..50", "promo_share": "> 0.2", "order_value": ">= 40"})])
    assert _offer(policy, obs, weekday=0) == "info"
    assert _offer(policy, _obs(days_since_open=10 / 365, promo_share=0.25, order_value=0.45), weekday=0) == "no contact"


def test_every_field_reads_one_value_per_shopper_and_the_response_history_is_all_there():
    obs = np.random.default_rng(0).random((5, N_FEATURES)).astype(np.float32)
    values = shopper_fields(obs)
    assert all(values[name].shape == (5,) for name in FIELDS)
    history = FEATURE_NAMES[index("sent_info"):index("days_since_redemption") + 1]
    assert set(history) <= set(FIELDS)
    assert {f"redeemed_{k}" for k in OFFER_KINDS} | {f"redeemed_in_{c}" for c in CATEGORY_NAMES} <= set(FIELDS)


def test_a_condition_on_an_unknown_field_names_it_and_lists_the_response_history_fields(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nrules:\n  - {segment: a, offer: info, channel: email, slot: morning, any: {promo_sahre: '>= 0.3'}}")
    with pytest.raises(ValueError, match=r"any\.promo_sahre: unknown field; known fields: .*redeemed_discount, .*promo_share, order_value"):
        RuleTable.from_yaml(path)


def test_the_policies_page_lists_every_rule_field():
    """Each field, its category, channel, slot, offer kind or holiday written as a placeholder, is named in docs/policies.md."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "policies.md").read_text(encoding="utf-8")
    families = {"{category}": CATEGORY_NAMES, "{channel}": CHANNEL_NAMES, "{slot}": SLOTS, "{kind}": OFFER_KINDS,
                "{holiday}": HOLIDAY_NAMES}

    def pattern(name: str) -> str:
        for placeholder, names in families.items():
            for x in sorted(names, key=len, reverse=True):
                if name.endswith(f"_{x}"):
                    return f"{name[: -len(x)]}{placeholder}"
        return name

    missing = sorted({pattern(name) for name in FIELDS if f"`{pattern(name)}`" not in page})
    assert not missing, f"docs/policies.md does not name these rule fields: {missing}"
