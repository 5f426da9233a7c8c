"""Logging activities: a call, email, meeting or demo with a lead, validated, audited, in one unit of work
with what follows from it (the lead's first response, score and stage, a template's follow-up task).

Besides the one-lead form there are activity templates (common motions that prefill the form; managers keep
their team's library), bulk logging (one activity for many leads: a webinar) and logging from a CSV. The
manual data entry they save is measured: each activity logged through a form records `fields_typed`, the
fields the person typed or changed rather than took from the template (see `fields_typed`), and `data_entry`
compares activities logged with a template and without.
"""

from __future__ import annotations

import io
import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from flashdash import audit, crypto, leads, tasks
from flashdash.access import AccessDenied, Actor
from flashdash.entities import ACTIVITY_TYPES
from flashdash.imports import detect_formats, parse_datetime_expr
from flashdash.store import Store

MAX_DURATION_MIN = 600
MAX_OUTCOME = 200
MAX_NEXT_STEP = 200
MAX_NOTES = 5000
MAX_TEMPLATE_NAME = 100
MAX_FOLLOW_UP_DAYS = 90
MAX_BULK_LEADS = 10_000
MAX_CSV_ROWS = 50_000
FUTURE_SLACK = timedelta(minutes=5)  # a clock a little ahead of the server's is not an error
WRITERS = ("rep", "manager", "admin")
TEMPLATE_EDITORS = ("manager", "admin")
SOURCES = ("form", "queue", "bulk", "csv", "sequence", "email")
# The fields a person fills in on the activity form; `fields_typed` counts the ones they typed.
FORM_FIELDS = ("type", "duration_min", "outcome", "notes", "next_step")


class ActivityError(ValueError):
    """An activity that cannot be logged as given; the message says what to change."""


@dataclass(frozen=True)
class NewActivity:
    lead_id: int
    type: str
    occurred_at: datetime
    duration_min: int | None = None
    outcome: str | None = None
    notes: str | None = None
    next_step: str | None = None
    template_id: int | None = None  # the template that prefilled the form (a negative id: a starter template)
    fields_typed: int | None = None  # from `fields_typed`; None when not measured
    source: str = "form"  # form | queue | bulk | csv | sequence | email
    sensitive: bool = False  # the notes are stored sealed (personal or confidential details)


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


def validate(activity: NewActivity, now: datetime) -> NewActivity:
    """The activity with its text trimmed, or ActivityError naming every problem."""
    problems = []
    kind = (activity.type or "").strip().lower()
    if kind not in ACTIVITY_TYPES:
        problems.append(f"the type must be one of {', '.join(ACTIVITY_TYPES)} (got {activity.type!r})")
    if activity.occurred_at > now + FUTURE_SLACK:
        problems.append(f"it is dated {activity.occurred_at:%Y-%m-%d %H:%M}, in the future; log it once it happened")
    if activity.duration_min is not None and not 0 <= activity.duration_min <= MAX_DURATION_MIN:
        problems.append(f"the duration must be between 0 and {MAX_DURATION_MIN} minutes (got {activity.duration_min})")
    outcome, notes, next_step = _text(activity.outcome), _text(activity.notes), _text(activity.next_step)
    if outcome and len(outcome) > MAX_OUTCOME:
        problems.append(f"the outcome is {len(outcome)} characters; keep it under {MAX_OUTCOME} and put the rest in notes")
    if notes and len(notes) > MAX_NOTES:
        problems.append(f"the notes are {len(notes):,} characters; the most is {MAX_NOTES:,}")
    if next_step and len(next_step) > MAX_NEXT_STEP:
        problems.append(f"the next step is {len(next_step)} characters; keep it under {MAX_NEXT_STEP} and put the "
                        "rest in notes")
    source = (activity.source or "").strip().lower()
    if source not in SOURCES:
        problems.append(f"the source must be one of {', '.join(SOURCES)} (got {activity.source!r})")
    if activity.fields_typed is not None and not 0 <= activity.fields_typed <= len(FORM_FIELDS):
        problems.append(f"fields typed counts the form's {len(FORM_FIELDS)} fields, so it is between 0 and "
                        f"{len(FORM_FIELDS)} (got {activity.fields_typed})")
    if problems:
        raise ActivityError("The activity was not logged: " + "; ".join(problems) + ".")
    return replace(activity, type=kind, outcome=outcome, notes=notes, next_step=next_step, source=source)


# ---------------------------------------------------------------- the form: prefill and data entry (pure)


