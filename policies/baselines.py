"""Baselines a shop can run without data science: the no-contact holdout, random, and blast."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from policies.base import Decision, DecisionContext, Policy, deterministic
from sim.catalogue import CHANNEL_NAMES, N_CHANNELS, N_OFFERS, N_SLOTS, OFFER_NAMES, SLOTS, encode
from sim.guardrails import ActionMask

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class NoContact(Policy):
    """The holdout: nobody is contacted. Incremental profit is measured against it."""

    name = "no_contact"

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        return deterministic(np.zeros(len(obs), dtype=np.int64))


class RandomPolicy(Policy):
    """Uniform over the allowed actions of each shopper, no contact included.

    A shopper with ``k`` allowed channels has ``1 + k * O * S`` allowed actions, each chosen with
    probability ``1 / (1 + k O S)``; drawn by one uniform per shopper without building the dense mask.
    """

    name = "random"

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        actions, count = uniform_allowed(mask, context.rng)
        return Decision(actions, 1.0 / count)

    def probabilities(self, obs: np.ndarray, mask: ActionMask) -> np.ndarray:
        """(n, N_ACTIONS) ``1 / (1 + k O S)`` on each allowed action, 0 elsewhere (for off-policy evaluation)."""
        allowed = mask.dense()
        return allowed / allowed.sum(axis=1, keepdims=True)


def uniform_allowed(mask: ActionMask, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One uniformly random allowed action per shopper (no contact included), and how many were allowed."""
    ok = mask.channel_ok
    per_channel = N_OFFERS * N_SLOTS
    count = 1 + ok.sum(axis=1) * per_channel
    pick = np.floor(rng.random(len(ok)) * count).astype(np.int64)  # 0 = no contact
    k = np.maximum(pick - 1, 0)
    nth_channel, rest = np.divmod(k, per_channel)
    offer, slot = np.divmod(rest, N_SLOTS)
    # The channel is the nth allowed one: the first column where the running count of allowed channels passes n.
    channel = (np.cumsum(ok, axis=1) <= nth_channel[:, None]).sum(axis=1).clip(max=N_CHANNELS - 1)
    return np.where(pick > 0, encode(offer, channel, slot), 0).astype(np.int64), count


@dataclass
class Blast(Policy):
    """What a shop without data does: one offer to everyone with e-mail consent on a fixed weekday."""

    offer: str = "info"
    channel: str = "email"
    weekday: str = "thu"
    slot: str = "morning"
    name: str = "blast"

    def __post_init__(self) -> None:
        for field, value, allowed in (
            ("offer", self.offer, OFFER_NAMES), ("channel", self.channel, CHANNEL_NAMES),
            ("weekday", self.weekday, WEEKDAYS), ("slot", self.slot, SLOTS),
        ):
            if value not in allowed:
                raise ValueError(f"blast.{field}={value!r}: unknown; allowed: {', '.join(allowed)}")
        self._action = int(encode(OFFER_NAMES.index(self.offer), CHANNEL_NAMES.index(self.channel), SLOTS.index(self.slot)))
        self._channel = CHANNEL_NAMES.index(self.channel)

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        today = context.weekday == WEEKDAYS.index(self.weekday)
        send = mask.channel_ok[:, self._channel] & today
        return deterministic(np.where(send, self._action, 0))
