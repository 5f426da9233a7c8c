"""The scheduled jobs as the app sees them: their schedules, the figures they keep fresh, whether the
scheduler runs, and runs an admin asks for.

The scheduler process (`python -m jobs`) runs the jobs; the app reads the same specs to say when a figure
was last refreshed and whether it is stale. Nothing here holds the store: the scheduler's liveness and
its next runs come from files beside the store (`<db>.jobs.lock`, `<db>.jobs.json`), and a run an admin
asks for is a file in `<db>.jobs.requests/` that the scheduler picks up within seconds.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from flashdash import audit
from flashdash.access import AccessDenied, Actor
from flashdash.store import Store

STALE_GRACE = timedelta(minutes=15)  # a figure is stale this long after its job should have refreshed it
POLL_SECONDS = 2.0  # how often the scheduler looks for requested runs

_EVERY = re.compile(r"^every\s+(\d+)\s*(s|sec|seconds?|m|min|minutes?|h|hours?)$", re.IGNORECASE)
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours"}
OFF = ("off", "none", "disabled")


class ScheduleError(ValueError):
    """A schedule in the environment that cannot be parsed; the message names the variable."""


@dataclass(frozen=True)
class JobSpec:
    """A job's name, its schedule (crontab or "every N s|m|h", from `env` if set) and what it refreshes."""

    name: str
    env: str
    default: str
    description: str
    figure: str | None = None  # the derived figure it keeps fresh, as the app names it
    as_of_query: str | None = None  # a named query giving the figure's as-of time

    def schedule(self) -> str:
        return (os.environ.get(self.env) or self.default).strip() if self.env else self.default.strip()

    def as_scheduled(self, text: str | None) -> JobSpec:
        """This job on the schedule the running scheduler uses (its environment may differ from ours)."""
        return self if not text else replace(self, env="", default=text)

    def enabled(self) -> bool:
        return self.schedule().lower() not in OFF

    def trigger(self) -> BaseTrigger:
        text = self.schedule()
        every = _EVERY.match(text)
        if every:
            amount, unit = int(every.group(1)), _UNIT[every.group(2)[0].lower()]
            if amount <= 0:
                raise ScheduleError(f"{self.env}={text!r}: the interval must be at least 1.")
            return IntervalTrigger(**{unit: amount})
        try:
            return CronTrigger.from_crontab(text)
        except ValueError as exc:
            raise ScheduleError(
                f"{self.env}={text!r} is not a schedule ({exc}); use five crontab fields, e.g. "
                f"{self.default!r}, an interval such as 'every 10 min', or 'off'."
            ) from exc

    def next_after(self, moment: datetime) -> datetime | None:
        """When the schedule fires next after `moment` (naive local time, as the store keeps it)."""
        if not self.enabled():
            return None
        trigger = self.trigger()
        aware = moment.astimezone()
        if isinstance(trigger, IntervalTrigger):
            # An interval counts from when the scheduler started, which the app does not know: one period.
            return moment + trigger.interval
        fire = trigger.get_next_fire_time(None, aware + timedelta(seconds=1))
        return fire.astimezone().replace(tzinfo=None) if fire else None


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("score_leads", "FLASHDASH_JOB_SCORE_CRON", "*/15 * * * *",
                "score every open lead with the current conversion model (or the baseline rule)",
                figure="Lead scores", as_of_query="fresh_lead_scores"),
        JobSpec("retrain_conversion", "FLASHDASH_JOB_RETRAIN_CRON", "0 2 * * *",
                "retrain the lead-conversion model and write its model card",
                figure="Conversion model", as_of_query="fresh_conversion_model"),
        JobSpec("assign_leads", "FLASHDASH_JOB_ASSIGN_CRON", "*/5 * * * *",
                "route leads still without an owner (arrived while every rep was at their cap or off work)"),
        JobSpec("qualify_leads", "FLASHDASH_JOB_QUALIFY_CRON", "*/15 * * * *",
                "advance open leads that meet their team's qualification criteria"),
        JobSpec("apply_task_rules", "FLASHDASH_JOB_TASK_RULES_CRON", "*/10 * * * *",
                "make the tasks the task rules owe for the last day's stage changes and activities (what the "
                "app's own hooks did not: imports, a rule saved since)"),
        JobSpec("run_sequences", "FLASHDASH_JOB_SEQUENCES_CRON", "*/15 * * * *",
                "carry out the sequence steps that are due (tasks, queued emails) and pause or stop enrollments "
                "on a reply, a stage change or a meeting"),
        JobSpec("send_emails", "FLASHDASH_JOB_SEND_EMAILS_CRON", "every 1 min",
                "send the queued emails that are due over SMTP, retrying failures with backoff (nothing is sent "
                "while SMTP is not configured)"),
        JobSpec("ingest_tracking", "FLASHDASH_JOB_TRACKING_CRON", "every 1 min",
                "move the opens, clicks and replies the tracking service recorded into the store"),
        JobSpec("send_reminders", "FLASHDASH_JOB_REMINDERS_CRON", "*/30 * * * *",
                "email each rep a digest of their overdue and due-soon tasks (when SMTP is configured)"),
        JobSpec("seal_audit", "FLASHDASH_JOB_SEAL_AUDIT_CRON", "every 1 min",
                "seal the audit records appended since the last run into the tamper-evident hash chain"),
        JobSpec("apply_retention", "FLASHDASH_JOB_RETENTION_CRON", "30 3 * * *",
                "anonymize or purge closed leads untouched for longer than the retention policy keeps them "
                "(nothing while no policy is set)"),
        JobSpec("refresh_forecast", "FLASHDASH_JOB_FORECAST_CRON", "0 3 * * *",
                "refresh the revenue forecast (revenue model, pipeline simulation, blend) and its backtest",
                figure="Revenue forecast", as_of_query="fresh_forecast"),
        JobSpec("refresh_velocity", "FLASHDASH_JOB_VELOCITY_CRON", "30 * * * *",
                "recompute pipeline velocity, stage durations and conversion (company-wide, every split) for the "
                "Revenue page", figure="Pipeline velocity", as_of_query="fresh_velocity"),
        JobSpec("refresh_deal_risk", "FLASHDASH_JOB_DEAL_RISK_CRON", "25 * * * *",
                "score every open deal's risk (its warning signs and the loss rate of past deals like it) and "
                "record the model's out-of-time evaluation", figure="Deal risk", as_of_query="fresh_deal_risk"),
        JobSpec("refresh_aggregates", "FLASHDASH_JOB_REFRESH_CRON", "15 * * * *",
                "refresh the store's statistics (ANALYZE) and checkpoint its write-ahead log",
                figure="Store statistics", as_of_query="fresh_statistics"),
    )
}


