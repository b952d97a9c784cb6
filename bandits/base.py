"""What every linear contextual bandit here shares: arm features, a ridge model, batched choice, state files.

A learner scores every arm of every shopper due today in one batch, picks one allowed action per
shopper, and updates its model once a day from the rewards that matured
(:mod:`policies.attribution`). Subclasses differ only in how they turn the model into a choice
(:meth:`LinearBandit.choose`): greedy with epsilon exploration, an upper confidence bound,
posterior sampling, or a bootstrap ensemble.
"""

from __future__ import annotations

import ast
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bandits.features import ArmFeatures, arm_features, block_widths
from bandits.kernels import best_additive
from bandits.long_term import LongTermValue
from bandits.linear import RidgeModel, SendScores, gram, mean_scores
from policies.base import Decision, DecisionContext, Feedback, Policy
from sim.catalogue import N_ACTIONS
from sim.guardrails import ActionMask

STATE_VERSION = 2
"""2: the ridge model keeps its residual sums (``yy``, ``weight``) and the state the seeds it learned on"""


def one_hot(actions: np.ndarray) -> np.ndarray:
    out = np.zeros((len(actions), N_ACTIONS))
    out[np.arange(len(actions)), actions] = 1.0
    return out


def vote_share(choices: np.ndarray) -> np.ndarray:
    """(n, N_ACTIONS) share of the rows of ``choices`` (k, n) that pick each action."""
    return sum(one_hot(c) for c in choices) / len(choices)


