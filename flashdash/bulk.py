"""Bulk actions on selected leads: advance, move to a stage, disqualify, assign, add a task. Each has a
preview that says how many records would change before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flashdash import assignment, qualification, tasks
from flashdash.access import Actor
from flashdash.store import Store

ACTIONS = {
    "advance": "Advance each to its next stage",
    "stage": "Move to a stage",
    "disqualify": "Disqualify",
    "assign": "Assign to a rep",
    "task": "Add a task",
}


class BulkError(ValueError):
    """A bulk action that cannot run as asked; the message says what to change."""


@dataclass(frozen=True)
class BulkAction:
    kind: str
    to_stage: str | None = None
    reason: str = ""
    rep_id: int | None = None
    title: str = ""
    due_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in ACTIONS:
            raise BulkError(f"Unknown bulk action {self.kind!r}; choose one of {', '.join(ACTIONS)}.")
        if self.kind == "stage" and self.to_stage not in qualification.ALL_STAGES:
            raise BulkError("Pick the stage to move the leads to.")
        if self.kind == "assign" and self.rep_id is None:
            raise BulkError("Pick the rep to assign the leads to.")


def _target(action: BulkAction) -> str:
    return {"advance": qualification.NEXT, "disqualify": "disqualified"}.get(action.kind, action.to_stage or "")


def _assign_message(plan: dict[str, Any], done: bool) -> str:
    verb = "Assigned" if done else "This assigns"
    parts = [f"{verb} {plan['to_move']:,} lead{'' if plan['to_move'] == 1 else 's'} to {plan['rep']}"]
    if plan["already_theirs"]:
        parts.append(f"{plan['already_theirs']:,} already {'is' if plan['already_theirs'] == 1 else 'are'} theirs")
    return "; ".join(parts + plan["warnings"]) + "."


def _task_message(counts: dict[str, int], title: str, done: bool) -> str:
    verb = "Added" if done else "This adds"
    text = f"{verb} {counts['created']:,} task{'' if counts['created'] == 1 else 's'} “{title.strip()}”"
    if counts["refused"]:
        text += f"; {counts['refused']:,} lead{' is' if counts['refused'] == 1 else 's are'} not in your book"
    return text + "."


def preview(store: Store, actor: Actor, lead_ids: list[int], action: BulkAction, now: datetime) -> dict[str, Any]:
    """{"changes": how many records would change, "message": the confirmation sentence}; writes nothing."""
    if not lead_ids:
        raise BulkError("Select at least one lead first.")
    if action.kind == "assign":
        plan = assignment.preview_assign_to(store, actor, lead_ids, action.rep_id, now)
        return {"changes": plan["to_move"], "message": _assign_message(plan, done=False)}
    if action.kind == "task":
        counts = tasks.preview_tasks(store, actor, lead_ids)
        return {"changes": counts["created"], "message": _task_message(counts, action.title, done=False)}
    summary = qualification.preview_change(store, actor, lead_ids, _target(action))
    return {"changes": summary["changed"], "message": summary["message"]}


def apply(store: Store, actor: Actor, lead_ids: list[int], action: BulkAction, now: datetime) -> dict[str, Any]:
    """Run the action in one transaction; returns the same shape as `preview`, in the past tense."""
    if not lead_ids:
        raise BulkError("Select at least one lead first.")
    if action.kind == "assign":
        plan = assignment.assign_to(store, actor, lead_ids, action.rep_id, action.reason, now)
        return {"changes": plan["assigned"], "message": _assign_message(plan, done=True)}
    if action.kind == "task":
        counts = tasks.add_tasks(store, actor, lead_ids, action.title, action.due_at, now, notes=action.reason or None)
        return {"changes": counts["created"], "message": _task_message(counts, action.title, done=True)}
    summary = qualification.change_stage(store, actor, lead_ids, _target(action), action.reason, now)
    return {"changes": summary["changed"], "message": summary["message"]}
