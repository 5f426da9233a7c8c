"""The Activities page's Queue tab: the in-app reminders, a rep's open tasks by priority, and the action panel
of the task picked (log the activity and complete the task in one click, snooze, hand on, cancel). Managers and
admins also see their team's tasks (with bulk hand-on) and move a departing rep's work."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import polars as pl
import streamlit as st

from flashdash import activities, clock, org, tasks, worklist
from flashdash.access import AccessDenied, Actor
from flashdash.activities import NewActivity
from flashdash.entities import ACTIVITY_TYPES
from flashdash.qualification import STAGE_LABELS
from flashdash.store import StoreError
from flashdash.submissions import md_escape
from flashdash.ui import components as ui
from flashdash.ui.activity_log import activity_fields, submitted, template_picker
from flashdash.ui.store import cached, current_store, show_problem

MANAGERS = ("manager", "admin")
VIEWS = ("Queue", "Team", "A rep is leaving")
ACTIONS = ("Log & complete", "Snooze", "Delegate", "Cancel")
SNOOZES = ("In 1 hour", "Tomorrow 9:00", "In 3 days", "On a date")
_GEN = "act.queue.gen"  # bumped after a change so the tables draw afresh, without a stale row selected
_DONE = "act.queue.done"  # the message of the last change, shown after the rerun that redraws the queue
_PENDING = "act.queue.team.pending"
_LEAVING = "act.queue.leaving.pending"
_FIELDS = {"type": "act.queue.type", "duration_min": "act.queue.duration", "outcome": "act.queue.outcome",
           "notes": "act.queue.notes", "next_step": "act.queue.next_step"}
COLUMNS = {
    "status": st.column_config.TextColumn("status", width="small"),
    "priority": st.column_config.ProgressColumn("priority", min_value=0, max_value=100, format="%.0f",
                                                help="0-100: the due time decides the band, then the lead's score "
                                                     "and stage"),
    "score": st.column_config.NumberColumn("score", format="%.0f"),
    "why": st.column_config.TextColumn("why it ranks here", width="large"),
}


# ---------------------------------------------------------------- pure parts


def due_text(hours: float | None) -> str:
    """When a task is due, relative to now: "overdue by 3 h", "in 2 days", "no due date"."""
    if hours is None:
        return "no due date"
    return f"overdue by {tasks.span(hours)}" if hours < 0 else f"in {tasks.span(hours)}"


def status(overdue: bool, hours: float | None) -> str:
    """The queue's status cell: an icon a glance finds, then the words."""
    if overdue:
        return "🔴 overdue"
    if hours is not None and hours <= 24:
        return "🟠 < 24 h"
    return "⚪ no due date" if hours is None else "🟢 later"


def reminders(queue: pl.DataFrame) -> tuple[int, int]:
    """How many open tasks are overdue, and how many are due within the next 24 h."""
    if queue.is_empty():
        return 0, 0
    soon = queue.filter(~pl.col("overdue") & (pl.col("due_in_hours") <= 24)).height
    return int(queue["overdue"].sum()), soon


def snooze_until(choice: str, now: datetime, day: date | None = None, at: time | None = None) -> datetime:
    """The new due time a snooze choice means."""
    if choice == "In 1 hour":
        return now + timedelta(hours=1)
    if choice == "Tomorrow 9:00":
        return datetime.combine(now.date() + timedelta(days=1), time(9))
    if choice == "In 3 days":
        return now + timedelta(days=3)
    return datetime.combine(day or now.date(), at or time(9))


def shown(queue: pl.DataFrame, with_rep: bool) -> pl.DataFrame:
    """The queue as the table shows it: status, priority, title, lead, stage, score, due, why (and the rep)."""
    hours = queue["due_in_hours"].to_list()
    out = queue.select(
        pl.Series("status", [status(o, h) for o, h in zip(queue["overdue"], hours, strict=True)], pl.String),
        *([pl.col("rep")] if with_rep else []),
        "priority",
        pl.col("title"),
        pl.col("merchant_name").fill_null("(no lead)").alias("lead"),
        pl.col("stage").replace_strict(STAGE_LABELS, default=pl.col("stage"), return_dtype=pl.String),
        "score",
        pl.Series("due", [due_text(h) for h in hours], pl.String),
        pl.col("reasons").alias("why"),
    )
    return out


