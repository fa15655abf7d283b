"""`python -m bench.profiled OUT MODULE [ARGS…]`: run a module under pyinstrument, every thread.

pyinstrument samples one thread; a Temporal worker runs workflow activations in a thread pool
and blocking SDK calls in ``asyncio.to_thread``, so each Python thread gets its own profiler
and the sessions are combined when the process stops (SIGINT). Samples of a thread waiting
for work (an idle pool thread, the event loop in ``select``) are dropped, so the report shows
where busy time went.
"""

from __future__ import annotations

import functools
import os
import runpy
import sys
import threading
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from pyinstrument.renderers import ConsoleRenderer
from pyinstrument.session import Session

IDLE_FRAMES = ("get\x00", "/selectors.py", "wait\x00")
INTERVAL = 0.002

_sessions: list[Session] = []
_lock = threading.Lock()
_thread_run = threading.Thread.run


def _profiled_run(self: threading.Thread) -> None:
    profiler = Profiler(interval=INTERVAL, async_mode="disabled")
    profiler.start()
    try:
        _thread_run(self)
    finally:
        session = profiler.stop()
        with _lock:
            _sessions.append(session)


def _idle(stack: list[str]) -> bool:
    """A pool thread blocked in queue.get → Condition.wait → lock.acquire, or the event loop
    in select/epoll: waiting for work, not doing any. uvloop (uvicorn's loop: the gateway's
    and the sandbox's) waits in its own C code, under ``asyncio.Runner.run`` with no Python
    frame of its own: a sample that ends there is the loop waiting too."""
    tail = stack[-3:]
    if any("/selectors.py" in frame for frame in tail) or tail[-1].startswith("SimpleQueue.get"):
        return True
    if tail[-1].startswith("run\x00") and tail[-1].split("\x00")[1].endswith("asyncio/runners.py"):
        return True
    return any(frame.startswith("get\x00") and "/queue.py" in frame for frame in tail) and any(
        frame.startswith("lock.acquire") or "threading.py" in frame for frame in tail
    )


#: Innermost frames that wait rather than compute: a socket answer, a lock, a sleep.
WAITING_LEAVES = (
    "socket.recv",
    "socket.send",
    "socket.connect",
    "lock.acquire",
    "RLock.acquire",
    "sleep",
    "select",
    "poll",
)


def on_cpu(session: Session) -> Session:
    """Only samples whose innermost frame computes (an estimate of CPU time per function)."""
    kept = [
        (stack, duration)
        for stack, duration in session.frame_records
        if not stack[-1].startswith(WAITING_LEAVES)
    ]
    return Session(
        frame_records=kept,
        start_time=session.start_time,
        duration=session.duration,
        min_interval=session.min_interval,
        max_interval=session.max_interval,
        sample_count=len(kept),
        start_call_stack=session.start_call_stack,
        target_description=session.target_description,
        cpu_time=session.cpu_time,
        sys_path=session.sys_path,
        sys_prefixes=session.sys_prefixes,
    )


def flat(session: Session, top: int = 60) -> str:
    """Busy time per function (inclusive, each function counted once per sample), the
    functions in Canary's own code marked, largest first."""
    total = sum(duration for _, duration in session.frame_records) or 1.0
    inclusive: dict[str, float] = {}
    own: dict[str, float] = {}
    for stack, duration in session.frame_records:
        for frame in set(stack):
            inclusive[frame] = inclusive.get(frame, 0.0) + duration
        if stack:
            own[stack[-1]] = own.get(stack[-1], 0.0) + duration

    def name(frame: str) -> str:
        function, _, rest = frame.partition("\x00")
        path, _, line = rest.partition("\x00")
        short = path.split("site-packages/")[-1].split("/work/main/")[-1]
        return f"{function}  {short}:{line.split(chr(1))[0]}"

    lines = [f"busy samples: {total:.1f} s across threads", "", "inclusive  self   function"]
    ranked = sorted(inclusive.items(), key=lambda item: -item[1])
    shown = 0
    for frame, seconds in ranked:
        label = name(frame)
        if "bench/profiled.py" in label or label.startswith(("_run_code", "_run_module")):
            continue
        mark = "*" if "canary/" in label else " "
        lines.append(f"{seconds / total:8.1%} {own.get(frame, 0.0) / total:6.1%} {mark} {label}")
        shown += 1
        if shown >= top:
            break
    return "\n".join(lines)


def _busy(session: Session) -> Session:
    """The session without samples whose innermost frame is waiting for work."""
    kept = [
        (stack, duration) for stack, duration in session.frame_records if stack and not _idle(stack)
    ]
    session.frame_records = kept
    session.sample_count = len(kept)
    return session


def _exit_here(code: int) -> None:
    raise SystemExit(code)


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    out, module, *args = sys.argv[1:]
    threading.Thread.run = _profiled_run  # type: ignore[method-assign]
    # The `canary` command leaves with os._exit once finished (see starter.cli.main);
    # here it must come back, so the report is written.
    os._exit = _exit_here  # type: ignore[assignment]
    sys.argv = [module, *args]
    profiler = Profiler(interval=INTERVAL, async_mode="disabled")
    profiler.start()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        main_session = profiler.stop()
        with _lock:
            sessions = [_busy(s) for s in [main_session, *_sessions]]
        combined = functools.reduce(Session.combine, sessions)
        options: dict[str, Any] = {"processor_options": {"filter_threshold": 0.01}}
        tree = ConsoleRenderer(unicode=True, color=False, show_all=False, **options).render(
            combined
        )
        report = [
            "== computing (waits on sockets and locks dropped) ==",
            flat(on_cpu(combined), top=120),
            "",
            "== busy (computing or waiting on I/O) ==",
            flat(combined, top=60),
            "",
            tree,
        ]
        Path(out).write_text("\n".join(report))


if __name__ == "__main__":
    main()
