"""Performance analytics: rep productivity, which activities before a close go with winning, team benchmarks and
coaching from each rep's gaps to the top quarter of reps.

Productivity per rep for a period: calls per working day, emails sent, meetings booked (per working week), demos
and the median first response to their leads. Working days are the rep's own weekdays in the period, from their
start date (for a rep who has left, up to their last activity).

Activity to close: over closed deals, a logistic regression (statsmodels) of "won" on the calls, emails, meetings
and demos logged on the lead in the 30 days before the close (each capped at COUNT_CAP) and a first response within
an hour, controlling for lead quality as known when the lead arrived (interest level, channel, vertical, company
size, log monthly volume; flashdash.effectiveness.covariates). Odds ratios per additional activity with 95%
intervals, n, and "associated with"; "not enough data" below MIN_DEALS deals or MIN_EVENTS of either outcome.

Benchmarks: a target per metric, stored as JSON in the settings table under 'performance_benchmarks' (defaults
until someone saves them); managers and admins change them, validated and audited.

Coaching: for each selling rep, the metrics where they are short of the top quarter of reps (the 75th percentile,
or the 25th for response time, over every team's sellers in the period), kept only when the evidence holds: the
rep has at least MIN_REP_DAYS working days (MIN_REP_LEADS responded leads for response time), at least MIN_REPS
reps are compared, and the activity-to-close model (every team's closed deals) associates the metric's activity
with winning (its interval above 1). At most MAX_RECOMMENDATIONS per rep, the largest relative gap first; none
when the evidence is weak.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
import statsmodels.api as sm

from flashdash import audit
from flashdash.access import AccessDenied, Actor
from flashdash.effectiveness import covariates
from flashdash.filters import Filters
from flashdash.store import Store

SETTING_KEY = "performance_benchmarks"
BENCHMARK_WRITERS = ("manager", "admin")
MIN_DEALS = 100
MIN_EVENTS = 20
COUNT_CAP = 20  # activities of one kind in 30 days: a few deals with very many would steer a per-activity odds ratio
MIN_REPS = 4
MIN_REP_DAYS = 10
MIN_REP_LEADS = 10
MAX_RECOMMENDATIONS = 3
MAX_SE = 5.0
Z95 = 1.959963984540054
NOT_ENOUGH = "not enough data"
NO_CLEAR = "no clear association"
QUALITY = ("interest level", "channel", "vertical", "company size", "log monthly volume")


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    default: float  # the benchmark until one is saved
    maximum: float  # a saved benchmark above this is refused as a typo
    factor: str  # the activity-to-close factor that is its evidence
    base: str  # the productivity column that counts the rep's evidence for it


METRICS = (
    Metric("calls_per_day", "Calls per working day", "calls", True, 8.0, 200.0, "calls_30d", "working_days"),
    Metric("emails_per_day", "Emails sent per working day", "emails", True, 6.0, 500.0, "emails_30d",
           "working_days"),
    Metric("meetings_per_week", "Meetings booked per working week", "meetings", True, 2.0, 100.0, "meetings_30d",
           "working_days"),
    Metric("median_response_hours", "Median first response", "hours", False, 2.0, 24.0 * 30, "response_1h",
           "leads_responded"),
)
METRIC_BY_KEY = {m.key: m for m in METRICS}


@dataclass(frozen=True)
class Factor:
    column: str
    label: str
    per: str  # what one unit is


FACTORS = (
    Factor("calls_30d", "calls in the 30 days before the close", "per additional call"),
    Factor("emails_30d", "emails in the 30 days before the close", "per additional email"),
    Factor("meetings_30d", "meetings in the 30 days before the close", "per additional meeting"),
    Factor("demos_30d", "demos in the 30 days before the close", "per additional demo"),
    Factor("response_1h", "a first response to the lead within an hour", "against a slower one or none"),
)
FACTOR_BY_COLUMN = {f.column: f for f in FACTORS}
_A2C_SCHEMA = {"factor": pl.String, "column": pl.String, "per": pl.String, "n": pl.Int64, "mean_won": pl.Float64,
               "mean_lost": pl.Float64, "odds_ratio": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
               "p_value": pl.Float64, "verdict": pl.String, "wording": pl.String}
_COACH_SCHEMA = {"rep_id": pl.Int64, "rep": pl.String, "team": pl.String, "metric": pl.String, "label": pl.String,
                 "value": pl.Float64, "top_quartile": pl.Float64, "gap": pl.Float64, "n": pl.Int64,
                 "reps_compared": pl.Int64, "odds_ratio": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
                 "deals": pl.Int64, "recommendation": pl.String}
A2C_NOTE = ("How to read this: each odds ratio compares closed deals that differ in one activity and are alike in "
            "the others and in lead quality as known when the lead arrived (" + ", ".join(QUALITY) + "). Above 1, "
            "deals with more of it were won more often. It is an association, not proof: reps put more calls and "
            "meetings into deals that look like they will close, and a won deal's paperwork brings calls of its own.")


class PerformanceError(ValueError):
    """Benchmarks that cannot be saved; the message names every problem and how to fix it."""


# ---------------------------------------------------------------- productivity


def productivity(store: Store, actor: Actor, filters: Filters) -> pl.DataFrame:
    """Per rep in the actor's scope and the filters: working days, calls, calls_per_day, emails_sent,
    emails_per_day, meetings_booked, meetings_per_week, demos, leads_responded, median_response_hours."""
    return with_rates(store.frame("perf_productivity", **filters.params(actor)))


def with_rates(frame: pl.DataFrame) -> pl.DataFrame:
    """Counts per working day (meetings per working week of five days); null without working days."""
    days = pl.when(pl.col("working_days") > 0).then(pl.col("working_days").cast(pl.Float64))
    return frame.with_columns(calls_per_day=pl.col("calls") / days, emails_per_day=pl.col("emails_sent") / days,
                              meetings_per_week=5 * pl.col("meetings_booked") / days)


# ---------------------------------------------------------------- activity to close


def activity_to_close(store: Store, actor: Actor, now: datetime) -> dict[str, Any]:
    """Which activities in the 30 days before a close go with winning, over the closed deals in the actor's scope:
    {"frame" (factor, per, n, mean_won, mean_lost, odds_ratio, ci_low, ci_high, p_value, verdict, wording), "n",
    "won", "note", "why" (set when there is not enough data)}."""
    return analyse_closes(store.frame("perf_closed_deals", now=now, **actor.scope_params()))


def analyse_closes(deals: pl.DataFrame) -> dict[str, Any]:
    """The activity-to-close result from rows of perf_closed_deals."""
    y = deals["won"].cast(pl.Int8).to_numpy() if deals.height else np.empty(0)
    won = int(y.sum())
    out: dict[str, Any] = {"n": deals.height, "won": won, "note": A2C_NOTE, "why": None}
    if deals.height < MIN_DEALS or min(won, deals.height - won) < MIN_EVENTS:
        why = (f"Not enough data: {deals.height} closed deals ({won} won); it takes {MIN_DEALS}, with at least "
               f"{MIN_EVENTS} won and {MIN_EVENTS} lost.")
        out.update(why=why, frame=pl.DataFrame([_a2c_row(deals, y, f, verdict=NOT_ENOUGH, wording=why)
                                                for f in FACTORS], schema=_A2C_SCHEMA))
        return out
    x_factors = np.column_stack([_factor_values(deals, f.column) for f in FACTORS])
    varied = [i for i in range(len(FACTORS)) if np.ptp(x_factors[:, i]) > 0]
    quality, _ = covariates(deals, y)
    x = sm.add_constant(np.column_stack([x_factors[:, varied], quality]), has_constant="add")
    fitted = _logit(y, x)
    rows = []
    for i, factor in enumerate(FACTORS):
        if fitted is None or i not in varied:
            rows.append(_a2c_row(deals, y, factor, verdict=NOT_ENOUGH, wording=(
                f"No estimate for {factor.label}: the data do not vary enough to fit it.")))
            continue
        j = 1 + varied.index(i)
        beta, se, p = float(fitted.params[j]), float(fitted.bse[j]), float(fitted.pvalues[j])
        if not (math.isfinite(se) and se < MAX_SE):
            rows.append(_a2c_row(deals, y, factor, verdict=NOT_ENOUGH, wording=(
                f"No estimate for {factor.label}: the data cannot separate it from the rest.")))
            continue
        odds, low, high = math.exp(beta), math.exp(beta - Z95 * se), math.exp(beta + Z95 * se)
        verdict = NO_CLEAR if low <= 1 <= high else ("associated with winning" if low > 1 else
                                                     "associated with losing")
        rows.append(_a2c_row(deals, y, factor, odds_ratio=odds, ci_low=low, ci_high=high, p_value=p,
                             verdict=verdict, wording=_a2c_wording(factor, odds, low, high, p, deals.height)))
    out["frame"] = pl.DataFrame(rows, schema=_A2C_SCHEMA)
    return out


def _factor_values(deals: pl.DataFrame, column: str) -> np.ndarray:
    values = deals[column].cast(pl.Float64).to_numpy()
    return values if column == "response_1h" else np.minimum(values, COUNT_CAP)


def _logit(y: np.ndarray, x: np.ndarray) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = sm.Logit(y, x).fit(disp=0, maxiter=200, method="newton")
        except (np.linalg.LinAlgError, ValueError):
            return None
    return result if result.mle_retvals.get("converged", False) else None


def _a2c_row(deals: pl.DataFrame, y: np.ndarray, factor: Factor, **values: Any) -> dict[str, Any]:
    x = _factor_values(deals, factor.column) if deals.height else np.empty(0)
    won, lost = y == 1, y == 0
    return {"factor": factor.label, "column": factor.column, "per": factor.per, "n": deals.height,
            "mean_won": float(x[won].mean()) if won.any() else None,
            "mean_lost": float(x[lost].mean()) if lost.any() else None, **values}


def _a2c_wording(factor: Factor, odds: float, low: float, high: float, p: float, n: int) -> str:
    figures = (f"odds ratio {odds:.2f} {factor.per}, 95% CI {low:.2f}–{high:.2f}, "
               f"{'p < 0.001' if p < 0.001 else f'p = {p:.3f}'}, n = {n:,} closed deals")
    if low <= 1 <= high:
        return f"No clear association between {factor.label} and winning the deal ({figures})."
    return (f"{factor.label[0].upper()}{factor.label[1:]} {'are' if factor.column != 'response_1h' else 'is'} "
            f"associated with {'winning' if low > 1 else 'losing'} the deal more often, for leads of similar "
            f"quality ({figures}).")


# ---------------------------------------------------------------- benchmarks


def benchmarks(store: Store, actor: Actor) -> pl.DataFrame:
    """The benchmark per metric (saved, else the default): metric, label, unit, higher_is_better, value,
    default, saved (whether someone set it)."""
    saved = _saved(store)
    return pl.DataFrame([{"metric": m.key, "label": m.label, "unit": m.unit, "higher_is_better": m.higher_is_better,
                          "value": float(saved.get(m.key, m.default)), "default": m.default,
                          "saved": m.key in saved} for m in METRICS])


def _saved(store: Store, con: Any = None) -> dict[str, float]:
    raw = store.scalar("setting", con, key=SETTING_KEY)
    if not raw:
        return {}
    try:
        values = json.loads(raw)
    except json.JSONDecodeError:
        return {}  # a hand-edited setting that is not JSON: the defaults hold until it is saved again
    return {k: float(v) for k, v in values.items() if k in METRIC_BY_KEY and _valid(METRIC_BY_KEY[k], v) is None}


def _valid(metric: Metric, value: Any) -> str | None:
    """Why a benchmark value cannot be used, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return f"{metric.label} must be a number of {metric.unit}, not {value!r}"
    try:
        number = float(value)
    except ValueError:
        return f"{metric.label} must be a number of {metric.unit}, not {value!r}"
    if not math.isfinite(number) or number <= 0 or number > metric.maximum:
        return f"{metric.label} must be above 0 and at most {metric.maximum:g} {metric.unit}, not {value!r}"
    return None


