"""A record's history for its detail view: an expander "History (N changes)" with who changed which field from
what to what, when and why, newest first (from the audit trail, in the actor's scope, contacts masked for
readers)."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from flashdash import audit
from flashdash.access import AccessDenied, Actor
from flashdash.ui import components as ui
from flashdash.ui.store import cached, show_problem

COLUMNS = {
    "logged_at": st.column_config.DatetimeColumn("when", format="YYYY-MM-DD HH:mm"),
    "actor": st.column_config.TextColumn("who"),
    "entity_id": st.column_config.TextColumn("id"),
    "reason": st.column_config.TextColumn("why"),
    "record": st.column_config.NumberColumn("record", format="%d", help="The audit record (Admin → Audit trail)."),
}


def render(actor: Actor, entity: str, entity_id: Any, key: str) -> None:
    """The expander; `key` prefixes its widgets (e.g. "leads.detail")."""
    try:
        frame = cached(audit.history, actor, entity, str(entity_id))
    except AccessDenied as exc:
        show_problem(exc)
        return
    count = frame["record"].n_unique()
    with st.expander(f"History ({count:,} change{'s' if count != 1 else ''})", icon=":material/history:"):
        if frame.is_empty():
            st.caption("No changes are recorded for it yet.")
            return
        newest = frame.sort("logged_at", "record", descending=True, maintain_order=True)
        ui.table(newest.select(pl.exclude("entity") if entity != "lead" else pl.all()),
                 f"{entity}_{entity_id}_history", key=f"{key}.history", column_config=COLUMNS)
