"""Delayed feedback: a decision's reward is known only when its attribution window closes.

Attribution rule: the reward of a decision made for shopper i on day t is the shopper's profit
(margin - discounts - channel cost, :func:`sim.reward.daily_profit`) summed over days
t .. t+W-1, with W the offer validity (7 days): every purchase inside the window in which an
opened offer could be redeemed counts, whether or not the offer caused it, and so does the cost
of the message. The same rule applies to "no contact" decisions, so a learner compares like with
like and learns incrementality, not response. Decisions whose window has not closed when the
horizon ends never reach the learner.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from policies.base import Feedback
from sim.catalogue import VALIDITY_DAYS


@dataclass
class _Pending:
    day: int
    rows: np.ndarray
    obs: np.ndarray
    actions: np.ndarray
    propensity: np.ndarray
    reward: np.ndarray
    opened: np.ndarray | None


class DelayedRewards:
    """Holds each day's decisions, credits them with the shoppers' daily profit, releases them when mature."""

    def __init__(self, window: int = VALIDITY_DAYS):
        if window < 1:
            raise ValueError(f"window={window}: must be >= 1 day")
        self.window = window
        self.pending: deque[_Pending] = deque()

    def add(self, day: int, rows: np.ndarray, obs: np.ndarray, actions: np.ndarray, propensity: np.ndarray,
            opened: np.ndarray | None = None) -> None:
        """Hold the day's decisions; ``opened`` (n,) marks the messages opened that day, if the shop tracks opens."""
        self.pending.append(_Pending(day, rows, obs, actions, propensity, np.zeros(len(rows)), opened))

    def credit(self, day: int, profit: np.ndarray) -> None:
        """Add each row's profit on ``day`` to the open decisions whose window covers it."""
        for p in self.pending:
            if p.day <= day < p.day + self.window:
                p.reward += profit[p.rows]

    def matured(self, day: int) -> Feedback | None:
        """The decisions whose window closed with ``day``, as one batch (None if none)."""
        done = []
        while self.pending and self.pending[0].day + self.window - 1 <= day:
            done.append(self.pending.popleft())
        if not done:
            return None
        return Feedback(
            day=np.concatenate([np.full(len(p.rows), p.day) for p in done]),
            obs=np.concatenate([p.obs for p in done]),
            actions=np.concatenate([p.actions for p in done]),
            propensity=np.concatenate([p.propensity for p in done]),
            reward=np.concatenate([p.reward for p in done]),
            opened=None if any(p.opened is None for p in done) else np.concatenate([p.opened for p in done]),
        )
