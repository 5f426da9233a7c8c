"""Email to leads: templates rendered in Jinja2's sandbox with the lead's fields, queued in the store, sent
over SMTP by the scheduler, tracked (opens and clicks) by the tracking service.

A template can use {{ lead.<field> }}, {{ rep.<field> }} and {{ sender.<field> }}. A token the lead cannot
fill (a missing field, an unknown name) is an error before anything is queued, never a blank in a sent mail.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from flashdash import audit
from flashdash.store import Store

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
        enrollment_id=enrollment_id, step_id=step_id, to_address=lead.get("email"), subject=rendered.subject,
        body=rendered.body, token=secrets.token_urlsafe(16), status="suppressed" if why_not else "queued",
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
