from datetime import datetime

import bcrypt
import pytest

from flashdash import access, users
from flashdash.store import Store

NOW = datetime(2026, 6, 30, 12, 0)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "u.duckdb")
    s.ensure_schema()
    return s


def test_a_new_store_gets_an_admin_with_a_one_time_password_printed_once(store):
    password = users.init_admin(store, NOW)
    assert password and len(password) >= 12
    row = store.frame("user_by_username", username="admin").row(0, named=True)
    assert row["role"] == "admin" and row["must_change_password"]
    stored = store.frame("users_for_login")["password_hash"][0]
    assert password not in stored and bcrypt.checkpw(password.encode(), stored.encode())
    assert users.init_admin(store, NOW) is None


def test_two_new_stores_never_share_an_admin_password(tmp_path):
    a, b = Store(tmp_path / "a.duckdb"), Store(tmp_path / "b.duckdb")
    a.ensure_schema()
    b.ensure_schema()
    assert users.init_admin(a, NOW) != users.init_admin(b, NOW)


@pytest.mark.parametrize("password, message", [
    ("short", "too short"),
    ("x" * 73, "too long"),
    ("analyst-1", "must not be the username"),
])
def test_bad_passwords_are_refused_before_anything_is_written(store, password, message):
    with pytest.raises(users.UserError, match=message):
        users.create_user(store, "admin", "analyst-1", "A", "analyst", password, NOW)
    assert store.scalar("count_users") == 0


def test_reps_must_be_tied_to_a_rep_record(store):
    with pytest.raises(users.UserError, match="tied to a rep"):
        users.create_user(store, "admin", "pat", "Pat", "rep", "long-enough-pw", NOW)


def test_a_taken_username_is_refused(store):
    users.create_user(store, "admin", "pat", "Pat", "analyst", "long-enough-pw", NOW)
    with pytest.raises(users.UserError, match="taken"):
        users.create_user(store, "admin", "PAT", "Pat", "analyst", "long-enough-pw", NOW)


def test_user_writes_and_logins_land_in_the_audit_trail(store):
    users.create_user(store, "admin", "pat", "Pat", "analyst", "long-enough-pw", NOW)
    users.record_login(store, "pat", NOW)
    audit = store.frame("audit_recent", limit=10)
    assert audit["action"].to_list() == ["login", "create"]
    assert store.frame("user_by_username", username="pat")["last_login_at"][0] == NOW


def test_a_disabled_account_cannot_act(store):
    users.create_user(store, "admin", "pat", "Pat", "analyst", "long-enough-pw", NOW)
    with store.write() as con:
        con.execute("UPDATE users SET active = false WHERE username = 'pat'")
    with pytest.raises(access.AccessDenied, match="disabled"):
        access.resolve_actor(store, "pat")


def test_the_demo_logins_can_be_added_to_any_store_once(tmp_path, capsys):
    from flashdash.__main__ import main

    db = tmp_path / "imported.duckdb"
    assert main(["demo-users", "--db", str(db)]) == 0
    assert "admin / flash-admin" in capsys.readouterr().out
    assert main(["demo-users", "--db", str(db)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    from flashdash.store import Store

    with Store(db).read() as con:
        roles = sorted(r for (r,) in con.execute("SELECT role FROM users").fetchall())
    assert roles == ["admin", "analyst", "executive"]  # no reps in the store: no rep or manager book to tie to
