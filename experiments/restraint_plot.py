"""Sends, unsubscribes, churn and incremental profit over time per policy: why restraint pays, from a comparison's folder.

``python -m experiments.restraint_plot <run> <out.png> [policy ...]`` reads ``<run>/daily.parquet``
and draws, per policy (mean over seeds), four panels against the day: messages per present
shopper (7-day mean), cumulative unsubscribes and churned shoppers in excess of the no-contact
twin, and cumulative incremental profit per shopper at the start. The README's long-run figure
is made this way.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.metrics import HOLDOUT  # noqa: E402
from experiments.report import save_figure  # noqa: E402


def restraint_plot(daily: pd.DataFrame, out: Path, policies: list[str] | None = None, shoppers: float | None = None) -> Path:
    """Write the four-panel figure to ``out``; ``shoppers`` scales the profit panel (default: present on day 0)."""
    daily = daily if not policies else daily[daily.policy.isin([*policies, HOLDOUT])]
    mean = daily.groupby(["policy", "day"]).mean(numeric_only=True).reset_index()
    twin = mean[mean.policy == HOLDOUT].set_index("day")
    size = shoppers or float(twin["present"].iloc[0])
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True)
    for policy, g in mean.groupby("policy", sort=False):
        g = g.set_index("day")
        style = {"color": "black", "lw": 1} if policy == HOLDOUT else {}
        axes[0, 0].plot(g.index, (g["sends"] / g["present"].clip(lower=1)).rolling(7, min_periods=1).mean(), label=policy, **style)
        axes[0, 1].plot(g.index, (g["unsubscribes"] - twin["unsubscribes"]).cumsum() / size * 1000, label=policy, **style)
        axes[1, 0].plot(g.index, (g["churned"] - twin["churned"]).cumsum() / size * 1000, label=policy, **style)
        axes[1, 1].plot(g.index, g["cumulative_incremental_profit"] / size, label=policy, **style)
    titles = ("messages per shopper per day (7-day mean)", "extra unsubscribes per 1,000 shoppers (vs no contact)",
              "extra churned shoppers per 1,000 (vs no contact)", "cumulative incremental profit per shopper of day 0")
    for ax, title in zip(axes.flat, titles):
        ax.set_title(title, fontsize=10)
        ax.axhline(0, color="grey", lw=0.6)
    for ax in axes[1]:
        ax.set_xlabel("day")
    axes[0, 0].legend(fontsize=7, ncol=2)
    return save_figure(fig, Path(out))


if __name__ == "__main__":
    run, dest, *names = sys.argv[1:]
    print(restraint_plot(pd.read_parquet(Path(run) / "daily.parquet"), Path(dest), names or None))
