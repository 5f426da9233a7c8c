"""The qualification workflow on a real store: rules advancing leads, team criteria, moves by hand, history."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from flashdash import qualification as q
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.store import Store, copy_file
from flashdash.views import LeadFilter
from tests import stored
from tests.conftest import NOW


@pytest.fixture
def store(demo_store: Store, tmp_path: Path) -> Store:
    """A copy of the XS demo store that the test may change."""
    copy = tmp_path / "store.duckdb"
    copy_file(demo_store.path, copy)
    return Store(copy)


def _sql(store: Store, query: str, params: list | None = None) -> list[tuple]:
    return stored.rows(store, query, params, write=True)


def _frame(store: Store, query: str, params: list | None = None) -> pl.DataFrame:
    with store.read() as con:
        return con.sql(query, params=params).pl()


def _new_lead(store: Store, owner_id: int) -> int:
    """A lead submitted two days ago, still new, with nothing logged, owned by `owner_id`."""
    submitted = NOW - timedelta(days=2)
    ((lead_id,),) = _sql(store, "INSERT INTO leads (id, merchant_name, contact_name, email, vertical, channel, "
                         "interest_level, submitted_at, owner_id, status, status_changed_at) VALUES "
                         "(nextval('leads_id_seq'), 'Qual Test Bakery', 'Quinn Baker', 'quinn@bakery.example', "
                         "'restaurants', 'referral', 'cold', ?, ?, 'new', ?) RETURNING id", [submitted, owner_id,
                                                                                            submitted])
    _sql(store, "INSERT INTO lead_stage_changes (id, lead_id, from_status, to_status, changed_at, actor, reason) "
         "VALUES (nextval('lead_stage_changes_id_seq'), ?, NULL, 'new', ?, 'system', 'form submitted')",
         [lead_id, submitted])
    return lead_id


def _score(store: Store, lead_id: int, score: float) -> None:
    _sql(store, "INSERT OR REPLACE INTO lead_scores (lead_id, probability, band, scored_by, scored_at, score) "
         "VALUES (?, 0.3, 'high', 'model', ?, ?)", [lead_id, NOW, score])


def _log(store: Store, lead_id: int, kind: str, when, outcome: str | None = None, notes: str | None = None) -> None:
    _sql(store, "INSERT INTO activities (id, lead_id, rep_id, type, occurred_at, outcome, notes) "
         "VALUES (nextval('activities_id_seq'), ?, NULL, ?, ?, ?, ?)", [lead_id, kind, when, outcome, notes])


def _qualify(store: Store, lead_id: int) -> None:
    """Everything the built-in MQL and SQL criteria ask for."""
    _score(store, lead_id, 72)
    _sql(store, "UPDATE leads SET interest_level = 'warm', budget_confirmed = true WHERE id = ?", [lead_id])
    _log(store, lead_id, "call", NOW - timedelta(days=1), "connected", "walked through pricing")


def _advance(store: Store, lead_ids=None) -> pl.DataFrame:
    with store.write() as con:
        return q.advance(store, con, lead_ids, NOW)


def _status(store: Store, lead_id: int) -> str:
    return _sql(store, "SELECT status FROM leads WHERE id = ?", [lead_id])[0][0]


def _other_teams_rep(store: Store, actor: Actor) -> int:
    """A seller outside the actor's scope."""
    return _sql(store, "SELECT min(id) FROM reps WHERE title <> 'manager' AND NOT list_contains(?, id)",
                [list(actor.scope_reps or ())])[0][0]


# ---------------------------------------------------------------- rules


def test_a_rule_advances_a_lead_from_new_through_mql_to_sql_in_one_call_with_two_history_rows(store) -> None:
    rep = resolve_actor(store, "rep")
    lead = _new_lead(store, rep.rep_id)
    _qualify(store, lead)
    changes = _advance(store, [lead])
    assert changes.select("from_status", "to_status").rows() == [("new", "mql"), ("mql", "sql")]
    assert _status(store, lead) == "sql"
    hist = q.history(store, rep, lead, NOW).filter(pl.col("actor") == "rule")
    assert hist.select("from_status", "to_status", "changed_at").rows() == [("new", "mql", NOW), ("mql", "sql", NOW)]
    assert hist["reason"].to_list() == ["rule: MQL when score ≥ 40 and interest is at least warm",
                                        "rule: SQL when a discovery call is logged and budget is confirmed"]
    audits = _sql(store, "SELECT actor, action, before, after FROM audit_log WHERE entity = 'lead' AND "
                  "entity_id = ? ORDER BY id", [str(lead)])
    assert [(a, b, json.loads(x)["status"], json.loads(y)["status"]) for a, b, x, y in audits] == [
        ("rule", "stage_change", "new", "mql"), ("rule", "stage_change", "mql", "sql")]


