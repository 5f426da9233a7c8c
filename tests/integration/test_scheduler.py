"""The scheduler as real processes on a real store: one-off runs, the job_runs record, the lock, shutdown."""

from __future__ import annotations

import fcntl
import importlib.util
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from flashdash import jobs_log, schedule
from flashdash.access import Actor
from flashdash.schedule import lock_path
from flashdash.store import Store
from jobs import scheduler

REPO = Path(__file__).resolve().parents[2]
NOW = "2026-06-30T12:00:00"


def _missing_domain() -> str | None:
    for module in ("flashdash.demo", "flashdash.predictive"):
        if importlib.util.find_spec(module) is None:
            return f"{module} does not exist yet"
    from flashdash import predictive

    if not hasattr(predictive, "train"):
        return "flashdash.predictive.train does not exist yet"
    return None


needs_demo = pytest.mark.skipif(_missing_domain() is not None, reason=f"needs the demo generator and the "
                                f"conversion model: {_missing_domain()}")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e.update(FLASHDASH_DB=str(tmp_path / "store.duckdb"), FLASHDASH_MODELS=str(tmp_path / "models"),
             FLASHDASH_NOW=NOW, PYTHONUNBUFFERED="1")
    for spec in schedule.JOBS.values():
        e.pop(spec.env, None)
    return e


def all_off(env: dict[str, str]) -> None:
    """Every job's schedule off in `env`: only what a test asks for runs."""
    env.update({spec.env: "off" for spec in schedule.JOBS.values()})


def python(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def make_store(env: dict[str, str], demo: bool) -> Store:
    if demo:
        done = python("-m", "flashdash", "demo", "--scale", "XS", "--as-of", NOW, "--no-train", env=env)
    else:
        done = python("-m", "flashdash", "init", env=env)
    assert done.returncode == 0, done.stderr
    return Store(env["FLASHDASH_DB"])


def runs(store: Store) -> list[dict]:
    with store.read() as con:
        rows = con.execute("SELECT job, started_at, finished_at, status, rows_written, error FROM job_runs "
                           "ORDER BY id").fetchall()
    keys = ("job", "started_at", "finished_at", "status", "rows_written", "error")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def start_scheduler(env: dict[str, str], log: Path) -> subprocess.Popen:
    out = log.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "jobs"], cwd=REPO, env=env, stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out.close()
    return proc


def wait_for_lock_holder(lock: Path, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the scheduler exited {proc.returncode}:\n{log.read_text()}")
        if lock.exists() and lock.read_text().strip() == str(proc.pid):
            return
        time.sleep(0.1)
    pytest.fail(f"the scheduler did not take its lock in {timeout:.0f} s:\n{log.read_text()}")


def stop(proc: subprocess.Popen, timeout: float = 60) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"the scheduler did not stop within {timeout:.0f} s of SIGTERM")


def lock_is_free(lock: Path) -> bool:
    with lock.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True


@needs_demo
def test_running_retrain_conversion_once_exits_0_and_records_an_ok_run(env):
    store = make_store(env, demo=True)

    done = python("-m", "jobs", "run", "retrain_conversion", env=env)

    assert done.returncode == 0, done.stderr
    (run,) = runs(store)
    assert run["job"] == "retrain_conversion"
    assert run["status"] == "ok", run["error"]
    assert run["started_at"] == datetime.fromisoformat(NOW)
    assert run["finished_at"] >= run["started_at"]
    with store.read() as con:
        cards = con.execute("SELECT count(*) FROM model_cards").fetchone()[0]
    assert run["rows_written"] == cards and run["error"] is None  # the global card and one per vertical
    assert store.scalar("job_model_card_count", model="conversion") == 1


def test_refresh_aggregates_checkpoints_the_store_and_records_it(env):
    store = make_store(env, demo=False)

    done = python("-m", "jobs", "--db", env["FLASHDASH_DB"], "run", "refresh_aggregates", env=env)

    assert done.returncode == 0, done.stderr
    (run,) = runs(store)
    assert (run["job"], run["status"], run["rows_written"], run["error"]) == ("refresh_aggregates", "ok", 0, None)


def test_a_failing_job_is_recorded_as_failed_with_its_error(env, monkeypatch):
    store = make_store(env, demo=False)

    def explode(store: Store, now: datetime) -> int:
        raise RuntimeError("the model server is on fire")

    monkeypatch.setitem(scheduler.RUNS, "explode", (explode, None))

    assert scheduler.run_job("explode", store, datetime.fromisoformat(NOW)) is False
    (run,) = jobs_log.last_runs(store).iter_rows(named=True)
    assert run["status"] == "failed" and run["finished_at"] is not None
    assert run["error"].startswith("RuntimeError: the model server is on fire")


