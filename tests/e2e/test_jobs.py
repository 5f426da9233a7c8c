"""An admin asks for a job run in the browser and the real scheduler process runs it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flashdash import schedule
from flashdash.store import Store
from flashdash.users import DEMO_USERS
from tests.e2e.conftest import REPO, _tail
from tests.e2e.test_login import expect_no_exception, expect_page, settle, sign_in

pytestmark = pytest.mark.e2e

expect = pytest.importorskip("playwright.sync_api").expect


def requested_runs(db: Path) -> list[tuple]:
    with Store(db).read() as con:  # waits out the server's or the scheduler's moment with the file
        return con.execute("SELECT job, status, trigger, requested_by FROM job_runs WHERE trigger = 'requested'"
                           ).fetchall()


@pytest.fixture
def scheduler(demo_store: Path, e2e_env: dict[str, str], tmp_path: Path):
    """`python -m jobs` beside the server, every schedule off: only what the admin asks for runs."""
    env = {**e2e_env, **{spec.env: "off" for spec in schedule.JOBS.values()}}
    log = tmp_path / "jobs.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "jobs"], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    lock = demo_store.with_name(demo_store.name + ".jobs.lock")
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text().strip() == str(proc.pid)):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the scheduler did not start:\n{_tail(log)}")
        time.sleep(0.1)
    yield proc
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, _tail(log)


def test_an_admin_runs_a_job_now_and_the_scheduler_runs_it(page, server, scheduler, demo_store, screenshot):
    sign_in(page, server, "admin", DEMO_USERS["admin"][1])
    expect_page(page, "Admin")
    settle(page)
    page.get_by_role("tab", name="Jobs", exact=True).click()
    expect(page.get_by_text(f"The scheduler is running (pid {scheduler.pid}")).to_be_visible()
    page.get_by_test_id("stSelectbox").filter(has_text="Run a job now").click()
    page.get_by_role("option", name="refresh_aggregates", exact=False).click()
    page.get_by_role("button", name="Run now").click()
    expect(page.get_by_text("refresh_aggregates requested: the scheduler starts it")).to_be_visible()

    deadline = time.monotonic() + 30
    # until the requested run has finished (its row is written 'running' when it starts)
    while time.monotonic() < deadline and not [r for r in requested_runs(demo_store) if r[1] != "running"]:
        time.sleep(0.3)
    assert requested_runs(demo_store) == [("refresh_aggregates", "ok", "requested", "admin")]
    page.wait_for_timeout(6000)  # the tab refreshes itself every 5 s
    expect_no_exception(page)
    screenshot(page, "admin-jobs")
