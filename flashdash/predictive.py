"""The predictive foundation: a conversion-probability model for leads, its card, and its scores.

The model answers "will this lead be won within `horizon_days` of submission?" (the setting
scoring.horizon_days, 90 days unless an admin changes it) from what is known in the lead's first week. It is a logistic regression over one-hot and standardised features, so every
score splits exactly into per-feature contributions (the factors shown beside it). A field with many
values (the landing page: Olist has hundreds) enters as its smoothed win rate in the training period,
cross-fitted so that no lead's own outcome feeds its feature. It is judged on an
out-of-time split against a transparent rule (the conversion rate of the lead's channel); when it does
not beat that rule, or there is too little history, scores come from the rule and say so.

Beside the global model ("conversion"), every vertical with enough history gets a model of its own
("conversion:vertical=<name>"), fitted on that vertical's training leads and judged on its test leads
against the global model's scores of the same leads; it scores its vertical only when it beats both the
global model and the baseline rule there. The models of one training run are saved together: the vertical
cards name the global card they were trained with, and a newer global card retires them.

Scoring (the blend with the rules, the breakdown, real-time rescoring) lives in flashdash.scoring; the
page-facing functions here (`scores`, `score_all`, `store_scores`) call it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

from flashdash import clock
from flashdash.access import Actor
from flashdash.entities import LEAD_STATUSES
from flashdash.filters import Filters
from flashdash.store import Store

MODEL = "conversion"
VERTICAL_PREFIX = f"{MODEL}:vertical="  # a vertical's model: "conversion:vertical=restaurants"
CARD_VERSION = 2
DEFAULT_MODELS_DIR = Path("models")
# Days from submission to a win that counts. 90 rather than 120: a shorter label is known sooner (more
# recent leads in training), and the question a rep asks of a new lead is "this quarter?".
DEFAULT_HORIZON = 90
HORIZON_SETTING = "scoring.horizon_days"
# A vertical gets its own model only with this much history in the training period (settings
# scoring.min_vertical_leads and scoring.min_vertical_wins). Why 1,000 leads and 100 wins: the model has
# about 30 columns, and penalised logistic regression needs a few wins per column to learn more than noise
# (100 wins: ~3 per column, with the L2 penalty shrinking the rest); a vertical with 100 training wins has
# about 33 in its test quarter, where the standard error of an AUC near 0.8 is ~0.04. Below that the
# comparison with the global model (which must be beaten by 0.01 AUC, on the same leads, paired) is mostly
# noise. Salesforce Einstein asks for 1,000 leads and 120 conversions per segment: the same order.
MIN_VERTICAL_LEADS = 1_000
MIN_VERTICAL_WINS = 100
MIN_VERTICAL_LEADS_SETTING = "scoring.min_vertical_leads"
MIN_VERTICAL_WINS_SETTING = "scoring.min_vertical_wins"
NO_VERTICAL = "(none)"  # leads without a vertical: scored by the global model, never a model of their own
OPEN_STATUSES = ("new", "mql", "sql", "opportunity")
MIN_LABELLED = 500
MIN_WINS = 30
TEST_SHARE = 0.25
RANDOM_STATE = 42
C = 1.0  # inverse regularisation strength of the logistic regression
HIGH_RATIO = 1.5  # band "high": at least 1.5x the base rate
LOW_RATIO = 2 / 3  # band "low": under two-thirds of the base rate
MIN_FACTOR = 0.05  # |log-odds| below this is noise, not a factor worth naming

CATEGORICAL = ("interest_level", "channel", "vertical", "company_size", "region")
# Too many values to one-hot: each value becomes its win rate in the training period, shrunk towards the
# overall rate as if RATE_PRIOR_LEADS more leads had won at that rate (a page seen 5 times says little).
RATE_ENCODED = ("landing_page",)
RATE_PRIOR_LEADS = 20.0
RATE_FOLDS = 5
NUMERIC = ("has_campaign", "log_volume", "log_response_hours", "response_missing",
           "calls_7d", "emails_7d", "meetings_7d", "demos_7d")
# Model columns grouped into the features a person reads: the response time and its missing flag are one.
GROUP = {"log_volume": "monthly_volume", "log_response_hours": "first_response",
         "response_missing": "first_response"}
FEATURE_LABELS = {
    "interest_level": "interest level", "channel": "channel", "vertical": "vertical",
    "company_size": "company size", "region": "region", "landing_page": "landing page", "has_campaign": "campaign",
    "monthly_volume": "monthly volume", "first_response": "first response", "calls_7d": "calls in week 1",
    "emails_7d": "emails in week 1", "meetings_7d": "meetings in week 1", "demos_7d": "demos in week 1",
}
ALGORITHM = f"logistic regression (one-hot, landing-page win rate + standardised features, C={C})"
BASELINE_RULE = "conversion rate of the lead's channel in the training period"
RATES_SCHEMA = {"channel": pl.String, "leads": pl.Int64, "wins": pl.Int64, "rate": pl.Float64}  # its table

# Fitted pipelines by file: (mtime, size, pipeline, sha256). Real-time rescoring reads models from here,
# so a lead is scored in milliseconds; a retrain writes a new file (new mtime) and it is read again.
_LOADED: dict[str, tuple[float, int, Pipeline, str]] = {}
_MAX_LOADED = 64


def models_dir(store: Store | None = None) -> Path:
    """Where model artifacts live: FLASHDASH_MODELS, else models/<store name>/ (stores never share a model)."""
    pinned = os.environ.get("FLASHDASH_MODELS")
    if pinned:
        return Path(pinned)
    return Path(DEFAULT_MODELS_DIR) / (store.path.stem if store is not None else "")


def model_name(vertical: str | None = None) -> str:
    """The model_cards name of the global model (None) or of a vertical's model."""
    return MODEL if vertical is None else f"{VERTICAL_PREFIX}{vertical}"


