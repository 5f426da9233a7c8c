"""App users: password rules, sign-in lockout, session expiry, admin user management and the access review."""

from __future__ import annotations

import argparse
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import bcrypt
import duckdb
import polars as pl

from flashdash import audit
from flashdash.access import AccessDenied, Actor
from flashdash.entities import ROLES
from flashdash.store import Store

# Password rules after NIST SP 800-63B (5.1.1.2): length, no common or context-specific passwords, no
# composition rules (no forced digits or symbols) and no periodic expiry.
MIN_PASSWORD = 12
MAX_PASSWORD_BYTES = 72  # bcrypt 5 refuses longer passwords instead of truncating them
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")

# Sign-in lockout: after LOCK_AFTER failures in a row the account is locked for LOCK_FIRST, doubling with each
# further failure up to LOCK_MAX; a good sign-in resets the count.
LOCK_AFTER = 5
LOCK_FIRST = timedelta(minutes=1)
LOCK_MAX = timedelta(hours=1)
UNKNOWN_WINDOW = timedelta(days=1)  # failures of a username no account has are counted over this window
LOCKED_REASON = "account locked"  # the audit reason of an attempt refused while locked (it does not count)

# Session expiry (FLASHDASH_SESSION_IDLE_MIN, FLASHDASH_SESSION_MAX_HOURS override them).
SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX = timedelta(hours=12)

ROLES_WITH_REP = ("rep", "manager")  # access.resolve_actor scopes these by their rep record

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


