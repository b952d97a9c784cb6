"""The runner: every policy on the same shoppers, seed by seed, and what happened.

One run is one policy on one market seed for the whole horizon. Each day the runner observes the
shoppers present, asks the policy for a decision under the guardrail mask, trims the sends to the
daily budget in the policy's priority order, and steps the market. It knows nothing about which
kind of policy it holds. Runs of different policies on the same seed meet the same shoppers with
the same random numbers (``sim/streams.py``), so their difference is the policies' doing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from bandits.delayed import DelayedRewards
from policies.base import DecisionContext, Feedback, Policy
from policies.registry import make_policy
from sim.catalogue import ACTION_CHANNEL, ACTION_OFFER, ACTION_SLOT, N_ACTIONS, VALIDITY_DAYS
from sim.config import GuardrailConfig, MarketConfig
from sim.features import FEATURE_NAMES
from sim.guardrails import trim_to_budget
from sim.market import MarketModel


@dataclass
class RunResult:
    """What one policy did on one seed; everything the report needs, nothing market-sized but per-row arrays."""

    policy: str
    seed: int
    daily: pd.DataFrame
    """one row per day: the market's daily totals (sim.market.DAILY_METRICS)"""
    profit_by_row: np.ndarray
    """(n_rows,) profit per shopper over the horizon"""
    purchases_by_row: np.ndarray
    archetype: np.ndarray
    sends_by_day: np.ndarray
    """(days, N_ACTIONS) delivered messages per day and action"""
    exploration: np.ndarray
    """(days,) share of decisions that differ from the policy's greedy choice (0 for non-learners)"""
    churned: int
    shoppers: int
    decide_seconds: float
    train_seconds: float
    """time spent learning: updates from matured rewards (and offline training, for PPO)"""
    decisions: pd.DataFrame | None = field(default=None, repr=False)


def logged_rows(n_rows: int, seed: int, count: int) -> np.ndarray:
    """The shoppers whose decisions are logged: the same random subset for every policy on a seed."""
    if count < 0 or count >= n_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng([seed, 20_240_601]).choice(n_rows, size=count, replace=False))


def run_policy(
    policy_name: str, seed: int, market_config: MarketConfig, guardrails: GuardrailConfig, log_shoppers: int = 0, params: dict | None = None,
    save_dir: Path | None = None, factory: Callable[[MarketModel], Policy] | None = None,
) -> RunResult:
    """Run ``policy_name`` on the market of ``seed`` for the whole horizon.

    ``factory`` builds the policy from the market instead of the registry (a variant that is
    not a named policy, such as the oracles of ``studies/oracle_information.py``).

    A learning policy (``policy.learns``) is fed, at the end of each day, the decisions whose
    attribution window closed that day (:class:`bandits.delayed.DelayedRewards`). With
    ``save_dir``, its final state is saved there as ``<policy_name>_seed<seed>`` with the suffix
    its ``save`` gives (bandits: ``.npz``), for ``experiment=export``; rules and baselines have no
    trained state and are not saved.

    BLAS runs on one thread: a day's products are small, so a threaded BLAS spins more than it
    computes (measured: a 10,000-shopper, 60-day LinUCB run took 24.4 s with two threads on a
    busy 2-core machine, 3.2 s with one), and ``jobs`` parallel runs would oversubscribe the cores.
    """
    with threadpool_limits(limits=1):
        return _run(policy_name, seed, market_config, guardrails, log_shoppers, params, save_dir, factory)


def _run(
    policy_name: str, seed: int, market_config: MarketConfig, guardrails: GuardrailConfig, log_shoppers: int, params: dict | None,
    save_dir: Path | None, factory: Callable[[MarketModel], Policy] | None,
) -> RunResult:
    market = MarketModel(market_config, guardrails, seed=seed)
    policy = factory(market) if factory is not None else make_policy(policy_name, market, params)
    delayed = DelayedRewards() if getattr(policy, "learns", False) else None
    n, horizon = market.n_rows, market_config.horizon_days
    profit_by_row = np.zeros(n, dtype=np.float64)
    purchases_by_row = np.zeros(n, dtype=np.int64)
    sends_by_day = np.zeros((horizon, N_ACTIONS), dtype=np.int64)
    exploration = np.zeros(horizon)
    log = _DecisionLog(logged_rows(n, seed, log_shoppers), horizon) if log_shoppers else None
    decide = learn = 0.0
    for t in range(horizon):
        rows = np.flatnonzero(market.present)
        obs = market.observe(rows)
        mask = market.action_mask().subset(rows)
        ctx = DecisionContext(day=t, weekday=market.calendar.weekday(t), rng=market.streams.rng("policy", t), rows=rows)
        start = time.perf_counter()
        decision = policy.act(obs, mask, ctx)
        decide += time.perf_counter() - start
        exploration[t] = getattr(policy, "exploration", 0.0)
        if decision.actions.shape != (rows.size,):
            raise ValueError(f"policy {policy_name}: returned {decision.actions.shape} actions for {rows.size} shoppers")
        actions = np.zeros(n, dtype=np.int64)
        actions[rows] = decision.actions
        priority = None
        if decision.priority is not None:
            priority = np.zeros(n)
            priority[rows] = decision.priority
        actions = trim_to_budget(actions, guardrails.daily_budget, priority)
        market.step(actions)
        out = market.outcome
        profit_by_row += out.profit
        purchases_by_row += out.purchases
        sends_by_day[t] = np.bincount(actions[out.sent], minlength=N_ACTIONS)
        if log is not None:
            log.record(t, rows, obs, decision.actions, decision.propensity, out.profit)
        if delayed is not None:
            start = time.perf_counter()
            delayed.add(t, rows, obs, actions[rows], decision.propensity, out.opened[rows])
            policy.pending(Feedback(np.full(rows.size, t), obs, actions[rows], decision.propensity, np.full(rows.size, np.nan), out.opened[rows]))
            delayed.credit(t, out.profit)
            feedback = delayed.matured(t)
            if feedback is not None:
                policy.update(feedback)
            learn += time.perf_counter() - start
    if save_dir is not None and delayed is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        policy.save(save_dir / f"{policy_name}_seed{seed}", seed)
    daily = market.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    return RunResult(
        policy=policy_name,
        seed=seed,
        daily=daily,
        profit_by_row=profit_by_row,
        purchases_by_row=purchases_by_row,
        archetype=market.latent().archetype.copy(),
        sends_by_day=sends_by_day,
        exploration=exploration,
        churned=int(market.state.churned.sum()),
        shoppers=int((market.profile.join_day < horizon).sum()),
        decide_seconds=decide,
        train_seconds=learn,
        decisions=log.table(policy_name, seed) if log is not None else None,
    )


