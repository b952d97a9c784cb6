"""The report's verdicts claim only what an interval supports."""

from __future__ import annotations

import pandas as pd

from experiments.metrics import SUMMARY_COLUMNS, comparison_table
from experiments.report import markdown_table, verdicts


def summary(seeds: list[int]) -> pd.DataFrame:
    """A summary in which linucb earns 100 more than the RFM rules on every seed (all else 0)."""
    rows = []
    for seed in seeds:
        for policy, incremental in (("no_contact", 0.0), ("rules_rfm", 50.0 + seed), ("linucb", 150.0 + seed)):
            row = dict.fromkeys(SUMMARY_COLUMNS, 0.0) | {"policy": policy, "seed": seed, "incremental_profit": incremental,
                                                        "incremental_profit_per_shopper": incremental / 100, "shoppers": 100.0}
            rows.append(row)
    return pd.DataFrame(rows)[SUMMARY_COLUMNS]


def test_one_seed_gives_no_interval_and_no_verdict():
    comparison = comparison_table(summary([0]))
    said = " ".join(verdicts(comparison))
    assert "linucb** and rules_rfm ran on one seed: no interval, so no verdict" in said
    assert "earns more" not in said and "earns less" not in said
    table = markdown_table(comparison)
    assert "| linucb | 1.50 [one seed] | +1.00 [one seed] |" in table


def test_several_seeds_give_a_verdict_backed_by_the_paired_interval():
    said = " ".join(verdicts(comparison_table(summary([0, 1, 2]))))
    assert "**linucb** earns more than rules_rfm: paired 95% interval [+1.00, +1.00] per shopper" in said
