"""The reference policy: the oracle's knowledge of every latent trait, with each message charged what it costs later.

The myopic oracle (:mod:`policies.oracle`) values a message by the profit it adds within its
7-day window. A message also tires the shopper for weeks, and a tired shopper leaves for good
(churn), withdraws consent (unsubscribe) and opens later messages less often; where these costs
are large (``market=long_run``) the oracle loses money against contacting nobody. The planner
sends the arm of highest *net* value, or nothing where none is positive:

.. math::  \\mathrm{score}_{ioh} = \\mathrm{EIP}_{ioh} - C_{ioh}, \\qquad
           C_{ioh} = C^{churn}_{ioh} + C^{open}_{ioh} + C^{unsub}_{ioh} - B^{engage}_{ioh}

Every charge is an expectation over the market's own hazards (:mod:`sim.response`) read from the
shopper's latent state, in closed form. Notation, for shopper i on day t with :math:`D` days left
in the horizon (today is :math:`k = 0`): :math:`\\delta = 2^{-1/T_f}` the fatigue decay,
:math:`f` today's fatigue before the message, :math:`\\Delta f_{ioh}` the fatigue the message
adds (:func:`sim.response.message_fatigue`, relevance and repeat included), :math:`\\gamma` the
daily discount.

**The planner's own later sends.** They are what fatigue, consent and open rates are worth to it.
It expects to go on contacting shopper i at the rate it did over the last ``history_days``,
:math:`\\lambda_i` per day, each send like today's best myopic arm (:math:`\\bar o, \\bar h`):
fatigue :math:`\\overline{\\Delta f}_i`, open probability :math:`\\bar p_i`, opened value
:math:`\\bar V_i`, relevance :math:`\\bar r_i`, net value :math:`\\nu_i` (its score before the
consent and open charges, at least 0). The fatigue path without today's message is then, in
expectation, :math:`F_k = \\delta^k f + \\lambda_i \\overline{\\Delta f}_i (1-\\delta^k)/(1-\\delta)`.

**Survival.** With :func:`sim.response.churn_probability`'s hazard on that path,
:math:`\\eta_k = \\min(1, h^0_i e^{\\kappa_r m_i} e^{\\kappa_c F_k})` (recency :math:`m_i` held at
today's months since the last purchase), the shopper is present on day k with probability
:math:`S_k = \\prod_{j<k} (1 - \\eta_j)`, and the value of being present from day k on is

.. math::  T_k = G_i \\sum_{j=k}^{D-1} \\gamma^j S_j, \\qquad G_i = g_i + \\lambda_i \\nu_i

with :math:`g_i` the expected organic daily profit (the oracle's purchase probabilities without an
offer, browsing averaged, times basket and margin, at today's demand).

**Churn.** The message multiplies day k's hazard by :math:`e^{\\kappa_c \\Delta f \\delta^k}`; a
shopper who leaves at the end of day k loses :math:`T_{k+1}/S_{k+1}`. To first order in the extra
churn (it does not feed back into later days' survival):

.. math::  C^{churn} = \\sum_{k=0}^{D-1} \\frac{\\eta_k}{1-\\eta_k}\\,\\big(e^{\\kappa_c \\Delta f \\delta^k} - 1\\big)\\, T_{k+1}
           = \\sum_{m \\ge 1} \\frac{(\\kappa_c \\Delta f)^m}{m!} \\sum_k \\frac{\\eta_k}{1-\\eta_k} T_{k+1} \\delta^{mk}

The series form makes the sum over days a handful of per-shopper moments that every arm shares.

**Open rates.** A later send on day :math:`k \\ge 1` is opened with probability lowered by the
extra fatigue, :math:`p(F + x) \\approx p\\,(1 - e^{-\\kappa_f (1-p) x})` for
:math:`x = \\Delta f \\delta^k` (exact in slope at :math:`x = 0` and in the limit of large x), at
today's :math:`\\bar p_i`:

.. math::  C^{open} = \\bar p_i \\bar V_i \\sum_{k=1}^{D-1} \\lambda_i \\gamma^k S_k \\big(1 - e^{-\\kappa_f (1-\\bar p_i) \\Delta f \\delta^k}\\big)

**Consent.** The message withdraws channel h's consent now with probability
:math:`u_{ioh} = \\min(1, q_h (1 + \\kappa_u (f + \\Delta f))(2 - r_{io}))`, and raises each later
send's by :math:`q_{\\bar h} \\kappa_u \\Delta f \\delta^k (2 - \\bar r_i)`. A channel's consent is
worth the later sends on it beyond the best other consented channel,
:math:`W_h = \\Lambda_i \\max(0, \\nu_{ih} - \\max_{h' \\ne h} \\nu_{ih'})` with
:math:`\\Lambda_i = \\sum_{k \\ge 1} \\lambda_i \\gamma^k S_k` the expected later sends:

.. math::  C^{unsub} = u_{ioh} W_h + \\Delta f\\, q_{\\bar h} \\kappa_u (2 - \\bar r_i) W_{\\bar h} \\sum_{k \\ge 1} \\lambda_i \\gamma^k S_k \\delta^k

**Engagement.** An opened message adds :math:`\\epsilon\\, r_{io}` engagement (decay
:math:`\\delta_e`), which multiplies later open odds by :math:`1 + \\kappa_e e`; to first order,

.. math::  B^{engage} = p_{ih}\\, \\epsilon\\, r_{io} \\frac{\\kappa_e}{1 + \\kappa_e e_i}\\, \\bar p_i (1 - \\bar p_i) \\bar V_i
           \\sum_{k \\ge 1} \\lambda_i \\gamma^k S_k \\delta_e^k

**Approximations.** The churn charge is first order in the extra churn: where a message makes
leaving likely (a hazard of several percent a day from high fatigue) it over-charges, counting
shoppers who would have left anyway (by about 16% in the harshest market of the module's test,
within the rollouts' noise in the others). The fatigue of the planner's later sends enters
at its expectation (the hazard is convex in it, so the charge is a slight underestimate); demand,
recency and the offer values stay at today's; the sums over days stop after ``lookahead_half_lives``
fatigue half-lives, with the survival after that continued at the last day's hazard; an offer
opened within its last days of the horizon earns only the days left. The series are summed until
their next term is below 1e-9 of their first.

Its EIP is the oracle's, but with today's decayed fatigue and engagement in the open probability
(the oracle reads yesterday's), since the market decays both before it delivers the day's
messages. The module's test checks the score against brute-force rollouts of the market
(``tests/policies/test_planner.py``).
"""

