r"""Off-policy evaluation scored against the simulator's truth: every estimator, on logs of four logging policies.

A shop evaluates a candidate policy on the log of the policy it runs. The simulator can do what a
shop cannot: run the candidate on the very same shoppers and see what it earns. For each logging
policy :math:`b` of :data:`LOGGERS` and each market seed, the candidates (:func:`candidates`: the
other loggers and the oracle) are estimated from :math:`b`'s decision log by every estimator of
:mod:`policies.ope` and set beside two true values, kept apart.

**The per-decision value over the 7-day window** (the contextual-bandit estimand, what the
estimators estimate): the mean, over the decisions in the log, of the reward (profit over the
7-day window, :mod:`policies.attribution`) had the candidate made that one decision,

.. math::  V_7(\pi_e) = \mathbb E_{(i,t) \sim d_b}\, \mathbb E_{a \sim \pi_e(\cdot|x_{it})}\big[r_{it}(a)\big],

the shopper's earlier and later decisions being :math:`b`'s. Its truth is measured by a *probe*
run: the logger runs the market of the same seed again, and each shopper gets the candidate's
decision on one day drawn uniformly from the days whose window closes inside the horizon
(:math:`0..H-W`), the logger's on every other day. A shopper present on their probe day has met
exactly the logger's history until then, so the mean probe reward is an unbiased estimate of
:math:`V_7` over the present shopper-days, the rows the log holds; its standard error over the
probes is reported (about 50,000 probes a run). A learning logger is not fed its probes' outcomes
(they are not its decisions), so it learns from about 1.2% fewer decisions than in its own run.

**The whole-horizon incremental profit per shopper** (what a shop wants to know): the
candidate's own run on the same seed against no contact's, the comparison's measure. The
estimators give it only by extrapolation: if a decision's effect ended with its window and
decisions added up, the candidate would earn over the horizon :math:`D\,[V_7(\pi_e) - V_7(\pi_0)]`
more than no contact, with :math:`D` the decisions per shopper in the log and :math:`\pi_0` no
contact; each estimator's extrapolation is that, with the paired bootstrap interval of the
difference. The same extrapolation of the probe truths (:math:`D` times the probes' difference)
separates the gap between the estimands from the estimators' own error.

The oracle reads latent traits a log does not hold: while the logger runs, the oracle's choice for
every logged shopper on every day is recorded from the live market, and replayed as a
deterministic candidate. ``thompson`` as a candidate is the learner trained on another seed
(:data:`TRAIN_SEED`) and frozen; as a logger it learns from nothing, as in the comparison, and logs
its estimated propensities (:class:`bandits.thompson.LinearThompson`).

Scores: relative error :math:`|\hat V - V| / |V|`, the share of seeds whose 95% interval holds
the truth (coverage), and the Spearman rank correlation of estimated and true values over the
candidates of one log (what a shop uses OPE for: picking the best), averaged over logs.

Run on demand (21 minutes on 2 idle cores): ``python -m studies.ope_truth [--seeds 0 1 2 3 4]
[--log-shoppers 1000] [--jobs 2] [--out DIR]``; writes ``truth.csv`` (every estimate beside its
truths), ``run.json`` (the conditions) and ``truth.md`` (the tables; ``--report`` writes it again from
the other two) to ``--out``; docs/results/ope.md holds the run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from experiments.io import write_table, write_text
from experiments.runner import logged_rows, run_policy
from experiments.workers import process_pool
from policies.base import Decision, DecisionContext, Feedback, Policy, deterministic
from policies.ope.estimators import ESTIMATORS, Estimate, Logged, percentile_interval, replicates, row_terms
from policies.ope.evaluate import evaluate, shopper_groups
from policies.registry import make_policy
from sim.catalogue import VALIDITY_DAYS
from sim.config import GuardrailConfig, MarketConfig
from sim.guardrails import ActionMask
from sim.market import MarketModel
from studies.long_term_value import market

LOGGERS = ("random", "rules_rfm", "blast", "thompson")
ORACLE = "oracle"
BASELINE = "no_contact"
FROZEN = "thompson_frozen"
"""the run name of the candidate ``thompson``: the learner trained on :data:`TRAIN_SEED`, frozen (the logger ``thompson`` learns)"""
TRAIN_SEED = 100
"""the market seed the frozen ``thompson`` candidate learned on (never an evaluation seed)"""
REPLICATES = 500
OPE = {"folds": 5, "ridge": 1.0, "fit_rows": 50_000, "replicates": REPLICATES, "min_support": 30}
"""the estimators' settings: ``offerlab experiment=ope``'s defaults (experiments.schema.OpeConfig)"""
ESTIMANDS = {"per_decision_7d": "per-decision value over the 7-day window", "horizon_incremental": "whole-horizon incremental profit per shopper"}


def candidates(logger: str) -> list[str]:
    """The candidates scored on ``logger``'s log: the other loggers and the oracle."""
    return [c for c in LOGGERS if c != logger] + [ORACLE]


