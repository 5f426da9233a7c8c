"""The Activities page's Log tab: log a call, email, meeting or demo on one lead in one click (a template fills
in the form), one activity for many leads at once (a webinar), or the activities of a CSV file."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any

import polars as pl
import streamlit as st

from flashdash import activities, clock, worklist
from flashdash.access import AccessDenied, Actor
from flashdash.activities import NewActivity
from flashdash.entities import ACTIVITY_TYPES
from flashdash.qualification import STAGE_LABELS
from flashdash.store import StoreError
from flashdash.submissions import md_escape
from flashdash.ui import components as ui
from flashdash.ui.store import cached, current_store, show_problem

_FIELDS = {"type": "act.log.type", "duration_min": "act.log.duration", "outcome": "act.log.outcome",
           "notes": "act.log.notes", "next_step": "act.log.next_step"}
_SENSITIVE = "act.log.sensitive"
_MANY = {"type": "act.log.many.type", "duration_min": "act.log.many.duration", "outcome": "act.log.many.outcome",
         "notes": "act.log.many.notes", "next_step": "act.log.many.next_step"}
_DONE = "act.log.done"
_RESET = "act.log.reset"
_PENDING = "act.log.many.pending"
_CSV_RESULT = "act.log.csv.result"
EXAMPLE_CSV = ("lead,type,when,duration,outcome,notes,next_step\n"
               "FL-000123,call,2026-06-29 14:30,20,connected,Wants pricing for 3 stores,Send pricing\n"
               "1962,email,2026-06-29 16:00,,sent,Sent the pricing sheet,Call to discuss\n")


# ---------------------------------------------------------------- pure parts


def parse_ids(text: str) -> tuple[list[int], list[str]]:
    """Lead ids pasted as text (commas, spaces, semicolons or lines between them): the ids, and what is not one."""
    ids, bad = [], []
    for token in re.split(r"[\s,;]+", text or ""):
        if not token:
            continue
        if token.isascii() and token.isdigit() and len(token) < 10:
            ids.append(int(token))
        else:
            bad.append(token)
    return ids, bad


def logged_message(kind: str, merchant: str, lead_id: int, at: datetime, outcome: str | None,
                   prefill: dict[str, Any] | None, next_step: str | None) -> str:
    """What a saved activity says: what was logged, and the template's follow-up task if it made one."""
    text = f"Logged a {kind} with {merchant} (lead {lead_id}) at {at:%d %b %H:%M}" + (f": {outcome}." if outcome
                                                                                      else ".")
    if prefill and prefill.get("follow_up_days") is not None:
        title = (next_step or "").strip() or prefill.get("next_step") or f"Follow up on the {kind}"
        days = prefill["follow_up_days"]
        text += f" The template added the follow-up task “{title}”, due in {days} day{'s' if days != 1 else ''}."
    else:
        text += " No follow-up task was created."
    return text


# ---------------------------------------------------------------- the template picker (shared with the queue)


def _apply_template(keys: dict[str, str], picker: str, rows: dict[int, dict[str, Any]]) -> None:
    """on_change of a template picker: put the template's fields in the form's widgets."""
    row = rows.get(st.session_state.get(picker))
    if row is None:
        return
    filled = activities.prefill(row)
    for field, key in keys.items():
        value = filled.get(field)
        st.session_state[key] = value if field == "duration_min" else (value or "")


def template_picker(actor: Actor, key: str, fields: dict[str, str]) -> dict[str, Any] | None:
    """A template picker that fills in the form's widgets (`fields`: form field → widget key) when one is
    picked; returns the picked template's prefill, or None."""
    rows = {r["id"]: r for r in cached(activities.templates, actor).iter_rows(named=True)}
    picked = st.selectbox("Template", list(rows), index=None, key=key, placeholder="No template",
                          format_func=lambda i: f"{rows[i]['name']} ({rows[i]['type']})",
                          on_change=_apply_template, args=(fields, key, rows),
                          help="A common motion: it fills in the type, duration, outcome, notes and next step.")
    return activities.prefill(rows[picked]) if picked in rows else None


def submitted(fields: dict[str, str]) -> dict[str, Any]:
    """The form's values by field, as its widgets hold them."""
    return {field: st.session_state.get(key) for field, key in fields.items()}


