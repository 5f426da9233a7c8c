"""Admin → Users: the users and their sign-in state, creating and changing users, and the access review.

Every change goes through flashdash.users (admins only, audited); a one-time password is shown once, in the
run after the change, and is gone on the next.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
import streamlit as st

from flashdash import clock, users
from flashdash.access import AccessDenied, Actor
from flashdash.entities import ROLES
from flashdash.ui import components as ui
from flashdash.ui.store import cached, current_store, show_problem

FLASH = "usr.flash"  # the result of the last change, shown once at the top of the tab
ACTIONS = ("Disable", "Enable", "Reset password", "Unlock", "Change role")
NO_REP = "(no rep)"


def render(actor: Actor) -> None:
    if actor.role != "admin":
        show_problem(AccessDenied("Only admins can manage users."))
        return
    now = clock.now()
    _flash()
    listed = cached(users.list_users, actor, now)
    st.caption(f"{listed.height} users · {listed.filter(pl.col('active')).height} active · "
               f"{listed.filter(pl.col('locked_until').is_not_null()).height} locked")
    ui.table(listed, "users", key="usr.list")
    reps = cached(users.rep_choices, actor)
    left, right = st.columns(2, gap="large")
    with left:
        _create_form(actor, reps)
    with right:
        _change_form(actor, listed, reps)
    _access_review(actor, now)


def _flash() -> None:
    shown: dict[str, Any] | None = st.session_state.pop(FLASH, None)
    if not shown:
        return
    st.success(shown["message"], icon=":material/check_circle:")
    if shown.get("password"):
        st.warning(f"One-time password for **{shown['username']}**, shown only now: pass it on in person or by "
                   "a separate channel. They must choose their own at their next sign-in.",
                   icon=":material/key:")
        st.code(shown["password"], language=None)


def _done(message: str, form: str, username: str = "", password: str | None = None) -> None:
    """Show `message` (and a one-time password) in the next run, with the form emptied."""
    st.session_state[FLASH] = {"message": message, "username": username, "password": password}
    for key in [k for k in st.session_state if str(k).startswith(f"{form}.") and not str(k).endswith(".submit")]:
        del st.session_state[key]
    st.rerun()


def _rep_labels(reps: pl.DataFrame) -> dict[str, int | None]:
    labels: dict[str, int | None] = {NO_REP: None}
    for rep in reps.iter_rows(named=True):
        team = f", {rep['team']}" if rep["team"] else ""
        labels[f"{rep['rep_name']} ({rep['title']}{team}) #{rep['id']}"] = rep["id"]
    return labels


def _create_form(actor: Actor, reps: pl.DataFrame) -> None:
    st.subheader("Create a user")
    labels = _rep_labels(reps)
    with st.form("usr.create", enter_to_submit=False):
        username = st.text_input("Username", key="usr.create.username",
                                 help="2–32 characters: lowercase letters, digits, dot, dash or underscore.")
        name = st.text_input("Name", key="usr.create.name")
        email = st.text_input("Email", key="usr.create.email")
        role = st.selectbox("Role", ROLES, index=ROLES.index("analyst"), key="usr.create.role")
        rep = st.selectbox("Rep record", list(labels), key="usr.create.rep",
                           help="Required for a rep or manager: their book (and a manager's teams) comes from it.")
        reason = st.text_input("Reason (optional)", key="usr.create.reason", placeholder="e.g. new hire, ticket")
        submitted = st.form_submit_button("Create user", type="primary", key="usr.create.submit")
    if submitted:
        try:
            _, password = users.add_user(current_store(), actor, username, name, role, clock.now(),
                                         rep_id=labels[rep], email=email.strip() or None, reason=reason)
        except (users.UserError, AccessDenied) as exc:
            show_problem(exc)
            return
        _done(f"Created {username.strip().lower()!r} ({role}).", "usr.create", username.strip().lower(), password)


def _change_form(actor: Actor, listed: pl.DataFrame, reps: pl.DataFrame) -> None:
    st.subheader("Change a user")
    labels = _rep_labels(reps)
    with st.form("usr.change", enter_to_submit=False):
        username = st.selectbox("User", listed["username"].to_list(), key="usr.change.user")
        action = st.radio("Action", ACTIONS, key="usr.change.action", horizontal=True)
        role = st.selectbox("New role (for Change role)", ROLES, key="usr.change.role")
        rep = st.selectbox("Rep record (for Change role to rep or manager)", ["(keep)", *labels],
                           key="usr.change.rep")
        reason = st.text_input("Reason", key="usr.change.reason",
                               placeholder="why: left the company, new team, forgot password…")
        submitted = st.form_submit_button("Apply", type="primary", key="usr.change.submit")
    if submitted:
        try:
            message, password = _apply(actor, action, username, role, None if rep == "(keep)" else labels[rep],
                                       reason, clock.now())
        except (users.UserError, AccessDenied) as exc:
            show_problem(exc)
            return
        _done(message, "usr.change", username, password)


def _apply(actor: Actor, action: str, username: str, role: str, rep_id: int | None, reason: str,
           now: datetime) -> tuple[str, str | None]:
    """Run one change; returns the message to show and a one-time password if it made one."""
    store = current_store()
    if action in ("Disable", "Enable"):
        users.set_active(store, actor, username, action == "Enable", now, reason)
        return f"{action}d {username!r}.", None
    if action == "Reset password":
        return f"Reset the password of {username!r}.", users.reset_password(store, actor, username, now, reason)
    if action == "Unlock":
        users.unlock(store, actor, username, now, reason)
        return f"Unlocked {username!r}: their failed sign-ins are cleared.", None
    users.change_role(store, actor, username, role, now, reason, rep_id=rep_id)
    return f"{username!r} is now a {role}; it applies at their next page load.", None


def _access_review(actor: Actor, now: datetime) -> None:
    st.subheader("Access review")
    st.caption("Every user with their role, what rows they see, last sign-in and password age, for the periodic "
               "access review (SOC 2). From the command line: `python -m flashdash access-review FILE.csv`.")
    review = cached(users.access_review, actor, now)
    ui.download(review, f"access_review_{now:%Y%m%d}", key="usr.review")
