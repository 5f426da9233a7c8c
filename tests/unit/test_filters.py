from datetime import date

import pytest

from flashdash.access import Actor
from flashdash.filters import FilterError, Filters, parse_date, preset_range


def test_presets_end_today_and_cover_their_span():
    today = date(2026, 5, 15)
    assert preset_range("Last 7 days", today) == (date(2026, 5, 9), today)
    assert preset_range("Last 30 days", today) == (date(2026, 4, 16), today)
    assert preset_range("Quarter to date", today) == (date(2026, 4, 1), today)
    assert preset_range("Year to date", today) == (date(2026, 1, 1), today)
    assert preset_range("Last 12 months", today) == (date(2025, 5, 16), today)


def test_an_unknown_preset_is_refused_with_the_choices():
    with pytest.raises(FilterError, match="choose one of"):
        preset_range("Since forever", date(2026, 1, 1))


def test_an_inverted_range_says_how_to_fix_it():
    with pytest.raises(FilterError, match="pick a start on or before the end"):
        Filters(start=date(2026, 3, 2), end=date(2026, 3, 1))


def test_a_malformed_date_names_the_expected_format():
    with pytest.raises(FilterError, match="YYYY-MM-DD"):
        parse_date("2026-13-45", "start date")


def test_previous_period_has_the_same_length_and_ends_the_day_before():
    f = Filters(start=date(2026, 3, 1), end=date(2026, 3, 31))
    p = f.previous()
    assert p.days == f.days == 31
    assert p.end == date(2026, 2, 28)


def test_params_carry_the_actor_scope():
    f = Filters(start=date(2026, 1, 1), end=date(2026, 1, 31), channels=("referral",))
    rep = Actor("r", "R", "rep", rep_id=7, scope_reps=(7,))
    boss = Actor("a", "A", "admin")
    assert f.params(rep)["scope_all"] is False and f.params(rep)["scope_reps"] == [7]
    assert f.params(boss)["scope_all"] is True and f.params(boss)["channels"] == ["referral"]


def test_all_data_is_the_stores_span_and_an_empty_store_has_only_today():
    from flashdash.filters import ALL_DATA, DataSpan

    span = DataSpan(first=date(2017, 6, 14), last=date(2018, 11, 14), last_submitted=date(2018, 5, 31))
    assert preset_range(ALL_DATA, date(2026, 6, 30), span) == (date(2017, 6, 14), date(2018, 11, 14))
    assert preset_range(ALL_DATA, date(2026, 6, 30)) == (date(2026, 6, 30), date(2026, 6, 30))


def test_the_default_period_falls_back_to_all_data_only_when_nothing_was_submitted_in_it():
    from flashdash.filters import ALL_DATA, DEFAULT_PRESET, DataSpan, default_filters, default_preset, fallback_note

    today = date(2026, 6, 30)
    old = DataSpan(first=date(2017, 6, 14), last=date(2018, 11, 14), last_submitted=date(2018, 5, 31))
    recent = DataSpan(first=date(2024, 7, 1), last=today, last_submitted=date(2026, 4, 2))  # day 1 of the 90
    stale = DataSpan(first=date(2024, 7, 1), last=today, last_submitted=date(2026, 4, 1))  # the day before
    assert default_preset(today, old) == ALL_DATA
    assert default_preset(today, recent) == DEFAULT_PRESET and fallback_note(today, recent) is None
    assert default_preset(today, stale) == ALL_DATA
    assert default_preset(today, None) == DEFAULT_PRESET  # an empty store keeps the usual default
    assert default_filters(today, old) == Filters(start=date(2017, 6, 14), end=date(2018, 11, 14))
    assert default_filters(today) == Filters(start=date(2026, 4, 2), end=today)
    note = fallback_note(today, old)
    assert "last 90 days" in note and "May 31, 2018" in note and "Jun 14, 2017 – Nov 14, 2018" in note


def test_data_that_ended_before_the_default_period_is_said_to_have_ended():
    from flashdash.filters import DataSpan, data_ended

    today = date(2026, 6, 30)
    assert data_ended(today, DataSpan(date(2017, 6, 14), date(2018, 11, 14), date(2018, 5, 31))) == date(2018, 11, 14)
    assert data_ended(today, DataSpan(date(2024, 7, 1), today, today)) is None
    assert data_ended(today, None) is None
