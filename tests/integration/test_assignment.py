"""Lead assignment on a real store: routing new leads and what it writes, policies, manual assignment,
routing data, the territory map and the fairness view."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flashdash import assignment
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.assignment import AssignmentError
from flashdash.store import Store, copy_file
from tests import stored
from tests.conftest import NOW

ADMIN = Actor("admin", "Ada Admin", "admin")
ANALYST = Actor("analyst", "Avery Analyst", "analyst")
SATURDAY = NOW + timedelta(days=4)
MONDAY = NOW + timedelta(days=6)
WEST, NORTHEAST = 1, 2  # the XS demo's teams (their managers are reps 1 and 5)


@pytest.fixture
def store(demo_store: Store, tmp_path: Path) -> Store:
    copy = tmp_path / "store.duckdb"
    copy_file(demo_store.path, copy)
    return Store(copy)


def _rows(store: Store, sql: str, params: list | None = None) -> list[tuple]:
    return stored.rows(store, sql, params)


def _new_leads(store: Store, n: int, city: str = "Seattle, WA", vertical: str | None = "retail",
               language: str | None = "en", region: str | None = None) -> list[int]:
    """n new unowned leads from the form, in the city's region (or the named region)."""
    with store.write() as con:
        rows = con.execute(
            "INSERT INTO leads (id, merchant_name, vertical, city, region_id, channel, submitted_at, status, language) "
            "SELECT nextval('leads_id_seq'), 'Shop ' || i, ?, ?, "
            "       coalesce((SELECT id FROM regions WHERE name = ?), (SELECT region_id FROM cities WHERE name = ?)), "
            "       'web', ?::TIMESTAMP - to_minutes(i), 'new', ? "
            "FROM range(?) t(i) RETURNING id", [vertical, city, region, city, NOW, language, n]).fetchall()
    return sorted(r[0] for r in rows)


def _assign(store: Store, lead_ids: list[int] | None = None, now: datetime = NOW) -> pl.DataFrame:
    with store.write() as con:
        return assignment.assign(store, con, lead_ids, now)


def _team_reps(store: Store, team_id: int) -> set[int]:
    return {r[0] for r in _rows(store, "SELECT id FROM reps WHERE team_id = ? AND title <> 'manager' AND active",
                                [team_id])}


def _setup(store: Store, team_id: int = WEST) -> list[int]:
    """The team's sellers all sell retail in English, Monday to Friday, in two of the region's territories
    (West: Southern California and the Pacific Northwest; Northeast: New England and New York), without a
    cap: routing data the tests state rather than take from the generator."""
    reps = sorted(_team_reps(store, team_id))
    territories = [11, 13] if team_id == WEST else [1, 2]
    for rep in reps:
        assignment.set_rep_routing(store, ADMIN, rep, ["retail"], ["en"], None, "mon,tue,wed,thu,fri", territories,
                                   NOW)
    return reps


# ---------------------------------------------------------------- routing on arrival


def test_new_leads_get_an_owner_a_record_with_the_reason_and_an_audit_record(store: Store) -> None:
    _setup(store)
    ids = _new_leads(store, 5)
    out = _assign(store)
    assert out["lead_id"].to_list() == sorted(ids, reverse=True)  # oldest submission first
    assert set(out["rep_id"].to_list()) <= _team_reps(store, WEST)
    assert out["team_id"].to_list() == [WEST] * 5
    owners = dict(_rows(store, "SELECT id, owner_id FROM leads WHERE id IN (SELECT unnest(?))", [ids]))
    assert owners == dict(zip(out["lead_id"].to_list(), out["rep_id"].to_list(), strict=True))
    assert _rows(store, "SELECT DISTINCT assigned_at FROM leads WHERE id IN (SELECT unnest(?))", [ids]) == [(NOW,)]
    records = _rows(store, "SELECT lead_id, rep_id, previous_rep_id, strategy, reason, actor FROM lead_assignments "
                    "ORDER BY id")
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in records] == list(zip(
        out["lead_id"], out["rep_id"], [None] * 5, out["strategy"], out["reason"], strict=True))
    assert {r[5] for r in records} == {"system"}
    reason = records[0][4]
    assert reason.startswith("territory Pacific Northwest; skill: retail, en; load ")
    assert reason.endswith(" (won revenue, 90 days)")
    audits = _rows(store, "SELECT actor, action, entity, entity_id, before, after, reason FROM audit_log "
                   "WHERE action = 'assign' ORDER BY id")
    assert len(audits) == 5
    first = audits[0]
    assert first[:5] == ("system", "assign", "lead", str(records[0][0]), '{"owner_id": null}')
    assert first[5] == f'{{"owner_id": {records[0][1]}, "strategy": "{records[0][3]}"}}'
    assert first[6] == reason


