"""Admin → Privacy: a person's data found, exported (JSON and CSV) and erased; the retention policy."""

from __future__ import annotations

import polars as pl
import streamlit as st

from flashdash import clock, privacy
from flashdash.access import AccessDenied, Actor
from flashdash.store import StoreError
from flashdash.ui.store import cached, current_store, show_problem

KEY = "admin.privacy"


def render(actor: Actor) -> None:
    st.markdown("**A person's data** (a subject access or erasure request)")
    st.caption("Find everything the store holds about one person by their email address (every lead that gave "
               "it) or by lead ids. Exports and erasures are recorded in the audit trail, without the person's "
               "details.")
    c1, c2 = st.columns([3, 2])
    email = c1.text_input("Email address", key=f"{KEY}.email", placeholder="name@example.com")
    ids_text = c2.text_input("Or lead ids", key=f"{KEY}.ids", placeholder="e.g. 17, 204")
    if st.button("Find", key=f"{KEY}.find", icon=":material/person_search:"):
        _find(actor, email, ids_text)
    found = st.session_state.get(f"{KEY}.found")
    if found:
        _found(actor, found)
    st.divider()
    _retention(actor)


def _ids(text: str) -> list[int]:
    parts = [p for p in text.replace(",", " ").split() if p]
    bad = [p for p in parts if not p.isdigit()]
    if bad:
        raise privacy.PrivacyError(f"Lead ids are whole numbers; {', '.join(bad)} is not.")
    return [int(p) for p in parts]


def _find(actor: Actor, email: str, ids_text: str) -> None:
    st.session_state.pop(f"{KEY}.files", None)
    try:
        lead_ids = _ids(ids_text)
        found = privacy.find(current_store(), actor, email or None, lead_ids)
    except (ValueError, AccessDenied, StoreError) as exc:
        st.session_state.pop(f"{KEY}.found", None)
        show_problem(exc)
        return
    st.session_state[f"{KEY}.found"] = {"email": email or None, "lead_ids": found["lead_ids"],
                                        "counts": found["counts"]}


def _found(actor: Actor, found: dict) -> None:
    if not found["lead_ids"]:
        st.info("No lead has that email address: the store holds nothing about this person under it.",
                icon=":material/search_off:")
        return
    counts = pl.DataFrame({"table": list(found["counts"]), "records": list(found["counts"].values())})
    st.markdown(f"Leads {', '.join(map(str, found['lead_ids']))}: "
                f"{sum(found['counts'].values()):,} records in {int((counts['records'] > 0).sum())} tables.")
    st.dataframe(counts.filter(pl.col("records") > 0), hide_index=True, key=f"{KEY}.counts")
    left, right = st.columns(2)
    with left:
        _export(actor, found)
    with right:
        _erase(actor, found)


def _export(actor: Actor, found: dict) -> None:
    st.markdown("**Export** (subject access)")
    if st.button("Prepare the export", key=f"{KEY}.export", icon=":material/download:"):
        try:
            done = privacy.export(current_store(), actor, clock.now(), found["email"], found["lead_ids"])
        except (ValueError, AccessDenied, StoreError) as exc:
            show_problem(exc)
        else:
            st.session_state[f"{KEY}.files"] = done["files"]
    files = st.session_state.get(f"{KEY}.files")
    if files:
        st.download_button("Everything, as JSON", files["json"], "subject-access.json", "application/json",
                           key=f"{KEY}.json", on_click="ignore")
        st.download_button("Everything, one CSV per table (zip)", files["zip"], "subject-access.zip",
                           "application/zip", key=f"{KEY}.zip", on_click="ignore")


def _erase(actor: Actor, found: dict) -> None:
    st.markdown("**Erase** (right to erasure)")
    st.caption("Anonymizes: the contact name, email and phone, notes, emails' addresses and text, and the audit "
               "trail's copies are blanked; counts and rates stay. Backups made before keep the data until "
               "they are deleted. This cannot be undone.")
    with st.form(f"{KEY}.erase_form"):
        reason = st.text_input("Reason", key=f"{KEY}.reason", max_chars=privacy.MAX_REASON,
                               placeholder="e.g. erasure request by email, 3 June")
        sure = st.checkbox("I understand that this cannot be undone", key=f"{KEY}.sure")
        if st.form_submit_button("Erase this person", icon=":material/delete_forever:", type="primary"):
            if not sure:
                st.error("Tick the box to confirm: an erasure cannot be undone.", icon=":material/block:")
                return
            try:
                done = privacy.erase(current_store(), actor, clock.now(), reason, found["email"],
                                     found["lead_ids"])
            except (ValueError, AccessDenied, StoreError) as exc:
                show_problem(exc)
            else:
                st.session_state.pop(f"{KEY}.found", None)
                counts = ", ".join(f"{v:,} {k}" for k, v in done["counts"].items() if v)
                st.success(f"Erased leads {', '.join(map(str, done['lead_ids']))} ({counts}). The erasure is "
                           "recorded in the audit trail.", icon=":material/done:")


def _retention(actor: Actor) -> None:
    st.markdown("**Retention policy**")
    st.caption("Closed leads (lost or disqualified, never a customer) untouched for this many months are "
               "anonymized, or purged (every row about them deleted), by the nightly `apply_retention` job.")
    policy = cached(privacy.retention_policy)
    with st.form(f"{KEY}.retention_form"):
        c1, c2 = st.columns(2)
        months = c1.number_input("Months (0: off)", min_value=0, max_value=120, value=policy["months"] or 0,
                                 key=f"{KEY}.months")
        action = c2.radio("Then", privacy.RETENTION_ACTIONS, horizontal=True, key=f"{KEY}.action",
                          index=privacy.RETENTION_ACTIONS.index(policy["action"]))
        preview = st.form_submit_button("Preview", icon=":material/preview:")
        save = st.form_submit_button("Save the policy", icon=":material/save:")
    if not (preview or save):
        return
    try:
        if preview:
            n = privacy.preview_retention(current_store(), actor, clock.now(), months or None, action)
            st.info(f"The policy would {action} {n:,} leads now." if months else "The policy is off: nothing "
                    "would change.", icon=":material/preview:")
        else:
            saved = privacy.save_policy(current_store(), actor, months or None, action, clock.now())
            st.success(f"Saved: {saved['action']} closed leads untouched for {saved['months']} months."
                       if saved["months"] else "Saved: the retention policy is off.", icon=":material/done:")
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
