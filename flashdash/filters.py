"""The page filters shared across the dashboards: a date range and org/segment selections."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from flashdash.access import Actor
from flashdash.store import Store


class FilterError(ValueError):
    """A filter value that cannot be used; the message says how to fix it."""


ALL_DATA = "All data"
PRESETS = ("Last 7 days", "Last 30 days", "Last 90 days", "Quarter to date", "Year to date", "Last 12 months",
           ALL_DATA, "Custom")
DEFAULT_PRESET = "Last 90 days"


@dataclass(frozen=True)
class DataSpan:
    """The days the store has data for: first and last day with any record, and the last submission."""

    first: date
    last: date
    last_submitted: date | None


def data_span(store: Store) -> DataSpan | None:
    """The store's span of data (None for a store without leads, deals or activities)."""
    row = store.frame("data_span").row(0, named=True)
    if row["first_day"] is None:
        return None
    return DataSpan(first=row["first_day"], last=row["last_day"], last_submitted=row["last_submitted"])


def recorded(store: Store) -> frozenset[str]:
    """What the store's data records at all, of: activities, first_response, interest_level, quota, usage,
    regions, owner_before_win (some lead not won has an owner). An import (e.g. Olist's funnel) may have none
    of them; pages then say so instead of showing 0."""
    row = store.frame("data_recorded").row(0, named=True)
    return frozenset(k for k, v in row.items() if v)


def preset_range(preset: str, today: date, span: DataSpan | None = None) -> tuple[date, date]:
    """The inclusive (start, end) of a named preset, ending today ("All data": the store's span)."""
    if preset == ALL_DATA:
        return (span.first, span.last) if span is not None else (today, today)
    if preset == "Last 7 days":
        return today - timedelta(days=6), today
    if preset == "Last 30 days":
        return today - timedelta(days=29), today
    if preset == "Last 90 days":
        return today - timedelta(days=89), today
    if preset == "Quarter to date":
        q_month = 3 * ((today.month - 1) // 3) + 1
        return date(today.year, q_month, 1), today
    if preset == "Year to date":
        return date(today.year, 1, 1), today
    if preset == "Last 12 months":
        return _add_months(today, -12) + timedelta(days=1), today
    raise FilterError(f"Unknown date preset {preset!r}; choose one of: {', '.join(PRESETS)}.")


def _add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    y, m = d.year + m // 12, m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def parse_date(text: str, what: str = "date") -> date:
    try:
        return date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise FilterError(f"The {what} {text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-03-31.") from None


@dataclass(frozen=True)
class Filters:
    start: date
    end: date
    teams: tuple[int, ...] = ()
    regions: tuple[int, ...] = ()
    reps: tuple[int, ...] = ()
    verticals: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise FilterError(
                f"The date range starts on {self.start:%Y-%m-%d}, after it ends on {self.end:%Y-%m-%d}; "
                "pick a start on or before the end."
            )

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The same selection over the period of equal length just before this one."""
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    def with_(self, **changes: Any) -> Filters:
        return replace(self, **changes)

    def params(self, actor: Actor) -> dict[str, Any]:
        """Bound parameters for the scoped_* SQL macros: the filters plus the actor's row scope."""
        return {
            **actor.scope_params(),
            "d0": self.start,
            "d1": self.end,
            "teams": list(self.teams),
            "regions": list(self.regions),
            "reps": list(self.reps),
            "verticals": list(self.verticals),
            "channels": list(self.channels),
        }


def default_preset(today: date, span: DataSpan | None) -> str:
    """DEFAULT_PRESET, unless nothing was submitted in it (e.g. an import of old data): then "All data"."""
    if span is None or span.last_submitted is None:
        return DEFAULT_PRESET
    return ALL_DATA if span.last_submitted < preset_range(DEFAULT_PRESET, today)[0] else DEFAULT_PRESET


def fallback_note(today: date, span: DataSpan | None) -> str | None:
    """Why the period is "All data" by default, or None when the usual default applies."""
    if default_preset(today, span) != ALL_DATA or span is None or span.last_submitted is None:
        return None
    return (f"Nothing was submitted in the {DEFAULT_PRESET.lower()} (the latest submission is from "
            f"{span.last_submitted:%b %d, %Y}), so the period starts as all the data: {span.first:%b %d, %Y} – "
            f"{span.last:%b %d, %Y}.")


def data_ended(today: date, span: DataSpan | None) -> date | None:
    """The data's last day when nothing at all happened in the default period (an old export, e.g. Olist's):
    its open leads were never closed and will not move on. None for a store that is still being worked."""
    if span is None or span.last >= preset_range(DEFAULT_PRESET, today)[0]:
        return None
    return span.last


def default_filters(today: date, span: DataSpan | None = None) -> Filters:
    start, end = preset_range(default_preset(today, span), today, span)
    return Filters(start=start, end=end)
