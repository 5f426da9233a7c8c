"""Sequences on a real store: definitions, enrolment, the scheduler's runs, pausing, resuming, results, scope."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl
import pytest

from flashdash import activities, qualification
from flashdash import sequences as sq
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.store import Store
from tests import stored
from tests.conftest import NOW

DAY = timedelta(days=1)
TICK = timedelta(minutes=5)  # the scheduler runs a little after a step is due


@pytest.fixture
def store(demo_copy: Store) -> Store:
    return demo_copy


@pytest.fixture
def admin(store: Store) -> Actor:
    return resolve_actor(store, "admin")


@pytest.fixture
def manager(store: Store) -> Actor:
    return resolve_actor(store, "manager")  # manages team 1 (reps 1-4)


@pytest.fixture
def rep(store: Store) -> Actor:
    return resolve_actor(store, "rep")  # rep 2, in team 1


def _sql(store: Store, query: str, params: list | None = None) -> list[tuple]:
    with store.write() as con:
        return con.execute(query, params or []).fetchall()


def _one(store: Store, query: str, params: list | None = None) -> Any:
    return stored.rows(store, query, params)[0][0]


def _frame(store: Store, query: str, params: list | None = None) -> pl.DataFrame:
    with store.read() as con:
        return con.sql(query, params=params or []).pl()


def _template(store: Store, name: str, subject: str = "Hello {{ lead.first_name }}",
              body: str = "Hi {{ lead.first_name }}, this is {{ rep.first_name }}.", team_id: int | None = None,
              active: bool = True) -> int:
    return _sql(store, "INSERT INTO email_templates (id, team_id, name, subject, body, active) VALUES "
                       "(nextval('email_templates_id_seq'), ?, ?, ?, ?, ?) RETURNING id",
                [team_id, name, subject, body, active])[0][0]


def _leads(store: Store, owner: int, n: int, statuses: tuple[str, ...] = ("new", "mql")) -> list[int]:
    with store.read() as con:
        return [r[0] for r in con.execute(
            f"SELECT id FROM leads WHERE owner_id = ? AND status IN {statuses!r} ORDER BY id LIMIT ?",
            [owner, n]).fetchall()]


def _cadence(store: Store, manager: Actor, template_id: int, pause_on: str = "reply,stage_change,meeting",
             name: str = "Inbound") -> int:
    """Team 1's call (day 0), email (day 1), task (day 3)."""
    return sq.save_sequence(store, manager, None, name, "test cadence", 1, pause_on, [
        {"kind": "call", "day_offset": 0, "title": "Intro call"},
        {"kind": "email", "day_offset": 1, "title": "Intro email", "template_id": template_id},
        {"kind": "task", "day_offset": 3, "title": "Research the merchant"},
    ], True, NOW)


def _enrollment(store: Store, enrollment_id: int) -> dict[str, Any]:
    return _frame(store, "SELECT * FROM sequence_enrollments WHERE id = ?", [enrollment_id]).row(0, named=True)


# ---------------------------------------------------------------- definitions


def test_a_manager_saves_a_sequence_for_their_team_and_it_is_audited(store: Store, manager: Actor,
                                                                      rep: Actor) -> None:
    sid = _cadence(store, manager, _template(store, "Intro"))
    listed = sq.sequences(store, rep).row(0, named=True)
    assert (listed["id"], listed["name"], listed["team_id"], listed["steps"], listed["email_steps"]) == \
        (sid, "Inbound", 1, 3, 1)
    assert listed["source"] == "team" and not listed["nurture"] and listed["active_enrollments"] == 0
    steps = sq.steps(store, rep, sid)
    assert steps.select("position", "kind", "day_offset", "title", "template").rows() == [
        (1, "call", 0, "Intro call", None), (2, "email", 1, "Intro email", "Intro"),
        (3, "task", 3, "Research the merchant", None)]
    assert _one(store, "SELECT count(*) FROM audit_log WHERE entity = 'sequence' AND entity_id = ?", [str(sid)]) == 1


