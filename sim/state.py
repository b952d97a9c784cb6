"""The market's per-shopper state: one array per attribute, one row per shopper.

A :class:`~sim.shoppers.Shopper` agent is a view onto one row of these arrays. Fields that a
day's step writes for every shopper (profit, purchases, ...) live in :class:`DayOutcome` and are
overwritten each day.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from sim.catalogue import N_CATEGORIES, N_CHANNELS, N_SLOTS, OFFER_KINDS
from sim.population import Profile, Traits

CONTACT_MEMORY = 30
"""days of contact history kept per shopper (the longest contact window a feature or cap reads)"""
NEVER = -1_000_000
"""day index meaning "never happened" for last-purchase, last-contact, last-open and last-redemption days"""
RESPONSE_HALF_LIFE = 90.0
"""days after which a campaign response (a delivery, an open, a redemption) counts half in the CRM's response
history: a quarter's campaigns weigh most, as in the quarterly reviews a CRM analyst runs"""
N_KINDS = len(OFFER_KINDS)


@dataclass
class ShopperState:
    interest: np.ndarray  # (n, C) float32 latent interest z (logits); hidden from policies
    fatigue: np.ndarray  # (n,) float32
    engagement: np.ndarray  # (n,) float32
    consent: np.ndarray  # (n, H) bool contact consent now (sign-up consent minus unsubscribes)
    churned: np.ndarray  # (n,) bool
    last_purchase_day: np.ndarray  # (n,) int32, NEVER if none
    purchases: np.ndarray  # (n, C) float32 purchases in the CRM's memory (the year before joining + since)
    spend: np.ndarray  # (n,) float32 spend in the CRM's memory
    views: np.ndarray  # (n, C) float32 category views, decayed with a one-week half-life
    buzz: np.ndarray  # (n, C) float32 acquaintances' purchases seen, decayed (sim.network); hidden from policies
    opens: np.ndarray  # (n, H) float32 opened messages per channel, decayed with a 30-day half-life
    sessions: np.ndarray  # (n, S) float32 site sessions by the slot they were logged in, decayed with a 30-day half-life
    offer: np.ndarray  # (n,) int16 opened offer being redeemable, -1 none
    offer_category: np.ndarray  # (n,) int8 category it covers, -1 all
    offer_expiry: np.ndarray  # (n,) int32 last day it can be redeemed
    last_offer: np.ndarray  # (n,) int16 offer of the last delivered message, -1 none
    last_contact_day: np.ndarray  # (n,) int32, NEVER if none
    contacts: np.ndarray  # (CONTACT_MEMORY, n) uint8 ring buffer: 1 where a message was delivered that day
    # Campaign-response history, as a CRM keeps it (sim.features shows it): counts decayed with RESPONSE_HALF_LIFE, but
    # slot_opens with the 30-day half-life of the opens per channel
    kind_sent: np.ndarray  # (n, K) float32 messages delivered per offer kind (OFFER_KINDS)
    kind_opened: np.ndarray  # (n, K) float32 messages opened per offer kind
    kind_redeemed: np.ndarray  # (n, K) float32 purchases made with a redeemed offer, per the offer's kind
    category_opened: np.ndarray  # (n, C) float32 opened messages about a category (category offers, recommendations)
    category_redeemed: np.ndarray  # (n, C) float32 purchases in a category made with a redeemed offer
    recent_purchases: np.ndarray  # (n,) float32 purchases since joining, decayed like the redemptions (promotion share's base)
    slot_opens: np.ndarray  # (n, S) float32 opened messages by the slot they were sent in, 30-day half-life
    last_open_day: np.ndarray  # (n,) int32, NEVER if none
    last_redemption_day: np.ndarray  # (n,) int32, NEVER if none


