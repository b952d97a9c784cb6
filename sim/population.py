"""Who the shoppers are: archetypes as distributions over latent traits, and the draw of a population.

A population is a set of arrays with one row per shopper (:class:`Traits` for what only the
market and the oracle know, :class:`Profile` for what a CRM records once). Rows for shoppers who
join later are allocated up front and carry their ``join_day``.

The archetype numbers are modelling assumptions chosen so that the default market has realistic
orders of magnitude: about one purchase per shopper per month on average, a few percent of
messages opened, and daily churn hazards of 0.05-0.4% (see the README's assumptions table).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from sim.catalogue import CATEGORY_PRICE, N_CATEGORIES, N_CHANNELS, N_SLOTS
from sim.config import ARCHETYPES, PopulationConfig

AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
GENDER_UNKNOWN, GENDER_FEMALE, GENDER_MALE = 0, 1, 2


@dataclass(frozen=True)
class Archetype:
    """A kind of shopper; each field is the mean (and where given the spread) of one latent trait."""

    name: str
    interest: tuple[float, ...]
    """mean category interest in logits (womens, mens, kids, home, beauty, electronics)"""
    buy_base: float
    """logit of a daily purchase in a category of interest 0"""
    price_sensitivity: float
    """median of the log-normal price sensitivity (1 = a 10% discount adds 0.6 logits by default)"""
    churn_hazard: float
    """daily probability of leaving for good, unfatigued and just after a purchase"""
    channel_affinity: tuple[float, ...]
    """median open-rate multiplier per channel (email, sms, push, social_ad, call_centre)"""
    consent: tuple[float, ...]
    """probability of having agreed to contact per channel"""
    slot_weights: tuple[float, ...]
    """probability of each active slot (morning, midday, evening)"""
    social_susceptibility: float
    """mean weight of acquaintances' purchases on this shopper's interests"""
    basket_scale: float
    """median multiplier of the category's basket value"""
    recency_days: tuple[int, int]
    """range of days since the last purchase at day 0"""
    purchases_last_year: float
    """mean purchases in the year before day 0"""
    parent_share: float
    """share of this archetype with children at home (kids' interest +1 logit)"""


ARCHETYPE_TABLE: dict[str, Archetype] = {
    a.name: a
    for a in (
        Archetype("bargain_hunter", (0.2, 0.0, 0.0, 0.2, 0.1, 0.3), -6.1, 2.2, 0.0012,
                  (1.3, 1.1, 1.2, 1.0, 0.6), (0.9, 0.55, 0.40, 0.7, 0.25), (0.25, 0.35, 0.40), 0.6, 0.8,
                  (1, 120), 8.0, 0.25),
        Archetype("loyal_regular", (0.4, 0.2, 0.0, 0.3, 0.4, 0.0), -5.6, 0.5, 0.0004,
                  (1.4, 1.0, 1.3, 0.8, 1.0), (0.95, 0.6, 0.5, 0.6, 0.4), (0.45, 0.20, 0.35), 0.3, 1.1,
                  (1, 40), 16.0, 0.25),
        Archetype("new_customer", (0.0, 0.0, 0.0, 0.0, 0.0, 0.0), -6.5, 1.0, 0.0020,
                  (1.0, 0.9, 1.0, 1.2, 0.5), (0.8, 0.4, 0.25, 0.6, 0.15), (0.30, 0.30, 0.40), 0.8, 0.9,
                  (1, 60), 1.2, 0.2),
        Archetype("lapsing", (0.0, 0.1, 0.0, 0.1, 0.0, 0.1), -7.0, 1.2, 0.0015,
                  (0.7, 0.8, 0.6, 0.8, 0.7), (0.85, 0.45, 0.25, 0.6, 0.3), (0.35, 0.30, 0.35), 0.3, 0.9,
                  (90, 330), 2.5, 0.2),
        Archetype("parent", (0.1, -0.2, 0.8, 0.5, 0.0, -0.2), -6.3, 1.4, 0.0007,
                  (1.1, 1.2, 1.1, 1.0, 0.8), (0.9, 0.6, 0.45, 0.65, 0.3), (0.20, 0.25, 0.55), 0.7, 1.0,
                  (1, 90), 7.0, 1.0),
        Archetype("affluent", (0.3, 0.3, -0.1, 0.5, 0.3, 0.5), -6.2, 0.35, 0.0006,
                  (1.0, 0.9, 0.9, 0.6, 1.2), (0.9, 0.5, 0.35, 0.4, 0.35), (0.40, 0.25, 0.35), 0.4, 1.6,
                  (1, 100), 6.0, 0.25),
    )
}
if tuple(ARCHETYPE_TABLE) != ARCHETYPES:  # pragma: no cover - a guard for whoever edits the table
    raise RuntimeError("ARCHETYPE_TABLE must list the archetypes of sim.config.ARCHETYPES, in order")

