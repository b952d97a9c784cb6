"""The Hillstrom replay and fit: real intervals and their covariance, the random split, the held-out test, the replay's outputs, the fitted preset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from scipy import stats

from experiments import schema
from experiments.calibration import fit, hillstrom, holdout, replay
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


def tiny_test_frame() -> pd.DataFrame:
    """Nine customers in three arms, small enough to compute the covariance by hand."""
    return pd.DataFrame({
        "segment": ["No E-Mail"] * 4 + ["Mens E-Mail"] * 3 + ["Womens E-Mail"] * 2,
        "visit": [1, 0, 0, 1, 1, 1, 0, 0, 1], "conversion": [0, 0, 0, 1, 1, 0, 0, 0, 1], "spend": [0, 0, 0, 4, 3, 0, 0, 0, 2.0],
    })


def test_the_covariance_of_the_values_is_the_hand_computed_one():
    """By hand, with sample covariances (divisor n - 1) over n: control visit 1/3 / 4, its visit-spend 2/3 / 4;
    men's visit 1/3 / 3, visit-spend 1/2 / 3. A lift adds the control's part; two lifts share it."""
    frame = tiny_test_frame()
    cov = hillstrom.covariance(frame)
    assert list(cov.index) == list(zip(*hillstrom.effects(frame)[["arm", "metric"]].to_numpy().T)) == list(cov.columns)
    c = lambda a, b: cov.loc[a, b]  # noqa: E731
    mens, womens, control = "Mens E-Mail", "Womens E-Mail", "No E-Mail"
    assert c((mens, "visit"), (mens, "visit")) == pytest.approx(1 / 9)
    assert c((mens, "visit_lift"), (mens, "visit_lift")) == pytest.approx(1 / 9 + 1 / 12)
    assert c((mens, "visit_lift"), (womens, "visit_lift")) == pytest.approx(1 / 12)
    assert c((mens, "spend_lift"), (mens, "visit_lift")) == pytest.approx(1 / 6 + 1 / 6)
    assert c((mens, "spend_lift"), (control, "visit")) == pytest.approx(-1 / 6)
    assert c((control, "conversion"), (control, "conversion")) == pytest.approx(1 / 16)
    assert c((mens, "visit"), (control, "spend")) == 0
    assert np.allclose(cov, cov.T)


def test_the_covariance_agrees_with_the_real_intervals(table):
    """Its diagonal is the variance behind every interval of the table (to n/(n-1) and the t quantile's 1e-4); its rank is 9."""
    e = hillstrom.effects(table.frame)
    cov = hillstrom.covariance(table.frame)
    np.testing.assert_allclose(1.96 * np.sqrt(np.diag(cov)), (e["high"] - e["low"]) / 2, rtol=5e-4)
    assert np.linalg.matrix_rank(cov.to_numpy()) == 9  # 15 values, 9 arm means: each lift is a difference of rates


def test_the_chi_square_of_two_correlated_differences_is_the_hand_computed_one():
    """d = (1, 2), Sigma = [[2, 1], [1, 2]]: d' Sigma^-1 d = (2 - 4 + 8) / 3 = 2; chi-square(2) has p = exp(-T/2), threshold -2 ln 0.05."""
    keys = [("a", "x"), ("b", "x")]
    half = pd.DataFrame([[1.0, 0.5], [0.5, 1.0]], index=keys, columns=keys)
    test = holdout.holdout_test(pd.Series([1.0, 2.0], index=keys), half, pd.Series([0.0, 0.0], index=keys), half)
    assert test.statistic == pytest.approx(2.0) and test.df == 2
    assert test.p_value == pytest.approx(np.exp(-1)) and test.threshold == pytest.approx(-2 * np.log(0.05)) and test.passed
    # The order of the keys does not matter.
    again = holdout.holdout_test(pd.Series([2.0, 1.0], index=keys[::-1]), half, pd.Series([0.0, 0.0], index=keys), half)
    assert again.statistic == pytest.approx(2.0)
    assert holdout.holdout_test(pd.Series([4.0, 0.0], index=keys), half, pd.Series([0.0, 0.0], index=keys), half).statistic == pytest.approx(32 / 3)


def test_a_lift_adds_no_degree_of_freedom_and_one_that_is_not_a_difference_is_refused():
    """With c = b - a, the three values carry the two's information: the same statistic on 2 df."""
    keys = [("a", "x"), ("b", "x"), ("b", "x_lift")]
    to_three = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]])
    half = pd.DataFrame(to_three @ np.array([[1.0, 0.5], [0.5, 1.0]]) @ to_three.T, index=keys, columns=keys)
    zero = pd.Series(0.0, index=keys)
    test = holdout.holdout_test(pd.Series([1.0, 2.0, 1.0], index=keys), half, zero, half)
    assert test.statistic == pytest.approx(2.0) and test.df == 2
    with pytest.raises(ValueError, match=r"span of their covariance.*\('b', 'x_lift'\)|span of their covariance"):
        holdout.holdout_test(pd.Series([1.0, 2.0, 1.5], index=keys), half, zero, half)


