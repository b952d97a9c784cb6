"""The decision service through a real uvicorn process on 127.0.0.1 and an HTTP client."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from hydra import compose, initialize_config_dir

from experiments import cli
from experiments.runner import run_policy
from experiments.schema import Config
from policies.decision_log import audit
from serving.api import API_KEY_ENV, ApiKeyGate, run_task
from serving.decision_log import DecisionLog
from serving.export import export_policy
from sim.catalogue import ACTION_NAMES, CHANNEL_NAMES
from sim.config import ConfigError, GuardrailConfig
from sim.features import CRM_FEATURES, FEATURES
from tests.conftest import small_config
from tests.serving.trained import trained

KEY = "s3cret-test-key"
LIMIT = 2 * 1024 * 1024
DATE = "2025-03-10"  # a Monday

# The server, with an audit hook that reports any connection or name lookup beyond this machine,
# and a note if deciding needed torch (the runtime must not).
LAUNCH = r"""
import ipaddress, sys

def outside(host):
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host not in ("localhost", "")

def watch(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple) and outside(str(args[1][0])) or (
            event == "socket.getaddrinfo" and args[0] is not None and outside(str(args[0]))):
        print(f"OUTSIDE CALL {event} {args[1:]}", file=sys.stderr, flush=True)

sys.addaudithook(watch)
import uvicorn
from serving.api import create_app
artefact, port, log, key, limit = sys.argv[1:]
app = create_app(artefact, key, log, int(limit))
if "torch" in sys.modules:
    print("TORCH LOADED", file=sys.stderr, flush=True)
uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning")
"""


@dataclass
class Server:
    url: str
    log: Path
    stderr: Path
    artefact: Path

    def client(self, key: str | None = KEY) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": key} if key else {}, timeout=60, trust_env=False)

    def rows(self) -> pd.DataFrame:
        return pd.read_csv(self.log, dtype={"shopper": str})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, errors: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {errors.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not answer within 90 s: {errors.read_text()}")


@pytest.fixture(scope="module")
def artefact(tmp_path_factory) -> Path:
    """LinUCB that learned that sending pays, so it sends whenever the guardrails let it."""
    folder = tmp_path_factory.mktemp("model")
    trained("linucb_additive", send_reward=3.0).save(folder / "linucb_additive.npz")
    export_policy(folder / "linucb_additive.npz", folder / "artefact", GuardrailConfig(frequency_cap_7d=3), parity_samples=500)
    return folder / "artefact"


@pytest.fixture(scope="module")
def server(artefact, tmp_path_factory):
    folder = tmp_path_factory.mktemp("server")
    port, errors = free_port(), folder / "stderr.txt"
    with open(errors, "w") as err:
        proc = subprocess.Popen([sys.executable, "-c", LAUNCH, str(artefact), str(port), str(folder / "decisions.csv"), KEY, str(LIMIT)],
                                stdout=err, stderr=err)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", proc, errors)
        yield Server(f"http://127.0.0.1:{port}", folder / "decisions.csv", errors, artefact)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def customer(cid: str = "c-1", consents: tuple[str, ...] = (*CHANNEL_NAMES, "personal_data"), contacts: tuple[str, ...] = (), **features) -> dict:
    values = {f.name: min(0.5, f.high) for f in FEATURES if f.name in CRM_FEATURES} | features
    return {"customer_id": cid, "features": values, "consents": {k: k in consents for k in (*CHANNEL_NAMES, "personal_data")},
            "contacts": list(contacts)}


def decide(server: Server, body: dict) -> dict:
    with server.client() as client:
        res = client.post("/decide", json=body)
    assert res.status_code == 200, res.text
    return res.json()


def test_health_is_open_and_everything_else_needs_the_key(server):
    before = len(server.rows())
    with server.client(key=None) as anonymous, server.client(key="wrong") as wrong:
        assert anonymous.get("/health").json() == {"status": "ok"}
        for client in (anonymous, wrong):
            assert client.post("/decide", json=customer() | {"date": DATE}).status_code == 401
            assert client.post("/decide/batch", json={"customers": [customer()]}).status_code == 401
            assert client.get("/metadata").status_code == 401
    assert len(server.rows()) == before  # refused requests are not decisions


def test_metadata_is_the_manifest(server):
    with server.client() as client:
        manifest = client.get("/metadata").json()
    assert manifest == json.loads((server.artefact / "manifest.json").read_text())
    assert manifest["guardrails"]["frequency_cap_7d"] == 3


def test_a_decision_names_offer_channel_slot_probability_and_version_and_is_logged(server):
    answer = decide(server, customer("c-first") | {"date": DATE})
    assert answer["action"] > 0, "the test policy sends whenever it may"
    assert answer["action_name"] == ACTION_NAMES[answer["action"]] == f"{answer['offer']} / {answer['channel']} / {answer['slot']}"
    assert answer["probability"] == 1.0 and answer["customer_id"] == "c-first"
    assert answer["model_version"].startswith("linucb_additive-")
    row = server.rows().iloc[-1]
    assert (row.shopper, row.action, row.propensity, row.day, row.model_version) == ("c-first", answer["action"], 1.0, DATE, answer["model_version"])
    assert row.policy == "linucb_additive" and not row.matured and np.isnan(row.reward)


def test_a_channel_without_consent_is_never_returned(server):
    nothing = decide(server, customer(consents=("personal_data",)))
    assert (nothing["action"], nothing["offer"], nothing["channel"], nothing["slot"]) == (0, None, None, None)
    assert nothing["action_name"] == "no contact"
    with server.client() as client:
        batch = client.post("/decide/batch", json={"customers": [customer(f"s{i}", consents=("sms",)) for i in range(50)]}).json()
    assert {d["channel"] for d in batch["decisions"]} == {"sms"}


def test_the_frequency_cap_counts_the_contact_history_given(server):
    recent = ("2025-03-09", "2025-03-06", "2025-03-03")  # 3 messages in the last 7 days: the cap
    older = ("2025-03-02", "2025-02-20", "2025-02-10")
    assert decide(server, customer(contacts=recent) | {"date": DATE})["action"] == 0
    assert decide(server, customer(contacts=recent[:2] + older) | {"date": DATE})["action"] > 0
    assert decide(server, customer(contacts=older) | {"date": DATE})["action"] > 0


def test_the_observation_is_built_as_the_simulator_builds_it(server):
    decide(server, customer("c-obs", consents=("email",), contacts=("2025-03-09", "2025-03-01", "2025-02-01"), recency=0.9) | {"date": DATE})
    row = server.rows().iloc[-1]
    assert row.shopper == "c-obs"
    personal = [f.name for f in FEATURES if f.personal]
    assert (row[personal] == 0).all() and row.personal_data == 0  # no personal-data consent: masked
    assert row.consent_email == 1 and row[[f"consent_{h}" for h in CHANNEL_NAMES[1:]]].sum() == 0
    assert (row.contacts_7d, row.contacts_30d) == (1, 2) and row.days_since_contact == pytest.approx(1 / 365, rel=1e-6)
    assert row.weekday_mon == 1 and row[[f"weekday_{d}" for d in ("tue", "wed", "thu", "fri", "sat", "sun")]].sum() == 0


BOUNDS = {f.name: (f.low, f.high) for f in FEATURES}
OUT_OF_BOUNDS = [(name, side) for name in ("frequency", "promo_share", "days_since_open", "redeemed_bogo") for side in ("below", "above")]


@pytest.mark.parametrize(("name", "side"), OUT_OF_BOUNDS, ids=[f"{n}-{s}" for n, s in OUT_OF_BOUNDS])
def test_a_crm_feature_outside_its_bounds_gets_422_naming_it_and_its_range(name, side, server):
    low, high = BOUNDS[name]
    value = low - 0.01 if side == "below" else high + 0.01
    before = len(server.rows())
    with server.client() as client:
        one = client.post("/decide", json=customer(**{name: value}) | {"date": DATE})
        batch = client.post("/decide/batch", json={"customers": [customer(), customer(**{name: value})], "date": DATE})
    for res, loc in ((one, ["body", "features", name]), (batch, ["body", "customers", 1, "features", name])):
        assert res.status_code == 422, res.text
        errors = [e for e in res.json()["detail"] if e["loc"] == loc]
        assert len(errors) == 1 and len(res.json()["detail"]) == 1, res.text
        assert errors[0]["type"] == ("greater_than_equal" if side == "below" else "less_than_equal")
        assert errors[0]["msg"] == f"Input should be within the bounds of {name}, {low:g} to {high:g} (units of sim.features)"
        assert str(value) not in res.text  # customer data is not echoed
    assert len(server.rows()) == before  # refused, not decided on a clipped copy


def test_a_crm_feature_on_its_bounds_is_decided_on_as_sent(server):
    edges = {name: BOUNDS[name][k] for k, name in enumerate(("frequency", "promo_share"))} | {"days_since_open": 1.0, "redeemed_bogo": 0.0}
    decide(server, customer("c-edge", **edges) | {"date": DATE})
    row = server.rows().iloc[-1]
    assert row.shopper == "c-edge" and {name: row[name] for name in edges} == edges


def _without(d: dict, *path: str) -> dict:
    d = json.loads(json.dumps(d))
    target = d
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return d


def _with(d: dict, value, *path) -> dict:
    d = json.loads(json.dumps(d))
    target = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return d


BASE = customer() | {"date": DATE}
BAD = {
    "missing feature": ("/decide", _without(BASE, "features", "tenure"), ["body", "features", "tenure"]),
    "number as text": ("/decide", _with(BASE, "0.5", "features", "recency"), ["body", "features", "recency"]),
    "not finite": ("/decide", _with(BASE, float("nan"), "features", "recency"), ["body", "features", "recency"]),
    "unknown feature": ("/decide", _with(BASE, 0.5, "features", "recencyy"), ["body", "features", "recencyy"]),
    "consent as a number": ("/decide", _with(BASE, 1, "consents", "email"), ["body", "consents", "email"]),
    "missing consent": ("/decide", _without(BASE, "consents", "sms"), ["body", "consents", "sms"]),
    "bad date": ("/decide", _with(BASE, "2025-13-01", "date"), ["body", "date"]),
    "date as a number": ("/decide", _with(BASE, 20250310, "date"), ["body", "date"]),
    "bad contact date": ("/decide", _with(BASE, ["last week"], "contacts"), ["body", "contacts", 0]),
    "unsafe customer id": ("/decide", _with(BASE, "a,b", "customer_id"), ["body", "customer_id"]),
    "unknown top-level field": ("/decide", _with(BASE, 1, "channel"), ["body", "channel"]),
    "empty batch": ("/decide/batch", {"customers": []}, ["body", "customers"]),
    "batch customer without consents": ("/decide/batch", {"customers": [customer(), _without(customer(), "consents")]}, ["body", "customers", 1, "consents"]),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_payload_gets_422_naming_the_field(case, server):
    path, body, loc = BAD[case]
    before = len(server.rows())
    with server.client() as client:
        res = client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})
    assert res.status_code == 422, res.text
    assert loc in [e["loc"] for e in res.json()["detail"]]
    assert len(server.rows()) == before


def test_the_docs_example_request_is_answered(server):
    """The serving page's curl example must stay a valid request when the CRM features change."""
    page = (Path(__file__).parents[2] / "docs" / "serving.md").read_text()
    body = re.search(r"localhost:8000/decide -d '(\{.*?\})'\n", page, re.S)
    assert body, "the serving page's /decide example is gone"
    answer = decide(server, json.loads(body.group(1)))
    assert answer["customer_id"] == "c-1042" and answer["action_name"] == ACTION_NAMES[answer["action"]]


