"""Salesforce's REST API (and its login endpoints) as a FastAPI router for Canary's sandbox.

The sandbox app owned by the rest of ``sandbox`` mounts this router at its root, so it
must not depend on that app: requests are recorded and Salesforce errors rendered by a custom
route class rather than by app middleware or exception handlers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from .errors import SalesforceApiError, api_error, json_parser_error, not_found
from .ids import looks_like_id
from .schema import SCHEMA, SObjectDef, sobject
from .state import API_VERSION, SalesforceState, ValidationRule

log = logging.getLogger(__name__)
_VERSION = re.compile(r"^v(\d{2,3}\.\d)$")
_RELEASES = {
    50: "Winter '21",
    51: "Spring '21",
    52: "Summer '21",
    53: "Winter '22",
    54: "Spring '22",
    55: "Summer '22",
    56: "Winter '23",
    57: "Spring '23",
    58: "Summer '23",
    59: "Winter '24",
    60: "Spring '24",
    61: "Summer '24",
    62: "Winter '25",
}
_DAILY_API_LIMIT = 15000
_SECRET_FORM_FIELDS = {"password", "client_secret"}
_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


# -- helpers ----------------------------------------------------------------------------------


def _json(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def _api_version(version: str) -> str:
    match = _VERSION.match(version)
    if not match:
        raise not_found()
    return match.group(1)


def _bearer(request: Request) -> str:
    """Any ``Bearer``/``OAuth`` token is a session, as long as it is present and not revoked."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in {"bearer", "oauth"} or not token.strip():
        raise api_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
    return token.strip()


def _public_base(request: Request) -> str:
    """The instance URL clients should use: https when the caller came through a rewrite."""
    scheme = request.headers.get("x-forwarded-proto") or request.url.scheme
    host = request.headers.get("x-forwarded-host") or request.headers.get("host")
    return f"{scheme}://{host or request.url.netloc}"


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise json_parser_error(
            f"Unexpected character ('{raw[exc.pos : exc.pos + 1].decode(errors='replace')}'): "
            f"was expecting JSON at [line:{exc.lineno}, column:{exc.colno}]"
            if isinstance(exc, json.JSONDecodeError)
            else "Invalid UTF-8 in request body"
        ) from None
    if not isinstance(body, dict):
        raise json_parser_error(
            "Cannot deserialize instance of SObject from START_ARRAY value [ or request may be "
            "missing a required field at [line:1, column:1]"
        )
    return body


def _mask(value: str) -> str:
    return value if len(value) <= 12 else value[:12] + "***"


def _recorded_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type or text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    if "x-www-form-urlencoded" in content_type:
        return {
            key: "***" if key in _SECRET_FORM_FIELDS else value
            for key, value in parse_qsl(text, keep_blank_values=True)
        }
    # SOAP login bodies carry the password: never keep it in the request log.
    return re.sub(r"(<(?:\w+:)?password>)(.*?)(</(?:\w+:)?password>)", r"\1***\3", text, flags=re.S)


def _recorded_response(response: Response) -> Any:
    body = bytes(response.body) if hasattr(response, "body") else b""
    if not body:
        return None
    text = body.decode("utf-8", errors="replace")
    if response.media_type == "application/json" or text.startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def _error_response(exc: SalesforceApiError) -> Response:
    return _json(exc.body, exc.status)


