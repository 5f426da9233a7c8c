"""Submission tracking on the XS demo store: figures match direct SQL, row scope holds, contact details mask."""

from __future__ import annotations

from datetime import date

import pytest

from flashdash import access, submissions
from flashdash.filters import Filters
from flashdash.store import Store

PERIOD = Filters(start=date(2025, 7, 1), end=date(2026, 6, 30))
IN_PERIOD = "submitted_at >= DATE '2025-07-01' AND submitted_at < DATE '2026-07-01'"


def _sql(store: Store, query: str, params: list | None = None) -> list[tuple]:
    with store.read() as con:
        return con.execute(query, params or []).fetchall()


def _owners(store: Store, ids: list[int]) -> set[int]:
    rows = _sql(store, "SELECT DISTINCT owner_id FROM leads WHERE list_contains(?, id)", [ids])
    return {r[0] for r in rows}


@pytest.fixture(scope="module")
def rep(demo_store: Store) -> access.Actor:
    return access.resolve_actor(demo_store, "rep")


@pytest.fixture(scope="module")
def manager(demo_store: Store) -> access.Actor:
    return access.resolve_actor(demo_store, "manager")


@pytest.fixture(scope="module")
def analyst(demo_store: Store) -> access.Actor:
    return access.resolve_actor(demo_store, "analyst")


@pytest.mark.parametrize("dimension", list(submissions.DIMENSIONS))
def test_the_overview_counts_every_submission_of_the_period_once(demo_store: Store, analyst, dimension) -> None:
    data = submissions.overview(demo_store, analyst, PERIOD, dimension)
    [(expected,)] = _sql(demo_store, f"SELECT count(*) FROM leads WHERE {IN_PERIOD}")
    assert data["total"] == expected > 0
    assert data["trend"]["submissions"].sum() == expected
    assert data["by_segment"]["submissions"].sum() == expected
    assert data["by_segment"]["segment"].n_unique() == data["by_segment"].height


def test_missing_campaigns_are_a_segment_of_their_own(demo_store: Store, analyst) -> None:
    data = submissions.overview(demo_store, analyst, PERIOD, "campaign")
    [(missing,)] = _sql(demo_store, f"SELECT count(*) FROM leads WHERE campaign IS NULL AND {IN_PERIOD}")
    by = dict(data["by_segment"].iter_rows())
    assert by[submissions.NONE] == missing > 0


def test_the_headline_matches_direct_sql_for_a_clicked_segment(demo_store: Store, analyst) -> None:
    head = submissions.headline(demo_store, analyst, PERIOD, "channel", ("referral", "partner"))
    [(subs, responded, median_h)] = _sql(demo_store, f"""
        SELECT count(*), count(first_response_at),
               median(date_diff('minute', submitted_at, first_response_at)) / 60.0
        FROM leads WHERE channel IN ('referral', 'partner') AND {IN_PERIOD}""")
    assert (head["submissions"], head["responded"]) == (subs, responded)
    assert head["median_response_hours"] == pytest.approx(median_h)
    assert head["share_responded"] == pytest.approx(responded / subs)


def test_a_rep_gets_only_their_own_submissions(demo_store: Store, rep) -> None:
    data = submissions.overview(demo_store, rep, PERIOD, "channel")
    [(own,)] = _sql(demo_store, f"SELECT count(*) FROM leads WHERE owner_id = ? AND {IN_PERIOD}", [rep.rep_id])
    assert data["total"] == own > 0
    listed = submissions.listing(demo_store, rep, PERIOD, "channel")
    assert listed["matching"] == own
    assert _owners(demo_store, listed["rows"]["id"].to_list()) == {rep.rep_id}


def test_a_manager_gets_their_teams_submissions_and_no_one_elses(demo_store: Store, manager) -> None:
    listed = submissions.listing(demo_store, manager, PERIOD, "channel")
    owners = _owners(demo_store, listed["rows"]["id"].to_list())
    assert owners and owners <= set(manager.scope_reps)
    [(team,)] = _sql(demo_store, f"SELECT count(*) FROM leads WHERE list_contains(?, owner_id) AND {IN_PERIOD}",
                     [list(manager.scope_reps)])
    [(everyone,)] = _sql(demo_store, f"SELECT count(*) FROM leads WHERE {IN_PERIOD}")
    assert listed["matching"] == team < everyone


