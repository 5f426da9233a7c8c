"""The rep scoreboard: reps ranked on leads, activities, response time, conversion, revenue and quota.

One SQL aggregate gives every rep's counts for the period (through the scoped macros, so the actor's
row scope holds); the rates, the ranking and the team roll-up are pure functions on that frame.

A sales org that splits the work (reps titled 'sdr' qualify leads, reps titled 'closer' close deals, as in
Olist's funnel) gets two more views: SDRs ranked on the leads they own, closers on the deals they own.
Figures the store does not record at all (activities, first responses, quotas) are left out, not shown as 0.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Any

import polars as pl

from flashdash.access import Actor, mask_pii
from flashdash.executive import Kpi
from flashdash.filters import Filters, recorded
from flashdash.store import Store

LEADS_LIMIT = 500
CHART_TOP = 25  # bars in the ranked chart; the table has every rep


Metric = Kpi  # a ranked figure: key, label, format, direction, help


METRICS = (
    Metric("leads", "Leads handled", "count", help="Leads the rep owns that were submitted in the period."),
    Metric("activities", "Activities logged", "count", help="Calls, emails, meetings and demos logged in the period."),
    Metric("median_response_hours", "Median first response", "hours", higher_is_better=False,
           help="Median hours from submission to first response, over the period's leads that got one."),
    Metric("conversion", "Conversion", "pct",
           help="The period's leads won so far ÷ the period's leads. Recent leads may still convert."),
    Metric("won_revenue", "Won revenue", "money", help="Won opportunities the rep owns that closed in the period."),
    Metric("attainment", "Quota attainment", "pct",
           help="Won revenue ÷ (monthly quota × months in the period). Managers carry no personal quota."),
)
# Ranked only in the SDR and closer views.
VIEW_ONLY_METRICS = (
    Metric("won_leads", "Leads won", "count",
           help="Leads the rep owns that were submitted in the period and are won so far."),
    Metric("won_deals", "Deals won", "count", help="Won opportunities the rep owns that closed in the period."),
)
METRIC_BY_KEY = {m.key: m for m in (*METRICS, *VIEW_ONLY_METRICS)}

VIEWS = {"all": "All reps", "sdr": "SDRs", "closer": "Closers"}
VIEW_METRICS = {
    "all": tuple(m.key for m in METRICS),
    "sdr": ("leads", "won_leads", "conversion", "activities", "median_response_hours"),
    "closer": ("won_deals", "won_revenue", "attainment", "activities"),
}
VIEW_HELP = {
    "sdr": "SDRs (title sdr) qualify leads: ranked on the leads they own that were submitted in the period.",
    "closer": "Closers (title closer, and anyone else who won a deal in the period) close deals: ranked on the "
              "won opportunities they own that closed in the period.",
}
# The columns each view leaves out of the rep and team tables (they belong to the other view).
VIEW_HIDES = {
    "all": (),
    "sdr": ("won_revenue", "quota_target", "attainment", "won_deals"),
    "closer": ("leads", "won_leads", "conversion", "median_response_hours"),
}
# What a figure needs the store to record (filters.recorded); without it the figure is left out.
NEEDS = {"activities": "activities", "median_response_hours": "first_response", "attainment": "quota",
         "quota_target": "quota"}
NEED_LABELS = {"activities": "activities", "first_response": "first responses", "quota": "quotas"}

# The columns of the rep and team tables, in the order shown.
REP_COLUMNS = ("rank", "rep", "team", "title", "active", "leads", "activities", "median_response_hours",
               "conversion", "won_revenue", "quota_target", "attainment", "won_leads", "won_deals", "rep_id",
               "team_id")
TEAM_COLUMNS = ("rank", "team", "reps", "leads", "activities", "median_response_hours", "conversion",
                "won_revenue", "quota_target", "attainment", "won_leads", "won_deals", "team_id")


def months_in_period(start: date, end: date) -> float:
    """Calendar months covered by the inclusive range; a partly covered month counts its share of days."""
    if start > end:
        return 0.0
    total = 0.0
    first = date(start.year, start.month, 1)
    while first <= end:
        days = calendar.monthrange(first.year, first.month)[1]
        last = first + timedelta(days=days - 1)
        total += ((min(end, last) - max(start, first)).days + 1) / days
        first = last + timedelta(days=1)
    return total


def _ratio(num: str | pl.Expr, den: str | pl.Expr) -> pl.Expr:
    num = pl.col(num) if isinstance(num, str) else num
    den = pl.col(den) if isinstance(den, str) else den
    return pl.when(den > 0).then(num.cast(pl.Float64) / den).otherwise(None)


def with_rates(frame: pl.DataFrame, months: float) -> pl.DataFrame:
    """Add conversion (won leads ÷ leads), the period's quota target and attainment (won revenue ÷ target)."""
    return frame.with_columns(quota_target=pl.col("monthly_quota").cast(pl.Float64) * months).with_columns(
        conversion=_ratio("won_leads", "leads"),
        attainment=_ratio("won_revenue", "quota_target"),
    )


