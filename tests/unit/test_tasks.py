"""The pure parts of tasks: rule validation and layering, what rules owe, priority, digests and compliance."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flashdash import tasks
from flashdash.tasks import BUILTIN_RULES, Rule

NOW = datetime(2026, 6, 30, 12, 0)


# ---------------------------------------------------------------- rules


def test_a_valid_rule_is_normalised() -> None:
    assert tasks.validate_rule(" Stage_Entered ", "SQL ", "  Discovery call ", 24, True) == {
        "trigger": "stage_entered", "value": "sql", "title": "Discovery call", "due_hours": 24, "active": True}


def test_every_problem_with_a_rule_is_named_at_once() -> None:
    with pytest.raises(tasks.TaskError) as caught:
        tasks.validate_rule("stage_left", "sql", " ", 721, "yes")
    message = str(caught.value)
    for part in ("trigger must be one of stage_entered, activity_logged", "give the rule's task a title",
                 "due hours must be a whole number from 0 to 720", "active must be true or false"):
        assert part in message


@pytest.mark.parametrize(("trigger", "value", "what"), [("stage_entered", "closing", "stage"),
                                                        ("activity_logged", "fax", "activity type")])
def test_a_rules_value_must_fit_its_trigger(trigger: str, value: str, what: str) -> None:
    with pytest.raises(tasks.TaskError, match=f"the {what} must be one of"):
        tasks.validate_rule(trigger, value, "Call", 4, True)


@pytest.mark.parametrize("hours", [-1, 2.5, True, None])
def test_due_hours_are_a_whole_number_in_range(hours: object) -> None:
    with pytest.raises(tasks.TaskError, match="due hours"):
        tasks.validate_rule("stage_entered", "sql", "Call", hours, True)


def test_a_title_over_200_characters_is_refused() -> None:
    with pytest.raises(tasks.TaskError, match="201 characters"):
        tasks.validate_rule("stage_entered", "sql", "x" * 201, 4, True)


@pytest.mark.parametrize(("title", "kind"), [("Discovery call", "call"), ("Send the proposal", "email"),
                                             ("E-mail the pricing", "email"), ("Book a meeting", "meeting"),
                                             ("Demos to schedule", "demo"), ("Check the contract", "task"),
                                             ("Recall the callback", "task")])
def test_a_stored_rules_kind_comes_from_its_title(title: str, kind: str) -> None:
    assert tasks.rule_kind(title) == kind


def test_the_built_in_rules_are_the_three_documented_defaults() -> None:
    assert {(r.trigger, r.value, r.title, r.due_hours, r.kind) for r in BUILTIN_RULES} == {
        ("stage_entered", "sql", "Discovery call", 24, "call"),
        ("activity_logged", "demo", "Send the proposal", 48, "email"),
        ("stage_entered", "mql", "First call", 4, "call")}
    assert all(r.id < 0 for r in BUILTIN_RULES)


def test_without_stored_rules_every_team_gets_the_built_in_ones() -> None:
    assert tasks.effective_rules([], 7) == list(BUILTIN_RULES)


def _stored(id_: int, team: int | None, trigger: str, value: str, title: str, hours: int = 8,
            active: bool = True) -> Rule:
    return Rule(id_, team, trigger, value, title, hours, active, "default" if team is None else "team",
                tasks.rule_kind(title))


def test_a_teams_rules_for_an_event_replace_the_defaults_for_that_event_only() -> None:
    stored = [_stored(1, 7, "stage_entered", "sql", "Call within the hour", 1),
              _stored(2, 7, "stage_entered", "sql", "Email the deck", 2)]
    mine = tasks.effective_rules(stored, 7)
    assert [r.title for r in mine] == ["Call within the hour", "Email the deck", "Send the proposal", "First call"]
    assert [r.title for r in tasks.effective_rules(stored, 8)] == [r.title for r in BUILTIN_RULES]


def test_an_inactive_team_rule_turns_the_default_off_for_that_team() -> None:
    stored = [_stored(1, 7, "stage_entered", "mql", "First call", 4, active=False)]
    assert [r.id for r in tasks.effective_rules(stored, 7)] == [-1, -2]
    layered = {r.id: in_force for r, in_force in tasks.layered_rules(stored, 7)}
    assert layered == {1: True, -1: True, -2: True, -3: False}


def test_a_stored_default_replaces_the_built_in_rule_for_its_event() -> None:
    stored = [_stored(5, None, "activity_logged", "demo", "Send the proposal today", 8)]
    assert [r.id for r in tasks.effective_rules(stored, 3)] == [5, -1, -3]
    assert [r.id for r in tasks.effective_rules(stored, None)] == [5, -1, -3]


def test_events_read_as_a_person_says_them() -> None:
    assert tasks.describe_event("stage_entered", "sql") == "a lead enters SQL"
    assert tasks.describe_event("activity_logged", "email") == "an email is logged"
    assert tasks.describe_event("activity_logged", "demo") == "a demo is logged"


# ---------------------------------------------------------------- what rules owe


def _events(*rows: tuple) -> pl.DataFrame:
    cols = list(tasks.EVENT_SCHEMA)
    return pl.DataFrame([dict(zip(cols, r, strict=True)) for r in rows], schema=tasks.EVENT_SCHEMA)


def _existing(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame([{"rule_id": r, "lead_id": lead, "created_at": at} for r, lead, at in rows],
                        schema={"rule_id": pl.Int64, "lead_id": pl.Int64, "created_at": pl.Datetime("us")})


SQL_AT = NOW - timedelta(hours=2)
DEMO_AT = NOW - timedelta(days=1)  # logged late: the demo happened yesterday, recorded now
EVENTS = _events(("stage_entered", "sql", 10, 100, SQL_AT, SQL_AT, 3, 1, "sql"),
                 ("activity_logged", "demo", 11, 200, DEMO_AT, NOW, 4, 1, "opportunity"),
                 ("stage_entered", "sql", 12, 101, SQL_AT, SQL_AT, None, None, "sql"),  # no owner: nobody to do it
                 ("activity_logged", "call", 10, 201, NOW, NOW, 3, 1, "sql"),  # no rule for calls
                 ("activity_logged", "demo", 13, 202, NOW, NOW, 3, 1, "disqualified"))  # no follow-up owed
BY_TEAM = {1: list(BUILTIN_RULES), None: list(BUILTIN_RULES)}


def test_each_rule_makes_a_task_per_event_for_the_owner_due_from_the_event() -> None:
    plan = tasks.plan_rule_tasks(EVENTS, BY_TEAM, _existing())
    assert plan.select("lead_id", "rep_id", "rule_id", "title", "kind", "due_at").rows() == [
        (11, 4, -2, "Send the proposal", "email", DEMO_AT + timedelta(hours=48)),
        (10, 3, -1, "Discovery call", "call", SQL_AT + timedelta(hours=24)),
    ]


def test_an_event_already_answered_owes_nothing_more() -> None:
    existing = _existing((-1, 10, NOW), (-2, 11, NOW))
    assert tasks.plan_rule_tasks(EVENTS, BY_TEAM, existing).is_empty()


def test_a_task_made_before_an_event_answers_only_older_events() -> None:
    first, second = NOW - timedelta(hours=5), NOW - timedelta(hours=1)
    events = _events(("stage_entered", "sql", 10, 1, first, first, 3, 1, "sql"),
                     ("stage_entered", "sql", 10, 2, second, second, 3, 1, "sql"))
    answered_first = _existing((-1, 10, first))
    plan = tasks.plan_rule_tasks(events, BY_TEAM, answered_first)
    assert plan["event_id"].to_list() == [2]
    both_answered = _existing((-1, 10, first), (-1, 10, NOW))
    assert tasks.plan_rule_tasks(events, BY_TEAM, both_answered).is_empty()
    one_late_task = _existing((-1, 10, NOW))  # made after both: answers one of them, the other is owed
    assert tasks.plan_rule_tasks(events, BY_TEAM, one_late_task).height == 1


def test_a_rule_on_entering_an_exit_stage_still_fires_for_that_lead() -> None:
    lost_at = NOW - timedelta(hours=1)
    events = _events(("stage_entered", "lost", 13, 300, lost_at, lost_at, 3, 1, "lost"),
                     ("stage_entered", "mql", 13, 299, SQL_AT, SQL_AT, 3, 1, "lost"))
    rules = {None: [*BUILTIN_RULES, _stored(9, None, "stage_entered", "lost", "Ask why we lost", 48)]}
    assert tasks.plan_rule_tasks(events, rules, _existing())["title"].to_list() == ["Ask why we lost"]


def test_a_team_without_rules_of_its_own_falls_back_to_the_default_set() -> None:
    plan = tasks.plan_rule_tasks(EVENTS, {None: [_stored(9, None, "stage_entered", "sql", "Call", 1)]}, _existing())
    assert plan.select("lead_id", "rule_id", "due_at").rows() == [(10, 9, SQL_AT + timedelta(hours=1))]


# ---------------------------------------------------------------- priority


def _open(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame([{"task_id": i, "due_at": due, "score": score, "stage": stage} for i, due, score, stage in rows],
                        schema={"task_id": pl.Int64, "due_at": pl.Datetime("us"), "score": pl.Float64,
                                "stage": pl.String})


def test_an_overdue_task_on_a_cold_lead_comes_before_one_due_tomorrow_on_a_hot_lead() -> None:
    out = tasks.prioritize(_open((1, NOW + timedelta(hours=24), 92.0, "opportunity"),
                                 (2, NOW - timedelta(hours=3), 15.0, "new")), NOW)
    assert out["task_id"].to_list() == [2, 1]
    # 25×3 + 25×(0.2×3/72 + 0.5×0.15) = 77.1;  25×2 + 25×(0.2×0 + 0.5×0.92 + 0.3×1) = 69.0
    assert out["priority"].to_list() == [77.1, 69.0]
    assert out["overdue"].to_list() == [True, False]
    assert out["reasons"].to_list() == ["overdue by 3 h · score 15 · stage New",
                                        "due in 24 h · score 92 · stage Opportunity"]


def test_within_a_band_the_hotter_later_stage_lead_comes_first() -> None:
    due = NOW + timedelta(hours=5)
    out = tasks.prioritize(_open((1, due, 40.0, "mql"), (2, due, 80.0, "mql"), (3, due, 40.0, "sql")), NOW)
    assert out["task_id"].to_list() == [2, 3, 1]


def test_every_overdue_task_outranks_every_task_that_is_not() -> None:
    out = tasks.prioritize(_open((1, NOW + timedelta(seconds=1), 100.0, "opportunity"),
                                 (2, NOW - timedelta(seconds=1), 0.0, "new")), NOW)
    assert out["task_id"].to_list() == [2, 1]


def test_a_lead_without_a_score_counts_as_average_and_no_due_date_ranks_last() -> None:
    out = tasks.prioritize(_open((1, None, None, None), (2, NOW + timedelta(days=30), None, "sql")), NOW)
    assert out["task_id"].to_list() == [2, 1]
    # 25×(0.5×0.5 + 0.3×2/3) and 25×0.5×0.5
    assert out["priority"].to_list() == [pytest.approx(11.25, abs=0.06), pytest.approx(6.25, abs=0.06)]
    assert out["reasons"].to_list() == ["due in 30 days · not scored · stage SQL", "no due date · not scored · no lead"]


def test_tasks_due_within_the_hour_are_highlighted_as_due_soon() -> None:
    out = tasks.prioritize(_open((1, NOW + timedelta(minutes=30), 50.0, "new"),
                                 (2, NOW + timedelta(hours=2), 50.0, "new"),
                                 (3, NOW - timedelta(minutes=1), 50.0, "new")), NOW).sort("task_id")
    assert out["highlight"].to_list() == ["due soon", None, "overdue"]
    assert out["due_soon"].to_list() == [True, False, False]
    assert out["due_in_hours"].to_list() == [0.5, 2.0, -0.02]


def test_an_empty_queue_keeps_its_columns() -> None:
    out = tasks.prioritize(_open(), NOW)
    assert out.is_empty() and {"priority", "overdue", "reasons", "highlight", "band"} <= set(out.columns)


# ---------------------------------------------------------------- reminders


def test_a_digest_lists_overdue_tasks_then_those_due_soon() -> None:
    frame = pl.DataFrame({"title": ["Call back", "Send the proposal", "First call"],
                          "lead_id": [1, 2, None], "merchant_name": ["Acme", None, None],
                          "due_at": [NOW + timedelta(minutes=30), NOW - timedelta(hours=5), NOW - timedelta(days=3)],
                          "overdue": [False, True, True]})
    subject, body = tasks.digest("Hiroshi Miller", frame, NOW)
    assert subject == "Your tasks: 2 overdue and 1 due soon"
    assert body.startswith("Hello Hiroshi,\n")
    assert body.index("Overdue:") < body.index("- First call, overdue by 3 days") \
        < body.index("- Send the proposal (lead 2), overdue by 5 h") < body.index("Due soon:") \
        < body.index("- Call back (Acme), due in 30 min (due 2026-06-30 12:30)")


# ---------------------------------------------------------------- compliance


def _done(rep: int, due_h: float, done_h: float | None, status: str) -> dict:
    return {"task_id": None, "rep_id": rep, "rep": f"R{rep}", "due_at": NOW + timedelta(hours=due_h),
            "done_at": None if done_h is None else NOW + timedelta(hours=done_h), "status": status}


ROWS = pl.DataFrame([
    _done(1, -200, -201, "done"),  # on time (week of June 22)
    _done(1, -10, -10, "done"),  # on time: exactly at the due time
    _done(1, -10, -2, "done"),  # late
    _done(1, -5, None, "open"),  # missed
    _done(1, 5, None, "open"),  # pending: not due yet
    _done(2, -3, None, "cancelled"),  # not owed
    _done(2, -4, 1, "done"),  # late
], schema={"task_id": pl.Int64, "rep_id": pl.Int64, "rep": pl.String, "due_at": pl.Datetime("us"),
           "done_at": pl.Datetime("us"), "status": pl.String})


def test_tasks_are_on_time_late_missed_pending_or_cancelled() -> None:
    assert tasks.classify(ROWS, NOW)["outcome"].to_list() == ["on_time", "on_time", "late", "missed", "pending",
                                                              "cancelled", "late"]


def test_compliance_counts_on_time_over_what_was_owed_per_rep_overall_and_weekly() -> None:
    out = tasks.compliance_figures(ROWS, NOW)
    expected = pl.DataFrame({"rep_id": [2, 1], "rep": ["R2", "R1"], "due": [1, 4], "done_on_time": [0, 2],
                             "done_late": [1, 1], "missed": [0, 1], "pending": [0, 1], "cancelled": [1, 0],
                             "rate": [0.0, 0.5]}, schema=tasks.COMPLIANCE_SCHEMA)
    assert_frame_equal(out["by_rep"], expected)
    assert (out["due"], out["done_on_time"], out["done_late"], out["missed"], out["rate"]) == (5, 2, 2, 1, 0.4)
    weekly = out["weekly"]
    assert weekly["week"].cast(pl.String).to_list() == ["2026-06-22", "2026-06-29"]
    assert weekly.select("due", "done_on_time", "rate").rows() == [(1, 1, 1.0), (4, 1, 0.25)]


def test_nothing_owed_has_no_rate_rather_than_zero() -> None:
    out = tasks.compliance_figures(ROWS.filter(pl.col("status") == "cancelled"), NOW)
    assert out["rate"] is None and out["by_rep"]["rate"].to_list() == [None]


def test_an_empty_period_has_empty_frames_and_no_rate() -> None:
    out = tasks.compliance_figures(ROWS.clear(), NOW)
    assert out["by_rep"].is_empty() and out["weekly"].is_empty()
    assert (out["due"], out["rate"]) == (0, None)
    assert out["by_rep"].schema == pl.Schema(tasks.COMPLIANCE_SCHEMA)
