"""Open x value learners: a message pays only if it is opened, so learn the two apart.

A send's expected incremental profit is a product, not a sum (:mod:`policies.oracle`):

.. math::  \\mathrm{E}[r \\mid x, (o, h, s)] - \\mathrm{E}[r \\mid x, \\varnothing]
           = c_h(x) + p_{hs}(x)\\, V_o(x)

with :math:`p_{hs}` the probability that a message on channel h in slot s is opened,
:math:`V_o` what an opened offer o is worth, and :math:`c_h` the send's cost (and whatever an
unopened message does). The additive score of :mod:`bandits.linear` cannot express that the
right slot helps a good offer and makes a bad one cost more, and it learns the slot from the
profit, whose noise is some 70 times a message's effect. Here two ridge models share the work:

- the *open model*, a linear probability model of "opened" (observed on the day of the send,
  a 0/1 signal with little noise) on the send's channel and slot, the shopper's recent opens on
  the channel, the share of their site sessions in the slot and the contact context,

  .. math::  p_{hs}(x) = \\gamma(x)^\\top \\theta_c + [e_h, \\eta(x, h)]^\\top \\theta_h + [e_s, q_s(x)]^\\top \\theta_s,

  with :math:`q_s` the slot's share of the shopper's site sessions (``ArmFeatures.sessions``), clipped to [0, 1];
- the *value model*, a ridge regression of the 7-day profit on every decision,

  .. math::  r = \\beta(x)^\\top \\theta_b + \\mathbb{1}[\\text{sent}]\\, e_h^\\top \\theta_{cost}
                 + \\mathbb{1}[\\text{opened}]\\, \\big(\\gamma(x)^\\top \\theta_v + [e_o, \\omega(x, o)]^\\top \\theta_o\\big) + \\varepsilon,

  whose last term, :math:`V_o(x)`, is fitted only where a message was opened.

The blocks :math:`\\beta, \\gamma, \\omega, \\eta` are those of :mod:`bandits.features`.
Both learners take the open model at its posterior mean, which a dense 0/1 signal pins down within
days, and explore on the value model, whose signal is the noisy profit:

- :class:`OpenValueThompson` (``open_value``) draws shopper i's value parameters from their
  posterior :math:`N(\\hat\\theta, v^2 \\hat\\sigma^2 A^{-1})` (the base block at its mean: it is
  the same for every arm) and acts greedily on the draw. For fixed (h, s) the best offer is
  :math:`\\arg\\max_o V_o` whatever p is (p >= 0), so the choice costs O(O + H S) per shopper.
  Propensities are estimated as in :class:`bandits.thompson.LinearThompson`.
- :class:`OpenValueUCB` (``open_value_ucb``) sends the arm with the highest upper confidence
  bound on its increment over no contact (deterministic, propensity 1).
"""

from __future__ import annotations

import numpy as np

from bandits.base import ConfidenceBound, LinearBandit, best_allowed_arm, vote_share
from bandits.features import ArmFeatures, arm_features, block_widths
from bandits.linear import RidgeModel, _option_scores
from bandits.thompson import LinearThompson
from policies.base import Decision, Feedback
from sim.catalogue import ACTION_CHANNEL, ACTION_OFFER, ACTION_SLOT, N_CHANNELS, N_OFFERS, N_SLOTS, encode
from sim.guardrails import ActionMask


