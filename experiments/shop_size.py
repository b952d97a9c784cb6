"""The ``shop_size`` task: from what shop size on does a learning policy beat the best rule set and ``blast``?

A learner pays for what it learns with the decisions it gets wrong first, and learns from as many
decisions a day as the shop has shoppers, so whether it beats a fixed rule depends on the shop's
size. For each size of ``experiment.sizes`` the experiment's policies run on the experiment's
market resized to that many shoppers at the start (every other market setting as configured), on
the same seeds (common random numbers), through the runner (:func:`experiments.runner.run_all`).

At each size, "A beats B" means the paired 95% interval of A minus B in incremental profit per
shopper, over the same seeds, lies above zero (:func:`experiments.stats.paired_diff_ci`):

.. math::  \\bar d \\pm t_{0.975,\\,n-1}\\, s_d / \\sqrt{n} > 0,\\qquad d_k = \\delta_{A,k} - \\delta_{B,k}

with :math:`\\delta_{p,k}` policy p's incremental profit per shopper on seed k. The yardsticks are
``blast`` and the best rule set *at that size* (:func:`experiments.metrics.best_rule`). A learner's
answer is the smallest size from which on it beats both at every larger size tried
(:func:`smallest_winning_size`).

Writes ``shop_size.csv`` (size x policy), ``shop_size_summary.csv`` (size x policy x seed, the
numbers behind it), ``shop_size.md`` and ``shop_size.png`` into the run folder, each whole or not at all.
"""

from __future__ import annotations

import dataclasses
import platform
from contextlib import nullcontext
from pathlib import Path

import matplotlib.pyplot as plt  # the backend is experiments.report's (Agg), chosen when it is imported below
import numpy as np
import pandas as pd
from tqdm import tqdm

from experiments.io import write_table, write_text
from experiments.metrics import HOLDOUT, best_rule, summary_table
from experiments.report import ROLE_COLOURS, ROLE_LABELS, is_learner, policy_styles, save_figure
from experiments.runner import RunResult, run_all
from experiments.schema import Config
from experiments.stats import Interval, mean_ci, paired_diff_ci
from experiments.workers import process_pool
from policies.registry import TRAINED
from sim.config import ConfigError

BLAST = "blast"
METRIC = "incremental_profit_per_shopper"
VERDICTS = {"beats": "beats", "loses": "loses to", "tie": "no difference from", "one seed": "one seed: no verdict on"}
"""a policy against a yardstick, from the paired interval: above 0, below 0, includes 0, none (one seed)"""
FILES = ("shop_size.csv", "shop_size_summary.csv", "shop_size.md", "shop_size.png")


def shop_size(cfg: Config, run_dir: Path) -> pd.DataFrame:
    """Run every policy at every size and write the folder; returns the size x policy table (:func:`size_table`)."""
    exp = cfg.experiment
    check_policies(cfg)
    policies = list(dict.fromkeys([HOLDOUT, *exp.policies]))  # the holdout twin is always run
    sizes = sorted(exp.sizes)
    params = dict(cfg.policies)
    bar = tqdm(total=len(sizes) * len(policies) * len(exp.seeds), desc=f"shop sizes on {cfg.market.name}", unit="run")
    summaries = {}
    with process_pool(exp.jobs) if exp.jobs > 1 else nullcontext() as pool:  # one pool for every size: workers start once
        for size in sizes:

            def progress(result: RunResult, size: int = size) -> None:
                bar.set_postfix_str(f"{size:,} shoppers: {result.policy} seed {result.seed}")
                bar.update()

            market = dataclasses.replace(cfg.market, population=dataclasses.replace(cfg.market.population, size=size))
            save_dir = run_dir / "policies" / f"shoppers_{size}" if exp.save_policies else None
            no_log = 0  # experiment.log_shoppers is not used: the task writes no decision log
            results = run_all(policies, exp.seeds, market, cfg.guardrails, no_log, exp.jobs, progress, params, save_dir, pool)
            summaries[size] = summary_table(results)
    bar.close()
    table = size_table(summaries)
    write_table(table, run_dir / FILES[0])
    write_table(pd.concat([s.assign(size=n) for n, s in summaries.items()], ignore_index=True), run_dir / FILES[1])
    save_figure(size_figure(table), run_dir / FILES[3])
    write_text(report(table, conditions(cfg, sizes)), run_dir / FILES[2])
    return table


