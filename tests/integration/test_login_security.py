"""Sign-in lockout, sign-in audit, admin user management and the access review, on a real store."""

from __future__ import annotations

import argparse
import csv
import json
from datetime import datetime, timedelta

import bcrypt
import pytest

from flashdash import access, users
from flashdash.access import AccessDenied
from flashdash.store import Store
from tests.conftest import NOW

ADMIN = access.Actor(username="admin", name="Ada Admin", role="admin")


def audit_rows(store: Store, actor: str | None = None) -> list[dict]:
    with store.read() as con:
        rows = con.sql("SELECT actor, action, entity, entity_id, before, after, reason FROM audit_log "
                       "WHERE entity = 'user' ORDER BY id").pl().to_dicts()
    return [r for r in rows if actor is None or r["actor"] == actor]


def fail(store: Store, username: str, times: int, start: datetime = NOW) -> list[str | None]:
    return [users.record_failed_login(store, username, start + timedelta(seconds=i)) for i in range(times)]


def account(store: Store, username: str) -> dict:
    return store.frame("user_account", username=username).row(0, named=True)


# ---------------------------------------------------------------- lockout


def test_four_failures_do_not_lock_and_the_fifth_locks_for_a_minute(demo_copy):
    assert fail(demo_copy, "analyst", 4) == [None] * 4
    assert users.sign_in_refusal(demo_copy, "analyst", NOW + timedelta(seconds=4)) is None

    message = users.record_failed_login(demo_copy, "analyst", NOW)
    assert message and "locked" in message and "in 1 minute" in message
    row = account(demo_copy, "analyst")
    assert row["failed_logins"] == 5 and row["locked_until"] == NOW + timedelta(minutes=1)


def test_a_locked_account_is_refused_before_its_password_and_free_again_when_the_lock_ends(demo_copy):
    fail(demo_copy, "analyst", 5, NOW)
    until = account(demo_copy, "analyst")["locked_until"]

    refusal = users.sign_in_refusal(demo_copy, "analyst", until - timedelta(seconds=1))
    assert refusal and "Try again after" in refusal
    assert users.sign_in_refusal(demo_copy, "analyst", until) is None
    # A refusal while locked is audited but does not count as another failure.
    assert account(demo_copy, "analyst")["failed_logins"] == 5
    assert audit_rows(demo_copy, "analyst")[-1]["reason"] == users.LOCKED_REASON


def test_each_further_failure_doubles_the_lock_up_to_an_hour(demo_copy):
    spans = []
    moment = NOW
    for _ in range(12):
        users.record_failed_login(demo_copy, "analyst", moment)
        until = account(demo_copy, "analyst")["locked_until"]
        spans.append(None if until is None else (until - moment).total_seconds() / 60)
        moment = until or moment  # the next attempt comes when the lock has ended
    assert spans == [None] * 4 + [1, 2, 4, 8, 16, 32, 60, 60]


def test_a_good_sign_in_resets_the_count(demo_copy):
    fail(demo_copy, "analyst", 4)
    users.record_login(demo_copy, "analyst", NOW)
    row = account(demo_copy, "analyst")
    assert row["failed_logins"] == 0 and row["locked_until"] is None and row["last_login_at"] == NOW
    assert fail(demo_copy, "analyst", 4, NOW + timedelta(minutes=1)) == [None] * 4


def test_unknown_usernames_lock_like_accounts_and_are_audited(demo_copy):
    known = fail(demo_copy, "analyst", 5)
    unknown = fail(demo_copy, "no.such.user", 5)
    assert [m is None for m in unknown] == [m is None for m in known]
    assert users.sign_in_refusal(demo_copy, "no.such.user", NOW + timedelta(seconds=10)) == \
        users.sign_in_refusal(demo_copy, "analyst", NOW + timedelta(seconds=10))
    actions = [r["action"] for r in audit_rows(demo_copy, "no.such.user")]
    assert actions == ["login_failed"] * 5 + ["locked", "login_failed"]
    assert demo_copy.scalar("user_by_username", username="no.such.user") is None


def test_failures_of_a_username_differing_only_in_case_or_spaces_count_together(demo_copy):
    fail(demo_copy, " Analyst ", 3)
    fail(demo_copy, "ANALYST", 2)
    assert account(demo_copy, "analyst")["locked_until"] is not None


