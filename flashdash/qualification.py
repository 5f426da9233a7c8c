"""The qualification workflow: stages, per-team criteria, leads advancing by rule and by hand, and history.

A lead moves New → MQL → SQL → Opportunity and leaves by Won, Lost or Disqualified. Each team may set, per
stage (mql, sql, opportunity), the conditions a lead must meet to enter it and whether leads then advance by
themselves (`auto`); teams without their own use the store's default (team_id NULL), and a store without any
uses the built-in defaults below:

- MQL: score ≥ 40 and interest at least warm.
- SQL: a discovery call is logged (a call that connected, or whose outcome or notes mention "discovery") and
  the budget is confirmed.
- Opportunity: a meeting or a demo is logged after the lead became SQL, or an opportunity record exists.

Conditions are a JSON list, all of which must hold. Each is {"field", "op", "value"} or {"any": [conditions]}
(one of them must hold). A lead whose value is missing fails a condition, except `ne` and `not_in`, which it
meets. A lead belongs to its owner's team (an unassigned lead: the default criteria).

Rules only move a lead forward, one stage at a time (several in one evaluation), never out of an exit stage,
and never a lead that a person last moved back or reopened: that lead stays where they put it until a person
moves it forward again. People move leads by hand with a reason: forward or to an exit, and (managers and
admins only) backward or out of an exit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from flashdash import audit
from flashdash.access import AccessDenied, Actor, require_team_editor
from flashdash.entities import COMPANY_SIZES, INTEREST_LEVELS
from flashdash.store import Store

# What a team's manager (or an admin) changes, and what only an admin does: access.require_team_editor.
EDITED = ("qualification criteria", "changes the default criteria")

STAGES = ("new", "mql", "sql", "opportunity")
EXITS = ("won", "lost", "disqualified")
ALL_STAGES = STAGES + EXITS
CRITERIA_STAGES = STAGES[1:]  # the stages a lead can enter by rule
STAGE_LABELS = {"new": "New", "mql": "MQL", "sql": "SQL", "opportunity": "Opportunity", "won": "Won",
                "lost": "Lost", "disqualified": "Disqualified"}
RULE_ACTOR = "rule"
NEXT = "next"  # change_stage's target for "each lead one stage on" (the bulk action "advance")
MAX_REASON = 500
MAX_CONDITIONS = 20
MAX_LEADS_PER_CHANGE = 10_000
CHANGERS = ("rep", "manager", "admin")  # analysts and executives read, they do not move leads
BACKWARD_MOVERS = ("manager", "admin")
BANDS = ("low", "medium", "high")


class QualificationError(ValueError):
    """Criteria or a stage change that cannot be saved as given; the message says what to change."""


# ---------------------------------------------------------------- the fields conditions test


@dataclass(frozen=True)
class FieldSpec:
    """A lead fact conditions may test: its kind fixes the operators and values it accepts."""

    name: str
    kind: str  # number | ordered | category | bool
    label: str
    values: tuple[str, ...] = ()  # ordered: lowest first
    low: float | None = None  # numbers: the smallest and largest sensible value
    high: float | None = None
    noun: str | None = None  # counts: "discovery call" (for "a discovery call is logged")
    true_text: str = ""  # bools: how "is true" reads
    false_text: str = ""


def _count(name: str, noun: str, plural: str) -> FieldSpec:
    return FieldSpec(name, "number", plural, low=0, noun=noun)


def _flag(name: str, yes: str, no: str) -> FieldSpec:
    return FieldSpec(name, "bool", yes, true_text=yes, false_text=no)


FIELDS: dict[str, FieldSpec] = {f.name: f for f in (
    FieldSpec("score", "number", "score", low=0, high=100),
    FieldSpec("probability", "number", "win probability", low=0, high=1),
    FieldSpec("band", "ordered", "score band", values=BANDS),
    FieldSpec("interest_level", "ordered", "interest", values=INTEREST_LEVELS),
    FieldSpec("company_size", "ordered", "company size", values=COMPANY_SIZES),
    FieldSpec("vertical", "category", "vertical"),
    FieldSpec("channel", "category", "channel"),
    FieldSpec("language", "category", "language"),
    FieldSpec("monthly_volume", "number", "monthly volume", low=0),
    _flag("budget_confirmed", "budget is confirmed", "budget is not confirmed"),
    _count("calls", "call", "calls"),
    _count("emails", "email", "emails"),
    _count("meetings", "meeting", "meetings"),
    _count("demos", "demo", "demos"),
    _count("discovery_calls", "discovery call", "discovery calls"),
    _count("meetings_since_sql", "meeting since SQL", "meetings since SQL"),
    _count("demos_since_sql", "demo since SQL", "demos since SQL"),
    _flag("has_email", "an email address is known", "no email address is known"),
    _flag("has_phone", "a phone number is known", "no phone number is known"),
    _flag("has_opportunity", "an opportunity exists", "no opportunity exists"),
    FieldSpec("days_since_submitted", "number", "days since submitted", low=0),
    FieldSpec("days_in_stage", "number", "days in stage", low=0),
)}
# Facts that describe the current stage: after a step within one evaluation they start again from zero.
STAGE_RELATIVE = {"days_in_stage": 0.0, "meetings_since_sql": 0, "demos_since_sql": 0}

OPS: dict[str, tuple[str, ...]] = {
    "number": ("eq", "ne", "gte", "lte", "is_set"),
    "ordered": ("eq", "ne", "in", "not_in", "gte", "lte", "is_set"),
    "category": ("eq", "ne", "in", "not_in", "is_set"),
    "bool": ("is_true", "is_false"),
}
NO_VALUE_OPS = ("is_true", "is_false", "is_set")
LIST_OPS = ("in", "not_in")


def condition_fields() -> pl.DataFrame:
    """The fields and operators the criteria editor offers (with the allowed values of ordered fields)."""
    return pl.DataFrame({
        "field": list(FIELDS),
        "label": [f.label for f in FIELDS.values()],
        "kind": [f.kind for f in FIELDS.values()],
        "ops": [list(OPS[f.kind]) for f in FIELDS.values()],
        "values": [list(f.values) for f in FIELDS.values()],
    }, schema={"field": pl.String, "label": pl.String, "kind": pl.String, "ops": pl.List(pl.String),
               "values": pl.List(pl.String)})


# ---------------------------------------------------------------- validating conditions (pure)


def validate_conditions(conditions: Any) -> list[dict[str, Any]]:
    """The conditions normalised (text values lower-cased and trimmed), or QualificationError naming every
    problem, each with its position ("condition 2: ...")."""
    if isinstance(conditions, str):
        try:
            conditions = json.loads(conditions)
        except json.JSONDecodeError as exc:
            raise QualificationError(f"The conditions are not valid JSON ({exc.msg}); give a list of "
                                     '{"field", "op", "value"} objects.') from None
    if not isinstance(conditions, list):
        raise QualificationError('The conditions must be a list of {"field", "op", "value"} objects.')
    if not conditions:
        raise QualificationError("Give at least one condition; to stop leads advancing by themselves, turn "
                                 "auto off instead.")
    problems: list[str] = []
    if len(conditions) > MAX_CONDITIONS:
        problems.append(f"there are {len(conditions)} conditions; the most is {MAX_CONDITIONS}")
    out = [_validate_one(c, f"condition {i}", problems, nested=False) for i, c in enumerate(conditions, 1)]
    if problems:
        raise QualificationError("The criteria were not saved: " + "; ".join(problems) + ".")
    return out


def _validate_one(cond: Any, where: str, problems: list[str], nested: bool) -> dict[str, Any]:
    if not isinstance(cond, dict):
        problems.append(f'{where} is not an object like {{"field": "score", "op": "gte", "value": 40}}')
        return {}
    if "any" in cond:
        return _validate_any(cond, where, problems, nested)
    unknown_keys = set(cond) - {"field", "op", "value"}
    if unknown_keys:
        problems.append(f"{where} has unknown keys {sorted(unknown_keys)}; use field, op and value")
    field, op, value = cond.get("field"), cond.get("op"), cond.get("value")
    spec = FIELDS.get(field) if isinstance(field, str) else None
    if spec is None:
        problems.append(f"{where}: unknown field {field!r}; choose one of {', '.join(FIELDS)}")
        return {"field": field, "op": op, "value": value}
    if op not in OPS[spec.kind]:
        problems.append(f"{where}: the operator {op!r} does not apply to {field} ({spec.kind}); use one of "
                        f"{', '.join(OPS[spec.kind])}")
        return {"field": field, "op": op, "value": value}
    value, problem = _check_value(spec, op, value)
    if problem:
        problems.append(f"{where} ({field} {op}): {problem}")
    return {"field": field, "op": op, "value": value}


def _validate_any(cond: dict[str, Any], where: str, problems: list[str], nested: bool) -> dict[str, Any]:
    items = cond["any"]
    if nested:
        problems.append(f"{where}: an 'any' group cannot contain another group")
        return {"any": []}
    if set(cond) != {"any"}:
        problems.append(f"{where}: an 'any' group has only the key 'any'")
    if not isinstance(items, list) or len(items) < 2:
        problems.append(f"{where}: an 'any' group needs a list of at least two conditions")
        return {"any": []}
    return {"any": [_validate_one(c, f"{where}.{j}", problems, nested=True) for j, c in enumerate(items, 1)]}


def _check_value(spec: FieldSpec, op: str, value: Any) -> tuple[Any, str | None]:
    """The value normalised, and what is wrong with it (None when nothing)."""
    if op in NO_VALUE_OPS:
        return None, None if value is None else f"{op} takes no value (got {value!r})"
    if op in LIST_OPS:
        if not isinstance(value, list) or not value:
            return value, "give a non-empty list of values"
        checked = [_check_scalar(spec, v) for v in value]
        bad = [p for _, p in checked if p]
        return [v for v, _ in checked], bad[0] if bad else None
    return _check_scalar(spec, value)


def _check_scalar(spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    if spec.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return value, f"the value must be a number (got {value!r})"
        if spec.low is not None and value < spec.low or spec.high is not None and value > spec.high:
            span = f"between {spec.low:g} and {spec.high:g}" if spec.high is not None else f"at least {spec.low:g}"
            return value, f"the value must be {span} (got {value!r})"
        return value, None
    if not isinstance(value, str) or not value.strip():
        return value, f"the value must be a non-empty text (got {value!r})"
    text = value.strip().lower()
    if len(text) > 100:
        return text, "the value is longer than 100 characters"
    if spec.kind == "ordered" and text not in spec.values:
        return text, f"{text!r} is not one of {', '.join(spec.values)}"
    return text, None


# ---------------------------------------------------------------- describing criteria (pure)


def describe_condition(cond: Mapping[str, Any]) -> str:
    """One condition as a person would say it: "score ≥ 40", "interest is at least warm"."""
    if "any" in cond:
        return "(" + " or ".join(describe_condition(c) for c in cond["any"]) + ")"
    spec, op, value = FIELDS[cond["field"]], cond["op"], cond.get("value")
    if op == "is_true":
        return spec.true_text
    if op == "is_false":
        return spec.false_text
    if op == "is_set":
        return f"{spec.label} is known"
    if spec.noun and op == "gte" and value == 1:
        return f"{_article(spec.noun)} {spec.noun} is logged"
    if spec.noun and op == "gte":
        return f"at least {value:g} {spec.label} are logged"
    shown = ", ".join(map(str, value)) if isinstance(value, list) else (
        f"{value:g}" if isinstance(value, int | float) else str(value))
    if spec.kind == "ordered" and op in ("gte", "lte"):
        return f"{spec.label} is {'at least' if op == 'gte' else 'at most'} {shown}"
    symbol = {"eq": "=", "ne": "≠", "gte": "≥", "lte": "≤"}.get(op)
    if spec.kind == "number" and symbol:
        return f"{spec.label} {symbol} {shown}"
    words = {"eq": "is", "ne": "is not", "in": "is one of", "not_in": "is none of"}[op]
    return f"{spec.label} {words} {shown}"


def _article(noun: str) -> str:
    return "an" if noun[0] in "aeiou" else "a"


def describe(stage: str, conditions: Sequence[Mapping[str, Any]]) -> str:
    """The rule as a stage change's reason: "rule: MQL when score ≥ 40 and interest is at least warm"."""
    return f"rule: {STAGE_LABELS[stage]} when " + " and ".join(describe_condition(c) for c in conditions)


