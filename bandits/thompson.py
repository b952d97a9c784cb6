"""Linear Thompson sampling on an additive score (``thompson_additive``): act greedily on a draw from the posterior.

The weaker variant, kept for what it teaches (as :mod:`bandits.linucb`): the canonical ``thompson`` is
the same sampling on the open x value models (:class:`bandits.open_value.OpenValueThompson`).
"""

from __future__ import annotations

import numpy as np

from bandits.base import LinearBandit, best_allowed, vote_share
from bandits.features import ArmFeatures
from bandits.kernels import feature_major, pooled_additive
from bandits.linear import mean_scores, send_scores
from policies.base import Decision
from sim.guardrails import ActionMask

POOL = 256
"""posterior draws shared by the propensity estimates of a batch (each shopper uses ``propensity_draws`` distinct ones)"""


class LinearThompson(LinearBandit):
    """Posterior sampling (Agrawal & Goyal 2013), one independent draw per shopper.

    .. math::  \\tilde\\theta_i \\sim N(\\hat\\theta, v^2 \\hat\\sigma^2 A^{-1}), \\qquad a_i = \\arg\\max_a \\tilde\\theta_i^\\top \\phi(x_i, a)

    The probability :math:`p` of the chosen action has no closed form; it is *estimated* as the
    share of ``propensity_draws`` :math:`D` further posterior draws (plus the acting one) that
    choose the same action, :math:`\\hat p = (1 + K)/(D + 1)` with :math:`K \\sim \\mathrm{Bin}(D, p)`,
    so it is at least 1 / (D + 1). Counting the acting draw biases :math:`\\hat p` upward,
    :math:`E[\\hat p] = p + (1 - p)/(D + 1)`, and its inverse, which inverse-propensity weighting
    uses, falls short of :math:`1/p` by the factor :math:`1 - (1 - p)^{D+1}`,
    :math:`E[1/\\hat p] = (1 - (1 - p)^{D+1})/p` (0.97 at p = 0.2 with D = 15, 0.56 at p = 0.05):
    an estimator that reweights rare choices by it undercounts them. The further draws come
    from a pool of :data:`POOL` draws made once per batch (:meth:`_pooled`), each shopper's
    estimate from distinct ones, so a batch needs POOL draws instead of one per shopper and estimate.
    """

    name = "thompson_additive"

    def __init__(self, scale: float = 1.0, ridge: float = 1.0, propensity_draws: int = 15, response_history: bool = False,
                 value_horizon: float = 0.0):
        if not scale >= 0:
            raise ValueError(f"scale={scale!r}: must be >= 0")
        if not 0 <= propensity_draws <= POOL:
            raise ValueError(f"propensity_draws={propensity_draws!r}: must be in [0, {POOL}]")
        super().__init__(ridge, response_history, value_horizon)
        self.scale = scale
        self.propensity_draws = propensity_draws

    def params(self) -> dict[str, float]:
        return {"scale": self.scale, "propensity_draws": self.propensity_draws, **super().params()}

    def _choice(self, draws: np.ndarray, none: np.ndarray, feats: ArmFeatures, mask: ActionMask) -> tuple[np.ndarray, np.ndarray]:
        return best_allowed(send_scores(none, draws, feats, self.model), mask.channel_ok)

    def _pooled(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator, k: int, p_open: np.ndarray | None = None) -> np.ndarray:
        """(k, n) the choices of k posterior draws per shopper, all taken from one pool of draws.

        Shopper i takes the pool's members :math:`(r_i + j) \\bmod |pool|`, j < k, for a random offset
        :math:`r_i`: each shopper's draws are still independent posterior draws (so a share of them is
        an unbiased estimate of a choice's probability), while a batch draws :data:`POOL` parameter
        vectors instead of k per shopper. ``p_open``: the open probabilities of the open x value learner.
        """
        pool = self.model.sample(POOL, self.scale, rng)
        return self._pool_choices(pool, rng.integers(0, POOL, len(feats.base)), k, feats, mask, p_open)

    def _pool_choices(self, pool: np.ndarray, offset: np.ndarray, k: int, feats: ArmFeatures, mask: ActionMask, p_open: np.ndarray | None) -> np.ndarray:
        return pooled_additive(pool, offset, k, feats.contact, feature_major(feats.offer), feature_major(feats.channel), feats.slot.shape[1],
                               mask.channel_ok)

    def choose(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> Decision:
        mean = mean_scores(self.model.theta, feats, self.model)  # its no-contact scores are every draw's (RidgeModel.sample)
        actions, margin = self._choice(self.model.sample(len(feats.base), self.scale, rng), mean.none, feats, mask)
        same = 1 + (self._pooled(feats, mask, rng, self.propensity_draws) == actions).sum(axis=0)
        greedy, _ = best_allowed(mean, mask.channel_ok)
        self.exploration = float((actions != greedy).mean())
        return Decision(actions, same / (self.propensity_draws + 1), priority=margin)

    def probabilities(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> np.ndarray:
        """Estimated: the share of ``propensity_draws + 1`` posterior draws that choose each action."""
        return vote_share(self._pooled(feats, mask, rng, self.propensity_draws + 1))
