"""The smart-filtered lead list and saved views on a real store: scope, masking, filters, sharing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from flashdash import views as v
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.qualification import STAGES
from flashdash.store import Store, copy_file
from flashdash.views import LeadFilter, ViewError
from tests import stored
from tests.conftest import NOW

ROLES = ("rep", "manager", "analyst", "executive", "admin")


@pytest.fixture(scope="module")
def scored(demo_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A read-only copy of the XS demo store whose leads have scores in every band (and some none)."""
    copy = tmp_path_factory.mktemp("views") / "store.duckdb"
    copy_file(demo_store.path, copy)
    store = Store(copy)
    with store.write() as con:
        con.execute("INSERT INTO lead_scores (lead_id, probability, band, scored_by, scored_at, score) "
                    "SELECT id, (id % 100) / 100.0, ['low', 'medium', 'high'][id % 3 + 1], 'model', ?, id % 100 "
                    "FROM leads WHERE id % 7 <> 0", [NOW])
    return store


@pytest.fixture
def store(scored: Store, tmp_path: Path) -> Store:
    """A copy of the scored store that the test may change."""
    copy = tmp_path / "store.duckdb"
    copy_file(scored.path, copy)
    return Store(copy)


def _sql(store: Store, query: str, params: list | None = None) -> list[tuple]:
    return stored.rows(store, query, params, write=True)


def _all(store: Store, actor: Actor, flt: LeadFilter | None = None, **kw) -> pl.DataFrame:
    return v.lead_list(store, actor, flt or LeadFilter(), NOW, limit=None, **kw)


def _admin() -> Actor:
    return Actor("admin", "Ada Admin", "admin")


def _add_user(store: Store, username: str, role: str, rep_id: int | None) -> Actor:
    _sql(store, "INSERT INTO users (id, username, name, password_hash, role, rep_id, active, must_change_password, "
         "created_at) VALUES (nextval('users_id_seq'), ?, ?, 'x', ?, ?, true, false, ?)",
         [username, username.title(), role, rep_id, NOW])
    return resolve_actor(store, username)


# ---------------------------------------------------------------- scope and masking


@pytest.mark.parametrize("role", ROLES)
def test_every_roles_lead_list_shows_only_its_rows_with_contacts_masked_where_due(scored, role) -> None:
    actor = resolve_actor(scored, role)
    rows = _all(scored, actor)
    with scored.read() as con:
        owners = con.sql("SELECT id, owner_id, email FROM leads WHERE submitted_at <= ?", params=[NOW]).pl()
    if actor.scope_reps is None:
        expected = owners
    else:
        expected = owners.filter(pl.col("owner_id").is_in(list(actor.scope_reps)))
    assert 0 < rows.height == expected.height and set(rows["id"]) == set(expected["id"])
    assert v.lead_count(scored, actor, LeadFilter(), NOW) == rows.height
    assert rows.columns == list(v.LIST_COLUMNS)
    masked = role in ("analyst", "executive")
    assert (set(rows["email"].drop_nulls()) == {"•••"}) is masked
    assert (set(rows["contact_name"].drop_nulls()) == {"•••"}) is masked
    assert (rows["merchant_name"] != "•••").all()


def test_analysts_cannot_find_a_lead_by_its_contact_but_admins_can(scored) -> None:
    email, merchant = _sql(scored, "SELECT email, merchant_name FROM leads WHERE email IS NOT NULL ORDER BY id "
                                   "LIMIT 1")[0]
    by_email = LeadFilter(search=email.upper())
    assert email in _all(scored, _admin(), by_email)["email"].to_list()
    assert v.lead_count(scored, resolve_actor(scored, "analyst"), by_email, NOW) == 0
    assert v.lead_count(scored, resolve_actor(scored, "analyst"), LeadFilter(search=merchant), NOW) >= 1


def test_a_manager_sees_the_unassigned_leads_of_their_teams_region_and_reps_do_not(store) -> None:
    manager = resolve_actor(store, "manager")
    (region,) = _sql(store, "SELECT region_id FROM teams WHERE manager_id = ?", [manager.rep_id])[0]
    ours, theirs = (r[0] for r in _sql(store, "SELECT id FROM leads WHERE status = 'new' ORDER BY id LIMIT 2"))
    _sql(store, "UPDATE leads SET owner_id = NULL, region_id = ? WHERE id = ?", [region, ours])
    _sql(store, "UPDATE leads SET owner_id = NULL, region_id = ? WHERE id = ?", [region + 100, theirs])
    unassigned = LeadFilter(unassigned_only=True)
    assert _all(store, manager, unassigned)["id"].to_list() == [ours]
    assert set(_all(store, _admin(), unassigned)["id"]) == {ours, theirs}
    assert v.lead_count(store, resolve_actor(store, "rep"), unassigned, NOW) == 0


# ---------------------------------------------------------------- filters


