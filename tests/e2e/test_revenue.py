"""A manager works a deal in Chromium: on the Revenue page's Deals tab they pick one of their team's open deals,
close it as lost to a competitor with its reason, and the store has it closed with the reason and its history."""

from __future__ import annotations

from pathlib import Path

import pytest

from flashdash import deals
from flashdash.access import resolve_actor
from flashdash.store import Store
from flashdash.users import DEMO_USERS
from tests.e2e.test_login import expect_no_exception, expect_page, settle, sign_in

pytestmark = pytest.mark.e2e

expect = pytest.importorskip("playwright.sync_api").expect


def _deal(db: Path, deal_id: int) -> tuple:
    with Store(db).read() as con:  # waits its turn: the server may still hold the file just after a save
        return con.execute("SELECT stage, won, loss_reason, competitor, (SELECT count(*) FROM opportunity_changes c "
                           "WHERE c.opportunity_id = o.id AND c.to_value = 'closed_lost') FROM opportunities o "
                           "WHERE id = ?", [deal_id]).fetchone()


def test_a_manager_closes_a_deal_lost_to_a_competitor_from_the_deals_tab(page, server, demo_store, screenshot):
    book = deals.open_deals(Store(demo_store), resolve_actor(Store(demo_store), "manager"))
    assert book.height > 0, "the manager's teams have no open deal to close"
    deal = book.row(0, named=True)
    sign_in(page, server, "manager", DEMO_USERS["manager"][1])
    page.get_by_test_id("stSidebarNav").get_by_text("Revenue").click()
    expect_page(page, "Revenue")
    settle(page)
    page.get_by_role("tab", name="Deals", exact=True).click()
    expect(page.get_by_text(f"Download {book.height} rows as")).to_be_visible()  # the open deals, listed

    page.get_by_test_id("stSelectbox").filter(has_text="Open deal (").click()
    page.get_by_role("option", name=f"(#{deal['id']})", exact=False).click()
    expect(page.get_by_text("Close the deal")).to_be_visible()
    page.get_by_text("Lost", exact=True).click()  # the outcome control
    page.get_by_test_id("stSelectbox").filter(has_text="Why it was lost").click()
    page.get_by_role("option", name="competitor", exact=True).click()
    page.get_by_test_id("stSelectbox").filter(has_text="Competitor").last.click()  # the close form's
    page.get_by_role("option", name="Stripe", exact=True).click()
    page.get_by_role("button", name="Close as lost").click()

    expect(page.get_by_test_id("stAlertContentSuccess")).to_be_visible(timeout=20_000)  # what changed, said
    expect_no_exception(page)
    assert _deal(demo_store, deal["id"]) == ("closed_lost", False, "competitor", "Stripe", 1)
    screenshot(page, "revenue-deal-closed")


def _scenarios(db: Path) -> list[tuple]:
    with Store(db).read() as con:  # as _deal: the server may still hold the file just after the save
        return con.execute("SELECT title, created_by, params FROM scenarios ORDER BY id").fetchall()


def test_a_manager_moves_the_win_rate_slider_sees_the_forecast_recomputed_and_saves_the_scenario(
        page, server, demo_store, screenshot):
    before = len(_scenarios(demo_store))
    sign_in(page, server, "manager", DEMO_USERS["manager"][1])
    page.get_by_test_id("stSidebarNav").get_by_text("Revenue").click()
    expect_page(page, "Revenue")
    settle(page)
    page.get_by_role("tab", name="Scenarios", exact=True).click()
    expect(page.get_by_text("move a slider to see what a change would do")).to_be_visible(timeout=30_000)

    win_rate = page.get_by_role("slider").first  # the sliders in order: win rate first
    expect(win_rate).to_have_value("0")
    win_rate.focus()
    for _ in range(4):  # four steps of 5 points, with the keyboard as a person might
        win_rate.press("ArrowRight")
    expect(win_rate).to_have_value("20")
    expect(page.get_by_text("With win rate +20%", exact=False).first).to_be_visible(timeout=20_000)
    expect(page.get_by_text("pts vs", exact=False).first).to_be_visible()  # the chance of quota moved, as a delta
    expect_no_exception(page)
    screenshot(page, "revenue-scenario-moved")

    page.get_by_role("textbox", name="Title").fill("Win rate up a fifth")
    page.get_by_role("button", name="Save scenario").click()
    expect(page.get_by_text("Saved scenario #", exact=False)).to_be_visible(timeout=20_000)
    saved = _scenarios(demo_store)
    assert len(saved) == before + 1
    title, created_by, params = saved[-1]
    assert (title, created_by) == ("Win rate up a fifth", "manager")
    assert '"win_rate": 1.2' in params and '"deal_size": 1.0' in params
