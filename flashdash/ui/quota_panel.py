"""The Revenue page's Quota tab: each rep's (and, for managers and above, each team's) chance of making quota in a
period, the gap in the likely outcome, the expected shortfall and what would close it, riskiest first, with a
chart of the chances.

The chances come from the pipeline simulation (forecast.quota_attainment): what was won in the period so far plus
what each simulated draw of the open deals and the deals still to come closes in it, against the quota. Reps see
their own row, managers their team's reps and the team, everyone else every rep and team."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from flashdash import clock, forecast
from flashdash.access import AccessDenied, Actor
from flashdash.filters import Filters
from flashdash.ui import components as ui
from flashdash.ui.forecast_panel import money, share
from flashdash.ui.store import cached, show_problem

KEY = "rev.quota"
PERIOD_NAMES = {"month": "This month", "quarter": "This quarter", "next_month": "Next month",
                "next_quarter": "Next quarter"}
RISK = (("at risk", 0.3, "#dc2626"), ("toss-up", 0.7, "#f59e0b"), ("likely", 1.01, "#16a34a"))  # below each bound
DOLLARS = st.column_config.NumberColumn(format="dollar")


def period_name(period: str, now: datetime) -> str:
    """ "This month (Jun 2026)", "Next quarter (2026-Q3)"."""
    months = forecast.period_months(now, period)
    when = f"{months[0]:%b %Y}" if len(months) == 1 else forecast.quarter_label(months[0])
    return f"{PERIOD_NAMES[period]} ({when})"


def days_left(period: str, now: datetime) -> float:
    """Days from now to the period's end (its whole length for a period still to come)."""
    months = forecast.period_months(now, period)
    end = datetime.combine(forecast.add_months(months[-1], 1), datetime.min.time())
    start = max(now, datetime.combine(months[0], datetime.min.time()))
    return max((end - start) / timedelta(days=1), 0.0)


def risk_of(probability: float) -> str:
    return next(name for name, bound, _ in RISK if probability < bound)


def render(actor: Actor, filters: Filters) -> None:
    now = clock.now().replace(second=0, microsecond=0)  # one simulation per minute at most, not per rerun
    period = st.segmented_control("Period", forecast.PERIODS, format_func=lambda p: period_name(p, now),
                                  default="month", key=f"{KEY}.period", label_visibility="collapsed") or "month"
    try:
        rows = cached(forecast.quota_attainment, actor, now, period)
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    rows = narrowed(rows, filters)
    if rows.is_empty():
        ui.empty("No rep in view has a quota: quotas are set per rep (a monthly amount; a quarter's is three "
                 "months'). A manager carries none of their own.")
        return
    left = days_left(period, now)
    st.caption(f"{period_name(period, now)}: {left:.1f} days left. Each chance is the share of "
               f"{int(rows['draws'][0]):,} simulated outcomes in which what was won so far in the period plus what "
               "the open deals and the deals still to come close in it reaches the quota. The sidebar's team and rep "
               "filters narrow the rows; its dates do not apply (the period is chosen here).")
    if period == "month" and left < 3:
        st.caption(f"This month has {left:.1f} days left, so most chances are already near 0% or 100%: next month and "
                   "next quarter are where there is still something to act on.")
    summary(rows)
    chances_chart(rows)
    table(rows, period)


def narrowed(rows: pl.DataFrame, filters: Filters) -> pl.DataFrame:
    """The rows of the sidebar's teams and reps (a team row stays when its team is picked)."""
    if filters.teams:
        rows = rows.filter(pl.col("team_id").is_in(list(filters.teams)))
    if filters.reps:
        rows = rows.filter((pl.col("level") == "team") | pl.col("rep_id").is_in(list(filters.reps)))
    return rows


def summary(rows: pl.DataFrame) -> None:
    reps, teams = rows.filter(pl.col("level") == "rep"), rows.filter(pl.col("level") == "team")
    if rows.height == 1 and reps.height == 1:
        own(reps.row(0, named=True))
        return
    cols = st.columns(4)
    if reps.height:
        likely = int((reps["probability"] >= 0.5).sum())
        cols[0].metric("Reps on track (chance ≥ 50%)", f"{likely} of {reps.height}")
        cols[1].metric("Reps at risk (under 30%)", f"{int((reps['probability'] < 0.3).sum())}")
        cols[2].metric("Expected shortfall, all reps", money(float(reps["expected_gap"].sum())),
                       help="The average amount by which reps fall short of quota across the simulated outcomes, "
                            "summed over reps (a rep over quota counts 0).")
    if teams.height == 1:
        team = teams.row(0, named=True)
        cols[3].metric(f"{team['team']}'s chance of quota", share(team["probability"]))
    elif teams.height:
        cols[3].metric("Teams on track (chance ≥ 50%)",
                       f"{int((teams['probability'] >= 0.5).sum())} of {teams.height}")


