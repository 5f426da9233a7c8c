"""The Admin page's Import tab, run with AppTest: it renders, lists imports, shows quarantine, undoes."""

from __future__ import annotations

from pathlib import Path

import pytest

from flashdash import imports, mapping
from flashdash.access import Actor
from flashdash.store import Store, copy_file
from tests.conftest import NOW
from tests.pages.apptest import open_page, texts

ADMIN = Actor(username="admin", name="Ada Admin", role="admin")
CSV = "Lead ID,Company,Email,Created Date\nP-1,Alpha,a@alpha.example,2019-01-02\nP-2,Beta,nope,2019-01-03\n"


@pytest.fixture
def store_copy(demo_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    db = tmp_path / "admin.duckdb"
    copy_file(demo_store.path, db)
    monkeypatch.setenv("FLASHDASH_DB", str(db))
    return Store(db)


def _import(store: Store, tmp_path: Path) -> imports.ImportResult:
    source = tmp_path / "leads.csv"
    source.write_text(CSV)
    chosen = mapping.from_dict({"entity": "leads", "fields": {"external_id": "Lead ID", "merchant_name": "Company",
                                                              "email": "Email", "submitted_at": "Created Date"}})
    return imports.import_file(store, ADMIN, source, chosen, NOW)


def test_the_import_tab_invites_a_file_and_lists_the_presets(store_copy):
    at = open_page("admin", "admin")
    assert not at.exception
    assert "Choose a file to import" in texts(at)
    preset_box = at.selectbox(key="imp.preset")
    assert set(preset_box.options) >= {"Olist marketing funnel", "Salesforce Leads and Opportunities reports",
                                       "HubSpot contacts and deals exports", "Pipedrive deals export"}
    assert "No imports yet." in texts(at)


def test_an_import_is_listed_with_its_quarantine_and_can_be_undone(store_copy, tmp_path):
    result = _import(store_copy, tmp_path)
    assert (result.imported, result.quarantined) == (1, 1)
    at = open_page("admin", "admin")
    chooser = at.selectbox(key="imp.chosen")
    chooser.set_value(result.import_id).run()
    assert not at.exception
    assert any("nope" in str(df.value) for df in at.dataframe)  # the quarantined row, as the file had it
    assert at.button(key="imp.undo").disabled  # not before saying yes
    at.checkbox(key="imp.undo_sure").check().run()
    at.button(key="imp.undo").click().run()
    assert not at.exception
    assert any(f"Undid import #{result.import_id}" in s.value for s in at.success)
    with store_copy.read() as con:
        assert con.execute("SELECT count(*) FROM leads WHERE external_id LIKE 'P-%'").fetchall()[0][0] == 0
        assert con.execute("SELECT status FROM imports WHERE id = ?", [result.import_id]).fetchall()[0][0] == "undone"


def test_a_non_admin_never_sees_the_import_tab(store_copy):
    at = open_page("admin", "manager")
    assert not any(getattr(s, "key", None) == "imp.preset" for s in at.selectbox)
