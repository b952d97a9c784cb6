"""PPO that learns restraint: MaskablePPO trained on the market, and the trained policy behind :class:`Policy`.

A bandit picks the action with the best profit over the next week. PPO maximises each shopper's
discounted profit over every day to come,

.. math::  J(\\pi) = \\mathbb{E}_\\pi \\Big[\\sum_{t \\ge 0} \\gamma^t\\, r_{i,t}\\Big],
           \\qquad r_{i,t} = \\text{margin} - \\text{discounts} - \\text{channel cost},

with :math:`\\gamma` a daily discount (0.99: a month ahead still weighs 0.74). A message that tires
a shopper today and costs an unsubscribe or a churn next month therefore counts against the
message: a churned shopper ends their episode, so the profit they would have brought is lost to
the return. That is the restraint the bandits cannot learn.

The action is the market's flat ``Discrete(256)`` (no contact, or offer x channel x slot) with the
exact guardrail mask of :meth:`sim.vec_env.MarketVecEnv.action_masks`. The masks are conditional
(a frequency cap forbids every send but no contact; a missing consent forbids a channel for every
offer), which a ``MultiDiscrete`` action cannot express in sb3-contrib (its masks are per
component, sb3-contrib issue 80), so the flat action is the simple exact choice.

Training (:func:`train`) reads top to bottom: the training market, the model, the callback
(business curves, evaluation, checkpoints), ``learn``. Seeds: the training markets are seeded
``train_seed, train_seed + 1, ...`` (one market per horizon-long episode, see
:class:`~sim.vec_env.MarketVecEnv`) and the evaluation markets during training ``eval_seed, eval_seed - 1, ...``;
:meth:`PPOConfig.check_held_out` keeps both away from the seeds a comparison evaluates on.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import torch as th
from gymnasium import spaces
from torch import nn
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from experiments.io import atomic_write, write_table
from policies.base import Decision, DecisionContext, Policy, deterministic, inverse_cdf, sampled
from sim.catalogue import ACTION_CHANNEL, ACTION_OFFER, ACTION_SLOT, N_CHANNELS, N_OFFERS, N_SLOTS, encode
from sim.config import GuardrailConfig, MarketConfig, bounded, validate
from sim.guardrails import ActionMask
from sim.market import MarketModel
from sim.vec_env import MarketVecEnv

BEST_MODEL = "best_model.zip"
FINAL_MODEL = "final_model.zip"


@dataclass
class PPOConfig:
    """Hyperparameters of ``configs/policy/ppo.yaml``, checked on construction (a ValueError naming the key)."""

    train_shoppers: int = bounded(500, ge=100, le=1_000_000)
    """shoppers of the training market at the start (the experiment's market otherwise); every row is one parallel env"""
    total_timesteps: int = bounded(2_500_000, ge=1, le=10**10)
    """shopper-days to train on (rounded up to whole rollouts)"""
    n_steps: int = bounded(0, ge=0, le=3650)
    """simulated days per rollout (x rows of the training market = transitions); 0 = the market's horizon, one episode"""
    batch_size: int = bounded(4096, ge=2, le=10**7)
    """transitions per gradient step"""
    n_epochs: int = bounded(5, ge=1, le=100)
    """passes over each rollout"""
    learning_rate: float = bounded(1e-3, gt=0.0, le=1.0)
    gamma: float = bounded(0.99, ge=0.0, le=0.9999)
    """daily discount; the long run needs it close to 1 (0.99 weighs next month's profit by 0.74)"""
    gae_lambda: float = bounded(1.0, ge=0.0, le=1.0)
    """1 = Monte Carlo returns: with less, the value net's errors bias the advantage of contacting (see the README)"""
    clip_range: float = bounded(0.2, gt=0.0, le=1.0)
    ent_coef: float = bounded(0.0, ge=0.0, le=1.0)
    vf_coef: float = bounded(0.5, ge=0.0, le=10.0)
    max_grad_norm: float = bounded(0.5, gt=0.0, le=100.0)
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    """hidden layer widths of the policy and of the value network (separate networks)"""
    reward_scale: float = bounded(0.01, gt=0.0, le=100.0)
    """training rewards are (incremental) profit x reward_scale: value targets O(1) rather than O(100) (see TrainingEnv)"""
    twin_baseline: bool = True
    """reward = profit minus the same shopper's profit in a no-contact twin market (unbiased, far less noisy; see TrainingEnv)"""
    initial_contact: float = bounded(0.05, ge=0.001, le=0.999)
    """probability that the untrained policy contacts a shopper open on every channel (see contact_prior); at 0.2 the
    untrained policy lost 14.7 per shopper on the long-run market and spent most of training unlearning it"""
    seed: int = bounded(0, ge=0, le=2**31 - 1)
    """seed of the network's initial weights, minibatch order and action draws during training"""
    train_seed: int = bounded(1000, ge=0, le=2**31 - 1)
    """market seed of the first training episode; episode k runs on train_seed + k"""
    eval_seed: int = bounded(999, ge=0, le=2**31 - 1)
    """market seed of the evaluations during training (held out from training and from comparisons)"""
    eval_markets: int = bounded(3, ge=1, le=100)
    """evaluation markets, seeds ``eval_seed, eval_seed - 1, ...``, whose mean picks the best model: on one market a
    checkpoint that still contacted scored -0.05 per shopper and earned -0.45 on the long-run comparison's seeds"""
    eval_shoppers: int = bounded(5000, ge=100, le=1_000_000)
    """shoppers of each evaluation market; the best model is picked on them, so their noise must be below the gaps
    between evaluations (with 1,000 the pick scored -1.16 per shopper on the long-run seeds, the final model -0.06)"""
    eval_every: int = bounded(500_000, ge=1, le=10**10)
    """timesteps between evaluations; the best evaluated model is kept as best_model.zip"""
    checkpoint_every: int = bounded(1_000_000, ge=1, le=10**10)
    """timesteps between checkpoints (model, optimiser, random states, training market)"""
    threads: int = bounded(1, ge=1, le=256)
    """torch threads while training"""
    deterministic: bool = False
    """act on the most probable action (propensity 1) instead of drawing from the policy"""
    model_path: str = ""
    """a trained model (.zip) to evaluate; empty: a comparison trains one into <run>/ppo/"""
    resume_from: str = ""
    """a checkpoint folder (<run>/checkpoints/step_...) to continue training from"""

    def __post_init__(self) -> None:
        validate(self)
        for key in ("deterministic", "twin_baseline"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"{key}={getattr(self, key)!r}: must be true or false")
        if not self.net_arch or any(isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= 4096 for w in self.net_arch):
            raise ValueError(f"net_arch={self.net_arch!r}: must be a non-empty list of layer widths in [1, 4096]")
        if self.eval_seed >= self.train_seed:
            raise ValueError(f"eval_seed={self.eval_seed}: must be below train_seed={self.train_seed} (training uses train_seed and up)")
        if self.eval_markets > self.eval_seed + 1:
            raise ValueError(f"eval_markets={self.eval_markets}: the evaluation seeds count down from eval_seed={self.eval_seed}, "
                             f"so at most {self.eval_seed + 1}")
        if self.resume_from and not (Path(self.resume_from) / "state.pkl").is_file():
            raise ValueError(f"resume_from={self.resume_from!r}: not a checkpoint folder (no state.pkl in it)")
        if self.model_path and not Path(self.model_path).is_file():
            raise ValueError(f"model_path={self.model_path!r}: no such file")

    def check_held_out(self, seeds: list[int]) -> None:
        """Refuse evaluation ``seeds`` that a training or evaluation market of this config uses."""
        if self.model_path:
            return  # a given model: where it was trained is the caller's business
        if max(seeds) >= self.train_seed:
            raise ValueError(f"train_seed={self.train_seed}: training markets use seeds from it up, so it must exceed every "
                             f"experiment seed (largest {max(seeds)})")
        shared = sorted(set(self.eval_seeds) & set(seeds))
        if shared:
            raise ValueError(f"eval_seed={self.eval_seed}: its evaluation markets (seeds {self.eval_seeds[-1]}-{self.eval_seed}) include the "
                             f"experiment seed(s) {shared}; pick a held-out one")

    @property
    def eval_seeds(self) -> list[int]:
        """The market seeds of the evaluations during training: ``eval_seed`` and the ``eval_markets - 1`` below it."""
        return list(range(self.eval_seed, self.eval_seed - self.eval_markets, -1))


class UnitFeatures(BaseFeaturesExtractor):
    """The CRM features rescaled to [0, 1] by their documented bounds (:mod:`sim.features`).

    ``monetary`` reaches 12 and ``opens_email`` 45 while the flags are 0/1; unscaled, the large
    ones would dominate the first layer. The scaling lives in the network (buffers saved with
    the model), so a loaded or exported model needs no side statistics.
    """

    def __init__(self, observation_space: spaces.Box):
        super().__init__(observation_space, features_dim=int(observation_space.shape[0]))
        self.register_buffer("low", th.as_tensor(observation_space.low, dtype=th.float32))
        self.register_buffer("span", th.as_tensor(observation_space.high - observation_space.low, dtype=th.float32))

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return (observations - self.low) / self.span


class FactoredHead(nn.Module):
    """Action logits over the flat ``Discrete(256)`` built from four small choices: contact?, offer, channel, slot.

    One linear layer gives :math:`z_0`, the log-odds of no contact against a contact, and logits
    :math:`u_o, v_h, w_s` for the 17 offers, 5 channels and 3 slots. The logit of action
    :math:`a = (o, h, s)` is

    .. math::  \\ell_0 = z_0, \\qquad \\ell_a = \\log\\operatorname{softmax}(u)_o
               + \\log\\operatorname{softmax}(v)_h + \\log\\operatorname{softmax}(w)_s \\quad (a \\ge 1),

    so that before masking :math:`P(\\text{no contact}) = \\sigma(z_0)` and, given a contact,
    offer, channel and slot are independent choices. Two things go wrong with SB3's own flat
    head (one free logit per action, measured in the README): the probability of contacting is
    a log-sum-exp over 255 logits, which noise in them alone raises (Jensen's inequality), so
    PPO drifted toward contacting every day the cap allowed; and what is learnt about e-mail
    from one offer teaches nothing about e-mail with the other 16. The action stays the flat
    ``Discrete(256)``, so sb3-contrib's exact mask applies to these logits unchanged (a
    forbidden channel removes its 51 actions and the rest is renormalised), which a
    ``MultiDiscrete`` action could not give (sb3-contrib issue 80).
    """

    def __init__(self, latent_dim: int):
        super().__init__()
        self.linear = nn.Linear(latent_dim, 1 + N_OFFERS + N_CHANNELS + N_SLOTS)
        self.register_buffer("offer", th.as_tensor(ACTION_OFFER[1:]), persistent=False)
        self.register_buffer("channel", th.as_tensor(ACTION_CHANNEL[1:] + N_OFFERS), persistent=False)
        self.register_buffer("slot", th.as_tensor(ACTION_SLOT[1:] + N_OFFERS + N_CHANNELS), persistent=False)

    def factors(self, latent: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor]:
        """:math:`z_0` and the log-softmax of offers, channels and slots: the four parts every logit is made of."""
        z = self.linear(latent)
        offer, channel, slot = th.split(z[..., 1:], [N_OFFERS, N_CHANNELS, N_SLOTS], dim=-1)
        return z[..., 0], th.log_softmax(offer, dim=-1), th.log_softmax(channel, dim=-1), th.log_softmax(slot, dim=-1)

    def forward(self, latent: th.Tensor) -> th.Tensor:
        z0, *logs = self.factors(latent)
        parts = th.cat(logs, dim=-1)
        message = parts[..., self.offer] + parts[..., self.channel] + parts[..., self.slot]
        return th.cat([z0[..., None], message], dim=-1)


class FactoredPolicy(MaskableActorCriticPolicy):
    """sb3-contrib's masked actor-critic with the :class:`FactoredHead` in place of its flat action layer."""

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        self.action_net = FactoredHead(self.mlp_extractor.latent_dim_pi)
        self.init_weights(self.action_net.linear, gain=0.01)  # SB3's initialisation of an action layer
        # the optimiser built by SB3 holds the replaced layer's parameters: build it again on these
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)