# ---------------------------------------------------------------- the tab


def render(actor: Actor) -> None:
    now = clock.now()
    minute = now.replace(second=0, microsecond=0)
    view = "Queue"
    if actor.role in MANAGERS:
        view = st.segmented_control("View", VIEWS, default="Queue", key="act.queue.view",
                                    label_visibility="collapsed") or "Queue"
    done = st.session_state.pop(_DONE, None)
    if done:
        st.success(done, icon=":material/task_alt:")
    if view == "Team":
        _team(actor, now, minute)
    elif view == "A rep is leaving":
        _leaving(actor, now)
    else:
        _queue(actor, now, minute)


def _gen() -> int:
    return int(st.session_state.get(_GEN, 0))


def _changed(message: str) -> None:
    """After a write: say what changed, redraw the tables with nothing selected."""
    st.session_state[_DONE] = message
    st.session_state[_GEN] = _gen() + 1
    st.rerun()


def _whose(actor: Actor) -> int | None:
    """A manager's or admin's pick of whose queue to see (None: the whole team's)."""
    if actor.role not in MANAGERS:
        return actor.rep_id
    reps = cached(org.filter_options, actor)["reps"]
    names = dict(zip(reps["id"].to_list(), reps["name"].to_list(), strict=True))
    options: list[int | None] = [None, *names]
    default = actor.rep_id if actor.rep_id in names else None
    everyone = "Everyone" if actor.sees_all else "Everyone on my team"
    return st.selectbox("Whose queue", options, index=options.index(default), key="act.queue.whose",
                        format_func=lambda r: everyone if r is None else names.get(r, f"rep {r}"))


def _queue(actor: Actor, now: datetime, minute: datetime) -> None:
    rep_id = _whose(actor)
    queue = cached(tasks.queue, actor, minute, rep_id)
    overdue, soon = reminders(queue)
    line = f"{overdue} overdue, {soon} due within 24 h"
    if overdue:
        st.warning(f"**{line}.** Overdue work is at the top of the queue, marked overdue.", icon=":material/alarm:")
    elif queue.is_empty():
        st.info("No open tasks: nothing is due. Tasks arrive from task rules, sequences, a template's follow-up "
                "and the Leads page's bulk “add a task”.", icon=":material/task_alt:")
        return
    else:
        st.info(f"{line}.", icon=":material/alarm:")
    key = f"act.queue.{_gen()}"
    st.caption(f"{queue.height:,} open tasks, highest priority first. Select a row to work it.")
    ui.table(shown(queue, with_rep=rep_id is None), "task_queue", key=key,
             on_select="rerun", selection_mode="single-row", column_config=COLUMNS)
    task = _picked(queue, key)
    if task is not None:
        st.session_state["act.lead_id"] = task["lead_id"] if task["lead_id"] is not None else None
        _panel(actor, task, now)


def _picked(queue: pl.DataFrame, key: str) -> dict[str, Any] | None:
    """The task the user picked: a row selected in the table, or a task chosen in the picker below it."""
    ids = queue["task_id"].to_list()
    rows = [i for i in ui.selected_rows(key) if i < len(ids)]
    selected = ids[rows[0]] if rows else None
    if selected != st.session_state.get("act.queue.selected"):
        st.session_state["act.queue.selected"] = selected  # a new row click decides the picker
        st.session_state["act.queue.task"] = selected
    if st.session_state.get("act.queue.task") not in ids:
        st.session_state["act.queue.task"] = None
    labels = {r["task_id"]: f"{r['title']} · {r['merchant_name'] or 'no lead'} · {due_text(r['due_in_hours'])}"
              for r in queue.iter_rows(named=True)}
    task_id = st.selectbox("Task", ids, index=None, key="act.queue.task", format_func=labels.get,
                           placeholder="Select a row above, or pick a task here")
    if task_id is None:
        return None
    return queue.row(ids.index(task_id), named=True)


