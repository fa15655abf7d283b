"""Salesforce's error bodies: a JSON *list* of ``{"errorCode", "message", "fields"?}``.

simple-salesforce hands that list to Canary untouched (``exc.content``), and Canary's adapter
reads ``errorCode`` from its first element, so the sandbox must produce the same shape.
"""

from __future__ import annotations

from typing import Any


class SalesforceApiError(Exception):
    """Raised anywhere in the sandbox; the router turns it into Salesforce's HTTP answer."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(body)
        self.status = status
        self.body = body

    @property
    def error_code(self) -> str | None:
        if isinstance(self.body, list) and self.body and isinstance(self.body[0], dict):
            return self.body[0].get("errorCode")
        return None


def api_error(
    status: int, code: str, message: str, fields: list[str] | None = None
) -> SalesforceApiError:
    entry: dict[str, Any] = {"errorCode": code, "message": message}
    if fields is not None:
        entry["fields"] = fields
    return SalesforceApiError(status, [entry])


def not_found(message: str = "The requested resource does not exist") -> SalesforceApiError:
    return api_error(404, "NOT_FOUND", message)


def no_such_column(field: str, sobject: str) -> SalesforceApiError:
    return api_error(
        400,
        "INVALID_FIELD",
        f"No such column '{field}' on sobject of type {sobject}",
        [],
    )


def json_parser_error(message: str) -> SalesforceApiError:
    return api_error(400, "JSON_PARSER_ERROR", message)
