"""The row-scope oracle and the leak checks shared by the access matrix tests.

The oracle works out with plain SQL on the store, apart from the product's queries, which leads, reps and teams a
demo user may see; the checks look through frames, charts and text for anything outside that.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from flashdash.store import Store

ROLES = ("rep", "manager", "analyst", "executive", "admin")
MASK = "•••"

# Columns whose values name a lead, a rep or a team by id; a lead frame's own `id` is a lead id too.
LEAD_ID_COLUMNS = frozenset({"lead_id"})
REP_ID_COLUMNS = frozenset({"owner_id", "rep_id", "to_rep_id", "assigned_rep_id"})
TEAM_ID_COLUMNS = frozenset({"team_id"})
# Columns that hold a lead's contact details: only the mask (or nothing) for roles that must not read them.
CONTACT_COLUMNS = frozenset({"contact_name", "email", "phone", "to_address"})
# The lead's own fields that name it: none may show for a lead outside the role's scope.
NAMING_FIELDS = ("merchant_name", "email", "contact_name", "phone", "external_id")
SAMPLE_SIZE = 50


@dataclass(frozen=True)
class Scope:
    """What one demo user may see: lead, rep and team ids, and the names of the leads they may not see."""

    username: str
    role: str
    sees_all: bool
    masks_contacts: bool
    lead_ids: frozenset[int]
    rep_ids: frozenset[int]
    team_ids: frozenset[int]
    hidden_values: frozenset[str]  # naming fields of out-of-scope leads that no in-scope lead shares
    hidden_merchants: frozenset[str]  # out-of-scope merchant names no in-scope lead shares (for text search)
    contact_values: frozenset[str]  # every lead's contact name, email and phone (for the masked roles)
    outside: tuple[dict[str, Any], ...]  # a sample of out-of-scope leads: id, external_id, merchant_name, email


def _rows(store: Store, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with store.read() as con:
        return con.execute(query, params or []).fetchall()


def scope_of(store: Store, username: str) -> Scope:
    """The oracle: rep, their own leads; manager, the leads of the reps on the teams they manage (and their own),
    plus the unassigned leads of those teams' regions (the queue they route); everyone else, every row."""
    ((role, rep_id),) = _rows(store, "SELECT role, rep_id FROM users WHERE username = ?", [username])
    all_leads = {r[0] for r in _rows(store, "SELECT id FROM leads")}
    if role == "rep":
        reps = {rep_id}
        teams = {r[0] for r in _rows(store, "SELECT team_id FROM reps WHERE id = ?", [rep_id])}
        leads = {r[0] for r in _rows(store, "SELECT id FROM leads WHERE owner_id = ?", [rep_id])}
    elif role == "manager":
        teams = {r[0] for r in _rows(store, "SELECT id FROM teams WHERE manager_id = ?", [rep_id])}
        reps = {r[0] for r in _rows(store, "SELECT id FROM reps WHERE list_contains(?, team_id)", [sorted(teams)])}
        reps.add(rep_id)
        leads = {r[0] for r in _rows(
            store,
            "SELECT id FROM leads WHERE list_contains(?, owner_id) OR (owner_id IS NULL AND region_id IN "
            "(SELECT region_id FROM teams WHERE list_contains(?, id)))",
            [sorted(reps), sorted(teams)],
        )}
    else:
        reps = {r[0] for r in _rows(store, "SELECT id FROM reps")}
        teams = {r[0] for r in _rows(store, "SELECT id FROM teams")}
        leads = all_leads
    return _scope(store, username, role, frozenset(leads), frozenset(reps), frozenset(teams))


