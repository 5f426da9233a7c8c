"""Follow-up sequences (cadences) and nurture: ordered steps (call, email, task) at day offsets after enrollment,
leads enrolled one by one or in bulk, run by the scheduler, paused by themselves when the lead replies, changes
stage or books a meeting, and measured step by step.

Definitions. A sequence belongs to a team (a manager edits their team's) or to the whole store (team_id NULL,
admins). It has 1 to 30 steps in order, each a call, an email (with an email template) or a task, on a day
offset of 0 or more that never goes down from one step to the next. A sequence whose steps are all emails is a
*nurture*: it never makes tasks, and it may enroll a lead without an owner (nobody has to make a call; its
emails are signed by the lead's owner when it has one, and a template that names the rep then pauses the
enrollment with that reason instead of sending a blank).

Editing. Steps keep their identity through an edit when the caller passes their `id`; a step without one is
new. Active enrollments keep their position number (an enrollment waiting for step 3 runs whatever step 3 is
after the edit) and their next due time; an enrollment past the new last step completes at its next run. A
removed step that never ran is deleted; one that ran (its runs, tasks or emails refer to it) stays with
position 0, out of the sequence, so its results stay readable.

Timing. An enrollment's first step is due at enrolled_at + its day offset. After a step runs, the next one is
due that many days after the step's own due time (the difference of their offsets), so on schedule each step
falls on enrolled_at + its offset, and a pause shifts every later step by the pause's length (resume adds the
time spent paused to the next due time). A step that ran more than LATE_SLACK late (the scheduler was stopped)
keeps the gap to the next one from when it ran instead: the lead never gets two touches meant days apart within
minutes. Steps on the same day run together.

Pausing. Each sequence says what pauses it (pause_on: reply, stage_change, meeting). Events count from when the
enrollment started or was last resumed, up to `now`: a reply is a 'reply' event on any email to the lead or a
logged email whose outcome says the lead replied (not "has not replied"); a stage change is any move of the
lead's stage, by a person or by the qualification rules; a meeting is a meeting or demo logged, or a meeting or
demo task booked for the lead. A lead that is won, lost or disqualified stops its enrollments whatever pause_on
says. The hooks call `pause_if_needed` inside their write; `run_due` checks every active enrollment too (so a
reply that arrives through the tracking service pauses at the next run).

Running. `run_due` is the scheduler's job body: it reads in one short unit, plans with the store closed, and
writes in batches of BATCH enrollments, one transaction each; inside the write it re-reads each enrollment and
leaves it alone if another run moved it meanwhile, so running it twice at the same `now` does nothing more.
A call or task step makes a task for the lead's owner (due at once, kind call or task); an email step queues
the template's email through `mail.queue_email`: a token the lead cannot fill records the run as 'failed' and
pauses the enrollment with the reason (resume retries that step once the lead or template is fixed), and a
do-not-contact lead's email comes back 'suppressed' and the sequence goes on. A call step on a do-not-contact
lead is skipped the same way (recorded, no task): calling is contacting.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from flashdash import audit, mail, tasks
from flashdash.access import AccessDenied, Actor, require_team_editor
from flashdash.qualification import STAGE_LABELS
from flashdash.store import Store

# What a team's manager (or an admin) changes, and what only an admin does: access.require_team_editor.
EDITED = ("sequences", "defines store-wide sequences")

KINDS = ("call", "email", "task")
PAUSE_TRIGGERS = ("reply", "stage_change", "meeting")
DEFAULT_PAUSE_ON = ",".join(PAUSE_TRIGGERS)
CLOSED = ("won", "lost", "disqualified")
STATUSES = ("active", "paused", "completed", "stopped")
MAX_STEPS = 30
MAX_NAME = 100
MAX_DESCRIPTION = 1000
MAX_TITLE = 200
MAX_REASON = 500
MAX_DAY_OFFSET = 365
MAX_LEADS_PER_ENROLL = 10_000
EDITORS = ("manager", "admin")
ENROLLERS = ("rep", "manager", "admin")
SEES_ALL_TEAMS = ("admin", "analyst", "executive")
SYSTEM_ACTOR = "sequence"  # the audit trail's actor for what the scheduler and the hooks do
LATE_SLACK = timedelta(hours=1)  # a step this much later than due keeps the gap to the next from when it ran
BATCH = 100  # enrollments per write transaction in run_due (about a second of writing each)
ADVANCE_WINDOW_DAYS = 14  # results: a lead "advanced" if it moved forward a stage this soon after a step

# Step-run outcomes this module writes: created (a task), queued (an email), skipped (a suppressed email, or a
# call to a do-not-contact lead), failed (the email could not be made; the enrollment paused).
OUTCOMES = ("created", "queued", "skipped", "failed")


class SequenceError(ValueError):
    """A sequence, enrollment or change that cannot be made as given; the message says what to change."""


# ---------------------------------------------------------------- definitions (pure)


@dataclass(frozen=True)
class StepDef:
    """One step as saved: what it does, on which day after enrollment, and (email) with which template."""

    kind: str
    day_offset: int
    title: str | None
    template_id: int | None = None
    id: int | None = None  # an existing step kept through an edit


@dataclass(frozen=True)
class Definition:
    name: str
    description: str | None
    pause_on: str
    steps: tuple[StepDef, ...]


def parse_pause_on(value: str | Iterable[str] | None) -> tuple[str, list[str]]:
    """pause_on as stored (a comma list in the canonical order, "" for never) and the problems with it."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    wanted = {str(i).strip().lower() for i in items if str(i).strip()}
    unknown = sorted(wanted - set(PAUSE_TRIGGERS))
    problems = [f"pause_on may hold {', '.join(PAUSE_TRIGGERS)} (got {', '.join(unknown)})"] if unknown else []
    return ",".join(t for t in PAUSE_TRIGGERS if t in wanted), problems


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _check_step(i: int, raw: Any, problems: list[str]) -> StepDef:
    where = f"step {i}"
    if isinstance(raw, StepDef):
        raw = raw.__dict__
    if not isinstance(raw, Mapping):
        problems.append(f"{where} is not a step like {{'kind': 'call', 'day_offset': 0, 'title': 'Intro call'}}")
        return StepDef("task", 0, None)
    kind = str(raw.get("kind") or "").strip().lower()
    if kind not in KINDS:
        problems.append(f"{where}: the kind must be one of {', '.join(KINDS)} (got {raw.get('kind')!r})")
    offset = _whole(raw.get("day_offset"))
    if offset is None or not 0 <= offset <= MAX_DAY_OFFSET:
        problems.append(f"{where}: the day offset must be a whole number of days from 0 to {MAX_DAY_OFFSET} "
                        f"(got {raw.get('day_offset')!r})")
        offset = 0 if offset is None else offset
    title = str(raw.get("title") or "").strip() or None
    if title is None and kind != "email":
        problems.append(f"{where}: give the {kind or 'step'} a title, e.g. 'Intro call'")
    elif title and len(title) > MAX_TITLE:
        problems.append(f"{where}: the title is {len(title)} characters; keep it under {MAX_TITLE}")
    template_id = raw.get("template_id")
    if template_id is not None and _whole(template_id) is None:
        problems.append(f"{where}: the template id must be a whole number (got {template_id!r})")
        template_id = None
    template_id = _whole(template_id) if template_id is not None else None
    if kind == "email" and template_id is None:
        problems.append(f"{where}: an email step needs an email template; choose one from the library")
    if kind in ("call", "task") and template_id is not None:
        problems.append(f"{where}: a {kind} step takes no email template (remove it, or make the step an email)")
    step_id = _whole(raw.get("id")) if raw.get("id") is not None else None
    return StepDef(kind, offset, title, template_id, step_id)


