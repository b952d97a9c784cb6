"""A market seeded from a customer table: the loader's checks, the draw, and campaign messages."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
import pytest

from sim import ConfigError, MarketModel
from sim import market as market_module
from sim.catalogue import CATEGORY_NAMES, CHANNEL_NAMES, N_ACTIONS, OFFER_KINDS, SLOTS
from sim.config import ARCHETYPES, CampaignConfig, CustomerEffects, MarketConfig, PopulationConfig, ResponseParams
from sim.customers import REQUIRED, RESPONSE_COLUMNS, customer_table, load_customers
from sim.features import index
from sim.state import NEVER


def customers(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """A Hillstrom-like table of ``n`` customers."""
    rng = np.random.default_rng(seed)
    mens = rng.random(n) < 0.6
    return pd.DataFrame({
        "recency": rng.integers(1, 13, n),
        "history": np.round(rng.gamma(2.0, 120.0, n) + 30, 2),
        "mens": mens.astype(int),
        "womens": (~mens | (rng.random(n) < 0.2)).astype(int),
        "zip_code": rng.choice(["Urban", "Surburban", "Rural"], n),
        "newbie": rng.integers(0, 2, n),
        "channel": rng.choice(["Phone", "Web", "Multichannel"], n),
        "segment": "No E-Mail",  # an extra column: kept, not read
    })


def table_market(frame: pd.DataFrame, **population) -> MarketConfig:
    return MarketConfig(population=PopulationConfig(size=len(frame), arrivals_per_day=0.0, **population), horizon_days=14)


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_a_good_table_loads_from_csv_and_parquet_with_every_column_kept(tmp_path, suffix):
    frame = customers()
    path = tmp_path / f"crm{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    table = load_customers(path)
    assert len(table) == 200 and list(table.frame.columns) == list(frame.columns)
    np.testing.assert_array_equal(table.recency, frame["recency"])
    np.testing.assert_allclose(table.history, frame["history"])
    assert (table.bought[:, CATEGORY_NAMES.index("mens")] == frame["mens"].astype(bool)).all()
    assert (table.bought[:, CATEGORY_NAMES.index("womens")] == frame["womens"].astype(bool)).all()
    assert not table.bought[:, [CATEGORY_NAMES.index(c) for c in ("kids", "home", "beauty", "electronics")]].any()


def test_text_values_match_without_case_and_flags_may_be_booleans():
    frame = customers(5).assign(zip_code=["urban", "SUBURBAN", "Surburban", "rural", "Urban"], channel="web", newbie=True)
    table = customer_table(frame)
    assert list(table.area) == [0, 1, 1, 2, 0] and (table.channel == 1).all() and table.newbie.all()


def test_a_missing_column_is_named_with_the_required_ones(tmp_path):
    path = tmp_path / "crm.csv"
    customers().drop(columns=["channel", "recency"]).to_csv(path, index=False)
    with pytest.raises(ConfigError, match=rf"customer table {path}: missing column\(s\) 'recency', 'channel'; required: {', '.join(REQUIRED)}"):
        load_customers(path)


@pytest.mark.parametrize(
    "column, value, allowed",
    [
        ("recency", "soon", "integers 1-120"),
        ("recency", 2.5, "integers 1-120"),
        ("recency", 0, "integers 1-120"),
        ("history", "lots", "numbers >= 0"),
        ("history", -3.0, "numbers >= 0"),
        ("history", None, "numbers >= 0"),
        ("mens", 2, "0 or 1"),
        ("newbie", "yes", "0 or 1"),
        ("zip_code", "Moon", "Urban, Suburban, Rural"),
        ("channel", "Fax", "Phone, Web, Multichannel"),
        ("channel", None, "Phone, Web, Multichannel"),
    ],
)
def test_a_wrong_type_or_value_names_column_row_value_and_what_is_allowed(column, value, allowed):
    frame = customers(10).astype({column: object})
    frame.loc[6, column] = value
    with pytest.raises(ConfigError, match=rf"column '{column}', data row 7: .* is not allowed; allowed: {allowed}"):
        customer_table(frame, "crm.csv")


def test_unreadable_or_absent_tables_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_customers(tmp_path / "nope.csv")
    (tmp_path / "crm.xlsx").write_text("x")
    with pytest.raises(ConfigError, match=r"unknown format; allowed: \.csv, \.csv\.gz, \.parquet"):
        load_customers(tmp_path / "crm.xlsx")
    with pytest.raises(ConfigError, match="no rows"):
        customer_table(customers().iloc[:0])


def test_each_customer_becomes_a_shopper_with_their_observables_and_shifted_interests():
    frame = customers(400)
    table = customer_table(frame)
    plain = MarketModel(table_market(frame, customer_effects=CustomerEffects(bought_interest=0.0)), seed=1, customers=table)
    keen = MarketModel(table_market(frame, customer_effects=CustomerEffects(bought_interest=2.0, basket_scale=1.5)), seed=1, customers=table)
    assert keen.n_rows == 400 and keen.customers.frame.index.tolist() == list(range(400))
    prof, tr = keen.profile, keen.traits
    months = frame["recency"].to_numpy()
    assert ((prof.recency_days >= 30 * (months - 1)) & (prof.recency_days < 30 * months)).all()
    np.testing.assert_allclose(prof.past_spend, frame["history"], rtol=1e-6)
    for c in ("mens", "womens"):
        k = CATEGORY_NAMES.index(c)
        assert ((prof.past_purchases[:, k] > 0) == frame[c].astype(bool)).all()
        # Interests in a bought category are shifted by exactly bought_interest: same seed, same draws.
        np.testing.assert_allclose(tr.interest_mean[:, k] - plain.traits.interest_mean[:, k], 2.0 * frame[c], atol=1e-5)
    np.testing.assert_allclose(tr.basket_scale, 1.5 * plain.traits.basket_scale, rtol=1e-6)
    assert (tr.archetype[frame["newbie"] == 1] == ARCHETYPES.index("new_customer")).all()
    assert (tr.archetype[frame["newbie"] == 0] != ARCHETYPES.index("new_customer")).all()
    assert prof.consent[:, CHANNEL_NAMES.index("email")].all()


def test_the_activity_terms_shift_every_category_by_the_documented_equation():
    frame = customers(300)
    effects = CustomerEffects(bought_interest=0.0, newbie_activity=-0.5, recency_activity=-0.1, history_activity=0.3,
                              web_activity=0.2, multichannel_activity=0.4, urban_activity=-0.2, rural_activity=0.6)
    base = MarketModel(table_market(frame, customer_effects=CustomerEffects(bought_interest=0.0)), seed=2, customers=customer_table(frame))
    shifted = MarketModel(table_market(frame, customer_effects=effects), seed=2, customers=customer_table(frame))
    expected = (
        -0.5 * frame["newbie"] - 0.1 * frame["recency"] + 0.3 * np.log(frame["history"] / 100)
        + frame["channel"].map({"Phone": 0.0, "Web": 0.2, "Multichannel": 0.4})
        + frame["zip_code"].map({"Urban": -0.2, "Surburban": 0.0, "Rural": 0.6})
    ).to_numpy()
    diff = shifted.traits.interest_mean - base.traits.interest_mean
    np.testing.assert_allclose(diff, np.repeat(expected[:, None], len(CATEGORY_NAMES), axis=1), atol=1e-5)


def test_size_picks_a_random_sample_of_the_table_and_may_not_exceed_it(tmp_path):
    frame = customers(300)
    path = tmp_path / "crm.csv"
    frame.to_csv(path, index=False)
    market = MarketModel(MarketConfig(population=PopulationConfig(size=120, arrivals_per_day=0.0, customers=str(path))), seed=0)
    rows = market.customers.frame.index.to_numpy()
    assert len(rows) == 120 == len(np.unique(rows)) and (np.diff(rows) > 0).all()
    np.testing.assert_allclose(market.profile.past_spend[:120], frame["history"].to_numpy()[rows], rtol=1e-6)
    with pytest.raises(ConfigError, match=r"market\.population\.size=400: the customer table .* has 300 rows"):
        MarketModel(MarketConfig(population=PopulationConfig(size=400, customers=str(path))), seed=0)


def test_newcomers_still_come_from_the_archetypes_after_the_table():
    frame = customers(200)
    market = MarketModel(dataclasses.replace(table_market(frame), population=PopulationConfig(size=200, arrivals_per_day=0.01)),
                         seed=0, customers=customer_table(frame))
    later = market.profile.join_day > 0
    assert later.sum() > 0 and (market.profile.join_day[:200] == 0).all() and (market.profile.past_purchases[later] == 0).all()


CAMPAIGNS = {"mens_email": CampaignConfig(category="mens", appeal=1.5), "blast": CampaignConfig(appeal=0.5)}


def test_campaigns_are_sent_outside_the_policies_action_space_and_checked_like_info():
    frame = customers(300)
    cfg = dataclasses.replace(table_market(frame), campaigns=CAMPAIGNS, response=ResponseParams(open_browse=4.0, browse_base=-6.0))
    market = MarketModel(cfg, seed=3, customers=customer_table(frame))
    action = market.campaign_action("mens_email")
    assert action >= N_ACTIONS and market.campaign_action("blast", "sms", "evening") >= N_ACTIONS
    market.state.consent[:10, CHANNEL_NAMES.index("email")] = False
    market.step(np.full(300, action))
    assert market.violations == 10 and market.outcome.sent.sum() == 290
    opened = market.outcome.opened
    assert opened.sum() > 20
    # An opened campaign draws the shopper to its category today: browsing there is far more likely.
    assert market.outcome.viewed[opened].mean() > 2 * market.outcome.viewed[~opened].mean()
    assert (market.state.offer[opened] == market.offers.names.index("mens_email")).all()
    assert (market.state.offer_category[opened] == CATEGORY_NAMES.index("mens")).all()
    with pytest.raises(ConfigError, match="campaign 'womens_email' is unknown; this market's campaigns: mens_email, blast"):
        market.campaign_action("womens_email")
    with pytest.raises(ValueError, match=rf"allowed: integers in \[0, {market.offers.n_actions - 1}\]"):
        market.step(np.full(300, market.offers.n_actions))


def test_a_campaign_with_an_unknown_category_fails_at_start():
    with pytest.raises(ConfigError, match=r"market\.campaigns\.x\.category='shoes': unknown; allowed: womens, mens"):
        MarketModel(MarketConfig(population=PopulationConfig(size=100), campaigns={"x": CampaignConfig(category="shoes")}))


def test_per_agent_way_matches_the_vectorised_one_with_a_table_and_campaigns():
    frame = customers(150)
    cfg = dataclasses.replace(table_market(frame), campaigns=CAMPAIGNS, response=ResponseParams(open_browse=3.0))
    fast = MarketModel(cfg, seed=4, customers=customer_table(frame))
    slow = MarketModel(cfg, seed=4, per_agent=True, customers=customer_table(frame))
    actions = np.where(np.arange(150) % 3 == 0, fast.campaign_action("mens_email"), np.where(np.arange(150) % 3 == 1, fast.campaign_action("blast"), 0))
    for day in range(6):
        for m in (fast, slow):
            m.step(actions if day == 0 else None)
        for f in ("profit", "viewed", "opened", "bought"):
            assert np.array_equal(getattr(fast.outcome, f), getattr(slow.outcome, f)), f
    assert all(np.array_equal(getattr(fast.state, f.name), getattr(slow.state, f.name)) for f in dataclasses.fields(fast.state))


def with_history(frame: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """``frame`` with every campaign-response history column, in a shop's units; a third of the days blank (never)."""
    rng = np.random.default_rng(seed)
    n = len(frame)
    sent = {f"sent_{k}": np.round(rng.uniform(0, 8, n), 2) for k in OFFER_KINDS}
    opened = {f"opened_{k}": np.round(sent[f"sent_{k}"] * rng.uniform(0, 1, n), 2) for k in OFFER_KINDS}
    redeemed = {f"redeemed_{k}": rng.integers(0, 3, n).astype(float) for k in OFFER_KINDS}
    total = sum(redeemed.values())
    columns = sent | opened | redeemed
    columns |= {f"opened_in_{c}": np.round(rng.uniform(0, 4, n), 2) for c in CATEGORY_NAMES}
    columns |= {f"redeemed_in_{c}": np.round(rng.uniform(0, 3, n), 2) for c in CATEGORY_NAMES}
    columns["recent_purchases"] = total + rng.integers(0, 5, n)
    columns |= {f"opens_at_{s}": np.round(rng.uniform(0, 10, n), 2) for s in SLOTS}
    columns["days_since_open"] = np.where(rng.random(n) < 1 / 3, np.nan, rng.integers(0, 500, n))
    columns["days_since_redemption"] = np.where(rng.random(n) < 1 / 3, np.nan, rng.integers(1, 200, n))
    return frame.assign(**columns)


