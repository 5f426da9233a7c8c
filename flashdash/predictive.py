"""The predictive foundation: a conversion-probability model for leads, its card, and its scores.

The model answers "will this lead be won within `horizon_days` of submission?" from what is known in
the lead's first week. It is a logistic regression over one-hot and standardised features, so every
score splits exactly into per-feature contributions (the factors shown beside it). A field with many
values (the landing page: Olist has hundreds) enters as its smoothed win rate in the training period,
cross-fitted so that no lead's own outcome feeds its feature. It is judged on an
out-of-time split against a transparent rule (the conversion rate of the lead's channel); when it does
not beat that rule, or there is too little history, scores come from the rule and say so.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
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
from flashdash.access import Actor, mask_pii
from flashdash.entities import LEAD_STATUSES
from flashdash.filters import Filters
from flashdash.store import Store

MODEL = "conversion"
CARD_VERSION = 1
DEFAULT_MODELS_DIR = Path("models")
DEFAULT_HORIZON = 120  # days from submission to a win that counts
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

_LOADED: dict[tuple[str, float], tuple[Pipeline, str]] = {}


def models_dir(store: Store | None = None) -> Path:
    """Where model artifacts live: FLASHDASH_MODELS, else models/<store name>/ (stores never share a model)."""
    pinned = os.environ.get("FLASHDASH_MODELS")
    if pinned:
        return Path(pinned)
    return Path(DEFAULT_MODELS_DIR) / (store.path.stem if store is not None else "")


def model_path(store: Store | None = None) -> Path:
    return models_dir(store) / f"{MODEL}.joblib"


def card_path(store: Store | None = None) -> Path:
    return models_dir(store) / f"{MODEL}.card.json"


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
            "verticals": [], "channels": [], "statuses": list(LEAD_STATUSES)}


def training_frame(store: Store, now: datetime, horizon_days: int) -> pl.DataFrame:
    """Leads submitted at least `horizon_days` before `now`, with their features and label (won in time)."""
    cutoff = now - timedelta(days=horizon_days)
    frame = store.frame("pred_lead_features", **_all_params(date(1900, 1, 1), cutoff.date()))
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


def _x(frame: pl.DataFrame) -> Any:
    # The sklearn boundary: pandas in, because ColumnTransformer selects columns by name.
    return frame.select(*CATEGORICAL, *RATE_ENCODED, *NUMERIC).to_pandas()


def column_groups(pipe: Pipeline) -> list[str]:
    """The person-readable feature each transformed column belongs to, in column order."""
    enc: OneHotEncoder = pipe.named_steps["prep"].named_transformers_["cat"]
    groups = [f for f, cats in zip(CATEGORICAL, enc.categories_, strict=True) for _ in cats]
    # a model saved before the rate-encoded features existed has none of them (it scores until retrained)
    rated = list(RATE_ENCODED) if "rate" in pipe.named_steps["prep"].named_transformers_ else []
    return groups + rated + [GROUP.get(f, f) for f in NUMERIC]


def contributions(pipe: Pipeline, frame: pl.DataFrame) -> pl.DataFrame:
    """Per-lead log-odds contribution of each feature, relative to the average training lead."""
    z = pipe[:-1].transform(_x(frame))
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


def _predict(pipe: Pipeline, frame: pl.DataFrame) -> np.ndarray:
    return pipe.predict_proba(_x(frame))[:, 1]


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
               test: pl.DataFrame, rates: pl.DataFrame, overall: float | None) -> dict[str, Any]:
    return {
        "model": MODEL, "version": CARD_VERSION, "trained_at": now.isoformat(),
        "horizon_days": horizon_days,
        "label": f"won within {horizon_days} days of submission",
        "algorithm": ALGORITHM, "features": [FEATURE_LABELS[f] for f in dict.fromkeys(
            [*CATEGORICAL, *RATE_ENCODED, *(GROUP.get(f, f) for f in NUMERIC)])],
        "cutoff": (now - timedelta(days=horizon_days)).isoformat(),
        "labelled": _span(labelled), "train": _span(train), "test": _span(test),
        "baseline": {"rule": BASELINE_RULE, "overall_rate": overall, "rates": _records(rates)},
        "status": "ok", "reason": None, "beats_baseline": False,
    }


def fit(labelled: pl.DataFrame, now: datetime, horizon_days: int) -> tuple[dict[str, Any], Pipeline | None]:
    """Split, fit, evaluate against the baseline: the card and the fitted pipeline (None without enough data)."""
    train, test = split_out_of_time(labelled)
    rates = channel_rates(train if train.height else labelled)
    overall = float(train["label"].mean()) if train.height else (
        float(labelled["label"].mean()) if labelled.height else None)
    card = _base_card(now, horizon_days, labelled, train, test, rates, overall)
    reason = _insufficiency(labelled, test)
    if reason:
        card.update(status="insufficient_data", reason=reason)
        return card, None
    pipe = build_pipeline().fit(_x(train), train["label"].to_numpy())
    y = test["label"].to_numpy()
    p_model = _predict(pipe, test)
    p_base = baseline_scores(test, rates, overall).to_numpy()
    metrics, base_metrics = evaluate(y, p_model), evaluate(y, p_base)
    weights = importance(pipe, train)
    card.update(
        metrics=metrics, baseline_metrics=base_metrics, beats_baseline=beats(metrics, base_metrics),
        calibration={"model": _records(calibration_bins(y, p_model)), "baseline": _records(calibration_bins(y, p_base))},
        lift={"model": _records(lift_by_decile(y, p_model)), "baseline": _records(lift_by_decile(y, p_base))},
        importance=_records(weights.filter(pl.col("importance") > 0)),
        # e.g. an import without interest levels or activities: features with one value for every lead
        constant_features=weights.filter(pl.col("importance") == 0)["label"].to_list(),
    )
    return card, pipe


def train(store: Store, now: datetime, horizon_days: int = DEFAULT_HORIZON) -> dict[str, Any]:
    """Train and evaluate the conversion model on the store's history; save it and its card."""
    labelled = training_frame(store, now, horizon_days)
    card, pipe = fit(labelled, now, horizon_days)
    save(store, card, pipe)
    return card


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