def _form_value(field: str, value: Any) -> Any:
    """A form field as compared: text trimmed (empty is no value), the type lower-cased, a duration an int."""
    if isinstance(value, str):
        value = value.strip()
        if field == "type":
            value = value.lower()
        if field == "duration_min" and value.isdigit():
            value = int(value)
        return value or None
    if field == "duration_min" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def fields_typed(template: dict[str, Any] | None, submitted: dict[str, Any]) -> int:
    """The form fields (type, duration_min, outcome, notes, next_step) the person typed: without a template every
    field they filled in; with one, every field whose submitted value differs from what the template prefilled
    (a changed, added or cleared value). Text is compared trimmed, the type case-insensitively. The UI passes the
    result as NewActivity.fields_typed."""
    typed = 0
    for field in FORM_FIELDS:
        value = _form_value(field, submitted.get(field))
        if template is None:
            typed += value is not None
        else:
            typed += value != _form_value(field, template.get(field))
    return typed


def prefill(template_row: dict[str, Any]) -> dict[str, Any]:
    """What a template puts in the activity form: the form's fields, the template's id and its follow-up."""
    return {"template_id": template_row.get("id"), "follow_up_days": template_row.get("follow_up_days"),
            **{f: template_row.get(f) for f in FORM_FIELDS}}


_STEP_KINDS = (("call", ("call", "phone", "ring")), ("email", ("send", "email", "e-mail", "mail", "write")),
               ("meeting", ("meeting", "meet", "visit")), ("demo", ("demo", "demonstration")))


def next_step_kind(next_step: str | None) -> str:
    """What doing a next step means, for its task's kind: the first word that names one ("Send the proposal" is
    an email, "Call to discuss" a call, "Book a demo" a demo); otherwise a plain task."""
    for word in re.findall(r"[a-z-]+", (next_step or "").lower()):
        for kind, words in _STEP_KINDS:
            if word in words:
                return kind
    return "task"


# ---------------------------------------------------------------- logging


def log_activity(store: Store, actor: Actor, activity: NewActivity, now: datetime) -> int:
    """Log `activity` as `actor`; returns its id. The lead must be in the actor's scope; the activity is
    credited to the actor's rep (or, for a manager or admin without one, the lead's owner); the lead's first
    response moves earlier if this is it; a template with a follow-up creates its task. All in one transaction
    with its audit records."""
    _require_writer(actor)
    activity = validate(activity, now)
    with store.write() as con:
        rows = store.frame("activity_lead", con, lead_id=activity.lead_id, **actor.scope_params())
        if rows.is_empty():
            raise ActivityError(f"There is no lead {activity.lead_id} in your book; pick one of your leads.")
        lead = rows.row(0, named=True)
        if activity.occurred_at < lead["submitted_at"] - FUTURE_SLACK:
            raise ActivityError(f"The activity was not logged: it is dated {activity.occurred_at:%Y-%m-%d %H:%M}, "
                                f"before the lead was submitted ({lead['submitted_at']:%Y-%m-%d %H:%M}).")
        template = _template_for(store, con, actor, activity.template_id, now)
        new_id = _insert(store, con, actor, replace(activity, template_id=template and template["id"]), lead,
                         template, now)
        leads.arrived(store, con, [activity.lead_id], now)  # its score and stage follow at once
    return new_id


def _require_writer(actor: Actor) -> None:
    if actor.role not in WRITERS:
        raise AccessDenied(f"A {actor.role} reads activities but does not log them.")


def _insert(store: Store, con: Any, actor: Actor, activity: NewActivity, lead: dict[str, Any],
            template: dict[str, Any] | None, now: datetime) -> int:
    """One activity inside the caller's write: the row, the lead's first response, the audit record and the
    template's follow-up task. The caller has validated it and checked the lead's scope."""
    rep_id = actor.rep_id if actor.rep_id is not None else lead["owner_id"]
    values = asdict(activity)
    if activity.sensitive:
        values["notes"] = crypto.seal(store.keyring, activity.notes, "text")
    new_id = store.scalar("activity_insert", con, rep_id=rep_id, **values)
    store.run("activity_first_response", con, lead_id=activity.lead_id, occurred_at=activity.occurred_at)
    audit.record(con, actor.username, "create", "activity", new_id, now,
                 after={**asdict(activity), "rep_id": rep_id}, reason="logged")
    if template is not None and template["follow_up_days"] is not None:
        _follow_up(store, con, actor, activity, rep_id, template, now)
    return new_id