def spec(name: str) -> JobSpec:
    try:
        return JOBS[name]
    except KeyError:
        raise ValueError(f"There is no job named {name!r}; the jobs are {', '.join(JOBS)}.") from None


# ---------------------------------------------------------------- files beside the store


def lock_path(store: Store) -> Path:
    return store.path.with_name(store.path.name + ".jobs.lock")


def status_path(store: Store) -> Path:
    return store.path.with_name(store.path.name + ".jobs.json")


def requests_dir(store: Store) -> Path:
    return store.path.with_name(store.path.name + ".jobs.requests")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def write_status(store: Store, status: dict[str, Any]) -> None:
    """The scheduler's own account of itself (pid, start, next runs), replaced atomically."""
    path = status_path(store)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(status, default=str, indent=1))
    tmp.replace(path)


def scheduler_status(store: Store) -> dict[str, Any]:
    """{"running": bool, "pid", "started_at", "next_runs": {job: datetime}, "schedules": {job: text}} as the
    scheduler last wrote them; "running" is checked against the process itself, so a killed scheduler shows as
    stopped."""
    try:
        holder = lock_path(store).read_text().strip()
    except FileNotFoundError:
        holder = ""
    pid = int(holder) if holder.isdigit() else None
    running = pid is not None and _alive(pid)
    status: dict[str, Any] = {"running": running, "pid": pid, "started_at": None, "next_runs": {}, "schedules": {}}
    try:
        written = json.loads(status_path(store).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        written = {}
    if running and written.get("pid") == pid:
        status["started_at"] = _dt(written.get("started_at"))
        status["next_runs"] = {k: _dt(v) for k, v in written.get("next_runs", {}).items()}
        status["schedules"] = written.get("schedules", {})  # the scheduler's environment may differ from ours
    return status


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# ---------------------------------------------------------------- runs an admin asks for


def request_run(store: Store, actor: Actor, name: str, now: datetime) -> Path:
    """Queue a run of `name` for the scheduler to start at its next look (within POLL_SECONDS)."""
    if actor.role != "admin":
        raise AccessDenied("Only admins can run jobs.")
    spec(name)
    folder = requests_dir(store)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{now:%Y%m%dT%H%M%S}-{name}-{os.getpid()}-{len(list(folder.iterdir()))}.json"
    tmp = folder / f".{path.name}"
    tmp.write_text(json.dumps({"job": name, "requested_by": actor.username, "requested_at": now.isoformat()}))
    with store.write() as con:  # recorded first: a request that cannot be audited is not made
        audit.record(con, actor.username, "run_requested", "job", name, now, reason="Admin → Jobs → Run now")
    tmp.replace(path)
    return path


def pending_requests(store: Store) -> list[dict[str, Any]]:
    """Requested runs not yet taken by the scheduler, oldest first."""
    folder = requests_dir(store)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("[!.]*.json")):
        try:
            out.append({**json.loads(path.read_text()), "path": path})
        except (FileNotFoundError, json.JSONDecodeError):  # taken meanwhile, or half-written by a crash
            continue
    return out


