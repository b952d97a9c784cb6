"""Trials and sweeps: ``policy=`` and ``seed=`` pick a trial, a multirun gathers one comparison, Ray matches it."""

from __future__ import annotations

import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from experiments import cli, compare, schema
from experiments.gather import fresh_policies
from experiments.ray_local import temp_dir
from tests.experiments.test_cli import OFFERLAB, offerlab

TINY = ["experiment=smoke", "market.population.size=200", "market.horizon_days=10", "experiment.jobs=1"]
SWEEP = [*TINY, "policy=linucb_additive,rules_rfm", "seed=1,2"]
TIMINGS = ["decide_seconds", "train_seconds"]
"""wall-clock columns: the only ones allowed to differ between two runs of the same trials"""


def composed(*overrides: str) -> tuple[schema.Config, str | None]:
    """The typed config of ``offerlab <overrides>`` and the ``policy`` choice, as the CLI gets them."""
    with initialize_config_dir(config_dir=cli.CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides), return_hydra_config=True)
    choice = cfg.hydra.runtime.choices.get("policy")
    with open_dict(cfg):
        del cfg["hydra"]
    return schema.to_config(cfg, choice), choice


def test_policy_and_seed_pick_one_trial_and_keep_the_hyperparameter_overrides():
    cfg, choice = composed("experiment=smoke", "policy=linucb_additive", "seed=3", "policies.linucb_additive.alpha=2.5")
    assert choice == "linucb_additive"
    assert cfg.experiment.policies == ["linucb_additive"] and cfg.experiment.seeds == [3]  # compare adds the no-contact twin
    assert cfg.policies["linucb_additive"]["alpha"] == 2.5 and cfg.policies["thompson_additive"]["scale"] == 1.0
    cfg, choice = composed("experiment=smoke", "policy=ppo", "policies.ppo.total_timesteps=500")
    assert cfg.experiment.policies == ["ppo"] and cfg.policies["ppo"]["total_timesteps"] == 500
    cfg, choice = composed("experiment=smoke", "policy=rules_rfm")
    assert cfg.experiment.policies == ["rules_rfm"] and cfg.experiment.seeds == [0, 1, 2]
    cfg, choice = composed("experiment=smoke")
    assert choice is None and len(cfg.experiment.policies) == 15 and cfg.experiment.seeds == [0, 1, 2]


def test_unknown_policy_and_a_policy_for_a_task_without_one_are_refused(tmp_path):
    res = offerlab("policy=genius", f"hydra.run.dir={tmp_path / 'x'}", cwd=tmp_path)
    assert res.returncode != 0 and "policy/genius" in res.stderr and "rules_rfm" in res.stderr and "linucb_additive" in res.stderr
    res = offerlab("experiment=simulate", "policy=linucb_additive", f"hydra.run.dir={tmp_path / 'y'}", cwd=tmp_path)
    assert res.returncode == 2 and "policy=linucb_additive: picks the policy of a trial of task=compare; task=simulate runs none" in res.stderr
    res = offerlab("seed=-1", f"hydra.run.dir={tmp_path / 'z'}", cwd=tmp_path)
    assert res.returncode == 2 and "seed=-1: must be in [0, 2147483647]" in res.stderr
    assert not any((tmp_path / d).exists() for d in "xyz")


