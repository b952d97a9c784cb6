"""The runner: every policy on the same shoppers, seed by seed, and what happened.

One run is one policy on one market seed for the whole horizon. Each day the runner observes the
shoppers present, asks the policy for a decision under the guardrail mask, and steps the market on
the proposals (with the policy's priority for the daily budget); the market's guardrails decide
once what runs, and the runner takes the executed actions from the market's outcome. What ran is
what the learners learn from and what the decision log holds, both cut from one
:class:`policies.attribution.Attribution`. It knows nothing about which kind of policy it holds. Runs of different policies on the same seed meet the same shoppers with
the same random numbers (``sim/streams.py``), so their difference is the policies' doing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from experiments.workers import process_pool
from policies.attribution import Attribution, Decisions
from policies.base import MarketDay, Policy
from policies.decision_log import log_frame
from policies.registry import make_policy
from sim.catalogue import ACTION_CHANNEL, ACTION_OFFER, ACTION_SLOT, N_ACTIONS
from sim.config import ARCHETYPES, GuardrailConfig, MarketConfig
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
    sends_by_archetype: np.ndarray
    """(archetypes, N_ACTIONS) delivered messages per archetype of the shopper who got them (latent: for the report only)"""
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
    attribution window closed that day (:class:`policies.attribution.Attribution`). With
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
    learns = bool(getattr(policy, "learns", False))
    n, horizon = market.n_rows, market_config.horizon_days
    logged = logged_rows(n, seed, log_shoppers) if log_shoppers else None
    attribution = Attribution(track=None if learns else logged) if learns or logged is not None else None
    log: list[Decisions] = []

    def keep_logged(decisions: Decisions | None) -> None:
        """The logged shoppers' rows of a released batch into the log (a learner's batches hold every shopper's)."""
        if logged is not None and decisions is not None:
            log.append(decisions.subset(np.isin(decisions.rows, logged)) if learns else decisions)

    profit_by_row = np.zeros(n, dtype=np.float64)
    purchases_by_row = np.zeros(n, dtype=np.int64)
    sends_by_day = np.zeros((horizon, N_ACTIONS), dtype=np.int64)
    sends_by_archetype = np.zeros((len(ARCHETYPES), N_ACTIONS), dtype=np.int64)
    exploration = np.zeros(horizon)
    decide = learn = 0.0
    for t in range(horizon):
        day = MarketDay.of(market)
        rows, obs = day.rows, day.obs
        start = time.perf_counter()
        decision = policy.act(obs, day.mask, day.context)
        decide += time.perf_counter() - start
        exploration[t] = getattr(policy, "exploration", 0.0)
        if decision.actions.shape != (rows.size,):
            raise ValueError(f"policy {policy_name}: returned {decision.actions.shape} actions for {rows.size} shoppers")
        day.step(market, decision)
        out = market.outcome
        profit_by_row += out.profit
        purchases_by_row += out.purchases
        sends_by_day[t] = np.bincount(out.action[out.sent], minlength=N_ACTIONS)
        np.add.at(sends_by_archetype, (market.latent().archetype[out.sent], out.action[out.sent]), 1)
        if attribution is None:
            continue
        start = time.perf_counter()
        today = Decisions.executed(t, rows, obs, decision.actions, decision.propensity, out.action[rows], out.refusal[rows], out.opened[rows])
        if learns:
            policy.pending(today.feedback(with_reward=False))
        attribution.add(t, today)
        attribution.credit(t, out.profit)
        matured = attribution.matured(t)
        if matured is not None and learns:
            feedback = matured.feedback()
            if getattr(policy, "looks_ahead", False):  # the record each decision left behind (bandits.long_term)
                feedback.after, feedback.ended = market.observe(matured.rows), ~market.present[matured.rows]
            policy.update(feedback)
        keep_logged(matured)
        if learns:
            learn += time.perf_counter() - start
    if logged is not None:
        keep_logged(attribution.unmatured())
    if save_dir is not None and learns:
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
        sends_by_archetype=sends_by_archetype,
        exploration=exploration,
        churned=int(market.state.churned.sum()),
        shoppers=int((market.profile.join_day < horizon).sum()),
        decide_seconds=decide,
        train_seconds=learn,
        decisions=log_frame(policy_name, seed, Decisions.concat(log)) if log else None,
    )


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
    with nullcontext(pool) if pool is not None else process_pool(jobs) as executor:
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
