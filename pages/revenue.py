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
        # each part says plainly when it has nothing (e.g. imported data where every deal is closed and won)
        left, right = st.columns(2)
        with left:
            if data["by_stage"].is_empty():
                st.info("No open deals: every deal in scope is closed.", icon=":material/info:")
            else:
                st.altair_chart(charts.funnel(data["by_stage"], "stage", "amount",
                                              title="Open pipeline ($) by stage"),
                                width="stretch", key="revenue.stages")
        with right:
            if data["loss_reasons"].is_empty():
                st.info("No deals were lost in the period.", icon=":material/info:")
            else:
                st.altair_chart(charts.bar_select(data["loss_reasons"], "reason", "deals", param="reason",
                                                  title="Why deals were lost", value_title="Deals"),
                                width="stretch", key="revenue.loss")
        if data["won_lost"].is_empty():
            st.info("No deals closed in the period.", icon=":material/info:")
        else:
            st.altair_chart(charts.stacked(data["won_lost"], "month", "amount", "outcome",
                                           title="Closed deals ($)", x_type="T", fmt="$,.0f"),
                            width="stretch", key="revenue.won_lost")
            ui.table(data["won_lost"], "closed_deals_by_month", key="revenue.closed")
        if not data["by_stage"].is_empty():
            ui.table(data["by_stage"], "pipeline_by_stage", key="revenue.table")