def test_each_filter_keeps_exactly_the_rows_it_describes(scored) -> None:
    admin = _admin()
    every = _all(scored, admin)
    vertical, channel = every["vertical"].drop_nulls()[0], every["channel"].drop_nulls()[0]
    owner, team = every["owner_id"].drop_nulls()[0], every["team"].drop_nulls()[0]
    (team_id,) = _sql(scored, "SELECT id FROM teams WHERE name = ?", [team])[0]
    cases = [
        (LeadFilter(stages=("new", "mql")), pl.col("status").is_in(["new", "mql"])),
        (LeadFilter(bands=("high", "unscored")), pl.col("band").is_in(["high", "unscored"])),
        (LeadFilter(score_min=40, score_max=60), pl.col("score").is_between(40, 60)),
        (LeadFilter(age_min_days=30, age_max_days=90), pl.col("age_days").is_between(30, 90)),
        (LeadFilter(owners=(owner,)), pl.col("owner_id") == owner),
        (LeadFilter(teams=(team_id,)), pl.col("team") == team),
        (LeadFilter(verticals=(vertical,), channels=(channel,)),
         (pl.col("vertical") == vertical) & (pl.col("channel") == channel)),
        (LeadFilter(in_stage_over_days=14, stages=STAGES),
         (pl.col("days_in_stage") > 14) & pl.col("status").is_in(STAGES)),
        (LeadFilter(unworked_only=True), pl.col("last_activity_at").is_null()),
    ]
    for flt, keep in cases:
        got = _all(scored, admin, flt)
        expected = every.filter(keep)
        assert 0 < got.height < every.height, flt
        assert set(got["id"]) == set(expected["id"]), flt
        assert v.lead_count(scored, admin, flt, NOW) == expected.height


def test_unscored_leads_have_no_score_and_scored_ones_keep_their_band(scored) -> None:
    rows = _all(scored, _admin())
    assert rows.filter(pl.col("id") % 7 == 0)["band"].unique().to_list() == ["unscored"]
    assert rows.filter(pl.col("band") == "unscored")["score"].null_count() == rows.filter(
        pl.col("band") == "unscored").height
    assert set(rows.filter(pl.col("id") % 7 != 0)["band"]) == {"low", "medium", "high"}


def test_the_list_is_sorted_as_asked_and_cut_at_the_limit(scored) -> None:
    admin = _admin()
    by_score = v.lead_list(scored, admin, LeadFilter(), NOW, limit=50, sort="score")
    assert by_score.height == 50 and by_score["score"].to_list() == sorted(by_score["score"], reverse=True)
    newest = v.lead_list(scored, admin, LeadFilter(), NOW, limit=20)
    assert newest["submitted_at"].to_list() == sorted(newest["submitted_at"], reverse=True)
    stale = v.lead_list(scored, admin, LeadFilter(stages=STAGES), NOW, limit=20, sort="stale")
    assert stale["days_in_stage"].to_list() == sorted(stale["days_in_stage"], reverse=True)
    with pytest.raises(ViewError, match="Unknown sort"):
        v.lead_list(scored, admin, LeadFilter(), NOW, sort="random")
    with pytest.raises(ViewError, match="between 1 and"):
        v.lead_list(scored, admin, LeadFilter(), NOW, limit=0)


def test_age_and_days_in_stage_are_measured_to_the_given_now(scored) -> None:
    row = v.lead_list(scored, _admin(), LeadFilter(), NOW, limit=1).row(0, named=True)
    later = v.lead_list(scored, _admin(), LeadFilter(search=row["merchant_name"]), NOW + timedelta(days=2),
                        limit=None).filter(pl.col("id") == row["id"]).row(0, named=True)
    assert later["age_days"] == pytest.approx(row["age_days"] + 2)
    assert later["days_in_stage"] == pytest.approx(row["days_in_stage"] + 2)


# ---------------------------------------------------------------- built-in views


def test_built_in_views_fit_each_role(scored) -> None:
    names = {role: v.views(scored, resolve_actor(scored, role)).filter("builtin")["name"].to_list() for role in ROLES}
    assert names["rep"] == ["My open leads", "Hot and unworked", "Stale in stage"]
    assert names["manager"] == ["Team's open leads", "Hot and unworked", "Stale in stage", "Unassigned"]
    assert names["admin"][-1] == "Unassigned" and "Unassigned" not in names["analyst"]


