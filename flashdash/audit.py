"""The audit trail: every write through the domain layer appends who, when, what, before, after and why.

Append-only and tamper-evident. `record` appends inside the caller's write; the records are sealed later into a
hash chain by `seal` (the `seal_audit` job, every minute): sealing at insert time would fork the chain, because
many write transactions append at once and the order they commit in is not the order of their ids. The seal
numbers the records awaiting it (`seq`, in id order, after the last sealed one) and gives each

    content_hash = sha256(canonical(record))            (see `canonical`: the record's own fields)
    prev_hash    = the hash of the record sealed before it ('' for the first)
    hash         = sha256(prev_hash + content_hash)

so that a changed, deleted, inserted or reordered record breaks the chain at that record, which `verify` (and
`python -m flashdash audit verify`) names. Nothing in the domain layer updates or deletes audit records except
`seal` (the chain columns) and `redact` (a privacy erasure blanks personal data inside a record and keeps its
content hash: such a record is checked by its stored content hash, its link and its place in the chain).

What the chain cannot show on its own: records deleted from the end of the chain (nothing links to them), and
records appended but deleted before their first seal. `verify` reports the chain's head (seq and hash) so that
it can be kept somewhere else (a ticket, a printed report) and compared later.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from flashdash import crypto, pii
from flashdash.access import PII_COLUMNS, AccessDenied, Actor
from flashdash.store import Store, db_path

log = logging.getLogger(__name__)

CONTENT_FORMAT = "flashdash-audit-v1"  # the first element of every canonical record: a new format gets a new name
SEAL_BATCH = 50_000  # records per statement while sealing (bounded memory, few statements)
VERIFY_BATCH = 50_000  # records per read unit while verifying (other processes get their turn in between)
REDACTED = "[erased]"  # what a redaction leaves of a value that quoted an erased person's details
MASK = "•••"
MASKED_FIELDS = (*PII_COLUMNS, "to_address")  # history fields blanked for the roles that must not read contacts
SEARCH_LIMITS = (100, 1_000, 10_000, 100_000)
LEAD_ENTITIES = ("lead", "activity", "task", "email", "sequence_enrollment")


def record(
    con: duckdb.DuckDBPyConnection,
    actor: str,
    action: str,
    entity: str,
    entity_id: Any,
    now: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Append one audit record inside the caller's unit of work (so it commits or rolls back with it). Contact
    values in before and after (pii.AUDIT_KEYS) are stored sealed."""
    con.execute(
        "INSERT INTO audit_log (id, logged_at, actor, action, entity, entity_id, before, after, reason) "
        "VALUES (nextval('audit_log_id_seq'), ?, ?, ?, ?, ?, ?, ?, ?)",
        [now, actor, action, entity, None if entity_id is None else str(entity_id),
         _json(con, before), _json(con, after), reason],
    )


def _json(con: duckdb.DuckDBPyConnection, value: dict[str, Any] | list[Any] | None) -> str | None:
    if value is None:
        return None
    if pii.holds_pii(value):
        value = pii.seal_json(crypto.for_connection(con), value)
    return json.dumps(value, default=str, sort_keys=True)


# ---------------------------------------------------------------- the canonical record and its hashes


_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


def canonical(row: Mapping[str, Any]) -> bytes:
    """A record's content as hashed: the compact JSON array

        ["flashdash-audit-v1", id, logged_at, actor, action, entity, entity_id, before, after, reason]

    with `id` an integer, `logged_at` ISO 8601 to the microsecond without a zone ("2026-06-30T12:00:00.000000"),
    `before` and `after` the stored JSON text exactly as stored (not re-parsed: any change to it counts) with any
    sealed values in it opened (so that re-sealing them under a new key leaves the hash as it was), missing
    values as null, ASCII only (non-ASCII characters escaped), separators "," and ":" without spaces. The chain
    columns (seq, hashes) and redacted_at are not content: the chain covers them by linking."""
    logged_at = row["logged_at"]
    fields = [CONTENT_FORMAT, int(row["id"]),
              None if logged_at is None else logged_at.isoformat(timespec="microseconds"),
              row["actor"], row["action"], row["entity"], row["entity_id"], row["before"], row["after"],
              row["reason"]]
    return _ENCODER.encode(fields).encode("ascii")


