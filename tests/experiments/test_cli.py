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
    res = offerlab("market.population.size=300", "market.horizon_days=7", "seed=3", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    daily = pd.read_csv(run_dir / "daily.csv")
    assert list(daily["day"]) == list(range(7))
    assert (daily["sends"] == 0).all() and (daily["purchases"] > 0).any()
    assert (run_dir / ".hydra" / "config.yaml").exists()
    assert f"outputs: {run_dir}" in res.stdout
    assert "calling model.step" not in res.stdout + res.stderr  # Mesa's per-step INFO lines stay quiet


def test_same_config_and_seed_give_identical_tables(tmp_path):
    for name in ("a", "b"):
        res = offerlab("market.population.size=300", "market.horizon_days=5", f"hydra.run.dir={tmp_path / name}", cwd=tmp_path)
        assert res.returncode == 0, res.stderr
    assert (tmp_path / "a" / "daily.csv").read_bytes() == (tmp_path / "b" / "daily.csv").read_bytes()


def test_out_of_range_value_fails_before_any_work_and_leaves_no_run_folder(tmp_path):
    run_dir = tmp_path / "run"
    res = offerlab("market.population.size=20", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert res.returncode == 2
    assert "market.population.size=20: must be in [100, 10000000]" in res.stderr
    assert not run_dir.exists()


def test_unknown_key_and_wrong_type_are_refused_naming_the_key(tmp_path):
    res = offerlab("market.population.sizee=20", cwd=tmp_path)
    assert res.returncode != 0 and "sizee" in res.stderr
    res = offerlab("market.horizon_days=soon", cwd=tmp_path)
    assert res.returncode != 0 and "horizon_days" in res.stderr and "soon" in res.stderr
