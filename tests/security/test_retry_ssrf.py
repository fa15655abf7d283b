"""Issue 14, finding 2: ``source.retry`` posts to a URL a report names, so a report must not
steer it at internal addresses (SSRF).

Each attack names a retry URL the way a hostile report would. The test's network is fenced:
``socket.getaddrinfo`` answers from the test's own DNS table (a name not in it does not
resolve), and ``socket.connect`` to anything but 127.0.0.1 is recorded and refused before a
packet leaves, so no test sends traffic anywhere but 127.0.0.1, even against code without the
guard. A listener on 127.0.0.1 stands for the internal service and must receive nothing.

The accepted paths run against a real TLS server on 127.0.0.1 with a certificate for
``retry.example`` from a CA made here. The guard reaches it only through its test-only
allowance (``reachable_for_tests``, passed in code), and the certificate check proves the
request was pinned to the checked address while TLS still verified the host name.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.source import retry_at_source
from canary.adapters.outbound import OutboundGuard
from canary.catalog import load_catalog
from canary.models import Detection, StepInput
from canary.models.sop import Step
from canary.settings import get_settings

ALLOWED = "retry.example"
PUBLIC = "93.184.215.14"  # a public address; the fence refuses to connect to it
SECRET_BODY = "internal-token-8f3a"

# -- the fenced network ---------------------------------------------------------------------

_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


@dataclass
class Network:
    """The test's DNS table and every name looked up and address connected to."""

    dns: dict[str, list[list[str]]] = field(default_factory=dict)  # name → answers, in turn
    lookups: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # connections kept from leaving

    def answer(self, host: str) -> list[str]:
        answers = self.dns[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@pytest.fixture()
def network(monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    net = Network()

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        net.lookups.append(name)
        if _is_ip(name):
            return _real_getaddrinfo(name, port, *args, **kwargs)
        if name not in net.dns:
            raise socket.gaierror(socket.EAI_NONAME, f"{name} is not in the test's DNS")
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (ip, int(port or 0)),
            )
            for ip in net.answer(name)
        ]

    def fenced(real: Any) -> Any:
        def connect(sock: socket.socket, address: Any) -> Any:
            if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1"):
                net.refused.append(str(address[0]))
                raise ConnectionRefusedError(f"the test fence keeps {address[0]} unreached")
            return real(sock, address)

        return connect

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", fenced(_real_connect))
    monkeypatch.setattr(socket.socket, "connect_ex", fenced(_real_connect_ex))
    yield net


@pytest.fixture()
def retry_hosts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set CANARY_RETRY_HOSTS for the activity's own guard (the settings are cached)."""

    def configure(hosts: str) -> None:
        monkeypatch.setenv("CANARY_RETRY_HOSTS", hosts)
        get_settings.cache_clear()

    yield configure
    monkeypatch.delenv("CANARY_RETRY_HOSTS", raising=False)
    get_settings.cache_clear()


# -- a listener that stands for the internal service ------------------------------------------


@dataclass
class Listener:
    port: int
    connections: int = 0


@pytest.fixture()
async def internal() -> AsyncIterator[Listener]:
    listener = Listener(port=0)

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        listener.connections += 1
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    listener.port = server.sockets[0].getsockname()[1]
    async with server:
        yield listener


# -- a TLS server for retry.example on 127.0.0.1 ----------------------------------------------


@dataclass
class TLSServer:
    port: int
    client_context: ssl.SSLContext
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for retry.example it signed: (ca, cert, key) PEM files."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def build(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
            ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            ).add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("Canary test CA", ca_key, "Canary test CA", ca_key, ca=True)
    leaf = build(ALLOWED, leaf_key, "Canary test CA", ca_key, ca=False)
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


# What the TLS server answers, by path.
ANSWERS = {
    "/ok": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "/busy": b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: %d\r\n\r\n%s"
    % (len(SECRET_BODY), SECRET_BODY.encode()),
    "/gone": b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s"
    % (len(SECRET_BODY), SECRET_BODY.encode()),
    "/moved": b"HTTP/1.1 302 Found\r\nLocation: https://169.254.169.254/latest/meta-data/"
    b"\r\nContent-Length: 0\r\n\r\n",
}


@pytest.fixture()
async def tls_server(tmp_path: Path) -> AsyncIterator[TLSServer]:
    ca, cert, key = _certificates(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(ca))
    served = TLSServer(port=0, client_context=client_context)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            path = head[0].split(" ")[1]
            headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
            await reader.readexactly(int(headers.get("content-length", "0")))
            served.requests.append((path, headers))
            writer.write(ANSWERS[path])
            await writer.drain()
        except (asyncio.IncompleteReadError, ssl.SSLError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_context)
    served.port = server.sockets[0].getsockname()[1]
    async with server:
        yield served


def _test_guard(server: TLSServer) -> OutboundGuard:
    """The guard as configured with CANARY_RETRY_HOSTS=retry.example, plus the test-only
    allowance to reach the local TLS server and its CA."""
    return OutboundGuard.for_hosts(
        [ALLOWED],
        setting="CANARY_RETRY_HOSTS",
        verify=server.client_context,
        reachable_for_tests=frozenset({ipaddress.ip_address("127.0.0.1")}),
    )


