"""The Hillstrom replay and fit: real intervals, the random split, the replay's outputs, the fitted preset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from experiments import schema
from experiments.calibration import fit, hillstrom, replay
from experiments.cli import CONFIG_DIR
from experiments.schema import CalibrationConfig, Config
from sim.config import MarketConfig
from sim.resources import config_dir

PRESET = config_dir() / "market" / "hillstrom.yaml"


@pytest.fixture(scope="module")
def table():
    return hillstrom.load()


def composed(*overrides: str) -> Config:
    schema.register()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return schema.to_config(compose(config_name="config", overrides=list(overrides)))


def test_real_effects_reproduce_the_data_readme(table):
    """The README's numbers (Wald for rates and their differences, t for spend, Welch for spend differences)."""
    e = hillstrom.effects(table.frame).set_index(["arm", "metric"])
    expect = {
        ("No E-Mail", "visit"): (0.1062, 0.1020, 0.1103),
        ("Mens E-Mail", "conversion"): (0.0125, 0.0110, 0.0140),
        ("No E-Mail", "spend"): (0.653, 0.497, 0.808),
        ("Mens E-Mail", "visit_lift"): (0.0766, 0.0700, 0.0832),
        ("Womens E-Mail", "conversion_lift"): (0.00311, 0.00150, 0.00472),
        ("Mens E-Mail", "spend_lift"): (0.770, 0.485, 1.055),
        ("Womens E-Mail", "spend_lift"): (0.424, 0.169, 0.680),
    }
    for key, values in expect.items():
        assert tuple(e.loc[key, ["value", "low", "high"]]) == pytest.approx(values, abs=6e-4), key
    assert e.loc[("Womens E-Mail", "visit"), "n"] == 21_387


def test_the_halves_are_a_fixed_random_split_of_every_customer(table):
    a, b = hillstrom.halves(table, 2008), hillstrom.halves(table, 2008)
    fit_rows, holdout_rows = a["fit"].frame.index, a["holdout"].frame.index
    assert len(fit_rows) == len(holdout_rows) == 32_000 and not set(fit_rows) & set(holdout_rows)
    assert (a["fit"].frame.index == b["fit"].frame.index).all()
    assert not (hillstrom.halves(table, 1)["fit"].frame.index == fit_rows).all()
    share = a["fit"].frame["segment"].value_counts(normalize=True)
    assert share.between(0.32, 0.35).all()


def test_the_replay_split_is_random_and_balanced(table):
    arms = replay.assign_arms(32_000, seed=3)
    counts = np.bincount(arms)
    assert counts.max() - counts.min() <= 1
    assert not (replay.assign_arms(32_000, seed=4) == arms).all()
    # The split depends on the seed and the number of customers only, so it cannot follow any covariate;
    # on the real customers the arms' covariate means agree as in the real test.
    frame = table.frame.iloc[:32_000]
    means = frame.assign(arm=arms).groupby("arm")[["recency", "history", "mens", "womens", "newbie"]].mean()
    assert (means.max() / means.min() < 1.04).all()


def test_a_simulated_experiment_has_the_real_shape(table):
    market = composed("market=hillstrom").market
    customers = table.take(np.arange(900))
    frame = replay.simulate_experiment(market, customers, seed=0, window_days=14)
    assert list(frame.columns) == ["customer", "recency", "history", "mens", "womens", "zip_code", "newbie", "channel",
                                   "segment", "visit", "conversion", "spend"]
    assert (frame["customer"] == np.arange(900)).all() and (frame["segment"].value_counts() == 300).all()
    assert (frame["visit"] >= frame["conversion"]).all()
    assert ((frame["spend"] > 0) == (frame["conversion"] == 1)).all()
    again = replay.simulate_experiment(market, customers, seed=0, window_days=14)
    pd.testing.assert_frame_equal(frame, again)


