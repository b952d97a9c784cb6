"""The offerlab command as a user runs it: overrides, validation before any work, run folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

OFFERLAB = [sys.executable, "-c", "from experiments.cli import main; main()"]


def offerlab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*OFFERLAB, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_simulate_writes_a_daily_table_in_the_run_folder(tmp_path):
    run_dir = tmp_path / "run"
    res = offerlab("experiment=simulate", "market.population.size=300", "market.horizon_days=7", "seed=3", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    daily = pd.read_csv(run_dir / "daily.csv")
    assert list(daily["day"]) == list(range(7))
    assert (daily["sends"] == 0).all() and (daily["purchases"] > 0).any()
    assert (run_dir / ".hydra" / "config.yaml").exists()
    assert f"outputs: {run_dir}" in res.stdout
    assert "calling model.step" not in res.stdout + res.stderr  # Mesa's per-step INFO lines stay quiet


def test_same_config_and_seed_give_identical_tables(tmp_path):
    for name in ("a", "b"):
        res = offerlab("experiment=simulate", "market.population.size=300", "market.horizon_days=5", f"hydra.run.dir={tmp_path / name}", cwd=tmp_path)
        assert res.returncode == 0, res.stderr
    assert (tmp_path / "a" / "daily.csv").read_bytes() == (tmp_path / "b" / "daily.csv").read_bytes()


def test_out_of_range_value_fails_before_any_work_and_leaves_no_run_folder(tmp_path):
    run_dir = tmp_path / "run"
    res = offerlab("market.population.size=20", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert res.returncode == 2
    assert "market.population.size=20: must be in [100, 10000000]" in res.stderr
    assert not run_dir.exists()


def test_smoke_experiment_writes_every_output_of_the_comparison(tmp_path):
    run_dir = tmp_path / "smoke"
    res = offerlab("experiment=smoke", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    expected = {"summary.csv", "summary.parquet", "comparison.csv", "comparison.parquet", "daily.parquet", "archetypes.csv",
                "action_mix.csv", "decisions.parquet", "report.md", "cumulative_incremental_profit.png", "action_mix.png",
                "incremental_by_archetype.png"}
    assert expected <= {p.name for p in run_dir.iterdir()}
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    summary = pd.read_csv(run_dir / "summary.csv")
    assert {"policy", "seed", "profit", "incremental_profit", "revenue", "discount_cost", "channel_cost", "sends",
            "unsubscribes", "churned", "violations"} <= set(summary.columns)
    assert len(summary) == 15 * 3 and (summary.violations == 0).all()  # rules, bandits, PPO and the oracle, 3 seeds each
    assert {"rules_rfm", "linucb_additive", "thompson_additive", "thompson", "linucb", "ppo", "oracle"} <= set(summary.policy)
    assert (run_dir / "ppo" / "best_model.zip").is_file()  # trained once, evaluated on every seed
    comparison = pd.read_csv(run_dir / "comparison.csv")
    assert {"incremental_profit_mean", "incremental_profit_low", "incremental_profit_high", "diff_vs_best_rule_mean"} <= set(comparison.columns)
    decisions = pd.read_parquet(run_dir / "decisions.parquet")
    assert len(decisions) > 0 and {"propensity", "reward"} <= set(decisions.columns)
    assert "report: " in res.stdout and "best rule set" in (run_dir / "report.md").read_text()


def test_unknown_policy_and_bad_seeds_fail_before_any_work(tmp_path):
    res = offerlab("experiment=smoke", "experiment.policies=[no_contact,genius]", f"hydra.run.dir={tmp_path / 'x'}", cwd=tmp_path)
    assert res.returncode == 2 and "experiment.policies: 'genius' is unknown; allowed: no_contact" in res.stderr
    res = offerlab("experiment=smoke", "experiment.seeds=[1,1]", f"hydra.run.dir={tmp_path / 'y'}", cwd=tmp_path)
    assert res.returncode == 2 and "experiment.seeds=[1, 1]: must be distinct" in res.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_unknown_key_and_wrong_type_are_refused_naming_the_key(tmp_path):
    res = offerlab("market.population.sizee=20", cwd=tmp_path)
    assert res.returncode != 0 and "sizee" in res.stderr
    res = offerlab("market.horizon_days=soon", cwd=tmp_path)
    assert res.returncode != 0 and "horizon_days" in res.stderr and "soon" in res.stderr
