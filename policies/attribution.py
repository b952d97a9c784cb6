"""Attribution: the one rule that turns an executed decision into a reward, for learners and the decision log alike.

The reward of the decision made for shopper i on day t is the shopper's profit (margin -
discounts - channel cost, :func:`sim.reward.daily_profit`) over the attribution window

.. math::  r_{i,t} = \\sum_{d=t}^{t+W-1} \\pi_i(d), \\qquad W = 7 \\text{ days (the offer validity)},

the days in which an opened offer can be redeemed. Every purchase inside the window counts,
whether or not the message caused it, and so does the message's cost; the same rule applies to
"no contact" decisions, so a learner compares like with like and learns incrementality, not
response. A decision is *matured* once its window has closed; at the end of a horizon the
decisions whose window runs past it keep the profit of the days that were simulated and
``matured = False``. Learners see matured decisions only.

The learners' feedback and the decision log are both cut from the batches this module releases,
so a logged row and the row a learner learned from are the same row.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields, replace

import numpy as np

from policies.base import Feedback
from sim.catalogue import VALIDITY_DAYS


@dataclass
class Decisions:
    """Executed decisions, one per row: what the policy proposed, what ran, and what it earned.

    ``propensity`` is the probability of the executed ``action`` under the policy *as it acted*,
    the guardrails included: where the proposal ran, the policy's own probability of it; where
    the guardrails refused it (``refusal`` > 0, :data:`sim.guardrails.REFUSALS`), the executed
    no contact was the guardrails' choice, forced whatever the policy drew once the day's budget
    was spent before this shopper's turn (or the send was forbidden), so it is 1. What the policy
    drew is kept in ``proposed`` and ``proposed_propensity``.
    """

    day: np.ndarray  # (n,) int64
    rows: np.ndarray  # (n,) int64 market rows (the shopper)
    obs: np.ndarray  # (n, F) float32 the observation the policy acted on
    action: np.ndarray  # (n,) int64 executed
    propensity: np.ndarray  # (n,) float64, see the class docstring
    proposed: np.ndarray  # (n,) int64 what the policy chose
    proposed_propensity: np.ndarray  # (n,) float64 its probability under the policy
    refusal: np.ndarray  # (n,) int8 why a proposal did not run (0 = it ran)
    opened: np.ndarray  # (n,) bool the message was opened (known the day it was sent)
    reward: np.ndarray  # (n,) float64 profit over the attribution window so far
    matured: np.ndarray  # (n,) bool the window has closed

    @classmethod
    def executed(cls, day: int, rows: np.ndarray, obs: np.ndarray, proposed: np.ndarray, proposed_propensity: np.ndarray,
                 action: np.ndarray, refusal: np.ndarray, opened: np.ndarray) -> Decisions:
        """One day's decisions as the guardrails let them run, before any reward: the propensity as the class defines it."""
        n = rows.size
        return cls(
            day=np.full(n, day, dtype=np.int64), rows=rows, obs=obs, action=action,
            propensity=np.where(refusal == 0, proposed_propensity, 1.0), proposed=proposed, proposed_propensity=proposed_propensity,
            refusal=refusal, opened=opened, reward=np.zeros(n), matured=np.zeros(n, dtype=bool),
        )

    def __len__(self) -> int:
        return self.rows.size

    def subset(self, keep: np.ndarray) -> Decisions:
        """The rows selected by ``keep`` (a boolean mask or indices)."""
        return replace(self, **{f.name: getattr(self, f.name)[keep] for f in fields(self)})

    def feedback(self, with_reward: bool = True) -> Feedback:
        """What a learner is given: the executed actions with their propensities, and the rewards (NaN while pending)."""
        reward = self.reward if with_reward else np.full(len(self), np.nan)
        return Feedback(self.day, self.obs, self.action, self.propensity, reward, self.opened)

    @staticmethod
    def concat(batches: list[Decisions]) -> Decisions:
        return Decisions(**{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(Decisions)})


class Attribution:
    """Holds each day's decisions, credits them with the shoppers' daily profit, releases them when their window closes.

    ``track`` limits the decisions held to those market rows (the logged shoppers of a policy
    that does not learn); None holds all.
    """

    def __init__(self, window: int = VALIDITY_DAYS, track: np.ndarray | None = None):
        if window < 1:
            raise ValueError(f"window={window}: must be >= 1 day")
        self.window = window
        self.track = None if track is None else np.sort(np.asarray(track, dtype=np.int64))
        self.pending: deque[tuple[int, Decisions]] = deque()

    def add(self, day: int, decisions: Decisions) -> None:
        """Hold the decisions made on ``day``."""
        if self.track is not None:
            decisions = decisions.subset(np.isin(decisions.rows, self.track, assume_unique=True))
        self.pending.append((day, decisions))

    def credit(self, day: int, profit: np.ndarray) -> None:
        """Add each row's profit on ``day`` (``profit`` is indexed by market row) to the decisions whose window covers it."""
        for start, d in self.pending:
            if start <= day < start + self.window:
                d.reward += profit[d.rows]

    def matured(self, day: int) -> Decisions | None:
        """The decisions whose window closed with ``day``, as one batch (None if none)."""
        done = []
        while self.pending and self.pending[0][0] + self.window - 1 <= day:
            d = self.pending.popleft()[1]
            d.matured[:] = True
            done.append(d)
        return Decisions.concat(done) if done else None

    def unmatured(self) -> Decisions | None:
        """Everything still held (windows that run past the last simulated day), with the profit credited so far."""
        rest = [d for _, d in self.pending]
        self.pending.clear()
        return Decisions.concat(rest) if rest else None
