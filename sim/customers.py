"""A market seeded from a table of real customers: the table's schema, its loader, and the draw.

A customer table has one row per customer and these columns (the Hillstrom data's names; any
other column is kept, unread, so a replay can report it beside the simulated outcomes):

| column | type | meaning |
|---|---|---|
| ``recency`` | integer 1-120 | months since the last purchase (1 = within the last month) |
| ``history`` | number >= 0 | spend in the past year, in the shop's currency |
| ``mens`` | 0/1 | bought men's merchandise (the catalogue's ``mens``) in the past year |
| ``womens`` | 0/1 | bought women's merchandise (the catalogue's ``womens``) in the past year |
| ``zip_code`` | ``Urban``, ``Suburban``, ``Rural`` | type of area (the Hillstrom spelling ``Surburban`` is accepted) |
| ``newbie`` | 0/1 | became a customer in the past year |
| ``channel`` | ``Phone``, ``Web``, ``Multichannel`` | where the customer bought in the past year |

Text values are matched without regard to case. A missing column, a missing value, or a value of
the wrong type or outside its range is a :class:`~sim.config.ConfigError` naming the table, the
column, the row and what is allowed.

Each customer becomes one shopper present on day 0 (a table of CSV or parquet is named by
``market.population.customers``; ``market.population.size`` customers are used, all of them or a
random sample). The observable columns are copied into the shopper's CRM record; the latent
traits are drawn as for the shopper's archetype and then shifted by the market's
:class:`~sim.config.CustomerEffects`:

* archetype: ``new_customer`` for a newbie, else drawn from the other archetypes' weights;
* recency: the last purchase lies uniformly within the month ``recency`` names;
* past purchases: the past year's spend, split evenly over the bought categories at the basket
  value of each (at least one purchase per bought category; a customer who bought none of the
  table's categories bought once in the category of their highest interest);
* interests, browsing and buying: :class:`~sim.config.CustomerEffects`' equation;
* basket value: the archetype's basket scale times ``customer_effects.basket_scale``;
* contact: a table lists customers the shop may e-mail (every Hillstrom customer of an e-mail arm
  got the e-mail), so e-mail consent is given; the other channels' consent, the gender (which
  the table does not record), age, birthday and data consent are drawn as for any shopper.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from sim.catalogue import CATEGORY_NAMES, CATEGORY_PRICE, CHANNEL_NAMES, N_CATEGORIES
from sim.config import ARCHETYPES, ConfigError, CustomerEffects, PopulationConfig
from sim.population import Profile, Traits, draw_population
from sim.resources import root

AREAS = ("Urban", "Suburban", "Rural")
AREA_ALIASES = {"surburban": "Suburban"}
"""spellings accepted for an area besides its name (the Hillstrom file's own misspelling)"""
PURCHASE_CHANNELS = ("Phone", "Web", "Multichannel")
CATEGORY_COLUMNS = ("mens", "womens")
"""0/1 columns naming the catalogue category a customer bought in the past year"""
RECENCY_MONTHS = (1, 120)
REQUIRED = ("recency", "history", "mens", "womens", "zip_code", "newbie", "channel")
DAYS_PER_MONTH = 30
HISTORY_REFERENCE = 100.0
"""past year's spend at which the history term of CustomerEffects is 0"""


@dataclass(frozen=True)
class CustomerTable:
    """A checked customer table: the rows as read, and their observables as arrays.

    ``frame`` keeps every column of the file and, as its index, each customer's row in the file
    (0 = the first data row), also after :meth:`take`.
    """

    source: str
    frame: pd.DataFrame
    recency: np.ndarray  # (n,) int32 months since the last purchase
    history: np.ndarray  # (n,) float64 spend in the past year
    bought: np.ndarray  # (n, C) bool, catalogue categories bought in the past year
    area: np.ndarray  # (n,) int8 index into AREAS
    newbie: np.ndarray  # (n,) bool
    channel: np.ndarray  # (n,) int8 index into PURCHASE_CHANNELS

    def __len__(self) -> int:
        return self.recency.size

    def take(self, rows: np.ndarray) -> CustomerTable:
        """The customers at positions ``rows`` (repeats allowed), in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return replace(
            self, frame=self.frame.iloc[rows], recency=self.recency[rows], history=self.history[rows], bought=self.bought[rows],
            area=self.area[rows], newbie=self.newbie[rows], channel=self.channel[rows],
        )


def resolve(path: str | Path) -> Path:
    """A table's path: as given if it exists (absolute, or relative to the working directory), else among the shipped
    files (``data/hillstrom.csv.gz``, see :mod:`sim.resources`)."""
    p = Path(path)
    if p.exists() or p.is_absolute():
        return p
    return root() / p


def load_customers(path: str | Path) -> CustomerTable:
    """Read and check a customer table (``.csv``, ``.csv.gz`` or ``.parquet``); see the module docstring."""
    p = resolve(path)
    if not p.exists():
        raise ConfigError(f"customer table {path}: no such file (looked in the working directory and in {root()})")
    name = p.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        frame = pd.read_csv(p)
    elif name.endswith(".parquet"):
        frame = pd.read_parquet(p)
    else:
        raise ConfigError(f"customer table {path}: unknown format; allowed: .csv, .csv.gz, .parquet")
    return customer_table(frame, str(path))


def customer_table(frame: pd.DataFrame, source: str = "<frame>") -> CustomerTable:
    """Check a table's columns and values; the first bad one is an error naming column, row, value and what is allowed."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ConfigError(f"customer table {source}: missing column(s) {', '.join(map(repr, missing))}; required: {', '.join(REQUIRED)}")
    if frame.empty:
        raise ConfigError(f"customer table {source}: no rows")
    frame = frame.reset_index(drop=True)
    col = _Checker(frame, source)
    bought = np.zeros((len(frame), N_CATEGORIES), dtype=bool)
    for c in CATEGORY_COLUMNS:
        bought[:, CATEGORY_NAMES.index(c)] = col.flag(c)
    return CustomerTable(
        source=source,
        frame=frame,
        recency=col.number("recency", *RECENCY_MONTHS, integer=True).astype(np.int32),
        history=col.number("history", 0.0, np.inf),
        bought=bought,
        area=col.choice("zip_code", AREAS, AREA_ALIASES),
        newbie=col.flag("newbie"),
        channel=col.choice("channel", PURCHASE_CHANNELS),
    )


class _Checker:
    """Reads one column at a time as the type it must have, raising on its first bad value."""

    def __init__(self, frame: pd.DataFrame, source: str):
        self.frame, self.source = frame, source

    def _check(self, column: str, bad: np.ndarray, allowed: str) -> None:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = self.frame[column].iloc[row]
            raise ConfigError(f"customer table {self.source}: column {column!r}, data row {row + 1}: {value!r} is not allowed; allowed: {allowed}")

    def _numeric(self, column: str) -> np.ndarray:
        """The column as float64, NaN where a value is missing or not a number (True/False are not numbers)."""
        raw = self.frame[column]
        if raw.dtype == bool:
            return np.full(len(raw), np.nan)
        return pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)

    def number(self, column: str, low: float, high: float, integer: bool = False) -> np.ndarray:
        x = self._numeric(column)
        bad = ~(np.isfinite(x) & (x >= low) & (x <= high))
        if integer:
            bad |= np.isfinite(x) & (x != np.round(x))
        kind = "integers" if integer else "numbers"
        self._check(column, bad, f"{kind} {low:g}-{high:g}" if np.isfinite(high) else f"{kind} >= {low:g}")
        return x

    def flag(self, column: str) -> np.ndarray:
        raw = self.frame[column]
        x = raw.to_numpy(dtype=np.float64) if raw.dtype == bool else self._numeric(column)
        self._check(column, ~np.isin(x, (0.0, 1.0)), "0 or 1")
        return x == 1.0

    def choice(self, column: str, names: tuple[str, ...], aliases: dict[str, str] | None = None) -> np.ndarray:
        lookup = {n.lower(): k for k, n in enumerate(names)}
        lookup |= {alias: names.index(name) for alias, name in (aliases or {}).items()}
        codes = self.frame[column].map(lambda v: lookup.get(v.strip().lower(), -1) if isinstance(v, str) else -1).to_numpy(dtype=np.int64)
        self._check(column, codes < 0, ", ".join(names))
        return codes.astype(np.int8)