def test_a_second_advance_changes_nothing(store) -> None:
    lead = _new_lead(store, resolve_actor(store, "rep").rep_id)
    _qualify(store, lead)
    _sql(store, "INSERT OR REPLACE INTO lead_scores (lead_id, probability, band, scored_by, scored_at, score) "
         "SELECT id, 0.5, 'high', 'model', ?, 80 FROM leads WHERE id <> ?", [NOW, lead])  # the demo's leads too
    _sql(store, "UPDATE leads SET interest_level = 'hot', budget_confirmed = true WHERE id <> ?", [lead])
    first = _advance(store)
    before = _sql(store, "SELECT (SELECT count(*) FROM lead_stage_changes), (SELECT count(*) FROM audit_log)")
    assert first.height > 10
    assert _advance(store).is_empty()
    assert _sql(store, "SELECT (SELECT count(*) FROM lead_stage_changes), (SELECT count(*) FROM audit_log)") == before


def test_a_lead_becomes_an_opportunity_on_a_meeting_after_it_became_sql_not_before(store) -> None:
    lead = _new_lead(store, resolve_actor(store, "rep").rep_id)
    _qualify(store, lead)
    _log(store, lead, "meeting", NOW - timedelta(hours=20), "held")  # before it is SQL: does not count
    assert _advance(store, [lead])["to_status"].to_list() == ["mql", "sql"]
    with store.write() as con:  # now SQL, the earlier meeting still does not count
        assert q.advance(store, con, [lead], NOW + timedelta(minutes=30)).is_empty()
    _log(store, lead, "demo", NOW + timedelta(hours=1), "completed")
    with store.write() as con:
        later = q.advance(store, con, [lead], NOW + timedelta(hours=2))
    assert later.select("from_status", "to_status", "reason").rows() == [
        ("sql", "opportunity", "rule: Opportunity when (a meeting since SQL is logged or a demo since SQL is "
                               "logged or an opportunity exists)")]


def test_only_connected_or_discovery_calls_count_as_discovery_calls(store) -> None:
    lead = _new_lead(store, resolve_actor(store, "rep").rep_id)
    day = NOW - timedelta(days=1)
    _log(store, lead, "call", day, "voicemail", "Left voicemail")
    _log(store, lead, "call", day, "no answer")
    _log(store, lead, "email", day, "sent", "discovery deck attached")  # not a call
    with store.read() as con:
        assert q.lead_facts(store, con, [lead], NOW)["discovery_calls"][0] == 0
    _log(store, lead, "call", day, "scheduled", "Discovery: current processor, volumes")
    _log(store, lead, "call", day, "connected")
    with store.read() as con:
        facts = q.lead_facts(store, con, [lead], NOW).row(0, named=True)
    assert (facts["discovery_calls"], facts["calls"], facts["emails"]) == (2, 4, 1)


def test_leads_in_an_exit_stage_never_move_by_rule(store) -> None:
    lead = _new_lead(store, resolve_actor(store, "rep").rep_id)
    _qualify(store, lead)
    _sql(store, "UPDATE leads SET status = 'lost' WHERE id = ?", [lead])
    assert _advance(store, [lead]).is_empty()
    assert _status(store, lead) == "lost"


def test_the_vectorised_advance_takes_exactly_the_steps_next_stages_gives_each_lead(store) -> None:
    _sql(store, "INSERT INTO lead_scores (lead_id, probability, band, scored_by, scored_at, score) "
         "SELECT id, 0.2, 'medium', 'model', ?, (id * 37) % 100 FROM leads", [NOW])
    _sql(store, "UPDATE leads SET budget_confirmed = id % 2 = 0, interest_level = CASE WHEN id % 3 = 0 THEN 'cold' "
         "ELSE 'hot' END")
    admin = Actor("admin", "Ada", "admin")
    q.save_criteria(store, admin, 2, "mql", [{"field": "has_email", "op": "is_true"}], True, NOW)
    q.save_criteria(store, admin, None, "opportunity", [{"field": "demos", "op": "gte", "value": 1}], True, NOW)
    with store.read() as con:
        facts = q.lead_facts(store, con, None, NOW)
        stored = q._stored(store, con)
    expected = [(r["lead_id"], to) for r in facts.iter_rows(named=True)
                for to, _ in q.next_stages(r, q._effective(stored, r["team_id"]))]
    changes = _advance(store)
    assert len(expected) > 20 and {to for _, to in expected} == {"mql", "sql", "opportunity"}  # a real comparison
    assert changes.select("lead_id", "to_status").rows() == expected


