"""Email to leads: templates rendered in Jinja2's sandbox with the lead's fields, queued in the store, sent
over SMTP by the scheduler, tracked (opens and clicks) by the tracking service.

A template can use {{ lead.<field> }}, {{ rep.<field> }} and {{ sender.<field> }}. A token the lead cannot
fill (a missing field, an unknown name) is an error before anything is queued, never a blank in a sent mail.

Sending (`send_due`, a scheduler job) never sends an email twice. Each attempt is claimed in a short write
('sending', with the Message-ID it will carry) before anything goes to SMTP, so a second sender finds nothing
to take. Inside that write, before it commits, a journal file beside the store (`<db>.mail/`) records the
claiming process and its claims; with the store closed, it notes each attempt's start (synced to disk before
the SMTP transaction) and the server's acceptance; one short write records the outcomes and the file goes.
An attempt left 'sending' by a process that died (or whose outcomes could not be stored) is settled from
the journal by the next run: never started -> queued again; accepted -> 'sent'; started but not known to be
accepted -> 'failed', saying it may have been delivered, never sent again by itself (a person checks and
resends). A connection that breaks after the message was handed over is settled that way at once.
"""

from __future__ import annotations

import html
import os
import random
import re
import secrets
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import IO, Any

import duckdb
import polars as pl
import psutil
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from flashdash import audit, crypto, faults, tracking
from flashdash.access import AccessDenied, Actor, mask_pii, require_team_editor
from flashdash.store import Store

# What a team's manager (or an admin) changes, and what only an admin does: access.require_team_editor.
EDITED = ("email templates", "edits the store-wide templates")

MAX_SUBJECT = 200
MAX_BODY = 20_000
# What a template may say about a lead and the rep (contact fields included: the email goes to the lead).
LEAD_FIELDS = ("merchant_name", "contact_name", "first_name", "email", "phone", "vertical", "company_size",
               "monthly_volume", "city", "channel", "campaign", "interest_level", "status")
REP_FIELDS = ("name", "first_name", "email")

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)


class MailError(ValueError):
    """An email that cannot be queued or a template that cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def check_template(subject: str, body: str) -> list[str]:
    """Every problem with a template's text: syntax, length, names it may not use."""
    problems = []
    if not (subject or "").strip():
        problems.append("give the email a subject")
    if len(subject or "") > MAX_SUBJECT:
        problems.append(f"the subject is {len(subject)} characters; keep it under {MAX_SUBJECT}")
    if not (body or "").strip():
        problems.append("write the email's body")
    if len(body or "") > MAX_BODY:
        problems.append(f"the body is {len(body):,} characters; the most is {MAX_BODY:,}")
    for part, text in (("subject", subject or ""), ("body", body or "")):
        try:
            names = meta.find_undeclared_variables(_ENV.parse(text))
        except TemplateSyntaxError as exc:
            problems.append(f"the {part} has a template error on line {exc.lineno}: {exc.message}")
            continue
        unknown = sorted(names - {"lead", "rep", "sender"})
        if unknown:
            problems.append(f"the {part} uses {', '.join(unknown)}; a template can use lead, rep and sender "
                            f"(e.g. {{{{ lead.contact_name }}}})")
    return problems


def context(lead: dict[str, Any], rep: dict[str, Any] | None) -> dict[str, Any]:
    """What a template sees: the lead's fields that have a value (a missing one is not there, so its token
    fails instead of rendering empty), and the rep's, as `rep` and `sender`."""
    person = {k: lead.get(k) for k in LEAD_FIELDS if lead.get(k) not in (None, "")}
    if lead.get("contact_name"):
        person["first_name"] = str(lead["contact_name"]).split()[0]
    who = {k: rep.get(k) for k in REP_FIELDS if rep and rep.get(k)}
    if rep and rep.get("name"):
        who["first_name"] = str(rep["name"]).split()[0]
    return {"lead": person, "rep": who, "sender": who}


def render(subject: str, body: str, lead: dict[str, Any], rep: dict[str, Any] | None) -> Rendered:
    """The template filled for this lead and rep; MailError naming the first token it cannot fill."""
    problems = check_template(subject, body)
    if problems:
        raise MailError("The template cannot be used: " + "; ".join(problems) + ".")
    values = context(lead, rep)
    try:
        return Rendered(_ENV.from_string(subject).render(values).strip(), _ENV.from_string(body).render(values))
    except UndefinedError as exc:
        raise MailError(f"The template needs something this lead does not have ({exc.message}); fill it in on "
                        "the lead, or change the template.") from None
    except SecurityError as exc:
        raise MailError(f"The template tries something a template may not do ({exc}).") from None


def missing_tokens(subject: str, body: str, lead: dict[str, Any], rep: dict[str, Any] | None) -> list[str]:
    """The tokens (lead.x, rep.x) a template uses that this lead or rep cannot fill, for the preview."""
    values = context(lead, rep)
    missing = []
    for text in (subject, body):
        try:
            ast = _ENV.parse(text or "")
        except TemplateSyntaxError:
            continue
        for node in ast.find_all(nodes.Getattr):
            owner = getattr(node.node, "name", None)
            if owner in values and node.attr not in values[owner]:
                missing.append(f"{owner}.{node.attr}")
    return sorted(set(missing))


def queue_email(store: Store, con: Any, queued_by: str, lead_id: int, subject: str, body: str, now: datetime, *,
                template_id: int | None = None, enrollment_id: int | None = None, step_id: int | None = None,
                rep_id: int | None = None) -> int:
    """Render and queue one email to a lead inside the caller's write unit; returns its id. A lead marked
    do-not-contact, or without an email address, gets a 'suppressed' row saying why instead of a queued one
    (a sequence step keeps its record), and a person sending by hand gets MailError from `check_sendable`."""
    lead, rep = _lead_and_rep(store, con, lead_id, rep_id)
    why_not = _unsendable(lead)
    rendered = Rendered(subject, body) if why_not else render(subject, body, lead, rep)
    email_id = store.scalar(
        "mail_insert", con, lead_id=lead_id, rep_id=rep.get("id") if rep else None, template_id=template_id,
        enrollment_id=enrollment_id, step_id=step_id, subject=rendered.subject,
        to_address=crypto.seal(store.keyring, lead.get("email"), "email"),  # stored sealed, as on the lead
        body=crypto.seal(store.keyring, rendered.body, "text"), token=secrets.token_urlsafe(16), status="suppressed" if why_not else "queued",
        last_error=why_not, queued_by=queued_by, queued_at=now, next_attempt_at=None if why_not else now)
    audit.record(con, queued_by, "queue" if not why_not else "suppress", "email", email_id, now,
                 after={"lead_id": lead_id, "template_id": template_id, "subject": rendered.subject,
                        "enrollment_id": enrollment_id, "step_id": step_id}, reason=why_not)
    return email_id


