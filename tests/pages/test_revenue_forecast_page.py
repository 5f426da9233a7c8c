"""The Revenue page's Forecast, Scenarios and Quota tabs as a manager, an executive, an analyst and a rep: the stored
forecast run with its three methods, its backtest and the verdict on Phase 3's accuracy target in the run's own
figures; the scenario sliders moving the forecast and quota attainment, a manager's saved scenario in the
comparison of another role, a refused save in the domain's words; each rep's chance of making quota, riskiest
first, in the reader's scope only."""

from __future__ import annotations

import json

import polars as pl
from streamlit.testing.v1 import AppTest

from flashdash import forecast
from flashdash.access import resolve_actor
from flashdash.store import Store
from tests.conftest import NOW
from tests.pages.apptest import open_page, texts

SAVE = "FormSubmitter:rev.scenarios.save-Save scenario"


TABLES = {  # a table of the tabs, by a column only it has
    "rev.forecast": "95% from", "rev.forecast.backtest": "within ±5%", "rev.scenarios.attainment": "chance today",
    "rev.scenarios.quarters": "today (median)", "rev.scenarios.saved": "title", "rev.scenarios.comparison": "measure",
    "rev.quota": "expected shortfall"}


def _frame(at: AppTest, key: str) -> pl.DataFrame:
    """The table drawn under `key` (AppTest does not keep a table's key: it is found by its columns)."""
    found = [d.value for d in at.dataframe if TABLES[key] in d.value.columns]
    assert len(found) == 1, f"{len(found)} tables with a column {TABLES[key]!r}"
    return pl.from_pandas(found[0])


