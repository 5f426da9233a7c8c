"""Sequences without a store: definitions, timing, what pauses an enrollment, refusals and reasons."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from flashdash import sequences as sq

T0 = datetime(2026, 7, 1, 9, 0)


def _steps(*spec: tuple[str, int]) -> list[dict]:
    return [{"id": 10 + i, "position": i, "kind": kind, "day_offset": day, "title": f"{kind} {i}"}
            for i, (kind, day) in enumerate(spec, 1)]


# ---------------------------------------------------------------- definitions


def test_a_valid_definition_is_trimmed_and_its_pause_on_put_in_canonical_order() -> None:
    definition, problems = sq.check_definition(
        "  Inbound  ", "  ", " meeting , REPLY ",
        [{"kind": "Call", "day_offset": 0, "title": " Intro call "}, {"kind": "email", "day_offset": 1.0,
                                                                       "title": "", "template_id": 4}])
    assert problems == []
    assert definition.name == "Inbound" and definition.description is None
    assert definition.pause_on == "reply,meeting"
    assert definition.steps == (sq.StepDef("call", 0, "Intro call"), sq.StepDef("email", 1, None, 4))


def test_every_problem_of_a_definition_is_named_with_its_step() -> None:
    _, problems = sq.check_definition("", None, "reply,weather", [
        {"kind": "call", "day_offset": 3, "title": "Call"},
        {"kind": "fax", "day_offset": 1, "title": "Fax"},
        {"kind": "email", "day_offset": -1, "title": "Mail"},
        {"kind": "task", "day_offset": 4, "title": "  ", "template_id": 2},
    ])
    text = "; ".join(problems)
    assert "give the sequence a name" in text
    assert "pause_on may hold reply, stage_change, meeting (got weather)" in text
    assert "step 2: the kind must be one of call, email, task" in text
    assert "step 3: the day offset must be a whole number of days from 0 to 365 (got -1)" in text
    assert "step 3: an email step needs an email template" in text
    assert "step 4: give the task a title" in text
    assert "step 4: a task step takes no email template" in text
    assert "step 2 is on day 1, before step 1's day 3" in text


def test_a_sequence_needs_between_one_and_thirty_steps() -> None:
    assert "at least one step" in "; ".join(sq.check_definition("S", None, "", [])[1])
    many = [{"kind": "call", "day_offset": i, "title": "Call"} for i in range(31)]
    assert "there are 31 steps; the most is 30" in "; ".join(sq.check_definition("S", None, "", many)[1])
    assert sq.check_definition("S", None, "", many[:30])[1] == []


def test_steps_on_the_same_day_are_allowed_but_an_existing_step_may_not_appear_twice() -> None:
    same_day = [{"kind": "call", "day_offset": 2, "title": "A", "id": 5}, {"kind": "task", "day_offset": 2,
                                                                          "title": "B", "id": 5}]
    assert sq.check_definition("S", None, "", same_day)[1] == [
        "the same existing step appears twice; each step id may be used once"]


def test_a_sequence_of_emails_only_is_a_nurture() -> None:
    assert sq.is_nurture([{"kind": "email"}, {"kind": "email"}])
    assert not sq.is_nurture([{"kind": "email"}, {"kind": "call"}])
    assert not sq.is_nurture([])
    assert sq.is_nurture(pl.DataFrame({"kind": ["email"]}))
    assert not sq.is_nurture([sq.StepDef("task", 0, "T")])


# ---------------------------------------------------------------- timing


def test_a_step_run_on_time_keeps_the_schedule_anchored_on_enrollment() -> None:
    ran = T0 + timedelta(minutes=14)  # the scheduler's tick after the due time
    assert sq.next_due(T0, 3, ran) == T0 + timedelta(days=3)


def test_a_step_run_days_late_keeps_the_gap_to_the_next_step_from_when_it_ran() -> None:
    ran = T0 + timedelta(days=4)
    assert sq.next_due(T0, 2, ran) == ran + timedelta(days=2) - sq.LATE_SLACK


def test_successive_nows_run_each_step_once_on_its_day_and_complete_after_the_last() -> None:
    steps = _steps(("call", 0), ("email", 1), ("task", 3))
    plan = sq.plan_steps(1, T0, steps, T0)
    assert [r.position for r in plan.runs] == [1] and plan.next_due_at == T0 + timedelta(days=1)
    assert sq.plan_steps(2, plan.next_due_at, steps, T0 + timedelta(hours=23)).runs == ()
    plan = sq.plan_steps(2, plan.next_due_at, steps, T0 + timedelta(days=1))
    assert [r.position for r in plan.runs] == [2] and plan.next_due_at == T0 + timedelta(days=3)
    plan = sq.plan_steps(3, plan.next_due_at, steps, T0 + timedelta(days=3, minutes=5))
    assert [r.position for r in plan.runs] == [3]
    assert plan.completed and plan.next_due_at is None and plan.next_position == 4


def test_steps_of_the_same_day_run_together() -> None:
    plan = sq.plan_steps(1, T0, _steps(("call", 0), ("email", 0), ("call", 2)), T0)
    assert [r.position for r in plan.runs] == [1, 2] and not plan.completed
    assert plan.next_position == 3 and plan.next_due_at == T0 + timedelta(days=2)


def test_a_scheduler_back_after_days_runs_one_step_and_spaces_out_the_rest() -> None:
    steps = _steps(("call", 0), ("email", 1), ("call", 3))
    now = T0 + timedelta(days=5)
    plan = sq.plan_steps(1, T0, steps, now)
    assert [r.position for r in plan.runs] == [1]
    assert plan.next_due_at == now + timedelta(days=1) - sq.LATE_SLACK


def test_an_enrollment_past_the_last_step_of_a_shortened_sequence_completes_without_running() -> None:
    plan = sq.plan_steps(4, T0, _steps(("call", 0), ("call", 1)), T0)
    assert plan.runs == () and plan.completed


def test_a_pause_shifts_the_next_due_time_by_its_length() -> None:
    paused_at, resumed = T0 + timedelta(days=1), T0 + timedelta(days=4)
    assert sq.resumed_due(T0 + timedelta(days=2), paused_at, resumed) == T0 + timedelta(days=5)
    assert sq.resumed_due(None, paused_at, resumed) is None


# ---------------------------------------------------------------- pausing


def _event(trigger: str, days: float, source: str = "email", detail: str | None = None) -> dict:
    return {"trigger": trigger, "at": T0 + timedelta(days=days), "source": source, "detail": detail}


def test_the_earliest_event_that_pause_on_names_pauses_with_a_dated_reason() -> None:
    events = [_event("meeting", 2, "activity", "demo"), _event("stage_change", 1, "stage", "sql"),
              _event("reply", 3)]
    assert sq.pause_reason("reply,stage_change,meeting", events) == "moved to SQL on 2026-07-02"
    assert sq.pause_reason("reply,meeting", events) == "demo logged on 2026-07-03"
    assert sq.pause_reason("reply", events) == "replied on 2026-07-04"
    assert sq.pause_reason("", events) is None


def test_a_booked_meeting_reads_as_booked() -> None:
    assert sq.pause_reason("meeting", [_event("meeting", 0, "task", "meeting")]) == "meeting booked on 2026-07-01"


def test_a_logged_email_pauses_on_reply_only_when_its_outcome_says_the_lead_replied() -> None:
    assert sq.mentions_reply("Replied: wants pricing")
    assert sq.mentions_reply("sent the deck; she replied the same day")
    for text in ("has not replied", "no reply yet", "didn't replied", "never replied", None, ""):
        assert not sq.mentions_reply(text), text
    assert sq.pause_reason("reply", [_event("reply", 0, "activity", "has not replied yet")]) is None
    assert sq.pause_reason("reply", [_event("reply", 0, "activity", "replied")]) == "replied on 2026-07-01"


def test_a_closed_lead_stops_its_enrollments_and_an_open_one_does_not() -> None:
    assert sq.closed_reason("won", T0) == "lead closed: Won on 2026-07-01"
    assert sq.closed_reason("disqualified", None) == "lead closed: Disqualified"
    assert sq.closed_reason("sql", T0) is None


def test_status_reasons_are_counted_by_their_kind() -> None:
    assert sq.reason_kind("replied on 2026-07-01") == "reply"
    assert sq.reason_kind("moved to SQL on 2026-07-01") == "stage change"
    assert sq.reason_kind("demo logged on 2026-07-01") == "meeting"
    assert sq.reason_kind("step 2 (Intro) failed: ...") == "step failed"
    assert sq.reason_kind("paused by rep: on holiday") == "paused by hand"
    assert sq.reason_kind(sq.TURNED_OFF) == "sequence turned off"
    assert sq.reason_kind(None) == "none"


# ---------------------------------------------------------------- enrolment


def _lead(**kw: object) -> dict:
    return {"in_scope": True, "status": "new", "do_not_contact": False, "owner_id": 2, "has_email": True, **kw}


@pytest.mark.parametrize(("lead", "nurture", "reason"), [
    (_lead(in_scope=False), False, "not a lead in your book"),
    (_lead(status="lost"), False, "closed (Lost)"),
    (_lead(do_not_contact=True), True, "asked not to be contacted"),
    (_lead(owner_id=None), False, "no owner to make the calls"),
    (_lead(has_email=False), True, "no email address"),
])
def test_a_lead_is_refused_enrollment_with_its_reason(lead: dict, nurture: bool, reason: str) -> None:
    assert reason in (sq.enroll_refusal(lead, nurture) or "")


def test_a_nurture_takes_a_lead_without_an_owner_and_a_mixed_sequence_a_lead_without_email() -> None:
    assert sq.enroll_refusal(_lead(owner_id=None), nurture=True) is None
    assert sq.enroll_refusal(_lead(has_email=False), nurture=False) is None


def test_the_confirmation_counts_enrolled_already_and_refused_by_reason() -> None:
    summary = {"sequence": "Inbound", "enrolled": 1, "already": 2, "refused": 3, "refusals": [
        {"lead_id": 1, "reason": "not a lead in your book"}, {"lead_id": 2, "reason": "not a lead in your book"},
        {"lead_id": 3, "reason": "closed (Won)"}]}
    assert sq.enroll_message(summary) == ("This enrolls 1 lead in 'Inbound'; 2 already are in it; 3 refused "
                                          "(not a lead in your book: 2; closed (Won): 1).")
