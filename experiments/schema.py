"""Structured configs behind the YAML in ``configs/``, registered in Hydra's ConfigStore.

Hydra checks key names and types against these dataclasses while composing; :func:`to_config`
then checks ranges (:func:`sim.config.validate`), so every bad setting fails before any work with
a message naming the key, the value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from policies.registry import LEARNERS, known_policies, make_policy
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
class CalibrationConfig:
    """The Hillstrom replay and fit (``experiments/replay.py``, ``experiments/calibrate.py``)."""

    window_days: int = bounded(14, ge=1, le=365)
    """days of outcomes after the e-mail (the real test's two weeks)"""
    split_seed: int = bounded(2008, ge=0)
    """seed of the random split of the real customers into the fit half and the held-out half"""
    fit_seed: int = bounded(100, ge=0)
    """market seed of every simulation of the fit (common random numbers)"""
    fit_replicas: int = bounded(3, ge=1, le=20)
    """times each fit-half customer is simulated per evaluation (less simulation noise, slower)"""
    diff_step: float = bounded(0.05, gt=0.0, le=1.0)
    """step of the optimiser's forward differences, in the parameters' units (logits)"""
    max_evaluations: int = bounded(400, ge=1)
    """most simulations the optimiser may run"""
    preset: str = "configs/market/hillstrom.yaml"
    """where the fit writes the fitted market preset, relative to the project (empty = only into the run folder)"""


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
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    policies: dict[str, Any] = field(default_factory=dict)
    """learners' hyperparameters by policy name, from configs/policy/<name>.yaml (``policies.linucb.alpha=2``)"""


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
    for name, params in obj.policies.items():
        if name not in LEARNERS:
            raise ConfigError(f"policies.{name}: not a learner with hyperparameters; learners: {', '.join(LEARNERS)}")
        try:
            make_policy(name, None, params)  # learners' constructors check their own values
        except ValueError as e:
            raise ConfigError(str(e)) from None
    if not obj.experiment.seeds or any(s < 0 for s in obj.experiment.seeds) or len(set(obj.experiment.seeds)) != len(obj.experiment.seeds):
        raise ConfigError(f"experiment.seeds={obj.experiment.seeds}: must be distinct integers >= 0, at least one")
    return obj
