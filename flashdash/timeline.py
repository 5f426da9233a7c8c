"""One lead's communication timeline: its submission, stage changes, activities (with their notes and next
steps), emails with their opens, clicks and replies, and tasks (created, delegated, due, done) in one
chronological frame (at, kind, title, detail, who).

Notes have no table of their own: they are the notes of activities and tasks, shown in those events' detail.
For analysts and executives the lead's contact details (name, email address, phone) are blanked wherever
they appear, rendered email subjects and notes included.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import polars as pl

from flashdash.access import AccessDenied, Actor
from flashdash.qualification import STAGE_LABELS
from flashdash.store import Store

MASK = "•••"
KINDS = ("submission", "stage", "activity", "email", "task")  # also the order of events at the same moment
SCHEMA = {"at": pl.Datetime("us"), "kind": pl.String, "title": pl.String, "detail": pl.String, "who": pl.String}
EMAIL_EVENTS = {"open": "Opened", "click": "Clicked a link in", "reply": "Replied to"}


def timeline(store: Store, actor: Actor, lead_id: int, now: datetime) -> pl.DataFrame:
    """Everything that happened to a lead, oldest first; an open task's due time is an event too (overdue when
    before `now`). AccessDenied for a lead outside the actor's scope."""
    with store.read() as con:
        found = store.frame("timeline_lead", con, lead_id=lead_id, **actor.scope_params())
        if found.is_empty():
            raise AccessDenied(f"There is no lead {lead_id} in your book.")
        parts = {name: store.frame(f"timeline_{name}", con, lead_id=lead_id)
                 for name in ("stage_changes", "activities", "emails", "email_events", "tasks", "task_handovers")}
    lead = found.row(0, named=True)
    events = [_submission(lead)]
    events += [_stage(r) for r in parts["stage_changes"].iter_rows(named=True)]
    events += [_activity(r) for r in parts["activities"].iter_rows(named=True)]
    events += [_email(r, show_address=not actor.masks_pii) for r in parts["emails"].iter_rows(named=True)]
    events += [_email_event(r) for r in parts["email_events"].iter_rows(named=True)]
    events += _tasks(parts["tasks"], parts["task_handovers"], now)
    if actor.masks_pii:
        events = _redact(events, lead)
    order = {k: i for i, k in enumerate(KINDS)}
    return pl.DataFrame(events, schema=SCHEMA, orient="row").with_row_index("_seq").sort(
        "at", pl.col("kind").replace_strict(order, return_dtype=pl.Int8), "_seq").drop("_seq")


def _join(*parts: str | None, sep: str = "; ") -> str | None:
    text = sep.join(p for p in parts if p)
    return text or None


def _submission(lead: dict[str, Any]) -> tuple:
    contact = _join(lead["contact_name"], lead["email"] and f"<{lead['email']}>", lead["phone"], sep=" ")
    detail = _join(lead["channel"] and f"via {lead['channel']}", lead["campaign"] and f"campaign {lead['campaign']}",
                   lead["landing_page"] and f"page {lead['landing_page']}",
                   lead["interest_level"] and f"interest {lead['interest_level']}", contact and f"contact {contact}")
    return (lead["submitted_at"], "submission", "Submitted the form", detail, lead["merchant_name"])


def _stage(row: dict[str, Any]) -> tuple:
    to = STAGE_LABELS.get(row["to_status"], row["to_status"])
    title = f"{STAGE_LABELS.get(row['from_status'], row['from_status'])} → {to}" if row["from_status"] else f"Entered {to}"
    return (row["changed_at"], "stage", title, row["reason"], row["actor"])


def _activity(row: dict[str, Any]) -> tuple:
    title = row["type"].capitalize() + (f": {row['outcome']}" if row["outcome"] else "")
    detail = _join(row["duration_min"] is not None and f"{row['duration_min']} min" or None,
                   row["notes"] and f"notes: {row['notes']}", row["next_step"] and f"next step: {row['next_step']}",
                   row["template"] and f"template {row['template']}",
                   row["source"] not in (None, "form") and f"logged via {row['source']}" or None)
    return (row["occurred_at"], "activity", title, detail, row["rep"])


def _email(row: dict[str, Any], show_address: bool) -> tuple:
    at = row["sent_at"] or row["queued_at"]
    detail = _join(show_address and row["to_address"] and f"to {row['to_address']}" or None,
                   row["sent_at"] and f"queued {row['queued_at']:%Y-%m-%d %H:%M} by {row['queued_by']}" or None,
                   row["sequence"] and f"sequence {row['sequence']}",
                   row["status"] in ("failed", "suppressed") and row["last_error"] or None,
                   row["status"] == "failed" and f"{row['attempts']} attempts" or None)
    return (at, "email", f"Email {row['status']}: {row['subject'] or '(no subject)'}", detail,
            row["rep"] or row["queued_by"])


def _email_event(row: dict[str, Any]) -> tuple:
    verb = EMAIL_EVENTS.get(row["kind"], row["kind"].capitalize())
    return (row["occurred_at"], "email", f"{verb} the email: {row['subject'] or '(no subject)'}", row["url"], "lead")


def _tasks(tasks: pl.DataFrame, handovers: pl.DataFrame, now: datetime) -> list[tuple]:
    events = []
    titles = dict(zip(tasks["id"], tasks["title"], strict=True))
    for t in tasks.iter_rows(named=True):
        rule = None if t["rule_id"] is None else "a built-in task rule" if t["rule_id"] < 0 else \
            f"task rule {t['rule_id']}"  # the built-in rules have negative ids
        origin = _join(rule and f"from {rule}",
                       t["sequence"] and f"from sequence {t['sequence']}",
                       t["delegated_from"] and f"delegated from {t['delegated_from']}")
        detail = _join(t["rep"] and f"for {t['rep']}", t["due_at"] and f"due {t['due_at']:%Y-%m-%d %H:%M}",
                       t["kind"] and f"kind {t['kind']}", origin, t["notes"] and f"notes: {t['notes']}")
        events.append((t["created_at"], "task", f"Task created: {t['title']}", detail, t["created_by"]))
        if t["status"] == "open" and t["due_at"] is not None:
            state = "overdue" if t["due_at"] < now else "due"
            events.append((t["due_at"], "task", f"Task {state}: {t['title']}", t["rep"] and f"for {t['rep']}", t["rep"]))
        elif t["status"] in ("done", "cancelled") and t["done_at"] is not None:
            events.append((t["done_at"], "task", f"Task {t['status']}: {t['title']}", None, t["rep"]))
    for h in handovers.iter_rows(named=True):
        events.append((h["logged_at"], "task", f"Task delegated: {titles.get(h['task_id'], h['task_id'])}",
                       h["reason"], h["actor"]))
    return events


def _redactor(lead: dict[str, Any]) -> re.Pattern[str] | None:
    """What to blank for roles that must not read contact details: the lead's email address, phone and
    contact name wherever they appear, and the contact's first and last names as whole words."""
    whole = [v.strip() for v in (lead["email"], lead["phone"], lead["contact_name"]) if v and v.strip()]
    words = [w for w in (lead["contact_name"] or "").split() if len(w) > 2]
    parts = [re.escape(v) for v in sorted(set(whole), key=len, reverse=True)]
    parts += [rf"\b{re.escape(w)}\b" for w in sorted(set(words), key=len, reverse=True)]
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def _redact(events: list[tuple], lead: dict[str, Any]) -> list[tuple]:
    pattern = _redactor(lead)
    if pattern is None:
        return events
    return [(at, kind, *(None if v is None else pattern.sub(MASK, v) for v in texts)) for at, kind, *texts in events]
