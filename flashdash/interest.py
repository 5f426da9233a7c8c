"""Interest levels: how the period's leads split into cold, warm and hot, and how each level converts.

A lead whose form left the level empty (or unreadable) counts as "unknown", never silently dropped.
Conversion is the share of the period's leads won *so far*, with a 95% Wilson interval: recent leads
are still maturing, and the page says by how much.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl

from flashdash.access import Actor
from flashdash.executive import bucket_for
from flashdash.filters import Filters
from flashdash.store import Store

LEVELS = ("cold", "warm", "hot", "unknown")
LEVEL_COLORS = ("#93c5fd", "#f59e0b", "#dc2626", "#d1d5db")
DIMENSIONS: dict[str, str] = {"channel": "Channel", "vertical": "Vertical", "region": "Region"}
Z95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval


# ---------------------------------------------------------------- pure helpers


def with_wilson(frame: pl.DataFrame, successes: str = "won", trials: str = "leads", z: float = Z95) -> pl.DataFrame:
    """Add `rate` and its Wilson score interval `lo`..`hi` (null where there are no trials)."""
    n = pl.col(trials).cast(pl.Float64)
    p = pl.col(successes).cast(pl.Float64) / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)).sqrt()) / denom
    ok = pl.col(trials) > 0
    # At 0 or n successes one end is exactly 0 or 1; say so rather than leave rounding residue.
    none, all_ = pl.col(successes) == 0, pl.col(successes) == pl.col(trials)
    return frame.with_columns(
        rate=pl.when(ok).then(p),
        lo=pl.when(ok).then(pl.when(none).then(0.0).otherwise((center - half).clip(0.0, 1.0))),
        hi=pl.when(ok).then(pl.when(all_).then(1.0).otherwise((center + half).clip(0.0, 1.0))),
    )


def with_shares(frame: pl.DataFrame, by: list[str], value: str = "leads") -> pl.DataFrame:
    """Add `share`: each row's `value` as a fraction of its group's total."""
    total = pl.col(value).sum().over(by)
    return frame.with_columns(share=pl.when(total > 0).then(pl.col(value) / total))


def level_rank() -> pl.Expr:
    """The position of `level` in LEVELS (for stacking and sorting in the same order everywhere)."""
    return pl.col("level").replace_strict(list(LEVELS), list(range(len(LEVELS))), default=len(LEVELS),
                                          return_dtype=pl.Int32)


def segment_order(distribution: pl.DataFrame, dimension: str) -> list[str]:
    """A dimension's segments, hottest first (share of hot leads), ties by size."""
    part = distribution.filter(pl.col("dimension") == dimension)
    order = (part.group_by("segment")
             .agg(hot=pl.col("share").filter(pl.col("level") == "hot").sum(), leads=pl.col("leads").sum())
             .sort(["hot", "leads", "segment"], descending=[True, True, False]))
    return order["segment"].to_list()


def maturity_note(open_share: float | None, median_days_to_win: float | None, won_leads: int,
                  compare: str = "levels", ended: date | None = None) -> str:
    """The honest caveat under the conversion chart: how much of this period's conversion is still to come
    (nothing, when the data `ended` long ago: its open leads were never closed)."""
    parts = ["Conversion is the share of the period's leads that are won so far."]
    if open_share is not None and ended is not None:
        parts.append(f"{open_share:.0%} of them are open in data that ends on {ended:%b %d, %Y}: never marked won, "
                     "lost or disqualified, so these rates are final.")
    elif open_share is not None:
        parts.append(f"{open_share:.0%} of them are still open (not yet won, lost or disqualified), "
                     "so these rates will rise as they close.")
    if median_days_to_win is not None and won_leads > 0:
        parts.append(f"Won leads have taken a median of {median_days_to_win:.0f} days from submission "
                     f"(over the {won_leads:,} wins of the past year), so leads newer than that are the least "
                     f"mature: compare {compare} with each other rather than with older periods.")
    parts.append("Error bars are 95% Wilson intervals: where two overlap, the difference may be chance.")
    return " ".join(parts)


# ---------------------------------------------------------------- reads


_EMPTY_CONVERSION = {"level": pl.String, "channel": pl.String, "leads": pl.Int64, "won": pl.Int64, "open": pl.Int64}


