"""Tasks: a piece of follow-up work on a lead for its owner ("call back", "send the proposal").

Tasks are made by hand (one lead or in bulk), by task rules when something happens to a lead, and by sequence
steps; `create_task` is the one way each is written. A rep works them from their queue, ordered by priority;
they are completed, snoozed, cancelled, handed to a teammate, or moved off a departing rep. The scheduler mails
each rep a digest of what is overdue or due soon, and follow-up compliance measures how many were done on time.

Task rules. A rule says "when <a lead enters a stage | an activity of a type is logged>, make <title> due
<due_hours> after it, for the lead's owner". A team's rules for an event (trigger and value) replace the store's
defaults (team_id NULL) for that event, and stored defaults replace the built-in ones for theirs; so a manager
turns a default off for their team by saving an inactive rule for the same event. Built-in, until replaced:

- a lead enters SQL → "Discovery call" due in 24 h (a call);
- a demo is logged → "Send the proposal" due in 48 h (an email);
- a lead enters MQL → "First call" due in 4 h (a call).

Built-in rules are not rows: they have fixed negative ids (-1, -2, -3), which their tasks carry as rule_id. The
task_rules table has no kind column, so a stored rule's task kind comes from its title (`rule_kind`: "call",
"email"/"send", "meeting", "demo", else "task").

Priority (0-100) of an open task, from due time first, then the lead's score, then its stage:

    priority = 25 × band + 25 × (0.2 × closeness + 0.5 × score/100 + 0.3 × stage weight)

band: 3 overdue, 2 due within 24 h, 1 due within 24-72 h, 0 later or no due date. So the due time decides the
band (every overdue task ranks above every task that is not, whatever their leads) and the lead decides the
place within it. closeness: how far into its band the task is (overdue: hours overdue / 72, capped at 1; due
within 24 h: 1 - hours left / 24; 24-72 h: 1 - (hours left - 24) / 48; later: 0). score: the lead's lead_scores
score (a lead without one counts as 50). stage weight: new 0, MQL 1/3, SQL 2/3, Opportunity 1, closed 0.
Example: a call 3 h overdue on a lead scored 15 in New is 77.1; a task due in 24 h on a lead scored 92 in
Opportunity is 69.0, so the overdue one comes first (the other would lead its own band, due within 24 h).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import duckdb
import polars as pl

from flashdash import assignment, audit
from flashdash.access import AccessDenied, Actor, mask_pii, require_team_editor
from flashdash.entities import ACTIVITY_TYPES, LEAD_STATUSES
from flashdash.qualification import STAGE_LABELS
from flashdash.store import Store

# What a team's manager (or an admin) changes, and what only an admin does: access.require_team_editor.
EDITED = ("task rules", "changes the default task rules")

log = logging.getLogger(__name__)

MAX_TITLE = 200
MAX_NOTE = 500
MAX_DUE_HOURS = 720
MAX_SNOOZE = timedelta(days=90)
MAX_TASKS_PER_CALL = 1000
WRITERS = ("rep", "manager", "admin")
RULE_EDITORS = ("manager", "admin")
RULE_ACTOR = "rule"  # created_by of a task a rule made
JOB_ACTOR = "scheduler"  # the audit actor of the reminder job
REMINDER_WINDOW_MIN = 60
RULES_WINDOW = timedelta(hours=24)  # how far back the scheduler's rule job looks for events the hooks missed


class TaskError(ValueError):
    """A task that cannot be created as given; the message says what to change."""


def _validate(title: str, due_at: datetime | None, now: datetime) -> str:
    title = (title or "").strip()
    problems = []
    if not title:
        problems.append("give the task a title, e.g. 'Call back about pricing'")
    elif len(title) > MAX_TITLE:
        problems.append(f"the title is {len(title)} characters; keep it under {MAX_TITLE}")
    if due_at is not None and due_at < now - timedelta(days=1):
        problems.append(f"it is due {due_at:%Y-%m-%d %H:%M}, already past; pick a time from today on")
    if problems:
        raise TaskError("The task was not added: " + "; ".join(problems) + ".")
    return title


def add_tasks(store: Store, actor: Actor, lead_ids: list[int], title: str, due_at: datetime | None, now: datetime,
              notes: str | None = None) -> dict[str, int]:
    """One task per lead for the lead's owner, in one transaction; leads outside the actor's scope are refused
    (counted, not created). Returns {"created", "refused"}."""
    if actor.role not in WRITERS:
        raise AccessDenied(f"A {actor.role} does not add tasks.")
    title = _validate(title, due_at, now)
    ids = sorted(set(lead_ids))
    if not ids:
        raise TaskError("The task was not added: select at least one lead.")
    with store.write() as con:
        leads = store.frame("task_leads_in_scope", con, lead_ids=ids, **actor.scope_params())
        for lead in leads.iter_rows(named=True):
            create_task(store, con, lead["id"], lead["owner_id"], title, due_at, actor.username, now, notes=notes)
    return {"created": leads.height, "refused": len(ids) - leads.height}


KINDS = ("call", "email", "meeting", "demo", "task")


def create_task(store: Store, con: Any, lead_id: int | None, rep_id: int | None, title: str,
                due_at: datetime | None, created_by: str, now: datetime, *, notes: str | None = None,
                kind: str | None = None, rule_id: int | None = None, enrollment_id: int | None = None,
                step_id: int | None = None) -> int:
    """One task inside the caller's write unit, audited; the building block of every way a task is made (by
    hand, in bulk, by a task rule, by a sequence step). The caller has checked scope and validated the title."""
    if kind is not None and kind not in KINDS:
        raise TaskError(f"A task's kind is one of {', '.join(KINDS)}, not {kind!r}.")
    task_id = store.scalar("task_insert", con, lead_id=lead_id, rep_id=rep_id, title=title, due_at=due_at,
                           created_by=created_by, created_at=now, notes=notes, kind=kind, rule_id=rule_id,
                           enrollment_id=enrollment_id, step_id=step_id)
    audit.record(con, created_by, "create", "task", task_id, now,
                 after={"lead_id": lead_id, "rep_id": rep_id, "title": title, "due_at": due_at, "kind": kind,
                        "rule_id": rule_id, "enrollment_id": enrollment_id, "step_id": step_id})
    return task_id


def preview_tasks(store: Store, actor: Actor, lead_ids: list[int]) -> dict[str, int]:
    """How many tasks add_tasks would create for these leads, and how many it would refuse (out of scope)."""
    ids = sorted(set(lead_ids))
    with store.read() as con:
        leads = store.frame("task_leads_in_scope", con, lead_ids=ids, **actor.scope_params())
    return {"created": leads.height, "refused": len(ids) - leads.height}


def open_tasks(store: Store, actor: Actor, limit: int = 500) -> pl.DataFrame:
    return store.frame("tasks_open", limit=limit, **actor.scope_params())


# ---------------------------------------------------------------- task rules: definitions (pure)


TRIGGERS = ("stage_entered", "activity_logged")
TRIGGER_VALUES: dict[str, tuple[str, ...]] = {"stage_entered": LEAD_STATUSES, "activity_logged": ACTIVITY_TYPES}


@dataclass(frozen=True)
class Rule:
    """A task rule as it applies: stored (id > 0) or built in (id < 0)."""

    id: int
    team_id: int | None
    trigger: str
    value: str
    title: str
    due_hours: int
    active: bool = True
    source: str = "built-in"  # team | default | built-in
    kind: str = "task"
    updated_by: str | None = None
    updated_at: datetime | None = None

    @property
    def event(self) -> str:
        return describe_event(self.trigger, self.value)


BUILTIN_RULES: tuple[Rule, ...] = (
    Rule(-1, None, "stage_entered", "sql", "Discovery call", 24, kind="call"),
    Rule(-2, None, "activity_logged", "demo", "Send the proposal", 48, kind="email"),
    Rule(-3, None, "stage_entered", "mql", "First call", 4, kind="call"),
)

# Words in a stored rule's title that say what doing its task means (the schema keeps no kind for rules).
_KIND_WORDS = {"call": "call", "calls": "call", "phone": "call", "ring": "call", "email": "email",
               "emails": "email", "e-mail": "email", "mail": "email", "send": "email", "meeting": "meeting",
               "meetings": "meeting", "meet": "meeting", "demo": "demo", "demos": "demo"}


def rule_kind(title: str) -> str:
    """What a stored rule's task is, from the first telling word of its title ("Discovery call" → call,
    "Send the proposal" → email); "task" when none."""
    for word in re.findall(r"[a-z]+(?:-[a-z]+)?", (title or "").lower()):
        if word in _KIND_WORDS:
            return _KIND_WORDS[word]
    return "task"


def describe_event(trigger: str, value: str) -> str:
    """An event as a person says it: "a lead enters SQL", "a demo is logged"."""
    if trigger == "stage_entered":
        return f"a lead enters {STAGE_LABELS.get(value, value)}"
    article = "an" if value[:1] in "aeiou" else "a"
    return f"{article} {value} is logged"


def validate_rule(trigger: Any, value: Any, title: Any, due_hours: Any, active: Any) -> dict[str, Any]:
    """The rule's fields normalised (trigger and value lower-cased, title trimmed), or TaskError naming every
    problem."""
    problems = []
    trig = trigger.strip().lower() if isinstance(trigger, str) else trigger
    val = value.strip().lower() if isinstance(value, str) else value
    text = title.strip() if isinstance(title, str) else ""
    if trig not in TRIGGERS:
        problems.append(f"the trigger must be one of {', '.join(TRIGGERS)} (got {trigger!r})")
    elif val not in TRIGGER_VALUES[trig]:
        what = "stage" if trig == "stage_entered" else "activity type"
        problems.append(f"the {what} must be one of {', '.join(TRIGGER_VALUES[trig])} (got {value!r})")
    if not text:
        problems.append("give the rule's task a title, e.g. 'Discovery call'")
    elif len(text) > MAX_TITLE:
        problems.append(f"the title is {len(text)} characters; keep it to {MAX_TITLE}")
    if isinstance(due_hours, bool) or not isinstance(due_hours, int) or not 0 <= due_hours <= MAX_DUE_HOURS:
        problems.append(f"due hours must be a whole number from 0 to {MAX_DUE_HOURS} (got {due_hours!r})")
    if not isinstance(active, bool):
        problems.append(f"active must be true or false (got {active!r})")
    if problems:
        raise TaskError("The rule was not saved: " + "; ".join(problems) + ".")
    return {"trigger": trig, "value": val, "title": text, "due_hours": due_hours, "active": active}


def stored_rules(rows: pl.DataFrame) -> list[Rule]:
    """Rules from task_rules rows (id, team_id, trigger, value, title, due_hours, active, updated_by, updated_at)."""
    return [Rule(r["id"], r["team_id"], r["trigger"], r["value"], r["title"], r["due_hours"], bool(r["active"]),
                 "default" if r["team_id"] is None else "team", rule_kind(r["title"]), r["updated_by"],
                 r["updated_at"]) for r in rows.iter_rows(named=True)]


def layered_rules(stored: Iterable[Rule], team_id: int | None) -> list[tuple[Rule, bool]]:
    """Every rule that could apply to `team_id`'s leads (None: the default), each with whether it is in force:
    for each event, the team's own rules if it has any, else the stored defaults, else the built-in ones."""
    stored = list(stored)
    layers = [[r for r in stored if r.team_id == team_id]] if team_id is not None else []
    layers += [[r for r in stored if r.team_id is None], list(BUILTIN_RULES)]
    out: list[tuple[Rule, bool]] = []
    taken: set[tuple[str, str]] = set()
    for layer in layers:
        keys = {(r.trigger, r.value) for r in layer}
        out += [(r, (r.trigger, r.value) not in taken) for r in layer]
        taken |= keys
    return out


