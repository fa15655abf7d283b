"""A ``requests.Session`` that lets the real simple-salesforce client reach the sandbox.

simple-salesforce always builds ``https://`` URLs: from the instance URL for the REST API and
from ``https://{domain}.salesforce.com`` for logins. Canary's sandbox serves plain http on
loopback, so this session sends those https requests to the sandbox over http instead. Requests
for the sandbox's own host:port, and for any ``*.salesforce.com`` host (the login endpoints),
go to the sandbox; nothing built on this session can ever reach the real Salesforce.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter


def _is_salesforce_host(host: str) -> bool:
    host = host.lower()
    return host == "salesforce.com" or host.endswith(".salesforce.com")


class _SandboxAdapter(HTTPAdapter):
    def __init__(self, sandbox_netloc: str) -> None:
        super().__init__()
        self.sandbox_netloc = sandbox_netloc

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        if parts.scheme == "https" and (
            parts.netloc == self.sandbox_netloc or _is_salesforce_host(parts.hostname or "")
        ):
            request.url = urlunsplit(("http", self.sandbox_netloc, *parts[2:]))
            # The sandbox answers logins with an instance URL; this tells it the client
            # believes it speaks https, so that URL keeps routing through this session.
            request.headers["X-Forwarded-Proto"] = "https"
        return super().send(request, **kwargs)


class SandboxSalesforceSession(requests.Session):
    """``Salesforce(instance_url="https://127.0.0.1:PORT", session_id=..., session=this)``."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.netloc:
            raise ValueError(f"the sandbox base URL must be http://host:port, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.sandbox_netloc = parts.netloc
        self.mount("https://", _SandboxAdapter(parts.netloc))

    @property
    def instance_url(self) -> str:
        """The https instance URL to give simple-salesforce for this sandbox."""
        return f"https://{self.sandbox_netloc}"
