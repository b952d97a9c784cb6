import dataclasses
import re

import pytest

from sim import ConfigError, GuardrailConfig, MarketConfig, MarketModel
from sim.config import PopulationConfig, ResponseParams, validate


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


def bounded_settings(cfg: object, path: str) -> list[tuple[str, object, dataclasses.Field]]:
    """(dotted key, the dataclass holding it, its field) of every setting with a range, nested sections included."""
    out = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out += bounded_settings(value, f"{path}{f.name}.")
        elif any(f.metadata.get(k) is not None for k in ("ge", "le", "gt")):
            out.append((f"{path}{f.name}", cfg, f))
    return out


def test_the_defaults_pass_the_checks_a_market_runs_at_start():
    validate(MarketConfig(), "market.")
    validate(GuardrailConfig(), "guardrails.")


def test_every_setting_is_accepted_at_the_edges_of_its_range_and_refused_just_outside_naming_its_key():
    """A user who mistypes any setting is told which one, the value given and the range, however deeply it is nested."""
    keys = []
    for root, path in ((MarketConfig(), "market."), (GuardrailConfig(), "guardrails.")):
        for key, holder, f in bounded_settings(root, path):
            keys.append(key)
            lo, hi, gt = (f.metadata.get(k) for k in ("ge", "le", "gt"))
            whole = isinstance(getattr(holder, f.name), int)
            step = 1 if whole else 1e-6
            inside = [v for v in (lo, hi) if v is not None] + ([gt + step] if gt is not None else [])
            outside = ([lo - step] if lo is not None else []) + ([hi + step] if hi is not None else []) + ([gt] if gt is not None else [])
            default = getattr(holder, f.name)
            for value in inside:
                setattr(holder, f.name, int(value) if whole else value)
                validate(root, path)
            for value in outside:
                value = int(value) if whole else value
                setattr(holder, f.name, value)
                with pytest.raises(ConfigError, match=re.escape(f"{key}={value!r}: must be in ")):
                    validate(root, path)
            setattr(holder, f.name, "90")
            with pytest.raises(ConfigError, match=re.escape(f"{key}='90': must be a number")):
                validate(root, path)
            setattr(holder, f.name, default)
    assert {"market.horizon_days", "market.population.size", "market.network.social_weight", "market.response.churn_recency",
            "market.population.customer_effects.basket_scale", "guardrails.frequency_cap_7d", "guardrails.daily_budget"} <= set(keys)
