"""The record of scheduled job runs (table job_runs): one row per run, opened as it starts, closed as it ends.

Each record is its own short write unit, separate from the job's work, so a failed job still leaves
its 'failed' row, and a killed one leaves a 'running' row that the next run closes as 'interrupted'
once it sees that the process which wrote it is gone.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import polars as pl

from flashdash.store import Store

STATUSES = ("running", "ok", "failed", "interrupted")
TRIGGERS = ("schedule", "start-up", "requested", "command")
MAX_ERROR = 2000  # characters of error text kept per run


def start(store: Store, job: str, now: datetime, trigger: str = "command", requested_by: str | None = None) -> int:
    """Record that `job` started at `now` in this process; returns the run's id."""
    if trigger not in TRIGGERS:
        raise ValueError(f"A run is started by one of {', '.join(TRIGGERS)}, not {trigger!r}.")
    with store.write(bump=False) as con:  # the Jobs tab reads runs uncached
        return store.scalar("job_run_start", con, job=job, started_at=now, trigger=trigger,
                            requested_by=requested_by, pid=os.getpid())


def finish(
    store: Store, run_id: int, now: datetime, status: str, rows_written: int | None = None, error: str | None = None
) -> None:
    """Close a run with its outcome."""
    if status not in ("ok", "failed"):
        raise ValueError(f"A finished run is 'ok' or 'failed', not {status!r}.")
    with store.write(bump=False) as con:  # the Jobs tab reads runs uncached
        store.run("job_run_finish", con, id=run_id, finished_at=now, status=status, rows_written=rows_written,
                  error=_clip(error))


def _clip(error: str | None) -> str | None:
    if error is not None and len(error) > MAX_ERROR:
        return error[: MAX_ERROR - 1] + "…"
    return error


def _process_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_interrupted(store: Store, now: datetime) -> list[int]:
    """Close as 'interrupted' every 'running' run whose process is gone (killed, machine stopped); their
    work was rolled back with their unfinished transaction. Returns the ids closed."""
    with store.read() as con:
        running = store.frame("job_runs_running", con)
    dead = [r for r in running.iter_rows(named=True) if r["pid"] != os.getpid() and not _process_alive(r["pid"])]
    if not dead:
        return []
    with store.write(bump=False) as con:  # the Jobs tab reads runs uncached
        for r in dead:
            who = f"pid {r['pid']}" if r["pid"] is not None else "a process that did not record its pid"
            store.run("job_run_interrupt", con, id=r["id"], finished_at=now,
                      error=f"Interrupted: the process that ran it ({who}) ended before the run finished; "
                            "nothing it was writing was kept.")
    return [r["id"] for r in dead]


def get(store: Store, run_id: int) -> dict[str, Any] | None:
    rows = store.frame("job_run_by_id", id=run_id)
    return rows.row(0, named=True) if not rows.is_empty() else None


def last_runs(store: Store) -> pl.DataFrame:
    """The latest run of each job (job, started_at, finished_at, status, rows_written, error, trigger,
    requested_by, last_ok_at, failures_since_ok)."""
    return store.frame("job_last_runs")


def history(store: Store, job: str = "", status: str = "", limit: int = 200) -> pl.DataFrame:
    """Recent runs, newest first, of one job and one status ('' for any)."""
    return store.frame("job_runs_history", job=job, status=status, limit=limit)
