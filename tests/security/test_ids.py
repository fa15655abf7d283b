"""A reported id never becomes a URL that carries Canary's credentials (issue 14, finding 1).

simple-salesforce joins a record id onto the instance URL, so a detection whose ``case_id`` was
``https://attacker.example/c`` used to send ``PATCH /c`` with the Salesforce session to the
attacker, and ``../Opportunity/…`` walked from one object to another. The attempts here are
made as an attacker with an intake token would make them: against a local listener that must
receive nothing, against the Salesforce sandbox whose recording must show only the configured
instance and the object the step means, at the gateway (a 422 naming the field), through
``canary detect``, and in every adapter. Property tests cover the id shapes themselves.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from activities.salesforce import SalesforceHandlers
from activities.services import Services
from canary import ids
from canary.adapters import PermanentError, SlackAdapter
from canary.adapters.salesforce_adapter import SalesforceAdapter
from canary.adapters.stripe_adapter import StripeAdapter
from canary.models import Detection, ReportedDetection
from canary.models.remediation import StepInput
from canary.models.sop import Step
from canary.settings import Settings
from sandbox.salesforce import SEED_IDS, SalesforceState, create_salesforce_router

TOKEN = "test-api-token-0123456789abcdef0123"
SESSION = "00DHx0000000001!ids-test-session"
REPORT = TypeAdapter(ReportedDetection)


# -- a listener that must hear nothing, and the Salesforce sandbox --------------------------------


@dataclass
class Listener:
    url: str
    heard: list[str] = field(default_factory=list)


@pytest.fixture()
def listener() -> Iterator[Listener]:
    """An HTTP server on 127.0.0.1 standing in for attacker.example: it records every request."""
    heard: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _record(self) -> None:
            heard.append(f"{self.command} {self.path} {self.headers.get('Authorization')}")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = do_PATCH = do_DELETE = _record

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Listener(f"http://127.0.0.1:{server.server_address[1]}", heard)
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SalesforceSandbox:
    state: SalesforceState
    url: str


@pytest.fixture(scope="module")
def salesforce_server() -> Iterator[SalesforceSandbox]:
    state = SalesforceState()
    app = FastAPI()
    app.include_router(create_salesforce_router(state))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "sandbox did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield SalesforceSandbox(state, f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture()
def salesforce(salesforce_server: SalesforceSandbox) -> SalesforceSandbox:
    salesforce_server.state.reset()
    return salesforce_server


def adapter_for(sandbox: SalesforceSandbox) -> SalesforceAdapter:
    """The adapter exactly as the worker builds it: instance URL and access token."""
    settings = Settings(salesforce_instance_url=sandbox.url, salesforce_access_token=SESSION)
    return SalesforceAdapter.from_settings(settings)


def case_id_of(sandbox: SalesforceSandbox) -> str:
    return next(iter(sandbox.state.records["Case"]))


def step_input(facts: dict[str, Any], action: str = "salesforce.fast_track_case") -> StepInput:
    detection = Detection(
        source="detector:irate-customers",
        subject={"kind": "app_account", "id": "app_globex"},
        message="We will cancel if this is not fixed today",
    )
    return StepInput(
        workflow_id="irate_customer:case:test",
        step=Step(id="fast-track", action=action, title="Fast-track the case"),
        attempt_key=f"test/{uuid.uuid4().hex}",
        detection=detection,
        facts=facts,
    )


# Ids an attacker puts where a case or an opportunity id belongs.
def hostile_ids(listener: Listener) -> list[str]:
    opportunity = SEED_IDS["opp_globex_enterprise"]
    return [
        f"{listener.url}/c",
        f"//127.0.0.1:{urlsplit(listener.url).port}/c",
        f"../Opportunity/{opportunity}",
        f"500Hx0000000001/../../Opportunity/{opportunity}",
        f"..%2FOpportunity%2F{opportunity}",
        "500Hx0000000001AAA?_HttpMethod=DELETE",
        "500Hx0000000001AAA#",
        " 500Hx0000000001AAA",
        "500Hx0000000001AAA\n",
    ]


# -- the id-to-URL attempt, through the step that fast-tracks a case -------------------------------


async def test_a_case_id_that_is_a_url_or_a_path_reaches_no_one(
    salesforce: SalesforceSandbox, listener: Listener
) -> None:
    services = Services(Settings(), salesforce=adapter_for(salesforce))
    handlers = SalesforceHandlers(services)
    opportunity = SEED_IDS["opp_globex_enterprise"]
    before = dict(salesforce.state.records["Opportunity"][opportunity])
    for hostile in hostile_ids(listener):
        salesforce.state.requests.clear()
        out = await handlers.fast_track_case(step_input({"case_id": hostile}))
        # Nothing reached the listener (before the fix: PATCH /c with the bearer session).
        assert listener.heard == [], hostile
        # Refused before any request: the step says why, naming the id's role, not its value.
        assert out.ok is False
        assert "not a Salesforce Case id" in out.text and hostile.strip() not in out.text
        assert "127.0.0.1" not in out.text
        assert salesforce.state.requests == [], hostile
    assert listener.heard == []
    assert salesforce.state.records["Opportunity"][opportunity] == before

    # The real case still goes through, to the configured instance and the Case object only.
    case = case_id_of(salesforce)
    out = await handlers.fast_track_case(step_input({"case_id": case}))
    assert out.ok is True, out.text
    paths = {r["path"] for r in salesforce.state.requests}
    assert paths and all(p.endswith(f"/sobjects/Case/{case}") for p in paths), paths
    assert listener.heard == []


async def test_an_opportunity_id_cannot_walk_to_another_object(
    salesforce: SalesforceSandbox, listener: Listener
) -> None:
    services = Services(Settings(), salesforce=adapter_for(salesforce))
    handlers = SalesforceHandlers(services)
    account = SEED_IDS["globex"]
    before = dict(salesforce.state.records["Account"][account])
    for hostile in [f"../Account/{account}", f"{listener.url}/o", account]:
        out = await handlers.mark_closed_won(
            step_input({"opportunity_id": hostile}, "salesforce.mark_closed_won")
        )
        assert listener.heard == [] and salesforce.state.requests == [], hostile
        assert out.ok is False and "not a Salesforce Opportunity id" in out.text
    # An Account id in the opportunity's place is refused by its key prefix, too.
    assert salesforce.state.requests == [] and listener.heard == []
    assert salesforce.state.records["Account"][account] == before


def test_every_salesforce_call_checks_its_ids(salesforce: SalesforceSandbox) -> None:
    adapter = adapter_for(salesforce)
    attempts = [
        lambda: adapter.get("Case", "https://attacker.example/c"),
        lambda: adapter.update("Case", "../Opportunity/006Hx0000000001AAA", {"Priority": "High"}),
        lambda: adapter.update("Account/../Opportunity", SEED_IDS["globex"], {}),
        lambda: adapter.get("Opportunity", SEED_IDS["globex"]),
        lambda: adapter.opportunity("006' OR Id != '"),
        lambda: adapter.account("https://attacker.example/a"),
        lambda: adapter.accounts_matching(None, "cus_x' OR Name != '"),
    ]
    for attempt in attempts:
        with pytest.raises(PermanentError) as refused:
            attempt()
        assert refused.value.code == "invalid_id"
        assert "attacker" not in str(refused.value) and "'" not in str(refused.value)
    assert salesforce.state.requests == []


def test_the_stripe_adapter_checks_its_ids(listener: Listener) -> None:
    # Pointed at the listener: any call that got through would be heard.
    stripe = StripeAdapter("sk_test_ids", listener.url)
    for attempt in [
        lambda: stripe.invoice("../customers/cus_123"),
        lambda: stripe.invoice(f"{listener.url}/in"),
        lambda: stripe.customer("in_123"),
        lambda: stripe.payment_intent("pi_1/../../v1/refunds"),
        lambda: stripe.pay_invoice("in_1?expand[]=customer", "key"),
        lambda: stripe.customer_invoices("cus_1&status=paid"),
        lambda: stripe.billing_portal_link("cus_../x", None, "key"),
    ]:
        with pytest.raises(PermanentError) as refused:
            attempt()
        assert refused.value.code == "invalid_id" and "127.0.0.1" not in str(refused.value)
    assert listener.heard == []


async def test_the_slack_adapter_checks_its_ids(listener: Listener) -> None:
    # Pointed at the listener: any call that got through would be heard. A channel given by
    # name would be looked up (conversations.list) before the call: a bad timestamp beside it
    # is refused before that lookup too.
    slack = SlackAdapter("xoxb-ids-test", listener.url + "/api/")
    try:
        for attempt in [
            lambda: slack.permalink("C0GTMALERTS", "1712345678.000100/../../evil"),
            lambda: slack.permalink("https://evil.example/", "1712345678.000100"),
            lambda: slack.permalink("#gtm-alerts", "1712345678.000100/../../evil"),
            lambda: slack.update("C0GTMALERTS", "1.2?x", "text"),
            lambda: slack.update("#gtm-alerts", "1.2?x", "text"),
            lambda: slack.post_ephemeral("C0GTMALERTS", "<!channel>", "text"),
            lambda: slack.post("#Alerts <!here>", "text"),
            lambda: slack.post("C0GTMALERTS", "text", thread_ts="../1"),
            lambda: slack.post("#gtm-alerts", "text", thread_ts="../1"),
            lambda: slack.find_by_metadata("#gtm-alerts", "key", thread_ts="../1"),
            lambda: slack.user_info("U0ALICE/../../admin"),
            lambda: slack.publish_home("<@U0ALICE>", {"type": "home", "blocks": []}),
        ]:
            with pytest.raises(PermanentError) as refused:
                await attempt()
            assert refused.value.code == "invalid_id"
    finally:
        await slack.close()
    assert listener.heard == []


# -- at the edge: the gateway and the CLI ---------------------------------------------------------


@pytest.fixture()
async def gateway(dev_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    from starter.gateway.app import create_app

    settings = Settings(task_queue=f"ids-{uuid.uuid4().hex[:6]}", api_token=TOKEN)
    app = create_app(settings, temporal=dev_env.client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


def report(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": "zapier",
        "type": "irate_customer",
        "subject": {"kind": "zap_run", "id": f"run_{uuid.uuid4().hex[:8]}"},
        "message": "Customer threatens to cancel",
        "facts": {},
    }
    body.update(changes)
    return body


EDGE_ATTEMPTS: list[tuple[dict[str, Any], str]] = [
    (report(facts={"case_id": "https://attacker.example/c"}), "facts.case_id"),
    (report(facts={"case_id": "../Opportunity/006Hx0000000001IAA"}), "facts.case_id"),
    (report(facts={"opportunity_id": "//attacker.example/o"}), "facts.opportunity_id"),
    (report(facts={"candidate_id": "001Hx0000000001/../x"}), "facts.candidate_id"),
    (report(facts={"invoice_id": "in_1/../../customers"}), "facts.invoice_id"),
    (report(facts={"customer_id": "../cus_1"}), "facts.customer_id"),
    (report(subject={"kind": "case", "id": "https://attacker.example/c"}), "subject.id"),
    (report(subject={"kind": "opportunity", "id": "../Account/001Hx0000000001"}), "subject.id"),
    (report(subject={"kind": "invoice", "id": "in_1?expand=x"}), "subject.id"),
    (report(account={"crm_id": "https://attacker.example/a"}), "account.crm_id"),
    (report(account={"stripe_customer_id": "cus_1/../../x"}), "account.stripe_customer_id"),
]


@pytest.mark.asyncio
async def test_the_gateway_refuses_ids_of_the_wrong_shape_naming_the_field(
    gateway: httpx.AsyncClient,
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for body, named in EDGE_ATTEMPTS:
        answer = await gateway.post("/api/detections", json=body, headers=headers)
        assert answer.status_code == 422, (body, answer.text)
        messages = " ".join(e["msg"] for e in answer.json()["detail"])
        assert named in messages, (named, messages)

    # Good ids and unknown extra fields are still accepted (the design contract).
    good = report(
        facts={"case_id": "500Hx0000000001AAA", "ticket": "../anything goes here"},
        account={"crm_id": "001Hx0000000001IAA", "stripe_customer_id": "cus_Q1w2e3r4"},
        zap_step="https://zapier.com/app/history",
    )
    answer = await gateway.post("/api/detections", json=good, headers=headers)
    assert answer.status_code == 202, answer.text


def test_canary_detect_refuses_ids_of_the_wrong_shape(tmp_path: Any) -> None:
    from starter.cli import app

    path = tmp_path / "detection.json"
    path.write_text(json.dumps(report(facts={"case_id": "https://attacker.example/c"})))
    result = CliRunner().invoke(app, ["detect", str(path)])
    assert result.exit_code != 0
    assert "facts.case_id" in result.output and "Salesforce Case id" in result.output


# -- the shapes themselves ------------------------------------------------------------------------

SALESFORCE = st.from_regex(r"\A[A-Za-z0-9]{15}([A-Za-z0-9]{3})?\Z")
INSTANCE = "https://acme.my.salesforce.com/services/data/v61.0/sobjects/Case/"


@given(st.text(max_size=40))
def test_no_accepted_id_leaves_its_path(value: str) -> None:
    """Whatever passes a check, joined onto a URL as simple-salesforce and Stripe join it,
    stays one path segment on the configured host."""
    checks = [
        ids.is_salesforce_id(value),
        *(ids.is_stripe_id(value, kind) for kind in ids.STRIPE_PREFIXES),
        *(ids.is_slack_id(value, kind) for kind in ids.SLACK_SHAPES),
    ]
    if any(checks):
        joined = urlsplit(urljoin(INSTANCE, value))
        assert joined.netloc == "acme.my.salesforce.com"
        assert joined.path == urlsplit(INSTANCE).path + value
        assert not joined.query and not joined.fragment
        assert value.isascii() and value.replace("_", "").isalnum()


@given(SALESFORCE)
def test_every_salesforce_shaped_id_passes(value: str) -> None:
    assert ids.is_salesforce_id(value)
    assert ids.is_salesforce_id(value, "Case") == value.startswith("500")


@given(SALESFORCE, st.sampled_from(list("/.:%?#@\\ \n\t&=+;")), st.integers(0, 18))
def test_one_foreign_character_spoils_a_salesforce_id(value: str, char: str, at: int) -> None:
    assert not ids.is_salesforce_id(value[:at] + char + value[at:])
    assert not ids.is_salesforce_id(value[:at] + char + value[at + 1 :])


@given(st.sampled_from(sorted(ids.STRIPE_PREFIXES)), st.from_regex(r"\A[A-Za-z0-9]{1,40}\Z"))
def test_stripe_ids_need_their_own_prefix(kind: str, body: str) -> None:
    for prefix in ids.STRIPE_PREFIXES[kind]:
        assert ids.is_stripe_id(prefix + body, kind)
        assert not ids.is_stripe_id(prefix + body + "/..", kind)
        assert not ids.is_stripe_id(prefix + "_" + body, kind)
    others = [p for k, ps in ids.STRIPE_PREFIXES.items() if k != kind for p in ps]
    for prefix in others:
        if not any(prefix.startswith(own) for own in ids.STRIPE_PREFIXES[kind]):
            assert not ids.is_stripe_id(prefix + body, kind)


@given(st.from_regex(r"\A[UW][A-Z0-9]{2,12}\Z"), st.text(min_size=1, max_size=5))
def test_slack_ids_are_capitals_and_digits(user: str, tail: str) -> None:
    assert ids.is_slack_id(user, "user") and not ids.is_slack_id(user, "channel")
    if not all(c.isascii() and (c.isupper() or c.isdigit()) for c in tail):
        assert not ids.is_slack_id(user + tail, "user")


def test_a_report_with_good_ids_keeps_its_extra_fields() -> None:
    detection = REPORT.validate_python(
        report(
            subject={"kind": "invoice", "id": "in_1PqRsTuVwXyZ"},
            facts={"case_id": "", "note": "../x"},
            whatever={"kept": True},
        )
    )
    assert detection.model_extra == {"whatever": {"kept": True}}
    with pytest.raises(ValidationError, match="facts.case_id"):
        REPORT.validate_python(report(facts={"case_id": 500123456789012}))


def test_history_still_reads_what_it_holds() -> None:
    """The checks are on reports, not on every Detection: a remediation opened before a check
    existed still replays (Temporal reads its detection back), and the adapters refuse the id."""
    old = report(facts={"case_id": "../Opportunity/006Hx0000000001IAA"})
    assert Detection.model_validate(old).facts["case_id"].startswith("../")
    with pytest.raises(ValidationError):
        REPORT.validate_python(old)