def _file_stem(name: str) -> str:
    # Vertical names are free text ("health & beauty"): a slug to read and a hash to keep names apart.
    if name == MODEL:
        return MODEL
    vertical = name.removeprefix(VERTICAL_PREFIX)
    slug = re.sub(r"[^a-z0-9]+", "-", vertical.lower()).strip("-")[:40] or "vertical"
    return f"{MODEL}.vertical-{slug}-{hashlib.sha256(vertical.encode()).hexdigest()[:8]}"


def model_path(store: Store | None = None, name: str = MODEL) -> Path:
    return models_dir(store) / f"{_file_stem(name)}.joblib"


def card_path(store: Store | None = None, name: str = MODEL) -> Path:
    return models_dir(store) / f"{_file_stem(name)}.card.json"


def setting_int(store: Store, key: str, default: int, con: Any = None) -> int:
    """A positive whole-number setting from the settings table, else `default` (saving validates them)."""
    value = store.scalar("setting", con, key=key)
    try:
        number = int(str(value))
    except ValueError:
        return default
    return number if number > 0 else default


def horizon_setting(store: Store, con: Any = None) -> int:
    """The label's horizon in days: the setting scoring.horizon_days, else DEFAULT_HORIZON."""
    return setting_int(store, HORIZON_SETTING, DEFAULT_HORIZON, con)


# ---------------------------------------------------------------- metrics (pure)


def _arrays(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(y, dtype=float), np.clip(np.asarray(p, dtype=float), 0.0, 1.0)


def calibration_bins(y: Any, p: Any, bins: int = 10) -> pl.DataFrame:
    """Mean predicted vs observed rate in equal-width probability bins (empty bins left out)."""
    y, p = _arrays(y, p)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    frame = pl.DataFrame({"bin": idx, "y": y, "p": p})
    return (
        frame.group_by("bin")
        .agg(predicted=pl.col("p").mean(), observed=pl.col("y").mean(), count=pl.len())
        .with_columns(lower=pl.col("bin") / bins, upper=(pl.col("bin") + 1) / bins, count=pl.col("count").cast(pl.Int64))
        .select("bin", "lower", "upper", "predicted", "observed", "count")
        .sort("bin")
    )


def expected_calibration_error(y: Any, p: Any, bins: int = 10) -> float:
    """ECE: the count-weighted mean gap between predicted and observed rate over equal-width bins."""
    cal = calibration_bins(y, p, bins)
    n = cal["count"].sum()
    if not n:
        return float("nan")
    return float(((cal["predicted"] - cal["observed"]).abs() * cal["count"]).sum() / n)


def lift_by_decile(y: Any, p: Any) -> pl.DataFrame:
    """Leads ranked by score and cut into ten equal groups (1 = highest scores): win rate and lift."""
    y, p = _arrays(y, p)
    n = len(y)
    if n == 0:
        return pl.DataFrame(schema={"decile": pl.Int64, "leads": pl.Int64, "wins": pl.Int64,
                                    "predicted": pl.Float64, "rate": pl.Float64, "lift": pl.Float64})
    order = np.argsort(-p, kind="stable")  # ties keep their input order: deterministic
    decile = np.empty(n, dtype=np.int64)
    decile[order] = np.arange(n) * 10 // n + 1
    overall = y.mean()
    return (
        pl.DataFrame({"decile": decile, "y": y, "p": p})
        .group_by("decile")
        .agg(leads=pl.len().cast(pl.Int64), wins=pl.col("y").sum().cast(pl.Int64), predicted=pl.col("p").mean(),
             rate=pl.col("y").mean())
        .with_columns(lift=(pl.col("rate") / overall) if overall > 0 else pl.lit(None, dtype=pl.Float64))
        .sort("decile")
    )


def evaluate(y: Any, p: Any) -> dict[str, float | None]:
    """AUC, Brier score, log loss and ECE of probabilities `p` for outcomes `y`."""
    y, p = _arrays(y, p)
    both = len(np.unique(y)) == 2
    return {
        "auc": float(roc_auc_score(y, p)) if both else None,
        "brier": float(brier_score_loss(y, p)) if len(y) else None,
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])) if len(y) else None,
        "ece": expected_calibration_error(y, p) if len(y) else None,
    }


def beats(model: dict[str, float | None], baseline: dict[str, float | None], margin: float = 0.01) -> bool:
    """The model earns its place: AUC above the baseline's by `margin`, and a Brier score no worse."""
    if model["auc"] is None or baseline["auc"] is None or model["brier"] is None or baseline["brier"] is None:
        return False
    return model["auc"] > baseline["auc"] + margin and model["brier"] <= baseline["brier"]


