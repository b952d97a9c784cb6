"""Typed settings of the market, with the ranges a value may take.

Every numeric field carries its allowed range in ``metadata``; :func:`validate` walks a
config tree and raises :class:`ConfigError` naming the dotted key, the value and the range. The
same dataclasses back Hydra's ConfigStore (``experiments/schema.py``), so a YAML preset, a CLI
override and a Python caller are all checked by this one function.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sim.catalogue import CATEGORY_NAMES

ARCHETYPES = ("bargain_hunter", "loyal_regular", "new_customer", "lapsing", "parent", "affluent")


class ConfigError(ValueError):
    """A setting is out of range or unknown; the message names key, value and what is allowed."""


def bounded(default: Any, *, ge: float | None = None, le: float | None = None, gt: float | None = None) -> Any:
    """A dataclass field whose value :func:`validate` keeps in ``[ge, le]`` (or above ``gt``)."""
    return field(default=default, metadata={"ge": ge, "le": le, "gt": gt})


@dataclass
class CustomerEffects:
    """How the latent traits of a shopper seeded from a customer table depend on the table's columns.

    A customer's mean interest in category c (logits, :mod:`sim.population`) is the archetype's
    draw plus

    .. math::  \\beta_{bought} \\mathbb{1}[c \\text{ bought}] + \\beta_{new} n_i + \\beta_{rec} r_i
               + \\beta_{hist} \\ln(H_i / 100) + \\beta_{channel(i)} + \\beta_{zip(i)}

    with :math:`n_i` the newbie flag, :math:`r_i` months since the last purchase, :math:`H_i` the
    past year's spend; the channel term is 0 for phone buyers and the area term 0 for suburban
    ones. Every term but the first shifts all categories alike, so it moves browsing and buying
    together (an "activity" level). ``configs/market/hillstrom.yaml`` holds values fitted to the
    Hillstrom experiment; the defaults here are neutral assumptions for an unfitted table.
    """

    bought_interest: float = bounded(1.0, ge=-10.0, le=10.0)
    """interest logits of a category the customer bought in the past year over one they did not"""
    newbie_activity: float = bounded(0.0, ge=-10.0, le=10.0)
    """interest logits (every category) of a customer who is new in the past year"""
    recency_activity: float = bounded(0.0, ge=-5.0, le=5.0)
    """interest logits (every category) per month since the last purchase"""
    history_activity: float = bounded(0.0, ge=-5.0, le=5.0)
    """interest logits (every category) per unit of ln(past year's spend / 100)"""
    web_activity: float = bounded(0.0, ge=-10.0, le=10.0)
    """interest logits (every category) of a web buyer over a phone buyer"""
    multichannel_activity: float = bounded(0.0, ge=-10.0, le=10.0)
    """interest logits (every category) of a multichannel buyer over a phone buyer"""
    urban_activity: float = bounded(0.0, ge=-10.0, le=10.0)
    """interest logits (every category) of an urban customer over a suburban one"""
    rural_activity: float = bounded(0.0, ge=-10.0, le=10.0)
    """interest logits (every category) of a rural customer over a suburban one"""
    basket_scale: float = bounded(1.0, gt=0.0, le=100.0)
    """multiplier of the archetype's basket scale (the value of one purchase)"""


@dataclass
class PopulationConfig:
    size: int = bounded(50_000, ge=100, le=10_000_000)
    """shoppers present on day 0 (with a customer table: at most its rows; fewer are a random sample of them)"""
    arrivals_per_day: float = bounded(0.002, ge=0.0, le=0.1)
    """newcomers joining each day, as a share of ``size`` (rows are allocated up front)"""
    data_consent: float = bounded(0.85, ge=0.0, le=1.0)
    """share of shoppers who agreed to personalised use of their data"""
    archetype_weights: dict[str, float] = field(
        default_factory=lambda: {
            "bargain_hunter": 0.22,
            "loyal_regular": 0.16,
            "new_customer": 0.14,
            "lapsing": 0.18,
            "parent": 0.18,
            "affluent": 0.12,
        }
    )
    """mixture weights of the shopper archetypes (normalised; names from ``sim.config.ARCHETYPES``)"""
    customers: str = ""
    """customer table (CSV or parquet, schema in ``sim/customers.py``) seeding the shoppers present on day 0;
    empty = draw them from the archetypes. A relative path is looked up in the working directory, then in the project"""
    customer_effects: CustomerEffects = field(default_factory=CustomerEffects)
    """how latent traits depend on a customer table's columns (unused without a table)"""


@dataclass
class NetworkConfig:
    mean_degree: int = bounded(6, ge=0, le=200)
    """acquaintances per ordinary shopper (small-world ring, 10% rewired)"""
    influencer_share: float = bounded(0.005, ge=0.0, le=0.5)
    """share of shoppers who are influencer hubs"""
    influencer_followers: int = bounded(200, ge=0, le=100_000)
    """followers of each influencer hub"""
    social_weight: float = bounded(0.15, ge=0.0, le=5.0)
    """w in the social-proof term w x susceptibility x min(buzz, 4) added to interest (logits)"""
    buzz_half_life: float = bounded(7.0, gt=0.0, le=365.0)
    """days for the buzz of acquaintances' purchases to halve"""


@dataclass
class ResponseParams:
    """Constants of the response equations in :mod:`sim.response`; units in each docstring."""

    browse_base: float = bounded(-3.0, ge=-20.0, le=5.0)
    """logit of viewing a category on a day, before interest, shock and social proof"""
    buy_base: float = bounded(0.0, ge=-20.0, le=20.0)
    """logit shift of every purchase intent (the calibration knob for the base purchase rate)"""
    view_boost: float = bounded(1.5, ge=0.0, le=10.0)
    """logits added to purchase intent in a category browsed today"""
    price_weight: float = bounded(2.5, ge=0.0, le=50.0)
    """logits per unit of (discount share x price sensitivity) on a covered purchase"""
    offer_reach: float = bounded(1.0, ge=0.0, le=10.0)
    """scale of an opened offer's appeal on purchase intent"""
    fatigue_half_life: float = bounded(4.0, gt=0.0, le=365.0)
    """days for fatigue to halve without messages"""
    fatigue_open: float = bounded(0.18, ge=0.0, le=10.0)
    """open probability is multiplied by exp(-fatigue_open x fatigue)"""
    irrelevance_fatigue: float = bounded(1.0, ge=0.0, le=20.0)
    """extra fatigue of a message, per unit of irrelevance (1 - relevance)"""
    repeat_fatigue: float = bounded(0.6, ge=0.0, le=20.0)
    """extra fatigue of a message that repeats the offer of the last message within 7 days"""
    engagement_gain: float = bounded(0.25, ge=0.0, le=5.0)
    """engagement gained when a relevant message is opened, per unit of relevance"""
    engagement_half_life: float = bounded(30.0, gt=0.0, le=3650.0)
    """days for engagement to halve"""
    engagement_open: float = bounded(0.8, ge=0.0, le=10.0)
    """open odds are multiplied by (1 + engagement_open x engagement)"""
    unsubscribe_fatigue: float = bounded(0.35, ge=0.0, le=20.0)
    """unsubscribe probability is multiplied by (1 + unsubscribe_fatigue x fatigue)"""
    churn_fatigue: float = bounded(0.10, ge=0.0, le=10.0)
    """churn hazard is multiplied by exp(churn_fatigue x fatigue)"""
    churn_recency: float = bounded(0.12, ge=0.0, le=10.0)
    """churn hazard is multiplied by exp(churn_recency x months since the last purchase)"""
    drift_sd: float = bounded(0.03, ge=0.0, le=2.0)
    """daily standard deviation of the random walk of latent interests (logits)"""
    drift_pull: float = bounded(0.01, ge=0.0, le=1.0)
    """daily pull of latent interests back toward the archetype mean"""
    shock_sd: float = bounded(0.06, ge=0.0, le=2.0)
    """daily standard deviation of the market-wide category demand shock (logits)"""
    shock_persistence: float = bounded(0.9, ge=0.0, le=0.999)
    """AR(1) coefficient of the demand shock"""
    holiday_boost: float = bounded(0.6, ge=0.0, le=5.0)
    """logits added to the holiday's categories in the days before it"""
    birthday_boost: float = bounded(0.5, ge=0.0, le=5.0)
    """logits added to every purchase intent in a shopper's birthday week"""
    open_browse: float = bounded(0.0, ge=0.0, le=20.0)
    """logits per unit of offer appeal added to browsing an opened message's categories on the day it is opened
    (the click-through; 0 = messages act on purchases only, as in the default market)"""
    session_regularity: float = bounded(0.7, ge=0.0, le=1.0)
    """share of a shopper's site sessions (days they browse or open a message) that the shop's web analytics log in the
    shopper's active slot; the rest fall evenly in the other two slots (1/3 = visit times say nothing of the active slot)"""


@dataclass
class CampaignConfig:
    """A message a market can deliver besides the catalogue's offers: no discount, one featured category.

    The Hillstrom e-mails are two of these ("featured men's / women's merchandise", no discount):
    the catalogue has no discount-free single-category offer, and adding one would change the
    action space every policy is built on. A campaign is sent with the action
    :meth:`sim.market.MarketModel.campaign_action` returns (outside the policies' action space).
    """

    category: str = ""
    """the featured category (a name from ``sim.catalogue.CATEGORY_NAMES``); empty = every category"""
    appeal: float = bounded(0.25, ge=0.0, le=10.0)
    """non-price pull of the opened message on purchase intent in its category, in logits (as an offer's appeal)"""


@dataclass
class GuardrailConfig:
    """Limits applied to every policy, as action masks and again by the market."""

    frequency_cap_7d: int = bounded(3, ge=0, le=21)
    """most messages a shopper may receive in any rolling 7 days"""
    daily_budget: float = bounded(0.0, ge=0.0)
    """most the shop spends per day on channel costs plus discounts committed; 0 = no budget"""


@dataclass
class MarketConfig:
    name: str = "default"
    horizon_days: int = bounded(90, ge=1, le=3650)
    start_date: str = "2025-02-03"
    """ISO date of day 0 (sets weekday, season, holidays and birthdays)"""
    refill_churned: bool = False
    """replace a churned shopper's row by a newcomer the next day (the vectorised env uses this)"""
    population: PopulationConfig = field(default_factory=PopulationConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    response: ResponseParams = field(default_factory=ResponseParams)
    campaigns: dict[str, CampaignConfig] = field(default_factory=dict)
    """messages besides the catalogue's offers, by name (``sim.config.CampaignConfig``)"""


def validate(cfg: Any, path: str = "") -> None:
    """Check every bounded field of a (nested) config dataclass; raise ConfigError on the first bad one."""
    for f in dataclasses.fields(cfg):
        key = f"{path}{f.name}"
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            validate(value, key + ".")
            continue
        lo, hi, gt = f.metadata.get("ge"), f.metadata.get("le"), f.metadata.get("gt")
        if (lo is None and hi is None and gt is None) or (value is None and f.default is None):
            continue  # unbounded, or an optional setting left unset
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}={value!r}: must be a number")
        if (lo is not None and value < lo) or (hi is not None and value > hi) or (gt is not None and value <= gt):
            lower = f"[{lo}" if lo is not None else (f"({gt}" if gt is not None else "(-inf")
            upper = f"{hi}]" if hi is not None else "inf)"
            raise ConfigError(f"{key}={value!r}: must be in {lower}, {upper}")
    _validate_specials(cfg, path)


def _validate_specials(cfg: Any, path: str) -> None:
    """Checks that a range cannot express: names, dates."""
    if isinstance(cfg, PopulationConfig):
        for name, w in cfg.archetype_weights.items():
            if name not in ARCHETYPES:
                raise ConfigError(f"{path}archetype_weights.{name}: unknown archetype; allowed: {', '.join(ARCHETYPES)}")
            if not w >= 0:
                raise ConfigError(f"{path}archetype_weights.{name}={w!r}: must be >= 0")
        if sum(cfg.archetype_weights.values()) <= 0:
            raise ConfigError(f"{path}archetype_weights: at least one weight must be > 0")
    if isinstance(cfg, MarketConfig):
        for name, campaign in cfg.campaigns.items():
            validate(campaign, f"{path}campaigns.{name}.")
            if campaign.category and campaign.category not in CATEGORY_NAMES:
                raise ConfigError(
                    f"{path}campaigns.{name}.category={campaign.category!r}: unknown; allowed: {', '.join(CATEGORY_NAMES)} or empty (every category)"
                )
        try:
            dt.date.fromisoformat(cfg.start_date)
        except (TypeError, ValueError):
            raise ConfigError(f"{path}start_date={cfg.start_date!r}: must be an ISO date such as 2025-02-03") from None
