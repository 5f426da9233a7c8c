"""Admin → Audit trail: whether the hash chain is intact (and Verify now), the records filtered by date, actor,
action, entity, id and reason, newest first, each with its field changes, and their downloads."""

from __future__ import annotations

from datetime import date
from typing import Any

import streamlit as st

from flashdash import audit, clock
from flashdash.access import AccessDenied, Actor
from flashdash.store import StoreError
from flashdash.ui import components as ui
from flashdash.ui.store import cached, current_store, show_problem

KEY = "admin.audit"
AUTO_VERIFY_MAX = 50_000  # sealed records checked as the tab opens (about a second); more wait for Verify now
ANY = ""


def render(actor: Actor) -> None:
    _chain(actor)
    filters, limit = _filters(actor)
    _records(actor, filters, limit)


# ---------------------------------------------------------------- the chain


def _chain(actor: Actor) -> None:
    status = cached(audit.status, actor)
    if st.button("Verify now", key=f"{KEY}.verify", icon=":material/verified:",
                 help="Walk the whole chain and check every sealed record (what `python -m flashdash audit verify` "
                      "does)."):
        try:
            st.session_state[f"{KEY}.checked"] = {**audit.check(current_store(), actor), "at": clock.now()}
        except (AccessDenied, StoreError) as exc:
            show_problem(exc)
    result: dict[str, Any] | None = st.session_state.get(f"{KEY}.checked")
    if result is None and status["sealed"] <= AUTO_VERIFY_MAX:
        result = {**cached(audit.check, actor), "at": None}
    when = f" Checked at {result['at']:%H:%M:%S}." if result and result["at"] else ""
    waiting = (f"{status['unsealed']:,} record{'s' if status['unsealed'] != 1 else ''} awaiting the next seal "
               "(the seal_audit job seals them every minute).")
    if status["sealed"] == 0:
        st.info(f"No record is sealed into the hash chain yet. {waiting}", icon=":material/link:")
    elif result is None:
        st.info(f"The chain has {status['sealed']:,} sealed records; press Verify now to check them all. {waiting}",
                icon=":material/link:")
    elif result["ok"]:
        st.success(f"Intact: {result['sealed']:,} records sealed, each linked to the one before. {waiting}{when}",
                   icon=":material/verified:")
    else:
        st.error(f"The chain is broken. {result['message']}. The records before it check out; restore the store "
                 f"from a backup made before the change, and find out who could write to it.{when}",
                 icon=":material/link_off:")
    if status["redacted"]:
        st.caption(f"{status['redacted']:,} records had personal data erased (privacy requests): they are checked by "
                   "the hash they had when sealed.")


# ---------------------------------------------------------------- filters and records


def _filters(actor: Actor) -> tuple[audit.AuditFilters, int]:
    facets = cached(audit.facets, actor)
    c1, c2, c3, c4 = st.columns(4)
    start: date | None = c1.date_input("From", value=None, key=f"{KEY}.start", format="YYYY-MM-DD")
    end: date | None = c2.date_input("To", value=None, key=f"{KEY}.end", format="YYYY-MM-DD")
    who = c3.selectbox("Who", [ANY, *facets["actor"]], key=f"{KEY}.actor", format_func=lambda v: v or "anyone")
    action = c4.selectbox("Action", [ANY, *facets["action"]], key=f"{KEY}.action",
                          format_func=lambda v: v or "any action")
    c5, c6, c7, c8 = st.columns(4)
    entity = c5.selectbox("Entity", [ANY, *facets["entity"]], key=f"{KEY}.entity",
                          format_func=lambda v: v or "any entity")
    entity_id = c6.text_input("Entity id", key=f"{KEY}.entity_id", placeholder="e.g. 17")
    text = c7.text_input("Reason contains", key=f"{KEY}.text", placeholder="e.g. budget")
    limit = c8.selectbox("Show", audit.SEARCH_LIMITS, index=1, key=f"{KEY}.limit",
                         format_func=lambda n: f"latest {n:,}")
    return audit.AuditFilters(start, end, who or "", action or "", entity or "", entity_id, text), limit


COLUMNS = {
    "logged_at": st.column_config.DatetimeColumn("when", format="YYYY-MM-DD HH:mm:ss"),
    "actor": st.column_config.TextColumn("who"),
    "entity_id": st.column_config.TextColumn("id"),
    "changes": st.column_config.TextColumn("changes (field: before → after)", width="large"),
    "action": st.column_config.TextColumn("action", width="small"),
    "reason": st.column_config.TextColumn("why", width="medium"),
    "id": st.column_config.NumberColumn("record", format="%d"),
    "seq": st.column_config.NumberColumn("seq", format="%d", help="Its place in the hash chain; empty until sealed."),
}


def _records(actor: Actor, filters: audit.AuditFilters, limit: int) -> None:
    try:
        total = cached(audit.search_count, actor, filters)
        frame = cached(audit.search, actor, filters, limit)
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    shown = f"Showing the latest {frame.height:,} of {total:,} matching records" if total > frame.height else \
        f"Showing all {total:,} matching record{'s' if total != 1 else ''}"
    st.caption(f"{shown}, newest first. The downloads hold exactly the rows shown"
               + (": raise “Show” or narrow the filters for the rest." if total > frame.height else "."))
    ui.table(frame, "audit_trail", key=KEY, column_config=COLUMNS, on_select="rerun", selection_mode="single-row")
    picked = ui.selected_rows(KEY)
    if frame.is_empty() or not picked or picked[0] >= frame.height:
        st.caption("Select a record to read its changes field by field.")
        return
    row = frame.row(picked[0], named=True)
    st.markdown(f"**Record {row['id']}**: {row['actor']} {row['action']} {row['entity']} {row['entity_id'] or ''}, "
                f"{row['logged_at']:%Y-%m-%d %H:%M:%S}" + (f", because “{row['reason']}”" if row["reason"] else ""))
    ui.table(audit.change_table(row), f"audit_record_{row['id']}", key=f"{KEY}.record")
