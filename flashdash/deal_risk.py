"""Deal risk: every open deal's warning signs, and the historical loss rate of closed deals that showed the same
signs at the same point.

A deal's signs at a moment `as_of`:
- stalled in stage: more days in its current stage than 75% of the completed spells in that stage took (the
  stage's p75, from at least MIN_SPELLS spells; a stage with fewer is not judged);
- no recent activity: no activity on its lead in the NO_ACTIVITY_DAYS days before;
- close date pushed: its expected close was moved later at least once, or it has passed;
- single contact: at most one person on the merchant's side engaged (when the store records contacts);
- low engagement: fewer than LOW_ACTIVITIES activities on its lead in the 30 days before and no email opened,
  clicked or replied to in them.

History: every closed deal is looked at as it stood at each weekly review while it was open (reviews every 7 days
counting back from `now`), with whether it was later lost. A pipeline on a given day holds deals in proportion to
how long they stay open, so these reviews look like the open deals of today do. A logistic regression of "lost" on
the signs and the stage (the point the deal had reached) gives each open deal its score: the loss rate of past
deals with the same signs at the same stage. It is judged out of time before it is used: fitted on the reviews of
deals closed before the last quarter of the review dates, tested on the reviews after it, against the base rate
(every deal scored as the average loss rate), with its AUC (95% interval from a bootstrap over deals), Brier score
and a calibration table. A model that lacks data or does not beat the base rate (a lower Brier score, and an AUC
whose interval is above 0.5) is not used: each deal then gets the base rate as its score and a level by its number
of signs (0 low, 1-2 medium, 3 or more high), and says so.

Levels: low below the base loss rate, high from HIGH_RATIO times it (capped half way to 1), medium between.
The signs are associations with losing, not causes: a deal may stall because it is already lost.

What the history cannot replay: the store keeps no history of a deal's contact count, so a closed deal's reviews
use the count it closed with (a little of the outcome may show through it); and the test reviews near `now` hold
only the deals that have closed since, the quicker ones, while slower ones are still open.
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
from scipy.stats import mannwhitneyu
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from flashdash.access import Actor
from flashdash.store import Store

OPEN_STAGES = ("discovery", "proposal", "negotiation")
NO_ACTIVITY_DAYS = 14
LOW_ACTIVITIES = 3  # activities in 30 days below which (with no email engagement) a deal counts as low engagement
MIN_SPELLS = 20  # completed spells of a stage before its p75 is trusted
MIN_DEALS = 100  # closed deals in the training reviews
MIN_EVENTS = 20  # training deals won, and lost
MIN_TEST_DEALS = 30  # deals in the test reviews (with both outcomes)
MIN_GROUP = 10  # deals with, and without, a sign before it is judged
MIN_SIMILAR = 30  # reviews with the same stage and signs before their raw loss rate is shown
TEST_SHARE = 0.25  # the latest quarter of review dates is the test period
HIGH_RATIO = 1.25
BOOTSTRAPS = 200
SEED = 20260630
Z95 = 1.959963984540054
NOT_ENOUGH = "not enough data"
NOT_RECORDED = "not recorded"
NO_CLEAR = "no clear association"


@dataclass(frozen=True)
class Sign:
    column: str
    label: str


SIGNS = (
    Sign("stalled", "stalled in stage"),
    Sign("no_recent_activity", f"no activity in {NO_ACTIVITY_DAYS} days"),
    Sign("close_pushed", "close date pushed or passed"),
    Sign("single_contact", "single contact"),
    Sign("low_engagement", "low engagement in 30 days"),
)
SIGN_COLUMNS = tuple(s.column for s in SIGNS)
_LABEL = {s.column: s.label for s in SIGNS}

_ASSESS_COLUMNS = ("opportunity_id", "lead_id", "owner_id", "rep", "merchant_name", "vertical", "stage", "amount",
                   "expected_close", "days_in_stage", "stage_p75_days", "days_since_activity", "activities_30d",
                   "contacts", "close_pushes", *SIGN_COLUMNS, "signs", "score", "level", "reasons",
                   "similar_reviews", "similar_loss_rate", "scored_by")
_CHECK_SCHEMA = {"sign": pl.String, "deals_with": pl.Int64, "loss_rate_with": pl.Float64,
                 "deals_without": pl.Int64, "loss_rate_without": pl.Float64, "reviews_with": pl.Int64,
                 "reviews": pl.Int64, "deals": pl.Int64, "odds_ratio": pl.Float64, "ci_low": pl.Float64,
                 "ci_high": pl.Float64, "verdict": pl.String, "wording": pl.String}


# ---------------------------------------------------------------- reads


def assess(store: Store, actor: Actor, now: datetime) -> pl.DataFrame:
    """Every open deal in the actor's scope with its signs, score (0-1, the loss rate of past deals with the same
    signs at the same stage), level (low / medium / high), reasons as sentences, and `scored_by` ("model" or the
    rule it fell back to). The model learns from every closed deal, as the scheduled refresh does, so a deal's
    score does not depend on who looks; riskiest first."""
    frame, _ = _assess(store, now, actor.scope_params())
    return frame


def check_against_history(store: Store, actor: Actor, now: datetime) -> pl.DataFrame:
    """Per sign, over the closed deals in the actor's scope at their weekly reviews: the deals that showed it and
    their loss rate against those that did not, the odds ratio of losing at the same stage (95% interval,
    clustered by deal), n, and a sentence in the words of association ("not enough data" below the minimums)."""
    scope = actor.scope_params()
    params = {"now": now, "history_all": scope["scope_all"], "history_reps": scope["scope_reps"],
              "open_all": False, "open_reps": []}
    with store.read() as con:
        points = store.frame("deal_risk_points", con, **params)
        spells = store.frame("deal_risk_spells", con, **params)
    history = with_signs(points.filter(~pl.col("is_open")), stage_p75(spells))
    return pl.DataFrame([_check_sign(history, s) for s in SIGNS], schema=_CHECK_SCHEMA)


def latest(store: Store, actor: Actor) -> dict[str, Any]:
    """The last refresh's risks of the open deals in the actor's scope: {"deals" (frame, riskiest first, reasons
    as a list of sentences), "run" (the refresh's evaluation: whether the model was used and why, AUC with its
    interval, Brier against the base rate, calibration, n, dates), "computed_at"}; deals empty and run None
    before the first refresh."""
    with store.read() as con:
        deals = store.frame("deal_risk_stored", con, **actor.scope_params())
        runs = store.frame("deal_risk_latest_run", con)
    deals = deals.with_columns(pl.col("reasons").map_elements(lambda r: json.loads(r) if r else [],
                                                              return_dtype=pl.List(pl.String)))
    if runs.is_empty():
        return {"deals": deals, "run": None, "computed_at": None}
    run = runs.row(0, named=True)
    return {"deals": deals, "run": json.loads(run["payload"]), "computed_at": run["computed_at"]}


# ---------------------------------------------------------------- the job


def refresh_deal_risk(store: Store, now: datetime) -> dict[str, Any]:
    """The scheduled refresh: scores every open deal, replaces deal_risks whole and records an analytics_runs row
    (kind 'deal_risk') with the evaluation, in one write. Returns {"deals": rows written, "levels": {level:
    count}, "model_used", "auc", "brier", "brier_base"}."""
    frame, evaluation = _assess(store, now, {"scope_all": True, "scope_reps": []})
    rows = frame.select("opportunity_id", "level", "score").with_columns(
        reasons=pl.Series([json.dumps(r) for r in frame["reasons"].to_list()], dtype=pl.String),
        computed_at=pl.lit(now))
    payload = {**evaluation, "deals": frame.height,
               "levels": {lvl: int((frame["level"] == lvl).sum()) for lvl in ("low", "medium", "high")}}
    with store.write() as con:
        store.run("deal_risk_clear", con)
        if rows.height:
            con.register("_deal_risks", rows.to_arrow())
            try:
                store.run("deal_risk_insert", con)
            finally:
                con.unregister("_deal_risks")
        store.run("deal_risk_run_insert", con, as_of=now, computed_at=now,
                  payload=json.dumps(payload, default=str))
    return {"deals": frame.height, "levels": payload["levels"], "model_used": evaluation["used"],
            "auc": evaluation.get("auc"), "brier": evaluation.get("brier"), "brier_base": evaluation.get("brier_base")}


def _assess(store: Store, now: datetime, scope: dict[str, Any]) -> tuple[pl.DataFrame, dict[str, Any]]:
    params = {"now": now, "history_all": True, "history_reps": [], "open_all": scope["scope_all"],
              "open_reps": scope["scope_reps"]}
    with store.read() as con:
        points = store.frame("deal_risk_points", con, **params)
        spells = store.frame("deal_risk_spells", con, **params)
        open_ids = points.filter(pl.col("is_open"))["opportunity_id"].to_list()
        labels = store.frame("deal_risk_deal_labels", con, ids=open_ids, **scope)
    history = points.filter(~pl.col("is_open"))
    evaluation = evaluate(history, spells)
    p75 = stage_p75(spells)
    model = fit(with_signs(history, p75)) if evaluation["used"] else None
    base = evaluation.get("base_rate_all")
    scored = score(with_signs(points.filter(pl.col("is_open")), p75), model, base, p75)
    scored = scored.join(labels, on=["opportunity_id", "lead_id", "owner_id"], how="inner")
    return scored.select(_ASSESS_COLUMNS).sort(["score", "amount", "opportunity_id"],
                                               descending=[True, True, False], nulls_last=True), evaluation


# ---------------------------------------------------------------- signs (pure, on frames)


def stage_p75(spells: pl.DataFrame, before: datetime | None = None) -> dict[str, dict[str, float]]:
    """Per open stage with at least MIN_SPELLS completed spells (that ended before `before`, when given): the
    days 75% of spells took at most ("p75") and how many spells ("n")."""
    done = spells if before is None else spells.filter(pl.col("left_at") <= before)
    days = done.with_columns(days=(pl.col("left_at") - pl.col("entered_at")).dt.total_seconds() / 86_400)
    out = {}
    for stage in OPEN_STAGES:
        d = days.filter(pl.col("stage") == stage)["days"]
        if d.len() >= MIN_SPELLS:
            out[stage] = {"p75": float(np.quantile(d.to_numpy(), 0.75)), "n": int(d.len())}
    return out


def with_signs(points: pl.DataFrame, p75: dict[str, dict[str, float]]) -> pl.DataFrame:
    """`points` (rows of deal_risk_points) with days in stage, days since the last activity and the five signs."""
    limits = pl.DataFrame({"stage": list(p75), "stage_p75_days": [v["p75"] for v in p75.values()]},
                          schema={"stage": pl.String, "stage_p75_days": pl.Float64})
    days = pl.duration(days=1).dt.total_seconds()
    return (points.join(limits, on="stage", how="left")
            .with_columns(days_in_stage=((pl.col("as_of") - pl.col("stage_since")).dt.total_seconds() / days),
                          days_since_activity=(pl.col("as_of") - pl.col("last_activity_at")).dt.total_seconds()
                          / days)
            .with_columns(
                stalled=(pl.col("days_in_stage") > pl.col("stage_p75_days")).fill_null(False),
                no_recent_activity=(pl.col("days_since_activity") > NO_ACTIVITY_DAYS).fill_null(True),
                close_pushed=((pl.col("close_pushes") > 0)
                              | (pl.col("expected_close") < pl.col("as_of").dt.date()).fill_null(False)),
                single_contact=(pl.col("contacts") <= 1).fill_null(False),
                low_engagement=(pl.col("activities_30d") < LOW_ACTIVITIES) & (pl.col("email_engagements_30d") == 0),
            ))


def _features(frame: pl.DataFrame, used: list[str]) -> np.ndarray:
    """The used signs and the stage (proposal and negotiation against discovery) as a design matrix."""
    cols = [frame[c].cast(pl.Float64).to_numpy() for c in used]
    cols += [(frame["stage"] == s).cast(pl.Float64).to_numpy() for s in OPEN_STAGES[1:]]
    return np.column_stack(cols) if cols else np.empty((frame.height, 0))


def usable_signs(history: pl.DataFrame) -> list[str]:
    """The signs the history can say something about: at least MIN_GROUP deals showed it at some review, and
    MIN_GROUP never did."""
    out = []
    for c in SIGN_COLUMNS:
        per_deal = history.group_by("opportunity_id").agg(pl.col(c).any())
        shown = int(per_deal[c].sum())
        if shown >= MIN_GROUP and per_deal.height - shown >= MIN_GROUP:
            out.append(c)
    return out


# ---------------------------------------------------------------- the model


@dataclass(frozen=True)
class Model:
    used: list[str]
    fitted: LogisticRegression
    base_rate: float
    history: pl.DataFrame  # the reviews it learned from (with signs): raw loss rates for the reasons


def fit(history: pl.DataFrame) -> Model | None:
    """A logistic regression of lost on the usable signs and the stage, over the history reviews (None when the
    history has too few deals or a single outcome)."""
    if history.is_empty() or history["lost"].n_unique() < 2:
        return None
    used = usable_signs(history)
    y = history["lost"].cast(pl.Int8).to_numpy()
    model = LogisticRegression(C=1.0, max_iter=1000).fit(_features(history, used), y)
    return Model(used=used, fitted=model, base_rate=float(y.mean()), history=history)


def predict(model: Model, frame: pl.DataFrame) -> np.ndarray:
    return model.fitted.predict_proba(_features(frame, model.used))[:, 1]


def evaluate(history: pl.DataFrame, spells: pl.DataFrame) -> dict[str, Any]:
    """Out of time: fit on the reviews (and stage spells) before the last TEST_SHARE of review dates, of deals
    closed by then; test on the reviews after. Returns whether the model is used and why, its AUC with a 95%
    bootstrap interval (over deals), Brier score against the base rate's, a calibration table, n and dates."""
    out: dict[str, Any] = {"model": "logistic regression of a later loss on the signs and the stage",
                           "used": False, "reviews": history.height,
                           "deals": int(history["opportunity_id"].n_unique())}
    if not history.is_empty():
        out["base_rate_all"] = float(history["lost"].cast(pl.Float64).mean())
        per_deal = history.unique("opportunity_id")
        out["deal_loss_rate"] = float(per_deal["lost"].cast(pl.Float64).mean())
    dates = history["as_of"].sort()
    if history.is_empty():
        out["why"] = "Not enough data: no closed deal was open at a weekly review yet."
        return out
    cutoff = dates[int(len(dates) * (1 - TEST_SHARE))]
    train_raw = history.filter((pl.col("as_of") < cutoff) & (pl.col("closed_at") <= cutoff))
    test_raw = history.filter(pl.col("as_of") >= cutoff)
    p75 = stage_p75(spells, before=cutoff)
    train, test = with_signs(train_raw, p75), with_signs(test_raw, p75)
    out.update({"cutoff": cutoff, "train_from": dates[0], "test_to": dates[-1],
                "train_reviews": train.height, "test_reviews": test.height,
                "train_deals": int(train["opportunity_id"].n_unique()),
                "test_deals": int(test["opportunity_id"].n_unique())})
    why = _too_little(train, test)
    if why:
        out["why"] = why
        return out
    model = fit(train)
    assert model is not None  # _too_little saw both outcomes
    p = predict(model, test)
    y = test["lost"].cast(pl.Int8).to_numpy()
    base = np.full(len(y), model.base_rate)
    auc = float(roc_auc_score(y, p))
    low, high = _bootstrap_auc(y, p, test["opportunity_id"].to_numpy())
    brier, brier_base = float(brier_score_loss(y, p)), float(brier_score_loss(y, base))
    out.update({"auc": auc, "auc_ci": [low, high], "brier": brier, "brier_base": brier_base,
                "base_rate": model.base_rate, "signs_used": [_LABEL[c] for c in model.used],
                "calibration": calibration(y, p), "stage_p75_days": {k: v["p75"] for k, v in p75.items()}})
    beats = brier < brier_base and low > 0.5
    out["used"] = beats
    out["why"] = (f"Used: on {out['test_deals']} deals reviewed after {cutoff:%Y-%m-%d} it ranks later losses "
                  f"above wins with AUC {auc:.2f} (95% CI {low:.2f}–{high:.2f}) and its Brier score {brier:.3f} "
                  f"beats the base rate's {brier_base:.3f}." if beats else
                  f"Not used: on {out['test_deals']} deals reviewed after {cutoff:%Y-%m-%d} it does not beat the base "
                  f"rate (AUC {auc:.2f}, 95% CI {low:.2f}–{high:.2f}; Brier {brier:.3f} against {brier_base:.3f}); "
                  "levels come from the number of signs instead.")
    return out


