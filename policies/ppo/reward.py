"""The reward PPO trains on: each shopper's profit over their no-contact twin, scaled (:class:`TrainingEnv`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from stable_baselines3.common.vec_env import VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from sim.config import GuardrailConfig, MarketConfig
from sim.market import MarketModel
from sim.vec_env import MarketVecEnv


@dataclass
class Twin:
    """The no-contact twin of one training episode: what each shopper earns if nobody contacts them.

    ``profit[t, i]`` is row i's profit on day t in a market with the episode's config and seed,
    simulated ahead with no contact and without refills (a churned row earns 0 from then on);
    ``value[t, i] = sum_{k >= t} gamma^(k - t) profit[k, i]`` within the horizon; ``original[i]``
    is False once row i of the training market holds a newcomer in place of the twin's shopper.
    """

    profit: np.ndarray
    value: np.ndarray
    original: np.ndarray

    @classmethod
    def simulate(cls, market: MarketConfig, guardrails: GuardrailConfig | None, seed: int, gamma: float) -> Twin:
        twin = MarketModel(dataclasses.replace(market, refill_churned=False), guardrails, seed=seed)
        profit = np.zeros((market.horizon_days, twin.n_rows), dtype=np.float64)
        for t in range(market.horizon_days):
            twin.step()
            profit[t] = twin.outcome.profit
        value = np.zeros((market.horizon_days + 1, twin.n_rows))
        for t in reversed(range(market.horizon_days)):
            value[t] = profit[t] + gamma * value[t + 1]
        return cls(profit, value, np.ones(twin.n_rows, dtype=bool))


class TrainingEnv(VecEnvWrapper):
    """:class:`MarketVecEnv` as PPO trains on it: the reward is profit over a no-contact twin, scaled.

    A shopper's daily profit is mostly organic purchases, which no message caused and which
    drown the effect of a message (a purchase day brings O(10-100), a message changes the
    expected profit by O(0.1-1)). The market's random numbers are common to every policy
    (:mod:`sim.streams`), so the same shopper can be simulated without contact (:class:`Twin`)
    and the difference kept. Row i's training reward on day t is

    .. math::  \\tilde r_{i,t} = \\kappa\\,\\big(r_{i,t} - r^0_{i,t}
               - \\mathbb{1}[\\text{churned on } t]\\; \\gamma\\, G^0_{i,t+1}\\big),
               \\qquad G^0_{i,t} = \\sum_{k \\ge t} \\gamma^{k-t} r^0_{i,k},

    with :math:`r^0` the twin's profit and :math:`\\kappa` = ``reward_scale``. The churn term
    charges a shopper who leaves with the organic profit the twin still earns, so each episode's
    return is its profit return minus :math:`G^0_{i,0}`, a number fixed by the market's random
    numbers whatever the policy does: a baseline, which leaves the policy gradient unbiased
    (:math:`E[\\nabla \\log \\pi(a_t|s_t)\\, G^0_{i,0}] = 0`, since given the state and the
    random numbers the action is drawn independently) and cancels the organic purchases day by
    day (a shopper who is never contacted earns exactly 0). A row refilled by a newcomer has no
    twin; its reward is its profit. Without ``twin`` the reward is the profit of every row.

    The horizon ends every episode for good, as it ends a comparison (SB3 would otherwise add
    :math:`\\gamma V(s_H)` to the last reward, treating it as a time limit). The objective is then
    the profit over the rest of the horizon, the quantity a comparison measures, and it is what
    the churn term needs: :math:`G^0` stops at the horizon too, so a shopper who leaves is charged
    the same span of profit a shopper who stays can still earn. (With the bootstrap, a stayer
    carried the value of the policy's whole future while a leaver was charged only up to the
    horizon, and churn, hence contacting, looked cheap: measured, see the README.) The
    observation has no clock, so the policy cannot act differently near the end.

    ``reward_scale`` keeps value targets O(1): SB3 clips the norm of the summed policy and value
    gradients, and large value targets would take the whole clipping budget. ``totals`` holds the
    market totals of the day just simulated (read from the market that simulated it: at the
    horizon the wrapped env starts a new one within the same step) and ``incremental`` the
    summed training reward of that day, unscaled.
    """

    def __init__(self, venv: MarketVecEnv, reward_scale: float, gamma: float, use_twin: bool, twin: Twin | None = None):
        super().__init__(venv)
        self.reward_scale, self.gamma, self.use_twin = reward_scale, gamma, use_twin
        self.twin = twin if twin is not None or not use_twin else self._simulate()
        self.totals: dict[str, float] = {}
        self.incremental = 0.0
        self._market = venv.market

    def _simulate(self) -> Twin:
        market = self.venv.market
        return Twin.simulate(self.venv.market_config, self.venv.guardrails, market.streams.seed, self.gamma)

    def reset(self) -> np.ndarray:
        obs = self.venv.reset()
        if self.use_twin:
            self.twin = self._simulate()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._market = self.venv.market
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        t = self._market.day
        obs, rewards, dones, infos = self.venv.step_wait()
        self.totals = self._market.totals
        rewards = rewards.astype(np.float64)
        if self.twin is not None:
            tw = self.twin
            churned = self._market.outcome.churned & tw.original
            rewards -= np.where(tw.original, tw.profit[t], 0.0) + np.where(churned, self.gamma * tw.value[t + 1], 0.0)
            tw.original &= ~churned
            if self.venv.market is not self._market:  # the horizon: a new market, a new twin
                self.twin = self._simulate()
        for info in infos:  # the horizon ends the episode, as it ends a comparison: no bootstrap past it
            info.pop("TimeLimit.truncated", None)
        self.incremental = float(rewards.sum())
        return obs, (rewards * self.reward_scale).astype(np.float32), dones, infos
