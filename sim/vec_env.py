"""Stable-Baselines3 view of the market: every shopper row of one market is a parallel env."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

from sim.catalogue import N_ACTIONS
from sim.config import GuardrailConfig, MarketConfig
from sim.features import FEATURE_HIGH, FEATURE_LOW
from sim.market import MarketModel


class MarketVecEnv(VecEnv):
    """All rows of one market as ``num_envs = market.n_rows`` envs, stepped by one ``market.step``.

    Wrapping each shopper in its own :class:`sim.env.OfferEnv` would simulate a whole market per
    shopper; here one simulated day serves every env at once, so a policy acts on the whole
    population as it would in production, and shoppers influence each other (social proof,
    shared demand shocks) as they do in the market. Observations, action space and rewards per
    env are those of :class:`sim.env.OfferEnv` (one row of :meth:`MarketModel.observe`, one of
    ``N_ACTIONS`` actions, :func:`sim.reward.daily_profit` of that row); actions the guardrails
    forbid are refused by the market and become no contact; :meth:`action_masks` gives the
    allowed ones as a ``(num_envs, N_ACTIONS)`` bool array.

    Reset semantics. The market is built with ``refill_churned=True`` (a copy of the config is
    changed; the caller's is not), so rows are never left empty:

    a. A shopper who churns on a simulated day ends that env's episode: ``dones[i]`` is True,
       ``infos[i]["TimeLimit.truncated"]`` is False and ``infos[i]["terminal_observation"]`` is the
       shopper's last observation, the one their last action was chosen on. (The market gives
       the row to a newcomer within that same ``market.step``, so the churned shopper's record
       after the day no longer exists; SB3 bootstraps only from truncated episodes' terminal
       observations, so a terminated one is informational.) The newcomer joins on the next
       day: the observation returned for row i is already theirs, as SB3 expects of an env
       that resets itself.
    b. Rows of shoppers who have not joined yet are envs like the others: their observation is
       zeros but the calendar, only action 0 (no contact) is allowed and their reward is 0.
    c. When the market reaches ``horizon_days``, every env reports ``dones[i] = True`` with its
       ``terminal_observation`` and ``TimeLimit.truncated = True`` (except rows whose shopper
       churned on that last day, see a.), and a fresh market is built with the next seed:
       episode k (counting from 0) runs on a market seeded ``seed + k``. :meth:`reset` starts the
       next episode the same way unless the current market has not been stepped yet, so the
       first ``reset()`` after construction or :meth:`seed` runs on exactly that seed.
    """

    render_mode = None  # read by VecEnv.__init__ through get_attr; the market draws nothing

    def __init__(self, market_config: MarketConfig, guardrails: GuardrailConfig | None = None, seed: int = 0):
        self.market_config = dataclasses.replace(market_config, refill_churned=True)
        self.guardrails = guardrails
        self._seed = int(seed)
        self._start(episode=0)
        self._actions: np.ndarray | None = None
        super().__init__(
            num_envs=self.market.n_rows,
            observation_space=spaces.Box(FEATURE_LOW, FEATURE_HIGH, dtype=np.float32),
            action_space=spaces.Discrete(N_ACTIONS),
        )

    def _start(self, episode: int) -> None:
        """Build the market of ``episode``; its row count depends only on the config, so num_envs holds."""
        self.episode = episode
        self.market = MarketModel(self.market_config, self.guardrails, seed=self._seed + episode)
        self._obs = self.market.observe()

    def reset(self) -> VecEnvObs:
        if self.market.day > 0:
            self._start(self.episode + 1)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return self._obs

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Restart the episode count on ``seed``: the next :meth:`reset` runs on a market seeded ``seed``.

        All envs share one market, hence one seed; it is returned once per env as SB3 expects.
        """
        if seed is None:
            seed = int(np.random.randint(0, np.iinfo(np.uint32).max, dtype=np.uint32))
        self._seed = int(seed)
        self._start(episode=0)
        return [self._seed] * self.num_envs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        last_obs = self._obs
        self.market.step(self._actions)
        out = self.market.outcome  # not step's return value: Mesa's step wrapper drops it
        rewards = out.profit.astype(np.float32)  # a copy: the market rewrites its outcome every day
        churned = out.churned.copy()
        obs = self.market.observe()
        truncated = self.market.day >= self.market_config.horizon_days
        dones = churned | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(dones):
            infos[i] = {
                "terminal_observation": last_obs[i] if churned[i] else obs[i],
                "TimeLimit.truncated": not churned[i],
            }
        if truncated:
            self._start(self.episode + 1)
        else:
            self._obs = obs
        return self._obs, rewards, dones, infos

    def close(self) -> None:
        """Nothing to release: the market lives in this process's memory."""

    def action_masks(self) -> np.ndarray:
        """(num_envs, N_ACTIONS) bool: the actions the guardrails allow for each row today."""
        return self.market.action_mask().dense()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The attribute of this object, once per env: all envs share one market."""
        value = getattr(self, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute shared by all envs; a subset of envs cannot have its own value."""
        if indices is not None and sorted(self._get_indices(indices)) != list(range(self.num_envs)):
            raise ValueError(f"set_attr({attr_name!r}): the envs share one market; set it for all of them (indices=None)")
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        """Per-env results of a method; only ``action_masks`` has one per row (sb3-contrib's ``get_action_masks``)."""
        if method_name != "action_masks":
            raise AttributeError(f"env_method({method_name!r}): MarketVecEnv supports only 'action_masks'")
        masks = self.action_masks(*method_args, **method_kwargs)
        return [masks[i] for i in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gymnasium.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]
