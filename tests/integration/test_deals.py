"""Working deals on a copy of the XS demo: the open deals in scope, moving one and closing one, each change written
whole (deal, opportunity_changes, lead status, audit) or not at all."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from flashdash import deals
from flashdash.access import AccessDenied, Actor, resolve_actor
from flashdash.store import Store
from tests.conftest import NOW


def _rows(store: Store, query: str, *params: Any) -> list[tuple]:
    with store.read() as con:
        return con.execute(query, list(params)).fetchall()


def _counts(store: Store) -> tuple[int, int, int]:
    """opportunity_changes, audit records and lead stage changes: what a write adds to."""
    return _rows(store, "SELECT (SELECT count(*) FROM opportunity_changes), (SELECT count(*) FROM audit_log), "
                        "(SELECT count(*) FROM lead_stage_changes)")[0]


def _deal(store: Store, deal_id: int) -> dict[str, Any]:
    cols = ("stage", "expected_close", "amount", "competitor", "contacts", "closed_at", "won", "win_reason",
            "loss_reason")
    (row,) = _rows(store, f"SELECT {', '.join(cols)} FROM opportunities WHERE id = ?", deal_id)
    return dict(zip(cols, row, strict=True))


def _first_open(store: Store, actor: Actor, stage: str | None = None) -> dict[str, Any]:
    book = deals.open_deals(store, actor)
    rows = [r for r in book.iter_rows(named=True) if stage is None or r["stage"] == stage]
    assert rows, f"the demo gives {actor.username} an open deal at {stage or 'any stage'}"
    return rows[0]


def test_each_role_sees_the_open_deals_of_its_own_book(demo_store: Store) -> None:
    (total,) = _rows(demo_store, "SELECT count(*) FROM opportunities WHERE closed_at IS NULL")[0]
    rep, manager = resolve_actor(demo_store, "rep"), resolve_actor(demo_store, "manager")
    mine = deals.open_deals(demo_store, rep)
    team = deals.open_deals(demo_store, manager)
    assert not mine.is_empty() and set(mine["owner_id"]) == {rep.rep_id}
    assert set(team["owner_id"]) <= set(manager.scope_reps or ()) and team.height > mine.height
    for who in ("admin", "analyst", "executive"):
        assert deals.open_deals(demo_store, resolve_actor(demo_store, who)).height == total
    assert team["stage"].is_in(deals.OPEN_STAGES).all()
    assert {"merchant", "owner", "amount", "expected_close", "competitor", "contacts"} <= set(team.columns)


def test_moving_a_deal_updates_it_and_records_each_tracked_change_and_an_audit_record(demo_copy: Store) -> None:
    manager = resolve_actor(demo_copy, "manager")
    deal = _first_open(demo_copy, manager, "proposal")
    changes, audits, _ = _counts(demo_copy)
    out = deals.move(demo_copy, manager, deal["id"], NOW, stage="negotiation", expected_close=date(2026, 9, 1),
                     amount=48_000.0, competitor="Adyen", contacts=4)
    assert {c["field"] for c in out["changes"]} >= {"stage", "expected_close", "amount", "contacts"}
    assert "Proposal → Negotiation" in out["message"] and "$48,000" in out["message"]
    after = _deal(demo_copy, deal["id"])
    assert (after["stage"], after["expected_close"], after["amount"], after["competitor"], after["contacts"]) == \
        ("negotiation", date(2026, 9, 1), 48_000.0, "Adyen", 4)
    rows = _rows(demo_copy, "SELECT field, from_value, to_value, changed_at, actor FROM opportunity_changes "
                            "WHERE opportunity_id = ? AND changed_at = ? ORDER BY field", deal["id"], NOW)
    assert rows == [("amount", str(deal["amount"]), "48000.0", NOW, "manager"),
                    ("expected_close", str(deal["expected_close"]), "2026-09-01", NOW, "manager"),
                    ("stage", "proposal", "negotiation", NOW, "manager")]
    assert _counts(demo_copy)[:2] == (changes + 3, audits + 1)
    ((action, before, after_json),) = _rows(demo_copy, "SELECT action, before, after FROM audit_log "
                                                       "WHERE entity = 'opportunity' AND entity_id = ?",
                                            str(deal["id"]))
    assert action == "update"
    assert json.loads(before)["stage"] == "proposal" and json.loads(after_json)["stage"] == "negotiation"
    assert json.loads(after_json)["competitor"] == "Adyen"


def test_a_move_with_problems_names_every_one_and_writes_nothing(demo_copy: Store) -> None:
    admin = resolve_actor(demo_copy, "admin")
    deal = _first_open(demo_copy, admin, "proposal")
    before, counts = _deal(demo_copy, deal["id"]), _counts(demo_copy)
    with pytest.raises(ValueError) as refused:
        deals.move(demo_copy, admin, deal["id"], NOW, stage="discovery", expected_close=NOW.date() - timedelta(1),
                   amount=0.0, contacts=51, competitor="  ")
    message = str(refused.value)
    for problem in ("needs a reason", "in the past", "positive number", "from 1 to 50", "competitor is blank"):
        assert problem in message
    with pytest.raises(ValueError, match="not an open stage"):
        deals.move(demo_copy, admin, deal["id"], NOW, stage="closed_won")
    with pytest.raises(ValueError, match="already stands as given"):
        deals.move(demo_copy, admin, deal["id"], NOW, stage=deal["stage"])
    assert _deal(demo_copy, deal["id"]) == before and _counts(demo_copy) == counts


def test_moving_back_a_stage_is_allowed_with_a_reason_kept_in_the_audit_trail(demo_copy: Store) -> None:
    admin = resolve_actor(demo_copy, "admin")
    deal = _first_open(demo_copy, admin, "proposal")
    deals.move(demo_copy, admin, deal["id"], NOW, stage="discovery", reason="budget owner changed")
    assert _deal(demo_copy, deal["id"])["stage"] == "discovery"
    assert _rows(demo_copy, "SELECT reason FROM audit_log WHERE entity = 'opportunity' AND entity_id = ?",
                 str(deal["id"])) == [("budget owner changed",)]


def test_readers_may_not_change_deals_and_a_rep_not_another_reps(demo_copy: Store) -> None:
    admin, rep = resolve_actor(demo_copy, "admin"), resolve_actor(demo_copy, "rep")
    others = [r for r in deals.open_deals(demo_copy, admin).iter_rows(named=True) if r["owner_id"] != rep.rep_id]
    counts = _counts(demo_copy)
    for who in ("analyst", "executive"):
        reader = resolve_actor(demo_copy, who)
        with pytest.raises(AccessDenied, match="does not change"):
            deals.move(demo_copy, reader, others[0]["id"], NOW, amount=1_000.0)
        with pytest.raises(AccessDenied, match="does not change"):
            deals.close(demo_copy, reader, others[0]["id"], True, "price", NOW)
    with pytest.raises(AccessDenied, match="no deal"):
        deals.move(demo_copy, rep, others[0]["id"], NOW, amount=1_000.0)
    with pytest.raises(AccessDenied, match="no deal"):
        deals.close(demo_copy, rep, others[0]["id"], True, "price", NOW)
    assert _counts(demo_copy) == counts


def test_closing_a_deal_won_records_why_adds_a_stage_row_and_wins_its_lead(demo_copy: Store) -> None:
    rep = resolve_actor(demo_copy, "rep")
    deal = _first_open(demo_copy, rep)
    changes, audits, lead_changes = _counts(demo_copy)
    out = deals.close(demo_copy, rep, deal["id"], True, "Onboarding speed", NOW, competitor="Square")
    after = _deal(demo_copy, deal["id"])
    assert (after["stage"], after["won"], after["closed_at"], after["win_reason"], after["loss_reason"],
            after["competitor"]) == ("closed_won", True, NOW, "onboarding speed", None, "Square")
    assert _rows(demo_copy, "SELECT from_value, to_value, actor FROM opportunity_changes WHERE opportunity_id = ? "
                            "AND changed_at = ?", deal["id"], NOW) == [(deal["stage"], "closed_won", "rep")]
    assert _rows(demo_copy, "SELECT status FROM leads WHERE id = ?", deal["lead_id"]) == [("won",)]
    assert _rows(demo_copy, "SELECT from_status, to_status, actor FROM lead_stage_changes WHERE lead_id = ? "
                            "AND changed_at = ?", deal["lead_id"], NOW) == [("opportunity", "won", "rep")]
    # the deal's close and the lead's move are both in the trail
    assert _counts(demo_copy) == (changes + 1, audits + 2, lead_changes + 1)
    assert out["lead"]["moved"] and "closed won" in out["message"] and "onboarding speed" in out["message"]
    assert deal["id"] not in deals.open_deals(demo_copy, rep)["id"].to_list()


def test_closing_lost_takes_a_listed_or_other_reason_and_refuses_anything_else(demo_copy: Store) -> None:
    manager = resolve_actor(demo_copy, "manager")
    first, second = deals.open_deals(demo_copy, manager).head(2).iter_rows(named=True)
    counts = _counts(demo_copy)
    with pytest.raises(ValueError) as refused:
        deals.close(demo_copy, manager, first["id"], False, "the weather", NOW)
    assert "the weather" in str(refused.value) and "went dark" in str(refused.value) and "other:" in str(refused.value)
    for bad in ("", "other:"):
        with pytest.raises(ValueError):
            deals.close(demo_copy, manager, first["id"], False, bad, NOW)
    with pytest.raises(ValueError, match="name the competitor"):
        deals.close(demo_copy, manager, first["id"], False, "competitor", NOW, competitor="none")
    assert _counts(demo_copy) == counts
    deals.close(demo_copy, manager, first["id"], False, "other:  merchant sold the business", NOW)
    deals.close(demo_copy, manager, second["id"], False, "competitor", NOW, competitor="Stripe")
    assert _deal(demo_copy, first["id"])["loss_reason"] == "other: merchant sold the business"
    lost = _deal(demo_copy, second["id"])
    assert (lost["stage"], lost["won"], lost["loss_reason"], lost["competitor"]) == \
        ("closed_lost", False, "competitor", "Stripe")
    assert _rows(demo_copy, "SELECT status FROM leads WHERE id = ?", second["lead_id"]) == [("lost",)]


def test_a_closed_deal_is_neither_moved_nor_closed_again(demo_copy: Store) -> None:
    admin = resolve_actor(demo_copy, "admin")
    deal = _first_open(demo_copy, admin)
    deals.close(demo_copy, admin, deal["id"], True, "price", NOW)
    counts = _counts(demo_copy)
    with pytest.raises(ValueError, match="was closed won"):
        deals.move(demo_copy, admin, deal["id"], NOW, amount=5_000.0)
    with pytest.raises(ValueError, match="a closed deal is not changed"):
        deals.close(demo_copy, admin, deal["id"], False, "price", NOW)
    assert _counts(demo_copy) == counts


def test_a_close_that_fails_partway_leaves_the_deal_its_lead_and_the_trail_as_they_were(
        demo_copy: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = resolve_actor(demo_copy, "admin")
    deal = _first_open(demo_copy, admin)
    before, counts = _deal(demo_copy, deal["id"]), _counts(demo_copy)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("follow-up rules failed")

    # the last step of a close fails after the deal, its change row, the lead and the audit were written
    monkeypatch.setattr(deals.follow_up, "after_change", broken)
    with pytest.raises(RuntimeError):
        deals.close(demo_copy, admin, deal["id"], True, "price", NOW)
    assert _deal(demo_copy, deal["id"]) == before and _counts(demo_copy) == counts
    assert _rows(demo_copy, "SELECT status FROM leads WHERE id = ?", deal["lead_id"]) == [("opportunity",)]
