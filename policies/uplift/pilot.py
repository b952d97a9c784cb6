"""The randomised pilot an uplift model learns from: a holdout, and the arms drawn uniformly for everyone else.

Each day, each shopper for whom :math:`k_i \\ge 1` arms can be sent (:meth:`Arms.actions`) gets no
contact with probability :math:`c` (``control_share``), else one of those arms, each with the same
probability:

.. math::  P(0 \\mid x_i) = c, \\qquad P(a_{ij} \\mid x_i) = \\frac{1 - c}{k_i} \\quad (j = 1..k_i),

and a shopper with no sendable arm gets no contact (probability 1). Arms never share an action,
so these are exactly the probabilities of the actions, the propensities logged. The assignment
depends on the observation only through which arms are allowed, which the uplift model sees in
its features (consents, ``contacts_7d``), so within a set of allowed arms it is a randomised trial.
"""

from __future__ import annotations

import numpy as np

from policies.base import Decision, DecisionContext, Policy, inverse_cdf
from policies.uplift.arms import Arms
from sim.catalogue import N_ACTIONS
from sim.guardrails import ActionMask


class PilotPolicy(Policy):
    """The pilot: holdout with probability ``control_share``, else a uniform draw among each shopper's sendable arms."""

    name = "uplift_pilot"

    def __init__(self, arms: Arms, control_share: float):
        if not 0 < control_share < 1:
            raise ValueError(f"control_share={control_share!r}: must be in (0, 1)")
        self.arms = arms
        self.control_share = control_share
        self.exploration = 0.0
        """share of today's shoppers who were randomised (those with a sendable arm)"""

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        actions = self.arms.actions(obs, mask)
        ok = actions > 0
        count = ok.sum(axis=1)
        u = context.rng.random((len(obs), 2))  # the holdout draw, then the arm draw
        treat = (count > 0) & (u[:, 0] >= self.control_share)
        pick = inverse_cdf(ok.astype(np.float64), u[:, 1])
        chosen = np.where(treat, actions[np.arange(len(obs)), pick], 0).astype(np.int64)
        self.exploration = float((count > 0).mean()) if len(obs) else 0.0
        return Decision(chosen, self._propensity(count, treat))

    def probabilities(self, obs: np.ndarray, mask: ActionMask) -> np.ndarray:
        """(n, N_ACTIONS) the pilot's probability of every action: ``c`` on no contact and ``(1 - c) / k`` on each
        sendable arm's action for a shopper with ``k >= 1`` of them; 1 on no contact otherwise (for off-policy evaluation)."""
        actions = self.arms.actions(obs, mask)
        ok = actions > 0
        count = ok.sum(axis=1)
        probs = np.zeros((len(obs), N_ACTIONS))
        probs[:, 0] = self._propensity(count, np.zeros(len(obs), dtype=bool))
        rows = np.arange(len(obs))
        for j in range(actions.shape[1]):
            sent = ok[:, j]
            probs[rows[sent], actions[sent, j]] = self._propensity(count[sent], np.ones(int(sent.sum()), dtype=bool))
        return probs

    def _propensity(self, count: np.ndarray, treated: np.ndarray) -> np.ndarray:
        """(n,) the probability of a draw: ``(1 - c) / k`` for a treated shopper, ``c`` for a held-out one, 1 with no arm."""
        arm = (1.0 - self.control_share) / np.maximum(count, 1)
        return np.where(count == 0, 1.0, np.where(treated, arm, self.control_share))
