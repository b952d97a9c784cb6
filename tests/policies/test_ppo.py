"""PPO: a short training learns, the same seed trains the same policy, a resumed run ends where the straight one
does, masks always hold, the twin baseline is exact, bad hyperparameters fail before any work."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch as th
from hydra import compose, initialize_config_dir
from sb3_contrib import MaskablePPO

from experiments import cli, schema
from experiments.runner import run_policy
from experiments.train_ppo import train
from policies.base import DecisionContext
from policies.ppo.config import PPOConfig
from policies.ppo.inference import PPOPolicy
from policies.ppo.network import FactoredHead
from policies.ppo.reward import TrainingEnv
from policies.registry import check_params, make_policy
from sim.catalogue import N_ACTIONS
from sim.config import ConfigError, GuardrailConfig, NetworkConfig, ResponseParams
from sim.guardrails import ActionMask
from sim.market import MarketModel
from sim.vec_env import MarketVecEnv
from tests.conftest import small_config

GUARD = GuardrailConfig()
TINY_MARKET = small_config(size=100, horizon=12)
TINY = PPOConfig(train_shoppers=100, eval_shoppers=100, total_timesteps=4 * 12 * 112, batch_size=256, n_epochs=2,
                 eval_every=2 * 12 * 112, checkpoint_every=2 * 12 * 112, clone="", deterministic=False)
"""four 12-day rollouts of the 112 rows (100 shoppers and their newcomers), a checkpoint after two; PPO alone, drawing its
actions (tests/policies/test_cloning.py trains from a clone)"""


def parameters(path: Path) -> dict[str, th.Tensor]:
    return MaskablePPO.load(path, device="cpu").policy.state_dict()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    train(TINY, TINY_MARKET, GUARD, out)
    return out


def test_training_writes_models_checkpoints_evaluations_and_tensorboard(tiny_run):
    assert {"best_model.zip", "final_model.zip", "checkpoints", "evaluations.csv", "training.json", "tb"} <= {p.name for p in tiny_run.iterdir()}
    (checkpoint,) = (tiny_run / "checkpoints").iterdir()
    assert {"model.zip", "state.pkl", "best_model.zip"} <= {p.name for p in checkpoint.iterdir()}
    assert list((tiny_run / "tb").rglob("events.out.tfevents.*"))
    assert not list(tiny_run.glob(".*"))  # no evaluation candidate left behind


def test_same_seed_trains_the_same_policy_and_another_seed_does_not(tiny_run, tmp_path):
    train(TINY, TINY_MARKET, GUARD, tmp_path / "again")
    train(dataclasses.replace(TINY, seed=1), TINY_MARKET, GUARD, tmp_path / "other")
    a, b, c = (parameters(p / "final_model.zip") for p in (tiny_run, tmp_path / "again", tmp_path / "other"))
    assert all(th.equal(a[k], b[k]) for k in a)
    assert not all(th.equal(a[k], c[k]) for k in a)


def test_a_resumed_run_reaches_the_parameters_of_the_uninterrupted_one(tiny_run, tmp_path):
    (checkpoint,) = (tiny_run / "checkpoints").iterdir()
    train(dataclasses.replace(TINY, resume_from=str(checkpoint)), TINY_MARKET, GUARD, tmp_path / "resumed")
    straight, resumed = parameters(tiny_run / "final_model.zip"), parameters(tmp_path / "resumed" / "final_model.zip")
    assert all(th.equal(straight[k], resumed[k]) for k in straight)
    assert (tmp_path / "resumed" / "evaluations.csv").read_text() == (tiny_run / "evaluations.csv").read_text()


def test_ppo_never_sends_without_consent_or_over_the_cap(tiny_run):
    guard = GuardrailConfig(frequency_cap_7d=1)
    result = run_policy("ppo", 5, small_config(size=300, horizon=21), guard, params={"model_path": str(tiny_run / "best_model.zip"),
                                                                                                  "deterministic": False})
    assert result.daily["sends"].sum() > 0 and result.daily["violations"].sum() == 0
    weekly = result.daily["sends"].rolling(7).sum().max()
    assert weekly <= result.shoppers


def test_actions_are_allowed_and_propensities_are_their_probabilities(tiny_run):
    policy = PPOPolicy.from_file(tiny_run / "best_model.zip")
    rng = np.random.default_rng(0)
    obs = MarketModel(small_config(size=300), seed=0).observe()
    mask = ActionMask(rng.random((len(obs), 5)) < 0.4)  # many channels forbidden, some shoppers with none
    probs = policy.probabilities(obs, mask)
    assert (probs[~mask.dense()] == 0).all() and np.allclose(probs.sum(axis=1), 1)
    decision = policy.act(obs, mask, DecisionContext(day=0, weekday=0, rng=rng, rows=np.arange(len(obs))))
    assert mask.allows(decision.actions).all()
    assert np.array_equal(decision.propensity, probs[np.arange(len(obs)), decision.actions]) and (decision.propensity > 0).all()


def test_loading_a_policy_leaves_the_torch_random_state_alone(tiny_run):
    before = th.get_rng_state()
    PPOPolicy.from_file(tiny_run / "best_model.zip")
    assert th.equal(before, th.get_rng_state())


def test_factored_head_splits_contact_from_the_message():
    head = FactoredHead(8)
    logits = head(th.randn(5, 8))
    assert logits.shape == (5, N_ACTIONS)
    p = th.softmax(logits, dim=-1)
    assert th.allclose(p[:, 0], th.sigmoid(logits[:, 0] - 0.0))  # the messages' logits sum (in exp) to 1
    assert th.allclose(th.logsumexp(logits[:, 1:], dim=-1), th.zeros(5), atol=1e-5)


def test_twin_baseline_gives_zero_reward_to_every_shopper_nobody_contacts():
    market = small_config(size=200, horizon=10, network=NetworkConfig(social_weight=0.0))
    env = TrainingEnv(MarketVecEnv(market, GUARD, seed=3), reward_scale=1.0, gamma=0.99, use_twin=True)
    env.reset()
    for _ in range(25):  # across two horizons: a new twin for each new market
        original = env.twin.original.copy()
        _, rewards, _, _ = env.step(np.zeros(env.num_envs, dtype=np.int64))
        assert (rewards[original] == 0).all()


@pytest.mark.slow
def test_a_short_training_learns_restraint_where_it_pays(tmp_path):
    """An easy market: tired shoppers leave fast and are worth a lot, so contacting less is the lesson."""
    market = small_config(size=300, horizon=30, response=ResponseParams(churn_fatigue=0.5, fatigue_half_life=14.0, buy_base=1.0))
    config = PPOConfig(train_shoppers=300, eval_shoppers=300, total_timesteps=40_000, batch_size=1024, n_epochs=4, learning_rate=0.003,
                       initial_contact=0.2, eval_every=10**9, checkpoint_every=10**9, clone="", deterministic=False)  # start over-contacting: the lesson is to stop
    train(config, market, GUARD, tmp_path)
    untrained, trained = pd.read_csv(tmp_path / "evaluations.csv").iloc[[0, -1]].itertuples()  # before any update, after the last
    holdout = run_policy("no_contact", config.eval_seed, market, GUARD).daily["profit"].sum()
    rand = run_policy("random", config.eval_seed, market, GUARD)
    random_incremental = (rand.daily["profit"].sum() - holdout) / rand.shoppers
    assert trained.incremental_profit_per_shopper > untrained.incremental_profit_per_shopper + 3  # about -10 -> -2 per shopper
    assert trained.sends_per_shopper < untrained.sends_per_shopper
    assert trained.incremental_profit_per_shopper > random_incremental + 10


def composed(*overrides: str) -> schema.Config:
    with initialize_config_dir(config_dir=cli.CONFIG_DIR, version_base="1.3"):
        return schema.to_config(compose(config_name="config", overrides=list(overrides)))


def test_bad_hyperparameters_fail_before_any_work_naming_key_value_and_range(tmp_path):
    with pytest.raises(ConfigError, match=r"policies\.ppo\.gamma=1\.5: must be in \[0\.0, 0\.9999\]"):
        composed("experiment=train_ppo", "policies.ppo.gamma=1.5")
    with pytest.raises(ConfigError, match=r"policies\.ppo\.net_arch=\[\]: must be a non-empty list"):
        composed("experiment=train_ppo", "policies.ppo.net_arch=[]")
    with pytest.raises(ConfigError, match=r"policies\.ppo: .*unexpected keyword argument 'gama'"):
        composed("experiment=train_ppo", "+policies.ppo.gama=0.9")
    with pytest.raises(ConfigError, match=r"policies\.ppo\.resume_from='nowhere': not a checkpoint folder"):
        composed("experiment=train_ppo", "policies.ppo.resume_from=nowhere")
    with pytest.raises(ValueError, match=r"policies\.ppo\.model_path is empty"):
        make_policy("ppo", None, {})


def test_training_seeds_must_miss_the_comparison_seeds():
    with pytest.raises(ConfigError, match=r"policies\.ppo\.train_seed=1000: .* must exceed every experiment seed \(largest 1000\)"):
        composed("experiment=long_run", "experiment.seeds=[0,1000]")
    with pytest.raises(ConfigError, match=r"policies\.ppo\.eval_seed=3: its evaluation markets \(seeds 1-3\) include the experiment seed"):
        composed("experiment=long_run", "policies.ppo.eval_seed=3")
    with pytest.raises(ConfigError, match=r"policies\.ppo\.eval_seed=10: its evaluation markets \(seeds 8-10\) include the experiment seed\(s\) \[8\]"):
        composed("experiment=long_run", "policies.ppo.eval_seed=10", "experiment.seeds=[0,8]")
    with pytest.raises(ConfigError, match=r"policies\.ppo\.eval_markets=3: the evaluation seeds count down from eval_seed=1, so at most 2"):
        composed("experiment=train_ppo", "policies.ppo.eval_seed=1")
    check_params("ppo", {}, [0, 1, 2])  # the defaults are held out from the usual seeds


def test_factored_draws_follow_the_masked_distribution(tiny_run):
    policy = PPOPolicy.from_file(tiny_run / "best_model.zip")
    one = MarketModel(small_config(size=300), seed=0).observe()[:1]
    obs = np.repeat(one, 40_000, axis=0)
    mask = ActionMask(np.repeat([[True, False, True, True, False]], len(obs), axis=0))
    probs = policy.probabilities(obs[:1], mask.subset(slice(0, 1)))[0]
    drawn = policy.act(obs, mask, DecisionContext(day=0, weekday=0, rng=np.random.default_rng(3), rows=np.arange(len(obs)))).actions
    share = np.bincount(drawn, minlength=len(probs)) / len(drawn)
    assert (share[probs == 0] == 0).all()
    assert np.abs(share - probs).max() < 4 * np.sqrt(probs.max() / len(drawn))  # within 4 standard errors


def test_acting_needs_no_training_stack_and_the_config_no_torch():
    """Serving or evaluating a trained model imports the network and the policy, not the loop, its callbacks or the runner."""
    probe = ("import sys, policies.ppo.config; print('torch' in sys.modules)\n"
             "import policies.ppo.inference; print(sorted(m for m in sys.modules if m.startswith(('policies.ppo.', 'experiments'))))")
    res = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[:2] == ["False", "['policies.ppo.config', 'policies.ppo.inference', 'policies.ppo.network']"]


@pytest.mark.parametrize("name", ["FactoredPolicy", "UnitFeatures", "Twin"])
def test_models_and_checkpoints_saved_before_the_package_split_still_load(name):
    """A saved MaskablePPO zip names its policy and feature classes, a checkpoint its Twin, as ``policies.ppo.<class>``."""
    cls = pickle.loads(f"cpolicies.ppo\n{name}\n.".encode())  # the reference an old pickle holds (protocol 0: module, name)
    assert cls.__name__ == name and cls.__module__.startswith("policies.ppo.")
