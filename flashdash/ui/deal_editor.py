"""A small panel to open a new deal for a lead (also on the Leads page's lead detail), and to work one open deal: move it (stage, expected close, amount, competitor, contacts) or close it as
won or lost with its reason, so that stage durations, pushed close dates and the win/loss reasons are captured as
they happen.

Reps work their own deals, managers their teams', admins every deal (flashdash.deals enforces it); analysts and
executives read deals elsewhere on the page and get a caption here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import polars as pl
import streamlit as st

from flashdash import clock, deals, qualification
from flashdash.access import AccessDenied, Actor
from flashdash.filters import Filters
from flashdash.store import StoreError
from flashdash.ui import components as ui
from flashdash.ui.store import cached, current_store, show_problem

KEY = "rev.deal"
PICK = f"{KEY}.pick"
FOR = f"{KEY}.for"  # the deal the move form was last filled from
DONE = f"{KEY}.done"
CLEAR = f"{KEY}.clear"  # pick no deal on the next run (the closed one is no longer open)
FIELDS = {f: f"{KEY}.{f}" for f in ("stage", "expected_close", "amount", "competitor", "contacts", "reason")}
CLOSE_COMPETITOR = f"{KEY}.close_competitor"
OPEN = f"{KEY}.open"  # the Deals tab's "Open a deal" expander
OPEN_FIELDS = ("stage", "amount", "expected_close", "products", "discount", "contacts", "competitor")
OUTCOMES = ("Won", "Lost")
OTHER = "other"


def render(actor: Actor, filters: Filters) -> None:
    if actor.role not in deals.WRITERS:
        st.caption(f"Deals are moved and closed by their owner, the owner's manager or an admin; as "
                   f"{'an' if actor.role[:1] in 'aeiou' else 'a'} {actor.role} you read them in the other tabs.")
        return
    done = st.session_state.pop(DONE, None)
    if done:
        st.success(done, icon=":material/task_alt:")
    with st.expander("Open a deal", icon=":material/add_business:"):
        open_deal_picker(actor)
    try:
        book = narrowed(cached(deals.open_deals, actor), filters)
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    if book.is_empty():
        st.info("No open deal in your book matches the sidebar's team, region, rep, vertical and channel filters: "
                "clear a filter to see more (the period does not apply to open deals).",
                icon=":material/search_off:")
        return
    deal = _pick(book)
    if deal is None:
        _book_table(book)
        return
    st.caption(f"Owner {deal['owner'] or '—'} · opened {deal['created_at']:%d %b %Y} · {deal['vertical'] or '—'}")
    move_form(actor, deal)
    st.divider()
    close_form(actor, deal)


def _book_table(book: pl.DataFrame) -> None:
    """The open deals, soonest expected close first, so that the one to work can be found before it is picked."""
    shown = book.select(
        pl.col("id").alias("deal"), "merchant", "owner",
        pl.col("stage").replace_strict(deals.STAGE_LABELS, default=pl.col("stage")).alias("stage"),
        "amount", pl.col("expected_close").cast(pl.Date).alias("expected close"), "competitor", "contacts")
    st.caption("Pick a deal above to move it (stage, expected close, amount, competitor, contacts) or to close it "
               "won or lost with its reason: each change is kept in the deal's history and the audit trail.")
    ui.table(shown, "open_deals", key=f"{KEY}.book",
             column_config={"amount": st.column_config.NumberColumn(format="dollar"),
                            "expected close": st.column_config.DateColumn(format="D MMM YYYY")})


def narrowed(book: pl.DataFrame, filters: Filters) -> pl.DataFrame:
    """The open deals the sidebar's team, region, rep, vertical and channel filters keep (never more than the
    actor's scope: this only narrows)."""
    keep = [(filters.teams, "team_id"), (filters.regions, "region_id"), (filters.reps, "owner_id"),
            (filters.verticals, "vertical"), (filters.channels, "channel")]
    for values, column in keep:
        if values:
            book = book.filter(pl.col(column).is_in(list(values)))
    return book