def test_the_list_is_newest_first_and_limited(demo_store: Store, analyst) -> None:
    listed = submissions.listing(demo_store, analyst, Filters(start=date(2024, 1, 1), end=date(2026, 6, 30)),
                                 "channel")
    rows = listed["rows"]
    assert listed["matching"] > submissions.LIST_LIMIT == rows.height
    assert rows["submitted_at"].is_sorted(descending=True)


def test_search_narrows_the_list_to_matching_merchants_cities_and_ids(demo_store: Store, manager) -> None:
    everything = submissions.listing(demo_store, manager, PERIOD, "channel")
    found = submissions.listing(demo_store, manager, PERIOD, "channel", search="PIZZA")
    assert 0 < found["matching"] < everything["matching"]
    assert all("pizza" in (m or "").lower() or "pizza" in (c or "").lower() or "pizza" in (e or "").lower()
               for m, c, e in found["rows"].select("merchant_name", "city", "email").iter_rows())
    ext = everything["rows"]["external_id"][5]
    by_id = submissions.listing(demo_store, manager, PERIOD, "channel", search=ext.lower())
    assert by_id["rows"]["external_id"].to_list() == [ext]


def test_search_wildcards_are_taken_literally(demo_store: Store, manager) -> None:
    assert submissions.listing(demo_store, manager, PERIOD, "channel", search="%")["matching"] == 0
    assert submissions.listing(demo_store, manager, PERIOD, "channel", search="_")["matching"] == 0


def test_analysts_see_contact_details_masked_and_cannot_search_by_email(demo_store: Store, analyst, manager) -> None:
    rows = submissions.listing(demo_store, analyst, PERIOD, "channel")["rows"]
    assert set(rows["email"].drop_nulls()) == {"•••"} and set(rows["contact_name"].drop_nulls()) == {"•••"}
    email = submissions.listing(demo_store, manager, PERIOD, "channel")["rows"]["email"][0]
    assert submissions.listing(demo_store, manager, PERIOD, "channel", search=email)["matching"] >= 1
    assert submissions.listing(demo_store, analyst, PERIOD, "channel", search=email)["matching"] == 0


def test_a_lead_in_scope_comes_with_its_whole_history(demo_store: Store, rep) -> None:
    [(lead_id, external_id)] = _sql(demo_store, """
        SELECT l.id, l.external_id FROM leads l JOIN opportunities o ON o.lead_id = l.id
        WHERE l.owner_id = ? ORDER BY l.id LIMIT 1""", [rep.rep_id])
    detail = submissions.lead_detail(demo_store, rep, lead_id)
    assert detail is not None and detail["id"] == lead_id
    [(stages,)] = _sql(demo_store, "SELECT count(*) FROM lead_stage_changes WHERE lead_id = ?", [lead_id])
    [(acts,)] = _sql(demo_store, "SELECT count(*) FROM activities WHERE lead_id = ?", [lead_id])
    assert detail["stages"].height == stages > 0
    assert detail["activities"].height == acts
    assert detail["opportunities"].height >= 1
    assert detail["timeline"].height == stages + acts
    assert submissions.lead_detail(demo_store, rep, external_id.lower())["id"] == lead_id


def test_a_lead_outside_the_actors_scope_is_refused(demo_store: Store, rep, manager) -> None:
    [(other,)] = _sql(demo_store, "SELECT min(id) FROM leads WHERE NOT list_contains(?, owner_id)",
                      [list(manager.scope_reps)])
    assert submissions.lead_detail(demo_store, rep, other) is None
    assert submissions.lead_detail(demo_store, manager, other) is None
    assert submissions.lead_detail(demo_store, rep, 99_999_999) is None
    assert submissions.lead_detail(demo_store, access.resolve_actor(demo_store, "admin"), other) is not None


def test_a_rep_cannot_open_a_teammates_lead_that_their_manager_can(demo_store: Store, rep, manager) -> None:
    [(teammates,)] = _sql(demo_store, "SELECT min(id) FROM leads WHERE list_contains(?, owner_id) AND owner_id <> ?",
                          [list(manager.scope_reps), rep.rep_id])
    assert submissions.lead_detail(demo_store, manager, teammates) is not None
    assert submissions.lead_detail(demo_store, rep, teammates) is None


def test_a_masked_role_sees_a_leads_contact_fields_masked(demo_store: Store, analyst) -> None:
    detail = submissions.lead_detail(demo_store, analyst, 1)
    values = dict(detail["fields"].iter_rows())
    assert values["Email"] == "•••" and values["Contact"] == "•••"
    assert detail["lead"]["email"][0] == "•••"
