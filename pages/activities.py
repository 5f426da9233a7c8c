"""Activities: log calls, emails, meetings and demos (one, many, or from a CSV); work the task queue; read a
lead's timeline; run sequences and email; edit the templates and task rules; and measure Phase 2's targets."""

import streamlit as st

from flashdash.ui import (
    activity_history,
    activity_log,
    activity_measures,
    activity_setup,
    email_panel,
    lead_timeline,
    sequences_panel,
    task_queue,
)
from flashdash.ui import components as ui
from flashdash.ui.auth import guard
from flashdash.ui.filters import sidebar_filters
from flashdash.ui.store import page_errors

WRITERS = ("rep", "manager", "admin")

actor = guard("activities")
with page_errors():
    filters = sidebar_filters(actor)
    ui.header("Activities", filters, "the period applies to the history and the measures; the queue is as of now")
    writes = actor.role in WRITERS
    tabs = {"Queue": writes, "Log": writes, "Timeline": True, "Sequences": True, "Email": True,
            "Library": True, "Measures": True, "History": True}
    shown = [name for name, ok in tabs.items() if ok]
    # Only the open tab runs: the page costs what the tab the user reads costs, not all eight.
    for name, tab in zip(shown, st.tabs(shown, key="act.tab", on_change="rerun"), strict=True):
        if not tab.open:
            continue
        with tab:
            if name == "Queue":
                task_queue.render(actor)
            elif name == "Log":
                activity_log.render(actor)
            elif name == "Timeline":
                lead_timeline.render(actor)
            elif name == "Sequences":
                sequences_panel.render(actor)
            elif name == "Email":
                email_panel.render(actor, filters)
            elif name == "Library":
                activity_setup.render(actor)
            elif name == "Measures":
                activity_measures.render(actor, filters)
            else:
                activity_history.render(actor, filters)