def _follow_up(store: Store, con: Any, actor: Actor, activity: NewActivity, rep_id: int | None,
               template: dict[str, Any], now: datetime) -> int:
    """The template's follow-up task: titled with the next step as logged, of the kind the step names, due
    follow_up_days after the activity (and not before now: an activity logged late gets a task due today)."""
    title = activity.next_step or template["next_step"] or f"Follow up on the {activity.type}"
    due = max(activity.occurred_at + timedelta(days=template["follow_up_days"]), now)
    return tasks.create_task(store, con, activity.lead_id, rep_id, title[:tasks.MAX_TITLE], due, actor.username,
                             now, kind=next_step_kind(title),
                             notes=f"Follow-up of the {activity.type} logged with the template {template['name']!r}")


# ---------------------------------------------------------------- activity templates

# The starter library: what a store without any stored template offers. It is written to the store (audited)
# the first time someone logs with or edits one of them; until then its rows carry negative ids.
STARTER_TEMPLATES: tuple[dict[str, Any], ...] = (
    {"name": "Discovery call", "type": "call", "duration_min": 30, "outcome": "connected",
     "notes": "Current provider and pain points:\nMonthly volume and average ticket:\nDecision maker and timeline:\n"
              "Budget confirmed (yes/no):",
     "next_step": "Send pricing", "follow_up_days": 2},
    {"name": "Product demo", "type": "demo", "duration_min": 45, "outcome": "demo given",
     "notes": "Attendees:\nFeatures shown:\nQuestions and objections:", "next_step": "Send the proposal",
     "follow_up_days": 2},
    {"name": "Pricing follow-up", "type": "email", "duration_min": None, "outcome": "sent",
     "notes": "Sent the pricing sheet for their volume.", "next_step": "Call to discuss", "follow_up_days": 3},
    {"name": "Intro meeting", "type": "meeting", "duration_min": 30, "outcome": "held",
     "notes": "Who attended:\nWhat they need:", "next_step": None, "follow_up_days": None},
)
_TEMPLATE_SCHEMA = {"id": pl.Int64, "team_id": pl.Int64, "team": pl.String, "name": pl.String, "type": pl.String,
                    "duration_min": pl.Int64, "outcome": pl.String, "notes": pl.String, "next_step": pl.String,
                    "follow_up_days": pl.Int64, "active": pl.Boolean, "updated_by": pl.String,
                    "updated_at": pl.Datetime("us"), "built_in": pl.Boolean}


def starter_library() -> pl.DataFrame:
    """The built-in templates, with negative ids (-1, -2, ...) until they are stored."""
    rows = [{**t, "id": -i, "team_id": None, "team": None, "active": True, "updated_by": None, "updated_at": None,
             "built_in": True} for i, t in enumerate(STARTER_TEMPLATES, 1)]
    return pl.DataFrame(rows, schema=_TEMPLATE_SCHEMA)


def _actor_teams(store: Store, con: Any, actor: Actor) -> list[int]:
    if actor.rep_id is None:
        return []
    return store.frame("activity_actor_teams", con, rep_id=actor.rep_id)["id"].to_list()


def templates(store: Store, actor: Actor, *, include_inactive: bool = False) -> pl.DataFrame:
    """The templates the actor's form offers: their team's and the store-wide ones (an admin, or anyone who is
    not on a team, sees every team's), active only unless include_inactive (the library editor). A store
    without any stored template offers the starter library (`built_in` true, negative ids)."""
    with store.read() as con:
        if not store.scalar("activity_template_count", con):
            return starter_library()
        team_ids = _actor_teams(store, con, actor)
        rows = store.frame("activity_templates_visible", con, all_teams=actor.role == "admin" or not team_ids,
                           team_ids=team_ids, include_inactive=include_inactive)
    return rows.with_columns(pl.lit(False).alias("built_in")).cast(_TEMPLATE_SCHEMA)  # type: ignore[arg-type]


def _materialize_starter(store: Store, con: Any, actor: Actor, now: datetime) -> dict[int, int]:
    """Store the starter library (a store without templates) and return its negative ids mapped to the stored
    ones; a store with templates maps each starter id to the store-wide template of the same name, if any."""
    if not store.scalar("activity_template_count", con):
        for row in starter_library().iter_rows(named=True):
            values = {k: row[k] for k in ("team_id", "type", "duration_min", "outcome", "notes", "next_step",
                                          "follow_up_days", "active")}
            new_id = store.scalar("activity_template_insert", con, template_name=row["name"], updated_by="system",
                                  updated_at=now, **values)
            audit.record(con, actor.username, "create", "activity_template", new_id, now,
                         after={"name": row["name"], **values}, reason="starter library, stored on first use")
    mapping = {}
    for i, starter in enumerate(STARTER_TEMPLATES, 1):
        found = store.frame("activity_template_by_name", con, template_name=starter["name"], team_id=None,
                            template_id=None)
        if not found.is_empty():
            mapping[-i] = found["id"][0]
    return mapping


