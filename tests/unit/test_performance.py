from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from flashdash.performance import (
    MAX_RECOMMENDATIONS,
    METRICS,
    MIN_DEALS,
    NOT_ENOUGH,
    analyse_closes,
    compare_to_benchmarks,
    recommend,
    top_quartiles,
    with_rates,
)


def _reps(**cols) -> pl.DataFrame:
    """Five sellers and a manager: Ann to Eve make ever more calls, emails and meetings and answer ever sooner."""
    base = {"rep_id": [1, 2, 3, 4, 5, 6], "rep": ["Ann", "Bob", "Cy", "Dee", "Eve", "Max"],
            "title": ["rep"] * 5 + ["manager"], "active": [True] * 6, "team_id": [10, 10, 10, 20, 20, 10],
            "team": ["East", "East", "East", "West", "West", "East"], "working_days": [60, 60, 60, 60, 60, 60],
            "calls": [60, 120, 180, 240, 300, 0], "emails_sent": [30, 60, 90, 120, 150, 0],
            "meetings_booked": [12, 24, 36, 48, 60, 0], "demos": [0] * 6,
            "leads_responded": [40, 40, 40, 40, 40, 0], "median_response_hours": [9.0, 6.0, 4.0, 2.0, 1.0, None]}
    return with_rates(pl.DataFrame({**base, **cols}))


def _evidence(**verdicts: str) -> dict:
    rows = [{"column": m.factor, "n": 500, "odds_ratio": 1.3, "ci_low": 1.1, "ci_high": 1.5,
             "verdict": verdicts.get(m.factor, "associated with winning")} for m in METRICS]
    return {"frame": pl.DataFrame(rows), "note": "how to read it"}


def test_rates_are_per_working_day_and_meetings_per_working_week() -> None:
    reps = _reps(working_days=[50, 60, 60, 60, 60, 0])
    ann = reps.row(0, named=True)
    assert (ann["calls_per_day"], ann["emails_per_day"], ann["meetings_per_week"]) == (1.2, 0.6, 1.2)
    assert reps.row(5, named=True)["calls_per_day"] is None


def test_the_top_quarter_is_over_sellers_only_and_is_the_low_end_for_response_time() -> None:
    tops = top_quartiles(_reps())
    assert tops["calls_per_day"] == (pytest.approx(np.quantile([1, 2, 3, 4, 5], 0.75)), 5)
    assert tops["median_response_hours"][0] == pytest.approx(np.quantile([9, 6, 4, 2, 1], 0.25))


def test_a_rep_short_of_the_top_quarter_gets_at_most_three_recommendations_each_with_its_evidence() -> None:
    out = recommend(_reps(), _reps(), _evidence())
    ann = out["recommendations"].filter(pl.col("rep") == "Ann")
    assert ann.height == MAX_RECOMMENDATIONS
    assert ann["metric"].to_list() == ["median_response_hours", "calls_per_day", "emails_per_day"]  # largest gap first
    first = ann.row(0, named=True)
    assert (first["value"], first["n"], first["reps_compared"], first["deals"]) == (9.0, 40, 5, 500)
    assert first["recommendation"].startswith("Answer new leads sooner: median first response 9.0 hours against")
    assert "odds ratio 1.30" in first["recommendation"] and "association" in first["recommendation"]
    assert out["recommendations"].filter(pl.col("rep") == "Max").is_empty()  # a manager is not coached here


def test_a_rep_in_the_top_quarter_on_everything_gets_no_recommendation_and_is_told_why() -> None:
    out = recommend(_reps(), _reps(), _evidence())
    eve = out["reps"].filter(pl.col("rep") == "Eve").row(0, named=True)
    assert eve["recommendations"] == 0 and "already in the top quarter" in eve["why_none"]


def test_no_recommendation_rests_on_an_activity_without_a_clear_association_with_winning() -> None:
    weak = _evidence(calls_30d="no clear association", emails_30d="associated with losing",
                     meetings_30d=NOT_ENOUGH, response_1h="no clear association")
    out = recommend(_reps(), _reps(), weak)
    assert out["recommendations"].is_empty()
    assert "no clear association between calls" in out["reps"].row(0, named=True)["why_none"]


