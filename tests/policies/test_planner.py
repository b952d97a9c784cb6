"""The reference planner: its value of a message against brute-force rollouts of the market, and its contract.

The rollout tests run each tiny market twice from the same seed, so both runs draw the same random
numbers (``sim/streams.py``): once with a message to every shopper on the test day, once without,
the days after under the same policy in both. Without the social network shoppers do not affect
one another, so one pair of runs gives each shopper's own difference in profit to the end of the
horizon, a draw of :math:`Q(s_i, a) - Q(s_i, \\text{no contact})`. Its mean over shoppers must
match the planner's mean score of the message (its value against no contact) within three
standard errors of the paired differences (shopper by shopper, rollout minus score), the spread
of which is mostly shoppers who churned in one run and not the other. Three standard errors is
what an unbiased estimate misses by less than 99.7% of the time; the planner's approximations
(first order in the extra churn, its later sends at their mean) are what remains. Each test also
asserts that the myopic value (the same planner's EIP, charges left out) misses the rollouts by
more than that: the test tells a planner that charges the future from one that does not.

The markets make the charges large against the rollouts' noise: fatigue that lasts (half-life 10
days, as ``market=long_run``), a steeper fatigue effect on the hazard (0.5) and the hazard multiplied
by two (five where the planner goes on deciding, which keeps its own later sends few). Harsher still
(hazard x5 from fatigue 4, 3,167 shoppers) the planner over-charges by about 16% (-26.0 against
-22.4 +- 1.2): the extra churn is then no longer small, and its first-order charge counts shoppers
twice who would have left anyway.
"""

from __future__ import annotations

import numpy as np
import pytest

from policies.base import DecisionContext
from policies.planner import MAX_SERIES_TERMS, Planner, exp_series, series_terms
from policies.registry import make_policy
from sim import MarketModel
from sim.catalogue import encode
from sim.config import MarketConfig, NetworkConfig, PopulationConfig, ResponseParams
from tests.conftest import small_config

LASTING = dict(fatigue_half_life=10.0, buy_base=0.5, unsubscribe_fatigue=0.8)
"""response constants of ``configs/market/long_run.yaml``"""


def independent_market(size: int, horizon: int, churn_fatigue: float) -> MarketConfig:
    """A tiny market whose shoppers do not influence one another (no social proof) and nobody joins later."""
    return MarketConfig(population=PopulationConfig(size=size, arrivals_per_day=0.0), horizon_days=horizon,
                        network=NetworkConfig(social_weight=0.0), response=ResponseParams(churn_fatigue=churn_fatigue, **LASTING))


def planned(market: MarketModel, planner: Planner) -> np.ndarray:
    """(n_rows,) the planner's actions today."""
    rows = np.flatnonzero(market.present)
    decision = planner.act(market.observe(rows), market.action_mask().subset(rows), DecisionContext(market.day, 0, None, rows))
    out = np.zeros(market.n_rows, dtype=np.int64)
    out[rows] = decision.actions
    return out


