"""Logging an activity: validated, in the actor's scope, audited, moving the lead's first response."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.activities import ActivityError, NewActivity, log_activity
from flashdash.store import Store
from tests.conftest import NOW


@pytest.fixture
def store(demo_copy: Store) -> Store:
    return demo_copy


def _lead(store: Store, where: str, params: list) -> dict:
    with store.read() as con:
        cur = con.execute(f"SELECT id, owner_id, submitted_at, first_response_at FROM leads WHERE {where} "
                          "ORDER BY id LIMIT 1", params)
        cols = [d[0] for d in cur.description]
        return dict(zip(cols, cur.fetchall()[0], strict=True))


def test_a_rep_logs_a_call_on_their_lead_with_its_audit_record(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    lead = _lead(store, "owner_id = ? AND submitted_at < ?", [rep.rep_id, NOW - timedelta(days=1)])
    new_id = log_activity(store, rep, NewActivity(lead["id"], " Call ", NOW, 15, " connected ", "  "), NOW)
    with store.read() as con:
        row = con.execute("SELECT lead_id, rep_id, type, occurred_at, duration_min, outcome, notes FROM activities "
                          "WHERE id = ?", [new_id]).fetchone()
        audit = con.execute("SELECT actor, action, entity, entity_id FROM audit_log ORDER BY id DESC LIMIT 1"
                            ).fetchone()
    assert row == (lead["id"], rep.rep_id, "call", NOW, 15, "connected", None)
    assert audit == ("rep", "create", "activity", str(new_id))


def test_the_first_activity_after_submission_becomes_the_first_response(store: Store) -> None:
    lead = _lead(store, "first_response_at IS NULL AND submitted_at < ?", [NOW - timedelta(days=2)])
    admin = Actor("admin", "Ada", "admin")
    when = lead["submitted_at"] + timedelta(hours=3)
    log_activity(store, admin, NewActivity(lead["id"], "email", when), NOW)
    log_activity(store, admin, NewActivity(lead["id"], "call", when + timedelta(hours=1)), NOW)  # later: no change
    assert _lead(store, "id = ?", [lead["id"]])["first_response_at"] == when
    with store.read() as con:
        credited = con.execute("SELECT DISTINCT rep_id FROM activities WHERE lead_id = ?", [lead["id"]]).fetchall()
    assert credited == [(lead["owner_id"],)]  # an admin without a rep logs on the owner's behalf


def test_every_problem_is_named_at_once_and_nothing_is_written(store: Store) -> None:
    admin = Actor("admin", "Ada", "admin")
    with store.read() as con:
        before = con.execute("SELECT count(*) FROM activities").fetchone()
    with pytest.raises(ActivityError) as caught:
        log_activity(store, admin, NewActivity(1, "fax", NOW + timedelta(days=1), 900, "x" * 300, "y" * 6000), NOW)
    message = str(caught.value)
    for part in ("type must be one of call, email, meeting, demo", "in the future", "between 0 and 600 minutes",
                 "keep it under 200", "the most is 5,000"):
        assert part in message
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM activities").fetchone() == before


def test_a_lead_outside_the_reps_book_or_before_its_submission_is_refused(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    other = _lead(store, "owner_id <> ?", [rep.rep_id])
    with pytest.raises(ActivityError, match=f"no lead {other['id']} in your book"):
        log_activity(store, rep, NewActivity(other["id"], "call", NOW), NOW)
    mine = _lead(store, "owner_id = ?", [rep.rep_id])
    with pytest.raises(ActivityError, match="before the lead was submitted"):
        log_activity(store, rep, NewActivity(mine["id"], "call", mine["submitted_at"] - timedelta(days=1)), NOW)


@pytest.mark.parametrize("role", ["analyst", "executive"])
def test_readers_cannot_log_activities(store: Store, role: str) -> None:
    with pytest.raises(AccessDenied, match="does not log them"):
        log_activity(store, Actor(role, role, role), NewActivity(1, "call", NOW), NOW)
