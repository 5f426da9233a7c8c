"""The smart-filtered lead list and saved views (personal or shared with the team, plus built-in ones).

A `LeadFilter` narrows the leads in the acting user's scope by stage, score band, score, age, owner, team,
vertical, channel, search text and a few work-list switches; `lead_list` returns the matching rows (contact
fields masked for analysts and executives, who cannot search them either) and `lead_count` how many match.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from flashdash import audit, crypto
from flashdash.access import AccessDenied, Actor, mask_pii
from flashdash.qualification import ALL_STAGES, STAGES, scope_params
from flashdash.store import Store

BANDS = ("high", "medium", "low", "unscored")
SORTS = ("newest", "oldest", "score", "stale", "last_activity", "merchant")
MAX_NAME = 60
MAX_SEARCH = 200
MAX_LIMIT = 10_000
STALE_DAYS = 14
LIST_COLUMNS = ("id", "merchant_name", "contact_name", "email", "status", "days_in_stage", "score", "band",
                "probability", "owner_id", "owner", "team", "vertical", "channel", "interest_level", "language",
                "submitted_at", "age_days", "last_activity_at")


class ViewError(ValueError):
    """A filter or saved view that cannot be used as given; the message says what to change."""


@dataclass(frozen=True)
class LeadFilter:
    """What the lead list shows: empty tuples and None bounds do not filter. Ages are in days."""

    stages: tuple[str, ...] = ()
    bands: tuple[str, ...] = ()  # high | medium | low | unscored
    score_min: float | None = None
    score_max: float | None = None
    age_min_days: float | None = None  # days since submission
    age_max_days: float | None = None
    owners: tuple[int, ...] = ()  # rep ids
    verticals: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    teams: tuple[int, ...] = ()
    search: str = ""  # merchant name; contact name and email too for roles that see them
    unassigned_only: bool = False
    in_stage_over_days: float | None = None  # more than this many days in the current stage
    unworked_only: bool = False  # no activity logged yet

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name in ("stages", "bands", "verticals", "channels"):
            object.__setattr__(self, name, _texts(getattr(self, name), name, problems))
        object.__setattr__(self, "stages", tuple(s.lower() for s in self.stages))
        object.__setattr__(self, "bands", tuple(b.lower() for b in self.bands))
        for name in ("owners", "teams"):
            object.__setattr__(self, name, _ids(getattr(self, name), name, problems))
        bad = [s for s in self.stages if s not in ALL_STAGES]
        if bad:
            problems.append(f"unknown stage {', '.join(bad)}; choose from {', '.join(ALL_STAGES)}")
        bad = [b for b in self.bands if b not in BANDS]
        if bad:
            problems.append(f"unknown score band {', '.join(bad)}; choose from {', '.join(BANDS)}")
        _bounds(self.score_min, self.score_max, "score", 0, 100, problems)
        _bounds(self.age_min_days, self.age_max_days, "age in days", 0, None, problems)
        _bounds(self.in_stage_over_days, None, "days in stage", 0, None, problems)
        if not isinstance(self.search, str):
            problems.append("the search must be text")
        else:
            object.__setattr__(self, "search", self.search.strip())
            if len(self.search) > MAX_SEARCH:
                problems.append(f"the search is {len(self.search)} characters; keep it to {MAX_SEARCH}")
        for name in ("unassigned_only", "unworked_only"):
            if not isinstance(getattr(self, name), bool):
                problems.append(f"{name} must be true or false")
        if self.unassigned_only and self.owners:
            problems.append("pick owners or unassigned leads only, not both")
        if problems:
            raise ViewError("The filter cannot be used: " + "; ".join(problems) + ".")

    def to_json(self) -> str:
        """The filter as stored in saved_views.filters (only the fields that filter)."""
        default = LeadFilter()
        data = {k: v for k, v in asdict(self).items() if v != getattr(default, k)}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | dict[str, Any]) -> LeadFilter:
        """The filter a saved view stores; ViewError for unknown keys or bad values."""
        try:
            data = json.loads(text) if isinstance(text, str) else dict(text)
        except json.JSONDecodeError as exc:
            raise ViewError(f"The saved filter is not valid JSON ({exc.msg}).") from None
        if not isinstance(data, dict):
            raise ViewError("The saved filter must be a JSON object.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ViewError(f"The saved filter has unknown keys {unknown}; known ones are {sorted(known)}.")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def params(self) -> dict[str, Any]:
        return {"stages": list(self.stages), "bands": list(self.bands), "score_min": self.score_min,
                "score_max": self.score_max, "age_min_days": self.age_min_days, "age_max_days": self.age_max_days,
                "owners": list(self.owners), "verticals": list(self.verticals), "channels": list(self.channels),
                "teams": list(self.teams), "search": self.search.lower(), "unassigned_only": self.unassigned_only,
                "in_stage_over_days": self.in_stage_over_days, "unworked_only": self.unworked_only}


def _texts(value: Any, name: str, problems: list[str]) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value or ())
    if not all(isinstance(v, str) and v.strip() for v in items):
        problems.append(f"{name} must be a list of non-empty texts")
        return ()
    return tuple(v.strip() for v in items)


def _ids(value: Any, name: str, problems: list[str]) -> tuple[int, ...]:
    items = tuple(value or ())
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        problems.append(f"{name} must be a list of ids (whole numbers)")
        return ()
    return items


def _bounds(low: Any, high: Any, what: str, floor: float, ceiling: float | None, problems: list[str]) -> None:
    for v in (low, high):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            problems.append(f"the {what} bounds must be numbers (got {v!r})")
            return
        if v < floor or (ceiling is not None and v > ceiling):
            span = f"between {floor:g} and {ceiling:g}" if ceiling is not None else f"at least {floor:g}"
            problems.append(f"the {what} bounds must be {span} (got {v!r})")
            return
    if low is not None and high is not None and low > high:
        problems.append(f"the smallest {what} ({low:g}) is above the largest ({high:g})")


# ---------------------------------------------------------------- the lead list


def _query_params(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor, flt: LeadFilter, now: datetime,
                  limit: int | None, sort: str) -> dict[str, Any]:
    if not isinstance(flt, LeadFilter):
        raise ViewError("Pass a LeadFilter.")
    if sort not in SORTS:
        raise ViewError(f"Unknown sort {sort!r}; choose one of {', '.join(SORTS)}.")
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise ViewError(f"Show between 1 and {MAX_LIMIT:,} leads (got {limit}).")
    return {**scope_params(store, con, actor), **flt.params(), "now": now, "limit": limit, "sort": sort,
            "search_contacts": not actor.masks_pii,
            "search_bidx": crypto.blind_index(store.keyring, flt.search, "email") if "@" in flt.search else None}


def lead_list(store: Store, actor: Actor, flt: LeadFilter, now: datetime, limit: int | None = 500,
              sort: str = "newest") -> pl.DataFrame:
    """The leads in the actor's scope that `flt` matches, sorted (one of SORTS), at most `limit` (None: all);
    contact fields masked for analysts and executives. Columns: LIST_COLUMNS."""
    with store.read() as con:
        rows = store.frame("view_leads", con, **_query_params(store, con, actor, flt, now, limit, sort))
    return mask_pii(rows.select(LIST_COLUMNS), actor)


def lead_count(store: Store, actor: Actor, flt: LeadFilter, now: datetime) -> int:
    """How many leads in the actor's scope `flt` matches (for "N leads match")."""
    with store.read() as con:
        rows = store.frame("view_leads", con, **_query_params(store, con, actor, flt, now, 1, "newest"))
    return int(rows["matching"][0]) if rows.height else 0


