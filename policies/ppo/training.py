"""Training PPO on the market (:func:`train`), read top to bottom as in cleanrl.

The training market, the model, the callbacks (advantage centring; business curves, evaluation,
checkpoints), ``learn``. The objective and the reward are those of :mod:`policies.ppo` and
:mod:`policies.ppo.reward`; the seeds those of :class:`~policies.ppo.config.PPOConfig`.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import cloudpickle
import torch as th
from sb3_contrib import MaskablePPO
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.utils import set_random_seed

from policies.ppo.callbacks import BEST_MODEL, DayCentredAdvantages, Lab, TrainingCallback, restore_random_states
from policies.ppo.cloning import clone
from policies.ppo.config import PPOConfig
from policies.ppo.network import FactoredPolicy, UnitFeatures, contact_prior
from policies.ppo.reward import TrainingEnv
from sim.config import GuardrailConfig, MarketConfig
from sim.vec_env import MarketVecEnv

FINAL_MODEL = "final_model.zip"
CLONE_REPORT = "clone.json"


def resized(market: MarketConfig, size: int) -> MarketConfig:
    """``market`` with ``size`` shoppers at the start; every other setting as given."""
    return dataclasses.replace(market, population=dataclasses.replace(market.population, size=size))


def train(config: PPOConfig, market: MarketConfig, guardrails: GuardrailConfig, out: Path, lab: Lab) -> Path:
    """Train MaskablePPO on ``market`` (resized to ``train_shoppers``) into ``out``; returns ``out/best_model.zip``.

    ``out`` receives ``best_model.zip`` (best evaluation), ``final_model.zip``, ``checkpoints/``,
    ``evaluations.csv``, ``training.json`` (timesteps, seconds, env steps per second) and the
    TensorBoard logs ``tb/``. With ``config.resume_from`` the checkpoint's run continues with its
    own hyperparameters (only ``total_timesteps``, evaluation and checkpoint settings are read
    from ``config``) and reaches the parameters the uninterrupted run would have. ``lab`` evaluates and
    writes files (:class:`~policies.ppo.callbacks.Lab`; :func:`experiments.train_ppo.train` passes offerlab's).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    th.set_num_threads(config.threads)
    callback = TrainingCallback(config, resized(market, config.eval_shoppers), guardrails, out, lab)

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
        if config.clone:
            cloned = clone(model.policy, config.clone, resized(market, config.clone_shoppers), guardrails,
                           seeds=[config.train_seed + k for k in range(config.clone_rounds)], held_out_seed=config.train_seed + config.clone_rounds,
                           epochs=config.clone_epochs, batch_size=config.batch_size, learning_rate=config.clone_learning_rate,
                           deterministic=config.deterministic)
            lab.atomic_write(out / CLONE_REPORT, lambda p: p.write_text(json.dumps(dataclasses.asdict(cloned), indent=2)))
            print(f"ppo: cloned {cloned.teacher} in {cloned.seconds:,.0f} s ({cloned.labels:,} labelled shopper-days, {cloned.rounds} rounds); "
                  f"held out: agreement {cloned.agreement:.1%}, sends {cloned.student_send_share:.1%} vs the teacher's "
                  f"{cloned.teacher_send_share:.1%}, the teacher's sends matched {cloned.send_agreement:.1%}", flush=True)

    start = time.perf_counter()
    first = model.num_timesteps
    model.learn(max(config.total_timesteps - model.num_timesteps, 0), callback=CallbackList([DayCentredAdvantages(), callback]), tb_log_name="ppo",
                reset_num_timesteps=not config.resume_from)
    seconds = time.perf_counter() - start
    model.save(out / FINAL_MODEL)
    summary = {"timesteps": model.num_timesteps, "seconds": seconds, "env_steps_per_second": (model.num_timesteps - first) / seconds,
               "best_incremental_profit_per_shopper": callback.state["best"], "envs": model.n_envs, "resumed_from": config.resume_from}
    lab.atomic_write(out / "training.json", lambda p: p.write_text(json.dumps(summary, indent=2)))
    return out / BEST_MODEL