def _template_for(store: Store, con: Any, actor: Actor, template_id: int | None,
                  now: datetime) -> dict[str, Any] | None:
    """The stored template an activity names (a starter template is stored first), or ActivityError."""
    if template_id is None:
        return None
    if template_id < 0:
        stored = _materialize_starter(store, con, actor, now).get(template_id)
        if stored is None:
            raise ActivityError(f"The activity was not logged: there is no starter template {template_id}; "
                                "pick a template from the list again.")
        template_id = stored
    rows = store.frame("activity_template_by_id", con, template_id=template_id)
    if rows.is_empty():
        raise ActivityError(f"The activity was not logged: there is no template {template_id}; pick a template "
                            "from the list again.")
    return rows.row(0, named=True)


def save_template(store: Store, actor: Actor, template_id: int | None, name: str, type: str,
                  duration_min: int | None, outcome: str | None, notes: str | None, next_step: str | None,
                  follow_up_days: int | None, team_id: int | None, active: bool, now: datetime) -> int:
    """Create (template_id None) or change a template; returns its id. Managers keep their own team's templates,
    admins any team's and the store-wide ones (team_id None). Validated (every problem named), audited with the
    before and after. The first template saved on a store stores the starter library with it."""
    if actor.role not in TEMPLATE_EDITORS:
        raise AccessDenied(f"A {actor.role} uses activity templates; managers and admins edit them.")
    values = _validate_template(name, type, duration_min, outcome, notes, next_step, follow_up_days)
    values.update(team_id=team_id, active=bool(active))
    with store.write() as con:
        # The starters are offered only while nothing is stored: store them with the first template saved, so
        # that a team's own template never makes them disappear for everyone.
        stored = _materialize_starter(store, con, actor, now)
        if template_id is not None and template_id < 0:
            template_id = stored.get(template_id)
            if template_id is None:
                raise ActivityError("The template was not saved: that starter template is no longer stored; "
                                    "pick it from the list again.")
        before = _template_before(store, con, template_id)
        _check_template_rights(store, con, actor, team_id, before)
        if not store.frame("activity_template_by_name", con, template_name=values["template_name"], team_id=team_id,
                           template_id=template_id).is_empty():
            raise ActivityError(f"The template was not saved: the {'team' if team_id else 'store'} already has a "
                                f"template named {values['template_name']!r}; give this one another name.")
        stamp = {"updated_by": actor.username, "updated_at": now}
        if template_id is None:
            template_id = store.scalar("activity_template_insert", con, **values, **stamp)
        else:
            store.run("activity_template_update", con, template_id=template_id, **values, **stamp)
        audit.record(con, actor.username, "create" if before is None else "update", "activity_template",
                     template_id, now, before=before, after=values)
    return template_id


def _validate_template(name: str, type: str, duration_min: int | None, outcome: str | None, notes: str | None,
                       next_step: str | None, follow_up_days: int | None) -> dict[str, Any]:
    name_, outcome_, notes_, next_ = _text(name), _text(outcome), _text(notes), _text(next_step)
    kind = (type or "").strip().lower()
    problems = []
    if not name_:
        problems.append("give the template a name, e.g. 'Discovery call'")
    elif len(name_) > MAX_TEMPLATE_NAME:
        problems.append(f"the name is {len(name_)} characters; the most is {MAX_TEMPLATE_NAME}")
    if kind not in ACTIVITY_TYPES:
        problems.append(f"the type must be one of {', '.join(ACTIVITY_TYPES)} (got {type!r})")
    if duration_min is not None and not 0 <= duration_min <= MAX_DURATION_MIN:
        problems.append(f"the duration must be between 0 and {MAX_DURATION_MIN} minutes (got {duration_min})")
    for label, value, most in (("outcome", outcome_, MAX_OUTCOME), ("notes", notes_, MAX_NOTES),
                               ("next step", next_, MAX_NEXT_STEP)):
        if value and len(value) > most:
            problems.append(f"the {label} is {len(value):,} characters; the most is {most:,}")
    if follow_up_days is not None and not 0 <= follow_up_days <= MAX_FOLLOW_UP_DAYS:
        problems.append(f"the follow-up must be between 0 and {MAX_FOLLOW_UP_DAYS} days (got {follow_up_days})")
    if follow_up_days is not None and not next_:
        problems.append("a follow-up needs a next step: it is the follow-up task's title")
    if problems:
        raise ActivityError("The template was not saved: " + "; ".join(problems) + ".")
    return {"template_name": name_, "type": kind, "duration_min": duration_min, "outcome": outcome_, "notes": notes_,
            "next_step": next_, "follow_up_days": follow_up_days}


