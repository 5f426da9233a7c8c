"""The Admin page's Jobs tab (scheduler state, failures, run now, freshness, history) and the scores' freshness
on the Predictive page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flashdash import schedule
from flashdash.store import Store
from jobs import scheduler
from tests.conftest import NOW
from tests.pages.apptest import open_page, texts


@pytest.fixture
def store(live_store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    for spec in schedule.JOBS.values():
        monkeypatch.delenv(spec.env, raising=False)
    return live_store


def _table(at, column: str):
    """The table on the page with this column (AppTest finds dataframes by content, not by key)."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def test_the_jobs_tab_says_the_scheduler_is_stopped_and_lists_every_job(store: Store) -> None:
    at = open_page("admin", "admin")
    assert not at.exception
    assert "The scheduler is not running" in texts(at)
    jobs = _table(at, "failures_since_ok")
    assert list(jobs["job"]) == list(schedule.JOBS)
    assert set(jobs["last run"]) == {"never run"}
    fresh = _table(at, "figure")
    assert list(fresh["figure"]) == ["Lead scores", "Conversion model", "Revenue forecast", "Pipeline velocity",
                                     "Deal risk", "Store statistics"]


def test_a_failed_job_is_highlighted_with_its_error_and_the_history_filters_to_it(store: Store) -> None:
    with store.write() as con:
        con.execute("INSERT INTO job_runs (id, job, started_at, finished_at, status, error, trigger) VALUES "
                    "(nextval('job_runs_id_seq'), 'retrain_conversion', ?, ?, 'ok', NULL, 'schedule'), "
                    "(nextval('job_runs_id_seq'), 'retrain_conversion', ?, ?, 'failed', "
                    "'RuntimeError: the model server is on fire', 'schedule')",
                    [NOW - timedelta(days=1), NOW - timedelta(days=1), NOW, NOW + timedelta(seconds=3)])
    at = open_page("admin", "admin")
    assert not at.exception
    (alert,) = [e.value for e in at.error]
    assert alert.startswith("**retrain_conversion** failed at 30 Jun 12:00")
    assert "1 run(s) since its last success, 29 Jun 12:00" in alert and "previous results stay in place" in alert
    assert any("the model server is on fire" in c.value for c in at.code)
    jobs = _table(at, "failures_since_ok")
    assert jobs.set_index("job").loc["retrain_conversion", "last run"] == "✗ failed"

    at.selectbox(key="admin.jobs.h_status").select("failed").run()
    history = _table(at, "requested_by")
    assert list(history["status"]) == ["✗ failed"] and list(history["job"]) == ["retrain_conversion"]


def test_run_now_queues_the_job_and_says_the_scheduler_must_be_started(store: Store) -> None:
    at = open_page("admin", "admin")
    at.selectbox(key="admin.jobs.run_name").select("score_leads")
    at.button(key="admin.jobs.run").click().run()
    assert not at.exception
    assert [r["job"] for r in schedule.pending_requests(store)] == ["score_leads"]
    assert any("score_leads is requested, but the scheduler is not running" in w.value for w in at.warning)
    jobs = _table(at, "failures_since_ok")
    assert jobs.set_index("job").loc["score_leads", "next run"] == "requested, waiting for the scheduler"


def test_stored_scores_say_when_they_were_computed_and_warn_once_overdue(store: Store,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert scheduler.run_job("score_leads", store, NOW)
    at = open_page("predictive", "manager")
    assert not at.exception
    assert "Lead scores as of 30 Jun 12:00 (the score_leads job); next refresh due 30 Jun 12:15." in texts(at)
    assert not at.warning

    monkeypatch.setenv("FLASHDASH_NOW", (NOW + timedelta(hours=2)).isoformat())
    at = open_page("predictive", "manager")
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith("These scores may be out of date: lead scores as of 30 jun 12:00, the score_leads "
                              "job should have refreshed it by 30 Jun 12:15")


def test_scores_never_stored_are_computed_as_the_page_opens(store: Store) -> None:
    at = open_page("predictive", "analyst")
    assert not at.exception and not at.warning
    assert "computed as the page opens: the score_leads job has not stored any yet" in texts(at)
