"""Activity effectiveness: which first-week activities, sequences and response times are followed by stage
progress and wins, as adjusted odds ratios with 95% confidence intervals, controlling for lead quality.

Per lead (in the actor's scope) the store's history gives:
- factors: a call / an email / a meeting / a demo logged in the first 7 days after submission; enrolment in a
  sequence within those 7 days (only when the store has any); the first response within 1 h, and within 24 h;
- outcomes: a move forward in the funnel (new < MQL < SQL < Opportunity < Won) within 30 days of submission, and
  a win within 90 days. A lead counts for an outcome only when it was submitted at least that window before
  `now`, so that every lead had the whole window to get there;
- lead quality, as known at submission: interest level, channel, vertical, company size and log monthly volume.
  Not the lead score: it is computed from the activities themselves, so adjusting for it would hide them.

Per outcome, a logistic regression (statsmodels Logit) of the outcome on the activity factors and the quality
covariates. The first-week activities, the sequence and the 1-hour response are one model; the 24-hour
response replaces the 1-hour one in a second model (each compared with a slower or no response). Each factor
gets its adjusted odds ratio with its 95% interval and p-value, and the raw rates with and without it. An
interval that includes 1 reads "no clear association". Too little data reads "not enough leads" rather than
a noisy number: fewer than MIN_LEADS leads or MIN_EVENTS leads on either side of the outcome, or fewer than
MIN_GROUP leads (or no lead of either outcome) with or without a factor.

The wording says "associated with" and "followed by", never that an activity brought the outcome about: see
NOTE for what the adjustment can and cannot do.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import statsmodels.api as sm

from flashdash.access import AccessDenied, Actor
from flashdash.store import Store

READERS = ("rep", "manager", "analyst", "admin")  # reps read their own book only (their scope)
MIN_LEADS = 200
MIN_EVENTS = 20  # leads on each side of an outcome
MIN_GROUP = 10  # leads with, and without, a factor
MIN_LEVEL = 20  # a category with fewer leads joins "other" (rare levels make the fit unstable)
Z95 = 1.959963984540054
MAX_SE = 5.0  # a log-odds standard error beyond this is a fit that separated, not an estimate
NO_CLEAR = "no clear association"
NOT_ENOUGH = "not enough leads"
NO_ESTIMATE = "no estimate"  # enough leads, but the data cannot give a finite, stable estimate
QUALITY = ("interest level", "channel", "vertical", "company size", "log monthly volume")


@dataclass(frozen=True)
class Factor:
    column: str
    label: str  # what the lead had: "a call in the first week"
    compared_with: str


@dataclass(frozen=True)
class Outcome:
    column: str
    label: str  # "reached the next stage within 30 days"
    days: int


FACTORS = (
    Factor("call_7d", "a call in the first week", "no call in the first week"),
    Factor("email_7d", "an email in the first week", "no email in the first week"),
    Factor("meeting_7d", "a meeting in the first week", "no meeting in the first week"),
    Factor("demo_7d", "a demo in the first week", "no demo in the first week"),
    Factor("sequence_7d", "enrolment in a sequence in the first week", "no sequence in the first week"),
    Factor("response_1h", "a first response within 1 hour", "a later first response, or none"),
    Factor("response_24h", "a first response within 24 hours", "a first response after 24 hours, or none"),
)
OUTCOMES = (
    Outcome("progressed_30d", "reached the next stage within 30 days", 30),
    Outcome("won_90d", "won within 90 days", 90),
)
# The 24-hour response is nested in the 1-hour one, so it gets its own model (each against slower or none).
MODELS = (("call_7d", "email_7d", "meeting_7d", "demo_7d", "sequence_7d", "response_1h"),
          ("call_7d", "email_7d", "meeting_7d", "demo_7d", "sequence_7d", "response_24h"))
REPORTED_BY_MODEL = (MODELS[0], ("response_24h",))

NOTE = (
    "How to read this. Each row compares leads that had a factor with similar leads that did not: the model "
    "adjusts for what was known when the lead arrived (" + ", ".join(QUALITY) + ") and for the other first-week "
    "activities. An odds ratio above 1 means the outcome followed more often, below 1 less often; the 95% "
    "interval shows how sure that is, and an interval that includes 1 is no clear association. "
    "What the adjustment cannot do: it only accounts for what was measured. Reps choose whom to call, demo and "
    "answer first, and they pick the leads they think are good for reasons the form does not record (a promising "
    "first conversation, a known brand); those leads would often have progressed anyway, so part of any "
    "association may be the reps' judgement rather than the activity. A first-week activity can also come after "
    "the lead already moved on (a demo booked for a lead that became SQL on day 2). Read these as associations "
    "worth testing, ideally with an experiment that assigns the activity or the timing at random, not as the "
    "effect of the activity. The lead score is left out on purpose: it is computed from the activities."
)
_SCHEMA = {"outcome": pl.String, "factor": pl.String, "compared_with": pl.String, "n": pl.Int64,
           "n_with": pl.Int64, "rate_with": pl.Float64, "rate_without": pl.Float64, "odds_ratio": pl.Float64,
           "ci_low": pl.Float64, "ci_high": pl.Float64, "p_value": pl.Float64, "verdict": pl.String,
           "wording": pl.String, "adjusted_for": pl.String}


def effectiveness(store: Store, actor: Actor, now: datetime) -> dict[str, Any]:
    """The adjusted associations of each factor with each outcome, for the leads in the actor's scope: {"frame"
    (one row per outcome and factor: n, raw rates with and without, odds_ratio, ci_low, ci_high, p_value,
    verdict, wording, adjusted_for), "note" (how to read it, and what controlling for lead quality cannot do),
    "n" (leads analysed per outcome), "dates" (as of, the submissions each outcome covers)}."""
    if actor.role not in READERS:
        raise AccessDenied(f"A {actor.role} does not read activity effectiveness; it is for reps (their own "
                           "book), managers, analysts and admins.")
    shortest = min(o.days for o in OUTCOMES)
    leads = store.frame("effectiveness_leads", cutoff=now - timedelta(days=shortest), **actor.scope_params())
    frames, n, dates = [], {}, {"as_of": now}
    for outcome in OUTCOMES:
        cutoff = now - timedelta(days=outcome.days)
        sample = leads.filter(pl.col("submitted_at") <= cutoff)
        n[outcome.column] = sample.height
        dates[outcome.column] = {"submitted_from": sample["submitted_at"].min(), "submitted_to": cutoff}
        frames.append(analyse(sample, outcome))
    return {"frame": pl.concat(frames), "note": NOTE, "n": n, "dates": dates}


# ---------------------------------------------------------------- the analysis (pure, on a frame of leads)


def analyse(leads: pl.DataFrame, outcome: Outcome) -> pl.DataFrame:
    """One outcome's rows (see effectiveness) from a frame with the columns of `effectiveness_leads`."""
    factors = [f for f in FACTORS if f.column != "sequence_7d" or leads["sequence_7d"].any()]
    y = leads[outcome.column].cast(pl.Int8).to_numpy()
    events = int(y.sum())
    if leads.height < MIN_LEADS or min(events, leads.height - events) < MIN_EVENTS:
        why = (f"Not enough leads to say: {leads.height:,} leads are old enough, {events:,} of them "
               f"{outcome.label}; it takes at least {MIN_LEADS} leads and {MIN_EVENTS} with and without the outcome.")
        return _rows([_row(leads, y, outcome, f, verdict=NOT_ENOUGH, wording=why) for f in factors])
    quality, _ = covariates(leads, y)
    rows = []
    for model, reported in zip(MODELS, REPORTED_BY_MODEL, strict=True):
        why_not = {f.column: _too_few(f, outcome, leads, y) for f in factors if f.column in model}
        used = [c for c, why in why_not.items() if why is None]
        fitted = _fit(y, leads, used, quality)
        for f in factors:
            if f.column in reported:
                rows.append(_estimate(leads, y, outcome, f, fitted, used, why_not[f.column]))
    return _rows(rows)


