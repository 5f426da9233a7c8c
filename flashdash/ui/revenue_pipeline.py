"""The Revenue page's Pipeline tab: the open pipeline by stage, the deals closed by month and why deals were lost;
then pipeline velocity (open deals × win rate × average won deal ÷ cycle length) with its 95% interval and the
arithmetic behind it, its monthly trend, the days deals spend in each stage and the share that moves on, for the
reader's whole book or split by team, rep or vertical.

Every figure is in the reader's scope (a rep's own deals, a manager's teams'). In the default view (the last 90
days, no team, region, rep, vertical or channel picked) the stored velocity run is read and its time shown; any
other view is computed as the page opens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from flashdash import charts, clock, revenue, schedule, work
from flashdash.access import AccessDenied, Actor
from flashdash.filters import Filters
from flashdash.ui import components as ui
from flashdash.ui.store import cached, show_problem

KEY = "rev.pipeline"
SPLITS: dict[str, str | None] = {"company": None, "team": "team", "rep": "rep", "vertical": "vertical"}
SPLIT_NAMES = {"team": "team", "rep": "rep", "vertical": "vertical"}
MAX_LINES = 5  # a trend chart with more lines than this is hard to read: the busiest groups are drawn first
MONEY = st.column_config.NumberColumn(format="dollar", step=1)  # the step sets the decimals shown: whole dollars
PERCENT = st.column_config.NumberColumn(format="percent", step=0.001)  # one decimal
FIGURE = "Pipeline velocity"  # the velocity job's figure in schedule.freshness


# ---------------------------------------------------------------- formatting (shared by the Revenue tabs)


def money(value: float | None) -> str:
    """Whole dollars, or a dash when there is no figure."""
    return "–" if value is None else f"${value:,.0f}"


def money_md(value: float | None) -> str:
    """money() for markdown, where a bare $ would start a formula."""
    return money(value).replace("$", r"\$")


def pct(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}%}"


def days(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} days"


def interval_text(lo: float | None, hi: float | None, fmt: Any = pct) -> str:
    """ "95% interval a – b", or "" without one."""
    return "" if lo is None or hi is None else f"95% interval {fmt(lo)} – {fmt(hi)}"


# ---------------------------------------------------------------- chart builders (frame in, chart out)


def rows_height(rows: int) -> int:
    """A chart's height for `rows` bands: Streamlit fits the title and the axis with its title inside it."""
    return 130 + 34 * rows


def closed_chart(won_lost: pl.DataFrame) -> alt.Chart:
    """The amount closed per month, won and lost stacked, one bar per month."""
    return alt.Chart(won_lost, title="Closed deals ($) by month").mark_bar().encode(
        x=alt.X("month:O", timeUnit="yearmonth", title=None, axis=alt.Axis(format="%b %Y", labelAngle=0)),
        y=alt.Y("amount:Q", title=None, axis=alt.Axis(format="$.2~s")),
        color=alt.Color("outcome:N", title=None, sort=["won", "lost"],
                        scale=alt.Scale(domain=["won", "lost"], range=[charts.ACCENT, "#f87171"])),
        order=alt.Order("outcome:N", sort="descending"),
        tooltip=[alt.Tooltip("month:T", timeUnit="yearmonth", format="%b %Y", title="month"),
                 alt.Tooltip("outcome:N"), alt.Tooltip("deals:Q", format=",.0f"),
                 alt.Tooltip("amount:Q", format="$,.0f")],
    ).properties(height=300)