def label(deal: dict[str, Any]) -> str:
    close = f"{deal['expected_close']:%d %b %Y}" if deal["expected_close"] else "no close date"
    return (f"{deal['merchant']} · {deals.STAGE_LABELS[deal['stage']]} · ${deal['amount']:,.0f} · closes {close} "
            f"(#{deal['id']})")


def _pick(book: pl.DataFrame) -> dict[str, Any] | None:
    rows = {r["id"]: r for r in book.iter_rows(named=True)}
    if st.session_state.pop(CLEAR, False) or st.session_state.get(PICK) not in rows:
        st.session_state[PICK] = None  # set, not dropped: the browser would show the closed deal still picked
    picked = st.selectbox(f"Open deal ({len(rows):,} in your book)", list(rows), index=None, key=PICK,
                          format_func=lambda i: label(rows[i]), placeholder="Pick a deal to move or close")
    return rows.get(picked) if picked is not None else None


# ---------------------------------------------------------------- moving


def _fill(deal: dict[str, Any]) -> None:
    """A newly picked (or just saved) deal: the forms start from its current values."""
    if st.session_state.get(FOR) == deal["id"]:
        return
    st.session_state[FOR] = deal["id"]
    st.session_state.update({FIELDS["stage"]: deal["stage"], FIELDS["expected_close"]: deal["expected_close"],
                             FIELDS["amount"]: float(deal["amount"]), FIELDS["competitor"]: deal["competitor"],
                             FIELDS["contacts"]: deal["contacts"], FIELDS["reason"]: "",
                             CLOSE_COMPETITOR: deal["competitor"]})


def _competitors(current: str | None) -> list[str]:
    listed = list(deals.COMPETITORS)
    return listed if current is None or current in listed else [*listed, current]


def move_form(actor: Actor, deal: dict[str, Any]) -> None:
    _fill(deal)
    st.markdown("**Move the deal**")
    with st.form(f"{KEY}.move_form", border=False):
        c1, c2, c3 = st.columns(3)
        c1.selectbox("Stage", deals.OPEN_STAGES, key=FIELDS["stage"], format_func=deals.STAGE_LABELS.get)
        c2.date_input("Expected close", key=FIELDS["expected_close"], format="YYYY-MM-DD")
        c3.number_input("Amount ($ a year)", min_value=0.0, step=500.0, format="%.0f", key=FIELDS["amount"])
        c1, c2, c3 = st.columns(3)
        c1.selectbox("Competitor", _competitors(deal["competitor"]), index=None, key=FIELDS["competitor"],
                     accept_new_options=True, placeholder="Who else the merchant weighs")
        c2.number_input("Contacts", min_value=0, max_value=99, step=1, key=FIELDS["contacts"],
                        help=f"People engaged on the merchant's side ({deals.CONTACTS_RANGE[0]} to "
                             f"{deals.CONTACTS_RANGE[1]}).")
        c3.text_input("Reason", key=FIELDS["reason"], max_chars=deals.MAX_REASON,
                      help="Needed to move a deal back a stage; kept in its history.")
        go = st.form_submit_button("Save changes", icon=":material/save:")
    if go:
        _save_move(actor, deal)


def _save_move(actor: Actor, deal: dict[str, Any]) -> None:
    state = st.session_state
    contacts = state[FIELDS["contacts"]]
    try:
        out = deals.move(current_store(), actor, deal["id"], clock.now(), stage=state[FIELDS["stage"]],
                         expected_close=state[FIELDS["expected_close"]], amount=state[FIELDS["amount"]],
                         competitor=state[FIELDS["competitor"]], contacts=None if contacts is None else int(contacts),
                         reason=state[FIELDS["reason"]])
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    state[DONE] = out["message"]
    state.pop(FOR, None)  # the form refills from the saved deal
    st.rerun()


# ---------------------------------------------------------------- closing


