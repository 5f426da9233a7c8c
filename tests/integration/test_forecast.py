"""Revenue forecasting on the XS demo store: the stored refresh and its backtest, the command line, row scope,
quota attainment, scenarios (their direction, validation, saving and comparing)."""

from __future__ import annotations

import argparse
import re
import shutil

import polars as pl
import pytest

from flashdash import forecast as fc
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.store import Store
from tests.conftest import NOW

METHODS = {"revenue model", fc.PIPELINE, fc.BLEND}


@pytest.fixture(scope="module")
def store(demo_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A copy of the XS demo for this module, with the forecast refreshed once (one full backtest)."""
    path = tmp_path_factory.mktemp("forecast") / "demo.duckdb"
    shutil.copy(demo_store.path, path)
    return Store(path)


@pytest.fixture(scope="module")
def run(store: Store) -> dict:
    return fc.refresh_forecast(store, NOW)


@pytest.fixture(scope="module")
def admin(store: Store) -> Actor:
    return resolve_actor(store, "admin")


@pytest.fixture(scope="module")
def base(store: Store, admin: Actor) -> fc.Plan:
    return fc.scenario_base(store, admin, NOW)


def _rows(store: Store, query: str, params: list | None = None) -> list[tuple]:
    with store.read() as con:
        return con.execute(query, params or []).fetchall()


def test_the_refresh_stores_each_method_with_intervals_and_the_backtest_that_chose_among_them(
        store: Store, run: dict, admin: Actor) -> None:
    assert _rows(store, "SELECT count(*) FROM analytics_runs WHERE kind = 'forecast'") == [(1,)]
    assert _rows(store, "SELECT actor, entity FROM audit_log WHERE action = 'refresh' AND entity_id = ?",
                 [str(run["run_id"])]) == [("scheduler", "analytics_run")]
    latest = fc.latest_forecast(store, admin)
    assert latest["as_of"] == NOW and latest["scoped"] is False and latest["chosen"] == run["chosen"]
    months = latest["months"]
    assert set(months["method"]) == METHODS
    assert months.filter(pl.col("chosen"))["method"].n_unique() == 1  # one method is the forecast shown
    assert months["month"].min() == NOW.date().replace(day=1) and months["month"].n_unique() == 7
    ordered = (pl.col("lo95") <= pl.col("lo80")) & (pl.col("lo80") <= pl.col("forecast")) \
        & (pl.col("forecast") <= pl.col("hi80")) & (pl.col("hi80") <= pl.col("hi95"))
    assert months.select(ordered.all()).item() and latest["quarters"].select(ordered.all()).item()
    table = latest["backtest"]
    assert {"naive", "mean12", fc.PIPELINE, fc.BLEND, fc.SELECTED} <= set(table["model"])
    assert set(table["horizon"]) == {1, 3}
    one = table.filter(pl.col("horizon") == 1)
    assert (one["months"] == 11).all()  # 20 complete months (Oct 2024 - May 2026), the first 9 learnt from
    assert one.filter(pl.col("model") == run["chosen"])["mape"].item() == pytest.approx(one["mape"].min())
    figures = latest["figures"]
    assert figures["months"] == 11 and figures["model"] == run["chosen"]
    assert 0 <= figures["within_5pct"] <= figures["within_10pct"] <= 1
    assert latest["win_model"]["method"] in ("model", "rule") and latest["win_model"]["rows"] > 0


def test_the_command_line_prints_the_same_figures_one_per_line(store: Store, run: dict,
                                                                 capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASHDASH_NOW", NOW.isoformat())
    assert fc.cmd_evaluate(argparse.Namespace(db=str(store.path))) == 0
    lines = capsys.readouterr().out.splitlines()
    for i, key in enumerate(fc.EVALUATION_KEYS):
        assert re.fullmatch(rf"{key}: \d\.\d\d", lines[i]), lines[i]
        assert float(lines[i].split(": ")[1]) == pytest.approx(run["figures"][key], abs=0.005)
    assert lines[5] == f"model: {run['chosen']} ({fc.label_of(run['chosen'])})"
    assert lines[6] == "months: 11"


def test_a_rep_and_a_manager_forecast_from_their_own_deals_only(store: Store, run: dict) -> None:
    for username in ("rep", "manager"):
        actor = resolve_actor(store, username)
        result = fc.latest_forecast(store, actor)  # recomputed in their scope, with the stored run's choice
        assert result["scoped"] is True and result["backtest"].is_empty()
        assert set(result["open_deals"]["owner_id"]) <= set(actor.scope_reps)
        ((won,),) = _rows(store, "SELECT coalesce(sum(amount), 0) FROM opportunities WHERE won AND closed_at <= ? "
                                 "AND list_contains(?, owner_id)", [NOW, list(actor.scope_reps)])
        assert result["series"]["won_amount"].sum() == pytest.approx(won)
        assert set(result["months"]["method"]) == METHODS
    ((everyone,),) = _rows(store, "SELECT sum(amount) FROM opportunities WHERE won AND closed_at <= ?", [NOW])
    assert fc.monthly_revenue(store, resolve_actor(store, "analyst"), NOW)["won_amount"].sum() == pytest.approx(
        everyone)


def test_quota_attainment_gives_each_seller_in_scope_a_chance_the_gap_and_what_would_close_it(
        store: Store, admin: Actor) -> None:
    sellers = dict(_rows(store, "SELECT id, monthly_quota FROM reps WHERE monthly_quota > 0 AND active"))
    month = fc.quota_attainment(store, admin, NOW)
    reps, teams = month.filter(pl.col("level") == "rep"), month.filter(pl.col("level") == "team")
    assert sorted(reps["rep_id"]) == sorted(sellers) and teams.height == 2
    assert (reps["period"] == "2026-06").all()
    assert dict(zip(reps["rep_id"], reps["quota"], strict=True)) == pytest.approx(sellers)
    assert month["probability"].is_between(0, 1).all() and (month["to_close"].str.len_chars() > 20).all()
    short = month.filter(pl.col("gap") > 0)
    assert (short["deals_needed"] >= 1).all() and short["to_close"].str.contains("short of quota").all()
    quarter = fc.quota_attainment(store, admin, NOW, period="next_quarter")
    assert (quarter.filter(pl.col("level") == "rep")["quota"] == reps["quota"] * 3).all()
    assert (quarter["won_to_date"] == 0).all() and (quarter["period"] == "2026-Q3").all()

    rep = resolve_actor(store, "rep")
    own = fc.quota_attainment(store, rep, NOW)
    assert own["rep_id"].to_list() == [rep.rep_id] and own["level"].to_list() == ["rep"]  # no team row for a rep
    manager = resolve_actor(store, "manager")
    team = fc.quota_attainment(store, manager, NOW)
    assert set(team["rep_id"].drop_nulls()) <= set(manager.scope_reps)
    assert team.filter(pl.col("level") == "team").height == 1
    with pytest.raises(fc.ForecastError, match="Unknown period"):
        fc.quota_attainment(store, admin, NOW, period="fortnight")


def test_a_higher_win_rate_raises_the_forecast_and_a_longer_cycle_pushes_revenue_later(base: fc.Plan) -> None:
    same = fc.scenario(base, {})
    assert same["months"]["p50"].to_list() == same["months"]["base_p50"].to_list()
    assert same["attainment"]["probability"].to_list() == same["attainment"]["base_probability"].to_list()
    better = fc.scenario(base, {"win_rate": 1.3})
    quarter = better["quarters"].row(0, named=True)
    assert quarter["p50"] > quarter["base_p50"] and better["headline"]["quarter_p50"] == quarter["p50"]
    assert (better["attainment"]["probability"] >= better["attainment"]["base_probability"]).all()
    assert better["headline"]["making_quota"] > better["headline"]["base_making_quota"]
    slower = fc.scenario(base, {"cycle_length": 1.5})
    assert slower["months"]["p50"][1] < slower["months"]["base_p50"][1]  # next month: fewer deals close in it
    bigger = fc.scenario(base, {"deal_size": 1.2})
    assert bigger["months"]["p50"][2] == pytest.approx(bigger["months"]["base_p50"][2] * 1.2, rel=0.01)
    more = fc.scenario(base, {"lead_volume": 1.5})
    assert more["months"]["p50"][-1] > more["months"]["base_p50"][-1]
    hired = fc.scenario(base, {"headcount": 1.5})
    teams = hired["attainment"].filter(pl.col("level") == "team")
    assert (teams["quota"] == teams["base_quota"] * 1.5).all()  # each added seller carries a quota
    reps = hired["attainment"].filter(pl.col("level") == "rep")
    assert reps["probability"].to_list() == reps["base_probability"].to_list()  # a rep's own book is unchanged


def test_a_scenario_is_saved_only_whole_and_valid_and_seen_by_its_team(demo_copy: Store, base: fc.Plan) -> None:
    analyst, manager = resolve_actor(demo_copy, "analyst"), resolve_actor(demo_copy, "manager")

    def counts() -> list[tuple]:
        return _rows(demo_copy, "SELECT (SELECT count(*) FROM scenarios), (SELECT count(*) FROM audit_log)")

    before = counts()
    with pytest.raises(fc.ScenarioError) as refused:
        fc.save_scenario(demo_copy, analyst, " ", {"win_rate": 3, "headcount": "two"}, NOW, base=base)
    for part in ("give the scenario a title", "win_rate 3 is outside", "headcount must be a number"):
        assert part in str(refused.value)
    assert counts() == before
    with pytest.raises(AccessDenied):
        fc.save_scenario(demo_copy, resolve_actor(demo_copy, "rep"), "Mine", {}, NOW, base=base)
    (other,) = [t for (t,) in _rows(demo_copy, "SELECT id FROM teams") if t != _team_of(demo_copy, manager)]
    with pytest.raises(AccessDenied):
        fc.save_scenario(demo_copy, manager, "Theirs", {}, NOW, team_id=other)
    assert counts() == before

    company = fc.save_scenario(demo_copy, analyst, "Win more", {"win_rate": 1.2}, NOW, base=base)
    team = fc.save_scenario(demo_copy, manager, "Hire one", {"headcount": 1.25}, NOW)
    assert _rows(demo_copy, "SELECT team_id, created_by FROM scenarios ORDER BY id") == [
        (None, "analyst"), (_team_of(demo_copy, manager), "manager")]
    assert _rows(demo_copy, "SELECT entity_id FROM audit_log WHERE entity = 'scenario' ORDER BY id") == [
        (str(company),), (str(team),)]

    assert sorted(fc.scenarios(demo_copy, analyst)["id"]) == [company, team]
    assert fc.scenarios(demo_copy, manager)["id"].to_list() == [team]  # their team's, not the company's
    assert fc.scenarios(demo_copy, resolve_actor(demo_copy, "rep")).is_empty()
    saved = fc.scenarios(demo_copy, analyst).filter(pl.col("id") == company).row(0, named=True)
    assert saved["win_rate"] == 1.2 and saved["quarter_p50"] > saved["quarter_base_p50"]
    side = fc.compare(demo_copy, analyst, [company, team])
    assert side.columns == ["measure", f"#{company} Win more", f"#{team} Hire one"]
    assert side.row(0) == ("win rate ×", "×1.20", "×1.00")
    with pytest.raises(AccessDenied):
        fc.compare(demo_copy, manager, [company])


def _team_of(store: Store, manager: Actor) -> int:
    ((team,),) = _rows(store, "SELECT id FROM teams WHERE manager_id = ?", [manager.rep_id])
    return team


def test_before_any_refresh_the_stored_forecast_says_so(demo_copy: Store) -> None:
    latest = fc.latest_forecast(demo_copy, resolve_actor(demo_copy, "executive"))
    assert latest["as_of"] is None and "has not run" in latest["note"]
