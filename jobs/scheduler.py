"""The scheduler process: job definitions, one recorded run, the single-scheduler lock, the blocking loop.

DuckDB lets one process hold the store file, so the scheduler never keeps it open while idle: every job
opens the store per unit of work through `Store`, and each run is recorded in `job_runs` by its own short
write (flashdash.jobs_log). Jobs run one at a time on a single worker thread; a run held up (by a long job
before it, a suspended machine) still runs, once (coalesce), if it is less than `misfire_grace_time` late.
Schedules live in memory: runs missed while the process was down are not made up, except what
`run_at_start` asks for (the conversion model is trained at start when the store has no model card).
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from flashdash import clock, jobs_log
from flashdash.store import Store, StoreError

log = logging.getLogger("jobs")

MISFIRE_GRACE_SECONDS = 3600


# ---------------------------------------------------------------- the jobs


def retrain_conversion(store: Store, now: datetime) -> int:
    """Retrain and evaluate the lead-conversion model; its model card is written by `predictive.train`."""
    from flashdash import predictive

    predictive.train(store, now)
    return 1  # one model card


def refresh_aggregates(store: Store, now: datetime) -> int:
    """Refresh the store's optimizer statistics (ANALYZE) and fold its write-ahead log into the file (CHECKPOINT).

    The dashboards compute their aggregates live from the store, so these are what there is to refresh
    today: stale statistics give the optimizer bad join orders, and a long WAL slows every open. It
    writes no rows, and it changes no data, so it runs outside a write unit: the data version (and with
    it every cached frame in the UI) stays as it is.
    """
    with store.read() as con:
        con.execute("ANALYZE")
        con.execute("CHECKPOINT")
    return 0


def _conversion_model_missing(store: Store) -> bool:
    from flashdash import predictive

    model = getattr(predictive, "MODEL", "conversion")
    return not store.scalar("job_model_card_count", model=model)


@dataclass(frozen=True)
class JobSpec:
    name: str
    fn: Callable[[Store, datetime], int | None]
    cron_env: str
    default_cron: str
    description: str
    run_at_start: Callable[[Store], bool] | None = None  # when true at start-up, run once right away

    def cron(self) -> str:
        """The schedule in crontab syntax, from the environment if set ("off" disables the job)."""
        return (os.environ.get(self.cron_env) or self.default_cron).strip()

    def enabled(self) -> bool:
        return self.cron().lower() not in ("off", "none", "disabled")

    def trigger(self) -> CronTrigger:
        try:
            return CronTrigger.from_crontab(self.cron())
        except ValueError as exc:
            raise ScheduleError(
                f"{self.cron_env}={self.cron()!r} is not a crontab schedule ({exc}); use five fields, "
                f"e.g. {self.default_cron!r}, or 'off'."
            ) from exc


class ScheduleError(ValueError):
    """A schedule in the environment that cannot be parsed; the message names the variable."""


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("retrain_conversion", retrain_conversion, "FLASHDASH_JOB_RETRAIN_CRON", "0 2 * * *",
                "retrain the lead-conversion model and write its model card",
                run_at_start=_conversion_model_missing),
        JobSpec("refresh_aggregates", refresh_aggregates, "FLASHDASH_JOB_REFRESH_CRON", "15 * * * *",
                "refresh the store's statistics (ANALYZE) and checkpoint its write-ahead log"),
    )
}


# ---------------------------------------------------------------- one recorded run


def run_job(name: str, store: Store | None = None, now: datetime | None = None) -> bool:
    """Run one job now and record it in job_runs; True when it succeeded. Never raises for a job's failure."""
    spec = JOBS[name]
    store = store or Store()
    started = now or clock.now()
    try:
        run_id = jobs_log.start(store, name, started)
    except StoreError as exc:
        log.error("%s: not run, the store cannot record it: %s", name, exc)
        return False
    log.info("%s: started (run %s)", name, run_id)
    status, rows, error = "ok", None, None
    try:
        rows = spec.fn(store, started)
    except Exception as exc:  # a job's failure is recorded, not fatal to the scheduler
        status = "failed"
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
        log.error("%s: failed: %s: %s", name, type(exc).__name__, exc)
    finished = max(clock.now(), started)
    try:
        jobs_log.finish(store, run_id, finished, status, rows_written=rows, error=error)
    except StoreError as exc:
        log.error("%s: finished %s but the store cannot record it: %s", name, status, exc)
        return False
    if status == "ok":
        log.info("%s: ok (%s rows written)", name, rows)
    return status == "ok"