def effective_rules(stored: Iterable[Rule], team_id: int | None) -> list[Rule]:
    """The rules that fire for `team_id`'s leads: in force and active."""
    return [r for r, in_force in layered_rules(stored, team_id) if in_force and r.active]


RULES_SCHEMA = {"rule_id": pl.Int64, "team_id": pl.Int64, "source": pl.String, "trigger": pl.String,
                "value": pl.String, "event": pl.String, "title": pl.String, "kind": pl.String,
                "due_hours": pl.Int64, "active": pl.Boolean, "in_force": pl.Boolean, "applies": pl.Boolean,
                "updated_by": pl.String, "updated_at": pl.Datetime("us")}


# ---------------------------------------------------------------- task rules: reading and editing


def _team(store: Store, con: duckdb.DuckDBPyConnection, team_id: int) -> dict[str, Any]:
    rows = store.frame("task_team", con, team_id=team_id)
    if rows.is_empty():
        raise TaskError(f"There is no team {team_id}; pick one of the teams listed.")
    return rows.row(0, named=True)



def rules(store: Store, actor: Actor, team_id: int | None) -> pl.DataFrame:
    """The task rules of `team_id` (None: the default): its own, the stored defaults and the built-in ones, each
    with its source (team | default | built-in), whether it is in force (not replaced by a rule of a nearer
    layer for the same event) and whether it applies (in force and active). Every role may read them: they hold
    no lead data."""
    with store.read() as con:
        if team_id is not None:
            _team(store, con, team_id)
        stored = stored_rules(store.frame("task_rules_stored", con))
    rows = [{"rule_id": r.id, "team_id": r.team_id, "source": r.source, "trigger": r.trigger, "value": r.value,
             "event": r.event, "title": r.title, "kind": r.kind, "due_hours": r.due_hours, "active": r.active,
             "in_force": in_force, "applies": in_force and r.active, "updated_by": r.updated_by,
             "updated_at": r.updated_at} for r, in_force in layered_rules(stored, team_id)]
    return pl.DataFrame(rows, schema=RULES_SCHEMA)


