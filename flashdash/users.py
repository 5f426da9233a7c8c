"""App users: creation with validated passwords, demo users, the first admin, login records."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

import bcrypt

from flashdash import audit
from flashdash.entities import ROLES
from flashdash.store import Store

MIN_PASSWORD = 8
MAX_PASSWORD_BYTES = 72  # bcrypt 5 refuses longer passwords instead of truncating them
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")

# Demo mode only: one user per role, listed in the README.
DEMO_USERS = {
    "rep": ("Riley Rep", "flash-rep"),
    "manager": ("Morgan Manager", "flash-manager"),
    "analyst": ("Avery Analyst", "flash-analyst"),
    "executive": ("Emery Executive", "flash-executive"),
    "admin": ("Ada Admin", "flash-admin"),
}


class UserError(ValueError):
    """A user record that cannot be saved; the message says what to change."""


def check_password(password: str, username: str = "") -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"The password is too short: use at least {MIN_PASSWORD} characters.")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise UserError(f"The password is too long: at most {MAX_PASSWORD_BYTES} bytes (bcrypt's limit).")
    if username and password.lower() == username.lower():
        raise UserError("The password must not be the username.")


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12)).decode()


def create_user(
    store: Store,
    actor: str,
    username: str,
    name: str,
    role: str,
    password: str,
    now: datetime,
    rep_id: int | None = None,
    email: str | None = None,
    must_change_password: bool = False,
) -> int:
    """Validate and insert a user; returns its id. Nothing is written if any check fails."""
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise UserError("A username is 2–32 characters: lowercase letters, digits, dot, dash or underscore.")
    if role not in ROLES:
        raise UserError(f"Unknown role {role!r}; choose one of: {', '.join(ROLES)}.")
    if not name.strip():
        raise UserError("Give the user a name.")
    if role in ("rep", "manager") and rep_id is None:
        raise UserError(f"A {role} user must be tied to a rep record, so that their book is known.")
    check_password(password, username)
    hashed = hash_password(password)
    with store.write() as con:
        if con.execute("SELECT count(*) FROM users WHERE username = ?", [username]).fetchall()[0][0]:
            raise UserError(f"The username {username!r} is taken.")
        if rep_id is not None and not con.execute("SELECT count(*) FROM reps WHERE id = ?", [rep_id]).fetchall()[0][0]:
            raise UserError(f"There is no rep with id {rep_id}.")
        (uid,) = con.execute(
            "INSERT INTO users (id, username, name, email, password_hash, role, rep_id, active, "
            "must_change_password, created_at) VALUES (nextval('users_id_seq'), ?, ?, ?, ?, ?, ?, true, ?, ?) "
            "RETURNING id",
            [username, name.strip(), email, hashed, role, rep_id, must_change_password, now],
        ).fetchall()[0]
        audit.record(con, actor, "create", "user", uid, now,
                     after={"username": username, "name": name, "role": role, "rep_id": rep_id})
    return uid


def create_demo_users(store: Store, now: datetime) -> dict[str, str]:
    """One user per role with the README's passwords; rep and manager tied to reps of the first team.

    On a store whose first team has no manager (an imported org, e.g. Olist's SDRs and closers) the
    manager user gets a rep record of its own that manages every team without a manager. On a store
    without reps there is no book to tie a rep or manager user to, so only the other roles are created.
    """
    rep_id = store.scalar("demo_rep_for_login")
    manager_id = store.scalar("demo_manager_for_login")
    if manager_id is None and rep_id is not None and store.scalar("user_by_username", username="manager") is None:
        manager_id = _demo_manager(store, now)
    created = {}
    for role, (name, password) in DEMO_USERS.items():
        if store.scalar("user_by_username", username=role) is not None:
            continue
        tie = {"rep": rep_id, "manager": manager_id}.get(role)
        if role in ("rep", "manager") and tie is None:
            continue
        create_user(store, "system:demo", role, name, role, password, now, rep_id=tie,
                    email=f"{role}@flashpay.example")
        created[role] = password
    with store.write() as con:
        store.run("put_setting", con, key="demo_mode", value="true")
    return created


def _demo_manager(store: Store, now: datetime) -> int:
    """A manager rep record for the demo manager user, made manager of every team that has none."""
    name = DEMO_USERS["manager"][0]
    with store.write() as con:
        teams = store.frame("teams_without_manager", con)
        rep_id = store.scalar("insert_manager_rep", con, rep_name=name, email="manager@flashpay.example",
                              team_id=teams["id"][0], start_date=now.date())
        audit.record(con, "system:demo", "create", "rep", rep_id, now,
                     after={"name": name, "title": "manager", "team_id": teams["id"][0]})
        for team_id, team in teams.iter_rows():
            store.run("set_team_manager", con, manager_id=rep_id, team_id=team_id)
            audit.record(con, "system:demo", "update", "team", team_id, now, before={"manager_id": None},
                         after={"manager_id": rep_id}, reason=f"demo manager for {team}")
    return rep_id


def init_admin(store: Store, now: datetime) -> str | None:
    """On a store without users, create `admin` with a one-time password and return it (else None)."""
    if store.scalar("count_users"):
        return None
    password = secrets.token_urlsafe(12)
    create_user(store, "system:init", "admin", "Administrator", "admin", password, now, must_change_password=True)
    return password


def credentials(store: Store) -> dict[str, Any]:
    """The credentials dict streamlit-authenticator expects (hashes only: it never re-hashes them)."""
    users = store.frame("users_for_login")
    return {
        "usernames": {
            u["username"]: {"name": u["name"], "email": u["email"] or "", "password": u["password_hash"],
                            "roles": [u["role"]]}
            for u in users.iter_rows(named=True)
        }
    }


def record_login(store: Store, username: str, now: datetime) -> None:
    with store.write() as con:
        con.execute("UPDATE users SET last_login_at = ? WHERE username = ?", [now, username])
        audit.record(con, username, "login", "user", username, now)


def record_logout(store: Store, username: str, now: datetime) -> None:
    with store.write() as con:
        audit.record(con, username, "logout", "user", username, now)
