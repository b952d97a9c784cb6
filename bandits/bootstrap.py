"""Bootstrapped Thompson sampling over an ensemble of ridge models on a non-linear feature map."""

from __future__ import annotations

import ast

import numpy as np

from bandits.base import LinearBandit, best_allowed, vote_share
from bandits.features import ArmFeatures, arm_features, block_widths
from bandits.linear import RidgeModel, mean_scores
from policies.base import Decision, Feedback
from sim.guardrails import ActionMask


class BootstrapEnsemble(LinearBandit):
    """B ridge models, each fitted on a Poisson(1) bootstrap of the data (Osband & Van Roy 2015).

    Each shopper is decided by a member drawn uniformly at random, which acts greedily: the
    ensemble's disagreement is the exploration. Members use the binned feature map
    (``nonlinear = True``), so they capture effects that are not linear in the raw features.
    The propensity is exact under this scheme:

    .. math::  \\pi(a \\mid x) = \\frac{1}{B} \\sum_{b=1}^{B} \\mathbb{1}[a^*_b(x) = a]

    The update weights each matured reward by an independent Poisson(1) count per member, drawn
    from ``seed``, so a run is reproducible.
    """

    name = "bootstrap"
    nonlinear = True

    def __init__(self, members: int = 8, ridge: float = 1.0, seed: int = 0, prior_scale: float = 1.0, response_history: bool = False,
                 value_horizon: float = 0.0):
        if members < 1:
            raise ValueError(f"members={members!r}: must be >= 1")
        if not prior_scale >= 0:
            raise ValueError(f"prior_scale={prior_scale!r}: must be >= 0")
        super().__init__(ridge, response_history, value_horizon)
        self.seed = seed
        self.prior_scale = prior_scale
        self._weights = np.random.default_rng(seed)
        self.members = [RidgeModel(block_widths(self.nonlinear, self.history), ridge) for _ in range(members)]
        for member in self.members:  # a random prior per member, so that the ensemble disagrees (explores) before any data
            member.b += ridge * prior_scale * self._weights.standard_normal(member.d)
            member.update(np.zeros((0, member.d)), np.zeros(0))

    def params(self) -> dict[str, float]:
        return {"members": len(self.members), "seed": self.seed, "prior_scale": self.prior_scale, **super().params()}

    def _votes(self, feats: ArmFeatures, mask: ActionMask) -> np.ndarray:
        """(B, n) each member's greedy action."""
        return np.stack([best_allowed(mean_scores(m.theta, feats, m), mask.channel_ok)[0] for m in self.members])

    def probabilities(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> np.ndarray:
        """Exact: the members' vote shares (each shopper's member is drawn uniformly)."""
        return vote_share(self._votes(feats, mask))

    def choose(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> Decision:
        choices = self._votes(feats, mask)
        pick = rng.integers(0, len(self.members), choices.shape[1])
        actions = choices[pick, np.arange(choices.shape[1])]
        propensity = (choices == actions).mean(axis=0)
        greedy, margin = self.greedy(feats, mask)
        self.exploration = float((actions != greedy).mean())
        return Decision(actions, propensity, priority=margin)

    def update(self, feedback: Feedback) -> None:
        phi = arm_features(feedback.obs, self.nonlinear, self.history).rows(feedback.actions)  # once, not per member
        reward = self.targets(feedback)
        self.model.update(phi, reward)  # the pooled fit: the greedy reference and the budget priority
        for member in self.members:
            member.update(phi, reward, weight=self._weights.poisson(1.0, len(phi)))

    def _arrays(self) -> dict[str, np.ndarray]:
        members = {f"member{k}_{name}": v for k, m in enumerate(self.members) for name, v in m.state().items()}
        return {**super()._arrays(), **members, "weights_state": np.array(repr(self._weights.bit_generator.state))}

    def _restore(self, data) -> None:
        super()._restore(data)
        self.members = [RidgeModel.from_state({name: data[f"member{k}_{name}"] for name in RidgeModel.STATE_KEYS}) for k in range(len(self.members))]
        self._weights.bit_generator.state = ast.literal_eval(str(data["weights_state"]))