def draw_customers(
    table: CustomerTable, cfg: PopulationConfig, join_day: np.ndarray, rng: np.random.Generator
) -> tuple[CustomerTable, Traits, Profile]:
    """Shoppers whose first ``cfg.size`` rows are customers of ``table``; later rows (newcomers) come from the archetypes.

    Returns the customers used (the whole table, or a random sample of ``cfg.size`` of its rows
    in file order) with the traits and CRM profile of every row; see the module docstring.
    """
    if cfg.size > len(table):
        raise ConfigError(
            f"market.population.size={cfg.size}: the customer table {table.source} has {len(table):,} rows; with a table, size must be at most that"
        )
    if cfg.size < len(table):
        table = table.take(np.sort(rng.choice(len(table), size=cfg.size, replace=False)))
    n = len(table)
    traits, profile = draw_population(cfg, join_day.size, join_day, rng, archetype_of=_archetypes(table, cfg, rng))
    e = cfg.customer_effects
    traits.interest_mean[:n] += interest_shift(table, e)
    traits.basket_scale[:n] *= e.basket_scale
    profile.recency_days[:n] = (DAYS_PER_MONTH * (table.recency - 1 + rng.random(n))).astype(np.int32)
    profile.past_purchases[:n] = _past_purchases(table, traits.interest_mean[:n], traits.basket_scale[:n])
    profile.past_spend[:n] = table.history
    profile.consent[:n, CHANNEL_NAMES.index("email")] = True
    return table, traits, profile


