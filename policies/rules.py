"""Segment rules as a marketer writes them: a YAML table in ``configs/rules/``, not Python branches.

A table is a list of rules; each shopper gets the action of the first rule it matches, or no
contact. A rule reads like a CRM campaign::

    - segment: at_risk                      # a label for reports
      when: {recency_days: "61..120", days_since_contact: ">= 14"}   # all must hold
      any: {bought_kids: ">= 1", views_kids: ">= 1"}                 # optional: one must hold
      offer: "10% {top_category}"           # an offer name; {top_category} = most bought/browsed
      channel: best_opened                  # a channel, or the shopper's most-opened allowed one
      slot: evening
      weekdays: [fri]                       # optional; every day when absent

Conditions compare a field in readable units (see :data:`FIELDS`) with ``<, <=, >, >=,
==, !=``, a range ``a..b`` (inclusive) or a bare value (equality; ``gender: female``). A shopper
for whom the rule's channel is not allowed today (no consent, frequency cap) gets no contact.
A table naming an unknown field, offer, channel, slot or weekday fails at load, naming it.

The fields are the observation's (:mod:`sim.features`) in a marketer's units: days as days,
purchases and spend as counts and currency, the campaign-response history (``sent_*`` to
``days_since_redemption``) as its decayed counts, ``promo_share`` as a share 0..1 and
``order_value`` in currency. A promotion-sensitive segment, for example::

    - segment: deal_seekers                # configs/rules/promo.yaml
      when: {days_since_contact: ">= 7", purchases: ">= 3"}
      any: {redeemed_discount: ">= 0.5", promo_share: ">= 0.3"}
      offer: "10% {top_category}"

At import, the list of fields below is generated from :data:`FIELDS`, so it cannot disagree
with the code (``docs/policies.md`` groups them by unit).

"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from policies.base import Decision, DecisionContext, Policy, deterministic
from sim.calendar import HOLIDAY_NAMES
from sim.catalogue import CATEGORY_NAMES, CHANNEL_NAMES, OFFER_KINDS, OFFER_NAMES, SLOTS, encode
from sim.features import FEATURES, index
from sim.guardrails import ActionMask
from sim.resources import config_dir

RULES_DIR = config_dir() / "rules"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
GENDERS = {"unknown": 0, "female": 1, "male": 2}
BEST_OPENED = "best_opened"
CHANNEL_PREFERENCE = ("email", "push", "sms", "social_ad", "call_centre")
"""tie-break of ``best_opened`` (cheapest first), as a marketer would order channels"""


Unit = Callable[[np.ndarray], np.ndarray]
"""a conversion from an observation column's unit (:data:`sim.features.FEATURES`) to the unit a marketer reads"""


def as_is(x: np.ndarray) -> np.ndarray:
    """Counts, shares, flags and closeness the observation already holds in a marketer's unit."""
    return x


def days(x: np.ndarray) -> np.ndarray:
    """Days from ``days / 365`` (:func:`sim.features.days_since`, ``days_since_contact``, ``tenure`` in years).

    A capped feature (1 = a year or more, or never) reads 365. Rounded to whole days, which is what
    the feature counts: ``7 / 365`` in float32 times 365 is 6.9999995, and ``">= 7"`` must hold on the seventh day.
    """
    return np.rint(x * 365.0)


def from_log1p(x: np.ndarray) -> np.ndarray:
    """A count or an amount from ``log(1 + x)`` (``frequency``, ``monetary``, ``bought_*``)."""
    return np.expm1(x)


def currency(x: np.ndarray) -> np.ndarray:
    """Currency from ``currency / 100`` (``order_value``)."""
    return x * 100.0


@dataclass(frozen=True)
class RuleField:
    """A field rules are written in: ``read`` computes it, in readable units, from a batch's observation columns."""

    name: str
    doc: str
    read: Callable[[FieldValues], np.ndarray]


def _column(name: str, feature: str | None = None, unit: Unit = as_is, doc: str | None = None) -> RuleField:
    """The field ``name`` read from one observation column (``feature``, default the same name) through ``unit``.

    A field read as is keeps its feature's own doc, so the two cannot disagree.
    """
    feature = feature or name
    return RuleField(name, doc or FEATURES[index(feature)].doc, lambda v: unit(v.column(feature)))


def _top_category(v: FieldValues) -> np.ndarray:
    """Index of the category most bought plus browsed; -1 for a shopper with neither."""
    affinity = np.stack([v[f"bought_{c}"] + v[f"views_{c}"] for c in CATEGORY_NAMES], axis=1)
    return np.where(affinity.max(axis=1) > 0, affinity.argmax(axis=1), -1).astype(np.float64)


