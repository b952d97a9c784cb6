"""The one interface every policy answers, from a marketer's rule to PPO.

The runner calls, once per simulated day, ``act(obs, mask, context)`` on the shoppers present
that day and ``update(feedback)`` once rewards are known. It never asks what kind of policy it
holds. Randomised policies draw from ``context.rng``, a generator keyed by (seed, day), so a rerun
with the same seed makes the same choices.
"""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sim.guardrails import ActionMask

if TYPE_CHECKING:
    from sim.market import MarketModel


@dataclass
class DecisionContext:
    """What a policy may know besides the observations: the date and its own random numbers."""

    day: int
    weekday: int
    """0 = Monday"""
    rng: np.random.Generator
    rows: np.ndarray
    """market rows of the shoppers being decided for (the oracle reads latent traits by row)"""


@dataclass
class MarketDay:
    """A simulated day as a policy meets it: the shoppers present, their observations, their guardrail mask and the
    context, and the step of the market on the policy's decision. The runner and the cloning of PPO's actor both let
    policies decide simulated days; this is the one copy of how."""

    rows: np.ndarray
    obs: np.ndarray
    mask: ActionMask
    context: DecisionContext

    @classmethod
    def of(cls, market: MarketModel) -> MarketDay:
        """Today on ``market``: its present shoppers, and the day's own policy random stream (keyed by seed and day)."""
        t = market.day
        rows = np.flatnonzero(market.present)
        context = DecisionContext(day=t, weekday=market.calendar.weekday(t), rng=market.streams.rng("policy", t), rows=rows)
        return cls(rows, market.observe(rows), market.action_mask().subset(rows), context)

    def step(self, market: MarketModel, decision: Decision) -> None:
        """Simulate the day on ``decision``: its proposals (and priorities) on these rows, no contact on every other row."""
        proposed = np.zeros(market.n_rows, dtype=np.int64)
        proposed[self.rows] = decision.actions
        priority = None
        if decision.priority is not None:
            priority = np.zeros(market.n_rows)
            priority[self.rows] = decision.priority
        market.step(proposed, priority)


@dataclass
class Decision:
    """One action per shopper, the probability the policy gave it, and an optional priority.

    ``priority`` orders sends when the daily budget cannot pay for all (higher first); policies
    without a notion of value leave it None and the shopper order decides.
    """

    actions: np.ndarray  # (n,) int64
    propensity: np.ndarray  # (n,) float64, P(action | obs) under the policy; 1 for deterministic choices
    priority: np.ndarray | None = None


@dataclass
class Feedback:
    """Matured outcomes of earlier decisions, for learning policies.

    Row k: on ``day[k]`` the policy chose ``actions[k]`` for a shopper observed as ``obs[k]``, and
    the shopper's profit over the attribution window that has now closed was ``reward[k]``.
    """

    day: np.ndarray
    obs: np.ndarray
    actions: np.ndarray
    propensity: np.ndarray
    reward: np.ndarray
    opened: np.ndarray | None = None
    """(n,) bool: whether the message of the decision was opened (the shop's open tracking, known the day it was
    sent); None where the log does not record opens"""
    after: np.ndarray | None = None
    """(n, F) the shopper's observation the day after the window closed (what the decision left in the CRM);
    None where the caller does not look ahead (:mod:`bandits.long_term`)"""
    ended: np.ndarray | None = None
    """(n,) bool: the shopper left the shop's contact list during the window (churned); None as ``after``"""


class Policy(ABC):
    """Maps CRM observations and the guardrail mask to actions; ``mask.allows(actions)`` always holds."""

    name: str = "policy"

    @abstractmethod
    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision: ...

    def update(self, feedback: Feedback) -> None:
        """Learn from matured rewards. Rules, the holdout and frozen policies ignore feedback."""

    def pending(self, decisions: Feedback) -> None:
        """Today's decisions as delivered (after the budget's trim), with the day's opens, while their rewards are
        not known yet (``decisions.reward`` is NaN); :meth:`update` brings the same rows with their rewards once
        they mature. A learner whose exploration depends only on what it has tried, not on what it earned (an upper
        confidence bound's width), can count them at once; the others ignore them."""

    def save(self, path: Path, seed: int | None = None) -> None:
        """Write the policy to ``path`` (pickle by default; learners override with portable formats);
        ``seed`` is the market seed of the run it learned in, for formats that keep it."""
        Path(path).write_bytes(pickle.dumps(self))

    @staticmethod
    def load(path: Path) -> Policy:
        obj = pickle.loads(Path(path).read_bytes())
        if not isinstance(obj, Policy):
            raise TypeError(f"{path}: holds a {type(obj).__name__}, not a Policy")
        return obj


def deterministic(actions: np.ndarray, priority: np.ndarray | None = None) -> Decision:
    return Decision(np.asarray(actions, dtype=np.int64), np.ones(len(actions)), priority)


def inverse_cdf(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(n,) the column of each row of ``weights`` (n, K, not necessarily normalised) that the uniform ``u`` (n,) picks.

    The uniform is scaled by each row's total, so rounding in the cumulative sum can neither push
    it past the last column nor land on a column of weight 0.
    """
    c = np.cumsum(weights, axis=1)
    return np.minimum((c < (u * c[:, -1])[:, None]).sum(axis=1), weights.shape[1] - 1).astype(np.int64)


def sampled(probs: np.ndarray, rng: np.random.Generator) -> Decision:
    """One action per row of ``probs`` (n, A) drawn by :func:`inverse_cdf`, with its probability as the propensity."""
    actions = inverse_cdf(probs, rng.random(len(probs)))
    return Decision(actions, probs[np.arange(len(actions)), actions])
