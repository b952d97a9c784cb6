"""LinUCB on an additive score (``linucb_additive``): the arm with the highest upper confidence bound on its expected reward.

The weaker variant, kept for what it teaches: an additive score (offer + channel + slot terms) cannot
express that a message pays only if it is opened, so it learns timing and channel from the noisy
profit and loses to the weekly e-mail on the default market, where the same bound on the open x value
models (:class:`bandits.open_value.OpenValueUCB`, the canonical ``linucb``) beats every rule set.
"""

from __future__ import annotations

import numpy as np

from bandits.base import ConfidenceBound, LinearBandit, best_allowed
from bandits.features import ArmFeatures
from bandits.kernels import best_upper
from bandits.linear import gram, inverse_of, mean_scores, variance_terms
from sim.guardrails import ActionMask


class LinUCB(ConfidenceBound, LinearBandit):
    """Optimism in the face of uncertainty (Li et al. 2010, with shared arm features).

    .. math::  a^* = \\arg\\max_a \\; \\hat\\theta^\\top \\phi(x, a) + \\alpha \\hat\\sigma \\sqrt{\\phi(x, a)^\\top \\tilde A^{-1} \\phi(x, a)}

    with :math:`\\hat\\theta = A^{-1} b` the ridge estimate, :math:`A` the regularised Gram matrix
    of the features seen so far, :math:`\\hat\\sigma` the residual standard deviation of the rewards
    (:attr:`bandits.linear.RidgeModel.noise_sd`), so that :math:`\\hat\\sigma^2 A^{-1}` is the estimate's
    covariance, and :math:`\\alpha` the width of the bonus in standard errors. The width's
    :math:`\\tilde A` is :math:`A` plus the rows of the decisions whose rewards are still in flight,
    the earlier blocks of today's batch included (:class:`~bandits.base.ConfidenceBound`): a bound
    from the matured rows alone sends every shopper of a context the same arm for a week.
    Deterministic given the day's batch: the propensity of the chosen action is 1.
    """

    name = "linucb_additive"

    def __init__(self, alpha: float = 1.0, ridge: float = 1.0, block: int = 1024, response_history: bool = False, value_horizon: float = 0.0):
        super().__init__(alpha=alpha, block=block, ridge=ridge, response_history=response_history, value_horizon=value_horizon)

    def design_rows(self, feats: ArmFeatures, actions: np.ndarray, opened: np.ndarray | None) -> np.ndarray:
        return feats.rows(actions)  # an additive model's row does not depend on the open

    def _upper(self, feats: ArmFeatures, mask: ActionMask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(UCB action, its margin over no contact, greedy action)."""
        mean = mean_scores(self.model.theta, feats, self.model)
        fixed = mean.channel + (mean.none + mean.contact)[:, None]
        scale = (self.alpha * self.model.noise_sd) ** 2

        def choose(b: slice, design: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            var_none, *terms = variance_terms(feats.subset(b), self.model, scale, inverse_of(design).astype(np.float32))  # (alpha sigma)^2 phi' A~^-1 phi
            return best_upper(*terms, fixed[b], mean.slot[b], mean.offer[b], mask.channel_ok[b], mean.none[b] + np.sqrt(var_none))

        actions, margin = self._by_block(len(feats.base), choose, lambda b, chosen: gram(self.design_rows(feats.subset(b), chosen, None)))
        return actions, margin, best_allowed(mean, mask.channel_ok)[0]
