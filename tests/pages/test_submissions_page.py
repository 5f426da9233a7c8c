"""The Submission tracking page with AppTest: the right rows, search, a lead's history, refusals, empty state."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from flashdash import access
from flashdash.store import Store
from flashdash.submissions import md_escape
from tests import stored
from tests.pages.apptest import open_page, texts


def _table(at: AppTest) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if df.key == "subs.list.table")


def _sql(store: Store, query: str, params: list | None = None) -> list[tuple]:
    return stored.rows(store, query, params)


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_the_page_renders_its_headline_charts_and_table(role: str) -> None:
    at = open_page("submissions", role)
    assert not at.exception, [e.value for e in at.exception]
    assert [m.label for m in at.metric] == ["Submissions", "Responded", "Median first response"]
    assert int(at.metric[0].value.replace(",", "")) == len(_table(at)) > 0
    assert at.segmented_control(key="subs.dimension").value == "channel"
    assert "newest first" in texts(at)


def test_a_rep_sees_only_their_own_submissions(demo_store: Store) -> None:
    rep = access.resolve_actor(demo_store, "rep")
    [(name,)] = _sql(demo_store, "SELECT name FROM reps WHERE id = ?", [rep.rep_id])
    at = open_page("submissions", "rep")
    assert set(_table(at)["owner"]) == {name}


def test_searching_narrows_the_table() -> None:
    at = open_page("submissions", "manager")
    before = len(_table(at))
    at.text_input(key="subs.search").input("pizza").run()
    assert not at.exception
    table = _table(at)
    assert 0 < len(table) < before
    assert table["merchant_name"].str.lower().str.contains("pizza").any()
    assert f"{len(table):,} submissions match" in texts(at)


def test_a_search_that_matches_nothing_says_so() -> None:
    at = open_page("submissions", "manager")
    at.text_input(key="subs.search").input("zzzz-no-such-merchant").run()
    assert not at.exception
    assert any("No submissions match the search" in i.value for i in at.info)


def test_splitting_by_campaign_keeps_the_same_total() -> None:
    at = open_page("submissions", "manager")
    total = at.metric[0].value
    at.segmented_control(key="subs.dimension").set_value("campaign").run()
    assert not at.exception
    assert at.metric[0].value == total


def test_entering_a_lead_id_shows_its_history(demo_store: Store) -> None:
    manager = access.resolve_actor(demo_store, "manager")
    [(lead_id, merchant, stages)] = _sql(demo_store, """
        SELECT l.id, l.merchant_name, (SELECT count(*) FROM lead_stage_changes s WHERE s.lead_id = l.id)
        FROM leads l WHERE list_contains(?, l.owner_id) AND l.status = 'won' ORDER BY l.id LIMIT 1""",
                                         [list(manager.scope_reps)])
    at = open_page("submissions", "manager")
    at.text_input(key="subs.lead").input(str(lead_id)).run()
    assert not at.exception
    assert f"lead {lead_id} · won" in texts(at) and md_escape(merchant) in texts(at)
    frames = [df.value for df in at.dataframe]
    history = next(f for f in frames if "to_status" in f.columns)
    assert len(history) == stages and history["to_status"].iloc[-1] == "won"
    assert any("occurred_at" in f.columns for f in frames)  # its activities
    assert any("amount" in f.columns for f in frames)  # its opportunity


def test_selecting_a_row_shows_that_submissions_history() -> None:
    at = open_page("submissions", "manager")
    third = _table(at).iloc[2]
    at.session_state["subs.list.table"] = {"selection": {"rows": [2], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert at.text_input(key="subs.lead").value == str(third["id"])
    assert f"lead {third['id']}" in texts(at)
    assert any("to_status" in df.value.columns for df in at.dataframe)


def test_a_lead_outside_the_users_book_is_refused_without_its_data(demo_store: Store) -> None:
    manager = access.resolve_actor(demo_store, "manager")
    [(other, merchant)] = _sql(demo_store, """SELECT id, merchant_name FROM leads
                                              WHERE NOT list_contains(?, owner_id) ORDER BY id LIMIT 1""",
                               [list(manager.scope_reps)])
    at = open_page("submissions", "rep")
    at.text_input(key="subs.lead").input(str(other)).run()
    assert not at.exception
    assert any("not found" in w.value and "not yours" in w.value for w in at.warning)
    assert md_escape(merchant) not in texts(at) and merchant not in texts(at)
    assert not any("to_status" in df.value.columns for df in at.dataframe)


def test_analysts_see_contact_details_masked() -> None:
    at = open_page("submissions", "analyst")
    assert set(_table(at)["email"].dropna()) == {"•••"}


def test_an_empty_period_shows_the_empty_state_and_keeps_the_lead_lookup() -> None:
    at = open_page("submissions", "manager", query={"start": "2019-01-01", "end": "2019-01-31"}, preset=None)
    assert not at.exception
    assert any("No submissions in this period" in i.value and "Widen the date range" in i.value for i in at.info)
    assert not at.dataframe
    assert at.text_input(key="subs.lead") is not None