def _template_before(store: Store, con: Any, template_id: int | None) -> dict[str, Any] | None:
    if template_id is None:
        return None
    rows = store.frame("activity_template_by_id", con, template_id=template_id)
    if rows.is_empty():
        raise ActivityError(f"The template was not saved: there is no template {template_id}.")
    return rows.row(0, named=True)


def _check_template_rights(store: Store, con: Any, actor: Actor, team_id: int | None,
                           before: dict[str, Any] | None) -> None:
    if team_id is not None and not store.scalar("activity_team_exists", con, team_id=team_id):
        raise ActivityError(f"The template was not saved: there is no team {team_id}.")
    if actor.role == "admin":
        return
    mine = _actor_teams(store, con, actor)
    for team in ([team_id] + ([before["team_id"]] if before else [])):
        if team is None:
            raise AccessDenied("The store-wide templates are kept by admins; save this one for your team.")
        if team not in mine:
            raise AccessDenied(f"Team {team}'s templates are kept by its manager; you keep your own team's.")


# ---------------------------------------------------------------- bulk: one activity for many leads


def _bulk_leads(store: Store, con: Any, actor: Actor, lead_ids: list[int],
                activity: NewActivity) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The leads an activity can be logged on (in scope, submitted before it), and the refused with why."""
    ids = sorted(set(lead_ids))
    found = store.frame("activity_leads_in_scope", con, lead_ids=ids, **actor.scope_params())
    early = found.filter(pl.col("submitted_at") > activity.occurred_at + FUTURE_SLACK)
    ok = found.join(early.select("id"), on="id", how="anti")
    visible = set(found["id"].to_list())
    refused = [{"lead_id": i, "reason": "not in your book (or no such lead)"} for i in ids if i not in visible]
    refused += [{"lead_id": r["id"], "reason": f"submitted {r['submitted_at']:%Y-%m-%d %H:%M}, after the activity"}
                for r in early.iter_rows(named=True)]
    return ok, pl.DataFrame(refused, schema={"lead_id": pl.Int64, "reason": pl.String}).sort("lead_id")


def _bulk_input(actor: Actor, lead_ids: list[int], activity: NewActivity, now: datetime) -> NewActivity:
    _require_writer(actor)
    if not lead_ids:
        raise ActivityError("The activity was not logged: select at least one lead.")
    if len(set(lead_ids)) > MAX_BULK_LEADS:
        raise ActivityError(f"The activity was not logged: {len(set(lead_ids)):,} leads selected; log at most "
                            f"{MAX_BULK_LEADS:,} at once.")
    return validate(replace(activity, source="bulk"), now)


def preview_many(store: Store, actor: Actor, lead_ids: list[int], activity: NewActivity,
                 now: datetime) -> dict[str, Any]:
    """What log_many would do, for the confirmation: {"logged": how many, "leads": frame of the leads it would log
    on (id, merchant_name, owner, status), "refused": frame (lead_id, reason)}. Raises what log_many would for
    an invalid activity."""
    activity = _bulk_input(actor, lead_ids, activity, now)
    with store.read() as con:
        ok, refused = _bulk_leads(store, con, actor, lead_ids, activity)
    return {"logged": ok.height, "leads": ok.select("id", "merchant_name", "owner", "status"), "refused": refused}


def log_many(store: Store, actor: Actor, lead_ids: list[int], activity: NewActivity, now: datetime) -> dict[str, Any]:
    """One activity per lead (a webinar everyone attended), in one transaction: `activity` with each lead's id
    (its own lead_id is ignored), source 'bulk'. Leads outside the actor's scope, or submitted after the
    activity, are refused (not logged) with the reason; the others are logged once each (a lead listed twice
    too), audited, with the template's follow-up task each, and then rescored and requalified once each.
    The person typed the fields once for all: the first activity carries fields_typed, the others 0, so that
    fields typed per activity stays true. Returns {"logged", "lead_ids", "activity_ids", "refused" (frame)}."""
    activity = _bulk_input(actor, lead_ids, activity, now)
    ids: list[int] = []
    with store.write() as con:
        ok, refused = _bulk_leads(store, con, actor, lead_ids, activity)
        template = _template_for(store, con, actor, activity.template_id, now) if not ok.is_empty() else None
        for i, lead in enumerate(ok.iter_rows(named=True)):
            one = replace(activity, lead_id=lead["id"], template_id=template and template["id"],
                          fields_typed=activity.fields_typed if i == 0 or activity.fields_typed is None else 0)
            ids.append(_insert(store, con, actor, one, lead, template, now))
        if ids:
            leads.arrived(store, con, ok["id"].to_list(), now)
    return {"logged": len(ids), "lead_ids": ok["id"].to_list(), "activity_ids": ids, "refused": refused}


# ---------------------------------------------------------------- from a CSV

CSV_COLUMNS = ("lead", "type", "when", "duration", "outcome", "notes", "next_step")
CSV_REQUIRED = ("lead", "type", "when")
# Header spellings, compared lower-case with letters and digits only ("Next Step", "next_step", "Duration (min)").
_HEADER_ALIASES = {
    "lead": ("lead", "leadid", "leadexternalid", "externalid", "leadref"),
    "type": ("type", "activitytype", "activity", "kind"),
    "when": ("when", "date", "datetime", "occurredat", "occurred", "time", "at", "timestamp", "dateandtime"),
    "duration": ("duration", "durationmin", "durationmins", "durationminutes", "minutes", "mins"),
    "outcome": ("outcome", "result"),
    "notes": ("notes", "note", "comment", "comments"),
    "next_step": ("nextstep", "nextsteps"),
}
_TYPE_SYNONYMS = {"phone": "call", "phonecall": "call", "e-mail": "email", "mail": "email", "meet": "meeting",
                  "visit": "meeting", "demonstration": "demo", "webinar": "meeting"}
_QUARANTINE_SCHEMA = {"row": pl.Int64, "reason": pl.String, **{c: pl.String for c in CSV_COLUMNS}}


def _header_key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())  # also drops a byte-order mark and "(min)"'s brackets


def csv_columns(headers: list[str]) -> tuple[dict[str, str], list[str]]:
    """The file's column for each of CSV_COLUMNS it has, and the columns it ignores; ActivityError naming a
    missing required column or a column given twice."""
    found: dict[str, str] = {}
    ignored, twice = [], []
    for header in headers:
        canon = next((c for c, aliases in _HEADER_ALIASES.items() if _header_key(header) in aliases), None)
        if canon is None:
            ignored.append(header)
        elif canon in found:
            twice.append(f"{found[canon]!r} and {header!r} are both the {canon}")
        else:
            found[canon] = header
    missing = [c for c in CSV_REQUIRED if c not in found]
    problems = ([f"it has no {' or '.join(repr(c) for c in missing)} column" if len(missing) < 2 else
                 "it has no " + ", ".join(repr(c) for c in missing) + " columns"] if missing else []) + twice
    if problems:
        raise ActivityError(
            "The CSV was not logged: " + "; ".join(problems) + f". Its columns are {', '.join(map(repr, headers))}; "
            f"name them {', '.join(CSV_COLUMNS)} (lead, type and when are required; headers may use any case "
            "and spaces).")
    return found, ignored


def read_csv(path_or_bytes: str | Path | bytes) -> tuple[pl.DataFrame, list[str]]:
    """The CSV's rows as text in CSV_COLUMNS (trimmed, empty as null, `row` numbering data rows from 1), and
    the columns it ignores. Commas, semicolons or tabs; UTF-8 (undecodable bytes replaced)."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    first = data.split(b"\n", 1)[0]
    separator = max((b",", b";", b"\t"), key=first.count).decode()
    try:
        raw = pl.read_csv(io.BytesIO(data), infer_schema=False, separator=separator, encoding="utf8-lossy")
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise ActivityError(f"The CSV was not logged: it cannot be read as a CSV ({exc}). Save it as CSV with a "
                            "header row.") from None
    if raw.height > MAX_CSV_ROWS:
        raise ActivityError(f"The CSV was not logged: it has {raw.height:,} rows; log at most {MAX_CSV_ROWS:,} "
                            "at once (split the file).")
    found, ignored = csv_columns(raw.columns)
    rows = raw.select(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("row"),
        *[(pl.col(found[c]).str.strip_chars().replace("", None) if c in found else pl.lit(None, pl.String)).alias(c)
          for c in CSV_COLUMNS])
    return rows, ignored