def save_benchmarks(store: Store, actor: Actor, values: dict[str, Any], now: datetime) -> dict[str, float]:
    """Set benchmarks (managers and admins); every problem named, nothing saved unless all are good; audited.
    Returns every benchmark after."""
    if actor.role not in BENCHMARK_WRITERS:
        raise AccessDenied(f"A {actor.role} may not change the performance benchmarks; ask a manager or an admin.")
    if not isinstance(values, dict) or not values:
        raise PerformanceError("Nothing to save: give at least one benchmark, e.g. {'calls_per_day': 8}.")
    problems = [f"there is no metric {k!r}; the metrics are {', '.join(METRIC_BY_KEY)}"
                for k in values if k not in METRIC_BY_KEY]
    problems += [why for k, v in values.items() if k in METRIC_BY_KEY
                 for why in [_valid(METRIC_BY_KEY[k], v)] if why]
    if problems:
        raise PerformanceError("The benchmarks were not saved: " + "; ".join(problems) + ".")
    clean = {k: float(v) for k, v in values.items()}
    with store.write() as con:
        before = _saved(store, con)
        after = {**before, **clean}
        store.run("put_setting", con, key=SETTING_KEY, value=json.dumps(after, sort_keys=True))
        changed = {k: v for k, v in clean.items() if before.get(k) != v}
        if changed:
            audit.record(con, actor.username, "update", "setting", SETTING_KEY, now,
                         before={k: before.get(k) for k in changed}, after=changed,
                         reason="performance benchmarks saved")
    return {m.key: after.get(m.key, m.default) for m in METRICS}


