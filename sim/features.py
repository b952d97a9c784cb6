"""The observation: what a retailer's CRM knows about a shopper today, one named feature per column.

Personal features (purchase history, browsing, opens, the times of day of site sessions, demographics) are shown only for shoppers
who agreed to personalised use of their data; for the others they are 0 and ``personal_data`` is
0. Non-personal features (the calendar, the shop's own contact log, channel consents, which a
CRM must keep to obey them) are shown for everyone. Latent traits never appear here.

The table below is generated from :data:`FEATURES` at import, so it cannot disagree with the code.

| Num | Feature | Min | Max | Personal |
|-----|---------|-----|-----|----------|
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.calendar import HOLIDAY_NAMES, birthday_distance
from sim.catalogue import CATEGORY_NAMES, CHANNEL_NAMES, SLOTS
from sim.population import AGE_BANDS, GENDER_FEMALE, GENDER_MALE


@dataclass(frozen=True)
class Feature:
    name: str
    low: float
    high: float
    personal: bool
    doc: str


def _features() -> tuple[Feature, ...]:
    f = [
        Feature("personal_data", 0, 1, False, "1 when the shopper allows personalised use of their data"),
        Feature("recency", 0, 1, True, "days since the last purchase / 365, capped at 1 (1 = never)"),
        Feature("frequency", 0, 8, True, "log(1 + purchases in the CRM's memory)"),
        Feature("monetary", 0, 12, True, "log(1 + spend in the CRM's memory)"),
        Feature("tenure", 0, 10, True, "years since the shopper joined the simulation"),
    ]
    f += [Feature(f"bought_{c}", 0, 8, True, f"log(1 + purchases in {c})") for c in CATEGORY_NAMES]
    f += [Feature(f"views_{c}", 0, 15, True, f"views of {c}, one-week half-life") for c in CATEGORY_NAMES]
    f += [Feature(f"opens_{h}", 0, 45, True, f"opened {h} messages, 30-day half-life") for h in CHANNEL_NAMES]
    f += [Feature(f"sessions_{s}", 0, 45, True, f"site sessions (browsing or opening a message) logged in the {s}, 30-day half-life")
          for s in SLOTS]
    f += [
        Feature("age_band", 0, 1, True, f"index of {AGE_BANDS} / 4"),
        Feature("gender_female", 0, 1, True, "1 if recorded female"),
        Feature("gender_male", 0, 1, True, "1 if recorded male"),
        Feature("birthday_in", 0, 1, True, "days until the birthday / 364"),
    ]
    f += [Feature(f"consent_{h}", 0, 1, False, f"contact allowed on {h}") for h in CHANNEL_NAMES]
    f += [
        Feature("contacts_7d", 0, 7, False, "messages delivered in the last 7 days"),
        Feature("contacts_30d", 0, 30, False, "messages delivered in the last 30 days"),
        Feature("days_since_contact", 0, 1, False, "days since the last message / 365, capped at 1"),
    ]
    f += [Feature(f"weekday_{d}", 0, 1, False, f"today is {d}") for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")]
    f += [Feature(f"holiday_{h}", 0, 1, False, f"closeness of {h}: 1 on the day, 0 outside its lead window") for h in HOLIDAY_NAMES]
    return tuple(f)


FEATURES: tuple[Feature, ...] = _features()
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
N_FEATURES = len(FEATURES)
FEATURE_LOW = np.array([f.low for f in FEATURES], dtype=np.float32)
FEATURE_HIGH = np.array([f.high for f in FEATURES], dtype=np.float32)
PERSONAL = np.array([f.personal for f in FEATURES])
CALENDAR_START = FEATURE_NAMES.index("weekday_mon")
__doc__ = (__doc__ or "") + "\n".join(
    f"| {i} | `{f.name}` | {f.low:g} | {f.high:g} | {'yes' if f.personal else 'no'} |" for i, f in enumerate(FEATURES)
)


def index(name: str) -> int:
    """Column of a feature by name; a clear error for an unknown one."""
    try:
        return FEATURE_NAMES.index(name)
    except ValueError:
        raise KeyError(f"feature {name!r} is unknown; known features: {', '.join(FEATURE_NAMES)}") from None


def observe(market, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
    """(n, N_FEATURES) float32 observations of ``rows`` on the market's current day.

    ``market`` is a :class:`sim.market.MarketModel`; only its CRM-visible arrays are read.
    Rows of shoppers who have not joined yet are all zeros but for the calendar.
    """
    st, prof, t = market.state, market.profile, market.day
    cal = market.calendar
    n = prof.join_day[rows].size
    x = np.zeros((n, N_FEATURES), dtype=np.float32)
    col = 0

    def put(values: np.ndarray) -> None:
        nonlocal col
        v = values.reshape(n, -1)
        x[:, col : col + v.shape[1]] = v
        col += v.shape[1]

    joined = prof.join_day[rows] <= t
    put(prof.data_consent[rows])
    since = (t - st.last_purchase_day[rows]).astype(np.float32)
    put(np.minimum(since / 365.0, 1.0))
    put(np.log1p(st.purchases[rows].sum(axis=1)))
    put(np.log1p(st.spend[rows]))
    put((t - prof.join_day[rows]) / 365.0)
    put(np.log1p(st.purchases[rows]))
    put(st.views[rows])
    put(st.opens[rows])
    put(st.sessions[rows])
    put(prof.age_band[rows] / 4.0)
    g = prof.gender_recorded[rows]
    put(g == GENDER_FEMALE)
    put(g == GENDER_MALE)
    put(birthday_distance(prof.birthday[rows], cal.day_of_year(t)) / 364.0)
    put(st.consent[rows])
    put(contacts_last_7d(st.contacts, t, rows))
    put(st.contacts[:, rows].sum(axis=0, dtype=np.int32))
    put(np.minimum((t - st.last_contact_day[rows]) / 365.0, 1.0))
    weekday = np.zeros(7, dtype=np.float32)
    weekday[cal.weekday(t)] = 1.0
    put(np.broadcast_to(weekday, (n, 7)))
    put(np.broadcast_to(cal.holiday_ramp(t), (n, len(HOLIDAY_NAMES))))
    assert col == N_FEATURES

    hidden = ~prof.data_consent[rows] | ~joined
    x[np.ix_(hidden, PERSONAL)] = 0.0
    x[~joined, :CALENDAR_START] = 0.0  # not a customer yet: the CRM has no row, only the date is known
    np.clip(x, FEATURE_LOW, FEATURE_HIGH, out=x)
    return x


def contacts_last_7d(contacts: np.ndarray, day: int, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
    """(n,) messages delivered in the 7 days before ``day`` (the frequency cap's window)."""
    idx = [(day - k) % contacts.shape[0] for k in range(1, 8)]
    return contacts[:, rows][idx].sum(axis=0, dtype=np.int32)