def _rule_audit(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "team_id", "trigger", "value", "title", "due_hours", "active")}


def save_rule(store: Store, actor: Actor, rule_id: int | None, team_id: int | None, trigger: str, value: str,
              title: str, due_hours: int, active: bool, now: datetime) -> int:
    """Add a task rule or change one; returns its id. rule_id None adds one; a built-in's (negative) id or a
    default's id with a team_id adds a rule of that team's own, which replaces the defaults for its event for
    that team. Managers edit their own team's rules, admins any team's and the default (team_id None).
    Validated (every problem named) and audited with before and after."""
    fields = validate_rule(trigger, value, title, due_hours, active)
    stored_id = rule_id if rule_id is not None and rule_id > 0 else None
    with store.write() as con:
        if team_id is not None:
            _team(store, con, team_id)
        require_team_editor(store, con, actor, team_id, *EDITED)
        before = None
        if stored_id is not None:
            old = store.frame("task_rule_row", con, rule_id=stored_id)
            if old.is_empty():
                raise TaskError(f"There is no task rule {stored_id}; it may have been deleted. Add it anew.")
            before = _rule_audit(old.row(0, named=True))
            if before["team_id"] is None and team_id is not None:
                stored_id, before = None, None  # a default edited for one team: a rule of the team's own
            elif before["team_id"] != team_id:
                raise TaskError("The rule was not saved: a rule stays with its team; delete it and add one to "
                                "the other team instead.")
        same = [r for r in stored_rules(store.frame("task_rules_stored", con))
                if r.team_id == team_id and r.id != stored_id and r.trigger == fields["trigger"]
                and r.value == fields["value"] and r.title.lower() == fields["title"].lower()]
        if same:
            raise TaskError(f"The rule was not saved: rule {same[0].id} already makes {same[0].title!r} when "
                            f"{describe_event(fields['trigger'], fields['value'])}; edit that one instead.")
        stamp = {"updated_by": actor.username, "updated_at": now}
        if stored_id is None:
            stored_id = store.scalar("task_rule_insert", con, team_id=team_id, **fields, **stamp)
        else:
            store.run("task_rule_update", con, rule_id=stored_id, **fields, **stamp)
        audit.record(con, actor.username, "create" if before is None else "update", "task_rule", stored_id, now,
                     before=before, after={"id": stored_id, "team_id": team_id, **fields},
                     reason=f"when {describe_event(fields['trigger'], fields['value'])}: {fields['title']} "
                            f"due in {fields['due_hours']} h")
    return stored_id


def delete_rule(store: Store, actor: Actor, rule_id: int, now: datetime) -> bool:
    """Delete a stored task rule (its team's manager, or an admin); audited. Tasks it made stay. False if there
    is no such rule. A built-in rule is not stored: to stop one, save an inactive rule for the same event."""
    if rule_id < 0:
        raise TaskError("A built-in rule cannot be deleted; to stop it, save an inactive rule for the same event "
                        "(for your team, or as the default).")
    with store.write() as con:
        old = store.frame("task_rule_row", con, rule_id=rule_id)
        if old.is_empty():
            return False
        row = old.row(0, named=True)
        require_team_editor(store, con, actor, row["team_id"], *EDITED)
        store.run("task_rule_delete", con, rule_id=rule_id)
        audit.record(con, actor.username, "delete", "task_rule", rule_id, now, before=_rule_audit(row),
                     reason="deleted")
    return True


# ---------------------------------------------------------------- task rules: applying them


EVENT_SCHEMA = {"trigger": pl.String, "value": pl.String, "lead_id": pl.Int64, "event_id": pl.Int64,
                "event_at": pl.Datetime("us"), "recorded_at": pl.Datetime("us"), "owner_id": pl.Int64,
                "team_id": pl.Int64, "lead_status": pl.String}
PLAN_SCHEMA = {"lead_id": pl.Int64, "rep_id": pl.Int64, "rule_id": pl.Int64, "title": pl.String,
               "kind": pl.String, "due_at": pl.Datetime("us"), "trigger": pl.String, "value": pl.String,
               "event_id": pl.Int64, "event_at": pl.Datetime("us")}
APPLIED_SCHEMA = {"task_id": pl.Int64, **PLAN_SCHEMA}
CLOSED_LOST = ("lost", "disqualified")  # leads no follow-up is owed to


def plan_rule_tasks(events: pl.DataFrame, rules_by_team: Mapping[int | None, list[Rule]],
                    existing: pl.DataFrame) -> pl.DataFrame:
    """The tasks the rules owe for `events` (EVENT_SCHEMA) given the rule tasks that already exist for these
    leads (rule_id, lead_id, created_at): one per (rule, lead, event), for the lead's owner, due event_at +
    due_hours. An event is answered by a task of its rule for its lead made at or after the event was recorded;
    a task answers one event. Matching the latest events first (each can be answered by fewer tasks) answers as
    many as possible, so applying the rules again creates nothing more. Leads without an owner get nothing, nor
    do leads lost or disqualified by now (but for the event of entering that stage: a rule may react to it)."""
    made: dict[tuple[int, int], list[datetime]] = {}
    for r in existing.iter_rows(named=True):
        made.setdefault((r["rule_id"], r["lead_id"]), []).append(r["created_at"])
    owed: dict[tuple[int, int], list[tuple[Rule, dict[str, Any]]]] = {}
    live = pl.col("owner_id").is_not_null() & (
        ~pl.col("lead_status").is_in(CLOSED_LOST).fill_null(False)
        | ((pl.col("trigger") == "stage_entered") & (pl.col("value") == pl.col("lead_status"))))
    for ev in events.filter(live).iter_rows(named=True):
        for rule in rules_by_team.get(ev["team_id"], rules_by_team.get(None, [])):
            if rule.trigger == ev["trigger"] and rule.value == ev["value"]:
                owed.setdefault((rule.id, ev["lead_id"]), []).append((rule, ev))
    rows = []
    for key, pairs in owed.items():
        free = sorted(made.get(key, []), reverse=True)  # newest first
        for rule, ev in sorted(pairs, key=lambda p: (p[1]["recorded_at"], p[1]["event_id"]), reverse=True):
            if free and free[0] >= ev["recorded_at"]:
                free.pop(0)  # answered; all remaining tasks are older, usable only by older events
                continue
            rows.append({"lead_id": ev["lead_id"], "rep_id": ev["owner_id"], "rule_id": rule.id,
                         "title": rule.title, "kind": rule.kind,
                         "due_at": ev["event_at"] + timedelta(hours=rule.due_hours), "trigger": ev["trigger"],
                         "value": ev["value"], "event_id": ev["event_id"], "event_at": ev["event_at"]})
    return pl.DataFrame(rows, schema=PLAN_SCHEMA).sort("event_at", "lead_id", "rule_id")


