"""The app and the scheduler on one store at once: python -m benchmarks.coexistence [--seconds 60] [--writers 4]
[--readers 2] [--scale XS|S] [--keep DIR] [--scheduler-first] [--json].

Builds a demo store in a temporary folder and starts two real processes on it: an "app" (this module's
hidden `app` command: W writer threads logging activities as rep, manager and admin with a person's think
time between clicks, R reader threads reading dashboards as every role) and the scheduler (`python -m
jobs`) with schedules seconds apart. DuckDB lets one process hold the file at a time, so the two take
turns through `Store`. When the app's time is up the scheduler is stopped with SIGTERM and the run is
checked: every id returned to a writer is in the store and the activity count grew by exactly the number
of writes; no operation raised (a StoreLocked reaching a user is a failure); every job ran, and every
recorded run is 'ok'. It prints the figures: operations done, the app's lock waits, write and read
latencies, job runs and their durations. Exit status 0 when every check passed.

Job durations come from the scheduler's own log lines, timed as they arrive: FLASHDASH_NOW pins the clock
that job_runs records, so its started_at and finished_at are equal.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-06-30T12:00:00"
SCHEDULES = {  # every job several times a minute, so that its runs meet the app's traffic
    "score_leads": "every 3 s",
    "refresh_aggregates": "every 5 s",
    "retrain_conversion": "every 15 s",
}
OTHER_JOBS = "every 10 s"  # the schedule of any other job the scheduler has
WRITER_USERS = ("rep", "manager", "admin")
READER_USERS = ("executive", "manager", "analyst", "rep", "admin")
THINK = (0.02, 0.2)  # seconds between two clicks of one person
PERIOD_DAYS = 90  # the dashboards' date range, ending at NOW
SCHEDULER_COMMAND = ("-m", "jobs")  # what `python` runs as the scheduler
APP_COMMAND = ("-m", "benchmarks.coexistence", "app")  # and as the app
MAX_EXTRA = 120.0  # seconds the app may work past --seconds, waiting for every job to finish a run


# ---------------------------------------------------------------- figures


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank q-th percentile (0 < q <= 100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def spread(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
            "max": max(values) if values else None}


# ---------------------------------------------------------------- the app process


def _filters(now: datetime) -> Any:
    from flashdash.filters import Filters

    end = now.date()
    return Filters(start=end - timedelta(days=PERIOD_DAYS - 1), end=end)


def _reads_for(role: str) -> list[str]:
    """The dashboard reads a role's pages make (flashdash.access.PAGES)."""
    reads = ["scoreboard"]
    if role != "rep":
        reads.append("executive")
    if role != "executive":
        reads.append("lead_book")
    if role in ("manager", "analyst", "admin"):
        reads.append("scores")
    return reads


def _read(name: str, store: Any, actor: Any, filters: Any, today: date) -> None:
    from flashdash import executive, predictive, scoreboard, work

    if name == "executive":
        executive.summary(store, actor, filters, today)
    elif name == "scoreboard":
        scoreboard.board(store, actor, filters)
    elif name == "lead_book":
        work.lead_book(store, actor, filters)
    elif name == "scores":
        predictive.scores(store, actor, filters)
    else:
        raise ValueError(name)


def _leads_in_scope(store: Any, actor: Any) -> list[tuple[int, datetime]]:
    with store.read() as con:
        if actor.sees_all:
            rows = con.execute("SELECT id, submitted_at FROM leads ORDER BY id").fetchall()
        else:
            rows = con.execute("SELECT id, submitted_at FROM leads WHERE list_contains(?, owner_id) ORDER BY id",
                               [list(actor.scope_reps or ())]).fetchall()
    return rows