class OpenValueBandit(LinearBandit):
    """The open and value models, their update and saved state; subclasses explore on the value model (module docstring)."""

    def __init__(self, ridge: float = 1.0, **exploration: float):
        super().__init__(ridge=ridge, **exploration)
        base, contact, offer, channel, slot = block_widths(self.nonlinear)
        self.model = RidgeModel([base, N_CHANNELS, contact, offer], ridge)
        """the value model: base | sent x channel | opened x contact | opened x offer"""
        self.open_model = RidgeModel([contact, channel, slot + 1], ridge)
        """the open model: contact | channel (one-hot, recent opens, recent contacts) | slot (one-hot, session share)"""

    def open_probability(self, feats: ArmFeatures) -> np.ndarray:
        """(n, H, S) the open model's probability that a message on channel h in slot s is opened."""
        theta = self.open_model.theta_f32
        contact, channel, slot = self.open_model.blocks(theta)
        common = feats.contact @ contact
        by_channel, by_slot = _option_scores(feats.channel, channel), _option_scores(feats.sessions[:, :, None], slot)
        return np.clip(common[:, None, None] + by_channel[:, :, None] + by_slot[:, None, :], 0.0, 1.0)

    def _split(self, rest: np.ndarray, feats: ArmFeatures) -> tuple[np.ndarray, np.ndarray]:
        """The value parameters ``rest`` (after the base block) as each shopper's channel terms (n, H) and offer values (n, O)."""
        cost, contact, offer = self.model.blocks(rest, first=1)
        return cost, _option_scores(feats.offer, offer) + np.einsum("nd,nd->n", feats.contact, contact)[:, None]

    def incremental_scores(self, feats: ArmFeatures) -> np.ndarray:
        """(n, O, H, S) :math:`c_h + p_{hs} V_o` at the posterior means."""
        cost, value = self._split(self._mean_rest(len(feats.base)), feats)
        return cost[:, None, :, None] + self.open_probability(feats)[:, None] * value[:, :, None, None]

    def _choice(self, rest: np.ndarray, p_open: np.ndarray, feats: ArmFeatures, mask: ActionMask) -> tuple[np.ndarray, np.ndarray]:
        """The arm each shopper's value parameters ``rest`` (n, d - d_base) choose, and its margin over no contact."""
        n = len(rest)
        cost, value = self._split(rest, feats)
        best_offer = value.argmax(axis=1)
        score = cost[:, :, None] + p_open * value[np.arange(n), best_offer][:, None, None]  # (n, H, S)
        score = np.where(mask.channel_ok[:, :, None], score, -np.inf).reshape(n, -1)
        k = score.argmax(axis=1)
        margin = score[np.arange(n), k]
        channel, slot = np.divmod(k, N_SLOTS)
        send = margin > 0
        return np.where(send, encode(best_offer, channel, slot), 0).astype(np.int64), np.where(send, margin, 0.0)

    def _mean_rest(self, n: int) -> np.ndarray:
        return np.broadcast_to(self.model.theta_f32[self.model.widths[0]:], (n, self.model.d - self.model.widths[0]))

    def greedy(self, feats: ArmFeatures, mask: ActionMask) -> tuple[np.ndarray, np.ndarray]:
        return self._choice(self._mean_rest(len(feats.base)), self.open_probability(feats), feats, mask)

    def update(self, feedback: Feedback) -> None:
        if feedback.opened is None:
            raise ValueError(f"{self.name} learns from the opens of its messages, and this feedback has none (Feedback.opened)")
        feats = arm_features(feedback.obs, self.nonlinear)
        a = np.asarray(feedback.actions)
        i = np.arange(len(a))
        sent = a > 0
        opened = (np.asarray(feedback.opened, dtype=bool) & sent).astype(np.float32)[:, None]
        offer, channel, slot = (np.maximum(x[a], 0) for x in (ACTION_OFFER, ACTION_CHANNEL, ACTION_SLOT))
        cost = sent[:, None] * (channel[:, None] == np.arange(N_CHANNELS))
        self.model.update(np.concatenate([feats.base, cost, opened * feats.contact,
                                          opened * (offer[:, None] == np.arange(N_OFFERS)), opened * feats.offer[i, offer]], axis=1),
                          feedback.reward)
        if sent.any():
            s = np.flatnonzero(sent)
            rows = [feats.contact[s],
                    channel[s, None] == np.arange(N_CHANNELS), feats.channel[s, channel[s]],
                    slot[s, None] == np.arange(N_SLOTS), feats.sessions[s, slot[s], None]]
            self.open_model.update(np.concatenate(rows, axis=1), opened[s, 0])

    def _arrays(self) -> dict[str, np.ndarray]:
        return {**self.model.state(), **{f"open_{k}": v for k, v in self.open_model.state().items()}}

    def _restore(self, data) -> None:
        super()._restore(data)
        self.open_model = RidgeModel.from_state({k: data[f"open_{k}"] for k in RidgeModel.STATE_KEYS})


class OpenValueThompson(OpenValueBandit, LinearThompson):
    """Thompson sampling on the value of an opened offer, times a learned open probability (module docstring).

    It keeps :class:`~bandits.thompson.LinearThompson`'s hyperparameters and propensity estimate,
    on the open x value models and their choice.
    """

    name = "open_value"

    def __init__(self, scale: float = 1.0, ridge: float = 1.0, propensity_draws: int = 15):
        super().__init__(ridge=ridge, scale=scale, propensity_draws=propensity_draws)

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


