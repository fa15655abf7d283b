"""A worker loads an outside system's SDK when it first builds that system's adapter: one that
never reaches Stripe, Salesforce or the warehouse does not carry their ~40 MB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["stripe", "simple_salesforce", "zeep", "lxml", "sqlalchemy", "fastapi", "slack_bolt"]


def loaded_after(script: str) -> list[str]:
    listing = "import sys, json\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    probe = f"{script}\n{listing}"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [m for m in json.loads(out.stdout.splitlines()[-1]) if m in HEAVY]


def test_the_worker_module_loads_no_sdk_it_has_not_called() -> None:
    assert loaded_after("import worker") == []


def test_building_an_adapter_loads_its_sdk() -> None:
    script = """
import worker
from activities.services import Services
from canary.settings import Settings
services = Services(Settings(_env_file=None, STRIPE_API_KEY="sk_test_x", CANARY_WAREHOUSE_URL="sqlite://"))
services.stripe
services.warehouse
"""
    assert loaded_after(script) == ["sqlalchemy", "stripe"]
