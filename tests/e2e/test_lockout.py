"""Five wrong passwords lock an account: the sixth attempt, with the right password, is refused with the wait."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from flashdash import users
from flashdash.store import Store
from tests.e2e.conftest import NOW
from tests.e2e.test_login import expect_no_exception, login_form, sign_in

pytestmark = pytest.mark.e2e

expect = pytest.importorskip("playwright.sync_api").expect

PASSWORD = "tangerine lamp oblique"


@pytest.fixture
def lockable(demo_store: Path) -> str:
    """A user of this test's own, so that locking it leaves the demo logins of the other tests alone."""
    users.create_user(Store(demo_store), "system:test", "lock.me", "Lock Me", "analyst", PASSWORD,
                      datetime.fromisoformat(NOW))
    return "lock.me"


def test_five_wrong_passwords_lock_the_account_and_the_right_one_is_then_refused(page, server, screenshot, lockable,
                                                                                 demo_store):
    for attempt in range(1, 5):
        sign_in(page, server, lockable, f"wrong password {attempt}")
        expect(page.get_by_text("Username or password is incorrect")).to_be_visible()
    sign_in(page, server, lockable, "wrong password 5")
    expect(page.get_by_text("this account is locked")).to_be_visible()

    sign_in(page, server, lockable, PASSWORD)

    expect(page.get_by_text("Try again after 12:01 (in 1 minute)")).to_be_visible()
    expect(page.get_by_text("Username or password is incorrect")).to_have_count(0)
    expect(login_form(page)).to_be_visible()
    expect(page.get_by_test_id("stSidebar").get_by_text("Lock Me")).to_have_count(0)
    expect_no_exception(page)
    screenshot(page, "lockout-refused")
    with Store(demo_store).read() as con:
        actions = [a for (a,) in con.execute(
            "SELECT action FROM audit_log WHERE actor = ? ORDER BY id", [lockable]).fetchall()]
    assert actions == ["login_failed"] * 5 + ["locked", "login_failed"]