from __future__ import annotations

import math

import numpy as np

from policies.oracle import Oracle
from sim import features, response
from sim.catalogue import (
    CATEGORY_MARGIN,
    CATEGORY_PRICE,
    CHANNEL_COST,
    CHANNEL_FATIGUE,
    CHANNEL_OPEN,
    CHANNEL_UNSUB,
    N_CATEGORIES,
    N_OFFERS,
    OFFER_CATEGORY,
    OFFER_IS_RECOMMENDATION,
    VALIDITY_DAYS,
)
from sim.market import MarketModel
from sim.state import CONTACT_MEMORY

SERIES_TOLERANCE = 1e-9
"""a series over powers of the added fatigue stops when its next term's bound is below this share of its first"""
MAX_SERIES_TERMS = 64
"""most terms of such a series; a market whose fatigue effects need more is refused (see :func:`series_terms`)"""


def series_terms(x_max: float) -> int:
    """Terms m = 1..M of :math:`\\sum_m x^m/m!` (times moments that only shrink with m) that bring the
    remainder below :data:`SERIES_TOLERANCE` of the first term, for every :math:`|x| \\le x_{max}`."""
    term, m = 1.0, 1
    while m < MAX_SERIES_TERMS:
        term *= x_max / (m + 1)  # x^(m+1)/(m+1)! over x
        if term * math.exp(x_max) < SERIES_TOLERANCE:  # bounds the whole tail, sum_{j>m} x^j/j! / x
            return m
        m += 1
    raise ValueError(f"fatigue effect={x_max:.3g} (fatigue coefficient x largest message fatigue): needs more than "
                     f"{MAX_SERIES_TERMS} series terms; allowed: markets whose coefficient x fatigue is at most about 30")