def test_a_second_scheduler_refuses_to_start_and_sigterm_stops_the_first(env, tmp_path):
    make_store(env, demo=False)
    all_off(env)  # nothing due at start: this test is about the lock
    lock = Path(env["FLASHDASH_DB"] + ".jobs.lock")
    first = start_scheduler(env, tmp_path / "first.log")
    try:
        wait_for_lock_holder(lock, first, tmp_path / "first.log")

        second = python("-m", "jobs", env=env, timeout=60)

        assert second.returncode == 1
        assert "already running" in second.stdout and f"pid {first.pid}" in second.stdout
        assert first.poll() is None, "the first scheduler must keep running"
    finally:
        code = stop(first)
    assert code == 0, (tmp_path / "first.log").read_text()
    assert "scheduler stopped" in (tmp_path / "first.log").read_text()
    assert lock_is_free(lock)


def test_the_scheduler_does_not_hold_the_store_while_idle(env, tmp_path):
    store = make_store(env, demo=False)
    all_off(env)  # idle throughout
    first = start_scheduler(env, tmp_path / "sched.log")
    try:
        wait_for_lock_holder(Path(env["FLASHDASH_DB"] + ".jobs.lock"), first, tmp_path / "sched.log")
        # Another process can write while the scheduler waits for its next run (a short lock timeout: no retry).
        with Store(store.path, lock_timeout=0.5).write() as con:
            con.execute("SELECT 1").fetchall()
    finally:
        assert stop(first) == 0


@needs_demo
def test_a_store_without_a_model_card_is_trained_when_the_scheduler_starts(env, tmp_path):
    store = make_store(env, demo=True)
    log = tmp_path / "sched.log"
    proc = start_scheduler(env, log)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(r["status"] != "running" for r in runs(store)):
            assert proc.poll() is None, log.read_text()
            time.sleep(0.5)
    finally:
        assert stop(proc) == 0, log.read_text()
    finished = [r for r in runs(store) if r["job"] == "retrain_conversion"]
    assert [r["status"] for r in finished] == ["ok"], log.read_text()


def test_jobs_list_shows_schedules_from_the_environment(env):
    env["FLASHDASH_JOB_REFRESH_CRON"] = "*/5 * * * *"

    done = python("-m", "jobs", "list", env=env, timeout=60)

    assert done.returncode == 0, done.stderr
    assert "retrain_conversion   0 2 * * *" in done.stdout
    assert "refresh_aggregates   */5 * * * *" in done.stdout


def test_a_bad_schedule_is_refused_naming_its_variable(env):
    make_store(env, demo=False)
    env["FLASHDASH_JOB_RETRAIN_CRON"] = "every night"

    done = python("-m", "jobs", env=env, timeout=60)

    assert done.returncode == 2
    assert "FLASHDASH_JOB_RETRAIN_CRON" in done.stderr


def test_a_run_requested_from_the_app_is_started_by_the_scheduler_and_recorded(env, tmp_path):
    store = make_store(env, demo=False)
    all_off(env)
    env["FLASHDASH_JOB_REFRESH_CRON"] = "every 6 hours"
    log = tmp_path / "sched.log"
    proc = start_scheduler(env, log)
    try:
        wait_for_lock_holder(lock_path(store), proc, log)
        schedule.request_run(store, Actor("admin", "Ada", "admin"), "refresh_aggregates", datetime.fromisoformat(NOW))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(r["status"] == "ok" for r in runs(store)):
            assert proc.poll() is None, log.read_text()
            time.sleep(0.3)
        status = schedule.scheduler_status(store)
        listed = python("-m", "jobs", "list", env={**env, "FLASHDASH_JOB_REFRESH_CRON": "0 0 * * *"}, timeout=60)
    finally:
        assert stop(proc) == 0, log.read_text()
    with store.read() as con:
        (row,) = con.execute("SELECT job, status, trigger, requested_by, pid FROM job_runs").fetchall()
    assert row == ("refresh_aggregates", "ok", "requested", "admin", proc.pid)
    assert schedule.pending_requests(store) == []
    assert status["running"] and status["pid"] == proc.pid
    assert status["schedules"]["refresh_aggregates"] == "every 6 hours" and "refresh_aggregates" in status["next_runs"]
    assert f"The scheduler is running (pid {proc.pid})" in listed.stdout
    assert "refresh_aggregates   every 6 hours" in listed.stdout  # the running scheduler's, not the caller's
    assert schedule.scheduler_status(store)["running"] is False  # stopped: its lock and status are gone
