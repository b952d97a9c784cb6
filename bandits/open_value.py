"""Open x value learners, the canonical ``linucb`` and ``thompson``: a message pays only if it is opened, so learn the two apart.

A send's expected incremental profit is a product, not a sum (:mod:`policies.oracle`):

.. math::  \\mathrm{E}[r \\mid x, (o, h, s)] - \\mathrm{E}[r \\mid x, \\varnothing]
           = -c_h + p_{hs}(x)\\, V_o(x)

with :math:`p_{hs}` the probability that a message on channel h in slot s is opened,
:math:`V_o` what an opened offer o is worth, and :math:`c_h` the channel's cost per send. The
cost is the one term the shop knows without learning it (its price list,
:data:`sim.catalogue.CHANNEL_COST`), and what else an unopened message does (fatigue, which lowers
later opens and raises the churn hazard, and unsubscribes) acts mostly after the 7-day window and
can only cost, so a myopic learner does not estimate it: learned from the noisy 7-day profit, a
per-channel "sent" term drifted against the value terms it is nearly collinear with (to a gain, for
e-mail) and absorbed the confounding of the adaptive choice (docs/bandits.md). A learner with a value
horizon (:mod:`bandits.long_term`) learns from a target that prices those later costs, and there the
send's charge is the point: its value model gains a last block, :math:`\\mathbb{1}[\\text{sent}]\\,
[e_h, e_h \\otimes \\ell(x)]` (:func:`charge_rows`), a per-channel cost of one more message on the
shopper's contact load, taken at its posterior mean in every choice (:meth:`OpenValueBandit.send_cost`),
as the open model is. The additive score
of :mod:`bandits.linear` cannot express that the right slot helps a good offer and makes a bad
one cost more, and it learns the slot from the profit, whose noise is some 70 times a message's
effect. Here two ridge models share the work:

- the *open model*, a linear probability model of "opened" (observed on the day of the send,
  a 0/1 signal with little noise) on the send's channel and slot, the shopper's recent opens on
  the channel, the share of their site sessions in the slot and the contact context,

  .. math::  p_{hs}(x) = \\gamma(x)^\\top \\theta_c + [e_h, \\eta(x, h)]^\\top \\theta_h + [e_s, q_s(x)]^\\top \\theta_s,

  with :math:`q_s` the slot's share of the shopper's site sessions (``ArmFeatures.sessions``), clipped to [0, 1];
  whose channel terms start from a prior mean of :data:`OPEN_PRIOR` (with the open model at its
  mean, a prior of 0 would rate every send at its cost and never send, so never learn);
- the *value model*, a ridge regression of the 7-day profit gross of the send's cost on every decision,

  .. math::  r + \\mathbb{1}[\\text{sent}]\\, c_h = \\beta(x)^\\top \\theta_b
                 + \\mathbb{1}[\\text{opened}]\\, \\big(\\gamma(x)^\\top \\theta_v + [e_o, \\omega(x, o)]^\\top \\theta_o\\big) + \\varepsilon,

  whose last term, :math:`V_o(x)`, is fitted only where a message was opened.

The blocks :math:`\\beta, \\gamma, \\omega, \\eta` are those of :mod:`bandits.features`.
Both learners take the open model at its posterior mean, which a dense 0/1 signal pins down within
days, and explore on the value model, whose signal is the noisy profit:

- :class:`OpenValueThompson` (``thompson``) draws shopper i's value parameters from their
  posterior :math:`N(\\hat\\theta, v^2 \\hat\\sigma^2 A^{-1})` (the base block at its mean: it is
  the same for every arm) and acts greedily on the draw. For fixed (h, s) the best offer is
  :math:`\\arg\\max_o V_o` whatever p is (p >= 0), so the choice costs O(O + H S) per shopper.
  Propensities are estimated as in :class:`bandits.thompson.LinearThompson`.
- :class:`OpenValueUCB` (``linucb``) sends the arm with the highest upper confidence
  bound on its increment over no contact, whose width counts the decisions whose rewards are
  still in flight (deterministic given the day's batch, propensity 1).

Both choices are therefore the same search: the best offer by a per-offer value (drawn, mean, or
upper bound), then the best allowed channel and slot for :math:`-c_h + p_{hs} \\max_o V_o`.
"""

from __future__ import annotations

import numpy as np