def rate_chart(frame: pl.DataFrame, category: str, *, successes: str, trials: str, title: str,
               x_title: str, reference: float | None = None) -> alt.LayerChart:
    """A rate per row of `frame` (in its order) as a bar with its 95% interval (`lo`..`hi`) and `successes /
    trials` beside it; rows flagged `few` (an early sign) are drawn muted. Rows without a rate are left out. A
    `reference` rate (e.g. the overall one) is drawn as a dashed line."""
    data = frame.filter(pl.col("rate").is_not_null())
    data = data.with_columns(
        label=pl.Series([f"{a:,} / {b:,}" for a, b in zip(data[successes], data[trials], strict=True)],
                        dtype=pl.String),
        strength=pl.when(pl.col("few")).then(pl.lit("an early sign")).otherwise(pl.lit("n ≥ 30")))
    order = data[category].to_list()
    tooltip = [alt.Tooltip(f"{category}:N"), alt.Tooltip("rate:Q", format=".1%", title="rate"),
               alt.Tooltip("lo:Q", format=".1%", title="95% low"), alt.Tooltip("hi:Q", format=".1%", title="95% high"),
               alt.Tooltip(f"{successes}:Q", format=",.0f"), alt.Tooltip(f"{trials}:Q", format=",.0f")]
    base = alt.Chart(data, title=title).encode(
        y=alt.Y(f"{category}:N", sort=order, title=None, axis=alt.Axis(labelLimit=260)), tooltip=tooltip)
    bars = base.mark_bar(cornerRadiusEnd=3).encode(
        x=alt.X("rate:Q", title=x_title, axis=alt.Axis(format=".0%"), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("strength:N", legend=None, scale=alt.Scale(domain=["n ≥ 30", "an early sign"],
                                                                   range=[charts.ACCENT, charts.MUTED])))
    errors = base.mark_errorbar(ticks=True, size=10, thickness=1.5, color="#111827").encode(
        x=alt.X("lo:Q", title=x_title), x2="hi:Q")
    labels = base.mark_text(align="left", dx=6, color="#374151").encode(x="hi:Q", text="label:N")
    layers = [bars, errors, labels]
    if reference is not None:
        layers.append(alt.Chart(pl.DataFrame({"overall": [reference]})).mark_rule(
            strokeDash=[6, 4], color="#64748b").encode(x="overall:Q", tooltip=[alt.Tooltip(
                "overall:Q", format=".1%", title="overall")]))
    return alt.layer(*layers).properties(height=rows_height(data.height))


def velocity_chart(frame: pl.DataFrame, label: str, title: str) -> alt.LayerChart:
    """Each group's velocity per month (dot) with its 95% interval (bar), fastest first; early signs muted."""
    data = frame.filter(pl.col("velocity_per_month").is_not_null()).sort(
        "velocity_per_month", descending=True).with_columns(
        strength=pl.when(pl.col("few")).then(pl.lit("an early sign")).otherwise(pl.lit("n ≥ 30")))
    color = alt.Color("strength:N", legend=None, scale=alt.Scale(domain=["n ≥ 30", "an early sign"],
                                                                 range=[charts.ACCENT, "#94a3b8"]))
    base = alt.Chart(data, title=title).encode(
        y=alt.Y("group:N", sort=data["group"].to_list(), title=None, axis=alt.Axis(labelLimit=260)),
        tooltip=[alt.Tooltip("group:N", title=label), alt.Tooltip("velocity_per_month:Q", format="$,.0f",
                                                                  title="velocity per month"),
                 alt.Tooltip("lo_per_month:Q", format="$,.0f", title="95% low"),
                 alt.Tooltip("hi_per_month:Q", format="$,.0f", title="95% high"),
                 alt.Tooltip("open_deals:Q", title="open deals"), alt.Tooltip("closed:Q", title="closed"),
                 alt.Tooltip("won:Q", title="won")])
    rules = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("lo_per_month:Q", title="velocity per month", axis=alt.Axis(format="$.2~s")), x2="hi_per_month:Q",
        color=color)
    points = base.mark_point(filled=True, size=80).encode(x="velocity_per_month:Q", color=color)
    return (rules + points).properties(height=rows_height(data.height))


