from datetime import date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flashdash.submissions import (
    OTHER,
    check_dimension,
    fields,
    lead_keys,
    lead_title,
    like_pattern,
    lump,
    md_escape,
    segments_for,
    timeline,
)


def _by_period(rows: list[tuple[date, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"period": pl.Date, "segment": pl.String, "submissions": pl.Int64},
                        orient="row")


def test_lump_keeps_the_biggest_segments_and_folds_the_rest_into_other():
    d1, d2 = date(2026, 6, 1), date(2026, 6, 8)
    frame = _by_period([(d1, "a", 10), (d2, "a", 5), (d1, "b", 8), (d1, "c", 2), (d2, "d", 1), (d2, "c", 1)])
    folded, groups = lump(frame, top=2)
    assert groups == {OTHER: ("c", "d")}
    expected = _by_period([(d1, OTHER, 2), (d1, "a", 10), (d1, "b", 8), (d2, OTHER, 2), (d2, "a", 5)])
    assert_frame_equal(folded, expected, check_row_order=False)
    assert folded["submissions"].sum() == frame["submissions"].sum()


def test_lump_leaves_a_lone_small_segment_alone_rather_than_renaming_it():
    frame = _by_period([(date(2026, 6, 1), s, n) for s, n in (("a", 5), ("b", 4), ("c", 1))])
    folded, groups = lump(frame, top=2)
    assert groups == {}
    assert_frame_equal(folded, frame)


def test_clicking_other_selects_every_segment_it_stands_for():
    groups = {OTHER: ("c", "d")}
    assert segments_for([OTHER, "a"], groups) == ("a", "c", "d")
    assert segments_for([], groups) == ()
    assert segments_for(["(none)"], {}) == ("(none)",)


def test_like_pattern_matches_anywhere_and_escapes_wildcards():
    assert like_pattern("  pizza ") == "%pizza%"
    assert like_pattern("") == "" and like_pattern("   ") == ""
    assert like_pattern("50%_off\\") == "%50\\%\\_off\\\\%"


def test_a_lead_reference_is_an_id_when_numeric_and_an_external_id_otherwise():
    assert lead_keys(" 123 ") == {"lead_id": 123, "ref": "123"}
    assert lead_keys("fl-000123") == {"lead_id": -1, "ref": "fl-000123"}
    assert lead_keys(42) == {"lead_id": 42, "ref": "42"}
    assert lead_keys("  ") is None
    assert lead_keys("١٢٣")["lead_id"] == -1  # only ASCII digits make an id


def test_an_unknown_dimension_is_refused_with_the_choices():
    assert check_dimension("campaign") == "campaign"
    with pytest.raises(ValueError, match="channel, campaign, vertical"):
        check_dimension("owner; DROP TABLE leads")


def test_the_timeline_interleaves_stage_changes_and_activities_oldest_first():
    t = datetime(2026, 6, 1, 9, 0)
    stages = pl.DataFrame({"changed_at": [t, t.replace(day=3)], "from_status": [None, "new"],
                           "to_status": ["new", "mql"], "actor": ["system", "Ana"], "reason": ["form submitted", None]})
    activities = pl.DataFrame({"occurred_at": [t.replace(day=2)], "type": ["call"], "outcome": ["connected"],
                               "duration_min": [5], "rep": ["Ana"], "notes": [None]},
                              schema_overrides={"notes": pl.String})
    out = timeline(stages, activities)
    expected = pl.DataFrame({
        "at": [t, t.replace(day=2), t.replace(day=3)],
        "lane": ["new", "call", "mql"],
        "kind": ["stage change", "activity", "stage change"],
        "detail": ["– → new (system): form submitted", "call by Ana: connected", "new → mql (Ana)"],
    }, schema={"at": pl.Datetime("us"), "lane": pl.String, "kind": pl.String, "detail": pl.String})
    assert_frame_equal(out, expected)


def test_a_lead_without_history_has_an_empty_timeline():
    stages = pl.DataFrame(schema={"changed_at": pl.Datetime, "from_status": pl.String, "to_status": pl.String,
                                  "actor": pl.String, "reason": pl.String})
    activities = pl.DataFrame(schema={"occurred_at": pl.Datetime, "type": pl.String, "outcome": pl.String,
                                      "rep": pl.String})
    out = timeline(stages, activities)
    assert out.is_empty() and out.columns == ["at", "lane", "kind", "detail"]


def test_fields_reads_a_lead_row_as_labelled_text():
    lead = pl.DataFrame({"id": [7], "merchant_name": ["Joe's Pizza"], "email": [None], "monthly_volume": [12500.0],
                         "submitted_at": [datetime(2026, 6, 1, 9, 30)]}, schema_overrides={"email": pl.String})
    out = fields(lead)
    expected = pl.DataFrame({"field": ["Lead id", "Submitted", "Merchant", "Email", "Monthly volume (est.)"],
                             "value": ["7", "2026-06-01 09:30", "Joe's Pizza", "–", "$12,500"]})
    assert_frame_equal(out, expected)


def test_names_from_the_data_cannot_inject_markdown():
    assert md_escape("**Joe** [x](http://e.vil) $5") == r"\*\*Joe\*\* \[x\]\(http://e\.vil\) \$5"
    lead = pl.DataFrame({"id": [7], "merchant_name": ["A_B*"], "status": ["won"], "owner": [None]},
                        schema_overrides={"owner": pl.String})
    assert lead_title(lead) == r"**A\_B\*** · lead 7 · won · owner \(unassigned\)"
