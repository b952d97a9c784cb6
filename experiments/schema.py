"""Structured configs behind the YAML in ``configs/``, registered in Hydra's ConfigStore.

Hydra checks key names and types against these dataclasses while composing; :func:`to_config`
then checks ranges (:func:`sim.config.validate`), so every bad setting fails before any work with
a message naming the key, the value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from policies.registry import known_policies
from sim.config import ConfigError, GuardrailConfig, MarketConfig, bounded, validate

@dataclass
class ExperimentConfig:
    """Which policies meet which seeds; presets in ``configs/experiment/``."""

    name: str = "compare"
    policies: list[str] = field(
        default_factory=lambda: ["no_contact", "random", "blast", "rules_rfm", "rules_affinity", "rules_winback", "rules_calendar", "oracle"]
    )
    """policy names (see policies/registry.py); the no_contact twin is always added"""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    """market seeds; every policy runs on each (common random numbers)"""
    log_shoppers: int = bounded(500, ge=-1)
    """shoppers per run whose every decision goes to decisions.parquet (-1 = all, 0 = no log)"""
    jobs: int = bounded(2, ge=1, le=64)
    """runs in parallel processes; results do not depend on it"""


@dataclass
class Config:
    """The root of every run's config (``configs/config.yaml``)."""

    task: str = "compare"
    """a key of experiments.tasks.TASKS: compare = policies x seeds with a report; simulate = one market, no contact"""
    seed: int = bounded(0, ge=0, le=2**31 - 1)
    """the one seed all random streams derive from"""
    market: MarketConfig = field(default_factory=MarketConfig)
    guardrails: GuardrailConfig = field(default_factory=GuardrailConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)


def register() -> None:
    """Put the schemas where the YAML files' defaults lists find them."""
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(group="market", name="market_schema", node=MarketConfig)
    cs.store(group="guardrails", name="guardrails_schema", node=GuardrailConfig)


def to_config(cfg: DictConfig) -> Config:
    """The composed config as typed dataclasses, with every range checked."""
    obj = OmegaConf.to_object(cfg)
    assert isinstance(obj, Config)
    validate(obj)
    known = known_policies()
    for name in obj.experiment.policies:
        if name not in known:
            raise ConfigError(f"experiment.policies: {name!r} is unknown; allowed: {', '.join(known)}")
    if not obj.experiment.seeds or any(s < 0 for s in obj.experiment.seeds) or len(set(obj.experiment.seeds)) != len(obj.experiment.seeds):
        raise ConfigError(f"experiment.seeds={obj.experiment.seeds}: must be distinct integers >= 0, at least one")
    return obj
