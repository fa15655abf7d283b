"""The benchmark's own stack: a Temporal dev server, the sandbox, the gateway, Canary's worker
and the floor's worker, each a child process exactly as `canary up` runs them, on free ports.
The two-worker figures add a second of each (``worker2``, ``floor2``) on the same task queue,
as running `canary worker` twice does.

Every child's CPU time and memory are readable from /proc, so the report can say where the
time went (the sandbox's share is counted separately from Canary's own processes).
"""

from __future__ import annotations

import compileall
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from canary import search_attributes as sa
from starter.stack import port_free as _port_free
from starter.stack import temporal_binary, wait_for_port

CANARY_QUEUE = "bench-canary"
STRIPE_KEY = "sk_test_bench_" + secrets.token_hex(6)
SLACK_TOKEN = "xoxb-bench-" + secrets.token_hex(6)
WEBHOOK_SECRET = "whsec_bench_" + secrets.token_hex(12)
SIGNING_SECRET = "bench-signing-" + secrets.token_hex(12)
API_TOKEN = "bench-api-" + secrets.token_hex(12)
SALESFORCE_TOKEN = "00DSANDBOX!bench-" + secrets.token_hex(6)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: The Temporal SDK's workflow cache counters, as the bench names them.
CACHE_METRICS = {
    "temporal_sticky_cache_hit": "hits",
    "temporal_sticky_cache_miss": "misses",
    "temporal_sticky_cache_total_forced_eviction": "evictions",
}


