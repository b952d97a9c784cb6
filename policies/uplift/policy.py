"""An uplift policy deployed (:class:`UpliftPolicy`): its own pilot first, then each shopper's best arm by predicted gain.

For ``pilot_days`` days it runs the pilot (:class:`~policies.uplift.pilot.PilotPolicy`): the shop
pays for a randomised test on its own shoppers before it targets, so the pilot's sends and losses
count in a comparison. Its model, however, was fitted on the pilots of the training market seeds
(:mod:`policies.uplift.training`): no outcome of a shopper it is judged on trains it.

From then on, with :math:`\\hat\\tau_k(x)` the model's predicted incremental 7-day profit of arm
:math:`k` (net of the discount and the channel cost, which the profit already subtracts) and
:math:`A_i` the arms shopper :math:`i` can be sent today (consent, the frequency cap, a known
category), it sends

.. math::  k^*_i = \\arg\\max_{k \\in A_i} \\hat\\tau_k(x_i), \\qquad
           a_i = \\begin{cases} a_{i k^*_i} & \\text{if } \\hat\\tau_{k^*_i}(x_i) > 0 \\\\ 0 & \\text{otherwise,} \\end{cases}

deterministically (propensity 1), with the priority :math:`\\hat\\tau_{k^*_i}(x_i)`: when a daily
budget binds, the sends with the largest predicted gains go first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from policies.base import Decision, DecisionContext, Policy, deterministic
from policies.uplift.arms import Arms
from policies.uplift.config import UpliftConfig
from policies.uplift.pilot import PilotPolicy
from policies.uplift.training import load_model
from sim.catalogue import N_ACTIONS
from sim.guardrails import ActionMask


class UpliftPolicy(Policy):
    """The pilot for ``pilot_days`` days, then the arm of the largest positive predicted incremental profit, or nothing.

    ``model`` is anything with ``predict(obs) -> (n, K)``, one column per arm in the order of ``arms``.
    """

    def __init__(self, model: object, arms: Arms, pilot_days: int, control_share: float, name: str = "uplift"):
        self.model = model
        self.arms = arms
        self.pilot_days = pilot_days
        self.pilot = PilotPolicy(arms, control_share)
        self.name = name
        self.exploration = 0.0
        """share of today's shoppers whom the pilot randomised (0 once the pilot is over)"""

    @classmethod
    def from_config(cls, name: str, config: UpliftConfig) -> UpliftPolicy:
        """The policy ``uplift_<model>`` acting with the model at ``config.model_path``, checked against its manifest."""
        model = load_model(Path(config.model_path), config.arms, name.removeprefix("uplift_"))
        return cls(model, config.parsed_arms, config.pilot_days, config.control_share, name)

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        if context.day < self.pilot_days:
            decision = self.pilot.act(obs, mask, context)
            self.exploration = self.pilot.exploration
            return decision
        self.exploration = 0.0
        actions, gain = self.targeted(obs, mask)
        return deterministic(actions, priority=gain)

    def targeted(self, obs: np.ndarray, mask: ActionMask) -> tuple[np.ndarray, np.ndarray]:
        """(n,) the action of each shopper's sendable arm with the largest predicted gain when that gain is positive, else 0;
        (n,) that gain (0 where nothing is sent)."""
        actions = self.arms.actions(obs, mask)
        # Only shoppers with a sendable arm are scored: the model's trees cost most of a day's decision, and with the
        # frequency cap binding about half the shoppers have none (each row's prediction is its own, so the rest are
        # unchanged).
        scored = np.flatnonzero((actions > 0).any(axis=1))
        gain = np.full(actions.shape, -np.inf)
        if scored.size:
            predicted = np.asarray(self.model.predict(obs[scored]), dtype=np.float64)
            if predicted.shape != (scored.size, len(self.arms)):
                raise ValueError(f"{self.name}: the model predicts {predicted.shape[1:]} columns, the policy has {len(self.arms)} arms")
            gain[scored] = np.where(actions[scored] > 0, predicted, -np.inf)
        best = gain.argmax(axis=1)
        rows = np.arange(len(obs))
        top = gain[rows, best]
        send = top > 0
        return np.where(send, actions[rows, best], 0).astype(np.int64), np.where(send, top, 0.0)

    def action_probabilities(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> np.ndarray:
        """(n, N_ACTIONS) the policy's probability of every action on ``context.day``: the pilot's during the pilot, then 1
        on the targeted action (for off-policy evaluation)."""
        if context.day < self.pilot_days:
            return self.pilot.probabilities(obs, mask)
        probs = np.zeros((len(obs), N_ACTIONS))
        probs[np.arange(len(obs)), self.targeted(obs, mask)[0]] = 1.0
        return probs