# ---------------------------------------------------------------- the baseline rule (pure)


def channel_rates(train: pl.DataFrame) -> pl.DataFrame:
    """The baseline rule's table: leads, wins and conversion rate per channel in the training frame."""
    return (
        train.group_by("channel")
        .agg(leads=pl.len().cast(pl.Int64), wins=pl.col("label").sum().cast(pl.Int64))
        .with_columns(rate=pl.col("wins") / pl.col("leads"))
        .sort("channel")
    )


def baseline_scores(frame: pl.DataFrame, rates: pl.DataFrame, overall: float) -> pl.Series:
    """The baseline probability of each lead: its channel's rate, or the overall rate for a channel never seen."""
    joined = frame.select("channel").join(rates.select("channel", "rate"), on="channel", how="left",
                                          maintain_order="left")
    return joined["rate"].fill_null(overall).alias("probability")


def band(probability: float | None, base_rate: float | None) -> str:
    """high / medium / low against the base rate; unknown when either is missing."""
    if probability is None or base_rate is None or base_rate <= 0:
        return "unknown"
    if probability >= HIGH_RATIO * base_rate:
        return "high"
    if probability < LOW_RATIO * base_rate:
        return "low"
    return "medium"


# ---------------------------------------------------------------- factors (pure)


def describe(feature: str, row: dict[str, Any]) -> str:
    """The lead's value of a feature, as a person would say it."""
    if feature in CATEGORICAL or feature in RATE_ENCODED:
        return f"{FEATURE_LABELS[feature]} {row.get(feature) or '(none)'}"
    if feature == "has_campaign":
        return "from a campaign" if row.get("has_campaign") else "no campaign"
    if feature == "monthly_volume":
        vol = row.get("monthly_volume")
        return "monthly volume unknown" if vol is None else f"monthly volume ${_short(vol)}"
    if feature == "first_response":
        hours = row.get("response_hours")
        return "no response in week 1" if hours is None else f"first response after {hours:.1f} h"
    n = int(row.get(feature) or 0)
    noun = feature.removesuffix("_7d").removesuffix("s")
    return f"{n} {noun}{'' if n == 1 else 's'} in week 1"


def _short(value: float) -> str:
    return f"{value / 1e6:.1f}M" if value >= 1e6 else f"{value / 1e3:.0f}k" if value >= 1e3 else f"{value:.0f}"


def factor_text(contributions: dict[str, float], labels: dict[str, str], up: int = 2,
                down: int = 1) -> tuple[str, str]:
    """The features that raised and lowered a score most, as "label (×odds)" joined by "; "."""
    ranked = sorted(contributions.items(), key=lambda kv: kv[1], reverse=True)
    raises = [(f, c) for f, c in ranked if c >= MIN_FACTOR][:up]
    lowers = [(f, c) for f, c in reversed(ranked) if c <= -MIN_FACTOR][:down]

    def text(items: list[tuple[str, float]]) -> str:
        return "; ".join(f"{labels.get(f, f)} (×{math.exp(c):.2f} odds)" for f, c in items)

    return text(raises), text(lowers)


# ---------------------------------------------------------------- the training frame


def _all_params(d0: date, d1: date) -> dict[str, Any]:
    """The scoped_leads parameters for every lead in a date range (training sees the whole book)."""
    return {"scope_all": True, "scope_reps": [], "d0": d0, "d1": d1, "teams": [], "regions": [], "reps": [],
            "verticals": [], "channels": [], "statuses": list(LEAD_STATUSES), "lead_ids": []}


EVER = (date(1900, 1, 1), date(9999, 12, 30))


def lead_features(store: Store, con: Any = None, lead_ids: list[int] | None = None,
                  statuses: tuple[str, ...] = OPEN_STATUSES) -> pl.DataFrame:
    """pred_lead_features for every lead in `statuses` (no user's scope: the scheduler's view), or the given ones."""
    return store.frame("pred_lead_features", con, **{**_all_params(*EVER), "statuses": list(statuses),
                                                      "lead_ids": list(lead_ids or [])})


def training_frame(store: Store, now: datetime, horizon_days: int, con: Any = None) -> pl.DataFrame:
    """Leads submitted at least `horizon_days` before `now`, with their features and label (won in time)."""
    cutoff = now - timedelta(days=horizon_days)
    frame = store.frame("pred_lead_features", con, **_all_params(date(1900, 1, 1), cutoff.date()))
    return label(frame, cutoff, horizon_days)


def label(frame: pl.DataFrame, cutoff: datetime, horizon_days: int) -> pl.DataFrame:
    """Keep leads submitted by `cutoff`; label 1 when won within `horizon_days` of submission."""
    window = pl.col("submitted_at") + pl.duration(days=horizon_days)
    return frame.filter(pl.col("submitted_at") <= cutoff).with_columns(
        label=(pl.col("won_at").is_not_null() & (pl.col("won_at") <= window)).cast(pl.Int64)
    )


