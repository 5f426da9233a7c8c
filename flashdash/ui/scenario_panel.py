"""The Revenue page's Scenarios tab: five sliders (win rate, deal size, cycle length, new-lead volume, headcount)
move the pipeline forecast and quota attainment live, beside today's; a scenario is saved with a title (managers
for their team, analysts and admins for a team or the company) and saved ones are compared side by side.

The simulation is drawn once per reader, team and quota period (forecast.scenario_base, cached until the data
changes) and each slider move is arithmetic on those draws (forecast.scenario), so a move costs milliseconds and two
scenarios differ only by their levers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from flashdash import charts, clock, forecast, org
from flashdash.access import AccessDenied, Actor
from flashdash.filters import Filters
from flashdash.store import StoreError
from flashdash.submissions import md_escape
from flashdash.ui import components as ui
from flashdash.ui.forecast_panel import money, share
from flashdash.ui.quota_panel import period_name
from flashdash.ui.store import cached, current_store, show_problem

KEY = "rev.scenarios"
LEVERS = {"win_rate": "Win rate", "deal_size": "Deal size", "cycle_length": "Cycle length",
          "lead_volume": "New-lead volume", "headcount": "Headcount"}
LEVER_HELP = {
    "win_rate": "Each open and future deal's chance of being won, scaled (capped at 100%).",
    "deal_size": "The amount of every open and future deal.",
    "cycle_length": "The time each deal takes to close: longer pushes revenue out of the period, shorter pulls it in.",
    "lead_volume": "How many new deals are created from now on.",
    "headcount": "Sellers added or removed, each an average one: scales a team's new deals and its quota. A rep's own "
                 "row is unchanged by it.",
}
STEP = 5  # percentage points per slider step
COMPANY = None  # the team choice meaning the whole company
FLASH = f"{KEY}.flash"  # what the last save did, shown after the rerun that lists it
DOLLARS = st.column_config.NumberColumn(format="dollar")
PERCENT = st.column_config.NumberColumn(format="%.0f%%")  # on shares × 100: whole percentages read best here


def params_of(percents: dict[str, int]) -> dict[str, float]:
    """Slider percentages (−50…+50) as the domain's multipliers (0.5…1.5)."""
    return {k: round(1 + percents.get(k, 0) / 100, 4) for k in LEVERS}


def levers_text(params: dict[str, float]) -> str:
    """ "win rate +10%, deal size −5%", or "no lever moved"."""
    moved = [f"{LEVERS[k].lower()} {_signed(v - 1)}" for k, v in params.items() if k in LEVERS and abs(v - 1) > 1e-9]
    return ", ".join(moved) if moved else "no lever moved"


def _signed(x: float) -> str:
    return f"{x:+.0%}".replace("-", "−")


def render(actor: Actor, filters: Filters) -> None:
    del filters  # a scenario is as of now, for the team picked here
    flash = st.session_state.pop(FLASH, None)
    if flash:
        st.success(flash, icon=":material/done:")
    now = clock.now().replace(second=0, microsecond=0)  # the base is drawn at most once a minute, not per move
    with st.columns([1, 2])[0]:
        team_id, team = team_choice(actor)
    period = st.segmented_control("Quota period", forecast.PERIODS, format_func=lambda p: period_name(p, now),
                                  default="next_quarter", key=f"{KEY}.period") or "next_quarter"
    try:
        with st.spinner("Simulating the pipeline once for the sliders…"):
            base = cached(forecast.scenario_base, actor, now, team_id, period)
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    params = sliders()
    try:
        result = forecast.scenario(base, params)
    except ValueError as exc:
        show_problem(exc)
        return
    headline(result, params, team, period, now)
    forecast_view(result)
    attainment_view(result)
    st.divider()
    save_form(actor, base, params, team_id, team, now)
    compare_view(actor)


