"""Guardrails applied to every policy: per-channel consent, a frequency cap and a daily budget.

Consent and the cap are per shopper and reach policies as an :class:`ActionMask` before they act.
The budget is shared by all shoppers of a day, so no per-shopper mask can express it before the
policy acts. All three are then decided once, by :func:`guard`, on the actions a policy proposes:
the market calls it at the start of each day (:meth:`sim.market.MarketModel.step`) and executes
what it lets through. Each refused send becomes no contact with the reason in
:data:`REFUSALS`; a send refused for consent, presence or the cap is a policy that ignored its
mask (a guardrail *violation*, whose correct count is zero), one refused for the budget is the
budget doing its job.
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


REFUSALS = ("", "absent", "consent", "frequency_cap", "budget")
"""why a proposed send did not run, by code: 0 = it ran as proposed (or nothing was proposed); the shopper is not a
current customer (not joined yet, or churned); no consent on the send's channel; the 7-day frequency cap is reached;
the day's budget was committed before this send's turn"""
RAN, ABSENT, CONSENT, FREQUENCY_CAP, BUDGET = range(len(REFUSALS))
VIOLATIONS = (ABSENT, CONSENT, FREQUENCY_CAP)
"""refusals that mean the policy proposed a send its mask forbade"""


@dataclass
class GuardrailPass:
    """The one decision of a day's guardrails on the proposed actions."""

    executed: np.ndarray
    """(n,) int64: the proposed action where it runs, 0 (no contact) where it was refused"""
    refusal: np.ndarray
    """(n,) int8: code into :data:`REFUSALS`, 0 where the proposal runs"""

    @property
    def violations(self) -> int:
        """Sends refused because the policy ignored its mask."""
        return int(np.isin(self.refusal, VIOLATIONS).sum())

    @property
    def budget_refused(self) -> int:
        return int((self.refusal == BUDGET).sum())


def guard(
    proposed: np.ndarray, consent: np.ndarray, present: np.ndarray, under_cap: np.ndarray, budget: float,
    priority: np.ndarray | None = None, checked_as: np.ndarray | None = None,
) -> GuardrailPass:
    """Consent, presence, the frequency cap and the budget, decided once on ``proposed`` (n,) actions.

    A send must go to a present shopper (``present`` (n,)), on a channel with consent
    (``consent`` (n, H)), to a shopper under the cap (``under_cap`` (n,)); the first of these
    that fails is its refusal. The sends that pass are then kept in order of ``priority`` (higher
    first; the policy's own score where it has one, else the row order) while the running sum of
    :data:`ACTION_COMMITMENT` stays within ``budget`` (0 = no budget): once a send does not fit,
    neither does any after it,

    .. math::  \\text{runs}(j) \\iff \\sum_{i \\preceq j} k(a_i) \\le B .

    ``checked_as`` maps each action to the catalogue action it is checked and committed as (a
    market's campaign messages count as its information e-mail); the executed action is the
    proposed one.
    """
    a = np.asarray(proposed, dtype=np.int64)
    checked = a if checked_as is None else checked_as[a]
    refusal = np.zeros(a.size, dtype=np.int8)
    sending = np.flatnonzero(checked > 0)
    channel = ACTION_CHANNEL[checked[sending]]
    for code, ok in ((FREQUENCY_CAP, under_cap[sending]), (CONSENT, consent[sending, channel]), (ABSENT, present[sending])):
        refusal[sending[~ok]] = code  # the last written is the first that fails
    if budget > 0:
        fits = sending[refusal[sending] == RAN]
        if priority is not None:
            fits = fits[np.argsort(-priority[fits], kind="stable")]
        over = np.cumsum(ACTION_COMMITMENT[checked[fits]], dtype=np.float64) > budget
        refusal[fits[over]] = BUDGET
    return GuardrailPass(np.where(refusal == RAN, a, 0), refusal)
