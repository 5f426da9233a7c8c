"""Admin → Audit trail: the chain's state with Verify now, the filters, the records with their field changes and
downloads of exactly those rows; and a record's History expander on a detail view."""

from __future__ import annotations

from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from flashdash import audit
from flashdash.access import resolve_actor
from flashdash.store import Store
from tests.conftest import NOW
from tests.pages.apptest import ROLES, open_page


def _lead(store: Store, mine: bool) -> int:
    """The first lead in (or out of) the demo rep's book."""
    rep = resolve_actor(store, "rep")
    with store.read() as con:
        (lead_id,) = con.execute("SELECT min(id) FROM leads WHERE (owner_id = ?) = ?", [rep.rep_id, mine]).fetchone()
    return lead_id


@pytest.fixture
def store(live_store: Store) -> Store:
    """The page's store with a few more records (a lead of the rep's moved twice, a setting changed), all sealed."""
    lead_id = _lead(live_store, mine=True)
    with live_store.write() as con:
        audit.record(con, "manager", "stage_change", "lead", lead_id, NOW - timedelta(days=2),
                     before={"status": "new"}, after={"status": "mql"}, reason="qualified on the call")
        audit.record(con, "manager", "stage_change", "lead", lead_id, NOW - timedelta(days=1),
                     before={"status": "mql"}, after={"status": "sql"}, reason="budget confirmed")
        audit.record(con, "admin", "update", "setting", "retention", NOW, before={"months": 24},
                     after={"months": 18}, reason="policy review")
    audit.seal(live_store, NOW)
    return live_store


def _records(at: AppTest):
    return next(df.value for df in at.dataframe if "changes" in df.value.columns)


def _captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def test_the_tab_says_the_chain_is_intact_and_lists_every_record_newest_first(store: Store) -> None:
    at = open_page("admin", "admin")
    assert not at.exception
    assert any(s.value.startswith("Intact: 8 records sealed") and "0 records awaiting the next seal" in s.value
               for s in at.success)
    records = _records(at)
    assert len(records) == 8 and records["logged_at"].is_monotonic_decreasing
    assert records.iloc[0]["changes"] == "months: 24 → 18"
    assert "Showing all 8 matching records, newest first. The downloads hold exactly the rows shown." in _captions(at)


def test_the_filters_narrow_the_list_and_the_downloads_hold_the_same_rows(store: Store) -> None:
    at = open_page("admin", "admin")
    at.selectbox(key="admin.audit.action").select("stage_change").run()
    at.text_input(key="admin.audit.text").input("BUDGET").run()
    assert not at.exception
    records = _records(at)
    assert list(records["reason"]) == ["budget confirmed"]
    assert list(records["changes"]) == ["status: mql → sql"]
    filters = audit.AuditFilters(action="stage_change", text="BUDGET")
    expected = audit.search(store, resolve_actor(store, "admin"), filters)
    assert list(records["id"]) == expected["id"].to_list()
    assert "Download 1 rows as" in _captions(at)
    at.text_input(key="admin.audit.text").input("").run()
    at.date_input(key="admin.audit.start").set_value((NOW - timedelta(days=1)).date()).run()
    assert list(_records(at)["entity_id"]) == [str(_lead(store, mine=True))]


def test_a_limit_says_how_many_of_how_many_are_shown(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "SEARCH_LIMITS", (3, 1_000))
    at = open_page("admin", "admin")
    at.selectbox(key="admin.audit.limit").select(3).run()
    assert len(_records(at)) == 3
    assert any(c.startswith("Showing the latest 3 of 8 matching records") for c in _captions(at))


def test_a_tampered_record_turns_the_status_into_the_broken_record(store: Store) -> None:
    with store.write() as con:
        con.execute("UPDATE audit_log SET reason = 'nothing happened' WHERE reason = 'qualified on the call'")
        (rid, seq) = con.execute("SELECT id, seq FROM audit_log WHERE reason = 'nothing happened'").fetchone()
    at = open_page("admin", "admin")
    assert not at.exception
    (alert,) = [e.value for e in at.error]
    assert alert.startswith(f"The chain is broken. Record {rid} (seq {seq}, ")
    assert "its content no longer matches its hash" in alert


def test_verify_now_checks_the_chain_and_says_when(store: Store) -> None:
    at = open_page("admin", "admin")
    at.button(key="admin.audit.verify").click().run()
    assert not at.exception
    assert any(s.value.startswith("Intact: 8 records sealed") and "Checked at" in s.value for s in at.success)


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_no_one_but_an_admin_sees_the_audit_trail(store: Store, role: str) -> None:
    at = open_page("admin", role)
    assert not at.exception
    assert not [df for df in at.dataframe if "changes" in df.value.columns]
    assert "admin.audit.verify" not in [b.key for b in at.button]


def _history_script(username: str, lead_id: int) -> None:
    from flashdash.access import resolve_actor
    from flashdash.ui import record_history
    from flashdash.ui.store import current_store

    record_history.render(resolve_actor(current_store(), username), "lead", lead_id, "leads.detail")


def _history(username: str, lead_id: int) -> AppTest:
    return AppTest.from_function(_history_script, args=(username, lead_id), default_timeout=60).run()


def test_the_history_expander_counts_the_changes_and_lists_them_newest_first(store: Store) -> None:
    at = _history("rep", _lead(store, mine=True))
    assert not at.exception
    assert [e.label for e in at.expander] == ["History (2 changes)"]
    table = at.dataframe[0].value
    assert list(table["after"]) == ["sql", "mql"]
    assert list(table["reason"]) == ["budget confirmed", "qualified on the call"]


def test_the_history_of_a_lead_outside_the_book_is_refused(store: Store) -> None:
    other = _lead(store, mine=False)
    at = _history("rep", other)
    assert not at.exception
    assert not at.expander
    assert [e.value for e in at.error] == [f"There is no lead {other} in your book."]
