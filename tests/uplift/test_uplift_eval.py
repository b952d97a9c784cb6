"""The ``uplift_eval`` task end to end on a small log: its files, whole and repeatable; bad settings refused before any file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from experiments import cli, schema
from experiments.uplift_eval import FILES, uplift_eval
from sim.config import ConfigError


@pytest.fixture(scope="module")
def log_path(tmp_path_factory):
    """3,000 customers, thirds to ctl / a / b at random; a helps customers with x above 0.5, b those in the city; halves at random."""
    rng = np.random.default_rng(0)
    n = 3000
    x, city = rng.random(n), rng.random(n) < 0.5
    arm = rng.permutation(np.resize(np.array(["ctl", "a", "b"]), n))
    p = 0.1 + 0.7 * (x > 0.5) * (arm == "a") + 0.5 * city * (arm == "b")
    frame = pd.DataFrame({"group": arm, "bought": (rng.random(n) < p).astype(int), "x": x, "area": np.where(city, "city", "country"),
                          "half": np.where(rng.random(n) < 0.5, "fit", "holdout")})
    path = tmp_path_factory.mktemp("log") / "pilot.csv"
    frame.to_csv(path, index=False)
    return path


def composed(log_path, *overrides: str) -> schema.Config:
    base = ["experiment=uplift_eval", f"uplift_eval.log={log_path}", "uplift_eval.treatment=group", "uplift_eval.control=ctl",
            "uplift_eval.outcome=bought", "uplift_eval.features=[x,area]", "uplift_eval.bootstrap=50"]
    with initialize_config_dir(config_dir=cli.CONFIG_DIR, version_base="1.3"):
        return schema.to_config(compose(config_name="config", overrides=[*base, *overrides]))


def test_the_task_writes_its_table_plot_and_verdict(log_path, tmp_path):
    table = uplift_eval(composed(log_path), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    written = pd.read_csv(tmp_path / "uplift_eval.csv")
    assert list(written["arm"].unique()) == ["a", "b"] and list(written["scorer"].unique()) == ["uplift_t", "random", "uplift_t - random"]
    assert ((written["low"] <= written["value"]) & (written["value"] <= written["high"])).all()
    assert len(written) == len(table) == 2 * 3 * 4
    verdict = (tmp_path / "uplift_eval.md").read_text()
    assert "Fitted on" in verdict and "where half=fit" in verdict and "- a: `uplift_t` ranks better than random targeting" in verdict
    assert "- b: `uplift_t` ranks better than random targeting" in verdict
    assert (tmp_path / "uplift_eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_log_and_seed_give_the_same_files_bit_for_bit(log_path, tmp_path):
    first, again = tmp_path / "a", tmp_path / "b"
    for folder in (first, again):
        uplift_eval(composed(log_path, "uplift_eval.model=x", "seed=3"), folder)
    assert (first / "uplift_eval.csv").read_bytes() == (again / "uplift_eval.csv").read_bytes()
    assert (first / "uplift_eval.md").read_text() == (again / "uplift_eval.md").read_text()


@pytest.mark.parametrize(("override", "message"), [
    ("uplift_eval.outcome=spend", r"uplift_eval.train='.*pilot.csv': no column 'spend' \(the outcome\); the table's columns: group, bought"),
    ("uplift_eval.treatment=arm", r"no column 'arm' \(the treatment\)"),
    ("uplift_eval.control=none", r"column 'group' has no row of the control 'none'; its values: a, b, ctl"),
    ("uplift_eval.model=s", r"uplift_eval.model='s': unknown; allowed: t, x"),
    ("uplift_eval.train_where=[half]", r"uplift_eval.train_where: 'half' is not a condition; allowed: column=value"),
    ("uplift_eval.eval_where=['half=test']", r"uplift_eval.eval_where=\['half=test'\]: no row of uplift_eval.log=.* meets every condition"),
    ("uplift_eval.features=[x,bought]", r"holds the outcome or the treatment column"),
    ("uplift_eval.log=/nonexistent.parquet", r"uplift_eval.log='/nonexistent.parquet': no such file"),
])
def test_a_bad_setting_is_refused_by_name_and_writes_nothing(log_path, tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        uplift_eval(composed(log_path, override), tmp_path)
    assert not list(tmp_path.iterdir())


def test_out_of_range_settings_are_refused_when_the_config_is_read(log_path):
    with pytest.raises(ConfigError, match=r"uplift_eval.k=0.0: must be in \(0.0, 1.0\]"):
        composed(log_path, "uplift_eval.k=0")
    with pytest.raises(ConfigError, match=r"uplift_eval.bootstrap=10: must be in \[50, 10000\]"):
        composed(log_path, "uplift_eval.bootstrap=10")