def save(store: Store, card: dict[str, Any], pipe: Pipeline | None) -> None:
    """Write the pipeline (when fitted) and the card to models_dir(), then the card to model_cards."""
    if pipe is not None:
        _atomic_write(model_path(store), lambda p: joblib.dump(pipe, p))
        # The card names the artifact's hash: scoring refuses a file that is not this card's model.
        card["artifact"] = {"file": str(model_path(store)), "sha256": _sha256(model_path(store))}
    text = json.dumps(card, indent=2, default=str)
    _atomic_write(card_path(store), lambda p: p.write_text(text))
    with store.write() as con:
        store.run("pred_insert_card", con, model=MODEL, trained_at=datetime.fromisoformat(card["trained_at"]),
                  card=text)


# ---------------------------------------------------------------- reading the card


def latest_card(store: Store) -> dict[str, Any] | None:
    """The most recently trained conversion model's card, or None when none was trained."""
    rows = store.frame("pred_latest_card", model=MODEL)
    if rows.is_empty():
        return None
    row = rows.row(0, named=True)
    return {**json.loads(row["card"]), "id": row["id"]}


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
    if card.get("artifact"):
        lines.append(f"Saved {card['artifact']['file']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- scoring open leads


def load_model(card: dict[str, Any]) -> Pipeline | None:
    """The card's fitted pipeline (the file it names), cached on mtime; None if missing or not this card's."""
    path = Path(card.get("artifact", {}).get("file") or model_path())
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    key = (str(path.resolve()), mtime)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = (joblib.load(path), _sha256(path))
    pipe, digest = _LOADED[key]
    return pipe if digest == card.get("artifact", {}).get("sha256") else None


SCORE_COLUMNS = ("id", "merchant_name", "contact_name", "email", "owner", "status", "channel", "interest_level",
                 "vertical", "submitted_at", "probability", "band", "raises", "lowers", "scored_by", "scored_at")


def _open_leads(store: Store, actor: Actor, filters: Filters) -> pl.DataFrame:
    return store.frame("pred_lead_features", **filters.params(actor), statuses=list(OPEN_STATUSES))


def _baseline_table(store: Store, card: dict[str, Any] | None, now: datetime) -> tuple[pl.DataFrame, float | None]:
    """The baseline rule's channel rates: the card's, else computed now from the labelled history."""
    if card is not None and card.get("baseline", {}).get("rates"):
        rates = pl.DataFrame(card["baseline"]["rates"], schema={"channel": pl.String, "leads": pl.Int64,
                                                                "wins": pl.Int64, "rate": pl.Float64})
        return rates, card["baseline"]["overall_rate"]
    labelled = training_frame(store, now, DEFAULT_HORIZON)
    if labelled.is_empty():
        return channel_rates(labelled.with_columns(label=pl.lit(0, pl.Int64))), None
    return channel_rates(labelled), float(labelled["label"].mean())


def _score_with_baseline(leads: pl.DataFrame, rates: pl.DataFrame, overall: float | None) -> pl.DataFrame:
    if overall is None:
        return leads.with_columns(probability=pl.lit(None, pl.Float64), band=pl.lit("unknown"),
                                  raises=pl.lit(""), lowers=pl.lit("no labelled history yet"),
                                  scored_by=pl.lit("none"))
    prob = baseline_scores(leads, rates, overall)
    seen = leads.select("channel").join(rates, on="channel", how="left", maintain_order="left")
    texts = [_baseline_factor(ch, rate, n, overall) for ch, rate, n in
             zip(seen["channel"], seen["rate"], seen["leads"], strict=True)]
    return leads.with_columns(
        prob,
        band=pl.Series([band(p, overall) for p in prob], dtype=pl.String),
        raises=pl.Series([t[0] for t in texts], dtype=pl.String),
        lowers=pl.Series([t[1] for t in texts], dtype=pl.String),
        scored_by=pl.lit("baseline rule"),
    )


def _baseline_factor(channel: str, rate: float | None, n: int | None, overall: float) -> tuple[str, str]:
    if rate is None:
        return "", f"channel {channel} unseen in training: overall rate {overall:.0%}"
    text = f"channel {channel} ({rate:.0%} of {n:,} past leads won vs {overall:.0%} overall)"
    return (text, "") if rate >= overall else ("", text)


# Factors are explained for the highest-scored leads only: the texts cost ~30 µs a lead in Python,
# which at scale L (tens of thousands of open leads) would dominate the page.
EXPLAINED = 1_000


def _score_with_model(leads: pl.DataFrame, pipe: Pipeline, base_rate: float, explained: int = EXPLAINED) -> pl.DataFrame:
    prob = _predict(pipe, leads)
    leads = leads.with_columns(
        probability=pl.Series(prob, dtype=pl.Float64),
        band=pl.Series([band(float(p), base_rate) for p in prob], dtype=pl.String),
        scored_by=pl.lit("model"),
    ).sort("probability", "id", descending=[True, False])
    top = leads.head(explained)
    contrib = contributions(pipe, top)
    texts = [factor_text(c, {f: describe(f, row) for f in c})
             for row, c in zip(top.iter_rows(named=True), contrib.iter_rows(named=True), strict=True)]
    rest = leads.height - top.height
    return leads.with_columns(
        raises=pl.Series([t[0] for t in texts] + [None] * rest, dtype=pl.String),
        lowers=pl.Series([t[1] for t in texts] + [None] * rest, dtype=pl.String),
    )


def model_status(store: Store) -> dict[str, Any]:
    """The latest card and, when scores must come from the baseline rule, why (`fallback`; None: the model)."""
    card = latest_card(store)
    _, reason = usable_model(card)
    return {"card": card, "fallback": reason}


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


def _score(store: Store, leads: pl.DataFrame, card: dict[str, Any] | None, now: datetime,
           explain_all: bool = False) -> pl.DataFrame:
    """`leads` (rows of pred_lead_features) with probability, band, raises, lowers and scored_by."""
    if leads.is_empty():
        return leads.with_columns(probability=pl.lit(None, pl.Float64), band=pl.lit(""), raises=pl.lit(""),
                                  lowers=pl.lit(""), scored_by=pl.lit(""))
    pipe, _ = usable_model(card)
    if pipe is not None:
        return _score_with_model(leads, pipe, card["train"]["positive_rate"],
                                 explained=leads.height if explain_all else EXPLAINED)
    rates, overall = _baseline_table(store, card, now)
    return _score_with_baseline(leads, rates, overall)


STORED_COLUMNS = ("lead_id", "probability", "band", "raises", "lowers", "scored_by", "card_id", "scored_at")


def score_all(store: Store, now: datetime) -> pl.DataFrame:
    """Every open lead in the store (no user's scope: the scheduler's view), scored and explained, as the
    rows of lead_scores. Computed without holding the store beyond the one read of the features."""
    card = latest_card(store)
    leads = store.frame("pred_lead_features", **{**_all_params(date(1900, 1, 1), date(9999, 12, 30)),
                                                 "statuses": list(OPEN_STATUSES)})
    scored = _score(store, leads, card, now, explain_all=True)
    return scored.select(
        pl.col("id").alias("lead_id"), "probability", "band", "raises", "lowers", "scored_by",
        card_id=pl.lit(card["id"] if card else None, pl.Int64), scored_at=pl.lit(now, pl.Datetime("us")),
    )


def store_scores(store: Store, con: Any, scored: pl.DataFrame) -> int:
    """Replace lead_scores with `scored` inside the caller's write unit (readers see the old or the new
    scores, never a mix). Returns the rows written."""
    store.run("pred_replace_scores", con)
    if scored.is_empty():
        return 0
    con.register("_scored", scored.select(STORED_COLUMNS).to_arrow())
    try:
        con.execute(f"INSERT INTO lead_scores ({', '.join(STORED_COLUMNS)}) "  # noqa: S608 (our own column names)
                    f"SELECT {', '.join(STORED_COLUMNS)} FROM _scored")
    finally:
        con.unregister("_scored")
    return scored.height


def scores(store: Store, actor: Actor, filters: Filters, now: datetime | None = None) -> pl.DataFrame:
    """Open leads in the actor's scope and the filters, with a conversion probability, band and factors.

    Scores come from the last scoring run (`scored_at` says when); a lead the run has not seen yet (new
    since) is scored now. `scored_by` says what produced the probability: "model", "baseline rule" (the
    model is missing, lacks data or does not beat the rule) or "none" (no labelled history at all). `now`
    matters only when no model was ever trained: the baseline rule is then computed from the history up to it.
    """
    now = now or clock.now()
    leads = _open_leads(store, actor, filters)
    stored = leads.filter(pl.col("stored_scored_by").is_not_null())
    fresh = leads.filter(pl.col("stored_scored_by").is_null())
    parts = []
    if not stored.is_empty():
        parts.append(stored.with_columns(
            probability=pl.col("stored_probability"), band=pl.col("stored_band"), raises=pl.col("stored_raises"),
            lowers=pl.col("stored_lowers"), scored_by=pl.col("stored_scored_by"),
            scored_at=pl.col("stored_scored_at")))
    if not fresh.is_empty() or not parts:
        parts.append(_score(store, fresh, latest_card(store), now).with_columns(
            scored_at=pl.lit(now, pl.Datetime("us"))))
    out = pl.concat([p.select(SCORE_COLUMNS) for p in parts], how="vertical_relaxed")
    out = out.sort("probability", "id", descending=[True, False], nulls_last=True)
    return mask_pii(out, actor)
