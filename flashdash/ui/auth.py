"""The login gate and each page's guard (streamlit-authenticator over the store's users).

The store is the source of truth for who may sign in: a locked name is refused before its password is
checked, each failed password counts towards the lockout (flashdash.users), and a session ends when it has
been idle too long, is too old, or its account was disabled.
"""

from __future__ import annotations

import copy
import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.utilities import LoginError

from flashdash import access, clock, users
from flashdash.access import Actor
from flashdash.store import Store
from flashdash.ui.store import current_store, show_problem, store_errors_stop

COOKIE_NAME = "flashdash_auth"
SIGNED_IN_AT = "flash.signed_in_at"  # when this session signed in (the absolute session limit)
LAST_SEEN = "flash.last_seen"  # this session's last page load (the idle timeout)
SIGNED_OUT = "flash.signed_out"  # why the session was signed out, shown above the login form


class SignInLocked(LoginError):
    """A sign-in refused because the name is locked; the message says when to try again."""


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


@st.cache_data(show_spinner=False, max_entries=256)
def _account(path: str, version: str, username: str) -> dict[str, Any]:
    rows = Store(path).frame("user_account", username=username)
    return rows.row(0, named=True) if not rows.is_empty() else {}


def _authenticator(store: Store) -> stauth.Authenticate:
    # A copy each run: the authenticator writes login counters into the dict it is given.
    creds = copy.deepcopy(_credentials(str(store.path), store.version()))
    authenticator = stauth.Authenticate(creds, COOKIE_NAME, cookie_key(store), cookie_expiry_days=1.0)
    _hook_lockout(authenticator, store)
    return authenticator


def _hook_lockout(authenticator: stauth.Authenticate, store: Store) -> None:
    """Wrap this authenticator's password check in the store's lockout (its own counters live in memory only).

    The check runs only for a submitted form: a locked name is refused before its password is looked at, and
    a wrong password (or a name no account has, alike) is counted and may lock the name.
    """
    model = authenticator.authentication_controller.authentication_model
    check_password = model.check_credentials

    def checked(username: str, password: str) -> bool | None:
        now = clock.now()
        refusal = users.sign_in_refusal(store, username, now)
        if refusal:
            raise SignInLocked(refusal)
        ok = check_password(username, password)
        if not ok:
            locked = users.record_failed_login(store, username, now)
            if locked:
                raise SignInLocked(locked)
        return ok

    model.check_credentials = checked


def _on_login(info: dict[str, Any]) -> None:
    now = clock.now()
    users.record_login(current_store(), info["username"], now)
    st.session_state[SIGNED_IN_AT] = now
    st.session_state[LAST_SEEN] = now
    st.session_state.pop(SIGNED_OUT, None)


def _on_logout(info: dict[str, Any]) -> None:
    # No st.rerun() here: a rerun inside the authenticator's logout callback breaks its cleanup.
    users.record_logout(current_store(), info["username"], clock.now())
    for key in (SIGNED_IN_AT, LAST_SEEN):
        st.session_state.pop(key, None)


def _sign_out(message: str, reason: str) -> None:
    """End this session from the app's side (idle, too old, account disabled): audited, the cookie dropped,
    and `message` shown above the login form."""
    username = st.session_state.get("username")
    if username:
        users.record_logout(current_store(), username, clock.now(), reason=reason)
    for key in ("name", "username", "authentication_status", "email", "roles"):
        st.session_state[key] = None
    for key in (SIGNED_IN_AT, LAST_SEEN):
        st.session_state.pop(key, None)
    # As the authenticator's own logout does: no sign-in from the cookie in this session, and the login page
    # deletes the cookie from the browser.
    st.session_state["logout"] = True
    st.session_state[SIGNED_OUT] = message


def _session_ended(store: Store, username: str, now: datetime) -> bool:
    """Sign the session out if it was idle too long or is too old; True if it did."""
    idle, max_age = users.session_limits(dict(os.environ))
    if SIGNED_IN_AT not in st.session_state:
        # Signed in from the cookie in a new browser session: the last password sign-in is when it began.
        last_login = _account(str(store.path), store.version(), username).get("last_login_at")
        st.session_state[SIGNED_IN_AT] = last_login if last_login and last_login <= now else now
    last_seen = st.session_state.get(LAST_SEEN) or now
    ended = users.session_expiry(st.session_state[SIGNED_IN_AT], last_seen, now, idle, max_age)
    if ended == "idle":
        _sign_out(f"You were signed out after {idle.total_seconds() / 60:.0f} minutes without activity. "
                  "Sign in again to go on.", "idle timeout")
    elif ended == "expired":
        _sign_out(f"Your session reached its limit of {max_age.total_seconds() / 3600:g} hours. "
                  "Sign in again to go on.", "session limit")
    else:
        st.session_state[LAST_SEEN] = now
    return ended is not None


def _login_form(authenticator: stauth.Authenticate) -> None:
    st.title("Flash Sales Dashboard")
    st.caption("Sign in with your Flash account.")
    try:
        authenticator.login(location="main", key="login", callback=_on_login)
    except SignInLocked as exc:
        st.error(str(exc), icon=":material/lock_clock:")
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
        actor = _actor(str(store.path), store.version(), username)
    except access.AccessDenied as exc:
        # Disabled (or removed) since signing in: the actor is resolved from the store on every page load.
        _sign_out(str(exc), "account disabled")
        return None
    if _session_ended(store, username, clock.now()):
        return None
    return actor


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
    if st.session_state.get(SIGNED_OUT):
        st.info(st.session_state[SIGNED_OUT], icon=":material/timer_off:")
    _login_form(authenticator)
    st.stop()


def _password_change_page(actor: Actor) -> None:
    """A user who must change their password (a new account, an admin's reset) does it before any page."""
    st.title("Change your password")
    st.caption("Your password was set by an admin and works once: choose your own before you go on. Use at "
               f"least {users.MIN_PASSWORD} characters; a few unrelated words are easy to remember and hard to "
               "guess. Common passwords and your username are refused.")
    with st.form("auth.pw", enter_to_submit=False):
        current = st.text_input("Current password", type="password", key="auth.pw.current")
        new = st.text_input("New password", type="password", key="auth.pw.new")
        repeat = st.text_input("New password again", type="password", key="auth.pw.repeat")
        submitted = st.form_submit_button("Change password", type="primary", key="auth.pw.submit")
    if submitted:
        if new != repeat:
            st.error("The two new passwords differ: type the same one twice.", icon=":material/block:")
            return
        try:
            users.change_password(current_store(), actor.username, current, new, clock.now())
        except users.UserError as exc:
            show_problem(exc)
            return
        st.session_state["flash.password_changed"] = True
        st.rerun()


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
        if _account(str(current_store().path), current_store().version(), actor.username).get(
                "must_change_password"):
            _sidebar_user(actor)
            _password_change_page(actor)
            st.stop()
        if st.session_state.pop("flash.password_changed", False):
            st.toast("Your password is changed.", icon=":material/check:")
        if not access.can_open(actor, page_key):
            spec = access.PAGE_BY_KEY[page_key]
            st.error(f"Your role ({actor.role}) cannot open {spec.title}. Ask an admin if you need it.")
            st.stop()
        pending = st.session_state.pop("flash.pending_query", None)
        if pending and not st.query_params:
            st.query_params.from_dict(pending)
        _sidebar_user(actor)
    return actor
