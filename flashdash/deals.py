"""Working a deal: the open deals in scope, opening a new one for a lead, moving one (stage, expected close,
amount, competitor, contacts) and closing one as won or lost with its reason.

Every change is one transaction: the deal, its opportunity_changes rows (stage, expected close and amount, which
stage durations and pushed close dates are measured from), the lead's status when the deal closes, and an audit
record with the before and after. Opening a deal writes the deal, its opening stage row (so that a deal opened by
hand is measured as the demo's are: its first stay starts at its creation), the lead moved on to the opportunity
stage when it was before it, and an audit record with the after. Reps change their own deals, managers their teams', admins every deal; analysts
and executives read them and change none."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from flashdash import audit, follow_up, qualification
from flashdash.access import AccessDenied, Actor
from flashdash.demo import LOSS_REASONS
from flashdash.demo_revenue import COMPETITORS, PRODUCTS, WIN_REASONS
from flashdash.store import Store

OPEN_STAGES = ("discovery", "proposal", "negotiation")
STAGE_LABELS = {"discovery": "Discovery", "proposal": "Proposal", "negotiation": "Negotiation",
                "closed_won": "Closed won", "closed_lost": "Closed lost"}
WRITERS = ("rep", "manager", "admin")
OTHER = "other: "  # a reason outside the lists: "other: <what happened>"
MAX_REASON = 200
MAX_COMPETITOR = 80
CONTACTS_RANGE = (1, 50)
TRACKED = ("stage", "expected_close", "amount")  # the fields opportunity_changes keeps
MAX_AMOUNT = 5_000_000.0  # $ a year: over three times the largest demo deal ($1.5M); above it is a typo
MAX_CLOSE_DAYS = 730  # an expected close within two years of today
DISCOUNT_RANGE = (0.0, 100.0)
DEFAULT_CYCLE_DAYS = 30  # the expected close's default when too few won deals give a median cycle
MIN_CYCLE_DEALS = 5  # won deals (in the last year, in scope) behind a median cycle
LEAD_LIMIT = 50  # leads offered at once to open a deal for; a search narrows them
__all__ = ["COMPETITORS", "LOSS_REASONS", "PRODUCTS", "WIN_REASONS", "close", "deal_opening", "leads_for_deal", "move",
           "open_deal", "open_deals", "reasons_for"]

OPEN_SCHEMA = {"id": pl.Int64, "merchant": pl.String, "owner": pl.String, "owner_id": pl.Int64, "team_id": pl.Int64,
               "lead_id": pl.Int64, "stage": pl.String, "amount": pl.Float64, "expected_close": pl.Date,
               "competitor": pl.String, "contacts": pl.Int64, "created_at": pl.Datetime("us"),
               "vertical": pl.String, "channel": pl.String, "region_id": pl.Int64}


def open_deals(store: Store, actor: Actor) -> pl.DataFrame:
    """The open deals in the actor's scope, soonest expected close first: id, merchant, owner, stage, amount,
    expected_close, competitor, contacts (with owner_id, team_id, lead_id, created_at, vertical, channel and
    region_id to narrow by)."""
    return store.frame("deals_open", **actor.scope_params()).cast(OPEN_SCHEMA)  # type: ignore[arg-type]


def reasons_for(won: bool) -> tuple[str, ...]:
    """The reasons a deal closes with: why it was won, or why it was lost (besides "other: <text>")."""
    return WIN_REASONS if won else LOSS_REASONS


# ---------------------------------------------------------------- shared checks


def _require_writer(actor: Actor) -> None:
    if actor.role not in WRITERS:
        raise AccessDenied(f"{_article(actor.role).capitalize()} {actor.role} reads deals but does not change them; the deal's owner, their manager "
                           "or an admin does.")


def _article(noun: str) -> str:
    return "an" if noun[:1] in "aeiou" else "a"


def _deal(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor, deal_id: int) -> dict[str, Any]:
    """The deal as the change starts from: AccessDenied out of scope (the same answer as for no such deal),
    ValueError when it is closed."""
    rows = store.frame("deals_for_change", con, deal_id=int(deal_id), **actor.scope_params())
    if rows.is_empty() or not rows["in_scope"][0]:
        raise AccessDenied(f"There is no deal {deal_id} in your book.")
    deal = rows.row(0, named=True)
    if deal["closed_at"] is not None:
        outcome = "won" if deal["won"] else "lost"
        raise ValueError(f"Deal {deal_id} ({deal['merchant']}) was closed {outcome} on {deal['closed_at']:%d %b %Y}: "
                         "a closed deal is not changed; open a new deal for new business.")
    return deal


def _competitor(value: str | None, problems: list[str]) -> str | None:
    text = (value or "").strip()
    if value is not None and not text:
        problems.append("The competitor is blank: name who else the merchant weighed, or \"none\".")
    if len(text) > MAX_COMPETITOR:
        problems.append(f"The competitor's name is {len(text)} characters; keep it to {MAX_COMPETITOR}.")
    return text or None


def _fail(problems: list[str]) -> None:
    if problems:
        raise ValueError(" ".join(problems))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _audit_view(deal: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: deal[k] for k in fields}


# ---------------------------------------------------------------- moving a deal


def _check_move(deal: Mapping[str, Any], now: datetime, stage: str | None, expected_close: date | None,
                amount: float | None, contacts: int | None, reason: str | None) -> list[str]:
    problems: list[str] = []
    if stage is not None and stage not in OPEN_STAGES:
        problems.append(f"The stage {stage!r} is not an open stage: choose {', '.join(OPEN_STAGES)} (close the deal "
                        "as won or lost to end it).")
    elif stage is not None and OPEN_STAGES.index(stage) < OPEN_STAGES.index(deal["stage"]) and not reason:
        problems.append(f"Moving back from {STAGE_LABELS[deal['stage']]} to {STAGE_LABELS[stage]} needs a reason "
                        "(it is kept in the deal's history).")
    if expected_close is not None and expected_close != deal["expected_close"] and expected_close < now.date():
        problems.append(f"The expected close {expected_close:%d %b %Y} is in the past: pick today "
                        f"({now:%d %b %Y}) or later.")
    if amount is not None and not (math.isfinite(amount) and amount > 0):
        problems.append("The amount must be a positive number of dollars (expected annual revenue).")
    low, high = CONTACTS_RANGE
    if contacts is not None and not (isinstance(contacts, int) and low <= contacts <= high):
        problems.append(f"Contacts must be a whole number from {low} to {high} (people engaged on the merchant's "
                        "side).")
    if reason is not None and len(reason) > MAX_REASON:
        problems.append(f"The reason is {len(reason)} characters; keep it to {MAX_REASON}.")
    return problems


def move(store: Store, actor: Actor, deal_id: int, now: datetime, stage: str | None = None,
         expected_close: date | None = None, amount: float | None = None, competitor: str | None = None,
         contacts: int | None = None, reason: str | None = None) -> dict[str, Any]:
    """Change an open deal's stage, expected close, amount, competitor or contacts (None: as it is) in one
    transaction, with opportunity_changes rows for stage, expected close and amount and an audit record. Every
    problem is named in one ValueError and nothing is written. Returns {deal_id, changes: [{field, before,
    after}], message}."""
    _require_writer(actor)
    text = (reason or "").strip() or None
    with store.write() as con:
        deal = _deal(store, con, actor, deal_id)
        problems = _check_move(deal, now, stage, expected_close, amount, contacts, text)
        name = _competitor(competitor, problems)
        _fail(problems)
        wanted = {"stage": stage, "expected_close": expected_close, "amount": None if amount is None else float(amount),
                  "competitor": name, "contacts": contacts}
        changes = [{"field": k, "before": deal[k], "after": v} for k, v in wanted.items()
                   if v is not None and v != deal[k]]
        if not changes:
            raise ValueError(f"Deal {deal_id} already stands as given: change a field before saving.")
        after = {**deal, **{c["field"]: c["after"] for c in changes}}
        store.run("deals_update_open", con, deal_id=deal["id"], stage=after["stage"],
                  expected_close=after["expected_close"], amount=after["amount"], competitor=after["competitor"],
                  contacts=after["contacts"])
        tracked = [c for c in changes if c["field"] in TRACKED]
        _insert_changes(store, con, deal["id"], tracked, now, actor)
        fields = tuple(c["field"] for c in changes)
        audit.record(con, actor.username, "update", "opportunity", deal["id"], now,
                     before=_audit_view(deal, fields), after=_audit_view(after, fields), reason=text)
    return {"deal_id": deal["id"], "changes": changes,
            "message": f"Deal {deal['id']} ({deal['merchant']}): " + "; ".join(_describe(c) for c in changes) + "."}


def _insert_changes(store: Store, con: duckdb.DuckDBPyConnection, deal_id: int, changes: list[dict[str, Any]],
                    now: datetime, actor: Actor) -> None:
    if not changes:
        return
    store.run("deals_insert_changes", con, deal_id=deal_id, now=now, actor=actor.username,
              fields=[c["field"] for c in changes], from_values=[_text(c["before"]) for c in changes],
              to_values=[_text(c["after"]) for c in changes])


def _show(field: str, value: Any) -> str:
    if value is None:
        return "—"
    if field == "stage":
        return STAGE_LABELS.get(value, value)
    if field == "amount":
        return f"${value:,.0f}"
    if field == "expected_close":
        return f"{value:%d %b %Y}"
    return str(value)


def _describe(change: Mapping[str, Any]) -> str:
    label = change["field"].replace("_", " ")
    return f"{label} {_show(change['field'], change['before'])} → {_show(change['field'], change['after'])}"


# ---------------------------------------------------------------- closing a deal


def _check_reason(won: bool, reason: str | None, problems: list[str]) -> str | None:
    """The reason as stored (a listed one in its listed spelling, or "other: <text>")."""
    text = " ".join((reason or "").split())
    listed = reasons_for(won)
    kind = "won" if won else "lost"
    choose = f"choose one of {', '.join(listed)}, or write \"other: <what happened>\""
    if not text:
        problems.append(f"Give the reason the deal was {kind}: {choose}.")
        return None
    for r in listed:
        if text.lower() == r.lower():
            return r
    if text.lower().startswith(OTHER.strip()):
        detail = text[len(OTHER.strip()):].strip(" :")
        if not detail:
            problems.append("Say what the other reason was after \"other:\".")
        elif len(detail) > MAX_REASON:
            problems.append(f"The other reason is {len(detail)} characters; keep it to {MAX_REASON}.")
        return OTHER + detail
    problems.append(f"{text!r} is not a reason a deal is {kind} for: {choose}.")
    return None


def close(store: Store, actor: Actor, deal_id: int, won: bool, reason: str, now: datetime,
          competitor: str | None = None) -> dict[str, Any]:
    """Close an open deal as won or lost with its reason (a listed one or "other: <text>") in one transaction: the
    deal (stage, won, closed_at=now, win or loss reason, competitor), a stage row in opportunity_changes, the lead's
    status (see `_lead_move`) and an audit record. Every problem is named in one ValueError and nothing is written.
    Returns {deal_id, won, reason, competitor, lead: {lead_id, before, after, moved, why}, message}."""
    _require_writer(actor)
    won = bool(won)
    with store.write() as con:
        deal = _deal(store, con, actor, deal_id)
        problems: list[str] = []
        stored_reason = _check_reason(won, reason, problems)
        rival = _competitor(competitor, problems) or deal["competitor"]
        if not won and stored_reason == "competitor" and rival in (None, "none"):
            problems.append("The deal was lost to a competitor: name the competitor (for instance "
                            f"{', '.join(c for c in COMPETITORS if c != 'none')}).")
        _fail(problems)
        stage = "closed_won" if won else "closed_lost"
        after = {"stage": stage, "won": won, "closed_at": now, "win_reason": stored_reason if won else None,
                 "loss_reason": None if won else stored_reason, "competitor": rival}
        store.run("deals_close_open", con, deal_id=deal["id"], now=now, **{k: v for k, v in after.items()
                                                                           if k != "closed_at"})
        _insert_changes(store, con, deal["id"], [{"field": "stage", "before": deal["stage"], "after": stage}], now,
                        actor)
        audit.record(con, actor.username, "close", "opportunity", deal["id"], now,
                     before=_audit_view(deal, tuple(after)), after=after, reason=stored_reason)
        lead = _lead_move(store, con, actor, deal, won, stored_reason or "", now)
    outcome = "won" if won else "lost"
    message = (f"Deal {deal['id']} ({deal['merchant']}) closed {outcome}, reason “{stored_reason}”"
               + (f", competitor {rival}" if rival else "") + f". {lead['why']}")
    return {"deal_id": deal["id"], "won": won, "reason": stored_reason, "competitor": rival, "lead": lead,
            "message": message}


def _lead_move(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor, deal: Mapping[str, Any], won: bool,
               reason: str, now: datetime) -> dict[str, Any]:
    """Move the deal's lead to won or lost inside the deal's transaction, as qualification moves a lead by hand
    (status, stage-change row, audit record, follow-up rules). A won deal wins the lead; a lost one loses it only
    when the lead has no other open deal. A lead already in an exit (won, lost, disqualified) is left there."""
    target = "won" if won else "lost"
    before = deal["lead_status"]
    out = {"lead_id": deal["lead_id"], "before": before, "after": before, "moved": False}
    label = qualification.STAGE_LABELS
    if before == target:
        return {**out, "why": f"The lead already is {label[target]}."}
    if not won and deal["other_open"]:
        return {**out, "why": f"The lead stays {label.get(before, before)}: it has {deal['other_open']} other open "
                              "deal(s)."}
    if before not in qualification.STAGES:
        return {**out, "why": f"The lead stays {label.get(before, before)}: reopen it on the Leads page if it should "
                              "move."}
    if why := qualification.move_refusal(actor.role, before, target):
        return {**out, "why": f"The lead stays {label.get(before, before)}: {why}."}
    # change_stage opens its own transaction; its writer is used here so the lead moves with the deal or not at all
    plan = pl.DataFrame({"lead_id": [deal["lead_id"]], "step": [1], "from_status": [before], "to_status": [target],
                         "reason": [f"deal {deal['id']} closed {target}: {reason}"]},
                        schema=qualification.CHANGES_SCHEMA)
    qualification.apply_changes(store, con, plan, actor.username, now)
    follow_up.after_change(store, con, [deal["lead_id"]], now)
    return {**out, "after": target, "moved": True, "why": f"The lead moved from {label.get(before, before)} to "
                                                          f"{label[target]}."}


# ---------------------------------------------------------------- opening a deal

LEADS_SCHEMA = {"lead_id": pl.Int64, "merchant": pl.String, "status": pl.String, "owner_id": pl.Int64,
                "owner": pl.String, "vertical": pl.String, "submitted_at": pl.Datetime("us"), "matching": pl.Int64}


def leads_for_deal(store: Store, actor: Actor, search: str = "", limit: int = LEAD_LIMIT) -> pl.DataFrame:
    """The actor's leads that a deal can be opened for (in an open stage, owned, with no open deal), the most
    advanced stage first then the newest, at most `limit`, narrowed by part of the merchant's name: lead_id,
    merchant, status, owner_id, owner, vertical, submitted_at, and `matching` (how many match before the limit).
    Readers are refused (they open no deal)."""
    _require_writer(actor)
    rows = store.frame("deals_leads_without_deal", statuses=list(qualification.STAGES), search=(search or "").strip(),
                       limit=max(1, int(limit)), **actor.scope_params())
    return rows.cast(LEADS_SCHEMA)  # type: ignore[arg-type]


def deal_opening(store: Store, actor: Actor, lead_id: int, now: datetime) -> dict[str, Any]:
    """Whether a deal can be opened for this lead, and what the form starts from: {lead_id, merchant, status,
    owner, open_deal_id, why (None: it can; else the one-line reason it cannot), default_close (today + the median
    cycle of the deals won in scope over the last year, or DEFAULT_CYCLE_DAYS), cycle_days, cycle_n}. A lead out of
    scope is refused as one that does not exist; readers are refused."""
    _require_writer(actor)
    with store.read() as con:
        lead = _lead(store, con, actor, lead_id)
        days, n = _cycle(store, con, actor, now)
    problems: list[str] = []
    _check_lead(lead, problems)
    return {"lead_id": lead["id"], "merchant": lead["merchant"], "status": lead["status"], "owner": lead["owner"],
            "open_deal_id": lead["open_deal_id"], "why": " ".join(problems) or None,
            "default_close": now.date() + timedelta(days=days), "cycle_days": days, "cycle_n": n}


def open_deal(store: Store, actor: Actor, lead_id: int, now: datetime, amount: float | None,
              expected_close: date | None, stage: str = "discovery", products: Iterable[str] | None = None,
              discount_pct: float | None = None, contacts: int | None = None, competitor: str | None = None) -> int:
    """Open a deal for a lead, owned by the lead's owner, in one transaction: the opportunity (created_at = now),
    its opening stage row in opportunity_changes, the lead moved on to the opportunity stage when it was before it
    (a stage change with the reason), and an audit record with the after. Every problem is named in one ValueError
    and nothing is written; a lead out of scope is AccessDenied. Returns the new deal's id."""
    _require_writer(actor)
    with store.write() as con:
        lead = _lead(store, con, actor, lead_id)
        problems: list[str] = []
        _check_lead(lead, problems)
        _check_opening(now, amount, expected_close, stage, discount_pct, contacts, problems)
        listed = _products(products, problems)
        rival = _competitor(competitor, problems)
        _fail(problems)
        row = {"lead_id": lead["id"], "owner_id": lead["owner_id"], "amount": float(amount),  # type: ignore[arg-type]
               "stage": stage, "expected_close": expected_close, "products": listed,
               "discount_pct": None if discount_pct is None else float(discount_pct), "contacts": contacts,
               "competitor": rival}
        deal_id = int(store.scalar("deals_insert_open", con, now=now, **row))
        _insert_changes(store, con, deal_id, [{"field": "stage", "before": None, "after": stage}], now, actor)
        audit.record(con, actor.username, "create", "opportunity", deal_id, now, after={**row, "created_at": now})
        _lead_to_opportunity(store, con, actor, lead, deal_id, now)
    return deal_id


