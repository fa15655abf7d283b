"""simple-salesforce's own login flows (SOAP, OAuth password, JWT bearer) against the sandbox.

simple-salesforce sends logins to ``https://login.salesforce.com``; the sandbox session routes
every ``*.salesforce.com`` request to the sandbox, so the real login code runs unchanged.
"""

from __future__ import annotations

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce, SalesforceAuthenticationFailed

from sandbox.salesforce import (
    API_VERSION,
    SANDBOX_PASSWORD,
    SANDBOX_SECURITY_TOKEN,
    SEED_IDS,
)

from .conftest import Sandbox


def test_soap_login_with_password_and_security_token(sandbox: Sandbox) -> None:
    sf = Salesforce(
        username="alice@acme-gtm.example",
        password=SANDBOX_PASSWORD,
        security_token=SANDBOX_SECURITY_TOKEN,
        session=sandbox.session(),
        version=API_VERSION,
    )
    assert sf.sf_instance == sandbox.base_url.removeprefix("http://")
    assert sf.session_id.startswith("00DHx0000000001!")
    created = sf.Task.create({"Subject": "Logged in as Alice"})
    # Records belong to the user the session was opened for.
    assert sf.Task.get(created["id"])["OwnerId"] == SEED_IDS["alice"]
    login = sandbox.state.requests[0]
    assert login["path"] == f"/services/Soap/u/{API_VERSION}"
    assert SANDBOX_PASSWORD not in login["body"] and "<n1:password>***" in login["body"]


def test_soap_login_refreshes_an_expired_session(sandbox: Sandbox) -> None:
    sf = Salesforce(
        username="carol@acme-gtm.example",
        password=SANDBOX_PASSWORD,
        security_token="",
        session=sandbox.session(),
    )
    first = sf.session_id
    sandbox.state.revoked_tokens.add(first)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 7
    assert sf.session_id != first
    statuses = [(r["path"].split("/")[2], r["status"]) for r in sandbox.state.requests]
    assert statuses == [("Soap", 200), ("data", 401), ("Soap", 200), ("data", 200)]


def test_soap_login_with_a_wrong_password_fails(sandbox: Sandbox) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as failed:
        Salesforce(
            username="alice@acme-gtm.example",
            password="wrong",
            security_token=SANDBOX_SECURITY_TOKEN,
            session=sandbox.session(),
        )
    assert failed.value.code == "INVALID_LOGIN"


def test_oauth_password_flow(sandbox: Sandbox) -> None:
    sf = Salesforce(
        username="dan@acme-gtm.example",
        password=SANDBOX_PASSWORD + SANDBOX_SECURITY_TOKEN,
        consumer_key="3MVG9-canary",
        consumer_secret="secret",
        session=sandbox.session(),
    )
    dan = sf.query(f"SELECT Name FROM User WHERE Id = '{SEED_IDS['dan']}'")["records"][0]
    assert dan["Name"] == "Dan Reyes"
    token = sandbox.state.requests[0]
    assert token["path"] == "/services/oauth2/token"
    assert token["body"]["password"] == "***" and token["body"]["client_secret"] == "***"
    assert token["response"]["token_type"] == "Bearer"
    assert token["response"]["instance_url"] == sandbox.instance_url
    assert token["response"]["id"].endswith(f"/id/{sandbox.state.org_id}/{SEED_IDS['dan']}")

    with pytest.raises(SalesforceAuthenticationFailed) as failed:
        Salesforce(
            username="dan@acme-gtm.example",
            password="nope",
            consumer_key="3MVG9-canary",
            consumer_secret="secret",
            session=sandbox.session(),
        )
    assert failed.value.code == "invalid_grant"
    refused = requests.post(
        f"{sandbox.base_url}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": "x",
            "client_secret": "y",
            "username": "dan@acme-gtm.example",
            "password": "nope",
        },
        timeout=5,
    )
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "invalid_grant",
        "error_description": "authentication failure",
    }


def erin_by_jwt(sandbox: Sandbox) -> Salesforce:
    """Erin signed in with the JWT bearer flow (a fresh key: the sandbox trusts any)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return Salesforce(
        username="erin@acme-gtm.example",
        consumer_key="3MVG9-canary",
        privatekey=pem,
        session=sandbox.session(),
    )


def test_jwt_bearer_flow(sandbox: Sandbox) -> None:
    sf = erin_by_jwt(sandbox)
    created = sf.Task.create({"Subject": "Created by Erin's JWT session"})
    assert sf.Task.get(created["id"])["OwnerId"] == SEED_IDS["erin"]
    assert sandbox.state.requests[0]["body"]["grant_type"] == (
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    )
    garbage = requests.post(
        f"{sandbox.base_url}/services/oauth2/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "x.y"},
        timeout=5,
    )
    assert garbage.status_code == 400 and garbage.json()["error"] == "invalid_grant"


def test_adapter_keeps_working_when_a_jwt_session_expires(sandbox: Sandbox) -> None:
    """A long-running worker's Salesforce session expires after the org's timeout; with a
    login configured, Canary's adapter goes on (simple-salesforce signs in again)."""
    from canary.adapters.salesforce_adapter import SalesforceAdapter

    sf = erin_by_jwt(sandbox)
    adapter = SalesforceAdapter(sf)
    first = sf.session_id
    sandbox.state.revoked_tokens.add(first)
    account = adapter.get("Account", SEED_IDS["globex"])
    assert account["Name"] == "Globex Corporation"
    assert sf.session_id != first
    grants = [r for r in sandbox.state.requests if r["path"] == "/services/oauth2/token"]
    assert len(grants) == 2  # the first login and the one after the expiry


def test_adapter_names_the_setting_when_a_fixed_token_expires(sandbox: Sandbox) -> None:
    from canary.adapters import PermanentError
    from canary.adapters.salesforce_adapter import SalesforceAdapter

    sf = Salesforce(
        instance_url=sandbox.base_url.replace("http://", "https://"),
        session_id="00DSANDBOX!fixed",
        session=sandbox.session(),
    )
    sandbox.state.revoked_tokens.add("00DSANDBOX!fixed")
    with pytest.raises(PermanentError, match="renew SALESFORCE_ACCESS_TOKEN"):
        SalesforceAdapter(sf).get("Account", SEED_IDS["globex"])
