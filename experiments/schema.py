"""Structured configs behind the YAML in ``configs/``, registered in Hydra's ConfigStore.

Hydra checks key names and types against these dataclasses while composing; :func:`to_config`
then checks ranges (:func:`sim.config.validate`), so every bad setting fails before any work with
a message naming the key, the value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from sim.config import ConfigError, GuardrailConfig, MarketConfig, bounded, validate

TASKS = ("simulate",)


@dataclass
class Config:
    """The root of every run's config (``configs/config.yaml``)."""

    task: str = "simulate"
    """what the command does: simulate = one market under the no-contact holdout, with a daily table"""
    seed: int = bounded(0, ge=0, le=2**31 - 1)
    """the one seed all random streams derive from"""
    market: MarketConfig = field(default_factory=MarketConfig)
    guardrails: GuardrailConfig = field(default_factory=GuardrailConfig)


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
    if obj.task not in TASKS:
        raise ConfigError(f"task={obj.task!r}: unknown; allowed: {', '.join(TASKS)}")
    validate(obj)
    return obj
