"""A message's long-term cost, priced from what the shop sees: what a decision's window lost.

A bandit that learns from the 7-day profit of a decision prices a message by its week alone.
What the message does after that week -- the shopper, tired of messages, withdraws a channel's
consent or stops buying and leaves the shop's list -- is invisible to it, and on a market where
those costs are large (``market=long_run``) every such learner loses to a weekly newsletter. A
learner with a value horizon H (``value_horizon``, days) regresses instead

.. math::  y_{i,t} = r_{i,t} - \\gamma^W \\Big( e_{i,t}\\, \\hat V(x_{i,t})
           + (1 - e_{i,t}) \\sum_h \\ell_{ih}\\, \\max(w_h, 0)
           + \\mathbb{1}[a_{i,t} \\ne 0]\\, \\tfrac{30 - W}{W}\\, \\max(\\beta_{30}, 0)\\, \\hat V(x_{i,t}) \\Big),

with :math:`r_{i,t}` the profit over the W-day attribution window (:mod:`policies.attribution`),
:math:`\\gamma = 1 - 1/H` a daily discount, and three observed outcomes priced in the shop's money:

- **a lapse**, :math:`e_{i,t} = 1` when the shopper left the shop's contact list during the window
  (the simulator removes a churned shopper from the list the day they leave, so the shop sees the
  record end), costs the record's value :math:`\\hat V(x_{i,t})`, the discounted profit a shopper
  whose record reads x brings under the shop's way of contacting;
- **a withdrawn consent**, :math:`\\ell_{ih} = 1` when channel h's consent held at the decision is
  gone after the window, costs that consent's weight in :math:`\\hat V` (never less than nothing);
- **the lapse hazard a send adds after its window**: a message stays in the 30-day contact count for
  30 days, W of them inside its own window; over the other 30 - W it raises the chance of a lapse per
  window by :math:`\\beta_{30}`, the slope on that count of a linear probability model of a lapse
  within the window (fitted on every matured decision, on the same features as :math:`\\hat V`).

:math:`\\hat V(x) = \\psi(x)^\\top w` reads a one-hot of the shopper's recency x frequency cell, the
consents the shop holds, ``personal_data`` and the 30-day contact count (:data:`VALUE_FEATURES`),
fitted by least-squares temporal differences (Bradtke and Barto, *Machine Learning* 22, 1996) over
W-day steps on every matured decision, the record after the window in :math:`\\psi_{t+W}`:

.. math::  w = \\Big(\\lambda I + \\sum \\psi_t (\\psi_t - \\gamma^W (1 - e_t) \\psi_{t+W})^\\top\\Big)^{-1} \\sum \\psi_t r_t .

It is a surrogate index in the spirit of Athey, Chetty, Imbens and Kang (2019): outcomes the shop
observes within weeks (a lapse, a consent, the contact load) stand for the long-term profit they
predict, which the shop cannot wait months to see. Every term is observed; no latent trait. Before
any data :math:`w = 0`, so a learner starts myopic and grows far-sighted as the record fills.

Why these outcomes, priced at the record *before* the decision, and not :math:`\\hat V(x_{t+W})` itself
(the textbook bootstrapped target): a purchase the message brought moves the shopper into a better
recency x frequency cell, and across shoppers that cell's value is largely who buys there (latent
traits), not what a purchase does, so a bootstrapped target can pay a message for the selection. Tried
first on a 4,000-shopper long-run market, it fitted a value linear in spend in which a first purchase
lost value, and charged an e-mail about 80 (a message earns well under 1 in its week): the learner
stopped sending. The numbers of the rule above: docs/results/long_term.md.

The learners' arm models, fitted to :math:`y`, then charge each action the value it costs later,
while everything that does not depend on the action is absorbed by the base block, as the organic
profit is. The open x value learners (:mod:`bandits.open_value`) give a send a per-channel charge on
the contact load for it (:func:`bandits.open_value.charge_rows`).
"""

from __future__ import annotations

import numpy as np

from bandits.features import FREQUENCY_EDGES, RECENCY_EDGES
from policies.base import Feedback
from sim.catalogue import CHANNEL_NAMES, VALIDITY_DAYS
from sim.features import index

CONSENTS = tuple(f"consent_{h}" for h in CHANNEL_NAMES)
VALUE_FEATURES = ("personal_data", *CONSENTS, "contacts_30d")
"""what :math:`\\hat V` reads besides its recency x frequency cells: the consents the shop still holds and the recent
contacts. Not the calendar or the tenure: over one run they are clocks, and a value fitted on a clock extrapolates its
trend instead of pricing the record; not spend as a number: linear in it, the value of a first purchase came out negative"""
_VALUE = [index(f) for f in VALUE_FEATURES]
_CONSENT = [index(f) for f in CONSENTS]
_CONTACTS_30D = VALUE_FEATURES.index("contacts_30d")
_CONSENT_WEIGHTS = slice(1, 1 + len(CONSENTS))
"""where the consents' weights sit in :math:`w`, after the cells"""
_RECENCY, _FREQUENCY = index("recency"), index("frequency")


