"""Policies by name, as experiment configs list them; each class is imported when a policy of its name is first used.

The tables map a name to the ``"module:Class"`` that implements it. Importing this module loads
none of them, so that a command which builds no policy (``offerlab --help``, ``experiment=serve``,
``experiment=simulate``) starts without torch, stable-baselines3 or the bandits' compiled kernels,
and so that ``policies`` does not import ``bandits`` (which imports ``policies.base``: a static
import from here would make the two packages a cycle).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policies.base import Policy
from policies.rules import RULES_DIR, RuleTable

if TYPE_CHECKING:
    from sim.market import MarketModel


def resolve(path: str) -> Any:
    """The object a ``"module:name"`` path names, its module imported now (once: Python caches modules)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


class ClassTable(Mapping[str, type]):
    """A read-only ``name -> class`` mapping over ``"module:Class"`` paths: names without imports, a class on lookup."""

    def __init__(self, paths: dict[str, str]):
        self.paths = paths

    def __getitem__(self, name: str) -> type:
        return resolve(self.paths[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"ClassTable({self.paths!r})"


BASELINES = ClassTable({"no_contact": "policies.baselines:NoContact", "random": "policies.baselines:RandomPolicy",
                        "blast": "policies.baselines:Blast", "oracle": "policies.oracle:Oracle", "reference": "policies.planner:Planner"})
"""policies that neither learn nor take hyperparameters; the oracle and the reference alone are built on the market they decide for"""
ON_MARKET = ("oracle", "reference")
"""the baselines that read the market's latent state"""
OPTIONAL = {"vw": importlib.util.find_spec("vowpalwabbit") is not None}
"""learners behind an optional extra, and whether it is installed (found without importing it)"""
_LEARNER_PATHS = {
    "epsilon_greedy": "bandits.epsilon_greedy:EpsilonGreedy",
    "linucb_additive": "bandits.linucb:LinUCB",
    "thompson_additive": "bandits.thompson:LinearThompson",
    "bootstrap": "bandits.bootstrap:BootstrapEnsemble",
    "thompson": "bandits.open_value:OpenValueThompson",
    "linucb": "bandits.open_value:OpenValueUCB",
    "vw": "bandits.vw:VowpalPolicy",
}
LEARNERS = ClassTable({name: path for name, path in _LEARNER_PATHS.items() if OPTIONAL.get(name, True)})
"""learning policies by name (those of an optional extra when it is installed); their hyperparameters are their
constructors' keyword arguments (``policies.<name>.<key>=...``)"""
UPLIFT_MODELS = ("t", "x")
"""the learners of :data:`uplift.models.MODELS`, one policy ``uplift_<model>`` each; named here so that the registry
imports no learner (a test keeps the two equal)"""
TRAINED = ClassTable({"ppo": "policies.ppo.config:PPOConfig", **{f"uplift_{m}": "policies.uplift.config:UpliftConfig" for m in UPLIFT_MODELS}})
"""policies trained before the runs and frozen during them, by name -> their hyperparameters (``policies.<name>.<key>=...``);
``experiments/compare.py`` trains them once per comparison"""
_TRAINED_POLICY = {"ppo": "policies.ppo.inference:PPOPolicy", **{f"uplift_{m}": "policies.uplift.policy:UpliftPolicy" for m in UPLIFT_MODELS}}
"""trained policy by name -> the class that acts with its model (``from_config(name, config)``, the model at ``config.model_path``)"""


def known_policies() -> tuple[str, ...]:
    """Every name :func:`make_policy` accepts: baselines, learners, trained policies, one ``rules_<table>`` per rule table."""
    return tuple(BASELINES) + tuple(LEARNERS) + tuple(TRAINED) + tuple(f"rules_{p.stem}" for p in sorted(RULES_DIR.glob("*.yaml")))


def learner_class(name: str) -> type:
    """The class of the learner called ``name`` (``"linucb_additive"`` -> :class:`bandits.linucb.LinUCB`), imported now."""
    if name not in LEARNERS:
        raise ValueError(f"learner {name!r}: unknown; allowed: {', '.join(LEARNERS)}")
    return LEARNERS[name]


def hyperparameters(name: str) -> dict[str, Any]:
    """The default hyperparameters of learner or trained policy ``name``, read from its code: their one copy.

    A learner's are its constructor's keyword defaults, and ``state`` (a saved state to start
    from; empty: none) where it can resume one; a trained policy's are the fields of its config
    dataclass. ``configs/policy/<name>.yaml`` composes on top of them
    (:func:`experiments.schema.register`), so ``offerlab --cfg job`` shows them. A learner of an
    optional extra has them whether or not the extra is installed.
    """
    if name in TRAINED:
        return {f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
                for f in dataclasses.fields(TRAINED[name])}
    if name not in _LEARNER_PATHS:
        raise ValueError(f"policy {name!r}: has no hyperparameters; these have some: {', '.join([*_LEARNER_PATHS, *TRAINED])}")
    cls = resolve(_LEARNER_PATHS[name])
    params = {k: p.default for k, p in inspect.signature(cls).parameters.items() if p.default is not p.empty}
    return {**params, "state": ""} if hasattr(cls, "load_state") else params


def make_policy(name: str, market: MarketModel | None, params: dict | None = None) -> Policy:
    """A fresh policy for one run on ``market`` (only the oracle and the reference keep a reference to it).

    ``params`` are a learner's hyperparameters (a trained policy's: with ``model_path`` set); an
    unknown or out-of-range one is a ValueError naming ``policies.<name>.<key>``.
    """
    if name in LEARNERS:
        params = dict(params or {})
        state = params.pop("state", "")
        return saved_learner(name, Path(state), params) if state else configured(name, LEARNERS[name], params)
    if name in TRAINED:
        config = configured(name, TRAINED[name], params)
        if not config.model_path:
            alone = "; offerlab experiment=train_ppo trains one alone" if name == "ppo" else ""
            raise ValueError(f"policies.{name}.model_path is empty: {name} needs a trained model (a comparison trains one into "
                             f"<run>/{name}/{alone})")
        try:
            return resolve(_TRAINED_POLICY[name]).from_config(name, config)
        except ValueError as e:
            raise ValueError(f"policies.{name}.{e}") from None
    if name in ON_MARKET:
        return BASELINES[name](market)
    if name in BASELINES:
        return BASELINES[name]()
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
