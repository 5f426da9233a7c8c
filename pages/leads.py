"""Leads: the lead book today; scoring, qualification and assignment arrive with phase 1."""

import streamlit as st

from flashdash import charts, work
from flashdash.ui import components as ui
from flashdash.ui import roadmap
from flashdash.ui.auth import guard
from flashdash.ui.filters import sidebar_filters
from flashdash.ui.store import cached, page_errors

actor = guard("leads")
with page_errors():
    filters = sidebar_filters(actor)
    ui.header("Leads", filters, "submitted in the period")
    roadmap.note("Phase 1", "You can search and export the leads in your book.",
                 ["the lead score with its factors", "qualification stages and rules", "smart assignment"])
    search = st.text_input("Search merchant or lead id", key="leads.search", placeholder="e.g. pizza or FL-000123")
    data = cached(work.lead_book, actor, filters, search)
    if data["leads"].is_empty():
        ui.empty("No leads match.")
    else:
        st.altair_chart(charts.bar_select(data["status_counts"], "status", "leads", param="status",
                                          title="Leads by status", value_title="Leads"),
                        width="stretch", key="leads.status")
        st.caption(f"Newest {min(work.LIST_LIMIT, data['leads'].height):,} leads shown.")
        ui.table(data["leads"], "leads", key="leads.list")