def contact_prior(network: FactoredPolicy, contact: float) -> None:
    """Make the untrained policy contact a shopper open on every channel with probability ``contact``.

    SB3 starts the logits near 0, i.e. even odds of contacting every day, which would tire the
    whole training market before anything is learnt. The bias of :math:`z_0` is set to
    :math:`\\log((1 - c) / c)`; the messages stay equally likely, so a shopper with fewer
    allowed channels is contacted less (their forbidden messages are masked out).
    """
    with th.no_grad():
        network.action_net.linear.bias[0] = math.log((1.0 - contact) / contact)


@dataclass
class Twin:
    """The no-contact twin of one training episode: what each shopper earns if nobody contacts them.

    ``profit[t, i]`` is row i's profit on day t in a market with the episode's config and seed,
    simulated ahead with no contact and without refills (a churned row earns 0 from then on);
    ``value[t, i] = sum_{k >= t} gamma^(k - t) profit[k, i]`` within the horizon; ``original[i]``
    is False once row i of the training market holds a newcomer in place of the twin's shopper.
    """

    profit: np.ndarray
    value: np.ndarray
    original: np.ndarray

    @classmethod
    def simulate(cls, market: MarketConfig, guardrails: GuardrailConfig | None, seed: int, gamma: float) -> Twin:
        twin = MarketModel(dataclasses.replace(market, refill_churned=False), guardrails, seed=seed)
        profit = np.zeros((market.horizon_days, twin.n_rows), dtype=np.float64)
        for t in range(market.horizon_days):
            twin.step()
            profit[t] = twin.outcome.profit
        value = np.zeros((market.horizon_days + 1, twin.n_rows))
        for t in reversed(range(market.horizon_days)):
            value[t] = profit[t] + gamma * value[t + 1]
        return cls(profit, value, np.ones(twin.n_rows, dtype=bool))