def content_hash(row: Mapping[str, Any]) -> str:
    """sha256 (hex) of `canonical(row)`."""
    return hashlib.sha256(canonical(row)).hexdigest()


def link_hash(prev_hash: str, content: str) -> str:
    """A record's place in the chain: sha256 (hex) of the previous record's hash followed by its content hash."""
    return hashlib.sha256((prev_hash + content).encode("ascii")).hexdigest()


# ---------------------------------------------------------------- sealing


def seal(store: Store, now: datetime) -> int:
    """Seal every record awaiting it, in id order, after the last sealed one, in one write; returns how many.

    The `seal_audit` job's body (`now` is the job's time; a record is sealed whatever its own time). The scheduler
    runs one job at a time; should two sealers run at once anyway (a command beside the scheduler), both update
    the same unsealed rows and DuckDB refuses the second transaction with a conflict: it changes nothing, is
    logged, and returns 0, and its records are sealed by the next run."""
    if not store.scalar("audit_unsealed_count"):
        return 0  # the usual minute: no write, so no lock taken and no cache emptied
    try:
        with store.write() as con:
            return seal_within(store, con)
    except duckdb.TransactionException as exc:
        log.warning("seal_audit: another seal ran at the same time; this one changed nothing (%s)", exc)
        return 0


def seal_within(store: Store, con: duckdb.DuckDBPyConnection, batch: int = SEAL_BATCH) -> int:
    """`seal`'s work inside the caller's write unit (so that a test can hold two sealers open at once)."""
    head = store.frame("audit_chain_head", con)
    seq, prev = (int(head["seq"][0]), head["hash"][0] or "") if not head.is_empty() else (0, "")
    bounds = store.frame("audit_unsealed_range", con).row(0, named=True)
    if bounds["first"] is None:
        return 0
    sealed, lo = 0, bounds["first"] - 1
    while lo < bounds["last"]:
        rows = store.frame("audit_unsealed_batch", con, lo=lo, hi=lo + batch)
        lo += batch
        if rows.is_empty():  # a gap in the ids: go on from the next record awaiting the seal
            nxt = store.scalar("audit_next_unsealed", con, after=lo)
            lo = nxt - 1 if nxt is not None else bounds["last"]
            continue
        ids, seqs, contents, prevs, hashes = [], [], [], [], []
        for row in rows.iter_rows(named=True):
            seq += 1
            content = content_hash(row)
            link = link_hash(prev, content)
            ids.append(row["id"])
            seqs.append(seq)
            contents.append(content)
            prevs.append(prev)
            hashes.append(link)
            prev = link
        store.run("audit_apply_seal", con, ids=ids, seqs=seqs, content_hashes=contents, prev_hashes=prevs,
                  hashes=hashes)
        sealed += len(ids)
    return sealed


# ---------------------------------------------------------------- verifying


def describe(row: Mapping[str, Any]) -> str:
    """'Record 1234 (seq 1200, 2026-06-30 12:00, admin update lead 17)'."""
    what = " ".join(str(v) for v in (row["actor"], row["action"], row["entity"], row["entity_id"]) if v is not None)
    when = f"{row['logged_at']:%Y-%m-%d %H:%M}" if row.get("logged_at") else "no time"
    return f"Record {row['id']} (seq {row['seq']}, {when}, {what})"