def overview(store: Store, actor: Actor, filters: Filters) -> dict[str, Any]:
    """Everything the interest page shows before any click: distributions, trend, conversion inputs."""
    params = filters.params(actor)
    bucket = bucket_for(filters)
    with store.read() as con:
        by_segment = store.frame("interest_by_segment", con, **params)
        trend = store.frame("interest_trend", con, bucket=bucket, **params)
        conversion = store.frame("interest_conversion", con, **params)
        days = store.frame("interest_days_to_win", con, y0=filters.end - timedelta(days=730),
                           w0=filters.end - timedelta(days=364), **params).row(0, named=True)
    counts = [pl.col(c).cast(pl.Int64) for c in ("leads", "won", "open") if c in conversion.columns]
    conversion = conversion.with_columns(counts) if not conversion.is_empty() else pl.DataFrame(
        schema=_EMPTY_CONVERSION)
    distribution = with_shares(by_segment.with_columns(pl.col("leads").cast(pl.Int64)), ["dimension", "segment"]) \
        .with_columns(rank=level_rank()).sort("dimension", "segment", "rank")
    trend = with_shares(trend.with_columns(pl.col("leads").cast(pl.Int64)), ["period"]) \
        .with_columns(rank=level_rank()).sort("period", "rank")
    by_level = _by_level(conversion)
    leads = int(by_level["leads"].sum())
    open_leads = int(by_level["open"].sum())
    return {
        "bucket": bucket,
        "leads": leads,
        "won": int(by_level["won"].sum()),
        "won_share": int(by_level["won"].sum()) / leads if leads else None,
        "open_share": open_leads / leads if leads else None,
        "level_share": {r["level"]: (r["leads"] / leads if leads else None) for r in by_level.iter_rows(named=True)},
        "distribution": distribution,
        "trend": trend,
        "conversion": conversion,
        "median_days_to_win": days["median_days_to_win"],
        "won_leads_past_year": int(days["won_leads"] or 0),
    }


def _by_level(conversion: pl.DataFrame) -> pl.DataFrame:
    """Leads, won and open per level, every level present (zero rows where a level has no leads)."""
    sums = conversion.group_by("level").agg(pl.col("leads", "won", "open").sum())
    return (pl.DataFrame({"level": list(LEVELS)}).join(sums, on="level", how="left")
            .with_columns(pl.col("leads", "won", "open").fill_null(0).cast(pl.Int64)))


def focus(data: dict[str, Any], levels: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The rest of the page for the clicked levels (none clicked: all of them)."""
    picked = tuple(level for level in LEVELS if level in levels)
    trend = data["trend"].filter(pl.col("level").is_in(picked)) if picked else data["trend"]
    by_level = with_wilson(_by_level(data["conversion"])).with_columns(
        picked=pl.col("level").is_in(picked) if picked else pl.lit(True))
    part = data["conversion"].filter(pl.col("level").is_in(picked)) if picked else data["conversion"]
    by_channel = with_wilson(part.group_by("channel").agg(pl.col("leads", "won", "open").sum())) \
        .sort(["rate", "leads", "channel"], descending=[True, True, False], nulls_last=True)
    return {"levels": picked, "trend": trend, "normalize": not picked, "by_level": by_level,
            "by_channel": by_channel}


def has_levels(data: dict[str, Any]) -> bool:
    """Whether any of the period's leads has a known level (an import may carry none at all)."""
    return data["leads"] > 0 and (data["level_share"].get("unknown") or 0.0) < 1.0


def channel_table(by_channel: pl.DataFrame) -> pl.DataFrame:
    """Conversion by channel as people read it: counts, rate and interval in percent."""
    def pct(c: str) -> pl.Expr:
        return (pl.col(c) * 100).round(1)

    return by_channel.select("channel", "leads", "won", "open", pct("rate").alias("won_so_far_pct"),
                             pct("lo").alias("ci95_low_pct"), pct("hi").alias("ci95_high_pct"))


def conversion_table(by_level: pl.DataFrame) -> pl.DataFrame:
    """The conversion figures as people read them: counts, rate and interval in percent."""
    def pct(c: str) -> pl.Expr:
        return (pl.col(c) * 100).round(1)

    return by_level.select("level", "leads", "won", "open", pct("rate").alias("won_so_far_pct"),
                           pct("lo").alias("ci95_low_pct"), pct("hi").alias("ci95_high_pct"))
