"""Privacy requests (GDPR and CCPA): everything the store holds about one person, exported; the person erased;
a retention policy for old closed leads; and a lead's do-not-contact flag.

A person is found by their email address (every lead that gave it) or by lead ids. What the store holds about
them: the leads, their stage changes, activities, tasks, emails and the opens, clicks and replies on them,
sequence enrollments, routing records, scores, opportunities and customer records, and the audit trail's
records about any of these or quoting one of their contact details.

Erasure anonymizes rather than deletes, so every count, rate and forecast stays as it was: the leads lose their
contact name, email and phone and are marked do-not-contact; activities lose their notes and next step, tasks
their notes, emails their address, subject and body; the audit trail's records are redacted
(flashdash.audit.redact: the chain still verifies); an import's before-images and quarantined rows lose the
person's values. One audit record per lead says that it was erased, by whom and why (it holds no contact
detail). Backups made before the erasure still hold the data until they are deleted: say so to whoever asked.

Retention: closed leads (lost or disqualified, never a customer) untouched for `retention_months` are
anonymized the same way, or purged (every row about them deleted) when `retention_action` is 'purge'; the
`apply_retention` job runs it nightly, in batches.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from flashdash import audit, crypto
from flashdash.access import AccessDenied, Actor
from flashdash.store import Store

ADMINS = ("admin",)
FLAG_SETTERS = ("rep", "manager", "admin")
TABLES = ("leads", "lead_stage_changes", "activities", "tasks", "emails", "email_events", "sequence_enrollments",
          "lead_assignments", "lead_scores", "opportunities", "opportunity_changes", "deal_risks", "customers",
          "audit_log")
CONTACT_FIELDS = ("contact_name", "email", "phone")
# What an erasure blanks inside audit records, import before-images and quarantined cells.
ERASED_FIELDS = (*CONTACT_FIELDS, "notes", "next_step", "to_address", "subject", "body", "contact", "to",
                 "email_bidx", "phone_bidx", "email_domain")
MAX_REASON = 500
RETENTION_ACTIONS = ("anonymize", "purge")
DAYS_PER_MONTH = 30.44  # a policy's months, as days: the average month
RETENTION_BATCH = 5_000  # leads per nightly run: one short write each
PURGED = ("emails", "sequence_enrollments", "tasks", "activities", "lead_stage_changes", "lead_assignments",
          "lead_scores", "opportunities", "leads")  # in this order (email_events and step runs go first)


class PrivacyError(ValueError):
    """A privacy request that cannot be carried out as asked; the message says what to change."""


def _require_admin(actor: Actor) -> None:
    if actor.role not in ADMINS:
        raise AccessDenied(f"A {actor.role} cannot run privacy requests; an admin does.")


def _subject(store: Store, con: Any, email: str | None, lead_ids: Iterable[int] | None) -> list[int]:
    email = (email or "").strip()
    ids = sorted({int(i) for i in lead_ids or []})
    if not email and not ids:
        raise PrivacyError("Say whose data: give the person's email address, or the ids of their leads.")
    found = set(store.frame("privacy_leads_by_email", con, email_bidx=crypto.blind_index(store.keyring, email, "email"))
                ["id"].to_list()) if email else set()
    if ids:
        existing = set(store.frame("privacy_leads_existing", con, lead_ids=ids)["id"].to_list())
        missing = sorted(set(ids) - existing)
        if missing:
            raise PrivacyError(f"There is no lead {', '.join(map(str, missing))}; check the ids.")
        found |= existing
    return sorted(found)


def _needles(leads: pl.DataFrame, email: str | None) -> list[str]:
    """The person's contact values as they may be quoted in free text (lower-case; short ones left out, so
    that a two-letter name does not match half the trail)."""
    values = {(email or "").strip().lower()}
    for field in CONTACT_FIELDS:
        if field in leads.columns:
            values |= {str(v).strip().lower() for v in leads[field].drop_nulls().to_list()}
    return sorted(v for v in values if len(v) >= 5)


def find(store: Store, actor: Actor, email: str | None = None, lead_ids: Iterable[int] | None = None) -> dict[str, Any]:
    """Everything the store holds about one person: {"lead_ids", "tables": {table: frame}, "counts"}."""
    _require_admin(actor)
    with store.read() as con:
        ids = _subject(store, con, email, lead_ids)
        tables = {t: store.frame(f"privacy_{t}", con, lead_ids=ids) for t in TABLES if t != "audit_log"}
        needles = _needles(tables["leads"], email)
        tables["audit_log"] = store.frame("privacy_audit_log", con, lead_ids=ids, needles=needles or ["\x00"])
    return {"lead_ids": ids, "tables": tables, "counts": {t: f.height for t, f in tables.items()}}


def _jsonable(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.write_json()) if frame.height else []


def export_files(found: dict[str, Any], now: datetime) -> dict[str, bytes]:
    """A subject access export: {"json": one JSON document, "zip": one CSV per table}."""
    doc = {"exported_at": now.isoformat(timespec="seconds"), "lead_ids": found["lead_ids"],
           "tables": {t: _jsonable(f) for t, f in found["tables"].items()}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for table, frame in found["tables"].items():
            flat = frame.with_columns(pl.col(c).cast(pl.String) for c, t in frame.schema.items()
                                      if t.is_nested())
            archive.writestr(f"{table}.csv", flat.write_csv())
        archive.writestr("README.txt", "Everything the Flash sales app held about this person on "
                                       f"{now:%Y-%m-%d %H:%M}, one CSV per table (the same as the JSON file).\n")
    return {"json": json.dumps(doc, indent=2, default=str).encode(), "zip": buffer.getvalue()}


def export(store: Store, actor: Actor, now: datetime, email: str | None = None,
           lead_ids: Iterable[int] | None = None, reason: str = "subject access request") -> dict[str, Any]:
    """find + export_files, audited (the record names the leads, not the person's details)."""
    found = find(store, actor, email, lead_ids)
    files = export_files(found, now)
    with store.write() as con:
        audit.record(con, actor.username, "export", "privacy", None, now,
                     after={"lead_ids": found["lead_ids"], "counts": found["counts"]}, reason=_reason(reason))
    return {**found, "files": files}


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise PrivacyError("Give a reason (e.g. 'erasure request by email on 3 June'): it is kept with the record.")
    if len(text) > MAX_REASON:
        raise PrivacyError(f"The reason is {len(text)} characters; keep it under {MAX_REASON}.")
    return text


def _blank(value: Any, needles: list[str]) -> Any:
    """A JSON value with the erased fields nulled and any quoted contact value cut out."""
    if isinstance(value, dict):
        return {k: None if k in ERASED_FIELDS else _blank(v, needles) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v, needles) for v in value]
    if isinstance(value, str) and any(n in value.lower() for n in needles):
        return "[erased]"
    return value