def benchmarking(store: Store, actor: Actor, filters: Filters) -> pl.DataFrame:
    """Each team and rep in scope against the benchmarks: level (team / rep), team_id, team, rep_id, rep, metric,
    label, value, benchmark, meets (null without a value), gap (value minus benchmark, so negative is short for
    most metrics and positive is short for response time), n (working days, or leads responded)."""
    with store.read() as con:
        reps = with_rates(store.frame("perf_productivity", con, **filters.params(actor)))
        team_response = store.frame("perf_team_response", con, **filters.params(actor))
    targets = {row["metric"]: row["value"] for row in benchmarks(store, actor).iter_rows(named=True)}
    return compare_to_benchmarks(reps, team_response, targets)


def team_rollup(reps: pl.DataFrame, team_response: pl.DataFrame) -> pl.DataFrame:
    """Teams' figures from their reps' counts (rates over the team's working days) and the teams' own medians."""
    teams = (reps.filter(pl.col("team_id").is_not_null())
             .group_by("team_id", "team")
             .agg(pl.col("working_days", "calls", "emails_sent", "meetings_booked", "demos").sum()))
    teams = with_rates(teams).join(team_response, on="team_id", how="left")
    return teams.with_columns(leads_responded=pl.col("leads_responded").fill_null(0))


