"""The arms of an uplift policy: the actions its pilot randomises over and its model scores, by readable name.

An arm is written as :func:`sim.catalogue.action_name` writes an action, ``"<offer> / <channel> /
<slot>"`` (``"info / email / morning"``), and may use the rule tables' two per-shopper forms
(:class:`policies.rules.Target`, their one resolution): the offer ``"10% {top_category}"`` (the
shopper's most bought or browsed category; no such arm for a shopper with none) and the channel
``best_opened`` (the allowed channel the shopper opened most). No two arms may resolve to the same
action for any shopper, so that an executed action names its arm: that is how a pilot's decision
log gives each row its treatment code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from policies.rules import Target, best_opened_channel, shopper_fields
from sim.catalogue import ACTION_NAMES, N_ACTIONS
from sim.guardrails import ActionMask

SEPARATOR = " / "


class Arms:
    """Arms parsed from their names; :meth:`actions` resolves them for a batch of shoppers under their mask."""

    def __init__(self, names: Sequence[str], where: str = "arms"):
        if isinstance(names, str) or not names:
            raise ValueError(f"{where}={names!r}: must be a non-empty list of actions such as {ACTION_NAMES[1]!r}")
        self.names = tuple(str(n) for n in names)
        self.targets = [parse_arm(name, f"{where}[{k}]") for k, name in enumerate(self.names)]
        self.arm_of_action = np.zeros(N_ACTIONS, dtype=np.int64)
        """(N_ACTIONS,) the arm code (1..K) each action belongs to, 0 for none (and for no contact)"""
        for k, target in enumerate(self.targets, start=1):
            for action in sorted(target.actions()):
                if self.arm_of_action[action]:
                    other = self.arm_of_action[action] - 1
                    raise ValueError(f"{where}[{k - 1}]={self.names[k - 1]!r}: sends {ACTION_NAMES[action]!r} to some shoppers, as does "
                                     f"{where}[{other}]={self.names[other]!r}; allowed: arms that never send the same action")
                self.arm_of_action[action] = k
        self.needs_best = any(t.channel < 0 for t in self.targets)

    def __len__(self) -> int:
        return len(self.targets)

    def actions(self, obs: np.ndarray, mask: ActionMask) -> np.ndarray:
        """(n, K) the action each arm sends each shopper today, 0 where it cannot (no known category for a
        ``{top_category}`` offer, or its channel not allowed: no consent, or the frequency cap reached)."""
        values = shopper_fields(obs)
        top = values["top_category"].astype(np.int64)
        best = best_opened_channel(values, mask) if self.needs_best else np.full(len(obs), -1)
        return np.column_stack([t.resolve(top, best, mask)[1] for t in self.targets]) if len(obs) else np.zeros((0, len(self)), np.int64)


def parse_arm(name: str, where: str) -> Target:
    """The target of an arm's name ``"<offer> / <channel> / <slot>"``; a bad name is a ValueError naming ``where``."""
    parts = str(name).split(SEPARATOR)
    if len(parts) != 3:
        raise ValueError(f"{where}={name!r}: not an action; allowed: '<offer> / <channel> / <slot>' as in {ACTION_NAMES[1]!r} "
                         f"(offer may be '10% {{top_category}}', channel 'best_opened')")
    offer, channel, slot = (p.strip() for p in parts)
    return Target.parse(offer, channel, slot, where)