def free_port() -> int:
    import socket

    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        # The dev server also takes port+1000 for its UI unless headless; we run headless.
        if _port_free(port):
            return port
    raise RuntimeError("no free port")


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    #: Where this process's output starts in its log (a restarted part appends to its log).
    log_offset: int = 0
    #: The Temporal runtime's Prometheus endpoint of a worker (Canary's or the floor's).
    metrics_url: str | None = None

    def output(self) -> str:
        """What this process has written to its log so far."""
        with open(self.log, "rb") as handle:
            handle.seek(self.log_offset)
            return handle.read().decode(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def workflow_cache(self) -> dict[str, int]:
        """The worker's workflow cache counters so far (Temporal's sticky cache metrics):
        hits, misses and forced evictions; empty when it serves no metrics."""
        if self.metrics_url is None:
            return {}
        try:
            text = httpx.get(self.metrics_url, timeout=5.0).text
        except httpx.HTTPError:
            return {}
        counts = dict.fromkeys(CACHE_METRICS.values(), 0)
        for line in text.splitlines():
            name, _, rest = line.partition("{")
            if name in CACHE_METRICS:
                counts[CACHE_METRICS[name]] += int(float(rest.rsplit(" ", 1)[1]))
        return counts

    def cpu_seconds(self) -> float:
        """User + system CPU of this process (its threads included)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def memory_mb(self) -> tuple[float, float]:
        """(current RSS, peak RSS) in MB, from /proc/<pid>/status."""
        values = {"VmRSS": 0.0, "VmHWM": 0.0}
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in values:
                    values[key] = int(rest.split()[0]) / 1024
        except OSError:
            pass
        return values["VmRSS"], values["VmHWM"]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


@dataclass
class BenchStack:
    run_dir: Path
    profile_dir: Path | None = None
    temporal_port: int = field(default_factory=free_port)
    sandbox_port: int = field(default_factory=free_port)
    gateway_port: int = field(default_factory=free_port)
    children: dict[str, Child] = field(default_factory=dict)

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CANARY_", "STRIPE_"))}
        env.update(
            {
                "TEMPORAL_ADDRESS": self.temporal_address,
                "CANARY_TASK_QUEUE": CANARY_QUEUE,
                "STRIPE_API_KEY": STRIPE_KEY,
                "STRIPE_API_BASE": self.sandbox_url,
                "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "CANARY_STRIPE_DASHBOARD_URL": f"{self.sandbox_url}/dashboard",
                "SLACK_BOT_TOKEN": SLACK_TOKEN,
                "SLACK_API_URL": f"{self.sandbox_url}/api/",
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SALESFORCE_INSTANCE_URL": self.sandbox_url,
                "SALESFORCE_ACCESS_TOKEN": SALESFORCE_TOKEN,
                "CANARY_API_TOKEN": API_TOKEN,
                "CANARY_GATEWAY_URL": self.gateway_url,
                "CANARY_WAREHOUSE_URL": f"sqlite:///{self.run_dir / 'warehouse.db'}",
                "PYTHONUNBUFFERED": "1",
            }
        )
        # One worker's cache bound, given to Canary's workers as to the floor's (a run scaled
        # down with the bound scaled too sees the replays of a full run).
        cache = os.environ.get("BENCH_MAX_CACHED_WORKFLOWS")
        if cache:
            env["CANARY_MAX_CACHED_WORKFLOWS"] = cache
        env.update(extra)
        return env

    def spawn(self, name: str, args: list[str], **env: str) -> Child:
        log = self.run_dir / f"{name}.log"
        offset = log.stat().st_size if log.exists() else 0
        handle = open(log, "ab")  # noqa: SIM115 - lives as long as the child
        proc = subprocess.Popen(
            args,
            env=self.env(**env),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        child = Child(name, proc, log, offset)
        self.children[name] = child
        return child

    def python(self, name: str, module: str, *args: str) -> list[str]:
        """``python -m module``, under pyinstrument when profiling this part."""
        profiled = name.startswith("worker") or name in ("gateway", "sandbox")
        if self.profile_dir is not None and profiled:
            out = self.profile_dir / f"profile-{name}.txt"
            return [sys.executable, "-m", "bench.profiled", str(out), module, *args]
        return [sys.executable, "-m", module, *args]

    # -- parts ----------------------------------------------------------------------------

    def start_temporal(self) -> None:
        child = self.spawn(
            "temporal",
            [
                temporal_binary(),
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.temporal_port),
                "--log-level",
                "error",
                *sa.cli_flags(),
                *os.environ.get("BENCH_TEMPORAL_FLAGS", "").split(),
            ],
        )
        wait_for_port(self.temporal_port, "Temporal dev server", child.proc)

    def start_sandbox(self) -> None:
        child = self.spawn(
            "sandbox",
            self.python(
                "sandbox",
                "starter.cli",
                "sandbox",
                "--port",
                str(self.sandbox_port),
                "--interactivity-url",
                f"{self.gateway_url}/slack/actions",
            ),
        )
        wait_for_port(self.sandbox_port, "sandbox", child.proc)

    def start_gateway(self) -> None:
        child = self.spawn(
            "gateway",
            self.python("gateway", "starter.cli", "gateway", "--port", str(self.gateway_port)),
        )
        wait_for_port(self.gateway_port, "gateway", child.proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"{self.gateway_url}/healthz", timeout=2).json()
                if health.get("temporal") == "connected":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the gateway did not connect to Temporal")

    def start_worker(self, name: str = "worker", **env: str) -> Child:
        """A `canary worker` on the bench's task queue (``worker2`` is a second one)."""
        args = self.python(name, "starter.cli", "worker")
        return self.spawn_with_metrics(name, args, "CANARY_PROMETHEUS_BIND", **env)

    def start_floor_worker(self, name: str = "floor", **env: str) -> Child:
        args = [sys.executable, "-m", "bench.floor"]
        return self.spawn_with_metrics(name, args, "BENCH_PROMETHEUS_BIND", **env)

    def spawn_with_metrics(self, name: str, args: list[str], bind: str, **env: str) -> Child:
        """A worker serving its Temporal runtime's metrics on a port of its own (``bind``
        names the variable it reads the address from)."""
        port = free_port()
        child = self.spawn(name, args, **{bind: f"127.0.0.1:{port}", **env})
        child.metrics_url = f"http://127.0.0.1:{port}/metrics"
        return child

    def restart(self, name: str, **env: str) -> Child:
        self.stop(name)
        if name.startswith("worker"):
            return self.start_worker(name, **env)
        if name.startswith("floor"):
            return self.start_floor_worker(name, **env)
        raise ValueError(name)

    def stop(self, name: str) -> None:
        child = self.children.pop(name, None)
        if child is not None:
            # SIGINT lets pyinstrument write its report; everything else stops on it too.
            child.stop(signal.SIGINT if self.profile_dir else signal.SIGTERM, timeout=60)

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # Deployed code runs from bytecode (pip compiles it at install; the Dockerfile's
        # PYTHONDONTWRITEBYTECODE only stops writing more). An editable checkout under that
        # variable has none, and Temporal's workflow sandbox then recompiles the workflow
        # modules from source for every workflow it instantiates. Compile once, like an install.
        root = Path(__file__).resolve().parent.parent
        for package in ("canary", "bench"):
            compileall.compile_dir(str(root / package), quiet=1)
        self.start_temporal()
        self.start_sandbox()
        self.start_gateway()

    def fresh_temporal(self) -> None:
        """An empty dev server in place of the running one, on a port of its own, and the
        gateway and the workers started again against it. The dev server keeps every history
        in memory: a storm that starts on the earlier figures' tens of thousands of workflows
        measures a fuller server than the floor's, and a full run exhausted this machine's
        memory that way (bench/README.md)."""
        workers = [n for n in self.children if n.startswith(("worker", "floor"))]
        for name in ("gateway", *workers, "temporal"):
            self.stop(name)
        self.temporal_port = free_port()
        self.start_temporal()
        self.start_gateway()
        for name in workers:
            self.restart(name)

    def close(self) -> None:
        workers = [n for n in self.children if n.startswith(("worker", "floor"))]
        for name in ("gateway", *workers, "sandbox", "temporal"):
            self.stop(name)

    def check(self) -> None:
        dead = [c.name for c in self.children.values() if not c.alive()]
        if dead:
            tails = {
                name: self.children[name].log.read_text(errors="replace")[-2000:] for name in dead
            }
            raise RuntimeError(f"bench children exited: {dead}\n{tails}")

    def usage(self) -> dict[str, Any]:
        return {name: child.cpu_seconds() for name, child in self.children.items()}
