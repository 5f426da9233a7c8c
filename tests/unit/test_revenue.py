"""Revenue intelligence on tiny hand-made frames: velocity and its interval, stage durations and conversion, the
months of a trend, the interval of a target's change, and the demo's deal history drawn for a handful of deals."""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime, timedelta

import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from flashdash import demo_revenue, revenue
from flashdash.revenue import ALL, EARLY, NOT_ENOUGH, Z95

START, END = date(2026, 6, 1), date(2026, 6, 30)


def _day(d: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(d) + timedelta(hours=hour)


def _deals(rows: list[tuple]) -> pl.DataFrame:
    """(created, closed or None, won, amount) rows as a deals frame of one group."""
    return pl.DataFrame({
        "id": list(range(1, len(rows) + 1)),
        "created_at": [_day(r[0]) for r in rows],
        "closed_at": [_day(r[1]) if r[1] else None for r in rows],
        "won": [r[2] for r in rows],
        "amount": [float(r[3]) for r in rows],
    }, schema_overrides={"closed_at": pl.Datetime("us"), "created_at": pl.Datetime("us")}).with_columns(
        group=pl.lit(ALL))


WON = [("2026-05-01", "2026-06-10", True, 12_000), ("2026-05-21", "2026-06-20", True, 6_000),
       ("2026-05-27", "2026-06-06", True, 9_000), ("2026-04-12", "2026-06-11", True, 15_000),
       ("2026-05-12", "2026-06-01", True, 8_000), ("2026-06-02", "2026-06-27", True, 10_000)]
LOST = [("2026-05-01", "2026-06-03", False, 5_000), ("2026-05-05", "2026-06-08", False, 7_000),
        ("2026-05-20", "2026-06-15", False, 4_000), ("2026-06-01", "2026-06-22", False, 9_000),
        ("2026-06-03", "2026-06-30", False, 3_000)]
OPEN = [("2026-06-15", None, False, 20_000), ("2026-04-01", None, False, 1_000), ("2026-06-29", None, False, 5_000)]
OUTSIDE = [("2026-04-01", "2026-05-20", False, 2_000),  # lost before the period: neither closed in it nor open
           ("2026-07-01", None, False, 9_000)]  # created after it


def test_velocity_is_open_deals_times_win_rate_times_average_won_deal_over_average_cycle():
    row = revenue.velocity_table(_deals(WON + LOST + OPEN + OUTSIDE), START, END, ["group"]).row(0, named=True)
    cycles = [40, 30, 10, 60, 20, 25]
    per_day = 3 * (6 / 11) * (60_000 / 6) / (sum(cycles) / 6)
    assert (row["open_deals"], row["closed"], row["won"]) == (3, 11, 6)
    assert row["win_rate"] == pytest.approx(6 / 11)
    assert row["avg_won"] == pytest.approx(10_000) and row["avg_cycle_days"] == pytest.approx(185 / 6)
    assert row["velocity_per_day"] == pytest.approx(per_day)
    assert row["velocity_per_month"] == pytest.approx(per_day * 365.25 / 12)
    assert row["lo_per_month"] < row["velocity_per_month"] < row["hi_per_month"]
    assert row["few"] and row["note"].startswith(EARLY)


def test_the_velocity_interval_is_the_delta_method_on_the_log_of_the_product():
    row = revenue.velocity_table(_deals(WON + LOST + OPEN), START, END, ["group"]).row(0, named=True)
    amounts = [r[3] for r in WON]
    cycles = [40.0, 30.0, 10.0, 60.0, 20.0, 25.0]
    p, n = 6 / 11, 6
    var = ((1 - p) / (11 * p) + statistics.variance(amounts) / (n * statistics.mean(amounts) ** 2)
           + statistics.variance(cycles) / (n * statistics.mean(cycles) ** 2)
           - 2 * statistics.covariance(amounts, cycles) / (n * statistics.mean(amounts) * statistics.mean(cycles)))
    v = row["velocity_per_month"]
    assert row["lo_per_month"] == pytest.approx(v * math.exp(-Z95 * math.sqrt(var)))
    assert row["hi_per_month"] == pytest.approx(v * math.exp(Z95 * math.sqrt(var)))


def test_too_few_closed_or_won_deals_give_no_velocity_but_say_why():
    row = revenue.velocity_table(_deals(WON[:4] + LOST + OPEN), START, END, ["group"]).row(0, named=True)
    assert row["won"] == 4 and row["velocity_per_month"] is None and row["avg_won"] is None
    assert row["note"].startswith(NOT_ENOUGH) and "4 won" in row["note"]
    empty = revenue.velocity_table(_deals(WON).clear(), START, END, ["group"])
    assert empty.height == 1 and empty["closed"][0] == 0 and empty["note"][0].startswith(NOT_ENOUGH)


def _spans(rows: list[tuple[str, float, str]]) -> pl.DataFrame:
    """(stage, days in it, next stage) stays, all ending in June."""
    left = [_day("2026-06-20") for _ in rows]
    return pl.DataFrame({
        "id": list(range(1, len(rows) + 1)), "stage": [r[0] for r in rows],
        "entered_at": [t - timedelta(days=r[1]) for t, r in zip(left, rows, strict=True)], "left_at": left,
        "next_stage": [r[2] for r in rows], "group": ALL})


def test_stage_durations_are_the_median_and_75th_percentile_of_the_stays_that_ended():
    days = [1, 2, 3, 4, 5, 10]
    spans = _spans([("discovery", d, "proposal") for d in days] + [("proposal", 3, "negotiation")] * 2)
    out = revenue.stage_durations(spans, ["group"])
    assert out["stage"].to_list() == ["discovery", "proposal", "negotiation"]
    disc = out.row(0, named=True)
    assert disc["n"] == 6 and disc["median_days"] == pytest.approx(statistics.median(days))
    assert disc["p75_days"] == pytest.approx(statistics.quantiles(days, n=4, method="inclusive")[2])
    # two stays in proposal and none in negotiation: not enough to say, with the count
    assert out["median_days"][1] is None and out["n"].to_list()[1:] == [2, 0]
    assert out["note"][2].startswith(NOT_ENOUGH)


def test_conversion_counts_a_move_to_any_later_stage_and_carries_a_wilson_interval():
    spans = _spans([("discovery", 1, "proposal")] * 4 + [("discovery", 1, "negotiation")]
                   + [("discovery", 1, "closed_lost")] * 5 + [("proposal", 1, "discovery")])
    out = revenue.conversion(spans, ["group"])
    disc = out.row(0, named=True)
    assert (disc["step"], disc["n"], disc["moved"]) == ("discovery → proposal", 10, 5)
    lo, hi = proportion_confint(5, 10, alpha=0.05, method="wilson")
    assert disc["rate"] == 0.5 and disc["lo"] == pytest.approx(lo) and disc["hi"] == pytest.approx(hi)
    # a move back is not a move on; one stay is not enough for a rate
    prop = out.row(1, named=True)
    assert prop["moved"] == 0 and prop["rate"] is None and prop["note"].startswith(NOT_ENOUGH)


def test_a_trend_has_one_row_per_calendar_month_cut_to_the_period():
    assert revenue.months(date(2026, 4, 15), date(2026, 6, 10)) == [
        (date(2026, 4, 1), date(2026, 4, 15), date(2026, 4, 30)),
        (date(2026, 5, 1), date(2026, 5, 1), date(2026, 5, 31)),
        (date(2026, 6, 1), date(2026, 6, 1), date(2026, 6, 10))]
    assert revenue.months(date(2025, 12, 5), date(2026, 1, 2))[-1] == (date(2026, 1, 1), date(2026, 1, 1),
                                                                      date(2026, 1, 2))
    trend = revenue.trend(_deals(WON + LOST + OPEN), date(2026, 5, 1), END, ["group"])
    assert trend["month"].to_list() == [date(2026, 5, 1), date(2026, 6, 1)]
    assert trend["closed"].to_list() == [0, 11]


def test_the_interval_of_a_change_between_two_means_brackets_the_change_and_needs_two_deals_a_side():
    lo, hi = revenue.change_interval((13.0, 4.0, 50), (10.0, 4.0, 50))
    assert lo < 0.3 < hi
    se = math.sqrt(4 / (50 * 169) + 4 / (50 * 100))
    assert hi == pytest.approx(1.3 * math.exp(Z95 * se) - 1)
    assert revenue.change_interval((13.0, None, 1), (10.0, 4.0, 50)) == (None, None)


def test_a_split_by_anything_else_is_refused_with_the_choices():
    with pytest.raises(revenue.RevenueError, match="team, rep or vertical"):
        revenue.with_group(_deals(WON), "region")


# ---------------------------------------------------------------- the demo's deal history, drawn


def _demo_deals() -> pl.DataFrame:
    now = datetime(2026, 6, 30, 12)
    rows = [  # (stage, created days ago, closed days ago or None, won, loss reason, amount)
        ("closed_won", 80, 40, True, None, 20_000.0), ("closed_lost", 70, 30, False, "competitor", 5_000.0),
        ("closed_lost", 60, 50, False, "price", 9_000.0), ("negotiation", 40, None, None, None, 50_000.0),
        ("discovery", 2, None, None, None, 3_000.0), ("proposal", 15, None, None, None, 8_000.0),
    ] * 20
    return pl.DataFrame({
        "id": list(range(1, len(rows) + 1)), "amount": [r[5] for r in rows], "stage": [r[0] for r in rows],
        "created_at": [now - timedelta(days=r[1]) for r in rows],
        "expected_close": [(now + timedelta(days=10)).date() for _ in rows],
        "closed_at": [now - timedelta(days=r[2]) if r[2] else None for r in rows],
        "won": [r[3] for r in rows], "loss_reason": [r[4] for r in rows],
        "vertical": ["retail", "travel", None] * (len(rows) // 3),
        "company_size": ["1-10", "1000+", None] * (len(rows) // 3),
        "owner": ["Rita Rep"] * len(rows),
    })


def test_the_demo_draws_the_same_details_from_the_same_seed_and_other_ones_from_another():
    deals = _demo_deals()
    a, b, c = (demo_revenue.deal_details(deals, s) for s in (5, 5, 6))
    assert a.equals(b) and not a.equals(c)
    assert set(a["competitor"]) <= set(demo_revenue.COMPETITORS)
    assert a["discount_pct"].is_between(0, 30).all() and a["contacts"].is_between(1, 5).all()
    assert a["products"].str.starts_with("payments").all()
    lost_to_rival = deals["loss_reason"] == "competitor"
    assert (a.filter(lost_to_rival)["competitor"] != "none").all()
    assert a.filter(deals["won"].fill_null(False))["win_reason"].null_count() == 0
    assert a.filter(~deals["won"].fill_null(False))["win_reason"].null_count() == deals.height - 20


def test_each_demo_deal_walks_the_stages_in_order_within_its_life_and_ends_where_it_stands():
    now = datetime(2026, 6, 30, 12)
    deals = _demo_deals()
    details = demo_revenue.deal_details(deals, 5)
    changes = demo_revenue.deal_changes(deals.join(details.select("id", "stage_lost_at"), on="id"), now, 5)
    assert changes["id"].to_list() == list(range(1, changes.height + 1))
    assert changes["changed_at"].is_sorted()
    stages = changes.filter(pl.col("field") == "stage").sort("opportunity_id", "changed_at", "id")
    ends = deals.select(pl.col("id").alias("opportunity_id"), "stage", "created_at", "closed_at")
    path = stages.group_by("opportunity_id", maintain_order=True).agg(
        first=pl.col("to_value").first(), last=pl.col("to_value").last(), first_at=pl.col("changed_at").first(),
        last_at=pl.col("changed_at").last(), chained=(pl.col("from_value").slice(1) == pl.col("to_value").slice(
            0, pl.len() - 1)).all()).join(ends, on="opportunity_id")
    assert path.height == deals.height and (path["first"] == "discovery").all() and path["chained"].all()
    assert (path["last"] == path["stage"]).all() and (path["first_at"] == path["created_at"]).all()
    closed = path.filter(pl.col("closed_at").is_not_null())
    assert (closed["last_at"] == closed["closed_at"]).all()
    won_paths = stages.filter(pl.col("to_value") == "closed_won")
    assert (won_paths["from_value"] == "negotiation").all()
    pushes = changes.filter(pl.col("field") == "expected_close")
    assert pushes.height > 0 and (pushes["from_value"] < pushes["to_value"]).all()


def test_a_demo_without_deals_draws_no_details_and_no_changes():
    deals = _demo_deals().clear()
    details = demo_revenue.deal_details(deals, 5)
    changes = demo_revenue.deal_changes(deals.join(details.select("id", "stage_lost_at"), on="id"),
                                        datetime(2026, 6, 30, 12), 5)
    assert details.is_empty() and changes.is_empty()
    assert changes.columns == ["id", "opportunity_id", "field", "from_value", "to_value", "changed_at", "actor"]
