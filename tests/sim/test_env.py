"""The Gymnasium env (one shopper) and the SB3 vectorised env (all shoppers of one market)."""

from __future__ import annotations

import copy

import gymnasium
import numpy as np
import pytest
import torch as th
from gymnasium.utils.env_checker import check_env as gym_check_env
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.utils import get_action_masks
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from sim.catalogue import ACTION_CHANNEL, N_ACTIONS, N_CHANNELS, encode
from sim.config import MarketConfig, PopulationConfig, ResponseParams
from sim.env import ENV_ID, OfferEnv, register_envs
from sim.features import N_FEATURES
from sim.vec_env import MarketVecEnv


def market(size: int = 200, horizon: int = 20, **kwargs) -> MarketConfig:
    return MarketConfig(population=PopulationConfig(size=size), horizon_days=horizon, **kwargs)


def churny_market(size: int = 200, horizon: int = 10) -> MarketConfig:
    """A market where months without a purchase make shoppers leave fast, so churn shows up in a short rollout."""
    return market(size, horizon, response=ResponseParams(churn_recency=0.6))


def masked_random_actions(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One allowed action per row, uniformly among the allowed ones."""
    scores = np.where(masks, rng.random(masks.shape), -1.0)
    return scores.argmax(axis=1)


def test_gymnasium_env_checker_passes():
    gym_check_env(OfferEnv(market()), skip_render_check=True)


def test_sb3_env_checker_passes():
    sb3_check_env(OfferEnv(market()), warn=True)


def test_registered_env_can_be_made():
    register_envs()
    register_envs()  # a second registration is a no-op, not a warning or an error
    env = gymnasium.make(ENV_ID, market_config=market(horizon=5))
    obs, info = env.reset(seed=3)
    assert obs.shape == (N_FEATURES,) and info["action_mask"].shape == (N_ACTIONS,)
    steps = 0
    terminated = truncated = False
    while not (terminated or truncated):
        _, _, terminated, truncated, _ = env.step(0)
        steps += 1
    assert steps <= 5


def rollout(env: OfferEnv, seed: int, actions: np.ndarray) -> tuple[list[np.ndarray], list[float]]:
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    for a in actions:
        obs, reward, terminated, truncated, _ = env.step(int(a))
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            break
    return observations, rewards


def test_same_seed_gives_same_trajectory():
    actions = np.random.default_rng(0).integers(0, N_ACTIONS, 20)
    env = OfferEnv(market(horizon=30))
    obs_a, rew_a = rollout(env, 11, actions)
    obs_b, rew_b = rollout(env, 11, actions)
    np.testing.assert_array_equal(np.stack(obs_a), np.stack(obs_b))
    assert rew_a == rew_b
    obs_c, _ = rollout(env, 12, actions)
    assert len(obs_c) != len(obs_a) or not np.array_equal(np.stack(obs_c), np.stack(obs_a))


def test_action_out_of_range_raises():
    env = OfferEnv(market())
    env.reset(seed=0)
    with pytest.raises(ValueError, match=rf"action=256.*\[0, {N_ACTIONS - 1}\]"):
        env.step(N_ACTIONS)


def test_mask_forbids_channels_without_consent_and_market_refuses_them():
    env = OfferEnv(market())
    for seed in range(50):
        env.reset(seed=seed)
        consent = env.market.state.consent[env.focal]
        if not consent.all():
            break
    else:
        pytest.fail("no focal shopper without some channel consent in 50 seeds")
    mask = env.action_masks()
    assert mask.dtype == bool and mask.shape == (N_ACTIONS,) and mask[0]
    np.testing.assert_array_equal(mask[1:], consent[ACTION_CHANNEL[1:]])
    refused_channel = int(np.flatnonzero(~consent)[0])
    _, reward, _, _, info = env.step(int(encode(0, refused_channel, 0)))
    assert info["refused"] and not info["sent"]
    assert info["action_mask"].shape == (N_ACTIONS,)


def test_vec_env_rollout_truncates_at_horizon_and_refills_churned_rows():
    cfg = churny_market(size=200, horizon=10)
    venv = MarketVecEnv(cfg, seed=5)
    assert venv.market_config is not cfg and not cfg.refill_churned and venv.market_config.refill_churned
    n = venv.num_envs
    obs = venv.reset()
    assert obs.shape == (n, N_FEATURES) and obs.dtype == np.float32
    rng = np.random.default_rng(0)
    churn_dones = 0
    for step in range(1, 31):
        masks = get_action_masks(venv)
        assert masks.shape == (n, N_ACTIONS) and masks.dtype == bool
        today = venv.market  # replaced by the next episode's market at the horizon
        obs, rewards, dones, infos = venv.step(masked_random_actions(masks, rng))
        churned = today.outcome.churned
        assert obs.shape == (n, N_FEATURES) and venv.observation_space.contains(obs[0])
        assert rewards.shape == (n,) and rewards.dtype == np.float32
        assert dones.shape == (n,) and dones.dtype == bool
        at_horizon = step % cfg.horizon_days == 0
        np.testing.assert_array_equal(dones, churned | at_horizon)
        for i in np.flatnonzero(dones):
            assert infos[i]["terminal_observation"].shape == (N_FEATURES,)
            assert infos[i]["TimeLimit.truncated"] == (at_horizon and not churned[i])
        if at_horizon:
            assert venv.market is not today and venv.market.day == 0 and venv.episode == step // cfg.horizon_days
        else:
            assert venv.market.present[churned].all()  # refilled by a newcomer present from the next day
            churn_dones += int(churned.sum())
    assert churn_dones > 0


def test_vec_env_masks_hide_channels_without_consent_and_unjoined_rows():
    venv = MarketVecEnv(market(size=200, horizon=30), seed=1)
    masks = get_action_masks(venv)
    channel_ok = masks[:, encode(0, np.arange(N_CHANNELS), 0)]  # offer 0, slot 0, each channel
    present = venv.market.present
    np.testing.assert_array_equal(channel_ok, venv.market.state.consent & present[:, None])
    assert not masks[~present, 1:].any() and (~present).any()


def test_vec_env_seed_restarts_episode_count():
    venv = MarketVecEnv(market(size=100, horizon=5), seed=0)
    first = venv.reset().copy()
    venv.step(np.zeros(venv.num_envs, dtype=np.int64))
    venv.reset()
    assert venv.episode == 1
    assert venv.seed(0) == [0] * venv.num_envs
    np.testing.assert_array_equal(venv.reset(), first)


def test_maskable_ppo_learns_on_vec_env():
    """Two short rollouts (at a high learning rate, so that two are enough) move both halves of the policy in the direction of the market's rewards.

    The critic: its estimates start near 0, while a shopper's returns are mostly organic margin (positive);
    after training, its mean over the last rollout's observations is much nearer that rollout's returns
    (its value targets). The actor: on the last rollout, the probability ratio of the trained policy to the
    one that acted there, weighted by the (normalised) advantages, has a positive mean: actions that did
    better than expected became likelier, those that did worse less likely (PPO's surrogate objective rose).
    """
    venv = MarketVecEnv(market(size=100, horizon=5), seed=0)
    model = MaskablePPO("MlpPolicy", venv, n_steps=4, batch_size=venv.num_envs, n_epochs=1, learning_rate=1e-2, seed=0, device="cpu")
    initial = copy.deepcopy(model.policy.state_dict())
    model.learn(total_timesteps=2 * 4 * venv.num_envs)
    assert model.num_timesteps >= 2 * 4 * venv.num_envs

    rollout = model.rollout_buffer
    obs = th.as_tensor(rollout.observations.reshape(-1, N_FEATURES))
    returns = rollout.returns.ravel()
    with th.no_grad():
        trained = model.policy.predict_values(obs).numpy().ravel()
        _, log_prob, _ = model.policy.evaluate_actions(obs, th.as_tensor(rollout.actions.reshape(-1)).long(),
                                                         action_masks=rollout.action_masks.reshape(len(obs), -1))
        model.policy.load_state_dict(initial)
        untrained = model.policy.predict_values(obs).numpy().ravel()
    assert returns.mean() > 1.0 and abs(untrained.mean()) < 0.5  # the critic has somewhere to go
    assert abs(trained.mean() - returns.mean()) < 0.5 * abs(untrained.mean() - returns.mean())
    assert np.mean((returns - trained) ** 2) < np.mean((returns - untrained) ** 2)
    advantage = rollout.advantages.ravel()
    advantage = (advantage - advantage.mean()) / advantage.std()
    assert np.mean(np.exp(log_prob.numpy() - rollout.log_probs.ravel()) * advantage) > 0.01
