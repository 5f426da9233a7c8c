"""The Revenue page's Deal size, Attribution, Deal risk and Performance tabs as each role: the deal-size drivers
with their intervals and out-of-time check, open deals against similar won deals (filtered to the under-sized
ones); attribution under four models that each give out the won revenue; the stored deal risks with their reasons
(and what the page says before the job has run), the risk model's evaluation and the signs against history; rep
productivity against the benchmarks, which managers change (an invalid save refused with every problem named),
activity to close and coaching with its evidence."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from flashdash import attribution, deal_risk, deal_size, performance
from flashdash.access import resolve_actor
from flashdash.filters import Filters
from flashdash.store import Store
from tests.access_probe import frame_leaks, scope_of, text_leaks
from tests.conftest import NOW
from tests.pages.apptest import open_page, switch_tab, texts
from tests.pages.test_access_matrix_pages import shown

PERIOD = Filters(start=date(2025, 7, 1), end=date(2026, 6, 30))  # the "Last 12 months" preset open_page sets


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    return at


def _table(at: AppTest, column: str, nth: int = 0) -> Any:
    """The nth table on screen that has this column (a pandas frame)."""
    frames = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(frames) > nth, f"no table with a {column!r} column: {[list(d.value.columns) for d in at.dataframe]}"
    return frames[nth]


def _charts(at: AppTest) -> list[dict[str, Any]]:
    """Each chart's spec, with its data sets (sent beside it as Arrow) under "datasets"."""
    out = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        spec["datasets"] = {d.name: pa.ipc.open_stream(d.data.data).read_all().to_pylist()
                            for d in chart.proto.datasets}
        out.append(spec)
    return out


def _chart_rows(at: AppTest, field: str) -> list[dict[str, Any]]:
    """The rows of every chart's data that hold this field."""
    return [row for spec in _charts(at) for rows in spec["datasets"].values() for row in rows if field in row]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# ---------------------------------------------------------------- deal size


def test_a_manager_reads_the_deal_size_drivers_with_intervals_and_the_out_of_time_check(demo_store: Store) -> None:
    at = _ok(open_page("revenue", "manager", tab="Deal size"))
    expected = deal_size.drivers(demo_store, resolve_actor(demo_store, "manager"), NOW)
    assert expected["why"] is None and expected["n"] >= deal_size.MIN_WON
    metrics = _metrics(at)
    assert metrics["Won deals in the fit"] == f"{expected['n']:,}"
    assert metrics["R²"] == f"{expected['r2']:.2f}"
    assert metrics["Out-of-time error"] == f"{expected['evaluation']['median_abs_pct_error']:.0%}"
    assert expected["evaluation"]["why"] in texts(at)
    drivers = _table(at, "effect %")
    coefficients = expected["coefficients"]
    assert len(drivers) == coefficients.height
    assert list(drivers["effect %"].round(6)) == [round(v, 6) for v in coefficients["effect_pct"]]
    assert set(drivers["verdict"]) <= {"associated with larger deals", "associated with smaller deals",
                                       deal_size.NO_CLEAR}
    plotted = _chart_rows(at, "effect_pct")
    assert len(plotted) == coefficients.height
    assert all(r["ci_low_pct"] <= r["effect_pct"] <= r["ci_high_pct"] for r in plotted)
    assert "monthly volume: twice as much" in {r["label"] for r in plotted}
    assert deal_size.NOTE in texts(at) and deal_size.SIMILAR_RULE in texts(at)
    # the open deals: the manager's team's only, each with its status and sentence
    deals = _table(at, "similar won deals")
    open_deals = deal_size.undersized(demo_store, resolve_actor(demo_store, "manager"), NOW)
    assert sorted(deals["merchant"]) == sorted(open_deals["merchant_name"])
    assert set(deals["rep"]) <= set(open_deals["rep"])


