"""The pure parts of the qualification workflow: conditions, rule steps, allowed moves, and lead filters."""

from __future__ import annotations

import itertools
import json

import polars as pl
import pytest

from flashdash.qualification import (
    BUILTIN,
    STAGE_RELATIVE,
    Criterion,
    QualificationError,
    builtin_criteria,
    check_reason,
    condition_expr,
    confirmation,
    describe,
    holds,
    move_refusal,
    next_stage,
    next_stages,
    plan_advance,
    validate_conditions,
)
from flashdash.views import LeadFilter, ViewError


def _lead(**facts) -> dict:
    """A new lead's facts with nothing done yet; keyword arguments override."""
    base = {"lead_id": 1, "status": "new", "team_id": None, "held": False, "score": None, "probability": None,
            "band": None, "interest_level": "cold", "vertical": "retail", "channel": "referral",
            "company_size": "1-10", "monthly_volume": 10_000.0, "language": "en", "budget_confirmed": False,
            "calls": 0, "emails": 0, "meetings": 0, "demos": 0, "discovery_calls": 0, "meetings_since_sql": 0,
            "demos_since_sql": 0, "has_email": True, "has_phone": True, "has_opportunity": False,
            "days_since_submitted": 3.0, "days_in_stage": 3.0}
    return {**base, **facts}


QUALIFIED = {"score": 72.0, "interest_level": "warm", "discovery_calls": 1, "budget_confirmed": True}

# ---------------------------------------------------------------- conditions


def test_the_built_in_criteria_read_as_the_issue_states_them() -> None:
    assert describe("mql", BUILTIN["mql"]) == "rule: MQL when score ≥ 40 and interest is at least warm"
    assert describe("sql", BUILTIN["sql"]) == "rule: SQL when a discovery call is logged and budget is confirmed"
    assert describe("opportunity", BUILTIN["opportunity"]) == (
        "rule: Opportunity when (a meeting since SQL is logged or a demo since SQL is logged or an opportunity "
        "exists)")


def test_validation_names_every_problem_at_once() -> None:
    with pytest.raises(QualificationError) as err:
        validate_conditions([
            {"field": "shoe_size", "op": "gte", "value": 9},
            {"field": "interest_level", "op": "contains", "value": "warm"},
            {"field": "score", "op": "gte", "value": "forty"},
            {"field": "score", "op": "lte", "value": 140},
            {"field": "interest_level", "op": "gte", "value": "scorching"},
            {"field": "budget_confirmed", "op": "is_true", "value": True},
        ])
    text = str(err.value)
    for needle in ("condition 1: unknown field 'shoe_size'", "condition 2: the operator 'contains'",
                   "condition 3 (score gte): the value must be a number", "between 0 and 100 (got 140)",
                   "'scorching' is not one of cold, warm, hot", "is_true takes no value"):
        assert needle in text


def test_valid_conditions_come_back_trimmed_and_lower_cased() -> None:
    clean = validate_conditions(json.dumps([
        {"field": "interest_level", "op": "gte", "value": " Warm "},
        {"field": "vertical", "op": "in", "value": ["Retail", "restaurants"]},
        {"any": [{"field": "has_opportunity", "op": "is_true"}, {"field": "demos", "op": "gte", "value": 2}]},
    ]))
    assert clean[0]["value"] == "warm" and clean[1]["value"] == ["retail", "restaurants"]
    assert clean[2]["any"][0] == {"field": "has_opportunity", "op": "is_true", "value": None}


@pytest.mark.parametrize("bad, needle", [
    ([], "at least one condition"),
    ("not json", "not valid JSON"),
    ({"field": "score"}, "must be a list"),
    ([{"any": [{"field": "score", "op": "gte", "value": 1}]}], "at least two conditions"),
    ([{"any": [{"any": []}, {"field": "score", "op": "gte", "value": 1}]}], "cannot contain another group"),
    ([{"field": "vertical", "op": "in", "value": []}], "non-empty list"),
    ([{"field": "score", "op": "gte", "value": True}], "must be a number"),
])
def test_malformed_conditions_are_refused_with_a_reason(bad, needle) -> None:
    with pytest.raises(QualificationError, match=needle):
        validate_conditions(bad)


def test_interest_at_least_warm_holds_for_warm_and_hot_only() -> None:
    cond = {"field": "interest_level", "op": "gte", "value": "warm"}
    assert [holds(cond, _lead(interest_level=v)) for v in ("cold", "warm", "hot", None, "lukewarm")] == [
        False, True, True, False, False]


def test_a_missing_value_fails_every_condition_but_ne_and_not_in() -> None:
    row = _lead(score=None, vertical=None)
    assert not holds({"field": "score", "op": "gte", "value": 0}, row)
    assert not holds({"field": "score", "op": "lte", "value": 100}, row)
    assert not holds({"field": "vertical", "op": "is_set"}, row)
    assert holds({"field": "vertical", "op": "ne", "value": "retail"}, row)
    assert holds({"field": "vertical", "op": "not_in", "value": ["retail"]}, row)