def _soap_fault(code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><soapenv:Fault>"
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>"
        '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
        f"<sf:exceptionCode>{code}</sf:exceptionCode>"
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        "</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(body, status_code=500, media_type="text/xml")


def _batch_size(request: Request) -> int | None:
    options = request.headers.get("sforce-query-options", "")
    for option in options.split(","):
        key, _, value = option.partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return int(value.strip())
    return None


def _jwt_claims(assertion: str) -> dict[str, Any] | None:
    """Claims of a well-formed JWT. The sandbox has no certificate, so it does not verify."""
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    try:
        decoded = [
            json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            for part in parts[:2]
        ]
    except (binascii.Error, ValueError):
        return None
    header, claims = decoded
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return claims


# -- router -----------------------------------------------------------------------------------


def create_salesforce_router(state: SalesforceState) -> APIRouter:
    """Salesforce's REST API under ``/services/…`` plus ``/_sandbox/salesforce/…`` controls."""

    class RecordingRoute(APIRoute):
        """Renders Salesforce errors and records every ``/services/…`` call in ``state``."""

        def get_route_handler(self) -> Endpoint:
            handler = super().get_route_handler()

            async def recorded(request: Request) -> Response:
                raw = await request.body()
                try:
                    response = await handler(request)
                except SalesforceApiError as exc:
                    response = _error_response(exc)
                except Exception as exc:
                    # Salesforce's answer to its own bugs; recorded so a test sees what broke.
                    log.exception("Salesforce sandbox failed on %s %s", request.method, request.url)
                    response = _json(
                        [
                            {
                                "errorCode": "UNKNOWN_EXCEPTION",
                                "message": f"An unexpected error occurred: {exc!r}",
                            }
                        ],
                        500,
                    )
                path = request.url.path
                if path.startswith("/services/"):
                    if path.startswith("/services/data/v"):
                        used = state.api_calls + 1
                        response.headers["Sforce-Limit-Info"] = (
                            f"api-usage={used}/{_DAILY_API_LIMIT}"
                        )
                    headers = {
                        key: _mask(value) if key == "authorization" else value
                        for key, value in request.headers.items()
                    }
                    state.record_request(
                        {
                            "method": request.method,
                            "path": path,
                            "query": dict(request.query_params),
                            "headers": headers,
                            "body": _recorded_body(raw, request.headers.get("content-type", "")),
                            "status": response.status_code,
                            "response": _recorded_response(response),
                            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                        }
                    )
                return response

            return recorded

    router = APIRouter(route_class=RecordingRoute)

    def route(path: str, methods: list[str], endpoint: Callable[..., Any]) -> None:
        # simple-salesforce adds trailing slashes to some URLs (``query/``, ``sobjects/X/``)
        # and not others; the host app's slash redirects would drop the https rewrite, so both
        # spellings are served directly.
        # One route per method keeps the host app's OpenAPI operation ids unique.
        for method in methods:
            router.add_api_route(path, endpoint, methods=[method])
            router.add_api_route(path + "/", endpoint, methods=[method], include_in_schema=False)

    def running_user(request: Request) -> str:
        """The session's user; a missing or revoked token is refused as Salesforce does."""
        token = _bearer(request)
        if token in state.revoked_tokens:
            raise api_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return state.running_user(token)

    # -- discovery --------------------------------------------------------------------------

    async def versions(request: Request) -> Response:
        return _json(
            [
                {"label": label, "url": f"/services/data/v{number}.0", "version": f"{number}.0"}
                for number, label in sorted(_RELEASES.items())
            ]
        )

    async def resources(request: Request, version: str) -> Response:
        v = _api_version(version)
        running_user(request)
        base = f"/services/data/v{v}"
        return _json(
            {
                "sobjects": f"{base}/sobjects",
                "query": f"{base}/query",
                "queryAll": f"{base}/queryAll",
                "limits": f"{base}/limits",
            }
        )

    async def describe_global(request: Request, version: str) -> Response:
        v = _api_version(version)
        running_user(request)
        return _json(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [definition.summary(v) for definition in SCHEMA.values()],
            }
        )

    async def limits(request: Request, version: str) -> Response:
        _api_version(version)
        running_user(request)
        used = state.api_calls + 1
        return _json(
            {
                "DailyApiRequests": {"Max": _DAILY_API_LIMIT, "Remaining": _DAILY_API_LIMIT - used},
                "DataStorageMB": {"Max": 1024, "Remaining": 1000},
                "FileStorageMB": {"Max": 1024, "Remaining": 1024},
            }
        )

    # -- sObjects ---------------------------------------------------------------------------

    def definition_of(name: str) -> SObjectDef:
        definition = sobject(name)
        if definition is None:
            raise not_found()
        return definition

    async def sobject_root(request: Request, version: str, sobject_name: str) -> Response:
        v = _api_version(version)
        user = running_user(request)
        definition = definition_of(sobject_name)
        if request.method == "POST":
            record_id = state.insert(definition.name, await _json_body(request), user_id=user)
            return _json({"id": record_id, "success": True, "errors": []}, 201)
        recent = [
            state.render(r, v, ["Id", "Name"] if definition.field("Name") else ["Id"])
            for r in list(state.all(definition.name))[-5:]
        ]
        return _json({"objectDescribe": definition.summary(v), "recentItems": recent})

    async def describe(request: Request, version: str, sobject_name: str) -> Response:
        v = _api_version(version)
        running_user(request)
        return _json(definition_of(sobject_name).describe(v))

    async def record(request: Request, version: str, sobject_name: str, record_id: str) -> Response:
        v = _api_version(version)
        user = running_user(request)
        definition = definition_of(sobject_name)
        if not looks_like_id(record_id):
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {record_id}"
            )
        if request.method == "PATCH":
            state.update(definition.name, record_id, await _json_body(request), user_id=user)
            return Response(status_code=204)
        if request.method == "DELETE":
            state.delete(definition.name, record_id)
            return Response(status_code=204)
        found = state.fetch(definition.name, record_id)
        fields_param = request.query_params.get("fields")
        fields = [f.strip() for f in fields_param.split(",") if f.strip()] if fields_param else None
        return _json(state.render(found, v, fields))

    async def by_external_id(
        request: Request, version: str, sobject_name: str, field_name: str, value: str
    ) -> Response:
        v = _api_version(version)
        user = running_user(request)
        definition = definition_of(sobject_name)
        field = state.external_id_field(definition, field_name)
        if request.method == "PATCH":
            record_id, created = state.upsert(
                definition.name, field.name, value, await _json_body(request), user_id=user
            )
            result = {"id": record_id, "success": True, "errors": [], "created": created}
            if created:
                return _json(result, 201)
            # Since API v46.0 an upsert that updates answers 200 with a body; before, 204.
            if float(v) >= 46.0:
                return _json(result, 200)
            return Response(status_code=204)
        matches = state.find(definition.name, field.name, value)
        if len(matches) > 1:
            raise state.multiple_choices(matches)
        if not matches:
            raise not_found()
        if request.method == "DELETE":
            state.delete(definition.name, matches[0]["Id"])
            return Response(status_code=204)
        return _json(state.render(matches[0], v))

    # -- SOQL -------------------------------------------------------------------------------

    def query_handler(include_deleted: bool) -> Callable[..., Awaitable[Response]]:
        async def run_query(request: Request, version: str) -> Response:
            v = _api_version(version)
            running_user(request)
            statement = request.query_params.get("q")
            if not statement:
                raise api_error(400, "MALFORMED_QUERY", "A query string has to be specified")
            return _json(
                state.query(
                    statement,
                    include_deleted=include_deleted,
                    batch_size=_batch_size(request),
                    version=v,
                )
            )

        return run_query

    async def query_more(request: Request, version: str, locator: str) -> Response:
        v = _api_version(version)
        running_user(request)
        return _json(state.query_more(locator, v))

    # -- login ------------------------------------------------------------------------------

    async def oauth_token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        form.update({k: v for k, v in request.query_params.items() if k not in form})
        grant = form.get("grant_type", "")
        user: dict[str, Any] | None
        if grant == "password":
            if not form.get("client_id"):
                return _json(
                    {
                        "error": "invalid_client_id",
                        "error_description": "client identifier invalid",
                    },
                    400,
                )
            user = state.check_password(form.get("username", ""), form.get("password", ""))
            if user is None:
                return _json(
                    {"error": "invalid_grant", "error_description": "authentication failure"}, 400
                )
        elif grant == _JWT_GRANT:
            claims = _jwt_claims(form.get("assertion", ""))
            if claims is None or not claims.get("sub"):
                return _json(
                    {"error": "invalid_grant", "error_description": "invalid assertion"}, 400
                )
            # Any well-formed assertion is accepted (the sandbox has no connected-app
            # certificate); the subject picks the session's user when it names one.
            user = state.user_by_username(str(claims["sub"])) or state.get(
                "User", state.running_user("")
            )
        elif grant == "client_credentials":
            user = state.get("User", state.running_user(""))
        else:
            return _json(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
                400,
            )
        assert user is not None
        base = _public_base(request)
        token = state.issue_token(user["Id"])
        identity = f"{base}/id/{state.org_id}/{user['Id']}"
        issued_at = str(int(time.time() * 1000))
        key = (form.get("client_secret") or "canary-sandbox").encode()
        signature = base64.b64encode(
            hmac.new(key, (identity + issued_at).encode(), hashlib.sha256).digest()
        ).decode()
        return _json(
            {
                "access_token": token,
                "instance_url": base,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
                "signature": signature,
                "scope": "api",
            }
        )

    async def soap_login(request: Request, version: str) -> Response:
        try:
            document = ElementTree.fromstring(await request.body())
        except ElementTree.ParseError:
            return _soap_fault("INVALID_REQUEST", "Unable to parse the SOAP request.")
        values = {
            element.tag.rsplit("}", 1)[-1]: (element.text or "") for element in document.iter()
        }
        user = state.check_password(values.get("username", ""), values.get("password", ""))
        if user is None:
            return _soap_fault(
                "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
            )
        base = _public_base(request)
        token = state.issue_token(user["Id"])
        org15 = state.org_id[:15]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<soapenv:Body><loginResponse><result>"
            f"<metadataServerUrl>{base}/services/Soap/m/{version}/{org15}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
            f"<serverUrl>{base}/services/Soap/u/{version}/{org15}</serverUrl>"
            f"<sessionId>{escape(token)}</sessionId>"
            f"<userId>{user['Id']}</userId>"
            "<userInfo>"
            f"<organizationId>{state.org_id}</organizationId>"
            "<organizationName>Acme GTM (Canary sandbox)</organizationName>"
            f"<userEmail>{escape(user['Email'])}</userEmail>"
            f"<userFullName>{escape(user['Name'] or '')}</userFullName>"
            f"<userId>{user['Id']}</userId>"
            f"<userName>{escape(user['Username'])}</userName>"
            "<userTimeZone>GMT</userTimeZone>"
            "</userInfo>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(body, media_type="text/xml")

    async def unknown_resource(request: Request, version: str, rest: str) -> Response:
        running_user(request)
        raise not_found()

    # -- controls (not Salesforce: for tests, the demo and the chat page) -------------------

    async def recorded_requests(request: Request) -> Response:
        return _json(
            state.requests_matching(
                method=request.query_params.get("method"),
                path_prefix=request.query_params.get("path_prefix"),
            )
        )

    async def reset(request: Request) -> Response:
        state.reset()
        return _json({"ok": True})

    async def records(request: Request, sobject_name: str) -> Response:
        definition = definition_of(sobject_name)
        include_deleted = request.query_params.get("include_deleted", "").lower() == "true"
        rows = state.all(definition.name, include_deleted=include_deleted)
        return _json([state.render(r) for r in rows])

    async def validation_rules(request: Request) -> Response:
        if request.method == "GET":
            return _json(
                [r.to_dict() for r in state.validation_rules if isinstance(r, ValidationRule)]
            )
        body = await _json_body(request)
        name = str(body.get("name") or "")
        if not name:
            return _json({"error": "a validation rule needs a name"}, 400)
        if body.get("condition"):
            rule = ValidationRule(
                name=name,
                sobject=str(body.get("sobject") or ""),
                message=str(body.get("message") or f"Validation rule {name} failed."),
                condition=str(body["condition"]),
                enabled=bool(body.get("enabled", True)),
                error_field=body.get("error_field"),
            )
            state.add_rule(rule)
            return _json(rule.to_dict(), 201)
        try:
            rule = state.set_rule_enabled(name, bool(body.get("enabled", True)))
        except KeyError:
            return _json({"error": f"no validation rule named {name!r}"}, 404)
        return _json(rule.to_dict())

    data = "/services/data/{version}"
    router.add_api_route("/services/data", versions, methods=["GET"])
    router.add_api_route("/services/data/", versions, methods=["GET"], include_in_schema=False)
    route(data, ["GET"], resources)
    route(f"{data}/sobjects", ["GET"], describe_global)
    route(f"{data}/limits", ["GET"], limits)
    route(f"{data}/sobjects/{{sobject_name}}", ["GET", "POST"], sobject_root)
    route(f"{data}/sobjects/{{sobject_name}}/describe", ["GET"], describe)
    route(f"{data}/sobjects/{{sobject_name}}/{{record_id}}", ["GET", "PATCH", "DELETE"], record)
    route(
        f"{data}/sobjects/{{sobject_name}}/{{field_name}}/{{value}}",
        ["GET", "PATCH", "DELETE"],
        by_external_id,
    )
    route(f"{data}/query", ["GET"], query_handler(include_deleted=False))
    route(f"{data}/queryAll", ["GET"], query_handler(include_deleted=True))
    route(f"{data}/query/{{locator}}", ["GET"], query_more)
    route(f"{data}/queryAll/{{locator}}", ["GET"], query_more)
    router.add_api_route(
        f"{data}/{{rest:path}}",
        unknown_resource,
        methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
        include_in_schema=False,
    )
    route("/services/oauth2/token", ["POST"], oauth_token)
    route("/services/Soap/u/{version}", ["POST"], soap_login)
    router.add_api_route("/_sandbox/salesforce/requests", recorded_requests, methods=["GET"])
    router.add_api_route("/_sandbox/salesforce/reset", reset, methods=["POST"])
    router.add_api_route("/_sandbox/salesforce/records/{sobject_name}", records, methods=["GET"])
    for method in ("GET", "POST"):
        router.add_api_route(
            "/_sandbox/salesforce/validation-rules", validation_rules, methods=[method]
        )
    return router


__all__ = ["API_VERSION", "create_salesforce_router"]
