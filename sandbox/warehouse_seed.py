"""Demo warehouse: product usage, spend and KPIs for the Salesforce sandbox's customers.

Deterministic (fixed figures and a fixed noise pattern, dates relative to the seeding day) and
consistent with the sandbox org (the same app account ids and Salesforce account ids). The
stories it carries, one per detector boundary:

* Globex — steady ~$9.2k a week for eleven weeks, then $3.1k last week: a sharp spend drop.
* Hooli — steady ~$15k a week, then $31.5k last week (their expansion): a sharp spend rise.
* Umbrella — steady all along: checked, nothing to say.
* Initech — a customer for three weeks: too little history for a baseline, and only 9 of its
  60 seats active using 2 of 6 features: low adoption.
* Wayne — a pilot with a single week of data: one data point, never an alert.
* Stark, Hooli Labs, Soylent — workspaces of this week that no Salesforce account carries.
* KPIs — payment failure rate jumps to 7.9 % yesterday (threshold 5 %); calls resolved per
  minute stays near 2.1 (alert under 1.5).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    insert,
)

from sandbox.salesforce.seed import SEED_IDS

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("app_account_id", String(64), primary_key=True),
    Column("crm_account_id", String(18)),
    Column("name", String(255), nullable=False),
    Column("domain", String(255)),
    Column("plan", String(64)),
    Column("seats", Integer, nullable=False),
)
weekly_account_metrics = Table(
    "weekly_account_metrics",
    metadata,
    Column("app_account_id", String(64), primary_key=True),
    Column("week_start", Date, primary_key=True),
    Column("spend_cents", Integer, nullable=False),
    Column("active_users", Integer, nullable=False),
    Column("api_calls", Integer, nullable=False),
)
feature_usage = Table(
    "feature_usage",
    metadata,
    Column("app_account_id", String(64), primary_key=True),
    Column("week_start", Date, primary_key=True),
    Column("feature", String(64), primary_key=True),
    Column("active_users", Integer, nullable=False),
    Column("events", Integer, nullable=False),
)
kpis = Table(
    "kpis",
    metadata,
    Column("kpi", String(64), primary_key=True),
    Column("title", String(255), nullable=False),
    Column("unit", String(32), nullable=False),
)
kpi_daily = Table(
    "kpi_daily",
    metadata,
    Column("kpi", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("value", Float, nullable=False),
)

FEATURES = ("dashboards", "alerts", "api", "sso", "reports", "workflows")
# A fixed, zero-mean-ish wiggle so the steady weeks look like real data and stay well inside
# two standard deviations of each other.
NOISE = (0.012, -0.018, 0.006, 0.021, -0.009, -0.015, 0.017, -0.004, 0.010, -0.022, 0.003, 0.008)
WEEKS = 12


# app account → (Salesforce handle, name, domain, plan, seats, weekly spend in cents, weekly
# active users, features used, weeks of history, last week's spend, last week's active users)
ACCOUNTS: dict[str, dict[str, Any]] = {
    "app_globex": {
        "crm": "globex",
        "name": "Globex Corporation",
        "domain": "globex.example",
        "plan": "Enterprise",
        "seats": 120,
        "spend": 920_000,
        "users": 95,
        "features": 6,
        "weeks": WEEKS,
        "last_spend": 310_000,
        "last_users": 61,
    },
    "app_hooli": {
        "crm": "hooli",
        "name": "Hooli",
        "domain": "hooli.example",
        "plan": "Enterprise",
        "seats": 200,
        "spend": 1_500_000,
        "users": 170,
        "features": 5,
        "weeks": WEEKS,
        "last_spend": 3_150_000,
        "last_users": 188,
    },
    "app_umbrella": {
        "crm": "umbrella",
        "name": "Umbrella Corp",
        "domain": "umbrella.example",
        "plan": "Business",
        "seats": 80,
        "spend": 600_000,
        "users": 52,
        "features": 5,
        "weeks": WEEKS,
        "last_spend": None,
        "last_users": None,
    },
    "app_initech": {
        "crm": "initech",
        "name": "Initech",
        "domain": "initech.example",
        "plan": "Growth",
        "seats": 60,
        "spend": 120_000,
        "users": 9,
        "features": 2,
        "weeks": 3,
        "last_spend": None,
        "last_users": None,
    },
    "app_wayne": {
        "crm": "wayne",
        "name": "Wayne Enterprises",
        "domain": "wayne.example",
        "plan": "Pilot",
        "seats": 20,
        "spend": 50_000,
        "users": 12,
        "features": 4,
        "weeks": 1,
        "last_spend": None,
        "last_users": None,
    },
    # Signed up this week (no complete week of usage yet) and linked to no CRM account: the
    # unlinked-accounts sweep finds it, and Salesforce's Stark Industries matches its domain.
    "app_stark": {
        "crm": None,
        "name": "Stark Industries",
        "domain": "stark.example",
        "plan": "Trial",
        "seats": 10,
        "spend": 0,
        "users": 0,
        "features": 0,
        "weeks": 0,
        "last_spend": None,
        "last_users": None,
    },
    # Two more workspaces of this week that no CRM account carries, which the product reports
    # to Canary itself (the demo's scenario): Hooli Labs shares its domain with two Salesforce
    # accounts (Hooli, Hooli Europe), Soylent with none. Reports on them are confirmed here.
    "app_hooli_labs": {
        "crm": None,
        "name": "Hooli Labs",
        "domain": "hooli.example",
        "plan": "Trial",
        "seats": 5,
        "spend": 0,
        "users": 0,
        "features": 0,
        "weeks": 0,
        "last_spend": None,
        "last_users": None,
    },
    "app_soylent": {
        "crm": None,
        "name": "Soylent",
        "domain": "soylent.example",
        "plan": "Trial",
        "seats": 5,
        "spend": 0,
        "users": 0,
        "features": 0,
        "weeks": 0,
        "last_spend": None,
        "last_users": None,
    },
}

KPIS: dict[str, dict[str, Any]] = {
    "payment_failure_rate": {
        "title": "Payment failure rate",
        "unit": "ratio",
        "base": 0.024,
        "wiggle": 0.2,
        "last": 0.079,
    },
    "calls_resolved_per_minute": {
        "title": "Calls resolved per minute",
        "unit": "per_minute",
        "base": 2.1,
        "wiggle": 0.5,
        "last": 2.05,
    },
}
KPI_DAYS = 28


def last_complete_week(today: date) -> date:
    """The Monday that starts the most recent complete week before ``today``."""
    return today - timedelta(days=today.weekday() + 7)


def week_starts(today: date, weeks: int = WEEKS) -> list[date]:
    last = last_complete_week(today)
    return [last - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


def rows_for(today: date) -> dict[str, list[dict[str, Any]]]:
    """Every seeded row by table, computed (no I/O) so tests can reason about the figures."""
    all_weeks = week_starts(today)
    data: dict[str, list[dict[str, Any]]] = {
        "accounts": [],
        "weekly_account_metrics": [],
        "feature_usage": [],
        "kpis": [],
        "kpi_daily": [],
    }
    for app_id, spec in ACCOUNTS.items():
        data["accounts"].append(
            {
                "app_account_id": app_id,
                "crm_account_id": SEED_IDS[spec["crm"]] if spec["crm"] else None,
                "name": spec["name"],
                "domain": spec["domain"],
                "plan": spec["plan"],
                "seats": spec["seats"],
            }
        )
        weeks = all_weeks[-spec["weeks"] :] if spec["weeks"] else []
        for i, week in enumerate(weeks):
            wiggle = NOISE[(i + len(app_id)) % len(NOISE)]
            last = i == len(weeks) - 1
            spend = round(spec["spend"] * (1 + wiggle))
            users = max(1, round(spec["users"] * (1 + wiggle)))
            if last and spec["last_spend"] is not None:
                spend = spec["last_spend"]
            if last and spec["last_users"] is not None:
                users = spec["last_users"]
            data["weekly_account_metrics"].append(
                {
                    "app_account_id": app_id,
                    "week_start": week,
                    "spend_cents": spend,
                    "active_users": users,
                    "api_calls": users * 340,
                }
            )
            for n, feature in enumerate(FEATURES):
                used = n < spec["features"]
                data["feature_usage"].append(
                    {
                        "app_account_id": app_id,
                        "week_start": week,
                        "feature": feature,
                        "active_users": max(1, users // (n + 1)) if used else 0,
                        "events": users * (40 - 5 * n) if used else 0,
                    }
                )
    for kpi, spec in KPIS.items():
        data["kpis"].append({"kpi": kpi, "title": spec["title"], "unit": spec["unit"]})
        for i in range(KPI_DAYS):
            day = today - timedelta(days=KPI_DAYS - i)
            value = spec["base"] * (1 + spec["wiggle"] * NOISE[i % len(NOISE)] * 5)
            if i == KPI_DAYS - 1:
                value = spec["last"]
            data["kpi_daily"].append({"kpi": kpi, "day": day, "value": round(value, 4)})
    return data


def seed_warehouse(target: str | Engine, today: date | None = None) -> dict[str, int]:
    """Create the tables (if missing) and replace their contents with the demo data.

    Returns the row count per table. Safe to run again: it is the same data every time for
    the same day.
    """
    engine = create_engine(target) if isinstance(target, str) else target
    today = today or datetime.now(UTC).date()
    data = rows_for(today)
    metadata.create_all(engine)
    tables = {t.name: t for t in metadata.sorted_tables}
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(delete(table))
        for name, rows in data.items():
            if rows:
                connection.execute(insert(tables[name]), rows)
    if isinstance(target, str):
        engine.dispose()
    return {name: len(rows) for name, rows in data.items()}
