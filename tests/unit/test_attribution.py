from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from flashdash.access import Actor
from flashdash.attribution import MODELS, AttributionError, attribute, by_dimension, weights
from flashdash.filters import Filters
from flashdash.store import Store

WON_AT = datetime(2026, 6, 1, 12, 0)


def _touches() -> pl.DataFrame:
    """Deal 1 ($1,000): submitted 14 days before the win from paid search, a call 7 days before, a meeting on the
    day. Deal 2 ($300): only its submission, from referral."""
    return pl.DataFrame({
        "opportunity_id": [1, 1, 1, 2], "amount": [1_000.0, 1_000.0, 1_000.0, 300.0], "won_at": [WON_AT] * 4,
        "touched_at": [WON_AT - timedelta(days=14), WON_AT - timedelta(days=7), WON_AT, WON_AT - timedelta(days=3)],
        "kind": ["submission", "activity", "activity", "submission"],
        "source": ["paid_search", "sales call", "sales meeting", "referral"],
        "campaign": ["spring", "(sales touch, no campaign)", "(sales touch, no campaign)", "(no campaign)"],
        "rep": ["(no rep: marketing)", "Ann", "Bob", "(no rep: marketing)"]})


def _credit(frame: pl.DataFrame, model: str) -> list[float]:
    return frame.filter(pl.col("opportunity_id") == 1).sort("touched_at")[f"w_{model}"].to_list()


def test_each_model_shares_a_deal_among_its_touches_as_its_rule_says() -> None:
    w = weights(_touches(), half_life_days=7)
    assert _credit(w, "first touch") == [1, 0, 0]
    assert _credit(w, "last touch") == [0, 0, 1]
    assert _credit(w, "linear") == pytest.approx([1 / 3] * 3)
    # a touch 7 days before the win weighs half one on the day, 14 days a quarter
    assert _credit(w, "time decay") == pytest.approx([0.25 / 1.75, 0.5 / 1.75, 1 / 1.75])


def test_a_longer_half_life_gives_early_touches_more_credit() -> None:
    short, long = (_credit(weights(_touches(), h), "time decay")[0] for h in (7, 30))
    assert long > short


def test_every_model_gives_out_exactly_the_won_revenue_in_every_dimension() -> None:
    frame = by_dimension(weights(_touches(), 7))
    totals = frame.group_by("dimension", "model").agg(pl.col("revenue").sum(), pl.col("share").sum())
    assert totals.height == 3 * len(MODELS)
    assert totals["revenue"].to_list() == pytest.approx([1_300.0] * totals.height)
    assert totals["share"].to_list() == pytest.approx([1.0] * totals.height)


def test_first_touch_credits_the_channel_and_last_touch_the_rep_who_closed() -> None:
    frame = by_dimension(weights(_touches(), 7))
    first = frame.filter((pl.col("dimension") == "source") & (pl.col("model") == "first touch"))
    assert dict(first.select("value", "revenue").iter_rows()) == {"paid_search": 1_000.0, "referral": 300.0}
    last = frame.filter((pl.col("dimension") == "rep") & (pl.col("model") == "last touch"))
    assert dict(last.select("value", "revenue").iter_rows()) == {"Bob": 1_000.0, "(no rep: marketing)": 300.0}
    assert last.filter(pl.col("value") == "Bob")["deals"].item() == 1


def test_no_won_deals_give_an_empty_frame_with_the_chart_columns() -> None:
    frame = by_dimension(weights(_touches().clear(), 7))
    assert frame.is_empty() and frame.columns == ["dimension", "value", "model", "revenue", "share", "deals", "touches"]


@pytest.mark.parametrize("half_life", [0, -3, float("nan"), "7"])
def test_a_half_life_that_is_not_a_positive_number_of_days_is_refused(half_life: object, tmp_path: Path) -> None:
    with pytest.raises(AttributionError, match="half-life"):
        attribute(Store(tmp_path / "none.duckdb"), Actor("a", "A", "admin"),
                  Filters(date(2026, 1, 1), date(2026, 6, 30)), half_life)  # type: ignore[arg-type]
