"""Shared fixtures: small markets that run in well under a second a day."""

from __future__ import annotations

import numpy as np
import pytest

from sim.catalogue import N_CHANNELS, N_OFFERS, N_SLOTS, encode
from sim.config import MarketConfig, NetworkConfig, PopulationConfig
from sim.features import FEATURE_HIGH, FEATURE_NAMES, N_FEATURES, RESPONSE_HISTORY
from sim.guardrails import ActionMask


def small_config(size: int = 400, horizon: int = 30, **kwargs) -> MarketConfig:
    return MarketConfig(population=PopulationConfig(size=size, arrivals_per_day=0.01), horizon_days=horizon, **kwargs)


@pytest.fixture
def small_market_config() -> MarketConfig:
    return small_config()


@pytest.fixture
def no_social_config() -> MarketConfig:
    return small_config(network=NetworkConfig(social_weight=0.0))


def random_allowed_actions(mask: ActionMask, rng: np.random.Generator, share: float = 0.3) -> np.ndarray:
    """A random allowed send for about ``share`` of the shoppers who can be contacted, else 0."""
    n = len(mask)
    ok = mask.channel_ok
    pick = rng.random((n, N_CHANNELS)) * ok
    channel = pick.argmax(axis=1)
    send = ok.any(axis=1) & (rng.random(n) < share)
    actions = encode(rng.integers(0, N_OFFERS, n), channel, rng.integers(0, N_SLOTS, n))
    return np.where(send, actions, 0).astype(np.int64)


def contexts(rng: np.random.Generator, n: int) -> np.ndarray:
    """n synthetic observations, every feature uniform on [0, min(its upper bound, 1)]: contexts for the learners' toy problems.

    The campaign-response history is empty (zeros, as in a CRM that has sent nothing yet) and draws nothing, so the
    toy problems are what they were before the CRM kept it; the history's own tests build their shoppers by hand.
    """
    plain = np.array([f not in RESPONSE_HISTORY for f in FEATURE_NAMES])
    x = np.zeros((n, N_FEATURES))
    x[:, plain] = rng.random((n, int(plain.sum())))
    return (x * np.minimum(FEATURE_HIGH, 1.0)).astype(np.float32)