def test_an_invalid_sequence_names_every_problem_and_writes_nothing(store: Store, manager: Actor) -> None:
    other_team = _template(store, "Theirs", team_id=2)
    off = _template(store, "Old", active=False)
    _cadence(store, manager, _template(store, "Intro"))
    with pytest.raises(sq.SequenceError) as caught:
        sq.save_sequence(store, manager, None, "inbound", None, 1, "reply", [
            {"kind": "email", "day_offset": 0, "title": "A", "template_id": other_team},
            {"kind": "email", "day_offset": 1, "title": "B", "template_id": off},
            {"kind": "email", "day_offset": 2, "title": "C", "template_id": 9999},
        ], True, NOW)
    text = str(caught.value)
    assert "step 1: the email template 'Theirs' belongs to another team" in text
    assert "step 2: the email template 'Old' is turned off" in text
    assert "step 3: there is no email template 9999" in text
    assert "this team already has a sequence named 'inbound'" in text
    assert _one(store, "SELECT count(*) FROM sequences") == 1


def test_names_are_unique_per_team_not_across_teams(store: Store, admin: Actor) -> None:
    steps = [{"kind": "call", "day_offset": 0, "title": "Call"}]
    sq.save_sequence(store, admin, None, "Follow-up", None, 1, "", steps, True, NOW)
    sq.save_sequence(store, admin, None, "Follow-up", None, 2, "", steps, True, NOW)
    sq.save_sequence(store, admin, None, "Follow-up", None, None, "", steps, True, NOW)
    with pytest.raises(sq.SequenceError, match="the store already has a sequence named"):
        sq.save_sequence(store, admin, None, "FOLLOW-UP", None, None, "", steps, True, NOW)


def test_only_managers_of_the_team_and_admins_define_sequences(store: Store, manager: Actor, rep: Actor) -> None:
    steps = [{"kind": "call", "day_offset": 0, "title": "Call"}]
    with pytest.raises(AccessDenied, match="not team 2"):
        sq.save_sequence(store, manager, None, "Theirs", None, 2, "", steps, True, NOW)
    with pytest.raises(AccessDenied, match="Only an admin defines store-wide sequences"):
        sq.save_sequence(store, manager, None, "Everyone", None, None, "", steps, True, NOW)
    with pytest.raises(AccessDenied):
        sq.save_sequence(store, rep, None, "Mine", None, 1, "", steps, True, NOW)
    assert _one(store, "SELECT count(*) FROM sequences") == 0


def test_editing_keeps_enrollments_on_their_position_and_a_removed_step_that_ran_keeps_its_results(
        store: Store, manager: Actor, rep: Actor) -> None:
    sid = _cadence(store, manager, _template(store, "Intro"))
    lead = _leads(store, 2, 1)
    eid = sq.enroll(store, rep, sid, lead, NOW)["enrollment_ids"][0]
    sq.run_due(store, NOW + TICK)  # step 1 (the call) ran
    old = sq.steps(store, manager, sid)
    call, email, task = old["id"].to_list()
    # Drop the call (it ran), drop the task (never ran), add a new call on day 2.
    sq.save_sequence(store, manager, sid, "Inbound", None, 1, "reply", [
        {"id": email, "kind": "email", "day_offset": 1, "title": "Intro email", "template_id": old["template_id"][1]},
        {"kind": "call", "day_offset": 2, "title": "Second call"},
    ], True, NOW)
    current = sq.steps(store, manager, sid)
    assert current.select("id", "position", "title").rows()[0] == (email, 1, "Intro email")
    assert current["title"].to_list() == ["Intro email", "Second call"]
    assert _one(store, "SELECT position FROM sequence_steps WHERE id = ?", [call]) == 0  # kept, out of the sequence
    assert _one(store, "SELECT count(*) FROM sequence_steps WHERE id = ?", [task]) == 0  # never ran: deleted
    assert _enrollment(store, eid)["next_position"] == 2  # still waiting for "step 2": now the second call
    results = sq.results(store, manager, sid)
    assert results.filter(pl.col("removed"))["step_id"].to_list() == [call]
    assert results.filter(pl.col("step_id") == call)["runs"].item() == 1


# ---------------------------------------------------------------- the starter library


def test_starters_are_listed_until_a_sequence_exists_and_usable_once_their_templates_are(
        store: Store, manager: Actor) -> None:
    listed = sq.sequences(store, manager)
    assert listed["source"].to_list() == ["starter", "starter"] and not listed["ready"].any()
    assert listed.filter(pl.col("name") == "Cold lead nurture")["nurture"].item()
    with pytest.raises(sq.SequenceError, match="needs an email template named 'Intro'"):
        sq.adopt_starter(store, manager, "New inbound lead", 1, NOW)
    intro, pricing = _template(store, "intro"), _template(store, "Pricing follow-up")
    sid = sq.adopt_starter(store, manager, "new inbound lead", 1, NOW)
    steps = sq.steps(store, manager, sid)
    assert steps.select("kind", "day_offset", "template_id").rows() == [
        ("call", 0, None), ("email", 1, intro), ("call", 3, None), ("email", 7, pricing)]
    assert sq.sequences(store, manager)["source"].to_list() == ["team"]


