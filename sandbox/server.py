"""Running the sandbox: in a background thread on a free port (tests, benchmarks), or in the
foreground for ``canary sandbox``."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from sandbox.app import create_app
from sandbox.state import Sandbox, SandboxConfig


class SandboxServer:
    """The sandbox on a free port in a background thread (tests, benchmarks)."""

    def __init__(
        self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        if port == 0:
            with socket.socket() as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
        self.host, self.port = host, port
        self.config = config or SandboxConfig()
        if not self.config.public_url:
            self.config.public_url = self.url
        self.sandbox = Sandbox(self.config)
        self.app = create_app(sandbox=self.sandbox)
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> SandboxServer:
        self._thread = threading.Thread(target=self._server.run, name="canary-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the sandbox did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run(host: str, port: int, config: SandboxConfig) -> None:
    """``canary sandbox``: serve until interrupted."""
    if not config.public_url:
        config.public_url = f"http://{host}:{port}"
    # No access log: every call is already recorded, with its body and answer, at
    # /_sandbox/requests, and a log line per call costs CPU that a burst of calls feels.
    uvicorn.run(create_app(config), host=host, port=port, log_level="info", access_log=False)
