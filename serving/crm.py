"""The CRM record a request carries: its schema, and the observation and guardrail mask made from it.

A customer is what a CRM knows, in the units of :mod:`sim.features`::

    {"customer_id": "c-1042",                       optional; letters, digits and . _ : @ -
     "features": {"recency": 0.08, "frequency": 1.6, ...},   every CRM feature, see CRM_FEATURES
     "consents": {"email": true, "sms": false, "push": true, "social_ad": false,
                  "call_centre": false, "personal_data": true},
     "contacts": ["2025-02-27", "2025-02-20"]}       ISO dates of messages already delivered

and a request may carry ``"date"``, the decision date (default: today on the server's clock).

The observation and the mask are the simulator's own: the record becomes the arrays
:func:`sim.features.observation` takes (the contact dates a ring of contacts per day before the
decision date and the day of the last contact, as the market keeps them), and the mask is
:func:`sim.guardrails.channel_mask` of the consents and :func:`sim.features.contacts_last_7d`;
a customer a shop asks about is taken to be present. So personal features are zeroed without
``personal_data`` consent, and a channel without consent, or any channel once the customer has
``frequency_cap_7d`` messages in the 7 days before the decision date, is never allowed. A contact
dated on or after the decision date is refused (422): a decision is made before the day's sends
(see :mod:`sim.features`).

Requests are validated strictly (a missing, unknown or mistyped field gets 422 naming it;
numbers must be numbers, booleans booleans). A CRM feature outside its bounds
``[Feature.low, Feature.high]`` is refused too (422 naming the field and the range), not clipped:
a value the market can never produce is a shop's unit or export error, and a policy deciding on
its clipped copy would answer a different customer than the one asked about. The bounds are
pydantic's ``ge``/``le`` (checked in its compiled core, at no measurable cost on a batch), and
:func:`parse` words their errors as the feature's range. Request bodies are TypedDicts, not BaseModels:
pydantic validates them as strictly (every key checked, unknown keys refused, errors located),
without building an object per customer, which made a batch of 1,000 about three times slower
to validate.
"""

from __future__ import annotations

import datetime as dt
import functools
from operator import itemgetter
from typing import Annotated, Any

import numpy as np
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints, TypeAdapter, ValidationError
from typing_extensions import NotRequired, TypedDict

from sim.calendar import Calendar
from sim.catalogue import CHANNEL_NAMES
from sim.features import CRM_FEATURES, FEATURES, contacts_last_7d, observation
from sim.guardrails import ActionMask, channel_mask
from sim.state import CONTACT_MEMORY, NEVER

MAX_BATCH = 10_000
"""customers per /decide/batch request"""
MAX_CONTACTS = 1_000
"""contact dates per customer (only the last 30 days and the latest one matter)"""


def _iso_date(value: Any) -> Any:
    """Dates come as ISO strings; a number is refused rather than read as a Unix timestamp."""
    if isinstance(value, str | dt.date):
        return value
    raise ValueError("must be an ISO date string such as 2025-03-01")


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
_STRICT = ConfigDict(extra="forbid")

_BOUNDS = {f.name: (f.low, f.high) for f in FEATURES if f.name in CRM_FEATURES}
"""each CRM feature's allowed range, the bounds of sim.features"""
CrmFeatures = TypedDict("CrmFeatures", {f.name: Annotated[Number, Field(ge=f.low, le=f.high, description=f"{f.doc} [{f.low:g}, {f.high:g}]")]  # type: ignore[misc]
                                         for f in FEATURES if f.name in CRM_FEATURES})
"""a customer's CRM features in the units of sim.features (a value outside its bounds is refused)"""
CrmFeatures.__pydantic_config__ = _STRICT  # type: ignore[attr-defined]


class Consents(TypedDict):
    """What the customer agreed to: contact per channel, and personalised use of their data."""

    __pydantic_config__ = _STRICT  # type: ignore[misc]
    email: StrictBool
    sms: StrictBool
    push: StrictBool
    social_ad: StrictBool
    call_centre: StrictBool
    personal_data: StrictBool


assert tuple(Consents.__annotations__)[: len(CHANNEL_NAMES)] == CHANNEL_NAMES


class Customer(TypedDict):
    """One customer; ``customer_id`` is pseudonymous (it goes into the decision log), ``contacts`` the dates of the
    messages already delivered to them on any channel, before the decision date."""

    __pydantic_config__ = _STRICT  # type: ignore[misc]
    customer_id: NotRequired[Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9._:@-]+$", max_length=128)] | None]
    features: CrmFeatures  # type: ignore[valid-type]
    consents: Consents
    contacts: NotRequired[Annotated[list[IsoDate], Field(max_length=MAX_CONTACTS)]]


class _OneCustomer(Customer):
    __pydantic_config__ = _STRICT  # type: ignore[misc]
    date: NotRequired[IsoDate]
    """the decision date (default: today on the server's clock)"""