def myopic_best(planner: Planner, market: MarketModel) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows sent to, the (n_rows,) action sending each their best myopic arm, its score and its EIP: the message
    whose later cost the myopic oracle ignores."""
    rows = np.flatnonzero(market.present)
    ok = market.action_mask().subset(rows).channel_ok
    eip = np.where(ok[:, None, :], planner.expected_incremental_profit(rows), -np.inf).reshape(rows.size, -1)
    score = planner.scores(rows, ok).reshape(rows.size, -1)
    flat = eip.argmax(axis=1)
    sent = np.isfinite(eip.max(axis=1))
    offer, channel = np.divmod(flat[sent], ok.shape[1])
    action = np.zeros(market.n_rows, dtype=np.int64)
    action[rows[sent]] = encode(offer, channel, market.latent().active_slot[rows[sent]])
    return rows[sent], action, score[sent, flat[sent]], eip[sent, flat[sent]]


def assert_matches_rollouts(differences: list[np.ndarray], scores: list[np.ndarray], myopic: list[np.ndarray]) -> None:
    diff, score, eip = (np.concatenate(x) for x in (differences, scores, myopic))
    def standard_error(x: np.ndarray) -> float:
        return float(x.std(ddof=1) / np.sqrt(x.size))
    miss, se = float((diff - score).mean()), standard_error(diff - score)
    assert abs(miss) < 3 * se, f"rollouts {diff.mean():+.3f}, planner {score.mean():+.3f}: off by {miss:+.3f}, 3 SE = {3 * se:.3f}"
    myopic_miss, myopic_se = float((diff - eip).mean()), standard_error(diff - eip)
    assert abs(myopic_miss) > 3 * myopic_se, f"the rollouts ({diff.mean():+.3f}) cannot tell the planner from the myopic value {eip.mean():+.3f}"


def test_a_messages_value_matches_rollouts_when_nothing_is_sent_after_it():
    """From a tired start (fatigue 2) and no send in the planner's log (so it expects none later), the rest of the
    horizon without messages: the value is the message's EIP less the churn its fatigue adds."""
    differences, scores, myopic = [], [], []
    for seed in range(4):
        runs = [MarketModel(independent_market(800, 60, churn_fatigue=0.5), seed=seed) for _ in range(2)]
        for m in runs:
            m.latent().churn_hazard[:] *= 2
            m.state.fatigue[:] = 2.0
        treated, untreated = runs
        planner = Planner(treated)
        rows, action, score, eip = myopic_best(planner, treated)
        assert (planner.send_rate(rows) == 0).all()
        gain = np.zeros(treated.n_rows)
        treated.step(action)
        untreated.step(None)
        gain += treated.outcome.profit - untreated.outcome.profit
        while treated.day < treated.config.horizon_days:
            treated.step(None)
            untreated.step(None)
            gain += treated.outcome.profit - untreated.outcome.profit
        differences.append(gain[rows])
        scores.append(score)
        myopic.append(eip)
    assert_matches_rollouts(differences, scores, myopic)


def test_a_messages_value_matches_rollouts_when_the_planner_goes_on_deciding():
    """After four weeks under the planner (its log then holds its own sending rate), the message today and then
    the planner deciding every later day in both runs: the score is the value of the message under the planner."""
    warm_up = 28
    differences, scores, myopic = [], [], []
    for seed in range(3):
        runs = []
        for _ in range(2):
            m = MarketModel(independent_market(400, 90, churn_fatigue=0.5), seed=seed)
            m.latent().churn_hazard[:] *= 5
            runs.append((m, Planner(m)))
            for _ in range(warm_up):
                m.step(planned(m, runs[-1][1]))
        (treated, treated_planner), (untreated, untreated_planner) = runs
        rows, action, score, eip = myopic_best(treated_planner, treated)
        assert treated_planner.send_rate(rows).max() > 0  # its log holds its own sends: it expects some later
        gain = np.zeros(treated.n_rows)
        treated.step(action)
        untreated.step(None)
        gain += treated.outcome.profit - untreated.outcome.profit
        while treated.day < treated.config.horizon_days:
            treated.step(planned(treated, treated_planner))
            untreated.step(planned(untreated, untreated_planner))
            gain += treated.outcome.profit - untreated.outcome.profit
        differences.append(gain[rows])
        scores.append(score)
        myopic.append(eip)
    assert_matches_rollouts(differences, scores, myopic)


@pytest.fixture
def market() -> MarketModel:
    m = MarketModel(small_config(size=300, horizon=40, response=ResponseParams(**LASTING)), seed=2)
    rng = np.random.default_rng(0)
    for _ in range(12):  # some history: fatigue, engagement, views and a contact log that differ between shoppers
        ok = m.action_mask().channel_ok
        m.step(np.where(ok[:, 1] & (rng.random(len(ok)) < 0.4), encode(0, 1, 0), 0))
    return m


