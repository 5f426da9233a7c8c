"""The Activities page's Library tab: the activity templates that prefill the log form, and the task rules that
make follow-up tasks when a lead enters a stage or an activity is logged. Every role of the page reads both;
managers edit their team's entries, admins every team's and the store-wide ones."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from flashdash import activities, clock, org, tasks
from flashdash.access import AccessDenied, Actor
from flashdash.entities import ACTIVITY_TYPES
from flashdash.qualification import STAGE_LABELS
from flashdash.store import StoreError
from flashdash.ui import components as ui
from flashdash.ui.store import cached, current_store, show_problem

EDITORS = ("manager", "admin")
KEY = "act.library"
FLASH = f"{KEY}.flash"  # a success message that survives the rerun after a save
NEW = 0  # the pick that means "a new one" (stored ids are positive, built-in ones negative)
TRIGGER_LABELS = {"stage_entered": "a lead enters a stage", "activity_logged": "an activity is logged"}
SOURCE_LABELS = {"team": "the team's own", "default": "default (all teams)", "built-in": "built in"}


def render(actor: Actor) -> None:
    message = st.session_state.pop(FLASH, None)
    if message:
        st.success(message, icon=":material/done:")
    teams = _teams(actor)
    templates_section(actor, teams)
    st.divider()
    rules_section(actor, teams)


def _teams(actor: Actor) -> dict[int, str]:
    """The teams in the actor's scope, by id (a rep's own, a manager's, every team for the others)."""
    frame = cached(org.filter_options, actor)["teams"]
    return dict(zip(frame["id"].to_list(), frame["name"].to_list(), strict=True))


def _saved(message: str) -> None:
    st.session_state[FLASH] = message
    st.rerun()


# ---------------------------------------------------------------- activity templates


def template_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """The library as a table: what each template prefills, for whom, and whether it is offered."""
    return frame.select(
        "name", "type", pl.col("duration_min").alias("duration (min)"), "outcome",
        pl.col("next_step").alias("next step"), pl.col("follow_up_days").alias("follow-up (days)"),
        pl.col("team").fill_null("everyone").alias("for"), "active",
        pl.when(pl.col("built_in")).then(pl.lit("built in")).otherwise(pl.col("updated_by")).alias("updated by"),
        pl.col("updated_at").alias("updated at"), "notes")


def templates_section(actor: Actor, teams: dict[int, str]) -> None:
    st.subheader("Activity templates")
    st.caption("A template prefills the log form for a common motion; with a follow-up, logging it also makes the "
               "next step a task due that many days later.")
    frame = cached(activities.templates, actor, include_inactive=True)
    if frame.is_empty():
        st.info("No templates are stored for your team. A manager adds one below; until then the log form starts "
                "empty.", icon=":material/library_books:")
    else:
        if frame["built_in"].all():
            st.caption("These are the starter templates: built in until someone logs with one or edits one, "
                       "which stores them.")
        ui.table(template_rows(frame), "activity_templates", key=f"{KEY}.templates", column_config={
            "notes": st.column_config.TextColumn("notes", width="medium"),
            "updated at": st.column_config.DatetimeColumn("updated at", format="D MMM YYYY")})
    if actor.role in EDITORS:
        _template_editor(actor, frame, teams)
    else:
        st.caption("Managers keep their team's templates; ask yours to add or change one.")


