"""The shop-size sweep: verdicts per size from paired intervals, the smallest size a shop can rely on, the task end to end."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from experiments import cli, schema
from experiments.metrics import best_rule, summary_table
from experiments.runner import run_policy
from experiments.shop_size import FILES, shop_size, size_table, smallest_winning_size
from sim.config import ConfigError

SIZES = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000)
RULES = {"rules_a": 1.0, "rules_b": 0.8}
"""the rule sets' incremental profit per shopper at every size (rules_a is the best rule set)"""
BLAST = 0.9
WIN, LOSS = 1.5, 0.5
"""a learner's incremental profit per shopper where it beats both yardsticks, and where it loses to both"""


def summary(size: int, per_shopper: dict[str, float], seeds: int = 4) -> pd.DataFrame:
    """A hand-made summary table (policy x seed) at ``size``: each policy's incremental profit per shopper around the
    given mean, the same seed noise for every policy (common random numbers) plus a little of its own."""
    rows = []
    for k, (policy, mean) in enumerate(per_shopper.items()):
        for seed in range(seeds):
            value = mean + 0.3 * np.sin(seed) + 0.01 * np.cos(seed + 7 * k)
            rows.append({"policy": policy, "seed": seed, "shoppers": size, "incremental_profit_per_shopper": value,
                         "incremental_profit": value * size})
    return pd.DataFrame(rows)


def sweep(learners: dict[str, tuple[float, ...]], seeds: int = 4) -> pd.DataFrame:
    """:func:`size_table` of hand-made summaries: the holdout, blast, two rule sets and ``learners`` (one value per size)."""
    return size_table({size: summary(size, {"no_contact": 0.0, "blast": BLAST, **RULES, **{p: v[k] for p, v in learners.items()}}, seeds)
                       for k, size in enumerate(SIZES)})


def test_smallest_winning_size_is_the_smallest_from_which_on_it_always_wins():
    """A learner that wins at 5,000, loses at 10,000 and wins from 20,000 on can be relied on from 20,000: the first win
    is not kept by a growing shop. One that does not win at the largest size tried has no such size, whatever it did at
    smaller ones."""
    table = sweep({
        "comeback": (LOSS, LOSS, WIN, LOSS, WIN, WIN),
        "steady": (LOSS, WIN, WIN, WIN, WIN, WIN),
        "always": (WIN,) * 6,
        "never": (LOSS,) * 6,
        "fades": (WIN, WIN, WIN, WIN, WIN, LOSS),
        "only_at_the_top": (LOSS,) * 5 + (WIN,),
    })
    assert smallest_winning_size(table, "comeback") == 20_000
    assert smallest_winning_size(table, "steady") == 2_000
    assert smallest_winning_size(table, "always") == 1_000
    assert smallest_winning_size(table, "never") is None
    assert smallest_winning_size(table, "fades") is None
    assert smallest_winning_size(table, "only_at_the_top") == 50_000
    comeback = table[table.policy == "comeback"].set_index("size")
    assert comeback.beats_both.tolist() == [False, False, True, False, True, True]
    with pytest.raises(ValueError, match="'genius' is not in the table"):
        smallest_winning_size(table, "genius")


def test_a_win_needs_both_yardsticks_beaten_beyond_doubt():
    """Above the best rule set but not above blast is no win; nor is a difference whose interval includes zero."""
    between = (RULES["rules_a"] + BLAST) / 2  # rules_a > between > blast
    table = sweep({"beats_blast_only": (between,) * 6, "near": (RULES["rules_a"] + 0.005,) * 6})
    row = table[(table.policy == "beats_blast_only") & (table["size"] == 1_000)].iloc[0]
    assert (row.vs_best_rule, row.vs_blast, row.beats_both) == ("loses", "beats", False)
    assert row.diff_vs_blast_low > 0 and row.diff_vs_best_rule_high < 0
    near = table[table.policy == "near"]
    assert (near.diff_vs_best_rule_low < 0).all() and (near.diff_vs_best_rule_high > 0).all()
    assert (near.vs_best_rule == "tie").all() and not near.beats_both.any()
    assert smallest_winning_size(table, "beats_blast_only") is None and smallest_winning_size(table, "near") is None


def test_the_best_rule_set_is_chosen_at_each_size():
    """rules_b overtakes rules_a at the large sizes; the learner beats rules_a everywhere but rules_b only at 10,000."""
    summaries = {}
    for k, size in enumerate(SIZES):
        rules_b = 0.8 if size < 20_000 else 2.0
        summaries[size] = summary(size, {"no_contact": 0.0, "blast": BLAST, "rules_a": 1.0, "rules_b": rules_b, "learner": 1.5})
    table = size_table(summaries)
    best = table.drop_duplicates("size").set_index("size").best_rule
    assert best.tolist() == ["rules_a"] * 4 + ["rules_b"] * 2
    assert best.tolist() == [best_rule(summaries[s]) for s in SIZES]
    assert table[table.policy == "learner"].beats_both.tolist() == [True] * 4 + [False] * 2
    assert smallest_winning_size(table, "learner") is None
    assert set(table.columns) >= {"incremental_profit_per_shopper_mean", "incremental_profit_per_shopper_low", "diff_vs_blast_high",
                                  "diff_vs_best_rule_mean", "vs_best_rule", "vs_blast", "beats_both", "learner"}