def test_one_run_spreads_leads_by_the_loads_it_has_just_given(store: Store) -> None:
    reps = _setup(store, NORTHEAST)
    _new_leads(store, 30, city="Boston, MA")
    out = _assign(store)
    counts = dict(out.group_by("rep_id").len().iter_rows())
    # equally matched sellers share the batch: each lead counts towards the next one's round-robin, so no
    # rep takes it all (who gets how many depends on the leads each had in the window and their weight)
    assert set(counts) <= set(reps) and len(counts) >= 2
    assert sum(counts.values()) == 30


def test_owned_leads_are_left_alone_unless_re_routed_by_name(store: Store) -> None:
    _setup(store)
    ids = _new_leads(store, 2)
    first = _assign(store)
    assert _assign(store).is_empty()
    with store.write() as con:
        named = assignment.assign(store, con, ids, NOW)
    assert set(named["strategy"]) == {"skipped"}
    assert named["reason"][0].startswith("the lead already has an owner")
    assert _rows(store, "SELECT count(*) FROM lead_assignments") == [(2,)]
    # re-routed on request after the first owner stopped working Tuesdays: their lead moves, and a lead whose
    # owner is still the pick keeps them and writes nothing
    owner = first["rep_id"][0]
    assignment.set_rep_routing(store, ADMIN, owner, ["retail"], ["en"], None, "sat", [11, 13], NOW)
    with store.write() as con:
        again = assignment.assign(store, con, ids, NOW + timedelta(hours=1), actor="manager", reroute=True)
    assert owner not in again["rep_id"].to_list()
    changed = again.join(first.select("lead_id", pl.col("rep_id").alias("before")), on="lead_id") \
        .filter(pl.col("rep_id") != pl.col("before"))
    records = _rows(store, "SELECT lead_id, previous_rep_id, actor FROM lead_assignments WHERE actor = 'manager'")
    assert (first["lead_id"][0], owner, "manager") in records
    assert sorted(records) == sorted((r["lead_id"], r["before"], "manager") for r in changed.iter_rows(named=True))


def test_leads_inserted_and_routed_in_one_unit_of_work_commit_together(store: Store) -> None:
    _setup(store)
    with store.write() as con:  # the form's hook: the new lead and its owner in one transaction
        (lead,) = con.execute("INSERT INTO leads (id, city, region_id, vertical, submitted_at, status) VALUES "
                              "(nextval('leads_id_seq'), 'Seattle, WA', 5, 'retail', ?, 'new') RETURNING id",
                              [NOW]).fetchone()
        out = assignment.assign(store, con, [lead], NOW)
    assert _rows(store, "SELECT owner_id FROM leads WHERE id = ?", [lead]) == [(out["rep_id"][0],)]
    assert out["rep_id"][0] is not None


def test_routing_is_deterministic_for_the_same_store_and_time(store: Store, tmp_path: Path) -> None:
    _new_leads(store, 12, city="Boston, MA", language="es")
    _new_leads(store, 12, city="Denver, CO", vertical="grocery")
    twin = Store(tmp_path / "twin.duckdb")
    copy_file(store.path, twin.path)
    assert_frame_equal(_assign(store), _assign(twin))


def test_a_lead_nobody_can_take_stays_unassigned_and_is_recorded_once_while_the_reason_stands(store: Store) -> None:
    _setup(store)  # every West seller works Monday to Friday
    (lead,) = _new_leads(store, 1)
    first = _assign(store, now=SATURDAY).row(0, named=True)
    assert first["rep_id"] is None
    assert first["reason"] == "nobody on team West Alpha works on sat"
    _assign(store, now=SATURDAY + timedelta(hours=1))
    records = _rows(store, "SELECT rep_id, reason FROM lead_assignments WHERE lead_id = ?", [lead])
    assert records == [(None, "nobody on team West Alpha works on sat")]
    assert _rows(store, "SELECT owner_id FROM leads WHERE id = ?", [lead]) == [(None,)]
    monday = _assign(store, now=MONDAY).row(0, named=True)
    assert monday["rep_id"] in _team_reps(store, WEST)