# Latent gender shifts interests (logits): women's and beauty for women, men's and electronics for men.
GENDER_INTEREST = np.array(
    [[0, 0, 0, 0, 0, 0], [0.9, -0.6, 0, 0, 0.6, -0.3], [-0.6, 0.9, 0, 0, -0.5, 0.4]], dtype=np.float32
)


@dataclass
class Traits:
    """Latent traits: hidden from every policy but the oracle."""

    archetype: np.ndarray  # (n,) int8 index into ARCHETYPES
    gender: np.ndarray  # (n,) int8, the shopper's true gender (the CRM may not know it)
    parent: np.ndarray  # (n,) bool, children at home
    interest_mean: np.ndarray  # (n, C) float32 logits the interests drift back to
    buy_base: np.ndarray  # (n,) float32 logit
    price_sensitivity: np.ndarray  # (n,) float32
    churn_hazard: np.ndarray  # (n,) float32 daily probability
    channel_affinity: np.ndarray  # (n, H) float32 open-rate multiplier
    active_slot: np.ndarray  # (n,) int8
    social_susceptibility: np.ndarray  # (n,) float32
    basket_scale: np.ndarray  # (n,) float32


@dataclass
class Profile:
    """What the CRM records once about a shopper; personal fields are shown only with data consent."""

    join_day: np.ndarray  # (n,) int32, 0 for shoppers present at the start
    data_consent: np.ndarray  # (n,) bool, personalised use of data allowed
    consent: np.ndarray  # (n, H) bool, contact allowed per channel at sign-up
    age_band: np.ndarray  # (n,) int8 index into AGE_BANDS
    gender_recorded: np.ndarray  # (n,) int8: GENDER_UNKNOWN where not given
    birthday: np.ndarray  # (n,) int16 day of year, 0..364
    recency_days: np.ndarray  # (n,) int32 days since last purchase at join (-1: never bought)
    past_purchases: np.ndarray  # (n, C) float32 purchases per category in the year before joining
    past_spend: np.ndarray  # (n,) float32 spend in the year before joining


def archetype_arrays() -> dict[str, np.ndarray]:
    """Archetype table as arrays with one row per archetype, for vectorised draws."""
    table = list(ARCHETYPE_TABLE.values())
    return {
        f.name: np.array([getattr(a, f.name) for a in table], dtype=np.float32)
        for f in fields(Archetype)
        if f.name != "name"
    }


