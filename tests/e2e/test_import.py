"""An admin imports a file in the browser: upload, suggested mapping, preview, import, quarantine, undo."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flashdash.store import Store
from flashdash.users import DEMO_USERS
from tests.e2e.test_login import expect_no_exception, expect_page, settle, sign_in

pytestmark = pytest.mark.e2e

expect = pytest.importorskip("playwright.sync_api").expect

# Submitted in 2019, far outside every default period, so the other browser tests see the same figures.
CSV = """Lead ID,Company,Email,Created Date,Lead Source,Rating
E2E-1,Padaria Central,owner@padaria.example,03/14/2019 10:22 AM,Web,Hot
E2E-2,Oficina Rápida,contato@oficina.example,03/15/2019 09:00 AM,Partner Referral,warm
E2E-3,Loja Sem Email,not-an-email,03/16/2019 11:30 AM,Web,Cold
E2E-1,Padaria Central,owner@padaria.example,03/14/2019 10:22 AM,Web,Hot
"""


def metric(page, label: str):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def lead_count(db: Path) -> int:
    with Store(db).read() as con:  # waits its turn: the server may still hold the file just after a write
        return con.execute("SELECT count(*) FROM leads WHERE external_id LIKE 'E2E-%'").fetchall()[0][0]


def test_an_admin_previews_imports_and_undoes_a_file(page, server, screenshot, demo_store, tmp_path):
    source = tmp_path / "salesforce-leads.csv"
    source.write_text(CSV, encoding="utf-8")
    sign_in(page, server, "admin", DEMO_USERS["admin"][1])
    expect_page(page, "Admin")
    settle(page)
    expect(page.get_by_role("tab", name="Import", exact=True)).to_have_count(1)
    page.get_by_role("tab", name="Import", exact=True).click()
    expect(page.get_by_role("heading", name="Import a file")).to_be_visible()
    page.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(source))
    expect(page.get_by_text("Map the file's columns")).to_be_visible()
    settle(page)

    page.get_by_role("button", name="Preview", exact=True).first.click()
    expect(page.get_by_text("Preview: salesforce-leads.csv → leads")).to_be_visible()
    expect(metric(page, "Rows read")).to_have_text("4")
    expect(metric(page, "New")).to_have_text("2")
    expect(metric(page, "Skipped")).to_have_text("1")
    expect(metric(page, "Quarantined")).to_have_text("1")
    assert lead_count(demo_store) == 0  # a preview writes nothing
    screenshot(page, "import-preview")

    page.get_by_role("button", name="Import", exact=True).first.click()
    expect(page.get_by_text(re.compile(r"Import #\d+: salesforce-leads\.csv → leads"))).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Download the 1 quarantined rows"))).to_be_visible()
    expect_no_exception(page)
    assert lead_count(demo_store) == 2
    screenshot(page, "import-done")

    chooser = page.get_by_test_id("stSelectbox").filter(has_text="Import to inspect").locator("input")
    chooser.click()
    chooser.fill("salesforce-leads")
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Download the 1 quarantined rows (CSV)", exact=True)).to_be_visible()
    page.get_by_text(re.compile(r"Yes, take back import #\d+")).click()
    page.get_by_role("button", name="Undo this import").click()
    expect(page.get_by_text(re.compile(r"Undid import #\d+"))).to_be_visible()
    assert lead_count(demo_store) == 0
