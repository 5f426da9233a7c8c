"""Opening a deal for a lead on a copy of the XS demo: the deal, its opening stage row, the lead's move to the
opportunity stage and the audit record written together, every refusal naming its problem and writing nothing, and
a deal opened by hand read by the open deals and pipeline velocity as the demo's deals are."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from flashdash import deals, revenue
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.store import Store
from tests.conftest import NOW

TODAY = NOW.date()


def _rows(store: Store, query: str, *params: Any) -> list[tuple]:
    with store.read() as con:
        return con.execute(query, list(params)).fetchall()


def _counts(store: Store) -> tuple[int, ...]:
    """Deals, opportunity_changes, audit records and lead stage changes: what opening a deal adds to."""
    return _rows(store, "SELECT (SELECT count(*) FROM opportunities), (SELECT count(*) FROM opportunity_changes), "
                        "(SELECT count(*) FROM audit_log), (SELECT count(*) FROM lead_stage_changes)")[0]


def _lead(store: Store, actor: Actor, status: str) -> dict[str, Any]:
    rows = [r for r in deals.leads_for_deal(store, actor, limit=500).iter_rows(named=True) if r["status"] == status]
    assert rows, f"the demo gives {actor.username} an open {status} lead without a deal"
    return rows[0]


def _closed_lead(store: Store, actor: Actor, status: str) -> int:
    return _rows(store, "SELECT min(id) FROM leads WHERE status = ? AND list_contains(?, owner_id)", status,
                 list(actor.scope_reps or ()))[0][0]


def test_opening_a_deal_writes_the_deal_its_opening_stage_the_leads_move_and_an_audit_record(demo_copy: Store) -> None:
    rep = resolve_actor(demo_copy, "rep")
    lead = _lead(demo_copy, rep, "sql")
    before = _counts(demo_copy)
    deal_id = deals.open_deal(demo_copy, rep, lead["lead_id"], NOW, 18_500.0, date(2026, 8, 15),
                              products=["POS", "payments"], discount_pct=5, contacts=2, competitor="Square")
    ((row),) = _rows(demo_copy, "SELECT lead_id, owner_id, amount, stage, created_at, expected_close, closed_at, "
                                "products, discount_pct, contacts, competitor FROM opportunities WHERE id = ?", deal_id)
    assert row == (lead["lead_id"], rep.rep_id, 18_500.0, "discovery", NOW, date(2026, 8, 15), None, "payments,pos",
                   5.0, 2, "Square")
    # the opening stay starts at the deal's creation, as the demo's deals record it
    assert _rows(demo_copy, "SELECT field, from_value, to_value, changed_at, actor FROM opportunity_changes "
                            "WHERE opportunity_id = ?", deal_id) == [("stage", None, "discovery", NOW, "rep")]
    assert _rows(demo_copy, "SELECT status FROM leads WHERE id = ?", lead["lead_id"]) == [("opportunity",)]
    assert _rows(demo_copy, "SELECT from_status, to_status, actor, reason FROM lead_stage_changes WHERE lead_id = ? "
                            "AND changed_at = ?", lead["lead_id"], NOW) == \
        [("sql", "opportunity", "rep", f"deal {deal_id} opened")]
    ((action, after),) = _rows(demo_copy, "SELECT action, after FROM audit_log WHERE entity = 'opportunity' AND "
                                          "entity_id = ?", str(deal_id))
    assert action == "create" and json.loads(after)["amount"] == 18_500.0 and json.loads(after)["stage"] == "discovery"
    # the deal, its stage row, its audit and the lead's (its stage change and audit) and nothing else
    assert _counts(demo_copy) == (before[0] + 1, before[1] + 1, before[2] + 2, before[3] + 1)
    opened = deals.open_deals(demo_copy, rep).filter(id=deal_id)
    assert opened.height == 1 and opened["merchant"][0] == lead["merchant"]
    assert lead["lead_id"] not in deals.leads_for_deal(demo_copy, rep, limit=500)["lead_id"].to_list()


def test_a_lead_already_at_the_opportunity_stage_stays_there_with_no_stage_change(demo_copy: Store) -> None:
    manager = resolve_actor(demo_copy, "manager")
    lead = _lead(demo_copy, manager, "new")
    with demo_copy.write() as con:  # a lead whose deal was lost but which stays an opportunity
        con.execute("UPDATE leads SET status = 'opportunity' WHERE id = ?", [lead["lead_id"]])
    before = _counts(demo_copy)
    deals.open_deal(demo_copy, manager, lead["lead_id"], NOW, 3_000.0, TODAY)
    assert _counts(demo_copy) == (before[0] + 1, before[1] + 1, before[2] + 1, before[3])
    assert _rows(demo_copy, "SELECT status FROM leads WHERE id = ?", lead["lead_id"]) == [("opportunity",)]


def test_a_refused_opening_names_every_problem_and_writes_nothing(demo_copy: Store) -> None:
    admin = resolve_actor(demo_copy, "admin")
    lead = _lead(demo_copy, admin, "mql")
    before = _counts(demo_copy)
    with pytest.raises(ValueError) as refused:
        deals.open_deal(demo_copy, admin, lead["lead_id"], NOW, 0.0, TODAY - timedelta(days=1), stage="closed_won",
                        products=["payments", "crypto"], discount_pct=120, contacts=51, competitor="  ")
    message = str(refused.value)
    for problem in ("Give the amount", "$5,000,000", "in the past", "not an open stage", "crypto",
                    "from 0 to 100", "from 1 to 50", "competitor is blank"):
        assert problem in message
    with pytest.raises(ValueError, match="Give the amount") as refused:
        deals.open_deal(demo_copy, admin, lead["lead_id"], NOW, deals.MAX_AMOUNT + 1, TODAY + timedelta(days=731))
    assert "more than two years away" in str(refused.value)
    with pytest.raises(ValueError, match="Give the amount.*Give the expected close"):
        deals.open_deal(demo_copy, admin, lead["lead_id"], NOW, None, None)
    assert _counts(demo_copy) == before
    assert _rows(demo_copy, "SELECT status FROM leads WHERE id = ?", lead["lead_id"]) == [("mql",)]


def test_a_closed_lead_a_lead_with_an_open_deal_and_an_unowned_lead_are_refused(demo_copy: Store) -> None:
    manager = resolve_actor(demo_copy, "manager")
    open_deal = deals.open_deals(demo_copy, manager).row(0, named=True)
    before = _counts(demo_copy)
    with pytest.raises(ValueError) as refused:
        deals.open_deal(demo_copy, manager, open_deal["lead_id"], NOW, 5_000.0, TODAY)
    assert f"already has deal {open_deal['id']} open" in str(refused.value)
    assert "move that deal" in str(refused.value)
    opening = deals.deal_opening(demo_copy, manager, open_deal["lead_id"], NOW)
    assert opening["open_deal_id"] == open_deal["id"] and "move that deal" in opening["why"]
    for status in ("won", "lost", "disqualified"):
        lead_id = _closed_lead(demo_copy, manager, status)
        with pytest.raises(ValueError, match="a closed lead gets no new deal"):
            deals.open_deal(demo_copy, manager, lead_id, NOW, 5_000.0, TODAY)
    admin = resolve_actor(demo_copy, "admin")
    lead = _lead(demo_copy, admin, "new")
    with demo_copy.write() as con:
        con.execute("UPDATE leads SET owner_id = NULL WHERE id = ?", [lead["lead_id"]])
    with pytest.raises(ValueError, match="assign the lead first"):
        deals.open_deal(demo_copy, admin, lead["lead_id"], NOW, 5_000.0, TODAY)
    assert _counts(demo_copy) == before


def test_readers_and_leads_outside_the_scope_are_refused_without_a_write(demo_copy: Store) -> None:
    rep, manager, admin = (resolve_actor(demo_copy, r) for r in ("rep", "manager", "admin"))
    outside_team = next(r for r in deals.leads_for_deal(demo_copy, admin, limit=500).iter_rows(named=True)
                        if r["owner_id"] not in (manager.scope_reps or ()))
    teammates = next(r for r in deals.leads_for_deal(demo_copy, manager, limit=500).iter_rows(named=True)
                     if r["owner_id"] != rep.rep_id)
    before = _counts(demo_copy)
    for who in ("analyst", "executive"):
        reader = resolve_actor(demo_copy, who)
        with pytest.raises(AccessDenied, match="does not change"):
            deals.open_deal(demo_copy, reader, teammates["lead_id"], NOW, 5_000.0, TODAY)
        with pytest.raises(AccessDenied):
            deals.leads_for_deal(demo_copy, reader)
        with pytest.raises(AccessDenied):
            deals.deal_opening(demo_copy, reader, teammates["lead_id"], NOW)
    with pytest.raises(AccessDenied, match=f"no lead {teammates['lead_id']} in your book"):
        deals.open_deal(demo_copy, rep, teammates["lead_id"], NOW, 5_000.0, TODAY)
    with pytest.raises(AccessDenied, match="in your book") as refused:
        deals.deal_opening(demo_copy, manager, outside_team["lead_id"], NOW)
    assert outside_team["merchant"] not in str(refused.value)
    assert _counts(demo_copy) == before


def test_the_leads_offered_are_the_writers_open_owned_leads_without_a_deal(demo_store: Store) -> None:
    rep, manager = resolve_actor(demo_store, "rep"), resolve_actor(demo_store, "manager")
    mine = deals.leads_for_deal(demo_store, rep, limit=500)
    team = deals.leads_for_deal(demo_store, manager, limit=500)
    assert not mine.is_empty() and set(mine["owner_id"]) == {rep.rep_id}
    assert set(team["owner_id"]) <= set(manager.scope_reps or ()) and team.height > mine.height
    assert set(team["status"]) <= {"new", "mql", "sql", "opportunity"} and team["matching"][0] == team.height
    with_deals = set(deals.open_deals(demo_store, manager)["lead_id"])
    assert not with_deals & set(team["lead_id"])
    capped = deals.leads_for_deal(demo_store, manager, limit=3)
    assert capped.height == 3 and capped["matching"][0] == team.height
    word = team["merchant"][0].split()[0]
    found = deals.leads_for_deal(demo_store, manager, search=word.lower(), limit=500)
    assert 0 < found.height < team.height and all(word.lower() in m.lower() for m in found["merchant"])


def test_the_expected_close_starts_at_the_median_cycle_of_the_won_deals_in_scope(demo_store: Store) -> None:
    manager = resolve_actor(demo_store, "manager")
    lead = _lead(demo_store, manager, "sql")
    ((median, n),) = _rows(demo_store, "SELECT median(epoch(closed_at - created_at) / 86400.0), count(*) "
                                       "FROM opportunities WHERE won AND closed_at >= ? AND closed_at < ? "
                                       "AND list_contains(?, owner_id)", NOW - timedelta(days=365), NOW,
                           list(manager.scope_reps or ()))
    opening = deals.deal_opening(demo_store, manager, lead["lead_id"], NOW)
    assert n >= deals.MIN_CYCLE_DEALS and opening["cycle_n"] == n and opening["why"] is None
    assert opening["default_close"] == TODAY + timedelta(days=round(median))


def test_a_deal_opened_by_hand_is_read_by_the_pipeline_as_the_demos_deals_are(demo_copy: Store) -> None:
    rep = resolve_actor(demo_copy, "rep")
    start, end = TODAY - timedelta(days=90), TODAY + timedelta(days=3)

    def stays(result: dict[str, Any]) -> dict[str, int]:
        return dict(zip(result["stages"]["stage"], result["stages"]["n"], strict=True))

    before = revenue.velocity(demo_copy, rep, start, end)
    lead = _lead(demo_copy, rep, "sql")
    deal_id = deals.open_deal(demo_copy, rep, lead["lead_id"], NOW, 9_000.0, TODAY + timedelta(days=20),
                              stage="proposal")
    deals.move(demo_copy, rep, deal_id, NOW + timedelta(days=3), stage="negotiation")
    after = revenue.velocity(demo_copy, rep, start, end)
    assert after["velocity"]["open_deals"][0] == before["velocity"]["open_deals"][0] + 1
    # one proposal stay (opened there, left 3 days later) and no discovery stay it never had
    assert stays(after)["proposal"] == stays(before)["proposal"] + 1
    assert stays(after)["discovery"] == stays(before)["discovery"]