def test_the_replay_preset_writes_every_output(tmp_path):
    cfg = composed("experiment=hillstrom_replay", "experiment.seeds=[0,1]")
    assert cfg.task == "hillstrom_replay" and cfg.market.name == "hillstrom"
    table, untargeted = replay.replay(cfg, tmp_path)
    assert {"replay.csv", "untargeted.csv", "replay.png", "untargeted.png", "replay_customers.parquet"} <= {p.name for p in tmp_path.iterdir()}
    written = pd.read_csv(tmp_path / "replay.csv")
    assert list(written.columns) == replay.REPLAY_COLUMNS and len(written) == 2 * 15
    assert set(written["half"]) == {"fit", "holdout"} and set(written["metric"]) == set(hillstrom.OUTCOMES + hillstrom.LIFTS)
    assert set(untargeted["by"]) == set(replay.UNTARGETED_BY) and set(untargeted["metric"]) == set(hillstrom.LIFTS)
    customers = pd.read_parquet(tmp_path / "replay_customers.parquet")
    assert len(customers) == 2 * 64_000
    assert {"seed", "half", "customer", "history_segment", "segment", "visit", "real_segment", "real_visit", "real_spend"} <= set(customers.columns)
    # Anyone can cut the simulated test like the real one: the simulated control visit rate of the fit half.
    cut = customers[(customers["half"] == "fit") & (customers["segment"] == "No E-Mail")].groupby("seed")["visit"].mean().mean()
    row = written[(written["half"] == "fit") & (written["arm"] == "No E-Mail") & (written["metric"] == "visit")]
    assert cut == pytest.approx(float(row["simulated"].iloc[0]))


def test_the_fitted_preset_reproduces_its_own_recorded_moments(table):
    recorded, settings = fit.recorded_moments(PRESET)
    body = OmegaConf.load(PRESET)
    body.pop("defaults")
    market = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(MarketConfig), body))
    cal = CalibrationConfig(**settings)
    fit_half = hillstrom.halves(table, cal.split_seed)["fit"]
    target = fit.moments(fit_half.frame)
    assert list(target["moment"]) == list(recorded["moment"])
    np.testing.assert_allclose(target["value"], recorded["target"], atol=1e-6)
    simulated = fit.Objective(market, fit_half, target, cal).simulate(market)
    np.testing.assert_allclose(simulated["fitted"], recorded["fitted"], atol=1e-6)


def test_the_fit_runs_end_to_end_and_writes_its_tables(tmp_path):
    """One trust-region step on one replica: the whole pipeline, without touching the committed preset."""
    before = PRESET.read_bytes()
    cfg = composed("experiment=hillstrom_fit", "calibration.max_steps=1", "calibration.fit_replicas=1", "calibration.preset=")
    fit.run_task(cfg, tmp_path)
    moments = pd.read_csv(tmp_path / "fit.csv")
    assert list(moments.columns[:3]) == ["moment", "target", "target_low"] and {"fitted", "se", "z"} <= set(moments.columns)
    assert len(moments) == 33 and moments["fitted"].notna().all()
    params = pd.read_csv(tmp_path / "fit_parameters.csv")
    assert list(params["parameter"]) == [p.key for p in fit.FITTED]
    recorded, settings = fit.recorded_moments(tmp_path / "hillstrom.yaml")
    assert settings["fit_replicas"] == 1 and np.allclose(recorded["fitted"], moments["fitted"], atol=1e-6)
    assert PRESET.read_bytes() == before


def test_a_preset_header_round_trips(tmp_path):
    fit_table = pd.DataFrame({"moment": ["visit | No E-Mail", "visit | No E-Mail | bought=mens only"], "target": [0.1, 0.2],
                              "fitted": [0.11, 0.19], "se": [0.01, 0.02]})
    cal = CalibrationConfig(split_seed=7, fit_seed=8, fit_replicas=2, window_days=14)
    summary = {"loss": 1.0, "moments": 2, "parameters": 1, "evaluations": 3, "seconds": 4.0}
    path = tmp_path / "preset.yaml"
    path.write_text(fit.preset_text(MarketConfig(name="x"), fit_table, summary, cal))
    recorded, settings = fit.recorded_moments(path)
    assert settings == {"split_seed": 7, "fit_seed": 8, "fit_replicas": 2, "window_days": 14}
    pd.testing.assert_frame_equal(recorded, fit_table[["moment", "target", "fitted", "se"]])
    body = OmegaConf.load(path)
    assert body.defaults == ["market_schema", "_self_"] and body.name == "x"


def test_the_preset_goes_into_a_checkout_or_an_absolute_path_and_an_installed_copy_keeps_its_configs(tmp_path, monkeypatch):
    assert fit.preset_path("") is None
    assert fit.preset_path(str(tmp_path / "p.yaml")) == tmp_path / "p.yaml"
    assert fit.preset_path("configs/market/hillstrom.yaml") == PRESET  # this checkout's preset
    monkeypatch.setattr(fit, "source_checkout", lambda: None)  # installed from a wheel
    assert fit.preset_path("configs/market/hillstrom.yaml") is None
    assert fit.preset_path(str(tmp_path / "p.yaml")) == tmp_path / "p.yaml"