def test_a_lead_waiting_for_room_is_not_recorded_again_when_only_the_loads_move(store: Store) -> None:
    reps = _setup(store)
    for rep in reps:  # everyone full
        assignment.set_rep_routing(store, ADMIN, rep, ["retail"], ["en"], 0, "mon,tue,wed,thu,fri", [11, 13], NOW)
    (lead,) = _new_leads(store, 1)
    first = _assign(store).row(0, named=True)
    assert (first["rep_id"], first["strategy"]) == (None, "load")
    assignment.assign_to(store, ADMIN, [_open_lead_of(store, NORTHEAST)], reps[0], "covering", NOW)  # a load moves
    second = _assign(store).row(0, named=True)
    assert second["reason"] != first["reason"]
    assert _rows(store, "SELECT reason FROM lead_assignments WHERE lead_id = ?", [lead]) == [(first["reason"],)]
    assignment.set_rep_routing(store, ADMIN, reps[-1], ["retail"], ["en"], 500, "mon,tue,wed,thu,fri", [11, 13], NOW)
    assert _assign(store).row(0, named=True)["rep_id"] == reps[-1]


def test_a_region_without_a_team_waits_for_a_default_team(store: Store) -> None:
    (lead,) = _new_leads(store, 1, city="Dallas, TX", region="Southwest")
    out = _assign(store).row(0, named=True)
    assert (out["rep_id"], out["strategy"]) == (None, "team")
    assert "no team covers region Southwest" in out["reason"]
    assignment.save_policy(store, ADMIN, None, ["load", "weighted_round_robin"], {"default_team_id": NORTHEAST}, NOW)
    out = _assign(store).row(0, named=True)
    assert out["team_id"] == NORTHEAST and out["rep_id"] in _team_reps(store, NORTHEAST)
    assert out["reason"].startswith("no team covers region Southwest; default team Northeast Alpha; load ")


def test_an_assignment_rolls_back_with_the_callers_unit_of_work(store: Store) -> None:
    ids = _new_leads(store, 3)
    with pytest.raises(RuntimeError), store.write() as con:
        assignment.assign(store, con, None, NOW)
        raise RuntimeError("the import failed after routing")
    assert _rows(store, "SELECT count(*) FROM leads WHERE owner_id IS NULL AND id IN (SELECT unnest(?))",
                 [ids]) == [(3,)]
    assert _rows(store, "SELECT count(*) FROM lead_assignments") == [(0,)]
    assert _rows(store, "SELECT count(*) FROM audit_log WHERE action = 'assign'") == [(0,)]


def test_a_seller_at_their_cap_gets_nothing(store: Store) -> None:
    manager = resolve_actor(store, "manager")
    west = sorted(_team_reps(store, WEST))
    full, free = west[0], west[1]
    (open_now,) = _rows(store, "SELECT count(*) FROM leads WHERE owner_id = ? AND status IN "
                        "('new', 'mql', 'sql', 'opportunity')", [full])[0]
    for rep, cap in ((full, open_now), (free, 1000)):
        assignment.set_rep_routing(store, manager, rep, ["retail"], ["en"], cap, ["mon", "tue", "wed", "thu", "fri"],
                                   [12, 13], NOW)
    _new_leads(store, 10)
    out = _assign(store)
    assert full not in out["rep_id"].to_list()
    assert out["rep_id"].null_count() == 0


# ---------------------------------------------------------------- policies


def test_a_manager_sets_their_teams_policy_and_their_leads_follow_it(store: Store) -> None:
    manager = resolve_actor(store, "manager")
    assert assignment.policy(store, manager, WEST)["source"] == "built-in"
    saved = assignment.save_policy(store, manager, WEST, ["weighted_round_robin"], {"weight_metric": "equal"}, NOW)
    assert (saved["source"], saved["own"], saved["team"]) == ("team", True, "West Alpha")
    read = assignment.policy(store, manager, WEST)
    assert read["strategies"] == ["weighted_round_robin"] and read["settings"]["weight_metric"] == "equal"
    assert assignment.policy(store, ADMIN, NORTHEAST)["source"] == "built-in"
    _new_leads(store, 4)
    out = _assign(store)
    assert set(out["strategy"]) == {"weighted_round_robin"}
    assert out["reason"][0].startswith("round-robin, equal weights")
    audit = _rows(store, "SELECT actor, action, entity, entity_id FROM audit_log WHERE entity = 'assignment_policy'")
    assert audit == [("manager", "create", "assignment_policy", str(WEST))]
    cleared = assignment.clear_policy(store, manager, WEST, NOW)
    assert cleared["source"] == "built-in"


