"""The lead scoring engine: one score per open lead, 0-100, from the conversion model and the team's rules.

    score = w * 100 * p + (1 - w) * rule_points

`p` is the calibrated win probability of the lead's model (its vertical's when that vertical has a model
that beats the global one, else the global model; flashdash.predictive trains and judges them), `w` the
setting scoring.model_weight (0.7 unless an admin changes it), and `rule_points` the points of the rules
the lead matches, clamped to 0..100. When no model is usable (none trained, too little history, or it does
not beat its baseline rule) `w` is 0: the score is the rules' alone, and the breakdown says so. The
probability stays available on its own (for a lead without a usable model: its channel's past win rate).

Rules are points per criterion ("+20 if the vertical is in the target list", "-10 for a free-mail
domain"), kept in score_rules: a team's own rules apply to the leads its reps own, and the store-wide rules
(team_id NULL) to every lead. Until an admin saves store-wide rules, STARTER_RULES stand in for them (the
editor shows them); to score without store-wide rules, save them switched off (`active` false).

Every score explains itself exactly: its factors (`breakdown`) sum to it. The model's share starts from
the average lead's (the base bar); each model feature then adds its share, applied largest first, as the
change in w * 100 * sigmoid(log-odds) it makes (so the model's bars sum exactly to w * 100 * p); each
matching rule adds (1 - w) * its points; a cap or floor bar takes back what the clamp to 0..100 removed.

Scores are computed in bulk by `score_all` (the scheduler's job, with `predictive.store_scores`) and for one
lead in real time by `rescore_lead` inside the write that changed it (cached models, no retraining).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import polars as pl
from sklearn.pipeline import Pipeline

from flashdash import audit, predictive
from flashdash.access import AccessDenied, Actor, mask_pii, require_team_editor
from flashdash.entities import COMPANY_SIZES, INTEREST_LEVELS, LEAD_STATUSES
from flashdash.filters import Filters
from flashdash.store import Store

# What a team's manager (or an admin) changes, and what only an admin does: access.require_team_editor.
EDITED = ("score rules", "changes the store-wide score rules")


class ScoringError(ValueError):
    """Rules, settings or a lead that cannot be used as given; the message says what to change."""


# ---------------------------------------------------------------- settings


MODEL_WEIGHT_SETTING = "scoring.model_weight"
DEFAULT_MODEL_WEIGHT = 0.7  # the model leads; the rules still move a score by up to 30 points


@dataclass(frozen=True)
class SettingSpec:
    """One scoring setting: its default, its bounds, and when a change takes effect."""

    key: str
    default: float
    whole: bool  # a whole number (days, leads) rather than a fraction
    low: float
    high: float
    description: str


SETTINGS: dict[str, SettingSpec] = {s.key: s for s in (
    SettingSpec(predictive.HORIZON_SETTING, predictive.DEFAULT_HORIZON, True, 14, 730,
                "days from submission within which a win counts (the model's label); takes effect at the next training"),
    SettingSpec(predictive.MIN_VERTICAL_LEADS_SETTING, predictive.MIN_VERTICAL_LEADS, True, 100, 10_000_000,
                "training leads a vertical needs for a model of its own; below 1,000 the comparison with the "
                "global model is mostly noise; takes effect at the next training"),
    SettingSpec(predictive.MIN_VERTICAL_WINS_SETTING, predictive.MIN_VERTICAL_WINS, True, 10, 10_000_000,
                "won training leads a vertical needs for a model of its own; takes effect at the next training"),
    SettingSpec(MODEL_WEIGHT_SETTING, DEFAULT_MODEL_WEIGHT, False, 0.0, 1.0,
                "the model's share of the score, 0 to 1 (the rules get the rest); takes effect at the next scoring"),
)}
SETTING_WRITERS = ("admin",)


def parse_setting(spec: SettingSpec, raw: Any) -> tuple[float | int | None, str | None]:
    """A setting's value from what was given (a number or its text), or the problem with it."""
    if isinstance(raw, bool) or raw is None:
        return None, f"{spec.key} must be a number (got {raw!r})"
    try:
        value = float(str(raw).strip())
    except ValueError:
        return None, f"{spec.key} must be a number (got {raw!r})"
    if not math.isfinite(value):
        return None, f"{spec.key} must be a finite number (got {raw!r})"
    if spec.whole and not value.is_integer():
        return None, f"{spec.key} must be a whole number (got {raw!r})"
    if not spec.low <= value <= spec.high:
        return None, f"{spec.key} must be between {spec.low:g} and {spec.high:g} (got {value:g})"
    return (int(value) if spec.whole else value), None


def settings(store: Store, con: duckdb.DuckDBPyConnection | None = None) -> dict[str, float | int]:
    """Every scoring setting: the stored value, else its default (a stored value out of bounds: the default)."""
    stored = dict(store.frame("scoring_settings", con).iter_rows())
    out: dict[str, float | int] = {}
    for key, spec in SETTINGS.items():
        value, problem = parse_setting(spec, stored[key]) if key in stored else (None, "unset")
        out[key] = value if problem is None else (int(spec.default) if spec.whole else spec.default)
    return out


def settings_frame(store: Store) -> pl.DataFrame:
    """The settings as the admin page shows them: key, value, default, what it does."""
    current = settings(store)
    return pl.DataFrame({
        "key": list(SETTINGS),
        "value": [float(current[k]) for k in SETTINGS],
        "default": [float(s.default) for s in SETTINGS.values()],
        "description": [s.description for s in SETTINGS.values()],
    })


def save_settings(store: Store, actor: Actor, changes: dict[str, Any], now: datetime) -> dict[str, float | int]:
    """Change scoring settings (admins only), every problem named, audited; returns all settings after."""
    if actor.role not in SETTING_WRITERS:
        raise AccessDenied(f"A {actor.role} may not change the scoring settings; ask an admin.")
    problems, clean = [], {}
    for key, raw in changes.items():
        spec = SETTINGS.get(key)
        if spec is None:
            problems.append(f"there is no setting {key!r}; the settings are {', '.join(SETTINGS)}")
            continue
        value, problem = parse_setting(spec, raw)
        if problem:
            problems.append(problem)
        else:
            clean[key] = value
    if problems:
        raise ScoringError("The settings were not saved: " + "; ".join(problems) + ".")
    with store.write() as con:
        before = settings(store, con)
        for key, value in clean.items():
            store.run("put_setting", con, key=key, value=str(value))
        changed = {k: v for k, v in clean.items() if before[k] != v}
        if changed:
            audit.record(con, actor.username, "update", "setting", "scoring", now,
                         before={k: before[k] for k in changed}, after=changed, reason="scoring settings saved")
        return settings(store, con)


