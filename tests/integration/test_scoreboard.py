"""The scoreboard against the XS demo store: totals agree with plain SQL, and each role sees its own rows."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from flashdash import access, scoreboard
from flashdash.filters import Filters
from flashdash.store import Store

PERIOD = Filters(start=date(2026, 4, 1), end=date(2026, 6, 30))


def _one(store: Store, sql: str, *params) -> float:
    with store.read() as con:
        return con.execute(sql, list(params)).fetchone()[0]


def test_totals_agree_with_plain_sql(demo_store: Store) -> None:
    admin = access.resolve_actor(demo_store, "admin")
    reps = scoreboard.board(demo_store, admin, PERIOD)["reps"]
    d0, d1 = PERIOD.start, PERIOD.end
    leads = _one(demo_store, "SELECT count(*) FROM leads WHERE owner_id IS NOT NULL "
                             "AND submitted_at >= ? AND submitted_at < ?::DATE + 1", d0, d1)
    won = _one(demo_store, "SELECT count(*) FROM leads WHERE owner_id IS NOT NULL AND status = 'won' "
                           "AND submitted_at >= ? AND submitted_at < ?::DATE + 1", d0, d1)
    acts = _one(demo_store, "SELECT count(*) FROM activities WHERE rep_id IS NOT NULL "
                            "AND occurred_at >= ? AND occurred_at < ?::DATE + 1", d0, d1)
    revenue = _one(demo_store, "SELECT sum(amount)::DOUBLE FROM opportunities WHERE won AND owner_id IS NOT NULL "
                               "AND closed_at >= ? AND closed_at < ?::DATE + 1", d0, d1)
    assert leads > 0 and acts > 0 and revenue > 0
    assert reps["leads"].sum() == leads
    assert reps["won_leads"].sum() == won
    assert reps["activities"].sum() == acts
    assert reps["won_revenue"].sum() == pytest.approx(revenue)


def test_one_reps_figures_agree_with_plain_sql(demo_store: Store) -> None:
    admin = access.resolve_actor(demo_store, "admin")
    reps = scoreboard.board(demo_store, admin, PERIOD)["reps"]
    row = reps.sort("leads", descending=True).row(0, named=True)
    median = _one(demo_store, "SELECT median(epoch(first_response_at - submitted_at)) / 3600 FROM leads "
                              "WHERE owner_id = ? AND submitted_at >= ? AND submitted_at < ?::DATE + 1",
                  row["rep_id"], PERIOD.start, PERIOD.end)
    quota = _one(demo_store, "SELECT monthly_quota FROM reps WHERE id = ?", row["rep_id"])
    assert row["median_response_hours"] == pytest.approx(median, abs=1 / 60)
    assert row["quota_target"] == pytest.approx(quota * 3)  # April to June: three whole months
    assert row["attainment"] == pytest.approx(row["won_revenue"] / (quota * 3))
    assert row["conversion"] == pytest.approx(row["won_leads"] / row["leads"])


def test_a_rep_gets_exactly_their_own_row(demo_store: Store) -> None:
    rep = access.resolve_actor(demo_store, "rep")
    data = scoreboard.board(demo_store, rep, PERIOD)
    assert data["reps"]["rep_id"].to_list() == [rep.rep_id]
    assert data["teams"]["leads"].to_list() == data["reps"]["leads"].to_list()


def test_a_manager_gets_only_their_teams_reps(demo_store: Store) -> None:
    manager = access.resolve_actor(demo_store, "manager")
    reps = scoreboard.board(demo_store, manager, PERIOD)["reps"]
    team = _one(demo_store, "SELECT id FROM teams WHERE manager_id = ?", manager.rep_id)
    everyone = scoreboard.board(demo_store, access.resolve_actor(demo_store, "admin"), PERIOD)["reps"]
    assert reps.height > 1
    assert set(reps["team_id"]) == {team}
    assert set(reps["rep_id"]) <= set(manager.scope_reps)
    assert set(reps["rep_id"]) == set(everyone.filter(pl.col("team_id") == team)["rep_id"])


def test_the_team_rows_add_up_to_the_rep_rows(demo_store: Store) -> None:
    data = scoreboard.board(demo_store, access.resolve_actor(demo_store, "executive"), PERIOD)
    teams, reps = data["teams"], data["reps"]
    assert teams.height > 1
    for col in ("leads", "activities", "won_leads"):
        assert teams[col].sum() == reps[col].sum()
    assert teams["won_revenue"].sum() == pytest.approx(reps["won_revenue"].sum())


def test_a_managers_drill_to_a_rep_outside_the_team_finds_nothing(demo_store: Store) -> None:
    manager = access.resolve_actor(demo_store, "manager")
    outsider = _one(demo_store, "SELECT min(id) FROM reps WHERE NOT list_contains(?, id)", list(manager.scope_reps))
    inside = next(r for r in manager.scope_reps if r != manager.rep_id)
    assert scoreboard.rep_leads(demo_store, manager, PERIOD, outsider)["total"] == 0
    own = scoreboard.rep_leads(demo_store, manager, PERIOD, inside)
    assert own["total"] > 0 and set(own["leads"]["email"].drop_nulls()) != {"•••"}


def test_analysts_drill_to_leads_with_contact_details_masked(demo_store: Store) -> None:
    analyst = access.resolve_actor(demo_store, "analyst")
    reps = scoreboard.board(demo_store, analyst, PERIOD)["reps"]
    leads = scoreboard.rep_leads(demo_store, analyst, PERIOD, reps.sort("leads")["rep_id"][-1])["leads"]
    assert leads.height > 0
    assert set(leads["email"].drop_nulls()) == {"•••"} and set(leads["phone"].drop_nulls()) == {"•••"}
    assert leads["merchant_name"].null_count() < leads.height