def test_a_perfect_simulator_passes_95_percent_when_the_null_holds(table):
    """Two independent normal draws of the nine arm means around the real ones, with their real covariance, and the
    lifts as their differences: the pass rate lies in the central 99% of Binomial(1000, 0.95), the mean statistic near 9."""
    cov = hillstrom.covariance(table.frame)
    values = hillstrom.effects(table.frame).set_index(["arm", "metric"])["value"]
    keys = list(values.index)
    rates = [k for k in keys if k[1] in hillstrom.OUTCOMES]
    arm_minus_control = [(rates.index((a, m.removesuffix("_lift"))), rates.index((hillstrom.CONTROL, m.removesuffix("_lift"))))
                         for a, m in keys[len(rates):]]
    root = np.linalg.cholesky(cov.loc[rates, rates].to_numpy())
    rng = np.random.default_rng(5)

    def draw() -> pd.Series:
        r = values[rates].to_numpy() + root @ rng.standard_normal(len(rates))
        return pd.Series(np.concatenate([r, [r[i] - r[j] for i, j in arm_minus_control]]), index=values.index)

    draws = 1000
    statistics = np.array([holdout.holdout_test(draw(), cov, draw(), cov).statistic for _ in range(draws)])
    passed = int((statistics <= holdout.HoldoutTest(0.0, 9).threshold).sum())
    assert stats.binom.ppf(0.005, draws, 0.95) <= passed <= stats.binom.ppf(0.995, draws, 0.95), passed
    assert statistics.mean() == pytest.approx(9, abs=0.4)


def real_halves(table):
    halves = hillstrom.halves(table, 2008)
    return halves["fit"].frame, halves["holdout"].frame


def test_the_held_out_test_passes_the_held_out_values_and_fails_a_market_far_off(table):
    fit_half, held = real_halves(table)
    held_values = hillstrom.effects(held).set_index(["arm", "metric"])["value"]
    fit_cov, held_cov = hillstrom.covariance(fit_half), hillstrom.covariance(held)
    same = holdout.holdout_test(held_values, fit_cov, held_values, held_cov)
    assert same.statistic == pytest.approx(0, abs=1e-12) and same.passed and same.df == 9
    # A market whose men's e-mail brings 3 pp more visits (about 4 standard errors of the difference): its rate and lift move together.
    far = held.copy()
    mens_no_visit = far.index[(far["segment"] == "Mens E-Mail") & (far["visit"] == 0)]
    far.loc[mens_no_visit[: int(0.03 * (far["segment"] == "Mens E-Mail").sum())], "visit"] = 1
    far_values = hillstrom.effects(far).set_index(["arm", "metric"])["value"]
    test = holdout.holdout_test(far_values, fit_cov, held_values, held_cov)
    assert not test.passed and test.statistic > 2 * test.threshold and test.p_value < 1e-4
    assert "FAILS" in str(test) and "passes" in str(same)


def test_the_held_out_test_refuses_mismatched_keys_and_a_bad_level(table):
    fit_half, held = real_halves(table)
    values = hillstrom.effects(held).set_index(["arm", "metric"])["value"]
    cov = hillstrom.covariance(held)
    with pytest.raises(ValueError, match=r"keys of simulated .*missing \[\('Womens E-Mail', 'spend_lift'\)\]"):
        holdout.holdout_test(values.drop(("Womens E-Mail", "spend_lift")), cov, values, cov)
    renamed = values.rename(index={"spend_lift": "revenue_lift"}, level="metric")
    with pytest.raises(ValueError, match=r"keys of simulated .*extra \[.*'revenue_lift'"):
        holdout.holdout_test(renamed, cov, values, cov)
    with pytest.raises(ValueError, match=r"keys of held_cov rows .*missing"):
        holdout.holdout_test(values, cov, values, cov.iloc[:9, :9])
    with pytest.raises(ValueError, match=r"level=1.5 is not allowed"):
        holdout.holdout_test(values, cov, values, cov, level=1.5)
    with pytest.raises(ValueError, match=r"\('No E-Mail', 'visit'\) is nan simulated"):
        holdout.holdout_test(values.where(values.index != ("No E-Mail", "visit")), cov, values, cov)


def test_the_simulated_covariance_adds_the_fit_half_and_the_mean_over_seeds(table):
    """Sigma_s = Sigma_fit + sum_k Sigma_k / S^2: two identical seeds halve one seed's noise."""
    fit_half, held = real_halves(table)
    got = replay.simulated_covariance(fit_half, [held, held])
    pd.testing.assert_frame_equal(got, hillstrom.covariance(fit_half) + hillstrom.covariance(held) / 2)


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
    table, untargeted, test = replay.replay(cfg, tmp_path)
    outputs = {"replay.csv", "holdout_test.csv", "untargeted.csv", "replay.png", "untargeted.png", "replay_customers.parquet"}
    assert outputs <= {p.name for p in tmp_path.iterdir()}
    verdict = pd.read_csv(tmp_path / "holdout_test.csv")
    assert len(verdict) == 1 and verdict.loc[0, "seeds"] == 2 and verdict.loc[0, "df"] == test.df == 9
    assert verdict.loc[0, "statistic"] == pytest.approx(test.statistic) and verdict.loc[0, "threshold"] == pytest.approx(16.919, abs=1e-3)
    assert bool(verdict.loc[0, "passed"]) == test.passed == (test.statistic <= test.threshold)
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