# ---------------------------------------------------------------- password rules


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords and context words (lower case)."""
    lines = COMMON_PASSWORDS_FILE.read_text().splitlines()
    return frozenset(s.strip().lower() for s in lines if s.strip() and not s.startswith("#"))


def _core(password: str) -> str:
    """The password without the digits and symbols people add before or after a word ('Summer2026!' -> 'summer')."""
    return re.sub(r"^[\W\d_]+|[\W\d_]+$", "", password.lower())


def _trivial(password: str) -> bool:
    """One or two characters repeated ('aaaa…', 'abab…') or a run up or down ('1234…', 'zyxw…')."""
    if len(set(password)) <= 2:
        return True
    steps = {ord(b) - ord(a) for a, b in zip(password, password[1:], strict=False)}
    return steps in ({1}, {-1})


def password_problems(password: str, username: str = "") -> list[str]:
    """Every rule the password breaks (empty when it is acceptable), each saying what to change."""
    problems = []
    if len(password) < MIN_PASSWORD:
        problems.append(f"The password is too short: use at least {MIN_PASSWORD} characters "
                        "(a few unrelated words make a long password easy to remember).")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        problems.append(f"The password is too long: at most {MAX_PASSWORD_BYTES} bytes (bcrypt's limit).")
    if password != password.strip():
        problems.append("The password must not start or end with a space (the sign-in form trims them).")
    lowered, user = password.lower(), username.strip().lower()
    if user and (lowered == user or (len(user) >= 4 and user in lowered)):
        problems.append("The password must not be the username or contain it.")
    common = common_passwords()
    if lowered in common or _core(password) in common:
        problems.append("The password is too common (it is on the list of most used passwords, or one of them "
                        "with digits or symbols added): choose something less guessable.")
    elif password and _trivial(password):
        problems.append("The password is a repeated or sequential run of characters: choose something less "
                        "guessable.")
    return problems


def check_password(password: str, username: str = "") -> None:
    """Raise UserError naming every rule the password breaks."""
    problems = password_problems(password, username)
    if problems:
        raise UserError(" ".join(problems))


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12)).decode()


def one_time_password() -> str:
    """A random password shown once (cryptographic randomness on purpose: it must not be reproducible)."""
    return secrets.token_urlsafe(12)


# ---------------------------------------------------------------- creating users


def _validate_new_user(store: Store, con: duckdb.DuckDBPyConnection, username: str, name: str, role: str,
                       rep_id: int | None) -> list[str]:
    problems = []
    if not USERNAME_RE.match(username):
        problems.append("A username is 2–32 characters: lowercase letters, digits, dot, dash or underscore, "
                        "starting with a letter or digit.")
    elif store.scalar("username_taken", con, username=username):
        problems.append(f"The username {username!r} is taken.")
    if role not in ROLES:
        problems.append(f"Unknown role {role!r}; choose one of: {', '.join(ROLES)}.")
    if not name.strip():
        problems.append("Give the user a name.")
    if role in ROLES_WITH_REP and rep_id is None:
        problems.append(f"A {role} user must be tied to a rep record, so that their book is known.")
    elif rep_id is not None and not store.scalar("rep_exists", con, rep_id=rep_id):
        problems.append(f"There is no rep with id {rep_id}.")
    return problems


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
    password_rules: bool = True,
    reason: str | None = None,
) -> int:
    """Validate and insert a user; returns its id. Nothing is written if any check fails.

    `password_rules=False` is for the demo logins only, whose short passwords are published in the README.
    """
    username = username.strip().lower()
    problems = password_problems(password, username) if password_rules else \
        [p for p in password_problems(password, username) if "too long" in p]
    hashed = hash_password(password) if not problems else ""
    with store.write() as con:
        problems = _validate_new_user(store, con, username, name, role, rep_id) + problems
        if problems:
            raise UserError(" ".join(problems))
        uid = store.scalar("insert_user", con, username=username, full_name=name.strip(), email=email or None,
                           password_hash=hashed, role=role, rep_id=rep_id,
                           must_change_password=must_change_password, now=now)
        audit.record(con, actor, "create", "user", uid, now, reason=reason,
                     after={"username": username, "name": name.strip(), "email": email or None, "role": role,
                            "rep_id": rep_id, "active": True, "must_change_password": must_change_password})
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
        if role in ROLES_WITH_REP and tie is None:
            continue
        create_user(store, "system:demo", role, name, role, password, now, rep_id=tie,
                    email=f"{role}@flashpay.example", password_rules=False)
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
    password = one_time_password()
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


# ---------------------------------------------------------------- sign-in, lockout, sign-out


def lock_duration(failures: int) -> timedelta | None:
    """How long `failures` failed sign-ins in a row lock an account: none below LOCK_AFTER, then LOCK_FIRST,
    doubling with each further failure, at most LOCK_MAX."""
    if failures < LOCK_AFTER:
        return None
    doublings = min(failures - LOCK_AFTER, 12)  # 2**12 minutes is far past the cap already
    return min(LOCK_FIRST * 2**doublings, LOCK_MAX)


def lock_message(locked_until: datetime, now: datetime) -> str:
    """The refusal a locked account sees: when to try again, and nothing about the password."""
    minutes = max(1, -(-int((locked_until - now).total_seconds()) // 60))  # rounded up
    until = locked_until.replace(second=0, microsecond=0)
    if until < locked_until:  # "after 12:03" must not come before the lock ends
        until += timedelta(minutes=1)
    wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return (f"Too many failed sign-ins: this account is locked. Try again after {until:%H:%M} "
            f"(in {wait}), or ask an admin to unlock it.")


@dataclass(frozen=True)
class LoginState:
    """A username's run of failed sign-ins and the lock it earned (the same for names no account has)."""

    user_id: int | None
    failures: int
    locked_until: datetime | None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


def _normal(username: str) -> str:
    return (username or "").strip().lower()


def login_state(store: Store, username: str, now: datetime, con: duckdb.DuckDBPyConnection | None = None) -> LoginState:
    """The failures and lock of `username`, from its account or, for a name no account has, the audit trail."""
    account = store.frame("user_account", con, username=_normal(username))
    if not account.is_empty():
        row = account.row(0, named=True)
        return LoginState(row["id"], row["failed_logins"], row["locked_until"])
    row = store.frame("unknown_login_failures", con, username=_normal(username), since=now - UNKNOWN_WINDOW).row(
        0, named=True)
    span = lock_duration(row["failures"])
    return LoginState(None, row["failures"], row["last_failed"] + span if span else None)


