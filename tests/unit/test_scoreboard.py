from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flashdash import scoreboard
from flashdash.scoreboard import months_in_period, ranked, team_summary, with_rates


def _reps(**cols) -> pl.DataFrame:
    base = {"rep_id": [1, 2, 3], "name": ["Ann", "Bob", "Cy"], "active": [True, True, False],
            "team_id": [10, 10, 20], "team": ["East", "East", "West"], "monthly_quota": [10_000.0, 0.0, 5_000.0],
            "leads": [10, 0, 4], "won_leads": [2, 0, 1], "activities": [30, 5, 0], "won_deals": [1, 0, 2],
            "won_revenue": [15_000.0, 0.0, 5_000.0], "median_response_hours": [2.0, None, 8.0]}
    return pl.DataFrame({**base, **cols})


def test_whole_months_count_as_one_each():
    assert months_in_period(date(2026, 1, 1), date(2026, 3, 31)) == pytest.approx(3.0)


def test_a_part_month_counts_its_share_of_days():
    assert months_in_period(date(2026, 2, 1), date(2026, 2, 14)) == pytest.approx(0.5)
    assert months_in_period(date(2026, 1, 17), date(2026, 2, 14)) == pytest.approx(15 / 31 + 14 / 28)


def test_attainment_is_won_revenue_over_quota_times_months_and_undefined_without_quota():
    out = with_rates(_reps(), months=1.5).select("quota_target", "conversion", "attainment")
    expected = pl.DataFrame({"quota_target": [15_000.0, 0.0, 7_500.0], "conversion": [0.2, None, 0.25],
                             "attainment": [1.0, None, 5_000 / 7_500]})
    assert_frame_equal(out, expected)


def test_ranking_puts_the_best_first_and_reps_without_a_value_last():
    reps = scoreboard.label_reps(with_rates(_reps(), 1.0))
    by_revenue = ranked(reps, "won_revenue").select("rank", "rep")
    assert_frame_equal(by_revenue, pl.DataFrame({"rank": [1, 2, 3], "rep": ["Ann", "Cy (inactive)", "Bob"]},
                                                schema={"rank": pl.Int32, "rep": pl.String}))
    # lower is better for response time; Bob has none and ranks nowhere
    by_response = ranked(reps, "median_response_hours").select("rank", "rep")
    assert by_response["rep"].to_list() == ["Ann", "Cy (inactive)", "Bob"]
    assert by_response["rank"].to_list() == [1, 2, None]


def test_reps_sharing_a_name_are_told_apart_by_id():
    reps = scoreboard.label_reps(_reps(name=["Ann", "Ann", "Cy"]))
    assert reps["rep"].to_list() == ["Ann (#1)", "Ann (#2)", "Cy (inactive)"]


def test_the_team_summary_sums_its_reps_and_takes_attainment_over_the_team_quota():
    reps = scoreboard.label_reps(with_rates(_reps(), 2.0))
    medians = pl.DataFrame({"team_id": [10, 20], "median_response_hours": [2.5, 8.0]},
                           schema={"team_id": pl.Int64, "median_response_hours": pl.Float64})
    out = team_summary(reps, medians, 2.0).sort("team_id").select(
        "team", "reps", "leads", "activities", "won_revenue", "quota_target", "attainment", "conversion",
        "median_response_hours")
    expected = pl.DataFrame({"team": ["East", "West"], "reps": [2, 1], "leads": [10, 4], "activities": [35, 0],
                             "won_revenue": [15_000.0, 5_000.0], "quota_target": [20_000.0, 10_000.0],
                             "attainment": [0.75, 0.5], "conversion": [0.2, 0.25],
                             "median_response_hours": [2.5, 8.0]})
    assert_frame_equal(out, expected)


def test_a_period_with_nothing_in_it_has_no_numbers():
    assert not scoreboard.has_numbers(_reps(leads=[0, 0, 0], activities=[0, 0, 0], won_deals=[0, 0, 0]))
    assert scoreboard.has_numbers(_reps())
    assert not scoreboard.has_numbers(_reps().clear())


def test_the_chart_keeps_the_top_reps_that_have_a_value():
    reps = ranked(scoreboard.label_reps(with_rates(_reps(), 1.0)), "attainment")
    assert scoreboard.chart_rows(reps, "attainment", top=5)["rep"].to_list() == ["Ann", "Cy (inactive)"]
    assert scoreboard.chart_rows(reps, "leads", top=1)["rep"].to_list() == ["Ann"]
