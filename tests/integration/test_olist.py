"""The Olist marketing funnel end to end: imported with the preset into an empty store, its real figures.

The expected figures are computed from the CSV files themselves (polars, no store), so an import or a
query that drops, doubles or misattributes a row fails here. The committed sample (tests/fixtures/olist,
400 leads, 100 won) always runs; the full files (8,000 leads, 842 won) run when ../shared/data has them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from flashdash import access, executive, filters, funnel, predictive, scoreboard
from flashdash.filters import ALL_DATA, Filters
from flashdash.store import Store
from tests.conftest import NOW, OLIST_FULL, OLIST_SAMPLE

TODAY = NOW.date()


def source(directory: Path) -> pl.DataFrame:
    """Every lead of the two files: its channel ('(none)' when empty), whether it closed, and its deal."""
    mqls = pl.read_csv(directory / "olist_marketing_qualified_leads_dataset.csv", infer_schema_length=0)
    deals = pl.read_csv(directory / "olist_closed_deals_dataset.csv", infer_schema_length=0)
    deals = deals.select("mql_id", "sdr_id", "sr_id",
                         revenue=pl.col("declared_monthly_revenue").cast(pl.Float64).fill_null(0.0) * 12)
    return mqls.join(deals, on="mql_id", how="left").with_columns(
        channel=pl.col("origin").fill_null("(none)"), won=pl.col("sdr_id").is_not_null())


def by_channel(leads: pl.DataFrame) -> dict[str, tuple[int, int]]:
    rows = leads.group_by("channel").agg(pl.len(), pl.col("won").sum())
    return {c: (n, w) for c, n, w in rows.iter_rows()}


def all_data(store: Store) -> Filters:
    """The period a page starts on for this store: the default preset, which for Olist is all the data."""
    span = filters.data_span(store)
    return filters.default_filters(TODAY, span)


def admin(store: Store) -> access.Actor:
    return access.resolve_actor(store, "admin")


def counts(store: Store) -> dict[str, int]:
    with store.read() as con:
        row = con.execute("""
            SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM leads WHERE status = 'won'),
                   (SELECT count(*) FROM reps WHERE title <> 'manager'),
                   (SELECT count(*) FROM reps WHERE title = 'sdr'), (SELECT count(*) FROM reps WHERE title = 'closer'),
                   (SELECT count(*) FROM opportunities WHERE won), (SELECT count(*) FROM opportunities),
                   (SELECT count(*) FROM customers)""").fetchone()
    return dict(zip(("leads", "won", "reps", "sdrs", "closers", "won_deals", "deals", "customers"), row, strict=True))


def external_ids(store: Store) -> dict[int, str]:
    with store.read() as con:
        return dict(con.execute("SELECT id, external_id FROM reps WHERE external_id IS NOT NULL").fetchall())


# ---------------------------------------------------------------- the committed sample


def test_the_sample_imports_with_exact_counts(olist_sample_store: Store) -> None:
    leads = source(OLIST_SAMPLE)
    assert leads.height == 400 and leads["won"].sum() == 100
    sdrs, closers = set(leads["sdr_id"].drop_nulls()), set(leads["sr_id"].drop_nulls())
    assert counts(olist_sample_store) == {
        "leads": 400, "won": 100, "reps": len(sdrs | closers), "sdrs": len(sdrs), "closers": len(closers - sdrs),
        "won_deals": 100, "deals": 100, "customers": 100}
    assert (len(sdrs), len(closers), len(sdrs & closers)) == (20, 19, 8)


def test_the_period_starts_on_all_the_data_and_says_why(olist_sample_store: Store) -> None:
    span = filters.data_span(olist_sample_store)
    assert (span.first, span.last_submitted) == (date(2017, 6, 14), date(2018, 5, 31))
    assert span.last == date(2018, 11, 14)  # the last win: the won revenue of late deals stays in the period
    assert filters.default_preset(TODAY, span) == ALL_DATA
    assert all_data(olist_sample_store) == Filters(start=date(2017, 6, 14), end=date(2018, 11, 14))
    note = filters.fallback_note(TODAY, span)
    assert "May 31, 2018" in note and "all the data" in note


def test_the_executive_figures_are_the_files_figures(olist_sample_store: Store) -> None:
    data = executive.summary(olist_sample_store, admin(olist_sample_store), all_data(olist_sample_store), TODAY)
    kpis = dict(data["kpis"].select("key", "current").iter_rows())
    assert kpis["submissions"] == 400
    assert kpis["conversion"] == pytest.approx(100 / 400)
    assert kpis["active_customers"] == 100
    assert kpis["median_response_hours"] is None  # Olist records no first responses: none, not 0
    revenue = source(OLIST_SAMPLE)["revenue"].sum()
    assert kpis["won_revenue"] == pytest.approx(revenue)


def test_conversion_by_channel_matches_the_files(olist_sample_store: Store) -> None:
    expected = by_channel(source(OLIST_SAMPLE))
    data = funnel.funnel(olist_sample_store, admin(olist_sample_store), all_data(olist_sample_store), "channel")
    got = {r["segment"]: (r["leads"], r["New → Won"]) for r in data["segments"].iter_rows(named=True)}
    assert set(got) == set(expected) and "(none)" in got
    for channel, (n, won) in expected.items():
        assert got[channel][0] == n
        assert got[channel][1] == pytest.approx(won / n), channel
    assert (data["leads"], data["stages"]["reached"][-1]) == (400, 100)


def test_the_sdr_scoreboard_ranks_sdrs_on_the_leads_they_own(olist_sample_store: Store) -> None:
    data = scoreboard.board(olist_sample_store, admin(olist_sample_store), all_data(olist_sample_store))
    assert scoreboard.views(data["reps"]) == ["all", "sdr", "closer"]
    sdr = scoreboard.view(data, "sdr")
    ids = external_ids(olist_sample_store)
    expected = source(OLIST_SAMPLE).filter("won").group_by("sdr_id").len()
    got = {ids[r]: (n, w) for r, n, w in sdr["reps"].select("rep_id", "leads", "won_leads").iter_rows()}
    assert got == {s: (n, n) for s, n in expected.iter_rows()}
    assert sdr["metrics"] == ["leads", "won_leads", "conversion"]  # no activities or responses in this data
    assert not {"won_revenue", "activities", "attainment"} & set(sdr["reps"].columns)
    assert any("only once it is won" in n for n in sdr["notes"])
    assert scoreboard.ranked(sdr["reps"], "leads")["leads"].to_list() == sorted(expected["len"], reverse=True)


def test_the_closer_scoreboard_ranks_everyone_who_closed_on_deals_and_revenue(olist_sample_store: Store) -> None:
    data = scoreboard.board(olist_sample_store, admin(olist_sample_store), all_data(olist_sample_store))
    closer = scoreboard.view(data, "closer")
    ids = external_ids(olist_sample_store)
    expected = source(OLIST_SAMPLE).filter("won").group_by("sr_id").agg(pl.len(), pl.col("revenue").sum())
    got = {ids[r]: (n, v) for r, n, v in closer["reps"].select("rep_id", "won_deals", "won_revenue").iter_rows()}
    assert set(got) == set(expected["sr_id"])  # 19: the 11 closers and the 8 SDRs who also close
    for sr_id, n, revenue in expected.iter_rows():
        assert got[sr_id][0] == n
        assert got[sr_id][1] == pytest.approx(revenue)
    assert closer["metrics"] == ["won_deals", "won_revenue"]
    assert set(closer["teams"]["team"]) == {"SDRs", "Closers"}
    assert closer["teams"]["won_deals"].sum() == 100
    top = scoreboard.ranked(closer["reps"], "won_deals").row(0, named=True)
    deals = scoreboard.rep_deals(olist_sample_store, admin(olist_sample_store), all_data(olist_sample_store),
                                 top["rep_id"])
    assert deals["total"] == top["won_deals"] == deals["deals"].height


def test_demo_logins_on_the_import_tie_the_rep_to_an_sdr_and_the_manager_to_both_teams(
        olist_sample_store: Store) -> None:
    rep = access.resolve_actor(olist_sample_store, "rep")
    manager = access.resolve_actor(olist_sample_store, "manager")
    busiest = source(OLIST_SAMPLE).filter("won").group_by("sdr_id").len().sort("len", "sdr_id",
                                                                              descending=[True, False])
    assert external_ids(olist_sample_store)[rep.rep_id] == busiest["sdr_id"][0]
    assert len(manager.scope_reps) == counts(olist_sample_store)["reps"] + 1  # every rep, and the manager
    board = scoreboard.board(olist_sample_store, manager, all_data(olist_sample_store))
    assert board["reps"]["leads"].sum() == 100  # the won leads: the only ones with an owner
    assert executive.book_note(manager, filters.recorded(olist_sample_store))
    assert executive.book_note(admin(olist_sample_store), filters.recorded(olist_sample_store)) is None


def test_the_sample_is_too_small_for_the_model_and_the_card_says_so(olist_sample_store: Store) -> None:
    card = predictive.latest_card(olist_sample_store)
    assert card["status"] == "insufficient_data"
    assert "only 400 leads" in card["reason"] and f"{predictive.MIN_LABELLED}" in card["reason"]
    assert "lacks data" in predictive.fallback_reason(card)
    scored = predictive.scores(olist_sample_store, admin(olist_sample_store), all_data(olist_sample_store), NOW)
    assert scored.height == 300 and set(scored["scored_by"]) == {"baseline rule"}  # the open (mql) leads


# ---------------------------------------------------------------- the full files (when present)


def test_the_full_funnel_has_8000_submissions_842_won_and_10_5_percent_conversion(olist_full_store: Store) -> None:
    leads = source(OLIST_FULL)
    assert counts(olist_full_store) == {"leads": 8000, "won": 842, "reps": 41, "sdrs": 32, "closers": 9,
                                        "won_deals": 842, "deals": 842, "customers": 842}
    data = executive.summary(olist_full_store, admin(olist_full_store), all_data(olist_full_store), TODAY)
    kpis = dict(data["kpis"].select("key", "current").iter_rows())
    assert (kpis["submissions"], round(kpis["conversion"] * 8000)) == (8000, 842)
    assert f"{kpis['conversion']:.1%}" == "10.5%"
    got = funnel.funnel(olist_full_store, admin(olist_full_store), all_data(olist_full_store), "channel")["segments"]
    got = {r["segment"]: (r["leads"], r["New → Won"]) for r in got.iter_rows(named=True)}
    for channel, (n, won) in by_channel(leads).items():
        assert got[channel][0] == n and got[channel][1] == pytest.approx(won / n), channel


def test_the_full_scoreboards_have_32_sdrs_and_22_closers(olist_full_store: Store) -> None:
    data = scoreboard.board(olist_full_store, admin(olist_full_store), all_data(olist_full_store))
    sdr, closer = scoreboard.view(data, "sdr"), scoreboard.view(data, "closer")
    assert (sdr["reps"].height, sdr["reps"]["leads"].sum()) == (32, 842)
    assert (closer["reps"].height, closer["reps"]["won_deals"].sum()) == (22, 842)


def test_the_model_trains_on_the_full_funnel_and_beats_its_baseline_out_of_time(olist_full_store: Store) -> None:
    card = predictive.latest_card(olist_full_store)
    assert card["status"] == "ok", card.get("reason")
    assert (card["train"]["n"], card["test"]["n"]) == (6000, 2000)
    assert card["test"]["start"] > card["train"]["end"]  # out of time: tested on the latest quarter
    model, baseline = card["metrics"]["auc"], card["baseline_metrics"]["auc"]
    assert 0.5 < baseline < model and card["beats_baseline"]
    # what it learns from: the landing page and the channel; everything else is constant in this data
    assert [r["label"] for r in card["importance"]] == ["landing page", "channel"]
    assert "interest level" in card["constant_features"] and "calls in week 1" in card["constant_features"]
    print(f"Olist out-of-time AUC {model:.3f} vs baseline {baseline:.3f}")
