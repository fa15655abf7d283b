"""`canary up`'s own files in its data directory: the API token it keeps across runs, and
the Temporal database `--scenario` sets aside."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from canary.catalog import load_catalog
from canary.codec import parse_payload_keys
from canary.settings import TOKEN_MIN_LENGTH
from starter.demo_catalog import DEMO_CATALOG_FILE, DEMO_RETRIES
from starter.stack import (
    API_TOKEN_FILE,
    CODEC_TOKEN_FILE,
    PAYLOAD_KEYS_FILE,
    Ports,
    Stack,
    StackError,
    set_temporal_db_aside,
)


@pytest.fixture(autouse=True)
def no_token_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CANARY_API_TOKEN", raising=False)


def token_of(data_dir: Path) -> str:
    return Stack(Ports(), data_dir).build_env()["CANARY_API_TOKEN"]


def test_the_token_is_made_once_and_kept_for_its_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh-clone" / ".canary"
    first = token_of(data_dir)
    assert len(first) >= TOKEN_MIN_LENGTH
    stored = data_dir / API_TOKEN_FILE
    assert stored.read_text().strip() == first
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert token_of(data_dir) == first  # the next run: a saved login still works
    assert token_of(tmp_path / "another") != first


def test_a_token_opened_to_others_is_closed_again(tmp_path: Path) -> None:
    first = token_of(tmp_path)
    (tmp_path / API_TOKEN_FILE).chmod(0o644)
    assert token_of(tmp_path) == first
    assert stat.S_IMODE((tmp_path / API_TOKEN_FILE).stat().st_mode) == 0o600


def test_canary_api_token_wins_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = "my-own-token-for-the-dashboard-0123456789"
    monkeypatch.setenv("CANARY_API_TOKEN", mine)
    stack = Stack(Ports(), tmp_path)
    assert stack.build_env()["CANARY_API_TOKEN"] == mine
    assert not (tmp_path / API_TOKEN_FILE).exists()
    assert stack.token_source() == "CANARY_API_TOKEN"


def test_a_damaged_token_file_stops_canary_up_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / API_TOKEN_FILE).write_text("short\n")
    with pytest.raises(StackError) as error:
        token_of(tmp_path)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / API_TOKEN_FILE} is too short")
    assert f"Delete {tmp_path / API_TOKEN_FILE}" in message


def test_the_scenario_sets_the_temporal_database_aside(tmp_path: Path) -> None:
    assert set_temporal_db_aside(tmp_path) is None  # a first run: nothing to set aside
    for name, text in (("temporal.db", "run 2"), ("temporal.db-wal", "run 2 log"),
                       ("temporal.previous.db", "run 1"),
                       ("temporal.previous.db-shm", "run 1 shm")):  # fmt: skip
        (tmp_path / name).write_text(text)
    (tmp_path / API_TOKEN_FILE).write_text("kept")
    previous = set_temporal_db_aside(tmp_path)
    assert previous == tmp_path / "temporal.previous.db"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        API_TOKEN_FILE, "temporal.previous.db", "temporal.previous.db-wal"
    ]  # fmt: skip
    assert previous.read_text() == "run 2"
    assert (tmp_path / "temporal.previous.db-wal").read_text() == "run 2 log"


def test_encrypt_makes_a_payload_key_and_codec_token_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CANARY_PAYLOAD_KEYS", raising=False)
    monkeypatch.delenv("CANARY_CODEC_TOKEN", raising=False)
    first = Stack(Ports(), tmp_path, encrypt=True).build_env()
    [key] = parse_payload_keys(first["CANARY_PAYLOAD_KEYS"])
    assert len(key.key) == 32 and key.key_id.startswith("demo-")
    again = Stack(Ports(), tmp_path, encrypt=True).build_env()
    for name in ("CANARY_PAYLOAD_KEYS", "CANARY_CODEC_TOKEN"):
        assert again[name] == first[name], "histories encrypted earlier still read"
    for name in (PAYLOAD_KEYS_FILE, CODEC_TOKEN_FILE):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    plain = Stack(Ports(), tmp_path / "plain").build_env()
    assert "CANARY_PAYLOAD_KEYS" not in plain and "CANARY_CODEC_TOKEN" not in plain


def test_a_damaged_payload_key_file_stops_canary_up_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CANARY_PAYLOAD_KEYS", raising=False)
    (tmp_path / PAYLOAD_KEYS_FILE).write_text("demo:not-a-key\n")
    with pytest.raises(StackError, match=PAYLOAD_KEYS_FILE):
        Stack(Ports(), tmp_path, encrypt=True).build_env()


def test_only_the_scenario_runs_the_demo_catalog_whose_plan_retries_in_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CANARY_CATALOG", raising=False)
    plain = Stack(Ports(), tmp_path / "up")
    assert "CANARY_CATALOG" not in plain.build_env() and plain.demo_plan_note() == []
    assert not (tmp_path / "up" / DEMO_CATALOG_FILE).exists()

    demo = Stack(Ports(), tmp_path / "demo", demo_plan=True)
    path = Path(demo.build_env()["CANARY_CATALOG"])
    assert path == (tmp_path / "demo" / DEMO_CATALOG_FILE).resolve()
    default, catalog = load_catalog(), load_catalog(path)
    # The default catalog but for its version and the soft plan's schedule.
    assert catalog.version == f"{default.version}-demo"
    soft = catalog.recovery.plan_for("soft")
    assert soft.after == tuple(TypeAdapter(timedelta).validate_python(s) for s in DEMO_RETRIES)
    assert soft.model_dump(exclude={"after", "days", "paydays"}) == default.recovery.plan_for(
        "soft"
    ).model_dump(exclude={"after", "days", "paydays"})
    assert not soft.days and not soft.paydays
    assert catalog.model_dump(exclude={"version", "recovery"}) == default.model_dump(
        exclude={"version", "recovery"}
    )
    assert catalog.recovery.model_dump(exclude={"plans": {"soft"}}) == default.recovery.model_dump(
        exclude={"plans": {"soft"}}
    )
    # The banner says the retries run in seconds where a real plan runs in days.
    note = "\n".join(demo.demo_plan_note())
    assert "in SECONDS for the demo" in note and soft.describe() in note
    assert f"a real plan runs in days: {default.recovery.plan_for('soft').describe()}" in note

    # A catalog of one's own is kept, and the banner names it.
    monkeypatch.setenv("CANARY_CATALOG", "/srv/catalog")
    own = Stack(Ports(), tmp_path / "own", demo_plan=True)
    assert own.build_env()["CANARY_CATALOG"] == "/srv/catalog"
    assert not (tmp_path / "own" / DEMO_CATALOG_FILE).exists()
    assert own.demo_plan_note() == ["  Catalog         /srv/catalog (CANARY_CATALOG)"]


def test_socket_mode_gives_the_gateway_an_app_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    plain = Stack(Ports(), tmp_path / "http")
    assert "SLACK_APP_TOKEN" not in plain.build_env() and plain.socket_mode_note() == []

    socket = Stack(Ports(), tmp_path / "socket", socket_mode=True)
    env = socket.build_env()
    assert env["SLACK_APP_TOKEN"].startswith("xapp-")
    assert env["SLACK_API_URL"] == f"{socket.sandbox_url}/api/"
    assert "Socket Mode" in socket.banner()

    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-mine")
    own = Stack(Ports(), tmp_path / "own", socket_mode=True)
    assert own.build_env()["SLACK_APP_TOKEN"] == "xapp-1-mine"