def close_form(actor: Actor, deal: dict[str, Any]) -> None:
    st.markdown("**Close the deal**")
    outcome = st.segmented_control("Outcome", OUTCOMES, default="Won", key=f"{KEY}.outcome") or "Won"
    won = outcome == "Won"
    kind = "win" if won else "loss"
    with st.form(f"{KEY}.close_form", border=False):
        c1, c2 = st.columns(2)
        reason = c1.selectbox(f"Why it was {outcome.lower()}", [*deals.reasons_for(won), OTHER], index=None,
                              key=f"{KEY}.{kind}_reason", placeholder="Pick the main reason")
        other = c2.text_input("If other: what happened", key=f"{KEY}.{kind}_other", max_chars=deals.MAX_REASON)
        rival = c1.selectbox("Competitor", _competitors(deal["competitor"]), index=None, key=CLOSE_COMPETITOR,
                             accept_new_options=True, placeholder="Who else the merchant weighed")
        go = st.form_submit_button(f"Close as {outcome.lower()}", type="primary", icon=":material/flag:")
    if go:
        text = f"{deals.OTHER}{other.strip()}" if reason == OTHER else (reason or "")
        _save_close(actor, deal, won, text, rival)


def _save_close(actor: Actor, deal: dict[str, Any], won: bool, reason: str, rival: str | None) -> None:
    try:
        out = deals.close(current_store(), actor, deal["id"], won, reason, clock.now(), competitor=rival)
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    st.session_state[DONE] = out["message"]
    st.session_state[CLEAR] = True
    st.rerun()


# ---------------------------------------------------------------- opening a deal


def open_deal_picker(actor: Actor) -> None:
    """The Deals tab's way in: find one of the writer's open leads without an open deal, then open_deal_form."""
    if st.session_state.pop(f"{OPEN}.reset", False):  # a deal was just opened: the search and the form start afresh
        _clear([f"{OPEN}.search", f"{OPEN}.lead", *_open_keys(OPEN).values()])
    search = st.text_input("Merchant", key=f"{OPEN}.search", placeholder="Part of the merchant's name",
                           max_chars=80).strip()
    try:
        leads = cached(deals.leads_for_deal, actor, search)
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    if leads.is_empty():
        st.info("No lead in your book matches: a deal is opened for an owned lead in an open stage (New to "
                "Opportunity) that has no open deal." + (" Clear the search to see them all." if search else ""),
                icon=":material/search_off:")
        return
    rows = {r["lead_id"]: r for r in leads.iter_rows(named=True)}
    matching = int(leads["matching"][0])
    pick = f"{OPEN}.lead"
    if st.session_state.get(pick) not in rows:
        st.session_state[pick] = None  # the lead just given a deal (or searched away) is no longer offered
    shown = f"{matching:,} in your book" if matching <= len(rows) else f"the first {len(rows):,} of {matching:,}: " \
                                                                      "search to narrow"
    lead_id = st.selectbox(f"Lead ({shown})", list(rows), index=None, key=pick, format_func=lambda i: _lead_label(rows[i]),
                           placeholder="Pick the lead to open a deal for")
    if lead_id is not None:
        open_deal_form(actor, lead_id, OPEN, done_key=DONE)


def _lead_label(lead: dict[str, Any]) -> str:
    stage = qualification.STAGE_LABELS.get(lead["status"], lead["status"])
    return f"{lead['merchant']} · {stage} · {lead['owner']} · {lead['vertical'] or '—'} (lead #{lead['lead_id']})"


def open_deal_form(actor: Actor, lead_id: int, prefix: str, done_key: str | None = None) -> None:
    """"Open a deal" for one lead, wherever it is shown (keys under `prefix`): a one-line caption when the lead
    cannot have one; a refusal shows the domain's message and keeps what was typed; a save clears the form and
    shows its success line (here, or at `done_key` when the caller shows it after the rerun)."""
    keys = _open_keys(prefix)
    state = st.session_state
    if state.pop(f"{prefix}.reset", False):
        _clear(keys.values())
    done = state.pop(f"{prefix}.done", None)
    if done:
        st.success(done, icon=":material/task_alt:")
    try:
        opening = cached(deals.deal_opening, actor, int(lead_id), clock.now().replace(second=0, microsecond=0))
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    if opening["why"]:
        st.caption(opening["why"])
        return
    with st.form(f"{prefix}.form", border=False):
        _open_fields(keys, opening)
        go = st.form_submit_button("Open the deal", type="primary", icon=":material/add_business:")
    if go:
        _save_open(actor, opening, keys, prefix, done_key)


