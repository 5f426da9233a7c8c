"""The jobs' work on a real store: stored lead scores, failed and interrupted runs, freshness, requested runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from flashdash import faults, jobs_log, predictive, schedule
from flashdash.access import AccessDenied, Actor
from flashdash.filters import Filters
from flashdash.store import Store, copy_file
from jobs import scheduler
from tests.conftest import NOW

ADMIN = Actor("admin", "Ada Admin", "admin")
EVERYTHING = Filters(start=datetime(2000, 1, 1).date(), end=NOW.date())


@pytest.fixture
def store(demo_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A copy of the trained XS demo store (and its model) that the test may change."""
    copy = tmp_path / "store.duckdb"
    copy_file(demo_store.path, copy)
    shutil.copytree(demo_store.path.parent / "models", tmp_path / "models")
    monkeypatch.setenv("FLASHDASH_MODELS", str(tmp_path / "models"))
    for spec in schedule.JOBS.values():
        monkeypatch.delenv(spec.env, raising=False)
    store = Store(copy)
    store.ensure_schema(NOW)
    # the model file was copied: point the card at the copy, as a model trained for this store would be
    predictive.train(store, NOW)
    return store


def _scores(store: Store) -> pl.DataFrame:
    with store.read() as con:
        return con.sql("SELECT * FROM lead_scores ORDER BY lead_id").pl()


def _open_lead_ids(store: Store) -> set[int]:
    with store.read() as con:
        rows = con.execute("SELECT id FROM leads WHERE status IN ('new', 'mql', 'sql', 'opportunity')").fetchall()
    return {r[0] for r in rows}


def _runs(store: Store) -> list[dict]:
    with store.read() as con:
        return con.sql("SELECT * FROM job_runs ORDER BY id").pl().to_dicts()


def test_scoring_stores_every_open_lead_with_the_latest_model_and_its_factors(store: Store) -> None:
    assert scheduler.run_job("score_leads", store, NOW)
    scores = _scores(store)
    card = predictive.latest_card(store)
    assert set(scores["lead_id"]) == _open_lead_ids(store)
    assert set(scores["card_id"]) == {card["id"]} and set(scores["scored_by"]) == {"model"}
    assert scores["probability"].is_between(0, 1).all() and (scores["scored_at"] == NOW).all()
    assert (scores["raises"].fill_null("") + scores["lowers"].fill_null("")).str.contains("odds").all()
    (run,) = _runs(store)
    assert (run["status"], run["rows_written"], run["trigger"], run["pid"]) == ("ok", scores.height, "command",
                                                                                 os.getpid())


def test_pages_read_the_stored_scores_and_score_only_leads_new_since_live(store: Store) -> None:
    scheduler.run_job("score_leads", store, NOW)
    stored = _scores(store)
    later = NOW + timedelta(hours=1)
    with store.write() as con:  # a lead submitted after the run
        con.execute("INSERT INTO leads (id, merchant_name, channel, interest_level, submitted_at, status) "
                    "VALUES (nextval('leads_id_seq'), 'Brand New Café', 'referral', 'hot', ?, 'new')", [NOW])
        (new_id,) = con.execute("SELECT max(id) FROM leads").fetchone()
    out = predictive.scores(store, ADMIN, EVERYTHING, now=later)
    by_id = {r["id"]: r for r in out.iter_rows(named=True)}
    assert by_id[new_id]["scored_at"] == later and by_id[new_id]["probability"] is not None
    some = stored.row(0, named=True)
    assert by_id[some["lead_id"]]["probability"] == some["probability"]
    assert by_id[some["lead_id"]]["scored_at"] == NOW