def check_sendable(store: Store, con: Any, lead_id: int) -> None:
    """MailError when this lead must not get email (do-not-contact, or no address): for a person sending."""
    lead, _ = _lead_and_rep(store, con, lead_id, None)
    why_not = _unsendable(lead)
    if why_not:
        raise MailError(f"Not sent: {why_not}.")


def _unsendable(lead: dict[str, Any]) -> str | None:
    if lead.get("do_not_contact"):
        return "the lead asked not to be contacted"
    if not lead.get("email"):
        return "the lead has no email address"
    return None


def _lead_and_rep(store: Store, con: Any, lead_id: int, rep_id: int | None) -> tuple[dict[str, Any], dict | None]:
    leads = store.frame("mail_lead", con, lead_id=lead_id)
    if leads.is_empty():
        raise MailError(f"There is no lead {lead_id}.")
    lead = leads.row(0, named=True)
    reps = store.frame("mail_rep", con, rep_id=rep_id if rep_id is not None else lead["owner_id"])
    return lead, (reps.row(0, named=True) if not reps.is_empty() else None)


# ---------------------------------------------------------------- the template library

WRITERS = ("rep", "manager", "admin")
MAX_TEMPLATE_NAME = 100
MASK = "•••"

# Shown (and usable by their text) while no store-wide template is stored; `install_starters` stores them.
# They use only what nearly every lead has (the merchant, the contact's first name) and the rep's name.
STARTERS: tuple[tuple[str, str, str], ...] = (
    ("Intro", "{{ lead.merchant_name }} and Flash: card payments that pay out next day",
     "Hi {{ lead.first_name }},\n\n"
     "Thanks for getting in touch with Flash. We help merchants like {{ lead.merchant_name }} take card payments "
     "in store and online, with next-day payouts and no setup fee.\n\n"
     "Could we find 20 minutes this week to hear what you need? Pick a time that suits you: "
     "https://flashpay.example/book\n\n"
     "Best,\n{{ rep.name }}\n"),
    ("Pricing follow-up", "Flash pricing for {{ lead.merchant_name }}",
     "Hi {{ lead.first_name }},\n\n"
     "As promised, here is how Flash pricing works: one rate per card payment, no monthly fee, and volume "
     "discounts from the first month. The details are at https://flashpay.example/pricing\n\n"
     "I am happy to walk through the numbers for your volume on a short call.\n\n"
     "Best,\n{{ rep.name }}\n"),
    ("Demo recap", "Recap of our Flash demo",
     "Hi {{ lead.first_name }},\n\n"
     "Thank you for your time today. The setup guide we looked at is here: https://flashpay.example/setup\n\n"
     "Once you have had a look, reply to this email with any questions, and I will send over the agreement "
     "for {{ lead.merchant_name }}.\n\n"
     "Best,\n{{ rep.name }}\n"),
    ("Nurture: case study", "How a merchant like {{ lead.merchant_name }} cut payment costs",
     "Hi {{ lead.first_name }},\n\n"
     "One of our merchants moved their card payments to Flash last year and cut what they pay per payment by "
     "a fifth, with their money in the bank the next morning. Their story: "
     "https://flashpay.example/case-studies\n\n"
     "If the timing is right for {{ lead.merchant_name }}, just reply and we will set up a call.\n\n"
     "Best,\n{{ rep.name }}\n"),
)

TEMPLATE_SCHEMA = {"id": pl.Int64, "team_id": pl.Int64, "team_name": pl.String, "name": pl.String,
                   "subject": pl.String, "body": pl.String, "active": pl.Boolean, "updated_by": pl.String,
                   "updated_at": pl.Datetime("us"), "source": pl.String}


def _actor_teams(store: Store, con: Any, actor: Actor) -> list[int]:
    if actor.rep_id is None:
        return []
    return store.frame("mail_actor_teams", con, rep_id=actor.rep_id)["id"].to_list()


def _sees_all_templates(actor: Actor) -> bool:
    return actor.role in ("admin", "analyst", "executive")


def templates(store: Store, actor: Actor, include_inactive: bool = False) -> pl.DataFrame:
    """The email templates the actor may use: their teams' and the store-wide ones (admins, analysts and
    executives: every team's); source says which ('team', 'store', or 'starter': the built-in library, shown
    with no id while no store-wide template is stored, usable by its text)."""
    with store.read() as con:
        stored = store.frame("mail_templates", con, all_teams=_sees_all_templates(actor),
                             team_ids=_actor_teams(store, con, actor), include_inactive=include_inactive)
        storewide = store.scalar("mail_storewide_template_count", con)
    stored = stored.cast({k: v for k, v in TEMPLATE_SCHEMA.items() if k in stored.columns}).select(
        list(TEMPLATE_SCHEMA))
    if storewide:
        return stored
    starters = pl.DataFrame([{"id": None, "team_id": None, "team_name": None, "name": n, "subject": s, "body": b,
                              "active": True, "updated_by": None, "updated_at": None, "source": "starter"}
                             for n, s, b in STARTERS], schema=TEMPLATE_SCHEMA)
    return pl.concat([starters, stored])


def install_starters(store: Store, now: datetime, actor_username: str = "system") -> int:
    """Store the starter library as store-wide templates, unless a store-wide template exists; returns how many
    it stored. Sequences refer to templates by id, so a store that sends sequences wants them stored."""
    with store.write() as con:
        return store_starters(store, con, now, actor_username)


def store_starters(store: Store, con: Any, now: datetime, actor_username: str) -> int:
    """install_starters inside the caller's write."""
    if store.scalar("mail_storewide_template_count", con):
        return 0
    for name, subject, body in STARTERS:
        template_id = store.scalar("mail_template_insert", con, team_id=None, template_name=name,
                                   subject=subject, body=body, active=True, updated_by=actor_username,
                                   updated_at=now)
        audit.record(con, actor_username, "create", "email_template", template_id, now,
                     after={"name": name, "team_id": None, "subject": subject}, reason="starter library")
    return len(STARTERS)