# -- the step ---------------------------------------------------------------------------------


def _step(url: str) -> StepInput:
    """A retry step for a report from "zapier" naming ``url`` as its retry URL."""
    detection = Detection(
        id="run-ssrf",
        source="zapier",
        subject={"kind": "zap_run", "id": "run-ssrf"},
        message="Zap failed",
        facts={"retry_url": url},
    )
    return StepInput(
        workflow_id="canary:zapier:run-ssrf",
        step=Step(id="source-retry", action="source.retry", title="Ask the source to retry"),
        attempt_key="canary:zapier:run-ssrf/source-retry/1",
        detection=detection,
    )


async def _refused(url: str) -> str:
    """The refusal of ``url`` by the step as configured (CANARY_RETRY_HOSTS)."""
    with pytest.raises(ApplicationError) as refused:
        await retry_at_source(_step(url))
    assert refused.value.non_retryable, "a refused URL must not be retried"
    assert refused.value.type == "source.refused"
    return refused.value.message


# -- refused ----------------------------------------------------------------------------------

INTERNAL_ADDRESSES = [
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # the cloud metadata service
    "100.64.0.1",  # carrier-grade NAT: not private, not public either
    "0.0.0.0",
    "224.0.0.1",
    "[::ffff:10.0.0.1]",
    "[fd00::1]",
    "[fe80::1]",
]


@pytest.mark.parametrize("address", INTERNAL_ADDRESSES)
async def test_an_internal_address_is_refused_even_when_listed(
    address: str, network: Network, retry_hosts: Any
) -> None:
    # An operator listing an address does not make an internal one callable.
    retry_hosts(f"{ALLOWED},{address.strip('[]')}")
    message = await _refused(f"https://{address}/latest/meta-data/iam/security-credentials/")
    assert "address" in message
    assert network.refused == []


@pytest.mark.parametrize("address", ["127.0.0.1", "[::1]", "localhost"])
async def test_loopback_is_refused_and_the_local_service_hears_nothing(
    address: str, network: Network, retry_hosts: Any, internal: Listener
) -> None:
    network.dns["localhost"] = [["127.0.0.1"]]
    retry_hosts(f"{ALLOWED},{address.strip('[]')}")
    message = await _refused(f"https://{address}:{internal.port}/admin/flush")
    assert "loopback" in message
    await asyncio.sleep(0.05)
    assert internal.connections == 0 and network.refused == []


async def test_an_ip_literal_not_listed_is_refused(
    network: Network, retry_hosts: Any, internal: Listener
) -> None:
    retry_hosts(ALLOWED)
    message = await _refused(f"https://127.0.0.1:{internal.port}/")
    assert message == "retry URL refused: host 127.0.0.1 is not in CANARY_RETRY_HOSTS"
    assert internal.connections == 0


async def test_an_allowed_name_resolving_to_loopback_is_refused(
    network: Network, retry_hosts: Any, internal: Listener
) -> None:
    network.dns[ALLOWED] = [["127.0.0.1"]]
    retry_hosts(ALLOWED)
    message = await _refused(f"https://{ALLOWED}:{internal.port}/retry")
    assert message == (
        f"retry URL refused: host {ALLOWED} resolves to 127.0.0.1, a loopback address"
    )
    await asyncio.sleep(0.05)
    assert internal.connections == 0


async def test_one_internal_address_among_public_ones_is_enough_to_refuse(
    network: Network, retry_hosts: Any
) -> None:
    network.dns[ALLOWED] = [[PUBLIC, "169.254.169.254"]]
    retry_hosts(ALLOWED)
    assert "169.254.169.254" in await _refused(f"https://{ALLOWED}/retry")
    assert network.refused == []


async def test_dns_rebinding_finds_nothing_to_rebind(network: Network, internal: Listener) -> None:
    # The name answers a public address for the check, then loopback. The request goes to
    # the checked address (which the fence stops); the name is looked up once.
    network.dns[ALLOWED] = [[PUBLIC], ["127.0.0.1"]]
    guard = OutboundGuard.for_hosts([ALLOWED], setting="CANARY_RETRY_HOSTS")
    with pytest.raises(ApplicationError, match="unreachable"):
        await retry_at_source(_step(f"https://{ALLOWED}:{internal.port}/retry"), guard)
    assert network.lookups.count(ALLOWED) == 1
    assert network.refused == [PUBLIC]
    assert internal.connections == 0


@pytest.mark.parametrize(
    "url, reason",
    [
        (f"http://{ALLOWED}/retry", "only https URLs are called, not http://"),
        (f"https://user:pass@{ALLOWED}/retry", "the URL carries a user name or password"),
        (f"https://{ALLOWED}@10.0.0.1/retry", "the URL carries a user name or password"),
        ("https://evil.example/retry", "host evil.example is not in CANARY_RETRY_HOSTS"),
        (f"https://{ALLOWED}.evil.example/", f"host {ALLOWED}.evil.example is not in"),
        ("file:///etc/passwd", "only https URLs are called, not file://"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "only https URLs are called"),
    ],
)
async def test_a_url_off_the_allow_list_is_refused_before_any_lookup(
    url: str, reason: str, network: Network, retry_hosts: Any
) -> None:
    network.dns[ALLOWED] = [[PUBLIC]]
    retry_hosts(ALLOWED)
    assert reason in await _refused(url)
    assert network.lookups == [] and network.refused == []


