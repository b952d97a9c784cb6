"""LinUCB: the arm with the highest upper confidence bound on its expected reward."""

from __future__ import annotations

import numpy as np

from bandits.base import ConfidenceBound, LinearBandit, best_allowed
from bandits.features import ArmFeatures
from bandits.kernels import best_upper
from bandits.linear import mean_scores, variance_terms
from sim.guardrails import ActionMask


class LinUCB(ConfidenceBound, LinearBandit):
    """Optimism in the face of uncertainty (Li et al. 2010, with shared arm features).

    .. math::  a^* = \\arg\\max_a \\; \\hat\\theta^\\top \\phi(x, a) + \\alpha \\hat\\sigma \\sqrt{\\phi(x, a)^\\top A^{-1} \\phi(x, a)}

    with :math:`\\hat\\theta = A^{-1} b` the ridge estimate, :math:`A` the regularised Gram matrix
    of the features seen so far, :math:`\\hat\\sigma` the residual standard deviation of the rewards
    (:attr:`bandits.linear.RidgeModel.noise_sd`), so that :math:`\\hat\\sigma^2 A^{-1}` is the estimate's
    covariance, and :math:`\\alpha` the width of the bonus in standard errors. Deterministic: the
    propensity of the chosen action is 1.
    """

    name = "linucb"

    def __init__(self, alpha: float = 1.0, ridge: float = 1.0):
        if not alpha >= 0:
            raise ValueError(f"alpha={alpha!r}: must be >= 0")
        super().__init__(ridge)
        self.alpha = alpha

    def _upper(self, feats: ArmFeatures, mask: ActionMask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(UCB action, its margin over no contact, greedy action)."""
        mean = mean_scores(self.model.theta, feats, self.model)
        var_none, *terms = variance_terms(feats, self.model, scale=(self.alpha * self.model.noise_sd) ** 2)  # (alpha sigma)^2 phi' A^-1 phi
        actions, margin = best_upper(*terms, mean.channel + (mean.none + mean.contact)[:, None], mean.slot, mean.offer, mask.channel_ok,
                                     mean.none + np.sqrt(var_none))
        return actions, margin, best_allowed(mean, mask.channel_ok)[0]
