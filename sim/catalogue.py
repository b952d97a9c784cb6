"""What a retailer can send: product categories, offers, channels, send slots, and the action encoding.

An action is one of ``1 + n_offers * n_channels * n_slots`` integers. Action 0 is "no contact";
every other action is the triple (offer, channel, slot), laid out offer-major:

.. math::  a = 1 + (o \\cdot H + h) \\cdot S + s

with :math:`o` the offer index, :math:`h` the channel index, :math:`s` the slot index, :math:`H`
channels and :math:`S` slots. :func:`encode` and :func:`decode` are exact inverses.

Channel costs, open rates, fatigue weights and unsubscribe risks are this project's modelling
assumptions (industry rules of thumb: e-mail is nearly free and mostly ignored, SMS is read but
annoys, a call centre contact is expensive and intrusive); see the README's "assumptions" table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Category:
    """A product category: what a purchase in it is worth to the shop."""

    name: str
    price: float
    """mean basket value of one purchase, in currency units"""
    margin: float
    """gross margin as a share of the basket value, in (0, 1)"""


@dataclass(frozen=True)
class Offer:
    """One kind of message. ``category`` is -1 where the offer covers every category."""

    name: str
    kind: str
    """info | recommendation | discount | free_shipping | bogo | loyalty"""
    category: int
    depth: float
    """share of the basket value given back on a redeemed purchase"""
    fixed_value: float
    """currency units given back on a redeemed purchase (free shipping)"""
    appeal: float
    """non-price pull of the message on purchase utility, in logits"""
    validity_days: int


@dataclass(frozen=True)
class Channel:
    """A way to reach a shopper."""

    name: str
    cost: float
    """cost of one send, in currency units"""
    open_rate: float
    """probability that a shopper with average affinity, in their active slot and unfatigued, opens"""
    fatigue: float
    """fatigue added by one delivered message (e-mail = 1)"""
    unsubscribe: float
    """probability that one delivered message makes an unfatigued shopper withdraw this channel's consent"""


CATEGORIES: tuple[Category, ...] = (
    Category("womens", price=70.0, margin=0.45),
    Category("mens", price=65.0, margin=0.42),
    Category("kids", price=45.0, margin=0.38),
    Category("home", price=90.0, margin=0.35),
    Category("beauty", price=35.0, margin=0.55),
    Category("electronics", price=180.0, margin=0.18),
)

CHANNELS: tuple[Channel, ...] = (
    Channel("email", cost=0.01, open_rate=0.22, fatigue=1.0, unsubscribe=0.002),
    Channel("sms", cost=0.06, open_rate=0.55, fatigue=2.2, unsubscribe=0.006),
    Channel("push", cost=0.005, open_rate=0.12, fatigue=1.3, unsubscribe=0.004),
    Channel("social_ad", cost=0.12, open_rate=0.04, fatigue=0.5, unsubscribe=0.001),
    Channel("call_centre", cost=1.50, open_rate=0.40, fatigue=4.0, unsubscribe=0.02),
)

SLOTS: tuple[str, ...] = ("morning", "midday", "evening")

VALIDITY_DAYS = 7
"""days an opened offer stays redeemable; the bandits' reward window is the same"""


def _build_offers() -> tuple[Offer, ...]:
    offers = [
        Offer("info", "info", -1, 0.0, 0.0, 0.25, VALIDITY_DAYS),
        Offer("recommendation", "recommendation", -1, 0.0, 0.0, 0.45, VALIDITY_DAYS),
        Offer("free_shipping", "free_shipping", -1, 0.0, 5.0, 0.20, VALIDITY_DAYS),
        Offer("bogo", "bogo", -1, 0.25, 0.0, 0.30, VALIDITY_DAYS),
        Offer("loyalty_points", "loyalty", -1, 0.05, 0.0, 0.15, VALIDITY_DAYS),
    ]
    for c, cat in enumerate(CATEGORIES):
        for depth in (0.10, 0.25):
            offers.append(Offer(f"{round(depth * 100)}% {cat.name}", "discount", c, depth, 0.0, 0.10, VALIDITY_DAYS))
    return tuple(offers)


OFFERS: tuple[Offer, ...] = _build_offers()

