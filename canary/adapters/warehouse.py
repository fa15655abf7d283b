"""The SQL warehouse detectors read usage, spend and KPIs from, through SQLAlchemy.

Any SQLAlchemy URL works (PostgreSQL, Snowflake, BigQuery… with their dialect installed); the
default is an SQLite file the sandbox seeds. Queries come from the detector catalog as
``text()`` with ``:named`` parameters, and values are always bound (typed from the Python
value), never formatted into the SQL. Each query runs in a transaction that is rolled back,
so a catalog query cannot change the warehouse.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Date, DateTime, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import (
    TimeoutError as PoolTimeoutError,
)
from sqlalchemy.sql.expression import bindparam

from canary.adapters.errors import PermanentError, TransientError

SERVICE = "warehouse"
MAX_ROWS = 50_000


def _plain(value: Any) -> Any:
    """JSON-safe values: rows cross activity boundaries as plain data."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


class Warehouse:
    def __init__(self, url: str, **engine_options: Any) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            # An SQLite file in a folder that does not exist yet (.canary/ on a fresh clone).
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine_options.setdefault("pool_pre_ping", True)
        self.url = parsed.render_as_string(hide_password=True)
        self.engine: Engine = create_engine(url, **engine_options)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> Warehouse:
        return cls(settings.warehouse_url)

    def query(
        self, sql: str, params: Mapping[str, Any] | None = None, max_rows: int = MAX_ROWS
    ) -> list[dict[str, Any]]:
        """Rows of a read-only query as plain dicts. Only the parameters the SQL names are
        bound (a catalog query may use a subset of what the detector offers); dates and
        datetimes are bound with their SQL types so every dialect compares them natively."""
        statement = text(sql)
        wanted = set(statement.compile().params)
        given = {k: v for k, v in (params or {}).items() if k in wanted}
        missing = sorted(wanted - set(given))
        if missing:
            raise PermanentError(SERVICE, f"query needs parameters it was not given: {missing}")
        typed: list[Any] = []
        for name, value in given.items():
            if isinstance(value, datetime):
                typed.append(bindparam(name, type_=DateTime()))
            elif isinstance(value, date):
                typed.append(bindparam(name, type_=Date()))
        if typed:
            statement = statement.bindparams(*typed)
        try:
            with self.engine.connect() as connection:
                result = connection.execute(statement, given)
                columns = list(result.keys())
                rows = result.fetchmany(max_rows + 1)
                connection.rollback()
        except (OperationalError, InterfaceError, PoolTimeoutError) as exc:
            if isinstance(exc, OperationalError) and _is_schema_error(exc):
                raise PermanentError(SERVICE, _first_line(exc), "schema") from exc
            raise TransientError(
                SERVICE, f"could not query the warehouse: {_first_line(exc)}"
            ) from exc
        except DBAPIError as exc:
            raise PermanentError(SERVICE, _first_line(exc), "query") from exc
        except SQLAlchemyError as exc:
            raise PermanentError(SERVICE, _first_line(exc), "query") from exc
        if len(rows) > max_rows:
            raise PermanentError(
                SERVICE, f"query returned more than {max_rows} rows; aggregate it", "too_many"
            )
        return [{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in rows]

    def dispose(self) -> None:
        self.engine.dispose()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__


def _is_schema_error(exc: OperationalError) -> bool:
    # SQLite reports a missing table or column as an OperationalError; retrying cannot help.
    message = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return "no such table" in message or "no such column" in message or "syntax error" in message