def test_a_tables_response_history_is_the_crm_record_on_day_0(tmp_path, caplog):
    frame = with_history(customers(300))
    path = tmp_path / "crm.csv"
    frame.to_csv(path, index=False)
    with caplog.at_level(logging.WARNING, logger="sim.customers"):
        table = load_customers(path)
    assert table.missing_response_history == () and not caplog.records
    market = MarketModel(table_market(frame), seed=3, customers=table)
    x = market.observe()
    assert market.day == 0
    own = market.profile.data_consent  # the observation shows personal features only with consent
    assert 50 < own.sum() < 300
    for name in RESPONSE_COLUMNS:
        if name.startswith("days_since"):
            continue
        expected = frame[name].to_numpy(dtype=np.float32)
        if name == "recent_purchases":  # no feature of its own: the promotion share's base
            np.testing.assert_array_equal(market.state.recent_purchases, expected)
        else:
            np.testing.assert_array_equal(x[own, index(name)], expected[own], err_msg=name)
    for name in ("days_since_open", "days_since_redemption"):
        days = frame[name].to_numpy()
        np.testing.assert_allclose(x[own, index(name)], np.where(np.isnan(days), 1.0, np.minimum(days / 365, 1.0))[own], rtol=1e-6)
    share = x[own, index("promo_share")]  # at most every redemption's share of the purchases (see the next test)
    redeemed = frame[[f"redeemed_{k}" for k in OFFER_KINDS]].sum(axis=1).to_numpy()[own]
    assert (share <= np.divide(redeemed, frame["recent_purchases"].to_numpy()[own], out=np.zeros(own.sum()), where=redeemed > 0) + 1e-6).all()
    assert (share >= 0).all() and (share > 0).sum() > 50
    assert (x[~own, index("sent_info"):index("days_since_redemption") + 1] == 0).all()
    assert (market.state.last_open_day[np.isnan(frame["days_since_open"])] == NEVER).all()
    assert not (x[:, index("weekday_mon"):] < 0).any()


