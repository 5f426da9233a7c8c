"""Executive summary: the few numbers, their change and trend, and what drove it."""

import streamlit as st

from flashdash import charts, clock, executive
from flashdash.filters import recorded
from flashdash.ui import components as ui
from flashdash.ui.auth import guard
from flashdash.ui.filters import sidebar_filters
from flashdash.ui.store import cached, page_errors

actor = guard("executive")
with page_errors():
    filters = sidebar_filters(actor)
    ui.header("Executive summary", filters, "compared with the period of equal length before")
    today = clock.now().date()
    data = cached(executive.summary, actor, filters, today)
    kpis, trend = data["kpis"], data["trend"]
    if not (kpis["current"].fill_null(0) != 0).any():
        ui.empty("No submissions in this period.")
        st.stop()
    book_note = executive.book_note(actor, cached(recorded))
    if book_note:
        st.info(book_note, icon=":material/info:")

    cols = st.columns(3)
    for i, (spec, row) in enumerate(zip(executive.KPIS, kpis.iter_rows(named=True), strict=True)):
        change = executive.pct_change(row["current"], row["previous"])
        series = trend[spec.key].drop_nulls().to_list() if spec.key in trend.columns else None
        with cols[i % 3]:
            st.metric(
                spec.label, executive.format_value(row["current"], spec.fmt),
                delta=None if change is None else f"{change:+.1%}",
                delta_color="normal" if spec.higher_is_better else "inverse",
                help=f"Previous period: {executive.format_value(row['previous'], spec.fmt)}",
                border=True, chart_data=series, chart_type="area" if spec.fmt == "money" else "line",
            )
    st.subheader("What changed")
    for sentence in data["sentences"]:
        st.markdown(f"- {sentence}")
    st.caption("Conversion is the share of the period's submissions won so far; the previous period's leads are "
               "counted as they stood the same number of days after it ended, so both cohorts are the same age. "
               "Pipeline and active customers are as they stood on each period's last day.")

    left, right = st.columns(2)
    leads_by, won_by = data["leads_by_segment"], data["won_by_segment"]
    with left:
        picked_channels = ui.chart(
            charts.bar_select(leads_by.filter(leads_by["dimension"] == "channel"), "segment", "current",
                              param="channel", title="Submissions by channel (click to filter)",
                              value_title="Submissions"),
            key="exec.channel", select="channel", field="segment")
    with right:
        picked_teams = ui.chart(
            charts.bar_select(won_by.filter(won_by["dimension"] == "team"), "segment", "current", param="team",
                              title="Won revenue by team (click to filter)", value_title="Won revenue",
                              fmt="$,.0f"),
            key="exec.team", select="team", field="segment")
    if picked_channels or picked_teams:
        st.info(f"Showing only {', '.join(picked_channels + picked_teams)} below. Click the bar again to clear.",
                icon=":material/filter_alt:")
        team_ids = cached(executive.team_ids_by_name, tuple(picked_teams)) if picked_teams else ()
        focus = ui.narrowed(filters, channels=picked_channels, teams=list(team_ids))
        trend = cached(executive.summary, actor, focus, today)["trend"]
    st.altair_chart(charts.trend(trend, "period", "submissions", title="Submissions", y_title=None),
                    width="stretch", key="exec.trend.subs")
    c1, c2 = st.columns(2)
    with c1:
        st.altair_chart(charts.trend(trend, "period", "won_revenue", title="Won revenue", fmt="$,.0f",
                                     y_title=None, area=True), width="stretch", key="exec.trend.won")
    with c2:
        st.altair_chart(charts.trend(trend, "period", "pipeline_value", title="Open pipeline", fmt="$,.0f",
                                     y_title=None), width="stretch", key="exec.trend.pipe")
    with st.expander("The figures as a table"):
        ui.table(kpis, "executive_summary", key="exec.kpis")