def test_contacts_on_or_after_the_decision_date_invalid_json_and_other_content_types_are_refused(server):
    with server.client() as client:
        res = client.post("/decide", json=customer(contacts=("2025-03-11",)) | {"date": DATE})
        assert res.status_code == 422 and "contacts[0]=2025-03-11: after the decision date 2025-03-10" in res.text
        res = client.post("/decide/batch", json={"customers": [customer(), customer(contacts=("2025-03-01", DATE))], "date": DATE})
        assert res.status_code == 422 and f"customers[1].contacts[1]={DATE}: on the decision date {DATE}" in res.text
        res = client.post("/decide", content=b'{"customer_id": ', headers={"content-type": "application/json"})
        assert res.status_code == 422 and res.json()["detail"][0]["type"] == "json_invalid"
        assert client.post("/decide", content=json.dumps(BASE), headers={"content-type": "text/plain"}).status_code == 415


def test_a_body_over_the_limit_gets_413(server):
    before = len(server.rows())
    body = json.dumps({"customers": [customer(f"c{i}") for i in range(5000)]}).encode()
    assert len(body) > LIMIT
    with server.client() as client:
        assert client.post("/decide/batch", content=body, headers={"content-type": "application/json"}).status_code == 413
    assert len(server.rows()) == before


def test_a_batch_of_1000_answers_in_order(server):
    customers = [customer(f"b{i}", consents=("email", "push", "personal_data") if i % 2 else ("personal_data",)) for i in range(1000)]
    with server.client() as client:
        res = client.post("/decide/batch", json={"customers": customers, "date": DATE})
    assert res.status_code == 200
    decisions = res.json()["decisions"]
    assert [d["customer_id"] for d in decisions] == [f"b{i}" for i in range(1000)]
    assert all((d["action"] == 0) == (i % 2 == 0) for i, d in enumerate(decisions))
    assert {d["channel"] for d in decisions[1::2]} <= {"email", "push"}
    assert res.json()["model_version"] == decisions[0]["model_version"]


