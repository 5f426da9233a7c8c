"""The Activities page's Sequences tab: the follow-up sequences (cadences and nurtures) the user can see, one
sequence's steps, results per step and enrollments; enrolling leads (previewed, then confirmed); pausing,
resuming and stopping enrollments; and, for managers and admins, the editor and the starter library."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
import streamlit as st

from flashdash import clock, mail, org, sequences, submissions, views
from flashdash.access import AccessDenied, Actor
from flashdash.qualification import STAGE_LABELS, STAGES
from flashdash.store import StoreError
from flashdash.submissions import md_escape
from flashdash.ui import components as ui
from flashdash.ui.store import cached, current_store, show_problem

EDITORS = sequences.EDITORS
ENROLLERS = sequences.ENROLLERS
KIND_ICONS = {"call": ":material/call:", "email": ":material/mail:", "task": ":material/task_alt:"}
TRIGGER_LABELS = {"reply": "a reply", "stage_change": "a stage change", "meeting": "a booked meeting"}
_PENDING = "act.seq.enroll.pending"
_FLASH = "act.seq.flash"  # what the last change did, shown after the rerun that redraws the lists
_PICK_NEXT = "act.seq.pick_next"  # a sequence just made, picked on the next run
_NEW = -1  # the editor's "new sequence" choice
PERCENT = {"format": "percent"}


def _done(message: str, warning: bool = False) -> None:
    """Say what changed after a rerun, so that the lists above show the change too."""
    st.session_state[_FLASH] = (message, warning)
    st.rerun()


def _show_done() -> None:
    flash = st.session_state.pop(_FLASH, None)
    if flash:
        message, warning = flash
        (st.warning if warning else st.success)(message, icon=":material/info:" if warning else ":material/done:")


def render(actor: Actor) -> None:
    _show_done()
    st.caption("A sequence is a series of steps (calls, emails, tasks) on set days after a lead is enrolled. The "
               "scheduler runs the steps that are due every 15 minutes (the `run_sequences` job): a call or task "
               "step becomes a task for the lead's owner, an email step queues the email. An enrollment pauses by "
               "itself when the lead replies, changes stage or books a meeting (whichever its sequence's "
               "“pause on” names), and stops when the lead is won, lost or disqualified.")
    listed = cached(sequences.sequences, actor)
    stored = listed.filter(pl.col("id").is_not_null())
    if stored.is_empty():
        _no_sequences(actor)
    else:
        _sequence_list(stored)
        sequence_id = _pick(stored)
        row = stored.filter(pl.col("id") == sequence_id).row(0, named=True)
        _detail(actor, row)
    if actor.role in EDITORS:
        st.divider()
        _setup(actor, stored)


def _no_sequences(actor: Actor) -> None:
    if actor.role in EDITORS:
        st.info("There are no sequences yet. Start from a template below, or build one in the editor.",
                icon=":material/playlist_add:")
    else:
        st.info("There are no sequences to use yet: a manager sets them up (they can start from the built-in "
                "templates “New inbound lead” and “Cold lead nurture”).", icon=":material/playlist_add:")


# ---------------------------------------------------------------- the list and one sequence


def _pause_text(pause_on: str | None) -> str:
    triggers = [TRIGGER_LABELS[t] for t in (pause_on or "").split(",") if t in TRIGGER_LABELS]
    return ", ".join(triggers) if triggers else "nothing (only a closed lead stops it)"


def _sequence_list(stored: pl.DataFrame) -> None:
    st.subheader("Sequences")
    shown = stored.select(
        "name", pl.col("team").fill_null("store-wide").alias("team"),
        pl.when(pl.col("nurture")).then(pl.lit("nurture (emails only)")).otherwise(pl.lit("cadence")).alias("kind"),
        "steps", "active", pl.col("active_enrollments").alias("enrolled now"),
        pl.col("paused_enrollments").alias("paused"), pl.col("completed_enrollments").alias("completed"),
        pl.col("pause_on").map_elements(_pause_text, return_dtype=pl.String).alias("pauses on"),
        pl.col("created_by").alias("made by"))
    ui.table(shown, "sequences", key="act.seq.list", column_config={
        "active": st.column_config.CheckboxColumn("on", help="A sequence that is off enrolls nobody and its "
                                                  "enrollments pause")})


def _pick(stored: pl.DataFrame) -> int:
    names = dict(zip(stored["id"].to_list(), stored["name"].to_list(), strict=True))
    teams = dict(zip(stored["id"].to_list(), stored["team"].fill_null("store-wide").to_list(), strict=True))
    if st.session_state.get(_PICK_NEXT) in names:
        st.session_state["act.seq.pick"] = st.session_state.pop(_PICK_NEXT)
    return st.selectbox("Sequence", list(names), key="act.seq.pick",
                        format_func=lambda i: f"{names[i]} ({teams[i]})")


def _detail(actor: Actor, row: dict[str, Any]) -> None:
    sequence_id = row["id"]
    st.markdown(f"**{md_escape(row['name'])}** · {'on' if row['active'] else 'off'} · pauses on "
                f"{_pause_text(row['pause_on'])}" + (f"  \n{md_escape(row['description'])}"
                                                     if row["description"] else ""))
    try:
        steps = cached(sequences.steps, actor, sequence_id)
        results = cached(sequences.results, actor, sequence_id)
        summary = cached(sequences.enrollment_summary, actor, sequence_id)
    except (ValueError, AccessDenied) as exc:
        show_problem(exc)
        return
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.markdown("**Steps**")
        st.markdown(steps_markdown(steps))
    with right:
        st.markdown("**Enrollments by status**")
        counts = summary["by_status"]
        cols = st.columns(counts.height)
        for col, r in zip(cols, counts.iter_rows(named=True), strict=True):
            col.metric(r["status"], f"{r['enrollments']:,}")
    if not summary["reasons"].is_empty():
        st.markdown("**Why enrollments paused or stopped**")
        ui.table(summary["reasons"].rename({"kind": "why", "example": "for example"}),
                 f"sequence_{sequence_id}_reasons", key="act.seq.reasons")
    st.markdown("**Results per step**")
    if results.is_empty() or not results["runs"].sum():
        st.caption("No step has run yet: results appear once the scheduler has run the first due steps.")
    else:
        ui.table(results_view(results), f"sequence_{sequence_id}_results", key="act.seq.results",
                 column_config={c: st.column_config.NumberColumn(c, **PERCENT) for c in RESULT_RATES})
    _enrollments(actor, sequence_id)
    if actor.role in ENROLLERS:
        _enroll(actor, row)


def steps_markdown(steps: pl.DataFrame) -> str:
    """A sequence's steps in order as markdown lines: icon, day, kind, title, and an email step's template."""
    lines = []
    for r in steps.iter_rows(named=True):
        line = (f"{r['position']}. {KIND_ICONS.get(r['kind'], '')} **day {r['day_offset']}** · {r['kind']} · "
                f"{md_escape(r['title'] or '')}")
        if r["kind"] == "email":
            template = md_escape(r["template"]) if r.get("template") else "no template chosen"
            off = "" if r.get("template_active", True) in (True, None) else " (turned off: the step fails)"
            line += f" · template *{template}*{off}"
        lines.append(line)
    return "\n".join(lines) if lines else "No steps."


RESULT_COLUMNS = {"position": "step", "title": "title", "runs": "ran", "leads": "leads", "tasks": "tasks made",
                  "tasks_done": "tasks done", "tasks_on_time": "done on time", "emails": "emails queued",
                  "emails_sent": "emails sent", "opened": "opened", "clicked": "clicked", "replied": "replied",
                  "advanced_14d": "advanced in 14 d", "emails_suppressed": "not sent (do-not-contact, no address)",
                  "failed": "failed", "skipped": "skipped"}
RESULT_RATES = {"open_rate": "open rate", "click_rate": "click rate", "reply_rate": "reply rate",
                "advanced_rate": "advanced rate"}


def results_view(results: pl.DataFrame) -> pl.DataFrame:
    """sequences.results with readable headers; a removed step is shown as such instead of position 0."""
    rare = [c for c in ("emails_suppressed", "failed", "skipped") if not results[c].sum()]
    return results.select(
        pl.when(pl.col("removed")).then(pl.lit("removed")).otherwise(pl.col("position").cast(pl.String))
        .alias("position"), "kind", *[c for c in RESULT_COLUMNS if c not in ("position", *rare)], *RESULT_RATES,
    ).rename({k: v for k, v in {**RESULT_COLUMNS, **RESULT_RATES}.items() if k not in rare})


# ---------------------------------------------------------------- enrollments


def enrollments_view(rows: pl.DataFrame) -> pl.DataFrame:
    """sequences.enrollments as people read them."""
    return rows.select(
        pl.col("merchant_name").alias("lead"), "lead_id",
        pl.col("lead_status").replace_strict(STAGE_LABELS, default=pl.col("lead_status")).alias("stage"),
        "rep", "status",
        pl.col("status_reason").alias("why"),
        pl.when(pl.col("next_step").is_not_null())
        .then(pl.format("{}. {}", pl.col("next_position"), pl.col("next_step"))).alias("next step"),
        pl.col("next_due_at").alias("next due"), pl.col("enrolled_at").alias("enrolled"),
        pl.col("enrolled_by").alias("enrolled by"))


def _enrollments(actor: Actor, sequence_id: int) -> None:
    st.subheader("Enrollments")
    rows = cached(sequences.enrollments, actor, sequence_id)
    if rows.is_empty():
        st.info("Nobody in your book is enrolled in this sequence yet." +
                (" Enroll leads below." if actor.role in ENROLLERS else ""), icon=":material/group_off:")
        return
    ui.table(enrollments_view(rows), f"sequence_{sequence_id}_enrollments", key="act.seq.enrollments",
             column_config={"next due": st.column_config.DatetimeColumn("next due", format="D MMM YYYY HH:mm"),
                            "enrolled": st.column_config.DatetimeColumn("enrolled", format="D MMM YYYY"),
                            "lead_id": st.column_config.NumberColumn("lead id", format="%d")})
    if actor.role in ENROLLERS:
        _change(actor, rows)


ACTIONS = {"pause": "Pause", "resume": "Resume", "stop": "Stop for good"}


def _change(actor: Actor, rows: pl.DataFrame) -> None:
    """Pause, resume or stop the enrollments picked (active or paused ones), with a reason for pause and stop."""
    live = rows.filter(pl.col("status").is_in(["active", "paused"]))
    if live.is_empty():
        return
    labels = {r["id"]: f"{r['merchant_name']} (lead {r['lead_id']}) · {r['status']}"
              for r in live.iter_rows(named=True)}
    with st.form("act.seq.change"):
        st.markdown("**Pause, resume or stop enrollments**")
        picked = st.multiselect("Enrollments", list(labels), format_func=labels.get, key="act.seq.change.ids",
                                placeholder="Choose the leads' enrollments")
        c1, c2 = st.columns([1, 3])
        action = c1.selectbox("Action", list(ACTIONS), format_func=ACTIONS.get, key="act.seq.change.action")
        reason = c2.text_input("Reason (needed to pause or stop; kept with the enrollment)",
                               key="act.seq.change.reason", max_chars=sequences.MAX_REASON)
        submitted = st.form_submit_button("Apply", icon=":material/play_pause:")
    if not submitted:
        return
    store, now = current_store(), clock.now()
    try:
        if action == "resume":
            done = sequences.resume(store, actor, picked, now)
        else:
            done = getattr(sequences, action)(store, actor, picked, reason, now)
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    verb = {"pause": "Paused", "resume": "Resumed", "stop": "Stopped"}[action]
    n = done["changed"]
    message = f"{verb} {n} enrollment{'s' if n != 1 else ''}."
    if done["refused"]:
        why = "; ".join(f"{labels.get(r['enrollment_id'], r['enrollment_id'])}: {r['reason']}"
                        for r in done["refusals"])
        _done(f"{message} Not changed: {why}.", warning=True)
    _done(message)


def lead_options(actor: Actor, open_only: bool, now: datetime) -> pl.DataFrame:
    """The leads of the user's book to pick from (the 500 highest-scored): id, merchant_name, status, owner."""
    flt = views.LeadFilter(stages=STAGES if open_only else ())
    return cached(views.lead_list, actor, flt, now.replace(second=0), 500, "score")