# ---------------------------------------------------------------- enrolment


def test_enrolling_one_and_many_refuses_with_reasons_and_never_enrolls_twice(store: Store, manager: Actor,
                                                                            rep: Actor) -> None:
    sid = _cadence(store, manager, _template(store, "Intro"))
    mine = _leads(store, 2, 4)
    theirs = _leads(store, 6, 1)
    won = _leads(store, 2, 1, ("won",))
    _sql(store, "UPDATE leads SET do_not_contact = true WHERE id = ?", [mine[3]])
    first = sq.enroll(store, rep, sid, [mine[0]], NOW)
    assert (first["enrolled"], first["already"], first["refused"]) == (1, 0, 0)
    wanted = mine + theirs + won
    preview = sq.preview_enroll(store, rep, sid, wanted)
    assert (preview["enrolled"], preview["already"], preview["refused"]) == (2, 1, 3)
    assert _one(store, "SELECT count(*) FROM sequence_enrollments") == 1  # the preview wrote nothing
    done = sq.enroll(store, rep, sid, wanted, NOW)
    assert {k: done[k] for k in ("enrolled", "already", "refused")} == \
        {k: preview[k] for k in ("enrolled", "already", "refused")}
    assert {r["lead_id"]: r["reason"] for r in done["refusals"]} == {
        mine[3]: "the lead asked not to be contacted", theirs[0]: "not a lead in your book",
        won[0]: "closed (Won); only open leads are enrolled"}
    rows = _frame(store, "SELECT lead_id, rep_id, status, next_position, next_due_at FROM sequence_enrollments "
                         "ORDER BY lead_id")
    assert rows.rows() == [(lead, 2, "active", 1, NOW) for lead in mine[:3]]
    assert sq.enroll(store, rep, sid, mine[:3], NOW)["already"] == 3


def test_the_first_step_is_due_its_day_offset_after_enrollment(store: Store, admin: Actor) -> None:
    sid = sq.save_sequence(store, admin, None, "Later", None, None, "", [
        {"kind": "call", "day_offset": 2, "title": "Call"}], True, NOW)
    eid = sq.enroll(store, admin, sid, _leads(store, 6, 1), NOW)["enrollment_ids"][0]
    assert _enrollment(store, eid)["next_due_at"] == NOW + 2 * DAY


def test_a_manager_enrolls_the_teams_leads_but_readers_do_not_enroll(store: Store, manager: Actor) -> None:
    sid = _cadence(store, manager, _template(store, "Intro"))
    team = _leads(store, 2, 1) + _leads(store, 4, 1)
    assert sq.enroll(store, manager, sid, team + _leads(store, 7, 1), NOW)["enrolled"] == 2
    with pytest.raises(AccessDenied):
        sq.enroll(store, resolve_actor(store, "analyst"), sid, team, NOW)


def test_a_sequence_of_another_team_cannot_be_used(store: Store, admin: Actor, manager: Actor, rep: Actor) -> None:
    theirs = sq.save_sequence(store, admin, None, "Theirs", None, 2, "", [
        {"kind": "call", "day_offset": 0, "title": "Call"}], True, NOW)
    for actor in (manager, rep):
        with pytest.raises(sq.SequenceError, match=f"no sequence {theirs} you can use"):
            sq.enroll(store, actor, theirs, _leads(store, 2, 1), NOW)
        with pytest.raises(sq.SequenceError):
            sq.results(store, actor, theirs)
        assert theirs not in sq.sequences(store, actor)["id"].to_list()