# ---------------------------------------------------------------- criteria


def test_criteria_say_whether_they_are_built_in_the_default_or_the_teams_own(store) -> None:
    admin = Actor("admin", "Ada", "admin")
    assert set(q.criteria(store, admin, 1)["source"]) == {"built-in"}
    q.save_criteria(store, admin, None, "mql", [{"field": "score", "op": "gte", "value": 50}], True, NOW)
    q.save_criteria(store, admin, 1, "sql", [{"field": "budget_confirmed", "op": "is_true"}], False, NOW)
    team = q.criteria(store, admin, 1)
    assert team.select("stage", "source", "auto").rows() == [("mql", "default", True), ("sql", "team", False),
                                                             ("opportunity", "built-in", True)]
    assert team["description"][0] == "rule: MQL when score ≥ 50"
    assert q.criteria(store, admin, 2)["source"].to_list() == ["default", "built-in", "built-in"]


def test_a_manager_edits_their_own_teams_criteria_with_an_audit_record_of_before_and_after(store) -> None:
    manager = resolve_actor(store, "manager")
    (team,) = _sql(store, "SELECT id FROM teams WHERE manager_id = ?", [manager.rep_id])[0]
    first = q.save_criteria(store, manager, team, "mql", [{"field": "score", "op": "gte", "value": 30}], True, NOW)
    again = q.save_criteria(store, manager, team, "mql", [{"field": "score", "op": "gte", "value": 60}], False, NOW)
    assert first == again
    (before, after, reason) = _sql(store, "SELECT before, after, reason FROM audit_log WHERE entity = "
                                   "'qualification_criteria' ORDER BY id DESC LIMIT 1")[0]
    assert json.loads(before)["conditions"][0]["value"] == 30 and json.loads(after)["conditions"][0]["value"] == 60
    assert json.loads(after)["auto"] is False and reason == "rule: MQL when score ≥ 60"


def test_a_manager_cannot_edit_another_teams_criteria_nor_the_default(store) -> None:
    manager = resolve_actor(store, "manager")
    (other,) = _sql(store, "SELECT min(id) FROM teams WHERE manager_id <> ?", [manager.rep_id])[0]
    conds = [{"field": "score", "op": "gte", "value": 10}]
    with pytest.raises(AccessDenied, match="only their own team"):
        q.save_criteria(store, manager, other, "mql", conds, True, NOW)
    with pytest.raises(AccessDenied, match="Only an admin"):
        q.save_criteria(store, manager, None, "mql", conds, True, NOW)
    with pytest.raises(AccessDenied):
        q.save_criteria(store, resolve_actor(store, "rep"), 1, "mql", conds, True, NOW)
    assert _sql(store, "SELECT count(*) FROM qualification_criteria") == [(0,)]


def test_invalid_criteria_are_refused_whole_and_nothing_is_written(store) -> None:
    audits = _sql(store, "SELECT count(*) FROM audit_log")
    with pytest.raises(q.QualificationError, match="unknown field 'mood'.*condition 2"):
        q.save_criteria(store, Actor("admin", "Ada", "admin"), 1, "sql",
                        [{"field": "mood", "op": "eq", "value": "happy"}, {"field": "calls", "op": "is_true"}],
                        True, NOW)
    with pytest.raises(q.QualificationError, match="no team 999"):
        q.save_criteria(store, Actor("admin", "Ada", "admin"), 999, "sql",
                        [{"field": "calls", "op": "gte", "value": 1}], True, NOW)
    with pytest.raises(q.QualificationError, match="stages mql, sql, opportunity"):
        q.save_criteria(store, Actor("admin", "Ada", "admin"), 1, "won",
                        [{"field": "calls", "op": "gte", "value": 1}], True, NOW)
    assert _sql(store, "SELECT count(*) FROM qualification_criteria") == [(0,)]
    assert _sql(store, "SELECT count(*) FROM audit_log") == audits


def test_a_team_whose_mql_is_manual_keeps_its_leads_new_while_the_default_advances_others(store) -> None:
    manager = resolve_actor(store, "manager")
    (team,) = _sql(store, "SELECT id FROM teams WHERE manager_id = ?", [manager.rep_id])[0]
    ours = _new_lead(store, resolve_actor(store, "rep").rep_id)
    theirs = _new_lead(store, _other_teams_rep(store, manager))
    for lead in (ours, theirs):
        _qualify(store, lead)
    q.save_criteria(store, manager, team, "mql", q.BUILTIN["mql"], False, NOW)
    _advance(store, [ours, theirs])
    assert (_status(store, ours), _status(store, theirs)) == ("new", "sql")
    assert q.reset_criteria(store, manager, team, "mql", NOW)
    _advance(store, [ours])
    assert _status(store, ours) == "sql"