def test_a_table_gives_the_observation_in_feature_units():
    frame = customers(100).assign(days_since_open=30, sent_info=2.5, redeemed_discount=2.0, recent_purchases=5.0)
    market = MarketModel(table_market(frame), seed=0, customers=customer_table(frame))
    x = market.observe()[market.profile.data_consent]
    assert len(x) > 0
    assert (x[:, index("days_since_open")] == np.float32(30) / np.float32(365)).all()
    assert (x[:, index("sent_info")] == 2.5).all() and (x[:, index("redeemed_discount")] == 2.0).all()
    assert (x[:, index("promo_share")] == np.float32(0.4)).all()  # 2 redeemed discounts of 5 purchases
    assert (x[:, index("days_since_redemption")] == 1).all()  # absent: never


def test_a_table_without_history_starts_at_zero_and_names_the_absent_columns(caplog):
    frame = customers(100)
    with caplog.at_level(logging.WARNING, logger="sim.customers"):
        table = customer_table(frame, "crm.csv")
    assert table.missing_response_history == RESPONSE_COLUMNS
    assert [r.getMessage() for r in caplog.records] == [
        "customer table crm.csv: none of the columns of the campaign-response history (sim/customers.py); that history starts at zero, "
        "days since an open or a redemption at never, for every customer"]
    x = MarketModel(table_market(frame), seed=0, customers=table).observe()
    counts = [c for c in RESPONSE_COLUMNS if c != "recent_purchases" and not c.startswith("days_since")] + ["promo_share"]
    assert (x[:, [index(c) for c in counts]] == 0).all()
    days = x[:, [index("days_since_open"), index("days_since_redemption")]]
    personal = x[:, index("personal_data")] == 1
    assert personal.any() and (days[personal] == 1).all() and (days[~personal] == 0).all()  # never, where shown

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sim.customers"):
        some = customer_table(frame.assign(sent_info=1.0, opened_info=0.5, days_since_open=3), "crm.csv")
    assert some.missing_response_history == tuple(c for c in RESPONSE_COLUMNS if c not in ("sent_info", "opened_info", "days_since_open"))
    message = caplog.records[0].getMessage()
    assert f"no column(s) {', '.join(some.missing_response_history)} of the campaign-response history" in message
    assert len(caplog.records) == 1