def _fields() -> dict[str, RuleField]:
    f = [
        _column("recency_days", "recency", days, "days since the last purchase (365 = a year or more, or never)"),
        _column("purchases", "frequency", from_log1p, "purchases in the CRM's memory"),
        _column("spend", "monetary", from_log1p, "spend in the CRM's memory, in currency"),
        _column("tenure_days", "tenure", days, "days since the shopper joined"),
        _column("contacts_7d"),
        _column("contacts_30d"),
        _column("days_since_contact", unit=days, doc="days since the last message (365 = a year or more, or never)"),
        _column("days_to_birthday", "birthday_in", lambda x: np.rint(x * 364.0), "days until the birthday"),
        _column("age_band", unit=lambda x: np.rint(x * 4.0), doc="0 = 18-24 ... 4 = 55+"),
        RuleField("gender", "female | male | unknown",
                  lambda v: v.column("gender_female") * GENDERS["female"] + v.column("gender_male") * GENDERS["male"]),
        _column("personal_data"),
        RuleField("top_category", f"most bought/browsed category ({', '.join(CATEGORY_NAMES)} | none)", _top_category),
    ]
    f += [_column(f"bought_{c}", unit=from_log1p, doc=f"purchases in {c}") for c in CATEGORY_NAMES]
    f += [_column(f"{family}_{x}") for family, names in (("views", CATEGORY_NAMES), ("opens", CHANNEL_NAMES), ("sessions", SLOTS))
          for x in names]
    # the campaign-response history: decayed counts as counts, the promotion share as a share 0..1
    f += [_column(f"{family}_{k}") for family in ("sent", "opened", "redeemed") for k in OFFER_KINDS]
    f += [_column(f"{family}_{c}") for family in ("opened_in", "redeemed_in") for c in CATEGORY_NAMES]
    f += [
        _column("promo_share"),
        _column("order_value", unit=currency, doc="average order value in the CRM's memory, in currency; 0 without purchases"),
    ]
    f += [_column(f"opens_at_{s}") for s in SLOTS]
    f += [
        _column("days_since_open", unit=days, doc="days since the last opened message (365 = a year or more, or never)"),
        _column("days_since_redemption", unit=days, doc="days since the last purchase with a redeemed offer (365 = a year or more, "
                                                        "or never)"),
    ]
    f += [_column(f"consent_{h}") for h in CHANNEL_NAMES]
    f += [_column(f"holiday_{h}") for h in HOLIDAY_NAMES]
    return {x.name: x for x in f}


FIELDS: dict[str, RuleField] = _fields()
"""every field a rule may name, in readable units: the one table of them"""
__doc__ = (__doc__ or "") + "\n".join(f"- ``{f.name}``: {f.doc}" for f in FIELDS.values())
_OPS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt}
_CONDITION = re.compile(r"^\s*(<=|>=|==|!=|<|>)?\s*(\S+?)\s*$")
_RANGE = re.compile(r"^\s*(-?[\d.]+)\s*\.\.\s*(-?[\d.]+)\s*$")


class FieldValues(Mapping[str, np.ndarray]):
    """The :data:`FIELDS` of a batch of observations, each computed when a rule first reads it.

    A table reads a handful of the fields; computing only those keeps a day's decision as cheap
    as the table is short, however many fields rules may name.
    """

    def __init__(self, obs: np.ndarray):
        self.obs = obs
        self._values: dict[str, np.ndarray] = {}

    def column(self, feature: str) -> np.ndarray:
        """(n,) an observation column, in the units of :mod:`sim.features`."""
        return self.obs[:, index(feature)]

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._values:
            self._values[name] = FIELDS[name].read(self)
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(FIELDS)

    def __len__(self) -> int:
        return len(FIELDS)


def shopper_fields(obs: np.ndarray) -> FieldValues:
    """The readable fields rules are written in, computed from the observation columns as they are read."""
    return FieldValues(obs)