from bandits.base import ConfidenceBound, LinearBandit, vote_share
from bandits.features import LOAD_FEATURES, ArmFeatures, arm_features, block_widths
from bandits.kernels import best_send, feature_major, pooled_open_value
from bandits.linear import RidgeModel, _option_scores, gram, inverse_of
from bandits.thompson import LinearThompson
from policies.base import Decision, Feedback
from sim.catalogue import ACTION_CHANNEL, ACTION_OFFER, ACTION_SLOT, CHANNEL_COST, N_CHANNELS, N_OFFERS, N_SLOTS
from sim.guardrails import ActionMask

OPEN_PRIOR = 0.5
"""prior mean of every channel's open probability, the middle of [0, 1]: one pseudo-observation (the
ridge), which the first day of matured opens outweighs"""


CHARGE_WIDTH = N_CHANNELS * (1 + len(LOAD_FEATURES))
"""columns of the send's long-term charge: per channel, an intercept and the contact load and purchase record"""


def charge_rows(feats: ArmFeatures, actions: np.ndarray) -> np.ndarray:
    """(n, CHARGE_WIDTH) float32 :math:`\\mathbb{1}[\\text{sent}]\\,[e_h, e_h \\otimes \\ell(x)]`: the channel's intercept and its
    slopes on the load :math:`\\ell(x)` (``ArmFeatures.load``: recent contacts, days since the last, recency, frequency,
    spend), zero for no contact. One more message's long-term cost differs by channel (an SMS tires more than an
    e-mail) and grows with the messages already sent (fatigue, and with it the unsubscribe and churn hazards) and with
    what the shopper would be worth if kept, so the charge is a per-channel function of exactly those."""
    a = np.asarray(actions)
    k = 1 + feats.load.shape[1]
    out = np.zeros((len(a), N_CHANNELS, k), dtype=np.float32)
    s = np.flatnonzero(a > 0)
    h = ACTION_CHANNEL[a[s]]
    out[s, h, 0] = 1.0
    out[s, h, 1:] = feats.load[s]
    return out.reshape(len(a), -1)


