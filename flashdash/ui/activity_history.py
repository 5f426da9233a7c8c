"""The Activities page's History tab: the calls, emails, meetings and demos logged in the period."""

from __future__ import annotations

import streamlit as st

from flashdash import charts, work
from flashdash.access import Actor
from flashdash.filters import Filters, recorded
from flashdash.ui import components as ui
from flashdash.ui.store import cached


def render(actor: Actor, filters: Filters) -> None:
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
