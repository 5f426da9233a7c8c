"""The Revenue page's Win/loss tab: of the deals closed in the period, the win rate with its 95% interval, the
reasons recorded for wins and losses month by month, and the win rate by competitor and by segment (vertical,
company size), each with its interval and n. These are associations, and the tab says so.

Every figure is in the reader's scope (a rep's own deals, a manager's teams') and follows the sidebar's period
and filters."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from flashdash import revenue
from flashdash.access import AccessDenied, Actor
from flashdash.filters import Filters
from flashdash.ui import components as ui
from flashdash.ui.revenue_pipeline import interval_text, pct, rate_chart
from flashdash.ui.store import cached, show_problem

KEY = "rev.winloss"
OUTCOMES = {"won": "Why deals were won", "lost": "Why deals were lost"}
RATE_COLUMNS = {
    "closed": st.column_config.NumberColumn("closed deals"),
    "won": st.column_config.NumberColumn("won"),
    "rate": st.column_config.NumberColumn("win rate", format="percent", step=0.001),
    "lo": st.column_config.NumberColumn("95% low", format="percent", step=0.001),
    "hi": st.column_config.NumberColumn("95% high", format="percent", step=0.001),
    "note": st.column_config.TextColumn("note", width="large"),
}


def reason_mix_chart(reasons: pl.DataFrame, title: str) -> alt.Chart:
    """Each month's deals of one outcome as 100% stacked bars by reason, the most frequent reason at the bottom."""
    order = (reasons.group_by("reason").agg(pl.col("deals").sum())
             .sort(["deals", "reason"], descending=[True, False])["reason"].to_list())
    data = reasons.with_columns(rank=pl.col("reason").replace_strict(order, list(range(len(order)))))
    return alt.Chart(data, title=title).mark_bar().encode(
        x=alt.X("month:O", timeUnit="yearmonth", title=None, axis=alt.Axis(format="%b %Y", labelAngle=0)),
        y=alt.Y("deals:Q", stack="normalize", title="share of the month's deals", axis=alt.Axis(format=".0%")),
        color=alt.Color("reason:N", title=None, sort=order, scale=alt.Scale(scheme="tableau10"),
                        legend=alt.Legend(orient="bottom", columns=3)),  # beside the bars it halves their width
        order=alt.Order("rank:Q"),
        tooltip=[alt.Tooltip("month:T", timeUnit="yearmonth", format="%b %Y", title="month"),
                 alt.Tooltip("reason:N"), alt.Tooltip("deals:Q", format=",.0f"),
                 alt.Tooltip("share:Q", format=".0%", title="share of the month")],
    ).properties(height=360)


def render(actor: Actor, filters: Filters) -> None:
    """Draw the tab."""
    try:
        data = cached(revenue.win_loss, actor, filters.start, filters.end, filters=filters)
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    overall = data["overall"].row(0, named=True)
    if overall["closed"] == 0:
        ui.empty("No deal closed in the period, so there is nothing won or lost to compare.")
        return
    headline(overall)
    reasons_section(data["reasons"])
    competitors_section(data["competitors"], overall["rate"])
    segments_section(data["segments"], overall["rate"])
    st.caption(revenue.WIN_LOSS_NOTE)


def headline(row: dict[str, Any]) -> None:
    cols = st.columns(4)
    cols[0].metric("Win rate", pct(row["rate"], 1), help="Won of the deals closed in the period.")
    cols[1].metric("Closed deals", f"{row['closed']:,}")
    cols[2].metric("Won", f"{row['won']:,}")
    cols[3].metric("Lost", f"{row['lost']:,}")
    parts = [interval_text(row["lo"], row["hi"], lambda v: pct(v, 1)), f"n = {row['closed']:,} closed deals"]
    if row["note"]:
        parts.append(row["note"])
    st.caption(" · ".join(p for p in parts if p))


def reasons_section(reasons: pl.DataFrame) -> None:
    st.subheader("Reasons, month by month")
    cols = st.columns(2)
    for col, (outcome, title) in zip(cols, OUTCOMES.items(), strict=True):
        with col:
            part = reasons.filter(pl.col("outcome") == outcome)
            if part.is_empty():
                st.info(f"No deal was {outcome} in the period.", icon=":material/info:")
            else:
                ui.chart(reason_mix_chart(part, title), key=f"{KEY}.reasons.{outcome}")
    st.caption("Each bar is one month's won (left) or lost (right) deals by the reason recorded at the close, as "
               "shares of that month; hover for the counts. \"(not given)\": closed without a reason. A month with "
               "few deals swings widely: read its counts before its shares.")
    ui.table(reasons, "win_loss_reasons", key=f"{KEY}.reasons_table", column_config={
        "month": st.column_config.DateColumn(format="MMM YYYY"),
        "share": st.column_config.NumberColumn("share of the month", format="percent", step=0.001)})


def competitors_section(competitors: pl.DataFrame, overall: float | None) -> None:
    st.subheader("Win rate by competitor")
    if competitors.filter(pl.col("rate").is_not_null()).is_empty():
        st.info(f"No competitor was met in {revenue.MIN_CLOSED} or more closed deals, so there is no rate to "
                "compare. Widen the date range in the sidebar.", icon=":material/data_alert:")
    else:
        ui.chart(rate_chart(competitors, "competitor", successes="won", trials="closed", title="",
                            x_title="win rate of the deals where it was met", reference=overall),
                 key=f"{KEY}.competitors")
    st.caption("Deals where a competitor was met are associated with the win rate shown, not caused by it: "
               "\"none\" is a deal without a competitor, \"(not recorded)\" one where nobody wrote it down. The "
               "whisker is the 95% Wilson interval, the dashed line the overall win rate; pale bars rest on fewer than "
               f"{revenue.MIN_N} deals, an early sign; under {revenue.MIN_CLOSED} there is no rate (see the table).")
    ui.table(competitors.drop("few"), "win_rate_by_competitor", key=f"{KEY}.competitors_table",
             column_config=RATE_COLUMNS)


def segments_section(segments: pl.DataFrame, overall: float | None) -> None:
    st.subheader("Win rate by segment")
    dimensions = segments["dimension"].unique(maintain_order=True).to_list()
    for col, dimension in zip(st.columns(max(len(dimensions), 1)), dimensions, strict=False):
        with col:
            part = segments.filter(pl.col("dimension") == dimension)
            if part.filter(pl.col("rate").is_not_null()).is_empty():
                st.info(f"No {dimension} has {revenue.MIN_CLOSED} closed deals in the period.",
                        icon=":material/data_alert:")
            else:
                ui.chart(rate_chart(part, "segment", successes="won", trials="closed",
                                    title=f"Win rate by {dimension}", x_title="win rate", reference=overall),
                         key=f"{KEY}.segments.{dimension.replace(' ', '_')}")
    st.caption("Which segments are associated with winning more or less often; segments differ in more than the "
               "one they are named by (size, region, the rep who works them), so a gap here is not its cause. "
               "The dashed line is the overall win rate; where two intervals overlap, the difference may be chance.")
    ui.table(segments.drop("few"), "win_rate_by_segment", key=f"{KEY}.segments_table", column_config=RATE_COLUMNS)