def model_weight(store: Store, con: duckdb.DuckDBPyConnection | None = None) -> float:
    return float(settings(store, con)[MODEL_WEIGHT_SETTING])


# ---------------------------------------------------------------- rules: fields, operators, values


@dataclass(frozen=True)
class RuleField:
    """A lead fact a rule may test; its kind fixes the operators and values it takes."""

    name: str
    kind: str  # text | ordered | number | bool
    label: str
    values: tuple[str, ...] = ()  # ordered: lowest first


FIELDS: dict[str, RuleField] = {f.name: f for f in (
    RuleField("vertical", "text", "vertical"),
    RuleField("channel", "text", "channel"),
    RuleField("interest_level", "ordered", "interest level", INTEREST_LEVELS),
    RuleField("company_size", "ordered", "company size", COMPANY_SIZES),
    RuleField("region", "text", "region"),
    RuleField("language", "text", "language"),
    RuleField("city", "text", "city"),
    RuleField("campaign", "text", "campaign"),
    RuleField("landing_page", "text", "landing page"),
    RuleField("email_domain", "text", "email domain"),
    RuleField("monthly_volume", "number", "monthly volume"),
    RuleField("free_mail", "bool", "free-mail address"),
    RuleField("has_phone", "bool", "phone given"),
    RuleField("budget_confirmed", "bool", "budget confirmed"),
    RuleField("calls", "number", "calls"),
    RuleField("emails", "number", "emails"),
    RuleField("meetings", "number", "meetings"),
    RuleField("demos", "number", "demos"),
    RuleField("days_since_submitted", "number", "days since submitted"),
    RuleField("first_response_hours", "number", "hours to first response"),
)}
OPS: dict[str, tuple[str, ...]] = {
    "text": ("eq", "ne", "in", "not_in", "contains", "is_set", "is_missing"),
    "ordered": ("eq", "ne", "in", "not_in", "gte", "lte", "is_set", "is_missing"),
    "number": ("eq", "ne", "gte", "lte", "is_set", "is_missing"),
    "bool": ("eq", "ne", "is_set", "is_missing"),
}
NO_VALUE_OPS = ("is_set", "is_missing")
LIST_OPS = ("in", "not_in")
# A lead without the value meets these (it is not "restaurants"), and fails every other operator but is_missing.
MISSING_MEETS = ("ne", "not_in", "is_missing")
OP_WORDS = {"eq": "is", "ne": "is not", "in": "is one of", "not_in": "is none of", "contains": "contains",
            "gte": "is at least", "lte": "is at most", "is_set": "is known", "is_missing": "is missing"}
MAX_RULES = 100
MAX_LABEL = 120
MAX_POINTS = 100.0

# Webmail domains: a merchant writing from one has not given a business address. The three .example
# domains are the demo generator's stand-ins (.example is reserved, RFC 2606: no real merchant has one).
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.es", "yahoo.com.br", "ymail.com",
    "hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.es", "outlook.com", "live.com", "msn.com", "aol.com",
    "icloud.com", "me.com", "mac.com", "mail.com", "gmx.com", "gmx.de", "gmx.net", "web.de", "proton.me",
    "protonmail.com", "yandex.com", "yandex.ru", "mail.ru", "zoho.com", "qq.com", "163.com", "126.com",
    "uol.com.br", "bol.com.br", "terra.com.br", "libero.it", "orange.fr", "free.fr", "laposte.net",
    "mail.example", "inbox.example", "webmail.example",
})
MISSING_TEXT = ("", "(none)")  # pred_lead_features writes "(none)" for an empty categorical


@dataclass(frozen=True)
class Rule:
    """One points rule: `points` when the lead's `field` meets `op` `value`."""

    label: str
    field: str
    op: str
    value: Any
    points: float
    active: bool = True
    team_id: int | None = None
    id: int | None = None

    def condition(self) -> str:
        """The rule's test in words: "interest level is one of warm, hot"."""
        spec = FIELDS[self.field]
        if self.op in NO_VALUE_OPS:
            return f"{spec.label} {OP_WORDS[self.op]}"
        value = ", ".join(map(_word, self.value)) if isinstance(self.value, list) else _word(self.value)
        return f"{spec.label} {OP_WORDS[self.op]} {value}"


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


# The store-wide rules until an admin saves some: sensible for a payments product's inbound leads, and a
# place to start editing. The target verticals are the ones card payments fit best (shops, restaurants,
# online stores); a team changes them to its own.
STARTER_RULES: tuple[Rule, ...] = (
    Rule("Hot interest", "interest_level", "eq", "hot", 20.0),
    Rule("Warm interest", "interest_level", "eq", "warm", 10.0),
    Rule("Target vertical", "vertical", "in", ["restaurants", "retail", "e-commerce"], 20.0),
    Rule("Monthly volume of $50k or more", "monthly_volume", "gte", 50_000, 10.0),
    Rule("Budget confirmed", "budget_confirmed", "eq", True, 10.0),
    Rule("Referral or partner channel", "channel", "in", ["referral", "partner"], 10.0),
    Rule("Free-mail address", "free_mail", "eq", True, -10.0),
    Rule("No phone number", "has_phone", "eq", False, -10.0),
)


def _decoded(raw: Any) -> Any:
    """A value as typed in the editor: JSON when it parses ("50000", "true", '["a", "b"]'), else the text."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    try:
        return json.loads(text)
    except ValueError:
        return text


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_value(spec: RuleField, op: str, raw: Any) -> tuple[Any, str | None]:
    """The rule's value checked against its field and operator, or the problem with it."""
    if op in NO_VALUE_OPS:
        return None, None  # a leftover value in the editor is ignored, not an error
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, f"{op} needs a value"
    value = _decoded(raw)
    if op in LIST_OPS:
        # a JSON list, or the editor's "restaurants, retail"
        items = value if isinstance(value, list) else [value] if isinstance(value, dict | bool) else \
            str(value).split(",")
        items = [i for i in items if not (isinstance(i, str) and not i.strip())]
        parsed = [_one_value(spec, op, str(i) if _is_number(i) else i) for i in items]
        problems = [p for _, p in parsed if p]
        if problems:
            return None, problems[0]
        values = list(dict.fromkeys(v for v, _ in parsed))
        return (values, None) if values else (None, f"{op} needs at least one value")
    if spec.kind in ("text", "ordered") and isinstance(raw, str) and not isinstance(value, str):
        value = raw.strip()  # "2024" is a campaign name here, not a number
    return _one_value(spec, op, value)