def test_a_nurture_takes_leads_without_an_owner_and_never_makes_tasks(store: Store, admin: Actor) -> None:
    tpl = _template(store, "Case study", body="Hello {{ lead.merchant_name }}")
    nurture = sq.save_sequence(store, admin, None, "Nurture", None, None, "reply", [
        {"kind": "email", "day_offset": 0, "title": "", "template_id": tpl},
        {"kind": "email", "day_offset": 14, "title": "Again", "template_id": tpl}], True, NOW)
    mixed = sq.save_sequence(store, admin, None, "Mixed", None, None, "reply", [
        {"kind": "call", "day_offset": 0, "title": "Call"}], True, NOW)
    lead = _leads(store, 6, 1)
    _sql(store, "UPDATE leads SET owner_id = NULL WHERE id = ?", lead)
    assert sq.enroll(store, admin, mixed, lead, NOW)["refusals"][0]["reason"].startswith("the lead has no owner")
    assert sq.enroll(store, admin, nurture, lead, NOW)["enrolled"] == 1
    assert sq.steps(store, admin, nurture)["title"][0] == "Case study"  # an email step's title defaults
    sq.run_due(store, NOW + TICK)
    sq.run_due(store, NOW + 14 * DAY + TICK)
    assert _one(store, "SELECT count(*) FROM tasks") == 0
    assert _frame(store, "SELECT status, rep_id FROM emails").rows() == [("queued", None), ("queued", None)]
    assert _one(store, "SELECT status FROM sequence_enrollments") == "completed"


# ---------------------------------------------------------------- running


def test_successive_runs_do_each_step_once_on_its_day_and_complete_at_the_end(store: Store, manager: Actor,
                                                                              rep: Actor) -> None:
    tpl = _template(store, "Intro")
    sid = _cadence(store, manager, tpl)
    lead = _leads(store, 2, 1)[0]
    eid = sq.enroll(store, rep, sid, [lead], NOW)["enrollment_ids"][0]
    step_ids = sq.steps(store, rep, sid)["id"].to_list()
    counts = sq.run_due(store, NOW + TICK)
    assert (counts["steps_run"], counts["tasks"], counts["emails"]) == (1, 1, 0)
    assert sq.run_due(store, NOW + TICK)["steps_run"] == 0  # twice at the same now: nothing more
    assert sq.run_due(store, NOW + DAY - TICK)["steps_run"] == 0
    assert sq.run_due(store, NOW + DAY + TICK)["emails"] == 1
    assert sq.run_due(store, NOW + 2 * DAY)["steps_run"] == 0
    last = sq.run_due(store, NOW + 3 * DAY + TICK)
    assert (last["tasks"], last["completed"]) == (1, 1)
    assert sq.run_due(store, NOW + 30 * DAY)["steps_run"] == 0
    made = _frame(store, "SELECT lead_id, rep_id, kind, title, due_at, enrollment_id, step_id FROM tasks ORDER BY id")
    assert made.rows() == [(lead, 2, "call", "Intro call", NOW + TICK, eid, step_ids[0]),
                           (lead, 2, "task", "Research the merchant", NOW + 3 * DAY + TICK, eid, step_ids[2])]
    email = _frame(store, "SELECT lead_id, template_id, enrollment_id, step_id, status, subject FROM emails")
    assert email.rows()[0][:5] == (lead, tpl, eid, step_ids[1], "queued")
    assert email["subject"][0].startswith("Hello ")
    runs = _frame(store, "SELECT step_id, ran_at, outcome FROM sequence_step_runs ORDER BY id")
    assert runs.rows() == [(step_ids[0], NOW + TICK, "created"), (step_ids[1], NOW + DAY + TICK, "queued"),
                           (step_ids[2], NOW + 3 * DAY + TICK, "created")]
    done = _enrollment(store, eid)
    assert (done["status"], done["next_due_at"]) == ("completed", None)
    assert done["status_reason"].startswith("all steps ran")


def test_two_runs_at_once_never_run_a_step_twice(store: Store, manager: Actor, rep: Actor) -> None:
    sid = _cadence(store, manager, _template(store, "Intro"))
    sq.enroll(store, rep, sid, _leads(store, 2, 5), NOW)
    errors: list[Exception] = []

    def run() -> None:
        try:
            sq.run_due(store, NOW + TICK)
        except Exception as exc:  # a thread's exception would not fail the test by itself
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sq.run_due(store, NOW + TICK)  # whatever a conflict left undone
    assert _one(store, "SELECT count(*) FROM sequence_step_runs") == 5
    assert _one(store, "SELECT count(*) FROM tasks") == 5
    # A run that collided with another one in DuckDB rolled back whole; nothing else may go wrong.
    assert all(isinstance(e, duckdb.TransactionException) and "Conflict" in str(e) for e in errors), errors
    assert len(errors) < 3


# ---------------------------------------------------------------- pausing by itself