def check_definition(name: str | None, description: str | None, pause_on: str | Iterable[str] | None,
                     steps: Any) -> tuple[Definition, list[str]]:
    """The definition trimmed and normalised, and every problem with it (each naming its step)."""
    problems: list[str] = []
    name = (name or "").strip()
    if not name:
        problems.append("give the sequence a name, e.g. 'New inbound lead'")
    elif len(name) > MAX_NAME:
        problems.append(f"the name is {len(name)} characters; keep it under {MAX_NAME}")
    description = (description or "").strip() or None
    if description and len(description) > MAX_DESCRIPTION:
        problems.append(f"the description is {len(description):,} characters; the most is {MAX_DESCRIPTION:,}")
    pause, pause_problems = parse_pause_on(pause_on)
    problems += pause_problems
    raw_steps = list(steps) if isinstance(steps, list | tuple) else None
    if raw_steps is None:
        problems.append("give the steps as a list of {kind, day_offset, title, template_id}")
        raw_steps = []
    elif not raw_steps:
        problems.append("give the sequence at least one step")
    elif len(raw_steps) > MAX_STEPS:
        problems.append(f"there are {len(raw_steps)} steps; the most is {MAX_STEPS}")
    checked = [_check_step(i, s, problems) for i, s in enumerate(raw_steps, 1)]
    for i in range(1, len(checked)):
        if checked[i].day_offset < checked[i - 1].day_offset:
            problems.append(f"step {i + 1} is on day {checked[i].day_offset}, before step {i}'s day "
                            f"{checked[i - 1].day_offset}: put the steps in the order of their days")
    ids = [s.id for s in checked if s.id is not None]
    if len(ids) != len(set(ids)):
        problems.append("the same existing step appears twice; each step id may be used once")
    return Definition(name, description, pause, tuple(checked)), problems


def is_nurture(steps: Any) -> bool:
    """Whether every step is an email (a nurture sequence: no tasks, leads without an owner allowed)."""
    if isinstance(steps, pl.DataFrame):
        kinds = steps["kind"].to_list() if "kind" in steps.columns else []
    else:
        kinds = [s.kind if isinstance(s, StepDef) else s.get("kind") for s in steps]
    return bool(kinds) and all(k == "email" for k in kinds)


# ---------------------------------------------------------------- timing and pausing (pure)


def next_due(this_due: datetime, gap_days: int, now: datetime) -> datetime:
    """When the next step is due after a step due at `this_due` ran at `now`: `gap_days` after this_due, or, for a
    step that ran more than LATE_SLACK late, the gap counted from when it ran (less the slack)."""
    gap = timedelta(days=gap_days)
    return max(this_due + gap, now + gap - LATE_SLACK)


@dataclass(frozen=True)
class PlannedRun:
    position: int
    step: Mapping[str, Any]
    due_at: datetime  # the step's due time as scheduled (a failure leaves the enrollment here)


@dataclass(frozen=True)
class RunPlan:
    runs: tuple[PlannedRun, ...]
    next_position: int
    next_due_at: datetime | None
    completed: bool


def plan_steps(next_position: int, next_due_at: datetime | None, steps: Sequence[Mapping[str, Any]],
               now: datetime) -> RunPlan:
    """The steps an enrollment runs at `now` (those due, in order; same-day steps together) and where it stands
    after them. `steps` are the sequence's current steps in order (position 1..n)."""
    by_position = {int(s["position"]): s for s in steps}
    last = max(by_position, default=0)
    position, due, runs = next_position, next_due_at, []
    while position <= last and due is not None and due <= now:
        step = by_position.get(position)
        if step is None:  # a gap in the positions (a concurrent edit): nothing to run there
            position += 1
            continue
        runs.append(PlannedRun(position, step, due))
        following = by_position.get(position + 1)
        due = next_due(due, int(following["day_offset"]) - int(step["day_offset"]), now) if following else None
        position += 1
    completed = position > last
    return RunPlan(tuple(runs), position, None if completed else due, completed)


_REPLIED = re.compile(r"\breplied\b", re.IGNORECASE)
_NOT_REPLIED = re.compile(r"\b(not|never|no|hasn'?t|didn'?t|hasn’t|didn’t)\s+(yet\s+)?replied\b", re.IGNORECASE)


def mentions_reply(outcome: str | None) -> bool:
    """Whether a logged email's outcome says the lead replied ("replied, wants pricing"; not "has not replied")."""
    text = outcome or ""
    return bool(_REPLIED.search(text)) and not _NOT_REPLIED.search(text)


def describe_event(event: Mapping[str, Any]) -> str:
    """A pause reason as people read it: "replied on 2026-06-30", "moved to SQL on ...", "meeting logged on ..."."""
    day = f"{event['at']:%Y-%m-%d}"
    trigger, source, detail = event["trigger"], event.get("source"), event.get("detail")
    if trigger == "reply":
        return f"replied on {day}"
    if trigger == "stage_change":
        return f"moved to {STAGE_LABELS.get(detail, detail)} on {day}"
    return f"{detail} {'booked' if source == 'task' else 'logged'} on {day}"


def pause_reason(pause_on: str | Iterable[str], events: Iterable[Mapping[str, Any]]) -> str | None:
    """Why an enrollment pauses (its earliest event that its pause_on names), or None to go on."""
    wanted, _ = parse_pause_on(pause_on)
    triggers = set(filter(None, wanted.split(",")))
    for event in sorted(events, key=lambda e: e["at"]):
        if event["trigger"] not in triggers:
            continue
        if event["trigger"] == "reply" and event.get("source") == "activity" and not mentions_reply(event.get("detail")):
            continue
        return describe_event(event)
    return None


