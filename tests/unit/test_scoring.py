"""The scoring engine on tiny hand-built frames: rules (parsing, validation, evaluation), the blend, the
breakdown that sums to the score, and the choice of a vertical model."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from flashdash import predictive, scoring
from flashdash.scoring import (
    FIELDS,
    OPS,
    SETTINGS,
    STARTER_RULES,
    Context,
    Rule,
    ScoringError,
    factors,
    model_steps,
    parse_rules,
    parse_setting,
    rule_facts,
    rule_matches,
    score_frame,
    waterfall,
)

NOW = datetime(2026, 6, 30, 12, 0)


def lead(**over) -> dict:
    """One row shaped like pred_lead_features, a plain lead unless told otherwise."""
    row = {"id": 1, "team_id": 1, "merchant_name": "Shop", "status": "new", "submitted_at": NOW - timedelta(days=3),
           "interest_level": "warm", "channel": "referral", "vertical": "retail", "company_size": "11-50",
           "region": "West", "landing_page": "/pricing", "has_campaign": 1.0, "log_volume": math.log1p(60_000),
           "monthly_volume": 60_000.0, "response_hours": 2.0, "log_response_hours": math.log1p(2.0),
           "response_missing": 0.0, "calls_7d": 1.0, "emails_7d": 0.0, "meetings_7d": 0.0, "demos_7d": 0.0,
           "phone": "555-0100", "language": "en", "city": "Denver", "campaign": "spring",
           "budget_confirmed": False, "first_response_at": NOW - timedelta(days=3) + timedelta(hours=2),
           "email": "ann@shop.com", "all_calls": 2, "all_emails": 1, "all_meetings": 0, "all_demos": 0}
    return {**row, **over}


def leads(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema_overrides={"team_id": pl.Int64, "monthly_volume": pl.Float64,
                                                      "phone": pl.String, "email": pl.String, "city": pl.String,
                                                      "first_response_at": pl.Datetime("us")})


def rule(field: str, op: str, value, points: float = 10.0, team_id: int | None = None, active: bool = True) -> Rule:
    return Rule(f"{field} {op}", field, op, value, points, active, team_id)


def matched(frame: pl.DataFrame, *rules: Rule) -> list[list[bool]]:
    return rule_matches(rule_facts(frame, NOW), rules).tolist()


# ---------------------------------------------------------------- settings


def test_a_setting_takes_a_number_within_its_bounds_and_whole_numbers_where_it_counts_things():
    weight, horizon = SETTINGS[scoring.MODEL_WEIGHT_SETTING], SETTINGS[predictive.HORIZON_SETTING]
    assert parse_setting(weight, "0.5") == (0.5, None)
    assert parse_setting(horizon, 90.0) == (90, None)
    assert "between 0 and 1" in parse_setting(weight, 1.5)[1]
    assert "whole number" in parse_setting(horizon, "90.5")[1]
    assert "must be a number" in parse_setting(weight, True)[1]
    assert "must be a number" in parse_setting(weight, "lots")[1]


def test_the_defaults_are_a_90_day_horizon_1000_leads_100_wins_and_a_model_weight_of_0_7():
    assert {k: s.default for k, s in SETTINGS.items()} == {
        "scoring.horizon_days": 90, "scoring.min_vertical_leads": 1000, "scoring.min_vertical_wins": 100,
        "scoring.model_weight": 0.7}


# ---------------------------------------------------------------- parsing rules


def test_editor_rows_parse_into_typed_values_whether_json_or_plain_text():
    parsed = parse_rules([
        {"label": "Hot", "field": "interest_level", "op": "eq", "value": "hot", "points": 20},
        {"label": "Targets", "field": "vertical", "op": "in", "value": "restaurants, Retail", "points": "15"},
        {"label": "Big", "field": "monthly_volume", "op": "gte", "value": "50000", "points": 10},
        {"label": "Webmail", "field": "free_mail", "op": "eq", "value": "true", "points": -10, "active": "false"},
        {"label": "Campaign 2024", "field": "campaign", "op": "eq", "value": "2024", "points": 5},
        {"label": "Channels", "field": "channel", "op": "not_in", "value": '["display", "social"]', "points": 5},
        {"label": "Phone", "field": "has_phone", "op": "is_set", "value": "left over", "points": 1},
    ])
    assert [(r.field, r.value) for r in parsed] == [
        ("interest_level", "hot"), ("vertical", ["restaurants", "Retail"]), ("monthly_volume", 50000),
        ("free_mail", True), ("campaign", "2024"), ("channel", ["display", "social"]), ("has_phone", None)]
    assert parsed[1].points == 15.0 and parsed[3].active is False and parsed[0].active is True


def test_every_problem_is_named_with_its_row_and_nothing_is_returned():
    with pytest.raises(ScoringError) as err:
        parse_rules([
            {"label": "ok", "field": "interest_level", "op": "eq", "value": "hot", "points": 20},
            {"label": "x", "field": "shoe_size", "op": "eq", "value": "9", "points": 5},
            {"label": "x", "field": "monthly_volume", "op": "contains", "value": "5", "points": 5},
            {"label": "x", "field": "monthly_volume", "op": "gte", "value": "50k", "points": 5},
            {"label": "x", "field": "interest_level", "op": "gte", "value": "lukewarm", "points": 500},
            {"label": "x", "field": "vertical", "op": "in", "value": "", "points": 5},
            {"label": "x", "field": "budget_confirmed", "op": "eq", "value": "maybe", "points": "ten"},
        ])
    text = str(err.value)
    assert text.startswith("The rules were not saved: ")
    assert "row 1" not in text
    assert "row 2: field 'shoe_size' is not one of vertical" in text
    assert "row 3: monthly_volume takes the operators eq, ne, gte, lte, is_set, is_missing (got 'contains')" in text
    assert "row 4: monthly_volume takes a number (got '50k')" in text
    assert "row 5: interest_level is one of cold, warm, hot (got 'lukewarm')" in text
    assert "row 5: points must be between -100 and 100 (got 500)" in text
    assert "row 6: in needs a value" in text
    assert "row 7: budget_confirmed takes true or false (got 'maybe')" in text
    assert "row 7: points must be a number (got 'ten')" in text


def test_blank_editor_rows_are_skipped_and_a_missing_label_is_written_from_the_condition():
    parsed = parse_rules([{"label": "", "field": "interest_level", "op": "in", "value": "warm,hot", "points": 10},
                          {"label": None, "field": None, "op": None, "value": None, "points": None}])
    assert len(parsed) == 1 and parsed[0].label == "Interest level is one of warm, hot"


def test_the_starter_rules_survive_the_editor_round_trip():
    frame = scoring.rules_frame(STARTER_RULES, "starter")
    again = parse_rules(frame.select("label", "field", "op", "value", "points", "active"))
    assert again == list(STARTER_RULES)
    assert set(frame["source"]) == {"starter"}
    assert "Free-mail address" in frame["label"].to_list() and frame["condition"][0] == "interest level is hot"


def test_every_field_the_brief_names_can_be_tested_and_every_operator_exists():
    named = {"vertical", "channel", "interest_level", "company_size", "region", "language", "city", "campaign",
             "landing_page", "monthly_volume", "email_domain", "free_mail", "has_phone", "budget_confirmed", "calls",
             "emails", "meetings", "demos", "days_since_submitted", "first_response_hours"}
    assert named == set(FIELDS)
    assert {op for ops in OPS.values() for op in ops} == {"eq", "ne", "in", "not_in", "gte", "lte", "contains",
                                                          "is_set", "is_missing"}


# ---------------------------------------------------------------- evaluating rules


def test_facts_derive_the_email_domain_free_mail_phone_and_ages():
    frame = leads(lead(email="Ann@Gmail.com ", phone=" "), lead(id=2, email=None, vertical="(none)",
                                                                 first_response_at=None))
    facts = rule_facts(frame, NOW)
    assert facts["email_domain"].to_list() == ["gmail.com", None]
    assert facts["free_mail"].to_list() == [True, None]
    assert facts["has_phone"].to_list() == [False, True]
    assert facts["vertical"].to_list() == ["retail", None]  # "(none)" is missing, not a vertical
    assert facts["days_since_submitted"][0] == pytest.approx(3.0)
    assert facts["first_response_hours"].to_list() == [pytest.approx(2.0), None]
    assert facts["calls"].to_list() == [2.0, 2.0]  # every call so far, not just the first week's


def test_each_operator_tests_the_value_and_text_ignores_case():
    frame = leads(lead(vertical="Retail", monthly_volume=60_000.0, interest_level="warm", landing_page="/pricing-b"))
    assert matched(frame, rule("vertical", "eq", "retail"), rule("vertical", "ne", "retail"),
                   rule("vertical", "in", ["food", "RETAIL"]), rule("vertical", "not_in", ["retail"]),
                   rule("landing_page", "contains", "PRICING"), rule("monthly_volume", "gte", 60_000),
                   rule("monthly_volume", "lte", 59_999), rule("interest_level", "gte", "warm"),
                   rule("interest_level", "lte", "cold"), rule("budget_confirmed", "eq", False),
                   rule("city", "is_set", None), rule("city", "is_missing", None)) == [
        [True, False, True, False, True, True, False, True, False, True, True, False]]


def test_a_lead_missing_the_value_meets_only_ne_not_in_and_is_missing():
    frame = leads(lead(vertical="(none)", monthly_volume=None))
    assert matched(frame, rule("vertical", "eq", "retail"), rule("vertical", "ne", "retail"),
                   rule("vertical", "in", ["retail"]), rule("vertical", "not_in", ["retail"]),
                   rule("vertical", "contains", "r"), rule("vertical", "is_set", None),
                   rule("vertical", "is_missing", None), rule("monthly_volume", "gte", 0),
                   rule("monthly_volume", "lte", 1e12)) == [[False, True, False, True, False, False, True, False,
                                                              False]]


def test_a_teams_rules_count_for_its_own_leads_only_and_inactive_rules_for_none():
    frame = leads(lead(id=1, team_id=1), lead(id=2, team_id=2), lead(id=3, team_id=None))
    out = matched(frame, rule("channel", "eq", "referral", team_id=1), rule("channel", "eq", "referral"),
                  rule("channel", "eq", "referral", active=False))
    assert out == [[True, True], [False, True], [False, True]]  # the inactive rule is not even a column


# ---------------------------------------------------------------- blend and breakdown


def test_the_model_steps_sum_exactly_to_the_models_share_and_the_largest_feature_goes_first():
    contrib = np.array([[0.5, -2.0, 0.1], [0.0, 0.0, 0.0]])
    base, steps, p, share = model_steps(-2.0, contrib, 0.7)  # no quantiles kept: the share follows the probability
    assert p[0] == pytest.approx(1 / (1 + np.exp(-(-2.0 + 0.5 - 2.0 + 0.1))))
    assert base + steps.sum(axis=1) == pytest.approx(70 * p, abs=1e-12) and share == pytest.approx(70 * p)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert steps[0, 1] == pytest.approx(70 * (sig(-4.0) - sig(-2.0)))  # -2.0 applied first, from the base
    assert steps[1].tolist() == [0.0, 0.0, 0.0] and p[1] == pytest.approx(sig(-2.0))


def test_with_the_training_percentiles_the_share_is_the_leads_standing_among_the_training_leads():
    quantiles = np.linspace(-4.0, 0.0, 101)  # training log-odds spread evenly from -4 to 0
    base, steps, p, share = model_steps(-2.0, np.array([[1.0, 0.5], [-9.0, 0.0]]), 0.7, quantiles)
    assert base == pytest.approx(35.0)  # the average lead stands in the middle
    assert share[0] == pytest.approx(70 * 3.5 / 4) and share[1] == 0.0  # below every training lead: 0
    assert base + steps.sum(axis=1) == pytest.approx(share, abs=1e-12)
    assert p[0] == pytest.approx(1 / (1 + math.exp(0.5)))  # the probability is still the model's


def test_the_breakdown_caps_the_rule_points_and_sums_to_the_score():
    items = factors(10.0, [("interest hot", 20.0), ("tiny", 0.01), ("tinier", -0.02)],
                    [("Hot", 80.0), ("Target", 40.0)], raw_rule_points=120.0, weight=0.7)
    assert [i["kind"] for i in items] == ["base", "model", "model", "rule", "rule", "cap"]
    assert items[2] == {"factor": "2 smaller model factors", "points": pytest.approx(-0.01), "kind": "model"}
    assert items[-1]["factor"] == "rule points capped at 100" and items[-1]["points"] == pytest.approx(-6.0)
    assert sum(i["points"] for i in items) == pytest.approx(10.0 + 20.0 - 0.01 + 0.3 * 100)


def test_without_a_model_the_rules_alone_make_the_score_with_a_floor_at_zero():
    items = factors(None, [], [("No phone", -10.0), ("Free mail", -10.0)], raw_rule_points=-20.0, weight=0.7)
    assert [(i["factor"], i["points"]) for i in items] == [
        ("No phone", -10.0), ("Free mail", -10.0), ("rule points floored at 0", 20.0)]
    assert scoring.blend(None, 0.0, 0.7) == 0.0 and scoring.blend(0.2, 50.0, 0.7) == pytest.approx(29.0)
    assert scoring.blend(0.5, 40.0, 0.7) == pytest.approx(47.0)  # a typical lead with 40 rule points


def test_the_waterfall_starts_each_bar_where_the_last_ended():
    frame = waterfall([{"factor": "a", "points": 5.0, "kind": "base"}, {"factor": "b", "points": -2.0},
                       {"factor": "c", "points": 3.0, "kind": "rule"}])
    assert frame.select("start", "end").rows() == [(0.0, 5.0), (5.0, 3.0), (3.0, 6.0)]
    assert frame["kind"].to_list() == ["base", "", "rule"]
    assert waterfall([]).columns == ["factor", "points", "start", "end", "kind"]


def _fitted(n: int = 600) -> tuple[pl.DataFrame, object]:
    rng = np.random.default_rng(3)
    hot = rng.random(n) < 0.3
    won = rng.random(n) < np.where(hot, 0.4, 0.05)
    rows = [lead(id=i, interest_level="hot" if h else "cold", label=int(w)) for i, (h, w) in enumerate(zip(hot, won, strict=True))]
    frame = leads(*rows)
    return frame, predictive.build_pipeline().fit(predictive._x(frame), frame["label"].to_numpy())


def _context(pipe, rules: list[Rule], weight: float = 0.7) -> Context:
    card = {"id": 7, "train": {"positive_rate": 0.15}}
    rates = pl.DataFrame({"channel": ["referral"], "leads": [10], "wins": [2], "rate": [0.2]},
                         schema=predictive.RATES_SCHEMA)
    return Context(card if pipe else None, pipe, None if pipe else "none", {}, rates, 0.1, rules, weight)


def test_a_scored_lead_splits_exactly_into_its_factors_and_keeps_its_probability():
    frame, pipe = _fitted()
    rules = [rule("interest_level", "eq", "hot", 60.0), rule("channel", "eq", "referral", 50.0)]
    out = score_frame(frame.head(5), _context(pipe, rules), NOW)
    p = predictive.predict(pipe, frame.head(5))
    assert out["probability"].to_list() == pytest.approx(p.tolist(), abs=1e-12)
    for row in out.iter_rows(named=True):
        items = json.loads(row["factors"])
        assert sum(i["points"] for i in items) == pytest.approx(row["score"], abs=1e-9)
        assert row["score"] == pytest.approx(70 * row["probability"] + 0.3 * row["rule_points"], abs=1e-9)
        assert row["model_key"] == "global" and row["card_id"] == 7 and row["scored_by"] == "model"
    hot = out.filter(pl.col("interest_level") == "hot").row(0, named=True)
    assert hot["rule_points"] == 100.0 and any(i["kind"] == "cap" for i in json.loads(hot["factors"]))
    assert "odds" in (hot["raises"] or "") + (hot["lowers"] or "")


def test_without_a_usable_model_the_weight_is_zero_and_the_probability_is_the_channels_rate():
    frame, _ = _fitted()
    out = score_frame(frame.head(3), _context(None, [rule("channel", "eq", "referral", 25.0)]), NOW)
    assert out["score"].to_list() == [25.0] * 3 and out["probability"].to_list() == [0.2] * 3
    assert out["model_key"].to_list() == [None] * 3 and set(out["scored_by"]) == {"baseline rule"}
    assert json.loads(out["factors"][0]) == [{"factor": "channel eq", "points": 25.0, "kind": "rule"}]


def test_factor_texts_and_breakdowns_cover_only_the_leads_asked_for():
    frame, pipe = _fitted()
    out = score_frame(frame.head(4), _context(pipe, []), NOW, explained=2)
    assert out["factors"].is_null().to_list() == [False, False, True, True]
    assert out["score"].is_null().sum() == 0


# ---------------------------------------------------------------- choosing a vertical's model


def _labelled(n: int, vertical: str, reversed_interest: bool, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    hot = rng.random(n) < 0.4
    good = ~hot if reversed_interest else hot
    won = rng.random(n) < np.where(good, 0.35, 0.04)
    start = datetime(2024, 1, 1)
    return leads(*[lead(id=seed * 100_000 + i, vertical=vertical, interest_level="hot" if h else "cold",
                        submitted_at=start + timedelta(days=600 * i / n, hours=seed), label=int(w))
                   for i, (h, w) in enumerate(zip(hot, won, strict=True))])


def test_a_vertical_that_behaves_differently_gets_its_own_model_and_a_small_one_does_not():
    labelled = pl.concat([_labelled(3000, "retail", False, 1), _labelled(1400, "bakery", True, 2),
                          _labelled(300, "florist", True, 3), _labelled(300, "(none)", False, 4)])
    fitted = predictive.fit_all(labelled, NOW, 90, min_leads=500, min_wins=50)
    card = fitted[0][0]
    decisions = {v["vertical"]: v for v in card["verticals"]}
    assert set(decisions) == {"retail", "bakery", "florist"}  # "(none)" is no vertical
    assert decisions["bakery"]["used"] and decisions["bakery"]["reason"].startswith("used: AUC")
    assert decisions["bakery"]["auc"] > decisions["bakery"]["global_auc"] + 0.01
    assert not decisions["florist"]["used"] and "only" in decisions["florist"]["reason"]
    assert decisions["florist"]["reason"].endswith("(a vertical model needs 500)")
    assert not decisions["retail"]["used"] and "does not beat the global model" in decisions["retail"]["reason"]
    bakery = next(c for c, _ in fitted if c.get("vertical") == "bakery")
    assert bakery["model"] == "conversion:vertical=bakery" and bakery["train"]["end"] < bakery["test"]["start"]
    assert bakery["test"]["start"] >= card["test"]["start"]  # judged on the global model's test period


def test_the_thresholds_and_the_verdict_say_why_a_vertical_has_no_model():
    train = pl.DataFrame({"label": [1] * 20 + [0] * 980})
    both, one = pl.DataFrame({"label": [0, 1]}), pl.DataFrame({"label": [0, 0]})
    assert predictive.vertical_insufficiency(train, both, 1000, 20) is None
    assert "only 1,000 training leads (a vertical model needs 1,001)" in predictive.vertical_insufficiency(
        train, both, 1001, 20)
    assert "only 20 of its training leads were won" in predictive.vertical_insufficiency(train, both, 1000, 21)
    assert "only one outcome" in predictive.vertical_insufficiency(train, one, 1000, 20)
    good, worse = {"auc": 0.80, "brier": 0.08}, {"auc": 0.75, "brier": 0.09}
    assert predictive.vertical_verdict(good, worse, worse, 300)[0]
    assert not predictive.vertical_verdict(good, {"auc": 0.795, "brier": 0.09}, worse, 300)[0]  # within the margin
    assert "baseline rule" in predictive.vertical_verdict(good, worse, {"auc": 0.85, "brier": 0.07}, 300)[1]


def test_vertical_model_files_have_a_name_of_their_own():
    a, b = predictive.model_path(name="conversion:vertical=health & beauty"), predictive.model_path(
        name="conversion:vertical=health-beauty")
    assert a != b and a.name.startswith("conversion.vertical-health-beauty-") and a.suffix == ".joblib"
    assert predictive.model_path().name == "conversion.joblib"
