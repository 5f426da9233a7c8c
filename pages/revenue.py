"""Revenue: pipeline velocity; working a deal (move it, close it with its reason); win/loss, deal size and
attribution; the forecast with its backtest, scenarios and quota attainment; deal risk; rep performance and
coaching; and Phase 3's targets measured."""

import streamlit as st

from flashdash.ui import (
    attribution_panel,
    deal_editor,
    deal_risk_panel,
    deal_size_panel,
    forecast_panel,
    performance_panel,
    quota_panel,
    revenue_measures,
    revenue_pipeline,
    revenue_winloss,
    scenario_panel,
)
from flashdash.ui import components as ui
from flashdash.ui.auth import guard
from flashdash.ui.filters import sidebar_filters
from flashdash.ui.store import page_errors

TABS = {  # tab: what it shows; every tab is scoped to the reader (a rep reads their own book)
    "Pipeline": revenue_pipeline.render,
    "Deals": deal_editor.render,
    "Win/loss": revenue_winloss.render,
    "Deal size": deal_size_panel.render,
    "Attribution": attribution_panel.render,
    "Forecast": forecast_panel.render,
    "Scenarios": scenario_panel.render,
    "Quota": quota_panel.render,
    "Deal risk": deal_risk_panel.render,
    "Performance": performance_panel.render,
    "Measures": revenue_measures.render,
}

actor = guard("revenue")
with page_errors():
    filters = sidebar_filters(actor)
    ui.header("Revenue", filters, "the period applies to closed deals and activity; open deals and forecasts are "
                                  "as of now")
    # Only the open tab runs: the page costs what the tab the user reads costs, not all eleven.
    for name, tab in zip(TABS, st.tabs(list(TABS), key="rev.tab", on_change="rerun"), strict=True):
        if tab.open:
            with tab:
                TABS[name](actor, filters)
