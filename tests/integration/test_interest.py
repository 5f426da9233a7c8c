"""Interest levels on the XS demo store: counts match direct SQL, unknowns are kept, row scope holds."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from flashdash import access, interest
from flashdash.filters import Filters
from flashdash.store import Store
from tests import stored

PERIOD = Filters(start=date(2025, 7, 1), end=date(2026, 6, 30))
IN_PERIOD = "submitted_at >= DATE '2025-07-01' AND submitted_at < DATE '2026-07-01'"


def _sql(store: Store, query: str, params: list | None = None) -> list[tuple]:
    return stored.rows(store, query, params)


@pytest.fixture(scope="module")
def everything(demo_store: Store) -> dict:
    return interest.overview(demo_store, access.resolve_actor(demo_store, "analyst"), PERIOD)


def test_each_dimension_accounts_for_every_lead_of_the_period(demo_store: Store, everything) -> None:
    [(leads,)] = _sql(demo_store, f"SELECT count(*) FROM leads WHERE {IN_PERIOD}")
    assert everything["leads"] == leads > 0
    per_dim = everything["distribution"].group_by("dimension").agg(pl.col("leads").sum())
    assert dict(per_dim.iter_rows()) == {"channel": leads, "vertical": leads, "region": leads}
    shares = everything["distribution"].group_by("dimension", "segment").agg(pl.col("share").sum())
    assert shares["share"].to_list() == pytest.approx([1.0] * shares.height)


def test_leads_without_a_level_are_counted_as_unknown(demo_store: Store, everything) -> None:
    [(missing,)] = _sql(demo_store, f"SELECT count(*) FROM leads WHERE interest_level IS NULL AND {IN_PERIOD}")
    by_level = interest.focus(everything)["by_level"]
    assert dict(by_level.select("level", "leads").iter_rows())["unknown"] == missing > 0
    assert everything["level_share"]["unknown"] == pytest.approx(missing / everything["leads"])


def test_conversion_by_level_matches_direct_sql(demo_store: Store, everything) -> None:
    rows = _sql(demo_store, f"""
        SELECT coalesce(interest_level, 'unknown'), count(*), count(*) FILTER (WHERE status = 'won')
        FROM leads WHERE {IN_PERIOD} GROUP BY 1""")
    by_level = interest.focus(everything)["by_level"]
    got = {r["level"]: (r["leads"], r["won"]) for r in by_level.iter_rows(named=True)}
    assert got == {level: (n, won) for level, n, won in rows}
    assert all(r["lo"] <= r["rate"] <= r["hi"] for r in by_level.iter_rows(named=True))
    hot, cold = (by_level.filter(pl.col("level") == lv).row(0, named=True) for lv in ("hot", "cold"))
    assert hot["lo"] > cold["hi"]  # the demo data's clearest signal: hot leads convert far better


def test_the_trend_adds_up_to_the_period(everything) -> None:
    assert everything["trend"]["leads"].sum() == everything["leads"]
    assert everything["bucket"] == "month"


def test_a_rep_sees_only_their_own_leads(demo_store: Store) -> None:
    rep = access.resolve_actor(demo_store, "rep")
    data = interest.overview(demo_store, rep, PERIOD)
    [(own, won)] = _sql(demo_store, f"""SELECT count(*), count(*) FILTER (WHERE status = 'won')
                                        FROM leads WHERE owner_id = ? AND {IN_PERIOD}""", [rep.rep_id])
    assert (data["leads"], data["won"]) == (own, won)
    assert 0 < own < interest.overview(demo_store, access.resolve_actor(demo_store, "manager"), PERIOD)["leads"]


def test_the_maturity_yardstick_counts_the_past_years_wins(demo_store: Store, everything) -> None:
    [(wins, median_days)] = _sql(demo_store, """
        SELECT count(*), median(date_diff('day', submitted_at, status_changed_at)) FROM leads
        WHERE status = 'won' AND status_changed_at >= DATE '2025-07-01' AND status_changed_at < DATE '2026-07-01'""")
    assert everything["won_leads_past_year"] == wins > 0
    assert everything["median_days_to_win"] == pytest.approx(median_days)


def test_an_empty_period_has_no_leads_and_no_rates(demo_store: Store) -> None:
    data = interest.overview(demo_store, access.resolve_actor(demo_store, "manager"),
                             Filters(start=date(2019, 1, 1), end=date(2019, 1, 31)))
    assert data["leads"] == 0 and data["open_share"] is None
    view = interest.focus(data)
    assert view["by_level"]["rate"].null_count() == len(interest.LEVELS)
    assert view["by_channel"].is_empty()
