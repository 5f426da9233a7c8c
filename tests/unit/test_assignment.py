"""The router on tiny hand-built orgs: each strategy alone, their combination, caps, working days, teams,
determinism, round-robin shares, policy validation, weights and fairness shares."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flashdash import assignment
from flashdash.assignment import AssignmentError, LeadIn, Policy, build_org, route_leads

TUESDAY = datetime(2026, 6, 30, 12, 0)
SATURDAY = datetime(2026, 7, 4, 12, 0)

TEAMS = pl.DataFrame({"team_id": [1, 2], "team": ["West Alpha", "East Alpha"], "region_id": [5, 1]})
CITIES = pl.DataFrame({"city": ["Denver, CO", "Seattle, WA", "Boston, MA", "Nowhere, ZZ"],
                       "region_id": [5, 5, 1, 5], "territory_id": [14, 13, 1, None],
                       "territory": ["Mountain", "Pacific Northwest", "New England", None]})
REGIONS = pl.DataFrame({"region_id": [1, 4, 5], "region": ["Northeast", "Southwest", "West"]})


def _reps(rows: list[dict]) -> pl.DataFrame:
    base = {"title": "rep", "active": True, "verticals": None, "languages": "en", "max_open_leads": None,
            "working_days": None, "open_leads": 0, "recent": 0, "weight": 1.0}
    return pl.DataFrame([{**base, **r} for r in rows], schema_overrides={"max_open_leads": pl.Int64})


def _org(reps: list[dict], territories: list[tuple[int, int]] = (), strategies: tuple[str, ...] | None = None,
         teams: pl.DataFrame = TEAMS, **settings) -> assignment.Org:
    policies = {}
    if strategies is not None or settings:
        policies[None] = Policy(None, tuple(strategies or assignment.DEFAULT_STRATEGIES),
                                assignment.validate_settings(settings, None), "default")
    rt = pl.DataFrame(list(territories), schema={"rep_id": pl.Int64, "territory_id": pl.Int64}, orient="row")
    return build_org(teams, _reps(reps), rt, CITIES, REGIONS, policies)


def _lead(lead_id: int = 1, **kw) -> LeadIn:
    return LeadIn(lead_id=lead_id, **{"region_id": 5, **kw})


def _one(org: assignment.Org, lead: LeadIn, now: datetime = TUESDAY) -> dict:
    return route_leads([lead], org, now).row(0, named=True)


THREE = [{"rep_id": 1, "name": "Ann", "team_id": 1}, {"rep_id": 2, "name": "Bob", "team_id": 1},
         {"rep_id": 3, "name": "Cy", "team_id": 1}]


# ---------------------------------------------------------------- each strategy alone


def test_territory_keeps_only_the_reps_covering_the_territory_of_the_leads_city():
    org = _org(THREE, [(2, 14), (3, 13)], ("territory",))
    got = _one(org, _lead(city="Denver, CO"))
    assert got["rep_id"] == 2
    assert got["strategy"] == "territory"
    assert got["reason"] == "territory Mountain"


def test_territory_nobody_covers_keeps_everyone_and_says_so():
    org = _org(THREE, [(3, 13)], ("territory",))
    got = _one(org, _lead(city="Denver, CO"))
    assert got["rep_id"] == 1  # all kept; the least loaded, then the lowest id, takes it
    assert got["reason"].startswith("no rep covers territory Mountain")


def test_territory_of_a_city_outside_the_map_is_said_to_be_unknown():
    org = _org(THREE, [(2, 14)], ("territory",))
    assert "city Nowhere, ZZ is in no territory" in _one(org, _lead(city="Nowhere, ZZ"))["reason"]
    assert "no city" in _one(org, _lead(city=None))["reason"]


def test_skills_prefer_the_rep_who_sells_the_vertical_and_speaks_the_language():
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1, "verticals": "retail", "languages": "en"},
            {"rep_id": 2, "name": "Bob", "team_id": 1, "verticals": "Restaurants, retail", "languages": "en,es"},
            {"rep_id": 3, "name": "Cy", "team_id": 1, "verticals": "restaurants", "languages": "en"}]
    got = _one(_org(reps, strategies=("skills",)), _lead(vertical="restaurants", language="es"))
    assert (got["rep_id"], got["reason"]) == (2, "skill: restaurants, es")


def test_skills_put_the_language_before_the_vertical_when_nobody_has_both():
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1, "verticals": "restaurants", "languages": "en"},
            {"rep_id": 2, "name": "Bob", "team_id": 1, "verticals": "retail", "languages": "en,es"}]
    got = _one(_org(reps, strategies=("skills",)), _lead(vertical="restaurants", language="es"))
    assert (got["rep_id"], got["reason"]) == (2, "skill: es (restaurants unmatched)")


def test_skills_prefer_but_do_not_exclude_unless_the_language_is_required():
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1, "verticals": "retail", "languages": "en"}]
    lead = _lead(vertical="restaurants", language="es")
    got = _one(_org(reps, strategies=("skills",)), lead)
    assert (got["rep_id"], got["reason"]) == (1, "skill: no match for restaurants, es")
    required = _one(_org(reps, strategies=("skills",), language_required=True), lead)
    assert required["rep_id"] is None
    assert required["strategy"] == "skills"
    assert "nobody on duty speaks es (language required)" in required["reason"]


def test_load_excludes_a_rep_at_their_cap_and_reports_the_load_of_the_one_chosen():
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1, "max_open_leads": 10, "open_leads": 10},
            {"rep_id": 2, "name": "Bob", "team_id": 1, "max_open_leads": 40, "open_leads": 12}]
    got = _one(_org(reps, strategies=("load",)), _lead())
    assert (got["rep_id"], got["reason"]) == (2, "load 12 of 40")


def test_load_scales_the_cap_by_working_days_per_week():
    # a cap of 50 over four days a week is 40 open leads
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1, "max_open_leads": 50, "working_days": "tue,wed,thu,fri",
             "open_leads": 40}]
    got = _one(_org(reps, strategies=("load",)), _lead())
    assert got["rep_id"] is None
    assert got["strategy"] == "load"
    assert "every candidate is at their cap (Ann 40 of 40)" in got["reason"]


def test_caps_can_be_reported_without_being_enforced():
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1, "max_open_leads": 5, "open_leads": 9}]
    got = _one(_org(reps, strategies=("load",), respect_caps=False), _lead())
    assert (got["rep_id"], got["reason"]) == (1, "load 9 of 5 (caps not enforced)")


def test_weighted_round_robin_picks_the_fewest_recent_leads_per_unit_of_weight_ties_by_id():
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1, "recent": 3, "weight": 1.0},   # 4 / 1 = 4
            {"rep_id": 2, "name": "Bob", "team_id": 1, "recent": 7, "weight": 2.0},   # 8 / 2 = 4
            {"rep_id": 3, "name": "Cy", "team_id": 1, "recent": 5, "weight": 1.0}]    # 6
    got = _one(_org(reps, strategies=("weighted_round_robin",)), _lead())
    assert got["rep_id"] == 1
    assert got["reason"] == "weight 1 (won revenue, 90 days)"


def test_round_robin_shares_converge_to_the_weights_over_many_leads():
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1, "weight": 0.5},
            {"rep_id": 2, "name": "Bob", "team_id": 1, "weight": 1.0},
            {"rep_id": 3, "name": "Cy", "team_id": 1, "weight": 2.5}]
    org = _org(reps, strategies=("weighted_round_robin",))
    out = route_leads([_lead(i) for i in range(1, 801)], org, TUESDAY)
    counts = dict(out.group_by("rep_id").len().iter_rows())
    assert counts == {1: 100, 2: 200, 3: 500}
    # and along the way nobody is ahead of their share by more than one lead
    running = {1: 0, 2: 0, 3: 0}
    for i, rep in enumerate(out["rep_id"].to_list(), start=1):
        running[rep] += 1
        assert all(abs(running[r] - i * w / 4.0) <= 1.0 for r, w in ((1, 0.5), (2, 1.0), (3, 2.5)))


def test_equal_weights_take_turns():
    org = _org(THREE, strategies=("weighted_round_robin",), weight_metric="equal")
    out = route_leads([_lead(i) for i in range(1, 7)], org, TUESDAY)
    assert out["rep_id"].to_list() == [1, 2, 3, 1, 2, 3]
    assert out["reason"][0] == "round-robin, equal weights (0 in 90 days)"


# ---------------------------------------------------------------- the combination


def test_the_strategies_narrow_in_order_and_the_reason_says_each_step():
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1, "verticals": "retail", "languages": "en,es",
             "max_open_leads": 40, "open_leads": 12, "weight": 1.3},
            {"rep_id": 2, "name": "Bob", "team_id": 1, "verticals": "retail", "languages": "en,es",
             "max_open_leads": 20, "open_leads": 20, "weight": 2.0},  # at cap
            {"rep_id": 3, "name": "Cy", "team_id": 1, "verticals": "retail", "languages": "en",
             "max_open_leads": 40, "open_leads": 0},  # does not speak es
            {"rep_id": 4, "name": "Dee", "team_id": 1, "verticals": "retail", "languages": "es",
             "max_open_leads": 40, "open_leads": 0}]  # does not cover Mountain
    org = _org(reps, [(1, 14), (2, 14), (3, 14), (4, 13)])
    got = _one(org, _lead(city="Denver, CO", vertical="retail", language="es"))
    assert got["rep_id"] == 1
    assert got["reason"] == "territory Mountain; skill: retail, es; load 12 of 40; weight 1.3 (won revenue, 90 days)"
    assert got["strategy"] == "load"  # the step that left one candidate


def test_a_better_skill_match_at_cap_falls_back_to_the_next_best_match():
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1, "verticals": "retail", "languages": "en,es",
             "max_open_leads": 10, "open_leads": 10},
            {"rep_id": 2, "name": "Bob", "team_id": 1, "verticals": "grocery", "languages": "en,es",
             "max_open_leads": 10, "open_leads": 3}]
    got = _one(_org(reps), _lead(vertical="retail", language="es"))
    assert got["rep_id"] == 2
    assert "skill: es (retail unmatched); load 3 of 10" in got["reason"]


def test_when_every_candidate_is_excluded_the_lead_stays_unassigned_and_the_reason_says_why():
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1, "max_open_leads": 5, "open_leads": 5},
            {"rep_id": 2, "name": "Bob", "team_id": 1, "max_open_leads": 8, "open_leads": 9}]
    got = _one(_org(reps), _lead(vertical="retail"))
    assert got["rep_id"] is None
    assert got["team_id"] == 1
    assert got["reason"] == "left unassigned: every candidate is at their cap (Ann 5 of 5, Bob 9 of 8)"


def test_reps_at_cap_in_every_skill_tier_are_named_once_in_one_reason():
    reps = [{"rep_id": 1, "name": "Cy", "team_id": 1, "verticals": "retail", "max_open_leads": 5, "open_leads": 5},
            {"rep_id": 2, "name": "Ann", "team_id": 1, "verticals": "grocery", "max_open_leads": 3, "open_leads": 3}]
    got = _one(_org(reps), _lead(vertical="retail"))
    assert got["reason"] == "left unassigned: every candidate is at their cap (Ann 3 of 3, Cy 5 of 5)"


def test_a_rep_at_cap_gets_nothing_more_within_one_run():
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1, "max_open_leads": 3, "open_leads": 1, "weight": 2.0},
            {"rep_id": 2, "name": "Bob", "team_id": 1, "max_open_leads": 4, "open_leads": 0}]
    out = route_leads([_lead(i) for i in range(1, 9)], _org(reps), TUESDAY)
    counts = dict(out.group_by("rep_id").len().iter_rows())
    assert counts == {1: 2, 2: 4, None: 2}


def test_a_re_routed_lead_leaves_its_previous_owners_load():
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1, "max_open_leads": 3, "open_leads": 3}]
    lead = _lead(owner_id=1)
    assert _one(_org(reps, strategies=("load",)), lead)["strategy"] == "skipped"  # owned: left alone by default
    got = route_leads([lead], _org(reps, strategies=("load",)), TUESDAY, reroute=True).row(0, named=True)
    assert (got["rep_id"], got["reason"]) == (1, "load 2 of 3")


def test_managers_and_inactive_reps_take_no_leads():
    reps = [{"rep_id": 1, "name": "Boss", "team_id": 1, "title": "manager"},
            {"rep_id": 2, "name": "Gone", "team_id": 1, "active": False},
            {"rep_id": 3, "name": "Cy", "team_id": 1}]
    assert _one(_org(reps), _lead())["rep_id"] == 3


def test_closed_leads_are_not_routed():
    got = _one(_org(THREE), _lead(status="won"))
    assert (got["rep_id"], got["strategy"]) == (None, "skipped")


# ---------------------------------------------------------------- working days and teams


def test_reps_who_do_not_work_on_the_assignment_day_get_nothing():
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1},  # Monday to Friday
            {"rep_id": 2, "name": "Bob", "team_id": 1, "working_days": "tue,wed,thu,fri,sat"}]
    out = route_leads([_lead(i) for i in range(1, 5)], _org(reps), SATURDAY)
    assert out["rep_id"].to_list() == [2, 2, 2, 2]


def test_a_team_with_nobody_on_duty_leaves_the_lead_unassigned_with_the_day():
    got = _one(_org(THREE), _lead(), SATURDAY)
    assert got["rep_id"] is None
    assert got["reason"] == "nobody on team West Alpha works on sat"


def test_a_territory_covered_only_by_someone_off_duty_says_so():
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1},
            {"rep_id": 2, "name": "Bob", "team_id": 1, "working_days": "sat,sun"}]
    got = _one(_org(reps, [(1, 14)], ("territory",)), _lead(city="Denver, CO"), SATURDAY)
    assert (got["rep_id"], got["reason"]) == (2, "nobody covering territory Mountain works on sat")


def test_a_lead_goes_to_the_team_of_its_region_with_the_most_spare_capacity():
    teams = pl.DataFrame({"team_id": [1, 2, 3], "team": ["West Alpha", "West Bravo", "East Alpha"],
                          "region_id": [5, 5, 1]})
    reps = [{"rep_id": 1, "name": "Ann", "team_id": 1, "max_open_leads": 10, "open_leads": 8},
            {"rep_id": 2, "name": "Bob", "team_id": 2, "max_open_leads": 10, "open_leads": 5},
            {"rep_id": 3, "name": "Cy", "team_id": 3}]
    out = route_leads([_lead(i) for i in range(1, 6)], _org(reps, teams=teams), TUESDAY)
    # Bravo has 5 spare, Alpha 2: Bravo takes leads until both have 2 spare, then the lower id breaks the tie
    assert out["team_id"].to_list() == [2, 2, 2, 1, 2]
    assert out["reason"][0].startswith("team West Bravo (most spare capacity in West)")


def test_the_region_comes_from_the_city_when_the_lead_has_none():
    got = _one(_org(THREE + [{"rep_id": 4, "name": "Dee", "team_id": 2}]), _lead(region_id=None, city="Boston, MA"))
    assert (got["team_id"], got["rep_id"]) == (2, 4)


def test_a_region_no_team_covers_goes_to_the_default_team_or_stays_unassigned():
    lead = _lead(region_id=4)
    without = _one(_org(THREE), lead)
    assert (without["rep_id"], without["strategy"]) == (None, "team")
    assert without["reason"] == "no team covers region Southwest and the default policy names no default team"
    with_default = _one(_org(THREE, default_team_id=1), lead)
    assert with_default["team_id"] == 1 and with_default["rep_id"] is not None
    assert with_default["reason"].startswith("no team covers region Southwest; default team West Alpha; ")


def test_a_teams_own_policy_applies_to_its_leads():
    org = _org(THREE, [(3, 14)], ("territory",))
    org.policies[1] = Policy(1, ("weighted_round_robin",), assignment.validate_settings({}, 1), "team")
    got = _one(org, _lead(city="Denver, CO"))
    assert (got["rep_id"], got["strategy"]) == (1, "weighted_round_robin")


def test_routing_is_deterministic_for_the_same_data_and_time():
    reps = [{"rep_id": i, "name": f"R{i}", "team_id": 1, "verticals": v, "languages": lang, "max_open_leads": 6,
             "weight": w} for i, v, lang, w in [(1, "retail", "en", 1.0), (2, "grocery", "en,es", 0.7),
                                                (3, "retail,grocery", "en", 1.6)]]
    leads = [_lead(i, vertical=("retail", "grocery", None)[i % 3], language=("en", "es")[i % 2],
                   city=("Denver, CO", "Seattle, WA")[i % 2]) for i in range(1, 40)]
    first = route_leads(leads, _org(reps, [(1, 14), (2, 13), (3, 14), (3, 13)]), TUESDAY)
    second = route_leads(leads, _org(reps, [(1, 14), (2, 13), (3, 14), (3, 13)]), TUESDAY)
    assert_frame_equal(first, second)
    assert first["rep_id"].null_count() == 39 - 18  # three caps of six


# ---------------------------------------------------------------- policy validation


@pytest.mark.parametrize(("strategies", "message"), [
    ([], "pick at least one strategy"),
    (["territory", "telepathy"], "unknown strategy 'telepathy'"),
    (["load", "load"], "load is listed more than once"),
    (["weighted_round_robin", "load"], "weighted_round_robin picks one rep, so it must come last"),
    ("territory", "must be a list"),
])
def test_a_policy_with_bad_strategies_is_refused_with_what_to_fix(strategies, message):
    with pytest.raises(AssignmentError, match=message):
        assignment.validate_strategies(strategies)


def test_valid_strategies_are_trimmed_and_kept_in_order():
    assert assignment.validate_strategies([" Skills", "territory "]) == ("skills", "territory")


@pytest.mark.parametrize(("settings", "team_id", "message"), [
    ({"weight_metric": "vibes"}, 1, "weight_metric must be one of won_revenue, conversion, equal"),
    ({"weight_window_days": 0}, 1, "weight_window_days must be a whole number of days from 1 to 730"),
    ({"weight_window_days": True}, 1, "weight_window_days must be a whole number"),
    ({"weight_floor": 0}, 1, "weight_floor must be above 0"),
    ({"weight_ceiling": 0.8}, 1, "weight_ceiling must be from 1"),
    ({"respect_caps": "yes"}, 1, "respect_caps must be true or false"),
    ({"colour": "red"}, 1, "unknown setting colour"),
    ({"default_team_id": 2}, 1, "default_team_id belongs to the default policy"),
])
def test_bad_settings_are_refused_with_what_to_fix(settings, team_id, message):
    with pytest.raises(AssignmentError, match=message):
        assignment.validate_settings(settings, team_id)


def test_settings_left_out_take_their_defaults():
    got = assignment.validate_settings({"weight_metric": "conversion"}, None)
    assert got == {**assignment.DEFAULT_SETTINGS, "weight_metric": "conversion"}


def test_every_problem_is_named_at_once():
    with pytest.raises(AssignmentError) as err:
        assignment.validate_settings({"weight_floor": 3, "language_required": 1}, None)
    assert "weight_floor" in str(err.value) and "language_required" in str(err.value)


# ---------------------------------------------------------------- weights, working days, fairness


def _perf() -> pl.DataFrame:
    return pl.DataFrame({"rep_id": [1, 2, 3, 4], "team_id": [1, 1, 1, 2], "decided": [40, 40, 0, 10],
                         "won": [8, 2, 0, 0], "won_revenue": [80_000.0, 10_000.0, 0.0, 0.0]})


def test_conversion_weights_shrink_towards_the_team_rate_and_a_team_without_wins_weighs_everyone_one():
    got = assignment.performance_weights(_perf(), "conversion", prior=10, floor=0.5, ceiling=2.0)
    team_rate = 10 / 80
    expected = [(8 + 10 * team_rate) / 50 / team_rate, (2 + 10 * team_rate) / 50 / team_rate, 1.0, 1.0]
    assert got["weight"].to_list() == pytest.approx(expected)


def test_revenue_weights_are_clipped_to_the_floor_and_ceiling():
    got = assignment.performance_weights(_perf(), "won_revenue", prior=0, floor=0.5, ceiling=1.5)
    # per decided lead: 2,000 and 250 against the team's 1,125; the rep with nothing decided has no evidence
    assert got["weight"].to_list() == pytest.approx([1.5, 0.5, 1.0, 1.0])


def test_equal_weights_are_all_one():
    assert assignment.performance_weights(_perf(), "equal", 10, 0.5, 2.0)["weight"].to_list() == [1.0] * 4


def test_working_days_default_to_monday_to_friday_and_scale_the_cap():
    assert assignment.parse_days(None) == frozenset(assignment.WEEKDAYS)
    assert assignment.parse_days("Tue, WED,sat,holiday") == frozenset({"tue", "wed", "sat"})
    assert assignment.capacity(60, frozenset({"mon", "tue", "wed", "thu", "fri", "sat"})) == 72
    assert assignment.capacity(None, frozenset({"mon"})) is None


def test_fairness_compares_each_reps_share_of_leads_with_their_weights_share():
    sellers = pl.DataFrame({"rep_id": [1, 2, 3, 4], "rep": ["Ann", "Bob", "Gone", "Dee"], "team_id": [1, 1, 1, 2],
                            "team": ["A", "A", "A", "B"], "active": [True, True, False, True],
                            "weight": [1.5, 0.5, 1.0, 1.0], "open_leads": [3, 4, 0, 1], "cap": [40, None, 10, 20]})
    given = pl.DataFrame({"rep_id": [1, 2, 3], "assigned": [6, 3, 1], "mean_score": [70.0, None, 40.0],
                          "scored": [6, 0, 1], "banded": [6, 0, 1], "high_band": [3, 0, 0]})
    out = assignment.fairness_table(sellers, given)
    assert out["expected_share"].to_list() == pytest.approx([0.75, 0.25, 0.0, 1.0])
    assert out["actual_share"].to_list()[:3] == pytest.approx([0.6, 0.3, 0.1])
    assert out["actual_share"][3] is None  # team B was given nothing
    assert out["share_gap"].to_list()[:3] == pytest.approx([-0.15, 0.05, 0.1])
    assert out["mean_score"].to_list() == [70.0, None, 40.0, None]
    assert out["high_band_share"].to_list() == [0.5, None, 0.0, None]
    assert out["weight"][2] is None  # an inactive rep has no weight and no expected share
    assert out["assigned"].to_list() == [6, 3, 1, 0]