@dataclass
class Condition:
    field: str
    test: str

    def parse(self, where: str) -> tuple:
        """(op, value) or ("range", lo, hi); categorical fields take names."""
        if self.field not in FIELDS:
            raise ValueError(f"{where}.{self.field}: unknown field; known fields: {', '.join(FIELDS)}")
        text = str(self.test)
        m = _RANGE.match(text)
        if m:
            return ("range", float(m.group(1)), float(m.group(2)))
        m = _CONDITION.match(text)
        if not m:
            raise ValueError(f"{where}.{self.field}={text!r}: not a condition; write e.g. '>= 3', '10..30' or a value")
        op, raw = m.group(1) or "==", m.group(2)
        return (op, self._value(raw, where))

    def _value(self, raw: str, where: str) -> float:
        if self.field == "gender":
            if raw not in GENDERS:
                raise ValueError(f"{where}.gender={raw!r}: unknown; allowed: {', '.join(GENDERS)}")
            return float(GENDERS[raw])
        if self.field == "top_category":
            if raw != "none" and raw not in CATEGORY_NAMES:
                raise ValueError(f"{where}.top_category={raw!r}: unknown; allowed: {', '.join(CATEGORY_NAMES)}, none")
            return float(CATEGORY_NAMES.index(raw)) if raw != "none" else -1.0
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{where}.{self.field}={raw!r}: must be a number") from None

    def holds(self, values: Mapping[str, np.ndarray], parsed: tuple) -> np.ndarray:
        x = values[self.field]
        if parsed[0] == "range":
            return (x >= parsed[1]) & (x <= parsed[2])
        return _OPS[parsed[0]](x, parsed[1])


@dataclass
class Rule:
    segment: str
    offer: str
    channel: str
    slot: str
    when: dict[str, str] = field(default_factory=dict)
    any: dict[str, str] = field(default_factory=dict)
    weekdays: list[str] = field(default_factory=lambda: list(WEEKDAYS))


class RuleTable(Policy):
    """A segment-rule policy named ``rules_<table>``; see the module docstring for the format."""

    def __init__(self, name: str, rules: list[Rule], source: str = "<rules>"):
        self.name = f"rules_{name}"
        self.table = name
        self.rules = rules
        self._compiled = [self._compile(r, f"{source}: rules[{k}] ({r.segment})") for k, r in enumerate(rules)]

    @classmethod
    def from_yaml(cls, path: Path | str) -> RuleTable:
        """Load ``configs/rules/<name>.yaml`` (or any path); every name is checked here."""
        path = Path(path)
        if not path.suffix:
            path = RULES_DIR / f"{path}.yaml"
        if not path.exists():
            known = ", ".join(sorted(p.stem for p in RULES_DIR.glob("*.yaml")))
            raise FileNotFoundError(f"rule table {path}: no such file; tables in {RULES_DIR}: {known}")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "rules" not in data or not isinstance(data["rules"], list):
            raise ValueError(f"{path}: a rule table is a mapping with 'name' and a list 'rules'")
        rules = []
        for k, raw in enumerate(data["rules"]):
            where = f"{path}: rules[{k}]"
            if not isinstance(raw, dict):
                raise ValueError(f"{where}: must be a mapping with segment, offer, channel, slot")
            unknown = set(raw) - {"segment", "offer", "channel", "slot", "when", "any", "weekdays"}
            if unknown:
                raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: segment, offer, channel, slot, when, any, weekdays")
            missing = {"segment", "offer", "channel", "slot"} - set(raw)
            if missing:
                raise ValueError(f"{where}: missing {sorted(missing)}")
            rules.append(Rule(**raw))
        return cls(str(data.get("name", path.stem)), rules, str(path))

    def _compile(self, rule: Rule, where: str) -> dict:
        target = Target.parse(rule.offer, rule.channel, rule.slot, where)
        for d in rule.weekdays:
            if d not in WEEKDAYS:
                raise ValueError(f"{where}.weekdays: {d!r} is not a weekday; allowed: {', '.join(WEEKDAYS)}")
        conds = lambda group, name: [(Condition(f, t), Condition(f, t).parse(f"{where}.{name}")) for f, t in group.items()]  # noqa: E731
        return {
            "when": conds(rule.when, "when"),
            "any": conds(rule.any, "any"),
            "target": target,
            "weekdays": {WEEKDAYS.index(d) for d in rule.weekdays},
        }

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        n = len(obs)
        values = shopper_fields(obs)
        top = values["top_category"].astype(np.int64)
        actions = np.zeros(n, dtype=np.int64)
        open_ = np.ones(n, dtype=bool)  # not matched by an earlier rule
        best = best_opened_channel(values, mask)
        for rule in self._compiled:
            if context.weekday not in rule["weekdays"]:
                continue
            hit = open_.copy()
            for cond, parsed in rule["when"]:
                hit &= cond.holds(values, parsed)
            if rule["any"]:
                hit &= np.logical_or.reduce([cond.holds(values, parsed) for cond, parsed in rule["any"]])
            known, action = rule["target"].resolve(top, best, mask)
            hit &= known  # a {top_category} offer needs a known category
            send = hit & (action > 0)  # a matched shopper whose channel is not allowed today gets no contact
            actions[send] = action[send]
            open_ &= ~hit
        return deterministic(actions)


