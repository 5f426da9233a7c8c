"""The record of scheduled job runs (table job_runs): one row per run, opened as it starts, closed as it ends.

Each record is its own short write unit, separate from the job's work, so a failed job still leaves
its 'failed' row and a crashed one leaves a 'running' row behind as evidence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from flashdash.store import Store

STATUSES = ("running", "ok", "failed")
MAX_ERROR = 2000  # characters of error text kept per run


def start(store: Store, job: str, now: datetime) -> int:
    """Record that `job` started at `now`; returns the run's id."""
    with store.write() as con:
        return store.scalar("job_run_start", con, job=job, started_at=now)


def finish(
    store: Store, run_id: int, now: datetime, status: str, rows_written: int | None = None, error: str | None = None
) -> None:
    """Close a run with its outcome."""
    if status not in STATUSES[1:]:
        raise ValueError(f"A finished run is 'ok' or 'failed', not {status!r}.")
    if error is not None and len(error) > MAX_ERROR:
        error = error[: MAX_ERROR - 1] + "…"
    with store.write() as con:
        store.run("job_run_finish", con, id=run_id, finished_at=now, status=status, rows_written=rows_written,
                  error=error)


def get(store: Store, run_id: int) -> dict[str, Any] | None:
    rows = store.frame("job_run_by_id", id=run_id)
    return rows.row(0, named=True) if not rows.is_empty() else None


def last_runs(store: Store) -> pl.DataFrame:
    """The latest run of each job (job, started_at, finished_at, status, rows_written, error)."""
    return store.frame("job_last_runs")