N_CATEGORIES = len(CATEGORIES)
N_OFFERS = len(OFFERS)
N_CHANNELS = len(CHANNELS)
N_SLOTS = len(SLOTS)
N_ACTIONS = 1 + N_OFFERS * N_CHANNELS * N_SLOTS
NO_CONTACT = 0

OFFER_KINDS: tuple[str, ...] = ("info", "recommendation", "discount", "free_shipping", "bogo", "loyalty")
"""the kinds of message a CRM analyst tells apart in a shopper's campaign-response history"""
PROMOTION_KINDS: tuple[str, ...] = ("discount", "free_shipping", "bogo", "loyalty")
"""the kinds that give money back on a redeemed purchase (a price promotion); information and recommendations do not"""
CATEGORY_NAMES = tuple(c.name for c in CATEGORIES)
OFFER_NAMES = tuple(o.name for o in OFFERS)
CHANNEL_NAMES = tuple(h.name for h in CHANNELS)

# Per-offer and per-channel constants as arrays, indexed by offer / channel, for vectorised use.
OFFER_CATEGORY = np.array([o.category for o in OFFERS], dtype=np.int64)
OFFER_DEPTH = np.array([o.depth for o in OFFERS], dtype=np.float32)
OFFER_FIXED = np.array([o.fixed_value for o in OFFERS], dtype=np.float32)
OFFER_APPEAL = np.array([o.appeal for o in OFFERS], dtype=np.float32)
OFFER_IS_RECOMMENDATION = np.array([o.kind == "recommendation" for o in OFFERS])
OFFER_KIND = np.array([OFFER_KINDS.index(o.kind) for o in OFFERS], dtype=np.int64)
CHANNEL_COST = np.array([h.cost for h in CHANNELS], dtype=np.float32)
CHANNEL_OPEN = np.array([h.open_rate for h in CHANNELS], dtype=np.float32)
CHANNEL_FATIGUE = np.array([h.fatigue for h in CHANNELS], dtype=np.float32)
CHANNEL_UNSUB = np.array([h.unsubscribe for h in CHANNELS], dtype=np.float32)
CATEGORY_PRICE = np.array([c.price for c in CATEGORIES], dtype=np.float32)
CATEGORY_MARGIN = np.array([c.margin for c in CATEGORIES], dtype=np.float32)


def encode(offer: np.ndarray | int, channel: np.ndarray | int, slot: np.ndarray | int) -> np.ndarray:
    """Action index of (offer, channel, slot); works on scalars and arrays alike."""
    return 1 + (np.asarray(offer) * N_CHANNELS + np.asarray(channel)) * N_SLOTS + np.asarray(slot)


def decode(action: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offer, channel, slot) of each action; -1 in all three for no contact."""
    a = np.asarray(action, dtype=np.int64)
    k = np.maximum(a - 1, 0)
    offer, rest = np.divmod(k, N_CHANNELS * N_SLOTS)
    channel, slot = np.divmod(rest, N_SLOTS)
    none = a == NO_CONTACT
    return np.where(none, -1, offer), np.where(none, -1, channel), np.where(none, -1, slot)


# Lookup tables: per action, its offer / channel / slot (-1 for no contact). Decoding by table is
# a single gather, which is what the market does every day for every shopper.
ACTION_OFFER, ACTION_CHANNEL, ACTION_SLOT = decode(np.arange(N_ACTIONS))


def action_name(action: int) -> str:
    """Readable name, e.g. ``"25% kids / sms / evening"`` or ``"no contact"``."""
    if not 0 <= int(action) < N_ACTIONS:
        raise ValueError(f"action={action!r}: must be an integer in [0, {N_ACTIONS - 1}]")
    if action == NO_CONTACT:
        return "no contact"
    return f"{OFFERS[ACTION_OFFER[action]].name} / {CHANNELS[ACTION_CHANNEL[action]].name} / {SLOTS[ACTION_SLOT[action]]}"


ACTION_NAMES: tuple[str, ...] = tuple(action_name(a) for a in range(N_ACTIONS))


def parse_action(name: str) -> int:
    """Inverse of :func:`action_name`: the action index of a readable name."""
    try:
        return ACTION_NAMES.index(name)
    except ValueError:
        raise ValueError(f"action name {name!r} is unknown; names look like {ACTION_NAMES[1]!r} or 'no contact'") from None
