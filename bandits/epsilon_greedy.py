"""Epsilon-greedy over the ridge model's expected rewards."""

from __future__ import annotations

import numpy as np

from bandits.base import LinearBandit, one_hot
from bandits.features import ArmFeatures
from policies.base import Decision
from policies.baselines import uniform_allowed
from sim.guardrails import ActionMask


class EpsilonGreedy(LinearBandit):
    """With probability :math:`\\varepsilon` a uniformly random allowed action, else the greedy one.

    The propensity is exact: :math:`\\pi(a|x) = (1-\\varepsilon)\\,\\mathbb{1}[a = a^*] + \\varepsilon / K(x)`
    with :math:`K(x)` the number of allowed actions.
    """

    name = "epsilon_greedy"

    def __init__(self, epsilon: float = 0.05, ridge: float = 1.0, response_history: bool = False, value_horizon: float = 0.0):
        if not 0 <= epsilon <= 1:
            raise ValueError(f"epsilon={epsilon!r}: must be in [0, 1]")
        super().__init__(ridge, response_history, value_horizon)
        self.epsilon = epsilon

    def params(self) -> dict[str, float]:
        return {"epsilon": self.epsilon, **super().params()}

    def choose(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> Decision:
        greedy, margin = self.greedy(feats, mask)
        random, count = uniform_allowed(mask, rng)
        explore = rng.random(len(greedy)) < self.epsilon
        actions = np.where(explore, random, greedy)
        propensity = (1 - self.epsilon) * (actions == greedy) + self.epsilon / count
        self.exploration = float((actions != greedy).mean())
        return Decision(actions, propensity, priority=margin)

    def probabilities(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> np.ndarray:
        """Exact: the formula in the class docstring, for every action."""
        greedy, _ = self.greedy(feats, mask)
        dense = mask.dense()
        return (1 - self.epsilon) * one_hot(greedy) + self.epsilon * dense / dense.sum(axis=1, keepdims=True)