def test_a_reply_pauses_only_the_enrollments_whose_pause_on_names_it(store: Store, manager: Actor,
                                                                      rep: Actor) -> None:
    tpl = _template(store, "Intro")
    on_reply = _cadence(store, manager, tpl, "reply")
    not_on_reply = _cadence(store, manager, tpl, "stage_change,meeting", name="No reply pause")
    lead = _leads(store, 2, 1)
    first = sq.enroll(store, rep, on_reply, lead, NOW)["enrollment_ids"][0]
    second = sq.enroll(store, rep, not_on_reply, lead, NOW)["enrollment_ids"][0]
    sq.run_due(store, NOW + TICK)  # the calls
    sq.run_due(store, NOW + DAY + TICK)  # the emails
    email_id = _one(store, "SELECT min(id) FROM emails WHERE enrollment_id = ?", [first])
    _sql(store, "INSERT INTO email_events (id, email_id, kind, occurred_at) VALUES "
                "(nextval('email_events_id_seq'), ?, 'reply', ?)", [email_id, NOW + DAY + 2 * TICK])
    counts = sq.run_due(store, NOW + 2 * DAY)
    assert counts["paused"] == 1
    paused = _enrollment(store, first)
    assert (paused["status"], paused["status_reason"]) == ("paused", "replied on 2026-07-01")
    assert _enrollment(store, second)["status"] == "active"
    assert sq.run_due(store, NOW + 3 * DAY + TICK)["tasks"] == 1  # only the enrollment that goes on


def test_a_stage_change_pauses_in_its_own_write(store: Store, manager: Actor,
                                                                      rep: Actor) -> None:
    tpl = _template(store, "Intro")
    watching = _cadence(store, manager, tpl, "stage_change")
    ignoring = _cadence(store, manager, tpl, "reply,meeting", name="Ignores stages")
    lead = _leads(store, 2, 1, ("new",))
    first = sq.enroll(store, rep, watching, lead, NOW)["enrollment_ids"][0]
    sq.enroll(store, rep, ignoring, lead, NOW)
    later = NOW + DAY / 2
    qualification.change_stage(store, rep, lead, "mql", "qualified on the call", later)
    paused = _enrollment(store, first)  # paused by the stage change's own write (flashdash.follow_up)
    assert (paused["status"], paused["status_reason"]) == ("paused", "moved to MQL on 2026-07-01")
    assert _one(store, "SELECT count(*) FROM sequence_enrollments WHERE status = 'active'") == 1  # the other
    with store.write() as con:
        assert sq.pause_if_needed(store, con, lead, later).is_empty()  # already paused: nothing more


def test_a_logged_meeting_or_a_reply_in_an_email_outcome_pauses_in_its_own_write(store: Store, manager: Actor, rep: Actor) -> None:
    tpl = _template(store, "Intro")
    on_meeting = _cadence(store, manager, tpl, "meeting")
    on_reply = _cadence(store, manager, tpl, "reply", name="Replies")
    lead_a, lead_b = _leads(store, 2, 2, ("new",))
    meet = sq.enroll(store, rep, on_meeting, [lead_a], NOW)["enrollment_ids"][0]
    reply = sq.enroll(store, rep, on_reply, [lead_a, lead_b], NOW)["enrollment_ids"]
    later = NOW + DAY / 2
    activities.log_activity(store, rep, activities.NewActivity(lead_a, "meeting", later, 30, "intro meeting"), later)
    activities.log_activity(store, rep, activities.NewActivity(lead_b, "email", later, None, "has not replied"), later)
    # each activity's own write paused what it called for (flashdash.follow_up)
    statuses = {e: _enrollment(store, e)["status"] for e in (meet, *reply)}
    assert statuses == {meet: "paused", reply[0]: "active", reply[1]: "active"}
    assert _enrollment(store, meet)["status_reason"] == "meeting logged on 2026-07-01"
    activities.log_activity(store, rep, activities.NewActivity(lead_b, "email", later, None, "Replied: call me"),
                            later)
    paused = _enrollment(store, reply[1])
    assert (paused["status"], paused["status_reason"]) == ("paused", "replied on 2026-07-01")
    with store.write() as con:
        assert sq.pause_if_needed(store, con, [lead_a, lead_b], later).is_empty()


