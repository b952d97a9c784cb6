"""The ``simulate`` task: one market under the no-contact holdout, with a table of its days."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tqdm import tqdm

from experiments.io import write_table
from experiments.schema import Config
from sim import MarketModel


SUMMARY_COLUMNS = ["day", "present", "purchases", "revenue", "profit", "churned", "sends", "unsubscribes"]


def simulate(cfg: Config, run_dir: Path) -> pd.DataFrame:
    """Run the market for its horizon without contacting anyone; write ``daily.csv`` and return it."""
    market = MarketModel(cfg.market, cfg.guardrails, seed=market_seed(cfg))
    for _ in tqdm(range(cfg.market.horizon_days), desc=f"simulate {cfg.market.name}", unit="day", leave=False):
        market.step()
    daily = market.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    daily["day"] = daily["day"].astype(int)
    daily.insert(1, "date", [market.calendar.date(d).isoformat() for d in daily["day"]])
    write_table(daily, run_dir / "daily.csv")
    return daily


def market_seed(cfg: Config) -> int:
    """``seed``, or 0 when it is left unset (simulate runs one market, not the experiment's seeds)."""
    return 0 if cfg.seed is None else cfg.seed


def format_daily(daily: pd.DataFrame) -> str:
    """The daily table as the command prints it."""
    cols = ["day", "date"] + [c for c in SUMMARY_COLUMNS if c != "day"]
    shown = daily[cols].copy()
    for c in cols[2:]:
        shown[c] = [f"{v:,.0f}" for v in shown[c]]
    return shown.to_string(index=False)


def run_task(cfg: Config, run_dir: Path) -> None:
    """``task=simulate``: run and print the daily table."""
    daily = simulate(cfg, run_dir)
    print(format_daily(daily))
    print(f"\nno-contact holdout, {cfg.market.name} market, seed {market_seed(cfg)}: profit {daily['profit'].sum():,.0f} over {len(daily)} days")
