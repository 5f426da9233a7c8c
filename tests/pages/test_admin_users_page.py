"""Admin → Users as an admin (create, disable, reset), refused for everyone else; and the sign-in gate's
password change and session expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flashdash import access, users
from flashdash.store import Store
from tests.conftest import NOW
from tests.pages.apptest import open_page, texts

ADMIN = access.Actor(username="admin", name="Ada Admin", role="admin")


def messages(at) -> str:
    return "\n".join(str(e.value) for e in (*at.success, *at.error, *at.warning, *at.info))


def test_the_users_tab_lists_the_users_and_offers_the_access_review():
    at = open_page("admin", "admin")
    assert not at.exception
    assert "5 users · 5 active · 0 locked" in texts(at)
    shown = next(d.value for d in at.dataframe if "failed_sign_ins" in d.value.columns)
    assert sorted(shown["username"]) == ["admin", "analyst", "executive", "manager", "rep"]
    assert {"Access review", "Create a user", "Change a user"} <= {s.value for s in at.subheader}
    assert at.get("download_button")  # the access review's downloads


def test_an_admin_creates_a_user_and_sees_the_one_time_password_once(live_store: Store):
    at = open_page("admin", "admin")
    at.text_input(key="usr.create.username").input("pat.jones")
    at.text_input(key="usr.create.name").input("Pat Jones")
    at.selectbox(key="usr.create.role").select("executive")
    at.button(key="usr.create.submit").click().run()

    assert not at.exception
    assert "Created 'pat.jones' (executive)." in messages(at)
    password = at.code[0].value
    assert users.password_problems(password, "pat.jones") == []
    assert live_store.frame("user_account", username="pat.jones")["must_change_password"][0]

    at.run()  # any next run: the password is gone
    assert not at.code and "Created" not in messages(at)


def test_creating_a_rep_without_a_rep_record_is_refused_with_the_reason(live_store: Store):
    at = open_page("admin", "admin")
    at.text_input(key="usr.create.username").input("pat")
    at.text_input(key="usr.create.name").input("Pat")
    at.selectbox(key="usr.create.role").select("rep")
    at.button(key="usr.create.submit").click().run()

    assert "must be tied to a rep record" in messages(at)
    assert live_store.scalar("user_by_username", username="pat") is None


def test_an_admin_disables_a_user_with_a_reason(live_store: Store):
    at = open_page("admin", "admin")
    at.selectbox(key="usr.change.user").select("analyst")
    at.radio(key="usr.change.action").set_value("Disable")
    at.text_input(key="usr.change.reason").input("left the company")
    at.button(key="usr.change.submit").click().run()

    assert not at.exception
    assert "Disabled 'analyst'." in messages(at)
    assert not live_store.frame("user_account", username="analyst")["active"][0]
    assert "4 active" in texts(at)


def test_an_admin_cannot_disable_themselves(live_store: Store):
    at = open_page("admin", "admin")
    at.selectbox(key="usr.change.user").select("admin")
    at.radio(key="usr.change.action").set_value("Disable")
    at.text_input(key="usr.change.reason").input("testing")
    at.button(key="usr.change.submit").click().run()

    assert "cannot disable your own account" in messages(at)
    assert live_store.frame("user_account", username="admin")["active"][0]


def test_an_admin_resets_a_password_and_sees_it_once(live_store: Store):
    at = open_page("admin", "admin")
    at.selectbox(key="usr.change.user").select("rep")
    at.radio(key="usr.change.action").set_value("Reset password")
    at.text_input(key="usr.change.reason").input("forgot it")
    at.button(key="usr.change.submit").click().run()

    assert "Reset the password of 'rep'." in messages(at)
    assert len(at.code[0].value) >= users.MIN_PASSWORD
    assert live_store.frame("user_account", username="rep")["must_change_password"][0]


@pytest.mark.parametrize("role", ["rep", "manager", "analyst", "executive"])
def test_other_roles_cannot_open_the_users_tab(role):
    at = open_page("admin", role)
    assert not at.exception
    assert f"Your role ({role}) cannot open Admin" in messages(at)
    assert not at.get("dataframe") and not at.text_input


def test_a_user_who_must_change_their_password_sees_only_the_change_form(live_store: Store):
    password = users.reset_password(live_store, ADMIN, "analyst", NOW, "forgot it")
    at = open_page("predictive", "analyst")
    assert [t.value for t in at.title] == ["Change your password"]

    at.text_input(key="auth.pw.current").input(password)
    at.text_input(key="auth.pw.new").input("password1234")
    at.text_input(key="auth.pw.repeat").input("password1234")
    at.button(key="auth.pw.submit").click().run()
    assert "too common" in messages(at)

    at.text_input(key="auth.pw.new").input("tangerine lamp oblique")
    at.text_input(key="auth.pw.repeat").input("tangerine lamp oblique")
    at.button(key="auth.pw.submit").click().run()
    assert not at.exception
    assert "Predictive foundation" in [t.value for t in at.title]


def test_a_session_idle_past_the_timeout_is_signed_out_with_a_message(live_store: Store):
    at = open_page("scoreboard", "manager")
    assert not at.exception and "Rep scoreboard" in [t.value for t in at.title]

    at.session_state["flash.last_seen"] = NOW - timedelta(minutes=31)
    at.run()
    assert "signed out after 30 minutes without activity" in messages(at)
    assert at.session_state["authentication_status"] is None
    assert "Rep scoreboard" not in [t.value for t in at.title]
    with live_store.read() as con:
        ((reason,),) = con.execute("SELECT reason FROM audit_log WHERE action = 'logout' ORDER BY id DESC LIMIT 1"
                                   ).fetchall()
    assert reason == "idle timeout"


def test_a_session_past_its_absolute_limit_is_signed_out(live_store: Store):
    at = open_page("scoreboard", "manager")
    at.session_state["flash.signed_in_at"] = NOW - timedelta(hours=12)
    at.run()
    assert "reached its limit of 12 hours" in messages(at)


def test_a_user_disabled_while_signed_in_is_signed_out_at_the_next_page_load(live_store: Store):
    at = open_page("scoreboard", "manager")
    users.set_active(live_store, ADMIN, "manager", False, NOW, "left the company")
    at.run()
    assert "disabled" in messages(at)
    assert at.session_state["authentication_status"] is None