def _template_editor(actor: Actor, frame: pl.DataFrame, teams: dict[int, str]) -> None:
    rows = {r["id"]: r for r in frame.iter_rows(named=True)}
    pick = st.selectbox("Add or edit a template", [NEW, *rows], key=f"{KEY}.template.pick",
                        format_func=lambda i: "New template" if i == NEW else
                        f"{rows[i]['name']} ({rows[i]['team'] or 'everyone'})")
    row: dict[str, Any] = rows.get(pick) or {}
    options = _template_teams(actor, teams)
    team_id = row.get("team_id")
    copy = bool(row) and actor.role != "admin" and team_id not in teams
    if copy:
        st.info(f"{row['name']!r} is kept by admins for everyone; saving it stores your own copy for your team.",
                icon=":material/content_copy:")
    with st.form(f"{KEY}.template.form.{pick}"):
        k = f"{KEY}.template.{pick}"
        c1, c2, c3 = st.columns([2, 1, 1])
        name = c1.text_input("Name", row.get("name") or "", key=f"{k}.name", max_chars=activities.MAX_TEMPLATE_NAME)
        kind = c2.selectbox("Type", ACTIVITY_TYPES, key=f"{k}.type",
                            index=ACTIVITY_TYPES.index(row["type"]) if row.get("type") in ACTIVITY_TYPES else 0)
        duration = c3.number_input("Duration (min)", value=row.get("duration_min"), step=5, key=f"{k}.duration",
                                   help="Leave empty when it does not apply (an email).")
        outcome = c1.text_input("Outcome", row.get("outcome") or "", key=f"{k}.outcome")
        next_step = c2.text_input("Next step", row.get("next_step") or "", key=f"{k}.next",
                                  help="With a follow-up, the title of the task it makes.")
        follow = c3.number_input("Follow-up (days)", value=row.get("follow_up_days"), step=1, key=f"{k}.follow",
                                 help="Empty: no follow-up task.")
        notes = st.text_area("Notes", row.get("notes") or "", key=f"{k}.notes", height=110,
                             help="Prefilled into the activity's notes: a checklist of what to ask or record.")
        c4, c5 = st.columns([2, 1])
        default_team = team_id if team_id in options else next(iter(options))
        team = c4.selectbox("For", list(options), index=list(options).index(default_team), key=f"{k}.team",
                            format_func=options.get)
        active = c5.checkbox("Active (offered in the form)", value=bool(row.get("active", True)), key=f"{k}.active")
        submitted = st.form_submit_button("Save template", icon=":material/save:", type="primary")
    if submitted:
        template_id = None if pick == NEW or copy else pick
        try:
            activities.save_template(current_store(), actor, template_id, name, kind, _whole(duration), outcome,
                                     notes, next_step, _whole(follow), team, active, clock.now())
        except (ValueError, AccessDenied, StoreError) as exc:
            show_problem(exc)
        else:
            verb = "Added" if template_id is None else "Saved"
            _saved(f"{verb} the template {name.strip()!r} for {options[team]}.")


def _template_teams(actor: Actor, teams: dict[int, str]) -> dict[int | None, str]:
    """Whom a template can be for: an admin, everyone or any team; a manager, their own teams."""
    out: dict[int | None, str] = {None: "everyone"} if actor.role == "admin" else {}
    out.update({t: f"team {name}" for t, name in teams.items()})
    return out or {None: "everyone"}


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)


# ---------------------------------------------------------------- task rules


def rule_sentence(row: dict[str, Any]) -> str:
    """A rule in plain words: "When a lead enters SQL: “Discovery call” (a call), due 24 h later"."""
    kind = "" if row["kind"] == "task" else f" ({'an' if row['kind'][:1] in 'aeiou' else 'a'} {row['kind']})"
    return f"When {row['event']}: “{row['title']}”{kind}, due {row['due_hours']} h later"


def rule_state(row: dict[str, Any]) -> str:
    """Whether a rule makes tasks, and if not why."""
    if not row["in_force"]:
        return "replaced: a nearer rule covers this event"
    return "applies" if row["active"] else "off (inactive: stops the default for this event)"


def rule_rows(frame: pl.DataFrame) -> pl.DataFrame:
    rows = [{"rule": rule_sentence(r), "source": SOURCE_LABELS[r["source"]], "state": rule_state(r),
             "due (h)": r["due_hours"], "updated by": r["updated_by"], "updated at": r["updated_at"]}
            for r in frame.iter_rows(named=True)]
    return pl.DataFrame(rows, schema={"rule": pl.String, "source": pl.String, "state": pl.String,
                                      "due (h)": pl.Int64, "updated by": pl.String,
                                      "updated at": pl.Datetime("us")})


def _rules_team(actor: Actor, teams: dict[int, str]) -> tuple[bool, int | None]:
    """(whether there is a team to show, the team picked: None is the default for teams without their own)."""
    options: list[int | None] = ([None] if actor.role in ("admin", "analyst") else []) + list(teams)
    if not options:
        return False, None
    if len(options) == 1:
        return True, options[0]
    team = st.selectbox("Rules of", options, key=f"{KEY}.rules.team",
                        format_func=lambda t: "the default (teams without their own)" if t is None
                        else f"team {teams[t]}")
    return True, team


def rules_section(actor: Actor, teams: dict[int, str]) -> None:
    st.subheader("Task rules")
    st.caption("A rule makes a follow-up task for the lead's owner (due that many hours after the event) when something happens to a lead. Rules come in "
               "layers: a team's own rule for an event replaces the default for that event, and a stored default "
               "replaces the built-in one. To stop a default for your team, save an inactive rule for the same "
               "event.")
    shown, team = _rules_team(actor, teams)
    if not shown:
        st.info("You are on no team, so no rules apply to your leads; an admin adds you to one.",
                icon=":material/group_off:")
        return
    try:
        frame = cached(tasks.rules, actor, team)
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    if team is not None and len(teams) == 1:
        st.caption(f"Team {teams[team]}'s rules.")
    ui.table(rule_rows(frame), "task_rules", key=f"{KEY}.rules",
             column_config={"rule": st.column_config.TextColumn("rule", width="large"),
                            "updated at": st.column_config.DatetimeColumn("updated at", format="D MMM YYYY")})
    if _may_edit_rules(actor, team):
        _rule_editor(actor, team, frame, teams)
    elif actor.role in EDITORS:
        st.caption("Only an admin changes the default rules; pick your team to edit its own.")
    else:
        st.caption("Managers keep their team's rules; ask yours to add or change one.")


