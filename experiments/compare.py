"""The ``compare`` task: every policy of the experiment on every seed, then tables, plots and a report."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from concurrent.futures import Executor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from omegaconf import OmegaConf
from tqdm import tqdm

from experiments.io import write_table
from experiments.metrics import HOLDOUT, archetype_table, comparison_table, daily_table, mix_table, summary_table
from experiments.report import markdown_table, write_plots, write_report
from experiments.runner import RunResult, run_all
from experiments.schema import Config
from experiments.tensorboard import write_tensorboard
from experiments.train_ppo import train as train_ppo
from experiments.train_uplift import train as train_uplift
from experiments.workers import process_pool
from policies.registry import TRAINED
from sim.config import GuardrailConfig, MarketConfig


def compare(cfg: Config, run_dir: Path) -> pd.DataFrame:
    """Run the experiment and write its folder; returns the comparison table."""
    exp = cfg.experiment
    policies = list(dict.fromkeys([HOLDOUT, *exp.policies]))  # the holdout twin is always run
    bar = tqdm(total=len(policies) * len(exp.seeds), desc=f"compare on {cfg.market.name}", unit="run")
    with DecisionWriter(run_dir / "decisions.parquet") if exp.log_shoppers else nullcontext() as writer:

        def progress(result: RunResult) -> None:
            bar.set_postfix_str(f"{result.policy} seed {result.seed}")
            bar.update()
            if writer is not None and result.decisions is not None:
                writer.write(result.decisions)
                result.decisions = None  # streamed to disk: memory stays flat however many runs

        results, trained_seconds = run_with_training(cfg, policies, run_dir, progress)
    bar.close()
    for result in results:
        result.train_seconds += trained_seconds.get(result.policy, 0.0)

    daily = daily_table(results)
    mix = mix_table(results)
    comparison = write_tables(summary_table(results), daily, archetype_table(results), mix, run_dir)
    write_tensorboard(results, daily, OmegaConf.to_yaml(OmegaConf.structured(cfg)), run_dir)
    write_report(comparison, daily, conditions(cfg, exp.seeds), run_dir, mix)
    return comparison


def write_tables(summary: pd.DataFrame, daily: pd.DataFrame, archetypes: pd.DataFrame, mix: pd.DataFrame, out: Path) -> pd.DataFrame:
    """The comparison of ``summary``, and every table and plot of a comparison folder written into ``out``
    (a compare run's or a gathered sweep's); each file appears whole or not at all."""
    comparison = comparison_table(summary)
    for name, table in (("summary", summary), ("comparison", comparison)):
        write_table(table, out / f"{name}.csv")
        write_table(table, out / f"{name}.parquet")
    write_table(daily, out / "daily.parquet")
    write_table(archetypes, out / "archetypes.csv")
    write_table(mix, out / "action_mix.csv")
    write_plots(daily, mix, archetypes, out)
    return comparison


def conditions(cfg: Config, seeds: list[int]) -> str:
    """The report's first paragraph: the market, seeds and guardrails the numbers hold for."""
    return (
        f"Market `{cfg.market.name}`: {cfg.market.population.size:,} shoppers at the start, {cfg.market.horizon_days} days from "
        f"{cfg.market.start_date}; seeds {list(seeds)} (common random numbers: every policy meets the same shoppers); "
        f"frequency cap {cfg.guardrails.frequency_cap_7d} per 7 days; daily budget {cfg.guardrails.daily_budget or 'none'}. "
        f"Intervals are 95% Student-t across seeds; differences are paired by seed. Python {platform.python_version()}, "
        f"{platform.machine()}."
    )


def run_with_training(cfg: Config, policies: list[str], run_dir: Path,
                      progress: Callable[[RunResult], None]) -> tuple[list[RunResult], dict[str, float]]:
    """Every policy on every seed, the trained ones trained first; the results in policy-major order, and the seconds
    spent training each.

    Each trained policy (:data:`policies.registry.TRAINED`: PPO, ``uplift_<model>``) learns once, on its own market
    seeds, into ``run_dir/<name>/``, unless ``policies.<name>.model_path`` names a model; its runs then all load
    the same model and act with it, frozen. Training takes one core for minutes, so with ``jobs`` >= 2 each
    training is one task of the pool that runs the other policies' runs meanwhile; the trained policies' runs
    follow. The results do not depend on ``jobs``.
    """
    exp = cfg.experiment
    params = dict(cfg.policies)
    save_dir = run_dir / "policies" if exp.save_policies else None

    def runs(names: list[str], pool: Executor | None) -> list[RunResult]:
        return run_all(names, exp.seeds, cfg.market, cfg.guardrails, exp.log_shoppers, exp.jobs, progress, params, save_dir, pool)

    configs = {name: TRAINED[name](**params.get(name, {})) for name in policies if name in TRAINED}
    untrained = [name for name, config in configs.items() if not config.model_path]
    if not untrained:
        return runs(policies, None), {}
    others = [p for p in policies if p not in untrained]
    tasks = [(name, configs[name], cfg.market, cfg.guardrails, run_dir / name) for name in untrained]
    with process_pool(exp.jobs) if exp.jobs > 1 else nullcontext() as pool:
        if pool is None:
            trained = [timed_training(*task) for task in tasks]
            results = runs(others, None)
        else:
            training = [pool.submit(timed_training, *task) for task in tasks]
            results = runs(others, pool)
            trained = [t.result() for t in training]
        for name, (model, _) in zip(untrained, trained):
            params[name] = {**params.get(name, {}), "model_path": str(model)}
        results += runs(untrained, pool)
    order = {p: k for k, p in enumerate(policies)}
    return sorted(results, key=lambda r: order[r.policy]), {name: seconds for name, (_, seconds) in zip(untrained, trained)}


def timed_training(name: str, config: Any, market: MarketConfig, guardrails: GuardrailConfig, out: Path) -> tuple[Path, float]:
    """Train the policy ``name`` (PPO: :func:`experiments.train_ppo.train`; ``uplift_<model>``:
    :func:`experiments.train_uplift.train`), and its wall seconds (a module-level function: it runs in a worker process)."""
    start = time.perf_counter()
    model = train_ppo(config, market, guardrails, out) if name == "ppo" else train_uplift(name, config, market, guardrails, out)
    return model, time.perf_counter() - start


class DecisionWriter:
    """Streams decision-log frames into one parquet file, moved into place only once complete."""

    def __init__(self, path: Path):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")
        self.writer: pq.ParquetWriter | None = None

    def __enter__(self) -> DecisionWriter:
        return self

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.tmp, table.schema)
        self.writer.write_table(table)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.writer is not None:
            self.writer.close()
        if exc_type is None and self.tmp.exists():
            self.tmp.replace(self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def run_task(cfg: Config, run_dir: Path) -> None:
    """``task=compare``: run, write the folder, print the headline table."""
    print(markdown_table(compare(cfg, run_dir)))
    print(f"\nreport: {run_dir / 'report.md'}")
