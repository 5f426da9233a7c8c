"""Password rules (NIST SP 800-63B), the lockout's backoff, and when a session ends: pure functions."""

from datetime import datetime, timedelta

import pytest

from flashdash import users

NOW = datetime(2026, 6, 30, 12, 0)


@pytest.mark.parametrize("password", [
    "correct horse battery staple",
    "tangerine lamp oblique",
    "Mi gato se llama Ñoño",
    "zz9 plural z alpha",
])
def test_long_unusual_passwords_pass_without_any_composition_rule(password):
    assert users.password_problems(password, "pat") == []


@pytest.mark.parametrize("password, problem", [
    ("eleven-char", "too short"),
    ("x" * 73, "too long"),
    ("ü" * 37, "too long"),  # 74 bytes: bcrypt counts bytes, not characters
    ("password1234", "too common"),
    ("Qwertyuiop123!", "too common"),
    ("Summer2026!!!", "too common"),
    ("flashpay2026!", "too common"),
    ("123456789012", "too common"),
    ("aaaaaaaaaaaaaa", "repeated or sequential"),
    ("abcdefghijklmnop", "repeated or sequential"),
    ("lmnopqrstuvwxyz", "repeated or sequential"),
    ("patricia.jones", "username"),
    ("my name is patricia.jones", "username"),
    (" leading space here", "start or end with a space"),
])
def test_a_password_breaking_a_rule_is_refused_with_the_rule_named(password, problem):
    problems = " ".join(users.password_problems(password, "patricia.jones"))
    assert problem in problems


def test_every_broken_rule_is_named_at_once():
    problems = users.password_problems("pat", "pat")
    assert len(problems) == 2
    with pytest.raises(users.UserError, match="too short.*username"):
        users.check_password("pat", "pat")


def test_the_common_password_list_is_bundled_and_lower_case():
    common = users.common_passwords()
    assert {"password", "123456", "qwerty", "flashpay"} <= common
    assert all(p == p.lower() for p in common)


def test_one_time_passwords_meet_the_rules_and_differ():
    made = {users.one_time_password() for _ in range(20)}
    assert len(made) == 20
    assert all(users.password_problems(p, "admin") == [] for p in made)


def test_no_lock_before_the_fifth_failure_then_one_minute_doubling_up_to_an_hour():
    spans = [users.lock_duration(n) for n in range(1, 14)]
    minutes = [None if s is None else s.total_seconds() / 60 for s in spans]
    assert minutes == [None, None, None, None, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert users.lock_duration(10_000) == users.LOCK_MAX


def test_the_lock_message_says_when_to_try_again_and_nothing_about_the_password():
    message = users.lock_message(NOW + timedelta(minutes=2, seconds=5), NOW)
    assert "after 12:03" in message and "in 3 minutes" in message
    assert "password" not in message.lower()
    assert "in 1 minute)" in users.lock_message(NOW + timedelta(seconds=10), NOW)


def test_a_fresh_session_goes_on():
    assert users.session_expiry(NOW, NOW, NOW + timedelta(minutes=29)) is None


def test_a_session_idle_for_thirty_minutes_ends():
    assert users.session_expiry(NOW, NOW, NOW + timedelta(minutes=30)) == "idle"


def test_an_active_session_ends_at_its_absolute_limit():
    start = NOW - timedelta(hours=12)
    assert users.session_expiry(start, NOW - timedelta(minutes=1), NOW) == "expired"
    assert users.session_expiry(start + timedelta(minutes=1), NOW - timedelta(minutes=1), NOW) is None


def test_the_limits_come_from_the_environment_or_default_to_thirty_minutes_and_twelve_hours():
    assert users.session_limits({}) == (timedelta(minutes=30), timedelta(hours=12))
    idle, most = users.session_limits({"FLASHDASH_SESSION_IDLE_MIN": "5", "FLASHDASH_SESSION_MAX_HOURS": "1.5"})
    assert (idle, most) == (timedelta(minutes=5), timedelta(minutes=90))
    assert users.session_expiry(NOW, NOW, NOW + timedelta(minutes=5), idle, most) == "idle"
