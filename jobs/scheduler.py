"""The scheduler process: what each job does, one recorded run, the single-scheduler lock, the blocking loop.

DuckDB lets one process hold the store file, so the scheduler never keeps it open while idle: every job
opens the store per unit of work through `Store`, computes outside it, and writes its results in one short
transaction, so a failed or killed run leaves the previous results in place. Each run is recorded in
`job_runs` by its own short write (flashdash.jobs_log); a run left 'running' by a killed process is closed
as 'interrupted' before the next run starts. Jobs run one at a time on a single worker thread; a run held
up (by a long job before it, a suspended machine) still runs, once (coalesce), if it is less than
`misfire_grace_time` late. Schedules come from the environment (flashdash.schedule); runs missed while the
process was down are not made up, except what `run_at_start` asks for. Runs an admin asks for in the app
arrive as request files, looked for every POLL_SECONDS.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType

from apscheduler.events import EVENT_JOB_ADDED, EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from flashdash import clock, faults, jobs_log, schedule
from flashdash.schedule import ScheduleError  # noqa: F401  (re-exported for the command line)
from flashdash.store import Store, StoreError

log = logging.getLogger("jobs")

MISFIRE_GRACE_SECONDS = 3600


# ---------------------------------------------------------------- the jobs


def score_leads(store: Store, now: datetime) -> int:
    """Score every open lead with the current model (or the baseline rule) and replace lead_scores whole."""
    from flashdash import scoring

    scored = scoring.score_all(store, now)  # reads, then computes with the store closed
    with store.write() as con:
        rows = scoring.store_scores(store, con, scored)
        faults.point("score_leads.write")  # old scores deleted, new ones inserted, nothing committed
    return rows


def retrain_conversion(store: Store, now: datetime) -> int:
    """Retrain and evaluate the lead-conversion models (global, and per vertical where one has the history);
    their model cards are written as they are trained. Returns the cards written."""
    from flashdash import scoring

    summary = scoring.train_all(store, now)
    return 1 + len(summary.get("verticals", []))


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


def assign_leads(store: Store, now: datetime) -> int:
    """Route every open lead without an owner; returns the leads that got one."""
    from flashdash import assignment

    with store.write() as con:
        decided = assignment.assign(store, con, None, now)
    return decided.filter(decided["rep_id"].is_not_null()).height


def qualify_leads(store: Store, now: datetime) -> int:
    """Advance every open lead that meets its team's criteria; returns the stage changes written."""
    from flashdash import follow_up, qualification

    with store.write() as con:
        moved = qualification.advance(store, con, None, now)
        follow_up.after_change(store, con, moved["lead_id"].to_list(), now)
    return moved.height


def apply_task_rules(store: Store, now: datetime) -> int:
    """Make the tasks the rules owe for the last day's events; returns the tasks made."""
    from flashdash import tasks

    return tasks.apply_recent_rules(store, now)


def run_sequences(store: Store, now: datetime) -> int:
    """Carry out the due sequence steps; returns the step runs, pauses, stops and completions written."""
    from flashdash import sequences

    return sequences.scheduled_run(store, now)


def send_emails(store: Store, now: datetime) -> int:
    """Send the due queued emails; returns the emails settled (sent, failed, retried, suppressed)."""
    from flashdash import mail

    result = mail.send_due(store, now)
    if not result.get("configured", True):
        log.info("send_emails: %s", result.get("message"))
    return mail.rows_written(result)


def ingest_tracking(store: Store, now: datetime) -> int:
    """Store the spooled opens, clicks and replies; a reply pauses the lead's sequences in the same write."""
    from flashdash import sequences, tracking

    return tracking.ingest(store, now, on_replies=sequences.pause_if_needed)


def send_reminders(store: Store, now: datetime) -> int:
    """Email each rep a digest of their overdue and due-soon tasks; returns the tasks reminded (0 without SMTP)."""
    from flashdash import mail, tasks

    return tasks.send_reminders(store, now, mail.deliverer())


def seal_audit(store: Store, now: datetime) -> int:
    """Seal the new audit records into the hash chain; returns how many."""
    from flashdash import audit

    return audit.seal(store, now)


def apply_retention(store: Store, now: datetime) -> int:
    """Apply the retention policy to one batch of closed, untouched leads; returns the leads it changed."""
    from flashdash import privacy

    return privacy.apply_retention(store, now)


def refresh_forecast(store: Store, now: datetime) -> int:
    """Refresh the company-wide revenue forecast and its backtest: one analytics_runs row (kind 'forecast')."""
    from flashdash import forecast

    return forecast.refresh_forecast(store, now)["rows_written"]


