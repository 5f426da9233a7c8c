"""Logging activities: one by form (validated, in scope, audited, moving the first response), with a template and its
follow-up task, in bulk, from a CSV; the template library; manual data entry, measured."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from flashdash import leads as leads_module
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.activities import (
    STARTER_TEMPLATES,
    ActivityError,
    NewActivity,
    data_entry,
    fields_typed,
    log_activity,
    log_csv,
    log_many,
    prefill,
    preview_many,
    save_template,
    templates,
)
from flashdash.store import Store
from tests import stored
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


# ---------------------------------------------------------------- templates and their follow-up tasks


def _rows(store: Store, sql: str, params: list | None = None) -> list[tuple]:
    return stored.rows(store, sql, params)


TEAM2_REP = Actor("susan", "Susan", "rep", rep_id=6, scope_reps=(6,))
TEAM2_REP_ADMIN = Actor("admin", "Ada", "admin", rep_id=6)  # an admin who is also a rep of team 2


def test_a_starter_template_is_stored_on_first_use_and_its_follow_up_task_comes_with_the_activity(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    assert set(templates(store, rep)["built_in"]) == {True}
    lead = _lead(store, "owner_id = ? AND submitted_at < ?", [rep.rep_id, NOW - timedelta(days=5)])
    template = templates(store, rep).filter(pl.col("name") == "Discovery call").row(0, named=True)
    form = {**prefill(template), "notes": "They use a competitor; fees too high."}
    when = NOW - timedelta(hours=2)
    new_id = log_activity(store, rep, NewActivity(
        lead["id"], form["type"], when, form["duration_min"], form["outcome"], form["notes"], form["next_step"],
        template_id=form["template_id"], fields_typed=fields_typed(template, form), source="queue"), NOW)
    stored = templates(store, rep)
    assert stored.height == 4 and not stored["built_in"].any()
    discovery_id = stored.filter(pl.col("name") == "Discovery call")["id"][0]
    assert _rows(store, "SELECT template_id, fields_typed, source, next_step FROM activities WHERE id = ?",
                 [new_id]) == [(discovery_id, 1, "queue", "Send pricing")]
    assert _rows(store, "SELECT lead_id, rep_id, title, kind, due_at, created_by, status FROM tasks") == [
        (lead["id"], rep.rep_id, "Send pricing", "email", when + timedelta(days=2), "rep", "open")]
    actions = _rows(store, "SELECT entity, count(*) FROM audit_log WHERE logged_at = ? GROUP BY ALL ORDER BY 1", [NOW])
    assert ("activity", 1) in actions and ("activity_template", 4) in actions and ("task", 1) in actions


def test_a_template_without_a_follow_up_makes_no_task_and_an_unknown_template_logs_nothing(store: Store) -> None:
    admin = Actor("admin", "Ada", "admin")
    lead = _lead(store, "submitted_at < ?", [NOW - timedelta(days=5)])
    log_activity(store, admin, NewActivity(lead["id"], "meeting", NOW, 30, template_id=-4, fields_typed=0), NOW)
    assert _rows(store, "SELECT count(*) FROM tasks") == [(0,)]
    before = _rows(store, "SELECT count(*) FROM activities")
    with pytest.raises(ActivityError, match="there is no template 999"):
        log_activity(store, admin, NewActivity(lead["id"], "call", NOW, template_id=999), NOW)
    assert _rows(store, "SELECT count(*) FROM activities") == before


def test_managers_keep_their_own_teams_templates_and_admins_any(store: Store) -> None:
    manager, admin, rep = resolve_actor(store, "manager"), Actor("admin", "Ada", "admin"), resolve_actor(store, "rep")
    args = ("call", 20, "connected", None, "Call back", 1)
    team1 = save_template(store, manager, None, "Renewal call", *args, 1, True, NOW)
    shared = save_template(store, admin, None, "Webinar", "meeting", 60, "attended", None, None, None, None, True, NOW)
    with pytest.raises(AccessDenied, match="store-wide templates are kept by admins"):
        save_template(store, manager, None, "Mine", *args, None, True, NOW)
    with pytest.raises(AccessDenied, match="Team 2's templates"):
        save_template(store, manager, None, "Theirs", *args, 2, True, NOW)
    with pytest.raises(AccessDenied, match="managers and admins edit them"):
        save_template(store, rep, None, "Rep's", *args, 1, True, NOW)
    with pytest.raises(AccessDenied):  # nor take another team's template over
        save_template(store, manager, shared, "Webinar", "meeting", 60, None, None, None, None, 1, True, NOW)
    starters = {t["name"] for t in STARTER_TEMPLATES}  # stored with the first template saved
    assert set(templates(store, rep)["name"]) == starters | {"Renewal call", "Webinar"}
    # another team's rep sees the shared ones only
    assert set(templates(store, TEAM2_REP)["name"]) == starters | {"Webinar"}
    save_template(store, manager, team1, "Renewal call", *args[:-1], None, 1, False, NOW)  # retired
    assert set(templates(store, rep)["name"]) == starters | {"Webinar"}
    assert set(templates(store, manager, include_inactive=True)["name"]) == starters | {"Renewal call", "Webinar"}
    before, after = _rows(store, "SELECT before, after FROM audit_log WHERE entity = 'activity_template' "
                                 "AND action = 'update'")[0]
    assert '"active": true' in before and '"active": false' in after


def test_a_template_names_every_problem_and_its_name_is_unique_within_its_team(store: Store) -> None:
    admin = Actor("admin", "Ada", "admin")
    with pytest.raises(ActivityError) as caught:
        save_template(store, admin, None, " ", "fax", 900, None, None, None, 5, None, True, NOW)
    for part in ("give the template a name", "type must be one of", "between 0 and 600", "a follow-up needs a next step"):
        assert part in str(caught.value)
    save_template(store, admin, None, "Check-in", "call", 10, None, None, None, None, 1, True, NOW)
    with pytest.raises(ActivityError, match="already has a template named 'check-in'"):
        save_template(store, admin, None, "check-in", "call", 10, None, None, None, None, 1, True, NOW)
    save_template(store, admin, None, "Check-in", "call", 10, None, None, None, None, 2, True, NOW)  # another team


def test_editing_a_starter_template_stores_the_library_with_the_change(store: Store) -> None:
    admin = Actor("admin", "Ada", "admin")
    new_id = save_template(store, admin, -3, "Pricing follow-up", "email", None, "sent", "Sent the sheet.",
                           "Call to discuss", 5, None, True, NOW)
    rows = templates(store, admin)
    assert rows.height == 4 and rows.filter(pl.col("id") == new_id)["follow_up_days"].to_list() == [5]


# ---------------------------------------------------------------- bulk logging


def test_one_activity_for_many_leads_refuses_the_out_of_scope_ones_and_logs_the_rest_once_each(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    rep = resolve_actor(store, "rep")
    with store.read() as con:
        mine = [r[0] for r in con.execute("SELECT id FROM leads WHERE owner_id = ? AND submitted_at < ? ORDER BY id "
                                          "LIMIT 3", [rep.rep_id, NOW - timedelta(days=2)]).fetchall()]
        theirs = [r[0] for r in con.execute("SELECT id FROM leads WHERE owner_id <> ? ORDER BY id LIMIT 2",
                                            [rep.rep_id]).fetchall()]
    arrivals: list[list[int]] = []
    real_arrived = leads_module.arrived

    def spy(store_: Store, con, lead_ids: list[int], now) -> None:  # the real rescoring, counted
        arrivals.append(sorted(lead_ids))
        real_arrived(store_, con, lead_ids, now)

    monkeypatch.setattr(leads_module, "arrived", spy)
    webinar = NewActivity(0, "meeting", NOW - timedelta(hours=1), 60, "attended the webinar", fields_typed=3)
    asked = mine + theirs + mine[:1]  # a lead picked twice is logged once
    preview = preview_many(store, rep, asked, webinar, NOW)
    done = log_many(store, rep, asked, webinar, NOW)
    assert preview["logged"] == done["logged"] == 3 and preview["refused"].equals(done["refused"])
    assert done["refused"]["lead_id"].to_list() == sorted(theirs)
    assert set(done["refused"]["reason"]) == {"not in your book (or no such lead)"}
    rows = _rows(store, "SELECT lead_id, source, fields_typed, outcome FROM activities WHERE id IN "
                        "(SELECT unnest(?)) ORDER BY id", [done["activity_ids"]])
    assert rows == [(mine[0], "bulk", 3, "attended the webinar"), (mine[1], "bulk", 0, "attended the webinar"),
                    (mine[2], "bulk", 0, "attended the webinar")]  # the fields were typed once for all
    assert arrivals == [sorted(mine)]
    assert _rows(store, "SELECT count(*) FROM audit_log WHERE entity = 'activity'") == [(3,)]


def test_bulk_logging_refuses_a_lead_submitted_after_the_activity(store: Store) -> None:
    admin = Actor("admin", "Ada", "admin")
    old = _lead(store, "submitted_at < ?", [NOW - timedelta(days=30)])
    recent = _lead(store, "submitted_at > ?", [NOW - timedelta(days=2)])
    done = log_many(store, admin, [old["id"], recent["id"]], NewActivity(0, "email", NOW - timedelta(days=3)), NOW)
    assert done["lead_ids"] == [old["id"]]
    assert done["refused"].row(0)[0] == recent["id"] and "after the activity" in done["refused"].row(0)[1]
    with pytest.raises(ActivityError, match="select at least one lead"):
        log_many(store, admin, [], NewActivity(0, "email", NOW), NOW)


# ---------------------------------------------------------------- from a CSV


def test_every_csv_row_is_logged_or_quarantined_with_its_reason(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    mine = _lead(store, "owner_id = ? AND submitted_at < ?", [rep.rep_id, NOW - timedelta(days=60)])
    other = _lead(store, "owner_id = ? AND submitted_at < ? AND id > ?", [rep.rep_id, NOW - timedelta(days=60),
                                                                           mine["id"]])
    theirs = _lead(store, "owner_id <> ?", [rep.rep_id])
    recent = _lead(store, "owner_id = ? AND submitted_at > ?", [rep.rep_id, NOW - timedelta(days=20)])
    with store.write() as con:
        con.execute("UPDATE leads SET external_id = 'CRM-42' WHERE id = ?", [other["id"]])
    day = (NOW - timedelta(days=25)).strftime("%Y-%m-%d")
    text = "\n".join([
        "Lead,Activity Type,Date,Duration,Outcome,Notes,Next step",
        f"{mine['id']},Call,{day} 10:00,15 min,connected,Asked about fees,Send pricing",  # 1 good
        f"CRM-42,e-mail,{day} 11:30,,sent,,",                                          # 2 good, by external id
        f"{mine['id']},fax,{day} 10:00,,,,",                                            # 3 bad type
        f"999999,call,{day} 10:00,,,,",                                                 # 4 unknown lead
        f"{mine['id']},call,someday,,,,",                                               # 5 bad date
        f"{theirs['id']},call,{day} 10:00,,,,",                                         # 6 not in scope
        f"{recent['id']},call,{(NOW - timedelta(days=40)):%Y-%m-%d} 09:00,,,,",         # 7 before submission
        f"{mine['id']},call,{day} 10:00,5,,,",                                          # 8 same as row 1
        f"{mine['id']},demo,{day} 12:00,ninety,,,",                                     # 9 bad duration
    ]).encode()
    result = log_csv(store, rep, text, NOW)
    q = result["quarantined"]
    assert result["rows_read"] == 9 and result["logged"] == 2 and q.height == 7
    assert result["logged"] + q.height == result["rows_read"]
    reasons = dict(zip(q["row"], q["reason"], strict=True))
    assert "the type 'fax' is not one of" in reasons[3]
    assert "no lead with the id or external id '999999'" in reasons[4]
    assert "the date 'someday' cannot be read" in reasons[5]
    assert "is not in your book" in reasons[6]
    assert "before lead" in reasons[7] and "was submitted" in reasons[7]
    assert "already logged" in reasons[8]
    assert "'ninety' is not a whole number of minutes" in reasons[9]
    assert q.filter(pl.col("row") == 4)["lead"].to_list() == ["999999"]  # the cells as read
    logged = _rows(store, "SELECT lead_id, type, occurred_at, duration_min, outcome, notes, next_step, source "
                          "FROM activities WHERE id IN (SELECT unnest(?)) ORDER BY id", [result["activity_ids"]])
    at = datetime.strptime(day, "%Y-%m-%d")
    assert logged == [
        (mine["id"], "call", at + timedelta(hours=10), 15, "connected", "Asked about fees", "Send pricing", "csv"),
        (other["id"], "email", at + timedelta(hours=11, minutes=30), None, "sent", None, None, "csv")]
    again = log_csv(store, rep, text, NOW)  # the same file twice logs nothing twice
    assert again["logged"] == 0 and again["quarantined"].height == 9


def test_a_csv_with_day_first_dates_and_odd_headers_is_read(store: Store) -> None:
    admin = Actor("admin", "Ada", "admin")
    lead = _lead(store, "submitted_at < ?", [datetime(2026, 1, 1)])
    text = f"LEAD ID;Type;When\n{lead['id']};call;25/04/2026 14:00\n{lead['id']};email;03/05/2026\n".encode()
    result = log_csv(store, admin, text, NOW)
    assert result["logged"] == 2 and result["quarantined"].is_empty()
    assert _rows(store, "SELECT occurred_at FROM activities WHERE id IN (SELECT unnest(?)) ORDER BY id",
                 [result["activity_ids"]]) == [(datetime(2026, 4, 25, 14, 0),), (datetime(2026, 5, 3),)]


def test_a_csv_without_the_type_column_logs_nothing(store: Store, tmp_path) -> None:
    path = tmp_path / "acts.csv"
    path.write_text("lead,when\n1,2026-06-01\n")
    before = _rows(store, "SELECT count(*) FROM activities")
    with pytest.raises(ActivityError, match="it has no 'type' column"):
        log_csv(store, Actor("admin", "Ada", "admin"), path, NOW)
    assert _rows(store, "SELECT count(*) FROM activities") == before


# ---------------------------------------------------------------- manual data entry, measured


def test_fields_typed_per_activity_compares_activities_logged_with_and_without_a_template(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    with store.read() as con:
        ids = [r[0] for r in con.execute("SELECT id FROM leads WHERE owner_id = ? AND submitted_at < ? ORDER BY id "
                                         "LIMIT 4", [rep.rep_id, NOW - timedelta(days=30)]).fetchall()]
    start = NOW - timedelta(days=2)
    with store.read() as con:
        demo_rows = con.execute("SELECT count(*) FROM activities WHERE occurred_at >= ? AND rep_id = ?",
                                [start, rep.rep_id]).fetchone()[0]
    for lead_id, typed, template in zip(ids, (4, 2, 0, 1), (None, None, -2, -2), strict=True):
        log_activity(store, rep, NewActivity(lead_id, "demo", NOW - timedelta(hours=1), 45, template_id=template,
                                             fields_typed=typed), NOW)
    log_activity(store, TEAM2_REP_ADMIN, NewActivity(_lead(store, "owner_id = 6", [])["id"], "call",
                                                     NOW - timedelta(hours=1), fields_typed=5), NOW)
    measure = data_entry(store, rep, start, NOW + timedelta(minutes=1))
    frame = {r["template_use"]: r for r in measure["frame"].iter_rows(named=True)}
    assert frame["without a template"]["activities"] == 2 and frame["without a template"]["mean_fields_typed"] == 3.0
    assert frame["with a template"]["activities"] == 2 and frame["with a template"]["mean_fields_typed"] == 0.5
    assert frame["overall"]["activities"] == 4 and frame["overall"]["median_fields_typed"] == 1.5
    assert measure["change"]["difference"] == -2.5 and measure["change"]["relative_change"] == pytest.approx(-5 / 6)
    assert measure["not_measured"] == demo_rows  # the demo's own activities carry no fields_typed
    assert measure["weekly"]["activities"].sum() == 4


def test_a_teams_first_template_keeps_the_starters_for_everyone(demo_copy: Store) -> None:
    manager = resolve_actor(demo_copy, "manager")
    with demo_copy.read() as con:
        (team_id,) = con.execute("SELECT team_id FROM reps WHERE id = ?", [manager.rep_id]).fetchone()
    save_template(demo_copy, manager, None, "Renewal call", "call", 20, None, None, None, None, team_id, True, NOW)
    starters = {t["name"] for t in STARTER_TEMPLATES}
    assert set(templates(demo_copy, resolve_actor(demo_copy, "rep"))["name"]) == starters | {"Renewal call"}
    assert set(templates(demo_copy, resolve_actor(demo_copy, "admin"))["name"]) >= starters