class OpenValueBandit(LinearBandit):
    """The open and value models, their update and saved state; subclasses explore on the value model (module docstring)."""

    def __init__(self, ridge: float = 1.0, response_history: bool = False, value_horizon: float = 0.0, **exploration: float):
        super().__init__(ridge=ridge, response_history=response_history, value_horizon=value_horizon, **exploration)
        base, contact, offer, channel, slot = block_widths(self.nonlinear, self.history)
        self.charged = self.long_term is not None
        """whether the value model prices a send's long-term charge (only a learner with a value horizon has one to learn)"""
        self.model = RidgeModel([base, contact, offer] + ([CHARGE_WIDTH] if self.charged else []), ridge)
        """the value model, of the target gross of the send's cost: base | opened x contact | opened x offer [| sent x charge]"""
        prior = np.zeros(contact + channel + slot + 1)
        prior[contact:contact + N_CHANNELS] = OPEN_PRIOR
        self.open_model = RidgeModel([contact, channel, slot + 1], ridge, prior_mean=prior)
        """the open model: contact | channel (one-hot, recent opens, recent contacts) | slot (one-hot, session share)"""

    def open_probability(self, feats: ArmFeatures) -> np.ndarray:
        """(n, H, S) the open model's probability that a message on channel h in slot s is opened."""
        theta = self.open_model.theta_f32
        contact, channel, slot = self.open_model.blocks(theta)
        common = feats.contact @ contact
        by_channel, by_slot = _option_scores(feats.channel, channel), _option_scores(feats.sessions[:, :, None], slot)
        return np.clip(common[:, None, None] + by_channel[:, :, None] + by_slot[:, None, :], 0.0, 1.0)

    def _values(self, rest: np.ndarray, feats: ArmFeatures) -> np.ndarray:
        """(n, O) each offer's value once opened, :math:`V_o`, under the value parameters ``rest`` (after the base block)."""
        contact, offer = self.model.blocks(rest, first=1)[:2]
        return _option_scores(feats.offer, offer) + np.einsum("nd,nd->n", feats.contact, contact)[:, None]

    def send_cost(self, feats: ArmFeatures) -> np.ndarray:
        """(n, H) float32 what a send on each channel costs whether or not it is opened: the channel's price,
        :math:`c_h`, plus, for a learner with a value horizon, the value model's long-term charge at its posterior mean,
        :math:`-[e_h, e_h \\otimes \\ell(x)]^\\top \\hat\\theta_{charge}` (:func:`charge_rows`; a charge is usually a cost,
        so the fitted term is negative and the cost grows)."""
        cost = np.broadcast_to(CHANNEL_COST, (len(feats.base), N_CHANNELS))
        if not self.charged:
            return np.ascontiguousarray(cost)
        theta = self.model.blocks(self.model.theta_f32)[-1].reshape(N_CHANNELS, 1 + feats.load.shape[1])
        return np.ascontiguousarray(cost - theta[:, 0] - feats.load @ theta[:, 1:].T, dtype=np.float32)

    def incremental_scores(self, feats: ArmFeatures) -> np.ndarray:
        """(n, O, H, S) :math:`-c_{ih} + p_{hs} V_o` at the posterior means."""
        value = self._values(self._mean_rest(len(feats.base)), feats)
        return self.open_probability(feats)[:, None] * value[:, :, None, None] - self.send_cost(feats)[:, None, :, None]

    def _choice(self, rest: np.ndarray, p_open: np.ndarray, feats: ArmFeatures, mask: ActionMask) -> tuple[np.ndarray, np.ndarray]:
        """The arm each shopper's value parameters ``rest`` (n, d - d_base) choose, and its margin over no contact."""
        return self._send(self._values(rest, feats), p_open, self.send_cost(feats), mask)

    @staticmethod
    def _send(value: np.ndarray, p_open: np.ndarray, cost: np.ndarray, mask: ActionMask) -> tuple[np.ndarray, np.ndarray]:
        """The arm of the highest :math:`-c_{ih} + p_{hs} V_o` for per-offer values ``value`` (n, O) and send costs ``cost``
        (n, H), or no contact if none is positive, and its margin. For fixed (h, s) the best offer is the arg max of V (p >= 0)."""
        return best_send(value, p_open, cost, mask.channel_ok)

    def _mean_rest(self, n: int) -> np.ndarray:
        return np.broadcast_to(self.model.theta_f32[self.model.widths[0]:], (n, self.model.d - self.model.widths[0]))

    def greedy(self, feats: ArmFeatures, mask: ActionMask) -> tuple[np.ndarray, np.ndarray]:
        return self._choice(self._mean_rest(len(feats.base)), self.open_probability(feats), feats, mask)

    def update(self, feedback: Feedback) -> None:
        if feedback.opened is None:
            raise ValueError(f"{self.name} learns from the opens of its messages, and this feedback has none (Feedback.opened)")
        feats = arm_features(feedback.obs, self.nonlinear, self.history)
        a = np.asarray(feedback.actions)
        sent = a > 0
        opened = (np.asarray(feedback.opened, dtype=bool) & sent).astype(np.float32)
        channel, slot = (np.maximum(x[a], 0) for x in (ACTION_CHANNEL, ACTION_SLOT))
        gross = self.targets(feedback) + np.where(sent, CHANNEL_COST[channel], 0.0)
        self.model.update(self.value_rows(feats, a, opened, self.charged), gross)
        if sent.any():
            s = np.flatnonzero(sent)
            rows = [feats.contact[s],
                    channel[s, None] == np.arange(N_CHANNELS), feats.channel[s, channel[s]],
                    slot[s, None] == np.arange(N_SLOTS), feats.sessions[s, slot[s], None]]
            self.open_model.update(np.concatenate(rows, axis=1), opened[s])

    @staticmethod
    def value_rows(feats: ArmFeatures, actions: np.ndarray, opened: np.ndarray, charged: bool = False) -> np.ndarray:
        """(n, d) float64 the value model's feature rows of decisions ``actions`` whose messages were ``opened`` (n,),
        1 or 0 (0 for no contact): :math:`[\\beta, o\\,\\gamma, o\\,e_o, o\\,\\omega_o]`, and with ``charged`` the send's
        charge columns (:func:`charge_rows`)."""
        i = np.arange(len(actions))
        offer = np.maximum(ACTION_OFFER[actions], 0)
        o = np.asarray(opened, dtype=np.float32)[:, None]
        blocks = [feats.base, o * feats.contact, o * (offer[:, None] == np.arange(N_OFFERS)), o * feats.offer[i, offer]]
        return np.concatenate(blocks + ([charge_rows(feats, actions)] if charged else []), axis=1, dtype=np.float64)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**super()._arrays(), **{f"open_{k}": v for k, v in self.open_model.state().items()}}

    def _restore(self, data) -> None:
        super()._restore(data)
        self.open_model = RidgeModel.from_state({k: data[f"open_{k}"] for k in RidgeModel.STATE_KEYS})