def test_concurrent_requests_leave_a_complete_log(server):
    before = server.rows()

    async def hammer() -> list[int]:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=server.url, headers={"X-API-Key": KEY}, timeout=60, limits=limits, trust_env=False) as client:
            singles = [client.post("/decide", json=customer(f"p{i}")) for i in range(200)]
            batches = [client.post("/decide/batch", json={"customers": [customer(f"q{k}-{i}") for i in range(50)]}) for k in range(4)]
            return [r.status_code for r in await asyncio.gather(*singles, *batches)]

    assert set(asyncio.run(hammer())) == {200}
    rows = server.rows()
    new = rows.iloc[len(before):]
    assert len(new) == 200 + 4 * 50 and new.shopper.is_unique
    assert set(new.shopper) == {f"p{i}" for i in range(200)} | {f"q{k}-{i}" for k in range(4) for i in range(50)}
    assert list(rows.columns) == list(DecisionLog.COLUMNS) and not rows[["policy", "action", "propensity"]].isna().any().any()


def test_the_log_has_the_simulators_decision_log_columns(server):
    simulated = run_policy("random", 0, small_config(size=100, horizon=2), GuardrailConfig(), log_shoppers=10).decisions
    assert list(DecisionLog.COLUMNS[: len(simulated.columns)]) == list(simulated.columns)
    for k in range(20):
        decide(server, customer(f"audit-{k}", contacts=("2025-02-27",) * (k % 4)) | {"date": DATE})
    served = server.rows()
    assert (served["action"] > 0).any()
    assert list(served.columns) == list(DecisionLog.COLUMNS)
    assert (served["proposed_action"] == served["action"]).all() and (served["proposed_propensity"] == served["propensity"]).all()
    assert served["refusal"].isna().all()  # an empty CSV field: nothing served was refused
    assert audit(served.assign(refusal=""), frequency_cap_7d=3) == []


def test_the_service_made_no_outside_calls_and_runs_without_torch(server):
    with server.client() as client:
        client.get("/metadata")
    assert "OUTSIDE CALL" not in server.stderr.read_text()
    assert "TORCH LOADED" not in server.stderr.read_text()


def test_the_serve_preset_starts_uvicorn_with_the_app_on_one_worker(artefact, tmp_path, monkeypatch):
    """The command's path in this process, down to ``uvicorn.run`` (the app itself is served for real above)."""
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(app=app, **options))
    monkeypatch.setenv(API_KEY_ENV, KEY)
    with initialize_config_dir(config_dir=cli.CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["experiment=serve", f"serve.artefact={artefact}", "serve.port=8123"])
    cli.run(cfg, tmp_path)
    assert (started["host"], started["port"], started["workers"]) == ("127.0.0.1", 8123, 1)
    assert [m.cls for m in started["app"].user_middleware] == [ApiKeyGate]  # the key came from the environment
    assert (tmp_path / "decisions.csv").read_text().startswith("policy,seed,day,shopper,")


def test_the_serve_task_refuses_before_listening(artefact, tmp_path, monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    settings = Config().serve
    with pytest.raises(ConfigError, match="serve.artefact: required"):
        run_task(settings, tmp_path)
    settings.artefact, settings.host = str(artefact), "0.0.0.0"
    with pytest.raises(ConfigError, match="needs an API key"):
        run_task(settings, tmp_path)
    settings.host, settings.artefact = "127.0.0.1", str(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="no such artefact folder"):
        run_task(settings, tmp_path)


def test_the_log_drops_a_row_cut_short_and_refuses_a_foreign_file(tmp_path):
    path = tmp_path / "log.csv"
    log = DecisionLog(path, "p", "p-1")
    obs = np.zeros((2, len(FEATURES)), np.float32)
    log.append(dt.date(2025, 3, 10), ["a", "b"], obs, np.array([0, 5]), np.array([1.0, 0.5]))
    log.close()
    with open(path, "ab") as f:
        f.write(b"p,,2025-03-10,c,0,0")  # a crash in the middle of a row
    DecisionLog(path, "p", "p-1").close()
    assert list(pd.read_csv(path).shopper) == ["a", "b"]
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="header is not this server's"):
        DecisionLog(tmp_path / "other.csv", "p", "p-1")