def _panel(actor: Actor, task: dict[str, Any], now: datetime) -> None:
    with st.container(border=True, key="act.queue.panel"):
        lead = task["merchant_name"] or "no lead"
        st.markdown(f"**{md_escape(task['title'])}** · {md_escape(lead)} · {due_text(task['due_in_hours'])}")
        if task["notes"]:
            st.caption(task["notes"])
        action = st.segmented_control("Action", ACTIONS, default=ACTIONS[0], key="act.queue.action",
                                      label_visibility="collapsed") or ACTIONS[0]
        if action == "Log & complete":
            _log_and_complete(actor, task)
        elif action == "Snooze":
            _snooze(actor, task, now)
        elif action == "Delegate":
            _delegate(actor, task)
        else:
            _cancel(actor, task)


# ---------------------------------------------------------------- log & complete


def _reset_form(task: dict[str, Any]) -> None:
    """A new task picked: the form starts from the task (its kind as the type) and no template."""
    if st.session_state.get("act.queue.for_task") == task["task_id"]:
        return
    st.session_state["act.queue.for_task"] = task["task_id"]
    kind = task["kind"] if task["kind"] in ACTIVITY_TYPES else "call"
    st.session_state.update({"act.queue.template": None, _FIELDS["type"]: kind, _FIELDS["duration_min"]: None,
                             _FIELDS["outcome"]: "", _FIELDS["notes"]: "", _FIELDS["next_step"]: ""})


def _log_and_complete(actor: Actor, task: dict[str, Any]) -> None:
    _reset_form(task)
    if task["lead_id"] is None:
        st.caption("This task has no lead: there is no activity to log, only the task to complete.")
        if st.button("Mark done", key="act.queue.mark_done", icon=":material/task_alt:"):
            try:
                tasks.complete(current_store(), actor, task["task_id"], clock.now())
            except (ValueError, AccessDenied, StoreError) as exc:
                show_problem(exc)
            else:
                _changed(f"Completed “{task['title']}”.")
        return
    prefill = template_picker(actor, "act.queue.template", _FIELDS)
    with st.form("act.queue.log_form", border=False):
        activity_fields(_FIELDS)
        go = st.form_submit_button("Log & complete", type="primary", icon=":material/task_alt:")
    if go:
        _save_and_complete(actor, task, prefill)


def _save_and_complete(actor: Actor, task: dict[str, Any], prefill: dict[str, Any] | None) -> None:
    values = submitted(_FIELDS)
    now = clock.now()
    activity = NewActivity(task["lead_id"], values["type"] or "", now, values["duration_min"], values["outcome"],
                           values["notes"], values["next_step"], template_id=prefill and prefill["template_id"],
                           fields_typed=activities.fields_typed(prefill, values), source="queue")
    store = current_store()
    try:
        activities.log_activity(store, actor, activity, now)
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    try:
        tasks.complete(store, actor, task["task_id"], now, outcome=values["outcome"])
    except (ValueError, AccessDenied, StoreError) as exc:
        st.warning(f"The {activity.type} was logged, but the task is still open: {exc}", icon=":material/warning:")
        return
    follow = f" A follow-up task “{values['next_step'] or prefill['next_step']}” is in the queue." \
        if prefill and prefill.get("follow_up_days") is not None else ""
    _changed(f"Logged the {activity.type} with {task['merchant_name'] or 'the lead'} and completed “{task['title']}”."
             f"{follow} See it on the Timeline tab.")


# ---------------------------------------------------------------- snooze, delegate, cancel


def _snooze(actor: Actor, task: dict[str, Any], now: datetime) -> None:
    choice = st.radio("Snooze until", SNOOZES, key="act.queue.snooze", horizontal=True)
    day, at = None, None
    if choice == "On a date":
        c1, c2 = st.columns(2)
        day = c1.date_input("Date", value=now.date() + timedelta(days=1), min_value=now.date(),
                            key="act.queue.snooze_day")
        at = c2.time_input("Time", value=time(9), key="act.queue.snooze_time")
    until = snooze_until(choice, now, day, at)
    if st.button(f"Snooze to {until:%a %d %b %H:%M}", key="act.queue.snooze_go", icon=":material/snooze:"):
        try:
            tasks.snooze(current_store(), actor, task["task_id"], until, clock.now())
        except (ValueError, AccessDenied, StoreError) as exc:
            show_problem(exc)
        else:
            _changed(f"Snoozed “{task['title']}” to {until:%a %d %b %H:%M}.")


