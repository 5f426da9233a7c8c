"""Revenue forecasting on tiny hand-made inputs: the backtest's figures, its intervals on a simulated series, the
monthly series and the snapshots the pipeline learns from, the close-time curves, levers and the blend."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm

from flashdash import forecast as fc


def _predictions(actual: list[float], forecast: list[float], lo80: list[float], hi80: list[float],
                 model: str = "m") -> pl.DataFrame:
    n = len(actual)
    return pl.DataFrame({
        "model": [model] * n, "origin": [fc.add_months(date(2025, 1, 1), k) for k in range(n)],
        "month": [fc.add_months(date(2025, 1, 1), k) for k in range(n)], "horizon": [1] * n, "actual": actual,
        "forecast": forecast, "lo80": lo80, "hi80": hi80, "lo95": [x * 0.5 for x in lo80],
        "hi95": [x * 1.5 for x in hi80],
    }, schema=fc._PRED_SCHEMA)


def test_metrics_count_the_share_within_each_margin_and_how_often_each_interval_held() -> None:
    frame = _predictions(actual=[100.0, 100.0, 100.0, 0.0], forecast=[104.0, 108.0, 250.0, 5.0],
                         lo80=[90.0, 102.0, 210.0, 0.0], hi80=[110.0, 120.0, 300.0, 10.0])
    row = fc.metrics(frame).row(0, named=True)
    assert row["months"] == 4
    assert row["mape"] == pytest.approx((0.04 + 0.08 + 1.5) / 3)  # a month without revenue has no percentage error
    assert row["within_5pct"] == pytest.approx(1 / 3)
    assert row["within_10pct"] == pytest.approx(2 / 3)
    assert row["coverage_80"] == pytest.approx(2 / 4)  # 100 in [90, 110]; not in [102, 120] nor [210, 300]; 0 in [0, 10]
    assert row["coverage_95"] == pytest.approx(3 / 4)  # the 95%: [45, 165], [51, 180], [105, 450], [0, 15]


def test_the_backtest_never_looks_at_the_month_it_forecasts_or_any_later_one() -> None:
    rng = np.random.default_rng(3)
    y = 1e6 * np.exp(np.cumsum(rng.normal(0.01, 0.1, 14)))
    names = ["naive", "mean12", "ets_ann"]
    first = fc.backtest(y, candidates=names)["predictions"]
    changed = y.copy()
    changed[11:] *= 5  # the series' 12th month (December 2000 in the backtest's calendar) and after
    second = fc.backtest(changed, candidates=names)["predictions"]
    before = pl.col("origin") <= date(2000, 12, 1)  # forecasts made at the start of month 12 or earlier
    keep = ["model", "origin", "month", "horizon", "forecast", "lo80", "hi80", "lo95", "hi95"]
    assert first.filter(before).select(keep).equals(second.filter(before).select(keep))
    assert first.filter(before)["origin"].n_unique() == 3
    assert set(first.filter(before)["model"]) == {*names, fc.SELECTED}
    assert not first.filter(~before).select(keep).equals(second.filter(~before).select(keep))


def test_a_smooth_growing_series_is_forecast_within_a_few_percent_and_beats_both_baselines() -> None:
    rng = np.random.default_rng(5)
    y = 1e6 * 1.03 ** np.arange(24) * (1 + rng.normal(0, 0.005, 24))
    result = fc.backtest(y, candidates=["naive", "mean12", "ets_aadn"])
    assert result["status"] == "ok" and result["months"] == 24 - fc.MIN_TRAIN_MONTHS
    assert result["chosen"] == "ets_aadn" and result["baseline"] == "naive" and result["beats_baseline"] is True
    one = result["metrics"].filter((pl.col("model") == "ets_aadn") & (pl.col("horizon") == 1)).row(0, named=True)
    assert one["mape"] < 0.02 and one["within_5pct"] == 1.0
    assert set(result["metrics"]["model"]) == {"naive", "mean12", "ets_aadn", fc.SELECTED}
    assert set(result["metrics"]["horizon"]) == {1, 3}


def test_the_80pct_interval_holds_about_80pct_of_the_months_of_simulated_random_walks() -> None:
    runs = []
    for seed in (1, 2, 3):  # 60 backtest months in all: a share of 0.8 is then known to about ±0.05
        y = 2e6 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.12, 29)))  # log revenue a random walk
        runs.append(fc.backtest(y, horizons=(1,), candidates=["naive", "ets_ann"])["predictions"])
    table = fc.metrics(pl.concat(runs))
    for model in ("naive", "ets_ann"):  # ETS(A,N,N) is a random walk's model; the naive rule is one
        row = table.filter(pl.col("model") == model).row(0, named=True)
        assert row["months"] == 60
        assert 0.65 <= row["coverage_80"] <= 0.92, (model, row["coverage_80"])
        assert row["coverage_95"] >= 0.85, (model, row["coverage_95"])


def test_too_short_a_series_is_not_enough_data_rather_than_a_guess() -> None:
    result = fc.backtest([1e6] * 10)
    assert result["status"] == fc.NOT_ENOUGH and result["chosen"] is None
    assert "complete months" in result["note"] and result["metrics"].is_empty()


def _deals(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"id": pl.Int32, "owner_id": pl.Int32, "team_id": pl.Int32, "amount": pl.Float64,
                                      "stage": pl.String, "created_at": pl.Datetime("us"),
                                      "closed_at": pl.Datetime("us"), "won": pl.Boolean, "interest_level": pl.String,
                                      "channel": pl.String}, orient="row")


DEALS = _deals([
    (1, 1, 1, 1000.0, "closed_won", datetime(2025, 1, 5), datetime(2025, 2, 10), True, "hot", "referral"),
    (2, 1, 1, 3000.0, "closed_lost", datetime(2025, 1, 20), datetime(2025, 3, 2), False, "cold", "email"),
    (3, 2, 1, 500.0, "closed_won", datetime(2025, 4, 2), datetime(2025, 5, 20), True, "warm", "email"),
    (4, 2, 1, 700.0, "closed_won", datetime(2025, 5, 1), datetime(2025, 6, 3), True, "warm", "email"),
    (5, 2, 1, 900.0, "negotiation", datetime(2025, 5, 10), None, False, "hot", "email"),
])


def test_the_monthly_series_marks_the_ramp_up_the_complete_months_and_the_month_in_progress() -> None:
    series = fc.revenue_series(DEALS, datetime(2025, 6, 15))
    assert series["month"].to_list() == [date(2025, m, 1) for m in range(1, 7)]
    assert series["won_amount"].to_list() == [0.0, 1000.0, 0.0, 0.0, 500.0, 700.0]  # months without a win are 0
    assert series["status"].to_list() == ["ramp-up"] * 3 + ["complete", "complete", "in progress"]
    assert fc.complete_months(series)["month"].to_list() == [date(2025, 4, 1), date(2025, 5, 1)]


def test_a_deal_is_seen_as_it_stood_then_its_later_outcome_hidden() -> None:
    inputs = fc.Inputs(deals=DEALS, changes=pl.DataFrame(schema={"id": pl.Int32, "stage": pl.String,
                                                                 "changed_at": pl.Datetime("us")}),
                       reps=pl.DataFrame())
    deals, _ = fc.as_of(inputs, datetime(2025, 2, 20))
    assert deals["id"].to_list() == [1, 2]  # deals 3-5 did not exist yet
    assert deals.filter(pl.col("id") == 2).row(0, named=True)["closed_at"] is None  # it closed on 2 March
    assert deals.filter(pl.col("id") == 2).row(0, named=True)["won"] is False
    assert deals.filter(pl.col("id") == 1).row(0, named=True)["won"] is True


def test_a_snapshot_gives_each_open_deal_its_stage_and_age_at_the_time() -> None:
    changes = pl.DataFrame({"id": [3, 3, 4], "stage": ["discovery", "proposal", "discovery"],
                            "changed_at": [datetime(2025, 4, 2), datetime(2025, 4, 20), datetime(2025, 5, 1)]},
                           schema={"id": pl.Int32, "stage": pl.String, "changed_at": pl.Datetime("us")})
    known = datetime(2025, 6, 15)
    rows = fc.snapshots(DEALS, changes, [datetime(2025, 4, 10), datetime(2025, 5, 10, 12)], known, use_stage=True)
    at = {(r["id"], r["t"].month): r for r in rows.iter_rows(named=True)}
    assert set(at) == {(3, 4), (3, 5), (4, 5), (5, 5)}  # open at the time; deal 5 since midnight on 10 May
    assert at[3, 4]["stage"] == "discovery" and at[3, 5]["stage"] == "proposal"
    assert at[5, 5]["stage"] == "discovery"  # no change recorded yet: where every deal starts
    assert at[3, 4]["band"] == "0" and at[3, 5]["band"] == "2"  # 8 days old (0-15), then 38.5 (30-60)
    assert at[3, 5]["closed"] and at[3, 5]["won"] and at[3, 5]["days"] == pytest.approx(9.5)


def test_close_curves_given_the_outcome_end_at_one_and_leave_the_still_open_share_to_later() -> None:
    days = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    won, lost = fc.outcome_curves(days, np.array([1, 2, 1, 2, 1, 2]))
    assert won[1][-1] == pytest.approx(1.0) and lost[1][-1] == pytest.approx(1.0)
    assert fc.sample_days(won, np.array([0.1, 0.5, 0.99])).tolist() == [1.0, 3.0, 5.0]
    won, _ = fc.outcome_curves(days, np.array([1, 1, 2, 0, 0, 0]))  # half still open at the end
    assert won[1][-1] < 1.0
    assert np.isinf(fc.sample_days(won, np.array([0.999]))[0])  # closes after anything seen: after the horizon


def test_levers_outside_the_range_are_refused_with_every_problem_named() -> None:
    with pytest.raises(fc.ScenarioError) as refused:
        fc.validate_levers({"win_rate": 2.0, "deal_size": "big", "margin": 1.1, "headcount": True})
    message = str(refused.value)
    for part in ("win_rate 2 is outside 0.5–1.5", "deal_size must be a number", "unknown lever 'margin'",
                 "headcount must be a number"):
        assert part in message
    assert fc.validate_levers({"cycle_length": 0.8}) == fc.Levers(cycle_length=0.8)


def test_a_blend_weight_of_one_is_the_revenue_model_and_the_backtest_picks_the_better_side() -> None:
    model = _predictions([100.0, 200.0], [101.0, 198.0], [90.0, 180.0], [110.0, 220.0])
    pipeline = _predictions([100.0, 200.0], [150.0, 120.0], [100.0, 90.0], [200.0, 160.0])
    one = fc.blend_predictions(model, pipeline, 1.0)
    assert one["forecast"].to_list() == pytest.approx([101.0, 198.0]) and one["model"].unique().to_list() == [fc.BLEND]
    assert fc.blend_predictions(model, pipeline, 0.0)["hi80"].to_list() == pytest.approx([200.0, 160.0])
    assert fc.choose_weight(model, pipeline) == 1.0


def _quantiles(forecast: float, spread: float) -> dict[str, np.ndarray]:
    """A lognormal forecast's quantiles on log(1 + revenue), spread: its sd there."""
    return {k: np.expm1(np.array([np.log1p(forecast) + z * spread])) for k, z in fc.Z.items()}