@dataclass
class DayOutcome:
    """What happened to each shopper today; rewritten every day. All shape (n,) unless noted."""

    action: np.ndarray  # int64, the executed action (the proposal where the guardrails let it run, else 0)
    refusal: np.ndarray  # int8, why a proposed send did not run (sim.guardrails.REFUSALS; 0 = it ran)
    profit: np.ndarray  # float32, sim.reward.daily_profit
    revenue: np.ndarray  # float32
    margin: np.ndarray  # float32
    discount: np.ndarray  # float32
    channel_cost: np.ndarray  # float32
    sent: np.ndarray  # bool, a message was delivered
    opened: np.ndarray  # bool
    unsubscribed: np.ndarray  # bool, withdrew the consent of today's channel
    churned: np.ndarray  # bool, left today
    purchases: np.ndarray  # int8, categories bought in today
    viewed: np.ndarray  # bool, browsed at least one category today
    redeemed: np.ndarray  # int8, purchases covered by an opened offer
    bought: np.ndarray  # (n, C) bool


def initial_state(traits: Traits, profile: Profile) -> ShopperState:
    n = profile.join_day.size
    last_purchase = np.where(profile.recency_days >= 0, -profile.recency_days, NEVER).astype(np.int32)
    return ShopperState(
        interest=traits.interest_mean.copy(),
        fatigue=np.zeros(n, dtype=np.float32),
        engagement=np.zeros(n, dtype=np.float32),
        consent=profile.consent.copy(),
        churned=np.zeros(n, dtype=bool),
        last_purchase_day=last_purchase,
        purchases=profile.past_purchases.copy(),
        spend=profile.past_spend.copy(),
        views=np.zeros((n, N_CATEGORIES), dtype=np.float32),
        buzz=np.zeros((n, N_CATEGORIES), dtype=np.float32),
        opens=np.zeros((n, N_CHANNELS), dtype=np.float32),
        sessions=np.zeros((n, N_SLOTS), dtype=np.float32),
        offer=np.full(n, -1, dtype=np.int16),
        offer_category=np.full(n, -1, dtype=np.int8),
        offer_expiry=np.full(n, NEVER, dtype=np.int32),
        last_offer=np.full(n, -1, dtype=np.int16),
        last_contact_day=np.full(n, NEVER, dtype=np.int32),
        contacts=np.zeros((CONTACT_MEMORY, n), dtype=np.uint8),
        kind_sent=np.zeros((n, N_KINDS), dtype=np.float32),
        kind_opened=np.zeros((n, N_KINDS), dtype=np.float32),
        kind_redeemed=np.zeros((n, N_KINDS), dtype=np.float32),
        category_opened=np.zeros((n, N_CATEGORIES), dtype=np.float32),
        category_redeemed=np.zeros((n, N_CATEGORIES), dtype=np.float32),
        recent_purchases=np.zeros(n, dtype=np.float32),
        slot_opens=np.zeros((n, N_SLOTS), dtype=np.float32),
        last_open_day=np.full(n, NEVER, dtype=np.int32),
        last_redemption_day=np.full(n, NEVER, dtype=np.int32),
    )


def empty_outcome(n: int) -> DayOutcome:
    f32 = lambda: np.zeros(n, dtype=np.float32)  # noqa: E731 - five identical allocations
    return DayOutcome(
        action=np.zeros(n, dtype=np.int64), refusal=np.zeros(n, dtype=np.int8),
        profit=f32(), revenue=f32(), margin=f32(), discount=f32(), channel_cost=f32(),
        sent=np.zeros(n, dtype=bool), opened=np.zeros(n, dtype=bool), unsubscribed=np.zeros(n, dtype=bool),
        churned=np.zeros(n, dtype=bool), purchases=np.zeros(n, dtype=np.int8), viewed=np.zeros(n, dtype=bool),
        redeemed=np.zeros(n, dtype=np.int8),
        bought=np.zeros((n, N_CATEGORIES), dtype=bool),
    )


def reset_rows(state: ShopperState, fresh: ShopperState, rows: np.ndarray) -> None:
    """Overwrite ``rows`` with a fresh shopper's state (refilling churned rows)."""
    for f in fields(state):
        if f.name == "contacts":
            state.contacts[:, rows] = 0
        else:
            getattr(state, f.name)[rows] = getattr(fresh, f.name)
