"""SOQL through simple-salesforce: relationships, operators, date literals, paging, errors."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest, format_soql

from sandbox.salesforce import SEED_IDS

from .conftest import Sandbox


def names(result: dict[str, Any]) -> list[str]:
    return [r["Name"] for r in result["records"]]


def error_of(exc: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    return dict(exc.value.content[0])


def test_relationship_fields_are_nested_like_salesforce(sf: Salesforce) -> None:
    result = sf.query(
        "SELECT Id, Name, Owner.Email, Owner.Manager.Email FROM Opportunity "
        "WHERE StageName != 'Closed Won' AND CloseDate < TODAY"
    )
    assert result["done"] is True
    assert sorted(names(result)) == [
        "Globex — Enterprise annual",
        "Hooli Europe — Pilot",
        "Hooli — Expansion",
    ]
    globex = next(r for r in result["records"] if r["Id"] == SEED_IDS["opp_globex_enterprise"])
    assert list(globex) == ["attributes", "Id", "Name", "Owner"]
    assert globex["Owner"] == {
        "attributes": {
            "type": "User",
            "url": f"/services/data/v59.0/sobjects/User/{SEED_IDS['alice']}",
        },
        "Email": "alice@acme-gtm.example",
        "Manager": {
            "attributes": {
                "type": "User",
                "url": f"/services/data/v59.0/sobjects/User/{SEED_IDS['bob']}",
            },
            "Email": "bob@acme-gtm.example",
        },
    }


def test_null_relationships_and_case_insensitive_names(sf: Salesforce) -> None:
    result = sf.query(
        "select name, parent.name, OWNER.MANAGER.email from account "
        "where domain__c = 'HOOLI.EXAMPLE' order by name"
    )
    hooli, europe = result["records"]
    assert (hooli["Name"], hooli["Parent"]) == ("Hooli", None)
    assert europe["Parent"]["Name"] == "Hooli"
    assert europe["Owner"]["Manager"]["Email"] == "bob@acme-gtm.example"
    bob_owned = sf.query(
        "SELECT Name, Manager.Email FROM User WHERE Email = 'bob@acme-gtm.example'"
    )
    assert bob_owned["records"][0]["Manager"] is None


def test_three_level_paths_and_polymorphic_what(sf: Salesforce) -> None:
    rows = sf.query(
        "SELECT Subject, What.Name, Account.Owner.Email FROM Task "
        "WHERE Account.Name = 'Initech' OR What.Name = 'Hooli'"
    )["records"]
    by_subject = {r["Subject"]: r for r in rows}
    kickoff = by_subject["Kickoff call with Initech"]
    assert kickoff["What"]["attributes"]["type"] == "Opportunity"
    assert kickoff["What"]["Name"] == "Initech — Growth"
    assert kickoff["Account"]["Owner"]["Email"] == "alice@acme-gtm.example"
    assert by_subject["Quarterly business review — Hooli"]["What"]["attributes"]["type"] == (
        "Account"
    )


def test_or_not_and_parentheses(sf: Salesforce) -> None:
    result = sf.query(
        "SELECT Name FROM Opportunity WHERE (StageName = 'Closed Won' OR StageName = "
        "'Closed Lost') AND NOT Owner.Email = 'gina@acme-gtm.example' ORDER BY Name"
    )
    assert names(result) == ["Globex — Services add-on", "Initech — Growth"]
    with pytest.raises(SalesforceMalformedRequest) as mixed:
        sf.query(
            "SELECT Name FROM Opportunity WHERE IsWon = true OR IsClosed = false AND Amount > 0"
        )
    assert error_of(mixed)["errorCode"] == "MALFORMED_QUERY"


def test_like_in_and_not_in(sf: Salesforce) -> None:
    like = sf.query("SELECT Name FROM Opportunity WHERE Name LIKE 'hooli%' ORDER BY Name")
    assert names(like) == ["Hooli Europe — Pilot", "Hooli — Expansion"]
    assert names(sf.query("SELECT Name FROM Account WHERE Name LIKE 'W_yne%'")) == [
        "Wayne Enterprises"
    ]
    closed = sf.query(
        "SELECT Name FROM Opportunity WHERE StageName IN ('Closed Won', 'Closed Lost')"
    )
    assert closed["totalSize"] == 3
    still_open = sf.query(
        "SELECT Name FROM Opportunity WHERE StageName NOT IN ('Closed Won', 'Closed Lost')"
    )
    assert still_open["totalSize"] == 5
    by_id = sf.query(
        format_soql(
            "SELECT Name FROM Account WHERE Id IN {ids}",
            ids=[SEED_IDS["globex"][:15], SEED_IDS["initech"]],
        )
    )
    assert sorted(names(by_id)) == ["Globex Corporation", "Initech"]


def test_queries_canarys_adapter_builds(sandbox: Sandbox, sf: Salesforce) -> None:
    """The statements canary.adapters.salesforce_adapter sends, formatted the same way."""
    owner = "Owner.Name, Owner.Email, Owner.Manager.Name, Owner.Manager.Email"
    candidates = sf.query_all(
        format_soql(
            "SELECT Id, Name, Website, " + owner + " FROM Account "
            "WHERE Website LIKE '%{domain:like}%' ORDER BY Name",
            domain="hooli.example",
        )
    )
    assert names(candidates) == ["Hooli", "Hooli Europe"]
    assert candidates["records"][1]["Owner"]["Manager"]["Name"] == "Bob Martinez"
    by_customer = sf.query_all(
        format_soql(
            "SELECT Id, Name FROM Account WHERE Stripe_Customer_Id__c = {cus}",
            cus="cus_SbxGlobex000001",
        )
    )
    assert names(by_customer) == ["Globex Corporation"]
    opportunity = sf.query_all(
        format_soql(
            "SELECT Id, Name, StageName, Amount, CloseDate, IsClosed, IsWon, AccountId, "
            "Account.Name, " + owner + " FROM Opportunity WHERE Id = {id}",
            id=SEED_IDS["opp_hooli_expansion"],
        )
    )["records"][0]
    assert (opportunity["Amount"], opportunity["Account"]["Name"]) == (90000.0, "Hooli")
    # LIKE escapes: ``_`` in a value is a literal underscore, not a wildcard.
    sandbox.state.insert("Task", {"Subject": "Call wf_1 owner"})
    sandbox.state.insert("Task", {"Subject": "Call wfX1 owner"})
    markers = sf.query_all(
        format_soql("SELECT Id, Subject FROM Task WHERE Subject LIKE '%{m:like}%'", m="wf_1")
    )
    assert [r["Subject"] for r in markers["records"]] == ["Call wf_1 owner"]
    quoted = sandbox.state.insert("Account", {"Name": "O'Brien & Sons"})
    found = sf.query(format_soql("SELECT Id FROM Account WHERE Name = {n}", n="O'Brien & Sons"))
    assert found["records"][0]["Id"] == quoted


def test_date_literals(sf: Salesforce) -> None:
    recent = sf.query(
        "SELECT Name FROM Opportunity WHERE CloseDate = LAST_N_DAYS:10 ORDER BY CloseDate"
    )
    assert names(recent) == ["Globex — Enterprise annual", "Hooli — Expansion"]
    older = sf.query("SELECT Name FROM Opportunity WHERE CloseDate < LAST_N_DAYS:30")
    assert sorted(names(older)) == ["Globex — Services add-on", "Hooli Europe — Pilot"]
    later = sf.query("SELECT Name FROM Opportunity WHERE CloseDate > NEXT_N_DAYS:30")
    assert names(later) == ["Stark — New logo"]
    created = sf.query("SELECT Name FROM Opportunity WHERE CreatedDate = LAST_N_DAYS:25")
    assert names(created) == ["Stark — New logo"]
    renewals = sf.query(
        "SELECT Name FROM Account WHERE Renewal_Date__c = NEXT_N_DAYS:30 "
        "AND Onboarding_Complete__c = true"
    )
    assert names(renewals) == ["Umbrella Corp"]
    today = sf.query("SELECT Id FROM CaseComment WHERE CreatedDate = TODAY")
    assert [r["Id"] for r in today["records"]] == [SEED_IDS["comment_globex_angry"]]
    explicit = sf.query(
        "SELECT COUNT() FROM Opportunity WHERE CloseDate >= 2000-01-01 "
        "AND CreatedDate < 2100-01-01T00:00:00Z"
    )
    assert explicit["totalSize"] == 8


def test_order_by_limit_offset_and_count(sf: Salesforce) -> None:
    top = sf.query("SELECT Name, Amount FROM Opportunity ORDER BY Amount DESC NULLS LAST LIMIT 3")
    assert [(r["Name"], r["Amount"]) for r in top["records"]] == [
        ("Hooli — Expansion", 90000.0),
        ("Stark — New logo", 60000.0),
        ("Globex — Enterprise annual", 48000.0),
    ]
    page = sf.query("SELECT Name FROM Opportunity ORDER BY Amount DESC LIMIT 2 OFFSET 1")
    assert names(page) == ["Stark — New logo", "Globex — Enterprise annual"]
    by_owner = sf.query("SELECT Name FROM Account ORDER BY Owner.LastName, Name DESC LIMIT 3")
    assert names(by_owner) == ["Wayne Enterprises", "Umbrella Corp", "Hooli Europe"]
    count = sf.query("SELECT COUNT() FROM Account WHERE Domain__c = 'hooli.example'")
    assert count == {"totalSize": 2, "done": True, "records": []}
    aggregate = sf.query("SELECT COUNT(Id) total FROM Case")
    assert aggregate["records"] == [{"attributes": {"type": "AggregateResult"}, "total": 2}]


def test_query_all_follows_next_records_url_across_pages(sandbox: Sandbox, sf: Salesforce) -> None:
    for n in range(25):
        sandbox.state.insert("Task", {"Subject": f"Bulk follow-up {n:02d}"})
    sandbox.state.requests.clear()
    options = {"Sforce-Query-Options": "batchSize=10"}
    statement = "SELECT Id, Subject FROM Task WHERE Subject LIKE 'Bulk%' ORDER BY Subject"

    first = sf.query(statement, headers=options)
    assert (first["totalSize"], first["done"], len(first["records"])) == (25, False, 10)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-10")

    everything = sf.query_all(statement, headers=options)
    assert everything["totalSize"] == 25
    subjects = [r["Subject"] for r in everything["records"]]
    assert subjects == [f"Bulk follow-up {n:02d}" for n in range(25)]
    assert len(list(sf.query_all_iter(statement, headers=options))) == 25

    paths = [r["path"] for r in sandbox.state.requests]
    assert paths[0] == "/services/data/v59.0/query/"
    assert sum("/query/01g" in p for p in paths) == 2 + 2  # query_all and query_all_iter
    assert sandbox.state.requests[1]["response"]["records"][0]["Subject"] == "Bulk follow-up 00"


def test_malformed_and_invalid_queries(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        sf.query("SELECT Id FRM Account")
    error = error_of(malformed)
    assert error["errorCode"] == "MALFORMED_QUERY"
    assert "ERROR at Row:1:Column:" in error["message"]

    with pytest.raises(SalesforceMalformedRequest) as no_column:
        sf.query("SELECT Id, Foo FROM Account")
    error = error_of(no_column)
    assert error["errorCode"] == "INVALID_FIELD"
    assert error["message"].startswith("\nSELECT Id, Foo FROM Account\n           ^\n")
    assert "No such column 'Foo' on entity 'Account'." in error["message"]

    with pytest.raises(SalesforceMalformedRequest) as no_relationship:
        sf.query("SELECT Id, Boss.Email FROM Opportunity")
    assert "Didn't understand relationship 'Boss'" in error_of(no_relationship)["message"]

    with pytest.raises(SalesforceMalformedRequest) as no_type:
        sf.query("SELECT Id FROM Widget__c")
    assert error_of(no_type)["errorCode"] == "INVALID_TYPE"

    with pytest.raises(SalesforceMalformedRequest) as quoted_date:
        sf.query("SELECT Id FROM Opportunity WHERE CloseDate > '2026-01-01'")
    assert error_of(quoted_date)["message"].endswith(
        "value of filter criterion for field 'CloseDate' must be of type date and should not "
        "be enclosed in quotes"
    )

    with pytest.raises(SalesforceMalformedRequest) as bad_id:
        sf.query("SELECT Id FROM Account WHERE Id = 'nope'")
    assert error_of(bad_id)["errorCode"] == "INVALID_QUERY_FILTER_OPERATOR"

    with pytest.raises(SalesforceMalformedRequest) as duplicate:
        sf.query("SELECT Name, name FROM Account")
    assert "duplicate field selected" in error_of(duplicate)["message"]
