"""What every linear contextual bandit here shares: arm features, a ridge model, batched choice, state files.

A learner scores every arm of every shopper due today in one batch, picks one allowed action per
shopper, and updates its model once a day from the rewards that matured
(:mod:`bandits.delayed`). Subclasses differ only in how they turn the model into a choice
(:meth:`LinearBandit.choose`): greedy with epsilon exploration, an upper confidence bound,
posterior sampling, or a bootstrap ensemble.
"""

from __future__ import annotations

import ast
from abc import abstractmethod
from pathlib import Path

import numpy as np

from bandits.features import ArmFeatures, arm_features, block_widths
from bandits.kernels import best_additive
from bandits.linear import RidgeModel, SendScores, mean_scores
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

    def __init__(self, ridge: float = 1.0):
        self.model = RidgeModel(block_widths(self.nonlinear), ridge)
        self.exploration = 0.0
        """share of today's decisions that differ from the greedy choice (for TensorBoard)"""
        self.learned_on: tuple[int, ...] = ()
        """market seeds whose rewards are in the model (kept with the state, so it is not evaluated on the shoppers it learned from)"""

    @abstractmethod
    def choose(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> Decision: ...

    @abstractmethod
    def probabilities(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> np.ndarray:
        """(n, N_ACTIONS) the probability of every action under the policy (exact or estimated, as
        the subclass documents); for off-policy evaluation and for checking the propensities."""

    def action_probabilities(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> np.ndarray:
        if not len(obs):  # a day or a request with nobody to decide for: the batched scorers reshape by n
            return np.zeros((0, N_ACTIONS))
        return self.probabilities(arm_features(obs, self.nonlinear), mask, context.rng)

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        if not len(obs):
            self.exploration = 0.0
            return Decision(np.zeros(0, dtype=np.int64), np.ones(0), priority=np.zeros(0))
        return self.choose(arm_features(obs, self.nonlinear), mask, context.rng)

    def greedy(self, feats: ArmFeatures, mask: ActionMask) -> tuple[np.ndarray, np.ndarray]:
        """The action with the highest expected reward (no exploration), and its margin over no contact."""
        return best_allowed(mean_scores(self.model.theta, feats, self.model), mask.channel_ok)

    def incremental_scores(self, feats: ArmFeatures) -> np.ndarray:
        """(n, O, H, S) the model's expected reward of every send arm over no contact, at the posterior mean."""
        mean = mean_scores(self.model.theta, feats, self.model)
        return mean.full() - mean.none[:, None, None, None]

    def update(self, feedback: Feedback) -> None:
        feats = arm_features(feedback.obs, self.nonlinear)
        self.model.update(feats.rows(feedback.actions), feedback.reward)

    def save(self, path: Path, seed: int | None = None) -> None:
        """Parameters as a portable .npz (no pickle): the ridge model's A and b, the class, the hyperparameters,
        and the market seeds learned on (``seed``: the one of the run that ends here).

        Reloading it with :meth:`load_state` resumes learning exactly where it stopped.
        """
        learned_on = [*self.learned_on, *([] if seed is None else [seed])]
        np.savez(Path(path), version=np.array(STATE_VERSION), kind=np.array(type(self).__name__), params=np.array(repr(self.params())),
                 learned_on=np.array(learned_on, dtype=np.int64), **self._arrays())

    def params(self) -> dict[str, float]:
        return {"ridge": self.model.ridge}

    def _arrays(self) -> dict[str, np.ndarray]:
        return self.model.state()

    def _restore(self, data) -> None:
        self.model = RidgeModel.from_state({k: data[k] for k in RidgeModel.STATE_KEYS})

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
    deterministic, so its propensity is 1. Mixed in before a :class:`LinearBandit`, whose subclass supplies
    ``_upper(feats, mask) -> (UCB action, its margin over no contact, greedy action)`` and ``alpha``."""

    def params(self) -> dict[str, float]:
        return {"alpha": self.alpha, **super().params()}

    def probabilities(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> np.ndarray:
        """Exact: all mass on the UCB action."""
        return one_hot(self._upper(feats, mask)[0])

    def choose(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> Decision:
        actions, margin, greedy = self._upper(feats, mask)
        self.exploration = float((actions != greedy).mean())
        return Decision(actions, np.ones(len(actions)), priority=margin)
