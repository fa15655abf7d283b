"""Describe as a real org answers it, and every refusal it implies, driven by the describe.

The keys are those of Salesforce's DescribeGlobalSObjectResult, DescribeSObjectResult and
DescribeFieldResult (REST API and SOAP API Developer Guides). The refusals are read off the
sandbox's own describe, field by field, so a field the schema gains is checked too: what the
describe says may not be filtered, sorted, grouped, written or made longer is refused with
Salesforce's error, and what it allows is accepted.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from sandbox.salesforce import SEED_IDS

from .conftest import Sandbox

GLOBAL_KEYS: dict[str, type | tuple[type, ...]] = {
    "activateable": bool,
    "createable": bool,
    "custom": bool,
    "customSetting": bool,
    "deletable": bool,
    "deprecatedAndHidden": bool,
    "feedEnabled": bool,
    "keyPrefix": str,
    "label": str,
    "labelPlural": str,
    "layoutable": bool,
    "mergeable": bool,
    "mruEnabled": bool,
    "name": str,
    "queryable": bool,
    "replicateable": bool,
    "retrieveable": bool,
    "searchable": bool,
    "triggerable": bool,
    "undeletable": bool,
    "updateable": bool,
    "urls": dict,
}
OBJECT_KEYS: dict[str, type | tuple[type, ...]] = {
    **GLOBAL_KEYS,
    "childRelationships": list,
    "compactLayoutable": bool,
    "fields": list,
    "namedLayoutInfos": list,
    "recordTypeInfos": list,
    "searchLayoutable": bool,
    "supportedScopes": list,
}
NULLABLE = (str, type(None))
FIELD_KEYS: dict[str, type | tuple[type, ...]] = {
    "aggregatable": bool,
    "autoNumber": bool,
    "byteLength": int,
    "calculated": bool,
    "calculatedFormula": NULLABLE,
    "cascadeDelete": bool,
    "caseSensitive": bool,
    "controllerName": NULLABLE,
    "createable": bool,
    "custom": bool,
    "defaultValue": (str, bool, int, float, type(None)),
    "defaultValueFormula": NULLABLE,
    "defaultedOnCreate": bool,
    "dependentPicklist": bool,
    "deprecatedAndHidden": bool,
    "digits": int,
    "externalId": bool,
    "filterable": bool,
    "groupable": bool,
    "htmlFormatted": bool,
    "idLookup": bool,
    "inlineHelpText": NULLABLE,
    "label": str,
    "length": int,
    "name": str,
    "nameField": bool,
    "namePointing": bool,
    "nillable": bool,
    "permissionable": bool,
    "picklistValues": list,
    "precision": int,
    "referenceTo": list,
    "relationshipName": NULLABLE,
    "restrictedPicklist": bool,
    "scale": int,
    "soapType": str,
    "sortable": bool,
    "type": str,
    "unique": bool,
    "updateable": bool,
}
FIELD_TYPES = {
    "id",
    "reference",
    "string",
    "textarea",
    "picklist",
    "combobox",
    "email",
    "url",
    "phone",
    "boolean",
    "currency",
    "double",
    "percent",
    "int",
    "date",
    "datetime",
}
TEXT = {"string", "textarea", "picklist", "combobox", "email", "url", "phone"}
#: A record per object that Canary may write to, and the least a new one needs.
EXISTING = {
    "Account": SEED_IDS["globex"],
    "Contact": SEED_IDS["nancy_globex"],
    "Opportunity": SEED_IDS["opp_wayne_pilot"],
    "User": SEED_IDS["alice"],
    "Case": SEED_IDS["case_globex_invoice"],
}
NEW = {
    "Account": {"Name": "Describe Ltd"},
    "Contact": {"LastName": "Describe"},
    "Opportunity": {"Name": "Describe", "StageName": "Prospecting", "CloseDate": "2030-01-01"},
    "Task": {"Subject": "Describe"},
    "Case": {"Subject": "Describe"},
    "CaseComment": {"ParentId": SEED_IDS["case_globex_invoice"]},
}


def describes(sf: Salesforce) -> dict[str, dict[str, Any]]:
    names = [s["name"] for s in sf.describe()["sobjects"]]
    return {name: getattr(sf, name).describe() for name in names}


def fields_of(described: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in described["fields"]}


def refusal(exc: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    return dict(exc.value.content[0])


def test_describe_has_salesforces_keys_and_types(sf: Salesforce) -> None:
    for summary in sf.describe()["sobjects"]:
        for key, kind in GLOBAL_KEYS.items():
            assert isinstance(summary[key], kind), (summary["name"], key)
    for name, described in describes(sf).items():
        for key, kind in OBJECT_KEYS.items():
            assert isinstance(described[key], kind), (name, key)
        assert described["urls"]["describe"].endswith(f"/sobjects/{name}/describe")
        for field in described["fields"]:
            where = (name, field["name"])
            for key, kind in FIELD_KEYS.items():
                assert isinstance(field[key], kind), (*where, key)
            assert field["type"] in FIELD_TYPES, where
            # What Salesforce derives from the type, the sandbox derives the same way.
            long_text = field["type"] == "textarea" and field["length"] > 255
            assert field["filterable"] is field["sortable"] is (not long_text), where
            assert field["aggregatable"] is not long_text, where
            if field["type"] in {"textarea", "currency", "double", "percent", "datetime"}:
                assert field["groupable"] is False, where
            if field["type"] in TEXT:
                assert field["length"] > 0 and field["byteLength"] == 3 * field["length"], where
            elif field["type"] in {"id", "reference"}:
                assert field["length"] == 18 and field["soapType"] == "tns:ID", where
            else:
                assert field["length"] == 0, where
            if field["type"] == "reference":
                assert field["referenceTo"] and field["relationshipName"], where


def test_describe_carries_the_standard_fields_real_shapes(sf: Salesforce) -> None:
    task = fields_of(sf.Task.describe())
    assert (task["Description"]["type"], task["Description"]["length"]) == ("textarea", 32000)
    assert task["Description"]["filterable"] is False
    assert task["Description"]["sortable"] is False
    assert task["Description"]["groupable"] is False
    assert (task["Subject"]["type"], task["Subject"]["length"]) == ("combobox", 255)
    assert task["Subject"]["filterable"] and task["Subject"]["nameField"]
    assert task["AccountId"]["createable"] is task["AccountId"]["updateable"] is False
    case = fields_of(sf.Case.describe())
    assert case["Description"]["filterable"] is False
    assert case["CaseNumber"]["autoNumber"] and not case["CaseNumber"]["createable"]
    assert case["CaseNumber"]["length"] == 30
    opportunity = fields_of(sf.Opportunity.describe())
    for read_only in ("Id", "CreatedDate", "CreatedById", "LastModifiedDate", "IsWon"):
        assert opportunity[read_only]["createable"] is False, read_only
        assert opportunity[read_only]["updateable"] is False, read_only
    assert opportunity["Name"]["length"] == 120
    assert opportunity["Amount"]["groupable"] is False
    assert (opportunity["Amount"]["precision"], opportunity["Amount"]["scale"]) == (18, 2)
    assert opportunity["StageName"]["restrictedPicklist"] is True
    assert fields_of(sf.Contact.describe())["Email"]["length"] == 80
    assert fields_of(sf.User.describe())["Alias"]["length"] == 8
    assert fields_of(sf.CaseComment.describe())["CommentBody"]["filterable"] is False
    organization = sf.Organization.describe()
    assert not organization["createable"] and not organization["updateable"]
    assert not any(f["updateable"] for f in organization["fields"])


def test_filters_sorts_and_groups_are_refused_where_the_describe_says(sf: Salesforce) -> None:
    checked = 0
    for name, described in describes(sf).items():
        for field in described["fields"]:
            field_name = field["name"]
            where = f"SELECT Id FROM {name} WHERE {field_name} = null"
            ordered = f"SELECT Id FROM {name} ORDER BY {field_name}"
            grouped = f"SELECT {field_name}, COUNT(Id) FROM {name} GROUP BY {field_name}"
            for statement, allowed, verb in (
                (where, field["filterable"], "filtered in query call"),
                (ordered, field["sortable"], "sorted in a query call"),
                (grouped, field["groupable"], "grouped in a query call"),
            ):
                checked += 1
                if allowed:
                    sf.query(statement)
                    continue
                with pytest.raises(SalesforceMalformedRequest) as refused:
                    sf.query(statement)
                error = refusal(refused)
                assert error["errorCode"] == "INVALID_FIELD", statement
                assert error["message"].endswith(f"field '{field_name}' can not be {verb}")
                assert "ERROR at Row:1:Column:" in error["message"]
    assert checked > 300


def test_the_refusal_names_the_field_wherever_the_query_reaches_it(sf: Salesforce) -> None:
    """Through a relationship, inside a LIKE or an OR, as in Canary's old task check."""
    for statement in (
        "SELECT Id FROM Task WHERE Description LIKE '%canary:wf%'",
        "SELECT Id FROM Contact WHERE Account.Description = 'x'",
        "SELECT Id FROM Case WHERE Subject = 'x' OR (Description != null)",
        "SELECT Id FROM CaseComment WHERE NOT CommentBody LIKE '%x%'",
    ):
        with pytest.raises(SalesforceMalformedRequest) as refused:
            sf.query(statement)
        assert "can not be filtered in query call" in refusal(refused)["message"], statement
    with pytest.raises(SalesforceMalformedRequest) as counted:
        sf.query("SELECT COUNT(Description) FROM Case")
    assert refusal(counted)["message"].endswith(
        "field Description does not support aggregate operator COUNT"
    )
    # Selecting a long text area is fine; only filtering, sorting and grouping are not.
    rows = sf.query("SELECT Id, Description FROM Case ORDER BY CreatedDate")["records"]
    assert any(r["Description"] for r in rows)