class _DecisionLog:
    """Decisions of the logged shoppers, and the reward each one matured into.

    The reward of a decision on day t is the shopper's profit over days t .. t+W-1 (W = the
    offer validity, 7 days): the window in which an opened offer can be redeemed. Decisions
    whose window runs past the horizon are kept with ``matured = False``.
    """

    def __init__(self, rows: np.ndarray, horizon: int):
        self.rows = rows
        self.horizon = horizon
        self.profit = np.zeros((horizon, rows.size), dtype=np.float64)
        self.chunks: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def record(self, day: int, decided: np.ndarray, obs: np.ndarray, actions: np.ndarray, propensity: np.ndarray, profit: np.ndarray) -> None:
        self.profit[day] = profit[self.rows]
        pick = np.flatnonzero(np.isin(decided, self.rows, assume_unique=True))
        self.chunks.append((day, decided[pick], obs[pick], actions[pick], propensity[pick]))

    def table(self, policy: str, seed: int) -> pd.DataFrame:
        window = np.cumsum(np.vstack([np.zeros((1, self.rows.size)), self.profit]), axis=0)
        frames = []
        for day, shoppers, obs, actions, propensity in self.chunks:
            col = np.searchsorted(self.rows, shoppers)
            end = min(day + VALIDITY_DAYS, self.horizon)
            frame = pd.DataFrame(obs, columns=list(FEATURE_NAMES))
            frame.insert(0, "shopper", shoppers)
            frame.insert(0, "day", day)
            frame["action"] = actions
            frame["propensity"] = propensity
            frame["reward"] = window[end, col] - window[day, col]
            frame["matured"] = day + VALIDITY_DAYS <= self.horizon
            frames.append(frame)
        out = pd.concat(frames, ignore_index=True)
        out.insert(0, "seed", seed)
        out.insert(0, "policy", policy)
        return out


def run_all(
    policies: Sequence[str],
    seeds: Sequence[int],
    market_config: MarketConfig,
    guardrails: GuardrailConfig,
    log_shoppers: int = 0,
    jobs: int = 1,
    progress: Callable[[RunResult], None] | None = None,
    params: dict[str, dict] | None = None,
    save_dir: Path | None = None,
    pool: Executor | None = None,
) -> list[RunResult]:
    """Every policy on every seed (policy-major order), in ``jobs`` processes; results do not depend on ``jobs``.

    ``params`` maps a learner's name to its hyperparameters; ``save_dir`` is :func:`run_policy`'s.
    With ``pool``, the runs go to that executor instead (shared with other work; ``jobs`` is then
    its business). Results and ``progress`` calls come in task order either way.
    """
    params = params or {}
    tasks = [(p, s, market_config, guardrails, log_shoppers, params.get(p), save_dir) for p in policies for s in seeds]
    results: list[RunResult] = []
    if pool is None and jobs <= 1:
        for task in tasks:
            results.append(run_policy(*task))
            if progress:
                progress(results[-1])
        return results
    with nullcontext(pool) if pool is not None else ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as executor:
        for result in executor.map(_run_task, tasks):
            results.append(result)
            if progress:
                progress(result)
    return results


def _run_task(task: tuple) -> RunResult:
    return run_policy(*task)


def action_mix(sends_by_action: np.ndarray) -> dict[str, np.ndarray]:
    """Delivered messages per channel, offer and slot, from the per-action counts."""
    sent = sends_by_action[1:]
    return {
        "channel": np.bincount(ACTION_CHANNEL[1:], weights=sent),
        "offer": np.bincount(ACTION_OFFER[1:], weights=sent),
        "slot": np.bincount(ACTION_SLOT[1:], weights=sent),
    }
