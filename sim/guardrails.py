"""Guardrails applied to every policy: per-channel consent, a frequency cap and a daily budget.

Consent and the cap are per shopper and reach policies as an :class:`ActionMask`. The budget is
shared by all shoppers of a day, so no per-shopper mask can express it before the policy acts:
:func:`trim_to_budget` keeps the sends a policy proposes, in the policy's own priority order,
until the day's budget is committed. The market checks all three again and refuses, and
counts, any send that breaks one; with the runner's trimming in place that count is zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.catalogue import (
    ACTION_CHANNEL,
    ACTION_OFFER,
    CATEGORY_PRICE,
    CHANNEL_COST,
    N_ACTIONS,
    N_OFFERS,
    N_SLOTS,
    OFFER_CATEGORY,
    OFFER_DEPTH,
    OFFER_FIXED,
)


def _commitment() -> np.ndarray:
    """(A,) what one send commits against the budget: channel cost plus the offer's face value.

    .. math::  k(a) = c_h + \\delta_o \\bar P_{c(o)} + F_o

    with :math:`\\bar P` the category price (the mean price for offers covering all categories).
    It is an upper-bound style estimate, known before the shopper responds.
    """
    price = np.where(OFFER_CATEGORY >= 0, CATEGORY_PRICE[np.maximum(OFFER_CATEGORY, 0)], CATEGORY_PRICE.mean())
    offer_value = OFFER_DEPTH * price + OFFER_FIXED
    out = np.zeros(N_ACTIONS, dtype=np.float32)
    out[1:] = CHANNEL_COST[ACTION_CHANNEL[1:]] + offer_value[ACTION_OFFER[1:]]
    return out


ACTION_COMMITMENT = _commitment()


@dataclass
class ActionMask:
    """Which actions each shopper may receive today, in factored form.

    ``channel_ok[i, h]`` is True when shopper i can be sent anything on channel h (consent given
    and not withdrawn, shopper present and not churned, under the frequency cap). Every offer and
    slot is allowed on an allowed channel, and no contact is always allowed, so the dense mask of
    (n, 1 + O x H x S) booleans is derived on demand rather than stored.
    """

    channel_ok: np.ndarray  # (n, H) bool

    def __len__(self) -> int:
        return self.channel_ok.shape[0]

    @property
    def can_contact(self) -> np.ndarray:
        """(n,) bool: at least one send is allowed."""
        return self.channel_ok.any(axis=1)

    def dense(self) -> np.ndarray:
        """(n, A) bool, laid out as :func:`sim.catalogue.encode` orders actions; column 0 is no contact."""
        n = len(self)
        per_offer = np.repeat(self.channel_ok, N_SLOTS, axis=1)  # (n, H*S)
        out = np.empty((n, N_ACTIONS), dtype=bool)
        out[:, 0] = True
        out[:, 1:] = np.tile(per_offer, (1, N_OFFERS))
        return out

    def allows(self, actions: np.ndarray) -> np.ndarray:
        """(n,) bool: whether each shopper's action is allowed."""
        a = np.asarray(actions, dtype=np.int64)
        h = ACTION_CHANNEL[np.clip(a, 0, N_ACTIONS - 1)]
        ok = self.channel_ok[np.arange(a.size), np.maximum(h, 0)]
        return (a >= 0) & (a < N_ACTIONS) & ((a == 0) | ok)

    def subset(self, rows: np.ndarray | slice) -> ActionMask:
        return ActionMask(self.channel_ok[rows])


def channel_mask(consent: np.ndarray, present: np.ndarray, contacts_7d: np.ndarray, cap: int) -> np.ndarray:
    """(n, H) consent x presence x frequency cap, the per-shopper guardrails."""
    return consent & (present & (contacts_7d < cap))[:, None]


def trim_to_budget(actions: np.ndarray, budget: float, priority: np.ndarray | None = None) -> np.ndarray:
    """Turn the sends that do not fit today's budget into no contact (0 = no budget).

    Sends are kept in order of ``priority`` (higher first; the policy's own score where it has
    one, else the shopper's row order) while the running sum of :data:`ACTION_COMMITMENT` stays
    within ``budget``.
    """
    if budget <= 0:
        return actions
    out = np.asarray(actions).copy()
    sending = np.flatnonzero(out > 0)
    if priority is not None:
        sending = sending[np.argsort(-priority[sending], kind="stable")]
    over = np.cumsum(ACTION_COMMITMENT[out[sending]], dtype=np.float64) > budget
    out[sending[over]] = 0
    return out