def sign_in_refusal(store: Store, username: str, now: datetime) -> str | None:
    """The message refusing a sign-in of a locked username (the refused attempt is audited), else None.

    Checked before the password, so a locked account says nothing about whether the password was right.
    """
    username = _normal(username)
    state = login_state(store, username, now)
    if not state.locked(now):
        return None
    with store.write() as con:
        audit.record(con, username, "login_failed", "user", username, now, reason=LOCKED_REASON,
                     after={"locked_until": state.locked_until})
    return lock_message(state.locked_until, now)


def record_failed_login(store: Store, username: str, now: datetime) -> str | None:
    """Count a failed sign-in (known or unknown username alike); returns the lock message if it locked the name."""
    username = _normal(username)
    with store.write() as con:
        state = login_state(store, username, now, con)
        failures = state.failures + 1
        span = lock_duration(failures)
        locked_until = now + span if span else None
        if state.user_id is not None:
            store.run("set_login_failures", con, user_id=state.user_id, failures=failures, now=now,
                      locked_until=locked_until)
        audit.record(con, username, "login_failed", "user", username, now,
                     reason=None if state.user_id is not None else "unknown username",
                     after={"failed_logins": failures})
        if locked_until is None:
            return None
        audit.record(con, username, "locked", "user", username, now, reason=f"{failures} failed sign-ins in a row",
                     after={"locked_until": locked_until, "failed_logins": failures})
    return lock_message(locked_until, now)


def record_login(store: Store, username: str, now: datetime) -> None:
    """A good sign-in: the last login time, and the run of failures and any lock cleared."""
    with store.write() as con:
        store.run("set_login_success", con, username=username, now=now)
        audit.record(con, username, "login", "user", username, now)


def record_logout(store: Store, username: str, now: datetime, reason: str | None = None) -> None:
    with store.write() as con:
        audit.record(con, username, "logout", "user", username, now, reason=reason)


def session_expiry(signed_in_at: datetime, last_seen: datetime, now: datetime, idle: timedelta = SESSION_IDLE,
                   max_age: timedelta = SESSION_MAX) -> str | None:
    """Why a session must end now ('idle' or 'expired'), or None while it may go on."""
    if now - signed_in_at >= max_age:
        return "expired"
    if now - last_seen >= idle:
        return "idle"
    return None


def session_limits(env: dict[str, str]) -> tuple[timedelta, timedelta]:
    """The idle timeout and the absolute session limit, from FLASHDASH_SESSION_IDLE_MIN / _MAX_HOURS."""
    idle = env.get("FLASHDASH_SESSION_IDLE_MIN")
    most = env.get("FLASHDASH_SESSION_MAX_HOURS")
    return (timedelta(minutes=float(idle)) if idle else SESSION_IDLE,
            timedelta(hours=float(most)) if most else SESSION_MAX)


def change_password(store: Store, username: str, current: str, new: str, now: datetime) -> None:
    """A user's own password change: the current password, then the rules; clears must_change_password."""
    username = _normal(username)
    stored = store.scalar("user_password_hash", username=username)
    problems = []
    if stored is None or len(current.encode()) > MAX_PASSWORD_BYTES or \
            not bcrypt.checkpw(current.encode(), stored.encode()):
        problems.append("The current password is not right.")
    elif new == current:
        problems.append("Choose a new password, not the current one.")
    problems += password_problems(new, username)
    if problems:
        raise UserError(" ".join(problems))
    hashed = hash_password(new)
    with store.write() as con:
        before = _account(store, con, username)
        store.run("set_user_password", con, user_id=before["id"], password_hash=hashed,
                  must_change_password=False, now=now)
        audit.record(con, username, "update", "user", before["id"], now, reason="password changed by the user",
                     before={"must_change_password": before["must_change_password"],
                             "password_changed_at": before["password_changed_at"]},
                     after={"must_change_password": False, "password_changed_at": now})


# ---------------------------------------------------------------- admin user management


def _require_admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise AccessDenied("Only admins can manage users.")