# ---------------------------------------------------------------- criteria


BUILTIN: dict[str, list[dict[str, Any]]] = {
    "mql": [{"field": "score", "op": "gte", "value": 40},
            {"field": "interest_level", "op": "gte", "value": "warm"}],
    "sql": [{"field": "discovery_calls", "op": "gte", "value": 1},
            {"field": "budget_confirmed", "op": "is_true", "value": None}],
    "opportunity": [{"any": [{"field": "meetings_since_sql", "op": "gte", "value": 1},
                             {"field": "demos_since_sql", "op": "gte", "value": 1},
                             {"field": "has_opportunity", "op": "is_true", "value": None}]}],
}


@dataclass(frozen=True)
class Criterion:
    """What a lead needs to enter `stage`, and whether it then advances by itself."""

    stage: str
    conditions: tuple[dict[str, Any], ...]
    auto: bool = True
    source: str = "built-in"  # team | default | built-in
    team_id: int | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None

    @property
    def description(self) -> str:
        return describe(self.stage, self.conditions)


def builtin_criteria() -> dict[str, Criterion]:
    return {stage: Criterion(stage, tuple(conds)) for stage, conds in BUILTIN.items()}


def _from_row(row: Mapping[str, Any], source: str) -> Criterion:
    return Criterion(row["stage"], tuple(json.loads(row["conditions"])), bool(row["auto"]), source,
                     row["team_id"], row["updated_by"], row["updated_at"])


