"""Tasks on a real store: adding them, task rules and what they make, the queue, working a task, delegation, a
departing rep's work, reminder digests and follow-up compliance."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from flashdash import assignment, qualification, tasks
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.activities import NewActivity, log_activity
from flashdash.assignment import AssignmentError
from flashdash.store import Store
from tests.conftest import NOW

# The XS demo: team 1 (West Alpha) is managed by rep 1 with reps 2, 3 (inactive) and 4; team 2 by rep 5 with 6, 7
# and 8. The user "rep" is rep 2, "manager" is rep 1.
ADMIN = Actor("admin", "Ada Admin", "admin")
ANALYST = Actor("analyst", "Avery Analyst", "analyst")
REP4 = Actor("barbara", "Barbara Lee", "rep", 4, (4,))
REP6 = Actor("susan", "Susan Martinez", "rep", 6, (6,))
WEST, NORTHEAST = 1, 2


@pytest.fixture
def store(demo_copy: Store) -> Store:
    return demo_copy


def _ids(store: Store, where: str, params: list) -> list[int]:
    with store.read() as con:
        return [r[0] for r in con.execute(f"SELECT id FROM leads WHERE {where} ORDER BY id LIMIT 3", params).fetchall()]


def _rows(store: Store, sql: str, params: list | None = None) -> list[tuple]:
    with store.read() as con:
        return con.execute(sql, params or []).fetchall()


def _lead(store: Store, owner: int, status: str = "new") -> int:
    return _rows(store, "SELECT id FROM leads WHERE owner_id = ? AND status = ? ORDER BY id DESC LIMIT 1",
                 [owner, status])[0][0]


def _tasks(store: Store, *specs: tuple) -> list[int]:
    """Tasks made in one unit of work, each (rep_id, due_at[, lead_id[, title[, created_at]]]): by default on the
    rep's newest new lead (none for a rep without one), titled "Call back", made a day before NOW."""
    made = []
    with store.write() as con:
        for rep_id, due, *rest in specs:
            lead_id, title, created = [*rest, None, None, None][:3]
            if lead_id is None:
                found = con.execute("SELECT max(id) FROM leads WHERE owner_id = ? AND status = 'new'",
                                    [rep_id]).fetchone()
                lead_id = found[0] if found else None
            made.append(tasks.create_task(store, con, lead_id, rep_id, title or "Call back", due, "test",
                                          created or NOW - timedelta(days=1)))
    return made


def _task(store: Store, rep_id: int, due: datetime | None, *rest: Any) -> int:
    return _tasks(store, (rep_id, due, *rest))[0]


def _apply(store: Store, lead_ids: list[int] | None, now: datetime = NOW, since: datetime = NOW) -> Any:
    with store.write() as con:
        return tasks.apply_rules(store, con, lead_ids, now, since)


# ---------------------------------------------------------------- adding tasks by hand


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


# ---------------------------------------------------------------- task rules


def test_without_stored_rules_every_team_reads_the_built_in_defaults(store: Store) -> None:
    shown = tasks.rules(store, resolve_actor(store, "rep"), WEST)
    assert shown.select("rule_id", "source", "event", "title", "kind", "due_hours", "applies").rows() == [
        (-1, "built-in", "a lead enters SQL", "Discovery call", "call", 24, True),
        (-2, "built-in", "a demo is logged", "Send the proposal", "email", 48, True),
        (-3, "built-in", "a lead enters MQL", "First call", "call", 4, True)]


def test_a_manager_saves_a_rule_for_their_team_that_replaces_the_default_for_its_event(store: Store) -> None:
    manager = resolve_actor(store, "manager")
    rule_id = tasks.save_rule(store, manager, None, WEST, "stage_entered", "sql", " Call within the hour ", 1, True,
                              NOW)
    shown = tasks.rules(store, manager, WEST)
    assert shown.select("rule_id", "source", "title", "in_force", "applies").rows() == [
        (rule_id, "team", "Call within the hour", True, True),
        (-1, "built-in", "Discovery call", False, False),
        (-2, "built-in", "Send the proposal", True, True),
        (-3, "built-in", "First call", True, True)]
    assert tasks.rules(store, manager, NORTHEAST)["rule_id"].to_list() == [-1, -2, -3]
    assert tasks.save_rule(store, manager, rule_id, WEST, "stage_entered", "sql", "Call within two hours", 2, True,
                           NOW + timedelta(hours=1)) == rule_id
    audits = _rows(store, "SELECT action, before IS NULL, after FROM audit_log WHERE entity = 'task_rule' "
                          "AND entity_id = ? ORDER BY id", [str(rule_id)])
    assert [a[:2] for a in audits] == [("create", True), ("update", False)]
    assert '"due_hours": 2' in audits[1][2]


