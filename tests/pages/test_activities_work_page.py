"""The Activities page's working tabs (Queue, Log, Timeline) as a rep, a manager and an analyst: the queue shows
the rep's own tasks with the overdue ones marked, one click logs an activity and completes its task, the log
forms validate and save (one lead, many, a CSV), managers hand work on and move a departing rep's work after a
confirmation, and the timeline shows the newest first with contacts masked for analysts."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import polars as pl

from flashdash import activities, tasks
from flashdash.access import resolve_actor
from flashdash.store import Store
from flashdash.ui import activity_log, lead_timeline, task_queue
from tests import stored
from tests.conftest import NOW
from tests.pages.apptest import open_page, switch_tab, texts

OPEN = "('new', 'mql', 'sql', 'opportunity')"


def _leads(store: Store, rep_id: int, n: int) -> list[int]:
    with store.read() as con:
        rows = con.execute(f"SELECT id FROM leads WHERE owner_id = ? AND status IN {OPEN} ORDER BY id LIMIT ?",
                           [rep_id, n]).fetchall()
    return [r[0] for r in rows]


def _task(store: Store, lead_id: int, rep_id: int, title: str, hours: float, kind: str | None = "call") -> int:
    with store.write() as con:
        return tasks.create_task(store, con, lead_id, rep_id, title, NOW + timedelta(hours=hours), "manager",
                                 NOW - timedelta(days=1), kind=kind)


def _one(store: Store, sql: str, *params: object) -> tuple:
    return stored.rows(store, sql, list(params))[0]


def _queue_table(at) -> pl.DataFrame:
    return pl.from_pandas(next(df.value for df in at.dataframe if "why" in df.value.columns))


def _events(at) -> list[str]:
    """The timeline's events as listed, newest first."""
    return [m.value for m in at.markdown if m.value.count(":gray[") >= 1 and "**" in m.value]


# ---------------------------------------------------------------- pure parts


def test_due_times_read_as_a_person_says_them() -> None:
    assert task_queue.due_text(-3) == "overdue by 3 h"
    assert task_queue.due_text(0.5) == "in 30 min"
    assert task_queue.due_text(49) == "in 2 days"
    assert task_queue.due_text(None) == "no due date"
    assert task_queue.status(True, -1).endswith("overdue")
    assert task_queue.status(False, 5).endswith("< 24 h") and task_queue.status(False, 50).endswith("later")


def test_snooze_choices_and_pasted_ids_mean_what_they_say() -> None:
    assert task_queue.snooze_until("In 1 hour", NOW) == NOW + timedelta(hours=1)
    assert task_queue.snooze_until("Tomorrow 9:00", NOW) == datetime(2026, 7, 1, 9)
    assert task_queue.snooze_until("On a date", NOW, NOW.date() + timedelta(days=5), time(14)) == \
        datetime(2026, 7, 5, 14)
    assert activity_log.parse_ids("12, 13\n14;x7 15") == ([12, 13, 14, 15], ["x7"])


def test_the_reminders_count_overdue_and_due_within_a_day() -> None:
    queue = pl.DataFrame({"overdue": [True, True, False, False, False], "due_in_hours": [-5.0, -1.0, 3.0, 23.0, 30.0]})
    assert task_queue.reminders(queue) == (2, 2)


def test_the_saved_message_says_whether_a_follow_up_task_was_made() -> None:
    with_follow_up = {"follow_up_days": 2, "next_step": "Send pricing"}
    assert "follow-up task “Send pricing”, due in 2 days" in activity_log.logged_message(
        "call", "Acme", 7, NOW, "connected", with_follow_up, None)
    assert "No follow-up task" in activity_log.logged_message("call", "Acme", 7, NOW, None, None, None)


