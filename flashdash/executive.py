"""The executive summary: six headline figures, their change and trend, and sentences on what moved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import polars as pl

from flashdash.access import Actor
from flashdash.filters import Filters
from flashdash.store import Store


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    fmt: str  # count | money | pct | hours
    higher_is_better: bool = True
    help: str = ""


KPIS = (
    Kpi("submissions", "New submissions", "count"),
    Kpi("conversion", "Lead-to-customer conversion", "pct"),
    Kpi("pipeline_value", "Open pipeline", "money"),
    Kpi("won_revenue", "Won revenue", "money"),
    Kpi("median_response_hours", "Median first response", "hours", higher_is_better=False),
    Kpi("active_customers", "Active customers", "count"),
)


def bucket_for(filters: Filters) -> str:
    """Trend granularity: days for a month or less, weeks up to half a year, else months."""
    return "day" if filters.days <= 31 else "week" if filters.days <= 190 else "month"


def _kpis(store: Store, con: Any, params: dict[str, Any]) -> dict[str, float | None]:
    leads = store.frame("exec_lead_kpis", con, **params).row(0, named=True)
    opps = store.frame("exec_opportunity_kpis", con, **params).row(0, named=True)
    custs = store.frame("exec_customer_kpis", con, **params).row(0, named=True)
    subs = leads["submissions"]
    return {
        "submissions": float(subs),
        "conversion": (leads["won_leads"] / subs) if subs else None,
        "pipeline_value": opps["pipeline_value"],
        "won_revenue": opps["won_revenue"],
        "median_response_hours": leads["median_response_hours"],
        "active_customers": float(custs["active_customers"]),
        "won_deals": float(opps["won_deals"]),
    }


def cohort_cutoffs(filters: Filters, today: date) -> tuple[datetime, datetime]:
    """When to count each period's cohort as won, so that both cohorts are the same age.

    The current period's leads are counted as they stand today; the previous period's as they stood
    the same number of days after that period ended. Comparing this period's young leads with last
    period's matured ones would show a fall in conversion that is only the passage of time.
    """
    lag = max(today - filters.end, timedelta(0))
    end = datetime.combine(filters.end, time()) + timedelta(days=1)
    prev_end = datetime.combine(filters.previous().end, time()) + timedelta(days=1)
    return end + lag, prev_end + lag


def summary(store: Store, actor: Actor, filters: Filters, today: date) -> dict[str, Any]:
    """Everything the executive page shows, for the actor's scope and the filters, as of `today`."""
    prev = filters.previous()
    cutoff, prev_cutoff = cohort_cutoffs(filters, today)
    params = {**filters.params(actor), "cutoff": cutoff}
    prev_params = {**prev.params(actor), "cutoff": prev_cutoff}
    bucket = bucket_for(filters)
    with store.read() as con:
        current = _kpis(store, con, params)
        previous = _kpis(store, con, prev_params)
        lead_trend = store.frame("exec_lead_trend", con, bucket=bucket, **params)
        won_trend = store.frame("exec_won_trend", con, bucket=bucket, **params)
        snap_trend = store.frame("exec_snapshot_trend", con, bucket=bucket, **params)
        seg_params = {**params, "p0": prev.start, "p1": prev.end}
        leads_by = store.frame("exec_leads_by_segment", con, **seg_params)
        won_by = store.frame("exec_won_by_segment", con, **seg_params)
    trend = _trend(lead_trend, won_trend, snap_trend)
    kpis = pl.DataFrame(
        {
            "key": [k.key for k in KPIS],
            "label": [k.label for k in KPIS],
            "current": [current[k.key] for k in KPIS],
            "previous": [previous[k.key] for k in KPIS],
        },
        schema={"key": pl.String, "label": pl.String, "current": pl.Float64, "previous": pl.Float64},
    )
    leads_by = _collapse(leads_by)
    won_by = _collapse(won_by)
    return {
        "kpis": kpis,
        "trend": trend,
        "leads_by_segment": leads_by,
        "won_by_segment": won_by,
        "sentences": sentences(kpis, leads_by, won_by),
        "bucket": bucket,
        "previous": (prev.start, prev.end),
    }


def _collapse(frame: pl.DataFrame) -> pl.DataFrame:
    return (
        frame.group_by("dimension", "segment")
        .agg(pl.col("current").sum().cast(pl.Float64), pl.col("previous").sum().cast(pl.Float64))
        .with_columns(change=pl.col("current") - pl.col("previous"))
        .sort("dimension", "current", descending=[False, True])
    )


