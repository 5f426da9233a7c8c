"""Submission tracking: submissions over time by channel, campaign or vertical, how fast they hear back, and
each submission's history."""

import streamlit as st

from flashdash import charts, submissions
from flashdash.executive import format_value
from flashdash.filters import recorded
from flashdash.ui import components as ui
from flashdash.ui.auth import guard
from flashdash.ui.filters import sidebar_filters
from flashdash.ui.store import cached, page_errors

actor = guard("submissions")


def _follow_table_selection(rows_shown: list[int]) -> None:
    """Put a row newly selected in the table into the lead box, so the box always names the lead shown."""
    selected = ui.selected_rows("subs.list")
    if selected != st.session_state.get("subs.list.last", []):
        st.session_state["subs.list.last"] = selected
        if selected and selected[0] < len(rows_shown):
            st.session_state["subs.lead"] = str(rows_shown[selected[0]])


with page_errors():
    filters = sidebar_filters(actor)
    ui.header("Submission tracking", filters, "merchants' form submissions in the period")
    headline_box = st.container()
    dimension = st.segmented_control(
        "Split by", list(submissions.DIMENSIONS), format_func=submissions.DIMENSIONS.get, default="channel",
        key="subs.dimension") or "channel"
    label = submissions.DIMENSIONS[dimension].lower()
    data = cached(submissions.overview, actor, filters, dimension)

    if data["total"] == 0:
        ui.empty("No submissions in this period.")
    else:
        left, right = st.columns([3, 2])
        with left:
            in_trend = ui.chart(
                charts.segment_trend(data["trend"], data["bucket"], param="seg_trend",
                                        title=f"Submissions per {data['bucket']} by {label} (click to filter)"),
                key=f"subs.trend.{dimension}", select="seg_trend", field="segment")
        with right:
            in_bars = ui.chart(
                charts.bar_select(data["by_segment"], "segment", "submissions", param="seg_total",
                                  title=f"Submissions by {label} (click to filter)", value_title="Submissions"),
                key=f"subs.by.{dimension}", select="seg_total", field="segment")
        picked = sorted(set(in_trend) | set(in_bars))
        segments = submissions.segments_for(picked, data["groups"])
        if picked:
            st.info(f"Showing only the {label} {submissions.md_escape(', '.join(picked))} below. Click the bar "
                    "again to clear.",
                    icon=":material/filter_alt:")

        head = cached(submissions.headline, actor, filters, dimension, segments)
        # a store that records no first responses at all (e.g. an import) has no response figures, not 0%
        responses = "first_response" in cached(recorded)
        with headline_box:
            c1, c2, c3 = st.columns(3)
            c1.metric("Submissions", format_value(head["submissions"], "count"), border=True)
            c2.metric("Responded", format_value(head["share_responded"] if responses else None, "pct"), border=True,
                      help=f"{head['responded']:,} of {head['submissions']:,} have had a first response."
                      if responses else "This data records no first responses.")
            c3.metric("Median first response", format_value(head["median_response_hours"], "hours"), border=True,
                      help="From submission to the first call or email, over the submissions that have had one."
                      if responses else "This data records no first responses.")

        st.subheader("Submissions")
        fields = "merchant, external id or city" if actor.masks_pii else "merchant, email, external id or city"
        search = st.text_input(f"Search {fields}", key="subs.search", placeholder="e.g. pizza, FL-001234 or Denver")
        found = cached(submissions.listing, actor, filters, dimension, segments, search)
        rows = found["rows"]
        if rows.is_empty():
            ui.empty("No submissions match the search." if search.strip() else "No submissions match.")
        else:
            more = found["matching"] > rows.height
            st.caption(f"{found['matching']:,} submissions match; "
                       + (f"the newest {found['limit']:,} are shown (search or narrow the filters to find older "
                          "ones)." if more else "newest first.")
                       + " Select a row to see its history below.")
            ui.table(rows, "submissions", key="subs.list", on_select="rerun",
                     selection_mode="single-row",
                     column_config={"id": st.column_config.NumberColumn("lead id", format="%d"),
                                    "external_id": "external id", "merchant_name": "merchant",
                                    "contact_name": "contact", "interest_level": "interest",
                                    "submitted_at": st.column_config.DatetimeColumn("submitted",
                                                                                    format="YYYY-MM-DD HH:mm"),
                                    "response_hours": st.column_config.NumberColumn("hours to respond")})
            _follow_table_selection(rows["id"].to_list())

    st.subheader("One submission's history")
    ref = st.text_input("Lead id or external id", key="subs.lead", placeholder="e.g. 1234 or FL-001234",
                        help="Or select a row in the table above.").strip()
    if ref:
        detail = cached(submissions.lead_detail, actor, ref)
        if detail is None:
            st.warning(f"Lead “{submissions.md_escape(ref)}” was not found in your book: there is no such lead, "
                       "or it is not yours to see.",
                       icon=":material/person_off:")
        else:
            st.markdown(submissions.lead_title(detail["lead"]))
            info, history = st.columns([2, 3])
            with info:
                # tall enough to show every field without scrolling
                ui.table(detail["fields"], f"lead_{detail['id']}", key="subs.lead.fields",
                         height=35 * (detail["fields"].height + 1) + 3)
            with history:
                if detail["timeline"].is_empty():
                    st.caption("No stage changes or activities recorded yet.")
                else:
                    ui.chart(charts.lead_timeline(detail["timeline"], title="Stage changes and activities"),
                             key="subs.lead.timeline")
            stages, acts, opps = st.tabs(["Stage changes", "Activities", "Opportunity"])
            for tab, part, what, none in (
                (stages, "stages", "stages", "No stage changes recorded."),
                (acts, "activities", "activities", "No activities logged yet."),
                (opps, "opportunities", "opportunity", "This lead has no opportunity yet."),
            ):
                with tab:
                    if detail[part].is_empty():
                        st.caption(none)
                        continue
                    if part == "activities" and detail[part].height >= submissions.ACTIVITY_LIMIT:
                        st.caption(f"The newest {submissions.ACTIVITY_LIMIT:,} activities are shown.")
                    ui.table(detail[part], f"lead_{detail['id']}_{what}", key=f"subs.lead.{part}")
