"""Salesforce through simple-salesforce. Returns plain dicts, never SDK objects.

simple-salesforce is synchronous; the activities run it in a thread so it never blocks the
worker's event loop. SOQL values always go through ``format_soql`` (escaped), never through
string formatting of what a webhook or a person typed.

Every record id is checked against Salesforce's shape (and its object's key prefix) before it
reaches simple-salesforce, which joins it onto the instance URL: an id that is a URL or a path
(``https://…``, ``../Opportunity/…``) would otherwise send the session elsewhere.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import (
    Salesforce,
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
    format_soql,
)

from canary import ids
from canary.adapters.errors import PermanentError, TransientError
from canary.adapters.sessions import CALL_THREADS, pooled_session
from canary.settings import MissingSettingError, Settings

SERVICE = "salesforce"
#: A field's API name, the only shape a configured field name may take in a query.
_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")
OWNER_FIELDS = "Owner.Name, Owner.Email, Owner.Manager.Name, Owner.Manager.Email"
#: Refusals that pass by themselves, whatever their status: the org's API request limit
#: (403; the 24-hour allowance or too many long requests at once) and a record another
#: transaction holds locked (400). Retried with the activity's backoff, not given up on.
TRANSIENT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})


class PlainHttpAdapter(HTTPAdapter):
    """Sends the https:// requests simple-salesforce builds to a plain-http instance.

    simple-salesforce always speaks https; a local stand-in (Canary's sandbox) or an
    internal proxy may only speak http on loopback. Only the configured host is rewritten.
    """

    def __init__(self, netloc: str) -> None:
        super().__init__(pool_connections=1, pool_maxsize=CALL_THREADS)
        self.netloc = netloc

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        if parts.scheme == "https" and parts.netloc == self.netloc:
            request.url = urlunsplit(("http", *parts[1:]))
        return super().send(request, **kwargs)


def plain_http_session(instance_url: str) -> requests.Session:
    return pooled_session(instance_url, PlainHttpAdapter(urlsplit(instance_url).netloc))


def error_code(exc: SalesforceError) -> tuple[str | None, str]:
    """Salesforce error bodies are a list of {errorCode, message, fields}."""
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        return first.get("errorCode"), str(first.get("message", ""))
    if isinstance(content, dict):
        return content.get("errorCode") or content.get("error"), str(
            content.get("message") or content.get("error_description") or content
        )
    return None, str(content)


def _unsent(reason: str) -> str:
    return f"{reason}, so Canary did not send the request"


def checked_id(value: object, role: str, sobject: str | None = None) -> str:
    """``value`` when it is a Salesforce id (of ``sobject``); a permanent error naming its role
    otherwise, never repeating the value."""
    try:
        return ids.salesforce_id(value, role, sobject)
    except ids.InvalidId as err:
        raise PermanentError(SERVICE, _unsent(f"the {err}"), "invalid_id") from None


def object_name(sobject: str) -> str:
    if not ids.SALESFORCE_OBJECT.fullmatch(sobject):
        raise PermanentError(
            SERVICE, _unsent("the object is not a Salesforce object name"), "invalid_id"
        )
    return sobject


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, SalesforceError):
        code, message = error_code(exc)
        if code in TRANSIENT_CODES:
            return TransientError(SERVICE, message or code, code)
        if isinstance(exc, SalesforceResourceNotFound):
            return PermanentError(SERVICE, message or "not found", code or "NOT_FOUND")
        if isinstance(exc, SalesforceMalformedRequest | SalesforceRefusedRequest):
            return PermanentError(SERVICE, message, code or "MALFORMED_REQUEST")
        if isinstance(exc, SalesforceExpiredSession | SalesforceAuthenticationFailed):
            # Logins (password, JWT) are signed in again by simple-salesforce itself; this is
            # a fixed access token that expired, or a login Salesforce no longer accepts.
            return PermanentError(
                SERVICE,
                f"Salesforce refused the session: {message} (renew SALESFORCE_ACCESS_TOKEN, or "
                "configure a login with SALESFORCE_USERNAME so Canary can sign in again)",
                code,
            )
        status = getattr(exc, "status", 0) or 0
        if status == 429 or status >= 500:
            return TransientError(SERVICE, message, code)
        return PermanentError(SERVICE, message, code)
    if isinstance(exc, requests.RequestException):
        return TransientError(SERVICE, f"could not reach Salesforce: {exc}")
    return exc


class SalesforceAdapter:
    def __init__(self, client: Salesforce) -> None:
        self._sf = client

    @classmethod
    def from_settings(cls, settings: Settings) -> SalesforceAdapter:
        """Access token + instance URL, username/password/security token, or JWT."""
        version = settings.salesforce_api_version
        if settings.salesforce_access_token or settings.salesforce_instance_url:
            instance = settings.require(
                "salesforce_instance_url", "with SALESFORCE_ACCESS_TOKEN to reach Salesforce"
            )
            token = settings.require(
                "salesforce_access_token", "with SALESFORCE_INSTANCE_URL to reach Salesforce"
            )
            if instance.startswith("http://"):
                session = plain_http_session(instance)
                instance = "https://" + instance.removeprefix("http://")
            else:
                session = pooled_session(instance)
            return cls(
                Salesforce(
                    instance_url=instance.rstrip("/"),
                    session_id=token,
                    version=version,
                    session=session,
                )
            )
        if settings.salesforce_username and settings.salesforce_consumer_key:
            key_file = settings.require(
                "salesforce_private_key_file", "for Salesforce's JWT bearer login"
            )
            return cls(
                Salesforce(
                    username=settings.salesforce_username,
                    consumer_key=settings.salesforce_consumer_key,
                    privatekey_file=key_file,
                    domain=settings.salesforce_domain,
                    version=version,
                    session=pooled_session(None),
                )
            )
        if settings.salesforce_username:
            password = settings.require("salesforce_password", "for Salesforce's password login")
            return cls(
                Salesforce(
                    username=settings.salesforce_username,
                    password=password,
                    security_token=settings.salesforce_security_token or "",
                    domain=settings.salesforce_domain,
                    version=version,
                    session=pooled_session(None),
                )
            )
        raise MissingSettingError(
            "SALESFORCE_INSTANCE_URL",
            "to reach Salesforce (or SALESFORCE_USERNAME with a password or JWT key)",
        )

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (SalesforceError, requests.RequestException) as exc:
            raise _translate(exc) from exc

    def query(self, soql: str, **params: Any) -> list[dict[str, Any]]:
        """Every record of a SOQL query, following ``nextRecordsUrl`` pages."""
        statement = format_soql(soql, **params) if params else soql
        result = self._call(self._sf.query_all, statement)
        return [_plain(r) for r in result.get("records", [])]

    def _sobject(self, sobject: str) -> Any:
        return getattr(self._sf, object_name(sobject))

    def get(self, sobject: str, record_id: str) -> dict[str, Any]:
        checked = checked_id(record_id, "record id", sobject)
        return _plain(self._call(self._sobject(sobject).get, checked))

    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        checked = checked_id(record_id, "record id", sobject)
        self._call(self._sobject(sobject).update, checked, fields)

    def create(self, sobject: str, fields: dict[str, Any]) -> str:
        result = self._call(self._sobject(sobject).create, fields)
        return str(result["id"])

    def opportunity(self, opportunity_id: str) -> dict[str, Any] | None:
        rows = self.query(
            "SELECT Id, Name, StageName, Amount, CloseDate, IsClosed, IsWon, AccountId, "
            "Account.Name, " + OWNER_FIELDS + " FROM Opportunity WHERE Id = {id}",
            id=checked_id(opportunity_id, "opportunity id", "Opportunity"),
        )
        return rows[0] if rows else None

    def opportunity_contract(self, opportunity_id: str, field: str) -> dict[str, Any] | None:
        """The opportunity with the checkbox ``field`` that says its contract is signed."""
        if not _FIELD_NAME.fullmatch(field):
            raise PermanentError(SERVICE, _unsent("the contract field is not a field name"))
        rows = self.query(
            f"SELECT Id, {field} FROM Opportunity WHERE Id = {{id}}",
            id=checked_id(opportunity_id, "opportunity id", "Opportunity"),
        )
        return rows[0] if rows else None

    def accounts_carrying(self, app_account_id: str) -> list[dict[str, Any]]:
        """The CRM accounts whose App_Account_Id__c is this product account's id."""
        return self.query(
            "SELECT Id, Name FROM Account WHERE App_Account_Id__c = {app} ORDER BY Name",
            app=app_account_id,
        )

    def account(self, account_id: str) -> dict[str, Any] | None:
        rows = self.query(
            "SELECT Id, Name, Website, " + OWNER_FIELDS + " FROM Account WHERE Id = {id}",
            id=checked_id(account_id, "account id", "Account"),
        )
        return rows[0] if rows else None

    def deal_context(
        self, account_id: str | None, stripe_customer_id: str | None, segment_field: str
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The CRM account a payment's customer belongs to (by its id, else by the Stripe
        customer id it carries) with its segment, and its open opportunities, soonest first."""
        if account_id:
            where, params = "Id = {id}", {"id": checked_id(account_id, "account id", "Account")}
        elif stripe_customer_id and ids.is_stripe_id(stripe_customer_id, "customer"):
            where, params = "Stripe_Customer_Id__c = {cus}", {"cus": stripe_customer_id}
        else:
            return None, []
        if not _FIELD_NAME.fullmatch(segment_field):
            raise PermanentError(SERVICE, _unsent("the segment field is not a field name"))
        accounts = self.query(
            f"SELECT Id, Name, {segment_field}, " + OWNER_FIELDS + f" FROM Account WHERE {where}",
            **params,
        )
        if not accounts:
            return None, []
        account = accounts[0]
        opportunities = self.query(
            "SELECT Id, Name, StageName, ForecastCategoryName, Amount, CloseDate FROM "
            "Opportunity WHERE AccountId = {id} AND IsClosed = false ORDER BY CloseDate",
            id=account["Id"],
        )
        return account, opportunities

    def accounts_matching(
        self, domain: str | None, stripe_customer_id: str | None
    ) -> list[dict[str, Any]]:
        """Candidate CRM accounts for an unlinked product account."""
        found: dict[str, dict[str, Any]] = {}
        if stripe_customer_id and not ids.is_stripe_id(stripe_customer_id, "customer"):
            raise PermanentError(
                SERVICE,
                _unsent("the Stripe customer id is not " + ids.stripe_expected("customer")),
                "invalid_id",
            )
        if stripe_customer_id:
            for row in self.query(
                "SELECT Id, Name, Website, "
                + OWNER_FIELDS
                + " FROM Account WHERE Stripe_Customer_Id__c = {cus}",
                cus=stripe_customer_id,
            ):
                found[row["Id"]] = row
        if domain:
            for row in self.query(
                "SELECT Id, Name, Website, "
                + OWNER_FIELDS
                + " FROM Account WHERE Website LIKE '%{domain:like}%' ORDER BY Name",
                domain=domain,
            ):
                found.setdefault(row["Id"], row)
        return list(found.values())


def _plain(record: Any) -> dict[str, Any]:
    """OrderedDicts with ``attributes`` → plain dicts, relationships kept as nested dicts."""
    if not isinstance(record, dict):
        return record
    return {
        key: _plain(value) if isinstance(value, dict) else value
        for key, value in record.items()
        if key != "attributes"
    }