def _too_little(train: pl.DataFrame, test: pl.DataFrame) -> str | None:
    deals = train.unique("opportunity_id")
    lost = int(deals["lost"].sum()) if deals.height else 0
    test_deals = test.unique("opportunity_id")
    test_lost = int(test_deals["lost"].sum()) if test_deals.height else 0
    if deals.height < MIN_DEALS or min(lost, deals.height - lost) < MIN_EVENTS:
        return (f"Not enough data: the training period has {deals.height} closed deals ({lost} lost); the model "
                f"needs {MIN_DEALS}, with at least {MIN_EVENTS} won and {MIN_EVENTS} lost.")
    if test_deals.height < MIN_TEST_DEALS or min(test_lost, test_deals.height - test_lost) == 0:
        return (f"Not enough data: the test period has {test_deals.height} closed deals ({test_lost} lost); it "
                f"takes {MIN_TEST_DEALS}, won and lost, to judge the model.")
    return None


def _bootstrap_auc(y: np.ndarray, p: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """A 95% interval for the AUC, resampling whole deals (a deal's reviews are not independent)."""
    rng = np.random.default_rng(SEED)
    ids, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == i) for i in range(len(ids))]
    aucs = []
    for _ in range(BOOTSTRAPS):
        rows = np.concatenate([members[i] for i in rng.integers(0, len(ids), len(ids))])
        lost = y[rows] == 1
        if 0 < lost.sum() < len(rows):
            # the AUC is the Mann-Whitney U over the two groups' scores (sklearn's checks cost more than the sum)
            u = mannwhitneyu(p[rows][lost], p[rows][~lost], method="asymptotic", use_continuity=False).statistic
            aucs.append(u / (lost.sum() * (~lost).sum()))
    return float(np.quantile(aucs, 0.025)), float(np.quantile(aucs, 0.975))


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 5) -> list[dict[str, float]]:
    """Predicted against observed loss rate in bins of equal size by prediction (fewer when predictions tie)."""
    order = np.argsort(p, kind="stable")
    out = []
    for part in np.array_split(order, bins):
        if len(part):
            out.append({"predicted": float(p[part].mean()), "observed": float(y[part].mean()), "n": int(len(part))})
    return out