def app(db: Path, seconds: float, writers: int, readers: int, seed: int, ready: Path | None = None,
        go: Path | None = None, stop: Path | None = None) -> dict[str, Any]:
    """W writers and R readers on the store, from when `go` exists until `stop` exists (at most `seconds`;
    without `stop`, for `seconds`); every operation and every opening of the store."""
    from flashdash import access, clock
    from flashdash import store as store_module
    from flashdash.activities import NewActivity, log_activity
    from flashdash.entities import ACTIVITY_TYPES
    from flashdash.store import Store

    store = Store(db)
    now = clock.now()
    filters = _filters(now)
    actors = {u: access.resolve_actor(store, u) for u in {*WRITER_USERS, *READER_USERS}}
    leads = {u: _leads_in_scope(store, actors[u]) for u in WRITER_USERS}
    for u, rows in leads.items():
        if not rows:
            raise SystemExit(f"{u} has no leads in scope in {db}")
    if ready is not None:
        ready.write_text(str(os.getpid()))
    while go is not None and not go.exists():
        time.sleep(0.01)
    store_module.LOCK_WAITS.clear()  # the waits of the run, not of the set-up
    started = time.time()
    deadline = time.monotonic() + seconds
    stopping = threading.Event()

    def watch() -> None:  # the parent says when to stop by creating `stop`
        while not stopping.is_set():
            if time.monotonic() >= deadline or (stop is not None and stop.exists()):
                stopping.set()
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True, name="stop-watch").start()
    ops: list[list[dict[str, Any]]] = [[] for _ in range(writers + readers)]

    def record(slot: int, kind: str, user: str, what: str, t0: float, result: Any = None,
               exc: BaseException | None = None) -> None:
        op = {"kind": kind, "user": user, "what": what, "at": started + (t0 - t_start),
              "latency": time.perf_counter() - t0, "id": result}
        if exc is not None:
            op["error"] = {"type": type(exc).__name__, "message": str(exc)[:500],
                           "trace": "".join(traceback.format_exception(exc, limit=-3))[-1500:]}
        ops[slot].append(op)

    def writer(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        user = WRITER_USERS[i % len(WRITER_USERS)]
        actor, book = actors[user], leads[user]
        n = 0
        while not stopping.wait(rng.uniform(*THINK)):
            lead_id, submitted = rng.choice(book)
            occurred = max(now - timedelta(minutes=rng.randint(0, 7 * 24 * 60)), submitted)
            n += 1
            activity = NewActivity(lead_id, rng.choice(ACTIVITY_TYPES), occurred, rng.randint(1, 60),
                                   "coexistence benchmark", f"writer {i}, activity {n}")
            t0 = time.perf_counter()
            try:
                new_id = log_activity(store, actor, activity, now)
            except Exception as exc:  # every exception is a failure the check reports
                record(i, "write", user, "log_activity", t0, exc=exc)
            else:
                record(i, "write", user, "log_activity", t0, result=new_id)

    def reader(j: int) -> None:
        rng = random.Random(seed * 1000 + 500 + j)
        user = READER_USERS[j % len(READER_USERS)]
        actor = actors[user]
        choices = _reads_for(actor.role)
        slot = writers + j
        while not stopping.wait(rng.uniform(*THINK)):
            what = rng.choice(choices)
            t0 = time.perf_counter()
            try:
                _read(what, store, actor, filters, now.date())
            except Exception as exc:
                record(slot, "read", user, what, t0, exc=exc)
            else:
                record(slot, "read", user, what, t0)

    t_start = time.perf_counter()
    threads = [threading.Thread(target=writer, args=(i,), name=f"writer-{i}") for i in range(writers)]
    threads += [threading.Thread(target=reader, args=(j,), name=f"reader-{j}") for j in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "pid": os.getpid(),
        "started": started,
        "ended": time.time(),
        "lock_timeout": store.lock_timeout,
        "ops": [op for slot in ops for op in slot],
        "lock_waits": [[w.kind, w.seconds, w.attempts] for w in store_module.LOCK_WAITS],
    }


# ---------------------------------------------------------------- the scenario


_LOG_LINE = re.compile(r"\bjobs: (\w+): (started \(run (\d+)|ok \(|failed: |not run|finished \w+ but)")


class _Tail:
    """Reads a process's output line by line, timing each line as it arrives, into a file and a list."""

    def __init__(self, proc: subprocess.Popen[str], path: Path):
        self.lines: list[tuple[float, str]] = []
        self._proc, self._path = proc, path
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._proc.stdout is not None
        with self._path.open("w") as out:
            for line in self._proc.stdout:
                self.lines.append((time.time(), line.rstrip("\n")))
                out.write(line)
                out.flush()

    def join(self, timeout: float = 10) -> None:
        self._thread.join(timeout)

    def text(self, last: int = 40) -> str:
        return "\n".join(line for _, line in self.lines[-last:])


def job_runs_from_log(lines: list[tuple[float, str]]) -> list[dict[str, Any]]:
    """Each run the scheduler logged: job, run id, when it started and ended (by arrival), its outcome."""
    runs: list[dict[str, Any]] = []
    open_runs: dict[str, dict[str, Any]] = {}
    for at, line in lines:
        m = _LOG_LINE.search(line)
        if not m:
            continue
        job, what = m.group(1), m.group(2)
        if what.startswith("started"):
            open_runs[job] = {"job": job, "run_id": int(m.group(3)), "start": at, "end": None, "outcome": None}
            runs.append(open_runs[job])
        elif job in open_runs:
            run = open_runs.pop(job)
            run["end"], run["outcome"] = at, what.split()[0].rstrip(":")
        elif what == "not run":
            runs.append({"job": job, "run_id": None, "start": at, "end": at, "outcome": "not run"})
    return runs


def _python(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def job_schedules() -> list[tuple[Any, str]]:
    """Each of the scheduler's jobs (its JobSpec) with the schedule the scenario gives it."""
    from flashdash import schedule

    return [(spec, SCHEDULES.get(name, OTHER_JOBS)) for name, spec in schedule.JOBS.items()]


def scenario_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("FLASHDASH_FAULT", "FLASHDASH_FAULT_FILE", "FLASHDASH_LOCK_TIMEOUT"):
        env.pop(name, None)  # the product's own lock timeout: a longer one would hide starvation
    env.update(FLASHDASH_DB=str(root / "store.duckdb"), FLASHDASH_MODELS=str(root / "models"),
               FLASHDASH_NOW=NOW, PYTHONUNBUFFERED="1",
               **{spec.env: every for spec, every in job_schedules()})
    return env


def _stop(proc: subprocess.Popen[str], timeout: float) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return -9


def _wait_for(condition: Any, proc: subprocess.Popen[str], what: str, timeout: float, log: Any) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited {proc.returncode}:\n{log()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s:\n{log()}")
        time.sleep(0.05)


def run_scenario(root: Path, seconds: float = 60, writers: int = 4, readers: int = 2, scale: str = "XS",
                 seed: int = 7, progress: Any = None, scheduler_first: bool = False) -> dict[str, Any]:
    """Build a demo store under `root`, run the app and the scheduler on it together, check the outcome.

    The app works for `seconds`, and longer if need be until every job has finished a run while it works
    (at most MAX_EXTRA seconds more): the checks then hold whatever the machine's speed. Returns the figures
    and {"checks": {name: {"ok": bool, "detail": str}}, "passed": bool}."""
    from flashdash.store import Store
    from jobs.scheduler import JOBS

    say = progress or (lambda text: None)
    root.mkdir(parents=True, exist_ok=True)
    env = scenario_env(root)
    db = Path(env["FLASHDASH_DB"])
    t0 = time.perf_counter()
    built = _python("-m", "flashdash", "demo", "--scale", scale, "--db", str(db), "--as-of", NOW[:16],
                    "--no-train", env=env)
    if built.returncode != 0:
        raise RuntimeError(f"the demo store was not built:\n{built.stderr[-3000:]}")
    say(f"built a {scale} demo store in {time.perf_counter() - t0:.1f} s (no model: the scheduler trains one "
        "at start-up)")
    store = Store(db)
    with store.read() as con:
        ((activities_before,),) = con.execute("SELECT count(*) FROM activities").fetchall()
        ((leads,),) = con.execute("SELECT count(*) FROM leads").fetchall()

    ready, go, stop = root / "app.ready", root / "app.go", root / "app.stop"
    for marker in (ready, go, stop):
        marker.unlink(missing_ok=True)
    app_log = root / "app.log"
    with app_log.open("w") as err:
        app_proc = subprocess.Popen(
            [sys.executable, *APP_COMMAND, "--db", str(db),
             "--seconds", str(seconds + MAX_EXTRA), "--writers", str(writers), "--readers", str(readers),
             "--seed", str(seed), "--ready", str(ready), "--go", str(go), "--stop", str(stop)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True)
    app_out: dict[str, str] = {}
    app_reader = threading.Thread(target=lambda: app_out.update(out=app_proc.stdout.read()), daemon=True)
    app_reader.start()
    sched: subprocess.Popen[str] | None = None
    tail: _Tail | None = None
    try:
        _wait_for(ready.exists, app_proc, "the app process getting ready", 120, lambda: app_log.read_text()[-3000:])
        # By default the app works first, so that the scheduler's start (schema check, start-up training and
        # scoring) meets its traffic too; scheduler_first starts the app's traffic once the scheduler is up.
        if not scheduler_first:
            go.touch()
        began = time.monotonic()
        sched = subprocess.Popen([sys.executable, *SCHEDULER_COMMAND], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
        tail = _Tail(sched, root / "scheduler.log")
        if scheduler_first:
            lock = db.with_name(db.name + ".jobs.lock")
            _wait_for(lambda: lock.exists() and lock.read_text().strip() == str(sched.pid), sched,
                      "the scheduler taking its lock", 120, tail.text)
            go.touch()
            began = time.monotonic()
        say(f"the app ({writers} writers, {readers} readers) and the scheduler run together for {seconds:g} s")
        while time.monotonic() - began < seconds + MAX_EXTRA:
            if app_proc.poll() is not None or sched.poll() is not None:
                break
            done = {r["job"] for r in job_runs_from_log(tail.lines) if r["end"] is not None}
            if time.monotonic() - began >= seconds and done >= set(JOBS):
                break
            time.sleep(0.1)
        stop.touch()
        try:
            app_proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            app_proc.kill()
            app_proc.wait()
        app_reader.join(30)
        app_exit = app_proc.returncode
        sched_exit = _stop(sched, timeout=300)
        tail.join()
        (root / "scheduler.lines.json").write_text(json.dumps(tail.lines))  # each line with when it arrived
    finally:
        for proc in (app_proc, sched):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    (root / "app.json").write_text(app_out.get("out") or "")
    result: dict[str, Any] | None
    try:
        result = json.loads(app_out.get("out") or "")
    except json.JSONDecodeError:
        result = None
    with store.read() as con:
        ((activities_after,),) = con.execute("SELECT count(*) FROM activities").fetchall()
        job_rows = con.execute("SELECT id, job, status, error, trigger FROM job_runs ORDER BY id").fetchall()
        ids = [op["id"] for op in (result or {}).get("ops", []) if op["kind"] == "write" and "error" not in op]
        ((found,),) = con.execute("SELECT count(*) FROM activities WHERE list_contains(?, id)", [ids]).fetchall()
    return summarise(result, app_exit=app_exit, app_log=app_log.read_text()[-3000:], sched_exit=sched_exit,
                     sched_lines=tail.lines if tail else [], job_rows=job_rows, ids=ids, found=found,
                     activities_before=activities_before, activities_after=activities_after,
                     config={"seconds": seconds, "writers": writers, "readers": readers, "scale": scale,
                             "leads": leads, "seed": seed, "cores": os.cpu_count(),
                             "schedules": {spec.name: every for spec, every in job_schedules()}})


def summarise(result: dict[str, Any] | None, *, app_exit: int | None, app_log: str, sched_exit: int,
              sched_lines: list[tuple[float, str]], job_rows: list[tuple], ids: list[int], found: int,
              activities_before: int, activities_after: int, config: dict[str, Any]) -> dict[str, Any]:
    """The figures and the checks of one run, from what the app returned, the scheduler logged and the
    store holds afterwards (job_rows: id, job, status, error, trigger of every job_runs row)."""
    from jobs.scheduler import JOBS

    ops = (result or {}).get("ops", [])
    writes = [op for op in ops if op["kind"] == "write"]
    reads = [op for op in ops if op["kind"] == "read"]
    errors = [op for op in ops if "error" in op]
    good_writes = [op for op in writes if "error" not in op]
    waits = [(k, s, a) for k, s, a in (result or {}).get("lock_waits", [])]
    all_waits = [s for _, s, _ in waits]
    waited = [s for _, s, _ in waits if s > 0]

    by_job: dict[str, Counter[str]] = defaultdict(Counter)
    for _, job, status, _, _ in job_rows:
        by_job[job][status] += 1
    window = ((result or {}).get("started", 0.0), (result or {}).get("ended", 0.0))
    logged = job_runs_from_log(sched_lines)
    jobs: dict[str, Any] = {}
    for name in JOBS:
        mine = [r for r in logged if r["job"] == name and r["end"] is not None and r["run_id"] is not None]
        durations = [r["end"] - r["start"] for r in mine]
        jobs[name] = {
            "runs": sum(by_job[name].values()), "statuses": dict(by_job[name]),
            "during_app": sum(1 for r in mine if r["start"] < window[1] and r["end"] > window[0]),
            "seconds": spread(durations), "durations": [round(d, 3) for d in durations],
        }

    checks: dict[str, dict[str, Any]] = {}
    if result is None:
        checks["app_finished"] = {"ok": False, "detail": f"the app process exited {app_exit} without its "
                                                         f"result:\n{app_log}"}
    else:
        checks["app_finished"] = {"ok": app_exit == 0, "detail": f"exit {app_exit}"}
    grew = activities_after - activities_before
    checks["no_lost_write"] = {
        "ok": result is not None and found == len(ids) and len(set(ids)) == len(ids) and grew == len(good_writes),
        "detail": f"{len(good_writes)} writes returned an id, {found} of those ids are in activities "
                  f"({len(ids) - len(set(ids))} returned twice); the table grew by {grew}",
    }
    kinds = Counter(f"{op['kind']} {op['error']['type']}: {op['error']['message'][:160]}" for op in errors)
    checks["no_user_error"] = {
        "ok": result is not None and not errors,
        "detail": "none" if not errors else "; ".join(f"{n} x {k}" for k, n in kinds.most_common(5)),
    }
    bad = [r for r in job_rows if r[2] != "ok"]
    missing = [name for name in JOBS if not by_job[name]]
    checks["jobs_ok"] = {
        "ok": not bad and not missing and sched_exit == 0,
        "detail": "; ".join(
            [f"{name}: {dict(c)}" for name, c in sorted(by_job.items())]
            + [f"never ran: {', '.join(missing)}"] * bool(missing)
            + [f"run {r[0]} {r[1]} {r[2]}: {(r[3] or '').splitlines()[0] if r[3] else ''}" for r in bad[:5]]
            + [f"the scheduler exited {sched_exit} on SIGTERM"] * (sched_exit != 0)),
    }
    idle = [name for name, j in jobs.items() if not j["during_app"]]
    checks["jobs_met_the_app"] = {
        "ok": result is not None and not idle,
        "detail": ", ".join(f"{name} {j['during_app']}" for name, j in jobs.items()) + " runs while the app worked"
                  + (f"; none of {', '.join(idle)}" if idle else ""),
    }
    return {
        "config": {**config, "lock_timeout": (result or {}).get("lock_timeout")},
        "app_seconds": window[1] - window[0] if result else None,
        "writes": len(good_writes), "reads": len(reads) - sum(1 for op in reads if "error" in op),
        "errors": len(errors), "first_errors": [op["error"] for op in errors[:3]],
        "reads_by_page": dict(Counter(op["what"] for op in reads)),
        "lock_waits": {"openings": len(all_waits), "waited": len(waited), "all": spread(all_waits),
                       "waited_only": spread(waited),
                       "attempts_max": max((a for _, _, a in waits), default=None),
                       "write_openings_max": max((s for k, s, _ in waits if k == "write"), default=None)},
        "write_latency": spread([op["latency"] for op in writes]),
        "read_latency": spread([op["latency"] for op in reads]),
        "read_latency_by_page": {w: spread([op["latency"] for op in reads if op["what"] == w])
                                 for w in sorted({op["what"] for op in reads})},
        "jobs": jobs,
        "checks": checks,
        "passed": all(c["ok"] for c in checks.values()),
    }


# ---------------------------------------------------------------- printing


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:,.0f} ms"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def report(out: dict[str, Any]) -> str:
    c, lw = out["config"], out["lock_waits"]
    lines = [
        f"Coexistence: scale {c['scale']} ({c['leads']:,} leads), {c['writers']} writers + {c['readers']} readers in "
        f"one app process for {out['app_seconds'] or 0:.1f} s (asked {c['seconds']:g} s), beside the scheduler ({', '.join(f'{k} {v}' for k, v in c['schedules'].items())}); "
        f"{c['cores']} cores, lock timeout {c['lock_timeout']} s",
        "",
        f"Operations      {out['writes']:,} writes, {out['reads']:,} reads ({', '.join(f'{k} {v}' for k, v in sorted(out['reads_by_page'].items()))}), "
        f"{out['errors']} errors",
        f"Lock waits      {lw['openings']:,} openings of the store by the app, {lw['waited']:,} waited "
        f"({lw['waited'] / lw['openings'] * 100 if lw['openings'] else 0:.1f}%)",
        f"  all openings  p50 {_ms(lw['all']['p50'])}, p95 {_ms(lw['all']['p95'])}, max {_ms(lw['all']['max'])}",
        f"  those waiting p50 {_ms(lw['waited_only']['p50'])}, p95 {_ms(lw['waited_only']['p95'])}, "
        f"max {_ms(lw['waited_only']['max'])} (most attempts {lw['attempts_max']})",
        f"  longest wait of a write's opening {_ms(lw['write_openings_max'])}",
        f"Writes          latency p50 {_ms(out['write_latency']['p50'])}, p95 {_ms(out['write_latency']['p95'])}; "
        f"longest a user's write took (lock wait included) {_ms(out['write_latency']['max'])}",
        f"Reads           latency p50 {_ms(out['read_latency']['p50'])}, p95 {_ms(out['read_latency']['p95'])}, "
        f"max {_ms(out['read_latency']['max'])}",
    ]
    for page, s in out["read_latency_by_page"].items():
        lines.append(f"  {page:<13} n {s['n']:>5}, p50 {_ms(s['p50'])}, p95 {_ms(s['p95'])}, max {_ms(s['max'])}")
    lines.append("Job runs        (durations from the scheduler's log lines as they arrived)")
    for name, j in out["jobs"].items():
        s = j["seconds"]
        lines.append(f"  {name:<19} {j['runs']} runs {j['statuses']}, {j['during_app']} during the app's run; "
                     f"duration p50 {_s(s['p50'])}, max {_s(s['max'])}")
    lines.append("")
    for name, check in out["checks"].items():
        lines.append(f"{'PASS' if check['ok'] else 'FAIL'}  {name}: {check['detail']}")
    for err in out["first_errors"]:
        lines.append(f"  e.g. {err['type']}: {err['message']}\n{err['trace']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


def app_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.coexistence app")
    p.add_argument("--db", required=True)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--readers", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--ready")
    p.add_argument("--go")
    p.add_argument("--stop")
    a = p.parse_args(argv)
    out = app(Path(a.db), a.seconds, a.writers, a.readers, a.seed,
              *(Path(f) if f else None for f in (a.ready, a.go, a.stop)))
    json.dump(out, sys.stdout)
    sys.stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["app"]:  # the app process the scenario starts; not for people
        return app_main(argv[1:])
    p = argparse.ArgumentParser(prog="python -m benchmarks.coexistence", description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60, help="how long the app runs (default 60)")
    p.add_argument("--writers", type=int, default=4, help="writer threads in the app process (default 4)")
    p.add_argument("--readers", type=int, default=2, help="reader threads in the app process (default 2)")
    p.add_argument("--scale", choices=("XS", "S"), default="XS", help="demo store scale (default XS)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", metavar="DIR", help="build in DIR and keep it (store, app.log, scheduler.log)")
    p.add_argument("--scheduler-first", action="store_true",
                   help="start the app's traffic once the scheduler is up (default: the scheduler starts amid it)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON too")
    a = p.parse_args(argv)

    def say(text: str) -> None:
        print(f"[{datetime.now():%H:%M:%S}] {text}", file=sys.stderr, flush=True)

    if a.keep:
        root = Path(a.keep)
        if root.exists() and any(root.iterdir()):
            p.error(f"--keep {root}: the folder is not empty")
        out = run_scenario(root, a.seconds, a.writers, a.readers, a.scale, a.seed, say, a.scheduler_first)
    else:
        root = Path(tempfile.mkdtemp(prefix="flashdash-coexistence-"))
        try:
            out = run_scenario(root, a.seconds, a.writers, a.readers, a.scale, a.seed, say, a.scheduler_first)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print(report(out))
    if a.json:
        print(json.dumps(out, indent=1, default=str))
    return 0 if out["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