def test_too_few_working_days_or_too_few_reps_to_compare_give_no_recommendation() -> None:
    few_days = recommend(_reps(working_days=[5, 60, 60, 60, 60, 60]), _reps(), _evidence())
    assert few_days["recommendations"].filter(pl.col("rep") == "Ann")["metric"].to_list() == ["median_response_hours"]
    three = _reps().filter(pl.col("rep_id") <= 3)
    assert recommend(three, three, _evidence())["recommendations"].is_empty()


def test_teams_are_benchmarked_on_their_sellers_summed_counts_and_their_own_median_response() -> None:
    reps = _reps()
    team_response = pl.DataFrame({"team_id": [10, 20], "leads_responded": [120, 80],
                                  "median_response_hours": [5.0, 1.5]}, schema_overrides={"team_id": pl.Int64})
    targets = {"calls_per_day": 3.0, "median_response_hours": 2.0}
    out = compare_to_benchmarks(reps, team_response, targets)
    east_calls = out.filter((pl.col("level") == "team") & (pl.col("team") == "East")
                            & (pl.col("metric") == "calls_per_day")).row(0, named=True)
    assert east_calls["value"] == pytest.approx(360 / 180) and east_calls["meets"] is False  # Max manages: not a seller
    assert "Max" not in out["rep"].to_list()
    west_resp = out.filter((pl.col("level") == "team") & (pl.col("team") == "West")
                           & (pl.col("metric") == "median_response_hours")).row(0, named=True)
    assert (west_resp["value"], west_resp["benchmark"], west_resp["meets"]) == (1.5, 2.0, True)
    eve = out.filter((pl.col("rep") == "Eve") & (pl.col("metric") == "emails_per_day")).row(0, named=True)
    assert eve["benchmark"] == 6.0  # no saved target: the default


def _closes(n: int, meeting_effect: float, seed: int = 5) -> pl.DataFrame:
    """Closed deals of three interest levels; hot leads get more meetings and win more; each meeting adds
    `meeting_effect` to the log-odds of winning."""
    rng = np.random.default_rng(seed)
    level = rng.choice(3, n, p=[0.4, 0.4, 0.2])
    meetings = rng.poisson(np.array([0.5, 1.0, 2.0])[level])
    logit = np.array([-1.0, 0.0, 1.0])[level] + meeting_effect * meetings
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pl.DataFrame({
        "opportunity_id": range(n), "lead_id": range(n), "won": won,
        "closed_at": [datetime(2025, 1, 1) + timedelta(hours=int(h)) for h in range(n)],
        "interest_level": np.array(["cold", "warm", "hot"])[level], "channel": rng.choice(["paid", "organic"], n),
        "vertical": rng.choice(["retail", "food"], n), "company_size": rng.choice(["1-10", "11-50"], n),
        "monthly_volume": np.exp(rng.normal(11, 1, n)), "response_1h": rng.random(n) < 0.3,
        "calls_30d": rng.poisson(5, n), "emails_30d": rng.poisson(4, n), "meetings_30d": meetings,
        "demos_30d": rng.poisson(1, n)})


def test_meetings_that_truly_raise_the_odds_of_winning_show_an_interval_above_one_around_the_truth() -> None:
    out = analyse_closes(_closes(3000, meeting_effect=0.4))
    meetings = out["frame"].filter(pl.col("column") == "meetings_30d").row(0, named=True)
    assert meetings["ci_low"] < np.exp(0.4) < meetings["ci_high"] and meetings["ci_low"] > 1
    assert meetings["verdict"] == "associated with winning" and meetings["n"] == 3000
    assert "associated with winning the deal more often, for leads of similar quality" in meetings["wording"]
    calls = out["frame"].filter(pl.col("column") == "calls_30d").row(0, named=True)
    assert calls["ci_low"] < 1 < calls["ci_high"] and calls["verdict"] == "no clear association"


def test_below_the_minimum_of_closed_deals_every_factor_says_not_enough_data() -> None:
    out = analyse_closes(_closes(MIN_DEALS - 1, meeting_effect=0.4))
    assert out["why"].startswith("Not enough data") and (out["frame"]["verdict"] == NOT_ENOUGH).all()
    assert out["frame"]["odds_ratio"].is_null().all()