def own(row: dict[str, Any]) -> None:
    """One rep's own figures, and what would close their gap, in words."""
    diff = row["forecast_p50"] - row["quota"]
    cols = st.columns(3)
    cols[0].metric("Your chance of making quota", share(row["probability"]))
    cols[1].metric("Likely outcome", money(row["forecast_p50"]), help="The median of the simulated outcomes; 80% of "
                   f"them fall between {money(row['forecast_p10'])} and {money(row['forecast_p90'])}.",
                   delta=f"{'+' if diff >= 0 else '-'}{money(abs(diff))} vs your {money(row['quota'])} quota")
    cols[2].metric("Expected shortfall", money(row["expected_gap"]),
                   help="The average amount short of quota across the simulated outcomes (0 in those that reach it).")
    st.info(row["to_close"], icon=":material/flag:")


def _who(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns(who=pl.when(pl.col("level") == "team").then(pl.col("team")).otherwise(pl.col("rep")),
                             risk=pl.col("probability").map_elements(risk_of, return_dtype=pl.String))


def chances_chart(rows: pl.DataFrame) -> None:
    """The chances as bars: the teams beside the reps when there are several teams (one team's is a metric above)."""
    frame = _who(rows).sort("probability", "expected_gap", descending=[False, True])
    teams, reps = frame.filter(pl.col("level") == "team"), frame.filter(pl.col("level") == "rep")
    parts = [(p, t) for p, t in ((teams, "Teams"), (reps, "Reps")) if p.height > 1 or (t == "Reps" and teams.height)]
    if not parts:
        return
    widths = [1, 2] if len(parts) == 2 else [1]
    for col, (part, title) in zip(st.columns(widths), parts, strict=True):
        with col:
            ui.chart(probability_bars(part, f"{title}: chance of making quota, riskiest first"),
                     key=f"{KEY}.chart.{title.lower()}")


def probability_bars(frame: pl.DataFrame, title: str) -> alt.LayerChart:
    """Horizontal bars of the chance of making quota, riskiest first, coloured by risk, with a line at 50%."""
    data = frame.select("who", "team", "probability", "risk", "quota", "forecast_p50", "gap")
    order = data["who"].to_list()
    colors = alt.Color("risk:N", title=None, scale=alt.Scale(domain=[r[0] for r in RISK], range=[r[2] for r in RISK]),
                       legend=alt.Legend(orient="top"))
    base = alt.Chart(data, title=title).encode(y=alt.Y("who:N", sort=order, title=None, axis=alt.Axis(labelLimit=200)))
    bars = base.mark_bar(cornerRadiusEnd=3).encode(
        x=alt.X("probability:Q", title=None, scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format=".0%")),
        color=colors, tooltip=[alt.Tooltip("who:N", title="who"), alt.Tooltip("probability:Q", format=".0%",
                                                                               title="chance"),
                               alt.Tooltip("quota:Q", format="$,.0f"),
                               alt.Tooltip("forecast_p50:Q", format="$,.0f", title="likely outcome"),
                               alt.Tooltip("gap:Q", format="$,.0f", title="gap")])
    labels = base.mark_text(align="left", dx=4).encode(x="probability:Q", text=alt.Text("probability:Q", format=".0%"))
    half = alt.Chart(pl.DataFrame({"x": [0.5]})).mark_rule(strokeDash=[4, 4], color="#6b7280").encode(x="x:Q")
    # Streamlit fits the title, the legend and the axis inside the height: leave room for them beyond the bars.
    return alt.layer(bars, labels, half).properties(height=120 + 26 * frame.height)


def table(rows: pl.DataFrame, period: str) -> None:
    frame = _who(rows).sort("probability", "expected_gap", descending=[False, True]).select(
        "level", pl.col("team"), pl.col("rep").fill_null("–"), (pl.col("probability") * 100).alias("chance"), "risk",
        pl.col("to_close").alias("what would close it"), "quota", pl.col("won_to_date").alias("won so far"), pl.col("forecast_p50").alias("likely outcome"),
        pl.col("forecast_p10").alias("low (10%)"), pl.col("forecast_p90").alias("high (90%)"),
        pl.col("gap").alias("gap (likely)"), pl.col("expected_gap").alias("expected shortfall"))
    ui.table(frame, f"quota_attainment_{period}", key=f"{KEY}.table", column_config={
        "chance": st.column_config.ProgressColumn("chance", min_value=0.0, max_value=100.0, format="%.0f%%"),
        **{c: DOLLARS for c in ("quota", "won so far", "likely outcome", "low (10%)", "high (90%)", "gap (likely)",
                                "expected shortfall")},
        "what would close it": st.column_config.TextColumn("what would close it", width="large")})
    st.caption("Riskiest first. Likely outcome: the median of the simulated outcomes, with 80% of them between low and "
               "high. Gap: the quota less the likely outcome. Expected shortfall: the average amount short across all "
               "outcomes. What would close it: more deals at the rep's average won deal of the last year, or the "
               "fewest of the largest open deals expected to close in the period that would reach the quota.")