def test_a_blend_of_two_forecasts_that_err_differently_is_surer_than_either_and_one_that_errs_alike_is_not() -> None:
    a, b = _quantiles(1000.0, 0.2), _quantiles(1200.0, 0.2)
    alike, apart = fc.combine(a, b, 0.5, rho=1.0), fc.combine(a, b, 0.5, rho=0.0)
    centre = np.expm1((np.log1p(1000.0) + np.log1p(1200.0)) / 2)
    assert alike["forecast"][0] == pytest.approx(centre) == apart["forecast"][0]
    spread = {k: np.log1p(q["hi80"][0]) - np.log1p(q["lo80"][0]) for k, q in (("alike", alike), ("apart", apart))}
    assert spread["alike"] == pytest.approx(2 * fc.Z["hi80"] * 0.2)  # errors alike: the average spread
    assert spread["apart"] == pytest.approx(2 * fc.Z["hi80"] * 0.2 / np.sqrt(2))  # independent: √2 narrower
    for k in fc.Z:  # a weight of 0 or 1 is one forecast exactly, whatever rho
        assert fc.combine(a, b, 0.0, rho=0.3)[k] == pytest.approx(b[k])
        assert fc.combine(a, b, 1.0, rho=0.3)[k] == pytest.approx(a[k])