def split_out_of_time(frame: pl.DataFrame, test_share: float = TEST_SHARE) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Earliest (1 - test_share) by submission time train, the rest test; a tie never straddles the split."""
    frame = frame.sort("submitted_at", "id")
    if frame.height < 2:
        return frame, frame.clear()
    boundary = frame["submitted_at"][int(frame.height * (1 - test_share))]
    return frame.filter(pl.col("submitted_at") < boundary), frame.filter(pl.col("submitted_at") >= boundary)


# ---------------------------------------------------------------- the model


def build_pipeline() -> Pipeline:
    # The rate encoder cross-fits on the training leads (each lead's rate comes from the other folds), so
    # the model cannot learn to trust a rate that contains the lead's own outcome; scoring uses the rates of
    # the whole training period. An unseen value gets the overall rate.
    rates = TargetEncoder(target_type="binary", smooth=RATE_PRIOR_LEADS,
                          cv=StratifiedKFold(RATE_FOLDS, shuffle=True, random_state=RANDOM_STATE))
    prep = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(CATEGORICAL)),
         ("rate", rates, list(RATE_ENCODED)),
         ("num", SimpleImputer(strategy="median", keep_empty_features=True), list(NUMERIC))],
        sparse_threshold=0.0,
    )
    # Scaling after the one-hot puts every column on one scale, so coef x value is comparable across
    # features and the training mean of every column is 0: a contribution is a deviation from the average lead.
    return Pipeline([("prep", prep), ("scale", StandardScaler()),
                     ("model", LogisticRegression(C=C, max_iter=2000, random_state=RANDOM_STATE))])


def _x(frame: pl.DataFrame, pipe: Pipeline | None = None) -> Any:
    # The sklearn boundary: pandas in, because ColumnTransformer selects columns by name. A fitted pipeline
    # gets the columns it was fitted on (a model saved before a feature was added still scores).
    fitted = getattr(pipe, "feature_names_in_", None)
    names = list(fitted) if fitted is not None else [*CATEGORICAL, *RATE_ENCODED, *NUMERIC]
    return frame.select(names).to_pandas()


def column_groups(pipe: Pipeline) -> list[str]:
    """The person-readable feature each transformed column belongs to, in column order."""
    enc: OneHotEncoder = pipe.named_steps["prep"].named_transformers_["cat"]
    groups = [f for f, cats in zip(CATEGORICAL, enc.categories_, strict=True) for _ in cats]
    # a model saved before the rate-encoded features existed has none of them (it scores until retrained)
    rated = list(RATE_ENCODED) if "rate" in pipe.named_steps["prep"].named_transformers_ else []
    return groups + rated + [GROUP.get(f, f) for f in NUMERIC]


def intercept(pipe: Pipeline) -> float:
    """The log-odds of the average training lead (every standardised column at its training mean, 0)."""
    return float(pipe.named_steps["model"].intercept_[0])


def contributions(pipe: Pipeline, frame: pl.DataFrame) -> pl.DataFrame:
    """Per-lead log-odds contribution of each feature, relative to the average training lead: the
    intercept plus a lead's contributions is its log-odds (what predict_proba turns into a probability)."""
    z = pipe[:-1].transform(_x(frame, pipe))
    coef = pipe.named_steps["model"].coef_[0]
    per_column = z * coef
    groups = column_groups(pipe)
    names = list(dict.fromkeys(groups))
    summed = {g: per_column[:, [i for i, c in enumerate(groups) if c == g]].sum(axis=1) for g in names}
    return pl.DataFrame(summed)


def importance(pipe: Pipeline, frame: pl.DataFrame) -> pl.DataFrame:
    """Global importance: the mean absolute contribution of each feature over `frame`."""
    contrib = contributions(pipe, frame)
    return (
        pl.DataFrame({"feature": contrib.columns,
                      "importance": [float(contrib[c].abs().mean()) for c in contrib.columns]})
        .with_columns(label=pl.col("feature").replace_strict(FEATURE_LABELS, default=pl.col("feature")))
        .sort("importance", descending=True)
    )


def predict(pipe: Pipeline, frame: pl.DataFrame) -> np.ndarray:
    """The pipeline's probability of a win for each row of `frame`."""
    return pipe.predict_proba(_x(frame, pipe))[:, 1]


_predict = predict

QUANTILES = 101  # the percentiles 0..100 of the training leads' log-odds: where a lead stands among them


def logit_quantiles(pipe: Pipeline, train: pl.DataFrame) -> list[float]:
    """The log-odds of the training leads at each percentile (strictly increasing, so it interpolates)."""
    logits = np.asarray(pipe.decision_function(_x(train, pipe)), dtype=float)
    q = np.quantile(logits, np.linspace(0, 1, QUANTILES)) if logits.size else np.zeros(QUANTILES)
    return [float(v) for v in np.maximum.accumulate(q + np.arange(QUANTILES) * 1e-9)]


# ---------------------------------------------------------------- training


def _span(frame: pl.DataFrame) -> dict[str, Any]:
    n = frame.height
    wins = int(frame["label"].sum()) if n else 0
    return {
        "n": n, "wins": wins, "positive_rate": wins / n if n else None,
        "start": frame["submitted_at"].min().isoformat() if n else None,
        "end": frame["submitted_at"].max().isoformat() if n else None,
    }


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in frame.iter_rows(named=True)]


