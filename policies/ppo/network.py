"""The actor-critic PPO trains and acts with: scaled CRM features in, a factored head over the flat action out.

The action is the market's flat ``Discrete(256)`` (no contact, or offer x channel x slot) with the
exact guardrail mask of :meth:`sim.vec_env.MarketVecEnv.action_masks`. The masks are conditional
(a frequency cap forbids every send but no contact; a missing consent forbids a channel for every
offer), which a ``MultiDiscrete`` action cannot express in sb3-contrib (its masks are per
component, sb3-contrib issue 80), so the flat action is the simple exact choice.
"""

from __future__ import annotations

import math

import torch as th
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from sim.catalogue import ACTION_CHANNEL, ACTION_OFFER, ACTION_SLOT, N_CHANNELS, N_OFFERS, N_SLOTS


class UnitFeatures(BaseFeaturesExtractor):
    """The CRM features rescaled to [0, 1] by their documented bounds (:mod:`sim.features`).

    ``monetary`` reaches 12 and ``opens_email`` 45 while the flags are 0/1; unscaled, the large
    ones would dominate the first layer. The scaling lives in the network (buffers saved with
    the model), so a loaded or exported model needs no side statistics.
    """

    def __init__(self, observation_space: spaces.Box):
        super().__init__(observation_space, features_dim=int(observation_space.shape[0]))
        self.register_buffer("low", th.as_tensor(observation_space.low, dtype=th.float32))
        self.register_buffer("span", th.as_tensor(observation_space.high - observation_space.low, dtype=th.float32))

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return (observations - self.low) / self.span


class FactoredHead(nn.Module):
    """Action logits over the flat ``Discrete(256)`` built from four small choices: contact?, offer, channel, slot.

    One linear layer gives :math:`z_0`, the log-odds of no contact against a contact, and logits
    :math:`u_o, v_h, w_s` for the 17 offers, 5 channels and 3 slots. The logit of action
    :math:`a = (o, h, s)` is

    .. math::  \\ell_0 = z_0, \\qquad \\ell_a = \\log\\operatorname{softmax}(u)_o
               + \\log\\operatorname{softmax}(v)_h + \\log\\operatorname{softmax}(w)_s \\quad (a \\ge 1),

    so that before masking :math:`P(\\text{no contact}) = \\sigma(z_0)` and, given a contact,
    offer, channel and slot are independent choices. Two things go wrong with SB3's own flat
    head (one free logit per action, measured in the README): the probability of contacting is
    a log-sum-exp over 255 logits, which noise in them alone raises (Jensen's inequality), so
    PPO drifted toward contacting every day the cap allowed; and what is learnt about e-mail
    from one offer teaches nothing about e-mail with the other 16. The action stays the flat
    ``Discrete(256)``, so sb3-contrib's exact mask applies to these logits unchanged (a
    forbidden channel removes its 51 actions and the rest is renormalised), which a
    ``MultiDiscrete`` action could not give (sb3-contrib issue 80).
    """

    def __init__(self, latent_dim: int):
        super().__init__()
        self.linear = nn.Linear(latent_dim, 1 + N_OFFERS + N_CHANNELS + N_SLOTS)
        self.register_buffer("offer", th.as_tensor(ACTION_OFFER[1:]), persistent=False)
        self.register_buffer("channel", th.as_tensor(ACTION_CHANNEL[1:] + N_OFFERS), persistent=False)
        self.register_buffer("slot", th.as_tensor(ACTION_SLOT[1:] + N_OFFERS + N_CHANNELS), persistent=False)

    def factors(self, latent: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor]:
        """:math:`z_0` and the log-softmax of offers, channels and slots: the four parts every logit is made of."""
        z = self.linear(latent)
        offer, channel, slot = th.split(z[..., 1:], [N_OFFERS, N_CHANNELS, N_SLOTS], dim=-1)
        return z[..., 0], th.log_softmax(offer, dim=-1), th.log_softmax(channel, dim=-1), th.log_softmax(slot, dim=-1)

    def forward(self, latent: th.Tensor) -> th.Tensor:
        z0, *logs = self.factors(latent)
        parts = th.cat(logs, dim=-1)
        message = parts[..., self.offer] + parts[..., self.channel] + parts[..., self.slot]
        return th.cat([z0[..., None], message], dim=-1)


class FactoredPolicy(MaskableActorCriticPolicy):
    """sb3-contrib's masked actor-critic with the :class:`FactoredHead` in place of its flat action layer."""

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        self.action_net = FactoredHead(self.mlp_extractor.latent_dim_pi)
        self.init_weights(self.action_net.linear, gain=0.01)  # SB3's initialisation of an action layer
        # the optimiser built by SB3 holds the replaced layer's parameters: build it again on these
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)


def contact_prior(network: FactoredPolicy, contact: float) -> None:
    """Make the untrained policy contact a shopper open on every channel with probability ``contact``.

    SB3 starts the logits near 0, i.e. even odds of contacting every day, which would tire the
    whole training market before anything is learnt. The bias of :math:`z_0` is set to
    :math:`\\log((1 - c) / c)`; the messages stay equally likely, so a shopper with fewer
    allowed channels is contacted less (their forbidden messages are masked out).
    """
    with th.no_grad():
        network.action_net.linear.bias[0] = math.log((1.0 - contact) / contact)