def unsafe_names(subject: str, body: str) -> list[str]:
    """Attributes a template reaches for that start with an underscore: the way out of a sandbox, refused
    when a template is saved (and by the sandbox when one is rendered)."""
    found = []
    for part, text in (("subject", subject or ""), ("body", body or "")):
        try:
            ast = _ENV.parse(text)
        except TemplateSyntaxError:
            continue  # check_template names it
        for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
            attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            if isinstance(attr, str) and attr.startswith("_"):
                found.append(f"the {part} reaches for {attr!r}, which a template may not use")
    return sorted(set(found))


def _template_problems(name: str, subject: str, body: str, active: Any) -> list[str]:
    problems = []
    if not name:
        problems.append("give the template a name, e.g. 'Pricing follow-up'")
    elif len(name) > MAX_TEMPLATE_NAME:
        problems.append(f"the name is {len(name)} characters; keep it under {MAX_TEMPLATE_NAME}")
    if not isinstance(active, bool):
        problems.append(f"active must be true or false (got {active!r})")
    return problems + check_template(subject, body) + unsafe_names(subject, body)



def save_template(store: Store, actor: Actor, template_id: int | None, name: str, subject: str, body: str,
                  team_id: int | None, active: bool, now: datetime) -> int:
    """Create (template_id None) or change an email template; returns its id. Managers edit their own teams'
    templates, admins any and the store-wide ones (team_id None). Every problem is named; audited."""
    name = (name or "").strip()
    problems = _template_problems(name, subject, body, active)
    with store.write() as con:
        before = None
        if template_id is not None:
            old = store.frame("mail_template", con, template_id=template_id)
            if old.is_empty():
                raise MailError(f"There is no email template {template_id}; pick one from the list.")
            before = old.row(0, named=True)
            require_team_editor(store, con, actor, before["team_id"], *EDITED)  # nobody takes another team's template
        if team_id is not None and store.frame("mail_team", con, team_id=team_id).is_empty():
            problems.append(f"there is no team {team_id}; pick one of the teams listed")
        require_team_editor(store, con, actor, team_id, *EDITED)
        if name and store.scalar("mail_template_name_taken", con, team_id=team_id, template_name=name,
                                 template_id=template_id):
            problems.append(f"{'the store' if team_id is None else f'team {team_id}'} already has a template "
                            f"named {name!r}; pick another name or edit that one")
        if problems:
            raise MailError("The template was not saved: " + "; ".join(problems) + ".")
        fields = {"team_id": team_id, "template_name": name, "subject": subject, "body": body, "active": active,
                  "updated_by": actor.username, "updated_at": now}
        if template_id is None:
            template_id = store.scalar("mail_template_insert", con, **fields)
        else:
            store.run("mail_template_update", con, template_id=template_id, **fields)
        after = {"id": template_id, "team_id": team_id, "name": name, "subject": subject, "body": body,
                 "active": active}
        audit.record(con, actor.username, "create" if before is None else "update", "email_template",
                     template_id, now, before=_template_view(before), after=after)
    return template_id


def _template_view(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: row[k] for k in ("id", "team_id", "name", "subject", "body", "active")}


def _scoped_lead(store: Store, con: Any, actor: Actor, lead_id: int) -> dict[str, Any]:
    rows = store.frame("mail_lead_in_scope", con, lead_id=lead_id, **actor.scope_params())
    if rows.is_empty():
        raise MailError(f"There is no lead {lead_id} in your book; pick one of your leads.")
    return rows.row(0, named=True)


def preview(store: Store, actor: Actor, subject: str, body: str, lead_id: int) -> dict[str, Any]:
    """The template as this lead (in the actor's scope) would get it. Never fails for a token the lead cannot
    fill: it shows it as [lead.x] and lists it in `missing`. Also `problems` (the template's, which keep it
    from being saved or sent; the text is then shown as written) and `blocked` (why this lead gets no email:
    do-not-contact, no address; else None). A template reaching out of the sandbox is refused (MailError)."""
    with store.read() as con:
        lead = _scoped_lead(store, con, actor, lead_id)
        reps = store.frame("mail_rep", con, rep_id=actor.rep_id if actor.rep_id is not None else lead["owner_id"])
    rep = reps.row(0, named=True) if not reps.is_empty() else None
    blocked = _unsendable(lead)
    if actor.masks_pii:  # analysts and executives see the template's shape, not the contact's details
        lead = {k: (MASK if k in ("contact_name", "email", "phone") and v else v) for k, v in lead.items()}
    return {**preview_text(subject, body, lead, rep), "blocked": blocked}


def preview_text(subject: str, body: str, lead: dict[str, Any], rep: dict[str, Any] | None) -> dict[str, Any]:
    """preview's rendering, on plain dicts: subject, body, missing, problems."""
    unsafe = unsafe_names(subject, body)
    if unsafe:
        raise MailError("The template tries something a template may not do: " + "; ".join(unsafe) + ".")
    problems = check_template(subject, body)
    missing = missing_tokens(subject, body, lead, rep)
    if problems:
        return {"subject": subject, "body": body, "missing": missing, "problems": problems}
    values = context(lead, rep)
    for token in missing:  # each gap shown as itself, so the person sees where it is
        owner, _, attr = token.partition(".")
        values[owner] = {**values[owner], attr: f"[{token}]"}
    try:
        return {"subject": _ENV.from_string(subject).render(values).strip(),
                "body": _ENV.from_string(body).render(values), "missing": missing, "problems": []}
    except SecurityError as exc:
        raise MailError(f"The template tries something a template may not do ({exc}).") from None
    except (UndefinedError, TypeError, ValueError, ArithmeticError) as exc:
        return {"subject": subject, "body": body, "missing": missing,
                "problems": [f"the template cannot be filled for this lead: {exc}"]}


# ---------------------------------------------------------------- sending by hand


def _usable_template(store: Store, con: Any, actor: Actor, template_id: int) -> dict[str, Any]:
    rows = store.frame("mail_template", con, template_id=template_id)
    if rows.is_empty():
        raise MailError(f"There is no email template {template_id}; pick one from the list.")
    row = rows.row(0, named=True)
    if not row["active"]:
        raise MailError(f"The template {row['name']!r} is switched off; pick another or ask your manager.")
    if row["team_id"] is not None and actor.role != "admin" and row["team_id"] not in _actor_teams(store, con, actor):
        raise AccessDenied(f"The template {row['name']!r} belongs to another team.")
    return row


