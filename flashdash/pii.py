"""Personal data at rest: which stored values are sealed (flashdash.crypto), sealing them on the way in, the
blind indexes that find a lead by exact email or phone, SQL functions for the few queries that must look inside
a sealed value, and key rotation.

Sealed:
- leads.contact_name, leads.email, leads.phone (with leads.email_bidx and leads.phone_bidx, keyed hashes, for
  duplicate detection and lookups, and leads.email_domain, kept readable for the free-mail scoring rule);
- activities.notes when the activity is marked sensitive (notes_sensitive);
- emails.to_address and emails.body (a rendered body greets the contact by name);
- import_quarantine.cells (a set-aside row is the source file's row, contact details and all);
- inside audit records' before and after, the values of AUDIT_KEYS.

Reads open them at one place, `Store.frame`, so pages, exports and privacy requests see plaintext and the store
never holds it. Import before-images copy a row's stored (sealed) values, so undo restores them sealed.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from flashdash import crypto

if TYPE_CHECKING:
    from flashdash.access import Actor
    from flashdash.store import Store

LEAD_KINDS = {"contact_name": "name", "email": "email", "phone": "phone"}
# (table, column, kind, condition): every stored column that holds sealed values
COLUMNS = (
    ("leads", "contact_name", "name", "true"),
    ("leads", "email", "email", "true"),
    ("leads", "phone", "phone", "true"),
    ("activities", "notes", "text", "notes_sensitive"),
    ("emails", "to_address", "email", "true"),
    ("emails", "body", "text", "true"),
    ("import_quarantine", "cells", "text", "true"),
)
AUDIT_KEYS = {"contact_name": "name", "email": "email", "phone": "phone", "to": "email", "to_address": "email",
              "notes": "text"}
ROTATE_BATCH = 5_000
_DOMAIN = re.compile(r"@([^@\s]+)$")


def _clean(value: Any) -> str | None:
    text = None if value is None else str(value).strip()
    return text or None


def email_domain(email: str | None) -> str | None:
    """The lower-cased domain of an address ('shop.example'), or None."""
    match = _DOMAIN.search(email.strip().lower()) if email else None
    return match.group(1) if match else None


def lead_values(ring: crypto.Keyring, values: dict[str, Any]) -> dict[str, Any]:
    """A lead's contact fields as stored: sealed, with their blind indexes and the email's domain."""
    email, phone = _clean(values.get("email")), _clean(values.get("phone"))
    return {"contact_name": crypto.seal(ring, _clean(values.get("contact_name")), "name"),
            "email": crypto.seal(ring, email, "email"), "phone": crypto.seal(ring, phone, "phone"),
            "email_bidx": crypto.blind_index(ring, email, "email"),
            "phone_bidx": crypto.blind_index(ring, phone, "phone"), "email_domain": email_domain(email)}


def seal_series(ring: crypto.Keyring, values: pl.Series, kind: str) -> pl.Series:
    """Each non-blank value sealed (blank ones become null)."""
    return pl.Series(values.name, [crypto.seal(ring, _clean(v), kind) for v in values.to_list()], pl.String)


def lead_frame(ring: crypto.Keyring, frame: pl.DataFrame) -> pl.DataFrame:
    """A frame of leads with readable contact columns turned into what is stored (see `lead_values`)."""
    email = frame["email"] if "email" in frame.columns else pl.Series("email", [None] * frame.height, pl.String)
    phone = frame["phone"] if "phone" in frame.columns else pl.Series("phone", [None] * frame.height, pl.String)
    return frame.with_columns(
        *[seal_series(ring, frame[c], kind) for c, kind in LEAD_KINDS.items() if c in frame.columns],
        email_bidx=pl.Series([crypto.blind_index(ring, _clean(v), "email") for v in email.to_list()], dtype=pl.String),
        phone_bidx=pl.Series([crypto.blind_index(ring, _clean(v), "phone") for v in phone.to_list()], dtype=pl.String),
        email_domain=pl.Series([email_domain(v) for v in email.to_list()], dtype=pl.String),
    )


def holds_pii(value: Any) -> bool:
    """Whether a JSON-able value has a readable string under one of AUDIT_KEYS, at any depth."""
    return bool(_pii_strings(value))


def seal_json(ring: crypto.Keyring, value: Any) -> Any:
    """A JSON-able value with the strings under AUDIT_KEYS sealed, at any depth."""
    if isinstance(value, dict):
        return {k: (crypto.seal(ring, v, AUDIT_KEYS[k]) if k in AUDIT_KEYS and isinstance(v, str) and v
                    and not crypto.is_sealed(v) else seal_json(ring, v)) for k, v in value.items()}
    if isinstance(value, list):
        return [seal_json(ring, v) for v in value]
    return value


# ---------------------------------------------------------------- SQL functions


def register(con: duckdb.DuckDBPyConnection) -> None:
    """The SQL functions a query uses to seal, open or index inside the store, on this connection:
    fd_seal(value, kind), fd_open(value), fd_bidx(value, kind), fd_domain(email). Registered once per
    connection; the keyring is the store's."""
    ring = crypto.for_connection(con)
    functions = {
        "fd_seal": (lambda v, k: crypto.seal(ring, _clean(v), k), ["VARCHAR", "VARCHAR"]),
        "fd_open": (lambda v: crypto.open_text(ring, v), ["VARCHAR"]),
        "fd_bidx": (lambda v, k: crypto.blind_index(ring, _clean(v), k), ["VARCHAR", "VARCHAR"]),
        "fd_domain": (email_domain, ["VARCHAR"]),
    }
    for fn_name, (fn, args) in functions.items():
        try:
            con.create_function(fn_name, fn, args, "VARCHAR", null_handling="special", side_effects=True)
        except duckdb.NotImplementedException as exc:  # already on this connection
            if "already created" not in str(exc):
                raise


