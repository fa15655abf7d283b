"""Every SOQL statement Canary sends, run on the strict sandbox, and the task check that
used to filter on a long text area.

The statements come from where Canary sends them: the adapter's lookups, the activities
(the account team, the CRM steps) and every detector's catalog queries, each run through
the activity that binds its parameters. A source scan makes sure none is missed: every string
in Canary's code that starts a SOQL statement must begin one that ran here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from activities.detectors import DetectorActivities
from activities.salesforce import SalesforceHandlers
from activities.services import Services
from canary.adapters.salesforce_adapter import SalesforceAdapter
from canary.catalog import load_catalog
from canary.models import Detection, StepInput
from canary.models.detectors import AccountTeamInput, DetectorQueryInput
from canary.models.sop import Step
from canary.rules.catalog import load_detectors
from canary.settings import Settings
from sandbox import SandboxConfig, SandboxServer
from sandbox.salesforce import SEED_IDS
from sandbox.warehouse_seed import seed_warehouse

ROOT = Path(__file__).resolve().parents[3]
CANARY_CODE = ("activities", "canary", "starter")


class RecordingAdapter(SalesforceAdapter):
    """Canary's adapter, keeping each statement as Canary wrote it (before binding)."""

    def __init__(self, client: Salesforce) -> None:
        super().__init__(client)
        self.sent: list[str] = []

    def query(self, soql: str, **params: Any) -> list[dict[str, Any]]:
        self.sent.append(soql)
        return super().query(soql, **params)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig()) as running:
        yield running


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The product warehouse the unlinked-accounts sweep reads beside Salesforce."""
    url = f"sqlite:///{tmp_path_factory.mktemp('warehouse') / 'warehouse.db'}"
    seed_warehouse(url)
    return url


@pytest.fixture()
def services(server: SandboxServer, warehouse: str) -> Services:
    server.sandbox.salesforce.reset()
    settings = Settings(
        stripe_api_key="sk_test_canary_queries",
        stripe_api_base=server.url,
        salesforce_instance_url=server.url,
        salesforce_access_token="00DSANDBOX!canary-queries",
        warehouse_url=warehouse,
    )
    built = SalesforceAdapter.from_settings(settings)
    return Services(settings, salesforce=RecordingAdapter(built._sf))


def recorded(services: Services) -> list[str]:
    adapter = services.salesforce
    assert isinstance(adapter, RecordingAdapter)
    return adapter.sent


#: SQL for the product warehouse among Canary's strings, not SOQL (the settings' default).
WAREHOUSE_SQL = {Settings.model_fields["app_account_sql"].default}


def soql_starts_in_code() -> set[str]:
    """String constants in Canary's code that begin a SOQL statement."""
    found: set[str] = set()
    for package in CANARY_CODE:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and node.value.startswith("SELECT ")
                    and node.value not in WAREHOUSE_SQL
                ):
                    found.add(node.value)
    return found


def task_step() -> Step:
    """The onboarding SOP's task, as the default catalog writes it."""
    sop = load_catalog().get("onboarding_overdue")
    assert sop is not None
    return next(s for b in sop.branches for s in b.steps if s.action == "salesforce.create_task")


def task_request(attempt_key: str, what: str | None = SEED_IDS["initech"]) -> StepInput:
    return StepInput(
        workflow_id="onboarding_overdue:account:x",
        step=task_step(),
        attempt_key=attempt_key,
        detection=Detection(
            source="detector:onboarding-overdue",
            type="onboarding_overdue",
            subject={"kind": "account", "id": what or SEED_IDS["initech"]},
            account={"crm_id": what, "name": "Initech"},
        ),
        facts={
            "csm_id": SEED_IDS["carol"],
            "milestones_missing_text": "Admin training",
            "close_date": "2026-10-01",
            "days_since_close": 40,
        },
    )


async def test_every_soql_canary_sends_runs_on_the_strict_sandbox(services: Services) -> None:
    adapter = services.salesforce
    assert adapter.opportunity(SEED_IDS["opp_hooli_expansion"]) is not None
    assert adapter.account(SEED_IDS["globex"]) is not None
    assert len(adapter.accounts_matching("hooli.example", "cus_SbxGlobex000001")) == 3
    assert adapter.deal_context(None, "cus_SbxGlobex000001", "Segment__c")[0] is not None
    carrying = adapter.accounts_carrying("app_globex")
    assert [a["Id"] for a in carrying] == [SEED_IDS["globex"]]
    hooli = adapter.opportunity_contract(SEED_IDS["opp_hooli_expansion"], "Contract_Signed__c")
    assert hooli is not None and hooli["Contract_Signed__c"] is True

    detectors = DetectorActivities(services)
    teams = await detectors.account_team(
        AccountTeamInput(crm_ids=[SEED_IDS["initech"], SEED_IDS["globex"]])
    )
    assert teams.teams[SEED_IDS["initech"]].csm_email
    catalog_soql: list[str] = []
    for spec in load_detectors(sops=load_catalog()).detectors:
        queries = [
            getattr(spec, name) for name in type(spec).model_fields if name.endswith("_soql")
        ]
        if not queries:
            continue
        catalog_soql += queries
        await detectors.detector_query(DetectorQueryInput(detector=spec, as_of=datetime.now(UTC)))
    assert len(catalog_soql) >= 9

    crm = SalesforceHandlers(services)
    account = Detection(
        source="product",
        subject={"kind": "app_account", "id": "app_canary_queries"},
        account={"name": "Canary Queries Inc"},
    )
    created = await crm.create_account(
        StepInput(
            workflow_id="account_unlinked:app_account:app_canary_queries",
            step=Step(id="create-account", action="salesforce.create_account", title="Create"),
            attempt_key="account_unlinked:app_account:app_canary_queries/create-account/1",
            detection=account,
        )
    )
    assert created.ok
    assert (await crm.create_task(task_request("k/csm-task/1"))).ok
    assert (await crm.create_task(task_request("k/csm-task/1", what=None))).ok

    sent = recorded(services)
    assert set(catalog_soql) <= set(sent)
    for start in soql_starts_in_code():
        assert any(statement.startswith(start) for statement in sent), (
            f"Canary sends a SOQL statement this test does not run: {start!r}"
        )


