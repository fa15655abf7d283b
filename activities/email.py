"""E-mail: ``canary.send_email`` sends one message over SMTP. Its Message-ID is derived from a
stable key (workflow + step), so a retried send carries the same id."""

from __future__ import annotations

from temporalio import activity

from activities.calls import call
from activities.services import Services
from canary.adapters.email_adapter import message_id
from canary.models.detectors import EmailInput, EmailOutput


class EmailActivities:
    def __init__(self, services: Services) -> None:
        self.services = services

    @activity.defn(name="canary.send_email")
    async def send_email(self, request: EmailInput) -> EmailOutput:
        msg_id = message_id(request.message_id_key)
        accepted = await call(
            self.services.email.send,
            request.to,
            request.subject,
            request.text,
            request.html,
            msg_id,
        )
        return EmailOutput(message_id=msg_id, accepted=accepted)