def _parse_rows(rows: pl.DataFrame) -> tuple[pl.DataFrame, str | None]:
    """The rows with their parsed time (`at`) and duration (`minutes`), and a note when day and month order
    had to be guessed."""
    formats, note = detect_formats(rows["when"], None)
    minutes = pl.col("duration").str.replace(r"(?i)\s*(min|mins|minutes|m)\.?$", "")
    return rows.with_columns(
        parse_datetime_expr("when", formats).alias("at"),
        minutes.cast(pl.Float64, strict=False).alias("minutes"),
    ), note


def _row_problems(row: dict[str, Any], now: datetime) -> tuple[list[str], str | None]:
    """What is wrong with one CSV row on its own (not its lead), and its activity type."""
    problems = []
    kind = (row["type"] or "").lower().replace(" ", "")
    kind = _TYPE_SYNONYMS.get(kind, kind)
    if row["lead"] is None:
        problems.append("no lead")
    if row["type"] is None:
        problems.append(f"no type (one of {', '.join(ACTIVITY_TYPES)})")
    elif kind not in ACTIVITY_TYPES:
        problems.append(f"the type {row['type']!r} is not one of {', '.join(ACTIVITY_TYPES)}")
    if row["when"] is None:
        problems.append("no date")
    elif row["at"] is None:
        problems.append(f"the date {row['when']!r} cannot be read (write it like 2026-06-30 14:00)")
    elif row["at"] > now + FUTURE_SLACK:
        problems.append(f"the date {row['at']:%Y-%m-%d %H:%M} is in the future")
    if row["duration"] is not None:
        m = row["minutes"]
        if m is None or not float(m).is_integer():
            problems.append(f"the duration {row['duration']!r} is not a whole number of minutes")
        elif not 0 <= m <= MAX_DURATION_MIN:
            problems.append(f"the duration must be between 0 and {MAX_DURATION_MIN} minutes (got {m:g})")
    for field, most in (("outcome", MAX_OUTCOME), ("notes", MAX_NOTES), ("next_step", MAX_NEXT_STEP)):
        if row[field] and len(row[field]) > most:
            problems.append(f"the {field.replace('_', ' ')} is {len(row[field]):,} characters (the most is {most:,})")
    return problems, kind