def compare_to_benchmarks(reps: pl.DataFrame, team_response: pl.DataFrame, targets: dict[str, float]) -> pl.DataFrame:
    """The benchmarking rows (see benchmarking) from productivity rows, team medians and the targets. Managers are
    not sellers: they are neither judged against the benchmarks nor counted in their team's rates (as coaching's
    top quarter leaves them out)."""
    if "title" in reps.columns:
        reps = reps.filter(pl.col("title").fill_null("") != "manager")
    teams = team_rollup(reps, team_response).with_columns(level=pl.lit("team"), rep_id=pl.lit(None, pl.Int32),
                                                          rep=pl.lit(None, pl.String))
    people = reps.with_columns(level=pl.lit("rep"))
    keep = ["level", "team_id", "team", "rep_id", "rep", "working_days", "leads_responded",
            *[m.key for m in METRICS]]
    both = pl.concat([teams.select(keep), people.select(keep)], how="vertical_relaxed")
    parts = []
    for m in METRICS:
        target = targets.get(m.key, m.default)
        value = pl.col(m.key)
        parts.append(both.select(
            "level", "team_id", "team", "rep_id", "rep", metric=pl.lit(m.key), label=pl.lit(m.label),
            value=value.cast(pl.Float64), benchmark=pl.lit(target, pl.Float64),
            meets=(value >= target) if m.higher_is_better else (value <= target),
            gap=value - target, n=pl.col(m.base).cast(pl.Int64)))
    order = pl.col("level").replace_strict({"team": 0, "rep": 1}, return_dtype=pl.Int8)
    return pl.concat(parts).sort([order, "team", "rep", "metric"], nulls_last=True)


# ---------------------------------------------------------------- coaching


def coaching(store: Store, actor: Actor, filters: Filters, now: datetime) -> dict[str, Any]:
    """Up to MAX_RECOMMENDATIONS per selling rep in the actor's scope: {"recommendations" (rep_id, rep, team,
    metric, label, value, top_quartile, gap, n, reps_compared, odds_ratio, ci_low, ci_high, deals,
    recommendation), "reps" (every rep in scope with how many recommendations, and why none), "evidence" (the
    activity-to-close rows used), "note"}. The top quarter and the evidence come from every team (aggregates only)."""
    everyone = Filters(start=filters.start, end=filters.end)
    all_scope = {"scope_all": True, "scope_reps": []}
    with store.read() as con:
        mine = with_rates(store.frame("perf_productivity", con, **filters.params(actor)))
        peers = with_rates(store.frame("perf_productivity", con, **{**everyone.params(actor), **all_scope}))
        closes = store.frame("perf_closed_deals", con, now=now, **all_scope)
    evidence = analyse_closes(closes)
    return recommend(mine, peers, evidence)