def test_group_by_counts_per_value(sf: Salesforce) -> None:
    stages = sf.query(
        "SELECT StageName, COUNT(Id) deals FROM Opportunity GROUP BY StageName ORDER BY StageName"
    )
    rows = {r["StageName"]: r["deals"] for r in stages["records"]}
    assert stages["totalSize"] == len(rows) and rows["Closed Won"] == 2
    assert stages["records"][0]["attributes"] == {"type": "AggregateResult"}
    assert list(rows) == sorted(rows)
    owners = sf.query("SELECT Owner.Name, COUNT(Id) FROM Account GROUP BY Owner.Name LIMIT 1")
    assert set(owners["records"][0]) == {"attributes", "Name", "expr0"}
    with pytest.raises(SalesforceMalformedRequest) as ungrouped:
        sf.query("SELECT Name, COUNT(Id) FROM Account GROUP BY Type")
    assert refusal(ungrouped)["message"].endswith("Field must be grouped or aggregated: Name")


def test_values_longer_than_the_describe_allows_are_refused(sf: Salesforce) -> None:
    checked = 0
    for name, record_id in EXISTING.items():
        for field in fields_of(getattr(sf, name).describe()).values():
            if field["type"] not in TEXT or not field["updateable"] or field["restrictedPicklist"]:
                continue
            checked += 1
            with pytest.raises(SalesforceMalformedRequest) as refused:
                getattr(sf, name).update(record_id, {field["name"]: "x" * (field["length"] + 1)})
            error = refusal(refused)
            assert error["errorCode"] == "STRING_TOO_LONG", (name, field["name"])
            assert error["fields"] == [field["name"]]
            assert f"(max length={field['length']})" in error["message"]
    assert checked > 20
    # Up to the limit is accepted.
    sf.Opportunity.update(EXISTING["Opportunity"], {"Name": "N" * 120})
    assert sf.Opportunity.get(EXISTING["Opportunity"])["Name"] == "N" * 120
    created = sf.Task.create({"Subject": "S" * 255, "Description": "d" * 32000})
    assert len(sf.Task.get(created["id"])["Description"]) == 32000


