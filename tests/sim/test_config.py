import dataclasses

import pytest

from sim import ConfigError, GuardrailConfig, MarketConfig, MarketModel
from sim.config import PopulationConfig, ResponseParams


@pytest.mark.parametrize(
    "config, message",
    [
        (MarketConfig(population=PopulationConfig(size=50)), r"market\.population\.size=50: must be in \[100, 10000000\]"),
        (MarketConfig(horizon_days=0), r"market\.horizon_days=0: must be in \[1, 3650\]"),
        (MarketConfig(response=ResponseParams(fatigue_half_life=0.0)), r"market\.response\.fatigue_half_life=0\.0: must be in \(0\.0, 365\.0\]"),
        (MarketConfig(start_date="yesterday"), r"market\.start_date='yesterday': must be an ISO date"),
        (MarketConfig(population=PopulationConfig(archetype_weights={"wizard": 1.0})), r"archetype_weights\.wizard: unknown archetype; allowed: bargain_hunter"),
    ],
)
def test_bad_market_values_fail_at_start_naming_field_value_and_range(config, message):
    with pytest.raises(ConfigError, match=message):
        MarketModel(config, seed=0)


def test_bad_guardrail_and_seed_values_fail_at_start():
    with pytest.raises(ConfigError, match=r"guardrails\.frequency_cap_7d=-1"):
        MarketModel(MarketConfig(population=PopulationConfig(size=100)), GuardrailConfig(frequency_cap_7d=-1))
    with pytest.raises(ValueError, match=r"seed=-3"):
        MarketModel(MarketConfig(population=PopulationConfig(size=100)), seed=-3)


def test_the_defaults_are_valid():
    cfg = MarketConfig()
    assert cfg.population.size == 50_000
    assert dataclasses.replace(cfg, horizon_days=1).horizon_days == 1
