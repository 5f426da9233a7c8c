"""Revenue intelligence: pipeline velocity, stage durations and conversion, win/loss, and Phase 3's targets.

Every figure is computed from the deals (opportunities) and their stage history (opportunity_changes) in the
acting user's scope: SQL reads the deals alive in the period and the stage stays that ended in it (two small
frames); the tables are pure polars functions of those frames.

- Stage durations: for each open stage, the days from entering it to leaving it, over the stays that ended in
  the period: median, 75th percentile and n. A stay still under way is not counted (its length is not known
  yet).
- Stage-to-stage conversion: of the stays in a stage that ended in the period, the share that moved on to a
  later stage (negotiation → closed won is the win rate of negotiations), with a 95% Wilson interval and n.
- Velocity = open deals × win rate × average won deal ÷ average cycle length, per day and per month (30.4
  days): the deals open at the end of the period; the share won of the deals closed in it; the average amount
  and the average days from creation to close of the deals won in it. Its 95% interval is the delta method on
  the log of the product (the win rate as a binomial share, the average deal and cycle as means, their
  covariance on the same won deals); the open count is a count, not an estimate.
- Win/loss: the deals closed in the period, won and lost, their reasons by month, and their win rate by
  competitor and by segment (vertical, company size) with 95% Wilson intervals. These are associations: a
  competitor met in a deal is not why it was lost.

Fewer than MIN_CLOSED closed deals (MIN_WON won, for velocity; MIN_SPANS stays, for a duration) is "not enough
data" and shows no figure; fewer than MIN_N is shown as "an early sign, not a finding".
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

import polars as pl

from flashdash import audit, phase2
from flashdash.access import Actor
from flashdash.filters import Filters
from flashdash.interest import Z95, with_wilson
from flashdash.store import Store

STAGES = ("discovery", "proposal", "negotiation")
# how far along each stage is: a stay "moved on" when the next stage is further (a lost deal is not)
STAGE_RANK = {"discovery": 1, "proposal": 2, "negotiation": 3, "closed_won": 4, "closed_lost": 0}
STEPS = {"discovery": "discovery → proposal", "proposal": "proposal → negotiation",
         "negotiation": "negotiation → closed won"}
BY = {None: None, "team": "team_id", "rep": "rep_id", "vertical": "vertical"}  # a split and the key it carries
ALL = "All deals"
VELOCITY_COLUMNS = ("open_deals", "closed", "won", "win_rate", "avg_won", "avg_cycle_days", "velocity_per_day",
                    "velocity_per_month", "lo_per_month", "hi_per_month", "few", "note")
DAYS_PER_MONTH = 365.25 / 12

MIN_N = phase2.MIN_N  # 30: fewer on a side is an early sign, not a finding
MIN_CLOSED = 10  # closed deals behind a win rate (and a velocity)
MIN_WON = 5  # won deals behind an average deal and cycle (and a velocity)
MIN_SPANS = 5  # stage stays behind a duration
TARGET_DAYS = 90  # Phase 3's targets compare the last 90 days with the 90 before
EARLY = "an early sign, not a finding"
NOT_ENOUGH = "not enough data"
JOB_ACTOR = "scheduler"  # the audit trail's actor for the velocity refresh
VELOCITY = "velocity"  # analytics_runs.kind

NOTE = (
    "Velocity = open deals × win rate × average won deal ÷ average cycle length: the deals open at the end of "
    "the period, the share won of the deals closed in it, and the average amount and days from creation to "
    "close of the deals won in it. Stage durations count the stays in a stage that ended in the period; a stay "
    "still under way is not counted. Each figure shows its n; the interval is 95%."
)
WIN_LOSS_NOTE = (
    "Win rates by competitor and segment say which deals are associated with winning more or less often, not "
    "why: a competitor met in a lost deal is not shown to be why it was lost, and segments differ in more than "
    "the one they are named by. Intervals are 95% Wilson intervals: where two overlap, the difference may be "
    "chance."
)
FORECAST_NOTE = ("Measured by the forecast's backtest (the share of months within ±5%): no backtest figure was "
                 "given here.")


class RevenueError(ValueError):
    """A request that cannot be answered as asked; the message says how to fix it."""


# ---------------------------------------------------------------- reading


def _params(actor: Actor, start: date, end: date, filters: Filters | None) -> dict[str, Any]:
    if start > end:
        raise RevenueError(f"The period starts on {start:%Y-%m-%d}, after it ends on {end:%Y-%m-%d}; pick a start "
                           "on or before the end.")
    base = filters.params(actor) if filters is not None else {
        **actor.scope_params(), "teams": [], "regions": [], "reps": [], "verticals": [], "channels": []}
    return {**base, "d0": start, "d1": end}


def _check_by(by: str | None) -> None:
    if by not in BY:
        raise RevenueError(f"Velocity splits by team, rep or vertical (or nothing), not {by!r}.")


def _read(store: Store, actor: Actor, start: date, end: date, filters: Filters | None,
          spans_from: date | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The deals alive in [start, end] and the stage stays that ended in [spans_from or start, end]."""
    params = _params(actor, start, end, filters)
    with store.read() as con:
        deals = store.frame("revenue_deals", con, **params)
        spans = store.frame("revenue_stage_spans", con, **{**params, "d0": spans_from or start})
    return deals, spans