def take_requests(store: Store) -> list[dict[str, Any]]:
    """The scheduler's side: claim every pending request (each is taken once, by whoever removes it)."""
    taken = []
    for request in pending_requests(store):
        try:
            request["path"].unlink()
        except FileNotFoundError:
            continue
        if request.get("job") in JOBS:
            taken.append(request)
    return taken


# ---------------------------------------------------------------- how fresh the derived figures are


@dataclass(frozen=True)
class Freshness:
    figure: str
    job: str
    as_of: datetime | None
    due_by: datetime | None  # when the schedule should have refreshed it next (None: not scheduled)
    stale: bool
    note: str  # why it is stale, or "" when it is fresh

    def caption(self) -> str:
        when = "never" if self.as_of is None else f"as of {self.as_of:%d %b %H:%M}"
        return f"{self.figure} {when}"


def freshness(store: Store, now: datetime) -> list[Freshness]:
    """Each derived figure: when it was last refreshed, when its job should refresh it, whether it is stale."""
    out = []
    running = scheduler_status(store)
    with store.read() as con:
        latest_card = store.scalar("fresh_latest_card_id", con)
        scored_card = store.scalar("fresh_scored_card_id", con)
        for job in JOBS.values():
            if job.figure is None or job.as_of_query is None:
                continue
            as_of = store.scalar(job.as_of_query, con)
            out.append(judge(job.as_scheduled(running["schedules"].get(job.name)), as_of, now, behind_model=(
                job.name == "score_leads" and latest_card is not None and scored_card != latest_card)))
    return out


def judge(job: JobSpec, as_of: datetime | None, now: datetime, behind_model: bool = False) -> Freshness:
    """Whether a figure refreshed at `as_of` is stale at `now` under its job's schedule."""
    if as_of is None:
        return Freshness(job.figure or job.name, job.name, None, None, True,
                         f"never computed: the {job.name} job has not run on this store")
    due = job.next_after(as_of)
    if behind_model:
        return Freshness(job.figure or job.name, job.name, as_of, due, True,
                         "scored by an older model than the latest one")
    if due is not None and now > due + STALE_GRACE:
        return Freshness(job.figure or job.name, job.name, as_of, due, True,
                         f"the {job.name} job should have refreshed it by {due:%d %b %H:%M}")
    return Freshness(job.figure or job.name, job.name, as_of, due, False, "")


def freshness_of(store: Store, figure: str, now: datetime) -> Freshness:
    for f in freshness(store, now):
        if f.figure == figure:
            return f
    raise ValueError(f"No derived figure is called {figure!r}.")


def freshness_table(items: list[Freshness]) -> pl.DataFrame:
    return pl.DataFrame(
        {"figure": [f.figure for f in items], "job": [f.job for f in items], "as_of": [f.as_of for f in items],
         "due_by": [f.due_by for f in items], "stale": [f.stale for f in items], "note": [f.note for f in items]},
        schema={"figure": pl.String, "job": pl.String, "as_of": pl.Datetime("us"), "due_by": pl.Datetime("us"),
                "stale": pl.Boolean, "note": pl.String},
    )