def _lead(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor, lead_id: int) -> dict[str, Any]:
    """The lead as a new deal starts from; AccessDenied out of scope (the same answer as for no such lead)."""
    try:
        wanted = int(lead_id)
    except (TypeError, ValueError):
        raise AccessDenied(f"There is no lead {lead_id} in your book.") from None
    rows = store.frame("deals_lead_for_opening", con, lead_id=wanted, **qualification.scope_params(store, con, actor))
    if rows.is_empty() or not rows["in_scope"][0]:
        raise AccessDenied(f"There is no lead {wanted} in your book.")
    return rows.row(0, named=True)


def _cycle(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor, now: datetime) -> tuple[int, int]:
    """The median cycle in whole days of the deals won in scope over the last year, and how many there were."""
    days, n = store.frame("deals_cycle_days", con, since=now - timedelta(days=365), now=now,
                          **actor.scope_params()).row(0)
    if n < MIN_CYCLE_DEALS or days is None:
        return DEFAULT_CYCLE_DAYS, int(n)
    return max(1, round(days)), int(n)


def _check_lead(lead: Mapping[str, Any], problems: list[str]) -> None:
    label = qualification.STAGE_LABELS.get(lead["status"], lead["status"])
    if lead["status"] not in qualification.STAGES:
        problems.append(f"The lead ({lead['merchant']}) is {label}: a closed lead gets no new deal; reopen it on the "
                        "Leads page first if there is new business.")
    elif lead["open_deal_id"] is not None:
        stage = STAGE_LABELS.get(lead["open_deal_stage"], lead["open_deal_stage"])
        problems.append(f"The lead ({lead['merchant']}) already has deal {lead['open_deal_id']} open ({stage}): move "
                        "that deal (Revenue → Deals) instead of opening another.")
    if lead["owner_id"] is None:
        problems.append(f"The lead ({lead['merchant']}) has no owner: assign the lead first (the deal is owned by the "
                        "lead's owner).")


