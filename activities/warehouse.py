"""The product warehouse as a diagnosis's lookup: whether a product account a report names
exists (the query is ``CANARY_APP_ACCOUNT_SQL``), so an SOP confirms it before naming it."""

from __future__ import annotations

from activities.calls import call
from activities.services import Services
from canary.models import AccountRef, Detection, EnrichOutput


class WarehouseHandlers:
    """The SOP's ``warehouse.*`` enrichers."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def app_account(self, detection: Detection) -> EnrichOutput:
        """The product account: ``app_account_found`` whenever the warehouse answered, and
        its name and domain to fill what the report left out."""
        app_id = (
            detection.subject.id
            if detection.subject.kind == "app_account"
            else detection.account.app_account_id
        )
        if not app_id:
            return EnrichOutput(facts={"app_account_found": False})
        rows = await call(
            lambda: self.services.warehouse.query(
                self.services.settings.app_account_sql, {"app_account_id": app_id}, max_rows=10
            )
        )
        if not rows:
            return EnrichOutput(facts={"app_account_found": False})
        row = rows[0]
        facts = {
            "app_account_found": True,
            "app_account_name": row.get("name"),
            "app_account_plan": row.get("plan"),
        }
        return EnrichOutput(
            facts={k: v for k, v in facts.items() if v is not None},
            account=AccountRef(
                app_account_id=str(row.get("app_account_id") or app_id),
                name=row.get("name"),
                domain=row.get("domain"),
            ),
        )
