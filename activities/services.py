"""The outside systems the activities reach, each adapter built from settings when first
used: a setting that one feature needs fails that feature (naming the variable), not the
worker's start. Tests pass their own adapters. ``close()`` closes the connections an adapter
keeps open between calls (Slack's session) when the worker stops.

An adapter's module (and so its SDK) is imported when the adapter is first built: a worker
that never reaches Salesforce or the warehouse never loads simple-salesforce or SQLAlchemy."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from canary.adapters import SlackAdapter
from canary.adapters.email_adapter import EmailAdapter
from canary.settings import Settings, get_settings

if TYPE_CHECKING:
    from canary.adapters.salesforce_adapter import SalesforceAdapter
    from canary.adapters.stripe_adapter import StripeAdapter
    from canary.adapters.warehouse import Warehouse


class Services:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        stripe: StripeAdapter | None = None,
        slack: SlackAdapter | None = None,
        salesforce: SalesforceAdapter | None = None,
        email: EmailAdapter | None = None,
        warehouse: Warehouse | None = None,
        temporal: Client | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self._stripe = stripe
        self._slack = slack
        self._salesforce = salesforce
        self._email = email
        self._warehouse = warehouse
        #: Temporal itself, for the activities that start or read workflows (None: they
        #: fail or do without, as each one says).
        self.temporal = temporal

    def require_temporal(self) -> Client:
        if self.temporal is None:
            raise ApplicationError("no Temporal client on this worker", non_retryable=True)
        return self.temporal

    async def close(self) -> None:
        """Close the Slack adapter's pooled connections, if it was built or given (used again,
        it opens new ones)."""
        slack = self.__dict__.get("slack") or self._slack
        if slack is not None:
            await slack.close()

    @cached_property
    def stripe(self) -> StripeAdapter:
        if self._stripe is not None:
            return self._stripe
        from canary.adapters.stripe_adapter import StripeAdapter

        key = self.settings.require("stripe_api_key", "to read invoices and retry payments")
        return StripeAdapter(key, self.settings.stripe_api_base)

    @cached_property
    def slack(self) -> SlackAdapter:
        if self._slack is not None:
            return self._slack
        token = self.settings.require("slack_bot_token", "to post alerts to Slack")
        return SlackAdapter(token, self.settings.slack_api_url)

    @cached_property
    def salesforce(self) -> SalesforceAdapter:
        if self._salesforce is not None:
            return self._salesforce
        from canary.adapters.salesforce_adapter import SalesforceAdapter

        return SalesforceAdapter.from_settings(self.settings)

    @cached_property
    def email(self) -> EmailAdapter:
        return self._email or EmailAdapter.from_settings(self.settings)

    @cached_property
    def warehouse(self) -> Warehouse:
        if self._warehouse is not None:
            return self._warehouse
        from canary.adapters.warehouse import Warehouse

        return Warehouse.from_settings(self.settings)