def lead_label(row: dict[str, Any]) -> str:
    return f"{row['merchant_name'] or '(no name)'} · lead {row['id']} · {STAGE_LABELS.get(row['status'], row['status'])}"


def _enroll_ids(actor: Actor) -> list[int] | None:
    """The leads to enroll as the user picked them; None (with a message) when a typed lead is not found."""
    mode = st.radio("Enroll", ["One lead", "Several of my open leads"], horizontal=True, key="act.seq.enroll.mode",
                    label_visibility="collapsed")
    if mode == "One lead":
        ref = st.text_input("Lead id or external id", key="act.seq.enroll.ref", placeholder="e.g. 1234 or FL-001234")
        if not ref.strip():
            return []
        detail = cached(submissions.lead_detail, actor, ref.strip())
        if detail is None:
            st.warning(f"Lead “{md_escape(ref.strip())}” is not in your book: there is no such lead, or "
                       "it is not yours to enroll.", icon=":material/person_off:")
            return None
        st.caption(submissions.lead_title(detail["lead"]))
        return [int(detail["id"])]
    options = lead_options(actor, True, clock.now())
    labels = {r["id"]: lead_label(r) for r in options.iter_rows(named=True)}
    return st.multiselect(f"Open leads in your book ({len(labels):,} shown, highest score first)", list(labels),
                          format_func=labels.get, key="act.seq.enroll.leads")


