"""The diagnostic benchmarks the README quotes still run and measure what they say (on tiny inputs)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import holdout_check  # noqa: E402
import message_signal  # noqa: E402
import observable_ceiling  # noqa: E402
import offer_ablation  # noqa: E402
from experiments import hillstrom  # noqa: E402
from policies.base import DecisionContext  # noqa: E402
from sim import MarketModel  # noqa: E402
from sim.catalogue import ACTION_OFFER, N_CHANNELS, N_SLOTS, OFFER_NAMES, encode  # noqa: E402
from sim.config import MarketConfig, PopulationConfig  # noqa: E402
from sim.guardrails import ActionMask  # noqa: E402


def test_message_signal_returns_one_finite_return_per_contacted_shopper():
    actions, returns = message_signal.contact_returns(shoppers=300, share=0.5, day=3, gamma=0.99, seed=1000)
    assert 100 < len(actions) < 200 and (actions > 0).all()  # about half of 300, each a send
    assert len(returns) == len(actions) and np.isfinite(returns).all() and returns.std() > 0


def test_holdout_check_on_the_projects_split_misses_what_the_readme_says():
    keys, inside = holdout_check.inside(hillstrom.load(), split_seed=2008)
    assert len(keys) == len(inside) == 15 and inside.dtype == bool
    outside = {k for k, hit in zip(keys, inside) if not hit}
    assert outside == {("Mens E-Mail", "visit"), ("Mens E-Mail", "visit_lift")}  # the fit half's own values, held out


def test_offer_ablation_twin_sends_only_its_offer():
    market = MarketModel(MarketConfig(population=PopulationConfig(size=400)), seed=3)
    rows = np.flatnonzero(market.present)
    twin = offer_ablation.OneOfferOpenValue(OFFER_NAMES.index("free_shipping"))
    decision = twin.act(market.observe(rows), market.action_mask().subset(rows), DecisionContext(0, 0, np.random.default_rng(0), rows))
    sent = decision.actions[decision.actions > 0]
    assert len(sent) > 0 and (ACTION_OFFER[sent] == OFFER_NAMES.index("free_shipping")).all()


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