@pytest.mark.parametrize(("username", "team_id", "message"), [
    ("manager", NORTHEAST, "only their own team.s routing policies"),
    ("manager", None, "Only an admin changes the default"),
    ("rep", WEST, "may not change routing policies"),
    ("analyst", WEST, "may not change routing policies"),
])
def test_policies_are_changed_by_a_teams_manager_or_an_admin_only(store: Store, username: str, team_id: int | None,
                                                                  message: str) -> None:
    with pytest.raises(AccessDenied, match=message):
        assignment.save_policy(store, resolve_actor(store, username), team_id, ["load"], {}, NOW)
    assert _rows(store, "SELECT count(*) FROM assignment_policies") == [(0,)]


def test_a_rep_reads_their_own_teams_policy_but_not_anothers(store: Store) -> None:
    rep = resolve_actor(store, "rep")
    assert assignment.policy(store, rep, WEST)["strategies"] == list(assignment.DEFAULT_STRATEGIES)
    with pytest.raises(AccessDenied):
        assignment.policy(store, rep, NORTHEAST)


def test_an_invalid_policy_is_refused_and_nothing_is_written(store: Store) -> None:
    with pytest.raises(AssignmentError, match="must come last"):
        assignment.save_policy(store, ADMIN, WEST, ["weighted_round_robin", "load"], {}, NOW)
    with pytest.raises(AssignmentError, match="default_team_id 99 is not a team"):
        assignment.save_policy(store, ADMIN, None, ["load"], {"default_team_id": 99}, NOW)
    with pytest.raises(AssignmentError, match="there is no team 99"):
        assignment.save_policy(store, ADMIN, 99, ["load"], {}, NOW)
    assert _rows(store, "SELECT count(*) FROM assignment_policies") == [(0,)]
    assert _rows(store, "SELECT count(*) FROM audit_log WHERE entity = 'assignment_policy'") == [(0,)]


# ---------------------------------------------------------------- manual assignment


def _open_lead_of(store: Store, team_id: int) -> int:
    return _rows(store, "SELECT l.id FROM leads l JOIN reps r ON r.id = l.owner_id WHERE r.team_id = ? "
                 "AND l.status = 'new' ORDER BY l.id LIMIT 1", [team_id])[0][0]


def test_a_manager_reassigns_leads_within_their_team_with_a_reason(store: Store) -> None:
    manager = resolve_actor(store, "manager")
    (fresh,) = _new_leads(store, 1)
    owned = _open_lead_of(store, WEST)
    (previous,) = _rows(store, "SELECT owner_id FROM leads WHERE id = ?", [owned])[0]
    target = max(_team_reps(store, WEST) - {previous})
    preview = assignment.preview_assign_to(store, manager, [fresh, owned], target, NOW)
    assert (preview["leads"], preview["to_move"], preview["already_theirs"]) == (2, 2, 0)
    assert preview["open_after"] == preview["open_before"] + 2
    assert sum(preview["from"].values()) == 2 and preview["from"]["unassigned"] == 1
    assert _rows(store, "SELECT count(*) FROM lead_assignments") == [(0,)]  # the preview wrote nothing
    done = assignment.assign_to(store, manager, [fresh, owned], target, "  covering a holiday ", NOW)
    assert done["assigned"] == 2
    records = _rows(store, "SELECT lead_id, rep_id, previous_rep_id, strategy, reason, actor FROM lead_assignments "
                    "ORDER BY lead_id")
    assert records == sorted([(fresh, target, None, "manual", "manual by manager: covering a holiday", "manager"),
                              (owned, target, previous, "manual", "manual by manager: covering a holiday", "manager")])
    assert _rows(store, "SELECT count(*) FROM audit_log WHERE action = 'assign' AND actor = 'manager'") == [(2,)]


