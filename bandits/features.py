"""Arm features in the action-dependent style: what an (observation, action) pair looks like to a learner.

Every arm is described by what it is (offer, its category and depth; channel; slot) crossed with
the shopper's context, so the 255 send arms share what they learn instead of each arm starting
from zero. The feature vector of observation x and action a is made of blocks:

.. math::

    \\phi(x, a) = \\big[\\, \\beta(x) \\;\\big|\\; \\mathbb{1}[a \\ne 0]\\,\\big(\\gamma(x),\\; \\omega(x, o),\\; \\eta(x, h),\\; e_s\\big) \\big]

- :math:`\\beta(x)` the *base* block, all observed features: what the shopper would be worth
  without a message. It is part of every arm, "no contact" included, so it soaks up the organic
  variance of the reward and the other blocks measure *incremental* effects: this is how "no
  contact" is an arm like the others.
- :math:`\\gamma(x)` the *contact* block: the effect of any message, by context.
- :math:`\\omega(x, o)` the *offer* block: a one-hot of the offer plus the shopper's purchases and
  views in the offer's category (relevance) and the discount depth crossed with frequency and recency.
- :math:`\\eta(x, h)` the *channel* block: a one-hot of the channel plus the shopper's recent opens
  on it and recent contacts weighted by the channel's intrusiveness.
- :math:`e_s` a one-hot of the send slot.

Because the blocks for offer, channel and slot are separate, a linear score splits into a sum of
per-offer, per-channel and per-slot terms, and so does the quadratic form of an uncertainty bonus
(:mod:`bandits.linear`): all 256 arms of every shopper are scored with a few batched matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.catalogue import (
    ACTION_CHANNEL,
    ACTION_OFFER,
    ACTION_SLOT,
    CATEGORY_NAMES,
    CHANNEL_FATIGUE,
    CHANNEL_NAMES,
    N_CHANNELS,
    N_OFFERS,
    N_SLOTS,
    OFFER_CATEGORY,
    OFFER_DEPTH,
)
from sim.features import FEATURE_NAMES, index

BASE_FEATURES = FEATURE_NAMES
"""every observed feature: whatever predicts the organic reward must sit in the base block, or the
send-only blocks (which see e.g. category purchases) would mistake organic differences between
shoppers for the effect of a message"""
CONTACT_FEATURES = ("personal_data", "recency", "frequency", "monetary", "tenure", "contacts_7d", "days_since_contact")
BLOCKS = ("base", "contact", "offer", "channel", "slot")
_BOUGHT = [index(f"bought_{c}") for c in CATEGORY_NAMES]
_VIEWS = [index(f"views_{c}") for c in CATEGORY_NAMES]
_OPENS = [index(f"opens_{h}") for h in CHANNEL_NAMES]


@dataclass
class ArmFeatures:
    """Feature blocks of n shoppers, each (n, options, width): base and contact have one option."""

    base: np.ndarray  # (n, 1, d_b)
    contact: np.ndarray  # (n, 1, d_c)
    offer: np.ndarray  # (n, O, d_o)
    channel: np.ndarray  # (n, H, d_h)
    slot: np.ndarray  # (n, S, d_s)

    def blocks(self) -> list[np.ndarray]:
        return [self.base, self.contact, self.offer, self.channel, self.slot]

    def rows(self, actions: np.ndarray) -> np.ndarray:
        """(n, d) the full feature vector of each shopper's action (zeros outside the base block for no contact)."""
        n = len(actions)
        sent = (actions > 0).astype(np.float32)[:, None]
        i = np.arange(n)
        a = np.asarray(actions)
        return np.concatenate(
            [
                self.base[:, 0],
                sent * self.contact[:, 0],
                sent * self.offer[i, np.maximum(ACTION_OFFER[a], 0)],
                sent * self.channel[i, np.maximum(ACTION_CHANNEL[a], 0)],
                sent * self.slot[i, np.maximum(ACTION_SLOT[a], 0)],
            ],
            axis=1,
        )


