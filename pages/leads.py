"""Leads: the work queue with saved views and bulk actions, one lead in detail, the new-lead form, and the
settings behind them (scoring, qualification, assignment) with Phase 1's impact."""

import streamlit as st

from flashdash.ui import components as ui
from flashdash.ui import lead_detail, lead_new, lead_queue, lead_scoring, lead_setup
from flashdash.ui.auth import guard
from flashdash.ui.filters import sidebar_filters
from flashdash.ui.store import page_errors

actor = guard("leads")
with page_errors():
    filters = sidebar_filters(actor)
    ui.header("Leads", filters, "the period applies to fairness and impact; the queue filters by age")
    tabs = {"Queue": True, "Lead": True, "New lead": actor.role in ("rep", "manager", "admin"),
            "Scoring": True, "Qualification": True, "Assignment": actor.role in ("manager", "admin"),
            "Impact": actor.role in ("manager", "analyst", "admin")}
    shown = [name for name, ok in tabs.items() if ok]
    for name, tab in zip(shown, st.tabs(shown), strict=True):
        with tab:
            if name == "Queue":
                lead_queue.render(actor, filters)
            elif name == "Lead":
                lead_detail.render(actor)
            elif name == "New lead":
                lead_new.render(actor)
            elif name == "Scoring":
                lead_scoring.render(actor)
            elif name == "Qualification":
                lead_setup.qualification_tab(actor)
            elif name == "Assignment":
                lead_setup.assignment_tab(actor, filters)
            else:
                lead_setup.impact_tab(actor, filters)
