"""The SDKs' HTTP sessions: a connection per call thread, the proxy read once per host."""

from __future__ import annotations

import http.server
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from canary.adapters.salesforce_adapter import plain_http_session
from canary.adapters.sessions import CALL_THREADS, pooled_session


@pytest.fixture
def slow_server() -> Iterator[str]:
    """A local server answering each request after 50 ms, so calls from threads overlap."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            time.sleep(0.05)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.mark.parametrize("make", [pooled_session, plain_http_session])
def test_every_call_thread_keeps_its_connection(
    make: object, slow_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """As many calls at once as the worker has call threads, twice: no connection is thrown
    away (requests' default pool of ten would discard most of them, warning each time)."""
    session: requests.Session = make(slow_server)  # type: ignore[operator]
    caplog.set_level(logging.WARNING, logger="urllib3.connectionpool")
    with ThreadPoolExecutor(CALL_THREADS) as threads:
        for _ in range(2):
            answers = list(threads.map(lambda _: session.get(f"{slow_server}/x"), range(32)))
            assert {a.status_code for a in answers} == {200}
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_a_one_host_session_reads_its_proxy_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = pooled_session("https://api.stripe.com")
    assert session.proxies["https"] == "http://proxy.corp.example:3128"
    assert session.trust_env is False  # the environment is not read again on each call
    monkeypatch.setenv("NO_PROXY", "api.stripe.com")
    assert pooled_session("https://api.stripe.com").proxies.get("https") is None


def test_a_session_for_hosts_learnt_later_reads_the_environment_per_call() -> None:
    """A Salesforce login reaches the login host, then the instance it names."""
    assert pooled_session(None).trust_env is True
