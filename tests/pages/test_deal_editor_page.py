"""The deal editor panel in AppTest: a manager moves and closes a deal of their team; readers get a caption."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from flashdash.store import Store
from tests.conftest import NOW


def _panel() -> None:
    """The panel as the Revenue page mounts it, for the user named in session state."""
    from datetime import date

    import streamlit as st

    from flashdash import access
    from flashdash.filters import Filters
    from flashdash.ui import deal_editor
    from flashdash.ui.store import current_store

    actor = access.resolve_actor(current_store(), st.session_state["who"])
    deal_editor.render(actor, Filters(date(2025, 7, 1), date(2026, 6, 30)))


def _open(who: str) -> AppTest:
    at = AppTest.from_function(_panel, default_timeout=60)
    at.session_state["who"] = who
    return at.run()


@pytest.fixture(autouse=True)
def _pinned_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASHDASH_NOW", NOW.isoformat())


def _status(store: Store, deal_id: int) -> tuple:
    with store.read() as con:
        return con.execute("SELECT o.stage, o.won, o.loss_reason, o.competitor, l.status FROM opportunities o "
                           "JOIN leads l ON l.id = o.lead_id WHERE o.id = ?", [deal_id]).fetchall()[0]


def test_a_manager_closes_a_deal_lost_to_a_competitor_through_the_editor(live_store: Store) -> None:
    at = _open("manager")
    pick = at.selectbox(key="rev.deal.pick")
    assert len(pick.options) == 7 and not at.exception
    deal_id = int(pick.options[0].rsplit("#", 1)[1].rstrip(")"))
    at = pick.select_index(0).run()
    at.segmented_control(key="rev.deal.outcome").set_value("Lost").run()
    # a competitor loss without a competitor is refused, naming the fix, and nothing changes
    at.selectbox(key="rev.deal.loss_reason").set_value("competitor")
    at.selectbox(key="rev.deal.close_competitor").set_value("none")
    at = at.button(key="FormSubmitter:rev.deal.close_form-Close as lost").click().run()
    assert "name the competitor" in at.error[0].value
    assert _status(live_store, deal_id)[0] in ("discovery", "proposal", "negotiation")
    at.selectbox(key="rev.deal.close_competitor").set_value("Stripe")
    at = at.button(key="FormSubmitter:rev.deal.close_form-Close as lost").click().run()
    assert not at.error and "closed lost" in at.success[0].value and "Stripe" in at.success[0].value
    assert _status(live_store, deal_id) == ("closed_lost", False, "competitor", "Stripe", "lost")
    # the closed deal has left the picker
    assert len(at.selectbox(key="rev.deal.pick").options) == 6


def test_a_manager_moves_a_deal_and_sees_what_changed(live_store: Store) -> None:
    at = _open("manager")
    at = at.selectbox(key="rev.deal.pick").select_index(0).run()
    at.number_input(key="rev.deal.amount").set_value(52_000.0)
    at.number_input(key="rev.deal.contacts").set_value(60)
    at = at.button(key="FormSubmitter:rev.deal.move_form-Save changes").click().run()
    assert "from 1 to 50" in at.error[0].value
    at.number_input(key="rev.deal.contacts").set_value(5)
    at = at.button(key="FormSubmitter:rev.deal.move_form-Save changes").click().run()
    assert not at.error and "$52,000" in at.success[0].value and "contacts" in at.success[0].value
    assert at.number_input(key="rev.deal.amount").value == 52_000.0


@pytest.mark.parametrize("who", ["analyst", "executive"])
def test_readers_get_a_caption_and_no_form(live_store: Store, who: str) -> None:
    at = _open(who)
    assert not at.exception and not at.selectbox and not at.button
    assert f"as an {who} you read them" in at.caption[0].value


def _opened(store: Store, lead_id: int) -> list[tuple]:
    with store.read() as con:
        return con.execute("SELECT o.id, o.stage, o.amount, o.contacts, o.products, l.status FROM opportunities o "
                           "JOIN leads l ON l.id = o.lead_id WHERE o.lead_id = ? AND o.closed_at IS NULL",
                           [lead_id]).fetchall()


def test_a_rep_opens_a_deal_for_a_lead_found_by_merchant_and_a_refusal_keeps_what_was_typed(
        live_store: Store) -> None:
    from flashdash import deals
    from flashdash.access import resolve_actor

    lead = deals.leads_for_deal(live_store, resolve_actor(live_store, "rep")).row(0, named=True)
    at = _open("rep")
    assert at.expander[0].label == "Open a deal"
    at = at.text_input(key="rev.deal.open.search").input(lead["merchant"][:6]).run()
    pick = at.selectbox(key="rev.deal.open.lead")
    assert lead["lead_id"] in pick.options or any(f"lead #{lead['lead_id']})" in o for o in pick.options)
    at = pick.set_value(lead["lead_id"]).run()
    assert at.number_input(key="rev.deal.open.amount").value is None  # nothing to save by accident
    at.selectbox(key="rev.deal.open.stage").set_value("proposal")
    at.number_input(key="rev.deal.open.contacts").set_value(3)
    at = at.button(key="FormSubmitter:rev.deal.open.form-Open the deal").click().run()
    assert "Give the amount" in at.error[0].value and _opened(live_store, lead["lead_id"]) == []
    assert at.selectbox(key="rev.deal.open.stage").value == "proposal"
    assert at.number_input(key="rev.deal.open.contacts").value == 3
    at.number_input(key="rev.deal.open.amount").set_value(24_000.0)
    at = at.button(key="FormSubmitter:rev.deal.open.form-Open the deal").click().run()
    ((deal_id, stage, amount, contacts, products, status),) = _opened(live_store, lead["lead_id"])
    assert (stage, amount, contacts, products, status) == ("proposal", 24_000.0, 3, "payments", "opportunity")
    assert not at.error and not at.exception
    assert at.success[0].value.startswith(f"Deal {deal_id} opened for {lead['merchant']}: Proposal, $24,000")
    # the form is cleared and the lead, which has its deal now, is no longer offered; the deal is in the book
    assert at.selectbox(key="rev.deal.open.lead").value is None
    assert lead["lead_id"] not in at.selectbox(key="rev.deal.open.lead").options
    assert any(o.endswith(f"(#{deal_id})") for o in at.selectbox(key="rev.deal.pick").options)