def test_hot_and_unworked_lists_open_high_band_leads_without_any_activity(store) -> None:
    rep = resolve_actor(store, "rep")
    lead = _sql(store, "SELECT id FROM leads WHERE owner_id = ? AND status = 'new' ORDER BY id LIMIT 1",
                [rep.rep_id])[0][0]
    _sql(store, "DELETE FROM activities WHERE lead_id = ?", [lead])
    _sql(store, "UPDATE lead_scores SET band = 'high' WHERE lead_id = ?", [lead])
    hot = _all(store, rep, v.view_filter(store, rep, "builtin:hot_unworked"))
    assert lead in hot["id"].to_list()
    assert set(hot["band"]) == {"high"} and hot["last_activity_at"].null_count() == hot.height
    assert set(hot["status"]) <= set(STAGES) and set(hot["owner_id"]) == {rep.rep_id}
    _sql(store, "INSERT INTO activities (id, lead_id, type, occurred_at) VALUES (nextval('activities_id_seq'), ?, "
         "'call', ?)", [lead, NOW - timedelta(hours=1)])
    assert lead not in _all(store, rep, v.view_filter(store, rep, "builtin:hot_unworked"))["id"].to_list()


# ---------------------------------------------------------------- saved views


def test_a_saved_view_round_trips_its_filter_and_is_audited(store) -> None:
    rep = resolve_actor(store, "rep")
    flt = LeadFilter(stages=("mql",), bands=("high",), score_min=50, search="taco")
    view_id = v.save_view(store, rep, "  Hot MQL tacos ", flt, False, NOW)
    mine = v.views(store, rep).filter(~pl.col("builtin"))
    assert mine.select("key", "name", "owner", "shared").rows() == [(f"view:{view_id}", "Hot MQL tacos", "rep", False)]
    assert v.view_filter(store, rep, f"view:{view_id}") == flt
    (action, after) = _sql(store, "SELECT action, after FROM audit_log WHERE entity = 'saved_view' AND entity_id = ?",
                           [str(view_id)])[0]
    assert action == "create" and json.loads(after)["filters"]["score_min"] == 50


def test_a_view_name_is_1_to_60_characters_and_unique_for_its_owner(store) -> None:
    rep, manager = resolve_actor(store, "rep"), resolve_actor(store, "manager")
    v.save_view(store, rep, "Follow up", LeadFilter(), False, NOW)
    for bad in ("", "   ", "x" * 61):
        with pytest.raises(ViewError, match="1 to 60 characters"):
            v.save_view(store, rep, bad, LeadFilter(), False, NOW)
    with pytest.raises(ViewError, match="already have a view named"):
        v.save_view(store, rep, "FOLLOW UP", LeadFilter(), True, NOW)
    with pytest.raises(ViewError, match="built-in"):
        v.save_view(store, rep, "stale in stage", LeadFilter(), False, NOW)
    v.save_view(store, manager, "Follow up", LeadFilter(), False, NOW)  # another owner may use the name
    assert _sql(store, "SELECT count(*) FROM saved_views") == [(2,)]


def test_shared_views_reach_the_owners_team_and_admins_but_not_other_teams(store) -> None:
    rep, manager = resolve_actor(store, "rep"), resolve_actor(store, "manager")
    (other_rep,) = _sql(store, "SELECT min(r.id) FROM reps r JOIN reps me ON me.id = ? WHERE r.team_id <> me.team_id "
                        "AND r.title <> 'manager'", [rep.rep_id])[0]
    outsider = _add_user(store, "outsider", "rep", other_rep)
    (teammate_rep,) = _sql(store, "SELECT min(r.id) FROM reps r JOIN reps me ON me.id = ? WHERE r.team_id = "
                           "me.team_id AND r.id <> me.id AND r.title <> 'manager'", [rep.rep_id])[0]
    teammate = _add_user(store, "teammate", "rep", teammate_rep)
    shared = v.save_view(store, rep, "Team hot list", LeadFilter(bands=("high",)), True, NOW)
    private = v.save_view(store, rep, "My notes", LeadFilter(), False, NOW)

    def keys(actor: Actor) -> set[str]:
        return set(v.views(store, actor).filter(~pl.col("builtin"))["key"])

    assert keys(rep) == {f"view:{shared}", f"view:{private}"}
    assert keys(teammate) == keys(manager) == keys(_admin()) == {f"view:{shared}"}
    assert keys(outsider) == set()
    with pytest.raises(ViewError, match="no view"):
        v.view_filter(store, outsider, f"view:{shared}")


def test_only_the_owner_or_an_admin_deletes_a_view(store) -> None:
    rep, manager = resolve_actor(store, "rep"), resolve_actor(store, "manager")
    first = v.save_view(store, rep, "One", LeadFilter(), True, NOW)
    second = v.save_view(store, rep, "Two", LeadFilter(), True, NOW)
    with pytest.raises(AccessDenied):
        v.delete_view(store, manager, first, NOW)
    v.delete_view(store, rep, first, NOW)
    v.delete_view(store, _admin(), second, NOW)
    with pytest.raises(ViewError, match="no saved view"):
        v.delete_view(store, rep, first, NOW)
    assert _sql(store, "SELECT count(*) FROM saved_views") == [(0,)]
    assert _sql(store, "SELECT actor FROM audit_log WHERE entity = 'saved_view' AND action = 'delete' ORDER BY id"
                ) == [("rep",), ("admin",)]