class _Batch(TypedDict):
    __pydantic_config__ = _STRICT  # type: ignore[misc]
    customers: Annotated[list[Customer], Field(min_length=1, max_length=MAX_BATCH)]
    date: NotRequired[IsoDate]


def _dated(request: dict) -> dict:
    """Default the decision date to today; a contact on or after it is an error naming the field."""
    date = request.setdefault("date", dt.date.today())
    batch = "customers" in request
    for i, customer in enumerate(request["customers"] if batch else [request]):
        for k, d in enumerate(customer.get("contacts", ())):
            if d >= date:
                where = "after" if d > date else "on"
                raise ValueError(f"{f'customers[{i}].' if batch else ''}contacts[{k}]={d}: {where} the decision date {date}; a decision "
                                 f"comes before the day's sends, so send the contacts delivered before it")
    return request


DecideRequest = Annotated[_OneCustomer, AfterValidator(_dated)]
BatchRequest = Annotated[_Batch, AfterValidator(_dated)]
ONE = TypeAdapter(DecideRequest)
BATCH = TypeAdapter(BatchRequest)


def parse(adapter: TypeAdapter, body: bytes) -> dict:
    """A request body validated straight from its JSON bytes; errors as FastAPI reports them (422, ``loc`` from ``body``).

    pydantic's own JSON parser skips the dict of Python objects that ``json.loads`` would build
    first: half the cost of a large batch. Inputs are not echoed in errors (they are customer data).
    A CRM feature out of bounds is reported with its whole range (pydantic names only the bound it crossed).
    """
    try:
        return adapter.validate_json(body)
    except ValidationError as e:
        errors = e.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError([_out_of_bounds({**err, "loc": ("body", *err["loc"])}) for err in errors]) from None


def _out_of_bounds(err: dict) -> dict:
    """A bound error on a CRM feature worded as the feature's range; any other error as it is."""
    loc = err["loc"]
    if err["type"] in ("greater_than_equal", "less_than_equal") and len(loc) >= 2 and loc[-2] == "features" and loc[-1] in _BOUNDS:
        low, high = _BOUNDS[loc[-1]]
        return {**err, "msg": f"Input should be within the bounds of {loc[-1]}, {low:g} to {high:g} (units of sim.features)"}
    return err


# ---------------------------------------------------------------------------------------------
# The observation and the mask

_crm = itemgetter(*CRM_FEATURES)
_consents = itemgetter(*CHANNEL_NAMES, "personal_data")


@functools.lru_cache(maxsize=64)
def _calendar(date: dt.date) -> Calendar:
    """The calendar whose day 0 is ``date``: the decision date is day 0, a contact k days earlier day -k."""
    return Calendar(date.isoformat())


def contact_history(history: list[list[dt.date]], date: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """The contact dates of n customers as the market keeps its contact log, with ``date`` as day 0.

    Returns the ring ``(CONTACT_MEMORY, n)`` of messages delivered per day over the
    ``CONTACT_MEMORY`` days before ``date`` (slot ``d % CONTACT_MEMORY`` for day d), and the day of
    the last message, however old (``NEVER`` if none): what :func:`sim.features.contact_features`
    and :func:`sim.features.contacts_last_7d` read.
    """
    n = len(history)
    owner = np.repeat(np.arange(n), [len(h) for h in history])
    day = np.array([d.toordinal() for h in history for d in h], dtype=np.int64) - date.toordinal()
    if (day >= 0).any():
        raise ValueError(f"contacts: {date + dt.timedelta(days=int(day.max()))} is not before the decision date {date}")
    ring = np.zeros((CONTACT_MEMORY, n), dtype=np.int32)
    recent = day >= -CONTACT_MEMORY
    np.add.at(ring, (day[recent] % CONTACT_MEMORY, owner[recent]), 1)
    last = np.full(n, NEVER, dtype=np.int64)
    np.maximum.at(last, owner, day)
    return ring, last


def observe(customers: list[Customer], date: dt.date, frequency_cap_7d: int) -> tuple[np.ndarray, ActionMask]:
    """(n, N_FEATURES) observations of ``customers`` decided on ``date``, and their guardrail mask, as the market makes them."""
    n = len(customers)
    values = np.array([_crm(c["features"]) for c in customers], dtype=np.float64).reshape(n, len(CRM_FEATURES))
    consent = np.array([_consents(c["consents"]) for c in customers], dtype=bool).reshape(n, len(CHANNEL_NAMES) + 1)
    channels, personal_data = consent[:, :-1], consent[:, -1]
    contacts, last_contact_day = contact_history([c.get("contacts", []) for c in customers], date)
    obs = observation(personal_data, [values], channels, contacts, last_contact_day, _calendar(date), 0)
    present = np.ones(n, dtype=bool)  # a customer the shop asks about; churn is not a CRM field
    return obs, ActionMask(channel_mask(channels, present, contacts_last_7d(contacts, 0), frequency_cap_7d))