@pytest.mark.parametrize(("who", "team_id"), [("rep", WEST), ("analyst", WEST), ("manager", NORTHEAST),
                                              ("manager", None)])
def test_task_rules_are_changed_by_their_teams_manager_or_an_admin_only(store: Store, who: str,
                                                                        team_id: int | None) -> None:
    with pytest.raises(AccessDenied):
        tasks.save_rule(store, resolve_actor(store, who), None, team_id, "stage_entered", "sql", "Call", 4, True, NOW)
    assert _rows(store, "SELECT count(*) FROM task_rules") == [(0,)]


def test_a_default_edited_for_a_team_becomes_the_teams_own_and_the_default_stays(store: Store) -> None:
    default = tasks.save_rule(store, ADMIN, None, None, "activity_logged", "meeting", "Send a recap", 4, True, NOW)
    mine = tasks.save_rule(store, resolve_actor(store, "manager"), default, WEST, "activity_logged", "meeting",
                           "Send a recap", 2, True, NOW)
    assert mine != default
    assert _rows(store, "SELECT id, team_id, due_hours FROM task_rules ORDER BY id") == [(default, None, 4),
                                                                                       (mine, WEST, 2)]
    with pytest.raises(tasks.TaskError, match="stays with its team"):
        tasks.save_rule(store, ADMIN, mine, NORTHEAST, "activity_logged", "meeting", "Send a recap", 2, True, NOW)


def test_an_admin_sets_a_default_and_a_duplicate_or_an_unknown_team_is_refused(store: Store) -> None:
    rule_id = tasks.save_rule(store, ADMIN, -2, None, "activity_logged", "demo", "Send the proposal today", 8, True,
                              NOW)
    assert rule_id > 0  # a built-in's id saves a stored rule in its place
    assert tasks.rules(store, ADMIN, None).select("rule_id", "in_force").rows() == [
        (rule_id, True), (-1, True), (-2, False), (-3, True)]
    with pytest.raises(tasks.TaskError, match=f"rule {rule_id} already makes 'Send the proposal today'"):
        tasks.save_rule(store, ADMIN, None, None, "activity_logged", "demo", "send the proposal TODAY", 4, True, NOW)
    with pytest.raises(tasks.TaskError, match="no team 99"):
        tasks.save_rule(store, ADMIN, None, 99, "activity_logged", "demo", "Call", 4, True, NOW)
    with pytest.raises(tasks.TaskError, match="the activity type must be one of"):
        tasks.save_rule(store, ADMIN, None, None, "activity_logged", "sql", "Call", 4, True, NOW)


def test_a_stored_rule_is_deleted_by_its_editor_and_a_built_in_one_cannot_be(store: Store) -> None:
    manager = resolve_actor(store, "manager")
    rule_id = tasks.save_rule(store, manager, None, WEST, "activity_logged", "call", "Send a recap", 2, True, NOW)
    with pytest.raises(AccessDenied):
        tasks.delete_rule(store, resolve_actor(store, "rep"), rule_id, NOW)
    assert tasks.delete_rule(store, manager, rule_id, NOW) is True
    assert tasks.delete_rule(store, manager, rule_id, NOW) is False
    with pytest.raises(tasks.TaskError, match="save an inactive rule"):
        tasks.delete_rule(store, ADMIN, -1, NOW)
    assert _rows(store, "SELECT action FROM audit_log WHERE entity = 'task_rule' ORDER BY id") == [("create",),
                                                                                                 ("delete",)]


# ---------------------------------------------------------------- applying the rules


