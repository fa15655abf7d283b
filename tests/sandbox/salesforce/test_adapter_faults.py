"""Which Salesforce refusals Canary's adapter retries: through simple-salesforce, against the
sandbox answering with the org's own error bodies (``POST /_sandbox/faults``).

The org's API request limit (403 REQUEST_LIMIT_EXCEEDED) and a record locked by another
transaction (400 UNABLE_TO_LOCK_ROW) pass by themselves, so they are transient: the activity's
retry policy tries again with backoff. What retrying cannot change stays permanent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from simple_salesforce import SalesforceMalformedRequest, SalesforceRefusedRequest

from activities.calls import application_error
from canary.adapters import PermanentError, TransientError
from canary.adapters.salesforce_adapter import SalesforceAdapter
from canary.settings import Settings
from sandbox import SandboxConfig, SandboxServer
from sandbox.salesforce import SEED_IDS

QUERY = "/services/data/v59.0/query"
WAYNE = f"/services/data/v59.0/sobjects/Opportunity/{SEED_IDS['opp_wayne_pilot']}"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig()) as running:
        yield running


@pytest.fixture()
def adapter(server: SandboxServer) -> Iterator[SalesforceAdapter]:
    httpx.post(f"{server.url}/_sandbox/reset").raise_for_status()
    yield SalesforceAdapter.from_settings(
        Settings(salesforce_instance_url=server.url, salesforce_access_token="00DSANDBOX!faults")
    )
    httpx.delete(f"{server.url}/_sandbox/faults").raise_for_status()


def fault(server: SandboxServer, **spec: Any) -> None:
    httpx.post(
        f"{server.url}/_sandbox/faults", json={"service": "salesforce", **spec}
    ).raise_for_status()


def test_the_request_limit_is_retried_and_the_retry_goes_through(
    server: SandboxServer, adapter: SalesforceAdapter
) -> None:
    fault(server, path=QUERY, status=403)
    with pytest.raises(TransientError) as limited:
        adapter.opportunity(SEED_IDS["opp_wayne_pilot"])
    assert limited.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert "TotalRequests Limit exceeded." in str(limited.value)
    # simple-salesforce saw the org's 403 and its body, untouched.
    raw = limited.value.__cause__
    assert isinstance(raw, SalesforceRefusedRequest) and raw.status == 403
    assert raw.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    # For Temporal: a retryable failure, which the activity's retry policy backs off on.
    retry = application_error(limited.value)
    assert not retry.non_retryable and retry.type == "salesforce.transient"
    # The limit has passed: the same call succeeds.
    found = adapter.opportunity(SEED_IDS["opp_wayne_pilot"])
    assert found is not None and found["Name"].startswith("Wayne")


def test_a_locked_row_is_retried_and_the_write_lands(
    server: SandboxServer, adapter: SalesforceAdapter
) -> None:
    fault(server, path=WAYNE, method="PATCH", status=400, error_code="UNABLE_TO_LOCK_ROW")
    with pytest.raises(TransientError) as locked:
        adapter.update("Opportunity", SEED_IDS["opp_wayne_pilot"], {"NextStep": "Call Lucius"})
    assert locked.value.code == "UNABLE_TO_LOCK_ROW"
    assert isinstance(locked.value.__cause__, SalesforceMalformedRequest)
    assert not application_error(locked.value).non_retryable
    adapter.update("Opportunity", SEED_IDS["opp_wayne_pilot"], {"NextStep": "Call Lucius"})
    assert adapter.get("Opportunity", SEED_IDS["opp_wayne_pilot"])["NextStep"] == "Call Lucius"
    patches = httpx.get(
        f"{server.url}/_sandbox/requests", params={"service": "salesforce", "method": "PATCH"}
    ).json()
    assert [p["status"] for p in patches] == [400, 204]


def test_refusals_retrying_cannot_change_stay_permanent(
    server: SandboxServer, adapter: SalesforceAdapter
) -> None:
    with pytest.raises(PermanentError) as unfilterable:
        adapter.query("SELECT Id FROM Task WHERE Description LIKE '%x%'")
    assert unfilterable.value.code == "INVALID_FIELD"
    with pytest.raises(PermanentError) as rule:
        adapter.update("Opportunity", SEED_IDS["opp_wayne_pilot"], {"StageName": "Closed Won"})
    assert rule.value.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert application_error(rule.value).non_retryable
    # A 403 that is not the request limit: the integration user lacks a permission.
    fault(server, path=QUERY, status=403, error_code="INSUFFICIENT_ACCESS_OR_READONLY")
    with pytest.raises(PermanentError) as forbidden:
        adapter.account(SEED_IDS["globex"])
    assert forbidden.value.code == "INSUFFICIENT_ACCESS_OR_READONLY"
