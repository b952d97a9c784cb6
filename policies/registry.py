"""Policies by name, as experiment configs list them."""

from __future__ import annotations

from bandits.bootstrap import BootstrapEnsemble
from bandits.epsilon_greedy import EpsilonGreedy
from bandits.linucb import LinUCB
from bandits.thompson import LinearThompson
from policies.base import Policy
from policies.baselines import Blast, NoContact, RandomPolicy
from policies.oracle import Oracle
from policies.rules import RULES_DIR, RuleTable
from sim.market import MarketModel

BASELINES = ("no_contact", "random", "blast", "oracle")
LEARNERS = {"epsilon_greedy": EpsilonGreedy, "linucb": LinUCB, "thompson": LinearThompson, "bootstrap": BootstrapEnsemble}
"""learning policies by name; their hyperparameters come from ``configs/policy/<name>.yaml``"""


def known_policies() -> tuple[str, ...]:
    """Every name :func:`make_policy` accepts: baselines, learners, and one ``rules_<table>`` per rule table."""
    return BASELINES + tuple(LEARNERS) + tuple(f"rules_{p.stem}" for p in sorted(RULES_DIR.glob("*.yaml")))


def make_policy(name: str, market: MarketModel, params: dict | None = None) -> Policy:
    """A fresh policy for one run on ``market`` (only the oracle keeps a reference to it).

    ``params`` are a learner's hyperparameters; an unknown or out-of-range one is a ValueError
    naming ``policies.<name>.<key>``.
    """
    if name in LEARNERS:
        try:
            return LEARNERS[name](**(params or {}))
        except TypeError as e:
            raise ValueError(f"policies.{name}: {e}") from None
        except ValueError as e:
            raise ValueError(f"policies.{name}.{e}") from None
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