def run_name(candidate: str) -> str:
    """The name the candidate is built and run under (:func:`build`): ``thompson`` as a candidate is the frozen learner."""
    return FROZEN if candidate == "thompson" else candidate


def candidate_name(run: str) -> str:
    """The inverse of :func:`run_name`."""
    return "thompson" if run == FROZEN else run


class Delegating(Policy):
    """A policy that answers as ``inner`` does, for the wrappers below to change one thing each."""

    def __init__(self, inner: Policy) -> None:
        self.inner = inner

    def __getattr__(self, attr: str) -> Any:
        if attr == "inner":  # not set yet (unpickling): no recursion
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        return self.inner.act(obs, mask, context)

    def update(self, feedback: Feedback) -> None:
        self.inner.update(feedback)

    def pending(self, decisions: Feedback) -> None:
        self.inner.pending(decisions)


class Frozen(Delegating):
    """A trained learner that acts and no longer learns: a fixed policy, the kind off-policy evaluation evaluates."""

    learns = False


class Recording(Delegating):
    """The logger, acting as it does, while the oracle's choice for each logged shopper is recorded from the live market."""

    def __init__(self, inner: Policy, market: MarketModel, logged: np.ndarray) -> None:
        super().__init__(inner)
        self.oracle = make_policy(ORACLE, market)
        self.logged = logged
        self.recorded: list[tuple[np.ndarray, np.ndarray]] = []
        """per day: the keys (day * rows + shopper) and the oracle's actions"""

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        decision = self.inner.act(obs, mask, context)
        idx = np.flatnonzero(np.isin(context.rows, self.logged))
        if idx.size:
            sub = DecisionContext(context.day, context.weekday, np.random.default_rng(0), context.rows[idx])  # the oracle draws nothing
            actions = self.oracle.act(obs[idx], mask.subset(idx), sub).actions
            self.recorded.append((context.day * self.oracle.market.n_rows + context.rows[idx], actions))
        return decision


class Replayed(Policy):
    """A deterministic candidate that makes, on each logged (day, shopper), the choice recorded for it live."""

    name = ORACLE

    def __init__(self, keys: np.ndarray, actions: np.ndarray, n_rows: int) -> None:
        order = np.argsort(keys)
        self.keys, self.actions, self.n_rows = keys[order], actions[order], n_rows

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        keys = context.day * self.n_rows + np.asarray(context.rows, dtype=np.int64)
        at = np.searchsorted(self.keys, keys)
        if (at >= self.keys.size).any() or (self.keys[np.minimum(at, self.keys.size - 1)] != keys).any():
            raise KeyError("a logged (day, shopper) has no recorded oracle choice")
        return deterministic(self.actions[at])


