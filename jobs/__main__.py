"""python -m jobs [serve] | run NAME | list: the scheduler process and its jobs."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from pathlib import Path

from flashdash import jobs_log, schedule
from flashdash.store import Store, StoreError, db_path
from jobs import scheduler


def _store(args: argparse.Namespace) -> Store:
    return Store(Path(args.db) if args.db else db_path())


def cmd_serve(args: argparse.Namespace) -> int:
    store = _store(args)
    if not store.exists():
        print(f"error: there is no store at {store.path}; create it first (`make run`, or "
              f"`python -m flashdash bootstrap --db {store.path}`).", file=sys.stderr)
        return 2
    return scheduler.serve(store)


def cmd_run(args: argparse.Namespace) -> int:
    store = _store(args)
    if not store.exists():
        print(f"error: there is no store at {store.path}.", file=sys.stderr)
        return 2
    return 0 if scheduler.run_job(args.name, store) else 1


def cmd_list(args: argparse.Namespace) -> int:
    store = _store(args)
    last = {}
    status = schedule.scheduler_status(store)
    if store.exists():
        try:
            last = {r["job"]: r for r in jobs_log.last_runs(store).iter_rows(named=True)}
        except StoreError as exc:
            print(f"(last runs unavailable: {exc})")
    if status["running"]:
        print(f"The scheduler is running (pid {status['pid']}).")
    else:
        print("The scheduler is not running: next runs are those of its schedules once it starts.")
    now = datetime.now()
    print(f"{'job':<20} {'schedule':<14} {'next run':<17} last run")
    for spec in scheduler.JOBS.values():
        spec = spec.as_scheduled(status["schedules"].get(spec.name))
        upcoming = status["next_runs"].get(spec.name) if status["running"] else spec.next_after(now)
        next_run = f"{upcoming:%Y-%m-%d %H:%M}" if upcoming else ("-" if spec.enabled() else "disabled")
        run = last.get(spec.name)
        last_text = f"{run['started_at']:%Y-%m-%d %H:%M} {run['status']}" if run else "never"
        print(f"{spec.name:<20} {spec.schedule():<14} {next_run:<17} {last_text}")
        print(f"{'':<20} {spec.description} (set {scheduler.JOBS[spec.name].env})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs", description="The Flash Sales Dashboard's scheduler")
    parser.add_argument("--db", help="the store file (default: FLASHDASH_DB or data/flashdash.duckdb)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log APScheduler's own messages too")
    # --db before or after the command; SUPPRESS keeps a value given before it.
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", parents=[db], help="run the scheduler until SIGTERM/SIGINT (the default)")
    p = sub.add_parser("run", parents=[db], help="run one job now; exit status 0 when it succeeded, 1 when it failed")
    p.add_argument("name", choices=sorted(scheduler.JOBS))
    sub.add_parser("list", parents=[db], help="the jobs, their schedules, next and last runs")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%Y-%m-%d %H:%M:%S")
    logging.getLogger("apscheduler").setLevel(logging.INFO if args.verbose else logging.WARNING)
    commands = {"run": cmd_run, "list": cmd_list}
    try:
        return commands.get(args.command, cmd_serve)(args)
    except scheduler.ScheduleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