def test_manual_assignment_refusals_leave_everything_as_it_was(store: Store) -> None:
    manager = resolve_actor(store, "manager")
    west_lead, east_lead = _open_lead_of(store, WEST), _open_lead_of(store, NORTHEAST)
    west_rep, east_rep = min(_team_reps(store, WEST)), min(_team_reps(store, NORTHEAST))
    (inactive,) = _rows(store, "SELECT id FROM reps WHERE NOT active AND team_id = ? LIMIT 1", [WEST])[0]
    (closed,) = _rows(store, "SELECT l.id FROM leads l JOIN reps r ON r.id = l.owner_id WHERE r.team_id = ? "
                      "AND l.status = 'won' LIMIT 1", [WEST])[0]
    cases = [
        (resolve_actor(store, "rep"), [west_lead], west_rep, "why", AccessDenied, "may not assign leads"),
        (ANALYST, [west_lead], west_rep, "why", AccessDenied, "may not assign leads"),
        (manager, [east_lead], west_rep, "why", AssignmentError, f"lead {east_lead} is not in your book"),
        (manager, [west_lead], east_rep, "why", AccessDenied, "is not on your team"),
        (manager, [west_lead], inactive, "why", AssignmentError, "is inactive"),
        (manager, [west_lead], west_rep, "   ", AssignmentError, "Say why"),
        (manager, [west_lead, closed], west_rep, "why", AssignmentError, f"lead {closed} is closed"),
        (manager, [], west_rep, "why", AssignmentError, "at least one lead"),
        (ADMIN, [west_lead], 999, "why", AssignmentError, "no rep 999"),
    ]
    for actor, leads, rep, reason, error, message in cases:
        with pytest.raises(error, match=message):
            assignment.assign_to(store, actor, leads, rep, reason, NOW)
    assert _rows(store, "SELECT count(*) FROM lead_assignments") == [(0,)]
    assert _rows(store, "SELECT count(*) FROM audit_log WHERE action = 'assign'") == [(0,)]


def test_an_admin_assigns_across_teams_and_is_warned_of_a_full_rep(store: Store) -> None:
    east_lead = _open_lead_of(store, NORTHEAST)
    west_rep = min(_team_reps(store, WEST))
    assignment.set_rep_routing(store, ADMIN, west_rep, None, None, 1, "mon,tue,wed,thu,fri", [], NOW)
    preview = assignment.preview_assign_to(store, ADMIN, [east_lead], west_rep, SATURDAY)
    assert preview["over_capacity"] and any("over their capacity of 1" in w for w in preview["warnings"])
    assert any("does not work on sat" in w for w in preview["warnings"])
    assert assignment.assign_to(store, ADMIN, [east_lead], west_rep, "merchant asked", NOW)["assigned"] == 1


# ---------------------------------------------------------------- routing data


def test_routing_data_is_saved_trimmed_with_its_territories_and_audited(store: Store) -> None:
    manager = resolve_actor(store, "manager")
    rep = min(_team_reps(store, WEST))
    saved = assignment.set_rep_routing(store, manager, rep, [" Retail ", "retail", "grocery", ""], ["ES", " en"], 40,
                                       ["Fri", "mon", "tue"], [14, 11], NOW)
    assert saved["verticals"] == "Retail,grocery" and saved["languages"] == "es,en"
    assert saved["working_days"] == "mon,tue,fri" and saved["territory_ids"] == [11, 14]
    assert _rows(store, "SELECT verticals, languages, max_open_leads, working_days FROM reps WHERE id = ?", [rep]) == \
        [("Retail,grocery", "es,en", 40, "mon,tue,fri")]
    assert _rows(store, "SELECT territory_id FROM rep_territories WHERE rep_id = ? ORDER BY 1", [rep]) == [(11,), (14,)]
    assert _rows(store, "SELECT actor, action, entity, entity_id FROM audit_log WHERE entity = 'rep_routing'") == \
        [("manager", "update", "rep_routing", str(rep))]


def test_bad_routing_data_is_refused_naming_every_problem(store: Store) -> None:
    rep = min(_team_reps(store, WEST))
    before = _rows(store, "SELECT verticals, languages, max_open_leads, working_days FROM reps WHERE id = ?", [rep])
    with pytest.raises(AssignmentError) as err:
        assignment.set_rep_routing(store, ADMIN, rep, ["retail"], ["en"], 2000, ["mon", "funday"], [1, 99], NOW)
    text = str(err.value)
    assert "from 0 to 1000" in text and "'funday' is not a day" in text
    assert "no territory 99" in text and "New England is outside the rep's region" in text
    assert _rows(store, "SELECT verticals, languages, max_open_leads, working_days FROM reps WHERE id = ?",
                 [rep]) == before


def test_a_manager_edits_their_own_teams_reps_only(store: Store) -> None:
    with pytest.raises(AccessDenied, match="not on your team"):
        assignment.set_rep_routing(store, resolve_actor(store, "manager"), min(_team_reps(store, NORTHEAST)), [], [],
                                   None, "mon", [], NOW)
    with pytest.raises(AccessDenied):
        assignment.set_rep_routing(store, resolve_actor(store, "rep"), min(_team_reps(store, WEST)), [], [], None,
                                   "mon", [], NOW)