def _one_value(spec: RuleField, op: str, value: Any) -> tuple[Any, str | None]:
    if spec.kind == "number":
        return (value, None) if _is_number(value) else (None, f"{spec.name} takes a number (got {value!r})")
    if spec.kind == "bool":
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "false", "no"):
            value = value.strip().lower() in ("true", "yes")
        return (value, None) if isinstance(value, bool) else (None, f"{spec.name} takes true or false (got {value!r})")
    if isinstance(value, list | dict) or isinstance(value, bool):
        return None, f"{op} on {spec.name} takes {'a list of values' if op in LIST_OPS else 'one value'} " \
                     f"(got {value!r})"
    text = str(value).strip()
    if spec.kind == "ordered":
        text = text.lower()
        if text not in spec.values:
            return None, f"{spec.name} is one of {', '.join(spec.values)} (got {value!r})"
    if not text:
        return None, f"{op} needs a value"
    return text, None


def _points(raw: Any) -> tuple[float | None, str | None]:
    value = _decoded(raw)
    if not _is_number(value):
        return None, f"points must be a number (got {raw!r})"
    if not -MAX_POINTS <= value <= MAX_POINTS:
        return None, f"points must be between -{MAX_POINTS:g} and {MAX_POINTS:g} (got {value:g})"
    return float(value), None


def _active(raw: Any) -> tuple[bool, str | None]:
    if raw is None:
        return True, None
    value = _decoded(raw) if isinstance(raw, str) else raw
    if isinstance(value, str) and value.lower() in ("yes", "no"):
        value = value.lower() == "yes"
    if isinstance(value, bool):
        return value, None
    return True, f"active must be true or false (got {raw!r})"


def parse_rule(row: dict[str, Any], team_id: int | None = None) -> tuple[Rule | None, list[str]]:
    """One editor row as a Rule, or every problem with it."""
    problems = []
    field = str(row.get("field") or "").strip()
    op = str(row.get("op") or "").strip().lower()
    spec = FIELDS.get(field)
    if spec is None:
        problems.append(f"field {field!r} is not one of {', '.join(FIELDS)}" if field else "the field is missing")
    elif op not in OPS[spec.kind]:
        problems.append(f"{field} takes the operators {', '.join(OPS[spec.kind])} (got {op!r})" if op
                        else "the operator is missing")
    value = None
    if spec is not None and op in OPS[spec.kind]:
        value, problem = parse_value(spec, op, row.get("value"))
        if problem:
            problems.append(problem)
    points, problem = _points(row.get("points"))
    if problem:
        problems.append(problem)
    active, problem = _active(row.get("active"))
    if problem:
        problems.append(problem)
    label = str(row.get("label") or "").strip()
    if len(label) > MAX_LABEL:
        problems.append(f"the label is {len(label)} characters; keep it under {MAX_LABEL}")
    if problems:
        return None, problems
    if not label:  # the editor may leave it empty: the condition names the rule
        condition = Rule("", field, op, value, 0.0).condition()
        label = condition[:1].upper() + condition[1:]
    return Rule(label, field, op, value, float(points), active, team_id), []


