"""Activities: the activity log today; logging forms, tasks and email arrive with phase 2."""

import streamlit as st

from flashdash import charts, work
from flashdash.filters import recorded
from flashdash.ui import components as ui
from flashdash.ui import roadmap
from flashdash.ui.auth import guard
from flashdash.ui.filters import sidebar_filters
from flashdash.ui.store import cached, page_errors

actor = guard("activities")
with page_errors():
    filters = sidebar_filters(actor)
    ui.header("Activities", filters)
    roadmap.note("Phase 2", "You can review the calls, emails, meetings and demos logged in the period.",
                 ["forms to log activities", "templates", "tasks and reminders", "email with tracking",
                  "follow-up sequences"])
    data = cached(work.activity_log, actor, filters)
    if data["recent"].is_empty() and "activities" not in cached(recorded):
        st.info("This data records no activities: none were imported or logged yet.", icon=":material/info:")
    elif data["recent"].is_empty():
        ui.empty("No activities in this period.")
    else:
        st.altair_chart(charts.stacked(data["by_type"], "week", "activities", "type", title="Activities per week",
                                       x_type="T"), width="stretch", key="activities.by_type")
        st.caption(f"Latest {data['recent'].height:,} activities.")
        ui.table(data["recent"], "activities", key="activities.recent")
