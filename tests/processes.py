"""Canary parts as real child processes, for fault tests that kill them: a worker started the
way production starts it (`canary worker`) and a Temporal dev server on its own database file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from canary import search_attributes as sa
from starter.stack import temporal_binary, wait_for_port
from tests.stack import SLACK_TOKEN, STRIPE_KEY, LiveStack, free_port


def worker_env(live: LiveStack, temporal_address: str, **extra: str) -> dict[str, str]:
    """The environment `canary worker` needs to serve ``live``'s task queue and sandbox."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CANARY_", "STRIPE_", "SLACK_", "SALESFORCE_", "TEMPORAL_"))
    }
    settings = live.settings
    env.update(
        {
            "TEMPORAL_ADDRESS": temporal_address,
            "CANARY_TASK_QUEUE": settings.task_queue,
            "STRIPE_API_KEY": STRIPE_KEY,
            "STRIPE_API_BASE": live.sandbox.url,
            "CANARY_STRIPE_DASHBOARD_URL": f"{live.sandbox.url}/dashboard",
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_API_URL": f"{live.sandbox.url}/api/",
            "SALESFORCE_INSTANCE_URL": live.sandbox.url,
            "SALESFORCE_ACCESS_TOKEN": str(settings.salesforce_access_token),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class Child:
    """One child process, its output appended to a log file."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.log = log
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Child:
        handle = open(self.log, "ab")  # noqa: SIM115 - the child holds it
        self.proc = subprocess.Popen(
            self.args,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        handle.close()
        self.starts += 1
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing, whatever it was doing is abandoned."""
        self.signal(signal.SIGKILL)

    def stop(self) -> None:
        self.signal(signal.SIGTERM)

    def signal(self, sig: int) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_output(self, text: str, timeout: float = 60.0, after: int = 0) -> None:
        """Until ``text`` appears in the log past offset ``after`` (e.g. a restart's banner)."""
        deadline = time.monotonic() + timeout
        while text not in self.output()[after:]:
            if not self.alive():
                raise AssertionError(f"{self.args[:4]} exited:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                tail = self.output()[-3000:]
                raise AssertionError(f"{text!r} not seen within {timeout}s:\n{tail}")
            time.sleep(0.1)


def canary_worker(env: dict[str, str], log: Path) -> Child:
    return Child([sys.executable, "-m", "starter.cli", "worker"], log, env)


class DevServer(Child):
    """`temporal server start-dev` on a fixed port and a database file, restartable."""

    def __init__(self, db: Path, log: Path) -> None:
        self.port = free_port()
        super().__init__(
            [
                temporal_binary(),
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--db-filename",
                str(db),
                "--log-level",
                "error",
                *sa.cli_flags(),
            ],
            log,
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> DevServer:
        super().start()
        assert self.proc is not None
        wait_for_port(self.port, "Temporal dev server", self.proc, timeout=60)
        return self


def running(*children: Any) -> list[str]:
    return [" ".join(c.args[:4]) for c in children if c.alive()]