def _stored(store: Store, con: duckdb.DuckDBPyConnection) -> dict[int | None, dict[str, Criterion]]:
    """Stored criteria by team (None: the default), newest row per (team, stage)."""
    out: dict[int | None, dict[str, Criterion]] = {}
    for row in store.frame("qual_criteria_rows", con).iter_rows(named=True):
        if row["stage"] in CRITERIA_STAGES:
            out.setdefault(row["team_id"], {})[row["stage"]] = _from_row(
                row, "default" if row["team_id"] is None else "team")
    return out


def _effective(stored: Mapping[int | None, Mapping[str, Criterion]], team_id: int | None) -> dict[str, Criterion]:
    """The criteria a team's leads meet: its own per stage, else the store's default, else the built-in."""
    merged = builtin_criteria()
    merged.update(stored.get(None, {}))
    if team_id is not None:
        merged.update(stored.get(team_id, {}))
    return merged


CRITERIA_SCHEMA = {"stage": pl.String, "label": pl.String, "description": pl.String, "conditions": pl.String,
                   "auto": pl.Boolean, "source": pl.String, "team_id": pl.Int64, "updated_by": pl.String,
                   "updated_at": pl.Datetime("us")}


def criteria(store: Store, actor: Actor, team_id: int | None) -> pl.DataFrame:
    """A team's effective criteria (team_id None: the default), one row per stage, each saying where it comes
    from: source "team" (its own), "default" (the store's default) or "built-in". Every role may read them:
    they say how the workflow behaves and hold no lead data."""
    with store.read() as con:
        if team_id is not None:
            _team(store, con, team_id)
        effective = _effective(_stored(store, con), team_id)
    rows = [{"stage": c.stage, "label": STAGE_LABELS[c.stage], "description": c.description,
             "conditions": json.dumps(list(c.conditions)), "auto": c.auto, "source": c.source,
             "team_id": c.team_id, "updated_by": c.updated_by, "updated_at": c.updated_at}
            for c in (effective[s] for s in CRITERIA_STAGES)]
    return pl.DataFrame(rows, schema=CRITERIA_SCHEMA)


