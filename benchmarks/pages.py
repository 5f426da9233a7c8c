"""Page render benchmark: python -m benchmarks.pages --scale S|M|L [--db PATH] [--role admin].

Builds (or reuses) a demo store of the scale, then renders each dashboard and the Leads page server-side with
Streamlit's AppTest: cold (empty caches, store closed) and warm (cached reads), the raw DuckDB
time of the page's queries (timed at the store's choke point), and the process's peak memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import psutil
import streamlit as st
from streamlit.testing.v1 import AppTest

from benchmarks import stores
from benchmarks.timing import DISCOVERY
from flashdash import access, clock, store

ROOT = Path(__file__).resolve().parent.parent
# "page/Tab": a page whose tabs run only the open one (tests/pages/apptest.TAB_KEYS), opened on that tab.
PAGES = ("executive", "submissions", "scoreboard", "interest", "funnel", "predictive", "leads", "activities",
         "activities/Timeline", "activities/Email", "activities/Measures", "revenue", "revenue/Deals",
         "revenue/Win/loss", "revenue/Deal size", "revenue/Attribution", "revenue/Forecast", "revenue/Scenarios",
         "revenue/Quota", "revenue/Deal risk", "revenue/Performance", "revenue/Measures")
TAB_KEYS = {"activities": "act.tab", "revenue": "rev.tab"}




def render(page: str, role: str, preset: str) -> tuple[float, float, int, AppTest]:
    """(render seconds, DuckDB seconds, queries, app) for one server-side run of the page."""
    page, _, tab = page.partition("/")
    at = AppTest.from_file(str(ROOT / access.PAGE_BY_KEY[page].path), default_timeout=600)
    if tab:
        at.session_state[TAB_KEYS[page]] = tab
    at.session_state["authentication_status"] = True
    at.session_state["username"] = role
    at.session_state["flt.preset"] = preset
    store.QUERY_LOG.clear()
    DISCOVERY["seconds"] = 0.0
    t0 = time.perf_counter()
    at.run()
    wall = time.perf_counter() - t0 - DISCOVERY["seconds"]
    timings = list(store.QUERY_LOG)
    return wall, sum(t.seconds for t in timings), len(timings), at


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["XS", "S", "M", "L"], default="S")
    parser.add_argument("--db", help="store to use (default data/bench-<scale>.duckdb)")
    parser.add_argument("--role", default="admin", help="demo user to render as (default admin: sees every row)")
    parser.add_argument("--preset", default="Last 90 days")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median reported)")
    args = parser.parse_args(argv)

    path = Path(args.db) if args.db else ROOT / "data" / f"bench-{args.scale}.duckdb"
    s = stores.build(path, args.scale, clock.now().replace(second=0), logins=True, train=True)
    os.environ["FLASHDASH_DB"] = str(path)
    os.environ.setdefault("FLASHDASH_COOKIE_KEY", "benchmark")
    s.ensure_schema()
    size = path.stat().st_size / 1e9
    print(f"\nStore {path} ({size:.2f} GB), {s.scalar('count_leads'):,} leads; role {args.role}, "
          f"preset {args.preset!r}, {os.cpu_count()} cores, {datetime.now():%Y-%m-%d %H:%M}")
    header = f"{'page':<20}{'cold s':>9}{'warm s':>9}{'duckdb s':>10}{'queries':>9}{'cold/db':>9}{'rss MB':>9}"
    print(header)
    print("-" * len(header))
    proc = psutil.Process()
    worst_rss = 0
    for page in PAGES:
        colds, warms, dbs = [], [], []
        n = 0
        for _ in range(args.repeat):
            st.cache_data.clear()
            st.cache_resource.clear()
            wall, db, n, at = render(page, args.role, args.preset)
            if at.exception:
                print(f"{page}: exception: {at.exception[0].value}", file=sys.stderr)
                return 1
            colds.append(wall)
            dbs.append(db)
            warm, _, _, _ = render(page, args.role, args.preset)
            warms.append(warm)
        rss = proc.memory_info().rss / 1e6
        worst_rss = max(worst_rss, rss)
        cold, db = statistics.median(colds), statistics.median(dbs)
        print(f"{page:<20}{cold:>9.3f}{statistics.median(warms):>9.3f}{db:>10.3f}{n:>9}"
              f"{(cold / db if db else float('nan')):>9.1f}{rss:>9.0f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"\nPeak memory of the rendering process: {peak:,.0f} MB (ru_maxrss); largest RSS after a page: "
          f"{worst_rss:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
