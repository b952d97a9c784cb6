"""The table the information studies print: policies against the oracle on the same shoppers.

Each row is incremental profit per shopper (against no contact on the same seed) over the horizon and over
its last 30 days, the window of the bandits' "80% of the oracle" criterion, as the mean over the seeds with
a 95% t interval (common random numbers: every row of a seed meets the same shoppers), and the last-30-day
share of the first row's, taken seed by seed before it is averaged.
"""

from __future__ import annotations

from collections.abc import Callable

from experiments.metrics import summary_table
from experiments.runner import run_policy
from experiments.stats import mean_ci
from policies.base import Policy
from sim import MarketModel
from sim.config import GuardrailConfig, MarketConfig

Row = tuple[str, Callable[[MarketModel], Policy] | None]
"""a row's name and how to build its policy from the market (None: the registered policy of that name)"""


def oracle_share_table(rows: list[Row], seeds: list[int], config: MarketConfig) -> str:
    """The markdown table of ``rows`` run on ``seeds``; the first row is the reference the shares are of."""
    runs = [run_policy("no_contact", seed, config, GuardrailConfig()) for seed in seeds]
    runs += [run_policy(name, seed, config, GuardrailConfig(), factory=make) for name, make in rows for seed in seeds]
    summary = summary_table(runs).sort_values("seed")
    by_policy = {name: summary[summary.policy == name] for name, _ in rows}
    reference = by_policy[rows[0][0]].incremental_profit_last_30d_per_shopper.to_numpy()
    lines = [f"| policy | whole horizon | last 30 days | last 30 days, % of {rows[0][0]} | sends / shopper |", "|---|---:|---:|---:|---:|"]
    for name, _ in rows:
        t = by_policy[name]
        last = t.incremental_profit_last_30d_per_shopper.to_numpy()
        lines.append(f"| {name} | {mean_ci(t.incremental_profit_per_shopper.to_numpy()):.2f} | {mean_ci(last):.2f} | "
                     f"{mean_ci(last / reference * 100):.0f} | {t.sends_per_shopper.mean():.1f} |")
    return "\n".join(lines)