def _may_edit_rules(actor: Actor, team: int | None) -> bool:
    return actor.role == "admin" or (actor.role == "manager" and team is not None)


def _rule_editor(actor: Actor, team: int | None, frame: pl.DataFrame, teams: dict[int, str]) -> None:
    rows = {r["rule_id"]: r for r in frame.iter_rows(named=True)}
    own = "the default" if team is None else f"team {teams[team]}"
    pick = st.selectbox("Add or edit a rule", [NEW, *rows], key=f"{KEY}.rule.pick.{team}",
                        format_func=lambda i: "New rule" if i == NEW else
                        f"{rule_sentence(rows[i])} · {SOURCE_LABELS[rows[i]['source']]}")
    row: dict[str, Any] = rows.get(pick) or {}
    replaces = bool(row) and (team is not None and row["source"] != "team" or row["source"] == "built-in")
    if replaces:
        st.info(f"This rule is {SOURCE_LABELS[row['source']]}; saving it adds {own}'s own rule for the same event, "
                "which replaces it there.", icon=":material/layers:")
    k = f"{KEY}.rule.{team}.{pick}"
    trigger = st.radio("When", tasks.TRIGGERS, key=f"{k}.trigger", horizontal=True, format_func=TRIGGER_LABELS.get,
                       index=tasks.TRIGGERS.index(row["trigger"]) if row else 0)
    values = tasks.TRIGGER_VALUES[trigger]
    with st.form(f"{KEY}.rule.form.{team}.{pick}"):
        c1, c2, c3 = st.columns([1, 2, 1])
        value = c1.selectbox("Stage" if trigger == "stage_entered" else "Activity type", values, key=f"{k}.value",
                             index=values.index(row["value"]) if row.get("value") in values else 0,
                             format_func=lambda v: STAGE_LABELS.get(v, v) if trigger == "stage_entered" else v)
        title = c2.text_input("Task title", row.get("title") or "", key=f"{k}.title", max_chars=tasks.MAX_TITLE,
                              help="Its first telling word sets the task's kind: 'Call …' is a call, 'Send …' an "
                                   "email.")
        due = c3.number_input("Due in (hours)", value=int(row.get("due_hours", 24)), step=1, key=f"{k}.due",
                              help=f"From the event; 0 to {tasks.MAX_DUE_HOURS}.")
        active = st.checkbox("Active (an inactive rule stops the default for this event)",
                             value=bool(row.get("active", True)), key=f"{k}.active")
        submitted = st.form_submit_button("Save rule", icon=":material/save:", type="primary")
    if submitted:
        try:
            tasks.save_rule(current_store(), actor, None if pick == NEW else pick, team, trigger, value, title,
                            int(due), active, clock.now())
        except (ValueError, AccessDenied, StoreError) as exc:
            show_problem(exc)
        else:
            _saved(f"Saved for {own}: when {tasks.describe_event(trigger, value)}, “{title.strip()}” due "
                   f"{int(due)} h later{'' if active else ' (inactive)'}.")
    if row and row["rule_id"] > 0 and row["team_id"] == team:
        _delete_rule(actor, row, k)


def _delete_rule(actor: Actor, row: dict[str, Any], k: str) -> None:
    """Delete a stored rule, after a confirmation that says what follows."""
    asking = f"{k}.delete.asking"
    if not st.session_state.get(asking):
        if st.button("Delete this rule", key=f"{k}.delete", icon=":material/delete:"):
            st.session_state[asking] = True
            st.rerun()
        return
    fallback = ("the default or built-in rule for the event applies again, if there is one" if row["team_id"]
                else "the built-in rule for the event applies again, if there is one")
    st.warning(f"Delete the rule “{row['title']}” (when {row['event']})? Tasks it already made stay; {fallback}.",
               icon=":material/warning:")
    c1, c2 = st.columns(2)
    if c1.button("Yes, delete it", key=f"{k}.delete.confirm", type="primary"):
        st.session_state.pop(asking, None)
        try:
            deleted = tasks.delete_rule(current_store(), actor, row["rule_id"], clock.now())
        except (ValueError, AccessDenied, StoreError) as exc:
            show_problem(exc)
        else:
            _saved(f"Deleted the rule “{row['title']}”." if deleted else "That rule was already deleted.")
    if c2.button("Keep it", key=f"{k}.delete.cancel"):
        st.session_state.pop(asking, None)
        st.rerun()