class TrainingEnv(VecEnvWrapper):
    """:class:`MarketVecEnv` as PPO trains on it: the reward is profit over a no-contact twin, scaled.

    A shopper's daily profit is mostly organic purchases, which no message caused and which
    drown the effect of a message (a purchase day brings O(10-100), a message changes the
    expected profit by O(0.1-1)). The market's random numbers are common to every policy
    (:mod:`sim.streams`), so the same shopper can be simulated without contact (:class:`Twin`)
    and the difference kept. Row i's training reward on day t is

    .. math::  \\tilde r_{i,t} = \\kappa\\,\\big(r_{i,t} - r^0_{i,t}
               - \\mathbb{1}[\\text{churned on } t]\\; \\gamma\\, G^0_{i,t+1}\\big),
               \\qquad G^0_{i,t} = \\sum_{k \\ge t} \\gamma^{k-t} r^0_{i,k},

    with :math:`r^0` the twin's profit and :math:`\\kappa` = ``reward_scale``. The churn term
    charges a shopper who leaves with the organic profit the twin still earns, so each episode's
    return is its profit return minus :math:`G^0_{i,0}`, a number fixed by the market's random
    numbers whatever the policy does: a baseline, which leaves the policy gradient unbiased
    (:math:`E[\\nabla \\log \\pi(a_t|s_t)\\, G^0_{i,0}] = 0`, since given the state and the
    random numbers the action is drawn independently) and cancels the organic purchases day by
    day (a shopper who is never contacted earns exactly 0). A row refilled by a newcomer has no
    twin; its reward is its profit. Without ``twin`` the reward is the profit of every row.

    The horizon ends every episode for good, as it ends a comparison (SB3 would otherwise add
    :math:`\\gamma V(s_H)` to the last reward, treating it as a time limit). The objective is then
    the profit over the rest of the horizon, the quantity a comparison measures, and it is what
    the churn term needs: :math:`G^0` stops at the horizon too, so a shopper who leaves is charged
    the same span of profit a shopper who stays can still earn. (With the bootstrap, a stayer
    carried the value of the policy's whole future while a leaver was charged only up to the
    horizon, and churn, hence contacting, looked cheap: measured, see the README.) The
    observation has no clock, so the policy cannot act differently near the end.

    ``reward_scale`` keeps value targets O(1): SB3 clips the norm of the summed policy and value
    gradients, and large value targets would take the whole clipping budget. ``totals`` holds the
    market totals of the day just simulated (read from the market that simulated it: at the
    horizon the wrapped env starts a new one within the same step) and ``incremental`` the
    summed training reward of that day, unscaled.
    """

    def __init__(self, venv: MarketVecEnv, reward_scale: float, gamma: float, use_twin: bool, twin: Twin | None = None):
        super().__init__(venv)
        self.reward_scale, self.gamma, self.use_twin = reward_scale, gamma, use_twin
        self.twin = twin if twin is not None or not use_twin else self._simulate()
        self.totals: dict[str, float] = {}
        self.incremental = 0.0
        self._market = venv.market

    def _simulate(self) -> Twin:
        market = self.venv.market
        return Twin.simulate(self.venv.market_config, self.venv.guardrails, market.streams.seed, self.gamma)

    def reset(self) -> np.ndarray:
        obs = self.venv.reset()
        if self.use_twin:
            self.twin = self._simulate()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._market = self.venv.market
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        t = self._market.day
        obs, rewards, dones, infos = self.venv.step_wait()
        self.totals = self._market.totals
        rewards = rewards.astype(np.float64)
        if self.twin is not None:
            tw = self.twin
            churned = self._market.outcome.churned & tw.original
            rewards -= np.where(tw.original, tw.profit[t], 0.0) + np.where(churned, self.gamma * tw.value[t + 1], 0.0)
            tw.original &= ~churned
            if self.venv.market is not self._market:  # the horizon: a new market, a new twin
                self.twin = self._simulate()
        for info in infos:  # the horizon ends the episode, as it ends a comparison: no bootstrap past it
            info.pop("TimeLimit.truncated", None)
        self.incremental = float(rewards.sum())
        return obs, (rewards * self.reward_scale).astype(np.float32), dones, infos