def _insufficiency(labelled: pl.DataFrame, test: pl.DataFrame) -> str | None:
    wins = int(labelled["label"].sum()) if labelled.height else 0
    if labelled.height < MIN_LABELLED:
        return f"only {labelled.height:,} leads are old enough to be labelled (the model needs {MIN_LABELLED:,})"
    if wins < MIN_WINS:
        return f"only {wins:,} of the labelled leads were won (the model needs {MIN_WINS:,})"
    if test["label"].n_unique() < 2:
        return "the test period has only one outcome, so the model cannot be judged"
    return None


def _base_card(now: datetime, horizon_days: int, labelled: pl.DataFrame, train: pl.DataFrame,
               test: pl.DataFrame, rates: pl.DataFrame, overall: float | None, name: str = MODEL) -> dict[str, Any]:
    return {
        "model": name, "version": CARD_VERSION, "trained_at": now.isoformat(),
        "horizon_days": horizon_days,
        "label": f"won within {horizon_days} days of submission",
        "algorithm": ALGORITHM, "features": [FEATURE_LABELS[f] for f in dict.fromkeys(
            [*CATEGORICAL, *RATE_ENCODED, *(GROUP.get(f, f) for f in NUMERIC)])],
        "cutoff": (now - timedelta(days=horizon_days)).isoformat(),
        "labelled": _span(labelled), "train": _span(train), "test": _span(test),
        "baseline": {"rule": BASELINE_RULE, "overall_rate": overall, "rates": _records(rates)},
        "status": "ok", "reason": None, "beats_baseline": False,
    }


def _judged(pipe: Pipeline, train: pl.DataFrame, y: np.ndarray, p_model: np.ndarray,
            p_base: np.ndarray) -> dict[str, Any]:
    """The card's figures for a fitted model: metrics against the baseline, calibration, lift, importance."""
    metrics, base_metrics = evaluate(y, p_model), evaluate(y, p_base)
    weights = importance(pipe, train)
    return {
        "logit_quantiles": logit_quantiles(pipe, train),
        "metrics": metrics, "baseline_metrics": base_metrics, "beats_baseline": beats(metrics, base_metrics),
        "calibration": {"model": _records(calibration_bins(y, p_model)),
                        "baseline": _records(calibration_bins(y, p_base))},
        "lift": {"model": _records(lift_by_decile(y, p_model)), "baseline": _records(lift_by_decile(y, p_base))},
        "importance": _records(weights.filter(pl.col("importance") > 0)),
        # e.g. an import without interest levels or activities: features with one value for every lead
        "constant_features": weights.filter(pl.col("importance") == 0)["label"].to_list(),
    }


def _baseline_of(train: pl.DataFrame, labelled: pl.DataFrame) -> tuple[pl.DataFrame, float | None]:
    rates = channel_rates(train if train.height else labelled)
    overall = float(train["label"].mean()) if train.height else (
        float(labelled["label"].mean()) if labelled.height else None)
    return rates, overall


def _fit_global(labelled: pl.DataFrame, train: pl.DataFrame, test: pl.DataFrame, now: datetime,
                horizon_days: int) -> tuple[dict[str, Any], Pipeline | None]:
    rates, overall = _baseline_of(train, labelled)
    card = _base_card(now, horizon_days, labelled, train, test, rates, overall)
    reason = _insufficiency(labelled, test)
    if reason:
        card.update(status="insufficient_data", reason=reason)
        return card, None
    pipe = build_pipeline().fit(_x(train), train["label"].to_numpy())
    y = test["label"].to_numpy()
    card.update(_judged(pipe, train, y, predict(pipe, test), baseline_scores(test, rates, overall).to_numpy()))
    return card, pipe


def fit(labelled: pl.DataFrame, now: datetime, horizon_days: int) -> tuple[dict[str, Any], Pipeline | None]:
    """Split, fit, evaluate against the baseline: the card and the fitted pipeline (None without enough data)."""
    train, test = split_out_of_time(labelled)
    return _fit_global(labelled, train, test, now, horizon_days)


def vertical_insufficiency(train: pl.DataFrame, test: pl.DataFrame, min_leads: int, min_wins: int) -> str | None:
    """Why a vertical's history is too thin for a model of its own; None when it is enough."""
    wins = int(train["label"].sum()) if train.height else 0
    if train.height < min_leads:
        return f"only {train.height:,} training leads (a vertical model needs {min_leads:,})"
    if wins < min_wins:
        return f"only {wins:,} of its training leads were won (a vertical model needs {min_wins:,})"
    if test["label"].n_unique() < 2:
        return f"its {test.height:,} test leads have only one outcome, so it cannot be judged"
    return None


def vertical_verdict(metrics: dict[str, float | None], global_metrics: dict[str, float | None],
                     baseline_metrics: dict[str, float | None], test_leads: int) -> tuple[bool, str]:
    """Whether a vertical's model replaces the global one for that vertical, and why (in words).

    It must beat the global model's scores of the same test leads and the baseline rule there (`beats`:
    0.01 more AUC and a Brier score no worse); the global model stays otherwise.
    """
    auc = f"AUC {_fmt(metrics['auc'], 3)} vs {_fmt(global_metrics['auc'], 3)}"
    if not beats(metrics, global_metrics):
        return False, (f"not used: it does not beat the global model on its {test_leads:,} test leads ({auc}, "
                       f"Brier {_fmt(metrics['brier'], 4)} vs {_fmt(global_metrics['brier'], 4)})")
    if not beats(metrics, baseline_metrics):
        return False, (f"not used: it does not beat the baseline rule on its {test_leads:,} test leads (AUC "
                       f"{_fmt(metrics['auc'], 3)} vs {_fmt(baseline_metrics['auc'], 3)})")
    return True, f"used: {auc} for the global model on its {test_leads:,} test leads"


