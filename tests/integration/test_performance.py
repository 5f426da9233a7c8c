"""Performance analytics on the XS demo: productivity counts against the store, the activity-to-close model,
benchmarks saved by a manager (validated, audited) and coaching backed by evidence."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

from flashdash import performance
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.filters import Filters
from flashdash.performance import PerformanceError
from flashdash.store import Store
from tests.conftest import NOW

ADMIN = Actor("admin", "Ada", "admin")
QUARTER = Filters(start=date(2026, 4, 1), end=date(2026, 6, 30))


def test_a_reps_productivity_counts_what_the_store_holds_over_their_working_days(demo_store: Store) -> None:
    rep = resolve_actor(demo_store, "rep")
    mine = performance.productivity(demo_store, rep, QUARTER)
    assert mine["rep_id"].to_list() == [rep.rep_id]
    row = mine.row(0, named=True)
    with demo_store.read() as con:
        calls, meetings = con.execute(
            "SELECT count(*) FILTER (WHERE type = 'call'), count(*) FILTER (WHERE type = 'meeting') FROM activities "
            "WHERE rep_id = ? AND occurred_at >= ? AND occurred_at < ?",
            [rep.rep_id, QUARTER.start, QUARTER.end + timedelta(days=1)]).fetchone()
        (start,) = con.execute("SELECT start_date FROM reps WHERE id = ?", [rep.rep_id]).fetchone()
    weekdays = int(np.busday_count(max(QUARTER.start, start), QUARTER.end + timedelta(days=1)))
    assert (row["calls"], row["meetings_booked"], row["working_days"]) == (calls, meetings, weekdays)
    assert row["calls_per_day"] == pytest.approx(calls / weekdays)
    assert row["meetings_per_week"] == pytest.approx(5 * meetings / weekdays)
    assert row["median_response_hours"] > 0


@pytest.fixture(scope="module")
def closes(demo_store: Store) -> dict[str, Any]:
    return performance.activity_to_close(demo_store, ADMIN, NOW)


def test_the_activities_before_a_close_are_weighed_for_leads_of_similar_quality(demo_store: Store,
                                                                                closes: dict[str, Any]) -> None:
    with demo_store.read() as con:
        closed, won = con.execute("SELECT count(*), count(*) FILTER (WHERE won) FROM opportunities "
                                  "WHERE closed_at <= ?", [NOW]).fetchone()
    frame = closes["frame"]
    assert (closes["n"], closes["won"]) == (closed, won) and (frame["n"] == closed).all()
    assert frame["column"].to_list() == [f.column for f in performance.FACTORS]
    assert ((frame["ci_low"] < frame["odds_ratio"]) & (frame["odds_ratio"] < frame["ci_high"])).all()
    # the demo books more meetings and demos with the merchants who go on to sign
    meetings = frame.filter(pl.col("column") == "meetings_30d").row(0, named=True)
    assert meetings["verdict"] == "associated with winning" and meetings["mean_won"] > meetings["mean_lost"]
    assert "cause" not in " ".join(frame["wording"]).lower() and "association" in closes["note"]


def test_a_manager_saves_benchmarks_that_are_audited_and_used(demo_copy: Store) -> None:
    manager = resolve_actor(demo_copy, "manager")
    saved = performance.save_benchmarks(demo_copy, manager, {"calls_per_day": 4, "median_response_hours": "1.5"}, NOW)
    assert saved["calls_per_day"] == 4.0 and saved["median_response_hours"] == 1.5 and saved["emails_per_day"] == 6.0
    table = performance.benchmarks(demo_copy, manager)
    assert table.filter(pl.col("saved"))["metric"].to_list() == ["calls_per_day", "median_response_hours"]
    with demo_copy.read() as con:
        ((actor, before, after),) = con.execute(
            "SELECT actor, before, after FROM audit_log WHERE entity_id = 'performance_benchmarks'").fetchall()
    assert actor == "manager" and '"calls_per_day": 4.0' in after and '"calls_per_day": null' in before
    rows = performance.benchmarking(demo_copy, manager, QUARTER)
    calls = rows.filter(pl.col("metric") == "calls_per_day")
    assert (calls["benchmark"] == 4.0).all()
    assert (calls["meets"] == (calls["value"] >= 4.0)).all()
    assert set(rows.filter(pl.col("level") == "rep")["rep_id"]) <= set(manager.scope_reps or ())


def test_benchmarks_that_cannot_be_used_are_refused_with_every_problem_named_and_nothing_saved(
        demo_copy: Store) -> None:
    admin = resolve_actor(demo_copy, "admin")
    with pytest.raises(PerformanceError) as err:
        performance.save_benchmarks(demo_copy, admin, {"calls_per_day": -1, "emails_per_day": "lots",
                                                       "naps_per_day": 2, "meetings_per_week": 3}, NOW)
    text = str(err.value)
    assert "Calls per working day must be above 0" in text and "'lots'" in text and "'naps_per_day'" in text
    assert not performance.benchmarks(demo_copy, admin)["saved"].any()
    with pytest.raises(AccessDenied):
        performance.save_benchmarks(demo_copy, resolve_actor(demo_copy, "rep"), {"calls_per_day": 9}, NOW)


def test_coaching_gives_each_rep_at_most_three_recommendations_each_backed_by_evidence(demo_store: Store) -> None:
    out = performance.coaching(demo_store, ADMIN, QUARTER, NOW)
    recs = out["recommendations"]
    assert not recs.is_empty()
    assert recs.group_by("rep_id").len()["len"].max() <= performance.MAX_RECOMMENDATIONS
    assert (recs["ci_low"] > 1).all() and (recs["gap"] > 0).all() and recs["n"].min() >= performance.MIN_REP_DAYS
    assert (recs["reps_compared"] >= performance.MIN_REPS).all()
    for r in recs.iter_rows(named=True):
        better = r["value"] < r["top_quartile"] if performance.METRIC_BY_KEY[r["metric"]].higher_is_better \
            else r["value"] > r["top_quartile"]
        assert better and f"{r['top_quartile']:.1f}" in r["recommendation"]
    reps = out["reps"]
    assert (reps.filter(pl.col("recommendations") == 0)["why_none"].is_not_null()).all()


def test_a_manager_is_coached_on_their_team_alone_against_every_teams_top_quarter(demo_store: Store) -> None:
    manager = resolve_actor(demo_store, "manager")
    out = performance.coaching(demo_store, manager, QUARTER, NOW)
    assert set(out["reps"]["rep_id"]) <= set(manager.scope_reps or ()) and out["reps"].height > 0
    assert set(out["recommendations"]["rep_id"]) <= set(manager.scope_reps or ())
