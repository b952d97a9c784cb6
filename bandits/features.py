"""Arm features in the action-dependent style: what an (observation, action) pair looks like to a learner.

Every arm is described by what it is (offer, its category and depth; channel; slot) crossed with
the shopper's context, so the 255 send arms share what they learn instead of each arm starting
from zero. The feature vector of observation x and action a is made of blocks:

.. math::

    \\phi(x, a) = \\big[\\, \\beta(x) \\;\\big|\\; \\mathbb{1}[a \\ne 0]\\,\\big(\\gamma(x),\\; \\omega(x, o),\\; \\eta(x, h),\\; e_s\\big) \\big]

- :math:`\\beta(x)` the *base* block, the observed features (the campaign-response history by
  kind, category and slot as two totals: :data:`BASE_FEATURES`) plus one-hot bins of recency and
  frequency: what the shopper would be worth without a message. It is part of every arm, "no
  contact" included, so it soaks up the organic variance of the reward and the other blocks
  measure *incremental* effects: this is how "no contact" is an arm like the others. The bins let
  the organic profit bend with recency and frequency: an adaptive learner sends where its model
  underrates the organic profit, so whatever the base block misfits, the send blocks absorb
  (docs/bandits.md); a closer organic fit is a less biased increment.
- :math:`\\gamma(x)` the *contact* block: the effect of any message, by context.
- :math:`\\omega(x, o)` the *offer* block: a one-hot of the offer plus the shopper's purchases and
  views in the offer's category (relevance), the discount depth crossed with frequency, recency and
  the promotion share, and the shopper's redemptions of offers of the same kind (the
  campaign-response history of :mod:`sim.features`).
- :math:`\\eta(x, h)` the *channel* block: a one-hot of the channel plus the shopper's recent opens
  on it and recent contacts weighted by the channel's intrusiveness.
- :math:`e_s` a one-hot of the send slot.

Beside the blocks, ``sessions`` holds each slot's share of the shopper's site sessions,
:math:`n_s / (1 + \\sum_k n_k)` (0 without sessions): the CRM's only clue to when the shopper reads
messages. It is not part of :math:`\\phi`: in an additive score a better-timed message is better by
the same amount whatever it says, while timing multiplies a message's worth, good or bad (in a
randomised log its coefficient came out negative, README). The open model of
:mod:`bandits.open_value`, where timing belongs, reads it.

Because the blocks for offer, channel and slot are separate, a linear score splits into a sum of
per-offer, per-channel and per-slot terms, and so does the quadratic form of an uncertainty bonus
(:mod:`bandits.linear`): all 256 arms of every shopper are scored with a few matrix products over
the dense features only, the one-hots being lookups in the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

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
    OFFER_KIND,
    OFFER_KINDS,
    SLOTS,
)
from sim.features import FEATURE_NAMES, RESPONSE_HISTORY, index

PLAIN_FEATURES = tuple(f for f in FEATURE_NAMES if f not in RESPONSE_HISTORY)
"""every observed feature but the campaign-response history: the base block of a learner that does not read it.
Whatever predicts the organic reward must sit in the base block, or the send-only blocks (which see e.g. category
purchases) would mistake organic differences between shoppers for the effect of a message."""
BASE_FEATURES = PLAIN_FEATURES + ("promo_share", "order_value", "days_since_open", "days_since_redemption")
"""the base block of a learner that reads the response history: the history's summaries, not its detail by kind,
category and slot, which the base block reads as two totals (:data:`BASE_TOTALS`); the detail's 33 columns would
cost a ridge model's per-shopper products about 1.9 times as much (they grow with the square of the vector's
length) for what the summaries already say about a shopper's organic worth"""
BASE_TOTALS = ("opened", "redeemed")
"""the base block's totals of the response history: messages opened and purchases made on an offer, over every kind"""
CONTACT_FEATURES = ("personal_data", "recency", "frequency", "monetary", "tenure", "contacts_7d", "days_since_contact")
LOAD_FEATURES = ("contacts_7d", "contacts_30d", "days_since_contact", "recency", "frequency", "monetary")
"""what prices one more message for this shopper (``ArmFeatures.load``): the shop's recent contacts, which a shopper's
fatigue, and so their open, unsubscribe and churn hazards, follow, and the purchase record that says what a lapse would cost"""
_BOUGHT = [index(f"bought_{c}") for c in CATEGORY_NAMES]
_VIEWS = [index(f"views_{c}") for c in CATEGORY_NAMES]
_OPENS = [index(f"opens_{h}") for h in CHANNEL_NAMES]
_SESSIONS = [index(f"sessions_{s}") for s in SLOTS]
_OPENED, _REDEEMED = [index(f"opened_{k}") for k in OFFER_KINDS], [index(f"redeemed_{k}") for k in OFFER_KINDS]
_PROMO_SHARE = index("promo_share")