@dataclass(eq=False)
class Target:
    """What a rule sends (and an uplift arm, :mod:`policies.uplift.arms`): an offer, a channel and a slot, the offer
    perhaps the ``{top_category}`` template and the channel ``best_opened``, resolved per shopper from the observation."""

    offers: np.ndarray
    """(C + 1,) offer index for each top category, the last for a shopper with none; -1 = the template needs a category"""
    channel: int
    """channel index; -1 = :data:`BEST_OPENED`"""
    slot: int

    @classmethod
    def parse(cls, offer: str, channel: str, slot: str, where: str) -> Target:
        """The target of an offer, channel and slot as a rule names them; an unknown name is a ValueError naming ``where``."""
        offers = offer_per_category(offer, f"{where}.offer")
        if channel != BEST_OPENED and channel not in CHANNEL_NAMES:
            raise ValueError(f"{where}.channel={channel!r}: unknown; allowed: {', '.join(CHANNEL_NAMES)}, {BEST_OPENED}")
        if slot not in SLOTS:
            raise ValueError(f"{where}.slot={slot!r}: unknown; allowed: {', '.join(SLOTS)}")
        return cls(offers, -1 if channel == BEST_OPENED else CHANNEL_NAMES.index(channel), SLOTS.index(slot))

    def resolve(self, top: np.ndarray, best: np.ndarray, mask: ActionMask) -> tuple[np.ndarray, np.ndarray]:
        """(n,) whether each shopper has the offer (a known category where the template needs one), and (n,) the action
        sent to them, 0 where it cannot be sent today (no offer, or its channel not allowed).

        ``top`` is the shoppers' ``top_category`` (-1: none), ``best`` their :func:`best_opened_channel`.
        """
        n = len(top)
        offer = self.offers[np.where(top >= 0, top, len(CATEGORY_NAMES))]
        channel = best if self.channel < 0 else np.full(n, self.channel)
        allowed = (offer >= 0) & (channel >= 0) & mask.channel_ok[np.arange(n), np.maximum(channel, 0)]
        return offer >= 0, np.where(allowed, encode(np.maximum(offer, 0), np.maximum(channel, 0), self.slot), 0).astype(np.int64)

    def actions(self) -> set[int]:
        """Every action this target can resolve to, for some shopper."""
        channels = range(len(CHANNEL_NAMES)) if self.channel < 0 else [self.channel]
        return {int(encode(o, h, self.slot)) for o in set(self.offers[self.offers >= 0].tolist()) for h in channels}


def offer_per_category(template: str, where: str) -> np.ndarray:
    """(C + 1,) offer index for each top category (last entry: no known category; -1 = not applicable)."""
    if "{top_category}" not in template:
        if template not in OFFER_NAMES:
            raise ValueError(f"{where}={template!r}: unknown offer; allowed: {', '.join(OFFER_NAMES)} (or a name with {{top_category}})")
        return np.full(len(CATEGORY_NAMES) + 1, OFFER_NAMES.index(template))
    names = [template.replace("{top_category}", c) for c in CATEGORY_NAMES]
    bad = [n for n in names if n not in OFFER_NAMES]
    if bad:
        raise ValueError(f"{where}={template!r}: {bad[0]!r} is not an offer; allowed: {', '.join(OFFER_NAMES)}")
    return np.array([OFFER_NAMES.index(n) for n in names] + [-1])


def best_opened_channel(values: Mapping[str, np.ndarray], mask: ActionMask) -> np.ndarray:
    """(n,) the allowed channel the shopper opened most, ties broken by :data:`CHANNEL_PREFERENCE`; -1 if none."""
    order = [CHANNEL_NAMES.index(h) for h in CHANNEL_PREFERENCE]
    opens = np.stack([values[f"opens_{CHANNEL_NAMES[h]}"] for h in order], axis=1)
    score = np.where(mask.channel_ok[:, order], opens + 1.0, -np.inf)  # +1: an allowed channel beats none
    choice = np.asarray(order)[score.argmax(axis=1)]
    return np.where(np.isfinite(score.max(axis=1)), choice, -1)


