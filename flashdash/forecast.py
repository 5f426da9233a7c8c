"""Revenue forecasting: a time-series forecast, a pipeline forecast and their blend, each backtested; what-if
scenarios; and the chance each rep and team makes quota.

What is forecast. "Revenue" here is won revenue as the rest of the app counts it (the Revenue page's closed-deal
chart, the scoreboard, reps.monthly_quota): the amount of the deals won, by the month they closed. A deal's
amount is its expected annual revenue, so this is annual contract value booked per month ("bookings"), not revenue
recognised month by month from customers' payments; that is the quantity quotas are set in, and the only one both
forecasts below can speak to (the pipeline holds deals, not payments).

The monthly series. Won amount per calendar month of the deals in the actor's scope. The first RAMP_MONTHS months
of a history are its ramp-up (deals created before the history began are missing from them) and the current month
is in progress: neither is learnt from or scored.

1. The revenue forecast (statsmodels). Candidates: ETS(A,N,N) and ETS(A,Ad,N) (ETSModel; the damped trend rather
   than Holt's linear one, which over-extrapolates), ARIMA(1,0,0) with a linear trend (SARIMAX) and, with at least
   SEASONAL_MONTHS of history, seasonal ETS(A,N,A) and SARIMA(1,0,0)(0,1,0)12; all on log(1 + revenue), so
   intervals are positive and widen with the level. Two baselines need no model: last month again (naive) and the
   mean of the last 12 months. The candidate with the lowest one-month MAPE in the backtest is used (a baseline,
   if none beats it). Fewer than MIN_SERIES_MONTHS complete months is "not enough data" for it.
2. The pipeline forecast. Every deal open now × its calibrated chance of being won × when it closes, plus the
   deals not created yet, simulated DRAWS times (numpy, seeded):
   - win probability: a logistic regression (scikit-learn) on the deal's stage and age band at the time, its
     amount and its lead's interest level and channel, calibrated (isotonic with 1,000 labelled rows, else Platt)
     and learnt from monthly snapshots of the deals open at the same point of each past month, labelled by how they
     ended. It is checked out of time (trained on the earliest 75% of snapshots, scored on the rest) against a
     transparent rule, the win rate of deals in the same stage and age band; if it does not beat the rule (Brier
     score), or has fewer than MIN_LABELLED labelled rows, the rule is used and the card says so. Snapshots less
     than CENSOR_DAYS old are left out of it: too few of their deals have ended to read a rate from;
   - close date: the days from a snapshot to the close, for a deal that is won and for one that is lost (winners
     move on through the stages, losers often stall: the two differ), by stage, age band and size band (the
     biggest deals take longest), as cumulative incidence curves (statsmodels CumIncidenceRight) that count the
     deals still open as censored; a draw beyond the longest close seen closes after the horizon;
   - new deals: created at the rate of the last NEW_DEAL_DAYS per rep, times last year's seasonality (the deals
     created in the same month a year earlier against the same NEW_DEAL_DAYS a year earlier), like the deals of
     the last year (their amounts; their chance is the win rate of that year's deals of the same size band; their
     close after their own curves). Each rep's won new-deal revenue in a month is a compound Poisson sum, drawn
     with its exact chance of no win and its exact mean and variance (a lognormal for the rest). Growth beyond
     the last NEW_DEAL_DAYS is not projected.
3. The blend: on log revenue, its median is w × the revenue forecast's + (1 - w) × the pipeline's, and its interval
   the weighted average of theirs narrowed by how differently the two err (the correlation of their backtest
   errors: Bates and Granger's combined variance), with w the weight of 0, 0.1, ..., 1 with the lowest one-month
   MAPE in the backtest.

The backtest. Rolling origin over the complete months: at the start of each month from the MIN_TRAIN_MONTHS-th on,
every method forecasts that month and the next two from what was known then (the series before it; the deals as
they stood, their outcomes only if they had ended); one- and three-month-ahead errors give the MAPE, the share of
months within ±5% and ±10%, and how often the 80% and 95% intervals held the actual. Beside them, the share of
months "attainable" within ±5% and ±10%: what a method would reach if its own distribution were exactly right.
When a month turns on a few large deals, no honest method gets close, and the backtest says so.
Intervals are calibrated out of time: at each origin, each method's interval is widened or narrowed by how large
that method's own errors were, in units of its stated spread, in the months already over (interval_factor; none
before MIN_PRIOR_MONTHS), and the forecast shown takes the factor of all its backtest months. The method with
the lowest one-month MAPE is the forecast shown. Because that choice (and the blend's weight) is made on the same
months it is scored on, the row "selected (out of time)" also scores the choice itself: at each month, the method that had done
best on the months before it. Fewer than MIN_BACKTEST_MONTHS backtest months is "not enough data".

Scope. Every figure is computed from the deals in the actor's scope only (a rep's own, a manager's teams'), models
included: a rep's forecast learns from their own deals, so it can differ from their row in their manager's view.

Scenarios multiply five levers, each between LEVER_MIN and LEVER_MAX: win rate (each deal's chance), deal size
(amounts), cycle length (time to close), new-lead volume (new deals) and headcount (new deals and the quota of a
team or the company, as if each seller added or removed were an average one; a rep's own row is unchanged by it).
A scenario reuses the base's random draws, so a slider move is arithmetic on them and two scenarios differ only by
their levers. Quota attainment reads the same simulation: the chance that what was won in the period so far plus
what the draws close in it reaches the quota (reps.monthly_quota, per month; × 3 for a quarter).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time as clock_time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # statsmodels' ETS wants a dated index
import polars as pl
from scipy.stats import norm
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from statsmodels.duration.survfunc import CumIncidenceRight
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.statespace.sarimax import SARIMAX

from flashdash import audit, clock
from flashdash.access import AccessDenied, Actor, managed_teams
from flashdash.store import Store, db_path

SEED = 7
DRAWS = 2000  # Monte Carlo draws of the pipeline (fewer when the open deals are many: MAX_CELLS)
BACKTEST_DRAWS = 1000
MAX_CELLS = 4_000_000  # open deals × draws held at once (64 MB of float32)
RAMP_MONTHS = 3
MIN_TRAIN_MONTHS = 9  # complete months before the first backtest origin
MIN_SERIES_MONTHS = 6  # complete months a revenue model needs at all
MIN_BACKTEST_MONTHS = 3
SEASONAL_MONTHS = 24  # seasonal candidates need two years to learn a yearly pattern from
MIN_PRIOR_MONTHS = 3  # backtest months before the out-of-time selection (and calibration) trusts its own record
FACTOR_RANGE = (0.25, 4.0)  # an interval is at most narrowed to a quarter or widened four times by calibration
CALIBRATION_PRIOR = 6  # months of "exactly right" the calibration factor is pulled toward
MIN_LABELLED = 100  # labelled snapshot rows a win model needs
MIN_GROUP = 30  # rows behind a one-hot level or a close-time curve
CENSOR_DAYS = 60
NEW_DEAL_DAYS = 91
RECENT_DAYS = 365
AGE_BANDS = (15.0, 30.0, 60.0)  # days: bands 0-15, 15-30, 30-60, 60+
SIZE_QUANTILES = (0.25, 0.5, 0.75, 0.9, 0.97)  # size bands: the biggest deals take longest, so finer at the top
SHRINK = 20.0  # pseudo-deals pulling a stage-and-age win rate toward the overall rate
PAIRS = 4000  # (arrival, time to close) pairs behind the new deals' timing
MIN_POOL = 10  # a rep's deals of the last year behind their own new-deal sizes (fewer: everyone's)
HORIZONS = (1, 3)
LEVERS = ("win_rate", "deal_size", "cycle_length", "lead_volume", "headcount")
LEVER_MIN, LEVER_MAX = 0.5, 1.5
PERIODS = ("month", "quarter", "next_month", "next_quarter")
BLEND_WEIGHTS = tuple(round(w / 10, 1) for w in range(11))
LEVELS = {"lo95": 0.025, "lo80": 0.10, "forecast": 0.50, "hi80": 0.90, "hi95": 0.975}
Z = {k: float(norm.ppf(q)) for k, q in LEVELS.items()}  # the same quantiles of a normal (on log revenue)
OPEN_STAGES = ("discovery", "proposal", "negotiation")
JOB_ACTOR = "scheduler"
COMPANY = Actor(username=JOB_ACTOR, name="Scheduler", role="admin")
NOT_ENOUGH = "not enough data"
PLANNERS = ("manager", "analyst", "admin")  # who saves scenarios (executives read them)

NOTE = (
    "Revenue is the amount of the deals won (expected annual revenue) by the month they closed. The revenue "
    "forecast extends the monthly series (ETS or ARIMA, chosen by backtest); the pipeline forecast simulates the "
    "open deals (calibrated win chance × close date) and the deals still to come; the blend weighs the two as the "
    "backtest found best. Intervals are 80% and 95%; the backtest shows how often they held."
)


class ScenarioError(ValueError):
    """A scenario that cannot be saved as given; the message names every problem and how to fix it."""


class ForecastError(ValueError):
    """A request the forecast cannot answer as asked; the message says why."""


# ---------------------------------------------------------------- months


def month_start(t: date | datetime) -> date:
    return date(t.year, t.month, 1)


def add_months(d: date, k: int) -> date:
    """The first of the month k months after d's month."""
    y, m = divmod(d.month - 1 + k, 12)
    return date(d.year + y, m + 1, 1)


def quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def quarter_label(d: date) -> str:
    return f"{d.year}-Q{(d.month - 1) // 3 + 1}"


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time())


# ---------------------------------------------------------------- reading


@dataclass
class Inputs:
    """What the forecast reads from the store: the deals and their stage history in scope, and the reps."""

    deals: pl.DataFrame
    changes: pl.DataFrame
    reps: pl.DataFrame


def read_inputs(store: Store, actor: Actor, now: datetime, team_id: int | None = None) -> Inputs:
    """The deals (created by now), their stage history and the reps in the actor's scope (of one team if given)."""
    params = {**actor.scope_params(), "team_id": team_id, "now": now}
    with store.read() as con:
        deals = store.frame("forecast_deals", con, **params)
        changes = store.frame("forecast_stage_changes", con, **params)
        reps = store.frame("forecast_reps", con, **params)
    deals = deals.with_columns(pl.col("won").fill_null(False), pl.col("amount").fill_null(0.0).clip(lower_bound=0.0))
    return Inputs(deals=deals, changes=changes, reps=reps)


def _learning_inputs(store: Store, actor: Actor, now: datetime, team_id: int | None = None) -> Inputs | None:
    """The whole company's deals for the win and close-date models when the view is narrower (a rep's book, a
    team), else None. Only the models' parameters come from them; what is simulated and shown stays in scope."""
    return read_inputs(store, COMPANY, now) if not actor.sees_all or team_id is not None else None


def revenue_series(deals: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """Won amount by close month, from the deals' first month to now's: month, won_amount, won_deals and status
    ("ramp-up" for the first RAMP_MONTHS, "in progress" for now's month, else "complete"). Months without a win
    are there with 0."""
    schema = {"month": pl.Date, "won_amount": pl.Float64, "won_deals": pl.Int64, "status": pl.String}
    if deals.is_empty():
        return pl.DataFrame(schema=schema)
    first = month_start(deals["created_at"].min())
    current = month_start(now)
    months, m = [], first
    while m <= current:
        months.append(m)
        m = add_months(m, 1)
    won = (deals.filter(pl.col("won") & pl.col("closed_at").is_not_null() & (pl.col("closed_at") <= now))
           .group_by(pl.col("closed_at").dt.truncate("1mo").cast(pl.Date).alias("month"))
           .agg(won_amount=pl.col("amount").sum(), won_deals=pl.len().cast(pl.Int64)))
    ramp_end = add_months(first, RAMP_MONTHS)
    return (pl.DataFrame({"month": months}, schema={"month": pl.Date})
            .join(won, on="month", how="left")
            .with_columns(pl.col("won_amount").fill_null(0.0), pl.col("won_deals").fill_null(0))
            .with_columns(status=pl.when(pl.col("month") < ramp_end).then(pl.lit("ramp-up"))
                          .when(pl.col("month") == current).then(pl.lit("in progress"))
                          .otherwise(pl.lit("complete")))
            .select(list(schema)))


def complete_months(series: pl.DataFrame) -> pl.DataFrame:
    """The months a model learns from and is scored on: after the ramp-up, before the month in progress."""
    return series.filter(pl.col("status") == "complete")


def monthly_revenue(store: Store, actor: Actor, now: datetime, team_id: int | None = None) -> pl.DataFrame:
    """The monthly won-revenue series in the actor's scope (see revenue_series): what the forecast extends."""
    return revenue_series(read_inputs(store, actor, now, team_id).deals, now)


# ---------------------------------------------------------------- the revenue models


@dataclass(frozen=True)
class Candidate:
    """A way to forecast the monthly series: a baseline rule, or a statsmodels model on log(1 + revenue)."""

    name: str
    label: str
    family: str  # baseline | ets | sarimax
    spec: tuple[tuple[str, Any], ...] = ()
    seasonal: bool = False


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("naive", "Naive: last month again", "baseline"),
    Candidate("mean12", "Mean of the last 12 months", "baseline"),
    Candidate("ets_ann", "ETS(A,N,N): simple exponential smoothing", "ets", (("trend", None),)),
    Candidate("ets_aadn", "ETS(A,Ad,N): damped trend", "ets", (("trend", "add"), ("damped_trend", True))),
    Candidate("arima_ct", "ARIMA(1,0,0) with a linear trend", "sarimax", (("order", (1, 0, 0)), ("trend", "ct"))),
    Candidate("ets_ana", "ETS(A,N,A): seasonal", "ets", (("seasonal", "add"), ("seasonal_periods", 12)), True),
    Candidate("sarima_c", "SARIMA(1,0,0)(0,1,0)12 with a constant", "sarimax",
              (("order", (1, 0, 0)), ("seasonal_order", (0, 1, 0, 12)), ("trend", "c")), True),
)
BY_NAME = {c.name: c for c in CANDIDATES}
FALLBACK = "mean12"  # the transparent rule used before a backtest has a record (and when models fail)
PIPELINE, BLEND, SELECTED = "pipeline", "blend", "selected"
LABELS = {PIPELINE: "Pipeline: open deals × win chance × close date, and new deals",
          BLEND: "Blend of the revenue model and the pipeline",
          SELECTED: "Selected (out of time): at each month, the method best on the months before it"}


def label_of(name: str) -> str:
    return BY_NAME[name].label if name in BY_NAME else LABELS.get(name, name)