# ---------------------------------------------------------------- scoring open deals


def score(open_deals: pl.DataFrame, model: Model | None, base_rate: float | None,
          p75: dict[str, dict[str, float]]) -> pl.DataFrame:
    """Open deals (with signs) with score, level, reasons, the raw loss rate of similar past reviews, scored_by."""
    count = pl.sum_horizontal([pl.col(c).cast(pl.Int8) for c in SIGN_COLUMNS]).alias("signs")
    frame = open_deals.with_columns(count)
    base = float("nan") if base_rate is None else base_rate
    if model is not None:
        scores = predict(model, frame) if frame.height else np.empty(0)
        frame = frame.with_columns(score=pl.Series(scores, dtype=pl.Float64), scored_by=pl.lit("model"))
        high = min(HIGH_RATIO * model.base_rate, (1 + model.base_rate) / 2)
        level = (pl.when(pl.col("score") >= high).then(pl.lit("high"))
                 .when(pl.col("score") < model.base_rate).then(pl.lit("low")).otherwise(pl.lit("medium")))
        history = model.history
    else:
        frame = frame.with_columns(score=pl.lit(base, dtype=pl.Float64),
                                   scored_by=pl.lit("rule: base loss rate, level by the number of signs"))
        level = (pl.when(pl.col("signs") >= 3).then(pl.lit("high"))
                 .when(pl.col("signs") >= 1).then(pl.lit("medium")).otherwise(pl.lit("low")))
        history = None
    frame = frame.with_columns(level=level)
    frame = _similar(frame, history)
    rates = _sign_rates(history)
    reasons = [reasons_for(row, p75, rates) for row in frame.iter_rows(named=True)]
    return frame.with_columns(reasons=pl.Series(reasons, dtype=pl.List(pl.String)))