def fit_vertical(vertical: str, train: pl.DataFrame, test: pl.DataFrame, global_card: dict[str, Any],
                 global_pipe: Pipeline | None, min_leads: int, min_wins: int) -> tuple[dict[str, Any], Pipeline | None]:
    """A model of `vertical`'s own: fitted on its leads of the global training period, judged on its leads of
    the global test period (so the global model's scores of them are out of time too). The card says
    whether it is used, and why."""
    tv, sv = train.filter(pl.col("vertical") == vertical), test.filter(pl.col("vertical") == vertical)
    base = global_card["baseline"]
    rates = pl.DataFrame(base["rates"], schema=RATES_SCHEMA)
    now = datetime.fromisoformat(global_card["trained_at"])
    card = _base_card(now, global_card["horizon_days"], pl.concat([tv, sv]), tv, sv, rates, base["overall_rate"],
                      name=model_name(vertical))
    card.update(vertical=vertical, used=False, beats_global=False, min_leads=min_leads, min_wins=min_wins,
                global_card_id=None)
    reason = ("the global model lacks data, so no vertical model is trained" if global_pipe is None
              else vertical_insufficiency(tv, sv, min_leads, min_wins))
    if reason:
        card.update(status="insufficient_data", reason=f"not used: {reason}")
        return card, None
    pipe = build_pipeline().fit(_x(tv), tv["label"].to_numpy())
    y = sv["label"].to_numpy()
    card.update(_judged(pipe, tv, y, predict(pipe, sv), baseline_scores(sv, rates, base["overall_rate"]).to_numpy()))
    card["global_metrics"] = evaluate(y, predict(global_pipe, sv))
    card["beats_global"] = beats(card["metrics"], card["global_metrics"])
    card["used"], card["reason"] = vertical_verdict(card["metrics"], card["global_metrics"],
                                                    card["baseline_metrics"], sv.height)
    return card, pipe


def vertical_summary(card: dict[str, Any]) -> dict[str, Any]:
    """One line of the global card's list of vertical models: what was decided and why."""
    return {"vertical": card["vertical"], "model": card["model"], "status": card["status"], "used": card["used"],
            "reason": card["reason"], "train": card["train"]["n"], "train_wins": card["train"]["wins"],
            "test": card["test"]["n"], "auc": (card.get("metrics") or {}).get("auc"),
            "global_auc": (card.get("global_metrics") or {}).get("auc")}


def fit_all(labelled: pl.DataFrame, now: datetime, horizon_days: int, min_leads: int = MIN_VERTICAL_LEADS,
            min_wins: int = MIN_VERTICAL_WINS) -> list[tuple[dict[str, Any], Pipeline | None]]:
    """The global model, then one per vertical seen in the labelled leads: (card, pipeline) pairs, global first.
    The global card lists the vertical decisions under "verticals"."""
    train, test = split_out_of_time(labelled)
    card, pipe = _fit_global(labelled, train, test, now, horizon_days)
    verticals = sorted(v for v in labelled["vertical"].unique().to_list() if v and v != NO_VERTICAL) \
        if labelled.height else []
    fitted = [fit_vertical(v, train, test, card, pipe, min_leads, min_wins) for v in verticals]
    card["vertical_minimums"] = {"leads": min_leads, "wins": min_wins}
    card["verticals"] = [vertical_summary(c) for c, _ in fitted]
    return [(card, pipe), *fitted]


def vertical_minimums(store: Store, con: Any = None) -> tuple[int, int]:
    """The settings scoring.min_vertical_leads and scoring.min_vertical_wins (else their defaults)."""
    return (setting_int(store, MIN_VERTICAL_LEADS_SETTING, MIN_VERTICAL_LEADS, con),
            setting_int(store, MIN_VERTICAL_WINS_SETTING, MIN_VERTICAL_WINS, con))


def train(store: Store, now: datetime, horizon_days: int | None = None) -> dict[str, Any]:
    """Train and evaluate the conversion model, and the vertical models, on the store's history; save them
    and their cards. Returns the global card (its "verticals" list what each vertical got, and why).
    `horizon_days` None: the setting scoring.horizon_days."""
    with store.read() as con:
        horizon = horizon_days or horizon_setting(store, con)
        min_leads, min_wins = vertical_minimums(store, con)
        labelled = training_frame(store, now, horizon, con)
    fitted = fit_all(labelled, now, horizon, min_leads, min_wins)
    save_all(store, fitted)
    return fitted[0][0]



