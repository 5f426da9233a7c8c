"""Interest levels: how the period's leads split into cold, warm and hot, and how each level converts."""

import streamlit as st

from flashdash import charts, clock, interest
from flashdash.executive import book_note, format_value
from flashdash.filters import data_ended, data_span, recorded
from flashdash.ui import components as ui
from flashdash.ui.auth import guard
from flashdash.ui.filters import sidebar_filters
from flashdash.ui.store import cached, page_errors

actor = guard("interest")
with page_errors():
    filters = sidebar_filters(actor)
    ui.header("Interest levels", filters, "leads submitted in the period, by the interest level on their form")
    data = cached(interest.overview, actor, filters)
    if data["leads"] == 0:
        ui.empty("No leads in this period.")
        st.stop()
    note = book_note(actor, cached(recorded))
    if note:
        st.info(note, icon=":material/info:")

    share = data["level_share"]
    ended = data_ended(clock.now().date(), cached(data_span))
    if not interest.has_levels(data):
        # e.g. an import whose forms had no interest field: say so, and keep what still holds (by channel)
        st.info(f"None of the period's {data['leads']:,} leads has an interest level (cold, warm or hot), so the "
                "levels cannot be compared. Conversion by channel is below.", icon=":material/info:")
        cols = st.columns(2)
        cols[0].metric("Leads", format_value(data["leads"], "count"), border=True)
        cols[1].metric("Won so far", format_value(data["won_share"], "pct"), border=True,
                       help="Share of the period's leads won so far; recent leads are still maturing.")
        view = interest.focus(data)
        st.subheader("Conversion by channel")
        ui.chart(charts.rate_with_intervals(view["by_channel"], "channel", title="Won so far, by channel"),
                 key="interest.conv.channel")
        st.caption(interest.maturity_note(data["open_share"], data["median_days_to_win"],
                                          data["won_leads_past_year"], compare="channels", ended=ended))
        with st.expander("The figures as a table"):
            ui.table(interest.channel_table(view["by_channel"]), "interest_conversion_by_channel",
                     key="interest.conv.channel_table")
        st.stop()
    cols = st.columns(4)
    cols[0].metric("Leads", format_value(data["leads"], "count"), border=True)
    cols[1].metric("Hot", format_value(share.get("hot"), "pct"), border=True, help="Share of the period's leads.")
    cols[2].metric("Unknown level", format_value(share.get("unknown"), "pct"), border=True,
                   help="Share of leads whose form left the interest level empty.")
    cols[3].metric("Won so far", format_value(data["won_share"], "pct"), border=True,
                   help="Share of the period's leads won so far; recent leads are still maturing.")

    st.subheader("Where the interest comes from")
    picked: list[str] = []
    tabs = st.tabs([f"By {label.lower()}" for label in interest.DIMENSIONS.values()])
    for tab, (dim, label) in zip(tabs, interest.DIMENSIONS.items(), strict=True):
        with tab:
            picked += ui.chart(
                charts.interest_shares(data["distribution"], dim, param=f"level_{dim}",
                                     title=f"Interest level by {label.lower()} (click a level to filter)"),
                key=f"interest.by.{dim}", select=f"level_{dim}", field="level")
    view = interest.focus(data, picked)
    levels = ", ".join(view["levels"])
    if view["levels"]:
        st.info(f"Showing only {levels} leads below. Click the segment again to clear.",
                icon=":material/filter_alt:")

    st.subheader("Over time")
    ui.chart(charts.interest_trend(
        view["trend"], data["bucket"], normalize=view["normalize"],
        title=f"Share of leads by interest level, per {data['bucket']}" if view["normalize"]
        else f"{levels.capitalize()} leads per {data['bucket']}"), key="interest.trend")

    st.subheader("Conversion by interest level")
    left, right = st.columns(2)
    with left:
        ui.chart(charts.rate_with_intervals(view["by_level"], "level", by_level=True, sort=list(interest.LEVELS),
                                           title="Won so far, by interest level"), key="interest.conv.level")
    with right:
        ui.chart(charts.rate_with_intervals(view["by_channel"], "channel",
                                           title=f"Won so far, by channel ({levels or 'all levels'})"),
                 key="interest.conv.channel")
    st.caption(interest.maturity_note(data["open_share"], data["median_days_to_win"], data["won_leads_past_year"],
                                      ended=ended))

    with st.expander("The figures as tables"):
        ui.table(interest.conversion_table(view["by_level"]), "interest_conversion", key="interest.conv.table")
        ui.table(data["distribution"].select("dimension", "segment", "level", "leads", "share"),
                 "interest_distribution", key="interest.dist.table")
