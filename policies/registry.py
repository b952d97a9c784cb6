"""Policies by name, as experiment configs list them."""

from __future__ import annotations

from policies.base import Policy
from policies.baselines import Blast, NoContact, RandomPolicy
from policies.oracle import Oracle
from policies.rules import RULES_DIR, RuleTable
from sim.market import MarketModel

BASELINES = ("no_contact", "random", "blast", "oracle")


def known_policies() -> tuple[str, ...]:
    """Every name :func:`make_policy` accepts: the baselines and one ``rules_<table>`` per rule table."""
    return BASELINES + tuple(f"rules_{p.stem}" for p in sorted(RULES_DIR.glob("*.yaml")))


def make_policy(name: str, market: MarketModel) -> Policy:
    """A fresh policy for one run on ``market`` (only the oracle keeps a reference to it)."""
    if name == "no_contact":
        return NoContact()
    if name == "random":
        return RandomPolicy()
    if name == "blast":
        return Blast()
    if name == "oracle":
        return Oracle(market)
    if name.startswith("rules_") and (RULES_DIR / f"{name[len('rules_'):]}.yaml").exists():
        return RuleTable.from_yaml(name[len("rules_"):])
    raise ValueError(f"policy {name!r}: unknown; allowed: {', '.join(known_policies())}")