def activity_fields(fields: dict[str, str], *, minutes_default: int | None = None,
                    sensitive_key: str | None = None) -> None:
    """The activity's own fields (type, minutes, outcome, notes, next step), inside the caller's form."""
    for key, value in ((fields["type"], "call"), (fields["duration_min"], minutes_default),
                       (fields["outcome"], ""), (fields["notes"], ""), (fields["next_step"], "")):
        st.session_state.setdefault(key, value)  # defaults through the state, which a template then overwrites
    c1, c2 = st.columns(2)
    c1.selectbox("Type", ACTIVITY_TYPES, key=fields["type"], format_func=str.capitalize)
    c2.number_input("Minutes", min_value=0, max_value=activities.MAX_DURATION_MIN, step=5, key=fields["duration_min"])
    st.text_input("Outcome", key=fields["outcome"], max_chars=activities.MAX_OUTCOME,
                  placeholder="e.g. connected, wants pricing")
    st.text_area("Notes", key=fields["notes"], height=90)
    if sensitive_key:
        st.checkbox("Sensitive notes", key=sensitive_key,
                    help="Personal or confidential details: the notes are stored encrypted, like contact details.")
    st.text_input("Next step", key=fields["next_step"], max_chars=activities.MAX_NEXT_STEP,
                  placeholder="e.g. Send pricing")


# ---------------------------------------------------------------- the tab


def render(actor: Actor) -> None:
    _one(actor)
    st.divider()
    _many(actor)
    st.divider()
    _csv(actor)


def _sync_ref() -> None:
    """Start the lead field on the lead picked elsewhere (the queue), when that changes."""
    lead_id = st.session_state.get("act.lead_id")
    if lead_id is not None and lead_id != st.session_state.get("act.log.ref_from"):
        st.session_state["act.log.ref_from"] = lead_id
        st.session_state["act.log.ref"] = str(lead_id)


def _one(actor: Actor) -> None:
    st.subheader("Log an activity")
    if st.session_state.pop(_RESET, False):  # after a save: an empty form for the next one
        for key in (*_FIELDS.values(), _SENSITIVE, "act.log.template", "act.log.day", "act.log.time"):
            st.session_state.pop(key, None)
    done = st.session_state.pop(_DONE, None)
    if done:
        st.success(done, icon=":material/done:")
    _sync_ref()
    c1, c2 = st.columns([1, 2])
    ref = c1.text_input("Lead id or external id", key="act.log.ref", placeholder="e.g. 1962 or FL-001962").strip()
    lead = cached(worklist.lead_ref, actor, ref) if ref else None
    with c2:
        if not ref:
            st.caption("Type the lead's id, or pick a task in the Queue tab.")
        elif lead is None:
            st.warning(f"Lead “{md_escape(ref)}” is not in your book: there is no such lead, or it is not yours to "
                       "log on.", icon=":material/person_off:")
        else:
            st.markdown(f"**{md_escape(lead['merchant_name'] or '(no name)')}** · lead {lead['id']} · "
                        f"{STAGE_LABELS.get(lead['status'], lead['status'])} · owner "
                        f"{md_escape(lead['owner'] or '(unassigned)')}")
    prefill = template_picker(actor, "act.log.template", _FIELDS)
    now = clock.now()
    with st.form("act.log.form", border=True):
        activity_fields(_FIELDS, sensitive_key=_SENSITIVE)
        c1, c2 = st.columns(2)
        day = c1.date_input("Date", value=now.date(), max_value=now.date(), key="act.log.day")
        at = c2.time_input("Time", value=time(now.hour, now.minute), key="act.log.time", step=300)
        go = st.form_submit_button("Save", type="primary", icon=":material/save:")
    if go:
        _save_one(actor, ref, lead, prefill, datetime.combine(day, at))


def _save_one(actor: Actor, ref: str, lead: dict[str, Any] | None, prefill: dict[str, Any] | None,
              at: datetime) -> None:
    if not ref:
        st.error("The activity was not logged: type the lead's id or external id.", icon=":material/block:")
        return
    if lead is None:
        st.error(f"The activity was not logged: lead “{ref}” is not in your book; pick one of your leads.",
                 icon=":material/block:")
        return
    values = submitted(_FIELDS)
    activity = NewActivity(lead["id"], values["type"] or "", at, values["duration_min"], values["outcome"],
                           values["notes"], values["next_step"], template_id=prefill and prefill["template_id"],
                           fields_typed=activities.fields_typed(prefill, values), source="form",
                           sensitive=bool(st.session_state.get(_SENSITIVE)))
    try:
        activities.log_activity(current_store(), actor, activity, clock.now())
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    st.session_state["act.lead_id"] = lead["id"]
    st.session_state[_DONE] = logged_message(activity.type, lead["merchant_name"] or "the lead", lead["id"], at,
                                             (values["outcome"] or "").strip() or None, prefill, values["next_step"])
    st.session_state[_RESET] = True
    st.rerun()


# ---------------------------------------------------------------- many leads