def ranked(frame: pl.DataFrame, metric: str) -> pl.DataFrame:
    """Best first on `metric` (lowest first where lower is better), ties by name; reps without a value last."""
    spec = METRIC_BY_KEY[metric]
    name = "rep" if "rep" in frame.columns else "team"
    descending = spec.higher_is_better
    out = frame.sort([metric, name], descending=[descending, False], nulls_last=True)
    out = out.with_columns(rank=pl.col(metric).rank("min", descending=descending).cast(pl.Int32))
    return out.select([c for c in (REP_COLUMNS if name == "rep" else TEAM_COLUMNS) if c in out.columns])


def label_reps(frame: pl.DataFrame) -> pl.DataFrame:
    """A unique display name per rep: the name, with the id when two share it, marked when inactive."""
    dup = pl.col("name").count().over("name") > 1
    base = pl.when(dup).then(pl.format("{} (#{})", "name", "rep_id")).otherwise(pl.col("name"))
    return frame.with_columns(
        rep=pl.when(pl.col("active")).then(base).otherwise(pl.format("{} (inactive)", base)),
        team=pl.col("team").fill_null("(no team)"),
    )


def team_summary(reps: pl.DataFrame, team_response: pl.DataFrame, months: float) -> pl.DataFrame:
    """The rep rows rolled up by team: sums of the counts, the team's own median response, its attainment."""
    sums = reps.group_by("team_id", "team").agg(
        reps=pl.len().cast(pl.Int64),
        **{c: pl.col(c).sum() for c in ("leads", "won_leads", "activities", "won_deals", "won_revenue",
                                        "monthly_quota")},
    )
    out = sums.join(team_response, on="team_id", how="left", nulls_equal=True)
    if "median_response_hours" not in out.columns:
        out = out.with_columns(median_response_hours=pl.lit(None, pl.Float64))
    return with_rates(out, months).drop("monthly_quota")


def for_team(reps: pl.DataFrame, team_id: int | None) -> pl.DataFrame:
    """The rep rows of one team (all of them when `team_id` is None)."""
    if team_id is None:
        return reps
    return reps.filter(pl.col("team_id") == team_id)


def chart_rows(ranked_reps: pl.DataFrame, metric: str, top: int = CHART_TOP) -> pl.DataFrame:
    """The best `top` reps of a ranked frame that have a value for `metric` (what the bar chart shows)."""
    return ranked_reps.filter(pl.col(metric).is_not_null()).head(top)


def has_numbers(reps: pl.DataFrame) -> bool:
    """Whether anything happened in the period (else the page shows its empty state)."""
    if reps.is_empty():
        return False
    totals = reps.select(pl.col("leads", "activities", "won_deals").sum()).row(0)
    return any(totals)


def board(store: Store, actor: Actor, filters: Filters) -> dict[str, Any]:
    """Every rep in the actor's scope with their figures for the period, and the same rolled up by team."""
    params = filters.params(actor)
    months = months_in_period(filters.start, filters.end)
    with store.read() as con:
        reps = store.frame("scoreboard_reps", con, **params)
        team_response = store.frame("scoreboard_team_response", con, **params)
    reps = with_rates(label_reps(reps), months)
    teams = team_summary(reps, team_response, months)
    return {"reps": reps, "teams": teams, "team_response": team_response, "months": months,
            "recorded": recorded(store)}