# ---------------------------------------------------------------- moves by hand


def test_a_rep_moves_their_own_lead_but_not_another_reps_which_is_refused_and_counted(store) -> None:
    rep = resolve_actor(store, "rep")
    mine = _new_lead(store, rep.rep_id)
    other = _new_lead(store, _other_teams_rep(store, rep))
    result = q.change_stage(store, rep, [mine, other, 99_999], "mql", "merchant asked for pricing", NOW)
    assert (result["changed"], result["unchanged"], result["refused"]) == (1, 0, 2)
    assert result["refusals"] == [{"lead_id": other, "reason": "not in your book"},
                                  {"lead_id": 99_999, "reason": "not in your book"}]
    assert (_status(store, mine), _status(store, other)) == ("mql", "new")
    row = _sql(store, "SELECT from_status, to_status, changed_at, actor, reason FROM lead_stage_changes "
               "WHERE lead_id = ? ORDER BY id DESC LIMIT 1", [mine])
    assert row == [("new", "mql", NOW, "rep", "merchant asked for pricing")]
    assert _sql(store, "SELECT actor, reason FROM audit_log WHERE entity = 'lead' AND entity_id = ?",
                [str(mine)]) == [("rep", "merchant asked for pricing")]


def test_a_stage_change_needs_a_reason_and_writes_nothing_without_one(store) -> None:
    rep = resolve_actor(store, "rep")
    lead = _new_lead(store, rep.rep_id)
    for reason in ("", "   ", "x" * 501):
        with pytest.raises(q.QualificationError):
            q.change_stage(store, rep, [lead], "mql", reason, NOW)
    assert _status(store, lead) == "new"
    assert _sql(store, "SELECT count(*) FROM lead_stage_changes WHERE lead_id = ?", [lead]) == [(1,)]


def test_moving_back_is_for_managers_and_the_rule_then_leaves_the_lead_alone(store) -> None:
    rep, manager = resolve_actor(store, "rep"), resolve_actor(store, "manager")
    lead = _new_lead(store, rep.rep_id)
    _qualify(store, lead)
    _advance(store, [lead])
    refused = q.change_stage(store, rep, [lead], "mql", "budget was not really confirmed", NOW)
    assert refused["refused"] == 1 and "needs a manager" in refused["refusals"][0]["reason"]
    moved = q.change_stage(store, manager, [lead], "mql", "budget was not really confirmed", NOW)
    assert moved["changed"] == 1 and _status(store, lead) == "mql"
    assert _advance(store, [lead]).is_empty()  # held where the manager put it
    q.change_stage(store, rep, [lead], "sql", "budget confirmed in writing", NOW + timedelta(hours=1))
    assert _status(store, lead) == "sql"


def test_advancing_in_bulk_moves_each_open_lead_one_stage_on_and_refuses_the_rest(store) -> None:
    manager = resolve_actor(store, "manager")
    by_status = {s: _sql(store, "SELECT min(id) FROM leads WHERE status = ? AND list_contains(?, owner_id)",
                         [s, list(manager.scope_reps)])[0][0] for s in ("new", "sql", "opportunity", "lost")}
    ids = list(by_status.values())
    preview = q.preview_change(store, manager, ids, q.NEXT)
    assert preview["message"] == ("This changes 2 leads to their next stage; 2 are refused (already closed (Lost): "
                                  "1, no open stage after Opportunity (close it as won or lost): 1).")
    q.change_stage(store, manager, ids, q.NEXT, "pipeline review", NOW)
    assert [_status(store, by_status[s]) for s in ("new", "sql", "opportunity", "lost")] == [
        "mql", "opportunity", "opportunity", "lost"]


def test_analysts_and_executives_cannot_move_leads(store) -> None:
    lead = _new_lead(store, resolve_actor(store, "rep").rep_id)
    for name in ("analyst", "executive"):
        with pytest.raises(AccessDenied):
            q.change_stage(store, resolve_actor(store, name), [lead], "mql", "looks keen", NOW)
        with pytest.raises(AccessDenied):
            q.preview_change(store, resolve_actor(store, name), [lead], "mql")


