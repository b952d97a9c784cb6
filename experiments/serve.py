"""The ``serve`` task: an exported policy behind HTTP, on the shop's own machine.

``OFFERLAB_API_KEY=<key> offerlab experiment=serve serve.artefact=<run>/artefact`` starts a
FastAPI app on uvicorn (127.0.0.1:8000 by default) with these endpoints:

- ``POST /decide``: one customer -> ``{customer_id, offer, channel, slot, action, action_name,
  probability, model_version}``; no contact gives ``offer``, ``channel`` and ``slot`` null;
- ``POST /decide/batch``: ``{"customers": [...], "date": ...}`` -> ``{model_version, decisions}``;
- ``GET /health``: liveness, open without a key;
- ``GET /metadata``: the artefact's manifest.

A customer is what a CRM knows, in the units of :mod:`sim.features`::

    {"customer_id": "c-1042",                       optional; letters, digits and . _ : @ -
     "features": {"recency": 0.08, "frequency": 1.6, ...},   every CRM feature, see CRM_FEATURES
     "consents": {"email": true, "sms": false, "push": true, "social_ad": false,
                  "call_centre": false, "personal_data": true},
     "contacts": ["2025-02-27", "2025-02-20"]}       ISO dates of messages already delivered

and a request may carry ``"date"``, the decision date (default: today on the server's clock).
The server builds the observation the simulator would: CRM features clipped to their bounds,
personal ones zeroed without ``personal_data`` consent, consents, contacts in the last 7 and 30
days and days since the last contact from ``contacts``, weekday and holiday closeness from the
date. A message already delivered on the decision date counts as recent (the simulator, which
decides before it sends, never has one). The guardrails of the manifest hold: a channel without
consent, or any channel once the customer has ``frequency_cap_7d`` messages in the last 7 days,
is never returned. The daily budget is a shop-wide total across requests and is not enforced
here. Requests are validated strictly (a missing, unknown or mistyped field gets 422 naming it;
numbers must be numbers, booleans booleans).

Every decision is appended to a CSV decision log (:class:`DecisionLog`) before its response
leaves. Without the right ``X-API-Key`` header (when a key is configured) a request gets 401
before its body is read and is not logged; bodies over ``max_body_bytes`` get 413.

The service makes no outside calls: FastAPI's OpenTelemetry hooks are switched off (they could
export to an endpoint named by environment variables), the interactive docs page (which loads
its scripts from a CDN into the browser) is not served, and the policies run locally (ONNX
Runtime or numpy). One uvicorn worker process: the decision log's lock is a thread lock.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import ipaddress
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints, TypeAdapter, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send
from threadpoolctl import threadpool_limits
from typing_extensions import NotRequired, TypedDict

from experiments.export import Artefact, load_artefact
from policies.base import DecisionContext
from sim.calendar import Calendar
from sim.catalogue import ACTION_CHANNEL, ACTION_NAMES, ACTION_OFFER, ACTION_SLOT, CHANNEL_NAMES, N_ACTIONS, OFFER_NAMES, SLOTS
from sim.config import ConfigError
from sim.features import CALENDAR_START, FEATURE_HIGH, FEATURE_LOW, FEATURE_NAMES, FEATURES, N_FEATURES, PERSONAL, index
from sim.guardrails import ActionMask

if TYPE_CHECKING:  # the schema imports every policy (PPO's torch too); the server must not
    from experiments.schema import Config

API_KEY_ENV = "OFFERLAB_API_KEY"
API_KEY_HEADER = "X-API-Key"
OPEN_PATHS = frozenset({"/health"})
MAX_BATCH = 10_000
"""customers per /decide/batch request"""
MAX_CONTACTS = 1_000
"""contact dates per customer (only the last 30 days matter)"""
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False, "auto_configure": False}

COMPUTED = frozenset({"personal_data", *(f"consent_{h}" for h in CHANNEL_NAMES), "contacts_7d", "contacts_30d", "days_since_contact"})
"""features the server computes from consents and contact history (the calendar ones follow them)"""
CRM_FEATURES: tuple[str, ...] = tuple(n for n in FEATURE_NAMES[:CALENDAR_START] if n not in COMPUTED)
"""the features a request carries by name"""
_CRM_COLUMNS = [index(n) for n in CRM_FEATURES]
_CONSENT_COLUMNS = [index(f"consent_{h}") for h in CHANNEL_NAMES]


# ---------------------------------------------------------------------------------------------
# Requests and responses
#
# Request bodies are TypedDicts, not BaseModels: pydantic validates them as strictly (every key
# checked, unknown keys refused, errors located), without building an object per customer, which
# made a batch of 1,000 about three times slower to validate.


def _iso_date(value: Any) -> Any:
    """Dates come as ISO strings; a number is refused rather than read as a Unix timestamp."""
    if isinstance(value, str | dt.date):
        return value
    raise ValueError("must be an ISO date string such as 2025-03-01")


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
_STRICT = ConfigDict(extra="forbid")

CrmFeatures = TypedDict("CrmFeatures", {f.name: Annotated[Number, Field(description=f"{f.doc} [{f.low:g}, {f.high:g}]")]  # type: ignore[misc]
                                         for f in FEATURES if f.name in CRM_FEATURES})
"""a customer's CRM features in the units of sim.features (values outside the bounds are clipped)"""
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
    messages already delivered to them on any channel."""

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
    """Default the decision date to today; a contact after it is an error naming the field."""
    date = request.setdefault("date", dt.date.today())
    batch = "customers" in request
    for i, customer in enumerate(request["customers"] if batch else [request]):
        for k, d in enumerate(customer.get("contacts", ())):
            if d > date:
                raise ValueError(f"{f'customers[{i}].' if batch else ''}contacts[{k}]={d}: after the decision date {date}")
    return request


DecideRequest = Annotated[_OneCustomer, AfterValidator(_dated)]
BatchRequest = Annotated[_Batch, AfterValidator(_dated)]


_ONE = TypeAdapter(DecideRequest)
_BATCH = TypeAdapter(BatchRequest)


def parse(adapter: TypeAdapter, body: bytes) -> dict:
    """A request body validated straight from its JSON bytes; errors as FastAPI reports them (422, ``loc`` from ``body``).

    pydantic's own JSON parser skips the dict of Python objects that ``json.loads`` would build
    first: half the cost of a large batch. Inputs are not echoed in errors (they are customer data).
    """
    try:
        return adapter.validate_json(body)
    except ValidationError as e:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])} for err in e.errors(include_url=False, include_context=False,
                                                                                              include_input=False)]) from None


# ---------------------------------------------------------------------------------------------
# Observations, guardrails, decisions

_crm = itemgetter(*CRM_FEATURES)
_consents = itemgetter(*CHANNEL_NAMES, "personal_data")


@functools.lru_cache(maxsize=64)
def _calendar(date: dt.date) -> np.ndarray:
    """The weekday and holiday-closeness features of a date (the same for every customer of a request)."""
    calendar = Calendar(date.isoformat())
    weekday = np.zeros(7, dtype=np.float32)
    weekday[calendar.weekday(0)] = 1.0
    return np.concatenate([weekday, calendar.holiday_ramp(0)])


def observe(customers: list[Customer], date: dt.date, frequency_cap_7d: int) -> tuple[np.ndarray, ActionMask]:
    """(n, N_FEATURES) observations as :func:`sim.features.observe` builds them, and the guardrail mask."""
    n = len(customers)
    x = np.zeros((n, N_FEATURES), dtype=np.float32)
    x[:, _CRM_COLUMNS] = [_crm(c["features"]) for c in customers]
    consent = np.array([_consents(c["consents"]) for c in customers], dtype=bool).reshape(n, len(CHANNEL_NAMES) + 1)
    history = [c.get("contacts", ()) for c in customers]
    owner = np.repeat(np.arange(n), [len(h) for h in history])
    age = date.toordinal() - np.array([d.toordinal() for h in history for d in h], dtype=np.int64)
    contacts_7d = np.bincount(owner[age <= 7], minlength=n)
    since = np.full(n, 365)
    np.minimum.at(since, owner, age)
    x[:, index("personal_data")] = consent[:, -1]
    x[:, _CONSENT_COLUMNS] = consent[:, :-1]
    x[:, index("contacts_7d")] = contacts_7d
    x[:, index("contacts_30d")] = np.bincount(owner[age <= 30], minlength=n)
    x[:, index("days_since_contact")] = since / 365.0
    x[:, CALENDAR_START:] = _calendar(date)
    x[np.ix_(~consent[:, -1], PERSONAL)] = 0.0
    np.clip(x, FEATURE_LOW, FEATURE_HIGH, out=x)
    return x, ActionMask(consent[:, :-1] & (contacts_7d < frequency_cap_7d)[:, None])


_ACTIONS = [
    {"offer": OFFER_NAMES[ACTION_OFFER[a]] if a else None, "channel": CHANNEL_NAMES[ACTION_CHANNEL[a]] if a else None,
     "slot": SLOTS[ACTION_SLOT[a]] if a else None, "action": a, "action_name": ACTION_NAMES[a]}
    for a in range(N_ACTIONS)
]


class DecisionLog:
    """Served decisions, appended to a CSV with the simulator's decision-log columns, then when and by which model.

    Columns: ``policy, seed, day, shopper, <features>, action, propensity, reward, matured,
    timestamp, model_version``. ``day`` is the decision date, ``shopper`` the customer id;
    ``seed`` and ``reward`` are empty and ``matured`` is False: a served decision has no
    simulation seed, and its reward (the customer's profit over the 7-day attribution window) is
    the shop's to join on ``shopper`` and ``day`` once the window has closed. Features are
    written with 9 significant digits, so they read back as the exact float32 the policy saw.

    Rows are written whole, under a lock, and made durable (flush and fsync) before the response
    leaves, so a decision a client has received is in the log. Concurrent requests share fsyncs
    (group commit): a request whose rows an fsync already covered does not wait for another. A
    row cut short by a crash was never answered; it is dropped when the log is opened again.
    One process only: two processes appending to the same file could interleave their rows.
    """

    COLUMNS = ("policy", "seed", "day", "shopper", *FEATURE_NAMES, "action", "propensity", "reward", "matured", "timestamp", "model_version")
    _FEATURES = ",".join(["%.9g"] * N_FEATURES)

    def __init__(self, path: Path, policy: str, model_version: str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._policy, self._version = policy, model_version
        self._file = open(self.path, "a+b")  # noqa: SIM115 - open for the app's lifetime, closed by close()
        header = (",".join(self.COLUMNS) + "\n").encode()
        if self._file.seek(0, os.SEEK_END) == 0:
            self._file.write(header)
        else:
            self._file.seek(0)
            if self._file.readline() != header:
                self._file.close()
                raise ValueError(f"{self.path}: its header is not this server's decision-log columns; choose another serve.decision_log")
            self._drop_partial_row()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = self._synced = 0

    def _drop_partial_row(self) -> None:
        end = self._file.seek(0, os.SEEK_END)
        pos = end
        while pos > 0:
            start = max(0, pos - 65536)
            self._file.seek(start)
            cut = self._file.read(pos - start).rfind(b"\n")
            if cut >= 0:
                if start + cut + 1 < end:
                    self._file.truncate(start + cut + 1)
                return
            pos = start

    def append(self, day: dt.date, shoppers: list[str | None], obs: np.ndarray, actions: np.ndarray, propensity: np.ndarray) -> None:
        """Write one row per decision and return once they are on disk."""
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        head, tail, fmt = f"{self._policy},,{day.isoformat()},", f",,False,{stamp},{self._version}\n", self._FEATURES
        rows = [
            f"{head}{shopper or ''},{fmt % tuple(x)},{a},{p!r}{tail}"
            for shopper, x, a, p in zip(shoppers, obs.tolist(), actions.tolist(), propensity.tolist(), strict=True)
        ]
        data = "".join(rows).encode()
        with self._lock:
            self._file.write(data)
            self._file.flush()
            self._written += 1
            ticket = self._written
        with self._sync_lock:
            if self._synced < ticket:
                covered = self._written  # every write counted here was flushed before the count rose
                os.fsync(self._file.fileno())
                self._synced = covered

    def close(self) -> None:
        with self._lock:
            self._file.close()


class Decider:
    """Requests -> observations -> the artefact's policy -> checked, logged decisions."""

    def __init__(self, artefact: Artefact, log: DecisionLog):
        self.policy = artefact.policy
        self.version = artefact.model_version
        self.cap = int(artefact.manifest["guardrails"]["frequency_cap_7d"])
        self.log = log

    def decide(self, customers: list[Customer], date: dt.date) -> list[dict]:
        obs, mask = observe(customers, date, self.cap)
        context = DecisionContext(day=date.toordinal(), weekday=date.weekday(), rng=np.random.default_rng(), rows=np.arange(len(customers)))
        decision = self.policy.act(obs, mask, context)
        if not mask.allows(decision.actions).all():  # never answer or log a decision the guardrails forbid
            raise RuntimeError(f"policy {self.policy.name} proposed an action the guardrails forbid")
        ids = [c.get("customer_id") for c in customers]
        self.log.append(date, ids, obs, decision.actions, decision.propensity)
        return [
            {"customer_id": i, **_ACTIONS[a], "probability": p, "model_version": self.version}
            for i, a, p in zip(ids, decision.actions.tolist(), decision.propensity.tolist(), strict=True)
        ]


# ---------------------------------------------------------------------------------------------
# The app


class ApiKeyGate:
    """401 for a request without the right key, before its body is read; :data:`OPEN_PATHS` stay open."""

    def __init__(self, app: ASGIApp, key: str):
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            given = next((v for k, v in scope["headers"] if k == API_KEY_HEADER.lower().encode()), b"")
            if not hmac.compare_digest(given, self.key):
                response = JSONResponse({"detail": f"missing or wrong API key (send it in the {API_KEY_HEADER} header)"}, status_code=401,
                                        headers={"WWW-Authenticate": "ApiKey"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(artefact_dir: Path, api_key: str | None = None, log_path: Path = Path("decisions.csv"),
               max_body_bytes: int = 4 * 1024 * 1024) -> FastAPI:
    """The decision service for one artefact (verified here: a bad one raises :class:`ArtefactError`)."""
    artefact = load_artefact(Path(artefact_dir))
    log = DecisionLog(log_path, artefact.manifest["policy"]["name"], artefact.model_version)
    decider = Decider(artefact, log)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        log.close()

    app = FastAPI(title="offerlab decisions", version=artefact.model_version, openapi_url=None, docs_url=None, redoc_url=None,
                  lifespan=lifespan, max_body_size=max_body_bytes, telemetry=NO_TELEMETRY)
    if api_key:
        app.add_middleware(ApiKeyGate, key=api_key)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/metadata")
    def metadata() -> dict:
        return artefact.manifest

    # Bodies are read here and parsed and decided in the thread pool, so a large batch never holds
    # up the event loop (and other requests) while it is validated.
    def one(body: bytes) -> dict:
        request = parse(_ONE, body)
        return decider.decide([request], request["date"])[0]

    def batch(body: bytes) -> dict:
        request = parse(_BATCH, body)
        return {"model_version": artefact.model_version, "decisions": decider.decide(request["customers"], request["date"])}

    @app.post("/decide")
    async def decide(request: Request) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(one, await _json_body(request)))

    @app.post("/decide/batch")
    async def decide_batch(request: Request) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(batch, await _json_body(request)))

    return app


async def _json_body(request: Request) -> bytes:
    """The body of a JSON request; another content type gets 415 (a browser form cannot post decisions)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, "send the body as application/json")
    return await request.body()


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_task(cfg: Config, run_dir: Path) -> None:
    """The ``serve`` task: ``serve.artefact`` on ``serve.host:serve.port`` until interrupted."""
    s = cfg.serve
    if not s.artefact:
        raise ConfigError("serve.artefact: required; the folder `offerlab experiment=export` wrote")
    key = s.api_key or os.environ.get(API_KEY_ENV, "")
    if not key and not _loopback(s.host):
        raise ConfigError(f"serve.host={s.host}: serving beyond this machine needs an API key ({API_KEY_ENV} or serve.api_key)")
    log = Path(s.decision_log) if s.decision_log else run_dir / "decisions.csv"
    try:
        app = create_app(Path(s.artefact), key or None, log, s.max_body_bytes)
    except ValueError as e:  # an ArtefactError, or a decision log written with other columns
        raise ConfigError(f"serve: {e}") from None
    # A decision is a few small matrix products: a multi-threaded BLAS only spins its threads for
    # each and doubles the CPU per decision (measured: 65 -> 29 us per decision in a batch of 1,000).
    threadpool_limits(limits=1)
    print(f"serving {app.version} on http://{s.host}:{s.port} ({'API key required' if key else 'no API key'}); decisions -> {log}", flush=True)
    uvicorn.run(app, host=s.host, port=s.port, workers=1, access_log=False, server_header=False, log_level="info")
