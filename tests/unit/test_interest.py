from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flashdash.interest import LEVELS, focus, maturity_note, segment_order, with_shares, with_wilson


def test_the_wilson_interval_matches_the_textbook_values():
    frame = pl.DataFrame({"won": [5, 0, 10, 0], "leads": [10, 10, 10, 0]})
    out = with_wilson(frame)
    assert out["rate"].to_list()[:3] == [0.5, 0.0, 1.0]
    assert out["lo"][0] == pytest.approx(0.2366, abs=1e-4) and out["hi"][0] == pytest.approx(0.7634, abs=1e-4)
    # no successes: the lower end is exactly 0 and the upper end z²/(n+z²)
    assert out["lo"][1] == 0.0 and out["hi"][1] == pytest.approx(3.8415 / 13.8415, abs=1e-4)
    assert out["hi"][2] == 1.0 and out["lo"][2] == pytest.approx(1 - 3.8415 / 13.8415, abs=1e-4)
    # no leads: no rate and no interval, rather than a division by zero
    assert out.row(3) == (0, 0, None, None, None)


def test_the_interval_narrows_as_the_sample_grows():
    out = with_wilson(pl.DataFrame({"won": [2, 200], "leads": [10, 1000]}))
    widths = (out["hi"] - out["lo"]).to_list()
    assert widths[1] < widths[0] / 5
    assert all(lo <= r <= hi for lo, r, hi in out.select("lo", "rate", "hi").iter_rows())


def test_shares_are_fractions_of_their_group():
    frame = pl.DataFrame({"segment": ["a", "a", "b"], "level": ["hot", "cold", "hot"], "leads": [1, 3, 0]})
    out = with_shares(frame, ["segment"])
    assert_frame_equal(out, frame.with_columns(share=pl.Series([0.25, 0.75, None])))


def test_segments_are_ordered_hottest_first():
    dist = with_shares(pl.DataFrame({
        "dimension": ["channel"] * 4 + ["region"],
        "segment": ["email", "email", "referral", "referral", "West"],
        "level": ["hot", "cold", "hot", "cold", "hot"],
        "leads": [1, 9, 4, 4, 3],
    }), ["dimension", "segment"])
    assert segment_order(dist, "channel") == ["referral", "email"]


def _data() -> dict:
    conversion = pl.DataFrame({
        "level": ["hot", "hot", "cold", "unknown"],
        "channel": ["referral", "email", "email", "email"],
        "leads": [10, 5, 20, 2], "won": [4, 1, 1, 0], "open": [2, 1, 3, 0],
    })
    trend = pl.DataFrame({"period": [date(2026, 6, 1)] * 3, "level": ["cold", "hot", "unknown"],
                          "leads": [20, 15, 2]})
    return {"conversion": conversion, "trend": trend}


def test_with_no_level_clicked_the_page_shows_every_level_as_shares():
    view = focus(_data())
    assert view["levels"] == () and view["normalize"]
    assert view["by_level"]["level"].to_list() == list(LEVELS)
    assert view["by_level"].filter(pl.col("level") == "warm").row(0, named=True)["leads"] == 0
    assert view["by_level"]["picked"].all()
    by_channel = {r["channel"]: (r["leads"], r["won"]) for r in view["by_channel"].iter_rows(named=True)}
    assert by_channel == {"referral": (10, 4), "email": (27, 2)}


def test_clicking_a_level_narrows_the_trend_and_the_channel_conversion_to_it():
    view = focus(_data(), ["hot", "nonsense"])
    assert view["levels"] == ("hot",) and not view["normalize"]
    assert view["trend"]["level"].to_list() == ["hot"]
    assert view["by_level"].filter("picked")["level"].to_list() == ["hot"]
    by_channel = {r["channel"]: (r["leads"], r["won"]) for r in view["by_channel"].iter_rows(named=True)}
    assert by_channel == {"referral": (10, 4), "email": (5, 1)}
    assert view["by_channel"]["channel"].to_list() == ["referral", "email"]  # highest rate first


def test_the_maturity_note_says_how_much_is_still_to_come():
    note = maturity_note(0.23, 41.0, 120)
    assert "23% of them are still open" in note and "median of 41 days" in note and "120 wins" in note
    assert "Wilson" in note
    assert "median" not in maturity_note(None, None, 0)


def test_a_period_whose_leads_all_lack_a_level_has_no_levels_to_compare():
    from flashdash.interest import has_levels

    assert not has_levels({"leads": 400, "level_share": {"cold": 0.0, "warm": 0.0, "hot": 0.0, "unknown": 1.0}})
    assert has_levels({"leads": 400, "level_share": {"cold": 0.5, "warm": 0.0, "hot": 0.0, "unknown": 0.5}})
    assert not has_levels({"leads": 0, "level_share": {"unknown": None}})


def test_the_maturity_note_of_data_that_ended_long_ago_says_the_rates_are_final():
    from datetime import date

    note = maturity_note(0.89, 14.0, 842, compare="channels", ended=date(2018, 11, 14))
    assert "ends on Nov 14, 2018" in note and "final" in note and "will rise" not in note
    assert "compare channels with each other" in note