def test_on_the_last_day_nothing_comes_later_so_the_score_is_the_eip(market):
    while market.day < market.config.horizon_days - 1:
        market.step(None)
    planner, rows = Planner(market), np.flatnonzero(market.present)
    ok = market.action_mask().subset(rows).channel_ok
    eip = np.where(ok[:, None, :], planner.expected_incremental_profit(rows), -np.inf)
    np.testing.assert_allclose(planner.scores(rows, ok), eip, rtol=1e-6, atol=1e-9)
    # one day of the offer's window is left: its value is a seventh of the oracle's
    np.testing.assert_allclose(planner.offer_values(rows) * 7, super(Planner, planner).offer_values(rows), rtol=1e-6)


def test_with_no_sends_in_its_log_the_charge_is_the_churn_and_grows_with_the_fatigue():
    """Expecting no later sends, the planner's only charge is the churn the message adds: positive for every
    arm, and larger for a more tired shopper (the hazard is convex in the fatigue)."""
    market = MarketModel(small_config(size=300, horizon=40, response=ResponseParams(**LASTING)), seed=2)
    planner, rows = Planner(market), np.flatnonzero(market.present)
    ok = market.action_mask().subset(rows).channel_ok
    allowed = np.broadcast_to(ok[:, None, :], (rows.size, *planner.expected_incremental_profit(rows).shape[1:]))
    charges = []
    for fatigue in (0.0, 1.0, 4.0):
        market.state.fatigue[rows] = fatigue
        charges.append((planner.expected_incremental_profit(rows) - planner.scores(rows, ok))[allowed])
    assert (charges[0] > 0).all() and (charges[1] > charges[0]).all() and (charges[2] > charges[1]).all()


def test_the_planner_sends_its_best_allowed_arm_or_nothing_when_none_pays(market):
    """The act is the oracle's (tests/policies/test_oracle.py checks its arm and slot); here it must follow the planner's
    scores, which hold back messages that pay within their week."""
    planner = make_policy("reference", market)
    assert isinstance(planner, Planner)
    rows = np.flatnonzero(market.present)
    mask = market.action_mask().subset(rows)
    decision = planner.act(market.observe(rows), mask, DecisionContext(market.day, 0, np.random.default_rng(0), rows))
    best = planner.scores(rows, mask.channel_ok).reshape(rows.size, -1).max(axis=1)
    sent = decision.actions > 0
    np.testing.assert_array_equal(sent, best > 0)
    np.testing.assert_array_equal(decision.priority[sent], best[sent])
    assert mask.allows(decision.actions).all() and 0 < sent.sum() < rows.size
    myopic = np.where(mask.channel_ok[:, None, :], planner.expected_incremental_profit(rows), -np.inf).reshape(rows.size, -1).max(axis=1)
    assert sent.sum() < (myopic > 0).sum()  # it holds back messages that pay within their week


def test_the_series_sums_the_exponential_to_its_tolerance():
    rng = np.random.default_rng(1)
    delta, k = 0.93, np.arange(120)
    weights = rng.random((5, k.size))
    x = rng.random((5, 3)) * 2.0
    terms = series_terms(float(x.max()))
    moments = weights @ delta ** (np.arange(1, terms + 1)[None, :] * k[:, None])
    direct = (weights[:, None, :] * np.expm1(x[:, :, None] * delta ** k)).sum(axis=2)
    np.testing.assert_allclose(exp_series(x, moments), direct, rtol=1e-8)
    np.testing.assert_allclose(-exp_series(-x, moments), (weights[:, None, :] * -np.expm1(-x[:, :, None] * delta ** k)).sum(axis=2), rtol=1e-8)
    with pytest.raises(ValueError, match=f"more than {MAX_SERIES_TERMS} series terms"):
        series_terms(200.0)


@pytest.mark.parametrize("key, value, allowed", [("discount", 0.0, r"\(0, 1\]"), ("discount", 1.5, r"\(0, 1\]"),
                                                 ("lookahead_half_lives", 0.0, "> 0"), ("history_days", 31, r"\[1, 30\]")])
def test_bad_settings_fail_naming_them(market, key, value, allowed):
    with pytest.raises(ValueError, match=f"{key}={value!r}: must be .*{allowed}"):
        Planner(market, **{key: value})