def refresh_velocity(store: Store, now: datetime) -> int:
    """Recompute pipeline velocity (company-wide, every split) and store it as one analytics run."""
    from flashdash import revenue

    return revenue.refresh_velocity(store, now)["rows_written"]


def refresh_deal_risk(store: Store, now: datetime) -> int:
    """Score every open deal's risk, replace deal_risks whole and record the evaluation; returns the deals scored."""
    from flashdash import deal_risk

    return deal_risk.refresh_deal_risk(store, now)["deals"]


def _conversion_model_missing(store: Store) -> bool:
    from flashdash import predictive

    return not store.scalar("job_model_card_count", model=predictive.MODEL)


def _scores_missing(store: Store) -> bool:
    return not store.scalar("job_lead_scores_count")


# What each job runs, and when it should also run once at start-up. The order is the start-up order:
# a store without a model is trained before its leads are scored.
RUNS: dict[str, tuple[Callable[[Store, datetime], int | None], Callable[[Store], bool] | None]] = {
    "retrain_conversion": (retrain_conversion, _conversion_model_missing),
    "score_leads": (score_leads, _scores_missing),
    "assign_leads": (assign_leads, None),
    "qualify_leads": (qualify_leads, None),
    "apply_task_rules": (apply_task_rules, None),
    "run_sequences": (run_sequences, None),
    "send_emails": (send_emails, None),
    "ingest_tracking": (ingest_tracking, None),
    "send_reminders": (send_reminders, None),
    "seal_audit": (seal_audit, lambda store: bool(store.scalar("audit_unsealed_count"))),
    "apply_retention": (apply_retention, None),
    "refresh_forecast": (refresh_forecast, lambda store: store.scalar("fresh_forecast") is None),
    "refresh_velocity": (refresh_velocity, lambda store: store.scalar("fresh_velocity") is None),
    "refresh_deal_risk": (refresh_deal_risk, lambda store: not store.scalar("fresh_deal_risk")),
    "refresh_aggregates": (refresh_aggregates, None),
}
assert set(RUNS) == set(schedule.JOBS), "every scheduled job needs a function, and every function a schedule"
JOBS = schedule.JOBS


# ---------------------------------------------------------------- one recorded run


def run_job(name: str, store: Store | None = None, now: datetime | None = None, trigger: str = "command",
            requested_by: str | None = None) -> bool:
    """Run one job now and record it in job_runs; True when it succeeded. Never raises for a job's failure."""
    fn, _ = RUNS[name]
    store = store or Store()
    started = now or clock.now()
    try:
        for run_id in jobs_log.close_interrupted(store, started):
            log.warning("run %s was interrupted (its process is gone); closed as 'interrupted'", run_id)
        run_id = jobs_log.start(store, name, started, trigger=trigger, requested_by=requested_by)
    except StoreError as exc:
        log.error("%s: not run, the store cannot record it: %s", name, exc)
        return False
    log.info("%s: started (run %s, %s%s)", name, run_id, trigger, f" by {requested_by}" if requested_by else "")
    status, rows, error = "ok", None, None
    clock_started = time.monotonic()
    try:
        rows = fn(store, started)
    except Exception as exc:  # a job's failure is recorded, not fatal to the scheduler
        status = "failed"
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
        log.error("%s: failed: %s: %s", name, type(exc).__name__, exc)
    # Measured, not read off the clock: a pinned clock (FLASHDASH_NOW) still gives each run its real length.
    finished = started + timedelta(seconds=time.monotonic() - clock_started)
    try:
        jobs_log.finish(store, run_id, finished, status, rows_written=rows, error=error)
    except StoreError as exc:
        log.error("%s: finished %s but the store cannot record it: %s", name, status, exc)
        return False
    if status == "ok":
        log.info("%s: ok (%s rows written)", name, rows)
    return status == "ok"


def _scheduled(name: str, trigger: str = "schedule", requested_by: str | None = None) -> None:
    # Called on the scheduler's worker thread; the store is resolved per run so FLASHDASH_DB is honoured.
    run_job(name, trigger=trigger, requested_by=requested_by)


# ---------------------------------------------------------------- one scheduler at a time