def interest_shift(table: CustomerTable, e: CustomerEffects) -> np.ndarray:
    """(n, C) float32 logits added to each customer's archetype interests (the equation of :class:`CustomerEffects`)."""
    channel = np.array([0.0, e.web_activity, e.multichannel_activity])[table.channel]
    area = np.array([e.urban_activity, 0.0, e.rural_activity])[table.area]
    activity = (
        e.newbie_activity * table.newbie
        + e.recency_activity * table.recency
        + e.history_activity * np.log(np.maximum(table.history, 1.0) / HISTORY_REFERENCE)
        + channel
        + area
    )
    return (e.bought_interest * table.bought + activity[:, None]).astype(np.float32)


def _archetypes(table: CustomerTable, cfg: PopulationConfig, rng: np.random.Generator) -> np.ndarray:
    """(n,) int8 archetype of each customer: new_customer for a newbie, else drawn from the other archetypes' weights."""
    new = ARCHETYPES.index("new_customer")
    weights = np.array([0.0 if k == new else cfg.archetype_weights.get(name, 0.0) for k, name in enumerate(ARCHETYPES)])
    if weights.sum() <= 0:
        raise ConfigError("market.population.archetype_weights: a customer table needs a weight > 0 on an archetype other than new_customer")
    drawn = rng.choice(len(ARCHETYPES), size=len(table), p=weights / weights.sum())
    return np.where(table.newbie, new, drawn).astype(np.int8)


def _past_purchases(table: CustomerTable, interest: np.ndarray, basket_scale: np.ndarray) -> np.ndarray:
    """(n, C) purchases in the past year: the spend split evenly over the bought categories, at least one in each."""
    bought = table.bought.copy()
    none = ~bought.any(axis=1)
    bought[np.flatnonzero(none), interest[none].argmax(axis=1)] = True
    share = table.history / bought.sum(axis=1)
    count = np.round(share[:, None] / (CATEGORY_PRICE[None, :] * basket_scale[:, None]))
    return np.where(bought, np.maximum(count, 1.0), 0.0).astype(np.float32)