def test_a_closed_lead_stops_its_enrollment_at_once_and_at_the_next_run(store: Store, manager: Actor, rep: Actor) -> None:
    sid = _cadence(store, manager, _template(store, "Intro"), pause_on="")
    lead = _leads(store, 2, 1)
    eid = sq.enroll(store, rep, sid, lead, NOW)["enrollment_ids"][0]
    qualification.change_stage(store, rep, lead, "lost", "went with a competitor", NOW + TICK)
    stopped = _enrollment(store, eid)  # stopped by the stage change's own write
    assert stopped["status"] == "stopped"
    with store.write() as con:  # as the next run would: behind the hook's back
        con.execute("UPDATE sequence_enrollments SET status = 'active', status_reason = NULL WHERE id = ?", [eid])
    assert sq.run_due(store, NOW + 2 * TICK)["stopped"] == 1
    stopped = _enrollment(store, eid)
    assert (stopped["status"], stopped["status_reason"]) == ("stopped", "lead closed: Lost on 2026-06-30")
    assert _one(store, "SELECT count(*) FROM tasks") == 0


# ---------------------------------------------------------------- failures, suppression, resuming


def test_a_template_the_lead_cannot_fill_pauses_with_the_reason_and_resume_retries_it(
        store: Store, manager: Actor, rep: Actor) -> None:
    tpl = _template(store, "Campaign", body="About {{ lead.campaign }}")
    sid = _cadence(store, manager, tpl)
    lead = _leads(store, 2, 1)
    _sql(store, "UPDATE leads SET campaign = NULL WHERE id = ?", lead)
    eid = sq.enroll(store, rep, sid, lead, NOW)["enrollment_ids"][0]
    sq.run_due(store, NOW + TICK)
    counts = sq.run_due(store, NOW + DAY + TICK)
    assert (counts["failed"], counts["paused"], counts["emails"]) == (1, 1, 0)
    paused = _enrollment(store, eid)
    assert paused["status"] == "paused" and paused["next_position"] == 2
    assert paused["status_reason"].startswith("step 2 (Intro email) failed: The template needs something this lead")
    assert _one(store, "SELECT outcome FROM sequence_step_runs ORDER BY id DESC LIMIT 1") == "failed"
    assert _one(store, "SELECT count(*) FROM emails") == 0
    _sql(store, "UPDATE leads SET campaign = 'spring' WHERE id = ?", lead)
    resumed_at = NOW + 2 * DAY
    assert sq.resume(store, rep, [eid], resumed_at)["changed"] == 1
    paused_for = resumed_at - (NOW + DAY + TICK)
    assert _enrollment(store, eid)["next_due_at"] == NOW + DAY + paused_for  # due as late as it waited
    assert sq.run_due(store, resumed_at + TICK)["emails"] == 1
    assert _one(store, "SELECT body FROM emails") == "About spring"


def test_a_do_not_contact_leads_email_is_recorded_suppressed_and_the_sequence_goes_on(
        store: Store, manager: Actor, rep: Actor) -> None:
    sid = _cadence(store, manager, _template(store, "Intro"))
    lead = _leads(store, 2, 1)
    eid = sq.enroll(store, rep, sid, lead, NOW)["enrollment_ids"][0]
    sq.run_due(store, NOW + TICK)
    _sql(store, "UPDATE leads SET do_not_contact = true WHERE id = ?", lead)
    counts = sq.run_due(store, NOW + DAY + TICK)
    assert (counts["suppressed"], counts["emails"], counts["paused"]) == (1, 0, 0)
    assert _frame(store, "SELECT status, last_error FROM emails").rows() == [
        ("suppressed", "the lead asked not to be contacted")]
    run = _frame(store, "SELECT outcome, email_id FROM sequence_step_runs ORDER BY id DESC LIMIT 1").row(0)
    assert run[0] == "skipped" and run[1] is not None
    assert _enrollment(store, eid)["next_position"] == 3
    assert sq.run_due(store, NOW + 3 * DAY + TICK)["completed"] == 1


