"""The Admin page's "Jobs" tab: the scheduler's state, each job's last and next run, failures, run now,
how fresh the derived figures are, and the run history. It refreshes itself every few seconds."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import streamlit as st

from flashdash import admin, clock, jobs_log, schedule
from flashdash.access import Actor
from flashdash.store import StoreError
from flashdash.ui import components as ui
from flashdash.ui.store import current_store, show_store_error

REFRESH_SECONDS = 5
STATUS_ICONS = {"ok": "✓ ok", "failed": "✗ failed", "interrupted": "⚠ interrupted", "running": "… running",
                "never run": "never run"}


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment:%d %b %H:%M}"


def render(actor: Actor) -> None:
    _run_now(actor)
    _live(actor)


@st.fragment(run_every=REFRESH_SECONDS)
def _live(actor: Actor) -> None:
    _state(actor)
    _history(actor)


def _state(actor: Actor) -> None:
    try:
        data = admin.jobs_overview(current_store(), actor, clock.now())
    except StoreError as exc:
        show_store_error(exc)
        return
    status = data["scheduler"]
    if status["running"]:
        st.success(f"The scheduler is running (pid {status['pid']}, since {_when(status['started_at'])}).",
                   icon=":material/schedule:")
    else:
        st.warning("The scheduler is not running: scheduled jobs and requested runs wait until it starts. "
                   "`make run` starts it beside the app; on its own: `python -m jobs`.", icon=":material/pause_circle:")
    jobs = data["jobs"]
    for job in jobs.filter(pl.col("last_status").is_in(["failed", "interrupted"])).iter_rows(named=True):
        again = f"it runs again {_when(job['next_run'])}" if job["next_run"] else "it is not scheduled to run again"
        st.error(f"**{job['job']}** {job['last_status']} at {_when(job['last_started'])} "
                 f"({job['failures_since_ok']} run(s) since its last success, {_when(job['last_ok'])}). "
                 f"Its previous results stay in place; {again}.", icon=":material/error:")
        with st.expander(f"What {job['job']} reported"):
            st.code(job["error"] or "(no error text)", language=None)
    shown = jobs.with_columns(
        pl.col("last_status").replace_strict(STATUS_ICONS, default=pl.col("last_status")).alias("last run"),
        pl.when(pl.col("requested")).then(pl.lit("requested, waiting for the scheduler"))
        .otherwise(pl.col("next_run").dt.strftime("%d %b %H:%M").fill_null("not scheduled")).alias("next run"),
    ).select("job", "schedule", "last run", "last_started", "last_seconds", "rows_written", "last_ok",
             "failures_since_ok", "next run", "what")
    st.dataframe(shown, hide_index=True, width="stretch", key="admin.jobs.table", column_config={
        "last_started": st.column_config.DatetimeColumn("started", format="D MMM HH:mm:ss"),
        "last_seconds": st.column_config.NumberColumn("took (s)", format="%.2f"),
        "rows_written": st.column_config.NumberColumn("rows"),
        "last_ok": st.column_config.DatetimeColumn("last success", format="D MMM HH:mm"),
        "failures_since_ok": st.column_config.NumberColumn("failures since"),
    })
    st.subheader("How fresh the derived figures are")
    fresh = data["freshness"].with_columns(
        pl.when(pl.col("stale")).then(pl.lit("⚠ stale")).otherwise(pl.lit("fresh")).alias("state"))
    st.dataframe(fresh.select("figure", "state", "as_of", "due_by", "job", "note"), hide_index=True, width="stretch",
                 key="admin.jobs.freshness", column_config={
                     "as_of": st.column_config.DatetimeColumn("as of", format="D MMM HH:mm"),
                     "due_by": st.column_config.DatetimeColumn("next refresh due", format="D MMM HH:mm")})
    st.caption(f"Refreshes every {REFRESH_SECONDS} s. A figure is stale "
               f"{int(schedule.STALE_GRACE.total_seconds() // 60)} minutes after its job should have refreshed it.")


def _run_now(actor: Actor) -> None:
    with st.form("admin.jobs.run_form", border=False):
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        name = c1.selectbox("Run a job now", list(schedule.JOBS), key="admin.jobs.run_name",
                            format_func=lambda n: f"{n}: {schedule.JOBS[n].description}")
        asked = c2.form_submit_button("Run now", icon=":material/play_arrow:", key="admin.jobs.run")
    if asked:
        store = current_store()
        try:
            schedule.request_run(store, actor, name, clock.now())
        except StoreError as exc:
            show_store_error(exc)
            return
        if schedule.scheduler_status(store)["running"]:
            st.toast(f"{name} requested: the scheduler starts it within {schedule.POLL_SECONDS:.0f} s "
                     "(after a run in progress).", icon=":material/play_arrow:")
        else:
            st.warning(f"{name} is requested, but the scheduler is not running: it runs once the scheduler "
                       f"starts. To run it now from a shell: `python -m jobs run {name}`.", icon=":material/pause_circle:")


def _history(actor: Actor) -> None:
    st.subheader("Run history")
    c1, c2 = st.columns(2)
    job = c1.selectbox("Job", ["", *schedule.JOBS], format_func=lambda n: n or "every job", key="admin.jobs.h_job")
    status = c2.selectbox("Status", ["", *jobs_log.STATUSES], format_func=lambda s: s or "any status",
                          key="admin.jobs.h_status")
    try:
        runs = admin.job_history(current_store(), actor, job, status)
    except StoreError as exc:
        show_store_error(exc)
        return
    if runs.is_empty():
        st.info("No run matches. `make run` starts the scheduler; a job can also run now from above.",
                icon=":material/history:")
        return
    runs = runs.with_columns(pl.col("status").replace_strict(STATUS_ICONS, default=pl.col("status")))
    ui.table(runs, "job_runs", key="admin.jobs.history")