def _receivers(actor: Actor, team_id: int | None, exclude: int | None) -> dict[int, str]:
    """Active teammates of a task's owner who may take it."""
    mates = cached(worklist.teammates, actor)
    if team_id is not None:
        mates = mates.filter(pl.col("team_id") == team_id)
    return {r["id"]: r["name"] for r in mates.iter_rows(named=True) if r["id"] != exclude}


def _delegate(actor: Actor, task: dict[str, Any]) -> None:
    names = _receivers(actor, task["team_id"], task["rep_id"])
    if not names:
        st.info("There is no active teammate to hand this task to.", icon=":material/group_off:")
        return
    with st.form("act.queue.delegate_form", border=False):
        to = st.selectbox("Hand it to", list(names), format_func=names.get, key="act.queue.delegate_to")
        note = st.text_input("Note for them (optional)", key="act.queue.delegate_note", max_chars=tasks.MAX_NOTE)
        go = st.form_submit_button("Delegate", icon=":material/forward:")
    if go:
        try:
            done = tasks.delegate(current_store(), actor, [task["task_id"]], to, clock.now(), note)
        except (ValueError, AccessDenied, StoreError) as exc:
            show_problem(exc)
        else:
            _changed(f"Handed “{task['title']}” to {done['to_rep']}.")


def _cancel(actor: Actor, task: dict[str, Any]) -> None:
    with st.form("act.queue.cancel_form", border=False):
        reason = st.text_input("Reason", key="act.queue.cancel_reason", max_chars=tasks.MAX_NOTE,
                               placeholder="e.g. they asked us to call after the summer")
        go = st.form_submit_button("Cancel the task", icon=":material/cancel:")
    if go:
        try:
            tasks.cancel(current_store(), actor, task["task_id"], reason, clock.now())
        except (ValueError, AccessDenied, StoreError) as exc:
            show_problem(exc)
        else:
            _changed(f"Cancelled “{task['title']}”: {reason.strip()}.")


# ---------------------------------------------------------------- the team (managers and admins)


def _team(actor: Actor, now: datetime, minute: datetime) -> None:
    counts = cached(tasks.task_counts, actor, minute)
    st.markdown("**Open tasks per rep**")
    if counts.is_empty():
        st.info("No reps in your scope.", icon=":material/group_off:")
        return
    ui.table(counts.select("rep", "active", pl.col("open_tasks").alias("open tasks"), "overdue",
                           pl.col("due_24h").alias("due within 24 h")),
             "task_counts", key="act.queue.counts")
    team = cached(tasks.team_tasks, actor, minute)
    st.markdown("**The team's open tasks**")
    if team.is_empty():
        st.info("The team has no open tasks.", icon=":material/task_alt:")
        return
    key = f"act.queue.team.{_gen()}"
    st.caption("Select tasks (or pick them below) to hand them to a teammate.")
    ui.table(shown(team, with_rep=True), "team_tasks", key=key, on_select="rerun", selection_mode="multi-row",
             column_config=COLUMNS)
    _bulk_delegate(actor, team, key, now)