def trend_chart(trend: pl.DataFrame, split: bool, title: str) -> alt.LayerChart | alt.Chart:
    """Velocity per month over time: one line with its 95% band, or one line per group (no bands: they
    would hide each other). A month without enough deals is a gap."""
    data = trend
    x = alt.X("month:T", timeUnit="yearmonth", title=None, axis=alt.Axis(format="%b %Y", labelAngle=0))
    y = alt.Y("velocity_per_month:Q", title="velocity per month", axis=alt.Axis(format="$.2~s"))
    tooltip = [alt.Tooltip("month:T", timeUnit="yearmonth", title="month", format="%b %Y"),
               *([alt.Tooltip("group:N")] if split else []),
               alt.Tooltip("velocity_per_month:Q", format="$,.0f", title="velocity per month"),
               alt.Tooltip("lo_per_month:Q", format="$,.0f", title="95% low"),
               alt.Tooltip("hi_per_month:Q", format="$,.0f", title="95% high"),
               alt.Tooltip("open_deals:Q", title="open at month end"), alt.Tooltip("closed:Q", title="closed"),
               alt.Tooltip("won:Q", title="won"), alt.Tooltip("win_rate:Q", format=".0%", title="win rate"),
               alt.Tooltip("note:N")]
    if split:
        return alt.Chart(data, title=title).mark_line(point=True).encode(
            x=x, y=y, color=alt.Color("group:N", title=None), tooltip=tooltip).properties(height=320)
    band = alt.Chart(data).mark_area(opacity=0.18, color=charts.ACCENT).encode(
        x=x, y=alt.Y("lo_per_month:Q", title="velocity per month"), y2="hi_per_month:Q")
    line = alt.Chart(data, title=title).mark_line(point=True, color=charts.ACCENT).encode(x=x, y=y, tooltip=tooltip)
    return (band + line).properties(height=320)


def duration_chart(frame: pl.DataFrame, category: str, title: str) -> alt.LayerChart:
    """Median days in a stage (bar) and the 75th percentile (tick), with n, in the frame's order."""
    data = frame.filter(pl.col("median_days").is_not_null())
    data = data.with_columns(label=pl.Series([f"n = {n:,}" for n in data["n"]], dtype=pl.String))
    base = alt.Chart(data, title=title).encode(
        y=alt.Y(f"{category}:N", sort=data[category].to_list(), title=None, axis=alt.Axis(labelLimit=260)),
        tooltip=[alt.Tooltip(f"{category}:N"), alt.Tooltip("median_days:Q", format=".1f", title="median days"),
                 alt.Tooltip("p75_days:Q", format=".1f", title="75th percentile"),
                 alt.Tooltip("n:Q", title="stays ended")])
    bars = base.mark_bar(color=charts.ACCENT, cornerRadiusEnd=3).encode(
        x=alt.X("median_days:Q", title="days",
                # room on the right for the n beside the longest tick
                scale=alt.Scale(domain=[0, float(data["p75_days"].max() or 1) * 1.25], nice=False)))
    ticks = base.mark_tick(color="#111827", thickness=2, size=18).encode(x="p75_days:Q")
    labels = base.mark_text(align="left", dx=8, color="#374151").encode(x="p75_days:Q", text="label:N")
    return (bars + ticks + labels).properties(height=rows_height(data.height))


# ---------------------------------------------------------------- the tab


def render(actor: Actor, filters: Filters) -> None:
    """Draw the tab."""
    try:
        pipeline_section(actor, filters)
        velocity_section(actor, filters)
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)


def pipeline_section(actor: Actor, filters: Filters) -> None:
    """The open pipeline today, the deals closed in the period and why deals were lost."""
    st.subheader("Open pipeline and closed deals")
    data = cached(work.pipeline, actor, filters)
    if data["by_stage"].is_empty() and data["won_lost"].is_empty():
        ui.empty("No deals match.")
        return
    # each part says plainly when it has nothing (e.g. imported data where every deal is closed and won)
    left, right = st.columns(2)
    with left:
        if data["by_stage"].is_empty():
            st.info("No open deals: every deal in scope is closed.", icon=":material/info:")
        else:
            ui.chart(charts.funnel(data["by_stage"], "stage", "amount", title="Open pipeline ($) by stage"),
                     key=f"{KEY}.stages")
    with right:
        if data["loss_reasons"].is_empty():
            st.info("No deals were lost in the period.", icon=":material/info:")
        else:
            ui.chart(charts.bar_select(data["loss_reasons"], "reason", "deals", param="reason",
                                       title="Why deals were lost", value_title="Deals"), key=f"{KEY}.loss")
    if data["won_lost"].is_empty():
        st.info("No deals closed in the period.", icon=":material/info:")
    else:
        ui.chart(closed_chart(data["won_lost"]), key=f"{KEY}.won_lost")
        ui.table(data["won_lost"], "closed_deals_by_month", key=f"{KEY}.closed",
                 column_config={"amount": MONEY, "month": st.column_config.DateColumn(format="MMM YYYY")})
    if not data["by_stage"].is_empty():
        ui.table(data["by_stage"], "pipeline_by_stage", key=f"{KEY}.by_stage", column_config={"amount": MONEY})