def test_the_error_correlation_is_measured_on_log_errors_and_is_cautious_without_enough_months() -> None:
    actual = [100.0, 200.0, 150.0, 120.0]
    model = _predictions(actual, [110.0, 220.0, 140.0, 130.0], [90.0] * 4, [250.0] * 4)
    same_way = _predictions(actual, [105.0, 215.0, 145.0, 126.0], [90.0] * 4, [250.0] * 4, model="p")
    other_way = _predictions(actual, [95.0, 185.0, 160.0, 111.0], [90.0] * 4, [250.0] * 4, model="p")
    assert fc.error_correlation(model, same_way) > 0.9
    assert fc.error_correlation(model, other_way) == 0.0  # clipped: a negative correlation is not trusted
    assert fc.error_correlation(model.head(2), same_way.head(2)) == 1.0


def test_the_attainable_share_is_what_a_perfect_forecast_of_that_spread_would_reach() -> None:
    sd = 0.1
    lo, hi = np.exp(-fc.Z["hi80"] * sd) * 1000, np.exp(fc.Z["hi80"] * sd) * 1000
    sharp = _predictions([1000.0], [1000.0], [lo], [hi])
    reach = fc.attainable(sharp)
    assert reach[0.10][0] == pytest.approx(norm.cdf(np.log(1.1) / sd) - norm.cdf(np.log(0.9) / sd))
    assert 0.6 < reach[0.10][0] < 0.7 and reach[0.05][0] < reach[0.10][0]
    wide = fc.attainable(_predictions([1000.0], [1000.0], [300.0], [3000.0]))
    assert wide[0.10][0] < 0.15  # a month that could land anywhere from a third to three times
    table = fc.metrics(pl.concat([sharp, _predictions([1000.0], [1000.0], [300.0], [3000.0])]))
    assert table["attainable_10pct"][0] == pytest.approx((reach[0.10][0] + wide[0.10][0]) / 2)