def _rule_note(row: Mapping[str, Any]) -> str:
    what = (f"entered {STAGE_LABELS.get(row['value'], row['value'])}" if row["trigger"] == "stage_entered"
            else f"had a {row['value']} logged")
    return f"Made by a task rule: the lead {what} on {row['event_at']:%Y-%m-%d %H:%M}."


def _owed(store: Store, con: duckdb.DuckDBPyConnection, lead_ids: Iterable[int] | None, now: datetime,
          since: datetime) -> pl.DataFrame:
    """The tasks the rules owe these leads (None: every lead) for events since `since` and have not made."""
    ids = None if lead_ids is None else sorted({int(i) for i in lead_ids})
    if ids == []:
        return pl.DataFrame(schema=PLAN_SCHEMA)
    events = store.frame("task_rule_events", con, every=ids is None, lead_ids=ids or [], since=since,
                         now=now).cast(EVENT_SCHEMA)
    if events.is_empty():
        return pl.DataFrame(schema=PLAN_SCHEMA)
    stored = stored_rules(store.frame("task_rules_stored", con))
    teams = set(events["team_id"].to_list()) | {None}
    by_team = {team: effective_rules(stored, team) for team in teams}
    existing = store.frame("task_rule_existing", con, since=since,
                           lead_ids=events["lead_id"].unique().to_list())
    return plan_rule_tasks(events, by_team, existing)


def apply_rules(store: Store, con: duckdb.DuckDBPyConnection, lead_ids: Iterable[int] | None, now: datetime,
                since: datetime) -> pl.DataFrame:
    """Inside the caller's write: for the given leads (None: every lead), make the tasks their rules owe for the
    stage changes and activities recorded at or after `since`, once per (rule, lead, event) however often it is
    called (see plan_rule_tasks). Each task goes to the lead's owner, due event time + due_hours, with the rule's
    kind and id, created_by "rule", audited. Returns the tasks made (task_id and PLAN_SCHEMA)."""
    plan = _owed(store, con, lead_ids, now, since)
    if plan.is_empty():
        return pl.DataFrame(schema=APPLIED_SCHEMA)
    task_ids = [create_task(store, con, row["lead_id"], row["rep_id"], row["title"], row["due_at"], RULE_ACTOR,
                            now, notes=_rule_note(row), kind=row["kind"], rule_id=row["rule_id"])
                for row in plan.iter_rows(named=True)]
    return plan.with_columns(task_id=pl.Series(task_ids, dtype=pl.Int64)).select(list(APPLIED_SCHEMA))


def apply_recent_rules(store: Store, now: datetime, window: timedelta = RULES_WINDOW) -> int:
    """Scheduler job body: apply the task rules to every event of the last `window` (what the hooks missed:
    imports, a rule saved since, a hook that failed); returns the tasks made. Safe to run as often as wanted."""
    with store.read() as con:  # most runs find nothing owed: then no write (each write empties the app's caches)
        if _owed(store, con, None, now, now - window).is_empty():
            return 0
    with store.write() as con:  # planned again inside the write: what a hook made meanwhile is not made twice
        return apply_rules(store, con, None, now, now - window).height


# ---------------------------------------------------------------- the queue (priority is pure)


STAGE_WEIGHTS = {"new": 0.0, "mql": 1 / 3, "sql": 2 / 3, "opportunity": 1.0}
NEUTRAL_SCORE = 50.0
BANDS = {3: "overdue", 2: "due within 24 h", 1: "due within 3 days", 0: "due later"}


def span(hours: float) -> str:
    """A duration as a person says it: "40 min", "3 h", "2 days"."""
    hours = abs(hours)
    if hours < 1:
        return f"{max(1, round(hours * 60))} min"
    if hours < 48:
        return f"{round(hours)} h"
    return f"{round(hours / 24)} days"


def _span_expr(hours: pl.Expr) -> pl.Expr:
    """`span` as an expression, for a whole queue at once."""
    def text(value: pl.Expr, unit: str) -> pl.Expr:
        return value.round().cast(pl.Int64).cast(pl.String) + pl.lit(unit)

    return (pl.when(hours < 1).then(text((hours * 60).clip(1, None), " min"))
            .when(hours < 48).then(text(hours, " h")).otherwise(text(hours / 24, " days")))


def _reasons_expr(hours: pl.Expr) -> pl.Expr:
    """"overdue by 3 h · score 15 · stage New": the facts behind a task's priority."""
    due = (pl.when(hours.is_null()).then(pl.lit("no due date"))
           .when(hours < 0).then(pl.lit("overdue by ") + _span_expr(-hours))
           .otherwise(pl.lit("due in ") + _span_expr(hours)))
    score = pl.col("score").cast(pl.Float64).fill_nan(None)
    scored = pl.when(score.is_null()).then(pl.lit("not scored")) \
        .otherwise(pl.lit("score ") + score.round().cast(pl.Int64).cast(pl.String))
    label = pl.col("stage").replace_strict(STAGE_LABELS, default=pl.col("stage"), return_dtype=pl.String)
    staged = pl.when(pl.col("stage").is_null()).then(pl.lit("no lead")).otherwise(pl.lit("stage ") + label)
    return pl.concat_str([due, scored, staged], separator=" · ")