def _metric(at: AppTest, label_start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def test_the_forecast_tab_reads_the_stored_run_its_backtest_and_the_verdict_on_the_target(live_store: Store) -> None:
    at = open_page("revenue", "analyst", tab="Forecast")
    assert not at.exception
    assert "has not been computed on this store yet" in texts(at)  # before the job's first run: said, not zeros

    run = forecast.refresh_forecast(live_store, NOW)
    figures, chosen = run["figures"], run["chosen"]
    at = open_page("revenue", "analyst", tab="Forecast")
    assert not at.exception, at.exception
    text = texts(at)
    assert "computed 30 Jun 2026 12:00 by the refresh_forecast job" in text
    months = _frame(at, "rev.forecast")
    assert set(months["method"]) == {"Revenue model", "Pipeline simulation", "Blend"}
    assert months.height == 3 * 7  # this month and six more, three ways
    marked = set(months.filter(pl.col("chosen"))["method"])
    assert marked == {{"pipeline": "Pipeline simulation", "blend": "Blend"}.get(chosen, "Revenue model")}
    assert (months["80% from"] <= months["median"]).all() and (months["median"] <= months["80% to"]).all()
    assert (months["95% from"] <= months["80% from"]).all() and (months["80% to"] <= months["95% to"]).all()

    backtest = _frame(at, "rev.forecast.backtest")
    row = backtest.filter(pl.col("chosen")).row(0, named=True)
    assert abs(row["MAPE"] - figures["mape"] * 100) < 1e-6 and row["n months"] == figures["months"]
    assert {"baseline", "revenue model", "pipeline", "blend"} <= set(backtest["kind"])
    n, w5 = figures["months"], figures["within_5pct"]
    assert _metric(at, "Months within ±5%") == f"{w5:.0%}"
    verdict = "is met" if w5 >= 0.9 else "is not met"
    assert f"Phase 3's accuracy target {verdict}" in text
    assert f"within ±5% in {round(w5 * n)} of {n} backtest months" in text
    assert f"80% interval held in {figures['coverage_80']:.0%} of months" in text
    bar = figures["within_10pct"] >= 0.8 and 0.7 <= figures["coverage_80"] <= 0.9
    assert f"The backtest's bar (at least 80% of months within ±10%, the 80% interval holding in 70–90% of them) is " \
           f"{'met' if bar else 'not met'}: {figures['within_10pct']:.0%} within ±10%" in text
    held = round(figures["coverage_80"] * n)
    assert f"That is {held} of {n} months: its 95% interval" in text  # so few months: coverage is known loosely
    assert "Even a forecast whose spread were exactly right would land within ±5% in about" in text \
        or figures["within_5pct"] >= 0.9
    assert "Black: won revenue" in text  # the chosen method's backtest forecasts against the actual months

    at.segmented_control(key="rev.forecast.grain").set_value("By quarter").run()
    quarters = _frame(at, "rev.forecast")
    assert "2026-Q3" in set(quarters["quarter"]) and "month" not in quarters.columns
    at.segmented_control(key="rev.forecast.horizon").set_value(3).run()
    three = _frame(at, "rev.forecast.backtest")
    assert three.filter(pl.col("chosen"))["MAPE"][0] == figures["mape_3m"] * 100

    # A manager's forecast is their team's, recomputed; they read the company's backtest, which has no amounts.
    at = open_page("revenue", "manager", tab="Forecast")
    assert not at.exception, at.exception
    text = texts(at)
    assert "From your team's deals only" in text and "run on the whole company's deals" in text
    mine = _frame(at, "rev.forecast").filter(pl.col("month") == "Jul 2026")
    company = months.filter(pl.col("month") == "Jul 2026")
    assert (mine["median"] < company["median"]).all()  # a part of the company, not the whole
    assert _frame(at, "rev.forecast.backtest").height == backtest.height
    assert "Black: won revenue" not in text  # the company's actual months are not drawn for them


def test_a_manager_moves_the_levers_saves_a_scenario_and_others_compare_it(live_store: Store) -> None:
    manager = resolve_actor(live_store, "manager")
    at = open_page("revenue", "manager", tab="Scenarios")
    assert not at.exception, at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("Scenarios for "))
    team = caption.removeprefix("Scenarios for ").rstrip(".")
    before = _frame(at, "rev.scenarios.attainment")
    assert (before["chance today"] == before["chance in scenario"]).all()
    assert "move a slider to see what a change would do" in texts(at)

    at.slider(key="rev.scenarios.win_rate").set_value(30)
    at.slider(key="rev.scenarios.deal_size").set_value(20).run()
    assert not at.exception, at.exception
    after = _frame(at, "rev.scenarios.attainment")
    assert (after["chance in scenario"] >= after["chance today"]).all()
    assert (after["chance in scenario"] > after["chance today"]).any()
    assert "With win rate +30%, deal size +20%" in texts(at)
    quarters = _frame(at, "rev.scenarios.quarters")
    assert (quarters["scenario (median)"] > quarters["today (median)"]).all()

    # The domain refuses an untitled scenario, in its own words, and nothing is written.
    at.button(key=SAVE).click().run()
    assert any("The scenario was not saved: give the scenario a title." in e.value for e in at.error)
    with live_store.read() as con:
        assert con.execute("SELECT count(*) FROM scenarios").fetchone()[0] == 0

    at.text_input(key="rev.scenarios.title").input("Sharper close")
    at.button(key=SAVE).click().run()
    assert not at.exception and not at.error
    assert any(f"“Sharper close” for {team}: win rate +30%, deal size +20%" in s.value for s in at.success)
    with live_store.read() as con:
        (scenario_id, team_id, by, params), = con.execute(
            "SELECT id, team_id, created_by, params FROM scenarios").fetchall()
    assert team_id in _teams_of(live_store, manager.rep_id) and by == "manager"
    assert json.loads(params)["win_rate"] == 1.3 and json.loads(params)["deal_size"] == 1.2
    assert f"#{scenario_id} Sharper close" in _frame(at, "rev.scenarios.comparison").columns

    # An executive compares it (and cannot save); a rep neither sees saved scenarios nor saves.
    at = open_page("revenue", "executive", tab="Scenarios")
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.key == SAVE]
    assert "Sharper close" in set(_frame(at, "rev.scenarios.saved")["title"])
    compared = _frame(at, "rev.scenarios.comparison")
    assert compared.filter(pl.col("measure") == "win rate ×")[f"#{scenario_id} Sharper close"][0] == "×1.30"
    at = open_page("revenue", "rep", tab="Scenarios")
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.key == SAVE]
    assert "not listed to reps" in texts(at)
    assert _frame(at, "rev.scenarios.attainment")["who"].to_list() == [_rep_name(live_store, "rep")]