# ---------------------------------------------------------------- the tables (pure, on frames)


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime.combine(start, time()), datetime.combine(end, time()) + timedelta(days=1)


def with_group(frame: pl.DataFrame, by: str | None) -> pl.DataFrame:
    """Add `group` (the label a split shows: team or rep name, vertical, or ALL) to deals or stays; the split's key
    (team_id, rep_id, vertical) stays beside it."""
    _check_by(by)
    label = pl.lit(ALL) if by is None else pl.col(by)
    return frame.with_columns(group=label.cast(pl.String))


def _keys(by: str | None) -> list[str]:
    return ["group", *([BY[by]] if BY.get(by) else [])]


def _note(n: int, needed: int, what: str) -> str:
    if n < needed:
        return f"{NOT_ENOUGH}: {n} {what} (it takes {needed})"
    return f"{EARLY}: {n} {what} (fewer than {MIN_N})" if n < MIN_N else ""


def velocity_table(deals: pl.DataFrame, start: date, end: date, keys: list[str]) -> pl.DataFrame:
    """Per group of `keys`: open_deals (at the end), closed, won, win_rate, avg_won, avg_cycle_days, velocity per
    day and per month with its 95% interval (lo_per_month, hi_per_month), few and note. `deals` has the columns
    of `revenue_deals` and the keys."""
    t0, t1 = _bounds(start, end)
    closed_in = pl.col("closed_at").is_not_null() & (pl.col("closed_at") >= t0) & (pl.col("closed_at") < t1)
    won_in = closed_in & pl.col("won")
    open_at_end = (pl.col("created_at") < t1) & (pl.col("closed_at").is_null() | (pl.col("closed_at") >= t1))
    cycle = (pl.col("closed_at") - pl.col("created_at")).dt.total_seconds() / 86_400
    amount = pl.col("amount").cast(pl.Float64)
    agg = deals.group_by(keys).agg(
        open_deals=open_at_end.sum().cast(pl.Int64),
        closed=closed_in.sum().cast(pl.Int64),
        won=won_in.sum().cast(pl.Int64),
        avg_won=amount.filter(won_in).mean(),
        var_won=amount.filter(won_in).var(),
        avg_cycle_days=cycle.filter(won_in).mean(),
        var_cycle=cycle.filter(won_in).var(),
        cov=pl.cov(amount.filter(won_in), cycle.filter(won_in)),
    )
    if agg.is_empty() and keys == ["group"]:  # no deal at all: still one row, saying there is not enough data
        agg = pl.DataFrame({"group": [ALL], "open_deals": [0], "closed": [0], "won": [0]},
                           schema_overrides={c: pl.Int64 for c in ("open_deals", "closed", "won")}).with_columns(
            pl.lit(None, pl.Float64).alias(c) for c in ("avg_won", "var_won", "avg_cycle_days", "var_cycle", "cov"))
    return _with_velocity(agg).sort(keys)


