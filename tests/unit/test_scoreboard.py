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


def _titled() -> pl.DataFrame:
    # Ann qualifies (sdr), Bob closes (closer), Cy is an sdr who also won a deal
    return scoreboard.label_reps(with_rates(_reps(title=["sdr", "closer", "sdr"], leads=[10, 0, 4],
                                                  won_deals=[0, 3, 2], active=[True] * 3), 1.0))


ALL_RECORDED = {"activities", "first_response", "quota", "owner_before_win"}


def test_sdr_and_closer_views_appear_only_where_reps_carry_those_titles():
    assert scoreboard.views(_titled()) == ["all", "sdr", "closer"]
    assert scoreboard.views(_reps(title=["rep", "rep", "manager"])) == ["all"]


def test_sdrs_are_the_sdr_titles_and_closers_anyone_who_won_a_deal():
    reps = _titled()
    assert scoreboard.in_view(reps, "sdr")["rep"].to_list() == ["Ann", "Cy"]
    assert scoreboard.in_view(reps, "closer")["rep"].to_list() == ["Bob", "Cy"]
    assert scoreboard.in_view(reps, "all").height == 3


def test_each_view_ranks_on_its_own_figures_less_those_the_store_lacks():
    assert scoreboard.view_metrics("all", ALL_RECORDED) == [m.key for m in scoreboard.METRICS]
    assert scoreboard.view_metrics("sdr", ALL_RECORDED) == ["leads", "won_leads", "conversion", "activities",
                                                            "median_response_hours"]
    assert scoreboard.view_metrics("closer", set()) == ["won_deals", "won_revenue"]
    assert scoreboard.hidden_columns("all", ALL_RECORDED) == []
    assert set(scoreboard.hidden_columns("all", set())) == {"activities", "median_response_hours", "attainment",
                                                            "quota_target"}
    assert scoreboard.unrecorded_note(ALL_RECORDED) is None
    assert scoreboard.unrecorded_note({"activities"}) == ("This data records no first responses or quotas, so the "
                                                          "scoreboard leaves them out.")


def test_a_view_rolls_up_only_its_reps_and_drops_the_other_views_columns():
    reps = _titled()
    medians = pl.DataFrame({"team_id": [10, 20], "median_response_hours": [2.5, 8.0]},
                           schema={"team_id": pl.Int64, "median_response_hours": pl.Float64})
    data = {"reps": reps, "teams": team_summary(reps, medians, 1.0), "team_response": medians, "months": 1.0,
            "recorded": frozenset({"first_response", "owner_before_win"})}
    closers = scoreboard.view(data, "closer")
    assert closers["reps"]["rep"].to_list() == ["Bob", "Cy"]
    assert "leads" not in closers["reps"].columns and "activities" not in closers["reps"].columns
    assert closers["teams"].sort("team")["won_deals"].to_list() == [3, 2]
    sdrs = scoreboard.view(data, "sdr")
    # East keeps only Ann in this view: a median over all of East's leads would not be hers alone
    assert sdrs["teams"].sort("team")["median_response_hours"].to_list() == [None, 8.0]
    assert sdrs["notes"] == ["This data records no activities or quotas, so the scoreboard leaves them out."]


def test_conversion_by_rep_is_flagged_only_when_the_data_names_owners_only_for_won_leads():
    reps = _titled()
    assert scoreboard.ownership_note(reps, ALL_RECORDED) is None
    assert "100% by construction" in scoreboard.ownership_note(reps, ALL_RECORDED - {"owner_before_win"})
    assert scoreboard.ownership_note(reps.with_columns(leads=pl.lit(0)), set()) is None
