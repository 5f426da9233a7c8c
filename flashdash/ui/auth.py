"""The login gate and each page's guard (streamlit-authenticator over the store's users)."""

from __future__ import annotations

import copy
import os
import secrets
from pathlib import Path
from typing import Any

import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.utilities import LoginError

from flashdash import access, clock, users
from flashdash.access import Actor
from flashdash.store import Store
from flashdash.ui.store import current_store, store_errors_stop

COOKIE_NAME = "flashdash_auth"


def cookie_key(store: Store) -> str:
    """The cookie signing key: secrets, else FLASHDASH_COOKIE_KEY, else a generated git-ignored file."""
    try:
        key = st.secrets.get("auth", {}).get("cookie_key")
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        key = None
    key = key or os.environ.get("FLASHDASH_COOKIE_KEY")
    if key:
        return key
    path: Path = store.path.parent / ".cookie_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


@st.cache_data(show_spinner=False, max_entries=8)
def _credentials(path: str, version: str) -> dict[str, Any]:
    return users.credentials(Store(path))


@st.cache_data(show_spinner=False, max_entries=256)
def _actor(path: str, version: str, username: str) -> Actor:
    return access.resolve_actor(Store(path), username)


def _authenticator(store: Store) -> stauth.Authenticate:
    # A copy each run: the authenticator writes login counters into the dict it is given.
    creds = copy.deepcopy(_credentials(str(store.path), store.version()))
    return stauth.Authenticate(creds, COOKIE_NAME, cookie_key(store), cookie_expiry_days=1.0)


def _on_login(info: dict[str, Any]) -> None:
    users.record_login(current_store(), info["username"], clock.now())


def _on_logout(info: dict[str, Any]) -> None:
    # No st.rerun() here: a rerun inside the authenticator's logout callback breaks its cleanup.
    users.record_logout(current_store(), info["username"], clock.now())


def _login_form(authenticator: stauth.Authenticate) -> None:
    st.title("Flash Sales Dashboard")
    st.caption("Sign in with your Flash account.")
    try:
        authenticator.login(location="main", key="login", callback=_on_login)
    except ValueError as exc:  # bcrypt 5 refuses passwords over 72 bytes instead of truncating
        st.error(f"That password cannot be right: {exc}. Passwords are at most 72 bytes.")
    except LoginError as exc:
        st.error(f"Sign-in refused: {exc}.")
    status = st.session_state.get("authentication_status")
    if status is True:
        # login() does not rerun by itself, and a rerun in this same run would drop the cookie it
        # just asked the browser to store: store it again on the next (signed-in) run instead.
        st.session_state["flash.set_cookie"] = True
        st.rerun()
    if status is False:
        st.error("Username or password is incorrect.")


def session_actor() -> Actor | None:
    """The signed-in user from the session, drawing nothing; None when nobody is signed in."""
    username = st.session_state.get("username")
    if not (st.session_state.get("authentication_status") and username):
        return None
    store = current_store()
    try:
        return _actor(str(store.path), store.version(), username)
    except access.AccessDenied as exc:
        st.session_state["authentication_status"] = None
        st.error(str(exc))
        return None


def login_page() -> None:
    """Draw the login form (which also signs in from a valid cookie) and stop the run."""
    st.set_page_config(page_title="Flash Sales Dashboard", page_icon=":material/bolt:", layout="centered")
    # A fresh server runs a deep URL's page file directly and lists the pages/ folder beside the
    # form until some session has called st.navigation: nothing of the app shows before sign-in.
    st.html("<style>[data-testid='stSidebarNav'], [data-testid='stSidebar'] {display: none;}</style>")
    if st.query_params:
        # The login's reruns drop the URL's query (?rep=, ?start=...): keep it for the signed-in run.
        st.session_state["flash.pending_query"] = st.query_params.to_dict()
    authenticator = _authenticator(current_store())
    if st.session_state.get("logout"):
        # The logout run ends in a rerun that can drop the browser's cookie deletion; delete it again
        # here, in a run that does not rerun, so that a reload stays signed out.
        authenticator.cookie_controller.delete_cookie()
    _login_form(authenticator)
    st.stop()


def _sidebar_user(actor: Actor) -> None:
    authenticator = _authenticator(current_store())
    if st.session_state.pop("flash.set_cookie", False):
        authenticator.cookie_controller.set_cookie()
    with st.sidebar:
        st.markdown(f"**{actor.name}** · {actor.role}")
        authenticator.logout("Log out", location="sidebar", key="w.logout", callback=_on_logout)
    if not st.session_state.get("authentication_status"):
        st.rerun()


def navigation(actor: Actor | None) -> dict[str, list[Any]]:
    """The st.navigation sections of this actor's role, its landing page the default.

    With no actor (the login form), every page is listed, hidden, so that the page asked for in the
    URL is still the one shown once the login's reruns are done.
    """
    sections: dict[str, list[Any]] = {}
    landing = access.LANDING[actor.role] if actor else "admin"
    for spec in access.pages_for(actor.role) if actor else access.PAGES:
        page = st.Page(spec.path, title=spec.title, icon=spec.icon, url_path=spec.key, default=spec.key == landing)
        sections.setdefault(spec.section, []).append(page)
    return sections


def guard(page_key: str) -> Actor:
    """Top of every page: the signed-in actor with this page's role, or the login form / a refusal and stop.

    A freshly started server runs a page file directly (skipping app.py) until some session has
    called st.navigation, so every page must check for itself.
    """
    with store_errors_stop():
        actor = session_actor()
        if actor is None:
            login_page()
        st.set_page_config(page_title="Flash Sales Dashboard", page_icon=":material/bolt:", layout="wide")
        if not access.can_open(actor, page_key):
            spec = access.PAGE_BY_KEY[page_key]
            st.error(f"Your role ({actor.role}) cannot open {spec.title}. Ask an admin if you need it.")
            st.stop()
        pending = st.session_state.pop("flash.pending_query", None)
        if pending and not st.query_params:
            st.query_params.from_dict(pending)
        _sidebar_user(actor)
    return actor