def _bulk_delegate(actor: Actor, team: pl.DataFrame, key: str, now: datetime) -> None:
    ids = team["task_id"].to_list()
    selected = [ids[i] for i in ui.selected_rows(key) if i < len(ids)]
    if selected != st.session_state.get("act.queue.team.selected"):
        st.session_state["act.queue.team.selected"] = selected
        st.session_state["act.queue.team.tasks"] = selected
    labels = {r["task_id"]: f"{r['title']} · {r['merchant_name'] or 'no lead'} · {r['rep']}"
              for r in team.iter_rows(named=True)}
    st.session_state["act.queue.team.tasks"] = [t for t in st.session_state.get("act.queue.team.tasks", [])
                                                if t in labels]
    with st.container(border=True):
        picked = st.multiselect("Tasks to hand on", ids, key="act.queue.team.tasks", format_func=labels.get)
        names = _receivers(actor, None, None)
        c1, c2 = st.columns(2)
        to = c1.selectbox("To", list(names), format_func=names.get, key="act.queue.team.to", index=None,
                          placeholder="Pick a teammate")
        note = c2.text_input("Note (optional)", key="act.queue.team.note", max_chars=tasks.MAX_NOTE)
        if not picked or to is None:
            st.caption("Pick the tasks and the teammate who takes them.")
            return
        plan = (tuple(sorted(picked)), to, note)
        if st.button(f"Review: hand {len(picked)} tasks to {names[to]}", key="act.queue.team.review",
                     icon=":material/fact_check:"):
            st.session_state[_PENDING] = plan
        if st.session_state.get(_PENDING) != plan:
            return
        moving = team.filter(pl.col("task_id").is_in(picked) & (pl.col("rep_id") != to)).height
        st.info(f"{moving} of the {len(picked)} tasks change hands (the others are already {names[to]}'s); each "
                "keeps who had it and the new owner gets a fresh reminder.", icon=":material/info:")
        if st.button(f"Confirm: hand {moving} tasks to {names[to]}", key="act.queue.team.confirm", type="primary",
                     disabled=moving == 0, icon=":material/check:"):
            try:
                done = tasks.delegate(current_store(), actor, picked, to, clock.now(), note)
            except (ValueError, AccessDenied, StoreError) as exc:
                show_problem(exc)
            else:
                st.session_state.pop(_PENDING, None)
                _changed(f"Handed {done['delegated']} tasks to {done['to_rep']}.")


def _leaving(actor: Actor, now: datetime) -> None:
    reps = cached(org.filter_options, actor)["reps"].filter(pl.col("active"))
    names = dict(zip(reps["id"].to_list(), reps["name"].to_list(), strict=True))
    st.caption("Move every open task and open lead of a departing rep to a teammate; the departing rep is then "
               "marked inactive, so routing sends them nothing new (their login is an admin's to disable).")
    if len(names) < 2:
        st.info("There is nobody to hand the work to: your team has fewer than two active reps.",
                icon=":material/group_off:")
        return
    c1, c2 = st.columns(2)
    leaving = c1.selectbox("Who is leaving", list(names), format_func=names.get, index=None,
                           key="act.queue.leaving.from", placeholder="Pick the departing rep")
    receivers = {i: n for i, n in names.items() if i != leaving}
    to = c2.selectbox("Who takes their work", list(receivers), format_func=receivers.get, index=None,
                      key="act.queue.leaving.to", placeholder="Pick a rep")
    reason = st.text_input("Reason (kept with every task and lead moved)", key="act.queue.leaving.reason",
                           max_chars=tasks.MAX_NOTE, placeholder="e.g. left the company on 30 June")
    if leaving is None or to is None:
        return
    try:
        held = cached(worklist.holdings, actor, leaving)
    except (AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    plan = (leaving, to, reason.strip())
    if st.button("Preview", key="act.queue.leaving.preview", icon=":material/fact_check:"):
        st.session_state[_LEAVING] = plan
    if st.session_state.get(_LEAVING) != plan:
        return
    st.info(f"{held['tasks']} open tasks and {held['leads']} open leads move from {names[leaving]} to "
            f"{receivers[to]}, and {names[leaving]} is marked inactive.", icon=":material/info:")
    if st.button(f"Confirm: move {held['tasks']} tasks and {held['leads']} leads", key="act.queue.leaving.confirm",
                 type="primary", icon=":material/check:"):
        try:
            done = tasks.reassign_departing(current_store(), actor, leaving, to, clock.now(), reason)
        except (ValueError, AccessDenied, StoreError) as exc:
            show_problem(exc)
        else:
            st.session_state.pop(_LEAVING, None)
            _changed(f"Moved {done['tasks']} tasks and {done['leads']} leads from {done['from_rep']} to "
                     f"{done['to_rep']}" + (f"; {done['from_rep']} is now inactive." if done["deactivated"] else "."))
