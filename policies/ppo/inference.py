"""A trained PPO model acting behind the policy interface (:class:`PPOPolicy`), without the training stack.

Loading a MaskablePPO ``.zip`` needs torch and sb3's policy classes; it needs nothing of the
training loop, its callbacks or its TensorBoard writing, so none of them is imported here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch as th
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import BaseModel

from policies.base import Decision, DecisionContext, Policy, deterministic, inverse_cdf, sampled
from policies.ppo.config import PPOConfig
from policies.ppo.network import FactoredHead
from sim.catalogue import encode
from sim.guardrails import ActionMask


class PPOPolicy(Policy):
    """A trained MaskablePPO actor: masked action probabilities, one draw per shopper, its probability as propensity.

    The mask is applied before the softmax (sb3-contrib's ``MaskableCategorical``), so a
    forbidden action has probability 0 and is never drawn: no send without consent or over the
    cap. Draws use ``context.rng``, keyed by (seed, day), so a rerun makes the same choices.
    PPO is trained before the runs and frozen during them: ``update`` ignores feedback.
    """

    name = "ppo"

    def __init__(self, network: MaskableActorCriticPolicy, deterministic: bool = False):
        network.set_training_mode(False)
        self.network = network
        self.deterministic = deterministic
        self.exploration = 0.0
        """share of today's decisions that differ from the most probable action"""

    @classmethod
    def from_config(cls, name: str, config: PPOConfig) -> PPOPolicy:
        """The policy of ``config.model_path``, acting as ``config.deterministic`` says (the registry's way to build it)."""
        return cls.from_file(Path(config.model_path), config.deterministic)

    @classmethod
    def from_file(cls, path: Path, deterministic: bool = False) -> PPOPolicy:
        """The policy of a MaskablePPO ``.zip``; loading leaves the caller's torch random state as it was."""
        with th.random.fork_rng(devices=[]):  # building the network draws initial weights before they are overwritten
            model = MaskablePPO.load(Path(path), device="cpu")
        return cls(model.policy, deterministic)

    def probabilities(self, obs: np.ndarray, mask: ActionMask) -> np.ndarray:
        """(n, N_ACTIONS) the policy's probability of every action, exactly 0 where the mask forbids it."""
        if isinstance(self.network.action_net, FactoredHead):
            none, p, q, r, total = self._factors(obs, mask)
            send = p[:, :, None, None] * q[:, None, :, None] * r[:, None, None, :]  # laid out as sim.catalogue.encode
            return np.concatenate([none[:, None], send.reshape(len(obs), -1)], axis=1) / total[:, None]
        with th.no_grad():
            dist = self.network.get_distribution(th.as_tensor(obs, dtype=th.float32), action_masks=mask.dense())
        return dist.distribution.probs.numpy().astype(np.float64)

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        if len(obs) == 0:
            return deterministic(np.zeros(0, dtype=np.int64))
        if isinstance(self.network.action_net, FactoredHead):
            greedy, drawn, propensity = self._factored(obs, mask, context.rng)
        else:  # a MaskablePPO with SB3's flat head (whoever trained it): the 256 masked probabilities
            probs = self.probabilities(obs, mask)
            greedy = probs.argmax(axis=1)
            sample = sampled(probs, context.rng)
            drawn, propensity = sample.actions, sample.propensity
        if self.deterministic:
            return deterministic(greedy)
        self.exploration = float((drawn != greedy).mean())
        return Decision(drawn, propensity)

    def _factored(self, obs: np.ndarray, mask: ActionMask, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(most probable action, a draw, the draw's probability) under :class:`FactoredHead`, without the 256 logits.

        With :math:`p, q, r` the softmaxes of offers, channels and slots and :math:`Q_i` the mass of
        shopper i's allowed channels under q, the masked distribution is exactly

        .. math::  P(0) = \\frac{e^{z_0}}{e^{z_0} + Q_i}, \\qquad
                   P(o, h, s) = \\frac{p_o\\, q_h\\, r_s}{e^{z_0} + Q_i} \\quad (h \\text{ allowed}),

        so a draw is contact-or-not, then an offer, an allowed channel and a slot, each by inverse
        CDF on its own uniform: O(26) per shopper instead of O(256). The probabilities are those of
        :meth:`probabilities` (tested).
        """
        none, p, q, r, total = self._factors(obs, mask)
        rows = np.arange(len(obs))
        u = rng.random((len(obs), 4))
        send = u[:, 0] * total >= none
        o, h, s = inverse_cdf(p, u[:, 1]), inverse_cdf(q, u[:, 2]), inverse_cdf(r, u[:, 3])
        drawn = np.where(send, encode(o, h, s), 0).astype(np.int64)
        propensity = np.where(send, p[rows, o] * q[rows, h] * r[rows, s], none) / total
        best_o, best_h, best_s = p.argmax(axis=1), q.argmax(axis=1), r.argmax(axis=1)
        best_send = p[rows, best_o] * q[rows, best_h] * r[rows, best_s]
        greedy = np.where(best_send > none, encode(best_o, best_h, best_s), 0).astype(np.int64)
        return greedy, drawn, propensity

    def _factors(self, obs: np.ndarray, mask: ActionMask) -> tuple[np.ndarray, ...]:
        """:math:`e^{z_0}`, p, q (0 on forbidden channels), r and :math:`e^{z_0} + Q_i` of :meth:`_factored`, in float64.

        :math:`e^{z_0}` and q are both divided by :math:`e^{\\max(z_0, 0)}`, which leaves every ratio as it is and
        keeps a large :math:`z_0` (a policy sure not to contact) from overflowing.
        """
        with th.no_grad():
            x = th.as_tensor(obs, dtype=th.float32)
            latent = self.network.mlp_extractor.forward_actor(BaseModel.extract_features(self.network, x, self.network.pi_features_extractor))
            z0, offer, channel, slot = (t.numpy().astype(np.float64) for t in self.network.action_net.factors(latent))
        shift = np.maximum(z0, 0.0)
        none = np.exp(z0 - shift)
        q = np.where(mask.channel_ok, np.exp(channel - shift[:, None]), 0.0)
        return none, np.exp(offer), q, np.exp(slot), none + q.sum(axis=1)