# ---------------------------------------------------------------- velocity


def split_labels(actor: Actor) -> dict[str, str]:
    """The splits a reader can pick: a rep's book has one team and one rep, so they split by vertical only."""
    whole = "Company" if actor.sees_all else ("Your deals" if actor.role == "rep" else "Your teams")
    labels = {"company": whole, "team": "By team", "rep": "By rep", "vertical": "By vertical"}
    if actor.role == "rep":
        labels = {k: v for k, v in labels.items() if k in ("company", "vertical")}
    return labels


def stored_fits(as_of: datetime | None, filters: Filters) -> bool:
    """Whether the stored velocity run answers this view: its period (the TARGET_DAYS days to its day) is the
    sidebar's, and no team, region, rep, vertical or channel is picked."""
    if as_of is None:
        return False
    end = as_of.date()
    picked = any((filters.teams, filters.regions, filters.reps, filters.verticals, filters.channels))
    return not picked and (filters.start, filters.end) == (end - timedelta(days=revenue.TARGET_DAYS - 1), end)


def velocity_data(actor: Actor, filters: Filters, by: str | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The velocity frames for this view and the stored run they came from (None: computed now)."""
    minute = clock.now().replace(second=0, microsecond=0)
    fresh = cached(schedule.freshness_of, FIGURE, minute)
    if stored_fits(fresh.as_of, filters):
        run = cached(revenue.latest_velocity, actor)
        if run["period"] == (filters.start, filters.end) and (by or "all") in run["by"]:
            return run["by"][by or "all"], {**run, "freshness": fresh}
    return cached(revenue.velocity, actor, filters.start, filters.end, by, filters=filters), None


def velocity_section(actor: Actor, filters: Filters) -> None:
    st.subheader("Pipeline velocity")
    labels = split_labels(actor)
    choice = st.segmented_control("Split by", list(labels), format_func=labels.get, default="company",
                                  required=True, key=f"{KEY}.by",
                                  help="Velocity for the whole of what you see, or one row per team, rep or vertical")
    choice = choice if choice in labels else "company"
    by = SPLITS[choice]
    frames, run = velocity_data(actor, filters, by)
    _source(run, filters)
    if by is None:
        headline(frames["velocity"].row(0, named=True))
    else:
        by_group(frames["velocity"], by)
    trend_section(frames["trend"], by, run)
    stages_section(frames["stages"], by)
    conversion_section(frames["conversion"], by)
    st.caption(revenue.NOTE)


def _source(run: dict[str, Any] | None, filters: Filters) -> None:
    """Where the figures come from: the stored run (and when it was computed) or this page's own computation."""
    if run is None:
        st.caption(f"Computed as the page opened for {filters.start:%d %b %Y} – {filters.end:%d %b %Y} and the "
                   "sidebar's filters. The hourly stored run covers the last 90 days without filters.")
        return
    ui.freshness(run["freshness"], "These velocity figures")
    start, end = run["period"]
    scoped = (" They are recomputed in your scope for the run's time: the stored run holds every deal."
              if run["scoped"] else "")
    st.caption(f"The stored run of {run['computed_at']:%d %b %Y %H:%M} covers {start:%d %b} – {end:%d %b %Y}; its "
               f"monthly trend starts {run['trend_from']:%b %Y}.{scoped}")


def formula(row: dict[str, Any]) -> str:
    """The velocity of one row written out as its arithmetic (markdown)."""
    return (f"**Velocity** = {row['open_deals']:,} open deals × {pct(row['win_rate'], 1)} win rate × "
            f"{money_md(row['avg_won'])} average won deal ÷ {row['avg_cycle_days']:.1f} days average cycle = "
            f"**{money_md(row['velocity_per_day'])} a day**, about **{money_md(row['velocity_per_month'])} a "
            f"month** ({interval_text(row['lo_per_month'], row['hi_per_month'], money_md)}; "
            f"{row['closed']:,} deals closed in the period, {row['won']:,} of them won).")


def no_velocity_reason(row: dict[str, Any]) -> str:
    """Why a row has no velocity, and what to do about it."""
    if row["note"]:
        return f"{row['note']}. Widen the date range in the sidebar."
    if row["avg_cycle_days"] is not None and row["avg_cycle_days"] <= 0:
        # imported data (e.g. Olist) may record a deal's creation and close at the same moment
        return ("the deals won in the period were closed the moment they were created (an average cycle of 0 "
                "days), so there is no cycle length to divide by.")
    return "the period's deals do not give a win rate, deal size and cycle length to multiply."


def headline(row: dict[str, Any]) -> None:
    """The velocity of the whole view: the four factors, the result and the arithmetic."""
    cols = st.columns(5)
    cols[0].metric("Velocity per month", money(row["velocity_per_month"]),
                   help="Revenue the pipeline moves to won per month at today's pace: open deals × win rate × "
                        "average won deal ÷ average cycle (days) × 30.4.")
    cols[1].metric("Open deals", f"{row['open_deals']:,}", help="Open at the end of the period.")
    cols[2].metric("Win rate", pct(row["win_rate"], 1), help=f"Won of the {row['closed']:,} deals closed in the "
                                                              "period.")
    cols[3].metric("Average won deal", money(row["avg_won"]), help=f"Over the {row['won']:,} deals won in the "
                                                                   "period (annual revenue).")
    cols[4].metric("Average cycle", days(row["avg_cycle_days"]), help="From creation to win, over the deals won in "
                                                                      "the period.")
    if row["velocity_per_month"] is None:
        st.info(f"No velocity: {no_velocity_reason(row)}", icon=":material/data_alert:")
        return
    st.markdown(formula(row))
    if row["open_deals"] == 0:
        st.caption("No deal was open at the end of the period, so nothing is moving through the pipeline.")
    if row["note"]:
        st.caption(f"{row['note'][:1].upper()}{row['note'][1:]}.")


def _named(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    """A split's rows with the group named as what it is (team, rep, vertical) and its id dropped."""
    keys = [c for c in ("team_id", "rep_id") if c in frame.columns]
    out = frame.drop(keys) if keys else frame
    if by == "vertical" and "vertical" in out.columns:
        out = out.drop("vertical")  # the group is the vertical already
    return out.rename({"group": SPLIT_NAMES[by]})


def velocity_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Velocity rows as a table: the velocity and its interval first, then what qualifies it (the note), then its
    four factors."""
    first = ["velocity_per_month", "lo_per_month", "hi_per_month", "note"]
    factors = ["open_deals", "closed", "won", "win_rate", "avg_won", "avg_cycle_days"]
    keys = [c for c in frame.columns if c not in {*first, *factors, "velocity_per_day", "few"}]
    return frame.select(*keys, *first, *factors)


VELOCITY_COLUMNS = {
    "open_deals": st.column_config.NumberColumn("open deals", help="Open at the end of the period."),
    "win_rate": st.column_config.NumberColumn("win rate", format="percent", step=0.001),
    "avg_won": st.column_config.NumberColumn("average won deal", format="dollar", step=1),
    "avg_cycle_days": st.column_config.NumberColumn("average cycle (days)", format="%.1f"),
    "velocity_per_month": st.column_config.NumberColumn("velocity per month", format="dollar", step=1),
    "lo_per_month": st.column_config.NumberColumn("95% low", format="dollar", step=1),
    "hi_per_month": st.column_config.NumberColumn("95% high", format="dollar", step=1),
    "note": st.column_config.TextColumn("note", width="large"),
}


def by_group(frame: pl.DataFrame, by: str) -> None:
    """One velocity per team, rep or vertical: the dots with their intervals, then the table."""
    name = SPLIT_NAMES[by]
    if frame.filter(pl.col("velocity_per_month").is_not_null()).is_empty():
        st.info(f"No {name} has enough closed and won deals in the period for a velocity (it takes "
                f"{revenue.MIN_CLOSED} closed and {revenue.MIN_WON} won). Widen the date range in the sidebar.",
                icon=":material/data_alert:")
    else:
        ui.chart(velocity_chart(frame, name, f"Velocity per month by {name}"), key=f"{KEY}.velocity.{by}")
        st.caption(f"Each dot is a {name}'s velocity per month, the bar its 95% interval; grey: fewer than "
                   f"{revenue.MIN_N} closed deals, an early sign. Velocity grows with the number of open deals, so "
                   f"a {name} with more deals moves more: read win rate, deal size and cycle in the table to see "
                   "why one is faster. A row without a velocity says why in its note.")
    ui.table(velocity_rows(_named(frame, by)), f"velocity_by_{name}", key=f"{KEY}.velocity_table.{by}",
             column_config=VELOCITY_COLUMNS)


def busiest(trend: pl.DataFrame, n: int = MAX_LINES) -> list[str]:
    """The groups with the most closed deals over the trend, most first."""
    totals = trend.group_by("group").agg(pl.col("closed").sum()).sort(["closed", "group"], descending=[True, False])
    return totals["group"].head(n).to_list()


def trend_section(trend: pl.DataFrame, by: str | None, run: dict[str, Any] | None) -> None:
    st.markdown("**Velocity by month**")
    if trend.filter(pl.col("velocity_per_month").is_not_null()).is_empty():
        st.info(no_trend_reason(trend), icon=":material/data_alert:")
    else:
        trend_drawing(trend, by, run)
    with st.expander("Velocity by month as a table"):
        rows = trend.drop("group") if by is None else _named(trend, by)
        ui.table(velocity_rows(rows), "velocity_by_month", key=f"{KEY}.trend_table",
                 column_config={**VELOCITY_COLUMNS, "month": st.column_config.DateColumn(format="MMM YYYY")})


def no_trend_reason(trend: pl.DataFrame) -> str:
    """Why no month has a velocity: too few deals, or deals closed the moment they were created."""
    enough = trend.filter((pl.col("closed") >= revenue.MIN_CLOSED) & (pl.col("won") >= revenue.MIN_WON))
    if enough.is_empty():
        return ("No month of the period has enough closed and won deals for a velocity (each month takes "
                f"{revenue.MIN_CLOSED} closed and {revenue.MIN_WON} won). Widen the date range in the sidebar.")
    return ("No month of the period has a velocity: in the months with enough deals, the deals won were closed the "
            "moment they were created (a cycle of 0 days), so there is no cycle length to divide by.")


def trend_drawing(trend: pl.DataFrame, by: str | None, run: dict[str, Any] | None) -> None:
    """The trend chart: one line, or one per group the reader picks (the busiest to begin with)."""
    shown = trend
    if by is not None:
        ranked = busiest(trend, trend["group"].n_unique())
        picked = st.multiselect(f"{SPLIT_NAMES[by].capitalize()}s to draw", ranked, default=ranked[:MAX_LINES],
                                key=f"{KEY}.trend_groups.{by}",
                                help=f"Listed by closed deals, most first; the {MAX_LINES} busiest are drawn to "
                                     "begin with. Every one is in the table below the chart.")
        if not picked:
            st.info(f"Pick a {SPLIT_NAMES[by]} above to draw its trend.", icon=":material/touch_app:")
            return
        shown = trend.filter(pl.col("group").is_in(picked))
    ui.chart(trend_chart(shown, by is not None, ""), key=f"{KEY}.trend")
    span = "the 12 months of the stored run" if run is not None else "each calendar month of the period"
    st.caption(f"Velocity computed for {span} (a month cut by the period counts its part): the deals open at "
               "its end, and the deals closed and won in it." + ("" if by else " The band is the 95% interval.")
               + " A gap is a month without enough closed and won deals.")


def _per_stage(frame: pl.DataFrame, by: str, titles: dict[str, str], value: str, minimum: int,
               chart: Callable[[pl.DataFrame, str], alt.TopLevelMixin], key: str) -> None:
    """A split's figure stage by stage, one column each: the stage's chart of the groups, or why there is none."""
    for col, (stage, title) in zip(st.columns(len(titles)), titles.items(), strict=True):
        with col:
            part = frame.filter(pl.col("stage") == stage)
            if part.filter(pl.col(value).is_not_null()).is_empty():
                st.caption(f"{title}: no {SPLIT_NAMES[by]} has {minimum} stays that ended in the period.")
            else:
                ui.chart(chart(part, title), key=f"{key}.{stage}")


def stages_section(stages: pl.DataFrame, by: str | None) -> None:
    st.markdown("**Days in each stage**")
    measured = stages.filter(pl.col("median_days").is_not_null())
    if measured.is_empty():
        st.info(f"No stage has {revenue.MIN_SPANS} stays that ended in the period, so there are no durations to "
                "show. Widen the date range in the sidebar.", icon=":material/data_alert:")
    elif by is None:
        ui.chart(duration_chart(stages, "stage", ""), key=f"{KEY}.durations")
    else:
        _per_stage(stages, by, {s: s.capitalize() for s in revenue.STAGES}, "median_days", revenue.MIN_SPANS,
                   lambda part, title: duration_chart(part, "group", title), f"{KEY}.durations")
    st.caption("Days from entering a stage to leaving it, over the stays that ended in the period (a deal still "
               "in a stage is not counted: its length is not known yet). The bar is the median (half the stays "
               "were shorter), the tick the 75th percentile (three in four were shorter), n the stays behind them. "
               f"Fewer than {revenue.MIN_SPANS} stays: no figure.")
    rows = stages.drop("group") if by is None else _named(stages, by)
    ui.table(rows, "stage_durations", key=f"{KEY}.durations_table", column_config={
        "n": st.column_config.NumberColumn("stays ended"), "median_days": st.column_config.NumberColumn(
            "median days", format="%.1f"), "p75_days": st.column_config.NumberColumn("75th percentile", format="%.1f"),
        "note": st.column_config.TextColumn("note", width="large")})


def conversion_section(conversion: pl.DataFrame, by: str | None) -> None:
    st.markdown("**Stage-to-stage conversion**")
    rated = conversion.filter(pl.col("rate").is_not_null())
    if rated.is_empty():
        st.info(f"No stage has {revenue.MIN_CLOSED} stays that ended in the period, so there is no conversion "
                "to show. Widen the date range in the sidebar.", icon=":material/data_alert:")
    elif by is None:
        ui.chart(rate_chart(conversion, "step", successes="moved", trials="n", title="", x_title="moved on"),
                 key=f"{KEY}.conversion")
    else:
        _per_stage(conversion, by, revenue.STEPS, "rate", revenue.MIN_CLOSED,
                   lambda part, title: rate_chart(part, "group", successes="moved", trials="n", title=title,
                                                  x_title="moved on"), f"{KEY}.conversion")
    st.caption("Of the stays in a stage that ended in the period, the share that moved on to a later stage "
               "(negotiation → closed won is the win rate of negotiations); the rest were lost or went back. The "
               "bar is the share, the whisker its 95% Wilson interval, beside it moved / stays; pale bars rest on "
               f"fewer than {revenue.MIN_N} stays, an early sign. Fewer than {revenue.MIN_CLOSED}: no figure.")
    rows = conversion.drop("group", "stage") if by is None else _named(conversion, by).drop("stage")
    ui.table(rows.drop("few"), "stage_conversion", key=f"{KEY}.conversion_table", column_config={
        "n": st.column_config.NumberColumn("stays ended"), "moved": st.column_config.NumberColumn("moved on"),
        "rate": PERCENT, "lo": st.column_config.NumberColumn("95% low", format="percent", step=0.001),
        "hi": st.column_config.NumberColumn("95% high", format="percent", step=0.001),
        "note": st.column_config.TextColumn("note", width="large")})
