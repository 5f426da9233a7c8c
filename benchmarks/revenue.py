"""Revenue intelligence benchmark: python -m benchmarks.revenue --scale S [--runs 5].

On the demo store of the scale (data/bench-revenue-<scale>.duckdb, built if missing): pipeline velocity (every
split) and win/loss over the last 90 days and the last year, Phase 3's targets, the velocity refresh job and the
latest velocity as an admin and a rep read it. Each is timed cold (its first call in this process, the store just
opened) and then warm (median of --runs more).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks import stores
from flashdash import clock, revenue
from flashdash.access import resolve_actor
from flashdash.store import Store

ROOT = Path(__file__).resolve().parent.parent


def _timed(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """(cold seconds, warm median seconds, the first result)."""
    t0 = time.perf_counter()
    first = fn()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - t0)
    return cold, statistics.median(warm) if warm else float("nan"), first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["XS", "S", "M", "L"], default="S")
    parser.add_argument("--runs", type=int, default=5, help="warm runs after the cold one")
    args = parser.parse_args(argv)

    path = ROOT / "data" / f"bench-revenue-{args.scale}.duckdb"
    store: Store = stores.build(path, args.scale, clock.now().replace(second=0), logins=True)
    now = datetime.fromisoformat(store.scalar("setting", key="demo_as_of") or clock.now().isoformat())
    with store.read() as con:
        ((deals, changes),) = con.execute("SELECT (SELECT count(*) FROM opportunities), "
                                          "(SELECT count(*) FROM opportunity_changes)").fetchall()
    print(f"\nStore {path}, {store.scalar('count_leads'):,} leads, {deals:,} deals, {changes:,} deal changes, "
          f"as of {now:%Y-%m-%d %H:%M}")
    admin, rep = resolve_actor(store, "admin"), resolve_actor(store, "rep")
    end = now.date()
    quarter, year = end - timedelta(days=89), end - timedelta(days=364)
    cases: list[tuple[str, Callable[[], Any]]] = [
        *[(f"velocity, 90 days, by {by or 'nothing'} (admin)",
           lambda by=by: revenue.velocity(store, admin, quarter, end, by)) for by in (None, "team", "rep", "vertical")],
        ("velocity, 365 days, by team (admin)", lambda: revenue.velocity(store, admin, year, end, "team")),
        ("velocity, 90 days (rep)", lambda: revenue.velocity(store, rep, quarter, end)),
        ("win/loss, 90 days (admin)", lambda: revenue.win_loss(store, admin, quarter, end)),
        ("win/loss, 365 days (admin)", lambda: revenue.win_loss(store, admin, year, end)),
        ("Phase 3 targets (admin)", lambda: revenue.phase3_targets(store, admin, now)),
        ("velocity refresh job", lambda: revenue.refresh_velocity(store, now)),
        ("latest velocity (admin, stored)", lambda: revenue.latest_velocity(store, admin)),
        ("latest velocity (rep, recomputed)", lambda: revenue.latest_velocity(store, rep)),
    ]
    for label, fn in cases:
        cold, warm, result = _timed(fn, args.runs)
        print(f"{label:<40} cold {cold * 1e3:6.0f} ms   warm {warm * 1e3:6.0f} ms{_size(result)}")
    print(f"{'Peak memory':<40} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:,.0f} MB")
    return 0


def _size(result: Any) -> str:
    if isinstance(result, dict) and "velocity" in result:
        v = result["velocity"]
        return f"   ({v.height} groups, {v['closed'].sum():,} closed deals, {v['open_deals'].sum():,} open)"
    if isinstance(result, dict) and "overall" in result:
        return f"   ({result['overall']['closed'][0]:,} closed deals)"
    return ""


if __name__ == "__main__":
    sys.exit(main())