def _teams_of(store: Store, rep_id: int | None) -> list[int]:
    with store.read() as con:
        return [r[0] for r in con.execute("SELECT id FROM teams WHERE manager_id = ?", [rep_id]).fetchall()]


def _rep_name(store: Store, username: str) -> str:
    actor = resolve_actor(store, username)
    with store.read() as con:
        return con.execute("SELECT name FROM reps WHERE id = ?", [actor.rep_id]).fetchone()[0]


def test_quota_chances_are_each_readers_own_riskiest_first(demo_store: Store) -> None:
    manager = resolve_actor(demo_store, "manager")
    at = open_page("revenue", "manager", tab="Quota")
    assert not at.exception, at.exception
    rows = _frame(at, "rev.quota")
    expected = forecast.quota_attainment(demo_store, manager, NOW, "month")
    assert rows.height == expected.height and set(rows["level"]) == {"rep", "team"}
    assert set(rows.filter(pl.col("level") == "rep")["rep"]) == set(expected.filter(pl.col("level") == "rep")["rep"])
    assert rows["chance"].to_list() == sorted(rows["chance"].to_list())  # riskiest first
    assert set(rows["what would close it"]) == set(expected["to_close"])

    at.segmented_control(key="rev.quota.period").set_value("next_quarter").run()
    assert not at.exception, at.exception
    assert "Next quarter (2026-Q3)" in texts(at)
    quarter = forecast.quota_attainment(demo_store, manager, NOW, "next_quarter")
    shown = _frame(at, "rev.quota").filter(pl.col("level") == "rep").sort("rep")
    want = quarter.filter(pl.col("level") == "rep").sort("rep")
    assert shown["quota"].to_list() == want["quota"].to_list()  # three months of monthly quota
    assert [round(x) for x in shown["chance"]] == [round(100 * p) for p in want["probability"]]

    at = open_page("revenue", "rep", tab="Quota")
    assert not at.exception, at.exception
    assert _frame(at, "rev.quota")["rep"].to_list() == [_rep_name(demo_store, "rep")]
    own = forecast.quota_attainment(demo_store, resolve_actor(demo_store, "rep"), NOW, "month").row(0, named=True)
    assert _metric(at, "Your chance of making quota") == f"{own['probability']:.0%}"
    assert [i.value for i in at.info] == [own["to_close"]]  # what would close it, in the domain's words
    at = open_page("revenue", "executive", tab="Quota")
    assert not at.exception, at.exception
    everyone = _frame(at, "rev.quota")
    with demo_store.read() as con:
        teams = con.execute("SELECT count(DISTINCT team_id) FROM reps WHERE monthly_quota > 0 AND active").fetchone()[0]
    assert everyone.filter(pl.col("level") == "team").height == teams
    assert any(m.label.startswith("Teams on track") for m in at.metric)


def test_a_run_stored_before_the_attainable_share_and_calibration_existed_still_shows(live_store: Store) -> None:
    run = forecast.refresh_forecast(live_store, NOW)
    with live_store.write() as con:  # as an older version stored it: no attainable share, rho or factors
        (payload,) = con.execute("SELECT payload FROM analytics_runs WHERE id = ?", [run["run_id"]]).fetchone()
        old = json.loads(payload)
        for key in ("rho", "factors"):
            old.pop(key, None)
        old["backtest"] = [{k: v for k, v in r.items() if not k.startswith("attainable")} for r in old["backtest"]]
        old["figures"] = {k: v for k, v in old["figures"].items() if not k.startswith("attainable")}
        con.execute("UPDATE analytics_runs SET payload = ? WHERE id = ?", [json.dumps(old), run["run_id"]])
    for role in ("analyst", "manager"):  # the stored run read as it is, and a team's forecast recomputed from it
        at = open_page("revenue", role, tab="Forecast")
        assert not at.exception, (role, at.exception)
        backtest = _frame(at, "rev.forecast.backtest")
        assert backtest["±10% attainable"].is_null().all() and backtest.height > 0
        assert "Even a forecast whose spread were exactly right" not in texts(at)  # not claimed without the figure