def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_all(store: Store, fitted: list[tuple[dict[str, Any], Pipeline | None]]) -> list[int]:
    """Write each fitted pipeline to models_dir() (one file per model), then every card to model_cards in
    one transaction, the global one first (the vertical cards name it); returns the card ids."""
    for card, pipe in fitted:
        if pipe is not None:
            path = model_path(store, card["model"])
            _atomic_write(path, lambda p, pipe=pipe: joblib.dump(pipe, p))
            # The card names the artifact's hash: scoring refuses a file that is not this card's model.
            card["artifact"] = {"file": str(path), "sha256": _sha256(path)}
    ids: list[int] = []
    global_id = None
    with store.write() as con:
        for card, _ in fitted:
            if card["model"] != MODEL:
                card["global_card_id"] = global_id
            card_id = store.scalar("pred_insert_card", con, model=card["model"],
                                   trained_at=datetime.fromisoformat(card["trained_at"]),
                                   card=json.dumps(card, indent=2, default=str))
            global_id = card_id if card["model"] == MODEL else global_id
            ids.append(card_id)
    for (card, _), card_id in zip(fitted, ids, strict=True):
        card["id"] = card_id
    for card, _ in fitted:
        text = json.dumps(card, indent=2, default=str)
        _atomic_write(card_path(store, card["model"]), lambda p, text=text: p.write_text(text))
    return ids


def save(store: Store, card: dict[str, Any], pipe: Pipeline | None) -> int:
    """Write the pipeline (when fitted) and the card to models_dir(), then the card to model_cards."""
    return save_all(store, [(card, pipe)])[0]


# ---------------------------------------------------------------- reading the cards


def latest_card(store: Store, name: str = MODEL, con: Any = None) -> dict[str, Any] | None:
    """The most recently trained card of model `name` (the global conversion model unless named), or None."""
    rows = store.frame("pred_latest_card", con, model=name)
    if rows.is_empty():
        return None
    row = rows.row(0, named=True)
    return {**json.loads(row["card"]), "id": row["id"]}


def vertical_cards(store: Store, card: dict[str, Any] | None, con: Any = None) -> list[dict[str, Any]]:
    """The vertical models' cards trained with the global `card` (a later global card retires them)."""
    if card is None:
        return []
    rows = store.frame("pred_run_cards", con, prefix=VERTICAL_PREFIX, after=card["id"])
    found: dict[str, dict[str, Any]] = {}
    for row in rows.iter_rows(named=True):
        parsed = json.loads(row["card"])
        if parsed.get("global_card_id") == card["id"]:
            found[row["model"]] = {**parsed, "id": row["id"]}  # rows come oldest first: the last one wins
    return sorted(found.values(), key=lambda c: c["vertical"])


def fallback_reason(card: dict[str, Any] | None) -> str | None:
    """Why scores come from the baseline rule instead of the model; None when the model is used."""
    if card is None:
        return "No conversion model has been trained yet."
    if card.get("status") != "ok":
        return f"The model lacks data: {card.get('reason')}."
    if not card.get("beats_baseline"):
        m, b = card["metrics"], card["baseline_metrics"]
        return (f"The model does not beat the baseline rule on the test period (AUC {_fmt(m['auc'], 3)} vs "
                f"{_fmt(b['auc'], 3)}, Brier {_fmt(m['brier'], 3)} vs {_fmt(b['brier'], 3)}).")
    return None


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _range(span: dict[str, Any]) -> str:
    if not span.get("n"):
        return "no leads"
    return f"{span['n']:,} leads {span['start'][:10]}..{span['end'][:10]} (won {_pct(span['positive_rate'])})"


def vertical_line(summary: dict[str, Any]) -> str:
    """One vertical's decision as a line: "Vertical retail: not used: only 412 training leads (...)"."""
    return f"Vertical {summary['vertical']}: {summary['reason']}"


def card_text(card: dict[str, Any]) -> str:
    """The card as plain lines, one figure per line (the CLI prints it)."""
    lines = [f"Conversion model: {card['label']}, trained {card['trained_at'][:16].replace('T', ' ')}",
             f"Status {card['status']}" + (f": {card['reason']}" if card.get("reason") else "")]
    if card["status"] == "ok":
        m, b = card["metrics"], card["baseline_metrics"]
        lines += [f"AUC {_fmt(m['auc'], 3)}", f"Brier {_fmt(m['brier'], 4)}", f"Log loss {_fmt(m['log_loss'], 4)}",
                  f"ECE {_fmt(m['ece'], 4)}", f"Baseline AUC {_fmt(b['auc'], 3)}",
                  f"Baseline Brier {_fmt(b['brier'], 4)}", f"Baseline ECE {_fmt(b['ece'], 4)}",
                  f"Beats baseline {'yes' if card['beats_baseline'] else 'no: scores use the baseline rule'}"]
        lines += [f"Train {_range(card['train'])}", f"Test {_range(card['test'])}"]
    else:
        lines.append(f"Labelled {_range(card['labelled'])}")
    if card.get("importance"):
        lines.append("Top features " + ", ".join(r["label"] for r in card["importance"][:3]))
    if card.get("constant_features"):
        lines.append("The same for every training lead (no signal) " + ", ".join(card["constant_features"]))
    lines += [vertical_line(v) for v in card.get("verticals") or []]
    if card.get("artifact"):
        lines.append(f"Saved {card['artifact']['file']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- the models scoring uses


def load_model(card: dict[str, Any]) -> Pipeline | None:
    """The card's fitted pipeline (the file it names), cached on mtime; None if missing or not this card's."""
    path = Path(card.get("artifact", {}).get("file") or model_path(name=card.get("model", MODEL)))
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key = str(path.resolve())
    cached = _LOADED.get(key)
    if cached is None or cached[:2] != (stat.st_mtime, stat.st_size):
        if len(_LOADED) >= _MAX_LOADED:
            _LOADED.clear()
        cached = _LOADED[key] = (stat.st_mtime, stat.st_size, joblib.load(path), _sha256(path))
    _, _, pipe, digest = cached
    return pipe if digest == card.get("artifact", {}).get("sha256") else None


def usable_model(card: dict[str, Any] | None) -> tuple[Pipeline | None, str | None]:
    """The pipeline to score with, or None and the reason the baseline rule scores instead."""
    reason = fallback_reason(card)
    if reason is not None:
        return None, reason
    pipe = load_model(card)
    if pipe is None:
        return None, (f"The model file {card.get('artifact', {}).get('file')} is missing or is not the model of the latest card; "
                      "an admin retrains with `python -m flashdash train`.")
    return pipe, None


def usable_vertical_models(cards: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], Pipeline]]:
    """The vertical models that score their vertical: used (they beat the global model) and their file intact."""
    out = {}
    for card in cards:
        pipe = load_model(card) if card.get("status") == "ok" and card.get("used") else None
        if pipe is not None:
            out[card["vertical"]] = (card, pipe)
    return out