def test_the_timeline_puts_the_newest_first_and_what_was_done_above_what_followed() -> None:
    events = pl.DataFrame({"at": [NOW - timedelta(days=1), NOW, NOW, NOW + timedelta(hours=4)],
                           "kind": ["submission", "stage", "activity", "task"],
                           "title": ["Submitted the form", "New → MQL", "Call: connected", "Task due: First call"],
                           "detail": [None] * 4, "who": ["x"] * 4})
    ahead, past = lead_timeline.split(lead_timeline.newest_first(events, lead_timeline.timeline.KINDS), NOW)
    assert ahead["what"].to_list() == ["Task due: First call"]
    assert past["what"].to_list() == ["Call: connected", "New → MQL", "Submitted the form"]
    assert lead_timeline.newest_first(events, ["stage"])["what"].to_list() == ["New → MQL"]


# ---------------------------------------------------------------- as a rep


def test_a_rep_works_their_queue_logs_and_completes_in_one_click_and_sees_it_on_the_timeline(
        live_store: Store) -> None:
    rep = resolve_actor(live_store, "rep")
    mine = _leads(live_store, rep.rep_id, 2)
    other = _leads(live_store, 4, 1)[0]
    late = _task(live_store, mine[0], rep.rep_id, "Call back about the pilot", -5)
    _task(live_store, mine[1], rep.rep_id, "Send the contract draft", 30, kind="email")
    _task(live_store, other, 4, "Someone else's follow-up", -8)
    with live_store.read() as con:
        my_open = con.execute("SELECT count(*) FROM tasks WHERE rep_id = ? AND status = 'open'",
                              [rep.rep_id]).fetchone()[0]

    at = open_page("activities", "rep")
    assert not at.exception, at.exception
    queue = _queue_table(at)
    assert queue.height == my_open and "Someone else's follow-up" not in queue["title"].to_list()
    marks = dict(zip(queue["title"], queue["status"], strict=True))
    assert marks["Call back about the pilot"] == "🔴 overdue" and "overdue" not in marks["Send the contract draft"]
    assert any(w.value.startswith("**") and " overdue, " in w.value for w in at.warning)

    at.selectbox(key="act.queue.task").set_value(late).run()
    assert at.selectbox(key="act.queue.type").value == "call"  # the task's kind
    at.text_input(key="act.queue.outcome").input("connected, pilot approved")
    at.button(key="FormSubmitter:act.queue.log_form-Log & complete").click().run()
    assert not at.exception, at.exception
    assert any("Logged the call" in s.value and "Call back about the pilot" in s.value for s in at.success)
    assert _one(live_store, "SELECT type, source, outcome FROM activities WHERE lead_id = ? AND source = 'queue'",
                mine[0]) == ("call", "queue", "connected, pilot approved")
    assert _one(live_store, "SELECT status FROM tasks WHERE id = ?", late) == ("done",)
    assert "Call back about the pilot" not in _queue_table(at)["title"].to_list()

    at = switch_tab(at, "activities", "Timeline")
    assert at.text_input(key="act.timeline.ref").value == str(mine[0])  # the timeline follows the queue's pick
    assert "Call: connected, pilot approved" in _events(at)[0]