def matching_ids(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor, flt: LeadFilter,
                 now: datetime) -> list[int]:
    """Every lead id in the actor's scope that `flt` matches, on an open connection (for bulk actions)."""
    rows = store.frame("view_leads", con, **_query_params(store, con, actor, flt, now, None, "newest"))
    return sorted(rows["id"].to_list())


# ---------------------------------------------------------------- built-in views


@dataclass(frozen=True)
class BuiltinView:
    key: str
    name: str
    filter: LeadFilter


def builtin_views(actor: Actor) -> list[BuiltinView]:
    """The views every user has (not stored), for their role."""
    if actor.role == "rep":
        mine = BuiltinView("builtin:open", "My open leads",
                           LeadFilter(stages=STAGES, owners=(actor.rep_id,) if actor.rep_id is not None else ()))
    elif actor.role == "manager":
        mine = BuiltinView("builtin:open", "Team's open leads", LeadFilter(stages=STAGES))
    else:
        mine = BuiltinView("builtin:open", "Open leads", LeadFilter(stages=STAGES))
    out = [mine,
           BuiltinView("builtin:hot_unworked", "Hot and unworked",
                       LeadFilter(stages=STAGES, bands=("high",), unworked_only=True)),
           BuiltinView("builtin:stale", "Stale in stage", LeadFilter(stages=STAGES, in_stage_over_days=STALE_DAYS))]
    if actor.role in ("manager", "admin"):
        out.append(BuiltinView("builtin:unassigned", "Unassigned", LeadFilter(stages=STAGES, unassigned_only=True)))
    return out