def model_status(store: Store) -> dict[str, Any]:
    """The latest card and, when scores must come from the baseline rule, why (`fallback`; None: the model);
    `verticals`: the vertical models trained with it, each with whether it is used and why."""
    with store.read() as con:
        card = latest_card(store, con=con)
        verticals = vertical_cards(store, card, con)
    _, reason = usable_model(card)
    return {"card": card, "fallback": reason, "verticals": verticals}


def baseline_table(store: Store, card: dict[str, Any] | None, now: datetime,
                   con: Any = None) -> tuple[pl.DataFrame, float | None]:
    """The baseline rule's channel rates: the card's, else computed now from the labelled history."""
    if card is not None and card.get("baseline", {}).get("rates"):
        return pl.DataFrame(card["baseline"]["rates"], schema=RATES_SCHEMA), card["baseline"]["overall_rate"]
    labelled = training_frame(store, now, horizon_setting(store, con), con)
    if labelled.is_empty():
        return channel_rates(labelled.with_columns(label=pl.lit(0, pl.Int64))), None
    return channel_rates(labelled), float(labelled["label"].mean())


# ---------------------------------------------------------------- the scores (flashdash.scoring computes them)


SCORE_COLUMNS = ("id", "merchant_name", "contact_name", "email", "owner", "status", "channel", "interest_level",
                 "vertical", "submitted_at", "score", "probability", "band", "rule_points", "model_key", "raises",
                 "lowers", "scored_by", "scored_at")
# Factors are explained for the highest-scored leads only when a page scores live: the texts cost ~30 µs a
# lead in Python, which at scale L (tens of thousands of open leads) would dominate the page.
EXPLAINED = 1_000
STORED_COLUMNS = ("lead_id", "probability", "band", "raises", "lowers", "scored_by", "card_id", "scored_at",
                  "score", "rule_points", "model_key", "factors")


def score_all(store: Store, now: datetime) -> pl.DataFrame:
    """Every open lead in the store (no user's scope: the scheduler's view), scored and explained, as the
    rows of lead_scores (flashdash.scoring.score_all). Computed without holding the store beyond one read."""
    from flashdash import scoring  # scoring builds on this module

    return scoring.score_all(store, now)


def store_scores(store: Store, con: Any, scored: pl.DataFrame) -> int:
    """Replace lead_scores with `scored` inside the caller's write unit (readers see the old or the new
    scores, never a mix). Returns the rows written."""
    store.run("pred_replace_scores", con)
    if scored.is_empty():
        return 0
    columns = [c for c in STORED_COLUMNS if c in scored.columns]
    con.register("_scored", scored.select(columns).to_arrow())
    try:
        con.execute(f"INSERT INTO lead_scores ({', '.join(columns)}) "  # noqa: S608 (our own column names)
                    f"SELECT {', '.join(columns)} FROM _scored")
    finally:
        con.unregister("_scored")
    return scored.height


def scores(store: Store, actor: Actor, filters: Filters, now: datetime | None = None) -> pl.DataFrame:
    """Open leads in the actor's scope and the filters, with their score (0-100, the blend of model and
    rules), conversion probability, band and factors, highest probability first.

    Scores come from the last scoring run (`scored_at` says when); a lead the run has not seen yet (new
    since) is scored now. `scored_by` says what produced the probability: "model", "baseline rule" (the
    model is missing, lacks data or does not beat the rule; the score is then the rules' points alone) or
    "none" (no labelled history at all). `model_key` says which model: "global" or "vertical:<name>".
    `now` matters only for leads scored live.
    """
    from flashdash import scoring  # scoring builds on this module

    return scoring.open_scores(store, actor, filters, now or clock.now())