def _rows(rows: pl.DataFrame | Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return rows.to_dicts() if isinstance(rows, pl.DataFrame) else [dict(r) for r in rows]


def parse_rules(rows: pl.DataFrame | Iterable[dict[str, Any]], team_id: int | None = None) -> list[Rule]:
    """Editor rows (label, field, op, value, points, active) as Rules, or ScoringError naming every problem
    with its row (1 = the first). Rows left entirely empty (a blank line in the editor) are skipped."""
    given = [r for r in _rows(rows) if any(v not in (None, "") for k, v in r.items() if k in
                                          ("label", "field", "op", "value", "points"))]
    if len(given) > MAX_RULES:
        raise ScoringError(f"The rules were not saved: {len(given)} rules; a set holds at most {MAX_RULES}.")
    parsed, problems = [], []
    for i, row in enumerate(given, start=1):
        rule, found = parse_rule(row, team_id)
        problems += [f"row {i}: {p}" for p in found]
        if rule is not None:
            parsed.append(rule)
    if problems:
        raise ScoringError("The rules were not saved: " + "; ".join(problems) + ".")
    return parsed


def rule_fields() -> pl.DataFrame:
    """What the rule editor offers: each field, its kind, its operators and (ordered fields) its values."""
    return pl.DataFrame({
        "field": list(FIELDS), "label": [f.label for f in FIELDS.values()],
        "kind": [f.kind for f in FIELDS.values()], "ops": [list(OPS[f.kind]) for f in FIELDS.values()],
        "values": [list(f.values) for f in FIELDS.values()],
    })


# ---------------------------------------------------------------- rules: evaluation (pure)


def rule_facts(leads: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """What rules test, one row per lead (rows of pred_lead_features): missing values are null."""
    def text(name: str) -> pl.Expr:
        c = pl.col(name).cast(pl.String).str.strip_chars()
        return pl.when(c.is_in(MISSING_TEXT)).then(None).otherwise(c).alias(name)

    # stored leads carry their email's domain and whether they have a phone (the values themselves are sealed)
    domain = (pl.col("email_domain") if "email_domain" in leads.columns else
              pl.col("email").cast(pl.String).str.strip_chars().str.to_lowercase().str.extract(r"@([^@\s]+)$"))
    has_phone = (pl.col("has_phone").fill_null(False) if "has_phone" in leads.columns else
                 pl.col("phone").cast(pl.String).str.strip_chars().fill_null("") != "")
    hours = (pl.col("first_response_at") - pl.col("submitted_at")).dt.total_seconds() / 3600
    return leads.select(
        "id", pl.col("team_id").cast(pl.Int64),
        *[text(f) for f, spec in FIELDS.items() if spec.kind in ("text", "ordered") and f != "email_domain"],
        email_domain=domain,
        monthly_volume=pl.col("monthly_volume").cast(pl.Float64),
        free_mail=pl.when(domain.is_null()).then(None).otherwise(domain.is_in(sorted(FREE_MAIL_DOMAINS))),
        has_phone=has_phone,
        budget_confirmed=pl.col("budget_confirmed").cast(pl.Boolean),
        calls=pl.col("all_calls").cast(pl.Float64), emails=pl.col("all_emails").cast(pl.Float64),
        meetings=pl.col("all_meetings").cast(pl.Float64), demos=pl.col("all_demos").cast(pl.Float64),
        days_since_submitted=(pl.lit(now) - pl.col("submitted_at")).dt.total_seconds() / 86400,
        first_response_hours=pl.when(hours >= 0).then(hours),
    )


def rule_expr(rule: Rule) -> pl.Expr:
    """The rule's test as a boolean expression over rule_facts (never null)."""
    spec = FIELDS[rule.field]
    col = pl.col(rule.field)
    missing = col.is_null()
    if rule.op == "is_set":
        return ~missing
    if rule.op == "is_missing":
        return missing
    if spec.kind == "ordered":
        rank = {v: i for i, v in enumerate(spec.values)}
        col = col.str.to_lowercase().replace_strict(rank, default=None, return_dtype=pl.Int64)
        value: Any = [rank[v] for v in rule.value] if rule.op in LIST_OPS else rank[rule.value]
    elif spec.kind == "text":
        col = col.str.to_lowercase()
        value = [v.lower() for v in rule.value] if rule.op in LIST_OPS else rule.value.lower()
    else:
        value = rule.value
    test = {
        "eq": lambda: col == value, "ne": lambda: col != value,
        "in": lambda: col.is_in(value), "not_in": lambda: ~col.is_in(value),
        "gte": lambda: col >= value, "lte": lambda: col <= value,
        "contains": lambda: col.str.contains(value, literal=True),
    }[rule.op]()
    return pl.when(missing).then(pl.lit(rule.op in MISSING_MEETS)).otherwise(test).fill_null(False)


def rule_matches(facts: pl.DataFrame, rules: Sequence[Rule]) -> np.ndarray:
    """Which active rules each lead meets (leads x rules): a team's rules count for its own leads only."""
    active = active_rules(rules)
    if not active or facts.is_empty():
        return np.zeros((facts.height, len(active)), dtype=bool)
    team = pl.col("team_id")
    exprs = [(rule_expr(r) & (pl.lit(True) if r.team_id is None else (team == r.team_id).fill_null(False)))
             .alias(f"r{i}") for i, r in enumerate(active)]
    return facts.select(exprs).to_numpy().astype(bool)


def active_rules(rules: Sequence[Rule]) -> list[Rule]:
    return [r for r in rules if r.active]


def clamp_points(raw: np.ndarray) -> np.ndarray:
    return np.clip(raw, 0.0, MAX_POINTS)


# ---------------------------------------------------------------- blend and breakdown (pure)


def sigmoid(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def blend(standing_: float | None, rule_points: float, weight: float) -> float:
    """The score: weight * 100 * the lead's standing among the training leads + (1 - weight) * rule_points
    (the rules alone without a model)."""
    if standing_ is None:
        return float(rule_points)
    return weight * 100.0 * standing_ + (1.0 - weight) * rule_points


def standing(logits: Any, quantiles: Sequence[float] | None) -> np.ndarray:
    """Where log-odds stand among the training leads', from 0 (below all) to 1 (above all), interpolated
    between percentiles; without quantiles (a model trained before they were kept), the probability."""
    x = np.asarray(logits, dtype=float)
    if quantiles is None or len(quantiles) == 0:
        return sigmoid(x)
    return np.interp(x, np.asarray(quantiles, dtype=float), np.linspace(0.0, 1.0, len(quantiles)))


def model_steps(base_logit: float, contrib: np.ndarray, weight: float,
                quantiles: Sequence[float] | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """The model's share of the score in points: the average lead's (base), each feature's (leads x features)
    and each lead's probability. The share is weight * 100 * the lead's standing among the training leads
    (50 for a typical lead, 90 for one better than nine in ten): a probability of 10% would squeeze every
    score under a few points when one lead in ten is won. Features are applied largest |log-odds| first,
    each worth the change in standing it makes, so base + a lead's steps = its share exactly."""
    contrib = np.atleast_2d(np.asarray(contrib, dtype=float))
    n = contrib.shape[0]
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")
    logits = np.concatenate([np.full((n, 1), base_logit),
                             base_logit + np.cumsum(np.take_along_axis(contrib, order, axis=1), axis=1)], axis=1)
    steps = np.empty_like(contrib)
    np.put_along_axis(steps, order, weight * 100.0 * np.diff(standing(logits, quantiles), axis=1), axis=1)
    return (weight * 100.0 * float(standing(base_logit, quantiles)), steps,
            sigmoid(logits[:, -1]), weight * 100.0 * standing(logits[:, -1], quantiles))


SMALL_POINTS = 0.05  # model features moving a score by less are shown as one bar


def factors(base: float | None, model: list[tuple[str, float]], rules: list[tuple[str, float]],
            raw_rule_points: float, weight: float) -> list[dict[str, Any]]:
    """One lead's breakdown: base bar, model features (largest first, the small ones as one bar), matching
    rules, and the cap or floor of the rule points; the points sum to the score."""
    out: list[dict[str, Any]] = []
    if base is not None:
        out.append({"factor": "average lead (model)", "points": base, "kind": "base"})
        big = sorted([m for m in model if abs(m[1]) >= SMALL_POINTS], key=lambda m: -abs(m[1]))
        small = [m[1] for m in model if 0 < abs(m[1]) < SMALL_POINTS]
        out += [{"factor": name, "points": pts, "kind": "model"} for name, pts in big]
        if small:
            out.append({"factor": f"{len(small)} smaller model factors", "points": math.fsum(small), "kind": "model"})
    share = 1.0 - weight if base is not None else 1.0
    out += [{"factor": label, "points": share * pts, "kind": "rule"} for label, pts in rules if share * pts != 0]
    clamped = min(max(raw_rule_points, 0.0), MAX_POINTS)
    if clamped != raw_rule_points and share:
        text = f"rule points capped at {MAX_POINTS:g}" if raw_rule_points > MAX_POINTS else "rule points floored at 0"
        out.append({"factor": text, "points": share * (clamped - raw_rule_points), "kind": "cap"})
    return out


def waterfall(items: list[dict[str, Any]]) -> pl.DataFrame:
    """A breakdown as the bars of a waterfall chart: each factor's points, where its bar starts and ends."""
    points = [float(i["points"]) for i in items]
    ends = [float(e) for e in np.cumsum(points)] if points else []
    return pl.DataFrame({
        "factor": [i["factor"] for i in items], "points": points, "start": [0.0, *ends[:-1]][:len(ends)],
        "end": ends,
        "kind": [i.get("kind", "") for i in items],
    }, schema={"factor": pl.String, "points": pl.Float64, "start": pl.Float64, "end": pl.Float64,
               "kind": pl.String})


# ---------------------------------------------------------------- the models and the rules in force


@dataclass
class Context:
    """What a scoring needs besides the leads: the models, the rules, the weight."""

    card: dict[str, Any] | None  # the global card (the run's)
    pipe: Pipeline | None  # the global model, when usable
    fallback: str | None  # why there is no usable global model
    verticals: dict[str, tuple[dict[str, Any], Pipeline]]  # vertical -> its used model
    rates: pl.DataFrame  # the baseline rule: channel win rates
    overall: float | None  # the overall win rate (None: no labelled history)
    rules: list[Rule]
    weight: float

    @property
    def base_rate(self) -> float | None:
        return self.card["train"]["positive_rate"] if self.pipe is not None else self.overall


def rules_in_force(store: Store, con: duckdb.DuckDBPyConnection | None = None) -> list[Rule]:
    """Every stored rule (each team's and the store-wide ones); STARTER_RULES stand in for store-wide rules
    until some are saved."""
    stored = [_stored_rule(r) for r in store.frame("scoring_rules_all", con).iter_rows(named=True)]
    if not any(r.team_id is None for r in stored):
        stored = [*STARTER_RULES, *stored]
    return stored


def _stored_rule(row: dict[str, Any]) -> Rule:
    return Rule(row["label"], row["field"], row["op"], None if row["value"] is None else json.loads(row["value"]),
                float(row["points"]), bool(row["active"]), row["team_id"], row["id"])


def context(store: Store, con: duckdb.DuckDBPyConnection, now: datetime) -> Context:
    """The models (fitted pipelines come from the in-process cache), rules and weight, read on `con`."""
    card = predictive.latest_card(store, con=con)
    pipe, fallback = predictive.usable_model(card)
    verticals = predictive.usable_vertical_models(predictive.vertical_cards(store, card, con))
    rates, overall = predictive.baseline_table(store, card, now, con)
    return Context(card, pipe, fallback, verticals, rates, overall, rules_in_force(store, con),
                   model_weight(store, con))


# ---------------------------------------------------------------- scoring leads


RESULT_COLUMNS = ("probability", "band", "raises", "lowers", "scored_by", "card_id", "model_key", "rule_points",
                  "score", "factors")


def _model_keys(leads: pl.DataFrame, ctx: Context) -> list[str | None]:
    return [f"vertical:{v}" if v in ctx.verticals else ("global" if ctx.pipe is not None else None)
            for v in leads["vertical"].to_list()]


def _pipe_for(key: str, ctx: Context) -> Pipeline:
    return ctx.pipe if key == "global" else ctx.verticals[key.removeprefix("vertical:")][1]


def _baseline_texts(channel: str, rate: float | None, n: int | None, overall: float) -> tuple[str, str]:
    if rate is None:
        return "", f"channel {channel} unseen in training: overall rate {overall:.0%}"
    text = f"channel {channel} ({rate:.0%} of {n:,} past leads won vs {overall:.0%} overall)"
    return (text, "") if rate >= overall else ("", text)


@dataclass
class _Parts:
    """The per-lead pieces a score is made of, filled in by each model (or the baseline rule)."""

    probability: np.ndarray
    share: np.ndarray  # the model's share of the score, in points
    base: list[float | None]  # the average lead's model share (None: no model scored the lead)
    model: list[list[tuple[str, float]]]  # each model feature's points, named for the lead
    texts: list[tuple[str, str]]  # raises, lowers

    @classmethod
    def empty(cls, n: int) -> _Parts:
        return cls(np.full(n, np.nan), np.zeros(n), [None] * n, [[] for _ in range(n)], [("", "")] * n)


def _model_parts(leads: pl.DataFrame, keys: list[str | None], ctx: Context, explain: int, parts: _Parts) -> None:
    """Each model's probabilities and factors for the leads it scores (the first `explain` leads named)."""
    for key in sorted({k for k in keys if k is not None}):
        rows = [i for i, k in enumerate(keys) if k == key]
        pipe = _pipe_for(key, ctx)
        contrib = predictive.contributions(pipe, leads[rows])
        values = contrib.to_numpy()
        card = ctx.card if key == "global" else ctx.verticals[key.removeprefix("vertical:")][0]
        base, steps, parts.probability[rows], parts.share[rows] = model_steps(
            predictive.intercept(pipe), values, ctx.weight, card.get("logit_quantiles"))
        named = [j for j, i in enumerate(rows) if i < explain]  # positions in `rows` whose factors are named
        records = leads[[rows[j] for j in named]].to_dicts() if named else []
        for i in rows:
            parts.base[i] = base
        for j, row in zip(named, records, strict=True):
            i = rows[j]
            names = {f: predictive.describe(f, row) for f in contrib.columns}
            parts.model[i] = [(names[f], float(s)) for f, s in zip(contrib.columns, steps[j], strict=True)]
            parts.texts[i] = predictive.factor_text(dict(zip(contrib.columns, values[j].tolist(), strict=True)), names)


def _baseline_parts(leads: pl.DataFrame, keys: list[str | None], ctx: Context, parts: _Parts) -> None:
    """The baseline rule's probability (the channel's past win rate) for the leads no model scores."""
    rows = [i for i, k in enumerate(keys) if k is None]
    if not rows:
        return
    if ctx.overall is None:
        for i in rows:
            parts.texts[i] = ("", "no labelled history yet")
        return
    parts.probability[rows] = predictive.baseline_scores(leads[rows], ctx.rates, ctx.overall).to_numpy()
    seen = leads[rows].select("channel").join(ctx.rates, on="channel", how="left", maintain_order="left")
    for i, (channel, rate, n) in zip(rows, seen.select("channel", "rate", "leads").iter_rows(), strict=True):
        parts.texts[i] = _baseline_texts(channel, rate, n, ctx.overall)


def score_frame(leads: pl.DataFrame, ctx: Context, now: datetime, explained: int | None = None,
                with_factors: bool = True) -> pl.DataFrame:
    """`leads` (rows of pred_lead_features) with their score and its parts (RESULT_COLUMNS). Factor texts and
    the breakdown cover the first `explained` leads in the given order (None: all)."""
    n = leads.height
    explain = n if explained is None else min(explained, n)
    rules = active_rules(ctx.rules)
    matches = rule_matches(rule_facts(leads, now), rules)
    raw = matches.astype(float) @ np.array([r.points for r in rules], dtype=float) if rules else np.zeros(n)
    keys = _model_keys(leads, ctx)
    parts = _Parts.empty(n)
    _model_parts(leads, keys, ctx, explain, parts)
    _baseline_parts(leads, keys, ctx, parts)
    scored = np.array([k is not None for k in keys], dtype=bool)
    weight = np.where(scored, ctx.weight, 0.0)
    score = np.where(scored, parts.share, 0.0) + (1.0 - weight) * clamp_points(raw)
    probability = [None if math.isnan(p) else float(p) for p in parts.probability]
    texts = [t if i < explain else (None, None) for i, t in enumerate(parts.texts)]
    out = leads.with_columns(
        probability=pl.Series(probability, dtype=pl.Float64),
        band=pl.Series([predictive.band(p, ctx.base_rate) for p in probability], dtype=pl.String),
        raises=pl.Series([t[0] for t in texts], dtype=pl.String),
        lowers=pl.Series([t[1] for t in texts], dtype=pl.String),
        scored_by=pl.Series(["model" if k is not None else ("baseline rule" if ctx.overall is not None else "none")
                             for k in keys], dtype=pl.String),
        card_id=pl.lit(ctx.card["id"] if ctx.card else None, pl.Int64),
        model_key=pl.Series(keys, dtype=pl.String),
        rule_points=pl.Series(clamp_points(raw), dtype=pl.Float64),
        score=pl.Series(score, dtype=pl.Float64),
    )
    breakdowns = [json.dumps(factors(parts.base[i], parts.model[i],
                                     [(rules[j].label, rules[j].points) for j in np.flatnonzero(matches[i])],
                                     float(raw[i]), ctx.weight))
                  for i in range(explain if with_factors else 0)]
    return out.with_columns(factors=pl.Series(breakdowns + [None] * (n - len(breakdowns)), dtype=pl.String))


STORED_SCHEMA = {"lead_id": pl.Int64, "probability": pl.Float64, "band": pl.String, "raises": pl.String,
                 "lowers": pl.String, "scored_by": pl.String, "card_id": pl.Int64, "scored_at": pl.Datetime("us"),
                 "score": pl.Float64, "rule_points": pl.Float64, "model_key": pl.String, "factors": pl.String}


def _stored(scored: pl.DataFrame, now: datetime) -> pl.DataFrame:
    if scored.is_empty():
        return pl.DataFrame(schema=STORED_SCHEMA)
    return scored.select(pl.col("id").cast(pl.Int64).alias("lead_id"), *RESULT_COLUMNS,
                         scored_at=pl.lit(now, pl.Datetime("us"))).select(predictive.STORED_COLUMNS)


def score_all(store: Store, now: datetime) -> pl.DataFrame:
    """Every open lead in the store (no user's scope: the scheduler's view), scored and explained, as the
    rows of lead_scores (predictive.STORED_COLUMNS). Reads once, then computes with the store closed."""
    with store.read() as con:
        leads = predictive.lead_features(store, con)
        ctx = context(store, con, now)
    return _stored(score_frame(leads, ctx, now), now)


def store_scores(store: Store, con: duckdb.DuckDBPyConnection, scored: pl.DataFrame) -> int:
    """Replace lead_scores with `scored` (score_all's rows) inside the caller's write unit."""
    return predictive.store_scores(store, con, scored)


def rescore_leads(store: Store, con: duckdb.DuckDBPyConnection, lead_ids: Iterable[int],
                  now: datetime) -> pl.DataFrame:
    """Recompute these leads' scores inside the caller's open write (same transaction: they commit or roll
    back with the change that prompted them) and upsert their lead_scores rows; a lead no longer open loses
    its row. Models come from the in-process cache: no retraining. Returns the rows written. The caller
    has checked the actor's scope (this takes no actor: it runs on behalf of a write already allowed)."""
    ids = list(dict.fromkeys(int(i) for i in lead_ids))
    if not ids:
        return pl.DataFrame(schema=STORED_SCHEMA)
    leads = predictive.lead_features(store, con, ids, statuses=LEAD_STATUSES)
    unknown = sorted(set(ids) - set(leads["id"].to_list()))
    if unknown:
        raise ScoringError(f"There is no lead {', '.join(map(str, unknown))} to score.")
    for lead_id in leads.filter(~pl.col("status").is_in(predictive.OPEN_STATUSES))["id"].to_list():
        store.run("scoring_delete_score", con, lead_id=lead_id)
    open_leads = leads.filter(pl.col("status").is_in(predictive.OPEN_STATUSES))
    if open_leads.is_empty():
        return pl.DataFrame(schema=STORED_SCHEMA)
    rows = _stored(score_frame(open_leads, context(store, con, now), now), now)
    for row in rows.iter_rows(named=True):
        store.run("scoring_upsert_score", con, **row)
    return rows


def rescore_lead(store: Store, con: duckdb.DuckDBPyConnection, lead_id: int, now: datetime) -> dict[str, Any]:
    """Recompute one lead's score inside the caller's open write and upsert it (see rescore_leads). Returns the
    row written, its factors parsed; a lead no longer open returns {"lead_id", "score": None, "removed": True}."""
    rows = rescore_leads(store, con, [lead_id], now)
    if rows.is_empty():
        return {"lead_id": lead_id, "score": None, "removed": True}
    row = rows.row(0, named=True)
    return {**row, "factors": json.loads(row["factors"]) if row["factors"] else [], "removed": False}


# ---------------------------------------------------------------- what pages read


def open_scores(store: Store, actor: Actor, filters: Filters, now: datetime) -> pl.DataFrame:
    """Open leads in the actor's scope and the filters with their scores (predictive.SCORE_COLUMNS), highest
    probability first: stored by the last scoring run, or scored now for a lead it has not seen."""
    with store.read() as con:
        leads = store.frame("pred_lead_features", con, **filters.params(actor),
                            statuses=list(predictive.OPEN_STATUSES), lead_ids=[])
        fresh = leads.filter(pl.col("stored_scored_by").is_null())
        ctx = context(store, con, now) if not fresh.is_empty() else None
    parts = []
    stored = leads.filter(pl.col("stored_scored_by").is_not_null())
    if not stored.is_empty():
        parts.append(stored.with_columns(
            probability=pl.col("stored_probability"), band=pl.col("stored_band"), raises=pl.col("stored_raises"),
            lowers=pl.col("stored_lowers"), scored_by=pl.col("stored_scored_by"),
            scored_at=pl.col("stored_scored_at"), score=pl.col("stored_score"),
            rule_points=pl.col("stored_rule_points"), model_key=pl.col("stored_model_key")))
    if ctx is not None:
        parts.append(_live(fresh, ctx, now).with_columns(scored_at=pl.lit(now, pl.Datetime("us"))))
    if not parts:
        parts.append(leads.with_columns(
            probability=pl.lit(None, pl.Float64), band=pl.lit(""), raises=pl.lit(""), lowers=pl.lit(""),
            scored_by=pl.lit(""), scored_at=pl.lit(now, pl.Datetime("us")), score=pl.lit(None, pl.Float64),
            rule_points=pl.lit(None, pl.Float64), model_key=pl.lit(None, pl.String)))
    out = pl.concat([p.select(predictive.SCORE_COLUMNS) for p in parts], how="vertical_relaxed")
    out = out.sort("probability", "id", descending=[True, False], nulls_last=True)
    return mask_pii(out, actor)


def _live(leads: pl.DataFrame, ctx: Context, now: datetime) -> pl.DataFrame:
    """Leads scored now for a page: factor texts for the EXPLAINED most likely ones only (texts cost ~30 µs a
    lead, which for a store never scored at scale L would dominate the page)."""
    if leads.height <= predictive.EXPLAINED:
        return score_frame(leads, ctx, now, with_factors=False)
    scored = score_frame(leads, ctx, now, explained=0, with_factors=False)
    top = scored.sort("probability", "id", descending=[True, False], nulls_last=True).head(predictive.EXPLAINED)
    texts = score_frame(leads.filter(pl.col("id").is_in(top["id"].implode())), ctx, now, with_factors=False)
    return scored.drop("raises", "lowers").join(texts.select("id", "raises", "lowers"), on="id", how="left",
                                                maintain_order="left")


def _scope_params(actor: Actor) -> dict[str, Any]:
    return {**actor.scope_params(), "d0": predictive.EVER[0], "d1": predictive.EVER[1], "teams": [], "regions": [],
            "reps": [], "verticals": [], "channels": [], "statuses": list(LEAD_STATUSES)}


def breakdown(store: Store, actor: Actor, lead_id: int, now: datetime) -> dict[str, Any]:
    """One lead's score explained, for its waterfall: score, probability, band, rule points, model_key,
    scored_at, a note on what scored it, and `factors` (a frame: factor, points, start, end, kind) whose
    points sum to the score. The stored score when there is one, else computed now (nothing written).
    A lead outside the actor's book raises AccessDenied; an unknown lead ScoringError."""
    with store.read() as con:
        rows = store.frame("pred_lead_features", con, **_scope_params(actor), lead_ids=[int(lead_id)])
        if rows.is_empty():
            if store.scalar("scoring_lead_exists", con, lead_id=int(lead_id)):
                raise AccessDenied(f"Lead {lead_id} is not in your book; its score is not yours to see.")
            raise ScoringError(f"There is no lead {lead_id}.")
        lead = rows.row(0, named=True)
        card = predictive.latest_card(store, con=con)
        live = lead["stored_factors"] is None
        if live:
            scored = score_frame(rows, context(store, con, now), now).row(0, named=True)
    if live:
        result = {k: scored[k] for k in ("score", "probability", "band", "rule_points", "model_key", "scored_by",
                                         "card_id", "factors")} | {"scored_at": now}
    else:
        result = {k: lead[f"stored_{k}"] for k in ("score", "probability", "band", "rule_points", "model_key",
                                                   "scored_by", "card_id", "factors", "scored_at")}
    items = json.loads(result.pop("factors") or "[]")
    return {"lead_id": lead["id"], "merchant_name": lead["merchant_name"], "status": lead["status"], **result,
            "live": live, "note": _note(result["model_key"], predictive.fallback_reason(card)),
            "factors": waterfall(items)}


def _note(model_key: str | None, fallback: str | None) -> str:
    if model_key is None:
        return f"{fallback or 'No model scores this lead.'} The score is the rules' points alone."
    if model_key.startswith("vertical:"):
        vertical = model_key.removeprefix("vertical:")
        return (f"Scored by the {vertical} model, which beats the global model on {vertical} leads, "
                "blended with the rules.")
    return "Scored by the global conversion model, blended with the rules."


# ---------------------------------------------------------------- the rule editor


def _own_teams(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor, managed_only: bool) -> set[int]:
    if actor.rep_id is None:
        return set()
    teams = set(store.frame("scoring_managed_teams", con, rep_id=actor.rep_id)["team_id"].to_list())
    if not managed_only:
        teams |= set(store.frame("scoring_rep_team", con, rep_id=actor.rep_id)["team_id"].to_list())
    return teams


def _team_names(store: Store, con: duckdb.DuckDBPyConnection) -> dict[int, str]:
    return dict(store.frame("scoring_teams", con).iter_rows())


RULE_COLUMNS = {"id": pl.Int64, "team_id": pl.Int64, "label": pl.String, "field": pl.String, "op": pl.String,
                "value": pl.String, "points": pl.Float64, "active": pl.Boolean, "condition": pl.String,
                "updated_by": pl.String, "updated_at": pl.Datetime("us"), "source": pl.String}


def rules_frame(rules: Sequence[Rule], source: str, updated: dict[int, tuple[str | None, datetime | None]] | None = None
                ) -> pl.DataFrame:
    """Rules as the editor's rows (value as JSON text)."""
    updated = updated or {}
    return pl.DataFrame([{
        **{k: v for k, v in asdict(r).items() if k != "value"},
        "value": None if r.value is None else json.dumps(r.value), "condition": r.condition(),
        "updated_by": updated.get(r.id, (None, None))[0], "updated_at": updated.get(r.id, (None, None))[1],
        "source": source} for r in rules], schema=RULE_COLUMNS).select(list(RULE_COLUMNS))


def rules(store: Store, actor: Actor, team_id: int | None) -> pl.DataFrame:
    """The rule set of `team_id` (None: the store-wide set, STARTER_RULES with source "starter" until an admin
    saves one). Anyone reads the store-wide set; a team's set is read by its reps and managers, analysts,
    executives and admins."""
    with store.read() as con:
        if team_id is not None and team_id not in _team_names(store, con):
            raise ScoringError(f"There is no team {team_id}.")
        if team_id is not None and actor.role in ("rep", "manager") and \
                team_id not in _own_teams(store, con, actor, managed_only=False):
            raise AccessDenied(f"A {actor.role} reads the score rules of their own team only.")
        stored = store.frame("scoring_rules_all", con).filter(pl.col("team_id").eq_missing(team_id))
    if stored.is_empty() and team_id is None:
        return rules_frame(STARTER_RULES, "starter")
    parsed = [_stored_rule(r) for r in stored.iter_rows(named=True)]
    updated = {r["id"]: (r["updated_by"], r["updated_at"]) for r in stored.iter_rows(named=True)}
    return rules_frame(parsed, "stored", updated)



def _audit_rules(rules: Sequence[Rule]) -> dict[str, Any]:
    return {"rules": [{k: v for k, v in asdict(r).items() if k not in ("id", "team_id")} for r in rules]}


def save_rules(store: Store, actor: Actor, team_id: int | None, rows: pl.DataFrame | Iterable[dict[str, Any]],
               now: datetime) -> pl.DataFrame:
    """Replace the rule set of `team_id` (None: the store-wide set; admins only) whole with `rows` (label,
    field, op, value, points, active), validated (every problem named with its row) and audited; returns
    the saved set as `rules` does. Managers save their own teams' sets. Saving an empty store-wide set brings
    back the starter rules; to score without rules, save them with active false. Scores change at the next
    scoring run (or a lead's next rescore)."""
    parsed = parse_rules(rows, team_id)
    with store.write() as con:
        if team_id is not None and team_id not in _team_names(store, con):
            raise ScoringError(f"The rules were not saved: there is no team {team_id}.")
        require_team_editor(store, con, actor, team_id, *EDITED)
        before = [_stored_rule(r) for r in store.frame("scoring_rules_all", con)
                  .filter(pl.col("team_id").eq_missing(team_id)).iter_rows(named=True)]
        store.run("scoring_rules_delete", con, team_id=team_id)
        for r in parsed:
            store.scalar("scoring_rule_insert", con, team_id=team_id, label=r.label, field=r.field, op=r.op,
                         value=None if r.value is None else json.dumps(r.value), points=r.points, active=r.active,
                         updated_by=actor.username, updated_at=now)
        audit.record(con, actor.username, "update" if before else "create", "score_rules",
                     "store-wide" if team_id is None else team_id, now, before=_audit_rules(before) if before else None,
                     after=_audit_rules(parsed), reason="score rules saved")
    return rules(store, actor, team_id)


# ---------------------------------------------------------------- training and evaluation


def _summary(card: dict[str, Any]) -> dict[str, Any]:
    m, b = card.get("metrics") or {}, card.get("baseline_metrics") or {}
    return {
        "card_id": card.get("id"), "status": card["status"], "reason": card.get("reason"),
        "horizon_days": card["horizon_days"], "auc": m.get("auc"), "ece": m.get("ece"), "brier": m.get("brier"),
        "log_loss": m.get("log_loss"), "baseline_auc": b.get("auc"), "baseline_brier": b.get("brier"),
        "beats_baseline": card.get("beats_baseline", False), "labelled": card["labelled"], "train": card["train"],
        "test": card["test"], "verticals": card.get("verticals", []),
        "vertical_minimums": card.get("vertical_minimums"),
        "used_verticals": [v["vertical"] for v in card.get("verticals", []) if v["used"]],
    }


def train_all(store: Store, now: datetime) -> dict[str, Any]:
    """Train the global model and every vertical's (the scheduler's retrain job), save them and their cards;
    returns a summary: the global figures and, under "verticals", each vertical's decision and why."""
    return _summary(predictive.train(store, now))


def evaluate(store: Store, now: datetime) -> dict[str, Any]:
    """Train the global and vertical models on the store's history in memory and return their out-of-time
    figures (as train_all's summary); nothing is saved, the production models are left as they are."""
    with store.read() as con:
        horizon = predictive.horizon_setting(store, con)
        min_leads, min_wins = predictive.vertical_minimums(store, con)
        labelled = predictive.training_frame(store, now, horizon, con)
    fitted = predictive.fit_all(labelled, now, horizon, min_leads, min_wins)
    return _summary(fitted[0][0])


def _span_line(name: str, span: dict[str, Any]) -> str:
    if not span.get("n"):
        return f"{name} no leads"
    return (f"{name} {span['n']} leads {span['start'][:10]}..{span['end'][:10]} "
            f"(won {span['wins']}, {span['positive_rate']:.1%})")


def evaluation_lines(result: dict[str, Any]) -> list[str]:
    """evaluate's figures, one per line: "AUC 0.706", "ECE 0.010", "Brier 0.0798", ..."""
    def fmt(value: float | None, digits: int) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    lines = [f"Status {result['status']}" + (f": {result['reason']}" if result["reason"] else ""),
             f"Horizon {result['horizon_days']} days"]
    if result["status"] == "ok":
        lines += [f"AUC {fmt(result['auc'], 3)}", f"ECE {fmt(result['ece'], 3)}", f"Brier {fmt(result['brier'], 4)}",
                  f"Baseline AUC {fmt(result['baseline_auc'], 3)}", f"Baseline Brier {fmt(result['baseline_brier'], 4)}",
                  f"Beats baseline {'yes' if result['beats_baseline'] else 'no'}",
                  _span_line("Train", result["train"]), _span_line("Test", result["test"])]
    else:
        lines.append(_span_line("Labelled", result["labelled"]))
    mins = result.get("vertical_minimums") or {}
    if result["verticals"]:
        lines += [predictive.vertical_line(v) for v in result["verticals"]]
    else:
        lines.append("Vertical models none: no labelled lead records a vertical")
    if mins:
        lines.append(f"Vertical minimums {mins['leads']} training leads, {mins['wins']} wins")
    return lines
