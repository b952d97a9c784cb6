"""What runs beside PPO's updates: advantage centring, evaluation, checkpoints and the business curves on TensorBoard."""

from __future__ import annotations

import dataclasses
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import torch as th
from stable_baselines3.common.callbacks import BaseCallback

from policies.ppo.config import PPOConfig
from sim.config import GuardrailConfig, MarketConfig

BEST_MODEL = "best_model.zip"


@dataclass(frozen=True)
class Lab:
    """The experiment layer's tools that training uses, passed in because ``policies/`` must not import ``experiments/``.

    :func:`experiments.train_ppo.train` passes offerlab's: the comparison runner, so that an
    evaluation during training measures a model exactly as a comparison does, and the atomic file
    writes every run folder uses, so that a stopped training leaves no half-written file.
    """

    run_policy: Callable[..., Any]
    """``run_policy(name, seed, market, guardrails, params=...)``, returning a run with ``daily``, ``shoppers`` and ``churned``"""
    atomic_write: Callable[[Path, Callable[[Path], None]], Path]
    """``atomic_write(path, write)``: ``write(tmp)``, then ``tmp`` renamed to ``path``"""
    write_table: Callable[[pd.DataFrame, Path], Path]
    """``write_table(df, path)``: a table as CSV or parquet, written atomically"""


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
    the comparison runner (``lab.run_policy``) on the ``eval_markets`` held-out evaluation
    markets, and its incremental profit per shopper over the horizon is measured against the
    no-contact twin on the same seed, as a comparison measures it; the best mean so far is kept.
    Evaluations and checkpoints happen at the start of a rollout, when the model, the optimiser
    and the training market are between updates, so a checkpoint is a state training can resume
    from exactly.
    """

    def __init__(self, config: PPOConfig, eval_market: MarketConfig, guardrails: GuardrailConfig, out: Path, lab: Lab):
        super().__init__()
        self.config, self.eval_market, self.guardrails, self.out, self.lab = config, eval_market, guardrails, out, lab
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
        run_policy = self.lab.run_policy
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
        self.lab.write_table(pd.DataFrame(self.state["evaluations"]), self.out / "evaluations.csv")
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
        self.lab.atomic_write(folder / "state.pkl", lambda p: p.write_bytes(cloudpickle.dumps(state)))
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