# ---------------------------------------------------------------- the map


def test_the_map_shows_a_manager_their_region_and_an_admin_every_city(store: Store) -> None:
    everything = assignment.territory_map(store, ADMIN)
    assert everything.columns[:7] == ["city", "lat", "lon", "territory", "region", "open_leads", "reps_covering"]
    assert everything.height == _rows(store, "SELECT count(*) FROM cities")[0][0]
    mine = assignment.territory_map(store, resolve_actor(store, "manager"))
    assert set(mine["region"]) == {"West"}
    seattle = mine.filter(pl.col("city") == "Seattle, WA").row(0, named=True)
    expected_open = _rows(store, "SELECT count(*) FROM leads WHERE city = 'Seattle, WA' AND status IN "
                          "('new', 'mql', 'sql', 'opportunity')")[0][0]
    covering = _rows(store, "SELECT count(*) FROM rep_territories rt JOIN reps r ON r.id = rt.rep_id "
                     "WHERE rt.territory_id = 13 AND r.active")[0][0]
    assert (seattle["territory"], seattle["open_leads"], seattle["reps_covering"]) == \
        ("Pacific Northwest", expected_open, covering)


# ---------------------------------------------------------------- fairness


def test_fairness_counts_the_periods_assignments_and_their_quality_against_the_weights(store: Store) -> None:
    _setup(store, NORTHEAST)
    ids = _new_leads(store, 20, city="Boston, MA")
    tomorrow = NOW + timedelta(days=1)  # a day without history: only this run's assignments count
    out = _assign(store, now=tomorrow)
    with store.write() as con:  # scores as the scoring job would leave them: every other lead in the high band
        con.execute("INSERT INTO lead_scores (lead_id, band, scored_by, scored_at, score) "
                    "SELECT id, CASE WHEN id % 2 = 0 THEN 'high' ELSE 'low' END, 'model', ?, "
                    "CASE WHEN id % 2 = 0 THEN 80.0 ELSE 20.0 END FROM leads WHERE id IN (SELECT unnest(?))",
                    [NOW, ids])
    table = assignment.fairness(store, ADMIN, tomorrow.date(), tomorrow.date(), team_id=NORTHEAST)
    got = dict(out.group_by("rep_id").len().iter_rows())
    assert dict(zip(table["rep_id"], table["assigned"], strict=True)) == {r: got.get(r, 0) for r in table["rep_id"]}
    assert table["expected_share"].sum() == pytest.approx(1.0)
    assert table["actual_share"].sum() == pytest.approx(1.0)
    for row in table.filter(pl.col("assigned") > 0).iter_rows(named=True):
        mine = [i for i, r in zip(out["lead_id"], out["rep_id"], strict=True) if r == row["rep_id"]]
        high = [i for i in mine if i % 2 == 0]
        assert row["high_band_share"] == pytest.approx(len(high) / len(mine))
        assert row["mean_score"] == pytest.approx((80 * len(high) + 20 * (len(mine) - len(high))) / len(mine))
        assert row["share_gap"] == pytest.approx(row["actual_share"] - row["expected_share"])


def test_fairness_reads_history_without_records_from_the_leads_and_is_scoped(store: Store) -> None:
    start = date(2026, 4, 1)
    history = assignment.fairness(store, ADMIN, start, NOW.date())
    expected = dict(_rows(store, "SELECT owner_id, count(*) FROM leads WHERE assigned_at >= ? AND assigned_at < ? "
                          "GROUP BY 1", [start, NOW.date() + timedelta(days=1)]))
    assert {r: a for r, a in zip(history["rep_id"], history["assigned"], strict=True) if a} == expected
    assert history["mean_score"].null_count() == history.height  # nothing scored yet: unknown, not zero
    mine = assignment.fairness(store, resolve_actor(store, "manager"), start, NOW.date())
    assert set(mine["team"]) == {"West Alpha"}
    rep = resolve_actor(store, "rep")
    assert assignment.fairness(store, rep, start, NOW.date())["rep_id"].to_list() == [rep.rep_id]
    with pytest.raises(AccessDenied):
        assignment.fairness(store, resolve_actor(store, "manager"), start, NOW.date(), team_id=NORTHEAST)
