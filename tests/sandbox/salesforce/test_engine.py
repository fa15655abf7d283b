"""Pieces below the HTTP layer that are easier to pin down directly: ids, dates, seed."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime

import pytest
from fastapi import FastAPI

from sandbox.salesforce import (
    SEED_ACCOUNTS,
    SEED_IDS,
    SEED_OPPORTUNITIES,
    SEED_USERS,
    SalesforceApiError,
    SalesforceState,
    SandboxSalesforceSession,
    create_salesforce_router,
    to18,
)
from sandbox.salesforce.soql import date_range


def test_eighteen_character_ids_use_salesforces_checksum() -> None:
    assert to18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert SEED_IDS["alice"] == "005Hx0000000001IAA"


@pytest.mark.parametrize(
    ("literal", "n", "expected"),
    [
        ("TODAY", None, (date(2026, 11, 23), date(2026, 11, 24))),
        ("LAST_N_DAYS", 30, (date(2026, 10, 24), date(2026, 11, 24))),
        ("NEXT_N_DAYS", 7, (date(2026, 11, 24), date(2026, 12, 1))),
        ("THIS_WEEK", None, (date(2026, 11, 22), date(2026, 11, 29))),
        ("LAST_MONTH", None, (date(2026, 10, 1), date(2026, 11, 1))),
        ("THIS_QUARTER", None, (date(2026, 10, 1), date(2027, 1, 1))),
        ("NEXT_N_MONTHS", 2, (date(2026, 12, 1), date(2027, 2, 1))),
    ],
)
def test_date_literal_ranges(literal: str, n: int | None, expected: tuple[date, date]) -> None:
    assert date_range(literal, n, date(2026, 11, 23)) == expected


def test_a_fixed_clock_makes_the_org_reproducible() -> None:
    clock = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    state = SalesforceState(clock=lambda: clock)
    globex = state.get("Opportunity", SEED_IDS["opp_globex_enterprise"])
    assert globex is not None and globex["CloseDate"] == "2026-11-16"
    new_id = state.insert("Account", {"Name": "Vandelay Industries"})
    assert state.get("Account", new_id)["CreatedDate"] == "2026-11-23T10:00:00.000+0000"
    state.reset()
    assert state.insert("Account", {"Name": "Vandelay Industries"}) == new_id


def test_seed_identities() -> None:
    emails = {u["Email"]: (u["FirstName"], u["LastName"], u["Title"]) for u in SEED_USERS}
    assert emails["alice@acme-gtm.example"] == ("Alice", "Nguyen", "Account Executive")
    assert emails["gina@acme-gtm.example"][0] == "Gina"
    managers = {u["Username"]: u["ManagerId"] for u in SEED_USERS}
    assert managers["alice@acme-gtm.example"] == SEED_IDS["bob"]
    assert managers["carol@acme-gtm.example"] == SEED_IDS["frank"]
    hooli_domain = [a["Name"] for a in SEED_ACCOUNTS if a["Domain__c"] == "hooli.example"]
    assert hooli_domain == ["Hooli", "Hooli Europe"]
    wayne = next(o for o in SEED_OPPORTUNITIES if o["Id"] == SEED_IDS["opp_wayne_pilot"])
    assert wayne["Contract_Signed__c"] is False


def test_an_empty_org_still_has_its_api_user() -> None:
    state = SalesforceState(seed=False)
    assert state.query("SELECT COUNT() FROM User")["totalSize"] == 1
    assert state.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    with pytest.raises(SalesforceApiError) as refused:
        state.insert(
            "Opportunity", {"Name": "x", "StageName": "Closed Won", "CloseDate": "2026-01-01"}
        )
    assert refused.value.error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"


def test_plain_callables_work_as_validation_rules() -> None:
    state = SalesforceState()

    def no_tasks_for_umbrella(sobject: str, new: dict[str, object], old: object) -> str | None:
        if sobject == "Task" and new.get("AccountId") == SEED_IDS["umbrella"]:
            return "Umbrella is handled by the partner team."
        return None

    state.validation_rules.append(no_tasks_for_umbrella)
    with pytest.raises(SalesforceApiError) as refused:
        state.insert("Task", {"Subject": "QBR", "WhatId": SEED_IDS["umbrella"]})
    assert refused.value.body == [
        {
            "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "message": "Umbrella is handled by the partner team.",
            "fields": [],
        }
    ]
    assert state.insert("Task", {"Subject": "QBR", "WhatId": SEED_IDS["hooli"]})


def test_session_only_accepts_an_http_sandbox_url() -> None:
    with pytest.raises(ValueError):
        SandboxSalesforceSession("https://login.salesforce.com")


def test_the_router_keeps_the_host_apps_openapi_clean() -> None:
    app = FastAPI()
    app.include_router(create_salesforce_router(SalesforceState(seed=False)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = app.openapi()["paths"]
    assert "/services/data/{version}/query" in paths