def exp_series(x: np.ndarray, moments: np.ndarray) -> np.ndarray:
    """:math:`\\sum_{m=1}^{M} \\mathrm{moments}_m\\, x^m / m!` by Horner's rule; ``x`` (n, ...), ``moments`` (n, M)."""
    n_terms = moments.shape[1]
    extra = (slice(None),) + (None,) * (x.ndim - 1)
    out = np.zeros_like(x)
    for m in range(n_terms, 0, -1):  # out = (out + moment_m) * x / m, in place: x is the size of every arm
        out += moments[:, m - 1][extra]
        out *= x
        out /= m
    return out


class Planner(Oracle):
    """The oracle's arm values minus each message's expected later cost: the reference no policy should beat.

    Args:
        market: the market it decides for (it reads the latent state, as the oracle does).
        discount: daily discount :math:`\\gamma` of later profit, in (0, 1] (1: the horizon's profit, undiscounted,
            as every policy is judged).
        lookahead_half_lives: fatigue half-lives over which the sums over later days run (the message's fatigue
            is :math:`2^{-10}` of itself after 10); survival after them continues at the last day's hazard.
        history_days: days of the planner's own contact log (at most ``sim.state.CONTACT_MEMORY``) from which it
            expects its later sending rate to each shopper.
    """

    name = "reference"

    def __init__(self, market: MarketModel, discount: float = 1.0, lookahead_half_lives: float = 10.0, history_days: int = 30):
        super().__init__(market)
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount={discount!r}: must be in (0, 1]")
        if not lookahead_half_lives > 0:
            raise ValueError(f"lookahead_half_lives={lookahead_half_lives!r}: must be > 0")
        if not 1 <= history_days <= CONTACT_MEMORY:
            raise ValueError(f"history_days={history_days!r}: must be an integer in [1, {CONTACT_MEMORY}]")
        self.discount = float(discount)
        self.lookahead_half_lives = float(lookahead_half_lives)
        self.history_days = int(history_days)

    # ------------------------------------------------------------------ today's state, as the day will see it
    def open_probabilities(self, rows: np.ndarray, slot_match: np.ndarray) -> np.ndarray:
        """(len(rows), H) open probability on each channel, at today's fatigue and engagement (decayed by one day,
        as the market does before it delivers)."""
        m, p = self.market, self.market.params
        tr, st = m.latent(), m.state
        fatigue = st.fatigue[rows] * response.decay(p.fatigue_half_life)
        engagement = st.engagement[rows] * response.decay(p.engagement_half_life)
        return np.stack(
            [response.open_probability(CHANNEL_OPEN[h], tr.channel_affinity[rows, h], slot_match, fatigue, engagement, p)
             for h in range(len(CHANNEL_OPEN))], axis=1,
        )

    def offer_values(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), O) the oracle's opened-offer values, cut to the days left in the horizon."""
        days_left = self.market.config.horizon_days - self.market.day
        return super().offer_values(rows) * (min(max(days_left, 0), VALIDITY_DAYS) / VALIDITY_DAYS)

    def organic_profit(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows),) expected profit of a day without any offer: :math:`g_i = \\sum_c \\bar\\pi^0_{ic} \\bar v_{ic} m_c`."""
        m, p = self.market, self.market.params
        tr = m.latent()
        shared, p_view, birthday = (x[rows] for x in m.expected_intent())
        n = rows.size
        none = np.zeros((0, N_CATEGORIES), dtype=np.float32)
        bought = [response.purchase_probability(shared, tr.buy_base[rows], np.full((n, N_CATEGORIES), v, np.float32), birthday,
                                                np.zeros(0, dtype=np.int64), none, p) for v in (0.0, 1.0)]
        mean = (1 - p_view) * bought[0] + p_view * bought[1]
        return (mean * CATEGORY_PRICE * tr.basket_scale[rows][:, None] * CATEGORY_MARGIN).sum(axis=1, dtype=np.float64)

    def relevance(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), O) how well each offer fits each shopper today (:func:`sim.response.relevance`)."""
        m = self.market
        shared = m.expected_intent()[0][rows]
        share = response.interest_share(shared)
        top = response.most_viewed(m.state.views[rows])
        return np.stack([response.relevance(share, response.message_category(OFFER_IS_RECOMMENDATION[o], OFFER_CATEGORY[o], top))
                         for o in range(N_OFFERS)], axis=1)

    def added_fatigue(self, rows: np.ndarray, rel: np.ndarray) -> np.ndarray:
        """(len(rows), O, H) fatigue each message would add today: :math:`\\Delta f_{ioh}`, relevance and repeat included."""
        st, t, p = self.market.state, self.market.day, self.market.params
        repeated = (st.last_offer[rows][:, None] == np.arange(N_OFFERS)) & (t - st.last_contact_day[rows] < 7)[:, None]
        return np.stack([response.message_fatigue(CHANNEL_FATIGUE[h], rel, repeated, p) for h in range(len(CHANNEL_FATIGUE))],
                        axis=2).astype(np.float64)

    def send_rate(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows),) the planner's own messages per day to each shopper over the last ``history_days``
        (fewer at the start of the horizon): :math:`\\lambda_i`."""
        t = self.market.day
        days = min(self.history_days, t)
        if days == 0:
            return np.zeros(rows.size)
        return features.contacts_before(self.market.state.contacts, t, days, rows) / days

    # ------------------------------------------------------------------ the charges
    def scores(self, rows: np.ndarray, channel_ok: np.ndarray) -> np.ndarray:
        """(len(rows), O, H) net value of every offer on every channel, sent in the active slot; -inf where not allowed."""
        m, p = self.market, self.market.params
        tr, st, t = m.latent(), m.state, m.day
        n = rows.size
        value = self.offer_values(rows)  # (n, O)
        p_open = self.open_probabilities(rows, np.ones(n, dtype=np.float32)).astype(np.float64)  # (n, H), active slot
        eip = p_open[:, None, :] * value[:, :, None] - CHANNEL_COST[None, None, :]
        eip = np.where(channel_ok[:, None, :], eip, -np.inf)
        if n == 0:
            return eip
        rel = self.relevance(rows).astype(np.float64)  # (n, O)
        dfat = self.added_fatigue(rows, rel)  # (n, O, H)

        # The planner's typical later send: today's best myopic arm.
        best = np.where(np.isfinite(eip), eip, np.where(st.consent[rows][:, None, :], p_open[:, None, :] * value[:, :, None], -np.inf))
        flat = best.reshape(n, -1).argmax(axis=1)
        o_bar, h_bar = np.divmod(flat, p_open.shape[1])
        everyone = np.arange(n)
        df_bar, p_bar, v_bar, r_bar = dfat[everyone, o_bar, h_bar], p_open[everyone, h_bar], value[everyone, o_bar], rel[everyone, o_bar]
        lam = self.send_rate(rows)

        # Survival on the fatigue path without today's message, and the moments every arm's charges share.
        delta = response.decay(p.fatigue_half_life)
        days_left = max(m.config.horizon_days - t, 1)
        k_max = int(min(days_left, math.ceil(self.lookahead_half_lives * p.fatigue_half_life)))
        k = np.arange(k_max)
        f0 = st.fatigue[rows].astype(np.float64) * delta
        path = f0[:, None] * delta**k + (lam * df_bar)[:, None] * (1 - delta**k) / (1 - delta)  # (n, K)
        months = np.minimum(t - st.last_purchase_day[rows], 365) / 30.0
        base_hazard = tr.churn_hazard[rows].astype(np.float64) * np.exp(p.churn_recency * months)
        eta = np.minimum(np.minimum(1.0, base_hazard[:, None] * np.exp(p.churn_fatigue * path)), 1 - 1e-12)
        survival = np.concatenate([np.ones((n, 1)), np.cumprod(1 - eta, axis=1)], axis=1)  # S_0..S_K
        gamma_k = self.discount ** np.arange(k_max + 1)
        weighted = survival * gamma_k  # gamma^k S_k, k = 0..K
        # Sum_{j >= K} gamma^j S_j beyond the lookahead, continued at the last hazard: a geometric tail up to D - 1.
        ratio = self.discount * (1 - eta[:, -1])
        steps = days_left - k_max
        tail = weighted[:, -1] * np.where(ratio < 1, (1 - ratio**steps) / np.maximum(1 - ratio, 1e-300), steps)
        present_from = np.concatenate([np.cumsum(weighted[:, :k_max][:, ::-1], axis=1)[:, ::-1], np.zeros((n, 1))], axis=1)
        present_from += tail[:, None]  # sum_{j >= k} gamma^j S_j for k = 0..K (per unit of daily profit)
        later = weighted[:, 1:k_max] if k_max > 1 else np.zeros((n, 0))  # gamma^k S_k, k = 1..K-1
        later_sends = lam[:, None] * later

        x_churn = p.churn_fatigue * dfat
        x_open = p.fatigue_open * (1 - p_bar)[:, None, None] * dfat
        n_terms = series_terms(float(max(x_churn.max(), x_open.max(), 1e-12)))
        powers = delta ** (np.arange(1, n_terms + 1)[None, :] * k[:, None])  # (K, M): delta^(m k)
        churn_moments = (eta / (1 - eta) * present_from[:, 1:]) @ powers  # (n, M), per unit of daily profit
        open_moments = later_sends @ powers[1:]  # (n, M)

        churn_unit = exp_series(x_churn, churn_moments)  # (n, O, H) churn charge per unit of daily profit
        g = self.organic_profit(rows)
        net = eip - g[:, None, None] * churn_unit
        nu_h = np.maximum(net.max(axis=1), 0.0)  # (n, H) net value of the best send on each channel
        nu_h = np.where(np.isfinite(nu_h), nu_h, 0.0)
        nu = nu_h.max(axis=1)
        daily = g + lam * nu  # G_i
        churn = daily[:, None, None] * churn_unit
        lost_opens = (p_bar * v_bar)[:, None, None] * -exp_series(-x_open, open_moments)

        sends_after = later_sends.sum(axis=1)  # Lambda_i
        consented = np.where(st.consent[rows], nu_h, -np.inf)
        h = nu_h.shape[1]
        other = np.stack([np.delete(consented, c, axis=1).max(axis=1) for c in range(h)], axis=1)
        worth = sends_after[:, None] * np.maximum(nu_h - np.maximum(other, 0.0), 0.0)  # (n, H) W_h
        unsub_now = response.unsubscribe_probability(CHANNEL_UNSUB[None, None, :], f0[:, None, None] + dfat, rel[:, :, None], p)
        unsub_later = (CHANNEL_UNSUB[h_bar] * p.unsubscribe_fatigue * (2 - r_bar) * worth[everyone, h_bar]
                       * (later_sends @ delta ** k[1:]))
        unsub = unsub_now * worth[:, None, :] + unsub_later[:, None, None] * dfat

        delta_e = response.decay(p.engagement_half_life)
        engagement = st.engagement[rows] * delta_e
        per_engagement = (p.engagement_open / (1 + p.engagement_open * engagement) * p_bar * (1 - p_bar) * v_bar
                          * (later_sends @ delta_e ** k[1:]))
        engage = p_open[:, None, :] * (p.engagement_gain * rel * per_engagement[:, None])[:, :, None]

        return eip - churn - lost_opens - unsub + engage
