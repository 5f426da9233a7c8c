import polars as pl
from polars.testing import assert_frame_equal

from flashdash.funnel import STEP_ORDER, fates, segment_steps, segment_table, stage_table

# segment, furthest stage reached (1 new .. 5 won), outcome now, leads
COUNTS = pl.DataFrame(
    {"segment": ["a", "a", "a", "a", "b", "b"], "stage": [1, 2, 4, 5, 1, 3],
     "outcome": ["open", "disqualified", "lost", "won", "disqualified", "open"], "leads": [10, 5, 3, 2, 4, 1]},
    schema={"segment": pl.String, "stage": pl.Int32, "outcome": pl.String, "leads": pl.Int64},
)


def test_a_lead_counts_at_every_stage_up_to_the_furthest_it_reached():
    out = stage_table(COUNTS).select("stage", "reached", "conversion", "share_of_new")
    expected = pl.DataFrame({"stage": ["New", "MQL", "SQL", "Opportunity", "Won"], "reached": [25, 11, 6, 5, 2],
                             "conversion": [None, 11 / 25, 6 / 11, 5 / 6, 2 / 5],
                             "share_of_new": [1.0, 11 / 25, 6 / 25, 5 / 25, 2 / 25]})
    assert_frame_equal(out, expected)


def test_drop_off_is_counted_at_the_stage_where_the_lead_was_lost_or_disqualified():
    out = stage_table(COUNTS).select("stage", "lost", "disqualified", "still_open", "drop_rate")
    expected = pl.DataFrame({"stage": ["New", "MQL", "SQL", "Opportunity", "Won"], "lost": [0, 0, 0, 3, 0],
                             "disqualified": [4, 5, 0, 0, 0], "still_open": [10, 0, 1, 0, 0],
                             "drop_rate": [4 / 25, 5 / 11, 0.0, 3 / 5, 0.0]})
    assert_frame_equal(out, expected)


def test_every_lead_at_a_stage_moved_on_dropped_or_is_still_there():
    stages = stage_table(COUNTS)
    per_stage = fates(stages).group_by("stage", maintain_order=True).agg(pl.col("leads").sum())
    assert_frame_equal(per_stage, stages.filter(pl.col("stage") != "Won").select("stage", leads="reached"))


def test_no_leads_still_gives_the_five_stages_with_no_conversion():
    out = stage_table(COUNTS.clear())
    assert out["reached"].to_list() == [0] * 5 and out["conversion"].null_count() == 5


def test_segments_get_their_own_step_conversions_and_a_stage_no_lead_reached_has_none():
    steps = segment_steps(COUNTS)
    b = dict(steps.filter(pl.col("segment") == "b").select("step", "conversion").iter_rows())
    assert b == {STEP_ORDER[0]: 1 / 5, STEP_ORDER[1]: 1.0, STEP_ORDER[2]: 0.0, STEP_ORDER[3]: None,
                 "New → Won": 0.0}
    wide = segment_table(steps)
    assert wide.columns == ["segment", "leads", *STEP_ORDER]
    assert wide["segment"].to_list() == ["a", "b"]  # biggest first
    assert wide.row(0, named=True)["New → Won"] == 2 / 20