# ---------------------------------------------------------------- sealing what an older store kept readable


def seal_existing(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Seal every readable value of COLUMNS and of the audit records' AUDIT_KEYS, fill the leads' blind indexes
    and domains; returns the values sealed per column. Run by the schema migration (inside its transaction)."""
    ring = crypto.for_connection(con)
    counts: dict[str, int] = {}
    for table, column, kind, condition in COLUMNS:
        rows = con.sql(f'SELECT id, "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL '  # noqa: S608
                       f"AND NOT starts_with(\"{column}\", 'enc1:') AND {condition}").pl()
        if table == "leads" and column == "email":
            _index_leads(con, ring)
        if rows.is_empty():
            continue
        sealed = rows.with_columns(seal_series(ring, rows[column], kind).alias("sealed"))
        con.register("_sealed", sealed.select("id", "sealed").to_arrow())
        con.execute(f'UPDATE "{table}" SET "{column}" = s.sealed FROM _sealed s '  # noqa: S608 (our own names)
                    f'WHERE "{table}".id = s.id')
        con.unregister("_sealed")
        counts[f"{table}.{column}"] = rows.height
    counts["audit_log"] = _seal_audit_values(con, ring)
    return counts


def _index_leads(con: duckdb.DuckDBPyConnection, ring: crypto.Keyring) -> None:
    """Blind indexes and domains for leads whose email and phone are still readable (before sealing them)."""
    rows = con.sql("SELECT id, email, phone FROM leads WHERE (email IS NOT NULL AND NOT starts_with(email, "
                   "'enc1:')) OR (phone IS NOT NULL AND NOT starts_with(phone, 'enc1:'))").pl()
    if rows.is_empty():
        return
    idx = lead_frame(ring, rows).select("id", "email_bidx", "phone_bidx", "email_domain")
    con.register("_idx", idx.to_arrow())
    con.execute("UPDATE leads SET email_bidx = i.email_bidx, phone_bidx = i.phone_bidx, email_domain = i.email_domain "
                "FROM _idx i WHERE leads.id = i.id")
    con.unregister("_idx")


def _seal_audit_values(con: duckdb.DuckDBPyConnection, ring: crypto.Keyring) -> int:
    """Seal AUDIT_KEYS values inside before/after in place, textually, so that the text read back opened is the
    text that was hashed (a sealed record's chain still verifies)."""
    keys = "|".join(AUDIT_KEYS)
    rows = con.execute(f"SELECT id, before, after FROM audit_log WHERE regexp_matches(coalesce(before, '') || "  # noqa: S608
                       f"coalesce(after, ''), '\"({keys})\": \"')").fetchall()
    changed = []
    for record_id, before, after in rows:
        new = (_seal_text(ring, before), _seal_text(ring, after))
        if new != (before, after):
            changed.append((record_id, *new))
    for record_id, before, after in changed:
        con.execute("UPDATE audit_log SET before = ?, after = ? WHERE id = ?", [before, after, record_id])
    return len(changed)


def _seal_text(ring: crypto.Keyring, text: str | None) -> str | None:
    if not text:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    out = text
    for key, plain in _pii_strings(value):
        encoded = json.dumps(plain)
        token = crypto.seal(ring, plain, AUDIT_KEYS[key])
        out = out.replace(f'"{key}": {encoded}', f'"{key}": "{token}"')
    return out


def _pii_strings(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        found = [(k, v) for k, v in value.items() if k in AUDIT_KEYS and isinstance(v, str) and v
                 and not crypto.is_sealed(v)]
        return found + [p for v in value.values() for p in _pii_strings(v)]
    if isinstance(value, list):
        return [p for v in value for p in _pii_strings(v)]
    return []


# ---------------------------------------------------------------- key rotation and status


def key_status(store: Store) -> pl.DataFrame:
    """Sealed values per column and key id, and values still readable (should be none)."""
    parts = []
    with store.read() as con:
        for table, column, _, condition in COLUMNS:
            parts.append(con.sql(
                f"SELECT '{table}.{column}' AS \"column\", CASE WHEN starts_with(\"{column}\", 'enc1:') "  # noqa: S608
                f"THEN split_part(\"{column}\", ':', 2) ELSE 'readable' END AS key_id, count(*) AS \"values\" "
                f'FROM "{table}" WHERE "{column}" IS NOT NULL AND {condition} GROUP BY ALL').pl())
    frame = pl.concat(parts) if parts else pl.DataFrame()
    return frame.sort("column", "key_id") if not frame.is_empty() else frame


def rotate(store: Store, actor: Actor, now: datetime, batch: int = ROTATE_BATCH) -> dict[str, int]:
    """Re-seal every value sealed under an older key with the current one, `batch` rows per write (other
    processes get their turn in between; a stopped rotation is simply run again). Audit records' sealed values
    are re-sealed too: their chain is hashed over the opened text, so it still verifies. Returns values
    re-sealed per column; one audit record says what was done."""
    from flashdash import audit
    from flashdash.access import AccessDenied

    if actor.role != "admin":
        raise AccessDenied("Only an admin rotates the encryption keys.")
    ring = store.keyring
    unknown = sorted(set(key_status(store)["key_id"].to_list()) - set(ring.keys) - {"readable"})
    if unknown:
        raise crypto.CryptoError(f"Values are sealed with key(s) {', '.join(unknown)}, which the keyring does not "
                                 f"hold: add them to {crypto.KEYS_ENV} after the current key, then rotate again.")
    done: dict[str, int] = {}
    targets = [(t, c) for t, c, _, _ in COLUMNS] + [("audit_log", "before"), ("audit_log", "after")]
    for table, column in targets:
        while True:
            with store.write() as con:
                rows = con.sql(f'SELECT id, "{column}" FROM "{table}" WHERE regexp_matches("{column}", ?) '  # noqa: S608
                               "LIMIT ?", params=[_older_key_pattern(ring), batch]).pl()
                if rows.is_empty():
                    break
                fresh = rows.with_columns(pl.Series("fresh", [crypto.reseal_text(ring, v) for v in
                                                              rows[column].to_list()], pl.String))
                con.register("_fresh", fresh.select("id", "fresh").to_arrow())
                con.execute(f'UPDATE "{table}" SET "{column}" = f.fresh FROM _fresh f '  # noqa: S608
                            f'WHERE "{table}".id = f.id')
                con.unregister("_fresh")
                done[f"{table}.{column}"] = done.get(f"{table}.{column}", 0) + rows.height
    with store.write() as con:
        audit.record(con, actor.username, "rotate_keys", "encryption", ring.current, now,
                     after={"current_key": ring.current, "resealed": done},
                     reason="values sealed under older keys re-sealed with the current key")
    return done


def _older_key_pattern(ring: crypto.Keyring) -> str:
    """A regular expression (RE2, no look-ahead) matching a sealed value under any key but the current one."""
    others = [k for k in ring.keys if k != ring.current]
    return "enc1:(" + "|".join(re.escape(k) for k in others) + "):" if others else "enc1:(?:$^)"
