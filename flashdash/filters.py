"""The page filters shared across the dashboards: a date range and org/segment selections."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from flashdash.access import Actor


class FilterError(ValueError):
    """A filter value that cannot be used; the message says how to fix it."""


PRESETS = ("Last 7 days", "Last 30 days", "Last 90 days", "Quarter to date", "Year to date", "Last 12 months",
           "Custom")
DEFAULT_PRESET = "Last 90 days"


def preset_range(preset: str, today: date) -> tuple[date, date]:
    """The inclusive (start, end) of a named preset, ending today."""
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


def default_filters(today: date) -> Filters:
    start, end = preset_range(DEFAULT_PRESET, today)
    return Filters(start=start, end=end)