async def test_the_host_list_matches_exactly_ignoring_case(
    network: Network, retry_hosts: Any
) -> None:
    network.dns["hooks.retry.example"] = [[PUBLIC]]
    retry_hosts("Retry.Example")
    assert "is not in CANARY_RETRY_HOSTS" in await _refused("https://hooks.retry.example/")
    network.dns[ALLOWED] = [["127.0.0.1"]]
    # The case differs, the host matches: the address check is what refuses it.
    assert "loopback" in await _refused("https://RETRY.example/")


async def test_without_the_setting_every_retry_url_is_refused(
    network: Network, retry_hosts: Any
) -> None:
    network.dns[ALLOWED] = [[PUBLIC]]
    retry_hosts("")
    message = await _refused(f"https://{ALLOWED}/retry")
    assert message == (
        "retry URL refused: no host is allowed: set CANARY_RETRY_HOSTS to the hosts that may "
        "be called"
    )
    assert network.lookups == []


async def test_a_redirect_to_an_internal_address_is_not_followed(
    network: Network, tls_server: TLSServer
) -> None:
    network.dns[ALLOWED] = [["127.0.0.1"]]
    done = await retry_at_source(
        _step(f"https://{ALLOWED}:{tls_server.port}/moved"), _test_guard(tls_server)
    )
    assert not done.ok and not done.resolved
    assert "3xx" in done.text and "169.254" not in done.text
    assert [path for path, _ in tls_server.requests] == ["/moved"]
    assert network.refused == []


# -- accepted, pinned, reported by class ------------------------------------------------------


async def test_an_allowed_host_is_called_at_the_checked_address_with_its_name(
    network: Network, tls_server: TLSServer
) -> None:
    network.dns[ALLOWED] = [["127.0.0.1"]]
    done = await retry_at_source(
        _step(f"https://{ALLOWED}:{tls_server.port}/ok"), _test_guard(tls_server)
    )
    assert done.ok and done.resolved
    assert done.text == "zapier accepted the retry (the source answered 2xx)."
    # TLS verified retry.example's certificate (SNI) though the socket went to 127.0.0.1.
    [(path, headers)] = tls_server.requests
    assert headers["host"] == f"{ALLOWED}:{tls_server.port}"
    assert headers["idempotency-key"]
    assert network.lookups.count(ALLOWED) == 1


async def test_a_5xx_is_reported_by_class_without_its_body(
    network: Network, tls_server: TLSServer
) -> None:
    network.dns[ALLOWED] = [["127.0.0.1"]]
    with pytest.raises(ApplicationError) as busy:
        await retry_at_source(
            _step(f"https://{ALLOWED}:{tls_server.port}/busy"), _test_guard(tls_server)
        )
    assert not busy.value.non_retryable  # a busy source is asked again
    assert busy.value.message == "retry not accepted yet: the source answered 5xx"
    assert SECRET_BODY not in busy.value.message and "503" not in busy.value.message


async def test_a_4xx_is_reported_by_class_without_its_body(
    network: Network, tls_server: TLSServer
) -> None:
    network.dns[ALLOWED] = [["127.0.0.1"]]
    done = await retry_at_source(
        _step(f"https://{ALLOWED}:{tls_server.port}/gone"), _test_guard(tls_server)
    )
    assert not done.ok
    assert done.text == "zapier refused the retry (the source answered 4xx)."
    assert SECRET_BODY not in done.model_dump_json()


async def test_a_certificate_for_another_name_is_not_accepted(
    network: Network, tls_server: TLSServer
) -> None:
    # The pinned address serves retry.example's certificate; a URL naming another listed host
    # that resolves there must fail TLS verification, not fall back to the address.
    network.dns["other.example"] = [["127.0.0.1"]]
    guard = OutboundGuard.for_hosts(
        [ALLOWED, "other.example"],
        setting="CANARY_RETRY_HOSTS",
        verify=tls_server.client_context,
        reachable_for_tests=frozenset({ipaddress.ip_address("127.0.0.1")}),
    )
    with pytest.raises(ApplicationError, match="unreachable"):
        await retry_at_source(_step(f"https://other.example:{tls_server.port}/ok"), guard)
    assert tls_server.requests == []


# -- who may press Retry ----------------------------------------------------------------------


def test_the_unknown_sops_retry_is_for_the_owner_revops_and_admins() -> None:
    unknown = next(sop for sop in load_catalog().sops if sop.type == "unknown")
    retry = next(action for action in unknown.actions if action.id == "retry")
    assert not retry.allowed.anyone
    assert retry.allowed.owner and "revops" in retry.allowed.groups
    assert retry.allowed.describe() == "the owner, members of @revops or Canary admins"
