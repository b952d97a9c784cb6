"""The report's verdicts claim only what an interval supports; its main plot singles out the five series that matter."""

from __future__ import annotations

import pandas as pd

from experiments.metrics import SUMMARY_COLUMNS, comparison_table
from experiments.report import ROLE_COLOURS, cumulative_figure, highlighted, markdown_table, policy_styles, save_figure, verdicts


def summary(seeds: list[int]) -> pd.DataFrame:
    """A summary in which linucb_additive earns 100 more than the RFM rules on every seed (all else 0)."""
    rows = []
    for seed in seeds:
        for policy, incremental in (("no_contact", 0.0), ("rules_rfm", 50.0 + seed), ("linucb_additive", 150.0 + seed)):
            row = dict.fromkeys(SUMMARY_COLUMNS, 0.0) | {"policy": policy, "seed": seed, "incremental_profit": incremental,
                                                        "incremental_profit_per_shopper": incremental / 100, "shoppers": 100.0}
            rows.append(row)
    return pd.DataFrame(rows)[SUMMARY_COLUMNS]


def test_one_seed_gives_no_interval_and_no_verdict():
    comparison = comparison_table(summary([0]))
    said = " ".join(verdicts(comparison))
    assert "linucb_additive** and rules_rfm ran on one seed: no interval, so no verdict" in said
    assert "earns more" not in said and "earns less" not in said
    table = markdown_table(comparison)
    assert "| linucb_additive | 1.50 [one seed] | +1.00 [one seed] |" in table


def test_several_seeds_give_a_verdict_backed_by_the_paired_interval():
    said = " ".join(verdicts(comparison_table(summary([0, 1, 2]))))
    assert "**linucb_additive** earns more than rules_rfm: paired 95% interval [+1.00, +1.00] per shopper" in said


def test_learners_are_also_judged_against_blast_by_the_paired_interval():
    """blast earns 140 + 3 seed: linucb_additive (150 + seed) is ahead on seed 0, level on 5, behind on 10, so no verdict either way."""
    rows = summary([0, 5, 10])
    for seed in (0, 5, 10):
        rows.loc[len(rows)] = dict.fromkeys(SUMMARY_COLUMNS, 0.0) | {"policy": "blast", "seed": seed, "incremental_profit": 140.0 + 3 * seed,
                                                                   "incremental_profit_per_shopper": (140.0 + 3 * seed) / 100, "shoppers": 100.0}
    comparison = comparison_table(rows)
    said = " ".join(verdicts(comparison))
    assert "**linucb_additive** cannot be told apart from blast, the weekly e-mail to all (paired 95% interval [" in said
    assert "**rules_rfm**" not in said.split("**linucb_additive** cannot be told apart from blast")[1]  # a rule set gets no blast sentence
    row = next(line for line in markdown_table(comparison).splitlines() if line.startswith("| linucb_additive |"))
    assert row.startswith("| linucb_additive | 1.55 [") and row.split(" | ")[3].startswith("+0.00 [")  # the vs-blast column: 10, 0, -10
    beaten = summary([0, 1, 2])
    for seed in (0, 1, 2):
        beaten.loc[len(beaten)] = dict.fromkeys(SUMMARY_COLUMNS, 0.0) | {"policy": "blast", "seed": seed, "incremental_profit": 100.0 + seed,
                                                                       "incremental_profit_per_shopper": (100.0 + seed) / 100, "shoppers": 100.0}
    assert "**linucb_additive** earns more than blast, the weekly e-mail to all (paired 95% interval [+0.50, +0.50] per shopper)" in " ".join(
        verdicts(comparison_table(beaten)))


DEFAULT_POLICIES = ["no_contact", "random", "blast", "rules_rfm", "rules_affinity", "rules_winback", "rules_calendar",
                    "epsilon_greedy", "linucb_additive", "thompson_additive", "bootstrap", "thompson", "linucb", "ppo", "oracle",
                    "reference"]


def daily(final: dict[str, float], days: int = 5, seeds: int = 3) -> pd.DataFrame:
    """Cumulative incremental profit rising linearly to ``final[policy]`` (the same on every seed, plus a small spread), beside
    the daily incremental profit, as :func:`experiments.metrics.daily_table` lays them out."""
    rows = [{"policy": p, "seed": s, "day": d, "incremental_profit": v / days, "cumulative_incremental_profit": v * (d + 1) / days + s}
            for p, v in final.items() for s in range(seeds) for d in range(days)]
    return pd.DataFrame(rows)


def test_main_plot_highlights_the_reference_best_learner_best_rules_blast_and_no_contact():
    final = dict.fromkeys(DEFAULT_POLICIES, -1.0) | {"no_contact": 0.0, "reference": 1000.0, "oracle": 900.0, "blast": 170.0, "rules_rfm": 110.0,
                                                     "rules_winback": 120.0, "thompson": 250.0, "ppo": 260.0, "random": 400.0}
    roles = highlighted(daily(final))
    # the oracle and random earn most after the reference here, but neither is a learner nor a rule set
    assert roles == {"reference": "reference", "best learner": "ppo", "best rule set": "rules_winback", "blast": "blast",
                     "no contact": "no_contact"}
    style = policy_styles(DEFAULT_POLICIES, roles)
    assert {style[p][0] for p in roles.values()} == set(ROLE_COLOURS.values()) and all(style[p][1] == "-" for p in roles.values())
    others = [style[p] for p in DEFAULT_POLICIES if p not in roles.values()]
    assert len(set(others)) == len(others) == 11  # each of the others a colour and line of its own
    assert not {c for c, _ in others} & set(ROLE_COLOURS.values())


def test_main_plot_leaves_out_roles_that_did_not_run_and_breaks_ties_by_order():
    roles = highlighted(daily({"no_contact": 0.0, "linucb_additive": 5.0, "thompson_additive": 5.0, "rules_rfm": 1.0}))
    assert roles == {"best learner": "linucb_additive", "best rule set": "rules_rfm", "no contact": "no_contact"}


def test_main_plot_is_the_same_picture_for_the_same_table(tmp_path):
    table = daily({p: float(k) for k, p in enumerate(DEFAULT_POLICIES)})
    pictures = []
    for name in ("a.png", "b.png"):
        roles = highlighted(table)
        save_figure(cumulative_figure(table, roles, policy_styles(DEFAULT_POLICIES, roles)), tmp_path / name)
        pictures.append((tmp_path / name).read_bytes())
    assert pictures[0] == pictures[1] and len(pictures[0]) > 10_000
