"""The observation: what a retailer's CRM knows about a shopper today, one named feature per column.

Personal features (purchase history, browsing, opens, the times of day of site sessions, the campaign-response history,
demographics) are shown only for shoppers who agreed to personalised use of their data; for the others they are 0 and ``personal_data`` is
0. Non-personal features (the calendar, the shop's own contact log, channel consents, which a
CRM must keep to obey them) are shown for everyone. Latent traits never appear here.

One function, :func:`observation`, turns a CRM record into an observation; the market
(:func:`observe`) and the decision service (:mod:`serving.crm`) both call it, and the guardrail
mask of both counts recent contacts with :func:`contacts_last_7d`.

A day's observation is made before that day's sends. ``contacts_7d`` counts the messages
delivered 1 to 7 days before the decision date, ``contacts_30d`` those 1 to 30 days before, and
``days_since_contact`` is the age of the last one (1 = yesterday). A contact dated on the
decision date itself has no place in this: the simulator never has one, and the decision service
refuses a request that carries one (422) rather than decide after a send the policy never saw
counted.

The campaign-response history (``sent_*`` to ``days_since_redemption``) is what a campaign system
learns from each shopper's reactions: per offer kind the messages delivered, opened and redeemed, per
category the offers opened and redeemed in it, the promotion share and the average order value,
opens by send slot, and the days since the last open and redemption. It is personal, deliveries
included: the shop's own contact log is shown to everyone as ``contacts_7d``/``contacts_30d`` (the
frequency cap needs it), but a profile of how a person answers campaigns, used to choose what to
send them, is personalised use of their data. A redemption is a purchase made while an opened,
still valid offer covers its category; for an information message or a recommendation, which give
no money back, it is a purchase in the message's validity window, and the promotion share counts
only price promotions (the CRM's reading of how much of a shopper's buying waits for a deal).

The table below is generated from :data:`FEATURES` at import, so it cannot disagree with the code.

| Num | Feature | Min | Max | Personal | Meaning |
|-----|---------|-----|-----|----------|---------|
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from sim.calendar import HOLIDAY_NAMES, Calendar, birthday_distance
from sim.catalogue import CATEGORY_NAMES, CHANNEL_NAMES, N_CATEGORIES, OFFER_KINDS, PROMOTION_KINDS, SLOTS, VALIDITY_DAYS
from sim.population import AGE_BANDS, GENDER_FEMALE, GENDER_MALE
from sim.state import CONTACT_MEMORY, RESPONSE_HALF_LIFE


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
    f += _response_history()
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


def _response_history() -> list[Feature]:
    r"""The campaign-response history: how the shopper answered the shop's messages, as a CRM analyst summarises it.

    Counts decay with a half-life of :data:`~sim.state.RESPONSE_HALF_LIFE` days (opens by send slot with 30
    days, as the opens per channel), so they weigh the last quarter's campaigns most; a count that gains at
    most one a day is bounded by :math:`\sum_{k \ge 0} 2^{-k/T} = 1/(1 - 2^{-1/T})`.
    """
    days = f"{RESPONSE_HALF_LIFE:g}-day half-life"
    most = float(np.ceil(1.0 / (1.0 - 0.5 ** (1.0 / RESPONSE_HALF_LIFE))))
    f = [Feature(f"sent_{k}", 0, most, True, f"{k} messages delivered, {days}") for k in OFFER_KINDS]
    f += [Feature(f"opened_{k}", 0, most, True, f"{k} messages opened, {days}") for k in OFFER_KINDS]
    f += [Feature(f"redeemed_{k}", 0, N_CATEGORIES * most, True,
                  f"purchases made with a redeemed {k} offer, {days}" if k in PROMOTION_KINDS else
                  f"purchases made while an opened {k} message was valid ({VALIDITY_DAYS} days), {days}") for k in OFFER_KINDS]
    f += [Feature(f"opened_in_{c}", 0, most, True, f"opened messages about {c} (its discounts, recommendations of it), {days}")
          for c in CATEGORY_NAMES]
    f += [Feature(f"redeemed_in_{c}", 0, most, True, f"purchases in {c} made with a redeemed offer, {days}") for c in CATEGORY_NAMES]
    f += [
        Feature("promo_share", 0, 1, True, f"share of purchases made with a redeemed price promotion ({', '.join(PROMOTION_KINDS)}; "
                f"both counts with a {days}; 0 without purchases)"),
        Feature("order_value", 0, 20, True, "average order value in the CRM's memory (spend / purchases) / 100; 0 without purchases"),
    ]
    f += [Feature(f"opens_at_{s}", 0, 45, True, f"opened messages sent in the {s}, 30-day half-life") for s in SLOTS]
    f += [
        Feature("days_since_open", 0, 1, True, "days since the last opened message / 365, capped at 1 (1 = never)"),
        Feature("days_since_redemption", 0, 1, True, "days since the last purchase with a redeemed offer / 365, capped at 1 (1 = never)"),
    ]
    return f


FEATURES: tuple[Feature, ...] = _features()
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
N_FEATURES = len(FEATURES)
FEATURE_LOW = np.array([f.low for f in FEATURES], dtype=np.float32)
FEATURE_HIGH = np.array([f.high for f in FEATURES], dtype=np.float32)
PERSONAL = np.array([f.personal for f in FEATURES])
CALENDAR_START = FEATURE_NAMES.index("weekday_mon")
__doc__ = (__doc__ or "") + "\n".join(
    f"| {i} | `{f.name}` | {f.low:g} | {f.high:g} | {'yes' if f.personal else 'no'} | {f.doc} |" for i, f in enumerate(FEATURES)
)


RESPONSE_HISTORY: tuple[str, ...] = tuple(f.name for f in _response_history())
"""the campaign-response history's features, ``sent_info`` to ``days_since_redemption``"""
CRM_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.personal)
"""the features a CRM record holds as values; the others follow from consents, the contact history and the date"""
_CRM = slice(FEATURE_NAMES.index(CRM_FEATURES[0]), FEATURE_NAMES.index(CRM_FEATURES[-1]) + 1)
assert FEATURE_NAMES[_CRM] == CRM_FEATURES, "the personal features are one block of columns"
_PERSONAL_DATA = FEATURE_NAMES.index("personal_data")
_CONSENT = slice(FEATURE_NAMES.index(f"consent_{CHANNEL_NAMES[0]}"), FEATURE_NAMES.index(f"consent_{CHANNEL_NAMES[-1]}") + 1)
_CONTACTS = [FEATURE_NAMES.index(n) for n in ("contacts_7d", "contacts_30d", "days_since_contact")]
_PROMOTIONS = [OFFER_KINDS.index(k) for k in PROMOTION_KINDS]