class OpenValueThompson(OpenValueBandit, LinearThompson):
    """Thompson sampling on the value of an opened offer, times a learned open probability (module docstring).

    It keeps :class:`~bandits.thompson.LinearThompson`'s hyperparameters and propensity estimate,
    on the open x value models and their choice.
    """

    name = "thompson"

    def __init__(self, scale: float = 1.0, ridge: float = 1.0, propensity_draws: int = 15, response_history: bool = False,
                 value_horizon: float = 0.0):
        super().__init__(ridge=ridge, scale=scale, propensity_draws=propensity_draws, response_history=response_history,
                         value_horizon=value_horizon)

    def choose(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> Decision:
        n = len(feats.base)
        p_open = self.open_probability(feats)
        actions, margin = self._choice(self.model.sample(n, self.scale, rng), p_open, feats, mask)
        same = 1 + (self._pooled(feats, mask, rng, self.propensity_draws, p_open) == actions).sum(axis=0)
        greedy, _ = self._choice(self._mean_rest(n), p_open, feats, mask)
        self.exploration = float((actions != greedy).mean())
        return Decision(actions, same / (self.propensity_draws + 1), priority=margin)

    def probabilities(self, feats: ArmFeatures, mask: ActionMask, rng: np.random.Generator) -> np.ndarray:
        """Estimated: the share of ``propensity_draws + 1`` posterior draws that choose each action."""
        return vote_share(self._pooled(feats, mask, rng, self.propensity_draws + 1, self.open_probability(feats)))

    def _pool_choices(self, pool: np.ndarray, offset: np.ndarray, k: int, feats: ArmFeatures, mask: ActionMask, p_open: np.ndarray | None) -> np.ndarray:
        return pooled_open_value(pool, offset, k, feats.contact, feature_major(feats.offer), p_open, self.send_cost(feats), mask.channel_ok)


class OpenValueUCB(ConfidenceBound, OpenValueBandit):
    """LinUCB on the open x value models: the arm with the highest upper confidence bound on its increment.

    .. math::  a^* = \\arg\\max_{(o,h,s)} \\; -c_h + p_{hs} V_o + \\alpha \\hat\\sigma \\sqrt{u_{ohs}^\\top \\tilde A^{-1}_{rr} u_{ohs}}
               = \\arg\\max_{(o,h,s)} \\; -c_h + p_{hs} \\big(V_o + \\alpha \\hat\\sigma \\sqrt{g_o^\\top \\tilde A^{-1}_{rr} g_o}\\big),
               \\qquad u_{ohs} = p_{hs}\\, g_o, \\quad g_o = [\\gamma(x), e_o, \\omega(x, o)]

    or no contact if no bound is positive; :math:`\\tilde A^{-1}_{rr}` is the value model's inverse Gram matrix
    over its blocks after the base one (the base block is in every arm and cancels in an
    increment), :math:`\\hat\\sigma` its residual standard deviation, p the open model at its mean.
    The bound is on the increment over no contact, the quantity a send is decided on, rather than
    on each arm's level: the organic part's uncertainty says nothing about whether to send. With the
    cost known, a send's only uncertain term is :math:`p_{hs} V_o`, and since :math:`p_{hs} \\ge 0`
    its bound is p times the bound on :math:`V_o`: the choice is :class:`OpenValueThompson`'s search
    with each offer's upper bound in place of a draw, one quadratic form per offer.

    *Batched, delayed bounds* (:class:`~bandits.base.ConfidenceBound`): the width counts the delivered
    decisions still in their window, opens known, and, within the day, the choices of the earlier
    blocks at their expected open,
    :math:`\\sum p\\, \\phi_1 \\phi_1^\\top + (1 - p)\\, \\phi_0 \\phi_0^\\top` (:math:`\\phi_1` opened, :math:`\\phi_0` not,
    p the open model's). Measured on 10,000 shoppers (seed 10) before it did: 85% of the sends of
    days 0-2 were BOGO, 97-100% of days 8-10 a recommendation, 90% of days 16-18 free shipping.
    """

    name = "linucb"

    def __init__(self, alpha: float = 1.0, ridge: float = 1.0, block: int = 256, response_history: bool = False, value_horizon: float = 0.0):
        super().__init__(alpha=alpha, block=block, ridge=ridge, response_history=response_history, value_horizon=value_horizon)

    def design_rows(self, feats: ArmFeatures, actions: np.ndarray, opened: np.ndarray | None) -> np.ndarray:
        if opened is None:
            raise ValueError(f"{self.name} counts its messages' opens in its bound, and these decisions have none (Feedback.opened)")
        return self.value_rows(feats, actions, opened, self.charged)

    def upper_values(self, feats: ArmFeatures) -> np.ndarray:
        """(n, O) each offer's upper confidence bound on its value once opened, :math:`V_o + \\alpha \\hat\\sigma \\sqrt{g_o^\\top \\tilde A^{-1}_{rr} g_o}`,
        for the :meth:`design` of now (one block)."""
        return self._values(self._mean_rest(len(feats.base)), feats) + self.bonus(feats, self.design())

    def bonus(self, feats: ArmFeatures, design: np.ndarray) -> np.ndarray:
        """(n, O) :math:`\\alpha \\hat\\sigma \\sqrt{g_o^\\top \\tilde A^{-1}_{rr} g_o}` for a Gram matrix ``design``."""
        rest, end = self.model.widths[0], sum(self.model.widths[:3])
        inverse = inverse_of(design)[rest:end, rest:end]  # contact | offer (their marginal: a charge, if any, is not explored)
        sig = (inverse * (self.alpha * self.model.noise_sd) ** 2).astype(np.float32)
        return np.sqrt(np.maximum(self.value_variance(feats, sig), 0.0))

    def _upper(self, feats: ArmFeatures, mask: ActionMask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(UCB action, its bound over no contact, greedy action), block by block (class docstring); the open model
        and the mean values are evaluated once for the bound and the greedy choice."""
        n = len(feats.base)
        p_open, cost = self.open_probability(feats), self.send_cost(feats)
        mean = self._values(self._mean_rest(n), feats)
        actions, margin = self._by_block(
            n, lambda b, design: self._send(mean[b] + self.bonus(feats.subset(b), design), p_open[b], cost[b], mask.subset(b)),
            lambda b, chosen: self._expected_gram(feats.subset(b), chosen, p_open[b]))
        return actions, margin, self._send(mean, p_open, cost, mask)[0]

    def _expected_gram(self, feats: ArmFeatures, actions: np.ndarray, p_open: np.ndarray) -> np.ndarray:
        """:math:`\\sum p\\, \\phi_1 \\phi_1^\\top + (1 - p)\\, \\phi_0 \\phi_0^\\top` of decisions whose opens are not known yet."""
        channel, slot = (np.maximum(x[actions], 0) for x in (ACTION_CHANNEL, ACTION_SLOT))
        p = np.where(actions > 0, p_open[np.arange(len(actions)), channel, slot], 0.0)
        opened = self.value_rows(feats, actions, np.ones(len(actions)), self.charged)
        closed = opened.copy()
        closed[:, self.model.widths[0]:sum(self.model.widths[:3])] = 0.0  # unopened: the opened x blocks are 0, a charge stays
        return gram(opened * np.sqrt(p)[:, None]) + gram(closed * np.sqrt(1.0 - p)[:, None])

    @staticmethod
    def value_variance(feats: ArmFeatures, sig: np.ndarray) -> np.ndarray:
        """:math:`g_o^\\top \\Sigma g_o` (n, O) for a covariance ``sig`` of the value model's blocks after the base one
        (contact | offer).

        :math:`g_o = [\\gamma, e_o, \\omega_o]`; the terms with the one-hot :math:`e_o` are lookups in
        :math:`\\Sigma`, so only the contact and dense offer features are multiplied.
        """
        c, o = feats.contact.shape[1], N_OFFERS
        sc, se, sk = slice(0, c), slice(c, c + o), slice(c + o, None)  # contact | offer one-hot | offer dense
        gam, omega = feats.contact, feats.offer  # (n, c), (n, O, k)
        g_sig = gam @ sig[sc]  # (n, d): gamma's row of Sigma
        flat = omega.reshape(-1, omega.shape[2])
        return (np.einsum("nd,nd->n", g_sig[:, sc], gam)[:, None] + 2 * g_sig[:, se] + np.diag(sig[se, se])
                + 2 * np.einsum("nok,nk->no", omega, g_sig[:, sk]) + 2 * np.einsum("nok,ok->no", omega, sig[se, sk])
                + np.einsum("mk,mk->m", flat @ sig[sk, sk], flat).reshape(len(gam), o))