def _problem(row: Mapping[str, Any], prev: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """What is wrong with a sealed record, given the one before it in the chain: (kind, sentence) or None."""
    expected = prev["seq"] + 1 if prev else 1
    prev_hash = prev["hash"] if prev else ""
    if prev and row["seq"] == prev["seq"]:
        return "seq gap", (f"it has the same seq as record {prev['id']}: the chain's numbering was changed after "
                           "sealing")
    if row["seq"] != expected:
        if row["seq"] > expected and row["prev_hash"] != prev_hash:
            missing = f"seq {expected}" if row["seq"] == expected + 1 else f"seq {expected}–{row['seq'] - 1}"
            return "record deleted", (f"the record before it in the chain ({missing}) is missing: it was deleted, "
                                      "or unsealed by hand, after sealing")
        return "seq gap", f"its seq should be {expected}: the chain's numbering was changed after sealing"
    if row["redacted_at"] is None and content_hash(row) != row["content_hash"]:
        return "content changed", "its content no longer matches its hash"
    if row["prev_hash"] != prev_hash:
        before = f"record {prev['id']}, seq {prev['seq']}" if prev else "the start of the chain"
        return "link broken", (f"its link to the record before it ({before}) is broken: that record was changed "
                               "and its hash recomputed, or this record's link was changed, after sealing")
    if link_hash(row["prev_hash"] or "", row["content_hash"] or "") != row["hash"]:
        return "hash changed", "its hash no longer matches its content hash and link: a hash was changed after sealing"
    return None


def _opened(store: Store, row: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """The record with its sealed values opened (content hashes are over the opened values), or, when one does not
    open (altered after sealing, or sealed under a key that is gone), the record as stored and the finding."""
    try:
        return {k: crypto.open_text(store.keyring, v) if isinstance(v, str) and crypto.PREFIX in v else v
                for k, v in row.items()}, None
    except crypto.CryptoError as exc:
        return row, ("content changed", f"a sealed value in it does not open ({exc})")


def verify(store: Store, batch: int = VERIFY_BATCH) -> dict[str, Any]:
    """Walk the chain in seq order and check every sealed record; never writes.

    Returns ok, sealed, unsealed, redacted, head (the last sealed record's seq and hash, or None), first_broken
    (None, or id, seq, kind: content changed | link broken | seq gap | record deleted | hash changed, and
    problem) and message. A redacted record is checked by its stored content hash (its erased values are gone)
    and must be listed by a redaction record (see `redact`). Each batch is its own read unit, so that a long walk does not keep other processes
    from the store: the chain only grows at its end meanwhile (a seal) and a redaction keeps content hashes."""
    prev: dict[str, Any] | None = None
    redactions: set[int] | None = None  # read when the first redacted record comes
    bounds = store.frame("audit_seq_range").row(0, named=True)
    lo, last = min(0, bounds["first"] or 0) - 1, bounds["last"] or 0  # a seq below 1 is walked too (and refused)
    while lo < last:
        with store.read() as con:  # as stored: a sealed value altered in place is a finding, not a crash
            rows = store.sealed_frame("audit_sealed_batch", con, lo=lo, hi=lo + batch)
        for stored in rows.iter_rows(named=True):
            row, found = _opened(store, stored)
            found = found or _problem(row, prev)
            if not found and row["redacted_at"] is not None:
                redactions = _redactions(store) if redactions is None else redactions
                if row["id"] not in redactions:
                    found = ("content changed", "it is marked redacted, but no redaction record lists it: its "
                                                "content was changed after sealing and cannot be checked")
            if found:
                kind, problem = found
                return _result(store, prev, {"id": row["id"], "seq": row["seq"], "kind": kind, "problem": problem,
                                             "record": describe(row)})
            prev = {"id": row["id"], "seq": row["seq"], "hash": row["hash"]}
        lo += batch
        if rows.is_empty():  # a gap in the seqs (already found above if it follows a record): skip it at once
            nxt = store.scalar("audit_next_seq", after=lo)
            lo = nxt - 1 if nxt is not None else last
    return _result(store, prev, None)


def check(store: Store, actor: Actor) -> dict[str, Any]:
    """`verify` for the Admin view (admins only)."""
    _require_admin(actor)
    return verify(store)


def _result(store: Store, head: Mapping[str, Any] | None, broken: dict[str, Any] | None) -> dict[str, Any]:
    counts = store.frame("audit_counts").row(0, named=True)
    sealed, unsealed = int(counts["sealed"]), int(counts["unsealed"])
    if broken:
        message = f"{broken['record']}: {broken['problem']}"
    else:
        message = (f"Audit trail intact: {sealed:,} record{'s' if sealed != 1 else ''} sealed, {unsealed:,} "
                   "awaiting the next seal")
    return {"ok": broken is None, "sealed": sealed, "unsealed": unsealed, "redacted": int(counts["redacted"]),
            "head": {"seq": head["seq"], "hash": head["hash"]} if head and not broken else None,
            "first_broken": broken, "message": message}


def cmd_verify(args: argparse.Namespace) -> int:
    """`python -m flashdash audit verify [--db PATH]`: 0 when the chain is intact, 1 naming the first broken
    record."""
    store = Store(Path(args.db) if getattr(args, "db", None) else db_path())
    result = verify(store)
    print(result["message"])
    if not result["ok"]:
        print(f"Audit trail broken: {result['sealed']:,} records sealed, {result['unsealed']:,} awaiting the next "
              "seal. Restore the store from a backup made before the change, and find out who had write access.")
        return 1
    if result["head"]:
        print(f"Chain head: seq {result['head']['seq']}, hash {result['head']['hash']} (keep it to compare later)")
    return 0


# ---------------------------------------------------------------- redaction (privacy erasure)


def _blank(value: Any, fields: frozenset[str], needles: Sequence[str]) -> Any:
    if isinstance(value, dict):
        return {k: None if k in fields else _blank(v, fields, needles) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v, fields, needles) for v in value]
    if isinstance(value, str) and any(n in value.lower() for n in needles):
        return REDACTED
    return value


def _blank_json(text: str | None, fields: frozenset[str], needles: Sequence[str]) -> str | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return REDACTED if any(n in text.lower() for n in needles) else text
    blanked = _blank(value, fields, needles)
    return text if blanked == value else json.dumps(blanked, default=str, sort_keys=True)


def redact(store: Store, con: duckdb.DuckDBPyConnection, record_ids: Iterable[int], now: datetime,
           fields: Iterable[str], needles: Iterable[str] = (), actor: str = "privacy") -> int:
    """Inside the caller's write (a privacy erasure, which appends its own record of the erasure): blank `fields`
    wherever they occur inside these records' before and after JSON (set to null), and any string there that
    contains one of `needles` (the person's contact values, matched case-insensitively); mark the changed records
    redacted_at = now. Their content hash stays, so the chain still verifies; a record of the redaction (action
    'redact', entity 'audit_log', the ids it blanked) is appended, and `verify` refuses a record marked redacted
    that no such record lists. Returns the records changed."""
    names = frozenset(fields)
    if not names:
        raise ValueError("Name the fields to blank (e.g. email, phone, contact_name).")
    low = [n.lower() for n in needles if n and n.strip()]
    ids = sorted({int(i) for i in record_ids})
    if not ids:
        return 0
    rows = store.sealed_frame("audit_records_by_id", con, record_ids=ids)
    ring = store.keyring
    changed: dict[str, list[Any]] = {"ids": [], "befores": [], "afters": []}
    for row in rows.iter_rows(named=True):
        # blanked as read (sealed values opened); what is kept is stored sealed again
        texts = [(row[k], crypto.open_text(ring, row[k])) for k in ("before", "after")]
        blanked = [(raw, opened, _blank_json(opened, names, low)) for raw, opened in texts]
        if any(new != opened for _, opened, new in blanked):
            changed["ids"].append(row["id"])
            before, after = (raw if new == opened else _resealed(con, new) for raw, opened, new in blanked)
            changed["befores"].append(before)
            changed["afters"].append(after)
    if changed["ids"]:
        store.run("audit_apply_redaction", con, now=now, **changed)
        record(con, actor, "redact", "audit_log", None, now, after={"record_ids": changed["ids"],
                                                                    "fields": sorted(names)},
               reason="personal data erased; the records keep their content hashes")
    return len(changed["ids"])


def _resealed(con: duckdb.DuckDBPyConnection, text: str | None) -> str | None:
    """A blanked before/after as stored: JSON with its remaining contact values sealed, other text as it is."""
    value = _load(text)
    return _json(con, value) if isinstance(value, dict | list) else text


def _redactions(store: Store) -> set[int]:
    """The ids of every record a redaction record lists (sealed or not yet)."""
    listed: set[int] = set()
    for text in store.frame("audit_redaction_records")["after"].to_list():
        value = _load(text)
        if isinstance(value, dict) and isinstance(value.get("record_ids"), list):
            listed.update(i for i in value["record_ids"] if isinstance(i, int))
    return listed


# ---------------------------------------------------------------- reading: per-field changes, search, history


def _load(value: Any) -> Any:
    if value is None or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # not JSON (a record written by hand): shown as it is


def changes(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A record's per-field changes [{field, before, after}]: with a before and an after (an update), the fields
    whose values differ (a field missing on one side counts as null there); with only an after (a create), every
    field of it that has a value; with only a before (a delete), every field of it that had one; neither (a
    login): none. A before or after
    that is not a JSON object is one change with field ''."""
    before, after = _load(row.get("before")), _load(row.get("after"))
    if before is None and after is None:
        return []
    if not isinstance(before, dict | None) or not isinstance(after, dict | None):
        return [] if before == after else [{"field": "", "before": before, "after": after}]
    if after is None:
        return [{"field": k, "before": v, "after": None} for k, v in before.items() if v is not None]
    if before is None:
        return [{"field": k, "before": None, "after": v} for k, v in after.items() if v is not None]
    keys = [*after, *(k for k in before if k not in after)]
    return [{"field": k, "before": before.get(k), "after": after.get(k)} for k in keys
            if before.get(k) != after.get(k)]


def change_table(row: Mapping[str, Any]) -> pl.DataFrame:
    """A record's changes as a frame (field, before, after), values as text."""
    return pl.DataFrame([(c["field"], show(c["before"]), show(c["after"])) for c in changes(row)],
                        schema={"field": pl.String, "before": pl.String, "after": pl.String}, orient="row")


def show(value: Any) -> str | None:
    """A changed value as text: JSON for lists and objects, as written otherwise (None stays None)."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def summary(row: Mapping[str, Any]) -> str:
    """A record's changes on one line: 'status: new → mql; owner_id: — → 5'."""
    return "; ".join(f"{c['field'] or 'value'}: {show(c['before']) or '—'} → {show(c['after']) or '—'}"
                     for c in changes(row))


def _require_admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise AccessDenied("Only admins can read the audit trail; each record's own history is on its page.")


@dataclass(frozen=True)
class AuditFilters:
    """The Admin view's filters; every one optional (None or '')."""

    start: date | None = None
    end: date | None = None
    who: str = ""
    action: str = ""
    entity: str = ""
    entity_id: str = ""
    text: str = ""  # in the reason, case-insensitive

    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "who": self.who.strip(), "action": self.action.strip(),
                "entity": self.entity.strip(), "entity_id": self.entity_id.strip(), "text": self.text.strip()}


SEARCH_SCHEMA = {"logged_at": pl.Datetime("us"), "actor": pl.String, "action": pl.String, "entity": pl.String,
                 "entity_id": pl.String, "reason": pl.String, "changes": pl.String, "id": pl.Int64,
                 "seq": pl.Int64, "redacted_at": pl.Datetime("us"), "before": pl.String, "after": pl.String}


def search(store: Store, actor: Actor, filters: AuditFilters = AuditFilters(), limit: int = 1_000) -> pl.DataFrame:
    """The audit records matching `filters`, newest first, at most `limit`, each with its changes on one line
    ("field: before → after; ...") beside the stored JSON (admins only)."""
    _require_admin(actor)
    if filters.start and filters.end and filters.start > filters.end:
        raise ValueError(f"The date range starts ({filters.start}) after it ends ({filters.end}): swap them.")
    if not 1 <= limit <= max(SEARCH_LIMITS):
        raise ValueError(f"Show between 1 and {max(SEARCH_LIMITS):,} records at a time.")
    rows = store.frame("audit_search", **filters.params(), limit=limit)
    return rows.with_columns(
        changes=pl.Series([summary(r) for r in rows.select("before", "after").iter_rows(named=True)],
                          dtype=pl.String),
    ).select(list(SEARCH_SCHEMA)).cast(SEARCH_SCHEMA)  # type: ignore[arg-type]


def search_count(store: Store, actor: Actor, filters: AuditFilters = AuditFilters()) -> int:
    """How many records match `filters` (admins only)."""
    _require_admin(actor)
    return int(store.scalar("audit_search_count", **filters.params()))


def facets(store: Store, actor: Actor) -> dict[str, list[str]]:
    """The actors, actions and entities the trail holds, for the Admin view's filters (admins only)."""
    _require_admin(actor)
    rows = store.frame("audit_facets")
    return {f: rows.filter(pl.col("facet") == f)["value"].drop_nulls().to_list() for f in ("actor", "action", "entity")}


def status(store: Store, actor: Actor) -> dict[str, Any]:
    """The trail's counts: sealed, unsealed, redacted, newest (admins only); `verify` says whether it is intact."""
    _require_admin(actor)
    counts = store.frame("audit_counts").row(0, named=True)
    return {k: counts[k] if k == "newest" else int(counts[k]) for k in ("sealed", "unsealed", "redacted", "newest")}


HISTORY_SCHEMA = {"logged_at": pl.Datetime("us"), "actor": pl.String, "action": pl.String, "entity": pl.String,
                  "entity_id": pl.String, "field": pl.String, "before": pl.String, "after": pl.String,
                  "reason": pl.String, "record": pl.Int64}


def history(store: Store, actor: Actor, entity: str, entity_id: Any) -> pl.DataFrame:
    """Every change to one record, oldest first, one row per changed field (who, when, action, field, before,
    after, why; a record without field changes, such as a login, is one row without a field).

    A lead's history holds its own records and those of its activities, tasks, emails and sequence enrollments;
    the lead must be in the actor's scope (AccessDenied otherwise, the same answer for "no such lead"), and the
    roles that must not read contact details get them masked, wherever the lead's own values appear. Any other
    entity's history is for admins only."""
    key = str(entity_id).strip()
    if entity == "lead":
        try:
            lead_id = int(key)
        except ValueError:
            raise AccessDenied(f"There is no lead {key!r} in your book.") from None
        with store.read() as con:
            lead = store.frame("audit_lead_in_scope", con, lead_id=lead_id, **actor.scope_params())
            if lead.is_empty():
                raise AccessDenied(f"There is no lead {lead_id} in your book.")
            rows = store.frame("audit_lead_history", con, lead_id=lead_id)
        frame = _per_field(rows)
        return _masked(frame, lead.row(0, named=True)) if actor.masks_pii else frame
    if actor.role != "admin":
        raise AccessDenied(f"Only admins can read the history of a {entity}; a lead's history is on its page.")
    return _per_field(store.frame("audit_entity_history", entity=entity, entity_id=key))


def _per_field(rows: pl.DataFrame) -> pl.DataFrame:
    out = []
    for r in rows.iter_rows(named=True):
        base = (r["logged_at"], r["actor"], r["action"], r["entity"], r["entity_id"])
        found = changes(r) or [{"field": None, "before": None, "after": None}]
        out += [(*base, c["field"], show(c["before"]), show(c["after"]), r["reason"], r["id"]) for c in found]
    return pl.DataFrame(out, schema=HISTORY_SCHEMA, orient="row")


def _masked(frame: pl.DataFrame, lead: Mapping[str, Any]) -> pl.DataFrame:
    """Contact fields masked, and the lead's own contact values (and the contact's first and last names as whole
    words) blanked wherever else they are quoted."""
    whole = sorted({v.strip() for v in (lead["contact_name"], lead["email"], lead["phone"]) if v and v.strip()},
                   key=len, reverse=True)
    words = sorted({w for w in (lead["contact_name"] or "").split() if len(w) > 2}, key=len, reverse=True)
    parts = [re.escape(v) for v in whole] + [rf"\b{re.escape(w)}\b" for w in words]  # "Rosa" alone in a note too
    pattern = re.compile("|".join(parts), re.IGNORECASE) if parts else None

    def blank(text: str | None) -> str | None:
        return text if text is None or pattern is None else pattern.sub(MASK, text)

    rows = []
    for r in frame.iter_rows(named=True):
        hidden = r["field"] in MASKED_FIELDS
        rows.append({**r, "before": MASK if hidden and r["before"] is not None else blank(r["before"]),
                     "after": MASK if hidden and r["after"] is not None else blank(r["after"]),
                     "reason": blank(r["reason"])})
    return pl.DataFrame(rows, schema=HISTORY_SCHEMA)