def test_writes_to_fields_the_describe_says_are_read_only_are_refused(sf: Salesforce) -> None:
    updates = inserts = 0
    for name, described in describes(sf).items():
        fields = fields_of(described)
        for field in fields.values():
            if field["name"] == "Id":
                continue
            if name in EXISTING and not field["updateable"]:
                updates += 1
                with pytest.raises(SalesforceMalformedRequest) as refused:
                    getattr(sf, name).update(EXISTING[name], {field["name"]: "x"})
                assert refusal(refused) == {
                    "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "message": f"Unable to create/update fields: {field['name']}. Please check "
                    "the security settings of this field and verify that it is read/write for "
                    "your profile or permission set.",
                    "fields": [field["name"]],
                }
            if name in NEW and not field["createable"]:
                inserts += 1
                with pytest.raises(SalesforceMalformedRequest) as refused:
                    getattr(sf, name).create({**NEW[name], field["name"]: "x"})
                assert refusal(refused)["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
                assert refusal(refused)["fields"] == [field["name"]]
    assert updates > 30 and inserts > 30
    # What is createable but not updateable is taken on insert only.
    comment = sf.CaseComment.create({**NEW["CaseComment"], "CommentBody": "Thanks"})
    with pytest.raises(SalesforceMalformedRequest) as moved:
        sf.CaseComment.update(comment["id"], {"ParentId": SEED_IDS["case_globex_invoice"]})
    assert refusal(moved)["fields"] == ["ParentId"]


def test_fields_that_may_not_be_null_refuse_null(sandbox: Sandbox, sf: Salesforce) -> None:
    task = sf.Task.create({"Subject": "Follow up"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as cleared:
        sf.Task.update(task, {"Status": None})
    assert refusal(cleared) == {
        "errorCode": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [Status]",
        "fields": ["Status"],
    }
    # Left out, a defaulted field takes its default; a boolean's null is false.
    assert sf.Task.get(task)["Status"] == "Not Started"
    sf.Case.update(EXISTING["Case"], {"IsEscalated": None})
    assert sf.Case.get(EXISTING["Case"])["IsEscalated"] is False


def test_validation_rules_may_still_read_long_text(sandbox: Sandbox, sf: Salesforce) -> None:
    """A rule is a formula over the saved record, not a query: Description is fair game."""
    response = requests.post(
        f"{sandbox.base_url}/_sandbox/salesforce/validation-rules",
        json={
            "name": "no_secrets_in_tasks",
            "sobject": "Task",
            "condition": "Description LIKE '%password%'",
            "message": "No passwords in tasks.",
        },
        timeout=5,
    )
    assert response.status_code == 201, response.text
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Task.create({"Subject": "Reset", "Description": "the password is hunter2"})
    assert refusal(refused)["message"] == "No passwords in tasks."
