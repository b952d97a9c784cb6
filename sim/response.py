"""The shoppers' response equations, one pure function per equation, over arrays of shoppers.

Both ways of running the market (vectorised over all shoppers, or one Mesa agent at a time) call
these functions; an agent passes its own row as a batch of one. Symbols used below:
:math:`z_{ic}` latent interest of shopper i in category c (logits), :math:`f_i` fatigue,
:math:`e_i` engagement, :math:`\\rho_i` price sensitivity, :math:`\\sigma(x) = 1/(1+e^{-x})`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from sim.catalogue import N_CATEGORIES, N_SLOTS
from sim.config import ResponseParams

BASKET_SD = 0.6
"""log-normal spread of one basket's value around the category price"""
BUZZ_CAP = 4.0
"""acquaintances' purchases seen beyond which social proof adds no more interest"""
SLOT_MATCH = np.array([[1.0, 0.55, 0.35], [0.55, 1.0, 0.55], [0.35, 0.55, 1.0]], dtype=np.float32)
"""open-rate multiplier [active slot, send slot]: a message at the wrong time of day is ignored more"""


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """:math:`1/(1+e^{-x})`; with ``out=x`` it works in place (the market's (n, C) arrays are large)."""
    out = np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def interest_share(z: np.ndarray) -> np.ndarray:
    """Softmax of latent interests over categories, :math:`s_{ic} = e^{z_{ic}} / \\sum_k e^{z_{ik}}`."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def most_viewed(views: np.ndarray) -> np.ndarray:
    """(n,) each shopper's most viewed category from decayed views (n, C); -1 for a shopper who viewed none."""
    return np.where(views.max(axis=1, initial=0.0) > 0, views.argmax(axis=1), -1)


def message_category(is_recommendation: np.ndarray, category: np.ndarray, top_viewed: np.ndarray) -> np.ndarray:
    """(n,) the category a message is about: its offer's own (-1 = every category), or for a recommendation the
    shopper's most viewed category (:func:`most_viewed`; -1 when none, so it covers every category)."""
    return np.where(is_recommendation, top_viewed, category)


def relevance(share: np.ndarray, category: np.ndarray) -> np.ndarray:
    """How well an offer fits the shopper, in [0, 1].

    .. math::  r_i = \\min(1, s_{i,c(o)} \\cdot C / 2) \\text{ for a category offer},\\quad r_i = 1/2 \\text{ otherwise}

    so an offer in a category with twice the uniform share of interest is fully relevant.
    ``category`` is -1 for offers that cover every category.
    """
    rows = np.arange(share.shape[0])
    cat_share = share[rows, np.maximum(category, 0)]
    return np.where(category >= 0, np.minimum(1.0, cat_share * N_CATEGORIES / 2.0), 0.5).astype(np.float32, copy=False)


def open_probability(
    base_open: np.ndarray, affinity: np.ndarray, slot_match: np.ndarray, fatigue: np.ndarray, engagement: np.ndarray, p: ResponseParams
) -> np.ndarray:
    """Probability that a delivered message is opened.

    .. math::  p_0 = \\min(0.95, b_h a_{ih} m_{s}),\\quad
               \\operatorname{odds} = \\frac{p_0}{1-p_0} (1 + \\kappa_e e_i) e^{-\\kappa_f f_i}

    with :math:`b_h` the channel's base open rate, :math:`a_{ih}` the shopper's channel
    affinity, :math:`m_s` the slot match, :math:`\\kappa_e` = ``engagement_open`` and
    :math:`\\kappa_f` = ``fatigue_open``.
    """
    p0 = np.minimum(0.95, base_open * affinity * slot_match)
    odds = p0 / (1.0 - p0) * (1.0 + p.engagement_open * engagement) * np.exp(-p.fatigue_open * fatigue)
    return (odds / (1.0 + odds)).astype(np.float32, copy=False)


def message_fatigue(channel_weight: np.ndarray, rel: np.ndarray, repeated: np.ndarray, p: ResponseParams) -> np.ndarray:
    """Fatigue added by one delivered message: irrelevant and repeated messages annoy more.

    .. math::  \\Delta f_i = w_h \\,(1 + \\lambda_{irr} (1 - r_i) + \\lambda_{rep} \\mathbb{1}[\\text{repeat}])
    """
    return (channel_weight * (1.0 + p.irrelevance_fatigue * (1.0 - rel) + p.repeat_fatigue * repeated)).astype(np.float32, copy=False)


def unsubscribe_probability(channel_risk: np.ndarray, fatigue: np.ndarray, rel: np.ndarray, p: ResponseParams) -> np.ndarray:
    """Probability that a delivered message makes the shopper withdraw that channel's consent.

    .. math::  u_i = \\min(1, q_h (1 + \\kappa_u f_i)(2 - r_i))
    """
    return np.minimum(1.0, channel_risk * (1.0 + p.unsubscribe_fatigue * fatigue) * (2.0 - rel)).astype(np.float32, copy=False)


def interest_logit(z: np.ndarray, buzz: np.ndarray, susceptibility: np.ndarray, weight: float, demand: np.ndarray) -> np.ndarray:
    """(n, C) the part of browsing and buying logits shared by both: own interest, social proof, demand.

    .. math::  \\ell_{ic} = z_{ic} + w\\, \\phi_i \\min(B_{ic}, B_{max}) + d_{ic}

    Social proof is linear in the buzz :math:`B` of acquaintances' purchases up to
    :data:`BUZZ_CAP`, so a purchase wave saturates instead of feeding on itself. ``demand`` is the
    day's market-wide logit per category (season, shock, weekday) plus the shopper's holidays.
    """
    out = np.minimum(buzz, BUZZ_CAP)
    out *= (weight * susceptibility)[:, None]
    out += z
    out += demand
    return out