def test_logins_failures_lockouts_and_logouts_land_in_the_audit_trail(demo_copy):
    fail(demo_copy, "rep", 5)
    users.sign_in_refusal(demo_copy, "rep", NOW + timedelta(seconds=30))
    users.record_login(demo_copy, "rep", NOW + timedelta(minutes=2))
    users.record_logout(demo_copy, "rep", NOW + timedelta(minutes=3), reason="idle timeout")
    rows = audit_rows(demo_copy, "rep")
    assert [r["action"] for r in rows] == ["login_failed"] * 5 + ["locked", "login_failed", "login", "logout"]
    assert {r["entity"] for r in rows} == {"user"} and {r["entity_id"] for r in rows} == {"rep"}
    assert json.loads(rows[5]["after"])["failed_logins"] == 5
    assert rows[-1]["reason"] == "idle timeout"


# ---------------------------------------------------------------- admin user management


def rep_id(store: Store) -> int:
    return store.frame("rep_choices")["id"][0]


def test_an_admin_creates_a_user_with_a_one_time_password_that_must_be_changed(demo_copy):
    uid, password = users.add_user(demo_copy, ADMIN, "Pat.Jones", "Pat Jones", "rep", NOW,
                                   rep_id=rep_id(demo_copy), email="pat@flashpay.example", reason="new hire")
    row = account(demo_copy, "pat.jones")
    assert row["id"] == uid and row["must_change_password"] and row["role"] == "rep"
    stored = demo_copy.scalar("user_password_hash", username="pat.jones")
    assert bcrypt.checkpw(password.encode(), stored.encode())
    created = audit_rows(demo_copy, "admin")[-1]
    assert created["action"] == "create" and created["reason"] == "new hire"
    assert password not in (created["after"] or "") and stored not in (created["after"] or "")


def test_a_rep_or_manager_without_a_rep_record_is_refused_and_nothing_is_written(demo_copy):
    before = demo_copy.scalar("count_users")
    for role in ("rep", "manager"):
        with pytest.raises(users.UserError, match="tied to a rep record"):
            users.add_user(demo_copy, ADMIN, "pat", "Pat", role, NOW)
    with pytest.raises(users.UserError, match="A username is.*Give the user a name"):
        users.add_user(demo_copy, ADMIN, "x", "", "analyst", NOW)
    assert demo_copy.scalar("count_users") == before


def test_only_admins_manage_users(demo_copy):
    rep = access.resolve_actor(demo_copy, "rep")
    for call in (lambda: users.add_user(demo_copy, rep, "pat", "Pat", "analyst", NOW),
                 lambda: users.set_active(demo_copy, rep, "analyst", False, NOW, "x"),
                 lambda: users.reset_password(demo_copy, rep, "analyst", NOW, "x"),
                 lambda: users.change_role(demo_copy, rep, "analyst", "admin", NOW, "x"),
                 lambda: users.unlock(demo_copy, rep, "analyst", NOW, "x"),
                 lambda: users.access_review(demo_copy, rep, NOW),
                 lambda: users.list_users(demo_copy, rep, NOW)):
        with pytest.raises(AccessDenied):
            call()


def test_an_admin_cannot_disable_themselves_or_demote_the_last_admin(demo_copy):
    with pytest.raises(users.UserError, match="your own account"):
        users.set_active(demo_copy, ADMIN, "admin", False, NOW, "leaving")
    other = access.Actor(username="second", name="Second", role="admin")
    with pytest.raises(users.UserError, match="last active admin"):
        users.set_active(demo_copy, other, "admin", False, NOW, "leaving")
    with pytest.raises(users.UserError, match="last active admin"):
        users.change_role(demo_copy, ADMIN, "admin", "analyst", NOW, "moving on")
    assert account(demo_copy, "admin")["active"] and account(demo_copy, "admin")["role"] == "admin"


def test_a_second_admin_lets_the_first_be_disabled(demo_copy):
    users.change_role(demo_copy, ADMIN, "analyst", "admin", NOW, "covers for Ada")
    deputy = access.resolve_actor(demo_copy, "analyst")
    users.set_active(demo_copy, deputy, "admin", False, NOW, "on leave")
    assert not account(demo_copy, "admin")["active"]


def test_changes_of_access_need_a_reason(demo_copy):
    with pytest.raises(users.UserError, match="Say why"):
        users.set_active(demo_copy, ADMIN, "analyst", False, NOW, "  ")
    assert account(demo_copy, "analyst")["active"]


