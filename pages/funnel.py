"""Sales funnel: how far the period's leads got, where they dropped out, and each segment side by side."""

import streamlit as st

from flashdash import charts, clock, funnel
from flashdash.executive import book_note, format_value
from flashdash.filters import data_ended, data_span, recorded
from flashdash.ui import components as ui
from flashdash.ui.auth import guard
from flashdash.ui.filters import sidebar_filters
from flashdash.ui.store import cached, page_errors

STAGE_COLUMNS = {
    "stage_no": None,
    "stage": st.column_config.TextColumn("Stage"),
    "reached": st.column_config.NumberColumn("Reached", help="Leads that got to this stage or further."),
    "conversion": st.column_config.NumberColumn("From stage before", format="percent"),
    "share_of_new": st.column_config.NumberColumn("Of all leads", format="percent"),
    "lost": st.column_config.NumberColumn("Lost here"),
    "disqualified": st.column_config.NumberColumn("Disqualified here"),
    "dropped": st.column_config.NumberColumn("Dropped here"),
    "drop_rate": st.column_config.NumberColumn("Drop-off", format="percent",
                                               help="Lost or disqualified at this stage ÷ reached."),
    "still_open": st.column_config.NumberColumn("Still here"),
    "median_days_in_stage": st.column_config.NumberColumn(
        "Median days in stage", format="%.1f", help="Over the stays that have ended, whichever way they ended."),
}

actor = guard("funnel")
with page_errors():
    filters = sidebar_filters(actor)
    ui.header("Sales funnel", filters, "leads submitted in the period, as they stand today")
    dimension = st.columns([1, 3])[0].selectbox("Compare segments by", list(funnel.DIMENSIONS),
                                                format_func=funnel.DIMENSIONS.get, key="funnel.dimension")
    data = cached(funnel.funnel, actor, filters, dimension)
    if data["leads"] == 0:
        ui.empty("No leads were submitted in this period.")
        st.stop()
    note = book_note(actor, cached(recorded))
    if note:
        st.info(note, icon=":material/info:")

    funnel_area = st.container()  # filled last: a click on a segment below narrows it

    label = funnel.DIMENSIONS[dimension].lower()
    st.subheader(f"Stage conversion by {label}")
    left, right = st.columns([2, 3])
    with left:
        picked = ui.chart(
            charts.bar_select(data["segments"], "segment", "leads", param="segment", value_title="Leads",
                              title=f"Leads by {label} (click to filter the funnel)"),
            key=f"funnel.segments.{dimension}", select="segment", field="segment")
    with right:
        # a step no lead of the segment got to has no rate: leave its cell blank
        st.altair_chart(charts.heatmap(data["steps"].drop_nulls("conversion"), "step", "segment", "conversion",
                                       title="Conversion at each step (of those who reached it)"),
                        width="stretch", key=f"funnel.heatmap.{dimension}")
    st.caption("A segment with few leads swings widely: read its rates with its lead count in the table.")
    ui.table(data["segments"], f"funnel_by_{dimension}", key=f"funnel.table.{dimension}",
             column_config={"segment": st.column_config.TextColumn(funnel.DIMENSIONS[dimension]),
                            "leads": st.column_config.NumberColumn("Leads"),
                            **{c: st.column_config.NumberColumn(c, format="percent") for c in funnel.STEP_ORDER}})

    shown = cached(funnel.funnel, actor, filters, dimension, tuple(picked)) if picked else data
    stages = shown["stages"]
    with funnel_area:
        if shown["leads"] == 0:
            ui.empty("No leads in the segments picked.")
            st.stop()
        if picked:
            st.info(f"The funnel shows only the {label} {', '.join(picked)}. Click the bar again to clear.",
                    icon=":material/filter_alt:")
        won = stages["reached"][-1]
        cols = st.columns(4)
        cols[0].metric("Leads submitted", format_value(shown["leads"], "count"), border=True)
        cols[1].metric("Won so far", format_value(won, "count"), border=True)
        cols[2].metric("New → Won", format_value(won / shown["leads"] if shown["leads"] else None, "pct"),
                       border=True)
        ended = data_ended(clock.now().date(), cached(data_span))
        cols[3].metric("Still moving through" if ended is None else "Never closed",
                       format_value(shown["still_open"], "count"), border=True,
                       help="Leads not yet won, lost or disqualified.")
        share = f"{shown['still_open']:,} of the {shown['leads']:,} leads ({shown['still_open'] / shown['leads']:.0%})"
        st.caption(
            f"**These are the leads' stages so far.** {share} are still open: the later stages and the win rate "
            "will rise as they move through. Median days in stage count only stays that ended." if ended is None else
            f"**These are the leads' stages as the data left them.** {share} are open in data that ends on "
            f"{ended:%b %d, %Y}: they were never marked won, lost or disqualified, so they will not move on. "
            "Median days in stage count only stays that ended."
        )
        c1, c2 = st.columns(2)
        with c1:
            st.altair_chart(charts.funnel(stages.select("stage", "reached", "share_of_new"), "stage", "reached",
                                          title="Leads reaching each stage"),
                            width="stretch", key="funnel.stages")
        with c2:
            st.altair_chart(charts.stacked(funnel.fates(stages), "stage", "leads", "fate", normalize=True,
                                           sort=list(funnel.FATE_LABELS.values()),
                                           title="What became of the leads at each stage"),
                            width="stretch", key="funnel.fates")
        ui.table(stages, "funnel_stages", key="funnel.stage_table", column_config=STAGE_COLUMNS)
