"""PPO's actor cloned from a teacher: it reproduces the teacher's choices on a market it never saw, cloning is
deterministic, the actor reads the CRM only, and a teacher that must learn is refused naming the key."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch as th
from sb3_contrib import MaskablePPO

from experiments.train_ppo import train
from policies.base import DecisionContext
from policies.ppo.cloning import Labels, clone, label, most_probable
from policies.ppo.config import PPOConfig
from policies.ppo.inference import PPOPolicy
from policies.ppo.network import FactoredPolicy, UnitFeatures
from sim.config import ConfigError, GuardrailConfig
from sim.guardrails import ActionMask
from sim.market import MarketModel
from sim.vec_env import MarketVecEnv
from tests.conftest import small_config
from tests.policies.test_ppo import composed

GUARD = GuardrailConfig()
MARKET = small_config(size=200, horizon=28)


def network(seed: int = 0) -> FactoredPolicy:
    th.manual_seed(seed)
    model = MaskablePPO(FactoredPolicy, MarketVecEnv(small_config(size=100, horizon=5), GUARD, seed=1000), device="cpu",
                        policy_kwargs={"net_arch": [32, 32], "features_extractor_class": UnitFeatures})
    return model.policy


def blast_clone(epochs: int = 25) -> tuple[FactoredPolicy, object]:
    net = network()
    report = clone(net, "blast", MARKET, GUARD, seeds=[1000, 1001], held_out_seed=1002, epochs=epochs, batch_size=512, learning_rate=3e-3,
                   deterministic=True)
    return net, report


@pytest.fixture(scope="module")
def cloned():
    return blast_clone()


def test_the_clone_makes_the_teachers_choices_on_a_market_it_never_saw(cloned):
    """The weekly e-mail is a function of the weekday and the e-mail consent, both observed: a clone must copy it."""
    net, report = cloned
    held = label("blast", MARKET, GUARD, seed=1003)  # another market, moved by the teacher itself
    student = most_probable(net, held)
    assert (student == held.actions).mean() > 0.995
    sends = held.actions > 0
    assert 0.05 < sends.mean() < 0.2 and (student[sends] == held.actions[sends]).mean() > 0.99
    assert report.agreement > 0.995 and report.send_agreement > 0.99
    assert report.labels == 2 * len(held) or report.labels > len(held)  # two rounds of about one market each


def test_an_untrained_actor_does_not_make_the_teachers_choices():
    """The agreement above is learnt: before the fit the actor's most probable action is no contact, every day."""
    held = label("blast", MARKET, GUARD, seed=1003)
    student = most_probable(network(), held)
    assert (student[held.actions > 0] == held.actions[held.actions > 0]).mean() < 0.05


def test_cloning_is_deterministic():
    net, _ = blast_clone(epochs=1)
    again, _ = blast_clone(epochs=1)
    for (name, a), (_, b) in zip(net.state_dict().items(), again.state_dict().items()):
        assert th.equal(a, b), name


def test_the_actor_reads_the_crm_only(cloned):
    """On the same observations, a market whose latent traits are scrambled gets the same actions from the clone."""
    net, _ = cloned
    market, scrambled = MarketModel(MARKET, GUARD, seed=5), MarketModel(MARKET, GUARD, seed=5)
    for m in (market, scrambled):
        for _ in range(3):
            m.step(np.zeros(m.n_rows, dtype=np.int64))
    rng = np.random.default_rng(0)
    for f in dataclasses.fields(scrambled.traits):
        values = getattr(scrambled.traits, f.name)
        if isinstance(values, np.ndarray) and values.ndim >= 1 and len(values) == scrambled.n_rows:
            setattr(scrambled.traits, f.name, values[rng.permutation(len(values))])
    assert not np.array_equal(scrambled.latent().churn_hazard, market.latent().churn_hazard)
    rows = np.flatnonzero(market.present)
    obs = market.observe(rows)
    np.testing.assert_array_equal(obs, scrambled.observe(rows))
    ctx = DecisionContext(day=3, weekday=3, rng=np.random.default_rng(1), rows=rows)
    actions = [PPOPolicy(net, deterministic=True).act(m.observe(rows), m.action_mask().subset(rows), ctx).actions for m in (market, scrambled)]
    np.testing.assert_array_equal(*actions)


def test_labels_are_allowed_actions_on_present_shoppers():
    labels = label("reference", MARKET, GUARD, seed=1000)
    assert len(labels) > 0 and labels.obs.shape[1] == MarketModel(MARKET, GUARD, seed=0).observe().shape[1]
    assert ActionMask(labels.channel_ok).allows(labels.actions).all()
    assert (labels.actions > 0).any()
    both = Labels.concat([labels, labels])
    assert len(both) == 2 * len(labels)


TRAINED = PPOConfig(train_shoppers=100, eval_shoppers=100, total_timesteps=2 * 12 * 112, batch_size=256, n_epochs=1, eval_every=10**9,
                    checkpoint_every=12 * 112, eval_markets=1, clone="blast", clone_rounds=2, clone_shoppers=150, clone_epochs=30,
                    deterministic=True)
"""a clone of blast, then two 12-day rollouts of PPO on the 112 rows of a 100-shopper market, a checkpoint after the first"""
TRAINING_MARKET = small_config(size=100, horizon=12)


@pytest.fixture(scope="module")
def cloned_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cloned")
    train(TRAINED, TRAINING_MARKET, GUARD, out)
    return out


def test_training_with_a_teacher_starts_from_the_clone(cloned_run):
    """The first evaluation (before any PPO update) is the clone's, and the report says how well it copies."""
    report = json.loads((cloned_run / "clone.json").read_text())
    assert report["teacher"] == "blast" and report["rounds"] == 2 and report["agreement"] > 0.95
    first = pd.read_csv(cloned_run / "evaluations.csv").iloc[0]
    assert first.timesteps == 0 and first.sends_per_shopper > 0.5  # blast's weekly e-mail, about one a week


def test_a_run_resumed_after_the_clone_reaches_the_parameters_of_the_uninterrupted_one(cloned_run, tmp_path):
    """A checkpoint holds the cloned and partly trained network: resuming neither clones again nor loses the clone."""
    (checkpoint,) = (cloned_run / "checkpoints").iterdir()
    train(dataclasses.replace(TRAINED, resume_from=str(checkpoint)), TRAINING_MARKET, GUARD, tmp_path / "resumed")
    assert not (tmp_path / "resumed" / "clone.json").exists()
    straight, resumed = (MaskablePPO.load(p / "final_model.zip", device="cpu").policy.state_dict() for p in (cloned_run, tmp_path / "resumed"))
    assert all(th.equal(straight[k], resumed[k]) for k in straight)


@pytest.mark.parametrize("override, message", [
    ("policies.ppo.clone=linucb", r"policies\.ppo\.clone='linucb': not a policy that acts without training; allowed: .*reference"),
    ("policies.ppo.clone=nobody", r"policies\.ppo\.clone='nobody'"),
    ("policies.ppo.clone_rounds=0", r"policies\.ppo\.clone_rounds=0: must be in \[1, 20\]"),
])
def test_a_teacher_that_must_learn_or_does_not_exist_is_refused_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        composed("experiment=train_ppo", override)