def test_a_table_without_history_gives_the_same_market_bit_for_bit(monkeypatch):
    """Applying a table that carries no history writes the values a fresh state holds: the Hillstrom replay is unchanged."""
    frame = customers(150)
    cfg = dataclasses.replace(table_market(frame), population=PopulationConfig(size=150, arrivals_per_day=0.02))
    applied = MarketModel(cfg, seed=6, customers=customer_table(frame))
    monkeypatch.setattr(market_module, "apply_history", lambda state, table: None)
    untouched = MarketModel(cfg, seed=6, customers=customer_table(frame))
    rng = np.random.default_rng(0)
    for _ in range(5):
        np.testing.assert_array_equal(applied.observe(), untouched.observe())
        actions = np.where(rng.random(applied.n_rows) < 0.3, 1 + 3 * rng.integers(0, 3, applied.n_rows), 0)
        applied.step(actions)
        untouched.step(actions)
    for f in dataclasses.fields(applied.state):
        np.testing.assert_array_equal(getattr(applied.state, f.name), getattr(untouched.state, f.name), err_msg=f.name)


def test_a_sample_of_the_table_keeps_each_customers_own_history(tmp_path):
    frame = customers(300).assign(sent_discount=np.arange(300) % 100, days_since_open=np.arange(300))
    path = tmp_path / "crm.csv"
    frame.to_csv(path, index=False)
    market = MarketModel(MarketConfig(population=PopulationConfig(size=120, arrivals_per_day=0.0, customers=str(path))), seed=0)
    rows = market.customers.frame.index.to_numpy()
    np.testing.assert_array_equal(market.state.kind_sent[:, OFFER_KINDS.index("discount")], rows % 100)
    np.testing.assert_array_equal(market.state.last_open_day, -rows)