def closed_reason(lead_status: str | None, changed_at: datetime | None) -> str | None:
    """Why an enrollment stops: its lead was won, lost or disqualified (None while the lead is open)."""
    if lead_status not in CLOSED:
        return None
    return f"lead closed: {STAGE_LABELS[lead_status]}" + (f" on {changed_at:%Y-%m-%d}" if changed_at else "")


TURNED_OFF = "the sequence was turned off"

_REASON_KINDS = (("replied", "reply"), ("moved to", "stage change"), ("meeting", "meeting"), ("demo", "meeting"),
                 ("step ", "step failed"), ("paused by", "paused by hand"), ("stopped by", "stopped by hand"),
                 ("lead closed", "lead closed"), (TURNED_OFF, "sequence turned off"), ("all ", "all steps ran"),
                 ("resumed", "resumed"))


def reason_kind(reason: str | None) -> str:
    """The kind of a status reason, for counting reasons that carry dates ("replied on ..." → "reply")."""
    text = (reason or "").lower()
    return next((kind for prefix, kind in _REASON_KINDS if text.startswith(prefix)), "other" if text else "none")


# ---------------------------------------------------------------- who sees and edits what


def _actor_teams(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor) -> list[int] | None:
    """The teams whose sequences the actor uses (None: every team's)."""
    if actor.role in SEES_ALL_TEAMS:
        return None
    if actor.rep_id is None:
        return []
    return store.frame("seq_actor_teams", con, rep_id=actor.rep_id)["id"].to_list()


def _team_params(teams: list[int] | None) -> dict[str, Any]:
    return {"all_teams": teams is None, "teams": teams or []}


def _sequence(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor, sequence_id: int) -> dict[str, Any]:
    rows = store.frame("seq_one", con, sequence_id=int(sequence_id))
    teams = _actor_teams(store, con, actor)
    if rows.is_empty() or not (teams is None or rows["team_id"][0] is None or rows["team_id"][0] in teams):
        raise SequenceError(f"There is no sequence {sequence_id} you can use; pick one from the list.")
    return rows.row(0, named=True)



def _steps(store: Store, con: duckdb.DuckDBPyConnection, sequence_ids: list[int],
           with_removed: bool = False) -> pl.DataFrame:
    return store.frame("seq_steps", con, sequence_ids=sequence_ids, with_removed=with_removed)


# ---------------------------------------------------------------- the starter library


@dataclass(frozen=True)
class StarterStep:
    kind: str
    day_offset: int
    title: str
    templates: tuple[str, ...] = ()  # email steps: the template names it takes, the first one found wins


@dataclass(frozen=True)
class Starter:
    name: str
    description: str
    steps: tuple[StarterStep, ...]
    pause_on: str = DEFAULT_PAUSE_ON


# The templates are looked up by name (case-insensitive) among the active ones the team may use: the mail
# library's starters ("Intro", "Pricing follow-up", "Nurture: case study") or any a manager saved so named.
STARTERS = (
    Starter("New inbound lead",
            "Reach a new inbound lead fast: a call the day it arrives, an email the next day, a second call on "
            "day 3 and a pricing email on day 7. Pauses when the lead replies, moves stage or books a meeting.",
            (StarterStep("call", 0, "Intro call"),
             StarterStep("email", 1, "Intro email", ("Intro",)),
             StarterStep("call", 3, "Follow-up call"),
             StarterStep("email", 7, "Pricing follow-up", ("Pricing follow-up",)))),
    Starter("Cold lead nurture",
            "Keep a cold lead warm without calls: three emails over a month. Pauses when the lead replies, moves "
            "stage or books a meeting.",
            (StarterStep("email", 0, "Case study", ("Nurture: case study",)),
             StarterStep("email", 14, "Pricing overview", ("Nurture: pricing", "Pricing follow-up")),
             StarterStep("email", 30, "Check-in", ("Nurture: check-in", "Intro")))),
)


