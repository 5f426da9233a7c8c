from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from flashdash import deal_risk
from flashdash.deal_risk import MIN_SPELLS, calibration, reasons_for, score, stage_p75, with_signs

NOW = datetime(2026, 6, 30, 12, 0)
P75 = {"negotiation": {"p75": 18.0, "n": 40}, "proposal": {"p75": 10.0, "n": 40}}


def _points(**cols) -> pl.DataFrame:
    """Two open deals at NOW: the first quiet and stuck, the second busy and on time."""
    base = {
        "opportunity_id": [1, 2], "as_of": [NOW, NOW], "is_open": [True, True], "lead_id": [11, 12],
        "owner_id": [5, 5], "lost": [None, None], "stage": ["negotiation", "proposal"],
        "stage_since": [NOW - timedelta(days=41), NOW - timedelta(days=3)],
        "expected_close": [date(2026, 6, 1), date(2026, 8, 1)], "close_pushes": [2, 0], "contacts": [1, 3],
        "last_activity_at": [NOW - timedelta(days=20), NOW - timedelta(days=1)],
        "activities_30d": [1, 9], "email_engagements_30d": [0, 2],
    }
    return pl.DataFrame({**base, **cols}, schema_overrides={"lost": pl.Boolean})


def test_a_quiet_stuck_deal_shows_every_sign_and_a_busy_one_none() -> None:
    signs = with_signs(_points(), P75).select(deal_risk.SIGN_COLUMNS)
    assert signs.row(0) == (True, True, True, True, True)
    assert signs.row(1) == (False, False, False, False, False)


def test_a_stage_without_enough_history_is_not_judged_stalled_and_an_unknown_contact_count_is_not_single() -> None:
    signs = with_signs(_points(stage=["discovery", "proposal"], contacts=[None, 0]), P75)
    assert signs["stalled"].to_list() == [False, False]
    assert signs["single_contact"].to_list() == [False, True]


def test_a_deal_never_worked_counts_as_without_recent_activity() -> None:
    signs = with_signs(_points(last_activity_at=[None, NOW - timedelta(days=1)]), P75)
    assert signs["no_recent_activity"].to_list() == [True, False]
    assert signs["days_since_activity"][0] is None


def test_the_usual_time_in_a_stage_is_the_p75_of_completed_spells_before_the_cutoff() -> None:
    start = datetime(2025, 1, 1)
    days = list(range(1, MIN_SPELLS + 1))
    spells = pl.DataFrame({"opportunity_id": range(len(days) + 3),
                           "stage": ["proposal"] * len(days) + ["negotiation"] * 3,
                           "entered_at": [start] * (len(days) + 3),
                           "left_at": [start + timedelta(days=d) for d in days] + [start + timedelta(days=5)] * 3})
    got = stage_p75(spells)
    assert set(got) == {"proposal"}  # three negotiation spells are too few to say what is usual
    assert got["proposal"] == {"p75": pytest.approx(np.quantile(days, 0.75)), "n": MIN_SPELLS}
    assert stage_p75(spells, before=start + timedelta(days=10)) == {}


def test_reasons_read_as_sentences_with_the_usual_time_in_the_stage() -> None:
    row = with_signs(_points(), P75).row(0, named=True)
    reasons = reasons_for(row, P75, {"stalled": (0.6, 0.4)})
    assert reasons[0] == ("in negotiation 41 days; deals here usually move within 18 days (past deals with this "
                          "sign were lost 60% of the time, others 40%)")
    assert reasons[1] == "no activity on the lead for 20 days"
    assert reasons[2] == "expected close pushed 2 times; expected close 2026-06-01 has passed"
    assert reasons[3] == "only one contact engaged on the merchant's side"
    assert reasons[4] == "1 activity and no email opened, clicked or replied to in the last 30 days"


def test_without_a_usable_model_a_deal_gets_the_base_rate_and_a_level_by_its_number_of_signs() -> None:
    scored = score(with_signs(_points(), P75), None, 0.42, P75)
    assert scored["score"].to_list() == [0.42, 0.42]
    assert scored["level"].to_list() == ["high", "low"]
    assert scored["scored_by"][0].startswith("rule")
    assert scored["reasons"].list.len().to_list() == [5, 0]


def test_calibration_bins_cover_every_deal_once_in_order_of_prediction() -> None:
    p = np.linspace(0.05, 0.95, 23)
    y = (p > 0.5).astype(int)
    bins = calibration(y, p)
    assert sum(b["n"] for b in bins) == 23
    assert [b["predicted"] for b in bins] == sorted(b["predicted"] for b in bins)
    assert bins[0]["observed"] == 0 and bins[-1]["observed"] == 1