def best_allowed(scores: SendScores, channel_ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The highest-scoring allowed action per shopper, and its margin over no contact.

    A score that is a sum of an offer, a channel and a slot term is highest where each term is,
    and the mask forbids whole channels, so the best send arm is the best offer, the best allowed
    channel and the best slot, found in O(O + H + S) rather than O(O x H x S); ties go to the
    lowest index, as a flat argmax would. No contact always may be chosen.
    """
    return best_additive(scores.contact, scores.offer, scores.channel, scores.slot, channel_ok)


class LinearBandit(Policy):
    """Base of the linear learners; ``learns`` tells the runner to feed it matured rewards."""

    learns = True
    nonlinear = False
    """use the binned (piecewise-constant) feature map of :func:`bandits.features.arm_features`"""

    def __init__(self, ridge: float = 1.0, response_history: bool = False, value_horizon: float = 0.0):
        if not isinstance(response_history, bool):
            raise ValueError(f"response_history={response_history!r}: must be true or false")
        if isinstance(value_horizon, bool) or not isinstance(value_horizon, (int, float)) or not (value_horizon == 0 or value_horizon >= 1):
            raise ValueError(f"value_horizon={value_horizon!r}: must be 0 (myopic: the 7-day profit) or a number of days >= 1")
        self.history = response_history
        """read the campaign-response history (:func:`bandits.features.arm_features`); off by default, as measured
        (docs/results/crm_history.md): with it the learners earned less on the default market"""
        self.model = RidgeModel(block_widths(self.nonlinear, self.history), ridge)
        self.long_term = LongTermValue(value_horizon) if value_horizon else None
        """the value of the record a decision leaves (:mod:`bandits.long_term`), added to the reward; None: myopic"""
        self.exploration = 0.0
        """share of today's decisions that differ from the greedy choice (for TensorBoard)"""
        self.learned_on: tuple[int, ...] = ()
        """market seeds whose rewards are in the model (kept with the state, so it is not evaluated on the shoppers it learned from)"""

    @property
    def looks_ahead(self) -> bool:
        """Whether its feedback must carry the record after each window (``Feedback.after``, ``ended``)."""
        return self.long_term is not None

    def targets(self, feedback: Feedback) -> np.ndarray:
        """(n,) what the model regresses: the matured profit, or with a value horizon the profit plus the discounted
        value of the record it left (:class:`bandits.long_term.LongTermValue`, whose estimate this batch updates first)."""
        if self.long_term is None:
            return np.asarray(feedback.reward)
        self.long_term.update(feedback)
        return self.long_term.target(feedback)

    @abstractmethod
    def choose(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> Decision: ...

    @abstractmethod
    def probabilities(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> np.ndarray:
        """(n, N_ACTIONS) the probability of every action under the policy (exact or estimated, as
        the subclass documents); for off-policy evaluation and for checking the propensities."""

    def action_probabilities(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> np.ndarray:
        if not len(obs):  # a day or a request with nobody to decide for: the batched scorers reshape by n
            return np.zeros((0, N_ACTIONS))
        return self.probabilities(arm_features(obs, self.nonlinear, self.history), mask, context.rng)

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        if not len(obs):
            self.exploration = 0.0
            return Decision(np.zeros(0, dtype=np.int64), np.ones(0), priority=np.zeros(0))
        return self.choose(arm_features(obs, self.nonlinear, self.history), mask, context.rng)

    def greedy(self, feats: ArmFeatures, mask: ActionMask) -> tuple[np.ndarray, np.ndarray]:
        """The action with the highest expected reward (no exploration), and its margin over no contact."""
        return best_allowed(mean_scores(self.model.theta, feats, self.model), mask.channel_ok)

    def incremental_scores(self, feats: ArmFeatures) -> np.ndarray:
        """(n, O, H, S) the model's expected reward of every send arm over no contact, at the posterior mean."""
        mean = mean_scores(self.model.theta, feats, self.model)
        return mean.full() - mean.none[:, None, None, None]

    def update(self, feedback: Feedback) -> None:
        feats = arm_features(feedback.obs, self.nonlinear, self.history)
        self.model.update(feats.rows(feedback.actions), self.targets(feedback))

    def save(self, path: Path, seed: int | None = None) -> None:
        """Parameters as a portable .npz (no pickle): the ridge model's A and b, the class, the hyperparameters,
        and the market seeds learned on (``seed``: the one of the run that ends here).

        Reloading it with :meth:`load_state` resumes learning exactly where it stopped.
        """
        learned_on = [*self.learned_on, *([] if seed is None else [seed])]
        np.savez(Path(path), version=np.array(STATE_VERSION), kind=np.array(type(self).__name__), params=np.array(repr(self.params())),
                 learned_on=np.array(learned_on, dtype=np.int64), **self._arrays())

    def params(self) -> dict[str, float]:
        return {"ridge": self.model.ridge, "response_history": self.history,
                "value_horizon": 0.0 if self.long_term is None else self.long_term.horizon}

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**self.model.state(), **({} if self.long_term is None else self.long_term.state())}

    def _restore(self, data) -> None:
        self.model = RidgeModel.from_state({k: data[k] for k in RidgeModel.STATE_KEYS})
        if self.long_term is not None:
            self.long_term.restore(data)

    @classmethod
    def load_state(cls, path: Path) -> LinearBandit:
        """A learner saved by :meth:`save`; a file of another version or learner is a clear error."""
        try:
            data = np.load(Path(path), allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a readable bandit state ({e})") from None
        with data:
            if "version" in data.files and int(data["version"]) != STATE_VERSION:  # first: an older state lacks newer keys
                raise ValueError(f"{path}: bandit state version {int(data['version'])}, this offerlab reads {STATE_VERSION}")
            missing = {"version", "kind", "params", "learned_on"} - set(data.files)
            if missing:
                raise ValueError(f"{path}: bandit state lacks {sorted(missing)}")
            if str(data["kind"]) != cls.__name__:
                raise ValueError(f"{path}: holds a {data['kind']} state, not {cls.__name__}")
            policy = cls(**ast.literal_eval(str(data["params"])))
            fresh = policy._arrays()  # what this offerlab's learner of these hyperparameters saves: every model, its layout
            missing = set(fresh) - set(data.files)
            if missing:
                raise ValueError(f"{path}: bandit state lacks {sorted(missing)}")
            for key in (k for k in fresh if k.endswith("widths")):
                saved, ours = [int(w) for w in data[key]], [int(w) for w in fresh[key]]
                if saved != ours:
                    raise ValueError(f"{path}: saved for feature blocks {saved}, this offerlab's are {ours}; retrain it")
            policy._restore(data)
            policy.learned_on = tuple(int(k) for k in data["learned_on"])
        return policy


class ConfidenceBound:
    """The choice of an upper-confidence-bound learner, whatever its model: the arm of the highest bound,
    deterministic given the day's batch, so its propensity is 1. Mixed in before a :class:`LinearBandit`,
    whose subclass supplies ``_upper(feats, mask) -> (UCB action, its margin over no contact, greedy action)``
    and :meth:`design_rows`.

    *Batched, delayed bounds.* A day's decisions are made at once and their rewards arrive 7 days
    later, so a bound from the matured data alone gives every shopper of a context the same arm for
    a week, and the arm's terms then absorb whatever else differed on those days (docs/bandits.md,
    "Confidence bounds count the decisions in flight"). The width of a linear-Gaussian posterior depends on
    the design only, not on the rewards, so, as in batched Gaussian-process UCB (Desautels, Krause and
    Burdick, *JMLR* 15, 2014, "hallucinated" observations), the bound counts rows before their rewards:

    .. math::  \\tilde A = A + \\sum_{\\text{in flight}} \\phi \\phi^\\top + \\sum_{\\text{earlier blocks today}} \\phi \\phi^\\top

    with the delivered decisions still in their window (:meth:`pending`) and, within the day, the
    choices of the earlier blocks of ``block`` shoppers (:meth:`_by_block`; a model whose rows
    depend on an open not known yet takes their expectation). The mean stays the matured data's. An
    arm being tried loses its optimism at once, so the next block and the next day try another.
    The decisions in flight end with a run: a saved state does not keep them.
    """

    def __init__(self, alpha: float = 1.0, block: int = 256, **model: float):
        if not alpha >= 0:
            raise ValueError(f"alpha={alpha!r}: must be >= 0")
        if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
            raise ValueError(f"block={block!r}: must be a whole number of shoppers >= 1")
        super().__init__(**model)
        self.alpha = alpha
        self.block = int(block)
        self.in_flight: dict[int, np.ndarray] = {}
        """decision day -> the Gram matrix of that day's delivered decisions, until they mature"""

    def params(self) -> dict[str, float]:
        return {"alpha": self.alpha, **super().params(), "block": self.block}

    @abstractmethod
    def design_rows(self, feats: ArmFeatures, actions: np.ndarray, opened: np.ndarray | None) -> np.ndarray:
        """(n, d) float64 the rows that decisions ``actions``, with their opens (None where the caller has none),
        add to the model's Gram matrix."""

    def pending(self, decisions: Feedback) -> None:
        feats = arm_features(decisions.obs, self.nonlinear, self.history)
        a, days = np.asarray(decisions.actions), np.asarray(decisions.day)
        opened = None if decisions.opened is None else np.asarray(decisions.opened, dtype=bool) & (a > 0)
        for day in np.unique(days):
            k = days == day
            rows = self.design_rows(feats.subset(k), a[k], None if opened is None else opened[k])
            self.in_flight[int(day)] = self.in_flight.get(int(day), 0.0) + gram(rows)

    def update(self, feedback: Feedback) -> None:
        super().update(feedback)
        for day in np.unique(feedback.day):
            self.in_flight.pop(int(day), None)

    def design(self) -> np.ndarray:
        """:math:`A` plus the Gram matrix of the decisions in flight: what the bound's width is computed from."""
        return self.model.A + sum(self.in_flight.values(), np.zeros_like(self.model.A))

    def _by_block(self, n: int, choose: Callable[[slice, np.ndarray], tuple[np.ndarray, np.ndarray]],
                  grow: Callable[[slice, np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The day's actions and their margins, block by block: ``choose(rows, design)`` decides the shoppers ``rows``
        under the bound of ``design``, then ``grow(rows, actions)``, the Gram matrix of those choices, joins the design."""
        actions, margin = np.zeros(n, dtype=np.int64), np.zeros(n)
        design = self.design()
        for start in range(0, n, self.block):
            b = slice(start, start + self.block)
            actions[b], margin[b] = choose(b, design)
            if start + self.block < n:
                design = design + grow(b, actions[b])
        return actions, margin

    def probabilities(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> np.ndarray:
        """Exact: all mass on the UCB action."""
        return one_hot(self._upper(feats, mask)[0])

    def choose(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> Decision:
        actions, margin, greedy = self._upper(feats, mask)
        self.exploration = float((actions != greedy).mean())
        return Decision(actions, np.ones(len(actions)), priority=margin)