def _check_opening(now: datetime, amount: float | None, expected_close: date | None, stage: str,
                   discount_pct: float | None, contacts: int | None, problems: list[str]) -> None:
    if amount is None or not (isinstance(amount, int | float) and math.isfinite(amount) and 0 < amount <= MAX_AMOUNT):
        problems.append(f"Give the amount: a positive number of dollars of expected annual revenue, at most "
                        f"${MAX_AMOUNT:,.0f}.")
    latest = now.date() + timedelta(days=MAX_CLOSE_DAYS)
    if expected_close is None:
        problems.append("Give the expected close date.")
    elif expected_close < now.date():
        problems.append(f"The expected close {expected_close:%d %b %Y} is in the past: pick today ({now:%d %b %Y}) "
                        "or later.")
    elif expected_close > latest:
        problems.append(f"The expected close {expected_close:%d %b %Y} is more than two years away: pick a date by "
                        f"{latest:%d %b %Y}.")
    if stage not in OPEN_STAGES:
        problems.append(f"The stage {stage!r} is not an open stage: choose {', '.join(OPEN_STAGES)}.")
    low, high = DISCOUNT_RANGE
    if discount_pct is not None and not (isinstance(discount_pct, int | float) and math.isfinite(discount_pct)
                                         and low <= discount_pct <= high):
        problems.append(f"The discount must be a percentage from {low:.0f} to {high:.0f} off list price.")
    low_c, high_c = CONTACTS_RANGE
    if contacts is not None and not (isinstance(contacts, int) and low_c <= contacts <= high_c):
        problems.append(f"Contacts must be a whole number from {low_c} to {high_c} (people engaged on the merchant's "
                        "side).")


def _products(products: Iterable[str] | None, problems: list[str]) -> str | None:
    """The products as stored: comma-separated in PRODUCTS order (None when none are given)."""
    given = {str(p).strip().lower() for p in (products or ())} - {""}
    unknown = sorted(given - set(PRODUCTS))
    if unknown:
        problems.append(f"Unknown product(s) {', '.join(unknown)}: choose from {', '.join(PRODUCTS)}.")
    return ",".join(p for p in PRODUCTS if p in given) or None


def _lead_to_opportunity(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor, lead: Mapping[str, Any],
                         deal_id: int, now: datetime) -> None:
    """A lead before the opportunity stage moves on to it with the deal, as qualification moves a lead by hand."""
    before = lead["status"]
    if before == "opportunity" or qualification.move_refusal(actor.role, before, "opportunity"):
        return
    plan = pl.DataFrame({"lead_id": [lead["id"]], "step": [1], "from_status": [before], "to_status": ["opportunity"],
                         "reason": [f"deal {deal_id} opened"]}, schema=qualification.CHANGES_SCHEMA)
    qualification.apply_changes(store, con, plan, actor.username, now)
    follow_up.after_change(store, con, [lead["id"]], now)
