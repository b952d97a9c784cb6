"""The runner: common random numbers, determinism, guardrails for every policy, the decision log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.metrics import comparison_table, summary_table
from experiments.runner import run_all, run_policy
from policies.base import Decision, DecisionContext, Feedback, Policy
from policies.registry import LEARNERS, TRAINED, check_params, known_policies
from sim import GuardrailConfig
from sim.catalogue import VALIDITY_DAYS
from sim.features import FEATURE_NAMES
from tests.conftest import small_config

CFG = small_config(size=300, horizon=21)
UNTRAINED = [p for p in known_policies() if p not in TRAINED]  # a trained policy (PPO) is tested in tests/policies/test_ppo.py
COMPARED = [p for p in UNTRAINED if p not in LEARNERS] + ["linucb"]  # every kind once; each learner is checked on its own below
GUARD = GuardrailConfig()


@pytest.fixture(scope="module")
def results():
    return run_all(COMPARED, [0, 1, 2], CFG, GUARD, log_shoppers=50)


def test_holdout_has_zero_incremental_profit_and_every_policy_zero_violations(results):
    summary = summary_table(results)
    assert (summary[summary.policy == "no_contact"].incremental_profit == 0).all()
    assert (summary.violations == 0).all()
    assert set(summary.policy) == set(COMPARED)


def test_the_last_30_days_are_the_tail_of_the_daily_incremental_profit(results):
    """The horizon here is 21 days, so the last 30 days are all of it; the oracle is 100% of itself."""
    summary = summary_table(results)
    np.testing.assert_allclose(summary.incremental_profit_last_30d, summary.incremental_profit, rtol=1e-9, atol=1e-6)
    oracle = summary[summary.policy == "oracle"]
    assert (oracle.pct_of_oracle_last_30d == 100).all() and (oracle.pct_of_oracle == 100).all()
    longer = run_all(["no_contact", "blast"], [0], small_config(size=300, horizon=40), GUARD)
    late = summary_table(longer).set_index("policy").loc["blast"]
    gain = longer[1].daily["profit"].to_numpy() - longer[0].daily["profit"].to_numpy()
    assert late.incremental_profit_last_30d == pytest.approx(gain[-30:].sum())


@pytest.mark.parametrize("policy", UNTRAINED)
def test_no_policy_sends_without_consent_or_over_the_cap(policy):
    guard = GuardrailConfig(frequency_cap_7d=2)
    result = run_policy(policy, 5, CFG, guard)
    assert result.daily["violations"].sum() == 0
    weekly = result.daily["sends"].rolling(7).sum().max()
    assert np.isnan(weekly) or weekly <= 2 * result.shoppers


def test_same_config_and_seed_give_identical_results():
    a = run_policy("rules_rfm", 3, CFG, GUARD, log_shoppers=30)
    b = run_policy("rules_rfm", 3, CFG, GUARD, log_shoppers=30)
    pd.testing.assert_frame_equal(a.daily, b.daily)
    pd.testing.assert_frame_equal(a.decisions, b.decisions)
    assert np.array_equal(a.profit_by_row, b.profit_by_row)


def test_parallel_runs_match_sequential_runs():
    policies, seeds = ["no_contact", "random", "oracle"], [0, 1]
    seq = summary_table(run_all(policies, seeds, CFG, GUARD, jobs=1)).drop(columns="decide_seconds")
    par = summary_table(run_all(policies, seeds, CFG, GUARD, jobs=2)).drop(columns="decide_seconds")
    pd.testing.assert_frame_equal(seq, par)


def test_decision_log_has_features_propensities_and_matured_rewards(results):
    log = next(r for r in results if r.policy == "random" and r.seed == 0).decisions
    assert {"policy", "seed", "day", "shopper", "action", "propensity", "reward", "matured", *FEATURE_NAMES} <= set(log.columns)
    assert log.shopper.nunique() <= 50 and (log.propensity > 0).all() and (log.propensity <= 1).all()
    assert (log.matured == (log.day + VALIDITY_DAYS <= CFG.horizon_days)).all()
    # The same shoppers are logged under every policy of a seed.
    other = next(r for r in results if r.policy == "blast" and r.seed == 0).decisions
    assert set(other.shopper) == set(log.shopper)


def test_decision_log_reward_is_the_profit_over_the_window():
    result = run_policy("random", 0, CFG, GUARD, log_shoppers=-1)
    log = result.decisions
    # Horizon 21 = three 7-day windows: for a shopper decided on every day, the rewards of the
    # decisions on days 0, 7 and 14 add up to everything the shopper earned.
    every_day = log.groupby("shopper").day.count() == CFG.horizon_days
    shoppers = every_day[every_day].index.to_numpy()
    assert shoppers.size > 100
    windows = log[log.shopper.isin(shoppers) & log.day.isin([0, 7, 14])].groupby("shopper").reward.sum()
    np.testing.assert_allclose(windows.loc[shoppers].to_numpy(), result.profit_by_row[shoppers], rtol=1e-6, atol=1e-3)


def test_comparison_orders_oracle_above_rules_above_random_on_this_market(results):
    comparison = comparison_table(summary_table(results)).set_index("policy")
    inc = comparison["incremental_profit_mean"]
    assert inc["oracle"] > inc.filter(like="rules_").max()
    assert inc["random"] < inc.filter(like="rules_").min()
    assert comparison.loc["rules_rfm", "best_rule"] in inc.index


def test_a_saved_learner_resumes_on_new_seeds_and_is_refused_on_the_seed_it_learned_on(tmp_path):
    trained = run_policy("linucb", 0, CFG, GUARD, save_dir=tmp_path)
    state = tmp_path / "linucb_seed0.npz"
    params = {"alpha": 1.0, "ridge": 1.0, "state": str(state)}
    resumed = run_policy("linucb", 1, CFG, GUARD, params=params)
    fresh = run_policy("linucb", 1, CFG, GUARD)
    assert trained.daily["sends"].sum() > 0
    assert not np.array_equal(resumed.profit_by_row, fresh.profit_by_row)  # it started from what it had learned
    check_params("linucb", params, seeds=[1, 2])
    with pytest.raises(ValueError, match=r"policies.linucb.state=.*learned on seed\(s\) \[0\] of this experiment"):
        check_params("linucb", params, seeds=[0, 1])
    with pytest.raises(ValueError, match=r"policies.linucb.alpha=2.0: the saved state .* was trained with 1.0"):
        check_params("linucb", {**params, "alpha": 2.0})
    run_policy("linucb", 1, CFG, GUARD, params=params, save_dir=tmp_path)
    assert LEARNERS["linucb"].load_state(tmp_path / "linucb_seed1.npz").learned_on == (0, 1)


class _Recorder(Policy):
    """Sends an e-mail to every shopper it may and records what the runner tells it."""

    learns = True

    def __init__(self):
        self.days: list[tuple[str, int]] = []
        self.pending_rows: dict[int, np.ndarray] = {}

    def act(self, obs: np.ndarray, mask, context: DecisionContext) -> Decision:
        return Decision(np.where(mask.channel_ok[:, 0], 1, 0), np.ones(len(obs)), priority=obs[:, 0])

    def pending(self, decisions: Feedback) -> None:
        assert np.isnan(decisions.reward).all() and decisions.opened is not None
        day = int(decisions.day[0])
        self.days.append(("pending", day))
        self.pending_rows[day] = decisions.actions

    def update(self, feedback: Feedback) -> None:
        day = int(feedback.day[0])
        self.days.append(("update", day))
        assert np.array_equal(feedback.actions, self.pending_rows[day])


def test_a_learner_hears_of_the_delivered_decisions_the_day_they_are_made_and_of_their_rewards_when_they_mature():
    recorder = _Recorder()
    budget = GuardrailConfig(daily_budget=0.5)  # at 0.01 per e-mail, 50 a day: the delivered decisions are not the proposed ones
    run_policy("recorder", 0, CFG, budget, factory=lambda market: recorder)
    assert [d for kind, d in recorder.days if kind == "pending"] == list(range(CFG.horizon_days))
    assert [d for kind, d in recorder.days if kind == "update"] == list(range(CFG.horizon_days - VALIDITY_DAYS + 1))
    assert all(recorder.days.index(("pending", d)) < recorder.days.index(("update", d)) for d in range(CFG.horizon_days - VALIDITY_DAYS + 1))
    assert all((a > 0).sum() <= 50 for a in recorder.pending_rows.values())