def team_choice(actor: Actor) -> tuple[int | None, str]:
    """The team the scenario is for (COMPANY: the company) and its name: a rep's own book, a manager's team (a
    choice if they lead several), any team or the company for the others."""
    if actor.role == "rep":
        return COMPANY, "your own book"
    teams = cached(org.filter_options, actor)["teams"]
    names: dict[int | None, str] = dict(zip(teams["id"].to_list(), teams["name"].to_list(), strict=True))
    if actor.sees_all:
        names = {COMPANY: "the whole company", **names}
    if not names:
        return COMPANY, "your team"
    if len(names) == 1:
        team_id = next(iter(names))
        st.caption(f"Scenarios for {names[team_id]}.")
        return team_id, names[team_id]
    team_id = st.selectbox("Scenario for", list(names), format_func=names.get, key=f"{KEY}.team")
    return team_id, names[team_id]


def sliders() -> dict[str, float]:
    """The five levers as multipliers; each slider shows its change from today (−50% … +50%)."""
    st.markdown("**Levers**: each moves one thing from today's level; 0% is today.")
    percents = {}
    for col, (lever, label) in zip(st.columns(len(LEVERS)), LEVERS.items(), strict=True):
        percents[lever] = col.slider(label, -50, 50, 0, STEP, format="%+d%%", key=f"{KEY}.{lever}",
                                     help=LEVER_HELP[lever])
    st.button("Back to today", key=f"{KEY}.reset", icon=":material/restart_alt:", on_click=_reset,
              disabled=not any(percents.values()))
    return params_of(percents)


def _reset() -> None:
    for lever in LEVERS:
        st.session_state[f"{KEY}.{lever}"] = 0


# ---------------------------------------------------------------- the result


def headline(result: dict[str, Any], params: dict[str, float], team: str, period: str, now: datetime) -> None:
    head = result["headline"]
    quarter, p50, base50 = head.get("quarter"), head.get("quarter_p50"), head.get("quarter_base_p50")
    chance, base_chance = head.get("making_quota"), head.get("base_making_quota")
    cols = st.columns(3)
    if quarter and p50 is not None:
        change = p50 / base50 - 1 if base50 else None
        cols[0].metric(f"{quarter} won revenue (median)", money(p50),
                       delta=f"{change:+.0%} vs {money(base50)} today" if change else None)
    if chance is not None:
        diff = (chance - (base_chance or 0)) * 100
        cols[1].metric(chance_label(result["attainment"], head), share(chance),
                       delta=f"{diff:+.0f} pts vs {share(base_chance)} today" if round(diff) else None,
                       help=f"Quota period: {period_name(period, now)}.")
    cols[2].metric("Recomputed in", f"{result['seconds'] * 1e3:.0f} ms",
                   help="The levers are arithmetic on the simulation drawn once for today; only that is redone.")
    st.markdown(headline_text(head, params, team, period, now))


def chance_label(att: pl.DataFrame, head: dict[str, Any]) -> str:
    """What the headline's chance of making quota is: one team's, the teams' average, or the reps' average."""
    if head.get("quota_level") == "team":
        teams = att.filter(pl.col("level") == "team")
        return f"{teams['team'][0]}'s chance of quota" if teams.height == 1 else "Average team's chance of quota"
    return "Chance of quota" if att.filter(pl.col("level") == "rep").height == 1 else "Average rep's chance of quota"


def headline_text(head: dict[str, Any], params: dict[str, float], team: str, period: str, now: datetime) -> str:
    """The scenario in one sentence: what moved, the quarter's median and the chance of making quota, each from
    today's to the scenario's."""
    moved = levers_text(params)
    if moved == "no lever moved":
        return f"Today's outlook for {team}: move a slider to see what a change would do."
    parts = []
    if head.get("quarter") and head.get("quarter_p50") is not None:
        parts.append(f"the {head['quarter']} median moves from {money(head.get('quarter_base_p50'))} to "
                     f"{money(head['quarter_p50'])}")
    if head.get("making_quota") is not None:
        parts.append(f"the chance of making quota in {head.get('period') or period_name(period, now)} from "
                     f"{share(head.get('base_making_quota'))} to {share(head['making_quota'])}")
    return f"**With {moved}** for {team}, " + " and ".join(parts) + "." if parts else f"With {moved}."


