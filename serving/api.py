"""The ``serve`` task: an exported policy behind HTTP, on the shop's own machine.

``OFFERLAB_API_KEY=<key> offerlab experiment=serve serve.artefact=<run>/artefact`` starts a
FastAPI app on uvicorn (127.0.0.1:8000 by default) with these endpoints:

- ``POST /decide``: one customer -> ``{customer_id, offer, channel, slot, action, action_name,
  probability, model_version}``; no contact gives ``offer``, ``channel`` and ``slot`` null;
- ``POST /decide/batch``: ``{"customers": [...], "date": ...}`` -> ``{model_version, decisions}``;
- ``GET /health``: liveness, open without a key;
- ``GET /metadata``: the artefact's manifest.

A customer is the CRM record of :mod:`serving.crm`, which also builds its observation and
guardrail mask with the simulator's own functions; the guardrails of the artefact's manifest
hold (consent and the frequency cap). The daily budget is a shop-wide total across requests and
is not enforced here.

Every decision is appended to a CSV decision log (:class:`serving.decision_log.DecisionLog`)
before its response leaves. Without the right ``X-API-Key`` header (when a key is configured) a
request gets 401 before its body is read and is not logged; bodies over ``max_body_bytes`` get 413.

The service makes no outside calls: FastAPI's OpenTelemetry hooks are switched off (they could
export to an endpoint named by environment variables), the interactive docs page (which loads
its scripts from a CDN into the browser) is not served, and the policies run locally (ONNX
Runtime or numpy). One uvicorn worker process: the decision log's lock is a thread lock.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

import numpy as np
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from threadpoolctl import threadpool_limits

from policies.base import DecisionContext
from serving.artefact import Artefact, load_artefact
from serving.crm import BATCH, ONE, Customer, observe, parse
from serving.decision_log import DecisionLog
from sim.catalogue import ACTION_CHANNEL, ACTION_NAMES, ACTION_OFFER, ACTION_SLOT, CHANNEL_NAMES, N_ACTIONS, OFFER_NAMES, SLOTS
from sim.config import ConfigError

API_KEY_ENV = "OFFERLAB_API_KEY"
API_KEY_HEADER = "X-API-Key"
OPEN_PATHS = frozenset({"/health"})
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False, "auto_configure": False}


# ---------------------------------------------------------------------------------------------
# Decisions

_ACTIONS = [
    {"offer": OFFER_NAMES[ACTION_OFFER[a]] if a else None, "channel": CHANNEL_NAMES[ACTION_CHANNEL[a]] if a else None,
     "slot": SLOTS[ACTION_SLOT[a]] if a else None, "action": a, "action_name": ACTION_NAMES[a]}
    for a in range(N_ACTIONS)
]


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
        request = parse(ONE, body)
        return decider.decide([request], request["date"])[0]

    def batch(body: bytes) -> dict:
        request = parse(BATCH, body)
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


class ServeSettings(Protocol):
    """The ``serve`` section of the run's config (``experiments.schema.ServeConfig``)."""

    artefact: str
    host: str
    port: int
    api_key: str
    max_body_bytes: int
    decision_log: str


def run_task(settings: ServeSettings, run_dir: Path) -> None:
    """The ``serve`` task: ``serve.artefact`` on ``serve.host:serve.port`` until interrupted."""
    if not settings.artefact:
        raise ConfigError("serve.artefact: required; the folder `offerlab experiment=export` wrote")
    key = settings.api_key or os.environ.get(API_KEY_ENV, "")
    if not key and not _loopback(settings.host):
        raise ConfigError(f"serve.host={settings.host}: serving beyond this machine needs an API key ({API_KEY_ENV} or serve.api_key)")
    log = Path(settings.decision_log) if settings.decision_log else run_dir / "decisions.csv"
    try:
        app = create_app(Path(settings.artefact), key or None, log, settings.max_body_bytes)
    except ValueError as e:  # an ArtefactError, or a decision log written with other columns
        raise ConfigError(f"serve: {e}") from None
    # A decision is a few small matrix products: a multi-threaded BLAS only spins its threads for
    # each and doubles the CPU per decision (measured: 65 -> 29 us per decision in a batch of 1,000).
    threadpool_limits(limits=1)
    print(f"serving {app.version} on http://{settings.host}:{settings.port} ({'API key required' if key else 'no API key'}); decisions -> {log}", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, workers=1, access_log=False, server_header=False, log_level="info")
