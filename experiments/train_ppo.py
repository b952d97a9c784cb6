"""The ``train_ppo`` task: train PPO alone on the configured market and keep everything it writes.

``offerlab experiment=train_ppo`` (or ``market=long_run``, ``policies.ppo.total_timesteps=...``)
writes into the run folder: ``best_model.zip`` (the best evaluation on the held-out market seed),
``final_model.zip``, ``checkpoints/step_<timesteps>/``, ``evaluations.csv``, ``training.json``
and the TensorBoard logs ``tb/``. A comparison evaluates the model with
``policies.ppo.model_path=<run>/best_model.zip``; a stopped run continues with
``policies.ppo.resume_from=<run>/checkpoints/step_<timesteps>``.
"""

from __future__ import annotations

import json
from pathlib import Path

from experiments.io import atomic_write, write_table
from experiments.runner import run_policy
from experiments.schema import Config
from policies.ppo.config import PPOConfig
from sim.config import GuardrailConfig, MarketConfig


def train(config: PPOConfig, market: MarketConfig, guardrails: GuardrailConfig, out: Path) -> Path:
    """:func:`policies.ppo.training.train` with this layer's runner and atomic writes; returns ``out/best_model.zip``.

    The training stack (torch, stable-baselines3) is imported here, at the first training, so that
    the commands that train nothing start without it.
    """
    from policies.ppo.callbacks import Lab
    from policies.ppo.training import train as train_ppo

    return train_ppo(config, market, guardrails, out, Lab(run_policy=run_policy, atomic_write=atomic_write, write_table=write_table))


def run_task(cfg: Config, run_dir: Path) -> None:
    """``task=train_ppo``: train, then print where the model, checkpoints and logs are."""
    best = train(PPOConfig(**cfg.policies.get("ppo", {})), cfg.market, cfg.guardrails, run_dir)
    summary = json.loads((run_dir / "training.json").read_text())
    print(f"\ntrained {summary['timesteps']:,} shopper-days in {summary['seconds']:,.0f} s "
          f"({summary['env_steps_per_second']:,.0f} env steps/s on {summary['envs']:,} parallel shoppers)")
    print(f"best model:  {best}  (incremental profit/shopper {summary['best_incremental_profit_per_shopper']:.2f}, mean of the held-out evaluation markets)")
    print(f"final model: {run_dir / 'final_model.zip'}")
    print(f"checkpoints: {run_dir / 'checkpoints'}")
    print(f"TensorBoard: tensorboard --logdir {run_dir / 'tb'}")
