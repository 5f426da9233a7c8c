"""The app and the scheduler share the store as real processes: nothing lost, no lock error reaching a user,
every job completing; a scheduler killed mid-job leaves nothing half-done and the next run recovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from benchmarks import coexistence
from flashdash import schedule
from flashdash.store import Store
from jobs import scheduler

REPO = Path(__file__).resolve().parents[2]
NOW = "2026-06-30T12:00:00"
LATER = "2026-06-30T13:00:00"  # the clock of the run after the kill, so that its scores can be told apart


# ---------------------------------------------------------------- the app and the scheduler together


def test_the_app_and_the_scheduler_share_the_store_without_losing_a_write_or_showing_a_lock_error(tmp_path):
    out = coexistence.run_scenario(tmp_path, seconds=15, writers=4, readers=2, scale="XS")

    report = coexistence.report(out)
    checks = out["checks"]
    assert checks["app_finished"]["ok"], report
    assert out["writes"] > 0 and out["reads"] > 0, report
    assert checks["no_user_error"]["ok"], report
    assert checks["no_lost_write"]["ok"], report
    assert checks["jobs_ok"]["ok"], report
    assert checks["jobs_met_the_app"]["ok"], report
    assert out["passed"], report


def _summary(ops: list[dict], job_rows: list[tuple], found: int | None = None, grew: int | None = None) -> dict:
    ids = [op["id"] for op in ops if op["kind"] == "write" and "error" not in op]
    lines = []
    for n, (_, job, _, _, _) in enumerate(job_rows):
        lines += [(100.0 + n, f"x INFO jobs: {job}: started (run {n + 1}, schedule)"),
                  (100.5 + n, f"x INFO jobs: {job}: ok (1 rows written)")]
    result = {"started": 99.0, "ended": 200.0, "lock_timeout": 15.0, "ops": ops, "lock_waits": [["write", 0.0, 1]]}
    return coexistence.summarise(
        result, app_exit=0, app_log="", sched_exit=0, sched_lines=lines, job_rows=job_rows, ids=ids,
        found=len(ids) if found is None else found, activities_before=10,
        activities_after=10 + (len(ids) if grew is None else grew), config={})


ALL_OK = [(n, name, "ok", None, "schedule") for n, name in enumerate(scheduler.JOBS, 1)]


def _write(op_id: int | None = None, error: str | None = None) -> dict:
    op = {"kind": "write", "user": "rep", "what": "log_activity", "at": 100.0, "latency": 0.02, "id": op_id}
    if error:
        op["error"] = {"type": error, "message": "The store at x is busy", "trace": ""}
    return op


def test_the_checks_pass_a_clean_run():
    out = _summary([_write(1), _write(2)], ALL_OK)

    assert out["passed"], out["checks"]


def test_a_store_locked_error_reaching_a_writer_fails_the_run():
    out = _summary([_write(1), _write(error="StoreLocked")], ALL_OK)

    assert not out["checks"]["no_user_error"]["ok"]
    assert "StoreLocked" in out["checks"]["no_user_error"]["detail"]
    assert not out["passed"]


def test_a_write_whose_id_is_not_in_the_store_fails_the_run():
    out = _summary([_write(1), _write(2)], ALL_OK, found=1, grew=1)

    assert not out["checks"]["no_lost_write"]["ok"]
    assert not out["passed"]


def test_a_failed_or_missing_job_run_fails_the_run():
    n, job, *_ = ALL_OK[-1]
    failed = [*ALL_OK[:-1], (n, job, "failed", "StoreLocked: busy", "schedule")]

    assert not _summary([_write(1)], failed)["checks"]["jobs_ok"]["ok"]
    assert not _summary([_write(1)], ALL_OK[:-1])["checks"]["jobs_ok"]["ok"]


# ---------------------------------------------------------------- taking turns with the store


HOLDER = """
import sys, threading, time
from pathlib import Path
from flashdash.store import Store

store, stop = Store(sys.argv[1]), Path(sys.argv[2])
reads, errors = [0], []

def read():  # back to back, so that some thread of this process always has the store open
    while not stop.exists():
        try:
            with store.read() as con:
                con.execute("SELECT count(*) FROM range(2000000)").fetchall()
            reads[0] += 1
        except Exception as exc:
            errors.append(repr(exc))

threads = [threading.Thread(target=read) for _ in range(4)]
for t in threads:
    t.start()
print("reading", flush=True)
for t in threads:
    t.join()