class Probing(Delegating):
    """The logger, but each shopper gets the candidate's decision on their probe day; each probe's 7-day profit is summed.

    ``probe_day`` (market rows,) is each shopper's probe day. The outcome of day t is read when day t+1
    is decided (:meth:`act`), and the last day's by :meth:`close`.
    """

    def __init__(self, inner: Policy, candidate: Policy, market: MarketModel, probe_day: np.ndarray, seed: int) -> None:
        super().__init__(inner)
        self.candidate, self.market, self.probe_day, self.seed = candidate, market, probe_day, seed
        self.reward = np.zeros(market.n_rows)
        self.probed = np.zeros(market.n_rows, dtype=bool)
        self.probes_of_day: dict[int, np.ndarray] = {}
        self.credited = -1

    def _credit(self, day: int) -> None:
        """Add the profit of ``day`` (the market's last outcome) to the probes whose window covers it."""
        if day <= self.credited:
            return
        covering = self.probed & (self.probe_day <= day) & (day < self.probe_day + VALIDITY_DAYS)
        self.reward[covering] += self.market.outcome.profit[covering]
        self.credited = day

    def close(self) -> tuple[float, float, int]:
        """After the run: the probes' mean 7-day reward, its standard error, and the number of probes."""
        self._credit(self.market.day - 1)
        r = self.reward[self.probed]
        return float(r.mean()), float(r.std(ddof=1) / np.sqrt(r.size)), int(r.size)

    def act(self, obs: np.ndarray, mask: ActionMask, context: DecisionContext) -> Decision:
        if context.day > 0:
            self._credit(context.day - 1)
        decision = self.inner.act(obs, mask, context)
        probe = self.probe_day[context.rows] == context.day
        self.probes_of_day[context.day] = probe
        if not probe.any():
            return decision
        idx = np.flatnonzero(probe)
        self.probed[context.rows[idx]] = True
        sub = DecisionContext(context.day, context.weekday, np.random.default_rng([self.seed, 77, context.day]), context.rows[idx])
        chosen = self.candidate.act(obs[idx], mask.subset(idx), sub)
        actions, propensity = decision.actions.copy(), np.asarray(decision.propensity, dtype=np.float64).copy()
        actions[idx], propensity[idx] = chosen.actions, chosen.propensity
        return Decision(actions, propensity, decision.priority)

    def _without_probes(self, feedback: Feedback) -> Feedback:
        """The feedback of the logger's own decisions: each day's rows come in the order they were decided."""
        keep = np.ones(len(feedback.day), dtype=bool)
        for day in np.unique(feedback.day):
            at = np.flatnonzero(feedback.day == day)
            probe = self.probes_of_day[int(day)]
            if at.size != probe.size:
                raise ValueError(f"day {day}: {at.size} feedback rows for {probe.size} decisions")
            keep[at] = ~probe
        arrays = {f.name: getattr(feedback, f.name) for f in dataclasses.fields(feedback)}
        return Feedback(**{k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in arrays.items()})

    def update(self, feedback: Feedback) -> None:
        self.inner.update(self._without_probes(feedback))

    def pending(self, decisions: Feedback) -> None:
        self.inner.pending(self._without_probes(decisions))


@dataclasses.dataclass(frozen=True)
class Setup:
    config: MarketConfig
    guardrails: GuardrailConfig
    log_shoppers: int
    thompson_state: str


def build(name: str, market_: MarketModel | None, setup: Setup) -> Policy:
    """A candidate or logger by name on ``market_``: ``thompson`` as a candidate is the frozen trained one."""
    if name == FROZEN:
        return Frozen(make_policy("thompson", market_, {"state": setup.thompson_state}))
    return make_policy(name, market_)


def own_run(name: str, seed: int, setup: Setup) -> dict:
    """A policy's own run: its profit, its logged decisions, and (for a logger) the oracle's recorded choices."""
    recorders: list[Recording] = []

    def factory(m: MarketModel) -> Policy:
        policy = build(name, m, setup)
        if name in LOGGERS:
            recorders.append(Recording(policy, m, logged_rows(m.n_rows, seed, setup.log_shoppers)))
            return recorders[-1]
        return policy

    run = run_policy(name, seed, setup.config, setup.guardrails, log_shoppers=setup.log_shoppers, factory=factory)
    out = {"name": name, "seed": seed, "profit": float(run.profit_by_row.sum()), "shoppers": run.shoppers, "log": run.decisions}
    if recorders:
        keys, actions = (np.concatenate(a) for a in zip(*recorders[0].recorded))
        out["oracle"] = (keys, actions, recorders[0].oracle.market.n_rows)
    return out