def _enroll(actor: Actor, row: dict[str, Any]) -> None:
    with st.container(border=True):
        st.markdown(f"**Enroll leads in {md_escape(row['name'])}**")
        if not row["active"]:
            st.caption("This sequence is turned off: turn it on in the editor to enroll leads.")
            return
        ids = _enroll_ids(actor)
        if not ids:
            return
        store = current_store()
        if st.button("Preview", key="act.seq.enroll.preview", icon=":material/fact_check:"):
            try:
                st.session_state[_PENDING] = {"sequence_id": row["id"], "ids": ids,
                                              **sequences.preview_enroll(store, actor, row["id"], ids)}
            except (ValueError, AccessDenied, StoreError) as exc:
                show_problem(exc)
        pending = st.session_state.get(_PENDING)
        if not pending or pending["sequence_id"] != row["id"] or pending["ids"] != ids:
            return
        st.info(pending["message"], icon=":material/info:")
        if pending["refusals"]:
            refused = pl.DataFrame(pending["refusals"], schema={"lead_id": pl.Int64, "reason": pl.String})
            ui.table(refused.rename({"reason": "why not"}), "enroll_refusals", key="act.seq.enroll.refused")
        c1, c2 = st.columns(2)
        n = pending["enrolled"]
        if c1.button(f"Confirm: enroll {n} lead{'s' if n != 1 else ''}", key="act.seq.enroll.confirm",
                     type="primary", disabled=n == 0, icon=":material/check:"):
            try:
                done = sequences.enroll(store, actor, row["id"], pending["ids"], clock.now())
            except (ValueError, AccessDenied, StoreError) as exc:
                show_problem(exc)
            else:
                st.session_state.pop(_PENDING, None)
                _done(done["message"] + " Each starts at step 1; the scheduler runs a step within 15 minutes of its "
                      "due time.")
        if c2.button("Cancel", key="act.seq.enroll.cancel"):
            st.session_state.pop(_PENDING, None)
            st.rerun()


