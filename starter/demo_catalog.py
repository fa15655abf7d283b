"""The demo's catalog: the default one, with the soft decline plan retrying in seconds.

`canary up --scenario` runs on the real clock, so a plan of days cannot play out while someone
watches. The demo writes this catalog into its data directory and points every process at it
(``CANARY_CATALOG``); its retries come seconds after a failure where the default plan's come
days after, and the banner says so. `canary up` alone keeps the default catalog.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from canary.catalog import load_catalog
from canary.catalog.loader import DEFAULT_CATALOG

#: The demo's soft plan: retries this long after the failure (ISO 8601), instead of days.
DEMO_RETRIES = ("PT20S", "PT40S", "PT1M")
DEMO_CATALOG_FILE = "demo-catalog.yaml"

_HEADER = """\
# Written by `canary up --scenario` on every start: Canary's default catalog, except that the
# soft decline plan retries {retries} after the failure instead of over days, so the demo
# shows a recovery while you watch. Edit canary/catalog/sops/default.yaml, not this file.
"""


def write_demo_catalog(data_dir: Path) -> Path:
    """Write the demo's catalog into ``data_dir`` and return its path; it is validated here,
    so a bad one stops `canary up` rather than the worker."""
    data = yaml.safe_load(DEFAULT_CATALOG.read_text())
    soft = data["recovery"]["plans"]["soft"]
    for calendar in ("days", "paydays"):
        soft.pop(calendar, None)
    soft["after"] = list(DEMO_RETRIES)
    # Its own version: a remediation pins the version of the catalog that diagnosed it.
    data["version"] = f"{data['version']}-demo"
    path = data_dir / DEMO_CATALOG_FILE
    path.write_text(
        _HEADER.format(retries=", ".join(DEMO_RETRIES))
        + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    )
    load_catalog(path)
    return path


def demo_plan_note(path: Path) -> list[str]:
    """The banner's lines on the demo's retries: seconds here, days in a real plan."""
    default = load_catalog().recovery.plan_for("soft")
    demo = load_catalog(path).recovery.plan_for("soft")
    return [
        f"  Retry plan      in SECONDS for the demo: a soft decline is {demo.describe()}",
        f"                  (a real plan runs in days: {default.describe()}; catalog {path})",
    ]