# every field with a few values, every operator it accepts: the vectorised form agrees with the pure one
_VALUES = {"score": [None, 0.0, 39.9, 40.0, 100.0], "interest_level": [None, "cold", "warm", "hot"],
           "vertical": [None, "retail", "restaurants"], "budget_confirmed": [True, False],
           "calls": [0, 1, 3], "band": [None, "low", "high", "unknown"]}
_CONDITIONS = [
    {"field": "score", "op": op, "value": v} for op in ("eq", "ne", "gte", "lte") for v in (40, 0)
] + [{"field": "score", "op": "is_set"}] + [
    {"field": "interest_level", "op": op, "value": "warm"} for op in ("eq", "ne", "gte", "lte")
] + [{"field": "interest_level", "op": op, "value": ["warm", "hot"]} for op in ("in", "not_in")] + [
    {"field": "vertical", "op": op, "value": "retail"} for op in ("eq", "ne")
] + [{"field": "vertical", "op": op, "value": ["retail"]} for op in ("in", "not_in")] + [
    {"field": "vertical", "op": "is_set"}, {"field": "budget_confirmed", "op": "is_true"},
    {"field": "budget_confirmed", "op": "is_false"}, {"field": "calls", "op": "gte", "value": 1},
    {"field": "band", "op": "gte", "value": "medium"},
    {"any": [{"field": "calls", "op": "gte", "value": 3}, {"field": "budget_confirmed", "op": "is_true"}]},
]


def test_the_vectorised_conditions_agree_with_the_pure_ones_on_every_combination() -> None:
    rows = [_lead(**dict(zip(_VALUES, combo, strict=True))) for combo in itertools.product(*_VALUES.values())]
    frame = pl.DataFrame(rows, schema_overrides={"score": pl.Float64, "team_id": pl.Int64,
                                                 "probability": pl.Float64, "band": pl.String})
    for cond in (validate_conditions([c])[0] for c in _CONDITIONS):
        got = frame.select(condition_expr(cond).alias("x"))["x"].to_list()
        assert got == [holds(cond, r) for r in rows], cond


# ---------------------------------------------------------------- rule steps


def test_a_lead_meeting_mql_and_sql_criteria_climbs_both_in_one_evaluation() -> None:
    steps = next_stages(_lead(**QUALIFIED), builtin_criteria())
    assert [s for s, _ in steps] == ["mql", "sql"]
    assert steps[0][1] == "rule: MQL when score ≥ 40 and interest is at least warm"


def test_an_opportunity_needs_a_meeting_after_the_lead_became_sql() -> None:
    crit = builtin_criteria()
    # meetings logged before it was SQL do not count; the same meeting counts once the lead is SQL
    assert [s for s, _ in next_stages(_lead(**QUALIFIED, meetings=2), crit)] == ["mql", "sql"]
    assert next_stages(_lead(**QUALIFIED, status="sql", meetings_since_sql=1), crit)[0][0] == "opportunity"
    assert [s for s, _ in next_stages(_lead(**QUALIFIED, has_opportunity=True), crit)] == ["mql", "sql",
                                                                                           "opportunity"]


@pytest.mark.parametrize("status", ["won", "lost", "disqualified", "opportunity"])
def test_exits_and_the_last_stage_never_move_by_rule(status) -> None:
    assert next_stages(_lead(**QUALIFIED, status=status, has_opportunity=True), builtin_criteria()) == []


def test_a_lead_a_person_moved_back_stays_where_they_put_it() -> None:
    assert next_stages(_lead(**QUALIFIED, held=True), builtin_criteria()) == []


def test_a_stage_that_is_not_automatic_stops_the_climb_but_can_still_be_shown() -> None:
    crit = {**builtin_criteria(), "mql": Criterion("mql", tuple(BUILTIN["mql"]), auto=False)}
    assert next_stages(_lead(**QUALIFIED), crit) == []
    assert [s for s, _ in next_stages(_lead(**QUALIFIED), crit, auto_only=False)] == ["mql", "sql"]


def test_time_in_stage_starts_again_after_each_step() -> None:
    wait = [{"field": "days_in_stage", "op": "gte", "value": 2}]
    crit = {s: Criterion(s, tuple(wait)) for s in ("mql", "sql", "opportunity")}
    assert [s for s, _ in next_stages(_lead(days_in_stage=5.0), crit)] == ["mql"]
    assert set(STAGE_RELATIVE) == {"days_in_stage", "meetings_since_sql", "demos_since_sql"}


