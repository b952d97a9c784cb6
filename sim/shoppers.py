"""The shopper as a Mesa agent: a view onto one row of the market's arrays.

A shopper holds no numbers of its own. Its ``step`` runs the market's day equations on its own
row (a batch of one), so the per-agent way of running the market and the vectorised way share
one copy of every equation. Properties give readable access to the row for inspection and tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent

from sim.config import ARCHETYPES

if TYPE_CHECKING:
    from sim.market import MarketModel


class Shopper(Agent):
    """One simulated customer; ``row`` indexes the market's arrays."""

    model: MarketModel

    def __init__(self, model: MarketModel, row: int):
        super().__init__(model)
        self.row = row

    def step(self) -> None:
        self.model.shopper_day(slice(self.row, self.row + 1))

    @property
    def archetype(self) -> str:
        return ARCHETYPES[self.model.traits.archetype[self.row]]

    @property
    def churned(self) -> bool:
        return bool(self.model.state.churned[self.row])

    @property
    def fatigue(self) -> float:
        return float(self.model.state.fatigue[self.row])

    @property
    def consent(self) -> np.ndarray:
        """(H,) bool contact consent per channel, now."""
        return self.model.state.consent[self.row].copy()

    def observation(self) -> np.ndarray:
        """This shopper's CRM features today (what a policy would see)."""
        return self.model.observe(slice(self.row, self.row + 1))[0]