@dataclass
class ArmFeatures:
    """Feature blocks of n shoppers.

    ``base`` (n, d_b) and ``contact`` (n, d_c) are one vector per shopper. Each option block --
    ``offer`` (n, O, k_o), ``channel`` (n, H, k_h), ``slot`` (n, S, 0) -- is, in the full feature
    vector, a one-hot of the option followed by that option's k dense features; only the dense
    part is stored, because the one-hot is the same for every shopper and the scorers of
    :mod:`bandits.linear` read it off the parameter vector instead of multiplying by it.
    """

    base: np.ndarray
    contact: np.ndarray
    offer: np.ndarray
    channel: np.ndarray
    slot: np.ndarray
    sessions: np.ndarray
    """(n, S) each slot's share of the shopper's site sessions (not a block of the feature vector)"""
    load: np.ndarray
    """(n, len(LOAD_FEATURES)) the contact load and purchase record (not a block of the additive feature vector; the
    long-term charge of a send in :mod:`bandits.open_value` reads it per channel)"""

    def subset(self, rows: slice | np.ndarray) -> ArmFeatures:
        """The features of the shoppers ``rows`` selects."""
        return ArmFeatures(*(getattr(self, f.name)[rows] for f in fields(self)))

    def options(self) -> list[np.ndarray]:
        """The dense parts of the offer, channel and slot blocks, in the feature vector's order."""
        return [self.offer, self.channel, self.slot]

    def rows(self, actions: np.ndarray) -> np.ndarray:
        """(n, d) float64 the full feature vector of each shopper's action (zeros outside the base block for no contact):
        the rows a ridge model adds up in float64, written straight into one array."""
        a = np.asarray(actions)
        widths = [self.base.shape[1], self.contact.shape[1], *(b.shape[1] + b.shape[2] for b in self.options())]
        out = np.zeros((len(a), sum(widths)), dtype=np.float64)
        out[:, : widths[0]] = self.base
        sent = np.flatnonzero(a > 0)
        start = widths[0]
        out[sent, start : start + widths[1]] = self.contact[sent]
        start += widths[1]
        for block, option_of in zip(self.options(), (ACTION_OFFER, ACTION_CHANNEL, ACTION_SLOT)):
            k, m = option_of[a[sent]], block.shape[1]
            out[sent, start + k] = 1.0
            out[sent, start + m : start + m + block.shape[2]] = block[sent, k]
            start += m + block.shape[2]
        return out


RECENCY_EDGES = np.array([30, 60, 120, 240]) / 365.0
"""bin edges of days since the last purchase, on the observation's scale (days / 365)"""
FREQUENCY_EDGES = np.log1p([1, 3, 8, 20])
"""bin edges of purchases, on the observation's scale (log(1 + purchases))"""
CONTACT_EDGES = np.array([1, 2, 3])
"""bin edges of contacts in the last 7 days"""


