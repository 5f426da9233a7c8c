"""The funnel against the XS demo store: stage counts agree with plain SQL over lead_stage_changes."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from flashdash import access, funnel
from flashdash.filters import Filters
from flashdash.store import Store

PERIOD = Filters(start=date(2026, 1, 1), end=date(2026, 6, 30))


def _count(store: Store, sql: str, *params) -> int:
    with store.read() as con:
        return con.execute(sql, list(params)).fetchone()[0]


@pytest.mark.parametrize("dimension", list(funnel.DIMENSIONS))
def test_stage_counts_never_grow_down_the_funnel(demo_store: Store, dimension: str) -> None:
    data = funnel.funnel(demo_store, access.resolve_actor(demo_store, "admin"), PERIOD, dimension)
    reached = data["stages"]["reached"].to_list()
    assert reached[0] > reached[-1] > 0
    assert all(a >= b for a, b in zip(reached, reached[1:], strict=False))
    per_segment = data["steps"].filter(pl.col("step") == "New → Won")["leads"].sum()
    assert per_segment == data["leads"] == reached[0]


def test_counts_match_plain_sql_over_the_stage_changes(demo_store: Store) -> None:
    data = funnel.funnel(demo_store, access.resolve_actor(demo_store, "admin"), PERIOD)
    stages = dict(data["stages"].select("stage", "reached").iter_rows())
    in_period = "FROM leads l WHERE l.submitted_at >= ? AND l.submitted_at < ?::DATE + 1"
    args = (PERIOD.start, PERIOD.end)
    won = _count(demo_store, f"SELECT count(*) {in_period} AND EXISTS (SELECT 1 FROM lead_stage_changes c "  # noqa: S608
                             "WHERE c.lead_id = l.id AND c.to_status = 'won')", *args)
    sql_or_later = _count(demo_store, f"SELECT count(*) {in_period} AND EXISTS (SELECT 1 FROM lead_stage_changes c "  # noqa: S608
                                      "WHERE c.lead_id = l.id AND c.to_status IN ('sql', 'opportunity', 'won'))",
                          *args)
    lost_at_opp = _count(demo_store, f"SELECT count(*) {in_period} AND l.status = 'lost'", *args)
    assert stages["New"] == _count(demo_store, f"SELECT count(*) {in_period}", *args)  # noqa: S608
    assert won > 0 and stages["Won"] == won
    assert stages["SQL"] == sql_or_later
    assert data["stages"]["lost"].sum() == lost_at_opp


def test_a_rep_sees_the_funnel_of_their_own_leads(demo_store: Store) -> None:
    rep = access.resolve_actor(demo_store, "rep")
    data = funnel.funnel(demo_store, rep, PERIOD, "team")
    own = _count(demo_store, "SELECT count(*) FROM leads WHERE owner_id = ? AND submitted_at >= ? "
                             "AND submitted_at < ?::DATE + 1", rep.rep_id, PERIOD.start, PERIOD.end)
    assert data["leads"] == own > 0
    assert data["segments"].height == 1


def test_focusing_on_segments_adds_up_to_the_whole_funnel(demo_store: Store) -> None:
    admin = access.resolve_actor(demo_store, "admin")
    whole = funnel.funnel(demo_store, admin, PERIOD, "interest_level")
    parts = [funnel.funnel(demo_store, admin, PERIOD, "interest_level", (s,))["stages"]
             for s in whole["segments"]["segment"]]
    assert len(parts) >= 3
    assert (sum(p["reached"] for p in parts) == whole["stages"]["reached"]).all()
    hot = funnel.funnel(demo_store, admin, PERIOD, "interest_level", ("hot",))
    assert hot["stages"]["median_days_in_stage"][0] is not None


def test_median_time_in_stage_agrees_with_plain_sql(demo_store: Store) -> None:
    data = funnel.funnel(demo_store, access.resolve_actor(demo_store, "admin"), PERIOD)
    days = dict(data["stages"].select("stage", "median_days_in_stage").iter_rows())
    sql_median = _count(demo_store, """
        WITH s AS (SELECT c.to_status, epoch(lead(c.changed_at) OVER (PARTITION BY c.lead_id
                          ORDER BY c.changed_at, c.id) - c.changed_at) / 86400 AS d
                   FROM lead_stage_changes c JOIN leads l ON l.id = c.lead_id
                   WHERE l.submitted_at >= ? AND l.submitted_at < ?::DATE + 1)
        SELECT median(d) FROM s WHERE to_status = 'mql' AND d IS NOT NULL""", PERIOD.start, PERIOD.end)
    assert days["MQL"] == pytest.approx(sql_median, abs=1 / 1440)
    assert days["Won"] is None


def test_an_unknown_dimension_is_refused(demo_store: Store) -> None:
    with pytest.raises(ValueError, match="unknown segment dimension"):
        funnel.funnel(demo_store, access.resolve_actor(demo_store, "admin"), PERIOD, "colour")