def test_the_log_form_refuses_a_lead_outside_the_book_then_saves_with_a_template(live_store: Store) -> None:
    rep = resolve_actor(live_store, "rep")
    lead_id = _leads(live_store, rep.rep_id, 1)[0]
    outsider = _leads(live_store, 4, 1)[0]
    before = _one(live_store, "SELECT count(*) FROM activities")[0]

    at = open_page("activities", "rep", tab="Log")
    at.text_input(key="act.log.ref").input(str(outsider)).run()
    assert any("is not in your book" in w.value for w in at.warning)
    at.button(key="FormSubmitter:act.log.form-Save").click().run()
    assert any("was not logged" in e.value and "not in your book" in e.value for e in at.error)
    assert _one(live_store, "SELECT count(*) FROM activities")[0] == before

    at.text_input(key="act.log.ref").input(str(lead_id)).run()
    library = activities.templates(live_store, rep)
    discovery = library.filter(pl.col("name") == "Discovery call").row(0, named=True)
    at.selectbox(key="act.log.template").set_value(discovery["id"]).run()
    assert at.text_input(key="act.log.outcome").value == discovery["outcome"]  # the template filled the form
    assert at.number_input(key="act.log.duration").value == discovery["duration_min"]
    at.text_input(key="act.log.outcome").input("connected, wants a demo")  # one field typed
    at.button(key="FormSubmitter:act.log.form-Save").click().run()
    assert not at.exception, at.exception
    (done,) = [s.value for s in at.success]
    assert done.startswith("Logged a call with") and "follow-up task “Send pricing”" in done
    row = _one(live_store, "SELECT source, template_id IS NOT NULL, fields_typed, outcome FROM activities "
                           "WHERE lead_id = ? ORDER BY id DESC LIMIT 1", lead_id)
    assert row == ("form", True, 1, "connected, wants a demo")
    assert _one(live_store, "SELECT count(*) FROM tasks WHERE lead_id = ? AND title = 'Send pricing'", lead_id)[0] == 1
    assert at.text_input(key="act.log.outcome").value == ""  # a fresh form for the next one

    at.text_area(key="act.log.notes").input("Owner is unwell this month; call after the 15th")
    at.checkbox(key="act.log.sensitive").check()
    at.button(key="FormSubmitter:act.log.form-Save").click().run()
    assert not at.exception, at.exception
    with live_store.read() as con:
        stored, sensitive = con.execute("SELECT notes, notes_sensitive FROM activities WHERE lead_id = ? "
                                        "ORDER BY id DESC LIMIT 1", [lead_id]).fetchone()
    assert sensitive and stored.startswith("enc1:") and "unwell" not in stored  # sealed in the store
    assert _one(live_store, "SELECT notes FROM activities WHERE lead_id = ? ORDER BY id DESC LIMIT 1",
                lead_id) == ("Owner is unwell this month; call after the 15th",)  # and read back as written
    assert at.checkbox(key="act.log.sensitive").value is False


def test_a_webinar_is_previewed_then_logged_and_a_csv_sets_its_bad_row_aside(live_store: Store) -> None:
    rep = resolve_actor(live_store, "rep")
    two = _leads(live_store, rep.rep_id, 2)
    outsider = _leads(live_store, 4, 1)[0]

    at = open_page("activities", "rep", tab="Log")
    at.multiselect(key="act.log.many.leads").set_value(two)
    at.text_area(key="act.log.many.ids").input(f"{outsider}").run()
    at.selectbox(key="act.log.many.type").set_value("meeting")
    at.text_input(key="act.log.many.outcome").input("attended the June webinar")
    at.button(key="FormSubmitter:act.log.many.form-Preview").click().run()
    assert not at.exception, at.exception
    assert any("logs the meeting on 2 leads and refuses 1" in i.value for i in at.info)
    assert _one(live_store, "SELECT count(*) FROM activities WHERE source = 'bulk'")[0] == 0  # not before the confirm
    at.button(key="act.log.many.confirm").click().run()
    assert any(s.value.startswith("Logged the meeting on 2 leads") for s in at.success)
    assert _one(live_store, "SELECT count(*) FROM activities WHERE source = 'bulk' AND type = 'meeting'")[0] == 2

    csv = ("lead,type,when,duration,outcome\n"
           f"{two[0]},call,2026-06-29 10:00,10,left a voicemail\n"
           f"{two[1]},fax,2026-06-29 11:00,5,sent a fax\n"
           f"{two[1]},email,2026-06-29 12:00,,sent the deck\n")
    at.file_uploader(key="act.log.csv.file").upload("calls.csv", csv.encode(), "text/csv").run()
    at.button(key="act.log.csv.go").click().run()
    assert not at.exception, at.exception
    assert any("logged 2 of 3 rows" in s.value for s in at.success)
    quarantined = next(df.value for df in at.dataframe if "reason" in df.value.columns and "row" in df.value.columns)
    assert list(quarantined["row"]) == [2] and "'fax'" in quarantined["reason"].iloc[0]
    assert _one(live_store, "SELECT count(*) FROM activities WHERE source = 'csv'")[0] == 2


