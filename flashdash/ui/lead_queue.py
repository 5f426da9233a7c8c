"""The Leads page's queue: a saved or built-in view, smart filters, the matching leads, and bulk actions on
the selected ones (each previewed with how many records change before it runs)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import polars as pl
import streamlit as st

from flashdash import bulk, clock, org, qualification, views
from flashdash.access import AccessDenied, Actor
from flashdash.bulk import BulkAction, BulkError
from flashdash.filters import Filters
from flashdash.store import StoreError
from flashdash.ui import components as ui
from flashdash.ui.store import cached, current_store, show_problem
from flashdash.views import LeadFilter, ViewError

_PENDING = "leads.bulk.pending"
WRITERS = ("rep", "manager", "admin")
COLUMNS = {
    "score": st.column_config.ProgressColumn("score", min_value=0, max_value=100, format="%.0f"),
    "probability": st.column_config.NumberColumn("chance", format="percent", help="Chance to become a customer "
                                                 "within 90 days, from the model (or the baseline rule)"),
    "submitted_at": st.column_config.DatetimeColumn("submitted", format="D MMM YYYY"),
    "last_activity_at": st.column_config.DatetimeColumn("last activity", format="D MMM HH:mm"),
    "days_in_stage": st.column_config.NumberColumn("days in stage", format="%.0f"),
    "age_days": st.column_config.NumberColumn("age (days)", format="%.0f"),
}


def _view_picker(actor: Actor) -> LeadFilter:
    saved = cached(views.views, actor)
    keys = saved["key"].to_list()
    labels = dict(zip(keys, saved["name"].to_list(), strict=True))
    key = st.selectbox("View", keys, format_func=lambda k: labels[k] + ("" if k.startswith("builtin:") else " (saved)"),
                       key="leads.view")
    return views.view_filter(current_store(), actor, key)


def _filters(actor: Actor, base: LeadFilter, page: Filters) -> LeadFilter:
    """The view's filter, narrowed by what the user picks here and the sidebar's team, rep, vertical, channel."""
    options = cached(org.filter_options, actor)
    c1, c2, c3, c4 = st.columns(4)
    stages = c1.multiselect("Stage", qualification.ALL_STAGES, default=list(base.stages), key="leads.f.stages",
                            format_func=qualification.STAGE_LABELS.get)
    bands = c2.multiselect("Score band", views.BANDS, default=list(base.bands), key="leads.f.bands")
    age = c3.number_input("Submitted within (days)", min_value=0, value=int(base.age_max_days or 0), step=7,
                          key="leads.f.age", help="0: any age")
    search = c4.text_input("Search", value=base.search, key="leads.f.search",
                           placeholder="merchant" + ("" if actor.masks_pii else ", contact or email"))
    reps = options["reps"]
    owners = st.multiselect("Owner", reps["id"].to_list(), default=[o for o in base.owners if o in reps["id"]],
                            format_func=dict(zip(reps["id"], reps["name"], strict=True)).get, key="leads.f.owners") \
        if actor.role != "rep" else []
    return LeadFilter(
        **{**base.__dict__, "stages": tuple(stages), "bands": tuple(bands), "search": search,
           "age_max_days": float(age) if age else base.age_max_days,
           "owners": tuple(owners) or tuple(page.reps) or base.owners,
           "teams": base.teams or tuple(page.teams), "verticals": base.verticals or tuple(page.verticals),
           "channels": base.channels or tuple(page.channels)})


def render(actor: Actor, page: Filters) -> None:
    now = clock.now()
    try:
        base = _view_picker(actor)
        flt = _filters(actor, base, page)
    except ViewError as exc:
        st.error(str(exc), icon=":material/filter_alt_off:")
        return
    minute = now.replace(second=0)
    leads = cached(views.lead_list, actor, flt, minute, 500, "score")
    total = cached(views.lead_count, actor, flt, minute)
    st.caption(f"{total:,} leads match" + (f"; the {leads.height:,} highest-scored are shown" if total > leads.height
                                           else "") + ". Select rows for a bulk action.")
    if leads.is_empty():
        ui.empty("No leads match this view.")
        _save_view(actor, flt)
        return
    shown = leads.select("id", "merchant_name", "contact_name", "status", "score", "band", "probability", "owner",
                         "vertical", "channel", "interest_level", "days_in_stage", "age_days", "last_activity_at",
                         "submitted_at")
    ui.table(shown, "leads", key="leads.queue", on_select="rerun", selection_mode="multi-row",
             column_config=COLUMNS)
    picked = [shown["id"][i] for i in ui.selected_rows("leads.queue") if i < shown.height]
    st.session_state["leads.selected"] = picked
    if actor.role in WRITERS:
        _bulk(actor, flt, picked, total, now)
    _save_view(actor, flt)


def _action_form(actor: Actor, count: int) -> BulkAction | None:
    kinds = [k for k in bulk.ACTIONS if actor.role != "rep" or k != "assign"]
    c1, c2 = st.columns([1, 2])
    kind = c1.selectbox(f"Bulk action on {count:,} leads", kinds, format_func=bulk.ACTIONS.get, key="leads.bulk.kind")
    params: dict[str, Any] = {}
    if kind == "stage":
        params["to_stage"] = c2.selectbox("To stage", qualification.ALL_STAGES, key="leads.bulk.stage",
                                          format_func=qualification.STAGE_LABELS.get)
    if kind == "assign":
        reps = cached(org.filter_options, actor)["reps"].filter(pl.col("active"))
        params["rep_id"] = c2.selectbox("To rep", reps["id"].to_list(), key="leads.bulk.rep",
                                        format_func=dict(zip(reps["id"], reps["name"], strict=True)).get)
    if kind == "task":
        params["title"] = c2.text_input("Task", key="leads.bulk.title", placeholder="e.g. Call about the webinar")
        due = c2.date_input("Due", value=clock.now().date() + timedelta(days=1), key="leads.bulk.due")
        params["due_at"] = datetime.combine(due, time(17))
    params["reason"] = st.text_input("Reason" + (" (kept with each lead)" if kind != "task" else " (optional note)"),
                                     key="leads.bulk.reason", max_chars=500)
    try:
        return BulkAction(kind, **params)
    except BulkError as exc:
        st.caption(str(exc))
        return None


def _bulk(actor: Actor, flt: LeadFilter, picked: list[int], total: int, now: datetime) -> None:
    with st.container(border=True):
        everyone = st.toggle(f"Act on all {total:,} matching leads, not only the selected rows", key="leads.bulk.all")
        if not picked and not everyone:
            st.caption("Select leads in the table (or act on all matching ones) to advance, disqualify, assign them "
                       "or add a task.")
            return
        action = _action_form(actor, total if everyone else len(picked))
        if action is None:
            return
        store = current_store()
        if st.button("Review", key="leads.bulk.review", icon=":material/fact_check:"):
            try:
                ids = _all_ids(actor, flt, now) if everyone else picked
                st.session_state[_PENDING] = {"ids": ids, "action": action,
                                              **bulk.preview(store, actor, ids, action, now)}
            except (BulkError, ValueError, AccessDenied, StoreError) as exc:
                show_problem(exc)
        pending = st.session_state.get(_PENDING)
        if not pending or pending["action"] != action:
            return
        st.info(pending["message"], icon=":material/info:")
        c1, c2 = st.columns(2)
        if c1.button(f"Confirm: change {pending['changes']:,} records", key="leads.bulk.confirm", type="primary",
                     disabled=pending["changes"] == 0, icon=":material/check:"):
            try:
                done = bulk.apply(store, actor, pending["ids"], action, clock.now())
            except (BulkError, ValueError, AccessDenied, StoreError) as exc:
                show_problem(exc)
            else:
                st.session_state.pop(_PENDING, None)
                st.success(done["message"], icon=":material/done_all:")
        if c2.button("Cancel", key="leads.bulk.cancel"):
            st.session_state.pop(_PENDING, None)
            st.rerun()


def _all_ids(actor: Actor, flt: LeadFilter, now: datetime) -> list[int]:
    store = current_store()
    with store.read() as con:
        return views.matching_ids(store, con, actor, flt, now)


def _save_view(actor: Actor, flt: LeadFilter) -> None:
    with st.expander("Save these filters as a view"):
        with st.form("leads.save_view", border=False):
            name = st.text_input("Name", key="leads.view.name", max_chars=views.MAX_NAME)
            shared = st.checkbox("Share with my team", key="leads.view.shared")
            if st.form_submit_button("Save view", icon=":material/bookmark_add:"):
                try:
                    views.save_view(current_store(), actor, name, flt, shared, clock.now())
                except (ViewError, ValueError, StoreError) as exc:
                    show_problem(exc)
                else:
                    st.success(f"Saved the view “{name.strip()}”; pick it under View.", icon=":material/bookmark:")
