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

A table may also carry the shopper's **campaign-response history** (the CRM features of
:mod:`sim.features` from ``sent_info`` to ``days_since_redemption``), each column optional, as the
shop's CRM keeps it:

| column | type | meaning (state array it sets) |
|---|---|---|
| ``sent_{kind}``, ``opened_{kind}`` | number >= 0 | messages of each offer kind (``info``, ``recommendation``, ``discount``, ``free_shipping``, ``bogo``, ``loyalty``) delivered, opened (``kind_sent``, ``kind_opened``) |
| ``redeemed_{kind}`` | number >= 0 | purchases made with a redeemed offer of the kind (``kind_redeemed``) |
| ``opened_in_{category}``, ``redeemed_in_{category}`` | number >= 0 | opened messages about each catalogue category, purchases in it with a redeemed offer (``category_opened``, ``category_redeemed``) |
| ``recent_purchases`` | number >= 0 | all purchases, counted as the redemptions are: the promotion share's base (``recent_purchases``) |
| ``opens_at_{slot}`` | number >= 0 | opened messages sent in the ``morning``, ``midday``, ``evening`` (``slot_opens``) |
| ``days_since_open``, ``days_since_redemption`` | integer >= 0, blank = never | days since the last opened message, the last purchase with a redeemed offer (``last_open_day``, ``last_redemption_day`` = minus the days) |

Counts are the CRM's decayed counts, as the market keeps them: each event counts
:math:`2^{-a/T}` at age :math:`a` days, with :math:`T` = 90 days (30 for ``opens_at_*``); a plain count over
the last T days is a fair stand-in. A count column may not exceed its feature's Max in
:mod:`sim.features` (the most the market can reach at one message a day and one redemption per
category a day: 131 for most, 45 for ``opens_at_*``). ``recent_purchases`` is the base of the
promotion share (redemptions / purchases, see :mod:`sim.features`), so a table with a
``redeemed_{kind}`` column must carry it too, and each row's redemptions of all kinds together may
not exceed it (each is one of those purchases): no share is made up from a base the table does not
give, and none is above 1. A history column that is absent starts at zero (days: never) for every customer, as for
a shopper who never heard from the shop; :attr:`CustomerTable.missing_response_history` names the absent columns,
and loading a table that lacks some logs one warning naming them.

Text values are matched without regard to case. A missing column, a missing value (but a blank
``days_since_*``), or a value of the wrong type or outside its range is a
:class:`~sim.config.ConfigError` naming the table, the column, the row and what is allowed.

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

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from sim.catalogue import CATEGORY_NAMES, CATEGORY_PRICE, CHANNEL_NAMES, N_CATEGORIES, OFFER_KINDS, SLOTS
from sim.config import ARCHETYPES, ConfigError, CustomerEffects, PopulationConfig
from sim.features import FEATURES
from sim.population import Profile, Traits, draw_population
from sim.resources import root
from sim.state import NEVER, ShopperState