print(reads[0], errors, flush=True)
"""


def test_a_process_that_never_lets_go_of_the_store_still_gives_another_process_its_turn(tmp_path):
    store = Store(tmp_path / "s.duckdb", lock_timeout=5)
    store.ensure_schema()
    stop = tmp_path / "stop"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store.path), str(stop)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        assert holder.stdout.readline().strip() == "reading"
        for n in range(10):  # each raises StoreLocked if the holder's threads never leave a gap long enough
            with store.write() as con:
                con.execute("INSERT INTO settings (key, value) VALUES (?, 'x')", [f"turn-{n}"])
    finally:
        stop.touch()
        out, _ = holder.communicate(timeout=120)
    reads, errors = out.strip().split(" ", 1)
    assert holder.returncode == 0 and errors == "[]" and int(reads) > 0
    with store.read() as con:
        assert con.execute("SELECT count(*) FROM settings WHERE key LIKE 'turn-%'").fetchone() == (10,)


# ---------------------------------------------------------------- a scheduler killed mid-job


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e.update(FLASHDASH_DB=str(tmp_path / "store.duckdb"), FLASHDASH_MODELS=str(tmp_path / "models"),
             FLASHDASH_NOW=NOW, PYTHONUNBUFFERED="1")
    for name in ("FLASHDASH_FAULT", "FLASHDASH_FAULT_FILE", "FLASHDASH_LOCK_TIMEOUT"):
        e.pop(name, None)
    for spec in schedule.JOBS.values():
        e.pop(spec.env, None)
    return e


def python(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def scores(store: Store) -> list[tuple]:
    with store.read() as con:
        return con.execute("SELECT * FROM lead_scores ORDER BY lead_id").fetchall()


def job_runs(store: Store) -> list[dict]:
    keys = ("id", "job", "status", "started_at", "finished_at", "rows_written", "error", "pid")
    with store.read() as con:
        rows = con.execute(f"SELECT {', '.join(keys)} FROM job_runs ORDER BY id").fetchall()
    return [dict(zip(keys, r, strict=True)) for r in rows]


def wait_for_file(path: Path, proc: subprocess.Popen, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, _ = proc.communicate()
            pytest.fail(f"the job exited {proc.returncode} before reaching its fault point:\n{out}")
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"the job did not reach its fault point within {timeout:.0f} s")


def test_a_scheduler_killed_mid_write_leaves_the_old_scores_and_the_next_run_recovers(env, tmp_path):
    built = python("-m", "flashdash", "demo", "--scale", "XS", "--as-of", NOW[:16], "--no-train", env=env)
    assert built.returncode == 0, built.stderr
    first = python("-m", "jobs", "run", "score_leads", env=env)
    assert first.returncode == 0, first.stderr
    store = Store(env["FLASHDASH_DB"])
    scores_before, runs_before = scores(store), job_runs(store)
    assert scores_before and [r["status"] for r in runs_before] == ["ok"]

    marker = tmp_path / "fault.pid"
    faulty = {**env, "FLASHDASH_FAULT": "score_leads.write=pause", "FLASHDASH_FAULT_FILE": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "jobs", "run", "score_leads"], cwd=REPO, env=faulty,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    try:
        # Paused inside its write: the old scores deleted and the new ones inserted, nothing committed.
        assert wait_for_file(marker, proc) == str(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    assert scores(store) == scores_before
    runs = job_runs(store)
    assert runs[: len(runs_before)] == runs_before
    (killed,) = runs[len(runs_before):]
    assert (killed["job"], killed["status"], killed["pid"], killed["finished_at"]) == \
        ("score_leads", "running", proc.pid, None)

    again = python("-m", "jobs", "run", "score_leads", env={**env, "FLASHDASH_NOW": LATER})

    assert again.returncode == 0, again.stderr
    runs = job_runs(store)
    assert runs[: len(runs_before)] == runs_before
    interrupted, recovered = runs[len(runs_before):]
    assert interrupted["id"] == killed["id"] and interrupted["status"] == "interrupted"
    assert interrupted["finished_at"] == datetime.fromisoformat(LATER)
    assert interrupted["error"].startswith("Interrupted:") and f"pid {proc.pid}" in interrupted["error"]
    assert recovered["status"] == "ok" and recovered["error"] is None
    after = scores(store)
    assert len(after) == recovered["rows_written"] == len(scores_before)
    assert [r[0] for r in after] == [r[0] for r in scores_before]  # the same open leads, each once
    with store.read() as con:
        stamps = con.execute("SELECT DISTINCT scored_at FROM lead_scores").fetchall()
    assert stamps == [(datetime.fromisoformat(LATER),)]
