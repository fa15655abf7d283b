"""An SMTP sink for the sandbox and the tests: accepts every message (aiosmtpd), keeps it in
memory, and shows what it received at ``GET /_sandbox/mail`` so a person or a test can check
exactly what Canary sent."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import APIRouter
from pydantic import BaseModel, Field


class ReceivedMail(BaseModel):
    mail_from: str
    rcpt_tos: list[str]
    subject: str = ""
    message_id: str | None = None
    text: str = ""
    html: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    received_at: datetime


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        text_part = parsed.get_body(preferencelist=("plain",))
        html_part = parsed.get_body(preferencelist=("html",))
        self.sink._record(
            ReceivedMail(
                mail_from=str(envelope.mail_from or ""),
                rcpt_tos=[str(r) for r in envelope.rcpt_tos],
                subject=str(parsed.get("Subject", "")),
                message_id=parsed.get("Message-ID"),
                text=text_part.get_content() if text_part is not None else "",
                html=html_part.get_content() if html_part is not None else None,
                headers={k: str(v) for k, v in parsed.items()},
                received_at=datetime.now(UTC),
            )
        )
        return "250 Message accepted for delivery"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    """``start()`` serves SMTP on ``host:port`` (a free port when 0) in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._port = port
        self._controller: Controller | None = None
        self._lock = threading.Lock()
        self._messages: list[ReceivedMail] = []

    @property
    def port(self) -> int:
        return self._port

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._messages)

    def _record(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._messages.append(mail)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def start(self) -> SmtpSink:
        if self._controller is not None:
            return self
        if not self._port:
            self._port = _free_port(self.host)
        controller = Controller(_Handler(self), hostname=self.host, port=self._port)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def create_mail_router(sink: SmtpSink) -> APIRouter:
    router = APIRouter(tags=["sandbox: e-mail"])

    @router.get("/_sandbox/mail", response_model=list[ReceivedMail])
    def received_mail() -> list[ReceivedMail]:
        """Every message the SMTP sink received, oldest first."""
        return sink.messages

    @router.delete("/_sandbox/mail", status_code=204)
    def clear_mail() -> None:
        """Forget the received messages (between demo runs or tests)."""
        sink.clear()

    return router