def _scope(store: Store, username: str, role: str, leads: frozenset[int], reps: frozenset[int],
           teams: frozenset[int]) -> Scope:
    rows = _rows(store, f"SELECT id, {', '.join(NAMING_FIELDS)} FROM leads ORDER BY id")  # noqa: S608 (constants)
    inside_values = {str(v) for r in rows if r[0] in leads for v in r[1:] if v is not None}
    outside_rows = [r for r in rows if r[0] not in leads]
    hidden = {str(v) for r in outside_rows for v in r[1:] if v is not None} - inside_values
    inside_merchants = {r[1] for r in rows if r[0] in leads and r[1]}
    # a name inside an in-scope lead's name ("Maple Pizza" in "Maple Pizza LLC") would be found in text it is not in
    hidden_merchants = {m for m in {r[1] for r in outside_rows if r[1]} - inside_merchants
                        if not any(m in inside for inside in inside_merchants)}
    # a contact who shares a rep's or a user's name is not told apart from them: only the rest count
    people = {r[0] for r in _rows(store, "SELECT name FROM reps UNION SELECT name FROM users")}
    contacts = {str(v) for r in rows for v in (r[2], r[3], r[4]) if v} - people
    # every k-th out-of-scope lead: a sample spread over the ids, the same on every run
    step = max(1, len(outside_rows) // SAMPLE_SIZE)
    sample = tuple({"id": r[0], "merchant_name": r[1], "email": r[2], "external_id": r[5]}
                   for r in outside_rows[::step][:SAMPLE_SIZE])
    return Scope(username=username, role=role, sees_all=role in ("analyst", "executive", "admin"),
                 masks_contacts=role in ("analyst", "executive"), lead_ids=leads, rep_ids=reps, team_ids=teams,
                 hidden_values=frozenset(hidden), hidden_merchants=frozenset(hidden_merchants),
                 contact_values=frozenset(contacts), outside=sample)


# ---------------------------------------------------------------- looking through what a read returns


def frames_in(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every frame (polars or pandas) inside a read's result, with where it was: dicts, lists, dataclasses."""
    if isinstance(obj, (pl.DataFrame, pl.LazyFrame)):
        yield path or "result", obj.collect() if isinstance(obj, pl.LazyFrame) else obj
    elif _is_pandas(obj):
        yield path or "result", obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from frames_in(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from frames_in(v, f"{path}[{i}]")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from frames_in(getattr(obj, f.name), f"{path}.{f.name}" if path else f.name)


def texts_in(obj: Any) -> Iterator[str]:
    """Every string inside a read's result outside its frames (notes, sentences, labels)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield str(k)
            yield from texts_in(v)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            yield from texts_in(v)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from texts_in(getattr(obj, f.name))


def _is_pandas(obj: Any) -> bool:
    return type(obj).__module__.startswith("pandas") and type(obj).__name__ == "DataFrame"


def columns_of(frame: Any) -> dict[str, list[Any]]:
    """A frame's columns as lists (a pandas frame's named or non-range index as a column too)."""
    if isinstance(frame, pl.DataFrame):
        return {c: frame[c].to_list() for c in frame.columns}
    out = {str(c): frame[c].tolist() for c in frame.columns}
    index = frame.index
    if index.name is not None or type(index).__name__ != "RangeIndex":
        out.setdefault(str(index.name or "index"), index.tolist())
    return out


def _ids(values: Iterable[Any]) -> set[int]:
    out: set[int] = set()
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            continue
        try:
            out.add(int(v))
        except (TypeError, ValueError):
            continue
    return out


# Columns that make a frame with a merchant name a customer frame: its id is the customer's, not a lead's.
CUSTOMER_COLUMNS = frozenset({"won_at", "churned_at", "customer_id", "mrr", "active_customer"})


def _is_lead_frame(lowered: Mapping[str, str]) -> bool:
    """A frame of leads: one row per lead, its `id` the lead's (merchant name, no lead_id, not a customer)."""
    return ("id" in lowered and "merchant_name" in lowered and "lead_id" not in lowered
            and not CUSTOMER_COLUMNS & lowered.keys())


def frame_leaks(frame: Any, scope: Scope, where: str = "", *, skip: Iterable[str] = ()) -> list[str]:
    """What a frame shows that the scope does not allow: ids out of scope, hidden leads' names, unmasked contacts.
    `skip` names checks a read is documented to pass over: "rep_ids", "team_ids", "lead_ids"."""
    cols = columns_of(frame)
    problems: list[str] = []
    skip = set(skip)
    lowered = {c.lower(): c for c in cols}
    lead_cols = [c for c in cols if c.lower() in LEAD_ID_COLUMNS]
    if _is_lead_frame(lowered):
        lead_cols.append(lowered["id"])
    checks = [("lead_ids", lead_cols, scope.lead_ids),
              ("rep_ids", [c for c in cols if c.lower() in REP_ID_COLUMNS], scope.rep_ids),
              ("team_ids", [c for c in cols if c.lower() in TEAM_ID_COLUMNS], scope.team_ids)]
    for kind, names, allowed in checks:
        if kind in skip:
            continue
        for c in names:
            bad = sorted(_ids(cols[c]) - allowed)
            if bad:
                problems.append(f"{where}: column {c!r} holds {kind[:-1].replace('_', ' ')}s out of scope {bad[:5]}"
                                f"{' …' if len(bad) > 5 else ''}")
    for c, values in cols.items():
        strings = {str(v) for v in values if isinstance(v, str)}
        if not strings:
            continue
        hidden = sorted(strings & scope.hidden_values)
        if hidden:
            problems.append(f"{where}: column {c!r} names leads out of scope: {hidden[:3]}")
        if scope.masks_contacts:
            if c.lower() in CONTACT_COLUMNS and strings - {MASK}:
                problems.append(f"{where}: contact column {c!r} is not masked: {sorted(strings - {MASK})[:3]}")
            elif c.lower() not in CONTACT_COLUMNS and strings & scope.contact_values:
                problems.append(f"{where}: column {c!r} holds contact details: {sorted(strings & scope.contact_values)[:3]}")
    return problems


def text_leaks(text: str, scope: Scope, where: str = "") -> list[str]:
    """Merchant names and contact emails of out-of-scope leads (the sample and every hidden merchant) in text;
    and, for the masked roles, any lead's email."""
    problems: list[str] = []
    if not scope.sees_all:
        named = sorted(m for m in scope.hidden_merchants if m in text)
        named += sorted(o["email"] for o in scope.outside if o["email"] and o["email"] in text)
        if named:
            problems.append(f"{where}: text names leads out of scope: {named[:3]}")
    if scope.masks_contacts:
        shown = sorted(v for v in scope.contact_values if "@" in v and v in text)
        if shown:
            problems.append(f"{where}: text shows contact emails: {shown[:3]}")
    return problems


def message_leaks(message: str, lead: Mapping[str, Any]) -> list[str]:
    """The naming fields of one lead that an error message gives away."""
    return [f"{k} {lead[k]!r}" for k in ("merchant_name", "email", "contact_name", "external_id")
            if lead.get(k) and str(lead[k]) in message]


def lead_fields(store: Store, lead_id: int) -> dict[str, Any]:
    """One lead's naming fields, read straight from the table."""
    ((*values,),) = _rows(store, f"SELECT id, {', '.join(NAMING_FIELDS)} FROM leads WHERE id = ?",  # noqa: S608
                          [lead_id])
    return dict(zip(("id", *NAMING_FIELDS), values, strict=True))
