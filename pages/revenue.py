"""Revenue: open pipeline and closed deals today; forecasting and what-if planning arrive with phase 3."""

import streamlit as st

from flashdash import charts, work
from flashdash.ui import components as ui
from flashdash.ui import roadmap
from flashdash.ui.auth import guard
from flashdash.ui.filters import sidebar_filters
from flashdash.ui.store import cached, page_errors

actor = guard("revenue")
with page_errors():
    filters = sidebar_filters(actor)
    ui.header("Revenue", filters, "open pipeline today; deals closed in the period")
    roadmap.note("Phase 3", "You can see the open pipeline by stage and the deals won and lost.",
                 ["forecast with intervals and backtest", "scenario sliders", "deal risk", "attribution",
                  "quota attainment predictions"])
    data = cached(work.pipeline, actor, filters)
    if data["by_stage"].is_empty() and data["won_lost"].is_empty():
        ui.empty("No deals match.")
    else:
        left, right = st.columns(2)
        with left:
            st.altair_chart(charts.funnel(data["by_stage"], "stage", "amount", title="Open pipeline ($) by stage"),
                            width="stretch", key="revenue.stages")
        with right:
            st.altair_chart(charts.bar_select(data["loss_reasons"], "reason", "deals", param="reason",
                                              title="Why deals were lost", value_title="Deals"),
                            width="stretch", key="revenue.loss")
        st.altair_chart(charts.stacked(data["won_lost"], "month", "amount", "outcome", title="Closed deals ($)",
                                       x_type="T", fmt="$,.0f"), width="stretch", key="revenue.won_lost")
        ui.table(data["by_stage"], "pipeline_by_stage", key="revenue.table")