def send_now(store: Store, actor: Actor, lead_id: int, template: int | tuple[str, str], now: datetime) -> int:
    """Queue one email to a lead in the actor's scope, from a stored template (its id) or a (subject, body),
    and log it as an 'email' activity (source 'email') in the same transaction; returns the email's id.
    MailError for a lead that must not get email or a token it cannot fill: then nothing is written.
    The scheduler's send_due sends it."""
    from flashdash import leads  # leads pulls in scoring and assignment; import where it is needed

    if actor.role not in WRITERS:
        raise AccessDenied(f"A {actor.role} reads email but does not send it.")
    with store.write() as con:
        lead = _scoped_lead(store, con, actor, lead_id)
        if isinstance(template, tuple):
            template_id, (subject, body) = None, template
        else:
            row = _usable_template(store, con, actor, int(template))
            template_id, subject, body = row["id"], row["subject"], row["body"]
        check_sendable(store, con, lead_id)
        rep_id = actor.rep_id if actor.rep_id is not None else lead["owner_id"]
        email_id = queue_email(store, con, actor.username, lead_id, subject, body, now, template_id=template_id,
                               rep_id=rep_id)
        queued = store.frame("mail_email", con, email_id=email_id).row(0, named=True)
        activity_id = store.scalar("mail_activity_insert", con, lead_id=lead_id, rep_id=rep_id, occurred_at=now,
                                   outcome="emailed from the app", notes=f"Subject: {queued['subject']}")
        store.run("mail_first_response", con, lead_id=lead_id, occurred_at=now)
        audit.record(con, actor.username, "create", "activity", activity_id, now,
                     after={"lead_id": lead_id, "type": "email", "email_id": email_id, "source": "email"},
                     reason="email sent from the app")
        leads.arrived(store, con, [lead_id], now)  # an email counts as a touch: score and stage follow
    return email_id


# ---------------------------------------------------------------- SMTP

TLS_MODES = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
SMTP_TIMEOUT = 20.0  # seconds for each connect and each command: a dead server cannot hold up the scheduler
NOT_CONFIGURED = ("SMTP is not configured: emails stay queued. Set FLASHDASH_SMTP_HOST (and port, TLS, user, "
                  "password, from address) or the [smtp] table of .streamlit/secrets.toml.")