def _similar(frame: pl.DataFrame, history: pl.DataFrame | None) -> pl.DataFrame:
    """The reviews of past deals at the same stage with exactly the same signs, and their loss rate (shown from
    MIN_SIMILAR reviews)."""
    keys = ["stage", *SIGN_COLUMNS]
    if history is None or history.is_empty():
        return frame.with_columns(similar_reviews=pl.lit(0, dtype=pl.Int64),
                                  similar_loss_rate=pl.lit(None, dtype=pl.Float64))
    groups = history.group_by(keys).agg(similar_reviews=pl.len().cast(pl.Int64),
                                        similar_loss_rate=pl.col("lost").cast(pl.Float64).mean())
    return (frame.join(groups, on=keys, how="left")
            .with_columns(similar_reviews=pl.col("similar_reviews").fill_null(0),
                          similar_loss_rate=pl.when(pl.col("similar_reviews") >= MIN_SIMILAR)
                          .then(pl.col("similar_loss_rate"))))


def _sign_rates(history: pl.DataFrame | None) -> dict[str, tuple[float, float]]:
    """Per sign, the loss rate of past reviews with it and without it (both sides with MIN_SIMILAR reviews)."""
    if history is None:
        return {}
    out = {}
    for c in SIGN_COLUMNS:
        with_, without = history.filter(pl.col(c)), history.filter(~pl.col(c))
        if with_.height >= MIN_SIMILAR and without.height >= MIN_SIMILAR:
            out[c] = (float(with_["lost"].cast(pl.Float64).mean()), float(without["lost"].cast(pl.Float64).mean()))
    return out