def _rule_tasks(store: Store, lead_ids: list[int]) -> list[tuple]:
    """Rule tasks on these leads due from NOW on (not the ones a demo lead's earlier events owed)."""
    return _rows(store, "SELECT lead_id, rep_id, rule_id, title, kind, due_at FROM tasks WHERE list_contains(?, lead_id) "
                        "AND rule_id IS NOT NULL AND due_at >= ? ORDER BY id", [lead_ids, NOW])


def test_a_lead_entering_sql_gets_one_discovery_call_for_its_owner_however_often_rules_apply(store: Store) -> None:
    manager = resolve_actor(store, "manager")
    lead = _lead(store, 2, "mql")
    qualification.change_stage(store, manager, [lead], "sql", "budget confirmed on the call", NOW)
    # the stage change's own write applied the rules (flashdash.follow_up); applying them again makes nothing
    assert _rule_tasks(store, [lead]) == [(lead, 2, -1, "Discovery call", "call", NOW + timedelta(hours=24))]
    assert _apply(store, [lead]).is_empty()
    every_lead = _apply(store, None, NOW + timedelta(minutes=5), NOW - timedelta(days=1))  # the job's window
    assert not every_lead.filter((every_lead["lead_id"] == lead) & (every_lead["rule_id"] == -1)).height
    row = _rows(store, "SELECT rep_id, created_by, rule_id, kind, status, notes FROM tasks WHERE lead_id = ? "
                       "AND rule_id = -1", [lead])
    assert row == [(2, "rule", -1, "call", "open",
                    f"Made by a task rule: the lead entered SQL on {NOW:%Y-%m-%d %H:%M}.")]