def _erase_json(store: Store, con: Any, needles: list[str], lead_ids: list[int]) -> dict[str, int]:
    changes = store.frame("privacy_import_changes", con, lead_ids=lead_ids)
    for row in changes.iter_rows(named=True):  # read opened; what is left of a contact field is null
        store.run("privacy_set_import_change", con, change_id=row["id"],
                  before=json.dumps(_blank(json.loads(row["before"]), needles), sort_keys=True))
    quarantined = store.frame("privacy_quarantine", con, needles=needles or ["\x00"])
    for row in quarantined.iter_rows(named=True):
        cells = json.dumps(_blank(json.loads(row["cells"]), needles), sort_keys=True)
        store.run("privacy_set_quarantine_cells", con, quarantine_id=row["id"],
                  cells=crypto.seal(store.keyring, cells, "text"))
    return {"import_changes": changes.height, "import_quarantine": quarantined.height}


def _anonymize(store: Store, con: Any, actor: str, lead_ids: list[int], needles: list[str], now: datetime,
               reason: str) -> dict[str, int]:
    """Inside the caller's write: erase these leads' personal data everywhere; returns rows touched per table."""
    trail = store.frame("privacy_audit_log", con, lead_ids=lead_ids, needles=needles or ["\x00"])
    counts = {"leads": len(lead_ids), **_erase_json(store, con, needles, lead_ids)}
    for table in ("leads", "activities", "tasks", "emails"):
        store.run(f"privacy_erase_{table}", con, lead_ids=lead_ids)
    audit.redact(store, con, trail["id"].to_list(), now, ERASED_FIELDS, needles=needles)
    counts["audit_log"] = trail.height
    for lead_id in lead_ids:
        audit.record(con, actor, "erase", "lead", lead_id, now,
                     after={"erased": list(ERASED_FIELDS), "audit_records_redacted": trail.height}, reason=reason)
    return counts


def erase(store: Store, actor: Actor, now: datetime, reason: str, email: str | None = None,
          lead_ids: Iterable[int] | None = None) -> dict[str, Any]:
    """Erase one person (by email or lead ids) in one transaction; returns {"lead_ids", "counts"}."""
    _require_admin(actor)
    why = _reason(reason)
    with store.write() as con:
        ids = _subject(store, con, email, lead_ids)
        if not ids:
            raise PrivacyError("No lead has that email address; nothing to erase. Check the spelling, or give "
                               "the lead ids.")
        needles = _needles(store.frame("privacy_leads", con, lead_ids=ids), email)
        counts = _anonymize(store, con, actor.username, ids, needles, now, why)
    return {"lead_ids": ids, "counts": counts}


# ---------------------------------------------------------------- do not contact