def _account(store: Store, con: duckdb.DuckDBPyConnection, username: str) -> dict[str, Any]:
    rows = store.frame("user_account", con, username=_normal(username))
    if rows.is_empty():
        raise UserError(f"There is no user named {username!r}.")
    return rows.row(0, named=True)


def _require_reason(reason: str | None, what: str) -> str:
    if not (reason or "").strip():
        raise UserError(f"Say why you {what} (the reason goes into the audit trail).")
    return reason.strip()


def add_user(store: Store, actor: Actor, username: str, name: str, role: str, now: datetime,
             rep_id: int | None = None, email: str | None = None, reason: str | None = None) -> tuple[int, str]:
    """An admin creates a user with a one-time password (returned, to be shown once; changed at first sign-in)."""
    _require_admin(actor)
    password = one_time_password()
    uid = create_user(store, actor.username, username, name, role, password, now, rep_id=rep_id, email=email,
                      must_change_password=True, reason=(reason or "").strip() or None)
    return uid, password


def _last_admin_guard(store: Store, con: duckdb.DuckDBPyConnection, account: dict[str, Any], what: str) -> None:
    if account["role"] == "admin" and account["active"] and store.scalar("count_active_admins", con) <= 1:
        raise UserError(f"{account['username']!r} is the last active admin: make another user an admin before "
                        f"you {what}.")


def set_active(store: Store, actor: Actor, username: str, active: bool, now: datetime, reason: str) -> None:
    """Disable or enable a user. An admin cannot disable themselves or the last active admin."""
    _require_admin(actor)
    verb = "enable this user" if active else "disable this user"
    reason = _require_reason(reason, verb)
    with store.write() as con:
        account = _account(store, con, username)
        if not active:
            if account["username"] == actor.username:
                raise UserError("You cannot disable your own account: ask another admin.")
            _last_admin_guard(store, con, account, "disable it")
        if account["active"] == active:
            raise UserError(f"{account['username']!r} is {'active' if active else 'disabled'} already.")
        store.run("set_user_active", con, user_id=account["id"], active=active)
        audit.record(con, actor.username, "update", "user", account["id"], now, reason=reason,
                     before={"active": account["active"]}, after={"active": active})


def reset_password(store: Store, actor: Actor, username: str, now: datetime, reason: str) -> str:
    """A new one-time password (returned, to be shown once) that must be changed at the next sign-in; unlocks."""
    _require_admin(actor)
    reason = _require_reason(reason, "reset the password")
    password = one_time_password()
    hashed = hash_password(password)
    with store.write() as con:
        account = _account(store, con, username)
        store.run("set_user_password", con, user_id=account["id"], password_hash=hashed, must_change_password=True,
                  now=now)
        audit.record(con, actor.username, "update", "user", account["id"], now, reason=reason,
                     before={"must_change_password": account["must_change_password"],
                             "password_changed_at": account["password_changed_at"],
                             "locked_until": account["locked_until"]},
                     after={"must_change_password": True, "password_changed_at": now, "locked_until": None,
                            "password": "reset"})
    return password


def unlock(store: Store, actor: Actor, username: str, now: datetime, reason: str) -> None:
    """Clear a user's failed sign-ins and lock."""
    _require_admin(actor)
    reason = _require_reason(reason, "unlock the account")
    with store.write() as con:
        account = _account(store, con, username)
        store.run("unlock_user", con, user_id=account["id"])
        audit.record(con, actor.username, "update", "user", account["id"], now, reason=reason,
                     before={"failed_logins": account["failed_logins"], "locked_until": account["locked_until"]},
                     after={"failed_logins": 0, "locked_until": None})


