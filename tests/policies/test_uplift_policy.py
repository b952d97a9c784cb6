"""uplift_<model>: the pilot's exact propensities, the targeting rule, a deterministic held-out fit, the model's manifest,
and the policy in a comparison, paying for its own pilot."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from experiments import compare
from experiments.runner import run_policy
from experiments.train_uplift import pilot_rows, train
from policies.base import DecisionContext, MarketDay
from policies.registry import TRAINED, UPLIFT_MODELS, make_policy
from policies.uplift.arms import Arms
from policies.uplift.config import UpliftConfig
from policies.uplift.pilot import PilotPolicy
from policies.uplift.policy import UpliftPolicy
from policies.uplift.training import MANIFEST_FILE, fit_model, load_model
from sim.catalogue import ACTION_CHANNEL, CHANNEL_NAMES, N_ACTIONS, parse_action
from sim.config import ConfigError, GuardrailConfig
from sim.features import FEATURE_NAMES
from sim.guardrails import ActionMask
from sim.market import MarketModel
from tests.conftest import small_config
from tests.experiments.test_sweep import TIMINGS, composed
from uplift.models import MODELS

GUARD = GuardrailConfig()
ARMS = ["info / email / morning", "10% {top_category} / best_opened / evening", "bogo / sms / midday"]
FAST = {"max_iter": 15, "min_samples_leaf": 20}
"""boosting small enough for a test's few thousand rows"""


def market_day(size: int = 300, seed: int = 0) -> MarketDay:
    """Day 0 of a small market: real observations, the mask, the day's context."""
    return MarketDay.of(MarketModel(small_config(size=size), GUARD, seed=seed))


def test_the_family_has_one_policy_per_learner():
    assert set(UPLIFT_MODELS) == set(MODELS)
    assert all(TRAINED[f"uplift_{m}"] is UpliftConfig for m in MODELS)


def test_arms_resolve_per_shopper_and_refuse_names_that_are_no_action():
    day = market_day()
    arms = Arms(ARMS)
    actions = arms.actions(day.obs, day.mask)
    assert actions.shape == (len(day.obs), 3)
    sent = actions > 0
    assert day.mask.allows(actions[:, 0]).all() and day.mask.allows(actions[:, 1]).all() and day.mask.allows(actions[:, 2]).all()
    assert (actions[sent[:, 0], 0] == parse_action("info / email / morning")).all()
    assert (sent[:, 0] == day.mask.channel_ok[:, CHANNEL_NAMES.index("email")]).all()
    assert (arms.arm_of_action[actions[sent]] == np.nonzero(sent)[1] + 1).all()  # every sent action names its arm
    with pytest.raises(ValueError, match=r"arms\[1\]='info / email': not an action"):
        Arms(["bogo / sms / midday", "info / email"])
    with pytest.raises(ValueError, match=r"arms\[0\]\.channel='fax': unknown; allowed: email"):
        Arms(["info / fax / morning"])
    with pytest.raises(ValueError, match=r"arms\[1\]='info / best_opened / morning': sends 'info / email / morning' .* as does arms\[0\]"):
        Arms(["info / email / morning", "info / best_opened / morning"])


def test_the_pilots_propensities_are_its_probabilities_and_its_draws_match_them():
    day = market_day()
    # four kinds of shopper: every channel, e-mail only, sms only, none; each repeated 40,000 times in one batch
    kinds = np.array([[True] * 5, [c == "email" for c in CHANNEL_NAMES], [c == "sms" for c in CHANNEL_NAMES], [False] * 5])
    has_top = np.flatnonzero(Arms(ARMS).actions(day.obs, ActionMask(np.ones_like(day.mask.channel_ok)))[:, 1] > 0)[0]
    reps = 40_000
    obs = np.repeat(day.obs[[has_top] * 4], reps, axis=0)
    mask = ActionMask(np.repeat(kinds, reps, axis=0))
    pilot = PilotPolicy(Arms(ARMS), control_share=0.3)
    context = DecisionContext(day=0, weekday=0, rng=np.random.default_rng(7), rows=np.arange(len(obs)))
    decision = pilot.act(obs, mask, context)
    probs = pilot.probabilities(obs, mask)
    rows = np.arange(len(obs))
    assert np.allclose(probs.sum(axis=1), 1.0) and not (probs[~mask.dense()] > 0).any()
    assert (decision.propensity == probs[rows, decision.actions]).all()  # exactly: the same arithmetic
    assert mask.allows(decision.actions).all()
    for kind, arms_sendable in enumerate([3, 2, 2, 0]):  # all three; info and the discount on e-mail; the discount and bogo on sms
        block = slice(kind * reps, (kind + 1) * reps)
        p = probs[kind * reps]
        support = np.flatnonzero(p > 0)
        assert len(support) == 1 + arms_sendable
        assert p[0] == (0.3 if arms_sendable else 1.0) and (p[support[1:]] == 0.7 / max(arms_sendable, 1)).all()
        counts = np.bincount(decision.actions[block], minlength=N_ACTIONS)
        assert counts[p == 0].sum() == 0
        if arms_sendable:
            assert stats.chisquare(counts[support], p[support] * reps).pvalue > 1e-3
    assert abs((decision.actions[: 3 * reps] == 0).mean() - 0.3) < 0.005  # the holdout share among those with an arm