def draw_population(
    cfg: PopulationConfig, n_rows: int, join_day: np.ndarray, rng: np.random.Generator, archetype_of: np.ndarray | None = None
) -> tuple[Traits, Profile]:
    """Draw ``n_rows`` shoppers; rows with ``join_day > 0`` are newcomers without purchase history.

    ``archetype_of`` fixes the archetypes of the first rows (customers from a table,
    :mod:`sim.customers`); the mixture draw is made for every row all the same, so the random
    numbers of every other trait do not depend on it.
    """
    arch = archetype_arrays()
    weights = np.array([cfg.archetype_weights.get(name, 0.0) for name in ARCHETYPES], dtype=np.float64)
    archetype = rng.choice(len(ARCHETYPES), size=n_rows, p=weights / weights.sum()).astype(np.int8)
    if archetype_of is not None:
        archetype[: archetype_of.size] = archetype_of
    a = archetype.astype(np.int64)

    gender = np.where(rng.random(n_rows) < 0.55, GENDER_FEMALE, GENDER_MALE).astype(np.int8)
    parent = rng.random(n_rows) < arch["parent_share"][a]
    interest_mean = (
        arch["interest"][a]
        + GENDER_INTEREST[gender]
        + np.where(parent, 1.0, 0.0)[:, None] * (np.arange(N_CATEGORIES) == 2)
        + 0.5 * rng.standard_normal((n_rows, N_CATEGORIES))
    ).astype(np.float32)

    slot_cdf = np.cumsum(arch["slot_weights"][a], axis=1)
    active_slot = (rng.random(n_rows)[:, None] > slot_cdf[:, :-1]).sum(axis=1).astype(np.int8)
    assert active_slot.max(initial=0) < N_SLOTS

    traits = Traits(
        archetype=archetype,
        gender=gender,
        parent=parent,
        interest_mean=interest_mean,
        buy_base=(arch["buy_base"][a] + 0.3 * rng.standard_normal(n_rows)).astype(np.float32),
        price_sensitivity=(arch["price_sensitivity"][a] * np.exp(0.35 * rng.standard_normal(n_rows))).astype(np.float32),
        churn_hazard=(arch["churn_hazard"][a] * np.exp(0.3 * rng.standard_normal(n_rows))).astype(np.float32),
        channel_affinity=(arch["channel_affinity"][a] * np.exp(0.4 * rng.standard_normal((n_rows, N_CHANNELS)))).astype(np.float32),
        active_slot=active_slot,
        social_susceptibility=(arch["social_susceptibility"][a] * rng.beta(2.0, 2.0, n_rows) * 2).astype(np.float32),
        basket_scale=(arch["basket_scale"][a] * np.exp(0.25 * rng.standard_normal(n_rows))).astype(np.float32),
    )

    newcomer = join_day > 0
    lo, hi = arch["recency_days"][a, 0], arch["recency_days"][a, 1]
    recency = np.where(newcomer, -1, (lo + rng.random(n_rows) * (hi - lo)).astype(np.int32)).astype(np.int32)
    share = np.exp(interest_mean - interest_mean.max(axis=1, keepdims=True))
    share /= share.sum(axis=1, keepdims=True)
    yearly = arch["purchases_last_year"][a] * np.exp(0.4 * rng.standard_normal(n_rows))
    past = rng.poisson(yearly[:, None] * share).astype(np.float32)
    past[newcomer] = 0.0
    # At least one purchase for an existing customer: a CRM row exists because they bought.
    none_yet = ~newcomer & (past.sum(axis=1) == 0)
    past[none_yet, share[none_yet].argmax(axis=1)] = 1.0
    past_spend = (past * CATEGORY_PRICE).sum(axis=1) * traits.basket_scale

    profile = Profile(
        join_day=join_day.astype(np.int32),
        data_consent=rng.random(n_rows) < cfg.data_consent,
        consent=rng.random((n_rows, N_CHANNELS)) < arch["consent"][a],
        age_band=rng.choice(len(AGE_BANDS), size=n_rows, p=[0.12, 0.26, 0.25, 0.2, 0.17]).astype(np.int8),
        gender_recorded=np.where(rng.random(n_rows) < 0.7, gender, GENDER_UNKNOWN).astype(np.int8),
        birthday=rng.integers(0, 365, n_rows).astype(np.int16),
        recency_days=recency,
        past_purchases=past,
        past_spend=past_spend.astype(np.float32),
    )
    return traits, profile


def join_days(size: int, arrivals_per_day: float, horizon_days: int, rng: np.random.Generator) -> np.ndarray:
    """Join day of every row: ``size`` zeros, then newcomers spread over days 1..horizon-1."""
    n_new = int(round(size * arrivals_per_day * max(horizon_days - 1, 0)))
    later = np.sort(rng.integers(1, max(horizon_days, 2), n_new)) if n_new else np.zeros(0, dtype=np.int64)
    return np.concatenate([np.zeros(size, dtype=np.int32), later.astype(np.int32)])


def replace_rows(traits: Traits, profile: Profile, rows: np.ndarray, new_traits: Traits, new_profile: Profile) -> None:
    """Write freshly drawn shoppers into ``rows`` (used to refill churned rows in the vectorised env)."""
    for group, fresh in ((traits, new_traits), (profile, new_profile)):
        for f in fields(group):
            getattr(group, f.name)[rows] = getattr(fresh, f.name)