def _trend(leads: pl.DataFrame, won: pl.DataFrame, snap: pl.DataFrame) -> pl.DataFrame:
    leads = leads.with_columns(
        conversion=pl.when(pl.col("submissions") > 0).then(pl.col("won_leads") / pl.col("submissions"))
    )
    out = snap.join(leads, on="period", how="full", coalesce=True).join(won, on="period", how="full", coalesce=True)
    return out.with_columns(
        pl.col("submissions").fill_null(0).cast(pl.Float64),
        pl.col("won_revenue").fill_null(0.0).cast(pl.Float64),
        pl.col("active_customers").cast(pl.Float64),
    ).sort("period")


def pct_change(current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / abs(previous)


def format_value(value: float | None, fmt: str) -> str:
    if value is None:
        return "–"
    if fmt == "money":
        return f"${value / 1e6:,.2f}M" if abs(value) >= 1e6 else f"${value / 1e3:,.1f}k" if abs(value) >= 1e4 \
            else f"${value:,.0f}"
    if fmt == "pct":
        return f"{value:.1%}"
    if fmt == "hours":
        return f"{value:.1f} h"
    return f"{value:,.0f}"


def _drivers(by_segment: pl.DataFrame, dimension: str, rising: bool, n: int = 2) -> list[tuple[str, float]]:
    part = by_segment.filter(pl.col("dimension") == dimension).sort("change", descending=rising)
    part = part.filter(pl.col("change") > 0) if rising else part.filter(pl.col("change") < 0)
    return [(r["segment"], r["change"]) for r in part.head(n).iter_rows(named=True)]


def sentences(kpis: pl.DataFrame, leads_by: pl.DataFrame, won_by: pl.DataFrame) -> list[str]:
    """Plain-language notes on what moved most and which channels and teams drove it."""
    spec = {k.key: k for k in KPIS}
    moves = []
    comparable = False
    for row in kpis.iter_rows(named=True):
        change = pct_change(row["current"], row["previous"])
        comparable = comparable or change is not None
        if change is not None and abs(change) >= 0.005:  # a change under 1% when rounded is no move ("fell 0%")
            moves.append((abs(change), row["key"], change, row["current"], row["previous"]))
    moves.sort(reverse=True)
    out: list[str] = []
    for _, key, change, cur, prev in moves[:3]:
        k = spec[key]
        verb = "rose" if change > 0 else "fell"
        good = (change > 0) == k.higher_is_better
        text = (f"**{k.label}** {verb} {abs(change):.0%} to {format_value(cur, k.fmt)} "
                f"(from {format_value(prev, k.fmt)}){'' if good else ' ⚠'}.")
        by = {"submissions": leads_by, "won_revenue": won_by, "conversion": leads_by}.get(key)
        if by is not None and key != "conversion":
            unit = "money" if key == "won_revenue" else "count"
            parts = []
            for dim, label in (("channel", "channel"), ("team", "team")):
                drivers = _drivers(by, dim, rising=change > 0, n=1)
                if drivers:
                    seg, delta = drivers[0]
                    sign = "+" if delta > 0 else "−"
                    parts.append(f"the {seg} {label} ({sign}{format_value(abs(delta), unit)})")
            if parts:
                text += " Most of the change came from " + " and ".join(parts) + "."
        out.append(text)
    if not out:
        out.append("Nothing moved by 1% or more against the previous period." if comparable else
                   "No comparable previous period: the figures below stand alone.")
    return out


def book_note(actor: Actor, rec: frozenset[str] | set[str]) -> str | None:
    """For a rep or manager, when the data names a lead's owner only once it is won (as Olist's does): their
    book holds only won leads, so its conversion is 100% by construction. None otherwise."""
    if actor.sees_all or "owner_before_win" in rec:
        return None
    return ("This data names a lead's owner only once the lead is won, so your book holds only won leads and its "
            "conversion is 100% by construction; the leads never won are in no one's book.")


def team_ids_by_name(store: Store, names: tuple[str, ...]) -> tuple[int, ...]:
    """Team ids for the names a chart click returns."""
    frame = store.frame("team_ids_by_name", names=list(names))
    return tuple(frame["id"].to_list())
