"""The ``ope`` task: a log in, a table, a plot and a verdict out; bad logs and candidates refused by name; same seed, same bytes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from experiments import cli, schema
from experiments.ope import FILES, ope
from experiments.runner import run_policy
from policies.decision_log import LogError, check_log
from policies.registry import OPTIONAL
from policies.rules import RULES_DIR
from serving.export import export_policy
from sim.config import ConfigError, GuardrailConfig
from tests.conftest import small_config


@pytest.fixture(scope="module")
def log_path(tmp_path_factory):
    """Every decision of random and blast on a 200-shopper market for 21 days, seed 3, as a run writes it, with its run config."""
    folder = tmp_path_factory.mktemp("run")
    market, guardrails = small_config(size=200, horizon=21), GuardrailConfig()
    log = pd.concat([run_policy(p, 3, market, guardrails, log_shoppers=-1).decisions for p in ("random", "blast")], ignore_index=True)
    log.to_parquet(folder / "decisions.parquet", index=False)
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "config.yaml").write_text(f"guardrails:\n  frequency_cap_7d: {guardrails.frequency_cap_7d}\n")
    return folder / "decisions.parquet"


def composed(*overrides: str) -> schema.Config:
    with initialize_config_dir(config_dir=cli.CONFIG_DIR, version_base="1.3"):
        return schema.to_config(compose(config_name="config", overrides=["experiment=ope", "ope.bootstrap=100", "ope.folds=3", *overrides]))


def test_the_preset_evaluates_a_rule_table_and_needs_a_log(tmp_path):
    cfg = composed()
    assert cfg.task == "ope" and cfg.ope.candidate == "rules_rfm" and cfg.ope.log == ""
    with pytest.raises(ConfigError, match="ope.log is empty"):
        ope(cfg, tmp_path)


def test_the_task_writes_its_table_plot_and_verdict(log_path, tmp_path):
    result = ope(composed(f"ope.log={log_path}", "ope.candidate=blast", "ope.log_policies=[random]"), tmp_path)
    assert set(FILES) <= {p.name for p in tmp_path.iterdir()} and not list(tmp_path.glob(".*.tmp"))
    table = pd.read_csv(tmp_path / "ope.csv").set_index("estimator")
    assert list(table.index) == ["dm", "ips", "snips", "dr", "switch_dr", "dr_os", "logged", "dr_minus_logged", "candidate_logged"]
    assert (table["low"] <= table["value"]).all() and (table["value"] <= table["high"]).all()
    log = pd.read_parquet(log_path)
    random = log[(log.policy == "random") & log.matured]
    assert result.rows == len(random) and table.loc["logged", "value"] == pytest.approx(random.reward.mean())
    blast = log[(log.policy == "blast") & log.matured]
    assert table.loc["candidate_logged", "value"] == pytest.approx(blast.reward.mean())
    assert 0 < result.support < 1 and result.ess < result.rows
    verdict = (tmp_path / "ope.md").read_text()
    assert "Candidate `blast`" in verdict and "from random (" in verdict and f"Frequency cap 3 (from {log_path.parent}" in verdict
    assert "DR puts the candidate's mean matured reward at" in verdict and "![estimates and weights](ope.png)" in verdict
    assert (tmp_path / "ope.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_logger_evaluated_on_its_own_rows_gets_its_own_mean_reward(log_path, tmp_path):
    """Every weight is 1: IPS and SNIPS are the logged mean, the whole log is effective, the support is full."""
    result = ope(composed(f"ope.log={log_path}", "ope.candidate=random", "ope.log_policies=[random]"), tmp_path)
    log = pd.read_parquet(log_path)
    mean = log[(log.policy == "random") & log.matured].reward.mean()
    assert result.value("ips") == pytest.approx(mean, rel=1e-12) and result.value("snips") == pytest.approx(mean, rel=1e-12)
    assert result.support == 1.0 and result.ess == pytest.approx(result.rows) and result.covered[0] == pytest.approx(1.0)


def test_same_log_candidate_and_seed_give_the_same_files_bit_for_bit(log_path, tmp_path):
    """(That another seed gives other intervals is the estimators' test.)"""
    first, again = tmp_path / "a", tmp_path / "b"
    for folder in (first, again):
        ope(composed(f"ope.log={log_path}", "ope.candidate=rules_rfm", "seed=5"), folder)
    assert (first / "ope.csv").read_bytes() == (again / "ope.csv").read_bytes()
    assert (first / "ope.md").read_text() == (again / "ope.md").read_text()


def test_a_candidate_without_support_gets_a_warning_not_a_number(log_path, tmp_path):
    log = pd.read_parquet(log_path)
    sends = log[log.action > 0]  # no contact never ran here: the holdout could have made none of these decisions
    sends.to_parquet(tmp_path / "sends.parquet", index=False)
    result = ope(composed(f"ope.log={tmp_path / 'sends.parquet'}", "ope.candidate=no_contact"), tmp_path / "run")
    assert result.supported == 0 and result.warnings
    table = pd.read_csv(tmp_path / "run" / "ope.csv").set_index("estimator")
    assert table.loc[["dm", "ips", "snips", "dr", "switch_dr", "dr_os"], "value"].isna().all()
    assert "**Warning: no support: the candidate could have made 0 of the" in (tmp_path / "run" / "ope.md").read_text()


def test_candidates_a_log_cannot_evaluate_are_refused_by_name(log_path, tmp_path):
    for candidate, message in (("oracle", "ope.candidate='oracle': reads the market's latent state"),
                               ("reference", "ope.candidate='reference': reads the market's latent state"),
                               ("nobody", "ope.candidate='nobody': unknown; allowed: no_contact, random, blast, epsilon_greedy"),
                               ("ppo", "ope.candidate='ppo': policies.ppo.model_path is empty")):
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
            ope(composed(f"ope.log={log_path}", f"ope.candidate={candidate}"), tmp_path)
    with pytest.raises(ConfigError, match="ope.log_policies: 'thompson' made no decision in .*; the log's policies: random, blast"):
        ope(composed(f"ope.log={log_path}", "ope.log_policies=[thompson]"), tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(not OPTIONAL["vw"], reason="the vw extra is not installed")
def test_a_randomised_candidate_that_cannot_say_its_probabilities_is_refused(log_path, tmp_path):
    with pytest.raises(ConfigError, match=r"ope\.candidate='vw': policy 'vw': randomised \(propensities below 1\) and has no probabilities"):
        ope(composed(f"ope.log={log_path}", "ope.candidate=vw", "ope.log_policies=[blast]"), tmp_path)
    assert not list(tmp_path.iterdir())


BAD = [
    (lambda f: f.drop(columns="propensity"), r"column 'propensity' is missing; a decision log has the columns policy, seed"),
    (lambda f: f.drop(columns=["recency", "reward"]), r"column 'recency' is missing \(and 1 more\)"),
    (lambda f: f.assign(propensity=np.where(f.index == 3, 0.0, f.propensity)), r"column 'propensity' holds 0\.0 \(row 3, one of 1\); allowed: probabilities in \(0, 1\]"),
    (lambda f: f.assign(propensity=np.where(f.index == 4, 1.5, f.propensity)), r"column 'propensity' holds 1\.5 \(row 4, one of 1\)"),
    (lambda f: f.assign(action=np.where(f.index == 2, 999, f.action)), r"column 'action' holds 999 \(row 2, one of 1\); allowed: whole numbers 0\.\.255"),
    (lambda f: f.assign(recency=np.where(f.index == 7, np.nan, f.recency)), r"column 'recency' holds nan \(row 7, one of 1\); allowed: finite numbers"),
    (lambda f: f.assign(monetary="lots"), r"column 'monetary' holds (object|str) values such as 'lots'; allowed: numbers"),
    (lambda f: f.assign(refusal=np.where(f.index == 1, "tired", f.refusal)), r"column 'refusal' holds 'tired' \(row 1, one of 1\); allowed: empty or one of absent"),
    (lambda f: f.assign(matured=np.where(f.index == 0, 2, 1)), r"column 'matured' holds 2 \(row 0, one of 1\); allowed: true or false"),
    (lambda f: f.assign(reward=np.where(f.index == 5, np.nan, f.reward), matured=True), r"column 'reward' holds nan \(row 5, one of 1\); allowed: finite numbers where matured is true"),
]


@pytest.mark.parametrize("breaks, message", BAD, ids=[m.split("'")[1] + f"-{i}" for i, (_, m) in enumerate(BAD)])
def test_a_bad_or_missing_column_is_an_error_naming_it_the_value_and_what_is_allowed(log_path, breaks, message):
    log = pd.read_parquet(log_path).head(50)
    check_log(log)  # the log as a run writes it passes
    with pytest.raises(LogError, match=message):
        check_log(breaks(log))


def test_a_log_of_fewer_shoppers_than_folds_is_refused_naming_the_setting(log_path, tmp_path):
    log = pd.read_parquet(log_path)
    log[log.shopper.isin(log.shopper.unique()[:3])].to_parquet(tmp_path / "three.parquet", index=False)
    with pytest.raises(ConfigError, match=r"ope\.folds=5: the kept rows of .*three\.parquet \([\d,]+ matured decisions\) hold 3 shopper\(s\)"):
        ope(composed(f"ope.log={tmp_path / 'three.parquet'}", "ope.folds=5"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_bad_log_fails_the_task_before_anything_is_written(log_path, tmp_path):
    pd.read_parquet(log_path).drop(columns="matured").to_csv(tmp_path / "shop.csv", index=False)
    with pytest.raises(ConfigError, match=r"shop\.csv: column 'matured' is missing"):
        ope(composed(f"ope.log={tmp_path / 'shop.csv'}"), tmp_path / "run")
    with pytest.raises(ConfigError, match=r"ope\.log='.*nowhere\.parquet': no such file"):
        ope(composed(f"ope.log={tmp_path / 'nowhere.parquet'}"), tmp_path / "run")
    (tmp_path / "log.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"unknown format '\.json'; allowed: \.parquet, \.csv"):
        ope(composed(f"ope.log={tmp_path / 'log.json'}"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_shops_csv_log_in_the_schema_is_read_and_evaluated(log_path, tmp_path):
    """A CSV as a shop would write it (empty refusals and seeds read as empty, not as NaN) gives the parquet's numbers."""
    pd.read_parquet(log_path).assign(seed="").to_csv(tmp_path / "shop.csv", index=False)
    from_csv = ope(composed(f"ope.log={tmp_path / 'shop.csv'}", "ope.candidate=blast"), tmp_path / "csv")
    from_parquet = ope(composed(f"ope.log={log_path}", "ope.candidate=blast"), tmp_path / "parquet")
    pd.testing.assert_frame_equal(from_csv.table, from_parquet.table, rtol=1e-9)


def test_a_rule_table_file_and_its_exported_artefact_are_evaluated_as_the_registered_table(log_path, tmp_path):
    """The same rules by name, from their .yaml file, and served from an exported artefact: the same estimates, bit for bit."""
    table_file = tmp_path / "rfm.yaml"
    table_file.write_bytes((RULES_DIR / "rfm.yaml").read_bytes())
    export_policy(table_file, tmp_path / "artefact", GuardrailConfig(), parity_samples=200)
    results = {}
    for key, candidate in (("name", "rules_rfm"), ("file", str(table_file)), ("artefact", str(tmp_path / "artefact"))):
        results[key] = ope(composed(f"ope.log={log_path}", f"ope.candidate={candidate}", "ope.log_policies=[random]"), tmp_path / key)
    for key in ("file", "artefact"):
        pd.testing.assert_frame_equal(results[key].table, results["name"].table)
    assert "Candidate `" + str(tmp_path / "artefact") + "`" in (tmp_path / "artefact" / "ope.md").read_text()


def test_a_broken_artefact_or_rule_file_is_refused_naming_the_candidate(log_path, tmp_path):
    export_policy("rfm", tmp_path / "artefact", GuardrailConfig(), parity_samples=200)
    rules = tmp_path / "artefact" / "rules.yaml"
    rules.write_text(rules.read_text() + "\n# edited after export\n")
    with pytest.raises(ConfigError, match=r"ope\.candidate='.*artefact': .*rules\.yaml"):
        ope(composed(f"ope.log={log_path}", f"ope.candidate={tmp_path / 'artefact'}"), tmp_path / "run1")
    (tmp_path / "bad.yaml").write_text("name: bad\nrules: [{segment: x, offer: caviar, channel: email, slot: morning}]\n")
    with pytest.raises(ConfigError, match=r"ope\.candidate='.*bad\.yaml': .*caviar"):
        ope(composed(f"ope.log={log_path}", f"ope.candidate={tmp_path / 'bad.yaml'}"), tmp_path / "run2")
    assert not (tmp_path / "run1").exists() and not (tmp_path / "run2").exists()