def prioritize(tasks: pl.DataFrame, now: datetime, soon_minutes: int = REMINDER_WINDOW_MIN) -> pl.DataFrame:
    """Adds overdue, due_soon, due_in_hours, band, priority (0-100, see the module's docstring), highlight
    ("overdue", "due soon" or null) and reasons to a frame of open tasks (due_at, score, stage), sorted by
    priority (then due time, then id)."""
    out = tasks.with_columns(_h=(pl.col("due_at") - pl.lit(now)).dt.total_microseconds() / 3.6e9)
    h = pl.col("_h")  # exact: a task a second overdue is overdue (due_in_hours, shown, is rounded)
    band = (pl.when(h.is_null()).then(0).when(h < 0).then(3).when(h <= 24).then(2).when(h <= 72).then(1)
            .otherwise(0))
    closeness = (pl.when(h.is_null()).then(0.0).when(h < 0).then((-h / 72).clip(0, 1))
                 .when(h <= 24).then(1 - h / 24).when(h <= 72).then(1 - (h - 24) / 48).otherwise(0.0))
    score = pl.col("score").cast(pl.Float64).fill_nan(None).fill_null(NEUTRAL_SCORE).clip(0, 100) / 100
    stage = pl.col("stage").replace_strict(STAGE_WEIGHTS, default=0.0, return_dtype=pl.Float64).fill_null(0.0)
    out = out.with_columns(
        overdue=(h < 0).fill_null(False),
        due_soon=((h >= 0) & (h <= soon_minutes / 60)).fill_null(False),
        band=band.cast(pl.Int64),
        priority=(25 * band + 25 * (0.2 * closeness + 0.5 * score + 0.3 * stage)).round(1),
        due_in_hours=h.round(2),
    )
    out = out.with_columns(
        highlight=pl.when("overdue").then(pl.lit("overdue")).when("due_soon").then(pl.lit("due soon"))
        .otherwise(None),
        reasons=_reasons_expr(h),
    ).drop("_h")
    return out.sort(["band", "priority", "due_at", "task_id"], descending=[True, True, False, False],
                    nulls_last=True)


QUEUE_SCHEMA = {"task_id": pl.Int64, "title": pl.String, "kind": pl.String, "notes": pl.String,
                "lead_id": pl.Int64, "merchant_name": pl.String, "contact_name": pl.String, "email": pl.String,
                "phone": pl.String, "stage": pl.String, "score": pl.Float64, "rep_id": pl.Int64, "rep": pl.String,
                "team_id": pl.Int64, "due_at": pl.Datetime("us"), "created_by": pl.String,
                "created_at": pl.Datetime("us"), "rule_id": pl.Int64, "enrollment_id": pl.Int64,
                "delegated_from": pl.Int64, "delegated_from_rep": pl.String, "reminded_at": pl.Datetime("us")}


def _queue_frame(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor, now: datetime,
                 rep_id: int | None) -> pl.DataFrame:
    rows = store.frame("task_queue", con, rep_id=rep_id, **actor.scope_params()).cast(QUEUE_SCHEMA)
    return mask_pii(prioritize(rows, now), actor)


def queue(store: Store, actor: Actor, now: datetime, rep_id: int | None = None) -> pl.DataFrame:
    """The open tasks in the actor's scope (or one rep's in it), highest priority first: task, lead (merchant,
    stage, score, contact fields masked for analysts and executives), rep, due_at, overdue, due_soon,
    due_in_hours, band, priority and its reasons, highlight."""
    if rep_id is not None and not actor.sees_all and rep_id not in (actor.scope_reps or ()):
        raise AccessDenied("You see the tasks of your own book only.")
    with store.read() as con:
        return _queue_frame(store, con, actor, now, rep_id)


COUNTS_SCHEMA = {"rep_id": pl.Int64, "rep": pl.String, "team_id": pl.Int64, "active": pl.Boolean,
                 "open_tasks": pl.Int64, "overdue": pl.Int64, "due_24h": pl.Int64}


def task_counts(store: Store, actor: Actor, now: datetime) -> pl.DataFrame:
    """Per rep in the actor's scope: open tasks, overdue and due within 24 h (reps without any included, an
    inactive rep only while they hold open tasks), most overdue first."""
    return store.frame("task_counts_per_rep", now=now, **actor.scope_params()).cast(COUNTS_SCHEMA)


def team_tasks(store: Store, actor: Actor, now: datetime) -> pl.DataFrame:
    """A manager's view: every open task of the team (the actor's scope), by priority, with its owner, overdue,
    and the owner's counts (rep_open_tasks, rep_overdue, rep_due_24h). Per-rep counts including reps without
    tasks: `task_counts`."""
    with store.read() as con:
        tasks = _queue_frame(store, con, actor, now, None)
        counts = store.frame("task_counts_per_rep", con, now=now, **actor.scope_params()).cast(COUNTS_SCHEMA)
    per_rep = counts.select("rep_id", rep_open_tasks="open_tasks", rep_overdue="overdue", rep_due_24h="due_24h")
    return tasks.join(per_rep, on="rep_id", how="left", maintain_order="left")


# ---------------------------------------------------------------- working a task


def _clean_note(text: str | None, what: str, problems: list[str], required: bool = False) -> str | None:
    note = (text or "").strip() or None
    if note is None and required:
        problems.append(f"give {what}")
    elif note is not None and len(note) > MAX_NOTE:
        problems.append(f"{what} is {len(note)} characters; keep it to {MAX_NOTE}")
    return note


def _with_note(notes: str | None, line: str | None) -> str | None:
    if not line:
        return notes
    return f"{notes}\n{line}" if notes else line


def _task_for_change(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor, task_id: int) -> dict[str, Any]:
    """The open task `task_id` if the actor may change it (its owner, their manager, an admin), else the error."""
    if actor.role not in WRITERS:
        raise AccessDenied(f"A {actor.role} reads tasks but does not work them.")
    rows = store.frame("task_row", con, task_id=task_id)
    if rows.is_empty():
        raise TaskError(f"There is no task {task_id}.")
    task = rows.row(0, named=True)
    if not actor.sees_all and task["rep_id"] not in (actor.scope_reps or ()):
        raise AccessDenied(f"Task {task_id} is not yours; its owner, their manager or an admin can change it.")
    if task["status"] != "open":
        raise TaskError(f"Task {task_id} is already {task['status']}; only open tasks change.")
    return task


def complete(store: Store, actor: Actor, task_id: int, now: datetime, outcome: str | None = None) -> dict[str, Any]:
    """Mark a task done at `now` (its owner, their manager or an admin), with an optional outcome added to its
    notes; audited. Returns {task_id, status, done_at, due_at, on_time}."""
    problems: list[str] = []
    note = _clean_note(outcome, "the outcome", problems)
    if problems:
        raise TaskError("The task was not completed: " + "; ".join(problems) + ".")
    with store.write() as con:
        task = _task_for_change(store, con, actor, task_id)
        notes = _with_note(task["notes"], f"Done: {note}" if note else None)
        store.run("task_set_done", con, task_id=task_id, now=now, notes=notes)
        on_time = task["due_at"] is None or now <= task["due_at"]
        audit.record(con, actor.username, "complete", "task", task_id, now, before={"status": "open"},
                     after={"status": "done", "done_at": now, "on_time": on_time}, reason=note)
    return {"task_id": task_id, "status": "done", "done_at": now, "due_at": task["due_at"], "on_time": on_time}