def views(reps: pl.DataFrame) -> list[str]:
    """The views worth offering: "all", plus "sdr" and "closer" when reps carry those titles."""
    titles = set(reps["title"].to_list()) if "title" in reps.columns else set()
    return ["all", *(v for v in ("sdr", "closer") if v in titles)]


def in_view(reps: pl.DataFrame, view: str) -> pl.DataFrame:
    """The reps a view ranks: all of them; the SDRs; or the closers and anyone else who won a deal."""
    if view == "sdr":
        return reps.filter(pl.col("title") == "sdr")
    if view == "closer":
        return reps.filter((pl.col("title") == "closer") | (pl.col("won_deals") > 0))
    return reps


def view_metrics(view: str, rec: frozenset[str] | set[str]) -> list[str]:
    """The metrics a view ranks on, less those the store does not record."""
    return [k for k in VIEW_METRICS[view] if NEEDS.get(k) is None or NEEDS[k] in rec]


def hidden_columns(view: str, rec: frozenset[str] | set[str]) -> list[str]:
    """The table columns a view leaves out: the other view's figures and those the store does not record."""
    return [*VIEW_HIDES[view], *(c for c, need in NEEDS.items() if need not in rec)]


def unrecorded_note(rec: frozenset[str] | set[str]) -> str | None:
    """Which of the scoreboard's figures this store's data does not have (None when it has them all)."""
    missing = [label for need, label in NEED_LABELS.items() if need not in rec]
    if not missing:
        return None
    listed = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} or {missing[-1]}"
    return f"This data records no {listed}, so the scoreboard leaves them out."


def ownership_note(reps: pl.DataFrame, rec: frozenset[str] | set[str]) -> str | None:
    """A warning when the data names a lead's owner only once it is won (as Olist's does) and these reps own
    leads: every one of them is won, so conversion by rep says nothing."""
    if "owner_before_win" in rec or not reps["leads"].sum():
        return None
    return ("Every lead owned here was won: this data names a lead's owner only once it is won, so conversion "
            "by rep is 100% by construction. Leads won says more.")


def view(data: dict[str, Any], view: str) -> dict[str, Any]:
    """The board narrowed to one view: its reps and their teams, the metrics to rank on, the columns shown."""
    rec = data["recorded"]
    reps = in_view(data["reps"], view)
    teams = data["teams"]
    if view != "all":
        # a team's median response covers all its reps' leads: keep it only where the view keeps the whole team
        whole = data["reps"].group_by("team_id").len().join(reps.group_by("team_id").len(), on="team_id",
                                                             how="inner", suffix="_shown", nulls_equal=True)
        whole = whole.filter(pl.col("len") == pl.col("len_shown"))["team_id"]
        response = data["team_response"].filter(pl.col("team_id").is_in(whole.implode()))
        teams = team_summary(reps, response, data["months"])
    hide = hidden_columns(view, rec)
    return {"reps": reps.drop(hide, strict=False), "teams": teams.drop(hide, strict=False),
            "metrics": view_metrics(view, rec), "help": VIEW_HELP.get(view),
            "notes": [n for n in (ownership_note(reps, rec) if view != "closer" else None, unrecorded_note(rec)) if n]}


def rep_leads(store: Store, actor: Actor, filters: Filters, rep_id: int) -> dict[str, Any]:
    """One rep's leads in the period (newest first, at most LEADS_LIMIT), PII masked per role.

    The scoped macro still applies the actor's scope: asking for a rep outside it returns no rows.
    """
    frame = store.frame("scoreboard_rep_leads", **filters.params(actor), rep_id=rep_id, limit=LEADS_LIMIT)
    total = int(frame["total"][0]) if frame.height else 0
    return {"leads": mask_pii(frame.drop("total"), actor), "total": total}


def rep_deals(store: Store, actor: Actor, filters: Filters, rep_id: int) -> dict[str, Any]:
    """One rep's won deals that closed in the period (latest first, at most LEADS_LIMIT).

    Like rep_leads, the scoped macro applies the actor's scope: a rep outside it has no rows.
    """
    frame = store.frame("scoreboard_rep_deals", **filters.params(actor), rep_id=rep_id, limit=LEADS_LIMIT)
    total = int(frame["total"][0]) if frame.height else 0
    return {"deals": frame.drop("total"), "total": total}
