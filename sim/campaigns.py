"""The offers one market can deliver: the catalogue's, then the market's campaigns.

A campaign (:class:`sim.config.CampaignConfig`) is a discount-free message featuring one category,
such as the Hillstrom e-mails. It gets the offer id after the catalogue's (``N_OFFERS + k`` for
the k-th campaign) and is sent with the action :func:`sim.catalogue.encode` gives that id, a
channel and a slot. Those actions lie beyond ``N_ACTIONS``: the policies' action space, and with it
every policy, bandit and network, stays the catalogue's. The guardrails check a campaign send as
the catalogue's ``info`` message on the same channel and slot, which is exact: consent and the
frequency cap depend on the channel only, and the budget commitment on the channel cost and the
offer's face value, which is 0 for both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.catalogue import (
    CATEGORY_NAMES,
    N_ACTIONS,
    N_CHANNELS,
    N_OFFERS,
    N_SLOTS,
    OFFER_APPEAL,
    OFFER_CATEGORY,
    OFFER_DEPTH,
    OFFER_FIXED,
    OFFER_IS_RECOMMENDATION,
    OFFER_KIND,
    OFFER_KINDS,
    OFFER_NAMES,
    decode,
    encode,
)
from sim.config import CampaignConfig


@dataclass(frozen=True)
class OfferTable:
    """Per-offer constants (catalogue offers, then campaigns) and per-action lookups, as arrays."""

    names: tuple[str, ...]
    category: np.ndarray  # (O,) int64, -1 = every category
    depth: np.ndarray  # (O,) float32
    fixed: np.ndarray  # (O,) float32
    appeal: np.ndarray  # (O,) float32
    is_recommendation: np.ndarray  # (O,) bool
    kind: np.ndarray  # (O,) int64 index into OFFER_KINDS; a campaign is an information message
    action_offer: np.ndarray  # (A,) int64, -1 for no contact
    action_channel: np.ndarray  # (A,) int64
    action_slot: np.ndarray  # (A,) int64
    checked_as: np.ndarray  # (A,) int64 the catalogue action the guardrails check each action as

    @property
    def n_actions(self) -> int:
        return self.action_offer.size


def offer_table(campaigns: dict[str, CampaignConfig]) -> OfferTable:
    """The catalogue's offers followed by ``campaigns`` in their order (ids ``N_OFFERS``, ``N_OFFERS + 1``, ...)."""
    k = len(campaigns)
    n_actions = N_ACTIONS + k * N_CHANNELS * N_SLOTS
    offer, channel, slot = decode(np.arange(n_actions))
    checked_as = np.where(offer >= N_OFFERS, encode(OFFER_NAMES.index("info"), channel, slot), np.arange(n_actions))
    cats = np.array([CATEGORY_NAMES.index(c.category) if c.category else -1 for c in campaigns.values()], dtype=np.int64)
    return OfferTable(
        names=OFFER_NAMES + tuple(campaigns),
        category=np.concatenate([OFFER_CATEGORY, cats]),
        depth=np.concatenate([OFFER_DEPTH, np.zeros(k, dtype=np.float32)]),
        fixed=np.concatenate([OFFER_FIXED, np.zeros(k, dtype=np.float32)]),
        appeal=np.concatenate([OFFER_APPEAL, np.array([c.appeal for c in campaigns.values()], dtype=np.float32)]),
        is_recommendation=np.concatenate([OFFER_IS_RECOMMENDATION, np.zeros(k, dtype=bool)]),
        kind=np.concatenate([OFFER_KIND, np.full(k, OFFER_KINDS.index("info"), dtype=np.int64)]),
        action_offer=offer,
        action_channel=channel,
        action_slot=slot,
        checked_as=checked_as.astype(np.int64),
    )