def snooze(store: Store, actor: Actor, task_id: int, until: datetime, now: datetime) -> dict[str, Any]:
    """Move an open task's due time to `until` (later than now, within 90 days); its reminder goes out again
    then. Audited with the old due time (compliance counts against the due time in force when it is done)."""
    if until <= now:
        raise TaskError(f"Snooze to a time after now ({now:%Y-%m-%d %H:%M}); {until:%Y-%m-%d %H:%M} is past.")
    if until > now + MAX_SNOOZE:
        raise TaskError(f"Snooze at most {MAX_SNOOZE.days} days ahead; for later, cancel the task with a reason.")
    with store.write() as con:
        task = _task_for_change(store, con, actor, task_id)
        store.run("task_set_due", con, task_id=task_id, due_at=until)
        audit.record(con, actor.username, "snooze", "task", task_id, now, before={"due_at": task["due_at"]},
                     after={"due_at": until})
    return {"task_id": task_id, "due_at": until, "was_due_at": task["due_at"]}


def cancel(store: Store, actor: Actor, task_id: int, reason: str, now: datetime) -> dict[str, Any]:
    """Cancel an open task with a reason (kept in its notes and the audit trail). Cancelled tasks leave the
    queue and are counted apart in compliance."""
    problems: list[str] = []
    why = _clean_note(reason, "a reason for cancelling", problems, required=True)
    if problems:
        raise TaskError("The task was not cancelled: " + "; ".join(problems) + ".")
    with store.write() as con:
        task = _task_for_change(store, con, actor, task_id)
        store.run("task_set_cancelled", con, task_id=task_id, notes=_with_note(task["notes"], f"Cancelled: {why}"))
        audit.record(con, actor.username, "cancel", "task", task_id, now, before={"status": "open"},
                     after={"status": "cancelled"}, reason=why)
    return {"task_id": task_id, "status": "cancelled", "reason": why}


# ---------------------------------------------------------------- delegation and a departing rep's work


def _rep(store: Store, con: duckdb.DuckDBPyConnection, rep_id: int) -> dict[str, Any] | None:
    rows = store.frame("task_rep", con, rep_id=rep_id)
    return rows.row(0, named=True) if not rows.is_empty() else None


def _ids_text(ids: list[int]) -> str:
    shown = ", ".join(map(str, ids[:20]))
    return f"task{'s' if len(ids) > 1 else ''} {shown}{f' and {len(ids) - 20} more' if len(ids) > 20 else ''}"


def delegate(store: Store, actor: Actor, task_ids: Iterable[int], to_rep_id: int, now: datetime,
             note: str | None = None) -> dict[str, Any]:
    """Hand open tasks to a teammate (the same team as each task's owner): a rep their own, a manager their
    team's, an admin any. All or nothing: every problem is named and nothing changes. The previous owner is kept
    in delegated_from, the note in the task's notes, and the new owner gets a fresh reminder; audited per task.
    Returns {delegated, unchanged (already theirs), to_rep_id, to_rep}."""
    if actor.role not in WRITERS:
        raise AccessDenied(f"A {actor.role} reads tasks but does not hand them on.")
    ids = sorted({int(i) for i in task_ids})
    problems: list[str] = []
    text = _clean_note(note, "the note", problems)
    if not ids:
        problems.append("select at least one task")
    elif len(ids) > MAX_TASKS_PER_CALL:
        problems.append(f"{len(ids):,} tasks are selected; hand on at most {MAX_TASKS_PER_CALL:,} at a time")
    if problems:
        raise TaskError("Nothing was handed on: " + "; ".join(problems) + ".")
    with store.write() as con:
        to = _rep(store, con, to_rep_id)
        if to is None:
            raise TaskError(f"Nothing was handed on: there is no rep {to_rep_id}.")
        if not to["active"]:
            problems.append(f"{to['name']} is inactive; pick an active teammate")
        rows = store.frame("task_rows", con, task_ids=ids)
        missing = sorted(set(ids) - set(rows["id"].to_list()))
        unseen = [r["id"] for r in rows.iter_rows(named=True)
                  if not actor.sees_all and r["rep_id"] not in (actor.scope_reps or ())]
        if missing or unseen:
            problems.append(f"{_ids_text(sorted(missing + unseen))} {'is' if len(missing + unseen) == 1 else 'are'} not "
                            "in your book or do not exist")
        seen = rows.filter(~pl.col("id").is_in(unseen))
        closed = seen.filter(pl.col("status") != "open")["id"].to_list()
        if closed:
            problems.append(f"{_ids_text(closed)} {'is' if len(closed) == 1 else 'are'} done or cancelled")
        other_team = [r["id"] for r in seen.iter_rows(named=True)
                      if r["status"] == "open" and r["rep_id"] != to_rep_id
                      and (to["team_id"] is None or r["team_id"] != to["team_id"])]
        if other_team:
            problems.append(f"{_ids_text(other_team)} belong{'s' if len(other_team) == 1 else ''} to another team "
                            f"than {to['name']}'s; hand a task to a teammate of its owner (a manager or an admin "
                            "moves work across teams with a departing rep's reassignment)")
        if problems:
            raise TaskError("Nothing was handed on: " + "; ".join(problems) + ".")
        moving = seen.filter(pl.col("rep_id") != to_rep_id)
        for task in moving.iter_rows(named=True):
            line = f"Handed on by {actor.name or actor.username} from {task['rep']}" + (f": {text}" if text else ".")
            store.run("task_hand_on", con, task_id=task["id"], to_rep_id=to_rep_id, from_rep_id=task["rep_id"],
                      notes=_with_note(task["notes"], line))
            audit.record(con, actor.username, "delegate", "task", task["id"], now, before={"rep_id": task["rep_id"]},
                         after={"rep_id": to_rep_id, "delegated_from": task["rep_id"]}, reason=text)
    return {"delegated": moving.height, "unchanged": seen.height - moving.height, "to_rep_id": to_rep_id,
            "to_rep": to["name"]}


