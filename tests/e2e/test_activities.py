"""A rep works their queue in Chromium: picks the first task, logs a call from it in one click, and finds the
call at the top of the lead's timeline."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from flashdash import tasks
from flashdash.access import resolve_actor
from flashdash.store import Store
from flashdash.users import DEMO_USERS
from tests.e2e.conftest import NOW
from tests.e2e.test_login import expect_no_exception, expect_page, settle, sign_in

pytestmark = pytest.mark.e2e

expect = pytest.importorskip("playwright.sync_api").expect

OUTCOME = "connected, wants pricing for 3 stores"


def _first_task(db: Path) -> dict:
    """The first task of the rep's queue, made first (an overdue call on one of their leads) if it is empty."""
    store, now = Store(db), datetime.fromisoformat(NOW)
    actor = resolve_actor(store, "rep")
    queue = tasks.queue(store, actor, now)
    if queue.filter(pl.col("lead_id").is_not_null()).is_empty():
        with store.write() as con:
            lead_id = con.execute("SELECT min(id) FROM leads WHERE owner_id = ? AND status IN ('new', 'mql', 'sql', "
                                  "'opportunity')", [actor.rep_id]).fetchone()[0]
            tasks.create_task(store, con, lead_id, actor.rep_id, "Call back about pricing", now - timedelta(hours=5),
                              "manager", now - timedelta(days=1), kind="call")
        queue = tasks.queue(store, actor, now)
    return queue.row(0, named=True)


def _queue_calls(db: Path, lead_id: int) -> list[tuple]:
    with Store(db).read() as con:  # waits its turn: the server may still hold the file just after a write
        return con.execute("SELECT type, source, outcome FROM activities WHERE lead_id = ? AND source = 'queue'",
                           [lead_id]).fetchall()


def test_a_rep_logs_a_call_from_the_queue_and_sees_it_on_the_timeline(page, server, demo_store, screenshot):
    task = _first_task(demo_store)
    assert task["lead_id"] is not None, "the rep's first task has no lead to log a call on"
    sign_in(page, server, "rep", DEMO_USERS["rep"][1])
    expect_page(page, "Submission tracking")
    page.get_by_test_id("stSidebarNav").get_by_text("Activities").click()
    expect_page(page, "Activities")
    settle(page)
    page.get_by_role("tab", name="Queue", exact=True).click()
    expect(page.get_by_text("open tasks, highest priority first")).to_be_visible()

    grid = page.get_by_test_id("stDataFrame").filter(visible=True).first
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selection box, under the header
    panel = page.locator(".st-key-act-queue-panel")  # Streamlit writes a key's dots as dashes
    expect(panel).to_contain_text(task["title"])
    expect(panel).to_contain_text(task["merchant_name"])
    settle(page)
    panel.get_by_test_id("stSelectbox").filter(has_text="Type").click()
    page.get_by_role("option", name="Call", exact=True).click()
    panel.get_by_role("textbox", name="Outcome").fill(OUTCOME)
    panel.get_by_role("spinbutton", name="Minutes").fill("12")
    screenshot(page, "activities-queue")
    panel.get_by_role("button", name="Log & complete").click()

    expect(page.get_by_text(f"Logged the call with {task['merchant_name']}")).to_be_visible()
    expect_no_exception(page)
    assert _queue_calls(demo_store, task["lead_id"]) == [("call", "queue", OUTCOME)]

    page.get_by_role("tab", name="Timeline", exact=True).click()
    events = page.locator(".st-key-act-timeline-events").get_by_test_id("stMarkdown")
    expect(events.first).to_contain_text(f"Call: {OUTCOME}")
    expect(page.get_by_role("textbox", name="Lead id or external id").filter(visible=True)) \
        .to_have_value(str(task["lead_id"]))
    expect_no_exception(page)
    screenshot(page, "activities-timeline")