def change_role(store: Store, actor: Actor, username: str, role: str, now: datetime, reason: str,
                rep_id: int | None = None) -> None:
    """Give a user another role (a rep or manager needs a rep record; the last active admin keeps theirs)."""
    _require_admin(actor)
    reason = _require_reason(reason, "change the role")
    with store.write() as con:
        account = _account(store, con, username)
        rep_id = rep_id if rep_id is not None else account["rep_id"]
        problems = []
        if role not in ROLES:
            problems.append(f"Unknown role {role!r}; choose one of: {', '.join(ROLES)}.")
        if role in ROLES_WITH_REP and rep_id is None:
            problems.append(f"A {role} user must be tied to a rep record, so that their book is known: choose one.")
        elif rep_id is not None and not store.scalar("rep_exists", con, rep_id=rep_id):
            problems.append(f"There is no rep with id {rep_id}.")
        if role == account["role"] and rep_id == account["rep_id"]:
            problems.append(f"{account['username']!r} is a {role} already.")
        if problems:
            raise UserError(" ".join(problems))
        if role != "admin":
            _last_admin_guard(store, con, account, "change its role")
        store.run("set_user_role", con, user_id=account["id"], role=role, rep_id=rep_id)
        audit.record(con, actor.username, "update", "user", account["id"], now, reason=reason,
                     before={"role": account["role"], "rep_id": account["rep_id"]},
                     after={"role": role, "rep_id": rep_id})


def rep_choices(store: Store, actor: Actor) -> pl.DataFrame:
    """The reps a user can be tied to (id, rep_name, team, title, manages_team)."""
    _require_admin(actor)
    return store.frame("rep_choices")


def _days(since: pl.Expr, now: datetime) -> pl.Expr:
    return (pl.lit(now) - since).dt.total_days()


def list_users(store: Store, actor: Actor, now: datetime) -> pl.DataFrame:
    """The Users tab's table: who, their role and rep, and their sign-in state."""
    _require_admin(actor)
    users = store.frame("users_admin")
    return users.select(
        "username", "name", "email", "role", pl.col("rep_name").alias("rep"), "active",
        pl.col("last_login_at").alias("last_login"), pl.col("failed_logins").alias("failed_sign_ins"),
        pl.when(pl.col("locked_until") > now).then(pl.col("locked_until")).alias("locked_until"),
        _days(pl.col("password_set_at"), now).alias("password_age_days"), "must_change_password",
    )


def _scope(role: pl.Expr, rep: pl.Expr, teams: pl.Expr) -> pl.Expr:
    """What rows a role sees, in words (access.resolve_actor is the rule)."""
    return (pl.when(role == "rep").then(pl.concat_str(pl.lit("own book: "), rep.fill_null("no rep")))
            .when(role == "manager").then(pl.concat_str(pl.lit("team: "),
                                                         teams.fill_null(pl.concat_str(pl.lit("own book: "),
                                                                                       rep.fill_null("no rep")))))
            .when(role.is_in(["analyst", "executive"])).then(pl.lit("all rows, contacts masked"))
            .otherwise(pl.lit("all rows")))


def access_review(store: Store, actor: Actor, now: datetime) -> pl.DataFrame:
    """Every user, their role and scope and sign-in facts, for a periodic access review (SOC 2)."""
    _require_admin(actor)
    users = store.frame("users_admin")
    return users.select(
        "username", "name", "role",
        _scope(pl.col("role"), pl.col("rep_name"), pl.col("managed_teams")).alias("scope"),
        "active", pl.col("created_at").alias("created"), pl.col("last_login_at").alias("last_login"),
        _days(pl.col("last_login_at"), now).alias("days_since_last_login"),
        pl.col("failed_logins").alias("failed_sign_ins"),
        (pl.col("locked_until") > now).fill_null(False).alias("locked"),
        _days(pl.col("password_set_at"), now).alias("password_age_days"),
        pl.col("must_change_password").alias("must_change_password"),
    ).with_columns(pl.lit(now).alias("reviewed_at"))


def cmd_access_review(args: argparse.Namespace) -> int:
    """`python -m flashdash access-review FILE [--db DB]`: the access review written to a CSV file."""
    from flashdash import clock
    from flashdash.exports import CLI_ACTOR
    from flashdash.store import db_path

    store = Store(Path(args.db) if getattr(args, "db", None) else db_path())
    review = access_review(store, CLI_ACTOR, clock.now())
    path = Path(args.file)
    path.parent.mkdir(parents=True, exist_ok=True)
    review.write_csv(path)
    print(f"Access review of {review.height} users written to {path}.")
    return 0
