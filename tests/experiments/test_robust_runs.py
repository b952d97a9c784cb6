"""Runs that refuse bad input before any work, and runs killed outright that leave no process and no temporary behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from experiments import cli, compare, io, schema
from policies import registry, rules
from sim.config import ConfigError
from tests.experiments.test_cli import OFFERLAB

BAD_TABLE = """name: bad
rules:
  - segment: lapsed
    when: {recency_dayz: ">= 90"}
    offer: "10% {top_category}"
    channel: email
    slot: morning
"""


@pytest.fixture
def rules_dir(tmp_path, monkeypatch) -> Path:
    """A rules folder holding the shipped tables, in place of configs/rules/ (add a table to it to test one)."""
    folder = tmp_path / "rules"
    shutil.copytree(rules.RULES_DIR, folder)
    monkeypatch.setattr(rules, "RULES_DIR", folder)
    monkeypatch.setattr(registry, "RULES_DIR", folder, raising=False)
    return folder


def composed(*overrides: str):
    schema.register()
    with initialize_config_dir(config_dir=cli.CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def test_a_rule_table_naming_an_unknown_field_fails_before_the_first_run(rules_dir, tmp_path, monkeypatch):
    (rules_dir / "bad.yaml").write_text(BAD_TABLE)
    cfg = composed("market=long_run", "experiment.policies=[random,linucb_additive,ppo,oracle,rules_rfm,rules_bad]")
    run_dir = tmp_path / "run"
    started = []
    monkeypatch.setattr(compare, "run_with_training", lambda *args, **kwargs: started.append(args))  # where every run starts
    with pytest.raises(ConfigError) as refused:
        cli.run(cfg, run_dir)
    assert not started  # refused before the first run (and before PPO's training)
    message = str(refused.value)
    assert f"{rules_dir / 'bad.yaml'}: rules[0] (lapsed).when.recency_dayz: unknown field" in message
    assert "known fields: recency_days" in message
    assert not run_dir.exists()  # no result file, no folder


def test_every_named_policy_is_checked_and_a_missing_extra_is_named(monkeypatch):
    with pytest.raises(ConfigError, match=r"policies.linucb_additive.alpha"):
        schema.check_policies(["no_contact", "linucb_additive"], {"linucb_additive": {"alpha": -1.0}})
    schema.check_policies(["no_contact", "random", "blast", "oracle", "rules_rfm", "linucb_additive", "ppo"], {})
    monkeypatch.setitem(registry.OPTIONAL, "vw", False)
    with pytest.raises(ConfigError, match=r"'vw' needs the optional extra vw, which is not installed: pip install 'offerlab\[vw\]'"):
        schema.check_policies(["no_contact", "vw"], {})


def test_a_rerun_removes_the_temporaries_a_killed_run_left(tmp_path):
    (tmp_path / "ppo").mkdir()
    stale = [tmp_path / ".decisions.parquet.tmp", tmp_path / ".summary.csv.k2j4x9ab.tmp", tmp_path / "ppo" / ".training.json.abc.tmp"]
    kept = [tmp_path / "summary.csv", tmp_path / "notes.tmp", tmp_path / ".hydra"]
    for path in stale + kept[:2]:
        path.write_text("x")
    kept[2].mkdir()
    assert sorted(io.remove_temporaries(tmp_path)) == sorted(stale)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc (children's children too)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by whoever adopted it, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_kill_9_of_a_compare_run_leaves_no_process_and_a_rerun_no_temporary(tmp_path):
    run_dir = tmp_path / "run"
    compare = ["experiment=smoke", "experiment.policies=[random,rules_rfm]", "experiment.seeds=[0,1]", "experiment.jobs=2",
               "market.population.size=3000", "market.horizon_days=150", f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen([*OFFERLAB, *compare],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / ".decisions.parquet.tmp").exists():  # a run has finished and its log is streaming: the pool is busy
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no decision log was streamed in time"
        time.sleep(0.05)
    children = descendants(proc.pid)
    assert len(children) >= 3, children  # two workers and the resource tracker
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in children if alive(p)], "processes outlived the killed run"
    assert (run_dir / ".decisions.parquet.tmp").exists()

    rerun = subprocess.run([*OFFERLAB, "experiment=simulate", "market.population.size=200", "market.horizon_days=5", f"hydra.run.dir={run_dir}"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)  # a quick run into the same folder
    assert rerun.returncode == 0, rerun.stderr
    assert (run_dir / "daily.csv").is_file()
    assert not list(run_dir.rglob(io.TEMPORARY))