class OpenValueUCB(ConfidenceBound, OpenValueBandit):
    """LinUCB on the open x value models: the arm with the highest upper confidence bound on its increment.

    .. math::  a^* = \\arg\\max_{(o,h,s)} \\; c_h + p_{hs} V_o + \\alpha \\hat\\sigma \\sqrt{u_{ohs}^\\top A_r^{-1} u_{ohs}},
               \\qquad u_{ohs} = \\big[e_h,\\; p_{hs}\\, g_o\\big], \\quad g_o = [\\gamma(x), e_o, \\omega(x, o)]

    or no contact if no bound is positive; :math:`A_r^{-1}` is the value model's inverse Gram matrix
    over its blocks after the base one (the base block is in every arm and cancels in an
    increment), :math:`\\hat\\sigma` its residual standard deviation, p the open model at its mean.
    The bound is on the increment over no contact, the quantity a send is decided on, rather than
    on each arm's level: the organic part's uncertainty says nothing about whether to send. The
    variance expands into :math:`\\Sigma_{hh} + 2 p_{hs} \\Sigma_{h\\cdot} g_o + p_{hs}^2\\, g_o^\\top \\Sigma g_o`,
    so it takes one product per offer and the 255 arms are assembled by broadcasting. Deterministic:
    the propensity of the chosen action is 1.
    """

    name = "open_value_ucb"

    def __init__(self, alpha: float = 1.0, ridge: float = 1.0):
        if not alpha >= 0:
            raise ValueError(f"alpha={alpha!r}: must be >= 0")
        super().__init__(ridge=ridge)
        self.alpha = alpha

    def _upper(self, feats: ArmFeatures, mask: ActionMask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(UCB action, its bound over no contact, greedy action), the open model evaluated once for both.

        The bound is built in (n, H, S, O) memory, offers innermost (:func:`bandits.linear.arm_tensor`).
        """
        n, h = len(feats.base), N_CHANNELS
        p_open = self.open_probability(feats)
        p = p_open[..., None]  # (n, H, S, 1)
        cost, value = self._split(self._mean_rest(n), feats)
        rest = self.model.widths[0]
        sig = self.model.cov_f32[rest:, rest:] * np.float32((self.alpha * self.model.noise_sd) ** 2)  # cost | contact | offer
        quad, cross = self.value_variance(feats, sig)
        upper = quad[:, None, None, :] * p  # (n, H, S, O): p^2 g'Sg + 2 p S_h g + S_hh, as p (p g'Sg + 2 S_h g) + S_hh
        upper += 2 * cross[:, :, None, :]
        upper *= p
        upper += np.diag(sig[:h, :h])[:, None, None]
        np.sqrt(np.maximum(upper, 0.0, out=upper), out=upper)
        upper += p * value[:, None, None, :]
        upper += cost[:, :, None, None]
        upper[~mask.channel_ok] = -np.inf
        actions, margin = best_allowed_arm(np.zeros(n, dtype=np.float32), upper.transpose(0, 3, 1, 2))  # an increment: no contact is 0
        return actions, margin, self._choice(self._mean_rest(n), p_open, feats, mask)[0]

    @staticmethod
    def value_variance(feats: ArmFeatures, sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:math:`g_o^\\top \\Sigma g_o` (n, O) and :math:`\\Sigma_{h\\cdot} g_o` (n, H, O) for a covariance ``sig``
        of the value model's blocks after the base one (cost | contact | offer).

        :math:`g_o = [\\gamma, e_o, \\omega_o]`; the terms with the one-hot :math:`e_o` are lookups in
        :math:`\\Sigma`, so only the contact and dense offer features are multiplied.
        """
        h, c, o = N_CHANNELS, feats.contact.shape[1], N_OFFERS
        sc, se, sk = slice(h, h + c), slice(h + c, h + c + o), slice(h + c + o, None)  # contact | offer one-hot | offer dense
        gam, omega = feats.contact, feats.offer  # (n, c), (n, O, k)
        g_sig = gam @ sig[sc]  # (n, d): gamma's row of Sigma
        k = omega.shape[2]
        flat = omega.reshape(-1, k)
        quad = (np.einsum("nd,nd->n", g_sig[:, sc], gam)[:, None] + 2 * g_sig[:, se] + np.diag(sig[se, se])
                + 2 * np.einsum("nok,nk->no", omega, g_sig[:, sk]) + 2 * np.einsum("nok,ok->no", omega, sig[se, sk])
                + np.einsum("mk,mk->m", flat @ sig[sk, sk], flat).reshape(len(gam), o))
        cross = g_sig[:, :h, None] + sig[:h, se] + (flat @ sig[sk, :h]).reshape(len(gam), o, h).transpose(0, 2, 1)
        return quad, cross
