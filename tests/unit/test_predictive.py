from datetime import datetime

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flashdash.predictive import (
    band,
    baseline_scores,
    beats,
    calibration_bins,
    card_text,
    channel_rates,
    describe,
    evaluate,
    expected_calibration_error,
    factor_text,
    fallback_reason,
    label,
    lift_by_decile,
    split_out_of_time,
)


def test_ece_is_zero_when_each_bin_predicts_its_observed_rate():
    y = [0, 1, 0, 1, 1, 1, 1, 0]
    p = [0.5, 0.5, 0.5, 0.5, 0.75, 0.75, 0.75, 0.75]
    assert expected_calibration_error(y, p) == pytest.approx(0.0)


def test_ece_weights_each_bins_gap_by_its_count():
    # bin 0.1-0.2: 3 leads predicted 0.1, none won (gap 0.1); bin 0.9-1.0: 1 lead predicted 0.9, not won (gap 0.9)
    y = [0, 0, 0, 0]
    p = [0.1, 0.1, 0.1, 0.9]
    assert expected_calibration_error(y, p) == pytest.approx((3 * 0.1 + 1 * 0.9) / 4)


def test_calibration_bins_leave_out_empty_bins_and_count_leads():
    out = calibration_bins([0, 1, 1], [0.05, 0.95, 1.0])
    assert out["bin"].to_list() == [0, 9]  # p = 1.0 belongs to the top bin, not an eleventh
    assert out["count"].to_list() == [1, 2]
    assert out["observed"].to_list() == [0.0, 1.0]


def test_lift_puts_the_highest_scores_in_decile_one():
    p = np.linspace(1.0, 0.01, 20)  # descending: the first two leads are decile 1
    y = np.zeros(20)
    y[:2] = 1
    out = lift_by_decile(y, p)
    expected = pl.DataFrame({"decile": list(range(1, 11)), "leads": [2] * 10, "wins": [2] + [0] * 9},
                            schema={"decile": pl.Int64, "leads": pl.Int64, "wins": pl.Int64})
    assert_frame_equal(out.select("decile", "leads", "wins"), expected)
    assert out["lift"][0] == pytest.approx(10.0)  # a 100% rate against a 10% base rate
    assert out["lift"][1] == 0.0


def test_lift_of_an_uninformative_score_is_one_everywhere():
    out = lift_by_decile([1, 0] * 50, [0.3] * 100)
    assert out["lift"].to_list() == pytest.approx([1.0] * 10)


def test_evaluate_leaves_auc_undefined_with_a_single_outcome():
    m = evaluate([0, 0, 0], [0.1, 0.2, 0.3])
    assert m["auc"] is None and m["brier"] == pytest.approx((0.01 + 0.04 + 0.09) / 3)


def test_a_model_must_beat_the_baseline_auc_by_a_margin_without_a_worse_brier():
    base = {"auc": 0.70, "brier": 0.10}
    assert beats({"auc": 0.72, "brier": 0.09}, base)
    assert not beats({"auc": 0.705, "brier": 0.09}, base)  # within the margin
    assert not beats({"auc": 0.80, "brier": 0.11}, base)  # ranks better, calibrated worse
    assert not beats({"auc": None, "brier": 0.09}, base)


def _train_frame():
    return pl.DataFrame({"channel": ["web", "web", "web", "web", "referral", "referral"],
                         "label": [1, 0, 0, 0, 1, 1]})


def test_the_baseline_rule_scores_a_lead_with_its_channels_training_rate():
    rates = channel_rates(_train_frame())
    assert_frame_equal(rates, pl.DataFrame({"channel": ["referral", "web"], "leads": [2, 4], "wins": [2, 1],
                                            "rate": [1.0, 0.25]}))
    leads = pl.DataFrame({"channel": ["web", "social", "referral"]})
    assert baseline_scores(leads, rates, overall=0.5).to_list() == [0.25, 0.5, 1.0]  # unseen: the overall rate


def test_bands_compare_a_probability_with_the_base_rate():
    assert band(0.16, 0.10) == "high"
    assert band(0.10, 0.10) == "medium"
    assert band(0.06, 0.10) == "low"
    assert band(None, 0.10) == "unknown"


def test_factor_text_names_the_top_two_raising_and_the_top_lowering_feature():
    contrib = {"interest_level": 1.2, "channel": 0.4, "vertical": 0.1, "first_response": -0.7, "region": -0.2}
    labels = {"interest_level": "interest level hot", "channel": "channel referral",
              "first_response": "no response yet"}
    up, down = factor_text(contrib, labels)
    assert up == "interest level hot (×3.32 odds); channel referral (×1.49 odds)"
    assert down == "no response yet (×0.50 odds)"


def test_factor_text_leaves_out_contributions_too_small_to_matter():
    up, down = factor_text({"channel": 0.01, "region": -0.02}, {})
    assert (up, down) == ("", "")


def test_features_read_as_a_person_would_say_them():
    row = {"interest_level": "hot", "has_campaign": 1.0, "monthly_volume": 25_000.0, "response_hours": None,
           "calls_7d": 1.0, "demos_7d": 2.0}
    assert describe("interest_level", row) == "interest level hot"
    assert describe("has_campaign", row) == "from a campaign"
    assert describe("monthly_volume", row) == "monthly volume $25k"
    assert describe("first_response", row) == "no response in week 1"
    assert describe("calls_7d", row) == "1 call in week 1"
    assert describe("demos_7d", row) == "2 demos in week 1"