class DayCentredAdvantages(BaseCallback):
    """Subtract from each advantage the mean advantage of the other shoppers on the same simulated day.

    Every row of a rollout shares the day, so the day's part of a return (how many days of the
    horizon remain, the day's demand shock and holidays) is common to all of them, and the value
    net cannot learn it: the observation has no clock. The leave-one-out mean of the other rows,

    .. math::  \\hat A_{i,t} \\leftarrow \\hat A_{i,t} - \\frac{1}{n-1} \\sum_{j \\ne i} \\hat A_{j,t},

    does not depend on row i's action, so it is a valid baseline (the policy gradient stays
    unbiased) that removes that common part. Only the policy loss reads advantages; the value
    net still fits the returns.
    """

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        adv = self.model.rollout_buffer.advantages  # (n_steps, n_envs), computed before this hook runs
        n = adv.shape[1]
        if n > 1:
            adv -= (adv.sum(axis=1, keepdims=True) - adv) / (n - 1)


class TrainingCallback(BaseCallback):
    """Business curves per rollout, evaluation with ``best_model.zip``, checkpoints; all on TensorBoard.

    Per rollout (``business/``): profit, incremental profit (against the no-contact twin), sends,
    unsubscribes and churn per shopper-day of the training market. Every ``eval_every`` timesteps (``eval/``): the current model runs through
    the comparison runner (:func:`experiments.runner.run_policy`) on the ``eval_markets`` held-out evaluation
    markets, and its incremental profit per shopper over the horizon is measured against the
    no-contact twin on the same seed, as a comparison measures it; the best mean so far is kept.
    Evaluations and checkpoints happen at the start of a rollout, when the model, the optimiser
    and the training market are between updates, so a checkpoint is a state training can resume
    from exactly.
    """

    def __init__(self, config: PPOConfig, eval_market: MarketConfig, guardrails: GuardrailConfig, out: Path):
        super().__init__()
        self.config, self.eval_market, self.guardrails, self.out = config, eval_market, guardrails, out
        self.state: dict[str, Any] = {"next_eval": 0, "next_checkpoint": config.checkpoint_every, "best": -math.inf,
                                      "holdout_profit": {}, "evaluations": []}
        self._sums = np.zeros(6)
        self._start = time.perf_counter()
        self._start_steps = 0

    # ------------------------------------------------------------------ SB3 hooks
    def _on_training_start(self) -> None:
        self._start, self._start_steps = time.perf_counter(), self.num_timesteps
        if self.num_timesteps == 0:
            rows = "\n".join(f"| {k} | {v} |" for k, v in dataclasses.asdict(self.config).items())
            self.logger.record("hyperparameters", f"| key | value |\n|---|---|\n{rows}")

    def _on_rollout_start(self) -> None:
        if self.num_timesteps >= self.state["next_eval"]:
            self._evaluate()
            self.state["next_eval"] = self._next(self.state["next_eval"], self.config.eval_every)
        if self.num_timesteps >= self.state["next_checkpoint"]:
            self.state["next_checkpoint"] = self._next(self.state["next_checkpoint"], self.config.checkpoint_every)
            self.checkpoint()
        self._sums[:] = 0

    def _on_step(self) -> bool:
        env = self.training_env
        t = env.totals
        self._sums += (t["profit"], env.incremental, t["sends"], t["unsubscribes"], t["churned"], t["present"])
        return True

    def _on_rollout_end(self) -> None:
        profit, reward, sends, unsubscribes, churned, present = self._sums
        present = max(present, 1.0)
        self.logger.record("business/profit_per_shopper_day", profit / present)
        self.logger.record("business/reward_per_shopper_day", reward / present)
        self.logger.record("business/sends_per_shopper_day", sends / present)
        self.logger.record("business/unsubscribes_per_1000_shopper_days", 1000 * unsubscribes / present)
        self.logger.record("business/churn_per_1000_shopper_days", 1000 * churned / present)
        self.logger.record("business/env_steps_per_second", self.steps_per_second)

    def _on_training_end(self) -> None:
        self._evaluate()
        self.logger.dump(self.num_timesteps)

    # ------------------------------------------------------------------ evaluation and checkpoints
    @property
    def steps_per_second(self) -> float:
        """Training throughput of this call to ``learn``: env steps (shopper-days) per wall-clock second."""
        return (self.num_timesteps - self._start_steps) / max(time.perf_counter() - self._start, 1e-9)

    def _next(self, due: int, every: int) -> int:
        """The first multiple of ``every`` past ``due`` that is also past now (a rollout may span several)."""
        return due + every * (1 + (self.num_timesteps - due) // every)

    def _evaluate(self) -> None:
        from experiments.runner import run_policy  # the runner imports the registry, which imports this module

        size, seeds = self.eval_market.population.size, self.config.eval_seeds
        holdout = self.state["holdout_profit"]  # no-contact profit by (seed, shoppers): a resumed run may evaluate on other markets
        for k in seeds:
            if (k, size) not in holdout:
                holdout[k, size] = float(run_policy("no_contact", k, self.eval_market, self.guardrails).daily["profit"].sum())
        candidate = self.out / ".eval_model.zip"
        self.model.save(candidate)
        params = dataclasses.asdict(dataclasses.replace(self.config, model_path=str(candidate), resume_from=""))
        results = [run_policy("ppo", k, self.eval_market, self.guardrails, params=params) for k in seeds]
        totals = [r.daily.sum() for r in results]
        row = {  # means over the evaluation markets; violations their total
            "timesteps": self.num_timesteps,
            "incremental_profit_per_shopper": float(np.mean([(d["profit"] - holdout[k, size]) / r.shoppers
                                                             for k, d, r in zip(seeds, totals, results)])),
            "sends_per_shopper": float(np.mean([d["sends"] / r.shoppers for d, r in zip(totals, results)])),
            "unsubscribes": float(np.mean([d["unsubscribes"] for d in totals])),
            "churned": float(np.mean([r.churned for r in results])),
            "violations": float(sum(d["violations"] for d in totals)),
        }
        self.state["evaluations"].append(row)
        for key, value in row.items():
            if key != "timesteps":
                self.logger.record(f"eval/{key}", value)
        if row["incremental_profit_per_shopper"] > self.state["best"]:
            self.state["best"] = row["incremental_profit_per_shopper"]
            os.replace(candidate, self.out / BEST_MODEL)
        else:
            candidate.unlink()
        write_table(pd.DataFrame(self.state["evaluations"]), self.out / "evaluations.csv")
        print(f"ppo: {self.num_timesteps:,} steps ({self.steps_per_second:,.0f}/s); eval on {size:,} shoppers, seeds "
              f"{seeds[-1]}-{seeds[0]}: incremental profit/shopper {row['incremental_profit_per_shopper']:.2f} "
              f"(best {self.state['best']:.2f}), sends/shopper {row['sends_per_shopper']:.1f}, churned {row['churned']:,.0f}", flush=True)

    def checkpoint(self) -> Path:
        """Write ``checkpoints/step_<timesteps>/``: everything :func:`train` needs to resume to the same result.

        ``model.zip`` holds the weights, the optimiser's moments, the timestep and update counters
        and the last observation; ``state.pkl`` the training market (every shopper's state, the
        episode counter and seed), the python, numpy and torch random states, and this callback's
        state (next evaluation, best score so far); ``best_model.zip`` the best model so far.
        """
        folder = self.out / "checkpoints" / f"step_{self.num_timesteps:010d}"
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(folder / "model.zip")
        env = self.model.get_env()  # the TrainingEnv; the wrapper itself does not pickle (abc internals), its parts do
        state = {"market_env": env.venv, "reward_scale": env.reward_scale, "gamma": env.gamma, "use_twin": env.use_twin, "twin": env.twin,
                 "rng": random_states(), "callback": self.state}
        atomic_write(folder / "state.pkl", lambda p: p.write_bytes(cloudpickle.dumps(state)))
        if (self.out / BEST_MODEL).exists():
            shutil.copyfile(self.out / BEST_MODEL, folder / BEST_MODEL)
        return folder


def random_states() -> dict[str, Any]:
    """The global random states SB3 draws from: python's, numpy's (minibatch order) and torch's (actions)."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": th.get_rng_state()}


def restore_random_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    th.set_rng_state(states["torch"])


def resized(market: MarketConfig, size: int) -> MarketConfig:
    """``market`` with ``size`` shoppers at the start; every other setting as given."""
    return dataclasses.replace(market, population=dataclasses.replace(market.population, size=size))


def train(config: PPOConfig, market: MarketConfig, guardrails: GuardrailConfig, out: Path) -> Path:
    """Train MaskablePPO on ``market`` (resized to ``train_shoppers``) into ``out``; returns ``out/best_model.zip``.

    ``out`` receives ``best_model.zip`` (best evaluation), ``final_model.zip``, ``checkpoints/``,
    ``evaluations.csv``, ``training.json`` (timesteps, seconds, env steps per second) and the
    TensorBoard logs ``tb/``. With ``config.resume_from`` the checkpoint's run continues with its
    own hyperparameters (only ``total_timesteps``, evaluation and checkpoint settings are read
    from ``config``) and reaches the parameters the uninterrupted run would have.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    th.set_num_threads(config.threads)
    callback = TrainingCallback(config, resized(market, config.eval_shoppers), guardrails, out)

    if config.resume_from:
        checkpoint = Path(config.resume_from)
        saved = cloudpickle.loads((checkpoint / "state.pkl").read_bytes())
        # force_reset=False keeps the saved last observation: the restored market continues from it.
        env = TrainingEnv(saved["market_env"], saved["reward_scale"], saved["gamma"], saved["use_twin"], saved["twin"])
        model = MaskablePPO.load(checkpoint / "model.zip", env=env, device="cpu", force_reset=False)
        model.tensorboard_log = str(out / "tb")
        callback.state = saved["callback"]
        if (checkpoint / BEST_MODEL).exists():
            shutil.copyfile(checkpoint / BEST_MODEL, out / BEST_MODEL)
        restore_random_states(saved["rng"])  # last: building the loaded networks drew from torch's generator
    else:
        # Seeded here, not with MaskablePPO(seed=...): SB3 would also reseed the env, moving the
        # training market onto the PPO seed (and so onto the comparison's seeds).
        set_random_seed(config.seed)
        venv = MarketVecEnv(resized(market, config.train_shoppers), guardrails, seed=config.train_seed)
        env = TrainingEnv(venv, config.reward_scale, config.gamma, config.twin_baseline)
        model = MaskablePPO(
            FactoredPolicy, env, learning_rate=config.learning_rate, n_steps=config.n_steps or market.horizon_days, batch_size=config.batch_size,
            n_epochs=config.n_epochs, gamma=config.gamma, gae_lambda=config.gae_lambda, clip_range=config.clip_range,
            ent_coef=config.ent_coef, vf_coef=config.vf_coef, max_grad_norm=config.max_grad_norm,
            policy_kwargs={"net_arch": list(config.net_arch), "features_extractor_class": UnitFeatures},
            tensorboard_log=str(out / "tb"), device="cpu", verbose=0,
        )
        contact_prior(model.policy, config.initial_contact)

    start = time.perf_counter()
    first = model.num_timesteps
    model.learn(max(config.total_timesteps - model.num_timesteps, 0), callback=CallbackList([DayCentredAdvantages(), callback]), tb_log_name="ppo",
                reset_num_timesteps=not config.resume_from)
    seconds = time.perf_counter() - start
    model.save(out / FINAL_MODEL)
    summary = {"timesteps": model.num_timesteps, "seconds": seconds, "env_steps_per_second": (model.num_timesteps - first) / seconds,
               "best_incremental_profit_per_shopper": callback.state["best"], "envs": model.n_envs, "resumed_from": config.resume_from}
    atomic_write(out / "training.json", lambda p: p.write_text(json.dumps(summary, indent=2)))
    return out / BEST_MODEL


class PPOPolicy(Policy):
    """A trained MaskablePPO actor: masked action probabilities, one draw per shopper, its probability as propensity.

    The mask is applied before the softmax (sb3-contrib's ``MaskableCategorical``), so a
    forbidden action has probability 0 and is never drawn: no send without consent or over the
    cap. Draws use ``context.rng``, keyed by (seed, day), so a rerun makes the same choices.
    PPO is trained before the runs and frozen during them: ``update`` ignores feedback.
    """

    name = "ppo"

    def __init__(self, network: MaskableActorCriticPolicy, deterministic: bool = False):
        network.set_training_mode(False)
        self.network = network
        self.deterministic = deterministic
        self.exploration = 0.0
        """share of today's decisions that differ from the most probable action"""

    @classmethod
    def from_file(cls, path: Path, deterministic: bool = False) -> PPOPolicy:
        """The policy of a MaskablePPO ``.zip``; loading leaves the caller's torch random state as it was."""
        with th.random.fork_rng(devices=[]):  # building the network draws initial weights before they are overwritten
            model = MaskablePPO.load(Path(path), device="cpu")
        return cls(model.policy, deterministic)

    def probabilities(self, obs: np.ndarray, mask: ActionMask) -> np.ndarray:
        """(n, N_ACTIONS) the policy's probability of every action, exactly 0 where the mask forbids it."""
        if isinstance(self.network.action_net, FactoredHead):
            none, p, q, r, total = self._factors(obs, mask)
            send = p[:, :, None, None] * q[:, None, :, None] * r[:, None, None, :]  # laid out as sim.catalogue.encode
            return np.concatenate([none[:, None], send.reshape(len(obs), -1)], axis=1) / total[:, None]
        with th.no_grad():
            dist = self.network.get_distribution(th.as_tensor(obs, dtype=th.float32), action_masks=mask.dense())
        return dist.distribution.probs.numpy().astype(np.float64)

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        if len(obs) == 0:
            return deterministic(np.zeros(0, dtype=np.int64))
        if isinstance(self.network.action_net, FactoredHead):
            greedy, drawn, propensity = self._factored(obs, mask, context.rng)
        else:  # a MaskablePPO with SB3's flat head (whoever trained it): the 256 masked probabilities
            probs = self.probabilities(obs, mask)
            greedy = probs.argmax(axis=1)
            sample = sampled(probs, context.rng)
            drawn, propensity = sample.actions, sample.propensity
        if self.deterministic:
            return deterministic(greedy)
        self.exploration = float((drawn != greedy).mean())
        return Decision(drawn, propensity)

    def _factored(self, obs: np.ndarray, mask: ActionMask, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(most probable action, a draw, the draw's probability) under :class:`FactoredHead`, without the 256 logits.

        With :math:`p, q, r` the softmaxes of offers, channels and slots and :math:`Q_i` the mass of
        shopper i's allowed channels under q, the masked distribution is exactly

        .. math::  P(0) = \\frac{e^{z_0}}{e^{z_0} + Q_i}, \\qquad
                   P(o, h, s) = \\frac{p_o\\, q_h\\, r_s}{e^{z_0} + Q_i} \\quad (h \\text{ allowed}),

        so a draw is contact-or-not, then an offer, an allowed channel and a slot, each by inverse
        CDF on its own uniform: O(26) per shopper instead of O(256). The probabilities are those of
        :meth:`probabilities` (tested).
        """
        none, p, q, r, total = self._factors(obs, mask)
        rows = np.arange(len(obs))
        u = rng.random((len(obs), 4))
        send = u[:, 0] * total >= none
        o, h, s = inverse_cdf(p, u[:, 1]), inverse_cdf(q, u[:, 2]), inverse_cdf(r, u[:, 3])
        drawn = np.where(send, encode(o, h, s), 0).astype(np.int64)
        propensity = np.where(send, p[rows, o] * q[rows, h] * r[rows, s], none) / total
        best_o, best_h, best_s = p.argmax(axis=1), q.argmax(axis=1), r.argmax(axis=1)
        best_send = p[rows, best_o] * q[rows, best_h] * r[rows, best_s]
        greedy = np.where(best_send > none, encode(best_o, best_h, best_s), 0).astype(np.int64)
        return greedy, drawn, propensity

    def _factors(self, obs: np.ndarray, mask: ActionMask) -> tuple[np.ndarray, ...]:
        """:math:`e^{z_0}`, p, q (0 on forbidden channels), r and :math:`e^{z_0} + Q_i` of :meth:`_factored`, in float64.

        :math:`e^{z_0}` and q are both divided by :math:`e^{\\max(z_0, 0)}`, which leaves every ratio as it is and
        keeps a large :math:`z_0` (a policy sure not to contact) from overflowing.
        """
        with th.no_grad():
            x = th.as_tensor(obs, dtype=th.float32)
            latent = self.network.mlp_extractor.forward_actor(BaseModel.extract_features(self.network, x, self.network.pi_features_extractor))
            z0, offer, channel, slot = (t.numpy().astype(np.float64) for t in self.network.action_net.factors(latent))
        shift = np.maximum(z0, 0.0)
        none = np.exp(z0 - shift)
        q = np.where(mask.channel_ok, np.exp(channel - shift[:, None]), 0.0)
        return none, np.exp(offer), q, np.exp(slot), none + q.sum(axis=1)
