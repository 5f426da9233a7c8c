"""Every page as every role, with AppTest: no exception, the right rows, the refusals and messages."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from flashdash import access
from flashdash.store import Store
from tests.pages.apptest import ROLES, open_page, texts


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", [p.key for p in access.PAGES])
def test_every_page_opens_for_its_roles_and_refuses_the_others(page: str, role: str) -> None:
    at = open_page(page, role)
    assert not at.exception, [e.value for e in at.exception]
    if role in access.PAGE_BY_KEY[page].roles:
        assert not any("cannot open" in e.value for e in at.error)
        assert at.title and at.title[0].value
    else:
        assert any("cannot open" in e.value for e in at.error)
        assert not at.dataframe and not at.metric


@pytest.mark.parametrize("page", ["executive", "submissions", "admin"])
def test_nobody_signed_in_gets_the_login_form_and_nothing_of_the_page(page: str) -> None:
    at = open_page(page, None)
    assert not at.exception
    assert [t.label for t in at.text_input][:2] == ["Username", "Password"]
    assert not at.metric and not at.dataframe
    assert access.PAGE_BY_KEY[page].title not in texts(at)


def _owners(at: AppTest) -> set[str]:
    frames = [df.value for df in at.dataframe if "owner" in df.value.columns]
    assert frames, "the page shows a table with an owner column"
    return set(frames[0]["owner"].dropna())


def test_a_rep_sees_only_their_own_leads(demo_store: Store) -> None:
    rep = access.resolve_actor(demo_store, "rep")
    name = demo_store.frame("filter_options_reps", scope_all=False, scope_reps=[rep.rep_id])["name"][0]
    assert _owners(open_page("leads", "rep")) == {name}


def test_a_manager_sees_only_their_teams_leads(demo_store: Store) -> None:
    manager = access.resolve_actor(demo_store, "manager")
    team = set(demo_store.frame("filter_options_reps", scope_all=False, scope_reps=list(manager.scope_reps))["name"])
    everyone = set(demo_store.frame("filter_options_reps", scope_all=True, scope_reps=[])["name"])
    seen = _owners(open_page("leads", "manager"))
    assert seen and seen <= team and team < everyone


def test_analysts_see_contact_details_masked() -> None:
    at = open_page("leads", "analyst")
    frame = next(df.value for df in at.dataframe if "contact_name" in df.value.columns)
    assert set(frame["contact_name"].dropna()) == {"•••"}
    at = open_page("submissions", "analyst")
    frame = next(df.value for df in at.dataframe if "email" in df.value.columns)
    assert set(frame["email"].dropna()) == {"•••"}


def test_the_executive_summary_shows_its_six_kpis_and_sentences() -> None:
    at = open_page("executive", "executive")
    labels = sorted(m.label for m in at.metric)
    assert labels == sorted(["New submissions", "Lead-to-customer conversion", "Open pipeline", "Won revenue",
                      "Median first response", "Active customers"])
    assert "What changed" in [s.value for s in at.subheader]
    assert any(m.value not in ("0", "–") for m in at.metric)


def test_an_unknown_rep_in_the_link_is_refused_with_a_message() -> None:
    at = open_page("leads", "manager", query={"rep": "999999"})
    assert not at.exception
    assert any("999999" in w.value and "not one you can see" in w.value for w in at.warning)


def test_a_malformed_date_in_the_link_gets_a_clear_message() -> None:
    at = open_page("executive", "executive", query={"start": "2026-13-40"}, preset=None)
    assert not at.exception
    assert any("YYYY-MM-DD" in e.value for e in at.error)


def test_an_inverted_date_range_gets_a_clear_message() -> None:
    at = open_page("executive", "executive", query={"start": "2026-06-01", "end": "2026-05-01"}, preset=None)
    assert not at.exception
    assert any("after it ends" in e.value for e in at.error)


def test_an_empty_period_shows_a_friendly_empty_state() -> None:
    at = open_page("executive", "executive", query={"start": "2019-01-01", "end": "2019-01-31"}, preset=None)
    assert not at.exception
    assert any("Widen the date range" in i.value for i in at.info)


def test_a_missing_store_is_a_message_not_a_traceback(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FLASHDASH_DB", str(tmp_path / "missing.duckdb"))
    at = open_page("executive", "executive")
    assert not at.exception
    assert any("no store" in i.value.lower() for i in at.info)


def test_a_corrupt_store_is_a_message_not_a_traceback(tmp_path, monkeypatch) -> None:
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"garbage" * 1000)
    monkeypatch.setenv("FLASHDASH_DB", str(bad))
    at = open_page("executive", "executive")
    assert not at.exception
    assert any("cannot be opened" in e.value for e in at.error)
    assert bad.read_bytes() == b"garbage" * 1000


def test_a_store_held_by_another_process_is_a_message_not_a_traceback(demo_store, monkeypatch) -> None:
    import subprocess
    import sys

    monkeypatch.setenv("FLASHDASH_LOCK_TIMEOUT", "0.5")
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(demo_store.path)!r}); "
                               "print('locked', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        # A date range no other test asked for, so the page cannot answer from its cache.
        at = open_page("executive", "executive", query={"start": "2025-02-03", "end": "2025-02-17"}, preset=None)
    finally:
        holder.kill()
        holder.wait()
    assert not at.exception
    assert any("busy" in w.value for w in at.warning)


@pytest.mark.parametrize("page", [p.key for p in access.PAGES])
def test_an_empty_store_shows_empty_states_not_tracebacks(page: str, tmp_path, monkeypatch) -> None:
    from flashdash import users
    from tests.conftest import NOW

    empty = Store(tmp_path / "empty.duckdb")
    empty.ensure_schema()
    users.create_user(empty, "test", "boss", "Boss", "admin", "long-enough-pw", NOW)
    monkeypatch.setenv("FLASHDASH_DB", str(empty.path))
    monkeypatch.setenv("FLASHDASH_MODELS", str(tmp_path / "models"))
    at = open_page(page, "boss")
    assert not at.exception, [e.value for e in at.exception]
    assert at.title


def test_a_links_note_stays_on_screen_across_reruns() -> None:
    at = open_page("leads", "manager", query={"rep": "999999"})
    at = at.run()
    assert any("999999" in w.value for w in at.warning)


def test_a_store_with_recent_submissions_starts_on_the_last_90_days_without_a_note() -> None:
    at = open_page("executive", "executive", preset=None)
    assert at.selectbox(key="w.flt.preset").value == "Last 90 days"
    assert "All data" in at.selectbox(key="w.flt.preset").options
    assert "so the period starts as all the data" not in texts(at)
