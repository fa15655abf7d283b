"""The worker and the gateway read the SOP catalog when they start: the first detection does
not wait on it, and a broken catalog stops them with where and why, before any webhook or
remediation meets it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from canary.catalog import cached_catalog
from canary.settings import get_settings
from starter.cli import app

BROKEN = "sops:\n  payment_failed:\n    title: Payment failed\n    severity: catastrophic\n"


@pytest.fixture
def broken_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(BROKEN)
    monkeypatch.setenv("CANARY_CATALOG", str(catalog))
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_canary")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-canary")
    # Nothing listens here: a worker that read the catalog after connecting would say so.
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:9")
    get_settings.cache_clear()
    cached_catalog.cache_clear()
    # The commands set up Canary's logging on the root logger: put the test run's back after.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield catalog
    root.handlers[:] = handlers
    root.setLevel(level)
    get_settings.cache_clear()
    cached_catalog.cache_clear()


@pytest.mark.parametrize("command", ["worker", "gateway"])
def test_a_broken_catalog_stops_the_process_at_start_saying_where(
    broken_catalog: Path, command: str
) -> None:
    arguments = [command, "--port", "9"] if command == "gateway" else [command]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 2, result.output
    assert str(broken_catalog) in result.output
    assert "invalid SOP catalog" in result.output


def test_the_worker_reads_the_catalog_before_it_connects(
    broken_catalog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read once, at start, and kept: a process that starts has its catalog in the cache."""
    broken_catalog.unlink()
    monkeypatch.delenv("CANARY_CATALOG")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["worker"])
    # With a good catalog the worker gets as far as Temporal, which is not there.
    assert result.exit_code == 2, result.output
    assert "invalid SOP catalog" not in result.output
    assert cached_catalog.cache_info().currsize == 1