class LongTermValue:
    """:math:`\\hat V`, its LSTD statistics and the learning target :math:`y` (module docstring)."""

    def __init__(self, horizon: float, ridge: float = 1.0, window: int = VALIDITY_DAYS):
        if not horizon >= 1:
            raise ValueError(f"value_horizon={horizon!r}: must be >= 1 day (or 0 for a myopic learner)")
        self.horizon = float(horizon)
        self.discount = (1.0 - 1.0 / self.horizon) ** window
        """:math:`\\gamma^W`: the weight of the record's value one window later"""
        d = (RECENCY_EDGES.size + 1) * (FREQUENCY_EDGES.size + 1) + len(VALUE_FEATURES)
        self.ridge = float(ridge)
        self.A = self.ridge * np.eye(d)
        self.b = np.zeros(d)
        self.n_obs = 0
        self.weights = np.zeros(d)
        self.window = window
        self.G = self.ridge * np.eye(d)
        self.c = np.zeros(d)
        self.hazard = np.zeros(d)

    @staticmethod
    def features(obs: np.ndarray) -> np.ndarray:
        """(n, d) float64 :math:`\\psi(x)`: :data:`VALUE_FEATURES`, then a one-hot of the shopper's recency x frequency cell."""
        obs = np.asarray(obs, dtype=np.float32)
        rec, freq = (np.searchsorted(edges, obs[:, k], side="right") for edges, k in ((RECENCY_EDGES, _RECENCY), (FREQUENCY_EDGES, _FREQUENCY)))
        cells = (rec * (FREQUENCY_EDGES.size + 1) + freq)[:, None] == np.arange((RECENCY_EDGES.size + 1) * (FREQUENCY_EDGES.size + 1))
        return np.concatenate([obs[:, _VALUE], cells], axis=1, dtype=np.float64)

    def value(self, obs: np.ndarray) -> np.ndarray:
        """(n,) :math:`\\hat V(x)`."""
        return self.features(obs) @ self.weights

    def update(self, feedback: Feedback) -> None:
        """Add matured decisions' W-day transitions to the LSTD statistics and solve again."""
        after, ended = _lookahead(feedback)
        psi, psi_next = self.features(feedback.obs), self.features(after)
        psi_next *= (self.discount * (1.0 - ended))[:, None]
        self.A += psi.T @ (psi - psi_next)
        self.b += psi.T @ np.asarray(feedback.reward, dtype=np.float64)
        self.n_obs += len(psi)
        self.weights = np.linalg.solve(self.A, self.b)
        self.G += psi.T @ psi
        self.c += psi.T @ ended
        self.hazard = np.linalg.solve(self.G, self.c)

    def consent_values(self) -> np.ndarray:
        """(H,) what a channel's consent is worth, :math:`\\max(w_h, 0)`: its weight in :math:`\\hat V` (never a gain to lose)."""
        return np.maximum(self.weights[_CONSENT_WEIGHTS], 0.0)

    def target(self, feedback: Feedback) -> np.ndarray:
        """(n,) :math:`y = r - \\gamma^W \\big(e\\, \\hat V(x_t) + (1 - e) \\sum_h [\\text{lost}_h]\\, \\max(w_h, 0)\\big)`,
        the reward a far-sighted learner regresses: the matured profit less the value of what the window lost, the whole
        record if the shopper left the list, otherwise the consents withdrawn."""
        after, ended = _lookahead(feedback)
        obs = np.asarray(feedback.obs, dtype=np.float32)
        lost = np.clip(obs[:, _CONSENT] - np.asarray(after, dtype=np.float32)[:, _CONSENT], 0.0, 1.0) @ self.consent_values()
        value = self.value(obs)
        later = (30 - self.window) / self.window * max(self.hazard[_CONTACTS_30D], 0.0) * value * (np.asarray(feedback.actions) > 0)
        return np.asarray(feedback.reward, dtype=np.float64) - self.discount * (np.where(ended > 0, value, lost) + later)

    def state(self) -> dict[str, np.ndarray]:
        return {"value_A": self.A, "value_b": self.b, "value_n_obs": np.array(self.n_obs), "lapse_G": self.G, "lapse_c": self.c}

    def restore(self, data) -> None:
        self.A, self.b = np.array(data["value_A"], dtype=np.float64), np.array(data["value_b"], dtype=np.float64)
        self.G, self.c = np.array(data["lapse_G"], dtype=np.float64), np.array(data["lapse_c"], dtype=np.float64)
        self.n_obs = int(data["value_n_obs"])
        self.weights = np.linalg.solve(self.A, self.b)
        self.hazard = np.linalg.solve(self.G, self.c)


def _lookahead(feedback: Feedback) -> tuple[np.ndarray, np.ndarray]:
    """(the observations after the window, 1.0 where the shopper left the list): a clear error where the feedback has none."""
    if feedback.after is None or feedback.ended is None:
        raise ValueError("a learner with a value horizon learns from the record after each decision's window (Feedback.after, "
                         "Feedback.ended), and this feedback has none; set value_horizon: 0 for a myopic learner")
    return np.asarray(feedback.after), np.asarray(feedback.ended, dtype=np.float64)
