"""The audit trail: every write through the domain layer appends who, when, what, before and after."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb


def record(
    con: duckdb.DuckDBPyConnection,
    actor: str,
    action: str,
    entity: str,
    entity_id: Any,
    now: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Append one audit record inside the caller's unit of work (so it commits or rolls back with it)."""
    con.execute(
        "INSERT INTO audit_log (id, logged_at, actor, action, entity, entity_id, before, after, reason) "
        "VALUES (nextval('audit_log_id_seq'), ?, ?, ?, ?, ?, ?, ?, ?)",
        [now, actor, action, entity, None if entity_id is None else str(entity_id),
         _json(before), _json(after), reason],
    )


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)