def covariates(leads: pl.DataFrame, y: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """Lead quality as a design matrix: one-hot interest level, channel, vertical and company size (missing is
    "unknown", the commonest level the reference) and standardised log monthly volume (a missing volume takes
    the mean and raises a flag). A level with fewer than MIN_LEVEL leads, or (given the outcome y) where every
    lead had the same outcome, joins "other", and an "other" like that joins the reference: such levels make
    the fit diverge and say nothing about the factors. Columns without variation are left out."""
    columns, names = [], []
    for col in ("interest_level", "channel", "vertical", "company_size"):
        values = leads[col].cast(pl.String).fill_null("unknown").str.to_lowercase()
        keep = [level for level, informative in _levels(values, y) if informative]
        values = pl.select(pl.when(values.is_in(keep)).then(values).otherwise(pl.lit("other"))).to_series()
        levels = [level for level, informative in _levels(values, y) if level in keep or informative]
        for level in sorted(levels[1:]):  # the commonest is the reference (and takes in an uninformative "other")
            columns.append((values == level).cast(pl.Float64).to_numpy())
            names.append(f"{col}={level}")
    volume = leads["monthly_volume"].cast(pl.Float64)
    logv = np.log1p(np.clip(volume.fill_null(float("nan")).to_numpy(), 0, None))
    missing = np.isnan(logv)
    if (~missing).sum() > 1:
        fill = np.nanmean(logv)
        logv = np.where(missing, fill, logv)
        sd = logv.std()
        columns.append((logv - fill) / sd if sd > 0 else logv * 0)
        names.append("log_monthly_volume")
    if missing.any():
        columns.append(missing.astype(float))
        names.append("monthly_volume_missing")
    keep_cols = [i for i, c in enumerate(columns) if np.ptp(c) > 0]
    matrix = np.column_stack([columns[i] for i in keep_cols]) if keep_cols else np.empty((leads.height, 0))
    return matrix, [names[i] for i in keep_cols]


def _levels(values: pl.Series, y: np.ndarray | None) -> list[tuple[str, bool]]:
    """Each level of a category, commonest first, and whether it is informative: at least MIN_LEVEL leads and
    (given the outcome y) leads of both outcomes."""
    arr = values.to_numpy()
    out = []
    for level, n in values.value_counts(sort=True).iter_rows():
        mixed = y is None or 0 < y[arr == level].sum() < n
        out.append((level, n >= MIN_LEVEL and bool(mixed)))
    return out


def _too_few(factor: Factor, outcome: Outcome, leads: pl.DataFrame, y: np.ndarray) -> tuple[str, str] | None:
    """Why a factor cannot be estimated for an outcome, as (verdict, wording); None when it can: too few leads
    with or without it, or every lead on one side had the same outcome (the odds ratio has no finite estimate)."""
    x = leads[factor.column].cast(pl.Int8).to_numpy().astype(bool)
    for side, group in (("with", y[x]), ("without", y[~x])):
        label = factor.label if side == "with" else factor.compared_with
        if group.size < MIN_GROUP:
            return NOT_ENOUGH, (f"Not enough leads: {group.size} had {label} (it takes {MIN_GROUP}) to say how "
                                f"it relates to whether a lead {outcome.label}.")
        if not 0 < group.sum() < group.size:
            every = "every one" if group.sum() else "none"
            return NO_ESTIMATE, (f"No estimate: of the {group.size:,} leads with {label}, {every} {outcome.label}, "
                                 "so the data cannot say how much the factor relates to it (it may also have come "
                                 "after the outcome, as a meeting booked once a lead qualified).")
    return None


def _fit(y: np.ndarray, leads: pl.DataFrame, factor_columns: list[str], quality: np.ndarray) -> Any:
    """The fitted logistic regression (None when it cannot be fitted: separation, a singular design)."""
    if not factor_columns:
        return None
    x = np.column_stack([leads[c].cast(pl.Float64).to_numpy() for c in factor_columns] + [quality])
    x = sm.add_constant(x, has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separation and convergence show as non-finite or huge errors below
        try:
            result = sm.Logit(y, x).fit(disp=0, maxiter=200, method="newton")
        except (np.linalg.LinAlgError, ValueError):
            return None
    if not result.mle_retvals.get("converged", False):
        return None
    return result


def _estimate(leads: pl.DataFrame, y: np.ndarray, outcome: Outcome, factor: Factor, fitted: Any,
              used: list[str], why_not: tuple[str, str] | None) -> dict[str, Any]:
    if why_not is not None:
        return _row(leads, y, outcome, factor, verdict=why_not[0], wording=why_not[1])
    if fitted is None:
        return _row(leads, y, outcome, factor, verdict=NO_ESTIMATE, wording=(
            f"The model could not be fitted for whether a lead {outcome.label} (too little variation in the "
            "data); no estimate is shown."))
    i = 1 + used.index(factor.column)
    beta, se, p = float(fitted.params[i]), float(fitted.bse[i]), float(fitted.pvalues[i])
    if not (math.isfinite(se) and se < MAX_SE):
        return _row(leads, y, outcome, factor, verdict=NO_ESTIMATE, wording=(
            f"The data cannot separate {factor.label} from the other factors for whether a lead "
            f"{outcome.label}; no estimate is shown."))
    odds, low, high = math.exp(beta), math.exp(beta - Z95 * se), math.exp(beta + Z95 * se)
    verdict = NO_CLEAR if low <= 1 <= high else ("associated with more" if low > 1 else "associated with fewer")
    return _row(leads, y, outcome, factor, odds_ratio=odds, ci_low=low, ci_high=high, p_value=p, verdict=verdict,
                wording=wording(factor, outcome, odds, low, high, p, leads.height))


def wording(factor: Factor, outcome: Outcome, odds: float, low: float, high: float, p: float, n: int) -> str:
    """One sentence on an estimate, in the words of association."""
    figures = f"adjusted odds ratio {odds:.2f}, 95% CI {low:.2f}–{high:.2f}, {_p(p)}, n = {n:,}"
    if low <= 1 <= high:
        return (f"No clear association: the data cannot tell whether leads with {factor.label} {outcome.label} "
                f"more or less often than similar leads with {factor.compared_with} ({figures}; the interval "
                "includes 1).")
    higher = low > 1
    return (f"{factor.label[0].upper()}{factor.label[1:]} is associated with {'higher' if higher else 'lower'} odds "
            f"that the lead {outcome.label}: such leads were followed by it {'more' if higher else 'less'} often "
            f"than similar leads with {factor.compared_with} ({figures}).")


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _row(leads: pl.DataFrame, y: np.ndarray, outcome: Outcome, factor: Factor, **values: Any) -> dict[str, Any]:
    x = leads[factor.column].cast(pl.Int8).to_numpy().astype(bool)
    return {"outcome": outcome.label, "factor": factor.label, "compared_with": factor.compared_with,
            "n": leads.height, "n_with": int(x.sum()),
            "rate_with": float(y[x].mean()) if x.any() else None,
            "rate_without": float(y[~x].mean()) if (~x).any() else None,
            "adjusted_for": "lead quality (" + ", ".join(QUALITY) + ") and the other first-week activities",
            **values}


def _rows(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=_SCHEMA)