def _with_velocity(agg: pl.DataFrame) -> pl.DataFrame:
    """Velocity and its delta-method interval from the aggregates of velocity_table."""
    enough = (pl.col("closed") >= MIN_CLOSED) & (pl.col("won") >= MIN_WON)
    p = pl.col("won") / pl.col("closed")
    per_day = pl.col("open_deals") * p * pl.col("avg_won") / pl.col("avg_cycle_days")
    n_won = pl.col("won").cast(pl.Float64)
    # var(log v) = var(log p) + var(log mean amount) + var(log mean cycle) - 2 cov(log mean amount, log mean cycle)
    var_log = ((1 - p) / (pl.col("closed") * p)
               + pl.col("var_won") / (n_won * pl.col("avg_won") ** 2)
               + pl.col("var_cycle") / (n_won * pl.col("avg_cycle_days") ** 2)
               - 2 * pl.col("cov") / (n_won * pl.col("avg_won") * pl.col("avg_cycle_days")))
    half = Z95 * var_log.clip(lower_bound=0).sqrt()
    usable = enough & (pl.col("avg_cycle_days") > 0)
    out = agg.with_columns(
        win_rate=pl.when(pl.col("closed") >= MIN_CLOSED).then(p),
        avg_won=pl.when(pl.col("won") >= MIN_WON).then(pl.col("avg_won")),
        avg_cycle_days=pl.when(pl.col("won") >= MIN_WON).then(pl.col("avg_cycle_days")),
        velocity_per_day=pl.when(usable).then(per_day),
        velocity_per_month=pl.when(usable).then(per_day * DAYS_PER_MONTH),
        lo_per_month=pl.when(usable).then(per_day * DAYS_PER_MONTH * (-half).exp()),
        hi_per_month=pl.when(usable).then(per_day * DAYS_PER_MONTH * half.exp()),
        few=pl.col("closed") < MIN_N,
    ).drop("var_won", "var_cycle", "cov")
    notes = [_velocity_note(c, w, cycle) for c, w, cycle in
             zip(out["closed"].to_list(), out["won"].to_list(), agg["avg_cycle_days"].to_list(), strict=True)]
    out = out.with_columns(note=pl.Series(notes, dtype=pl.String))
    return out.select(pl.exclude(VELOCITY_COLUMNS), *VELOCITY_COLUMNS)  # the keys first


def _velocity_note(closed: int, won: int, cycle_days: float | None = None) -> str:
    if closed < MIN_CLOSED or won < MIN_WON:
        return (f"{NOT_ENOUGH}: {closed} closed and {won} won deals (velocity takes at least {MIN_CLOSED} closed "
                f"and {MIN_WON} won)")
    if cycle_days is not None and cycle_days <= 0:
        return ("no velocity: the won deals closed the day they were created (a cycle of 0 days), as imported "
                "histories often record them; velocity divides by the cycle")
    return _note(closed, 0, "closed deals")


