"""Adding tasks to leads: one per lead for its owner, in scope, validated, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flashdash import tasks
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.store import Store
from tests.conftest import NOW


@pytest.fixture
def store(demo_copy: Store) -> Store:
    return demo_copy


def _ids(store: Store, where: str, params: list) -> list[int]:
    with store.read() as con:
        return [r[0] for r in con.execute(f"SELECT id FROM leads WHERE {where} ORDER BY id LIMIT 3", params).fetchall()]


def test_a_task_per_lead_goes_to_each_leads_owner_and_out_of_scope_leads_are_refused(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    mine, theirs = _ids(store, "owner_id = ?", [rep.rep_id]), _ids(store, "owner_id <> ?", [rep.rep_id])
    due = NOW + timedelta(days=1)
    assert tasks.add_tasks(store, rep, mine + theirs, " Call back ", due, NOW) == {"created": 3, "refused": 3}
    open_ = tasks.open_tasks(store, rep)
    assert sorted(open_["lead_id"]) == mine and set(open_["rep_id"]) == {rep.rep_id}
    assert set(open_["title"]) == {"Call back"} and set(open_["due_at"]) == {due}
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM audit_log WHERE entity = 'task'").fetchone()[0] == 3


def test_a_task_without_a_title_or_due_in_the_past_is_refused_with_both_reasons(store: Store) -> None:
    with pytest.raises(tasks.TaskError, match="give the task a title.*already past"):
        tasks.add_tasks(store, Actor("admin", "A", "admin"), [1], "  ", NOW - timedelta(days=3), NOW)
    assert tasks.open_tasks(store, Actor("admin", "A", "admin")).is_empty()


def test_readers_do_not_add_tasks(store: Store) -> None:
    with pytest.raises(AccessDenied):
        tasks.add_tasks(store, Actor("x", "X", "analyst"), [1], "Call", None, NOW)