def browse_probability(shared: np.ndarray, p: ResponseParams) -> np.ndarray:
    """(n, C) probability of viewing each category today: :math:`\\sigma(\\beta_b + \\ell_{ic})`."""
    return sigmoid(shared + p.browse_base)


def open_pull(covered: np.ndarray, appeal: np.ndarray, p: ResponseParams) -> np.ndarray:
    """(n, C) browsing logits an opened message adds on the day it is opened (its click-through).

    .. math::  \\ell^{browse}_{ic} \\mathrel{+}= \\kappa_b\\, \\alpha_o \\mathbb{1}[c \\in o_i]

    with :math:`\\kappa_b` = ``open_browse`` and :math:`\\alpha_o` the message's appeal: a message
    that pulls harder on purchases also draws more shoppers to look at what it features.
    """
    return (covered * (p.open_browse * appeal)[:, None]).astype(np.float32, copy=False)


def offer_uplift(
    covered: np.ndarray, appeal: np.ndarray, depth: np.ndarray, fixed: np.ndarray, price: np.ndarray, rho: np.ndarray, p: ResponseParams
) -> np.ndarray:
    """(n, C) logits an opened, still-valid offer adds to purchase intent in the categories it covers.

    .. math::  u_{ic} = \\mathbb{1}[c \\in o_i] \\big(\\gamma\\, \\alpha_o + \\beta_p \\rho_i (\\delta_o + F_o / P_c)\\big)

    with :math:`\\alpha_o` the offer's appeal, :math:`\\delta_o` its discount share, :math:`F_o`
    its fixed value (free shipping) and :math:`P_c` the category price.
    """
    value = depth[:, None] + fixed[:, None] / price[None, :]
    return (covered * (p.offer_reach * appeal[:, None] + p.price_weight * rho[:, None] * value)).astype(np.float32, copy=False)


def purchase_probability(
    shared: np.ndarray, buy_base: np.ndarray, viewed: np.ndarray, personal: np.ndarray, live: np.ndarray, uplift: np.ndarray, p: ResponseParams
) -> np.ndarray:
    """(n, C) probability of buying in each category today.

    .. math::  \\pi_{ic} = \\sigma\\big(\\ell_{ic} + b_i + \\beta_0 + \\beta_v v_{ic} + h_i + u_{ic}\\big)

    with :math:`\\ell_{ic}` from :func:`interest_logit`, :math:`b_i` the shopper's base,
    :math:`v_{ic}` 1 if the category was browsed today, :math:`h_i` personal occasions (birthday
    week) and :math:`u_{ic}` the offer uplift, nonzero only on the rows ``live`` (given as a
    (len(live), C) block, since few shoppers hold an opened offer on any day).
    """
    logit = shared + (buy_base + p.buy_base + personal)[:, None]
    logit += p.view_boost * viewed
    logit[live] += uplift
    return sigmoid(logit, out=logit)


def basket_value(price: np.ndarray, scale: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Value of a basket by inverse CDF of a log-normal with mean :math:`P_c s_i`.

    .. math::  v = P_c s_i \\exp(\\sigma \\Phi^{-1}(u) - \\sigma^2/2)

    The market passes :math:`u = U/\\pi` where :math:`U < \\pi` decided the purchase: given a
    purchase, that ratio is uniform on (0, 1) and independent of the decision, so one uniform
    per shopper and category serves both.
    """
    return (price * scale * np.exp(BASKET_SD * ndtri(u.astype(np.float64)) - BASKET_SD**2 / 2)).astype(np.float32, copy=False)


def session_slot(active: np.ndarray, u: np.ndarray, regularity: float) -> np.ndarray:
    """The slot a site session is logged in: the active slot with probability :math:`q` (``regularity``),
    otherwise each of the other :math:`S - 1` slots with :math:`(1 - q)/(S - 1)`, from one uniform :math:`u` per session.

    .. math::  s = a \\text{ if } u < q, \\quad s = \\big(a + 1 + \\lfloor (S - 1)(u - q) / (1 - q) \\rfloor\\big) \\bmod S \\text{ otherwise}

    This is the only trace of the active hours in the CRM: send-time optimisation (and any
    learner) has to infer them from when a shopper visits.
    """
    away = np.floor((N_SLOTS - 1) * (u - regularity) / max(1.0 - regularity, 1e-12)).clip(0, N_SLOTS - 2).astype(np.int64)
    return np.where(u < regularity, active, (active + 1 + away) % N_SLOTS).astype(np.int64)


def churn_probability(hazard: np.ndarray, fatigue: np.ndarray, days_since_purchase: np.ndarray, p: ResponseParams) -> np.ndarray:
    """Daily probability of leaving for good.

    .. math::  h_i = \\min(1, h^0_i \\exp(\\kappa_c f_i + \\kappa_r \\,\\text{months since purchase}_i))
    """
    months = np.minimum(days_since_purchase, 365) / 30.0
    return np.minimum(1.0, hazard * np.exp(p.churn_fatigue * fatigue + p.churn_recency * months)).astype(np.float32, copy=False)


def decay(half_life: float) -> float:
    """Daily multiplier of a quantity with the given half-life in days: :math:`2^{-1/T}`."""
    return float(0.5 ** (1.0 / half_life))