def reasons_for(row: dict[str, Any], p75: dict[str, dict[str, float]],
                rates: dict[str, tuple[float, float]] | None = None) -> list[str]:
    """The deal's signs as sentences ("in negotiation 41 days; deals here usually move within 18"), each with the
    loss rate of past deals that showed it, when known."""
    out = []
    for c in SIGN_COLUMNS:
        if not row[c]:
            continue
        text = _sentence(c, row, p75)
        if rates and c in rates:
            text += f" (past deals with this sign were lost {rates[c][0]:.0%} of the time, others {rates[c][1]:.0%})"
        out.append(text)
    return out


def _sentence(column: str, row: dict[str, Any], p75: dict[str, dict[str, float]]) -> str:
    if column == "stalled":
        usual = p75[row["stage"]]["p75"]
        return f"in {row['stage']} {_days(row['days_in_stage'])}; deals here usually move within {_days(usual)}"
    if column == "no_recent_activity":
        if row["days_since_activity"] is None:
            return "no activity logged on the lead yet"
        return f"no activity on the lead for {_days(row['days_since_activity'])}"
    if column == "close_pushed":
        parts = []
        if row["close_pushes"]:
            times = "once" if row["close_pushes"] == 1 else f"{row['close_pushes']} times"
            parts.append(f"expected close pushed {times}")
        as_of = row["as_of"].date() if isinstance(row["as_of"], datetime) else row["as_of"]
        if row["expected_close"] is not None and row["expected_close"] < as_of:
            parts.append(f"expected close {row['expected_close']:%Y-%m-%d} has passed")
        elif row["expected_close"] is not None:
            parts.append(f"now expected {row['expected_close']:%Y-%m-%d}")
        return "; ".join(parts)
    if column == "single_contact":
        return "no contact engaged on the merchant's side" if row["contacts"] == 0 else \
            "only one contact engaged on the merchant's side"
    n = row["activities_30d"]
    return (f"{'no' if n == 0 else n} {'activity' if n == 1 else 'activities'} and no email opened, clicked or "
            "replied to in the last 30 days")


