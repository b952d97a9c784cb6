"""Linear Thompson sampling: act greedily on a draw from the posterior of the ridge model."""

from __future__ import annotations

import numpy as np

from bandits.base import LinearBandit, best_allowed, vote_share
from bandits.features import ArmFeatures
from bandits.linear import mean_scores
from policies.base import Decision
from sim.guardrails import ActionMask


class LinearThompson(LinearBandit):
    """Posterior sampling (Agrawal & Goyal 2013), one draw per shopper.

    .. math::  \\tilde\\theta_i \\sim N(\\hat\\theta, v^2 A^{-1}), \\qquad a_i = \\arg\\max_a \\tilde\\theta_i^\\top \\phi(x_i, a)

    The probability of the chosen action has no closed form; it is *estimated* as the share of
    ``propensity_draws`` further posterior draws (plus the acting one) that choose the same
    action, so it is at least 1 / (draws + 1).
    """

    name = "thompson"

    def __init__(self, scale: float = 1.0, ridge: float = 1.0, propensity_draws: int = 15):
        if not scale >= 0:
            raise ValueError(f"scale={scale!r}: must be >= 0")
        if propensity_draws < 0:
            raise ValueError(f"propensity_draws={propensity_draws!r}: must be >= 0")
        super().__init__(ridge)
        self.scale = scale
        self.propensity_draws = propensity_draws

    def params(self) -> dict[str, float]:
        return {"scale": self.scale, "propensity_draws": self.propensity_draws, **super().params()}

    def _draw(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        theta = self.model.sample(len(feats.base), self.scale, rng)
        return best_allowed(mean_scores(theta, feats, self.model), mask.channel_ok)

    def choose(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> Decision:
        actions, margin = self._draw(feats, mask, rng)
        same = np.ones(len(actions))
        for _ in range(self.propensity_draws):
            same += self._draw(feats, mask, rng)[0] == actions
        greedy, _ = self.greedy(feats, mask)
        self.exploration = float((actions != greedy).mean()) if len(actions) else 0.0
        return Decision(actions, same / (self.propensity_draws + 1), priority=margin)

    def probabilities(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> np.ndarray:
        """Estimated: the share of ``propensity_draws + 1`` posterior draws that choose each action."""
        return vote_share(np.stack([self._draw(feats, mask, rng)[0] for _ in range(self.propensity_draws + 1)]))