def _open_keys(prefix: str) -> dict[str, str]:
    return {f: f"{prefix}.{f}" for f in OPEN_FIELDS}


def _clear(keys: Iterable[str]) -> None:
    """Widgets back to their defaults (a fresh form after a save)."""
    for k in keys:
        st.session_state.pop(k, None)


def _open_fields(keys: dict[str, str], opening: dict[str, Any]) -> None:
    cycle = (f"today + the median {opening['cycle_days']} days from opening to winning of the {opening['cycle_n']} "
             "deals won in your book over the last year" if opening["cycle_n"] >= deals.MIN_CYCLE_DEALS
             else f"today + {deals.DEFAULT_CYCLE_DAYS} days (too few won deals in your book for a median cycle)")
    c1, c2, c3 = st.columns(3)
    c1.selectbox("Stage", deals.OPEN_STAGES, key=keys["stage"], format_func=deals.STAGE_LABELS.get)
    c2.number_input("Amount ($ a year)", min_value=0.0, max_value=deals.MAX_AMOUNT, value=None, step=500.0,
                    format="%.0f", key=keys["amount"], placeholder="Expected annual revenue",
                    help=f"Expected annual revenue, up to ${deals.MAX_AMOUNT:,.0f}.")
    c3.date_input("Expected close", value=opening["default_close"], key=keys["expected_close"], format="YYYY-MM-DD",
                  help=f"Starts at {cycle}.")
    c1, c2, c3, c4 = st.columns([3, 1, 1, 2])
    c1.multiselect("Products", deals.PRODUCTS, default=["payments"], key=keys["products"])
    c2.number_input("Discount %", min_value=0.0, max_value=100.0, value=None, step=1.0, format="%.0f",
                    key=keys["discount"], help="Off list price (0 to 100); leave empty if not agreed yet.")
    c3.number_input("Contacts", min_value=0, max_value=99, value=None, step=1, key=keys["contacts"],
                    help=f"People engaged on the merchant's side ({deals.CONTACTS_RANGE[0]} to "
                         f"{deals.CONTACTS_RANGE[1]}).")
    c4.selectbox("Competitor", list(deals.COMPETITORS), index=None, key=keys["competitor"], accept_new_options=True,
                 placeholder="Who else the merchant weighs")


def _save_open(actor: Actor, opening: dict[str, Any], keys: dict[str, str], prefix: str,
               done_key: str | None) -> None:
    state = st.session_state
    contacts, discount = state[keys["contacts"]], state[keys["discount"]]
    stage, amount, close = state[keys["stage"]], state[keys["amount"]], state[keys["expected_close"]]
    try:
        deal_id = deals.open_deal(current_store(), actor, opening["lead_id"], clock.now(), amount=amount,
                                  expected_close=close, stage=stage, products=state[keys["products"]],
                                  discount_pct=discount, contacts=None if contacts is None else int(contacts),
                                  competitor=state[keys["competitor"]])
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    state[done_key or f"{prefix}.done"] = _opened(deal_id, opening, stage, amount, close)
    state[f"{prefix}.reset"] = True
    st.rerun()


def _opened(deal_id: int, opening: dict[str, Any], stage: str, amount: float, close: date) -> str:
    moved = opening["status"] != "opportunity"
    lead = (f" The lead moved from {qualification.STAGE_LABELS.get(opening['status'], opening['status'])} to "
            "Opportunity." if moved else "")
    return (f"Deal {deal_id} opened for {opening['merchant']}: {deals.STAGE_LABELS[stage]}, ${amount:,.0f} a year, "
            f"expected close {close:%d %b %Y}, owned by {opening['owner']}.{lead}")
