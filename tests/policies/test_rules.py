"""Rule tables: loaded from readable YAML, checked at load, applied first-match like a CRM."""

from __future__ import annotations

import numpy as np
import pytest

from policies.base import DecisionContext
from policies.rules import RULES_DIR, Rule, RuleTable
from sim import MarketModel
from sim.catalogue import ACTION_OFFER, OFFER_NAMES
from sim.features import N_FEATURES, index
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
    with pytest.raises(FileNotFoundError, match="tables in .*: affinity, calendar, rfm, winback"):
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
    for table in ("rfm", "winback", "affinity", "calendar"):
        policy = RuleTable.from_yaml(table)
        rows = np.flatnonzero(market.present)
        mask = market.action_mask().subset(rows)
        for weekday in range(7):
            ctx = DecisionContext(day=0, weekday=weekday, rng=np.random.default_rng(0), rows=rows)
            assert mask.allows(policy.act(market.observe(rows), mask, ctx).actions).all()
