"""Phase 1's targets, measured against a baseline period: lead response time (cut by half), lead-to-opportunity
conversion (up 30%), rep productivity (up 25%).

Both periods' lead cohorts are judged at the same age (the current one as it stands today, the baseline
as it stood as long after its own end), so young leads do not look like a fall in conversion, and a lead
only counts as responded to if its first activity came by then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import polars as pl

from flashdash.access import Actor
from flashdash.filters import FilterError, Filters
from flashdash.store import Store


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    fmt: str  # hours | pct | rate
    change: float  # the target's relative change: -0.5 is "cut by half"
    help: str


TARGETS = (
    Target("median_response_hours", "Lead response time (median, hours)", "hours", -0.50,
           "Submission to the first logged activity, over the leads reached by the cohort's cut-off."),
    Target("lead_to_opportunity", "Lead-to-opportunity conversion", "pct", 0.30,
           "Share of the period's leads that reached the opportunity stage (or were won) by the cut-off."),
    Target("activities_per_rep_day", "Rep productivity (activities per rep per working day)", "rate", 0.25,
           "Calls, emails, meetings and demos logged, per selling rep and working day of theirs."),
)


def cutoff(end: date, lag: timedelta) -> datetime:
    """The moment a cohort ending on `end` is judged: its end plus the current cohort's age."""
    return datetime.combine(end, time()) + timedelta(days=1) + lag


def _figures(store: Store, con: Any, actor: Actor, filters: Filters, at: datetime) -> dict[str, float | None]:
    params = filters.params(actor)
    leads = store.frame("impact_leads", con, cutoff=at, **params).row(0, named=True)
    work = store.frame("impact_productivity", con, **params).row(0, named=True)
    n = leads["leads"]
    return {
        "leads": float(n),
        "responded": float(leads["responded"]),
        "median_response_hours": leads["median_response_hours"],
        "responded_within_day": leads["within_day"] / leads["day_old"] if leads["day_old"] else None,
        "lead_to_opportunity": leads["to_opportunity"] / n if n else None,
        "activities_per_rep_day": work["activities"] / work["rep_days"] if work["rep_days"] else None,
        "reps": float(work["reps"]),
    }


def _change(now: float | None, before: float | None) -> float | None:
    if now is None or before is None or before == 0:
        return None
    return now / before - 1


def phase1(store: Store, actor: Actor, filters: Filters, baseline: tuple[date, date], today: date) -> dict[str, Any]:
    """The period's figures against the baseline's: for each target, both values, the change and whether the
    target is met; plus the weekly response-time trend across both periods."""
    b0, b1 = baseline
    if b0 > b1:
        raise FilterError(f"The baseline starts on {b0:%Y-%m-%d}, after it ends on {b1:%Y-%m-%d}; "
                          "pick a start on or before the end.")
    if b1 >= filters.start:
        raise FilterError(f"The baseline ({b0:%Y-%m-%d} – {b1:%Y-%m-%d}) must end before the period starts "
                          f"({filters.start:%Y-%m-%d}); pick an earlier baseline.")
    lag = max(today - filters.end, timedelta(0))
    base = filters.with_(start=b0, end=b1)
    with store.read() as con:
        current = _figures(store, con, actor, filters, cutoff(filters.end, lag))
        before = _figures(store, con, actor, base, cutoff(b1, lag))
        weekly = store.frame("impact_weekly", con, w0=b0, **filters.params(actor))
    rows = []
    for t in TARGETS:
        change = _change(current[t.key], before[t.key])
        met = None if change is None else (change <= t.change if t.change < 0 else change >= t.change)
        rows.append({"key": t.key, "label": t.label, "fmt": t.fmt, "help": t.help, "target": t.change,
                     "baseline": before[t.key], "current": current[t.key], "change": change, "met": met})
    weekly = weekly.with_columns(
        period=pl.when(pl.col("week") < filters.start).then(pl.lit("baseline")).otherwise(pl.lit("current")))
    return {"targets": pl.DataFrame(rows, schema={
        "key": pl.String, "label": pl.String, "fmt": pl.String, "help": pl.String, "target": pl.Float64,
        "baseline": pl.Float64, "current": pl.Float64, "change": pl.Float64, "met": pl.Boolean}),
        "current": current, "baseline": before, "weekly": weekly,
        "cutoffs": (cutoff(filters.end, lag), cutoff(b1, lag))}
