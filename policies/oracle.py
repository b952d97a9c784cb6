"""The oracle: knows every shopper's latent traits and sends the action with the highest expected
incremental profit today, or nothing when no action is expected to pay.

For shopper i, offer o and channel h (sent in the shopper's active slot):

.. math::

    \\mathrm{EIP}_{ioh} = p^{open}_{ih}\\; W \\sum_c \\Big[(\\bar\\pi^{o}_{ic} - \\bar\\pi^{0}_{ic})\\, \\bar v_{ic}\\, m_c
                      \\;-\\; \\bar\\pi^{o}_{ic}\\, \\kappa_{oc}\\, (\\delta_o \\bar v_{ic} + F_o)\\Big] \\;-\\; c_h

with :math:`\\bar\\pi^{o}_{ic} = q_{ic}\\,\\pi(v{=}1) + (1-q_{ic})\\,\\pi(v{=}0)` the purchase
probability averaged over browsing (:math:`q` = browse probability) with offer o's uplift
(:math:`\\bar\\pi^{0}` without an offer), :math:`\\bar v_{ic} = P_c s_i` the expected basket,
:math:`m_c` the margin, :math:`\\kappa_{oc}` 1 when o covers c, :math:`W` the validity window in
days, :math:`c_h` the channel cost. It is myopic (it ignores the fatigue, unsubscribes and churn a
message causes), so it is the reference for "% of oracle", not a ceiling: a policy that learns
restraint can beat it over a long horizon.
"""

from __future__ import annotations

import numpy as np

from policies.base import Decision, DecisionContext, Policy
from sim import response
from sim.catalogue import (
    CATEGORY_MARGIN,
    CATEGORY_PRICE,
    CHANNEL_COST,
    CHANNEL_OPEN,
    N_CATEGORIES,
    N_OFFERS,
    OFFER_APPEAL,
    OFFER_CATEGORY,
    OFFER_DEPTH,
    OFFER_FIXED,
    OFFER_IS_RECOMMENDATION,
    VALIDITY_DAYS,
    encode,
)
from sim.guardrails import ActionMask
from sim.market import MarketModel


class Oracle(Policy):
    """Reads the market's latent state by name (the only policy allowed to) and plans myopically."""

    name = "oracle"

    def __init__(self, market: MarketModel):
        self.market = market

    def expected_incremental_profit(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), O, H) expected incremental profit of each offer on each channel, sent in the active slot."""
        p_open = self.open_probabilities(rows, np.ones(rows.size, dtype=np.float32))
        return p_open[:, None, :] * self.offer_values(rows)[:, :, None] - CHANNEL_COST[None, None, :]

    def arm_values(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), O, H, S) expected incremental profit of every send arm, each slot at its own slot match
        :math:`m_{a(i), s}` in the open probability (so action ``encode(o, h, s)`` is entry ``[o, h, s]``)."""
        value = self.offer_values(rows)
        match = response.SLOT_MATCH[self.market.latent().active_slot[rows]]  # (n, S)
        p_open = np.stack([self.open_probabilities(rows, match[:, s]) for s in range(match.shape[1])], axis=2)  # (n, H, S)
        return p_open[:, None, :, :] * value[:, :, None, None] - CHANNEL_COST[None, None, :, None]

    def offer_values(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), O) expected profit an *opened* offer adds over the window: the bracket of the class equation."""
        m, p = self.market, self.market.params
        tr, st = m.latent(), m.state
        shared, p_view, birthday = (x[rows] for x in m.expected_intent())
        buy_base, rho = tr.buy_base[rows], tr.price_sensitivity[rows]
        n = rows.size
        everyone = np.arange(n)
        basket = CATEGORY_PRICE[None, :] * tr.basket_scale[rows][:, None]

        def mean_purchase(uplift: np.ndarray) -> np.ndarray:
            bought = [response.purchase_probability(shared, buy_base, np.full((n, N_CATEGORIES), v, np.float32), birthday, everyone, uplift, p)
                      for v in (0.0, 1.0)]
            return (1 - p_view) * bought[0] + p_view * bought[1]

        base = mean_purchase(np.zeros((n, N_CATEGORIES), dtype=np.float32))
        views = st.views[rows]
        top_viewed = response.most_viewed(views)
        value = np.empty((n, N_OFFERS), dtype=np.float64)
        for o in range(N_OFFERS):
            cat = response.message_category(OFFER_IS_RECOMMENDATION[o], OFFER_CATEGORY[o], top_viewed)
            covered = (cat[:, None] < 0) | (cat[:, None] == np.arange(N_CATEGORIES))
            uplift = response.offer_uplift(covered, np.full(n, OFFER_APPEAL[o]), np.full(n, OFFER_DEPTH[o]), np.full(n, OFFER_FIXED[o]),
                                           CATEGORY_PRICE, rho, p)
            with_offer = mean_purchase(uplift)
            gain = (with_offer - base) * basket * CATEGORY_MARGIN
            paid = with_offer * covered * (OFFER_DEPTH[o] * basket + OFFER_FIXED[o])
            value[:, o] = VALIDITY_DAYS * (gain - paid).sum(axis=1)
        return value

    def open_probabilities(self, rows: np.ndarray, slot_match: np.ndarray) -> np.ndarray:
        """(len(rows), H) probability that a message on each channel is opened, at each shopper's ``slot_match`` (n,)."""
        tr, st, p = self.market.latent(), self.market.state, self.market.params
        return np.stack(
            [response.open_probability(CHANNEL_OPEN[h], tr.channel_affinity[rows, h], slot_match, st.fatigue[rows], st.engagement[rows], p)
             for h in range(len(CHANNEL_OPEN))], axis=1,
        )

    def send_slot(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The slot each shopper is contacted in: their active one, which only the oracle knows
        (``studies/oracle_information.py`` swaps this for what a CRM can infer)."""
        return self.market.latent().active_slot[rows]

    def scores(self, rows: np.ndarray, channel_ok: np.ndarray) -> np.ndarray:
        """(len(rows), O, H) what each offer on each channel is worth now; -inf where not allowed. The oracle's worth is
        the expected incremental profit over the window; a subclass that looks further charges more here."""
        return np.where(channel_ok[:, None, :], self.expected_incremental_profit(rows), -np.inf)

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        """The best offer and channel by :meth:`scores`, in the shopper's active slot; nothing where none is worth more than 0."""
        score = self.scores(context.rows, mask.channel_ok)
        n, _, n_channels = score.shape
        flat = score.reshape(n, -1).argmax(axis=1)
        best = score.reshape(n, -1)[np.arange(n), flat]
        offer, channel = np.divmod(flat, n_channels)
        slot = self.send_slot(obs, context.rows)
        actions = np.where(best > 0, encode(offer, channel, slot), 0)
        return Decision(actions.astype(np.int64), np.ones(n), priority=np.where(best > 0, best, 0.0))
