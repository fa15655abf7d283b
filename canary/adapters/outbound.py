"""Outbound calls to URLs that outside data names (a workflow tool's retry URL): only over
https, only to hosts a setting lists, only to public addresses, never following a redirect.

A URL passes :meth:`OutboundGuard.check` before any request: https; no user name or password;
a host on the allow-list (exact, case-insensitive; an IP literal only if listed as such); and
every address the host resolves to public (no private, loopback, link-local such as the cloud
metadata address 169.254.169.254, multicast, reserved or unspecified address).

Against DNS rebinding (a name that resolves to a public address for the check and to an
internal one for the request), the host is resolved once and the request connects to the
address that was checked: the URL sent to httpx names that address, the ``Host`` header names
the host, and httpcore's ``sni_hostname`` extension makes TLS send the host as SNI and verify
the certificate against it. No second lookup happens, so there is nothing to rebind.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

#: Short on purpose: a workflow tool answers a retry request at once or not at all, and an
#: activity waiting on a slow host holds a worker slot.
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class OutboundRefused(Exception):
    """A URL that may not be called, with the reason in words an operator understands."""


@dataclass(frozen=True)
class CheckedURL:
    """A URL that passed the guard, and the one address the request may connect to."""

    url: httpx.URL
    host: str
    address: IPAddress


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for ``host`` (IPv4 and IPv6)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OutboundRefused(f"host {host} does not resolve ({exc.strerror})") from exc
    # sockaddr[0] is the address; an IPv6 one may carry a zone ("fe80::1%eth0").
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def why_not_public(address: IPAddress) -> str | None:
    """What kind of non-public address this is, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    for kind, flagged in (
        ("an unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local (cloud metadata)", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a private", address.is_private),
        ("a reserved", address.is_reserved),
        ("a non-public", not address.is_global),
    ):
        if flagged:
            return f"{kind} address"
    return None


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@dataclass(frozen=True)
class OutboundGuard:
    """The allow-list a URL must pass, and the client that calls it.

    ``hosts`` comes from ``setting`` (named in refusals so an operator knows what to set).
    ``resolver``, ``transport``, ``verify`` and ``reachable_for_tests`` are for tests, passed in
    code, never read from the environment: a fake resolver, a mocked transport, an SSL context
    trusting a local test CA, and addresses (127.0.0.1 for a local test server) that may be
    reached although they are not public.
    """

    hosts: frozenset[str]
    setting: str
    resolver: Resolver | None = None
    transport: httpx.AsyncBaseTransport | None = None
    verify: ssl.SSLContext | bool = True
    reachable_for_tests: frozenset[IPAddress] = field(default_factory=frozenset)

    @classmethod
    def for_hosts(cls, hosts: Iterable[str], setting: str, **options: Any) -> OutboundGuard:
        return cls(frozenset(h.strip().lower() for h in hosts if h.strip()), setting, **options)

    async def check(self, raw_url: str) -> CheckedURL:
        """The URL and the address to connect to, or :class:`OutboundRefused`."""
        try:
            url = httpx.URL(raw_url)
        except httpx.InvalidURL as exc:
            raise OutboundRefused(f"{raw_url!r} is not a valid URL ({exc})") from exc
        if url.scheme != "https":
            raise OutboundRefused(f"only https URLs are called, not {url.scheme or 'none'}://")
        if url.userinfo:
            raise OutboundRefused("the URL carries a user name or password")
        # The ASCII (IDNA) form is what is resolved and sent; either form may be listed.
        host = url.raw_host.decode("ascii").lower()
        if not host:
            raise OutboundRefused("the URL names no host")
        if not self.hosts:
            raise OutboundRefused(
                f"no host is allowed: set {self.setting} to the hosts that may be called"
            )
        if host not in self.hosts and url.host.lower() not in self.hosts:
            raise OutboundRefused(f"host {host} is not in {self.setting}")
        port = url.port or 443
        literal = _ip_literal(host)
        resolver = self.resolver or resolve
        addresses = [literal] if literal is not None else await resolver(host, port)
        if not addresses:
            raise OutboundRefused(f"host {host} does not resolve")
        for address in addresses:
            kind = None if address in self.reachable_for_tests else why_not_public(address)
            if kind is not None:
                raise OutboundRefused(f"host {host} resolves to {address}, {kind}")
        return CheckedURL(url=url, host=host, address=addresses[0])

    @asynccontextmanager
    async def post(
        self, raw_url: str, *, json: Any, headers: Mapping[str, str]
    ) -> AsyncIterator[httpx.Response]:
        """POST to a checked URL at its checked address; the response's body is left unread.

        Redirects are not followed: a 3xx is handed back as it is."""
        checked = await self.check(raw_url)
        pinned = checked.url.copy_with(host=str(checked.address))
        extensions = {} if _ip_literal(checked.host) else {"sni_hostname": checked.host}
        async with (
            httpx.AsyncClient(
                timeout=TIMEOUT,
                follow_redirects=False,
                trust_env=False,  # no proxy from the environment: the checked address is called
                verify=self.verify,
                transport=self.transport,
            ) as client,
            client.stream(
                "POST",
                pinned,
                json=json,
                headers={**headers, "Host": checked.url.netloc.decode("ascii")},
                extensions=extensions,
            ) as response,
        ):
            yield response


def status_class(status_code: int) -> str:
    """The status class ("2xx", "4xx", …): what is reported of an answer, never its body."""
    return f"{status_code // 100}xx"
