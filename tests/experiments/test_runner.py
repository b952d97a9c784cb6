"""The runner: common random numbers, determinism, guardrails for every policy, the decision log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.metrics import comparison_table, summary_table
from experiments.runner import run_all, run_policy
from policies.attribution import Attribution, Decisions
from policies.base import Decision, DecisionContext, Feedback, Policy
from policies.decision_log import LOG_COLUMNS, audit, log_frame
from policies.registry import LEARNERS, TRAINED, check_params, known_policies, make_policy
from sim import GuardrailConfig
from sim.catalogue import ACTION_CHANNEL, CHANNEL_NAMES, N_ACTIONS, VALIDITY_DAYS, parse_action
from sim.features import FEATURE_NAMES
from sim.guardrails import REFUSALS
from tests.conftest import small_config

CFG = small_config(size=300, horizon=21)
UNTRAINED = [p for p in known_policies() if p not in TRAINED]  # a trained policy (PPO) is tested in tests/policies/test_ppo.py
COMPARED = [p for p in UNTRAINED if p not in LEARNERS] + ["linucb_additive"]  # every kind once; each learner is checked on its own below
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
    """The horizon here is 21 days, so the last 30 days are all of it; the reference is 100% of itself, others a share of it."""
    summary = summary_table(results)
    np.testing.assert_allclose(summary.incremental_profit_last_30d, summary.incremental_profit, rtol=1e-9, atol=1e-6)
    reference = summary[summary.policy == "reference"]
    assert (reference.pct_of_reference_last_30d == 100).all() and (reference.pct_of_reference == 100).all()
    ref = reference.set_index("seed").incremental_profit
    oracle = summary[summary.policy == "oracle"]
    assert np.allclose(oracle.pct_of_reference, 100 * oracle.incremental_profit.to_numpy() / ref.loc[oracle.seed].to_numpy())
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
    trained = run_policy("linucb_additive", 0, CFG, GUARD, save_dir=tmp_path)
    state = tmp_path / "linucb_additive_seed0.npz"
    params = {"alpha": 1.0, "ridge": 1.0, "state": str(state)}
    resumed = run_policy("linucb_additive", 1, CFG, GUARD, params=params)
    fresh = run_policy("linucb_additive", 1, CFG, GUARD)
    assert trained.daily["sends"].sum() > 0
    assert not np.array_equal(resumed.profit_by_row, fresh.profit_by_row)  # it started from what it had learned
    check_params("linucb_additive", params, seeds=[1, 2])
    with pytest.raises(ValueError, match=r"policies.linucb_additive.state=.*learned on seed\(s\) \[0\] of this experiment"):
        check_params("linucb_additive", params, seeds=[0, 1])
    with pytest.raises(ValueError, match=r"policies.linucb_additive.alpha=2.0: the saved state .* was trained with 1.0"):
        check_params("linucb_additive", {**params, "alpha": 2.0})
    run_policy("linucb_additive", 1, CFG, GUARD, params=params, save_dir=tmp_path)
    assert LEARNERS["linucb_additive"].load_state(tmp_path / "linucb_additive_seed1.npz").learned_on == (0, 1)


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


class _Spy(Policy):
    """Wraps a policy: proposes what it proposes, or an SMS to everyone (forbidden for most) when ``ignore_mask``,
    and keeps every feedback row it is given."""

    def __init__(self, inner: Policy, ignore_mask: bool = False):
        self.inner, self.ignore_mask = inner, ignore_mask
        self.learns = True
        self.fed: list[Feedback] = []

    def act(self, obs: np.ndarray, mask, context: DecisionContext) -> Decision:
        if self.ignore_mask:
            sms = int(np.flatnonzero(ACTION_CHANNEL == CHANNEL_NAMES.index("sms"))[0])
            return Decision(np.full(len(obs), sms), np.full(len(obs), 0.5))
        return self.inner.act(obs, mask, context)

    def update(self, feedback: Feedback) -> None:
        self.fed.append(feedback)
        self.inner.update(feedback)


def _executed_by_market(market, days: dict[int, np.ndarray]):
    """Records, after each market step, the actions the market executed (the outcome's ``action``)."""
    step = market.step

    def recording_step(actions=None, priority=None):
        day = market.day
        step(actions, priority)
        days[day] = market.outcome.action.copy()

    market.step = recording_step


@pytest.mark.parametrize(("inner", "guard"), [("random", GuardrailConfig(daily_budget=3.0)), ("linucb_additive", GuardrailConfig(daily_budget=3.0)),
                                              ("forbidden", GuardrailConfig(frequency_cap_7d=1))])
def test_the_log_holds_what_the_market_executed_row_for_row_and_learners_get_exactly_the_log_rows(inner, guard):
    """With a binding daily budget (random, LinUCB) and with a policy that proposes forbidden sends, every logged action is the
    action the market executed for that shopper that day, refused proposals are marked with their reason, and a learner is fed
    exactly the logged rows (action, propensity, reward)."""
    executed: dict[int, np.ndarray] = {}

    def factory(market):
        _executed_by_market(market, executed)
        base = make_policy("random" if inner == "forbidden" else inner, market, None)
        return _Spy(base, ignore_mask=inner == "forbidden")

    spy_box = {}
    result = run_policy(inner, 4, CFG, guard, log_shoppers=-1, factory=lambda m: spy_box.setdefault("spy", factory(m)))
    log = result.decisions
    for day, frame in log.groupby("day"):
        assert np.array_equal(frame["action"].to_numpy(), executed[day][frame["shopper"].to_numpy()])
    refused = log["refusal"] != ""
    assert refused.any() and (log.loc[refused, "action"] == 0).all() and (log.loc[refused, "proposed_action"] > 0).all()
    expected = {"random": {"budget"}, "linucb_additive": {"budget"}, "forbidden": {"consent", "frequency_cap"}}[inner]
    assert set(log.loc[refused, "refusal"]) <= expected | {"consent", "frequency_cap"} and expected & set(log.loc[refused, "refusal"])
    assert (log.loc[refused, "propensity"] == 1.0).all()
    assert audit(log, guard.frequency_cap_7d) == []
    assert int((log["action"] > 0).sum()) == int(result.daily["sends"].sum())  # every shopper is logged: the log's sends are all sends
    if inner == "forbidden":
        assert result.daily["violations"].sum() == int(log["refusal"].isin(["consent", "frequency_cap", "absent"]).sum()) > 0
    else:
        assert result.daily["violations"].sum() == 0 and result.daily["budget_refused"].sum() == int((log["refusal"] == "budget").sum())
    fed = spy_box["spy"].fed
    matured = log[log["matured"]]
    assert sum(len(f.day) for f in fed) == len(matured)
    np.testing.assert_array_equal(np.concatenate([f.actions for f in fed]), matured["action"].to_numpy())
    np.testing.assert_array_equal(np.concatenate([f.propensity for f in fed]), matured["propensity"].to_numpy())
    np.testing.assert_array_equal(np.concatenate([f.reward for f in fed]), matured["reward"].to_numpy())


def test_the_logged_propensity_is_the_policys_own_where_the_proposal_ran():
    """Uniform random over the allowed actions: each logged row that ran has propensity 1/|allowed|."""
    result = run_policy("random", 2, CFG, GUARD, log_shoppers=40)
    log = result.decisions
    consents = log[[f"consent_{h}" for h in CHANNEL_NAMES]].to_numpy()
    allowed_channels = consents.sum(axis=1) * (log["contacts_7d"].to_numpy() < GUARD.frequency_cap_7d)
    n_allowed = 1 + allowed_channels * (N_ACTIONS - 1) // len(CHANNEL_NAMES)
    np.testing.assert_allclose(log["propensity"].to_numpy(), 1.0 / n_allowed, rtol=1e-6)  # the policy computes in float32
    assert (log["refusal"] == "").all() and (log["proposed_action"] == log["action"]).all()


def test_attribution_releases_a_decision_with_its_window_profit_only_when_mature():
    queue = Attribution(window=3)
    rows, none = np.array([0, 2]), np.zeros(2, dtype=np.int8)

    def day(t, actions):
        return Decisions.executed(t, rows, np.zeros((2, len(FEATURE_NAMES))), actions, np.ones(2), actions, none, np.zeros(2, dtype=bool))

    queue.add(0, day(0, np.array([5, 0])))
    for t, profit in enumerate([np.array([1.0, 10, 100]), np.array([2.0, 20, 200])]):
        queue.credit(t, profit)
        assert queue.matured(t) is None
    queue.add(2, day(2, np.array([0, 0])))
    queue.credit(2, np.array([4.0, 40, 400]))
    done = queue.matured(2)
    assert list(done.reward) == [7.0, 700.0] and list(done.action) == [5, 0] and done.matured.all()
    queue.credit(3, np.array([8.0, 80, 800]))  # credits only the day-2 decisions now
    rest = queue.unmatured()
    assert list(rest.reward) == [12.0, 1200.0] and not rest.matured.any() and queue.matured(9) is None


EMAIL, SMS = parse_action("free_shipping / email / morning"), parse_action("25% kids / sms / evening")


def _hand_log() -> pd.DataFrame:
    """Four decisions of day 3: an e-mail that ran, an e-mail refused for the budget, no contact, an SMS that ran; every
    shopper consents to e-mail and SMS and was contacted twice in the last 7 days."""
    obs = np.zeros((4, len(FEATURE_NAMES)), dtype=np.float32)
    obs[:, FEATURE_NAMES.index("consent_email")] = obs[:, FEATURE_NAMES.index("consent_sms")] = 1
    obs[:, FEATURE_NAMES.index("contacts_7d")] = 2
    obs[:, FEATURE_NAMES.index("recency")] = [5, 6, 7, 8]
    proposed, executed = np.array([EMAIL, EMAIL, 0, SMS]), np.array([EMAIL, 0, 0, SMS])
    decisions = Decisions.executed(3, np.array([10, 11, 12, 13]), obs, proposed, np.array([0.25, 0.5, 0.9, 0.125]), executed,
                                   np.array([0, REFUSALS.index("budget"), 0, 0], dtype=np.int8), np.array([True, False, False, False]))
    decisions.reward[:] = [1.5, -0.5, 0.0, 2.0]
    decisions.matured[:] = [True, True, False, True]
    return log_frame("random", 7, decisions)


def test_a_log_frame_holds_each_decision_with_the_propensity_of_what_ran():
    log = _hand_log()
    assert list(log.columns) == list(LOG_COLUMNS)
    assert (log["policy"] == "random").all() and (log["seed"] == 7).all() and (log["day"] == 3).all()
    assert list(log["shopper"]) == [10, 11, 12, 13] and list(log["recency"]) == [5, 6, 7, 8]
    assert list(log["action"]) == [EMAIL, 0, 0, SMS] and list(log["proposed_action"]) == [EMAIL, EMAIL, 0, SMS]
    assert list(log["propensity"]) == [0.25, 1.0, 0.9, 0.125]  # the refused e-mail ran as the guardrails' forced no contact
    assert list(log["proposed_propensity"]) == [0.25, 0.5, 0.9, 0.125]
    assert list(log["refusal"]) == ["", "budget", "", ""]
    assert list(log["reward"]) == [1.5, -0.5, 0.0, 2.0] and list(log["matured"]) == [True, True, False, True]
    assert audit(log, frequency_cap_7d=3) == []


def _broken(column: str, row: int, value) -> pd.DataFrame:
    log = _hand_log()
    log[column] = log[column].astype(object if isinstance(value, str) else np.result_type(log[column].dtype, type(value)))
    log.loc[row, column] = value
    return log


@pytest.mark.parametrize(("column", "row", "value", "problem"), [
    ("consent_email", 0, 0.0, "1 sends on a channel without consent"),
    ("consent_sms", 3, 0.0, "1 sends on a channel without consent"),  # the send's own channel is checked
    ("contacts_7d", 0, 3.0, "sends to shoppers at the frequency cap of 3"),
    ("contacts_7d", 3, 4.0, "sends to shoppers at the frequency cap of 3"),
    ("action", 1, EMAIL, "refused proposals not logged as no contact with propensity 1"),
    ("propensity", 1, 0.5, "refused proposals not logged as no contact with propensity 1"),
    ("proposed_action", 0, SMS, "proposals that ran differ from the logged action or propensity"),
    ("proposed_propensity", 3, 0.25, "proposals that ran differ from the logged action or propensity"),
    ("refusal", 1, "weather", "refusal: unknown reasons ['weather']; known: ['absent', 'consent', 'frequency_cap', 'budget']"),
])
def test_audit_names_each_problem_a_log_can_show(column, row, value, problem):
    assert audit(_broken(column, row, value), frequency_cap_7d=3) == [problem]


def test_audit_checks_consent_and_the_cap_on_sends_only_and_the_cap_is_reached_at_its_value():
    for column, row, value in (("consent_email", 1, 0.0), ("consent_sms", 0, 0.0), ("contacts_7d", 2, 9.0), ("contacts_7d", 0, 2.0)):
        assert audit(_broken(column, row, value), frequency_cap_7d=3) == [], (column, row, value)
    two = _broken("consent_email", 0, 0.0)
    two.loc[3, "consent_sms"] = 0.0
    assert audit(two, frequency_cap_7d=3) == ["2 sends on a channel without consent"]


@pytest.mark.parametrize("p", [0.0, -0.25, 1.5])
def test_audit_refuses_a_propensity_outside_0_1(p):
    log = _hand_log()
    log.loc[2, ["propensity", "proposed_propensity"]] = p  # a no contact that ran: only the range is wrong
    assert audit(log, frequency_cap_7d=3) == ["propensities outside (0, 1]"]
    log.loc[2, ["propensity", "proposed_propensity"]] = 1.0
    assert audit(log, frequency_cap_7d=3) == []


@pytest.mark.parametrize(("actions", "problem"), [
    ([EMAIL, 0, 0.5, SMS], "action: integers expected, got float64"),
    ([EMAIL, 0, N_ACTIONS, SMS], f"action: values outside [0, {N_ACTIONS - 1}]"),
    ([EMAIL, 0, -1, SMS], f"action: values outside [0, {N_ACTIONS - 1}]"),
])
def test_audit_stops_at_actions_that_are_not_actions(actions, problem):
    log = _hand_log()
    log["action"] = np.array(actions)
    log.loc[2, "propensity"] = 7.0  # not reported: nothing else is checked on such a log
    assert audit(log, frequency_cap_7d=3) == [problem]
    log["action"] = np.array([EMAIL, 0, N_ACTIONS - 1, SMS])
    log.loc[2, ["proposed_action"]] = N_ACTIONS - 1
    log.loc[2, ["propensity", "proposed_propensity"]] = 0.5
    log.loc[2, [f"consent_{h}" for h in CHANNEL_NAMES]] = 1.0
    assert audit(log, frequency_cap_7d=3) == []  # the last action is an action


def test_audit_lists_every_problem_of_a_log():
    log = _broken("consent_email", 0, 0.0)
    log.loc[1, "propensity"] = 0.5
    log.loc[3, "proposed_propensity"] = 0.5
    log.loc[2, ["propensity", "proposed_propensity"]] = 0.0
    assert audit(log, frequency_cap_7d=1) == [
        "1 sends on a channel without consent", "sends to shoppers at the frequency cap of 1",
        "refused proposals not logged as no contact with propensity 1", "proposals that ran differ from the logged action or propensity",
        "propensities outside (0, 1]",
    ]


def _two_decisions(rows=(3, 1)) -> Decisions:
    """An e-mail that ran (drawn with probability 0.2, opened) and an SMS refused for the budget (drawn with 0.4)."""
    obs = np.arange(2 * len(FEATURE_NAMES), dtype=np.float32).reshape(2, -1)
    return Decisions.executed(5, np.array(rows), obs, np.array([EMAIL, SMS]), np.array([0.2, 0.4]), np.array([EMAIL, 0]),
                              np.array([0, REFUSALS.index("budget")], dtype=np.int8), np.array([True, False]))


def test_a_learner_is_fed_what_ran_with_its_propensity_and_no_reward_before_it_matures():
    d = _two_decisions()
    assert list(d.day) == [5, 5] and list(d.reward) == [0.0, 0.0] and not d.matured.any() and len(d) == 2
    d.reward[:] = [2.0, -1.0]
    fed = d.feedback()
    assert list(fed.day) == [5, 5] and list(fed.actions) == [EMAIL, 0] and list(fed.propensity) == [0.2, 1.0]
    assert list(fed.reward) == [2.0, -1.0] and list(fed.opened) == [True, False] and np.array_equal(fed.obs, d.obs)
    pending = d.feedback(with_reward=False)
    assert np.isnan(pending.reward).all() and list(pending.actions) == [EMAIL, 0] and list(pending.propensity) == [0.2, 1.0]
    assert list(d.reward) == [2.0, -1.0]  # the held rewards are untouched


def test_a_subset_and_a_concatenation_keep_every_column_of_a_row_together():
    d = _two_decisions()
    d.reward[:] = [2.0, -1.0]
    for keep in (np.array([False, True]), np.array([1])):
        one = d.subset(keep)
        assert (list(one.rows), list(one.action), list(one.proposed), list(one.propensity), list(one.proposed_propensity)) == ([1], [0], [SMS], [1.0], [0.4])
        assert (list(one.refusal), list(one.opened), list(one.reward), list(one.day)) == ([REFUSALS.index("budget")], [False], [-1.0], [5])
        assert np.array_equal(one.obs, d.obs[1:])
    both = Decisions.concat([d.subset(np.array([1, 0])), d])
    assert list(both.rows) == [1, 3, 3, 1] and list(both.action) == [0, EMAIL, EMAIL, 0] and list(both.reward) == [-1.0, 2.0, 2.0, -1.0]
    assert np.array_equal(both.obs, d.obs[[1, 0, 0, 1]])


def test_attribution_holds_only_the_tracked_shoppers_and_a_one_day_window_matures_the_same_day():
    queue = Attribution(window=1, track=np.array([3, 0]))
    queue.add(0, _two_decisions(rows=(3, 1)))
    assert queue.matured(-1) is None
    queue.credit(0, np.array([1.0, 10.0, 100.0, 1000.0]))
    done = queue.matured(0)
    assert list(done.rows) == [3] and list(done.reward) == [1000.0] and done.matured.all()
    assert queue.matured(5) is None and queue.unmatured() is None
    everyone = Attribution(window=2)
    everyone.add(0, _two_decisions(rows=(3, 1)))
    everyone.credit(0, np.array([1.0, 10.0, 100.0, 1000.0]))
    assert everyone.matured(0) is None and list(everyone.unmatured().reward) == [1000.0, 10.0]
    assert everyone.unmatured() is None  # what was handed over is no longer held


@pytest.mark.parametrize("window", [0, -3])
def test_an_attribution_window_shorter_than_a_day_is_refused_naming_it(window):
    with pytest.raises(ValueError, match=rf"^window={window}: must be >= 1 day$"):
        Attribution(window=window)


def test_a_decision_earns_the_profit_of_its_window_days_only_whenever_it_is_asked_for():
    """r = sum of the profit of days t .. t + W - 1: a day after the window adds nothing, even before the decision is released."""
    queue = Attribution(window=2)
    queue.add(4, _two_decisions(rows=(3, 1)))
    for day in (3, 4, 5, 6):
        queue.credit(day, np.full(4, 10.0**day))
    assert list(queue.matured(6).reward) == [10.0**4 + 10.0**5] * 2


def test_audit_checks_the_first_send_action_too():
    first = 1  # info / email / morning, the send with the lowest action number
    assert ACTION_CHANNEL[first] == CHANNEL_NAMES.index("email")
    log = _hand_log()
    log.loc[0, ["action", "proposed_action", "consent_email"]] = [first, first, 0.0]
    assert audit(log, frequency_cap_7d=3) == ["1 sends on a channel without consent"]
