"""Logging activities: a call, email, meeting or demo with a lead, validated, audited, in one unit of work
with what follows from it (the lead's first response, score and stage)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from flashdash import audit, leads
from flashdash.access import AccessDenied, Actor
from flashdash.entities import ACTIVITY_TYPES
from flashdash.store import Store

MAX_DURATION_MIN = 600
MAX_OUTCOME = 200
MAX_NOTES = 5000
FUTURE_SLACK = timedelta(minutes=5)  # a clock a little ahead of the server's is not an error
WRITERS = ("rep", "manager", "admin")


class ActivityError(ValueError):
    """An activity that cannot be logged as given; the message says what to change."""


@dataclass(frozen=True)
class NewActivity:
    lead_id: int
    type: str
    occurred_at: datetime
    duration_min: int | None = None
    outcome: str | None = None
    notes: str | None = None


def validate(activity: NewActivity, now: datetime) -> NewActivity:
    """The activity with its text trimmed, or ActivityError naming every problem."""
    problems = []
    kind = (activity.type or "").strip().lower()
    if kind not in ACTIVITY_TYPES:
        problems.append(f"the type must be one of {', '.join(ACTIVITY_TYPES)} (got {activity.type!r})")
    if activity.occurred_at > now + FUTURE_SLACK:
        problems.append(f"it is dated {activity.occurred_at:%Y-%m-%d %H:%M}, in the future; log it once it happened")
    if activity.duration_min is not None and not 0 <= activity.duration_min <= MAX_DURATION_MIN:
        problems.append(f"the duration must be between 0 and {MAX_DURATION_MIN} minutes (got {activity.duration_min})")
    outcome = (activity.outcome or "").strip() or None
    notes = (activity.notes or "").strip() or None
    if outcome and len(outcome) > MAX_OUTCOME:
        problems.append(f"the outcome is {len(outcome)} characters; keep it under {MAX_OUTCOME} and put the rest in notes")
    if notes and len(notes) > MAX_NOTES:
        problems.append(f"the notes are {len(notes):,} characters; the most is {MAX_NOTES:,}")
    if problems:
        raise ActivityError("The activity was not logged: " + "; ".join(problems) + ".")
    return NewActivity(activity.lead_id, kind, activity.occurred_at, activity.duration_min, outcome, notes)


def log_activity(store: Store, actor: Actor, activity: NewActivity, now: datetime) -> int:
    """Log `activity` as `actor`; returns its id. The lead must be in the actor's scope; the activity is
    credited to the actor's rep (or, for a manager or admin without one, the lead's owner); the lead's first
    response moves earlier if this is it. All in one transaction with its audit record."""
    if actor.role not in WRITERS:
        raise AccessDenied(f"A {actor.role} reads activities but does not log them.")
    activity = validate(activity, now)
    with store.write() as con:
        rows = store.frame("activity_lead", con, lead_id=activity.lead_id, **actor.scope_params())
        if rows.is_empty():
            raise ActivityError(f"There is no lead {activity.lead_id} in your book; pick one of your leads.")
        lead = rows.row(0, named=True)
        if activity.occurred_at < lead["submitted_at"] - FUTURE_SLACK:
            raise ActivityError(f"The activity was not logged: it is dated {activity.occurred_at:%Y-%m-%d %H:%M}, "
                                f"before the lead was submitted ({lead['submitted_at']:%Y-%m-%d %H:%M}).")
        rep_id = actor.rep_id if actor.rep_id is not None else lead["owner_id"]
        new_id = store.scalar("activity_insert", con, rep_id=rep_id, **asdict(activity))
        store.run("activity_first_response", con, lead_id=activity.lead_id, occurred_at=activity.occurred_at)
        audit.record(con, actor.username, "create", "activity", new_id, now,
                     after={**asdict(activity), "rep_id": rep_id}, reason="logged")
        leads.arrived(store, con, [activity.lead_id], now)  # its score and stage follow at once
    return new_id