def test_a_failed_scoring_run_leaves_the_previous_scores_and_the_next_run_replaces_them(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    scheduler.run_job("score_leads", store, NOW)
    before = _scores(store)

    def fail_midway(name: str) -> None:
        if name == "score_leads.write":  # after the old scores are deleted and the new inserted
            raise OSError("disk full")

    monkeypatch.setattr(faults, "point", fail_midway)
    assert scheduler.run_job("score_leads", store, NOW + timedelta(minutes=15)) is False
    assert _scores(store).equals(before)
    failed = _runs(store)[-1]
    assert failed["status"] == "failed" and failed["error"].startswith("OSError: disk full")
    monkeypatch.undo()

    assert scheduler.run_job("score_leads", store, NOW + timedelta(minutes=30))
    assert set(_scores(store)["scored_at"]) == {NOW + timedelta(minutes=30)}


def test_a_run_left_running_by_a_dead_process_is_closed_as_interrupted_by_the_next_run(store: Store) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    with store.write() as con:
        con.execute("INSERT INTO job_runs (id, job, started_at, status, trigger, pid) VALUES "
                    "(nextval('job_runs_id_seq'), 'retrain_conversion', ?, 'running', 'schedule', ?), "
                    "(nextval('job_runs_id_seq'), 'score_leads', ?, 'running', 'schedule', ?)",
                    [NOW, dead_pid, NOW, os.getppid()])  # the second one's process (our parent) is alive

    assert scheduler.run_job("refresh_aggregates", store, NOW + timedelta(minutes=1))

    runs = {r["id"]: r for r in _runs(store)}
    interrupted, alive, latest = runs[1], runs[2], runs[3]
    assert interrupted["status"] == "interrupted" and f"pid {dead_pid}" in interrupted["error"]
    assert interrupted["finished_at"] == NOW + timedelta(minutes=1)
    assert alive["status"] == "running"
    assert latest["status"] == "ok"
    last = {r["job"]: r for r in jobs_log.last_runs(store).iter_rows(named=True)}
    assert last["retrain_conversion"]["failures_since_ok"] == 1 and last["retrain_conversion"]["last_ok_at"] is None


def test_freshness_follows_the_schedule_and_the_model(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    before = schedule.freshness_of(store, "Lead scores", NOW)
    assert before.stale and before.as_of is None
    scheduler.run_job("score_leads", store, NOW)
    fresh = schedule.freshness_of(store, "Lead scores", NOW + timedelta(minutes=20))
    assert not fresh.stale and fresh.as_of == NOW and fresh.due_by == NOW + timedelta(minutes=15)
    overdue = schedule.freshness_of(store, "Lead scores", NOW + timedelta(minutes=31))
    assert overdue.stale and "should have refreshed it by" in overdue.note
    predictive.train(store, NOW + timedelta(minutes=5))  # a newer model than the one that scored
    behind = schedule.freshness_of(store, "Lead scores", NOW + timedelta(minutes=6))
    assert behind.stale and behind.note == "scored by an older model than the latest one"
    model = schedule.freshness_of(store, "Conversion model", NOW + timedelta(minutes=6))
    assert not model.stale and model.as_of == NOW + timedelta(minutes=5)


def test_a_requested_run_is_queued_audited_and_taken_once(store: Store) -> None:
    path = schedule.request_run(store, ADMIN, "refresh_aggregates", NOW)
    assert path.is_file() and [r["job"] for r in schedule.pending_requests(store)] == ["refresh_aggregates"]
    with store.read() as con:
        audited = con.execute("SELECT actor, action, entity, entity_id FROM audit_log WHERE action = 'run_requested'"
                              ).fetchall()
    assert audited == [("admin", "run_requested", "job", "refresh_aggregates")]
    taken = schedule.take_requests(store)
    assert [(r["job"], r["requested_by"]) for r in taken] == [("refresh_aggregates", "admin")]
    assert schedule.take_requests(store) == [] and schedule.pending_requests(store) == []


def test_only_admins_request_runs_and_only_of_jobs_that_exist(store: Store) -> None:
    with pytest.raises(AccessDenied):
        schedule.request_run(store, Actor("m", "M", "manager", rep_id=1, scope_reps=(1,)), "score_leads", NOW)
    with pytest.raises(ValueError, match="no job named 'mine_bitcoin'"):
        schedule.request_run(store, ADMIN, "mine_bitcoin", NOW)
    assert schedule.pending_requests(store) == []


def test_a_scheduler_that_is_gone_is_reported_as_not_running(store: Store) -> None:
    assert schedule.scheduler_status(store)["running"] is False
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    schedule.lock_path(store).write_text(dead.stdout)  # SIGKILL leaves its pid behind
    schedule.write_status(store, {"pid": int(dead.stdout), "next_runs": {"score_leads": NOW}})
    status = schedule.scheduler_status(store)
    assert status["running"] is False and status["next_runs"] == {}