def _team(store: Store, con: duckdb.DuckDBPyConnection, team_id: int) -> dict[str, Any]:
    rows = store.frame("qual_team", con, team_id=team_id)
    if rows.is_empty():
        raise QualificationError(f"There is no team {team_id}; pick one of the teams listed.")
    return rows.row(0, named=True)



def _check_stage(stage: str) -> str:
    if stage not in CRITERIA_STAGES:
        raise QualificationError(f"Criteria are set for the stages {', '.join(CRITERIA_STAGES)} (got {stage!r}).")
    return stage


def save_criteria(store: Store, actor: Actor, team_id: int | None, stage: str, conditions: Any, auto: bool,
                  now: datetime) -> int:
    """Set what a lead of `team_id` (None: the default) needs to enter `stage`; returns the criterion's id.
    Managers edit their own team's, admins any team's and the default. Audited with before and after."""
    stage = _check_stage(stage)
    clean = validate_conditions(conditions)
    if not isinstance(auto, bool):
        raise QualificationError(f"auto must be true or false (got {auto!r}).")
    text = json.dumps(clean)
    with store.write() as con:
        if team_id is not None:
            _team(store, con, team_id)
        require_team_editor(store, con, actor, team_id, *EDITED)
        old = store.frame("qual_criterion", con, team_id=team_id, stage=stage)
        before = None if old.is_empty() else _audit_view(old.row(0, named=True))
        fields = {"conditions": text, "auto": auto, "updated_by": actor.username, "updated_at": now}
        if before is None:
            cid = store.scalar("qual_criterion_insert", con, team_id=team_id, stage=stage, **fields)
        else:
            cid = before["id"]
            store.run("qual_criterion_update", con, id=cid, **fields)
        after = {"id": cid, "team_id": team_id, "stage": stage, "conditions": clean, "auto": auto}
        audit.record(con, actor.username, "create" if before is None else "update", "qualification_criteria",
                     cid, now, before=before, after=after, reason=describe(stage, clean))
    return cid


def reset_criteria(store: Store, actor: Actor, team_id: int | None, stage: str, now: datetime) -> bool:
    """Remove a team's own criterion for `stage` (its leads then meet the default); False if it had none."""
    stage = _check_stage(stage)
    with store.write() as con:
        if team_id is not None:
            _team(store, con, team_id)
        require_team_editor(store, con, actor, team_id, *EDITED)
        old = store.frame("qual_criterion", con, team_id=team_id, stage=stage)
        if old.is_empty():
            return False
        store.run("qual_criterion_delete", con, team_id=team_id, stage=stage)
        audit.record(con, actor.username, "delete", "qualification_criteria", old["id"][0], now,
                     before=_audit_view(old.row(0, named=True)), reason="back to the default criteria")
    return True


def _audit_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "team_id": row["team_id"], "stage": row["stage"],
            "conditions": json.loads(row["conditions"]), "auto": row["auto"]}


# ---------------------------------------------------------------- facts