class StubModel:
    """A model of known predictions, each row's its own: ``obs @ weights - shift``."""

    def __init__(self, weights: np.ndarray, shift: float):
        self.weights, self.shift = weights, shift

    def predict(self, obs: np.ndarray) -> np.ndarray:
        return obs.astype(np.float64) @ self.weights - self.shift


def test_the_deployed_policy_sends_the_best_allowed_arm_only_when_its_predicted_gain_is_positive():
    day = market_day()
    arms = Arms(ARMS)
    n = len(day.obs)
    model = StubModel(np.random.default_rng(3).normal(0.0, 1.0, (day.obs.shape[1], 3)), shift=1.0)
    gains = model.predict(day.obs)
    policy = UpliftPolicy(model, arms, pilot_days=2, control_share=0.5)
    after = dataclasses.replace(day.context, day=2)
    decision = policy.act(day.obs, day.mask, after)
    actions = arms.actions(day.obs, day.mask)
    masked = np.where(actions > 0, gains, -np.inf)
    best = masked.argmax(axis=1)
    top = masked[np.arange(n), best]
    expected = np.where(top > 0, actions[np.arange(n), best], 0)
    assert (decision.actions == expected).all()
    assert (decision.propensity == 1).all() and day.mask.allows(decision.actions).all()
    assert np.array_equal(decision.priority, np.where(top > 0, top, 0.0))
    assert (decision.actions > 0).any() and ((top <= 0) & np.isfinite(top)).any() and np.isinf(top).any()  # sends, losers, no arm
    # a shopper whose best arm is forbidden gets the best allowed one
    forbidden = ActionMask(day.mask.channel_ok.copy())
    forbidden.channel_ok[:, CHANNEL_NAMES.index("sms")] = False
    assert not (ACTION_CHANNEL[policy.act(day.obs, forbidden, after).actions] == CHANNEL_NAMES.index("sms")).any()
    # during the pilot it is the pilot, draw for draw
    during = dataclasses.replace(day.context, day=1, rng=np.random.default_rng(5))
    pilot = PilotPolicy(arms, 0.5).act(day.obs, day.mask, dataclasses.replace(day.context, rng=np.random.default_rng(5)))
    deployed = policy.act(day.obs, day.mask, during)
    assert (deployed.actions == pilot.actions).all() and (deployed.propensity == pilot.propensity).all()
    probs = policy.action_probabilities(day.obs, day.mask, after)
    assert (probs[np.arange(n), expected] == 1).all()


def tiny_config(**overrides) -> UpliftConfig:
    return UpliftConfig(**{"arms": ARMS, "pilot_days": 6, "train_seeds": [50, 51], "train_shoppers": 300, "boosting": FAST, **overrides})


def test_fitting_is_deterministic_and_the_manifest_guards_the_arms(tmp_path):
    config = tiny_config()
    first = train("uplift_x", config, small_config(), GUARD, tmp_path / "a")
    second = train("uplift_x", config, small_config(), GUARD, tmp_path / "b")
    obs = market_day(seed=9).obs
    assert np.array_equal(load_model(first, ARMS, "x").predict(obs), load_model(second, ARMS, "x").predict(obs))
    manifest = json.loads((tmp_path / "a" / MANIFEST_FILE).read_text())
    rows = pilot_rows("uplift_x", config, small_config(), GUARD)
    assert manifest["rows"] == len(rows) and sum(manifest["rows_per_arm"].values()) == len(rows)
    assert manifest["rows_per_arm"]["holdout"] == int((rows.treatment == 0).sum())
    assert rows.x.shape[1] == len(FEATURE_NAMES)
    with pytest.raises(ValueError, match=r"arms=\[.*\]: the model at .* was fitted on arms"):
        load_model(first, ARMS[:2], "x")
    with pytest.raises(ValueError, match=r"model_path=.*holds a 'x' learner; allowed: a model of learner 't'"):
        load_model(first, ARMS, "t")
    with pytest.raises(ValueError, match=r"policies\.uplift_t\.model_path=.*holds a 'x' learner"):
        make_policy("uplift_t", None, {"arms": ARMS, "model_path": str(first)})
    policy = make_policy("uplift_x", None, {"arms": ARMS, "model_path": str(first)})
    assert isinstance(policy, UpliftPolicy) and policy.pilot_days == 14