SMTP_ENV = {"host": "FLASHDASH_SMTP_HOST", "port": "FLASHDASH_SMTP_PORT", "tls": "FLASHDASH_SMTP_TLS",
            "user": "FLASHDASH_SMTP_USER", "password": "FLASHDASH_SMTP_PASSWORD", "from_address": "FLASHDASH_SMTP_FROM"}


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how email leaves: from the environment and secrets, never from the store."""

    host: str
    port: int
    tls: str = "starttls"  # none | starttls | ssl
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    from_address: str = ""
    from_name: str | None = None
    timeout: float = SMTP_TIMEOUT


def smtp_settings(secrets_path: Path | None = None, environ: Mapping[str, str] | None = None) -> SmtpSettings | None:
    """The SMTP settings: FLASHDASH_SMTP_* over `[smtp]` in .streamlit/secrets.toml; None when no host is set.
    MailError naming every setting that is set but unusable."""
    env = os.environ if environ is None else environ
    table = tracking.secrets_section("smtp", secrets_path)

    def pick(key: str) -> str | None:
        value = env.get(SMTP_ENV[key]) if key in SMTP_ENV else None
        value = value if value not in (None, "") else table.get(key)
        return None if value in (None, "") else str(value).strip()

    host = pick("host")
    if not host:
        return None
    problems = []
    tls = (pick("tls") or "starttls").lower()
    if tls not in TLS_MODES:
        problems.append(f"the TLS mode is {tls!r}; use one of {', '.join(TLS_MODES)} (FLASHDASH_SMTP_TLS)")
        tls = "starttls"
    port_text = pick("port")
    port = DEFAULT_PORTS[tls]
    if port_text is not None:
        if port_text.isdigit() and 0 < int(port_text) < 65536:
            port = int(port_text)
        else:
            problems.append(f"the port is {port_text!r}; give a number from 1 to 65535 (FLASHDASH_SMTP_PORT)")
    user, password = pick("user"), pick("password")
    if password and not user:
        problems.append("a password is set without a user (FLASHDASH_SMTP_USER)")
    from_name, from_address = parseaddr(pick("from_address") or "")
    if not from_address and user and "@" in user:
        from_address = user
    if "@" not in from_address:
        problems.append("give the address email is sent from, e.g. FLASHDASH_SMTP_FROM='Flash Sales "
                        "<sales@example.com>'")
    timeout = table.get("timeout", SMTP_TIMEOUT)
    if not isinstance(timeout, int | float) or timeout <= 0:
        problems.append(f"[smtp] timeout is {timeout!r}; give seconds, e.g. 20")
        timeout = SMTP_TIMEOUT
    if problems:
        raise MailError("SMTP is configured but cannot be used: " + "; ".join(problems) + ".")
    return SmtpSettings(host=host, port=port, tls=tls, user=user, password=password, from_address=from_address,
                        from_name=from_name or pick("from_name"), timeout=float(timeout))


class DeliveryError(MailError):
    """An SMTP attempt that did not end in the server accepting the message. `retry`: a later attempt may
    succeed; `uncertain`: the message was handed over and the server may have accepted it (never retried)."""

    def __init__(self, message: str, retry: bool = True, uncertain: bool = False):
        super().__init__(message)
        self.retry = retry and not uncertain
        self.uncertain = uncertain


_SUBJECT_SPACE = re.compile(r"\s+")


def compose(settings: SmtpSettings, to: str, subject: str, body_text: str, body_html: str | None = None,
            headers: Mapping[str, str] | None = None) -> EmailMessage:
    """A MIME message: a text part and, when given, an HTML alternative. `headers` may carry a Message-ID
    made beforehand (send_due records it before sending)."""
    msg = EmailMessage()
    extra = dict(headers or {})
    msg["From"] = formataddr((settings.from_name, settings.from_address)) if settings.from_name \
        else settings.from_address
    msg["To"] = to
    msg["Subject"] = _SUBJECT_SPACE.sub(" ", subject or "").strip()  # a newline in a header would be an injection
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = extra.pop("Message-ID", None) or new_message_id(settings)
    for key, value in extra.items():
        msg[key] = value
    msg.set_content(body_text)
    if body_html is not None:
        msg.add_alternative(body_html, subtype="html")
    return msg


def new_message_id(settings: SmtpSettings) -> str:
    return make_msgid(idstring="flashdash", domain=settings.from_address.rpartition("@")[2] or None)


def deliver(settings: SmtpSettings, to: str, subject: str, body_text: str, body_html: str | None = None,
            headers: Mapping[str, str] | None = None) -> str:
    """Send one message over SMTP now (one connection, timeouts); returns its Message-ID. DeliveryError when the
    server did not accept it. For one-off mail such as task reminders; the email queue uses send_due."""
    msg = compose(settings, to, subject, body_text, body_html, headers)
    with _Session(settings) as session:
        session.send(msg, to)
    return str(msg["Message-ID"])


def deliverer(settings: SmtpSettings | None = None) -> Callable[[str, str, str], str] | None:
    """`deliver` bound to the configured settings as (to, subject, body) -> Message-ID, or None when SMTP is not
    configured: what tasks.send_reminders takes."""
    settings = settings if settings is not None else smtp_settings()
    if settings is None:
        return None
    return lambda to, subject, body: deliver(settings, to, subject, body)


class _Session:
    """One SMTP connection for a batch of messages, opened on first use; a server that cannot be reached is
    tried once per batch, not once per message."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None
        self.unreachable: DeliveryError | None = None

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        try:
            smtp = (smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context) if s.tls == "ssl"
                    else smtplib.SMTP(s.host, s.port, timeout=s.timeout))
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"could not reach the SMTP server {s.host}:{s.port} ({_why(exc)})") from None
        try:
            smtp.ehlo()
            if s.tls == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.user:
                smtp.login(s.user, s.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise DeliveryError(f"the SMTP server {s.host} refused the user {s.user!r} ({_why(exc)}); check "
                                "FLASHDASH_SMTP_USER and FLASHDASH_SMTP_PASSWORD") from None
        except (OSError, smtplib.SMTPException) as exc:
            smtp.close()
            raise DeliveryError(f"the SMTP server {s.host}:{s.port} did not open a session ({_why(exc)})") from None
        return smtp

    def _drop(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
        self.smtp = None

    def _reset(self) -> None:
        try:
            self.smtp.rset()  # type: ignore[union-attr]
        except (smtplib.SMTPException, OSError):
            self._drop()

    def send(self, msg: EmailMessage, to: str) -> None:
        """Hand one message to the server; DeliveryError unless it answered 250 to the message's data."""
        if self.unreachable is not None:
            raise self.unreachable
        if self.smtp is None:
            try:
                self.smtp = self._connect()
            except DeliveryError as exc:
                self.unreachable = exc
                raise
        smtp = self.smtp
        try:
            payload = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
            code, reply = smtp.mail(self.settings.from_address)
            if code != 250:
                self._reset()
                raise DeliveryError(f"the SMTP server refused the sender: {code} {_text(reply)}", retry=code < 500)
            code, reply = smtp.rcpt(to)
            if code not in (250, 251):
                self._reset()
                raise DeliveryError(f"the SMTP server refused {to}: {code} {_text(reply)}", retry=code < 500)
        except UnicodeError:
            self._reset()
            raise DeliveryError(f"{to!r} is not an address this sender can use (not ASCII)", retry=False) from None
        except (smtplib.SMTPException, OSError) as exc:  # before the message went out: safe to try again
            self._drop()
            raise DeliveryError(f"the SMTP connection failed ({_why(exc)})") from None
        try:
            # data() raises for a refused DATA command, and returns the server's verdict on the message itself.
            code, reply = smtp.data(payload)
        except smtplib.SMTPDataError as exc:
            code, reply = exc.smtp_code, exc.smtp_error
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise DeliveryError(f"the SMTP connection broke while the message was handed over ({_why(exc)}); the "
                                "server may have accepted it", uncertain=True) from None
        if code != 250:  # a clear refusal of this message: it was not accepted
            self._reset()
            raise DeliveryError(f"the SMTP server refused the message: {code} {_text(reply)}", retry=code < 500)


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# ---------------------------------------------------------------- the HTML part: pixel and tracked links

_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\")]}"


def links(text: str) -> list[tuple[int, int, str]]:
    """The web links in a plain-text body: (start, end, url), without the punctuation that ends a sentence."""
    found = []
    for m in _URL.finditer(text or ""):
        url = m.group(0)
        while url and url[-1] in _TRAILING and not (url[-1] == ")" and url.count("(") >= url.count(")")):
            url = url[:-1]
        if tracking.trackable(url):
            found.append((m.start(), m.start() + len(url), url))
    return found


def html_body(text: str, link: Callable[[str], str] | None = None, pixel: str | None = None) -> str:
    """The plain-text body as HTML: paragraphs, its links as anchors (through `link(url)` when given), and the
    1x1 open pixel at the end."""
    pieces, pos = [], 0
    for start, end, url in links(text):
        pieces.append(html.escape(text[pos:start], quote=False))
        href = link(url) if link else url
        pieces.append(f'<a href="{html.escape(href)}">{html.escape(url, quote=False)}</a>')
        pos = end
    pieces.append(html.escape(text[pos:], quote=False))
    paragraphs = [p.strip("\n").replace("\n", "<br>\n") for p in re.split(r"\n[ \t]*\n", "".join(pieces))]
    content = "\n".join(f"<p>{p}</p>" for p in paragraphs if p.strip())
    img = (f'\n<img src="{html.escape(pixel)}" width="1" height="1" alt="" '
           'style="display:block;width:1px;height:1px;border:0">' if pixel else "")
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
            f'<body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:1.5">\n{content}{img}\n'
            '</body></html>\n')


def tracked_html(text: str, token: str, base: str, secret: bytes) -> str:
    """The HTML part an email goes out with: its links signed through the tracking service, and its pixel."""
    return html_body(text, lambda url: tracking.click_url(base, secret, token, url), tracking.pixel_url(base, token))


# ---------------------------------------------------------------- the queue

BATCH_SIZE = 200  # emails claimed per run; the rest wait for the next run
MAX_ATTEMPTS = 5
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
SEND_BUDGET = 120.0  # seconds a run sends before it hands back what it has not tried (to the next run)
# An attempt 'sending' with no journal entry (its journal was deleted) is settled as unknown after this long.
STALE_SENDING = timedelta(minutes=10)
SCHEDULER = "scheduler"


@dataclass
class _Claimed:
    id: int
    lead_id: int
    to_address: str
    subject: str
    body: str
    token: str
    attempts: int  # including this one
    message_id: str
    rep_name: str | None
    rep_email: str | None


@dataclass
class _Outcome:
    email: _Claimed
    state: str  # sent | retry | failed | release
    at: datetime
    error: str | None = None


@dataclass(frozen=True)
class _Entry:
    """What the journal knows of one attempt: its last state, when, and whether its sender still runs."""

    state: str  # claim | start | accepted
    at: datetime
    owner_alive: bool


class _Batch:
    """One run's journal file: who owns it (process id and start time), then a line per claim, start and
    acceptance. 'start' lines are synced to disk before the SMTP transaction they announce."""

    def __init__(self, path: Path, message_ids: list[str], at: datetime):
        self.path = path
        me = psutil.Process()
        self.fh: IO[str] = path.open("x", encoding="utf-8")
        self.fh.write(f"owner {me.pid} {me.create_time()!r}\n")
        for message_id in message_ids:
            self.fh.write(f"claim {at.isoformat()} {message_id}\n")
        self._sync()

    def _sync(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def note(self, state: str, message_id: str, at: datetime) -> None:
        self.fh.write(f"{state} {at.isoformat()} {message_id}\n")
        if state == "start":  # the line that keeps a crash from sending twice must be on disk first
            self._sync()
        else:
            self.fh.flush()

    def abandon(self) -> None:
        """Its outcomes could not be stored: let the next run settle them from this file."""
        if not self.fh.closed:
            self.fh.write("abandoned\n")
            self._sync()
            self.fh.close()

    def finish(self) -> None:
        """Its outcomes are stored: the file has nothing left to say."""
        self.fh.close()
        self.path.unlink(missing_ok=True)


class _Journal:
    """What happened to each claimed attempt, on disk beside the store (`<db>.mail/`), while the store is
    closed. A run's file is written (and synced) inside the write that claims its emails, so every claim has
    an owner on disk before it commits; the file is deleted once the run's outcomes are stored. An attempt
    whose owner is gone (its process died, or its run could not store its outcomes) is settled from it."""

    def __init__(self, db: Path):
        self.folder = db.with_name(db.name + ".mail")

    def open_batch(self, message_ids: list[str], at: datetime) -> _Batch:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"send-{os.getpid()}-{datetime.now():%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}.log"
        return _Batch(self.folder / name, message_ids, at)

    def files(self) -> dict[Path, tuple[bool, dict[str, tuple[str, datetime]]]]:
        """Each journal file: whether its owner still runs, and its attempts' last states by Message-ID."""
        out = {}
        for path in sorted(self.folder.glob("send-*.log")) if self.folder.is_dir() else []:
            try:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except FileNotFoundError:
                continue
            states: dict[str, tuple[str, datetime]] = {}
            alive = bool(lines) and _owner_alive(lines[0]) and "abandoned" not in lines
            for line in lines[1:]:
                parts = line.split(" ", 2)
                if len(parts) == 3 and parts[0] in ("claim", "start", "accepted"):
                    try:
                        states[parts[2]] = (parts[0], datetime.fromisoformat(parts[1]))
                    except ValueError:
                        continue
            out[path] = (alive, states)
        return out

    def entries(self) -> dict[str, _Entry]:
        found = {}
        for alive, states in self.files().values():
            for message_id, (state, at) in states.items():
                found[message_id] = _Entry(state, at, alive)
        return found

    def tidy(self, in_flight: set[str]) -> None:
        """Delete the files of runs that are over and whose attempts are all settled in the store."""
        for path, (alive, states) in self.files().items():
            if not alive and not (set(states) & in_flight):
                path.unlink(missing_ok=True)


def _owner_alive(header: str) -> bool:
    parts = header.split()
    if len(parts) != 3 or parts[0] != "owner":
        return False
    try:
        proc = psutil.Process(int(parts[1]))
        # The same process, not a later one given the same id: its start time matches.
        return abs(proc.create_time() - float(parts[2])) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, ValueError):
        return False


def _empty_result() -> dict[str, Any]:
    return {"sent": 0, "failed": 0, "retried": 0, "suppressed": 0, "configured": True, "message": None}


def send_due(store: Store, now: datetime, settings: SmtpSettings | None = None,
             limit: int = BATCH_SIZE) -> dict[str, Any]:
    """Scheduler job: send the queued emails that are due. Returns {sent, failed, retried, suppressed,
    configured, message}; `rows_written(result)` is the job's count.

    One short write claims them (and suppresses those whose lead has since asked not to be contacted or lost
    its address, and settles attempts a dead sender left 'sending'); they go out over one SMTP connection
    with the store closed; one short write records each outcome: 'sent' with its time and Message-ID, a
    retry after 1 min, 5 min, 30 min and 2 h, or 'failed' after the fifth attempt (at once for a permanent
    refusal, or when the connection broke as the message was handed over). Without SMTP settings nothing is
    sent and `message` says so."""
    result = _empty_result()
    settings = settings if settings is not None else smtp_settings()
    if settings is None:
        waiting = store.scalar("mail_queued_count", now=now)
        return {**result, "configured": False, "message": f"{NOT_CONFIGURED} Due now: {waiting}."}
    if not store.scalar("mail_work_count", now=now):
        return result  # no write when there is nothing to send: each write makes the app's caches start over
    journal = _Journal(store.path)
    claimed, batch = _claim(store, now, settings, journal, limit, result)
    if batch is None:
        return result
    try:
        faults.point("send_due.claimed")  # tests stop the process here: claimed, nothing tried
        outcomes = _send_batch(settings, now, claimed, batch, tracking.tracking_secret(store.path))
        _record(store, now, outcomes, result)
    except BaseException:
        batch.abandon()  # the next run settles this batch from its journal
        raise
    batch.finish()
    return result


def _claim(store: Store, now: datetime, settings: SmtpSettings, journal: _Journal, limit: int,
           result: dict[str, Any]) -> tuple[list[_Claimed], _Batch | None]:
    for attempt in range(8):
        counts, batch = _empty_result(), None
        try:
            with store.write() as con:
                in_flight = _settle_abandoned(store, con, now, journal, counts)
                claimed = _claim_due(store, con, now, settings, limit, counts)
                if claimed:  # on disk before the claim commits: no claimed email is ever without an owner
                    batch = journal.open_batch([c.message_id for c in claimed], now)
        except duckdb.TransactionException:
            # Another sender in this process claimed the same rows at the same moment; once it has committed
            # they are no longer queued. Try again, shortly.
            if batch is not None:
                batch.finish()
            time.sleep(0.01 * (attempt + 1) * (0.5 + random.random()))
            continue
        except BaseException:
            if batch is not None:
                batch.finish()  # its claims were rolled back
            raise
        for key in ("sent", "failed", "suppressed"):
            result[key] += counts[key]
        journal.tidy(in_flight | {c.message_id for c in claimed})
        return claimed, batch
    raise MailError("Could not claim the due emails: another sender kept claiming them at the same moment.")


def _settle_abandoned(store: Store, con: Any, now: datetime, journal: _Journal, counts: dict[str, Any]) -> set[str]:
    """Settle the attempts left 'sending' by a sender that is gone, from its journal: never started -> queued
    again, accepted -> 'sent', started -> 'failed' as perhaps delivered. Returns the Message-IDs still in flight."""
    sending = store.frame("mail_sending", con)
    if sending.is_empty():
        return set()
    entries = journal.entries()
    in_flight = set()
    for row in sending.iter_rows(named=True):
        entry = entries.get(row["message_id"])
        if entry is not None and entry.owner_alive:
            in_flight.add(row["message_id"])
        elif entry is None and row["claimed_at"] >= now - STALE_SENDING:
            in_flight.add(row["message_id"])  # no journal entry yet, or any more: give its sender time
        else:
            _settle(store, con, now, row, entry, counts)
    return in_flight


def _settle(store: Store, con: Any, now: datetime, row: dict[str, Any], entry: _Entry | None,
            counts: dict[str, Any]) -> None:
    email_id, message_id = row["id"], row["message_id"]
    key = {"id": email_id, "message_id": message_id}
    if entry is not None and entry.state == "claim":
        store.run("mail_release", con, email_id=email_id, message_id=message_id, now=now)
        audit.record(con, SCHEDULER, "requeue", "email", email_id, now, after=key,
                     reason="its sender stopped before trying it; queued again")
    elif entry is not None and entry.state == "accepted":
        store.run("mail_mark_sent", con, email_id=email_id, message_id=message_id, sent_at=entry.at)
        audit.record(con, SCHEDULER, "send", "email", email_id, now, after={**key, "sent_at": entry.at},
                     reason="accepted by the SMTP server before its sender stopped (from the send journal)")
        counts["sent"] += 1
    else:
        when = f" at {entry.at:%Y-%m-%d %H:%M:%S}" if entry is not None else ""
        error = (f"Its sender stopped while handing it to the SMTP server (attempt {message_id}{when}): it may "
                 "have been delivered, so it is not sent again by itself. Check the mailbox (search for that "
                 "Message-ID) and send it again by hand if it is not there.")
        store.run("mail_mark_failed", con, email_id=email_id, message_id=message_id, error=error)
        audit.record(con, SCHEDULER, "fail", "email", email_id, now, after=key, reason=error)
        counts["failed"] += 1


def _claim_due(store: Store, con: Any, now: datetime, settings: SmtpSettings, limit: int,
               counts: dict[str, Any]) -> list[_Claimed]:
    claimed = []
    for row in store.frame("mail_due", con, now=now, limit=limit).iter_rows(named=True):
        why_not = _unsendable({"do_not_contact": row["do_not_contact"], "email": row["lead_email"]}) \
            or (None if row["to_address"] else "the email has no address")
        if why_not:
            store.run("mail_suppress", con, email_id=row["id"], reason=why_not)
            audit.record(con, SCHEDULER, "suppress", "email", row["id"], now, reason=why_not)
            counts["suppressed"] += 1
            continue
        message_id = new_message_id(settings)
        if store.frame("mail_claim", con, email_id=row["id"], message_id=message_id, now=now).is_empty():
            continue
        claimed.append(_Claimed(row["id"], row["lead_id"], row["to_address"], row["subject"] or "",
                                row["body"] or "", row["token"], row["attempts"] + 1, message_id, row["rep_name"],
                                row["rep_email"]))
    return claimed


def _message(settings: SmtpSettings, email: _Claimed, base: str, secret: bytes) -> EmailMessage:
    headers = {"Message-ID": email.message_id}
    if email.rep_email:  # replies reach the rep, wherever the mail was sent from
        headers["Reply-To"] = formataddr((email.rep_name, email.rep_email)) if email.rep_name else email.rep_email
    return compose(settings, email.to_address, email.subject, email.body,
                   tracked_html(email.body, email.token, base, secret), headers)


def _send_batch(settings: SmtpSettings, now: datetime, claimed: list[_Claimed], batch: _Batch,
                secret: bytes) -> list[_Outcome]:
    """Send with the store closed; each attempt journalled before it starts and once it is accepted."""
    base = tracking.base_url()
    outcomes: list[_Outcome] = []
    started, wall = time.monotonic(), time.time()

    def elapsed() -> float:  # the wall clock too: a suspended machine stops the monotonic one
        return max(time.monotonic() - started, time.time() - wall)

    def at() -> datetime:  # the run's clock (now may be pinned) moved on by the time really spent
        return now + timedelta(seconds=time.monotonic() - started)

    with _Session(settings) as session:
        for i, email in enumerate(claimed):
            if elapsed() > SEND_BUDGET:
                outcomes.extend(_Outcome(e, "release", at()) for e in claimed[i:])
                break
            try:
                msg = _message(settings, email, base, secret)
            except (ValueError, TypeError) as exc:  # e.g. an address the email library cannot write
                outcomes.append(_Outcome(email, "failed", at(), f"The message could not be built: {exc}."))
                continue
            batch.note("start", email.message_id, at())
            faults.point("send_due.started")  # tests stop the process here: started, not handed over
            try:
                session.send(msg, email.to_address)
            except DeliveryError as exc:
                outcomes.append(_failure(email, exc, at()))
                continue
            sent_at = at()
            batch.note("accepted", email.message_id, sent_at)
            faults.point("send_due.accepted")  # tests stop the process here: accepted, journalled, not recorded
            outcomes.append(_Outcome(email, "sent", sent_at))
    return outcomes


def _failure(email: _Claimed, exc: DeliveryError, at: datetime) -> _Outcome:
    if exc.uncertain:
        return _Outcome(email, "failed", at, f"Not sent again: {exc} (Message-ID {email.message_id}). Check the "
                                             "mailbox and send it again by hand if it is not there.")
    if not exc.retry:
        return _Outcome(email, "failed", at, f"Refused: {exc}.")
    if email.attempts >= MAX_ATTEMPTS:
        return _Outcome(email, "failed", at, f"Gave up after {email.attempts} attempts: {exc}.")
    return _Outcome(email, "retry", at, f"Attempt {email.attempts} of {MAX_ATTEMPTS} failed: {exc}.")


def next_attempt(attempts: int, now: datetime) -> datetime:
    """When an email that failed its `attempts`-th attempt is tried again: 1 min, 5 min, 30 min, then 2 h."""
    return now + BACKOFF[min(attempts, len(BACKOFF)) - 1]


def _record(store: Store, now: datetime, outcomes: list[_Outcome], result: dict[str, Any]) -> None:
    with store.write() as con:
        for o in outcomes:
            key = {"id": o.email.id, "message_id": o.email.message_id}
            if o.state == "sent":
                store.run("mail_mark_sent", con, email_id=o.email.id, message_id=o.email.message_id, sent_at=o.at)
                audit.record(con, SCHEDULER, "send", "email", o.email.id, now,
                             after={**key, "to": o.email.to_address, "sent_at": o.at, "attempt": o.email.attempts})
                result["sent"] += 1
            elif o.state == "retry":
                when = next_attempt(o.email.attempts, now)
                store.run("mail_mark_retry", con, email_id=o.email.id, message_id=o.email.message_id,
                          next_attempt_at=when, error=o.error)
                audit.record(con, SCHEDULER, "retry", "email", o.email.id, now, after={**key, "next": when},
                             reason=o.error)
                result["retried"] += 1
            elif o.state == "failed":
                store.run("mail_mark_failed", con, email_id=o.email.id, message_id=o.email.message_id, error=o.error)
                audit.record(con, SCHEDULER, "fail", "email", o.email.id, now, after=key, reason=o.error)
                result["failed"] += 1
            else:
                store.run("mail_release", con, email_id=o.email.id, message_id=o.email.message_id, now=now)


def rows_written(result: Mapping[str, Any]) -> int:
    """A send_due result as the scheduler's rows written."""
    return int(sum(result.get(k, 0) for k in ("sent", "failed", "retried", "suppressed")))


# ---------------------------------------------------------------- rates and the outbox

RATE_GROUPS = ("template", "sequence", "rep")
RATES_SCHEMA = {"key": pl.Int64, "label": pl.String, "sent": pl.Int64, "opened": pl.Int64, "clicked": pl.Int64,
                "replied": pl.Int64, "open_rate": pl.Float64, "click_rate": pl.Float64, "reply_rate": pl.Float64}


def _period(start: date | datetime, end: date | datetime) -> tuple[datetime, datetime]:
    """[start, end): a date end counts whole (as the sidebar's date range does), a datetime end is exclusive."""
    def as_dt(d: date | datetime) -> datetime:
        return d if isinstance(d, datetime) else datetime(d.year, d.month, d.day)
    stop = as_dt(end) if isinstance(end, datetime) else as_dt(end) + timedelta(days=1)
    return as_dt(start), stop


def rates(store: Store, actor: Actor, start: date | datetime, end: date | datetime, by: str) -> pl.DataFrame:
    """Open, click and reply rates of the emails sent in the period (by a rep in the actor's scope, or to a lead
    in it), per template, sequence or rep: sent, opened, clicked, replied and each over sent. Opened counts an
    open or a click (a click proves the open its blocked images hid); events count whenever they came. Opens
    are a floor and a guess at once: clients that block images hide some, and some that prefetch images
    (Apple Mail Privacy Protection) open every email they receive."""
    if by not in RATE_GROUPS:
        raise MailError(f"Rates are grouped by {', '.join(RATE_GROUPS)} (got {by!r}).")
    d0, d1 = _period(start, end)
    frame = store.frame("mail_rates", start=d0, end=d1, by=by, **actor.scope_params())
    return rate_columns(frame.cast({c: t for c, t in RATES_SCHEMA.items() if c in frame.columns}))


def rate_columns(counts: pl.DataFrame) -> pl.DataFrame:
    """open_rate, click_rate and reply_rate from sent, opened, clicked and replied (null where none was sent)."""
    def over_sent(col: str) -> pl.Expr:
        return pl.when(pl.col("sent") > 0).then(pl.col(col) / pl.col("sent")).otherwise(None)

    return counts.with_columns(open_rate=over_sent("opened"), click_rate=over_sent("clicked"),
                               reply_rate=over_sent("replied")).select(list(RATES_SCHEMA)).cast(RATES_SCHEMA)


def outbox(store: Store, actor: Actor, limit: int = 200, statuses: list[str] | None = None) -> pl.DataFrame:
    """The latest emails in the actor's scope, newest first, whatever their status (queued, sending, sent,
    failed, suppressed), each with `reason`: why it was suppressed or failed, or when it is tried again.
    Contact details (and the subject, which may carry them) masked for analysts and executives."""
    frame = store.frame("mail_outbox", limit=limit, statuses=list(statuses or []), **actor.scope_params())
    frame = frame.with_columns(reason=outbox_reason())
    if actor.masks_pii:
        frame = mask_pii(frame, actor).with_columns(pl.lit(MASK).alias("subject"))
    return frame


def outbox_reason() -> pl.Expr:
    status, error = pl.col("status"), pl.col("last_error")
    return (pl.when(status.is_in(["suppressed", "failed"])).then(error)
            .when((status == "queued") & (pl.col("attempts") > 0))
            .then(pl.format("{} Next attempt at {}.", error, pl.col("next_attempt_at").dt.strftime("%Y-%m-%d %H:%M")))
            .when(status == "queued").then(pl.lit("Waiting to be sent."))
            .when(status == "sending").then(pl.lit("Being handed to the SMTP server."))
            .otherwise(None))