def test_the_preview_counts_what_the_change_then_does_without_writing(store) -> None:
    manager = resolve_actor(store, "manager")
    ids = _frame(store, "SELECT id FROM leads WHERE status IN ('new', 'mql', 'disqualified') ORDER BY id")["id"]
    version = store.version()
    preview = q.preview_change(store, manager, ids.to_list(), "disqualified")
    assert store.version() == version
    assert preview["changed"] > 0 and preview["unchanged"] > 0 and preview["refused"] > 0
    assert preview["message"].startswith(f"This changes {preview['changed']:,} leads to Disqualified")
    done = q.change_stage(store, manager, ids.to_list(), "disqualified", "spring clean", NOW)
    assert {k: done[k] for k in ("changed", "unchanged", "refused", "changed_ids")} == \
        {k: preview[k] for k in ("changed", "unchanged", "refused", "changed_ids")}
    assert preview["changed"] + preview["unchanged"] + preview["refused"] == ids.n_unique()


def test_a_lead_already_at_the_stage_is_counted_unchanged_and_gets_no_history_row(store) -> None:
    rep = resolve_actor(store, "rep")
    lead = _new_lead(store, rep.rep_id)
    result = q.change_stage(store, rep, [lead, lead], "new", "double click", NOW)
    assert (result["requested"], result["changed"], result["unchanged"]) == (1, 0, 1)
    assert _sql(store, "SELECT count(*) FROM lead_stage_changes WHERE lead_id = ?", [lead]) == [(1,)]


# ---------------------------------------------------------------- history


def test_history_durations_add_up_to_each_leads_age(store) -> None:
    rep = resolve_actor(store, "rep")
    ids = _frame(store, "SELECT id FROM leads WHERE owner_id = ? ORDER BY id LIMIT 12", [rep.rep_id])["id"]
    q.change_stage(store, rep, ids.head(5).to_list(), "disqualified", "not a fit", NOW - timedelta(hours=1))
    for lead in ids:
        hist = q.history(store, rep, lead, NOW)
        (submitted,) = _sql(store, "SELECT submitted_at FROM leads WHERE id = ?", [lead])[0]
        assert hist["changed_at"][0] == submitted
        assert hist["days"].sum() == pytest.approx((NOW - submitted).total_seconds() / 86400, abs=1e-6)
        assert hist["until"][-1] == NOW


def test_history_of_a_lead_outside_the_book_is_refused(store) -> None:
    rep = resolve_actor(store, "rep")
    other = _new_lead(store, _other_teams_rep(store, rep))
    with pytest.raises(AccessDenied, match="not in your book|no lead"):
        q.history(store, rep, other, NOW)


def test_time_in_stage_covers_only_the_leads_in_scope_and_agrees_with_their_histories(store) -> None:
    rep = resolve_actor(store, "rep")
    mine = _frame(store, "SELECT id FROM leads WHERE owner_id = ?", [rep.rep_id])["id"].to_list()
    stats = q.time_in_stage(store, rep, None, NOW)
    # the same figures computed here from the raw changes, in polars
    stays = (_frame(store, "SELECT * FROM lead_stage_changes WHERE list_contains(?, lead_id)", [mine])
             .sort("lead_id", "changed_at", "id")
             .with_columns(ended=pl.col("changed_at").shift(-1).over("lead_id").fill_null(NOW))
             .with_columns(days=(pl.col("ended") - pl.col("changed_at")).dt.total_microseconds() / 86_400e6)
             .filter(pl.col("to_status").is_in(q.STAGES)))
    expected = stays.group_by("to_status").agg(leads=pl.col("lead_id").n_unique(), median_days=pl.median("days"))
    got = stats.join(expected, left_on="stage", right_on="to_status")
    assert got.height == stats.height == 4
    assert (got["leads"] == got["leads_right"]).all()
    assert got.select((pl.col("median_days") - pl.col("median_days_right")).abs().max()).item() < 1e-6
    everyone = q.time_in_stage(store, Actor("admin", "Ada", "admin"), None, NOW)
    assert everyone.filter(pl.col("stage") == "new")["leads"][0] > stats.filter(pl.col("stage") == "new")["leads"][0]
    # a rep asking about another rep's lead by id gets only their own
    other = _new_lead(store, _other_teams_rep(store, rep))
    assert q.time_in_stage(store, rep, [*mine[:3], other], NOW).filter(pl.col("stage") == "new")["leads"][0] == 3
    open_now = q.time_in_stage(store, rep, LeadFilter(stages=q.STAGES), NOW)
    assert open_now["current"].sum() == _sql(store, "SELECT count(*) FROM leads WHERE owner_id = ? AND status IN "
                                                    "('new', 'mql', 'sql', 'opportunity')", [rep.rep_id])[0][0]