def _is_id(ref: str) -> bool:
    return ref.isascii() and ref.isdigit() and len(ref) < 10  # ids are 32-bit


def _resolve_lead(ref: str, by_id: dict[int, dict], by_ext: dict[str, dict]) -> tuple[dict | None, str | None]:
    """The lead a CSV's lead cell names (its external id, or its id), or why none."""
    ext = by_ext.get(ref)
    num = by_id.get(int(ref)) if _is_id(ref) else None
    if ext is not None and num is not None and ext["id"] != num["id"]:
        return None, (f"the lead {ref!r} is ambiguous: lead {num['id']}'s id and lead {ext['id']}'s external id; "
                      "give the other one")
    lead = ext or num
    if lead is None:
        return None, f"there is no lead with the id or external id {ref!r}"
    if not lead["in_scope"]:
        return None, f"lead {lead['id']} is not in your book"
    return lead, None


def log_csv(store: Store, actor: Actor, path_or_bytes: str | Path | bytes, now: datetime) -> dict[str, Any]:
    """Log the activities of a CSV (columns lead (id or external id), type, when, and optionally duration,
    outcome, notes, next_step; see `csv_columns` for the header spellings accepted). Every row is either
    logged or quarantined with its reason (bad type, unknown lead, a lead not in the actor's book, a date that
    cannot be read, in the future or before the lead's submission, already logged, ...): logged + quarantined
    = rows read. The good rows are logged in one transaction (all of them or none), source 'csv', each
    audited, and each lead is rescored and requalified once. Dates may be ISO, month-first or day-first (the
    column's order is judged on the whole column; `date_note` says when it was a guess).
    Returns {"rows_read", "logged", "activity_ids", "quarantined" (frame: row, reason, and the cells as read),
    "ignored_columns", "date_note"}."""
    _require_writer(actor)
    rows, ignored = read_csv(path_or_bytes)
    parsed, note = _parse_rows(rows)
    bad: list[dict[str, Any]] = []
    good: list[tuple[dict[str, Any], str]] = []
    for row in parsed.iter_rows(named=True):
        problems, kind = _row_problems(row, now)
        if problems:
            bad.append({**row, "reason": "; ".join(problems)})
        else:
            good.append((row, kind))
    ids: list[int] = []
    with store.write() as con:
        refs = sorted({r["lead"] for r, _ in good})
        found = store.frame("activity_csv_leads", con, ids=[int(r) for r in refs if _is_id(r)],
                            refs=refs, **actor.scope_params())
        by_id = {r["id"]: r for r in found.iter_rows(named=True)}
        by_ext = {r["external_id"]: r for r in found.iter_rows(named=True) if r["external_id"] is not None}
        existing = store.frame("activity_existing_keys", con, lead_ids=found["id"].to_list())
        seen = {(r["lead_id"], r["type"], r["occurred_at"]) for r in existing.iter_rows(named=True)}
        logged_leads: list[int] = []
        for row, kind in good:
            lead, why = _resolve_lead(row["lead"], by_id, by_ext)
            if lead is not None and row["at"] < lead["submitted_at"] - FUTURE_SLACK:
                why = f"dated {row['at']:%Y-%m-%d %H:%M}, before lead {lead['id']} was submitted " \
                      f"({lead['submitted_at']:%Y-%m-%d %H:%M})"
            elif lead is not None and (lead["id"], kind, row["at"]) in seen:
                why = f"already logged: a {kind} on lead {lead['id']} at {row['at']:%Y-%m-%d %H:%M}"
            if why:
                bad.append({**row, "reason": why})
                continue
            seen.add((lead["id"], kind, row["at"]))
            activity = NewActivity(lead["id"], kind, row["at"], None if row["minutes"] is None else int(row["minutes"]),
                                   row["outcome"], row["notes"], row["next_step"], source="csv")
            ids.append(_insert(store, con, actor, validate(activity, now), lead, None, now))
            logged_leads.append(lead["id"])
        if ids:
            audit.record(con, actor.username, "import", "activities", None, now, reason="activity CSV",
                         after={"rows_read": rows.height, "logged": len(ids), "quarantined": len(bad)})
            leads.arrived(store, con, sorted(set(logged_leads)), now)
    quarantined = pl.DataFrame([{k: r[k] for k in _QUARANTINE_SCHEMA} for r in bad], schema=_QUARANTINE_SCHEMA)
    return {"rows_read": rows.height, "logged": len(ids), "activity_ids": ids, "quarantined": quarantined.sort("row"),
            "ignored_columns": ignored, "date_note": note}