log = logging.getLogger(__name__)

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
RESPONSE_COUNTS: dict[str, tuple[str, ...]] = {
    "kind_sent": tuple(f"sent_{k}" for k in OFFER_KINDS),
    "kind_opened": tuple(f"opened_{k}" for k in OFFER_KINDS),
    "kind_redeemed": tuple(f"redeemed_{k}" for k in OFFER_KINDS),
    "category_opened": tuple(f"opened_in_{c}" for c in CATEGORY_NAMES),
    "category_redeemed": tuple(f"redeemed_in_{c}" for c in CATEGORY_NAMES),
    "recent_purchases": ("recent_purchases",),
    "slot_opens": tuple(f"opens_at_{s}" for s in SLOTS),
}
"""optional count columns of the campaign-response history, by the ShopperState array they fill, in its column order"""
RESPONSE_DAYS: dict[str, str] = {"last_open_day": "days_since_open", "last_redemption_day": "days_since_redemption"}
"""optional day columns of the campaign-response history, by the ShopperState array of the day they give"""
RESPONSE_COLUMNS: tuple[str, ...] = (*(c for cols in RESPONSE_COUNTS.values() for c in cols), *RESPONSE_DAYS.values())
_COUNT_HIGH = {f.name: f.high for f in FEATURES}
"""a history count's upper bound: its feature's (recent_purchases, no feature, has none)"""


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
    response_history: dict[str, np.ndarray]  # ShopperState array name -> its n rows (zeros / NEVER where the table has no column)
    missing_response_history: tuple[str, ...]  # the RESPONSE_COLUMNS the table does not carry

    def __len__(self) -> int:
        return self.recency.size

    def take(self, rows: np.ndarray) -> CustomerTable:
        """The customers at positions ``rows`` (repeats allowed), in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return replace(
            self, frame=self.frame.iloc[rows], recency=self.recency[rows], history=self.history[rows], bought=self.bought[rows],
            area=self.area[rows], newbie=self.newbie[rows], channel=self.channel[rows],
            response_history={name: values[rows] for name, values in self.response_history.items()},
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
    table = CustomerTable(
        source=source,
        frame=frame,
        recency=col.number("recency", *RECENCY_MONTHS, integer=True).astype(np.int32),
        history=col.number("history", 0.0, np.inf),
        bought=bought,
        area=col.choice("zip_code", AREAS, AREA_ALIASES),
        newbie=col.flag("newbie"),
        channel=col.choice("channel", PURCHASE_CHANNELS),
        **_response_history(col),
    )
    if missing := table.missing_response_history:
        absent = "none of the columns" if len(missing) == len(RESPONSE_COLUMNS) else f"no column(s) {', '.join(missing)}"
        log.warning("customer table %s: %s of the campaign-response history (sim/customers.py); that history starts at zero, "
                    "days since an open or a redemption at never, for every customer", source, absent)
    return table


def _response_history(col: _Checker) -> dict:
    """The :class:`CustomerTable` fields of the history: the values by ShopperState array (absent columns zero / NEVER), and the absent columns.

    Rows' redemptions are checked against their purchases here, so a promotion share above 1 is
    the table's error, named by row, and never a clipped feature.
    """
    n = len(col.frame)
    present = set(col.frame.columns)
    history: dict[str, np.ndarray] = {}
    for name, columns in RESPONSE_COUNTS.items():
        values = np.zeros((n, len(columns)), dtype=np.float32)
        for k, c in enumerate(columns):
            if c in present:
                values[:, k] = col.number(c, 0.0, _COUNT_HIGH.get(c, np.inf))
        history[name] = values[:, 0] if name == "recent_purchases" else values  # shaped as its state array: (n,) or (n, k)
    for name, c in RESPONSE_DAYS.items():
        days = col.days(c) if c in present else np.full(n, np.nan)
        history[name] = np.where(np.isnan(days), NEVER, -np.minimum(days, -NEVER - 1)).astype(np.int32)
    redeemed = [c for c in RESPONSE_COUNTS["kind_redeemed"] if c in present]
    if redeemed:
        if "recent_purchases" not in present:
            raise ConfigError(f"customer table {col.source}: column(s) {', '.join(map(repr, redeemed))} need the column 'recent_purchases' "
                              f"(the promotion share's base: redemptions / purchases); add it, or drop the redeemed_<kind> columns")
        total = history["kind_redeemed"].sum(axis=1, dtype=np.float64)
        over = total > history["recent_purchases"]
        if over.any():
            row = int(np.flatnonzero(over)[0])
            raise ConfigError(f"customer table {col.source}: data row {row + 1}: redemptions {' + '.join(redeemed)} = {total[row]:g} exceed "
                              f"recent_purchases = {history['recent_purchases'][row]:g}; allowed: at most recent_purchases (a promotion share <= 1)")
    return {"response_history": history, "missing_response_history": tuple(c for c in RESPONSE_COLUMNS if c not in present)}


def apply_history(state: ShopperState, table: CustomerTable) -> None:
    """Give the first ``len(table)`` rows of ``state`` (the table's customers, see :func:`draw_customers`) the table's response history.

    Called on a fresh :func:`sim.state.initial_state`; a table without history columns writes the
    zeros and NEVER days that state already holds, so its market is unchanged bit for bit.
    """
    n = len(table)
    for name, values in table.response_history.items():
        getattr(state, name)[:n] = values


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

    def days(self, column: str) -> np.ndarray:
        """Whole days >= 0 as float64, NaN where the value is blank (the event never happened); text is an error."""
        x = self._numeric(column)
        blank = self.frame[column].isna().to_numpy()
        bad = ~blank & ~(np.isfinite(x) & (x >= 0) & (x == np.round(x)))
        self._check(column, bad, "integers >= 0 (days), or blank for never")
        return np.where(blank, np.nan, x)

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