def _scheduled(name: str) -> None:
    # Called on the scheduler's worker thread; the store is resolved per run so FLASHDASH_DB is honoured.
    run_job(name)


# ---------------------------------------------------------------- one scheduler at a time


def lock_path(store: Store) -> Path:
    return store.path.with_name(store.path.name + ".jobs.lock")


class AlreadyRunning(RuntimeError):
    """Another scheduler holds the lock for this store."""


class SchedulerLock:
    """An exclusive, non-blocking flock on `<db>.jobs.lock`, released by the kernel if the process dies."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"A scheduler is already running for this store (pid {holder}, lock {self.path}); "
                "stop it first, or use `python -m jobs run NAME` to run one job now."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


# ---------------------------------------------------------------- the process


def build_scheduler(executor: ThreadPoolExecutor | None = None) -> BlockingScheduler:
    """A scheduler with every enabled job on its cron trigger (raises ScheduleError for a bad schedule)."""
    scheduler = BlockingScheduler(
        executors={"default": executor or ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
    )
    for spec in JOBS.values():
        if spec.enabled():
            scheduler.add_job(_scheduled, spec.trigger(), args=[spec.name], id=spec.name, name=spec.name)
    return scheduler


def startup_runs(store: Store) -> list[str]:
    """The jobs that should run once right away (e.g. no model card yet)."""
    due = []
    for spec in JOBS.values():
        if spec.run_at_start is None or not spec.enabled():
            continue
        try:
            if spec.run_at_start(store):
                due.append(spec.name)
        except StoreError as exc:
            log.warning("%s: cannot tell whether to run at start: %s", spec.name, exc)
        except Exception as exc:  # e.g. the predictive module missing: the schedule still runs it later
            log.warning("%s: cannot tell whether to run at start: %s: %s", spec.name, type(exc).__name__, exc)
    return due


def serve(store: Store) -> int:
    """Run the scheduler until SIGTERM or SIGINT; 1 if another scheduler holds the lock."""
    lock = SchedulerLock(lock_path(store))
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        print(exc, flush=True)
        return 1
    executor = ThreadPoolExecutor(max_workers=1)
    try:
        scheduler = build_scheduler(executor)
        for name in startup_runs(store):
            log.info("%s: due at start-up", name)
            scheduler.add_job(_scheduled, args=[name], id=f"{name}@start", name=f"{name} (start-up)",
                              next_run_time=datetime.now())

        def stop(signum: int, frame: FrameType | None) -> None:
            log.info("%s: stopping (a running job finishes and is recorded first)", signal.Signals(signum).name)
            # A second signal stops at once: a job cut short stays 'running' in job_runs.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                scheduler.shutdown(wait=False)  # not wait=True: this runs inside the main loop it ends
            except SchedulerNotRunningError:  # the signal came before the loop started
                raise SystemExit(0) from None

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info("scheduler started for %s (pid %s): %s", store.path, os.getpid(),
                 ", ".join(f"{s.name} [{s.cron()}]" for s in JOBS.values() if s.enabled()) or "no jobs enabled")
        scheduler.start()
        executor.shutdown(wait=True)  # a job still running finishes (and is recorded) before the lock goes
        log.info("scheduler stopped")
        return 0
    finally:
        lock.release()
