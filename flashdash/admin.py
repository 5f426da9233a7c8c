"""The Admin page's reads: users and roles, the store, jobs, the audit trail."""

from __future__ import annotations

from typing import Any

from flashdash.access import AccessDenied, Actor
from flashdash.store import Store


def _require_admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise AccessDenied("Only admins can read the Admin views.")


def overview(store: Store, actor: Actor) -> dict[str, Any]:
    _require_admin(actor)
    with store.read() as con:
        return {
            "users": store.frame("users_all", con),
            "tables": store.frame("store_summary", con),
            "schema_version": store.scalar("schema_version", con),
            "jobs": store.frame("job_runs_recent", con, limit=50),
            "audit": store.frame("audit_recent", con, limit=200),
            "path": str(store.path),
            "size_mb": store.path.stat().st_size / 1e6,
            "data_version": store.version(),
        }
