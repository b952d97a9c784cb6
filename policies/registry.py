"""Policies by name, as experiment configs list them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bandits import vw
from bandits.bootstrap import BootstrapEnsemble
from bandits.epsilon_greedy import EpsilonGreedy
from bandits.linucb import LinUCB
from bandits.open_value import OpenValueThompson, OpenValueUCB
from bandits.thompson import LinearThompson
from policies.base import Policy
from policies.baselines import Blast, NoContact, RandomPolicy
from policies.oracle import Oracle
from policies.ppo import PPOConfig, PPOPolicy
from policies.rules import RULES_DIR, RuleTable
from sim.market import MarketModel

BASELINES = ("no_contact", "random", "blast", "oracle")
LEARNERS = {"epsilon_greedy": EpsilonGreedy, "linucb": LinUCB, "thompson": LinearThompson, "bootstrap": BootstrapEnsemble,
            "open_value": OpenValueThompson, "open_value_ucb": OpenValueUCB}
"""learning policies by name; their hyperparameters come from ``configs/policy/<name>.yaml``"""
OPTIONAL = {"vw": vw.available()}
"""learners behind an optional extra, and whether it is installed"""
if OPTIONAL["vw"]:
    LEARNERS["vw"] = vw.VowpalPolicy
TRAINED = {"ppo": PPOConfig}
"""policies trained before the runs and frozen during them, by name -> their hyperparameters (``configs/policy/<name>.yaml``);
``experiments/compare.py`` trains them once per comparison"""


def known_policies() -> tuple[str, ...]:
    """Every name :func:`make_policy` accepts: baselines, learners, trained policies, one ``rules_<table>`` per rule table."""
    return BASELINES + tuple(LEARNERS) + tuple(TRAINED) + tuple(f"rules_{p.stem}" for p in sorted(RULES_DIR.glob("*.yaml")))


def make_policy(name: str, market: MarketModel, params: dict | None = None) -> Policy:
    """A fresh policy for one run on ``market`` (only the oracle keeps a reference to it).

    ``params`` are a learner's hyperparameters (a trained policy's: with ``model_path`` set); an
    unknown or out-of-range one is a ValueError naming ``policies.<name>.<key>``.
    """
    if name in LEARNERS:
        params = dict(params or {})
        state = params.pop("state", "")
        return saved_learner(name, Path(state), params) if state else configured(name, LEARNERS[name], params)
    if name == "ppo":
        config = configured(name, PPOConfig, params)
        if not config.model_path:
            raise ValueError("policies.ppo.model_path is empty: PPO needs a trained model (a comparison trains one into <run>/ppo/; "
                             "offerlab experiment=train_ppo trains one alone)")
        return PPOPolicy.from_file(Path(config.model_path), config.deterministic)
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


def saved_learner(name: str, state: Path, params: dict) -> Policy:
    """A learner resumed from ``state`` (``experiment.save_policies=true`` wrote it); it goes on learning in the run.

    The state fixes the hyperparameters it was trained with; one set otherwise in the config is an
    error naming it rather than silently ignored.
    """
    cls = LEARNERS[name]
    if not hasattr(cls, "load_state"):
        raise ValueError(f"policies.{name}.state: {name} cannot resume from a saved state")
    try:
        policy = cls.load_state(state)
    except ValueError as e:
        raise ValueError(f"policies.{name}.state={str(state)!r}: {e}") from None
    for key, value in params.items():
        if key in policy.params() and policy.params()[key] != value:
            raise ValueError(f"policies.{name}.{key}={value!r}: the saved state {state} was trained with {policy.params()[key]!r}; "
                             f"set it to that or leave the state out")
    return policy


def configured(name: str, cls: type, params: dict | None) -> Any:
    """``cls(**params)``; a bad key or value is a ValueError naming ``policies.<name>.<key>``."""
    try:
        return cls(**(params or {}))
    except TypeError as e:
        raise ValueError(f"policies.{name}: {e}") from None
    except ValueError as e:
        raise ValueError(f"policies.{name}.{e}") from None


def check_params(name: str, params: dict | None, seeds: list[int] | None = None) -> None:
    """Check a learner's or trained policy's hyperparameters without training or loading anything.

    With ``seeds`` (the experiment's), a trained policy's training and evaluation market seeds
    must also miss them, so that it is never evaluated on the shoppers it was trained on.
    """
    if name not in TRAINED:
        policy = make_policy(name, None, params)
        overlap = sorted(set(getattr(policy, "learned_on", ())) & set(seeds or ()))
        if overlap:
            raise ValueError(f"policies.{name}.state={params['state']!r}: learned on seed(s) {overlap} of this experiment; "
                             f"evaluate it on other seeds (the shoppers of a seed it learned from are not new to it)")
        return
    config = configured(name, TRAINED[name], params)
    if seeds is not None:
        try:
            config.check_held_out(seeds)
        except ValueError as e:
            raise ValueError(f"policies.{name}.{e}") from None