def forecast_view(result: dict[str, Any]) -> None:
    months = result["months"]
    ui.chart(scenario_chart(months), key=f"{KEY}.chart")
    st.caption("Won revenue by month: the line is the median of the simulated outcomes, the band holds 80% of them. "
               "The month in progress includes what has been won in it so far.")
    quarters = result["quarters"].select(
        "quarter", pl.col("base_p50").alias("today (median)"), pl.col("p50").alias("scenario (median)"),
        (pl.col("change") * 100).alias("change"), pl.col("base_p10").alias("today low (10%)"),
        pl.col("base_p90").alias("today high (90%)"), pl.col("p10").alias("scenario low (10%)"),
        pl.col("p90").alias("scenario high (90%)"))
    ui.table(quarters, "scenario_quarters", key=f"{KEY}.quarters", column_config={
        **{c: DOLLARS for c in quarters.columns if c not in ("quarter", "change")},
        "change": st.column_config.NumberColumn(format="%+.0f%%")})


def scenario_chart(months: pl.DataFrame) -> alt.LayerChart:
    """Today's and the scenario's monthly forecast: median lines with their 80% bands."""
    long = pl.concat([
        months.select("month", pl.lit("today").alias("plan"), pl.col("base_p10").alias("p10"),
                      pl.col("base_p50").alias("p50"), pl.col("base_p90").alias("p90")),
        months.select("month", pl.lit("scenario").alias("plan"), "p10", "p50", "p90")])
    color = alt.Color("plan:N", title=None, scale=alt.Scale(domain=["today", "scenario"],
                                                            range=["#9ca3af", charts.ACCENT]),
                      legend=alt.Legend(orient="top"))
    long = long.with_columns(label=pl.col("month").dt.strftime("%b %Y"))
    x = alt.X("label:O", sort=months["month"].dt.strftime("%b %Y").to_list(), title=None, axis=alt.Axis(labelAngle=0))
    base = alt.Chart(long).encode(x=x, color=color)
    band = base.mark_area(opacity=0.2).encode(y=alt.Y("p10:Q", title="won revenue", axis=alt.Axis(format="$,.2s")),
                                              y2="p90:Q")
    line = base.mark_line(point=True).encode(y="p50:Q", tooltip=[
        alt.Tooltip("label:O", title="month"), alt.Tooltip("plan:N"), alt.Tooltip("p50:Q", title="median",
                                                                                   format="$,.0f"),
        alt.Tooltip("p10:Q", title="low (10%)", format="$,.0f"), alt.Tooltip("p90:Q", title="high (90%)",
                                                                             format="$,.0f")])
    return alt.layer(band, line).properties(height=300)


def attainment_view(result: dict[str, Any]) -> None:
    att = result["attainment"]
    if att.is_empty():
        st.info("No rep in view has a quota, so there is no attainment to move.", icon=":material/flag:")
        return
    frame = att.with_columns(who=pl.when(pl.col("level") == "team").then(pl.format("{} (team)", pl.col("team")))
                             .otherwise(pl.col("rep"))).sort("probability", "base_probability").select(
        "who", "team", (pl.col("base_probability") * 100).alias("chance today"),
        (pl.col("probability") * 100).alias("chance in scenario"), pl.col("to_close").alias("what would close it"),
        pl.col("quota"), pl.col("base_p50").alias("likely today"), pl.col("forecast_p50").alias("likely in scenario"),
        pl.col("gap").alias("gap in scenario"))
    if frame["team"].n_unique() == 1:
        frame = frame.drop("team")
    st.markdown(f"**Quota attainment, {att['period'][0]}**: today and in the scenario, riskiest first")
    ui.table(frame, "scenario_attainment", key=f"{KEY}.attainment", column_config={
        "chance today": PERCENT, "chance in scenario": PERCENT,
        **{c: DOLLARS for c in ("quota", "likely today", "likely in scenario", "gap in scenario")},
        "what would close it": st.column_config.TextColumn("what would close it", width="large")})


# ---------------------------------------------------------------- saving and comparing