def probe_days(n_rows: int, seed: int, horizon: int) -> np.ndarray:
    """Each shopper's probe day, uniform over the days whose window closes inside the horizon; the same for every candidate."""
    return np.random.default_rng([seed, 20_261_207]).integers(0, horizon - VALIDITY_DAYS + 1, size=n_rows)


def probe_run(logger: str, candidate: str, seed: int, setup: Setup) -> dict:
    """The probe run of ``candidate`` on ``logger``'s market of ``seed`` (module docstring)."""
    probes: list[Probing] = []

    def factory(m: MarketModel) -> Policy:
        days = probe_days(m.n_rows, seed, setup.config.horizon_days)
        probes.append(Probing(build(logger, m, setup), build(candidate, m, setup), m, days, seed))
        return probes[0]

    run_policy(logger, seed, setup.config, setup.guardrails, factory=factory)
    mean, se, count = probes[0].close()
    return {"logger": logger, "candidate": candidate, "seed": seed, "truth": mean, "truth_se": se, "probes": count}


def _task(job: tuple[Callable, tuple]) -> dict:
    function, args = job
    return function(*args)


def ope_rows(logger: str, seed: int, own: dict, setup: Setup, truths: dict, horizon_truth: dict, own_reward: dict) -> list[dict]:
    """Every candidate of ``logger``'s log of ``seed``, by every estimator, beside the truths: one row per
    (candidate, estimand, estimator)."""
    log = own["log"]
    log = log[log["matured"].to_numpy(dtype=bool)].reset_index(drop=True)
    decisions_per_shopper = len(own["log"]) / own["log"]["shopper"].nunique()
    codes = shopper_groups(log)
    estimates: dict[str, tuple[Estimate, Logged]] = {}
    for name in [*candidates(logger), BASELINE]:
        policy = Replayed(*own["oracle"]) if name == ORACLE else build(run_name(name), None, setup)
        estimates[name] = evaluate(policy, log, setup.guardrails.frequency_cap_7d, seed=seed, **OPE)
    base_est, base_data = estimates[BASELINE]
    base_num, base_den = row_terms(base_data, base_est.tau, base_est.lam) if not base_est.warnings else (None, None)
    rows = []
    for name in candidates(logger):
        est, data = estimates[name]
        truth, truth_se = truths[(logger, name, seed)]
        base_truth = truths[(logger, BASELINE, seed)][0]
        common = {"logger": logger, "candidate": name, "seed": seed, "support": est.support, "ess": est.ess, "rows": est.rows,
                  "decisions_per_shopper": decisions_per_shopper, "own_per_decision": own_reward[(name, seed)]}
        table = est.table.set_index("estimator")
        if est.warnings or base_num is None:
            diff_value = diff_low = diff_high = np.full(len(ESTIMATORS), np.nan)
        else:
            num, den = row_terms(data, est.tau, est.lam)
            boot = replicates(num, den, codes, REPLICATES, np.random.default_rng(seed)) - \
                replicates(base_num, base_den, codes, REPLICATES, np.random.default_rng(seed))
            diff_low, diff_high = percentile_interval(boot)
            diff_value = num.sum(axis=0) / den.sum(axis=0) - base_num.sum(axis=0) / base_den.sum(axis=0)
        for j, key in enumerate(ESTIMATORS):
            rows.append({**common, "estimand": "per_decision_7d", "estimator": key, "estimate": table.loc[key, "value"],
                         "low": table.loc[key, "low"], "high": table.loc[key, "high"], "truth": truth, "truth_se": truth_se})
            rows.append({**common, "estimand": "horizon_incremental", "estimator": key,
                         "estimate": diff_value[j] * decisions_per_shopper, "low": diff_low[j] * decisions_per_shopper,
                         "high": diff_high[j] * decisions_per_shopper, "truth": horizon_truth[(name, seed)],
                         "truth_se": np.nan, "extrapolated_truth": (truth - base_truth) * decisions_per_shopper})
    return rows