def stage_durations(spans: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per group and open stage (every stage, even one without stays): n stays that ended, median_days and
    p75_days (linear quantiles) from entering to leaving it, note. `spans` has the columns of
    `revenue_stage_spans` and the keys."""
    days = (pl.col("left_at") - pl.col("entered_at")).dt.total_seconds() / 86_400
    agg = spans.group_by(*keys, "stage").agg(
        n=pl.len().cast(pl.Int64),
        median_days=days.quantile(0.5, "linear"),
        p75_days=days.quantile(0.75, "linear"),
    )
    grid = _grid(spans, keys, pl.DataFrame({"stage": list(STAGES), "_order": list(range(len(STAGES)))}))
    out = grid.join(agg, on=[*keys, "stage"], how="left").with_columns(pl.col("n").fill_null(0))
    ok = pl.col("n") >= MIN_SPANS
    out = out.with_columns(median_days=pl.when(ok).then(pl.col("median_days")),
                           p75_days=pl.when(ok).then(pl.col("p75_days")))
    out = out.with_columns(note=pl.Series([_note(n, MIN_SPANS, "stays ended") for n in out["n"].to_list()],
                                          dtype=pl.String))
    return out.sort(*keys, "_order").drop("_order")


def conversion(spans: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per group and step (STEPS): n stays in the stage that ended, moved (on to a later stage), rate with its 95%
    Wilson interval lo..hi, note. `spans` as for stage_durations."""
    moved = (pl.col("next_stage").replace_strict(STAGE_RANK, default=0, return_dtype=pl.Int64)
             > pl.col("stage").replace_strict(STAGE_RANK, default=0, return_dtype=pl.Int64))
    agg = spans.group_by(*keys, "stage").agg(n=pl.len().cast(pl.Int64), moved=moved.sum().cast(pl.Int64))
    steps = pl.DataFrame({"stage": list(STEPS), "step": list(STEPS.values()), "_order": list(range(len(STEPS)))})
    out = _grid(spans, keys, steps).join(agg, on=[*keys, "stage"], how="left").with_columns(
        pl.col("n", "moved").fill_null(0))
    out = with_wilson(out, successes="moved", trials="n")
    return _thresholded(out, "n", "stays ended").sort(*keys, "_order").drop("_order")


def _grid(frame: pl.DataFrame, keys: list[str], rows: pl.DataFrame) -> pl.DataFrame:
    """Every group of `frame` (ALL when it has none and no split) crossed with `rows`."""
    groups = frame.select(keys).unique()
    if groups.is_empty() and keys == ["group"]:
        groups = pl.DataFrame({"group": [ALL]})
    return groups.join(rows, how="cross")


def _thresholded(frame: pl.DataFrame, n: str, what: str) -> pl.DataFrame:
    """Blank rate, lo and hi below MIN_CLOSED trials and say why; flag fewer than MIN_N as an early sign."""
    ok = pl.col(n) >= MIN_CLOSED
    out = frame.with_columns(pl.when(ok).then(pl.col(c)).alias(c) for c in ("rate", "lo", "hi"))
    return out.with_columns(few=pl.col(n) < MIN_N, note=pl.Series(
        [_note(v, MIN_CLOSED, what) for v in out[n].to_list()], dtype=pl.String))


def months(start: date, end: date) -> list[tuple[date, date, date]]:
    """The calendar months that meet [start, end]: (month, first day in the period, last day in the period)."""
    out, m = [], date(start.year, start.month, 1)
    while m <= end:
        nxt = date(m.year + m.month // 12, m.month % 12 + 1, 1)
        out.append((m, max(m, start), min(nxt - timedelta(days=1), end)))
        m = nxt
    return out


def trend(deals: pl.DataFrame, start: date, end: date, keys: list[str]) -> pl.DataFrame:
    """velocity_table per calendar month of [start, end] (a month cut by the period counts its part), with
    `month` (its first day)."""
    parts = [velocity_table(deals, lo, hi, keys).with_columns(month=pl.lit(m))
             for m, lo, hi in months(start, end)]
    return pl.concat(parts).select("month", pl.exclude("month")).sort("month", *keys)


def analyse_velocity(deals: pl.DataFrame, spans: pl.DataFrame, start: date, end: date, by: str | None,
                     trend_from: date | None = None) -> dict[str, pl.DataFrame]:
    """velocity, stages, conversion for [start, end] and the monthly trend from `trend_from` (default start)."""
    keys = _keys(by)
    deals, spans = with_group(deals, by), _spans_grouped(spans, deals, by)
    return {"velocity": velocity_table(deals, start, end, keys), "stages": stage_durations(spans, keys),
            "conversion": conversion(spans, keys), "trend": trend(deals, trend_from or start, end, keys)}


def _spans_grouped(spans: pl.DataFrame, deals: pl.DataFrame, by: str | None) -> pl.DataFrame:
    """The stays with their deal's split columns (a stay of a deal outside `deals` is dropped)."""
    cols = dict.fromkeys(["id", *([by] if by else []), *([BY[by]] if BY.get(by) else [])])
    return with_group(spans.join(deals.select(list(cols)), on="id", how="inner"), by)


# ---------------------------------------------------------------- the reads


def velocity(store: Store, actor: Actor, start: date, end: date, by: str | None = None, *,
             filters: Filters | None = None) -> dict[str, Any]:
    """Pipeline velocity for the days [start, end] in the actor's scope, split by "team", "rep", "vertical" or
    not at all (ALL): {"velocity" (one row per group: open_deals, closed, won, win_rate, avg_won,
    avg_cycle_days, velocity_per_day, velocity_per_month, lo_per_month, hi_per_month, few, note), "stages"
    (group × stage: n, median_days, p75_days, note), "conversion" (group × step: n, moved, rate, lo, hi, few,
    note), "trend" (month × group: as "velocity"), "period", "by", "note"}. A split carries its key beside
    the label: team_id, rep_id or vertical. `filters` adds the sidebar's team, region, rep, vertical and
    channel selections (its dates are not used)."""
    _check_by(by)
    deals, spans = _read(store, actor, start, end, filters)
    return {**analyse_velocity(deals, spans, start, end, by), "period": (start, end), "by": by, "note": NOTE}


def win_loss(store: Store, actor: Actor, start: date, end: date, *, filters: Filters | None = None) -> dict[str, Any]:
    """The deals closed in [start, end] in the actor's scope: {"overall" (closed, won, lost, rate, lo, hi, few,
    note), "reasons" (month × outcome × reason: deals, share of the month's deals of that outcome), "competitors"
    (competitor: closed, won, rate, lo, hi, few, note), "segments" (dimension "vertical" or "company size" ×
    segment: the same), "period", "note"}. Rates carry 95% Wilson intervals."""
    deals, _ = _read(store, actor, start, end, filters)
    return {**analyse_win_loss(deals, start, end), "period": (start, end), "note": WIN_LOSS_NOTE}


def analyse_win_loss(deals: pl.DataFrame, start: date, end: date) -> dict[str, pl.DataFrame]:
    """win_loss's frames from a frame with the columns of `revenue_deals`."""
    t0, t1 = _bounds(start, end)
    closed = deals.filter(pl.col("closed_at").is_not_null() & (pl.col("closed_at") >= t0) & (pl.col("closed_at") < t1))
    closed = closed.with_columns(won=pl.col("won").fill_null(False))
    overall = _rates(closed.with_columns(all=pl.lit(ALL)), ["all"]).drop("all").with_columns(
        lost=pl.col("closed") - pl.col("won")).select("closed", "won", "lost", "rate", "lo", "hi", "few", "note")
    reasons = closed.select(
        month=pl.col("closed_at").dt.truncate("1mo").dt.date(),
        outcome=pl.when(pl.col("won")).then(pl.lit("won")).otherwise(pl.lit("lost")),
        reason=pl.when(pl.col("won")).then(pl.col("win_reason")).otherwise(pl.col("loss_reason")).fill_null(
            "(not given)"),
    ).group_by("month", "outcome", "reason").agg(deals=pl.len().cast(pl.Int64))
    reasons = reasons.with_columns(share=pl.col("deals") / pl.col("deals").sum().over("month", "outcome")).sort(
        "month", "outcome", pl.col("deals"), "reason", descending=[False, True, True, False])
    competitors = _rates(closed.with_columns(pl.col("competitor").fill_null("(not recorded)")), ["competitor"])
    segments = pl.concat([
        _rates(closed.with_columns(dimension=pl.lit(label), segment=pl.col(col).cast(pl.String)),
               ["dimension", "segment"])
        for col, label in (("vertical", "vertical"), ("company_size", "company size"))
    ])
    return {"overall": overall, "reasons": reasons, "competitors": competitors, "segments": segments}


def _rates(closed: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per group: closed, won, rate with its Wilson interval, thresholded; largest groups first."""
    agg = closed.group_by(keys).agg(closed=pl.len().cast(pl.Int64), won=pl.col("won").sum().cast(pl.Int64))
    if agg.is_empty() and keys == ["all"]:
        agg = pl.DataFrame({"all": [ALL], "closed": [0], "won": [0]}, schema_overrides={"closed": pl.Int64,
                                                                                        "won": pl.Int64})
    out = _thresholded(with_wilson(agg, successes="won", trials="closed"), "closed", "closed deals")
    return out.sort(*keys[:-1], pl.col("closed"), keys[-1], descending=[*([False] * (len(keys) - 1)), True, False])


# ---------------------------------------------------------------- Phase 3's targets

TARGETS = (
    phase2.Target("deal_velocity", "Deal velocity", "average days from a deal's creation to its win", -0.25,
                  "last 90 days", "90 days before", "days", "won deals"),
    phase2.Target("deal_size", "Deal size", "average won deal (annual revenue)", 0.30, "last 90 days",
                  "90 days before", "amount", "won deals"),
    phase2.Target("forecast_accuracy", "Forecast accuracy", "share of backtest months within ±5%", 0.90,
                  "backtest", "", "share", "backtest months"),
)
TARGET_SCHEMA = {**phase2.SCHEMA, "change_lo": pl.Float64, "change_hi": pl.Float64, "note": pl.String}
ForecastAccuracy = Callable[[Store, Actor, datetime], Mapping[str, Any]]


def phase3_targets(store: Store, actor: Actor, now: datetime, forecast_accuracy: ForecastAccuracy | None = None
                   ) -> pl.DataFrame:
    """Phase 3's targets in the actor's scope (TARGET_SCHEMA, one row per TARGETS): the average cycle and won
    deal of the deals won in the last 90 days (to today) against the 90 days before, the relative change with
    its 95% interval (change_lo..change_hi) and n on each side (fewer than MIN_N: "an early sign, not a
    finding"); and forecast accuracy from `forecast_accuracy(store, actor, now)` -> {"share_within_5pct":
    float | None, "n": int} (backtest months), a level of 90% rather than a change; without it the row says
    where it is measured."""
    end = now.date()
    start = end - timedelta(days=TARGET_DAYS - 1)
    before = phase2.previous_period(start, end)
    deals, _ = _read(store, actor, before[0], end, None)
    sides = [_won_figures(deals, s, e) for s, e in ((start, end), before)]
    rows = []
    for target, mean, var in zip(TARGETS[:2], ("avg_cycle_days", "avg_won"), ("var_cycle_days", "var_won"),
                                 strict=True):
        (cur, v_cur, n_cur), (base, v_base, n_base) = ((side[mean], side[var], side["won"]) for side in sides)
        lo, hi = change_interval((cur, v_cur, n_cur), (base, v_base, n_base))
        row = phase2.figure(target, cur, base, n_cur, n_base)
        rows.append({**row, "change_lo": lo, "change_hi": hi, "note": _target_note(n_cur, n_base)})
    rows.append(_forecast_row(forecast_accuracy(store, actor, now) if forecast_accuracy else None))
    return pl.DataFrame(rows, schema=TARGET_SCHEMA)


def _won_figures(deals: pl.DataFrame, start: date, end: date) -> dict[str, Any]:
    """The deals won in [start, end]: how many, and the mean and variance of their amount ("avg_won", "var_won")
    and of their cycle in days ("avg_cycle_days", "var_cycle_days"); None where there are too few deals. Shown
    from the first won deal: the targets flag fewer than MIN_N as an early sign instead of hiding it."""
    t0, t1 = _bounds(start, end)
    won = deals.filter(pl.col("won") & (pl.col("closed_at") >= t0) & (pl.col("closed_at") < t1))
    cycle = (won["closed_at"] - won["created_at"]).dt.total_seconds() / 86_400
    amount = won["amount"].cast(pl.Float64)
    return {"won": won.height, "avg_won": amount.mean(), "var_won": amount.var(), "avg_cycle_days": cycle.mean(),
            "var_cycle_days": cycle.var()}


def change_interval(current: tuple[float | None, float | None, int], baseline: tuple[float | None, float | None, int]
                    ) -> tuple[float | None, float | None]:
    """The 95% interval of the relative change between two means, each given as (mean, variance, n): the delta
    method on the log of their ratio. None without two deals and a positive mean on each side."""
    (m1, v1, n1), (m0, v0, n0) = current, baseline
    if None in (m1, v1, m0, v0) or min(n1, n0) < 2 or m1 <= 0 or m0 <= 0:
        return None, None
    se = math.sqrt(v1 / (n1 * m1 * m1) + v0 / (n0 * m0 * m0))
    ratio = m1 / m0
    return ratio * math.exp(-Z95 * se) - 1, ratio * math.exp(Z95 * se) - 1


def _target_note(n_cur: int, n_base: int) -> str:
    low = min(n_cur, n_base)
    if low == 0:
        return "nothing to compare: no won deals on one side"
    return f"{EARLY}: {low} won deals on one side (fewer than {MIN_N})" if low < MIN_N else ""


def _forecast_row(measured: Mapping[str, Any] | None) -> dict[str, Any]:
    target = TARGETS[2]
    share = None if measured is None else measured.get("share_within_5pct")
    n = 0 if measured is None else int(measured.get("n") or 0)
    status = phase2.NO_FIGURE if share is None else (phase2.MET if share >= target.target else phase2.NOT_MET)
    note = FORECAST_NOTE if measured is None or share is None else (
        f"{EARLY}: {n} backtest months (fewer than {MIN_N})" if n < MIN_N else "")
    return {"key": target.key, "label": target.label, "measure": target.measure, "current": share, "baseline": None,
            "change": None, "change_lo": None, "change_hi": None, "target": target.target, "needed": target.target,
            "status": status, "few": n < MIN_N, "n_current": n, "n_baseline": 0,
            "current_label": target.current_label, "baseline_label": "", "unit": target.unit,
            "counted": target.counted, "note": note}


# ---------------------------------------------------------------- the scheduled refresh

SPLITS = (None, "team", "rep", "vertical")
TREND_DAYS = 365
KEEP_RUNS = 24  # velocity runs kept (a day of hourly refreshes); older ones are deleted by the refresh


def _summary(store: Store, actor: Actor, as_of: datetime) -> dict[str, Any]:
    """What the velocity refresh keeps: each split's velocity, stages and conversion over the last TARGET_DAYS
    days to as_of's day, and its monthly trend over the last TREND_DAYS."""
    end = as_of.date()
    start, trend_from = end - timedelta(days=TARGET_DAYS - 1), end - timedelta(days=TREND_DAYS - 1)
    deals, spans = _read(store, actor, trend_from, end, None, spans_from=start)
    return {"as_of": as_of, "period": (start, end), "trend_from": trend_from, "deals": deals.height,
            "by": {by or "all": analyse_velocity(deals, spans, start, end, by, trend_from) for by in SPLITS}}


def refresh_velocity(store: Store, now: datetime) -> dict[str, Any]:
    """The velocity job: the company-wide aggregates (every split) computed with the store closed, then stored as
    one analytics_runs row (kind "velocity"), the runs before the latest KEEP_RUNS deleted, and audited, in one
    short write. Returns {"run_id", "as_of", "deals", "pruned", "rows_written"}."""
    company = Actor(username=JOB_ACTOR, name="Scheduler", role="admin")
    summary = _summary(store, company, now)
    payload = json.dumps(_encode(summary), default=str)
    with store.write() as con:
        run_id = store.scalar("revenue_run_insert", con, kind=VELOCITY, as_of=now, computed_at=now, payload=payload)
        pruned = store.frame("revenue_prune_runs", con, kind=VELOCITY, keep=KEEP_RUNS).height
        audit.record(con, JOB_ACTOR, "refresh", "analytics_run", run_id, now,
                     after={"kind": VELOCITY, "as_of": now, "deals": summary["deals"], "older_runs_deleted": pruned,
                            "period": [str(d) for d in summary["period"]]})
    return {"run_id": run_id, "as_of": now, "deals": summary["deals"], "pruned": pruned, "rows_written": 1}


def latest_velocity(store: Store, actor: Actor) -> dict[str, Any]:
    """The latest velocity refresh: {"as_of", "computed_at", "period", "trend_from", "deals", "scoped", "by":
    {"all"|"team"|"rep"|"vertical": {"velocity", "stages", "conversion", "trend"}}, "note"}. Who sees every deal
    reads the stored company-wide run; a rep or manager gets the same figures recomputed now in their scope for
    the run's as_of (the stored run holds other people's deals). Before the first run: as_of None and no splits."""
    latest = store.frame("revenue_latest_run", kind=VELOCITY)
    if latest.is_empty():
        return {"as_of": None, "computed_at": None, "period": None, "trend_from": None, "deals": 0, "scoped": False,
                "by": {}, "note": "Never computed: the velocity refresh job has not run on this store."}
    run = latest.row(0, named=True)
    if actor.sees_all:
        return {**_decode(json.loads(run["payload"])), "computed_at": run["computed_at"], "scoped": False,
                "note": NOTE}
    return {**_summary(store, actor, run["as_of"]), "computed_at": run["computed_at"], "scoped": True, "note": NOTE}


# ---------------------------------------------------------------- the stored payload

_DTYPES = {"Int64": pl.Int64, "Int32": pl.Int32, "Float64": pl.Float64, "String": pl.String, "Boolean": pl.Boolean,
           "Date": pl.Date, "Datetime": pl.Datetime("us")}


def _encode(summary: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in summary.items() if k != "by"},
            "by": {by: {name: _frame_json(f) for name, f in frames.items()} for by, frames in summary["by"].items()}}


def _decode(payload: dict[str, Any]) -> dict[str, Any]:
    period = payload.get("period")
    return {"as_of": datetime.fromisoformat(payload["as_of"]),
            "period": tuple(date.fromisoformat(d) for d in period) if period else None,
            "trend_from": date.fromisoformat(payload["trend_from"]) if payload.get("trend_from") else None,
            "deals": payload.get("deals", 0),
            "by": {by: {name: _frame_from_json(f) for name, f in frames.items()}
                   for by, frames in payload.get("by", {}).items()}}


def _frame_json(frame: pl.DataFrame) -> dict[str, Any]:
    """A frame as JSON-ready columns with their types (dates as ISO text)."""
    return {"schema": {c: str(t.base_type()) for c, t in frame.schema.items()},
            "columns": {c: [None if v is None or (isinstance(v, float) and math.isnan(v)) else
                            (v.isoformat() if isinstance(v, date) else v) for v in frame[c].to_list()]
                        for c in frame.columns}}


def _frame_from_json(data: dict[str, Any]) -> pl.DataFrame:
    cols = []
    for c, kind in data["schema"].items():
        dtype = _DTYPES.get(kind, pl.String)
        s = pl.Series(c, data["columns"][c], dtype=pl.String if dtype in (pl.Date, pl.Datetime("us")) else dtype)
        if dtype == pl.Date:
            s = s.str.to_date()
        elif dtype == pl.Datetime("us"):
            s = s.str.to_datetime(time_unit="us")
        cols.append(s)
    return pl.DataFrame(cols)
