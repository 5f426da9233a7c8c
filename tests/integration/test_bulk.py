"""Bulk actions: every action previews how many records change, writes nothing until applied, then does it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flashdash import bulk
from flashdash.access import resolve_actor
from flashdash.bulk import BulkAction, BulkError
from flashdash.store import Store
from tests.conftest import NOW


@pytest.fixture
def store(demo_copy: Store) -> Store:
    return demo_copy


def _team_leads(store: Store, actor, status: str, n: int) -> list[int]:
    with store.read() as con:
        rows = con.execute("SELECT id FROM leads WHERE list_contains(?, owner_id) AND status = ? ORDER BY id LIMIT ?",
                           [list(actor.scope_reps), status, n]).fetchall()
    return [r[0] for r in rows]


def _snapshot(store: Store) -> tuple:
    with store.read() as con:
        return tuple(con.execute(f"SELECT count(*), max(id) FROM {t}").fetchone()  # noqa: S608
                     for t in ("lead_stage_changes", "lead_assignments", "tasks", "audit_log"))


@pytest.mark.parametrize("kind", ["advance", "disqualify", "task", "assign"])
def test_a_preview_counts_the_changes_and_writes_nothing_then_apply_makes_them(store: Store, kind: str) -> None:
    manager = resolve_actor(store, "manager")
    ids = _team_leads(store, manager, "new", 4)
    other_rep = next(r for r in manager.scope_reps if r != manager.rep_id)
    action = BulkAction(kind, reason="webinar follow-up", rep_id=other_rep, title="Call about the webinar",
                        due_at=NOW + timedelta(days=2))
    before = _snapshot(store)
    seen = bulk.preview(store, manager, ids, action, NOW)
    assert _snapshot(store) == before
    done = bulk.apply(store, manager, ids, action, NOW)
    assert done["changes"] == seen["changes"] and done["changes"] > 0
    assert seen["message"].startswith("This ") and not done["message"].startswith("This ")
    assert _snapshot(store) != before


def test_nothing_selected_or_an_action_missing_its_target_is_refused(store: Store) -> None:
    manager = resolve_actor(store, "manager")
    with pytest.raises(BulkError, match="Select at least one lead"):
        bulk.preview(store, manager, [], BulkAction("advance"), NOW)
    with pytest.raises(BulkError, match="Pick the rep"):
        BulkAction("assign")
    with pytest.raises(BulkError, match="Pick the stage"):
        BulkAction("stage", to_stage="somewhere")