def top_quartiles(peers: pl.DataFrame) -> dict[str, tuple[float, int]]:
    """Per metric, the value that marks the top quarter of selling reps (p75, or p25 where lower is better) and
    how many reps it is over; only metrics with MIN_REPS reps that have a value on enough evidence."""
    sellers = peers.filter(pl.col("title") != "manager")
    out = {}
    for m in METRICS:
        enough = MIN_REP_LEADS if m.base == "leads_responded" else MIN_REP_DAYS
        values = sellers.filter(pl.col(m.base) >= enough)[m.key].drop_nulls()
        if values.len() >= MIN_REPS:
            out[m.key] = (float(np.quantile(values.to_numpy(), 0.75 if m.higher_is_better else 0.25)), values.len())
    return out


def recommend(mine: pl.DataFrame, peers: pl.DataFrame, evidence: dict[str, Any]) -> dict[str, Any]:
    """The coaching result (see coaching) from the reps' productivity, every team's, and the activity-to-close
    result."""
    tops = top_quartiles(peers)
    support = {r["column"]: r for r in evidence["frame"].iter_rows(named=True)}
    recs, reps = [], []
    for rep in mine.filter(pl.col("title") != "manager").iter_rows(named=True):
        found, why = [], []
        for m in METRICS:
            reason = _why_not(rep, m, tops, support)
            if reason:
                why.append(reason)
                continue
            top, compared = tops[m.key]
            s = support[m.factor]
            gap = (top - rep[m.key]) if m.higher_is_better else (rep[m.key] - top)
            found.append({"rep_id": rep["rep_id"], "rep": rep["rep"], "team": rep["team"], "metric": m.key,
                          "label": m.label, "value": rep[m.key], "top_quartile": top, "gap": gap,
                          "n": rep[m.base], "reps_compared": compared, "odds_ratio": s["odds_ratio"],
                          "ci_low": s["ci_low"], "ci_high": s["ci_high"], "deals": s["n"],
                          "recommendation": _advice(m, rep, top, compared, s), "_rel": gap / top if top else 0.0})
        found.sort(key=lambda r: -r["_rel"])
        recs += [{k: v for k, v in r.items() if k != "_rel"} for r in found[:MAX_RECOMMENDATIONS]]
        reps.append({"rep_id": rep["rep_id"], "rep": rep["rep"], "team": rep["team"],
                     "recommendations": min(len(found), MAX_RECOMMENDATIONS),
                     "why_none": None if found else "; ".join(dict.fromkeys(why))})
    return {"recommendations": pl.DataFrame(recs, schema=_COACH_SCHEMA),
            "reps": pl.DataFrame(reps, schema={"rep_id": pl.Int64, "rep": pl.String, "team": pl.String,
                                               "recommendations": pl.Int64, "why_none": pl.String}),
            "evidence": evidence["frame"], "note": evidence["note"]}


def _why_not(rep: dict[str, Any], m: Metric, tops: dict[str, tuple[float, int]],
             support: dict[str, dict[str, Any]]) -> str | None:
    """Why a metric gives this rep no recommendation, or None when it does."""
    enough = MIN_REP_LEADS if m.base == "leads_responded" else MIN_REP_DAYS
    if m.key not in tops:
        return f"too few reps to compare {m.label.lower()} with (it takes {MIN_REPS})"
    if rep[m.key] is None or rep[m.base] < enough:
        return f"too little of the rep's own data for {m.label.lower()}"
    top = tops[m.key][0]
    if (rep[m.key] >= top) if m.higher_is_better else (rep[m.key] <= top):
        return f"already in the top quarter on {m.label.lower()}"
    s = support.get(m.factor)
    if s is None or s["verdict"] != "associated with winning":
        return f"no clear association between {FACTOR_BY_COLUMN[m.factor].label} and winning"
    return None


def _advice(m: Metric, rep: dict[str, Any], top: float, compared: int, s: dict[str, Any]) -> str:
    own = f"{rep[m.key]:.1f} {m.unit}"
    base = (f"{rep[m.base]} working days" if m.base == "working_days" else f"{rep[m.base]} leads responded to")
    action = {"calls_per_day": "Make more calls", "emails_per_day": "Send more emails",
              "meetings_per_week": "Book more meetings", "median_response_hours": "Answer new leads sooner"}[m.key]
    measure = m.label[0].lower() + m.label[1:]
    factor = FACTOR_BY_COLUMN[m.factor]
    return (f"{action}: {measure} {own} against {top:.1f} for the top quarter of {compared} reps ({base}). Closed "
            f"deals with {factor.label} were won more often, for leads of similar quality (odds ratio "
            f"{s['odds_ratio']:.2f} {factor.per}, 95% CI {s['ci_low']:.2f}–{s['ci_high']:.2f}, n = {s['n']:,} "
            "deals): an association worth acting on, not a guarantee.")