def scores(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per ``by`` and estimator: median relative error, coverage of the 95% intervals, mean rank correlation over the
    logs (a log: one logger on one seed), and how many (logger, candidate, seed) cells got no estimate."""
    out = []
    for key, t in table.groupby([*by, "estimator"], sort=False):
        given = t.dropna(subset=["estimate"])
        rel = (given["estimate"] - given["truth"]).abs() / given["truth"].abs()
        covered = (given["low"] <= given["truth"]) & (given["truth"] <= given["high"])
        ranks = [spearmanr(g["estimate"], g["truth"]).statistic for _, g in given.groupby(["logger", "seed"]) if len(g) > 2]
        out.append({**dict(zip([*by, "estimator"], key)), "cells": len(t), "no_estimate": len(t) - len(given),
                    "median_relative_error": float(rel.median()), "coverage": float(covered.mean()),
                    "mean_rank_correlation": float(np.nanmean(ranks)) if ranks else np.nan})
    return pd.DataFrame(out)


def score_lines(s: pd.DataFrame, first: str | None = None) -> list[str]:
    head = f"| {first} " if first else ""
    lines = [head + "| estimator | median relative error | coverage of the 95% interval | mean rank correlation | no estimate |",
             ("|---" if first else "") + "|---|---:|---:|---:|---:|"]
    for r in s.itertuples():
        lead = f"| {getattr(r, first)} " if first else ""
        lines.append(lead + f"| {ESTIMATORS[r.estimator]} | {r.median_relative_error:.1%} | {r.coverage:.0%} | "
                     f"{r.mean_rank_correlation:+.2f} | {r.no_estimate} of {r.cells} |")
    return lines


def cell_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per (estimand, logger, candidate, estimator): the mean truth and estimate over seeds, and the seeds covered."""
    covered = (table["low"] <= table["truth"]) & (table["truth"] <= table["high"])
    t = table.assign(covered=covered, given=table["estimate"].notna())
    return t.groupby(["estimand", "logger", "candidate", "estimator"], sort=False).agg(
        truth=("truth", "mean"), estimate=("estimate", "mean"), covered=("covered", "sum"), given=("given", "sum"),
        seeds=("seed", "count"), support=("support", "mean"), ess=("ess", "mean")).reset_index()


def gap_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per (logger, candidate), means over seeds: the per-decision truth (with its standard error), the candidate's own
    run's reward per logged decision, the horizon truth, and the probes' extrapolation to the horizon."""
    t = table[table["estimator"] == "dr"]
    per = t[t["estimand"] == "per_decision_7d"].groupby(["logger", "candidate"], sort=False)
    hor = t[t["estimand"] == "horizon_incremental"].set_index(["logger", "candidate", "seed"])
    out = []
    for (logger, cand), g in per:
        h = hor.loc[[(logger, cand, s) for s in g["seed"]]]
        out.append({"logger": logger, "candidate": cand, "per_decision": g["truth"].mean(),
                    "per_decision_se": float(np.sqrt((g["truth_se"] ** 2).sum()) / len(g)), "own_per_decision": g["own_per_decision"].mean(),
                    "horizon": h["truth"].mean(), "extrapolated": h["extrapolated_truth"].mean()})
    return pd.DataFrame(out)


def report(out: Path) -> str:
    """``truth.md`` from ``truth.csv`` (and the conditions in ``run.json``) in ``out``: the tables of the results page."""
    table = pd.read_csv(out / "truth.csv")
    run = json.loads((out / "run.json").read_text())
    lines = ["# OPE against the simulator's truth", "",
             f"Default market ({run['shoppers']:,} shoppers, {run['horizon_days']} days), seeds {run['seeds']}, {run['log_shoppers']:,} "
             f"logged shoppers per run; {run['date']}, {run['seconds'] / 60:.1f} min wall.", ""]
    for estimand, title in ESTIMANDS.items():
        part = table[table["estimand"] == estimand]
        lines += [f"## {title}: scores over every (logger, candidate, seed)", "", *score_lines(scores(part, [])), "",
                  f"## {title}: scores by logger", "", *score_lines(scores(part, ["logger"]), "logger"), ""]
        lines += [f"## {title}: mean over seeds (seeds whose interval holds the truth)", "",
                  "| logger | candidate | truth | support | ESS | " + " | ".join(ESTIMATORS[k] for k in ESTIMATORS) + " |",
                  "|---|---|---:|---:|---:|" + "---:|" * len(ESTIMATORS)]
        for (logger, cand), g in cell_table(part).groupby(["logger", "candidate"], sort=False):
            g = g.set_index("estimator")
            first = g.iloc[0]
            vals = " | ".join("-" if g.loc[k, "given"] == 0 else f"{g.loc[k, 'estimate']:.2f} ({int(g.loc[k, 'covered'])}/{int(g.loc[k, 'seeds'])})"
                              for k in ESTIMATORS)
            lines.append(f"| {logger} | {cand} | {first.truth:.2f} | {first.support:.0%} | {first.ess:,.0f} | {vals} |")
        lines.append("")
    lines += ["## The gap between the estimands", "",
              "| logger | candidate | per decision, true (probes) | its own run, per logged decision | horizon: true | "
              "horizon: the probes extrapolated |", "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r.logger} | {r.candidate} | {r.per_decision:.2f} ± {1.96 * r.per_decision_se:.2f} | {r.own_per_decision:.2f} | "
              f"{r.horizon:.2f} | {r.extrapolated:.2f} |" for r in gap_table(table).itertuples()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--log-shoppers", type=int, default=1000)
    parser.add_argument("--shoppers", type=int, default=0, help="market size (0: the default market's)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("ope_truth"))
    parser.add_argument("--report", action="store_true", help="only write truth.md again from --out's truth.csv and run.json")
    args = parser.parse_args()
    if args.report:
        write_text(report(args.out), args.out / "truth.md")
        print((args.out / "truth.md").read_text())
        return
    start = time.perf_counter()
    config, guardrails = market("default", args.shoppers)
    if guardrails.daily_budget:
        raise SystemExit(f"guardrails.daily_budget={guardrails.daily_budget}: the probes would compete for the budget; "
                         f"this study needs the default market's 0 (no budget)")
    with tempfile.TemporaryDirectory() as tmp:
        run_policy("thompson", TRAIN_SEED, config, guardrails, save_dir=Path(tmp))
        setup = Setup(config, guardrails, args.log_shoppers, str(Path(tmp) / f"thompson_seed{TRAIN_SEED}.npz"))
        own_names = [*LOGGERS, FROZEN, ORACLE, BASELINE]
        jobs = [(own_run, (n, s, setup)) for n in own_names for s in args.seeds]
        jobs += [(probe_run, (lg, run_name(c), s, setup))
                 for lg in LOGGERS for c in [*candidates(lg), BASELINE] for s in args.seeds]
        with process_pool(args.jobs) as pool:
            done = list(pool.map(_task, jobs))
            own = {(d["name"], d["seed"]): d for d in done if "name" in d}
            truths = {(d["logger"], candidate_name(d["candidate"]), d["seed"]): (d["truth"], d["truth_se"]) for d in done if "logger" in d}
            base = {s: own[(BASELINE, s)]["profit"] for s in args.seeds}
            scored = [*LOGGERS, ORACLE]  # every candidate of some log
            horizon_truth = {(c, s): (own[(run_name(c), s)]["profit"] - base[s]) / own[(run_name(c), s)]["shoppers"]
                             for c in scored for s in args.seeds}
            own_reward = {(c, s): float(own[(run_name(c), s)]["log"].query("matured")["reward"].mean())
                          for c in [*scored, BASELINE] for s in args.seeds}
            rows = [r for part in pool.map(_task, [(ope_rows, (lg, s, own[(lg, s)], setup, truths, horizon_truth, own_reward))
                                                   for lg in LOGGERS for s in args.seeds]) for r in part]
    args.out.mkdir(parents=True, exist_ok=True)
    write_table(pd.DataFrame(rows), args.out / "truth.csv")
    run = {"shoppers": config.population.size, "horizon_days": config.horizon_days, "seeds": args.seeds, "log_shoppers": args.log_shoppers,
           "date": time.strftime("%Y-%m-%d"), "seconds": round(time.perf_counter() - start, 1)}
    write_text(json.dumps(run, indent=1) + "\n", args.out / "run.json")
    write_text(report(args.out), args.out / "truth.md")
    print((args.out / "truth.md").read_text())


if __name__ == "__main__":
    main()
