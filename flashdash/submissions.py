"""Submission tracking: how many merchants submit, through what, how fast they hear back, and each one's history.

Everything reads through the scoped_* macros, so the page filters and the acting user's row scope
apply to every figure; contact fields are masked for the roles that must not read them.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import polars as pl

from flashdash import crypto
from flashdash.access import Actor, mask_pii
from flashdash.entities import ACTIVITY_TYPES, LEAD_STATUSES
from flashdash.executive import bucket_for
from flashdash.filters import Filters
from flashdash.store import Store

DIMENSIONS: dict[str, str] = {"channel": "Channel", "campaign": "Campaign", "vertical": "Vertical"}
LIST_LIMIT = 1_000
ACTIVITY_LIMIT = 500  # a lead's activities shown in its history, newest first
TOP_SEGMENTS = 8  # the trend chart keeps this many segments and folds the rest into OTHER
NONE = "(none)"  # the segment of submissions that left the field empty (named so in the SQL too)
OTHER = "(other)"
# A lead looked up by id is shown whenever it is in the actor's scope, whatever the page's period.
_ALL_TIME = Filters(start=date(1900, 1, 1), end=date(2999, 12, 31))


# ---------------------------------------------------------------- pure helpers


def check_dimension(dimension: str) -> str:
    if dimension not in DIMENSIONS:
        raise ValueError(f"Cannot split submissions by {dimension!r}; choose one of: {', '.join(DIMENSIONS)}.")
    return dimension


def lump(frame: pl.DataFrame, top: int = TOP_SEGMENTS) -> tuple[pl.DataFrame, dict[str, tuple[str, ...]]]:
    """Keep the `top` biggest segments of a (period, segment, submissions) frame; fold the rest into OTHER.

    Returns the folded frame and what OTHER stands for (empty when nothing was folded: folding a single
    segment would only rename it).
    """
    totals = frame.group_by("segment").agg(pl.col("submissions").sum()).sort(
        ["submissions", "segment"], descending=[True, False])
    if totals.height <= top + 1:
        return frame, {}
    kept = totals["segment"].head(top).to_list()
    rest = tuple(sorted(totals["segment"].slice(top).to_list()))
    folded = (
        frame.with_columns(segment=pl.when(pl.col("segment").is_in(kept)).then(pl.col("segment"))
                           .otherwise(pl.lit(OTHER)))
        .group_by("period", "segment")
        .agg(pl.col("submissions").sum())
        .sort("period", "segment")
    )
    return folded, {OTHER: rest}


def segments_for(picked: list[str] | tuple[str, ...], groups: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The segment values behind what the user clicked (OTHER expands to the segments it folds)."""
    out: set[str] = set()
    for value in picked:
        out.update(groups.get(value, (value,)))
    return tuple(sorted(out))


def like_pattern(search: str) -> str:
    """An ILIKE pattern (escape character backslash) matching `search` anywhere; '' for no search."""
    text = search.strip()
    if not text:
        return ""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def lead_keys(ref: str | int) -> dict[str, Any] | None:
    """Query parameters for a lead reference: a numeric lead id, or an external id such as FL-000123."""
    text = str(ref).strip()
    if not text:
        return None
    return {"lead_id": int(text) if text.isascii() and text.isdigit() else -1, "ref": text}


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$])")


def md_escape(text: Any) -> str:
    """Text from the data or the user, safe to put inside Streamlit markdown (shown literally)."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", str(text))


def lead_title(lead: pl.DataFrame) -> str:
    """One line naming a lead: merchant (bold), id, status and owner, as markdown."""
    row = lead.row(0, named=True)
    return (f"**{md_escape(row['merchant_name'] or '(no name)')}** · lead {row['id']} · "
            f"{md_escape(row['status'])} · owner {md_escape(row['owner'] or '(unassigned)')}")


_FIELDS = (
    ("id", "Lead id"), ("external_id", "External id"), ("submitted_at", "Submitted"),
    ("merchant_name", "Merchant"), ("contact_name", "Contact"), ("email", "Email"), ("phone", "Phone"),
    ("city", "City"), ("region", "Region"), ("vertical", "Vertical"), ("company_size", "Company size"),
    ("monthly_volume", "Monthly volume (est.)"), ("channel", "Channel"), ("campaign", "Campaign"),
    ("landing_page", "Landing page"), ("interest_level", "Interest level"), ("status", "Status"),
    ("status_changed_at", "Status since"), ("first_response_at", "First response"),
    ("response_hours", "Hours to first response"), ("owner", "Owner"), ("team", "Team"),
)


def _text(value: Any, column: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if column == "monthly_volume":
        return f"${value:,.0f}"
    return str(value)


def fields(lead: pl.DataFrame) -> pl.DataFrame:
    """One lead's row as (field, value) pairs, values as text, in reading order."""
    row = lead.row(0, named=True)
    pairs = [(label, _text(row[col], col)) for col, label in _FIELDS if col in row]
    return pl.DataFrame(pairs, schema={"field": pl.String, "value": pl.String}, orient="row")


