"""Deal analytics benchmark: python -m benchmarks.deal_analytics --scale S [--repeat 3].

On a demo store of the scale with its deal history (data/bench-deal-analytics-<scale>.duckdb, built if missing),
as the admin (everything) and the rep (their own book): deal risk (assess, check against history, the refresh
job, the stored read), deal size (drivers, under-sized deals), revenue attribution (the last 12 months), and
performance (productivity, activity to close, benchmarking, coaching over the last 90 days): p50 and max of
`--repeat` runs each, the figures the models report, and peak memory.
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
from flashdash import attribution, clock, deal_risk, deal_size, performance
from flashdash.access import resolve_actor
from flashdash.filters import Filters
from flashdash.store import Store

ROOT = Path(__file__).resolve().parent.parent


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[str, Any]:
    seconds, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - t0)
    return f"p50 {statistics.median(seconds) * 1e3:,.0f} ms, max {max(seconds) * 1e3:,.0f} ms (n {repeat})", out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["XS", "S", "M", "L"], default="S")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    path = ROOT / "data" / f"bench-deal-analytics-{args.scale}.duckdb"
    store: Store = stores.build(path, args.scale, clock.now().replace(second=0), logins=True)
    now = datetime.fromisoformat(store.scalar("setting", key="demo_as_of") or clock.now().isoformat())
    with store.read() as con:
        deals, changes = con.execute("SELECT (SELECT count(*) FROM opportunities), "
                                     "(SELECT count(*) FROM opportunity_changes)").fetchone()
    print(f"\nStore {path}, {store.scalar('count_leads'):,} leads, {deals:,} deals, {changes:,} deal changes, "
          f"as of {now:%Y-%m-%d %H:%M}")
    admin, rep = resolve_actor(store, "admin"), resolve_actor(store, "rep")
    year = Filters(start=(now - timedelta(days=364)).date(), end=now.date())
    quarter = Filters(start=(now - timedelta(days=89)).date(), end=now.date())
    r = args.repeat

    timing, frame = _timed(lambda: deal_risk.assess(store, admin, now), r)
    print(f"Deal risk assess (admin, {frame.height:,} open deals)   {timing}")
    timing, frame = _timed(lambda: deal_risk.assess(store, rep, now), r)
    print(f"Deal risk assess (rep, {frame.height:,} open deals)   {timing}")
    timing, frame = _timed(lambda: deal_risk.check_against_history(store, admin, now), r)
    print(f"Deal risk check against history (admin)   {timing}")
    timing, out = _timed(lambda: deal_risk.refresh_deal_risk(store, now), r)
    print(f"Deal risk refresh job   {timing}; {out['deals']:,} deals, levels {out['levels']}")
    timing, stored = _timed(lambda: deal_risk.latest(store, admin), r)
    run = stored["run"]
    print(f"Deal risk stored read (admin)   {timing}")
    if run.get("auc") is not None:
        print(f"  model used: {run['used']}; out-of-time AUC {run['auc']:.3f} (95% CI {run['auc_ci'][0]:.3f}–"
              f"{run['auc_ci'][1]:.3f}), Brier {run['brier']:.4f} vs base rate {run['brier_base']:.4f}; "
              f"train {run['train_deals']:,} deals / {run['train_reviews']:,} reviews, test {run['test_deals']:,} / "
              f"{run['test_reviews']:,}")
    else:
        print(f"  {run['why']}")

    timing, drivers = _timed(lambda: deal_size.drivers(store, admin, now), r)
    ev = drivers["evaluation"] or {}
    print(f"Deal size drivers (admin, {drivers['n']:,} won deals)   {timing}; R² "
          f"{drivers['r2'] if drivers['r2'] is None else round(drivers['r2'], 3)}, out-of-time median abs error "
          f"{ev.get('median_abs_pct_error', float('nan')):.1%} vs baseline "
          f"{ev.get('baseline_median_abs_pct_error', float('nan')):.1%}")
    timing, frame = _timed(lambda: deal_size.undersized(store, admin, now), r)
    counts = dict(frame["status"].value_counts().iter_rows()) if frame.height else {}
    print(f"Deal size under-sized (admin, {frame.height:,} open deals)   {timing}; {counts}")

    timing, result = _timed(lambda: attribution.attribute(store, admin, year), r)
    print(f"Attribution, 12 months (admin, {result['deals']:,} won deals, ${result['won_revenue']:,.0f})   {timing}")

    timing, frame = _timed(lambda: performance.productivity(store, admin, quarter), r)
    print(f"Productivity, 90 days (admin, {frame.height} reps)   {timing}")
    timing, a2c = _timed(lambda: performance.activity_to_close(store, admin, now), r)
    print(f"Activity to close (admin, {a2c['n']:,} closed deals)   {timing}")
    timing, frame = _timed(lambda: performance.benchmarking(store, admin, quarter), r)
    print(f"Benchmarking, 90 days (admin, {frame.height} rows)   {timing}")
    timing, coach = _timed(lambda: performance.coaching(store, admin, quarter, now), r)
    print(f"Coaching, 90 days (admin, {coach['recommendations'].height} recommendations)   {timing}")
    print(f"Peak memory   {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