def check_policies(cfg: Config) -> None:
    """Refuse, before any run, an experiment this task cannot answer: it needs both yardsticks, and
    cannot train a policy (PPO would train for many minutes at every size); a trained one given by
    its model is evaluated like any other."""
    names = cfg.experiment.policies
    if BLAST not in names or not any(p.startswith("rules_") for p in names):
        raise ConfigError(f"experiment.policies={names}: task=shop_size measures every policy against {BLAST} and the best "
                          f"rule set; list {BLAST} and at least one rules_<table>")
    untrained = [p for p in names if p in TRAINED and not (cfg.policies.get(p) or {}).get("model_path")]
    if untrained:
        raise ConfigError(f"experiment.policies: {', '.join(untrained)} would be trained at every size; task=shop_size trains "
                          f"nothing: leave it out or give policies.<name>.model_path")


def size_table(summaries: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """One row per size x policy: mean incremental profit per shopper with its 95% interval, the paired
    difference to the best rule set at that size and to ``blast`` with theirs, and the verdicts.

    ``summaries`` maps a shop size to its :func:`experiments.metrics.summary_table` (policy x seed).
    ``vs_best_rule`` and ``vs_blast`` are keys of :data:`VERDICTS`; ``beats_both`` is True where the
    policy beats both. A policy compared with itself (the best rule set, ``blast``) shows a zero difference.
    """
    rows = []
    for size in sorted(summaries):
        summary = summaries[size]
        yardstick = best_rule(summary)
        if yardstick is None or BLAST not in set(summary.policy):
            raise ValueError(f"size {size}: no rule set or no {BLAST} ran, so there is no yardstick")
        per_seed = summary.pivot(index="seed", columns="policy", values=METRIC)
        for policy in dict.fromkeys(summary.policy):
            row: dict[str, object] = {"size": size, "policy": policy, "seeds": int(per_seed[policy].notna().sum()),
                                      "learner": is_learner(policy), "best_rule": yardstick}
            cis = {METRIC: mean_ci(per_seed[policy].to_numpy()),
                   "diff_vs_best_rule": paired_diff_ci(per_seed[policy].to_numpy(), per_seed[yardstick].to_numpy()),
                   "diff_vs_blast": paired_diff_ci(per_seed[policy].to_numpy(), per_seed[BLAST].to_numpy())}
            for name, ci in cis.items():
                row |= {f"{name}_mean": ci.mean, f"{name}_low": ci.low, f"{name}_high": ci.high}
            row["vs_best_rule"], row["vs_blast"] = verdict(cis["diff_vs_best_rule"]), verdict(cis["diff_vs_blast"])
            row["beats_both"] = row["vs_best_rule"] == row["vs_blast"] == "beats"
            rows.append(row)
    return pd.DataFrame(rows)


def verdict(diff: Interval) -> str:
    """A key of :data:`VERDICTS` for a paired difference: a claim only where its interval excludes zero."""
    if np.isnan(diff.low):
        return "one seed"
    return "beats" if diff.low > 0 else "loses" if diff.high < 0 else "tie"


def smallest_winning_size(table: pd.DataFrame, policy: str) -> int | None:
    """The smallest size from which on ``policy`` beats the best rule set and ``blast`` at every size tried, or None.

    This, not the first size at which it wins, is what a shop can rely on: a learner that wins at
    5,000 shoppers, loses at 10,000 and wins again from 20,000 on gives 20,000 (the win at 5,000 is
    not one a growing shop keeps); one that does not win at the largest size tried gives None,
    whatever it did at smaller ones. ``table`` is :func:`size_table`'s.
    """
    rows = table[table.policy == policy].sort_values("size")
    if rows.empty:
        raise ValueError(f"{policy!r} is not in the table; it holds {', '.join(dict.fromkeys(table.policy))}")
    wins = rows["beats_both"].to_numpy(dtype=bool)
    if not wins[-1]:
        return None
    losses = np.flatnonzero(~wins)
    return int(rows["size"].iloc[losses[-1] + 1 if losses.size else 0])


def conditions(cfg: Config, sizes: list[int]) -> str:
    """The report's first paragraph: the markets, seeds, guardrails and the rule a verdict follows."""
    budget = cfg.guardrails.daily_budget
    return (
        f"Market `{cfg.market.name}` resized to {', '.join(f'{s:,}' for s in sizes)} shoppers at the start (every other market "
        f"setting as configured), {cfg.market.horizon_days} days from {cfg.market.start_date}; seeds {list(cfg.experiment.seeds)} "
        f"(common random numbers: at each size every policy meets the same shoppers); frequency cap "
        f"{cfg.guardrails.frequency_cap_7d} per 7 days; daily budget {f'{budget:,.2f} at every size' if budget else 'none'}. "
        f"Incremental profit is against the no-contact twin on the same seed. A beats B when the paired 95% interval "
        f"(Student t across seeds) of A minus B in incremental profit per shopper lies above zero; the best rule set is the "
        f"rule set with the highest mean incremental profit at that size. Python {platform.python_version()}, {platform.machine()}."
    )


def _interval(row: pd.Series, name: str, fmt: str) -> str:
    ci = Interval(row[f"{name}_mean"], row[f"{name}_low"], row[f"{name}_high"], int(row["seeds"]))
    return format(ci, fmt)


def report(table: pd.DataFrame, header: str) -> str:
    """``shop_size.md``: conditions, learners x sizes with their verdicts, each learner's smallest winning size,
    every policy's incremental profit per shopper by size, and the plot."""
    sizes = sorted(table["size"].unique())
    learners = list(dict.fromkeys(table.loc[table.learner, "policy"]))
    columns = "| " + " | ".join(f"{s:,}" for s in sizes) + " |"
    rule = "|---|" + "---|" * len(sizes)
    by = table.set_index(["policy", "size"])
    best = table.drop_duplicates("size").set_index("size")["best_rule"]
    lines = ["# Is my shop big enough to learn?", "", header, "", "## Learners against the best rule set and blast", "",
             "Each cell: against the best rule set at that size, then against blast, with the paired difference in incremental "
             "profit per shopper [95% interval].", "", "| learner " + columns, rule,
             "| *best rule set* | " + " | ".join(f"*{best[s]}*" for s in sizes) + " |"]
    for policy in learners:
        cells = []
        for s in sizes:
            r = by.loc[(policy, s)]
            cells.append(f"{VERDICTS[r['vs_best_rule']]} {r['best_rule']} ({_interval(r, 'diff_vs_best_rule', '+,.2f')}); "
                         f"{VERDICTS[r['vs_blast']]} {BLAST} ({_interval(r, 'diff_vs_blast', '+,.2f')})")
        lines.append(f"| {policy} | " + " | ".join(cells) + " |")
    if not learners:
        lines.append("\nNo learning policy ran: there is nothing to answer.")
    lines += ["", "## From which size on does a learner beat both?", ""]
    for policy in learners:
        smallest = smallest_winning_size(table, policy)
        won = [f"{s:,}" for s in sizes if by.loc[(policy, s), "beats_both"]]
        if smallest is not None:
            answer = f"from {smallest:,} shoppers on (beats both at every larger size tried)"
        else:
            answer = "none of the sizes tried"
            if won:
                answer += f" (it beats both at {', '.join(won)}, but not at every larger size)"
        lines.append(f"- **{policy}**: {answer}")
    lines += ["", "## Incremental profit per shopper [95% interval]", "", "| policy " + columns, rule]
    for policy in dict.fromkeys(table.policy):
        lines.append(f"| {policy} | " + " | ".join(_interval(by.loc[(policy, s)], METRIC, ",.2f") for s in sizes) + " |")
    lines += ["", f"![incremental profit per shopper by shop size]({FILES[3]})", "",
              f"Files: `{FILES[0]}` (size x policy: means, intervals, paired differences, verdicts), "
              f"`{FILES[1]}` (size x policy x seed: every metric of the comparison's summary)."]
    return "\n".join(lines) + "\n"


def size_figure(table: pd.DataFrame) -> plt.Figure:
    """Incremental profit per shopper against shop size (log scale), one line per policy with its 95% band.

    The best rule set at each size (it may change from size to size) and ``blast`` are drawn thick in
    their colours of the comparison report; rule sets otherwise faint; learners in their own colours.
    """
    sizes = sorted(table["size"].unique())
    policies = list(dict.fromkeys(table.policy))
    style = policy_styles([p for p in policies if not p.startswith("rules_")], {"blast": BLAST, "no contact": HOLDOUT})
    fig, ax = plt.subplots(figsize=(10, 6))

    def draw(rows: pd.DataFrame, label: str, colour, line: str = "-", width: float = 1.4, band: float = 0.12) -> None:
        ax.plot(rows["size"], rows[f"{METRIC}_mean"], color=colour, linestyle=line, lw=width, marker="o", ms=3, label=label)
        if rows[f"{METRIC}_low"].notna().any():
            ax.fill_between(rows["size"], rows[f"{METRIC}_low"], rows[f"{METRIC}_high"], color=colour, alpha=band, lw=0)

    for policy in policies:
        rows = table[table.policy == policy].sort_values("size")
        if policy.startswith("rules_"):
            ax.plot(rows["size"], rows[f"{METRIC}_mean"], color="#b0b0b0", lw=0.8, label=policy)
        elif policy not in (BLAST, HOLDOUT):
            draw(rows, policy, *style[policy])
    best = table[table.policy == table.best_rule].sort_values("size")
    highlights = [f"best rule set at each size ({', '.join(dict.fromkeys(best.policy))})", f"{BLAST} ({ROLE_LABELS['blast']})"]
    draw(best, highlights[0], ROLE_COLOURS["best rule set"], width=2.6, band=0.2)
    draw(table[table.policy == BLAST].sort_values("size"), highlights[1], ROLE_COLOURS["blast"], width=2.6, band=0.2)
    ax.axhline(0, color="black", lw=0.6)  # the holdout, no contact, by definition
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
    ax.minorticks_off()
    ax.set(xlabel="shoppers at the start (log scale)", ylabel="incremental profit per shopper vs no contact",
           title="Incremental profit per shopper by shop size (mean, 95% band across seeds)")
    handles, labels = ax.get_legend_handles_labels()
    rank = [0 if label in highlights else 2 if label.startswith("rules_") else 1 for label in labels]  # yardsticks, learners, rule sets
    order = sorted(range(len(labels)), key=rank.__getitem__)
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=7, ncol=2, loc="best")
    return fig


def run_task(cfg: Config, run_dir: Path) -> None:
    """``task=shop_size``: run, write the folder, print each learner's answer."""
    table = shop_size(cfg, run_dir)
    for policy in dict.fromkeys(table.loc[table.learner, "policy"]):
        smallest = smallest_winning_size(table, policy)
        print(f"{policy}: beats the best rule set and {BLAST} " + (f"from {smallest:,} shoppers on" if smallest is not None else "at none of the sizes tried"))
    print(f"\nreport: {run_dir / FILES[2]}")
