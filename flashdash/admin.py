"""The Admin page's reads: users and roles, the store, jobs, the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from flashdash import jobs_log, schedule
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
            "audit": store.frame("audit_recent", con, limit=200),
            "path": str(store.path),
            "size_mb": store.path.stat().st_size / 1e6,
            "data_version": store.version(),
        }


def jobs_overview(store: Store, actor: Actor, now: datetime) -> dict[str, Any]:
    """Each job with its schedule, last run, last success, failures since, and next run; the scheduler's
    state; and how fresh the figures the jobs derive are."""
    _require_admin(actor)
    status = schedule.scheduler_status(store)
    last = {r["job"]: r for r in jobs_log.last_runs(store).iter_rows(named=True)}
    pending = {r["job"] for r in schedule.pending_requests(store)}
    rows = []
    for spec in schedule.JOBS.values():
        spec = spec.as_scheduled(status["schedules"].get(spec.name))
        run = last.get(spec.name, {})
        if not spec.enabled():
            next_run = None
        elif status["running"]:
            next_run = status["next_runs"].get(spec.name)
        else:
            next_run = spec.next_after(now)
        finished, started = run.get("finished_at"), run.get("started_at")
        rows.append({
            "job": spec.name, "what": spec.description,
            "schedule": spec.schedule() if spec.enabled() else "off",
            "last_status": run.get("status") or "never run", "last_started": started,
            "last_seconds": (finished - started).total_seconds() if finished and started else None,
            "rows_written": run.get("rows_written"), "last_ok": run.get("last_ok_at"),
            "failures_since_ok": run.get("failures_since_ok") or 0, "next_run": next_run,
            "requested": spec.name in pending, "error": run.get("error"),
        })
    jobs = pl.DataFrame(rows, schema={
        "job": pl.String, "what": pl.String, "schedule": pl.String, "last_status": pl.String,
        "last_started": pl.Datetime("us"), "last_seconds": pl.Float64, "rows_written": pl.Int64,
        "last_ok": pl.Datetime("us"), "failures_since_ok": pl.Int64, "next_run": pl.Datetime("us"),
        "requested": pl.Boolean, "error": pl.String})
    return {"jobs": jobs, "scheduler": status, "freshness": schedule.freshness_table(schedule.freshness(store, now))}


def job_history(store: Store, actor: Actor, job: str = "", status: str = "", limit: int = 200) -> pl.DataFrame:
    _require_admin(actor)
    return jobs_log.history(store, job, status, limit)
