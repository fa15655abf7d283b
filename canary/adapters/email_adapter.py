"""E-mail over SMTP with the standard library's smtplib (blocking: activities run it in a
thread). STARTTLS is required when configured, never silently skipped: a relay that does not
offer it is refused, so credentials and customer data never cross the network in clear.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from canary.adapters.errors import PermanentError, TransientError
from canary.settings import Settings

SERVICE = "smtp"


def message_id(key: str, domain: str = "canary.local") -> str:
    """A Message-ID derived from a stable key (workflow + step), so a retried send carries the
    same id and mail clients show one message even if the relay delivered it twice."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


class EmailAdapter:
    def __init__(
        self,
        host: str,
        port: int = 587,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        sender: str = "canary@localhost",
        timeout: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.sender = sender
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailAdapter:
        host = settings.require("smtp_host", "to send e-mail (alerts and reports)")
        return cls(
            host,
            settings.smtp_port,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_starttls,
            settings.smtp_from,
        )

    def build(
        self, to: list[str], subject: str, text: str, html: str | None, msg_id: str
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(to)
        message["Subject"] = subject.replace("\n", " ")[:250]
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = msg_id
        message["X-Mailer"] = "Canary"
        message.set_content(text)
        if html:
            message.add_alternative(html, subtype="html")
        return message

    def send(
        self, to: list[str], subject: str, text: str, html: str | None, msg_id: str
    ) -> list[str]:
        """Send one message; returns the recipients the server accepted."""
        if not to:
            raise PermanentError(SERVICE, "no recipients", "no_recipients")
        message = self.build(to, subject, text, html, msg_id)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    if not smtp.has_extn("starttls"):
                        raise PermanentError(
                            SERVICE,
                            f"{self.host}:{self.port} does not offer STARTTLS; set "
                            "CANARY_SMTP_STARTTLS=false only for a trusted local relay",
                            "starttls_unavailable",
                        )
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused: dict[str, Any] = smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentError(SERVICE, f"login refused: {exc.smtp_code}", "auth") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentError(
                SERVICE, f"all recipients refused: {sorted(exc.recipients)}", "recipients"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            # 4xx is "try again later" in SMTP; 5xx is a refusal.
            error = TransientError if 400 <= exc.smtp_code < 500 else PermanentError
            raise error(SERVICE, f"{exc.smtp_code} {exc.smtp_error!r}", str(exc.smtp_code)) from exc
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
            raise TransientError(
                SERVICE, f"could not reach {self.host}:{self.port}: {exc}"
            ) from exc
        return [r for r in to if r not in refused]