async def test_a_retried_task_is_found_without_filtering_on_description(
    services: Services, server: SandboxServer
) -> None:
    """The sandbox refuses ``WHERE Description …`` as every org does; the retry still finds
    the task it made, and only that one (``…/1`` is not ``…/10``)."""
    crm = SalesforceHandlers(services)
    first = await crm.create_task(task_request("onboarding/csm-task/1"))
    assert first.ok and first.facts["crm_task_id"]
    again = await crm.create_task(task_request("onboarding/csm-task/1"))
    assert again.ok and "already created" in again.text
    assert first.facts["crm_task_id"] in again.text
    tenth = await crm.create_task(task_request("onboarding/csm-task/10"))
    assert tenth.facts["crm_task_id"] != first.facts["crm_task_id"]

    state = server.sandbox.salesforce
    subject = "Onboarding overdue: book Admin training with Initech"
    tasks = [t for t in state.all("Task") if t["Subject"] == subject]
    assert len(tasks) == 2
    assert {t["Description"].splitlines()[-1] for t in tasks} == {
        "canary:onboarding/csm-task/1",
        "canary:onboarding/csm-task/10",
    }
    assert {t["OwnerId"] for t in tasks} == {SEED_IDS["carol"]}
    queries = state.requests_matching(method="GET", path_prefix="/services/data/v59.0/query")
    assert queries and all(r["status"] == 200 for r in queries)
    assert not any("Description" in r["query"]["q"].split("WHERE")[1] for r in queries)


async def test_a_long_task_description_is_cut_so_the_marker_still_fits(
    services: Services, server: SandboxServer
) -> None:
    request = task_request("long/csm-task/1")
    long_step = request.step.model_copy(
        update={"params": {**request.step.params, "description": "x" * 40000}}
    )
    long_request = request.model_copy(update={"step": long_step})
    made = await SalesforceHandlers(services).create_task(long_request)
    assert made.ok
    task = server.sandbox.salesforce.get("Task", made.facts["crm_task_id"])
    assert task is not None and len(task["Description"]) == 32000
    assert task["Description"].endswith("\n\ncanary:long/csm-task/1")
    again = await SalesforceHandlers(services).create_task(long_request)
    assert "already created" in again.text


def payment_of(customer: str | None, crm_id: str | None = None) -> Detection:
    return Detection(
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": "in_deal_lookup"},
        account={"stripe_customer_id": customer, "crm_id": crm_id},
    )


async def test_the_deal_behind_a_payment(services: Services) -> None:
    """Globex's payment is its committed enterprise deal; Umbrella's open deal is its renewal
    (Best Case); Initech's only deal is won; a customer Salesforce does not know is answered,
    with no deal."""
    crm = SalesforceHandlers(services)
    globex = await crm.deal(payment_of("cus_SbxGlobex000001"))
    assert globex.facts["deal_checked"] is True
    assert globex.facts["customer_segment"] == "enterprise"
    assert globex.facts["opportunity_forecast_category"] == "Commit"
    assert globex.facts["deal_opportunity_id"] == SEED_IDS["opp_globex_enterprise"]
    assert globex.account is not None and globex.account.crm_id == SEED_IDS["globex"]

    umbrella = await crm.deal(payment_of(None, crm_id=SEED_IDS["umbrella"]))
    assert umbrella.facts["opportunity_forecast_category"] == "Best Case"  # its renewal

    initech = await crm.deal(payment_of("cus_SbxInitech00001"))  # its one deal is won
    assert initech.facts["customer_segment"] == "mid-market"
    assert "opportunity_forecast_category" not in initech.facts

    stranger = await crm.deal(payment_of("cus_SelfServe000001"))
    assert stranger.facts == {"deal_checked": True, "deal_account_found": False}


async def test_a_crafted_customer_id_never_reaches_the_query(services: Services) -> None:
    """A Stripe customer id shaped to widen the query is not sent: the lookup answers that no
    account carries it (Canary's own id check, before any SOQL)."""
    crm = SalesforceHandlers(services)
    crafted = "cus_x' OR Name != '"
    found = await crm.deal(payment_of(crafted))
    assert found.facts == {"deal_checked": True, "deal_account_found": False}
    assert not any("Stripe_Customer_Id__c" in q and "Segment" in q for q in recorded(services))


def test_the_segment_field_setting_takes_a_field_name_only() -> None:
    with pytest.raises(ValueError, match="salesforce_segment_field|CANARY_SALESFORCE_SEGMENT"):
        Settings(salesforce_segment_field="Name FROM User WHERE Id != null --")
    assert Settings(salesforce_segment_field="Tier__c").salesforce_segment_field == "Tier__c"