def set_do_not_contact(store: Store, actor: Actor, lead_id: int, flag: bool, reason: str,
                       now: datetime) -> bool:
    """Set or clear a lead's do-not-contact flag (in the actor's scope), audited; email and sequences honour it
    at once (a queued email is suppressed when sent, a call step is skipped). Returns whether it changed."""
    if actor.role not in FLAG_SETTERS:
        raise AccessDenied(f"A {actor.role} reads leads but does not change them.")
    why = _reason(reason)
    with store.write() as con:
        rows = store.frame("privacy_lead_for_flag", con, lead_id=int(lead_id), **actor.scope_params())
        if rows.is_empty():
            raise AccessDenied(f"There is no lead {lead_id} in your book.")
        before = bool(rows["do_not_contact"][0])
        if before == bool(flag):
            return False
        store.run("privacy_set_do_not_contact", con, lead_id=int(lead_id), flag=bool(flag))
        audit.record(con, actor.username, "update", "lead", lead_id, now, before={"do_not_contact": before},
                     after={"do_not_contact": bool(flag)}, reason=why)
    return True


# ---------------------------------------------------------------- retention


def retention_policy(store: Store) -> dict[str, Any]:
    """{"months": int | None (None: off), "action": "anonymize" | "purge"} from the settings."""
    months = store.scalar("setting", key="retention_months")
    action = store.scalar("setting", key="retention_action") or "anonymize"
    return {"months": int(months) if months else None, "action": action}


def check_policy(months: Any, action: str) -> tuple[int | None, str]:
    problems = []
    value = None
    if months not in (None, "", 0):
        try:
            value = int(months)
        except (TypeError, ValueError):
            value = -1
        if value < 6 or value > 120:
            problems.append(f"keep leads between 6 and 120 months, not {months!r} (or turn the policy off)")
    if action not in RETENTION_ACTIONS:
        problems.append(f"the action is {action!r}; choose {' or '.join(RETENTION_ACTIONS)}")
    if problems:
        raise PrivacyError("The retention policy was not saved: " + "; ".join(problems) + ".")
    return value, action


def save_policy(store: Store, actor: Actor, months: Any, action: str, now: datetime) -> dict[str, Any]:
    _require_admin(actor)
    value, action = check_policy(months, action)
    before = retention_policy(store)
    with store.write() as con:
        store.run("put_setting", con, key="retention_months", value=str(value) if value else "")
        store.run("put_setting", con, key="retention_action", value=action)
        audit.record(con, actor.username, "update", "setting", "retention", now, before=before,
                     after={"months": value, "action": action})
    return {"months": value, "action": action}


def retention_candidates(store: Store, now: datetime, months: int, action: str,
                         limit: int = RETENTION_BATCH) -> list[int]:
    cutoff = now - timedelta(days=round(months * DAYS_PER_MONTH))
    return store.frame("privacy_retention_candidates", cutoff=cutoff, anonymize=action == "anonymize",
                       limit=int(limit))["id"].to_list()


def preview_retention(store: Store, actor: Actor, now: datetime, months: Any, action: str) -> int:
    """How many leads a policy would touch now (up to 100,000)."""
    _require_admin(actor)
    value, action = check_policy(months, action)
    return len(retention_candidates(store, now, value, action, 100_000)) if value else 0


def apply_retention(store: Store, now: datetime) -> int:
    """Scheduler job body: apply the retention policy to one batch; returns the leads anonymized or purged."""
    policy = retention_policy(store)
    if not policy["months"]:
        return 0
    ids = retention_candidates(store, now, policy["months"], policy["action"])
    if not ids:
        return 0
    why = f"retention policy: closed and untouched for {policy['months']} months"
    with store.write() as con:
        if policy["action"] == "purge":
            needles = _needles(store.frame("privacy_leads", con, lead_ids=ids), None)
            trail = store.frame("privacy_audit_log", con, lead_ids=ids, needles=needles or ["\x00"])
            audit.redact(store, con, trail["id"].to_list(), now, ERASED_FIELDS, needles=needles)  # quotes too
            _erase_json(store, con, needles, ids)
            store.run("privacy_purge_email_events", con, lead_ids=ids)
            store.run("privacy_purge_step_runs", con, lead_ids=ids)
            store.run("privacy_purge_opportunity_changes", con, lead_ids=ids)
            store.run("privacy_purge_deal_risks", con, lead_ids=ids)
            for table in PURGED:
                store.run(f"privacy_purge_{table}", con, lead_ids=ids)
            audit.record(con, "retention", "purge", "lead", None, now, after={"lead_ids": ids}, reason=why)
        else:
            needles = _needles(store.frame("privacy_leads", con, lead_ids=ids), None)
            _anonymize(store, con, "retention", ids, needles, now, why)
    return len(ids)
