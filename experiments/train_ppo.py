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

from experiments.schema import Config
from policies.ppo import PPOConfig, train


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