def lead_facts(store: Store, con: duckdb.DuckDBPyConnection, lead_ids: Iterable[int] | None,
               now: datetime) -> pl.DataFrame:
    """The fields criteria test, one row per lead (every open lead when `lead_ids` is None), as of `now`;
    plus lead_id, status, team_id, owner_id, held (a person last moved it back) and last_activity_at."""
    ids = [] if lead_ids is None else sorted({int(i) for i in lead_ids})
    return store.frame("qual_lead_facts", con, every_open=lead_ids is None, lead_ids=ids, now=now)


# ---------------------------------------------------------------- evaluating one lead (pure)


def holds(cond: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
    """Whether a lead's facts meet one condition (missing values fail all but ne and not_in)."""
    if "any" in cond:
        return any(holds(c, row) for c in cond["any"])
    spec, op, value = FIELDS[cond["field"]], cond["op"], cond.get("value")
    got = row.get(spec.name)
    if isinstance(got, float) and math.isnan(got):
        got = None
    if op == "is_true":
        return got is True
    if op == "is_false":
        return got is not True
    if op == "is_set":
        return got is not None and got != ""
    if got is None:
        return op in ("ne", "not_in")
    if spec.kind == "ordered" and op in ("gte", "lte"):
        rank = spec.values.index(got) if got in spec.values else None
        if rank is None:
            return False
        return rank >= spec.values.index(value) if op == "gte" else rank <= spec.values.index(value)
    return {"eq": lambda: got == value, "ne": lambda: got != value, "in": lambda: got in value,
            "not_in": lambda: got not in value, "gte": lambda: got >= value, "lte": lambda: got <= value}[op]()


def _as_criteria(criteria: Mapping[str, Criterion] | Iterable[Criterion]) -> dict[str, Criterion]:
    if isinstance(criteria, Mapping):
        return dict(criteria)
    return {c.stage: c for c in criteria}


def next_stages(facts_row: Mapping[str, Any], criteria: Mapping[str, Criterion] | Iterable[Criterion],
                auto_only: bool = True) -> list[tuple[str, str]]:
    """The stages a lead qualifies for from its current one, in order, one step at a time, each with its
    reason. Exits and leads a person moved back (held) never move by rule; a stage whose criterion is not
    auto stops the climb (unless `auto_only` is False: then it says what the lead would qualify for)."""
    by_stage = _as_criteria(criteria)
    stage = facts_row.get("status")
    if stage not in STAGES or facts_row.get("held"):
        return []
    row = dict(facts_row)
    steps: list[tuple[str, str]] = []
    for target in STAGES[STAGES.index(stage) + 1:]:
        crit = by_stage.get(target)
        if crit is None or (auto_only and not crit.auto) or not all(holds(c, row) for c in crit.conditions):
            break
        steps.append((target, crit.description))
        row.update(STAGE_RELATIVE)
    return steps


# ---------------------------------------------------------------- evaluating many leads (vectorised)


def condition_expr(cond: Mapping[str, Any]) -> pl.Expr:
    """A condition as a polars expression over a facts frame, with the semantics of `holds`."""
    if "any" in cond:
        exprs = [condition_expr(c) for c in cond["any"]]
        return pl.any_horizontal(exprs)
    spec, op, value = FIELDS[cond["field"]], cond["op"], cond.get("value")
    col = pl.col(spec.name)
    if spec.kind == "number":
        col = col.cast(pl.Float64).fill_nan(None)
    if op == "is_true":
        return col.fill_null(False)
    if op == "is_false":
        return (~col).fill_null(True)
    if op == "is_set":
        return (col.is_not_null() & (col.cast(pl.String) != "")).fill_null(False)
    if spec.kind == "ordered" and op in ("gte", "lte"):
        rank = col.replace_strict(list(spec.values), list(range(len(spec.values))), default=None,
                                  return_dtype=pl.Int64)
        bound = spec.values.index(value)
        return (rank >= bound if op == "gte" else rank <= bound).fill_null(False)
    if op in LIST_OPS:
        member = col.is_in(pl.Series(value, dtype=pl.String if spec.kind != "number" else pl.Float64))
        return member.fill_null(False) if op == "in" else (~member).fill_null(True)
    compare = {"eq": col == value, "ne": col != value, "gte": col >= value, "lte": col <= value}[op]
    return compare.fill_null(op == "ne")


def _criterion_expr(crit: Criterion | None) -> pl.Expr:
    if crit is None or not crit.auto:
        return pl.lit(False)
    return pl.all_horizontal([condition_expr(c) for c in crit.conditions])


def _per_team(by_team: Mapping[int | None, Mapping[str, Criterion]], stage: str) -> tuple[pl.Expr, pl.Expr]:
    """Whether each row meets its team's criterion for `stage`, and that criterion's reason text."""
    default = by_team[None].get(stage)
    met = _criterion_expr(default)
    why = pl.lit(default.description if default else None, dtype=pl.String)
    for team_id, crits in by_team.items():
        if team_id is None:
            continue
        crit = crits.get(stage)
        mine = pl.col("team_id") == team_id
        met = pl.when(mine).then(_criterion_expr(crit)).otherwise(met)
        why = pl.when(mine).then(pl.lit(crit.description if crit else None, dtype=pl.String)).otherwise(why)
    return met, why


def plan_advance(facts: pl.DataFrame, by_team: Mapping[int | None, Mapping[str, Criterion]]) -> pl.DataFrame:
    """Every rule step the leads in `facts` take now: lead_id, step (1, 2, 3), from_status, to_status, reason.
    `by_team` maps each team id in the frame (and None, the default) to its effective criteria."""
    state = facts.with_columns(pl.col("status").alias("_at"))
    steps: list[pl.DataFrame] = []
    for i, target in enumerate(CRITERIA_STAGES, start=1):
        met, why = _per_team(by_team, target)
        state = state.with_columns(
            _go=(pl.col("_at") == STAGES[i - 1]) & ~pl.col("held").fill_null(False) & met,
            _why=why,
        )
        moved = state.filter("_go")
        steps.append(moved.select("lead_id", pl.col("_at").alias("from_status"),
                                  pl.lit(target).alias("to_status"), pl.col("_why").alias("reason")))
        reset = [pl.when(pl.col("_go")).then(pl.lit(v)).otherwise(pl.col(k)).cast(facts.schema[k]).alias(k)
                 for k, v in STAGE_RELATIVE.items()]
        state = state.with_columns(
            pl.when("_go").then(pl.lit(target)).otherwise(pl.col("_at")).alias("_at"), *reset,
        )
    out = pl.concat([s.with_columns(step=pl.lit(n, dtype=pl.Int64)) for n, s in enumerate(steps, 1)])
    # a lead's step number counts its own steps (1 for its first move, even from mql)
    out = out.with_columns(step=pl.col("step").rank("ordinal").over("lead_id").cast(pl.Int64))
    return out.select("lead_id", "step", "from_status", "to_status", "reason").sort("lead_id", "step")


CHANGES_SCHEMA = {"lead_id": pl.Int64, "step": pl.Int64, "from_status": pl.String, "to_status": pl.String,
                  "reason": pl.String}


def advance(store: Store, con: duckdb.DuckDBPyConnection, lead_ids: Iterable[int] | None,
            now: datetime) -> pl.DataFrame:
    """Apply every rule step the given leads (None: every open lead) qualify for, inside the caller's write
    connection: statuses, stage-change rows and audit records, all with actor "rule". Returns the changes
    (lead_id, step, from_status, to_status, reason). A second call at the same `now` changes nothing."""
    facts = lead_facts(store, con, lead_ids, now)
    if facts.is_empty():
        return pl.DataFrame(schema=CHANGES_SCHEMA)
    stored = _stored(store, con)
    teams = set(facts["team_id"].drop_nulls().to_list())
    by_team = {team: _effective(stored, team) for team in teams | {None}}
    changes = plan_advance(facts.with_columns(pl.col("team_id").cast(pl.Int64)), by_team).cast(CHANGES_SCHEMA)
    _apply(store, con, changes, RULE_ACTOR, now)
    return changes


def apply_changes(store: Store, con: duckdb.DuckDBPyConnection, changes: pl.DataFrame, actor: str,
                  now: datetime) -> None:
    """Inside the caller's write unit: move leads as `changes` (CHANGES_SCHEMA) says, with their stage-change
    rows and audit records (what closing a deal does to its lead, in the deal's own transaction). The caller has
    checked the moves (move_refusal)."""
    _apply(store, con, changes, actor, now)


def _apply(store: Store, con: duckdb.DuckDBPyConnection, changes: pl.DataFrame, actor: str,
           now: datetime) -> None:
    """Write `changes` (lead_id, step, from_status, to_status, reason): each lead to its last step's stage,
    one stage-change row and one audit record per step, step by step so the history keeps their order."""
    if changes.is_empty():
        return
    final = changes.sort("lead_id", "step").group_by("lead_id").agg(pl.col("from_status").first(),
                                                                   pl.col("to_status").last())
    store.run("qual_set_status", con, now=now, lead_ids=final["lead_id"].to_list(),
              from_statuses=final["from_status"].to_list(), to_statuses=final["to_status"].to_list())
    for _, step in changes.sort("step").group_by("step", maintain_order=True):
        cols = {"lead_ids": step["lead_id"].to_list(), "reasons": step["reason"].to_list()}
        store.run("qual_insert_changes", con, now=now, actor=actor, from_statuses=step["from_status"].to_list(),
                  to_statuses=step["to_status"].to_list(), **cols)
        store.run("qual_audit_changes", con, now=now, actor=actor,
                  befores=[_status_json(s) for s in step["from_status"]],
                  afters=[_status_json(s) for s in step["to_status"]], **cols)


def _status_json(status: str | None) -> str:
    # the shape audit.record writes for before/after
    return json.dumps({"status": status}, sort_keys=True)


# ---------------------------------------------------------------- moving leads by hand


def unassigned_regions(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor) -> list[int]:
    """The regions whose unassigned leads the actor sees: a manager routes their teams' regions' queue."""
    if actor.role != "manager" or actor.rep_id is None:
        return []
    teams = store.frame("qual_teams_managed", con, rep_id=actor.rep_id)
    return sorted({r for r in teams["region_id"].to_list() if r is not None})


def scope_params(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor) -> dict[str, Any]:
    """The row-scope parameters of this module's and views' queries (see the note in qualification.sql)."""
    return {**actor.scope_params(), "unassigned_regions": unassigned_regions(store, con, actor)}


def _check_move_request(actor: Actor, lead_ids: Iterable[int], to_stage: str) -> list[int]:
    if actor.role not in CHANGERS:
        raise AccessDenied(f"A {actor.role} reads the pipeline but does not move leads.")
    if to_stage not in ALL_STAGES and to_stage != NEXT:
        raise QualificationError(f"Unknown stage {to_stage!r}; choose one of {', '.join(ALL_STAGES)} or "
                                 f"{NEXT!r} (each lead one stage on).")
    try:
        ids = sorted({int(i) for i in lead_ids})
    except (TypeError, ValueError):
        raise QualificationError("Lead ids must be whole numbers.") from None
    if not ids:
        raise QualificationError("Select at least one lead.")
    if len(ids) > MAX_LEADS_PER_CHANGE:
        raise QualificationError(f"{len(ids):,} leads are selected; change at most {MAX_LEADS_PER_CHANGE:,} "
                                 "at a time (narrow the filter).")
    return ids


def check_reason(reason: str | None) -> str:
    """The reason trimmed, or QualificationError: a move by hand needs one, of at most 500 characters."""
    text = (reason or "").strip()
    if not text:
        raise QualificationError("Give a reason for the stage change (it is kept in the lead's history).")
    if len(text) > MAX_REASON:
        raise QualificationError(f"The reason is {len(text)} characters; keep it to {MAX_REASON}.")
    return text


def move_refusal(role: str, from_stage: str | None, to_stage: str) -> str | None:
    """Why `role` may not move a lead from `from_stage` to `to_stage` (None: allowed). Forward and into an
    exit is for anyone who moves leads; backward and out of an exit for managers and admins."""
    if from_stage in STAGES and (to_stage in EXITS or STAGES.index(to_stage) > STAGES.index(from_stage)):
        return None
    if role in BACKWARD_MOVERS:
        return None
    if from_stage in EXITS:
        return f"reopening a {STAGE_LABELS[from_stage]} lead needs a manager"
    return f"moving back from {STAGE_LABELS.get(from_stage or '', from_stage)} needs a manager"


def _plan_change(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor, ids: list[int],
                 to_stage: str) -> tuple[pl.DataFrame, dict[str, Any]]:
    rows = store.frame("qual_leads_for_change", con, lead_ids=ids, **scope_params(store, con, actor))
    changed, refusals, unchanged = [], [], 0
    for row in rows.iter_rows(named=True):  # at most MAX_LEADS_PER_CHANGE small dicts: clearer than a frame
        target = next_stage(row["status"]) if to_stage == NEXT else to_stage
        if not row["in_scope"]:
            refusals.append({"lead_id": row["lead_id"], "reason": "not in your book"})
        elif target is None:
            refusals.append({"lead_id": row["lead_id"], "reason": _no_next(row["status"])})
        elif row["status"] == target:
            unchanged += 1
        elif why := move_refusal(actor.role, row["status"], target):
            refusals.append({"lead_id": row["lead_id"], "reason": why})
        else:
            changed.append((row["lead_id"], row["status"], target))
    plan = pl.DataFrame({"lead_id": [c[0] for c in changed], "step": [1] * len(changed),
                         "from_status": [c[1] for c in changed], "to_status": [c[2] for c in changed]},
                        schema={k: v for k, v in CHANGES_SCHEMA.items() if k != "reason"})
    summary = {"to_stage": to_stage, "requested": len(ids), "changed": len(changed), "unchanged": unchanged,
               "refused": len(refusals), "refusals": refusals, "changed_ids": [c[0] for c in changed]}
    return plan, summary


def _no_next(stage: str | None) -> str:
    if stage in EXITS:
        return f"already closed ({STAGE_LABELS[stage]})"
    return "no open stage after Opportunity (close it as won or lost)"


def next_stage(stage: str | None) -> str | None:
    """The open stage after `stage` (None after Opportunity, for exits and unknown stages)."""
    if stage not in STAGES[:-1]:
        return None
    return STAGES[STAGES.index(stage) + 1]


def confirmation(summary: Mapping[str, Any], done: bool = False) -> str:
    """The sentence a bulk action shows: "This changes 12 leads to MQL; 3 already are; 2 are refused (...)"."""
    n, label = summary["changed"], STAGE_LABELS.get(summary["to_stage"], "their next stage")
    head = f"{'Changed' if done else 'This changes'} {n:,} lead{'' if n == 1 else 's'} to {label}"
    parts = [head]
    if summary["unchanged"]:
        parts.append(f"{summary['unchanged']:,} already {'is' if summary['unchanged'] == 1 else 'are'} {label}")
    if summary["refused"]:
        why: dict[str, int] = {}
        for r in summary["refusals"]:
            why[r["reason"]] = why.get(r["reason"], 0) + 1
        detail = ", ".join(f"{k}: {v:,}" for k, v in sorted(why.items(), key=lambda kv: -kv[1]))
        parts.append(f"{summary['refused']:,} {'is' if summary['refused'] == 1 else 'are'} refused ({detail})")
    return "; ".join(parts) + "."


def preview_change(store: Store, actor: Actor, lead_ids: Iterable[int], to_stage: str) -> dict[str, Any]:
    """What change_stage would do, without writing: requested, changed, unchanged, refused (with refusals:
    lead_id and reason), changed_ids and the confirmation message."""
    ids = _check_move_request(actor, lead_ids, to_stage)
    with store.read() as con:
        _, summary = _plan_change(store, con, actor, ids, to_stage)
    return {**summary, "message": confirmation(summary)}


def change_stage(store: Store, actor: Actor, lead_ids: Iterable[int], to_stage: str, reason: str,
                 now: datetime) -> dict[str, Any]:
    """Move leads to `to_stage` (or NEXT: each open lead one stage on) by hand in one transaction, with a reason;
    leads out of scope or moves the actor may not make are refused and counted, leads already there unchanged.
    Returns preview_change's dict."""
    ids = _check_move_request(actor, lead_ids, to_stage)
    text = check_reason(reason)
    from flashdash import follow_up  # follow_up builds on tasks, which build on this module

    with store.write() as con:
        plan, summary = _plan_change(store, con, actor, ids, to_stage)
        _apply(store, con, plan.with_columns(reason=pl.lit(text)), actor.username, now)
        follow_up.after_change(store, con, summary["changed_ids"], now)
    return {**summary, "message": confirmation(summary, done=True)}


# ---------------------------------------------------------------- history


HISTORY_SCHEMA = {"changed_at": pl.Datetime("us"), "from_status": pl.String, "to_status": pl.String,
                  "actor": pl.String, "reason": pl.String, "until": pl.Datetime("us"), "days": pl.Float64}


def history(store: Store, actor: Actor, lead_id: int, now: datetime) -> pl.DataFrame:
    """Every stage change of a lead in the actor's scope (changed_at, from_status, to_status, actor, reason)
    with the time spent in the stage it entered: `until` the next change (now for the current one), `days`."""
    with store.read() as con:
        lead = store.frame("qual_lead_in_scope", con, lead_id=lead_id, **scope_params(store, con, actor))
        if lead.is_empty():
            raise AccessDenied(f"There is no lead {lead_id} in your book.")
        return store.frame("qual_history", con, lead_id=lead_id, now=now).cast(HISTORY_SCHEMA)


TIME_IN_STAGE_SCHEMA = {"stage": pl.String, "leads": pl.Int64, "stays": pl.Int64, "current": pl.Int64,
                        "median_days": pl.Float64, "mean_days": pl.Float64, "p90_days": pl.Float64}


def time_in_stage(store: Store, actor: Actor, filters_or_lead_ids: Any, now: datetime) -> pl.DataFrame:
    """Days spent per open stage over the leads in the actor's scope that a views.LeadFilter matches (or the
    given lead ids; None: all): leads, stays, current (still there), median, mean and 90th percentile days.
    A finished stay lasts until the next change, a current one until `now`."""
    from flashdash import views  # views builds on this module's scope

    with store.read() as con:
        scope = scope_params(store, con, actor)
        if isinstance(filters_or_lead_ids, views.LeadFilter):
            ids, every = views.matching_ids(store, con, actor, filters_or_lead_ids, now), False
        elif filters_or_lead_ids is None:
            ids, every = [], True
        else:
            ids, every = sorted({int(i) for i in filters_or_lead_ids}), False
        out = store.frame("qual_time_in_stage", con, lead_ids=ids, every=every, now=now, **scope)
    return out.cast(TIME_IN_STAGE_SCHEMA)