# ---------------------------------------------------------------- saved views


VIEWS_SCHEMA = {"key": pl.String, "id": pl.Int64, "name": pl.String, "owner": pl.String, "owner_name": pl.String,
                "shared": pl.Boolean, "builtin": pl.Boolean, "filters": pl.String, "created_at": pl.Datetime("us")}


def _actor_teams(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor) -> list[int]:
    if actor.rep_id is None:
        return []
    return store.frame("view_actor_teams", con, rep_id=actor.rep_id)["id"].to_list()


def views(store: Store, actor: Actor) -> pl.DataFrame:
    """The views the actor may open: built-in ones first, then their own, then those shared by their team's
    members (admins: every shared view). `key` opens one with view_filter."""
    with store.read() as con:
        saved = store.frame("view_saved_visible", con, username=actor.username, teams=_actor_teams(store, con, actor),
                            all_shared=actor.role == "admin")
    built = pl.DataFrame(
        [{"key": v.key, "id": None, "name": v.name, "owner": None, "owner_name": None, "shared": False,
          "builtin": True, "filters": v.filter.to_json(), "created_at": None} for v in builtin_views(actor)],
        schema=VIEWS_SCHEMA)
    stored = saved.select(
        (pl.lit("view:") + pl.col("id").cast(pl.String)).alias("key"), pl.col("id").cast(pl.Int64), "name",
        "owner", "owner_name", "shared", pl.lit(False).alias("builtin"), "filters", "created_at",
    ).cast(VIEWS_SCHEMA)
    return pl.concat([built, stored])


def view_filter(store: Store, actor: Actor, key: str) -> LeadFilter:
    """The filter of a view the actor may open, by its key ("builtin:stale", "view:12")."""
    shown = views(store, actor).filter(pl.col("key") == key)
    if shown.is_empty():
        raise ViewError(f"There is no view {key!r} among yours; pick one from the list.")
    return LeadFilter.from_json(shown["filters"][0])


def _check_name(name: Any) -> str:
    text = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(text) <= MAX_NAME:
        raise ViewError(f"Name the view with 1 to {MAX_NAME} characters (got {len(text)}).")
    return text


def save_view(store: Store, actor: Actor, name: str, flt: LeadFilter, shared: bool, now: datetime) -> int:
    """Save `flt` under `name` (unique among the actor's views); `shared` shows it to the actor's team.
    Returns the view's id. Audited."""
    text = _check_name(name)
    if not isinstance(flt, LeadFilter):
        raise ViewError("Pass a LeadFilter to save.")
    if not isinstance(shared, bool):
        raise ViewError(f"shared must be true or false (got {shared!r}).")
    if text.lower() in {v.name.lower() for v in builtin_views(actor)}:
        raise ViewError(f"{text!r} is a built-in view's name; pick another.")
    filters = flt.to_json()
    with store.write() as con:
        if store.scalar("view_name_taken", con, owner=actor.username, view_name=text):
            raise ViewError(f"You already have a view named {text!r}; pick another name or delete that one.")
        view_id = store.scalar("view_insert", con, owner=actor.username, view_name=text, filters=filters, shared=shared,
                               created_at=now)
        audit.record(con, actor.username, "create", "saved_view", view_id, now,
                     after={"name": text, "filters": json.loads(filters), "shared": shared})
    return view_id


def delete_view(store: Store, actor: Actor, view_id: int, now: datetime) -> None:
    """Delete a saved view: its owner or an admin. Audited with what it was."""
    with store.write() as con:
        rows = store.frame("view_saved_by_id", con, view_id=view_id)
        if rows.is_empty():
            raise ViewError(f"There is no saved view {view_id}.")
        row = rows.row(0, named=True)
        if row["owner"] != actor.username and actor.role != "admin":
            raise AccessDenied("Only the view's owner or an admin can delete it.")
        store.run("view_delete", con, view_id=view_id)
        audit.record(con, actor.username, "delete", "saved_view", view_id, now,
                     before={"name": row["name"], "owner": row["owner"], "filters": json.loads(row["filters"]),
                             "shared": row["shared"]})
