"""Adapter errors, free of Temporal: activities translate them into retry decisions."""

from __future__ import annotations


class AdapterError(Exception):
    """Base class: ``service`` says which system refused, ``code`` its error code if any."""

    def __init__(self, service: str, message: str, code: str | None = None) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.code = code
        self.detail = message


class TransientError(AdapterError):
    """Worth retrying: a timeout, a 5xx, a 429. ``retry_after`` honours the server's wish."""

    def __init__(
        self, service: str, message: str, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(service, message, code)
        self.retry_after = retry_after


class PermanentError(AdapterError):
    """Retrying cannot help: bad credentials, an invalid request, a missing object."""


class PaymentDeclined(Exception):
    """The bank declined the payment: an answer, not a failure of the call."""

    def __init__(self, message: str, code: str | None, decline_code: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.decline_code = decline_code
