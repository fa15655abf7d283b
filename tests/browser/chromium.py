"""Debian's headless Chromium for the browser tests: run it on a page, read the DOM it
rendered (a small tree built from ``--dump-dom``) and the requests its NetLog recorded; or
drive it over the DevTools protocol (:class:`Browser`) on pages a person acts on."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest


def _chromium() -> str | None:
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


CHROMIUM = _chromium()
T = TypeVar("T")

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Kept away from everything Chromium does on its own at start (sign-in, time, components).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip


# -- a small DOM from Chromium's serialised document ------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self) -> list[Node]:
        found = [self]
        for child in self.children:
            if isinstance(child, Node):
                found += child.walk()
        return found

    def all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.walk()
            if (tag is None or n.tag == tag)
            and (cls is None or cls in n.attrs.get("class", "").split())
            and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def one(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, cls, **attrs)
        assert len(found) == 1, f"expected one <{tag} class={cls} {attrs}>, found {len(found)}"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


async def chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.fail(
            "Debian's chromium is not installed (/usr/bin/chromium): run `make browser` "
            "(apt-get install chromium, as root or with sudo); `make test` does it first"
        )
    profile = tmp_path / f"profile-{uuid.uuid4().hex[:6]}"
    done = await asyncio.to_thread(
        subprocess.run,
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def page_requests(net_log: Path) -> list[tuple[str, str]]:
    """(kind, URL) of every request Chromium made for a page whose top frame is a local site,
    from its NetLog (Chromium's own background requests belong to no such page)."""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    found = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] != start or "url" not in params:
            continue
        top_frame = params.get("network_isolation_key", "").split(" ")[0]
        if urlsplit(top_frame).hostname in LOCAL_HOSTS:
            found.append((params.get("request_type", "?"), params["url"]))
    return found


# -- a page to act on: Chromium driven over the DevTools protocol ------------------------------


class PageGone(RuntimeError):
    """The page navigated (or reloaded) while a script ran in it: ask again."""


class Browser:
    """One headless Chromium with one tab, driven over the DevTools protocol (a WebSocket),
    for pages a person acts on: open an address, press a button with the mouse, pick an
    option, type, and read the DOM the page shows now (``parse``'s tree).

    Started like :func:`chromium` (the same binary, flags and fresh profile), with
    ``--remote-debugging-port=0``: Chromium picks a free port and writes it in the profile's
    ``DevToolsActivePort``."""

    def __init__(self, tmp_path: Path) -> None:
        self.profile = tmp_path / f"profile-{uuid.uuid4().hex[:6]}"
        self._process: asyncio.subprocess.Process | None = None
        self._session: Any = None
        self._socket: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0

    async def __aenter__(self) -> Browser:
        import aiohttp

        if CHROMIUM is None:
            pytest.fail(
                "Debian's chromium is not installed (/usr/bin/chromium): run `make browser` "
                "(apt-get install chromium, as root or with sudo); `make test` does it first"
            )
        self._process = await asyncio.create_subprocess_exec(
            CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}",
            "--remote-debugging-port=0", "--window-size=1280,1000", "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        port_file = self.profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and len(port_file.read_text().splitlines()) >= 2:
                break
            assert self._process.returncode is None, "chromium exited while starting"
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as answer:
            [tab] = [t for t in await answer.json() if t["type"] == "page"]
        self._socket = await self._session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._socket is not None:
            await self._socket.close()
        if self._session is not None:
            await self._session.close()
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()

    async def _read(self) -> None:
        async for message in self._socket:
            data = json.loads(message.data)
            waiting = self._waiting.pop(data.get("id", -1), None)
            if waiting is not None and not waiting.done():
                waiting.set_result(data)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; its result, or PageGone when the page went away under it."""
        self._next_id += 1
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._next_id] = answer
        await self._socket.send_str(json.dumps({"id": self._next_id, "method": method,
                                                "params": params}))  # fmt: skip
        data = await asyncio.wait_for(answer, 30)
        if "error" in data:
            raise PageGone(f"{method}: {data['error']}")
        result: dict[str, Any] = data["result"]
        details = result.get("exceptionDetails")
        if details:
            text = (details.get("exception") or {}).get("description") or details.get("text")
            raise PageGone(f"{method}: {text}")
        return result

    async def evaluate(self, script: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=script, returnByValue=True)
        return result["result"].get("value")

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def dom(self) -> Node:
        """The document as the page shows it now (scripts ran, forms as the person left them).
        A document still being parsed (the page reloading) is PageGone: half of it would read
        as a page without what its end holds (an alert's buttons, a form's fields)."""
        html = await self.evaluate(
            'document.readyState === "loading" ? null : document.documentElement.outerHTML'
        )
        if html is None:
            raise PageGone("the document is still loading")
        return parse(str(html))

    async def wait_for(
        self, what: str, found: Callable[[Node], T | None], timeout: float = 20.0
    ) -> T:
        """Until ``found`` finds something on the page (it may load, reload or navigate in the
        meantime); fail saying ``what`` was awaited and what the page showed."""
        deadline = asyncio.get_running_loop().time() + timeout
        shown = ""
        while True:
            try:
                dom = await self.dom()
                body = dom.all("body")
                shown = " ".join((body[0] if body else dom).text().split())
                if (value := found(dom)) is not None and value is not False:
                    return value
            except (PageGone, AssertionError):
                pass  # between two documents
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the page never showed {what}; it showed:\n{shown[-3000:]}")
            await asyncio.sleep(0.2)

    async def press(self, selector: str) -> None:
        """Press the element ``selector`` names with the mouse, at its centre, as a person
        does: it must be on the page, visible and not covered by anything else."""
        box = await self.evaluate(
            f"""(() => {{
              const el = document.querySelector({json.dumps(selector)});
              if (!el) return null;
              el.scrollIntoView({{block: "center"}});
              const r = el.getBoundingClientRect();
              const x = r.left + r.width / 2, y = r.top + r.height / 2;
              const top = document.elementFromPoint(x, y);
              return {{x, y, covered: !(top === el || el.contains(top))}};
            }})()"""
        )
        assert box is not None, f"nothing on the page matches {selector}"
        assert not box["covered"], f"{selector} is covered by something else"
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"],
                button="left", clickCount=1,
            )  # fmt: skip

    async def choose(self, selector: str, label: str) -> None:
        """Pick the option shown as ``label`` in the select ``selector`` (as the person's
        choice would: the select's value changes and it fires ``change``)."""
        chosen = await self.evaluate(
            f"""(() => {{
              const select = document.querySelector({json.dumps(selector)});
              const option = select && [...select.options].find(
                o => o.text.trim() === {json.dumps(label)});
              if (!option) return false;
              select.value = option.value;
              select.dispatchEvent(new Event("change", {{bubbles: true}}));
              return true;
            }})()"""
        )
        assert chosen, f"no option {label!r} in {selector}"

    async def type_into(self, selector: str, text: str) -> None:
        """Focus the field ``selector`` and type ``text`` into it (waiting for the field, as a
        person waits for a page that is reloading)."""
        script = f"""(() => {{
          const el = document.querySelector({json.dumps(selector)});
          if (el) el.focus();
          return el !== null && document.activeElement === el;
        }})()"""
        for _ in range(100):
            if await self.evaluate(script):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"no field {selector} to type into")
        await self.send("Input.insertText", text=text)
