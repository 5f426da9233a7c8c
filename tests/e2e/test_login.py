"""Signing in, landing, the executive's numbers and signing out, as a person does it in Chromium."""

from __future__ import annotations

import pytest

from flashdash import access
from flashdash.users import DEMO_USERS

pytestmark = pytest.mark.e2e

expect = pytest.importorskip("playwright.sync_api").expect

KPI_LABELS = ("New submissions", "Won revenue", "Active customers")


def settle(page) -> None:
    """Wait until the script run is over and lazily loaded elements (charts, metrics, tables) have drawn."""
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
    expect(page.locator("[data-testid^='stSkeleton']")).to_have_count(0)


def expect_no_exception(page) -> None:
    settle(page)
    errors = page.get_by_test_id("stException")
    if errors.count():
        pytest.fail(f"the page shows an exception:\n{errors.first.inner_text()}")


def login_form(page):
    return page.get_by_role("button", name="Login")


def username_field(page):
    return page.get_by_role("textbox", name="Username", exact=True)


def sign_in(page, url: str, username: str, password: str) -> None:
    page.goto(url)
    expect(login_form(page)).to_be_visible()
    username_field(page).fill(username)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    login_form(page).click()


def heading(page, title: str):
    return page.get_by_role("heading", name=title, exact=True)


def expect_page(page, title: str) -> None:
    """The page titled `title` is showing, once (while a rerun draws, the old copy lingers for a moment)."""
    expect(heading(page, title).first).to_be_visible()
    expect(heading(page, title)).to_have_count(1)


@pytest.mark.parametrize("role", list(access.LANDING))
def test_each_demo_role_signs_in_and_lands_on_its_page(page, server, screenshot, role):
    title = access.PAGE_BY_KEY[access.LANDING[role]].title
    sign_in(page, server, role, DEMO_USERS[role][1])

    expect_page(page, title)
    expect(login_form(page)).to_have_count(0)
    expect(page.get_by_test_id("stSidebar")).to_contain_text(DEMO_USERS[role][0])
    expect_no_exception(page)
    screenshot(page, f"landing-{role}")


def test_a_wrong_password_is_refused_with_a_message(page, server):
    sign_in(page, server, "executive", "not-the-password")

    expect(page.get_by_text("Username or password is incorrect")).to_be_visible()
    expect(login_form(page)).to_be_visible()
    expect(heading(page, "Executive summary")).to_have_count(0)


def test_the_executive_summary_shows_its_kpis(page, server, screenshot):
    sign_in(page, server, "executive", DEMO_USERS["executive"][1])

    expect_page(page, "Executive summary")
    labels = page.get_by_test_id("stMetricLabel")
    for label in KPI_LABELS:
        metric = page.get_by_test_id("stMetric").filter(has=labels.filter(has_text=label))
        expect(metric).to_have_count(1)
        expect(metric.get_by_test_id("stMetricValue")).not_to_be_empty()
    expect_no_exception(page)
    screenshot(page, "executive-kpis")


@pytest.mark.parametrize("path", ["executive", "admin"])
def test_a_deep_url_on_a_fresh_server_shows_only_the_login(page, fresh_server, screenshot, path):
    page.goto(f"{fresh_server}/{path}")

    expect(login_form(page)).to_be_visible()
    expect(username_field(page)).to_be_visible()
    settle(page)
    expect(heading(page, access.PAGE_BY_KEY[path].title)).to_have_count(0)
    expect(page.get_by_test_id("stMetric")).to_have_count(0)
    expect(page.get_by_test_id("stMain").get_by_role("heading")).to_have_text(["Flash Sales Dashboard", "Login"])
    expect_no_exception(page)
    screenshot(page, f"fresh-deep-url-{path}")


def test_logging_out_brings_the_login_form_back(page, server, screenshot):
    sign_in(page, server, "manager", DEMO_USERS["manager"][1])
    expect_page(page, access.PAGE_BY_KEY[access.LANDING["manager"]].title)
    settle(page)  # as a person would: the page has finished drawing

    page.get_by_test_id("stSidebar").get_by_role("button", name="Log out").click()

    expect(login_form(page)).to_be_visible()
    expect(username_field(page)).to_be_visible()
    expect(page.get_by_test_id("stMain").get_by_role("heading")).to_have_text(["Flash Sales Dashboard", "Login"])
    expect_no_exception(page)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)  # the previous user's menu is gone too
    screenshot(page, "after-logout")


def test_a_reload_after_logout_stays_signed_out(page, server):
    sign_in(page, server, "manager", DEMO_USERS["manager"][1])
    expect_page(page, access.PAGE_BY_KEY[access.LANDING["manager"]].title)
    settle(page)
    page.get_by_test_id("stSidebar").get_by_role("button", name="Log out").click()
    expect(login_form(page)).to_be_visible()
    settle(page)

    page.reload()

    settle(page)
    expect(login_form(page)).to_be_visible(timeout=5_000)
    expect(page.get_by_test_id("stSidebar").get_by_text("Morgan Manager")).to_have_count(0, timeout=5_000)


def test_a_deep_url_on_a_fresh_server_lists_no_pages(page, fresh_server):
    page.goto(f"{fresh_server}/admin")

    expect(login_form(page)).to_be_visible()
    settle(page)
    expect(page.get_by_test_id("stSidebarNav")).to_be_hidden(timeout=5_000)
