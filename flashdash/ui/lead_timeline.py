"""The Activities page's Timeline tab: one lead's communication history (its submission, stage changes,
activities, emails with their opens and clicks, and tasks), newest first, filterable by kind."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import streamlit as st

from flashdash import clock, timeline, worklist
from flashdash.access import AccessDenied, Actor
from flashdash.qualification import STAGE_LABELS
from flashdash.store import StoreError
from flashdash.submissions import md_escape
from flashdash.ui import components as ui
from flashdash.ui import record_history
from flashdash.ui.store import cached, show_problem

LIST_LIMIT = 100
SAME_MOMENT = ("activity", "email", "task", "stage", "submission")  # the newest-first order of one moment
KIND_ICONS = {"submission": ":material/assignment:", "stage": ":material/swap_horiz:",
              "activity": ":material/forum:", "email": ":material/forward_to_inbox:", "task": ":material/task_alt:"}
ACTIVITY_ICONS = {"Call": ":material/call:", "Email": ":material/mail:", "Meeting": ":material/groups:",
                  "Demo": ":material/co_present:"}
KIND_LABELS = {"submission": "Submission", "stage": "Stage", "activity": "Activities", "email": "Emails",
               "task": "Tasks"}
COLUMNS = {
    "kind": st.column_config.TextColumn("kind", width="small"),
    "when": st.column_config.DatetimeColumn("when", format="D MMM YYYY, HH:mm", width="small"),
    "what": st.column_config.TextColumn("what", width="medium"),
    "detail": st.column_config.TextColumn("detail", width="large"),
    "who": st.column_config.TextColumn("who", width="small"),
}


def icon(kind: str, title: str | None) -> str:
    """An event's icon: its kind's, and for an activity its type's (a phone for a call, a screen for a demo)."""
    if kind == "activity" and title:
        return ACTIVITY_ICONS.get(title.split(":", 1)[0], KIND_ICONS["activity"])
    if kind == "task" and title and title.startswith("Task overdue"):
        return ":red[:material/alarm:]"
    return KIND_ICONS.get(kind, "•")


def newest_first(events: pl.DataFrame, kinds: list[str] | tuple[str, ...]) -> pl.DataFrame:
    """The kinds picked, newest first. At one moment what the person did (an activity,
    an email) leads and what followed from it (a task done with it, the stage it moved the lead to) comes under."""
    rank = {k: i for i, k in enumerate(SAME_MOMENT)}
    picked = events.with_row_index("_seq").filter(pl.col("kind").is_in(list(kinds)))
    picked = picked.with_columns(pl.col("kind").replace_strict(rank, default=len(rank), return_dtype=pl.Int8)
                                 .alias("_rank"))
    picked = picked.sort(["at", "_rank", "_seq"], descending=[True, False, True], nulls_last=True)
    return picked.select(
        "kind", pl.col("at").alias("when"), pl.col("title").alias("what"), "detail", "who")


def split(table: pl.DataFrame, now: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The events still to come (open tasks' due times), soonest first, and those that happened, newest first."""
    ahead = table.filter(pl.col("when") > now)
    return ahead.reverse(), table.filter(pl.col("when") <= now)


def event_markdown(row: dict) -> str:
    """One event of the list: icon, what, when and who on the first line; the detail under it."""
    when = f"{row['when']:%d %b %Y, %H:%M}" if row["when"] is not None else "no date"
    who = f" · {md_escape(row['who'])}" if row["who"] else ""
    text = f"{icon(row['kind'], row['what'])} **{md_escape(row['what'] or '')}** :gray[· {when}{who}]"
    if row["detail"]:
        detail = " / ".join(row["detail"].splitlines())  # notes keep their lines; the list keeps one
        text += f"  \n:gray[{md_escape(detail)}]"
    return text


def _sync_ref() -> None:
    """Show the lead picked elsewhere (a queue task, an activity just logged), when that changes."""
    lead_id = st.session_state.get("act.lead_id")
    if lead_id is not None and lead_id != st.session_state.get("act.timeline.ref_from"):
        st.session_state["act.timeline.ref_from"] = lead_id
        st.session_state["act.timeline.ref"] = str(lead_id)


def render(actor: Actor) -> None:
    _sync_ref()
    c1, c2 = st.columns([1, 2])
    ref = c1.text_input("Lead id or external id", key="act.timeline.ref", placeholder="e.g. 1962 or FL-001962").strip()
    if not ref:
        st.info("Type a lead's id or external id to see everything that happened to it; picking a task in the "
                "Queue tab or logging an activity opens its lead here.", icon=":material/timeline:")
        return
    lead = cached(worklist.lead_ref, actor, ref)
    if lead is None:
        st.warning(f"Lead “{md_escape(ref)}” is not in your book: there is no such lead, or it is not yours to see.",
                   icon=":material/person_off:")
        return
    with c2:
        st.markdown(f"**{md_escape(lead['merchant_name'] or '(no name)')}** · lead {lead['id']} · "
                    f"{STAGE_LABELS.get(lead['status'], lead['status'])} · owner "
                    f"{md_escape(lead['owner'] or '(unassigned)')}")
    now = clock.now().replace(second=0, microsecond=0)
    try:
        events = cached(timeline.timeline, actor, lead["id"], now)
    except (AccessDenied, StoreError) as exc:
        show_problem(exc)
        return
    counts = events.group_by("kind").len()
    per_kind = dict(zip(counts["kind"].to_list(), counts["len"].to_list(), strict=True))
    kinds = st.pills("Show", timeline.KINDS, selection_mode="multi", default=list(timeline.KINDS),
                     key="act.timeline.kinds",
                     format_func=lambda k: f"{KIND_ICONS[k]} {KIND_LABELS[k]} ({per_kind.get(k, 0)})")
    table = newest_first(events, kinds or [])
    if table.is_empty():
        st.info("Nothing of the kinds picked happened to this lead; pick more kinds above.",
                icon=":material/filter_alt_off:")
        return
    ahead, past = split(table, now)
    if ahead.height:
        st.markdown("**Coming up**")
        with st.container(key="act.timeline.ahead", gap="small"):
            for row in ahead.iter_rows(named=True):
                st.markdown(event_markdown(row))
    st.markdown(f"**What happened** · {past.height:,} events, newest first" +
                (f"; the latest {LIST_LIMIT} are listed, the table has them all" if past.height > LIST_LIMIT else ""))
    with st.container(key="act.timeline.events", gap="small"):
        for row in past.head(LIST_LIMIT).iter_rows(named=True):
            st.markdown(event_markdown(row))
    with st.expander("As a table, with downloads"):
        ui.table(table, f"timeline-lead-{lead['id']}", key="act.timeline", column_config=COLUMNS)
    record_history.render(actor, "lead", lead["id"], "act.timeline")