def test_a_disabled_user_is_refused_at_the_next_page_load_and_can_be_enabled_again(demo_copy):
    users.set_active(demo_copy, ADMIN, "analyst", False, NOW, "left the company")
    with pytest.raises(AccessDenied, match="disabled"):
        access.resolve_actor(demo_copy, "analyst")
    assert "analyst" not in users.credentials(demo_copy)["usernames"]
    users.set_active(demo_copy, ADMIN, "analyst", True, NOW, "came back")
    assert access.resolve_actor(demo_copy, "analyst").role == "analyst"
    changes = [(json.loads(r["before"]), json.loads(r["after"]), r["reason"]) for r in audit_rows(demo_copy, "admin")]
    assert changes[-2:] == [({"active": True}, {"active": False}, "left the company"),
                            ({"active": False}, {"active": True}, "came back")]


def test_a_role_change_takes_effect_on_the_next_resolution_and_a_rep_role_needs_a_rep(demo_copy):
    with pytest.raises(users.UserError, match="tied to a rep record"):
        users.change_role(demo_copy, ADMIN, "analyst", "manager", NOW, "promoted")
    users.change_role(demo_copy, ADMIN, "analyst", "rep", NOW, "moved to sales", rep_id=rep_id(demo_copy))
    actor = access.resolve_actor(demo_copy, "analyst")
    assert actor.role == "rep" and actor.scope_reps == (rep_id(demo_copy),)
    last = audit_rows(demo_copy, "admin")[-1]
    assert json.loads(last["before"])["role"] == "analyst" and json.loads(last["after"])["role"] == "rep"


def test_a_reset_password_works_once_must_be_changed_and_unlocks(demo_copy):
    fail(demo_copy, "executive", 6)
    password = users.reset_password(demo_copy, ADMIN, "executive", NOW, "forgot it")
    row = account(demo_copy, "executive")
    assert row["must_change_password"] and row["locked_until"] is None and row["failed_logins"] == 0
    with pytest.raises(users.UserError, match="too common"):
        users.change_password(demo_copy, "executive", password, "password1234", NOW)
    with pytest.raises(users.UserError, match="current password is not right"):
        users.change_password(demo_copy, "executive", "flash-executive", "tangerine lamp oblique", NOW)
    users.change_password(demo_copy, "executive", password, "tangerine lamp oblique", NOW + timedelta(minutes=1))
    row = account(demo_copy, "executive")
    assert not row["must_change_password"] and row["password_changed_at"] == NOW + timedelta(minutes=1)
    assert bcrypt.checkpw(b"tangerine lamp oblique", demo_copy.scalar("user_password_hash",
                                                                       username="executive").encode())


def test_an_admin_unlocks_a_locked_account(demo_copy):
    fail(demo_copy, "manager", 5)
    users.unlock(demo_copy, ADMIN, "manager", NOW, "verified by phone")
    assert users.sign_in_refusal(demo_copy, "manager", NOW) is None
    last = audit_rows(demo_copy, "admin")[-1]
    assert json.loads(last["before"])["failed_logins"] == 5 and last["reason"] == "verified by phone"


# ---------------------------------------------------------------- the access review


def test_the_access_review_lists_every_user_with_role_scope_and_sign_in_facts(demo_copy):
    users.record_login(demo_copy, "rep", NOW - timedelta(days=10))
    fail(demo_copy, "analyst", 5)
    review = users.access_review(demo_copy, ADMIN, NOW)
    assert review.columns[:12] == ["username", "name", "role", "scope", "active", "created", "last_login",
                                   "days_since_last_login", "failed_sign_ins", "locked", "password_age_days",
                                   "must_change_password"]
    assert sorted(review["username"]) == ["admin", "analyst", "executive", "manager", "rep"]
    by_user = {r["username"]: r for r in review.to_dicts()}
    assert by_user["rep"]["days_since_last_login"] == 10 and by_user["rep"]["scope"].startswith("own book: ")
    assert by_user["manager"]["scope"].startswith("team: ")
    assert by_user["analyst"]["locked"] and by_user["analyst"]["failed_sign_ins"] == 5
    assert by_user["analyst"]["scope"] == "all rows, contacts masked" and by_user["admin"]["scope"] == "all rows"


def test_the_access_review_command_writes_a_csv(demo_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("FLASHDASH_NOW", NOW.isoformat())
    out = tmp_path / "review" / "access.csv"
    assert users.cmd_access_review(argparse.Namespace(file=str(out), db=str(demo_copy.path))) == 0
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert {r["username"] for r in rows} == {"admin", "analyst", "executive", "manager", "rep"}
    assert {r["role"] for r in rows} == {"admin", "analyst", "executive", "manager", "rep"}