def test_a_paused_enrollment_resumes_from_its_position_with_its_dates_shifted_by_the_pause(
        store: Store, manager: Actor, rep: Actor) -> None:
    sid = _cadence(store, manager, _template(store, "Intro"))
    eid = sq.enroll(store, rep, sid, _leads(store, 2, 1), NOW)["enrollment_ids"][0]
    sq.run_due(store, NOW + TICK)
    assert sq.pause(store, rep, [eid], "on holiday", NOW + DAY / 2)["changed"] == 1
    assert sq.run_due(store, NOW + DAY + TICK)["steps_run"] == 0
    sq.resume(store, rep, [eid], NOW + 3 * DAY + DAY / 2)  # paused three days
    assert _enrollment(store, eid)["next_due_at"] == NOW + 4 * DAY
    assert sq.run_due(store, NOW + 4 * DAY - TICK)["steps_run"] == 0
    assert sq.run_due(store, NOW + 4 * DAY + TICK)["emails"] == 1
    assert sq.run_due(store, NOW + 6 * DAY + TICK)["tasks"] == 1  # the day-3 task, still two days after the email
    refused = sq.resume(store, rep, [eid], NOW + 7 * DAY)
    assert refused["refusals"] == [{"enrollment_id": eid, "reason": "not paused (completed)"}]


def test_stopping_needs_a_reason_and_a_rep_stops_only_their_own(store: Store, manager: Actor, rep: Actor) -> None:
    sid = _cadence(store, manager, _template(store, "Intro"))
    mine = sq.enroll(store, rep, sid, _leads(store, 2, 1), NOW)["enrollment_ids"][0]
    teammate = sq.enroll(store, manager, sid, _leads(store, 4, 1), NOW)["enrollment_ids"][0]
    with pytest.raises(sq.SequenceError, match="Give a reason"):
        sq.stop(store, rep, [mine], " ", NOW)
    done = sq.stop(store, rep, [mine, teammate], "not a fit", NOW)
    assert done["changed"] == 1 and done["refusals"] == [
        {"enrollment_id": teammate, "reason": "not an enrollment in your book"}]
    assert _enrollment(store, mine)["status_reason"] == "stopped by rep: not a fit"
    assert _enrollment(store, teammate)["status"] == "active"
    assert sq.enrollments(store, rep)["id"].to_list() == [mine]
    assert sorted(sq.enrollments(store, manager, sequence_id=sid)["id"].to_list()) == sorted([mine, teammate])


# ---------------------------------------------------------------- results


def test_results_per_step_count_runs_tasks_emails_events_and_leads_that_advanced(
        store: Store, manager: Actor, rep: Actor) -> None:
    sid = _cadence(store, manager, _template(store, "Intro"), pause_on="")
    leads = _leads(store, 2, 3, ("new",))
    sq.enroll(store, rep, sid, leads, NOW)
    sq.run_due(store, NOW + TICK)
    sq.run_due(store, NOW + DAY + TICK)
    # By hand: two calls done (one on time), two emails sent, one opened and clicked, one replied; one lead moved
    # on to MQL within 14 days of the email, another only after 20 days.
    calls = [r[0] for r in _sql(store, "SELECT id FROM tasks ORDER BY lead_id")]
    _sql(store, "UPDATE tasks SET status = 'done', done_at = due_at WHERE id = ?", [calls[0]])
    _sql(store, "UPDATE tasks SET status = 'done', done_at = due_at + INTERVAL 1 DAY WHERE id = ?", [calls[1]])
    emails = [r[0] for r in _sql(store, "SELECT id FROM emails ORDER BY lead_id")]
    _sql(store, "UPDATE emails SET status = 'sent', sent_at = queued_at WHERE id IN (?, ?)", emails[:2])
    for email_id, kind in ((emails[0], "open"), (emails[0], "open"), (emails[0], "click"), (emails[1], "reply")):
        _sql(store, "INSERT INTO email_events (id, email_id, kind, occurred_at) VALUES "
                    "(nextval('email_events_id_seq'), ?, ?, ?)", [email_id, kind, NOW + 2 * DAY])
    for lead, days in ((leads[0], 5), (leads[1], 20)):
        _sql(store, "INSERT INTO lead_stage_changes (id, lead_id, from_status, to_status, changed_at, actor) VALUES "
                    "(nextval('lead_stage_changes_id_seq'), ?, 'new', 'mql', ?, 'rule')", [lead, NOW + days * DAY])
    results = sq.results(store, manager, sid)
    call, email, task = results.iter_rows(named=True)
    assert (call["runs"], call["tasks"], call["tasks_done"], call["tasks_on_time"]) == (3, 3, 2, 1)
    assert (email["runs"], email["emails"], email["emails_sent"]) == (3, 3, 2)
    assert (email["opened"], email["clicked"], email["replied"], email["open_rate"]) == (1, 1, 1, 0.5)
    assert (email["advanced_14d"], call["advanced_14d"], task["runs"]) == (1, 1, 0)
    assert sq.results(store, rep, sid)["runs"].to_list() == [3, 3, 0]  # all three are the rep's leads
    summary = sq.enrollment_summary(store, manager, sid)
    assert dict(summary["by_status"].rows()) == {"active": 3, "paused": 0, "completed": 0, "stopped": 0}


