"""sObject CRUD, upsert, errors, validation rules and the request log, via simple-salesforce."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from simple_salesforce import (
    Salesforce,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from sandbox.salesforce import SEED_IDS

from .conftest import Sandbox


def error_of(exc: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    """Salesforce error bodies are a list; simple-salesforce keeps it as ``content``."""
    content = exc.value.content
    assert isinstance(content, list), content
    return dict(content[0])


def test_direct_session_reaches_the_sandbox_over_the_rewriting_session(
    sandbox: Sandbox, sf: Salesforce
) -> None:
    assert sf.sf_instance == sandbox.base_url.removeprefix("http://")
    assert sf.base_url.startswith("https://127.0.0.1:")
    accounts = sf.Account
    account = accounts.get(SEED_IDS["globex"])
    assert account["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v59.0/sobjects/Account/{SEED_IDS['globex']}",
    }
    assert account["Name"] == "Globex Corporation"
    assert account["OwnerId"] == SEED_IDS["alice"]
    assert account["IsDeleted"] is False
    assert account["CreatedDate"].endswith(".000+0000")
    # The org's own API usage header is parsed by simple-salesforce.
    assert accounts.api_usage["api-usage"].total == 15000


def test_create_get_update_delete(sandbox: Sandbox, sf: Salesforce) -> None:
    created = sf.Opportunity.create(
        {
            "Name": "Initech — Add-on seats",
            "AccountId": SEED_IDS["initech"],
            "StageName": "Prospecting",
            "CloseDate": "2030-01-31",
            "Amount": 1200,
        }
    )
    assert created["success"] is True and created["errors"] == []
    new_id = created["id"]
    assert new_id.startswith("006") and len(new_id) == 18

    record = sf.Opportunity.get(new_id)
    assert record["Amount"] == 1200.0
    assert record["Probability"] == 10.0
    assert record["IsClosed"] is False
    assert record["OwnerId"] == SEED_IDS["integration"]  # the API user owns what it creates
    assert record["Contract_Signed__c"] is False

    assert sf.Opportunity.update(new_id, {"StageName": "Closed Lost"}) == 204
    closed = sf.Opportunity.get(new_id, params={"fields": "StageName,IsClosed,IsWon"})
    assert {k: v for k, v in closed.items() if k != "attributes"} == {
        "StageName": "Closed Lost",
        "IsClosed": True,
        "IsWon": False,
    }

    assert sf.Opportunity.delete(new_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as gone:
        sf.Opportunity.get(new_id)
    assert error_of(gone)["errorCode"] == "ENTITY_IS_DELETED"
    deleted = sf.query_all(
        f"SELECT Id, IsDeleted FROM Opportunity WHERE Id = '{new_id}'", include_deleted=True
    )
    assert deleted["records"][0]["IsDeleted"] is True
    assert sf.query(f"SELECT Id FROM Opportunity WHERE Id = '{new_id}'")["totalSize"] == 0


def test_fifteen_character_ids_are_accepted(sf: Salesforce) -> None:
    account = sf.Account.get(SEED_IDS["hooli"][:15])
    assert account["Id"] == SEED_IDS["hooli"]


def test_upsert_and_get_by_external_id(sf: Salesforce) -> None:
    assert sf.Account.upsert("App_Account_Id__c/app_acme", {"Name": "Acme Rockets"}) == 201
    account = sf.Account.get_by_custom_id("App_Account_Id__c", "app_acme")
    assert account["Name"] == "Acme Rockets"
    # API v46.0+: an upsert that updates answers 200 with a body (created: false).
    response = sf.Account.upsert(
        "App_Account_Id__c/app_acme", {"Website": "https://acme.example"}, raw_response=True
    )
    assert response.status_code == 200
    assert response.json() == {
        "id": account["Id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    assert sf.Account.get(account["Id"])["Website"] == "https://acme.example"


def test_upsert_refusals(sandbox: Sandbox, sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as not_external:
        sf.Account.upsert("Domain__c/hooli.example", {"Name": "x"})
    assert error_of(not_external)["message"] == (
        "Provided external ID field does not exist or is not accessible: Domain__c"
    )
    for name in ("Dup One", "Dup Two"):
        sandbox.state.insert("Account", {"Name": name, "Stripe_Customer_Id__c": "cus_dup"})
    with pytest.raises(SalesforceMoreThanOneRecord) as several:
        sf.Account.upsert("Stripe_Customer_Id__c/cus_dup", {"Name": "x"})
    assert several.value.status == 300
    assert len(several.value.content) == 2


def test_unknown_record_type_and_field(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Account.get("001Hx0000000999AAA")
    assert error_of(missing) == {
        "errorCode": "NOT_FOUND",
        "message": "The requested resource does not exist",
    }
    with pytest.raises(SalesforceResourceNotFound) as no_type:
        sf.Widget__c.create({"Name": "x"})
    assert error_of(no_type)["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceMalformedRequest) as bad_field:
        sf.Opportunity.update(SEED_IDS["opp_hooli_expansion"], {"Foo__c": 1})
    assert error_of(bad_field) == {
        "errorCode": "INVALID_FIELD",
        "message": "No such column 'Foo__c' on sobject of type Opportunity",
        "fields": [],
    }


def test_declared_custom_fields_are_writable(sf: Salesforce) -> None:
    sf.Account.update(
        SEED_IDS["stark"],
        {
            "App_Account_Id__c": "app_stark",
            "Stripe_Customer_Id__c": "cus_stark",
            "Onboarding_Complete__c": True,
            "Renewal_Date__c": "2031-02-01",
        },
    )
    sf.Opportunity.update(SEED_IDS["opp_stark_new_logo"], {"Stripe_Invoice_Id__c": "in_123"})
    stark = sf.Account.get(SEED_IDS["stark"])
    assert (stark["App_Account_Id__c"], stark["Renewal_Date__c"]) == ("app_stark", "2031-02-01")


def test_required_read_only_and_typed_fields(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sf.Opportunity.create({"Name": "No stage"})
    assert error_of(missing) == {
        "errorCode": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [StageName, CloseDate]",
        "fields": ["StageName", "CloseDate"],
    }
    with pytest.raises(SalesforceMalformedRequest) as no_subject:
        sf.Task.create({"Status": "Not Started"})
    assert error_of(no_subject)["fields"] == ["Subject"]
    with pytest.raises(SalesforceMalformedRequest) as read_only:
        sf.Opportunity.update(SEED_IDS["opp_wayne_pilot"], {"IsWon": True})
    assert error_of(read_only)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as bad_stage:
        sf.Opportunity.update(SEED_IDS["opp_wayne_pilot"], {"StageName": "Won-ish"})
    assert error_of(bad_stage)["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    with pytest.raises(SalesforceMalformedRequest) as bad_amount:
        sf.Opportunity.update(SEED_IDS["opp_wayne_pilot"], {"Amount": "lots"})
    assert error_of(bad_amount)["errorCode"] == "JSON_PARSER_ERROR"
    with pytest.raises(SalesforceMalformedRequest) as bad_ref:
        sf.Task.create({"Subject": "x", "WhatId": "001Hx0000000999AAA"})
    assert error_of(bad_ref)["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"


def test_task_relates_to_an_opportunity_and_its_account(sf: Salesforce) -> None:
    created = sf.Task.create(
        {
            "Subject": "Call Hooli about the expansion invoice",
            "WhatId": SEED_IDS["opp_hooli_expansion"],
            "Description": "canary:stage_mismatch-opportunity-006:step-1",
            "Priority": "High",
        }
    )
    task = sf.Task.get(created["id"])
    assert task["Status"] == "Not Started"
    assert task["AccountId"] == SEED_IDS["hooli"]
    assert task["IsClosed"] is False


def test_closed_won_validation_rule_refuses_then_can_be_disabled(
    sandbox: Sandbox, sf: Salesforce
) -> None:
    wayne = SEED_IDS["opp_wayne_pilot"]
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Opportunity.update(wayne, {"StageName": "Closed Won"})
    assert refused.value.status == 400
    assert refused.value.content == [
        {
            "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "message": "Closed Won requires a signed contract (Contract_Signed__c).",
            "fields": [],
        }
    ]
    assert sf.Opportunity.get(wayne)["StageName"] == "Negotiation/Review"

    # A signed contract in the same save satisfies the rule, as in Salesforce.
    hooli = SEED_IDS["opp_hooli_expansion"]
    sf.Opportunity.update(hooli, {"StageName": "Closed Won"})
    won = sf.Opportunity.get(hooli)
    assert (won["IsWon"], won["IsClosed"], won["Probability"]) == (True, True, 100.0)
    assert won["ForecastCategoryName"] == "Closed"

    toggled = requests.post(
        f"{sandbox.base_url}/_sandbox/salesforce/validation-rules",
        json={"name": "closed_won_requires_contract", "enabled": False},
        timeout=5,
    )
    assert toggled.status_code == 200 and toggled.json()["enabled"] is False
    sf.Opportunity.update(wayne, {"StageName": "Closed Won"})
    assert sf.Opportunity.get(wayne)["IsWon"] is True


def test_data_rules_can_be_added_through_the_control_endpoint(
    sandbox: Sandbox, sf: Salesforce
) -> None:
    added = requests.post(
        f"{sandbox.base_url}/_sandbox/salesforce/validation-rules",
        json={
            "name": "amount_required_when_committed",
            "sobject": "Opportunity",
            "condition": "ForecastCategoryName = 'Commit' AND (Amount = null OR Amount <= 0)",
            "message": "Committed deals need an amount.",
            "error_field": "Amount",
        },
        timeout=5,
    )
    assert added.status_code == 201
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Opportunity.update(SEED_IDS["opp_globex_enterprise"], {"Amount": None})
    assert refused.value.content == [
        {
            "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "message": "Committed deals need an amount.",
            "fields": ["Amount"],
        }
    ]
    names = [
        rule["name"]
        for rule in requests.get(
            f"{sandbox.base_url}/_sandbox/salesforce/validation-rules", timeout=5
        ).json()
    ]
    assert names == ["closed_won_requires_contract", "amount_required_when_committed"]


def test_missing_or_revoked_session_is_refused(sandbox: Sandbox) -> None:
    anonymous = requests.get(
        f"{sandbox.base_url}/services/data/v59.0/sobjects/Account/{SEED_IDS['globex']}",
        timeout=5,
    )
    assert anonymous.status_code == 401
    assert anonymous.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    sandbox.state.revoked_tokens.add("00DHx0000000001!revoked")
    with pytest.raises(SalesforceExpiredSession):
        sandbox.client("00DHx0000000001!revoked").query("SELECT Id FROM Account")


def test_discovery_endpoints(sandbox: Sandbox, sf: Salesforce) -> None:
    versions = requests.get(f"{sandbox.base_url}/services/data/", timeout=5).json()
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
    names = {s["name"] for s in sf.describe()["sobjects"]}
    assert {"Account", "Contact", "Opportunity", "User", "Task", "Case", "CaseComment"} <= names
    fields = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    assert fields["Contract_Signed__c"]["custom"] is True
    assert fields["IsWon"]["updateable"] is False
    assert fields["StageName"]["type"] == "picklist"
    assert sf.Opportunity.metadata()["objectDescribe"]["keyPrefix"] == "006"
    assert sf.limits()["DailyApiRequests"]["Max"] == 15000
    assert sf.is_sandbox() is True
    other_version = sandbox.client()
    other_version.base_url = other_version.base_url.replace("v59.0", "v61.0")
    assert other_version.query("SELECT COUNT() FROM User")["totalSize"] == 8


def test_requests_are_recorded_with_the_authorization_masked(
    sandbox: Sandbox, sf: Salesforce
) -> None:
    sf.Account.update(SEED_IDS["stark"], {"App_Account_Id__c": "app_stark"})
    sf.query("SELECT Id FROM Account WHERE App_Account_Id__c = 'app_stark'")
    log = sandbox.state.requests
    assert [(r["method"], r["path"]) for r in log] == [
        ("PATCH", f"/services/data/v59.0/sobjects/Account/{SEED_IDS['stark']}"),
        ("GET", "/services/data/v59.0/query/"),
    ]
    patch, query = log
    assert patch["seq"] == 1 and patch["service"] == "salesforce"
    assert patch["body"] == {"App_Account_Id__c": "app_stark"}
    assert patch["status"] == 204 and patch["response"] is None
    assert patch["headers"]["authorization"] == "Bearer 00DHx***"
    assert query["query"] == {"q": "SELECT Id FROM Account WHERE App_Account_Id__c = 'app_stark'"}
    assert query["response"]["totalSize"] == 1
    assert query["at"].endswith("+00:00")

    listed = requests.get(
        f"{sandbox.base_url}/_sandbox/salesforce/requests",
        params={"method": "PATCH", "path_prefix": "/services/data/v59.0/sobjects/Account"},
        timeout=5,
    ).json()
    assert [r["seq"] for r in listed] == [1]
    records = requests.get(
        f"{sandbox.base_url}/_sandbox/salesforce/records/Account", timeout=5
    ).json()
    assert len(records) == 7
    assert requests.post(f"{sandbox.base_url}/_sandbox/salesforce/reset", timeout=5).ok
    assert sandbox.state.requests == []
    assert sandbox.state.get("Account", SEED_IDS["stark"])["App_Account_Id__c"] is None
