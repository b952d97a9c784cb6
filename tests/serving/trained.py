"""Learners with some experience, and the observations a real market shows them (shared by the export and serving tests)."""

from __future__ import annotations

import functools

import numpy as np

from policies.base import Feedback, Policy
from policies.registry import make_policy
from sim.catalogue import N_ACTIONS
from sim.config import GuardrailConfig
from sim.guardrails import ActionMask
from sim.market import MarketModel
from tests.conftest import random_allowed_actions, small_config


@functools.cache
def market_observations(n_rows: int, days: int, seed: int = 0) -> list[tuple[np.ndarray, ActionMask, int]]:
    """(observations, guardrail mask, weekday) of every day of a market under random sends: what a policy really meets.

    Cached: callers only read them."""
    market = MarketModel(small_config(size=n_rows, horizon=days + 1), GuardrailConfig(), seed=seed)
    rng = np.random.default_rng(seed)
    out = []
    for t in range(days):
        rows = np.flatnonzero(market.present)
        mask = market.action_mask()
        out.append((market.observe(rows), mask.subset(rows), market.calendar.weekday(t)))
        market.step(random_allowed_actions(mask, rng))
    return out


def trained(name: str, send_reward: float = -0.2, seed: int = 0) -> Policy:
    """A learner that has seen 3,000 random decisions: every 7th action pays 2, other sends ``send_reward``, plus noise."""
    policy = make_policy(name, None)
    rng = np.random.default_rng(seed)
    obs = np.concatenate([o for o, _, _ in market_observations(300, 10, seed)])
    actions = rng.integers(0, N_ACTIONS, len(obs))
    reward = np.where(actions % 7 == 1, 2.0, send_reward) * (actions > 0) + rng.normal(0, 0.5, len(obs))
    opened = (actions > 0) & (rng.random(len(obs)) < 0.5)  # for the learners that learn opens apart (thompson)
    policy.update(Feedback(np.zeros(len(obs)), obs, actions, np.ones(len(obs)), reward, opened))
    return policy
