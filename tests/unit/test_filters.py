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