def test_training_rows_are_the_randomised_matured_pilot_decisions():
    config = tiny_config(train_seeds=[50])
    run = run_policy("pilot", 50, small_config(size=300, horizon=config.pilot_days + 6), GUARD, log_shoppers=-1,
                     factory=lambda _m: PilotPolicy(config.parsed_arms, config.control_share))
    log = run.decisions
    rows = pilot_rows("uplift_t", config, small_config(), GUARD)
    randomised = log[log.matured & (log.propensity < 1)]
    assert len(rows) == len(randomised) and set(log.day[log.matured]) == set(range(config.pilot_days))
    assert np.array_equal(rows.profit, randomised.reward.to_numpy())
    assert np.array_equal(rows.treatment, config.parsed_arms.arm_of_action[randomised.action.to_numpy()])
    capped = pilot_rows("uplift_t", dataclasses.replace(config, fit_rows=500), small_config(), GUARD)
    assert len(capped) == 500 and np.isin(capped.profit, rows.profit).all()


def test_bad_settings_and_training_on_the_comparisons_seeds_are_refused():
    with pytest.raises(ConfigError, match=r"policies\.uplift_t\.train_seeds=\[3000, 1\]: the training pilots would run on the experiment seed\(s\) \[1\]"):
        composed("experiment=compare", "experiment.seeds=[0,1]", "policies.uplift_t.train_seeds=[3000,1]",
                 "experiment.policies=[uplift_t]")
    with pytest.raises(ConfigError, match=r"policies\.uplift_x\.boosting\.max_iter=0; allowed: >= 1"):
        composed("policies.uplift_x.boosting.max_iter=0")
    with pytest.raises(ConfigError, match=r"policies\.uplift_x\.control_share=0: must be in \(0\.0, 0\.99\]"):
        composed("policies.uplift_x.control_share=0")
    config = tiny_config(arms=["info / email / morning", "bogo / sms / midday"], train_seeds=[50])
    rows = pilot_rows("uplift_t", config, small_config(), GUARD)
    rows.treatment[rows.treatment == 2] = 0  # as if no training shopper could receive the sms arm
    with pytest.raises(ValueError, match=r"arms\[1\]='bogo / sms / midday': no matured pilot decision on the training pilots"):
        fit_model("t", config, rows)


def test_a_comparison_fits_once_and_the_policy_pays_for_its_own_pilot(tmp_path):
    overrides = ["experiment=compare", "market.population.size=300", "market.horizon_days=20", "experiment.seeds=[0,1]",
                 "experiment.policies=[no_contact,uplift_t]", "experiment.jobs=1", "experiment.log_shoppers=100",
                 f"policies.uplift_t.arms={json.dumps(ARMS)}", "policies.uplift_t.pilot_days=6", "policies.uplift_t.train_shoppers=300",
                 "policies.uplift_t.boosting.max_iter=15", "policies.uplift_t.boosting.min_samples_leaf=20"]
    cfg = composed(*overrides)[0]
    compare.compare(cfg, tmp_path / "run")
    summary = pd.read_parquet(tmp_path / "run" / "summary.parquet")
    assert list(summary.policy) == ["no_contact"] * 2 + ["uplift_t"] * 2 and (summary.train_seconds[summary.policy == "uplift_t"] > 0).all()
    assert (tmp_path / "run" / "uplift_t" / "model.pkl").is_file()
    log = pd.read_parquet(tmp_path / "run" / "decisions.parquet")
    config = UpliftConfig(**cfg.policies["uplift_t"])
    for seed in cfg.experiment.seeds:  # the pilot's draws: the pilot alone on the same market and seed, its first days
        pilot = run_policy("uplift_t", seed, cfg.market, cfg.guardrails, log_shoppers=100,
                           factory=lambda _m: PilotPolicy(config.parsed_arms, config.control_share)).decisions
        columns = ["day", "shopper", "action", "propensity", "proposed_action", "proposed_propensity"]
        ours = log[(log.policy == "uplift_t") & (log.seed == seed) & (log.day < config.pilot_days)][columns]
        theirs = pilot[pilot.day < config.pilot_days][columns]
        pd.testing.assert_frame_equal(*(f.sort_values(["day", "shopper"]).reset_index(drop=True) for f in (ours, theirs)))
        assert (ours.propensity < 1).any() and (ours.action > 0).any()
        after = log[(log.policy == "uplift_t") & (log.seed == seed) & (log.day >= config.pilot_days)]
        assert len(after) and (after.proposed_propensity == 1).all()
    # a saved model is used as it is: no training, the same runs
    reused = composed(*overrides, f"policies.uplift_t.model_path={tmp_path / 'run' / 'uplift_t' / 'model.pkl'}")[0]
    compare.compare(reused, tmp_path / "again")
    assert not (tmp_path / "again" / "uplift_t").exists()
    again = pd.read_parquet(tmp_path / "again" / "summary.parquet")
    pd.testing.assert_frame_equal(summary.drop(columns=TIMINGS), again.drop(columns=TIMINGS))