# ---------------------------------------------------------------- the editor and the starters (managers, admins)


def _team_choice(actor: Actor) -> tuple[bool, int | None]:
    """(chosen, team): the team new sequences and templates are made for: a manager's own, or for an admin any
    team or the whole store (None)."""
    teams = cached(org.filter_options, actor)["teams"]
    options: list[int | None] = ([None] if actor.role == "admin" else []) + teams["id"].to_list()
    if not options:
        st.info("You manage no team, so there is no team to make sequences for.", icon=":material/groups:")
        return False, None
    names = dict(zip(teams["id"].to_list(), teams["name"].to_list(), strict=True))
    team = st.selectbox("For the team", options, key="act.seq.team",
                        format_func=lambda t: "The whole store (every team)" if t is None else names[t])
    return True, team


def _setup(actor: Actor, stored: pl.DataFrame) -> None:
    st.subheader("Set up sequences")
    chosen, team = _team_choice(actor)
    if not chosen:
        return
    _starters(actor, team, stored)
    _editor(actor, stored, team)


def _starters(actor: Actor, team: int | None, stored: pl.DataFrame) -> None:
    taken = set(stored.filter(pl.col("team_id").eq_missing(team))["name"].str.to_lowercase().to_list())
    with st.expander("Start from a template", expanded=stored.is_empty()):
        starters = cached(sequences.starter_sequences, actor, team)
        if not all(s["ready"] for s in starters):
            _starter_templates(actor, team)
        for i, s in enumerate(starters):
            with st.container(border=True):
                st.markdown(f"**{s['name']}**{' · nurture (emails only)' if s['nurture'] else ''}  \n"
                            f"{md_escape(s['description'])}")
                st.markdown(steps_markdown(pl.DataFrame(s["steps"]).with_columns(
                    position=pl.int_range(1, len(s["steps"]) + 1), template_active=pl.lit(True))))
                if not s["ready"]:
                    st.caption(f"Not ready: {s['needs']}.")
                adopted = s["name"].lower() in taken
                if adopted:
                    st.caption("This team already has a sequence of this name: edit that one below.")
                if st.button(f"Adopt “{s['name']}”", key=f"act.seq.starter.{i}.adopt",
                             disabled=not s["ready"] or adopted, icon=":material/add_task:"):
                    try:
                        new_id = sequences.adopt_starter(current_store(), actor, s["name"], team, clock.now())
                    except (ValueError, AccessDenied, StoreError) as exc:
                        show_problem(exc)
                    else:
                        st.session_state[_PICK_NEXT] = new_id
                        _done(f"Adopted the starter “{s['name']}”: it is listed above, ready to enroll leads.")