def test_the_open_deals_filter_to_the_under_sized_ones_against_their_range(live_store: Store,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # The XS store holds too few won deals for a range at the usual minimum: without one, every deal gets a range.
    monkeypatch.setattr(deal_size, "MIN_SIMILAR", 1)
    expected = deal_size.undersized(live_store, resolve_actor(live_store, "analyst"), NOW)
    under = expected.filter(expected["status"] == "under-sized")
    assert under.height >= 1 and expected.height > under.height
    at = _ok(open_page("revenue", "analyst", tab="Deal size"))
    assert _metrics(at)["Under-sized"] == str(under.height)
    assert _metrics(at)["Total gap to the range"] == f"${under['gap'].sum():,.0f}"
    assert len(_table(at, "gap", nth=0)) == expected.height
    at.toggle(key="rev.size.only_under").set_value(True).run()
    shown = _table(at, "gap")
    assert list(shown["merchant"]) == under["merchant_name"].to_list()  # biggest gap first
    assert set(shown["status"]) == {"under-sized"}
    assert (shown["amount"] < shown["range from"]).all()
    assert list(shown["gap"].round(2)) == [round(g, 2) for g in under["gap"]]
    ranges = _chart_rows(at, "recommended_low")
    assert {r["merchant_name"] for r in ranges} == set(under["merchant_name"])


def test_a_rep_is_told_their_own_won_deals_are_too_few_for_the_drivers(demo_store: Store) -> None:
    at = _ok(open_page("revenue", "rep", tab="Deal size"))
    rep = resolve_actor(demo_store, "rep")
    why = deal_size.drivers(demo_store, rep, NOW)["why"]
    assert why and why.startswith("Not enough data")
    assert any(why in w.value for w in at.warning)
    assert "Won deals in the fit" not in _metrics(at)  # no figures the model cannot back
    deals = _table(at, "what it says")
    mine = deal_size.undersized(demo_store, rep, NOW)
    assert sorted(deals["merchant"]) == sorted(mine["merchant_name"]) and set(deals["rep"]) == set(mine["rep"])
    assert set(deals["status"]) == {deal_size.NOT_ENOUGH_SIMILAR}
    assert all(s.startswith("Not enough similar deals") for s in deals["what it says"])


# ---------------------------------------------------------------- attribution


def test_attribution_shows_four_models_that_each_give_out_the_won_revenue(demo_store: Store) -> None:
    manager = resolve_actor(demo_store, "manager")
    expected = attribution.attribute(demo_store, manager, PERIOD)
    won = expected["won_revenue"]
    assert won > 0
    at = _ok(open_page("revenue", "manager", tab="Attribution"))
    assert _metrics(at)["Won revenue"] == f"${won:,.0f}" and _metrics(at)["Each model gives out"] == f"${won:,.0f}"
    assert f"each give out ${won:,.0f}, exactly the won revenue" in texts(at)
    table = _table(at, "time decay")
    for model in attribution.MODELS:
        assert table[model].sum() == pytest.approx(won, abs=0.01)
    sources = expected["frame"].filter(expected["frame"]["dimension"] == "source")
    assert set(table["value"]) == set(sources["value"])
    bars = _chart_rows(at, "model")
    assert {r["model"] for r in bars} == set(attribution.MODELS)
    for model in attribution.MODELS:
        assert sum(r["revenue"] for r in bars if r["model"] == model) == pytest.approx(won, abs=0.01)
    # by rep: only the team's reps (and the marketing touches that have none)
    at.segmented_control(key="rev.attr.dimension").set_value("rep").run()
    reps = set(_table(at, "time decay")["value"])
    with demo_store.read() as con:
        team = {r[0] for r in con.execute("SELECT name FROM reps WHERE list_contains(?, id)",
                                          [list(manager.scope_reps or ())]).fetchall()}
    assert reps - team and all(v.startswith("(") for v in reps - team)  # "(no rep: ...)", never another team's rep
    decay_7 = list(_table(at, "time decay")["time decay"])
    at.number_input(key="rev.attr.half_life").set_value(60.0).run()
    _ok(at)
    decay_60 = _table(at, "time decay")
    assert list(decay_60["time decay"]) != decay_7 and decay_60["time decay"].sum() == pytest.approx(won, abs=0.01)
    at.number_input(key="rev.attr.half_life").set_value(0.0).run()
    assert any("half-life must be a number of days above 0" in e.value for e in at.error)
    assert not at.dataframe


# ---------------------------------------------------------------- deal risk


def test_before_the_job_has_run_the_deal_risk_tab_says_so_and_shows_no_levels(demo_store: Store) -> None:
    assert deal_risk.latest(demo_store, resolve_actor(demo_store, "admin"))["run"] is None
    at = _ok(open_page("revenue", "admin", tab="Deal risk"))
    assert any("the refresh_deal_risk job has not run" in i.value for i in at.info)
    assert not any("chance of losing" in d.value.columns for d in at.dataframe)
    assert "AUC (out of time)" not in _metrics(at)
    signs = _table(at, "odds ratio")  # the history check is computed from the deals themselves
    assert list(signs["sign"]) == [s.label for s in deal_risk.SIGNS]


def test_a_manager_reads_the_stored_risks_high_first_with_reasons_the_evaluation_and_the_history(
        live_store: Store) -> None:
    deal_risk.refresh_deal_risk(live_store, NOW)
    manager = resolve_actor(live_store, "manager")
    stored = deal_risk.latest(live_store, manager)
    run = stored["run"]
    at = _ok(open_page("revenue", "manager", tab="Deal risk"))
    assert f"Computed {stored['computed_at']:%d %b %Y at %H:%M} by the refresh_deal_risk job" in texts(at)
    deals = _table(at, "chance of losing")
    assert sorted(deals["merchant"]) == sorted(stored["deals"]["merchant_name"])
    order = {"high": 0, "medium": 1, "low": 2}
    ranks = [order[lvl] for lvl in deals["risk"]]
    assert ranks == sorted(ranks)
    for row in stored["deals"].iter_rows(named=True):
        why = deals[deals["merchant"] == row["merchant_name"]]["why"].iloc[0]
        assert all(r[:1].upper() + r[1:] + "." in why for r in row["reasons"]) if row["reasons"] else \
            why.startswith("No warning sign")
    medium = stored["deals"].filter(stored["deals"]["level"] == "medium")
    assert medium.height >= 1
    at.multiselect(key="rev.risk.level").set_value(["medium"]).run()
    assert sorted(_table(at, "chance of losing")["merchant"]) == sorted(medium["merchant_name"])
    rep = medium["rep"][0]
    at.multiselect(key="rev.risk.rep").set_value([rep]).run()
    assert set(_table(at, "chance of losing")["rep"]) == {rep}
    # the model's evaluation
    low, high = run["auc_ci"]
    assert _metrics(at)["AUC (out of time)"] == f"{run['auc']:.2f}"
    assert f"95% interval {low:.2f}–{high:.2f}" in texts(at)
    assert _metrics(at)["Brier score"] == f"{run['brier']:.3f}"
    assert f"Base rate alone: {run['brier_base']:.3f}" in texts(at)
    assert len(_chart_rows(at, "predicted")) == len(run["calibration"])
    # the signs against the team's history
    history = deal_risk.check_against_history(live_store, manager, NOW)
    signs = _table(at, "odds ratio")
    assert list(signs["verdict"]) == history["verdict"].to_list()
    assert "associated with more losses" in set(signs["verdict"])
    assert list(signs["deals with it"]) == history["deals_with"].to_list()


def test_a_rep_reads_only_their_own_risks_and_not_enough_history(live_store: Store) -> None:
    deal_risk.refresh_deal_risk(live_store, NOW)
    rep = resolve_actor(live_store, "rep")
    at = _ok(open_page("revenue", "rep", tab="Deal risk"))
    deals = _table(at, "chance of losing")
    assert sorted(deals["merchant"]) == sorted(deal_risk.latest(live_store, rep)["deals"]["merchant_name"])
    with live_store.read() as con:
        (name,) = con.execute("SELECT name FROM reps WHERE id = ?", [rep.rep_id]).fetchone()
    assert set(deals["rep"]) == {name}
    assert not [w for w in at.multiselect if w.key == "rev.risk.rep"]  # no one else to pick
    assert set(_table(at, "odds ratio")["verdict"]) == {deal_risk.NOT_ENOUGH}
    assert any("Not enough data" in w.value for w in at.warning)


# ---------------------------------------------------------------- performance


def _benchmarks(store: Store) -> str | None:
    with store.read() as con:
        row = con.execute("SELECT value FROM settings WHERE key = ?", [performance.SETTING_KEY]).fetchone()
    return row[0] if row else None


def test_a_manager_saves_a_benchmark_after_an_invalid_save_is_refused_naming_every_problem(live_store: Store) -> None:
    manager = resolve_actor(live_store, "manager")
    at = _ok(open_page("revenue", "manager", tab="Performance"))
    productivity = _table(at, "calls_per_day")
    expected = performance.productivity(live_store, manager, PERIOD)
    assert sorted(productivity["rep"]) == sorted(expected["rep"])
    assert set(_table(at, "meets")["benchmark"]) == {8.0}  # calls per day, the default
    submit = "FormSubmitter:rev.perf.bench.form-Save benchmarks"
    at.number_input(key="rev.perf.bench.calls_per_day").set_value(0.0)
    at.number_input(key="rev.perf.bench.median_response_hours").set_value(1000.0)
    at.button(key=submit).click().run()
    (error,) = [e.value for e in at.error]
    assert "Calls per working day must be above 0" in error and "Median first response must be above 0 and at most" \
        in error
    assert _benchmarks(live_store) is None  # nothing half-saved
    at.number_input(key="rev.perf.bench.calls_per_day").set_value(4.5)
    at.number_input(key="rev.perf.bench.median_response_hours").set_value(2.0)
    at.button(key=submit).click().run()
    _ok(at)
    assert [s.value for s in at.success] == ["Saved the benchmarks: calls per working day 8 → 4.5."]
    assert json.loads(_benchmarks(live_store) or "{}")["calls_per_day"] == 4.5
    with live_store.read() as con:
        audited = con.execute("SELECT actor, after FROM audit_log WHERE entity_id = ? ORDER BY id DESC LIMIT 1",
                              [performance.SETTING_KEY]).fetchone()
    assert audited[0] == "manager" and json.loads(audited[1]) == {"calls_per_day": 4.5}
    compared = _table(at, "meets")
    assert set(compared["benchmark"]) == {4.5}
    assert list(compared["meets"]) == [v >= 4.5 for v in compared["value"]]
    saved = _table(at, "meets when")
    assert list(saved["source"]) == ["saved", "default (6.0)", "default (2.0)", "default (2.0)"]


def test_an_analyst_reads_the_benchmarks_activity_to_close_and_coaching_with_its_evidence(demo_store: Store) -> None:
    analyst = resolve_actor(demo_store, "analyst")
    at = _ok(open_page("revenue", "analyst", tab="Performance"))
    assert not [b for b in at.button if "rev.perf.bench" in (b.key or "")]
    assert "managers and admins change them" in texts(at)
    at.segmented_control(key="rev.perf.view").set_value("Activity to close").run()
    _ok(at)
    a2c = performance.activity_to_close(demo_store, analyst, NOW)
    assert a2c["why"] is None
    table = _table(at, "odds ratio")
    assert list(table["factor"]) == a2c["frame"]["factor"].to_list()
    assert set(table["n"]) == {a2c["n"]}
    assert any(v.startswith("associated with") for v in table["verdict"])
    assert performance.A2C_NOTE in texts(at)
    assert len(_chart_rows(at, "odds_ratio")) == a2c["frame"]["odds_ratio"].is_not_null().sum()
    at.segmented_control(key="rev.perf.view").set_value("Coaching").run()
    _ok(at)
    coaching = performance.coaching(demo_store, analyst, PERIOD, NOW)
    recs = coaching["recommendations"]
    assert recs.height >= 1
    first = recs.row(0, named=True)
    assert at.selectbox(key="rev.perf.coach.rep").value == first["rep_id"]  # opens on a rep with something to read
    assert first["recommendation"] in texts(at).replace("\\", "")  # without the markdown escapes
    figures = _table(at, "top_quartile")
    assert len(figures) == recs.height and list(figures["n"]) == recs["n"].to_list()
    assert list(figures["odds_ratio"].round(6)) == [round(v, 6) for v in recs["odds_ratio"]]
    everyone = _table(at, "what, or why none")
    assert sorted(everyone["rep"]) == sorted(coaching["reps"]["rep"])
    for row in coaching["reps"].iter_rows(named=True):
        said = everyone[everyone["rep"] == row["rep"]]["what, or why none"].iloc[0]
        assert said.startswith("On: ") if row["recommendations"] else said == f"None: {row['why_none']}"


def test_a_rep_reads_their_own_productivity_and_not_enough_data_for_activity_to_close(demo_store: Store) -> None:
    rep = resolve_actor(demo_store, "rep")
    at = _ok(open_page("revenue", "rep", tab="Performance"))
    own = performance.productivity(demo_store, rep, PERIOD)
    assert list(_table(at, "calls_per_day")["rep"]) == own["rep"].to_list() and own.height == 1
    assert not [b for b in at.button if "rev.perf.bench" in (b.key or "")]
    at.segmented_control(key="rev.perf.view").set_value("Activity to close").run()
    why = performance.activity_to_close(demo_store, rep, NOW)["why"]
    assert why and any(why in w.value for w in at.warning)
    assert not _chart_rows(at, "odds_ratio")
    at.segmented_control(key="rev.perf.view").set_value("Coaching").run()
    _ok(at)
    (mine,) = performance.coaching(demo_store, rep, PERIOD, NOW)["reps"].iter_rows(named=True)
    assert mine["recommendations"] == 0 and f"No recommendation for {mine['rep']}: {mine['why_none']}" in texts(at)
    assert not [s for s in at.selectbox if s.key == "rev.perf.coach.rep"]


def test_switching_to_the_deal_tabs_keeps_each_one_running_alone(demo_store: Store) -> None:
    at = _ok(open_page("revenue", "executive", tab="Attribution"))
    assert at.segmented_control(key="rev.attr.dimension").value == "source"
    for tab in ("Deal size", "Deal risk", "Performance"):
        _ok(switch_tab(at, "revenue", tab))
        keys = {w.key for w in (*at.segmented_control, *at.toggle, *at.multiselect) if w.key}
        assert not {k for k in keys if k.startswith("rev.attr.")}  # only the open tab's widgets
    assert not [b for b in at.button if "rev.perf.bench" in (b.key or "")]  # executives read the benchmarks only


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_the_views_the_access_matrix_does_not_open_stay_in_the_roles_scope(role: str, live_store: Store) -> None:
    """The matrix renders each tab as it opens; the stored risks, activity to close and coaching are one step
    further."""
    deal_risk.refresh_deal_risk(live_store, NOW)
    scope = scope_of(live_store, role)
    renders = [shown(_ok(open_page("revenue", role, tab="Deal risk")), "Deal risk")]
    at = _ok(open_page("revenue", role, tab="Performance"))
    for view in ("Activity to close", "Coaching"):
        at.segmented_control(key="rev.perf.view").set_value(view).run()
        renders.append(shown(_ok(at), view))
    assert all(one.frames for one in renders)  # each view shows tables or charts to check
    problems = [p for one in renders for where, frame in one.frames for p in frame_leaks(frame, scope, where)]
    problems += [p for one in renders for p in text_leaks(one.text, scope, one.tab)]
    assert problems == []
