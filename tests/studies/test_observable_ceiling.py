"""The observable ceiling acts greedily on allowed arms and learns from the oracle's values (tiny inputs)."""

from __future__ import annotations

import numpy as np

from sim import MarketModel
from sim.catalogue import N_CHANNELS, N_SLOTS, encode
from sim.config import MarketConfig, PopulationConfig
from sim.guardrails import ActionMask
from studies import observable_ceiling


def test_observable_ceiling_greedy_sends_the_best_allowed_arm_and_nothing_when_none_pays():
    values = np.full((2, observable_ceiling.SENDS), -1.0)
    best_forbidden, best_allowed = encode(1, 0, 2) - 1, encode(4, 2, 0) - 1
    values[0, best_forbidden], values[0, best_allowed] = 5.0, 3.0
    channel_ok = np.ones((2, N_CHANNELS), dtype=bool)
    channel_ok[0, 0] = False
    actions, value = observable_ceiling.allowed_best(values, ActionMask(channel_ok))
    assert actions.tolist() == [best_allowed + 1, 0] and value.tolist() == [3.0, 0.0]


def test_observable_ceiling_learns_from_oracle_values_and_reveals_what_it_is_told():
    config = MarketConfig(population=PopulationConfig(size=300), horizon_days=8)
    behaviour = lambda market: observable_ceiling.ExploredOracle(market, 0.2)  # noqa: E731
    x, v = observable_ceiling.gather(behaviour, [1], config, 0.5, ("active_slot",))
    market = MarketModel(config, seed=1)
    width = market.observe(np.arange(3)).shape[1] + 1 + N_SLOTS
    assert x.shape[1] == width and v.shape == (len(x), observable_ceiling.SENDS) and len(x) > 500
    assert (x[:, -N_SLOTS:].sum(axis=1) == 1).all()  # the active slot, one-hot
    model = observable_ceiling.fit(x, v, hidden=32, layers=2, epochs=400, seed=0)
    r2, picked, best = observable_ceiling.fit_quality(model, x, v)
    assert r2 > 0.2 and 0.5 * best < picked <= best  # it fits the rows it saw; no pick is worth more than the oracle's