@pytest.fixture(scope="module")
def sequential_sweep(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    sweep = tmp_path_factory.mktemp("seq")
    res = offerlab("-m", *SWEEP, f"hydra.sweep.dir={sweep}", cwd=sweep)
    assert res.returncode == 0, res.stderr
    return sweep, res


@pytest.mark.slow
def test_multirun_over_two_policies_and_two_seeds_gathers_one_comparison(sequential_sweep):
    sweep, res = sequential_sweep
    summary = pd.read_parquet(sweep / "summary.parquet")
    assert sorted(zip(summary.policy, summary.seed)) == [(p, s) for p in ("linucb_additive", "no_contact", "rules_rfm") for s in (1, 2)]
    comparison = pd.read_csv(sweep / "comparison.csv")
    assert sorted(comparison.policy) == ["linucb_additive", "no_contact", "rules_rfm"] and (comparison.seeds == 2).all()
    assert (comparison.best_rule == "rules_rfm").all()
    for trial in ("0", "1", "2", "3"):  # each trial is a comparison of its own: the policy and its twin on one seed
        assert len(pd.read_csv(sweep / trial / "summary.csv")) == 2
    trial = pd.read_parquet(sweep / "0" / "summary.parquet")  # policy=linucb_additive seed=1
    pd.testing.assert_frame_equal(summary[summary.policy == "linucb_additive"].head(1).reset_index(drop=True), trial[trial.policy == "linucb_additive"].reset_index(drop=True))
    daily = pd.read_parquet(sweep / "daily.parquet")
    assert len(daily) == 6 * 10 and not daily.duplicated(["policy", "seed", "day"]).any()
    assert {p.relative_to(sweep / "tb").as_posix() for p in (sweep / "tb").glob("*/*")} == {
        f"{p}/seed_{s}" for p in ("linucb_additive", "no_contact", "rules_rfm") for s in (1, 2)}
    assert "Gathered from 4 trials" in (sweep / "report.md").read_text()
    assert f"report: {sweep / 'report.md'}" in res.stdout and "4 trials gathered" in res.stdout


@pytest.mark.slow
def test_ray_trials_match_the_sequential_run_bit_for_bit(sequential_sweep, tmp_path_factory):
    sequential, _ = sequential_sweep
    sweep = tmp_path_factory.mktemp("ray")  # short: Ray's socket paths under <sweep>/.ray must stay under 108 bytes
    res = offerlab("-m", *SWEEP, "hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2", f"hydra.sweep.dir={sweep}", cwd=sweep)
    assert res.returncode == 0, res.stderr
    assert "token" not in res.stderr.lower()  # RAY_AUTH_MODE=disabled for the local Ray
    assert (sweep / ".ray").is_dir() and temp_dir(str(sweep)) == str(sweep.resolve() / ".ray")
    for name in ("summary.parquet", "comparison.parquet", "daily.parquet", "decisions.parquet", "0/summary.parquet", "3/daily.parquet"):
        ours, theirs = pd.read_parquet(sweep / name), pd.read_parquet(sequential / name)
        timing = [c for c in ours.columns if any(c.startswith(t) for t in TIMINGS)]
        pd.testing.assert_frame_equal(ours.drop(columns=timing), theirs.drop(columns=timing), check_exact=True)
    assert (sweep / "daily.parquet").read_bytes() == (sequential / "daily.parquet").read_bytes()


def test_ray_temp_dir_falls_back_when_socket_paths_would_be_too_long(tmp_path):
    assert temp_dir("/tmp/s") == "/tmp/s/.ray"
    assert temp_dir("/tmp/" + "d" * 60) is None


def test_a_write_interrupted_mid_file_leaves_only_complete_files(tmp_path, monkeypatch):
    cfg, _ = composed("experiment=smoke", "market.population.size=200", "market.horizon_days=7", "seed=0")

    def half_a_file_then_ctrl_c(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 half a parquet file")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_a_file_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        compare.compare(cfg, tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert "summary.csv" in names and "summary.parquet" not in names  # the first table is whole, the second was never renamed in
    assert not [n for n in names if n.endswith(".tmp")]
    assert len(pd.read_csv(tmp_path / "summary.csv")) == len(cfg.experiment.policies)  # one seed
    monkeypatch.undo()
    assert len(pd.read_parquet(tmp_path / "decisions.parquet")) > 0  # streamed during the runs, complete before the tables


@pytest.mark.slow
def test_ctrl_c_during_the_runs_leaves_no_result_file(tmp_path):
    run_dir = tmp_path / "run"
    # A test runner started in the background without job control hands its children SIGINT ignored, and Python then never
    # raises KeyboardInterrupt; a user's Ctrl-C reaches a process with Python's default handler, which this child restores.
    python, flag, code = OFFERLAB
    interruptible = [python, flag, "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); " + code]
    proc = subprocess.Popen([*interruptible, "experiment=smoke", "market.population.size=1000", f"hydra.run.dir={run_dir}"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / ".decisions.parquet.tmp").exists():  # the decision log is being streamed: the runs are under way
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be interrupted"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    left = {p.name for p in run_dir.iterdir()}
    assert left <= {".hydra", "cli.log", "ppo"}, left  # no table, plot, report or temporary file
    assert zipfile.is_zipfile(run_dir / "ppo" / "best_model.zip")  # PPO trained before the runs: its model is whole


def test_gathering_keeps_a_shared_twin_once_and_refuses_trials_of_different_markets(tmp_path):
    seen: dict = {}
    first = pd.DataFrame({"policy": ["no_contact", "linucb_additive"], "seed": [1, 1], "profit": [10.0, 12.0]})
    assert fresh_policies(first, seen, tmp_path) == {"no_contact", "linucb_additive"}
    second = pd.DataFrame({"policy": ["no_contact", "thompson_additive"], "seed": [1, 1], "profit": [10.0, 11.0]})
    assert fresh_policies(second, seen, tmp_path) == {"thompson_additive"}
    other_market = pd.DataFrame({"policy": ["no_contact", "blast"], "seed": [1, 1], "profit": [9.0, 11.0]})
    with pytest.raises(ValueError, match="no_contact on seed 1 earned 9.0 here and 10.0 in an earlier trial"):
        fresh_policies(other_market, seen, tmp_path)


@pytest.mark.slow
def test_ppo_training_beside_the_other_runs_gives_the_sequential_results(tmp_path):
    overrides = ["experiment=smoke", "market.population.size=200", "market.horizon_days=10", "experiment.seeds=[0,1]",
                 "experiment.policies=[rules_rfm,linucb_additive,ppo]", "policies.ppo.total_timesteps=3000"]
    tables = []
    for jobs in (1, 2):
        cfg, _ = composed(*overrides, f"experiment.jobs={jobs}")
        compare.compare(cfg, tmp_path / f"jobs{jobs}")
        tables.append([pd.read_parquet(tmp_path / f"jobs{jobs}" / name) for name in ("summary.parquet", "decisions.parquet")])
    (summary1, decisions1), (summary2, decisions2) = tables
    assert list(summary1.policy) == ["no_contact"] * 2 + ["rules_rfm"] * 2 + ["linucb_additive"] * 2 + ["ppo"] * 2
    pd.testing.assert_frame_equal(summary1.drop(columns=TIMINGS), summary2.drop(columns=TIMINGS))
    pd.testing.assert_frame_equal(decisions1, decisions2)  # row for row: the log is written in task order