@pytest.mark.parametrize(
    "column, value, allowed",
    [
        ("sent_info", -1.0, "numbers 0-131"),
        ("opened_bogo", "often", "numbers 0-131"),
        ("opened_in_kids", None, "numbers 0-131"),
        ("redeemed_discount", 800.0, "numbers 0-786"),
        ("opens_at_evening", 46.0, "numbers 0-45"),
        ("recent_purchases", -2.0, "numbers >= 0"),
        ("days_since_open", -1, r"integers >= 0 \(days\), or blank for never"),
        ("days_since_open", 2.5, r"integers >= 0 \(days\), or blank for never"),
        ("days_since_redemption", "last week", r"integers >= 0 \(days\), or blank for never"),
    ],
)
def test_a_bad_history_value_names_column_row_value_and_what_is_allowed(column, value, allowed):
    frame = with_history(customers(10)).astype({column: object})
    frame.loc[6, column] = value
    with pytest.raises(ConfigError, match=rf"customer table crm.csv: column '{column}', data row 7: .* is not allowed; allowed: {allowed}"):
        customer_table(frame, "crm.csv")


def test_redemptions_need_a_purchase_base_that_holds_them():
    frame = with_history(customers(10))
    with pytest.raises(ConfigError, match=r"column\(s\) 'redeemed_info', .*'redeemed_loyalty' need the column 'recent_purchases'"):
        customer_table(frame.drop(columns="recent_purchases"), "crm.csv")
    frame.loc[4, [f"redeemed_{k}" for k in OFFER_KINDS]] = [1, 0, 2, 0, 0, 0]
    frame.loc[4, "recent_purchases"] = 2.5
    with pytest.raises(ConfigError, match=r"crm.csv: data row 5: redemptions redeemed_info \+ .* = 3 exceed recent_purchases = 2.5; "
                                          r"allowed: at most recent_purchases \(a promotion share <= 1\)"):
        customer_table(frame, "crm.csv")
    frame.loc[4, "recent_purchases"] = 3.0  # equal: a share of exactly 1
    assert customer_table(frame).response_history["recent_purchases"][4] == 3.0
    customer_table(frame.drop(columns=[f"redeemed_{k}" for k in OFFER_KINDS] + ["recent_purchases"]))  # no redemptions: no base needed