def usable_candidates(months: int, names: Sequence[str] | None = None) -> list[Candidate]:
    """The candidates a history of `months` complete months can fit (seasonal ones need SEASONAL_MONTHS)."""
    pool = [BY_NAME[n] for n in names] if names is not None else list(CANDIDATES)
    return [c for c in pool if not c.seasonal or months >= SEASONAL_MONTHS]


def _index(n: int) -> pd.PeriodIndex:
    return pd.period_range("2000-01", periods=n, freq="M")


def _fit(c: Candidate, y: np.ndarray) -> Any:
    spec = dict(c.spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short series; a bad fit shows as nan below
        if c.family == "ets":
            return ETSModel(pd.Series(y, index=_index(len(y))), error="add", **spec).fit(disp=False)
        return SARIMAX(y, concentrate_scale=True, **spec).fit(disp=False)  # one parameter fewer to search: faster


def predict_log(c: Candidate, y: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of log(1 + revenue) 1..steps months after the history y (log(1 + revenue)).
    nan when the model cannot be fitted. Every fit starts afresh, in the backtest as for the forecast shown
    (starting from the month before's parameters is faster, but lands ETS in other optima)."""
    nan = np.full(steps, np.nan)
    h = np.arange(1, steps + 1)
    if c.name == "naive":
        d = np.diff(y[-13:])
        sd = float(np.std(d, ddof=1)) if len(d) > 1 else np.nan
        return np.full(steps, y[-1]), sd * np.sqrt(h)
    if c.name == "mean12":
        w = y[-12:]
        sd = float(np.std(w, ddof=1)) * math.sqrt(1 + 1 / len(w)) if len(w) > 1 else np.nan
        return np.full(steps, float(w.mean())), np.full(steps, sd)
    try:
        res = _fit(c, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if c.family == "ets":
                p = res.get_prediction(start=len(y), end=len(y) + steps - 1)
                mean, var = np.asarray(p.predicted_mean, float), np.asarray(p.forecast_variance, float)
            else:
                f = res.get_forecast(steps)
                mean, var = np.asarray(f.predicted_mean, float), np.asarray(f.var_pred_mean, float).reshape(-1)
    except (np.linalg.LinAlgError, ValueError, IndexError):
        return nan, nan
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(var)) and np.all(var >= 0)):
        return nan, nan
    # a fit that explodes out of the data's range (an unstable trend on a short series) is no forecast
    if np.any(np.abs(mean - y.mean()) > 10 * max(float(np.std(y)), 1e-9) + 5):
        return nan, nan
    return mean, np.sqrt(var)


def quantile_columns(mean: np.ndarray, sd: np.ndarray) -> dict[str, np.ndarray]:
    """forecast (the median), lo80, hi80, lo95, hi95 in revenue from a normal on log(1 + revenue)."""
    return {k: np.maximum(np.expm1(mean + z * sd), 0.0) for k, z in Z.items()}


def simulate_paths(c: Candidate, y: np.ndarray, steps: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws, steps) revenue paths after the history y (log(1 + revenue)): for sums over months (quarters)."""
    if c.family == "baseline":
        mean, sd = predict_log(c, y, steps)
        sd1 = float(np.nan_to_num(sd[0]))
        z = rng.standard_normal((draws, steps))
        logs = mean[0] + (np.cumsum(z, axis=1) * sd1 if c.name == "naive" else z * sd1)
        return np.maximum(np.expm1(logs), 0.0)
    res = _fit(c, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sims = res.simulate(steps, anchor="end", repetitions=draws, rng=rng)
    paths = np.asarray(sims, float).reshape(steps, draws).T
    return np.maximum(np.expm1(paths), 0.0)


# ---------------------------------------------------------------- the backtest (pure, on a series)


def _series_arrays(series: pl.DataFrame | Sequence[float]) -> tuple[list[date], np.ndarray]:
    if isinstance(series, pl.DataFrame):
        return series["month"].to_list(), series["won_amount"].cast(pl.Float64).to_numpy()
    y = np.asarray(series, float)
    return [add_months(date(2000, 1, 1), i) for i in range(len(y))], y


_PRED_SCHEMA = {"model": pl.String, "origin": pl.Date, "month": pl.Date, "horizon": pl.Int64, "actual": pl.Float64,
                "forecast": pl.Float64, "lo80": pl.Float64, "hi80": pl.Float64, "lo95": pl.Float64,
                "hi95": pl.Float64}


def first_origin(n: int, min_train: int = MIN_TRAIN_MONTHS) -> int:
    """Where the backtest starts in a series of n complete months: after SEASONAL_MONTHS when that still leaves
    6 backtest months (so seasonal candidates compete on every month), else after min_train."""
    return SEASONAL_MONTHS if n >= SEASONAL_MONTHS + 6 else min_train


def backtest(series: pl.DataFrame | Sequence[float], horizons: Sequence[int] = HORIZONS,
             min_train: int = MIN_TRAIN_MONTHS, candidates: Sequence[str] | None = None) -> dict[str, Any]:
    """Rolling-origin backtest of the revenue candidates on complete months (a frame with month and won_amount, or
    plain numbers): each month from the first origin on is forecast from the months before it, 1..max(horizons)
    ahead. {"status", "note", "predictions" (model, origin, month, horizon, actual, forecast, lo80, hi80, lo95,
    hi95), "metrics" (see `metrics`), "chosen", "baseline", "beats_baseline", "months", "origins"}."""
    months, y = _series_arrays(series)
    n, steps = len(y), max(horizons)
    start = first_origin(n, min_train)
    pool = usable_candidates(start, candidates)
    if n - start < MIN_BACKTEST_MONTHS:
        return _not_enough(f"{NOT_ENOUGH}: {n} complete months; a backtest needs {start + MIN_BACKTEST_MONTHS} "
                           f"({start} to learn from, {MIN_BACKTEST_MONTHS} to score)", n - start)
    logs = np.log1p(np.maximum(y, 0.0))
    rows: dict[str, list[Any]] = {k: [] for k in _PRED_SCHEMA}
    for i in range(start, n):
        for c in pool:
            mean, sd = predict_log(c, logs[:i], steps)
            q = quantile_columns(mean, sd)
            for h in horizons:
                j = i + h - 1
                if j >= n or not np.isfinite(mean[h - 1]):
                    continue
                for k, v in (("model", c.name), ("origin", months[i]), ("month", months[j]), ("horizon", h),
                             ("actual", float(y[j]))):
                    rows[k].append(v)
                for k in Z:
                    rows[k].append(float(q[k][h - 1]))
    raw = pl.DataFrame(rows, schema=_PRED_SCHEMA)
    result = summarise(calibrate(raw), [c.name for c in pool], [c.name for c in pool if c.family == "baseline"])
    return {**result, "factors": interval_factors(raw)}


def _not_enough(note: str, months: int) -> dict[str, Any]:
    return {"status": NOT_ENOUGH, "note": note, "predictions": pl.DataFrame(schema=_PRED_SCHEMA),
            "metrics": metrics(pl.DataFrame(schema=_PRED_SCHEMA)), "chosen": None, "baseline": None,
            "beats_baseline": None, "months": max(months, 0), "origins": None}


def summarise(predictions: pl.DataFrame, names: Sequence[str], baselines: Sequence[str]) -> dict[str, Any]:
    """Metrics of every method, the out-of-time selection among `names`, and the choice (see backtest)."""
    complete = _complete_methods(predictions, names)
    if not complete:
        return _not_enough(f"{NOT_ENOUGH}: no method could forecast every backtest month", 0)
    with_selected = pl.concat([predictions, selected_predictions(predictions, complete)])
    table = metrics(with_selected)
    one = table.filter(pl.col("horizon") == 1)
    mape = dict(zip(one["model"], one["mape"], strict=True))
    chosen = min(complete, key=lambda m: (_nan_last(mape.get(m)), list(names).index(m)))
    bases = [b for b in baselines if b in complete]
    baseline = min(bases, key=lambda m: _nan_last(mape.get(m))) if bases else None
    beats = None if baseline is None else bool(_nan_last(mape.get(chosen)) < _nan_last(mape.get(baseline)))
    months = predictions.filter(pl.col("horizon") == 1)["origin"].unique().sort()
    return {"status": "ok", "note": _backtest_note(chosen, baseline, beats, len(months)),
            "predictions": with_selected, "metrics": table, "chosen": chosen, "baseline": baseline,
            "beats_baseline": beats, "months": len(months),
            "origins": (months[0], months[-1]) if len(months) else None}


def _nan_last(x: float | None) -> float:
    return math.inf if x is None or not math.isfinite(x) else x


def _complete_methods(predictions: pl.DataFrame, names: Sequence[str]) -> list[str]:
    """The methods with a one-month forecast for every backtest origin: only they compete."""
    one = predictions.filter(pl.col("horizon") == 1)
    origins = one["origin"].n_unique()
    counts = dict(one.group_by("model").agg(pl.col("origin").n_unique()).iter_rows())
    return [m for m in names if counts.get(m, 0) == origins and origins > 0]


def _backtest_note(chosen: str, baseline: str | None, beats: bool | None, months: int) -> str:
    text = f"Chosen by a rolling-origin backtest over {months} months: {label_of(chosen)}."
    if baseline and beats is False:
        text += f" No model beat the baseline ({label_of(baseline)}), so the baseline is used."
    elif baseline and chosen != baseline:
        text += f" It beats the best baseline ({label_of(baseline)})."
    return text + (" The choice was made on these same months; the 'selected (out of time)' row scores choosing "
                   "only from the months before each one.")


def metrics(predictions: pl.DataFrame) -> pl.DataFrame:
    """Per method and horizon: months scored, MAPE, the share within ±5% and ±10%, 80% and 95% interval
    coverage, the median 80% interval width (relative to the forecast) and the median signed error (bias).
    A month with no revenue counts for coverage but not for the percentage errors."""
    actual = pl.col("actual")
    ape = pl.when(actual > 0).then((pl.col("forecast") - actual).abs() / actual)
    signed = pl.when(actual > 0).then((pl.col("forecast") - actual) / actual)
    reach = attainable(predictions)
    return (predictions.with_columns(_reach5=pl.Series(reach[0.05]), _reach10=pl.Series(reach[0.10]))
            .group_by("model", "horizon")
            .agg(months=pl.len().cast(pl.Int64), mape=ape.mean(),
                 within_5pct=(ape <= 0.05).mean(), within_10pct=(ape <= 0.10).mean(),
                 attainable_5pct=pl.col("_reach5").filter(actual > 0).mean(),
                 attainable_10pct=pl.col("_reach10").filter(actual > 0).mean(),
                 coverage_80=((actual >= pl.col("lo80")) & (actual <= pl.col("hi80"))).mean(),
                 coverage_95=((actual >= pl.col("lo95")) & (actual <= pl.col("hi95"))).mean(),
                 width_80=pl.when(pl.col("forecast") > 0)
                 .then((pl.col("hi80") - pl.col("lo80")) / pl.col("forecast")).median(),
                 bias=signed.median())
            .with_columns(pl.col(c).cast(pl.Float64) for c in ("mape", "within_5pct", "within_10pct", "coverage_80",
                                                                "coverage_95", "width_80", "bias", "attainable_5pct",
                                                                "attainable_10pct"))
            .with_columns(label=pl.col("model").replace({**{c.name: c.label for c in CANDIDATES}, **LABELS}))
            .sort("horizon", "mape", nulls_last=True))


def attainable(predictions: pl.DataFrame, margins: Sequence[float] = (0.05, 0.10)) -> dict[float, np.ndarray]:
    """Per prediction row, the chance the actual lands within each margin of the forecast if the method's own
    distribution were exactly right (a lognormal through its median and 80% interval): the share of months within
    ±5% or ±10% that even a perfect forecast of this spread would reach. A month decided by a few large deals
    cannot be forecast within ±5%, whatever the method; this says so in the method's own terms."""
    if predictions.is_empty():
        return {m: np.zeros(0) for m in margins}
    lo, hi = (np.log(np.maximum(predictions[k].to_numpy().astype(float), 1e-9)) for k in ("lo80", "hi80"))
    sd = (hi - lo) / (2 * Z["hi80"])
    out = {}
    for m in margins:
        up, down = math.log1p(m), math.log1p(-m)
        with np.errstate(divide="ignore", invalid="ignore"):
            chance = norm.cdf(up / sd) - norm.cdf(down / sd)
        out[m] = np.where(sd > 0, chance, 1.0)
    return out


def selected_predictions(predictions: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """The out-of-time selection: at each origin, the predictions of the method among `names` with the lowest
    one-month MAPE on the origins before it (FALLBACK, or the first name, until MIN_PRIOR_MONTHS have passed)."""
    one = predictions.filter((pl.col("horizon") == 1) & pl.col("model").is_in(list(names)))
    origins = one["origin"].unique().sort().to_list()
    start = FALLBACK if FALLBACK in names else names[0]
    parts = []
    for k, origin in enumerate(origins):
        best = start
        if k >= MIN_PRIOR_MONTHS:
            prior = metrics(one.filter(pl.col("origin") < origin))
            scores = dict(zip(prior["model"], prior["mape"], strict=True))
            best = min(names, key=lambda m: (_nan_last(scores.get(m)), list(names).index(m)))
        parts.append(predictions.filter((pl.col("origin") == origin) & (pl.col("model") == best)))
    if not parts:
        return pl.DataFrame(schema=_PRED_SCHEMA)
    return pl.concat(parts).with_columns(model=pl.lit(SELECTED))


# ---------------------------------------------------------------- the pipeline: snapshots of open deals


def as_of(inputs: Inputs, t: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The deals and stage changes as they stood at t: deals created before it, an outcome only if it came before."""
    ended = pl.col("closed_at").is_not_null() & (pl.col("closed_at") < t)
    deals = (inputs.deals.filter(pl.col("created_at") < t)
             .with_columns(closed_at=pl.when(ended).then(pl.col("closed_at")),
                           won=pl.when(ended).then(pl.col("won")).otherwise(False)))
    return deals, inputs.changes.filter(pl.col("changed_at") < t)


def snapshot_times(t: datetime, first: datetime) -> list[datetime]:
    """The same point of each earlier month as t is of its own (its start, for a backtest origin), back to first."""
    start = month_start(t)
    offset = t - _midnight(start)
    out, k = [], 1
    while True:
        m = add_months(start, -k)
        s = min(_midnight(m) + offset, _midnight(add_months(m, 1)) - timedelta(seconds=1))
        if s < first:
            return out
        out.append(s)
        k += 1


def band_of(age_days: pl.Expr) -> pl.Expr:
    """The age band (0..3) of a deal's age in days: AGE_BANDS."""
    expr = pl.lit(0, pl.Int32)
    for edge in AGE_BANDS:
        expr = expr + (age_days >= edge).cast(pl.Int32)
    return expr


def snapshots(deals: pl.DataFrame, changes: pl.DataFrame, times: Sequence[datetime], known_at: datetime,
              use_stage: bool) -> pl.DataFrame:
    """Every deal open at each of `times` (deals and changes as known at known_at, see as_of): id, owner_id,
    team_id, t, amount, interest_level, channel, stage (at t; "any" without a stage history), band, log_age,
    log_amount, closed (it ended before known_at), won, and days: to its close, or to known_at while open."""
    if not times or deals.is_empty():
        return pl.DataFrame()
    stamps = pl.DataFrame({"t": list(times)}, schema={"t": pl.Datetime("us")})
    rows = (deals.with_columns(pl.col("created_at").cast(pl.Datetime("us")), pl.col("closed_at").cast(pl.Datetime("us")))
            .join(stamps, how="cross")
            .filter((pl.col("created_at") < pl.col("t"))
                    & (pl.col("closed_at").is_null() | (pl.col("closed_at") >= pl.col("t")))))
    if use_stage and not changes.is_empty():
        history = changes.select("id", pl.col("changed_at").cast(pl.Datetime("us")), "stage").sort("changed_at")
        rows = rows.drop("stage").sort("t").join_asof(history, left_on="t", right_on="changed_at", by="id",
                                                      strategy="backward", check_sortedness=False).drop("changed_at")
        stage = pl.col("stage").fill_null("discovery")
        rows = rows.with_columns(stage=pl.when(stage.is_in(list(OPEN_STAGES))).then(stage)
                                 .otherwise(pl.lit("negotiation")))
    else:
        rows = rows.with_columns(stage=pl.lit("any"))
    age = (pl.col("t") - pl.col("created_at")).dt.total_seconds() / 86_400
    end = pl.coalesce(pl.col("closed_at"), pl.lit(known_at, pl.Datetime("us")))
    return rows.with_columns(
        band=band_of(age).cast(pl.String), log_age=age.log1p(), log_amount=pl.col("amount").log1p(),
        closed=pl.col("closed_at").is_not_null(),
        days=((end - pl.col("t")).dt.total_seconds() / 86_400).clip(lower_bound=1e-3),
    ).select("id", "owner_id", "team_id", "t", "amount", "interest_level", "channel", "stage", "band", "log_age",
             "log_amount", "closed", "won", "days")


# ---------------------------------------------------------------- the win probability


CATEGORIES = ("stage", "band", "interest_level", "channel")
NUMBERS = ("log_age", "log_amount")


@dataclass
class WinModel:
    """Each open deal's chance of being won: a calibrated logistic regression, or the stage-and-age rates."""

    method: str  # model | rule
    estimator: Any
    rates: dict[tuple[str, str], float]
    overall: float
    card: dict[str, Any]


def rule_rates(rows: pl.DataFrame) -> tuple[dict[tuple[str, str], float], float]:
    """The transparent rule: the win rate of labelled rows by stage and age band, shrunk toward the overall rate
    by SHRINK pseudo-deals."""
    overall = float(rows["won"].mean()) if rows.height else 0.5
    grouped = rows.group_by("stage", "band").agg(wins=pl.col("won").sum(), n=pl.len())
    rates = {(s, b): (w + SHRINK * overall) / (n + SHRINK) for s, b, w, n in grouped.iter_rows()}
    return rates, overall


def _estimator(n: int) -> CalibratedClassifierCV:
    columns = ColumnTransformer([
        ("levels", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=MIN_GROUP), list(CATEGORIES)),
        ("numbers", StandardScaler(), list(NUMBERS)),
    ])
    model = make_pipeline(columns, LogisticRegression(solver="liblinear"))  # the fastest on a few thousand rows
    # one model on every row, calibrated on its 3-fold cross-validated predictions
    return CalibratedClassifierCV(model, method="isotonic" if n >= 1000 else "sigmoid", cv=3, ensemble=False)


def _design(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select(*CATEGORIES, *NUMBERS)


def fit_win_model(rows: pl.DataFrame, check: bool = True) -> WinModel:
    """Fit on labelled snapshot rows (closed, won); with `check`, first check it out of time against the rule
    (earliest 75% of snapshot times to train, the rest to score) and use the rule if it does not beat it."""
    labelled = rows.filter(pl.col("closed")) if rows.height else rows
    rates, overall = rule_rates(labelled) if labelled.height else ({}, 0.5)
    card: dict[str, Any] = {"rows": labelled.height, "deals": labelled["id"].n_unique() if labelled.height else 0,
                            "from": _iso(labelled["t"].min()) if labelled.height else None,
                            "to": _iso(labelled["t"].max()) if labelled.height else None,
                            "baseline": "win rate by stage and age band", "overall_rate": overall}
    wins = int(labelled["won"].sum()) if labelled.height else 0
    if labelled.height < MIN_LABELLED or wins in (0, labelled.height):
        card.update(method="rule", status=NOT_ENOUGH, note=(
            f"{NOT_ENOUGH} for a model: {labelled.height} labelled deal snapshots ({wins} won); it takes "
            f"{MIN_LABELLED} with wins and losses. The win rate by stage and age band is used."))
        return WinModel("rule", None, rates, overall, card)
    if check:
        card.update(_out_of_time(labelled))
        if not card.get("beats_baseline"):
            card.update(method="rule", status="ok", note=card.get("note") or (
                "The model does not beat the stage-and-age win rates out of time; the rates are used."))
            return WinModel("rule", None, rates, overall, card)
    estimator = _estimator(labelled.height).fit(_design(labelled), labelled["won"].to_numpy())
    card.update(method="model", status="ok", calibration="isotonic" if labelled.height >= 1000 else "Platt")
    card.setdefault("note", "Calibrated logistic regression on stage, age band, amount, interest level and channel.")
    return WinModel("model", estimator, rates, overall, card)


def _out_of_time(labelled: pl.DataFrame) -> dict[str, Any]:
    times = labelled["t"].sort()
    split = times[int(0.75 * (len(times) - 1))]
    train, test = labelled.filter(pl.col("t") < split), labelled.filter(pl.col("t") >= split)
    y_test = test["won"].to_numpy()
    if train.height < MIN_LABELLED or train["won"].n_unique() < 2 or test["won"].n_unique() < 2:
        return {"beats_baseline": False, "test_rows": test.height,
                "note": f"{NOT_ENOUGH} to check the model out of time; the stage-and-age win rates are used."}
    estimator = _estimator(train.height).fit(_design(train), train["won"].to_numpy())
    p_model = estimator.predict_proba(_design(test))[:, 1]
    rates, overall = rule_rates(train)
    p_rule = _rule_probability(rates, overall, test)
    brier, base = float(brier_score_loss(y_test, p_model)), float(brier_score_loss(y_test, p_rule))
    return {"train_rows": train.height, "test_rows": test.height, "test_from": _iso(split),
            "auc": float(roc_auc_score(y_test, p_model)), "baseline_auc": float(roc_auc_score(y_test, p_rule)),
            "brier": brier, "baseline_brier": base, "beats_baseline": brier < base}


def _rule_probability(rates: dict[tuple[str, str], float], overall: float, rows: pl.DataFrame) -> np.ndarray:
    keys = zip(rows["stage"].to_list(), rows["band"].to_list(), strict=True)
    return np.array([rates.get(k, overall) for k in keys], dtype=float)


def win_probability(model: WinModel, rows: pl.DataFrame) -> np.ndarray:
    if rows.is_empty():
        return np.zeros(0)
    if model.method == "model":
        return model.estimator.predict_proba(_design(rows))[:, 1]
    return _rule_probability(model.rates, model.overall, rows)


def _iso(t: Any) -> str | None:
    return None if t is None else t.isoformat()


# ---------------------------------------------------------------- the close date


Curve = tuple[np.ndarray, np.ndarray]  # days, and the cumulative share of deals closed by then
ANY = "*"
MIN_OUTCOME = 10  # wins and losses a group's curves need (besides MIN_GROUP closes in all)


@dataclass
class CloseModel:
    """The days to close, for a deal that will be won and for one that will be lost (winners and losers move at
    different speeds through the stages), by stage, age band and size band (bigger deals take longer). Each
    group's curves are cumulative incidence curves (Aalen-Johansen: deals still open count as censored), made
    conditional on the outcome; a group with fewer than MIN_GROUP closes, or MIN_OUTCOME of either outcome, uses
    the next coarser one. New deals ("new") have their own curves, from creation, by size band."""

    curves: dict[tuple[str, str, str], tuple[Curve, Curve]]  # key -> (days if won, days if lost)
    size_edges: np.ndarray  # amounts splitting the size bands (SIZE_QUANTILES of the deals learnt from)
    card: dict[str, Any]

    def size_of(self, amounts: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.size_edges, amounts, side="right").astype(str)

    def key(self, stage: str, band: str, size: str) -> tuple[str, str, str]:
        for k in ((stage, band, size), (stage, ANY, size), (ANY, band, size), (ANY, ANY, size), (stage, band, ANY),
                  (ANY, band, ANY)):
            if k in self.curves:
                return k
        return (ANY, ANY, ANY)

    def new_key(self, size: str) -> tuple[str, str, str]:
        """A new deal's curves: its size band's, else the nearest smaller band's that has enough closes (the biggest
        deals are the slowest: everyone's curve would close them too soon), else everyone's."""
        for band in range(int(size), -1, -1):
            if ("new", ANY, str(band)) in self.curves:
                return ("new", ANY, str(band))
        return ("new", ANY, ANY)


NEVER: Curve = (np.array([np.inf]), np.array([0.0]))


def outcome_curves(days: np.ndarray, status: np.ndarray) -> tuple[Curve, Curve]:
    """(won, lost) curves of the days to close given the outcome, from days and status (0 still open, 1 won, 2
    lost). The share still open at the last close is split between the outcomes as the closes were, and a draw in
    it closes after anything the history has seen (inf)."""
    if not (status > 0).any():
        return NEVER, NEVER
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its standard errors divide by zero at the last time; they are not used
        ci = CumIncidenceRight(days, status.astype(int))
    times = np.asarray(ci.times, float)
    won = np.asarray(ci.cinc[0], float) if (status == 1).any() else np.zeros(len(times))
    lost = np.asarray(ci.cinc[1], float) if len(ci.cinc) > 1 and (status == 2).any() else np.zeros(len(times))
    if (status == 2).any() and not (status == 1).any():
        won, lost = np.zeros(len(times)), np.asarray(ci.cinc[0], float)
    still_open = max(1.0 - won[-1] - lost[-1], 0.0)
    closed = won[-1] + lost[-1]

    def conditional(cinc: np.ndarray) -> Curve:
        total = cinc[-1] + still_open * cinc[-1] / closed if closed > 0 else 0.0
        return (times, cinc / total) if total > 0 else NEVER

    return conditional(won), conditional(lost)


def _status(rows: pl.DataFrame) -> np.ndarray:
    closed, won = rows["closed"].to_numpy(), rows["won"].to_numpy()
    return np.where(closed, np.where(won, 1, 2), 0)


def _curves(rows: pl.DataFrame, groupings: Sequence[tuple[str, str, str]]) \
        -> dict[tuple[str, str, str], tuple[Curve, Curve]]:
    """Each grouping's curves (column names, or ANY for a level pooled) where the group has enough closes."""
    out = {}
    for grouping in groupings:
        by = [c for c in grouping if c != ANY]
        for keys, part in (rows.group_by(by) if by else [((), rows)]):
            status = _status(part)
            enough = (status > 0).sum() >= MIN_GROUP and min((status == 1).sum(), (status == 2).sum()) >= MIN_OUTCOME
            if enough or not by:
                values = dict(zip(by, (str(k) for k in keys), strict=True))
                out[tuple(values.get(c, ANY) for c in grouping)] = outcome_curves(part["days"].to_numpy(), status)
    return out


def fit_close_model(rows: pl.DataFrame, created: pl.DataFrame) -> CloseModel:
    """Curves from snapshot rows (days, closed, won; stage, band, amount) and from the deals' creation (`created`:
    days, closed, won, amount)."""
    amounts = rows["amount"].to_numpy() if rows.height else created["amount"].to_numpy() if created.height else \
        np.zeros(0)
    edges = np.quantile(amounts, SIZE_QUANTILES) if len(amounts) else np.zeros(0)
    model = CloseModel({}, edges, {})
    if rows.height:
        staged = rows.with_columns(size=pl.Series(model.size_of(rows["amount"].to_numpy())))
        model.curves.update(_curves(staged, [(ANY, ANY, ANY), (ANY, "band", ANY), (ANY, ANY, "size"),
                                             (ANY, "band", "size")]))
        if staged["stage"][0] != "any":
            model.curves.update(_curves(staged, [("stage", "band", ANY), ("stage", ANY, "size"),
                                                 ("stage", "band", "size")]))
    if created.height:
        fresh = created.with_columns(size=pl.Series(model.size_of(created["amount"].to_numpy())), stage=pl.lit("new"))
        model.curves.update(_curves(fresh, [("stage", ANY, ANY), ("stage", ANY, "size")]))
    model.card = {"curves": len(model.curves), "rows": rows.height, "size_edges": [float(x) for x in edges],
                  "median_days_won": {"/".join(k): _median(v[0]) for k, v in sorted(model.curves.items())},
                  "median_days_lost": {"/".join(k): _median(v[1]) for k, v in sorted(model.curves.items())},
                  "method": "cumulative incidence of won and lost closes by stage, age band and size band (open "
                            "deals censored)"}
    return model


def _median(curve: tuple[np.ndarray, np.ndarray]) -> float | None:
    days, cdf = curve
    i = int(np.searchsorted(cdf, 0.5, side="left"))
    return float(days[i]) if i < len(days) and math.isfinite(days[i]) else None


def sample_days(curve: tuple[np.ndarray, np.ndarray], u: np.ndarray) -> np.ndarray:
    """Days to close for uniform draws u (inverse of the curve); inf beyond what the history has seen close."""
    days, cdf = curve
    i = np.searchsorted(cdf, u, side="left")
    return np.where(i < len(days), days[np.minimum(i, len(days) - 1)], np.inf).astype(np.float32)


# ---------------------------------------------------------------- the simulation engine


@dataclass
class Engine:
    """The pipeline simulation at one moment, drawn once: a scenario is arithmetic on these arrays."""

    origin: datetime
    months: list[date]  # the horizon's month starts, the origin's month first
    edges: np.ndarray  # (H + 1,) days from the origin to each month's start, then to the last month's end
    draws: int
    rep_ids: np.ndarray  # (R,) owner ids (-1: no owner)
    rep_team: np.ndarray  # (R,) team ids (-1: none)
    open_deals: pl.DataFrame  # id, owner_id, team_id, stage, amount, win_probability
    open_rep: np.ndarray  # (n,) index into rep_ids
    open_amount: np.ndarray
    open_p: np.ndarray
    u_win: np.ndarray  # (n, D)
    days_won: np.ndarray  # (n, D) days from the origin to the close, if the deal is won
    days_lost: np.ndarray  # (n, D) and if it is lost
    rep_rate: np.ndarray  # (R,) new deals a day
    pool_rep: np.ndarray  # the last year's deals: what a new deal looks like
    pool_amount: np.ndarray
    pool_p: np.ndarray
    pool_size: np.ndarray  # their size band
    month_factor: np.ndarray  # (H,) new deals created in each month relative to the last NEW_DEAL_DAYS' rate
    pair_arrival: np.ndarray  # (size bands, PAIRS) days after the origin a new deal is created
    pair_days: np.ndarray  # (size bands, PAIRS) and the days it takes to close, if won
    u_none: np.ndarray  # (D, R, H) draws for "no new deal won"
    z_new: np.ndarray  # (D, R, H) normal draws for the new deals' amount
    won_month: np.ndarray  # (R,) won in the origin's month before the origin
    won_quarter: np.ndarray  # (R,) won in the origin's quarter before the origin
    win_card: dict[str, Any] = field(default_factory=dict)
    close_card: dict[str, Any] = field(default_factory=dict)
    seed: int = SEED


@dataclass(frozen=True)
class Levers:
    win_rate: float = 1.0
    deal_size: float = 1.0
    cycle_length: float = 1.0
    lead_volume: float = 1.0
    headcount: float = 1.0


def new_deal_win_rates(recent: pl.DataFrame, size: np.ndarray, bands: int) -> np.ndarray:
    """(bands,) the chance a new deal of each size band is won: the win rate of the closed deals of that size
    created in the last RECENT_DAYS, shrunk toward their overall rate by SHRINK pseudo-deals."""
    closed = recent["closed_at"].is_not_null().to_numpy()
    won = recent["won"].to_numpy() & closed
    overall = won.sum() / closed.sum() if closed.any() else 0.5
    n = np.bincount(size[closed], minlength=bands)
    w = np.bincount(size[won], minlength=bands)
    return (w + SHRINK * overall) / (n + SHRINK)


def seasonal_factors(deals: pl.DataFrame, origin: datetime, edges: np.ndarray) -> np.ndarray:
    """(H,) how many deals a day were created a year before each horizon month, relative to the NEW_DEAL_DAYS before
    the origin a year earlier (1 without a year and a quarter of history): the seasonality of new deals."""
    year_ago = origin - timedelta(days=365)
    if deals.is_empty() or deals["created_at"].min() > year_ago - timedelta(days=NEW_DEAL_DAYS):
        return np.ones(len(edges) - 1)
    created = deals["created_at"]
    base = ((created >= year_ago - timedelta(days=NEW_DEAL_DAYS)) & (created < year_ago)).sum() / NEW_DEAL_DAYS
    out = []
    for k in range(len(edges) - 1):
        lo, hi = origin + timedelta(days=float(edges[k])), origin + timedelta(days=float(edges[k + 1]))
        n = ((created >= lo - timedelta(days=365)) & (created < hi - timedelta(days=365))).sum()
        out.append(n / max((hi - lo).total_seconds() / 86_400, 1e-9) / base if base > 0 else 1.0)
    return np.asarray(out, float)


def _learnt(inputs: Inputs, origin: datetime, check: bool) -> tuple[WinModel, Any, pl.DataFrame]:
    """The win model, the close-date model and the last year's deals (new deals' win rates by size), learnt from
    the deals in `inputs` as known at the origin."""
    deals, changes = as_of(inputs, origin)
    first = deals["created_at"].min() if deals.height else origin
    rows = snapshots(deals, changes, snapshot_times(origin, first), origin, not changes.is_empty())
    train = rows.filter(pl.col("t") <= origin - timedelta(days=CENSOR_DAYS)) if rows.height else rows
    recent = deals.filter(pl.col("created_at") >= origin - timedelta(days=RECENT_DAYS))
    created = recent.select(
        days=((pl.coalesce(pl.col("closed_at"), pl.lit(origin, pl.Datetime("us"))) - pl.col("created_at"))
              .dt.total_seconds() / 86_400).clip(lower_bound=1e-3),
        closed=pl.col("closed_at").is_not_null(), won="won", amount="amount")
    return fit_win_model(train, check), fit_close_model(rows, created), recent


def build_engine(inputs: Inputs, origin: datetime, months_ahead: int, draws: int = DRAWS, seed: int = SEED,
                 check: bool = True, learn: Inputs | None = None) -> Engine:
    """The simulation of the months from the origin's to `months_ahead` after it, learnt from what was known at
    the origin (see the module docstring). `learn`: the deals the win and close-date models learn from, when
    wider than the ones simulated (a rep's or a team's book is simulated with what the whole company's deals
    teach, so that a rep's chance is the same in their own view and their manager's)."""
    deals, changes = as_of(inputs, origin)
    use_stage = not changes.is_empty()
    rng = np.random.default_rng(seed)
    win, close, learnt_recent = _learnt(learn or inputs, origin, check)
    recent = deals.filter(pl.col("created_at") >= origin - timedelta(days=RECENT_DAYS))

    months = [add_months(month_start(origin), k) for k in range(months_ahead + 1)]
    bounds = [_midnight(m) for m in months[1:]] + [_midnight(add_months(months[-1], 1))]
    edges = np.array([0.0] + [(b - origin).total_seconds() / 86_400 for b in bounds])

    open_rows = snapshots(deals, changes, [origin], origin, use_stage) if deals.height else pl.DataFrame()
    n = open_rows.height
    draws = max(1, min(draws, MAX_CELLS // max(n, 1)))
    owners = pl.concat([deals.select("owner_id", "team_id"), inputs.reps.select(
        pl.col("rep_id").alias("owner_id"), "team_id")]).with_columns(pl.col("owner_id").fill_null(-1),
                                                                     pl.col("team_id").fill_null(-1))
    owners = owners.unique("owner_id", keep="first").sort("owner_id")
    rep_ids, rep_team = owners["owner_id"].to_numpy(), owners["team_id"].to_numpy()
    index = {int(r): i for i, r in enumerate(rep_ids)}

    def rep_index(frame: pl.DataFrame) -> np.ndarray:
        return np.array([index[int(o)] for o in frame["owner_id"].fill_null(-1).to_list()], dtype=np.int64)

    p_open = win_probability(win, open_rows) if n else np.zeros(0)
    u_win = rng.random((n, draws), dtype=np.float32)
    days_won, days_lost = _close_days(close, open_rows, draws, rng)

    window = deals.filter(pl.col("created_at") >= origin - timedelta(days=NEW_DEAL_DAYS))
    rep_rate = np.bincount(rep_index(window), minlength=len(rep_ids)) / NEW_DEAL_DAYS if window.height else \
        np.zeros(len(rep_ids))
    pool = recent
    bands = len(close.size_edges) + 1
    pool_size = close.size_of(pool["amount"].to_numpy()).astype(np.int64) if pool.height else np.zeros(0, np.int64)
    learnt_size = close.size_of(learnt_recent["amount"].to_numpy()).astype(np.int64) if learnt_recent.height else \
        np.zeros(0, np.int64)
    pool_p = new_deal_win_rates(learnt_recent, learnt_size, bands)[pool_size] if pool.height and learnt_recent.height \
        else np.zeros(0)
    pair_days = np.stack([sample_days(close.curves.get(close.new_key(str(b)), (NEVER, NEVER))[0], rng.random(PAIRS))
                          for b in range(bands)]).astype(float)
    h = len(months)
    won = deals.filter(pl.col("won") & pl.col("closed_at").is_not_null())

    def won_since(t: datetime) -> np.ndarray:
        since = won.filter(pl.col("closed_at") >= t)
        return np.bincount(rep_index(since), weights=since["amount"].to_numpy(), minlength=len(rep_ids)) \
            if since.height else np.zeros(len(rep_ids))

    open_deals = (open_rows.select("id", "owner_id", "team_id", "stage", "amount")
                  .with_columns(win_probability=pl.Series(p_open, dtype=pl.Float64)) if n else
                  pl.DataFrame(schema={"id": pl.Int32, "owner_id": pl.Int32, "team_id": pl.Int32,
                                       "stage": pl.String, "amount": pl.Float64, "win_probability": pl.Float64}))
    return Engine(
        origin=origin, months=months, edges=edges, draws=draws, rep_ids=rep_ids, rep_team=rep_team,
        open_deals=open_deals, open_rep=rep_index(open_rows) if n else np.zeros(0, np.int64),
        open_amount=open_rows["amount"].to_numpy() if n else np.zeros(0), open_p=np.asarray(p_open, float),
        u_win=u_win, days_won=days_won, days_lost=days_lost, rep_rate=rep_rate.astype(float),
        pool_rep=rep_index(pool) if pool.height else np.zeros(0, np.int64),
        pool_amount=pool["amount"].to_numpy() if pool.height else np.zeros(0), pool_p=np.asarray(pool_p, float),
        pool_size=pool_size, pair_arrival=rng.uniform(0.0, float(edges[-1]), (bands, PAIRS)), pair_days=pair_days,
        month_factor=seasonal_factors(as_of(learn, origin)[0] if learn is not None else deals, origin, edges),
        u_none=rng.random((draws, len(rep_ids), h), dtype=np.float32),
        z_new=rng.standard_normal((draws, len(rep_ids), h), dtype=np.float32),
        won_month=won_since(_midnight(months[0])), won_quarter=won_since(_midnight(quarter_start(months[0]))),
        win_card=win.card, close_card=close.card, seed=seed,
    )


def _close_days(close: CloseModel, open_rows: pl.DataFrame, draws: int, rng: np.random.Generator) \
        -> tuple[np.ndarray, np.ndarray]:
    """(n, D) days to each open deal's close if it is won, and if it is lost, from its group's curves; the two
    share their uniform draws, so a deal's won and lost closes are alike when its group's curves are."""
    n = open_rows.height
    days_won = np.empty((n, draws), dtype=np.float32)
    days_lost = np.empty((n, draws), dtype=np.float32)
    if not n:
        return days_won, days_lost
    sizes = close.size_of(open_rows["amount"].to_numpy())
    keys = [close.key(s, b, z) for s, b, z in zip(open_rows["stage"].to_list(), open_rows["band"].to_list(), sizes,
                                                  strict=True)]
    u = rng.random((n, draws), dtype=np.float32)
    for key in set(keys):
        mask = np.array([k == key for k in keys])
        won_curve, lost_curve = close.curves[key]
        days_won[mask], days_lost[mask] = sample_days(won_curve, u[mask]), sample_days(lost_curve, u[mask])
    return days_won, days_lost


def simulate(e: Engine, levers: Levers = Levers()) -> tuple[np.ndarray, np.ndarray]:
    """(open, new): the revenue each draw closes per rep and month, (D, R, H) each, from the open deals and from
    deals still to be created. Headcount is applied where reps are summed (see totals)."""
    d, r, h = e.draws, len(e.rep_ids), len(e.months)
    open_part = np.zeros(d * r * h)
    if len(e.open_p):
        won = e.u_win < np.minimum(e.open_p * levers.win_rate, 1.0)[:, None]
        month = np.searchsorted(e.edges, e.days_won * levers.cycle_length, side="right") - 1
        ok = won & (month >= 0) & (month < h)
        deal, draw = np.nonzero(ok)
        cell = (draw * r + e.open_rep[deal]) * h + month[deal, draw]
        open_part = np.bincount(cell, weights=e.open_amount[deal] * levers.deal_size, minlength=d * r * h)
    return open_part.reshape(d, r, h), _new_deals(e, levers)


def _new_deals(e: Engine, levers: Levers) -> np.ndarray:
    """Each rep's won revenue from deals not yet created, per draw and month: a compound Poisson sum drawn with
    its exact chance of no win and its mean and variance (a lognormal for the rest)."""
    d, r, h = e.draws, len(e.rep_ids), len(e.months)
    if not len(e.pool_p) or not e.rep_rate.any():
        return np.zeros((d, r, h))
    close = e.pair_arrival + e.pair_days * levers.cycle_length
    created_in = np.clip(np.searchsorted(e.edges, e.pair_arrival, side="right") - 1, 0, h - 1)
    weight_in = e.month_factor[created_in]  # seasonality: more deals are created in some months
    share = np.stack([np.histogram(c, bins=e.edges, weights=w)[0]
                      for c, w in zip(close, weight_in, strict=True)]) / close.shape[1]  # (bands, H)
    pw = np.minimum(e.pool_p * levers.win_rate, 1.0)[:, None] * share[e.pool_size]  # (m, H): won, in month h
    a = (e.pool_amount * levers.deal_size)[:, None]
    count = np.bincount(e.pool_rep, minlength=r).astype(float)
    own = count >= MIN_POOL

    def per_rep(values: np.ndarray) -> np.ndarray:  # (m, H) -> (R, H): the rep's own, or everyone's
        mine = np.stack([np.bincount(e.pool_rep, weights=values[:, k], minlength=r) for k in range(h)], axis=1)
        return np.where(own[:, None], mine, values.sum(axis=0)[None, :])

    n = np.where(own, count, len(e.pool_p))[:, None]
    weight = np.maximum(per_rep(pw), 1e-12)
    m1, m2 = per_rep(pw * a) / weight, per_rep(pw * a * a) / weight
    lam = (e.rep_rate * float(e.edges[-1]) * levers.lead_volume)[:, None] * weight / n  # (R, H) won new deals
    mean, second = lam * m1, lam * m2 + (lam * m1) ** 2
    none = np.exp(-lam)
    some = np.maximum(1.0 - none, 1e-12)
    c_mean = np.maximum(mean / some, 1e-12)
    sigma2 = np.log1p(np.maximum(second / some - c_mean**2, 0.0) / c_mean**2)
    value = np.exp((np.log(c_mean) - sigma2 / 2)[None] + np.sqrt(sigma2)[None] * e.z_new)
    return np.where((e.u_none < none[None]) | (lam[None] <= 1e-9), 0.0, value)


def totals(e: Engine, open_part: np.ndarray, new_part: np.ndarray, levers: Levers = Levers(),
           reps: np.ndarray | None = None) -> np.ndarray:
    """(D, H) revenue per draw and month of the reps selected (a boolean mask over rep_ids; all when None), won
    before the origin in its month included. Headcount scales the new deals of a group of reps."""
    mask = np.ones(len(e.rep_ids), bool) if reps is None else reps
    out = open_part[:, mask].sum(axis=1) + levers.headcount * new_part[:, mask].sum(axis=1)
    out[:, 0] += e.won_month[mask].sum()
    return out


def _quantiles(draws: np.ndarray) -> dict[str, np.ndarray]:
    q = np.quantile(draws, list(LEVELS.values()), axis=0)
    return {**{k: q[i] for i, k in enumerate(LEVELS)}, "mean": draws.mean(axis=0)}


# ---------------------------------------------------------------- the pipeline backtest and the blend


def pipeline_backtest(inputs: Inputs, series: pl.DataFrame, origins: Sequence[date],
                      horizons: Sequence[int] = HORIZONS, draws: int = BACKTEST_DRAWS, seed: int = SEED,
                      check: bool = False) -> pl.DataFrame:
    """The pipeline forecast made at the start of each origin month from what was known then, scored against the
    complete months of `series`: prediction rows (model "pipeline"). Without `check`, the win model is used at
    every origin where it has enough rows (its out-of-time check against the rule is made for the forecast
    shown, not repeated at every origin)."""
    actual = dict(zip(series["month"].to_list(), series["won_amount"].to_list(), strict=True))
    rows: dict[str, list[Any]] = {k: [] for k in _PRED_SCHEMA}
    for origin in origins:
        engine = build_engine(inputs, _midnight(origin), max(horizons) - 1, draws, seed, check)
        q = _quantiles(totals(engine, *simulate(engine)))
        for hz in horizons:
            month = engine.months[hz - 1]
            if month not in actual:
                continue
            for k, v in (("model", PIPELINE), ("origin", origin), ("month", month), ("horizon", hz),
                         ("actual", float(actual[month]))):
                rows[k].append(v)
            for k in Z:
                rows[k].append(float(q[k][hz - 1]))
    return pl.DataFrame(rows, schema=_PRED_SCHEMA)


def combine(a: dict[str, np.ndarray], b: dict[str, np.ndarray], weight: float, rho: float = 1.0) \
        -> dict[str, np.ndarray]:
    """The blend of two forecasts' quantiles (LEVELS' keys; a: the revenue model's, b: the pipeline's), on
    log(1 + revenue): its median is weight × a's + (1 - weight) × b's, and each quantile's distance from it is the
    weighted average of theirs shrunk by the combined spread over the average spread, with rho the correlation of
    the two methods' errors (Bates and Granger): two forecasts that err differently make a surer blend. With
    rho = 1 it is the log-quantile average; with a weight of 0 or 1 it is one method exactly."""
    la, lb = ({k: np.log1p(np.maximum(np.asarray(q[k], float), 0.0)) for k in Z} for q in (a, b))
    z80 = Z["hi80"]
    sa, sb = (la["hi80"] - la["lo80"]) / (2 * z80), (lb["hi80"] - lb["lo80"]) / (2 * z80)
    average = weight * sa + (1 - weight) * sb
    combined = np.sqrt(np.maximum(weight**2 * sa**2 + (1 - weight) ** 2 * sb**2
                                  + 2 * weight * (1 - weight) * rho * sa * sb, 0.0))
    shrink = np.divide(combined, average, out=np.ones_like(average), where=average > 0)
    centre = weight * la["forecast"] + (1 - weight) * lb["forecast"]
    return {k: np.expm1(centre + shrink * (weight * (la[k] - la["forecast"]) + (1 - weight) * (lb[k] - lb["forecast"])))
            for k in Z}


def error_correlation(model: pl.DataFrame, pipeline: pl.DataFrame) -> float:
    """The correlation of the revenue model's and the pipeline's one-month errors on log(1 + revenue) over the
    backtest months, clipped to 0-1 (1, the cautious value, with fewer than MIN_BACKTEST_MONTHS months)."""
    j = model.filter(pl.col("horizon") == 1).join(pipeline.filter(pl.col("horizon") == 1),
                                                  on=["origin", "month", "horizon"], suffix="_p")
    if j.height < MIN_BACKTEST_MONTHS:
        return 1.0
    truth = np.log1p(j["actual"].to_numpy())
    ea, eb = np.log1p(j["forecast"].to_numpy()) - truth, np.log1p(j["forecast_p"].to_numpy()) - truth
    if ea.std() == 0 or eb.std() == 0:
        return 1.0
    return float(np.clip(np.corrcoef(ea, eb)[0, 1], 0.0, 1.0))


def _standard_errors(rows: pl.DataFrame) -> np.ndarray:
    """Each prediction's error on log(1 + revenue) in units of its own spread (the 80% interval's half-width over
    its z): an honest interval's errors have |e| ≤ 1.28 in 80% of months. NaN where it cannot be said."""
    f, a = np.log1p(rows["forecast"].to_numpy()), np.log1p(np.maximum(rows["actual"].to_numpy(), 0.0))
    sd = (np.log1p(rows["hi80"].to_numpy()) - np.log1p(rows["lo80"].to_numpy())) / (2 * Z["hi80"])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((sd > 0) & (rows["actual"].to_numpy() > 0), (a - f) / sd, np.nan)


def interval_factor(errors: np.ndarray) -> float:
    """How much wider (above 1) or narrower a method's intervals should be, from its standard errors (see
    _standard_errors): their root mean square, which is 1 for an honest method, pulled toward 1 as if
    CALIBRATION_PRIOR more months had been exactly right (a few months say little), within FACTOR_RANGE; 1 with
    fewer than MIN_PRIOR_MONTHS errors."""
    errors = errors[np.isfinite(errors)]
    if len(errors) < MIN_PRIOR_MONTHS:
        return 1.0
    n = len(errors)
    rms = float(np.sqrt(np.mean(errors**2)))
    if rms <= 0:
        return FACTOR_RANGE[0]
    return float(np.clip(np.exp(n / (n + CALIBRATION_PRIOR) * np.log(rms)), *FACTOR_RANGE))


def rescale(frame: pl.DataFrame, factors: np.ndarray | float, floor: np.ndarray | float = 0.0) -> pl.DataFrame:
    """The frame's quantiles (LEVELS' keys) moved away from or toward its median by `factors` on log(1 + revenue),
    never below `floor` (revenue already won)."""
    if frame.is_empty():
        return frame
    median = frame["forecast"].to_numpy()
    f = np.log1p(np.maximum(median, 0.0))
    k = np.broadcast_to(np.asarray(factors, float), f.shape)

    def moved(q: str) -> np.ndarray:
        x = np.maximum(np.expm1(f + k * (np.log1p(np.maximum(frame[q].to_numpy(), 0.0)) - f)), floor)
        return np.minimum(x, median) if q.startswith("lo") else np.maximum(x, median)  # exactly ordered still

    return frame.with_columns(pl.Series(q, moved(q), dtype=pl.Float64) for q in Z if q != "forecast")


def calibrate(predictions: pl.DataFrame) -> pl.DataFrame:
    """Each method's backtest intervals recalibrated out of time: at each origin, by the interval_factor of that
    method's (and horizon's) errors in the months already over by then. A method whose intervals were too narrow
    is widened, one whose were too wide narrowed, from its own record and never from the month being scored."""
    if predictions.is_empty():
        return predictions
    parts = []
    for _, rows in predictions.group_by("model", "horizon", maintain_order=True):
        rows = rows.sort("origin")
        errors, months = _standard_errors(rows), rows["month"].to_numpy()
        origins = rows["origin"].to_numpy()
        factors = np.array([interval_factor(errors[months < o]) for o in origins])
        parts.append(rescale(rows, factors))
    return pl.concat(parts).select(list(_PRED_SCHEMA))


def interval_factors(raw: pl.DataFrame) -> dict[str, dict[int, float]]:
    """The factor each method's intervals get in the forecast shown: interval_factor over all its backtest months,
    by horizon ({model: {horizon: factor}}), from the predictions before calibration."""
    out: dict[str, dict[int, float]] = {}
    for (model, horizon), rows in raw.group_by("model", "horizon"):
        out.setdefault(str(model), {})[int(horizon)] = interval_factor(_standard_errors(rows))
    return out


def _factors_for(factors: dict[str, Any] | None, model: str | None, n: int) -> np.ndarray:
    """(n,) factors for a forecast's months from now on: the one-month factor for now's month, the three-month one
    after it (stored runs keep horizons as text keys)."""
    by_h = {int(h): float(v) for h, v in ((factors or {}).get(model or "") or {}).items()}
    one, three = by_h.get(1, 1.0), by_h.get(max(HORIZONS), by_h.get(1, 1.0))
    return np.array([one] + [three] * max(n - 1, 0))[:n]


def blend_predictions(model: pl.DataFrame, pipeline: pl.DataFrame, weight: float, rho: float = 1.0) -> pl.DataFrame:
    """The blend (combine) of the revenue model's and the pipeline's predictions, month by month (model "blend")."""
    joined = model.join(pipeline, on=["origin", "month", "horizon"], suffix="_p")
    q = combine({k: joined[k].to_numpy() for k in Z}, {k: joined[f"{k}_p"].to_numpy() for k in Z}, weight, rho)
    return joined.select(pl.lit(BLEND).alias("model"), "origin", "month", "horizon", "actual") \
        .with_columns(pl.Series(k, q[k], dtype=pl.Float64) for k in Z).select(list(_PRED_SCHEMA))


def choose_weight(model: pl.DataFrame, pipeline: pl.DataFrame, rho: float = 1.0) -> float:
    """The blend weight of BLEND_WEIGHTS with the lowest one-month MAPE (ties: nearest to an even blend)."""
    best, score = 0.5, math.inf
    for w in sorted(BLEND_WEIGHTS, key=lambda w: abs(w - 0.5)):
        table = metrics(blend_predictions(model, pipeline, w, rho).filter(pl.col("horizon") == 1))
        mape = _nan_last(table["mape"][0]) if table.height else math.inf
        if mape < score - 1e-12:
            best, score = w, mape
    return best


def full_backtest(inputs: Inputs, now: datetime, horizons: Sequence[int] = HORIZONS,
                  candidates: Sequence[str] | None = None, draws: int = BACKTEST_DRAWS, seed: int = SEED) \
        -> dict[str, Any]:
    """The backtest of every method on the inputs' complete months: the revenue candidates, the pipeline and the
    blend of the best candidate with it. As `backtest`, plus "model" (the best revenue candidate), "weight" and "rho"
    (the correlation of the two methods' errors, see combine)."""
    series = complete_months(revenue_series(inputs.deals, now))
    ts = backtest(series, horizons, candidates=candidates)
    if ts["status"] != "ok":
        return {**ts, "model": None, "weight": None, "rho": None, "factors": {}}
    origins = ts["predictions"].filter(pl.col("model") == ts["chosen"])["origin"].unique().sort().to_list()
    raw_pipe = pipeline_backtest(inputs, series, origins, horizons, draws, seed)
    pipe = calibrate(raw_pipe)
    chosen_rows = ts["predictions"].filter(pl.col("model") == ts["chosen"])
    rho = error_correlation(chosen_rows, pipe)
    weight = choose_weight(chosen_rows, pipe, rho)
    raw_blend = blend_predictions(chosen_rows, pipe, weight, rho)  # of the two calibrated methods
    predictions = pl.concat([ts["predictions"].filter(pl.col("model") != SELECTED), pipe, calibrate(raw_blend)])
    names = [*[c for c in _complete_methods(ts["predictions"], [c.name for c in CANDIDATES])], PIPELINE, BLEND]
    result = summarise(predictions, names, [c.name for c in CANDIDATES if c.family == "baseline"])
    factors = {**ts.get("factors", {}), **interval_factors(pl.concat([raw_pipe, raw_blend]))}
    return {**result, "model": ts["chosen"], "weight": weight, "rho": rho, "factors": factors}


# ---------------------------------------------------------------- the forecasts


def _month_frame(months: Sequence[date], method: str, q: dict[str, np.ndarray], **extra: Any) -> pl.DataFrame:
    frame = pl.DataFrame({"method": method, "month": list(months), **{k: q[k] for k in ("forecast", "lo80", "hi80",
                                                                                         "lo95", "hi95")}},
                         schema_overrides={"month": pl.Date})
    return frame.with_columns(pl.lit(v).alias(k) if not isinstance(v, np.ndarray) else pl.Series(k, v)
                              for k, v in extra.items())


def _quarter_frame(months: Sequence[date], paths: np.ndarray, method: str, known: dict[date, float]) -> pl.DataFrame:
    """Quarters whose every month is known (complete: in `known`) or in `months` (forecast paths (D, H))."""
    rows = []
    for q in sorted({quarter_start(m) for m in months}):
        members = [add_months(q, k) for k in range(3)]
        if not all(m in known or m in months for m in members):
            continue
        idx = [months.index(m) for m in members if m in months]
        base = sum(known.get(m, 0.0) for m in members if m not in months)
        sums = base + paths[:, idx].sum(axis=1)
        qs = _quantiles(sums[:, None])
        rows.append({"method": method, "quarter": quarter_label(q), "start": q,
                     **{k: float(qs[k][0]) for k in ("forecast", "lo80", "hi80", "lo95", "hi95")},
                     "actual_so_far": base})
    return pl.DataFrame(rows, schema={"method": pl.String, "quarter": pl.String, "start": pl.Date,
                                      "forecast": pl.Float64, "lo80": pl.Float64, "hi80": pl.Float64,
                                      "lo95": pl.Float64, "hi95": pl.Float64, "actual_so_far": pl.Float64})


def _ts_forecast(series: pl.DataFrame, now: datetime, horizon_months: int, model: str, draws: int,
                 seed: int) -> dict[str, Any]:
    """The revenue model's months (now's first, then `horizon_months` more) and quarters; falls back to FALLBACK,
    then to nothing, when the model cannot be fitted. The month in progress is what it has won so far plus the
    model's month scaled to the time left in it (the model knows nothing of the deals already won)."""
    complete = complete_months(series)
    known = dict(zip(complete["month"].to_list(), complete["won_amount"].to_list(), strict=True))
    y = np.log1p(np.maximum(complete["won_amount"].to_numpy(), 0.0))
    current = month_start(now)
    last, end = complete["month"].max(), add_months(current, horizon_months)
    ahead = [add_months(last, k) for k in range(1, 1 + (end.year - last.year) * 12 + end.month - last.month)]
    shown = [m for m in ahead if m >= current]
    so_far = series.filter(pl.col("month") == current)["won_amount"].sum()
    left = (_midnight(add_months(current, 1)) - now) / (_midnight(add_months(current, 1)) - _midnight(current))
    for name in dict.fromkeys([model, FALLBACK]):
        mean, sd = predict_log(BY_NAME[name], y, len(ahead))
        if np.all(np.isfinite(mean)) and np.all(np.isfinite(sd)):
            paths = simulate_paths(BY_NAME[name], y, len(ahead), draws, np.random.default_rng(seed))
            q = quantile_columns(mean, sd)
            if current in ahead:
                i = ahead.index(current)
                paths[:, i] = so_far + paths[:, i] * left
                for k in q:
                    q[k][i] = so_far + q[k][i] * left
            skip = len(ahead) - len(shown)
            return {"model": name, "label": label_of(name),
                    "months": _month_frame(shown, "revenue model", {k: v[skip:] for k, v in q.items()},
                                           model=label_of(name)),
                    "quarters": _quarter_frame(ahead, paths, "revenue model", known)}
    return {"model": None, "label": None, "months": _empty_months(), "quarters": _empty_quarters()}


def _empty_months() -> pl.DataFrame:
    return pl.DataFrame(schema={"method": pl.String, "month": pl.Date, **{k: pl.Float64 for k in Z}})


def _empty_quarters() -> pl.DataFrame:
    return _quarter_frame([], np.zeros((1, 0)), "", {})


def revenue_forecast(store: Store, actor: Actor, now: datetime, horizon_months: int = 6, team_id: int | None = None,
                     model: str | None = None, draws: int = DRAWS, seed: int = SEED) -> dict[str, Any]:
    """The statsmodels forecast of monthly won revenue in the actor's scope, the model chosen by backtest (or
    `model`, skipping it): {"status", "note", "model", "label", "months" (method, month, forecast, lo80, hi80,
    lo95, hi95, model: now's month and `horizon_months` after it), "quarters" (quarter, start, forecast, intervals,
    actual_so_far), "backtest" (metrics, see `metrics`), "beats_baseline", "months_used", "series"}."""
    series = monthly_revenue(store, actor, now, team_id)
    complete = complete_months(series)
    if complete.height < MIN_SERIES_MONTHS:
        return {"status": NOT_ENOUGH, "model": None, "label": None, "months": _empty_months(),
                "quarters": _empty_quarters(), "backtest": metrics(pl.DataFrame(schema=_PRED_SCHEMA)),
                "beats_baseline": None, "months_used": complete.height, "series": series,
                "note": f"{NOT_ENOUGH}: {complete.height} complete months of won revenue; a revenue model needs "
                        f"{MIN_SERIES_MONTHS}."}
    table, beats, note = metrics(pl.DataFrame(schema=_PRED_SCHEMA)), None, f"Model given: {label_of(model or '')}."
    if model is None:
        result = backtest(complete)
        model = result["chosen"] or FALLBACK
        table, beats, note = result["metrics"], result["beats_baseline"], result["note"]
    fc = _ts_forecast(series, now, horizon_months, model, draws, seed)
    return {"status": "ok" if fc["model"] else NOT_ENOUGH, "note": note, **fc, "backtest": table,
            "beats_baseline": beats, "months_used": complete.height, "series": series}


def pipeline_forecast(store: Store, actor: Actor, now: datetime, horizon_months: int = 6,
                      team_id: int | None = None, draws: int = DRAWS, seed: int = SEED) -> dict[str, Any]:
    """The pipeline forecast in the actor's scope, simulated `draws` times (seeded): {"months" (method, month,
    forecast (median), lo80, hi80, lo95, hi95, mean, won_to_date, from_open_deals, from_new_deals), "quarters",
    "open_deals" (id, owner_id, team_id, stage, amount, win_probability, close_in_horizon), "win_model" and
    "close_model" (their cards), "draws", "seed", "note"}."""
    inputs = read_inputs(store, actor, now, team_id)
    learn = _learning_inputs(store, actor, now, team_id)
    return _pipeline_result(inputs, build_engine(inputs, now, horizon_months, draws, seed, learn=learn), now)


def _pipeline_result(inputs: Inputs, e: Engine, now: datetime) -> dict[str, Any]:
    open_part, new_part = simulate(e)
    paths = totals(e, open_part, new_part)
    q = _quantiles(paths)
    won_now = np.zeros(len(e.months))
    won_now[0] = e.won_month.sum()
    months = _month_frame(e.months, PIPELINE, q, mean=q["mean"], won_to_date=won_now,
                          from_open_deals=open_part.sum(axis=1).mean(axis=0),
                          from_new_deals=new_part.sum(axis=1).mean(axis=0))
    complete = complete_months(revenue_series(inputs.deals, now))
    known = dict(zip(complete["month"].to_list(), complete["won_amount"].to_list(), strict=True))
    quarters = _quarter_frame(e.months, paths, PIPELINE, known)  # now's month: its wins so far are in the draws
    days = np.where(e.u_win < e.open_p[:, None], e.days_won, e.days_lost) if len(e.open_p) else np.zeros((0, 1))
    in_horizon = (days < e.edges[-1]).mean(axis=1)
    deals = e.open_deals.with_columns(close_in_horizon=pl.Series(in_horizon, dtype=pl.Float64))
    return {"status": "ok", "months": months, "quarters": quarters, "open_deals": deals, "win_model": e.win_card,
            "close_model": e.close_card, "draws": e.draws, "seed": e.seed,
            "note": (f"{e.draws:,} simulations of {e.open_deals.height:,} open deals and the new deals to come "
                     f"(seed {e.seed}). Win chance: {e.win_card.get('note', '')}")}


def blend(revenue: dict[str, Any], pipeline: dict[str, Any], weight: float, rho: float = 1.0) -> dict[str, Any]:
    """The blend (combine) of the revenue forecast and the pipeline forecast, for the months and quarters both
    have: {"months", "quarters", "weight", "rho"}."""
    if not 0.0 <= weight <= 1.0:
        raise ForecastError(f"The blend weight must be between 0 and 1, not {weight}.")

    def mix(a: pl.DataFrame, b: pl.DataFrame, on: list[str]) -> pl.DataFrame:
        if a.is_empty() or b.is_empty():
            return b.head(0).select("method", *on, *Z) if not b.is_empty() else a.head(0).select("method", *on, *Z)
        j = a.select(*on, *Z).join(b.select(*on, *Z), on=on, suffix="_p")
        q = combine({k: j[k].to_numpy() for k in Z}, {k: j[f"{k}_p"].to_numpy() for k in Z}, weight, rho)
        return j.select(pl.lit(BLEND).alias("method"), *on).with_columns(
            pl.Series(k, q[k], dtype=pl.Float64) for k in Z)

    return {"months": mix(revenue["months"], pipeline["months"], ["month"]),
            "quarters": mix(revenue["quarters"], pipeline["quarters"], ["quarter", "start"]), "weight": weight,
            "rho": rho}


def forecast(store: Store, actor: Actor, now: datetime, horizon_months: int = 6, team_id: int | None = None,
             run_backtest: bool = True, draws: int = DRAWS, seed: int = SEED) -> dict[str, Any]:
    """Everything the Revenue page's forecast shows, in the actor's scope: {"months" and "quarters" (long: one row
    per method: revenue model, pipeline, blend; `chosen` marks the method the backtest chose), "series", "backtest"
    (metrics of every method), "predictions", "chosen", "model", "weight", "figures" (the chosen method's
    one-month figures: mape, within_5pct, within_10pct, coverage_80, coverage_95, months), "win_model",
    "close_model", "note"}. Without `run_backtest`, the model and weight of the latest stored run (or the
    defaults) are used and the backtest is not shown."""
    inputs = read_inputs(store, actor, now, team_id)
    return compute(inputs, now, horizon_months, run_backtest, draws, seed, _stored_choice(store),
                   _learning_inputs(store, actor, now, team_id))


def _stored_choice(store: Store) -> dict[str, Any]:
    run = store.frame("forecast_latest_run")
    if run.is_empty():
        return {}
    payload = json.loads(run["payload"][0])
    return {"model": payload.get("model"), "weight": payload.get("weight"), "rho": payload.get("rho"),
            "factors": payload.get("factors"),
            "chosen": payload.get("chosen"), "as_of": payload.get("as_of")}


def compute(inputs: Inputs, now: datetime, horizon_months: int = 6, run_backtest: bool = True, draws: int = DRAWS,
            seed: int = SEED, stored: dict[str, Any] | None = None, learn: Inputs | None = None) -> dict[str, Any]:
    """forecast() on inputs already read (see forecast)."""
    series = revenue_series(inputs.deals, now)
    complete = complete_months(series)
    stored = stored or {}
    if run_backtest and complete.height >= MIN_SERIES_MONTHS:
        bt = full_backtest(inputs, now, draws=min(draws, BACKTEST_DRAWS), seed=seed)
    else:
        bt = {**_not_enough("", 0), "status": "not run", "model": None, "weight": None, "rho": None}
        if run_backtest:
            bt.update(status=NOT_ENOUGH, note=f"{NOT_ENOUGH} to backtest: {complete.height} complete months of won "
                                              f"revenue; the revenue model needs {MIN_SERIES_MONTHS}.")
    ok = bt["status"] == "ok"
    model = (bt["model"] if ok else stored.get("model")) or "ets_aadn"
    weight = bt["weight"] if ok else stored.get("weight", 0.5)
    weight = 0.5 if weight is None else weight
    rho = bt.get("rho") if ok else stored.get("rho")
    rho = 1.0 if rho is None else rho
    factors = (bt.get("factors") if ok else stored.get("factors")) or {}
    chosen = (bt["chosen"] if ok else stored.get("chosen")) or BLEND
    engine = build_engine(inputs, now, horizon_months, draws, seed, learn=learn)
    pipe = _calibrated(_pipeline_result(inputs, engine, now), factors, PIPELINE)
    if complete.height >= MIN_SERIES_MONTHS:
        ts = _ts_forecast(series, now, horizon_months, model, draws, seed)
    else:
        ts = {"model": None, "label": None, "months": _empty_months(), "quarters": _empty_quarters()}
    if ts["model"] is None:
        chosen, weight = PIPELINE, 0.0
    ts = _calibrated(ts, factors, ts["model"])
    mixed = _calibrated(blend(ts, pipe, weight, rho), factors, BLEND)
    method_name = {PIPELINE: PIPELINE, BLEND: BLEND}.get(chosen, "revenue model")
    month_parts = [f.select("method", "month", *Z) for f in (ts["months"], pipe["months"], mixed["months"])
                   if not f.is_empty()]
    quarter_parts = [f.select("method", "quarter", "start", *Z)
                     for f in (ts["quarters"], pipe["quarters"], mixed["quarters"]) if not f.is_empty()]
    months = pl.concat(month_parts) if month_parts else _empty_months()
    quarters = pl.concat(quarter_parts) if quarter_parts else _empty_quarters().select("method", "quarter", "start", *Z)
    months = months.with_columns(chosen=pl.col("method") == method_name)
    quarters = quarters.with_columns(chosen=pl.col("method") == method_name)
    figures = backtest_figures(bt) if ok else {}
    note = f"{NOTE} {_backtest_status_note(bt, stored)}"
    if inputs.deals.is_empty():
        note = "No deals in scope: there is nothing to forecast yet."
    return {"status": "ok" if inputs.deals.height else NOT_ENOUGH, "months": months, "quarters": quarters,
            "series": series, "backtest": bt["metrics"], "predictions": bt["predictions"], "chosen": chosen,
            "chosen_label": label_of(chosen), "model": ts["model"], "model_label": ts["label"], "weight": weight, "rho": rho,
            "factors": factors,
            "figures": figures, "backtest_status": bt["status"], "win_model": pipe["win_model"],
            "close_model": pipe["close_model"], "open_deals": pipe["open_deals"], "draws": pipe["draws"],
            "note": note.strip()}


def _calibrated(result: dict[str, Any], factors: dict[str, Any], model: str | None) -> dict[str, Any]:
    """A forecast's months and quarters with its method's interval factors from the backtest (see calibrate): its
    one-month factor for now's month, the three-month one for later months and for quarters."""
    if not factors.get(model or ""):
        return result
    months, quarters = result["months"], result["quarters"]
    floor = months["won_to_date"].fill_null(0.0).to_numpy() if "won_to_date" in months.columns else 0.0
    return {**result, "months": rescale(months, _factors_for(factors, model, months.height), floor),
            "quarters": rescale(quarters, _factors_for(factors, model, 2)[-1])}


def _backtest_status_note(bt: dict[str, Any], stored: dict[str, Any]) -> str:
    if bt["status"] in ("ok", NOT_ENOUGH):
        return bt.get("note") or ""
    if stored:
        when = f" of {stored['as_of'][:10]}" if stored.get("as_of") else ""
        return f"Not backtested here: the method and blend weight of the company-wide run{when} are used."
    return "Not backtested here, and no run stored yet: the damped-trend ETS model and an even blend are used."


def backtest_figures(bt: dict[str, Any]) -> dict[str, Any]:
    """A backtest's (full_backtest) figures for its chosen method, one month ahead, with its baseline's and the
    out-of-time selection's: what `evaluate` prints."""
    table, chosen = bt["metrics"], bt["chosen"]

    def row(name: str | None, horizon: int = 1) -> dict[str, Any]:
        hit = table.filter((pl.col("model") == (name or "")) & (pl.col("horizon") == horizon))
        return hit.row(0, named=True) if hit.height else {}

    one, three, base, sel = row(chosen), row(chosen, 3), row(bt.get("baseline")), row(SELECTED)
    return {"model": chosen, "label": label_of(chosen), "months": one.get("months", 0),
            **{k: one.get(k) for k in ("mape", "within_5pct", "within_10pct", "coverage_80", "coverage_95",
                                       "attainable_5pct", "attainable_10pct")},
            "mape_3m": three.get("mape"), "within_10pct_3m": three.get("within_10pct"),
            "coverage_80_3m": three.get("coverage_80"), "baseline": bt.get("baseline"),
            "baseline_mape": base.get("mape"), "baseline_within_10pct": base.get("within_10pct"),
            "beats_baseline": bt.get("beats_baseline"), "selected_mape": sel.get("mape"),
            "selected_within_10pct": sel.get("within_10pct"), "selected_coverage_80": sel.get("coverage_80"),
            "weight": bt.get("weight"), "revenue_model": bt.get("model"),
            "from": str(bt["origins"][0]) if bt.get("origins") else None,
            "to": str(bt["origins"][1]) if bt.get("origins") else None}


# ---------------------------------------------------------------- quota attainment


def period_months(origin: datetime, period: str) -> list[date]:
    """The months of `period` (PERIODS) as seen from the origin."""
    if period not in PERIODS:
        raise ForecastError(f"Unknown period {period!r}; use one of {', '.join(PERIODS)}.")
    m = month_start(origin)
    if period == "month":
        return [m]
    if period == "next_month":
        return [add_months(m, 1)]
    q = quarter_start(m) if period == "quarter" else add_months(quarter_start(m), 3)
    return [add_months(q, k) for k in range(3)]


def period_label(months: Sequence[date]) -> str:
    return months[0].strftime("%Y-%m") if len(months) == 1 else quarter_label(months[0])


@dataclass
class Plan:
    """A scenario base: the engine, the reps and teams in scope, and the quota period; cacheable per actor."""

    engine: Engine
    reps: pl.DataFrame  # rep_id, rep, team_id, team, monthly_quota, active
    period: str
    months: list[date]
    team_id: int | None
    teams_whole: bool  # team rows are shown (the actor sees whole teams)
    average_deal: dict[int, float]  # rep id -> their average won deal of the last year (-1: everyone's)
    viewer_rep: int | None = None  # the rep reading (a rep's own view), for "your" in the advice
    base_open: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    base_new: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    base_attainment: pl.DataFrame = field(repr=False, default_factory=pl.DataFrame)
    seconds: float = 0.0


def _plan(store: Store, actor: Actor, now: datetime, period: str = "month", horizon_months: int = 6,
         team_id: int | None = None, draws: int = DRAWS, seed: int = SEED) -> Plan:
    """The base of quota attainment and scenarios, built once (about a second at scale S)."""
    t0 = clock_time.perf_counter()
    months = period_months(now, period)
    inputs = read_inputs(store, actor, now, team_id)
    ahead = max(horizon_months, (months[-1].year - now.year) * 12 + months[-1].month - now.month)
    engine = build_engine(inputs, now, ahead, draws, seed, learn=_learning_inputs(store, actor, now, team_id))
    won = inputs.deals.filter(pl.col("won") & pl.col("closed_at").is_not_null()
                              & (pl.col("closed_at") >= now - timedelta(days=RECENT_DAYS)))
    avg = dict(won.group_by("owner_id").agg(pl.col("amount").mean(), pl.len())
               .filter(pl.col("len") >= 3).select("owner_id", "amount").iter_rows())
    avg[-1] = float(won["amount"].mean()) if won.height else 0.0
    base_open, base_new = simulate(engine)
    p = Plan(engine=engine, reps=inputs.reps, period=period, months=months, team_id=team_id,
             teams_whole=actor.sees_all or actor.role == "manager", average_deal=avg, base_open=base_open,
             base_new=base_new, viewer_rep=actor.rep_id if actor.role == "rep" else None)
    p.base_attainment = attainment(p, base_open, base_new)
    p.seconds = clock_time.perf_counter() - t0
    return p


def _period_revenue(p: Plan, open_part: np.ndarray, new_part: np.ndarray, mask: np.ndarray, headcount: float) \
        -> np.ndarray:
    """(D,) revenue of the reps in `mask` in the plan's period: won before the origin in it, plus the draws."""
    e = p.engine
    idx = [e.months.index(m) for m in p.months if m in e.months]
    drawn = open_part[:, mask][:, :, idx].sum(axis=(1, 2)) + headcount * new_part[:, mask][:, :, idx].sum(axis=(1, 2))
    return drawn + _won_before(p, mask)


def _won_before(p: Plan, mask: np.ndarray) -> float:
    """What the reps in `mask` won in the plan's period before the origin (nothing, for a period still to come)."""
    e = p.engine
    if p.months[0] > month_start(e.origin):
        return 0.0
    return float((e.won_quarter if len(p.months) == 3 else e.won_month)[mask].sum())


def attainment(p: Plan, open_part: np.ndarray, new_part: np.ndarray, levers: Levers = Levers()) -> pl.DataFrame:
    """Per rep with a quota (and per team, when the actor sees whole teams): level, rep_id, rep, team_id, team,
    period, quota, won_to_date, forecast_p10, forecast_p50, forecast_p90, probability (of reaching the quota),
    expected_gap (the mean shortfall), gap (quota less the median), average_deal, deals_needed (more deals at
    the average size to close the gap), open_deals_expected (open deals likely to close in the period),
    open_deals_to_win (how many of the largest of those close the gap), to_close (in words)."""
    e = p.engine
    index = {int(r): i for i, r in enumerate(e.rep_ids)}
    months_n = len(p.months)
    rows = []
    sellers = p.reps.filter((pl.col("monthly_quota") > 0) & pl.col("active"))
    closing = _closing_in_period(p, levers)
    for rep in sellers.iter_rows(named=True):
        mask = np.zeros(len(e.rep_ids), bool)
        if rep["rep_id"] in index:
            mask[index[rep["rep_id"]]] = True
        revenue = _period_revenue(p, open_part, new_part, mask, 1.0)
        rows.append(_attainment_row(p, "rep", rep["rep_id"], rep["rep"], rep["team_id"], rep["team"],
                                    rep["monthly_quota"] * months_n, revenue, mask, closing, levers,
                                    p.average_deal.get(rep["rep_id"], p.average_deal[-1])))
    if p.teams_whole:
        for (team_id, team), members in sellers.group_by("team_id", "team", maintain_order=True):
            if team_id is None:
                continue
            mask = e.rep_team == team_id
            revenue = _period_revenue(p, open_part, new_part, mask, levers.headcount)
            quota = float(members["monthly_quota"].sum()) * months_n * levers.headcount
            rows.append(_attainment_row(p, "team", None, None, team_id, team, quota, revenue, mask, closing,
                                        levers, p.average_deal[-1]))
    return pl.DataFrame(rows, schema=_ATTAINMENT_SCHEMA)


_ATTAINMENT_SCHEMA = {"level": pl.String, "rep_id": pl.Int64, "rep": pl.String, "team_id": pl.Int64,
                      "team": pl.String, "period": pl.String, "quota": pl.Float64, "won_to_date": pl.Float64,
                      "forecast_p10": pl.Float64, "forecast_p50": pl.Float64, "forecast_p90": pl.Float64,
                      "probability": pl.Float64, "expected_gap": pl.Float64, "gap": pl.Float64,
                      "average_deal": pl.Float64, "deals_needed": pl.Int64, "open_deals_expected": pl.Int64,
                      "open_deals_to_win": pl.Int64, "to_close": pl.String, "draws": pl.Int64}


def _closing_in_period(p: Plan, levers: Levers) -> np.ndarray:
    """(n,) each open deal's chance of closing (won or lost) within the period, under the levers."""
    e = p.engine
    if not len(e.open_p):
        return np.zeros(0)
    idx = [e.months.index(m) for m in p.months if m in e.months]
    if not idx:
        return np.zeros(len(e.open_p))
    lo, hi = e.edges[min(idx)], e.edges[max(idx) + 1]
    won = e.u_win < np.minimum(e.open_p * levers.win_rate, 1.0)[:, None]
    scaled = np.where(won, e.days_won, e.days_lost) * levers.cycle_length
    return ((scaled >= lo) & (scaled < hi)).mean(axis=1)


def _attainment_row(p: Plan, level: str, rep_id: int | None, rep: str | None, team_id: int | None,
                    team: str | None, quota: float, revenue: np.ndarray, mask: np.ndarray, closing: np.ndarray,
                    levers: Levers, average: float) -> dict[str, Any]:
    e = p.engine
    won = _won_before(p, mask)
    q10, q50, q90 = (float(x) for x in np.quantile(revenue, [0.1, 0.5, 0.9]))
    probability = float((revenue >= quota).mean())
    expected_gap = float(np.maximum(quota - revenue, 0.0).mean())
    gap = max(quota - q50, 0.0)
    size = average * levers.deal_size
    needed = math.ceil(gap / size) if gap > 0 and size > 0 else 0
    deals = mask[e.open_rep] & (closing >= 0.5) if len(e.open_p) else np.zeros(0, bool)
    amounts = np.sort(e.open_amount[deals] * levers.deal_size)[::-1]
    rest = quota - won  # what the open deals expected to close would have to bring, all else lost
    to_win = int(np.searchsorted(np.cumsum(amounts), rest, side="left") + 1) if rest > 0 else 0
    to_win = to_win if to_win <= len(amounts) else -1
    whose = "your" if level == "rep" and rep_id == p.viewer_rep else "their" if level == "rep" else "the team's"
    text = _to_close(probability, gap, needed, size, to_win, len(amounts), amounts, p, whose)
    return {"level": level, "rep_id": rep_id, "rep": rep, "team_id": team_id, "team": team,
            "period": period_label(p.months), "quota": quota, "won_to_date": won, "forecast_p10": q10,
            "forecast_p50": q50, "forecast_p90": q90, "probability": probability, "expected_gap": expected_gap,
            "gap": gap, "average_deal": size, "deals_needed": needed, "open_deals_expected": len(amounts),
            "open_deals_to_win": to_win, "to_close": text, "draws": len(revenue)}


def _money(x: float) -> str:
    return f"${x / 1000:,.0f}k" if abs(x) >= 10_000 else f"${x:,.0f}"


def _to_close(probability: float, gap: float, needed: int, size: float, to_win: int, expected: int,
              amounts: np.ndarray, p: Plan, who: str) -> str:
    """What would close the gap, in words (`who`: whose open deals, "your", "their" or "the team's")."""
    if gap <= 0:
        return f"On track: {probability:.0%} likely to make quota; the likely outcome reaches it."
    end = (add_months(p.months[-1], 1) - timedelta(days=1)).strftime("%d %b")
    deals = f"open deal{'s' if expected != 1 else ''} expected to close by {end}"
    text = (f"{_money(gap)} short of quota in the likely outcome ({probability:.0%} likely to make it): about "
            f"{needed} more deal{'s' if needed != 1 else ''} at the average size ({_money(size)})")
    if to_win > 0:
        largest = ", ".join(_money(a) for a in amounts[:min(to_win, 3)])
        return f"{text}, or win {to_win} of {who} {expected} {deals} (the largest: {largest})."
    if expected:
        return f"{text}; even winning all {who} {expected} {deals} would not reach it."
    return text + "."


def quota_attainment(store: Store, actor: Actor, now: datetime, period: str = "month", team_id: int | None = None,
                     draws: int = DRAWS, seed: int = SEED) -> pl.DataFrame:
    """Each rep's (and team's) chance of making quota this period, the gap and what would close it, from the
    pipeline simulation (see `attainment`). `period`: month (reps.monthly_quota), quarter (3 × it), next_month or
    next_quarter."""
    return _plan(store, actor, now, period, 0, team_id, draws, seed).base_attainment


# ---------------------------------------------------------------- scenarios


def validate_levers(params: Any) -> Levers:
    """Levers from a dict of multipliers (missing ones are 1); ScenarioError naming every problem."""
    if not isinstance(params, dict):
        raise ScenarioError(f"The scenario's levers must be a mapping of lever to multiplier ({', '.join(LEVERS)}), "
                            f"not {type(params).__name__}.")
    problems = [f"unknown lever {k!r} (the levers are {', '.join(LEVERS)})" for k in params if k not in LEVERS]
    values = {}
    for k in LEVERS:
        v = params.get(k, 1.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            problems.append(f"{k} must be a number between {LEVER_MIN} and {LEVER_MAX} (got {v!r})")
        elif not LEVER_MIN <= v <= LEVER_MAX:
            problems.append(f"{k} {v:g} is outside {LEVER_MIN}–{LEVER_MAX}: set a multiplier in that range "
                            f"(1 is today's)")
        else:
            values[k] = float(v)
    if problems:
        raise ScenarioError("The scenario cannot be used: " + "; ".join(problems) + ".")
    return Levers(**values)


def scenario_base(store: Store, actor: Actor, now: datetime, team_id: int | None = None,
                  period: str = "next_quarter", horizon_months: int = 6, draws: int = DRAWS,
                  seed: int = SEED) -> Plan:
    """The base a page caches for the scenario sliders (a Plan: the pipeline simulation drawn once, about a second
    at scale S, and quota attainment over `period` on it); `scenario` then recomputes from it in milliseconds."""
    return _plan(store, actor, now, period, horizon_months, team_id, draws, seed)


def scenario(base: Plan, params: dict[str, Any]) -> dict[str, Any]:
    """The forecast and quota attainment under the levers (multipliers, see LEVERS), beside the base's: {"levers",
    "months" (month, base_p10, base_p50, base_p90, p10, p50, p90, change: of the median), "quarters" (the same per
    quarter), "attainment" (level, rep_id, rep, team_id, team, quota, base_probability, probability,
    base_p50, forecast_p50, gap, to_close), "headline", "seconds"}. Arithmetic on the base's draws."""
    t0 = clock_time.perf_counter()
    levers = validate_levers(params)
    e = base.engine
    open_part, new_part = simulate(e, levers)
    now_paths, base_paths = totals(e, open_part, new_part, levers), totals(e, base.base_open, base.base_new)
    qn, qb = _quantiles(now_paths), _quantiles(base_paths)
    months = pl.DataFrame({"month": e.months, "base_p10": qb["lo80"], "base_p50": qb["forecast"],
                           "base_p90": qb["hi80"], "p10": qn["lo80"], "p50": qn["forecast"], "p90": qn["hi80"]},
                          schema_overrides={"month": pl.Date})
    months = months.with_columns(change=pl.when(pl.col("base_p50") > 0)
                                 .then(pl.col("p50") / pl.col("base_p50") - 1))
    quarters = _scenario_quarters(e, base_paths, now_paths)
    now_att = attainment(base, open_part, new_part, levers)
    base_att = base.base_attainment
    att = now_att.select("level", "rep_id", "rep", "team_id", "team", "period", "quota", "probability",
                         pl.col("forecast_p50"), "gap", "to_close").with_columns(
        base_probability=base_att["probability"], base_p50=base_att["forecast_p50"], base_quota=base_att["quota"])
    head = _headline(quarters, att)
    return {"levers": asdict(levers), "months": months, "quarters": quarters, "attainment": att, "headline": head,
            "seconds": clock_time.perf_counter() - t0}


def _scenario_quarters(e: Engine, base_paths: np.ndarray, now_paths: np.ndarray) -> pl.DataFrame:
    """The quarters wholly inside the simulated months (the one under way only if it starts with them)."""
    rows = []
    for q in sorted({quarter_start(m) for m in e.months}):
        idx = [e.months.index(add_months(q, k)) for k in range(3) if add_months(q, k) in e.months]
        if len(idx) < 3:
            continue
        b, s = base_paths[:, idx].sum(axis=1), now_paths[:, idx].sum(axis=1)
        rows.append({"quarter": quarter_label(q), "start": q,
                     "base_p10": float(np.quantile(b, 0.1)), "base_p50": float(np.median(b)),
                     "base_p90": float(np.quantile(b, 0.9)), "p10": float(np.quantile(s, 0.1)),
                     "p50": float(np.median(s)), "p90": float(np.quantile(s, 0.9))})
    frame = pl.DataFrame(rows, schema={"quarter": pl.String, "start": pl.Date,
                                       **{k: pl.Float64 for k in ("base_p10", "base_p50", "base_p90", "p10", "p50",
                                                                  "p90")}})
    return frame.with_columns(change=pl.when(pl.col("base_p50") > 0).then(pl.col("p50") / pl.col("base_p50") - 1))


def _headline(quarters: pl.DataFrame, att: pl.DataFrame) -> dict[str, Any]:
    """The few numbers a saved scenario keeps: the first whole quarter's median, and quota attainment overall."""
    nxt = quarters.head(1)
    teams = att.filter(pl.col("level") == "team")
    rows = teams if teams.height else att
    return {
        "quarter": nxt["quarter"][0] if nxt.height else None,
        "quarter_p50": nxt["p50"][0] if nxt.height else None,
        "quarter_base_p50": nxt["base_p50"][0] if nxt.height else None,
        "period": att["period"][0] if att.height else None,
        "making_quota": float(rows["probability"].mean()) if rows.height else None,
        "base_making_quota": float(rows["base_probability"].mean()) if rows.height else None,
        "quota_level": "team" if teams.height else "rep",
    }


def _scenario_team(store: Store, con: Any, actor: Actor, team_id: int | None) -> int | None:
    """The team a scenario is saved for: a manager's own team (theirs if they lead one), anyone's for analysts and
    admins (None: the company); AccessDenied or ScenarioError otherwise (executives read scenarios)."""
    if actor.role not in PLANNERS:
        raise AccessDenied(f"A {actor.role} does not save scenarios; ask a manager or an analyst.")
    if actor.role == "manager":
        teams = managed_teams(store, con, actor)
        if team_id is None and len(teams) == 1:
            return teams[0]
        if team_id is None:
            raise ScenarioError("Pick the team the scenario is for: you lead teams " + ", ".join(map(str, teams))
                                + "." if teams else "You lead no team, so you cannot save a team's scenario.")
        if team_id not in teams:
            raise AccessDenied(f"You lead team {', '.join(map(str, teams)) or 'none'}, not team {team_id}: a "
                               "manager saves scenarios for their own team.")
        return team_id
    if team_id is not None and not store.scalar("forecast_team_exists", con, team_id=team_id):
        raise ScenarioError(f"There is no team {team_id}; leave the team empty for a company-wide scenario.")
    return team_id


def save_scenario(store: Store, actor: Actor, title: str, params: dict[str, Any], now: datetime,
                  team_id: int | None = None, base: Plan | None = None) -> int:
    """Save a scenario (validated: a title of 1-120 characters, levers within LEVER_MIN-LEVER_MAX) with what it
    gives, for the actor's team (a manager) or a team or the company; audited. Returns its id. `base` reuses a
    cached base of the same team."""
    problems = []
    text = title.strip() if isinstance(title, str) else ""
    if not text:
        problems.append("give the scenario a title")
    elif len(text) > 120:
        problems.append(f"shorten the title to 120 characters (it has {len(text)})")
    try:
        levers = validate_levers(params)
    except ScenarioError as exc:
        problems.append(str(exc).removeprefix("The scenario cannot be used: ").rstrip("."))
        levers = None
    if problems:
        raise ScenarioError("The scenario was not saved: " + "; ".join(problems) + ".")
    with store.read() as con:
        team = _scenario_team(store, con, actor, team_id)
    if base is None or base.team_id != team:
        base = scenario_base(store, actor, now, team)
    result = scenario(base, asdict(levers))
    results = {"headline": result["headline"], "as_of": now.isoformat(), "period": base.period,
               "months": _records(result["months"]), "quarters": _records(result["quarters"])}
    with store.write() as con:
        scenario_id = store.scalar("forecast_scenario_insert", con, title=text, team_id=team,
                                   created_by=actor.username, created_at=now, params=json.dumps(asdict(levers)),
                                   results=json.dumps(results, default=str))
        audit.record(con, actor.username, "create", "scenario", scenario_id, now,
                     after={"title": text, "team_id": team, "params": asdict(levers),
                            "headline": result["headline"]})
    return scenario_id


def scenarios(store: Store, actor: Actor) -> pl.DataFrame:
    """The saved scenarios the actor may see (all for those who see every row, their teams' for a manager): id,
    title, team_id, team, created_by, created_at, the five levers, and what each gave (quarter, quarter_p50,
    quarter_base_p50, making_quota, base_making_quota)."""
    with store.read() as con:
        teams = managed_teams(store, con, actor) if actor.role == "manager" else []
        rows = store.frame("forecast_scenarios", con, scope_all=actor.sees_all, teams=teams)
    levers = [json.loads(p) for p in rows["params"].to_list()]
    heads = [json.loads(r).get("headline", {}) if r else {} for r in rows["results"].to_list()]
    return rows.drop("params", "results").with_columns(
        *[pl.Series(k, [lv.get(k, 1.0) for lv in levers], dtype=pl.Float64) for k in LEVERS],
        pl.Series("quarter", [h.get("quarter") for h in heads], dtype=pl.String),
        *[pl.Series(k, [h.get(k) for h in heads], dtype=pl.Float64)
          for k in ("quarter_p50", "quarter_base_p50", "making_quota", "base_making_quota")])


COMPARED = {"win_rate": "win rate ×", "deal_size": "deal size ×", "cycle_length": "cycle length ×",
            "lead_volume": "new-lead volume ×", "headcount": "headcount ×", "quarter": "quarter",
            "quarter_p50": "quarter's forecast (median)", "quarter_base_p50": "quarter's forecast today (median)",
            "making_quota": "chance of making quota", "base_making_quota": "chance of making quota today"}


def _shown(measure: str, value: Any) -> str | None:
    if value is None:
        return None
    if measure in LEVERS:
        return f"×{value:.2f}"
    if measure.endswith("making_quota"):
        return f"{value:.0%}"
    if measure.startswith("quarter_"):
        return f"${value / 1e6:,.2f}M" if value >= 1e6 else f"${value / 1e3:,.0f}k"
    return str(value)


def compare(store: Store, actor: Actor, ids: Sequence[int]) -> pl.DataFrame:
    """Saved scenarios side by side: one row per measure (the levers, then what they gave when saved), one column
    per scenario ("#id title"), as text to show. AccessDenied for an id the actor may not see."""
    visible = scenarios(store, actor)
    known = set(visible["id"].to_list())
    missing = [i for i in ids if i not in known]
    if missing:
        raise AccessDenied(f"Scenario {', '.join(map(str, missing))} is not one you can see.")
    columns: dict[str, list[Any]] = {"measure": list(COMPARED.values())}
    for i in ids:
        row = visible.filter(pl.col("id") == i).row(0, named=True)
        columns[f"#{i} {row['title']}"] = [_shown(m, row[m]) for m in COMPARED]
    return pl.DataFrame(columns, schema={k: pl.String for k in columns})


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in r.items()}
            for r in frame.iter_rows(named=True)]


# ---------------------------------------------------------------- the scheduled refresh and the evaluation


def refresh_forecast(store: Store, now: datetime) -> dict[str, Any]:
    """The forecast job: the company-wide forecast and its backtest computed with the store closed, stored as one
    analytics_runs row (kind "forecast") and audited in one short write. Returns {"run_id", "as_of", "chosen",
    "figures", "rows_written"}."""
    result = forecast(store, COMPANY, now)
    payload = {"as_of": now.isoformat(), "chosen": result["chosen"], "chosen_label": result["chosen_label"],
               "model": result["model"], "weight": result["weight"], "rho": result["rho"], "factors": result["factors"],
               "figures": result["figures"],
               "win_model": result["win_model"], "close_model": result["close_model"], "note": result["note"],
               "backtest_status": result["backtest_status"], "draws": result["draws"],
               **{k: _records(result[k]) for k in ("months", "quarters", "series", "backtest", "predictions")}}
    with store.write() as con:
        run_id = store.scalar("forecast_run_insert", con, as_of=now, computed_at=now,
                              payload=json.dumps(payload, default=str))
        audit.record(con, JOB_ACTOR, "refresh", "analytics_run", run_id, now,
                     after={"kind": "forecast", "as_of": now, "chosen": result["chosen"],
                            "mape": result["figures"].get("mape")})
    return {"run_id": run_id, "as_of": now, "chosen": result["chosen"], "figures": result["figures"],
            "rows_written": 1}


_DATES = {"months": ("month",), "quarters": ("start",), "series": ("month",), "predictions": ("origin", "month")}


def latest_forecast(store: Store, actor: Actor) -> dict[str, Any]:
    """The latest forecast refresh: who sees every deal reads the stored company-wide run (as `forecast` returns,
    plus "as_of" and "computed_at"); a rep or manager gets their scope's forecast recomputed for the run's as_of
    with its model and weight. Before the first run: {"as_of": None, "note"}."""
    run = store.frame("forecast_latest_run")
    if run.is_empty():
        return {"as_of": None, "computed_at": None, "status": NOT_ENOUGH,
                "note": "Never computed: the forecast refresh job has not run on this store."}
    row = run.row(0, named=True)
    payload = json.loads(row["payload"])
    if not actor.sees_all:
        return {**forecast(store, actor, row["as_of"], run_backtest=False), "as_of": row["as_of"],
                "computed_at": row["computed_at"], "scoped": True}
    frames = {k: _frame_back(payload.get(k, []), _DATES.get(k, ())) for k in
              ("months", "quarters", "series", "predictions")}
    frames["backtest"] = stored_backtest(payload.get("backtest") or [])
    return {**{k: v for k, v in payload.items() if k not in frames}, **frames, "as_of": row["as_of"],
            "computed_at": row["computed_at"], "scoped": False, "status": "ok"}


def stored_backtest(records: list[dict[str, Any]]) -> pl.DataFrame:
    """A stored run's backtest table (metrics' rows) in today's shape: a measure added since the run was stored is
    there, empty, until the next refresh fills it."""
    if not records:
        return pl.DataFrame()
    frame = pl.DataFrame(records, infer_schema_length=None)
    shape = metrics(pl.DataFrame(schema=_PRED_SCHEMA)).schema
    return frame.with_columns(pl.lit(None, dtype).alias(c) for c, dtype in shape.items() if c not in frame.columns)


def _frame_back(records: list[dict[str, Any]], dates: Sequence[str]) -> pl.DataFrame:
    frame = pl.DataFrame(records, infer_schema_length=None) if records else pl.DataFrame()
    return frame.with_columns(pl.col(c).str.to_date() for c in dates if c in frame.columns
                              and frame.schema[c] == pl.String)


def evaluate(store: Store, now: datetime) -> dict[str, Any]:
    """The company-wide backtest's figures for the chosen method (one month ahead): mape, within_5pct,
    within_10pct, coverage_80, coverage_95, model, months, and the rest of `backtest_figures`. Stores nothing."""
    inputs = read_inputs(store, COMPANY, now)
    if complete_months(revenue_series(inputs.deals, now)).height < MIN_SERIES_MONTHS:
        return {"status": NOT_ENOUGH, "model": None, "months": 0}
    bt = full_backtest(inputs, now)
    if bt["status"] != "ok":
        return {"status": bt["status"], "model": None, "months": bt["months"], "note": bt["note"]}
    return {"status": "ok", **backtest_figures(bt), "metrics": bt["metrics"]}


EVALUATION_KEYS = ("mape", "within_5pct", "within_10pct", "coverage_80", "coverage_95")


def evaluation_lines(result: dict[str, Any]) -> list[str]:
    """evaluate's figures, one per line: "mape: 0.07", ..., "model: ...", "months: n", then the extras."""
    def num(v: Any) -> str:
        return "-" if v is None else f"{v:.2f}"

    if result.get("status") != "ok":
        return [f"status: {result.get('status')}", f"model: {result.get('model') or '-'}",
                f"months: {result.get('months', 0)}", f"note: {result.get('note', '')}"]
    lines = [f"{k}: {num(result.get(k))}" for k in EVALUATION_KEYS]
    lines += [f"model: {result['model']} ({result['label']})", f"months: {result['months']}"]
    lines += [f"backtest: {result['from']} to {result['to']}", f"revenue_model: {result['revenue_model']}",
              f"attainable_5pct: {num(result.get('attainable_5pct'))}",
              f"attainable_10pct: {num(result.get('attainable_10pct'))}",
              f"blend_weight: {num(result['weight'])}", f"baseline: {result['baseline']}",
              f"baseline_mape: {num(result['baseline_mape'])}", f"beats_baseline: {result['beats_baseline']}",
              f"mape_3m: {num(result['mape_3m'])}", f"within_10pct_3m: {num(result['within_10pct_3m'])}",
              f"coverage_80_3m: {num(result['coverage_80_3m'])}", f"selected_mape: {num(result['selected_mape'])}",
              f"selected_within_10pct: {num(result['selected_within_10pct'])}",
              f"selected_coverage_80: {num(result['selected_coverage_80'])}"]
    return lines


def evaluation_time(store: Store) -> datetime:
    """When `forecast evaluate` evaluates: FLASHDASH_NOW if set, else a demo store's as-of time if it is earlier
    than now (a demo's history ends there: the months after it are not months without sales), else now."""
    if os.environ.get("FLASHDASH_NOW"):
        return clock.now()
    as_of = store.scalar("setting", key="demo_as_of")
    demo_end = datetime.fromisoformat(as_of) if as_of else None
    return demo_end if demo_end is not None and demo_end < clock.now() else clock.now()


def cmd_evaluate(args: argparse.Namespace) -> int:
    """`python -m flashdash forecast evaluate [--db PATH]`: the backtest's figures, one per line."""
    store = Store(Path(args.db) if getattr(args, "db", None) else db_path())
    now = evaluation_time(store)
    print("\n".join([*evaluation_lines(evaluate(store, now)), f"as_of: {now.isoformat(timespec='minutes')}"]))
    return 0
