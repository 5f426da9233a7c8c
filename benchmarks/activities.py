"""Phase 2 benchmark: python -m benchmarks.activities --scale S [--logs 200] [--enroll 1000] [--events 1000].

On a copy of the demo store of the scale (data/bench-<scale>.duckdb, built if missing):
- a rep's "Log & complete" from the queue (log the activity, which rescores, requalifies and applies the task
  rules and sequence pauses in its write; then complete the task), one after the other: p50, p95, max;
- the rep's and the admin's task queue, and activity effectiveness, as the pages read them;
- a sequence's email step for N enrolled leads (`run_sequences`), then sending the queued emails to a real SMTP
  server on loopback (aiosmtpd, `send_emails`), then ingesting N tracking events (`ingest_tracking`).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import socket
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from benchmarks import stores
from benchmarks.timing import spread, timed
from flashdash import activities, clock, effectiveness, mail, sequences, tasks, tracking
from flashdash.access import resolve_actor
from flashdash.activities import NewActivity
from flashdash.store import Store, copy_file

ROOT = Path(__file__).resolve().parent.parent


class _Sink:
    """An SMTP server that accepts and counts every message."""

    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook)
        self.received += 1
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]




def _rows(store: Store, query: str, params: list | None = None) -> list[tuple]:
    with store.read() as con:
        return con.execute(query, params or []).fetchall()


def log_and_complete(store: Store, now: datetime, n: int) -> list[float]:
    """n tasks on the rep's open leads, then each logged and completed as the queue's one click does."""
    rep = resolve_actor(store, "rep")
    leads = [r[0] for r in _rows(store, "SELECT id FROM leads WHERE owner_id = ? AND status IN ('new', 'mql', 'sql', "
                                        "'opportunity') ORDER BY id", [rep.rep_id])]
    with store.write() as con:
        made = [(tasks.create_task(store, con, leads[i % len(leads)], rep.rep_id, "Call back", now + timedelta(hours=1),
                                   rep.username, now, kind="call"), leads[i % len(leads)]) for i in range(n)]
    seconds = []
    for i, (task_id, lead_id) in enumerate(made):
        at = now + timedelta(seconds=i)
        t0 = time.perf_counter()
        activities.log_activity(store, rep, NewActivity(lead_id, "call", at, 10, "connected", None, source="queue",
                                                        fields_typed=1), at)
        tasks.complete(store, rep, task_id, at, "connected")
        seconds.append(time.perf_counter() - t0)
    return seconds


def sequence_and_mail(store: Store, now: datetime, enroll: int, events: int) -> dict[str, Any]:
    admin = resolve_actor(store, "admin")
    mail.install_starters(store, now)
    template_id = _rows(store, "SELECT min(id) FROM email_templates WHERE team_id IS NULL")[0][0]
    sequence_id = sequences.save_sequence(store, admin, None, "Benchmark nurture", None, None, "reply", [
        {"kind": "email", "day_offset": 0, "title": "Case study", "template_id": template_id}], True, now)
    leads = [r[0] for r in _rows(store, "SELECT id FROM leads WHERE status IN ('new', 'mql', 'sql', 'opportunity') "
                                        "AND email IS NOT NULL ORDER BY id LIMIT ?", [enroll])]
    enrolled = sequences.enroll(store, admin, sequence_id, leads, now)
    out: dict[str, Any] = {"enrolled": len(enrolled["enrollment_ids"])}
    out["run_due_s"], counts = timed(lambda: sequences.run_due(store, now + timedelta(minutes=1)))
    out["steps_run"] = counts["steps_run"]

    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        settings = mail.SmtpSettings(host="127.0.0.1", port=controller.port, tls="none",
                                     from_address="sales@flash.example", timeout=10.0)
        sent, t0 = 0, time.perf_counter()
        while True:
            result = mail.send_due(store, now + timedelta(minutes=2), settings)
            if not mail.rows_written(result):
                break
            sent += result["sent"]
        out["send_s"], out["sent"], out["received"] = time.perf_counter() - t0, sent, sink.received
    finally:
        controller.stop()

    tokens = [r[0] for r in _rows(store, "SELECT token FROM emails WHERE status = 'sent' ORDER BY id DESC LIMIT ?",
                                  [events])]
    spool = tracking.Spool(tracking.spool_dir(store.path))
    for i in range(events):
        spool.append(tracking.new_event("open", tokens[i % len(tokens)], at=now + timedelta(minutes=3, seconds=i)))
    out["ingest_s"], out["ingested"] = timed(lambda: tracking.ingest(store, now + timedelta(minutes=5),
                                                                      on_replies=sequences.pause_if_needed))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["XS", "S", "M", "L"], default="S")
    parser.add_argument("--logs", type=int, default=200, help="activities logged from the queue")
    parser.add_argument("--enroll", type=int, default=1000, help="leads enrolled in a one-email sequence")
    parser.add_argument("--events", type=int, default=1000, help="tracking events ingested")
    args = parser.parse_args(argv)

    source = ROOT / "data" / f"bench-{args.scale}.duckdb"
    stores.build(source, args.scale, clock.now().replace(second=0), logins=True, train=True)
    path = source.with_name(f"bench-activities-{args.scale}.duckdb")
    for old in path.parent.glob(path.name + "*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    copy_file(source, path)
    store = Store(path)
    now = datetime.fromisoformat(store.scalar("setting", key="demo_as_of") or clock.now().isoformat())
    task_count = _rows(store, "SELECT count(*) FROM tasks")[0][0]
    print(f"\nStore {path}, {store.scalar('count_leads'):,} leads, {task_count:,} tasks, as of {now:%Y-%m-%d %H:%M}")

    print(f"Log & complete from the queue   {spread(log_and_complete(store, now, args.logs))}")
    rep, admin = resolve_actor(store, "rep"), resolve_actor(store, "admin")
    for who, actor in (("rep", rep), ("admin", admin)):
        runs = [timed(lambda a=actor: tasks.queue(store, a, now)) for _ in range(5)]
        print(f"Task queue ({who}, {runs[0][1].height:,} open tasks)   {spread([s for s, _ in runs])}")
    seconds, result = timed(lambda: effectiveness.effectiveness(store, admin, now))
    print(f"Activity effectiveness (admin, {max(result['n'].values()):,} leads)   {seconds:.2f} s")

    out = sequence_and_mail(store, now, args.enroll, args.events)
    print(f"Sequence email step             {out['steps_run']:,} of {out['enrolled']:,} enrollments run in "
          f"{out['run_due_s']:.2f} s")
    print(f"Sending to loopback SMTP        {out['sent']:,} emails in {out['send_s']:.2f} s "
          f"({out['sent'] / out['send_s']:.0f}/s); the server received {out['received']:,}")
    print(f"Ingesting tracking events       {out['ingested']:,} events in {out['ingest_s']:.2f} s")
    print(f"Peak memory                     {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
