import polars as pl

from flashdash.executive import KPIS, format_value, pct_change, sentences


def _kpis(current, previous):
    return pl.DataFrame({"key": [k.key for k in KPIS], "label": [k.label for k in KPIS],
                         "current": current, "previous": previous})


def test_pct_change_is_undefined_without_a_base():
    assert pct_change(10, 0) is None and pct_change(None, 5) is None
    assert pct_change(12, 10) == 0.2


def test_money_and_rates_read_as_people_write_them():
    assert format_value(2_500_000, "money") == "$2.50M"
    assert format_value(45_000, "money") == "$45.0k"
    assert format_value(0.1234, "pct") == "12.3%"
    assert format_value(None, "count") == "–"


def test_sentences_lead_with_the_biggest_move_and_name_its_drivers():
    kpis = _kpis([200.0, 0.1, 1e6, 5e5, 3.0, 100.0], [100.0, 0.1, 1e6, 5e5, 3.0, 100.0])
    leads_by = pl.DataFrame({"dimension": ["channel", "channel", "team"], "segment": ["referral", "social", "West"],
                             "current": [150.0, 50.0, 200.0], "previous": [60.0, 40.0, 100.0],
                             "change": [90.0, 10.0, 100.0]})
    won_by = leads_by.clear()
    out = sentences(kpis, leads_by, won_by)
    assert out[0].startswith("**New submissions** rose 100%")
    assert "referral channel (+90)" in out[0] and "West team (+100)" in out[0]


def test_a_slower_response_is_flagged_as_bad_news():
    kpis = _kpis([100.0, 0.1, 1e6, 5e5, 6.0, 100.0], [100.0, 0.1, 1e6, 5e5, 3.0, 100.0])
    empty = pl.DataFrame(schema={"dimension": pl.String, "segment": pl.String, "current": pl.Float64,
                                 "previous": pl.Float64, "change": pl.Float64})
    out = sentences(kpis, empty, empty)
    assert "Median first response" in out[0] and "⚠" in out[0]


def test_both_cohorts_are_counted_at_the_same_age():
    from datetime import date, datetime

    from flashdash.executive import cohort_cutoffs
    from flashdash.filters import Filters

    f = Filters(start=date(2026, 4, 1), end=date(2026, 4, 30))
    cur, prev = cohort_cutoffs(f, today=date(2026, 5, 10))
    assert cur == datetime(2026, 5, 11)  # today's state: the period's end plus the 10 days since
    assert prev == datetime(2026, 4, 11)  # the previous period's end (Mar 31) plus the same 10 days
    assert cohort_cutoffs(f, today=date(2026, 4, 30))[1] == datetime(2026, 4, 1)


def test_an_unchanged_figure_is_no_move_and_not_bad_news():
    kpis = _kpis([0.0, None, 0.0, 0.0, None, 100.0], [0.0, None, 0.0, 0.0, None, 100.0])
    empty = pl.DataFrame(schema={"dimension": pl.String, "segment": pl.String, "current": pl.Float64,
                                 "previous": pl.Float64, "change": pl.Float64})
    assert sentences(kpis, empty, empty) == ["Nothing moved by 1% or more against the previous period."]


def test_a_book_of_won_leads_only_is_explained_to_reps_and_managers_not_to_those_who_see_all():
    from flashdash.access import Actor
    from flashdash.executive import book_note

    manager = Actor("m", "M", "manager", rep_id=1, scope_reps=(1, 2))
    admin = Actor("a", "A", "admin")
    assert "100% by construction" in book_note(manager, set())
    assert book_note(manager, {"owner_before_win"}) is None
    assert book_note(admin, set()) is None