def index(name: str) -> int:
    """Column of a feature by name; a clear error for an unknown one."""
    try:
        return FEATURE_NAMES.index(name)
    except ValueError:
        raise KeyError(f"feature {name!r} is unknown; known features: {', '.join(FEATURE_NAMES)}") from None


def observe(market, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
    """(n, N_FEATURES) float32 observations of ``rows`` on the market's current day.

    ``market`` is a :class:`sim.market.MarketModel`; only its CRM-visible arrays are read, as
    :func:`observation` reads a CRM record. Rows of shoppers who have not joined yet are all
    zeros but for the calendar (the CRM has no row for them, only the date is known).
    """
    st, prof, t = market.state, market.profile, market.day
    doy = market.calendar.day_of_year(t)

    def crm_values():  # the CRM_FEATURES block by block: one temporary array alive at a time
        yield days_since(st.last_purchase_day[rows], t)
        purchases = st.purchases[rows].sum(axis=1)  # for the frequency and the average order value
        yield np.log1p(purchases)
        yield np.log1p(st.spend[rows])
        yield (t - prof.join_day[rows]) / 365.0
        yield np.log1p(st.purchases[rows])
        yield st.views[rows]
        yield st.opens[rows]
        yield st.sessions[rows]
        yield st.kind_sent[rows]
        yield st.kind_opened[rows]
        redeemed = st.kind_redeemed[rows]
        yield redeemed
        yield st.category_opened[rows]
        yield st.category_redeemed[rows]
        yield share(redeemed[:, _PROMOTIONS].sum(axis=1), st.recent_purchases[rows])
        yield share(st.spend[rows], purchases) / 100.0
        yield st.slot_opens[rows]
        yield days_since(st.last_open_day[rows], t)
        yield days_since(st.last_redemption_day[rows], t)
        yield prof.age_band[rows] / 4.0
        g = prof.gender_recorded[rows]
        yield g == GENDER_FEMALE
        yield g == GENDER_MALE
        yield birthday_distance(prof.birthday[rows], doy) / 364.0

    x = observation(prof.data_consent[rows], crm_values(), st.consent[rows], st.contacts[:, rows], st.last_contact_day[rows],
                    market.calendar, t)
    x[prof.join_day[rows] > t, :CALENDAR_START] = 0.0
    return x


def observation(personal_data: np.ndarray, values: Iterable[np.ndarray], consent: np.ndarray, contacts: np.ndarray,
                last_contact_day: np.ndarray, calendar: Calendar, day: int) -> np.ndarray:
    """(n, N_FEATURES) float32 observations from a CRM record of n customers, decided on ``day``.

    The one place an observation is assembled: the market's :func:`observe` and the decision
    service (:mod:`serving.crm`) both call it, so a policy meets the same numbers in either.

    - ``personal_data``: (n,) bool, consent to personalised use of their data;
    - ``values``: the :data:`CRM_FEATURES` in their order and in the units of :data:`FEATURES`,
      as column blocks of n rows (one (n, len(CRM_FEATURES)) array, or narrower blocks from a
      generator, which keeps one block alive at a time); hidden where ``personal_data`` is False;
    - ``consent``: (n, H) bool, contact allowed per channel;
    - ``contacts``, ``last_contact_day``: the contact history (see :func:`contact_features`);
    - ``calendar``, ``day``: the decision date, ``calendar.date(day)``.

    Every value is clipped to its feature's bounds.
    """
    n = personal_data.shape[0]
    # Built column-major, where every feature is one contiguous column, and handed out row-major (the layout every
    # consumer reads): writing narrow column blocks straight into a row-major array cost twice as much at 87 features.
    x = np.zeros((n, N_FEATURES), dtype=np.float32, order="F")
    col = _CRM.start
    for block in values:
        v = block.reshape(n, -1)
        x[:, col : col + v.shape[1]] = v
        col += v.shape[1]
    if col != _CRM.stop:
        raise ValueError(f"values: {col - _CRM.start} columns; the CRM features are {len(CRM_FEATURES)}: {', '.join(CRM_FEATURES)}")
    x[:, _PERSONAL_DATA] = personal_data
    x[:, _CONSENT] = consent
    for column, counts in zip(_CONTACTS, contact_features(contacts, last_contact_day, day), strict=True):
        x[:, column] = counts
    weekday = np.zeros(7, dtype=np.float32)
    weekday[calendar.weekday(day)] = 1.0
    x[:, CALENDAR_START:] = np.concatenate([weekday, calendar.holiday_ramp(day)])
    x[~personal_data.astype(bool), _CRM] = 0.0
    np.clip(x, FEATURE_LOW, FEATURE_HIGH, out=x)
    return np.ascontiguousarray(x)


def days_since(day: np.ndarray, today: int) -> np.ndarray:
    """(n,) float32 days from ``day`` to ``today`` / 365, capped at 1 (a day of :data:`sim.state.NEVER` gives 1)."""
    return np.minimum((today - day).astype(np.float32) / 365.0, 1.0)


def share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """(n,) float32 ``part / whole``, 0 where ``whole`` is 0 (a shopper with no purchases has no promotion share)."""
    return np.divide(part, whole, out=np.zeros(part.shape, dtype=np.float32), where=whole > 0).astype(np.float32, copy=False)


def contact_features(contacts: np.ndarray, last_contact_day: np.ndarray, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(contacts_7d, contacts_30d, days_since_contact) of n customers, decided on ``day`` before its own sends.

    ``contacts`` is a ring of :data:`CONTACT_MEMORY` days by n customers: slot ``d % CONTACT_MEMORY``
    counts the messages delivered on day ``d``, for the days ``day - CONTACT_MEMORY .. day - 1``
    (a decision precedes the day's sends, so the ring holds nothing of ``day`` itself);
    ``last_contact_day`` is the day of the last message, however old (:data:`sim.state.NEVER` if none).
    A contact of age k days (k = 1 yesterday) counts in the last 7 days for k <= 7 and in the
    last 30 for k <= 30; days since contact is ``min(k_min / 365, 1)``.
    """
    return (contacts_last_7d(contacts, day), contacts_before(contacts, day, CONTACT_MEMORY),
            np.minimum((day - last_contact_day) / 365.0, 1.0))


def contacts_last_7d(contacts: np.ndarray, day: int, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
    """(n,) messages delivered in the 7 days before ``day`` (the frequency cap's window); ``contacts`` as in :func:`contact_features`."""
    return contacts_before(contacts, day, 7, rows)


def contacts_before(contacts: np.ndarray, day: int, days: int, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
    """(n,) int32 messages delivered in the ``days`` days before ``day`` (ages 1..days) in the ring ``contacts``."""
    memory = contacts.shape[0]
    if not 1 <= days <= memory:
        raise ValueError(f"days={days}: the contact ring remembers 1..{memory} days")
    if days == memory:  # ages 1..memory are every slot once
        return contacts[:, rows].sum(axis=0, dtype=np.int32)
    idx = [(day - k) % memory for k in range(1, days + 1)]
    return contacts[:, rows][idx].sum(axis=0, dtype=np.int32)
