"""How much a training rollout tells PPO about *which* message to send: signal against noise.

PPO learns the message from the returns that follow a contact. On the long-run market this
script contacts a share of the shoppers on one day with a uniformly random allowed message (no
other day has contacts), then measures what :class:`policies.ppo.reward.TrainingEnv` pays for it: the
discounted sum of the training rewards from that day on,

.. math::  G_{i,t} = \\sum_{k \\ge t} \\gamma^{k-t}\\, \\tilde r_{i,k},

stopped where the shopper churns, exactly the Monte Carlo return PPO's advantages are built on
(``gae_lambda`` = 1), for the rows that still hold their twin's shopper. It prints the spread of
:math:`G` after a contact and its mean with standard error per offer and per channel; the gaps
between the means against their spread say how many contacts per option a rollout needs before
PPO can tell two options apart.

Run on demand: ``python -m studies.message_signal [--shoppers 4000] [--share 0.5] [--day 10] [--gamma 0.99]``.
"""

from __future__ import annotations

import argparse

import numpy as np
from hydra import compose, initialize_config_dir

from experiments import schema
from experiments.cli import CONFIG_DIR
from policies.base import inverse_cdf
from policies.ppo.reward import TrainingEnv
from policies.ppo.training import resized
from sim.catalogue import ACTION_CHANNEL, ACTION_OFFER, CHANNEL_NAMES, OFFER_NAMES
from sim.vec_env import MarketVecEnv


def contact_returns(shoppers: int, share: float, day: int, gamma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(actions, returns) of the rows contacted on ``day``: the message sent and the return G that followed it."""
    schema.register()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = schema.to_config(compose(config_name="config", overrides=["market=long_run"]))
    venv = MarketVecEnv(resized(cfg.market, shoppers), cfg.guardrails, seed=seed)
    env = TrainingEnv(venv, reward_scale=1.0, gamma=gamma, use_twin=True)
    env.reset()
    rng = np.random.default_rng(seed)
    horizon, n = cfg.market.horizon_days, venv.num_envs
    rewards, ended = np.zeros((horizon, n)), np.zeros((horizon, n), dtype=bool)
    actions, original = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    for t in range(horizon):
        if t == day:
            allowed = venv.action_masks()[:, 1:]
            chosen = np.flatnonzero((rng.random(n) < share) & allowed.any(axis=1))
            actions[chosen] = 1 + inverse_cdf(allowed[chosen].astype(np.float64), rng.random(len(chosen)))  # uniform over the allowed
            original = env.twin.original.copy()
        _, r, ended[t], _ = env.step(actions if t == day else np.zeros(n, dtype=np.int64))
        rewards[t] = r
    g = np.zeros(n)
    for t in reversed(range(day, horizon)):
        g = rewards[t] + gamma * g * ~ended[t]
    rows = (actions > 0) & original
    return actions[rows], g[rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=4000)
    parser.add_argument("--share", type=float, default=0.5, help="share of the shoppers contacted on --day")
    parser.add_argument("--day", type=int, default=10)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args()
    actions, g = contact_returns(args.shoppers, args.share, args.day, args.gamma, args.seed)
    print(f"message_signal: long-run market, {args.shoppers:,} shoppers, seed {args.seed}, one random message on day {args.day} "
          f"to {len(g):,} of them, gamma {args.gamma}")
    print(f"return after a contact: mean {g.mean():.2f}, standard deviation {g.std(ddof=1):.2f} (profit units)\n")
    print("| option | contacts | mean return | standard error |\n|---|---:|---:|---:|")
    for label, index, names in (("offer", ACTION_OFFER[actions], OFFER_NAMES), ("channel", ACTION_CHANNEL[actions], CHANNEL_NAMES)):
        for k, name in enumerate(names):
            s = g[index == k]
            print(f"| {label} {name} | {len(s):,} | {s.mean():.2f} | {s.std(ddof=1) / np.sqrt(len(s)):.2f} |")


if __name__ == "__main__":
    main()