def _days(value: float) -> str:
    n = int(math.floor(value))
    return "1 day" if n == 1 else f"{n} days"


# ---------------------------------------------------------------- checking the signs against history


def _check_sign(history: pl.DataFrame, sign: Sign) -> dict[str, Any]:
    c = sign.column
    deals = history.group_by("opportunity_id").agg(pl.col(c).any(), pl.col("lost").first())
    shown, never = deals.filter(pl.col(c)), deals.filter(~pl.col(c))
    row: dict[str, Any] = {
        "sign": sign.label, "deals_with": shown.height, "deals_without": never.height,
        "loss_rate_with": _rate(shown), "loss_rate_without": _rate(never),
        "reviews_with": int(history[c].sum()) if history.height else 0, "reviews": history.height,
        "deals": deals.height}
    lost = int(deals["lost"].sum()) if deals.height else 0
    if c == "single_contact" and history.height and history["contacts"].is_null().all():
        return {**row, "verdict": NOT_RECORDED,
                "wording": "Not recorded: the store has no contact counts on its deals, so this sign is not judged."}
    if deals.height < MIN_DEALS or min(lost, deals.height - lost) < MIN_EVENTS:
        return {**row, "verdict": NOT_ENOUGH, "wording": (
            f"Not enough data: {deals.height} closed deals ({lost} lost) were reviewed while open; it takes "
            f"{MIN_DEALS}, with {MIN_EVENTS} won and {MIN_EVENTS} lost.")}
    if min(shown.height, never.height) < MIN_GROUP:
        return {**row, "verdict": NOT_ENOUGH, "wording": (
            f"Not enough data: {shown.height} deals showed {sign.label} at a review and {never.height} never did; "
            f"it takes {MIN_GROUP} on each side.")}
    estimate = _odds_ratio(history, c)
    if estimate is None:
        return {**row, "verdict": NOT_ENOUGH,
                "wording": f"No estimate: the history cannot separate {sign.label} from the stage."}
    odds, low, high = estimate
    verdict = NO_CLEAR if low <= 1 <= high else \
        ("associated with more losses" if low > 1 else "associated with fewer losses")
    figures = (f"odds ratio {odds:.2f} at the same stage, 95% CI {low:.2f}–{high:.2f}; {shown.height} deals showed it, "
               f"{_pct(row['loss_rate_with'])} of them lost, against {_pct(row['loss_rate_without'])} of the "
               f"{never.height} that never did; n = {history.height:,} weekly reviews of {deals.height:,} deals")
    if verdict == NO_CLEAR:
        wording = f"No clear association between {sign.label} and losing the deal ({figures})."
    else:
        wording = (f"{sign.label[0].upper()}{sign.label[1:]} at a review is {verdict.replace('losses', 'later losses')}"
                   f" ({figures}).")
    return {**row, "odds_ratio": odds, "ci_low": low, "ci_high": high, "verdict": verdict, "wording": wording}


def _odds_ratio(history: pl.DataFrame, column: str) -> tuple[float, float, float] | None:
    """The odds ratio of a later loss for reviews with the sign, adjusted for the stage, with a 95% interval from
    standard errors clustered by deal; None when the fit fails."""
    x = sm.add_constant(_features(history, [column]), has_constant="add")
    keep = [0, 1] + [i for i in range(2, x.shape[1]) if np.ptp(x[:, i]) > 0]
    y = history["lost"].cast(pl.Int8).to_numpy()
    groups = history["opportunity_id"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = sm.Logit(y, x[:, keep]).fit(disp=0, maxiter=200, cov_type="cluster",
                                                 cov_kwds={"groups": groups})
        except (np.linalg.LinAlgError, ValueError):
            return None
    beta, se = float(result.params[1]), float(result.bse[1])
    if not (math.isfinite(se) and se < 5):
        return None
    return math.exp(beta), math.exp(beta - Z95 * se), math.exp(beta + Z95 * se)


def _rate(deals: pl.DataFrame) -> float | None:
    return float(deals["lost"].cast(pl.Float64).mean()) if deals.height else None


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"