RECENCY_EDGES = np.array([30, 60, 120, 240]) / 365.0
"""bin edges of days since the last purchase, on the observation's scale (days / 365)"""
FREQUENCY_EDGES = np.log1p([1, 3, 8, 20])
"""bin edges of purchases, on the observation's scale (log(1 + purchases))"""
CONTACT_EDGES = np.array([1, 2, 3])
"""bin edges of contacts in the last 7 days"""


def _one_hot_bins(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return (np.searchsorted(edges, x, side="right")[:, None] == np.arange(edges.size + 1)).astype(np.float32)


def block_widths(nonlinear: bool = False) -> list[int]:
    bins = (RECENCY_EDGES.size + 1) + (FREQUENCY_EDGES.size + 1) + (CONTACT_EDGES.size + 1) if nonlinear else 0
    return [1 + len(BASE_FEATURES), 1 + len(CONTACT_FEATURES) + bins, N_OFFERS + 4 + (RECENCY_EDGES.size + 1 if nonlinear else 0),
            N_CHANNELS + 2, N_SLOTS]


def arm_features(obs: np.ndarray, nonlinear: bool = False) -> ArmFeatures:
    """The blocks of :math:`\\phi` for a batch of observations (see the module docstring).

    With ``nonlinear``, the contact block also gets one-hot bins of recency, frequency and recent
    contacts, and the offer block the discount depth crossed with the recency bins: piecewise-constant
    functions of the context, so a linear learner can fit effects that are not linear in the raw features.
    """
    n = len(obs)
    obs = obs.astype(np.float32, copy=False)
    ones = np.ones((n, 1), dtype=np.float32)
    base = np.concatenate([ones, obs[:, [index(f) for f in BASE_FEATURES]]], axis=1)[:, None, :]
    contact = [ones, obs[:, [index(f) for f in CONTACT_FEATURES]]]
    rec_bins = _one_hot_bins(obs[:, index("recency")], RECENCY_EDGES)
    if nonlinear:
        contact += [rec_bins, _one_hot_bins(obs[:, index("frequency")], FREQUENCY_EDGES), _one_hot_bins(obs[:, index("contacts_7d")], CONTACT_EDGES)]
    contact = np.concatenate(contact, axis=1)[:, None, :]

    bought, views = obs[:, _BOUGHT], obs[:, _VIEWS]
    general = OFFER_CATEGORY < 0
    cat = np.maximum(OFFER_CATEGORY, 0)
    rel_bought = np.where(general, bought.max(axis=1, keepdims=True), bought[:, cat])  # (n, O)
    rel_views = np.where(general, views.max(axis=1, keepdims=True), views[:, cat])
    freq, rec = obs[:, index("frequency")][:, None], obs[:, index("recency")][:, None]
    offer = [
        np.broadcast_to(np.eye(N_OFFERS, dtype=np.float32), (n, N_OFFERS, N_OFFERS)),
        rel_bought[..., None], rel_views[..., None], (OFFER_DEPTH * freq)[..., None], (OFFER_DEPTH * rec)[..., None],
    ]
    if nonlinear:
        offer.append(OFFER_DEPTH[None, :, None] * rec_bins[:, None, :])
    offer = np.concatenate(offer, axis=2)
    opens = obs[:, _OPENS]
    tiring = obs[:, index("contacts_7d")][:, None] * CHANNEL_FATIGUE
    channel = np.concatenate(
        [np.broadcast_to(np.eye(N_CHANNELS, dtype=np.float32), (n, N_CHANNELS, N_CHANNELS)), opens[..., None], tiring[..., None]], axis=2
    )
    slot = np.broadcast_to(np.eye(N_SLOTS, dtype=np.float32), (n, N_SLOTS, N_SLOTS))
    return ArmFeatures(base, contact, offer.astype(np.float32), channel.astype(np.float32), slot)
