"""Gymnasium view of the market: one shopper's journey, for single-agent RL and for env checkers."""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from sim.catalogue import N_ACTIONS, NO_CONTACT
from sim.config import GuardrailConfig, MarketConfig, PopulationConfig
from sim.features import FEATURE_HIGH, FEATURE_LOW
from sim.market import MarketModel

ENV_ID = "offerlab/ShopperJourney-v0"


def small_market() -> MarketConfig:
    """The default market of :class:`OfferEnv`: small enough that a reset costs milliseconds."""
    return MarketConfig(population=PopulationConfig(size=300), horizon_days=90)


class OfferEnv(gymnasium.Env[np.ndarray, np.int64]):
    """
    ## Description

    One shopper's journey through a simulated retail market (:class:`sim.market.MarketModel`).
    Each step is one day: the agent decides whether and how to contact a *focal* shopper, the
    market simulates that day for every shopper (the others receive no contact, so they are the
    organic background of demand shocks, holidays and social proof), and the agent observes the
    focal shopper's CRM record of the next day. The task is to earn the most profit from that
    shopper before they churn or the horizon ends: a message that is too frequent, irrelevant or
    on an intrusive channel tires the shopper and raises their risk of unsubscribing or leaving.

    ## Action Space

    ``Discrete(N_ACTIONS)`` with ``N_ACTIONS = 1 + offers x channels x slots`` (256). Action 0 is
    no contact; any other action is an (offer, channel, send slot) triple: see
    :func:`sim.catalogue.decode` and :func:`sim.catalogue.action_name` for the layout and readable
    names. The guardrails (channel consent, 7-day frequency cap, daily budget) forbid some
    actions on some days; :meth:`OfferEnv.action_masks` gives the allowed ones (for
    ``sb3_contrib.MaskablePPO``). A forbidden action is not an error: the market refuses it, it
    becomes no contact, and ``info["refused"]`` is True. An integer outside ``[0, N_ACTIONS)`` raises
    ``ValueError``.

    ## Observation Space

    ``Box(FEATURE_LOW, FEATURE_HIGH, (N_FEATURES,), float32)``: the focal shopper's CRM features
    on the current day (recency, frequency, monetary value, category purchases and views, opens,
    demographics, channel consents, contact counts, weekday and holiday closeness). The table of
    features with their bounds is in :mod:`sim.features`. Personal features are 0 for shoppers who
    did not consent to personalised use of their data; latent traits are never shown.

    ## Rewards

    :func:`sim.reward.daily_profit` of the focal shopper on the simulated day: margin of their
    purchases minus discounts paid minus the channel cost of the message. It is negative on a
    day with a message and no purchase, and can be large on a day with a purchase.

    ## Starting State

    A fresh market drawn from ``market_config`` with a seed taken from ``self.np_random``, and a
    focal shopper drawn uniformly among those present on day 0 (newcomers joining later are
    never focal). The same ``reset(seed=...)`` therefore gives the same market, the same focal
    shopper and, under the same actions, the same trajectory.

    ## Episode End

    * Termination: the focal shopper churns (leaves for good) on the simulated day.
    * Truncation: the market reaches ``market_config.horizon_days`` days. The env truncates
      itself, so it is registered without ``max_episode_steps``.

    ## Arguments

    ```python
    import gymnasium as gym
    import sim  # registers the offerlab/ envs
    env = gym.make("offerlab/ShopperJourney-v0", market_config=None, guardrails=None)
    ```

    * ``market_config``: the market to simulate (default: 300 shoppers over 90 days). Its
      ``refill_churned`` is turned off: the episode ends at churn, and the focal row must keep
      the churned shopper's record for the terminal observation.
    * ``guardrails``: frequency cap and daily budget (default :class:`sim.config.GuardrailConfig`).

    ``info`` holds ``day`` (the next day to simulate), ``action_mask`` (bool ``(N_ACTIONS,)``,
    the actions allowed on that day) and, after a step, ``refused``, ``sent``, ``opened`` and
    ``purchases`` of the focal shopper on the simulated day.
    """

    metadata = {"render_modes": []}

    def __init__(self, market_config: MarketConfig | None = None, guardrails: GuardrailConfig | None = None):
        config = market_config if market_config is not None else small_market()
        self.market_config = dataclasses.replace(config, refill_churned=False)
        self.guardrails = guardrails
        self.action_space = spaces.Discrete(N_ACTIONS)
        self.observation_space = spaces.Box(FEATURE_LOW, FEATURE_HIGH, dtype=np.float32)
        self.render_mode = None
        self.market: MarketModel | None = None
        self.focal = -1
        self._ended = True

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.market = MarketModel(self.market_config, self.guardrails, seed=int(self.np_random.integers(2**31 - 1)))
        self.focal = int(self.np_random.choice(np.flatnonzero(self.market.present)))
        self._ended = False
        return self._observe(), self._info()

    def step(self, action: int | np.integer) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action={action!r}: must be an integer in [0, {N_ACTIONS - 1}]")
        if self._ended:
            raise RuntimeError("the episode has ended (or never started): call reset() before step()")
        actions = np.full(self.market.n_rows, NO_CONTACT, dtype=np.int64)
        actions[self.focal] = int(action)
        self.market.step(actions)
        out, f = self.market.outcome, self.focal  # not step's return value: Mesa's step wrapper drops it
        terminated = bool(out.churned[f])
        truncated = self.market.day >= self.market_config.horizon_days
        self._ended = terminated or truncated
        info = self._info(
            refused=bool(action != NO_CONTACT and not out.sent[f]),
            sent=bool(out.sent[f]),
            opened=bool(out.opened[f]),
            purchases=int(out.purchases[f]),
        )
        return self._observe(), float(out.profit[f]), terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """(N_ACTIONS,) bool: the actions the guardrails allow for the focal shopper today."""
        return self.market.action_mask().subset(slice(self.focal, self.focal + 1)).dense()[0]

    def _observe(self) -> np.ndarray:
        return self.market.observe(slice(self.focal, self.focal + 1))[0]

    def _info(self, **today: Any) -> dict[str, Any]:
        return {"day": self.market.day, "action_mask": self.action_masks(), **today}


def register_envs() -> None:
    """Register the ``offerlab/`` envs with Gymnasium; safe to call more than once."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="sim.env:OfferEnv")