def _starter_templates(actor: Actor, team: int | None) -> None:
    """The starters' email steps look their templates up by name: offer to add the built-in ones."""
    names = ", ".join(f"“{n}”" for n, _, _ in mail.STARTERS)
    st.caption(f"The templates' email steps use the built-in email templates ({names}), which are not in the "
               "library yet for this team.")
    if st.button("Add the built-in email templates to the library", key="act.seq.starter.templates",
                 icon=":material/library_add:"):
        try:
            added = add_starter_templates(actor, team)
        except (ValueError, AccessDenied, StoreError) as exc:
            show_problem(exc)
        else:
            _done(f"Added {added} email templates to the library; the starters that use them can be adopted now.")


def add_starter_templates(actor: Actor, team: int | None) -> int:
    """Store the built-in email templates for a team (store-wide for an admin choosing no team), skipping names
    the team already has; returns how many were added."""
    store, now = current_store(), clock.now()
    if team is None:
        return mail.install_starters(store, now, actor.username) if actor.role == "admin" else 0
    have = mail.templates(store, actor, include_inactive=True)
    taken = set(have.filter(pl.col("team_id") == team)["name"].str.to_lowercase().to_list())
    added = 0
    for name, subject, body in mail.STARTERS:
        if name.lower() not in taken:
            mail.save_template(store, actor, None, name, subject, body, team, True, now)
            added += 1
    return added


STEP_SCHEMA = {"kind": pl.String, "day_offset": pl.Int64, "title": pl.String, "template": pl.String, "id": pl.Int64}


def template_choices(actor: Actor, team: int | None) -> dict[str, int]:
    """Label -> id of the stored, active email templates a step of this team's sequence may use."""
    rows = cached(mail.templates, actor).filter(
        pl.col("id").is_not_null() & pl.col("active") & (pl.col("team_id").is_null() | pl.col("team_id").eq_missing(team)))
    return {f"{r['name']} ({r['team_name'] or 'store-wide'})": r["id"] for r in rows.iter_rows(named=True)}


def editor_rows(steps: pl.DataFrame | None, choices: dict[str, int]) -> pl.DataFrame:
    """The steps as the editor shows them (a new sequence starts with one call)."""
    if steps is None:
        return pl.DataFrame([{"kind": "call", "day_offset": 0, "title": "Intro call", "template": None, "id": None}],
                            schema=STEP_SCHEMA)
    by_id = {v: k for k, v in choices.items()}
    return pl.DataFrame([{"kind": r["kind"], "day_offset": r["day_offset"], "title": r["title"],
                          "template": by_id.get(r["template_id"]), "id": r["id"]} for r in steps.iter_rows(named=True)],
                        schema=STEP_SCHEMA)


