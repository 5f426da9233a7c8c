"""Job schedules (crontab or intervals, from the environment) and when a derived figure counts as stale."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from flashdash import schedule
from flashdash.schedule import JobSpec, ScheduleError

SPEC = JobSpec("score_leads", "TEST_SCORE_CRON", "*/15 * * * *", "score", figure="Lead scores")
AT = datetime(2026, 6, 30, 10, 42)


@pytest.fixture(autouse=True)
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_SCORE_CRON", raising=False)


def test_the_default_crontab_applies_until_the_environment_sets_another(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SPEC.schedule() == "*/15 * * * *"
    assert SPEC.next_after(AT) == datetime(2026, 6, 30, 10, 45)
    monkeypatch.setenv("TEST_SCORE_CRON", "0 2 * * *")
    assert SPEC.next_after(AT) == datetime(2026, 7, 1, 2, 0)


def test_a_moment_exactly_on_the_schedule_is_followed_by_the_next_firing() -> None:
    assert SPEC.next_after(datetime(2026, 6, 30, 10, 45)) == datetime(2026, 6, 30, 11, 0)


@pytest.mark.parametrize(("text", "period"), [("every 10 s", timedelta(seconds=10)),
                                              ("every 5 min", timedelta(minutes=5)),
                                              ("EVERY 2 hours", timedelta(hours=2))])
def test_intervals_are_schedules_too(monkeypatch: pytest.MonkeyPatch, text: str, period: timedelta) -> None:
    monkeypatch.setenv("TEST_SCORE_CRON", text)
    assert SPEC.trigger().interval == period
    assert SPEC.next_after(AT) == AT + period


def test_off_disables_a_job_so_it_is_never_due(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SCORE_CRON", "off")
    assert not SPEC.enabled() and SPEC.next_after(AT) is None
    fresh = schedule.judge(SPEC, AT - timedelta(days=30), AT)
    assert not fresh.stale  # not scheduled: nothing says when it should have run


@pytest.mark.parametrize("text", ["every night", "61 * * * *", "every 0 s", "* * *"])
def test_a_schedule_that_cannot_be_read_names_its_variable(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("TEST_SCORE_CRON", text)
    with pytest.raises(ScheduleError, match="TEST_SCORE_CRON"):
        SPEC.trigger()


def test_the_running_schedulers_schedule_wins_over_this_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SCORE_CRON", "0 2 * * *")
    theirs = SPEC.as_scheduled("every 1 min")
    assert theirs.schedule() == "every 1 min" and theirs.next_after(AT) == AT + timedelta(minutes=1)
    assert SPEC.as_scheduled(None) is SPEC


def test_a_figure_never_computed_is_stale_and_says_which_job_computes_it() -> None:
    item = schedule.judge(SPEC, None, AT)
    assert item.stale and item.as_of is None and "score_leads" in item.note
    assert item.caption() == "Lead scores never"


def test_a_figure_is_fresh_until_its_grace_after_the_next_due_run_has_passed() -> None:
    due = datetime(2026, 6, 30, 10, 45)
    assert schedule.judge(SPEC, AT, due + schedule.STALE_GRACE) == schedule.Freshness(
        "Lead scores", "score_leads", AT, due, False, "")
    late = schedule.judge(SPEC, AT, due + schedule.STALE_GRACE + timedelta(seconds=1))
    assert late.stale and "should have refreshed it by 30 Jun 10:45" in late.note
    assert late.caption() == "Lead scores as of 30 Jun 10:42"


def test_scores_from_an_older_model_are_stale_however_recent() -> None:
    item = schedule.judge(SPEC, AT, AT + timedelta(minutes=1), behind_model=True)
    assert item.stale and item.note == "scored by an older model than the latest one"


def test_every_job_names_an_environment_variable_and_a_valid_default() -> None:
    for spec in schedule.JOBS.values():
        assert spec.env.startswith("FLASHDASH_JOB_")
        assert JobSpec(spec.name, "", spec.default, "").trigger() is not None
