"""The demo generator's small pure helpers."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal, assert_series_equal

from flashdash import demo
from flashdash.store import Store

NOW = datetime(2026, 5, 1, 12, 0)


def test_calibrate_shift_finds_where_an_increasing_mean_reaches_the_target():
    scores = np.linspace(-2, 2, 101)
    shift = demo.calibrate_shift(lambda c: float(demo.sigmoid(scores + c).mean()), 0.1)
    assert demo.sigmoid(scores + shift).mean() == pytest.approx(0.1, abs=1e-9)


def test_expand_lists_each_run_with_its_index():
    run, value = demo.expand(np.array([10, 20, 30]), np.array([2, 0, 3]))
    assert run.tolist() == [0, 0, 2, 2, 2]
    assert value.tolist() == [10, 11, 30, 31, 32]


def test_weekday_and_month_of_day_numbers():
    days = np.array([(date(2026, 5, 1) - date(1970, 1, 1)).days, (date(2025, 12, 28) - date(1970, 1, 1)).days])
    assert demo.weekday(days).tolist() == [4, 6]  # a Friday, a Sunday
    assert demo.month_index(days).tolist() == [4, 11]


def test_to_seconds_counts_from_1970():
    assert demo.to_seconds(datetime(1970, 1, 2, 0, 1)) == 86_400 + 60


def test_pick_within_stays_inside_each_group():
    rng = np.random.default_rng(0)
    groups = np.array([0, 1, 2] * 1000)
    idx = demo.pick_within(rng, np.array([2, 3, 1]), groups)
    # the flattened table is [g0, g0, g1, g1, g1, g2]
    assert set(idx[groups == 0]) == {0, 1}
    assert set(idx[groups == 1]) == {2, 3, 4}
    assert set(idx[groups == 2]) == {5}


def test_choice_rows_draws_from_each_rows_probabilities():
    rng = np.random.default_rng(0)
    probs = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
    rows = np.repeat([0, 1, 2], 2000)
    got = demo.choice_rows(rng, probs, rows)
    assert set(got[rows == 0]) == {0}
    assert set(got[rows == 1]) == {2}
    assert 0.45 < (got[rows == 2] == 1).mean() < 0.55


def test_restyle_types_names_the_way_people_do():
    df = pl.DataFrame({"name": ["Joe's Pizza"] * 4, "style": [0, 1, 2, 3]})
    got = df.select(demo.restyle(pl.col("name"), pl.col("style")).alias("name"))
    expected = pl.DataFrame({"name": ["Joe's Pizza", "JOE'S PIZZA", "joe's pizza", "joe's  pizza "]})
    assert_frame_equal(got, expected)


def test_submission_times_are_sorted_inside_the_window_and_grow():
    now_s = demo.to_seconds(NOW)
    ts = demo.submission_times(np.random.default_rng(1), 50_000, now_s)
    assert len(ts) == 50_000
    assert np.all(np.diff(ts) >= 0)
    assert ts[0] >= now_s - demo.HISTORY_DAYS * demo.DAY and ts[-1] < now_s
    last_year = (ts >= now_s - 365 * demo.DAY).mean()
    assert 0.53 < last_year < 0.60  # ~30% growth a year
    weekend = demo.weekday(ts // demo.DAY) >= 5
    assert weekend.mean() < 0.2  # 2 of 7 days, at under half the weekday rate


def test_submission_times_are_reproducible():
    now_s = demo.to_seconds(NOW)
    a = demo.submission_times(np.random.default_rng(7), 1000, now_s)
    b = demo.submission_times(np.random.default_rng(7), 1000, now_s)
    assert_series_equal(pl.Series(a), pl.Series(b))


def test_scales_grow_from_xs_to_l():
    leads = [demo.SCALES[s].leads for s in ("XS", "S", "M", "L")]
    assert leads == sorted(leads) and leads[0] == 2_000 and leads[-1] == 1_000_000
    reps = {s: sc.teams * (1 + sc.reps_per_team) for s, sc in demo.SCALES.items()}
    assert reps == {"XS": 8, "S": 20, "M": 100, "L": 500}


def test_an_unknown_scale_is_refused_before_the_store_is_touched(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(ValueError, match="unknown demo scale 'XXL'"):
        demo.generate(store, "XXL", now=NOW)
    assert not store.path.exists()
