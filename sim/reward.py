"""The reward every policy is judged by: the shop's profit from each shopper on one day."""

from __future__ import annotations

import numpy as np


def daily_profit(margin: np.ndarray, discount_paid: np.ndarray, channel_cost: np.ndarray) -> np.ndarray:
    r"""Profit from each shopper on one day.

    .. math::  r_{i,t} = \sum_{p \in P_{i,t}} (m_p - d_p) \; - \; c(a_{i,t})

    where :math:`P_{i,t}` are shopper i's purchases on day t (organic or redeemed), :math:`m_p`
    the margin, :math:`d_p` the discount paid (also on purchases that would have happened
    anyway) and :math:`c(a)` the cost of the action's channel (0 for no contact). Revenue alone
    is never the objective: a discount that only moves purchases the shopper would have made
    anyway lowers this number. All arguments have shape (n_shoppers,).
    """
    return margin - discount_paid - channel_cost