STAGE_LANES = tuple(LEAD_STATUSES)
ACTIVITY_LANES = tuple(ACTIVITY_TYPES)
_EVENTS_SCHEMA = {"at": pl.Datetime("us"), "lane": pl.String, "kind": pl.String, "detail": pl.String}


def timeline(stages: pl.DataFrame, activities: pl.DataFrame) -> pl.DataFrame:
    """A lead's stage changes and activities as one event list: (at, lane, kind, detail), oldest first."""
    parts = [pl.DataFrame(schema=_EVENTS_SCHEMA)]
    if not stages.is_empty():
        parts.append(stages.select(
            pl.col("changed_at").cast(pl.Datetime("us")).alias("at"),
            pl.col("to_status").alias("lane"),
            pl.lit("stage change").alias("kind"),
            pl.concat_str([pl.col("from_status").fill_null("–"), pl.lit(" → "), pl.col("to_status"),
                           pl.lit(" ("), pl.col("actor").fill_null("?"), pl.lit(")"),
                           pl.when(pl.col("reason").is_not_null()).then(pl.lit(": ") + pl.col("reason"))
                           .otherwise(pl.lit(""))]).alias("detail"),
        ))
    if not activities.is_empty():
        parts.append(activities.select(
            pl.col("occurred_at").cast(pl.Datetime("us")).alias("at"),
            pl.col("type").alias("lane"),
            pl.lit("activity").alias("kind"),
            pl.concat_str([pl.col("type"), pl.lit(" by "), pl.col("rep").fill_null("?"),
                           pl.when(pl.col("outcome").is_not_null()).then(pl.lit(": ") + pl.col("outcome"))
                           .otherwise(pl.lit(""))]).alias("detail"),
        ))
    return pl.concat(parts).sort("at", "kind", maintain_order=True)


# ---------------------------------------------------------------- reads


def overview(store: Store, actor: Actor, filters: Filters, dimension: str) -> dict[str, Any]:
    """Submissions per period and segment of `dimension`, and per segment over the whole period."""
    check_dimension(dimension)
    bucket = bucket_for(filters)
    frame = store.frame("sub_by_period_segment", bucket=bucket, dimension=dimension, **filters.params(actor))
    frame = frame.with_columns(pl.col("submissions").cast(pl.Int64))
    by_segment = (frame.group_by("segment").agg(pl.col("submissions").sum())
                  .sort(["submissions", "segment"], descending=[True, False]))
    trend, groups = lump(frame)
    return {"trend": trend, "by_segment": by_segment, "groups": groups, "bucket": bucket,
            "total": int(by_segment["submissions"].sum()) if not by_segment.is_empty() else 0}


def headline(store: Store, actor: Actor, filters: Filters, dimension: str,
             segments: tuple[str, ...] = ()) -> dict[str, Any]:
    """Submissions, the share that has had a first response, and the median hours to it."""
    row = store.frame("sub_headline", dimension=check_dimension(dimension), segments=list(segments),
                      **filters.params(actor)).row(0, named=True)
    subs, responded = int(row["submissions"]), int(row["responded"])
    return {"submissions": subs, "responded": responded, "share_responded": responded / subs if subs else None,
            "median_response_hours": row["median_response_hours"]}


def listing(store: Store, actor: Actor, filters: Filters, dimension: str, segments: tuple[str, ...] = (),
            search: str = "") -> dict[str, Any]:
    """The newest LIST_LIMIT submissions matching `search` (merchant, external id, city, email), masked per role."""
    params = {**filters.params(actor), "dimension": check_dimension(dimension), "segments": list(segments),
              "pattern": like_pattern(search), "search_email": not actor.masks_pii, "limit": LIST_LIMIT,
              "email_bidx": crypto.blind_index(store.keyring, search, "email") if "@" in search else None}
    with store.read() as con:
        rows = store.frame("sub_list", con, **params)
        matching = int(store.scalar("sub_list_count", con, **params))
    return {"rows": mask_pii(rows, actor), "matching": matching, "limit": LIST_LIMIT}


def lead_detail(store: Store, actor: Actor, ref: str | int) -> dict[str, Any] | None:
    """One lead's fields and history, or None when there is no such lead in the actor's scope.

    "Not there" and "not yours" are deliberately the same answer: it tells nobody that a lead exists.
    """
    keys = lead_keys(ref)
    if keys is None:
        return None
    params = _ALL_TIME.params(actor)
    with store.read() as con:
        lead = store.frame("sub_lead", con, **params, **keys)
        if lead.is_empty():
            return None
        lead_id = int(lead["id"][0])
        stages = store.frame("sub_lead_stages", con, lead_id=lead_id, **params)
        activities = store.frame("sub_lead_activities", con, lead_id=lead_id, limit=ACTIVITY_LIMIT, **params)
        opportunities = store.frame("sub_lead_opportunities", con, lead_id=lead_id, **params)
    lead = mask_pii(lead, actor)
    return {"id": lead_id, "lead": lead, "fields": fields(lead), "stages": stages, "activities": activities,
            "opportunities": opportunities, "timeline": timeline(stages, activities)}