def _one_hot_bins(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return (np.searchsorted(edges, x, side="right")[:, None] == np.arange(edges.size + 1)).astype(np.float32)


def base_names(history: bool = False) -> tuple[str, ...]:
    """The names of the base block's columns, in order: intercept, the features (:data:`PLAIN_FEATURES`, or with
    ``history`` :data:`BASE_FEATURES` and :data:`BASE_TOTALS`), the bins."""
    features = (*BASE_FEATURES, *(f"{t}_total" for t in BASE_TOTALS)) if history else PLAIN_FEATURES
    return ("intercept", *features, *(f"recency_bin{k}" for k in range(1, RECENCY_EDGES.size + 1)),
            *(f"frequency_bin{k}" for k in range(1, FREQUENCY_EDGES.size + 1)))


def block_widths(nonlinear: bool = False, history: bool = False) -> list[int]:
    """Widths of the blocks of the full feature vector; an option block's width counts its one-hot."""
    bins = (RECENCY_EDGES.size + 1) + (FREQUENCY_EDGES.size + 1) + (CONTACT_EDGES.size + 1) if nonlinear else 0
    offer = N_OFFERS + _OFFER_COLUMNS[nonlinear, history][0].shape[1]
    return [len(base_names(history)), 1 + len(CONTACT_FEATURES) + bins, offer, N_CHANNELS + 2, N_SLOTS]


_PLAIN, _BASE = [index(f) for f in PLAIN_FEATURES], [index(f) for f in BASE_FEATURES]
_CONTACT = [index(f) for f in CONTACT_FEATURES]
_LOAD = [index(f) for f in LOAD_FEATURES]
_RECENCY, _FREQUENCY, _CONTACTS_7D = index("recency"), index("frequency"), index("contacts_7d")
_DEPTH = OFFER_DEPTH.astype(np.float32)

# Every dense feature of an option is one column of a per-shopper source table times a constant of the
# option: (source column, factor) per option and feature, so a whole block is one gather and one product,
# written in its final (n, options, features) layout. The offer sources are [bought by category, the
# strongest bought, views by category, the strongest viewed, frequency, recency, and with the history
# redeemed by offer kind and the promotion share, then recency bins]; an offer without a category (info,
# free shipping, ...) takes the shopper's strongest category as its relevance. From the campaign-response
# history each offer reads the shopper's redemptions of offers of its own kind and its depth times the
# promotion share: a discount is worth more to a shopper who buys on promotion. Opens of the kind are left
# to the channel block's opens: every offer feature adds to the scorers' products (LinUCB's rate fell by
# about a tenth with it).
_C, _K = len(CATEGORY_NAMES), len(OFFER_KINDS)
_CATEGORY = np.where(OFFER_CATEGORY < 0, _C, OFFER_CATEGORY)
_KIND = 2 * _C + 4
_OFFER_SOURCE = np.stack([_CATEGORY, _C + 1 + _CATEGORY, np.full(N_OFFERS, 2 * _C + 2), np.full(N_OFFERS, 2 * _C + 3),
                          _KIND + OFFER_KIND, np.full(N_OFFERS, _KIND + _K)], axis=1)
_ONES = np.ones(N_OFFERS, np.float32)
_OFFER_FACTOR = np.stack([_ONES, _ONES, _DEPTH, _DEPTH, _ONES, _DEPTH], axis=1)
_PLAIN_OFFER = 4
"""the offer features of a learner that does not read the history: the first four"""


def _offer_columns(nonlinear: bool, history: bool) -> tuple[np.ndarray, np.ndarray]:
    """(source columns, factors) of the offer block: without the history its first four features, with ``nonlinear``
    the depth crossed with the recency bins, which follow the source table's last column."""
    width = _OFFER_SOURCE.shape[1] if history else _PLAIN_OFFER
    columns, factor = _OFFER_SOURCE[:, :width], _OFFER_FACTOR[:, :width]
    if nonlinear:
        bins = (_KIND + _K + 1 if history else _KIND) + np.tile(np.arange(RECENCY_EDGES.size + 1), (N_OFFERS, 1))
        columns = np.concatenate([columns, bins], axis=1)
        factor = np.concatenate([factor, np.repeat(_DEPTH[:, None], RECENCY_EDGES.size + 1, axis=1)], axis=1)
    return columns, factor


_OFFER_COLUMNS = {(nonlinear, history): _offer_columns(nonlinear, history) for nonlinear in (False, True) for history in (False, True)}
# channel sources [opens by channel, contacts in the last 7 days]: recent opens, and contacts x the channel's intrusiveness
_CHANNEL_SOURCE = np.stack([np.arange(N_CHANNELS), np.full(N_CHANNELS, N_CHANNELS)], axis=1)
_CHANNEL_FACTOR = np.stack([np.ones(N_CHANNELS, np.float32), CHANNEL_FATIGUE.astype(np.float32)], axis=1)


def _option_block(source: np.ndarray, columns: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """(n, m, k) ``source[:, columns] * factor``: each option's dense features from the shoppers' source table."""
    out = np.take(source, columns, axis=1)
    out *= factor
    return out


def arm_features(obs: np.ndarray, nonlinear: bool = False, history: bool = False) -> ArmFeatures:
    """The blocks of :math:`\\phi` for a batch of observations (see the module docstring).

    With ``nonlinear``, the contact block also gets one-hot bins of recency, frequency and recent
    contacts, and the offer block the discount depth crossed with the recency bins: piecewise-constant
    functions of the context, so a linear learner can fit effects that are not linear in the raw features.
    With ``history``, the base and offer blocks read the campaign-response history (:data:`BASE_FEATURES`,
    the offer's kind's redemptions and depth x promotion share); without, they are what they were before the
    CRM kept it, bit for bit.
    """
    n = len(obs)
    obs = obs.astype(np.float32, copy=False)
    ones = np.ones((n, 1), dtype=np.float32)
    rec_bins, freq_bins = _one_hot_bins(obs[:, _RECENCY], RECENCY_EDGES), _one_hot_bins(obs[:, _FREQUENCY], FREQUENCY_EDGES)
    if history:
        redeemed = obs[:, _REDEEMED]
        features = [obs[:, _BASE], obs[:, _OPENED].sum(axis=1, keepdims=True), redeemed.sum(axis=1, keepdims=True)]
        response = [redeemed, obs[:, [_PROMO_SHARE]]]
    else:  # the history is not read at all
        features, response = [obs[:, _PLAIN]], []
    base = np.concatenate([ones, *features, rec_bins[:, 1:], freq_bins[:, 1:]], axis=1)  # the first bin is the intercept's
    contact = [ones, obs[:, _CONTACT]]
    if nonlinear:
        contact += [rec_bins, freq_bins, _one_hot_bins(obs[:, _CONTACTS_7D], CONTACT_EDGES)]
    bought, views = obs[:, _BOUGHT], obs[:, _VIEWS]
    offer_source = [bought, bought.max(axis=1, keepdims=True), views, views.max(axis=1, keepdims=True), obs[:, [_FREQUENCY, _RECENCY]],
                    *response]
    columns, factor = _OFFER_COLUMNS[nonlinear, history]
    offer = _option_block(np.concatenate(offer_source + ([rec_bins] if nonlinear else []), axis=1), columns, factor)
    channel = _option_block(obs[:, [*_OPENS, _CONTACTS_7D]], _CHANNEL_SOURCE, _CHANNEL_FACTOR)
    sessions = obs[:, _SESSIONS]
    share = sessions / (1.0 + sessions.sum(axis=1, keepdims=True))
    return ArmFeatures(base, np.concatenate(contact, axis=1), offer, channel, np.zeros((n, N_SLOTS, 0), dtype=np.float32), share,
                        obs[:, _LOAD])