@pytest.mark.parametrize(("period", "months"), [
    ("month", [date(2026, 5, 1)]),
    ("next_month", [date(2026, 6, 1)]),
    ("quarter", [date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1)]),
    ("next_quarter", [date(2026, 7, 1), date(2026, 8, 1), date(2026, 9, 1)]),
])
def test_a_quota_period_is_the_calendar_month_or_quarter_seen_from_now(period: str, months: list[date]) -> None:
    assert fc.period_months(datetime(2026, 5, 17, 9), period) == months


def test_intervals_are_calibrated_out_of_time_from_the_methods_own_earlier_errors() -> None:
    # a method whose 80% interval is far too narrow: its errors are two and a half times its stated spread
    sd, n = 0.02, 20
    actual = [1000.0 * (1 + 0.05 * (-1) ** k) for k in range(n)]
    lo, hi = np.exp(-fc.Z["hi80"] * sd) * 1000, np.exp(fc.Z["hi80"] * sd) * 1000
    raw = _predictions(actual, [1000.0] * n, [lo] * n, [hi] * n)
    calibrated = fc.calibrate(raw).sort("origin")
    widths = (calibrated["hi80"] - calibrated["lo80"]).to_list()
    for k in range(fc.MIN_PRIOR_MONTHS):  # too few months over yet: left as it was
        assert widths[k] == pytest.approx(hi - lo)
    later = widths[fc.MIN_PRIOR_MONTHS:]  # then widened from its own record, the more the longer it is
    assert all(w > 1.3 * (hi - lo) for w in later) and later == sorted(later)
    assert calibrated["forecast"].to_list() == pytest.approx([1000.0] * n)  # the median is never moved
    assert fc.metrics(calibrated)["coverage_80"][0] > fc.metrics(raw)["coverage_80"][0] == 0.0
    # a month's own error never widens its own interval: change the last actual, the last interval stays
    moved = fc.calibrate(_predictions([*actual[:-1], 5000.0], [1000.0] * n, [lo] * n, [hi] * n)).sort("origin")
    assert moved["hi80"][-1] == pytest.approx(calibrated["hi80"][-1])
    spread = (np.log1p(hi) - np.log1p(lo)) / (2 * fc.Z["hi80"])
    rms = np.sqrt(np.mean(((np.log1p(actual) - np.log1p(1000.0)) / spread) ** 2))
    assert fc.interval_factors(raw)["m"][1] == pytest.approx(rms ** (n / (n + fc.CALIBRATION_PRIOR)))


def test_an_interval_that_held_every_month_by_a_mile_is_narrowed_within_bounds() -> None:
    assert 0.25 < fc.interval_factor(np.array([0.1, -0.2, 0.1, 0.05])) < 0.5  # narrowed, a few months only halfway
    assert fc.interval_factor(np.full(100, 0.01)) == fc.FACTOR_RANGE[0]  # never below the narrowest allowed
    assert fc.interval_factor(np.array([0.5, 2.0])) == 1.0  # fewer than MIN_PRIOR_MONTHS: left alone
    frame = pl.DataFrame({"forecast": [100.0], "lo80": [50.0], "hi80": [200.0], "lo95": [30.0], "hi95": [300.0]})
    twice = fc.rescale(frame, 2.0, floor=40.0)
    assert twice["hi80"][0] == pytest.approx(np.expm1(np.log1p(100.0) + 2 * (np.log1p(200.0) - np.log1p(100.0))))
    assert twice["lo80"][0] == pytest.approx(40.0)  # never below what is already won