def _check_departure(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor, from_rep_id: int,
                     to_rep_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    problems = []
    src, dst = _rep(store, con, from_rep_id), _rep(store, con, to_rep_id)
    if src is None:
        problems.append(f"there is no rep {from_rep_id}")
    if dst is None:
        problems.append(f"there is no rep {to_rep_id}")
    elif not dst["active"]:
        problems.append(f"{dst['name']} is inactive; pick an active rep to take the work")
    if from_rep_id == to_rep_id:
        problems.append("pick another rep to take the work than the one leaving")
    if problems:
        raise TaskError("Nothing was reassigned: " + "; ".join(problems) + ".")
    assert src is not None and dst is not None  # for the type checker: a missing rep is a problem above
    if not actor.sees_all:
        outside = [r["name"] for r in (src, dst) if r["id"] not in (actor.scope_reps or ())]
        if outside:
            raise AccessDenied(f"{' and '.join(outside)} {'is' if len(outside) == 1 else 'are'} not on your team; "
                               "a manager reassigns work within their team (an admin across teams).")
    return src, dst


def reassign_departing(store: Store, actor: Actor, from_rep_id: int, to_rep_id: int, now: datetime, reason: str,
                       deactivate: bool = True) -> dict[str, Any]:
    """Move a departing rep's work to another rep (a manager within their team, an admin any): every open task,
    and every open lead through `assignment.assign_to` (strategy manual, with the reason); with `deactivate`
    (the default) the departing rep is marked inactive, so routing gives them nothing new (their login is an
    admin's to disable). Returns {tasks, leads, deactivated, from_rep, to_rep}.

    All or nothing for the person doing it: everything assign_to would refuse is checked before anything is
    written (its preview). Then one transaction moves the tasks and deactivates the rep, and assign_to moves
    the leads in its own. If that fails, a second transaction puts the tasks and the rep back as they were and
    the error is raised: nothing changed. Should the undo fail too, the error says so; running the
    reassignment again finishes it (it moves whatever the departing rep still holds)."""
    if actor.role not in ("manager", "admin"):
        raise AccessDenied(f"A {actor.role} may not reassign a rep's work; ask their manager or an admin.")
    problems: list[str] = []
    why = _clean_note(reason, "a reason (it is kept with every task and lead moved)", problems, required=True)
    if problems:
        raise TaskError("Nothing was reassigned: " + "; ".join(problems) + ".")
    with store.read() as con:
        src, dst = _check_departure(store, con, actor, from_rep_id, to_rep_id)
        lead_ids = store.frame("task_rep_open_leads", con, rep_id=from_rep_id)["id"].to_list()
    if lead_ids:
        assignment.preview_assign_to(store, actor, lead_ids, to_rep_id, now)  # raises what assign_to would
    with store.write() as con:
        src, dst = _check_departure(store, con, actor, from_rep_id, to_rep_id)
        moved = store.frame("task_rep_open_tasks", con, rep_id=from_rep_id)
        line = f"Reassigned from {src['name']} to {dst['name']} by {actor.name or actor.username}: {why}"
        for task in moved.iter_rows(named=True):
            store.run("task_hand_on", con, task_id=task["id"], to_rep_id=to_rep_id, from_rep_id=from_rep_id,
                      notes=_with_note(task["notes"], line))
            audit.record(con, actor.username, "reassign", "task", task["id"], now, before={"rep_id": from_rep_id},
                         after={"rep_id": to_rep_id, "delegated_from": from_rep_id}, reason=why)
        deactivated = bool(deactivate and src["active"])
        if deactivated:
            store.run("task_rep_set_active", con, rep_id=from_rep_id, active=False)
            audit.record(con, actor.username, "deactivate", "rep", from_rep_id, now, before={"active": True},
                         after={"active": False}, reason=f"departing: {why}")
    leads_moved = 0
    if lead_ids:
        try:
            leads_moved = assignment.assign_to(store, actor, lead_ids, to_rep_id, why, now)["assigned"]
        except BaseException as exc:
            _undo_departure(store, actor, src, moved, deactivated, now, exc)
            raise
    return {"tasks": moved.height, "leads": leads_moved, "deactivated": deactivated, "from_rep": src["name"],
            "to_rep": dst["name"]}


def _undo_departure(store: Store, actor: Actor, src: Mapping[str, Any], moved: pl.DataFrame, deactivated: bool,
                    now: datetime, cause: BaseException) -> None:
    """Put the tasks (and the rep's active flag) back after the leads could not be moved."""
    try:
        with store.write() as con:
            for task in moved.iter_rows(named=True):
                store.run("task_restore_owner", con, task_id=task["id"], rep_id=task["rep_id"],
                          delegated_from=task["delegated_from"], notes=task["notes"])
                audit.record(con, actor.username, "reassign", "task", task["id"], now, after={"rep_id": task["rep_id"]},
                             reason=f"undone: the leads could not be moved ({cause})")
            if deactivated:
                store.run("task_rep_set_active", con, rep_id=src["id"], active=True)
                audit.record(con, actor.username, "activate", "rep", src["id"], now, before={"active": False},
                             after={"active": True}, reason=f"undone: the leads could not be moved ({cause})")
    except Exception as undo_exc:
        log.exception("undoing a departing rep's task reassignment failed")
        raise TaskError(f"{src['name']}'s tasks were moved but their leads were not ({cause}), and putting the tasks "
                        f"back failed too ({undo_exc}). Run the reassignment again to finish it.") from cause


# ---------------------------------------------------------------- reminders


REMINDER_SCHEMA = {"task_id": pl.Int64, "rep_id": pl.Int64, "rep": pl.String, "rep_email": pl.String,
                   "rep_active": pl.Boolean, "title": pl.String, "kind": pl.String, "lead_id": pl.Int64,
                   "merchant_name": pl.String, "due_at": pl.Datetime("us"), "overdue": pl.Boolean}


def due_reminders(store: Store, now: datetime, within_minutes: int = REMINDER_WINDOW_MIN) -> pl.DataFrame:
    """Open tasks overdue or due within `within_minutes` whose reminder has not gone out, with their rep (name,
    email, active), by rep then due time. The system's view (the scheduler): no actor."""
    until = now + timedelta(minutes=within_minutes)
    return store.frame("task_due_reminders", now=now, until=until).cast(REMINDER_SCHEMA)


def digest(rep: str, tasks: pl.DataFrame, now: datetime) -> tuple[str, str]:
    """One rep's reminder email (subject, body): their overdue tasks, then those due soon, each with its lead."""
    overdue = tasks.filter(pl.col("overdue")).sort("due_at")
    soon = tasks.filter(~pl.col("overdue")).sort("due_at")
    parts = []
    if overdue.height:
        parts.append(f"{overdue.height} overdue")
    if soon.height:
        parts.append(f"{soon.height} due soon")
    subject = "Your tasks: " + " and ".join(parts)
    lines = [f"Hello {rep.split()[0] if rep else ''},".replace(" ,", ","), ""]
    for title, part in (("Overdue", overdue), ("Due soon", soon)):
        if part.is_empty():
            continue
        lines.append(f"{title}:")
        for t in part.iter_rows(named=True):
            hours = (t["due_at"] - now).total_seconds() / 3600
            when = f"overdue by {span(hours)}" if hours < 0 else f"due in {span(hours)}"
            lead = f" ({t['merchant_name'] or 'lead ' + str(t['lead_id'])})" if t["lead_id"] is not None else ""
            lines.append(f"- {t['title']}{lead}, {when} (due {t['due_at']:%Y-%m-%d %H:%M})")
        lines.append("")
    lines.append("Open your queue in Flash to work them.")
    return subject, "\n".join(lines) + "\n"


Deliver = Callable[[str, str, str], None]  # (to, subject, body)


def send_reminders(store: Store, now: datetime, deliver: Deliver | None = None,
                   within_minutes: int = REMINDER_WINDOW_MIN) -> int:
    """Scheduler job body: one digest email per active rep with an address (their overdue and due-soon tasks),
    sent through `deliver` with the store closed, then those tasks' reminded_at set in one short write (one
    audit record per digest). A rep whose delivery fails keeps their tasks unreminded, for the next run. Without
    `deliver` no email goes out and nothing is marked (reminded_at means the email went out): the app's queue
    highlights overdue and due-soon tasks whatever happens. Returns the tasks marked."""
    if deliver is None:
        return 0
    due = due_reminders(store, now, within_minutes)
    sent: list[tuple[int, list[int], str]] = []
    reachable = due.filter(pl.col("rep_active") & (pl.col("rep_email").str.strip_chars() != "").fill_null(False))
    for (rep_id,), theirs in reachable.group_by("rep_id", maintain_order=True):
        first = theirs.row(0, named=True)
        subject, body = digest(first["rep"] or "", theirs, now)
        try:
            deliver(first["rep_email"], subject, body)
        except Exception:  # one rep's failed delivery must not cost the others theirs
            log.exception("the task reminder to rep %s could not be delivered; it is retried next run", rep_id)
            continue
        sent.append((rep_id, theirs["task_id"].to_list(), subject))
    if not sent:
        return 0
    with store.write() as con:
        store.run("task_mark_reminded", con, now=now, task_ids=[i for _, ids, _ in sent for i in ids])
        for rep_id, ids, subject in sent:
            audit.record(con, JOB_ACTOR, "remind", "rep", rep_id, now, after={"task_ids": ids}, reason=subject)
    return sum(len(ids) for _, ids, _ in sent)


# ---------------------------------------------------------------- follow-up compliance


OUTCOMES = ("on_time", "late", "missed", "pending", "cancelled")
COMPLIANCE_SCHEMA = {"rep_id": pl.Int64, "rep": pl.String, "due": pl.Int64, "done_on_time": pl.Int64,
                     "done_late": pl.Int64, "missed": pl.Int64, "pending": pl.Int64, "cancelled": pl.Int64,
                     "rate": pl.Float64}
WEEKLY_SCHEMA = {"week": pl.Date, **{k: v for k, v in COMPLIANCE_SCHEMA.items() if k not in ("rep_id", "rep")}}


def classify(rows: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """Adds `outcome` to tasks (status, due_at, done_at): on_time (done at or before due), late (done after),
    missed (open and past due), pending (open, not yet due), cancelled."""
    return rows.with_columns(outcome=pl.when(pl.col("status") == "cancelled").then(pl.lit("cancelled"))
                             .when((pl.col("status") == "done") & (pl.col("done_at") <= pl.col("due_at")))
                             .then(pl.lit("on_time"))
                             .when(pl.col("status") == "done").then(pl.lit("late"))
                             .when(pl.col("due_at") < pl.lit(now)).then(pl.lit("missed"))
                             .otherwise(pl.lit("pending")))


def _tally(classified: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Counts per group; due = on time + late + missed (pending and cancelled tasks are not yet, or no longer,
    owed); rate = on time / due (null when nothing was due)."""
    counted = classified.group_by(by, maintain_order=True).agg(
        done_on_time=(pl.col("outcome") == "on_time").sum().cast(pl.Int64),
        done_late=(pl.col("outcome") == "late").sum().cast(pl.Int64),
        missed=(pl.col("outcome") == "missed").sum().cast(pl.Int64),
        pending=(pl.col("outcome") == "pending").sum().cast(pl.Int64),
        cancelled=(pl.col("outcome") == "cancelled").sum().cast(pl.Int64),
    )
    counted = counted.with_columns(due=pl.col("done_on_time") + pl.col("done_late") + pl.col("missed"))
    return counted.with_columns(rate=pl.when(pl.col("due") > 0).then(pl.col("done_on_time") / pl.col("due"))
                                .otherwise(None))


def _bounds(start: date | datetime, end: date | datetime) -> tuple[datetime, datetime]:
    """[start, end): a date `end` includes its whole day."""
    lo = start if isinstance(start, datetime) else datetime.combine(start, time())
    hi = end if isinstance(end, datetime) else datetime.combine(end, time()) + timedelta(days=1)
    if hi <= lo:
        raise TaskError(f"The period ends ({end}) before it starts ({start}); pick an end after the start.")
    return lo, hi


def compliance_figures(rows: pl.DataFrame, now: datetime) -> dict[str, Any]:
    """Compliance of tasks (task_id, rep_id, rep, due_at, done_at, status): by_rep (COMPLIANCE_SCHEMA, lowest
    rate first), weekly (WEEKLY_SCHEMA, by the Monday of the due week) and the overall due, done_on_time,
    done_late, missed, pending, cancelled and rate (None when nothing was due)."""
    classified = classify(rows, now)
    by_rep = _tally(classified, ["rep_id", "rep"]).select(list(COMPLIANCE_SCHEMA)).cast(COMPLIANCE_SCHEMA) \
        .sort(["rate", "rep"], nulls_last=True)
    weekly = _tally(classified.with_columns(week=pl.col("due_at").dt.truncate("1w").dt.date()), ["week"]) \
        .select(list(WEEKLY_SCHEMA)).cast(WEEKLY_SCHEMA).sort("week")
    total = {k: int(by_rep[k].sum()) for k in ("due", "done_on_time", "done_late", "missed", "pending", "cancelled")}
    rate = total["done_on_time"] / total["due"] if total["due"] else None
    return {"by_rep": by_rep, "weekly": weekly, **total, "rate": rate}


def compliance(store: Store, actor: Actor, start: date | datetime, end: date | datetime,
               now: datetime) -> dict[str, Any]:
    """Follow-up compliance of the tasks due in [start, end] (dates: whole days) in the actor's scope, counted
    for each task's current owner: on time = done at or before its due time; late = done after; missed = still
    open past due; pending (open, not yet due) and cancelled are shown but not owed. Returns compliance_figures's
    dict (by_rep, weekly for a trend chart, overall counts and rate)."""
    lo, hi = _bounds(start, end)
    rows = store.frame("task_compliance_rows", start=lo, end=hi, **actor.scope_params())
    return compliance_figures(rows.cast({"due_at": pl.Datetime("us"), "done_at": pl.Datetime("us")}), now)