# ---------------------------------------------------------------- as a manager


def test_a_manager_sees_the_team_hands_a_task_on_and_moves_a_departing_reps_work(live_store: Store) -> None:
    manager = resolve_actor(live_store, "manager")
    rep = resolve_actor(live_store, "rep").rep_id
    mate = 4
    task = _task(live_store, _leads(live_store, rep, 1)[0], rep, "Call about the renewal", -2)
    _task(live_store, _leads(live_store, mate, 1)[0], mate, "Visit the new store", 10, kind="meeting")

    at = open_page("activities", "manager")
    at.segmented_control(key="act.queue.view").set_value("Team").run()
    assert not at.exception, at.exception
    counts = next(df.value for df in at.dataframe if "open tasks" in df.value.columns)
    with live_store.read() as con:
        team = {r[0] for r in con.execute("SELECT name FROM reps WHERE list_contains(?, id) AND active",
                                          [list(manager.scope_reps)]).fetchall()}
    assert team <= set(counts["rep"])

    at.multiselect(key="act.queue.team.tasks").set_value([task])
    at.selectbox(key="act.queue.team.to").set_value(mate).run()
    at.button(key="act.queue.team.review").click().run()
    assert any("1 of the 1 tasks change hands" in i.value for i in at.info)
    assert _one(live_store, "SELECT rep_id FROM tasks WHERE id = ?", task) == (rep,)  # not before the confirm
    at.button(key="act.queue.team.confirm").click().run()
    assert any(s.value.startswith("Handed 1 tasks to") for s in at.success)
    assert _one(live_store, "SELECT rep_id, delegated_from FROM tasks WHERE id = ?", task) == (mate, rep)

    at.segmented_control(key="act.queue.view").set_value("A rep is leaving").run()
    at.selectbox(key="act.queue.leaving.from").set_value(mate)
    at.selectbox(key="act.queue.leaving.to").set_value(manager.rep_id)
    at.text_input(key="act.queue.leaving.reason").input("left the company").run()
    at.button(key="act.queue.leaving.preview").click().run()
    held = _one(live_store, f"SELECT (SELECT count(*) FROM tasks WHERE rep_id = $1 AND status = 'open'), "
                            f"(SELECT count(*) FROM leads WHERE owner_id = $1 AND status IN {OPEN})", mate)
    assert any(f"{held[0]} open tasks and {held[1]} open leads move" in i.value for i in at.info)
    assert _one(live_store, "SELECT active FROM reps WHERE id = ?", mate) == (True,)
    at.button(key="act.queue.leaving.confirm").click().run()
    assert not at.exception, at.exception
    assert any(s.value.startswith(f"Moved {held[0]} tasks and {held[1]} leads") for s in at.success)
    assert _one(live_store, "SELECT active FROM reps WHERE id = ?", mate) == (False,)
    assert _one(live_store, f"SELECT count(*) FROM leads WHERE owner_id = ? AND status IN {OPEN}", mate) == (0,)
    assert _one(live_store, "SELECT count(*) FROM tasks WHERE rep_id = ? AND status = 'open'", mate) == (0,)


# ---------------------------------------------------------------- as an analyst


def test_an_analyst_has_no_queue_or_log_and_reads_the_timeline_masked(demo_store: Store) -> None:
    lead_id, contact = _one(demo_store, "SELECT id, contact_name FROM leads WHERE contact_name IS NOT NULL "
                                        "AND email IS NOT NULL ORDER BY id LIMIT 1")
    at = open_page("activities", "analyst")
    labels = [t.label for t in at.tabs]
    assert "Timeline" in labels and "Queue" not in labels and "Log" not in labels
    at.text_input(key="act.timeline.ref").input(str(lead_id)).run()
    assert not at.exception, at.exception
    shown = "\n".join(_events(at))
    assert "Submitted the form" in shown and "•••" in shown
    assert contact not in shown and contact not in texts(at)
