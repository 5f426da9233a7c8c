"""The Leads page's single lead: its fields, stage history with time in each stage, where it was routed and
why, and (for the people who work it) a stage change with a reason, a quick activity log and a new deal."""

from __future__ import annotations

from datetime import datetime, time

import streamlit as st

from flashdash import activities, clock, leads, privacy, qualification, submissions
from flashdash.access import AccessDenied, Actor
from flashdash.activities import ActivityError, NewActivity
from flashdash.entities import ACTIVITY_TYPES
from flashdash.store import StoreError
from flashdash.ui import components as ui
from flashdash.ui import deal_editor, lead_scoring, record_history
from flashdash.ui.store import cached, current_store, show_problem

WRITERS = ("rep", "manager", "admin")


def render(actor: Actor) -> None:
    picked = st.session_state.get("leads.selected") or []
    ref = st.text_input("Lead id or external id", value=str(picked[0]) if picked else "", key="leads.detail.ref",
                        help="Or select a row in the queue.").strip()
    if not ref:
        st.info("Select a lead in the queue, or type its id.", icon=":material/person_search:")
        return
    detail = cached(submissions.lead_detail, actor, ref)
    if detail is None:
        st.warning(f"Lead “{submissions.md_escape(ref)}” is not in your book: there is no such lead, or it is not "
                   "yours to see.", icon=":material/person_off:")
        return
    lead_id = detail["id"]
    st.markdown(submissions.lead_title(detail["lead"]))
    lead_scoring.breakdown(actor, lead_id)
    now = clock.now()
    left, right = st.columns([2, 3])
    with left:
        ui.table(detail["fields"], f"lead_{lead_id}", key="leads.detail.fields",
                 height=35 * (detail["fields"].height + 1) + 3)
    with right:
        st.markdown("**Stages** (time spent in each)")
        history = cached(qualification.history, actor, lead_id, now.replace(second=0))
        ui.table(history, f"lead_{lead_id}_stages", key="leads.detail.history",
                 column_config={"days": st.column_config.NumberColumn("days", format="%.1f")})
        st.markdown("**Routing**")
        routed = cached(leads.assignment_history, actor, lead_id)
        if routed.is_empty():
            st.caption("No routing recorded: the lead came with its owner (a demo or an import).")
        else:
            ui.table(routed, f"lead_{lead_id}_routing", key="leads.detail.routing")
        record_history.render(actor, "lead", lead_id, "leads.detail.audit")
    if actor.role in WRITERS:
        c1, c2 = st.columns(2)
        with c1:
            _change_stage(actor, lead_id, str(detail["lead"]["status"][0]))
            _contact_preference(actor, lead_id, bool(detail["lead"]["do_not_contact"][0]))
        with c2:
            _log_activity(actor, lead_id)
        with st.container(border=True):
            st.markdown("**Open a deal**")
            deal_editor.open_deal_form(actor, lead_id, f"leads.detail.deal.{lead_id}")


def next_stage(status: str) -> str:
    """The stage a move most likely goes to: the one after the lead's own (an exit stage stays where it is)."""
    stages = qualification.STAGES
    if status in stages:
        return stages[min(stages.index(status) + 1, len(stages) - 1)]
    return status if status in qualification.ALL_STAGES else stages[0]


def _change_stage(actor: Actor, lead_id: int, status: str) -> None:
    with st.form("leads.detail.stage_form"):
        st.markdown("**Move to a stage**")
        st.caption(f"Now {qualification.STAGE_LABELS.get(status, status)}.")
        to = st.selectbox("Stage", qualification.ALL_STAGES, format_func=qualification.STAGE_LABELS.get,
                          index=qualification.ALL_STAGES.index(next_stage(status)),
                          key=f"leads.detail.to_stage.{lead_id}")  # per lead: one lead's pick is not another's
        reason = st.text_input("Reason", key="leads.detail.reason", max_chars=qualification.MAX_REASON,
                               placeholder="e.g. budget confirmed on the call")
        if st.form_submit_button("Move", icon=":material/swap_horiz:"):
            try:
                done = qualification.change_stage(current_store(), actor, [lead_id], to, reason, clock.now())
            except (ValueError, AccessDenied, StoreError) as exc:
                show_problem(exc)
            else:
                (st.success if done["changed"] else st.warning)(done["message"])


def _contact_preference(actor: Actor, lead_id: int, do_not_contact: bool) -> None:
    with st.form("leads.detail.contact_form"):
        st.markdown("**Contact preference**")
        st.caption("Do not contact: no email is sent (queued ones are suppressed) and sequences skip its calls."
                   if do_not_contact else "The lead may be contacted by email and in sequences.")
        flag = st.toggle("Do not contact", value=do_not_contact, key=f"leads.detail.dnc.{lead_id}")
        reason = st.text_input("Reason", key="leads.detail.dnc_reason", max_chars=privacy.MAX_REASON,
                               placeholder="e.g. asked not to be emailed on the call")
        if st.form_submit_button("Save", icon=":material/do_not_disturb_on:"):
            try:
                changed = privacy.set_do_not_contact(current_store(), actor, lead_id, flag, reason, clock.now())
            except (ValueError, AccessDenied, StoreError) as exc:
                show_problem(exc)
            else:
                st.success(("Marked do not contact." if flag else "The lead may be contacted again.")
                           if changed else "Nothing changed.", icon=":material/done:")


def _log_activity(actor: Actor, lead_id: int) -> None:
    with st.form("leads.detail.activity_form"):
        st.markdown("**Log an activity**")
        kind = st.segmented_control("Type", ACTIVITY_TYPES, default="call", key="leads.detail.act_type")
        now = clock.now()
        c1, c2, c3 = st.columns(3)
        day = c1.date_input("Date", value=now.date(), key="leads.detail.act_day")
        at = c2.time_input("Time", value=time(now.hour, now.minute), key="leads.detail.act_time")
        minutes = c3.number_input("Minutes", min_value=0, max_value=600, value=15, key="leads.detail.act_minutes")
        outcome = st.text_input("Outcome", key="leads.detail.act_outcome", placeholder="e.g. connected, discovery call")
        notes = st.text_area("Notes", key="leads.detail.act_notes", height=80)
        if st.form_submit_button("Log it", icon=":material/add_call:"):
            try:
                activities.log_activity(current_store(), actor, NewActivity(
                    lead_id, kind or "", datetime.combine(day, at), int(minutes), outcome, notes), clock.now())
            except (ActivityError, AccessDenied, StoreError) as exc:
                show_problem(exc)
            else:
                st.success(f"Logged the {kind}; the lead's stage and score follow from it.", icon=":material/done:")