def test_planning_a_frame_of_leads_gives_the_same_steps_as_evaluating_each() -> None:
    team_mql = Criterion("mql", ({"field": "calls", "op": "gte", "value": 2},), source="team", team_id=7)
    stop = Criterion("sql", tuple(BUILTIN["sql"]), auto=False, source="team", team_id=8)
    by_team = {None: builtin_criteria(), 7: {**builtin_criteria(), "mql": team_mql},
               8: {**builtin_criteria(), "sql": stop}}
    rows = [
        _lead(lead_id=1, **QUALIFIED),
        _lead(lead_id=2, team_id=7, calls=2),
        _lead(lead_id=3, team_id=7, **QUALIFIED),  # team 7's MQL needs two calls
        _lead(lead_id=4, team_id=8, **QUALIFIED),
        _lead(lead_id=5, status="sql", has_opportunity=True),
        _lead(lead_id=6, status="lost", **QUALIFIED),
        _lead(lead_id=7, held=True, **QUALIFIED),
        _lead(lead_id=8, status="mql", team_id=7, **QUALIFIED, has_opportunity=True),
    ]
    frame = pl.DataFrame(rows, schema_overrides={"score": pl.Float64, "team_id": pl.Int64,
                                                 "probability": pl.Float64, "band": pl.String})
    planned = plan_advance(frame, by_team)
    expected = [{"lead_id": r["lead_id"], "step": i, "from_status": f, "to_status": s, "reason": why}
                for r in rows
                for i, (f, (s, why)) in enumerate(
                    zip([r["status"], *[s for s, _ in next_stages(r, by_team[r["team_id"]])]],
                        next_stages(r, by_team[r["team_id"]]), strict=False), start=1)]
    assert planned.to_dicts() == expected
    assert planned.filter(pl.col("lead_id") == 8)["to_status"].to_list() == ["sql", "opportunity"]
    assert planned.filter(pl.col("lead_id") == 8)["step"].to_list() == [1, 2]


# ---------------------------------------------------------------- moves by hand


@pytest.mark.parametrize("role, frm, to, allowed", [
    ("rep", "new", "sql", True),
    ("rep", "mql", "disqualified", True),
    ("rep", "sql", "mql", False),
    ("rep", "lost", "new", False),
    ("rep", "won", "lost", False),
    ("manager", "sql", "mql", True),
    ("manager", "lost", "opportunity", True),
    ("admin", "won", "lost", True),
])
def test_anyone_moves_forward_or_out_but_only_managers_move_back(role, frm, to, allowed) -> None:
    assert (move_refusal(role, frm, to) is None) is allowed


def test_the_next_stage_is_one_open_stage_on_and_there_is_none_after_opportunity_or_an_exit() -> None:
    assert [next_stage(s) for s in ("new", "mql", "sql", "opportunity", "won", None)] == [
        "mql", "sql", "opportunity", None, None, None]


def test_a_reason_is_required_and_at_most_500_characters() -> None:
    assert check_reason("  called back, budget agreed ") == "called back, budget agreed"
    for bad in ("", "   ", None):
        with pytest.raises(QualificationError, match="Give a reason"):
            check_reason(bad)
    with pytest.raises(QualificationError, match="501 characters"):
        check_reason("x" * 501)


def test_the_confirmation_says_how_many_leads_change_and_why_others_do_not() -> None:
    summary = {"to_stage": "mql", "changed": 12, "unchanged": 3, "refused": 2,
               "refusals": [{"lead_id": 1, "reason": "not in your book"}, {"lead_id": 2, "reason": "not in your book"}]}
    assert confirmation(summary) == ("This changes 12 leads to MQL; 3 already are MQL; 2 are refused "
                                     "(not in your book: 2).")
    assert confirmation({**summary, "changed": 1, "unchanged": 0, "refused": 0}, done=True) == "Changed 1 lead to MQL."


# ---------------------------------------------------------------- lead filters (flashdash.views)


def test_a_filter_round_trips_through_its_stored_json() -> None:
    flt = LeadFilter(stages=("new", "mql"), bands=("high", "unscored"), score_min=40, age_max_days=30.5,
                     owners=(3, 4), verticals=("retail",), teams=(1,), search="  Taco ", unworked_only=True,
                     in_stage_over_days=14)
    assert flt.search == "Taco"
    assert LeadFilter.from_json(flt.to_json()) == flt
    assert LeadFilter().to_json() == "{}"


def test_a_bad_filter_is_refused_naming_every_problem() -> None:
    with pytest.raises(ViewError) as err:
        LeadFilter(stages=("new", "pending"), bands=("hot",), score_min=80, score_max=20, age_min_days=-1,
                   owners=(1,), unassigned_only=True, search="x" * 201)
    text = str(err.value)
    for needle in ("unknown stage pending", "unknown score band hot", "smallest score (80) is above the largest",
                   "age in days bounds must be at least 0", "owners or unassigned", "201 characters"):
        assert needle in text


def test_a_stored_filter_with_unknown_keys_is_refused() -> None:
    with pytest.raises(ViewError, match="unknown keys"):
        LeadFilter.from_json('{"stages": ["new"], "mood": "happy"}')