# ---------------------------------------------------------------- manual data entry, measured


def data_entry(store: Store, actor: Actor, start: datetime, end: datetime) -> dict[str, Any]:
    """Fields typed per logged activity in [start, end) (activities credited to reps in the actor's scope):
    - "frame": by template use ("with a template", "without a template", "overall"): activities, fields typed
      (total), per activity (mean, median);
    - "change": the comparison behind "before and after templates": activities logged without a template vs
      with one in the period (means, the difference, and the relative change; None without both kinds);
    - "weekly": per week (Monday) and template use, activities and mean fields typed, for the trend;
    - "not_measured": activities without fields_typed (demo data, imports, CSV, sequences) left out, with
      "not_measured_by_source".
    A bulk-logged activity counts the fields once for all its leads (see log_many)."""
    if end <= start:
        raise ValueError("The period is empty: its end must come after its start.")
    rows = store.frame("activity_data_entry", start=start, end=end, **actor.scope_params())
    measured = rows.filter(pl.col("fields_typed").is_not_null()).with_columns(
        pl.when(pl.col("template_id").is_not_null()).then(pl.lit("with a template"))
        .otherwise(pl.lit("without a template")).alias("template_use"))
    unmeasured = rows.filter(pl.col("fields_typed").is_null())
    groups = pl.DataFrame({"template_use": ["without a template", "with a template", "overall"]})
    frame = groups.join(pl.concat([
        _entry_summary(measured, ["template_use"]),
        _entry_summary(measured.with_columns(pl.lit("overall").alias("template_use")), ["template_use"]),
    ]), on="template_use", how="left", maintain_order="left").with_columns(
        pl.col("activities", "fields_typed").fill_null(0))
    weekly = _entry_summary(measured.with_columns(pl.col("occurred_at").dt.truncate("1w").dt.date().alias("week")),
                            ["week", "template_use"]).sort("week", "template_use")
    by_source = unmeasured.group_by("source").agg(pl.len().cast(pl.Int64).alias("activities")).sort("source")
    return {"frame": frame, "change": _entry_change(frame), "weekly": weekly, "not_measured": unmeasured.height,
            "not_measured_by_source": by_source, "start": start, "end": end}


def _entry_summary(rows: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    return rows.group_by(by).agg(
        pl.len().cast(pl.Int64).alias("activities"),
        pl.col("fields_typed").sum().cast(pl.Int64).alias("fields_typed"),
        pl.col("fields_typed").mean().alias("mean_fields_typed"),
        pl.col("fields_typed").median().alias("median_fields_typed"),
    )


def _entry_change(frame: pl.DataFrame) -> dict[str, Any] | None:
    means = dict(zip(frame["template_use"], frame["mean_fields_typed"], strict=True))
    without, with_ = means["without a template"], means["with a template"]
    if without is None or with_ is None:
        return None
    return {"without_template": without, "with_template": with_, "difference": with_ - without,
            "relative_change": (with_ - without) / without if without else None}
