"""The HTTP sessions of the SDKs that call through requests: Stripe's and simple-salesforce.

A worker makes their calls from up to :data:`CALL_THREADS` threads at once (its pool for
blocking calls), so a session keeps as many connections to its host. With requests' default
of ten, a burst of lookups discards connections and opens new ones (each a TLS handshake
against the real services), warning "Connection pool is full" each time.

While a session's ``trust_env`` is on, requests reads the proxy variables (two scans of the
whole environment) and ~/.netrc on every call: a fifth of a Stripe call's CPU in a worker.
A session made for one host looks its proxy up once (HTTPS_PROXY, NO_PROXY for that host);
one that reaches hosts it learns later (a Salesforce login, then the instance it names) reads
the environment on each call, as requests does.
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter

#: Blocking outside calls (Stripe, Salesforce, the warehouse) in flight at once, per worker:
#: the size of its thread pool for them, and of each session's connection pool.
CALL_THREADS = 32


def pooled_adapter() -> HTTPAdapter:
    """A connection pool for one host, one connection per call thread."""
    return HTTPAdapter(pool_connections=1, pool_maxsize=CALL_THREADS)


def pooled_session(host_url: str | None, adapter: HTTPAdapter | None = None) -> requests.Session:
    """A session whose pool serves every call thread. Given ``host_url``, the only host it
    calls, its proxy is read from the environment now, once."""
    session = requests.Session()
    if host_url is not None:
        session.proxies.update(requests.utils.get_environ_proxies(host_url))
        session.trust_env = False
    pool = adapter or pooled_adapter()
    session.mount("https://", pool)
    session.mount("http://", pool)
    return session