def test_the_summary_counts_pause_reasons_by_kind(store: Store, manager: Actor, rep: Actor) -> None:
    sid = _cadence(store, manager, _template(store, "Intro"))
    ids = sq.enroll(store, rep, sid, _leads(store, 2, 3), NOW)["enrollment_ids"]
    sq.pause(store, rep, ids[:2], "holiday", NOW)
    sq.stop(store, rep, ids[2:], "not a fit", NOW)
    reasons = sq.enrollment_summary(store, manager, sid)["reasons"]
    assert reasons.select("status", "kind", "enrollments").rows() == [
        ("paused", "paused by hand", 2), ("stopped", "stopped by hand", 1)]


def test_an_analyst_reads_results_and_sequences_but_does_not_change_them(store: Store, manager: Actor,
                                                                          rep: Actor) -> None:
    sid = _cadence(store, manager, _template(store, "Intro"))
    eid = sq.enroll(store, rep, sid, _leads(store, 2, 1), NOW)["enrollment_ids"][0]
    analyst = resolve_actor(store, "analyst")
    assert sq.sequences(store, analyst)["active_enrollments"].to_list() == [1]
    assert sq.results(store, analyst, sid).height == 3
    for change in (lambda: sq.stop(store, analyst, [eid], "x", NOW), lambda: sq.resume(store, analyst, [eid], NOW)):
        with pytest.raises(AccessDenied):
            change()


def test_the_job_body_reports_the_rows_it_wrote(store: Store, manager: Actor, rep: Actor) -> None:
    sid = _cadence(store, manager, _template(store, "Intro"))
    sq.enroll(store, rep, sid, _leads(store, 2, 2), NOW)
    assert sq.scheduled_run(store, NOW + TICK) == 2
    assert sq.scheduled_run(store, NOW + TICK) == 0


def test_turning_a_sequence_off_pauses_its_enrollments_at_the_next_run(store: Store, manager: Actor,
                                                                        rep: Actor) -> None:
    tpl = _template(store, "Intro")
    sid = _cadence(store, manager, tpl)
    eid = sq.enroll(store, rep, sid, _leads(store, 2, 1), NOW)["enrollment_ids"][0]
    current = sq.steps(store, manager, sid)
    sq.save_sequence(store, manager, sid, "Inbound", None, 1, "reply", [
        {k: r[k] for k in ("id", "kind", "day_offset", "title", "template_id")} for r in current.iter_rows(named=True)
    ], False, NOW)
    assert sq.run_due(store, NOW + TICK)["paused"] == 1
    assert _enrollment(store, eid)["status_reason"] == sq.TURNED_OFF
    assert sq.resume(store, rep, [eid], NOW + DAY)["refusals"][0]["reason"] == "the sequence is turned off"
    with pytest.raises(sq.SequenceError, match="is turned off"):
        sq.enroll(store, rep, sid, _leads(store, 2, 2)[1:], NOW)


@pytest.mark.parametrize("when", [NOW])
def test_a_run_with_nothing_enrolled_writes_nothing(store: Store, when: datetime) -> None:
    assert sq.run_due(store, when) == {k: 0 for k in ("steps_run", "tasks", "emails", "suppressed", "skipped",
                                                      "failed", "completed", "paused", "stopped")}


def test_the_mail_librarys_starter_templates_make_both_starter_sequences_ready(store: Store, admin: Actor) -> None:
    from flashdash import mail

    if not hasattr(mail, "install_starters"):
        pytest.skip("the mail module has no starter library to install yet")
    mail.install_starters(store, NOW)
    starters = {s["name"]: s for s in sq.starter_sequences(store, admin)}
    assert all(s["ready"] for s in starters.values()), [s["needs"] for s in starters.values()]
    nurture = sq.adopt_starter(store, admin, "Cold lead nurture", None, NOW)
    assert sq.steps(store, admin, nurture)["template"].to_list() == ["Nurture: case study", "Pricing follow-up",
                                                                     "Intro"]
    sq.enroll(store, admin, nurture, _leads(store, 6, 1), NOW)
    assert sq.run_due(store, NOW + TICK)["emails"] == 1