def test_a_logged_demo_gets_one_proposal_task_due_two_days_after_the_demo(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    lead = _lead(store, 2, "sql")
    demo_at = NOW - timedelta(hours=3)  # logged now, three hours after it happened
    log_activity(store, rep, NewActivity(lead, "demo", demo_at, 45, "went well"), NOW)
    proposal = [t for t in _rule_tasks(store, [lead]) if t[2] == -2]
    assert proposal == [(lead, 2, -2, "Send the proposal", "email", demo_at + timedelta(hours=48))]
    assert _apply(store, [lead], NOW + timedelta(minutes=1)).is_empty()
    assert _rows(store, "SELECT count(*) FROM tasks WHERE lead_id = ? AND rule_id = -2", [lead]) == [(1,)]


def test_a_second_entry_into_sql_later_is_a_new_event_with_its_own_task(store: Store) -> None:
    manager = resolve_actor(store, "manager")
    lead = _lead(store, 2, "mql")
    qualification.change_stage(store, manager, [lead], "sql", "budget confirmed", NOW)
    later = NOW + timedelta(days=2)
    qualification.change_stage(store, manager, [lead], "mql", "budget withdrawn", later)
    qualification.change_stage(store, manager, [lead], "sql", "budget confirmed again", later + timedelta(hours=1))
    assert [(t[2], t[5]) for t in _rule_tasks(store, [lead])] == [
        (-1, NOW + timedelta(hours=24)),
        (-3, later + timedelta(hours=4)),  # back in MQL: a call
        (-1, later + timedelta(hours=25))]
    assert _apply(store, [lead], later + timedelta(hours=1), NOW).is_empty()  # a window holding all three


def test_a_teams_inactive_rule_stops_the_default_for_its_leads_only(store: Store) -> None:
    tasks.save_rule(store, resolve_actor(store, "manager"), None, WEST, "stage_entered", "sql", "Discovery call", 24,
                    False, NOW)
    west, northeast = _lead(store, 2, "mql"), _lead(store, 6, "mql")
    qualification.change_stage(store, ADMIN, [west, northeast], "sql", "budget confirmed", NOW)
    assert [t[0] for t in _rule_tasks(store, [west, northeast]) if t[2] == -1] == [northeast]


def test_rules_made_inside_a_write_that_fails_leave_nothing(store: Store) -> None:
    lead = _lead(store, 2, "mql")
    with pytest.raises(RuntimeError), store.write() as con:
        con.execute("INSERT INTO lead_stage_changes (id, lead_id, from_status, to_status, changed_at, actor) "
                    "VALUES (nextval('lead_stage_changes_id_seq'), ?, 'mql', 'sql', ?, 'admin')", [lead, NOW])
        assert tasks.apply_rules(store, con, [lead], NOW, NOW).height == 1
        raise RuntimeError("the hook's caller failed after the rules ran")
    assert _rows(store, "SELECT count(*) FROM tasks") == [(0,)]


def test_the_rules_job_catches_up_on_the_last_days_events_once(store: Store) -> None:
    live = "SELECT id FROM leads WHERE owner_id IS NOT NULL AND status NOT IN ('lost', 'disqualified')"
    since = NOW - tasks.RULES_WINDOW
    changes = _rows(store, "SELECT count(*) FROM lead_stage_changes WHERE changed_at >= ? AND to_status IN "
                           f"('mql', 'sql') AND lead_id IN ({live})", [since])[0][0]
    demos = _rows(store, f"SELECT count(*) FROM activities WHERE occurred_at >= ? AND type = 'demo' AND lead_id IN "
                         f"({live})", [since])[0][0]
    assert changes > 0 and demos > 0
    assert tasks.apply_recent_rules(store, NOW) == changes + demos
    assert tasks.apply_recent_rules(store, NOW + timedelta(minutes=15)) == 0
    assert _rows(store, "SELECT DISTINCT created_by, rule_id < 0 FROM tasks") == [("rule", True)]


# ---------------------------------------------------------------- the queue


def _score(store: Store, lead_id: int, score: float) -> None:
    with store.write() as con:
        con.execute("INSERT OR REPLACE INTO lead_scores (lead_id, band, scored_by, scored_at, score) "
                    "VALUES (?, 'x', 'test', ?, ?)", [lead_id, NOW, score])


def test_an_overdue_task_on_a_cold_lead_comes_before_one_due_tomorrow_on_a_hot_lead(store: Store) -> None:
    cold, hot = _lead(store, 2, "new"), _lead(store, 2, "sql")
    _score(store, cold, 15)
    _score(store, hot, 92)
    later = _task(store, 2, NOW + timedelta(hours=26), hot, "Send pricing")
    overdue = _task(store, 2, NOW - timedelta(hours=3), cold, "Call back")
    queue = tasks.queue(store, resolve_actor(store, "rep"), NOW)
    assert queue.select("task_id", "stage", "score", "overdue", "highlight").rows() == [
        (overdue, "new", 15.0, True, "overdue"), (later, "sql", 92.0, False, None)]
    assert queue["reasons"].to_list() == ["overdue by 3 h · score 15 · stage New",
                                          "due in 26 h · score 92 · stage SQL"]
    assert queue["priority"][0] > queue["priority"][1]


def test_a_rep_sees_their_own_tasks_a_manager_their_teams_and_an_analyst_all_masked(store: Store) -> None:
    mine, teammate, other_team = _tasks(store, (2, NOW), (4, NOW), (6, NOW))
    assert tasks.queue(store, resolve_actor(store, "rep"), NOW)["task_id"].to_list() == [mine]
    manager = resolve_actor(store, "manager")
    assert sorted(tasks.queue(store, manager, NOW)["task_id"]) == [mine, teammate]
    assert tasks.queue(store, manager, NOW, rep_id=4)["task_id"].to_list() == [teammate]
    with pytest.raises(AccessDenied):
        tasks.queue(store, manager, NOW, rep_id=6)
    seen = tasks.queue(store, ANALYST, NOW)
    assert sorted(seen["task_id"]) == [mine, teammate, other_team]
    assert set(seen["contact_name"].drop_nulls()) <= {"•••"} and set(seen["email"].drop_nulls()) <= {"•••"}


def test_a_managers_team_view_counts_open_and_overdue_tasks_per_rep(store: Store) -> None:
    _tasks(store, (2, NOW - timedelta(hours=1)), (2, NOW + timedelta(hours=2)), (4, NOW + timedelta(days=3)),
           (6, NOW - timedelta(hours=1)))
    manager = resolve_actor(store, "manager")
    view = tasks.team_tasks(store, manager, NOW)
    assert view.select("rep_id", "overdue", "rep_open_tasks", "rep_overdue").rows() == [
        (2, True, 2, 1), (2, False, 2, 1), (4, False, 1, 0)]
    counts = tasks.task_counts(store, manager, NOW)
    assert counts.select("rep_id", "open_tasks", "overdue", "due_24h").rows() == [
        (2, 2, 1, 1), (4, 1, 0, 0), (1, 0, 0, 0)]  # rep 3 is inactive and holds nothing: not listed


# ---------------------------------------------------------------- working a task


def test_the_owner_completes_a_task_on_time_with_an_outcome_and_an_audit_record(store: Store) -> None:
    task_id = _task(store, 2, NOW + timedelta(hours=1))
    done = tasks.complete(store, resolve_actor(store, "rep"), task_id, NOW, " left a voicemail ")
    assert done == {"task_id": task_id, "status": "done", "done_at": NOW, "due_at": NOW + timedelta(hours=1),
                    "on_time": True}
    assert _rows(store, "SELECT status, done_at, notes FROM tasks WHERE id = ?", [task_id]) == [
        ("done", NOW, "Done: left a voicemail")]
    assert _rows(store, "SELECT actor, action FROM audit_log WHERE entity = 'task' AND entity_id = ? ORDER BY id",
                 [str(task_id)]) == [("test", "create"), ("rep", "complete")]
    with pytest.raises(tasks.TaskError, match="already done"):
        tasks.complete(store, resolve_actor(store, "rep"), task_id, NOW)


def test_a_teammate_may_not_complete_anothers_task_but_their_manager_may(store: Store) -> None:
    task_id = _task(store, 4, NOW - timedelta(hours=1))
    with pytest.raises(AccessDenied):
        tasks.complete(store, resolve_actor(store, "rep"), task_id, NOW)
    with pytest.raises(AccessDenied):
        tasks.complete(store, ANALYST, task_id, NOW)
    assert tasks.complete(store, resolve_actor(store, "manager"), task_id, NOW)["on_time"] is False


def test_a_snooze_moves_the_due_time_forward_and_asks_for_a_new_reminder(store: Store) -> None:
    task_id = _task(store, 2, NOW - timedelta(hours=1))
    with store.write() as con:
        con.execute("UPDATE tasks SET reminded_at = ? WHERE id = ?", [NOW, task_id])
    rep = resolve_actor(store, "rep")
    with pytest.raises(tasks.TaskError, match="after now"):
        tasks.snooze(store, rep, task_id, NOW - timedelta(minutes=1), NOW)
    with pytest.raises(tasks.TaskError, match="at most 90 days"):
        tasks.snooze(store, rep, task_id, NOW + timedelta(days=91), NOW)
    tasks.snooze(store, rep, task_id, NOW + timedelta(days=1), NOW)
    assert _rows(store, "SELECT due_at, reminded_at FROM tasks WHERE id = ?", [task_id]) == [
        (NOW + timedelta(days=1), None)]


def test_a_cancel_needs_a_reason_and_keeps_it(store: Store) -> None:
    task_id = _task(store, 2, NOW)
    rep = resolve_actor(store, "rep")
    with pytest.raises(tasks.TaskError, match="give a reason"):
        tasks.cancel(store, rep, task_id, "  ", NOW)
    tasks.cancel(store, rep, task_id, "merchant signed with a competitor", NOW)
    assert _rows(store, "SELECT status, notes FROM tasks WHERE id = ?", [task_id]) == [
        ("cancelled", "Cancelled: merchant signed with a competitor")]
    assert tasks.queue(store, rep, NOW).is_empty()


# ---------------------------------------------------------------- delegation


def test_a_rep_hands_a_task_to_a_teammate_who_then_sees_it(store: Store) -> None:
    task_id = _task(store, 2, NOW + timedelta(hours=2))
    rep = resolve_actor(store, "rep")
    result = tasks.delegate(store, rep, [task_id], 4, NOW, " on holiday tomorrow ")
    assert result == {"delegated": 1, "unchanged": 0, "to_rep_id": 4, "to_rep": "Barbara Lee"}
    assert _rows(store, "SELECT rep_id, delegated_from, notes FROM tasks WHERE id = ?", [task_id]) == [
        (4, 2, "Handed on by Riley Rep from Hiroshi Miller: on holiday tomorrow")]
    assert tasks.queue(store, REP4, NOW).select("task_id", "delegated_from_rep").rows() == [
        (task_id, "Hiroshi Miller")]
    assert tasks.queue(store, rep, NOW).is_empty()
    assert _rows(store, "SELECT action, before, after FROM audit_log WHERE entity = 'task' ORDER BY id DESC LIMIT 1") \
        == [("delegate", '{"rep_id": 2}', '{"delegated_from": 2, "rep_id": 4}')]


def test_delegation_stays_within_the_team_and_refuses_everything_when_anything_is_wrong(store: Store) -> None:
    mine, also_mine, theirs = _tasks(store, (2, NOW), (2, NOW), (4, NOW))
    rep = resolve_actor(store, "rep")
    with pytest.raises(tasks.TaskError, match="another team than Susan Martinez's"):
        tasks.delegate(store, rep, [mine, also_mine], 6, NOW)
    with pytest.raises(tasks.TaskError, match=f"task {theirs} is not in your book"):
        tasks.delegate(store, rep, [mine, theirs], 4, NOW)
    with pytest.raises(tasks.TaskError, match="Elizabeth Scott is inactive"):
        tasks.delegate(store, rep, [mine], 3, NOW)
    with pytest.raises(AccessDenied):
        tasks.delegate(store, ANALYST, [mine], 4, NOW)
    assert _rows(store, "SELECT id, rep_id, delegated_from FROM tasks ORDER BY id") == [
        (mine, 2, None), (also_mine, 2, None), (theirs, 4, None)]


def test_a_manager_hands_their_teams_tasks_around_the_team(store: Store) -> None:
    task_id = _task(store, 4, NOW)
    result = tasks.delegate(store, resolve_actor(store, "manager"), [task_id], 2, NOW)
    assert result["delegated"] == 1
    assert _rows(store, "SELECT rep_id, delegated_from FROM tasks WHERE id = ?", [task_id]) == [(2, 4)]


# ---------------------------------------------------------------- a departing rep


def _open_leads(store: Store, rep_id: int) -> list[int]:
    return [r[0] for r in _rows(store, "SELECT id FROM leads WHERE owner_id = ? AND status IN "
                                       "('new', 'mql', 'sql', 'opportunity') ORDER BY id", [rep_id])]


def test_a_departing_reps_tasks_and_open_leads_move_together_and_the_rep_is_made_inactive(store: Store) -> None:
    leads = _open_leads(store, 4)
    *open_tasks, finished = _tasks(store, (4, NOW), (4, NOW + timedelta(days=1)), (4, NOW))
    tasks.complete(store, REP4, finished, NOW)
    result = tasks.reassign_departing(store, resolve_actor(store, "manager"), 4, 2, NOW, "Barbara left Flash")
    assert result == {"tasks": 2, "leads": len(leads), "deactivated": True, "from_rep": "Barbara Lee",
                      "to_rep": "Hiroshi Miller"}
    assert _open_leads(store, 4) == [] and set(leads) <= set(_open_leads(store, 2))
    assert _rows(store, "SELECT id, rep_id, delegated_from FROM tasks ORDER BY id") == [
        (open_tasks[0], 2, 4), (open_tasks[1], 2, 4), (finished, 4, None)]  # a done task stays with who did it
    assert _rows(store, "SELECT active FROM reps WHERE id = 4") == [(False,)]
    assert _rows(store, "SELECT DISTINCT strategy, reason FROM lead_assignments WHERE lead_id IN "
                        f"({', '.join(map(str, leads))}) AND rep_id = 2") == [
        ("manual", "manual by manager: Barbara left Flash")]
    assert _rows(store, "SELECT action, count(*) FROM audit_log WHERE action IN ('reassign', 'deactivate') "
                        "GROUP BY ALL ORDER BY 1") == [("deactivate", 1), ("reassign", 2)]


def test_a_manager_moves_work_within_their_team_only_and_nothing_changes_when_refused(store: Store) -> None:
    task_id = _task(store, 6, NOW)
    manager = resolve_actor(store, "manager")
    with pytest.raises(AccessDenied, match="Susan Martinez is not on your team"):
        tasks.reassign_departing(store, manager, 6, 2, NOW, "left")
    with pytest.raises(tasks.TaskError, match="Elizabeth Scott is inactive"):
        tasks.reassign_departing(store, manager, 4, 3, NOW, "left")
    with pytest.raises(tasks.TaskError, match="give a reason"):
        tasks.reassign_departing(store, manager, 4, 2, NOW, " ")
    with pytest.raises(AccessDenied):
        tasks.reassign_departing(store, resolve_actor(store, "rep"), 4, 2, NOW, "left")
    assert _rows(store, "SELECT rep_id FROM tasks WHERE id = ?", [task_id]) == [(6,)]
    assert _rows(store, "SELECT count(*) FROM reps WHERE NOT active") == [(1,)]


def test_an_admin_moves_an_already_inactive_reps_work_across_teams_and_keeps_them_as_they_are(store: Store) -> None:
    leads = _open_leads(store, 3)
    task_id = _task(store, 3, NOW, leads[0])
    result = tasks.reassign_departing(store, ADMIN, 3, 6, NOW, "late clean-up", deactivate=True)
    assert (result["tasks"], result["leads"], result["deactivated"]) == (1, len(leads), False)
    assert _rows(store, "SELECT rep_id FROM tasks WHERE id = ?", [task_id]) == [(6,)]
    assert _open_leads(store, 3) == []


def test_when_the_leads_cannot_move_the_tasks_and_the_rep_are_put_back(store: Store,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    leads = _open_leads(store, 4)
    task_id = _task(store, 4, NOW)
    real = assignment.assign_to

    def a_lead_closes_first(store_: Store, actor: Actor, lead_ids: list[int], rep_id: int, reason: str,
                            now: datetime) -> dict:
        # someone closes one of the leads between the preview and the move: assign_to then refuses them all
        with store_.write() as con:
            con.execute("UPDATE leads SET status = 'lost' WHERE id = ?", [leads[0]])
        return real(store_, actor, lead_ids, rep_id, reason, now)

    monkeypatch.setattr(assignment, "assign_to", a_lead_closes_first)
    with pytest.raises(AssignmentError, match="closed"):
        tasks.reassign_departing(store, resolve_actor(store, "manager"), 4, 2, NOW, "Barbara left Flash")
    assert _rows(store, "SELECT rep_id, delegated_from, notes FROM tasks WHERE id = ?", [task_id]) == [
        (4, None, None)]
    assert _rows(store, "SELECT active FROM reps WHERE id = 4") == [(True,)]
    assert _open_leads(store, 4) == leads[1:]


# ---------------------------------------------------------------- reminders


class Outbox:
    """A delivery that keeps what it was given (the real SMTP delivery is the mail module's, tested there)."""

    def __init__(self, refuse: str | None = None):
        self.sent: list[tuple[str, str, str]] = []
        self.refuse = refuse

    def __call__(self, to: str, subject: str, body: str) -> None:
        if to == self.refuse:
            raise ConnectionRefusedError(f"the mail server refused {to}")
        self.sent.append((to, subject, body))


def _reminder_tasks(store: Store) -> dict[str, int]:
    with store.write() as con:
        con.execute("UPDATE reps SET email = NULL WHERE id = 6")
    made = _tasks(store, (2, NOW - timedelta(hours=2), None, "Call back"),
                  (2, NOW + timedelta(minutes=30), None, "Send pricing"),
                  (2, NOW + timedelta(hours=3), None, "Book a demo"),
                  (4, NOW - timedelta(days=1), None, "First call"),
                  (3, NOW - timedelta(hours=1), None, "Follow up"),
                  (6, NOW - timedelta(hours=1), None, "Follow up"))
    return dict(zip(("late", "soon", "later", "teammate", "inactive", "no_email"), made, strict=True))


def test_each_rep_gets_one_digest_of_their_overdue_and_due_soon_tasks_once(store: Store) -> None:
    made = _reminder_tasks(store)
    due = tasks.due_reminders(store, NOW)
    assert set(due["task_id"]) == set(made.values()) - {made["later"]}
    outbox = Outbox()
    assert tasks.send_reminders(store, NOW, outbox) == 3
    assert [(to, subject) for to, subject, _ in outbox.sent] == [
        ("hiroshi.miller@flashpay.example", "Your tasks: 1 overdue and 1 due soon"),
        ("barbara.lee@flashpay.example", "Your tasks: 1 overdue")]
    assert "Call back" in outbox.sent[0][2] and "Send pricing" in outbox.sent[0][2]
    assert "Book a demo" not in outbox.sent[0][2]
    reminded = {r[0] for r in _rows(store, "SELECT id FROM tasks WHERE reminded_at = ?", [NOW])}
    assert reminded == {made["late"], made["soon"], made["teammate"]}
    again = Outbox()
    assert tasks.send_reminders(store, NOW + timedelta(minutes=15), again) == 0 and again.sent == []
    assert tasks.queue(store, resolve_actor(store, "rep"), NOW)["highlight"].to_list() == ["overdue", "due soon", None]


def test_a_failed_delivery_leaves_that_reps_tasks_for_the_next_run(store: Store) -> None:
    made = _reminder_tasks(store)
    assert tasks.send_reminders(store, NOW, Outbox(refuse="hiroshi.miller@flashpay.example")) == 1
    assert _rows(store, "SELECT id FROM tasks WHERE reminded_at IS NOT NULL") == [(made["teammate"],)]
    retry = Outbox()
    assert tasks.send_reminders(store, NOW + timedelta(minutes=15), retry) == 2
    assert [to for to, _, _ in retry.sent] == ["hiroshi.miller@flashpay.example"]


def test_without_a_delivery_no_email_goes_out_and_nothing_is_marked(store: Store) -> None:
    _reminder_tasks(store)
    assert tasks.send_reminders(store, NOW, None) == 0
    assert _rows(store, "SELECT count(*) FROM tasks WHERE reminded_at IS NOT NULL") == [(0,)]
    assert tasks.queue(store, resolve_actor(store, "rep"), NOW)["highlight"].to_list() == ["overdue", "due soon", None]


# ---------------------------------------------------------------- compliance


def test_compliance_counts_tasks_done_on_time_late_and_missed_per_rep_in_scope(store: Store) -> None:
    day = datetime(2026, 6, 22, 9, 0)  # a Monday
    before = day - timedelta(days=1)
    on_time, late, _, _, teammate, _, _ = _tasks(
        store, (2, day, None, None, before), (2, day + timedelta(days=1), None, None, before),
        (2, day + timedelta(days=2), None, None, before),  # missed
        (2, NOW + timedelta(days=2), None, None, day),  # pending: not due yet
        (4, day + timedelta(days=8), None, None, day),  # next week, done on time
        (4, day - timedelta(days=1), None, None, before),  # before the period
        (6, day, None, None, before))  # another team: missed, not in the manager's view
    tasks.complete(store, ADMIN, on_time, day - timedelta(hours=1))
    tasks.complete(store, ADMIN, late, day + timedelta(days=1, hours=3))
    tasks.complete(store, ADMIN, teammate, day + timedelta(days=7))
    figures = tasks.compliance(store, resolve_actor(store, "manager"), date(2026, 6, 22), date(2026, 7, 5), NOW)
    assert figures["by_rep"].select("rep_id", "due", "done_on_time", "done_late", "missed", "pending", "rate").rows() \
        == [(2, 3, 1, 1, 1, 1, pytest.approx(1 / 3)), (4, 1, 1, 0, 0, 0, 1.0)]
    assert (figures["due"], figures["done_on_time"], figures["rate"]) == (4, 2, 0.5)
    assert figures["weekly"].select("week", "due", "done_on_time").rows() == [
        (date(2026, 6, 22), 3, 1), (date(2026, 6, 29), 1, 1)]
    mine = tasks.compliance(store, resolve_actor(store, "rep"), date(2026, 6, 22), date(2026, 7, 5), NOW)
    assert mine["by_rep"]["rep_id"].to_list() == [2]
    everyone = tasks.compliance(store, ANALYST, date(2026, 6, 22), date(2026, 7, 5), NOW)
    assert everyone["by_rep"]["rep_id"].to_list() == [6, 2, 4]
    with pytest.raises(tasks.TaskError, match="ends"):
        tasks.compliance(store, ANALYST, date(2026, 7, 5), date(2026, 6, 22), NOW)
