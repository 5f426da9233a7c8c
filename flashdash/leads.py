"""Leads entered by hand: the new-lead form's validation, and what happens on arrival (assignment, scoring,
qualification) in the same unit of work, so the person who saved it sees where it went and why."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import polars as pl

from flashdash import assignment, audit, crypto, pii, qualification, scoring
from flashdash.access import AccessDenied, Actor
from flashdash.entities import COMPANY_SIZES, INTEREST_LEVELS
from flashdash.store import Store

WRITERS = ("rep", "manager", "admin")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^[+()\d][\d\s().-]{6,24}$")
MAX_TEXT = 200
MAX_VOLUME = 1e10


class LeadError(ValueError):
    """A lead that cannot be saved as given; the message names every problem."""


@dataclass(frozen=True)
class NewLead:
    merchant_name: str
    contact_name: str | None = None
    email: str | None = None
    phone: str | None = None
    vertical: str | None = None
    company_size: str | None = None
    monthly_volume: float | None = None
    city: str | None = None
    channel: str | None = None
    campaign: str | None = None
    landing_page: str | None = None
    interest_level: str | None = None
    language: str | None = None
    budget_confirmed: bool = False


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def validate(lead: NewLead) -> NewLead:
    """The lead with its text trimmed and its vocabularies normalised, or LeadError naming every problem."""
    fields = {k: _clean(v) if isinstance(v, str) or v is None else v for k, v in asdict(lead).items()}
    problems = []
    if not fields["merchant_name"]:
        problems.append("give the merchant's name")
    for name in ("merchant_name", "contact_name", "campaign", "landing_page", "vertical", "channel"):
        if fields[name] and len(fields[name]) > MAX_TEXT:
            problems.append(f"the {name.replace('_', ' ')} is {len(fields[name])} characters; the most is {MAX_TEXT}")
    if fields["email"] and not EMAIL.match(fields["email"]):
        problems.append(f"{fields['email']!r} is not an email address (name@example.com)")
    if fields["phone"] and not PHONE.match(fields["phone"]):
        problems.append(f"{fields['phone']!r} is not a phone number (digits, spaces, + ( ) - .)")
    if not fields["email"] and not fields["phone"]:
        problems.append("give an email or a phone number, so someone can reach the merchant")
    for name, allowed in (("company_size", COMPANY_SIZES), ("interest_level", INTEREST_LEVELS)):
        value = fields[name].lower() if fields[name] else None
        if value and value not in allowed:
            problems.append(f"the {name.replace('_', ' ')} must be one of {', '.join(allowed)} (got {fields[name]!r})")
        fields[name] = value
    volume = fields["monthly_volume"]
    if volume is not None and not (0 <= float(volume) <= MAX_VOLUME):
        problems.append(f"the monthly volume must be between 0 and {MAX_VOLUME:,.0f} (got {volume:,})")
    for name in ("vertical", "channel", "language"):
        fields[name] = fields[name].lower() if fields[name] else None
    if problems:
        raise LeadError("The lead was not saved: " + "; ".join(problems) + ".")
    return NewLead(**fields)


def create_lead(store: Store, actor: Actor, lead: NewLead, now: datetime) -> dict[str, Any]:
    """Save a new lead and, in the same transaction, route it (a rep's own lead stays theirs), score it and
    let the qualification rules advance it. Returns where it went and why: id, status, owner, assignment_reason,
    score, probability, band."""
    if actor.role not in WRITERS:
        raise AccessDenied(f"A {actor.role} reads leads but does not enter them.")
    lead = validate(lead)
    with store.write() as con:
        if lead.email:
            same = store.frame("lead_same_email", con, email_bidx=crypto.blind_index(store.keyring, lead.email, "email"),
                               **actor.scope_params())
            if not same.is_empty():
                row = same.row(0, named=True)
                where = (f"lead {row['id']} ({row['merchant_name']}, {row['status']})" if row["visible"]
                         else "a lead in another team's book")
                raise LeadError(f"The lead was not saved: {lead.email} is already {where}. Open that lead instead, "
                                "or ask its owner's manager to reassign it.")
        city = store.frame("lead_city", con, city=lead.city or "") if lead.city else pl.DataFrame()
        if lead.city and city.is_empty():
            raise LeadError(f"The lead was not saved: {lead.city!r} is not a city Flash serves; pick one from the "
                            "list (the city decides the territory and the team).")
        region_id = city["region_id"][0] if not city.is_empty() else None
        own = actor.role == "rep" and actor.rep_id is not None
        values = {**asdict(lead), "city": city["name"][0] if not city.is_empty() else None}
        lead_id = store.scalar("lead_insert", con, region_id=region_id, submitted_at=now,
                               owner_id=actor.rep_id if own else None, assigned_at=now if own else None,
                               **{**values, **pii.lead_values(store.keyring, values)})
        store.run("lead_first_stage", con, lead_id=lead_id, changed_at=now, actor=actor.username,
                  reason="entered by hand")
        audit.record(con, actor.username, "create", "lead", lead_id, now, after=values, reason="new-lead form")
        if own:
            store.run("lead_self_assignment", con, lead_id=lead_id, rep_id=actor.rep_id, assigned_at=now,
                      reason=f"entered by its rep, {actor.name}", actor=actor.username)
        else:
            assignment.assign(store, con, [lead_id], now, actor=actor.username)
        arrived(store, con, [lead_id], now)
        return store.frame("lead_outcome", con, lead_id=lead_id).row(0, named=True)


def arrived(store: Store, con: Any, lead_ids: list[int], now: datetime) -> None:
    """What every new or changed lead goes through inside the write that brought it: its score, then the
    qualification rules (which read the score), then its score again if a rule moved it on; then the follow-up
    the change calls for (the task rules' tasks, the pause of its sequences)."""
    from flashdash import follow_up  # follow_up builds on sequences and tasks, which build on this layer

    scoring.rescore_leads(store, con, lead_ids, now)
    moved = qualification.advance(store, con, lead_ids, now)
    if not moved.is_empty():
        scoring.rescore_leads(store, con, moved["lead_id"].unique().to_list(), now)
    follow_up.after_change(store, con, lead_ids, now)


def form_options(store: Store) -> dict[str, list[str]]:
    rows = store.frame("lead_form_options")
    return {kind: rows.filter(pl.col("kind") == kind)["value"].to_list() for kind in ("city", "vertical", "channel")}


def assignment_history(store: Store, actor: Actor, lead_id: int) -> pl.DataFrame:
    """Who the lead went to, by which strategy and why, newest first (empty for a lead outside the scope)."""
    return store.frame("lead_assignment_history", lead_id=lead_id, **actor.scope_params())
