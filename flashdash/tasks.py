"""Tasks: a piece of follow-up work on a lead for its owner ("call back", "send the proposal")."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl

from flashdash import audit
from flashdash.access import AccessDenied, Actor
from flashdash.store import Store

MAX_TITLE = 200
WRITERS = ("rep", "manager", "admin")


class TaskError(ValueError):
    """A task that cannot be created as given; the message says what to change."""


def _validate(title: str, due_at: datetime | None, now: datetime) -> str:
    title = (title or "").strip()
    problems = []
    if not title:
        problems.append("give the task a title, e.g. 'Call back about pricing'")
    elif len(title) > MAX_TITLE:
        problems.append(f"the title is {len(title)} characters; keep it under {MAX_TITLE}")
    if due_at is not None and due_at < now - timedelta(days=1):
        problems.append(f"it is due {due_at:%Y-%m-%d %H:%M}, already past; pick a time from today on")
    if problems:
        raise TaskError("The task was not added: " + "; ".join(problems) + ".")
    return title


def add_tasks(store: Store, actor: Actor, lead_ids: list[int], title: str, due_at: datetime | None, now: datetime,
              notes: str | None = None) -> dict[str, int]:
    """One task per lead for the lead's owner, in one transaction; leads outside the actor's scope are refused
    (counted, not created). Returns {"created", "refused"}."""
    if actor.role not in WRITERS:
        raise AccessDenied(f"A {actor.role} does not add tasks.")
    title = _validate(title, due_at, now)
    ids = sorted(set(lead_ids))
    if not ids:
        raise TaskError("The task was not added: select at least one lead.")
    with store.write() as con:
        leads = store.frame("task_leads_in_scope", con, lead_ids=ids, **actor.scope_params())
        for lead in leads.iter_rows(named=True):
            create_task(store, con, lead["id"], lead["owner_id"], title, due_at, actor.username, now, notes=notes)
    return {"created": leads.height, "refused": len(ids) - leads.height}


KINDS = ("call", "email", "meeting", "demo", "task")


def create_task(store: Store, con: Any, lead_id: int | None, rep_id: int | None, title: str,
                due_at: datetime | None, created_by: str, now: datetime, *, notes: str | None = None,
                kind: str | None = None, rule_id: int | None = None, enrollment_id: int | None = None,
                step_id: int | None = None) -> int:
    """One task inside the caller's write unit, audited; the building block of every way a task is made (by
    hand, in bulk, by a task rule, by a sequence step). The caller has checked scope and validated the title."""
    if kind is not None and kind not in KINDS:
        raise TaskError(f"A task's kind is one of {', '.join(KINDS)}, not {kind!r}.")
    task_id = store.scalar("task_insert", con, lead_id=lead_id, rep_id=rep_id, title=title, due_at=due_at,
                           created_by=created_by, created_at=now, notes=notes, kind=kind, rule_id=rule_id,
                           enrollment_id=enrollment_id, step_id=step_id)
    audit.record(con, created_by, "create", "task", task_id, now,
                 after={"lead_id": lead_id, "rep_id": rep_id, "title": title, "due_at": due_at, "kind": kind,
                        "rule_id": rule_id, "enrollment_id": enrollment_id, "step_id": step_id})
    return task_id


def preview_tasks(store: Store, actor: Actor, lead_ids: list[int]) -> dict[str, int]:
    """How many tasks add_tasks would create for these leads, and how many it would refuse (out of scope)."""
    ids = sorted(set(lead_ids))
    with store.read() as con:
        leads = store.frame("task_leads_in_scope", con, lead_ids=ids, **actor.scope_params())
    return {"created": leads.height, "refused": len(ids) - leads.height}


def open_tasks(store: Store, actor: Actor, limit: int = 500) -> pl.DataFrame:
    return store.frame("tasks_open", limit=limit, **actor.scope_params())
