"""The market: a Mesa model of shoppers whose numbers live in arrays, stepped one day at a time.

One day, in order (DESIGN.md, "data flow of one simulated day"):

1. the market draws the day's demand (season + an AR(1) shock + holidays) and every random
   block it will need, one block per purpose with one row per shopper;
2. the guardrails decide, once, which proposed sends run (:func:`sim.guardrails.guard`): a send
   that breaks presence, consent, the frequency cap or the day's budget becomes no contact, with
   its reason in :attr:`outcome` (``action``, ``refusal``); a refusal other than the budget's is a
   policy that ignored its mask and is counted as a violation;
3. every shopper lives the day (:meth:`MarketModel.shopper_day`): interest drift, message
   delivery, open, fatigue, unsubscribe, browsing, purchases and redemptions, churn;
4. market-level effects that need all shoppers: social proof from today's purchases, refills of
   churned rows (vectorised env only), daily metrics into Mesa's ``DataCollector``.

Step 3 runs either vectorised over all rows at once (the default) or as
``agents.shuffle_do("step")``, each :class:`~sim.shoppers.Shopper` calling the same
``shopper_day`` on its own row. Because the random blocks are drawn before step 3 and no shopper
reads another's row during it, both ways give identical numbers for the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mesa import Model
from mesa.datacollection import DataCollector

from sim import features, response
from sim.calendar import HOLIDAYS, WEEKDAY_EFFECT, Calendar, birthday_distance, holiday_categories
from sim.campaigns import offer_table
from sim.catalogue import (
    CATEGORY_MARGIN,
    CATEGORY_PRICE,
    CHANNEL_COST,
    CHANNEL_FATIGUE,
    CHANNEL_NAMES,
    CHANNEL_OPEN,
    CHANNEL_UNSUB,
    N_CATEGORIES,
    SLOTS,
    VALIDITY_DAYS,
    encode,
)
from sim.config import ConfigError, GuardrailConfig, MarketConfig, validate
from sim.customers import CustomerTable, apply_history, draw_customers, load_customers
from sim.guardrails import ActionMask, GuardrailPass, channel_mask, guard
from sim.network import build_influence, exposure
from sim.population import GENDER_FEMALE, GENDER_MALE, Traits, draw_population, join_days, replace_rows
from sim.reward import daily_profit
from sim.shoppers import Shopper
from sim.state import RESPONSE_HALF_LIFE, empty_outcome, initial_state, reset_rows
from sim.streams import Streams

SQRT12 = float(np.sqrt(12.0))
"""scales a centred uniform to unit variance: drift steps are uniform, cheaper to draw than normals"""
HOLIDAY_CATEGORIES = np.stack([holiday_categories(h) for h in HOLIDAYS]).astype(np.float32)  # (K, C)


@dataclass
class _Day:
    """Everything about today that is the same for all shoppers, plus the random blocks by row."""

    day: int
    day_of_year: int
    demand: np.ndarray  # (C,) market-wide purchase/browse logits: season + shock + weekday
    holiday_ramp: np.ndarray  # (K,)
    actions: np.ndarray  # (n,) executed actions
    u_browse: np.ndarray  # (n, C) uniforms
    u_buy: np.ndarray  # (n, C)
    u_message: np.ndarray  # (n, 2): open, unsubscribe
    u_churn: np.ndarray  # (n,)
    u_session: np.ndarray  # (n,) the slot a site session is logged in
    u_drift: np.ndarray | None  # (n, C) uniforms for the interest random walk, on drift days only


class MarketModel(Model):
    """Shoppers, catalogue, social network and calendar; see the module docstring for one day.

    Args:
        config: market settings (population, network, response constants, horizon).
        guardrails: consent is always enforced; the frequency cap and budget come from here.
        seed: the one seed every random stream derives from.
        per_agent: run each day as ``agents.shuffle_do("step")`` (the slow reference way).
        customers: a customer table to seed the shoppers from, in place of the one
            ``config.population.customers`` names (a replay passes one half of a table).

    Attributes:
        day: index of the next day to simulate (0 before the first step).
        state, traits, profile: the per-shopper arrays (traits are latent: use :meth:`latent`).
        outcome: what happened to each shopper on the last simulated day.
        customers: the customers of rows ``0..len(customers) - 1`` (None without a customer table).
        offers: the offers this market can deliver, the catalogue's and its campaigns (:mod:`sim.campaigns`).
        totals: market-wide sums of the last day, also collected by ``datacollector``.
        violations: sends refused since the start because the policy ignored its mask (consent,
            presence, the cap); the correct number is zero. Budget refusals are not violations.
    """

    def __init__(
        self,
        config: MarketConfig | None = None,
        guardrails: GuardrailConfig | None = None,
        seed: int = 0,
        per_agent: bool = False,
        customers: CustomerTable | None = None,
    ):
        self.streams = Streams(seed)  # first: it rejects a bad seed with a message naming it
        super().__init__(seed=seed)
        self.config = config if config is not None else MarketConfig()
        self.guardrails = guardrails if guardrails is not None else GuardrailConfig()
        validate(self.config, "market.")
        validate(self.guardrails, "guardrails.")
        self.per_agent = per_agent
        self.calendar = Calendar(self.config.start_date)
        self.params = self.config.response
        pop = self.config.population
        rng = self.streams.rng("population")
        join = join_days(pop.size, pop.arrivals_per_day, self.config.horizon_days, rng)
        if customers is None and pop.customers:
            customers = load_customers(pop.customers)
        if customers is None:
            self.customers = None
            self.traits, self.profile = draw_population(pop, join.size, join, rng)
        else:
            self.customers, self.traits, self.profile = draw_customers(customers, pop, join, rng)
        self.offers = offer_table(self.config.campaigns)
        self.state = initial_state(self.traits, self.profile)
        if self.customers is not None:
            apply_history(self.state, self.customers)
        self.influence, self.influencer = build_influence(join.size, self.config.network, self.streams.rng("network"))
        self.outcome = empty_outcome(join.size)
        self.audience = self._audience(self.traits)
        self.shock = np.zeros(N_CATEGORIES, dtype=np.float32)
        self.day = 0
        self.violations = 0
        self._refused_today = 0
        self._budget_refused_today = 0
        self.totals: dict[str, float] = {}
        self._today: _Day | None = None
        self._decay = {
            "fatigue": response.decay(self.params.fatigue_half_life),
            "engagement": response.decay(self.params.engagement_half_life),
            "views": response.decay(7.0),
            "opens": response.decay(30.0),
            "sessions": response.decay(30.0),
            "response": response.decay(RESPONSE_HALF_LIFE),
            "buzz": response.decay(self.config.network.buzz_half_life),
        }
        self._shoppers: dict[int, Shopper] = {}
        if per_agent:
            for row in range(self.n_rows):
                self.shopper(row)
        self.datacollector = DataCollector(model_reporters={k: _total(k) for k in DAILY_METRICS})

    # ------------------------------------------------------------------ what policies may see
    @property
    def n_rows(self) -> int:
        return self.profile.join_day.size

    @property
    def present(self) -> np.ndarray:
        """(n,) bool: joined and not churned, on the current day."""
        return (self.profile.join_day <= self.day) & ~self.state.churned

    def observe(self, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """(n, F) CRM features of ``rows`` today; see :mod:`sim.features` for the columns."""
        return features.observe(self, rows)

    def action_mask(self) -> ActionMask:
        """Consent and frequency cap for every row today (the budget is applied to the proposals by :meth:`step`)."""
        return ActionMask(channel_mask(self.state.consent, self.present, self._contacts_7d(), self.guardrails.frequency_cap_7d))

    def _contacts_7d(self) -> np.ndarray:
        return features.contacts_last_7d(self.state.contacts, self.day)

    def shopper(self, row: int) -> Shopper:
        """The Mesa agent of ``row``, created on first use.

        The per-agent way creates every shopper up front. The vectorised way creates agents only
        when asked: Mesa registers each agent in Python (about 15 s per million here, a quarter
        of the 1M-shopper benchmark's budget) while the arrays, not the objects, hold the numbers.
        """
        if not 0 <= row < self.n_rows:
            raise IndexError(f"row={row}: must be in [0, {self.n_rows - 1}]")
        if row not in self._shoppers:
            self._shoppers[row] = Shopper(self, row)
        return self._shoppers[row]

    def campaign_action(self, name: str, channel: str = "email", slot: str = "morning") -> int:
        """The action that sends the market's campaign ``name`` (see :mod:`sim.campaigns`)."""
        if name not in self.config.campaigns:
            raise ConfigError(f"campaign {name!r} is unknown; this market's campaigns: {', '.join(self.config.campaigns) or 'none'}")
        return int(encode(self.offers.names.index(name), CHANNEL_NAMES.index(channel), SLOTS.index(slot)))

    def latent(self) -> Traits:
        """The latent traits. For the oracle and for tests only: no other policy may call this."""
        return self.traits

    # ------------------------------------------------------------------ one day
    def step(self, actions: np.ndarray | None = None, priority: np.ndarray | None = None) -> None:
        """Simulate the current day under the proposed ``actions`` (shape (n_rows,), 0 = no contact) and advance.

        The guardrails decide which proposals run (:meth:`guardrail_pass`, with ``priority``
        (n_rows,) ordering sends under the budget, higher first); what ran and why a proposal did
        not are in :attr:`outcome` afterwards (``action``, ``refusal``), with everything else that
        happened to each shopper (Mesa's wrapper around ``step`` drops return values, so the
        method returns nothing).
        """
        checked = self.guardrail_pass(actions, priority)
        self.violations += checked.violations
        self._refused_today = checked.violations
        self._budget_refused_today = checked.budget_refused
        self.outcome.action[:] = checked.executed
        self.outcome.refusal[:] = checked.refusal
        self._today = self._draw_day(checked.executed)
        if self.per_agent:
            self.agents.shuffle_do("step")
        else:
            self.shopper_day(slice(0, self.n_rows))
        self._end_day()

    def guardrail_pass(self, actions: np.ndarray | None, priority: np.ndarray | None = None) -> GuardrailPass:
        """Today's guardrails on proposed ``actions`` (n_rows,): presence, consent, the cap and the budget (:func:`guard`)."""
        if actions is None:
            return GuardrailPass(np.zeros(self.n_rows, dtype=np.int64), np.zeros(self.n_rows, dtype=np.int8))
        a = np.asarray(actions)
        if a.shape != (self.n_rows,) or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"actions: expected an integer array of shape ({self.n_rows},), got {a.dtype} {a.shape}")
        a = a.astype(np.int64)
        out_of_range = (a < 0) | (a >= self.offers.n_actions)
        if out_of_range.any():
            bad = a[out_of_range][0]
            raise ValueError(f"actions: {bad} is not an action; allowed: integers in [0, {self.offers.n_actions - 1}]")
        if priority is not None and np.shape(priority) != (self.n_rows,):
            raise ValueError(f"priority: expected shape ({self.n_rows},), got {np.shape(priority)}")
        under_cap = self._contacts_7d() < self.guardrails.frequency_cap_7d
        return guard(a, self.state.consent, self.present, under_cap, self.guardrails.daily_budget, priority, self.offers.checked_as)

    def _draw_day(self, actions: np.ndarray) -> _Day:
        t, n, c = self.day, self.n_rows, N_CATEGORIES
        s = self.streams
        eps = s.rng("shock", t).standard_normal(c).astype(np.float32)
        self.shock = (self.params.shock_persistence * self.shock + self.params.shock_sd * eps).astype(np.float32)
        demand = self.calendar.season(t) + self.shock + WEEKDAY_EFFECT[self.calendar.weekday(t)]
        f32 = np.float32
        return _Day(
            day=t,
            day_of_year=self.calendar.day_of_year(t),
            demand=demand.astype(f32),
            holiday_ramp=self.calendar.holiday_ramp(t),
            actions=actions,
            u_browse=s.rng("browse", t).random((n, c), dtype=f32),
            u_buy=s.rng("buy", t).random((n, c), dtype=f32),
            u_message=s.rng("message", t).random((n, 2), dtype=f32),
            u_churn=s.rng("churn", t).random(n, dtype=f32),
            u_session=s.rng("session", t).random(n, dtype=f32),
            u_drift=s.rng("drift", t).random((n, c), dtype=f32) if t % 7 == 0 else None,
        )

    def shopper_day(self, rows: slice) -> None:
        """Live today for the shoppers in ``rows`` (a slice: all rows, or one agent's row).

        Reads only these rows and the day's shared context, writes only these rows: the order in
        which agents call it cannot change any number. Work on messages and purchases runs on
        the (few) rows concerned; per-row sums use ``bincount`` over purchases rather than
        reductions over a short axis, which numpy does slowly.
        """
        d, st, tr, pr, p, out, offers = self._today, self.state, self.traits, self.profile, self.params, self.outcome, self.offers
        t = d.day
        alive = (pr.join_day[rows] <= t) & ~st.churned[rows]
        n = alive.size

        # Interests drift once a week: a random walk (uniform steps of variance 7 drift_sd^2) pulled
        # toward the archetype mean; weekly steps halve the cost of the day and drift is slow anyway.
        z = st.interest[rows]
        if d.u_drift is not None:
            z += (7 * p.drift_pull) * (tr.interest_mean[rows] - z) + (p.drift_sd * SQRT12 * np.sqrt(7.0)) * (d.u_drift[rows] - 0.5)
        demand = self._holiday_demand(rows, d.demand, d.holiday_ramp)
        shared = response.interest_logit(z, st.buzz[rows], tr.social_susceptibility[rows], self.config.network.social_weight, demand)
        fatigue = st.fatigue[rows]
        fatigue *= self._decay["fatigue"]
        engagement = st.engagement[rows]
        engagement *= self._decay["engagement"]
        views = st.views[rows]
        views *= self._decay["views"]
        opens = st.opens[rows]
        opens *= self._decay["opens"]
        slot_opens = st.slot_opens[rows]
        slot_opens *= self._decay["opens"]
        history = (st.kind_sent[rows], st.kind_opened[rows], st.kind_redeemed[rows], st.category_opened[rows],
                   st.category_redeemed[rows], st.recent_purchases[rows])
        for h in history:
            h *= self._decay["response"]

        # The messages: deliver, open, tire, maybe unsubscribe (only rows that got one).
        a = d.actions[rows]
        m = np.flatnonzero(a > 0)
        offer, channel, slot = offers.action_offer[a[m]], offers.action_channel[a[m]], offers.action_slot[a[m]]
        category = response.message_category(offers.is_recommendation[offer], offers.category[offer], response.most_viewed(views[m]))
        rel = response.relevance(response.interest_share(shared[m]), category)
        repeated = (st.last_offer[rows][m] == offer) & (t - st.last_contact_day[rows][m] < 7)
        p_open = response.open_probability(
            CHANNEL_OPEN[channel], tr.channel_affinity[rows][m, channel], response.SLOT_MATCH[tr.active_slot[rows][m], slot],
            fatigue[m], engagement[m], p,
        )
        u_msg = d.u_message[rows][m]
        opened = u_msg[:, 0] < p_open
        fatigue[m] += response.message_fatigue(CHANNEL_FATIGUE[channel], rel, repeated, p)
        unsub = u_msg[:, 1] < response.unsubscribe_probability(CHANNEL_UNSUB[channel], fatigue[m], rel, p)
        st.consent[rows][m[unsub], channel[unsub]] = False
        engagement[m] += np.where(opened, p.engagement_gain * rel, 0.0).astype(np.float32)
        opens[m[opened], channel[opened]] += 1.0
        # The campaign-response history: what was delivered and opened, by kind, category and send slot.
        kind = offers.kind[offer]
        st.kind_sent[rows][m, kind] += 1.0
        st.kind_opened[rows][m[opened], kind[opened]] += 1.0
        about = opened & (category >= 0)
        st.category_opened[rows][m[about], category[about]] += 1.0
        slot_opens[m[opened], slot[opened]] += 1.0
        st.last_open_day[rows][m[opened]] = t
        # An opened offer becomes redeemable for its validity window (it replaces an older one).
        st.offer[rows][m[opened]] = offer[opened]
        st.offer_category[rows][m[opened]] = category[opened]
        st.offer_expiry[rows][m[opened]] = t + VALIDITY_DAYS - 1

        # Browsing (an opened message may draw the shopper to its categories today) and buying.
        p_browse = response.browse_probability(shared, p)
        clicked = m[opened]
        if p.open_browse > 0 and clicked.size:
            pull = response.open_pull(_covers(category[opened]), offers.appeal[offer[opened]], p)
            p_browse[clicked] = response.browse_probability(shared[clicked] + pull, p)
        viewed = alive[:, None] & (d.u_browse[rows] < p_browse)
        views += viewed
        personal = self._birthday_logit(rows, d.day_of_year)
        live = np.flatnonzero(alive & (st.offer[rows] >= 0) & (st.offer_expiry[rows] >= t))
        held = st.offer[rows][live].astype(np.int64)
        held_cat = st.offer_category[rows][live].astype(np.int64)
        covered_live = _covers(held_cat)
        uplift = response.offer_uplift(
            covered_live, offers.appeal[held], offers.depth[held], offers.fixed[held], CATEGORY_PRICE, tr.price_sensitivity[rows][live], p
        )
        p_buy = response.purchase_probability(shared, tr.buy_base[rows], viewed, personal, live, uplift, p)
        u_buy = d.u_buy[rows]
        i, c = np.nonzero(alive[:, None] & (u_buy < p_buy))
        value = response.basket_value(CATEGORY_PRICE[c], tr.basket_scale[rows][i], u_buy[i, c] / p_buy[i, c])
        held_row = st.offer[rows][i].astype(np.int64)
        cat_row = st.offer_category[rows][i]
        redeemed = (held_row >= 0) & (st.offer_expiry[rows][i] >= t) & ((cat_row < 0) | (cat_row == c))
        held_row = np.maximum(held_row, 0)
        discount = np.where(redeemed, value * offers.depth[held_row] + offers.fixed[held_row], 0.0)
        per_row = lambda w: np.bincount(i, weights=w, minlength=n).astype(np.float32)  # noqa: E731
        revenue, margin, discount = per_row(value), per_row(value * CATEGORY_MARGIN[c]), per_row(discount)
        n_bought = np.bincount(i, minlength=n)
        cost = np.zeros(n, dtype=np.float32)
        cost[m] = CHANNEL_COST[channel]

        # Customer record, churn, contact log.
        st.last_purchase_day[rows][n_bought > 0] = t
        st.purchases[rows][i, c] += 1.0
        st.spend[rows] += revenue
        st.recent_purchases[rows] += n_bought
        np.add.at(st.kind_redeemed[rows], (i[redeemed], offers.kind[held_row[redeemed]]), 1.0)
        st.category_redeemed[rows][i[redeemed], c[redeemed]] += 1.0
        st.last_redemption_day[rows][i[redeemed]] = t
        p_churn = response.churn_probability(tr.churn_hazard[rows], fatigue, t - st.last_purchase_day[rows], p)
        churn = alive & (d.u_churn[rows] < p_churn)
        st.churned[rows] |= churn
        sent = a > 0
        st.contacts[t % st.contacts.shape[0], rows] = sent
        st.last_offer[rows][m] = offer
        st.last_contact_day[rows][m] = t

        out.profit[rows] = daily_profit(margin, discount, cost)
        out.revenue[rows] = revenue
        out.margin[rows] = margin
        out.discount[rows] = discount
        out.channel_cost[rows] = cost
        out.sent[rows] = sent
        out.opened[rows] = False
        out.opened[rows][m[opened]] = True
        out.unsubscribed[rows] = False
        out.unsubscribed[rows][m[unsub]] = True
        out.churned[rows] = churn
        out.purchases[rows] = n_bought
        out.viewed[rows] = viewed.any(axis=1)
        sessions = st.sessions[rows]
        sessions *= self._decay["sessions"]
        visited = np.flatnonzero(out.viewed[rows] | out.opened[rows])
        sessions[visited, response.session_slot(tr.active_slot[rows][visited], d.u_session[rows][visited], p.session_regularity)] += 1.0
        out.redeemed[rows] = np.bincount(i[redeemed], minlength=n)
        out.bought[rows] = False
        out.bought[rows][i, c] = True

    def _birthday_logit(self, rows: slice, day_of_year: int) -> np.ndarray:
        """(n,) purchase-intent logits of the birthday week (three days either side)."""
        near = birthday_distance(self.profile.birthday[rows], day_of_year)
        return np.where((near <= 3) | (near >= 362), self.params.birthday_boost, 0.0).astype(np.float32)

    def expected_intent(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Today's shared interest logit (n, C), browse probability (n, C) and birthday logit (n,).

        What the oracle plans with, before the day is drawn: the demand shock is at its expected
        value :math:`E[s_t] = \\phi s_{t-1}`, everything else is the latent state the shopper
        brings into today; computed by the same functions as the day itself (:meth:`shopper_day`).
        """
        t, p, st, tr = self.day, self.params, self.state, self.traits
        rows = slice(0, self.n_rows)
        demand = self.calendar.season(t) + p.shock_persistence * self.shock + WEEKDAY_EFFECT[self.calendar.weekday(t)]
        demand = self._holiday_demand(rows, demand.astype(np.float32), self.calendar.holiday_ramp(t))
        shared = response.interest_logit(st.interest, st.buzz, tr.social_susceptibility, self.config.network.social_weight, demand)
        return shared, response.browse_probability(shared, p), self._birthday_logit(rows, self.calendar.day_of_year(t))

    def _holiday_demand(self, rows: slice, demand: np.ndarray, ramp: np.ndarray) -> np.ndarray:
        """(n, C) or (C,) day's demand plus holidays close by, for the shoppers in each holiday's audience.

        An explicit loop over the (few) holidays in their lead window rather than a matrix
        product, so that one row and all rows are summed in the same order.
        """
        out = demand
        for k in np.flatnonzero(ramp > 0):
            out = out + (self.params.holiday_boost * ramp[k] * self.audience[rows, k])[:, None] * HOLIDAY_CATEGORIES[k]
        return out

    @staticmethod
    def _audience(traits: Traits) -> np.ndarray:
        """(n, K) bool: who celebrates each holiday by buying."""
        who = {
            "all": np.ones(traits.gender.size, dtype=bool),
            "women": traits.gender == GENDER_FEMALE,
            "men": traits.gender == GENDER_MALE,
            "parents": traits.parent,
        }
        return np.stack([who[h.audience] for h in HOLIDAYS], axis=1)

    def _end_day(self) -> None:
        st, out = self.state, self.outcome
        st.buzz *= self._decay["buzz"]
        if self.config.network.social_weight > 0:
            st.buzz += exposure(self.influence, out.bought, np.flatnonzero(out.purchases))
        present = self.present
        self.totals = {
            "day": float(self.day),
            "present": float(present.sum()),
            "sends": float(out.sent.sum()),
            "opens": float(out.opened.sum()),
            "purchases": float(out.purchases.sum()),
            "redeemed": float(out.redeemed.sum()),
            "revenue": float(out.revenue.sum(dtype=np.float64)),
            "discount": float(out.discount.sum(dtype=np.float64)),
            "channel_cost": float(out.channel_cost.sum(dtype=np.float64)),
            "profit": float(out.profit.sum(dtype=np.float64)),
            "unsubscribes": float(out.unsubscribed.sum()),
            "churned": float(out.churned.sum()),
            "violations": float(self._refused_today),
            "budget_refused": float(self._budget_refused_today),
        }
        self.datacollector.collect(self)
        if self.config.refill_churned and out.churned.any():
            self._refill(np.flatnonzero(out.churned))
        self.day += 1

    def _refill(self, rows: np.ndarray) -> None:
        """Give churned rows to newcomers joining tomorrow (vectorised env semantics)."""
        rng = self.streams.rng("refill", self.day)
        join = np.full(rows.size, self.day + 1, dtype=np.int32)
        traits, profile = draw_population(self.config.population, rows.size, join, rng)
        replace_rows(self.traits, self.profile, rows, traits, profile)
        reset_rows(self.state, initial_state(traits, profile), rows)
        self.audience[rows] = self._audience(traits)


def _covers(category: np.ndarray) -> np.ndarray:
    """(n, C) bool: the categories each offer covers (category -1 covers every one)."""
    return (category[:, None] < 0) | (category[:, None] == np.arange(N_CATEGORIES))


DAILY_METRICS = (
    "day", "present", "sends", "opens", "purchases", "redeemed", "revenue", "discount",
    "channel_cost", "profit", "unsubscribes", "churned", "violations", "budget_refused",
)


def _total(name: str):
    """A DataCollector reporter reading one of the day's totals."""
    return lambda model: model.totals[name]