def test_one_seed_gives_no_verdict_and_no_winning_size():
    table = sweep({"learner": (WIN,) * 6}, seeds=1)
    learner = table[table.policy == "learner"]
    assert (learner.vs_best_rule == "one seed").all() and (learner.vs_blast == "one seed").all()
    assert learner.diff_vs_best_rule_low.isna().all() and smallest_winning_size(table, "learner") is None


def composed(*overrides: str) -> schema.Config:
    with initialize_config_dir(config_dir=cli.CONFIG_DIR, version_base="1.3"):
        return schema.to_config(compose(config_name="config", overrides=["experiment=shop_size", *overrides]))


TINY = ("experiment.sizes=[300,150]", "experiment.seeds=[0,1]", "market.horizon_days=10",
        "experiment.policies=[blast,rules_rfm,rules_promo,linucb_additive]", "experiment.jobs=1")


def test_the_preset_holds_the_sizes_seeds_and_policies_of_the_question():
    cfg = composed()
    assert cfg.task == "shop_size" and cfg.experiment.sizes == list(SIZES) and cfg.experiment.seeds == [0, 1, 2, 3, 4]
    assert cfg.market.population.size == 50_000 and "ppo" not in cfg.experiment.policies
    assert {"no_contact", "blast", "rules_promo", "linucb_additive", "thompson"} <= set(cfg.experiment.policies)


def test_a_tiny_sweep_writes_every_output_and_runs_each_size_through_the_runner(tmp_path):
    cfg = composed(*TINY)
    table = shop_size(cfg, tmp_path)
    assert set(FILES) <= {p.name for p in tmp_path.iterdir()} and not list(tmp_path.glob(".*.tmp"))
    written = pd.read_csv(tmp_path / "shop_size.csv")
    assert written["size"].tolist() == [150] * 5 + [300] * 5  # sorted, whatever the order asked for
    assert list(dict.fromkeys(written.policy)) == ["no_contact", "blast", "rules_rfm", "rules_promo", "linucb_additive"]
    pd.testing.assert_frame_equal(written, table, check_dtype=False)
    per_seed = pd.read_csv(tmp_path / "shop_size_summary.csv")
    assert len(per_seed) == 2 * 5 * 2 and (per_seed.violations == 0).all()
    for size in (150, 300):  # each size is the experiment's market resized, every policy on the same seeds
        at = per_seed[per_seed["size"] == size].drop(columns="size")
        assert (at.shoppers >= size).all() and (at.shoppers < 1.1 * size).all()
        assert written[written["size"] == size].best_rule.iloc[0] == best_rule(at)
    market = dataclasses.replace(cfg.market, population=dataclasses.replace(cfg.market.population, size=150))
    direct = summary_table([run_policy(p, 1, market, cfg.guardrails) for p in ("no_contact", "blast")])
    ours = per_seed[(per_seed["size"] == 150) & (per_seed.seed == 1) & per_seed.policy.isin(["no_contact", "blast"])]
    np.testing.assert_array_equal(ours.profit.to_numpy(), direct.profit.to_numpy())  # bit for bit the runner's runs
    report = (tmp_path / "shop_size.md").read_text()
    smallest = smallest_winning_size(table, "linucb_additive")
    assert ("**linucb_additive**: none of the sizes tried" in report) == (smallest is None)
    assert "150, 300 shoppers" in report and "seeds [0, 1]" in report and "| learner | 150 | 300 |" in report
    assert (tmp_path / "shop_size.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("sizes", ["[0]", "[-5000]", "[99]", "[1000,1000]", "[]", "[20000000]"])
def test_bad_sizes_are_refused_naming_the_field_and_the_value(sizes):
    with pytest.raises(ConfigError, match=r"experiment\.sizes=\[.*\]: must be distinct whole numbers of shoppers in \[100, 10000000\]"):
        composed(f"experiment.sizes={sizes}")


@pytest.mark.parametrize("sizes", ["[1.5]", "[many]", "5000"])
def test_sizes_that_are_not_a_list_of_whole_numbers_are_refused_by_hydra_naming_the_override(sizes):
    with pytest.raises(ConfigCompositionException, match=re.escape(f"experiment.sizes={sizes}")):
        composed(f"experiment.sizes={sizes}")


def test_a_sweep_without_a_yardstick_or_with_a_policy_to_train_is_refused_before_any_run(tmp_path):
    with pytest.raises(ConfigError, match="list blast and at least one rules_<table>"):
        shop_size(composed(*TINY, "experiment.policies=[rules_rfm,linucb_additive]"), tmp_path)
    with pytest.raises(ConfigError, match="list blast and at least one rules_<table>"):
        shop_size(composed(*TINY, "experiment.policies=[blast,linucb_additive]"), tmp_path)
    with pytest.raises(ConfigError, match="ppo would be trained at every size"):
        shop_size(composed(*TINY, "experiment.policies=[blast,rules_rfm,ppo]"), tmp_path)
    assert not list(tmp_path.iterdir())