def save_form(actor: Actor, base: forecast.Plan, params: dict[str, float], team_id: int | None, team: str,
              now: datetime) -> None:
    if actor.role not in forecast.PLANNERS:
        return
    st.subheader("Save this scenario")
    if st.session_state.pop(f"{KEY}.saved", False):
        st.session_state[f"{KEY}.title"] = ""  # a new title for the next one (before the widget is drawn)
    with st.form(f"{KEY}.save"):
        title = st.text_input("Title", key=f"{KEY}.title", max_chars=120,
                              placeholder="e.g. Two more reps from August")
        st.caption(f"Saved for {team} with {levers_text(params)}, and what it gives today.")
        submitted = st.form_submit_button("Save scenario", icon=":material/save:", type="primary")
    if not submitted:
        return
    try:
        scenario_id = forecast.save_scenario(current_store(), actor, title, params, now, team_id=team_id, base=base)
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    st.session_state[FLASH] = (f"Saved scenario #{scenario_id} “{md_escape(title.strip())}” for {team}: "
                               f"{levers_text(params)}. It is listed under Compare below.")
    st.session_state[f"{KEY}.pick_next"] = scenario_id
    st.session_state[f"{KEY}.saved"] = True
    st.rerun()


def saved_view(saved: pl.DataFrame) -> pl.DataFrame:
    """The saved scenarios as a table: levers as changes from today, what each gave when saved."""
    return saved.select(
        "id", "title", pl.col("team").fill_null("whole company").alias("for"), pl.col("created_by").alias("by"),
        pl.col("created_at").alias("saved"),
        *[((pl.col(k) - 1) * 100).round(0).cast(pl.Int64).alias(LEVERS[k].lower()) for k in LEVERS],
        "quarter", pl.col("quarter_p50").alias("quarter's median"),
        pl.col("quarter_base_p50").alias("median then"), (pl.col("making_quota") * 100).alias("chance of quota"),
        (pl.col("base_making_quota") * 100).alias("chance then"))


def compare_view(actor: Actor) -> None:
    st.subheader("Compare saved scenarios")
    try:
        saved = cached(forecast.scenarios, actor)
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    if actor.role not in forecast.PLANNERS and actor.role != "rep":
        st.caption(f"Scenarios are saved by managers (for their team), analysts and admins; {actor.role}s compare "
                   "them here.")
    if saved.is_empty():
        st.info(_none_saved(actor), icon=":material/compare_arrows:")
        return
    ui.table(saved_view(saved), "saved_scenarios", key=f"{KEY}.saved", column_config={
        **{LEVERS[k].lower(): st.column_config.NumberColumn(format="%+d%%") for k in LEVERS},
        "quarter's median": DOLLARS, "median then": DOLLARS, "chance of quota": PERCENT, "chance then": PERCENT,
        "saved": st.column_config.DatetimeColumn("saved", format="D MMM YYYY HH:mm")})
    titles = dict(zip(saved["id"].to_list(), saved["title"].to_list(), strict=True))
    _picked(list(titles))
    ids = st.multiselect("Scenarios side by side", list(titles), key=f"{KEY}.compare",
                         format_func=lambda i: f"#{i} {titles[i]}")
    if not ids:
        st.caption("Pick scenarios to see them side by side.")
        return
    try:
        table = cached(forecast.compare, actor, tuple(ids))
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    ui.table(table, "scenario_comparison", key=f"{KEY}.comparison")
    st.caption("Each column is a scenario as it was saved: its levers (× today's level) and what it gave then. The "
               "figures are not recomputed: compare scenarios saved on the same day for a like-for-like view.")


def _picked(ids: list[int]) -> list[int]:
    """The scenarios the comparison starts with: the one just saved and the latest others, three at most."""
    key = f"{KEY}.compare"
    new = st.session_state.pop(f"{KEY}.pick_next", None)
    current = [i for i in st.session_state.get(key, []) if i in ids]
    if new in ids:
        current = [new, *[i for i in current if i != new]][:3]
        st.session_state[key] = current
    elif key not in st.session_state or not current:
        current = ids[:2]
        st.session_state[key] = current
    return current


def _none_saved(actor: Actor) -> str:
    if actor.role == "rep":
        return ("Scenarios are saved by managers for their teams and by analysts and admins, and are not listed to "
                "reps. The sliders above work on your own book.")
    if actor.role == "manager":
        return "No scenario has been saved for your team yet: set the levers above and save one."
    if actor.role in forecast.PLANNERS:
        return "No scenario has been saved yet: set the levers above and save one."
    return "No scenario has been saved yet: managers, analysts and admins save them here."