def test_a_lead_is_labelled_won_only_within_the_horizon_and_only_when_old_enough():
    t = datetime(2026, 1, 1)
    frame = pl.DataFrame({
        "id": [1, 2, 3, 4],
        "submitted_at": [t, t, t, datetime(2026, 3, 1)],
        "won_at": [datetime(2026, 3, 1), datetime(2026, 8, 1), None, None],
    })
    out = label(frame, cutoff=datetime(2026, 2, 1), horizon_days=120)
    assert out["id"].to_list() == [1, 2, 3]  # lead 4 is too young to know its outcome
    assert out["label"].to_list() == [1, 0, 0]  # lead 2 was won, but after 120 days


def test_the_out_of_time_split_never_puts_a_test_lead_before_a_training_lead():
    ts = [datetime(2026, 1, d) for d in (1, 2, 3, 3, 3, 4, 5, 6)]
    frame = pl.DataFrame({"id": range(8), "submitted_at": ts})
    train, test = split_out_of_time(frame, 0.25)
    assert train["submitted_at"].max() < test["submitted_at"].min()
    assert train.height + test.height == 8


def _card(**over):
    card = {"model": "conversion", "trained_at": "2026-06-30T00:00:00", "label": "won within 120 days of submission",
            "status": "ok", "reason": None, "beats_baseline": True,
            "metrics": {"auc": 0.71, "brier": 0.081, "log_loss": 0.3, "ece": 0.012},
            "baseline_metrics": {"auc": 0.62, "brier": 0.09, "log_loss": 0.33, "ece": 0.02},
            "train": {"n": 1200, "positive_rate": 0.1, "start": "2025-01-01T00:00:00", "end": "2025-09-30T10:00:00"},
            "test": {"n": 400, "positive_rate": 0.11, "start": "2025-10-01T00:00:00", "end": "2026-01-01T00:00:00"},
            "labelled": {"n": 1600, "positive_rate": 0.1, "start": "2025-01-01T00:00:00",
                         "end": "2026-01-01T00:00:00"},
            "importance": [{"label": "interest level"}, {"label": "channel"}, {"label": "first response"}]}
    return {**card, **over}


def test_card_text_prints_one_figure_per_line():
    lines = card_text(_card()).splitlines()
    assert "AUC 0.710" in lines and "Brier 0.0810" in lines and "Baseline AUC 0.620" in lines
    assert "Train 1,200 leads 2025-01-01..2025-09-30 (won 10.0%)" in lines
    assert "Top features interest level, channel, first response" in lines


def test_card_text_of_a_data_starved_model_shows_the_reason_and_no_metrics():
    text = card_text(_card(status="insufficient_data", reason="only 40 leads are old enough", metrics=None,
                           labelled={"n": 40, "positive_rate": 0.05, "start": "2025-01-01", "end": "2025-02-01"}))
    assert "Status insufficient_data: only 40 leads are old enough" in text
    assert "Labelled 40 leads 2025-01-01..2025-02-01 (won 5.0%)" in text.splitlines()
    assert "AUC" not in text and "Train" not in text


def test_scores_fall_back_with_a_reason_unless_a_model_beats_its_baseline():
    assert fallback_reason(_card()) is None
    assert "No conversion model has been trained" in fallback_reason(None)
    assert "lacks data" in fallback_reason(_card(status="insufficient_data", reason="x"))
    assert "does not beat" in fallback_reason(_card(beats_baseline=False))


def _frame(n: int, pages: list[str], labels: list[int]) -> pl.DataFrame:
    from flashdash.predictive import CATEGORICAL, NUMERIC

    base = {c: ["(none)"] * n for c in CATEGORICAL} | {c: [0.0] * n for c in NUMERIC}
    return pl.DataFrame({**base, "landing_page": pages, "label": labels})


def test_a_landing_page_seen_once_cannot_carry_its_own_outcome_into_the_model():
    # Every lead has a page of its own. A plain win-rate encoding would hand the model each lead's label;
    # cross-fitted, a page never seen in the other folds is only the overall rate: no signal to learn.
    from flashdash.predictive import _x, build_pipeline, importance

    rng = np.random.default_rng(0)
    labels = (rng.random(400) < 0.3).astype(int).tolist()
    frame = _frame(400, [f"lp-{i}" for i in range(400)], labels)
    pipe = build_pipeline().fit(_x(frame), frame["label"].to_numpy())
    weights = dict(importance(pipe, frame).select("feature", "importance").iter_rows())
    assert weights["landing_page"] < 0.05


def test_a_landing_page_that_converts_is_learned_and_named_as_a_factor():
    from flashdash.predictive import _x, build_pipeline, contributions

    pages = ["lp-good", "lp-poor"] * 200
    labels = [1, 0] * 100 + [0, 0] * 100  # lp-good wins half the time, lp-poor never
    frame = _frame(400, pages, labels)
    pipe = build_pipeline().fit(_x(frame), frame["label"].to_numpy())
    contrib = contributions(pipe, frame.head(2))
    assert "landing_page" in contrib.columns
    assert contrib["landing_page"][0] > 0 > contrib["landing_page"][1]
    assert describe("landing_page", {"landing_page": "lp-good"}) == "landing page lp-good"


def test_a_model_saved_before_the_landing_page_feature_still_explains_its_scores():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from flashdash.predictive import CATEGORICAL, NUMERIC, _x, contributions

    old = Pipeline([("prep", ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(CATEGORICAL)),
         ("num", SimpleImputer(strategy="median", keep_empty_features=True), list(NUMERIC))], sparse_threshold=0.0)),
        ("scale", StandardScaler()), ("model", LogisticRegression())])
    frame = _frame(40, ["lp"] * 40, [0, 1] * 20).with_columns(channel=pl.Series(["a", "b"] * 20))
    old.fit(_x(frame), frame["label"].to_numpy())
    contrib = contributions(old, frame.head(2))
    assert "landing_page" not in contrib.columns and contrib["channel"][1] > 0 > contrib["channel"][0]