def step_defs(edited: pl.DataFrame, choices: dict[str, int]) -> list[dict[str, Any]]:
    """The editor's rows as save_sequence's steps, in row order; fully blank rows are left out."""
    out = []
    for r in edited.iter_rows(named=True):
        if not any(r.get(k) not in (None, "") for k in ("kind", "day_offset", "title", "template")):
            continue
        out.append({"kind": r.get("kind"), "day_offset": r.get("day_offset"), "title": r.get("title"),
                    "template_id": choices.get(r.get("template")) if r.get("template") else None, "id": r.get("id")})
    return out


def _editor(actor: Actor, stored: pl.DataFrame, team: int | None) -> None:
    st.markdown("**New sequence, or edit one**")
    names = dict(zip(stored["id"].to_list(), stored["name"].to_list(), strict=True))
    sequence_id = st.selectbox("Sequence to edit", [_NEW, *names], key="act.seq.edit.pick",
                               format_func=lambda i: "A new sequence" if i == _NEW else names[i])
    existing = None if sequence_id == _NEW else stored.filter(pl.col("id") == sequence_id).row(0, named=True)
    owner_team = team if existing is None else existing["team_id"]
    if existing is not None:
        st.caption(f"It belongs to {existing['team'] or 'the whole store'}. Steps keep their results through an "
                   "edit; an enrollment waiting for step 3 runs whatever step 3 is after it.")
    choices = template_choices(actor, owner_team)
    steps = None if existing is None else cached(sequences.steps, actor, sequence_id)
    key = f"act.seq.edit.{sequence_id}"
    with st.form(key):
        name = st.text_input("Name", value=existing["name"] if existing else "", key=f"{key}.name",
                             max_chars=sequences.MAX_NAME, placeholder="e.g. New inbound lead")
        description = st.text_area("Description", value=(existing["description"] or "") if existing else "",
                                   key=f"{key}.description", max_chars=sequences.MAX_DESCRIPTION, height=68)
        c1, c2 = st.columns([3, 1])
        pause_on = c1.multiselect("Pause an enrollment by itself on", list(sequences.PAUSE_TRIGGERS),
                                  default=[t for t in (existing["pause_on"] if existing else
                                                       sequences.DEFAULT_PAUSE_ON).split(",") if t],
                                  format_func=TRIGGER_LABELS.get, key=f"{key}.pause_on")
        active = c2.toggle("On", value=existing["active"] if existing else True, key=f"{key}.active",
                           help="A sequence that is off enrolls nobody, and its active enrollments pause.")
        st.caption("Steps run in the order of the rows, each on its day after enrollment (day 0: the day the lead "
                   "is enrolled; days never go down). An email step needs an email template; a call or task step "
                   "needs a title.")
        edited = st.data_editor(
            editor_rows(steps, choices), num_rows="dynamic", hide_index=True, width="stretch", key=f"{key}.steps",
            column_order=("kind", "day_offset", "title", "template"),
            column_config={
                "kind": st.column_config.SelectboxColumn("kind", options=list(sequences.KINDS), required=True),
                "day_offset": st.column_config.NumberColumn("day", min_value=0, max_value=sequences.MAX_DAY_OFFSET,
                                                            step=1, format="%d", required=True),
                "title": st.column_config.TextColumn("title", max_chars=sequences.MAX_TITLE),
                "template": st.column_config.SelectboxColumn("email template (email steps)", options=list(choices)),
            })
        saved = st.form_submit_button("Save sequence", icon=":material/save:", type="primary")
    if not choices:
        st.caption("No stored email template can be used by this team's email steps yet: add one in the Email tab, "
                   "or the built-in ones above.")
    if not saved:
        return
    try:
        new_id = sequences.save_sequence(current_store(), actor, existing["id"] if existing else None, name,
                                         description, owner_team, pause_on, step_defs(edited, choices), active,
                                         clock.now())
    except (ValueError, AccessDenied, StoreError) as exc:
        show_problem(exc)
    else:
        st.session_state[_PICK_NEXT] = new_id
        _done(f"Saved the sequence “{name.strip()}” with {len(step_defs(edited, choices))} steps.")
