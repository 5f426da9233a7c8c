"""What follows a change to a lead, on a real store: the task rules' tasks and the pause of sequences come from
the same write as the activity or stage change, and the scheduler's Phase 2 jobs run, send and ingest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from flashdash import activities, mail, qualification, tracking
from flashdash import sequences as sq
from flashdash.access import Actor, resolve_actor
from flashdash.activities import NewActivity
from flashdash.store import Store
from jobs import scheduler
from tests import stored
from tests.conftest import NOW
from tests.integration.test_mail import Inbox, _free_port

PHASE_2_JOBS = ("apply_task_rules", "run_sequences", "send_emails", "ingest_tracking", "send_reminders")


@pytest.fixture
def store(demo_copy: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("FLASHDASH_TRACKING_SECRET", "follow-up-test-secret")
    for name in mail.SMTP_ENV.values():  # a developer's own SMTP settings must not leak into the tests
        monkeypatch.delenv(name, raising=False)
    mail.install_starters(demo_copy, NOW - timedelta(days=1))  # as `make run` does on a store without them
    return demo_copy


@pytest.fixture
def manager(store: Store) -> Actor:
    return resolve_actor(store, "manager")


@pytest.fixture
def rep(store: Store) -> Actor:
    return resolve_actor(store, "rep")


def _rows(store: Store, query: str, params: list | None = None) -> list[tuple]:
    return stored.rows(store, query, params)


def _open_lead(store: Store, rep_id: int, statuses: tuple[str, ...] = ("new", "mql")) -> int:
    return _rows(store, "SELECT id FROM leads WHERE owner_id = ? AND list_contains(?, status) AND email IS NOT NULL "
                        "AND contact_name IS NOT NULL AND NOT coalesce(do_not_contact, FALSE) ORDER BY id LIMIT 1",
                 [rep_id, list(statuses)])[0][0]


def _rule_tasks(store: Store, lead_id: int) -> list[tuple]:
    return _rows(store, "SELECT title, rep_id, due_at, created_by, kind FROM tasks WHERE lead_id = ? "
                        "AND rule_id IS NOT NULL AND created_at >= ? ORDER BY id", [lead_id, NOW])


def _enrolled(store: Store, manager: Actor, lead_id: int) -> int:
    template_id = _rows(store, "SELECT min(id) FROM email_templates WHERE team_id IS NULL")[0][0]
    sequence_id = sq.save_sequence(store, manager, None, "Inbound follow-up", None, 1, "reply,stage_change,meeting", [
        {"kind": "email", "day_offset": 2, "title": "Intro email", "template_id": template_id},
        {"kind": "call", "day_offset": 4, "title": "Call"}], True, NOW - timedelta(hours=2))
    done = sq.enroll(store, manager, sequence_id, [lead_id], NOW - timedelta(hours=1))
    return done["enrollment_ids"][0]


def _enrollment(store: Store, enrollment_id: int) -> dict[str, Any]:
    status, reason = _rows(store, "SELECT status, status_reason FROM sequence_enrollments WHERE id = ?",
                           [enrollment_id])[0]
    return {"status": status, "reason": reason}


def test_logging_a_demo_makes_the_proposal_task_for_the_owner_in_the_same_write(store: Store, rep: Actor) -> None:
    lead_id = _open_lead(store, rep.rep_id, ("mql", "sql", "opportunity"))
    at = NOW - timedelta(hours=1)
    activities.log_activity(store, rep, NewActivity(lead_id, "demo", at, 45, "demo given", None), NOW)
    assert _rule_tasks(store, lead_id) == [("Send the proposal", rep.rep_id, at + timedelta(hours=48), "rule", "email")]
    activities.log_activity(store, rep, NewActivity(lead_id, "call", NOW, 5, "connected", None), NOW)
    assert len(_rule_tasks(store, lead_id)) == 1, "a call owes nothing, and the demo's task is not made twice"


def test_moving_a_lead_to_sql_by_hand_makes_the_discovery_call_and_pauses_its_sequence(
        store: Store, manager: Actor, rep: Actor) -> None:
    lead_id = _open_lead(store, rep.rep_id, ("mql",))
    enrollment_id = _enrolled(store, manager, lead_id)
    qualification.change_stage(store, manager, [lead_id], "sql", "budget confirmed on the call", NOW)
    [(title, owner, due_at, created_by, kind)] = _rule_tasks(store, lead_id)
    assert (title, owner, due_at, created_by, kind) == ("Discovery call", rep.rep_id, NOW + timedelta(hours=24),
                                                        "rule", "call")
    paused = _enrollment(store, enrollment_id)
    assert paused["status"] == "paused" and "SQL" in paused["reason"]


@pytest.mark.parametrize("job", PHASE_2_JOBS)
def test_every_phase_2_job_runs_on_the_demo_and_is_recorded(store: Store, job: str) -> None:
    assert scheduler.run_job(job, store, NOW)
    assert _rows(store, "SELECT status FROM job_runs WHERE job = ?", [job]) == [("ok",)]


def test_without_smtp_the_email_job_keeps_the_queue_and_with_it_sends_over_loopback(
        store: Store, rep: Actor, monkeypatch: pytest.MonkeyPatch) -> None:
    lead_id = _open_lead(store, rep.rep_id)
    template_id = _rows(store, "SELECT min(id) FROM email_templates WHERE team_id IS NULL")[0][0]
    email_id = mail.send_now(store, rep, lead_id, template_id, NOW)
    assert scheduler.run_job("send_emails", store, NOW)
    assert _rows(store, "SELECT status FROM emails WHERE id = ?", [email_id]) == [("queued",)]

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        monkeypatch.setenv("FLASHDASH_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("FLASHDASH_SMTP_PORT", str(controller.port))
        monkeypatch.setenv("FLASHDASH_SMTP_TLS", "none")
        monkeypatch.setenv("FLASHDASH_SMTP_FROM", "sales@flash.example")
        assert scheduler.run_job("send_emails", store, NOW + timedelta(minutes=1))
    finally:
        controller.stop()
    [(status, to_address)] = _rows(store, "SELECT status, to_address FROM emails WHERE id = ?", [email_id])
    assert status == "sent" and [rcpt for rcpt, _ in inbox.messages] == [[to_address]]
    assert _rows(store, "SELECT rows_written FROM job_runs WHERE job = 'send_emails' ORDER BY id") == [(0,), (1,)]


def test_a_reply_the_tracking_job_ingests_pauses_the_leads_sequence(store: Store, manager: Actor,
                                                                     rep: Actor) -> None:
    lead_id = _open_lead(store, rep.rep_id)
    enrollment_id = _enrolled(store, manager, lead_id)
    email_id = mail.send_now(store, rep, lead_id, ("Checking in", "Hi {{ lead.first_name }}"), NOW)
    [(token,)] = _rows(store, "SELECT token FROM emails WHERE id = ?", [email_id])
    tracking.Spool(tracking.spool_dir(store.path)).append(tracking.new_event("reply", token, at=NOW))
    assert _enrollment(store, enrollment_id)["status"] == "active"
    assert scheduler.run_job("ingest_tracking", store, NOW + timedelta(minutes=1))
    paused = _enrollment(store, enrollment_id)
    assert paused["status"] == "paused" and "replied" in paused["reason"]
    assert _rows(store, "SELECT kind FROM email_events WHERE email_id = ?", [email_id]) == [("reply",)]


@pytest.mark.parametrize("job", ["send_emails", "ingest_tracking", "apply_task_rules"])
def test_a_minutely_job_with_nothing_to_do_leaves_the_apps_caches_alone(store: Store, job: str) -> None:
    assert scheduler.run_job("apply_task_rules", store, NOW)  # what the demo's last day owes, made once
    version = store.version()
    assert scheduler.run_job(job, store, NOW + timedelta(minutes=1))
    assert store.version() == version, "nothing changed, so no cached page needs to be read again"
    assert _rows(store, "SELECT status FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT 1", [job]) == [("ok",)]