def lock_path(store: Store) -> Path:
    return schedule.lock_path(store)


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
    """A scheduler with every enabled job on its trigger (raises ScheduleError for a bad schedule)."""
    scheduler = BlockingScheduler(
        executors={"default": executor or ThreadPoolExecutor(max_workers=1),
                   "requests": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
    )
    for spec in JOBS.values():
        if spec.enabled():
            scheduler.add_job(_scheduled, spec.trigger(), args=[spec.name], id=spec.name, name=spec.name)
    return scheduler


def startup_runs(store: Store) -> list[str]:
    """The jobs that should run once right away (e.g. no model card yet), in RUNS order."""
    due = []
    for name, (_, at_start) in RUNS.items():
        if at_start is None or not JOBS[name].enabled():
            continue
        try:
            if at_start(store):
                due.append(name)
        except StoreError as exc:
            log.warning("%s: cannot tell whether to run at start: %s", name, exc)
        except Exception as exc:  # e.g. the predictive module missing: the schedule still runs it later
            log.warning("%s: cannot tell whether to run at start: %s: %s", name, type(exc).__name__, exc)
    return due


def _queue(scheduler: BlockingScheduler, name: str, trigger: str, requested_by: str | None = None) -> None:
    """Run `name` as soon as the worker is free (after the run in progress, one job at a time)."""
    stamp = datetime.now().strftime("%H%M%S%f")
    scheduler.add_job(_scheduled, args=[name, trigger, requested_by], id=f"{name}@{trigger}-{stamp}",
                      name=f"{name} ({trigger})", next_run_time=datetime.now(), misfire_grace_time=None)


def _status(scheduler: BlockingScheduler, store: Store, started: datetime) -> dict:
    next_runs = {}
    for job in scheduler.get_jobs():
        name = job.id.split("@")[0]
        if not name:  # the scheduler's own look for requested runs
            continue
        when = getattr(job, "next_run_time", None)
        if when is not None and (next_runs.get(name) is None or when.replace(tzinfo=None) < next_runs[name]):
            next_runs[name] = when.astimezone().replace(tzinfo=None)
    return {"pid": os.getpid(), "started_at": started, "store": str(store.path), "next_runs": next_runs,
            "schedules": {s.name: s.schedule() for s in JOBS.values()}}


def serve(store: Store) -> int:
    """Run the scheduler until SIGTERM or SIGINT; 1 if another scheduler holds the lock."""
    lock = SchedulerLock(lock_path(store))
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        print(exc, flush=True)
        return 1
    executor = ThreadPoolExecutor(max_workers=1)
    built: dict[str, BlockingScheduler] = {}

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("%s: stopping (a running job finishes and is recorded first)", signal.Signals(signum).name)
        # A second signal stops at once: a job cut short stays 'running' until the next run closes it.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if "scheduler" not in built:  # still starting (migrating the store, say): nothing runs yet
            raise SystemExit(0)
        try:
            built["scheduler"].shutdown(wait=False)  # not wait=True: this runs inside the main loop it ends
        except SchedulerNotRunningError:  # the signal came before the loop started
            raise SystemExit(0) from None

    # Handled from the moment the lock is held: a stop during the start-up leaves cleanly, lock released.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        store.ensure_schema()  # a store made by an older version gains what the jobs write
        scheduler = build_scheduler(executor)
        started = datetime.now().replace(microsecond=0)

        def take_requests() -> None:
            for request in schedule.take_requests(store):
                log.info("%s: requested by %s", request["job"], request.get("requested_by"))
                _queue(scheduler, request["job"], "requested", request.get("requested_by"))

        def write_status(event: JobEvent | None = None) -> None:
            try:
                schedule.write_status(store, _status(scheduler, store, started))
            except OSError as exc:
                log.warning("cannot write the scheduler's status file: %s", exc)

        scheduler.add_job(take_requests, IntervalTrigger(seconds=schedule.POLL_SECONDS), id="@requests",
                          name="requested runs", executor="requests", misfire_grace_time=None)
        scheduler.add_listener(write_status, EVENT_JOB_ADDED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
                               | EVENT_JOB_MISSED)
        for name in startup_runs(store):
            log.info("%s: due at start-up", name)
            _queue(scheduler, name, "start-up")
        built["scheduler"] = scheduler
        log.info("scheduler started for %s (pid %s): %s", store.path, os.getpid(),
                 ", ".join(f"{s.name} [{s.schedule()}]" for s in JOBS.values() if s.enabled()) or "no jobs enabled")
        scheduler.start()
        executor.shutdown(wait=True)  # a job still running finishes (and is recorded) before the lock goes
        log.info("scheduler stopped")
        return 0
    finally:
        schedule.status_path(store).unlink(missing_ok=True)
        lock.release()