def _resolve_starter(starter: Starter, named: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    steps, needs = [], []
    for i, s in enumerate(starter.steps, 1):
        found = next((named[t.lower()] for t in s.templates if t.lower() in named), None)
        if s.kind == "email" and found is None:
            needs.append(f"step {i} ({s.title}) needs an email template named {' or '.join(map(repr, s.templates))}, "
                         "or another one chosen")
        steps.append({"kind": s.kind, "day_offset": s.day_offset, "title": s.title,
                      "template_id": found["id"] if found else None, "template": found["name"] if found else None})
    return {"name": starter.name, "description": starter.description, "pause_on": starter.pause_on,
            "steps": steps, "nurture": is_nurture(steps), "ready": not needs, "needs": "; ".join(needs) or None}


def starter_sequences(store: Store, actor: Actor, team_id: int | None = None) -> list[dict[str, Any]]:
    """The starter library for a team (None: store-wide): each starter's name, description, pause_on, steps
    (kind, day_offset, title, template_id, template), nurture, ready, and what it needs when not ready (an
    email step whose template is not in the library). Pass a ready one's fields to save_sequence, or use
    adopt_starter."""
    with store.read() as con:
        named: dict[str, dict[str, Any]] = {}
        for row in store.frame("seq_templates_named", con, team_id=team_id).iter_rows(named=True):
            named.setdefault(row["key"], row)  # the team's own template before a store-wide one of that name
    return [_resolve_starter(s, named) for s in STARTERS]


def adopt_starter(store: Store, actor: Actor, starter_name: str, team_id: int | None, now: datetime,
                  active: bool = True) -> int:
    """Save a starter sequence for a team as it is (its templates found by name); returns its id."""
    starters = {s["name"].lower(): s for s in starter_sequences(store, actor, team_id)}
    starter = starters.get((starter_name or "").strip().lower())
    if starter is None:
        raise SequenceError(f"There is no starter sequence {starter_name!r}; choose one of "
                            f"{', '.join(s.name for s in STARTERS)}.")
    if not starter["ready"]:
        raise SequenceError(f"The starter {starter['name']!r} cannot be saved yet: {starter['needs']}. Add the "
                            "template to the email library, or save a copy with templates of your choice.")
    steps = [{k: s[k] for k in ("kind", "day_offset", "title", "template_id")} for s in starter["steps"]]
    return save_sequence(store, actor, None, starter["name"], starter["description"], team_id, starter["pause_on"],
                         steps, active, now)


# ---------------------------------------------------------------- reading definitions


SEQUENCES_SCHEMA = {"id": pl.Int64, "name": pl.String, "description": pl.String, "team_id": pl.Int64,
                    "team": pl.String, "pause_on": pl.String, "active": pl.Boolean, "steps": pl.Int64,
                    "email_steps": pl.Int64, "nurture": pl.Boolean, "active_enrollments": pl.Int64,
                    "paused_enrollments": pl.Int64, "completed_enrollments": pl.Int64, "created_by": pl.String,
                    "created_at": pl.Datetime("us"), "source": pl.String, "ready": pl.Boolean, "needs": pl.String}


def sequences(store: Store, actor: Actor) -> pl.DataFrame:
    """The sequences the actor may use (their team's and the store-wide ones; every one for admins, analysts and
    executives) with their steps, whether each is a nurture, and the enrollments in the actor's scope (active,
    paused, completed). While the actor sees none, the starter library is listed instead (id null, source
    'starter', ready false when an email step still needs a template): see starter_sequences."""
    with store.read() as con:
        teams = _actor_teams(store, con, actor)
        rows = store.frame("seq_list", con, **_team_params(teams), **actor.scope_params())
    if rows.is_empty():
        starters = starter_sequences(store, actor)
        return pl.DataFrame([{
            "id": None, "name": s["name"], "description": s["description"], "team_id": None, "team": None,
            "pause_on": s["pause_on"], "active": False, "steps": len(s["steps"]),
            "email_steps": sum(st["kind"] == "email" for st in s["steps"]), "nurture": s["nurture"],
            "active_enrollments": 0, "paused_enrollments": 0, "completed_enrollments": 0, "created_by": None,
            "created_at": None, "source": "starter", "ready": s["ready"], "needs": s["needs"]} for s in starters],
            schema=SEQUENCES_SCHEMA)
    return rows.with_columns(
        nurture=(pl.col("steps") > 0) & (pl.col("email_steps") == pl.col("steps")),
        source=pl.when(pl.col("team_id").is_null()).then(pl.lit("store-wide")).otherwise(pl.lit("team")),
        ready=pl.lit(True), needs=pl.lit(None, pl.String),
    ).cast(SEQUENCES_SCHEMA).select(list(SEQUENCES_SCHEMA))


def steps(store: Store, actor: Actor, sequence_id: int) -> pl.DataFrame:
    """A sequence's current steps in order: id, position, kind, day_offset, title, template_id, template,
    template_active."""
    with store.read() as con:
        _sequence(store, con, actor, sequence_id)
        return _steps(store, con, [int(sequence_id)]).drop("sequence_id")


# ---------------------------------------------------------------- saving definitions


def _template_problems(templates: pl.DataFrame, definition: Definition, team_id: int | None) -> list[str]:
    by_id = {r["id"]: r for r in templates.iter_rows(named=True)}
    problems = []
    for i, step in enumerate(definition.steps, 1):
        if step.kind != "email" or step.template_id is None:
            continue
        tpl = by_id.get(step.template_id)
        if tpl is None:
            problems.append(f"step {i}: there is no email template {step.template_id}; choose one from the library")
        elif not tpl["active"]:
            problems.append(f"step {i}: the email template {tpl['name']!r} is turned off; turn it on or choose another")
        elif tpl["team_id"] is not None and tpl["team_id"] != team_id:
            problems.append(f"step {i}: the email template {tpl['name']!r} belongs to another team; choose one of "
                            "your team's or a store-wide one")
    return problems


def _with_titles(definition: Definition, templates: pl.DataFrame) -> tuple[StepDef, ...]:
    """Email steps without a title take their template's name."""
    names = dict(zip(templates["id"].to_list(), templates["name"].to_list(), strict=True))
    return tuple(s if s.title else StepDef(s.kind, s.day_offset, names.get(s.template_id, "Email"), s.template_id, s.id)
                 for s in definition.steps)


def _step_view(s: StepDef | Mapping[str, Any]) -> dict[str, Any]:
    row = s.__dict__ if isinstance(s, StepDef) else s
    return {k: row.get(k) for k in ("id", "kind", "day_offset", "title", "template_id")}


def save_sequence(store: Store, actor: Actor, sequence_id: int | None, name: str, description: str | None,
                  team_id: int | None, pause_on: str | Iterable[str] | None, steps: Any, active: bool,
                  now: datetime) -> int:
    """Create (sequence_id None) or change a sequence with its steps; returns its id. Managers for their team,
    admins any team or store-wide (team_id None). Validated as a whole (every problem named, nothing written
    otherwise); audited with before and after. Steps passed with their `id` keep it (and their history);
    see the module's note on editing a sequence that has enrollments."""
    if actor.role not in EDITORS:
        raise AccessDenied(f"A {actor.role} uses sequences but does not define them; ask your manager.")
    definition, problems = check_definition(name, description, pause_on, steps)
    if not isinstance(active, bool):
        problems.append(f"active must be true or false (got {active!r})")
    with store.write() as con:
        if team_id is not None and store.frame("seq_team", con, team_id=team_id).is_empty():
            raise SequenceError(f"There is no team {team_id}; pick one of the teams listed.")
        require_team_editor(store, con, actor, team_id, *EDITED)
        old, old_steps = None, pl.DataFrame()
        if sequence_id is not None:
            old = _sequence(store, con, actor, sequence_id)
            require_team_editor(store, con, actor, old["team_id"], *EDITED)
            old_steps = _steps(store, con, [int(sequence_id)])
            unknown = sorted({s.id for s in definition.steps if s.id is not None} - set(old_steps["id"].to_list()))
            if unknown:
                problems.append(f"steps {', '.join(map(str, unknown))} are not steps of this sequence; leave their id "
                                "out to add them as new steps")
        elif any(s.id is not None for s in definition.steps):
            problems.append("a new sequence has no steps yet: leave the step ids out")
        templates = store.frame("seq_templates", con, template_ids=[s.template_id for s in definition.steps
                                                                    if s.template_id is not None])
        problems += _template_problems(templates, definition, team_id)
        if definition.name and not store.frame("seq_name_taken", con, team_id=team_id, seq_name=definition.name,
                                               sequence_id=sequence_id).is_empty():
            problems.append(f"{'this team' if team_id is not None else 'the store'} already has a sequence named "
                            f"{definition.name!r}; choose another name")
        if problems:
            raise SequenceError("The sequence was not saved: " + "; ".join(problems) + ".")
        final_steps = _with_titles(definition, templates)
        fields = {"team_id": team_id, "seq_name": definition.name, "description": definition.description,
                  "pause_on": definition.pause_on, "active": active}
        if old is None:
            sequence_id = store.scalar("seq_insert", con, created_by=actor.username, created_at=now, **fields)
        else:
            store.run("seq_update", con, sequence_id=sequence_id, **fields)
        kept = _write_steps(store, con, int(sequence_id), final_steps, old_steps)
        after = {"team_id": team_id, "name": definition.name, "description": definition.description,
                 "pause_on": definition.pause_on, "active": active, "steps": [_step_view(s) for s in kept]}
        before = None if old is None else {
            "team_id": old["team_id"], "name": old["name"], "description": old["description"],
            "pause_on": old["pause_on"], "active": old["active"],
            "steps": [_step_view(r) for r in old_steps.iter_rows(named=True)]}
        audit.record(con, actor.username, "create" if old is None else "update", "sequence", sequence_id, now,
                     before=before, after=after)
    return int(sequence_id)


def _write_steps(store: Store, con: duckdb.DuckDBPyConnection, sequence_id: int, new: tuple[StepDef, ...],
                 old: pl.DataFrame) -> list[StepDef]:
    """Write the steps in order (positions 1..n); removed ones are deleted, or kept at position 0 if they ran."""
    saved = []
    for position, step in enumerate(new, 1):
        values = {"sequence_id": sequence_id, "position": position, "kind": step.kind,
                  "day_offset": step.day_offset, "title": step.title, "template_id": step.template_id}
        if step.id is not None:
            store.run("seq_step_update", con, step_id=step.id, **values)
            saved.append(step)
        else:
            new_id = store.scalar("seq_step_insert", con, **values)
            saved.append(StepDef(step.kind, step.day_offset, step.title, step.template_id, new_id))
    removed = sorted(set(old["id"].to_list() if not old.is_empty() else []) - {s.id for s in new})
    if removed:
        ran = set(store.frame("seq_step_history", con, step_ids=removed)["step_id"].to_list())
        for step_id in removed:
            store.run("seq_step_retire" if step_id in ran else "seq_step_delete", con, step_id=step_id,
                      sequence_id=sequence_id)
    return saved


# ---------------------------------------------------------------- enrolment


def _lead_ids(lead_ids: Iterable[int]) -> list[int]:
    try:
        ids = sorted({int(i) for i in lead_ids})
    except (TypeError, ValueError):
        raise SequenceError("Lead ids must be whole numbers.") from None
    if not ids:
        raise SequenceError("Select at least one lead to enroll.")
    if len(ids) > MAX_LEADS_PER_ENROLL:
        raise SequenceError(f"{len(ids):,} leads are selected; enroll at most {MAX_LEADS_PER_ENROLL:,} at a time.")
    return ids


def _usable_steps(store: Store, con: duckdb.DuckDBPyConnection, seq: Mapping[str, Any]) -> pl.DataFrame:
    if not seq["active"]:
        raise SequenceError(f"The sequence {seq['name']!r} is turned off; turn it on or pick another.")
    current = _steps(store, con, [seq["id"]])
    if current.is_empty():
        raise SequenceError(f"The sequence {seq['name']!r} has no steps; add some first.")
    broken = current.filter((pl.col("kind") == "email") & ~pl.col("template_active").fill_null(False))
    if not broken.is_empty():
        where = ", ".join(str(p) for p in broken["position"].to_list())
        raise SequenceError(f"The sequence {seq['name']!r} has email steps ({where}) whose template is gone or turned "
                            "off; choose a template for them first.")
    return current


def enroll_refusal(row: Mapping[str, Any], nurture: bool) -> str | None:
    """Why a lead may not be enrolled (None: it may), from seq_enroll_leads's row."""
    if not row["in_scope"]:
        return "not a lead in your book"
    if row["status"] in CLOSED:
        return f"closed ({STAGE_LABELS[row['status']]}); only open leads are enrolled"
    if row["do_not_contact"]:
        return "the lead asked not to be contacted"
    if row["owner_id"] is None and not nurture:
        return "the lead has no owner to make the calls; assign it first (only an all-email nurture takes it)"
    if nurture and not row["has_email"]:
        return "the lead has no email address, and this nurture only sends email"
    return None


def _plan_enroll(store: Store, con: duckdb.DuckDBPyConnection, actor: Actor, sequence_id: int,
                 ids: list[int]) -> tuple[dict[str, Any], pl.DataFrame, list[dict[str, Any]], dict[str, Any]]:
    seq = _sequence(store, con, actor, sequence_id)
    current = _usable_steps(store, con, seq)
    nurture = is_nurture(current)
    rows = store.frame("seq_enroll_leads", con, lead_ids=ids, sequence_id=seq["id"], **actor.scope_params())
    take, refusals, already = [], [], 0
    for row in rows.iter_rows(named=True):
        why = enroll_refusal(row, nurture)
        if why is None and row["enrolled_id"] is not None:
            already += 1
        elif why:
            refusals.append({"lead_id": row["lead_id"], "reason": why})
        else:
            take.append(row)
    summary = {"sequence_id": seq["id"], "sequence": seq["name"], "requested": len(ids), "enrolled": len(take),
               "already": already, "refused": len(refusals), "refusals": refusals}
    summary["message"] = enroll_message(summary)
    return seq, current, take, summary


def enroll_message(summary: Mapping[str, Any], done: bool = False) -> str:
    """The confirmation sentence: "This enrolls 12 leads in 'X'; 3 already are in it; 2 refused (reason: n)"."""
    n = summary["enrolled"]
    verb = ("Enrolled" if done else "This enrolls") + f" {n} lead{'s' if n != 1 else ''} in {summary['sequence']!r}"
    parts = [verb]
    if summary["already"]:
        parts.append(f"{summary['already']} already {'is' if summary['already'] == 1 else 'are'} in it")
    if summary["refused"]:
        reasons: dict[str, int] = {}
        for r in summary["refusals"]:
            reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
        parts.append(f"{summary['refused']} refused (" + "; ".join(f"{k}: {v}" for k, v in reasons.items()) + ")")
    return "; ".join(parts) + "."


def preview_enroll(store: Store, actor: Actor, sequence_id: int, lead_ids: Iterable[int]) -> dict[str, Any]:
    """What enroll would do, without writing: sequence, requested, enrolled, already, refused, refusals
    [{lead_id, reason}], message (the confirmation to show)."""
    if actor.role not in ENROLLERS:
        raise AccessDenied(f"A {actor.role} reads sequences but does not enroll leads.")
    ids = _lead_ids(lead_ids)
    with store.read() as con:
        _, _, _, summary = _plan_enroll(store, con, actor, sequence_id, ids)
    return summary


def enroll(store: Store, actor: Actor, sequence_id: int, lead_ids: Iterable[int], now: datetime) -> dict[str, Any]:
    """Enroll leads in a sequence in one transaction: leads in the actor's scope (a rep's own, a manager's team's),
    open, contactable, and not already active or paused in it. Each starts at step 1, due at now + its day offset,
    with the lead's owner as its rep; audited. Returns preview_enroll's dict plus enrollment_ids."""
    if actor.role not in ENROLLERS:
        raise AccessDenied(f"A {actor.role} reads sequences but does not enroll leads.")
    ids = _lead_ids(lead_ids)
    with store.write() as con:
        seq, current, take, summary = _plan_enroll(store, con, actor, sequence_id, ids)
        first_due = now + timedelta(days=int(current["day_offset"][0]))
        enrolled = []
        for row in take:
            eid = store.scalar("seq_enrollment_insert", con, sequence_id=seq["id"], lead_id=row["lead_id"],
                               rep_id=row["owner_id"], enrolled_by=actor.username, enrolled_at=now,
                               next_due_at=first_due)
            audit.record(con, actor.username, "create", "sequence_enrollment", eid, now,
                         after={"sequence_id": seq["id"], "lead_id": row["lead_id"], "rep_id": row["owner_id"],
                                "next_position": 1, "next_due_at": first_due}, reason=f"enrolled in {seq['name']!r}")
            enrolled.append(eid)
    return {**summary, "enrollment_ids": enrolled, "message": enroll_message(summary, done=True)}


# ---------------------------------------------------------------- stopping, pausing and resuming by hand


def _check_reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise SequenceError(f"Give a reason to {what} (it is kept with the enrollment).")
    if len(text) > MAX_REASON:
        raise SequenceError(f"The reason is {len(text)} characters; keep it to {MAX_REASON}.")
    return text


def _enrollment_ids(enrollment_ids: Iterable[int]) -> list[int]:
    try:
        ids = sorted({int(i) for i in enrollment_ids})
    except (TypeError, ValueError):
        raise SequenceError("Enrollment ids must be whole numbers.") from None
    if not ids:
        raise SequenceError("Select at least one enrollment.")
    return ids


def _change(store: Store, actor: Actor, enrollment_ids: Iterable[int], now: datetime, action: str,
            decide: Any) -> dict[str, Any]:
    """Apply `decide(row) -> (refusal | None, status, reason, next_due_at)` to each enrollment in scope, in one
    transaction, audited. Returns {changed, refused, refusals}."""
    if actor.role not in ENROLLERS:
        raise AccessDenied(f"A {actor.role} reads sequences but does not {action} enrollments.")
    ids = _enrollment_ids(enrollment_ids)
    changed, refusals = [], []
    with store.write() as con:
        rows = store.frame("seq_enrollments_by_ids", con, enrollment_ids=ids, **actor.scope_params())
        for row in rows.iter_rows(named=True):
            if not row["in_scope"]:
                refusals.append({"enrollment_id": row["enrollment_id"], "reason": "not an enrollment in your book"})
                continue
            why, status, reason, due = decide(row)
            if why:
                refusals.append({"enrollment_id": row["enrollment_id"], "reason": why})
                continue
            store.run("seq_enrollment_set_status", con, enrollment_id=row["enrollment_id"], status=status,
                      status_reason=reason, status_at=now, next_due_at=due, expected_status=row["status"])
            audit.record(con, actor.username, action, "sequence_enrollment", row["enrollment_id"], now,
                         before={"status": row["status"], "status_reason": row["status_reason"],
                                 "next_due_at": row["next_due_at"]},
                         after={"status": status, "status_reason": reason, "next_due_at": due}, reason=reason)
            changed.append(row["enrollment_id"])
    return {"changed": len(changed), "refused": len(refusals), "refusals": refusals, "enrollment_ids": changed}


def stop(store: Store, actor: Actor, enrollment_ids: Iterable[int], reason: str, now: datetime) -> dict[str, Any]:
    """Stop active or paused enrollments for good, with a reason (tasks they made stay as they are).
    Returns {changed, refused, refusals [{enrollment_id, reason}], enrollment_ids}."""
    text = _check_reason(reason, "stop an enrollment")

    def decide(row: Mapping[str, Any]) -> tuple[str | None, str, str, datetime | None]:
        if row["status"] not in ("active", "paused"):
            return f"already {row['status']}", "", "", None
        return None, "stopped", f"stopped by {actor.username}: {text}", None

    return _change(store, actor, enrollment_ids, now, "stop", decide)


def pause(store: Store, actor: Actor, enrollment_ids: Iterable[int], reason: str, now: datetime) -> dict[str, Any]:
    """Pause active enrollments by hand, with a reason; resume continues them. Returns stop's dict."""
    text = _check_reason(reason, "pause an enrollment")

    def decide(row: Mapping[str, Any]) -> tuple[str | None, str, str, datetime | None]:
        if row["status"] != "active":
            return f"not active ({row['status']})", "", "", None
        return None, "paused", f"paused by {actor.username}: {text}", row["next_due_at"]

    return _change(store, actor, enrollment_ids, now, "pause", decide)


def resumed_due(next_due_at: datetime | None, paused_at: datetime | None, now: datetime) -> datetime | None:
    """The next due time after a pause: shifted by the time spent paused (later steps follow from it)."""
    if next_due_at is None:
        return None
    return next_due_at + max(now - (paused_at or now), timedelta(0))


def resume(store: Store, actor: Actor, enrollment_ids: Iterable[int], now: datetime) -> dict[str, Any]:
    """Resume paused enrollments from their position; the next step's due time moves on by the time spent paused
    (so the gaps between steps stay), and only events after now pause them again. Refused for a lead now closed
    or a sequence turned off. Returns stop's dict."""

    def decide(row: Mapping[str, Any]) -> tuple[str | None, str, str, datetime | None]:
        if row["status"] != "paused":
            return f"not paused ({row['status']})", "", "", None
        if row["lead_status"] in CLOSED:
            return f"the lead is closed ({STAGE_LABELS[row['lead_status']]})", "", "", None
        if not row["sequence_active"]:
            return "the sequence is turned off", "", "", None
        due = resumed_due(row["next_due_at"], row["status_at"], now)
        return None, "active", f"resumed by {actor.username} on {now:%Y-%m-%d}", due

    return _change(store, actor, enrollment_ids, now, "resume", decide)


# ---------------------------------------------------------------- pausing by itself


CHANGED_SCHEMA = {"enrollment_id": pl.Int64, "lead_id": pl.Int64, "sequence_id": pl.Int64, "status": pl.String,
                  "status_reason": pl.String}


def _decisions(watched: pl.DataFrame, events: pl.DataFrame) -> list[tuple[dict[str, Any], str, str]]:
    """(enrollment row, new status, reason) for every watched enrollment that must stop or pause now."""
    by_enrollment: dict[int, list[dict[str, Any]]] = {}
    for event in events.iter_rows(named=True):
        by_enrollment.setdefault(event["enrollment_id"], []).append(event)
    out = []
    for row in watched.iter_rows(named=True):
        if closed := closed_reason(row["lead_status"], row["status_changed_at"]):
            out.append((row, "stopped", closed))
        elif not row["sequence_active"]:
            out.append((row, "paused", TURNED_OFF))
        elif why := pause_reason(row["pause_on"], by_enrollment.get(row["enrollment_id"], [])):
            out.append((row, "paused", why))
    return out


def _watch(store: Store, con: duckdb.DuckDBPyConnection, lead_ids: list[int] | None,
           now: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    watched = store.frame("seq_enrollments_watched", con, every=lead_ids is None, lead_ids=lead_ids or [])
    events = store.frame("seq_pause_events", con, enrollment_ids=watched["enrollment_id"].to_list(), now=now)
    return watched, events


def _set_status(store: Store, con: duckdb.DuckDBPyConnection, row: Mapping[str, Any], status: str, reason: str,
                now: datetime) -> bool:
    """Pause or stop one active enrollment (unless something else changed it meanwhile), audited."""
    due = None if status == "stopped" else row["next_due_at"]
    done = store.frame("seq_enrollment_set_status", con, enrollment_id=row["enrollment_id"], status=status,
                       status_reason=reason, status_at=now, next_due_at=due, expected_status="active")
    if done.is_empty():
        return False
    audit.record(con, SYSTEM_ACTOR, "pause" if status == "paused" else "stop", "sequence_enrollment",
                 row["enrollment_id"], now, before={"status": "active"}, after={"status": status}, reason=reason)
    return True


def pause_if_needed(store: Store, con: duckdb.DuckDBPyConnection, lead_ids: Iterable[int],
                    now: datetime) -> pl.DataFrame:
    """Inside the caller's write (the hooks after a stage change, an activity, a reply): pause the active
    enrollments of these leads that something in their pause_on happened to since they started or resumed,
    and stop those whose lead is now closed. Returns the enrollments changed (enrollment_id, lead_id,
    sequence_id, status, status_reason)."""
    ids = sorted({int(i) for i in lead_ids})
    if not ids:
        return pl.DataFrame(schema=CHANGED_SCHEMA)
    watched, events = _watch(store, con, ids, now)
    rows = [{"enrollment_id": row["enrollment_id"], "lead_id": row["lead_id"], "sequence_id": row["sequence_id"],
             "status": status, "status_reason": reason}
            for row, status, reason in _decisions(watched, events) if _set_status(store, con, row, status, reason, now)]
    return pl.DataFrame(rows, schema=CHANGED_SCHEMA)


# ---------------------------------------------------------------- running due steps


@dataclass
class _Counts:
    steps_run: int = 0
    tasks: int = 0
    emails: int = 0
    suppressed: int = 0
    skipped: int = 0
    failed: int = 0
    completed: int = 0
    paused: int = 0
    stopped: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def run_due(store: Store, now: datetime) -> dict[str, int]:
    """The scheduler's job body: pause or stop the active enrollments that must (see the module's note), then run
    every step due at or before `now` (tasks made, emails queued, runs recorded, enrollments advanced or
    completed). Reads in one short unit, plans with the store closed, writes in batches of BATCH enrollments.
    Returns {steps_run, tasks, emails, suppressed, skipped, failed, completed, paused, stopped}."""
    with store.read() as con:
        watched, events = _watch(store, con, None, now)
        seq_ids = sorted(set(watched["sequence_id"].to_list()))
        step_rows = _steps(store, con, seq_ids)
        templates = store.frame("seq_templates", con, template_ids=[t for t in step_rows["template_id"].to_list()
                                                                    if t is not None])
    actions = _plan_actions(watched, events, step_rows, now)
    by_template = {r["id"]: r for r in templates.iter_rows(named=True)}
    counts = _Counts()
    for start in range(0, len(actions), BATCH):
        with store.write() as con:
            for kind, row, detail in actions[start:start + BATCH]:
                if kind == "run":
                    _run(store, con, row, detail, by_template, now, counts)
                elif _set_status(store, con, row, kind, detail, now):
                    counts.paused += kind == "paused"
                    counts.stopped += kind == "stopped"
    return counts.as_dict()


def _plan_actions(watched: pl.DataFrame, events: pl.DataFrame, step_rows: pl.DataFrame,
                  now: datetime) -> list[tuple[str, dict[str, Any], Any]]:
    """(paused | stopped, row, reason) or (run, row, RunPlan) per enrollment that has something to do now."""
    steps_of: dict[int, list[dict[str, Any]]] = {}
    for step in step_rows.iter_rows(named=True):
        steps_of.setdefault(step["sequence_id"], []).append(step)
    changes = {row["enrollment_id"]: (status, reason) for row, status, reason in _decisions(watched, events)}
    actions: list[tuple[str, dict[str, Any], Any]] = []
    for row in watched.iter_rows(named=True):
        if row["enrollment_id"] in changes:
            status, reason = changes[row["enrollment_id"]]
            actions.append((status, row, reason))
        elif row["next_due_at"] is None or row["next_due_at"] <= now:
            plan = plan_steps(row["next_position"], row["next_due_at"], steps_of.get(row["sequence_id"], []), now)
            if plan.runs or plan.completed:
                actions.append(("run", row, plan))
    return actions


def _run(store: Store, con: duckdb.DuckDBPyConnection, row: Mapping[str, Any], plan: RunPlan,
         templates: Mapping[int, Mapping[str, Any]], now: datetime, counts: _Counts) -> None:
    """Run one enrollment's planned steps inside the batch's write, unless another run moved it meanwhile."""
    state = store.frame("seq_enrollment_state", con, enrollment_id=row["enrollment_id"])
    if state.is_empty() or state.row(0) != ("active", row["next_position"], row["next_due_at"]):
        return
    for run in plan.runs:
        outcome, task_id, email_id, error = _run_step(store, con, row, run, templates, now, counts)
        run_id = store.scalar("seq_step_run_insert", con, enrollment_id=row["enrollment_id"],
                              step_id=run.step["id"], ran_at=now, task_id=task_id, email_id=email_id, outcome=outcome)
        audit.record(con, SYSTEM_ACTOR, "run", "sequence_step_run", run_id, now,
                     after={"enrollment_id": row["enrollment_id"], "step_id": run.step["id"],
                            "position": run.position, "task_id": task_id, "email_id": email_id, "outcome": outcome},
                     reason=error)
        counts.steps_run += 1
        if error:
            reason = f"step {run.position} ({run.step['title']}) failed: {error}"
            _advance(store, con, row, "paused", reason, run.position, run.due_at, now)
            counts.paused += 1
            return
    if plan.completed:
        reason = (f"all steps ran (the last on {now:%Y-%m-%d})" if plan.runs else
                  f"all steps ran (the sequence no longer has a step {row['next_position']})")
        _advance(store, con, row, "completed", reason, plan.next_position, None, now)
        counts.completed += 1
    else:
        # Still active: its status time stays, since pause events are counted from it.
        store.run("seq_enrollment_move", con, enrollment_id=row["enrollment_id"], next_position=plan.next_position,
                  next_due_at=plan.next_due_at)


def _advance(store: Store, con: duckdb.DuckDBPyConnection, row: Mapping[str, Any], status: str, reason: str,
             position: int, due: datetime | None, now: datetime) -> None:
    store.run("seq_enrollment_advance", con, enrollment_id=row["enrollment_id"], status=status,
              status_reason=reason, status_at=now, next_position=position, next_due_at=due)
    audit.record(con, SYSTEM_ACTOR, "complete" if status == "completed" else "pause", "sequence_enrollment",
                 row["enrollment_id"], now, before={"status": "active", "next_position": row["next_position"]},
                 after={"status": status, "next_position": position}, reason=reason)


def _run_step(store: Store, con: duckdb.DuckDBPyConnection, row: Mapping[str, Any], run: PlannedRun,
              templates: Mapping[int, Mapping[str, Any]], now: datetime,
              counts: _Counts) -> tuple[str, int | None, int | None, str | None]:
    """Do one step: (outcome, task_id, email_id, error)."""
    step = run.step
    rep_id = row["owner_id"] if row["owner_id"] is not None else row["rep_id"]
    if step["kind"] in ("call", "task"):
        if step["kind"] == "call" and row["do_not_contact"]:
            counts.skipped += 1
            return "skipped", None, None, None
        task_id = tasks.create_task(store, con, row["lead_id"], rep_id, step["title"], now, SYSTEM_ACTOR, now,
                                    notes=f"Step {run.position} of the sequence {row['sequence']!r}",
                                    kind=step["kind"], enrollment_id=row["enrollment_id"], step_id=step["id"])
        counts.tasks += 1
        return "created", task_id, None, None
    template = templates.get(step["template_id"])
    if template is None or not template["active"]:
        counts.failed += 1
        return "failed", None, None, "its email template is gone or turned off; choose another for the step"
    try:
        email_id = mail.queue_email(store, con, SYSTEM_ACTOR, row["lead_id"], template["subject"], template["body"],
                                    now, template_id=template["id"], enrollment_id=row["enrollment_id"],
                                    step_id=step["id"], rep_id=rep_id)
    except mail.MailError as exc:
        counts.failed += 1
        return "failed", None, None, str(exc)
    if store.scalar("seq_email_status", con, email_id=email_id) == "suppressed":
        counts.suppressed += 1
        return "skipped", None, email_id, None
    counts.emails += 1
    return "queued", None, email_id, None


def scheduled_run(store: Store, now: datetime) -> int:
    """run_due as the scheduler registers it: the rows it wrote (step runs, pauses, stops, completions)."""
    counts = run_due(store, now)
    return counts["steps_run"] + counts["paused"] + counts["stopped"] + counts["completed"]


# ---------------------------------------------------------------- what happened


def enrollments(store: Store, actor: Actor, sequence_id: int | None = None, lead_id: int | None = None,
                limit: int = 500) -> pl.DataFrame:
    """Enrollments in the actor's scope (of a sequence and/or a lead), newest first: sequence, lead, rep, status
    with its reason and time, the next step and when it is due."""
    return store.frame("seq_enrollments_list", sequence_id=sequence_id, lead_id=lead_id, limit=int(limit),
                       **actor.scope_params())


def _rate(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None)


def results(store: Store, actor: Actor, sequence_id: int) -> pl.DataFrame:
    """Per step (removed steps last, flagged), over the enrollments in the actor's scope: runs, leads, failed,
    skipped; tasks made, done, done on time (done_at <= due_at); emails queued, sent, suppressed, failed, opened,
    clicked, replied (distinct emails with such an event) and their rates over the emails sent; advanced_14d (leads
    that moved forward a stage within 14 days after the step ran) and its rate over the leads reached."""
    with store.read() as con:
        _sequence(store, con, actor, sequence_id)
        rows = store.frame("seq_results_steps", con, sequence_id=int(sequence_id), advance_days=ADVANCE_WINDOW_DAYS,
                           **actor.scope_params())
    return rows.with_columns(
        removed=pl.col("position") == 0,
        task_done_rate=_rate("tasks_done", "tasks"), task_on_time_rate=_rate("tasks_on_time", "tasks"),
        open_rate=_rate("opened", "emails_sent"), click_rate=_rate("clicked", "emails_sent"),
        reply_rate=_rate("replied", "emails_sent"), advanced_rate=_rate("advanced_14d", "leads"),
    )


def enrollment_summary(store: Store, actor: Actor, sequence_id: int) -> dict[str, pl.DataFrame]:
    """A sequence's enrollments in the actor's scope: by_status (status, enrollments, every status listed) and
    reasons (status, kind, enrollments, example): why the paused and stopped ones are where they are."""
    with store.read() as con:
        _sequence(store, con, actor, sequence_id)
        rows = store.frame("seq_results_statuses", con, sequence_id=int(sequence_id), **actor.scope_params())
    counts = {s: 0 for s in STATUSES}
    for r in rows.iter_rows(named=True):
        counts[r["status"]] = counts.get(r["status"], 0) + r["enrollments"]
    by_status = pl.DataFrame({"status": list(counts), "enrollments": list(counts.values())},
                             schema={"status": pl.String, "enrollments": pl.Int64})
    stuck = rows.filter(pl.col("status").is_in(["paused", "stopped"])).with_columns(
        kind=pl.col("status_reason").map_elements(reason_kind, return_dtype=pl.String))
    reasons = (stuck.group_by("status", "kind")
               .agg(pl.col("enrollments").sum().cast(pl.Int64), pl.col("status_reason").first().alias("example"))
               .sort(["status", "enrollments"], descending=[False, True]))
    return {"by_status": by_status, "reasons": reasons}
