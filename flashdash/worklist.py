"""The reads behind a rep's working tabs (queue, log, timeline): the teammates a task can be handed to, the
lead a typed reference names, the open leads to log an activity against, and what a departing rep holds.
Every read is limited to the acting user's scope."""

from __future__ import annotations

from typing import Any

import polars as pl

from flashdash.access import AccessDenied, Actor
from flashdash.store import Store
from flashdash.submissions import lead_keys

OPEN_LEADS_LIMIT = 5000


def teammates(store: Store, actor: Actor) -> pl.DataFrame:
    """Active reps who may take the actor's tasks (id, name, team_id, team): a rep's own team, a manager's
    team(s), every rep for an admin."""
    return store.frame("worklist_teammates", rep_id=actor.rep_id, **actor.scope_params())


def lead_ref(store: Store, actor: Actor, ref: str) -> dict[str, Any] | None:
    """The lead a reference (id or external id) names, if it is in the actor's book: id, external_id,
    merchant_name, status, owner_id, owner. None for no such lead and for a lead outside the book alike."""
    keys = lead_keys(ref)
    if keys is None:
        return None
    rows = store.frame("worklist_lead", **keys, **actor.scope_params())
    return rows.row(0, named=True) if not rows.is_empty() else None


def open_leads(store: Store, actor: Actor, limit: int = OPEN_LEADS_LIMIT) -> pl.DataFrame:
    """The actor's open leads (id, merchant_name, status), by name: what a webinar's attendees are picked from."""
    return store.frame("worklist_open_leads", limit=limit, **actor.scope_params())


def holdings(store: Store, actor: Actor, rep_id: int) -> dict[str, int]:
    """What a departing rep's reassignment would move: {"tasks": open tasks, "leads": open leads}. Only for a
    rep in the actor's scope."""
    if not actor.sees_all and rep_id not in (actor.scope_reps or ()):
        raise AccessDenied("That rep is not on your team; a manager sees their own team's work.")
    row = store.frame("worklist_rep_holdings", rep_id=rep_id).row(0, named=True)
    return {"tasks": int(row["tasks"]), "leads": int(row["leads"])}
