"""Tasks: a piece of follow-up work on a lead for its owner ("call back", "send the proposal")."""

from __future__ import annotations

from datetime import datetime, timedelta

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
            task_id = store.scalar("task_insert", con, lead_id=lead["id"], rep_id=lead["owner_id"], title=title,
                                   due_at=due_at, created_by=actor.username, created_at=now, notes=notes)
            audit.record(con, actor.username, "create", "task", task_id, now,
                         after={"lead_id": lead["id"], "rep_id": lead["owner_id"], "title": title, "due_at": due_at})
    return {"created": leads.height, "refused": len(ids) - leads.height}


def preview_tasks(store: Store, actor: Actor, lead_ids: list[int]) -> dict[str, int]:
    """How many tasks add_tasks would create for these leads, and how many it would refuse (out of scope)."""
    ids = sorted(set(lead_ids))
    with store.read() as con:
        leads = store.frame("task_leads_in_scope", con, lead_ids=ids, **actor.scope_params())
    return {"created": leads.height, "refused": len(ids) - leads.height}


def open_tasks(store: Store, actor: Actor, limit: int = 500) -> pl.DataFrame:
    return store.frame("tasks_open", limit=limit, **actor.scope_params())