def _many(actor: Actor) -> None:
    st.subheader("Many leads at once (a webinar)")
    st.caption("One activity for every lead picked: each gets its own copy, on its own timeline.")
    leads = cached(worklist.open_leads, actor)
    names = {r["id"]: f"{r['merchant_name'] or '(no name)'} · {r['id']}" for r in leads.iter_rows(named=True)}
    picked = st.multiselect("Leads", list(names), format_func=names.get, key="act.log.many.leads",
                            placeholder="Pick your open leads by name")
    pasted = st.text_area("Or paste lead ids", key="act.log.many.ids", height=68,
                          placeholder="e.g. 1962, 1977 2031 (commas, spaces or one per line)")
    ids, bad = parse_ids(pasted)
    if bad:
        st.warning(f"Not lead ids, left out: {', '.join(md_escape(b) for b in bad[:10])}"
                   f"{f' and {len(bad) - 10} more' if len(bad) > 10 else ''}.", icon=":material/warning:")
    lead_ids = sorted(set(picked) | set(ids))
    st.caption(f"{len(lead_ids):,} leads picked." if lead_ids else "Pick leads or paste their ids, then preview.")
    now = clock.now()
    with st.form("act.log.many.form", border=True):
        activity_fields(_MANY)
        c1, c2 = st.columns(2)
        day = c1.date_input("Date", value=now.date(), max_value=now.date(), key="act.log.many.day")
        at = c2.time_input("Time", value=time(now.hour, now.minute), key="act.log.many.time", step=300)
        review = st.form_submit_button("Preview", icon=":material/fact_check:")
    values = submitted(_MANY)
    activity = NewActivity(0, values["type"] or "", datetime.combine(day, at), values["duration_min"],
                           values["outcome"], values["notes"], values["next_step"],
                           fields_typed=activities.fields_typed(None, values), source="bulk")
    store = current_store()
    if review:
        try:
            st.session_state[_PENDING] = {"ids": lead_ids, "activity": activity,
                                          **activities.preview_many(store, actor, lead_ids, activity, clock.now())}
        except (ValueError, AccessDenied, StoreError) as exc:
            st.session_state.pop(_PENDING, None)
            show_problem(exc)
    pending = st.session_state.get(_PENDING)
    if not pending:
        return
    if pending["ids"] != lead_ids or pending["activity"] != activity:
        st.caption("The leads or the activity changed since the preview: preview again.")
        return
    refused = pending["refused"]
    st.info(f"This logs the {activity.type} on {pending['logged']:,} leads" +
            (f" and refuses {refused.height:,} (listed below with why)." if refused.height else "."),
            icon=":material/info:")
    if refused.height:
        ui.table(refused, "refused_leads", key="act.log.many.refused")
    if st.button(f"Confirm: log {pending['logged']:,} activities", key="act.log.many.confirm", type="primary",
                 disabled=pending["logged"] == 0, icon=":material/check:"):
        try:
            done = activities.log_many(store, actor, pending["ids"], pending["activity"], clock.now())
        except (ValueError, AccessDenied, StoreError) as exc:
            show_problem(exc)
        else:
            st.session_state.pop(_PENDING, None)
            st.success(f"Logged the {activity.type} on {done['logged']:,} leads"
                       + (f"; {done['refused'].height:,} refused." if done["refused"].height else "."),
                       icon=":material/done_all:")


# ---------------------------------------------------------------- a CSV


def _csv(actor: Actor) -> None:
    st.subheader("From a CSV")
    st.caption(f"Columns: {', '.join(activities.CSV_COLUMNS)} (lead, type and when are required; the lead is its "
               "id or external id). Every row is logged or set aside with its reason: nothing is lost.")
    st.download_button("Example CSV", EXAMPLE_CSV.encode(), file_name="activities-example.csv", mime="text/csv",
                       key="act.log.csv.example", icon=":material/download:", on_click="ignore", type="tertiary")
    upload = st.file_uploader("CSV file", type=["csv", "txt"], key="act.log.csv.file")
    if upload is not None and st.button(f"Log the activities in {upload.name}", key="act.log.csv.go",
                                        type="primary", icon=":material/upload_file:"):
        try:
            result = activities.log_csv(current_store(), actor, upload.getvalue(), clock.now())
        except (ValueError, AccessDenied, StoreError) as exc:
            show_problem(exc)
        else:
            st.session_state[_CSV_RESULT] = {"file": upload.name, **result}
    result = st.session_state.get(_CSV_RESULT)
    if result:
        _csv_result(result)


def _csv_result(result: dict[str, Any]) -> None:
    quarantined: pl.DataFrame = result["quarantined"]
    text = f"{result['file']}: logged {result['logged']:,} of {result['rows_read']:,} rows"
    (st.success if result["logged"] else st.warning)(
        text + (f"; {quarantined.height:,} set aside with their reasons below." if quarantined.height else "."),
        icon=":material/done_all:" if result["logged"] else ":material/warning:")
    notes = []
    if result["ignored_columns"]:
        notes.append(f"Ignored columns: {', '.join(result['ignored_columns'])}.")
    if result["date_note"]:
        notes.append(result["date_note"])
    if notes:
        st.caption(" ".join(notes))
    if quarantined.height:
        ui.table(quarantined, "activities-quarantined", key="act.log.csv.quarantined",
                 column_config={"reason": st.column_config.TextColumn("reason", width="large")})
